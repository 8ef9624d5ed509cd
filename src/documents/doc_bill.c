/* doc_bill.c — the bill's data, layout and PDF (see doc_bill.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hpdf.h>
#include <qrencode.h>
#include "doc.h"
#include "doc_bill.h"
#include "err.h"
#include "payqr.h"
#include "pgcli.h"
#include "text.h"

const char doc_bill_sql[] =
    "SELECT json_build_object('account', a.number, 'holder', a.holder_surname, 'address', a.address,"
    " 'tariff', coalesce((SELECT t.name FROM kb_tariff t WHERE t.code = a.tariff_code"
    " ORDER BY t.valid_from DESC LIMIT 1), a.tariff_code, ''), 'branch', b.name, 'bank', b.bank,"
    " 'month', to_char(mo.m, 'MM.YYYY'), 'period', to_char(mo.m, 'MMYYYY'),"
    " 'lines', coalesce((SELECT json_agg(json_build_object('zone', c.zone, 'kwh', c.kwh::text, 'rate', c.rate::text,"
    "   'amount', c.amount_kopecks, 'correction', c.correction_kopecks, 'odn', c.odn_kopecks) ORDER BY c.zone)"
    "   FROM kb_charge c WHERE c.account_id = a.id AND c.month = mo.m), '[]'),"
    " 'penalty', coalesce((SELECT sum(p.penalty_kopecks) FROM kb_penalty p WHERE p.account_id = a.id AND p.month = mo.m), 0),"
    " 'meters', coalesce((SELECT json_agg(json_build_object('serial', m.serial, 'last', (SELECT r.value::text"
    "   FROM kb_reading r WHERE r.meter_id = m.id AND r.status = 'accepted' ORDER BY r.local_day DESC, r.id DESC"
    "   LIMIT 1)) ORDER BY m.id) FROM kb_meter m WHERE m.account_id = a.id AND m.removed_on IS NULL), '[]'),"
    " 'due', greatest(0, (SELECT balance_kopecks FROM kb_account_money(a.id))))::text "
    "FROM kb_account a JOIN kb_branch b ON b.id = a.branch_id, LATERAL (SELECT coalesce(to_date($2, 'YYYY-MM'),"
    " (SELECT max(month) FROM kb_charge WHERE account_id = a.id)) AS m) mo "
    "WHERE a.number = $1 AND mo.m IS NOT NULL";

/* The QR code, one filled square per dark module, with its top-left corner at (x, y) and side width points. */
static int draw_qr(HPDF_Page page, const char *data, float x, float y, float width)
{
    QRcode *q = QRcode_encodeString(data, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    if (!q)
        return KB_ERR_INVAL;
    float s = width / (float)(q->width + 8); /* a quiet zone of 4 modules */
    HPDF_Page_SetRGBFill(page, 0, 0, 0);
    for (int r = 0; r < q->width; r++)
        for (int c = 0; c < q->width; c++)
            if (q->data[r * q->width + c] & 1)
                HPDF_Page_Rectangle(page, x + (float)(c + 4) * s, y - (float)(r + 5) * s, s, s);
    HPDF_Page_Fill(page);
    QRcode_free(q);
    return 0;
}

int doc_bill_pdf(const cJSON *bill, const char *lang, unsigned char **pdf, size_t *len, char *err, size_t errlen)
{
    const cJSON *bank = cJSON_GetObjectItem(bill, "bank"), *l;
    char purpose[256], qr[1200];
    cJSON *pp = cJSON_CreateObject();
    cJSON_AddStringToObject(pp, "account", doc_str(bill, "account"));
    cJSON_AddStringToObject(pp, "month", doc_str(bill, "month"));
    txt_render(lang, "bill.purpose", pp, purpose, sizeof purpose);
    cJSON_Delete(pp);
    payqr_t f = {doc_str(bank, "recipient"), doc_str(bank, "account"), doc_str(bank, "bank_name"), doc_str(bank, "bik"),
                 doc_str(bank, "corr_account"), doc_num(bill, "due"), purpose, doc_str(bank, "inn"), doc_str(bill, "account"),
                 doc_str(bill, "address"), doc_str(bill, "period")};
    if (payqr_string(&f, qr, sizeof qr) < 0) {
        snprintf(err, errlen, "the branch's bank details are missing or malformed (recipient, account, bank_name, bik, "
                              "corr_account)");
        return KB_ERR_INVAL;
    }
    doc_t d;
    int rc = doc_open(&d, err, errlen);
    if (rc)
        return rc;
    float y = d.top, x = 50;
    cJSON *p = cJSON_Duplicate(bill, 1);
    cJSON_AddItemToObject(p, "recipient", cJSON_CreateString(doc_str(bank, "recipient")));
    cJSON_AddItemToObject(p, "inn", cJSON_CreateString(doc_str(bank, "inn")));
    cJSON_AddItemToObject(p, "kpp", cJSON_CreateString(doc_str(bank, "kpp")));
    cJSON_AddItemToObject(p, "bank_name", cJSON_CreateString(doc_str(bank, "bank_name")));
    cJSON_AddItemToObject(p, "bik", cJSON_CreateString(doc_str(bank, "bik")));
    cJSON_AddItemToObject(p, "settlement", cJSON_CreateString(doc_str(bank, "account")));
    cJSON_AddItemToObject(p, "corr", cJSON_CreateString(doc_str(bank, "corr_account")));
    doc_line(&d, 16, x, y, lang, "bill.title", p);
    y -= 28;
    const char *head[] = {"bill.payee", "bill.payee_bank", "bill.payee_accounts", NULL};
    for (int i = 0; head[i]; i++, y -= 14)
        doc_line(&d, 9, x, y, lang, head[i], p);
    y -= 10;
    const char *who[] = {"bill.account", "bill.address", "bill.tariff", NULL};
    for (int i = 0; who[i]; i++, y -= 16)
        doc_line(&d, 11, x, y, lang, who[i], p);
    cJSON_ArrayForEach(l, cJSON_GetObjectItem(bill, "meters"))
    {
        cJSON *mp = cJSON_CreateObject();
        cJSON_AddStringToObject(mp, "serial", doc_str(l, "serial"));
        cJSON_AddStringToObject(mp, "last", doc_str(l, "last")[0] ? doc_str(l, "last") : "—");
        doc_line(&d, 11, x, y, lang, "bill.meter", mp);
        cJSON_Delete(mp);
        y -= 16;
    }
    y -= 8;
    cJSON_ArrayForEach(l, cJSON_GetObjectItem(bill, "lines"))
    {
        doc_line(&d, 11, x, y, lang, "bill.line", l);
        y -= 16;
        if (doc_num(l, "correction")) {
            doc_line(&d, 11, x + 20, y, lang, "bill.correction", l);
            y -= 16;
        }
        if (doc_num(l, "odn")) {
            doc_line(&d, 11, x + 20, y, lang, "bill.odn", l);
            y -= 16;
        }
    }
    if (doc_num(bill, "penalty")) {
        doc_line(&d, 11, x, y, lang, "bill.penalty", p);
        y -= 16;
    }
    y -= 8;
    doc_line(&d, 14, x, y, lang, "bill.due", p);
    y -= 20;
    doc_line(&d, 9, x, y, lang, "bill.qr", p);
    rc = draw_qr(d.page, qr, x, y - 6, 170);
    cJSON_Delete(p);
    return doc_finish(&d, rc, pdf, len, err, errlen);
}

int doc_bill_run(const char *conninfo, const char *number, const char *month, FILE *out, char *err, size_t errlen)
{
    PGconn *pg = pgcli_connect(conninfo, err, errlen);
    if (!pg)
        return KB_ERR_NOTCONN;
    const char *params[] = {number, month};
    PGresult *res = pgcli_exec(pg, doc_bill_sql, 2, params, err, errlen);
    int rc = 0;
    if (!res) {
        rc = KB_ERR_INVAL;
    } else if (PQntuples(res) != 1) {
        snprintf(err, errlen, "no bill for account %s%s%s", number, month ? " in " : "", month ? month : "");
        rc = KB_ERR_INVAL;
    } else {
        cJSON *bill = cJSON_Parse(PQgetvalue(res, 0, 0));
        unsigned char *pdf = NULL;
        size_t len = 0;
        rc = doc_bill_pdf(bill, "ru", &pdf, &len, err, errlen);
        if (!rc && fwrite(pdf, 1, len, out) != len) {
            snprintf(err, errlen, "cannot write the PDF");
            rc = KB_ERR_INVAL;
        }
        free(pdf);
        cJSON_Delete(bill);
    }
    PQclear(res);
    PQfinish(pg);
    return rc;
}
