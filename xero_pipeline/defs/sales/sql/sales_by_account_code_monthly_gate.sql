-- The staged rollup month as its gate sees it (data_checks/sales_by_account_code_monthly.json):
-- each row beside the same figures recomputed straight from fct_sales_lines (an aggregate of its
-- own over the month, not the rollup's SELECT), plus one row for every (tenant, code) of the
-- fact that is missing from the rollup (in_rollup = 0).
SELECT
    r.tenant_id,
    r.month,
    r.account_code,
    r.account_name,
    r.net_amount_base,
    r.invoice_count,
    r.line_count,
    r.customer_count,
    1 AS in_rollup,
    CAST(ABS(r.net_amount_base - f.net_amount_base) AS FLOAT) AS net_gap,
    r.line_count - COALESCE(f.line_count, 0) AS line_count_gap,
    r.invoice_count - COALESCE(f.invoice_count, 0) AS invoice_count_gap,
    r.customer_count - COALESCE(f.customer_count, 0) AS customer_count_gap
FROM {rows} r
LEFT JOIN (
    SELECT
        tenant_id,
        COALESCE(account_code, '') AS account_code,
        SUM(net_amount_base) AS net_amount_base,
        COUNT(*) AS line_count,
        COUNT(DISTINCT COALESCE(invoice_id, credit_note_id)) AS invoice_count,
        COUNT(DISTINCT contact_id) AS customer_count
    FROM fct_sales_lines
    WHERE month = :month
    GROUP BY tenant_id, COALESCE(account_code, '')
) f
    ON f.tenant_id = r.tenant_id AND f.account_code = r.account_code

UNION ALL

SELECT
    f.tenant_id,
    f.month,
    COALESCE(f.account_code, '') AS account_code,
    MAX(f.account_name) AS account_name,
    NULL AS net_amount_base,
    0 AS invoice_count,
    0 AS line_count,
    0 AS customer_count,
    0 AS in_rollup,
    NULL AS net_gap,
    NULL AS line_count_gap,
    NULL AS invoice_count_gap,
    NULL AS customer_count_gap
FROM fct_sales_lines f
WHERE f.month = :month
    AND NOT EXISTS (
        SELECT 1 FROM {rows} r
        WHERE r.tenant_id = f.tenant_id AND r.month = f.month
            AND r.account_code = COALESCE(f.account_code, '')
    )
GROUP BY f.tenant_id, f.month, COALESCE(f.account_code, '')
