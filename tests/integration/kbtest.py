"""What kabinet's end-to-end Python tests share: a real kabinetd on a real Redis (the test's own, so it can be stopped)
and PostgreSQL (a database made from the migrated template, with demo data), the fake Bot API server as Telegram,
a user playing through it, and the reporting (check, finish)."""
import json, os, re, signal, socket, subprocess, sys, tempfile, threading, time, urllib.request, urllib.error

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
KABINETD = os.environ["KABINETD"]
PG_PORT = int(os.environ["KB_TEST_PG_PORT"])
# what kabinetd connects to: PgBouncer in transaction mode when the build runs its tests so (psql stays direct)
APP_PG_PORT = int(os.environ.get("KB_TEST_APP_PG_PORT") or PG_PORT)
# a test of its own sets kbtest.REDIS_PORT; a cluster (KB_TEST_REDIS_CLUSTER=1) takes six ports from +1540
REDIS_PORT = int(os.environ["KB_TEST_REDIS_PORT"]) + (1540 if os.environ.get("KB_TEST_REDIS_CLUSTER") == "1" else 600)
TOKEN = "123456:TEST-token_for-kabinet"
SECRET = "webhook-secret_42"
FAILS = []
LOGS = []
CURRENT = {}  # what run() started, for phases that disturb it ("redis")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def http(method, url, body=None, headers=None, timeout=30):
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None and "Content-Type" not in (headers or {}):
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw[:1] in (b"{", b"[") else raw, dict(r.headers)
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, json.loads(raw) if raw[:1] in (b"{", b"[") else raw, dict(e.headers)


def check(cond, what):
    if cond:
        print("ok   " + what, flush=True)
    else:
        print("FAIL " + what, flush=True)
        FAILS.append(what)
    return cond


def psql(db, sql):
    out = subprocess.run(["psql", "-qXtA", "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "postgres", "-d", db, "-c",
                          sql], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr)
    return out.stdout.strip()


def wait_until(fn, seconds=15, step=0.05):
    deadline = time.time() + seconds
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return fn()


# ---------------------------------------------------------------- the catalog: what a template's text starts with

CATALOG = {}
for line in open(os.path.join(ROOT, "dialogs", "texts", "ru.txt"), encoding="utf-8"):
    m = re.match(r"^([a-z_.0-9]+) = (.*)$", line.rstrip("\n"))
    if m:
        CATALOG[m.group(1)] = m.group(2).replace("\\n", "\n")


def lit(key):
    """The literal start of a template (up to its first parameter)."""
    return CATALOG[key].split("{")[0].rstrip()


def is_tmpl(text, key):
    """Whether text is template key rendered: its literal parts in order, anything where a parameter stands."""
    if key.endswith("*"):
        return any(is_tmpl(text, k) for k in CATALOG if k.startswith(key[:-1]))
    parts = re.split(r"\{[^{}]*\}", CATALOG[key])
    return re.fullmatch(".*?".join(re.escape(p) for p in parts), text, re.S) is not None


# ---------------------------------------------------------------- processes

TOPO = os.path.join(ROOT, "tests", "redis_topo.sh")
# KB_TEST_REDIS_CLUSTER=1: every test's Redis is a three-master Redis Cluster (tests/redis_topo.sh) whose slots keep
# moving while the test runs, with one failover of the ready set's master early on (class Chaos)
CLUSTER = os.environ.get("KB_TEST_REDIS_CLUSTER") == "1"
METRICS = []  # cluster mode: each kabinetd's /metrics just before it stopped


def redis_url():
    if CLUSTER:
        return "redis-cluster://127.0.0.1:%d,127.0.0.1:%d" % (REDIS_PORT, REDIS_PORT + 1)
    return "redis://127.0.0.1:%d/0" % REDIS_PORT


class Chaos(threading.Thread):
    """Moves the slots of the keys every test touches (the ready set, the timers, the Telegram poll lease, the test
    chats' conversations) from master to master, one at a time, for as long as the test runs; the first time round,
    after the first moves, it kills -9 the ready set's master and waits for its replica to take over."""

    KEYS = ["kb:{sched}:ready", "kb:{sched}:timers", "kb:{lease:tg-poll}"] + \
           ["kb:{tg:%d}:state" % u for u in (5000000001, 6000000002, 7000000003, 7000000004)]

    def __init__(self, redis):
        super().__init__(daemon=True)
        self.redis, self.halt, self.lock = redis, threading.Event(), threading.Lock()
        self.moves = self.failovers = 0

    def run(self):
        slots = [subprocess.run(["redis-cli", "-p", str(REDIS_PORT), "cluster", "keyslot", k], capture_output=True,
                                text=True).stdout.strip() for k in self.KEYS]
        i = 0
        while not self.halt.wait(0.5):
            with self.lock:
                if self.halt.is_set():
                    return
                if i == len(slots) and not self.failovers and not self.redis.failovers:
                    r = subprocess.run([TOPO, "failover", self.redis.dir, str(REDIS_PORT), self.KEYS[0]],
                                       capture_output=True, text=True)
                    self.failovers += r.returncode == 0
                else:
                    r = subprocess.run([TOPO, "migrate", self.redis.dir, str(REDIS_PORT), slots[i % len(slots)]],
                                       capture_output=True, text=True)
                    self.moves += r.returncode == 0
                if r.returncode:
                    print("# chaos: %s" % r.stderr.strip())
                i += 1

    def end(self):
        self.halt.set()
        with self.lock:
            pass


class Redis:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="kb-redis-")
        self.proc = None
        self.chaos = None
        self.moves = self.failovers = 0

    def start(self):
        if CLUSTER:
            fresh = not os.path.exists(os.path.join(self.dir, "base"))
            subprocess.run([TOPO, "cluster-start" if fresh else "cluster-restart", self.dir, str(REDIS_PORT)],
                           check=True)
            self.chaos = Chaos(self)
            self.chaos.start()
            return
        # a Redis an interrupted run left on this port would answer for the new one, with its old state: stopped
        subprocess.run(["redis-cli", "-p", str(REDIS_PORT), "shutdown", "nosave"], capture_output=True)
        self.proc = subprocess.Popen(["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1",
                                      "--dir", self.dir, "--appendonly", "yes", "--save", "",
                                      "--hash-max-listpack-value", "1024"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: subprocess.run(["redis-cli", "-p", str(REDIS_PORT), "ping"], capture_output=True,
                                          text=True).stdout.strip() == "PONG", 10)

    def stop(self):
        if self.chaos:
            self.chaos.end()
            self.moves += self.chaos.moves
            self.failovers += self.chaos.failovers
            self.chaos = None
            subprocess.run([TOPO, "cluster-stop", self.dir], check=True)
        if self.proc:
            self.proc.terminate()
            self.proc.wait()
            self.proc = None

    def cluster_checks(self):
        """Cluster mode: the slots moved and a master failed over while kabinetd ran, and kabinetd followed."""
        if not CLUSTER:
            return
        ask = sum(int(float(m.group(1))) for t in METRICS for m in re.finditer(r'kb_redis_redirects_total\{kind="ask"\} (\S+)', t))
        moved = sum(int(float(m.group(1))) for t in METRICS for m in re.finditer(r'kb_redis_redirects_total\{kind="moved"\} (\S+)', t))
        check(self.moves > 0 and self.failovers == 1 and ask > 0 and moved > 0,
              "on a Redis Cluster: %d slot moves and %d failover during the test; kabinetd followed %d ASK and %d "
              "MOVED redirects" % (self.moves, self.failovers, ask, moved))
        subprocess.run([TOPO, "stop", self.dir])


class FakeServer:
    """One of tests/fakes/*.py as a process on its own port, with its control API (/control/…)."""

    def __init__(self, script, args, port=None):
        self.port = port or free_port()
        self.proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "fakes", script), "--port",
                                      str(self.port)] + list(args), stdout=subprocess.DEVNULL)
        self.url = "http://127.0.0.1:%d" % self.port
        wait_until(lambda: self._up(), 10)

    def _up(self):
        try:
            return http("GET", self.url + "/control/state")[0] == 200
        except OSError:
            return False

    def post(self, what, body):
        st, res, _ = http("POST", self.url + "/control/" + what, body)
        assert st == 200, (what, st, res)
        return res

    def state(self):
        return http("GET", self.url + "/control/state")[1]

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


class Fake(FakeServer):
    """The fake Bot API (tests/fakes/fake_telegram.py): Telegram, and the users in it."""

    def __init__(self):
        super().__init__("fake_telegram.py", ["--token", TOKEN])

    def log(self, chat=None, after=0, wait=0):
        q = "after=%d&wait=%s" % (after, wait) + ("&chat=%s" % chat if chat is not None else "")
        return http("GET", self.url + "/control/log?" + q, timeout=wait + 10)[1]


class Kabinetd:
    def __init__(self, db, fake, mode, name, extra=None):
        self.port = free_port()
        self.logf = tempfile.NamedTemporaryFile(prefix="kb-%s-" % name, suffix=".log", delete=False)
        LOGS.append(self.logf.name)
        env = dict(os.environ)
        env.update({
            "KABINET_DATABASE_URL": "hostaddr=127.0.0.1 port=%d user=postgres dbname=%s" % (APP_PG_PORT, db),
            "KABINET_REDIS_URL": redis_url(),
            "KABINET_HTTP_LISTEN": "127.0.0.1:%d" % self.port,
            "KABINET_TELEGRAM_TOKEN": TOKEN, "KABINET_TELEGRAM_API_URL": fake.url,
            "KABINET_TELEGRAM_MODE": mode, "KABINET_TELEGRAM_POLL_TIMEOUT_S": "1",
            "KABINET_LOG_LEVEL": "info", "KABINET_PAY_POLL_S": "1",
        })
        if mode == "webhook":
            env.update({"KABINET_TELEGRAM_WEBHOOK_URL": "http://127.0.0.1:%d/telegram/webhook" % self.port,
                        "KABINET_TELEGRAM_SECRET": SECRET})
        env.update(extra or {})
        self.proc = subprocess.Popen([KABINETD, "serve"], env=env, stdout=self.logf, stderr=self.logf)
        self.url = "http://127.0.0.1:%d" % self.port
        wait_until(lambda: self._ready(), 15)

    def _ready(self):
        try:
            return http("GET", self.url + "/readyz", timeout=2)[0] == 200
        except OSError:
            return False

    def log_text(self):
        with open(self.logf.name, encoding="utf-8", errors="replace") as f:
            return f.read()

    def stop(self):
        if CLUSTER and self.proc.poll() is None:
            try:
                METRICS.append(http("GET", self.url + "/metrics", timeout=2)[1].decode())
            except OSError:
                pass
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = -9
            check(rc == 0, "kabinetd on :%d exits cleanly on SIGTERM (exit %s)" % (self.port, rc))
        return self.log_text()

    def kill9(self):
        self.proc.kill()
        self.proc.wait()


# ---------------------------------------------------------------- SMS: the fake gateway and a customer's phone

SMS_LOGIN, SMS_PASSWORD, SMS_SECRET, SMS_TOKEN = "kabinet", "sms-password", "smsc-callback-secret", "smsru-token-0123456789"


def sms_env(kind, port):
    """kabinetd's settings for the fake gateway of kind ("smsc" or "smsru") on port."""
    if kind == "smsc":
        return {"KABINET_SMS_PROVIDER": kind, "KABINET_SMSC_URL": "http://127.0.0.1:%d" % port,
                "KABINET_SMSC_LOGIN": SMS_LOGIN, "KABINET_SMSC_PASSWORD": SMS_PASSWORD,
                "KABINET_SMSC_SECRET": SMS_SECRET}
    return {"KABINET_SMS_PROVIDER": kind, "KABINET_SMSRU_URL": "http://127.0.0.1:%d" % port,
            "KABINET_SMSRU_API_ID": SMS_PASSWORD, "KABINET_SMSRU_TOKEN": SMS_TOKEN}


def sms_notify(kind, url):
    """Where the gateway of kind calls kabinetd at url back."""
    return url + ("/sms/smsc/callback" if kind == "smsc" else "/sms/smsru/callback/" + SMS_TOKEN)


class Gateway(FakeServer):
    """A fake SMS gateway (tests/fakes/fake_sms.py): SMSC.ru or SMS.ru, with these credentials."""

    def __init__(self, kind, port, notify):
        self.kind = kind
        super().__init__("fake_sms.py", ["--kind", kind, "--login", SMS_LOGIN, "--password", SMS_PASSWORD,
                                         "--secret", SMS_SECRET,
                                         "--notify", notify], port)

    def messages(self, phone=None):
        ms = self.state()["messages"]
        return [m for m in ms if phone is None or m["phone"] == phone.lstrip("+")]


def ucs2_segments(text):
    units = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)
    return 1 if units <= 70 else -(-units // 67)


def matches(text, key):
    return is_tmpl(text, key) or is_tmpl(text.split("\n")[0], key)


class Phone:
    """A customer's phone: writes SMS (through the gateway's incoming callback) and reads what kabinet sends it."""

    def __init__(self, gw, number):
        self.gw, self.number, self.seen = gw, number, 0

    def say(self, text, sign=True):
        return self.gw.post("incoming", {"phone": self.number, "text": text, "sign": sign})["status"]

    def expect(self, *keys, seconds=20):
        got = []
        deadline = time.time() + seconds
        while len(got) < len(keys) and time.time() < deadline:
            ms = self.gw.messages(self.number)
            got += ms[self.seen + len(got):]
            time.sleep(0.1)
        got = got[:len(keys)] if len(got) >= len(keys) else got
        self.seen += len(got)
        texts = [m["text"] for m in got]
        ok = len(got) == len(keys) and all(matches(t, k) for t, k in zip(texts, keys))
        check(ok, "%s reads %s%s" % (self.number, ", ".join(keys), "" if ok else " - got %r" % texts))
        if not ok:
            raise RuntimeError("unexpected SMS")
        return texts


    def until(self, key, seconds=20):
        """The messages up to and including the next one that is template key."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            ms = self.gw.messages(self.number)[self.seen:]
            for i, m in enumerate(ms):
                if matches(m["text"], key):
                    self.seen += i + 1
                    return [x["text"] for x in ms[:i + 1]]
            time.sleep(0.1)
        check(False, "%s reads %s" % (self.number, key))
        raise RuntimeError("unexpected SMS")



# ---------------------------------------------------------------- a user

class User:
    def __init__(self, fake, uid, db):
        self.fake, self.uid, self.db, self.cursor = fake, uid, db, 0
        fake.post("chat", {"id": uid})

    def say(self, text, **kw):
        return self.fake.post("message", dict(user_id=self.uid, text=text, **kw))

    def welcome(self):
        """/start, the consent to process personal data given: the welcome that asks for the phone."""
        self.say("/start")
        self.expect("reg.consent")
        self.press("consent_yes")
        return self.expect("reg.welcome")[0]

    def send(self, **kw):
        return self.fake.post("message", dict(user_id=self.uid, **kw))

    def button(self, bid):
        """The latest message of this chat that carries button bid: (message_id, callback_data)."""
        for e in reversed(self.fake.log(self.uid)):
            for row in (e.get("reply_markup") or {}).get("inline_keyboard", []):
                for b in row:
                    if b.get("callback_data", "").endswith(":" + bid):
                        return e["message_id"], b["callback_data"]
        return None, None

    def press(self, bid):
        mid, data = self.button(bid)
        if not check(mid is not None, "user %d sees button %s" % (self.uid, bid)):
            raise RuntimeError("no button " + bid)
        return self.fake.post("press", {"user_id": self.uid, "message_id": mid, "data": data})

    def expect(self, *keys, seconds=15):
        """The next messages (sent or edited) in this chat are these templates, in order."""
        got = []
        deadline = time.time() + seconds
        while len(got) < len(keys) and time.time() < deadline:
            new = self.fake.log(self.uid, self.cursor, wait=0.5)
            for e in new:
                self.cursor = e["n"]
                got.append(e)
        texts = [e.get("text", "") for e in got]
        ok = len(got) == len(keys) and all(is_tmpl(t, k) for t, k in zip(texts, keys))
        check(ok, "user %d reads %s%s" % (self.uid, ", ".join(keys), "" if ok else " - got %r" % texts))
        if not ok:
            raise RuntimeError("unexpected replies")
        return got

    def link(self, number, surname):
        """From the accounts screen: links account number by the owner's surname — or, when the account is linked to
        another customer already (a demo customer's, say), where a surname is not enough, by its ЕЛС."""
        self.press("link")
        self.expect("acc.ask_number")
        self.say(number)
        self.expect("acc.ask_proof")
        self.press("surname")
        self.expect("acc.ask_surname")
        self.say(surname)
        if psql(self.db, "SELECT count(*) FROM kb_account_link l JOIN kb_account a ON a.id = l.account_id "
                         "WHERE a.number = '%s' AND l.status = 'active'" % number) != "0":
            self.expect("acc.surname_not_enough")
            self.press("els")
            self.expect("acc.ask_els")
            self.say(psql(self.db, "SELECT els_code FROM kb_account WHERE number = '%s'" % number))
        self.expect("acc.linked_primary", "menu.main*")

    def code(self):
        return wait_until(lambda: psql(self.db, "SELECT payload->'params'->>'code' FROM kb_outbox WHERE channel = 'sms'"
                                                " AND payload->>'from' = 'tg:%d' ORDER BY id DESC LIMIT 1" % self.uid))


def update_json(uid, update_id, text):
    return {"update_id": update_id, "message": {"message_id": update_id, "date": int(time.time()),
            "chat": {"id": uid, "type": "private"}, "from": {"id": uid, "is_bot": False, "first_name": "X"},
            "text": text}}


def new_db(name, accounts=30, customers=20):
    psql("postgres", "DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
    psql("postgres", "CREATE DATABASE %s TEMPLATE kb_template" % name)
    env = dict(os.environ, KABINET_DATABASE_URL="hostaddr=127.0.0.1 port=%d user=postgres dbname=%s" % (APP_PG_PORT, name),
               KABINET_REDIS_URL=redis_url())
    subprocess.run([KABINETD, "demo-data", "--accounts", str(accounts), "--months", "6", "--customers", str(customers)],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    return name


def post_update(url, body, stats):
    """Posts a Telegram update as Telegram does: again after a moment until kabinetd answers 200; url() says where
    the webhook is now (a process may be gone meanwhile). Counts the retries in stats["retries"]."""
    while True:
        try:
            st = http("POST", url(), body, {"Content-Type": "application/json",
                                            "X-Telegram-Bot-Api-Secret-Token": SECRET}, timeout=5)[0]
        except OSError:
            st = 0
        if st == 200:
            return
        stats["retries"] += 1
        time.sleep(0.05)


def run(name, *phases, accounts=30, customers=20):
    """A test's whole run: its own Redis, the fake Bot API, a database with demo data; then each phase(tg, db, carry)
    in turn, each given what the one before returned; the verdict at the end (finish). KB_TEST_PHASES_<NAME> (phase
    names, comma separated) runs only those (the calendar check runs the phases that depend on the date)."""
    only = [p for p in os.environ.get("KB_TEST_PHASES_" + name.upper(), "").split(",") if p]
    if only:
        phases = [p for p in phases if p.__name__ in only]
    redis = Redis()
    redis.start()
    CURRENT["redis"] = redis
    tg = Fake()
    db = None
    try:
        db = new_db("t_%s_%d" % (name, os.getpid()), accounts, customers)
        carry = None
        for phase in phases:
            carry = phase(tg, db, carry)
    except Exception as e:  # a failed expectation stops the scenario; the failure is already reported
        FAILS.append("stopped: %r" % e)
        print("FAIL stopped: %r" % e)
    finally:
        tg.stop()
        redis.stop()
        if db:
            if not os.environ.get("KB_KEEP_DB"):
                psql("postgres", "DROP DATABASE IF EXISTS %s WITH (FORCE)" % db)
    finish()


# Every secret a test configures (tests add theirs): no kabinetd log may hold one, nor a phone or an email in clear.
SECRETS = []
PHONE_IN_CLEAR = re.compile(r"\+7\d{10}|(?<![\d*])7\d{10}(?!\d)")
EMAIL_IN_CLEAR = re.compile(r"(?<![\w.*%+-])[A-Za-z0-9._%+-]*[A-Za-z0-9]@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[a-z]{2,}")


def scan_logs():
    """The log scan: every kabinetd log of this test, for the secrets and for phones and emails not masked."""
    secrets = [s for s in [TOKEN, SECRET, SMS_PASSWORD, SMS_SECRET, SMS_TOKEN] + SECRETS if s]
    for path in LOGS:
        text = open(path, errors="replace").read()
        for s in secrets:
            check(s not in text, "no secret in the log %s (found one of %d chars)" % (os.path.basename(path), len(s)))
        phones = sorted(set(m.group(0) for m in PHONE_IN_CLEAR.finditer(text)))
        check(not phones, "no phone number in clear in the log %s (%s)" % (os.path.basename(path), phones[:3]))
        emails = sorted(set(m.group(0) for m in EMAIL_IN_CLEAR.finditer(text)))
        check(not emails, "no email address in clear in the log %s (%s)" % (os.path.basename(path), emails[:3]))


def finish():
    """Scans the logs (scan_logs); shows the logs of kabinetd processes when something failed (from the first
    sanitizer report, or the tail), removes them, and exits with the verdict."""
    scan_logs()
    for path in LOGS:
        if FAILS:
            lines = open(path, errors="replace").readlines()
            at = [i for i, l in enumerate(lines) if "Sanitizer" in l or "runtime error" in l]
            print("---- " + path)
            print("".join(lines[at[0]:at[0] + 40] if at else lines[-25:]))
        if os.environ.get("KB_KEEP_LOGS"):  # for a closer look
            print("kept " + path)
        else:
            os.unlink(path)
    print("%d failed" % len(FAILS))
    sys.exit(1 if FAILS else 0)
