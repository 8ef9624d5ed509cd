/* test_tg_update.c — Telegram updates as kabinet reads them: 64-bit ids exact, commands without the bot's name,
 * buttons with their version, contacts only the sender's own, notices for what the bot does not take. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "err.h"
#include "tg_update.h"

static void parse(const char *json, tg_update_t *u) { assert_int_equal(tg_update_parse(json, strlen(json), u), 0); }

#define PRIVATE(uid) "\"chat\":{\"id\":" uid ",\"type\":\"private\"},\"from\":{\"id\":" uid ",\"language_code\":\"en\"}"

static void test_text_and_ids(void **state)
{
    tg_update_t u;
    /* 2^52 + 1: above what valueint holds, exact in a double */
    parse("{\"update_id\":905000001,\"message\":{\"message_id\":5,\"date\":1700000000," PRIVATE("4503599627370497")
          ",\"text\":\"Привет\"}}", &u);
    assert_int_equal(u.action, TGU_EVENT);
    assert_int_equal(u.ev.kind, EV_TEXT);
    assert_string_equal(u.ev.conv, "tg:4503599627370497");
    assert_string_equal(u.ev.sender, "4503599627370497");
    assert_string_equal(u.ev.id, "u905000001");
    assert_string_equal(u.ev.text, "Привет");
    assert_string_equal(u.lang, "en");
    assert_int_equal(u.ev.ts_ms, 1700000000000LL);
    tg_update_free(&u);
    /* commands lose the bot's name, keep their arguments */
    parse("{\"update_id\":1,\"message\":{\"message_id\":5," PRIVATE("42") ",\"text\":\"/lang@kabinet_bot en\"}}", &u);
    assert_int_equal(u.ev.kind, EV_COMMAND);
    assert_string_equal(u.ev.text, "/lang en");
    tg_update_free(&u);
    parse("{\"update_id\":2,\"message\":{\"message_id\":5," PRIVATE("42") ",\"text\":\"/start@kabinet_bot\"}}", &u);
    assert_string_equal(u.ev.text, "/start");
    tg_update_free(&u);
    /* a deep link (t.me/bot?start=acc1800000001) reaches the dialog with its payload */
    parse("{\"update_id\":3,\"message\":{\"message_id\":5," PRIVATE("42") ",\"text\":\"/start acc1800000001\"}}", &u);
    assert_int_equal(u.ev.kind, EV_COMMAND);
    assert_string_equal(u.ev.text, "/start acc1800000001");
    tg_update_free(&u);
}

static void test_buttons(void **state)
{
    tg_update_t u;
    parse("{\"update_id\":7,\"callback_query\":{\"id\":\"9876543210\",\"data\":\"17:readings\",\"from\":{\"id\":42},"
          "\"message\":{\"message_id\":88,\"chat\":{\"id\":42,\"type\":\"private\"}}}}", &u);
    assert_int_equal(u.action, TGU_EVENT);
    assert_int_equal(u.ev.kind, EV_BUTTON);
    assert_string_equal(u.ev.text, "readings");
    assert_int_equal(u.ev.version, 17);
    assert_string_equal(u.ev.id, "u7:m88"); /* the pressed message, for editMessageText */
    assert_string_equal(u.callback_id, "9876543210");
    assert_null(u.callback_notice);
    tg_update_free(&u);
    /* forged or odd data: answered with a notice, no event */
    const char *bad[] = {"readings", ":readings", "17:", "17:Readings", "x7:readings", "17:read ings",
                         "1234567890123456789:readings"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char json[400];
        snprintf(json, sizeof json, "{\"update_id\":8,\"callback_query\":{\"id\":\"1\",\"data\":\"%s\",\"from\":{\"id\":42},"
                 "\"message\":{\"message_id\":88,\"chat\":{\"id\":42,\"type\":\"private\"}}}}", bad[i]);
        parse(json, &u);
        assert_int_equal(u.action, TGU_IGNORE);
        assert_string_equal(u.callback_id, "1");
        assert_string_equal(u.callback_notice, "tg.button_invalid");
        tg_update_free(&u);
    }
}

static void test_contacts(void **state)
{
    tg_update_t u;
    parse("{\"update_id\":3,\"message\":{\"message_id\":5," PRIVATE("5000000001")
          ",\"contact\":{\"phone_number\":\"79161234567\",\"user_id\":5000000001}}}", &u);
    assert_int_equal(u.action, TGU_EVENT);
    assert_int_equal(u.ev.kind, EV_CONTACT);
    assert_string_equal(u.ev.text, "79161234567");
    tg_update_free(&u);
    /* someone else's, forwarded, or without an owner */
    const char *bad[] = {"\"contact\":{\"phone_number\":\"79161234567\",\"user_id\":5000000002}",
                         "\"contact\":{\"phone_number\":\"79161234567\",\"user_id\":5000000001},\"forward_date\":1",
                         "\"contact\":{\"phone_number\":\"79161234567\",\"user_id\":5000000001},\"forward_origin\":{}",
                         "\"contact\":{\"phone_number\":\"79161234567\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char json[400];
        snprintf(json, sizeof json, "{\"update_id\":3,\"message\":{\"message_id\":5," PRIVATE("5000000001") ",%s}}",
                 bad[i]);
        parse(json, &u);
        assert_int_equal(u.action, TGU_NOTICE);
        assert_string_equal(u.notice, "tg.contact_not_yours");
        tg_update_free(&u);
    }
}

static void test_notices(void **state)
{
    tg_update_t u;
    parse("{\"update_id\":4,\"edited_message\":{\"message_id\":5," PRIVATE("42") ",\"text\":\"x\"}}", &u);
    assert_int_equal(u.action, TGU_NOTICE);
    assert_string_equal(u.notice, "tg.edited");
    tg_update_free(&u);
    parse("{\"update_id\":4,\"message\":{\"message_id\":5," PRIVATE("42") ",\"sticker\":{\"file_id\":\"x\"}}}", &u);
    assert_string_equal(u.notice, "tg.unsupported");
    tg_update_free(&u);
    parse("{\"update_id\":4,\"message\":{\"message_id\":5," PRIVATE("42")
          ",\"document\":{\"file_id\":\"BQ\",\"file_size\":3000000}}}", &u);
    assert_string_equal(u.notice, "tg.file_too_big");
    tg_update_free(&u);
    parse("{\"update_id\":4,\"message\":{\"message_id\":5," PRIVATE("42")
          ",\"document\":{\"file_id\":\"BQ\",\"file_size\":2000000}}}", &u);
    assert_int_equal(u.ev.kind, EV_DOCUMENT);
    assert_string_equal(u.ev.text, "BQ");
    tg_update_free(&u);
    parse("{\"update_id\":4,\"message\":{\"message_id\":5," PRIVATE("42")
          ",\"photo\":[{\"file_id\":\"small\"},{\"file_id\":\"large\"}]}}", &u);
    assert_int_equal(u.ev.kind, EV_PHOTO);
    assert_string_equal(u.ev.text, "large");
    tg_update_free(&u);
    /* a supergroup: a command gets the notice in that chat; other messages nothing */
    parse("{\"update_id\":5,\"message\":{\"message_id\":5,\"chat\":{\"id\":-1001234567890,\"type\":\"supergroup\"},"
          "\"from\":{\"id\":42},\"text\":\"/start\"}}", &u);
    assert_int_equal(u.action, TGU_NOTICE);
    assert_string_equal(u.notice, "tg.private_only");
    assert_string_equal(u.conv, "tg:-1001234567890");
    tg_update_free(&u);
    parse("{\"update_id\":5,\"message\":{\"message_id\":5,\"chat\":{\"id\":-1001234567890,\"type\":\"supergroup\"},"
          "\"from\":{\"id\":42},\"text\":\"hello all\"}}", &u);
    assert_int_equal(u.action, TGU_IGNORE);
    tg_update_free(&u);
    /* updates kabinet does not ask for, and ids that are not ids */
    parse("{\"update_id\":6,\"my_chat_member\":{}}", &u);
    assert_int_equal(u.action, TGU_IGNORE);
    tg_update_free(&u);
    parse("{\"update_id\":6,\"message\":{\"message_id\":5,\"chat\":{\"id\":1.5,\"type\":\"private\"},\"text\":\"x\"}}",
          &u);
    assert_int_equal(u.action, TGU_IGNORE);
    tg_update_free(&u);
    assert_int_equal(tg_update_parse("{\"message\":{}}", 14, &u), KB_ERR_INVAL);
    tg_update_free(&u);
    assert_int_equal(tg_update_parse("[1,2", 4, &u), KB_ERR_INVAL);
    tg_update_free(&u);
}

/* The staff group: one conversation per forum topic, people only; a staff command elsewhere is flagged. */
/* chat_member: a staff group's member who left or was removed (TGU_LEFT); anything else about members is nothing */
static void test_member_left(void **state)
{
    int64_t staff[] = {-1009000000001LL};
    tg_update_set_staff(staff, 1);
    tg_update_t u;
    const char *fmt = "{\"update_id\":21,\"chat_member\":{\"chat\":{\"id\":%s,\"type\":\"supergroup\"},\"from\":"
                      "{\"id\":501},\"date\":1,\"old_chat_member\":{\"user\":{\"id\":502},\"status\":\"member\"},"
                      "\"new_chat_member\":{\"user\":{\"id\":4503599627370497},\"status\":\"%s\"%s}}}";
    char j[512];
    snprintf(j, sizeof j, fmt, "-1009000000001", "left", "");
    parse(j, &u);
    assert_int_equal(u.action, TGU_LEFT);
    assert_true(u.staff_chat == -1009000000001LL && u.user_id == 4503599627370497LL);
    tg_update_free(&u);
    snprintf(j, sizeof j, fmt, "-1009000000001", "kicked", "");
    parse(j, &u);
    assert_int_equal(u.action, TGU_LEFT);
    tg_update_free(&u);
    snprintf(j, sizeof j, fmt, "-1009000000001", "restricted", ",\"is_member\":false");
    parse(j, &u);
    assert_int_equal(u.action, TGU_LEFT);
    tg_update_free(&u);
    snprintf(j, sizeof j, fmt, "-1009000000001", "member", "");
    parse(j, &u);
    assert_int_equal(u.action, TGU_IGNORE);
    tg_update_free(&u);
    snprintf(j, sizeof j, fmt, "-1005555", "left", ""); /* another group */
    parse(j, &u);
    assert_int_equal(u.action, TGU_IGNORE);
    tg_update_free(&u);
}

static void test_staff_group(void **state)
{
    int64_t staff[] = {-1009000000001LL};
    tg_update_set_staff(staff, 1);
    tg_update_t u;
    parse("{\"update_id\":11,\"message\":{\"message_id\":70,\"message_thread_id\":44,\"is_topic_message\":true,"
          "\"chat\":{\"id\":-1009000000001,\"type\":\"supergroup\",\"is_forum\":true},"
          "\"from\":{\"id\":501,\"first_name\":\"Ольга\",\"last_name\":\"К.\"},\"text\":\"/close@kabinet_bot готово\"}}", &u);
    assert_int_equal(u.action, TGU_EVENT);
    assert_int_equal(u.staff, 1);
    assert_string_equal(u.ev.conv, "staff:-1009000000001:44");
    assert_string_equal(u.ev.channel, "staff");
    assert_string_equal(u.ev.sender, "501");
    assert_int_equal(u.ev.kind, EV_COMMAND);
    assert_string_equal(u.ev.text, "/close готово");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(u.ev.payload, "name")), "Ольга К.");
    tg_update_free(&u);
    /* the group's general chat is topic 0 */
    parse("{\"update_id\":12,\"message\":{\"message_id\":71,\"chat\":{\"id\":-1009000000001,\"type\":\"supergroup\"},"
          "\"from\":{\"id\":501},\"text\":\"/ls 1800000001\"}}", &u);
    assert_string_equal(u.ev.conv, "staff:-1009000000001:0");
    tg_update_free(&u);
    /* bots, a channel posting as the group, and edits are not staff */
    parse("{\"update_id\":13,\"message\":{\"message_id\":72,\"chat\":{\"id\":-1009000000001,\"type\":\"supergroup\"},"
          "\"from\":{\"id\":777,\"is_bot\":true},\"text\":\"/close\"}}", &u);
    assert_int_equal(u.action, TGU_IGNORE);
    tg_update_free(&u);
    parse("{\"update_id\":14,\"message\":{\"message_id\":73,\"chat\":{\"id\":-1009000000001,\"type\":\"supergroup\"},"
          "\"from\":{\"id\":136817688},\"sender_chat\":{\"id\":-1001},\"text\":\"/close\"}}", &u);
    assert_int_equal(u.action, TGU_IGNORE);
    tg_update_free(&u);
    parse("{\"update_id\":15,\"edited_message\":{\"message_id\":70,\"chat\":{\"id\":-1009000000001,\"type\":\"supergroup\"},"
          "\"from\":{\"id\":501},\"text\":\"исправлено\"}}", &u);
    assert_int_equal(u.action, TGU_IGNORE);
    tg_update_free(&u);
    /* a staff command in a private chat or another group: flagged as refused */
    parse("{\"update_id\":16,\"message\":{\"message_id\":5," PRIVATE("42") ",\"text\":\"/approve\"}}", &u);
    assert_int_equal(u.refused, 1);
    assert_int_equal(u.staff, 0);
    assert_string_equal(u.ev.conv, "tg:42");
    tg_update_free(&u);
    parse("{\"update_id\":17,\"message\":{\"message_id\":5,\"chat\":{\"id\":-1005,\"type\":\"supergroup\"},"
          "\"from\":{\"id\":501},\"text\":\"/take\"}}", &u);
    assert_int_equal(u.refused, 1);
    assert_int_equal(u.action, TGU_NOTICE);
    tg_update_free(&u);
    tg_update_set_staff(NULL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_text_and_ids), cmocka_unit_test(test_buttons),
                                       cmocka_unit_test(test_contacts), cmocka_unit_test(test_notices),
                                       cmocka_unit_test(test_staff_group), cmocka_unit_test(test_member_left)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
