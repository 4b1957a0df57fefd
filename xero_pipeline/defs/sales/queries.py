"""The sales tables' SQL, kept beside them in `sql/` (package data, so installs carry it): one
portable text for SQLite and PostgreSQL per file."""

from functools import cache
from importlib.resources import files


@cache
def sql(name: str) -> str:
    """The text of `sql/<name>.sql`."""
    return (files(__package__) / "sql" / f"{name}.sql").read_text(encoding="utf-8")
