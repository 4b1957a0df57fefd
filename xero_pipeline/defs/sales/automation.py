"""How the sales tables keep themselves fresh: declarative automation, evaluated by the
`sales_automation` sensor (on by default).

A history backfill, the nightly reconciliation or an incremental sync that touches a month
rebuilds that month's fact and rollup, then the unpartitioned tables and the chart; a customer
merge rebuilds every month (customer_id). Reference-data refreshes (account names) are not
followed month by month: they reach the unpartitioned tables at once and older months when those
are next rebuilt.
"""

import dagster as dg

GROUP = "sales"


def follows(sources: dg.AssetSelection | None = None) -> dg.AutomationCondition:
    """Rebuild the months whose sources (all dependencies, or only `sources`) changed.

    `AutomationCondition.eager()` would be the stock choice, but it only ever considers the
    latest month of a time-partitioned asset (a backfill or a sync touching an older month would
    be ignored), and it waits while any dependency is missing (a month with no credit notes yet,
    or the customer list before its merge ever ran). So: eager without those two clauses.

    And with one race closed. Eager forgets a change when the month itself is published, and
    when a month's rollup (asked for earlier) and then a newer fact both land between two
    ticks, it cannot tell which came first, so the rollup built from the older fact stays.
    Here a change counts only when a source was published after the month, by the
    materializations' own timestamps, which Dagster compares when both land in one tick. That
    ordering also stands in for eager's "ignore parents built by the same run"."""

    def any_source(condition: dg.AutomationCondition) -> dg.AutomationCondition:
        deps = dg.AutomationCondition.any_deps_match(condition)
        return deps if sources is None else deps.allow(sources)

    published = dg.AutomationCondition.newly_updated()
    source_is_newer = any_source(published).since(published)
    changed = (any_source(published) & source_is_newer) | any_source(
        dg.AutomationCondition.will_be_requested()
    )
    handled = dg.AutomationCondition.newly_requested() | published
    return (
        changed.since(dg.AutomationCondition.initial_evaluation() | (handled & ~changed))
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label("rebuild the months whose sources changed")


# Months follow their own history; the customer merge rebuilds every month (customer_id).
# Daily reference refreshes are not followed: they would rebuild all history each day.
FOLLOWS_HISTORY_AND_CUSTOMERS = follows(
    dg.AssetSelection.groups("xero_history") | dg.AssetSelection.assets("customers")
)
FOLLOWS_ITS_SOURCES = follows()

# Dagster's default automation sensor starts stopped, so this one is declared running.
sales_automation = dg.AutomationConditionSensorDefinition(
    "sales_automation",
    target=dg.AssetSelection.groups(GROUP),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Rebuilds the sales months whose invoices or credit notes changed (backfill, "
    "sync, reconciliation), then invoiced_contacts and the chart.",
)
