-- What a month of sales_by_account_code_monthly adds to its run's metadata (report.SalesTally),
-- from the staged rows: per organisation and account code, the net sales in base currency, the
-- lines and the documents.
SELECT
    tenant_id,
    account_code,
    MAX(account_name) AS account_name,
    NULL AS document_type,
    SUM(net_amount_base) AS net_amount_base,
    SUM(line_count) AS line_count,
    SUM(invoice_count) AS document_count,
    NULL AS xero_url
FROM {rows} r
GROUP BY tenant_id, account_code
