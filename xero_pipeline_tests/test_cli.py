"""The command line: `make run` calls `xero-pipeline run`."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import requests

from xero_pipeline.cli import main


def test_run_tours_every_endpoint_of_every_tenant(capsys) -> None:
    assert main(["run", "--size", "tiny", "--as-of", "2026-11-22"]) == 0
    out = capsys.readouterr().out
    assert "Harbour & Co Coffee Roasters" in out and "Southern Cross Software Pty Ltd" in out
    for endpoint in (
        "Organisation",
        "Contacts",
        "ContactGroups",
        "Accounts",
        "Invoices",
        "CreditNotes",
    ):
        assert out.count(f"  {endpoint} ") == 2, endpoint


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
        deadline = time.monotonic() + 30
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
