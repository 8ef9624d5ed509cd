/* pgcli.c — blocking libpq helpers for the command-line steps (see pgcli.h). */
#include <stdio.h>
#include <string.h>
#include "pgcli.h"

/* Server notices ("relation already exists, skipping") are not the operator's concern. */
static void quiet(void *arg, const char *message) {}

/* Copies libpq's message into err as one line. */
static void one_line(char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "%s", msg);
    char *nl = strchr(err, '\n');
    if (nl)
        *nl = 0;
}

PGconn *pgcli_connect(const char *conninfo, char *err, size_t errlen)
{
    /* a host that drops packets must not hang: 10 s unless the connection string sets its own timeout (later
     * keywords win, and the expanded dbname comes last) */
    const char *const keys[] = {"connect_timeout", "dbname", NULL};
    const char *const vals[] = {"10", conninfo, NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(pg) != CONNECTION_OK) {
        char msg[400];
        one_line(msg, sizeof msg, PQerrorMessage(pg));
        snprintf(err, errlen, "cannot connect to the database: %s", msg);
        PQfinish(pg);
        return NULL;
    }
    PQsetNoticeProcessor(pg, quiet, NULL);
    return pg;
}

PGresult *pgcli_exec(PGconn *pg, const char *sql, int nparams, const char *const *params, char *err, size_t errlen)
{
    PGresult *r = PQexecParams(pg, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return r;
    one_line(err, errlen, PQresultErrorMessage(r));
    PQclear(r);
    return NULL;
}

int pgcli_run(PGconn *pg, const char *sql, int nparams, const char *const *params, char *err, size_t errlen)
{
    PGresult *r = pgcli_exec(pg, sql, nparams, params, err, errlen);
    PQclear(r);
    return r ? 0 : -1;
}
