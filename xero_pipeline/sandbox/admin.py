"""The sandbox's control API over HTTP (`/__sandbox/...`), for a sandbox in another process.

In-process tests call `Sandbox` and `TenantData` methods directly; this exposes the same few
operations as JSON so that a sandbox started with `xero-pipeline sandbox` can be driven too.

Connections and organisations: `GET connections` ({client_id: {user: [tenant_id]}}),
`POST connect {"tenant", "user"?}`, `POST disconnect {"tenant"}`, `POST organisations {OrgSpec
fields, all optional}` (→ {"tenant_id"}), `POST offline {"tenant", "offline": true|false}`. A
`tenant` is a tenant id, an organisation name or a position.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from xero_pipeline.sandbox import xerojson
from xero_pipeline.sandbox.churn import ChurnConfig
from xero_pipeline.sandbox.faults import ScriptedFault
from xero_pipeline.sandbox.generator import generated_org
from xero_pipeline.sandbox.limits import LimitConfig
from xero_pipeline.sandbox.server import Response, decode_json, json_response
from xero_pipeline.sandbox.store import SandboxError

if TYPE_CHECKING:
    from xero_pipeline.sandbox.app import Sandbox

# TenantData methods that may be called through POST /__sandbox/edit, and which of their
# arguments are dates or amounts in JSON.
EDIT_OPERATIONS = frozenset(
    {
        "add_contact",
        "update_contact",
        "set_group_member",
        "add_group",
        "update_group",
        "add_account",
        "update_account",
        "add_document",
        "set_document_status",
        "set_document_date",
        "recode_line",
        "add_raw_member",
    }
)
_DATE_ARGS = frozenset({"day"})
_DECIMAL_ARGS = frozenset({"rate"})


class Admin:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def handle(self, method: str, path: str, params: dict[str, str], body: bytes) -> Response:
        action = path.removeprefix("/__sandbox/")
        try:
            payload = decode_json(body)
            if method == "GET" and action == "state":
                return json_response(200, self.sandbox.state())
            if method == "POST" and action == "clock":
                now = self.sandbox.clock.advance(float(payload.get("advance_seconds", 0)))
                return json_response(200, {"now": now.isoformat()})
            if method == "POST" and action == "faults":
                return json_response(200, self._faults(payload))
            if method == "POST" and action == "churn":
                self.sandbox.churn.configure(ChurnConfig(**payload))
                return json_response(200, dataclasses.asdict(self.sandbox.churn.config))
            if method == "POST" and action == "limits":
                self.sandbox.limiter.config = LimitConfig(**payload)
                return json_response(200, dataclasses.asdict(self.sandbox.limiter.config))
            if method == "POST" and action == "edit":
                return json_response(200, self._edit(payload))
            if method == "GET" and action == "connections":
                return json_response(200, self.sandbox.identity.connection_sets())
            if method == "POST" and action == "connect":
                tenant_id = self.sandbox.connect(payload["tenant"], payload.get("user"))
                return json_response(200, {"tenant_id": tenant_id})
            if method == "POST" and action == "disconnect":
                gone = self.sandbox.disconnect(payload["tenant"])
                return json_response(200, {"disconnected": gone})
            if method == "POST" and action == "organisations":
                return json_response(200, {"tenant_id": self._add_organisation(payload)})
            if method == "POST" and action == "offline":
                tenant = payload["tenant"]
                if payload.get("offline", True):
                    tenant_id = self.sandbox.take_offline(tenant)
                else:
                    tenant_id = self.sandbox.bring_online(tenant)
                return json_response(
                    200, {"tenant_id": tenant_id, "offline": sorted(self.sandbox.offline)}
                )
        except (SandboxError, TypeError, ValueError, KeyError) as exc:
            return json_response(400, {"error": f"{type(exc).__name__}: {exc}"})
        return json_response(404, {"error": f"no sandbox control {method} {action}"})

    def _faults(self, payload: dict[str, Any]) -> dict[str, Any]:
        faults = self.sandbox.faults
        if payload.get("clear"):
            faults.clear()
        if "rate" in payload:
            faults.set_rate(float(payload["rate"]))
        if "kind" in payload:
            faults.script(
                ScriptedFault(
                    kind=str(payload["kind"]),
                    count=int(payload.get("count", 1)),
                    path_contains=str(payload.get("path_contains", "")),
                    tenant_id=payload.get("tenant_id"),
                )
            )
        return {"injected": faults.injected}

    def _add_organisation(self, payload: dict[str, Any]) -> str:
        if not payload:
            return self.sandbox.add_organisation()
        config = self.sandbox.config
        names = tuple(t.name for t in list(self.sandbox.tenants.values()))
        base = generated_org(config.size, config.seed, len(names), names)
        return self.sandbox.add_organisation(dataclasses.replace(base, **payload))

    def _edit(self, payload: dict[str, Any]) -> Any:
        operation = payload.get("op")
        if operation not in EDIT_OPERATIONS:
            raise ValueError(f"op must be one of {', '.join(sorted(EDIT_OPERATIONS))}")
        tenant = self.sandbox.tenant(payload.get("tenant", 0))
        args = dict(payload.get("args", {}))
        for name in args.keys() & _DATE_ARGS:
            args[name] = date.fromisoformat(args[name])
        for name in args.keys() & _DECIMAL_ARGS:
            args[name] = Decimal(str(args[name]))
        result = getattr(tenant, operation)(**args)
        return xerojson.to_xero(result) if result is not None else {}
