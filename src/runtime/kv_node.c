/* kv_node.c — one connection to one Redis server (a data node or a Sentinel): connecting by IP, AUTH and SELECT
 * first in the pipeline, a PING health check every second, one deadline for every command (a server that stops
 * answering is treated as gone), and reconnecting with backoff. What a reply means is kv.c's business: every answer
 * goes to kv__on_reply, except the node's own setup and health checks. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/async.h>
#include "err.h"
#include "kv_int.h"
#include "kv_uv.h"
#include "log.h"

static void on_reply(redisAsyncContext *ac, void *r, void *privdata);

/* ---------------------------------------------------------------- in-flight list */

/* Links q at the tail of n's in-flight list. */
static void link_tail(kv_node_t *n, kv_req_t *q)
{
    q->node = n;
    q->prev = n->head.prev;
    q->next = &n->head;
    n->head.prev->next = q;
    n->head.prev = q;
    n->npending++;
}

/* Unlinks q from its node's list. */
static void unlink_req(kv_req_t *q)
{
    q->prev->next = q->next;
    q->next->prev = q->prev;
    q->prev = q->next = NULL;
    if (q->node)
        q->node->npending--;
    q->node = NULL;
}

/* Sends an internal command (setup, PING) that no caller waits for. */
static void send_internal(kv_node_t *n, int kind, const char *fmt, ...)
{
    char *cmd;
    va_list ap;
    va_start(ap, fmt);
    int len = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);
    if (len < 0)
        return;
    kv_req_t *q = kv__req_new(n->kv, NULL, NULL, cmd, (size_t)len, kind);
    if (q && kv__node_send(n, q) != 0)
        kv__req_free(q);
}

/* ---------------------------------------------------------------- connection */

/* Forgets the current connection; the tick tries again after the backoff. Called both when hiredis reports the loss
 * (it frees the context itself) and when we drop it (then we free it, which runs every pending callback). */
static void conn_lost(kv_node_t *n, const char *why, int free_it)
{
    redisAsyncContext *ac = n->ac;
    if (!ac)
        return;
    n->ac = NULL;
    int was_up = n->state == KV_UP;
    if (was_up)
        log_warn("kv", "redis %s:%d connection lost: %s", n->host, n->port, why);
    if (n->state != KV_CLOSING)
        n->state = KV_DOWN;
    n->ping_inflight = 0;
    n->next_attempt = uv_now(n->kv->loop) + (uint64_t)n->backoff_ms;
    n->backoff_ms = n->backoff_ms * 2 > 1000 ? 1000 : n->backoff_ms * 2;
    if (free_it)
        redisAsyncFree(ac);
    if (was_up && n->state != KV_CLOSING)
        kv__on_node_down(n);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    kv_node_t *n = ac->data;
    if (n->ac == ac)
        conn_lost(n, ac->errstr[0] ? ac->errstr : "closed by server", 0);
}

/* Connected, or failed to: on failure hiredis frees the context right after this returns. Never disconnect here. */
static void on_connect(const redisAsyncContext *ac, int status)
{
    kv_node_t *n = ac->data;
    if (n->ac != ac)
        return;
    if (status != REDIS_OK) {
        log_debug("kv", "redis %s:%d connect failed: %s", n->host, n->port, ac->errstr);
        conn_lost(n, ac->errstr, 0);
        return;
    }
    n->state = KV_UP;
    n->backoff_ms = 50;
    n->last_pong = uv_now(n->kv->loop);
    log_info("kv", "redis %s:%d connected%s", n->host, n->port, n->kind == KV_NODE_SENTINEL ? " (sentinel)" : "");
    kv__on_node_up(n);
}

/* Starts one connection attempt. AUTH and SELECT go first in the pipeline; an error reply to either drops the
 * connection (see on_reply). */
static void conn_start(kv_node_t *n)
{
    kv_t *kv = n->kv;
    redisAsyncContext *ac = redisAsyncConnect(n->host, n->port);
    n->next_attempt = uv_now(kv->loop) + (uint64_t)n->backoff_ms;
    if (!ac)
        return;
    if (ac->err || kv__uv_attach(ac, kv->loop) != 0) {
        log_debug("kv", "redis %s:%d connect failed: %s", n->host, n->port, ac->errstr);
        redisAsyncFree(ac);
        n->backoff_ms = n->backoff_ms * 2 > 1000 ? 1000 : n->backoff_ms * 2;
        return;
    }
    ac->data = n;
    n->ac = ac;
    n->state = KV_CONNECTING;
    n->connect_started = uv_now(kv->loop);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    if (n->kind == KV_NODE_DATA && kv->password[0])
        send_internal(n, KV_REQ_SETUP, "AUTH %s", kv->password);
    if (n->kind == KV_NODE_DATA && kv->db)
        send_internal(n, KV_REQ_SETUP, "SELECT %d", kv->db);
}

/* ---------------------------------------------------------------- replies */

/* Every answer on this connection (or NULL when it is going away). */
static void on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    kv_req_t *q = privdata;
    kv_node_t *n = q->node;
    redisReply *reply = r;
    int err = 0;
    if (!reply)
        err = q->timed_out ? KB_ERR_TIMEOUT : n->state == KV_CLOSING ? KB_ERR_CANCELED : KB_ERR_CONNRESET;
    else if (reply->type == REDIS_REPLY_ERROR)
        err = KB_ERR_IO;
    unlink_req(q);
    if (q->internal == KV_REQ_SETUP || q->internal == KV_REQ_PING) {
        if (err == KB_ERR_IO) {
            log_error("kv", "redis %s:%d refused the connection setup: %s", n->host, n->port, reply->str);
            if (n->ac == ac)
                redisAsyncDisconnect(ac);
        } else if (!err && q->internal == KV_REQ_PING) {
            n->last_pong = uv_now(n->kv->loop);
            n->ping_inflight = 0;
        }
        kv__req_free(q);
        return;
    }
    kv__on_reply(n, q, err, reply);
}

/* ---------------------------------------------------------------- internal API */

kv_node_t *kv__node_new(kv_t *kv, kv_node_kind_t kind, const char *host, int port)
{
    kv_node_t *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->kv = kv;
    n->kind = kind;
    snprintf(n->host, sizeof n->host, "%s", host);
    n->port = port;
    n->backoff_ms = 50;
    n->head.next = n->head.prev = &n->head;
    return n;
}

void kv__node_tick(kv_node_t *n, uint64_t now)
{
    int timeout = n->kv->timeout_ms;
    if (n->state == KV_CONNECTING && n->ac && now - n->connect_started > (uint64_t)timeout) {
        log_debug("kv", "redis %s:%d connect timed out", n->host, n->port);
        conn_lost(n, "connect timeout", 1);
    }
    kv_req_t *oldest = n->head.next;
    if (n->state == KV_UP && oldest != &n->head && now - oldest->sent_ms > (uint64_t)timeout) {
        oldest->timed_out = 1;
        conn_lost(n, "command timed out", 1);
    }
    if (n->state == KV_UP && !n->ping_inflight && now - n->last_ping_sent >= 1000) {
        n->ping_inflight = 1;
        n->last_ping_sent = now;
        send_internal(n, KV_REQ_PING, "PING");
    }
    if (n->state == KV_DOWN && now >= n->next_attempt)
        conn_start(n);
}

void kv__node_drop(kv_node_t *n, const char *why) { conn_lost(n, why, 1); }

void kv__node_free(kv_node_t *n)
{
    n->state = KV_CLOSING;
    if (n->ac) {
        redisAsyncContext *ac = n->ac;
        n->ac = NULL;
        redisAsyncFree(ac);
    }
    free(n);
}

int kv__node_send(kv_node_t *n, kv_req_t *q)
{
    if (n->state != KV_UP && !(n->state == KV_CONNECTING && q->internal == KV_REQ_SETUP))
        return KB_ERR_NOTCONN;
    if (q->asking && redisAsyncCommand(n->ac, NULL, NULL, "ASKING") != REDIS_OK)
        return KB_ERR_NOTCONN;
    q->sent_ms = uv_now(n->kv->loop);
    link_tail(n, q);
    if (redisAsyncFormattedCommand(n->ac, on_reply, q, q->cmd, q->len) != REDIS_OK) {
        unlink_req(q);
        return KB_ERR_NOTCONN;
    }
    return 0;
}

int kv__node_ready(const kv_node_t *n)
{
    return n->state == KV_UP && uv_now(n->kv->loop) - n->last_pong < (uint64_t)n->kv->timeout_ms + 1000;
}
