/* test_dialog_staff.c — the staff's dialog as a pure function: what a staff member writes in an appeal's topic
 * becomes the right core call; "note:" stays internal; commands outside a topic or unknown ones get a word, not a
 * call; "not assigned" asks "take over?" and keeps the message for the button; an answered action reaches the
 * customer's conversation as an EV_STAFF event, a refused one only the topic. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "dialog.h"

static char seen[512];

/* One transition; seen gets the effects as "type:what" joined by commas. */
static dlg_result_t run(const char *conv, const char *step, const char *data, dlg_event_kind_t kind, const char *text,
                        const char *payload)
{
    cJSON *keep = cJSON_CreateObject(), *d = cJSON_Parse(data ? data : "{}"), *p = cJSON_Parse(payload ? payload :
                                                                                           "{\"name\":\"Ольга\"}");
    dlg_state_t st = {"staff", step, keep, d, 3};
    dlg_event_t ev = {"u1", "staff", conv, "501", kind, text, p, 3, 0};
    dlg_result_t out;
    assert_int_equal(dlg_staff.step(&st, &ev, &out), 0);
    cJSON_Delete(keep);
    cJSON_Delete(d);
    cJSON_Delete(p);
    seen[0] = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, out.effects)
    {
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(e, "type"));
        const char *what = cJSON_GetStringValue(cJSON_GetObjectItem(e, !strcmp(type, "core") ? "op" :
                                                                        !strcmp(type, "event") ? "text" : "tmpl"));
        snprintf(seen + strlen(seen), sizeof seen - strlen(seen), "%s%s:%s", seen[0] ? "," : "", type, what ? what : "");
    }
    return out;
}

static const char *arg(const dlg_result_t *r, const char *name)
{
    const cJSON *a = cJSON_GetObjectItem(cJSON_GetArrayItem(r->effects, 0), "args");
    return cJSON_GetStringValue(cJSON_GetObjectItem(a, name));
}

static void test_topic_messages(void **state)
{
    dlg_result_t r = run("staff:-100900:44", "", NULL, EV_TEXT, "Здравствуйте!", NULL);
    assert_string_equal(seen, "core:appeal.staff");
    assert_string_equal(arg(&r, "action"), "say");
    assert_string_equal(arg(&r, "text"), "Здравствуйте!");
    assert_string_equal(arg(&r, "staff"), "501");
    dlg_result_free(&r);
    r = run("staff:-100900:44", "", NULL, EV_TEXT, "NOTE:  проверить оплату", NULL);
    assert_string_equal(arg(&r, "action"), "note");
    assert_string_equal(arg(&r, "text"), "проверить оплату");
    dlg_result_free(&r);
    r = run("staff:-100900:44", "", NULL, EV_COMMAND, "/close чек отправлен", NULL);
    assert_string_equal(arg(&r, "action"), "close");
    assert_string_equal(arg(&r, "text"), "чек отправлен");
    dlg_result_free(&r);
    r = run("staff:-100900:44", "", NULL, EV_PHOTO, "AgAC-file", "{\"name\":\"Ольга\",\"caption\":\"квитанция\"}");
    assert_string_equal(seen, "core:appeal.staff"); /* a photo goes as it is, with its caption */
    assert_string_equal(arg(&r, "attachment"), "AgAC-file");
    assert_string_equal(arg(&r, "kind"), "photo");
    assert_string_equal(arg(&r, "text"), "квитанция");
    dlg_result_free(&r);
}

static void test_outside_a_topic(void **state)
{
    dlg_result_t r = run("staff:-100900:0", "", NULL, EV_TEXT, "коллеги, кто на смене?", NULL);
    assert_string_equal(seen, ""); /* the general chat: staff talk among themselves */
    dlg_result_free(&r);
    r = run("staff:-100900:0", "", NULL, EV_COMMAND, "/close", NULL);
    assert_string_equal(seen, "reply:staff.no_appeal");
    dlg_result_free(&r);
    r = run("staff:-100900:0", "", NULL, EV_COMMAND, "/ls 1800000001", NULL);
    assert_string_equal(seen, "core:staff.ls");
    assert_string_equal(arg(&r, "number"), "1800000001");
    dlg_result_free(&r);
    r = run("staff:-100900:0", "", NULL, EV_COMMAND, "/ls", NULL);
    assert_string_equal(seen, "reply:staff.ls_usage");
    dlg_result_free(&r);
    r = run("staff:-100900:0", "", NULL, EV_COMMAND, "/delete_everything", NULL);
    assert_string_equal(seen, "reply:staff.unknown_command");
    dlg_result_free(&r);
    dlg_event_t ev = {"u1", "staff", "tg:42", "501", EV_TEXT, "x", NULL, 0, 0};
    dlg_state_t st = {"staff", "", NULL, NULL, 0};
    dlg_result_t out;
    assert_int_equal(dlg_staff.step(&st, &ev, &out), -1); /* not a staff conversation at all */
    dlg_result_free(&out);
}

static void test_take_over_first(void **state)
{
    /* the core says nobody took the appeal: ask, keeping the message */
    dlg_result_t r = run("staff:-100900:44", "", "{\"op\":\"appeal.staff\",\"said\":\"Здравствуйте!\",\"name\":\"Ольга\"}",
                         EV_CORE_RESULT, NULL, "{\"status\":\"not_assigned\",\"appeal_id\":7,\"action\":\"say\"}");
    assert_string_equal(seen, "reply:staff.confirm_take");
    assert_string_equal(r.step, "confirm_take");
    char *data = cJSON_PrintUnformatted(r.data);
    dlg_result_free(&r);
    /* the button: take and send what was kept */
    r = run("staff:-100900:44", "confirm_take", data, EV_BUTTON, "take_say", NULL);
    assert_string_equal(seen, "core:appeal.staff");
    assert_string_equal(arg(&r, "action"), "take_say");
    assert_string_equal(arg(&r, "text"), "Здравствуйте!");
    dlg_result_free(&r);
    r = run("staff:-100900:44", "confirm_take", data, EV_BUTTON, "cancel", NULL);
    assert_string_equal(seen, "reply:staff.not_sent");
    dlg_result_free(&r);
    free(data);
}

static void test_answers(void **state)
{
    /* done: the customer's conversation gets the event, the topic a word (an answer needs no echo) */
    dlg_result_t r = run("staff:-100900:44", "", "{\"op\":\"appeal.staff\",\"said\":\"Проверю.\",\"name\":\"Ольга\"}",
                         EV_CORE_RESULT, NULL,
                         "{\"status\":\"ok\",\"appeal_id\":7,\"action\":\"say\",\"conv\":\"sms:+79160000001\"}");
    assert_string_equal(seen, "event:say");
    const cJSON *e = cJSON_GetArrayItem(r.effects, 0);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(e, "to")), "sms:+79160000001");
    const cJSON *p = cJSON_GetObjectItem(e, "payload");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(p, "text")), "Проверю.");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(p, "name")), "Ольга");
    dlg_result_free(&r);
    r = run("staff:-100900:44", "", "{\"op\":\"appeal.staff\"}", EV_CORE_RESULT, NULL,
            "{\"status\":\"ok\",\"appeal_id\":7,\"action\":\"approve\",\"conv\":\"tg:42\",\"number\":\"1800000002\"}");
    assert_string_equal(seen, "event:approve,reply:staff.done_approve");
    dlg_result_free(&r);
    /* refused: only the topic hears */
    r = run("staff:-100900:44", "", "{\"op\":\"appeal.staff\"}", EV_CORE_RESULT, NULL,
            "{\"status\":\"resolved\",\"appeal_id\":7,\"action\":\"say\",\"conv\":\"tg:42\"}");
    assert_string_equal(seen, "reply:staff.resolved");
    dlg_result_free(&r);
    r = run("staff:-100900:44", "", "{\"op\":\"appeal.staff\"}", EV_CORE_RESULT, NULL,
            "{\"status\":\"ok\",\"appeal_id\":7,\"action\":\"note\",\"conv\":\"tg:42\"}");
    assert_string_equal(seen, ""); /* a note reaches nobody */
    dlg_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_topic_messages), cmocka_unit_test(test_outside_a_topic),
                                       cmocka_unit_test(test_take_over_first), cmocka_unit_test(test_answers)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
