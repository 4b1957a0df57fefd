"""How the sales tables keep themselves fresh: declarative automation, evaluated by the
`sales_automation` sensor (on by default).

A history backfill, the nightly reconciliation or an incremental sync that touches a month
rebuilds that month's fact and rollup, then the unpartitioned tables and the chart; a customer
merge rebuilds every month (customer_id). Reference-data refreshes (account names) are not
followed month by month: they reach the unpartitioned tables at once and older months when those
are next rebuilt.
"""

from collections.abc import Sequence

import dagster as dg

GROUP = "sales"


def follows(
    sources: dg.AssetSelection | None = None, readers: Sequence[str] = ()
) -> dg.AutomationCondition:
    """Rebuild the months whose sources (all dependencies, or only `sources`) changed, never
    while one of its `readers` (the sales assets built from it) is being built.

    `AutomationCondition.eager()` would be the stock choice, but it only ever considers the
    latest month of a time-partitioned asset (a backfill or a sync touching an older month would
    be ignored), and it waits while any dependency is missing (a month with no credit notes yet,
    or the customer list before its merge ever ran). So: eager without those two clauses.

    And with one race closed. Eager forgets a change when the month itself is published, and
    when a month's rollup (asked for earlier) and then a newer fact both land between two
    ticks, it cannot tell which came first, so the rollup built from the older fact stays
    (dagster-io/dagster#33587, open). Here the materializations' own times decide. That
    ordering also stands in for eager's "ignore parents built by the same run": a run builds
    the history before the fact, so the fact is the later of the two.

    Times cannot order the other way round: a rollup run that read the fact before a newer fact
    was published still records its materialization later, at the end of its step, and would
    look up to date. So a month is not rebuilt while a reader of it is in progress; the reader's
    own condition then sees the newer publish and rebuilds after it."""

    def any_source(condition: dg.AutomationCondition) -> dg.AutomationCondition:
        deps = dg.AutomationCondition.any_deps_match(condition)
        return deps if sources is None else deps.allow(sources)

    published = dg.AutomationCondition.newly_updated()
    # True while a source's latest publish is later than the month's. `since` compares the two
    # times when both land in one tick, which it can only do between two single timed
    # conditions (an `|` of conditions carries no times), hence this separate step.
    source_is_newer = any_source(published).since(published)
    # A change: a source published on this tick, later than the month; or a source asked for on
    # this tick (so the month joins that run).
    changed = (any_source(published) & source_is_newer) | any_source(
        dg.AutomationCondition.will_be_requested()
    )
    # Handled: the month was asked for or published, unless a later change came with it.
    handled = (dg.AutomationCondition.newly_requested() | published) & ~changed
    condition = (
        changed.since(dg.AutomationCondition.initial_evaluation() | handled)
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    )
    for reader in readers:
        condition &= ~dg.AutomationCondition.asset_matches(
            reader, dg.AutomationCondition.in_progress()
        )
    return condition.with_label("rebuild the months whose sources changed")


# Months follow their own history; the customer merge rebuilds every month (customer_id).
# Daily reference refreshes are not followed: they would rebuild all history each day.
FACT_SOURCES = dg.AssetSelection.groups("xero_history") | dg.AssetSelection.assets("customers")

# Dagster's default automation sensor starts stopped, so this one is declared running.
sales_automation = dg.AutomationConditionSensorDefinition(
    "sales_automation",
    target=dg.AssetSelection.groups(GROUP),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Rebuilds the sales months whose invoices or credit notes changed (backfill, "
    "sync, reconciliation), then invoiced_contacts and the chart.",
)
