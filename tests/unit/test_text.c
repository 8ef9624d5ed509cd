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

static void test_rubles(void **state)
{
    char b[64];
    txt_rubles("ru", 11895, b, sizeof b);
    assert_string_equal(b, "118,95 ₽");
    txt_rubles("ru", 123456789, b, sizeof b);
    assert_string_equal(b, "1 234 567,89 ₽");
    txt_rubles("ru", -15000, b, sizeof b);
    assert_string_equal(b, "-150,00 ₽");
    txt_rubles("en", 123456, b, sizeof b);
    assert_string_equal(b, "1,234.56 ₽");
    txt_rubles("ru", 5, b, sizeof b);
    assert_string_equal(b, "0,05 ₽");
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
        cmocka_unit_test(test_fallbacks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
