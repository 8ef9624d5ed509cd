#!/usr/bin/env python3
"""The Telegram channel end to end: a real kabinetd on a real Redis (its own, so it can be stopped) and PostgreSQL
(demo data), and the fake Bot API server (tests/fakes/fake_telegram.py) as Telegram, playing the users.

Webhook mode, then polling mode with two processes: /start -> share contact -> code (from the SMS the log-only
sender was given) -> link an account -> readings with a rollover confirmation -> balance -> a payment at the fake
provider's page, for users whose ids are
above 2^32. Around it: the webhook's secret (401), a redelivered update (one transition), Redis down (429, then the
retry succeeds), a flood (429 retry_after=3: nothing lost, nothing sent early), a blocked user (403: unreachable,
not retried, reachable after writing), a broadcast at the global limit with a live reply through it, a document
(upload once, then by file_id), a long text with markup characters (split, escaped), notices for what the bot does
not take, forged buttons, the polling lease and its takeover, and a 409 reported. The fake refuses what Telegram
refuses (texts over 4096 characters, bad entities, callback_data over 64 bytes): the run ends with none refused."""
import json, os, re, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kbtest import *  # noqa: F401,F403 (the shared harness)


def scenario(fake, db, uid, phone):
    """Registration to balance and a payment, as a customer does it."""
    u = User(fake, uid, db)
    first = u.welcome()
    check(psql(db, "SELECT count(*) FROM kb_consent WHERE channel = 'tg' AND external_id = '%d' AND version = "
                   "(SELECT value #>> '{}' FROM kb_setting WHERE key = 'legal.version')" % uid) == "1",
          "the consent is stored for the Telegram user with the texts' version")
    kb = (first.get("reply_markup") or {}).get("keyboard", [[{}]])[0][0]
    check(kb.get("request_contact") is True, "the phone step asks for the contact with a reply keyboard")
    u.send(contact={"phone": "+7 916 000-11-22", "forwarded": True})
    u.expect("tg.contact_not_yours")
    u.send(contact={"phone": "+79160001122", "user_id": 42})
    u.expect("tg.contact_not_yours")
    u.send(contact={"phone": phone})
    u.expect("reg.code_sent")
    u.say(u.code())
    done = u.expect("reg.done_new", "menu.main*")
    check((done[0].get("reply_markup") or {}).get("remove_keyboard") is True,
          "the reply keyboard goes away once the phone is taken")
    u.press("accounts")
    e = u.expect("acc.none")[0]
    check(e["op"] == "edit", "menu navigation edits the pressed message (editMessageText)")
    u.link("1800000001", "Петров")
    u.press("readings")
    u.expect("rd.ask")
    u.say("28000")
    u.expect("rd.confirm_rollover")
    u.press("yes")
    u.expect("rd.confirm_large")   # 98 300 kWh past zero: above 50 000 too, asked next
    u.press("yes")
    u.expect("rd.accepted", "rd.done", "menu.main*")
    u.press("balance")
    u.expect("bal.*", "menu.main*")
    # paying: a sum typed, the link as a URL button, paid at the fake provider's page, "payment accepted" in the chat
    link = pay_link(u, fake, uid, "100")
    st = http("POST", link["url"] + "/pay", b"")[0]
    u.expect("pay.accepted", "pay.check")
    check(st == 200 and "/pay/fake/" in link["url"], "the payment link is a URL button; paying there brings "
                                                     "'payment accepted' to Telegram")
    # declined at the page, then "Pay" on the same page: refused, as a provider's canceled is final
    u.say("/menu")
    u.expect("menu.main*")
    link = pay_link(u, fake, uid, "200")
    st = http("POST", link["url"] + "/decline", b"")[0]
    u.expect("pay.failed")
    again = http("POST", link["url"] + "/pay", b"")[0]
    time.sleep(1)
    heard = [e for e in fake.log(uid, u.cursor) if e["op"] in ("send", "edit")]
    check(st == 200 and again == 410 and not heard and
          psql(db, "SELECT status FROM kb_payment WHERE amount_kopecks = 20000") == "failed",
          "after «Отказаться» the page's «Оплатить» is refused (410): the payment stays declined, nothing more is said "
          "(%s, %s, %r)" % (st, again, [e.get("text", "")[:40] for e in heard]))
    n = psql(db, "SELECT count(*) FROM kb_reading r JOIN kb_meter m ON m.id = r.meter_id JOIN kb_account a ON "
                 "a.id = m.account_id WHERE a.number = '1800000001' AND r.source = 'bot'")
    check(n == "1", "the reading was stored once (%s)" % n)
    ident = psql(db, "SELECT external_id FROM kb_identity WHERE channel = 'tg'")
    check(str(uid) in ident.split("\n"), "the Telegram identity keeps the 64-bit user id exactly (%s)" % ident)
    return u


def pay_link(u, fake, uid, amount):
    """Pay from the menu with a typed sum: the payment link's URL button."""
    u.press("pay")
    u.expect("pay.ask_amount")
    u.say(amount)
    u.expect("pay.preparing", "pay.link")
    return fake.log(uid)[-1]["reply_markup"]["inline_keyboard"][0][0]


def per_chat_pacing(fake, uid):
    """A burst of 3, then 1 a second: any 4 consecutive messages to one chat span a second or more."""
    t = [e["t"] for e in fake.log(uid) if e["op"] in ("send", "document")]
    worst = min([t[i + 3] - t[i] for i in range(len(t) - 3)] or [9])
    check(worst >= 0.95, "per-chat limit held: 4 consecutive messages span >= 1 s (shortest %.2f s)" % worst)


def push(db, uid, payload, lane=1, key=None):
    key = key or "push-%d-%f" % (uid, time.time())
    psql(db, "SELECT kb_outbox_put('tg:%d', 'tg', %d, '%s', 0, "
             "'%s'::jsonb)" % (uid, lane, key, json.dumps(payload, ensure_ascii=False).replace("'", "''")))


# ---------------------------------------------------------------- webhook mode

def webhook_mode(redis, fake):
    db = new_db("t_tg_hook_%d" % os.getpid())
    k = Kabinetd(db, fake, "webhook", "hook", {"KABINET_HTTP_OUT_TIMEOUT_MS": "1500"})
    try:
        reg = wait_until(lambda: fake.state()["set_webhook"], 10)
        check(reg and reg[0]["secret_token"] == SECRET and reg[0]["url"].endswith("/telegram/webhook") and
              set(reg[0]["allowed_updates"]) == {"message", "edited_message", "callback_query", "chat_member"} and
              reg[0]["max_connections"], "setWebhook at start with the secret, allowed_updates, max_connections")
        u = scenario(fake, db, 5000000001, "+79165550101")
        per_chat_pacing(fake, u.uid)

        # the secret
        hook = k.url + "/telegram/webhook"
        body = json.dumps(update_json(777000111, 1, "/start")).encode()
        st1 = http("POST", hook, body)[0]
        st2 = http("POST", hook, body, {"Content-Type": "application/json",
                                        "X-Telegram-Bot-Api-Secret-Token": "wrong"})[0]
        time.sleep(0.5)
        rows = psql(db, "SELECT count(*) FROM kb_outbox WHERE conv = 'tg:777000111'")
        check(st1 == 401 and st2 == 401 and rows == "0", "no or a wrong secret: 401 and nothing changes (%s %s, %s "
                                                         "rows)" % (st1, st2, rows))
        good = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}
        st = http("POST", hook, b"{not json", good)[0]
        check(st == 400, "malformed JSON: 400 (%s)" % st)
        st = http("POST", hook, b'{"no_update_id": 1}', good)[0]
        check(st == 400, "JSON that is not an update: 400 (%s)" % st)

        # the same update twice: one transition
        fake.post("chat", {"id": 777000222})
        body = json.dumps(update_json(777000222, 900001, "/start")).encode()
        a, b = http("POST", hook, body, good)[0], http("POST", hook, body, good)[0]
        time.sleep(1.0)
        n = len([e for e in fake.log(777000222)])
        applied = psql(db, "SELECT count(*) FROM kb_applied WHERE conv = 'tg:777000222'")
        check(a == 200 and b == 200 and n == 1 and applied == "1",
              "an update delivered twice: 200 both times, one transition, one reply (%s %s, %d, %s)" % (a, b, n, applied))

        # notices: edited, sticker, a big file, a group; forged and stale buttons
        u.say("исправил", edited=True)
        u.expect("tg.edited")
        u.send(sticker=True)
        u.expect("tg.unsupported")
        u.send(document={"size": 3 * 1024 * 1024, "name": "big.pdf"})
        u.expect("tg.file_too_big")
        fake.post("message", {"user_id": uid_group_member, "chat": {"id": -1001234567890, "type": "supergroup"},
                              "text": "/start@kabinet_test_bot"})
        g = wait_until(lambda: fake.log(-1001234567890), 10)
        check(g and is_tmpl(g[0]["text"], "tg.private_only") and g[0]["chat"] == -1001234567890,
              "a command in a supergroup gets the private-only notice in that chat (id -1001234567890 exact)")
        mid, data = u.button("readings")
        forged = fake.post("press", {"user_id": u.uid, "message_id": mid, "data": "not a button!"})
        time.sleep(1.0)
        cb = fake.state()["callbacks"].get(forged["callback_query_id"], {})
        check(cb.get("answered") == 1 and cb.get("text") == lit("tg.button_invalid") and not fake.log(u.uid, u.cursor),
              "forged callback_data: answered with a notice, nothing else happens")
        fake.post("press", {"user_id": u.uid, "message_id": mid, "data": "1:readings"})
        u.expect("common.stale_menu", "menu.main*")
        unanswered = [q for q, v in fake.state()["callbacks"].items() if not v.get("answered")]
        check(not unanswered, "every button press was answered with answerCallbackQuery (%d not)" % len(unanswered))

        # a long text with markup characters: split below 4096, escaped
        long_text = ("<b>Петров & сын</b> 1 < 2 > 0 " * 400).strip()
        push(db, u.uid, {"tmpl": "demo.echo", "params": {"text": long_text}}, lane=0)
        parts = []
        wait_until(lambda: parts.extend(e for e in fake.log(u.uid, u.cursor) if e["n"] > (parts[-1]["n"] if parts else 0))
                   or len(parts) >= 4, 15)
        joined = "".join(e["text"] for e in parts)
        check(len(parts) >= 3 and all(len(e["text"]) <= 4096 for e in parts) and
              joined.replace(" ", "") == ("Вы написали: " + long_text).replace(" ", ""),
              "a %d-character text goes as %d messages under 4096, markup characters shown as typed"
              % (len(long_text), len(parts)))
        u.cursor = parts[-1]["n"] if parts else u.cursor

        # a button id too long for callback_data is left out, never sent
        push(db, u.uid, {"tmpl": "menu.main", "buttons": ["x" * 70, "menu"], "ver": 1}, lane=0)
        e = u.expect("menu.main")[0]
        datas = [b["callback_data"] for row in e["reply_markup"]["inline_keyboard"] for b in row]
        check(datas == ["1:menu"], "callback_data over 64 bytes is left out (%s)" % datas)

        # a document: uploaded once, then sent by file_id
        pdf = open(os.path.join(ROOT, "tests", "fixtures", "receipt.pdf"), "rb").read()
        fid = psql(db, "SELECT kb_file_add('receipt-1.pdf', 'application/pdf', decode('%s', 'hex'))" % pdf.hex())
        for i in range(2):
            push(db, u.uid, {"tmpl": "common.help", "document": {"file": int(fid)}}, lane=0, key="doc%d" % i)
        docs = u.expect("common.help", "common.help")
        check(docs[0]["op"] == "document" and docs[0]["uploaded"] and docs[0]["head"] == "%PDF-" and
              docs[0]["size"] == len(pdf) and docs[1]["op"] == "document" and not docs[1]["uploaded"],
              "sendDocument: the PDF uploaded once (%s bytes), then reused by file_id" % docs[0].get("size"))
        # staff fetch a file a customer sent, by its file_id (getFile, then the download)
        env = dict(os.environ, KABINET_TELEGRAM_TOKEN=TOKEN, KABINET_TELEGRAM_API_URL=fake.url)
        got = subprocess.run([KABINETD, "tg-file", docs[0]["file_id"]], env=env, capture_output=True)
        bad = subprocess.run([KABINETD, "tg-file", "AgACunknown"], env=env, capture_output=True)
        check(got.returncode == 0 and got.stdout == pdf and bad.returncode == 1 and b"getFile refused" in bad.stderr
              and TOKEN.encode() not in bad.stderr, "kabinetd tg-file fetches a file by file_id (%d bytes); an "
              "unknown one is refused clearly (%r)" % (len(got.stdout), bad.stderr.strip()[:80]))

        # a send whose answer comes too late: retried, the customer may read it twice, and it is counted
        fake.post("slow", {"count": 1, "seconds": 3})
        u.say("/help")
        u.expect("common.help", "common.help", seconds=20)
        m = http("GET", k.url + "/metrics")[1].decode()
        dups = re.search(r"^kb_tg_possible_duplicates_total (\d+)", m, re.M)
        check(dups and int(dups.group(1)) >= 1, "a timed-out send is retried with the same content and counted "
                                                "(kb_tg_possible_duplicates_total %s)" % (dups.group(1) if dups else "-"))

        # Redis down: 429, and the update succeeds when Telegram's retry comes back
        redis.stop()
        sent = u.say("/menu")
        wait_until(lambda: 429 in fake.state()["deliveries"].get(str(sent["update_id"]), []), 15)
        tries = fake.state()["deliveries"].get(str(sent["update_id"]), [])
        check(429 in tries and 200 not in tries, "with Redis down the webhook answers 429 (%s)" % tries)
        redis.start()
        u.expect("menu.main*", seconds=30)
        # the reply may reach Telegram before the 200 does (the engine takes the update as soon as it is queued)
        wait_until(lambda: fake.state()["deliveries"].get(str(sent["update_id"]), [0])[-1] == 200, 10)
        tries = fake.state()["deliveries"].get(str(sent["update_id"]), [])
        check(tries[-1] == 200, "the retry succeeds once Redis is back (%s)" % tries)

        # Telegram's front fails (502, an HTML page): the reply is retried after a backoff and arrives once
        fake.post("fail", {"count": 2, "status": 502})
        u.say("/help")
        u.expect("common.help", seconds=20)
        time.sleep(1.0)
        n502 = len([x for x in fake.state()["errors"] if x["code"] == 502])
        check(n502 == 2 and not fake.log(u.uid, u.cursor), "502 twice: retried with backoff, delivered once (%d)" % n502)

        # a flood: 429 retry_after=3 for a while; nothing lost, nothing sent before the 3 s
        fake.post("flood", {"seconds": 4, "retry_after": 3})
        for _ in range(3):
            u.say("/help")
        u.expect("common.help", "common.help", "common.help", seconds=40)
        s = fake.state()
        check(s["flood_answers"] >= 1 and s["violations"] == 0,
              "flood: every reply arrives, none before retry_after passed (%d 429s, %d early)"
              % (s["flood_answers"], s["violations"]))

        # blocked: 403 marks unreachable, no retry; writing again makes reachable
        fake.post("block", {"user_id": u.uid})
        before = len([x for x in fake.state()["errors"] if x["code"] == 403])
        push(db, u.uid, {"tmpl": "common.help"}, lane=1)
        wait_until(lambda: psql(db, "SELECT dead FROM kb_outbox WHERE conv = 'tg:%d' ORDER BY id DESC LIMIT 1"
                                % u.uid) == "t", 15)
        time.sleep(2.5)
        n403 = len([x for x in fake.state()["errors"] if x["code"] == 403]) - before
        reach = psql(db, "SELECT reachable FROM kb_identity WHERE channel = 'tg' AND external_id = '%d'" % u.uid)
        check(n403 == 1 and reach == "f", "a blocked user: one 403, not retried, marked unreachable (%d, %s)"
              % (n403, reach))
        fake.post("block", {"user_id": u.uid, "blocked": False})
        u.say("/menu")
        u.expect("menu.main*")
        reach = psql(db, "SELECT reachable FROM kb_identity WHERE channel = 'tg' AND external_id = '%d'" % u.uid)
        check(reach == "t", "reachable again after writing (%s)" % reach)

        # a broadcast at the global limit; a live reply still goes out within a second
        ids = list(range(880000001, 880000151))
        for i in ids:
            fake.post("chat", {"id": i})
        psql(db, "SELECT kb_outbox_put('tg:' || i, 'tg', 1, "
                 "'bc', 0, '{\"tmpl\": \"common.help\"}') FROM generate_series(880000001, 880000150) i")
        time.sleep(2.0)
        t0 = time.time()
        u.say("/menu")
        e = u.expect("menu.main*", seconds=10)[0]
        check(e["t"] - t0 < 1.0, "during the broadcast a live reply goes out in %.2f s" % (e["t"] - t0))
        wait_until(lambda: len([x for x in fake.log() if x["chat"] in ids]) >= 150, 20)
        times = sorted(x["t"] for x in fake.log() if x["chat"] in ids)
        peak = max(len([t for t in times if s0 <= t < s0 + 1.0]) for s0 in times)
        span = times[-1] - times[0] if times else 0
        check(len(times) == 150 and peak <= 31 and span >= 4.0,
              "the broadcast: 150 of 150 sent, at most %d in any second (limit 30), over %.1f s" % (peak, span))
    finally:
        k.stop()
    return db


uid_group_member = 5000000001


# ---------------------------------------------------------------- polling mode

def polling_mode(redis, fake):
    db = new_db("t_tg_poll_%d" % os.getpid())
    http("POST", fake.url + "/bot%s/deleteWebhook" % TOKEN, {})  # as an operator does when leaving webhook mode
    a = Kabinetd(db, fake, "polling", "pollA")
    b = Kabinetd(db, fake, "polling", "pollB")
    try:
        time.sleep(2.0)
        holders = [p for p in (a, b) if "this process polls Telegram now" in p.log_text()]
        check(len(holders) == 1, "two processes, one polls (%d hold the lease)" % len(holders))
        u = scenario(fake, db, 6000000002, "+79165550202")
        check(fake.state()["conflicts"] == 0, "no two getUpdates at once (%d conflicts)" % fake.state()["conflicts"])
        # Redis goes away while a poll is out: the update is not confirmed, and is handled once Redis is back
        redis.stop()
        u.say("/menu")
        time.sleep(2.0)
        check(fake.state()["pending"] >= 1, "with Redis down the polled update stays unconfirmed (offset kept)")
        redis.start()
        u.expect("menu.main*", seconds=30)
        time.sleep(1.5)
        check(not fake.log(u.uid, u.cursor) and fake.state()["pending"] == 0,
              "once Redis is back it is handled exactly once and confirmed")
        # the holder dies: the other takes over
        dead = holders[0] if holders else a
        other = b if dead is a else a
        dead.kill9()
        t0 = time.time()
        u.say("/help")
        u.expect("common.help", seconds=20)
        check("this process polls Telegram now" in other.log_text(),
              "after kill -9 of the poller the other process polls (reply after %.1f s)" % (time.time() - t0))
        # a webhook set elsewhere: 409, reported
        polls = fake.state()["calls"].get("getUpdates", 0)
        http("POST", fake.url + "/bot%s/setWebhook" % TOKEN, {"url": "https://example.invalid/hook"})
        wait_until(lambda: "409" in other.log_text(), 30)
        ok409 = "409" in other.log_text() and "webhook" in other.log_text()
        check(ok409, "a 409 from getUpdates is reported clearly")
        if not ok409:  # what the pollers did meanwhile, for whoever reads a failed run
            print("   getUpdates calls since setWebhook: %d; errors: %s" % (
                fake.state()["calls"].get("getUpdates", 0) - polls,
                [x for x in fake.state()["errors"] if x["method"] == "getUpdates"][-3:]))
            for p in (dead, other):
                print("   %s: %s" % (p.logf.name, "\n     ".join(l for l in p.log_text().splitlines()[-40:] if '"tg"' in l
                                                        or '"kv"' in l)))
        http("POST", fake.url + "/bot%s/deleteWebhook" % TOKEN, {})
    finally:
        for p in (a, b):
            if p.proc.poll() is None:
                p.stop()
    return db


def main():
    redis = Redis()
    redis.start()
    fake = Fake()
    dbs = []
    try:
        dbs.append(webhook_mode(redis, fake))
        dbs.append(polling_mode(redis, fake))
    except Exception as e:  # a failed expectation stops the scenario; the failure is already reported
        FAILS.append("stopped: %r" % e)
        print("FAIL stopped: %r" % e)
    finally:
        refused = [x for x in fake.state()["errors"] if x["code"] == 400 and not
                   x["method"] == "getFile" or re.search("message is not modified|query is too old", x["description"])]
        check(not refused, "Telegram refused nothing kabinet sent (%s)" % refused[:3])
        fake.stop()
        redis.stop()
        redis.cluster_checks()
        for d in dbs:
            psql("postgres", "DROP DATABASE IF EXISTS %s WITH (FORCE)" % d)
    finish()

if __name__ == "__main__":
    main()
