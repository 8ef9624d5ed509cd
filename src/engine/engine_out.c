/* engine_out.c — a job's commit to Redis and its replies (see engine.h): one script sets the state on the version
 * read, takes the event off the queue and puts the step's replies on the conversation's reply list (KEY_OUT), all
 * on the conversation's hash tag; then the job hands the replies to their channel in order (outbox_direct) and,
 * with one more script, takes them off the list and the next event off the queue, or lets the lease go. A process
 * that dies between the two leaves the replies on the list: whoever takes the lease next delivers them first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "crash.h"
#include "engine_int.h"
#include "err.h"
#include "keys.h"
#include "log.h"

/* ---------------------------------------------------------------- scripts (each touches one hash tag) */

/* The commit: KEYS lease, queue, state, out; ARGV owner, lease_ms, expected version, change (1: the new state;
 * 0: only the event marked applied), dialog, step, keep, data, event id, updated, ttl_ms, until, n, reply 1…n.
 * Returns {-2} when the lease is not ours, {-1} when the version moved (the event runs again on fresh state), else
 * {version, events queued}. */
static const char *const lua_commit =
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {-2} end\n"
    "local v = tonumber(redis.call('HGET', KEYS[3], 'version') or '0')\n"
    "if v ~= tonumber(ARGV[3]) then return {-1} end\n"
    "if ARGV[4] == '1' then\n"
    "  v = v + 1\n"
    "  redis.call('HSET', KEYS[3], 'dialog', ARGV[5], 'step', ARGV[6], 'keep', ARGV[7], 'data', ARGV[8],"
    "   'version', v, 'last', ARGV[9], 'updated', ARGV[10], 'until', ARGV[12])\n"
    "  redis.call('HDEL', KEYS[3], 'unreach')\n"
    "else\n"
    "  redis.call('HSET', KEYS[3], 'last', ARGV[9])\n"
    "end\n"
    "redis.call('PEXPIRE', KEYS[3], ARGV[11])\n"
    "local head = redis.call('LINDEX', KEYS[2], 0)\n"
    "if head and cjson.decode(head).id == ARGV[9] then redis.call('LPOP', KEYS[2]) end\n"
    "local n = tonumber(ARGV[13])\n"
    "for i = 1, n do redis.call('RPUSH', KEYS[4], ARGV[13 + i]) end\n"
    "if n > 0 then redis.call('PEXPIRE', KEYS[4], ARGV[11]) end\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "return {v, redis.call('LLEN', KEYS[2])}\n";
/* What next: KEYS lease, queue, out, state; ARGV owner, lease_ms, replies delivered, event id to take off the queue
 * ("" none), the first delivered reply's event id and seq. The delivered replies leave the list first — if they are
 * still its head, also when the lease went meanwhile (Redis was away): they are not sent again. Returns nil when
 * the lease is not ours; {0} when nothing is left (the lease let go); else {1, queue head or "", the state, the
 * replies still on the list}. */
static const char *const lua_next =
    "local d = tonumber(ARGV[3])\n"
    "if d > 0 then\n"
    "  local first = redis.call('LINDEX', KEYS[3], 0)\n"
    "  if first then\n"
    "    local f = cjson.decode(first)\n"
    "    if f.ev == ARGV[5] and tonumber(f.seq) == tonumber(ARGV[6]) then redis.call('LTRIM', KEYS[3], d, -1) end\n"
    "  end\n"
    "end\n"
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end\n"
    "local head = redis.call('LINDEX', KEYS[2], 0)\n"
    "if head and ARGV[4] ~= '' and cjson.decode(head).id == ARGV[4] then\n"
    "  redis.call('LPOP', KEYS[2])\n"
    "  head = redis.call('LINDEX', KEYS[2], 0)\n"
    "end\n"
    "local out = redis.call('LRANGE', KEYS[3], 0, 31)\n"
    "if not head and #out == 0 then redis.call('DEL', KEYS[1]) return {0} end\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "return {1, head or '', redis.call('HGETALL', KEYS[4]), out}\n";

static void deliver_next(job_t *j);

/* ---------------------------------------------------------------- replies */

void engine__reply_free(engine_reply_t *r)
{
    free(r->channel);
    free(r->event_id);
    cJSON_Delete(r->payload);
    memset(r, 0, sizeof *r);
}

/* A reply as the list keeps it: {"id", "ev", "seq", "ch", "p"}. */
static char *reply_json(int64_t id, const char *event_id, int seq, const char *channel, const cJSON *payload)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)id);
    cJSON_AddStringToObject(o, "ev", event_id);
    cJSON_AddNumberToObject(o, "seq", seq);
    cJSON_AddStringToObject(o, "ch", channel);
    cJSON_AddItemToObject(o, "p", cJSON_Duplicate(payload, 1));
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* Reads one reply of the list into r: 0, or -1 when it is not one. */
static int reply_parse(const char *s, size_t len, engine_reply_t *r)
{
    cJSON *o = cJSON_ParseWithLength(s, len);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id"), *seq = cJSON_GetObjectItemCaseSensitive(o, "seq");
    const char *ev = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "ev")),
               *ch = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "ch"));
    cJSON *p = cJSON_DetachItemFromObjectCaseSensitive(o, "p");
    int ok = cJSON_IsNumber(id) && cJSON_IsNumber(seq) && ev && ch && cJSON_IsObject(p);
    if (ok) {
        r->id = (int64_t)id->valuedouble;
        r->seq = seq->valueint;
        r->event_id = strdup(ev);
        r->channel = strdup(ch);
        r->payload = p;
        p = NULL;
        ok = r->event_id && r->channel;
    }
    cJSON_Delete(p);
    cJSON_Delete(o);
    if (!ok)
        engine__reply_free(r);
    return ok ? 0 : -1;
}

/* One reply was delivered (or given up): the next, or, after the last, what comes next. */
static void on_delivered(void *data, outbox_result_t r)
{
    job_t *j = data;
    if (r == OUTBOX_LATER) { /* stopping: the rest stay on the list, for whoever has the conversation next */
        engine__delivering(j, 0);
        engine__next(j);
        return;
    }
    j->delivered++;
    if (r == OUTBOX_GIVE_UP) /* the chat cannot be reached: the rest of its replies go with this one */
        j->give_up = 1;
    deliver_next(j);
}

/* Hands the next reply to its channel; after the last, takes them off the list and goes on. A draining process
 * still delivers what it committed (within the drain's time); a channel that cannot send any more answers LATER,
 * and the rest stay on the list for whoever has the conversation next. */
static void deliver_next(job_t *j)
{
    while (j->outi < j->nout) {
        engine_reply_t *r = &j->out[j->outi++];
        outbox_t *o = j->give_up ? NULL : engine__sender(j->e, r->channel);
        if (!o) { /* not ours to send here (or given up): a row goes by the outbox's claims when its hold ends */
            j->delivered++;
            continue;
        }
        outbox_msg_t m = {r->id, j->conv, r->event_id, 0, 0, r->seq, r->payload};
        engine__delivering(j, 1);
        if (outbox_direct(o, &m, on_delivered, j) == 0)
            return;
        j->outi--;
        break; /* out of memory: the rest stay on the list for the next try */
    }
    engine__delivering(j, 0);
    engine__next(j);
}

/* ---------------------------------------------------------------- commit */

void engine__arm_timeouts(job_t *j, int64_t version)
{
    cJSON *fx;
    cJSON_ArrayForEach(fx, j->res.effects)
    {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(fx, "type");
        const cJSON *ms = cJSON_GetObjectItemCaseSensitive(fx, "after_ms");
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "timeout") || !cJSON_IsNumber(ms))
            continue;
        char score[32], member[200];
        snprintf(score, sizeof score, "%lld", (long long)(engine__now_ms() + (int64_t)ms->valuedouble));
        snprintf(member, sizeof member, "%s\x1f%lld", j->conv, (long long)version);
        kv_command(j->e->kv, NULL, NULL, "ZADD %s %s %s", j->e->k_timers, score, member);
    }
}

static void on_commit(int err, const redisReply *r, void *data)
{
    job_t *j = data;
    engine_t *e = j->e;
    if (err || r->type != REDIS_REPLY_ARRAY || r->elements < 1) {
        engine__job_retry(j, "commit to redis failed");
        return;
    }
    long long v = r->element[0]->integer;
    if (v == -2) { /* the lease went to another process: it goes on from here */
        engine__job_end(j);
        return;
    }
    if (v == -1) { /* someone changed the state since we read it: run the event again on fresh state */
        metrics_inc(e->m_conflicts);
        engine__job_reset(j);
        engine__next(j);
        return;
    }
    crash_point("after_cas");
    metrics_inc(e->m_events);
    int fast = !j->held && !j->txn && j->nreplies == 0;
    if (!j->no_change)
        engine__arm_timeouts(j, v);
    if (fast)
        engine__said(j, v);
    metrics_observe(e->m_latency, metrics_now() - j->started);
    j->ack = "";
    j->delivered = 0;
    j->outi = 0;
    deliver_next(j);
}

/* The replies this step delivers: a fast step's (to the list with id 0), or the rows a domain step put with a
 * hold. Fills j->out and the script's arguments. */
static int gather_replies(job_t *j, const char **argv, char **owned, int room)
{
    int n = 0;
    if (j->held) {
        const cJSON *row;
        cJSON_ArrayForEach(row, j->held)
        {
            if (n == room || n == ENGINE_MAX_OUT)
                break;
            engine_reply_t *r = &j->out[n];
            r->id = (int64_t)cJSON_GetObjectItem(row, "id")->valuedouble;
            r->seq = cJSON_GetObjectItem(row, "seq")->valueint;
            r->channel = strdup(j->channel);
            r->event_id = strdup(j->ev.id);
            r->payload = cJSON_Duplicate(cJSON_GetObjectItem(row, "payload"), 1);
            owned[n] = reply_json(r->id, r->event_id, r->seq, r->channel, r->payload);
            argv[n] = owned[n];
            n++;
        }
        return n;
    }
    if (j->txn || j->nreplies) /* a domain step whose replies go by the outbox's claims */
        return 0;
    const cJSON *fx;
    int seq = 0;
    cJSON_ArrayForEach(fx, j->res.effects)
    {
        const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(fx, "type"));
        if (!t || strcmp(t, "reply") || n == room || n == ENGINE_MAX_OUT)
            continue;
        engine_reply_t *r = &j->out[n];
        /* the version its buttons belong to */
        cJSON *payload = engine__effect_payload(fx, "ver", cJSON_CreateNumber((double)engine__reply_version(j)));
        r->id = 0;
        r->seq = seq++;
        r->channel = strdup(j->channel);
        r->event_id = strdup(j->ev.id);
        r->payload = payload;
        owned[n] = reply_json(0, r->event_id, r->seq, r->channel, r->payload);
        argv[n] = owned[n];
        n++;
    }
    return n;
}

void engine__commit(job_t *j)
{
    engine_t *e = j->e;
    const char *argv[17 + ENGINE_MAX_OUT];
    char *owned[ENGINE_MAX_OUT] = {0};
    int n = gather_replies(j, argv + 17, owned, ENGINE_MAX_OUT);
    j->nout = n;
    char *keep = cJSON_PrintUnformatted(j->res.keep), *data = cJSON_PrintUnformatted(j->res.data);
    char lease_ms[16], expected[24], updated[24], ttl[24], until[24], count[16];
    int64_t now = engine__now_ms();
    snprintf(lease_ms, sizeof lease_ms, "%d", e->opt.lease_ms);
    snprintf(expected, sizeof expected, "%lld", (long long)j->version);
    snprintf(updated, sizeof updated, "%lld", (long long)now);
    snprintf(ttl, sizeof ttl, "%lld", (long long)e->opt.state_ttl_s * 1000);
    snprintf(until, sizeof until, "%lld", j->res.step[0] ? (long long)(now + (int64_t)e->opt.step_ttl_s * 1000) : 0LL);
    snprintf(count, sizeof count, "%d", n);
    const char *head[] = {j->k_lease, j->k_queue, j->k_state, j->k_out, j->lease, lease_ms, expected,
                          j->no_change ? "0" : "1", j->dlg->name, j->res.step, keep ? keep : "{}",
                          data ? data : "{}", j->ev.id, updated, ttl, until, count};
    memcpy(argv, head, sizeof head);
    int rc = engine__eval(e, &e->s_commit, 4, 17 + n, argv, on_commit, j);
    free(keep);
    free(data);
    for (int i = 0; i < n; i++)
        free(owned[i]);
    if (rc)
        engine__job_retry(j, "redis unavailable for the commit");
}

/* ---------------------------------------------------------------- the next head */

static void on_unclaimed(int err, const redisReply *r, void *data) { engine__job_end(data); }

static void on_next_again(uv_timer_t *t) { engine__next(t->data); }

/* Redis away for a moment: ask the next-event script again in half a second (for ten seconds), rather than let
 * the lease go with delivered replies still on the list, which whoever comes next would send again. */
static void next_later(job_t *j)
{
    engine_t *e = j->e;
    if (!j->again && (j->again = malloc(sizeof *j->again))) {
        uv_timer_init(e->loop, j->again);
        j->again->data = j;
    }
    if (++j->next_tries < ENGINE_NEXT_TRIES && !e->stopping && j->again) {
        uv_timer_start(j->again, on_next_again, 500, 0);
        return;
    }
    j->next_tries = 0;
    engine__job_retry(j, "redis unavailable for the next event");
}

static void on_next(int err, const redisReply *r, void *data)
{
    job_t *j = data;
    engine_t *e = j->e;
    if (err) {
        next_later(j);
        return;
    }
    j->next_tries = 0;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1) { /* the lease is not ours any more */
        engine__job_end(j);
        return;
    }
    engine__job_reset(j);
    if (r->element[0]->integer == 0) { /* nothing left: off the ready set, unless someone marked it since */
        const char *a[] = {e->k_ready, j->conv, j->score};
        if (engine__eval(e, &e->s_unclaim, 1, 3, a, on_unclaimed, j) != 0)
            engine__job_end(j);
        return;
    }
    if (r->elements < 4) {
        engine__job_retry(j, "unexpected answer of the next-event script");
        return;
    }
    const redisReply *head = r->element[1], *state = r->element[2], *out = r->element[3];
    if (e->stopping) { /* leave it to another process (or this one's successor): marked ready, lease let go */
        const char *rel[] = {j->k_lease, j->lease};
        kv_command(e->kv, NULL, NULL, "ZADD %s %lld %s", e->k_ready, (long long)engine__now_ms(), j->conv);
        engine__eval(e, &e->s_release, 1, 2, rel, NULL, NULL);
        engine__job_end(j);
        return;
    }
    if (out->type == REDIS_REPLY_ARRAY && out->elements > 0) {
        /* replies a process committed but did not deliver (it died, or stopped): first, in order */
        for (size_t i = 0; i < out->elements && j->nout < ENGINE_MAX_OUT; i++)
            if (reply_parse(out->element[i]->str, out->element[i]->len, &j->out[j->nout]) == 0)
                j->nout++;
            else
                j->delivered++; /* not a reply: it leaves the list */
        deliver_next(j);
        return;
    }
    j->started = metrics_now();
    j->started_ms = engine__now_ms();
    if (event_from_json(head->str, head->len, &j->ev) != 0) {
        /* a malformed event can never be handled: it leaves the queue, loudly */
        log_error("engine", "dropping a malformed queued event (%zu bytes)", head->len);
        kv_command(e->kv, NULL, NULL, "LPOP %s", j->k_queue); /* we hold the lease: the head is ours */
        engine__next(j);
        return;
    }
    j->have_ev = 1;
    engine__load_state(j, state);
    engine__transition(j);
}

void engine__next(job_t *j)
{
    char lease_ms[16], delivered[16], seq[16];
    snprintf(lease_ms, sizeof lease_ms, "%d", j->e->opt.lease_ms);
    snprintf(delivered, sizeof delivered, "%d", j->nout > 0 ? j->delivered : 0);
    snprintf(seq, sizeof seq, "%d", j->nout > 0 ? j->out[0].seq : 0);
    const char *a[] = {j->k_lease, j->k_queue, j->k_out, j->k_state, j->lease, lease_ms, delivered,
                       j->ack ? j->ack : "", j->nout > 0 && j->out[0].event_id ? j->out[0].event_id : "", seq};
    if (engine__eval(j->e, &j->e->s_next, 4, 10, a, on_next, j) != 0)
        next_later(j);
}

/* ---------------------------------------------------------------- a fast step's history */

/* The history staff see on an appeal's card (what was said, what was answered) is kb_applied; a fast step writes
 * it off its path, in batches (one statement per 50 ms at most, through the pool that commits asynchronously):
 * losing the last of it in a crash loses lines of that card, never a transition. */
static void said_write(engine_t *e);

static void on_said_written(int err, PGresult *res, void *data)
{
    engine_t *e = data;
    e->said_writing = 0;
    if (err)
        log_warn("engine", "could not write fast steps' history (%s)", db_sqlstate(res));
    if (e->said_n)
        said_write(e);
}

static void said_write(engine_t *e)
{
    if (e->said_writing || !e->said_n)
        return;
    char *rows = cJSON_PrintUnformatted(e->said);
    cJSON_Delete(e->said);
    e->said = NULL;
    e->said_n = 0;
    if (!rows)
        return;
    const char *p[] = {rows};
    e->said_writing = db_exec(outbox_bookkeeping(e->db), 0, e->q_said, 1, p, on_said_written, e) == 0;
    free(rows);
}

static void on_said_timer(uv_timer_t *t) { said_write(t->data); }

void engine__said_flush(engine_t *e) { said_write(e); }

void engine__said(job_t *j, int64_t version)
{
    engine_t *e = j->e;
    if (j->ev.kind == EV_TIMEOUT || e->said_n >= 5000)
        return;
    char said[320];
    const char *what = engine__said_text(j, said, sizeof said);
    cJSON *row = cJSON_CreateObject(), *replies = cJSON_CreateArray();
    cJSON_AddStringToObject(row, "conv", j->conv);
    cJSON_AddStringToObject(row, "event_id", j->ev.id);
    cJSON_AddNumberToObject(row, "version", (double)version);
    cJSON_AddStringToObject(row, "worker", e->owner);
    cJSON_AddNumberToObject(row, "started", (double)j->started_ms / 1000.0);
    if (what)
        cJSON_AddStringToObject(row, "said", what);
    for (int i = 0; i < j->nout; i++)
        cJSON_AddItemToArray(replies, cJSON_Duplicate(j->out[i].payload, 1));
    cJSON_AddItemToObject(row, "replies", replies);
    if (!e->said)
        e->said = cJSON_CreateArray();
    cJSON_AddItemToArray(e->said, row);
    e->said_n++;
    if (!e->said_writing && !uv_is_active((uv_handle_t *)&e->said_timer))
        uv_timer_start(&e->said_timer, on_said_timer, 50, 0);
}

void engine__out_prepare(engine_t *e)
{
    kv_script_init(&e->s_commit, lua_commit);
    kv_script_init(&e->s_next, lua_next);
    uv_timer_init(e->loop, &e->said_timer);
    e->said_timer.data = e;
    e->q_said = db_prepare(outbox_bookkeeping(e->db),
        "INSERT INTO kb_applied (conv, event_id, version, state, worker, started_at, applied_at, said, replies) "
        "SELECT r.conv, r.event_id, r.version, '{}', r.worker, to_timestamp(r.started), now(), r.said, r.replies "
        "FROM jsonb_to_recordset($1::jsonb) AS r(conv text, event_id text, version bigint, worker text, "
        "started double precision, said text, replies jsonb) ON CONFLICT (conv, event_id) DO NOTHING");
}
