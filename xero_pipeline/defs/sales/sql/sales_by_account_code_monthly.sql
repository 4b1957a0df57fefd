-- sales_by_account_code_monthly for one month (parameter month, its first day), built from the
-- published fct_sales_lines. Lines without an account code roll up under the code ''.
SELECT
    f.tenant_id,
    f.month,
    COALESCE(f.account_code, '') AS account_code,
    MAX(f.account_name) AS account_name,
    SUM(f.net_amount_base) AS net_amount_base,
    COUNT(DISTINCT COALESCE(f.invoice_id, f.credit_note_id)) AS invoice_count,
    COUNT(*) AS line_count,
    COUNT(DISTINCT f.contact_id) AS customer_count,
    COALESCE(MAX(cn.status), 'connected') <> 'disconnected' AS is_connected
FROM fct_sales_lines f
LEFT JOIN xero_connections cn
    ON cn.tenant_id = f.tenant_id
WHERE f.month = :month
GROUP BY f.tenant_id, f.month, COALESCE(f.account_code, '')
