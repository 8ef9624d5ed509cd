/* migrate.h — schema migrations: the numbered files of sql/, compiled into the binary, applied in order.
 *
 * Each migration runs in its own transaction together with its row in kb_schema_migrations (version, name,
 * checksum), under a transaction-scoped advisory lock, so that two processes migrating at once apply each step
 * once. Applying is idempotent. A database that holds a migration this binary does not know — or one whose text
 * changed after it was applied — is refused: the binary is older than the schema, or the files were edited.
 * This is a command-line step (`kabinetd migrate`), so it uses libpq's blocking calls; the server never does. */
#ifndef KB_MIGRATE_H
#define KB_MIGRATE_H

#include <stddef.h>

typedef struct {
    int version;        /* from the file name: 001_init.sql → 1 */
    const char *name;   /* the file name */
    const char *sql;    /* its text */
} migrate_step_t;

/* The migrations of sql/, ending with a {0} entry (generated at build time). */
extern const migrate_step_t migrate_builtin[];

/* Applies the steps not yet applied. *applied gets how many were. Returns 0, KB_ERR_NOTCONN (cannot connect),
 * KB_ERR_STATE (unknown or changed migration in the database) or KB_ERR_IO (a step failed; it was rolled back).
 * err gets one line saying why. */
int migrate_run(const char *conninfo, const migrate_step_t *steps, int *applied, char *err, size_t errlen);
/* Checks that the database is exactly at the steps' version: 0, KB_ERR_NOTCONN, or KB_ERR_STATE with err telling
 * whether migrations are pending or the database is newer than the binary. */
int migrate_check(const char *conninfo, const migrate_step_t *steps, char *err, size_t errlen);

#endif
