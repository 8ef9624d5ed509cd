/* pgcli.h — blocking libpq for kabinetd's command-line steps (migrate, import, export, demo-data), which run
 * before or beside the server and never on its loop. Connections get a 10 s connect timeout unless the
 * connection string sets one, and server notices are kept quiet. */
#ifndef KB_PGCLI_H
#define KB_PGCLI_H

#include <stddef.h>
#include <libpq-fe.h>

/* Connects; NULL with one line in err when it cannot. */
PGconn *pgcli_connect(const char *conninfo, char *err, size_t errlen);
/* Runs sql with text parameters (NULL for SQL NULL). Returns the result when it succeeded (the caller PQclears
 * it), or NULL with the server's message in err. */
PGresult *pgcli_exec(PGconn *pg, const char *sql, int nparams, const char *const *params, char *err, size_t errlen);
/* pgcli_exec for statements whose result is not needed: 0 or -1 with err set. */
int pgcli_run(PGconn *pg, const char *sql, int nparams, const char *const *params, char *err, size_t errlen);

#endif
