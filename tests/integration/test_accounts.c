/* test_accounts.c — account.link against a real PostgreSQL: "(180)211111" finds account 180211111; a surname
 * matches case- and ё/е-insensitively; the ЕЛС code works; a photo waits for staff; the first link is primary; the
 * sixth wrong proof in an hour is refused even when right, and rotating customers does not help against one
 * account. Then what comes after a link: the list, removal only after confirmation with the primary role handed
 * to the oldest remaining link, choosing the primary, staff approving or rejecting a photo proof, the masked view
 * of an account for someone who has not linked it, and the audit rows of all of it. */
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

#define field tk_field

/* Links and returns the status (static buffer). */
static const char *link_as(int customer, const char *number, const char *proof, const char *value)
{
    static char st[64];
    char args[512];
    snprintf(args, sizeof args, "{\"customer_id\":%d,\"number\":\"%s\",\"proof\":\"%s\",\"value\":\"%s\"}", customer,
             number, proof, value);
    cJSON *r = tk_core(&loop, db, "account.link", args);
    snprintf(st, sizeof st, "%s%s%s", field(r, "status"), !strcmp(field(r, "status"), "linked") ? ":" : "",
             !strcmp(field(r, "status"), "linked") ? field(r, "primary") : "");
    cJSON_Delete(r);
    return st;
}

static int setup(void **state)
{
    db = tk_core_start(&loop, "accounts",
        "INSERT INTO kb_branch (code, name, utc_offset_min) VALUES ('st', 'Ессентуки', 180);"
        "INSERT INTO kb_account (number, holder_surname, address, branch_id, els_code) VALUES"
        " ('180211111', 'Алёшина', 'г. Ессентуки, ул. Титова, д. 5, кв. 12', 1, '77МН000001'),"
        " ('180211112', 'Петров', 'дача', 1, NULL), ('180211113', 'Сидоров', 'гараж', 1, NULL);"
        "INSERT INTO kb_customer (full_name) SELECT 'c' || g FROM generate_series(1, 12) g");
    return 0;
}

static int teardown(void **state)
{
    tk_core_stop(&loop, db);
    return 0;
}

static void test_proofs(void **state)
{
    assert_string_equal(link_as(1, "(180)211111", "surname", "АЛЕШИНА"), "linked:true");   /* ё/е, case */
    assert_string_equal(link_as(1, "180 211 111", "surname", "алёшина"), "already_linked");
    assert_string_equal(link_as(1, "180-211-112", "photo", "tg-file-AgAD"), "pending");    /* staff check first */
    assert_string_equal(link_as(2, "180211111", "els", "77мн000001"), "linked:true");
    assert_string_equal(link_as(2, "180211113", "surname", "Сидоров"), "linked:false");     /* the first is primary */
    assert_string_equal(link_as(3, "180211199", "surname", "Кто-то"), "not_found");
    assert_string_equal(link_as(3, "18O211111", "surname", "Алёшина"), "invalid_number");
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_account_link WHERE status = 'pending' AND proof = 'photo'"),
                        "1");
}

static void test_wrong_proofs_are_capped(void **state)
{
    for (int i = 0; i < 5; i++)
        assert_string_equal(link_as(4, "180211112", "surname", "Иванов"), "wrong_proof");
    /* the sixth attempt in the hour is refused even with the right surname */
    assert_string_equal(link_as(4, "180211112", "surname", "Петров"), "too_many_attempts");
    /* rotating customers against one account does not help either: it is capped per account too */
    assert_string_equal(tk_db_value("DELETE FROM kb_proof_failure"), "");
    for (int c = 5; c < 10; c++)
        assert_string_equal(link_as(c, "180211113", "surname", "Иванов"), "wrong_proof");
    assert_string_equal(link_as(10, "180211113", "surname", "Сидоров"), "too_many_attempts");
    /* another account is still open to customer 10 */
    assert_string_equal(link_as(10, "180211112", "surname", "петров"), "linked:true");
}

/* The status of op called with the formatted args; the result goes to *out when out is not NULL. */
static const char *call(cJSON **out, const char *op, const char *fmt, const char *a1, const char *a2)
{
    static char st[64];
    cJSON *r = tk_coref(&loop, db, op, fmt, a1, a2);
    snprintf(st, sizeof st, "%s", field(r, "status"));
    if (out)
        *out = r;
    else
        cJSON_Delete(r);
    return st;
}

static void test_list_unlink_and_primary(void **state)
{
    assert_string_equal(link_as(1, "180211111", "surname", "Алёшина"), "linked:true");
    assert_string_equal(link_as(1, "180211113", "surname", "Сидоров"), "linked:false");
    assert_string_equal(link_as(1, "180211112", "photo", "tg-file-1"), "pending");
    cJSON *r;
    assert_string_equal(call(&r, "account.list", "{\"customer_id\":1}", 0, 0), "ok");
    cJSON *list = cJSON_GetObjectItem(r, "accounts");
    assert_int_equal(cJSON_GetArraySize(list), 3);
    assert_string_equal(field(cJSON_GetArrayItem(list, 0), "number"), "180211111");
    assert_string_equal(field(cJSON_GetArrayItem(list, 0), "primary"), "true");
    assert_string_equal(field(cJSON_GetArrayItem(list, 2), "status"), "pending");
    cJSON_Delete(r);

    /* removing asks first and changes nothing until confirmed */
    assert_string_equal(call(&r, "account.unlink", "{\"customer_id\":1,\"account_id\":1}", 0, 0), "confirm");
    assert_string_equal(field(r, "number"), "180211111");
    cJSON_Delete(r);
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_account_link WHERE customer_id = 1 AND status <> 'removed'"), "3");
    /* confirmed: the primary goes, and the oldest remaining active link takes the role */
    assert_string_equal(call(&r, "account.unlink", "{\"customer_id\":1,\"account_id\":1,\"confirm\":true}", 0, 0),
                        "unlinked");
    assert_string_equal(field(r, "primary_account_id"), "3");
    cJSON_Delete(r);
    assert_string_equal(call(NULL, "account.unlink", "{\"customer_id\":1,\"account_id\":1,\"confirm\":true}", 0, 0),
                        "not_found");
    /* a link waiting for staff cannot be the primary one; once approved it can */
    assert_string_equal(call(NULL, "account.set_primary", "{\"customer_id\":1,\"account_id\":2}", 0, 0), "not_found");
    const char *link = tk_db_value("SELECT id FROM kb_account_link WHERE customer_id = 1 AND account_id = 2");
    char link_id[24];
    snprintf(link_id, sizeof link_id, "%s", link);
    assert_string_equal(call(&r, "account.approve", "{\"link_id\":%s,\"staff\":\"%s\"}", link_id, "Оператор Анна"),
                        "approved");
    assert_string_equal(field(r, "primary"), "false");
    cJSON_Delete(r);
    assert_string_equal(call(NULL, "account.approve", "{\"link_id\":%s,\"staff\":\"%s\"}", link_id, "Оператор Анна"),
                        "not_pending");
    assert_string_equal(call(NULL, "account.set_primary", "{\"customer_id\":1,\"account_id\":2}", 0, 0), "ok");
    assert_string_equal(tk_db_value("SELECT string_agg(account_id::text, ',') FROM kb_account_link "
                                    "WHERE customer_id = 1 AND is_primary AND status = 'active'"), "2");
    /* a rejected photo proof leaves no link; the customer may try again */
    assert_string_equal(link_as(2, "180211112", "photo", "tg-file-2"), "pending");
    snprintf(link_id, sizeof link_id, "%s", tk_db_value("SELECT id FROM kb_account_link WHERE customer_id = 2"));
    assert_string_equal(call(NULL, "account.reject", "{\"link_id\":%s,\"staff\":\"%s\"}", link_id, "Оператор Анна"),
                        "rejected");
    assert_string_equal(call(NULL, "account.list", "{\"customer_id\":2}", 0, 0), "ok");
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_account_link WHERE customer_id = 2 AND status <> 'removed'"), "0");
    assert_string_equal(link_as(2, "180211113", "surname", "Сидоров"), "surname_not_enough"); /* customer 1 has it */
    assert_string_equal(link_as(3, "180211112", "photo", "tg-file-3"), "pending");
    /* every step left its audit row, staff ones with the staff member's name */
    assert_string_equal(tk_db_value("SELECT string_agg(what || '/' || actor, ' ' ORDER BY id) FROM kb_audit"),
                        "account.link/customer account.link/customer account.link/customer account.unlink/customer "
                        "account.approve/staff:Оператор Анна account.set_primary/customer account.link/customer "
                        "account.reject/staff:Оператор Анна account.link/customer");
}

/* An account linked to someone already: a surname is not enough (the ЕЛС or a photo is), and the customers linked
 * to it hear of a new link in their own channel, once; a link approved by staff tells them too. */
static void test_linked_elsewhere(void **state)
{
    tk_db_value("INSERT INTO kb_identity (customer_id, channel, external_id, verified_at) VALUES (1, 'tg', '71', now()),"
                " (2, 'sms', '+79160000072', now()) RETURNING 1");
    assert_string_equal(link_as(1, "180211111", "surname", "Алёшина"), "linked:true");
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_outbox"), "0"); /* nobody else to tell */
    assert_string_equal(link_as(3, "180211111", "surname", "Алёшина"), "surname_not_enough");
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_account_link WHERE customer_id = 3"), "0");
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_proof_failure"), "0"); /* not a wrong proof */
    assert_string_equal(link_as(3, "180211111", "els", "77МН000001"), "linked:true");
    assert_string_equal(tk_db_value("SELECT string_agg(conv || ' ' || channel || ' ' || (payload->>'tmpl') || ' ' ||"
                                    " (payload->'params'->>'account'), ',') FROM kb_outbox"),
                        "tg:71 tg acc.new_link_notice 180211111");
    /* a photo approved by staff: customers 1 and 3 are told, each in their channel */
    assert_string_equal(link_as(2, "180211111", "photo", "tg-file-9"), "pending");
    char link_id[24];
    snprintf(link_id, sizeof link_id, "%s", tk_db_value("SELECT id FROM kb_account_link WHERE customer_id = 2"));
    assert_string_equal(call(NULL, "account.approve", "{\"link_id\":%s,\"staff\":\"%s\"}", link_id, "Анна"), "approved");
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_outbox WHERE event_id = 'link:' || (SELECT id FROM"
                                    " kb_account_link WHERE customer_id = 2)"), "1"); /* customer 3 has no chat */
}

static void test_lookup_is_masked(void **state)
{
    assert_non_null(tk_db_value("INSERT INTO kb_meter (account_id, serial, digits, zones) VALUES (1, '0112345678', 5, 2);"
                                "INSERT INTO kb_reading (meter_id, zone, value, local_day, source) VALUES"
                                " (1, 1, 29700, '2026-10-25', 'network'), (1, 2, 12000, '2026-10-25', 'network');"
                                "INSERT INTO kb_charge (account_id, month, kwh, rate, amount_kopecks)"
                                " VALUES (1, '2026-10-01', 150, 5.87, 88050)"));
    cJSON *r;
    assert_string_equal(call(&r, "account.lookup", "{\"number\":\"(180)211111\"}", 0, 0), "found");
    assert_string_equal(field(r, "number"), "180211111");
    assert_string_equal(field(r, "address"), "г. Ессентуки, ул. Т…");
    assert_string_equal(field(r, "to_pay_kopecks"), "88050");
    assert_null(cJSON_GetObjectItem(r, "holder")); /* no name */
    char *all = cJSON_PrintUnformatted(r);
    assert_null(strstr(all, "Алёшина"));
    assert_null(strstr(all, "Титова"));
    assert_null(strstr(all, "12345678"));
    free(all);
    cJSON *m = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "meters"), 0);
    assert_string_equal(field(m, "serial"), "…5678");
    assert_string_equal(field(m, "zones"), "2");
    assert_string_equal(field(cJSON_GetArrayItem(cJSON_GetObjectItem(m, "last"), 1), "value"), "12000.000");
    cJSON_Delete(r);
    assert_string_equal(call(NULL, "account.lookup", "{\"number\":\"180-211-199\"}", 0, 0), "not_found");
    assert_string_equal(call(NULL, "account.lookup", "{\"number\":\"счёт\"}", 0, 0), "invalid_number");
    /* every lookup counts, found or not: the 11th in a day is refused, and it looks nothing up */
    for (int i = 2; i < 10; i++) /* two so far: found, not found (an invalid number looks nothing up) */
        assert_string_equal(call(NULL, "account.lookup", "{\"number\":\"180211112\"}", 0, 0), "found");
    assert_string_equal(call(&r, "account.lookup", "{\"number\":\"180211112\"}", 0, 0), "too_many_lookups");
    assert_string_equal(field(r, "limit"), "10");
    assert_null(cJSON_GetObjectItem(r, "address"));
    cJSON_Delete(r);
    assert_string_equal(tk_db_value("SELECT count(*) FROM kb_lookup"), "10");
    /* a day later the conversation may look again */
    assert_non_null(tk_db_value("UPDATE kb_lookup SET at = at - interval '25 hours'"));
    assert_string_equal(call(NULL, "account.lookup", "{\"number\":\"180211112\"}", 0, 0), "found");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_proofs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_proofs_are_capped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_unlink_and_primary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_linked_elsewhere, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lookup_is_masked, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
