/* billing_export.c — `kabinetd export readings|payments|links --since <cursor>` (see billing.h): what customers did
 * through kabinet, as CSV for the retailer's billing. One transaction: take a new batch number, stamp the rows not
 * exported yet (customers' readings; kabinet payments once paid; link changes), write the rows of the batches after
 * the cursor. The CSV is written from parameterized queries, quoting as RFC 4180 says. */
#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>
#include "billing.h"
#include "err.h"
#include "pgcli.h"

typedef struct {
    const char *kind;
    const char *stamp;      /* $1: the new batch */
    const char *rows;       /* $1: since, $2: the new batch */
    const char *header;
} export_t;

#define UTC(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

static const export_t exports[] = {
    {"readings",
     "UPDATE kb_reading SET export_batch = $1::bigint WHERE export_batch IS NULL AND source IN ('bot', 'portal', 'customer')",
     "SELECT r.id, a.number, m.serial, r.zone, r.value, r.local_day, " UTC("r.taken_at") ", r.source, r.status,"
     " r.consumption, r.rollover::text FROM kb_reading r JOIN kb_meter m ON m.id = r.meter_id"
     " JOIN kb_account a ON a.id = m.account_id "
     "WHERE r.export_batch > $1::bigint AND r.export_batch <= $2::bigint ORDER BY r.export_batch, r.id",
     "reading_id,account,serial,zone,value,date,taken_at,source,status,consumption,rollover"},
    {"payments",
     "UPDATE kb_payment SET export_batch = $1::bigint WHERE export_batch IS NULL AND billing_id IS NULL"
     " AND source IN ('bot', 'portal') AND status = 'paid'",
     "SELECT p.id, p.order_id, a.number, to_char(p.amount_kopecks / 100.0, 'FM999999999990.00'), p.purpose,"
     " " UTC("p.paid_at") ", p.provider, p.provider_payment_id, p.status FROM kb_payment p"
     " JOIN kb_account a ON a.id = p.account_id "
     "WHERE p.export_batch > $1::bigint AND p.export_batch <= $2::bigint ORDER BY p.export_batch, p.id",
     "payment_id,order_id,account,amount,purpose,paid_at,provider,provider_payment_id,status"},
    {"links",
     "UPDATE kb_account_link SET export_batch = $1::bigint WHERE export_batch IS NULL",
     "SELECT l.id, a.number, l.customer_id, c.phone, c.email, l.status, l.is_primary::text, l.proof, l.approved_by,"
     " " UTC("l.changed_at") " FROM kb_account_link l JOIN kb_account a ON a.id = l.account_id"
     " JOIN kb_customer c ON c.id = l.customer_id "
     "WHERE l.export_batch > $1::bigint AND l.export_batch <= $2::bigint ORDER BY l.export_batch, l.id",
     "link_id,account,customer_id,phone,email,status,primary,proof,approved_by,changed_at"},
};

/* Writes one CSV field, quoted when it must be. */
static void csv_field(FILE *out, const char *v, int first)
{
    if (!first)
        fputc(',', out);
    if (!strpbrk(v, ",\"\r\n") && v[0] != ' ') {
        fputs(v, out);
        return;
    }
    fputc('"', out);
    for (; *v; v++) {
        if (*v == '"')
            fputc('"', out);
        fputc(*v, out);
    }
    fputc('"', out);
}

int billing_export(const char *conninfo, const char *kind, long long since, FILE *out, long long *cursor, long *rows,
                   char *err, size_t errlen)
{
    const export_t *e = NULL;
    for (size_t i = 0; i < sizeof exports / sizeof *exports; i++)
        if (!strcmp(exports[i].kind, kind))
            e = &exports[i];
    if (!e || since < 0) {
        snprintf(err, errlen, e ? "the cursor must be 0 or a number an export gave" :
                                  "unknown kind \"%s\" (readings, payments, links)", kind);
        return KB_ERR_INVAL;
    }
    PGconn *pg = pgcli_connect(conninfo, err, errlen);
    if (!pg)
        return KB_ERR_NOTCONN;
    int rc = KB_ERR_IO;
    PGresult *r = NULL;
    char batch[24], from[24];
    snprintf(from, sizeof from, "%lld", since);
    if (pgcli_run(pg, "BEGIN", 0, NULL, err, errlen) ||
        !(r = pgcli_exec(pg, "SELECT nextval('kb_export_batch')", 0, NULL, err, errlen)))
        goto done;
    snprintf(batch, sizeof batch, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    r = NULL;
    if (since >= atoll(batch)) {
        snprintf(err, errlen, "cursor %lld is ahead of this database (its last batch is %lld)", since, atoll(batch) - 1);
        rc = KB_ERR_INVAL;
        goto done;
    }
    const char *p[] = {batch, from};
    if (pgcli_run(pg, e->stamp, 1, p, err, errlen))
        goto done;
    const char *q[] = {from, batch};
    if (!(r = pgcli_exec(pg, e->rows, 2, q, err, errlen)))
        goto done;
    fprintf(out, "%s\n", e->header);
    for (int i = 0; i < PQntuples(r); i++) {
        for (int c = 0; c < PQnfields(r); c++)
            csv_field(out, PQgetisnull(r, i, c) ? "" : PQgetvalue(r, i, c), c == 0);
        fputc('\n', out);
    }
    if (fflush(out) != 0 || ferror(out)) {
        snprintf(err, errlen, "cannot write the CSV");
        goto done;
    }
    if (pgcli_run(pg, "COMMIT", 0, NULL, err, errlen))
        goto done;
    *cursor = atoll(batch);
    *rows = PQntuples(r);
    rc = 0;
done:
    PQclear(r);
    PQfinish(pg);
    return rc;
}
