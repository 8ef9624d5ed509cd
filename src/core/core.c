/* core.c — the registry of domain operations (see core.h), and the demo dialog's counter. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core.h"
#include "err.h"

#define CORE_MAX_OPS 128

static struct {
    const char *op;
    core_fn fn;
    int kind;              /* 0 a change, 1 a read that may lag (a replica's data), 2 a read of the primary */
} ops[CORE_MAX_OPS];
static int nops;
static db_t *replica;      /* KABINET_DATABASE_REPLICA_URL's pool, or NULL */

/* The registry's index of op, or -1. */
static int find(const char *op)
{
    for (int i = 0; op && i < nops; i++)
        if (!strcmp(ops[i].op, op))
            return i;
    return -1;
}

/* Adds or replaces an operation. */
static int add_op(const char *op, core_fn fn, int kind)
{
    int i = find(op);
    if (i < 0) {
        if (nops == CORE_MAX_OPS)
            return KB_ERR_BUSY;
        i = nops++;
        ops[i].op = op;
    }
    ops[i].fn = fn;
    ops[i].kind = kind;
    return 0;
}

int core_register(const char *op, core_fn fn) { return add_op(op, fn, 0); }

int core_register_read(const char *op, core_fn fn) { return add_op(op, fn, 1); }

int core_register_query(const char *op, core_fn fn) { return add_op(op, fn, 2); }

int core_read_only(const char *op)
{
    int i = find(op);
    return i < 0 ? 0 : ops[i].kind != 0;
}

core_fn core_find(const char *op)
{
    int i = find(op);
    return i < 0 ? NULL : ops[i].fn;
}

int core_lagging(const char *op)
{
    int i = find(op);
    return i < 0 ? 0 : ops[i].kind == 1;
}

void core_set_replica(db_t *db) { replica = db; }

db_t *core_reader(db_t *primary) { return replica && db_ready(replica) ? replica : primary; }

db_t *core_db_for(const char *op, db_t *primary) { return core_lagging(op) ? core_reader(primary) : primary; }

cJSON *core_status(const char *st)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "status", st);
    return r;
}

/* ---------------------------------------------------------------- operations written as SQL */

typedef struct {
    core_cb cb;
    void *data;
    int left;                    /* statements still to answer */
    int err;                     /* the first error */
    cJSON *result;
} json_call_t;

static void json_step(int err, PGresult *res, void *data)
{
    json_call_t *c = data;
    /* data the database refuses (classes 22, 23) is a malformed call, which no retry cures */
    if (err == KB_ERR_IO && res && (!strncmp(db_sqlstate(res), "22", 2) || !strncmp(db_sqlstate(res), "23", 2)))
        err = KB_ERR_INVAL;
    if (err && !c->err)
        c->err = err;
    if (--c->left > 0)
        return;
    if (!c->err) {
        if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0))
            c->result = core_status("not_found");
        else if (!(c->result = cJSON_Parse(PQgetvalue(res, 0, 0))))
            c->err = KB_ERR_PROTO;
    }
    c->cb(c->err, c->err ? NULL : c->result, c->data);
    free(c);
}

/* The highest $n that sql names (statements take the parameters as a prefix). */
static int highest_param(const char *sql)
{
    int max = 0;
    for (const char *p = strchr(sql, '$'); p; p = strchr(p + 1, '$'))
        if (p[1] >= '1' && p[1] <= '9') {
            int n = atoi(p + 1);
            if (n > max)
                max = n;
        }
    return max;
}

int core_json(db_t *db, db_txn_t *txn, int nsql, const char *const *sqls, int nparams, const char *const *params,
              core_cb cb, void *data)
{
    json_call_t *c = calloc(1, sizeof *c);
    if (!c)
        return KB_ERR_NOMEM;
    c->cb = cb;
    c->data = data;
    c->left = nsql;
    for (int i = 0; i < nsql; i++) {
        const db_stmt_t *st = db_prepare(db, sqls[i]);
        int n = highest_param(sqls[i]);
        int rc = !st ? KB_ERR_NOMEM : n > nparams ? KB_ERR_INVAL
                 : txn ? db_txn_exec(txn, st, n, params, json_step, c)
                 : nsql == 1 ? db_exec(db, 0, st, n, params, json_step, c) : KB_ERR_INVAL;
        if (rc) {
            if (i == 0) {
                free(c);
                return rc;
            }
            /* the ones already queued answer later; make the count end with them */
            c->err = rc;
            c->left -= nsql - i;
            return 0;
        }
    }
    return 0;
}

int core_arg_int(const cJSON *args, const char *name, char *buf, size_t size)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, name);
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(long long)v->valuedouble || v->valuedouble > 9.0e15 ||
        v->valuedouble < -9.0e15)
        return KB_ERR_INVAL;
    snprintf(buf, size, "%lld", (long long)v->valuedouble);
    return 0;
}

const char *core_arg_str(const cJSON *args, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Whether s is a real calendar date written YYYY-MM-DD. */
static int is_date(const char *s)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    for (int i = 0; i < 10; i++)
        if (i == 4 || i == 7 ? s[i] != '-' : (s[i] < '0' || s[i] > '9'))
            return 0;
    if (s[10])
        return 0;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m >= 1 && m <= 12 && d >= 1 && d <= (m == 2 && !leap ? 28 : mdays[m - 1]);
}

int core_sql_op(const core_sql_op_t *op, db_t *db, db_txn_t *txn, const char *conv, const cJSON *args, core_cb cb,
                void *data)
{
    char bufs[12][32];
    const char *params[12];
    int n = 0, nsql = 0;
    for (; n < 12 && op->params[n].name; n++) {
        const core_param_t *p = &op->params[n];
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, p->name);
        params[n] = NULL;
        if (!strcmp(p->name, "$conv")) {
            params[n] = conv;
            continue;
        }
        if (!strcmp(p->name, "$key")) { /* the server's key (KABINET_CODE_KEY): for an HMAC that SQL keeps */
            params[n] = core_auth_key();
            continue;
        }
        if (!v || cJSON_IsNull(v)) {
            if (p->required)
                return KB_ERR_INVAL;
            continue;
        }
        switch (p->type) {
        case 'i':
            if (core_arg_int(args, p->name, bufs[n], sizeof bufs[n]))
                return KB_ERR_INVAL;
            params[n] = bufs[n];
            break;
        case 'b':
            if (!cJSON_IsBool(v))
                return KB_ERR_INVAL;
            params[n] = cJSON_IsTrue(v) ? "true" : "false";
            break;
        case 'd':
            if (!cJSON_IsString(v) || !is_date(v->valuestring))
                return KB_ERR_INVAL;
            params[n] = v->valuestring;
            break;
        default:
            if (!cJSON_IsString(v))
                return KB_ERR_INVAL;
            params[n] = v->valuestring;
        }
    }
    while (nsql < 6 && op->sql[nsql])
        nsql++;
    return core_json(db, txn, nsql, op->sql, n, params, cb, data);
}

void core_register_all(void)
{
    core_demo_register();
    core_readings_register();
    core_accounts_register();
    core_links_register();
    core_money_register();
    core_payments_register();
    core_auth_register();
    core_customer_register();
    core_privacy_register();
    core_appeals_register();
}

/* ---------------------------------------------------------------- demo.counter_add */

typedef struct {
    core_cb cb;
    void *data;
} demo_call_t;

static void counter_added(int err, PGresult *res, void *data)
{
    demo_call_t *c = data;
    cJSON *result = NULL;
    if (!err) {
        result = cJSON_CreateObject();
        cJSON_AddNumberToObject(result, "n", atof(PQgetvalue(res, 0, 0)));
    }
    c->cb(err, result, c->data);
    free(c);
}

/* Adds args.by to the conversation's counter and appends args.tag to its history; answers {"n": new value}. */
static int demo_counter_add(db_t *db, db_txn_t *txn, const char *conv, const cJSON *args, core_cb cb, void *data)
{
    const cJSON *by = cJSON_GetObjectItemCaseSensitive(args, "by");
    const cJSON *tag = cJSON_GetObjectItemCaseSensitive(args, "tag");
    char bybuf[32], tagbuf[32];
    snprintf(bybuf, sizeof bybuf, "%lld", cJSON_IsNumber(by) ? (long long)by->valuedouble : 1LL);
    snprintf(tagbuf, sizeof tagbuf, "%lld", cJSON_IsString(tag) ? atoll(tag->valuestring) : 0LL);
    demo_call_t *c = malloc(sizeof *c);
    if (!c)
        return KB_ERR_NOMEM;
    c->cb = cb;
    c->data = data;
    const char *params[] = {conv, bybuf, tagbuf};
    const db_stmt_t *st = db_prepare(db,
        "INSERT INTO kb_demo_counter (conv, n, history) VALUES ($1, $2::bigint, ARRAY[$3::bigint]) "
        "ON CONFLICT (conv) DO UPDATE SET n = kb_demo_counter.n + $2::bigint, "
        "history = kb_demo_counter.history || $3::bigint RETURNING n");
    int rc = db_txn_exec(txn, st, 3, params, counter_added, c);
    if (rc)
        free(c);
    return rc;
}

void core_demo_register(void) { core_register("demo.counter_add", demo_counter_add); }

/* ---------------------------------------------------------------- an operation in its own transaction */

typedef struct {
    db_t *db;
    db_txn_t *txn;
    core_fn fn;
    char conv[160];
    cJSON *args, *result;
    core_cb cb;
    void *data;
} core_run_t;

static void run_finish(core_run_t *r, int err)
{
    if (err) {
        cJSON_Delete(r->result);
        r->result = NULL;
    }
    r->cb(err, r->result, r->data);
    cJSON_Delete(r->args);
    free(r);
}

static void run_rolled_back(int err, PGresult *res, void *data) {}

static void run_committed(int err, PGresult *res, void *data) { run_finish(data, err); }

static void run_done(int err, cJSON *result, void *data)
{
    core_run_t *r = data;
    r->result = result;
    if (err) {
        db_txn_rollback(r->txn, run_rolled_back, NULL);
        run_finish(r, err);
    } else if (db_txn_commit(r->txn, run_committed, r) != 0) {
        run_finish(r, KB_ERR_NOTCONN);
    }
}

static void run_begun(int err, db_txn_t *txn, void *data)
{
    core_run_t *r = data;
    if (err) {
        run_finish(r, err);
        return;
    }
    r->txn = txn;
    int rc = r->fn(r->db, txn, r->conv, r->args, run_done, r);
    if (rc) {
        db_txn_rollback(txn, run_rolled_back, NULL);
        run_finish(r, rc);
    }
}

int core_run(db_t *db, const char *op, const char *conv, const cJSON *args, core_cb cb, void *data)
{
    core_fn fn = core_find(op);
    if (!fn)
        return KB_ERR_INVAL;
    db_t *rdb = core_db_for(op, db);
    if (rdb != db) /* one read statement on the replica, no transaction */
        return fn(rdb, NULL, conv, args, cb, data);
    core_run_t *r = calloc(1, sizeof *r);
    if (!r)
        return KB_ERR_NOMEM;
    r->db = db;
    r->fn = fn;
    snprintf(r->conv, sizeof r->conv, "%s", conv);
    r->args = cJSON_Duplicate(args, 1);
    r->cb = cb;
    r->data = data;
    int rc = db_txn_begin(db, 0, run_begun, r);
    if (rc) {
        cJSON_Delete(r->args);
        free(r);
    }
    return rc;
}
