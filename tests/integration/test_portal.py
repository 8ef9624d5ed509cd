#!/usr/bin/env python3
"""The rest of the portal (sql/015_portal.sql) through a real kabinetd, the fake Bot API, the fake SMS gateway
(SMSC.ru) and a real SMTP server (aiosmtpd) with the inbound mail webhook.

channels: a customer registered in Telegram adds an email in Settings (a code mailed to it), then writes БАЛАНС by
email and gets the same balance Telegram shows, without a new code (the address was confirmed); then adds a phone
that another customer — the same person, registered by SMS with their own account — had: the two become one (every
link, reading and consent moves; the other row points to the one kept), and the SMS conversation, told, now speaks
for the merged customer and sees both accounts.
calc: the calculator on a day/night account (tariff city-2): 150,5 kWh by day and 80 by night come to the hand
calculation from the tariff's rates in the database, each zone rounded to the kopeck; letters are refused politely.
history: the ledger, then its chart — a picture in Telegram that is a valid PNG (chunks' CRCs, the zlib stream)
with one bar of charges, one of payments and one point of consumption for each month of the ledger; the account's
history lists the sign-in of the customer, newest first.
business: ООО «Ромашка» signs in by contract number and INN (a wrong pair refused, the code sent to the contract's
phone), sees its two supply points, sends readings for the warehouse meter with ratio 200 (the consumption is the
difference times 200), and gets an акт сверки and an invoice as PDFs whose totals (pdftotext) are the database's
for the period: opening, turnovers and closing from the ledger, the charges' sum and VAT."""
import base64, json, os, re, struct, subprocess, sys, tempfile, time, zlib
from decimal import Decimal, ROUND_HALF_UP

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kbtest  # noqa: E402

kbtest.REDIS_PORT = int(os.environ["KB_TEST_REDIS_PORT"]) + 1400
from kbtest import (TOKEN, Gateway, Kabinetd, Phone, User, check, free_port, http, psql, run, sms_env,  # noqa
                    sms_notify, wait_until)
from mailtest import OUR, Smtp, body, pdf_text  # noqa: E402

HOOK_SECRET = "portal-hook-secret-0123"
kbtest.SECRETS += [HOOK_SECRET, "smtp-password"]


def start(db, tg, smtp, name, extra=None):
    port = free_port()
    env = dict(sms_env("smsc", port), KABINET_SMTP_URL=smtp.url, KABINET_MAIL_FROM="Энергосбыт <%s>" % OUR,
               KABINET_MAIL_WEBHOOK_SECRET=HOOK_SECRET, KABINET_MAIL_AUTHSERV_ID="mx.kabinet.test")
    env.update(extra or {})
    k = Kabinetd(db, tg, "polling", name, env)
    return k, Gateway("smsc", port, sms_notify("smsc", k.url))


class Portal:
    """A phase's kabinetd with the fake SMS gateway and the SMTP server, all stopped however the phase ends."""

    def __init__(self, tg, db, name):
        self.tg, self.db, self.name = tg, db, name

    def __enter__(self):
        self.smtp = Smtp()
        self.k, self.gw = start(self.db, self.tg, self.smtp, self.name)
        return self.k, self.gw, self.smtp

    def __exit__(self, *exc):
        if self.k.proc.poll() is None:
            self.k.stop()
        self.gw.stop()
        self.smtp.stop()


def hook(k, frm, subject, text, mid):
    """A message as the retailer's receiving server passes it on, its From found authentic (dmarc=pass)."""
    ar = "mx.kabinet.test; dmarc=pass header.from=" + frm.split("@")[-1]
    data = {"From": frm, "FromFull": {"Email": frm, "Name": ""}, "To": OUR, "Subject": subject, "TextBody": text,
            "MessageID": "pm-" + mid, "Headers": [{"Name": "Message-ID", "Value": "<%s>" % mid},
                                                  {"Name": "Authentication-Results", "Value": ar}], "Attachments": []}
    h = {"Content-Type": "application/json",
         "Authorization": "Basic " + base64.b64encode(("postmark:" + HOOK_SECRET).encode()).decode()}
    return http("POST", k.url + "/mail/inbound", json.dumps(data).encode(), h)[0]


def sign_in(u, gw, phone, *then):
    """A Telegram user's registration with phone, the code read at the SMS gateway; then the replies then."""
    u.welcome()
    u.send(contact={"phone": phone})
    u.expect("reg.code_sent")
    sms = wait_until(lambda: gw.messages(phone), 15)
    u.say(code_in(sms[-1]["text"]) if sms else "")
    u.expect(*then)


def code_in(text):
    m = re.search(r"\b(\d{6})\b", text)
    return m.group(1) if m else ""


def balance_line(text, number):
    """The balance's line for account number ("Счёт 1800000002: задолженность 1 234,56 ₽.")."""
    for line in text.splitlines():
        if number in line:
            return line.strip()
    return None


def channels(tg, db, _):
    with Portal(tg, db, "portal-channels") as (k, gw, smtp):
        # the same person as account 7's SMS customer, first writing by SMS with their own number
        p = Phone(gw, "+79990000007")
        p.say("БАЛАНС")
        p.expect("reg.consent_sms")
        p.say("1")
        p.until("bal.*")
        old = psql(db, "SELECT customer_id FROM kb_identity WHERE channel = 'sms' AND external_id = '+79990000007'")

        # a customer registered in Telegram with another phone, account 2 linked
        u = User(tg, 7400000001, db)
        sign_in(u, gw, "+79161230001", "reg.done_new", "menu.main*")
        u.press("accounts")
        u.expect("acc.none")
        u.link("1800000002", psql(db, "SELECT holder_surname FROM kb_account WHERE number = '1800000002'"))
        u.press("balance")
        tg_balance = u.expect("bal.*", "menu.main*")[0]["text"]
        me = psql(db, "SELECT customer_id FROM kb_identity WHERE channel = 'tg' AND external_id = '7400000001'")

        # Settings → add an email: a code mailed to it, typed in Telegram
        u.press("settings")
        u.expect("set.show_on")
        u.press("add_email")
        u.expect("set.email_ask_add")
        u.say("Anna@Example.ru")
        u.expect("set.email_code_sent")
        got = smtp.wait("anna@example.ru", 1)
        u.say(code_in(body(got[0][1])) if got else "")
        u.expect("set.email_added", "menu.main*")
        check(psql(db, "SELECT customer_id FROM kb_identity WHERE channel = 'mail' AND external_id = 'anna@example.ru'")
              == me, "the address is the Telegram customer's identity now")

        # БАЛАНС by email: signed in by the confirmed address (no new code), the same balance
        check(hook(k, "anna@example.ru", "БАЛАНС", "", "b1@example.ru") == 200, "the email is taken")
        got = smtp.wait("anna@example.ru", 3)[1:]        # "signed in", then the balance
        text = "\n".join(body(m) for _, m in got)
        line = balance_line(tg_balance, "1800000002")
        check(line is not None and line in text, "by email the same balance as in Telegram (%r in %r)" % (line, text[:300]))
        check(not code_in(text.split("1800000002")[0]), "…with no code asked: the address was confirmed in Settings")

        # Settings → add a phone that was another customer's: the two become one
        u.press("settings")
        u.expect("set.show_on")
        u.press("add_phone")
        u.expect("set.phone_ask")
        u.say("+7 999 000-00-07")
        u.expect("reg.code_sent")
        sms = wait_until(lambda: [m for m in gw.messages("+79990000007") if code_in(m["text"])], 15)
        u.say(code_in(sms[-1]["text"]) if sms else "")
        u.expect("set.address_merged", "menu.main*")
        links = psql(db, "SELECT string_agg(a.number, ',' ORDER BY a.number) FROM kb_account_link l JOIN kb_account a "
                         "ON a.id = l.account_id WHERE l.customer_id = %s AND l.status = 'active'" % me)
        check(links == "1800000002,1800000007", "merged: both accounts are the customer's now (%s)" % links)
        check(psql(db, "SELECT merged_into FROM kb_customer WHERE id = %s" % old) == me,
              "the other customer points to the one kept")
        check(psql(db, "SELECT count(*) FROM kb_consent WHERE customer_id = %s" % old) == "0" and
              psql(db, "SELECT count(*) FROM kb_identity WHERE customer_id = %s" % old) == "0",
              "their identities and consents moved")
        check(psql(db, "SELECT count(*) FROM kb_audit WHERE what = 'customer.merged' AND customer_id = %s" % me) == "1",
              "the merge is in the audit trail")
        # the SMS conversation, told of it, speaks for the merged customer: two accounts to choose from
        p.seen = len(gw.messages("+79990000007"))
        p.say("БАЛАНС")
        p.expect("bal.pick_account")
        k.stop()


def rub(kopecks):
    return "{:,}".format(kopecks // 100).replace(",", " ") + ",%02d ₽" % (kopecks % 100)


def flat(text):
    return re.sub(r"\s", "", text)


def calc(tg, db, _):
    with Portal(tg, db, "portal-calc") as (k, gw, smtp):
        u = User(tg, 7400000002, db)   # the demo customer of account 4: a day/night meter on city-2
        sign_in(u, gw, "+79990000004", "reg.done", "menu.main*")
        u.press("calc")
        u.expect("calc.ask_zone")
        u.say("сто")
        u.expect("calc.invalid")
        u.say("150,5")
        u.expect("calc.ask_zone")
        u.say("80")
        text = u.expect("calc.result", "menu.main*")[0]["text"]
        rates = [Decimal(x) for x in psql(db, "SELECT r.rate FROM kb_tariff_rate r JOIN kb_tariff t ON t.id = "
                                              "r.tariff_id WHERE t.code = 'city-2' ORDER BY r.zone").split()]
        zones = [int((Decimal(kwh) * rate * 100).quantize(Decimal(1), ROUND_HALF_UP))
                 for kwh, rate in zip(("150.5", "80"), rates)]
        check(flat(rub(sum(zones))) in flat(text) and all(flat(rub(z)) in flat(text) for z in zones),
              "two zones: %s + %s = %s, as by hand (%r)" % (rub(zones[0]), rub(zones[1]), rub(sum(zones)), text))
        k.stop()


def png_pixels(data):
    """A PNG decoded by the book (8-bit RGB or RGBA, every filter): (width, height, rows of (r, g, b), compressed
    size); raises when invalid."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "PNG signature"
    at, chunks = 8, {}
    while at < len(data):
        n, kind = struct.unpack(">I4s", data[at:at + 8])
        body = data[at + 8:at + 8 + n]
        assert struct.unpack(">I", data[at + 8 + n:at + 12 + n])[0] == zlib.crc32(kind + body), "CRC of " + kind.decode()
        chunks.setdefault(kind, b"")
        chunks[kind] += body
        at += 12 + n
    w, h, depth, ctype = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert depth == 8 and ctype in (2, 6) and b"IEND" in chunks, "an 8-bit RGB(A) image"
    bpp = 3 if ctype == 2 else 4
    raw, stride, prev, rows = zlib.decompress(chunks[b"IDAT"]), w * bpp, bytearray(w * bpp), []
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(w)])
        prev = line
    return w, h, rows, len(chunks[b"IDAT"])


def runs(cells, color):
    """How many separate runs of color a row (or a column set) has."""
    n, inside = 0, False
    for v in cells:
        if v == color and not inside:
            n += 1
        inside = v == color
    return n


def history(tg, db, _):
    with Portal(tg, db, "portal-history") as (k, gw, smtp):
        u = User(tg, 7400000002, db)   # signed in by the calc phase
        u.cursor = max((e["n"] for e in tg.log(u.uid)), default=0)
        u.say("/menu")
        u.expect("menu.main*")
        u.press("history")
        u.expect("his.kind")
        u.press("h_ledger")
        ledger = u.expect("his.ledger")[0]["text"]
        months = len(ledger.splitlines()) - 1
        u.press("h_chart")
        u.expect("his.chart_wait")
        photo = wait_until(lambda: next((e for e in tg.log(u.uid, u.cursor) if e["op"] == "photo"), None), 20)
        check(photo is not None and "%d" % months in (photo or {}).get("text", ""),
              "the chart comes as a picture with its caption (%r)" % (photo or {}).get("text"))
        data = http("GET", "%s/file/bot%s/photos/%s" % (tg.url, TOKEN, photo["file_id"]))[1] if photo else b""
        try:
            w, h, rows, packed = png_pixels(data)
            ok = True
        except (AssertionError, zlib.error, struct.error, KeyError) as e:
            ok, w, h, rows, packed = False, 0, 0, [], 0
            print("invalid PNG: %r" % e)
        check(ok and (w, h) == (1200, 675) and packed < w * h * 3 / 8,
              "a valid compressed PNG of 1200x675 (%d bytes, %dx%d)" % (len(data), w, h))
        if ok:
            red, green = (0xCD, 0x46, 0x3C), (0x3C, 0xA0, 0x5A)
            plot = rows[120:h - 90]   # below the legend, down to the axis: columns with a bar's colour, in runs
            bars_c = runs([red if any(r[x] == red for r in plot) else 0 for x in range(w)], red)
            bars_p = runs([green if any(r[x] == green for r in plot) else 0 for x in range(w)], green)
            check(bars_c == months and bars_p == months,
                  "one bar of charges and one of payments per month of the ledger (%d months: %d, %d)"
                  % (months, bars_c, bars_p))
            # read as a person would: the title, the legend and the months, by OCR (tesseract's Russian data)
            with tempfile.TemporaryDirectory() as d:
                with open(d + "/chart.png", "wb") as f:
                    f.write(data)
                seen = subprocess.run(["tesseract", d + "/chart.png", "stdout", "-l", "rus+eng"], capture_output=True,
                                      text=True).stdout
            names = [line.split()[0][:3].lower() for line in ledger.splitlines()[1:]]
            found = [m for m in names if m in seen]
            number = psql(db, "SELECT a.number FROM kb_account a JOIN kb_account_link l ON l.account_id = a.id "
                              "JOIN kb_identity i ON i.customer_id = l.customer_id WHERE i.external_id = '%d' "
                              "AND l.is_primary" % u.uid)
            check("начислено" in seen and "оплачено" in seen and "кВт" in seen and number in seen and
                  len(found) >= len(names) - 1 and "₽" in ledger,
                  "the chart reads: its title with the account, the legend, the months in Russian (%s of %s: %r)"
                  % (len(found), len(names), " ".join(seen.split())[:300]))
        u.cursor = max(e["n"] for e in tg.log(u.uid))
        u.press("h_account")
        text = u.expect("his.activity")[0]["text"]
        check("вход (Telegram)" in text, "the account's history has the sign-in in Telegram (%r)" % text[:200])
        k.stop()


def document(tg, u, seconds=20):
    """The next document in the chat: (its log entry, its bytes)."""
    e = wait_until(lambda: next((x for x in tg.log(u.uid, u.cursor) if x["op"] == "document"), None), seconds)
    if e:
        u.cursor = e["n"]
    return e, http("GET", "%s/file/bot%s/documents/%s" % (tg.url, TOKEN, e["file_id"]))[1] if e else b""


def business(tg, db, _):
    with Portal(tg, db, "portal-business") as (k, gw, smtp):
        u = User(tg, 7400000003, db)
        u.welcome()
        u.say("/business")
        u.expect("reg.biz_contract")
        u.say("2600-9999")
        u.expect("reg.biz_inn")
        u.say("2634012345")
        u.expect("reg.biz_not_found", "reg.biz_contract")
        u.say("2600-0001")
        u.expect("reg.biz_inn")
        u.say("12345")
        u.expect("reg.biz_inn")
        u.say("2634012345")
        sent = u.expect("reg.biz_code_sent")
        said = sent[-1].get("text", "") if sent else ""
        check("+7999***0900" in said and "79990000900" not in said,
              "the contract's phone is shown masked to whoever knows a contract and its INN (%r)" % said)
        sms = wait_until(lambda: gw.messages("+79990000900"), 15)
        u.say(code_in(sms[-1]["text"]) if sms else "")
        u.expect("reg.done", "menu.main*")
        biz = psql(db, "SELECT id FROM kb_customer WHERE contract_no = '2600-0001'")
        check(psql(db, "SELECT customer_id FROM kb_identity WHERE channel = 'tg' AND external_id = '7400000003'") == biz,
              "signed in as the business of the contract")
        u.press("accounts")
        text = u.expect("acc.list*")[0]["text"]
        check("Магазин" in text and "Склад" in text, "its two supply points (%r)" % text)
        # readings for the warehouse: ratio 200
        u.say("/menu")
        u.expect("menu.main*")
        u.press("readings")
        u.expect("rd.pick_account")
        u.say("2")
        prev = psql(db, "SELECT r.value FROM kb_reading r JOIN kb_meter m ON m.id = r.meter_id WHERE m.serial = "
                        "'ТТ-000200' AND r.status = 'accepted' ORDER BY r.local_day DESC, r.id DESC LIMIT 1")
        u.expect("rd.ask")
        u.say(str(int(Decimal(prev)) + 100))
        text = u.expect("rd.accepted*", "rd.done", "menu.main*")[0]["text"]
        check("20000" in flat(text) or "20 000" in text, "consumption: 100 on the meter × ratio 200 = 20 000 kWh (%r)" % text)
        check(psql(db, "SELECT consumption FROM kb_reading r JOIN kb_meter m ON m.id = r.meter_id WHERE m.serial = "
                       "'ТТ-000200' AND r.source = 'bot'") in ("20000.000", "20000"), "stored with the ratio applied")
        # the documents of the last three billed months
        last = psql(db, "SELECT max(month) FROM kb_charge")
        first = psql(db, "SELECT (date '%s' - interval '2 months')::date" % last)
        end = psql(db, "SELECT (date '%s' + interval '1 month - 1 day')::date" % last)
        period = "%s-%s" % (".".join(reversed(first.split("-"))), ".".join(reversed(end.split("-"))))
        u.press("docs")
        u.expect("doc.pick_account")
        u.say("2")
        u.expect("doc.ask_period")
        u.say("31.13.2026")
        u.expect("doc.period_invalid")
        u.say(period)
        u.expect("doc.pick")
        u.press("doc_recon")
        u.expect("doc.queued")
        e, pdf = document(tg, u)
        text = pdf_text(pdf) if pdf[:5] == b"%PDF-" else ""
        led = psql(db, "SELECT sum(charged_kopecks), sum(paid_kopecks), (array_agg(opening_kopecks ORDER BY month))[1],"
                       " (array_agg(closing_kopecks ORDER BY month DESC))[1] FROM kb_ledger_rows((SELECT id FROM kb_account"
                       " WHERE number = '2600000002'), '%s', '%s')" % (first, last)).split("|")
        debit, credit, opening, closing = (int(x) for x in led)
        check(e is not None and "Акт сверки" in text, "the акт сверки comes as a PDF (%r)" % (e or {}).get("text"))
        check(flat("дебет %s, кредит %s" % (rub(debit), rub(credit))) in flat(text),
              "its turnovers are the ledger's: debit %s, credit %s" % (rub(debit), rub(credit)))
        check(flat("Сальдо на конец периода: %s" % rub(closing)) in flat(text) and
              flat("Сальдо на начало периода: %s" % rub(opening)) in flat(text),
              "its opening %s and closing %s balances too" % (rub(opening), rub(closing)))
        u.press("doc_invoice")
        u.expect("doc.queued")
        e, pdf = document(tg, u)
        text = pdf_text(pdf) if pdf[:5] == b"%PDF-" else ""
        total = int(psql(db, "SELECT sum(amount_kopecks + correction_kopecks + odn_kopecks) FROM kb_charge c JOIN kb_account"
                             " a ON a.id = c.account_id WHERE a.number = '2600000002' AND c.month BETWEEN '%s' AND '%s'"
                             % (first, last)))
        check(flat("Итого к оплате: %s" % rub(total)) in flat(text), "the invoice's total is the charges' %s" % rub(total))
        k.stop()


if __name__ == "__main__":
    run("portal", channels, calc, history, business)
