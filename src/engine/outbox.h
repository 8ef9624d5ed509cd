/* outbox.h — the durable sender: drains kb_outbox for one channel and hands each message to the channel.
 *
 * Two lanes: lane 0 (replies to a customer's own message) and lane 1 (pushes, broadcasts) are claimed and sent by
 * separate loops with separate limits, so a broadcast never delays a live reply. Within a lane, messages of one
 * conversation go strictly in order (a message is claimed only when no earlier one of its conversation is still
 * unsent), also across processes; claims expire, so a crashed sender's messages go out from another. The channel
 * answers each delivery with outbox_done: sent, retry (after a delay it may choose, e.g. Telegram's retry_after),
 * or dead (the recipient cannot be reached; never retried). Delivery is at least once. A delivery in flight keeps
 * its claim alive (renewed by the poll timer), so claims can be short and a crashed sender's rows move on soon; an
 * outcome Postgres could not record is recorded again (every 500 ms, 20 times) rather than the message sent twice. */
#ifndef KB_OUTBOX_H
#define KB_OUTBOX_H

#include <stdint.h>
#include <uv.h>
#include <cjson/cJSON.h>
#include "db.h"

/* ---------------------------------------------------------------- putting: the one way in
 *
 * Every message goes into kb_outbox through outbox_put (C) or the SQL function kb_outbox_put (sql/021, for core
 * statements and database functions; outbox_put calls it). Nothing else writes a row (tests/integration/
 * test_outbox_writer.sh fails on another writer). The contract, once:
 *  - lane: 0 for replies to what a customer just did, 1 for pushes and broadcasts (drained separately, see below);
 *  - channel: the outbox channel that drains it — a channel ("tg", "sms", "mail", "local", "staff") or a worker
 *    ("doc", "pay", "relay"); conv: the conversation it goes to (the worker's own key for a worker);
 *  - idempotence: (conv, event_id, seq) is the key; a second put with it changes nothing (a re-run step, a retried
 *    callback), and seq orders an event's replies;
 *  - ordering: within one conversation and lane, rows go out in the order they were put (id order), also across
 *    processes;
 *  - durability and wake-up: the row is as durable as the transaction it is put in; after the commit the writer
 *    wakes the lane's sender (the engine's outbox hook, server.c's lane table); otherwise a sender finds it at its
 *    next poll. */
typedef struct {
    const char *conv, *channel;
    int lane;
    const char *event_id;
    int seq;
    const char *payload;          /* JSON object: {tmpl, params, buttons, lang, …}, or a worker's job */
    int hold_s;                   /* > 0: the engine delivers it itself (outbox_direct); no claim takes it so long */
} outbox_put_t;

/* Puts m in the outbox inside txn, or (txn NULL) as a statement of its own on db. cb gets one row: the new id, or
 * NULL when the key was there already (see above). Returns 0 or a negative error (then cb is not called). */
int outbox_put(db_t *db, db_txn_t *txn, const outbox_put_t *m, db_cb cb, void *data);

/* ---------------------------------------------------------------- draining */

typedef struct outbox_s outbox_t;
typedef struct outbox_ticket_s outbox_ticket_t;

typedef struct {
    int64_t id;
    const char *conv, *event_id;
    int lane, attempts, seq;   /* seq: the reply's place among its event's replies (0 first) */
    const cJSON *payload;      /* {tmpl, params, buttons, ver} */
} outbox_msg_t;

/* LATER: not a failure (a rate limit said wait): tried again after the delay without counting an attempt.
 * GIVE_UP: the recipient cannot be reached: this message and every unsent one of its conversation are dead, in one
 * statement (so none of them is claimed in between). */
typedef enum { OUTBOX_SENT, OUTBOX_RETRY, OUTBOX_DEAD, OUTBOX_LATER, OUTBOX_GIVE_UP } outbox_result_t;

/* The channel's delivery function: send m, then call outbox_done(t, …) exactly once, now or later. */
typedef void (*outbox_deliver_fn)(void *ctx, const outbox_msg_t *m, outbox_ticket_t *t);

typedef struct {
    int inflight[2];           /* messages in delivery at once, per lane */
    int max_attempts;          /* then the message is dead */
    int poll_ms;               /* how often to look without a kick (other processes' rows, retries) */
    int claim_s;               /* a claimed row goes to another sender after this long without renewal (the poll
                                * renews the claims of deliveries in flight every claim_s / 3) */
} outbox_options_t;

int outbox_new(uv_loop_t *loop, db_t *db, const char *channel, outbox_deliver_fn fn, void *ctx,
               const outbox_options_t *opt, outbox_t **out);
/* Process-wide: claims and outcomes of the senders made after this go through db (a pool that commits with
 * synchronous_commit off: a Postgres crash may lose a claim, or a "sent" and so repeat a message — at least once
 * anyway — but never a message, whose row the engine commits durably). NULL: each sender's own pool. */
void outbox_set_bookkeeping_db(db_t *db);
/* The pool of that bookkeeping, or fallback when none is set. */
db_t *outbox_bookkeeping(db_t *fallback);
int outbox_start(outbox_t *o);
/* Looks for replies to send now (the engine calls it after a commit that wrote rows for this channel); pushes
 * (lane 1) are looked for by the poll, every poll_ms. */
void outbox_kick(outbox_t *o);
/* Reports a delivery. retry_after_ms < 0 picks exponential backoff with jitter (for RETRY). error may be NULL. */
void outbox_done(outbox_ticket_t *t, outbox_result_t r, int retry_after_ms, const char *error);
/* How a direct delivery ended: SENT, DEAD, GIVE_UP (the recipient cannot be reached), or LATER (the sender is
 * stopping: the message is still the caller's to deliver). */
typedef void (*outbox_direct_cb)(void *data, outbox_result_t r);
/* Delivers m now, outside the claim loop: the engine hands a conversation's replies to their channel this way,
 * in order, while the conversation's lease holds them (m->id 0: a reply kept in Redis; m->id > 0: a kb_outbox row
 * put with a hold, which no claim takes meanwhile). Retries with backoff up to max_attempts (a LATER waits without
 * counting) and calls cb once. A row's outcome (sent, dead) is written in batches, a statement per 5 ms at most
 * (so is "sent" of a claimed row: outbox_done).
 * Returns 0 or a negative error (then cb is not called). */
int outbox_direct(outbox_t *o, const outbox_msg_t *m, outbox_direct_cb cb, void *data);
/* Stops claiming; deliveries in flight finish. */
void outbox_stop(outbox_t *o);
/* Claims and deliveries in flight. */
size_t outbox_busy(const outbox_t *o);
/* Frees the sender once stopped and idle (keep running the loop). */
void outbox_close(outbox_t *o);

#endif
