"""The gate's outcome as Dagster asset checks: one check per expectation, declared on the asset
that runs the suite, with the unexpected count and sample failing rows as metadata."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import dagster as dg
import pandas as pd

from xero_pipeline.quality.gate import GateFailed, GateResult, combine
from xero_pipeline.quality.suites import expectations


def check_specs(asset: str, suite: str | None = None) -> list[dg.AssetCheckSpec]:
    """One asset check per expectation of the suite (by default the asset's own), declared on
    the asset that runs it; blocking when a failure stops the publish."""
    return [
        dg.AssetCheckSpec(
            name=e.name,
            asset=asset,
            blocking=e.blocking,
            description=f"{e.type} {json.dumps(e.kwargs)}"
            + (f" — {e.notes}" if e.notes else "")
            + ("" if e.blocking else " (warn only)"),
        )
        for e in expectations(suite or asset)
    ]


def check_results(asset: str, gate: GateResult) -> list[dg.AssetCheckResult]:
    results = []
    for outcome in gate.outcomes:
        expectation = outcome.expectation
        metadata: dict[str, Any] = {
            "expectation": expectation.type,
            "arguments": dg.MetadataValue.json(expectation.kwargs),
            "unexpected count": outcome.unexpected_count,
            "rows checked": outcome.element_count,
            "blocking": expectation.blocking,
        }
        if outcome.sample:
            metadata["sample failing rows"] = dg.MetadataValue.md(
                pd.DataFrame(outcome.sample).to_markdown(index=False)
            )
        results.append(
            dg.AssetCheckResult(
                asset_key=asset,
                check_name=expectation.name,
                passed=outcome.success,
                severity=(
                    dg.AssetCheckSeverity.ERROR
                    if expectation.blocking
                    else dg.AssetCheckSeverity.WARN
                ),
                metadata=metadata,
            )
        )
    return results


def stop(
    failed: GateFailed,
    *,
    earlier: Mapping[str, Sequence[GateResult]] | None = None,
    assets: Mapping[str, Any] | None = None,
) -> Iterator[dg.AssetCheckResult]:
    """Report a stopped gate as asset checks, then fail the step with its message. `earlier`:
    per suite, the batches of this run that passed before it (months already published), added
    in; `assets`: the asset of a suite when it is not the suite's own name."""
    for gate in failed.gates:
        asset = (assets or {}).get(gate.suite, gate.suite)
        yield from check_results(
            asset, combine(gate.suite, [*(earlier or {}).get(gate.suite, ()), gate])
        )
    raise dg.Failure(description=str(failed))
