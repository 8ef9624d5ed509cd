#!/usr/bin/env python3
"""Notifications (sql/014_notify.sql, src/notify.c, src/scheduler.c) through real kabinetd processes on a fake clock
(KABINET_FAKE_CLOCK: kb_setting test.clock), with the fake Bot API as Telegram and the log gateway for SMS.

rules: readings reminders go inside the window, once per customer and month, never in the quiet hours of the
account's clock (Абакан UTC+7 and Ставрополь UTC+3 at the same instant), not to a customer who opted out, not to one
who sent readings meanwhile; the reminder's button leads to the readings dialog; verification, debt, bill and
payment-credited notices each once. two: two processes share the jobs and run each once. broadcast: 2,000
Telegram customers at a raised rate, never above it in any second, while a live reply goes out within a second;
paused, nothing goes; resumed, it completes. kill: a paid broadcast killed with -9 half-way resumes in a new process
without resending what was sent. sms_cap: SMS pushes stop at the day's cost cap."""
import json, os, subprocess, sys, time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kbtest  # noqa: E402

kbtest.REDIS_PORT = int(os.environ["KB_TEST_REDIS_PORT"]) + 1300
from kbtest import APP_PG_PORT, KABINETD, PG_PORT, Kabinetd, User, check, is_tmpl, new_db, psql, run, wait_until  # noqa: E402

NOTIFY = {"KABINET_NOTIFY": "on", "KABINET_FAKE_CLOCK": "on", "KABINET_SCHED_TICK_MS": "200"}
PLANNERS = ["plan.reading", "plan.verify", "plan.debt", "plan.bill", "plan.credited"]


def url(db):
    return "hostaddr=127.0.0.1 port=%d user=postgres dbname=%s" % (APP_PG_PORT, db)


def cli(db, *args, env=None):
    e = dict(os.environ, KABINET_DATABASE_URL=url(db), **(env or {}))
    out = subprocess.run([KABINETD, "notify"] + list(args), env=e, capture_output=True, text=True)
    return out.returncode, out.stdout + out.stderr


def set_clock(db, at):
    """Moves the fake clock. Moved back (a test's own time travel), the jobs start their schedule afresh."""
    psql(db, "INSERT INTO kb_setting (key, value) VALUES ('test.clock', to_jsonb('%s'::text)) "
             "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value; "
             "UPDATE kb_job SET next_run_at = '-infinity', run_due_at = NULL, cursor = 0 WHERE next_run_at > '%s'"
             % (at, at))


def ran_at(db, job, at):
    """Waits until job has run with the clock at `at` (its last run)."""
    return wait_until(lambda: psql(db, "SELECT 1 FROM kb_job WHERE name = '%s' AND last_run_at = '%s'" % (job, at)), 15)


def month_after(m, k):
    y, mo = int(m[:4]), int(m[5:7]) + k
    return "%04d-%02d" % (y + (mo - 1) // 12, (mo - 1) % 12 + 1)


# ООО «Ромашка» (demo data) has no chat: its pushes go by SMS to its contract's phone, one for each supply point
BIZ = "sms:+79990000900"
BIZ_POINTS = {BIZ + "/2600000001", BIZ + "/2600000002"}


def pushes(db, tmpl):
    """{conv: count} of the outbox's pushes of template tmpl (the business's: {conv/account: count})."""
    rows = psql(db, "SELECT conv || CASE WHEN conv = '%s' THEN '/' || (payload->'params'->>'account') ELSE '' END, "
                    "count(*) FROM kb_outbox WHERE lane = 1 AND event_id LIKE 'notice:%%' "
                    "AND payload->>'tmpl' = '%s' GROUP BY 1" % (BIZ, tmpl))
    return {r.split("|")[0]: int(r.split("|")[1]) for r in rows.splitlines() if r}


def settled(db, seconds=40):
    """Waits until what is due at this clock is out: the outbox's pushes are sent, and a dispatcher step that began
    after that picked nothing more (each step moves only a few seconds' worth of a lane's rate)."""
    unsent = "SELECT count(*) FROM kb_outbox WHERE lane = 1 AND sent_at IS NULL AND NOT dead"
    runs = "SELECT runs FROM kb_job WHERE name = 'dispatch'"
    deadline = time.time() + seconds
    while time.time() < deadline:
        if not wait_until(lambda: psql(db, unsent) == "0", max(deadline - time.time(), 0.1)):
            return False
        r = int(psql(db, runs))
        wait_until(lambda: int(psql(db, runs)) >= r + 2, max(deadline - time.time(), 0.1))
        if psql(db, "SELECT last_result->>'picked' FROM kb_job WHERE name = 'dispatch'") == "0" and \
                psql(db, unsent) == "0":
            return True
    return False


def sms_conv(g):
    return "sms:+7999%07d" % g


def conv(g):
    """Where the demo customer of account g hears from us: the first twenty by SMS, the rest in Telegram."""
    return sms_conv(g) if g <= 20 else "tg:%d" % (5000000000 + g)


# ---------------------------------------------------------------- rules

def rules(tg, db, _):
    last = psql(db, "SELECT to_char(max(month), 'YYYY-MM') FROM kb_charge")
    r = month_after(last, 2)             # a month with no readings yet
    for j in PLANNERS[1:]:
        rc, out = cli(db, "pause", j)
        check(rc == 0 and "paused" in out, "kabinetd notify pause %s: %s" % (j, out.strip()))
    psql(db, "UPDATE kb_customer SET notifications = false WHERE phone = '+79990000003'")   # opted out (Абакан)
    set_clock(db, "%s-14T07:00:00Z" % r)
    tg.post("chat", {"ids": [5000000000 + g for g in range(21, 31)]})   # the demo Telegram customers
    k = Kabinetd(db, tg, "polling", "notify-rules", NOTIFY)
    try:
        # a Telegram customer: the one of account 1 (Абакан), signed in here with their phone: pushes go to Telegram
        u = User(tg, 7300000001, db)
        u.welcome()
        u.send(contact={"phone": "+79990000001"})
        u.expect("reg.code_sent")
        u.say(u.code())
        u.expect("reg.done", "menu.main*")
        ran_at(db, "plan.reading", "%s-14 07:00:00+00" % r)
        check(psql(db, "SELECT count(*) FROM kb_notice WHERE kind = 'reading'") == "0",
              "the 14th: before the window, no readings reminder")

        # the 15th at 03:00 UTC: 10:00 in Абакан, 06:00 in Ставрополь
        set_clock(db, "%s-15T03:00:00Z" % r)
        ran_at(db, "plan.reading", "%s-15 03:00:00+00" % r)
        settled(db)
        time.sleep(1)
        sent = pushes(db, "notify.reading")
        want_khk = {conv(g) for g in range(5, 30, 2)} | {"tg:7300000001"}   # odd: Абакан; 3 opted out
        check(set(sent) == want_khk and all(v == 1 for v in sent.values()),
              "10:00 in Абакан, 06:00 in Ставрополь: one reminder to each Абакан customer (%d), none to Ставрополь, "
              "none to the one who opted out (%s)" % (len(sent), sorted(set(sent) ^ want_khk)[:4]))
        waiting = psql(db, "SELECT count(*) FROM kb_notice n JOIN kb_account a ON a.id = n.account_id JOIN kb_branch b "
                           "ON b.id = a.branch_id WHERE n.kind = 'reading' AND n.state = 'pending' AND b.code = 'stv'")
        check(waiting == "14", "Ставрополь's reminders wait for 09:00 there (%s waiting: 12 people, 2 supply points)"
              % waiting)
        got = [e for e in tg.log(u.uid) if e["op"] == "send" and is_tmpl(e.get("text", ""), "notify.reading")]
        check(len(got) == 1 and "1800000001" in got[0]["text"],
              "the Telegram customer reads the reminder (%r)" % [e.get("text") for e in tg.log(u.uid)][-2:])
        # its button leads to the readings dialog, wherever the customer was
        u.cursor = got[-1]["n"]
        u.press("readings")
        u.expect("rd.ask")
        u.say("30500")
        u.expect("rd.accepted*", "rd.done", "menu.main*")
        # where pushes go: "here" from the settings of a chat
        u.press("settings")
        u.expect("set.show_on")
        u.press("notify_here")
        u.expect("set.notify_here", "menu.main*")
        check(psql(db, "SELECT notify_channel FROM kb_customer WHERE phone = '+79990000001'") == "tg",
              "Settings → Notifications here: the customer's pushes come to Telegram")

        # a Ставрополь customer sends readings before their morning: their reminder is not sent
        psql(db, "INSERT INTO kb_reading (meter_id, zone, value, local_day, source, customer_id) "
                 "SELECT m.id, z, 99999, '%s-15', 'bot', l.customer_id FROM kb_meter m JOIN kb_account a ON a.id = m.account_id "
                 "JOIN kb_account_link l ON l.account_id = a.id, generate_series(1, m.zones) z WHERE a.number = '1800000004'" % r)
        set_clock(db, "%s-15T07:00:00Z" % r)
        ran_at(db, "dispatch", "%s-15 07:00:00+00" % r)
        settled(db)
        time.sleep(1)
        sent = pushes(db, "notify.reading")
        want_stv = {conv(g) for g in (2, 6, 8, 12, 14, 16, 18, 22, 24, 26, 28)} | BIZ_POINTS   # 10, 20, 30: no meter
        check(set(sent) == want_khk | want_stv and all(v == 1 for v in sent.values()),
              "10:00 in Ставрополь: its customers' reminders go, each once (%s)" % sorted(set(sent) ^ (want_khk | want_stv))[:4])
        check(psql(db, "SELECT why FROM kb_notice n JOIN kb_account a ON a.id = n.account_id WHERE n.kind = 'reading' "
                       "AND a.number = '1800000004'") == "done", "account 4 sent readings: its reminder is skipped")
        tg_khk = [g for g in (21, 23, 25, 27, 29)]
        got = {g: len([e for e in tg.log(5000000000 + g) if is_tmpl(e.get("text", ""), "notify.reading")]) for g in tg_khk}
        check(all(v == 1 for v in got.values()), "the Telegram customers of Абакан got theirs once (%s)" % got)

        # the next day and the next hours: nobody again; the next month: again, once
        for at in ("%s-16T07:00:00Z" % r, "%s-20T12:00:00Z" % r):
            set_clock(db, at)
            ran_at(db, "plan.reading", at.replace("T", " ").replace("Z", "+00"))
        settled(db)
        again = {c: n for c, n in pushes(db, "notify.reading").items() if n > 1}
        check(not again, "a reminder goes once per customer and month (%d twice)" % len(again))
        r2 = month_after(r, 1)
        psql(db, "UPDATE kb_customer SET notify_channel = 'sms' WHERE phone = '+79990000001'")   # as if chosen by SMS
        set_clock(db, "%s-16T07:00:00Z" % r2)
        ran_at(db, "plan.reading", "%s-16 07:00:00+00" % r2)
        settled(db)
        time.sleep(1)
        sent = pushes(db, "notify.reading")
        check(sent.get(sms_conv(2)) == 2 and sent.get(sms_conv(4)) == 1 and sent.get(sms_conv(3)) is None,
              "the next month's window: reminded again, once (%s, %s)" % (sent.get(sms_conv(2)), sent.get(sms_conv(4))))
        check(sent.get(sms_conv(1)) == 1 and sent.get("tg:7300000001") == 1,
              "…in the channel the customer chose: account 1's by SMS this time (%s)" % sent.get(sms_conv(1)))

        # the other notices, each once: verification, debt, new bill, payment credited
        for j in PLANNERS[1:]:
            cli(db, "resume", j)
        at = "%s-16T07:30:00Z" % r2
        set_clock(db, at)
        ran_at(db, "plan.verify", at.replace("T", " ").replace("Z", "+00"))
        settled(db)
        passed, soon = pushes(db, "notify.verify_passed"), pushes(db, "notify.verify_soon")
        exp = psql(db, "SELECT string_agg(a.number, ',' ORDER BY a.number) FROM kb_meter m JOIN kb_account a ON "
                       "a.id = m.account_id JOIN kb_account_link l ON l.account_id = a.id JOIN kb_customer c ON "
                       "c.id = l.customer_id WHERE c.notifications AND m.verify_by < '%s-16'::date + 90" % r2)
        check(sum(passed.values()) + sum(soon.values()) == len(exp.split(",")) and
              all(v == 1 for v in list(passed.values()) + list(soon.values())),
              "verification: one warning per meter due within 90 days or passed (%d + %d for %s)"
              % (len(passed), len(soon), exp))
        set_clock(db, "%s-17T07:30:00Z" % r2)
        ran_at(db, "plan.verify", "%s-17 07:30:00+00" % r2)
        settled(db)
        check(pushes(db, "notify.verify_passed") == passed, "…and not again the next day (once a month)")

        # debts: ten days after the bill, above the threshold; the bill notice itself within its days
        bill_day = month_after(last, 1)
        at = "%s-11T07:00:00Z" % bill_day
        set_clock(db, at)
        ran_at(db, "plan.debt", at.replace("T", " ").replace("Z", "+00"))
        # due ten days after each account's own last bill: late on a 31st of December the eastern branch has
        # December's bill already and the western not yet, so only accounts whose last bill is `last` are due now
        owing = psql(db, "SELECT string_agg(a.number, ',' ORDER BY a.number) FROM kb_account a JOIN kb_account_link l "
                         "ON l.account_id = a.id AND l.status = 'active' JOIN kb_customer c ON c.id = l.customer_id "
                         "AND c.notifications CROSS JOIN kb_account_money(a.id) m WHERE m.balance_kopecks > 50000 "
                         "AND (SELECT max(month) FROM kb_charge h WHERE h.account_id = a.id) = '%s-01'" % last)
        settled(db)
        debts = pushes(db, "notify.debt")
        check(owing and len(debts) == len(owing.split(",")) and all(v == 1 for v in debts.values()),
              "a debt notice to each customer owing more than 500 ₽, once (%s: %s)" % (owing, sorted(debts)))
        if "2600000001" in owing:   # the business owes while its last month is unpaid (the 1st to the 10th)
            check(BIZ_POINTS <= set(debts), "a business without a chat hears of its debts at its contract's phone")
        text = psql(db, "SELECT payload::text FROM kb_outbox WHERE payload->>'tmpl' = 'notify.debt' LIMIT 1")
        check('"amount"' in text, "the debt notice names the amount")
        at = "%s-02T07:00:00Z" % bill_day
        set_clock(db, at)
        ran_at(db, "plan.bill", at.replace("T", " ").replace("Z", "+00"))
        # each branch bills by its own calendar: late on a month's last day (UTC) the branches east of Moscow have
        # the month's bill already and the others not yet, so only accounts whose last bill is `last` are due now
        want = int(psql(db, "SELECT count(*) FROM kb_customer c JOIN kb_account_link l ON l.customer_id = c.id AND "
                            "l.status = 'active' WHERE notifications AND (c.kind = 'business' OR EXISTS (SELECT 1 FROM "
                            "kb_identity i WHERE i.customer_id = c.id AND i.reachable)) AND (SELECT max(month) FROM "
                            "kb_charge h WHERE h.account_id = l.account_id) = '%s-01'" % last))
        settled(db)
        bills = pushes(db, "notify.bill")
        check(len(bills) == want and all(v == 1 for v in bills.values()),
              "a new bill: one notice to each customer with notifications on, for each account (%d of %d)"
              % (len(bills), want))
        # a payment credited now: everyone linked to the account hears of it, once
        psql(db, "INSERT INTO kb_payment (account_id, amount_kopecks, source, status, paid_at, credited_at) "
                 "SELECT id, 123456, 'bank', 'credited', now() - interval '1 day', now() "
                 "FROM kb_account WHERE number = '1800000002'")
        at = time.strftime("%Y-%m-%dT07:00:00Z", time.gmtime())
        set_clock(db, at)
        ran_at(db, "plan.credited", at.replace("T", " ").replace("Z", "+00"))
        settled(db)
        told = psql(db, "SELECT n.conv, count(o.id) FROM kb_notice n JOIN kb_payment p ON n.key = 'credited:' || p.id "
                        "LEFT JOIN kb_outbox o ON o.event_id = 'notice:' || n.id WHERE p.amount_kopecks = 123456 "
                        "GROUP BY n.conv")
        check(told == sms_conv(2) + "|1", "a payment credited: the account's customer is told once (%s)" % told)
        rc, out = cli(db, "status")
        check(rc == 0 and "plan.reading" in out and "notices" in out, "kabinetd notify status shows jobs and notices")
        k.stop()
    finally:
        if k.proc.poll() is None:
            k.stop()
    return r


# ---------------------------------------------------------------- two processes

def two(tg, db, r):
    r3 = month_after(r, 2)
    a = Kabinetd(db, tg, "polling", "notify-a", NOTIFY)
    b = Kabinetd(db, tg, "polling", "notify-b", dict(NOTIFY, KABINET_SCHED_TICK_MS="130"))   # out of step with a
    try:
        since = psql(db, "SELECT now()")
        hours = ["%s-15T%02d:00:00Z" % (r3, h) for h in (2, 3, 4, 5, 6, 7, 8)]
        for at in hours:
            set_clock(db, at)
            ran_at(db, "plan.reading", at.replace("T", " ").replace("Z", "+00"))
        settled(db)
        runs = psql(db, "SELECT job, due_at, steps, worker FROM kb_job_run WHERE started_at > '%s'" % since).splitlines()
        reading = [x for x in runs if x.startswith("plan.reading|")]
        check(len(reading) == len(hours) and all(x.split("|")[2] == "1" for x in runs),
              "two processes: each hourly run of a job once, in one step (%d runs of plan.reading for %d hours)"
              % (len(reading), len(hours)))
        workers = {x.split("|")[3] for x in runs}
        check(len(workers) == 2, "…shared between both processes (%d workers seen)" % len(workers))
        sent = pushes(db, "notify.reading")
        check(all(v <= 3 for v in sent.values()) and sent.get(sms_conv(2)) == 3,
              "each reminder of this month went once (%s)" % sent.get(sms_conv(2)))
        a.stop()
        b.stop()
    finally:
        for k in (a, b):
            if k.proc.poll() is None:
                k.stop()
    return r


# ---------------------------------------------------------------- broadcasts

RATE = 100


def bucket_max(entries):
    per = Counter(int(e["t"]) for e in entries)
    return max(per.values()) if per else 0


def broadcast(tg, _, r):
    db = new_db("t_notify_bc_%d" % os.getpid(), 2100, 2020)
    try:
        ids = [5000000000 + g for g in range(21, 2021)]   # 2,000 Telegram customers (the first 20 are by SMS)
        tg.post("chat", {"ids": ids})
        set_clock(db, "2030-01-15T07:00:00Z")
        for j in PLANNERS:
            cli(db, "pause", j)
        k = Kabinetd(db, tg, "polling", "notify-bc", dict(NOTIFY, KABINET_TELEGRAM_BROADCAST_RATE=str(RATE)))
        try:
            start = len(tg.log())
            rc, out = cli(db, "broadcast", "--name", "outage", "--text", "Плановое отключение 20 января с 10 до 12.",
                          "--text-en", "Planned outage on 20 January, 10 to 12.")
            check(rc == 0 and "broadcast 1 planned" in out, "kabinetd notify broadcast: %s" % out.strip())
            wait_until(lambda: len(tg.log(after=start)) > 300, 30)
            # a live reply while the broadcast goes on
            u = User(tg, 7300000009, db)
            t0 = time.time()
            u.say("/start")
            u.expect("reg.consent", seconds=5)
            took = time.time() - t0
            check(took < 1.0, "during the broadcast a live reply goes out within a second (%.2f s)" % took)
            # paused: nothing more after the lead; resumed: it completes
            rc, out = cli(db, "pause", "1")
            check(rc == 0, "kabinetd notify pause 1: %s" % out.strip())
            time.sleep(4)
            n0 = len(tg.log(after=start))
            time.sleep(2)
            check(len(tg.log(after=start)) == n0, "paused: nothing goes out (%d then %d)" % (n0, len(tg.log(after=start))))
            check(cli(db, "resume", "1")[0] == 0, "kabinetd notify resume 1")
            wait_until(lambda: psql(db, "SELECT status FROM kb_broadcast WHERE id = 1") == "done", 60)
            settled(db)
            got = [e for e in tg.log(after=start) if e["op"] == "send" and e["chat"] in set(ids)]
            per_chat = Counter(e["chat"] for e in got)
            check(len(per_chat) == len(ids) and max(per_chat.values()) == 1,
                  "the broadcast reached each of the %d Telegram customers once (%d, at most %d)"
                  % (len(ids), len(per_chat), max(per_chat.values()) if per_chat else 0))
            check(bucket_max(got) <= RATE, "never more than %d a second (busiest second: %d)" % (RATE, bucket_max(got)))
            en = [e for e in got if e["text"].startswith("Planned")]
            check(not en or len(en) < len(got), "each customer in their language")
            metrics = kbtest.http("GET", k.url + "/metrics")[1].decode()
            check('kb_broadcast_queued_total{broadcast="1"} 2000' in metrics,
                  "progress in metrics: kb_broadcast_queued_total{broadcast=\"1\"} 2000")
            k.stop()
        finally:
            if k.proc.poll() is None:
                k.stop()
        return db
    except Exception:
        psql("postgres", "DROP DATABASE IF EXISTS %s WITH (FORCE)" % db)
        raise


def kill(tg, _, db):
    try:
        ids = [5000000000 + g for g in range(21, 2021)]
        env = dict(NOTIFY, KABINET_TELEGRAM_PAID_BROADCAST="on", KABINET_TELEGRAM_PAID_RATE="300")
        rc, out = cli(db, "broadcast", "--name", "x", "--text", "Платная рассылка", "--paid")
        check(rc != 0 and "KABINET_TELEGRAM_PAID_BROADCAST" in out, "--paid is refused until paid broadcasts are on")
        rc, out = cli(db, "broadcast", "--name", "tariffs", "--text", "Новые тарифы с 1 июля.", "--paid", env=env)
        check(rc == 0, "a paid broadcast: %s" % out.strip())
        start = len(tg.log())
        k = Kabinetd(db, tg, "polling", "notify-kill", env)
        wait_until(lambda: len(tg.log(after=start)) > 700, 30)
        k.kill9()
        at_kill = set(int(x) for x in psql(db, "SELECT substr(o.conv, 4) FROM kb_outbox o JOIN kb_notice n ON "
                                               "o.event_id = 'notice:' || n.id WHERE n.broadcast_id = 2 AND "
                                               "o.sent_at IS NOT NULL").split())
        before = len(tg.log(after=start))
        k2 = Kabinetd(db, tg, "polling", "notify-kill2", env)
        try:
            wait_until(lambda: psql(db, "SELECT status FROM kb_broadcast WHERE id = 2") == "done", 60)
            settled(db)
            got = [e for e in tg.log(after=start) if e["op"] == "send" and e["chat"] in set(ids)]
            per_chat = Counter(e["chat"] for e in got)
            again = [c for c in at_kill if per_chat[c] > 1]
            dup = [c for c, n in per_chat.items() if n > 1]
            check(len(per_chat) == len(ids), "killed at %d of %d, a new process completed the broadcast (%d reached)"
                  % (before, len(ids), len(per_chat)))
            check(not again, "nothing sent before the kill went again (%d of %d)" % (len(again), len(at_kill)))
            check(len(dup) <= 64, "at most the messages in flight at the kill went twice (%d)" % len(dup))
            check(all(e.get("paid") for e in got), "each went with allow_paid_broadcast")
            k2.stop()
        finally:
            if k2.proc.poll() is None:
                k2.stop()
    finally:
        psql("postgres", "DROP DATABASE IF EXISTS %s WITH (FORCE)" % db)
    return None


def sms_cap(tg, db, _):
    """The SMS customers (20, the log gateway): a broadcast by SMS stops at the day's cap (5 messages' worth)."""
    set_clock(db, "2030-02-15T07:00:00Z")
    for j in PLANNERS:
        cli(db, "pause", j)
    psql(db, "UPDATE kb_customer SET notifications = true")
    k = Kabinetd(db, tg, "polling", "notify-sms", dict(NOTIFY, KABINET_SMS_PUSH_CAP_KOPECKS="2000",
                                                     KABINET_SMS_PRICE_KOPECKS="400", KABINET_SMS_PUSH_RATE="50"))
    try:
        rc, out = cli(db, "broadcast", "--name", "sms", "--text", "Офис не работает 1 мая.", "--channels", "sms")
        check(rc == 0, "an SMS broadcast: %s" % out.strip())
        wait_until(lambda: psql(db, "SELECT count(*) FROM kb_notice WHERE kind = 'broadcast' AND state = 'queued'")
                   not in ("", "0"), 15)
        time.sleep(3)
        sent = psql(db, "SELECT count(*) FROM kb_outbox WHERE channel = 'sms' AND lane = 1 AND sent_at IS NOT NULL "
                        "AND payload->>'tmpl' = 'notify.broadcast'")
        later = psql(db, "SELECT count(*) FROM kb_outbox WHERE channel = 'sms' AND lane = 1 AND sent_at IS NULL "
                         "AND next_attempt_at > now() + interval '10 minutes'")
        check(sent == "5" and int(later) >= 1,
              "the day's cap of 20 ₽ at 4 ₽ a message: 5 sent, the rest wait for tomorrow (%s sent, %s waiting)"
              % (sent, later))
        metrics = kbtest.http("GET", k.url + "/metrics")[1].decode()
        check("kb_sms_push_capped_total" in metrics, "the capped pushes are counted")
        k.stop()
    finally:
        if k.proc.poll() is None:
            k.stop()
    return None


if __name__ == "__main__":
    run("notify", rules, two, sms_cap, broadcast, kill, accounts=30, customers=30)
