/* server.c — the serve subcommand (see server.h): module wiring, the operational endpoints, graceful drain. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>
#include <unistd.h>
#include <uv.h>
#include "core.h"
#include "db.h"
#include "engine.h"
#include "err.h"
#include "http_client.h"
#include "httpd.h"
#include "kv.h"
#include "local.h"
#include "sms.h"
#include "mail.h"
#include "telegram.h"
#include "docs.h"
#include "form.h"
#include "pay.h"
#include "log.h"
#include "metrics.h"
#include "migrate.h"
#include "notify.h"
#include "outbox.h"
#include "relay.h"
#include "server.h"

typedef struct {
    uv_loop_t *loop;
    const cfg_t *cfg;
    kv_t *kv;
    db_t *db;
    db_t *db_async;            /* the outbox's claims and outcomes: synchronous_commit off */
    db_t *db_replica;          /* reads that may lag (KABINET_DATABASE_REPLICA_URL), or NULL */
    http_client_t *http;
    httpd_t *httpd;
    engine_t *engine;
    local_t *local;
    tg_t *tg;                  /* the Telegram channel, when a token is set */
    pay_t *pay;                /* payment links (KABINET_PAY_PROVIDER) */
    docs_t *docs;              /* documents for customers: checks, bills */
    sms_t *sms;                /* SMS through the gateway KABINET_SMS_PROVIDER names */
    mail_t *mail;              /* email: SMTP out, IMAP and a webhook in (KABINET_SMTP_URL, …) */
    relay_t *relay;            /* events from one conversation to another (staff → customer) */
    notify_t *notify;          /* the scheduler's notification jobs (KABINET_NOTIFY) */
    uv_signal_t sigterm, sigint;
    uv_timer_t drain;
    uint64_t drain_deadline;
    int draining;
    double started;
} server_t;

/* ---------------------------------------------------------------- operational endpoints */

/* /healthz: the process is alive and its loop turns. */
static void on_healthz(httpd_req_t *r, void *data)
{
    httpd_respond(r, 200, "text/plain", "ok\n", 3);
}

/* One /readyz probe: a PING to Redis and a SELECT 1 to Postgres, answered when both are back or after 1 s. */
typedef struct {
    server_t *s;
    httpd_req_t *r;
    uv_timer_t timer;
    int refs, answered, redis_ok, pg_ok;
} probe_t;

static void probe_unref(probe_t *p)
{
    if (--p->refs == 0)
        free(p);
}

static void probe_timer_closed(uv_handle_t *h) { probe_unref(h->data); }

/* Answers once: 200 when both stores answered, else 503 naming what is down. */
static void probe_answer(probe_t *p)
{
    if (p->answered)
        return;
    p->answered = 1;
    uv_timer_stop(&p->timer);
    uv_close((uv_handle_t *)&p->timer, probe_timer_closed);
    char body[160];
    int ok = p->redis_ok == 1 && p->pg_ok == 1 && !p->s->draining;
    int n = snprintf(body, sizeof body, "{\"ready\":%s,\"redis\":\"%s\",\"postgres\":\"%s\"%s}\n", ok ? "true" : "false",
                     p->redis_ok == 1 ? "up" : "down", p->pg_ok == 1 ? "up" : "down",
                     p->s->draining ? ",\"draining\":true" : "");
    httpd_respond(p->r, ok ? 200 : 503, "application/json", body, (size_t)n);
}

static void probe_check(probe_t *p)
{
    if (p->redis_ok != -1 && p->pg_ok != -1)
        probe_answer(p);
}

static void probe_redis(int err, const redisReply *reply, void *data)
{
    probe_t *p = data;
    p->redis_ok = err == 0;
    probe_check(p);
    probe_unref(p);
}

static void probe_pg(int err, PGresult *res, void *data)
{
    probe_t *p = data;
    p->pg_ok = err == 0;
    probe_check(p);
    probe_unref(p);
}

static void probe_timeout(uv_timer_t *t) { probe_answer(t->data); }

/* /readyz: 200 only while Redis and Postgres both answer (and the process is not draining). */
static void on_readyz(httpd_req_t *r, void *data)
{
    server_t *s = data;
    probe_t *p = calloc(1, sizeof *p);
    if (!p) {
        httpd_respond(r, 503, "text/plain", "out of memory\n", 14);
        return;
    }
    p->s = s;
    p->r = r;
    p->refs = 1;
    p->redis_ok = p->pg_ok = -1;
    uv_timer_init(s->loop, &p->timer);
    p->timer.data = p;
    uv_timer_start(&p->timer, probe_timeout, 1000, 0);
    p->refs++;
    if (kv_command(s->kv, probe_redis, p, "PING") != 0) {
        p->refs--;
        p->redis_ok = 0;
    }
    p->refs++;
    if (db_sql(s->db, 0, "SELECT 1", 0, NULL, probe_pg, p) != 0) {
        p->refs--;
        p->pg_ok = 0;
    }
    probe_check(p);
}

/* Reads the resident set size from /proc (Linux). */
static double rss_bytes(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (double)resident * (double)sysconf(_SC_PAGESIZE);
}

/* /metrics: every module's counters and histograms plus process figures, in Prometheus text format. */
static void on_metrics(httpd_req_t *r, void *data)
{
    server_t *s = data;
    metrics_set(metrics_gauge("kb_process_resident_memory_bytes", "Resident memory", ""), rss_bytes());
    metrics_set(metrics_gauge("kb_process_uptime_seconds", "Seconds since start", ""), metrics_now() - s->started);
    metrics_set(metrics_gauge("kb_ready", "1 while Redis and Postgres are connected", ""),
                kv_ready(s->kv) && db_ready(s->db));
    char *text = NULL;
    size_t len = 0;
    if (metrics_render(&text, &len) != 0) {
        httpd_respond(r, 500, "text/plain", "out of memory\n", 14);
        return;
    }
    httpd_respond(r, 200, "text/plain; version=0.0.4", text, len);
    free(text);
}

/* ---------------------------------------------------------------- drain and stop */

static void close_walk(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Closes every module; whatever handles are left (idle keep-alive connections) are closed too. */
/* Closes whichever modules exist, channels and engine first (they use the clients), the clients last. */
static void close_modules(server_t *s)
{
    if (s->notify)
        notify_close(s->notify);
    s->notify = NULL;
    if (s->local)
        local_close(s->local);
    if (s->tg)
        tg_close(s->tg);
    s->tg = NULL;
    if (s->pay)
        pay_close(s->pay);
    s->pay = NULL;
    if (s->docs)
        docs_close(s->docs);
    s->docs = NULL;
    if (s->sms)
        sms_close(s->sms);
    s->sms = NULL;
    if (s->mail)
        mail_close(s->mail);
    s->mail = NULL;
    if (s->relay)
        relay_close(s->relay);
    s->relay = NULL;
    if (s->engine)
        engine_close(s->engine);
    if (s->httpd)
        httpd_close(s->httpd);
    if (s->http)
        http_client_close(s->http);
    if (s->kv)
        kv_close(s->kv);
    if (s->db)
        db_close(s->db);
    if (s->db_async)
        db_close(s->db_async);
    if (s->db_replica)
        db_close(s->db_replica);
    outbox_set_bookkeeping_db(NULL);
    core_set_replica(NULL);
    s->db_async = s->db_replica = NULL;
    s->local = NULL;
    s->engine = NULL;
    s->httpd = NULL;
    s->http = NULL;
    s->kv = NULL;
    s->db = NULL;
}

/* Closes every handle still open (h2o's keep-alive connections among them), lets the closes finish, and frees
 * the loop. */
static void loop_finish(server_t *s)
{
    uv_run(s->loop, UV_RUN_NOWAIT);
    uv_walk(s->loop, close_walk, NULL);
    uv_run(s->loop, UV_RUN_DEFAULT);
    uv_loop_close(s->loop);
    free(s->loop);
}

static void server_close(server_t *s)
{
    uv_close((uv_handle_t *)&s->sigterm, NULL);
    uv_close((uv_handle_t *)&s->sigint, NULL);
    uv_close((uv_handle_t *)&s->drain, NULL);
    close_modules(s);
}

/* Checks every 20 ms whether in-flight work has finished, or the deadline has passed. */
static void on_drain_tick(uv_timer_t *t)
{
    server_t *s = t->data;
    size_t http_in = httpd_inflight(s->httpd), pg = db_pending(s->db) + (s->db_async ? db_pending(s->db_async) : 0) +
                                                     (s->db_replica ? db_pending(s->db_replica) : 0),
           redis = kv_pending(s->kv),
           out = http_client_pending(s->http), engine = engine_busy(s->engine),
           sender = (s->local ? outbox_busy(local_outbox(s->local)) : 0) + (s->tg ? tg_busy(s->tg) : 0) +
                    (s->pay ? outbox_busy(pay_outbox(s->pay)) : 0) + (s->docs ? outbox_busy(docs_outbox(s->docs)) : 0) +
                    (s->sms ? outbox_busy(sms_outbox(s->sms)) : 0) + (s->relay ? outbox_busy(relay_outbox(s->relay)) : 0) +
                    (s->mail && mail_outbox(s->mail) ? outbox_busy(mail_outbox(s->mail)) : 0) +
                    (s->notify ? (size_t)notify_busy(s->notify) : 0);
    int idle = http_in == 0 && pg == 0 && redis == 0 && out == 0 && engine == 0 && sender == 0;
    if (!idle && uv_now(s->loop) < s->drain_deadline)
        return;
    if (!idle)
        log_warn("server", "shutdown deadline passed with work in flight: http_in=%zu postgres=%zu redis=%zu "
                 "http_out=%zu engine=%zu outbox=%zu", http_in, pg, redis, out, engine, sender);
    else
        log_info("server", "drained; exiting");
    uv_timer_stop(t);
    server_close(s);
    /* h2o keeps timers of its own while keep-alive connections are open: leave the loop here; server_run closes
     * every handle that is left */
    uv_stop(s->loop);
}

/* SIGTERM/SIGINT: stop taking work, then drain. A second signal exits at once. */
static void on_signal(uv_signal_t *sig, int signum)
{
    server_t *s = sig->data;
    if (s->draining) {
        log_warn("server", "second signal: exiting now");
        _exit(1);
    }
    s->draining = 1;
    log_info("server", "signal %d: draining (up to %d ms)", signum, s->cfg->shutdown_timeout_ms);
    httpd_stop(s->httpd);
    engine_stop(s->engine);
    if (s->notify)
        notify_stop(s->notify);
    if (s->local)
        outbox_stop(local_outbox(s->local));
    if (s->tg)
        tg_stop(s->tg);
    if (s->pay)
        outbox_stop(pay_outbox(s->pay));
    if (s->docs)
        outbox_stop(docs_outbox(s->docs));
    if (s->sms)
        outbox_stop(sms_outbox(s->sms));
    if (s->mail && mail_outbox(s->mail))
        outbox_stop(mail_outbox(s->mail));
    if (s->relay)
        outbox_stop(relay_outbox(s->relay));
    s->drain_deadline = uv_now(s->loop) + (uint64_t)s->cfg->shutdown_timeout_ms;
    uv_timer_start(&s->drain, on_drain_tick, 0, 20);
}

/* ---------------------------------------------------------------- run */

/* After a commit that wrote replies: wake that channel's sender. */
static void kick_sender(void *ctx, const char *channel)
{
    server_t *s = ctx;
    if (s->local && !strcmp(channel, "local"))
        outbox_kick(local_outbox(s->local));
    if (s->sms && !strcmp(channel, "sms"))
        outbox_kick(sms_outbox(s->sms));
    if (s->mail && mail_outbox(s->mail) && !strcmp(channel, "mail"))
        outbox_kick(mail_outbox(s->mail));
    if (s->tg && !strcmp(channel, "tg"))
        outbox_kick(tg_outbox(s->tg));
    if (s->pay && !strcmp(channel, "pay"))
        outbox_kick(pay_outbox(s->pay));
    if (s->docs && !strcmp(channel, "doc"))
        outbox_kick(docs_outbox(s->docs));
    if (s->relay && !strcmp(channel, "relay"))
        outbox_kick(relay_outbox(s->relay));
    if (s->tg && tg_staff_outbox(s->tg) && !strcmp(channel, "staff"))
        outbox_kick(tg_staff_outbox(s->tg));
}

/* Closes whatever modules exist and runs the loop until every handle has closed, then frees the loop. */
static void server_teardown(server_t *s)
{
    close_modules(s);
    loop_finish(s);
}

/* The SMS channel with the gateway KABINET_SMS_PROVIDER names. */
static int start_sms(server_t *s, const cfg_t *cfg)
{
    smsprov_t *prov = NULL;
    int rc;
    if (!strcmp(cfg->sms_provider, "smsc")) {
        smsprov_smsc_options_t o = {cfg->smsc_url, cfg->smsc_login, cfg->smsc_password, cfg->smsc_secret,
                                    cfg->smsc_sender};
        rc = smsprov_smsc_new(s->http, &o, &prov);
    } else if (!strcmp(cfg->sms_provider, "smsru")) {
        smsprov_smsru_options_t o = {cfg->smsru_url, cfg->smsru_api_id, cfg->smsru_token};
        rc = smsprov_smsru_new(s->http, &o, &prov);
    } else {
        rc = smsprov_log_new(&prov);
    }
    if (rc) {
        fprintf(stderr, "kabinetd: cannot set up the SMS gateway (a KABINET_SMSC_* or KABINET_SMSRU_* setting is too "
                        "long)\n");
        return rc;
    }
    if ((rc = sms_new(s->loop, s->httpd, s->db, s->engine, prov, &s->sms)) != 0)
        return rc;
    sms_set_push_limits(s->sms, s->kv, cfg->sms_push_rate, cfg->sms_push_cap, cfg->sms_price);
    return 0;
}

/* How customers reach this server, without a trailing slash (KABINET_PUBLIC_URL, else the listen address). */
static void public_base(const cfg_t *cfg, char *base, size_t size)
{
    char url[300];
    snprintf(url, sizeof url, "http://%s", cfg->http_listen);
    form_base_url(base, size, cfg->public_url[0] ? cfg->public_url : url);
}

/* The payment channel with the provider KABINET_PAY_PROVIDER names. */
static int start_pay(server_t *s, const cfg_t *cfg)
{
    char base[300], back[400], fail[400], err[200] = "";
    public_base(cfg, base, sizeof base);
    snprintf(back, sizeof back, "%s/pay/done", base);
    snprintf(fail, sizeof fail, "%s/pay/done?failed=1", base);
    payprov_t *prov = NULL;
    int rc;
    if (!strcmp(cfg->pay_provider, "yookassa")) {
        payprov_yookassa_options_t yo = {cfg->yk_url, cfg->yk_shop_id, cfg->yk_secret_key, cfg->yk_webhook_ips, back,
                                         cfg->yk_vat_code, cfg->trusted_proxies};
        rc = payprov_yookassa_new(s->http, &yo, &prov, err, sizeof err);
    } else if (!strcmp(cfg->pay_provider, "sber")) {
        payprov_sber_options_t so = {cfg->sber_url, cfg->sber_username, cfg->sber_password, cfg->sber_callback_key,
                                     back, fail, cfg->pay_expire_s};
        rc = payprov_sber_new(s->http, &so, &prov, err, sizeof err);
    } else {
        rc = payprov_fake_new(base, &prov);
    }
    if (rc) {
        fprintf(stderr, "kabinetd: %s\n", err[0] ? err : "cannot set up the payment provider");
        return rc;
    }
    pay_options_t po = {cfg->pay_poll_s, cfg->pay_expire_s, base};
    return pay_new(s->loop, s->httpd, s->db, prov, &po, kick_sender, s, &s->pay);
}

/* In production, Postgres on another machine should be reached over TLS with its certificate and name checked
 * (sslmode=verify-full, sslrootcert=…): says so at start when it is not. */
static void warn_plain_postgres(const cfg_t *cfg)
{
    char *errmsg = NULL;
    PQconninfoOption *opts = PQconninfoParse(cfg->database_url, &errmsg);
    const char *mode = NULL, *host = NULL, *addr = NULL;
    for (PQconninfoOption *o = opts; o && o->keyword; o++) {
        if (!strcmp(o->keyword, "sslmode"))
            mode = o->val;
        else if (!strcmp(o->keyword, "host"))
            host = o->val;
        else if (!strcmp(o->keyword, "hostaddr"))
            addr = o->val;
    }
    const char *where = addr && addr[0] ? addr : host ? host : "";
    int local = !where[0] || where[0] == '/' || !strcmp(where, "localhost") || !strncmp(where, "127.", 4) ||
                !strcmp(where, "::1");
    if (cfg->production && !local && (!mode || strcmp(mode, "verify-full")))
        log_warn("server", "KABINET_DATABASE_URL reaches Postgres on another machine without sslmode=verify-full: "
                           "add sslmode=verify-full and sslrootcert (and host= for the name the certificate carries)");
    PQconninfoFree(opts);
    PQfreemem(errmsg);
}

int server_run(const cfg_t *cfg)
{
    signal(SIGPIPE, SIG_IGN);
    server_t s = {0};
    char err[512], masked[512];
    int rc, exit_code = 2;
    s.cfg = cfg;
    s.started = metrics_now();
    s.loop = malloc(sizeof *s.loop);
    uv_loop_init(s.loop);

    db_options_t dbo = {cfg->database_url, cfg->database_pool, cfg->database_pipeline, cfg->database_prepared,
                        cfg->database_timeout_ms};
    if (db_new(s.loop, &dbo, &s.db, err, sizeof err) != 0) {
        fprintf(stderr, "kabinetd: KABINET_DATABASE_URL: %s\n", err);
        goto fail;
    }
    if (cfg->database_replica_url[0]) {
        db_options_t dbr = dbo;
        dbr.conninfo = cfg->database_replica_url;
        dbr.pool = cfg->database_replica_pool;
        if (db_new(s.loop, &dbr, &s.db_replica, err, sizeof err) != 0) {
            fprintf(stderr, "kabinetd: KABINET_DATABASE_REPLICA_URL: %s\n", err);
            goto fail;
        }
        core_set_replica(s.db_replica);
    }
    db_options_t dba = dbo;
    dba.pool = 2;
    dba.async_commit = 1;
    if (db_new(s.loop, &dba, &s.db_async, err, sizeof err) == 0)
        outbox_set_bookkeeping_db(s.db_async);
    if (kv_new(s.loop, cfg->redis_url, cfg->redis_timeout_ms, &s.kv) != 0) {
        fprintf(stderr, "kabinetd: KABINET_REDIS_URL must be redis://[:password@]IP[:port][/db]\n");
        goto fail;
    }
    warn_plain_postgres(cfg);
    /* a schema check now, before serving; a database that is down only delays readiness */
    rc = migrate_check(cfg->database_url, migrate_builtin, err, sizeof err);
    if (rc == KB_ERR_STATE) {
        fprintf(stderr, "kabinetd: %s\n", err);
        exit_code = 3;
        goto fail;
    }
    if (rc == KB_ERR_NOTCONN)
        log_warn("server", "database not reachable at start (%s); serving, not ready until it is", err);
    http_client_new(s.loop, cfg->http_out_max_host_conns, cfg->http_out_timeout_ms, &s.http);
    httpd_new(s.loop, cfg->http_host, cfg->http_port, (size_t)cfg->http_max_body, &s.httpd);
    httpd_route(s.httpd, "GET", "/healthz", on_healthz, &s);
    httpd_route(s.httpd, "GET", "/readyz", on_readyz, &s);
    httpd_route(s.httpd, "GET", "/metrics", on_metrics, &s);
    engine_options_t eo = {cfg->engine_concurrency, cfg->lease_ms, cfg->state_ttl_s, cfg->step_ttl_s,
                           cfg->dedupe_ids, cfg->dedupe_ttl_s, cfg->limit_per_minute, cfg->limit_per_day,
                           cfg->redis_wait_replicas, cfg->redis_wait_ms};
    engine_new(s.loop, s.kv, s.db, &eo, &s.engine);
    /* the first dialog added is where a new conversation starts */
    int demo_first = !strcmp(cfg->start_dialog, "demo");
    engine_add_dialog(s.engine, demo_first ? &dlg_demo : &dlg_customer);
    engine_add_dialog(s.engine, demo_first ? &dlg_customer : &dlg_demo);
    engine_route(s.engine, "staff", &dlg_staff);
    core_register_all();
    core_auth_set_key(cfg->code_key);
    if (cfg->local_channel)
        local_new(s.loop, s.httpd, s.engine, s.db, &s.local);
    if (cfg->tg_token[0]) {
        tg_options_t to = {cfg->tg_token, cfg->tg_api_url, !strcmp(cfg->tg_mode, "webhook"), cfg->tg_webhook_url,
                           cfg->tg_secret, cfg->tg_poll_timeout_s, cfg->tg_max_connections, cfg->tg_max_inflight,
                           cfg->tg_broadcast_rate, cfg->tg_paid_broadcast ? cfg->tg_paid_rate : 0, cfg->tg_chat_limit, cfg->staff_chat, cfg->staff_branches, cfg->staff_per_minute};
        tg_new(s.loop, s.httpd, s.http, s.kv, s.db, s.engine, &to, &s.tg);
    }
    if (strcmp(cfg->pay_provider, "none") && (rc = start_pay(&s, cfg)) != 0)
        goto fail;
    char base[300];
    public_base(cfg, base, sizeof base);
    docs_new(s.loop, s.httpd, s.db, base, kick_sender, &s, &s.docs);
    if ((rc = start_sms(&s, cfg)) != 0)
        goto fail;
    if (cfg->smtp_url[0] || cfg->imap_url[0] || cfg->mail_webhook_secret[0]) {
        mail_options_t mo = {cfg->smtp_url, cfg->mail_from, cfg->imap_url, cfg->imap_poll_s, cfg->mail_webhook_secret,
                             base, cfg->code_key, cfg->mail_ca_file, (size_t)cfg->mail_max_bytes,
                             cfg->mail_authserv_id};
        if ((rc = mail_new(s.loop, s.httpd, s.http, s.db, s.engine, &mo, &s.mail)) != 0) {
            fprintf(stderr, "kabinetd: cannot set up the email channel: %s\n", kb_strerror(rc));
            goto fail;
        }
    }
    relay_new(s.loop, s.db, s.engine, &s.relay);
    if (cfg->notify && (rc = notify_new(s.loop, s.db, cfg, engine_owner(s.engine), &s.notify)) != 0)
        goto fail;
    engine_set_outbox_hook(s.engine, kick_sender, &s);
    if ((rc = httpd_start(s.httpd)) != 0) {
        fprintf(stderr, "kabinetd: cannot listen on %s (KABINET_HTTP_LISTEN): %s\n", cfg->http_listen, uv_strerror(rc));
        goto fail;
    }
    db_start(s.db);
    if (s.db_async)
        db_start(s.db_async);
    if (s.db_replica)
        db_start(s.db_replica);
    kv_start(s.kv);
    engine_start(s.engine);
    if (s.tg)
        tg_start(s.tg);
    if (s.mail)
        mail_start(s.mail);
    if (s.notify)
        notify_start(s.notify);

    uv_signal_init(s.loop, &s.sigterm);
    uv_signal_init(s.loop, &s.sigint);
    s.sigterm.data = s.sigint.data = &s;
    uv_signal_start(&s.sigterm, on_signal, SIGTERM);
    uv_signal_start(&s.sigint, on_signal, SIGINT);
    uv_timer_init(s.loop, &s.drain);
    s.drain.data = &s;

    log_mask_url(cfg->database_url, masked, sizeof masked);
    log_info("server", "kabinetd listening on http://%s:%d (postgres %s, pool %d)", cfg->http_host,
             httpd_port(s.httpd), masked, cfg->database_pool);
    uv_run(s.loop, UV_RUN_DEFAULT);
    loop_finish(&s);
    return 0;

fail:
    server_teardown(&s);
    return exit_code;
}
