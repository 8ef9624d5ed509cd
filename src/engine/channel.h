/* channel.h — the seam between the server and its channels and workers: what one is to the server.
 *
 * A channel turns a provider's traffic into events for the engine (engine_intake) and drains the outbox lanes of its
 * replies; a worker (src/workers/: documents, payments, the relay, notifications) drains lanes too, or runs jobs,
 * but speaks to no customer. Both are described by one channel_def_t, and the server knows them only through two
 * NULL-terminated tables: kb_channels (channels/registry.c) and kb_workers (src/workers/workers.c). Adding a
 * channel is one folder under channels/ with a channel_def_t, and one line in the registry.
 *
 * Lifecycle, as the server drives it: check (every command, right after the settings are read) → wanted (does
 * this process run it) → create → start → (outbox lookups for the engine's wake-ups) → stop (stop taking work) →
 * busy until 0 → close. Every hook but name, wanted and create may be NULL: stop then stops the senders of the
 * lanes, busy adds theirs up. */
#ifndef KB_CHANNEL_H
#define KB_CHANNEL_H

#include <stddef.h>
#include <uv.h>
#include "config.h"
#include "db.h"
#include "engine.h"
#include "http_client.h"
#include "httpd.h"
#include "kv.h"
#include "outbox.h"

/* What the server lends a channel at create: the loop, the settings, the clients and the engine. */
typedef struct {
    uv_loop_t *loop;
    const cfg_t *cfg;
    httpd_t *httpd;
    http_client_t *http;
    kv_t *kv;
    db_t *db;
    engine_t *engine;
    const char *public_url;        /* how customers reach this server, without a trailing slash */
    engine_outbox_hook kick;       /* wakes the sender of a lane (for a worker that writes outbox rows itself) */
    void *kick_ctx;
} channel_env_t;

typedef struct {
    const char *name;              /* "tg", "sms", … (also its kind in conversation keys, "tg:123") */
    const char *lanes[4];          /* the outbox channels it drains (kb_outbox.channel), NULL-terminated */
    /* Checks (and completes) the settings that belong to it: 0, or KB_ERR_INVAL with err saying which and why. */
    int (*check)(cfg_t *cfg, char *err, size_t errlen);
    /* 1 when the settings turn it on in this process. */
    int (*wanted)(const cfg_t *cfg);
    /* Makes it: 0, or a negative error with err for the operator. */
    int (*create)(const channel_env_t *env, void **self, char *err, size_t errlen);
    int (*start)(void *self);
    void (*stop)(void *self);
    size_t (*busy)(void *self);
    /* 1: its sender takes direct deliveries of its conversations' replies (outbox_direct): the engine's fast path
     * for a step that changes nothing in the domain (engine.h). */
    int direct;
    /* The sender that drains lane, or NULL. */
    outbox_t *(*outbox)(void *self, const char *lane);
    void (*close)(void *self);
    /* A kabinetd subcommand it offers (NULL: none): run with the settings (NULL when needs_cfg is 0); the exit code. */
    const char *command;
    int command_needs_cfg;
    int (*run)(const cfg_t *cfg, int argc, char **argv);
} channel_def_t;

extern const channel_def_t *const kb_channels[];
extern const channel_def_t *const kb_workers[];

/* Runs every channel's and worker's check: 0 or the first error. */
int channel_check_all(cfg_t *cfg, char *err, size_t errlen);
/* The channel or worker that offers subcommand cmd, or NULL. */
const channel_def_t *channel_command(const char *cmd);

#endif
