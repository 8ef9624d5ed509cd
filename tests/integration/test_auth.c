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

/* A stranger who asks for a code to another's number and types wrong ones: the code dies after five wrong tries
 * (from anywhere), the stranger's conversation is locked for the phone, the owner's own chat is not. */
static void test_tries_per_code_and_conversation(void **state)
{
    tk_core_conv = "tg:666";
    assert_string_equal(send_code("+79161234567"), "sent");
    for (int i = 4; i >= 0; i--) {
        char want[16];
        snprintf(want, sizeof want, "wrong:%d", i);
        assert_string_equal(verify("+79161234567", other()), want);
    }
    assert_string_equal(verify("+79161234567", code), "locked"); /* the stranger: locked, even with the code */
    back(61);
    assert_string_equal(send_code("+79161234567"), "sent"); /* a new code: still locked for the stranger */
    assert_string_equal(verify("+79161234567", code), "locked");
    /* the owner, in their own chat: a fresh code, and in */
    tk_core_conv = "tg:1001";
    back(61);
    assert_string_equal(send_code("+79161234567"), "sent");
    assert_string_equal(verify("+79161234567", code), "ok");
    /* one code, tried wrong from five conversations: dead for everyone, the right code too */
    back(61);
    assert_string_equal(send_code("+79161234568"), "sent");
    char good[8];
    snprintf(good, sizeof good, "%s", code);
    const char *convs[] = {"tg:1", "tg:2", "tg:3", "tg:4", "tg:5"};
    for (int i = 0; i < 5; i++) {
        tk_core_conv = convs[i];
        assert_string_equal(strncmp(verify("+79161234568", other()), "wrong:", 6) == 0 ? "wrong" : "?", "wrong");
    }
    tk_core_conv = "tg:6";
    assert_string_equal(verify("+79161234568", good), "expired");
    tk_core_conv = "local:t";
}

/* One conversation asks codes for many numbers (SMS pumping): three numbers an hour, refused before any code is
 * made; other conversations are not affected, and the global cap stays out of its reach. */
static void test_conversation_caps(void **state)
{
    tk_core_conv = "tg:777";
    assert_string_equal(send_code("+79161110001"), "sent");
    assert_string_equal(send_code("+79262220002"), "sent");
    assert_string_equal(send_code("+79363330003"), "sent");
    cJSON *r = tk_core(&loop, db, "auth.code_send", "{\"phone\":\"+79464440004\"}");
    assert_string_equal(field(r, "status"), "conv_limit");
    assert_null(cJSON_GetObjectItem(r, "code"));
    cJSON_Delete(r);
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_auth_code"), "3");
    back(61);
    assert_string_equal(send_code("+79161110001"), "sent"); /* a number it asked for before: still its own */
    tk_core_conv = "tg:778";
    assert_string_equal(send_code("+79464440004"), "sent"); /* another chat is not held up */
    /* codes a day from one conversation: ten */
    tk_core_conv = "tg:779";
    char phone[16];
    for (int i = 0; i < 10; i++) {
        back(3601);
        snprintf(phone, sizeof phone, "+795755500%02d", i);
        assert_string_equal(send_code(phone), "sent");
    }
    back(3601);
    assert_string_equal(send_code("+79575550099"), "conv_limit");
    tk_core_conv = "local:t";
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
    static const char *const convs[] = {"tg:1", "tg:2", "tg:3", "tg:4", "tg:5", "tg:6", "tg:7"};
    int k = 0;
#define send_code(p) (tk_core_conv = convs[k++ % 7], send_code(p))
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
#undef send_code
    tk_core_conv = "local:t";
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
        cmocka_unit_test_setup_teardown(test_tries_per_code_and_conversation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conversation_caps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry_single_use_and_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_caps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abuse_caps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sms_sender_is_the_identity, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
