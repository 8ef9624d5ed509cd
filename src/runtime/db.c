/* db.c — the Postgres pool (see db.h): connection state machine, pipelined sending and reading, per-connection
 * queues, transactions, deadlines and health checks. */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include "db.h"

#include "err.h"
#include "log.h"
#include "metrics.h"

/* The bookkeeping pool's sessions (async_commit): commits without waiting for the disk, and every statement planned
 * for the tables as they are at that moment — the outbox's claim runs against a table that is nearly empty most of
 * the time and holds thousands of rows during a broadcast, and a plan cached while it was small (a nested loop over
 * every unsent row for each unsent row) would take seconds then. */
#define ASYNC_OPTIONS "-c synchronous_commit=off -c plan_cache_mode=force_custom_plan"

#define DB_MAX_STMTS 1024
#define DB_MAX_WAITING 200000

typedef enum { J_QUERY, J_PREPARE, J_BEGIN, J_HEALTH } job_kind_t;
typedef enum { C_DOWN, C_CONNECTING, C_UP } conn_state_t;

typedef struct db_job_s {
    struct db_job_s *next;
    job_kind_t kind;
    const db_stmt_t *stmt;
    char *sql;                 /* owned copy, for db_sql */
    int nparams;
    char **params;             /* owned copies */
    db_cb cb;
    db_txn_cb txn_cb;          /* J_BEGIN */
    void *data;
    db_txn_t *txn;             /* the transaction this job belongs to */
    int ends_txn;              /* COMMIT or ROLLBACK: release the connection after */
    uint64_t deadline;
    double started;
    PGresult *res;
    int got_null;              /* the NULL that ends the query's results has been read */
    int skip;                  /* result sets of a prelude sent before the query, to drop */
} db_job_t;

typedef struct {
    db_job_t *head, *tail;
    size_t n;
} db_jobq_t;

typedef struct db_poll_s {
    uv_poll_t handle;
    struct db_conn_s *conn;    /* NULL once detached */
} db_poll_t;

typedef struct db_conn_s {
    db_t *db;
    int idx;
    PGconn *pg;
    db_poll_t *poll;
    int fd, events;
    conn_state_t state;
    uint64_t connect_started, next_attempt;
    int backoff_ms;
    db_jobq_t waiting;         /* not sent yet */
    db_jobq_t inflight;        /* sent; results read in this order */
    db_jobq_t txnq;            /* queries of the owning transaction, not sent yet */
    db_txn_t *txn;             /* the transaction that owns this connection */
    unsigned char prepared[DB_MAX_STMTS / 8];
} db_conn_t;

struct db_stmt_s {
    int id;
    char name[16];
    char *sql;
};

struct db_txn_s {
    db_t *db;
    db_conn_t *conn;
    int broken;                /* the connection broke: everything fails from now */
    int ended;                 /* COMMIT/ROLLBACK submitted */
    uint64_t last_activity;
};

struct db_s {
    uv_loop_t *loop;
    db_options_t opt;
    const char **keys, **vals; /* connection parameters for PQconnectStartParams */
    int nconn;
    db_conn_t *conns;
    db_stmt_t *stmts[DB_MAX_STMTS];
    int nstmts;
    uv_timer_t tick;
    int closing, health_next;
    db_jobq_t beginq;          /* BEGINs for any connection: the next idle one takes the oldest */
    size_t nwaiting;
    metrics_series_t *m_queries, *m_errors, *m_latency, *m_connects, *m_up, *m_waiting;
};

static void conn_pump(db_conn_t *c);
static void conn_reset(db_conn_t *c, int err, const char *why);

/* ---------------------------------------------------------------- queues and jobs */

static void q_push(db_jobq_t *q, db_job_t *j)
{
    j->next = NULL;
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
    q->n++;
}

static db_job_t *q_pop(db_jobq_t *q)
{
    db_job_t *j = q->head;
    if (j) {
        q->head = j->next;
        if (!q->head)
            q->tail = NULL;
        q->n--;
    }
    return j;
}

/* Makes a job with copies of the SQL and parameters (the caller's may live on its stack). */
static db_job_t *job_new(db_t *db, job_kind_t kind, const db_stmt_t *st, const char *sql, int nparams,
                         const char *const *params)
{
    db_job_t *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->kind = kind;
    j->stmt = st;
    j->nparams = nparams;
    j->started = metrics_now();
    j->deadline = uv_now(db->loop) + (uint64_t)db->opt.timeout_ms;
    int ok = 1;
    if (sql && !(j->sql = strdup(sql)))
        ok = 0;
    if (ok && nparams > 0) {
        j->params = calloc((size_t)nparams, sizeof *j->params);
        ok = j->params != NULL;
        for (int i = 0; ok && i < nparams; i++)
            if (params[i] && !(j->params[i] = strdup(params[i])))
                ok = 0;
    }
    if (!ok) {
        for (int i = 0; j->params && i < nparams; i++)
            free(j->params[i]);
        free(j->params);
        free(j->sql);
        free(j);
        return NULL;
    }
    return j;
}

static void job_free(db_job_t *j)
{
    for (int i = 0; j->params && i < j->nparams; i++)
        free(j->params[i]);
    free(j->params);
    free(j->sql);
    if (j->res)
        PQclear(j->res);
    free(j);
}

/* Delivers a job's outcome to its owner and frees it. A failed BEGIN also frees its transaction; the end of a
 * transaction releases its connection. */
static void job_finish(db_t *db, db_conn_t *c, db_job_t *j, int err)
{
    PGresult *res = j->res;
    if (!err && res) {
        ExecStatusType st = PQresultStatus(res);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
            err = KB_ERR_IO;
    } else if (!err && !res && j->kind != J_PREPARE) {
        err = KB_ERR_PROTO;
    }
    if (j->kind == J_QUERY || j->kind == J_BEGIN) {
        metrics_inc(db->m_queries);
        metrics_observe(db->m_latency, metrics_now() - j->started);
        if (err)
            metrics_inc(db->m_errors);
    }
    if (j->txn)
        j->txn->last_activity = uv_now(db->loop);
    switch (j->kind) {
    case J_QUERY:
        if (j->ends_txn) { /* COMMIT or ROLLBACK answered: the connection is free again */
            if (c && c->txn == j->txn)
                c->txn = NULL;
            free(j->txn);
        }
        if (j->cb)
            j->cb(err, err == 0 || err == KB_ERR_IO ? res : NULL, j->data);
        break;
    case J_BEGIN:
        if (err) {
            if (c && c->txn == j->txn)
                c->txn = NULL;
            free(j->txn);
            j->txn_cb(err, NULL, j->data);
        } else {
            j->txn_cb(0, j->txn, j->data);
        }
        break;
    case J_PREPARE:
        if (err && c && j->stmt)
            c->prepared[j->stmt->id / 8] &= (unsigned char)~(1u << (j->stmt->id % 8));
        if (err && err != KB_ERR_CONNRESET && err != KB_ERR_CANCELED && res)
            log_warn("db", "prepare of %s failed: %s", j->stmt->name, PQresultErrorMessage(res));
        break;
    case J_HEALTH:
        break;
    }
    job_free(j);
}

/* ---------------------------------------------------------------- polling */

static void on_poll(uv_poll_t *h, int status, int events);

static void on_poll_closed(uv_handle_t *h) { free(h->data); }

/* Stops and closes the poll handle of c (before libpq may close the socket under it). */
static void poll_detach(db_conn_t *c)
{
    if (!c->poll)
        return;
    uv_poll_stop(&c->poll->handle);
    c->poll->conn = NULL;
    uv_close((uv_handle_t *)&c->poll->handle, on_poll_closed);
    c->poll = NULL;
    c->fd = -1;
    c->events = 0;
}

/* Watches the connection's current socket for events; makes a new poll handle when the socket changed. */
static int poll_watch(db_conn_t *c, int events)
{
    int fd = PQsocket(c->pg);
    if (fd < 0)
        return KB_ERR_NOTCONN;
    if (c->poll && c->fd != fd)
        poll_detach(c);
    if (!c->poll) {
        c->poll = calloc(1, sizeof *c->poll);
        if (!c->poll)
            return KB_ERR_NOMEM;
        if (uv_poll_init(c->db->loop, &c->poll->handle, fd) != 0) {
            free(c->poll);
            c->poll = NULL;
            return KB_ERR_NOTCONN;
        }
        c->poll->handle.data = c->poll;
        c->poll->conn = c;
        c->fd = fd;
        c->events = 0;
    }
    if (events != c->events) {
        c->events = events;
        uv_poll_start(&c->poll->handle, events, on_poll);
    }
    return 0;
}

/* ---------------------------------------------------------------- connecting */

/* Advances the non-blocking connect. The poll is stopped around PQconnectPoll because libpq may close the socket
 * and open another one (then PQsocket changes). */
static void connect_step(db_conn_t *c)
{
    if (c->poll) {
        uv_poll_stop(&c->poll->handle);
        c->events = 0;
    }
    PostgresPollingStatusType ps = PQconnectPoll(c->pg);
    if (ps == PGRES_POLLING_FAILED) {
        conn_reset(c, KB_ERR_NOTCONN, PQerrorMessage(c->pg));
        return;
    }
    if (ps == PGRES_POLLING_OK) {
        if (PQsetnonblocking(c->pg, 1) != 0 || PQenterPipelineMode(c->pg) != 1) {
            conn_reset(c, KB_ERR_NOTCONN, "cannot enter pipeline mode");
            return;
        }
        memset(c->prepared, 0, sizeof c->prepared);
        c->state = C_UP;
        c->backoff_ms = 50;
        metrics_inc(c->db->m_connects);
        metrics_add(c->db->m_up, 1);
        log_info("db", "connection %d up (server %d)", c->idx, PQserverVersion(c->pg));
        poll_watch(c, UV_READABLE);
        conn_pump(c);
        return;
    }
    if (poll_watch(c, ps == PGRES_POLLING_READING ? UV_READABLE : UV_WRITABLE) != 0)
        conn_reset(c, KB_ERR_NOTCONN, "no socket");
}

/* What Postgres says outside a query's result (a NOTICE, a WARNING, the FATAL of a connection an immediate
 * shutdown ends): one line of the JSON log, never libpq's default raw line on stderr. */
static void on_notice(void *arg, const char *message)
{
    char line[512];
    size_t n = 0;
    for (const char *m = message; *m && n + 1 < sizeof line; m++)
        line[n++] = *m == '\n' || *m == '\r' || *m == '\t' ? ' ' : *m;
    while (n && line[n - 1] == ' ')
        n--;
    line[n] = 0;
    int quiet = !strncmp(line, "NOTICE:", 7) || !strncmp(line, "DEBUG:", 6) || !strncmp(line, "INFO:", 5) ||
                !strncmp(line, "LOG:", 4);
    log_printf(quiet ? LOG_INFO : LOG_WARN, "db", "postgres says: %s", line);
}

/* Starts a new connection attempt. */
static void connect_start(db_conn_t *c)
{
    db_t *db = c->db;
    c->pg = PQconnectStartParams(db->keys, db->vals, 0);
    if (c->pg)
        PQsetNoticeProcessor(c->pg, on_notice, NULL);
    c->connect_started = uv_now(db->loop);
    if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
        conn_reset(c, KB_ERR_NOTCONN, c->pg ? PQerrorMessage(c->pg) : "out of memory");
        return;
    }
    c->state = C_CONNECTING;
    connect_step(c);
}

/* Fails every job of a queue with err. */
static void fail_queue(db_t *db, db_conn_t *c, db_jobq_t *q, int err)
{
    db_job_t *j;
    while ((j = q_pop(q))) {
        if (q == &c->waiting || q == &c->txnq)
            db->nwaiting--;
        job_finish(db, c, j, err);
    }
}

/* Drops the connection: in-flight and queued jobs fail with err (the one past its deadline with KB_ERR_TIMEOUT), a
 * transaction on it is marked broken, and a new attempt is scheduled after the backoff. */
static void conn_reset(db_conn_t *c, int err, const char *why)
{
    db_t *db = c->db;
    if (c->state == C_UP) {
        metrics_add(db->m_up, -1);
        if (!db->closing)
            log_warn("db", "connection %d lost: %.200s", c->idx, why ? why : "");
    } else if (c->state == C_CONNECTING && !db->closing) {
        log_debug("db", "connection %d failed: %.200s", c->idx, why ? why : "");
    }
    poll_detach(c);
    if (c->pg)
        PQfinish(c->pg);
    c->pg = NULL;
    c->state = C_DOWN;
    c->next_attempt = uv_now(db->loop) + (uint64_t)c->backoff_ms;
    c->backoff_ms = c->backoff_ms * 2 > 1000 ? 1000 : c->backoff_ms * 2;
    if (c->txn)
        c->txn->broken = 1;
    c->txn = NULL;
    db_job_t *j = c->inflight.head;
    if (j && err == KB_ERR_TIMEOUT) {
        q_pop(&c->inflight);
        job_finish(db, c, j, KB_ERR_TIMEOUT);
        err = KB_ERR_CONNRESET;
    }
    int qerr = db->closing ? KB_ERR_CANCELED : err == KB_ERR_TIMEOUT ? KB_ERR_CONNRESET : err;
    fail_queue(db, c, &c->inflight, db->closing ? KB_ERR_CANCELED : KB_ERR_CONNRESET);
    fail_queue(db, c, &c->txnq, qerr == KB_ERR_NOTCONN ? KB_ERR_CONNRESET : qerr);
    fail_queue(db, c, &c->waiting, qerr == KB_ERR_NOTCONN ? KB_ERR_CONNRESET : qerr);
    metrics_set(db->m_waiting, (double)db->nwaiting);
}

/* ---------------------------------------------------------------- sending */

/* Sends one job into the pipeline followed by a sync; a registered statement not yet prepared on this connection
 * is prepared first, in the same pipeline. */
static int send_job(db_conn_t *c, db_job_t *j)
{
    db_t *db = c->db;
    PGconn *pg = c->pg;
    const char *const *params = (const char *const *)j->params;
    int ok;
    if (j->kind == J_BEGIN)
        ok = PQsendQueryParams(pg, "BEGIN", 0, NULL, NULL, NULL, NULL, 0);
    else if (j->kind == J_HEALTH)
        ok = PQsendQueryParams(pg, "SELECT 1", 0, NULL, NULL, NULL, NULL, 0);
    else if (j->stmt && db->opt.prepared) {
        int id = j->stmt->id;
        if (!(c->prepared[id / 8] & (1u << (id % 8)))) {
            db_job_t *p = job_new(db, J_PREPARE, j->stmt, NULL, 0, NULL);
            if (!p || !PQsendPrepare(pg, j->stmt->name, j->stmt->sql, 0, NULL) || !PQpipelineSync(pg)) {
                if (p)
                    job_free(p);
                return KB_ERR_CONNRESET;
            }
            q_push(&c->inflight, p);
            c->prepared[id / 8] |= (unsigned char)(1u << (id % 8));
        }
        ok = PQsendQueryPrepared(pg, j->stmt->name, j->nparams, params, NULL, NULL, 0);
    } else {
        /* behind a transaction pooler the session cannot carry synchronous_commit=off: the same implicit
         * transaction (everything before the sync) sets it for itself, one statement ahead of the query */
        if (db->opt.async_commit && !j->txn) {
            if (!PQsendQueryParams(pg, "SELECT set_config('synchronous_commit', 'off', true)", 0, NULL, NULL, NULL,
                                   NULL, 0))
                return KB_ERR_CONNRESET;
            j->skip = 1;
        }
        ok = PQsendQueryParams(pg, j->stmt ? j->stmt->sql : j->sql, j->nparams, NULL, params, NULL, NULL, 0);
    }
    if (!ok || !PQpipelineSync(pg))
        return KB_ERR_CONNRESET;
    q_push(&c->inflight, j);
    return 0;
}

/* Moves jobs from the queues into the pipeline while there is room. A transaction's BEGIN waits until the
 * pipeline is empty; while a transaction owns the connection only its own queries go. */
static void conn_pump(db_conn_t *c)
{
    db_t *db = c->db;
    int sent = 0;
    if (c->state == C_UP && !c->txn && c->inflight.n == 0 && c->waiting.n == 0 && db->beginq.head)
        q_push(&c->waiting, q_pop(&db->beginq)); /* stays counted in nwaiting */
    while (c->state == C_UP && c->inflight.n < (size_t)db->opt.pipeline) {
        db_jobq_t *q = c->txn ? &c->txnq : &c->waiting;
        db_job_t *j = q->head;
        if (!j)
            break;
        if (j->kind == J_BEGIN && !c->txn) {
            if (c->inflight.n > 0)
                break;
            c->txn = j->txn;
            j->txn->conn = c;
        }
        q_pop(q);
        db->nwaiting--;
        if (send_job(c, j) != 0) {
            db->nwaiting++;
            q_push(&c->inflight, j);
            conn_reset(c, KB_ERR_CONNRESET, PQerrorMessage(c->pg));
            return;
        }
        sent = 1;
    }
    metrics_set(db->m_waiting, (double)db->nwaiting);
    if (sent) {
        /* only send here: results are read by conn_io from the poll, so callbacks never nest deeply */
        int fl = PQflush(c->pg);
        if (fl < 0)
            conn_reset(c, KB_ERR_CONNRESET, PQerrorMessage(c->pg));
        else
            poll_watch(c, UV_READABLE | (fl == 1 ? UV_WRITABLE : 0));
    }
}

/* ---------------------------------------------------------------- reading */

/* Flushes what libpq buffered and reads what arrived, completing jobs in pipeline order: each query's results end
 * with a NULL, then comes the PGRES_PIPELINE_SYNC of its sync. */
static void conn_io(db_conn_t *c)
{
    db_t *db = c->db;
    int fl = PQflush(c->pg);
    if (fl < 0) {
        conn_reset(c, KB_ERR_CONNRESET, PQerrorMessage(c->pg));
        return;
    }
    if (!PQconsumeInput(c->pg)) {
        conn_reset(c, KB_ERR_CONNRESET, PQerrorMessage(c->pg));
        return;
    }
    db_job_t *j;
    while (c->state == C_UP && (j = c->inflight.head) && !PQisBusy(c->pg)) {
        PGresult *r = PQgetResult(c->pg);
        if (!j->got_null) {
            if (!r) {
                if (j->skip > 0)
                    j->skip--; /* the end of the prelude's results, not of the query's */
                else
                    j->got_null = 1;
                continue;
            }
            if (j->skip > 0) {
                PQclear(r);
                continue;
            }
            if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) { /* a query that produced no result at all */
                PQclear(r);
                q_pop(&c->inflight);
                job_finish(db, c, j, 0);
                continue;
            }
            if (!j->res)
                j->res = r;
            else
                PQclear(r);
            continue;
        }
        if (!r || PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
            if (r)
                PQclear(r);
            conn_reset(c, KB_ERR_CONNRESET, "pipeline out of step");
            return;
        }
        PQclear(r);
        q_pop(&c->inflight);
        job_finish(db, c, j, 0);
    }
    if (c->state != C_UP)
        return;
    if (PQstatus(c->pg) == CONNECTION_BAD) {
        conn_reset(c, KB_ERR_CONNRESET, PQerrorMessage(c->pg));
        return;
    }
    if (c->state == C_UP) {
        poll_watch(c, UV_READABLE | (fl == 1 ? UV_WRITABLE : 0));
        if (c->inflight.n < (size_t)db->opt.pipeline && (c->txn ? c->txnq.n : c->waiting.n + db->beginq.n))
            conn_pump(c);
    }
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    db_poll_t *p = h->data;
    db_conn_t *c = p->conn;
    if (!c)
        return;
    if (c->state == C_CONNECTING) {
        connect_step(c);
        return;
    }
    if (status < 0) {
        /* let libpq find out what happened to the socket */
        if (!PQconsumeInput(c->pg) || PQstatus(c->pg) == CONNECTION_BAD) {
            conn_reset(c, KB_ERR_CONNRESET, PQerrorMessage(c->pg));
            return;
        }
    }
    conn_io(c);
}

/* ---------------------------------------------------------------- the tick */

/* Every 100 ms: connect timeouts, query deadlines, idle transactions, reconnects and one health check a second. */
static void on_tick(uv_timer_t *t)
{
    db_t *db = t->data;
    uint64_t now = uv_now(db->loop);
    for (int i = 0; i < db->nconn; i++) {
        db_conn_t *c = &db->conns[i];
        if (c->state == C_CONNECTING && now - c->connect_started > (uint64_t)db->opt.timeout_ms)
            conn_reset(c, KB_ERR_NOTCONN, "connect timeout");
        else if (c->state == C_UP && c->inflight.head && now > c->inflight.head->deadline)
            conn_reset(c, KB_ERR_TIMEOUT, "query timeout");
        else if (c->state == C_UP && c->txn && !c->txn->ended && c->inflight.n == 0 &&
                 now - c->txn->last_activity > (uint64_t)db->opt.timeout_ms)
            conn_reset(c, KB_ERR_TIMEOUT, "transaction left open");
        /* queued jobs past their deadline fail without touching the connection */
        db_job_t *j;
        while (c->state == C_UP && !c->txn && (j = c->waiting.head) && now > j->deadline && j->kind != J_BEGIN) {
            q_pop(&c->waiting);
            db->nwaiting--;
            job_finish(db, c, j, KB_ERR_TIMEOUT);
        }
        if (c->state == C_DOWN && now >= c->next_attempt)
            connect_start(c);
    }
    db_job_t *b;
    while ((b = db->beginq.head) && now > b->deadline) {
        q_pop(&db->beginq);
        db->nwaiting--;
        job_finish(db, NULL, b, KB_ERR_TIMEOUT);
    }
    if (now / 1000 != (now - 100) / 1000 && db->nconn) {
        db_conn_t *c = &db->conns[db->health_next++ % db->nconn];
        if (c->state == C_UP && !c->txn && c->inflight.n == 0 && c->waiting.n == 0) {
            db_job_t *j = job_new(db, J_HEALTH, NULL, NULL, 0, NULL);
            if (j) {
                q_push(&c->waiting, j);
                db->nwaiting++;
                conn_pump(c);
            }
        }
    }
}

/* ---------------------------------------------------------------- public */

/* Adds hostaddr for a host name (resolved now, once) so that PQconnectPoll never blocks on a lookup. */
static int resolve_host(PQconninfoOption *opts, char **hostaddr, char *errbuf, size_t errlen)
{
    const char *host = NULL, *addr = NULL;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!strcmp(o->keyword, "host") && o->val && o->val[0])
            host = o->val;
        if (!strcmp(o->keyword, "hostaddr") && o->val && o->val[0])
            addr = o->val;
    }
    *hostaddr = NULL;
    if (addr) {
        *hostaddr = strdup(addr);
        return 0;
    }
    if (!host || host[0] == '/' || strchr(host, ','))
        return 0;
    unsigned char tmp[16];
    if (inet_pton(AF_INET, host, tmp) == 1 || inet_pton(AF_INET6, host, tmp) == 1) {
        *hostaddr = strdup(host);
        return 0;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    int rc = getaddrinfo(host, NULL, &hints, &ai);
    if (rc) {
        snprintf(errbuf, errlen, "cannot resolve the database host %s: %s", host, gai_strerror(rc));
        return KB_ERR_INVAL;
    }
    char buf[64];
    const void *a = ai->ai_family == AF_INET ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
                                             : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
    inet_ntop(ai->ai_family, a, buf, sizeof buf);
    freeaddrinfo(ai);
    *hostaddr = strdup(buf);
    return 0;
}

int db_new(uv_loop_t *loop, const db_options_t *opt, db_t **out, char *errbuf, size_t errlen)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(opt->conninfo, &perr);
    if (!opts) {
        snprintf(errbuf, errlen, "the database connection string is malformed: %s", perr ? perr : "out of memory");
        PQfreemem(perr);
        return KB_ERR_INVAL;
    }
    char *hostaddr = NULL;
    if (resolve_host(opts, &hostaddr, errbuf, errlen)) {
        PQconninfoFree(opts);
        return KB_ERR_INVAL;
    }
    db_t *db = calloc(1, sizeof *db);
    int n = 0;
    for (PQconninfoOption *o = opts; o->keyword; o++)
        n++;
    db->keys = calloc((size_t)n + 4, sizeof *db->keys);
    db->vals = calloc((size_t)n + 4, sizeof *db->vals);
    db->conns = calloc((size_t)opt->pool, sizeof *db->conns);
    if (!db->keys || !db->vals || !db->conns) {
        PQconninfoFree(opts);
        free(hostaddr);
        free(db->keys);
        free(db->vals);
        free(db->conns);
        free(db);
        return KB_ERR_NOMEM;
    }
    int k = 0, has_options = 0;
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (o->val && strcmp(o->keyword, "hostaddr") != 0) {
            db->keys[k] = strdup(o->keyword);
            if (opt->async_commit && opt->prepared && !strcmp(o->keyword, "options")) { /* the caller's, and ours */
                size_t n = strlen(o->val) + sizeof ASYNC_OPTIONS + 2;
                char *v = malloc(n);
                if (v)
                    snprintf(v, n, "%s %s", o->val, ASYNC_OPTIONS);
                db->vals[k++] = v;
                has_options = 1;
            } else {
                db->vals[k++] = strdup(o->val);
            }
        }
    if (opt->async_commit && opt->prepared && !has_options) { /* unprepared: per transaction (send_job) */
        db->keys[k] = strdup("options");
        db->vals[k++] = strdup(ASYNC_OPTIONS);
    }
    PQconninfoFree(opts);
    if (hostaddr) {
        db->keys[k] = strdup("hostaddr");
        db->vals[k++] = hostaddr;
    }
    db->keys[k] = strdup("fallback_application_name");
    db->vals[k++] = strdup("kabinetd");
    db->loop = loop;
    db->opt = *opt;
    db->opt.conninfo = NULL;
    db->nconn = opt->pool;
    for (int i = 0; i < db->nconn; i++) {
        db->conns[i].db = db;
        db->conns[i].idx = i;
        db->conns[i].fd = -1;
        db->conns[i].backoff_ms = 50;
    }
    uv_timer_init(loop, &db->tick);
    db->tick.data = db;
    db->m_queries = metrics_counter("kb_db_queries_total", "Postgres queries run", "");
    db->m_errors = metrics_counter("kb_db_errors_total", "Postgres queries that failed", "");
    db->m_latency = metrics_histogram("kb_db_latency_seconds", "Postgres query time, queueing included", "");
    db->m_connects = metrics_counter("kb_db_connects_total", "Postgres connections made", "");
    db->m_up = metrics_gauge("kb_db_connections_up", "Postgres connections up", "");
    db->m_waiting = metrics_gauge("kb_db_waiting", "Postgres queries queued, not yet sent", "");
    *out = db;
    return 0;
}

int db_start(db_t *db)
{
    for (int i = 0; i < db->nconn; i++)
        connect_start(&db->conns[i]);
    return uv_timer_start(&db->tick, on_tick, 100, 100);
}

/* Frees the pool when its timer has closed (poll handles free themselves). */
static void on_tick_closed(uv_handle_t *h)
{
    db_t *db = h->data;
    for (int i = 0; db->keys[i]; i++) {
        free((void *)db->keys[i]);
        free((void *)db->vals[i]);
    }
    free(db->keys);
    free(db->vals);
    for (int i = 0; i < db->nstmts; i++) {
        free(db->stmts[i]->sql);
        free(db->stmts[i]);
    }
    free(db->conns);
    free(db);
}

void db_close(db_t *db)
{
    db->closing = 1;
    for (int i = 0; i < db->nconn; i++)
        conn_reset(&db->conns[i], KB_ERR_CANCELED, "closing");
    db_job_t *j;
    while ((j = q_pop(&db->beginq))) {
        db->nwaiting--;
        job_finish(db, NULL, j, KB_ERR_CANCELED);
    }
    uv_close((uv_handle_t *)&db->tick, on_tick_closed);
}

int db_ready(const db_t *db)
{
    for (int i = 0; i < db->nconn; i++)
        if (db->conns[i].state == C_UP)
            return 1;
    return 0;
}

size_t db_pending(const db_t *db)
{
    size_t n = db->nwaiting;
    for (int i = 0; i < db->nconn; i++)
        n += db->conns[i].inflight.n;
    return n;
}

const db_stmt_t *db_prepare(db_t *db, const char *sql)
{
    for (int i = 0; i < db->nstmts; i++)
        if (strcmp(db->stmts[i]->sql, sql) == 0)
            return db->stmts[i];
    if (db->nstmts >= DB_MAX_STMTS)
        return NULL;
    db_stmt_t *st = calloc(1, sizeof *st);
    if (!st || !(st->sql = strdup(sql))) {
        free(st);
        return NULL;
    }
    st->id = db->nstmts;
    snprintf(st->name, sizeof st->name, "kb_%d", st->id);
    db->stmts[db->nstmts++] = st;
    return st;
}

/* Picks the connection for a job: by affinity (the first up connection from affinity % n on), else the up
 * connection with the least work. NULL when none is up. */
static db_conn_t *pick(db_t *db, uint32_t affinity)
{
    if (affinity) {
        for (int i = 0; i < db->nconn; i++) {
            db_conn_t *c = &db->conns[(affinity + (uint32_t)i) % (uint32_t)db->nconn];
            if (c->state == C_UP)
                return c;
        }
        return NULL;
    }
    db_conn_t *best = NULL;
    size_t best_load = 0;
    for (int i = 0; i < db->nconn; i++) {
        db_conn_t *c = &db->conns[i];
        /* an open transaction counts as a pipeline's worth of work: enough that plain queries go elsewhere while
         * other connections are lighter, but never so much that a free connection with a long queue of BEGINs
         * beats one that is merely in a transaction (its queue would grow while the others' stay empty) */
        size_t load = c->inflight.n + c->waiting.n + (c->txn ? (size_t)db->opt.pipeline : 0);
        if (c->state == C_UP && (!best || load < best_load)) {
            best = c;
            best_load = load;
        }
    }
    return best;
}

/* Queues a job on a connection chosen by affinity and starts sending. */
static int submit(db_t *db, uint32_t affinity, db_job_t *j)
{
    db_conn_t *c = pick(db, affinity);
    if (!c) {
        job_free(j);
        return KB_ERR_NOTCONN;
    }
    if (db->nwaiting >= DB_MAX_WAITING) {
        job_free(j);
        return KB_ERR_BUSY;
    }
    q_push(&c->waiting, j);
    db->nwaiting++;
    conn_pump(c);
    return 0;
}

int db_exec(db_t *db, uint32_t affinity, const db_stmt_t *st, int nparams, const char *const *params, db_cb cb,
            void *data)
{
    if (db->closing)
        return KB_ERR_CANCELED;
    db_job_t *j = job_new(db, J_QUERY, st, NULL, nparams, params);
    if (!j)
        return KB_ERR_NOMEM;
    j->cb = cb;
    j->data = data;
    return submit(db, affinity, j);
}

int db_sql(db_t *db, uint32_t affinity, const char *sql, int nparams, const char *const *params, db_cb cb, void *data)
{
    if (db->closing)
        return KB_ERR_CANCELED;
    db_job_t *j = job_new(db, J_QUERY, NULL, sql, nparams, params);
    if (!j)
        return KB_ERR_NOMEM;
    j->cb = cb;
    j->data = data;
    return submit(db, affinity, j);
}

int db_txn_begin(db_t *db, uint32_t affinity, db_txn_cb cb, void *data)
{
    if (db->closing)
        return KB_ERR_CANCELED;
    db_txn_t *txn = calloc(1, sizeof *txn);
    db_job_t *j = job_new(db, J_BEGIN, NULL, NULL, 0, NULL);
    if (!txn || !j) {
        free(txn);
        if (j)
            job_free(j);
        return KB_ERR_NOMEM;
    }
    txn->db = db;
    txn->last_activity = uv_now(db->loop);
    j->txn = txn;
    j->txn_cb = cb;
    j->data = data;
    if (affinity == 0) { /* any connection: one queue for the pool, so that no BEGIN waits behind a busy one */
        if (!pick(db, 0) || db->nwaiting >= DB_MAX_WAITING) {
            int rc = pick(db, 0) ? KB_ERR_BUSY : KB_ERR_NOTCONN;
            job_free(j);
            free(txn);
            return rc;
        }
        q_push(&db->beginq, j);
        db->nwaiting++;
        for (int i = 0; i < db->nconn && db->beginq.head; i++)
            conn_pump(&db->conns[i]);
        return 0;
    }
    int rc = submit(db, affinity, j);
    if (rc)
        free(txn);
    return rc;
}

/* Queues a job of a transaction on its connection. */
static int txn_submit(db_txn_t *txn, db_job_t *j)
{
    db_t *db = txn->db;
    db_conn_t *c = txn->conn;
    j->txn = txn;
    if (txn->broken || !c || c->txn != txn || c->state != C_UP) {
        job_free(j);
        return KB_ERR_CONNRESET;
    }
    q_push(&c->txnq, j);
    db->nwaiting++;
    conn_pump(c);
    return 0;
}

int db_txn_exec(db_txn_t *txn, const db_stmt_t *st, int nparams, const char *const *params, db_cb cb, void *data)
{
    if (txn->ended)
        return KB_ERR_INVAL;
    db_job_t *j = job_new(txn->db, J_QUERY, st, NULL, nparams, params);
    if (!j)
        return KB_ERR_NOMEM;
    j->cb = cb;
    j->data = data;
    return txn_submit(txn, j);
}

int db_txn_sql(db_txn_t *txn, const char *sql, int nparams, const char *const *params, db_cb cb, void *data)
{
    if (txn->ended)
        return KB_ERR_INVAL;
    db_job_t *j = job_new(txn->db, J_QUERY, NULL, sql, nparams, params);
    if (!j)
        return KB_ERR_NOMEM;
    j->cb = cb;
    j->data = data;
    return txn_submit(txn, j);
}

/* Reports a transaction end that cannot reach the server, later on the loop (never from inside the call). */
typedef struct {
    uv_timer_t timer;
    db_cb cb;
    void *data;
} db_late_t;

static void late_closed(uv_handle_t *h) { free(h->data); }

static void late_fire(uv_timer_t *t)
{
    db_late_t *l = t->data;
    if (l->cb)
        l->cb(KB_ERR_CONNRESET, NULL, l->data);
    uv_close((uv_handle_t *)&l->timer, late_closed);
}

/* Ends the transaction with sql ("COMMIT" or "ROLLBACK"). */
static int txn_end(db_txn_t *txn, const char *sql, db_cb cb, void *data)
{
    db_t *db = txn->db;
    if (txn->ended)
        return KB_ERR_INVAL;
    txn->ended = 1;
    db_conn_t *c = txn->conn;
    if (txn->broken || !c || c->txn != txn || c->state != C_UP) {
        db_late_t *l = calloc(1, sizeof *l);
        if (!l)
            return KB_ERR_NOMEM;
        free(txn);
        l->cb = cb;
        l->data = data;
        uv_timer_init(db->loop, &l->timer);
        l->timer.data = l;
        uv_timer_start(&l->timer, late_fire, 0, 0);
        return 0;
    }
    db_job_t *j = job_new(db, J_QUERY, NULL, sql, 0, NULL);
    if (!j)
        return KB_ERR_NOMEM;
    j->cb = cb;
    j->data = data;
    j->ends_txn = 1;
    return txn_submit(txn, j);
}

int db_txn_commit(db_txn_t *txn, db_cb cb, void *data) { return txn_end(txn, "COMMIT", cb, data); }
int db_txn_rollback(db_txn_t *txn, db_cb cb, void *data) { return txn_end(txn, "ROLLBACK", cb, data); }

const char *db_sqlstate(const PGresult *res)
{
    const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return s ? s : "";
}

char *db_id_array(const int64_t *ids, size_t n)
{
    size_t cap = n * 21 + 3, len = 1;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    out[0] = '{';
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%lld", i ? "," : "", (long long)ids[i]);
    snprintf(out + len, cap - len, "}");
    return out;
}
