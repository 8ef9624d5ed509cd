/* payqr.h — the payment QR code of ГОСТ Р 56042-2014 ("ST00012|Name=…|PersonalAcc=…|…"), which Russian banking
 * apps scan to fill in a payment: the payee's bank details, the sum in kopecks, the purpose and the payer's account.
 * "ST0001" and the encoding digit 2 (UTF-8) open it; fields are "Key=value" separated by '|'. */
#ifndef KB_PAYQR_H
#define KB_PAYQR_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *name;          /* Name: the payee (recipient) */
    const char *personal_acc;  /* PersonalAcc: its settlement account, 20 digits */
    const char *bank_name;     /* BankName */
    const char *bic;           /* BIC: 9 digits */
    const char *corresp_acc;   /* CorrespAcc: 20 digits */
    int64_t sum_kopecks;       /* Sum */
    const char *purpose;       /* Purpose */
    const char *payee_inn;     /* PayeeINN: 10 or 12 digits */
    const char *pers_acc;      /* PersAcc: the customer's account number */
    const char *payer_address; /* PayerAddress */
    const char *paym_period;   /* PaymPeriod: MMYYYY */
} payqr_t;

/* Writes the string into out. Returns its length, or KB_ERR_INVAL when a required field (the five bank details)
 * is missing or malformed, or out is too small. A '|' inside a value (it would end the field) becomes '/'. */
int payqr_string(const payqr_t *f, char *out, size_t size);

#endif
