-- The staged invoiced_contacts as its gate sees them (data_checks/invoiced_contacts.json), with
-- each contact's lifetime figures recomputed straight from fct_sales_lines.
SELECT
    s.*,
    CASE WHEN s.first_invoice_date <= s.last_invoice_date THEN 1 ELSE 0 END AS dates_in_order,
    CAST(ABS(s.lifetime_net_sales_base - (
        SELECT SUM(f.net_amount_base) FROM fct_sales_lines f
        WHERE f.tenant_id = s.tenant_id AND f.contact_id = s.contact_id
    )) AS FLOAT) AS lifetime_gap
FROM {rows} s
