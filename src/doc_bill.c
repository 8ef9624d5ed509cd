/* doc_bill.c — the bill's data, layout and PDF (see doc_bill.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hpdf.h>
#include <qrencode.h>
#include "doc_bill.h"
#include "err.h"
#include "payqr.h"
#include "pgcli.h"
#include "text.h"

const char doc_bill_sql[] =
    "SELECT json_build_object('account', a.number, 'holder', a.holder_surname, 'address', a.address,"
    " 'tariff', coalesce(a.tariff_code, ''), 'branch', b.name, 'bank', b.bank,"
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

typedef struct {
    HPDF_STATUS error;
} pdf_ctx_t;

static void on_pdf_error(HPDF_STATUS error, HPDF_STATUS detail, void *data)
{
    pdf_ctx_t *c = data;
    if (!c->error)
        c->error = error;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static long long num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsNumber(v) ? (long long)v->valuedouble : 0;
}

/* One line of text at (x, y) from catalog key with params. */
static void line(HPDF_Page page, HPDF_Font font, float size, float x, float y, const char *lang, const char *key,
                 const cJSON *params)
{
    char text[1024];
    txt_render(lang, key, params, text, sizeof text);
    HPDF_Page_BeginText(page);
    HPDF_Page_SetFontAndSize(page, font, size);
    HPDF_Page_TextOut(page, x, y, text);
    HPDF_Page_EndText(page);
}

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
    cJSON_AddStringToObject(pp, "account", str(bill, "account"));
    cJSON_AddStringToObject(pp, "month", str(bill, "month"));
    txt_render(lang, "bill.purpose", pp, purpose, sizeof purpose);
    cJSON_Delete(pp);
    payqr_t f = {str(bank, "recipient"), str(bank, "account"), str(bank, "bank_name"), str(bank, "bik"),
                 str(bank, "corr_account"), num(bill, "due"), purpose, str(bank, "inn"), str(bill, "account"),
                 str(bill, "address"), str(bill, "period")};
    if (payqr_string(&f, qr, sizeof qr) < 0) {
        snprintf(err, errlen, "the branch's bank details are missing or malformed (recipient, account, bank_name, bik, "
                              "corr_account)");
        return KB_ERR_INVAL;
    }
    pdf_ctx_t ctx = {0};
    HPDF_Doc doc = HPDF_New(on_pdf_error, &ctx);
    if (!doc)
        return KB_ERR_NOMEM;
    HPDF_UseUTFEncodings(doc);
    HPDF_SetCurrentEncoder(doc, "UTF-8");
    HPDF_SetCompressionMode(doc, HPDF_COMP_ALL);
    const char *fname = HPDF_LoadTTFontFromFile(doc, DOC_FONT, HPDF_TRUE);
    HPDF_Font font = fname ? HPDF_GetFont(doc, fname, "UTF-8") : NULL;
    if (!font) {
        snprintf(err, errlen, "cannot load the font %s (package fonts-dejavu-core)", DOC_FONT);
        HPDF_Free(doc);
        return KB_ERR_INVAL;
    }
    HPDF_Page page = HPDF_AddPage(doc);
    HPDF_Page_SetSize(page, HPDF_PAGE_SIZE_A4, HPDF_PAGE_PORTRAIT);
    float y = HPDF_Page_GetHeight(page) - 60, x = 50;
    cJSON *p = cJSON_Duplicate(bill, 1);
    cJSON_AddItemToObject(p, "recipient", cJSON_CreateString(str(bank, "recipient")));
    cJSON_AddItemToObject(p, "inn", cJSON_CreateString(str(bank, "inn")));
    cJSON_AddItemToObject(p, "kpp", cJSON_CreateString(str(bank, "kpp")));
    cJSON_AddItemToObject(p, "bank_name", cJSON_CreateString(str(bank, "bank_name")));
    cJSON_AddItemToObject(p, "bik", cJSON_CreateString(str(bank, "bik")));
    cJSON_AddItemToObject(p, "settlement", cJSON_CreateString(str(bank, "account")));
    cJSON_AddItemToObject(p, "corr", cJSON_CreateString(str(bank, "corr_account")));
    line(page, font, 16, x, y, lang, "bill.title", p);
    y -= 28;
    const char *head[] = {"bill.payee", "bill.payee_bank", "bill.payee_accounts", NULL};
    for (int i = 0; head[i]; i++, y -= 14)
        line(page, font, 9, x, y, lang, head[i], p);
    y -= 10;
    const char *who[] = {"bill.account", "bill.address", "bill.tariff", NULL};
    for (int i = 0; who[i]; i++, y -= 16)
        line(page, font, 11, x, y, lang, who[i], p);
    cJSON_ArrayForEach(l, cJSON_GetObjectItem(bill, "meters"))
    {
        cJSON *mp = cJSON_CreateObject();
        cJSON_AddStringToObject(mp, "serial", str(l, "serial"));
        cJSON_AddStringToObject(mp, "last", str(l, "last")[0] ? str(l, "last") : "—");
        line(page, font, 11, x, y, lang, "bill.meter", mp);
        cJSON_Delete(mp);
        y -= 16;
    }
    y -= 8;
    cJSON_ArrayForEach(l, cJSON_GetObjectItem(bill, "lines"))
    {
        line(page, font, 11, x, y, lang, "bill.line", l);
        y -= 16;
        if (num(l, "correction")) {
            line(page, font, 11, x + 20, y, lang, "bill.correction", l);
            y -= 16;
        }
        if (num(l, "odn")) {
            line(page, font, 11, x + 20, y, lang, "bill.odn", l);
            y -= 16;
        }
    }
    if (num(bill, "penalty")) {
        line(page, font, 11, x, y, lang, "bill.penalty", p);
        y -= 16;
    }
    y -= 8;
    line(page, font, 14, x, y, lang, "bill.due", p);
    y -= 20;
    line(page, font, 9, x, y, lang, "bill.qr", p);
    int rc = draw_qr(page, qr, x, y - 6, 170);
    cJSON_Delete(p);
    if (!rc && !ctx.error && HPDF_SaveToStream(doc) == HPDF_OK) {
        HPDF_UINT32 size = HPDF_GetStreamSize(doc);
        *pdf = malloc(size ? size : 1);
        HPDF_STATUS st = *pdf ? HPDF_ReadFromStream(doc, *pdf, &size) : HPDF_FAILD_TO_ALLOC_MEM;
        if (st != HPDF_OK && st != HPDF_STREAM_EOF)
            rc = KB_ERR_NOMEM;
        *len = size;
    } else if (!rc) {
        snprintf(err, errlen, "the PDF library failed (error 0x%04x)", (unsigned)ctx.error);
        rc = KB_ERR_INVAL;
    }
    HPDF_Free(doc);
    return rc;
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
