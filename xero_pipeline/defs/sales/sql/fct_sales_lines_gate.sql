-- The staged month of fct_sales_lines as its quality gate sees it (data_checks/
-- fct_sales_lines.json): the fact's columns plus gate-only facts that need other rows, computed
-- inside the suite's one query (quality/in_warehouse.py), nothing materialised.
--   document_id     invoice_id or credit_note_id, for the key's uniqueness;
--   traces_to_line  1 when the line is a published line of its document (xero_*_lines);
--   subtotal_gap    per document, |sum of the fact's net amounts - the document's SubTotal|,
--                   in document currency (credit notes compared with their sign turned back);
--                   NULL when the document's header is not published.
SELECT
    s.*,
    COALESCE(s.invoice_id, s.credit_note_id) AS document_id,
    CASE
        WHEN s.document_type = 'ACCREC' AND EXISTS (
            SELECT 1 FROM xero_invoice_lines l
            WHERE l.tenant_id = s.tenant_id
                AND l.invoice_id = s.invoice_id
                AND l.line_number = s.line_number
        ) THEN 1
        WHEN s.document_type = 'ACCRECCREDIT' AND EXISTS (
            SELECT 1 FROM xero_credit_note_lines l
            WHERE l.tenant_id = s.tenant_id
                AND l.credit_note_id = s.credit_note_id
                AND l.line_number = s.line_number
        ) THEN 1
        ELSE 0
    END AS traces_to_line,
    CAST(
        ABS(
            SUM(s.net_amount) OVER (
                PARTITION BY s.tenant_id, s.document_type, COALESCE(s.invoice_id, s.credit_note_id)
            ) - CASE
                WHEN s.document_type = 'ACCRECCREDIT' THEN -hc.sub_total
                ELSE hi.sub_total
            END
        ) AS FLOAT
    ) AS subtotal_gap
FROM {rows} s
LEFT JOIN xero_invoices hi
    ON hi.tenant_id = s.tenant_id AND hi.invoice_id = s.invoice_id
LEFT JOIN xero_credit_notes hc
    ON hc.tenant_id = s.tenant_id AND hc.credit_note_id = s.credit_note_id
