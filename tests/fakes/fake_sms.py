#!/usr/bin/env python3
"""Fake SMS gateways for kabinet's tests: SMSC.ru or SMS.ru, speaking the formats their documentation gives, plus a
control API for the test that plays the operator network and the customer's phone.

  --kind smsc   POST /sys/send.php (login, psw, phones, mes, charset=utf-8, fmt=3, id, sender) -> {"id", "cnt"} or
                {"error", "error_code"}; statuses and incoming SMS are POSTed to --notify as forms signed with md5:
                status md5("id:phone:status:secret"), incoming md5("phone:mes:to:secret").
                https://smsc.ru/api/http/send/sms/, https://smsc.ru/api/http/miscellaneous/callback/
  --kind smsru  POST /sms/send (api_id, to, msg, json=1) -> {"status": "OK", "status_code": 100, "sms": {"7…":
                {"status": "OK", "status_code": 100, "sms_id": "…"}}, "balance": …}; statuses are POSTed to --notify
                (a URL with the secret token) as data[N]="sms_status\\n<sms_id>\\n<code>\\n<unix time>", answered "100".
                https://sms.ru/api/send, https://sms.ru/api/status

Control (JSON): GET /control/state -> {messages: [{id, phone, text, t}], errors}; POST /control/fail_next {code, n}
(the next n sends are refused with that gateway error code, or answered 500 when code is 500); POST /control/status
{id, status} (a delivery status for message id); POST /control/incoming {phone, text, sign: false to forge};
POST /control/replay {sms_id} (the last incoming callback again, its signature as it was, with a new sms_id)
(a customer's SMS; answers with kabinet's HTTP status)."""
import argparse, hashlib, json, threading, time, urllib.parse, urllib.request, urllib.error
from fakehttp import JsonHandler, serve

S = {"messages": [], "errors": [], "fail": [], "next_id": 1000, "incoming": 0}
LOCK = threading.Lock()
ARGS = None


def smsc_md5(fields, secret):
    return hashlib.md5((":".join(fields) + ":" + secret).encode()).hexdigest()


def post_form(url, fields):
    data = urllib.parse.urlencode(fields).encode()
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return 0, ""


def take(phone, text):
    """Records a sent message; returns (error code or None, id)."""
    if S["fail"]:
        code = S["fail"].pop(0)
        return code, None
    S["next_id"] += 1
    mid = str(S["next_id"]) if ARGS.kind == "smsc" else "000000-%d" % S["next_id"]
    S["messages"].append({"id": mid, "phone": phone, "text": text, "t": time.time()})
    return None, mid


def smsc_send(f):
    if f.get("login") != ARGS.login or f.get("psw") != ARGS.password:
        return 200, {"error": "authorise error", "error_code": 2}
    if f.get("charset") != "utf-8" or f.get("fmt") != "3":
        S["errors"].append("send.php without charset=utf-8 and fmt=3")
        return 200, {"error": "parameters error", "error_code": 1}
    phone, mes = f.get("phones", ""), f.get("mes", "")
    if not phone.isdigit() or not mes:
        return 200, {"error": "invalid number", "error_code": 7}
    code, mid = take(phone, mes)
    if code == 500:
        return 500, {"error": "internal"}
    if code:
        return 200, {"error": "refused", "error_code": code}
    if f.get("id"):  # the client's id becomes the message's id
        S["messages"][-1]["id"] = mid = f["id"]
    return 200, {"id": int(mid) if mid.isdigit() else mid, "cnt": 1}


def smsru_send(f):
    if f.get("api_id") != ARGS.password:
        return 200, {"status": "ERROR", "status_code": 200, "status_text": "Неправильный api_id"}
    if f.get("json") != "1":
        S["errors"].append("sms/send without json=1")
    to, msg = f.get("to", ""), f.get("msg", "")
    if not to.isdigit() or not msg:
        return 200, {"status": "OK", "status_code": 100, "sms": {to: {"status": "ERROR", "status_code": 202,
                                                                       "status_text": "Неправильно указан получатель"}}}
    code, mid = take(to, msg)
    if code == 500:
        return 500, {"status": "ERROR"}
    if code:
        return 200, {"status": "OK", "status_code": 100, "sms": {to: {"status": "ERROR", "status_code": code,
                                                                       "status_text": "refused"}}}
    return 200, {"status": "OK", "status_code": 100, "sms": {to: {"status": "OK", "status_code": 100, "sms_id": mid}},
                 "balance": 4122.56}


def c_status(b):
    with LOCK:
        m = next(x for x in S["messages"] if x["id"] == str(b["id"]))
    if ARGS.kind == "smsc":
        f = {"id": m["id"], "phone": m["phone"], "status": str(b["status"]), "time": str(int(time.time())),
             "ts": str(int(time.time())), "err": "0"}
        f["md5"] = smsc_md5([f["id"], f["phone"], f["status"]], ARGS.secret) if b.get("sign", True) else "0" * 32
        st, body = post_form(ARGS.notify, f)
    else:
        url = ARGS.notify if b.get("sign", True) else ARGS.notify.rsplit("/", 1)[0] + "/wrong-token-0000000"
        st, body = post_form(url, {"data[0]": "sms_status\n%s\n%s\n%d" % (m["id"], b["status"], time.time())})
    return {"status": st, "body": body}


def c_incoming(b):
    with LOCK:
        S["incoming"] += 1
        sid = str(5000 + S["incoming"])
    phone = b["phone"].lstrip("+")
    f = {"phone": phone, "mes": b["text"], "to": "79990001122", "sms_id": sid, "sent": str(int(time.time())),
         "time": str(int(time.time()))}
    f["md5"] = smsc_md5([phone, b["text"], f["to"]], ARGS.secret) if b.get("sign", True) else "f" * 32
    with LOCK:
        S["last_in"] = dict(f)
    st, body = post_form(ARGS.notify, f)
    return {"status": st, "body": body}


def c_replay(b):
    """The last incoming callback posted again as an attacker who captured it would: its signature as it was, a new
    sms_id (not signed)."""
    with LOCK:
        f = dict(S.get("last_in") or {})
    f["sms_id"] = str(b.get("sms_id", "999999"))
    st, body = post_form(ARGS.notify, f)
    return {"status": st, "body": body}


class Handler(JsonHandler):
    def handle_any(self):
        u = urllib.parse.urlparse(self.path)
        body = self.body()
        if u.path == "/control/state":
            with LOCK:
                return self.answer(200, {"messages": S["messages"], "errors": S["errors"]})
        if u.path == "/control/fail_next":
            b = json.loads(body)
            with LOCK:
                S["fail"] = [int(b["code"])] * int(b.get("n", 1))
            return self.answer(200, {})
        if u.path == "/control/status":
            return self.answer(200, c_status(json.loads(body)))
        if u.path == "/control/incoming":
            return self.answer(200, c_incoming(json.loads(body)))
        if u.path == "/control/replay":
            return self.answer(200, c_replay(json.loads(body)))
        f = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode() or u.query).items()}
        with LOCK:
            if ARGS.kind == "smsc" and u.path == "/sys/send.php":
                code, obj = smsc_send(f)
            elif ARGS.kind == "smsru" and u.path == "/sms/send":
                code, obj = smsru_send(f)
            else:
                code, obj = 404, {"error": "not found"}
        self.answer(code, obj)



def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", choices=("smsc", "smsru"), required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--login", default="kabinet")
    ap.add_argument("--password", default="sms-password")
    ap.add_argument("--secret", default="smsc-callback-secret")
    ap.add_argument("--notify", required=True)
    ARGS = ap.parse_args()
    serve(ARGS.port, Handler)


if __name__ == "__main__":
    main()
