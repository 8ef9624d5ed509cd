/* doc_receipt.h — the check (кассовый чек) of a paid payment, as the customer gets it: a text (catalog key
 * pay.check) and a PDF with the same values — the fiscal data of this one receipt (РН ККТ, ФН, ФД, ФПД, its time
 * and the check link, as the provider or the cash register gave them), the amount, the account, its meters, the
 * supply address and the tariff. Both are made from receipt.get's answer (core_payments.c). */
#ifndef KB_DOC_RECEIPT_H
#define KB_DOC_RECEIPT_H

#include <stddef.h>
#include <cjson/cJSON.h>

/* The template parameters of the check (a new object; the caller frees it): amount, account, address, tariff,
 * meters, paid_at, kkt_reg, fn, fd, fpd, at, check_url ("—" for what the fiscal data lacks). */
cJSON *doc_receipt_params(const cJSON *receipt);

/* Renders the check in lang into a malloc'ed PDF (*pdf, *len). Returns 0, or a negative error with err set. Safe to
 * call off the loop. */
int doc_receipt_pdf(const cJSON *receipt, const char *lang, unsigned char **pdf, size_t *len, char *err,
                    size_t errlen);

#endif
