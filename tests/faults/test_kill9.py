#!/usr/bin/env python3
"""Faults under load, through the real Telegram webhook: 20 chats each send 30 updates ("+k": the demo dialog's
counter, a real domain change in Postgres) as Telegram does — in order per chat, each retried until kabinetd
answers 200 — while kabinetd is killed with SIGKILL three times and started again; then, with new chats, while its
Redis is stopped for 2 s and started again (kabinetd answers 429 meanwhile and recovers by itself). Afterwards every accepted update
has had its transition exactly once (each chat's counter is 30 and its history is 1..30 in order, no gap, no
repeat), and every reply was delivered at least once (each count 1..30 reached the chat; duplicates are counted and
reported, never hidden). Then, with new chats each time: Postgres (a private cluster) stopped for 2 s; the fake Bot API answers 429 with retry_after, 502s and
late answers (past kabinetd's timeout) for a while — every reply still arrives; and three kabinetd processes on one
Redis and one Postgres take the webhook round-robin while each in turn is restarted (SIGTERM, then a new one) — per-chat
order holds and no update is handled twice. Small size in CI; KB_FAULT_CHATS / KB_FAULT_UPDATES scale it."""
import os, random, re, subprocess, sys, threading, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration"))
import kbtest  # noqa: E402

kbtest.REDIS_PORT = int(os.environ["KB_TEST_REDIS_PORT"]) + 900
from kbtest import CATALOG, SECRET, Kabinetd, check, http, post_update, psql, run, update_json  # noqa: E402

COUNT = re.compile(re.escape(CATALOG["demo.count"].split("{")[0]) + r"(\d+)")
CHATS = int(os.environ.get("KB_FAULT_CHATS", "20"))
UPDATES = int(os.environ.get("KB_FAULT_UPDATES", "30"))
KILLS = 3
BASE_UID = 6000000000


class Target:
    """Where the webhook is now (kabinetd's port changes with each start); with several processes, round-robin."""

    def __init__(self, *ks):
        self.ks, self.n, self.lock = list(ks), 0, threading.Lock()

    @property
    def k(self):
        return self.ks[0]

    @k.setter
    def k(self, value):
        self.ks[0] = value

    def url(self):
        with self.lock:
            self.n += 1
            return self.ks[self.n % len(self.ks)].url + "/telegram/webhook"


def chat(target, uid, stats):
    """One chat: its updates in order, each until accepted."""
    for i in range(1, UPDATES + 1):
        body = update_json(uid, uid % 100000 * 1000 + i, "+%d" % i)
        post_update(target.url, body, stats)
        time.sleep(random.uniform(0.05, 0.15))


EXTRA = {"KABINET_START_DIALOG": "demo", "KABINET_HTTP_OUT_TIMEOUT_MS": "2000"}  # leases as in production: a dead
# process's go with its liveness key; a Redis restart shorter than a lease keeps them (no reply sent twice)


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


def pg_restart(tg, db, _):
    """Postgres stopped for 2 s under the load and started again: a private cluster (the suite's is shared), its
    schema migrated here. kabinetd cannot commit meanwhile: the events wait in their Redis queues and go on."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    port = kbtest.PG_PORT + 950
    cluster = "/tmp/kabinet-k9pg-%d" % port
    subprocess.run(["rm", "-rf", cluster], check=True)
    subprocess.run([os.path.join(here, "harness.sh"), "start", cluster, str(kbtest.REDIS_PORT + 50), str(port), "fast"],
                   check=True, stdout=subprocess.DEVNULL)
    url = "hostaddr=127.0.0.1 port=%d user=postgres dbname=postgres" % port
    shared = kbtest.PG_PORT
    try:
        subprocess.run([kbtest.KABINETD, "migrate"], env=dict(os.environ, KABINET_DATABASE_URL=url,
                       KABINET_REDIS_URL="redis://127.0.0.1:%d/0" % kbtest.REDIS_PORT), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        target = Target(Kabinetd(db, tg, "webhook", "pg", dict(EXTRA, KABINET_DATABASE_URL=url)))

        def disturb(t):
            time.sleep(1.0)
            subprocess.run([os.path.join(here, "harness.sh"), "stop-pg", cluster], check=True)
            time.sleep(2.0)
            subprocess.run([os.path.join(here, "harness.sh"), "start-pg", cluster], check=True)

        kbtest.PG_PORT = port  # the checks read the private cluster
        load(tg, "postgres", target, BASE_UID + 4000, "a Postgres restart", disturb)
        target.k.stop()
    finally:
        kbtest.PG_PORT = shared
        subprocess.run([os.path.join(here, "harness.sh"), "stop", cluster], stdout=subprocess.DEVNULL)
        subprocess.run(["rm", "-rf", cluster])


def bot_api_faults(tg, db, _):
    """Telegram in trouble: 429 with retry_after for 2 s, then 502s, then answers later than kabinetd waits."""
    target = Target(Kabinetd(db, tg, "webhook", "botapi", EXTRA))

    def disturb(t):
        time.sleep(0.5)
        tg.post("flood", {"seconds": 2, "retry_after": 1})
        time.sleep(2.5)
        tg.post("fail", {"count": 20, "status": 502})
        time.sleep(1.0)
        tg.post("slow", {"count": 3, "seconds": 3})

    load(tg, db, target, BASE_UID + 2000, "Bot API 429s, 502s and timeouts", disturb)
    check(tg.state()["violations"] == 0, "no message was sent while Telegram's retry_after said wait")
    target.k.stop()


def scale_out(tg, db, _):
    """Three processes behind one webhook (round-robin), each restarted in turn under the load."""
    target = Target(*[Kabinetd(db, tg, "webhook", "multi%d" % i, EXTRA) for i in range(3)])

    def disturb(t):
        for i in range(3):
            time.sleep(random.uniform(0.5, 1.0))
            old = t.ks[i]
            with t.lock:  # out of the rotation first, as a load balancer does on a failing /readyz
                t.ks[i] = t.ks[(i + 1) % 3]
            old.stop()
            fresh = Kabinetd(db, tg, "webhook", "multi%d-r" % i, EXTRA)
            with t.lock:
                t.ks[i] = fresh

    load(tg, db, target, BASE_UID + 3000, "a rolling restart of 3 processes", disturb)
    for k in set(target.ks):
        k.stop()


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
    deadline = settled + 120  # a dead process's claims on replies run out after the outbox claim (15 s for Telegram)
    while True:
        missing, dups = 0, 0
        for c in range(CHATS):
            got = [int(m.group(1)) for m in (COUNT.match(e.get("text") or "") for e in tg.log(base + c)) if m]
            missing += len(set(range(1, UPDATES + 1)) - set(got))
            dups += len(got) - len(set(got))
        if missing == 0 or time.time() > deadline:
            if missing:
                print("sample of chat %d: %r" % (base, [e.get("text") for e in tg.log(base)][:5]))
            if dups and os.environ.get("KB_SHOW_DUPS"):
                got = [int(m.group(1)) for m in (COUNT.match(e.get("text") or "") for e in tg.log(base)) if m]
                print("replies of chat %d: %r" % (base, got))
            break
        time.sleep(1)
    check(missing == 0, "after %s every reply reached its chat at least once (%d missing; %d duplicates, "
                        "%d webhook retries)" % (what, missing, dups, stats["retries"]))
    print("figure: %s under %d chats x %d updates: %d duplicate replies, %d webhook retries, all replies "
          "delivered %.0f s after the last transition" % (what, CHATS, UPDATES, dups, stats["retries"],
                                                          time.time() - settled))


def main():
    run("kill9", kills, redis_restart, pg_restart, bot_api_faults, scale_out)


if __name__ == "__main__":
    main()
