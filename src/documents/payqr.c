/* payqr.c — building the ГОСТ Р 56042-2014 string (see payqr.h). */
#include <stdio.h>
#include <string.h>
#include "err.h"
#include "payqr.h"

static int digits(const char *s, size_t a, size_t b)
{
    size_t n = s ? strlen(s) : 0;
    return s && n >= a && n <= b && strspn(s, "0123456789") == n;
}

/* Appends "|Key=value" (value's '|' turned into '/'); skips an empty optional value. */
static int put(char *out, size_t size, size_t *len, const char *key, const char *value)
{
    if (!value || !*value)
        return 0;
    int n = snprintf(out + *len, size - *len, "|%s=", key);
    if (n < 0 || (size_t)n >= size - *len)
        return KB_ERR_INVAL;
    *len += (size_t)n;
    for (const char *p = value; *p; p++) {
        if (*len + 1 >= size)
            return KB_ERR_INVAL;
        out[(*len)++] = *p == '|' || *p == '\n' || *p == '\r' ? (*p == '|' ? '/' : ' ') : *p;
    }
    out[*len] = 0;
    return 0;
}

int payqr_string(const payqr_t *f, char *out, size_t size)
{
    if (!f->name || !*f->name || !f->bank_name || !*f->bank_name || !digits(f->personal_acc, 20, 20) ||
        !digits(f->bic, 9, 9) || !digits(f->corresp_acc, 20, 20) || f->sum_kopecks < 0 ||
        (f->payee_inn && *f->payee_inn && !digits(f->payee_inn, 10, 12)) || size < 16)
        return KB_ERR_INVAL;
    size_t len = (size_t)snprintf(out, size, "ST00012");
    char sum[24];
    snprintf(sum, sizeof sum, "%lld", (long long)f->sum_kopecks);
    int rc = put(out, size, &len, "Name", f->name);
    rc = rc ? rc : put(out, size, &len, "PersonalAcc", f->personal_acc);
    rc = rc ? rc : put(out, size, &len, "BankName", f->bank_name);
    rc = rc ? rc : put(out, size, &len, "BIC", f->bic);
    rc = rc ? rc : put(out, size, &len, "CorrespAcc", f->corresp_acc);
    rc = rc ? rc : put(out, size, &len, "Sum", f->sum_kopecks > 0 ? sum : NULL);
    rc = rc ? rc : put(out, size, &len, "Purpose", f->purpose);
    rc = rc ? rc : put(out, size, &len, "PayeeINN", f->payee_inn);
    rc = rc ? rc : put(out, size, &len, "PersAcc", f->pers_acc);
    rc = rc ? rc : put(out, size, &len, "PayerAddress", f->payer_address);
    rc = rc ? rc : put(out, size, &len, "PaymPeriod", f->paym_period);
    return rc ? rc : (int)len;
}
