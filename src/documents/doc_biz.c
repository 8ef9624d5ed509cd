/* doc_biz.c — a business's documents for a period (see doc_biz.h). */
#include <stdio.h>
#include <string.h>
#include "doc.h"
#include "doc_biz.h"
#include "err.h"

const char doc_biz_sql[] =
    "WITH a AS (SELECT ac.id, ac.number, coalesce(sp.name || ', ' || sp.address, ac.address) AS point, b.bank,"
    "  b.name AS branch, c.org_name, c.inn, coalesce(c.kpp, '') AS kpp, c.contract_no,"
    "  to_char(c.contract_date, 'DD.MM.YYYY') AS contract_date"
    "  FROM kb_account ac JOIN kb_branch b ON b.id = ac.branch_id"
    "  JOIN kb_account_link l ON l.account_id = ac.id AND l.status = 'active'"
    "  JOIN kb_customer c ON c.id = l.customer_id AND c.kind = 'business'"
    "  LEFT JOIN kb_supply_point sp ON sp.account_id = ac.id AND sp.customer_id = c.id"
    "  WHERE ac.number = $1 AND $2 IN ('invoice', 'vat', 'act', 'recon') LIMIT 1), "
    "p AS (SELECT date_trunc('month', $3::date)::date AS f, date_trunc('month', $4::date)::date AS t), "
    "ch AS (SELECT c.month, c.zone, c.kwh, c.rate, (c.amount_kopecks + c.correction_kopecks + c.odn_kopecks) AS amount,"
    "  round((c.amount_kopecks + c.correction_kopecks + c.odn_kopecks) * 20 / 120.0)::bigint AS vat"
    "  FROM kb_charge c, a, p WHERE c.account_id = a.id AND c.month BETWEEN p.f AND p.t), "
    "led AS (SELECT l.* FROM a, p, LATERAL kb_ledger_rows(a.id, p.f, p.t) l) "
    "SELECT json_build_object('kind', $2::text, 'number', a.number, 'point', a.point, 'bank', a.bank, 'branch', a.branch,"
    " 'org', a.org_name, 'inn', a.inn, 'kpp', a.kpp, 'contract', a.contract_no, 'contract_date', coalesce(a.contract_date, ''),"
    " 'from', to_char(p.f, 'DD.MM.YYYY'), 'to', to_char((p.t + interval '1 month - 1 day')::date, 'DD.MM.YYYY'),"
    " 'lines', coalesce((SELECT json_agg(json_build_object('month', to_char(month, 'MM.YYYY'), 'zone', zone,"
    "   'kwh', replace(kwh::text, '.', ','), 'rate', replace(rate::text, '.', ','), 'amount', amount, 'vat', vat,"
    "   'net', amount - vat) ORDER BY month, zone) FROM ch), '[]'),"
    " 'kwh', coalesce((SELECT replace(sum(kwh)::text, '.', ',') FROM ch), '0'),"
    " 'amount', coalesce((SELECT sum(amount) FROM ch), 0), 'vat', coalesce((SELECT sum(vat) FROM ch), 0),"
    " 'net', coalesce((SELECT sum(amount - vat) FROM ch), 0),"
    " 'ledger', coalesce((SELECT json_agg(json_build_object('month', to_char(month, 'MM.YYYY'), 'charged', charged_kopecks,"
    "   'paid', paid_kopecks) ORDER BY month) FROM led), '[]'),"
    " 'opening', coalesce((SELECT opening_kopecks FROM led ORDER BY month LIMIT 1), 0),"
    " 'debit', coalesce((SELECT sum(charged_kopecks) FROM led), 0),"
    " 'credit', coalesce((SELECT sum(paid_kopecks) FROM led), 0),"
    " 'closing', coalesce((SELECT closing_kopecks FROM led ORDER BY month DESC LIMIT 1), 0))::text "
    "FROM a, p";

/* The page's next line: a new page when this one is full. */
static float next(doc_t *d, float y, float step)
{
    y -= step;
    if (y < 50) {
        d->page = HPDF_AddPage(d->pdf);
        HPDF_Page_SetSize(d->page, HPDF_PAGE_SIZE_A4, HPDF_PAGE_PORTRAIT);
        y = d->top;
    }
    return y;
}

int doc_biz_pdf(const cJSON *doc, const char *lang, unsigned char **pdf, size_t *len, char *err, size_t errlen)
{
    const char *kind = doc_str(doc, "kind");
    if (strcmp(kind, "invoice") && strcmp(kind, "vat") && strcmp(kind, "act") && strcmp(kind, "recon")) {
        snprintf(err, errlen, "no such document kind");
        return KB_ERR_INVAL;
    }
    doc_t d;
    char key[48];
    int rc = doc_open(&d, err, errlen);
    if (rc)
        return rc;
    /* the header's parameters: the parties, the contract, the period; the bank's fields flattened */
    cJSON *p = cJSON_Duplicate(doc, 1);
    const char *bank[] = {"recipient", "inn", "kpp", "bank_name", "account", "bik", "corr_account", NULL};
    for (int i = 0; bank[i]; i++) { /* the supplier's, "s_…" beside the buyer's own inn and kpp */
        const char *v = doc_str(cJSON_GetObjectItem(doc, "bank"), bank[i]);
        snprintf(key, sizeof key, "s_%s", bank[i]);
        cJSON_AddStringToObject(p, key, v[0] ? v : "—");
    }
    float x = 40, y = d.top;
    snprintf(key, sizeof key, "doc.title_%s", kind);
    doc_line(&d, 14, x, y, lang, key, p);
    y = next(&d, y, 24);
    const char *head[] = {"doc.supplier", "doc.supplier_bank", "doc.buyer", "doc.contract", "doc.point", "doc.period",
                          NULL};
    for (int i = 0; head[i]; i++, y = next(&d, y, 15))
        doc_line(&d, 9.5f, x, y, lang, head[i], p);
    y = next(&d, y, 10);
    const cJSON *line;
    if (!strcmp(kind, "recon")) {
        doc_line(&d, 10, x, y, lang, "doc.recon_opening", p);
        y = next(&d, y, 18);
        doc_line(&d, 9.5f, x, y, lang, "doc.recon_head", NULL);
        y = next(&d, y, 15);
        cJSON_ArrayForEach(line, cJSON_GetObjectItem(doc, "ledger"))
        {
            if (doc_num(line, "charged")) {
                doc_line(&d, 9.5f, x, y, lang, "doc.recon_charged", line);
                y = next(&d, y, 14);
            }
            if (doc_num(line, "paid")) {
                doc_line(&d, 9.5f, x, y, lang, "doc.recon_paid", line);
                y = next(&d, y, 14);
            }
        }
        y = next(&d, y, 6);
        doc_line(&d, 10, x, y, lang, "doc.recon_turnover", p);
        y = next(&d, y, 16);
        doc_line(&d, 10, x, y, lang, doc_num(doc, "closing") >= 0 ? "doc.recon_closing_debt" : "doc.recon_closing_over", p);
    } else {
        snprintf(key, sizeof key, "doc.%s_head", kind);
        doc_line(&d, 9.5f, x, y, lang, key, NULL);
        y = next(&d, y, 15);
        snprintf(key, sizeof key, "doc.%s_line", kind);
        cJSON_ArrayForEach(line, cJSON_GetObjectItem(doc, "lines"))
        {
            doc_line(&d, 9.5f, x, y, lang, key, line);
            y = next(&d, y, 14);
        }
        y = next(&d, y, 6);
        snprintf(key, sizeof key, "doc.%s_total", kind);
        doc_line(&d, 10, x, y, lang, key, p);
    }
    y = next(&d, y, 40);
    doc_line(&d, 9.5f, x, y, lang, !strcmp(kind, "act") || !strcmp(kind, "recon") ? "doc.sign_both" : "doc.sign_supplier",
             p);
    cJSON_Delete(p);
    return doc_finish(&d, 0, pdf, len, err, errlen);
}
