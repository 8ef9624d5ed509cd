/* test_phone.c — phone numbers as people type them become +7XXXXXXXXXX; anything else is refused. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <cmocka.h>
#include "err.h"
#include "phone.h"

static void test_typed_forms(void **state)
{
    const char *ok[] = {"+7 (916) 123-45-67", "8 916 123 45 67", "79161234567", "9161234567", "+7.916.123.45.67",
                        "8(916)1234567"};
    char out[16];
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        assert_int_equal(phone_normalize(ok[i], out, sizeof out), 0);
        assert_string_equal(out, "+79161234567");
    }
    const char *bad[] = {"", "12345", "+1 916 123 45 67", "916123456", "8916123456789", "89161234567x",
                         "+7 916 123 45 67 доб. 2", "7+9161234567", "4951234567" /* a landline without its 8 */};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(phone_normalize(bad[i], out, sizeof out), KB_ERR_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_typed_forms)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
