"""The command line: `make run` calls `xero-pipeline run`."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time

import pytest
import requests
from sqlalchemy import create_engine, text

from xero_pipeline.cli import main


@pytest.mark.parametrize(
    "today",
    ["2026-12-01", "2024-02-29"],
    ids=["on the 1st of a month", "on 29 February"],
)
def test_run_materializes_the_pipeline_and_prints_what_it_loaded(
    today, tmp_path, monkeypatch, capsys
):
    """`make run` as a newcomer runs it (no app, no start date), on days the calendar is awkward:
    the whole history of the tiny organisations, whatever the day of the month."""
    for name in (
        "XERO_CLIENT_ID",
        "XERO_CLIENT_SECRET",
        "XERO_API_BASE",
        "XERO_IDENTITY_BASE",
        "WAREHOUSE_URL",
        "DAGSTER_HOME",
        "XERO_SALES_START_DATE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XERO_PIPELINE_DATA", str(tmp_path))
    assert main(["run", "--size", "tiny", "--as-of", today]) == 0
    out = capsys.readouterr().out
    assert "Harbour & Co Coffee Roasters" in out and "Southern Cross Software Pty Ltd" in out
    assert out.count("xero_contact_group_members") == 2
    warehouse = tmp_path / "warehouse.sqlite"
    with create_engine(f"sqlite:///{warehouse}").connect() as connection:
        contacts = connection.execute(text("SELECT count(*) FROM xero_contacts")).scalar_one()
        invoices = connection.execute(text("SELECT count(*) FROM xero_invoices")).scalar_one()
    assert contacts == 80
    assert len(re.findall(r"^  xero_contacts\s+40$", out, flags=re.MULTILINE)) == 2  # per tenant
    assert invoices == 2 * 120  # the tiny organisations' whole sales history
    assert re.search(r"^month\s+invoices\s+lines\s+credit notes\s+lines$", out, re.MULTILINE)
    assert "48/48 months" in out
    runs = list((tmp_path / "dagster_home").rglob("*"))
    assert runs, "the run should be kept in the Dagster instance under the data folder"

    assert main(["status"]) == 0  # what an operator checks afterwards, without calling Xero
    status = capsys.readouterr().out
    assert len(re.findall(r"^  xero_invoices\s+120  \d{4}-\d\d-\d\d ", status, re.MULTILINE)) == 2
    assert len(re.findall(r"^  incremental invoices read from 20", status, re.MULTILINE)) == 2


def test_backfill_command_shows_progress_and_the_months(
    make_sandbox, xero_env, tmp_path, monkeypatch, capsys
):
    sandbox = make_sandbox()
    xero_env(sandbox)
    monkeypatch.setenv("XERO_SALES_START_DATE", "2025-06")
    monkeypatch.setenv("XERO_PIPELINE_DATA", str(tmp_path))
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert main(["backfill", "--from", "2026-05", "--to", "2026-06"]) == 0
    out = capsys.readouterr().out
    assert "4/4 months" in out  # two months of invoices and of credit notes
    months = re.findall(r"^(2026-0[56])\s+(\d+)\s+\d+\s+(\d+)", out, re.MULTILINE)
    expected = {
        f"2026-0{m}": sum(
            1
            for t in sandbox.tenants.values()
            for s in t.invoices.stubs
            if (s.date.year, s.date.month) == (2026, m)
        )
        for m in (5, 6)
    }
    assert {month: int(invoices) for month, invoices, _ in months} == expected
    assert main(["backfill", "--from", "1999-01", "--to", "1999-02"]) == 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_sandbox_command_serves_on_loopback_until_stopped() -> None:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "xero_pipeline.cli",
            "sandbox",
            "--size",
            "tiny",
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                state = requests.get(f"http://127.0.0.1:{port}/__sandbox/state", timeout=1)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "the sandbox did not start"
                time.sleep(0.2)
        assert len(state.json()["tenants"]) == 2
    finally:
        process.kill()
        process.wait(timeout=10)


def test_connect_without_an_app_explains(monkeypatch, capsys) -> None:
    monkeypatch.delenv("XERO_CLIENT_ID", raising=False)
    monkeypatch.delenv("XERO_CLIENT_SECRET", raising=False)
    assert main(["connect", "--no-browser"]) == 2
    assert "no Xero app" in capsys.readouterr().out
