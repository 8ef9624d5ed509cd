/* test_sms_text.c — SMS segments (GSM-7 160/153 with two-septet extension characters, UCS-2 70/67 counted in
 * UTF-16 units, emoji never split) and the keyword commands (case, Latin look-alikes, extra spaces, an account
 * number first, values and sums). */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>
#include "sms_text.h"

static void repeat(char *buf, const char *unit, int n)
{
    buf[0] = 0;
    for (int i = 0; i < n; i++)
        strcat(buf, unit);
}

static void test_segments(void **state)
{
    (void)state;
    char b[4096];
    int ucs2 = -1;
    assert_int_equal(sms_segments("", &ucs2), 0);
    repeat(b, "a", 160);
    assert_int_equal(sms_segments(b, &ucs2), 1);
    assert_int_equal(ucs2, 0);
    repeat(b, "a", 161);
    assert_int_equal(sms_segments(b, &ucs2), 2);
    repeat(b, "a", 306);
    assert_int_equal(sms_segments(b, &ucs2), 2);
    repeat(b, "a", 307);
    assert_int_equal(sms_segments(b, &ucs2), 3);
    repeat(b, "{", 80); /* extension characters take two septets */
    assert_int_equal(sms_segments(b, &ucs2), 1);
    repeat(b, "{", 81);
    assert_int_equal(sms_segments(b, &ucs2), 2);
    repeat(b, "я", 70);
    assert_int_equal(sms_segments(b, &ucs2), 1);
    assert_int_equal(ucs2, 1);
    repeat(b, "я", 71);
    assert_int_equal(sms_segments(b, &ucs2), 2);
    repeat(b, "я", 134); /* two segments of Cyrillic hold 134 characters */
    assert_int_equal(sms_segments(b, &ucs2), 2);
    repeat(b, "я", 135);
    assert_int_equal(sms_segments(b, &ucs2), 3);
    repeat(b, "a", 150); /* one Cyrillic letter makes all of it UCS-2 */
    strcat(b, "ж");
    assert_int_equal(sms_segments(b, &ucs2), 3);
    assert_int_equal(ucs2, 1);
    repeat(b, "😀", 35); /* 70 UTF-16 units */
    assert_int_equal(sms_segments(b, &ucs2), 1);
    repeat(b, "a", 66); /* 66 units, then an emoji that would straddle 67: it moves whole to part two */
    strcat(b, "😀");
    repeat(b + strlen(b), "b", 66);
    assert_int_equal(sms_segments(b, &ucs2), 3);
}

static void test_keywords(void **state)
{
    (void)state;
    sms_cmd_t c;
    char cmd[128];
    assert_int_equal(sms_parse("БАЛАНС", &c), SMS_CMD_BALANCE);
    assert_int_equal(sms_parse("  баланс ", &c), SMS_CMD_BALANCE);
    assert_int_equal(sms_parse("6AЛAHC", &c), SMS_CMD_NONE); /* a digit is not a letter */
    assert_int_equal(sms_parse("БAЛAHC", &c), SMS_CMD_BALANCE); /* Latin A and H look Cyrillic */
    assert_int_equal(sms_parse("П 29800", &c), SMS_CMD_READING);
    assert_string_equal(c.arg, "29800");
    assert_int_equal(sms_parse("ПOKAЗAHИЯ   12345    6789", &c), SMS_CMD_READING); /* Latin O K A H, spaces */
    assert_string_equal(c.arg, "12345 6789");
    assert_int_equal(sms_command(&c, cmd, sizeof cmd), 0);
    assert_string_equal(cmd, "/reading 12345 6789");
    assert_int_equal(sms_parse("1800000001 показания 29700,5", &c), SMS_CMD_READING);
    assert_string_equal(c.account, "1800000001");
    assert_int_equal(sms_command(&c, cmd, sizeof cmd), 0);
    assert_string_equal(cmd, "/reading 1800000001 29700,5");
    assert_int_equal(sms_parse("П двадцать", &c), SMS_CMD_NONE);
    assert_int_equal(sms_parse("Оплата 1500", &c), SMS_CMD_PAY);
    assert_string_equal(c.arg, "1500");
    assert_int_equal(sms_parse("OПЛATA", &c), SMS_CMD_PAY);
    assert_int_equal(sms_command(&c, cmd, sizeof cmd), 0);
    assert_string_equal(cmd, "/pay");
    assert_int_equal(sms_parse("счёт", &c), SMS_CMD_BILL);
    assert_int_equal(sms_parse("stop", &c), SMS_CMD_STOP);
    assert_int_equal(sms_parse("СТОП", &c), SMS_CMD_STOP);
    assert_int_equal(sms_parse("Start", &c), SMS_CMD_START);
    assert_int_equal(sms_command(&c, cmd, sizeof cmd), 0);
    assert_string_equal(cmd, "/resume");
    assert_int_equal(sms_parse("помощь", &c), SMS_CMD_HELP);
    assert_int_equal(sms_parse("balance", &c), SMS_CMD_BALANCE); /* the English ones */
    assert_int_equal(sms_parse("R 29800", &c), SMS_CMD_READING);
    assert_int_equal(sms_parse("Pay 100", &c), SMS_CMD_PAY);
    assert_int_equal(sms_parse("3", &c), SMS_CMD_CHOICE);
    assert_string_equal(c.arg, "3");
    assert_int_equal(sms_parse("баланс пожалуйста", &c), SMS_CMD_NONE);
    assert_int_equal(sms_parse("Петров", &c), SMS_CMD_NONE);
    assert_int_equal(sms_parse("", &c), SMS_CMD_NONE);
    assert_int_equal(sms_command(&c, cmd, sizeof cmd) < 0, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_segments), cmocka_unit_test(test_keywords)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
