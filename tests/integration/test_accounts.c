/* test_accounts.c — account.link against a real PostgreSQL: "(180)211111" finds account 180211111; a surname
 * matches case- and ё/е-insensitively; the ЕЛС code works; a photo waits for staff; the first link is primary; the
 * sixth wrong proof in an hour is refused even when right, and rotating customers does not help against one
 * account. */
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
    tk_db_create("accounts", 0);
    assert_non_null(tk_db_value(
        "INSERT INTO kb_branch (code, name, utc_offset_min) VALUES ('st', 'Ессентуки', 180);"
        "INSERT INTO kb_account (number, holder_surname, address, branch_id, els_code) VALUES"
        " ('180211111', 'Алёшина', 'г. Ессентуки, ул. Титова', 1, '77МН000001'),"
        " ('180211112', 'Петров', 'дача', 1, NULL), ('180211113', 'Сидоров', 'гараж', 1, NULL);"
        "INSERT INTO kb_customer (full_name) SELECT 'c' || g FROM generate_series(1, 12) g"));
    uv_loop_init(&loop);
    db = tk_pool(&loop, 2);
    core_accounts_register();
    return 0;
}

static int teardown(void **state)
{
    db_close(db);
    tk_loop_close(&loop);
    tk_db_drop();
    metrics_shutdown();
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_proofs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_proofs_are_capped, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
