"""The command line: `make run` calls `xero-pipeline run`."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time

import requests
from sqlalchemy import create_engine, text

from xero_pipeline.cli import main


def test_run_materializes_the_pipeline_and_prints_what_it_loaded(tmp_path, monkeypatch, capsys):
    for name in (
        "XERO_CLIENT_ID",
        "XERO_CLIENT_SECRET",
        "XERO_API_BASE",
        "XERO_IDENTITY_BASE",
        "WAREHOUSE_URL",
        "DAGSTER_HOME",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XERO_PIPELINE_DATA", str(tmp_path))
    assert main(["run", "--size", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "Harbour & Co Coffee Roasters" in out and "Southern Cross Software Pty Ltd" in out
    assert out.count("xero_contact_group_members") == 2
    warehouse = tmp_path / "warehouse.sqlite"
    with create_engine(f"sqlite:///{warehouse}").connect() as connection:
        contacts = connection.execute(text("SELECT count(*) FROM xero_contacts")).scalar_one()
    assert contacts == 80
    assert len(re.findall(r"^  xero_contacts\s+40$", out, flags=re.MULTILINE)) == 2  # per tenant
    runs = list((tmp_path / "dagster_home").rglob("*"))
    assert runs, "the run should be kept in the Dagster instance under the data folder"


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
