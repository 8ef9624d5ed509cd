#!/usr/bin/env python3
"""Escalation end to end: a real kabinetd whose staff work in a Telegram supergroup with forum topics, played by
the fake Bot API (createForumTopic, message_thread_id, getChatMember), customers in Telegram and by SMS (the fake
SMSC.ru gateway).

Telegram: a customer asks for a person → a topic named with the appeal number, the masked phone and the account
opens in the staff group with the card first (accounts, balance, the last messages) → a staff message in an appeal
nobody took asks "take over?" → taken, it reaches the customer → the customer's three quick messages reach the
topic as one post → a note stays internal → /ls is audited → /close tells the customer, who rates 5 (stored, in
/metrics) → the customer's next message reopens the same appeal in the same topic.
Outsiders: someone who left the group, a staff command in a private chat and one in another group change nothing
and are logged. A meter photo: the link waits, the photo reaches a topic in the account's branch group
(KABINET_STAFF_BRANCHES), /approve makes the link active and tells the customer. /forget (after a confirmation)
erases that customer's personal data: their topic is deleted in the staff group (deleteForumTopic), identities,
phone and message texts go from Postgres and the conversation's state from Redis; billing rows and a hashed consent
record remain; /start asks for the consent again. SMS: ОПЕРАТОР (after the consent) → the appeal with a
"support is closed now" notice once → /take, a staff answer and the customer's reply cross between the topic and
the phone → /close → the customer rates 4 with a digit."""
import os, subprocess, sys, time, datetime

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kbtest  # noqa: E402

kbtest.REDIS_PORT = int(os.environ["KB_TEST_REDIS_PORT"]) + 1000
from kbtest import (Gateway, Kabinetd, Phone, User, check, free_port, http, psql, wait_until, run,  # noqa: E402
                    is_tmpl, sms_env, sms_notify, CATALOG)

STAFF, BRANCH, OTHER = -1009000000001, -1009000000002, -1009000000777
OLGA, IVAN, GONE = 501, 502, 503


class Staff:
    """A staff member in a staff group: writes in a topic, presses the bot's buttons there."""

    def __init__(self, tg, uid, name, chat=STAFF, last=""):
        self.tg, self.uid, self.name, self.chat, self.last = tg, uid, name, chat, last

    def say(self, topic, text):
        return self.tg.post("message", {"user_id": self.uid, "first_name": self.name, "last_name": self.last,
                                        "chat": {"id": self.chat}, "thread": topic, "text": text})

    def send(self, topic, **kw):
        return self.tg.post("message", dict(user_id=self.uid, first_name=self.name, last_name=self.last,
                                            chat={"id": self.chat}, thread=topic, **kw))

    def press(self, topic, bid):
        for e in reversed(self.tg.log(self.chat)):
            if e.get("thread") != topic:
                continue
            for row in (e.get("reply_markup") or {}).get("inline_keyboard", []):
                for b in row:
                    if b.get("callback_data", "").endswith(":" + bid):
                        return self.tg.post("press", {"user_id": self.uid, "first_name": self.name, "last_name": self.last,
                                                      "chat": {"id": self.chat}, "message_id": e["message_id"],
                                                      "data": b["callback_data"]})
        check(False, "staff %d sees button %s in topic %s" % (self.uid, bid, topic))
        raise RuntimeError("no button")


def topic_posts(tg, chat, topic, after=0):
    return [e for e in tg.log(chat, after) if e.get("thread") == topic and e["op"] != "topic"]


def wait_post(tg, chat, topic, want, after=0, seconds=15):
    """The first post in the topic (after log entry `after`) that want(entry) accepts."""
    got = wait_until(lambda: next((e for e in topic_posts(tg, chat, topic, after) if want(e)), None), seconds)
    return got


def wait_topic(tg, chat, appeal):
    e = wait_until(lambda: next((e for e in tg.log(chat) if e["op"] == "topic" and
                                 e["text"].startswith("№ %s " % appeal)), None), 20)
    check(e is not None, "appeal %s has its topic in staff group %d" % (appeal, chat))
    if e is None:
        raise RuntimeError("no topic")
    return e


def last_n(tg, chat=None):
    log = tg.log(chat)
    return log[-1]["n"] if log else 0


def hours(db, days, start, end):
    psql(db, "UPDATE kb_setting SET value = '{\"days\": \"%s\", \"from\": \"%s\", \"to\": \"%s\", "
             "\"utc_offset_min\": 180}' WHERE key = 'support.hours'" % (days, start, end))


def register(tg, db, gw, uid, phone):
    """A Telegram customer signs in with the code that reached their phone through the SMS gateway."""
    u = User(tg, uid, db)
    u.welcome()
    u.send(contact={"phone": phone})
    u.expect("reg.code_sent")
    sms = wait_until(lambda: gw.messages(phone), 15)
    u.say("".join(ch for ch in (sms[-1]["text"] if sms else "") if ch.isdigit())[:6])
    u.expect("reg.done_new", "menu.main*")
    return u


class Cleanup:
    """Stops kabinetd and the gateway when a phase fails (a passing run stops them at its end)."""
    k = gw = None

    def __enter__(self):
        return self

    def __exit__(self, kind, *_):
        if kind:
            for p in (self.k, self.gw):
                if p is not None and p.proc.poll() is None:
                    p.proc.kill()


# ---------------------------------------------------------------- a Telegram customer

def telegram(tg, db, _):
    tg.post("group", {"id": STAFF, "forum": True, "members": {str(OLGA): "administrator", str(IVAN): "member",
                                                             str(GONE): "left"}})
    tg.post("group", {"id": BRANCH, "forum": True, "members": {str(IVAN): "member"}})
    hours(db, "1234567", "00:00", "24:00")
    gw_port = free_port()
    env = dict(sms_env("smsc", gw_port), KABINET_STAFF_CHAT_ID=str(STAFF), KABINET_STAFF_BRANCHES="stv=%d" % BRANCH)
    k = CLEAN.k = Kabinetd(db, tg, "webhook", "escalation", env)
    gw = CLEAN.gw = Gateway("smsc", gw_port, sms_notify("smsc", k.url))
    olga = Staff(tg, OLGA, "Ольга", last="Операторова")
    u = register(tg, db, gw, 7000000201, "+79160002201")
    u.press("accounts")
    u.expect("acc.none")
    u.link("1800000001", psql(db, "SELECT holder_surname FROM kb_account WHERE number = '1800000001'"))
    u.press("support")
    u.expect("sup.ask")
    u.say("Не пришёл чек за октябрь")
    u.expect("sup.sent")
    aid = psql(db, "SELECT id FROM kb_appeal WHERE conv = 'tg:7000000201'")
    t = wait_topic(tg, STAFF, aid)
    topic = t["thread"]
    check("+7916*****01" in t["text"] and "1800000001" in t["text"] and "+79160002201" not in t["text"],
          "the topic is named with the number, the masked phone and the account (%r)" % t["text"])
    card = wait_post(tg, STAFF, topic, lambda e: True)
    check(card is not None and is_tmpl(card["text"], "staff.card") and "1800000001" in card["text"] and
          "Не пришёл чек" in card["text"] and "₽" in card["text"],
          "the topic's first post is the card: accounts with balance, the last messages (%r)"
          % (card or {}).get("text", "")[:300])
    # the last messages in the order they happened: the link's answer after the ЕЛС it answers (a domain step's
    # replies are written before its time is taken), the question after the support button
    els = psql(db, "SELECT els_code FROM kb_account WHERE number = '1800000001'")
    ctext = (card or {}).get("text", "")
    at = lambda needle: ctext.find(needle)
    check(0 <= at("→ " + els) < at("Счёт привязан и стал основным") < at("→ Не пришёл чек"),
          "the card's last messages are in the order they happened: the ЕЛС, the bot's answer, the question (%r)"
          % ctext[ctext.find("\n", ctext.find(":")):][:600])
    # a person asked for right after signing in: the card shows neither the whole phone nor the code typed
    u2 = register(tg, db, gw, 7000000209, "+79160002209")
    code = psql(db, "SELECT said FROM kb_applied WHERE conv = 'tg:7000000209' AND said ~ '^[0-9]{6}$'")
    u2.say("/human")
    u2.expect("sup.ask")
    u2.say("Помогите, не приходит квитанция")
    aid2 = wait_until(lambda: psql(db, "SELECT id FROM kb_appeal WHERE conv = 'tg:7000000209'"), 15)
    t2 = wait_topic(tg, STAFF, aid2)
    card2 = wait_post(tg, STAFF, t2["thread"], lambda e: is_tmpl(e["text"], "staff.card"))
    text2 = (card2 or {}).get("text", "")
    sms2 = gw.messages("+79160002209")
    typed = "".join(ch for ch in (sms2[-1]["text"] if sms2 else "") if ch.isdigit())[:6]
    check(card2 is not None and "+79160002209" not in text2 and "9160002209" not in text2 and typed and
          typed not in text2 and not code,
          "the staff card masks the phone and never shows the login code, typed or sent (%r)" % text2[-400:])
    said = wait_post(tg, STAFF, topic, lambda e: is_tmpl(e["text"], "staff.customer_says"))
    check(said is not None and "Не пришёл чек за октябрь" in said["text"], "the customer's message is in the topic")
    # staff write before anyone took it: asked first, nothing goes out
    mark = last_n(tg, STAFF)
    olga.say(topic, "Здравствуйте! Сейчас проверю.")
    ask = wait_post(tg, STAFF, topic, lambda e: is_tmpl(e["text"], "staff.confirm_take"), mark)
    check(ask is not None, "a message in an appeal nobody took asks \"take over?\" with a button")
    check(not tg.log(u.uid, u.cursor, wait=1), "meanwhile the customer got nothing")
    olga.press(topic, "take_say")
    got = u.expect("sup.staff_says")[0]["text"]
    check("Здравствуйте! Сейчас проверю." in got and "Ольга" in got and "Операторова" not in got,
          "taken, the staff answer reaches the customer with the staff member's first name only (%r)" % got)
    check(psql(db, "SELECT status || ' ' || assignee FROM kb_appeal WHERE id = %s" % aid) == "open %d" % OLGA,
          "the appeal is open and assigned to the staff member who took it")
    olga.send(topic, photo="AgACstaffscan1", caption="Вот образец квитанции")
    got = u.expect("sup.staff_sends")[0]
    check(got["op"] == "photo" and got["file_id"] == "AgACstaffscan1" and "Вот образец квитанции" in got["text"],
          "a photo staff send reaches the customer as a photo with its caption")
    # three quick messages: one post
    mark = last_n(tg, STAFF)
    for text in ("Спасибо", "Жду", "Номер заказа 123"):
        u.say(text)
    post = wait_post(tg, STAFF, topic, lambda e: is_tmpl(e["text"], "staff.customer_says"), mark)
    time.sleep(2)
    posts = [e for e in topic_posts(tg, STAFF, topic, mark) if is_tmpl(e["text"], "staff.customer_says")]
    check(post is not None and len(posts) == 1 and all(x in post["text"] for x in ("Спасибо", "Жду", "123")),
          "the customer's burst reaches the topic as one post (%r)" % [(e["n"], e["text"][:40]) for e in
                                                                       topic_posts(tg, STAFF, topic)])
    # a note stays among staff
    olga.say(topic, "note: проверить оплату в банке")
    check(wait_until(lambda: psql(db, "SELECT count(*) FROM kb_appeal_message WHERE author = 'note' AND appeal_id = %s"
                                      % aid) == "1", 5), "a note is kept with the appeal")
    check(not tg.log(u.uid, u.cursor, wait=1), "a note does not reach the customer")
    # /ls, audited
    mark = last_n(tg, STAFF)
    olga.say(topic, "/ls 1800000002")
    ls = wait_post(tg, STAFF, topic, lambda e: is_tmpl(e["text"], "staff.ls"), mark)
    check(ls is not None and "1800000002" in ls["text"], "/ls shows the account in the topic")
    check(psql(db, "SELECT count(*) FROM kb_audit WHERE what = 'staff.ls' AND actor = 'staff:%d'" % OLGA) == "1",
          "/ls is audited with the staff member's id")
    # /close: told, rated
    mark = last_n(tg, STAFF)
    olga.say(topic, "/close чек отправлен повторно")
    u.expect("sup.closed_reason", "sup.rate_ask")
    check(wait_post(tg, STAFF, topic, lambda e: is_tmpl(e["text"], "staff.done_close"), mark) is not None,
          "the topic says the appeal is resolved")
    u.press("rate_5")
    u.expect("sup.rated", "menu.main*")
    check(not tg.log(u.uid, u.cursor, wait=1), "and nothing more")
    check(psql(db, "SELECT status || ' ' || rating FROM kb_appeal WHERE id = %s" % aid) == "resolved 5",
          "the rating is stored with the resolved appeal")
    metric = wait_until(lambda: 'kb_appeal_ratings{rating="5"} 1' in http("GET", k.url + "/metrics")[1].decode(), 20)
    check(metric, "ratings are exported by /metrics (kb_appeal_ratings)")
    actions = psql(db, "SELECT string_agg(what, ',' ORDER BY id) FROM kb_audit WHERE actor = 'staff:%d'" % OLGA)
    check(actions == "staff.take_say,staff.say,staff.note,staff.ls,staff.close",
          "every staff action is audited (%s)" % actions)
    # the customer writes again: the same appeal reopens, in the same topic
    mark = last_n(tg, STAFF)
    u.say("А следующий чек придёт?")
    u.expect("sup.reopened")
    again = wait_post(tg, STAFF, topic, lambda e: "А следующий чек придёт?" in e["text"], mark)
    check(again is not None and psql(db, "SELECT count(*) FROM kb_appeal WHERE conv = 'tg:7000000201'") == "1" and
          not [e for e in tg.log(STAFF, mark) if e["op"] == "topic"],
          "a message after \"resolved\" reopens the appeal in its topic, no new one")
    olga.say(topic, "/close")
    u.expect("sup.closed", "sup.rate_ask")
    # /reopen by staff, then /bot: the customer is told each time; with the bot, what they write is the bot's
    olga.say(topic, "/reopen")
    u.expect("sup.reopened_by_staff")
    check(psql(db, "SELECT status FROM kb_appeal WHERE id = %s" % aid) == "open", "/reopen opens the appeal again")
    olga.say(topic, "/bot")
    u.expect("sup.bot_back")
    check(psql(db, "SELECT status FROM kb_appeal WHERE id = %s" % aid) == "bot", "/bot hands it back without closing")
    mark = last_n(tg, STAFF)
    u.say("что-то непонятное")
    u.expect("common.not_understood", "menu.main*")
    check(not [e for e in tg.log(STAFF, mark) if "что-то непонятное" in e.get("text", "")],
          "with the bot, the customer's messages stay with the bot")
    olga.say(topic, "/close")
    u.expect("sup.closed", "sup.rate_ask")
    return k, gw, u, topic, aid


# ---------------------------------------------------------------- outsiders

def outsiders(tg, db, carry):
    k, gw, u, topic, aid = carry
    audit = psql(db, "SELECT count(*) FROM kb_audit")
    tg.post("message", {"user_id": GONE, "first_name": "Бывший", "chat": {"id": STAFF}, "thread": topic,
                        "text": "/reopen"})
    x = User(tg, 7000000299, db)
    x.say("/approve")
    x.expect("*")
    tg.post("chat", {"id": OTHER, "type": "supergroup"})
    tg.post("message", {"user_id": OLGA, "first_name": "Ольга", "chat": {"id": OTHER}, "text": "/reopen"})
    notice = wait_until(lambda: next((e for e in tg.log(OTHER) if e["op"] == "send"), None), 10)
    check(notice is not None and is_tmpl(notice["text"], "tg.private_only"), "a staff command in another group gets "
                                                                           "the private-only notice")
    time.sleep(1.5)
    check(psql(db, "SELECT status FROM kb_appeal WHERE id = %s" % aid) == "resolved" and
          psql(db, "SELECT count(*) FROM kb_audit") == audit,
          "staff commands from someone who left the group, a private chat or another group change nothing")
    # a member removed from the group is forgotten at once (Telegram's chat_member update), not after the cache's 5 min
    ivan = Staff(tg, IVAN, "Иван")
    notes = "SELECT count(*) FROM kb_appeal_message WHERE appeal_id = %s AND author = 'note' AND body LIKE '%%%s%%'"
    ivan.say(topic, "note: до ухода")
    check(wait_until(lambda: psql(db, notes % (aid, "до ухода")) == "1", 10), "a member's note is taken (and cached)")
    tg.post("group", {"id": STAFF, "members": {str(IVAN): "left"}})
    tg.post("update", {"update": {"chat_member": {
        "chat": {"id": STAFF, "type": "supergroup", "title": "staff"}, "from": {"id": OLGA, "is_bot": False,
        "first_name": "Ольга"}, "date": int(time.time()),
        "old_chat_member": {"user": {"id": IVAN, "is_bot": False, "first_name": "Иван"}, "status": "member"},
        "new_chat_member": {"user": {"id": IVAN, "is_bot": False, "first_name": "Иван"}, "status": "left"}}}})
    wait_until(lambda: "left staff group" in k.log_text(), 10)
    ivan.say(topic, "note: после ухода")
    time.sleep(2)
    check(psql(db, notes % (aid, "после ухода")) == "0",
          "removed from the group (chat_member), a former member's next command is refused at once")
    log = k.log_text()
    check("not a member" in log and log.count("not the staff group") >= 2,
          "each refusal is logged (not a member; a staff command outside the staff group)")
    return k, gw


# ---------------------------------------------------------------- a meter photo, in the branch's group

def link_by_photo(v, accounts_screen, number, photo_id):
    """From the menu: links account number with a meter photo; the link waits for staff."""
    v.press("accounts")
    v.expect(accounts_screen)
    v.press("link")
    v.expect("acc.ask_number")
    v.say(number)
    v.expect("acc.ask_proof")
    v.press("photo")
    v.expect("acc.ask_photo")
    v.send(photo=photo_id)
    v.expect("acc.pending", "menu.main*")


def photo(tg, db, carry):
    k, gw = carry
    ivan = Staff(tg, IVAN, "Иван", BRANCH)
    v = register(tg, db, gw, 7000000202, "+79160002202")
    link_by_photo(v, "acc.none", "1800000002", "AgACmeter0202")
    aid = psql(db, "SELECT id FROM kb_appeal WHERE conv = 'tg:7000000202'")
    topic = wait_topic(tg, BRANCH, aid)["thread"]
    card = wait_post(tg, BRANCH, topic, lambda e: is_tmpl(e["text"], "staff.card"))
    check(card is not None and "/approve" in card["text"], "the card says a link waits for a photo check")
    pic = wait_post(tg, BRANCH, topic, lambda e: e["op"] == "photo")
    check(pic is not None and pic["file_id"] == "AgACmeter0202", "the meter photo reaches the branch group's topic")
    ivan.say(topic, "/approve")
    v.expect("acc.approved")
    check(psql(db, "SELECT status || ' ' || approved_by FROM kb_account_link WHERE customer_id = (SELECT customer_id "
                   "FROM kb_appeal WHERE id = %s)" % aid) == "active %d" % IVAN,
          "/approve makes the link active, recorded with the staff member")
    check(wait_post(tg, BRANCH, topic, lambda e: is_tmpl(e["text"], "staff.done_approve")) is not None,
          "the topic says so")
    ivan.say(topic, "/approve")
    check(wait_post(tg, BRANCH, topic, lambda e: is_tmpl(e["text"], "staff.not_pending")) is not None,
          "a second /approve changes nothing and says so")
    ivan.say(topic, "/close")
    v.expect("sup.closed", "sup.rate_ask")
    # a second photo, rejected
    v.say("/menu")
    v.expect("menu.main*")
    link_by_photo(v, "acc.list", "1800000004", "AgACmeter0204")
    check(wait_post(tg, BRANCH, topic, lambda e: e["op"] == "photo" and e["file_id"] == "AgACmeter0204") is not None,
          "a link photo within the reopen window joins the same appeal's topic")
    ivan.say(topic, "/reject")
    v.expect("acc.rejected")
    check(psql(db, "SELECT l.status FROM kb_account_link l JOIN kb_account a ON a.id = l.account_id WHERE "
                   "a.number = '1800000004' AND l.customer_id = (SELECT customer_id FROM kb_appeal WHERE id = %s)"
                   % aid) == "removed", "/reject removes the pending link and tells the customer")
    return k, gw, v, topic, aid


# ---------------------------------------------------------------- /forget: the customer's data erased

def forget(tg, db, carry):
    k, gw, v, topic, aid = carry
    cust = psql(db, "SELECT customer_id FROM kb_identity WHERE channel = 'tg' AND external_id = '7000000202'")
    links = psql(db, "SELECT count(*) FROM kb_account_link WHERE customer_id = %s" % cust)
    phone = psql(db, "SELECT phone FROM kb_customer WHERE id = %s" % cust)
    v.say("/forget")
    v.expect("privacy.forget_confirm")
    v.press("forget_yes")
    v.expect("privacy.forgotten")
    gone = wait_until(lambda: [e for e in tg.log(BRANCH) if e["op"] == "topic_deleted" and e.get("thread") == topic], 15)
    check(bool(gone), "the customer's topic in the staff group is deleted (deleteForumTopic)")
    check(psql(db, "SELECT count(*) FROM kb_identity WHERE customer_id = %s" % cust) == "0" and
          psql(db, "SELECT coalesce(phone, '') || coalesce(email, '') FROM kb_customer WHERE id = %s" % cust) == "",
          "the customer's identities, phone and email are gone from Postgres")
    check(psql(db, "SELECT count(*) FROM kb_appeal_message WHERE appeal_id = %s AND (body <> '' OR attachment_file IS "
                   "NOT NULL)" % aid) == "0", "the appeal's texts and files are erased")
    check(psql(db, "SELECT count(*) FROM kb_account_link WHERE customer_id = %s" % cust) == links and
          psql(db, "SELECT count(*) FROM kb_appeal WHERE id = %s" % aid) == "1",
          "billing rows (links to accounts) and the appeal itself remain")
    check(psql(db, "SELECT count(*) FROM kb_consent WHERE customer_id = %s AND external_id ~ '^[0-9a-f]{64}$'" % cust)
          != "0", "the consent record remains, its identity hashed")
    check(psql(db, "SELECT subject FROM kb_appeal WHERE id = %s" % aid) == "" and
          psql(db, "SELECT status FROM kb_appeal WHERE id = %s" % aid) == "resolved",
          "the appeal's subject (the first words typed) is blank, the appeal closed")
    named = psql(db, "SELECT count(*) FROM kb_outbox WHERE conv = 'sms:%s' OR payload->>'from' = 'tg:7000000202' OR "
                     "payload::text LIKE '%%%s%%'" % (phone, phone[2:]))
    check(phone and named == "0", "no outbox row names the phone or the chat: the code's SMS is erased (%s left)" % named)
    check(psql(db, "SELECT count(*) FROM kb_consent WHERE customer_id = %s AND (external_id = encode(sha256("
                   "convert_to('tg:7000000202', 'UTF8')), 'hex') OR conv <> '')" % cust) == "0",
          "the consent's identity is an HMAC under the server's key, not a bare hash; its conversation blank")
    keep = subprocess.run(["redis-cli", "-p", str(kbtest.REDIS_PORT), "hget", "kb:{tg:7000000202}:state", "keep"],
                          capture_output=True, text=True).stdout.strip()
    check("customer_id" not in keep and "+7916" not in keep, "the conversation's state in Redis forgot them (%s)" % keep)
    v.say("/start")
    v.expect("reg.consent")
    # the same chat signs in as somebody else and asks for a person: a new appeal, never the erased one reopened
    v.press("consent_yes")
    v.expect("reg.welcome")
    v.send(contact={"phone": "+79160002277"})
    v.expect("reg.code_sent")
    sms = wait_until(lambda: gw.messages("+79160002277"), 15)
    v.say("".join(ch for ch in (sms[-1]["text"] if sms else "") if ch.isdigit())[:6])
    v.expect("reg.done_new", "menu.main*")
    v.say("/human")
    v.expect("sup.ask")
    v.say("Здравствуйте, вопрос по оплате")
    v.expect("sup.sent")
    now = psql(db, "SELECT id || ' ' || customer_id FROM kb_appeal WHERE conv = 'tg:7000000202' AND status <> 'resolved'")
    new_cust = psql(db, "SELECT customer_id FROM kb_identity WHERE channel = 'tg' AND external_id = '7000000202'")
    check(now and now.split()[0] != aid and now.split()[1] == new_cust and new_cust != cust,
          "after /forget the chat's next customer opens a new appeal, the erased one stays closed (%s, was %s)" % (now, aid))
    return k, gw


# ---------------------------------------------------------------- a customer by SMS, after hours

def sms(tg, db, carry):
    k, gw = carry
    olga = Staff(tg, OLGA, "Ольга", last="Операторова")
    try:
        msk = datetime.datetime.utcnow() + datetime.timedelta(hours=3)
        start = (msk + datetime.timedelta(hours=6)).strftime("%H:00")
        end = (msk + datetime.timedelta(hours=7)).strftime("%H:00")
        hours(db, "1234567", start, end if end != "00:00" else "24:00")
        p = Phone(gw, "+79160002203")
        p.say("ОПЕРАТОР")
        p.until("reg.consent_sms")
        p.say("Да")
        p.until("sup.ask")
        p.say("Прошу сделать перерасчёт за сентябрь")
        p.expect("sup.sent", "sup.after_hours")
        aid = psql(db, "SELECT id FROM kb_appeal WHERE conv = 'sms:+79160002203'")
        t = wait_topic(tg, STAFF, aid)
        topic = t["thread"]
        check("+7916*****03" in t["text"], "an SMS customer's topic names their number, masked (%r)" % t["text"])
        said = wait_post(tg, STAFF, topic, lambda e: "перерасчёт за сентябрь" in e["text"])
        check(said is not None, "the SMS customer's message reaches the topic")
        p.say("И ещё: счётчик заменили в августе")
        wait_post(tg, STAFF, topic, lambda e: "счётчик заменили" in e["text"])
        check(len(gw.messages(p.number)) == p.seen, "the after-hours notice comes once per appeal, and a later "
                                                    "message is not echoed")
        olga.say(topic, "/take")
        p.expect("sup.taken")
        olga.say(topic, "Пересчитаем до конца месяца.")
        got = p.expect("sup.staff_says")[0]
        check("Пересчитаем до конца месяца." in got, "the staff answer reaches the phone by SMS")
        olga.send(topic, photo="AgACstaffscan2", caption="Акт сверки")
        got = p.expect("sup.staff_sends")[0]
        check("Акт сверки" in got and CATALOG["sms.file_not_sent"] in got,
              "a file staff send cannot go by SMS: the caption comes with a word about the file")
        mark = last_n(tg, STAFF)
        p.say("Спасибо!")
        check(wait_post(tg, STAFF, topic, lambda e: "Спасибо!" in e["text"], mark) is not None,
              "the customer's SMS reply reaches the topic")
        olga.say(topic, "/close")
        p.expect("sup.closed", "sup.rate_ask")
        p.say("4")
        p.expect("sup.rated", "sms.menu")
        check(psql(db, "SELECT rating FROM kb_appeal WHERE id = %s" % aid) == "4", "a digit rates the answer by SMS")
        # past appeal.reopen_hours, a later message opens a new appeal instead
        psql(db, "UPDATE kb_setting SET value = '0' WHERE key = 'appeal.reopen_hours'")
        hours(db, "1234567", "00:00", "24:00")
        p.say("Новый вопрос про пени")
        p.expect("sup.sent")
        check(psql(db, "SELECT count(*) || ' ' || count(*) FILTER (WHERE status = 'waiting') FROM kb_appeal WHERE "
                       "conv = 'sms:+79160002203'") == "2 1", "past the reopen window a message opens a new appeal")
        check(not tg.state()["errors"], "Telegram refused nothing (%r)" % tg.state()["errors"][-3:])
        log = k.stop()
        check("+79160002203" not in log and "+79160002201" not in log, "phones are masked in the log")
    finally:
        if k.proc.poll() is None:
            k.stop()
        gw.stop()


CLEAN = Cleanup()


def main():
    with CLEAN:
        run("escalation", telegram, outsiders, photo, forget, sms)


if __name__ == "__main__":
    main()
