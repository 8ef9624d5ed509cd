#!/usr/bin/env python3
"""The email channel end to end: a real kabinetd that sends through a real SMTP server (aiosmtpd, AUTH, then
STARTTLS with a certificate checked against KABINET_MAIL_CA_FILE) and polls a real IMAP server (dovecot), plus the
inbound webhook (Postmark's JSON and raw message/rfc822).

IMAP: a first message whose Cyrillic subject is БАЛАНС brings a code by email (subject and names as RFC 2047 words,
our Message-ID with the reply token, Reply-To reply+<token>@, Auto-Submitted); the customer's reply with the code
(quoted history below it) completes the registration and then runs the balance the first message asked for; the
code is blanked once mailed; a reply from another address to reply+<token>@ lands in the same conversation; an
auto-reply, bulk mail and our own message are never answered; a message without From, one with broken MIME and one
with a 30 MB attachment are refused with a log line and change nothing; after a UIDVALIDITY change the folder is
read again and nothing is answered twice. Webhook: no auth 401; Postmark JSON registers, the same post again is not
answered twice; the one-click link (GET shows a button, POST acts) completes a registration; malformed posts 400,
30 MB 413, changing nothing. Telegram + email: bills by email from the settings (the address confirmed by a code
sent to it), paper bills refused only with a primary account, a new month's bill arriving as a PDF whose text
(pdftotext) has the account and the amount due, List-Unsubscribe one-click turning it off; a payment's check copied
to the email the payer gave. SMTP: a mailbox the server refuses (550) is not retried."""
import base64, json, os, re, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kbtest  # noqa: E402

kbtest.REDIS_PORT = int(os.environ["KB_TEST_REDIS_PORT"]) + 1100
from kbtest import Kabinetd, User, CATALOG, check, http, psql, wait_until, run  # noqa: E402
from mailtest import OUR, Dovecot, Smtp, mail, body, pdf_text  # noqa: E402

HOOK_SECRET = "mail-hook-secret-0123"
kbtest.SECRETS += [HOOK_SECRET, "imap-password", "smtp-password"]


def start(db, tg, smtp, imap=None, name="mail", extra=None):
    env = {"KABINET_SMTP_URL": smtp.url, "KABINET_MAIL_FROM": "Энергосбыт <%s>" % OUR,
           "KABINET_MAIL_WEBHOOK_SECRET": HOOK_SECRET, "KABINET_HTTP_MAX_BODY": str(40 * 1024 * 1024)}
    if smtp.ca:
        env["KABINET_MAIL_CA_FILE"] = smtp.ca
    if imap:
        env.update({"KABINET_IMAP_URL": imap.url, "KABINET_IMAP_POLL_S": "1"})
    env.update(extra or {})
    return Kabinetd(db, tg, "polling", name, env)


def rows(db, conv):
    return int(psql(db, "SELECT count(*) FROM kb_outbox WHERE conv = '%s'" % conv))


def tmpls(db, conv):
    return psql(db, "SELECT string_agg(payload->>'tmpl', ',' ORDER BY id) FROM kb_outbox WHERE conv = '%s'" % conv) or ""


def code_of(msg):
    m = re.search(r"\b(\d{6})\b", body(msg))
    return m.group(1) if m else ""


def quiet(db, conv, n, seconds=3):
    """Nothing new for conv within seconds: what a message that must not be answered leaves."""
    time.sleep(seconds)
    return rows(db, conv) == n


# ---------------------------------------------------------------- IMAP

def imap_phase(tg, db, _):
    imap, smtp = Dovecot(), Smtp()
    k = start(db, tg, smtp, imap, "mail-imap")
    ivan = "mail:ivan@example.ru"
    try:
        first = mail("Иван Петров <Ivan@Example.RU>", "БАЛАНС", "Здравствуйте!")
        imap.append(first)
        got = smtp.wait("ivan@example.ru", 1)
        if not check(len(got) == 1 and CATALOG["reg.consent"][:40] in body(got[0][1]) and
                     "1 — " + CATALOG["btn.consent_yes"] in body(got[0][1]),
                     "a first message by IMAP brings the consent question, with numbered choices"):
            return
        consent = got[0][1]
        imap.append(mail("ivan@example.ru", "Re: " + str(consent["Subject"]), "Да\n\n> " + CATALOG["reg.consent"][:30],
                         In_Reply_To=str(consent["Message-ID"])))
        got = smtp.wait("ivan@example.ru", 2)
        if not check(len(got) == 2, "answering yes brings a code by email"):
            return
        check(psql(db, "SELECT count(*) FROM kb_consent WHERE channel = 'mail' AND external_id = 'ivan@example.ru'")
              == "1", "the consent by email is stored for the address")
        env, m = got[1]
        code = code_of(m)
        check(len(code) == 6 and env["auth"] and env["from"] == OUR, "the code mail: 6 digits, sent with SMTP AUTH "
              "from our address (%r, %s)" % (code, env))
        check(str(m["Subject"]) == CATALOG["mail.subject.reg.code_mail"] and "=?UTF-8?B?" in m.as_string(),
              "its Cyrillic subject goes as RFC 2047 words and decodes (%r)" % str(m["Subject"]))
        check(str(m["From"]).startswith("Энергосбыт") and OUR in str(m["From"]), "our name and address in From")
        mid = str(m["Message-ID"])
        token = re.search(r"<kb\.\d+\.([0-9a-f]{20})@kabinet\.test>", mid)
        check(token is not None, "our Message-ID carries the conversation's token (%s)" % mid)
        token = token.group(1) if token else ""
        check(str(m["Reply-To"]) == "reply+%s@kabinet.test" % token and str(m["Auto-Submitted"]) == "auto-replied"
              and str(consent["In-Reply-To"]) == first["Message-ID"], "Reply-To reply+token, Auto-Submitted, "
              "In-Reply-To the customer's message (%s, %s, %s)" % (m["Reply-To"], m["Auto-Submitted"],
                                                                  consent["In-Reply-To"]))
        link = re.search(r"(http://\S+/mail/confirm\?t=[0-9a-f]{20}&c=\d{6})", body(m))
        check(link is not None, "the code mail carries a one-click confirmation link")
        # the reply with the code, history quoted below it
        imap.append(mail("Ivan <ivan@example.ru>", "Re: " + str(m["Subject"]),
                         "%s\n\n-- \nИван\n\nOn Mon, Nov 30 2026 bot@kabinet.test wrote:\n> Ваш код: 000000\n" % code,
                         In_Reply_To=mid, References=mid))
        done = wait_until(lambda: "reg.done_new" in tmpls(db, ivan) and rows(db, ivan) >= 4, 20)
        check(done, "the code by email completes the registration (%s)" % tmpls(db, ivan))
        check(psql(db, "SELECT count(*) FROM kb_customer c JOIN kb_identity i ON i.customer_id = c.id WHERE "
                       "i.channel = 'mail' AND i.external_id = 'ivan@example.ru' AND c.email = 'ivan@example.ru' "
                       "AND i.verified_at IS NOT NULL") == "1", "a customer with the confirmed email identity")
        after = tmpls(db, ivan).split(",")
        check("reg.done_new" in after and after.index("reg.done_new") + 1 < len(after) and
              after[after.index("reg.done_new") + 1] != "menu.main",
              "then the balance the first message asked for (БАЛАНС in its subject) runs (%s)" % after)
        check(psql(db, "SELECT payload->'params'->>'code' FROM kb_outbox WHERE conv = '%s' AND payload->>'tmpl' = "
                       "'reg.code_mail'" % ivan) == "", "once mailed, the code is blanked in the outbox")
        n = len(smtp.wait("ivan@example.ru", 4))
        check(n >= 4, "the answers went out by email (%d)" % n)
        replies = smtp.messages("ivan@example.ru")
        check(all(str(r["In-Reply-To"]) != first["Message-ID"] for _, r in replies[1:]),
              "later answers are In-Reply-To the customer's latest message")
        # a reply from another address to reply+token@ lands in the same conversation
        before = rows(db, ivan)
        imap.append(mail("Ivan Work <ivan.work@example.org>", "Вопрос", "СЧЕТ", to="reply+%s@kabinet.test" % token))
        check(wait_until(lambda: rows(db, ivan) > before, 15) and rows(db, "mail:ivan.work@example.org") == 0,
              "a message to reply+token@ from another address lands in the same conversation")
        # machines and we ourselves are never answered
        n = wait_until(lambda: rows(db, ivan) if psql(db, "SELECT count(*) FROM kb_outbox WHERE conv = '%s' AND "
                                                          "sent_at IS NULL" % ivan) == "0" else None, 15) or 0
        time.sleep(1.5)
        n = rows(db, ivan)
        imap.append(mail("ivan@example.ru", "Автоответ: в отпуске", "Я в отпуске до понедельника.",
                         Auto_Submitted="auto-replied"))
        imap.append(mail("ivan@example.ru", "Новости", "Рассылка", Precedence="bulk"))
        imap.append(mail("Энергосбыт <%s>" % OUR, "Личный кабинет", "наше же письмо"))
        check(quiet(db, ivan, n, 4) and rows(db, "mail:" + OUR) == 0,
              "an auto-reply, bulk mail and our own message are not answered")
        check(k.log_text().count("not answered") >= 3, "each is noted in the log")
        # malformed: no From, broken MIME, a 30 MB attachment
        seen = psql(db, "SELECT count(*) FROM kb_mail_seen")
        imap.append(b"To: bot@kabinet.test\r\nSubject: no from\r\nMessage-ID: <nofrom@x>\r\n\r\nhello\r\n")
        imap.append(b"From: anna@example.ru\r\nTo: bot@kabinet.test\r\nSubject: broken\r\nMessage-ID: <broken@x>\r\n"
                    b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed\r\n\r\n--x\r\nhello\r\n--x--\r\n")
        big = mail("anna@example.ru", "Фото счётчика", "во вложении")
        big.add_attachment(os.urandom(30 * 1024 * 1024), maintype="image", subtype="jpeg", filename="meter.jpg")
        imap.append(big)
        refused = wait_until(lambda: k.log_text().count("refused") >= 3, 60)
        log = k.log_text()
        check(refused and "no From" in log and "boundary" in log and "larger than" in log,
              "no From, broken MIME and a 30 MB message are refused, each with a log line")
        check(rows(db, "mail:anna@example.ru") == 0 and psql(db, "SELECT count(*) FROM kb_mail_seen") == seen,
              "and change nothing")
        # a UIDVALIDITY change: the folder is read again; nothing is answered twice; new mail still is
        n = rows(db, ivan)
        old = imap.uidvalidity()
        imap.uidvalidity(old + 1000)
        check(wait_until(lambda: "UIDVALIDITY changed" in k.log_text(), 15), "a UIDVALIDITY change is noticed")
        check(quiet(db, ivan, n, 4), "after it no old message is answered again")
        imap.append(mail("ivan@example.ru", "БАЛАНС", ""))
        check(wait_until(lambda: rows(db, ivan) > n, 15), "and a new message after it is answered")
        log = k.stop()
        check("imap-password" not in log and "smtp-password" not in log and "ivan@example.ru" not in log,
              "no password and no address in clear in the log")
    finally:
        if k.proc.poll() is None:
            k.stop()
        imap.stop()
        smtp.stop()


# ---------------------------------------------------------------- a forged From

AUTHSERV = "mx.kabinet.test"


def forged_phase(tg, db, _):
    """Petr (signed in by email in the webhook phase) owns account 1800000005. Messages From his address that nobody
    vouches for (no reply token; an Authentication-Results saying fail, or added by another server) act for nobody:
    answered once with how to write as oneself, nothing else. A reply with the token acts; so does a fresh message
    whose Authentication-Results by our receiving server (KABINET_MAIL_AUTHSERV_ID) says dmarc=pass. Signed out, a
    forged message gets a code to the address, never a sign-in."""
    smtp = Smtp()
    k = start(db, tg, smtp, None, "mail-forged", {"KABINET_MAIL_AUTHSERV_ID": AUTHSERV})
    petr = "mail:petr@example.ru"
    psql(db, "INSERT INTO kb_account_link (customer_id, account_id, is_primary, status, proof) SELECT i.customer_id, "
             "a.id, true, 'active', 'surname' FROM kb_identity i, kb_account a WHERE i.channel = 'mail' AND "
             "i.external_id = 'petr@example.ru' AND a.number = '1800000005'")
    readings = "SELECT count(*) FROM kb_reading WHERE source = 'bot'"
    links = "SELECT count(*) FROM kb_account_link WHERE status = 'active'"
    try:
        r0, l0, n = psql(db, readings), psql(db, links), rows(db, petr)
        hook(k, postmark("petr@example.ru", "ПОКАЗАНИЯ 99999", "", "f1@evil.example",
                         Authentication_Results=AUTHSERV + "; spf=fail smtp.mailfrom=petr@example.ru; "
                                                           "dkim=none; dmarc=fail (p=none) header.from=example.ru"))
        hook(k, postmark("petr@example.ru", "/forget", "", "f2@evil.example",
                         Authentication_Results="evil.example; dmarc=pass header.from=example.ru"))
        raw = mail("petr@example.ru", "СЧЕТ", "", Authentication_Results=AUTHSERV + "; dmarc=fail header.from=example.ru")
        hook(k, raw.as_bytes(), "message/rfc822")
        told = wait_until(lambda: "mail.unvouched" in tmpls(db, petr), 15)
        check(told and quiet(db, petr, n + 1, 3) and tmpls(db, petr).split(",")[n:] == ["mail.unvouched"],
              "a forged From (dmarc=fail; dmarc=pass from another server; a raw message failing): answered once with "
              "how to write as oneself, nothing else (%s)" % tmpls(db, petr).split(",")[n:])
        check(psql(db, readings) == r0 and psql(db, links) == l0 and
              psql(db, "SELECT count(*) FROM kb_customer WHERE email = 'petr@example.ru'") == "1",
              "no reading stored, no link removed, the customer not erased")
        m = smtp.wait("petr@example.ru", 1)
        check(m and CATALOG["mail.unvouched"][:30] in body(m[-1][1]) and "reply+" in str(m[-1][1]["Reply-To"]),
              "the answer goes to the address itself, with the reply address that vouches for a reply")
        # a reply to it (our token in the To) acts
        token = re.search(r"reply\+([0-9a-f]{20})@", str(m[-1][1]["Reply-To"])) if m else None
        n = rows(db, petr)
        hook(k, dict(postmark("petr@example.ru", "Re: Личный кабинет", "БАЛАНС", "f3@example.ru"),
                     To="reply+%s@kabinet.test" % (token.group(1) if token else "")))
        check(wait_until(lambda: rows(db, petr) > n and any(t.startswith("bal.") for t in tmpls(db, petr).split(",")[n:]), 15),
              "a reply carrying the conversation's token acts (%s)" % tmpls(db, petr).split(",")[n:])
        # a fresh message that our receiving server found authentic acts
        n = rows(db, petr)
        hook(k, postmark("petr@example.ru", "БАЛАНС", "", "f4@example.ru",
                         Authentication_Results="%s 1; spf=pass smtp.mailfrom=example.ru; dkim=pass header.d=example.ru "
                                                "header.s=mail; dmarc=pass (p=reject) header.from=example.ru" % AUTHSERV))
        check(wait_until(lambda: rows(db, petr) > n and any(t.startswith("bal.") for t in tmpls(db, petr).split(",")[n:]), 15),
              "a message with dmarc=pass from the retailer's receiving server acts (%s)" % tmpls(db, petr).split(",")[n:])
        # a confirmed address with no conversation yet: a forged message gets a code to it, never a sign-in
        olga = "mail:olga@example.ru"
        psql(db, "INSERT INTO kb_identity (customer_id, channel, external_id, verified_at) SELECT id, 'mail', "
                 "'olga@example.ru', now() FROM kb_customer WHERE phone = '+79990000006'")
        hook(k, postmark("olga@example.ru", "БАЛАНС", "", "o1@evil.example"))
        wait_until(lambda: "reg.consent" in tmpls(db, olga), 15)
        hook(k, postmark("olga@example.ru", "Re: Личный кабинет", "Да", "o2@evil.example"))
        check(wait_until(lambda: "reg.code_mail" in tmpls(db, olga), 15) and quiet(db, olga, rows(db, olga), 2) and
              not any(t.startswith("bal.") or t.startswith("reg.done") for t in tmpls(db, olga).split(",")),
              "a confirmed address that nobody vouches for gets a code to it, not a sign-in (%s)" % tmpls(db, olga))
        k.stop()
    finally:
        if k.proc.poll() is None:
            k.stop()
        smtp.stop()


# ---------------------------------------------------------------- webhook

def hook(k, data, ctype="application/json", auth=True):
    h = {"Content-Type": ctype}
    if auth:
        h["Authorization"] = "Basic " + base64.b64encode(("postmark:" + HOOK_SECRET).encode()).decode()
    return http("POST", k.url + "/mail/inbound", data if isinstance(data, bytes) else json.dumps(data).encode(), h)


def postmark(frm, subject, text, mid, **headers):
    return {"From": frm, "FromFull": {"Email": frm, "Name": ""}, "To": OUR, "Subject": subject, "TextBody": text,
            "MessageID": "pm-" + mid, "Headers": [{"Name": "Message-ID", "Value": "<%s>" % mid}] +
            [{"Name": k.replace("_", "-"), "Value": v} for k, v in headers.items()], "Attachments": []}


def webhook_phase(tg, db, _):
    smtp = Smtp(tls=True, reject=["nobody@example.ru"])
    k = start(db, tg, smtp, None, "mail-hook")
    try:
        st = hook(k, postmark("petr@example.ru", "Привет", "Здравствуйте", "p1@example.ru"), auth=False)[0]
        check(st == 401 and rows(db, "mail:petr@example.ru") == 0, "the webhook without its secret: 401, nothing")
        st = hook(k, postmark("petr@example.ru", "Привет", "Здравствуйте", "p1@example.ru"))[0]
        got = smtp.wait("petr@example.ru", 1)
        check(st == 200 and len(got) == 1 and got[0][0]["tls"], "Postmark's JSON is taken (200) and the answer goes "
              "out over STARTTLS, the server's certificate checked (%s)" % (got[0][0] if got else None))
        st = hook(k, postmark("petr@example.ru", "Привет", "Здравствуйте", "p1@example.ru"))[0]
        check(st == 200 and quiet(db, "mail:petr@example.ru", 1, 2), "the same post again: 200, not answered twice")
        hook(k, postmark("petr@example.ru", "Re: Личный кабинет", "1", "p2@example.ru"))
        got = smtp.wait("petr@example.ru", 2)[1:]
        code = code_of(got[0][1]) if got else ""
        raw = mail("petr@example.ru", "Re: код", "%s\n\n> quoted" % code, In_Reply_To=str(got[0][1]["Message-ID"]))
        st = hook(k, raw.as_bytes(), "message/rfc822")[0]
        check(st == 200 and wait_until(lambda: "reg.done_new" in tmpls(db, "mail:petr@example.ru"), 15),
              "a raw message/rfc822 reply with the code completes the registration")
        # the one-click link
        hook(k, postmark("anna@example.ru", "Hello", "hi", "a1@example.ru"))
        smtp.wait("anna@example.ru", 1)
        hook(k, postmark("anna@example.ru", "Re: Hello", "Принимаю", "a2@example.ru"))
        got = smtp.wait("anna@example.ru", 2)[1:]
        link = re.search(r"http://\S+/mail/confirm\?t=[0-9a-f]{20}&c=\d{6}", body(got[0][1]) if got else "")
        st, page, _ = http("GET", link.group(0)) if link else (0, b"", {})
        check(st == 200 and b"<form method=\"post\"" in page and "reg.done_new" not in tmpls(db, "mail:anna@example.ru"),
              "opening the link shows a button and does nothing by itself (mail scanners open links)")
        q = link.group(0).split("?", 1)[1] if link else ""
        st = http("POST", link.group(0).split("?")[0], q.encode(), {"Content-Type": "application/x-www-form-urlencoded"})[0]
        check(st == 200 and wait_until(lambda: "reg.done_new" in tmpls(db, "mail:anna@example.ru"), 15),
              "pressing it completes the registration")
        st = http("POST", link.group(0).split("?")[0], q.encode(), {"Content-Type": "application/x-www-form-urlencoded"})[0]
        check(st == 200 and wait_until(lambda: tmpls(db, "mail:anna@example.ru").endswith("reg.done,menu.main"), 15),
              "pressing it again says the customer is signed in (%s)" % tmpls(db, "mail:anna@example.ru"))
        check(http("POST", k.url + "/mail/confirm", b"t=00000000000000000000&c=123456",
                   {"Content-Type": "application/x-www-form-urlencoded"})[0] == 404, "an unknown token: 404")
        # malformed posts change nothing
        n = int(psql(db, "SELECT count(*) FROM kb_outbox")) + int(psql(db, "SELECT count(*) FROM kb_mail_seen"))
        st1, b1, _ = hook(k, {"To": OUR, "Subject": "x", "TextBody": "y", "MessageID": "z"})
        st2, b2, _ = hook(k, b"From: x@example.ru\r\nContent-Type: multipart/mixed\r\n\r\nbody\r\n", "message/rfc822")
        st3 = hook(k, b"From: x@example.ru\r\nSubject: big\r\n\r\n" + b"A" * (30 * 1024 * 1024), "message/rfc822")[0]
        m = int(psql(db, "SELECT count(*) FROM kb_outbox")) + int(psql(db, "SELECT count(*) FROM kb_mail_seen"))
        check(st1 == 400 and b"no From" in b1 and st2 == 400 and b"boundary" in b2 and st3 == 413 and m == n,
              "no From 400, broken MIME 400, 30 MB 413, and nothing changed (%s %s %s)" % (st1, st2, st3))
        check(k.log_text().count("inbound message") >= 3, "each refusal has its log line")
        # a mailbox the server refuses for good (550) is not tried again
        psql(db, "SELECT kb_outbox_put('mail:nobody@example.ru',"
                 " 'mail', 0, 'dead-test', 0, '{\"tmpl\": \"common.help\", \"lang\": \"ru\"}')")
        check(wait_until(lambda: psql(db, "SELECT dead::text || attempts FROM kb_outbox WHERE event_id = 'dead-test'")
                         == "true1", 15), "a 550 from the server is final: the message is dead after one attempt")
        log = k.stop()
        check(HOOK_SECRET not in log and "petr@example.ru" not in log, "no secret and no address in the log")
    finally:
        if k.proc.poll() is None:
            k.stop()
        smtp.stop()


# ---------------------------------------------------------------- Telegram customer: bills and checks by email

def bills_phase(tg, db, _):
    smtp = Smtp()
    k = start(db, tg, smtp, None, "mail-bills")
    try:
        u = User(tg, 7100000001, db)
        u.welcome()
        u.send(contact={"phone": "+79160002211"})
        u.expect("reg.code_sent")
        u.say(u.code())
        u.expect("reg.done_new", "menu.main*")
        u.press("settings")
        u.expect("set.show_on")
        u.press("paper_off")
        u.expect("set.paper_primary_only", "menu.main*")
        u.press("accounts")
        u.expect("acc.none")
        u.link("1800000002", psql(db, "SELECT holder_surname FROM kb_account WHERE number = '1800000002'"))
        u.press("settings")
        u.expect("set.show_on")
        u.press("paper_off")
        u.expect("set.paper_bills_off", "menu.main*")
        u.press("settings")
        u.expect("set.show_on")
        u.press("ebill_on")
        u.expect("set.email_ask")
        u.say("not an address")
        u.expect("set.email_invalid")
        u.say(" Sveta@Example.RU ")
        u.expect("set.email_code_sent")
        got = smtp.wait("sveta@example.ru", 1)
        code = code_of(got[0][1]) if got else ""
        check(len(code) == 6 and "/mail/confirm" not in body(got[0][1]), "the code to confirm the address came by "
              "email, without a link (it is typed in the chat)")
        u.say(code)
        u.expect("set.email_bills_on", "menu.main*")
        check(psql(db, "SELECT email || email_bills::text || paper_bills::text FROM kb_customer WHERE phone = "
                       "'+79160002211'") == "sveta@example.rutruefalse", "the email is the customer's, bills by email on")
        # a new month's charges: the bill goes out by email as a PDF
        acc = psql(db, "SELECT id FROM kb_account WHERE number = '1800000002'")
        month = psql(db, "SELECT to_char(max(month) + interval '1 month', 'YYYY-MM-DD') FROM kb_charge WHERE "
                         "account_id = %s" % acc)
        psql(db, "INSERT INTO kb_charge (account_id, month, zone, kwh, rate, amount_kopecks) VALUES (%s, '%s', 1, "
                 "250, 6.50, 162500)" % (acc, month))
        got = smtp.wait("sveta@example.ru", 2, 30)
        if not check(len(got) == 2, "the new bill went out by email"):
            return
        m = got[1][1]
        pdfs = [p for p in m.iter_attachments() if p.get_content_type() == "application/pdf"]
        text = pdf_text(pdfs[0].get_content()) if pdfs else ""
        due = int(psql(db, "SELECT greatest(0, balance_kopecks) FROM kb_account_money(%s)" % acc))
        rub = "{:,}".format(due // 100).replace(",", " ") + ",%02d" % (due % 100)
        check(bool(pdfs) and "1800000002" in text and rub in text.replace("\u00a0", " "),
              "the bill is a PDF attachment whose text has the account and the amount due %s" % rub)
        unsub = str(m["List-Unsubscribe"] or "")
        check("/mail/unsubscribe?t=" in unsub and str(m["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click" and
              str(m["Auto-Submitted"]) == "auto-generated", "a bill carries List-Unsubscribe with one-click (%s)" % unsub)
        again = psql(db, "SELECT count(*) FROM kb_outbox WHERE event_id LIKE 'ebill:1800000002:%'")
        psql(db, "INSERT INTO kb_charge (account_id, month, zone, kwh, rate, amount_kopecks) VALUES (%s, '%s', 2, "
                 "10, 3.00, 3000)" % (acc, month))
        check(psql(db, "SELECT count(*) FROM kb_outbox WHERE event_id LIKE 'ebill:1800000002:%'") == again,
              "more charges of the same month send no second bill")
        url = re.search(r"<(http[^>]+/mail/unsubscribe\?t=[0-9a-f]+)>", unsub)
        st = http("POST", url.group(1), b"List-Unsubscribe=One-Click",
                  {"Content-Type": "application/x-www-form-urlencoded"})[0] if url else 0
        check(st == 200 and psql(db, "SELECT email_bills::text FROM kb_customer WHERE phone = '+79160002211'") ==
              "false", "the one-click unsubscribe turns bills by email off")
        # a payment's check goes to the email the payer gave for it
        u.say("/menu")
        u.expect("menu.main*")
        u.press("pay")
        u.expect("pay.ask_amount")
        u.say("100 check.copy@example.ru")
        got = u.expect("pay.preparing", "pay.link", seconds=30)
        url = got[-1]["reply_markup"]["inline_keyboard"][0][0]["url"]
        http("POST", url + "/pay", b"")
        copy = smtp.wait("check.copy@example.ru", 1, 45)
        pdfs = [p for p in copy[0][1].iter_attachments()] if copy else []
        check(bool(pdfs) and "1800000002" in pdf_text(pdfs[0].get_content()),
              "the check's PDF goes to the email the payer gave")
    finally:
        if k.proc.poll() is None:
            k.stop()
        smtp.stop()


if __name__ == "__main__":
    run("mail", imap_phase, webhook_phase, bills_phase, forged_phase)
