/* kv.c — the Redis client (see kv.h): connection state machine, request bookkeeping, timeouts, scripts. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>
#include <hiredis/async.h>
#include "config.h"
#include "err.h"
#include "keys.h"
#include "kv.h"
#include "kv_uv.h"
#include "log.h"
#include "metrics.h"

typedef enum { KV_DOWN, KV_CONNECTING, KV_UP, KV_CLOSING } kv_state_t;

typedef struct kv_req_s {
    struct kv_req_s *prev, *next;  /* the in-flight list, oldest first */
    kv_t *kv;
    kv_cb cb;
    void *data;
    uint64_t sent_ms;
    int timed_out;
    int internal;                  /* health check, AUTH, SELECT: no user callback */
    const kv_script_t *script;     /* set for kv_eval, to re-send as EVAL on NOSCRIPT */
    int argc;                      /* the EVALSHA arguments after the sha, copied */
    char **argv;
    size_t *argvlen;
} kv_req_t;

struct kv_s {
    uv_loop_t *loop;
    redisAsyncContext *ac;
    kv_state_t state;
    char host[64], password[256];
    int port, db, timeout_ms;
    uv_timer_t tick;               /* every 100 ms: deadlines, health checks, reconnects */
    uint64_t connect_started, next_attempt, last_ping_sent, last_pong;
    int backoff_ms, ping_inflight, handles_open;
    kv_req_t head;                 /* sentinel of the in-flight list */
    size_t npending;
    metrics_series_t *m_cmds, *m_errors, *m_latency, *m_reconnects, *m_reloads, *m_up;
};

static void on_reply(redisAsyncContext *ac, void *r, void *privdata);
static void send_ping(kv_t *kv);

/* ---------------------------------------------------------------- requests */

/* Makes a request record and links it at the tail of the in-flight list. */
static kv_req_t *req_new(kv_t *kv, kv_cb cb, void *data)
{
    kv_req_t *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->kv = kv;
    q->cb = cb;
    q->data = data;
    q->sent_ms = uv_now(kv->loop);
    q->prev = kv->head.prev;
    q->next = &kv->head;
    kv->head.prev->next = q;
    kv->head.prev = q;
    kv->npending++;
    return q;
}

/* Unlinks and frees a request. */
static void req_free(kv_req_t *q)
{
    q->prev->next = q->next;
    q->next->prev = q->prev;
    q->kv->npending--;
    for (int i = 0; i < q->argc; i++)
        free(q->argv[i]);
    free(q->argv);
    free(q->argvlen);
    free(q);
}

/* ---------------------------------------------------------------- connection */

/* Forgets the current connection: from here on the loop tick will try again after the backoff. Called both when
 * hiredis reports the loss (it frees the context itself) and when we drop it (then we free it). */
static void conn_lost(kv_t *kv, const char *why, int free_it)
{
    redisAsyncContext *ac = kv->ac;
    if (!ac)
        return;
    kv->ac = NULL;
    if (kv->state == KV_UP)
        log_warn("kv", "redis %s:%d connection lost: %s", kv->host, kv->port, why);
    if (kv->state != KV_CLOSING)
        kv->state = KV_DOWN;
    metrics_set(kv->m_up, 0);
    kv->ping_inflight = 0;
    kv->next_attempt = uv_now(kv->loop) + (uint64_t)kv->backoff_ms;
    kv->backoff_ms = kv->backoff_ms * 2 > 1000 ? 1000 : kv->backoff_ms * 2;
    if (free_it)
        redisAsyncFree(ac); /* runs every pending callback with a NULL reply */
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    kv_t *kv = ac->data;
    if (kv->ac == ac)
        conn_lost(kv, ac->errstr[0] ? ac->errstr : "closed by server", 0);
}

/* Connected, or failed to: on failure hiredis frees the context right after this returns. Never disconnect here. */
static void on_connect(const redisAsyncContext *ac, int status)
{
    kv_t *kv = ac->data;
    if (kv->ac != ac)
        return;
    if (status != REDIS_OK) {
        log_debug("kv", "redis %s:%d connect failed: %s", kv->host, kv->port, ac->errstr);
        conn_lost(kv, ac->errstr, 0);
        return;
    }
    kv->state = KV_UP;
    kv->backoff_ms = 50;
    kv->last_pong = uv_now(kv->loop);
    metrics_set(kv->m_up, 1);
    metrics_inc(kv->m_reconnects);
    log_info("kv", "redis %s:%d connected", kv->host, kv->port);
}

/* Starts one connection attempt. */
static void conn_start(kv_t *kv)
{
    redisAsyncContext *ac = redisAsyncConnect(kv->host, kv->port);
    kv->next_attempt = uv_now(kv->loop) + (uint64_t)kv->backoff_ms;
    if (!ac)
        return;
    if (ac->err || kv__uv_attach(ac, kv->loop) != 0) {
        log_debug("kv", "redis %s:%d connect failed: %s", kv->host, kv->port, ac->errstr);
        redisAsyncFree(ac);
        kv->backoff_ms = kv->backoff_ms * 2 > 1000 ? 1000 : kv->backoff_ms * 2;
        return;
    }
    ac->data = kv;
    kv->ac = ac;
    kv->state = KV_CONNECTING;
    kv->connect_started = uv_now(kv->loop);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    /* AUTH and SELECT go first in the pipeline; an error reply to either drops the connection (see on_reply). */
    kv_req_t *q;
    if (kv->password[0] && (q = req_new(kv, NULL, NULL))) {
        q->internal = 1;
        redisAsyncCommand(ac, on_reply, q, "AUTH %s", kv->password);
    }
    if (kv->db && (q = req_new(kv, NULL, NULL))) {
        q->internal = 1;
        redisAsyncCommand(ac, on_reply, q, "SELECT %d", kv->db);
    }
}

/* The 100 ms tick: a connect that takes too long or a command past its deadline drops the connection; a health
 * check goes out every second; a lost connection is retried when its backoff has passed. */
static void on_tick(uv_timer_t *t)
{
    kv_t *kv = t->data;
    uint64_t now = uv_now(kv->loop);
    if (kv->state == KV_CONNECTING && kv->ac && now - kv->connect_started > (uint64_t)kv->timeout_ms) {
        log_debug("kv", "redis %s:%d connect timed out", kv->host, kv->port);
        conn_lost(kv, "connect timeout", 1);
    }
    kv_req_t *oldest = kv->head.next;
    if (kv->state == KV_UP && oldest != &kv->head && now - oldest->sent_ms > (uint64_t)kv->timeout_ms) {
        oldest->timed_out = 1;
        conn_lost(kv, "command timed out", 1);
    }
    if (kv->state == KV_UP && !kv->ping_inflight && now - kv->last_ping_sent >= 1000)
        send_ping(kv);
    if (kv->state == KV_DOWN && now >= kv->next_attempt)
        conn_start(kv);
}

/* ---------------------------------------------------------------- replies */

/* Re-sends a script as EVAL with its source after Redis said NOSCRIPT (it restarted or was flushed). */
static int resend_as_eval(kv_req_t *q)
{
    kv_t *kv = q->kv;
    int argc = q->argc + 2;
    const char **argv = malloc(sizeof *argv * (size_t)argc);
    size_t *lens = malloc(sizeof *lens * (size_t)argc);
    if (!argv || !lens) {
        free(argv);
        free(lens);
        return KB_ERR_NOMEM;
    }
    argv[0] = "EVAL";
    lens[0] = 4;
    argv[1] = q->script->src;
    lens[1] = strlen(q->script->src);
    for (int i = 0; i < q->argc; i++) {
        argv[i + 2] = q->argv[i];
        lens[i + 2] = q->argvlen[i];
    }
    /* move the request to the tail: it is now the newest in flight */
    q->prev->next = q->next;
    q->next->prev = q->prev;
    q->prev = kv->head.prev;
    q->next = &kv->head;
    kv->head.prev->next = q;
    kv->head.prev = q;
    q->sent_ms = uv_now(kv->loop);
    int rc = redisAsyncCommandArgv(kv->ac, on_reply, q, argc, argv, lens) == REDIS_OK ? 0 : KB_ERR_NOTCONN;
    free(argv);
    free(lens);
    metrics_inc(kv->m_reloads);
    return rc;
}

/* Every reply (or NULL when the connection is going away) comes here and goes on to its caller. */
static void on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    kv_req_t *q = privdata;
    kv_t *kv = q->kv;
    redisReply *reply = r;
    int err = 0;
    if (!reply)
        err = q->timed_out ? KB_ERR_TIMEOUT : kv->state == KV_CLOSING ? KB_ERR_CANCELED : KB_ERR_CONNRESET;
    else if (reply->type == REDIS_REPLY_ERROR) {
        if (q->script && kv->ac == ac && strncmp(reply->str, "NOSCRIPT", 8) == 0 && resend_as_eval(q) == 0)
            return;
        err = KB_ERR_IO;
    }
    if (q->internal) {
        if (err == KB_ERR_IO) {
            log_error("kv", "redis %s:%d refused the connection setup: %s", kv->host, kv->port, reply->str);
            req_free(q);
            if (kv->ac == ac)
                redisAsyncDisconnect(ac);
            return;
        }
        if (!err && reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "PONG") == 0) {
            kv->last_pong = uv_now(kv->loop);
            kv->ping_inflight = 0;
        }
        req_free(q);
        return;
    }
    metrics_observe(kv->m_latency, (double)(uv_now(kv->loop) - q->sent_ms) / 1000.0);
    if (err)
        metrics_inc(kv->m_errors);
    kv_cb cb = q->cb;
    void *data = q->data;
    req_free(q);
    if (cb)
        cb(err, err == 0 || err == KB_ERR_IO ? reply : NULL, data);
}

/* A health check: PING through the same pipeline, so it is subject to the same deadline. */
static void send_ping(kv_t *kv)
{
    kv_req_t *q = req_new(kv, NULL, NULL);
    if (!q)
        return;
    q->internal = 1;
    kv->ping_inflight = 1;
    kv->last_ping_sent = uv_now(kv->loop);
    redisAsyncCommand(kv->ac, on_reply, q, "PING");
}

/* ---------------------------------------------------------------- public */

/* Parses a redis:// URL into its parts. */
int kv_parse_url(const char *url, char *host, int *port, char *password, int *db)
{
    if (strncmp(url, "redis://", 8) != 0)
        return KB_ERR_INVAL;
    const char *p = url + 8;
    password[0] = 0;
    *db = 0;
    *port = 6379;
    const char *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon) {
            size_t n = (size_t)(at - colon - 1);
            if (n >= 256)
                return KB_ERR_INVAL;
            memcpy(password, colon + 1, n);
            password[n] = 0;
        }
        p = at + 1;
    }
    char hostport[128];
    size_t n = strcspn(p, "/");
    if (n == 0 || n >= sizeof hostport)
        return KB_ERR_INVAL;
    memcpy(hostport, p, n);
    hostport[n] = 0;
    if (p[n] == '/' && p[n + 1]) {
        char *end;
        long d = strtol(p + n + 1, &end, 10);
        if (*end || d < 0 || d > 1000)
            return KB_ERR_INVAL;
        *db = (int)d;
    }
    if (!strchr(hostport, ':') || (hostport[0] == '[' && hostport[n - 1] == ']')) {
        if (n + 6 >= sizeof hostport)
            return KB_ERR_INVAL;
        strcat(hostport, ":6379");
    }
    int rc = cfg_parse_hostport(hostport, host, 64, port);
    return rc;
}

int kv_new(uv_loop_t *loop, const char *url, int timeout_ms, kv_t **out)
{
    kv_t *kv = calloc(1, sizeof *kv);
    if (!kv)
        return KB_ERR_NOMEM;
    if (kv_parse_url(url, kv->host, &kv->port, kv->password, &kv->db)) {
        free(kv);
        return KB_ERR_INVAL;
    }
    kv->loop = loop;
    kv->timeout_ms = timeout_ms;
    kv->backoff_ms = 50;
    kv->head.next = kv->head.prev = &kv->head;
    uv_timer_init(loop, &kv->tick);
    kv->tick.data = kv;
    kv->handles_open = 1;
    kv->m_cmds = metrics_counter("kb_redis_commands_total", "Redis commands sent", "");
    kv->m_errors = metrics_counter("kb_redis_errors_total", "Redis commands that failed (error reply, timeout, reset)", "");
    kv->m_latency = metrics_histogram("kb_redis_latency_seconds", "Redis command round trip", "");
    kv->m_reconnects = metrics_counter("kb_redis_connects_total", "Redis connections made", "");
    kv->m_reloads = metrics_counter("kb_redis_script_reloads_total", "Scripts re-sent with EVAL after NOSCRIPT", "");
    kv->m_up = metrics_gauge("kb_redis_up", "1 while the Redis connection is up", "");
    *out = kv;
    return 0;
}

int kv_start(kv_t *kv)
{
    conn_start(kv);
    return uv_timer_start(&kv->tick, on_tick, 100, 100);
}

static void on_tick_closed(uv_handle_t *h) { free(h->data); }

void kv_close(kv_t *kv)
{
    kv->state = KV_CLOSING;
    if (kv->ac) {
        redisAsyncContext *ac = kv->ac;
        kv->ac = NULL;
        redisAsyncFree(ac);
    }
    uv_close((uv_handle_t *)&kv->tick, on_tick_closed);
}

int kv_ready(const kv_t *kv)
{
    return kv->state == KV_UP && uv_now(kv->loop) - kv->last_pong < (uint64_t)kv->timeout_ms + 1000;
}

size_t kv_pending(const kv_t *kv) { return kv->npending; }

int kv_command_argv(kv_t *kv, kv_cb cb, void *data, int argc, const char **argv, const size_t *argvlen)
{
    if (kv->state != KV_UP)
        return KB_ERR_NOTCONN;
    kv_req_t *q = req_new(kv, cb, data);
    if (!q)
        return KB_ERR_NOMEM;
    if (redisAsyncCommandArgv(kv->ac, on_reply, q, argc, argv, argvlen) != REDIS_OK) {
        req_free(q);
        return KB_ERR_NOTCONN;
    }
    metrics_inc(kv->m_cmds);
    return 0;
}

int kv_command(kv_t *kv, kv_cb cb, void *data, const char *fmt, ...)
{
    if (kv->state != KV_UP)
        return KB_ERR_NOTCONN;
    kv_req_t *q = req_new(kv, cb, data);
    if (!q)
        return KB_ERR_NOMEM;
    va_list ap;
    va_start(ap, fmt);
    int rc = redisvAsyncCommand(kv->ac, on_reply, q, fmt, ap);
    va_end(ap);
    if (rc != REDIS_OK) {
        req_free(q);
        return KB_ERR_NOTCONN;
    }
    metrics_inc(kv->m_cmds);
    return 0;
}

void kv_script_init(kv_script_t *s, const char *src)
{
    unsigned char md[SHA_DIGEST_LENGTH];
    s->src = src;
    SHA1((const unsigned char *)src, strlen(src), md);
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
        snprintf(s->sha + 2 * i, 3, "%02x", md[i]);
}

int kv_eval(kv_t *kv, const kv_script_t *s, int nkeys, int argc, const char **argv, const size_t *argvlen, kv_cb cb,
            void *data)
{
    if (nkeys < 0 || nkeys > argc)
        return KB_ERR_INVAL;
    for (int i = 1; i < nkeys; i++)
        if (!keys_same_slot(argv[0], argvlen[0], argv[i], argvlen[i]))
            return KB_ERR_INVAL;
    if (kv->state != KV_UP)
        return KB_ERR_NOTCONN;
    kv_req_t *q = req_new(kv, cb, data);
    if (!q)
        return KB_ERR_NOMEM;
    /* keep numkeys, keys and args for a possible EVAL re-send */
    q->script = s;
    q->argc = argc + 1;
    q->argv = calloc((size_t)q->argc, sizeof *q->argv);
    q->argvlen = calloc((size_t)q->argc, sizeof *q->argvlen);
    const char **full = malloc(sizeof *full * (size_t)(argc + 3));
    size_t *lens = malloc(sizeof *lens * (size_t)(argc + 3));
    int ok = q->argv && q->argvlen && full && lens;
    if (ok) {
        char nk[16];
        q->argvlen[0] = (size_t)snprintf(nk, sizeof nk, "%d", nkeys);
        q->argv[0] = strdup(nk);
        ok = q->argv[0] != NULL;
        for (int i = 0; ok && i < argc; i++) {
            q->argv[i + 1] = malloc(argvlen[i] + 1);
            ok = q->argv[i + 1] != NULL;
            if (ok) {
                memcpy(q->argv[i + 1], argv[i], argvlen[i]);
                q->argvlen[i + 1] = argvlen[i];
            }
        }
    }
    int rc = ok ? 0 : KB_ERR_NOMEM;
    if (ok) {
        full[0] = "EVALSHA";
        lens[0] = 7;
        full[1] = s->sha;
        lens[1] = 40;
        for (int i = 0; i < q->argc; i++) {
            full[i + 2] = q->argv[i];
            lens[i + 2] = q->argvlen[i];
        }
        if (redisAsyncCommandArgv(kv->ac, on_reply, q, q->argc + 2, full, lens) != REDIS_OK)
            rc = KB_ERR_NOTCONN;
    }
    free(full);
    free(lens);
    if (rc)
        req_free(q);
    else
        metrics_inc(kv->m_cmds);
    return rc;
}
