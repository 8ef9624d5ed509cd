/* engine.h — the dialog engine: durable intake, per-conversation order across processes, versioned state, effects.
 *
 * Intake (engine_intake) is one Lua script on the conversation's keys: it checks the event's external id against
 * the conversation's recent ids and, when new, records it and appends the event to the conversation's queue —
 * never one without the other. When the conversation was idle, the same script gives its lease to the intake's
 * process, which handles the event at once (a safety mark in kb:{sched}:ready, due a second later, lets another
 * process find it should this one die); otherwise the conversation is marked ready (also for a duplicate, so that
 * a crash between the two steps heals on the provider's retry). Only after the callback may a channel acknowledge
 * the provider.
 *
 * Workers in any number of processes claim ready conversations, take the conversation's lease (SET NX PX), and
 * handle its queue one event at a time. A process's leases die with it: each process keeps a liveness key
 * (kb:{alive:<owner>}, 1.2 s, renewed every 0.4 s), and a lease whose holder has none is taken over at once. For
 * each event the dialog runs, then one of two paths commits it:
 *   - fast: a step that changes nothing in the domain (its effects are replies, step timeouts and reads; the
 *     reads run as plain statements, on the replica when they may lag) — one Redis script sets the state on the
 *     version read, records the event as applied, takes it off the queue and puts the replies on the
 *     conversation's reply list (KEY_OUT); no Postgres write;
 *   - domain: one Postgres transaction keyed by (conversation, event id) in kb_applied — the core operations, the
 *     outbox rows of the replies (the conversation's own ones put with a hold), the resulting state, committed
 *     once, ever — then the same Redis script, with those rows as the replies.
 * Then the job hands the replies to their channel itself, in order (outbox_direct), and a last script takes them
 * off the list and the next event off the queue, or lets the lease go. A crash anywhere is healed by whoever holds
 * the lease next: replies left on the list are delivered first (at least once), an event still queued runs again
 * (the domain path finds its kb_applied row and reuses the stored state; the Redis script finds the version moved
 * or the event applied). Replies to channels that do not take direct deliveries, and everything sent to other
 * conversations, go through kb_outbox's claims (outbox.h). State lives in one hash per conversation with a sliding
 * TTL; an unfinished step resets after its own TTL. Step timeouts and buttons carry the state version: a stale
 * timeout is ignored, a stale button gets "this menu is out of date" and the current screen. */
#ifndef KB_ENGINE_H
#define KB_ENGINE_H

#include <stddef.h>
#include <uv.h>
#include "db.h"
#include "dialog.h"
#include "event.h"
#include "kv.h"

typedef struct engine_s engine_t;

typedef struct {
    int concurrency;       /* conversations handled at once by this process */
    int lease_ms;          /* how long a crashed holder can block a conversation */
    int state_ttl_s;       /* sliding TTL of a conversation's state */
    int step_ttl_s;        /* an unfinished step resets after this long without events */
    int seen_max;          /* external ids remembered per conversation for dedupe */
    int seen_ttl_s;        /* and for how long */
    int per_minute;        /* a conversation's events a minute at most (a burst of as many), 0: no limit */
    int per_day;           /* and a UTC day, 0: no limit */
    int wait_replicas;     /* with a replicated Redis: replicas an intake must reach before it is acknowledged */
    int wait_ms;           /* and how long to wait for them (then it is acknowledged anyway, and counted) */
} engine_options_t;

/* The intake's answer: err 0 and is_new 1 (queued) or 0 (a duplicate, already queued or handled). */
typedef void (*engine_intake_cb)(int err, int is_new, void *data);
/* Called after a transaction that wrote outbox rows for channel has committed (to wake that channel's sender). */
typedef void (*engine_outbox_hook)(void *ctx, const char *channel);
/* The sender that takes direct deliveries of channel's replies in this process (outbox_direct), or NULL: then the
 * conversation's replies go by the outbox's claims and every step is a domain step. */
typedef struct outbox_s *(*engine_sender_fn)(void *ctx, const char *channel);

/* Makes an engine on the loop's Redis and Postgres clients. */
int engine_new(uv_loop_t *loop, kv_t *kv, db_t *db, const engine_options_t *opt, engine_t **out);
/* Adds a dialog; the first one is the one a new conversation starts in. */
int engine_add_dialog(engine_t *e, const dlg_def_t *d);
/* Adds a dialog in which every new conversation of channel ("staff" of "staff:-100…:7") starts. */
int engine_route(engine_t *e, const char *channel, const dlg_def_t *d);
/* Sets the hook run after commits that wrote outbox rows. */
void engine_set_outbox_hook(engine_t *e, engine_outbox_hook fn, void *ctx);
/* Sets how the engine finds the sender of a conversation's replies (see engine_sender_fn). */
void engine_set_sender(engine_t *e, engine_sender_fn fn, void *ctx);
/* Starts claiming work (and moving due step timeouts into their queues). */
int engine_start(engine_t *e);
/* Stops claiming; conversations in hand are finished. */
void engine_stop(engine_t *e);
/* Conversations in hand plus intakes in flight. */
size_t engine_busy(const engine_t *e);
/* Frees the engine once stopped and idle (keep running the loop to let its timers close). */
void engine_close(engine_t *e);

/* Durably accepts an event (see above). Returns 0 (callback follows) or a negative error such as KB_ERR_NOTCONN
 * when Redis is down — then the channel must not acknowledge. */
int engine_intake(engine_t *e, const event_t *ev, engine_intake_cb cb, void *data);
/* This process's worker id (used as the lease owner). */
const char *engine_owner(const engine_t *e);

#endif
