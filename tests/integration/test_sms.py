#!/usr/bin/env python3
"""The SMS channel end to end: a real kabinetd with SMS.ru, then SMSC.ru, played by tests/fakes/fake_sms.py (their
documented formats; its header cites the pages), Telegram by the fake Bot API, payments by the fake pay page.

SMS.ru: a Telegram registration gets its code by SMS through the gateway and completes with it; the outbox row
records the gateway's id and the segments; a status callback with a wrong token is refused (403) and changes
nothing, the right one marks the message delivered; a retryable gateway error is retried, a permanent one never.
SMSC.ru: a journey by SMS alone — БАЛАНС from an unknown number signs it in and asks for an account, then the
proof (a digit picks the offered choice); П <value> stores the reading with its consumption; ОПЛАТА 100 brings a
short payment link within 2 segments, paying brings "payment accepted" and then the check with a short link to
its PDF; СТОП stops pushes but a requested code still arrives; an incoming SMS with a wrong signature is refused
and changes nothing; a delivery status updates the row."""
import os, subprocess, sys, time
from http.client import HTTPConnection

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kbtest  # noqa: E402

kbtest.REDIS_PORT = int(os.environ["KB_TEST_REDIS_PORT"]) + 800
from kbtest import (Gateway, Phone, Kabinetd, User, check, free_port, http, psql, wait_until,  # noqa
                    run, is_tmpl, matches, ucs2_segments, sms_env, sms_notify, CATALOG)
from kbtest import SMS_LOGIN as LOGIN, SMS_PASSWORD as PASSWORD, SMS_SECRET as SECRET, SMS_TOKEN as TOKEN  # noqa

def start(db, tg, kind, name, extra=None):
    port = free_port()
    env = dict(sms_env(kind, port), KABINET_PAY_POLL_S="1")
    env.update(extra or {})
    k = Kabinetd(db, tg, "polling", name, env)
    return k, Gateway(kind, port, sms_notify(kind, k.url))


# ---------------------------------------------------------------- SMS.ru: codes for a Telegram registration

def smsru(tg, db, _):
    k, gw = start(db, tg, "smsru", "smsru")
    try:
        phone = "+79160001155"
        u = User(tg, 7000000001, db)
        u.welcome()
        u.send(contact={"phone": phone})
        u.expect("reg.code_sent")
        sms = wait_until(lambda: gw.messages(phone), 15)
        code = "".join(ch for ch in (sms[0]["text"] if sms else "") if ch.isdigit())[:6]
        check(len(code) == 6, "the login code reached the SMS.ru gateway (%r)" % (sms[0]["text"] if sms else None))
        u.say(code)
        u.expect("reg.done_new", "menu.main*")
        row = psql(db, "SELECT ext_id || '|' || segments || '|' || delivery FROM kb_outbox WHERE conv = 'sms:%s'"
                       % phone)
        check(row == "%s|1|sent" % sms[0]["id"], "the outbox row keeps the gateway's id and 1 segment (%s)" % row)
        kept = psql(db, "SELECT payload->'params'->>'code' FROM kb_outbox WHERE conv = 'sms:%s'" % phone)
        check(kept == "", "once sent, the code is blanked in the outbox row (%r)" % kept)
        bad = gw.post("status", {"id": sms[0]["id"], "status": 103, "sign": False})
        after = psql(db, "SELECT delivery FROM kb_outbox WHERE conv = 'sms:%s'" % phone)
        check(bad["status"] == 403 and after == "sent", "a status callback with a wrong token is refused and changes "
                                                        "nothing (%s, %s)" % (bad["status"], after))
        good = gw.post("status", {"id": sms[0]["id"], "status": 103})
        check(good["status"] == 200 and good["body"] == "100", "SMS.ru's status callback is answered 100")
        check(wait_until(lambda: psql(db, "SELECT delivery FROM kb_outbox WHERE conv = 'sms:%s'" % phone) ==
                         "delivered", 5), "delivered (103) is recorded on the outbox row")
        # a retryable gateway error (220: service busy) is retried; a permanent one (202: bad number) is not
        gw.post("fail_next", {"code": 220, "n": 1})
        psql(db, "SELECT kb_outbox_put('sms:+79160001166', "
                 "'sms', 0, 'retry-test', 0, '{\"tmpl\": \"reg.code_sms\", \"lang\": \"ru\", "
                 "\"params\": {\"code\": \"123456\"}}')")
        got = wait_until(lambda: gw.messages("+79160001166"), 20)
        check(bool(got), "a message the gateway refused with a retryable error (220) went out on a retry")
        gw.post("fail_next", {"code": 202, "n": 3})
        psql(db, "SELECT kb_outbox_put('sms:+79160001177', "
                 "'sms', 0, 'dead-test', 0, '{\"tmpl\": \"reg.code_sms\", \"lang\": \"ru\", "
                 "\"params\": {\"code\": \"123456\"}}')")
        dead = wait_until(lambda: psql(db, "SELECT dead FROM kb_outbox WHERE event_id = 'dead-test'") == "t", 10)
        check(dead and not gw.messages("+79160001177"), "a message refused for good (202) is never retried")
        gw.post("fail_next", {"code": 0, "n": 0})
        log = k.stop()
        check(PASSWORD not in log and TOKEN not in log, "the SMS.ru api_id and token are never logged")
    finally:
        if k.proc.poll() is None:
            k.stop()
        gw.stop()


# ---------------------------------------------------------------- SMSC.ru: a customer by SMS alone

def smsc(tg, db, _):
    k, gw = start(db, tg, "smsc", "smsc")
    try:
        p = Phone(gw, "+79160001188")
        number = "1800000002"
        surname = psql(db, "SELECT holder_surname FROM kb_account WHERE number = '%s'" % number)
        st = p.say("БАЛАНС")
        check(st == 200, "an incoming SMS is accepted (200 once durable)")
        consent = p.expect("reg.consent_sms")[0]
        check("1 " + CATALOG["btn.consent_yes"] in consent, "the consent comes first, with numbered choices (%r)" % consent)
        p.say("1")
        p.expect("reg.done_new", "bal.no_accounts", "acc.ask_number")
        check(psql(db, "SELECT count(*) FROM kb_consent WHERE channel = 'sms' AND external_id = '%s'" % p.number) == "1",
              "the consent by SMS is stored for the number")
        p.say(number)
        proof = p.expect("acc.ask_proof")[0]
        digit = proof.split("\n")[-1].split(CATALOG["btn.surname"])[0].strip().split(" ")[-1]
        check(digit.isdigit(), "choices come numbered (%r)" % proof.split("\n")[-1])
        p.say(digit)
        p.expect("acc.ask_surname")
        p.say(surname)
        # the account is demo customer 2's already: a surname is not enough, its ЕЛС is
        again = p.expect("acc.surname_not_enough")[0]
        digit = again.split("\n")[-1].split(CATALOG["btn.els"])[0].strip().split(" ")[-1]
        time.sleep(1.1)  # "1" again: identical texts from one number within one second are one message (a replay)
        p.say(digit)
        p.expect("acc.ask_els")
        p.say(psql(db, "SELECT els_code FROM kb_account WHERE number = '%s'" % number))
        # a captured callback posted again with a new sms_id (the id is not signed) is the same message: once
        replay = gw.post("replay", {"sms_id": "777777"})
        p.expect("acc.linked_primary", "sms.menu")
        time.sleep(1.5)
        check(replay["status"] == 200 and len(gw.messages(p.number)) == p.seen and
              psql(db, "SELECT count(*) FROM kb_account_link l JOIN kb_identity i ON i.customer_id = l.customer_id "
                       "WHERE i.external_id = '%s'" % p.number) == "1",
              "a replayed incoming SMS (a new sms_id, the same signature) is taken once: answered once, acting once")
        last = psql(db, "SELECT r.value FROM kb_reading r JOIN kb_meter m ON m.id = r.meter_id JOIN kb_account a ON "
                        "a.id = m.account_id WHERE a.number = '%s' AND r.status = 'accepted' ORDER BY r.local_day "
                        "DESC, r.id DESC LIMIT 1" % number)
        value = str(int(float(last)) + 150)
        p.say("п  " + value)
        p.expect("rd.accepted*", "rd.done", "sms.menu")
        stored = psql(db, "SELECT r.value::numeric::int FROM kb_reading r JOIN kb_meter m ON m.id = r.meter_id JOIN "
                          "kb_account a ON a.id = m.account_id WHERE a.number = '%s' AND r.source = 'bot'" % number)
        check(stored == value, "П %s stored the reading (%s)" % (value, stored))
        menu = gw.messages(p.number)[-1]["text"]
        check("1 " + CATALOG["btn.balance"] in menu and ucs2_segments(menu) <= 2,
              "the menu by SMS: keywords and numbered choices, within 2 segments (%r)" % menu)
        p.say("1")
        got = p.until("sms.menu")
        check(got and matches(got[0], "bal.*"), "1 after the menu is the balance (%r)" % got[:1])
        # a payment: a short link within 2 segments; paying brings "accepted", then the check with a link to its PDF
        p.say("ОПЛАТА 100")
        texts = p.expect("pay.preparing", "pay.link_sms", seconds=30)
        link = next((w for w in texts[1].split() if w.startswith("http")), "")
        check("/p/" in link and ucs2_segments(texts[1]) <= 2, "the payment link comes as kabinet's short link, in "
                                                               "%d segment(s): %r" % (ucs2_segments(texts[1]), texts[1]))
        c = HTTPConnection("127.0.0.1", k.port, timeout=10)
        c.request("GET", link.split(str(k.port), 1)[1])
        r = c.getresponse()
        page = r.getheader("Location") or ""
        c.close()
        st = http("POST", page + "/pay", b"")[0]
        check(st == 200, "the short link leads to the pay page, where the payment is made")
        texts = p.expect("pay.accepted", "pay.check_sms", seconds=30)
        flink = next((w for w in texts[1].split() if "/f/" in w), "")
        st, pdf, hdr = http("GET", flink) if flink else (0, b"", {})
        check(st == 200 and pdf[:5] == b"%PDF-", "the check by SMS carries a short link to its PDF (%r)" % texts[1])
        check(http("GET", k.url + "/f/0123456789abcdef")[0] == 404, "an unknown file link is 404")
        # СТОП: no pushes, but codes the customer asks for
        p.say("СТОП")
        p.expect("set.stopped", "sms.menu")
        psql(db, "SELECT kb_outbox_put('sms:%s', 'sms', 1, "
                 "'reminder-1', 0, '{\"tmpl\": \"common.help\", \"lang\": \"ru\"}')" % p.number)
        dead = wait_until(lambda: psql(db, "SELECT dead FROM kb_outbox WHERE event_id = 'reminder-1'") == "t", 10)
        check(dead and len(gw.messages(p.number)) == p.seen, "after СТОП a reminder is not sent")
        u = User(tg, 7000000002, db)
        u.welcome()
        u.send(contact={"phone": p.number})
        u.expect("reg.code_sent")
        code = p.expect("reg.code_sms")[0]
        check(any(ch.isdigit() for ch in code), "after СТОП a code the customer asked for still arrives")
        # forged, and a delivery status
        before = psql(db, "SELECT count(*) FROM kb_audit")
        st = p.say("БАЛАНС", sign=False)
        time.sleep(1)
        check(st == 401 and psql(db, "SELECT count(*) FROM kb_audit") == before and
              len(gw.messages(p.number)) == p.seen, "an incoming SMS with a wrong signature is refused (401) and "
                                                    "changes nothing")
        mid = gw.messages(p.number)[-1]["id"]
        res = gw.post("status", {"id": mid, "status": 1})
        check(res["status"] == 200 and wait_until(lambda: psql(
            db, "SELECT delivery FROM kb_outbox WHERE channel = 'sms' AND ext_id = '%s'" % mid) == "delivered", 5),
              "an SMSC delivery status (1) marks the row delivered")
        bad = gw.post("status", {"id": mid, "status": 20, "sign": False})
        check(bad["status"] == 401, "a status with a wrong signature is refused")
        segs = http("GET", k.url + "/metrics")[1]
        segs = segs.decode() if isinstance(segs, bytes) else str(segs)
        check("kb_sms_segments_total" in segs, "segments are counted in /metrics (kb_sms_segments_total)")
        check(not gw.state()["errors"], "the gateway refused nothing as malformed")
        log = k.stop()
        check(SECRET not in log and PASSWORD not in log, "the SMSC password and secret are never logged")
    finally:
        if k.proc.poll() is None:
            k.stop()
        gw.stop()


def main():
    run("sms", smsru, smsc)

if __name__ == "__main__":
    main()
