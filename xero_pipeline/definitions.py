"""The Dagster code location: wiring only. Assets, checks, schedules and resources join here as
they are built (see the issues)."""

import dagster as dg

defs = dg.Definitions(assets=[])
