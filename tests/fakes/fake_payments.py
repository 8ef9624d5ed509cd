#!/usr/bin/env python3
"""Fake payment providers for kabinet's tests: YooKassa API v3 or Sberbank acquiring REST, speaking the formats their
documentation gives, plus a control API for the test that plays the bank and the customer.

  --kind yookassa  POST /v3/payments (HTTP Basic shopId:secret, Idempotence-Key required; the same key gives the same
                   payment back), GET /v3/payments/{id}, GET /v3/receipts?payment_id=; notifications are POSTed
                   as {"type": "notification", "event": "payment.succeeded", "object": {...}}.
                   https://yookassa.ru/developers/api#create_payment, …#get_payment, …#get_receipts_list,
                   https://yookassa.ru/developers/using-api/webhooks
  --kind sber      POST /payment/rest/register.do, getOrderStatusExtended.do, getReceiptStatus.do (form fields,
                   userName/password); callbacks are GETs with mdOrder, orderNumber, operation, status and checksum
                   (HMAC-SHA256 over "name;value;" sorted by name, upper-case hex).
                   https://securepayments.sberbank.ru/wiki/doku.php/integration:api:rest:requests:register,
                   …:getorderstatusextended, …/integration:api:callback:start

Control (JSON): GET /control/state -> {payments, requests, errors}; POST /control/fail_next {n, after_create}
(the next n creations answer 500 — after_create: having made the payment, as when the answer is lost);
POST /control/settle {id, outcome: "succeeded"|"canceled", notify: bool, amount_kopecks: to report another amount,
receipt_after_s}; POST /control/notify {id} (send the notification again). Answers that a real provider would refuse
are recorded in errors (the test expects none)."""
import argparse, base64, hashlib, hmac, json, threading, time, urllib.parse, urllib.request, uuid
from datetime import datetime, timezone
from fakehttp import JsonHandler, serve

S = {"payments": {}, "by_key": {}, "requests": [], "errors": [], "fail_next": 0, "after_create": False}
LOCK = threading.Lock()
ARGS = None


def now_iso():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def rub(kop):
    return "%d.%02d" % (kop // 100, kop % 100)


def error(what):
    S["errors"].append(what)
    return what


def sber_checksum(params, key):
    line = "".join("%s;%s;" % (k, params[k]) for k in sorted(params) if k not in ("checksum", "sign_alias"))
    return hmac.new(key.encode(), line.encode(), hashlib.sha256).hexdigest().upper()


# ---------------------------------------------------------------- YooKassa

def yk_object(p):
    o = {"id": p["id"], "status": p["status"], "paid": p["status"] == "succeeded",
         "amount": {"value": rub(p["reported_kopecks"]), "currency": "RUB"},
         "confirmation": {"type": "redirect", "confirmation_url": p["url"]},
         "created_at": p["created_at"], "description": p["description"], "metadata": p["metadata"],
         "recipient": {"account_id": ARGS.shop, "gateway_id": "100500"}, "refundable": p["status"] == "succeeded",
         "test": True}
    if p["status"] == "succeeded":
        o["captured_at"] = p["paid_at"]
        o["income_amount"] = o["amount"]
    if p["status"] == "canceled":
        o["cancellation_details"] = {"party": "yoo_money", "reason": "card_expired"}
    return o


def yk_create(h, body):
    auth = h.headers.get("Authorization", "")
    want = "Basic " + base64.b64encode(("%s:%s" % (ARGS.shop, ARGS.secret)).encode()).decode()
    if auth != want:
        return 401, {"type": "error", "code": "invalid_credentials", "description": error("bad credentials")}
    key = h.headers.get("Idempotence-Key")
    if not key:
        return 400, {"type": "error", "code": "invalid_request", "description": error("no Idempotence-Key")}
    try:
        b = json.loads(body)
        value, cur = b["amount"]["value"], b["amount"]["currency"]
        assert cur == "RUB" and isinstance(value, str) and value.count(".") == 1 and len(value.split(".")[1]) == 2
        assert b["capture"] is True and b["confirmation"]["type"] == "redirect" and b["confirmation"]["return_url"]
        assert b["metadata"]["order_id"].startswith("kb-")
        r = b["receipt"]
        assert r["customer"].get("email") or r["customer"].get("phone")
        item = r["items"][0]
        assert item["description"] and item["amount"]["value"] == value and isinstance(item["vat_code"], int)
        assert item["quantity"] in ("1.00", "1", 1)
    except (KeyError, AssertionError, ValueError, TypeError, IndexError) as e:
        return 400, {"type": "error", "code": "invalid_request", "description": error("malformed payment: %r" % e)}
    if key in S["by_key"]:
        p = S["payments"][S["by_key"][key]]
        if p["request"] != b:
            return 400, {"type": "error", "code": "invalid_request",
                         "description": error("Idempotence-Key reused with another request")}
    else:
        if S["fail_next"] and not S["after_create"]:
            S["fail_next"] -= 1
            return 500, {"type": "error", "code": "internal_server_error", "description": "try later"}
        pid = str(uuid.uuid4())[:8] + "-000f-5000-8000-" + uuid.uuid4().hex[:12]
        kop = int(round(float(value) * 100))
        S["payments"][pid] = p = {"id": pid, "status": "pending", "kopecks": kop, "reported_kopecks": kop,
                                  "order": b["metadata"]["order_id"], "metadata": b["metadata"],
                                  "description": b.get("description", ""), "created_at": now_iso(),
                                  "url": "%s/checkout/%s" % (ARGS.public, pid), "request": b, "keys": [key],
                                  "email": r["customer"].get("email"), "phone": r["customer"].get("phone"),
                                  "receipt_at": None}
        S["by_key"][key] = pid
        if S["fail_next"]:
            S["fail_next"] -= 1
            return 500, {"type": "error", "code": "internal_server_error", "description": "try later"}
    p["keys"].append(key)
    return 200, yk_object(p)


def yk_receipts(pid):
    p = S["payments"].get(pid)
    items = []
    if p and p["status"] == "succeeded" and p["receipt_at"] is not None and time.time() >= p["receipt_at"]:
        items.append({"id": "rt-" + pid, "type": "payment", "payment_id": pid, "status": "succeeded",
                      "fiscal_document_number": p["fd"], "fiscal_storage_number": "9288000100115785",
                      "fiscal_attribute": p["fpd"], "registered_at": p["fiscal_at"],
                      "fiscal_provider_id": "fd9e9404-eaca-4000-8ec9-dc228ead2345",
                      "items": [{"description": "Электроэнергия", "quantity": "1.00",
                                 "amount": {"value": rub(p["kopecks"]), "currency": "RUB"}, "vat_code": 1}]})
    return {"type": "list", "items": items}


# ---------------------------------------------------------------- Sberbank

def sb_auth(f):
    if f.get("userName") != ARGS.shop or f.get("password") != ARGS.secret:
        return {"errorCode": "5", "errorMessage": error("Доступ запрещён")}
    return None


def sb_register(f):
    bad = sb_auth(f)
    if bad:
        return 200, bad
    try:
        number, amount = f["orderNumber"], int(f["amount"])
        assert amount > 0 and f["returnUrl"].startswith("http") and int(f.get("sessionTimeoutSecs", "1200")) > 0
    except (KeyError, ValueError, AssertionError) as e:
        return 200, {"errorCode": "4", "errorMessage": error("malformed register.do: %r" % e)}
    if any(p["order"] == number for p in S["payments"].values()):
        return 200, {"errorCode": "1", "errorMessage": "Заказ с таким номером уже обработан"}
    if S["fail_next"] and not S["after_create"]:
        S["fail_next"] -= 1
        return 500, {"error": "internal"}
    oid = str(uuid.uuid4())
    S["payments"][oid] = {"id": oid, "status": 0, "kopecks": amount, "reported_kopecks": amount, "order": number,
                          "url": "%s/payment/merchants/test/payment_ru.html?mdOrder=%s" % (ARGS.public, oid),
                          "receipt_at": None, "form": f}
    if S["fail_next"]:
        S["fail_next"] -= 1
        return 500, {"error": "internal"}
    return 200, {"orderId": oid, "formUrl": S["payments"][oid]["url"]}


def sb_order(f):
    """The order a request names (None, answer) or (order, None) — after the credentials."""
    bad = sb_auth(f)
    if bad:
        return None, (200, bad)
    p = S["payments"].get(f.get("orderId", ""))
    return (p, None) if p else (None, (200, {"errorCode": "6", "errorMessage": "Заказ не найден"}))


def sb_status(f):
    p, refused = sb_order(f)
    if refused:
        return refused
    o = {"errorCode": "0", "errorMessage": "Успешно", "orderNumber": p["order"], "orderStatus": p["status"],
         "actionCode": 0 if p["status"] == 2 else -2007, "amount": p["reported_kopecks"], "currency": "643",
         "date": int(time.time() * 1000), "orderDescription": p["form"].get("description", "")}
    if p["status"] == 2:
        o["authDateTime"] = int(p["paid_ts"] * 1000)
    return 200, o


def sb_receipt(f):
    p, refused = sb_order(f)
    if refused:
        return refused
    out = {"errorCode": "0", "orderNumber": p["order"], "orderId": p["id"], "receipt": []}
    if p["status"] == 2 and p["receipt_at"] is not None and time.time() >= p["receipt_at"]:
        out["receipt"].append({"receiptStatus": 1, "uuid": str(uuid.uuid4()), "shift_number": 12,
                               "fiscal_receipt_number": 34, "receipt_date_time": p["fiscal_at"],
                               "fn_number": "9999078900004312", "ecr_registration_number": "0000000400054952",
                               "fiscal_document_number": int(p["fd"]), "fiscal_document_attribute": int(p["fpd"]),
                               "amount_total": rub(p["kopecks"]),
                               "ofd_receipt_url": "https://ofd.example/rec/" + p["fd"]})
    return 200, out


# ---------------------------------------------------------------- notifications

def notify(p):
    if ARGS.kind == "yookassa":
        event = "payment.succeeded" if p["status"] == "succeeded" else "payment.canceled"
        body = json.dumps({"type": "notification", "event": event, "object": yk_object(p)}).encode()
        req = urllib.request.Request(ARGS.notify, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    else:
        q = {"mdOrder": p["id"], "orderNumber": p["order"], "operation": "deposited" if p["status"] == 2
             else "declinedByTimeout", "status": "1" if p["status"] == 2 else "0", "amount": str(p["kopecks"])}
        q["checksum"] = sber_checksum(q, ARGS.key)
        req = urllib.request.Request(ARGS.notify + "?" + urllib.parse.urlencode(q))
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def c_settle(b):
    with LOCK:
        p = S["payments"][b["id"]]
        ok = b.get("outcome", "succeeded") == "succeeded"
        if ARGS.kind == "yookassa":
            p["status"] = "succeeded" if ok else "canceled"
        else:
            p["status"] = 2 if ok else 6
        p["paid_at"], p["paid_ts"] = now_iso(), time.time()
        if "amount_kopecks" in b:
            p["reported_kopecks"] = b["amount_kopecks"]
        if ok:
            p["receipt_at"] = time.time() + float(b.get("receipt_after_s", 0))
            p["fd"] = str(1000 + len(S["payments"]))
            p["fpd"] = str(int(hashlib.sha256(p["id"].encode()).hexdigest()[:8], 16) % 4000000000)
            p["fiscal_at"] = now_iso()
    return {"notified": notify(p) if b.get("notify", True) else None}


def c_notify(b):
    with LOCK:
        p = S["payments"][b["id"]]
    return {"notified": notify(p)}


def c_fail_next(b):
    S["fail_next"] = int(b.get("n", 1))
    S["after_create"] = bool(b.get("after_create", False))
    return {}


def c_state(_):
    return {"payments": [{k: v for k, v in p.items() if k not in ("request", "form")} for p in S["payments"].values()],
            "requests": S["requests"], "errors": S["errors"]}


class Handler(JsonHandler):
    def handle_any(self):
        u = urllib.parse.urlparse(self.path)
        body = self.body()
        if u.path.startswith("/control/"):
            name = u.path[len("/control/"):]
            if self.command == "GET":
                with LOCK:
                    return self.answer(200, c_state(None))
            fn = {"settle": c_settle, "notify": c_notify, "fail_next": c_fail_next}[name]
            if fn is c_settle or fn is c_notify:
                return self.answer(200, fn(json.loads(body or b"{}")))
            with LOCK:
                return self.answer(200, fn(json.loads(body or b"{}")))
        with LOCK:
            S["requests"].append({"method": self.command, "path": u.path, "key": self.headers.get("Idempotence-Key"),
                                  "t": time.time()})
            if ARGS.kind == "yookassa":
                if self.command == "POST" and u.path == "/v3/payments":
                    code, obj = yk_create(self, body)
                elif self.command == "GET" and u.path.startswith("/v3/payments/"):
                    p = S["payments"].get(u.path.rsplit("/", 1)[1])
                    code, obj = (200, yk_object(p)) if p else (404, {"type": "error", "code": "not_found"})
                elif self.command == "GET" and u.path == "/v3/receipts":
                    q = urllib.parse.parse_qs(u.query)
                    code, obj = 200, yk_receipts(q.get("payment_id", [""])[0])
                else:
                    code, obj = 404, {"type": "error", "code": "not_found"}
            else:
                f = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}
                name = u.path.rsplit("/", 1)[-1]
                fn = {"register.do": sb_register, "getOrderStatusExtended.do": sb_status,
                      "getReceiptStatus.do": sb_receipt}.get(name)
                code, obj = fn(f) if fn and self.command == "POST" else (404, {"errorCode": "7"})
        self.answer(code, obj)



def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", choices=("yookassa", "sber"), required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--shop", default="100500")
    ap.add_argument("--secret", default="test_secret-key")
    ap.add_argument("--key", default="callback-key")
    ap.add_argument("--notify", required=True, help="kabinet's webhook / callback URL")
    ARGS = ap.parse_args()
    ARGS.public = "http://127.0.0.1:%d" % ARGS.port
    serve(ARGS.port, Handler)


if __name__ == "__main__":
    main()
