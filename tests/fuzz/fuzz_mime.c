/* fuzz_mime.c — a customer's email as it arrives (IMAP or the webhook's message/rfc822): headers, encoded words,
 * multiparts, transfer encodings and charsets; then the reply's quoted history cut off, and whether its
 * Authentication-Results vouch for its From. */
#include "fuzz.h"
#include "mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mime_msg_t m;
    char err[160];
    if (mime_parse((const char *)data, size, &m, err, sizeof err) == 0) {
        if (m.text)
            mime_strip_reply(m.text);
        (void)mime_auth_pass(m.auth_results, "mx.example.ru", m.from);
        (void)mime_auth_pass(m.auth_results, m.auth_results, m.from); /* any id, so the resinfo parsing is reached */
    }
    mime_msg_free(&m);
    return 0;
}
