/* test_billing.c — the exchange with billing, through the real `kabinetd import` and `kabinetd export` against a
 * real PostgreSQL: every kind of file loads and a second load changes nothing; a file with a bad row names its
 * line and changes nothing, --skip-bad loads the rest; a payment kabinet settled and billing then reports is
 * counted once (also when the provider's notice never came); an export after the returned cursor adds nothing,
 * and a reading made after it leaves exactly once. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cmocka.h>
#include "core.h"
#include "metrics.h"
#include "tk.h"

static uv_loop_t loop;
static db_t *db;
static char dir[64];
static char out[16384];

#define field tk_field
#define CORE(op, ...) tk_coref(&loop, db, op, __VA_ARGS__)

/* Writes text to dir/name and returns the path (static buffer). */
static const char *file(const char *name, const char *text)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Runs kabinetd with args (a shell word list) against the test database; stdout and stderr go to out. Returns the
 * exit code. */
static int kabinetd(const char *args)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "\"$KABINETD\" %s 2>&1", args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int import(const char *kind, const char *name, const char *text)
{
    char args[256];
    snprintf(args, sizeof args, "import %s %s", kind, file(name, text));
    return kabinetd(args);
}

static const char *const branches = "code,name,utc_offset,window_from,window_to,outside_window,bank_bik\n"
                                    "khk,Абаканский участок,+07:00,,,,049514000\n"
                                    "stv,\"Ставрополь, филиал\",UTC+3,15,26,refuse,\n";
static const char *const tariffs = "code,name,zones,valid_from,rate1,rate2\n"
                                   "city-1,Городской,1,2026-01-01,\"5,87\",\n"
                                   "city-2,\"День/ночь\",2,2026-01-01,6.78,3.39\n";
static const char *const accounts = "number,holder_surname,address,branch,tariff,els,opening_balance\n"
                                    "180211111,Иванова,\"Абакан, ул. Щетинкина, 1\",khk,city-1,77МН000001,0\n"
                                    "180211112,Петров,\"Ставрополь, ул. Мира, 5\",stv,city-2,,\"-150,00\"\n"
                                    "180211113,Сидоров,гараж,stv,city-1,,\n";
static const char *const meters = "account,serial,digits,model,ratio,zones,verify_by\n"
                                  "180211111,011234567,5,СКАТ 101Э,1,1,2027-01-15\n"
                                  "180211112,022345678,6,Меркурий 200.02,200,2,2030-05-01\n";
static const char *const readings = "account,serial,date,value,zone,source\n"
                                    "180211111,011234567,2026-10-25,29700,1,network\n"
                                    "180211112,022345678,2026-10-25,\"1234,5\",1,receipt\n"
                                    "180211112,022345678,2026-10-25,600,2,receipt\n";
static const char *const charges = "account,month,zone,kwh,rate,amount,correction\n"
                                   "180211111,2026-09,1,150,5.87,\"880,50\",\n"
                                   "180211111,2026-10,1,100,5.87,587.00,-10\n";
static const char *const penalties = "account,month,penalty,duty\n180211111,2026-10,\"118,95\",\n";
static const char *const payments = "billing_id,account,paid_at,amount,purpose,source\n"
                                    "b-1,180211111,2026-10-10 14:30,\"500,00\",energy,bank\n"
                                    "b-2,180211111,2026-10-31T20:00:00Z,1.00,energy,terminal\n";
static const char *const contracts = "contract_no,inn,org_name,point,point_address,contract_date,kpp,account\n"
                                     "Д-17,1901234567,ООО «Ромашка»,Цех,\"Абакан, ул. Заводская, 3\",2020-02-01,190101001,180211113\n"
                                     "Д-17,1901234567,ООО «Ромашка»,Склад,\"Абакан, ул. Заводская, 5\",2020-02-01,190101001,\n";

static void load_all(void)
{
    const char *kinds[][3] = {{"branches", "b.csv", branches}, {"tariffs", "t.csv", tariffs},
                              {"accounts", "a.csv", accounts}, {"meters", "m.csv", meters},
                              {"readings", "r.csv", readings}, {"charges", "c.csv", charges},
                              {"penalties", "n.csv", penalties}, {"payments", "p.csv", payments},
                              {"contracts", "k.csv", contracts}};
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
        int rc = import(kinds[i][0], kinds[i][1], kinds[i][2]);
        if (rc != 0)
            fail_msg("import %s: %d: %s", kinds[i][0], rc, out);
        assert_non_null(strstr(out, " changed, 0 skipped"));
        assert_null(strstr(out, " 0 changed")); /* the first load changes rows */
    }
}

static int setup(void **state)
{
    db = tk_core_start(&loop, "billing", NULL);
    setenv("KABINET_DATABASE_URL", tk_db_conninfo(), 1);
    snprintf(dir, sizeof dir, "/tmp/kb-billing-%d", (int)getpid());
    char cmd[96];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    assert_int_equal(system(cmd), 0);
    load_all();
    return 0;
}

static int teardown(void **state)
{
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    tk_core_stop(&loop, db);
    return 0;
}

static void test_every_kind_loads_once(void **state)
{
    /* what the files said, in the domain's units */
    assert_string_equal(tk_db_value("SELECT utc_offset_min || '/' || outside_window FROM kb_branch WHERE code = 'stv'"),
                        "180/refuse");
    assert_string_equal(tk_db_value("SELECT utc_offset_min FROM kb_branch WHERE code = 'khk'"), "420");
    assert_string_equal(tk_db_value("SELECT string_agg(rate::text, '/' ORDER BY zone) FROM kb_tariff_rate r"
                                    " JOIN kb_tariff t ON t.id = r.tariff_id WHERE t.code = 'city-2'"), "6.7800/3.3900");
    assert_string_equal(tk_db_value("SELECT opening_kopecks FROM kb_account WHERE number = '180211112'"), "-15000");
    assert_string_equal(tk_db_value("SELECT ratio || '/' || zones FROM kb_meter WHERE serial = '022345678'"), "200/2");
    assert_string_equal(tk_db_value("SELECT value FROM kb_reading WHERE zone = 1 AND source = 'receipt'"), "1234.500");
    assert_string_equal(tk_db_value("SELECT correction_kopecks FROM kb_charge WHERE month = '2026-10-01'"), "-1000");
    assert_string_equal(tk_db_value("SELECT penalty_kopecks FROM kb_penalty"), "11895");
    /* a local time without an offset is the branch's: 14:30 in Абакан is 07:30 UTC */
    assert_string_equal(tk_db_value("SELECT to_char(paid_at AT TIME ZONE 'UTC', 'HH24:MI') FROM kb_payment"
                                    " WHERE billing_id = 'b-1'"), "07:30");
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_supply_point p JOIN kb_customer c ON c.id = p.customer_id"
                                    " WHERE c.contract_no = 'Д-17'"), "2");
    cJSON *r = CORE("account.balance", "{\"staff\":\"t\",\"account_id\":1}");
    assert_string_equal(field(r, "balance_kopecks"), "95650"); /* 880,50 + 587 − 10 − 500 − 1 */
    assert_string_equal(field(r, "penalties_kopecks"), "11895");
    cJSON_Delete(r);

    /* the same files again change nothing */
    const char *again[][3] = {{"branches", "b.csv", branches}, {"accounts", "a.csv", accounts},
                              {"readings", "r.csv", readings}, {"payments", "p.csv", payments},
                              {"contracts", "k.csv", contracts}, {"tariffs", "t.csv", tariffs}};
    for (size_t i = 0; i < sizeof again / sizeof *again; i++) {
        assert_int_equal(import(again[i][0], again[i][1], again[i][2]), 0);
        assert_non_null(strstr(out, " 0 changed, 0 skipped"));
    }
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_payment"), "2");
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_reading"), "3");
    /* a corrected charge and a removed penalty move the balance, and the kept totals follow every change */
    assert_int_equal(import("charges", "c2.csv", "account,month,zone,kwh,rate,amount\n180211111,2026-10,1,100,5.87,600.00\n"),
                     0);
    assert_non_null(strstr(out, "1 rows read, 1 changed"));
    assert_non_null(tk_db_value("DELETE FROM kb_penalty"));
    r = CORE("account.balance", "{\"staff\":\"t\",\"account_id\":1}");
    assert_string_equal(field(r, "balance_kopecks"), "97950"); /* 880,50 + 600 − 500 − 1: the new row has no correction */
    assert_string_equal(field(r, "penalties_kopecks"), "0");
    cJSON_Delete(r);
    assert_string_equal(tk_totals_wrong(), "0");
}

static void test_bad_rows(void **state)
{
    const char *bad = "number,holder_surname,address,branch\n"
                      "180300001,Орлова,\"адрес 1\",khk\n"
                      "180300002,Орлов,\"адрес 2\",khk\n"
                      "180300003,Зайцева,\"адрес\n3\",stv\n" /* a quoted field across two lines */
                      "180300004,Зайцев,адрес 4,stv\n"
                      "180300005,Белова,адрес 5,khk\n"
                      "180300006,Белов,адрес 6,nsk\n" /* line 8 */
                      "180300007,Белов,адрес 7,khk,лишнее\n"
                      "18030000A,Чернов,адрес 8,khk\n";
    assert_int_equal(import("accounts", "bad.csv", bad), 1);
    assert_non_null(strstr(out, "line 8: no branch nsk"));
    assert_non_null(strstr(out, "line 9: 5 fields where the header has 4"));
    assert_non_null(strstr(out, "line 10: number must be 6 to 20 digits"));
    assert_non_null(strstr(out, "nothing was imported"));
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_account WHERE number LIKE '1803%'"), "0");

    const char *line7 = "account,month,zone,kwh,rate,amount\n"
                        "180211111,2026-11,1,10,5.87,58.70\n180211111,2026-12,1,10,5.87,58.70\n"
                        "180211112,2026-11,1,10,5.87,58.70\n180211112,2026-12,1,10,5.87,58.70\n"
                        "180211113,2026-11,1,10,5.87,58.70\n180211113,2026-12,1,10,5.87,\"58 руб\"\n";
    assert_int_equal(import("charges", "c7.csv", line7), 1);
    assert_non_null(strstr(out, "line 7: amount must be rubles such as 880,50"));
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_charge WHERE month >= '2026-11-01'"), "0");

    /* --skip-bad loads the good rows and lists the rest */
    char args[256];
    snprintf(args, sizeof args, "import accounts %s/bad.csv --skip-bad", dir);
    assert_int_equal(kabinetd(args), 0);
    assert_non_null(strstr(out, "skipped line 8: no branch nsk"));
    assert_non_null(strstr(out, "8 rows read, 5 changed, 3 skipped"));
    assert_string_equal(tk_db_value("SELECT address FROM kb_account WHERE number = '180300003'"), "адрес\n3");

    /* a header the kind does not know, a missing required column, bad UTF-8 */
    assert_int_equal(import("meters", "h.csv", "account,serial,digitz\n180211111,1,5\n"), 1);
    assert_non_null(strstr(out, "line 1: unknown column \"digitz\""));
    assert_int_equal(import("meters", "h2.csv", "account,serial\n180211111,1\n"), 1);
    assert_non_null(strstr(out, "line 1: column \"digits\" is missing"));
    assert_int_equal(import("meters", "u.csv", "account,serial,digits\n180211111,\xff\xfe,5\n"), 1);
    assert_non_null(strstr(out, "line 2: not UTF-8"));
    assert_int_equal(import("flats", "x.csv", "a\n"), 1);
    assert_non_null(strstr(out, "unknown kind"));
}

/* Runs an export and returns its next cursor; the CSV goes to out (with the report line after it). */
static long long export_since(const char *kind, long long since, int expect_rows)
{
    char args[256];
    snprintf(args, sizeof args, "export %s --since %lld", kind, since);
    assert_int_equal(kabinetd(args), 0);
    char expect[64];
    snprintf(expect, sizeof expect, "export %s: %d rows; next cursor ", kind, expect_rows);
    const char *at = strstr(out, expect);
    if (!at)
        fail_msg("expected \"%s\" in: %s", expect, out);
    return atoll(at + strlen(expect));
}

static void test_payment_counted_once(void **state)
{
    int me = atoi(tk_db_value("INSERT INTO kb_customer (full_name) VALUES ('Иванова') RETURNING id"));
    char sql[200];
    snprintf(sql, sizeof sql, "INSERT INTO kb_account_link (customer_id, account_id, is_primary, status, proof)"
                              " VALUES (%d, 1, true, 'active', 'staff')", me);
    assert_non_null(tk_db_value(sql));
    cJSON *r = CORE("payment.create", "{\"idempotency_key\":\"k1\",\"account_id\":1,\"customer_id\":%d,"
                                      "\"amount_kopecks\":95650,\"provider\":\"yookassa\"}", me);
    char paid[32], lost[32];
    snprintf(paid, sizeof paid, "%s", field(r, "order_id"));
    cJSON_Delete(r);
    r = CORE("payment.settle", "{\"order_id\":\"%s\",\"amount_kopecks\":95650,\"provider_payment_id\":\"yk-77\"}", paid);
    assert_string_equal(field(r, "status"), "settled");
    cJSON_Delete(r);
    /* a second payment whose provider notice never came */
    r = CORE("payment.create", "{\"idempotency_key\":\"k2\",\"account_id\":1,\"customer_id\":%d,"
                               "\"amount_kopecks\":1000,\"provider\":\"yookassa\"}", me);
    snprintf(lost, sizeof lost, "%s", field(r, "order_id"));
    cJSON_Delete(r);
    r = CORE("account.balance", "{\"customer_id\":%d,\"account_id\":1}", me);
    assert_string_equal(field(r, "balance_kopecks"), "0");
    assert_string_equal(field(r, "uncredited_kopecks"), "95650");
    cJSON_Delete(r);

    char csv[512];
    /* billing reporting the kabinet payment with another amount is refused, naming it */
    snprintf(csv, sizeof csv, "billing_id,account,paid_at,amount,order_id\nb-9,180211111,2026-11-05 10:00,900,%s\n", paid);
    assert_int_equal(import("payments", "p9.csv", csv), 1);
    assert_non_null(strstr(out, "line 2: differs from kabinet payment"));
    /* billing credits both: by the provider's id, and by the order id */
    snprintf(csv, sizeof csv,
             "billing_id,account,paid_at,amount,provider,provider_payment_id,order_id\n"
             "b-3,180211111,2026-11-05 10:00,\"956,50\",yookassa,yk-77,\n"
             "b-4,180211111,2026-11-05 10:05,10.00,,,%s\n", lost);
    assert_int_equal(import("payments", "p3.csv", csv), 0);
    assert_non_null(strstr(out, "2 rows read, 2 changed"));
    assert_int_equal(import("payments", "p3.csv", csv), 0);
    assert_non_null(strstr(out, "2 rows read, 0 changed"));
    /* once more under other billing ids: refused, never counted twice */
    snprintf(csv, sizeof csv, "billing_id,account,paid_at,amount,order_id\nb-5,180211111,2026-11-05 10:00,\"956,50\",%s\n",
             paid);
    assert_int_equal(import("payments", "p5.csv", csv), 1);
    assert_non_null(strstr(out, "line 2: already credited as billing_id b-3"));
    r = CORE("account.balance", "{\"customer_id\":%d,\"account_id\":1}", me);
    assert_string_equal(field(r, "balance_kopecks"), "-1000"); /* each payment once: 10 RUB overpaid */
    assert_string_equal(field(r, "uncredited_kopecks"), "0");
    cJSON_Delete(r);
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_payment"), "4");
    assert_string_equal(tk_db_value("SELECT string_agg(status, ',' ORDER BY id) FROM kb_payment WHERE source = 'bot'"),
                        "credited,credited");
    assert_string_equal(tk_totals_wrong(), "0");
}

static void test_export_cursor(void **state)
{
    /* readings are taken any day here (the imported branches' windows would refuse them late in the month) */
    tk_db_value("UPDATE kb_branch SET window_from = 1, window_to = 31 RETURNING id");
    int me = atoi(tk_db_value("INSERT INTO kb_customer (full_name, phone) VALUES ('Иванова', '+79991234567') RETURNING id"));
    char sql[200];
    snprintf(sql, sizeof sql, "INSERT INTO kb_account_link (customer_id, account_id, is_primary, status, proof)"
                              " VALUES (%d, 1, true, 'active', 'surname')", me);
    assert_non_null(tk_db_value(sql));
    cJSON *r = CORE("reading.submit", "{\"meter_id\":1,\"value\":\"29800\",\"customer_id\":%d}", me);
    assert_string_equal(field(r, "status"), "accepted");
    cJSON_Delete(r);
    long long c1 = export_since("readings", 0, 1);
    assert_non_null(strstr(out, ",180211111,011234567,1,29800.000,"));
    assert_null(strstr(out, "network")); /* billing's own readings do not go back */
    long long c2 = export_since("readings", c1, 0);
    assert_true(c2 > c1);
    r = CORE("reading.submit", "{\"meter_id\":2,\"zone\":2,\"value\":\"650\",\"customer_id\":%d}", me);
    assert_string_equal(field(r, "status"), "accepted");
    cJSON_Delete(r);
    long long c3 = export_since("readings", c2, 1);
    assert_non_null(strstr(out, ",180211112,022345678,2,650.000,"));
    export_since("readings", c3, 0);
    /* a lost output is not lost: the old cursor gives the rows again */
    export_since("readings", c2, 1);

    /* payments leave once paid; links leave again when they change */
    r = CORE("payment.create", "{\"idempotency_key\":\"e1\",\"account_id\":1,\"amount_kopecks\":5000}");
    char order[32];
    snprintf(order, sizeof order, "%s", field(r, "order_id"));
    cJSON_Delete(r);
    long long p1 = export_since("payments", 0, 0);
    cJSON_Delete(CORE("payment.settle", "{\"order_id\":\"%s\",\"amount_kopecks\":5000}", order));
    export_since("payments", p1, 1);
    assert_non_null(strstr(out, ",180211111,50.00,energy,"));
    long long l1 = export_since("links", 0, 1);
    assert_non_null(strstr(out, ",+79991234567,,active,true,surname,"));
    cJSON_Delete(CORE("account.unlink", "{\"customer_id\":%d,\"account_id\":1,\"confirm\":true}", me));
    export_since("links", l1, 1);
    assert_non_null(strstr(out, ",removed,false,"));
    assert_int_equal(kabinetd("export links --since 999999"), 1);
    assert_non_null(strstr(out, "ahead of this database"));
}

static int setup_empty(void **state)
{
    db = tk_core_start(&loop, "demo", NULL);
    setenv("KABINET_DATABASE_URL", tk_db_conninfo(), 1);
    return 0;
}

static void test_demo_data(void **state)
{
    assert_int_equal(kabinetd("demo-data --accounts 200 --months 24"), 0);
    assert_string_equal(tk_db_value("SELECT string_agg(code || ':' || utc_offset_min, ' ' ORDER BY code) FROM kb_branch"),
                        "khk:420 stv:180");
    /* the households asked for, and the demo business's two supply points */
    assert_string_equal(tk_db_value("SELECT string_agg(customer_kind || ':' || n, ' ' ORDER BY customer_kind) FROM"
                                    " (SELECT customer_kind, count(*) AS n FROM kb_account GROUP BY 1) k"),
                        "business:2 person:200");
    assert_string_equal(tk_db_value("SELECT string_agg(m.ratio::text, ',' ORDER BY a.number) FROM kb_meter m JOIN"
                                    " kb_account a ON a.id = m.account_id WHERE a.customer_kind = 'business'"), "1,200");
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_account a WHERE NOT EXISTS"
                                    " (SELECT 1 FROM kb_meter m WHERE m.account_id = a.id)"), "20");
    assert_string_equal(tk_db_value("SELECT count(DISTINCT ratio) || '/' || count(DISTINCT zones) FROM kb_meter"), "2/2");
    assert_string_equal(tk_db_value("SELECT count(*) > 0 FROM kb_meter WHERE verify_by BETWEEN current_date"
                                    " AND current_date + 90"), "t");
    /* two years of history on every account */
    assert_string_equal(tk_db_value("SELECT min(n) FROM (SELECT count(DISTINCT month) AS n FROM kb_charge"
                                    " GROUP BY account_id) c"), "24");
    /* the seeds' cases: a 5-digit meter at 29700 in Абакан; an overpayment; penalties of 118,95 */
    const char *meter = tk_db_value("SELECT m.id FROM kb_meter m JOIN kb_account a ON a.id = m.account_id"
                                    " WHERE a.number = '1800000001' AND m.digits = 5");
    char args[200];
    snprintf(args, sizeof args, "{\"meter_id\":%s,\"value\":\"28000\"}", meter);
    cJSON *r = tk_core(&loop, db, "reading.submit", args);
    assert_string_equal(field(r, "status"), "confirm");
    assert_string_equal(field(r, "reason"), "rollover");
    assert_string_equal(field(r, "consumption"), "98300");
    cJSON_Delete(r);
    assert_string_equal(tk_db_value("SELECT m.balance_kopecks < 0 FROM kb_account a, kb_account_money(a.id) m"
                                    " WHERE a.number = '1800000002'"), "t");
    assert_string_equal(tk_db_value("SELECT m.penalties_kopecks FROM kb_account a, kb_account_money(a.id) m"
                                    " WHERE a.number = '1800000003'"), "11895");
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_account_link WHERE status = 'active' AND is_primary"), "21");
    assert_string_equal(tk_totals_wrong(), "0");
    /* it fills an empty database only */
    assert_int_equal(kabinetd("demo-data --accounts 10"), 1);
    assert_non_null(strstr(out, "already has accounts"));
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_account"), "202");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_kind_loads_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_payment_counted_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_cursor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_demo_data, setup_empty, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
