/* kv_int.h — what kv.c (the client: modes, routing, redirects) and kv_node.c (one connection to one server) share.
 * Internal to the Redis client; nothing outside src/kv*.c includes it.
 *
 * A request carries its command already encoded (RESP), so that it can be sent again unchanged: to another node
 * after MOVED or ASK, a moment later after TRYAGAIN or CLUSTERDOWN, as EVAL after NOSCRIPT. None of those replies
 * means the command ran, which is what makes sending it again safe. */
#ifndef KB_KV_INT_H
#define KB_KV_INT_H

#include <stdint.h>
#include <hiredis/async.h>
#include "kv.h"
#include "metrics.h"

#define KV__SLOTS 16384
#define KV__MAX_NODES 64

typedef enum { KV_DOWN, KV_CONNECTING, KV_UP, KV_CLOSING } kv_state_t;
typedef enum { KV_NODE_DATA, KV_NODE_SENTINEL } kv_node_kind_t;
typedef enum { KV_MODE_SINGLE, KV_MODE_CLUSTER, KV_MODE_SENTINEL } kv_mode_t;

typedef struct kv_node_s kv_node_t;

typedef struct kv_req_s {
    struct kv_req_s *prev, *next;  /* the in-flight list of its node (oldest first), or the parked list */
    kv_t *kv;
    kv_node_t *node;               /* where it is in flight; NULL while parked or not yet sent */
    kv_cb cb;
    void *data;
    uint64_t sent_ms, born_ms;
    int timed_out;
    int internal;                  /* KV_REQ_*: health check, setup, slot map, sentinel query */
    int slot;                      /* the key's cluster slot; -1 for a command without a key */
    int redirects;
    int asking;                    /* send ASKING first (a slot being imported by ask_node) */
    kv_node_t *ask_node;
    const kv_script_t *script;     /* EVALSHA: re-sent as EVAL on NOSCRIPT */
    char *cmd;                     /* the command, RESP-encoded (hiredis format) */
    size_t len;
} kv_req_t;

enum { KV_REQ_USER = 0, KV_REQ_SETUP, KV_REQ_PING, KV_REQ_SLOTS, KV_REQ_MASTER };

struct kv_node_s {
    kv_t *kv;
    kv_node_kind_t kind;
    char host[64];
    int port;
    redisAsyncContext *ac;
    kv_state_t state;
    uint64_t connect_started, next_attempt, last_ping_sent, last_pong;
    int backoff_ms, ping_inflight;
    kv_req_t head;                 /* sentinel of the in-flight list */
    size_t npending;
};

struct kv_s {
    uv_loop_t *loop;
    kv_mode_t mode;
    char password[256];
    char master[128];              /* sentinel mode: the monitored master's name */
    int db, timeout_ms;
    uv_timer_t tick;               /* every 100 ms: deadlines, health checks, reconnects, parked requests */
    kv_node_t *nodes[KV__MAX_NODES];
    int nnodes;
    kv_node_t *data;               /* single and sentinel mode: the one data node */
    int16_t *slots;                /* cluster mode: slot → index in nodes, -1 unknown */
    int refresh_inflight, closing;
    int cluster_ok;                /* cluster mode: every slot has a node and every such node is up (the tick) */
    uint64_t refresh_due, last_refresh, resolve_due;
    kv_req_t parked;               /* requests waiting to be sent again (a redirect to a node not up yet) */
    size_t nparked;
    metrics_series_t *m_cmds, *m_errors, *m_latency, *m_reconnects, *m_reloads, *m_up, *m_moved, *m_ask,
        *m_refreshes, *m_failovers;
};

/* Makes a node for host:port (not connected yet; the tick connects it). */
kv_node_t *kv__node_new(kv_t *kv, kv_node_kind_t kind, const char *host, int port);
/* The 100 ms work of one node: connect timeout, command deadline, health check, reconnect after the backoff. */
void kv__node_tick(kv_node_t *n, uint64_t now);
/* Drops the node's connection now (callbacks in flight get KB_ERR_CONNRESET); the tick connects again. */
void kv__node_drop(kv_node_t *n, const char *why);
/* Closes the connection for good and frees the node. */
void kv__node_free(kv_node_t *n);
/* Puts q in flight on n (ASKING first when q->asking). Returns 0, or KB_ERR_NOTCONN when n is not up. */
int kv__node_send(kv_node_t *n, kv_req_t *q);
/* 1 when the node is connected and answered its last health check in time. */
int kv__node_ready(const kv_node_t *n);

/* Called by the node for every answer to a request it carried (reply NULL with err when the connection went). */
void kv__on_reply(kv_node_t *n, kv_req_t *q, int err, redisReply *reply);
/* Called by the node when its connection comes up and when it goes. */
void kv__on_node_up(kv_node_t *n);
void kv__on_node_down(kv_node_t *n);

/* Parses a Redis URL of any of the three forms (kv.h) into its mode, hosts (at most 8), password, Sentinel master
 * name and database. Returns 0 or KB_ERR_INVAL. */
int kv__parse(const char *url, kv_mode_t *mode, char hosts[8][64], int ports[8], int *nhosts, char *password,
              char *master, int *db);

/* Makes a request record for an encoded command (cmd is taken over); NULL when out of memory. */
kv_req_t *kv__req_new(kv_t *kv, kv_cb cb, void *data, char *cmd, size_t len, int internal);
/* Frees a request that is in no list (neither in flight nor parked). */
void kv__req_free(kv_req_t *q);

#endif
