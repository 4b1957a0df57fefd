-- fct_sales_lines for one month: every line of an approved sales invoice (ACCREC) or sales
-- credit note (ACCRECCREDIT), credit notes negative. Parameters (named, bound by the caller):
-- start and end, the month's date range (end exclusive), and month, its first day.
-- (No parameter marker appears in these comments: SQLAlchemy would bind it there too.)
--
-- Portable SQL, the same text on SQLite and PostgreSQL. Two things look odd for that reason:
-- `* 1.0` before dividing by the rate (SQLite stores whole-number amounts as integers and would
-- divide them as integers), and the lookups are grouped subqueries rather than plain joins so
-- that a duplicated account code or a contact linked twice can never multiply a line.
SELECT
    d.tenant_id,
    d.document_type,
    d.invoice_id,
    d.credit_note_id,
    d.document_number,
    d.line_number,
    d.line_item_id,
    d.date,
    :month AS month,
    d.contact_id,
    d.contact_name,
    cu.customer_id,
    d.account_code,
    a.name AS account_name,
    d.description,
    d.quantity,
    d.unit_amount,
    d.net_amount,
    d.tax_amount,
    d.net_amount + COALESCE(d.tax_amount, 0) AS gross_amount,
    d.currency_code,
    d.currency_rate,
    -- Xero's CurrencyRate: document amount = base amount x rate, so base = amount / rate. A
    -- missing (or zero) rate means 1 only on a document in the base currency; otherwise the
    -- base amount is unknown (NULL) and the gate stops the month.
    CASE
        WHEN d.currency_rate IS NOT NULL AND d.currency_rate <> 0
            THEN d.net_amount * 1.0 / d.currency_rate
        WHEN d.currency_code = o.base_currency THEN d.net_amount
    END AS net_amount_base,
    d.status,
    d.xero_url,
    -- an organisation disconnected from the app keeps its rows, marked
    COALESCE(cn.status, 'connected') <> 'disconnected' AS is_connected
FROM (
    SELECT
        h.tenant_id,
        h.type AS document_type,
        h.invoice_id,
        NULL AS credit_note_id,
        h.invoice_number AS document_number,
        l.line_number,
        l.line_item_id,
        h.date,
        h.contact_id,
        h.contact_name,
        l.account_code,
        l.description,
        l.quantity,
        l.unit_amount,
        -- tax-exclusive: LineAmount includes the tax when the amounts are Inclusive
        CASE
            WHEN h.line_amount_types = 'Inclusive'
                THEN l.line_amount - COALESCE(l.tax_amount, 0)
            ELSE l.line_amount
        END AS net_amount,
        l.tax_amount,
        h.currency_code,
        h.currency_rate,
        h.status,
        h.xero_url
    FROM xero_invoices h
    JOIN xero_invoice_lines l
        ON l.tenant_id = h.tenant_id AND l.invoice_id = h.invoice_id
    WHERE h.type = 'ACCREC'
        AND h.status IN ('AUTHORISED', 'PAID')
        AND h.date >= :start AND h.date < :end

    UNION ALL

    SELECT
        h.tenant_id,
        h.type AS document_type,
        NULL AS invoice_id,
        h.credit_note_id,
        h.credit_note_number AS document_number,
        l.line_number,
        l.line_item_id,
        h.date,
        h.contact_id,
        h.contact_name,
        l.account_code,
        l.description,
        -l.quantity,  -- a credit gives back: quantities and amounts are negative
        l.unit_amount,
        -CASE
            WHEN h.line_amount_types = 'Inclusive'
                THEN l.line_amount - COALESCE(l.tax_amount, 0)
            ELSE l.line_amount
        END AS net_amount,
        -l.tax_amount,
        h.currency_code,
        h.currency_rate,
        h.status,
        h.xero_url
    FROM xero_credit_notes h
    JOIN xero_credit_note_lines l
        ON l.tenant_id = h.tenant_id AND l.credit_note_id = h.credit_note_id
    WHERE h.type = 'ACCRECCREDIT'
        AND h.status IN ('AUTHORISED', 'PAID')
        AND h.date >= :start AND h.date < :end
) d
LEFT JOIN xero_organisation o
    ON o.tenant_id = d.tenant_id
LEFT JOIN xero_connections cn
    ON cn.tenant_id = d.tenant_id
LEFT JOIN (
    SELECT tenant_id, code, MAX(name) AS name
    FROM xero_accounts
    WHERE code IS NOT NULL
    GROUP BY tenant_id, code
) a
    ON a.tenant_id = d.tenant_id AND a.code = d.account_code
-- customers is filled by the customer merge; until it runs, customer_id is NULL
LEFT JOIN (
    SELECT tenant_id, contact_id, MIN(customer_id) AS customer_id
    FROM customers
    WHERE contact_id IS NOT NULL
    GROUP BY tenant_id, contact_id
) cu
    ON cu.tenant_id = d.tenant_id AND cu.contact_id = d.contact_id
