/* test_mime.c — reading customers' mail (RFC 2047 subjects in UTF-8, KOI8-R and windows-1251, B and Q; folded
 * headers; multipart/alternative with quoted-printable and base64 parts; HTML only; what machines send; malformed
 * messages refused with their reason), cutting quoted history and signatures, and our own messages built so that
 * they parse back. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "err.h"
#include "mime.h"

static void test_words(void **state)
{
    (void)state;
    char out[256];
    mime_decode_words("=?UTF-8?B?0JHQsNC70LDQvdGB?=", out, sizeof out);
    assert_string_equal(out, "Баланс");
    mime_decode_words("Re: =?koi8-r?Q?=F0=EF=EB=E1=FA=E1=EE=E9=F1?= 12345", out, sizeof out);
    assert_string_equal(out, "Re: ПОКАЗАНИЯ 12345");
    mime_decode_words("=?windows-1251?B?0fe48iDx9+Xy?=", out, sizeof out);
    assert_string_equal(out, "Счёт счет");
    mime_decode_words("=?windows-1251?Q?=D1=F7=E5=F2?=", out, sizeof out);
    assert_string_equal(out, "Счет");
    /* adjacent words join without the space between them; text around them stays */
    mime_decode_words("=?UTF-8?Q?=D0=A1=D1=87?= =?UTF-8?Q?=D0=B5=D1=82?= 2026", out, sizeof out);
    assert_string_equal(out, "Счет 2026");
    mime_decode_words("plain subject", out, sizeof out);
    assert_string_equal(out, "plain subject");
    mime_decode_words("=?x-unknown?B?AAAA?=", out, sizeof out); /* undecodable: kept as it came */
    assert_string_equal(out, "=?x-unknown?B?AAAA?=");
}

static void test_multipart(void **state)
{
    (void)state;
    const char *raw =
        "From: =?UTF-8?B?0JjQstCw0L0g0J/QtdGC0YDQvtCy?= <Ivan.Petrov@Example.RU>\r\n"
        "To: bot@kabinet.test,\r\n reply+0123456789abcdef0123@kabinet.test\r\n"
        "Subject: =?UTF-8?B?0J/QvtC60LDQt9Cw0L3QuNGP?=\r\n\t=?UTF-8?B?IDEyMzQ1?=\r\n"
        "Message-ID: <abc@example.ru>\r\nIn-Reply-To: <kb.7.0123456789abcdef0123@kabinet.test>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n"
        "preamble\r\n--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n"
        "--inner\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        "=D0=9F=D0=BE=D0=BA=D0=B0=D0=B7=D0=B0=D0=BD=D0=B8=D1=8F 29 700,5 =\r\n=D0=BA=D0=92=D1=82\r\n"
        "--inner\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>HTML</p>\r\n--inner--\r\n"
        "--outer\r\nContent-Type: image/jpeg; name=meter.jpg\r\nContent-Transfer-Encoding: base64\r\n\r\n/9j/4AAQ\r\n"
        "--outer--\r\n";
    mime_msg_t m;
    char err[160] = "";
    assert_int_equal(mime_parse(raw, strlen(raw), &m, err, sizeof err), 0);
    assert_string_equal(m.from, "ivan.petrov@example.ru");
    assert_string_equal(m.from_name, "Иван Петров");
    assert_string_equal(m.subject, "Показания 12345");
    assert_string_equal(m.message_id, "abc@example.ru");
    assert_string_equal(m.in_reply_to, "kb.7.0123456789abcdef0123@kabinet.test");
    assert_non_null(strstr(m.recipients, "reply+0123456789abcdef0123@kabinet.test"));
    assert_string_equal(m.text, "Показания 29 700,5 кВт"); /* the CRLF before a delimiter is the delimiter's */
    assert_int_equal(m.attachments, 1); /* the photo (the HTML alternative is the text once more) */
    assert_int_equal(m.automatic, 0);
    mime_msg_free(&m);
}

static void test_html_and_charset(void **state)
{
    (void)state;
    /* windows-1251 base64 HTML only: the text without tags */
    const char *raw = "From: anna@example.ru\nSubject: x\nContent-Type: text/html; charset=windows-1251\n"
                      "Content-Transfer-Encoding: base64\n\nPHA+0e/g8ejh7jwvcD48YnI+JmFtcDs8c3R5bGU+cHt9PC9zdHlsZT4=\n";
    mime_msg_t m;
    char err[160];
    assert_int_equal(mime_parse(raw, strlen(raw), &m, err, sizeof err), 0);
    assert_string_equal(m.text, "Спасибо\n\n&");
    assert_non_null(strstr(m.message_id, "sha256:")); /* no Message-ID: the message stands for it */
    mime_msg_free(&m);
}

static void test_machines(void **state)
{
    (void)state;
    static const char *const heads[] = {"Auto-Submitted: auto-replied", "Precedence: bulk", "List-Id: <news.x>",
                                        "X-Autoreply: yes", "Return-Path: <>", "Auto-Submitted: no", NULL};
    for (int i = 0; heads[i]; i++) {
        char raw[256], err[160];
        snprintf(raw, sizeof raw, "From: a@example.ru\r\n%s\r\nSubject: x\r\n\r\nhi\r\n", heads[i]);
        mime_msg_t m;
        assert_int_equal(mime_parse(raw, strlen(raw), &m, err, sizeof err), 0);
        assert_int_equal(m.automatic, strcmp(heads[i], "Auto-Submitted: no") != 0);
        mime_msg_free(&m);
    }
}

/* Authentication-Results: only the topmost header counts, only the retailer's receiving server's, only a pass
 * that vouches for the From's own domain */
static void test_auth_results(void **state)
{
    (void)state;
    const char *id = "mx.kabinet.test";
    assert_true(mime_auth_pass("mx.kabinet.test; dmarc=pass header.from=example.ru", id, "petr@example.ru"));
    assert_true(mime_auth_pass("MX.Kabinet.Test 1; spf=pass smtp.mailfrom=example.ru; dmarc=pass (p=reject) "
                               "header.from=example.ru", id, "petr@example.ru"));
    assert_true(mime_auth_pass("mx.kabinet.test; dkim=pass header.d=example.ru header.s=k", id, "a@mail.example.ru"));
    assert_true(mime_auth_pass("mx.kabinet.test; dkim=pass header.i=@example.ru", id, "a@example.ru"));
    /* fail, none, spf alone, another server's id, a prefix of ours; a pass for another domain than the From's, or a
     * parent too wide (a bare TLD, a suffix that is no parent); a comment that only looks like a pass */
    static const char *const no[] = {
        "mx.kabinet.test; spf=fail; dmarc=fail header.from=example.ru", "mx.kabinet.test; none",
        "mx.kabinet.test; spf=pass smtp.mailfrom=example.ru", "evil.example; dmarc=pass header.from=example.ru",
        "mx.kabinet.testing; dmarc=pass", "mx.kabinet.test; dmarc=pass header.from=evil.example",
        "mx.kabinet.test; dkim=pass header.d=evil.example", "mx.kabinet.test; dkim=pass header.d=ru",
        "mx.kabinet.test; dkim=pass header.d=le.ru", "mx.kabinet.test; dmarc=fail (dmarc=pass)",
        "mx.kabinet.test; dmarc=passed", NULL};
    for (int i = 0; no[i]; i++)
        assert_false(mime_auth_pass(no[i], id, "p@example.ru"));
    assert_false(mime_auth_pass("mx.kabinet.test; dmarc=pass", "", "p@example.ru")); /* no server named */
    /* parsed messages: the topmost header only */
    const char *raw = "Authentication-Results: mx.kabinet.test; dmarc=fail header.from=example.ru\r\n"
                      "Authentication-Results: mx.kabinet.test; dmarc=pass header.from=example.ru\r\n"
                      "From: p@example.ru\r\nMessage-ID: <a@b>\r\nSubject: x\r\n\r\nhi\r\n";
    mime_msg_t m;
    char err[128];
    assert_int_equal(mime_parse(raw, strlen(raw), &m, err, sizeof err), 0);
    assert_string_equal(m.auth_results, "mx.kabinet.test; dmarc=fail header.from=example.ru");
    assert_false(mime_auth_pass(m.auth_results, id, m.from));
    mime_msg_free(&m);
}

static void test_malformed(void **state)
{
    (void)state;
    static const struct {
        const char *raw, *why;
    } bad[] = {
        {"To: a@b.ru\r\nSubject: x\r\n\r\nhi", "no From"},
        {"From: not an address\r\n\r\nhi", "not an address"},
        {"From: a@b.ru\r\nContent-Type: multipart/mixed\r\n\r\n--x\r\nhi\r\n--x--\r\n", "without its boundary"},
        {"From: a@b.ru\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n--x\r\nhi\r\n", "never appears"},
        {"From: a@b.ru\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n@@@@",
         "not base64"},
        {"From: a@b.ru\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\xff\xfe bad", "charset"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        mime_msg_t m;
        char err[160] = "";
        assert_int_equal(mime_parse(bad[i].raw, strlen(bad[i].raw), &m, err, sizeof err), KB_ERR_INVAL);
        assert_non_null(strstr(err, bad[i].why));
        mime_msg_free(&m);
    }
    /* a delimiter on the very last line, no line end after it (found by fuzz_mime): an empty part, no overread */
    {
        const char *raw = "From: a@b.ru\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n--zz";
        mime_msg_t m;
        char err[160] = "";
        mime_parse(raw, strlen(raw), &m, err, sizeof err);
        mime_msg_free(&m);
    }
    /* nested too deep */
    char deep[4096] = "From: a@b.ru\r\n";
    for (int i = 0; i < MIME_MAX_DEPTH + 2; i++)
        sprintf(deep + strlen(deep), "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i);
    strcat(deep, "\r\nhi\r\n");
    mime_msg_t m;
    char err[160];
    assert_int_equal(mime_parse(deep, strlen(deep), &m, err, sizeof err), KB_ERR_INVAL);
    assert_non_null(strstr(err, "too deep"));
}

static void test_strip(void **state)
{
    (void)state;
    char a[] = "123456\n\n-- \nИван\n+7 916 000-00-00\n";
    mime_strip_reply(a);
    assert_string_equal(a, "123456");
    char b[] = "\n  БАЛАНС\n\nOn Mon, 30 Nov 2026 at 10:00, Энергосбыт <bot@kabinet.test> wrote:\n> Код: 1\n";
    mime_strip_reply(b);
    assert_string_equal(b, "БАЛАНС");
    char c[] = "Спасибо!\n\n30.11.2026, 10:00, Энергосбыт пишет:\n> x\n";
    mime_strip_reply(c);
    assert_string_equal(c, "Спасибо!");
    char d[] = "ok\n-----Original Message-----\nFrom: bot\n";
    mime_strip_reply(d);
    assert_string_equal(d, "ok");
    char e[] = "two\nlines\n\nSent from my iPhone";
    mime_strip_reply(e);
    assert_string_equal(e, "two\nlines");
}

static void test_build_round_trip(void **state)
{
    (void)state;
    static const unsigned char pdf[] = "%PDF-1.4 bytes";
    mime_attachment_t att = {"квитанция 10.2026.pdf", "application/pdf", pdf, sizeof pdf - 1};
    mime_out_t o = {"Энергосбыт <bot@kabinet.test>", "ivan@example.ru",
                    "Новая квитанция за электроэнергию — октябрь 2026 года, лицевой счёт 1800000001",
                    "kb.42.0123456789abcdef0123@kabinet.test", "abc@example.ru", "reply+0123456789abcdef0123@kabinet.test",
                    "auto-replied", NULL, "Строка 1\nСтрока 2", &att, 1, 0};
    size_t len = 0;
    char *msg = mime_build(&o, &len);
    assert_non_null(msg);
    assert_int_equal(strlen(msg), len);
    for (char *p = msg; (p = strchr(p, '\n')); p++) /* CRLF everywhere, lines short */
        assert_true(p > msg && p[-1] == '\r');
    assert_non_null(strstr(msg, "Message-ID: <kb.42.0123456789abcdef0123@kabinet.test>\r\n"));
    assert_non_null(strstr(msg, "In-Reply-To: <abc@example.ru>\r\n"));
    assert_non_null(strstr(msg, "Auto-Submitted: auto-replied\r\n"));
    assert_null(strstr(msg, "List-Unsubscribe"));
    mime_msg_t m;
    char err[160];
    assert_int_equal(mime_parse(msg, len, &m, err, sizeof err), 0);
    assert_string_equal(m.from, "bot@kabinet.test");
    assert_string_equal(m.from_name, "Энергосбыт");
    assert_string_equal(m.subject, o.subject);
    assert_string_equal(m.text, "Строка 1\nСтрока 2");
    assert_int_equal(m.attachments, 1);
    assert_int_equal(m.automatic, 1);
    mime_msg_free(&m);
    free(msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_words),   cmocka_unit_test(test_multipart), cmocka_unit_test(test_html_and_charset),
        cmocka_unit_test(test_machines), cmocka_unit_test(test_malformed), cmocka_unit_test(test_strip),
        cmocka_unit_test(test_build_round_trip), cmocka_unit_test(test_auth_results),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
