/* test_auth.c — the login code policy against a real PostgreSQL: the stored value is not the code; the 6th wrong
 * try is refused even with the right code, and a new code does not reset the tries; a code is refused after 10
 * minutes and after use; a new code no sooner than 60 s, 5 an hour, 10 a day; a login finds or creates the
 * customer and binds the identity the customer came from. Time is moved by moving the rows back. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "core.h"
#include "metrics.h"
#include "tk.h"

static uv_loop_t loop;
static db_t *db;
static char code[8], st[32];

#define field tk_field

/* Asks for a code for the phone; returns the status, keeps the code. */
static const char *send_code(const char *phone)
{
    cJSON *r = tk_coref(&loop, db, "auth.code_send", "{\"phone\":\"%s\"}", phone);
    snprintf(st, sizeof st, "%s", field(r, "status"));
    if (!strcmp(st, "sent"))
        snprintf(code, sizeof code, "%s", field(r, "code"));
    cJSON_Delete(r);
    return st;
}

/* Tries a code; returns "status" or "status:attempts_left". */
static const char *verify(const char *phone, const char *c)
{
    static char out[64];
    cJSON *r = tk_coref(&loop, db, "auth.code_verify",
                        "{\"phone\":\"%s\",\"code\":\"%s\",\"channel\":\"tg\",\"external_id\":\"4503599627370497\"}",
                        phone, c);
    if (!strcmp(field(r, "status"), "wrong"))
        snprintf(out, sizeof out, "wrong:%s", field(r, "attempts_left"));
    else
        snprintf(out, sizeof out, "%s", field(r, "status"));
    cJSON_Delete(r);
    return out;
}

/* A code that is not the one sent. */
static const char *other(void)
{
    static char o[8];
    snprintf(o, sizeof o, "%06d", (atoi(code) + 1) % 1000000);
    return o;
}

/* Moves every code and failure of the test back by secs seconds. */
static void back(int secs)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "UPDATE kb_auth_code SET created_at = created_at - interval '%d seconds', expires_at = expires_at - "
             "interval '%d seconds'; UPDATE kb_auth_failure SET at = at - interval '%d seconds'", secs, secs, secs);
    assert_non_null(tk_db_value(sql));
}

static int setup(void **state)
{
    db = tk_core_start(&loop, "auth", NULL);
    core_auth_set_key("test-key-0123456789-0123456789-0123456789");
    return 0;
}

static int teardown(void **state)
{
    tk_core_stop(&loop, db);
    return 0;
}

static void test_wrong_tries(void **state)
{
    assert_string_equal(send_code("+7 (916) 123-45-67"), "sent");
    assert_int_equal(strlen(code), 6);
    /* the database holds an HMAC, never the code */
    const char *stored = tk_db_value("SELECT code_hmac FROM kb_auth_code");
    assert_int_equal(strlen(stored), 64);
    assert_null(strstr(stored, code));
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_auth_code WHERE code_hmac LIKE '%' || address || '%'"), "0");
    /* letters or a short code spend no try */
    assert_string_equal(verify("89161234567", "12a456"), "invalid_code");
    assert_string_equal(verify("89161234567", "12345"), "invalid_code");
    assert_string_equal(verify("89161234567", other()), "wrong:4");
    assert_string_equal(verify("89161234567", other()), "wrong:3");
    assert_string_equal(verify("89161234567", other()), "wrong:2");
    /* a new code does not reset the count */
    back(61);
    assert_string_equal(send_code("9161234567"), "sent");
    assert_string_equal(verify("89161234567", other()), "wrong:1");
    assert_string_equal(verify("89161234567", other()), "wrong:0");
    /* the 6th try is refused even with the right code */
    assert_string_equal(verify("89161234567", code), "locked");
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_customer"), "0");
    /* an hour later the phone may try again */
    back(3601);
    assert_string_equal(send_code("9161234567"), "sent");
    assert_string_equal(verify("89161234567", code), "ok");
}

static void test_expiry_single_use_and_identity(void **state)
{
    assert_string_equal(send_code("+79161234567"), "sent");
    back(601); /* ten minutes and a second later */
    assert_string_equal(verify("+79161234567", code), "expired");
    assert_string_equal(send_code("+79161234567"), "sent");
    cJSON *r = tk_coref(&loop, db, "auth.code_verify",
                        "{\"phone\":\"+79161234567\",\"code\":\"%s\",\"channel\":\"tg\",\"external_id\":\"4503599627370497\"}",
                        code);
    assert_string_equal(field(r, "status"), "ok");
    assert_string_equal(field(r, "new"), "true");
    char customer[24];
    snprintf(customer, sizeof customer, "%s", field(r, "customer_id"));
    cJSON_Delete(r);
    /* used once */
    assert_string_equal(verify("+79161234567", code), "expired");
    /* the phone and the Telegram user both lead to the customer */
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT string_agg(channel || ':' || external_id, ' ' ORDER BY channel) FROM kb_identity"
                              " WHERE customer_id = %s AND verified_at IS NOT NULL", customer);
    assert_string_equal(tk_db_value(sql), "sms:+79161234567 tg:4503599627370497");
    /* the next login finds the same customer */
    back(61);
    assert_string_equal(send_code("+79161234567"), "sent");
    r = tk_coref(&loop, db, "auth.code_verify",
                 "{\"phone\":\"+79161234567\",\"code\":\"%s\",\"channel\":\"local\",\"external_id\":\"local:me\"}", code);
    assert_string_equal(field(r, "status"), "ok");
    assert_string_equal(field(r, "new"), "false");
    assert_string_equal(field(r, "customer_id"), customer);
    cJSON_Delete(r);
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_customer"), "1");
    assert_string_equal(tk_db_value("SELECT string_agg(what, ' ' ORDER BY id) FROM kb_audit"),
                        "login.code_sent login.code_sent login login.code_sent login");
    assert_string_equal(verify("+7 916 12", "123456"), "invalid_phone");
}

static void test_send_caps(void **state)
{
    assert_string_equal(send_code("+79161234567"), "sent");
    cJSON *r = tk_core(&loop, db, "auth.code_send", "{\"phone\":\"+79161234567\"}");
    assert_string_equal(field(r, "status"), "too_soon");
    assert_true(atoi(field(r, "retry_in_s")) > 0 && atoi(field(r, "retry_in_s")) <= 60);
    assert_null(cJSON_GetObjectItem(r, "code"));
    cJSON_Delete(r);
    for (int i = 0; i < 4; i++) {
        back(61);
        assert_string_equal(send_code("+79161234567"), "sent");
    }
    back(61);
    assert_string_equal(send_code("+79161234567"), "hour_limit"); /* 5 within the hour */
    back(3600);                                                      /* the first five are now over an hour old */
    for (int i = 0; i < 5; i++) {
        assert_string_equal(send_code("+79161234567"), "sent");
        back(61);
    }
    assert_string_equal(send_code("+79161234567"), "day_limit"); /* 10 within the day */
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_auth_code"), "10");
    assert_string_equal(send_code("+7916"), "invalid_phone");
}

/* Beyond one phone: codes to numbers sharing a prefix, all codes in an hour, and the countries allowed (settings).
 * An over-cap request gets its status and no code. */
static void test_abuse_caps(void **state)
{
    tk_db_value("INSERT INTO kb_setting (key, value) VALUES ('sms.codes_per_prefix_hour', '2'), "
                "('sms.codes_per_hour', '4') RETURNING key");
    assert_string_equal(send_code("+79161110001"), "sent");
    assert_string_equal(send_code("+79161110002"), "sent");
    cJSON *r = tk_core(&loop, db, "auth.code_send", "{\"phone\":\"+79161119999\"}"); /* the same +7916111… */
    assert_string_equal(field(r, "status"), "prefix_limit");
    assert_null(cJSON_GetObjectItem(r, "code"));
    cJSON_Delete(r);
    assert_string_equal(send_code("+79262220001"), "sent");
    assert_string_equal(send_code("+79363330001"), "sent");
    assert_string_equal(send_code("+79464440001"), "busy"); /* 4 in the hour in all */
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_auth_code"), "4");
    back(3601); /* an hour later both caps are free again */
    assert_string_equal(send_code("+79464440001"), "sent");
    tk_db_value("INSERT INTO kb_setting (key, value) VALUES ('sms.countries', '\"+375\"') RETURNING key");
    assert_string_equal(send_code("+79575550001"), "invalid_phone"); /* +7 no longer allowed */
}

/* By SMS the sender's number is the identity: the first message signs in, no code; the next finds the same one. */
static void test_sms_sender_is_the_identity(void **state)
{
    cJSON *r = tk_core(&loop, db, "auth.sms_login", "{\"phone\":\"+79161234567\"}");
    assert_string_equal(field(r, "status"), "ok");
    assert_string_equal(field(r, "new"), "true");
    char customer[24];
    snprintf(customer, sizeof customer, "%s", field(r, "customer_id"));
    cJSON_Delete(r);
    r = tk_core(&loop, db, "auth.sms_login", "{\"phone\":\"89161234567\"}");
    assert_string_equal(field(r, "new"), "false");
    assert_string_equal(field(r, "customer_id"), customer);
    cJSON_Delete(r);
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_identity WHERE channel = 'sms' AND verified_at IS NOT NULL"),
                        "1");
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_auth_code"), "0"); /* no code was made */
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_audit WHERE what = 'login'"), "2");
    /* a code login later with the same phone reaches the same customer */
    assert_string_equal(send_code("+79161234567"), "sent");
    r = tk_coref(&loop, db, "auth.code_verify",
                 "{\"phone\":\"+79161234567\",\"code\":\"%s\",\"channel\":\"tg\",\"external_id\":\"77\"}", code);
    assert_string_equal(field(r, "customer_id"), customer);
    cJSON_Delete(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_wrong_tries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry_single_use_and_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_caps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abuse_caps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sms_sender_is_the_identity, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
