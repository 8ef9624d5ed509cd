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
} ops[CORE_MAX_OPS];
static int nops;

int core_register(const char *op, core_fn fn)
{
    for (int i = 0; i < nops; i++)
        if (!strcmp(ops[i].op, op)) {
            ops[i].fn = fn;
            return 0;
        }
    if (nops == CORE_MAX_OPS)
        return KB_ERR_BUSY;
    ops[nops].op = op;
    ops[nops++].fn = fn;
    return 0;
}

core_fn core_find(const char *op)
{
    for (int i = 0; op && i < nops; i++)
        if (!strcmp(ops[i].op, op))
            return ops[i].fn;
    return NULL;
}

cJSON *core_status(const char *st)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "status", st);
    return r;
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
