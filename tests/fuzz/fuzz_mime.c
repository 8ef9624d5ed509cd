/* fuzz_mime.c — a customer's email as it arrives (IMAP or the webhook's message/rfc822): headers, encoded words,
 * multiparts, transfer encodings and charsets; then the reply's quoted history cut off. */
#include "fuzz.h"
#include "mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mime_msg_t m;
    char err[160];
    if (mime_parse((const char *)data, size, &m, err, sizeof err) == 0 && m.text)
        mime_strip_reply(m.text);
    mime_msg_free(&m);
    return 0;
}
