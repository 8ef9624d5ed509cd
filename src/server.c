/* server.c — the serve subcommand (see server.h): module wiring, the operational endpoints, graceful drain. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>
#include <unistd.h>
#include <uv.h>
#include "channel.h"
#include "core.h"
#include "db.h"
#include "engine.h"
#include "err.h"
#include "form.h"
#include "http_client.h"
#include "httpd.h"
#include "kv.h"
#include "log.h"
#include "metrics.h"
#include "migrate.h"
#include "outbox.h"
#include "server.h"

#define SERVER_MAX_PARTS 16
#define SERVER_MAX_LANES 24

/* A channel or worker this process runs (channel.h), and its state. */
typedef struct {
    const channel_def_t *def;
    void *self;
} part_t;

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
    part_t parts[SERVER_MAX_PARTS];  /* the channels, then the workers, in their tables' order */
    int nparts;
    struct {
        const char *lane;
        outbox_t *out;
    } lanes[SERVER_MAX_LANES];        /* which sender drains which outbox lane: the engine's wake-ups look here */
    int nlanes;
    char public_url[300];
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

/* ---------------------------------------------------------------- channels and workers (channel.h) */

/* Stops a part taking work: its own stop, else its senders'. */
static void part_stop(part_t *p)
{
    if (p->def->stop) {
        p->def->stop(p->self);
        return;
    }
    for (int l = 0; p->def->lanes[l] && p->def->outbox; l++) {
        outbox_t *o = p->def->outbox(p->self, p->def->lanes[l]);
        if (o)
            outbox_stop(o);
    }
}

/* A part's work in flight: its own count, else its senders'. */
static size_t part_busy(part_t *p)
{
    if (p->def->busy)
        return p->def->busy(p->self);
    size_t n = 0;
    for (int l = 0; p->def->lanes[l] && p->def->outbox; l++) {
        outbox_t *o = p->def->outbox(p->self, p->def->lanes[l]);
        n += o ? outbox_busy(o) : 0;
    }
    return n;
}

int channel_check_all(cfg_t *cfg, char *err, size_t errlen)
{
    const channel_def_t *const *tables[] = {kb_workers, kb_channels};
    for (size_t t = 0; t < 2; t++)
        for (const channel_def_t *const *d = tables[t]; *d; d++) {
            int rc = (*d)->check ? (*d)->check(cfg, err, errlen) : 0;
            if (rc)
                return rc;
        }
    return 0;
}

const channel_def_t *channel_command(const char *cmd)
{
    const channel_def_t *const *tables[] = {kb_channels, kb_workers};
    for (size_t t = 0; t < 2; t++)
        for (const channel_def_t *const *d = tables[t]; *d; d++)
            if ((*d)->command && !strcmp((*d)->command, cmd))
                return *d;
    return NULL;
}

/* ---------------------------------------------------------------- drain and stop */

static void close_walk(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Closes whichever modules exist, channels and workers first (last made, first closed; they use the clients and
 * the engine), the clients last. */
static void close_modules(server_t *s)
{
    while (s->nparts > 0) {
        part_t *p = &s->parts[--s->nparts];
        if (p->self && p->def->close)
            p->def->close(p->self);
        p->self = NULL;
    }
    s->nlanes = 0;
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
           out = http_client_pending(s->http), engine = engine_busy(s->engine), sender = 0;
    for (int i = 0; i < s->nparts; i++)
        sender += part_busy(&s->parts[i]);
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
    for (int i = 0; i < s->nparts; i++)
        part_stop(&s->parts[i]);
    s->drain_deadline = uv_now(s->loop) + (uint64_t)s->cfg->shutdown_timeout_ms;
    uv_timer_start(&s->drain, on_drain_tick, 0, 20);
}

/* ---------------------------------------------------------------- run */

/* After a commit that wrote outbox rows for lane: wake the sender that drains it (a lookup in the lane table). */
static void kick_sender(void *ctx, const char *lane)
{
    server_t *s = ctx;
    for (int i = 0; i < s->nlanes; i++)
        if (!strcmp(s->lanes[i].lane, lane)) {
            outbox_kick(s->lanes[i].out);
            return;
        }
}

/* The sender of channel's conversations' replies, when the channel takes direct deliveries (the engine's fast
 * path), or NULL. */
static outbox_t *direct_sender(void *ctx, const char *channel)
{
    server_t *s = ctx;
    for (int i = 0; i < s->nparts; i++)
        if (s->parts[i].def->direct && !strcmp(s->parts[i].def->name, channel) && s->parts[i].def->outbox)
            return s->parts[i].def->outbox(s->parts[i].self, channel);
    return NULL;
}

/* Closes whatever modules exist and runs the loop until every handle has closed, then frees the loop. */
static void server_teardown(server_t *s)
{
    close_modules(s);
    loop_finish(s);
}

/* How customers reach this server, without a trailing slash (KABINET_PUBLIC_URL, else the listen address). */
static void public_base(const cfg_t *cfg, char *base, size_t size)
{
    char url[300];
    snprintf(url, sizeof url, "http://%s", cfg->http_listen);
    form_base_url(base, size, cfg->public_url[0] ? cfg->public_url : url);
}

/* Creates every channel, then every worker, the settings turn on, and fills the lane table from what they drain.
 * Returns 0, or the first error (said to the operator). */
static int create_parts(server_t *s, const cfg_t *cfg)
{
    channel_env_t env = {s->loop, cfg, s->httpd, s->http, s->kv, s->db, s->engine, s->public_url, kick_sender, s};
    const channel_def_t *const *tables[] = {kb_channels, kb_workers};
    for (size_t t = 0; t < 2; t++)
        for (const channel_def_t *const *d = tables[t]; *d; d++) {
            if (!(*d)->wanted(cfg))
                continue;
            char err[300] = "";
            void *self = NULL;
            int rc = s->nparts == SERVER_MAX_PARTS ? KB_ERR_BUSY : (*d)->create(&env, &self, err, sizeof err);
            if (rc) {
                fprintf(stderr, "kabinetd: %s: %s\n", (*d)->name, err[0] ? err : kb_strerror(rc));
                return rc;
            }
            s->parts[s->nparts].def = *d;
            s->parts[s->nparts++].self = self;
            for (int l = 0; (*d)->lanes[l] && (*d)->outbox; l++) {
                outbox_t *o = (*d)->outbox(self, (*d)->lanes[l]);
                if (o && s->nlanes < SERVER_MAX_LANES) {
                    s->lanes[s->nlanes].lane = (*d)->lanes[l];
                    s->lanes[s->nlanes++].out = o;
                }
            }
        }
    return 0;
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
    public_base(cfg, s.public_url, sizeof s.public_url);
    if ((rc = create_parts(&s, cfg)) != 0)
        goto fail;
    engine_set_outbox_hook(s.engine, kick_sender, &s);
    engine_set_sender(s.engine, direct_sender, &s);
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
    for (int i = 0; i < s.nparts; i++)
        if (s.parts[i].def->start && (rc = s.parts[i].def->start(s.parts[i].self)) != 0)
            log_warn("server", "%s did not start: %s", s.parts[i].def->name, kb_strerror(rc));

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
