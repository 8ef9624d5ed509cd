"""Real mail servers for kabinet's email tests, on loopback: Debian's dovecot-imapd as the IMAP mailbox kabinet
polls (its own configuration in a temporary folder; the test drops customers' mail into it by IMAP APPEND), and
tests/fakes/fake_smtp.py (Debian's python3-aiosmtpd) as the SMTP server kabinet sends through, which keeps every
message it accepted as a file. Messages are built and read with Python's email package."""
import glob, imaplib, json, os, shutil, socket, subprocess, tempfile, time
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import make_msgid

from kbtest import ROOT, free_port, wait_until

IMAP_USER, IMAP_PASSWORD = "kabinet", "imap-password"
SMTP_USER, SMTP_PASSWORD = "kabinet", "smtp-password"
OUR = "bot@kabinet.test"


class Dovecot:
    """dovecot -F with a configuration of its own: one user, a Maildir, plain IMAP on a free port."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="kb-dovecot-")
        os.chmod(self.dir, 0o755)  # dovecot's auth and mail processes run as other users
        self.port = free_port()
        for d in ("run", "state", "home"):
            os.makedirs(os.path.join(self.dir, d))
        shutil.chown(os.path.join(self.dir, "home"), "postgres", "postgres")
        with open(os.path.join(self.dir, "passwd"), "w") as f:
            f.write("%s:{PLAIN}%s::::::\n" % (IMAP_USER, IMAP_PASSWORD))
        self.conf = os.path.join(self.dir, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write(CONF.format(dir=self.dir, port=self.port))
        self.proc = subprocess.Popen(["/usr/sbin/dovecot", "-F", "-c", self.conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_until(self._up, 15)
        self.url = "imap://%s:%s@127.0.0.1:%d/INBOX" % (IMAP_USER, IMAP_PASSWORD, self.port)

    def _up(self):
        try:
            self._login().logout()
            return True
        except OSError:
            return False

    def _login(self):
        m = imaplib.IMAP4("127.0.0.1", self.port)
        m.login(IMAP_USER, IMAP_PASSWORD)
        return m

    def append(self, msg):
        m = self._login()
        try:
            st, _ = m.append("INBOX", None, None, msg if isinstance(msg, bytes) else msg.as_bytes())
            assert st == "OK", st
        finally:
            m.logout()

    def uidvalidity(self, value=None):
        if value is not None:
            subprocess.run(["doveadm", "-c", self.conf, "mailbox", "update", "-u", IMAP_USER, "--uid-validity",
                            str(value), "INBOX"], check=True)
        m = self._login()
        try:
            m.select("INBOX")
            return int(m.response("UIDVALIDITY")[1][0])
        finally:
            m.logout()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


CONF = """protocols = imap
listen = 127.0.0.1
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
default_login_user = dovenull
default_internal_user = dovecot
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/passwd
}}
userdb {{
  driver = static
  args = uid=postgres gid=postgres home={dir}/home/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), 1).close()
        return True
    except OSError:
        return False


class Smtp:
    """tests/fakes/fake_smtp.py: the messages kabinet sent, as it sent them."""

    def __init__(self, tls=False, reject=()):
        self.dir = tempfile.mkdtemp(prefix="kb-smtp-")
        self.port = free_port()
        args = ["/usr/bin/python3", os.path.join(ROOT, "tests", "fakes", "fake_smtp.py"), "--port", str(self.port),
                "--dir", self.dir, "--user", SMTP_USER, "--password", SMTP_PASSWORD]
        self.ca = None
        if tls:
            self.ca = os.path.join(self.dir, "cert.pem")
            key = os.path.join(self.dir, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                            "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out",
                            self.ca], check=True, capture_output=True)
            args += ["--cert", self.ca, "--key", key]
        for r in reject:
            args += ["--reject-rcpt", r]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        wait_until(lambda: port_open(self.port) or self.proc.poll() is not None, 15)
        self.url = "smtp://%s:%s@127.0.0.1:%d" % (SMTP_USER, SMTP_PASSWORD, self.port)

    def messages(self, to=None):
        """[(envelope, message)] in the order accepted, optionally only those to address to."""
        out = []
        for path in sorted(glob.glob(os.path.join(self.dir, "*.eml"))):
            env = json.load(open(path[:-4] + ".json"))
            if to is None or to in env["to"]:
                out.append((env, message_from_bytes(open(path, "rb").read(), policy=policy.default)))
        return out

    def wait(self, to, n, seconds=20):
        """The first n messages to address to, once there are that many (or what there is after seconds)."""
        wait_until(lambda: len(self.messages(to)) >= n, seconds)
        return self.messages(to)[:n] if len(self.messages(to)) >= n else self.messages(to)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def mail(frm, subject, text, to=OUR, **headers):
    """A customer's message: UTF-8 text, a subject encoded as RFC 2047 words when it is not ASCII."""
    m = EmailMessage()
    m["From"] = frm
    m["To"] = to
    m["Subject"] = subject
    m["Message-ID"] = make_msgid(domain="example.ru")
    m["Date"] = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
    for k, v in headers.items():
        m[k.replace("_", "-")] = v
    m.set_content(text)
    return m


def body(msg):
    """The text part of one of our messages."""
    part = msg.get_body(preferencelist=("plain",))
    return part.get_content() if part else ""


def pdf_text(data):
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(data)
        f.flush()
        return subprocess.run(["pdftotext", "-layout", f.name, "-"], capture_output=True, text=True).stdout
