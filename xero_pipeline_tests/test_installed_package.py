"""The package as a user gets it from `pip install .` (a wheel, no editable link to this
checkout): installed into a fresh virtual environment with everything it declares, it runs the
whole pipeline from an empty folder — suites, SQL and all come from the installed package."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from setuptools import find_packages

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_lists_every_package_of_the_source() -> None:
    """pyproject.toml lists the packages (to ship data_checks/ inside the package, and the
    sales SQL folder as one): a folder added to xero_pipeline/ and not listed would be missing
    from an installed package."""
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = set(find_packages(str(ROOT), include=["xero_pipeline", "xero_pipeline.*"]))
    assert listed == found | {"xero_pipeline.data_checks", "xero_pipeline.defs.sales.sql"}


@pytest.mark.slow
def test_a_plain_install_runs_the_pipeline_from_an_empty_folder(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    # --no-compile: the same files installed, without byte-compiling every dependency up front
    # (20 of pip's 48 s of CPU here); the run compiles what it imports.
    install = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--no-compile", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    site = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import xero_pipeline; print(xero_pipeline.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    package = Path(site).parent
    assert venv in package.parents, site  # the installed copy, not this checkout
    assert (package / "data_checks" / "xero_invoices.json").is_file()
    assert (package / "defs" / "sales" / "sql" / "fct_sales_lines.sql").is_file()

    empty = tmp_path / "empty"
    empty.mkdir()
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("XERO_", "DAGSTER_", "WAREHOUSE_", "CUSTOMERS_", "PYTHON"))
    }
    run = subprocess.run(
        [str(venv / "bin" / "xero-pipeline"), "run", "--size", "tiny"],
        cwd=empty,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "Net sales by account code, the last 3 months:" in run.stdout
    assert (empty / "data" / "warehouse.sqlite").is_file()
    assert (empty / "data" / "sales_by_account_code.png").is_file()
