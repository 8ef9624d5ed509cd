/* test_config.c — configuration is validated at start with a message naming the variable; secrets stay out of
 * messages; VAR_FILE works. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "config.h"

static int setup(void **state)
{
    setenv("KABINET_DATABASE_URL", "postgresql://kb:s3cret@127.0.0.1/kb", 1);
    setenv("KABINET_REDIS_URL", "redis://127.0.0.1:6379", 1);
    unsetenv("KABINET_HTTP_LISTEN");
    unsetenv("KABINET_DATABASE_POOL");
    unsetenv("KABINET_DATABASE_URL_FILE");
    unsetenv("KABINET_ENV");
    unsetenv("KABINET_DATABASE_PREPARED");
    return 0;
}

static void test_defaults(void **state)
{
    cfg_t c;
    char err[256];
    assert_int_equal(cfg_load(&c, err, sizeof err), 0);
    assert_string_equal(c.http_host, "127.0.0.1");
    assert_int_equal(c.http_port, 8080);
    assert_int_equal(c.database_pool, 8);
    assert_int_equal(c.database_prepared, 1);
    assert_int_equal(c.production, 0);
    cfg_free(&c);
}

static void test_missing_required(void **state)
{
    cfg_t c;
    char err[512];
    unsetenv("KABINET_DATABASE_URL");
    assert_true(cfg_load(&c, err, sizeof err) < 0);
    assert_non_null(strstr(err, "KABINET_DATABASE_URL is not set"));
    cfg_free(&c);
}

static void test_bad_port_and_numbers(void **state)
{
    cfg_t c;
    char err[512];
    setenv("KABINET_HTTP_LISTEN", "127.0.0.1:http", 1);
    assert_true(cfg_load(&c, err, sizeof err) < 0);
    assert_non_null(strstr(err, "KABINET_HTTP_LISTEN"));
    cfg_free(&c);
    setenv("KABINET_HTTP_LISTEN", "127.0.0.1:70000", 1);
    assert_true(cfg_load(&c, err, sizeof err) < 0);
    cfg_free(&c);
    setenv("KABINET_HTTP_LISTEN", "[::1]:8081", 1);
    assert_int_equal(cfg_load(&c, err, sizeof err), 0);
    assert_string_equal(c.http_host, "::1");
    cfg_free(&c);
    setenv("KABINET_DATABASE_POOL", "0", 1);
    assert_true(cfg_load(&c, err, sizeof err) < 0);
    assert_non_null(strstr(err, "KABINET_DATABASE_POOL must be a whole number from 1 to 256"));
    cfg_free(&c);
    setenv("KABINET_DATABASE_POOL", "8x", 1);
    assert_true(cfg_load(&c, err, sizeof err) < 0);
    cfg_free(&c);
    setenv("KABINET_DATABASE_POOL", "4", 1);
    setenv("KABINET_DATABASE_PREPARED", "maybe", 1);
    assert_true(cfg_load(&c, err, sizeof err) < 0);
    assert_non_null(strstr(err, "KABINET_DATABASE_PREPARED must be on or off"));
    cfg_free(&c);
}

static void test_file_variant(void **state)
{
    cfg_t c;
    char err[512], path[] = "/tmp/kb-cfg-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "postgresql://kb:fromfile@127.0.0.1/kb\n", 38), 38);
    close(fd);
    unsetenv("KABINET_DATABASE_URL");
    setenv("KABINET_DATABASE_URL_FILE", path, 1);
    assert_int_equal(cfg_load(&c, err, sizeof err), 0);
    assert_string_equal(c.database_url, "postgresql://kb:fromfile@127.0.0.1/kb");
    cfg_free(&c);
    unlink(path);
    assert_true(cfg_load(&c, err, sizeof err) < 0);
    assert_non_null(strstr(err, "KABINET_DATABASE_URL_FILE: cannot read the file"));
    cfg_free(&c);
}

static void test_secret_not_in_messages(void **state)
{
    cfg_t c;
    char err[512];
    setenv("KABINET_REDIS_URL", "http://:topsecret@127.0.0.1", 1);
    assert_true(cfg_load(&c, err, sizeof err) < 0);
    assert_non_null(strstr(err, "KABINET_REDIS_URL"));
    assert_null(strstr(err, "topsecret"));
    cfg_free(&c);
}

static void test_table_lists_every_variable(void **state)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cfg_print_table(f);
    fclose(f);
    assert_non_null(strstr(buf, "`KABINET_DATABASE_URL` | **required**"));
    assert_non_null(strstr(buf, "`KABINET_HTTP_LISTEN` | `127.0.0.1:8080`"));
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, setup),
        cmocka_unit_test_setup(test_missing_required, setup),
        cmocka_unit_test_setup(test_bad_port_and_numbers, setup),
        cmocka_unit_test_setup(test_file_variant, setup),
        cmocka_unit_test_setup(test_secret_not_in_messages, setup),
        cmocka_unit_test_setup(test_table_lists_every_variable, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
