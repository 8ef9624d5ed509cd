/* doc_receipt.c — the check's parameters and PDF (see doc_receipt.h). */
#include <stdio.h>
#include <string.h>
#include "doc.h"
#include "doc_receipt.h"

cJSON *doc_receipt_params(const cJSON *receipt)
{
    const cJSON *fiscal = cJSON_GetObjectItem(receipt, "fiscal"), *m;
    cJSON *p = cJSON_CreateObject();
    cJSON_AddNumberToObject(p, "amount", (double)doc_num(receipt, "amount_kopecks"));
    const char *keys[] = {"account", "address", "tariff", "paid_at", "order_id", NULL};
    for (int i = 0; keys[i]; i++)
        cJSON_AddStringToObject(p, keys[i], doc_str(receipt, keys[i])[0] ? doc_str(receipt, keys[i]) : "—");
    const char *fkeys[] = {"kkt_reg", "fn", "fd", "fpd", "at", "check_url", NULL};
    for (int i = 0; fkeys[i]; i++)
        cJSON_AddStringToObject(p, fkeys[i], doc_str(fiscal, fkeys[i])[0] ? doc_str(fiscal, fkeys[i]) : "—");
    char meters[256] = "";
    cJSON_ArrayForEach(m, cJSON_GetObjectItem(receipt, "meters")) {
        size_t n = strlen(meters);
        const char *model = doc_str(m, "model");
        long long digits = doc_num(m, "digits");
        snprintf(meters + n, sizeof meters - n, "%s№ %s%s%s", n ? ", " : "", doc_str(m, "serial"), model[0] ? " " : "",
                 model);
        n = strlen(meters);
        if (digits)
            snprintf(meters + n, sizeof meters - n, " (%lld)", digits);
    }
    cJSON_AddStringToObject(p, "meters", meters[0] ? meters : "—");
    return p;
}

int doc_receipt_pdf(const cJSON *receipt, const char *lang, unsigned char **pdf, size_t *len, char *err,
                    size_t errlen)
{
    doc_t d;
    int rc = doc_open(&d, err, errlen);
    if (rc)
        return rc;
    cJSON *p = doc_receipt_params(receipt);
    float y = d.top, x = 50;
    doc_line(&d, 16, x, y, lang, "pay.check_title", p);
    y -= 30;
    const char *rows[] = {"pay.check_amount", "pay.check_account", "pay.check_address", "pay.check_meters",
                          "pay.check_tariff", "pay.check_paid_at", NULL};
    for (int i = 0; rows[i]; i++, y -= 18)
        doc_line(&d, 11, x, y, lang, rows[i], p);
    y -= 12;
    const char *fiscal[] = {"pay.check_kkt", "pay.check_fn", "pay.check_fd", "pay.check_fpd", "pay.check_at",
                            "pay.check_url", NULL};
    for (int i = 0; fiscal[i]; i++, y -= 18)
        doc_line(&d, 11, x, y, lang, fiscal[i], p);
    cJSON_Delete(p);
    return doc_finish(&d, 0, pdf, len, err, errlen);
}
