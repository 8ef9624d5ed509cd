/* test_money.c — balances, histories, the ledger and payments against a real PostgreSQL: a debt with penalties
 * 118,95 apart; a kabinet payment counted once and shown as not yet credited; an overpayment; pages of history
 * within a range; the ledger on the account's local calendar (a payment at 03:00 local on the 1st belongs to that
 * month); a payment created twice under one key is one payment; limits; settled exactly once, also when two
 * transactions race for it; failed and expired; receipts only for the payer or a linked customer. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include "core.h"
#include "metrics.h"
#include "tk.h"

static uv_loop_t loop;
static db_t *db;

#define field tk_field

/* op with printf-style args; returns the result (caller frees). */
#define CORE(op, ...) tk_coref(&loop, db, op, __VA_ARGS__)

/* The status of op's result, freeing it. */
static const char *status_of(cJSON *r)
{
    static char st[64];
    snprintf(st, sizeof st, "%s", field(r, "status"));
    cJSON_Delete(r);
    return st;
}

static int setup(void **state)
{
    db = tk_core_start(&loop, "money",
        "INSERT INTO kb_branch (code, name, utc_offset_min) VALUES ('khk', 'Абакан', 420);"
        "INSERT INTO kb_account (number, holder_surname, address, branch_id, tariff_code) VALUES"
        " ('180211111', 'Иванова', 'Абакан, ул. Щетинкина, 1', 1, 'city-1'), ('180211112', 'Петров', 'дача', 1, NULL);"
        "INSERT INTO kb_customer (full_name) VALUES ('Иванова'), ('Петров');"
        "INSERT INTO kb_account_link (customer_id, account_id, is_primary, status, proof) VALUES (1, 1, true, 'active', 'surname');"
        "INSERT INTO kb_meter (account_id, serial, model, digits) VALUES (1, '011234567', 'ЦЭ6807Б', 5);"
        "INSERT INTO kb_charge (account_id, month, zone, kwh, rate, amount_kopecks, correction_kopecks, odn_kopecks) VALUES"
        " (1, '2026-09-01', 1, 150, 5.87, 88050, 0, 0), (1, '2026-10-01', 1, 100, 5.87, 58700, -1000, 500);"
        "INSERT INTO kb_penalty (account_id, month, penalty_kopecks) VALUES (1, '2026-10-01', 11895);"
        "INSERT INTO kb_payment (account_id, amount_kopecks, source, status, paid_at, billing_id) VALUES"
        " (1, 50000, 'bank', 'credited', '2026-10-10 09:00Z', 'b-1'), (1, 100, 'terminal', 'credited', '2026-10-31 20:00Z', 'b-2');"
        "INSERT INTO kb_reading (meter_id, value, local_day, source, taken_at) VALUES"
        " (1, 29550, '2026-09-25', 'network', '2026-09-25 03:00Z'), (1, 29700, '2026-10-25', 'network', '2026-10-25 03:00Z')");
    return 0;
}

static int teardown(void **state)
{
    tk_core_stop(&loop, db);
    return 0;
}

/* Creates a payment and returns its order id (static buffer). */
static const char *create(const char *key, long amount)
{
    static char order[32];
    cJSON *r = CORE("payment.create", "{\"idempotency_key\":\"%s\",\"account_id\":1,\"customer_id\":1,\"amount_kopecks\":%ld}",
                    key, amount);
    assert_string_equal(field(r, "status"), "created");
    snprintf(order, sizeof order, "%s", field(r, "order_id"));
    cJSON_Delete(r);
    return order;
}

static void test_balance_and_history(void **state)
{
    /* 88050 + 58700 − 1000 + 500 − 50000 − 100: a debt of 961,50 RUB, penalties 118,95 apart */
    cJSON *r = CORE("account.balance", "{\"customer_id\":1,\"account_id\":1}");
    assert_string_equal(field(r, "status"), "ok");
    assert_string_equal(field(r, "balance_kopecks"), "96150");
    assert_string_equal(field(r, "to_pay_kopecks"), "96150");
    assert_string_equal(field(r, "penalties_kopecks"), "11895");
    assert_string_equal(field(r, "uncredited_kopecks"), "0");
    assert_string_equal(field(r, "last_month"), "2026-10");
    cJSON_Delete(r);
    /* someone without a link sees nothing; staff do */
    assert_string_equal(status_of(CORE("account.balance", "{\"customer_id\":2,\"account_id\":1}")), "not_linked");
    assert_string_equal(status_of(CORE("account.balance", "{\"staff\":\"Анна\",\"account_id\":1}")), "ok");

    /* charges in pages of one within a range */
    r = CORE("account.history", "{\"customer_id\":1,\"account_id\":1,\"kind\":\"charges\",\"from\":\"2026-01-01\","
                                "\"to\":\"2026-12-31\",\"limit\":1}");
    assert_string_equal(field(r, "more"), "true");
    cJSON *row = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "rows"), 0);
    assert_string_equal(field(row, "month"), "2026-10");
    assert_string_equal(field(row, "correction_kopecks"), "-1000");
    assert_string_equal(field(row, "kwh"), "100.000");
    cJSON_Delete(r);
    r = CORE("account.history", "{\"customer_id\":1,\"account_id\":1,\"kind\":\"charges\",\"from\":\"2026-01-01\","
                                "\"to\":\"2026-12-31\",\"limit\":1,\"page\":1}");
    assert_string_equal(field(r, "more"), "false");
    assert_string_equal(field(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "rows"), 0), "month"), "2026-09");
    cJSON_Delete(r);
    r = CORE("account.history", "{\"customer_id\":1,\"account_id\":1,\"kind\":\"charges\",\"from\":\"2026-10-01\","
                                "\"to\":\"2026-10-31\"}");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "rows")), 1);
    cJSON_Delete(r);
    /* payments: the one at 20:00 UTC on Oct 31 was made at 03:00 on Nov 1 in Абакан */
    r = CORE("account.history", "{\"customer_id\":1,\"account_id\":1,\"kind\":\"payments\",\"from\":\"2026-10-01\","
                                "\"to\":\"2026-11-30\"}");
    cJSON *rows = cJSON_GetObjectItem(r, "rows");
    assert_int_equal(cJSON_GetArraySize(rows), 2);
    assert_string_equal(field(cJSON_GetArrayItem(rows, 0), "at"), "2026-11-01 03:00");
    assert_string_equal(field(cJSON_GetArrayItem(rows, 1), "amount_kopecks"), "50000");
    cJSON_Delete(r);
    r = CORE("account.history", "{\"customer_id\":1,\"account_id\":1,\"kind\":\"readings\",\"from\":\"2026-10-01\","
                                "\"to\":\"2026-10-31\"}");
    rows = cJSON_GetObjectItem(r, "rows");
    assert_int_equal(cJSON_GetArraySize(rows), 1);
    assert_string_equal(field(cJSON_GetArrayItem(rows, 0), "value"), "29700.000");
    assert_string_equal(field(cJSON_GetArrayItem(rows, 0), "source"), "network");
    cJSON_Delete(r);
    assert_string_equal(status_of(CORE("account.history", "{\"customer_id\":2,\"account_id\":1,\"kind\":\"readings\"}")),
                        "not_linked");

    /* the ledger: opening, consumed, charged, paid, closing, month by month on the local calendar */
    r = CORE("account.ledger", "{\"customer_id\":1,\"account_id\":1,\"from\":\"2026-09-01\",\"to\":\"2026-11-15\"}");
    rows = cJSON_GetObjectItem(r, "rows");
    assert_int_equal(cJSON_GetArraySize(rows), 3);
    cJSON *sep = cJSON_GetArrayItem(rows, 0), *oct = cJSON_GetArrayItem(rows, 1), *nov = cJSON_GetArrayItem(rows, 2);
    assert_string_equal(field(sep, "opening_kopecks"), "0");
    assert_string_equal(field(sep, "closing_kopecks"), "88050");
    assert_string_equal(field(oct, "opening_kopecks"), "88050");
    assert_string_equal(field(oct, "consumed_kwh"), "100.000");
    assert_string_equal(field(oct, "charged_kopecks"), "58200");
    assert_string_equal(field(oct, "paid_kopecks"), "50000");
    assert_string_equal(field(oct, "closing_kopecks"), "96250");
    assert_string_equal(field(nov, "paid_kopecks"), "100");
    assert_string_equal(field(nov, "closing_kopecks"), "96150");
    cJSON_Delete(r);
}

static void test_payment_lifecycle(void **state)
{
    char order[32];
    snprintf(order, sizeof order, "%s", create("k1", 96150));
    /* the same key again (a double tap, a retried event): the same payment */
    cJSON *r = CORE("payment.create", "{\"idempotency_key\":\"k1\",\"account_id\":1,\"amount_kopecks\":96150}");
    assert_string_equal(field(r, "status"), "existing");
    assert_string_equal(field(r, "order_id"), order);
    cJSON_Delete(r);
    assert_string_equal(status_of(CORE("payment.create", "{\"idempotency_key\":\"k1\",\"account_id\":1,\"amount_kopecks\":5}")),
                        "key_reused");
    assert_string_equal(status_of(CORE("payment.create", "{\"idempotency_key\":\"k0\",\"account_id\":1,\"amount_kopecks\":0}")),
                        "invalid_amount");
    r = CORE("payment.create", "{\"idempotency_key\":\"k9\",\"account_id\":1,\"amount_kopecks\":10000001}");
    assert_string_equal(field(r, "status"), "invalid_amount");
    assert_string_equal(field(r, "max_kopecks"), "10000000"); /* 100,000 RUB: pay in parts */
    cJSON_Delete(r);
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_payment WHERE source = 'bot'"), "1");
    /* the provider call is queued once, for the "pay" channel; the payment remembers who asked */
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_outbox WHERE channel = 'pay'"), "1");
    char pay_conv[48];
    snprintf(pay_conv, sizeof pay_conv, "pay:%s", order);
    assert_string_equal(tk_db_value("SELECT conv FROM kb_outbox WHERE channel = 'pay'"), pay_conv);
    assert_string_equal(tk_db_value("SELECT conv || ' ' || lang FROM kb_payment WHERE idempotency_key = 'k1'"), "local:t ru");

    /* a pending payment changes nothing; a settlement for another amount is refused */
    assert_string_equal(status_of(CORE("payment.settle", "{\"order_id\":\"%s\",\"amount_kopecks\":100}", order)),
                        "amount_mismatch");
    /* paid yesterday at 10:00 UTC (the clock's yesterday: within the history's default three months on any date) */
    char day[16], local[32];
    time_t y = time(NULL) - 86400;
    strftime(day, sizeof day, "%Y-%m-%d", gmtime(&y));
    snprintf(local, sizeof local, "%s 17:00", day);
    r = CORE("payment.settle", "{\"order_id\":\"%s\",\"amount_kopecks\":96150,\"provider_payment_id\":\"yk-1\","
                               "\"paid_at\":\"%sT10:00:00Z\"}", order, day);
    assert_string_equal(field(r, "status"), "settled");
    assert_string_equal(field(r, "customer_id"), "1");
    cJSON_Delete(r);
    assert_string_equal(status_of(CORE("payment.settle", "{\"order_id\":\"%s\",\"amount_kopecks\":96150}", order)),
                        "already_settled");
    /* "payment accepted" to the conversation that paid: once, although the provider confirmed twice */
    assert_string_equal(tk_db_value("SELECT count(*) || ' ' || min(conv) || ' ' || min(channel) || ' ' || "
                                    "min(payload->>'tmpl') || ' ' || min(payload->'params'->>'amount') FROM kb_outbox "
                                    "WHERE event_id LIKE 'paid:%%'"),
                        "1 local:t local pay.accepted 96150");
    r = CORE("account.balance", "{\"customer_id\":1,\"account_id\":1}");
    assert_string_equal(field(r, "balance_kopecks"), "0");
    assert_string_equal(field(r, "uncredited_kopecks"), "96150"); /* paid through kabinet, billing has not credited */
    cJSON_Delete(r);

    /* receipts: once, only for a paid payment, shown to the payer */
    assert_string_equal(status_of(CORE("receipt.add", "{\"order_id\":\"%s\",\"kkt_reg\":\"0000000000012345\",\"fn\":"
                                                      "\"9999078900001234\",\"fd\":\"1234\",\"fpd\":\"2345678901\"}", order)),
                        "added");
    assert_string_equal(status_of(CORE("receipt.add", "{\"order_id\":\"%s\",\"fd\":\"1\"}", order)), "exists");
    char pid[24];
    snprintf(pid, sizeof pid, "%s", tk_db_value("SELECT id FROM kb_payment WHERE idempotency_key = 'k1'"));
    r = CORE("receipt.get", "{\"customer_id\":1,\"payment_id\":%s}", pid);
    assert_string_equal(field(r, "status"), "ok");
    assert_string_equal(field(r, "paid_at"), local); /* local time in Абакан */
    assert_string_equal(field(cJSON_GetObjectItem(r, "fiscal"), "fn"), "9999078900001234");
    assert_string_equal(field(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "meters"), 0), "model"), "ЦЭ6807Б");
    cJSON_Delete(r);
    assert_string_equal(status_of(CORE("receipt.get", "{\"customer_id\":2,\"payment_id\":%s}", pid)), "not_found");

    /* failed and expired */
    snprintf(order, sizeof order, "%s", create("k2", 500));
    assert_string_equal(status_of(CORE("receipt.add", "{\"order_id\":\"%s\"}", order)), "not_paid");
    assert_string_equal(status_of(CORE("payment.fail", "{\"order_id\":\"%s\",\"reason\":\"failed\"}", order)), "failed");
    assert_string_equal(status_of(CORE("payment.fail", "{\"order_id\":\"%s\",\"reason\":\"failed\"}", order)), "not_pending");
    create("k3", 700);
    assert_non_null(tk_db_value("UPDATE kb_payment SET created_at = now() - interval '30 minutes' WHERE idempotency_key = 'k3'"));
    r = CORE("payment.expire_due", "{}");
    assert_string_equal(field(r, "expired"), "1");
    cJSON_Delete(r);
    assert_string_equal(tk_db_value("SELECT status FROM kb_payment WHERE idempotency_key = 'k3'"), "expired");
    /* the payments history of the last 3 months (the default) shows all three */
    r = CORE("account.history", "{\"customer_id\":1,\"account_id\":1,\"kind\":\"payments\",\"limit\":100}");
    int bot = 0;
    cJSON *row;
    cJSON_ArrayForEach(row, cJSON_GetObjectItem(r, "rows")) bot += !strcmp(field(row, "source"), "bot");
    assert_int_equal(bot, 3);
    cJSON_Delete(r);
    assert_string_equal(tk_db_value("SELECT string_agg(what, ' ' ORDER BY id) FROM kb_audit"),
                        "payment.create payment.settle payment.create payment.failed payment.create payment.expired");
    assert_string_equal(tk_totals_wrong(), "0");
}

typedef struct {
    db_txn_t *txn;
    cJSON *result;
    int begun, committed, err;
} run_t;

static void on_committed(int err, PGresult *res, void *data) { ((run_t *)data)->committed = 1; }
static void on_result(int err, cJSON *result, void *data)
{
    run_t *r = data;
    r->err = err;
    r->result = result;
    db_txn_commit(r->txn, on_committed, r);
}
static void on_begun(int err, db_txn_t *txn, void *data)
{
    ((run_t *)data)->txn = txn;
    ((run_t *)data)->begun = 1;
}

static void test_concurrent_settlements(void **state)
{
    char args[256];
    snprintf(args, sizeof args, "{\"order_id\":\"%s\",\"amount_kopecks\":97150,\"paid_at\":\"2026-11-06T10:00:00Z\"}",
             create("k4", 97150));
    /* two transactions on two connections, both open (the barrier), then both settle the same payment */
    run_t a = {0}, b = {0};
    assert_int_equal(db_txn_begin(db, 1, on_begun, &a), 0);
    assert_int_equal(db_txn_begin(db, 2, on_begun, &b), 0);
    for (int i = 0; i < 300 && !(a.begun && b.begun); i++)
        tk_run_for(&loop, 10);
    assert_true(a.begun && b.begun && a.txn && b.txn);
    cJSON *parsed = cJSON_Parse(args);
    assert_int_equal(core_find("payment.settle")(db, a.txn, "local:a", parsed, on_result, &a), 0);
    assert_int_equal(core_find("payment.settle")(db, b.txn, "local:b", parsed, on_result, &b), 0);
    cJSON_Delete(parsed);
    for (int i = 0; i < 500 && !(a.committed && b.committed); i++)
        tk_run_for(&loop, 10);
    assert_true(a.committed && b.committed);
    assert_int_equal(a.err, 0);
    assert_int_equal(b.err, 0);
    const char *sa = field(a.result, "status"), *sb = field(b.result, "status");
    assert_true((!strcmp(sa, "settled") && !strcmp(sb, "already_settled")) ||
                (!strcmp(sa, "already_settled") && !strcmp(sb, "settled")));
    cJSON_Delete(a.result);
    cJSON_Delete(b.result);
    /* the balance changed once: 961,50 owed, 971,50 paid → 10 RUB overpaid */
    cJSON *r = CORE("account.balance", "{\"customer_id\":1,\"account_id\":1}");
    assert_string_equal(field(r, "balance_kopecks"), "-1000");
    assert_string_equal(field(r, "to_pay_kopecks"), "0");
    cJSON_Delete(r);
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_audit WHERE what = 'payment.settle'"), "1");
    assert_string_equal(tk_totals_wrong(), "0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_balance_and_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_payment_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_settlements, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
