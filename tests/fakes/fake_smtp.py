#!/usr/bin/python3
"""A real SMTP server for kabinet's mail tests: Debian's python3-aiosmtpd (run by /usr/bin/python3, where Debian
installs it) on loopback, with AUTH PLAIN/LOGIN against --user/--password, and STARTTLS (required before AUTH)
when --cert/--key are given. Every message it accepts is written as <n>.eml into --dir (the envelope in
<n>.json), so the test reads exactly what went over the wire. With --reject-rcpt ADDR a RCPT TO that address is
refused for good (550), as a real server does for a mailbox that does not exist.

aiosmtpd: https://aiosmtpd.readthedocs.io/ (Controller, auth_require_tls, require_starttls)."""
import argparse, json, os, ssl, threading, time
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Handler:
    def __init__(self, folder, reject):
        self.folder, self.reject, self.n, self.lock = folder, reject, 0, threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.reject:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.n += 1
            n = self.n
        base = os.path.join(self.folder, "%06d" % n)
        with open(base + ".tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        with open(base + ".json", "w") as f:
            json.dump({"from": envelope.mail_from, "to": envelope.rcpt_tos, "tls": session.ssl is not None,
                       "auth": bool(session.authenticated), "t": time.time()}, f)
        os.rename(base + ".tmp", base + ".eml")
        return "250 Message accepted for delivery"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--user", default="kabinet")
    ap.add_argument("--password", default="smtp-password")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--reject-rcpt", action="append", default=[])
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)

    def auth(server, session, envelope, mechanism, data):
        ok = isinstance(data, LoginPassword) and data.login.decode() == a.user and data.password.decode() == a.password
        return AuthResult(success=ok)

    tls = None
    if a.cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(a.cert, a.key)
    c = Controller(Handler(a.dir, [r.lower() for r in a.reject_rcpt]), hostname="127.0.0.1", port=a.port,
                   authenticator=auth, auth_required=True, auth_require_tls=bool(tls), tls_context=tls,
                   require_starttls=bool(tls))
    c.start()
    print("fake_smtp on %d" % a.port, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        c.stop()


if __name__ == "__main__":
    main()
