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


def follows(updates: dg.AutomationCondition) -> dg.AutomationCondition:
    """Rebuild when the sources named by `updates` changed, for whichever months they changed.

    `AutomationCondition.eager()` would be the stock choice, but it only ever considers the
    latest month of a time-partitioned asset (a backfill or a sync touching an older month would
    be ignored), and it waits while any dependency is missing (a month with no credit notes yet,
    or the customer list before its merge ever ran). So: eager without those two clauses."""
    return (
        updates.since_last_handled()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label("rebuild the months whose sources changed")


# Months follow their own history; the customer merge rebuilds every month (customer_id).
# Daily reference refreshes are not followed: they would rebuild all history each day.
FOLLOWS_HISTORY_AND_CUSTOMERS = follows(
    dg.AutomationCondition.any_deps_updated().allow(
        dg.AssetSelection.groups("xero_history") | dg.AssetSelection.assets("customers")
    )
)
FOLLOWS_ITS_SOURCES = follows(dg.AutomationCondition.any_deps_updated())

# Dagster's default automation sensor starts stopped, so this one is declared running.
sales_automation = dg.AutomationConditionSensorDefinition(
    "sales_automation",
    target=dg.AssetSelection.groups(GROUP),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Rebuilds the sales months whose invoices or credit notes changed (backfill, "
    "sync, reconciliation), then invoiced_contacts and the chart.",
)
