/* test_secret.c — secrets compared whole: equal strings only, hex digests in either case, nothing for a prefix. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <cmocka.h>
#include "secret.h"

static void test_equal(void **state)
{
    assert_true(secret_equal("s3cret", "s3cret"));
    assert_false(secret_equal("s3cret", "s3cre"));
    assert_false(secret_equal("s3cret", "S3cret"));
    assert_false(secret_equal("", "x"));
    assert_false(secret_equal(NULL, NULL));
}

static void test_hex(void **state)
{
    assert_true(secret_hex_equal("a1b2c3d4e5f6", "A1B2C3D4E5F6"));
    assert_true(secret_hex_equal("0FF1CE", "0ff1ce"));
    assert_false(secret_hex_equal("a1b2c3", "a1b2c4"));
    assert_false(secret_hex_equal("a1b2c3", "a1b2c3d4")); /* a prefix is not the digest */
    assert_false(secret_hex_equal("a1b2c3", "a1b2c"));
    assert_false(secret_hex_equal("[", "{")); /* only letters fold */
    assert_false(secret_hex_equal(NULL, "a"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_equal), cmocka_unit_test(test_hex)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
