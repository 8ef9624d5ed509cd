/* test_payqr.c — the ГОСТ Р 56042-2014 payment string: the fixed opening, the fields in order, a '|' inside a value
 * that cannot end its field, no Sum when nothing is due, and bank details that are not what a bank app needs refused. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>
#include "err.h"
#include "payqr.h"

static payqr_t base(void)
{
    return (payqr_t){"ООО «Энергосбыт»", "40702810900000012345", "ПАО Сбербанк", "040702615", "30101810907020000615",
                     123456, "Оплата электроэнергии", "2635000000", "1800000001", "г. Ессентуки, ул. Т|ерская", "102026"};
}

static void test_string(void **state)
{
    payqr_t f = base();
    char out[600];
    int n = payqr_string(&f, out, sizeof out);
    assert_true(n > 0);
    assert_string_equal(out, "ST00012|Name=ООО «Энергосбыт»|PersonalAcc=40702810900000012345|BankName=ПАО Сбербанк"
                             "|BIC=040702615|CorrespAcc=30101810907020000615|Sum=123456|Purpose=Оплата электроэнергии"
                             "|PayeeINN=2635000000|PersAcc=1800000001|PayerAddress=г. Ессентуки, ул. Т/ерская"
                             "|PaymPeriod=102026");
    assert_int_equal(n, (int)strlen(out));
    f.sum_kopecks = 0; /* nothing due: the payer types the sum */
    assert_true(payqr_string(&f, out, sizeof out) > 0);
    assert_null(strstr(out, "|Sum="));
}

static void test_refused(void **state)
{
    char out[600];
    payqr_t f = base();
    f.bic = "04070261";
    assert_int_equal(payqr_string(&f, out, sizeof out), KB_ERR_INVAL);
    f = base();
    f.personal_acc = "4070281090000001234X";
    assert_int_equal(payqr_string(&f, out, sizeof out), KB_ERR_INVAL);
    f = base();
    f.name = "";
    assert_int_equal(payqr_string(&f, out, sizeof out), KB_ERR_INVAL);
    f = base();
    f.payee_inn = "12345";
    assert_int_equal(payqr_string(&f, out, sizeof out), KB_ERR_INVAL);
    f = base();
    assert_int_equal(payqr_string(&f, out, 40), KB_ERR_INVAL); /* too small: never a cut string */
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_string), cmocka_unit_test(test_refused)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
