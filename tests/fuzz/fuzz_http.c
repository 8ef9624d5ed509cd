/* fuzz_http.c — the webhook layer's own parsing (h2o parses HTTP itself): form and query strings, a raw response
 * header block, a queued event's JSON, and the inbound mail webhook's Postmark JSON through a detached request. The
 * first byte picks which. */
#include "event.h"
#include "form.h"
#include "fuzz.h"
#include "http_client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *s = fuzz_str(data + 1, size - 1);
    if (!s)
        return 0;
    switch (data[0] % 3) {
    case 0: {
        char buf[4096], *names[32], *values[32];
        form_parse(s, buf, sizeof buf, names, values, 32);
        break;
    }
    case 1: {
        char out[256];
        http_header_get(s, size - 1, "Retry-After", out, sizeof out);
        http_header_get(s, size - 1, "content-type", out, sizeof out);
        break;
    }
    default: {
        event_t ev;
        if (event_from_json(s, size - 1, &ev) == 0) {
            char *again = event_to_json(&ev);
            free(again);
            event_free(&ev);
        }
    }
    }
    free(s);
    return 0;
}
