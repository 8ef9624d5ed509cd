/* test_meter.c — the reading rules with the seeds' own numbers: what customers type, digits, consumption,
 * passing zero, the 50,000 kWh confirmation, the local day, and account numbers as printed on bills. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>
#include "account.h"
#include "err.h"
#include "meter.h"

static void test_parse_what_customers_type(void **state)
{
    static const struct {
        const char *text;
        int digits, rc;
        meter_milli_t value;
    } t[] = {
        {"29700", 5, 0, 29700000},
        {"29 700", 5, 0, 29700000},
        {"29\xc2\xa0" "700", 5, 0, 29700000},     /* no-break space, as phones insert */
        {"29700,5", 5, 0, 29700500},
        {"29 700,5", 5, 0, 29700500},
        {"29700.25", 5, 0, 29700250},
        {"  00123 ", 5, 0, 123000},
        {"0,125", 5, 0, 125},
        {"", 5, METER_EEMPTY, 0},
        {"   ", 5, METER_EEMPTY, 0},
        {"abc", 5, METER_ENOTNUM, 0},
        {"29700 кВт", 5, METER_ENOTNUM, 0},
        {"29O00", 5, METER_ENOTNUM, 0},           /* a letter O for a zero */
        {"29700,", 5, METER_ENOTNUM, 0},
        {",5", 5, METER_ENOTNUM, 0},
        {"29,700,5", 5, METER_ENOTNUM, 0},
        {"2 9700 ", 5, 0, 29700000},
        {"29  700", 5, METER_ENOTNUM, 0},         /* two separators in a row */
        {"+29700", 5, METER_ENOTNUM, 0},
        {"-5", 5, METER_ENEGATIVE, 0},
        {"\xe2\x88\x92" "5", 5, METER_ENEGATIVE, 0}, /* U+2212 minus */
        {"29700,1234", 5, METER_EPRECISE, 0},
        {"297000", 5, METER_EDIGITS, 0},          /* a 6-digit value on a 5-digit meter */
        {"99999", 5, 0, 99999000},
        {"99999999999999999999999", 0, METER_EOVERFLOW, 0},
    };
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        meter_milli_t v = -1;
        int rc = meter_parse(t[i].text, t[i].digits, &v);
        if (rc != t[i].rc || (rc == 0 && v != t[i].value))
            fail_msg("\"%s\": rc %d value %lld, expected rc %d value %lld", t[i].text, rc, (long long)v, t[i].rc,
                     (long long)t[i].value);
    }
}

static void test_consumption_and_rollover(void **state)
{
    meter_calc_t c;
    /* Хакасэнергосбыт: previous 29700, entered 28000, 5 digits, ratio 1 → 98300 kWh, passing zero, confirm */
    assert_int_equal(meter_consumption(29700000, 28000000, 5, 1, 50000, &c), 0);
    assert_true(c.rollover);
    assert_true(c.needs_confirmation);
    assert_int_equal(c.consumption, 98300000);
    /* an ordinary month */
    assert_int_equal(meter_consumption(29700000, 29950500, 5, 1, 50000, &c), 0);
    assert_false(c.needs_confirmation);
    assert_int_equal(c.consumption, 250500);
    /* ratio 200: (1235 − 1234) × 200 */
    assert_int_equal(meter_consumption(1234000, 1235000, 5, 200, 50000, &c), 0);
    assert_int_equal(c.consumption, 200000);
    /* 70 000 kWh → a warning that asks for confirmation */
    assert_int_equal(meter_consumption(10000000, 80000000, 5, 1, 50000, &c), 0);
    assert_false(c.rollover);
    assert_true(c.above_threshold);
    assert_true(c.needs_confirmation);
    /* exactly the threshold is fine */
    assert_int_equal(meter_consumption(0, 50000000, 5, 1, 50000, &c), 0);
    assert_false(c.needs_confirmation);
    /* the same value again: zero consumption */
    assert_int_equal(meter_consumption(29700000, 29700000, 5, 1, 50000, &c), 0);
    assert_int_equal(c.consumption, 0);
    /* impossible inputs */
    assert_int_equal(meter_consumption(0, 100000000, 5, 1, 50000, &c), KB_ERR_INVAL); /* does not fit 5 digits */
    assert_int_equal(meter_consumption(-1, 5, 5, 1, 50000, &c), KB_ERR_INVAL);
    assert_int_equal(meter_consumption(0, 5, 5, 0, 50000, &c), KB_ERR_INVAL);
    assert_int_equal(meter_consumption(0, 5, 0, 1, 50000, &c), KB_ERR_INVAL);
}

static void test_format(void **state)
{
    char b[32];
    meter_format(29700000, b, sizeof b);
    assert_string_equal(b, "29700");
    meter_format(29700500, b, sizeof b);
    assert_string_equal(b, "29700,5");
    meter_format(125, b, sizeof b);
    assert_string_equal(b, "0,125");
    meter_format(98300000, b, sizeof b);
    assert_string_equal(b, "98300");
}

static void test_local_day(void **state)
{
    char b[16];
    /* 2026-11-21 16:30 UTC is 23:30 in Хакасия/Кузбасс (UTC+7): still the 21st there */
    int64_t t = 1795278600000LL; /* 2026-11-21T16:30:00Z */
    meter_day_format(meter_local_day(t, 7 * 60), b, sizeof b);
    assert_string_equal(b, "2026-11-21");
    /* 17:30 UTC is 00:30 on the 22nd there, but still the 21st in Moscow (UTC+3) */
    meter_day_format(meter_local_day(t + 3600000, 7 * 60), b, sizeof b);
    assert_string_equal(b, "2026-11-22");
    meter_day_format(meter_local_day(t + 3600000, 3 * 60), b, sizeof b);
    assert_string_equal(b, "2026-11-21");
    /* Kamchatka, UTC+12 */
    meter_day_format(meter_local_day(t, 12 * 60), b, sizeof b);
    assert_string_equal(b, "2026-11-22");
}

static void test_account_numbers(void **state)
{
    char out[21];
    assert_int_equal(acct_normalize("(180)211111", out, sizeof out), 0);
    assert_string_equal(out, "180211111");
    assert_int_equal(acct_normalize(" 180-211-111 ", out, sizeof out), 0);
    assert_string_equal(out, "180211111");
    assert_int_equal(acct_normalize("1802111110", out, sizeof out), 0);
    assert_int_equal(acct_normalize("18021l111", out, sizeof out), KB_ERR_INVAL); /* a letter l */
    assert_int_equal(acct_normalize("12345", out, sizeof out), KB_ERR_INVAL);
    assert_int_equal(acct_normalize("123456789012345678901", out, sizeof out), KB_ERR_INVAL);
    assert_int_equal(acct_normalize("77МН000000", out, sizeof out), KB_ERR_INVAL); /* an ЕЛС is not an account */
}

static void test_surname_fold(void **state)
{
    char a[64], b[64];
    assert_int_equal(acct_surname_fold("Алёшина-Петрова", a, sizeof a), 0);
    assert_int_equal(acct_surname_fold("АЛЕШИНА петрова", b, sizeof b), 0);
    assert_string_equal(a, b);
    assert_int_equal(acct_surname_fold("Ivanova", a, sizeof a), 0);
    assert_string_equal(a, "ivanova");
    assert_int_equal(acct_surname_fold("Иванова", a, sizeof a), 0);
    assert_int_equal(acct_surname_fold("Иванов", b, sizeof b), 0);
    assert_string_not_equal(a, b);
    assert_int_equal(acct_surname_fold(" - ", a, sizeof a), KB_ERR_INVAL);
    assert_int_equal(acct_surname_fold("\xd1", a, sizeof a), KB_ERR_INVAL);
}

/* An ЕЛС typed with Latin look-alikes, in any case, with spaces, folds as the Russian one; other letters do not. */
static void test_els_fold(void **state)
{
    char a[64], b[64];
    assert_int_equal(acct_els_fold("77МН000995", a, sizeof a), 0);
    const char *typed[] = {"77mh000995", "77MH000995", "77 Мh 000995", "77мН-000995"};
    for (size_t i = 0; i < sizeof typed / sizeof *typed; i++) {
        assert_int_equal(acct_els_fold(typed[i], b, sizeof b), 0);
        assert_string_equal(a, b);
    }
    assert_int_equal(acct_els_fold("ABEKMHOPCTYX", b, sizeof b), 0);
    assert_int_equal(acct_els_fold("АВЕКМНОРСТУХ", a, sizeof a), 0);
    assert_string_equal(a, b);
    assert_int_equal(acct_els_fold("77ZH000995", b, sizeof b), 0); /* Z looks like no Russian letter */
    assert_int_equal(acct_els_fold("77МН000995", a, sizeof a), 0);
    assert_string_not_equal(a, b);
    assert_int_equal(acct_els_fold("", a, sizeof a), KB_ERR_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_what_customers_type), cmocka_unit_test(test_consumption_and_rollover),
        cmocka_unit_test(test_format), cmocka_unit_test(test_local_day), cmocka_unit_test(test_account_numbers),
        cmocka_unit_test(test_surname_fold), cmocka_unit_test(test_els_fold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
