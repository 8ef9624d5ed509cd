/* csv.c — cutting a billing CSV file into records (see csv.h). */
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include "csv.h"
#include "err.h"

int csv_fields(const char *rec, size_t len)
{
    int fields = 1, quoted = 0;
    for (size_t i = 0; i < len; i++) {
        if (rec[i] == '"')
            quoted = !quoted;
        else if (rec[i] == ',' && !quoted)
            fields++;
    }
    return quoted ? -1 : fields;
}

int csv_read(FILE *f, long first_line, csv_record_fn fn, void *ctx, long *open_at)
{
    char *line = NULL, *rec = NULL;
    size_t cap = 0, rlen = 0, rcap = 0;
    ssize_t n;
    long lineno = first_line, start = 0;
    int rc = 0, open_quote = 0;
    *open_at = 0;
    while (rc == 0 && (n = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (!open_quote)
            start = lineno, rlen = 0;
        if (rlen + (size_t)n + 1 > rcap) {
            rcap = (rlen + (size_t)n + 1) * 2;
            char *r = realloc(rec, rcap);
            if (!r) {
                rc = KB_ERR_NOMEM;
                break;
            }
            rec = r;
        }
        memcpy(rec + rlen, line, (size_t)n);
        rlen += (size_t)n;
        for (ssize_t i = 0; i < n; i++)
            open_quote ^= line[i] == '"';
        if (!open_quote)
            rc = fn(ctx, start, rec, rlen);
    }
    if (rc == 0 && open_quote)
        *open_at = start;
    free(line);
    free(rec);
    return rc;
}
