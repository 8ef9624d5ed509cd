/* doc_bill.h — the monthly bill (квитанция) as a PDF: payee and bank details of the account's branch, the account,
 * its meters and last readings, the month's charges by zone with corrections, ОДН and penalties, the sum due, and
 * the ГОСТ Р 56042-2014 payment QR code (payqr.h) that a bank app scans. Rendered with libharu and the DejaVu Sans
 * font that Debian ships (fonts-dejavu-core), so Cyrillic is embedded; every label comes from the text catalog
 * (bill.* keys). */
#ifndef KB_DOC_BILL_H
#define KB_DOC_BILL_H

#include <stddef.h>
#include <stdio.h>
#include <cjson/cJSON.h>

/* The bill's data as one JSON object, for SQL parameters $1 (account number) and $2 (month "YYYY-MM" or NULL for the
 * latest billed month): {account, holder, address, tariff, branch, bank, month, period, lines, penalty, meters,
 * due}. NULL row: no such account. */
extern const char doc_bill_sql[];

/* Renders bill (doc_bill_sql's object) in lang into a malloc'ed PDF (*pdf, *len). Returns 0, or KB_ERR_INVAL with
 * err set (bank details missing or malformed, the font missing). */
int doc_bill_pdf(const cJSON *bill, const char *lang, unsigned char **pdf, size_t *len, char *err, size_t errlen);

/* `kabinetd bill NUMBER [YYYY-MM]`: the bill of an account written to out. 0, KB_ERR_INVAL (no such account or no
 * bill: err says which) or KB_ERR_NOTCONN. */
int doc_bill_run(const char *conninfo, const char *number, const char *month, FILE *out, char *err, size_t errlen);

#endif
