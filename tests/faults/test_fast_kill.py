#!/usr/bin/env python3
"""The fast path under kill -9, through the real Telegram webhook: chats write texts that the demo dialog echoes — a
step that changes nothing in the domain, committed in Redis alone, its reply handed straight to Telegram — each
chat waiting for its answer before it writes again, as people do. A kabinetd is killed exactly between a fast
step's commit in Redis and its send (KABINET_KILL_AT=after_cas): the reply is then only on the conversation's reply
list. First with one process, started again after the kill; then with two, the other one running: it must take the
conversation over (the dead process's liveness key runs out, no lease expiry is waited for) and send the reply —
once, in order. Afterwards: every text was answered, in order; duplicates only for what was in flight at the kill;
and the longest any chat waited for an answer across the kill, in seconds."""
import os, re, subprocess, sys, threading, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration"))
import kbtest  # noqa: E402

kbtest.REDIS_PORT = int(os.environ["KB_TEST_REDIS_PORT"]) + 930
from kbtest import CATALOG, SECRET, Kabinetd, check, http, post_update, run, update_json  # noqa: E402

ECHO = re.compile(re.escape(CATALOG["demo.echo"].split("{")[0]) + r"e(\d+)$")
CHATS = int(os.environ.get("KB_FAULT_CHATS", "20"))
UPDATES = int(os.environ.get("KB_FAULT_UPDATES", "30"))
EXTRA = {"KABINET_START_DIALOG": "demo", "KABINET_LEASE_MS": "5000"}
BASE_UID = 6500000000


class Target:
    """Where the webhook goes now; a load balancer takes a dead process out."""

    def __init__(self, k):
        self.k, self.lock = k, threading.Lock()

    def url(self):
        with self.lock:
            return self.k.url + "/telegram/webhook"


def echoes(tg, uid):
    return [int(m.group(1)) for m in (ECHO.match(e.get("text") or "") for e in tg.log(uid)) if m]


def chat(tg, target, uid, stats):
    """One chat: e1..eN, each sent until accepted, then its answer awaited (up to 20 s) before the next."""
    for i in range(1, UPDATES + 1):
        body = update_json(uid, uid % 100000 * 1000 + i, "e%d" % i)
        sent = time.time()
        post_update(target.url, body, stats)
        posted = time.time()
        while i not in echoes(tg, uid) and time.time() - sent < 20:
            time.sleep(0.02)
        with stats["lock"]:  # the wait counts from when the update was sent, or from the takeover if later
            since = max(sent, stats["takeover"] or 0)
            if time.time() - since > stats["wait"]:
                stats["wait"] = time.time() - since
                stats["slowest"] = "chat %d text %d: accepted after %.2f s, answered %.2f s later" % (
                    uid, i, posted - sent, time.time() - posted)


def scenario(tg, db, base, what, start, replace):
    """CHATS chats from uid base; start() gives the first process (armed); when it dies, replace() gives the one
    the webhook goes to next (a new process, or the other one already running)."""
    stats = {"retries": 0, "wait": 0.0, "lock": threading.Lock(), "takeover": None}
    for c in range(CHATS):
        tg.post("chat", {"id": base + c})
    first = start()
    target = Target(first)
    threads = [threading.Thread(target=chat, args=(tg, target, base + c, stats)) for c in range(CHATS)]
    for t in threads:
        t.start()
    died = None
    while any(t.is_alive() for t in threads):
        if died is None and first.proc.poll() is not None:
            died = time.time()
            nxt = replace()
            with target.lock:
                target.k = nxt
            with stats["lock"]:  # a restarted process is ready now; a surviving one was all along
                stats["takeover"] = time.time()
        time.sleep(0.02)
    for t in threads:
        t.join(1)
    check(died is not None and first.proc.returncode == 99,
          "%s: the armed kabinetd died between a fast step's commit and its send (exit %s)" % (what, first.proc.returncode))
    missing = dups = disorder = 0
    for c in range(CHATS):
        got = echoes(tg, base + c)
        missing += len(set(range(1, UPDATES + 1)) - set(got))
        dups += len(got) - len(set(got))
        firsts = [g for k, g in enumerate(got) if g not in got[:k]]
        disorder += firsts != sorted(firsts)
    total = CHATS * UPDATES
    check(missing == 0, "%s: every text was answered (%d of %d missing)" % (what, missing, total))
    check(disorder == 0, "%s: each chat's answers came in the order it wrote (%d chats out of order)" % (what, disorder))
    # each chat waits for its answer: at most one answer per chat is in flight when the process dies (sent to
    # Telegram, not yet taken off the reply list); only those may come twice
    check(dups <= CHATS, "%s: duplicate answers only for what was in flight at the kill: %d of %d (at most one a "
                         "chat)" % (what, dups, total))
    check(stats["wait"] <= 4.0, "%s: every chat was answered within 4 s of the takeover (longest wait %.2f s: a "
                                "process's leases die with its 1.2 s liveness key, not after their expiry)"
          % (what, stats["wait"]))
    print("figure: %s, %d chats x %d texts: %d duplicate answers, longest wait for an answer (from the takeover) %.2f s (%s), %d webhook "
          "retries" % (what, CHATS, UPDATES, dups, stats["wait"], stats.get("slowest", "-"), stats["retries"]))
    return stats


def restart(tg, db, _):
    """One process, killed between a fast step's commit and its send, and started again."""
    armed = dict(EXTRA, KABINET_KILL_AT="after_cas:%d" % (CHATS * UPDATES // 3))
    started = []

    def again():
        started.append(Kabinetd(db, tg, "webhook", "fast-a2", EXTRA))
        return started[-1]

    scenario(tg, db, BASE_UID, "one process restarted", lambda: Kabinetd(db, tg, "webhook", "fast-a", armed), again)
    for k in started:
        k.stop()


def two_processes(tg, db, _):
    """Two processes; the one the webhook goes to dies between a commit and its send; the other takes over."""
    other = Kabinetd(db, tg, "webhook", "fast-b", EXTRA)
    armed = dict(EXTRA, KABINET_KILL_AT="after_cas:%d" % (CHATS * UPDATES // 2))
    scenario(tg, db, BASE_UID + 1000, "two processes, the committer killed",
             lambda: Kabinetd(db, tg, "webhook", "fast-c", armed), lambda: other)
    log = other.stop()
    check("took over a conversation from a process that is gone" in log,
          "the surviving process took the dead one's conversation over at once (its log says so)")


def main():
    run("fastkill", restart, two_processes)


if __name__ == "__main__":
    main()
