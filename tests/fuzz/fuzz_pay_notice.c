/* fuzz_pay_notice.c — a payment provider's notification to kabinet's webhook: YooKassa's JSON (from an allowed
 * address) or Sberbank's callback (query parameters with a checksum). The first byte picks the provider; the input
 * up to the first newline is the query, the rest the body. */
#include "fuzz.h"
#include "httpd.h"
#include "payprov.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static payprov_t *yk, *sber;
    char err[160];
    if (!yk) {
        payprov_yookassa_options_t yo = {"http://127.0.0.1:1", "100500", "secret", "127.0.0.1/32,::1", "http://x", 1};
        payprov_sber_options_t so = {"http://127.0.0.1:1", "user", "pass", "callback-key", "http://x", "http://y", 1200};
        if (payprov_yookassa_new(NULL, &yo, &yk, err, sizeof err) || payprov_sber_new(NULL, &so, &sber, err, sizeof err))
            abort();
    }
    if (size < 1)
        return 0;
    payprov_t *p = data[0] & 1 ? sber : yk;
    httpd_req_t *r = fuzz_request(data, size, p->ops->notice_method ? p->ops->notice_method : "POST",
                                  p->ops->notice_path ? p->ops->notice_path : "/", "application/json");
    if (r) {
        payprov_notice_t n;
        p->ops->notice(p, r, &n);
        httpd_req_detached_free(r);
    }
    return 0;
}
