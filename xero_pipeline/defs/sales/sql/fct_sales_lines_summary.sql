-- What a month of fct_sales_lines adds to its run's metadata (report.SalesTally), from the staged
-- rows: per organisation, account code and document type, the net sales in base currency, the
-- lines, the documents, and a link to one invoice.
SELECT
    tenant_id,
    COALESCE(account_code, '') AS account_code,
    MAX(account_name) AS account_name,
    document_type,
    SUM(net_amount_base) AS net_amount_base,
    COUNT(*) AS line_count,
    COUNT(DISTINCT COALESCE(invoice_id, credit_note_id)) AS document_count,
    MIN(CASE WHEN invoice_id IS NOT NULL THEN xero_url END) AS xero_url
FROM {rows} s
GROUP BY tenant_id, COALESCE(account_code, ''), document_type
