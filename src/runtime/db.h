/* db.h — the Postgres pool: N non-blocking libpq connections on the loop, pipelined, with prepared statements.
 *
 * Lifecycle: db_new → db_start → (queries, transactions) → db_close. Each connection is made with
 * PQconnectStartParams/PQconnectPoll under our own timeout, then put in pipeline mode: up to `pipeline` queries are
 * in flight on it at once, each followed by a sync so that each runs as its own implicit transaction. A connection
 * that breaks is re-made with backoff; what was in flight on it fails with KB_ERR_CONNRESET.
 *
 * Order: queries given the same non-zero affinity run on the same connection, in the order they were submitted,
 * and their callbacks run in that order. Affinity 0 means "any": the least loaded connection.
 *
 * Transactions hold one connection from BEGIN to COMMIT/ROLLBACK; nothing else runs on it meanwhile. A transaction
 * begun with affinity 0 waits in one queue for the whole pool and goes to the next connection that falls idle (the
 * oldest first), so that no BEGIN waits behind a busy connection while another is free. No session
 * state outlives a transaction (no SET, no advisory locks, no LISTEN), except named prepared statements, which
 * db_options_t.prepared turns off (then statements go as unnamed parameterized queries) so that the pool can sit
 * behind PgBouncer in transaction mode.
 *
 * Every call that takes a callback returns 0 and then calls it exactly once, later; or returns a negative error and
 * never calls it. A query that waits or runs longer than the timeout fails with KB_ERR_TIMEOUT and its connection is
 * reset (libpq 15 has no non-blocking cancel). */
#ifndef KB_DB_H
#define KB_DB_H

#include <stdint.h>
#include <uv.h>
#include <libpq-fe.h>

typedef struct db_s db_t;
typedef struct db_txn_s db_txn_t;
typedef struct db_stmt_s db_stmt_t;

typedef struct {
    const char *conninfo;   /* libpq URL or key=value string */
    int pool;               /* connections */
    int pipeline;           /* queries in flight per connection */
    int prepared;           /* use named prepared statements */
    int timeout_ms;         /* connect timeout and query deadline */
    int async_commit;       /* 1: the connections commit with synchronous_commit off (for bookkeeping whose loss in a
                             * Postgres crash costs nothing but a repeat, such as the outbox's claims), and plan each
                             * statement afresh (plan_cache_mode=force_custom_plan: the outbox's size swings). With
                             * prepared statements the session is set so at connect; without them (behind a
                             * transaction pooler, which shares sessions) each statement's own implicit transaction
                             * sets it, and unnamed statements are planned afresh anyway */
} db_options_t;

/* res is valid only during the callback. err is 0 with a TUPLES_OK/COMMAND_OK result, KB_ERR_IO with the error
 * result (see db_sqlstate), or another negative error with res NULL. */
typedef void (*db_cb)(int err, PGresult *res, void *data);
/* A transaction has begun (err 0, txn usable) or could not (err < 0, txn NULL). */
typedef void (*db_txn_cb)(int err, db_txn_t *txn, void *data);

/* Parses the options (conninfo errors go to errbuf) and resolves a host name once, here, so that connecting never
 * looks names up on the loop. Returns 0 or KB_ERR_INVAL / KB_ERR_NOMEM. */
int db_new(uv_loop_t *loop, const db_options_t *opt, db_t **out, char *errbuf, size_t errlen);
/* Starts connecting every connection. */
int db_start(db_t *db);
/* Fails everything queued or in flight with KB_ERR_CANCELED, closes the connections, and frees the pool once its
 * handles have closed (keep running the loop). */
void db_close(db_t *db);

/* 1 while at least one connection is up. */
int db_ready(const db_t *db);
/* Queries queued or in flight. */
size_t db_pending(const db_t *db);

/* Registers a statement (the same SQL gives the same handle) and returns it; it is prepared lazily on each
 * connection the first time it runs there. The handle lives as long as the pool. NULL on allocation failure. */
const db_stmt_t *db_prepare(db_t *db, const char *sql);

/* Runs a registered statement with text parameters (NULL for SQL NULL). */
int db_exec(db_t *db, uint32_t affinity, const db_stmt_t *st, int nparams, const char *const *params, db_cb cb,
            void *data);
/* Runs one SQL statement given as text, with $1… parameters, unprepared. */
int db_sql(db_t *db, uint32_t affinity, const char *sql, int nparams, const char *const *params, db_cb cb, void *data);

/* Begins a transaction on one connection (chosen by affinity as above). */
int db_txn_begin(db_t *db, uint32_t affinity, db_txn_cb cb, void *data);
/* Runs a statement inside the transaction. */
int db_txn_exec(db_txn_t *txn, const db_stmt_t *st, int nparams, const char *const *params, db_cb cb, void *data);
/* Runs SQL text inside the transaction. */
int db_txn_sql(db_txn_t *txn, const char *sql, int nparams, const char *const *params, db_cb cb, void *data);
/* Ends the transaction; the callback tells whether COMMIT succeeded. txn is freed after the callback. Always
 * accepted (returns 0), also after the connection broke (the callback then gets the error). */
int db_txn_commit(db_txn_t *txn, db_cb cb, void *data);
/* Ends the transaction with ROLLBACK; as db_txn_commit. */
int db_txn_rollback(db_txn_t *txn, db_cb cb, void *data);

/* The SQLSTATE of an error result ("23505"), or "" when there is none. */
const char *db_sqlstate(const PGresult *res);
/* ids[0..n) as a Postgres array literal ("{1,2,3}") for a $n::bigint[] parameter; malloc'ed, NULL without memory. */
char *db_id_array(const int64_t *ids, size_t n);

#endif
