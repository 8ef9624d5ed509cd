#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (tests/fuzz/corpus/<target>/) from the shapes the channel tests use:
Telegram updates as tests/fakes/fake_telegram.py sends them, SMS keywords as tests/integration/test_sms.py types
them, YooKassa and Sberbank notifications as tests/fakes/fake_payments.py posts them, SMSC.ru and SMS.ru callbacks
as tests/fakes/fake_sms.py posts them, mail as tests/integration/test_mail.py builds it, billing files as
tests/integration/test_billing.c imports them. Run it again after changing a shape; the files are committed."""
import hashlib, json, os, urllib.parse
from email.message import EmailMessage

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    data = data.encode() if isinstance(data, str) else data
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)


def user(uid=7000000001):
    return {"id": uid, "is_bot": False, "first_name": "Иван", "language_code": "ru"}


def chat(cid=7000000001, kind="private"):
    return {"id": cid, "type": kind}


def msg(**kw):
    m = {"message_id": 10, "date": 1796000000, "chat": chat(), "from": user()}
    m.update(kw)
    return m


updates = [
    {"update_id": 1, "message": msg(text="/start")},
    {"update_id": 2, "message": msg(text="29 700,5")},
    {"update_id": 3, "message": msg(contact={"phone_number": "+79161234567", "user_id": 7000000001, "first_name": "И"})},
    {"update_id": 4, "message": msg(photo=[{"file_id": "AgACAgIAAxkBAAIC", "file_unique_id": "u1", "width": 90,
                                            "height": 90, "file_size": 1200}], caption="счётчик")},
    {"update_id": 5, "message": msg(document={"file_id": "BQACAgIAAxkBAAID", "file_unique_id": "u2",
                                              "file_name": "квитанция.pdf", "mime_type": "application/pdf",
                                              "file_size": 30000})},
    {"update_id": 6, "callback_query": {"id": "q6", "from": user(), "chat_instance": "1", "data": "12:balance",
                                        "message": {"message_id": 9, "date": 0, "chat": chat()}}},
    {"update_id": 7, "edited_message": msg(text="исправил")},
    {"update_id": 8, "my_chat_member": {"chat": chat(), "from": user(), "date": 0,
                                        "old_chat_member": {"status": "member", "user": user()},
                                        "new_chat_member": {"status": "kicked", "user": user()}}},
    {"update_id": 9, "message": msg(chat=chat(-1001234567890, "supergroup"), message_thread_id=77,
                                    is_topic_message=True, text="/take")},
    {"update_id": 10, "message": msg(chat=chat(-1001234567890, "supergroup"), message_thread_id=77,
                                     is_topic_message=True, text="Здравствуйте, проверили показания.")},
    {"update_id": 4503599627370495, "message": msg(text="x" * 300)},
]
for u in updates:
    put("tg_update", json.dumps(u, ensure_ascii=False))

for t in ["БАЛАНС", "баланс", "П 12345", "ПОКАЗАНИЯ 12345 6789", "1800000001 П 29700,5", "ОПЛАТА", "ОПЛАТА 1500",
          "oплaтa 100", "СЧЕТ", "счёт", "СТОП", "STOP", "СТАРТ", "ПОМОЩЬ", "ОПЕРАТОР", "1", "9", "BALANCE", "R 123",
          "привет, когда придёт квитанция?", "€^{}[~]|\\"]:
    put("sms_text", t)

for digits, t in [(5, "29700"), (5, "29 700"), (5, "29700,5"), (6, "1 234,567"), (5, "-5"), (5, "двадцать"),
                  (5, "123456"), (9, "99999999999999999999"), (5, "29\u00a0700"), (5, "29\u2009700.125"), (0, "0")]:
    put("reading", bytes([digits]) + t.encode())


def mail(frm, subject, text, **headers):
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = frm, "bot@kabinet.test", subject
    m["Message-ID"] = "<seed.%d@example.ru>" % len(text)
    for k, v in headers.items():
        m[k.replace("_", "-")] = v
    m.set_content(text)
    return m


put("mime", mail("Иван Петров <ivan@example.ru>", "БАЛАНС", "Здравствуйте!").as_bytes())
put("mime", mail("ivan@example.ru", "Re: Код", "123456\n\n-- \nИван\n\nOn Mon wrote:\n> x\n",
                 In_Reply_To="<kb.1.0123456789abcdef0123@kabinet.test>").as_bytes())
put("mime", mail("ivan@example.ru", "Автоответ", "в отпуске", Auto_Submitted="auto-replied").as_bytes())
m = mail("anna@example.ru", "Фото", "во вложении")
m.add_alternative("<p>во <b>вложении</b></p>", subtype="html")
m.add_attachment(b"\xff\xd8\xff\xe0" + b"\0" * 64, maintype="image", subtype="jpeg", filename="meter.jpg")
put("mime", m.as_bytes())
put("mime", "From: =?koi8-r?Q?=F0=C5=D4=D2?= <p@example.ru>\r\nSubject: =?windows-1251?B?0fe48iDx9+Xy?=\r\n"
            "Content-Type: text/plain; charset=koi8-r\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=F0=D2=C9\r\n")
put("mime", "From: a@b.ru\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\n\r\nhi\r\n--zz--\r\n")

yk = {"type": "notification", "event": "payment.succeeded", "object": {
    "id": "2e7d9f43-000f-5000-8000-1b5a1d5e2a3c", "status": "succeeded", "paid": True,
    "amount": {"value": "100.00", "currency": "RUB"}, "metadata": {"order_id": "kb-17"},
    "created_at": "2026-11-30T08:00:00.000Z", "captured_at": "2026-11-30T08:00:05.000Z"}}
put("pay_notice", b"\0\n" + json.dumps(yk).encode())
put("pay_notice", b"\0\n" + json.dumps(dict(yk, event="payment.canceled")).encode())
q = {"mdOrder": "70906e55-7114-41d6-8332-4609dc6590f4", "orderNumber": "kb-17", "operation": "deposited",
     "status": "1", "amount": "10000", "checksum": "9524FD765FB1BABFB1F42E4BC6EF5A4B07BAA3A2C6A3D8E0A0E7B1A1D2C3E4F5"}
put("pay_notice", b"\1" + urllib.parse.urlencode(q).encode() + b"\n")

f = {"id": "1001", "phone": "79160001155", "status": "1", "md5": "0" * 32}
put("sms_callback", b"\0\n" + urllib.parse.urlencode(f).encode())
f = {"phone": "79160001155", "mes": "БАЛАНС", "to": "79990001122", "sms_id": "555", "sent": "1796000000",
     "md5": "f" * 32}
put("sms_callback", b"\0\n" + urllib.parse.urlencode(f).encode())
put("sms_callback", b"\1\n" + urllib.parse.urlencode({"data[0]": "sms_status\n000000-1000\n103\n1796000000",
                                                       "data[1]": "sms_status\n000000-1001\n104\n1796000001"}).encode())

for c in ["ENV=production\nCODE_KEY=0123456789abcdef0123456789abcdef0123",
          "HTTP_LISTEN=0.0.0.0:8080\nDATABASE_POOL=64\nTELEGRAM_TOKEN=123456:ABC\nTELEGRAM_MODE=webhook\n"
          "TELEGRAM_WEBHOOK_URL=https://x.ru/telegram/webhook\nTELEGRAM_SECRET=s3cr3t",
          "SMTP_URL=smtp://u:p@127.0.0.1:25\nMAIL_FROM=Энергосбыт <bot@kabinet.test>\nIMAP_URL=imap://u:p@127.0.0.1/INBOX",
          "PAY_PROVIDER=yookassa\nYOOKASSA_SHOP_ID=1\nYOOKASSA_SECRET_KEY=x\nYOOKASSA_WEBHOOK_IPS=185.71.76.0/27,::1",
          "STAFF_CHAT_ID=-1001234567890\nSTAFF_BRANCHES=khk=-1001,stv=-1002\nLOG_LEVEL=debug"]:
    put("config", c)

put("http", b"\0" + b"t=0123456789abcdef0123&c=123456&x=%D0%90+b")
put("http", b"\1" + b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nContent-Type: application/json\r\n\r\n")
put("http", b"\2" + json.dumps({"id": "tg:1:5", "channel": "tg", "conv": "tg:1", "sender": "1", "text": "/menu",
                                "kind": 1, "version": 0, "ts_ms": 1796000000000}).encode())

csvs = ["number,holder_surname,address,branch,tariff,els,opening_balance\n"
        "180211111,Иванова,\"Абакан, ул. Щетинкина, 1\",khk,city-1,77МН000001,0\n"
        "180211112,Петров,\"Ставрополь,\nул. Мира, 5\",stv,city-2,,\"-150,00\"\n",
        "account,month,zone,kwh,rate,amount,correction\n180211111,2026-09,1,150,5.87,\"880,50\",\n",
        "billing_id,account,paid_at,amount,purpose,source\nb-1,180211111,2026-10-10 14:30,\"500,00\",energy,bank\n"
        "b-2,\"unclosed\n"]
for c in csvs:
    put("csv", c)
