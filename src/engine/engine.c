/* engine.c — the dialog engine (see engine.h): intake, claiming and leases, the per-event pipeline
 * (peek → dialog → transaction → compare-and-set → ack), step timeouts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/rand.h>
#include "core.h"
#include "crash.h"
#include "engine.h"
#include "err.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "outbox.h"

#define ENGINE_MAX_DIALOGS 16
#define ENGINE_MAX_EFFECTS 32
#define ENGINE_RETRY_MS 1000

/* ---------------------------------------------------------------- scripts (each touches one hash tag) */

/* dedupe, the conversation's limits, and enqueue in one step: KEYS state, queue; ARGV id, event, seen_max,
 * seen_ttl_ms, now_ms, state_ttl_ms, per_minute, per_day. The recent ids live in the state hash (fields seen, a JSON
 * array newest first, and seen_at, the last intake): one key per conversation. They are forgotten seen_ttl after the
 * last intake; a conversation's first event creates its state with the state's TTL. Limits (0: none): per minute a
 * GCRA (field rl: its theoretical arrival time; a burst of per_minute, then one every 60/per_minute s; an event over
 * the limit counts too, up to two minutes ahead, so a flood stays out until it stops), per UTC day a count (dd, dn).
 * Over a limit the event goes no further; the first one over is replaced by the command "/throttled <seconds until
 * allowed>" so the customer hears it once (field told, cleared once the conversation is back under its limit).
 * Returns 0 duplicate, 1 queued, 2 over a limit and told, 3 over a limit, dropped. */
static const char *const lua_intake =
    "local s = redis.call('HMGET', KEYS[1], 'seen', 'seen_at', 'rl', 'dd', 'dn', 'told')\n"
    "local now = tonumber(ARGV[5])\n"
    "local ids = {}\n"
    "if s[1] and s[2] and now - tonumber(s[2]) <= tonumber(ARGV[4]) then ids = cjson.decode(s[1]) end\n"
    "for _, v in ipairs(ids) do if v == ARGV[1] then return 0 end end\n"
    "table.insert(ids, 1, ARGV[1])\n"
    "while #ids > tonumber(ARGV[3]) do table.remove(ids) end\n"
    "redis.call('HSET', KEYS[1], 'seen', cjson.encode(ids), 'seen_at', ARGV[5])\n"
    "if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[6]) end\n"
    "local pm, pd, wait = tonumber(ARGV[7]), tonumber(ARGV[8]), 0\n"
    "if pm > 0 then\n"
    "  local t = 60000 / pm\n"
    "  local tat = math.max(tonumber(s[3] or '0'), now)\n"
    "  local over = tat - now > 60000 - t\n"
    "  tat = math.min(tat + t, now + 120000)\n"
    "  redis.call('HSET', KEYS[1], 'rl', string.format('%d', tat))\n"
    "  if over then wait = math.max(tat - now - (60000 - t), 1000) end\n"
    "end\n"
    "local day = math.floor(now / 86400000)\n"
    "if wait == 0 and pd > 0 then\n"
    "  local n = 0\n"
    "  if tonumber(s[4] or '-1') == day then n = tonumber(s[5] or '0') end\n"
    "  if n >= pd then wait = (day + 1) * 86400000 - now else redis.call('HSET', KEYS[1], 'dd', day, 'dn', n + 1) end\n"
    "end\n"
    "if wait > 0 then\n"
    "  if s[6] then return 3 end\n"
    "  redis.call('HSET', KEYS[1], 'told', '1')\n"
    "  local ev = cjson.decode(ARGV[2])\n"
    "  ev.kind = 'command'\n"
    "  ev.text = '/throttled ' .. math.ceil(wait / 1000)\n"
    "  ev.payload = nil\n"
    "  redis.call('RPUSH', KEYS[2], cjson.encode(ev))\n"
    "  return 2\n"
    "end\n"
    "if s[6] then redis.call('HDEL', KEYS[1], 'told') end\n"
    "redis.call('RPUSH', KEYS[2], ARGV[2])\n"
    "return 1\n";
/* claim due members of a schedule set, hiding them until the claim score: KEYS set; ARGV now, claim_score, n */
static const char *const lua_claim =
    "local c = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))\n"
    "for _, m in ipairs(c) do redis.call('ZADD', KEYS[1], ARGV[2], m) end\n"
    "return c\n";
/* remove a member only if it still carries our claim score: KEYS set; ARGV member, claim_score */
static const char *const lua_unclaim =
    "local s = redis.call('ZSCORE', KEYS[1], ARGV[1])\n"
    "if s and tonumber(s) == tonumber(ARGV[2]) then redis.call('ZREM', KEYS[1], ARGV[1]) return 1 end\n"
    "return 0\n";
/* the queue head and the state, if the lease is ours: KEYS lease, queue, state; ARGV owner, lease_ms */
static const char *const lua_peek =
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "local head = redis.call('LINDEX', KEYS[2], 0)\n"
    "if not head then redis.call('DEL', KEYS[1]) return {0} end\n"
    "return {1, head, redis.call('HGETALL', KEYS[3])}\n";
/* compare-and-set of the state: KEYS state; ARGV expected, dialog, step, keep, data, last, updated, ttl_ms, until */
static const char *const lua_cas =
    "local v = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')\n"
    "if v ~= tonumber(ARGV[1]) then return -1 end\n"
    "redis.call('HSET', KEYS[1], 'dialog', ARGV[2], 'step', ARGV[3], 'keep', ARGV[4], 'data', ARGV[5],"
    " 'version', v + 1, 'last', ARGV[6], 'updated', ARGV[7], 'until', ARGV[9])\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[8])\n"
    "return v + 1\n";
/* the event leaves the queue if it is still the head and the lease ours: KEYS lease, queue; ARGV owner, id,
 * lease_ms. Returns what is left (the lease is let go at 0), or -1 when the lease is not ours. */
static const char *const lua_ack =
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end\n"
    "local head = redis.call('LINDEX', KEYS[2], 0)\n"
    "if head and cjson.decode(head).id == ARGV[2] then redis.call('LPOP', KEYS[2]) end\n"
    "local n = redis.call('LLEN', KEYS[2])\n"
    "if n == 0 then redis.call('DEL', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[3]) end\n"
    "return n\n";
/* let go of a lease that is ours: KEYS lease; ARGV owner */
static const char *const lua_release =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end\n"
    "return 0\n";

/* ---------------------------------------------------------------- types */

typedef struct job_s job_t;
typedef struct engine_s engine_t;

/* One claim in flight: the score it hid the members with. */
typedef struct {
    engine_t *e;
    char score[48];
} claim_t;

struct engine_s {
    uv_loop_t *loop;
    kv_t *kv;
    db_t *db;
    engine_options_t opt;
    const dlg_def_t *dialogs[ENGINE_MAX_DIALOGS];
    int ndialogs;
    struct {
        char channel[16];
        const dlg_def_t *dlg;
    } routes[4];               /* a new conversation of this channel starts in that dialog */
    int nroutes;
    kv_script_t s_intake, s_claim, s_unclaim, s_peek, s_cas, s_ack, s_release;
    const db_stmt_t *q_applied_ins, *q_applied_get, *q_applied_set, *q_audit_ins, *q_reachable;
    uv_timer_t tick;
    int claiming, timers_claiming, stopping, closed;
    size_t jobs, intakes;
    uint64_t last_timer_poll;
    char owner[64], k_ready[32], k_timers[32];
    engine_outbox_hook hook;
    void *hook_ctx;
    metrics_series_t *m_events, *m_dups, *m_latency, *m_conflicts, *m_failures, *m_stale, *m_throttled, *m_unreplicated;
};

struct job_s {
    engine_t *e;
    char conv[128], channel[32], score[48];
    char k_lease[160], k_queue[160], k_state[160];
    event_t ev;
    int have_ev;
    /* the state as read */
    char dialog[48], step[48], last[160];
    cJSON *keep, *data;
    int64_t version;
    /* the transition in progress */
    const dlg_def_t *dlg;
    dlg_result_t res;
    int no_change;               /* a stale button or a refused event: replies only, state unchanged */
    int failed_once;             /* the transition failed for good once: now only an apology is tried */
    int fx, nreplies;
    db_txn_t *txn;
    double started;
    int64_t started_ms;
};

static void job_peek(job_t *j);
static void job_fx_next(job_t *j);
static void claim_tick(engine_t *e);

/* ---------------------------------------------------------------- helpers */

static int64_t now_ms(void)
{
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h ? h : 1;
}

/* Runs a script with string arguments (keys first). */
static int eval(engine_t *e, const kv_script_t *s, int nkeys, int argc, const char **argv, kv_cb cb, void *data)
{
    size_t lens[16];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    return kv_eval(e->kv, s, nkeys, argc, argv, lens, cb, data);
}

static const dlg_def_t *find_dialog(engine_t *e, const char *name)
{
    for (int i = 0; i < e->ndialogs; i++)
        if (!strcmp(e->dialogs[i]->name, name))
            return e->dialogs[i];
    return e->dialogs[0];
}

/* The channel of a conversation key: "tg" of "tg:123". */
static void conv_channel(const char *conv, char *out, size_t size)
{
    size_t n = strcspn(conv, ":");
    snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), conv);
}

/* ---------------------------------------------------------------- job lifecycle */

static job_t *job_new(engine_t *e, const char *conv, const char *score)
{
    job_t *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->e = e;
    snprintf(j->conv, sizeof j->conv, "%s", conv);
    snprintf(j->score, sizeof j->score, "%s", score);
    conv_channel(conv, j->channel, sizeof j->channel);
    if (keys_conv(j->k_lease, sizeof j->k_lease, conv, KEY_LEASE) < 0 ||
        keys_conv(j->k_queue, sizeof j->k_queue, conv, KEY_QUEUE) < 0 ||
        keys_conv(j->k_state, sizeof j->k_state, conv, KEY_STATE) < 0) {
        free(j);
        return NULL;
    }
    e->jobs++;
    return j;
}

/* Forgets the current event and transition (between two events of one conversation). */
static void job_reset(job_t *j)
{
    if (j->have_ev)
        event_free(&j->ev);
    j->have_ev = 0;
    cJSON_Delete(j->keep);
    cJSON_Delete(j->data);
    j->keep = j->data = NULL;
    dlg_result_free(&j->res);
    j->no_change = j->failed_once = j->fx = j->nreplies = 0;
    j->txn = NULL;
}

static void job_end(job_t *j)
{
    engine_t *e = j->e;
    job_reset(j);
    free(j);
    e->jobs--;
    if (!e->stopping)
        claim_tick(e);
}


/* Something failed (Postgres or Redis away, a conflict): let go of the lease and look again in a second. */
static void job_retry(job_t *j, const char *why)
{
    engine_t *e = j->e;
    metrics_inc(e->m_failures);
    log_warn("engine", "conversation event will be retried: %s", why);
    const char *rel[] = {j->k_lease, e->owner};
    eval(e, &e->s_release, 1, 2, rel, NULL, NULL);
    char score[32];
    snprintf(score, sizeof score, "%lld", (long long)(now_ms() + ENGINE_RETRY_MS));
    kv_command(e->kv, NULL, NULL, "ZADD %s %s %s", e->k_ready, score, j->conv);
    job_end(j);
}

/* ---------------------------------------------------------------- ack and release */

static void on_unclaimed(int err, const redisReply *r, void *data) { job_end(data); }

static void on_ack(int err, const redisReply *r, void *data)
{
    job_t *j = data;
    if (err || r->type != REDIS_REPLY_INTEGER) {
        job_retry(j, "ack failed");
        return;
    }
    metrics_inc(j->e->m_events);
    metrics_observe(j->e->m_latency, metrics_now() - j->started);
    job_reset(j);
    if (r->integer > 0) {
        job_peek(j);
    } else if (r->integer == 0) { /* queue empty, lease let go: take the conversation off the ready set */
        const char *a[] = {j->e->k_ready, j->conv, j->score};
        if (eval(j->e, &j->e->s_unclaim, 1, 3, a, on_unclaimed, j) != 0)
            job_end(j);
    } else {
        job_end(j); /* the lease went to another process: it goes on from here */
    }
}

static void job_ack(job_t *j)
{
    engine_t *e = j->e;
    char lease_ms[16];
    snprintf(lease_ms, sizeof lease_ms, "%d", e->opt.lease_ms);
    const char *a[] = {j->k_lease, j->k_queue, e->owner, j->ev.id, lease_ms};
    if (eval(e, &e->s_ack, 2, 5, a, on_ack, j) != 0)
        job_retry(j, "redis unavailable for ack");
}

/* ---------------------------------------------------------------- compare-and-set */

/* Arms the step timeouts the transition asked for, tagged with the new version. */
static void arm_timeouts(job_t *j, int64_t version)
{
    cJSON *fx;
    cJSON_ArrayForEach(fx, j->res.effects)
    {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(fx, "type");
        const cJSON *ms = cJSON_GetObjectItemCaseSensitive(fx, "after_ms");
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "timeout") || !cJSON_IsNumber(ms))
            continue;
        char score[32], member[200];
        snprintf(score, sizeof score, "%lld", (long long)(now_ms() + (int64_t)ms->valuedouble));
        snprintf(member, sizeof member, "%s\x1f%lld", j->conv, (long long)version);
        kv_command(j->e->kv, NULL, NULL, "ZADD %s %s %s", j->e->k_timers, score, member);
    }
}

static void on_cas(int err, const redisReply *r, void *data)
{
    job_t *j = data;
    if (err || r->type != REDIS_REPLY_INTEGER) {
        job_retry(j, "state compare-and-set failed");
        return;
    }
    if (r->integer < 0) { /* someone changed the state since we read it: run the event again on fresh state */
        metrics_inc(j->e->m_conflicts);
        job_reset(j);
        job_peek(j);
        return;
    }
    crash_point("after_cas");
    arm_timeouts(j, r->integer);
    job_ack(j);
}

/* Writes the transition's state to Redis, on the version it was computed from. */
static void job_cas(job_t *j)
{
    engine_t *e = j->e;
    char *keep = cJSON_PrintUnformatted(j->res.keep), *data = cJSON_PrintUnformatted(j->res.data);
    char expected[24], updated[24], ttl[24], until[24];
    int64_t now = now_ms();
    snprintf(expected, sizeof expected, "%lld", (long long)j->version);
    snprintf(updated, sizeof updated, "%lld", (long long)now);
    snprintf(ttl, sizeof ttl, "%lld", (long long)e->opt.state_ttl_s * 1000);
    snprintf(until, sizeof until, "%lld", j->res.step[0] ? (long long)(now + (int64_t)e->opt.step_ttl_s * 1000) : 0LL);
    const char *a[] = {j->k_state, expected, j->dlg->name, j->res.step, keep, data, j->ev.id, updated, ttl, until};
    int rc = eval(e, &e->s_cas, 1, 10, a, on_cas, j);
    free(keep);
    free(data);
    if (rc)
        job_retry(j, "redis unavailable for compare-and-set");
}

/* ---------------------------------------------------------------- the transaction */

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
        job_retry(j, "commit failed");
        return;
    }
    crash_point("after_commit");
    if (j->nreplies && j->e->hook) { /* wake the senders of every channel this transition wrote to */
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
    if (j->no_change)
        job_ack(j);
    else
        job_cas(j);
}

static void on_rolled_back(int err, PGresult *res, void *data) {}

static void on_begin(int err, db_txn_t *txn, void *data);

/* Fails the transaction: roll back and retry later. A failure that a retry cannot cure (the data is refused: SQL
 * classes 22 and 23, or an unknown core operation) would block the conversation forever; instead the event is
 * settled with an apology and no change, once. If even that fails the event is dropped, loudly. */
static void txn_fail_as(job_t *j, const char *why, int permanent)
{
    if (j->txn)
        db_txn_rollback(j->txn, on_rolled_back, NULL);
    j->txn = NULL;
    if (!permanent) {
        job_retry(j, why);
        return;
    }
    if (j->failed_once) {
        log_error("engine", "dropping an event that cannot be handled: %s", why);
        job_ack(j);
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
    if (db_txn_begin(j->e->db, fnv1a(j->conv), on_begin, j) != 0)
        job_retry(j, "postgres unavailable");
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
    job_fx_next(j);
}

/* The core answered: the dialog takes the result as an event, and its effects join the ones still to run. */
static void on_core(int err, cJSON *result, void *data)
{
    job_t *j = data;
    if (err) {
        cJSON_Delete(result);
        txn_fail_as(j, "core operation failed", err == KB_ERR_INVAL);
        return;
    }
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
    job_fx_next(j);
}

/* Writes one outbox row for an effect (its fields less "type", plus one extra field, whose item passes to us)
 * inside the transaction. */
static void queue_outbox_row(job_t *j, const cJSON *fx, const char *to, const char *channel, int lane,
                             const char *event_key, const char *extra_name, cJSON *extra)
{
    cJSON *payload = cJSON_Duplicate(fx, 1);
    cJSON_DeleteItemFromObject(payload, "type");
    cJSON_AddItemToObject(payload, extra_name, extra);
    char *p = cJSON_PrintUnformatted(payload);
    cJSON_Delete(payload);
    j->nreplies++;
    outbox_put_t m = {to, channel, lane, event_key, j->nreplies - 1, p};
    int rc = outbox_put(j->e->db, j->txn, &m, on_stmt, j);
    free(p);
    if (rc)
        txn_fail(j, "cannot queue outbox row");
}

/* Carries out the next effect inside the transaction; after the last, records the state and commits. */
static void job_fx_next(job_t *j)
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
            cJSON *ver = cJSON_CreateNumber((double)(j->no_change ? j->version : j->version + 1));
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
        /* "timeout" is armed after the compare-and-set */
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

/* The transition was committed before (a crash came between the commit and Redis): take its stored state. */
static void on_applied_get(int err, PGresult *res, void *data)
{
    job_t *j = data;
    if (err || PQntuples(res) != 1) {
        job_retry(j, "stored transition not readable");
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
    if (j->no_change || stored_version == j->version) /* nothing to move: only the ack is missing */
        job_ack(j);
    else
        job_cas(j);
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
        const char *params[] = {j->conv, j->ev.id};
        if (db_exec(j->e->db, fnv1a(j->conv), j->e->q_applied_get, 2, params, on_applied_get, j) != 0)
            job_retry(j, "postgres unavailable");
        return;
    }
    job_fx_next(j);
}

static void on_begin(int err, db_txn_t *txn, void *data)
{
    job_t *j = data;
    if (err) {
        job_retry(j, "postgres unavailable for the transaction");
        return;
    }
    j->txn = txn;
    char started[24], ver[24];
    snprintf(started, sizeof started, "%.3f", (double)j->started_ms / 1000.0);
    snprintf(ver, sizeof ver, "%lld", (long long)j->version);
    /* what the customer said, for the card staff see: a code typed where one was asked is never kept */
    char said[320];
    size_t sl = strlen(j->step);
    const char *what = sl >= 4 && !strcmp(j->step + sl - 4, "code") && (j->ev.kind == EV_TEXT || j->ev.kind == EV_COMMAND)
                           ? "[code]" : event_said(&j->ev, said, sizeof said);
    const char *params[] = {j->conv, j->ev.id, ver, j->e->owner, started, what};
    if (db_txn_exec(txn, j->e->q_applied_ins, 6, params, on_applied_ins, j) != 0)
        txn_fail(j, "cannot record the event");
}

/* ---------------------------------------------------------------- the transition */

/* Reads the state fields of an HGETALL reply. */
static void load_state(job_t *j, const redisReply *h)
{
    int64_t until = 0;
    snprintf(j->dialog, sizeof j->dialog, "%s", j->e->dialogs[0]->name);
    for (int i = 0; i < j->e->nroutes; i++)
        if (!strcmp(j->e->routes[i].channel, j->channel))
            snprintf(j->dialog, sizeof j->dialog, "%s", j->e->routes[i].dlg->name);
    j->step[0] = j->last[0] = 0;
    j->version = 0;
    for (size_t i = 0; h && i + 1 < h->elements; i += 2) {
        const char *k = h->element[i]->str, *v = h->element[i + 1]->str;
        if (!strcmp(k, "dialog"))
            snprintf(j->dialog, sizeof j->dialog, "%s", v);
        else if (!strcmp(k, "step"))
            snprintf(j->step, sizeof j->step, "%s", v);
        else if (!strcmp(k, "last"))
            snprintf(j->last, sizeof j->last, "%s", v);
        else if (!strcmp(k, "version"))
            j->version = atoll(v);
        else if (!strcmp(k, "until"))
            until = atoll(v);
        else if (!strcmp(k, "keep"))
            j->keep = cJSON_Parse(v);
        else if (!strcmp(k, "data"))
            j->data = cJSON_Parse(v);
    }
    if (!cJSON_IsObject(j->keep)) {
        cJSON_Delete(j->keep);
        j->keep = cJSON_CreateObject();
    }
    if (!cJSON_IsObject(j->data) || (j->step[0] && until && now_ms() > until)) {
        /* no data, or the unfinished step expired: back at rest, identity kept */
        cJSON_Delete(j->data);
        j->data = cJSON_CreateObject();
        if (until && now_ms() > until)
            j->step[0] = 0;
    }
}

/* Runs the dialog for the current event and starts its transaction. */
static void job_transition(job_t *j)
{
    engine_t *e = j->e;
    j->dlg = find_dialog(e, j->dialog);
    dlg_state_t st = {j->dlg->name, j->step, j->keep, j->data, j->version};
    dlg_event_t ev;
    event_view(&j->ev, &ev);
    if (!strcmp(j->last, j->ev.id)) { /* applied already; only the ack is missing */
        job_ack(j);
        return;
    }
    if (ev.kind == EV_TIMEOUT && ev.version != j->version) { /* a timeout for an older screen */
        job_ack(j);
        return;
    }
    /* a stale button: say so, show the current screen (version 0: a push's button, made for no screen) */
    if (ev.kind == EV_BUTTON && ev.version != j->version && ev.version != 0) {
        metrics_inc(e->m_stale);
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
    if (db_txn_begin(e->db, fnv1a(j->conv), on_begin, j) != 0)
        job_retry(j, "postgres unavailable");
}

static void on_peek(int err, const redisReply *r, void *data)
{
    job_t *j = data;
    if (err) {
        job_retry(j, "peek failed");
        return;
    }
    if (r->type == REDIS_REPLY_NIL) { /* the lease is not ours any more */
        job_end(j);
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || r->element[0]->integer == 0) {
        const char *a[] = {j->e->k_ready, j->conv, j->score}; /* nothing queued: off the ready set */
        if (eval(j->e, &j->e->s_unclaim, 1, 3, a, on_unclaimed, j) != 0)
            job_end(j);
        return;
    }
    j->started = metrics_now();
    j->started_ms = now_ms();
    const redisReply *head = r->element[1];
    if (event_from_json(head->str, head->len, &j->ev) != 0) {
        /* a malformed event can never be handled: it leaves the queue, loudly */
        log_error("engine", "dropping a malformed queued event (%zu bytes)", head->len);
        kv_command(j->e->kv, NULL, NULL, "LPOP %s", j->k_queue); /* we hold the lease: the head is ours */
        job_peek(j);
        return;
    }
    j->have_ev = 1;
    load_state(j, r->elements > 2 ? r->element[2] : NULL);
    job_transition(j);
}

static void job_peek(job_t *j)
{
    char lease_ms[16];
    snprintf(lease_ms, sizeof lease_ms, "%d", j->e->opt.lease_ms);
    const char *a[] = {j->k_lease, j->k_queue, j->k_state, j->e->owner, lease_ms};
    if (eval(j->e, &j->e->s_peek, 3, 5, a, on_peek, j) != 0)
        job_retry(j, "redis unavailable for peek");
}

/* ---------------------------------------------------------------- claiming */

static void on_lease(int err, const redisReply *r, void *data)
{
    job_t *j = data;
    if (err || r->type != REDIS_REPLY_STATUS) { /* another process holds it: that one goes on */
        job_end(j);
        return;
    }
    crash_point("lease_held");
    job_peek(j);
}

static void on_claim(int err, const redisReply *r, void *data)
{
    claim_t *c = data;
    engine_t *e = c->e;
    e->claiming = 0;
    size_t n = 0;
    if (!err && r->type == REDIS_REPLY_ARRAY) {
        n = r->elements;
        for (size_t i = 0; i < r->elements; i++) {
            job_t *j = job_new(e, r->element[i]->str, c->score);
            if (!j)
                continue;
            if (kv_command(e->kv, on_lease, j, "SET %s %s NX PX %d", j->k_lease, e->owner, e->opt.lease_ms) != 0)
                job_end(j);
        }
    }
    free(c);
    if (n > 0 && !e->stopping)
        claim_tick(e);
}

/* Claims up to n due members of a schedule set (the ready conversations, or the due timeouts), hiding them from
 * other claimers until the lease would have run out. The fraction makes our claim score unlike any intake's (whole
 * milliseconds), so that a later conditional removal only succeeds while nobody touched the member. busy is the
 * flag that keeps one such claim in flight; the callback clears it. */
static void sched_claim(engine_t *e, const char *key, size_t n, kv_cb cb, int *busy)
{
    if (*busy || !kv_ready(e->kv))
        return;
    claim_t *c = malloc(sizeof *c);
    if (!c)
        return;
    c->e = e;
    int64_t now = now_ms();
    char nows[24], room[24];
    snprintf(nows, sizeof nows, "%lld", (long long)now);
    snprintf(c->score, sizeof c->score, "%lld.5", (long long)(now + e->opt.lease_ms));
    snprintf(room, sizeof room, "%zu", n);
    const char *a[] = {key, nows, c->score, room};
    *busy = 1;
    if (eval(e, &e->s_claim, 1, 4, a, cb, c) != 0) {
        *busy = 0;
        free(c);
    }
}

/* Claims as many ready conversations as there is room for. */
static void claim_tick(engine_t *e)
{
    if (!e->stopping && e->jobs < (size_t)e->opt.concurrency)
        sched_claim(e, e->k_ready, (size_t)e->opt.concurrency - e->jobs, on_claim, &e->claiming);
}

/* ---------------------------------------------------------------- step timeouts */

typedef struct {
    engine_t *e;
    char member[200], score[48];
} timer_t_;

static void on_timer_unclaimed(int err, const redisReply *r, void *data) { free(data); }

/* The timeout event is queued: take it off the timer set (if it still carries our claim). */
static void on_timer_intake(int err, int is_new, void *data)
{
    timer_t_ *t = data;
    if (err) { /* stays claimed; visible again after the lease time */
        free(t);
        return;
    }
    const char *a[] = {t->e->k_timers, t->member, t->score};
    if (eval(t->e, &t->e->s_unclaim, 1, 3, a, on_timer_unclaimed, t) != 0)
        free(t);
}

static void on_timers_claim(int err, const redisReply *r, void *data)
{
    claim_t *c = data;
    engine_t *e = c->e;
    e->timers_claiming = 0;
    for (size_t i = 0; !err && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const char *m = r->element[i]->str, *sep = strchr(m, '\x1f');
        timer_t_ *t = calloc(1, sizeof *t);
        if (!sep || !t) {
            free(t);
            continue;
        }
        t->e = e;
        snprintf(t->member, sizeof t->member, "%s", m);
        snprintf(t->score, sizeof t->score, "%s", c->score);
        char conv[128], id[48], channel[32];
        snprintf(conv, sizeof conv, "%.*s", (int)(sep - m), m);
        snprintf(id, sizeof id, "timeout:%s", sep + 1);
        conv_channel(conv, channel, sizeof channel);
        event_t ev = {.id = id, .channel = channel, .conv = conv, .sender = "", .text = "", .kind = EV_TIMEOUT,
                      .version = atoll(sep + 1), .ts_ms = now_ms()};
        if (engine_intake(e, &ev, on_timer_intake, t) != 0)
            free(t);
    }
    free(c);
}

/* Moves due step timeouts into their conversations' queues, as events. */
static void timers_tick(engine_t *e)
{
    if (!e->stopping)
        sched_claim(e, e->k_timers, 100, on_timers_claim, &e->timers_claiming);
}

/* Every 10 ms: look for ready conversations (other processes' intakes); every 200 ms: due timeouts. */
static void on_tick(uv_timer_t *t)
{
    engine_t *e = t->data;
    claim_tick(e);
    uint64_t now = uv_now(e->loop);
    if (now - e->last_timer_poll >= 200) {
        e->last_timer_poll = now;
        timers_tick(e);
    }
}

/* ---------------------------------------------------------------- intake */

typedef struct {
    engine_t *e;
    engine_intake_cb cb;
    void *data;
    int is_new;
    char conv[128];
} intake_t;

/* Answers the channel: the event is accepted (or not), and the intake is over. */
static void intake_done(intake_t *in, int err)
{
    engine_t *e = in->e;
    e->intakes--;
    in->cb(err, in->is_new, in->data);
    free(in);
    claim_tick(e);
}

/* With a replicated Redis, a write is durable once a replica has it too: WAIT on the node that holds key. Returns
 * 1 when the wait was sent (the answer comes to cb), 0 when there is none to make. */
static int replicate(intake_t *in, const char *key, kv_cb cb)
{
    engine_t *e = in->e;
    if (e->opt.wait_replicas <= 0 || !kv_mode_replicated(e->kv))
        return 0;
    return kv_wait(e->kv, key, e->opt.wait_replicas, e->opt.wait_ms, cb, in) == 0;
}

/* A WAIT answered: fewer replicas than asked is counted, not refused (a replica down must not stop intake). */
static void count_replicas(engine_t *e, int err, const redisReply *r)
{
    if (!err && r->type == REDIS_REPLY_INTEGER && r->integer < e->opt.wait_replicas)
        metrics_inc(e->m_unreplicated);
}

static void on_ready_replicated(int err, const redisReply *r, void *data)
{
    intake_t *in = data;
    count_replicas(in->e, err, r);
    intake_done(in, err == KB_ERR_IO ? 0 : err);
}

static void on_ready_touched(int err, const redisReply *r, void *data)
{
    intake_t *in = data;
    if (err || !replicate(in, in->e->k_ready, on_ready_replicated))
        intake_done(in, err);
}

/* Marks the conversation ready (also for a duplicate: heals a crash between the two steps on the provider's
 * retry). */
static void mark_ready(intake_t *in)
{
    engine_t *e = in->e;
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)now_ms());
    if (kv_command(e->kv, on_ready_touched, in, "ZADD %s LT %s %s", e->k_ready, now, in->conv) != 0)
        intake_done(in, KB_ERR_NOTCONN);
}

static void on_queue_replicated(int err, const redisReply *r, void *data)
{
    intake_t *in = data;
    count_replicas(in->e, err, r);
    if (err && err != KB_ERR_IO) /* the node went: the event may be lost with it, so it is not acknowledged */
        intake_done(in, err);
    else
        mark_ready(in);
}

static void on_intake(int err, const redisReply *r, void *data)
{
    intake_t *in = data;
    engine_t *e = in->e;
    if (err || r->type != REDIS_REPLY_INTEGER) {
        intake_done(in, err ? err : KB_ERR_PROTO);
        return;
    }
    crash_point("after_dedupe");
    in->is_new = r->integer == 1 || r->integer == 2;
    if (r->integer >= 2)
        metrics_inc(e->m_throttled);
    else if (in->is_new)
        metrics_inc(e->m_events);
    else
        metrics_inc(e->m_dups);
    char k_queue[160];
    if (!in->is_new || keys_conv(k_queue, sizeof k_queue, in->conv, KEY_QUEUE) < 0 ||
        !replicate(in, k_queue, on_queue_replicated))
        mark_ready(in);
}

int engine_intake(engine_t *e, const event_t *ev, engine_intake_cb cb, void *data)
{
    char k_state[160], k_queue[160];
    if (!ev->id || !ev->id[0] || strlen(ev->id) > 128 || !event_conv_valid(ev->conv))
        return KB_ERR_INVAL;
    if (keys_conv(k_state, sizeof k_state, ev->conv, KEY_STATE) < 0 ||
        keys_conv(k_queue, sizeof k_queue, ev->conv, KEY_QUEUE) < 0)
        return KB_ERR_INVAL;
    intake_t *in = calloc(1, sizeof *in);
    char *json = event_to_json(ev);
    if (!in || !json) {
        free(in);
        free(json);
        return KB_ERR_NOMEM;
    }
    in->e = e;
    in->cb = cb;
    in->data = data;
    snprintf(in->conv, sizeof in->conv, "%s", ev->conv);
    char seen_max[16], seen_ttl[24], now[24], state_ttl[24], per_min[16], per_day[16];
    /* limits are for what people write: not staff groups, nor staff's or the engine's own events */
    int limited = strncmp(ev->conv, "staff:", 6) != 0 && ev->kind != EV_STAFF && ev->kind != EV_TIMEOUT &&
                  ev->kind != EV_CORE_RESULT;
    snprintf(seen_max, sizeof seen_max, "%d", e->opt.seen_max);
    snprintf(seen_ttl, sizeof seen_ttl, "%lld", (long long)e->opt.seen_ttl_s * 1000);
    snprintf(now, sizeof now, "%lld", (long long)now_ms());
    snprintf(state_ttl, sizeof state_ttl, "%lld", (long long)e->opt.state_ttl_s * 1000);
    snprintf(per_min, sizeof per_min, "%d", limited ? e->opt.per_minute : 0);
    snprintf(per_day, sizeof per_day, "%d", limited ? e->opt.per_day : 0);
    const char *a[] = {k_state, k_queue, ev->id, json, seen_max, seen_ttl, now, state_ttl, per_min, per_day};
    int rc = eval(e, &e->s_intake, 2, 10, a, on_intake, in);
    free(json);
    if (rc) {
        free(in);
        return rc;
    }
    e->intakes++;
    return 0;
}

/* ---------------------------------------------------------------- public */

int engine_new(uv_loop_t *loop, kv_t *kv, db_t *db, const engine_options_t *opt, engine_t **out)
{
    engine_t *e = calloc(1, sizeof *e);
    if (!e)
        return KB_ERR_NOMEM;
    e->loop = loop;
    e->kv = kv;
    e->db = db;
    e->opt = *opt;
    unsigned char rnd[6];
    RAND_bytes(rnd, sizeof rnd);
    char host[32] = "";
    gethostname(host, sizeof host - 1);
    snprintf(e->owner, sizeof e->owner, "%.20s:%d:%02x%02x%02x%02x%02x%02x", host, (int)getpid(), rnd[0], rnd[1],
             rnd[2], rnd[3], rnd[4], rnd[5]);
    keys_sched(e->k_ready, sizeof e->k_ready, "ready");
    keys_sched(e->k_timers, sizeof e->k_timers, "timers");
    kv_script_init(&e->s_intake, lua_intake);
    kv_script_init(&e->s_claim, lua_claim);
    kv_script_init(&e->s_unclaim, lua_unclaim);
    kv_script_init(&e->s_peek, lua_peek);
    kv_script_init(&e->s_cas, lua_cas);
    kv_script_init(&e->s_ack, lua_ack);
    kv_script_init(&e->s_release, lua_release);
    e->q_applied_ins = db_prepare(db,
        "INSERT INTO kb_applied (conv, event_id, version, state, worker, started_at, said) "
        "VALUES ($1, $2, $3::bigint, '{}', $4, to_timestamp($5::double precision), $6) "
        "ON CONFLICT (conv, event_id) DO NOTHING RETURNING 1");
    e->q_applied_get = db_prepare(db, "SELECT version, state FROM kb_applied WHERE conv = $1 AND event_id = $2");
    e->q_applied_set = db_prepare(db,
        "UPDATE kb_applied SET version = $3::bigint, state = $4::jsonb, applied_at = clock_timestamp() "
        "WHERE conv = $1 AND event_id = $2");
    e->q_reachable = db_prepare(db, "UPDATE kb_identity SET reachable = true, unreachable_why = NULL "
                                    "WHERE channel = $1 AND external_id = $2 AND NOT reachable");
    e->q_audit_ins = db_prepare(db, "INSERT INTO kb_audit (conv, event_id, what, details) VALUES ($1, $2, $3, $4::jsonb)");
    uv_timer_init(loop, &e->tick);
    e->tick.data = e;
    e->m_events = metrics_counter("kb_engine_events_total", "Events accepted (intake) and handled (ack)", "");
    e->m_unreplicated = metrics_counter("kb_engine_unreplicated_total",
                                        "Intakes acknowledged before reaching KABINET_REDIS_WAIT_REPLICAS replicas", "");
    e->m_dups = metrics_counter("kb_engine_duplicates_total", "Events refused as already seen", "");
    e->m_throttled = metrics_counter("kb_engine_throttled_total", "Events over a conversation's limits (per minute, "
                                                                  "per day): not handled", "");
    e->m_latency = metrics_histogram("kb_engine_event_seconds", "Time to handle one event, transaction included", "");
    e->m_conflicts = metrics_counter("kb_engine_cas_conflicts_total", "State compare-and-set lost, event re-run", "");
    e->m_failures = metrics_counter("kb_engine_retries_total", "Events put back for a retry after a failure", "");
    e->m_stale = metrics_counter("kb_engine_stale_buttons_total", "Buttons pressed on an out-of-date menu", "");
    *out = e;
    return 0;
}

int engine_route(engine_t *e, const char *channel, const dlg_def_t *d)
{
    int rc = engine_add_dialog(e, d);
    if (rc || e->nroutes == (int)(sizeof e->routes / sizeof e->routes[0]) || strlen(channel) >= sizeof e->routes[0].channel)
        return rc ? rc : KB_ERR_BUSY;
    snprintf(e->routes[e->nroutes].channel, sizeof e->routes[0].channel, "%s", channel);
    e->routes[e->nroutes++].dlg = d;
    return 0;
}

int engine_add_dialog(engine_t *e, const dlg_def_t *d)
{
    if (e->ndialogs == ENGINE_MAX_DIALOGS)
        return KB_ERR_BUSY;
    e->dialogs[e->ndialogs++] = d;
    return 0;
}

void engine_set_outbox_hook(engine_t *e, engine_outbox_hook fn, void *ctx)
{
    e->hook = fn;
    e->hook_ctx = ctx;
}

int engine_start(engine_t *e)
{
    if (!e->ndialogs)
        return KB_ERR_INVAL;
    return uv_timer_start(&e->tick, on_tick, 10, 10);
}

void engine_stop(engine_t *e)
{
    e->stopping = 1;
    uv_timer_stop(&e->tick);
}

size_t engine_busy(const engine_t *e) { return e->jobs + e->intakes + (size_t)e->claiming + (size_t)e->timers_claiming; }

static void on_closed(uv_handle_t *h) { free(h->data); }

void engine_close(engine_t *e)
{
    e->stopping = 1;
    uv_close((uv_handle_t *)&e->tick, on_closed);
}

const char *engine_owner(const engine_t *e) { return e->owner; }
