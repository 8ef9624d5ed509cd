/* test_log.c — log lines are valid one-line JSON, and personal data and secrets come out masked. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include "log.h"

static void test_json_line(void **state)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    log_set_fd(fds[1]);
    const char *fields[] = {"conv", "tg:1\"2", NULL};
    log_write(LOG_WARN, "db", "line\nbreak \"quoted\"\x01", fields);
    log_set_fd(2);
    char buf[4096];
    ssize_t n = read(fds[0], buf, sizeof buf - 1);
    assert_true(n > 0);
    buf[n] = 0;
    assert_ptr_equal(strchr(buf, '\n'), buf + n - 1); /* exactly one line */
    cJSON *j = cJSON_Parse(buf);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "level")->valuestring, "warn");
    assert_string_equal(cJSON_GetObjectItem(j, "module")->valuestring, "db");
    assert_string_equal(cJSON_GetObjectItem(j, "msg")->valuestring, "line\nbreak \"quoted\"\x01");
    assert_string_equal(cJSON_GetObjectItem(j, "conv")->valuestring, "tg:1\"2");
    assert_non_null(strstr(cJSON_GetObjectItem(j, "time")->valuestring, "Z"));
    cJSON_Delete(j);
    close(fds[0]);
    close(fds[1]);
}

static void test_levels(void **state)
{
    log_level_t l;
    assert_int_equal(log_parse_level("debug", &l), 0);
    assert_int_equal(l, LOG_DEBUG);
    assert_true(log_parse_level("verbose", &l) < 0);
    log_set_level(LOG_ERROR);
    assert_false(log_enabled(LOG_WARN));
    assert_true(log_enabled(LOG_ERROR));
    log_set_level(LOG_INFO);
}

static void test_mask_phone(void **state)
{
    char out[64];
    assert_string_equal(log_mask_phone("+79161234567", out, sizeof out), "+7916***4567");
    assert_string_equal(log_mask_phone("8 (916) 123-45-67", out, sizeof out), "+8916***4567");
    assert_string_equal(log_mask_phone("12345", out, sizeof out), "***");
    assert_string_equal(log_mask_phone("call me", out, sizeof out), "***");
    assert_null(strstr(log_mask_phone("+79161234567", out, sizeof out), "123"));
}

static void test_mask_email(void **state)
{
    char out[64];
    assert_string_equal(log_mask_email("ivan.petrov@mail.ru", out, sizeof out), "i***v@mail.ru");
    assert_string_equal(log_mask_email("ab@x.ru", out, sizeof out), "a***@x.ru");
    assert_string_equal(log_mask_email("not-an-email", out, sizeof out), "***");
    assert_string_equal(log_mask_email("@x.ru", out, sizeof out), "***");
}

static void test_mask_text(void **state)
{
    char out[256];
    assert_string_equal(log_mask_text("Отправил код в SMS на +79131234570. Введите", out, sizeof out),
                        "Отправил код в SMS на +7913***4570. Введите");
    assert_string_equal(log_mask_text("мой номер +7 (916) 123-45-67, почта ivan.petrov@mail.ru.", out, sizeof out),
                        "мой номер +7916***4567, почта i***v@mail.ru.");
    assert_string_equal(log_mask_text("89161234567 или 9161234567", out, sizeof out), "+8916***4567 или +916***4567");
    /* readings, accounts, sums and codes of other lengths stay */
    assert_string_equal(log_mask_text("счёт 1800000001, показания 29700, 1 234,56 ₽", out, sizeof out),
                        "счёт 1800000001, показания 29700, 1 234,56 ₽");
    assert_string_equal(log_mask_text("791312345701234", out, sizeof out), "791312345701234");
    assert_string_equal(log_mask_text("a@b", out, sizeof out), "a@b");
    assert_string_equal(log_mask_text("", out, sizeof out), "");
    char small[8];
    assert_int_equal(strlen(log_mask_text("+79131234570", small, sizeof small)), 7);
}

static void test_mask_token_and_url(void **state)
{
    char out[256];
    assert_string_equal(log_mask_token("123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", out, sizeof out), "1234…(44)");
    assert_string_equal(log_mask_token("short", out, sizeof out), "***");
    assert_string_equal(log_mask_url("postgresql://kb:s3cret@db.local:5432/kb", out, sizeof out),
                        "postgresql://kb:***@db.local:5432/kb");
    assert_string_equal(log_mask_url("redis://:pw@127.0.0.1:6379/0", out, sizeof out), "redis://:***@127.0.0.1:6379/0");
    assert_string_equal(log_mask_url("host=x password=s3cret user=kb", out, sizeof out), "host=x password=*** user=kb");
    assert_string_equal(log_mask_url("postgresql://db/kb?password=s3cret&x=1", out, sizeof out),
                        "postgresql://db/kb?password=***&x=1");
    assert_string_equal(log_mask_url("redis://127.0.0.1:6379", out, sizeof out), "redis://127.0.0.1:6379");
    char tiny[8];
    log_mask_url("postgresql://kb:s3cret@db", tiny, sizeof tiny);
    assert_int_equal(strlen(tiny), 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_line), cmocka_unit_test(test_levels), cmocka_unit_test(test_mask_phone),
        cmocka_unit_test(test_mask_email), cmocka_unit_test(test_mask_token_and_url), cmocka_unit_test(test_mask_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
