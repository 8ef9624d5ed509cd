/* test_readings.c — reading.submit against a real PostgreSQL, with the seeds' numbers: passing zero needs a
 * confirmation and then counts 98300 kWh; 70,000 kWh asks too; a value too long for the meter and letters are
 * refused with a reason; a second reading the same local day names the first; 23:30 at UTC+7 is still that day;
 * and two transactions racing for the same meter and day store exactly one reading, the other told "already". */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "core.h"
#include "metrics.h"
#include "tk.h"

static uv_loop_t loop;
static db_t *db;

#define T_2026_11_21_1630Z 1795278600000LL /* 23:30 in Абакан (UTC+7) */

typedef struct {
    db_txn_t *txn;
    cJSON *result;
    int begun, answered, committed, err;
} run_t;

static void on_committed(int err, PGresult *res, void *data) { ((run_t *)data)->committed = 1; }

static void on_result(int err, cJSON *result, void *data)
{
    run_t *r = data;
    r->err = err;
    r->result = result;
    r->answered = 1;
    db_txn_commit(r->txn, on_committed, r);
}

static void on_begun(int err, db_txn_t *txn, void *data)
{
    run_t *r = data;
    assert_int_equal(err, 0);
    r->txn = txn;
    r->begun = 1;
}

static void begin(run_t *r, uint32_t affinity)
{
    memset(r, 0, sizeof *r);
    assert_int_equal(db_txn_begin(db, affinity, on_begun, r), 0);
    assert_true(tk_run_until(&loop, &r->begun, 3000));
}

static void call(run_t *r, const char *args)
{
    cJSON *a = cJSON_Parse(args);
    assert_non_null(a);
    assert_int_equal(core_find("reading.submit")(db, r->txn, "local:t", a, on_result, r), 0);
    cJSON_Delete(a);
}

/* One submission in a transaction of its own; returns the result (caller frees). */
static cJSON *submit(const char *args) { return tk_core(&loop, db, "reading.submit", args); }

#define field tk_field

static int setup(void **state)
{
    db = tk_core_start(&loop, "readings",
        "INSERT INTO kb_branch (code, name, utc_offset_min) VALUES ('khk', 'Абакан', 420);"
        "INSERT INTO kb_account (number, holder_surname, address, branch_id) VALUES ('180211111', 'Иванова', 'Абакан', 1);"
        "INSERT INTO kb_meter (account_id, serial, digits, ratio) VALUES (1, 'A', 5, 1), (1, 'B', 6, 1), (1, 'C', 5, 200);"
        "INSERT INTO kb_reading (meter_id, value, local_day, source, taken_at) VALUES "
        " (1, 29700, '2026-10-25', 'network', '2026-10-25 10:00Z'), (2, 10000, '2026-10-25', 'network', '2026-10-25 10:00Z'),"
        " (3, 1234, '2026-10-25', 'network', '2026-10-25 10:00Z')");
    return 0;
}

static int teardown(void **state)
{
    tk_core_stop(&loop, db);
    return 0;
}

static void test_seed_cases(void **state)
{
    char args[256];
    /* previous 29700, entered 28000, 5 digits: passing zero, 98300 kWh, confirm first */
    snprintf(args, sizeof args, "{\"meter_id\":1,\"value\":\"28000\",\"now_ms\":%lld}", T_2026_11_21_1630Z);
    cJSON *r = submit(args);
    assert_string_equal(field(r, "status"), "confirm");
    assert_string_equal(field(r, "reason"), "rollover");
    assert_string_equal(field(r, "consumption"), "98300");
    assert_string_equal(field(r, "previous"), "29700");
    cJSON_Delete(r);
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_reading WHERE source = 'bot'"), "0");
    snprintf(args, sizeof args, "{\"meter_id\":1,\"value\":\"28 000\",\"confirm\":true,\"now_ms\":%lld}",
             T_2026_11_21_1630Z);
    r = submit(args);
    assert_string_equal(field(r, "status"), "accepted");
    assert_string_equal(field(r, "consumption"), "98300");
    assert_string_equal(field(r, "rollover"), "true");
    assert_string_equal(field(r, "local_day"), "2026-11-21"); /* 23:30 local: still the 21st there */
    cJSON_Delete(r);
    /* a second reading that local day names the first — also when it would have needed a confirmation */
    snprintf(args, sizeof args, "{\"meter_id\":1,\"value\":\"100\",\"now_ms\":%lld}", T_2026_11_21_1630Z + 600000);
    r = submit(args);
    assert_string_equal(field(r, "status"), "already");
    cJSON_Delete(r);
    snprintf(args, sizeof args, "{\"meter_id\":1,\"value\":\"28010\",\"now_ms\":%lld}", T_2026_11_21_1630Z + 900000); /* 23:45 there */
    r = submit(args);
    assert_string_equal(field(r, "status"), "already");
    assert_string_equal(field(r, "value"), "28000");
    assert_non_null(strstr(field(r, "first_at"), "2026-11-21T"));
    cJSON_Delete(r);
    /* an hour later it is the 22nd in Абакан: accepted, 10 kWh */
    snprintf(args, sizeof args, "{\"meter_id\":1,\"value\":\"28010,5\",\"now_ms\":%lld}", T_2026_11_21_1630Z + 3600000);
    r = submit(args);
    assert_string_equal(field(r, "status"), "accepted");
    assert_string_equal(field(r, "consumption"), "10,5");
    assert_string_equal(field(r, "local_day"), "2026-11-22");
    cJSON_Delete(r);
    /* 70 000 kWh asks for confirmation */
    r = submit("{\"meter_id\":2,\"value\":\"80000\"}");
    assert_string_equal(field(r, "status"), "confirm");
    assert_string_equal(field(r, "reason"), "above_threshold");
    assert_string_equal(field(r, "consumption"), "70000");
    cJSON_Delete(r);
    /* ratio 200 */
    r = submit("{\"meter_id\":3,\"value\":\"1235\"}");
    assert_string_equal(field(r, "consumption"), "200");
    cJSON_Delete(r);
    /* refused with a reason, nothing stored */
    r = submit("{\"meter_id\":2,\"value\":\"1234567\"}");
    assert_string_equal(field(r, "reason"), "too_many_digits");
    cJSON_Delete(r);
    r = submit("{\"meter_id\":2,\"value\":\"29 7OO\"}");
    assert_string_equal(field(r, "reason"), "not_a_number");
    cJSON_Delete(r);
    r = submit("{\"meter_id\":2,\"value\":\"-5\"}");
    assert_string_equal(field(r, "reason"), "negative");
    cJSON_Delete(r);
    r = submit("{\"meter_id\":99,\"value\":\"5\"}");
    assert_string_equal(field(r, "status"), "no_meter");
    cJSON_Delete(r);
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_reading WHERE meter_id = 2 AND source = 'bot'"), "0");
}

static void test_branch_window(void **state)
{
    /* readings open the 15th–26th; this branch keeps late ones for review */
    tk_db_value("UPDATE kb_branch SET window_from = 15, window_to = 26, outside_window = 'review'");
    char args[256];
    snprintf(args, sizeof args, "{\"meter_id\":3,\"value\":\"1240\",\"now_ms\":%lld}", T_2026_11_21_1630Z); /* 21st */
    cJSON *r = submit(args);
    assert_string_equal(field(r, "status"), "accepted");
    assert_string_equal(field(r, "review"), "false");
    cJSON_Delete(r);
    snprintf(args, sizeof args, "{\"meter_id\":2,\"value\":\"10100\",\"now_ms\":%lld}",
             T_2026_11_21_1630Z + 6 * 86400000LL); /* the 27th there */
    r = submit(args);
    assert_string_equal(field(r, "status"), "accepted");
    assert_string_equal(field(r, "review"), "true");
    cJSON_Delete(r);
    assert_string_equal(tk_db_value("SELECT status FROM kb_reading WHERE meter_id = 2 AND source = 'bot'"), "review");
    /* another retailer refuses them */
    tk_db_value("UPDATE kb_branch SET outside_window = 'refuse'");
    snprintf(args, sizeof args, "{\"meter_id\":1,\"value\":\"29800\",\"now_ms\":%lld}",
             T_2026_11_21_1630Z - 10 * 86400000LL); /* the 11th */
    r = submit(args);
    assert_string_equal(field(r, "status"), "outside_window");
    cJSON_Delete(r);
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_reading WHERE meter_id = 1 AND source = 'bot'"), "0");
    /* non-residential premises send in their own days (25th–27th here): the 21st is refused for a business */
    tk_db_value("UPDATE kb_account SET customer_kind = 'business' RETURNING 1");
    tk_db_value("INSERT INTO kb_setting (key, value) VALUES ('reading.window.business', '{\"from\": 25, \"to\": 27}')"
                " RETURNING 1");
    snprintf(args, sizeof args, "{\"meter_id\":1,\"value\":\"29800\",\"now_ms\":%lld}", T_2026_11_21_1630Z); /* 21st */
    r = submit(args);
    assert_string_equal(field(r, "status"), "outside_window");
    assert_string_equal(field(r, "from"), "25");
    cJSON_Delete(r);
    snprintf(args, sizeof args, "{\"meter_id\":1,\"value\":\"29800\",\"now_ms\":%lld}",
             T_2026_11_21_1630Z + 4 * 86400000LL); /* the 25th there */
    r = submit(args);
    assert_string_equal(field(r, "status"), "accepted");
    cJSON_Delete(r);
}

static void test_race_for_the_same_day(void **state)
{
    /* two transactions on two connections, both begun (the barrier), then both submit for meter 2 today */
    run_t a, b;
    begin(&a, 1);
    begin(&b, 2);
    assert_ptr_not_equal(a.txn, b.txn);
    call(&a, "{\"meter_id\":2,\"value\":\"10100\"}");
    call(&b, "{\"meter_id\":2,\"value\":\"10200\"}");
    for (int i = 0; i < 300 && !(a.committed && b.committed); i++)
        tk_run_for(&loop, 10);
    assert_true(a.committed && b.committed);
    assert_int_equal(a.err, 0);
    assert_int_equal(b.err, 0);
    const char *sa = field(a.result, "status"), *sb = field(b.result, "status");
    assert_true((!strcmp(sa, "accepted") && !strcmp(sb, "already")) || (!strcmp(sa, "already") && !strcmp(sb, "accepted")));
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_reading WHERE meter_id = 2 AND source = 'bot'"), "1");
    cJSON_Delete(a.result);
    cJSON_Delete(b.result);
}

static void test_several_meters_at_once(void **state)
{
    /* three meters of one account: one value, one left blank (skipped, as the portals do), one mistyped */
    cJSON *r = tk_core(&loop, db, "reading.submit_many", "{\"readings\":[{\"meter_id\":1,\"value\":\"29800\"},{\"meter_id\":2,\"value\":\" \"},"
                      "{\"meter_id\":3,\"value\":\"12З4\"}],\"event_id\":\"e-many\"}");
    assert_string_equal(field(r, "status"), "done");
    cJSON *res = cJSON_GetObjectItem(r, "results");
    assert_int_equal(cJSON_GetArraySize(res), 3);
    assert_string_equal(field(cJSON_GetArrayItem(res, 0), "status"), "accepted");
    assert_string_equal(field(cJSON_GetArrayItem(res, 0), "consumption"), "100");
    assert_string_equal(field(cJSON_GetArrayItem(res, 1), "status"), "skipped");
    assert_string_equal(field(cJSON_GetArrayItem(res, 1), "meter_id"), "2");
    assert_string_equal(field(cJSON_GetArrayItem(res, 2), "status"), "invalid");
    assert_string_equal(field(cJSON_GetArrayItem(res, 2), "reason"), "not_a_number");
    cJSON_Delete(r);
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_reading WHERE source = 'bot'"), "1");
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_audit WHERE what = 'reading.submit'"), "1");
}

/* The retailer's settings: a second reading the same day replaces the first (reading.same_day = "replace") while the
 * first has not gone to billing, counted from the reading before today; the confirmation threshold is
 * reading.warn_kwh. */
static void test_same_day_replace_and_threshold(void **state)
{
    char args[256];
    long long day = T_2026_11_21_1630Z + 10 * 86400000LL;
    tk_db_value("UPDATE kb_setting SET value = '\"replace\"' WHERE key = 'reading.same_day' RETURNING 1");
    tk_db_value("UPDATE kb_setting SET value = '100' WHERE key = 'reading.warn_kwh' RETURNING 1");
    snprintf(args, sizeof args, "{\"meter_id\":2,\"value\":\"10050\",\"now_ms\":%lld}", day);
    cJSON *r = submit(args);
    assert_string_equal(field(r, "status"), "accepted");
    assert_string_equal(field(r, "consumption"), "50");
    assert_string_equal(field(r, "replaced"), "false");
    cJSON_Delete(r);
    snprintf(args, sizeof args, "{\"meter_id\":2,\"value\":\"10080\",\"now_ms\":%lld}", day + 60000);
    r = submit(args);
    assert_string_equal(field(r, "status"), "accepted");
    assert_string_equal(field(r, "replaced"), "true");
    assert_string_equal(field(r, "consumption"), "80"); /* from 10000, the reading before today */
    cJSON_Delete(r);
    assert_string_equal(tk_db_value("SELECT count(*) || ' ' || max(value)::int FROM kb_reading WHERE meter_id = 2"
                                    " AND source = 'bot'"), "1 10080");
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_audit WHERE what = 'reading.replace'"), "1");
    /* above the retailer's threshold (100 kWh here): asked first, with the threshold named */
    snprintf(args, sizeof args, "{\"meter_id\":2,\"value\":\"10300\",\"now_ms\":%lld}", day + 120000);
    r = submit(args);
    assert_string_equal(field(r, "status"), "confirm");
    assert_string_equal(field(r, "reason"), "above_threshold");
    assert_string_equal(field(r, "threshold"), "100");
    cJSON_Delete(r);
    /* once exported to billing, the day's reading stays: a second is refused */
    tk_db_value("UPDATE kb_reading SET export_batch = 1 WHERE meter_id = 2 AND source = 'bot' RETURNING 1");
    snprintf(args, sizeof args, "{\"meter_id\":2,\"value\":\"10090\",\"now_ms\":%lld}", day + 180000);
    r = submit(args);
    assert_string_equal(field(r, "status"), "already");
    assert_string_equal(field(r, "value"), "10080");
    cJSON_Delete(r);
    tk_db_value("UPDATE kb_setting SET value = '\"refuse\"' WHERE key = 'reading.same_day' RETURNING 1");
    tk_db_value("UPDATE kb_setting SET value = '50000' WHERE key = 'reading.warn_kwh' RETURNING 1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_seed_cases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_race_for_the_same_day, setup, teardown),
        cmocka_unit_test_setup_teardown(test_branch_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_several_meters_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_day_replace_and_threshold, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
