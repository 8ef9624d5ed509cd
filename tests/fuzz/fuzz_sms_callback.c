/* fuzz_sms_callback.c — an SMS gateway's callback to kabinet: SMSC.ru's signed form (statuses, incoming SMS) or
 * SMS.ru's data[N] lines. The first byte picks the gateway; the input up to the first newline is the query, the
 * rest the body. */
#include "fuzz.h"
#include "httpd.h"
#include "smsprov.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static smsprov_t *smsc, *smsru;
    if (!smsc) {
        smsprov_smsc_options_t co = {"http://127.0.0.1:1", "login", "password", "smsc-secret", ""};
        smsprov_smsru_options_t ro = {"http://127.0.0.1:1", "api-id", "smsru-token-0123456789"};
        if (smsprov_smsc_new(NULL, &co, &smsc) || smsprov_smsru_new(NULL, &ro, &smsru))
            abort();
    }
    if (size < 1)
        return 0;
    smsprov_t *p = data[0] & 1 ? smsru : smsc;
    const char *path = p == smsru ? "/sms/smsru/callback/smsru-token-0123456789" : "/sms/smsc/callback";
    httpd_req_t *r = fuzz_request(data, size, "POST", path, "application/x-www-form-urlencoded");
    if (r) {
        smsprov_in_t items[32];
        char answer[64];
        int n = 0;
        p->ops->callback(p, r, items, 32, &n, answer, sizeof answer);
        httpd_req_detached_free(r);
    }
    return 0;
}
