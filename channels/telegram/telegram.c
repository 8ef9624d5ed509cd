/* telegram.c — the Telegram channel's intake and lifecycle (see telegram.h): the webhook, the poller with its
 * Redis lease, webhook registration, answers to button presses, and notices for what kabinet does not take. The
 * sender is tg_send.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "keys.h"
#include "log.h"
#include "secret.h"
#include "text.h"
#include "telegram.h"
#include "tg_file.h"
#include "tg_internal.h"
#include "tg_update.h"

#define ALLOWED_UPDATES "[\"message\",\"edited_message\",\"callback_query\",\"chat_member\"]"

/* ---------------------------------------------------------------- accepting one update */

typedef void (*accept_cb)(int err, void *data);

typedef struct {
    tg_t *tg;
    tg_update_t u;
    accept_cb cb;
    void *data;
} accept_t;

static void on_api_ignored(const tg_answer_t *a, void *data) {}

/* Answers a button press (the spinner stops), with a short notice when there is one. */
static void answer_callback(tg_t *tg, const tg_update_t *u)
{
    if (!u->callback_id[0])
        return;
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "callback_query_id", u->callback_id);
    if (u->callback_notice) {
        char text[256];
        txt_render(u->lang[0] ? u->lang : "ru", u->callback_notice, NULL, text, sizeof text);
        cJSON_AddStringToObject(b, "text", text);
    }
    char *body = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    if (body)
        tg_api_call(tg->api, "answerCallbackQuery", body, 0, on_api_ignored, NULL);
    free(body);
}

static void accept_finish(accept_t *a, int err)
{
    if (!err)
        answer_callback(a->tg, &a->u);
    a->tg->intakes--;
    a->cb(err, a->data);
    tg_update_free(&a->u);
    free(a);
}

static void on_intake(int err, int is_new, void *data) { accept_finish(data, err); }

static void on_notice(int err, PGresult *res, void *data)
{
    accept_t *a = data;
    if (!err)
        outbox_kick(a->tg->out);
    accept_finish(a, err);
}

/* ---------------------------------------------------------------- staff membership */

/* The member check settled: the event goes in, or it is refused (and acknowledged: Telegram must not retry it). */
static void member_known(accept_t *a, int member)
{
    int rc;
    if (member) {
        if ((rc = engine_intake(a->tg->engine, &a->u.ev, on_intake, a)) != 0)
            accept_finish(a, rc);
        return;
    }
    metrics_inc(a->tg->m_staff_refused);
    log_warn("tg", "user %s in the staff group is not a member now (getChatMember): refused", a->u.sender);
    a->u.callback_notice = a->u.callback_id[0] ? "tg.button_invalid" : NULL;
    accept_finish(a, 0);
}

static void on_member_cached(int err, const redisReply *r, void *data) {}

static void on_member(const tg_answer_t *ans, void *data)
{
    accept_t *a = data;
    if (ans->err || (!ans->ok && ans->error_code != 400)) { /* Telegram unreachable: not accepted, retried */
        accept_finish(a, ans->err ? ans->err : KB_ERR_AGAIN);
        return;
    }
    const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(ans->result, "status"));
    int member = ans->ok && st && (!strcmp(st, "creator") || !strcmp(st, "administrator") || !strcmp(st, "member") ||
                                   (!strcmp(st, "restricted") && cJSON_IsTrue(cJSON_GetObjectItem(ans->result, "is_member"))));
    if (member) {
        char key[96];
        snprintf(key, sizeof key, "kb:{staff}:member:%lld:%lld", (long long)a->u.staff_chat, (long long)a->u.user_id);
        kv_command(a->tg->kv, on_member_cached, NULL, "SET %s 1 EX 300", key);
    }
    member_known(a, member);
}

static void on_member_lookup(int err, const redisReply *r, void *data)
{
    accept_t *a = data;
    if (!err && r && r->type == REDIS_REPLY_STRING) { /* checked within the last five minutes */
        member_known(a, 1);
        return;
    }
    char body[96];
    snprintf(body, sizeof body, "{\"chat_id\":%lld,\"user_id\":%lld}", (long long)a->u.staff_chat,
             (long long)a->u.user_id);
    int rc = tg_api_call(a->tg->api, "getChatMember", body, 0, on_member, a);
    if (rc)
        accept_finish(a, rc);
}

/* A member who left: acknowledged once their cached membership is gone (a failure: Telegram sends it again). */
static void on_member_dropped(int err, const redisReply *r, void *data)
{
    (void)r;
    accept_finish(data, err);
}

/* Whoever acts in the staff group is a member of it now: checked with getChatMember, remembered for 5 minutes
 * (or until Telegram's chat_member update says they left, TGU_LEFT). */
static void member_check(accept_t *a)
{
    char key[96];
    snprintf(key, sizeof key, "kb:{staff}:member:%lld:%lld", (long long)a->u.staff_chat, (long long)a->u.user_id);
    if (kv_command(a->tg->kv, on_member_lookup, a, "GET %s", key) != 0)
        accept_finish(a, KB_ERR_NOTCONN);
}

/* Durably accepts one update: an event into the engine, or a notice into the outbox, or nothing. cb gets 0 once
 * it is safe to acknowledge the update to Telegram (it may run before this returns). */
static void tg_accept(tg_t *tg, const cJSON *update, accept_cb cb, void *data)
{
    accept_t *a = calloc(1, sizeof *a);
    if (!a) {
        cb(KB_ERR_NOMEM, data);
        return;
    }
    a->tg = tg;
    a->cb = cb;
    a->data = data;
    tg->intakes++;
    metrics_inc(tg->m_updates);
    int rc = tg_update_from(update, &a->u);
    if (rc == KB_ERR_INVAL) { /* not an update at all: nothing to keep */
        log_warn("tg", "an update without update_id; ignored");
        accept_finish(a, 0);
        return;
    }
    if (rc) {
        accept_finish(a, rc);
        return;
    }
    if (a->u.refused) {
        metrics_inc(tg->m_staff_refused);
        log_warn("tg", "a staff command from chat %s, which is not the staff group: refused (user %s)", a->u.conv + 3,
                 a->u.sender);
    }
    if (a->u.action == TGU_EVENT) {
        if (!a->u.ev.ts_ms) {
            uv_timeval64_t tv;
            uv_gettimeofday(&tv);
            a->u.ev.ts_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
        }
        if (a->u.staff)
            member_check(a);
        else if ((rc = engine_intake(tg->engine, &a->u.ev, on_intake, a)) != 0)
            accept_finish(a, rc);
    } else if (a->u.action == TGU_LEFT) { /* a member left the staff group or was removed: forgotten at once */
        char key[96];
        snprintf(key, sizeof key, "kb:{staff}:member:%lld:%lld", (long long)a->u.staff_chat, (long long)a->u.user_id);
        log_info("tg", "user %lld left staff group %lld: no longer a member", (long long)a->u.user_id,
                 (long long)a->u.staff_chat);
        if (kv_command(tg->kv, on_member_dropped, a, "DEL %s", key) != 0)
            accept_finish(a, KB_ERR_NOTCONN);
    } else if (a->u.action == TGU_NOTICE) {
        char payload[160];
        snprintf(payload, sizeof payload, "{\"tmpl\":\"%s\",\"lang\":\"%s\"}", a->u.notice, a->u.lang);
        outbox_put_t m = {a->u.conv, "tg", 0, a->u.id, 0, payload};
        if (outbox_put(tg->db, NULL, &m, on_notice, a) != 0)
            accept_finish(a, KB_ERR_NOTCONN);
    } else {
        accept_finish(a, 0);
    }
}

/* ---------------------------------------------------------------- webhook */

static void respond(httpd_req_t *r, int status, const char *retry_after, const char *body)
{
    if (retry_after)
        httpd_set_header(r, "Retry-After", retry_after);
    httpd_respond(r, status, "application/json", body, strlen(body));
}

static void on_webhook_accepted(int err, void *data)
{
    httpd_req_t *r = data;
    if (err)
        respond(r, 429, "1", "{\"ok\":false,\"description\":\"not accepted now; retry\"}\n");
    else
        respond(r, 200, NULL, "{\"ok\":true}\n");
}

/* POST /telegram/webhook */
static void on_webhook(httpd_req_t *r, void *data)
{
    tg_t *tg = data;
    char got[300];
    if (httpd_header(r, "X-Telegram-Bot-Api-Secret-Token", got, sizeof got) != 0 || !secret_equal(got, tg->secret)) {
        metrics_inc(tg->m_refused);
        log_warn("tg", "webhook call without the right secret token: refused");
        respond(r, 401, NULL, "{\"ok\":false,\"description\":\"wrong or missing secret token\"}\n");
        return;
    }
    if (tg->stopping || tg->intakes >= (size_t)tg->opt.max_inflight) {
        respond(r, 429, "1", "{\"ok\":false,\"description\":\"busy; retry\"}\n");
        return;
    }
    size_t len;
    const char *body = httpd_body(r, &len);
    cJSON *j = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(j) || !cJSON_IsNumber(cJSON_GetObjectItem(j, "update_id"))) {
        log_warn("tg", "webhook body is not a Telegram update (%zu bytes): refused with 400", len);
        cJSON_Delete(j);
        respond(r, 400, NULL, "{\"ok\":false,\"description\":\"the body is not a Telegram update\"}\n");
        return;
    }
    tg_accept(tg, j, on_webhook_accepted, r);
    cJSON_Delete(j);
}

/* setWebhook, until Telegram takes it. */
static void register_webhook(uv_timer_t *t);

static void on_webhook_set(const tg_answer_t *a, void *data)
{
    tg_t *tg = data;
    if (a->err == KB_ERR_CANCELED || tg->stopping)
        return;
    char masked[512];
    log_mask_url(tg->opt.webhook_url, masked, sizeof masked);
    if (!a->err && a->ok) {
        log_info("tg", "webhook registered with Telegram: %s", masked);
        return;
    }
    tg->backoff_ms = tg->backoff_ms ? (tg->backoff_ms * 2 > 60000 ? 60000 : tg->backoff_ms * 2) : 1000;
    log_error("tg", "setWebhook for %s failed (%s%d %s); trying again in %d s", masked,
              a->err ? kb_strerror(a->err) : "", a->error_code, a->description, tg->backoff_ms / 1000);
    uv_timer_start(&tg->hook_timer, register_webhook, (uint64_t)tg->backoff_ms, 0);
}

static void register_webhook(uv_timer_t *t)
{
    tg_t *tg = t->data;
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "url", tg->opt.webhook_url);
    cJSON_AddStringToObject(b, "secret_token", tg->secret);
    cJSON_AddRawToObject(b, "allowed_updates", ALLOWED_UPDATES);
    cJSON_AddNumberToObject(b, "max_connections", tg->opt.max_connections);
    char *body = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    if (!body || tg_api_call(tg->api, "setWebhook", body, 0, on_webhook_set, tg) != 0) {
        uv_timer_start(&tg->hook_timer, register_webhook, 5000, 0);
    }
    free(body);
}

/* ---------------------------------------------------------------- polling */

/* Renews the lease when it is still ours (1), else 0. */
static const char lua_renew[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end return 0";
static const char lua_release[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";
static kv_script_t s_renew, s_release;

static void on_poll_timer(uv_timer_t *t);

static int lease_ms(const tg_t *tg);

static void poll_later(tg_t *tg, int ms)
{
    if (!tg->stopping)
        uv_timer_start(&tg->poll_timer, on_poll_timer, (uint64_t)ms, 0);
}

typedef struct {
    tg_t *tg;
    int pending, failed;
    int64_t next_offset;
} batch_t;

static void batch_check(batch_t *b)
{
    if (b->pending > 0)
        return;
    tg_t *tg = b->tg;
    if (!b->failed) {
        tg->offset = b->next_offset;
        tg->backoff_ms = 0;
        poll_later(tg, 1);
    } else {
        log_warn("tg", "a batch of updates could not be accepted now; polling it again in 1 s");
        poll_later(tg, 1000);
    }
    tg->intakes--;
    free(b);
}

static void on_batch_item(int err, void *data)
{
    batch_t *b = data;
    if (err)
        b->failed = 1;
    b->pending--;
    batch_check(b);
}

static void on_updates(const tg_answer_t *a, void *data)
{
    tg_t *tg = data;
    if (a->err == KB_ERR_CANCELED || tg->stopping)
        return;
    if (a->err || !a->ok) {
        int ms;
        if (!a->err && a->error_code == 409) {
            /* said once a minute; tried again well within the lease, so that this process keeps it */
            metrics_inc(tg->m_conflicts);
            ms = lease_ms(tg) / 2 < 10000 ? lease_ms(tg) / 2 : 10000;
            if (!tg->conflict_logged || uv_now(tg->loop) - tg->conflict_logged > 60000) {
                tg->conflict_logged = uv_now(tg->loop);
                log_error("tg", "Telegram refused getUpdates with 409 (%s): a webhook is set for this bot, or another "
                          "program polls with the same token. Delete the webhook (deleteWebhook) or run with "
                          "KABINET_TELEGRAM_MODE=webhook; trying again every %d s", a->description, ms / 1000);
            }
        } else if (!a->err && (a->error_code == 401 || a->error_code == 404)) {
            log_error("tg", "Telegram refused the bot token (%d): check KABINET_TELEGRAM_TOKEN; trying again in 30 s",
                      a->error_code);
            ms = 30000;
        } else {
            tg->backoff_ms = tg->backoff_ms ? (tg->backoff_ms * 2 > 30000 ? 30000 : tg->backoff_ms * 2) : 1000;
            ms = a->error_code == 429 && a->retry_after ? a->retry_after * 1000 : tg->backoff_ms;
            log_warn("tg", "getUpdates failed (%s%d %s); again in %d ms", a->err ? kb_strerror(a->err) : "",
                     a->error_code, a->description, ms);
        }
        poll_later(tg, ms);
        return;
    }
    tg->conflict_logged = 0;
    batch_t *b = calloc(1, sizeof *b);
    if (!b) {
        poll_later(tg, 1000);
        return;
    }
    b->tg = tg;
    b->next_offset = tg->offset;
    b->pending = 1; /* held until every update was handed over */
    tg->intakes++;
    const cJSON *u;
    cJSON_ArrayForEach(u, a->result)
    {
        int64_t id;
        if (tg_id(cJSON_GetObjectItem(u, "update_id"), &id) == 0 && id + 1 > b->next_offset)
            b->next_offset = id + 1;
        b->pending++;
        tg_accept(tg, u, on_batch_item, b);
    }
    b->pending--;
    batch_check(b);
}

static void poll_get(tg_t *tg)
{
    char body[200];
    snprintf(body, sizeof body, "{\"offset\":%lld,\"timeout\":%d,\"allowed_updates\":" ALLOWED_UPDATES "}",
             (long long)tg->offset, tg->opt.poll_timeout_s);
    if (tg_api_call(tg->api, "getUpdates", body, (tg->opt.poll_timeout_s + 10) * 1000, on_updates, tg) != 0) {
        poll_later(tg, 1000);
    }
}

static int lease_ms(const tg_t *tg) { return tg->opt.poll_timeout_s * 1000 + 5000; }

static void on_lease(int err, const redisReply *r, void *data)
{
    tg_t *tg = data;
    if (tg->stopping)
        return;
    int ours = !err && r && ((r->type == REDIS_REPLY_STATUS && !strcmp(r->str, "OK")) ||
                             (r->type == REDIS_REPLY_INTEGER && r->integer == 1));
    if (ours && !tg->poll_holder)
        log_info("tg", "this process polls Telegram now (lease %s)", tg->lease_key);
    else if (!ours && tg->poll_holder)
        log_warn("tg", "lost the polling lease%s; another process polls", err ? " (Redis unavailable)" : "");
    tg->poll_holder = ours;
    if (ours)
        poll_get(tg);
    else
        poll_later(tg, 1000);
}

/* Takes or renews the polling lease, then polls. */
static void on_poll_timer(uv_timer_t *t)
{
    tg_t *tg = t->data;
    char ms[16];
    snprintf(ms, sizeof ms, "%d", lease_ms(tg));
    int rc;
    if (tg->poll_holder) {
        const char *argv[] = {tg->lease_key, tg->owner, ms};
        size_t lens[] = {strlen(tg->lease_key), strlen(tg->owner), strlen(ms)};
        rc = kv_eval(tg->kv, &s_renew, 1, 3, argv, lens, on_lease, tg);
    } else {
        rc = kv_command(tg->kv, on_lease, tg, "SET %s %s NX PX %s", tg->lease_key, tg->owner, ms);
    }
    if (rc)
        on_lease(rc, NULL, tg);
}

/* ---------------------------------------------------------------- lifecycle */

int tg_new(uv_loop_t *loop, httpd_t *h, http_client_t *http, kv_t *kv, db_t *db, engine_t *e, const tg_options_t *opt,
           tg_t **out)
{
    tg_t *tg = calloc(1, sizeof *tg);
    if (!tg)
        return KB_ERR_NOMEM;
    tg->loop = loop;
    tg->httpd = h;
    tg->kv = kv;
    tg->db = db;
    tg->engine = e;
    tg->opt = *opt;
    snprintf(tg->secret, sizeof tg->secret, "%s", opt->secret ? opt->secret : "");
    snprintf(tg->owner, sizeof tg->owner, "%s", engine_owner(e));
    keys_global(tg->lease_key, sizeof tg->lease_key, "lease:tg-poll");
    if (!s_renew.src) {
        kv_script_init(&s_renew, lua_renew);
        kv_script_init(&s_release, lua_release);
    }
    int rc = tg_api_new(http, opt->api_url, opt->token, &tg->api);
    if (rc) {
        free(tg);
        return rc;
    }
    tg_send_prepare(tg);
    outbox_options_t oo = {{64, 64}, 12, 1000, 15};
    if ((rc = outbox_new(loop, db, "tg", tg_send_deliver, tg, &oo, &tg->out)) != 0) {
        tg_api_free(tg->api);
        free(tg);
        return rc;
    }
    uv_timer_init(loop, &tg->poll_timer);
    uv_timer_init(loop, &tg->hook_timer);
    uv_timer_init(loop, &tg->ratings_timer);
    tg->poll_timer.data = tg->hook_timer.data = tg->ratings_timer.data = tg;
    tg->m_staff_refused = metrics_counter("kb_staff_refused_total",
                                          "Staff commands or actions refused (outside the staff group, or not a member)", "");
    if (opt->staff_chat && (rc = tg_staff_new(tg)) != 0)
        log_error("tg", "the staff group's sender could not be made (%s)", kb_strerror(rc));
    tg->m_updates = metrics_counter("kb_tg_updates_total", "Telegram updates received", "");
    tg->m_refused = metrics_counter("kb_tg_webhook_refused_total", "Webhook calls without the right secret", "");
    tg->m_possible_dups = metrics_counter("kb_tg_possible_duplicates_total",
                                          "Sends retried after a timeout or a broken connection (may have gone twice)", "");
    tg->m_unreachable = metrics_counter("kb_tg_unreachable_total", "Chats found blocked or gone", "");
    tg->m_flood = metrics_counter("kb_tg_flood_waits_total", "429 answers from Telegram", "");
    tg->m_wait = metrics_histogram("kb_tg_rate_wait_seconds", "Time a message waited for its rate-limit slot", "");
    tg->m_conflicts = metrics_counter("kb_tg_poll_conflicts_total", "getUpdates refused with 409", "");
    if (opt->webhook)
        httpd_route(h, "POST", "/telegram/webhook", on_webhook, tg);
    *out = tg;
    return 0;
}

int tg_start(tg_t *tg)
{
    if (tg->opt.webhook)
        uv_timer_start(&tg->hook_timer, register_webhook, 0, 0);
    else
        uv_timer_start(&tg->poll_timer, on_poll_timer, 0, 0);
    tg_staff_start(tg);
    return outbox_start(tg->out);
}

void tg_stop(tg_t *tg)
{
    tg->stopping = 1;
    uv_timer_stop(&tg->poll_timer);
    uv_timer_stop(&tg->hook_timer);
    tg_api_cancel(tg->api, tg); /* the long poll and a pending setWebhook */
    if (tg->poll_holder) { /* let another process take over at once */
        const char *argv[] = {tg->lease_key, tg->owner};
        size_t lens[] = {strlen(tg->lease_key), strlen(tg->owner)};
        kv_eval(tg->kv, &s_release, 1, 2, argv, lens, NULL, NULL);
        tg->poll_holder = 0;
    }
    outbox_stop(tg->out);
    uv_timer_stop(&tg->ratings_timer);
    if (tg->staff_out)
        outbox_stop(tg->staff_out);
}

size_t tg_busy(const tg_t *tg)
{
    return tg->intakes + tg->sending + tg->posting + outbox_busy(tg->out) +
           (tg->staff_out ? outbox_busy(tg->staff_out) : 0);
}

outbox_t *tg_outbox(tg_t *tg) { return tg->out; }

outbox_t *tg_staff_outbox(tg_t *tg) { return tg->staff_out; }

static void on_closed(uv_handle_t *h)
{
    tg_t *tg = h->data;
    if (--tg->handles_open == 0)
        free(tg);
}

void tg_close(tg_t *tg)
{
    tg->stopping = 1;
    tg_api_free(tg->api);
    tg->api = NULL;
    outbox_close(tg->out);
    tg_staff_close(tg);
    tg->handles_open = 3;
    uv_close((uv_handle_t *)&tg->poll_timer, on_closed);
    uv_close((uv_handle_t *)&tg->hook_timer, on_closed);
    uv_close((uv_handle_t *)&tg->ratings_timer, on_closed);
}

/* ---------------------------------------------------------------- the channel's seam (channel.h) */

/* The Telegram settings: the mode, the token's shape, the URLs, the webhook secret, the staff groups. */
static int tg_check(cfg_t *cfg, char *err, size_t errlen)
{
    if (cfg->tg_token[0]) {
        int webhook = !strcmp(cfg->tg_mode, "webhook");
        size_t sl = strlen(cfg->tg_secret);
        if (!webhook && strcmp(cfg->tg_mode, "polling")) {
            snprintf(err, errlen, "KABINET_TELEGRAM_MODE must be polling or webhook, not \"%s\"", cfg->tg_mode);
            return KB_ERR_INVAL;
        }
        if (strchr(cfg->tg_token, '/') || strchr(cfg->tg_token, '?') || strchr(cfg->tg_token, ' ')) {
            snprintf(err, errlen, "KABINET_TELEGRAM_TOKEN does not look like a bot token (123456:ABC…)");
            return KB_ERR_INVAL;
        }
        if (strncmp(cfg->tg_api_url, "http://", 7) && strncmp(cfg->tg_api_url, "https://", 8)) {
            snprintf(err, errlen, "KABINET_TELEGRAM_API_URL must be an http:// or https:// URL");
            return KB_ERR_INVAL;
        }
        if (webhook && strncmp(cfg->tg_webhook_url, "https://", 8) &&
            (cfg->production || strncmp(cfg->tg_webhook_url, "http://", 7))) {
            snprintf(err, errlen, "KABINET_TELEGRAM_WEBHOOK_URL must be the https:// URL Telegram calls in webhook mode");
            return KB_ERR_INVAL;
        }
        if (webhook && (sl < 1 || sl > 256 || strspn(cfg->tg_secret, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                                       "0123456789_-") != sl)) {
            snprintf(err, errlen, "KABINET_TELEGRAM_SECRET must be 1 to 256 characters of A-Z, a-z, 0-9, _ and - in "
                                  "webhook mode");
            return KB_ERR_INVAL;
        }
    }
    if (cfg->production && !cfg->tg_chat_limit) {
        snprintf(err, errlen, "KABINET_TELEGRAM_CHAT_LIMIT must be on when KABINET_ENV is production (Telegram "
                              "limits every chat)");
        return KB_ERR_INVAL;
    }
    if (cfg->staff_chat_id[0] || cfg->staff_branches[0]) {
        char *end;
        long long chat = strtoll(cfg->staff_chat_id, &end, 10);
        if (!cfg->staff_chat_id[0] || *end || chat >= 0) {
            snprintf(err, errlen, "KABINET_STAFF_CHAT_ID must be the staff supergroup's chat id (a negative number "
                                  "such as -1001234567890)");
            return KB_ERR_INVAL;
        }
        if (!cfg->tg_token[0]) {
            snprintf(err, errlen, "KABINET_STAFF_CHAT_ID needs KABINET_TELEGRAM_TOKEN (staff work in Telegram)");
            return KB_ERR_INVAL;
        }
        cfg->staff_chat = chat;
        const char *b = cfg->staff_branches;
        int n = 0;
        while (*b) {
            char code[24];
            long long bc;
            int used = 0;
            if (sscanf(b, " %23[A-Za-z0-9_.-]=%lld%n", code, &bc, &used) != 2 || bc >= 0 || ++n > 15 ||
                (b[used] && b[used] != ',')) {
                snprintf(err, errlen, "KABINET_STAFF_BRANCHES must be code=chat id pairs separated by commas (at most "
                                      "15), such as ess=-1001234567890,pyat=-1009876543210");
                return KB_ERR_INVAL;
            }
            b += used;
            if (*b == ',')
                b++;
        }
    }
    return 0;
}

static int tg_wanted(const cfg_t *cfg) { return cfg->tg_token[0] != 0; }

static int tg_create(const channel_env_t *env, void **self, char *err, size_t errlen)
{
    const cfg_t *cfg = env->cfg;
    tg_options_t to = {cfg->tg_token, cfg->tg_api_url, !strcmp(cfg->tg_mode, "webhook"), cfg->tg_webhook_url,
                       cfg->tg_secret, cfg->tg_poll_timeout_s, cfg->tg_max_connections, cfg->tg_max_inflight,
                       cfg->tg_broadcast_rate, cfg->tg_paid_broadcast ? cfg->tg_paid_rate : 0, cfg->tg_chat_limit,
                       cfg->staff_chat, cfg->staff_branches, cfg->staff_per_minute};
    return tg_new(env->loop, env->httpd, env->http, env->kv, env->db, env->engine, &to, (tg_t **)self);
}

static int tg_start_(void *self) { return tg_start(self); }
static void tg_stop_(void *self) { tg_stop(self); }
static size_t tg_busy_(void *self) { return tg_busy(self); }
static void tg_close_(void *self) { tg_close(self); }

static outbox_t *tg_lane(void *self, const char *lane)
{
    return !strcmp(lane, "staff") ? tg_staff_outbox(self) : tg_outbox(self);
}

/* `kabinetd tg-file FILE_ID > file`: a file a customer sent, for staff to check (needs only the Telegram settings). */
static int tg_file_command(const cfg_t *cfg, int argc, char **argv)
{
    char err[512];
    int rc;
    if (argc != 3) {
        fprintf(stderr, "usage: kabinetd tg-file FILE_ID > file\n");
        return 64;
    }
    if (!cfg->tg_token[0]) {
        fprintf(stderr, "kabinetd: tg-file: KABINET_TELEGRAM_TOKEN is not set\n");
        return 2;
    }
    if ((rc = tg_file_fetch(cfg->tg_api_url, cfg->tg_token, argv[2], stdout, err, sizeof err)) != 0) {
        fprintf(stderr, "kabinetd: tg-file: %s\n", err);
        return rc == KB_ERR_NOTCONN ? 2 : 1;
    }
    return 0;
}

const channel_def_t channel_telegram = {
    .name = "tg", .lanes = {"tg", "staff", NULL}, .direct = 1, .check = tg_check, .wanted = tg_wanted, .create = tg_create,
    .start = tg_start_, .stop = tg_stop_, .busy = tg_busy_, .outbox = tg_lane, .close = tg_close_,
    .command = "tg-file", .command_needs_cfg = 1, .run = tg_file_command};
