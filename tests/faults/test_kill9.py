#!/usr/bin/env python3
"""Faults under load, through the real Telegram webhook: 20 chats each send 30 updates ("+k": the demo dialog's
counter, a real domain change in Postgres) as Telegram does — in order per chat, each retried until kabinetd
answers 200 — while kabinetd is killed with SIGKILL three times and started again; then, with new chats, while its
Redis is stopped for 2 s and started again (kabinetd answers 429 meanwhile and recovers by itself). Afterwards every accepted update
has had its transition exactly once (each chat's counter is 30 and its history is 1..30 in order, no gap, no
repeat), and every reply was delivered at least once (each count 1..30 reached the chat; duplicates are counted and
reported, never hidden). Small size in CI; KB_FAULT_CHATS / KB_FAULT_UPDATES scale it."""
import os, random, re, sys, threading, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration"))
import kbtest  # noqa: E402

kbtest.REDIS_PORT = int(os.environ["KB_TEST_REDIS_PORT"]) + 900
from kbtest import CATALOG, SECRET, Kabinetd, check, http, psql, run, update_json  # noqa: E402

COUNT = re.compile(re.escape(CATALOG["demo.count"].split("{")[0]) + r"(\d+)")
CHATS = int(os.environ.get("KB_FAULT_CHATS", "20"))
UPDATES = int(os.environ.get("KB_FAULT_UPDATES", "30"))
KILLS = 3
BASE_UID = 6000000000


class Target:
    """Where the webhook is now (kabinetd's port changes with each start)."""

    def __init__(self, k):
        self.k, self.lock = k, threading.Lock()

    def url(self):
        with self.lock:
            return self.k.url + "/telegram/webhook"


def chat(target, uid, stats):
    """One chat: its updates in order, each until accepted."""
    for i in range(1, UPDATES + 1):
        body = update_json(uid, uid % 100000 * 1000 + i, "+%d" % i)
        while True:
            try:
                st = http("POST", target.url(), body, {"Content-Type": "application/json",
                                                       "X-Telegram-Bot-Api-Secret-Token": SECRET}, timeout=5)[0]
            except OSError:
                st = 0
            if st == 200:
                break
            stats["retries"] += 1
            time.sleep(0.05)
        time.sleep(random.uniform(0.05, 0.15))


EXTRA = {"KABINET_START_DIALOG": "demo", "KABINET_HTTP_OUT_TIMEOUT_MS": "2000", "KABINET_LEASE_MS": "1000"}


def load(tg, db, target, base, what, disturb):
    """CHATS chats from uid base send their updates while disturb(target) runs; then the checks."""
    stats = {"retries": 0}
    for c in range(CHATS):  # the chats exist at Telegram
        tg.post("chat", {"id": base + c})
    threads = [threading.Thread(target=chat, args=(target, base + c, stats)) for c in range(CHATS)]
    for t in threads:
        t.start()
    disturb(target)
    for t in threads:
        t.join(120)
    verify(tg, db, base, what, stats)


def kills(tg, db, _):
    """kill -9 three times, a new process each time."""
    target = Target(Kabinetd(db, tg, "webhook", "kill0", EXTRA))

    def disturb(t):
        for n in range(KILLS):
            time.sleep(random.uniform(0.5, 1.0))
            t.k.kill9()
            time.sleep(0.2)
            with t.lock:
                t.k = Kabinetd(db, tg, "webhook", "kill%d" % (n + 1), EXTRA)

    load(tg, db, target, BASE_UID, "%d kill -9s" % KILLS, disturb)
    target.k.stop()


def redis_restart(tg, db, _):
    """Redis stopped for 2 s under the load and started again (appendonly: its data comes back): kabinetd says 429
    meanwhile, recovers by itself."""
    target = Target(Kabinetd(db, tg, "webhook", "redis", EXTRA))

    def disturb(t):
        time.sleep(1.0)
        kbtest.CURRENT["redis"].stop()
        time.sleep(2.0)
        kbtest.CURRENT["redis"].start()

    load(tg, db, target, BASE_UID + 1000, "a Redis restart", disturb)
    target.k.stop()


def verify(tg, db, base, what, stats):
    deadline = time.time() + 60
    want = ",".join(str(i) for i in range(1, UPDATES + 1))
    rows = ""
    mine = "conv IN (%s)" % ",".join("'tg:%d'" % (base + c) for c in range(CHATS))
    while time.time() < deadline:
        rows = psql(db, "SELECT count(*) FILTER (WHERE n = %d AND array_to_string(history, ',') = '%s') FROM "
                        "kb_demo_counter WHERE %s" % (UPDATES, want, mine))
        if rows == str(CHATS):
            break
        time.sleep(0.5)
    bad = psql(db, "SELECT string_agg(conv || '=' || n, ' ') FROM kb_demo_counter WHERE %s AND "
                   "(n <> %d OR array_to_string(history, ',') <> '%s')" % (mine, UPDATES, want))
    check(rows == str(CHATS), "after %s every accepted update changed the counter exactly once, in order "
                              "(%s of %d chats; wrong: %s)" % (what, rows, CHATS, bad or "none"))
    missing, dups = 0, 0
    settled = time.time()
    deadline = settled + 180  # a dead process's claims on replies run out after the outbox claim (60 s for Telegram)
    while True:
        missing, dups = 0, 0
        for c in range(CHATS):
            got = [int(m.group(1)) for m in (COUNT.match(e.get("text") or "") for e in tg.log(base + c)) if m]
            missing += len(set(range(1, UPDATES + 1)) - set(got))
            dups += len(got) - len(set(got))
        if missing == 0 or time.time() > deadline:
            if missing:
                print("sample of chat %d: %r" % (base, [e.get("text") for e in tg.log(base)][:5]))
            break
        time.sleep(1)
    check(missing == 0, "after %s every reply reached its chat at least once (%d missing; %d duplicates, "
                        "%d webhook retries)" % (what, missing, dups, stats["retries"]))
    print("figure: %s under %d chats x %d updates: %d duplicate replies, %d webhook retries, all replies "
          "delivered %.0f s after the last transition" % (what, CHATS, UPDATES, dups, stats["retries"],
                                                          time.time() - settled))


def main():
    run("kill9", kills, redis_restart)


if __name__ == "__main__":
    main()
