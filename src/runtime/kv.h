/* kv.h — the Redis client: hiredis async on the loop, pipelined connections, reconnects, timeouts, scripts, and
 * three topologies, chosen by the URL:
 *   redis://[:password@]host[:port][/db]                      one server
 *   redis-cluster://[:password@]host:port[,host:port…]        a Redis Cluster: the hosts are seeds; each command goes
 *       to the master of its key's slot (CRC16 of the hash tag), the slot map comes from CLUSTER SLOTS (read at
 *       start, every 5 s, and at once after a MOVED or a lost node), MOVED and ASK are followed, TRYAGAIN and
 *       CLUSTERDOWN retried until the command's deadline
 *   redis-sentinel://[:password@]host:port[,host:port…]/master[/db]   a primary found through Sentinels (asked
 *       every second and at once when the primary's connection breaks or answers READONLY): a failover is followed
 * Only answers that say a command did not run are retried (MOVED, ASK, TRYAGAIN, CLUSTERDOWN, READONLY, LOADING,
 * NOSCRIPT); a connection lost with commands in flight fails them as before, since they may have run.
 *
 * Lifecycle: kv_new → kv_start → (commands) → kv_close. The connection is made by IP (no name lookup on the loop),
 * re-made with backoff whenever it breaks, and health-checked by PING every second. Every command has a deadline:
 * one that is not answered in time resets the connection (a Redis that stopped answering is treated as gone), its
 * callback gets KB_ERR_TIMEOUT and the others in flight KB_ERR_CONNRESET.
 *
 * Contract of every call that takes a callback: it returns 0 and the callback runs exactly once, later, on the
 * loop; or it returns a negative error and the callback never runs. While disconnected, commands fail at once with
 * KB_ERR_NOTCONN rather than queueing: callers decide whether to retry.
 *
 * Keys: every key of one conversation carries that conversation's hash tag (see keys.h), and a script's keys must
 * share one tag — kv_eval refuses anything else — so the same code runs on Redis Cluster. */
#ifndef KB_KV_H
#define KB_KV_H

#include <stddef.h>
#include <uv.h>
#include <hiredis/hiredis.h>

typedef struct kv_s kv_t;

/* reply is valid only during the callback; it is NULL when err is not 0 or KB_ERR_IO (an error reply). A NULL
 * callback sends the command without waiting for its answer. */
typedef void (*kv_cb)(int err, const redisReply *reply, void *data);

/* A Lua script known by its SHA1; loaded into Redis lazily (EVALSHA, then EVAL when Redis answers NOSCRIPT). */
typedef struct kv_script_s {
    const char *src;
    char sha[41];
} kv_script_t;

/* Checks a URL of any of the three forms above: 0, or KB_ERR_INVAL (hosts must be IP literals or localhost; a
 * cluster has no database number). */
int kv_url_check(const char *url);

/* Makes a client for url; *out is set on success. Returns 0 or KB_ERR_INVAL (bad URL) / KB_ERR_NOMEM. */
int kv_new(uv_loop_t *loop, const char *url, int timeout_ms, kv_t **out);
/* Starts connecting (and reconnecting from then on). */
int kv_start(kv_t *kv);
/* Stops: callbacks in flight get KB_ERR_CANCELED, the connection closes, and the client frees itself once its
 * handles have closed (keep running the loop). kv must not be used afterwards. */
void kv_close(kv_t *kv);

/* 1 while connected and the last health check was answered in time. */
int kv_ready(const kv_t *kv);
/* Commands in flight. */
size_t kv_pending(const kv_t *kv);

/* Sends one command given as argv. */
int kv_command_argv(kv_t *kv, kv_cb cb, void *data, int argc, const char **argv, const size_t *argvlen);
/* Sends one command in hiredis format syntax ("SET %s %b"). */
int kv_command(kv_t *kv, kv_cb cb, void *data, const char *fmt, ...);

/* Waits until the writes sent so far to the node that serves key reached `replicas` replicas, or timeout_ms went
 * by (Redis WAIT); the reply is the number of replicas reached. */
int kv_wait(kv_t *kv, const char *key, int replicas, int timeout_ms, kv_cb cb, void *data);
/* 1 for a cluster or a Sentinel-watched primary (there are replicas to wait for), 0 for one server. */
int kv_mode_replicated(const kv_t *kv);

/* Fills sha from src. src must outlive the script. */
void kv_script_init(kv_script_t *s, const char *src);
/* Runs a script with nkeys keys followed by the other arguments (argv holds keys then args). All keys must carry
 * the same hash tag: otherwise KB_ERR_INVAL. */
int kv_eval(kv_t *kv, const kv_script_t *s, int nkeys, int argc, const char **argv, const size_t *argvlen, kv_cb cb,
            void *data);

#endif
