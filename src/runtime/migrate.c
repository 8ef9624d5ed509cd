/* migrate.c — applying and checking migrations (see migrate.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>
#include <openssl/sha.h>
#include "err.h"
#include "log.h"
#include "migrate.h"
#include "pgcli.h"

static const char *const create_table =
    "CREATE TABLE IF NOT EXISTS kb_schema_migrations ("
    " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())";
/* transaction-scoped: released at COMMIT/ROLLBACK, never held across work */
static const char *const lock_sql = "SELECT pg_advisory_xact_lock(7071700001)";

/* ---------------------------------------------------------------- helpers */

static void checksum(const char *sql, char out[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)sql, strlen(sql), md);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Runs sql (possibly several statements); returns 0 or KB_ERR_IO with the server's message in err. */
static int exec_ok(PGconn *pg, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(r);
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : KB_ERR_IO;
}

/* Compares the database's applied migrations with steps. Sets *next to the index of the first step not applied.
 * Returns 0 or KB_ERR_STATE with the reason in err. Must run inside the locked transaction. */
static int compare(PGconn *pg, const migrate_step_t *steps, int *next, char *err, size_t errlen)
{
    PGresult *r = PQexec(pg, "SELECT version, name, checksum FROM kb_schema_migrations ORDER BY version");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
        PQclear(r);
        return KB_ERR_IO;
    }
    int rc = 0, nsteps = 0;
    while (steps[nsteps].version)
        nsteps++;
    *next = 0;
    for (int i = 0; i < PQntuples(r) && !rc; i++) {
        int v = atoi(PQgetvalue(r, i, 0));
        int k;
        for (k = 0; k < nsteps && steps[k].version != v; k++)
            ;
        if (k == nsteps) {
            snprintf(err, errlen, "the database has migration %03d (%s) that this kabinetd does not know: "
                     "run a kabinetd at least as new as the schema", v, PQgetvalue(r, i, 1));
            rc = KB_ERR_STATE;
            break;
        }
        char sum[65];
        checksum(steps[k].sql, sum);
        if (strcmp(sum, PQgetvalue(r, i, 2)) != 0) { /* a migration's text digest: not a secret */
            snprintf(err, errlen, "migration %s was changed after it was applied: add a new migration instead",
                     steps[k].name);
            rc = KB_ERR_STATE;
        }
        if (k + 1 > *next)
            *next = k + 1;
    }
    PQclear(r);
    return rc;
}

/* ---------------------------------------------------------------- public */

int migrate_run(const char *conninfo, const migrate_step_t *steps, int *applied, char *err, size_t errlen)
{
    *applied = 0;
    PGconn *pg = pgcli_connect(conninfo, err, errlen);
    if (!pg)
        return KB_ERR_NOTCONN;
    int rc = exec_ok(pg, "BEGIN", err, errlen);
    if (!rc)
        rc = exec_ok(pg, lock_sql, err, errlen);
    if (!rc)
        rc = exec_ok(pg, create_table, err, errlen);
    if (!rc)
        rc = exec_ok(pg, "COMMIT", err, errlen);
    for (int i = 0; !rc && steps[i].version; i++) {
        int next;
        if ((rc = exec_ok(pg, "BEGIN", err, errlen)) || (rc = exec_ok(pg, lock_sql, err, errlen)))
            break;
        if ((rc = compare(pg, steps, &next, err, errlen)))
            break;
        if (next > i) { /* already applied (perhaps by another process just now) */
            rc = exec_ok(pg, "COMMIT", err, errlen);
            continue;
        }
        char emsg[512];
        if (exec_ok(pg, steps[i].sql, emsg, sizeof emsg)) {
            char *nl = strchr(emsg, '\n');
            if (nl)
                *nl = 0;
            snprintf(err, errlen, "migration %s failed and was rolled back: %s", steps[i].name, emsg);
            rc = KB_ERR_IO;
            break;
        }
        char sum[65], ver[16];
        checksum(steps[i].sql, sum);
        snprintf(ver, sizeof ver, "%d", steps[i].version);
        const char *params[] = {ver, steps[i].name, sum};
        PGresult *r = PQexecParams(pg, "INSERT INTO kb_schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                                   3, NULL, params, NULL, NULL, 0);
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            snprintf(err, errlen, "%s", PQresultErrorMessage(r));
        PQclear(r);
        if (!ok || (rc = exec_ok(pg, "COMMIT", err, errlen))) {
            rc = KB_ERR_IO;
            break;
        }
        log_info("migrate", "applied %s", steps[i].name);
        (*applied)++;
    }
    if (rc)
        exec_ok(pg, "ROLLBACK", (char[256]){0}, 256);
    PQfinish(pg);
    return rc;
}

int migrate_check(const char *conninfo, const migrate_step_t *steps, char *err, size_t errlen)
{
    PGconn *pg = pgcli_connect(conninfo, err, errlen);
    if (!pg)
        return KB_ERR_NOTCONN;
    int nsteps = 0;
    while (steps[nsteps].version)
        nsteps++;
    int next = 0, rc;
    PGresult *r = PQexec(pg, "SELECT to_regclass('kb_schema_migrations') IS NOT NULL");
    int exists = PQresultStatus(r) == PGRES_TUPLES_OK && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    rc = exists ? compare(pg, steps, &next, err, errlen) : 0;
    if (!rc && next < nsteps) {
        snprintf(err, errlen, "the database lacks %d migration(s), from %s on: run `kabinetd migrate` first",
                 nsteps - next, steps[next].name);
        rc = KB_ERR_STATE;
    }
    PQfinish(pg);
    return rc;
}
