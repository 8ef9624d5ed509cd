/* relay.c — the relay (see relay.h): one kb_outbox row → one engine intake. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "log.h"
#include "relay.h"

struct relay_s {
    engine_t *e;
    outbox_t *out;
};

static void on_intake(int err, int is_new, void *data)
{
    outbox_ticket_t *t = data;
    outbox_done(t, err ? OUTBOX_RETRY : OUTBOX_SENT, -1, err ? kb_strerror(err) : NULL);
}

/* Delivers a row: its payload {kind, text, payload, from} as an event of conversation m->conv. */
static void deliver(void *ctx, const outbox_msg_t *m, outbox_ticket_t *t)
{
    relay_t *r = ctx;
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(m->payload, "kind"),
                *text = cJSON_GetObjectItemCaseSensitive(m->payload, "text");
    int k = dlg_kind_parse(cJSON_GetStringValue(kind));
    char id[32], channel[32];
    const char *colon = strchr(m->conv, ':');
    if (k < 0 || !colon || (size_t)(colon - m->conv) >= sizeof channel) {
        log_error("relay", "outbox row %lld is not an event for a conversation; given up", (long long)m->id);
        outbox_done(t, OUTBOX_DEAD, 0, "not an event");
        return;
    }
    snprintf(id, sizeof id, "r%lld", (long long)m->id);
    snprintf(channel, sizeof channel, "%.*s", (int)(colon - m->conv), m->conv);
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    event_t ev = {.id = id, .channel = channel, .conv = (char *)m->conv, .sender = "",
                  .text = (char *)(cJSON_IsString(text) ? text->valuestring : ""), .kind = (dlg_event_kind_t)k,
                  .payload = cJSON_GetObjectItemCaseSensitive(m->payload, "payload"),
                  .ts_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000};
    int rc = engine_intake(r->e, &ev, on_intake, t);
    if (rc)
        outbox_done(t, OUTBOX_RETRY, -1, kb_strerror(rc));
}

int relay_new(uv_loop_t *loop, db_t *db, engine_t *e, relay_t **out)
{
    relay_t *r = calloc(1, sizeof *r);
    if (!r)
        return KB_ERR_NOMEM;
    r->e = e;
    outbox_options_t oo = {{32, 32}, 100, 500, 10};
    int rc = outbox_new(loop, db, "relay", deliver, r, &oo, &r->out);
    if (rc) {
        free(r);
        return rc;
    }
    *out = r;
    return outbox_start(r->out);
}

outbox_t *relay_outbox(relay_t *r) { return r->out; }

void relay_close(relay_t *r)
{
    outbox_close(r->out);
    free(r);
}

/* ---------------------------------------------------------------- the worker's seam (channel.h) */

static int relay_wanted(const cfg_t *cfg) { return 1; }

static int relay_create(const channel_env_t *env, void **self, char *err, size_t errlen)
{
    return relay_new(env->loop, env->db, env->engine, (relay_t **)self);
}

static outbox_t *relay_lane(void *self, const char *lane) { return relay_outbox(self); }
static void relay_free(void *self) { relay_close(self); }

const channel_def_t worker_relay = {.name = "relay", .lanes = {"relay", NULL}, .wanted = relay_wanted,
                                    .create = relay_create, .outbox = relay_lane, .close = relay_free};
