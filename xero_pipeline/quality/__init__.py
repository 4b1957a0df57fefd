"""The quality gate: Great Expectations suites from data_checks/, run on staged rows before they
are published, reported as Dagster asset checks."""
