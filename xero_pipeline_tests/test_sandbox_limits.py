"""Xero's rate limits and the sandbox's faults, as a client meets them over HTTP."""

from __future__ import annotations

import http.client
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
import requests

from xero_pipeline.sandbox.faults import FaultConfig, ScriptedFault
from xero_pipeline.sandbox.limits import LimitConfig
from xero_pipeline_tests.conftest import XeroHTTP

LIMIT_HEADERS = ("X-MinLimit-Remaining", "X-DayLimit-Remaining", "X-AppMinLimit-Remaining")


def test_every_response_carries_the_limit_headers(make_sandbox) -> None:
    xero = XeroHTTP(make_sandbox(limits=LimitConfig(per_minute=10, per_day=100)))
    first, second = xero.get("Accounts"), xero.get("Contacts")
    assert all(name in first.headers for name in LIMIT_HEADERS)
    assert int(first.headers["X-MinLimit-Remaining"]) == 9
    assert int(second.headers["X-MinLimit-Remaining"]) == 8
    assert int(second.headers["X-DayLimit-Remaining"]) == 98


def test_minute_limit_gives_429_then_resets(make_sandbox) -> None:
    xero = XeroHTTP(make_sandbox(limits=LimitConfig(per_minute=3, minute_seconds=1.5)))
    statuses = [xero.get("Accounts").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = xero.get("Accounts")
    assert limited.headers["X-Rate-Limit-Problem"] == "minute"
    assert 1 <= int(limited.headers["Retry-After"]) <= 2
    assert limited.headers["X-MinLimit-Remaining"] == "0"
    time.sleep(float(limited.headers["Retry-After"]))
    assert xero.get("Accounts").status_code == 200


def test_day_limit_names_itself(make_sandbox) -> None:
    xero = XeroHTTP(make_sandbox(limits=LimitConfig(per_day=2)))
    assert [xero.get("Accounts").status_code for _ in range(2)] == [200, 200]
    limited = xero.get("Accounts")
    assert limited.status_code == 429
    assert limited.headers["X-Rate-Limit-Problem"] == "day"
    assert int(limited.headers["Retry-After"]) > 3600
    assert limited.headers["X-DayLimit-Remaining"] == "0"


def test_limits_are_per_tenant(make_sandbox) -> None:
    xero = XeroHTTP(make_sandbox(limits=LimitConfig(per_minute=1)))
    assert xero.get("Accounts", tenant=0).status_code == 200
    assert xero.get("Accounts", tenant=0).status_code == 429
    assert xero.get("Accounts", tenant=1).status_code == 200


def test_app_minute_limit_spans_tenants(make_sandbox) -> None:
    xero = XeroHTTP(make_sandbox(limits=LimitConfig(app_per_minute=2)))
    assert xero.get("Accounts", tenant=0).status_code == 200
    assert xero.get("Accounts", tenant=1).status_code == 200
    limited = xero.get("Accounts", tenant=1)
    assert limited.status_code == 429 and limited.headers["X-Rate-Limit-Problem"] == "appminute"


def test_more_than_five_in_flight_is_refused(make_sandbox) -> None:
    sandbox = make_sandbox(limits=LimitConfig(concurrent=5), faults=FaultConfig(slow_seconds=1.0))
    xero = XeroHTTP(sandbox)
    sandbox.faults.script(ScriptedFault(kind="slow", count=5, path_contains="Accounts"))
    with ThreadPoolExecutor(max_workers=5) as pool:
        slow = [
            pool.submit(
                requests.get,
                f"{xero.base}/api.xro/2.0/Accounts",
                timeout=10,
                headers={
                    "Authorization": f"Bearer {xero.token}",
                    "Xero-tenant-id": xero.tenant_id(),
                },
            )
            for _ in range(5)
        ]
        time.sleep(0.4)
        sixth = xero.get("Contacts")
        assert [f.result().status_code for f in slow] == [200] * 5
    assert sixth.status_code == 429
    assert sixth.headers["X-Rate-Limit-Problem"] == "concurrent"
    assert xero.get("Contacts").status_code == 200


@pytest.mark.parametrize(
    "kind,status,text",
    [
        ("500", 500, "An error occurred in Xero"),
        ("503", 503, "The Organisation is offline"),
        ("429", 429, ""),
    ],
)
def test_scripted_error_faults(sandbox, xero: XeroHTTP, kind: str, status: int, text: str) -> None:
    sandbox.faults.script(ScriptedFault(kind=kind, count=2, path_contains="Invoices"))
    assert xero.get("Contacts").status_code == 200  # other paths are untouched
    failed = [xero.get("Invoices") for _ in range(2)]
    assert [r.status_code for r in failed] == [status, status]
    assert text in failed[0].text
    if kind == "429":
        assert failed[0].headers["Retry-After"] == "1"
    assert xero.get("Invoices").status_code == 200
    assert sandbox.faults.injected[kind] == 2


def test_slow_fault_delays_the_response(make_sandbox) -> None:
    sandbox = make_sandbox(faults=FaultConfig(slow_seconds=0.6))
    xero = XeroHTTP(sandbox)
    sandbox.faults.script(ScriptedFault(kind="slow"))
    started = time.monotonic()
    assert xero.get("Accounts").status_code == 200
    assert time.monotonic() - started >= 0.6
    with pytest.raises(requests.Timeout):
        sandbox.faults.script(ScriptedFault(kind="slow"))
        requests.get(
            f"{xero.base}/api.xro/2.0/Accounts",
            timeout=0.2,
            headers={"Authorization": f"Bearer {xero.token}", "Xero-tenant-id": xero.tenant_id()},
        )


def test_dropped_connection_breaks_mid_body(sandbox, xero: XeroHTTP) -> None:
    sandbox.faults.script(ScriptedFault(kind="drop", path_contains="Invoices"))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        xero.get("Invoices", params={"page": 1})
    # At the socket level: fewer bytes than Content-Length, then the connection closes.
    sandbox.faults.script(ScriptedFault(kind="drop"))
    url = urlsplit(xero.base)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
    connection.request(
        "GET",
        "/api.xro/2.0/Contacts",
        headers={"Authorization": f"Bearer {xero.token}", "Xero-tenant-id": xero.tenant_id()},
    )
    response = connection.getresponse()
    with pytest.raises(http.client.IncompleteRead):
        response.read()
    assert xero.get("Invoices", params={"page": 1}).status_code == 200


def test_fault_rate_fails_about_that_share(make_sandbox) -> None:
    sandbox = make_sandbox(faults=FaultConfig(rate=0.3, kinds=("500", "503"), seed=7))
    xero = XeroHTTP(sandbox)
    statuses = [xero.get("Accounts").status_code for _ in range(200)]
    failures = sum(status != 200 for status in statuses)
    assert 35 <= failures <= 85
    assert set(statuses) == {200, 500, 503}


def test_limits_off_sends_no_limit_headers(make_sandbox) -> None:
    """Limits off means unlimited: a client pacing itself by the headers must not slow down."""
    xero = XeroHTTP(make_sandbox(limits=LimitConfig(enabled=False, per_minute=2)))
    responses = [xero.get("Accounts") for _ in range(5)]
    assert [r.status_code for r in responses] == [200] * 5
    assert not any(name in r.headers for r in responses for name in LIMIT_HEADERS)
