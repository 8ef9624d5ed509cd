/* billing_import.c — `kabinetd import <kind> <file.csv>` (see billing.h): reads the file record by record (a quoted
 * field may span lines; the line a record starts on is its number), refuses what COPY could not take (bad UTF-8,
 * a wrong number of fields, an unclosed quote) with its line, streams the rest into kb_stage by COPY, runs the
 * kind's checks, and upserts. Everything in one transaction: a file with bad rows changes nothing unless --skip-bad. */
#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>
#include "billing.h"
#include "csv.h"
#include "err.h"
#include "event.h"
#include "pgcli.h"

#define MAX_COLUMNS 16
#define MAX_LISTED 200            /* bad rows listed one by one; the rest are counted */

typedef struct {
    long line;
    char *why;
} problem_t;

typedef struct {
    const billing_kind_t *kind;
    char names[MAX_COLUMNS][40]; /* the kind's columns */
    int required[MAX_COLUMNS];
    int ncols;
    int header[MAX_COLUMNS];     /* the file's columns, as indexes into names */
    int nheader;
    problem_t *problems;
    size_t nproblems, cap;
    long rows;                   /* records read (without the header) */
} import_t;

/* ---------------------------------------------------------------- problems */

static void problem(import_t *im, long line, const char *why)
{
    if (im->nproblems == im->cap) {
        size_t cap = im->cap ? im->cap * 2 : 64;
        problem_t *p = realloc(im->problems, cap * sizeof *p);
        if (!p)
            return;
        im->problems = p;
        im->cap = cap;
    }
    im->problems[im->nproblems].line = line;
    im->problems[im->nproblems++].why = strdup(why);
}

static int by_line(const void *a, const void *b)
{
    long x = ((const problem_t *)a)->line, y = ((const problem_t *)b)->line;
    return x < y ? -1 : x > y;
}

static void problems_free(import_t *im)
{
    for (size_t i = 0; i < im->nproblems; i++)
        free(im->problems[i].why);
    free(im->problems);
}

/* ---------------------------------------------------------------- the header */

static void parse_columns(import_t *im)
{
    const char *p = im->kind->columns;
    while (*p && im->ncols < MAX_COLUMNS) {
        size_t n = strcspn(p, ",");
        int req = n > 0 && p[n - 1] == '*';
        snprintf(im->names[im->ncols], sizeof im->names[0], "%.*s", (int)(n - (size_t)req), p);
        im->required[im->ncols++] = req;
        p += n + (p[n] == ',');
    }
}

/* Reads the header line: every column known, none twice, the required ones there. */
static int parse_header(import_t *im, char *line, char *err, size_t errlen)
{
    if (!strncmp(line, "\xEF\xBB\xBF", 3)) /* a byte-order mark, as spreadsheet programs write it */
        memmove(line, line + 3, strlen(line + 3) + 1);
    line[strcspn(line, "\r\n")] = 0;
    for (char *tok = line, *next; tok; tok = next) {
        next = strchr(tok, ',');
        if (next)
            *next++ = 0;
        while (*tok == ' ' || *tok == '"')
            tok++;
        size_t n = strlen(tok);
        while (n && (tok[n - 1] == ' ' || tok[n - 1] == '"'))
            tok[--n] = 0;
        int found = -1;
        for (int i = 0; i < im->ncols; i++)
            if (!strcmp(im->names[i], tok))
                found = i;
        if (found < 0) {
            snprintf(err, errlen, "line 1: unknown column \"%s\" (a %s file has: %s; * = required)", tok,
                     im->kind->name, im->kind->columns);
            return KB_ERR_INVAL;
        }
        for (int i = 0; i < im->nheader; i++)
            if (im->header[i] == found) {
                snprintf(err, errlen, "line 1: column \"%s\" appears twice", tok);
                return KB_ERR_INVAL;
            }
        if (im->nheader == MAX_COLUMNS)
            return KB_ERR_INVAL;
        im->header[im->nheader++] = found;
    }
    for (int i = 0; i < im->ncols; i++) {
        int there = 0;
        for (int j = 0; j < im->nheader; j++)
            there |= im->header[j] == i;
        if (im->required[i] && !there) {
            snprintf(err, errlen, "line 1: column \"%s\" is missing (a %s file has: %s; * = required)", im->names[i],
                     im->kind->name, im->kind->columns);
            return KB_ERR_INVAL;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- records into COPY */

/* Sends one record, prefixed with its line number; or notes why it cannot go. */
static int send_record(import_t *im, PGconn *pg, long line, char *rec, size_t len)
{
    while (len && (rec[len - 1] == '\n' || rec[len - 1] == '\r'))
        len--;
    if (len == 0)
        return 0; /* blank lines are not rows */
    im->rows++;
    char why[160];
    int fields = csv_fields(rec, len);
    if (!event_utf8_valid(rec, len) || memchr(rec, 0, len))
        snprintf(why, sizeof why, "not UTF-8 text (save the file as UTF-8)");
    else if (fields != im->nheader)
        snprintf(why, sizeof why, "%d fields where the header has %d", fields, im->nheader);
    else {
        char prefix[24];
        int n = snprintf(prefix, sizeof prefix, "%ld,", line);
        if (PQputCopyData(pg, prefix, n) != 1 || PQputCopyData(pg, rec, (int)len) != 1 || PQputCopyData(pg, "\n", 1) != 1)
            return KB_ERR_IO;
        return 0;
    }
    problem(im, line, why);
    return 0;
}

typedef struct {
    import_t *im;
    PGconn *pg;
} stream_t;

static int on_record(void *ctx, long line, char *rec, size_t len)
{
    stream_t *st = ctx;
    return send_record(st->im, st->pg, line, rec, len);
}

/* Streams the records after the header into the open COPY. */
static int stream(import_t *im, PGconn *pg, FILE *f)
{
    stream_t st = {im, pg};
    long open_at = 0;
    int rc = csv_read(f, 1, on_record, &st, &open_at);
    if (rc == 0 && open_at) {
        im->rows++;
        problem(im, open_at, "a quoted field is not closed");
    }
    return rc;
}

/* ---------------------------------------------------------------- the transaction */

/* Creates kb_stage and COPYs the file into it. */
static int stage(import_t *im, PGconn *pg, FILE *f, char *err, size_t errlen)
{
    char sql[2048];
    int n = snprintf(sql, sizeof sql, "CREATE TEMP TABLE kb_stage (line integer NOT NULL");
    for (int i = 0; i < im->ncols; i++)
        n += snprintf(sql + n, sizeof sql - (size_t)n, ", \"%s\" text", im->names[i]);
    snprintf(sql + n, sizeof sql - (size_t)n, ") ON COMMIT DROP");
    if (pgcli_run(pg, "BEGIN", 0, NULL, err, errlen) || pgcli_run(pg, sql, 0, NULL, err, errlen))
        return KB_ERR_IO;
    n = snprintf(sql, sizeof sql, "COPY kb_stage (line");
    for (int i = 0; i < im->nheader; i++)
        n += snprintf(sql + n, sizeof sql - (size_t)n, ", \"%s\"", im->names[im->header[i]]);
    snprintf(sql + n, sizeof sql - (size_t)n, ") FROM STDIN WITH (FORMAT csv)");
    PGresult *r = PQexec(pg, sql);
    int ok = PQresultStatus(r) == PGRES_COPY_IN;
    PQclear(r);
    if (!ok) {
        snprintf(err, errlen, "COPY refused: %s", PQerrorMessage(pg));
        return KB_ERR_IO;
    }
    int rc = stream(im, pg, f);
    PQputCopyEnd(pg, rc ? "the file could not be read" : NULL);
    r = PQgetResult(pg);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        snprintf(err, errlen, "COPY failed: %s", PQresultErrorMessage(r));
        rc = KB_ERR_IO;
    }
    PQclear(r);
    while ((r = PQgetResult(pg)))
        PQclear(r);
    return rc;
}

/* Runs the kind's checks; bad rows join the problems and leave kb_stage (they go in only if nothing is bad). */
static int check(import_t *im, PGconn *pg, char *err, size_t errlen)
{
    PGresult *r = pgcli_exec(pg, im->kind->check_sql, 0, NULL, err, errlen);
    if (!r)
        return KB_ERR_IO;
    int bad = PQntuples(r), rc = 0;
    char *lines = malloc((size_t)bad * 12 + 3);
    size_t n = 0;
    if (lines)
        lines[n++] = '{';
    for (int i = 0; i < bad; i++) {
        problem(im, atol(PQgetvalue(r, i, 0)), PQgetvalue(r, i, 1));
        if (lines)
            n += (size_t)sprintf(lines + n, "%s%ld", i ? "," : "", atol(PQgetvalue(r, i, 0)));
    }
    PQclear(r);
    if (!lines)
        return KB_ERR_NOMEM;
    lines[n++] = '}';
    lines[n] = 0;
    const char *p[] = {lines};
    if (bad && pgcli_run(pg, "DELETE FROM kb_stage WHERE line = ANY($1::int[])", 1, p, err, errlen))
        rc = KB_ERR_IO;
    free(lines);
    return rc;
}

static void report_problems(import_t *im, FILE *report, const char *lead)
{
    qsort(im->problems, im->nproblems, sizeof *im->problems, by_line);
    for (size_t i = 0; i < im->nproblems && i < MAX_LISTED; i++)
        fprintf(report, "%sline %ld: %s\n", lead, im->problems[i].line, im->problems[i].why);
    if (im->nproblems > MAX_LISTED)
        fprintf(report, "… and %zu more\n", im->nproblems - MAX_LISTED);
}

int billing_import(const char *conninfo, const char *kind, const char *path, int skip_bad, FILE *report, char *err,
                   size_t errlen)
{
    import_t im = {billing_kind(kind)};
    if (!im.kind) {
        snprintf(err, errlen, "unknown kind \"%s\" (branches, tariffs, accounts, meters, readings, charges, "
                              "penalties, payments, contracts)", kind);
        return KB_ERR_INVAL;
    }
    parse_columns(&im);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open %s", path);
        return KB_ERR_INVAL;
    }
    char *head = NULL;
    size_t hcap = 0;
    int rc = getline(&head, &hcap, f) > 0 ? parse_header(&im, head, err, errlen) : KB_ERR_INVAL;
    if (rc && !err[0])
        snprintf(err, errlen, "line 1: the file is empty (it needs a header line)");
    free(head);
    PGconn *pg = NULL;
    if (rc == 0 && !(pg = pgcli_connect(conninfo, err, errlen)))
        rc = KB_ERR_NOTCONN;
    if (rc == 0)
        rc = stage(&im, pg, f, err, errlen);
    fclose(f);
    if (rc == 0)
        rc = check(&im, pg, err, errlen) ? KB_ERR_IO : 0;
    if (rc == 0 && im.nproblems && !skip_bad) {
        report_problems(&im, report, "");
        snprintf(err, errlen, "%s: %zu of %ld rows are bad; nothing was imported (--skip-bad imports the rest)",
                 path, im.nproblems, im.rows);
        rc = KB_ERR_INVAL;
    }
    long changed = 0;
    for (int i = 0; rc == 0 && i < 4 && im.kind->apply_sql[i]; i++) {
        PGresult *r = pgcli_exec(pg, im.kind->apply_sql[i], 0, NULL, err, errlen);
        if (!r)
            rc = KB_ERR_IO;
        else
            changed += atol(PQgetvalue(r, 0, 0));
        PQclear(r);
    }
    if (rc == 0 && pgcli_run(pg, "COMMIT", 0, NULL, err, errlen))
        rc = KB_ERR_IO;
    if (rc == 0) {
        if (im.nproblems)
            report_problems(&im, report, "skipped ");
        fprintf(report, "import %s: %ld rows read, %ld changed, %zu skipped\n", im.kind->name, im.rows, changed,
                im.nproblems);
    }
    if (pg)
        PQfinish(pg); /* without COMMIT the transaction rolls back */
    problems_free(&im);
    return rc;
}
