/* fuzz_reading.c — a typed meter reading ("29 700,5") for a meter of 1 to 9 digits (the first byte), its
 * consumption against a previous value, and its formatting back. */
#include "fuzz.h"
#include "meter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int digits = data[0] % 10;
    char *s = fuzz_str(data + 1, size - 1);
    if (!s)
        return 0;
    meter_milli_t v;
    if (meter_parse(s, digits, &v) == 0) {
        char buf[64];
        meter_format(v, buf, sizeof buf);
        meter_parse(buf, digits, &v);
    }
    free(s);
    return 0;
}
