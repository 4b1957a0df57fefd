"""Run `xero-pipeline …` and SIGKILL it at a named point: the tests' stand-in for a power cut.

    python -m xero_pipeline_tests.crash_harness POINT TABLE [--hold] -- ARGS…

The process kills itself (no clean-up, no `finally`, no rollback by the client) at the first
moment that matches — or, with `--hold`, pauses there, its transaction open, until another
process queues behind it (PostgreSQL: a lock waiter appears; SQLite: a few seconds pass), to
show what a second run does meanwhile; it touches the file XERO_HOLD_READY names, if set, when
it starts holding. The moments:
- `extract`    after the first Xero answer for TABLE's resource arrives (nothing staged yet);
- `staged`     once TABLE's rows are in the staging table, before the publish reads them;
- `publishing` after TABLE's rows were written to it, inside the still-open transaction;
- `watermark`  after TABLE was written, as the same transaction moves the watermark;
- `commit`     as the transaction that wrote TABLE is about to commit.

Nothing in the pipeline knows about this: the points are found by watching the real HTTP calls
and SQL statements (SQLAlchemy's engine events), so the code under test is the code that ships.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import Engine, event, text

SQLITE_HOLD_SECONDS = 10
POINTS = ("extract", "staged", "publishing", "watermark", "commit")
RESOURCES = {  # the API resource behind each table a test crashes
    "xero_contacts": "Contacts",
    "xero_invoices": "Invoices",
    "xero_invoice_lines": "Invoices",
    "xero_credit_notes": "CreditNotes",
    "xero_credit_note_lines": "CreditNotes",
    "xero_accounts": "Accounts",
}


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def hold_until_someone_waits(conn: Any) -> None:
    ready = os.environ.get("XERO_HOLD_READY")
    if ready:
        Path(ready).touch()  # tells the test it may start the second run now
    if conn.dialect.name != "postgresql":
        time.sleep(SQLITE_HOLD_SECONDS)
        return
    deadline = time.monotonic() + 120
    with conn.engine.connect() as watcher:
        while time.monotonic() < deadline:
            waiting = watcher.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted"))
            if waiting.scalar_one():
                time.sleep(0.5)  # let it settle into its wait
                return
            watcher.rollback()
            time.sleep(0.1)
    raise SystemExit("nobody queued behind the held transaction within two minutes")


def arm(point: str, table: str, hold: bool = False) -> None:
    if point not in POINTS:
        raise SystemExit(f"unknown crash point {point!r}; choose one of {', '.join(POINTS)}")
    wrote = {"table": False}
    target = f'INSERT INTO "{table}"'

    if point == "extract":
        resource = f"/api.xro/2.0/{RESOURCES[table]}"
        send = requests.Session.send

        def send_then_die(self: requests.Session, request: Any, **kwargs: Any) -> Any:
            response = send(self, request, **kwargs)
            if resource in request.url:
                die()
            return response

        requests.Session.send = send_then_die  # type: ignore[method-assign]
        return

    @event.listens_for(Engine, "before_cursor_execute")
    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if point == "staged" and f'FROM "stg_{table}_' in statement:
            die()
        if point == "watermark" and wrote["table"] and "sync_state" in statement:
            die()

    @event.listens_for(Engine, "after_cursor_execute")
    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith(target):
            wrote["table"] = True
            if point == "publishing" and hold:
                hold_until_someone_waits(conn)
            elif point == "publishing":
                die()

    @event.listens_for(Engine, "commit")
    def commit(conn: Any) -> None:
        if point == "commit" and wrote["table"]:
            die()
        wrote["table"] = False  # the next transaction starts clean


def main(argv: list[str]) -> int:
    point, table, *rest = argv
    hold = rest[:1] == ["--hold"]
    separator, *args = rest[1:] if hold else rest
    if separator != "--" or (hold and point != "publishing"):
        raise SystemExit(__doc__)
    arm(point, table, hold)
    from xero_pipeline.cli import main as cli

    return cli(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
