"""No one gets at a token or a secret, and nothing is laxer than it should be.

The scan: a full `xero-pipeline run` (reference data, history, merge, sales) as a live app with
a freshly made client secret, against a sandbox whose access tokens expire every few seconds of
its clock so that tokens rotate during the run. Then every byte the run left behind — its
terminal output, every Dagster event, every file in the data folder (instance storage, logs,
warehouse) except the token store itself — is searched for the secret and for every access and
refresh token the sandbox ever issued.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import requests
from dagster._serdes import serialize_value

from xero_pipeline.sandbox import Sandbox, SandboxConfig
from xero_pipeline.sandbox.auth import AuthConfig, ClientApp
from xero_pipeline.sandbox.consent import REDIRECT_URI, consent_code
from xero_pipeline.xero.connect import authorize_url, exchange_code
from xero_pipeline.xero.errors import ConfigError
from xero_pipeline.xero.secret import Secret
from xero_pipeline.xero.settings import XeroSettings
from xero_pipeline_tests.conftest import AS_OF

SOURCE = Path(__file__).resolve().parents[1] / "xero_pipeline"


def connected_app(sandbox: Sandbox, token_path: Path) -> XeroSettings:
    """A new app in the sandbox with a secret nobody has seen, connected by the consent flow."""
    client_id, secret = f"scan-{secrets.token_hex(4)}", secrets.token_urlsafe(24)
    sandbox.identity.register(ClientApp(client_id, secret, tuple(sandbox.tenants)))
    settings = XeroSettings(
        client_id=client_id,
        client_secret=Secret(secret),
        api_base=sandbox.url,
        identity_base=sandbox.url,
        token_path=token_path,
    )
    exchange_code(
        settings, consent_code(authorize_url(settings, REDIRECT_URI, "scan")), REDIRECT_URI
    )
    return settings


def test_a_full_run_leaves_no_secret_or_token_anywhere(make_sandbox, tmp_path):
    sandbox = make_sandbox(auth=AuthConfig(access_token_seconds=3))
    data = tmp_path / "data"
    token_path = tmp_path / "tokens" / "xero_tokens.json"
    settings = connected_app(sandbox, token_path)
    customers = tmp_path / "customers.csv"
    customers.write_text("id,name\nC-1,Acme Ltd\nC-2,O'Brien & Sons Ltd\n")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("XERO_", "DAGSTER_"))},
        "XERO_CLIENT_ID": settings.client_id,
        "XERO_CLIENT_SECRET": settings.client_secret.reveal(),
        "XERO_API_BASE": sandbox.url,
        "XERO_IDENTITY_BASE": sandbox.url,
        "XERO_TOKEN_PATH": str(token_path),
        "XERO_SALES_START_DATE": "2026-06",
        "XERO_PIPELINE_DATA": str(data),
        "CUSTOMERS_SOURCE": str(customers),
        "XERO_NEW_CUSTOMER_LIMIT": "1",  # a first merge into a short list creates most customers
        "WAREHOUSE_URL": f"sqlite:///{data / 'warehouse.sqlite'}",
    }
    done = subprocess.run(
        [sys.executable, "-m", "xero_pipeline.cli", "run"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert sandbox.identity.refreshes >= 2, "tokens should have rotated during the run"

    hidden = {
        settings.client_secret.reveal(),
        *sandbox.identity._access,
        *sandbox.identity._refresh,
    }
    assert len(hidden) >= 5
    exposed = [done.stdout, done.stderr]
    home = data / "dagster_home"
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert len(runs) >= 3
        for run in runs:
            exposed.append(serialize_value(run))
            exposed += [serialize_value(entry) for entry in instance.all_logs(run.run_id)]
    files = [p for p in data.rglob("*") if p.is_file() and p != token_path]
    assert any(p.suffix == ".sqlite" or p.name.endswith(".db") for p in files)
    everything = "\n".join(exposed)
    for token in hidden:
        assert token not in everything
        for path in files:
            assert token.encode() not in path.read_bytes(), f"{token[:4]}… found in {path}"
    assert token_path.stat().st_mode & 0o777 == 0o600  # readable by its owner only


def test_tls_verification_is_never_turned_off():
    """No request anywhere in the package disables certificate checks, and plain HTTP is only
    accepted for this machine (XERO_API_BASE / XERO_IDENTITY_BASE)."""
    offenders = [
        f"{path.relative_to(SOURCE)}:{number}"
        for path in SOURCE.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if re.search(r"verify\s*=\s*False|CERT_NONE|_create_unverified_context", line)
    ]
    assert offenders == []
    live = {"XERO_CLIENT_ID": "app", "XERO_CLIENT_SECRET": "s"}
    for base in ("http://api.xero.com", "http://10.0.0.5:8080"):
        with pytest.raises(ConfigError, match="XERO_API_BASE: must use https"):
            XeroSettings.from_env({**live, "XERO_API_BASE": base})


def test_the_sandbox_listens_on_loopback_unless_told_otherwise():
    sandbox = Sandbox(SandboxConfig(size="tiny", as_of=AS_OF)).start()
    try:
        host = sandbox._server.server_address[0]  # type: ignore[union-attr]
        assert host == "127.0.0.1"
        assert requests.get(f"{sandbox.url}/connections", timeout=5).status_code == 401
    finally:
        sandbox.stop()
