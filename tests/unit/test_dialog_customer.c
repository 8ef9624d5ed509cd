/* test_dialog_customer.c — the customer's dialog as a pure function, for what the end-to-end transcripts cannot
 * reach quickly: a step timeout (15 minutes) sends the customer home with a word; /cancel from every step returns
 * to the menu; a stale button re-asks the current question; a push's button leads on; every template the dialog
 * names is in both catalogs. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "customer.h"
#include "dialog.h"
#include "text.h"

/* One transition from step (with data) for a customer (0: not logged in); the effects' templates joined. */
static char tmpls[512];
static dlg_result_t run(long customer, const char *step, const char *data, dlg_event_kind_t kind, const char *text)
{
    cJSON *keep = cJSON_CreateObject(), *d = cJSON_Parse(data ? data : "{}");
    if (customer)
        cJSON_AddNumberToObject(keep, "customer_id", customer);
    dlg_state_t st = {"customer", step, keep, d, 7};
    dlg_event_t ev = {"e1", "local", "local:x", "x", kind, text, NULL, 7, 0};
    dlg_result_t out;
    assert_int_equal(dlg_customer.step(&st, &ev, &out), 0);
    cJSON_Delete(keep);
    cJSON_Delete(d);
    tmpls[0] = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, out.effects)
    {
        const cJSON *t = cJSON_GetObjectItem(e, "tmpl"), *type = cJSON_GetObjectItem(e, "type");
        snprintf(tmpls + strlen(tmpls), sizeof tmpls - strlen(tmpls), "%s%s", tmpls[0] ? "," : "",
                 cJSON_IsString(t) ? t->valuestring : type->valuestring);
    }
    return out;
}

/* A core operation's answer (payload, JSON) arriving at step with data (JSON) for customer 5; the caller frees. */
static dlg_result_t on_result(const char *step, const char *data, const char *payload)
{
    cJSON *keep = cJSON_Parse("{\"customer_id\":5}"), *d = cJSON_Parse(data), *res = cJSON_Parse(payload);
    assert_non_null(d);
    assert_non_null(res);
    dlg_state_t st = {"customer", step, keep, d, 7};
    dlg_event_t ev = {"e1", "local", "local:x", "x", EV_CORE_RESULT, NULL, res, 7, 0};
    dlg_result_t out;
    assert_int_equal(dlg_customer.step(&st, &ev, &out), 0);
    cJSON_Delete(res);
    cJSON_Delete(keep);
    cJSON_Delete(d);
    return out;
}

static void test_timeouts_send_home(void **state)
{
    dlg_result_t r = run(0, "reg.code", "{\"phone\":\"+79161234567\"}", EV_TIMEOUT, NULL);
    assert_string_equal(tmpls, "common.timeout,timeout,core"); /* the welcome asks about the consent first */
    assert_string_equal(r.step, "reg.consent");
    dlg_result_free(&r);
    r = run(5, "rd.value", "{\"queue\":[]}", EV_TIMEOUT, NULL);
    assert_string_equal(tmpls, "common.timeout,core"); /* the menu asks for its warnings first */
    assert_string_equal(r.step, "");
    dlg_result_free(&r);
    r = run(5, "", NULL, EV_TIMEOUT, NULL); /* nothing to time out at rest */
    assert_string_equal(tmpls, "");
    dlg_result_free(&r);
}

static void test_cancel_from_every_step(void **state)
{
    const char *steps[] = {"acc.list", "acc.number", "acc.proof", "acc.proof_value", "acc.pick", "acc.remove_confirm",
                           "rd.account", "rd.value", "rd.confirm", "bal.account", ""};
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        dlg_result_t r = run(5, steps[i], "{\"fails\":2}", EV_COMMAND, "/cancel");
        assert_string_equal(tmpls, "core");
        assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(r.effects, 0), "op")->valuestring, "customer.warnings");
        assert_string_equal(r.step, "");
        assert_null(cJSON_GetObjectItem(r.data, "fails"));
        dlg_result_free(&r);
        r = run(5, steps[i], NULL, EV_BUTTON, "menu"); /* the Menu button does the same */
        assert_string_equal(tmpls, "core");
        dlg_result_free(&r);
    }
    dlg_result_t r = run(0, "reg.code", NULL, EV_COMMAND, "/cancel"); /* before login: back to the welcome */
    assert_string_equal(tmpls, "timeout,core");
    dlg_result_free(&r);
}

static void test_stale_button_re_asks(void **state)
{
    cJSON *keep = cJSON_Parse("{\"customer_id\":5}");
    cJSON *data = cJSON_Parse("{\"ask\":{\"type\":\"reply\",\"tmpl\":\"acc.remove_confirm\",\"params\":{}}}");
    dlg_state_t st = {"customer", "acc.remove_confirm", keep, data, 9};
    dlg_result_t out;
    assert_int_equal(dlg_customer.render(&st, &out), 0);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(out.effects, 0), "tmpl")->valuestring, "acc.remove_confirm");
    assert_string_equal(out.step, "acc.remove_confirm");
    dlg_result_free(&out);
    cJSON_Delete(keep);
    cJSON_Delete(data);
}

/* A push's button (notify.h: made for no screen, version 0) leads to its area from wherever the customer is. */
static void test_push_button_leads_on(void **state)
{
    (void)state;
    cJSON *keep = cJSON_CreateObject(), *d = cJSON_CreateObject();
    cJSON_AddNumberToObject(keep, "customer_id", 5);
    dlg_state_t st = {"customer", "acc.number", keep, d, 7};
    dlg_event_t ev = {"e1", "tg", "tg:1", "1", EV_BUTTON, "readings", NULL, 0, 0};
    dlg_result_t r;
    assert_int_equal(dlg_customer.step(&st, &ev, &r), 0);
    assert_true(!strncmp(r.step, "rd.", 3));   /* the readings dialog, not the account number asked before */
    dlg_result_free(&r);
    cJSON_Delete(keep);
    cJSON_Delete(d);
}

static void test_help_and_language(void **state)
{
    dlg_result_t r = run(0, "reg.phone", NULL, EV_COMMAND, "/help");
    assert_string_equal(tmpls, "common.help_guest");
    dlg_result_free(&r);
    r = run(5, "", NULL, EV_COMMAND, "/lang en");
    assert_string_equal(cJSON_GetObjectItem(r.keep, "lang")->valuestring, "en");
    dlg_result_free(&r);
    r = run(5, "", NULL, EV_PHOTO, "file-1"); /* anything not understood gets a reply, never silence */
    assert_string_equal(tmpls, "common.not_understood,core");
    dlg_result_free(&r);
}

/* The menu's warnings: a meter past its verification and a debt become lines of the menu. */
static void test_menu_warnings(void **state)
{
    cJSON *keep = cJSON_Parse("{\"customer_id\":5}"), *data = cJSON_Parse("{\"op\":\"customer.warnings\"}");
    cJSON *payload = cJSON_Parse("{\"status\":\"ok\",\"verify\":[{\"number\":\"1800000001\",\"serial\":\"0100000001\","
                                 "\"date\":\"01.06.2026\",\"expired\":true}],\"debts\":[{\"number\":\"1800000005\","
                                 "\"amount_kopecks\":146750}]}");
    dlg_state_t st = {"customer", "", keep, data, 7};
    dlg_event_t ev = {"e1", "local", "local:x", "x", EV_CORE_RESULT, NULL, payload, 7, 0};
    dlg_result_t out;
    assert_int_equal(dlg_customer.step(&st, &ev, &out), 0);
    cJSON *reply = cJSON_GetArrayItem(out.effects, 0);
    assert_string_equal(cJSON_GetObjectItem(reply, "tmpl")->valuestring, "menu.main_warnings");
    char text[1024];
    assert_int_equal(txt_render("ru", "menu.main_warnings", cJSON_GetObjectItem(reply, "params"), text, sizeof text), 0);
    assert_non_null(strstr(text, "Срок поверки счётчика № 0100000001 (счёт 1800000001) истёк 01.06.2026"));
    assert_non_null(strstr(text, "Задолженность по счёту 1800000005: 1\xC2\xA0" "467,50\xC2\xA0₽"));
    dlg_result_free(&out);
    cJSON_Delete(keep);
    cJSON_Delete(data);
    cJSON_Delete(payload);
}

/* Periods as customers type them. */
static void test_history_ranges(void **state)
{
    char from[11], to[11];
    assert_int_equal(his_parse_range("01.01.2026-31.03.2026", from, to), 0);
    assert_string_equal(from, "2026-01-01");
    assert_string_equal(to, "2026-03-31");
    assert_int_equal(his_parse_range("1.1.2026 – 31.3.2026", from, to), 0);
    assert_string_equal(to, "2026-03-31");
    assert_int_equal(his_parse_range("01.01.2026 по 15.01.2026", from, to), 0);
    assert_string_equal(to, "2026-01-15");
    assert_int_equal(his_parse_range("02.2024", from, to), 0); /* a month: its last day, leap years too */
    assert_string_equal(from, "2024-02-01");
    assert_string_equal(to, "2024-02-29");
    assert_int_equal(his_parse_range("02.2026", from, to), 0);
    assert_string_equal(to, "2026-02-28");
    const char *bad[] = {"31.02.2026-01.03.2026", "01.03.2026-01.01.2026", "01.01.2026", "13.2026", "вчера", "",
                         "01.01.2026-31.03.2026 и ещё"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(his_parse_range(bad[i], from, to), -1);
}

/* A 10 KB message: support keeps all of it; a step that reads a short answer gets a cut that is still UTF-8. */
static void test_long_messages(void **state)
{
    static char big[20001];
    for (int i = 0; i < 10000; i++)
        memcpy(big + 2 * i, "я", 2);
    big[20000] = 0;
    dlg_result_t r = run(5, "sup.text", NULL, EV_TEXT, big);
    const cJSON *args = cJSON_GetObjectItem(cJSON_GetArrayItem(r.effects, 0), "args");
    assert_int_equal(strlen(cJSON_GetObjectItem(args, "text")->valuestring), 20000);
    dlg_result_free(&r);
    big[0] = big[1] = 'x'; /* "xx" and then "я"s: 511 bytes would end in the middle of one */
    r = run(5, "acc.number", NULL, EV_TEXT, big);
    args = cJSON_GetObjectItem(cJSON_GetArrayItem(r.effects, 0), "args");
    const char *typed = cJSON_GetObjectItem(args, "number")->valuestring;
    assert_int_equal(strlen(typed), 510); /* "xx" and 254 whole "я" */
    assert_string_equal(typed + 506, "яя");
    dlg_result_free(&r);
}

/* In the SMS channel the first message asks whether the consent was given (it was: consent.terms says so), then
 * signs in by the sender's number, without a code, keeping the keyword it came with. */
static void test_sms_sender_signs_in(void **state)
{
    cJSON *keep = cJSON_CreateObject(), *data = cJSON_CreateObject();
    dlg_state_t st = {"customer", "", keep, data, 1};
    dlg_event_t ev = {"s1", "sms", "sms:+79161234567", "+79161234567", EV_COMMAND, "/reading", NULL, 1, 0};
    dlg_result_t out;
    assert_int_equal(dlg_customer.step(&st, &ev, &out), 0);
    const cJSON *fx = cJSON_GetArrayItem(out.effects, 1);
    assert_string_equal(cJSON_GetObjectItem(fx, "op")->valuestring, "consent.terms");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(fx, "args"), "external_id")->valuestring, "+79161234567");
    cJSON *result = cJSON_Parse("{\"status\":\"ok\",\"accepted\":true,\"version\":\"1\"}");
    dlg_state_t st2 = {"customer", out.step, out.keep, out.data, 2};
    dlg_event_t ev2 = {"s1", "sms", "sms:+79161234567", "+79161234567", EV_CORE_RESULT, NULL, result, 2, 0};
    dlg_result_t out2;
    assert_int_equal(dlg_customer.step(&st2, &ev2, &out2), 0);
    fx = cJSON_GetArrayItem(out2.effects, 1);
    assert_string_equal(cJSON_GetObjectItem(fx, "op")->valuestring, "auth.sms_login");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(fx, "args"), "phone")->valuestring, "+79161234567");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(out2.data, "pending")), "/reading");
    dlg_result_free(&out2);
    dlg_result_free(&out);
    cJSON_Delete(result);
    cJSON_Delete(keep);
    cJSON_Delete(data);
}

/* The third value the core refuses hands the conversation to a person with what the customer typed, not with the
 * name of the core's answer. */
static void test_stuck_keeps_what_was_typed(void **state)
{
    cJSON *keep = cJSON_Parse("{\"customer_id\":5}"),
          *data = cJSON_Parse("{\"fails\":2,\"queue\":[{\"meter_id\":1,\"serial\":\"011\",\"zone\":1}]}");
    dlg_state_t st = {"customer", "rd.value", keep, data, 7};
    dlg_event_t ev = {"e1", "local", "local:x", "x", EV_TEXT, "двадцать девять", NULL, 7, 0};
    dlg_result_t sent;
    assert_int_equal(dlg_customer.step(&st, &ev, &sent), 0); /* the value goes to reading.submit */
    cJSON *refused = cJSON_Parse("{\"status\":\"invalid\",\"reason\":\"not_a_number\"}");
    dlg_state_t st2 = {"customer", sent.step, sent.keep, sent.data, 8};
    dlg_event_t res = {"e1", "local", "local:x", "x", EV_CORE_RESULT, NULL, refused, 8, 0};
    dlg_result_t out;
    assert_int_equal(dlg_customer.step(&st2, &res, &out), 0);
    const cJSON *e, *opened = NULL;
    cJSON_ArrayForEach(e, out.effects)
    {
        const cJSON *op = cJSON_GetObjectItem(e, "op");
        if (cJSON_IsString(op) && !strcmp(op->valuestring, "appeal.add"))
            opened = cJSON_GetObjectItem(e, "args");
    }
    assert_non_null(opened);
    assert_string_equal(cJSON_GetObjectItem(opened, "reason")->valuestring, "stuck");
    assert_string_equal(cJSON_GetObjectItem(opened, "text")->valuestring, "двадцать девять");
    dlg_result_free(&out);
    dlg_result_free(&sent);
    cJSON_Delete(refused);
    cJSON_Delete(keep);
    cJSON_Delete(data);
}

/* Choosing an account: the buttons carry the account's number and the short form of its address, not «1», «2». */
static void test_choice_buttons_name_accounts(void **state)
{
    dlg_result_t out = on_result("bal.account", "{\"op\":\"account.list\"}",
        "{\"status\":\"ok\",\"accounts\":[{\"account_id\":1,\"number\":\"1800000003\","
        "\"address\":\"г. Абакан, ул. Ленина, д. 5, кв. 12\",\"status\":\"active\"},"
        "{\"account_id\":2,\"number\":\"1800000004\",\"address\":\"дача\",\"status\":\"active\"}]}");
    const cJSON *e, *labels = NULL;
    cJSON_ArrayForEach(e, out.effects) if (cJSON_GetObjectItem(e, "button_labels")) labels = cJSON_GetObjectItem(e, "button_labels");
    assert_non_null(labels);
    assert_string_equal(cJSON_GetObjectItem(labels, "pick1")->valuestring, "1800000003 · ул. Ленина, д. 5, кв. 12");
    assert_string_equal(cJSON_GetObjectItem(labels, "pick2")->valuestring, "1800000004 · дача");
    dlg_result_free(&out);
}

/* Documents are a business's: the menu offers them only with a business account, and a household that asks anyway
 * is told at once, before any question. */
static void test_documents_only_for_businesses(void **state)
{
    for (int business = 0; business < 2; business++) {
        dlg_result_t out = on_result("", "{\"op\":\"customer.warnings\"}",
                                     business ? "{\"status\":\"ok\",\"business\":true}" : "{\"status\":\"ok\",\"business\":false}");
        const cJSON *b, *buttons = cJSON_GetObjectItem(cJSON_GetArrayItem(out.effects, 0), "buttons");
        int docs = 0, n = 0;
        cJSON_ArrayForEach(b, buttons) docs |= !strcmp(b->valuestring, "docs"), n++;
        assert_int_equal(docs, business);
        assert_true(n >= 10);
        dlg_result_free(&out);
    }
    dlg_result_t out = on_result("doc.account", "{\"op\":\"account.list\"}",
        "{\"status\":\"ok\",\"accounts\":[{\"account_id\":1,\"number\":\"1800000003\",\"address\":\"дача\","
        "\"status\":\"active\",\"kind\":\"resident\"}]}");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(out.effects, 0), "tmpl")->valuestring, "doc.business_only");
    dlg_result_free(&out);
}

/* A history page as a customer reads it: a reading's source and status, a charge's rate with its recalculation and
 * ОДН only when it has them, a payment's source and status; Russian numbers and dates. */
static void test_history_lines(void **state)
{
    static const struct {
        const char *kind, *rows, *want[3];
    } cases[] = {
        {"readings", "[{\"serial\":\"011\",\"zone\":1,\"value\":\"29700.000\",\"day\":\"2026-11-25\",\"source\":\"bot\","
                     "\"status\":\"review\"},{\"serial\":\"011\",\"zone\":1,\"value\":\"29550.500\",\"day\":\"2026-10-25\","
                     "\"source\":\"network\",\"status\":\"accepted\"}]",
         {"25.11.2026 — счётчик № 011, зона 1: 29\xC2\xA0" "700 (через кабинет, на проверке)",
          "25.10.2026 — счётчик № 011, зона 1: 29\xC2\xA0" "550,5 (сетевая организация)", NULL}},
        {"charges", "[{\"month\":\"2026-10\",\"zone\":1,\"kwh\":\"100.000\",\"rate\":\"5.8700\",\"amount_kopecks\":58700,"
                    "\"correction_kopecks\":-1000,\"odn_kopecks\":500},{\"month\":\"2026-09\",\"zone\":1,\"kwh\":\"150\","
                    "\"rate\":\"5.87\",\"amount_kopecks\":88050,\"correction_kopecks\":0,\"odn_kopecks\":0}]",
         {"Октябрь 2026, зона 1: 100 кВт·ч × 5,87 ₽ = 587,00\xC2\xA0₽; перерасчёт -10,00\xC2\xA0₽; ОДН 5,00\xC2\xA0₽",
          "Сентябрь 2026, зона 1: 150 кВт·ч × 5,87 ₽ = 880,50\xC2\xA0₽", NULL}},
        {"payments", "[{\"amount_kopecks\":50000,\"source\":\"bot\",\"status\":\"paid\",\"at\":\"2026-11-10 10:00\"},"
                     "{\"amount_kopecks\":100,\"source\":\"bank\",\"status\":\"credited\",\"at\":\"2026-10-31 20:00\"}]",
         {"10.11.2026 10:00 — 500,00\xC2\xA0₽, через кабинет, ждёт зачисления", "31.10.2026 20:00 — 1,00\xC2\xA0₽, через банк",
          NULL}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char data[160], payload[1024], text[2048];
        snprintf(data, sizeof data, "{\"op\":\"account.history\",\"kind\":\"%s\",\"account_id\":1}", cases[i].kind);
        snprintf(payload, sizeof payload, "{\"status\":\"ok\",\"more\":false,\"rows\":%s}", cases[i].rows);
        dlg_result_t out = on_result("his.kind", data, payload);
        const cJSON *reply = cJSON_GetArrayItem(out.effects, 0);
        assert_string_equal(cJSON_GetObjectItem(reply, "tmpl")->valuestring, "his.page");
        assert_int_equal(txt_render("ru", "his.page", cJSON_GetObjectItem(reply, "params"), text, sizeof text), 0);
        for (int k = 0; cases[i].want[k]; k++)
            if (!strstr(text, cases[i].want[k]))
                fail_msg("%s: no \"%s\" in \"%s\"", cases[i].kind, cases[i].want[k], text);
        dlg_result_free(&out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stuck_keeps_what_was_typed),
        cmocka_unit_test(test_choice_buttons_name_accounts),
        cmocka_unit_test(test_documents_only_for_businesses),
        cmocka_unit_test(test_history_lines),
        cmocka_unit_test(test_timeouts_send_home),
        cmocka_unit_test(test_cancel_from_every_step),
        cmocka_unit_test(test_stale_button_re_asks),
        cmocka_unit_test(test_push_button_leads_on),
        cmocka_unit_test(test_help_and_language),
        cmocka_unit_test(test_menu_warnings),
        cmocka_unit_test(test_history_ranges),
        cmocka_unit_test(test_long_messages),
        cmocka_unit_test(test_sms_sender_signs_in),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
