/* billing.h — the exchange with the retailer's billing system, as command-line steps (kabinetd import / export,
 * README "Billing files"): CSV files in, CSV of what customers did through kabinet out. Blocking libpq (pgcli),
 * never on the server's loop.
 *
 * Import: the file goes by COPY into a temporary staging table with its line numbers, every row is checked, and
 * only then upserted, all in one transaction. A bad row is reported as "line N: why"; a file with bad rows changes
 * nothing unless skip_bad (then the good rows go in and the bad ones are listed as skipped). Importing the same
 * file again changes nothing.
 *
 * Export: each run stamps the rows not exported yet with a new batch number and writes every row of the batches
 * after `since`; the last batch number is the cursor to pass next time. A row thus leaves exactly once when the
 * caller keeps the cursor, and again (not lost) when a run's output was lost and the old cursor is reused. */
#ifndef KB_BILLING_H
#define KB_BILLING_H

#include <stddef.h>
#include <stdio.h>

/* One kind of billing file. */
typedef struct {
    const char *name;          /* "accounts" */
    const char *columns;       /* the columns, comma-separated; a '*' after a name marks a required one */
    const char *check_sql;     /* (line, why) of every row of kb_stage with a problem */
    const char *apply_sql[4];  /* the upserts, in order; each answers the number of rows it changed */
} billing_kind_t;

/* The kind of that name, or NULL. */
const billing_kind_t *billing_kind(const char *name);

/* Imports the CSV file path as kind. Reports each bad row and a summary line to report. Returns 0, KB_ERR_INVAL
 * (bad rows or a bad header: nothing changed), or KB_ERR_NOTCONN / KB_ERR_IO with one line in err. */
int billing_import(const char *conninfo, const char *kind, const char *path, int skip_bad, FILE *report, char *err,
                   size_t errlen);
/* Writes CSV (with a header) of kind "readings", "payments" or "links" after cursor since to out; *cursor gets
 * the cursor for the next run and *rows the rows written. Returns 0, KB_ERR_INVAL (unknown kind, or a cursor
 * ahead of the database), or KB_ERR_NOTCONN / KB_ERR_IO with one line in err. */
int billing_export(const char *conninfo, const char *kind, long long since, FILE *out, long long *cursor, long *rows,
                   char *err, size_t errlen);

#endif
