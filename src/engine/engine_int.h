/* engine_int.h — internal to the engine (engine.c, engine_txn.c, engine_out.c); nothing else includes it.
 *
 * A job is one conversation held by this process's lease: it takes the queue's head, runs the dialog, commits the
 * transition (the fast path: one Redis script; the domain path: a Postgres transaction, then that script), hands
 * the replies to their channel in order (engine_out.c), and goes on with the next head until the queue and the
 * replies are both empty, when it lets the lease go. */
#ifndef KB_ENGINE_INT_H
#define KB_ENGINE_INT_H

#include <stdint.h>
#include <cjson/cJSON.h>
#include "engine.h"
#include "metrics.h"
#include "outbox.h"

#define ENGINE_MAX_DIALOGS 16
#define ENGINE_MAX_EFFECTS 32
#define ENGINE_RETRY_MS 1000
#define ENGINE_MAX_OUT 32          /* replies of one step delivered by the job (more go by the outbox's claims) */
#define ENGINE_HOLD_S 60           /* a domain step's reply rows are the job's for this long (then a claim's) */
#define ENGINE_ALIVE_MS 1200       /* a process's liveness key lives this long, renewed every third of it */
#define ENGINE_SAFETY_MS 1000      /* a conversation taken at intake is looked at by others after this long */
#define ENGINE_NEXT_TRIES 20       /* the next-event script is asked again (500 ms apart) while Redis is away */

typedef struct job_s job_t;

/* One reply the job hands to its channel: from the conversation's reply list (KEY_OUT). */
typedef struct {
    int64_t id;                    /* its kb_outbox row (a domain step's reply), or 0 (a fast step's) */
    char *channel, *event_id;
    int seq;
    cJSON *payload;
} engine_reply_t;

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
    } routes[4];                   /* a new conversation of this channel starts in that dialog */
    int nroutes;
    kv_script_t s_intake, s_claim, s_unclaim, s_commit, s_next, s_release, s_steal, s_renew;
    job_t *delivering;             /* jobs handing replies to channels now */
    const db_stmt_t *q_applied_ins, *q_applied_get, *q_applied_set, *q_audit_ins, *q_reachable, *q_held, *q_said;
    uv_timer_t tick, alive;
    int claiming, timers_claiming, stopping, closed;
    int alive_ok;                  /* our liveness key is set: we may take leases */
    size_t jobs, intakes;
    uint64_t last_timer_poll;
    char owner[64], k_ready[32], k_timers[32], k_alive[96];
    uint64_t lease_seq;            /* numbers the jobs' lease values */
    engine_outbox_hook hook;
    void *hook_ctx;
    engine_sender_fn sender;
    void *sender_ctx;
    /* fast steps' history (what was said, what was answered), written to kb_applied in batches */
    cJSON *said;
    int said_n, said_writing;
    uv_timer_t said_timer;
    metrics_series_t *m_events, *m_dups, *m_latency, *m_conflicts, *m_failures, *m_stale, *m_throttled,
        *m_unreplicated, *m_fast, *m_taken;
};

struct job_s {
    engine_t *e;
    char conv[128], channel[32], score[48];
    char lease[96];                /* this job's lease value: "<owner>/<n>", so that two jobs of one process for one
                                    * conversation (a stale one still retrying) can never both hold it */
    char k_lease[160], k_queue[160], k_state[160], k_out[160];
    event_t ev;
    int have_ev;
    /* the state as read */
    char dialog[48], step[48], last[160];
    cJSON *keep, *data;
    int64_t version;
    int unreachable;               /* the state says the channel could not reach this chat: a domain step */
    /* the transition in progress */
    const dlg_def_t *dlg;
    dlg_result_t res;
    int no_change;                 /* a stale button or a refused event: replies only, state unchanged */
    int failed_once;               /* the transition failed for good once: now only an apology is tried */
    int fx, nreplies;
    db_txn_t *txn;
    double started;
    int64_t started_ms;
    /* the replies the job delivers (engine_out.c), and the reply rows a domain step put with a hold */
    engine_reply_t out[ENGINE_MAX_OUT];
    int nout, outi, delivered, give_up;
    cJSON *held;                   /* [{id, seq, payload}] of this event's own-channel replies */
    const char *ack;               /* the event id the next script takes off the queue ("" none) */
    /* while delivering: in the engine's list, whose leases the liveness timer renews */
    job_t *dprev, *dnext;
    int delivering;
    uint64_t deliver_since;
    uv_timer_t *again;             /* asking the next-event script again (Redis away), or NULL */
    int next_tries;
};

/* engine.c */
int64_t engine__now_ms(void);
uint32_t engine__fnv1a(const char *s);
int engine__eval(engine_t *e, const kv_script_t *s, int nkeys, int argc, const char **argv, kv_cb cb, void *data);
job_t *engine__job_new(engine_t *e, const char *conv, const char *score);
void engine__job_reset(job_t *j);
void engine__job_end(job_t *j);
void engine__job_retry(job_t *j, const char *why);
void engine__load_state(job_t *j, const redisReply *h);
/* What the customer said with this event, for the card staff see (a code typed where one was asked is "[code]");
 * buf holds it when it is built there. */
const char *engine__said_text(const job_t *j, char *buf, size_t size);
/* An effect as an outbox or reply-list payload: its fields less "type", plus name = item (ownership passes). */
cJSON *engine__effect_payload(const cJSON *fx, const char *name, cJSON *item);
/* The state version a reply's buttons belong to: the new one, or the one read when the step changes nothing. */
int64_t engine__reply_version(const job_t *j);
/* The sender of channel's replies when this process runs it and it takes direct deliveries, or NULL. */
outbox_t *engine__sender(engine_t *e, const char *channel);

/* engine_txn.c: the transition (dialog) and the domain path's transaction */
void engine__transition(job_t *j);
void engine__txn_prepare(engine_t *e);
/* The transition was committed in Postgres before (a crash came before Redis): commit it to Redis now. */
void engine__applied_again(job_t *j);

/* engine_out.c: committing to Redis, delivering replies, the next head */
void engine__out_prepare(engine_t *e);
/* Commits the transition to Redis (state, the event off the queue, replies onto the reply list), then delivers. */
void engine__commit(job_t *j);
/* Takes `ack` off the queue and the delivered replies off the list, then the next head (or lets the lease go). */
void engine__next(job_t *j);
/* Arms the step timeouts the transition asked for, tagged with version. */
void engine__arm_timeouts(job_t *j, int64_t version);
/* A fast step's history for kb_applied (written in batches). */
void engine__said(job_t *j, int64_t version);
void engine__said_flush(engine_t *e);
void engine__reply_free(engine_reply_t *r);
/* Puts j on (on 1) or takes it off the list of jobs delivering. */
void engine__delivering(job_t *j, int on);

#endif
