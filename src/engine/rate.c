/* rate.c — GCRA reservations in one Lua step (see rate.h). The key holds the theoretical arrival time (TAT) in
 * microseconds: the moment the limit would be back to "nothing outstanding". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "rate.h"

/* KEYS[1] limiter; ARGV: interval µs, burst, max wait µs. Returns the wait in µs, negative when not reserved. */
static const char lua_reserve[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local interval, burst, maxw = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local tat = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
    "if tat < now then tat = now end\n"
    "local wait = tat - (burst - 1) * interval - now\n"
    "if wait < 0 then wait = 0 end\n"
    "if wait > maxw then return -wait end\n"
    "local new = tat + interval\n"
    "redis.call('SET', KEYS[1], string.format('%d', new), 'PX', math.floor((new - now) / 1000) + 1000)\n"
    "return wait\n";

static kv_script_t s_reserve;

/* KEYS[1] the total; ARGV: cost, cap, ttl s. Returns the new total, or -1 when the cost would pass the cap. */
static const char lua_spend[] =
    "local used = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
    "local cost, cap = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "if used + cost > cap then return -1 end\n"
    "redis.call('INCRBY', KEYS[1], cost)\n"
    "redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))\n"
    "return used + cost\n";

static kv_script_t s_spend;

typedef struct {
    rate_cb cb;
    void *data;
} rate_req_t;

static void on_reserved(int err, const redisReply *reply, void *data)
{
    rate_req_t *q = data;
    if (!err && (!reply || reply->type != REDIS_REPLY_INTEGER))
        err = KB_ERR_PROTO;
    int64_t us = err ? 0 : (int64_t)reply->integer;
    /* round a wait up to whole milliseconds, so that nobody goes early */
    int64_t ms = us >= 0 ? (us + 999) / 1000 : -((-us + 999) / 1000);
    q->cb(err, ms, q->data);
    free(q);
}

int rate_reserve(kv_t *kv, const char *key, const rate_limit_t *lim, rate_cb cb, void *data)
{
    if (lim->per_s <= 0 || lim->burst < 1)
        return KB_ERR_INVAL;
    if (!s_reserve.src)
        kv_script_init(&s_reserve, lua_reserve);
    rate_req_t *q = malloc(sizeof *q);
    if (!q)
        return KB_ERR_NOMEM;
    q->cb = cb;
    q->data = data;
    char interval[32], burst[16], maxw[32];
    snprintf(interval, sizeof interval, "%lld", (long long)(1e6 / lim->per_s));
    snprintf(burst, sizeof burst, "%d", lim->burst);
    snprintf(maxw, sizeof maxw, "%lld", (long long)lim->max_wait_ms * 1000);
    const char *argv[] = {key, interval, burst, maxw};
    size_t lens[] = {strlen(key), strlen(interval), strlen(burst), strlen(maxw)};
    int rc = kv_eval(kv, &s_reserve, 1, 4, argv, lens, on_reserved, q);
    if (rc)
        free(q);
    return rc;
}

static void on_spent(int err, const redisReply *reply, void *data)
{
    rate_req_t *q = data;
    if (!err && (!reply || reply->type != REDIS_REPLY_INTEGER))
        err = KB_ERR_PROTO;
    q->cb(err, err ? 0 : (int64_t)reply->integer, q->data);
    free(q);
}

int rate_spend(kv_t *kv, const char *key, int64_t cost, int64_t cap, int ttl_s, rate_cb cb, void *data)
{
    if (cost < 0 || cap < 0 || ttl_s < 1)
        return KB_ERR_INVAL;
    if (!s_spend.src)
        kv_script_init(&s_spend, lua_spend);
    rate_req_t *q = malloc(sizeof *q);
    if (!q)
        return KB_ERR_NOMEM;
    q->cb = cb;
    q->data = data;
    char c[32], m[32], t[16];
    snprintf(c, sizeof c, "%lld", (long long)cost);
    snprintf(m, sizeof m, "%lld", (long long)cap);
    snprintf(t, sizeof t, "%d", ttl_s);
    const char *argv[] = {key, c, m, t};
    size_t lens[] = {strlen(key), strlen(c), strlen(m), strlen(t)};
    int rc = kv_eval(kv, &s_spend, 1, 4, argv, lens, on_spent, q);
    if (rc)
        free(q);
    return rc;
}
