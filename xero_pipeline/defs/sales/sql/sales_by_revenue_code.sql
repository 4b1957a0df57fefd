-- Net sales by revenue account code and month, per organisation (the chart's data). Revenue
-- codes are those whose account class is REVENUE (dim_account_codes.is_revenue).
SELECT
    r.tenant_id,
    o.name AS organisation,
    o.base_currency,
    r.month,
    r.account_code,
    r.account_name,
    r.net_amount_base
FROM sales_by_account_code_monthly r
JOIN dim_account_codes d
    ON d.tenant_id = r.tenant_id AND d.code = r.account_code
LEFT JOIN xero_organisation o
    ON o.tenant_id = r.tenant_id
WHERE d.is_revenue
ORDER BY o.name, r.tenant_id, r.month, r.account_code
