#!/usr/bin/env python3
"""A conversation's limits (KABINET_LIMIT_PER_MINUTE, KABINET_LIMIT_PER_DAY), through a real kabinetd and the fake
Bot API: a chat that writes faster than its limit gets exactly one polite reply saying when to try again and nothing
more (the rest is dropped, counted in kb_engine_throttled_total), while another chat is answered as usual; after the
wait it is read again. The same for the day's limit, whose reply names the minutes until the next day."""
import os, re, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kbtest  # noqa: E402

kbtest.REDIS_PORT = int(os.environ["KB_TEST_REDIS_PORT"]) + 1200
from kbtest import Kabinetd, User, check, http, run, is_tmpl  # noqa: E402


def replies(tg, uid, after=0, wait=0):
    return [e for e in tg.log(uid, after, wait=wait) if e["op"] in ("send", "edit")]


def throttled(tg, db, k, metric_before=0):
    return int(re.search(r"kb_engine_throttled_total (\d+)", http("GET", k.url + "/metrics")[1].decode()).group(1))


def per_minute(tg, db, _):
    k = Kabinetd(db, tg, "polling", "limits", {"KABINET_LIMIT_PER_MINUTE": "5", "KABINET_LIMIT_PER_DAY": "0",
                                                      "KABINET_TELEGRAM_CHAT_LIMIT": "off"})
    try:
        a, b = User(tg, 7200000001, db), User(tg, 7200000002, db)
        for i in range(6):
            a.say("/help")
        b.say("/start")
        b.expect("reg.consent")
        time.sleep(3)
        got = [e.get("text", "") for e in replies(tg, a.uid)]
        told = [t for t in got if is_tmpl(t, "common.throttled_s")]
        check(len(got) == 6 and len(told) == 1 and is_tmpl(got[-1], "common.throttled_s"),
              "6 messages at once against a limit of 5 a minute: 5 answered, then one reply saying when (%d, %r)"
              % (len(got), got[-1:]))
        secs = int(re.search(r"(\d+)", told[0]).group(1)) if told else 99
        check(20 <= secs <= 25, "the wait it names: until the limit allows one more (%d s)" % secs)
        time.sleep(secs + 1)
        n = len(replies(tg, a.uid))
        a.say("/help")
        time.sleep(2)
        check(len(replies(tg, a.uid)) == n + 1, "after that wait the chat is read again")
        # a flood: the burst is answered, then one reply, then nothing while it goes on
        before = throttled(tg, db, k)
        for i in range(30):
            a.say("/help")
        time.sleep(3)
        got = [e.get("text", "") for e in replies(tg, a.uid)][n + 1:]
        told = [t for t in got if is_tmpl(t, "common.throttled_s") or is_tmpl(t, "common.throttled_m")]
        check(len(told) == 1 and len(got) <= 6, "30 more at once: at most the burst answered, one reply about the "
                                                "limit, and silence (%d replies, %d about the limit)" % (len(got), len(told)))
        check(throttled(tg, db, k) - before >= 25, "the dropped ones are counted in kb_engine_throttled_total")
        k.stop()
    finally:
        if k.proc.poll() is None:
            k.stop()


def per_day(tg, db, _):
    k = Kabinetd(db, tg, "polling", "limits-day", {"KABINET_LIMIT_PER_MINUTE": "0", "KABINET_LIMIT_PER_DAY": "3",
                                                           "KABINET_TELEGRAM_CHAT_LIMIT": "off"})
    try:
        c = User(tg, 7200000003, db)
        for i in range(6):
            c.say("/help")
        time.sleep(3)
        got = [e.get("text", "") for e in replies(tg, c.uid)]
        check(len(got) == 4 and is_tmpl(got[-1], "common.throttled_m"),
              "the day's limit of 3: three answered, then one reply naming the minutes to the next day (%r)" % got[-1:])
        k.stop()
    finally:
        if k.proc.poll() is None:
            k.stop()


if __name__ == "__main__":
    run("limits", per_minute, per_day)
