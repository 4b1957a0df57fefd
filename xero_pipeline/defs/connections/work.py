"""Each organisation its own unit of work, inside every step that reads Xero.

A step asks `OrganisationWork.start` for its organisations: those /connections lists, narrowed to
the run's `xero/organisation` tag when it has one, less those the ledger says to leave alone
(disconnected, or failing and backing off — see `warehouse/connections.py`). It wraps each
organisation's part in `work.each(tenant)`: Xero refusing or failing that organisation (a 503
"organisation offline", a 403, its day limit, its token) or its quality gate stopping it fails that
organisation only — recorded in `xero_connections` with its reason, logged, and left out of the
rest of the step — while every other organisation goes on. `finish` records the successes and
says what happened in the step's metadata; the step fails only when no organisation was left to
load.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import pandas as pd

from xero_pipeline.instance import EVERY_ORGANISATION, ORGANISATION_TAG
from xero_pipeline.quality.checks import check_specs
from xero_pipeline.quality.gate import GateFailed
from xero_pipeline.resources import WarehouseResource, XeroResource
from xero_pipeline.warehouse.connections import (
    DISCONNECTED,
    FAILING,
    note_listed,
    organisations,
    record_failure,
    record_success,
)
from xero_pipeline.xero.client import Tenant
from xero_pipeline.xero.errors import DayLimitReached, XeroError, XeroRequestError

CHECK = "organisations_loaded"  # the asset check that says which organisations failed
Context = dg.AssetExecutionContext | dg.OpExecutionContext


AUTOMATIC_TAGS = ("dagster/schedule_name", "dagster/sensor_name")


def run_organisation(context: Context) -> str | None:
    """The tenant id a run is limited to (its `xero/organisation` tag), or None for all."""
    value = context.run.tags.get(ORGANISATION_TAG)
    return None if value in (None, "", EVERY_ORGANISATION) else value


def launched_automatically(context: Context) -> bool:
    """Whether a schedule or a sensor launched the run: only those respect backoffs, so that a
    person's run (the UI, the command line) always tries every connected organisation."""
    return any(context.run.tags.get(tag) for tag in AUTOMATIC_TAGS)


class OrganisationWork:
    """The organisations of one step, and what became of each."""

    def __init__(
        self,
        context: Context,
        warehouse: WarehouseResource,
        tenants: Sequence[Tenant],
        now: datetime,
    ) -> None:
        self.context, self.engine, self.now = context, warehouse.engine, now
        self.tenants = list(tenants)
        self.failed: dict[str, str] = {}
        self.samples: dict[str, list[pd.DataFrame]] = {}
        self.names = {t.tenant_id: t.name for t in tenants}
        self.left_alone: dict[str, str] = {}  # tenant id -> why
        self.not_due: set[str] = set()  # left alone: this work is not for them yet
        self.backing_off: dict[str, str] = {}  # left alone because their work failed

    @classmethod
    def start(
        cls,
        context: Context,
        xero: XeroResource,
        warehouse: WarehouseResource,
        now: datetime | None = None,
    ) -> OrganisationWork:
        """The organisations this step should work on now (see the module's docstring)."""
        now = now or datetime.now(UTC)
        listed = xero.tenants()
        client = xero.client
        note_listed(
            warehouse.engine,
            listed,
            now,
            token_keys={t.tenant_id: client.connection_of(t.tenant_id) for t in listed},
            broken={
                k: f"{type(p.error).__name__}: {p.message}"
                for k, p in client.connection_problems.items()
            },
            within=set(client.settings.tenant_ids) or None,
        )
        ledger = organisations(warehouse.engine)
        only = run_organisation(context)
        patient = launched_automatically(context) and only is None
        chosen, left_alone, backing_off = [], {}, {}
        for tenant in listed:
            state = ledger.get(tenant.tenant_id)
            if only is not None and tenant.tenant_id != only:
                continue
            if state is None:
                chosen.append(tenant)
                continue
            # Disconnected: never called. Failed earlier in this run: the rest of the run
            # leaves it alone. Backing off: left alone by schedules and sensors.
            earlier = state.status == FAILING and state.failed_in_run == context.run_id
            if earlier or (state.waiting(now) and (patient or state.status == DISCONNECTED)):
                left_alone[tenant.tenant_id] = state.describe()
                if state.status == FAILING:
                    backing_off[tenant.tenant_id] = state.describe()
                continue
            chosen.append(tenant)
        if only is not None and not chosen:
            raise dg.Failure(
                description=f"The run is for organisation {only} (tag {ORGANISATION_TAG}), "
                "which Xero's /connections does not list: it is not connected to this app."
            )
        work = cls(context, warehouse, chosen, now)
        work.names = {t.tenant_id: t.name for t in listed}
        work.backing_off = backing_off
        for tenant in listed:
            if tenant.tenant_id in left_alone:
                work.leave_alone(tenant, left_alone[tenant.tenant_id])
        return work

    def leave_alone(self, tenant: Tenant, why: str, not_due: bool = False) -> None:
        """Take `tenant` out of this step without counting it a failure. `not_due`: this work
        is not for it yet (its history is still loading): a step that leaves every organisation
        alone for that reason has simply nothing to do."""
        self.tenants = [t for t in self.tenants if t.tenant_id != tenant.tenant_id]
        self.left_alone[tenant.tenant_id] = why
        if not_due:
            self.not_due.add(tenant.tenant_id)
        self.context.log.info(f"left alone this time: {tenant.name}: {why}")

    @property
    def active(self) -> list[Tenant]:
        """The organisations still in the step (none of their work has failed)."""
        return [t for t in self.tenants if t.tenant_id not in self.failed]

    @property
    def active_ids(self) -> set[str]:
        return {t.tenant_id for t in self.active}

    @contextmanager
    def each(self, tenant: Tenant) -> Iterator[None]:
        """One organisation's part of the step: its Xero or gate failure stays its own."""
        try:
            yield
        except (XeroError, GateFailed) as failure:
            self.fail(tenant, failure)

    def fail(self, tenant: Tenant, failure: Exception) -> None:
        """Record `tenant`'s failure and leave it out of the rest of the step."""
        gone = isinstance(failure, XeroRequestError) and failure.status == 403
        retry_at = failure.resets_at if isinstance(failure, DayLimitReached) else None
        reason = f"{type(failure).__name__}: {failure}"
        first = tenant.tenant_id not in self.failed
        if not first:  # a second failure in one step (the sync's other kind) counts once
            reason = f"{self.failed[tenant.tenant_id]} | {reason}"
        state = record_failure(
            self.engine,
            tenant,
            reason,
            self.now,
            disconnected=gone,
            retry_at=retry_at,
            run_id=self.context.run_id,
            count=first,
        )
        self.failed[tenant.tenant_id] = reason
        if isinstance(failure, GateFailed):
            self.samples.setdefault(tenant.tenant_id, [])
            self.samples[tenant.tenant_id] += [
                pd.DataFrame(o.sample)
                for gate in failure.gates
                for o in gate.outcomes
                if not o.success and o.sample
            ]
        self.context.log.error(f"{tenant.name} ({tenant.tenant_id}): {state.describe()}")

    def finish(self, required: bool = True) -> dict[str, Any]:
        """Record the successes; the step's metadata about its organisations. Unless not
        `required` (the sync: nothing to do is no failure), fails the step when no organisation
        was loaded: every one failed or was left alone, or none was there to load (but not when
        every one was simply not due: `leave_alone(not_due=True)`)."""
        record_success(
            self.engine, [t.tenant_id for t in self.active], self.now, self.context.run_id
        )
        not_loaded = {**self.left_alone, **self.failed}
        if required and not self.active and (set(not_loaded) - self.not_due or not not_loaded):
            reasons = [f"{self.names[tenant_id]}: {why}" for tenant_id, why in not_loaded.items()]
            raise dg.Failure(
                description="No organisation could be loaded: "
                + (" | ".join(reasons) or "Xero's /connections lists none for this app"),
                metadata={"failed": dg.MetadataValue.json(self.failed)},
            )
        return self.metadata()

    def metadata(self) -> dict[str, Any]:
        states = {t.tenant_id: "loaded" for t in self.active}
        states.update({i: why[:200] for i, why in {**self.left_alone, **self.failed}.items()})
        rows = [{"organisation": self.names[i], "state": why} for i, why in states.items()]
        return {
            "organisations": dg.MetadataValue.md(pd.DataFrame(rows).to_markdown(index=False))
            if rows
            else "(none)",
            "organisations failed": len(self.failed),
        }

    def check_result(self, asset: Any) -> dg.AssetCheckResult:
        """The `organisations_loaded` check: fails (a warning: the others were published) when
        an organisation's work failed here or earlier (it is backing off), with its reason and
        sample failing rows. A disconnected organisation is not expected to load."""
        not_loaded = {**self.backing_off, **self.failed}
        metadata: dict[str, Any] = {"failed": dg.MetadataValue.json(not_loaded)}
        for tenant_id, frames in self.samples.items():
            if frames:
                metadata[f"sample failing rows {tenant_id[:8]}…"] = dg.MetadataValue.md(
                    pd.concat(frames).head(10).to_markdown(index=False)
                )
        return dg.AssetCheckResult(
            asset_key=asset,
            check_name=CHECK,
            passed=not not_loaded,
            severity=dg.AssetCheckSeverity.WARN,
            metadata=metadata,
        )


def checks_by_organisation(asset: str) -> list[dg.AssetCheckSpec]:
    """The asset's suite as checks, and `organisations_loaded`."""
    return [*check_specs(asset), organisations_check(asset)]


def organisations_check(asset: str) -> dg.AssetCheckSpec:
    """The spec of `organisations_loaded` on `asset`."""
    return dg.AssetCheckSpec(
        name=CHECK,
        asset=asset,
        blocking=False,
        description="Every organisation's part loaded; a failing one (Xero refused it, or its "
        "gate stopped it) is named here with its reason, while the others were published.",
    )
