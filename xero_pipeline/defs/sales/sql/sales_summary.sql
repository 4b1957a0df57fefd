-- Net sales by account code for the months from the parameter since onwards, per organisation:
-- what `make run` prints at the end (summary.py).
SELECT
    COALESCE(o.name, r.tenant_id) AS organisation,
    o.base_currency,
    r.tenant_id,
    r.month,
    r.account_code,
    r.account_name,
    r.net_amount_base,
    r.invoice_count,
    r.line_count,
    r.customer_count
FROM sales_by_account_code_monthly r
LEFT JOIN xero_organisation o
    ON o.tenant_id = r.tenant_id
WHERE r.month >= :since
ORDER BY COALESCE(o.name, r.tenant_id), r.tenant_id, r.month, r.net_amount_base DESC
