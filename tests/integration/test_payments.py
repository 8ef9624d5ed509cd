#!/usr/bin/env python3
"""Payments end to end: a real kabinetd (Telegram through the fake Bot API) with YooKassa, then Sberbank, played by
tests/fakes/fake_payments.py, which speaks their documented formats (its header cites the pages).

A customer registers, links an account and pays from the chat. YooKassa: the first creation answers 500 after
making the payment (the retry, with the same Idempotence-Key, finds it: one payment at the provider), the payment
succeeds and the notification settles it ("payment accepted"; the balance moves), the fiscal receipt appears 30 s
later and only then the check goes out (text + PDF with those values); the same notification again settles nothing
twice; a notification from a stranger's address (403), about an unknown payment (404) or for another amount (409)
changes nothing; a declined payment, a payment nobody notifies about (the poller settles it) and one never paid
(expired) each bring their word. Sberbank: register.do answers 500 once (one order at the bank), the callback with
its checksum settles, the check comes with the register's number; a wrong checksum (401), an unknown order (404)
and another amount (409) change nothing; a decline is told. Bills: the latest bill comes as a PDF document whose QR
decodes to an ST00012 string."""
import json, os, subprocess, sys, tempfile, time
from http.client import HTTPConnection

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kbtest  # noqa: E402

kbtest.REDIS_PORT = int(os.environ["KB_TEST_REDIS_PORT"]) + 700
from kbtest import (ROOT, TOKEN, FakeServer, Kabinetd, User, check, free_port, http, psql, wait_until,  # noqa
                    run, is_tmpl)

SHOP, SECRET, KEY = "100500", "test_secret-key", "callback-key"
kbtest.SECRETS += [SECRET, KEY]


class Provider(FakeServer):
    """A fake payment provider (tests/fakes/fake_payments.py)."""

    def __init__(self, kind, port, notify):
        super().__init__("fake_payments.py", ["--kind", kind, "--shop", SHOP, "--secret", SECRET, "--key", KEY,
                                              "--notify", notify], port)

    def by_url(self, url):
        return next((p for p in self.state()["payments"] if p["url"] == url), None)


def start(db, tg, kind, name):
    port = free_port()
    extra = {"KABINET_PAY_PROVIDER": kind, "KABINET_PAY_POLL_S": "1", "KABINET_PAY_EXPIRE_S": "12"}
    if kind == "yookassa":
        extra.update({"KABINET_YOOKASSA_URL": "http://127.0.0.1:%d" % port, "KABINET_YOOKASSA_SHOP_ID": SHOP,
                      "KABINET_YOOKASSA_SECRET_KEY": SECRET, "KABINET_YOOKASSA_WEBHOOK_IPS": "127.0.0.1/32,::1",
                      "KABINET_TRUSTED_PROXIES": "127.0.0.3"})
    else:
        extra.update({"KABINET_SBER_URL": "http://127.0.0.1:%d/payment/rest" % port, "KABINET_SBER_USERNAME": SHOP,
                      "KABINET_SBER_PASSWORD": SECRET, "KABINET_SBER_CALLBACK_KEY": KEY})
    k = Kabinetd(db, tg, "polling", name, extra)
    path = "/pay/yookassa/webhook" if kind == "yookassa" else "/pay/sber/callback"
    return k, Provider(kind, port, k.url + path)


# ---------------------------------------------------------------- the customer

def register(tg, db, uid, phone):
    u = User(tg, uid, db)
    u.welcome()
    u.send(contact={"phone": phone})
    u.expect("reg.code_sent")
    u.say(u.code())
    u.expect("reg.done_new", "menu.main*")
    u.press("accounts")
    u.expect("acc.none")
    u.link("1800000001", "Петров")
    return u


def balance(u):
    u.say("/menu")
    u.expect("menu.main*")
    u.press("balance")
    texts = []
    deadline = time.time() + 15
    while time.time() < deadline and not (texts and is_tmpl(texts[-1], "menu.main*")):
        for e in u.fake.log(u.uid, u.cursor, wait=0.5):
            u.cursor = e["n"]
            texts.append(e.get("text", ""))
    check(texts and is_tmpl(texts[0], "bal.*") and is_tmpl(texts[-1], "menu.main*"), "the balance, then the menu")
    return "\n".join(texts[:-1])


def pay(u, rubles, seconds=30):
    """Asks for a link for rubles; returns its URL (the URL button)."""
    u.say("/menu")
    u.expect("menu.main*")
    u.press("pay")
    u.expect("pay.ask_amount")
    u.say(str(rubles))
    got = u.expect("pay.preparing", "pay.link", seconds=seconds)
    # the link's lifetime as configured (KABINET_PAY_EXPIRE_S=12 here: under a minute reads as one)
    check("Ссылка действует 1 минуту." in got[-1]["text"], "the link's lifetime is told as configured (%r)"
          % got[-1]["text"][-60:])
    return got[-1]["reply_markup"]["inline_keyboard"][0][0]["url"]


def payment(db, order_or_url):
    return psql(db, "SELECT status FROM kb_payment WHERE pay_url = '%s'" % order_or_url)


def settlements(db, url):
    return psql(db, "SELECT count(*) FROM kb_audit WHERE what = 'payment.settle' AND (details->>'payment_id')::bigint"
                    " = (SELECT id FROM kb_payment WHERE pay_url = '%s')" % url)


def check_and_pdf(tg, u, fiscal, what):
    """The next message is the check: its text, with the PDF (the text as the document's caption when it fits, else
    the document right after it); both carry the fiscal values."""
    got = u.expect("pay.check", seconds=45)
    text = got[0]["text"]
    doc = got[0] if got[0]["op"] == "document" else \
        wait_until(lambda: next((e for e in tg.log(u.uid, u.cursor) if e["op"] == "document"), None), 15)
    if not check(doc is not None, "%s: the check's PDF follows its text" % what):
        return text
    u.cursor = doc["n"]
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(download(tg, doc))
        f.flush()
        out = subprocess.run(["pdftotext", "-layout", f.name, "-"], capture_output=True, text=True).stdout
    for v in fiscal:
        check(v in text and v in out, "%s: the check's text and PDF carry %s" % (what, v))
    check("1800000001" in out and "1800000001" in text, "%s: the check names the account" % what)
    return text


def short_link(k, db, url):
    """GET of the payment's short link /p/<token>, not followed: (status, Location)."""
    token = psql(db, "SELECT pay_token FROM kb_payment WHERE pay_url = '%s'" % url)
    c = HTTPConnection("127.0.0.1", k.port, timeout=10)
    c.request("GET", "/p/" + token)
    r = c.getresponse()
    out = (r.status, r.getheader("Location"))
    c.close()
    return out


def download(tg, doc):
    return http("GET", "%s/file/bot%s/documents/%s" % (tg.url, TOKEN, doc["file_id"]))[1]


def bills(tg, u):
    """Bills in the menu: the latest bill of the linked account as a PDF whose QR a bank app reads."""
    u.say("/menu")
    u.expect("menu.main*")
    u.press("bills")
    got = u.expect("bill.preparing", "bill.sent", seconds=30)
    doc = got[1]
    if not check(doc["op"] == "document", "the bill comes as a document"):
        return
    with tempfile.TemporaryDirectory() as d:
        with open(d + "/bill.pdf", "wb") as f:
            f.write(download(tg, doc))
        text = subprocess.run(["pdftotext", d + "/bill.pdf", "-"], capture_output=True, text=True).stdout
        subprocess.run(["pdftoppm", "-r", "150", "-png", "-singlefile", d + "/bill.pdf", d + "/page"])
        qr = subprocess.run(["zbarimg", "-q", "--raw", d + "/page.png"], capture_output=True, text=True).stdout
    check("1800000001" in text and qr.startswith("ST00012|") and "PersAcc=1800000001" in qr,
          "the bill PDF names the account and its QR decodes to an ST00012 string (%r)" % qr[:60])


def forged_from(url, body, source="127.0.0.3", xff=None):
    """POSTs body to url from source (127.0.0.3: an address outside the allow-list), with X-Forwarded-For xff."""
    u = url.split("//", 1)[1]
    hostport, path = u.split("/", 1)
    host, port = hostport.split(":")
    c = HTTPConnection(host, int(port), timeout=10, source_address=(source, 0))
    headers = {"Content-Type": "application/json"}
    if xff:
        headers["X-Forwarded-For"] = xff
    c.request("POST", "/" + path, body=json.dumps(body), headers=headers)
    st = c.getresponse().status
    c.close()
    return st


# ---------------------------------------------------------------- YooKassa

def yookassa(tg, db, _):
    k, prov = start(db, tg, "yookassa", "yk")
    try:
        u = register(tg, db, 5000000001, "+79160001133")
        before = balance(u)
        # the answer to the first creation is lost (500 after the payment was made): the retry finds it
        prov.post("fail_next", {"n": 1, "after_create": True})
        url = pay(u, 100)
        p = prov.by_url(url)
        creates = [r for r in prov.state()["requests"] if r["method"] == "POST" and r["path"] == "/v3/payments"]
        check(p is not None and len(creates) == 2 and len({r["key"] for r in creates}) == 1 and
              len(prov.state()["payments"]) == 1, "a 500 from YooKassa is retried with the same Idempotence-Key: "
                                                  "one payment at the provider (%d calls)" % len(creates))
        check(short_link(k, db, url) == (302, url), "the short link /p/<token> leads to the provider's page")
        paid_at = time.time()
        st = prov.post("settle", {"id": p["id"], "receipt_after_s": 30})["notified"]
        u.expect("pay.accepted")
        check(st == 200 and payment(db, url) == "paid", "the notification settles the payment (webhook %s)" % st)
        check(balance(u) != before, "the balance shows the payment")
        # the same notification again; strangers; unknown payments
        again = prov.post("notify", {"id": p["id"]})["notified"]
        check(again == 200 and settlements(db, url) == "1", "a repeated notification settles nothing twice")
        body = {"type": "notification", "event": "payment.succeeded", "object": {"id": p["id"], "status": "succeeded"}}
        check(forged_from(k.url + "/pay/yookassa/webhook", body) == 403, "a notification from an address outside "
                                                                         "the allow-list gets 403")
        # behind a proxy the operator lists (127.0.0.3): the client is what the proxy appended to X-Forwarded-For
        hook = k.url + "/pay/yookassa/webhook"
        check(forged_from(hook, body, "127.0.0.3", "127.0.0.1") == 200,
              "through the trusted proxy, YooKassa's address in X-Forwarded-For is taken (200)")
        check(forged_from(hook, body, "127.0.0.3", "127.0.0.1, 10.9.9.9") == 403,
              "through the trusted proxy, a stranger (the proxy appended 10.9.9.9) gets 403 whatever it wrote before")
        check(forged_from(hook, body, "127.0.0.4", "127.0.0.1") == 403,
              "X-Forwarded-For from a peer that is not a trusted proxy is ignored (403)")
        body["object"]["id"] = "2f000000-000f-5000-8000-000000000000"
        st = http("POST", k.url + "/pay/yookassa/webhook", body)[0]
        check(st == 404, "a notification about a payment kabinet does not know gets 404 (%s)" % st)
        st = http("POST", k.url + "/pay/yookassa/webhook", b"{not json", {"Content-Type": "application/json"})[0]
        check(st == 400, "a malformed notification gets 400 (%s)" % st)
        # the check: only once the fiscal receipt exists, 30 s later, with its values
        fiscal = next(x for x in prov.state()["payments"] if x["id"] == p["id"])
        text = check_and_pdf(tg, u, ["9288000100115785", fiscal["fd"], fiscal["fpd"]], "YooKassa")
        check(time.time() - paid_at >= 29, "the check went out when the receipt came (%.0f s after paying)"
              % (time.time() - paid_at))
        check("100,00" in text or "100 " in text, "the check says the amount (%r)" % text[:80])
        # another amount than the order's: nothing changes
        url2 = pay(u, 200)
        p2 = prov.by_url(url2)
        st = prov.post("settle", {"id": p2["id"], "amount_kopecks": 100, "notify": True})["notified"]
        check(st == 409 and payment(db, url2) == "pending", "a payment the provider holds for another amount is "
                                                            "refused (409) and stays pending")
        # declined; the receipt's email typed with the sum
        u.say("/menu")
        u.expect("menu.main*")
        u.press("pay")
        u.expect("pay.ask_amount")
        u.say("150 ivan@")
        u.expect("pay.email_invalid")
        u.say("150 ivan.petrov@example.ru")
        got = u.expect("pay.preparing", "pay.link", seconds=30)
        url3 = got[-1]["reply_markup"]["inline_keyboard"][0][0]["url"]
        check(prov.by_url(url3)["email"] == "ivan.petrov@example.ru" and prov.by_url(url)["phone"] == "79160001133",
              "the receipt goes to the email typed with the sum, else to the customer's phone")
        prov.post("settle", {"id": prov.by_url(url3)["id"], "outcome": "canceled"})
        u.expect("pay.failed")
        check(payment(db, url3) == "failed", "a canceled payment is declined, and the customer is told")
        # nobody notifies: the poller asks and settles
        url4 = pay(u, 120)
        prov.post("settle", {"id": prov.by_url(url4)["id"], "notify": False})
        u.expect("pay.accepted")
        check(payment(db, url4) == "paid", "a payment without a notification is settled by polling")
        check_and_pdf(tg, u, [], "YooKassa, polled")
        # never paid: expired
        url5 = pay(u, 130)
        u.expect("pay.expired", seconds=40)
        check(payment(db, url5) == "expired", "a payment never paid expires, and the customer is told")
        check(short_link(k, db, url5)[0] == 410 and short_link(k, db, url)[0] == 410,
              "the short link of an expired or paid payment says it no longer works (410)")
        # …and then the bank reports it paid after all: the money moved, so it is credited; the customer is told
        # plainly, once; staff see the anomaly
        prov.post("settle", {"id": prov.by_url(url5)["id"]})
        u.expect("pay.late_paid", "pay.check", seconds=30)
        check(payment(db, url5) == "paid", "money reported for an expired payment is credited (paid)")
        ap = psql(db, "SELECT id FROM kb_appeal WHERE conv = 'tg:%d' AND reason = 'payment'" % u.uid)
        check(ap and psql(db, "SELECT count(*) FROM kb_outbox WHERE conv = 'appeal:%s' AND channel = 'staff'" % ap)
              == "1", "staff see the anomaly: an appeal with reason payment, posted to the staff group (%s)" % ap)
        prov.post("notify", {"id": prov.by_url(url5)["id"]})
        time.sleep(1.5)
        late = [e for e in u.fake.log(u.uid) if is_tmpl(e.get("text", ""), "pay.late_paid")]
        check(len(late) == 1, "the customer hears it once, however often the provider repeats it (%d)" % len(late))
        check(not prov.state()["errors"], "YooKassa refused nothing kabinet sent (%s)" % prov.state()["errors"][:2])
        log = k.stop()
        check(SECRET not in log, "the YooKassa secret key is never logged")
    finally:
        if k.proc.poll() is None:
            k.stop()
        prov.stop()
    return u


# ---------------------------------------------------------------- Sberbank

def sber(tg, db, u):
    k, prov = start(db, tg, "sber", "sber")
    try:
        bills(tg, u)
        prov.post("fail_next", {"n": 1})
        url = pay(u, 100)
        p = prov.by_url(url)
        regs = [r for r in prov.state()["requests"] if r["path"].endswith("/register.do")]
        check(p is not None and len(regs) == 2 and len(prov.state()["payments"]) == 1,
              "a 500 from register.do is retried: one order at the bank (%d calls)" % len(regs))
        st = prov.post("settle", {"id": p["id"]})["notified"]
        u.expect("pay.accepted")
        check(st == 200 and payment(db, url) == "paid", "a callback with its checksum settles (%s)" % st)
        fiscal = next(x for x in prov.state()["payments"] if x["id"] == p["id"])
        check_and_pdf(tg, u, ["0000000400054952", "9999078900004312", fiscal["fd"], fiscal["fpd"]], "Sberbank")
        # forged: a wrong checksum, an unknown order (with a right checksum), another amount
        q = "mdOrder=%s&orderNumber=%s&operation=deposited&status=1&checksum=%s" % (p["id"], p["order"], "AB" * 32)
        check(http("GET", k.url + "/pay/sber/callback?" + q)[0] == 401, "a callback with a wrong checksum gets 401")
        sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
        import fake_payments
        params = {"mdOrder": "00000000-0000-0000-0000-000000000000", "orderNumber": "kb-999999",
                  "operation": "deposited", "status": "1"}
        params["checksum"] = fake_payments.sber_checksum(params, KEY)
        q = "&".join("%s=%s" % kv for kv in params.items())
        check(http("GET", k.url + "/pay/sber/callback?" + q)[0] == 404, "a callback about an unknown order gets 404")
        url2 = pay(u, 200)
        st = prov.post("settle", {"id": prov.by_url(url2)["id"], "amount_kopecks": 100})["notified"]
        check(st == 409 and payment(db, url2) == "pending", "an order paid with another amount is refused (409)")
        url3 = pay(u, 150)
        prov.post("settle", {"id": prov.by_url(url3)["id"], "outcome": "declined"})
        u.expect("pay.failed")
        check(payment(db, url3) == "failed", "a declined order is told to the customer")
        check(not prov.state()["errors"], "Sberbank refused nothing kabinet sent (%s)" % prov.state()["errors"][:2])
        log = k.stop()
        check(SECRET not in log and KEY not in log, "the Sberbank password and callback key are never logged")
    finally:
        if k.proc.poll() is None:
            k.stop()
        prov.stop()


def main():
    run("pay", yookassa, sber)

if __name__ == "__main__":
    main()
