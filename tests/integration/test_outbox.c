/* test_outbox.c — the durable sender against a real PostgreSQL: a live reply goes out while a broadcast keeps the
 * push lane busy; one conversation's messages go strictly in order; a retry waits and comes back; a dead message is
 * never retried and does not block the messages after it; a wait asked by a rate limit is not an attempt; giving
 * up a conversation kills its pending messages. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "metrics.h"
#include "outbox.h"
#include "tk.h"

static uv_loop_t loop;
static db_t *db;
static outbox_t *ob;

typedef struct {
    uv_timer_t t;
    outbox_ticket_t *ticket;
    outbox_result_t r;
} later_t;

static int delivered, live_delivered, order_broken, last_seq[64], retried, deads, laters;
static double live_at;
static char mode[16];

static void later_closed(uv_handle_t *h) { free(h->data); }

static void later_fire(uv_timer_t *t)
{
    later_t *l = t->data;
    outbox_done(l->ticket, l->r, l->r == OUTBOX_RETRY || l->r == OUTBOX_LATER ? 200 : 0,
                l->r == OUTBOX_DEAD || l->r == OUTBOX_GIVE_UP ? "403 blocked" : NULL);
    uv_close((uv_handle_t *)&l->t, later_closed);
}

/* The test channel: each delivery takes 20 ms; records order; some messages ask for a retry or are dead. */
static void deliver(void *ctx, const outbox_msg_t *m, outbox_ticket_t *ticket)
{
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(m->payload, "params");
    int seq = cJSON_GetObjectItemCaseSensitive(params, "seq")->valueint;
    int conv = atoi(m->conv + 2); /* "t:NN" */
    later_t *l = calloc(1, sizeof *l);
    l->ticket = ticket;
    l->r = OUTBOX_SENT;
    if (!strcmp(mode, "retry") && seq == 1 && m->attempts == 1) {
        l->r = OUTBOX_RETRY;
        retried++;
    } else if (!strcmp(mode, "later") && seq == 1 && laters < 5) {
        l->r = OUTBOX_LATER; /* a rate limit said wait: five times, more than max_attempts (3) */
        laters++;
    } else if (!strcmp(mode, "giveup") && seq == 1) {
        l->r = OUTBOX_GIVE_UP; /* the rest of this conversation too */
        deads++;
    } else if (!strcmp(mode, "dead") && seq == 1) {
        l->r = OUTBOX_DEAD;
        deads++;
    } else {
        if (!strcmp(m->conv, "t:live")) {
            live_delivered = 1;
            live_at = metrics_now();
        } else if (conv >= 0 && conv < 64) {
            if (seq <= last_seq[conv])
                order_broken++;
            last_seq[conv] = seq;
        }
        delivered++;
    }
    uv_timer_init(&loop, &l->t);
    l->t.data = l;
    uv_timer_start(&l->t, later_fire, 20, 0);
}

static int setup(void **state)
{
    tk_db_create("outbox", 0);
    uv_loop_init(&loop);
    db_options_t o = {tk_db_conninfo(), 4, 16, tk_prepared(), 10000};
    char err[256];
    assert_int_equal(db_new(&loop, &o, &db, err, sizeof err), 0);
    db_start(db);
    for (int i = 0; i < 200 && !db_ready(db); i++)
        tk_run_for(&loop, 10);
    delivered = live_delivered = order_broken = retried = deads = laters = 0;
    memset(last_seq, 0, sizeof last_seq);
    return 0;
}

static int teardown(void **state)
{
    outbox_stop(ob);
    tk_run_for(&loop, 300);
    outbox_close(ob);
    db_close(db);
    tk_loop_close(&loop);
    tk_db_drop();
    metrics_shutdown();
    return 0;
}

/* Queues n messages per conversation for convs conversations on lane. */
static void queue(int convs, int n, int lane, const char *prefix)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(kb_outbox_put(x.conv, 't', %d, x.ev, 0, x.payload)) FROM (SELECT '%s' || c AS conv, 'e' || s AS ev, "
             "jsonb_build_object('tmpl', 'x', 'params', jsonb_build_object('seq', s)) AS payload "
             "FROM generate_series(0, %d) c, generate_series(1, %d) s ORDER BY s, c OFFSET 0) x",
             lane, prefix, convs - 1, n);
    assert_non_null(tk_db_value(sql));
}

static void start(int push_inflight)
{
    outbox_options_t oo = {{4, push_inflight}, 3, 200, 30};
    assert_int_equal(outbox_new(&loop, db, "t", deliver, NULL, &oo, &ob), 0);
    outbox_start(ob);
}

static void test_live_reply_passes_a_broadcast(void **state)
{
    snprintf(mode, sizeof mode, "plain");
    queue(40, 10, 1, "t:"); /* a broadcast: 400 pushes, 4 at a time, 20 ms each: about 2 s of work */
    start(4);
    tk_run_for(&loop, 300);
    assert_true(delivered < 300);
    assert_non_null(tk_db_value("SELECT kb_outbox_put('t:live', 't', 0, 'live1', 0, "
                                "'{\"tmpl\":\"x\",\"params\":{\"seq\":1}}')"));
    double queued = metrics_now();
    outbox_kick(ob); /* as the engine does after its commit */
    for (int i = 0; i < 100 && !live_delivered; i++)
        tk_run_for(&loop, 10);
    assert_true(live_delivered);
    printf("# live reply out %.0f ms after it was queued, with %d of 400 pushes still waiting\n",
           (live_at - queued) * 1000, 400 - delivered);
    assert_true(live_at - queued < 1.0);
    assert_true(400 - delivered > 100); /* the broadcast was still going on */
    for (int i = 0; i < 500 && delivered < 401; i++)
        tk_run_for(&loop, 10);
    assert_int_equal(delivered, 401);
    assert_int_equal(order_broken, 0);
    for (int i = 0; i < 100 && strcmp(tk_db_value("SELECT count(*) FROM kb_outbox WHERE sent_at IS NULL"), "0"); i++)
        tk_run_for(&loop, 10); /* the last deliveries are being recorded */
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_outbox WHERE sent_at IS NULL"), "0");
}

static void test_retry_comes_back(void **state)
{
    snprintf(mode, sizeof mode, "retry");
    queue(3, 3, 0, "t:");
    start(4);
    for (int i = 0; i < 300 && delivered < 9; i++)
        tk_run_for(&loop, 10);
    assert_int_equal(retried, 3);
    assert_int_equal(delivered, 9);
    assert_int_equal(order_broken, 0); /* message 2 of a conversation waited for its retried message 1 */
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_outbox WHERE attempts = 2"), "3");
}

static void test_dead_is_not_retried_and_does_not_block(void **state)
{
    snprintf(mode, sizeof mode, "dead");
    queue(2, 3, 0, "t:");
    start(4);
    for (int i = 0; i < 300 && delivered < 4; i++)
        tk_run_for(&loop, 10);
    tk_run_for(&loop, 300);
    assert_int_equal(deads, 2);
    assert_int_equal(delivered, 4);
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_outbox WHERE dead AND last_error = '403 blocked'"), "2");
}

static void test_later_is_not_an_attempt(void **state)
{
    snprintf(mode, sizeof mode, "later");
    queue(1, 2, 0, "t:");
    start(4);
    for (int i = 0; i < 400 && delivered < 2; i++)
        tk_run_for(&loop, 10);
    assert_int_equal(laters, 5);
    assert_int_equal(delivered, 2); /* put off five times with three attempts allowed, and still sent */
    assert_int_equal(order_broken, 0);
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_outbox WHERE dead"), "0");
}

static void test_give_up_a_conversation(void **state)
{
    snprintf(mode, sizeof mode, "giveup");
    queue(2, 3, 0, "t:");
    start(4);
    tk_run_for(&loop, 800);
    assert_int_equal(deads, 2);
    assert_int_equal(delivered, 0); /* messages 2 and 3 never went to a recipient that cannot be reached */
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_outbox WHERE dead AND last_error = '403 blocked'"), "6");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_live_reply_passes_a_broadcast, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_comes_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_is_not_retried_and_does_not_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_later_is_not_an_attempt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_give_up_a_conversation, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
