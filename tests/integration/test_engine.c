/* test_engine.c — the dialog engine across processes, against real Redis and PostgreSQL.
 *
 * Two `kabinetd serve` processes share one Redis and one database. The driver plays 50 conversations of 20 events
 * each ("+1" … "+20": each adds to the conversation's counter in Postgres and appends its number to a history),
 * 1,000 events interleaved across conversations and sent to either process, some twice at once to both. Afterwards
 * every conversation's history is exactly 1…20 — each transition once, in order — and transitions of different
 * conversations overlapped in time (no global lock). The crash tests arm KABINET_KILL_AT in one process at each
 * named point, restart it when it dies, and check the same, plus that no conversation stayed stuck. The cluster test
 * runs the same two processes on a three-master Redis Cluster (tests/redis_topo.sh) and, while the events flow,
 * migrates the slots of the ready set and of three conversations to other masters (the clients meet ASK, TRYAGAIN
 * and then MOVED), then kills -9 the master of the ready set and lets its replica take over: the same exactly-once
 * checks hold, and the processes' metrics show the redirects they followed. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cmocka.h>
#include "err.h"
#include "http_client.h"
#include "metrics.h"
#include "tk.h"

#define CONVS 50
#define PER 20

static uv_loop_t loops[8], *lp;
#define loop (*lp)
static http_client_t *cli;
static int ports[2], pids[2], kills;
static char logs[2][128], run[32];
static const char *const *armed_env;
static char redis_env[160];

/* the cluster scenario: where its cluster lives, and how far each conversation may go (the chaos's phases) */
static char topo_dir[96];
static int topo_port, allowed = PER, chaos_phase;
static uv_timer_t gate;

typedef struct {
    int c, i;        /* conversation, event number (1-based) */
    int pending;     /* answers still awaited for event i */
    int ok;          /* one of them said accepted */
    int tries;
    uv_timer_t retry;
} conv_t;

static conv_t convs[CONVS];
static int finished, sent_total, dup_total;

static void send_event(conv_t *cv, int to);

static void next_event(conv_t *cv);

static void on_retry(uv_timer_t *t)
{
    conv_t *cv = t->data;
    send_event(cv, cv->tries % 2);
}

static void on_answer(int err, const http_response_t *res, void *data)
{
    conv_t *cv = data;
    if (!err && res->status == 200)
        cv->ok = 1;
    if (--cv->pending > 0)
        return;
    if (cv->ok) {
        next_event(cv);
        return;
    }
    /* refused or the process died: send the same event again, to the other process, as a provider retries (after
     * a moment, as providers do: a failover takes seconds) */
    cv->tries++;
    cv->retry.data = cv;
    uv_timer_start(&cv->retry, on_retry, cv->tries > 2 ? 100 : 0, 0);
}

static void send_event(conv_t *cv, int to)
{
    char url[64], body[160];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/local/events", ports[to]);
    snprintf(body, sizeof body, "{\"conv\":\"local:%s-%d\",\"id\":\"e%d\",\"kind\":\"text\",\"text\":\"+%d\"}", run,
             cv->c, cv->i, cv->i);
    http_request_t rq = {.method = "POST", .url = url, .body = body, .body_len = strlen(body), .timeout_ms = 5000};
    cv->pending++;
    sent_total++;
    if (http_request(cli, &rq, on_answer, cv) != 0)
        fail_msg("cannot send");
}

static void next_event(conv_t *cv)
{
    if (cv->i == PER) {
        finished++;
        return;
    }
    if (cv->i >= allowed)
        return; /* the gate lets it go on later */
    cv->i++;
    cv->ok = 0;
    int to = rand() % 2;
    if (rand() % 8 == 0) { /* the same update delivered to both processes at once */
        dup_total++;
        send_event(cv, 0);
        send_event(cv, 1);
    } else {
        send_event(cv, to);
    }
}

/* Restarts a process that died by the kill hook, as a supervisor would (without the hook the second time). */
static void on_watch(uv_timer_t *t)
{
    for (int k = 0; k < 2; k++) {
        int status;
        if (pids[k] > 0 && waitpid(pids[k], &status, WNOHANG) == pids[k]) {
            kills++;
            const char *restart_env[] = {"KABINET_START_DIALOG=demo", "KABINET_LEASE_MS=1000", "KABINET_ENGINE_CONCURRENCY=16", redis_env, NULL};
            pids[k] = tk_kabinetd_start(ports[k], restart_env, logs[k]);
        }
    }
}

/* The cluster scenario's chaos, in phases: every conversation makes 3 events; then the slots of the ready set and
 * of three conversations migrate while the conversations go on to 10 at most; then the ready set's master is killed
 * and its replica takes over while they go on to 14; then they finish. */
static void on_gate(uv_timer_t *t)
{
    char cmd[1024], done[160];
    int reached = PER;
    for (int c = 0; c < CONVS; c++)
        if (convs[c].i < reached)
            reached = convs[c].i;
    snprintf(done, sizeof done, "%s/%s", topo_dir, chaos_phase < 2 ? "migrated" : "failedover");
    if (chaos_phase == 0 && reached >= 3) {
        snprintf(cmd, sizeof cmd, "(%s migrate %s %d $(for k in 'kb:{sched}:ready' 'kb:{local:%s-1}:queue' "
                 "'kb:{local:%s-2}:queue' 'kb:{local:%s-3}:queue'; do redis-cli -p %d cluster keyslot \"$k\"; done) "
                 "&& touch %s) >%s/migrate.log 2>&1 &", getenv("KB_TEST_TOPO"), topo_dir, topo_port, run, run, run,
                 topo_port, done, topo_dir);
        assert_int_equal(system(cmd), 0);
        chaos_phase = 1;
    } else if (chaos_phase == 1 && access(done, F_OK) == 0) {
        snprintf(done, sizeof done, "%s/failedover", topo_dir);
        snprintf(cmd, sizeof cmd, "(%s failover %s %d 'kb:{sched}:ready' && touch %s) >%s/failover.log 2>&1 &",
                 getenv("KB_TEST_TOPO"), topo_dir, topo_port, done, topo_dir);
        assert_int_equal(system(cmd), 0);
        chaos_phase = 2;
    } else if (chaos_phase == 2 && access(done, F_OK) == 0) {
        chaos_phase = 3;
    }
    /* one more event per conversation every tick while a phase runs, so that events flow through all of it */
    static const int cap[] = {3, 12, 16, PER};
    allowed = allowed + 1 < cap[chaos_phase] ? allowed + 1 : cap[chaos_phase];
    for (int c = 0; c < CONVS; c++) /* let the held conversations go on */
        if (convs[c].i < allowed && convs[c].pending == 0 && convs[c].ok)
            next_event(&convs[c]);
}

static const char *value(const char *sql)
{
    const char *v = tk_db_value(sql);
    return v ? v : "(error)";
}

/* Runs the whole scenario: process 0 gets env (a kill hook or NULL). Each scenario has its own Redis database
 * (db), so that no other test's kabinetd claims its conversations. */
static void scenario(const char *name, int db, const char *const *env, int expect_kill)
{
    for (int k = 0; k < 2; k++) /* a failed scenario before may have left its processes */
        if (pids[k] > 0) {
            tk_stop(pids[k], SIGKILL);
            pids[k] = 0;
        }
    lp = &loops[db];
    if (topo_port)
        snprintf(redis_env, sizeof redis_env, "KABINET_REDIS_URL=redis-cluster://127.0.0.1:%d,127.0.0.1:%d",
                 topo_port, topo_port + 1);
    else
        snprintf(redis_env, sizeof redis_env, "KABINET_REDIS_URL=%s/%d", tk_redis_url(), db);
    srand(7);
    snprintf(run, sizeof run, "%s%d", name, (int)getpid());
    tk_db_create(name, 0);
    uv_loop_init(&loop);
    http_client_new(&loop, 64, 5000, &cli);
    int base = atoi(getenv("KB_TEST_PG_PORT") ? getenv("KB_TEST_PG_PORT") : "15432") + 300;
    for (int k = 0; k < 2; k++) {
        ports[k] = base + k + (expect_kill ? 2 : 0);
        snprintf(logs[k], sizeof logs[k], "/tmp/kb-engine-%s-%d-%d.log", name, (int)getpid(), k);
        unlink(logs[k]);
    }
    /* 16 conversations at a time per process, so that both processes must take part */
    const char *lease_env[] = {"KABINET_START_DIALOG=demo", "KABINET_LEASE_MS=1000", "KABINET_ENGINE_CONCURRENCY=16", redis_env, NULL};
    const char *armed[] = {env ? env[0] : NULL, "KABINET_START_DIALOG=demo", "KABINET_LEASE_MS=1000", "KABINET_ENGINE_CONCURRENCY=16", redis_env, NULL};
    armed_env = env;
    pids[0] = tk_kabinetd_start(ports[0], env ? armed : lease_env, logs[0]);
    pids[1] = tk_kabinetd_start(ports[1], lease_env, logs[1]);
    assert_true(tk_wait_ready(ports[0], 10000));
    assert_true(tk_wait_ready(ports[1], 10000));
    uv_timer_t watch;
    uv_timer_init(&loop, &watch);
    uv_timer_start(&watch, on_watch, 20, 20);
    kills = finished = sent_total = dup_total = 0;
    double t0 = metrics_now();
    for (int c = 0; c < CONVS; c++) {
        convs[c] = (conv_t){.c = c};
        uv_timer_init(&loop, &convs[c].retry);
        next_event(&convs[c]);
    }
    if (topo_port) {
        uv_timer_init(&loop, &gate);
        uv_timer_start(&gate, on_gate, 250, 250);
    }
    for (int i = 0; i < 6000 && finished < CONVS; i++)
        tk_run_for(&loop, 10);
    if (topo_port) {
        uv_timer_stop(&gate);
        uv_close((uv_handle_t *)&gate, NULL);
    }
    for (int c = 0; c < CONVS; c++)
        uv_close((uv_handle_t *)&convs[c].retry, NULL);
    assert_int_equal(finished, CONVS);
    double accepted = metrics_now() - t0;
    /* wait for every transition to be made */
    char want[32];
    snprintf(want, sizeof want, "%d", CONVS * PER);
    int done = 0;
    double t1 = metrics_now();
    for (int i = 0; i < 300 && !done; i++) {
        done = !strcmp(value("SELECT count(*) FROM kb_applied"), want);
        if (!done)
            tk_run_for(&loop, 100);
    }
    double drained = metrics_now() - t1;
    printf("# %s: %d events (%d sent twice at once, %d sends) accepted in %.2f s, all handled %.2f s later; "
           "%d process restart(s)\n", name, CONVS * PER, dup_total, sent_total, accepted, drained, kills);
    assert_true(done);
    /* exactly once and in order: every history is 1..20 */
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM kb_demo_counter WHERE n = %d AND history = "
             "(SELECT array_agg(g::bigint ORDER BY g) FROM generate_series(1, %d) g)", PER, PER);
    assert_string_equal(value(sql), "50");
    /* one reply per event, and per conversation in order (the counter values 1..20 by outbox id) */
    assert_string_equal(value("SELECT count(*) FROM kb_outbox"), want);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM (SELECT array_agg((payload->'params'->>'n')::int ORDER BY id) a "
             "FROM kb_outbox GROUP BY conv) x WHERE a = (SELECT array_agg(g ORDER BY g) FROM generate_series(1, %d) g)",
             PER);
    assert_string_equal(value(sql), "50");
    /* every reply delivered by the local sender; one claimed by a killed sender waits out its claim (3 s) */
    for (int i = 0; i < 100 && strcmp(value("SELECT count(*) FROM kb_outbox WHERE sent_at IS NULL"), "0"); i++)
        tk_run_for(&loop, 100);
    assert_string_equal(value("SELECT count(*) FROM kb_outbox WHERE sent_at IS NULL"), "0");
    if (!expect_kill) {
        /* both processes worked, and conversations were handled at the same time */
        assert_string_equal(value("SELECT count(DISTINCT worker) FROM kb_applied"), "2");
        const char *overlaps = value("SELECT count(*) FROM kb_applied a JOIN kb_applied b ON a.conv < b.conv "
                                     "AND a.started_at < b.applied_at AND b.started_at < a.applied_at");
        printf("# %s: %s pairs of transitions of different conversations overlapped in time\n", name, overlaps);
        assert_true(atoi(overlaps) > 0);
    } else {
        assert_true(kills >= 1);
        printf("# %s: the armed process was killed %d time(s) and restarted\n", name, kills);
    }
    /* nothing left queued in Redis for these conversations (on any node of a cluster) */
    char cmd[512];
    if (topo_port)
        snprintf(cmd, sizeof cmd, "test \"$(for p in $(seq %d %d); do redis-cli -p $p --scan --pattern "
                 "'kb:{local:%s-*}:queue'; done | wc -l)\" = 0", topo_port, topo_port + 5, run);
    else
        snprintf(cmd, sizeof cmd, "test \"$(redis-cli -p %d -n %d --scan --pattern 'kb:{local:%s-*}:queue' | wc -l)\" = 0",
                 tk_redis_port(), db, run);
    assert_int_equal(system(cmd), 0);
    if (topo_port) { /* the clients followed the slots' moves */
        long ask = 0, moved = 0;
        for (int k = 0; k < 2; k++) {
            ask += tk_metric(ports[k], "kb_redis_redirects_total{kind=\"ask\"}");
            moved += tk_metric(ports[k], "kb_redis_redirects_total{kind=\"moved\"}");
        }
        printf("# %s: the processes followed %ld ASK and %ld MOVED redirects\n", name, ask, moved);
        assert_true(ask > 0);
        assert_true(moved > 0);
    }
    uv_timer_stop(&watch);
    uv_close((uv_handle_t *)&watch, NULL);
    for (int k = 0; k < 2; k++) {
        int st = tk_stop(pids[k], SIGTERM);
        pids[k] = 0;
        if (!expect_kill || k == 1)
            assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    http_client_close(cli);
    tk_loop_close(&loop);
    tk_db_drop();
    metrics_shutdown();
}

static void test_two_processes(void **state) { scenario("two", 1, NULL, 0); }

/* The two processes on a Redis Cluster, through a slot migration and a failover (see on_gate). */
static void test_cluster_migration_and_failover(void **state)
{
    topo_port = tk_redis_port() + 1500;
    snprintf(topo_dir, sizeof topo_dir, "/tmp/kabinet-cluster-%d", topo_port);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s stop %s 2>/dev/null; rm -rf %s && %s cluster-start %s %d", getenv("KB_TEST_TOPO"),
             topo_dir, topo_dir, getenv("KB_TEST_TOPO"), topo_dir, topo_port);
    assert_int_equal(system(cmd), 0);
    allowed = 3;
    chaos_phase = 0;
    scenario("cluster", 0, NULL, 0);
    assert_int_equal(chaos_phase, 3);
    snprintf(cmd, sizeof cmd, "%s stop %s; rm -rf %s", getenv("KB_TEST_TOPO"), topo_dir, topo_dir);
    assert_int_equal(system(cmd), 0);
    topo_port = 0;
    allowed = PER;
}

static const char *const kill_dedupe[] = {"KABINET_KILL_AT=after_dedupe:40", NULL};
static const char *const kill_commit[] = {"KABINET_KILL_AT=after_commit:40", NULL};
static const char *const kill_cas[] = {"KABINET_KILL_AT=after_cas:40", NULL};
static const char *const kill_lease[] = {"KABINET_KILL_AT=lease_held:10", NULL};

static void test_kill_after_dedupe(void **state) { scenario("kdedupe", 2, kill_dedupe, 1); }
static void test_kill_after_commit(void **state) { scenario("kcommit", 3, kill_commit, 1); }
static void test_kill_after_cas(void **state) { scenario("kcas", 4, kill_cas, 1); }
static void test_kill_with_lease_held(void **state) { scenario("klease", 5, kill_lease, 1); }

/* Whatever happened, no kabinetd of ours outlives the test. */
static int group_teardown(void **state)
{
    for (int k = 0; k < 2; k++)
        if (pids[k] > 0)
            tk_stop(pids[k], SIGKILL);
    return 0;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (getenv("TEST_FILTER"))
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_processes),
        cmocka_unit_test(test_cluster_migration_and_failover),
        cmocka_unit_test(test_kill_after_dedupe),
        cmocka_unit_test(test_kill_after_commit),
        cmocka_unit_test(test_kill_after_cas),
        cmocka_unit_test(test_kill_with_lease_held),
    };
    return cmocka_run_group_tests(tests, NULL, group_teardown);
}
