"""The Dagster code location: every domain's definitions under `defs/`, loaded with one call, and
the resources they run with (`resources.py` picks Xero or the built-in sandbox)."""

import warnings
from pathlib import Path

import dagster as dg
from dagster.components import load_defs

import xero_pipeline.defs
from xero_pipeline.resources import pipeline_resources

# The project's root as Dagster's loader sees it: the folder holding the package (a checkout, or
# site-packages once installed, where there is no pyproject.toml to find it by).
PROJECT_ROOT = Path(xero_pipeline.defs.__file__).resolve().parents[2]

with warnings.catch_warnings():
    # BackfillPolicy is "beta" and `load_defs` is marked for replacement by the dg-project-only
    # `load_from_defs_folder` (which needs pyproject.toml, absent from an installed package); the
    # versions are pinned, so neither warning says anything new.
    warnings.simplefilter("ignore", dg.BetaWarning)
    warnings.simplefilter("ignore", DeprecationWarning)
    defs = dg.Definitions.merge(
        load_defs(xero_pipeline.defs, project_root=PROJECT_ROOT),
        # Each run in one process: its steps share the run's Xero limits and the warehouse's
        # write locks anyway, and a process per step costs seconds of start-up for nothing.
        dg.Definitions(resources=pipeline_resources(), executor=dg.in_process_executor),
    )
