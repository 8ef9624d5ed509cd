/* engine_txn.c — a job's transition (see engine.h): the dialog's step for the queue's head, and, for a step that
 * changes domain data, its one Postgres transaction keyed by (conversation, event) in kb_applied — the core
 * operations, the outbox rows of its replies, the resulting state. A step that changes nothing in the domain (its
 * effects are replies and timeouts, to a channel that takes direct deliveries) skips all of it: engine_out.c
 * commits it to Redis alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core.h"
#include "crash.h"
#include "engine_int.h"
#include "err.h"
#include "log.h"

static void fx_next(job_t *j);
static void on_begin(int err, db_txn_t *txn, void *data);

/* ---------------------------------------------------------------- commit */

/* The state as JSON for kb_applied. */
static char *state_json(job_t *j)
{
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "dialog", j->dlg->name);
    cJSON_AddStringToObject(s, "step", j->res.step);
    cJSON_AddItemToObject(s, "keep", cJSON_Duplicate(j->res.keep, 1));
    cJSON_AddItemToObject(s, "data", cJSON_Duplicate(j->res.data, 1));
    char *out = cJSON_PrintUnformatted(s);
    cJSON_Delete(s);
    return out;
}

static void on_commit(int err, PGresult *res, void *data)
{
    job_t *j = data;
    j->txn = NULL;
    if (err || strcmp(PQcmdStatus(res), "COMMIT") != 0) {
        engine__job_retry(j, "commit failed");
        return;
    }
    crash_point("after_commit");
    if (j->nreplies && j->e->hook) { /* wake the senders of every channel this transition wrote to */
        if (!j->held) /* replies the job delivers itself need no claim */
            j->e->hook(j->e->hook_ctx, j->channel);
        cJSON *fx;
        cJSON_ArrayForEach(fx, j->res.effects)
        {
            const cJSON *type = cJSON_GetObjectItemCaseSensitive(fx, "type"), *ch = cJSON_GetObjectItemCaseSensitive(fx, "channel");
            if (cJSON_IsString(type) && !strcmp(type->valuestring, "send") && cJSON_IsString(ch) &&
                strcmp(ch->valuestring, j->channel))
                j->e->hook(j->e->hook_ctx, ch->valuestring);
            else if (cJSON_IsString(type) && !strcmp(type->valuestring, "event"))
                j->e->hook(j->e->hook_ctx, "relay");
        }
    }
    engine__commit(j);
}

static void on_rolled_back(int err, PGresult *res, void *data) {}

/* Fails the transaction: roll back and retry later. A failure that a retry cannot cure (the data is refused: SQL
 * classes 22 and 23, or an unknown core operation) would block the conversation forever; instead the event is
 * settled with an apology and no change, once. If even that fails the event is dropped, loudly. */
static void txn_fail_as(job_t *j, const char *why, int permanent)
{
    if (j->txn)
        db_txn_rollback(j->txn, on_rolled_back, NULL);
    j->txn = NULL;
    cJSON_Delete(j->held);
    j->held = NULL;
    if (!permanent) {
        engine__job_retry(j, why);
        return;
    }
    if (j->failed_once) {
        log_error("engine", "dropping an event that cannot be handled: %s", why);
        j->ack = j->ev.id;
        engine__next(j);
        return;
    }
    log_error("engine", "event cannot be handled (%s): answering with an apology, changing nothing", why);
    j->failed_once = 1;
    dlg_state_t st = {j->dlg->name, j->step, j->keep, j->data, j->version};
    dlg_result_free(&j->res);
    dlg_result_init(&j->res, &st);
    dlg_reply(&j->res, "common.error", NULL, NULL);
    j->no_change = 1;
    j->fx = j->nreplies = 0;
    if (db_txn_begin(j->e->db, engine__fnv1a(j->conv), on_begin, j) != 0)
        engine__job_retry(j, "postgres unavailable");
}

static void txn_fail(job_t *j, const char *why) { txn_fail_as(j, why, 0); }

/* SQL error classes that a retry cannot cure: data exceptions and integrity violations. */
static int permanent_sqlstate(const char *s) { return !strncmp(s, "22", 2) || !strncmp(s, "23", 2); }

static void on_stmt(int err, PGresult *res, void *data)
{
    job_t *j = data;
    if (err) {
        char why[200];
        snprintf(why, sizeof why, "transaction statement failed (%s)", db_sqlstate(res));
        txn_fail_as(j, why, err == KB_ERR_IO && permanent_sqlstate(db_sqlstate(res)));
        return;
    }
    fx_next(j);
}

/* ---------------------------------------------------------------- effects */

/* The core answered: the dialog takes the result as an event, and its effects join the ones still to run. */
static void take_result(job_t *j, cJSON *result)
{
    dlg_state_t st = {j->dlg->name, j->res.step, j->res.keep, j->res.data, j->version};
    dlg_event_t ev;
    event_view(&j->ev, &ev);
    ev.kind = EV_CORE_RESULT;
    ev.payload = result;
    dlg_result_t more;
    if (j->dlg->step(&st, &ev, &more) == 0) {
        snprintf(j->res.step, sizeof j->res.step, "%s", more.step);
        cJSON_Delete(j->res.keep);
        cJSON_Delete(j->res.data);
        j->res.keep = more.keep;
        j->res.data = more.data;
        more.keep = more.data = NULL;
        cJSON *fx;
        while ((fx = cJSON_DetachItemFromArray(more.effects, 0)))
            cJSON_AddItemToArray(j->res.effects, fx);
        dlg_result_free(&more);
    }
    cJSON_Delete(result);
}

static void on_core(int err, cJSON *result, void *data)
{
    job_t *j = data;
    if (err) {
        cJSON_Delete(result);
        txn_fail_as(j, "core operation failed", err == KB_ERR_INVAL);
        return;
    }
    take_result(j, result);
    fx_next(j);
}

/* A reply row the job delivers itself was put: its id joins the held list (the commit script puts it on the
 * conversation's reply list). */
typedef struct {
    job_t *j;
    int seq;
    cJSON *payload;
} held_put_t;

static void on_held_put(int err, PGresult *res, void *data)
{
    held_put_t *h = data;
    job_t *j = h->j;
    if (!err && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) && j->held) {
        cJSON *row = cJSON_CreateObject();
        cJSON_AddNumberToObject(row, "id", (double)atoll(PQgetvalue(res, 0, 0)));
        cJSON_AddNumberToObject(row, "seq", h->seq);
        cJSON_AddItemToObject(row, "payload", h->payload);
        cJSON_AddItemToArray(j->held, row);
        h->payload = NULL;
    }
    cJSON_Delete(h->payload);
    free(h);
    on_stmt(err, res, j);
}

/* Writes one outbox row for an effect (its fields less "type", plus one extra field, whose item passes to us)
 * inside the transaction. A reply to this conversation on a channel that takes direct deliveries is put with a
 * hold: the job hands it to the channel after the commit, in order with the conversation's other replies. */
static void queue_outbox_row(job_t *j, const cJSON *fx, const char *to, const char *channel, int lane,
                             const char *event_key, const char *extra_name, cJSON *extra)
{
    cJSON *payload = engine__effect_payload(fx, extra_name, extra);
    char *p = cJSON_PrintUnformatted(payload);
    int own = !strcmp(to, j->conv) && lane == 0 && engine__sender(j->e, channel) != NULL;
    outbox_put_t m = {to, channel, lane, event_key, j->nreplies++, p, own ? ENGINE_HOLD_S : 0};
    int rc;
    if (own) {
        held_put_t *h = malloc(sizeof *h);
        if (!j->held)
            j->held = cJSON_CreateArray();
        if (h) {
            h->j = j;
            h->seq = m.seq;
            h->payload = payload;
            payload = NULL;
        }
        rc = h ? outbox_put(j->e->db, j->txn, &m, on_held_put, h) : KB_ERR_NOMEM;
        if (rc && h) {
            cJSON_Delete(h->payload);
            free(h);
        }
    } else {
        rc = outbox_put(j->e->db, j->txn, &m, on_stmt, j);
    }
    cJSON_Delete(payload);
    free(p);
    if (rc)
        txn_fail(j, "cannot queue outbox row");
}

/* Carries out the next effect inside the transaction; after the last, records the state and commits. */
static void fx_next(job_t *j)
{
    engine_t *e = j->e;
    cJSON *fx;
    while ((fx = cJSON_GetArrayItem(j->res.effects, j->fx)) && j->fx < ENGINE_MAX_EFFECTS) {
        j->fx++;
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(fx, "type");
        const char *t = cJSON_IsString(type) ? type->valuestring : "";
        if (!strcmp(t, "core")) {
            const cJSON *op = cJSON_GetObjectItemCaseSensitive(fx, "op");
            const char *name = cJSON_IsString(op) ? op->valuestring : NULL;
            core_fn fn = core_find(name);
            /* a read that may lag goes to the replica when there is one, outside this transaction */
            db_t *db = core_db_for(name, e->db);
            if (!fn)
                txn_fail_as(j, "unknown core operation", 1);
            else if (fn(db, db == e->db ? j->txn : NULL, j->conv, cJSON_GetObjectItemCaseSensitive(fx, "args"), on_core,
                        j) != 0)
                txn_fail(j, "core operation could not start");
            return;
        }
        if (!strcmp(t, "reply")) { /* to this conversation, keyed by this event */
            /* the version its buttons belong to */
            cJSON *ver = cJSON_CreateNumber((double)engine__reply_version(j));
            queue_outbox_row(j, fx, j->conv, j->channel, 0, j->ev.id, "ver", ver);
            return;
        }
        if (!strcmp(t, "send")) { /* to another conversation or channel (a code by SMS, an escalation) */
            const cJSON *ch = cJSON_GetObjectItemCaseSensitive(fx, "channel"), *to = cJSON_GetObjectItemCaseSensitive(fx, "to"),
                        *lane = cJSON_GetObjectItemCaseSensitive(fx, "lane");
            if (!cJSON_IsString(ch) || !cJSON_IsString(to) || !event_conv_valid(to->valuestring)) {
                txn_fail_as(j, "a send effect without a valid channel and recipient", 1);
                return;
            }
            /* keyed by the sending conversation's event, so a re-run cannot send twice */
            char key[320];
            snprintf(key, sizeof key, "%s/%s", j->conv, j->ev.id);
            queue_outbox_row(j, fx, to->valuestring, ch->valuestring, cJSON_IsNumber(lane) && lane->valueint == 1, key,
                             "from", cJSON_CreateString(j->conv));
            return;
        }
        if (!strcmp(t, "event")) { /* an event for another conversation, through the relay (relay.h) */
            const cJSON *to = cJSON_GetObjectItemCaseSensitive(fx, "to");
            if (!cJSON_IsString(to) || !event_conv_valid(to->valuestring)) {
                txn_fail_as(j, "an event effect without a valid recipient", 1);
                return;
            }
            char key[320];
            snprintf(key, sizeof key, "%s/%s", j->conv, j->ev.id);
            queue_outbox_row(j, fx, to->valuestring, "relay", 0, key, "from", cJSON_CreateString(j->conv));
            return;
        }
        if (!strcmp(t, "audit")) {
            const cJSON *what = cJSON_GetObjectItemCaseSensitive(fx, "what");
            char *details = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(fx, "details"));
            const char *params[] = {j->conv, j->ev.id, cJSON_IsString(what) ? what->valuestring : "?",
                                    details ? details : "{}"};
            int rc = db_txn_exec(j->txn, e->q_audit_ins, 4, params, on_stmt, j);
            free(details);
            if (rc)
                txn_fail(j, "cannot queue audit row");
            return;
        }
        /* "timeout" is armed after the commit to Redis */
    }
    /* all effects done: the state this event produced, then COMMIT (both pipelined) */
    char *st = state_json(j), ver[24];
    snprintf(ver, sizeof ver, "%lld", (long long)(j->no_change ? j->version : j->version + 1));
    const char *params[] = {j->conv, j->ev.id, ver, st};
    int rc = 0;
    if (j->ev.kind != EV_TIMEOUT && j->ev.sender && j->ev.sender[0] && j->ev.channel) {
        /* whoever writes to us can be reached again (a blocked bot was unblocked, a number works again) */
        const char *who[] = {j->ev.channel, j->ev.sender};
        rc = db_txn_exec(j->txn, e->q_reachable, 2, who, NULL, NULL);
    }
    if (!rc)
        rc = db_txn_exec(j->txn, e->q_applied_set, 4, params, NULL, NULL);
    free(st);
    if (rc || db_txn_commit(j->txn, on_commit, j) != 0)
        txn_fail(j, "cannot commit");
}

/* ---------------------------------------------------------------- a transition committed before */

/* The rows of this event's own replies that the job delivers, as the domain step put them (a re-run after a
 * crash between the Postgres commit and Redis). */
static void on_held_rows(int err, PGresult *res, void *data)
{
    job_t *j = data;
    if (err) {
        engine__job_retry(j, "stored replies not readable");
        return;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        cJSON *row = cJSON_CreateObject(), *payload = cJSON_Parse(PQgetvalue(res, i, 2));
        cJSON_AddNumberToObject(row, "id", (double)atoll(PQgetvalue(res, i, 0)));
        cJSON_AddNumberToObject(row, "seq", atoi(PQgetvalue(res, i, 1)));
        cJSON_AddItemToObject(row, "payload", payload ? payload : cJSON_CreateObject());
        cJSON_AddItemToArray(j->held, row);
    }
    engine__commit(j);
}

/* The transition was committed before (a crash came between the commit and Redis): take its stored state. */
static void on_applied_get(int err, PGresult *res, void *data)
{
    job_t *j = data;
    if (err || PQntuples(res) != 1) {
        engine__job_retry(j, "stored transition not readable");
        return;
    }
    cJSON *s = cJSON_Parse(PQgetvalue(res, 0, 1));
    const cJSON *step = cJSON_GetObjectItemCaseSensitive(s, "step");
    snprintf(j->res.step, sizeof j->res.step, "%s", cJSON_IsString(step) ? step->valuestring : "");
    cJSON_Delete(j->res.keep);
    cJSON_Delete(j->res.data);
    j->res.keep = cJSON_DetachItemFromObject(s, "keep");
    j->res.data = cJSON_DetachItemFromObject(s, "data");
    if (!j->res.keep)
        j->res.keep = cJSON_CreateObject();
    if (!j->res.data)
        j->res.data = cJSON_CreateObject();
    cJSON_Delete(s);
    /* its timeouts were armed, if at all, by the run that committed; its replies are in the outbox */
    cJSON_Delete(j->res.effects);
    j->res.effects = cJSON_CreateArray();
    int64_t stored_version = atoll(PQgetvalue(res, 0, 0));
    if (stored_version == j->version)
        j->no_change = 1;
    cJSON_Delete(j->held);
    j->held = NULL;
    if (!engine__sender(j->e, j->channel)) {
        engine__commit(j);
        return;
    }
    j->held = cJSON_CreateArray();
    const char *params[] = {j->conv, j->ev.id, j->channel};
    if (db_exec(j->e->db, engine__fnv1a(j->conv), j->e->q_held, 3, params, on_held_rows, j) != 0)
        engine__job_retry(j, "postgres unavailable");
}

void engine__applied_again(job_t *j)
{
    const char *params[] = {j->conv, j->ev.id};
    if (db_exec(j->e->db, engine__fnv1a(j->conv), j->e->q_applied_get, 2, params, on_applied_get, j) != 0)
        engine__job_retry(j, "postgres unavailable");
}

static void on_applied_ins(int err, PGresult *res, void *data)
{
    job_t *j = data;
    if (err) {
        txn_fail(j, "cannot record the event");
        return;
    }
    if (PQntuples(res) == 0) { /* already committed once: never again */
        db_txn_rollback(j->txn, on_rolled_back, NULL);
        j->txn = NULL;
        engine__applied_again(j);
        return;
    }
    fx_next(j);
}

static void on_begin(int err, db_txn_t *txn, void *data)
{
    job_t *j = data;
    if (err) {
        engine__job_retry(j, "postgres unavailable for the transaction");
        return;
    }
    j->txn = txn;
    char started[24], ver[24];
    snprintf(started, sizeof started, "%.3f", (double)j->started_ms / 1000.0);
    snprintf(ver, sizeof ver, "%lld", (long long)j->version);
    /* what the customer said, for the card staff see: a code typed where one was asked is never kept */
    char said[320];
    const char *what = engine__said_text(j, said, sizeof said);
    const char *params[] = {j->conv, j->ev.id, ver, j->e->owner, started, what};
    if (db_txn_exec(txn, j->e->q_applied_ins, 6, params, on_applied_ins, j) != 0)
        txn_fail(j, "cannot record the event");
}

/* ---------------------------------------------------------------- the transition */

/* 1 when an effect changes nothing in the domain: a reply to this conversation, a step timeout, a read. */
static int effect_reads(const cJSON *fx)
{
    const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(fx, "type"));
    if (!t)
        return 0;
    if (!strcmp(t, "reply") || !strcmp(t, "timeout"))
        return 1;
    return !strcmp(t, "core") && core_read_only(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(fx, "op")));
}

/* 1 while the step may stay off Postgres's transactions: every effect so far only reads or answers, on a channel
 * that takes direct deliveries, for a chat that is not marked unreachable. */
static int fast_step(job_t *j)
{
    if (j->unreachable || j->failed_once || !engine__sender(j->e, j->channel))
        return 0;
    const cJSON *fx;
    int n = 0;
    cJSON_ArrayForEach(fx, j->res.effects)
    {
        if (!effect_reads(fx))
            return 0;
        n++;
    }
    return n <= ENGINE_MAX_EFFECTS;
}

/* Runs the dialog for the current event (the step, a stale button's answer, or "not understood") into j->res. */
static void run_dialog(job_t *j)
{
    dlg_state_t st = {j->dlg->name, j->step, j->keep, j->data, j->version};
    dlg_event_t ev;
    event_view(&j->ev, &ev);
    j->no_change = 0;
    j->fx = 0;
    /* a stale button: say so, show the current screen (version 0: a push's button, made for no screen) */
    if (ev.kind == EV_BUTTON && ev.version != j->version && ev.version != 0) {
        metrics_inc(j->e->m_stale);
        dlg_result_init(&j->res, &st);
        dlg_reply(&j->res, "common.stale_menu", NULL, NULL);
        dlg_result_t cur;
        if (j->dlg->render(&st, &cur) == 0) {
            cJSON *fx;
            while ((fx = cJSON_DetachItemFromArray(cur.effects, 0)))
                cJSON_AddItemToArray(j->res.effects, fx);
            dlg_result_free(&cur);
        }
        j->no_change = 1;
    } else if (j->dlg->step(&st, &ev, &j->res) != 0) {
        dlg_result_free(&j->res);
        dlg_result_init(&j->res, &st);
        dlg_reply(&j->res, "common.not_understood", NULL, NULL);
        j->no_change = 1;
    }
}

/* The domain path: the dialog again from the state read (it is pure, and what the fast path read is dropped),
 * inside one transaction. */
static void go_slow(job_t *j)
{
    dlg_result_free(&j->res);
    run_dialog(j);
    if (db_txn_begin(j->e->db, engine__fnv1a(j->conv), on_begin, j) != 0)
        engine__job_retry(j, "postgres unavailable");
}

static void fast_next(job_t *j);

static void on_fast_read(int err, cJSON *result, void *data)
{
    job_t *j = data;
    if (err) { /* the transaction's path knows how to answer a failure */
        cJSON_Delete(result);
        go_slow(j);
        return;
    }
    take_result(j, result);
    if (!fast_step(j)) { /* the answer led to a change: the step is a domain step after all */
        go_slow(j);
        return;
    }
    fast_next(j);
}

/* The fast path's reads, one after another (each one statement, on the primary or, for a read that may lag, the
 * replica), then the commit to Redis. */
static void fast_next(job_t *j)
{
    cJSON *fx;
    while ((fx = cJSON_GetArrayItem(j->res.effects, j->fx)) && j->fx < ENGINE_MAX_EFFECTS) {
        j->fx++;
        const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(fx, "type"));
        if (!t || strcmp(t, "core"))
            continue;
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(fx, "op"));
        core_fn fn = core_find(name);
        if (!fn || fn(core_db_for(name, j->e->db), NULL, j->conv, cJSON_GetObjectItemCaseSensitive(fx, "args"),
                      on_fast_read, j) != 0)
            go_slow(j);
        return;
    }
    engine__commit(j);
}

/* Runs the dialog for the current event, then commits it: to Redis alone when it changes nothing in the domain
 * (its reads done as plain statements), else in its transaction first. */
void engine__transition(job_t *j)
{
    engine_t *e = j->e;
    j->dlg = NULL;
    for (int i = 0; i < e->ndialogs && !j->dlg; i++)
        if (!strcmp(e->dialogs[i]->name, j->dialog))
            j->dlg = e->dialogs[i];
    if (!j->dlg)
        j->dlg = e->dialogs[0];
    dlg_event_t ev;
    event_view(&j->ev, &ev);
    if (!strcmp(j->last, j->ev.id) || (ev.kind == EV_TIMEOUT && ev.version != j->version)) {
        /* applied already (only the dequeue is missing), or a timeout for an older screen */
        j->ack = j->ev.id;
        engine__next(j);
        return;
    }
    run_dialog(j);
    if (fast_step(j)) {
        fast_next(j);
        return;
    }
    if (db_txn_begin(e->db, engine__fnv1a(j->conv), on_begin, j) != 0)
        engine__job_retry(j, "postgres unavailable");
}

void engine__txn_prepare(engine_t *e)
{
    db_t *db = e->db;
    e->q_applied_ins = db_prepare(db,
        "INSERT INTO kb_applied (conv, event_id, version, state, worker, started_at, said) "
        "VALUES ($1, $2, $3::bigint, '{}', $4, to_timestamp($5::double precision), $6) "
        "ON CONFLICT (conv, event_id) DO NOTHING RETURNING 1");
    e->q_applied_get = db_prepare(db, "SELECT version, state FROM kb_applied WHERE conv = $1 AND event_id = $2");
    e->q_applied_set = db_prepare(db,
        "UPDATE kb_applied SET version = $3::bigint, state = $4::jsonb, applied_at = clock_timestamp() "
        "WHERE conv = $1 AND event_id = $2");
    e->q_held = db_prepare(db,
        "SELECT id, seq, payload FROM kb_outbox WHERE conv = $1 AND event_id = $2 AND channel = $3 AND lane = 0 "
        "AND sent_at IS NULL AND NOT dead ORDER BY seq");
    e->q_reachable = db_prepare(db, "UPDATE kb_identity SET reachable = true, unreachable_why = NULL "
                                    "WHERE channel = $1 AND external_id = $2 AND NOT reachable");
    e->q_audit_ins = db_prepare(db, "INSERT INTO kb_audit (conv, event_id, what, details) VALUES ($1, $2, $3, $4::jsonb)");
}
