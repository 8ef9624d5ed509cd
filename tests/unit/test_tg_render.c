/* test_tg_render.c — neutral replies as Bot API calls: escaped HTML, splits under 4096 UTF-16 units (emoji count
 * twice), buttons as callback_data of at most 64 bytes, the contact keyboard, edits of the pressed menu. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "tg_render.h"

static cJSON *reply(const char *json) { return cJSON_Parse(json); }

static cJSON *body(const tg_calls_t *c, int i) { return cJSON_Parse(c->call[i].body); }

static void test_escaped(void **state)
{
    cJSON *p = reply("{\"tmpl\":\"demo.echo\",\"params\":{\"text\":\"<b>Петров & сын</b>\"}}");
    tg_calls_t c;
    assert_int_equal(tg_render(p, "5000000001", 0, 0, &c), 0);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.call[0].method, "sendMessage");
    cJSON *b = body(&c, 0);
    assert_string_equal(cJSON_GetObjectItem(b, "text")->valuestring, "Вы написали: &lt;b&gt;Петров &amp; сын&lt;/b&gt;");
    assert_string_equal(cJSON_GetObjectItem(b, "parse_mode")->valuestring, "HTML");
    assert_true(strstr(c.call[0].body, "\"chat_id\":5000000001") != NULL); /* the id as a number, exact */
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(b, "reply_markup"), "remove_keyboard")));
    cJSON_Delete(b);
    tg_calls_free(&c);
    cJSON_Delete(p);
}

static void test_split(void **state)
{
    /* 3,000 emoji = 6,000 UTF-16 units: two messages, neither over 4096 units, nothing lost */
    size_t n = 3000;
    char *text = malloc(n * 4 + 1);
    for (size_t i = 0; i < n; i++)
        memcpy(text + 4 * i, "\xF0\x9F\x94\x8C", 4); /* U+1F50C */
    text[n * 4] = 0;
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "tmpl", "demo.echo");
    cJSON_AddItemToObject(cJSON_AddObjectToObject(p, "params"), "text", cJSON_CreateString(text));
    cJSON_AddItemToObject(p, "buttons", cJSON_CreateStringArray((const char *[]){"menu"}, 1));
    tg_calls_t c;
    assert_int_equal(tg_render(p, "42", 0, 0, &c), 0);
    assert_int_equal(c.n, 2);
    size_t total = 0;
    for (int i = 0; i < c.n; i++) {
        cJSON *b = body(&c, i);
        const char *t = cJSON_GetObjectItem(b, "text")->valuestring;
        assert_true(tg_utf16_len(t, strlen(t)) <= TG_MAX_TEXT);
        total += strlen(t);
        /* the buttons go with the last part only */
        assert_int_equal(cJSON_HasObjectItem(cJSON_GetObjectItem(b, "reply_markup"), "inline_keyboard"), i == c.n - 1);
        cJSON_Delete(b);
    }
    assert_int_equal(total, strlen("Вы написали: ") + n * 4);
    tg_calls_free(&c);
    cJSON_Delete(p);
    free(text);
}

static void test_buttons(void **state)
{
    cJSON *p = reply("{\"tmpl\":\"menu.main\",\"ver\":12,\"buttons\":[\"readings\",\"balance\",\"pick1\",\"pick2\","
                     "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"Bad id\"]}");
    tg_calls_t c;
    assert_int_equal(tg_render(p, "42", 0, 0, &c), 0);
    assert_int_equal(c.skipped_buttons, 2);
    cJSON *b = body(&c, 0), *rows = cJSON_GetObjectItem(cJSON_GetObjectItem(b, "reply_markup"), "inline_keyboard");
    assert_int_equal(cJSON_GetArraySize(rows), 2); /* two labels in a row; the digits share another */
    cJSON *first = cJSON_GetArrayItem(cJSON_GetArrayItem(rows, 0), 0);
    assert_string_equal(cJSON_GetObjectItem(first, "callback_data")->valuestring, "12:readings");
    assert_string_equal(cJSON_GetObjectItem(first, "text")->valuestring, "Передать показания");
    cJSON_Delete(b);
    tg_calls_free(&c);
    char data[TG_MAX_CALLBACK + 1];
    assert_int_equal(tg_callback_data(data, 123456789012345LL, "h_readings"), 26);
    assert_int_equal(tg_callback_data(data, 1, "x<y"), -1);
    cJSON_Delete(p);
    /* the phone step: a one-time reply keyboard asking for the contact */
    p = reply("{\"tmpl\":\"reg.welcome\",\"buttons\":[\"share_phone\"],\"lang\":\"en\"}");
    assert_int_equal(tg_render(p, "42", 0, 0, &c), 0);
    b = body(&c, 0);
    cJSON *m = cJSON_GetObjectItem(b, "reply_markup"), *btn = cJSON_GetArrayItem(cJSON_GetArrayItem(
                                                          cJSON_GetObjectItem(m, "keyboard"), 0), 0);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(btn, "request_contact")));
    assert_string_equal(cJSON_GetObjectItem(btn, "text")->valuestring, "Share my number");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(m, "one_time_keyboard")));
    cJSON_Delete(b);
    tg_calls_free(&c);
    cJSON_Delete(p);
}

/* A choice of accounts: each button names its account (the reply's own labels), one to a row; the callback data
 * stays the button's id. */
static void test_own_labels(void **state)
{
    cJSON *p = reply("{\"tmpl\":\"bal.pick_account\",\"ver\":3,\"params\":{\"items\":[]},"
                     "\"buttons\":[\"pick1\",\"pick2\",\"menu\"],\"button_labels\":{\"pick1\":"
                     "\"1800000003 · ул. Ленина, 5\",\"pick2\":\"1800000004 · дача\"}}");
    tg_calls_t c;
    assert_int_equal(tg_render(p, "42", 0, 0, &c), 0);
    cJSON *b = body(&c, 0), *rows = cJSON_GetObjectItem(cJSON_GetObjectItem(b, "reply_markup"), "inline_keyboard");
    cJSON *first = cJSON_GetArrayItem(cJSON_GetArrayItem(rows, 0), 0), *second = cJSON_GetArrayItem(rows, 1);
    assert_string_equal(cJSON_GetObjectItem(first, "text")->valuestring, "1800000003 · ул. Ленина, 5");
    assert_string_equal(cJSON_GetObjectItem(first, "callback_data")->valuestring, "3:pick1");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(second, 0), "text")->valuestring, "1800000004 · дача");
    cJSON_Delete(b);
    tg_calls_free(&c);
    cJSON_Delete(p);
}

static void test_link_button(void **state)
{
    /* a payment link: a URL button first, then the reply's own buttons */
    cJSON *p = reply("{\"tmpl\":\"pay.link\",\"ver\":4,\"params\":{\"amount\":15050,\"url\":\"http://x/pay/fake/ab\"},"
                     "\"url\":\"http://x/pay/fake/ab\",\"url_button\":\"pay_open\",\"buttons\":[\"menu\"]}");
    tg_calls_t c;
    assert_int_equal(tg_render(p, "42", 0, 0, &c), 0);
    cJSON *b = body(&c, 0), *rows = cJSON_GetObjectItem(cJSON_GetObjectItem(b, "reply_markup"), "inline_keyboard");
    cJSON *link = cJSON_GetArrayItem(cJSON_GetArrayItem(rows, 0), 0);
    assert_string_equal(cJSON_GetObjectItem(link, "url")->valuestring, "http://x/pay/fake/ab");
    assert_string_equal(cJSON_GetObjectItem(link, "text")->valuestring, "Перейти к оплате");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetArrayItem(rows, 1), 0), "callback_data")->valuestring,
                        "4:menu");
    cJSON_Delete(b);
    tg_calls_free(&c);
    cJSON_Delete(p);
}

static void test_edit(void **state)
{
    tg_calls_t c;
    cJSON *p = reply("{\"tmpl\":\"menu.main\",\"ver\":3,\"buttons\":[\"readings\"]}");
    assert_int_equal(tg_render(p, "42", 77, 0, &c), 0);
    assert_true(c.edits);
    assert_string_equal(c.call[0].method, "editMessageText");
    assert_true(strstr(c.call[0].body, "\"message_id\":77") != NULL);
    tg_calls_free(&c);
    cJSON_Delete(p);
    /* without an inline keyboard there is nothing to navigate: a new message */
    p = reply("{\"tmpl\":\"common.help\"}");
    assert_int_equal(tg_render(p, "42", 77, 0, &c), 0);
    assert_false(c.edits);
    assert_string_equal(c.call[0].method, "sendMessage");
    tg_calls_free(&c);
    /* with a document: the text is its caption */
    assert_int_equal(tg_render(p, "42", 0, 1, &c), 0);
    assert_int_equal(c.n, 0);
    assert_non_null(c.caption);
    tg_calls_free(&c);
    cJSON_Delete(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_escaped), cmocka_unit_test(test_split),
                                       cmocka_unit_test(test_buttons),
        cmocka_unit_test(test_own_labels), cmocka_unit_test(test_link_button),
                                       cmocka_unit_test(test_edit)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
