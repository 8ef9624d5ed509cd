/* outbox.c — claiming, delivering and settling outbox rows (see outbox.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/rand.h>
#include "err.h"
#include "log.h"
#include "metrics.h"
#include "outbox.h"

struct outbox_s {
    uv_loop_t *loop;
    db_t *db;
    char channel[32];
    outbox_deliver_fn fn;
    void *ctx;
    outbox_options_t opt;
    const db_stmt_t *q_claim, *q_retry, *q_later, *q_dead, *q_give_up, *q_renew;
    uv_timer_t poll;
    outbox_ticket_t *held;         /* deliveries in flight, whose claims the poll timer renews */
    uint64_t renewed_at;
    int stopping, claiming[2], again[2];
    size_t direct;                 /* outbox_direct deliveries in flight */
    const db_stmt_t *q_marks;      /* the batched marks: rows sent (claimed, or held and delivered directly), dead */
    int64_t *marks_sent, *marks_dead;
    size_t nsent, ndead, capsent, capdead;
    int64_t *flight;               /* the batch being written: its sent ids, then its dead ones (again on failure) */
    size_t flight_sent, flight_dead;
    int marking, mark_fails;
    int claim_after_marks[2];      /* a claimed row of this lane was marked sent: its conversation's next may be due */
    uv_timer_t mark_timer;
    int more[2];                   /* rows may be waiting that the last claim had no room for */
    size_t inflight[2];
    metrics_series_t *m_sent, *m_retries, *m_dead, *m_lag;
};

struct outbox_ticket_s {
    outbox_t *o;
    outbox_ticket_t *prev, *next;
    int64_t id;
    int lane, attempts;
    double created;
    /* the outcome, kept to record it again when Postgres did not take it */
    outbox_result_t result;
    int retry_after_ms, settle_tries;
    char error[256];
    uv_timer_t *again;
    /* a direct delivery (outbox_direct): no claim; what to deliver again, and whom to tell */
    int direct;
    outbox_direct_cb cb;
    void *cb_data;
    char *conv, *event_id;
    int seq;
    cJSON *payload;
    uv_timer_t *wait;
};

static void direct_done(outbox_ticket_t *t, outbox_result_t r);

#define SETTLE_TRIES 20           /* recording an outcome is tried this often, 500 ms apart, while claims renew */

static void claim(outbox_t *o, int lane);
static void settle(outbox_ticket_t *t);
static void mark(outbox_t *o, int64_t id, int sent);
static int backoff_ms(int attempts);
static db_t *bookkeeping;         /* outbox_set_bookkeeping_db */

void outbox_set_bookkeeping_db(db_t *db) { bookkeeping = db; }

db_t *outbox_bookkeeping(db_t *fallback) { return bookkeeping ? bookkeeping : fallback; }

/* ---------------------------------------------------------------- putting */

int outbox_put(db_t *db, db_txn_t *txn, const outbox_put_t *m, db_cb cb, void *data)
{
    const db_stmt_t *put = db_prepare(db, "SELECT kb_outbox_put($1, $2, $3::int, $4, $5::int, $6::jsonb, $7::int)");
    char lane[8], seq[16], hold[16];
    if (!put || !m->conv || !m->channel || !m->event_id || !m->payload)
        return !put ? KB_ERR_NOMEM : KB_ERR_INVAL;
    snprintf(lane, sizeof lane, "%d", m->lane ? 1 : 0);
    snprintf(seq, sizeof seq, "%d", m->seq);
    snprintf(hold, sizeof hold, "%d", m->hold_s);
    const char *params[] = {m->conv, m->channel, lane, m->event_id, seq, m->payload, hold};
    return txn ? db_txn_exec(txn, put, 7, params, cb, data) : db_exec(db, 0, put, 7, params, cb, data);
}

static void free_timer(uv_handle_t *h) { free(h); }

static void on_settle_again(uv_timer_t *timer)
{
    outbox_ticket_t *t = timer->data;
    uv_close((uv_handle_t *)timer, free_timer);
    t->again = NULL;
    settle(t);
}

/* ---------------------------------------------------------------- settling */

/* A claimed delivery is over (its outcome recorded, or gathered for the next batch of marks): room again. */
static void ticket_end(outbox_ticket_t *t)
{
    outbox_t *o = t->o;
    o->inflight[t->lane]--;
    if (t->prev)
        t->prev->next = t->next;
    else
        o->held = t->next;
    if (t->next)
        t->next->prev = t->prev;
    free(t);
}

static void on_settled(int err, PGresult *res, void *data)
{
    outbox_ticket_t *t = data;
    outbox_t *o = t->o;
    if (err && err != KB_ERR_CANCELED && !o->stopping && ++t->settle_tries < SETTLE_TRIES &&
        (t->again = malloc(sizeof *t->again))) {
        /* Postgres away for a moment: record it again soon, rather than send it again after the claim */
        uv_timer_init(o->loop, t->again);
        t->again->data = t;
        uv_timer_start(t->again, on_settle_again, 500, 0);
        return;
    }
    if (err)
        log_warn("outbox", "%s: could not record a delivery (%s); it will be sent again after its claim expires",
                 o->channel, db_sqlstate(res));
    int lane = t->lane;
    ticket_end(t);
    claim(o, lane); /* room again, and the next message of this conversation may be claimable now */
}

void outbox_done(outbox_ticket_t *t, outbox_result_t r, int retry_after_ms, const char *error)
{
    if (t->direct) {
        t->retry_after_ms = retry_after_ms;
        snprintf(t->error, sizeof t->error, "%s", error ? error : "");
        direct_done(t, r);
        return;
    }
    t->result = r;
    t->retry_after_ms = retry_after_ms;
    snprintf(t->error, sizeof t->error, "%s", error ? error : "");
    settle(t);
}

/* Records the outcome kept in t (outbox_done). */
static void settle(outbox_ticket_t *t)
{
    outbox_t *o = t->o;
    outbox_result_t r = t->result;
    int retry_after_ms = t->retry_after_ms;
    const char *error = t->error[0] ? t->error : NULL;
    char id[24], ms[24];
    snprintf(id, sizeof id, "%lld", (long long)t->id);
    int rc;
    if (r == OUTBOX_RETRY && t->attempts >= o->opt.max_attempts) {
        r = OUTBOX_DEAD;
        error = error ? error : "too many attempts";
    }
    if (r == OUTBOX_LATER) {
        snprintf(ms, sizeof ms, "%d", retry_after_ms > 0 ? retry_after_ms : 0);
        const char *p[] = {id, ms};
        rc = db_exec(o->db, 0, o->q_later, 2, p, on_settled, t);
    } else if (r == OUTBOX_SENT) {
        /* "sent" joins the batch of marks (a statement per 5 ms at most, retried like a single one); the row keeps
         * its claim meanwhile, and its conversation's next row is looked for once the batch is written */
        metrics_inc(o->m_sent);
        metrics_observe(o->m_lag, metrics_now() - t->created);
        mark(o, t->id, 1);
        o->claim_after_marks[t->lane] = 1;
        ticket_end(t);
        return;
    } else if (r == OUTBOX_RETRY) {
        if (!t->settle_tries)
            metrics_inc(o->m_retries);
        if (retry_after_ms < 0)
            retry_after_ms = backoff_ms(t->attempts);
        snprintf(ms, sizeof ms, "%d", retry_after_ms);
        const char *p[] = {id, ms, error ? error : ""};
        rc = db_exec(o->db, 0, o->q_retry, 3, p, on_settled, t);
    } else {
        if (!t->settle_tries)
            metrics_inc(o->m_dead);
        const char *p[] = {id, error ? error : "unreachable"};
        rc = db_exec(o->db, 0, r == OUTBOX_GIVE_UP ? o->q_give_up : o->q_dead, 2, p, on_settled, t);
    }
    if (rc) /* Postgres away: tried again soon; if it stays away, the claim expires and the row goes again */
        on_settled(rc, NULL, t);
}

/* ---------------------------------------------------------------- direct deliveries */

/* A backoff for attempt n: 1 s, 2 s, 4 s … up to 5 min, with ±25 % jitter. */
static int backoff_ms(int attempts)
{
    unsigned int rnd = 0;
    RAND_bytes((unsigned char *)&rnd, sizeof rnd);
    int base = 1000 << (attempts < 9 ? (attempts > 0 ? attempts - 1 : 0) : 8);
    if (base > 300000)
        base = 300000;
    return base * 3 / 4 + (int)(rnd % (unsigned)(base / 2 + 1));
}

static void marks_flush(outbox_t *o);

static void on_mark_timer(uv_timer_t *timer);

static void on_marked(int err, PGresult *res, void *data)
{
    outbox_t *o = data;
    o->marking = 0;
    if (err && err != KB_ERR_CANCELED && !o->stopping && ++o->mark_fails < SETTLE_TRIES) {
        /* Postgres away for a moment: the batch goes again in 500 ms, rather than its rows go out twice */
        uv_timer_start(&o->mark_timer, on_mark_timer, 500, 0);
        for (size_t i = 0; i < o->flight_sent + o->flight_dead; i++)
            mark(o, o->flight[i], i < o->flight_sent);
    } else if (err) {
        log_warn("outbox", "%s: could not mark delivered rows (%s); they are sent again once their claim or hold "
                 "ends", o->channel, db_sqlstate(res));
    }
    if (!err)
        o->mark_fails = 0;
    free(o->flight);
    o->flight = NULL;
    o->flight_sent = o->flight_dead = 0;
    for (int lane = 0; lane < 2 && !err; lane++)
        if (o->claim_after_marks[lane]) {
            o->claim_after_marks[lane] = 0;
            claim(o, lane);
        }
    if ((o->nsent || o->ndead) && !uv_is_active((uv_handle_t *)&o->mark_timer))
        marks_flush(o);
}

/* Writes the marks gathered (one statement for all: sent, and dead), unless a batch is being written. */
static void marks_flush(outbox_t *o)
{
    if (o->marking || (!o->nsent && !o->ndead))
        return;
    char *sent = db_id_array(o->marks_sent, o->nsent), *dead = db_id_array(o->marks_dead, o->ndead);
    int64_t *flight = malloc((o->nsent + o->ndead) * sizeof *flight);
    if (!sent || !dead || !flight) {
        free(sent);
        free(dead);
        free(flight);
        uv_timer_start(&o->mark_timer, on_mark_timer, 500, 0); /* out of memory: the marks stay gathered */
        return;
    }
    if (o->nsent) /* (an array never grown is NULL: no copy from it) */
        memcpy(flight, o->marks_sent, o->nsent * sizeof *flight);
    if (o->ndead)
        memcpy(flight + o->nsent, o->marks_dead, o->ndead * sizeof *flight);
    o->flight = flight;
    o->flight_sent = o->nsent;
    o->flight_dead = o->ndead;
    o->nsent = o->ndead = 0;
    const char *p[] = {sent, dead};
    o->marking = 1;
    if (db_exec(o->db, 0, o->q_marks, 2, p, on_marked, o) != 0)
        on_marked(KB_ERR_IO, NULL, o);
    free(sent);
    free(dead);
}

static void on_mark_timer(uv_timer_t *timer) { marks_flush(timer->data); }

/* Remembers a held row's outcome for the next batch (written 5 ms later, or at once when one is not in flight). */
static void mark(outbox_t *o, int64_t id, int sent)
{
    int64_t **v = sent ? &o->marks_sent : &o->marks_dead;
    size_t *n = sent ? &o->nsent : &o->ndead, *cap = sent ? &o->capsent : &o->capdead;
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        int64_t *nv = realloc(*v, c * sizeof *nv);
        if (!nv)
            return; /* not marked: the row is held a minute, then sent again (at least once) */
        *v = nv;
        *cap = c;
    }
    (*v)[(*n)++] = id;
    if (!o->marking && !uv_is_active((uv_handle_t *)&o->mark_timer))
        uv_timer_start(&o->mark_timer, on_mark_timer, 5, 0);
}

static void direct_free(uv_handle_t *h)
{
    outbox_ticket_t *t = h->data;
    free(h);
    free(t->conv);
    free(t->event_id);
    cJSON_Delete(t->payload);
    free(t);
}

static void direct_deliver(outbox_ticket_t *t)
{
    outbox_msg_t m = {t->id, t->conv, t->event_id, t->lane, t->attempts, t->seq, t->payload};
    t->attempts++;
    t->o->fn(t->o->ctx, &m, t);
}

static void on_direct_wait(uv_timer_t *timer) { direct_deliver(timer->data); }

/* The channel answered a direct delivery: try again after a wait, or tell the caller how it ended. */
static void direct_done(outbox_ticket_t *t, outbox_result_t r)
{
    outbox_t *o = t->o;
    if (r == OUTBOX_RETRY && t->attempts >= o->opt.max_attempts)
        r = OUTBOX_DEAD;
    if ((r == OUTBOX_RETRY || r == OUTBOX_LATER) && !o->stopping) {
        if (r == OUTBOX_RETRY)
            metrics_inc(o->m_retries);
        else
            t->attempts--; /* a rate limit's wait is not an attempt */
        int ms = t->retry_after_ms >= 0 ? t->retry_after_ms : backoff_ms(t->attempts);
        uv_timer_start(t->wait, on_direct_wait, (uint64_t)ms, 0);
        return;
    }
    if (r == OUTBOX_RETRY || r == OUTBOX_LATER) /* stopping: it stays the conversation's to send (its lease ends) */
        r = OUTBOX_LATER;
    if (r == OUTBOX_SENT) {
        metrics_inc(o->m_sent);
        metrics_observe(o->m_lag, metrics_now() - t->created);
    } else if (r != OUTBOX_LATER) {
        metrics_inc(o->m_dead);
        if (t->error[0])
            log_warn("outbox", "%s: a reply was given up: %s", o->channel, t->error);
    }
    if (t->id > 0 && r != OUTBOX_LATER)
        mark(o, t->id, r == OUTBOX_SENT);
    o->direct--;
    t->cb(t->cb_data, r);
    uv_close((uv_handle_t *)t->wait, direct_free);
}

int outbox_direct(outbox_t *o, const outbox_msg_t *m, outbox_direct_cb cb, void *data)
{
    outbox_ticket_t *t = calloc(1, sizeof *t);
    if (!t)
        return KB_ERR_NOMEM;
    t->wait = malloc(sizeof *t->wait);
    t->conv = strdup(m->conv);
    t->event_id = strdup(m->event_id);
    t->payload = cJSON_Duplicate(m->payload, 1);
    if (!t->wait || !t->conv || !t->event_id || !t->payload) {
        free(t->wait);
        free(t->conv);
        free(t->event_id);
        cJSON_Delete(t->payload);
        free(t);
        return KB_ERR_NOMEM;
    }
    t->o = o;
    t->direct = 1;
    t->id = m->id;
    t->lane = m->lane;
    t->seq = m->seq;
    t->attempts = m->attempts;
    t->created = metrics_now();
    t->cb = cb;
    t->cb_data = data;
    uv_timer_init(o->loop, t->wait);
    t->wait->data = t;
    o->direct++;
    direct_deliver(t);
    return 0;
}

/* ---------------------------------------------------------------- claiming */

typedef struct {
    outbox_t *o;
    int lane, want;
} claim_req_t;

static void on_claimed(int err, PGresult *res, void *data)
{
    claim_req_t *c = data;
    outbox_t *o = c->o;
    int lane = c->lane, want = c->want;
    free(c);
    o->claiming[lane] = 0;
    int n = err ? 0 : PQntuples(res);
    o->more[lane] = err || n >= want; /* a full batch: there may be more */
    for (int i = 0; i < n; i++) {
        outbox_ticket_t *t = calloc(1, sizeof *t);
        cJSON *payload = cJSON_Parse(PQgetvalue(res, i, 5));
        if (!t || !payload) {
            free(t);
            cJSON_Delete(payload);
            continue;
        }
        t->o = o;
        t->id = atoll(PQgetvalue(res, i, 0));
        t->lane = lane;
        t->attempts = atoi(PQgetvalue(res, i, 4));
        t->created = metrics_now() - atof(PQgetvalue(res, i, 6));
        t->next = o->held;
        if (o->held)
            o->held->prev = t;
        o->held = t;
        o->inflight[lane]++;
        outbox_msg_t m = {t->id, PQgetvalue(res, i, 1), PQgetvalue(res, i, 2), lane, t->attempts,
                          atoi(PQgetvalue(res, i, 7)), payload};
        o->fn(o->ctx, &m, t);
        cJSON_Delete(payload);
    }
    if (o->more[lane] || o->again[lane])
        claim(o, lane);
}

/* Claims as many due rows of a lane as there is room for. */
static void claim(outbox_t *o, int lane)
{
    if (o->stopping)
        return;
    if (o->claiming[lane]) {
        o->again[lane] = 1;
        return;
    }
    int room = o->opt.inflight[lane] - (int)o->inflight[lane];
    if (room <= 0) { /* the next delivery to end claims */
        o->more[lane] = 1;
        return;
    }
    claim_req_t *c = malloc(sizeof *c);
    if (!c)
        return;
    c->o = o;
    c->lane = lane;
    c->want = room;
    char lanes[4], rooms[16], claim_s[16];
    snprintf(lanes, sizeof lanes, "%d", lane);
    snprintf(rooms, sizeof rooms, "%d", room);
    snprintf(claim_s, sizeof claim_s, "%d", o->opt.claim_s);
    const char *p[] = {o->channel, lanes, rooms, claim_s};
    o->claiming[lane] = 1;
    o->again[lane] = 0;
    if (db_exec(o->db, 0, o->q_claim, 4, p, on_claimed, c) != 0) {
        o->claiming[lane] = 0;
        free(c);
    }
}

void outbox_kick(outbox_t *o)
{
    claim(o, 0); /* a live reply waits for this; pushes (lane 1) are claimed by the poll (each claim is a query) */
}

static void on_renewed(int err, PGresult *res, void *data)
{
    if (err)
        log_warn("outbox", "%s: could not renew the claims in flight (%s)", ((outbox_t *)data)->channel,
                 db_sqlstate(res));
}

/* Renews the claims of the deliveries in flight (every third of claim_s), so that a claim can be short: a crashed
 * process's rows go to another after claim_s, while a slow delivery (a rate-limit wait) keeps its row. */
static void renew(outbox_t *o)
{
    uint64_t now = uv_now(o->loop);
    if (!o->held || now - o->renewed_at < (uint64_t)o->opt.claim_s * 1000 / 3)
        return;
    o->renewed_at = now;
    size_t n = 0; /* the held list is what is in flight */
    int64_t *held = malloc((o->inflight[0] + o->inflight[1]) * sizeof *held);
    if (!held)
        return;
    for (outbox_ticket_t *t = o->held; t && n < o->inflight[0] + o->inflight[1]; t = t->next)
        held[n++] = t->id;
    char *ids = db_id_array(held, n), claim_s[16];
    free(held);
    if (!ids)
        return;
    snprintf(claim_s, sizeof claim_s, "%d", o->opt.claim_s);
    const char *p[] = {ids, claim_s};
    db_exec(o->db, 0, o->q_renew, 2, p, on_renewed, o);
    free(ids);
}

static void on_poll(uv_timer_t *t)
{
    claim(t->data, 0);
    claim(t->data, 1);
    renew(t->data);
}

/* ---------------------------------------------------------------- public */

int outbox_new(uv_loop_t *loop, db_t *db, const char *channel, outbox_deliver_fn fn, void *ctx,
               const outbox_options_t *opt, outbox_t **out)
{
    outbox_t *o = calloc(1, sizeof *o);
    if (!o)
        return KB_ERR_NOMEM;
    o->loop = loop;
    o->db = db = bookkeeping ? bookkeeping : db;
    snprintf(o->channel, sizeof o->channel, "%s", channel);
    o->fn = fn;
    o->ctx = ctx;
    o->opt = *opt;
    o->q_claim = db_prepare(db,
        "UPDATE kb_outbox o SET claimed_until = now() + make_interval(secs => $4::int), "
        "attempts = o.attempts + 1 WHERE o.id IN ("
        " SELECT c.id FROM kb_outbox c WHERE c.channel = $1 AND c.lane = $2::smallint AND c.sent_at IS NULL"
        " AND NOT c.dead AND c.next_attempt_at <= now() AND (c.claimed_until IS NULL OR c.claimed_until < now())"
        " AND NOT EXISTS (SELECT 1 FROM kb_outbox p WHERE p.conv = c.conv AND p.lane = c.lane"
        "   AND p.sent_at IS NULL AND NOT p.dead AND p.id < c.id)"
        " ORDER BY c.next_attempt_at, c.id LIMIT $3::int FOR UPDATE SKIP LOCKED) "
        "RETURNING o.id, o.conv, o.event_id, o.lane, o.attempts, o.payload, "
        "extract(epoch FROM clock_timestamp() - o.created_at), o.seq");
    o->q_retry = db_prepare(db,
        "UPDATE kb_outbox SET claimed_until = NULL, last_error = $3, "
        "next_attempt_at = now() + make_interval(secs => $2::int / 1000.0) WHERE id = $1::bigint");
    o->q_later = db_prepare(db,
        "UPDATE kb_outbox SET claimed_until = NULL, attempts = greatest(attempts - 1, 0), "
        "next_attempt_at = now() + make_interval(secs => $2::int / 1000.0) WHERE id = $1::bigint");
    o->q_give_up = db_prepare(db,
        "UPDATE kb_outbox o SET dead = true, claimed_until = NULL, last_error = $2 FROM kb_outbox m "
        "WHERE m.id = $1::bigint AND o.conv = m.conv AND o.channel = m.channel AND o.sent_at IS NULL AND NOT o.dead");
    o->q_dead = db_prepare(db, "UPDATE kb_outbox SET dead = true, claimed_until = NULL, last_error = $2 "
                               "WHERE id = $1::bigint");
    o->q_marks = db_prepare(db,
        "UPDATE kb_outbox SET sent_at = CASE WHEN id = ANY($1::bigint[]) THEN now() END, dead = NOT (id = ANY($1::bigint[])),"
        " claimed_until = NULL WHERE (id = ANY($1::bigint[]) OR id = ANY($2::bigint[])) AND sent_at IS NULL");
    uv_timer_init(loop, &o->mark_timer);
    o->mark_timer.data = o;
    o->q_renew = db_prepare(db, "UPDATE kb_outbox SET claimed_until = now() + make_interval(secs => $2::int) "
                                "WHERE id = ANY($1::bigint[]) AND sent_at IS NULL AND claimed_until IS NOT NULL");
    uv_timer_init(loop, &o->poll);
    o->poll.data = o;
    char labels[64];
    snprintf(labels, sizeof labels, "channel=\"%s\"", o->channel);
    o->m_sent = metrics_counter("kb_outbox_sent_total", "Outbox messages delivered", labels);
    o->m_retries = metrics_counter("kb_outbox_retries_total", "Outbox deliveries to try again", labels);
    o->m_dead = metrics_counter("kb_outbox_dead_total", "Outbox messages given up (recipient unreachable)", labels);
    o->m_lag = metrics_histogram("kb_outbox_lag_seconds", "From outbox row to delivery", labels);
    *out = o;
    return 0;
}

int outbox_start(outbox_t *o) { return uv_timer_start(&o->poll, on_poll, 0, (uint64_t)o->opt.poll_ms); }

void outbox_stop(outbox_t *o)
{
    o->stopping = 1;
    uv_timer_stop(&o->poll);
}

size_t outbox_busy(const outbox_t *o)
{
    return o->inflight[0] + o->inflight[1] + (size_t)o->claiming[0] + (size_t)o->claiming[1] + o->direct +
           o->nsent + o->ndead + (size_t)o->marking;
}

static void on_closed(uv_handle_t *h)
{
    outbox_t *o = h->data;
    free(o->marks_sent);
    free(o->marks_dead);
    free(o->flight);
    free(o);
}

static void on_mark_timer_closed(uv_handle_t *h) { uv_close((uv_handle_t *)&((outbox_t *)h->data)->poll, on_closed); }

void outbox_close(outbox_t *o)
{
    o->stopping = 1;
    uv_close((uv_handle_t *)&o->mark_timer, on_mark_timer_closed);
}
