/* fuzz_sms_text.c — a customer's SMS (and an email's subject or first line): keyword commands, choices, segments. */
#include "fuzz.h"
#include "sms_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_str(data, size);
    if (!s)
        return 0;
    sms_cmd_t cmd;
    char buf[128];
    int ucs2;
    if (sms_parse(s, &cmd) != SMS_CMD_NONE)
        sms_command(&cmd, buf, sizeof buf);
    sms_segments(s, &ucs2);
    free(s);
    return 0;
}
