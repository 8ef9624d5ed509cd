/* test_dialog_demo.c — the demo dialog as a pure function: transcripts of (state, event) → (state, effects), with
 * no network and no stores. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>
#include "dialog.h"

static dlg_result_t run(const char *step, dlg_event_kind_t kind, const char *text, const cJSON *payload)
{
    cJSON *keep = cJSON_CreateObject(), *data = cJSON_CreateObject();
    dlg_state_t st = {"demo", step, keep, data, 3};
    dlg_event_t ev = {"e1", "local", "local:x", "x", kind, text, payload, 3, 0};
    dlg_result_t out;
    assert_int_equal(dlg_demo.step(&st, &ev, &out), 0);
    cJSON_Delete(keep);
    cJSON_Delete(data);
    return out;
}

static const char *fx(const dlg_result_t *r, int i, const char *field)
{
    const cJSON *e = cJSON_GetArrayItem(r->effects, i);
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(e, field);
    return cJSON_IsString(f) ? f->valuestring : NULL;
}

static void test_echo_at_rest(void **state)
{
    dlg_result_t r = run("", EV_TEXT, "привет", NULL);
    assert_string_equal(r.step, "");
    assert_int_equal(cJSON_GetArraySize(r.effects), 1);
    assert_string_equal(fx(&r, 0, "tmpl"), "demo.echo");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(r.effects, 0), "params");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(params, "text")->valuestring, "привет");
    dlg_result_free(&r);
}

static void test_count_arms_timeout(void **state)
{
    dlg_result_t r = run("", EV_COMMAND, "/count 5", NULL);
    assert_string_equal(r.step, "counting");
    assert_string_equal(fx(&r, 0, "tmpl"), "demo.count_ask");
    assert_string_equal(fx(&r, 1, "type"), "timeout");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(r.effects, 1), "after_ms")->valueint, 5000);
    dlg_result_free(&r);
    r = run("", EV_COMMAND, "/count 99999", NULL); /* absurd: the default */
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(r.effects, 1), "after_ms")->valueint, 60000);
    dlg_result_free(&r);
}

static void test_increment_calls_core_and_reports(void **state)
{
    dlg_result_t r = run("counting", EV_BUTTON, "inc", NULL);
    assert_string_equal(r.step, "counting");
    assert_string_equal(fx(&r, 0, "type"), "core");
    assert_string_equal(fx(&r, 0, "op"), "demo.counter_add");
    dlg_result_free(&r);
    cJSON *result = cJSON_Parse("{\"n\": 42}");
    r = run("counting", EV_CORE_RESULT, "", result);
    assert_string_equal(fx(&r, 0, "tmpl"), "demo.count");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(r.effects, 0), "params");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(params, "n")->valueint, 42);
    cJSON_Delete(result);
    dlg_result_free(&r);
}

static void test_timeout_and_cancel_return_to_rest(void **state)
{
    dlg_result_t r = run("counting", EV_TIMEOUT, "", NULL);
    assert_string_equal(r.step, "");
    assert_string_equal(fx(&r, 0, "tmpl"), "demo.timeout");
    dlg_result_free(&r);
    r = run("counting", EV_COMMAND, "/cancel", NULL);
    assert_string_equal(r.step, "");
    assert_string_equal(fx(&r, 0, "tmpl"), "demo.done");
    dlg_result_free(&r);
    r = run("counting", EV_TEXT, "what?", NULL); /* never silence */
    assert_string_equal(fx(&r, 0, "tmpl"), "demo.count_help");
    dlg_result_free(&r);
    r = run("", EV_PHOTO, "file-id", NULL);
    assert_string_equal(fx(&r, 0, "tmpl"), "common.not_understood");
    dlg_result_free(&r);
}

static void test_human_escalates(void **state)
{
    dlg_result_t r = run("", EV_COMMAND, "/human", NULL);
    assert_string_equal(fx(&r, 0, "type"), "send");
    assert_string_equal(fx(&r, 0, "channel"), "staff");
    assert_string_equal(fx(&r, 0, "to"), "staff:support");
    assert_string_equal(fx(&r, 0, "tmpl"), "staff.escalation");
    assert_string_equal(fx(&r, 1, "tmpl"), "demo.escalated");
    dlg_result_free(&r);
}

static void test_render_current_screen(void **state)
{
    cJSON *keep = cJSON_CreateObject(), *data = cJSON_CreateObject();
    dlg_state_t st = {"demo", "counting", keep, data, 9};
    dlg_result_t r;
    assert_int_equal(dlg_demo.render(&st, &r), 0);
    assert_string_equal(r.step, "counting");
    assert_string_equal(fx(&r, 0, "tmpl"), "demo.count_ask");
    dlg_result_free(&r);
    cJSON_Delete(keep);
    cJSON_Delete(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_at_rest),
        cmocka_unit_test(test_count_arms_timeout),
        cmocka_unit_test(test_increment_calls_core_and_reports),
        cmocka_unit_test(test_timeout_and_cancel_return_to_rest),
        cmocka_unit_test(test_render_current_screen),
        cmocka_unit_test(test_human_escalates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
