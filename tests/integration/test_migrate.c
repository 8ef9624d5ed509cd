/* test_migrate.c — migrations apply in order, once; re-running changes nothing; a database with an unknown or
 * edited migration is refused; a failing step is rolled back whole. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "err.h"
#include "migrate.h"
#include "tk.h"

static const migrate_step_t steps[] = {
    {1, "001_a.sql", "CREATE TABLE a (x int);"},
    {2, "002_b.sql", "CREATE TABLE b (y int); INSERT INTO b VALUES (1), (2);"},
    {0, 0, 0},
};

static void test_apply_once(void **state)
{
    const char *ci = tk_db_create("mig1", 1);
    char err[512];
    int applied;
    assert_int_equal(migrate_check(ci, steps, err, sizeof err), KB_ERR_STATE);
    assert_non_null(strstr(err, "run `kabinetd migrate`"));
    assert_int_equal(migrate_run(ci, steps, &applied, err, sizeof err), 0);
    assert_int_equal(applied, 2);
    assert_string_equal(tk_db_value("SELECT count(*) FROM b"), "2");
    assert_int_equal(migrate_run(ci, steps, &applied, err, sizeof err), 0);
    assert_int_equal(applied, 0);
    assert_string_equal(tk_db_value("SELECT count(*) FROM b"), "2");
    assert_int_equal(migrate_check(ci, steps, err, sizeof err), 0);
    /* the built-in migrations apply too */
    assert_int_equal(migrate_run(ci, migrate_builtin, &applied, err, sizeof err), KB_ERR_STATE);
    tk_db_drop();
    ci = tk_db_create("mig1b", 1);
    assert_int_equal(migrate_run(ci, migrate_builtin, &applied, err, sizeof err), 0);
    assert_true(applied >= 1);
    tk_db_drop();
}

static void test_refuses_unknown_and_edited(void **state)
{
    const char *ci = tk_db_create("mig2", 1);
    char err[512];
    int applied;
    assert_int_equal(migrate_run(ci, steps, &applied, err, sizeof err), 0);
    /* a newer binary applied 003 */
    tk_db_value("INSERT INTO kb_schema_migrations (version, name, checksum) VALUES (3, '003_c.sql', 'x')");
    assert_int_equal(migrate_run(ci, steps, &applied, err, sizeof err), KB_ERR_STATE);
    assert_non_null(strstr(err, "migration 003 (003_c.sql) that this kabinetd does not know"));
    assert_int_equal(migrate_check(ci, steps, err, sizeof err), KB_ERR_STATE);
    tk_db_value("DELETE FROM kb_schema_migrations WHERE version = 3");
    /* 002 was edited after it ran */
    const migrate_step_t edited[] = {steps[0], {2, "002_b.sql", "CREATE TABLE b (y bigint);"}, {0, 0, 0}};
    assert_int_equal(migrate_run(ci, edited, &applied, err, sizeof err), KB_ERR_STATE);
    assert_non_null(strstr(err, "002_b.sql was changed"));
    tk_db_drop();
}

static void test_failing_step_rolls_back(void **state)
{
    const char *ci = tk_db_create("mig3", 1);
    char err[512];
    int applied;
    const migrate_step_t broken[] = {steps[0], {2, "002_bad.sql", "CREATE TABLE c (z int); SELEKT 1;"}, {0, 0, 0}};
    assert_int_equal(migrate_run(ci, broken, &applied, err, sizeof err), KB_ERR_IO);
    assert_int_equal(applied, 1);
    assert_non_null(strstr(err, "migration 002_bad.sql failed and was rolled back"));
    assert_string_equal(tk_db_value("SELECT to_regclass('c') IS NULL"), "t");
    assert_string_equal(tk_db_value("SELECT max(version) FROM kb_schema_migrations"), "1");
    tk_db_drop();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_apply_once),
        cmocka_unit_test(test_refuses_unknown_and_edited),
        cmocka_unit_test(test_failing_step_rolls_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
