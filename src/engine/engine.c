/* engine.c — the dialog engine (see engine.h): intake, claiming and leases, the liveness of processes, step
 * timeouts, and a job's lifecycle. The transition and the domain path's transaction are in engine_txn.c; the
 * commit to Redis and the replies' delivery in engine_out.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/rand.h>
#include "crash.h"
#include "engine_int.h"
#include "err.h"
#include "keys.h"
#include "log.h"

/* ---------------------------------------------------------------- scripts (each touches one hash tag) */

/* dedupe, the conversation's limits, and enqueue in one step: KEYS state, queue, lease, out; ARGV id, event,
 * seen_max, seen_ttl_ms, now_ms, state_ttl_ms, per_minute, per_day, owner, lease_ms. The recent ids live in the
 * state hash (fields seen, a JSON array newest first, and seen_at, the last intake): one key per conversation. They
 * are forgotten seen_ttl after the last intake; a conversation's first event creates its state with the state's
 * TTL. Limits (0: none): per minute a GCRA (field rl: its theoretical arrival time; a burst of per_minute, then one
 * every 60/per_minute s; an event over the limit counts too, up to two minutes ahead, so a flood stays out until it
 * stops), per UTC day a count (dd, dn). Over a limit the event goes no further; the first one over is replaced by
 * the command "/throttled <seconds until allowed>" so the customer hears it once (field told, cleared once the
 * conversation is back under its limit). An event that finds its conversation idle (no lease, nothing else queued,
 * no replies waiting) takes the lease for owner (unless owner is ""), so that the intake's process handles it at
 * once. Returns 0 duplicate, 1 queued, 2 over a limit and told, 3 over a limit, dropped, {4, state} queued and the
 * lease taken. */
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
    "if redis.call('RPUSH', KEYS[2], ARGV[2]) == 1 and ARGV[9] ~= '' and redis.call('EXISTS', KEYS[4]) == 0 and\n"
    "   redis.call('SET', KEYS[3], ARGV[9], 'NX', 'PX', ARGV[10]) then\n"
    "  return {4, redis.call('HGETALL', KEYS[1])}\n"
    "end\n"
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
/* keep a lease that is ours: KEYS lease; ARGV owner, lease_ms */
static const char *const lua_renew =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end\n"
    "return 0\n";
/* let go of a lease that is ours: KEYS lease; ARGV owner */
static const char *const lua_release =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end\n"
    "return 0\n";
/* take over the lease of a process that is gone (its liveness key expired): KEYS lease; ARGV dead owner, owner,
 * lease_ms */
static const char *const lua_steal =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 end\n"
    "return 0\n";

/* ---------------------------------------------------------------- helpers */

/* One claim in flight: the score it hid the members with. */
typedef struct {
    engine_t *e;
    char score[48];
} claim_t;

static void claim_tick(engine_t *e);

int64_t engine__now_ms(void)
{
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

uint32_t engine__fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h ? h : 1;
}

/* Runs a script with string arguments (keys first). */
int engine__eval(engine_t *e, const kv_script_t *s, int nkeys, int argc, const char **argv, kv_cb cb, void *data)
{
    size_t lens[64];
    if (argc > 64)
        return KB_ERR_INVAL;
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    return kv_eval(e->kv, s, nkeys, argc, argv, lens, cb, data);
}

/* The channel of a conversation key: "tg" of "tg:123". */
static void conv_channel(const char *conv, char *out, size_t size)
{
    size_t n = strcspn(conv, ":");
    snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), conv);
}

outbox_t *engine__sender(engine_t *e, const char *channel)
{
    return e->sender ? e->sender(e->sender_ctx, channel) : NULL;
}

/* ---------------------------------------------------------------- job lifecycle */

job_t *engine__job_new(engine_t *e, const char *conv, const char *score)
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
        keys_conv(j->k_state, sizeof j->k_state, conv, KEY_STATE) < 0 ||
        keys_conv(j->k_out, sizeof j->k_out, conv, KEY_OUT) < 0) {
        free(j);
        return NULL;
    }
    j->ack = "";
    snprintf(j->lease, sizeof j->lease, "%s/%llu", e->owner, (unsigned long long)++e->lease_seq);
    e->jobs++;
    return j;
}

/* Forgets the current event and transition (between two events of one conversation). */
void engine__job_reset(job_t *j)
{
    if (j->have_ev)
        event_free(&j->ev);
    j->have_ev = 0;
    cJSON_Delete(j->keep);
    cJSON_Delete(j->data);
    cJSON_Delete(j->held);
    j->keep = j->data = j->held = NULL;
    dlg_result_free(&j->res);
    for (int i = 0; i < j->nout; i++)
        engine__reply_free(&j->out[i]);
    j->nout = j->outi = j->delivered = j->give_up = 0;
    j->no_change = j->failed_once = j->fx = j->nreplies = j->unreachable = 0;
    j->txn = NULL;
    j->ack = "";
}

void engine__delivering(job_t *j, int on)
{
    engine_t *e = j->e;
    if (on && !j->delivering) {
        j->delivering = 1;
        j->deliver_since = uv_now(e->loop);
        j->dprev = NULL;
        j->dnext = e->delivering;
        if (e->delivering)
            e->delivering->dprev = j;
        e->delivering = j;
    } else if (!on && j->delivering) {
        j->delivering = 0;
        if (j->dprev)
            j->dprev->dnext = j->dnext;
        else
            e->delivering = j->dnext;
        if (j->dnext)
            j->dnext->dprev = j->dprev;
        j->dprev = j->dnext = NULL;
    }
}

static void free_job(uv_handle_t *h)
{
    job_t *j = h->data;
    free(h);
    free(j);
}

void engine__job_end(job_t *j)
{
    engine_t *e = j->e;
    engine__delivering(j, 0);
    engine__job_reset(j);
    if (j->again) /* the timer's handle goes first, then the job */
        uv_close((uv_handle_t *)j->again, free_job);
    else
        free(j);
    e->jobs--; /* the tick (every 10 ms) claims what is ready for the room this leaves */
}

/* Something failed (Postgres or Redis away, a conflict): let go of the lease and look again in a second. */
void engine__job_retry(job_t *j, const char *why)
{
    engine_t *e = j->e;
    metrics_inc(e->m_failures);
    log_warn("engine", "conversation event will be retried: %s", why);
    const char *rel[] = {j->k_lease, j->lease};
    engine__eval(e, &e->s_release, 1, 2, rel, NULL, NULL);
    char score[32];
    snprintf(score, sizeof score, "%lld", (long long)(engine__now_ms() + ENGINE_RETRY_MS));
    kv_command(e->kv, NULL, NULL, "ZADD %s %s %s", e->k_ready, score, j->conv);
    engine__job_end(j);
}

/* Reads the state fields of an HGETALL reply. */
void engine__load_state(job_t *j, const redisReply *h)
{
    int64_t until = 0;
    snprintf(j->dialog, sizeof j->dialog, "%s", j->e->dialogs[0]->name);
    for (int i = 0; i < j->e->nroutes; i++)
        if (!strcmp(j->e->routes[i].channel, j->channel))
            snprintf(j->dialog, sizeof j->dialog, "%s", j->e->routes[i].dlg->name);
    j->step[0] = j->last[0] = 0;
    j->version = 0;
    j->unreachable = 0;
    for (size_t i = 0; h && h->type == REDIS_REPLY_ARRAY && i + 1 < h->elements; i += 2) {
        const char *k = h->element[i]->str, *v = h->element[i + 1]->str;
        if (!k || !v)
            continue;
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
        else if (!strcmp(k, "unreach"))
            j->unreachable = 1;
    }
    if (!cJSON_IsObject(j->keep)) {
        cJSON_Delete(j->keep);
        j->keep = cJSON_CreateObject();
    }
    int64_t now = engine__now_ms();
    if (!cJSON_IsObject(j->data) || (j->step[0] && until && now > until)) {
        /* no data, or the unfinished step expired: back at rest, identity kept */
        cJSON_Delete(j->data);
        j->data = cJSON_CreateObject();
        if (until && now > until)
            j->step[0] = 0;
    }
}

/* ---------------------------------------------------------------- what a step said and answered */

const char *engine__said_text(const job_t *j, char *buf, size_t size)
{
    size_t sl = strlen(j->step);
    if (sl >= 4 && !strcmp(j->step + sl - 4, "code") && (j->ev.kind == EV_TEXT || j->ev.kind == EV_COMMAND))
        return "[code]";
    return event_said(&j->ev, buf, size);
}

cJSON *engine__effect_payload(const cJSON *fx, const char *name, cJSON *item)
{
    cJSON *payload = cJSON_Duplicate(fx, 1);
    cJSON_DeleteItemFromObject(payload, "type");
    cJSON_AddItemToObject(payload, name, item);
    return payload;
}

int64_t engine__reply_version(const job_t *j) { return j->no_change ? j->version : j->version + 1; }

/* ---------------------------------------------------------------- claiming */

/* The lease is someone else's: if its holder is gone (no liveness key), take it over at once, not after the
 * lease's expiry. */
typedef struct {
    job_t *j;
    char holder[96];               /* its lease value, "<owner>/<n>" */
    int owner_len;
} steal_t;

static void on_stolen(int err, const redisReply *r, void *data)
{
    job_t *j = data;
    if (err || r->type != REDIS_REPLY_INTEGER || r->integer != 1) {
        engine__job_end(j);
        return;
    }
    log_info("engine", "took over a conversation from a process that is gone");
    metrics_inc(j->e->m_taken);
    crash_point("lease_held");
    engine__next(j);
}

/* The conversation is held by a live process (or by one of our own jobs): look at it again within a quarter of a second,
 * not after our claim's lease time, so that a holder that dies now is replaced within its liveness key's life.
 * ZADD LT: an earlier mark stays. */
static void look_again(job_t *j)
{
    kv_command(j->e->kv, NULL, NULL, "ZADD %s LT %lld %s", j->e->k_ready, (long long)(engine__now_ms() + 250), j->conv);
    engine__job_end(j);
}

static void on_holder_alive(int err, const redisReply *r, void *data)
{
    steal_t *s = data;
    job_t *j = s->j;
    engine_t *e = j->e;
    if (err || r->type != REDIS_REPLY_INTEGER || r->integer != 0 || !e->alive_ok) { /* alive (or unknown) */
        free(s);
        look_again(j);
        return;
    }
    char lease_ms[16];
    snprintf(lease_ms, sizeof lease_ms, "%d", e->opt.lease_ms);
    const char *a[] = {j->k_lease, s->holder, j->lease, lease_ms};
    int rc = engine__eval(e, &e->s_steal, 1, 4, a, on_stolen, j);
    free(s);
    if (rc != 0)
        engine__job_end(j);
}

static void on_holder(int err, const redisReply *r, void *data)
{
    job_t *j = data;
    size_t ol = strlen(j->e->owner);
    if (err || r->type != REDIS_REPLY_STRING || r->len >= 96 || (r->len > ol && !strncmp(r->str, j->e->owner, ol) &&
                                                                 r->str[ol] == '/')) {
        look_again(j); /* gone meanwhile, or one of our own jobs has it */
        return;
    }
    steal_t *s = calloc(1, sizeof *s);
    if (!s) {
        engine__job_end(j);
        return;
    }
    s->j = j;
    memcpy(s->holder, r->str, r->len);
    s->owner_len = (int)strcspn(s->holder, "/");
    if (kv_command(j->e->kv, on_holder_alive, s, "EXISTS kb:{alive:%b}", s->holder, (size_t)s->owner_len) != 0) {
        free(s);
        engine__job_end(j);
    }
}

static void on_lease(int err, const redisReply *r, void *data)
{
    job_t *j = data;
    if (err || r->type != REDIS_REPLY_STATUS) { /* another process holds it: that one goes on, if it lives */
        if (err || kv_command(j->e->kv, on_holder, j, "GET %s", j->k_lease) != 0)
            engine__job_end(j);
        return;
    }
    crash_point("lease_held");
    engine__next(j);
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
            job_t *j = engine__job_new(e, r->element[i]->str, c->score);
            if (!j)
                continue;
            if (kv_command(e->kv, on_lease, j, "SET %s %s NX PX %d", j->k_lease, j->lease, e->opt.lease_ms) != 0)
                engine__job_end(j);
        }
    }
    free(c);
    if (n > 0 && !e->stopping)
        claim_tick(e);
}

/* Claims up to n due members of a schedule set (the ready conversations, or the due timeouts), hiding them from
 * other claimers for hide_ms: a ready conversation for ENGINE_SAFETY_MS (should its job's process die, another
 * looks at it soon, and takes the lease once the dead one's liveness key is gone), a timeout for the lease time.
 * The fraction makes our claim score unlike any intake's (whole milliseconds), so that a later conditional removal
 * only succeeds while nobody touched the member. busy is the flag that keeps one such claim in flight; the callback
 * clears it. */
static void sched_claim(engine_t *e, const char *key, size_t n, int hide_ms, kv_cb cb, int *busy)
{
    if (*busy || !kv_ready(e->kv))
        return;
    claim_t *c = malloc(sizeof *c);
    if (!c)
        return;
    c->e = e;
    int64_t now = engine__now_ms();
    char nows[24], room[24];
    snprintf(nows, sizeof nows, "%lld", (long long)now);
    snprintf(c->score, sizeof c->score, "%lld.5", (long long)(now + hide_ms));
    snprintf(room, sizeof room, "%zu", n);
    const char *a[] = {key, nows, c->score, room};
    *busy = 1;
    if (engine__eval(e, &e->s_claim, 1, 4, a, cb, c) != 0) {
        *busy = 0;
        free(c);
    }
}

/* Claims as many ready conversations as there is room for. */
static void claim_tick(engine_t *e)
{
    /* only once this process's liveness key is set: nobody may take a lease of ours for a dead one's */
    if (!e->stopping && e->alive_ok && e->jobs < (size_t)e->opt.concurrency)
        sched_claim(e, e->k_ready, (size_t)e->opt.concurrency - e->jobs, ENGINE_SAFETY_MS, on_claim, &e->claiming);
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
    if (engine__eval(t->e, &t->e->s_unclaim, 1, 3, a, on_timer_unclaimed, t) != 0)
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
                      .version = atoll(sep + 1), .ts_ms = engine__now_ms()};
        if (engine_intake(e, &ev, on_timer_intake, t) != 0)
            free(t);
    }
    free(c);
}

/* Moves due step timeouts into their conversations' queues, as events. */
static void timers_tick(engine_t *e)
{
    if (!e->stopping)
        sched_claim(e, e->k_timers, 100, e->opt.lease_ms, on_timers_claim, &e->timers_claiming);
}

/* Every 10 ms: look for ready conversations (other processes' intakes, safety marks, the leases of processes
 * gone); every 200 ms: due timeouts. */
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

/* This process is alive: its liveness key, renewed every third of its life. Another process takes over a lease
 * whose holder's key is gone (a kill -9 costs about ENGINE_ALIVE_MS, not a lease's expiry). */
static void on_alive_set(int err, const redisReply *r, void *data)
{
    engine_t *e = data;
    if (!err && r->type == REDIS_REPLY_STATUS)
        e->alive_ok = 1;
}

static void on_alive(uv_timer_t *t)
{
    engine_t *e = t->data;
    if (!kv_ready(e->kv))
        return;
    kv_command(e->kv, on_alive_set, e, "SET %s 1 PX %d", e->k_alive, ENGINE_ALIVE_MS);
    /* a job still handing replies to a channel (a slow provider, a rate limit's wait) keeps its lease */
    uint64_t now = uv_now(e->loop);
    char lease_ms[16];
    snprintf(lease_ms, sizeof lease_ms, "%d", e->opt.lease_ms);
    for (job_t *j = e->delivering; j; j = j->dnext)
        if (now - j->deliver_since >= (uint64_t)e->opt.lease_ms / 3) {
            const char *a[] = {j->k_lease, j->lease, lease_ms};
            engine__eval(e, &e->s_renew, 1, 3, a, NULL, NULL);
        }
}

/* ---------------------------------------------------------------- intake */

typedef struct {
    engine_t *e;
    engine_intake_cb cb;
    void *data;
    int is_new;
    char conv[128];
    char *json;                    /* the event as queued, kept when the intake takes the lease */
    char lease[96];                /* the lease value the intake takes the conversation with */
    job_t *job;                    /* the job the intake's lease starts, after the channel's answer */
} intake_t;

/* Answers the channel: the event is accepted (or not), and the intake is over; a lease the intake took starts its
 * job now. */
static void intake_done(intake_t *in, int err)
{
    engine_t *e = in->e;
    e->intakes--;
    in->cb(err, in->is_new, in->data);
    job_t *j = in->job;
    if (j && event_from_json(in->json, strlen(in->json), &j->ev) == 0) {
        j->have_ev = 1;
        j->started = metrics_now();
        j->started_ms = engine__now_ms();
        metrics_inc(e->m_fast);
        engine__transition(j);
    } else if (j) {
        engine__next(j);
    }
    free(in->json);
    free(in);
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
    snprintf(now, sizeof now, "%lld", (long long)engine__now_ms());
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

/* The intake took the conversation's lease: its job starts with the state the script read. A safety mark in the
 * ready set (due ENGINE_SAFETY_MS from now) lets another process find the conversation should this one die before
 * the job lets the lease go; the job takes the mark off when it ends. */
static void start_taken(intake_t *in, const redisReply *state)
{
    engine_t *e = in->e;
    char score[48];
    snprintf(score, sizeof score, "%lld", (long long)(engine__now_ms() + ENGINE_SAFETY_MS));
    job_t *j = engine__job_new(e, in->conv, score);
    if (!j) { /* cannot handle it here: the mark, due now, lets a claim find it */
        kv_command(e->kv, NULL, NULL, "ZADD %s %lld %s", e->k_ready, (long long)engine__now_ms(), in->conv);
        return;
    }
    kv_command(e->kv, NULL, NULL, "ZADD %s %s %s", e->k_ready, score, in->conv);
    snprintf(j->lease, sizeof j->lease, "%s", in->lease);
    engine__load_state(j, state);
    in->job = j;
    metrics_inc(e->m_events);
}

static void on_intake(int err, const redisReply *r, void *data)
{
    intake_t *in = data;
    engine_t *e = in->e;
    if (!err && r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->integer == 4) {
        crash_point("after_dedupe");
        in->is_new = 1;
        start_taken(in, r->element[1]);
        intake_done(in, 0);
        return;
    }
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
    char k_state[160], k_queue[160], k_lease[160], k_out[160];
    if (!ev->id || !ev->id[0] || strlen(ev->id) > 128 || !event_conv_valid(ev->conv))
        return KB_ERR_INVAL;
    if (keys_conv(k_state, sizeof k_state, ev->conv, KEY_STATE) < 0 ||
        keys_conv(k_queue, sizeof k_queue, ev->conv, KEY_QUEUE) < 0 ||
        keys_conv(k_lease, sizeof k_lease, ev->conv, KEY_LEASE) < 0 ||
        keys_conv(k_out, sizeof k_out, ev->conv, KEY_OUT) < 0)
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
    snprintf(in->lease, sizeof in->lease, "%s/%llu", e->owner, (unsigned long long)++e->lease_seq);
    char seen_max[16], seen_ttl[24], now[24], state_ttl[24], per_min[16], per_day[16], lease_ms[16];
    /* limits are for what people write: not staff groups, nor staff's or the engine's own events */
    int limited = strncmp(ev->conv, "staff:", 6) != 0 && ev->kind != EV_STAFF && ev->kind != EV_TIMEOUT &&
                  ev->kind != EV_CORE_RESULT;
    /* the intake's process takes an idle conversation itself, unless it is stopping, full, or must wait for
     * replicas first (then the ready set carries it, as before) */
    int take = !e->stopping && e->alive_ok && e->jobs < (size_t)e->opt.concurrency &&
               !(e->opt.wait_replicas > 0 && kv_mode_replicated(e->kv));
    snprintf(seen_max, sizeof seen_max, "%d", e->opt.seen_max);
    snprintf(seen_ttl, sizeof seen_ttl, "%lld", (long long)e->opt.seen_ttl_s * 1000);
    snprintf(now, sizeof now, "%lld", (long long)engine__now_ms());
    snprintf(state_ttl, sizeof state_ttl, "%lld", (long long)e->opt.state_ttl_s * 1000);
    snprintf(per_min, sizeof per_min, "%d", limited ? e->opt.per_minute : 0);
    snprintf(per_day, sizeof per_day, "%d", limited ? e->opt.per_day : 0);
    snprintf(lease_ms, sizeof lease_ms, "%d", e->opt.lease_ms);
    const char *a[] = {k_state, k_queue, k_lease, k_out, ev->id, json, seen_max, seen_ttl, now, state_ttl,
                       per_min, per_day, take ? in->lease : "", lease_ms};
    int rc = engine__eval(e, &e->s_intake, 4, 14, a, on_intake, in);
    if (rc) {
        free(json);
        free(in);
        return rc;
    }
    in->json = json;
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
    for (char *h = host; *h; h++) /* the owner is part of a key name: no braces, no spaces */
        if (*h == '{' || *h == '}' || *h == ' ')
            *h = '_';
    snprintf(e->owner, sizeof e->owner, "%.20s:%d:%02x%02x%02x%02x%02x%02x", host, (int)getpid(), rnd[0], rnd[1],
             rnd[2], rnd[3], rnd[4], rnd[5]);
    snprintf(e->k_alive, sizeof e->k_alive, "kb:{alive:%s}", e->owner);
    keys_sched(e->k_ready, sizeof e->k_ready, "ready");
    keys_sched(e->k_timers, sizeof e->k_timers, "timers");
    kv_script_init(&e->s_intake, lua_intake);
    kv_script_init(&e->s_claim, lua_claim);
    kv_script_init(&e->s_unclaim, lua_unclaim);
    kv_script_init(&e->s_release, lua_release);
    kv_script_init(&e->s_steal, lua_steal);
    kv_script_init(&e->s_renew, lua_renew);
    engine__txn_prepare(e);
    engine__out_prepare(e);
    uv_timer_init(loop, &e->tick);
    e->tick.data = e;
    uv_timer_init(loop, &e->alive);
    e->alive.data = e;
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
    e->m_fast = metrics_counter("kb_engine_taken_at_intake_total", "Conversations the intake's process took at once",
                                "");
    e->m_taken = metrics_counter("kb_engine_takeovers_total", "Leases taken over from a process that was gone", "");
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

void engine_set_sender(engine_t *e, engine_sender_fn fn, void *ctx)
{
    e->sender = fn;
    e->sender_ctx = ctx;
}

int engine_start(engine_t *e)
{
    if (!e->ndialogs)
        return KB_ERR_INVAL;
    uv_timer_start(&e->alive, on_alive, 0, ENGINE_ALIVE_MS / 3);
    return uv_timer_start(&e->tick, on_tick, 10, 10);
}

void engine_stop(engine_t *e)
{
    e->stopping = 1;
    uv_timer_stop(&e->tick);
    engine__said_flush(e);
}

size_t engine_busy(const engine_t *e)
{
    return e->jobs + e->intakes + (size_t)e->claiming + (size_t)e->timers_claiming + (size_t)e->said_n +
           (size_t)e->said_writing;
}

static void on_closed(uv_handle_t *h)
{
    engine_t *e = h->data;
    cJSON_Delete(e->said);
    free(e);
}

static void on_said_closed(uv_handle_t *h) { uv_close((uv_handle_t *)&((engine_t *)h->data)->tick, on_closed); }

static void on_alive_closed(uv_handle_t *h)
{
    engine_t *e = h->data;
    uv_close((uv_handle_t *)&e->said_timer, on_said_closed);
}

void engine_close(engine_t *e)
{
    e->stopping = 1;
    uv_close((uv_handle_t *)&e->alive, on_alive_closed);
}

const char *engine_owner(const engine_t *e) { return e->owner; }
