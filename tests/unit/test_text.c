/* test_text.c — the text catalogs: ru and en have the same keys and parameters; parameters, rubles and plural forms
 * render as a Russian reader expects (1 показание, 2 показания, 5 показаний, 11 показаний, 21 показание); en falls
 * back to ru for a key it lacks; an unknown key renders as itself, a missing parameter as nothing. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "err.h"
#include "text.h"

static char buf[512];

static const char *render(const char *lang, const char *key, const char *params)
{
    cJSON *p = params ? cJSON_Parse(params) : NULL;
    txt_render(lang, key, p, buf, sizeof buf);
    cJSON_Delete(p);
    return buf;
}

static void test_catalogs_agree(void **state)
{
    char err[256] = "";
    int rc = txt_check(err, sizeof err);
    if (rc)
        fail_msg("%s", err);
    assert_non_null(txt_get("ru", "common.error"));
    assert_non_null(txt_get("en", "common.error"));
    assert_string_not_equal(txt_get("ru", "common.error"), txt_get("en", "common.error"));
}

static void test_parameters_and_plurals(void **state)
{
    assert_string_equal(render("ru", "demo.echo", "{\"text\":\"29 700,5\"}"), "Вы написали: 29 700,5");
    const int n[] = {1, 2, 5, 11, 12, 14, 21, 22, 25, 101, 111, 102, 112};
    const char *want[] = {"нажатие", "нажатия", "нажатий", "нажатий", "нажатий", "нажатий", "нажатие", "нажатия",
                          "нажатий", "нажатие", "нажатий", "нажатия", "нажатий"};
    for (size_t i = 0; i < sizeof n / sizeof *n; i++) {
        char params[32], expect[128];
        snprintf(params, sizeof params, "{\"n\":%d}", n[i]);
        char got[sizeof buf];
        snprintf(got, sizeof got, "%s", render("ru", "demo.count", params));
        snprintf(expect, sizeof expect, "Счёт: %d (%s).", n[i], want[i]);
        assert_string_equal(got, expect);
    }
    assert_string_equal(render("en", "demo.count", "{\"n\":1}"), "Count: 1 (press).");
    assert_string_equal(render("en", "demo.count", "{\"n\":3}"), "Count: 3 (presses).");
}

#define NB "\xC2\xA0" /* a non-breaking space: the thousands separator and the space before ₽ */

static void test_rubles(void **state)
{
    char b[64];
    txt_rubles("ru", 11895, b, sizeof b);
    assert_string_equal(b, "118,95" NB "₽");
    txt_rubles("ru", 123456789, b, sizeof b);
    assert_string_equal(b, "1" NB "234" NB "567,89" NB "₽");
    txt_rubles("ru", -15000, b, sizeof b);
    assert_string_equal(b, "-150,00" NB "₽");
    txt_rubles("en", 123456, b, sizeof b);
    assert_string_equal(b, "1,234.56" NB "₽");
    txt_rubles("ru", 5, b, sizeof b);
    assert_string_equal(b, "0,05" NB "₽");
    txt_rubles("ru", 0, b, sizeof b);
    assert_string_equal(b, "0,00" NB "₽");
    txt_rubles("ru", 100000, b, sizeof b);
    assert_string_equal(b, "1" NB "000,00" NB "₽");
}

/* Readings, kWh and rates: grouped, no padding, a comma in ru; what is not a decimal passes as it is. */
static void test_numbers(void **state)
{
    static const struct {
        const char *lang, *in, *out;
    } cases[] = {
        {"ru", "29700.000", "29" NB "700"}, {"ru", "29700.5", "29" NB "700,5"}, {"ru", "29700,50", "29" NB "700,5"},
        {"ru", "5.8700", "5,87"},           {"ru", "0", "0"},                    {"ru", "0.000", "0"},
        {"ru", "-0.0", "0"},                {"ru", "1", "1"},                    {"ru", "21", "21"},
        {"ru", "101", "101"},               {"ru", "-5", "-5"},                  {"ru", "-60544.25", "-60" NB "544,25"},
        {"ru", "007", "7"},                 {"ru", "1234567", "1" NB "234" NB "567"},
        {"en", "29700.5", "29,700.5"},      {"en", "1000000", "1,000,000"},
        {"ru", "0100000003", "100" NB "000" NB "003"}, /* a decimal: the caller must not format a serial */
        {"ru", "abc", "abc"},               {"ru", "12a", "12a"},                {"ru", "1.", "1."},
        {"ru", "", ""},                     {"ru", "-", "-"},                    {"ru", "1.2.3", "1.2.3"},
    };
    char b[64];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        txt_number(cases[i].lang, cases[i].in, b, sizeof b);
        assert_string_equal(b, cases[i].out);
    }
    assert_string_equal(render("ru", "rd.accepted", "{\"consumption\": \"73.000\"}"), "Показания приняты. Расход 73 кВт·ч.");
    assert_string_equal(render("ru", "rd.accepted", "{\"consumption\": 60544}"),
                        "Показания приняты. Расход 60" NB "544 кВт·ч.");
}

/* Dates as 07.12.2026 (en 7 Dec 2026), months as «ноябрь 2026»; what is not a date passes as it is. */
static void test_dates_and_months(void **state)
{
    char b[64];
    txt_date("ru", "2026-12-07", b, sizeof b);
    assert_string_equal(b, "07.12.2026");
    txt_date("ru", "2026-11-10 10:00", b, sizeof b);
    assert_string_equal(b, "10.11.2026 10:00");
    txt_date("ru", "25.11.2026", b, sizeof b);
    assert_string_equal(b, "25.11.2026");
    txt_date("en", "2026-12-07", b, sizeof b);
    assert_string_equal(b, "7 Dec 2026");
    assert_int_equal(txt_date("ru", "2026-13-01", b, sizeof b), 1);
    assert_string_equal(b, "2026-13-01");
    assert_int_equal(txt_date("ru", "вчера", b, sizeof b), 1);
    assert_string_equal(b, "вчера");
    txt_month("ru", "2026-11", 0, b, sizeof b);
    assert_string_equal(b, "ноябрь 2026");
    txt_month("ru", "2026-01-01", 1, b, sizeof b);
    assert_string_equal(b, "Январь 2026");
    txt_month("ru", "05.2026", 0, b, sizeof b);
    assert_string_equal(b, "май 2026");
    txt_month("en", "2026-11", 0, b, sizeof b);
    assert_string_equal(b, "November 2026");
    txt_month("ru", "2026-11", 2, b, sizeof b);
    assert_string_equal(b, "ноя 2026");
    txt_month("en", "2026-09-01", 2, b, sizeof b);
    assert_string_equal(b, "Sep 2026");
    assert_int_equal(txt_month("ru", "2026-00", 0, b, sizeof b), 1);
}

/* Plural forms with the number inside: 0, 1, 2, 5, 11, 21, 101, 111, 1001 and negatives. */
static void test_plural_number(void **state)
{
    static const struct {
        int n;
        const char *ru, *en;
    } cases[] = {
        {0, "Осталось 0 попыток", "0 attempts left"},   {1, "Осталась 1 попытка", "1 attempt left"},
        {2, "Осталось 2 попытки", "2 attempts left"},   {5, "Осталось 5 попыток", "5 attempts left"},
        {11, "Осталось 11 попыток", "11 attempts left"}, {21, "Осталась 21 попытка", "21 attempts left"},
        {101, "Осталась 101 попытка", "101 attempts left"}, {111, "Осталось 111 попыток", "111 attempts left"},
        {1001, "Осталась 1" NB "001 попытка", "1,001 attempts left"}, {-2, "Осталось -2 попытки", "-2 attempts left"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char params[32];
        snprintf(params, sizeof params, "{\"left\":%d}", cases[i].n);
        assert_non_null(strstr(render("ru", "reg.code_wrong", params), cases[i].ru));
        assert_non_null(strstr(render("en", "reg.code_wrong", params), cases[i].en));
    }
}

static void test_fallbacks(void **state)
{
    assert_int_equal(txt_render("ru", "no.such.key", NULL, buf, sizeof buf), KB_ERR_INVAL);
    assert_string_equal(buf, "no.such.key");
    assert_string_equal(render("de", "demo.done", NULL), "Готово."); /* an unknown language reads ru */
    assert_int_equal(txt_render("ru", "demo.echo", NULL, buf, sizeof buf), 1);
    assert_string_equal(buf, "Вы написали: ");
    /* a small buffer cuts between characters, never inside one */
    char small[8];
    txt_render("ru", "demo.done", NULL, small, sizeof small);
    assert_string_equal(small, "Гот");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalogs_agree),
        cmocka_unit_test(test_parameters_and_plurals),
        cmocka_unit_test(test_rubles),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_dates_and_months),
        cmocka_unit_test(test_plural_number),
        cmocka_unit_test(test_fallbacks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
