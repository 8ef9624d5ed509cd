/* kv.c — the Redis client (see kv.h): the three topologies, routing each command to its node, following MOVED and
 * ASK, keeping the cluster's slot map, following a Sentinel failover, and the public API. One connection to one
 * server lives in kv_node.c; this file decides where a command goes and what an answer means. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/sha.h>
#include <hiredis/async.h>
#include "config.h"
#include "err.h"
#include "keys.h"
#include "kv_int.h"
#include "log.h"

#define MAX_REDIRECTS 16

static int route_send(kv_t *kv, kv_req_t *q);

/* ---------------------------------------------------------------- requests */

kv_req_t *kv__req_new(kv_t *kv, kv_cb cb, void *data, char *cmd, size_t len, int internal)
{
    kv_req_t *q = calloc(1, sizeof *q);
    if (!q) {
        free(cmd);
        return NULL;
    }
    q->kv = kv;
    q->cb = cb;
    q->data = data;
    q->cmd = cmd;
    q->len = len;
    q->internal = internal;
    q->slot = -1;
    q->born_ms = q->sent_ms = uv_now(kv->loop);
    return q;
}

void kv__req_free(kv_req_t *q)
{
    free(q->cmd);
    free(q);
}

/* Hands the answer to the caller and frees the request. */
static void deliver(kv_req_t *q, int err, const redisReply *reply)
{
    kv_t *kv = q->kv;
    metrics_observe(kv->m_latency, (double)(uv_now(kv->loop) - q->born_ms) / 1000.0);
    if (err)
        metrics_inc(kv->m_errors);
    kv_cb cb = q->cb;
    void *data = q->data;
    kv__req_free(q);
    if (cb)
        cb(err, err == 0 || err == KB_ERR_IO ? reply : NULL, data);
}

/* Keeps q aside to be sent again by the tick (its deadline still counts from when it was first sent). */
static void park(kv_t *kv, kv_req_t *q)
{
    q->prev = kv->parked.prev;
    q->next = &kv->parked;
    kv->parked.prev->next = q;
    kv->parked.prev = q;
    kv->nparked++;
}

/* Takes q off the parked list. */
static void unpark(kv_t *kv, kv_req_t *q)
{
    q->prev->next = q->next;
    q->next->prev = q->prev;
    q->prev = q->next = NULL;
    kv->nparked--;
}

/* ---------------------------------------------------------------- the encoded command */

/* Finds argument i of a RESP-encoded command ("*N\r\n$len\r\narg\r\n…"). Returns 0, or -1 when there is none. */
static int resp_arg(const char *cmd, size_t len, int i, const char **arg, size_t *arglen)
{
    const char *p = cmd, *end = cmd + len;
    if (p >= end || *p != '*')
        return -1;
    long argc = strtol(p + 1, NULL, 10);
    if (i >= argc)
        return -1;
    p = memchr(p, '\n', (size_t)(end - p));
    for (int k = 0; p && k <= i; k++) {
        p++;
        if (p >= end || *p != '$')
            return -1;
        long n = strtol(p + 1, NULL, 10);
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl || n < 0 || nl + 1 + n + 2 > end)
            return -1;
        if (k == i) {
            *arg = nl + 1;
            *arglen = (size_t)n;
            return 0;
        }
        p = nl + 1 + n + 1; /* at the '\n' after the argument */
    }
    return -1;
}

/* The cluster slot a command goes to: its first key's (EVAL and EVALSHA: the first of numkeys). -1: no key. */
static int command_slot(const char *cmd, size_t len)
{
    const char *a;
    size_t n;
    if (resp_arg(cmd, len, 0, &a, &n))
        return -1;
    static const char *const keyless[] = {"PING", "INFO", "CLUSTER", "SCRIPT", "ECHO", "TIME", "DBSIZE", "ROLE", "WAIT"};
    for (size_t i = 0; i < sizeof keyless / sizeof *keyless; i++)
        if (n == strlen(keyless[i]) && !strncasecmp(a, keyless[i], n))
            return -1;
    int k = 1;
    if ((n == 4 && !strncasecmp(a, "EVAL", 4)) || (n == 7 && !strncasecmp(a, "EVALSHA", 7))) {
        if (resp_arg(cmd, len, 2, &a, &n) || strtol(a, NULL, 10) < 1)
            return -1;
        k = 3;
    }
    return resp_arg(cmd, len, k, &a, &n) ? -1 : keys_slot(a, n);
}

/* Rewrites an EVALSHA request into EVAL with the script's source, the rest of the command unchanged. */
static int to_eval(kv_req_t *q)
{
    const char *sha;
    size_t shalen;
    if (resp_arg(q->cmd, q->len, 1, &sha, &shalen))
        return KB_ERR_PROTO;
    const char *rest = sha + shalen + 2;
    const char *nl = memchr(q->cmd, '\n', q->len);
    size_t head = (size_t)(nl + 1 - q->cmd), srclen = strlen(q->script->src);
    size_t restlen = q->len - (size_t)(rest - q->cmd);
    char *out = malloc(head + 32 + srclen + 2 + restlen + 16);
    if (!out)
        return KB_ERR_NOMEM;
    memcpy(out, q->cmd, head);
    int n = sprintf(out + head, "$4\r\nEVAL\r\n$%zu\r\n", srclen);
    size_t at = head + (size_t)n;
    memcpy(out + at, q->script->src, srclen);
    memcpy(out + at + srclen, "\r\n", 2);
    memcpy(out + at + srclen + 2, rest, restlen);
    free(q->cmd);
    q->cmd = out;
    q->len = at + srclen + 2 + restlen;
    q->script = NULL;
    return 0;
}

/* ---------------------------------------------------------------- nodes and the slot map */

/* The node for host:port, made (and connected by the next tick) when it is new; NULL past KV__MAX_NODES. */
static kv_node_t *node_get(kv_t *kv, const char *host, int port, int *index)
{
    for (int i = 0; i < kv->nnodes; i++)
        if (kv->nodes[i]->kind == KV_NODE_DATA && kv->nodes[i]->port == port && !strcmp(kv->nodes[i]->host, host)) {
            if (index)
                *index = i;
            return kv->nodes[i];
        }
    if (kv->nnodes == KV__MAX_NODES)
        return NULL;
    kv_node_t *n = kv__node_new(kv, KV_NODE_DATA, host, port);
    if (!n)
        return NULL;
    if (index)
        *index = kv->nnodes;
    kv->nodes[kv->nnodes++] = n;
    return n;
}

/* Parses "host:port" as a redirect names it ("127.0.0.1:7001", "[::1]:7001"). */
static kv_node_t *node_from_addr(kv_t *kv, const char *addr, size_t len, int *index)
{
    char buf[96], host[64];
    int port;
    if (len >= sizeof buf)
        return NULL;
    memcpy(buf, addr, len);
    buf[len] = 0;
    if (cfg_parse_hostport(buf, host, sizeof host, &port))
        return NULL;
    return node_get(kv, host, port, index);
}

/* Asks for a fresh slot map soon (after MOVED, a node lost, a CLUSTERDOWN). */
static void refresh_soon(kv_t *kv)
{
    uint64_t now = uv_now(kv->loop);
    if (kv->refresh_due > now)
        kv->refresh_due = now;
}

/* 1 when every slot has a node and every such node is up. */
static int cluster_ready(const kv_t *kv)
{
    uint64_t seen = 0;
    for (int s = 0; s < KV__SLOTS; s++) {
        int i = kv->slots[s];
        if (i < 0)
            return 0;
        if (!(seen & (1ull << i))) {
            if (!kv__node_ready(kv->nodes[i]))
                return 0;
            seen |= 1ull << i;
        }
    }
    return 1;
}

/* CLUSTER SLOTS answered: [[start, end, [host, port, id], replica…], …]. A new map replaces the old one whole. */
static void on_slots(kv_t *kv, kv_node_t *from, const redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_ARRAY)
        return;
    int16_t *map = malloc(sizeof *map * KV__SLOTS);
    if (!map)
        return;
    for (int s = 0; s < KV__SLOTS; s++)
        map[s] = -1;
    int changed = 0;
    for (size_t e = 0; e < r->elements; e++) {
        const redisReply *x = r->element[e];
        if (x->type != REDIS_REPLY_ARRAY || x->elements < 3 || x->element[2]->type != REDIS_REPLY_ARRAY ||
            x->element[2]->elements < 2)
            continue;
        long long from_slot = x->element[0]->integer, to_slot = x->element[1]->integer;
        const redisReply *m = x->element[2];
        /* an empty host means "the address you reached me at" */
        const char *host = m->element[0]->type == REDIS_REPLY_STRING && m->element[0]->len ? m->element[0]->str : from->host;
        int idx;
        long long port = m->element[1]->type == REDIS_REPLY_INTEGER ? m->element[1]->integer : 0;
        if (from_slot < 0 || to_slot >= KV__SLOTS || from_slot > to_slot || port < 1 || port > 65535 ||
            !node_get(kv, host, (int)port, &idx))
            continue;
        for (long long s = from_slot; s <= to_slot; s++) {
            changed |= kv->slots[s] != idx;
            map[s] = (int16_t)idx;
        }
    }
    for (int s = 0; s < KV__SLOTS && !changed; s++)
        changed = kv->slots[s] != map[s];
    if (changed)
        log_info("kv", "redis cluster slot map updated from %s:%d", from->host, from->port);
    memcpy(kv->slots, map, sizeof *map * KV__SLOTS);
    free(map);
    kv->cluster_ok = cluster_ready(kv);
    metrics_inc(kv->m_refreshes);
}

/* Sends CLUSTER SLOTS to the next node that is up. */
static void refresh_start(kv_t *kv, uint64_t now)
{
    static const char cmd[] = "*2\r\n$7\r\nCLUSTER\r\n$5\r\nSLOTS\r\n";
    for (int k = 0; k < kv->nnodes; k++) {
        kv_node_t *n = kv->nodes[(int)((kv->last_refresh / 100 + (uint64_t)k) % (uint64_t)kv->nnodes)];
        if (n->state != KV_UP)
            continue;
        char *c = malloc(sizeof cmd);
        if (!c)
            return;
        memcpy(c, cmd, sizeof cmd);
        kv_req_t *q = kv__req_new(kv, NULL, NULL, c, sizeof cmd - 1, KV_REQ_SLOTS);
        if (!q)
            return;
        if (kv__node_send(n, q) != 0) {
            kv__req_free(q);
            continue;
        }
        kv->refresh_inflight = 1;
        kv->last_refresh = now;
        return;
    }
}

/* ---------------------------------------------------------------- Sentinel */

/* A Sentinel named the master: follow it when it moved (a failover). */
static void on_master(kv_t *kv, const redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING)
        return;
    char host[64];
    int port = atoi(r->element[1]->str ? r->element[1]->str : "0");
    snprintf(host, sizeof host, "%s", r->element[0]->str);
    if (port < 1 || port > 65535)
        return;
    if (!kv->data) {
        kv->data = kv__node_new(kv, KV_NODE_DATA, host, port);
        if (kv->data)
            kv->nodes[kv->nnodes++] = kv->data;
        return;
    }
    if (kv->data->port == port && !strcmp(kv->data->host, host))
        return;
    log_warn("kv", "redis master %s moved from %s:%d to %s:%d (failover)", kv->master, kv->data->host,
             kv->data->port, host, port);
    metrics_inc(kv->m_failovers);
    kv__node_drop(kv->data, "the master moved");
    snprintf(kv->data->host, sizeof kv->data->host, "%s", host);
    kv->data->port = port;
    kv->data->next_attempt = 0;
    kv->data->backoff_ms = 50;
}

/* Asks the next Sentinel that is up where the master is. */
static void resolve_start(kv_t *kv, uint64_t now)
{
    for (int k = 0; k < kv->nnodes; k++) {
        kv_node_t *n = kv->nodes[(int)((now / 1000 + (uint64_t)k) % (uint64_t)kv->nnodes)];
        if (n->kind != KV_NODE_SENTINEL || n->state != KV_UP)
            continue;
        char *cmd;
        int len = redisFormatCommand(&cmd, "SENTINEL get-master-addr-by-name %s", kv->master);
        if (len < 0)
            return;
        kv_req_t *q = kv__req_new(kv, NULL, NULL, cmd, (size_t)len, KV_REQ_MASTER);
        if (q && kv__node_send(n, q) == 0) {
            kv->refresh_inflight = 1;
            return;
        }
        if (q)
            kv__req_free(q);
    }
}

/* ---------------------------------------------------------------- routing */

/* The node a request goes to now, or NULL when it is not known yet. */
static kv_node_t *route(kv_t *kv, const kv_req_t *q)
{
    if (kv->mode != KV_MODE_CLUSTER)
        return kv->data;
    if (q->asking)
        return q->ask_node;
    if (q->slot >= 0)
        return kv->slots[q->slot] >= 0 ? kv->nodes[kv->slots[q->slot]] : NULL;
    for (int s = 0; s < KV__SLOTS; s += 4096) /* a command without a key: any master that is up */
        if (kv->slots[s] >= 0 && kv->nodes[kv->slots[s]]->state == KV_UP)
            return kv->nodes[kv->slots[s]];
    return NULL;
}

/* Sends q to its node; 0 or KB_ERR_NOTCONN (the node is unknown or not up). */
static int route_send(kv_t *kv, kv_req_t *q)
{
    kv_node_t *n = route(kv, q);
    return n ? kv__node_send(n, q) : KB_ERR_NOTCONN;
}

/* Sends q again after an answer that says it did not run; parks it when its node is not up yet. */
static void resend(kv_t *kv, kv_req_t *q)
{
    if (++q->redirects > MAX_REDIRECTS) {
        log_warn("kv", "redis command redirected %d times: giving up", MAX_REDIRECTS);
        deliver(q, KB_ERR_AGAIN, NULL);
        return;
    }
    /* past a few hops in a row the nodes disagree for a moment (a slot being handed over): wait for the tick */
    if (q->redirects > 3 || route_send(kv, q) != 0)
        park(kv, q);
}

/* An error reply that is not the command's own: a redirect, a slot in motion, a failover in progress, a script
 * Redis lost. Returns 1 when it took q over (to send it again), 0 when the error goes to the caller. */
static int follow(kv_t *kv, kv_node_t *n, kv_req_t *q, const redisReply *r)
{
    const char *e = r->str;
    if (q->script && !strncmp(e, "NOSCRIPT", 8)) {
        if (to_eval(q) != 0)
            return 0;
        metrics_inc(kv->m_reloads);
        q->redirects--; /* not a redirect */
        if (kv__node_send(n, q) != 0)
            park(kv, q);
        return 1;
    }
    if (kv->mode == KV_MODE_CLUSTER && (!strncmp(e, "MOVED ", 6) || !strncmp(e, "ASK ", 4))) {
        int ask = e[0] == 'A';
        const char *sp = strchr(e + (ask ? 4 : 6), ' ');
        int idx;
        long slot = strtol(e + (ask ? 4 : 6), NULL, 10);
        kv_node_t *to = sp ? node_from_addr(kv, sp + 1, strlen(sp + 1), &idx) : NULL;
        if (!to || slot < 0 || slot >= KV__SLOTS)
            return 0;
        if (ask) {
            metrics_inc(kv->m_ask);
            q->asking = 1;
            q->ask_node = to;
        } else {
            metrics_inc(kv->m_moved);
            kv->slots[slot] = (int16_t)idx;
            q->asking = 0;
            refresh_soon(kv);
        }
        resend(kv, q);
        return 1;
    }
    if (!strncmp(e, "TRYAGAIN", 8) || !strncmp(e, "CLUSTERDOWN", 11) || !strncmp(e, "READONLY", 8) ||
        !strncmp(e, "LOADING", 7) || !strncmp(e, "MASTERDOWN", 10)) {
        /* none of these ran the command: try again on the next tick, after a fresh map or a fresh master */
        q->asking = 0;
        if (kv->mode == KV_MODE_CLUSTER && e[0] != 'T')
            refresh_soon(kv);
        if (kv->mode == KV_MODE_SENTINEL)
            kv->resolve_due = 0;
        park(kv, q); /* until its deadline: a slot's keys move in batches, an election takes a second or two */
        return 1;
    }
    return 0;
}

void kv__on_reply(kv_node_t *n, kv_req_t *q, int err, redisReply *reply)
{
    kv_t *kv = q->kv;
    if (q->internal == KV_REQ_SLOTS || q->internal == KV_REQ_MASTER) {
        kv->refresh_inflight = 0;
        if (!err && !kv->closing) {
            if (q->internal == KV_REQ_SLOTS)
                on_slots(kv, n, reply);
            else
                on_master(kv, reply);
        }
        kv__req_free(q);
        return;
    }
    if (err == KB_ERR_IO && !kv->closing && follow(kv, n, q, reply))
        return;
    deliver(q, err, reply);
}

void kv__on_node_up(kv_node_t *n)
{
    if (n->kind == KV_NODE_DATA)
        metrics_inc(n->kv->m_reconnects);
    if (n->kv->mode == KV_MODE_CLUSTER)
        refresh_soon(n->kv);
    if (n->kv->mode == KV_MODE_SENTINEL && n->kind == KV_NODE_SENTINEL)
        n->kv->resolve_due = 0;
}

void kv__on_node_down(kv_node_t *n)
{
    if (n->kv->mode == KV_MODE_CLUSTER)
        refresh_soon(n->kv);
    if (n->kv->mode == KV_MODE_SENTINEL)
        n->kv->resolve_due = 0;
}

/* ---------------------------------------------------------------- the tick */

/* Every 100 ms: each node's own work, then the slot map or the master, then the parked requests. */
static void on_tick(uv_timer_t *t)
{
    kv_t *kv = t->data;
    uint64_t now = uv_now(kv->loop);
    for (int i = 0; i < kv->nnodes; i++)
        kv__node_tick(kv->nodes[i], now);
    if (kv->mode == KV_MODE_CLUSTER && !kv->refresh_inflight && now >= kv->refresh_due) {
        refresh_start(kv, now);
        kv->refresh_due = now + (kv->cluster_ok ? 5000 : 250);
    }
    if (kv->mode == KV_MODE_CLUSTER)
        kv->cluster_ok = cluster_ready(kv);
    if (kv->mode == KV_MODE_SENTINEL && !kv->refresh_inflight && now >= kv->resolve_due) {
        resolve_start(kv, now);
        kv->resolve_due = now + 1000;
    }
    size_t n = kv->nparked;
    while (n-- > 0 && kv->parked.next != &kv->parked) {
        kv_req_t *q = kv->parked.next;
        unpark(kv, q);
        if (now - q->born_ms > (uint64_t)kv->timeout_ms)
            deliver(q, KB_ERR_TIMEOUT, NULL);
        else if (route_send(kv, q) != 0)
            park(kv, q);
    }
    metrics_set(kv->m_up, kv_ready(kv));
}

/* ---------------------------------------------------------------- URLs */

int kv_url_check(const char *url)
{
    char hosts[8][64], password[256], master[128];
    int ports[8], n, db;
    kv_mode_t mode;
    return kv__parse(url, &mode, hosts, ports, &n, password, master, &db);
}

int kv__parse(const char *url, kv_mode_t *mode, char hosts[8][64], int ports[8], int *nhosts, char *password,
              char *master, int *db)
{
    const char *p;
    if (!strncmp(url, "redis://", 8))
        *mode = KV_MODE_SINGLE, p = url + 8;
    else if (!strncmp(url, "redis-cluster://", 16))
        *mode = KV_MODE_CLUSTER, p = url + 16;
    else if (!strncmp(url, "redis-sentinel://", 17))
        *mode = KV_MODE_SENTINEL, p = url + 17;
    else
        return KB_ERR_INVAL;
    password[0] = master[0] = 0;
    *db = 0;
    *nhosts = 0;
    const char *slash = strchr(p, '/');
    const char *at = memrchr(p, '@', slash ? (size_t)(slash - p) : strlen(p));
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
    size_t list = strcspn(p, "/");
    for (const char *h = p; h < p + list;) {
        size_t n = strcspn(h, ",/");
        char hostport[128];
        if (n == 0 || n + 6 >= sizeof hostport || *nhosts == 8)
            return KB_ERR_INVAL;
        memcpy(hostport, h, n);
        hostport[n] = 0;
        if (!strchr(hostport, ':') || (hostport[0] == '[' && hostport[n - 1] == ']'))
            strcat(hostport, *mode == KV_MODE_SENTINEL ? ":26379" : ":6379");
        if (cfg_parse_hostport(hostport, hosts[*nhosts], 64, &ports[*nhosts]))
            return KB_ERR_INVAL;
        (*nhosts)++;
        h += n + (h[n] == ',');
    }
    if (*nhosts == 0 || (*mode == KV_MODE_SINGLE && *nhosts > 1))
        return KB_ERR_INVAL;
    const char *rest = p[list] == '/' ? p + list + 1 : "";
    if (*mode == KV_MODE_SENTINEL) { /* /master[/db] */
        size_t n = strcspn(rest, "/");
        if (n == 0 || n >= 128)
            return KB_ERR_INVAL;
        memcpy(master, rest, n);
        master[n] = 0;
        rest = rest[n] == '/' ? rest + n + 1 : "";
    }
    if (*rest) {
        char *end;
        long d = strtol(rest, &end, 10);
        if (*end || d < 0 || d > 1000 || (*mode == KV_MODE_CLUSTER && d != 0))
            return KB_ERR_INVAL;
        *db = (int)d;
    }
    return 0;
}

/* ---------------------------------------------------------------- public */

int kv_new(uv_loop_t *loop, const char *url, int timeout_ms, kv_t **out)
{
    kv_t *kv = calloc(1, sizeof *kv);
    if (!kv)
        return KB_ERR_NOMEM;
    char hosts[8][64];
    int ports[8], n;
    if (kv__parse(url, &kv->mode, hosts, ports, &n, kv->password, kv->master, &kv->db)) {
        free(kv);
        return KB_ERR_INVAL;
    }
    kv->loop = loop;
    kv->timeout_ms = timeout_ms;
    kv->parked.next = kv->parked.prev = &kv->parked;
    if (kv->mode == KV_MODE_CLUSTER) {
        kv->slots = malloc(sizeof *kv->slots * KV__SLOTS);
        if (!kv->slots) {
            free(kv);
            return KB_ERR_NOMEM;
        }
        for (int s = 0; s < KV__SLOTS; s++)
            kv->slots[s] = -1;
    }
    for (int i = 0; i < n; i++) {
        kv_node_t *node = kv__node_new(kv, kv->mode == KV_MODE_SENTINEL ? KV_NODE_SENTINEL : KV_NODE_DATA, hosts[i],
                                       ports[i]);
        if (!node)
            break;
        kv->nodes[kv->nnodes++] = node;
    }
    if (kv->mode == KV_MODE_SINGLE)
        kv->data = kv->nodes[0];
    uv_timer_init(loop, &kv->tick);
    kv->tick.data = kv;
    kv->m_cmds = metrics_counter("kb_redis_commands_total", "Redis commands sent", "");
    kv->m_errors = metrics_counter("kb_redis_errors_total", "Redis commands that failed (error reply, timeout, reset)", "");
    kv->m_latency = metrics_histogram("kb_redis_latency_seconds", "Redis command round trip", "");
    kv->m_reconnects = metrics_counter("kb_redis_connects_total", "Redis connections made", "");
    kv->m_reloads = metrics_counter("kb_redis_script_reloads_total", "Scripts re-sent with EVAL after NOSCRIPT", "");
    kv->m_up = metrics_gauge("kb_redis_up", "1 while Redis (every node the client needs) is reachable", "");
    kv->m_moved = metrics_counter("kb_redis_redirects_total", "Cluster redirects followed", "kind=\"moved\"");
    kv->m_ask = metrics_counter("kb_redis_redirects_total", "Cluster redirects followed", "kind=\"ask\"");
    kv->m_refreshes = metrics_counter("kb_redis_slot_map_refreshes_total", "Cluster slot maps read (CLUSTER SLOTS)", "");
    kv->m_failovers = metrics_counter("kb_redis_failovers_total", "Sentinel failovers followed", "");
    if (kv->nnodes != n) {
        kv_close(kv);
        return KB_ERR_NOMEM;
    }
    *out = kv;
    return 0;
}

int kv_start(kv_t *kv)
{
    uint64_t now = uv_now(kv->loop);
    for (int i = 0; i < kv->nnodes; i++)
        kv__node_tick(kv->nodes[i], now);
    return uv_timer_start(&kv->tick, on_tick, 100, 100);
}

static void on_tick_closed(uv_handle_t *h)
{
    kv_t *kv = h->data;
    free(kv->slots);
    free(kv);
}

void kv_close(kv_t *kv)
{
    kv->closing = 1;
    while (kv->parked.next != &kv->parked) {
        kv_req_t *q = kv->parked.next;
        unpark(kv, q);
        deliver(q, KB_ERR_CANCELED, NULL);
    }
    for (int i = 0; i < kv->nnodes; i++)
        kv__node_free(kv->nodes[i]);
    kv->nnodes = 0;
    kv->data = NULL;
    uv_close((uv_handle_t *)&kv->tick, on_tick_closed);
}

int kv_ready(const kv_t *kv)
{
    if (kv->mode == KV_MODE_CLUSTER)
        return kv->cluster_ok;
    return kv->data && kv__node_ready(kv->data);
}

size_t kv_pending(const kv_t *kv)
{
    size_t n = kv->nparked;
    for (int i = 0; i < kv->nnodes; i++)
        n += kv->nodes[i]->npending;
    return n;
}

/* Sends an encoded command (taken over) to its node: the node of slot, or (slot -2) of the command's key. */
static int submit(kv_t *kv, kv_cb cb, void *data, char *cmd, int len, const kv_script_t *script, int slot)
{
    if (len < 0)
        return KB_ERR_NOMEM;
    kv_req_t *q = kv__req_new(kv, cb, data, cmd, (size_t)len, KV_REQ_USER);
    if (!q)
        return KB_ERR_NOMEM;
    q->script = script;
    if (kv->mode == KV_MODE_CLUSTER)
        q->slot = slot == -2 ? command_slot(q->cmd, q->len) : slot;
    int rc = route_send(kv, q);
    if (rc) {
        kv__req_free(q);
        return rc;
    }
    metrics_inc(kv->m_cmds);
    return 0;
}

int kv_command_argv(kv_t *kv, kv_cb cb, void *data, int argc, const char **argv, const size_t *argvlen)
{
    char *cmd;
    int len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
    return submit(kv, cb, data, cmd, len, NULL, -2);
}

int kv_command(kv_t *kv, kv_cb cb, void *data, const char *fmt, ...)
{
    char *cmd;
    va_list ap;
    va_start(ap, fmt);
    int len = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);
    return submit(kv, cb, data, cmd, len, NULL, -2);
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
    const char **full = malloc(sizeof *full * (size_t)(argc + 3));
    size_t *lens = malloc(sizeof *lens * (size_t)(argc + 3));
    if (!full || !lens) {
        free(full);
        free(lens);
        return KB_ERR_NOMEM;
    }
    char nk[16];
    full[0] = "EVALSHA", lens[0] = 7;
    full[1] = s->sha, lens[1] = 40;
    full[2] = nk, lens[2] = (size_t)snprintf(nk, sizeof nk, "%d", nkeys);
    for (int i = 0; i < argc; i++)
        full[i + 3] = argv[i], lens[i + 3] = argvlen[i];
    char *cmd;
    int len = redisFormatCommandArgv(&cmd, argc + 3, full, lens);
    free(full);
    free(lens);
    return submit(kv, cb, data, cmd, len, s, -2);
}

int kv_wait(kv_t *kv, const char *key, int replicas, int timeout_ms, kv_cb cb, void *data)
{
    char *cmd;
    int len = redisFormatCommand(&cmd, "WAIT %d %d", replicas, timeout_ms);
    return submit(kv, cb, data, cmd, len, NULL, keys_slot(key, strlen(key)));
}

int kv_mode_replicated(const kv_t *kv) { return kv->mode != KV_MODE_SINGLE; }
