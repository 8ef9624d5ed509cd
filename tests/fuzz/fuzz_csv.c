/* fuzz_csv.c — a billing file (`kabinetd import`) cut into records as the importer does, with the checks a record
 * passes before it goes to COPY: its fields counted (quotes respected) and its text UTF-8. */
#include <stdio.h>
#include "csv.h"
#include "event.h"
#include "fuzz.h"

static int on_record(void *ctx, long line, char *rec, size_t len)
{
    (void)ctx, (void)line;
    while (len && (rec[len - 1] == '\n' || rec[len - 1] == '\r'))
        len--;
    if (event_utf8_valid(rec, len) && !memchr(rec, 0, len))
        csv_fields(rec, len);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fmemopen((void *)data, size, "rb");
    if (!f)
        return 0;
    long open_at;
    csv_read(f, 1, on_record, NULL, &open_at);
    fclose(f);
    return 0;
}
