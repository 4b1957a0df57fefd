-- invoiced_contacts: every contact with at least one approved sales invoice in fct_sales_lines
-- ("customers you have invoiced", for a CRM import), rebuilt whole. Lifetime net sales count
-- credit notes against the invoices, in the organisation's base currency. The name and link
-- are the contact's current ones (xero_contacts); customer_id comes from the merged customer
-- list (NULL until the customer merge links the contact).
SELECT
    f.tenant_id,
    f.contact_id,
    COALESCE(MAX(c.name), MAX(f.contact_name)) AS contact_name,
    MAX(cu.customer_id) AS customer_id,
    MIN(CASE WHEN f.document_type = 'ACCREC' THEN f.date END) AS first_invoice_date,
    MAX(CASE WHEN f.document_type = 'ACCREC' THEN f.date END) AS last_invoice_date,
    COUNT(DISTINCT f.invoice_id) AS invoice_count,
    SUM(f.net_amount_base) AS lifetime_net_sales_base,
    MAX(o.base_currency) AS base_currency,
    MAX(c.xero_url) AS xero_url,
    COALESCE(MAX(cn.status), 'connected') <> 'disconnected' AS is_connected
FROM fct_sales_lines f
LEFT JOIN xero_connections cn
    ON cn.tenant_id = f.tenant_id
LEFT JOIN xero_contacts c
    ON c.tenant_id = f.tenant_id AND c.contact_id = f.contact_id
LEFT JOIN xero_organisation o
    ON o.tenant_id = f.tenant_id
LEFT JOIN (
    SELECT tenant_id, contact_id, MIN(customer_id) AS customer_id
    FROM customers
    WHERE contact_id IS NOT NULL
    GROUP BY tenant_id, contact_id
) cu
    ON cu.tenant_id = f.tenant_id AND cu.contact_id = f.contact_id
WHERE f.contact_id IS NOT NULL
GROUP BY f.tenant_id, f.contact_id
HAVING COUNT(DISTINCT f.invoice_id) > 0
