/* test_keys.c — the Redis key rule: every key the code builds for a conversation carries that conversation's hash
 * tag, so one script can touch all of them on Redis Cluster. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>
#include "keys.h"

static void test_every_conversation_key_has_its_tag(void **state)
{
    const char *convs[] = {"tg:123", "tg:-1001234567890", "sms:+79161234567", "mail:ivan@mail.ru"};
    for (size_t c = 0; c < sizeof convs / sizeof *convs; c++) {
        char first[128];
        assert_true(keys_conv(first, sizeof first, convs[c], KEY_STATE) > 0);
        for (int k = 0; k < KEY__COUNT; k++) {
            char key[128];
            int n = keys_conv(key, sizeof key, convs[c], (keys_kind_t)k);
            assert_true(n > 0);
            const char *tag;
            size_t tl;
            keys_tag(key, (size_t)n, &tag, &tl);
            assert_int_equal(tl, strlen(convs[c]));
            assert_memory_equal(tag, convs[c], tl);
            assert_true(keys_same_slot(first, strlen(first), key, (size_t)n));
            assert_non_null(strstr(key, keys_kind_name((keys_kind_t)k)));
        }
    }
}

static void test_bad_names_refused(void **state)
{
    char key[64];
    assert_true(keys_conv(key, sizeof key, "tg:{1}", KEY_STATE) < 0);
    assert_true(keys_conv(key, sizeof key, "", KEY_STATE) < 0);
    assert_true(keys_conv(key, 8, "tg:123456", KEY_STATE) < 0);
    assert_true(keys_conv(key, sizeof key, "tg:1", KEY__COUNT) < 0);
}

static void test_cluster_tag_rule(void **state)
{
    const char *tag;
    size_t tl;
    keys_tag("plain", 5, &tag, &tl);
    assert_int_equal(tl, 5);
    keys_tag("a{}b", 4, &tag, &tl); /* empty tag: the whole key */
    assert_int_equal(tl, 4);
    keys_tag("a{x}{y}", 7, &tag, &tl);
    assert_int_equal(tl, 1);
    assert_memory_equal(tag, "x", 1);
    assert_false(keys_same_slot("kb:{tg:1}:state", 15, "kb:{tg:2}:state", 15));
    char g[64];
    assert_true(keys_global(g, sizeof g, "lease:tg-poll") > 0);
    assert_string_equal(g, "kb:{lease:tg-poll}");
    /* the scheduler's sets share one tag of their own, never a conversation's */
    char ready[64], timers[64];
    assert_true(keys_sched(ready, sizeof ready, "ready") > 0);
    assert_true(keys_sched(timers, sizeof timers, "timers") > 0);
    assert_string_equal(ready, "kb:{sched}:ready");
    assert_true(keys_same_slot(ready, strlen(ready), timers, strlen(timers)));
    assert_false(keys_same_slot(ready, strlen(ready), "kb:{tg:1}:state", 15));
}

/* The slot the client routes a key to is the one Redis Cluster serves it from (values from CLUSTER KEYSLOT of
 * redis-server 7.0; "123456789" is the cluster spec's CRC16 check value 0x31C3). */
static void test_cluster_slots(void **state)
{
    static const struct {
        const char *key;
        int slot;
    } cases[] = {{"123456789", 12739}, {"kb:{sched}:ready", 7021}, {"kb:{tg:5000000001}:state", 3841},
                 {"kb:{lease:tg-poll}", 10653}, {"a{}b", 13694}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        assert_int_equal(keys_slot(cases[i].key, strlen(cases[i].key)), cases[i].slot);
    assert_int_equal(keys_slot("kb:{tg:5000000001}:queue", 24), 3841); /* a conversation's keys: one slot */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_conversation_key_has_its_tag),
        cmocka_unit_test(test_bad_names_refused),
        cmocka_unit_test(test_cluster_tag_rule),
        cmocka_unit_test(test_cluster_slots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
