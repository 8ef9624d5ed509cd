/* doc_biz.h — a business's documents for a period (seeds 000 and 004): счёт на оплату (invoice), счёт-фактура (VAT
 * invoice), акт приёма-передачи электроэнергии (delivery act) and акт сверки взаиморасчётов (reconciliation), as
 * PDFs. Their lines come from the period's charges (per month and zone: kWh, rate, amount; VAT 20 % included in the
 * amounts, shown apart) and, for the reconciliation, from the ledger (kb_ledger_rows: the opening balance, each
 * month's charges and payments, the turnovers, the closing balance — the database's own figures). The supplier is
 * the account's branch (bank details), the buyer the contract's organisation. Labels come from the catalog (doc.*). */
#ifndef KB_DOC_BIZ_H
#define KB_DOC_BIZ_H

#include <stddef.h>
#include <cjson/cJSON.h>

/* The document's data as one JSON object, for $1 account number, $2 kind ("invoice", "vat", "act", "recon"), $3 and
 * $4 the period's first and last day (YYYY-MM-DD; whole months are taken). No row: no such business account. */
extern const char doc_biz_sql[];

/* Renders the document (doc_biz_sql's object) in lang into a malloc'ed PDF. Returns 0 or a negative error with err
 * set. Pure but for reading the font: call it off the loop. */
int doc_biz_pdf(const cJSON *doc, const char *lang, unsigned char **pdf, size_t *len, char *err, size_t errlen);

#endif
