/* test_payprov.c — what the payment providers share: rubles as YooKassa writes them ("100.00") to kopecks, and
 * nothing else; Sberbank's callback checksum (the parameters sorted by name as "name;value;", checksum and
 * sign_alias left out, HMAC-SHA256 as upper-case hex); the webhook address allow-list (CIDR, IPv4 and IPv6,
 * IPv4-mapped addresses); form parsing with percent-decoding. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>
#include "err.h"
#include "payprov.h"
#include "payprov_int.h"
#include "form.h"

static void test_rubles(void **state)
{
    (void)state;
    int64_t k = 0;
    assert_int_equal(payprov_rub_to_kopecks("100.00", &k), 0);
    assert_int_equal(k, 10000);
    assert_int_equal(payprov_rub_to_kopecks("1234.5", &k), 0);
    assert_int_equal(k, 123450);
    assert_int_equal(payprov_rub_to_kopecks("7", &k), 0);
    assert_int_equal(k, 700);
    const char *bad[] = {"", "-1.00", "1,00", "1.", "1.005", "1.0a", " 1.00", "99999999999999999999.00", "abc", NULL};
    for (int i = 0; bad[i]; i++)
        assert_int_equal(payprov_rub_to_kopecks(bad[i], &k), KB_ERR_INVAL);
}

/* The callback of the acquiring documentation's example (https://securepayments.sberbank.ru/wiki/doku.php/
 * integration:api:callback:start): amount, mdOrder, operation "deposited", orderNumber, status 1 — in the order the
 * bank sends them, not sorted. Its check line is
 * "amount;35000099;mdOrder;12b59da8-f68f-7c8d-12b5-9da8000826ea;operation;deposited;orderNumber;10747;status;1;",
 * and the expected value below is that line's HMAC-SHA256 under the key "yourSecretToken", computed apart from this
 * code (Python's hmac). */
static void test_sber_checksum(void **state)
{
    (void)state;
    const char *names[] = {"mdOrder", "orderNumber", "checksum", "operation", "status", "amount", "sign_alias"};
    const char *values[] = {"12b59da8-f68f-7c8d-12b5-9da8000826ea", "10747", "ignored", "deposited", "1", "35000099",
                            "SHA-256"};
    char sum[65];
    assert_int_equal(payprov_sber_checksum("yourSecretToken", names, values, 7, sum), 0);
    assert_string_equal(sum, "E4B092AC57B710C2AE707580BF09E5AA22D00DD419CD100F55C19BFA5A0BCD20");
    values[4] = "0"; /* one value changed: another checksum */
    assert_int_equal(payprov_sber_checksum("yourSecretToken", names, values, 7, sum), 0);
    assert_string_not_equal(sum, "E4B092AC57B710C2AE707580BF09E5AA22D00DD419CD100F55C19BFA5A0BCD20");
}

static void test_allow_list(void **state)
{
    (void)state;
    payprov_ipnet_t nets[8];
    int n = payprov_ipset_parse("185.71.76.0/27,77.75.156.11,2a02:5180::/32", nets, 8);
    assert_int_equal(n, 3);
    assert_true(payprov_ipset_match(nets, n, "185.71.76.31"));
    assert_false(payprov_ipset_match(nets, n, "185.71.76.32"));
    assert_true(payprov_ipset_match(nets, n, "77.75.156.11"));
    assert_false(payprov_ipset_match(nets, n, "77.75.156.12"));
    assert_true(payprov_ipset_match(nets, n, "2a02:5180:1::7"));
    assert_false(payprov_ipset_match(nets, n, "2a02:5181::7"));
    assert_true(payprov_ipset_match(nets, n, "::ffff:185.71.76.1"));
    assert_false(payprov_ipset_match(nets, n, ""));
    assert_false(payprov_ipset_match(nets, n, "not an address"));
    const char *bad[] = {"1.2.3.4/33", "1.2.3", "1.2.3.4,", "::/129", "1.2.3.4/x", NULL};
    for (int i = 0; bad[i]; i++)
        assert_int_equal(payprov_ipset_parse(bad[i], nets, 8), KB_ERR_INVAL);
    assert_int_equal(payprov_ipset_parse("1.1.1.1,2.2.2.2,3.3.3.3", nets, 2), KB_ERR_INVAL);
}

static void test_form(void **state)
{
    (void)state;
    char buf[256], *names[8], *values[8];
    int n = form_parse("mdOrder=a%2Db&orderNumber=kb-1&description=%D0%BE%D0%BA+ok", buf, sizeof buf, names,
                               values, 8);
    assert_int_equal(n, 3);
    assert_string_equal(names[0], "mdOrder");
    assert_string_equal(values[0], "a-b");
    assert_string_equal(values[2], "ок ok");
    assert_int_equal(form_parse("novalue", buf, sizeof buf, names, values, 8), KB_ERR_INVAL);
    char form[64] = "";
    assert_int_equal(form_add(form, sizeof form, "returnUrl", "http://x/pay/done?a=1&b"), 0);
    assert_string_equal(form, "returnUrl=http%3A%2F%2Fx%2Fpay%2Fdone%3Fa%3D1%26b");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_rubles), cmocka_unit_test(test_sber_checksum),
                                       cmocka_unit_test(test_allow_list), cmocka_unit_test(test_form)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
