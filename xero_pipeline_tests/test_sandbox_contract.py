"""Every sandbox response validates against Xero's own OpenAPI schemas (vendored in contract/)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from xero_pipeline_tests.conftest import XeroHTTP

CONTRACT = Path(__file__).parent / "contract"


@cache
def spec(name: str) -> dict[str, Any]:
    return yaml.safe_load((CONTRACT / name).read_text())


def validator(name: str, schema: dict[str, Any]) -> OAS30Validator:
    """A validator for `schema` whose `#/components/...` references resolve in the spec."""
    root = {**schema, "components": spec(name)["components"]}
    return OAS30Validator(root, format_checker=oas30_format_checker)


def response_schema(path: str) -> dict[str, Any]:
    """The 200 application/json schema that Xero's spec gives for GET `path`."""
    operation = spec("xero_accounting.yaml")["paths"][path]["get"]
    return operation["responses"]["200"]["content"]["application/json"]["schema"]


def assert_conforms(name: str, schema: dict[str, Any], body: Any) -> None:
    errors = sorted(validator(name, schema).iter_errors(body), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])


def test_spec_declares_the_paths_we_serve() -> None:
    paths = spec("xero_accounting.yaml")["paths"]
    for path in (
        "/Organisation",
        "/Contacts",
        "/ContactGroups",
        "/ContactGroups/{ContactGroupID}",
        "/Accounts",
        "/Invoices",
        "/Invoices/{InvoiceID}",
        "/CreditNotes",
        "/CreditNotes/{CreditNoteID}",
        "/Contacts/{ContactID}",
    ):
        assert "get" in paths[path], path


@pytest.mark.parametrize("tenant", [0, 1])
@pytest.mark.parametrize(
    "path,params",
    [
        ("/Organisation", {}),
        ("/Contacts", {"includeArchived": "true"}),
        ("/Contacts", {"page": 1, "pageSize": 1000, "includeArchived": "true"}),
        ("/Contacts", {"page": 1, "summaryOnly": "true"}),
        ("/ContactGroups", {}),
        ("/Accounts", {}),
        ("/Invoices", {}),
        ("/Invoices", {"page": 1, "pageSize": 1000}),
        ("/Invoices", {"page": 2, "pageSize": 50, "summaryOnly": "true"}),
        ("/CreditNotes", {}),
        ("/CreditNotes", {"page": 1, "pageSize": 1000}),
    ],
)
def test_list_endpoints_conform(xero: XeroHTTP, tenant: int, path: str, params: dict) -> None:
    response = xero.get(path.lstrip("/"), tenant=tenant, params=params)
    assert response.status_code == 200
    body = response.json()
    key = "Organisations" if path == "/Organisation" else path.lstrip("/")
    assert body[key], f"{path} served nothing to validate"
    assert_conforms("xero_accounting.yaml", response_schema(path), body)


def test_single_record_endpoints_conform(xero: XeroHTTP) -> None:
    group = next(
        g for g in xero.records("ContactGroups", "ContactGroups") if g["Name"] == "Datagate"
    )
    invoice = xero.records("Invoices", "Invoices")[0]
    credit = xero.records("CreditNotes", "CreditNotes")[0]
    contact = xero.records("Contacts", "Contacts")[0]
    for template, value in (
        ("/ContactGroups/{ContactGroupID}", group["ContactGroupID"]),
        ("/Invoices/{InvoiceID}", invoice["InvoiceID"]),
        ("/CreditNotes/{CreditNoteID}", credit["CreditNoteID"]),
        ("/Contacts/{ContactID}", contact["ContactID"]),
    ):
        path = template.split("{")[0] + value
        response = xero.get(path.lstrip("/"))
        assert response.status_code == 200, path
        assert_conforms("xero_accounting.yaml", response_schema(template), response.json())


def test_error_bodies_conform(xero: XeroHTTP) -> None:
    error = {"$ref": "#/components/schemas/Error"}
    bad_where = xero.get("Invoices", params={"where": "Total >"})
    assert bad_where.status_code == 400
    assert_conforms("xero_accounting.yaml", error, bad_where.json())
    bad_page = xero.get("Invoices", params={"page": "x"})
    assert bad_page.status_code == 400
    assert_conforms("xero_accounting.yaml", error, bad_page.json())


def test_identity_responses_conform(xero: XeroHTTP) -> None:
    connections = xero.session.get(
        f"{xero.base}/connections", timeout=5, headers={"Authorization": f"Bearer {xero.token}"}
    ).json()
    schema = spec("xero-identity.yaml")["paths"]["/Connections"]["get"]["responses"]["200"]
    assert_conforms(
        "xero-identity.yaml", schema["content"]["application/json"]["schema"], connections
    )
    custom = xero.session.post(
        f"{xero.base}/connect/token",
        timeout=5,
        data={"grant_type": "client_credentials"},
        auth=("sandbox-custom-connection", "sandbox-custom-secret"),
    )
    assert_conforms(
        "xero-identity.yaml", {"$ref": "#/components/schemas/AccessToken"}, custom.json()
    )
