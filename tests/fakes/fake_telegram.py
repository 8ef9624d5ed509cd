#!/usr/bin/env python3
"""A fake Telegram Bot API server for kabinet's tests: a separate local process that speaks the Bot API as its
documentation describes it (https://core.telegram.org/bots/api), plus a control API for the test that plays the
users.

Bot API (POST or GET /bot<token>/<method>, JSON, form or multipart parameters): getMe, setWebhook, deleteWebhook,
getWebhookInfo, getUpdates (long polling, offset confirms, 409 while a webhook is set or when a second poll starts),
sendMessage, editMessageText, sendDocument (upload or file_id), sendPhoto (upload of a PNG or JPEG, or file_id), answerCallbackQuery, getFile
and /file/bot<token>/.., and for staff groups createForumTopic (a supergroup with topics where the bot may manage
them; the topic's id is its service message's id), message_thread_id on sends (400 "message thread not found" for
a topic that does not exist) and getChatMember (creator, administrator, member, left, kicked).
It refuses what Telegram refuses, with Telegram's codes and descriptions: a wrong token (401), texts over 4096
characters after entity parsing, captions over 1024, bad HTML entities or tags (400 "can't parse entities"), empty
texts, callback_data over 64 bytes (400 BUTTON_DATA_INVALID), unknown chats (400 "chat not found"), blocked users
(403), edits of unknown messages or to the same content, and - when the test asks - floods (429 retry_after).

Webhook delivery works like Telegram's: updates go one at a time, in order, to the registered URL with
X-Telegram-Bot-Api-Secret-Token; anything but 2xx is retried (after Retry-After when given).

Control API for the test (JSON): POST /control/message (in a group: "chat" and "thread" for a topic),
/control/press, /control/update, /control/flood, /control/block, /control/chat, /control/group (a supergroup: forum,
the bot's rights, members and their statuses), /control/slow, /control/fail; GET /control/log?chat=ID&after=N,
/control/state."""
import argparse, json, re, threading, time, urllib.request, urllib.error, secrets, hashlib
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
from urllib.parse import urlparse, parse_qs

LOCK = threading.Condition()
S = {
    "token": "", "webhook": None, "updates": [], "next_update": 1000, "next_message": {}, "chats": {},
    "log": [], "blocked": set(), "flood_until": 0.0, "flood_retry": 0, "wait_until": 0.0, "violations": 0,
    "flood_answers": 0, "conflicts": 0, "poll_gen": 0, "callbacks": {}, "files": {}, "errors": [],
    "deliveries": {}, "calls": {}, "set_webhook": [], "members": {}, "topics": {},
}
ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "tg-spoiler",
                "span", "blockquote", "tg-emoji"}


class ApiError(Exception):
    def __init__(self, code, description, retry_after=None):
        self.code, self.description, self.retry_after = code, description, retry_after


def utf16_len(s):
    return sum(2 if ord(c) > 0xFFFF else 1 for c in s)


def parse_html(text):
    """Telegram's HTML parse mode: returns the plain text, or raises 400 like Telegram."""
    out, stack, i, raw = [], [], 0, text.encode()
    while i < len(text):
        c = text[i]
        if c == "<":
            j = text.find(">", i)
            if j < 0:
                raise ApiError(400, "Bad Request: can't parse entities: Can't find end of the tag starting at byte "
                                    "offset %d" % len(text[:i].encode()))
            tag = text[i + 1:j].strip()
            closing = tag.startswith("/")
            name = re.split(r"[\s/]", tag.lstrip("/") or " ")[0].lower()
            if name not in ALLOWED_TAGS:
                raise ApiError(400, "Bad Request: can't parse entities: Unsupported start tag \"%s\" at byte offset %d"
                               % (name, len(text[:i].encode())))
            if closing:
                if not stack or stack[-1] != name:
                    raise ApiError(400, "Bad Request: can't parse entities: Unmatched end tag at byte offset %d"
                                   % len(text[:i].encode()))
                stack.pop()
            else:
                stack.append(name)
            i = j + 1
        elif c == "&":
            m = re.match(r"&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);", text[i:])
            if not m:
                raise ApiError(400, "Bad Request: can't parse entities: Character '&' is reserved and must be escaped "
                                    "at byte offset %d" % len(text[:i].encode()))
            e = m.group(1)
            out.append({"lt": "<", "gt": ">", "amp": "&", "quot": '"'}.get(e) or
                       chr(int(e[2:], 16) if e.startswith("#x") else int(e[1:])))
            i += len(m.group(0))
        elif c == ">":
            raise ApiError(400, "Bad Request: can't parse entities: Character '>' is reserved at byte offset %d"
                           % len(text[:i].encode()))
        else:
            out.append(c)
            i += 1
    if stack:
        raise ApiError(400, "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"%s\""
                       % stack[-1])
    return "".join(out)


def check_markup(markup):
    if markup is None:
        return None
    if isinstance(markup, str):
        try:
            markup = json.loads(markup)
        except ValueError:
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    for row in markup.get("inline_keyboard", []):
        for b in row:
            if not b.get("text"):
                raise ApiError(400, "Bad Request: BUTTON_TEXT_INVALID")
            if "callback_data" in b:
                d = b["callback_data"].encode()
                if not 1 <= len(d) <= 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    for row in markup.get("keyboard", []):
        for b in row:
            if not (b if isinstance(b, str) else b.get("text")):
                raise ApiError(400, "Bad Request: BUTTON_TEXT_INVALID")
    return markup


def message_text(p, field="text", limit=4096):
    text = p.get(field)
    if text is None or text == "":
        if field == "caption":
            return ""
        raise ApiError(400, "Bad Request: message text is empty")
    plain = parse_html(text) if p.get("parse_mode") == "HTML" else text
    if p.get("parse_mode") not in (None, "HTML"):
        raise ApiError(400, "Bad Request: unsupported parse_mode")
    if utf16_len(plain) > limit:
        raise ApiError(400, "Bad Request: message is too long" if field == "text" else
                       "Bad Request: message caption is too long")
    if not plain.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    return plain


def chat_of(p):
    try:
        cid = int(p.get("chat_id"))
    except (TypeError, ValueError):
        raise ApiError(400, "Bad Request: chat_id is empty")
    if cid not in S["chats"]:
        raise ApiError(400, "Bad Request: chat not found")
    if cid in S["blocked"]:
        raise ApiError(403, "Forbidden: bot was blocked by the user")
    return cid


def thread_of(cid, p):
    """message_thread_id of a send: None, or a topic that exists in that forum."""
    t = p.get("message_thread_id")
    if t in (None, ""):
        return None
    t = int(t)
    if t not in S["topics"].get(cid, {}):
        raise ApiError(400, "Bad Request: message thread not found")
    return t


def flood_check():
    now = time.time()
    if now < S["wait_until"]:
        if now - S.get("wait_told", 0) > 1.0:  # requests already on their way when the 429 went out are not counted
            S["violations"] += 1  # the bot was told to wait and did not
        raise ApiError(429, "Too Many Requests: retry after %d" % max(1, int(S["wait_until"] - now + 0.999)),
                       max(1, int(S["wait_until"] - now + 0.999)))
    if now < S["flood_until"]:
        S["wait_until"] = now + S["flood_retry"]
        S["wait_told"] = now
        S["flood_answers"] += 1
        raise ApiError(429, "Too Many Requests: retry after %d" % S["flood_retry"], S["flood_retry"])


def new_message(cid, **fields):
    mid = S["next_message"].get(cid, 1)
    S["next_message"][cid] = mid + 1
    msg = {"message_id": mid, "date": int(time.time()), "chat": S["chats"][cid], **fields}
    S["chats"][cid].setdefault("_messages", None)
    S.setdefault("messages", {})[(cid, mid)] = msg
    return msg


def public(msg):
    m = dict(msg)
    m["chat"] = {k: v for k, v in msg["chat"].items() if not k.startswith("_")}
    return m


def log(cid, op, **fields):
    S["log"].append({"n": len(S["log"]) + 1, "chat": cid, "op": op, "t": time.time(), **fields})
    LOCK.notify_all()


# ---------------------------------------------------------------- Bot API methods

def m_getMe(p):
    return {"id": 7000000001, "is_bot": True, "first_name": "Kabinet", "username": "kabinet_test_bot"}


def m_setWebhook(p):
    url = p.get("url", "")
    secret = p.get("secret_token")
    if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
        raise ApiError(400, "Bad Request: secret token contains unallowed characters")
    allowed = p.get("allowed_updates")
    if isinstance(allowed, str):
        allowed = json.loads(allowed)
    S["set_webhook"].append({"url": url, "secret_token": secret, "allowed_updates": allowed,
                             "max_connections": p.get("max_connections")})
    S["webhook"] = {"url": url, "secret": secret} if url else None
    LOCK.notify_all()
    return True


def m_deleteWebhook(p):
    S["webhook"] = None
    return True


def m_getWebhookInfo(p):
    w = S["webhook"] or {}
    return {"url": w.get("url", ""), "has_custom_certificate": False,
            "pending_update_count": len(S["updates"]) if w else 0}


def m_getUpdates(p):
    if S["webhook"]:
        raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to "
                            "delete the webhook first")
    offset = int(p.get("offset") or 0)
    timeout = min(int(p.get("timeout") or 0), 50)
    if offset:
        S["updates"] = [u for u in S["updates"] if u["update_id"] >= offset]
    S["poll_gen"] += 1
    gen = S["poll_gen"]
    if S.get("polling"):
        S["conflicts"] += 1  # a second poller while one waits: the first is terminated, as Telegram does
    S["polling"] = True
    deadline = time.time() + timeout
    try:
        while not S["updates"] and time.time() < deadline and S["poll_gen"] == gen:
            LOCK.wait(min(0.2, max(0.01, deadline - time.time())))
        if S["poll_gen"] != gen:
            raise ApiError(409, "Conflict: terminated by other getUpdates request; make sure that only one bot "
                                "instance is running")
        return [u for u in S["updates"][:100]]
    finally:
        if S["poll_gen"] == gen:
            S["polling"] = False


def in_topic(thread):
    return {"message_thread_id": thread, "is_topic_message": True} if thread else {}


def m_sendMessage(p):
    flood_check()
    cid = chat_of(p)
    thread = thread_of(cid, p)
    plain = message_text(p)
    markup = check_markup(p.get("reply_markup"))
    msg = new_message(cid, text=plain, **in_topic(thread),
                      **({"reply_markup": markup} if markup and "inline_keyboard" in markup else {}))
    S["messages"][(cid, msg["message_id"])]["_markup"] = markup
    log(cid, "send", message_id=msg["message_id"], text=plain, reply_markup=markup, thread=thread,
        **({"paid": True} if p.get("allow_paid_broadcast") in (True, "true", "True") else {}))
    return public({k: v for k, v in msg.items() if not k.startswith("_")})


def m_editMessageText(p):
    flood_check()
    cid = chat_of(p)
    mid = int(p.get("message_id") or 0)
    plain = message_text(p)
    markup = check_markup(p.get("reply_markup"))
    msg = S.get("messages", {}).get((cid, mid))
    if not msg:
        raise ApiError(400, "Bad Request: message to edit not found")
    if msg.get("text") == plain and msg.get("_markup") == markup:
        raise ApiError(400, "Bad Request: message is not modified: specified new message content and reply markup "
                            "are exactly the same as a current content and reply markup of the message")
    msg["text"], msg["_markup"] = plain, markup
    log(cid, "edit", message_id=mid, text=plain, reply_markup=markup)
    return public({k: v for k, v in msg.items() if not k.startswith("_")})


def m_sendDocument(p):
    flood_check()
    cid = chat_of(p)
    caption = message_text(p, "caption", 1024)
    markup = check_markup(p.get("reply_markup"))
    doc = p.get("document")
    if isinstance(doc, dict):  # an upload
        data = doc["data"]
        fid = "BQAC" + hashlib.sha256(data).hexdigest()[:40]
        S["files"][fid] = {"data": data, "name": doc["filename"], "mime": doc["mime"]}
        uploaded = True
    elif isinstance(doc, str) and doc in S["files"]:
        fid, uploaded = doc, False
    else:
        raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
    f = S["files"][fid]
    document = {"file_id": fid, "file_unique_id": fid[-16:], "file_name": f["name"], "mime_type": f["mime"],
                "file_size": len(f["data"])}
    msg = new_message(cid, document=document, caption=caption)
    log(cid, "document", message_id=msg["message_id"], text=caption, uploaded=uploaded, file_id=fid,
        file_name=f["name"], size=len(f["data"]), head=f["data"][:5].decode("latin1"), reply_markup=markup)
    return public({k: v for k, v in msg.items() if not k.startswith("_")})


def m_sendPhoto(p):
    flood_check()
    cid = chat_of(p)
    thread = thread_of(cid, p)
    caption = message_text(p, "caption", 1024)
    fid = p.get("photo")
    if isinstance(fid, dict):  # an upload: Telegram takes only what decodes as an image
        data = fid["data"]
        if not (data.startswith(b"\x89PNG\r\n\x1a\n") or data.startswith(b"\xff\xd8\xff")):
            raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED")
        fid = "AgAC" + hashlib.sha256(data).hexdigest()[:40]
        S["files"][fid] = {"data": data, "name": p["photo"]["filename"], "mime": p["photo"]["mime"]}
    if not isinstance(fid, str) or fid not in S["files"]:
        raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
    msg = new_message(cid, photo=[{"file_id": fid, "file_unique_id": fid[-8:], "width": 1280, "height": 960}],
                      caption=caption, **in_topic(thread))
    log(cid, "photo", message_id=msg["message_id"], text=caption, file_id=fid, thread=thread)
    return public({k: v for k, v in msg.items() if not k.startswith("_")})


def m_createForumTopic(p):
    cid = chat_of(p)
    chat = S["chats"][cid]
    name = p.get("name") or ""
    if chat.get("type") != "supergroup" or not chat.get("is_forum"):
        raise ApiError(400, "Bad Request: the chat is not a forum")
    if not chat.get("_bot_topics"):
        raise ApiError(400, "Bad Request: not enough rights to create a topic")
    if not 1 <= len(name) <= 128:
        raise ApiError(400, "Bad Request: TOPIC_NAME_INVALID")
    msg = new_message(cid, forum_topic_created={"name": name, "icon_color": 7322096})
    tid = msg["message_id"]
    S["topics"].setdefault(cid, {})[tid] = name
    log(cid, "topic", message_id=tid, thread=tid, text=name)
    return {"message_thread_id": tid, "name": name, "icon_color": 7322096}


def m_deleteForumTopic(p):
    cid = chat_of(p)
    tid = int(p.get("message_thread_id") or 0)
    if not S["chats"][cid].get("_bot_topics"):
        raise ApiError(400, "Bad Request: not enough rights to delete the topic")
    if tid not in S["topics"].get(cid, {}):
        raise ApiError(400, "Bad Request: TOPIC_ID_INVALID")
    del S["topics"][cid][tid]
    log(cid, "topic_deleted", thread=tid)
    return True


def m_getChatMember(p):
    cid = chat_of(p)
    uid = int(p.get("user_id") or 0)
    status = S["members"].get((cid, uid), "left")
    res = {"status": status, "user": {"id": uid, "is_bot": False, "first_name": "U"}}
    if status == "restricted":
        res["is_member"] = True
    return res


def m_answerCallbackQuery(p):
    qid = p.get("callback_query_id")
    if qid not in S["callbacks"]:
        raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
    S["callbacks"][qid]["answered"] = S["callbacks"][qid].get("answered", 0) + 1
    S["callbacks"][qid]["text"] = p.get("text")
    LOCK.notify_all()
    return True


def m_getFile(p):
    fid = p.get("file_id")
    if fid not in S["files"]:
        raise ApiError(400, "Bad Request: invalid file_id")
    return {"file_id": fid, "file_unique_id": fid[-16:], "file_size": len(S["files"][fid]["data"]),
            "file_path": "documents/" + fid}


METHODS = {k[2:]: v for k, v in globals().items() if k.startswith("m_")}

# ---------------------------------------------------------------- users (control API)


def add_update(kind, obj):
    S["next_update"] += 1
    u = {"update_id": S["next_update"], kind: obj}
    S["updates"].append(u)
    LOCK.notify_all()
    return u


def user_of(c):
    uid = int(c["user_id"])
    u = {"id": uid, "is_bot": False, "first_name": c.get("first_name", "Анна"),
         "language_code": c.get("language_code", "ru")}
    if c.get("last_name"):
        u["last_name"] = c["last_name"]
    return u


def chat_for(c):
    if "chat" in c:
        chat = {"id": int(c["chat"]["id"]), "type": c["chat"].get("type", "supergroup"),
                "title": c["chat"].get("title", "group")}
    else:
        uid = int(c["user_id"])
        chat = {"id": uid, "type": "private", "first_name": "Анна"}
    S["chats"].setdefault(chat["id"], chat)
    return S["chats"][chat["id"]]


def c_message(c):
    """A user writes: text, contact, photo, document; edited; in a private chat or a group (in a forum topic when
    "thread" is given)."""
    chat = chat_for(c)
    frm = user_of(c)
    mid = S["next_message"].get(chat["id"], 1)
    S["next_message"][chat["id"]] = mid + 1
    msg = {"message_id": mid, "date": int(time.time()), "chat": {k: v for k, v in chat.items()
                                                                  if not k.startswith("_")}, "from": frm}
    if c.get("thread"):
        msg.update(in_topic(int(c["thread"])))
    if "text" in c:
        msg["text"] = c["text"]
    if "contact" in c:
        ct = c["contact"]
        msg["contact"] = {"phone_number": ct["phone"], "first_name": "Анна",
                          "user_id": int(ct.get("user_id", frm["id"]))}
        if ct.get("forwarded"):
            msg["forward_origin"] = {"type": "user", "date": int(time.time()), "sender_user": frm}
    if "photo" in c:
        fid = c["photo"]
        msg["photo"] = [{"file_id": fid + "-s", "file_unique_id": "s", "width": 90, "height": 90},
                        {"file_id": fid, "file_unique_id": "b", "width": 1280, "height": 960}]
        S["files"].setdefault(fid, {"data": b"\xff\xd8\xff\xe0 a photo", "name": "photo.jpg", "mime": "image/jpeg"})
    if "caption" in c:
        msg["caption"] = c["caption"]
    if "document" in c:
        d = c["document"]
        msg["document"] = {"file_id": d.get("file_id", "BQACdoc"), "file_unique_id": "d",
                           "file_name": d.get("name", "scan.pdf"), "file_size": int(d.get("size", 1000))}
    if "sticker" in c:
        msg["sticker"] = {"file_id": "CAACsticker", "file_unique_id": "st", "type": "regular", "width": 512,
                          "height": 512}
    u = add_update("edited_message" if c.get("edited") else "message", msg)
    return {"update_id": u["update_id"], "message_id": mid}


def c_press(c):
    """A user presses an inline button of one of the bot's messages."""
    chat = chat_for(c)
    qid = str(secrets.randbits(60))
    S["callbacks"][qid] = {}
    msg = S.get("messages", {}).get((chat["id"], int(c["message_id"])))
    m = public({k: v for k, v in msg.items() if not k.startswith("_")}) if msg else \
        {"message_id": int(c["message_id"]), "date": 0, "chat": {"id": chat["id"], "type": chat["type"]}}
    u = add_update("callback_query", {"id": qid, "from": user_of(c), "chat_instance": "1", "message": m,
                                      "data": c["data"]})
    return {"update_id": u["update_id"], "callback_query_id": qid}


def c_update(c):
    """Any update, as given (forged or odd ones); update_id is assigned."""
    S["next_update"] += 1
    u = dict(c["update"])
    u["update_id"] = S["next_update"]
    cq = u.get("callback_query")
    if cq and "id" in cq:
        S["callbacks"][cq["id"]] = {}
    S["updates"].append(u)
    LOCK.notify_all()
    return {"update_id": u["update_id"]}


def c_chat(c):
    """A chat the bot may write to (a user who pressed Start once, or a group it is in); "ids": many at once."""
    for cid in [int(x) for x in c.get("ids", [])] + ([int(c["id"])] if "id" in c else []):
        S["chats"].setdefault(cid, {"id": cid, "type": c.get("type", "private")})
    return True


def c_group(c):
    """A supergroup the bot is in: forum (topics on), whether the bot may manage topics, members {user id: status}."""
    cid = int(c["id"])
    chat = S["chats"].setdefault(cid, {"id": cid, "type": "supergroup", "title": c.get("title", "staff")})
    chat["type"] = "supergroup"
    chat["is_forum"] = bool(c.get("forum", True))
    chat["_bot_topics"] = bool(c.get("bot_topics", True))
    for uid, status in (c.get("members") or {}).items():
        S["members"][(cid, int(uid))] = status
    return True


def c_slow(c):
    """The next `count` sends are done but answered only after `seconds` (the bot's request may time out first)."""
    S["slow"] = {"count": int(c.get("count", 1)), "seconds": float(c.get("seconds", 3))}
    return True


def c_fail(c):
    """The next `count` sends fail with `status` (502: Telegram's front is down), doing nothing."""
    S["fail"] = {"count": int(c.get("count", 1)), "status": int(c.get("status", 502))}
    return True


def c_flood(c):
    S["flood_until"] = time.time() + float(c.get("seconds", 5))
    S["flood_retry"] = int(c.get("retry_after", 3))
    return True


def c_block(c):
    uid = int(c["user_id"])
    (S["blocked"].add if c.get("blocked", True) else S["blocked"].discard)(uid)
    return True


def c_state(q):
    return {"violations": S["violations"], "flood_answers": S["flood_answers"], "conflicts": S["conflicts"],
            "webhook": S["webhook"], "set_webhook": S["set_webhook"], "pending": len(S["updates"]),
            "callbacks": S["callbacks"], "deliveries": S["deliveries"], "errors": S["errors"][-50:],
            "calls": S["calls"]}


def c_log(q):
    chat = q.get("chat", [None])[0]
    after = int(q.get("after", ["0"])[0])
    wait = float(q.get("wait", ["0"])[0])
    deadline = time.time() + wait
    while True:
        out = [e for e in S["log"] if e["n"] > after and (chat is None or str(e["chat"]) == chat)]
        if out or time.time() >= deadline:
            return out
        LOCK.wait(0.1)


CONTROL_POST = {"group": c_group, "fail": c_fail, "slow": c_slow, "chat": c_chat, "message": c_message, "press": c_press, "update": c_update, "flood": c_flood, "block": c_block}

# ---------------------------------------------------------------- webhook delivery


def deliverer():
    """Delivers queued updates to the webhook one at a time, in order, retrying anything but 2xx."""
    while True:
        with LOCK:
            while not (S["webhook"] and S["updates"]):
                LOCK.wait(0.2)
            u, hook = S["updates"][0], dict(S["webhook"])
        body = json.dumps(u).encode()
        req = urllib.request.Request(hook["url"], data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        if hook.get("secret"):
            req.add_header("X-Telegram-Bot-Api-Secret-Token", hook["secret"])
        status, retry = 0, 1.0
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                status = r.status
        except urllib.error.HTTPError as e:
            status = e.code
            ra = e.headers.get("Retry-After")
            retry = float(ra) if ra and ra.isdigit() else 1.0
        except Exception:
            status = -1
        with LOCK:
            d = S["deliveries"].setdefault(str(u["update_id"]), [])
            d.append(status)
            if 200 <= status < 300:
                if S["updates"] and S["updates"][0] is u:
                    S["updates"].pop(0)
                LOCK.notify_all()
                continue
        time.sleep(min(max(retry, 0.2), 5))


# ---------------------------------------------------------------- HTTP


def multipart(ctype, body):
    m = re.search(r'boundary="?([^";]+)"?', ctype)
    if not m:
        raise ApiError(400, "Bad Request: bad multipart body")
    out = {}
    for part in body.split(b"--" + m.group(1).encode())[1:]:
        if part.startswith(b"--"):
            break
        head, _, data = part.partition(b"\r\n\r\n")
        data = data[:-2] if data.endswith(b"\r\n") else data
        disp = re.search(rb'name="([^"]*)"(?:; filename="([^"]*)")?', head)
        if not disp:
            continue
        name = disp.group(1).decode()
        if disp.group(2) is not None:
            mt = re.search(rb"Content-Type: *([^\r\n]+)", head)
            out[name] = {"filename": disp.group(2).decode(), "mime": mt.group(1).decode() if mt else "", "data": data}
        else:
            out[name] = data.decode()
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self, status, obj, headers=()):
        body = json.dumps(obj, ensure_ascii=False).encode() if not isinstance(obj, bytes) else obj
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if not isinstance(obj, bytes) else
                         "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (the timeout tests do this on purpose)

    def params(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        ctype = self.headers.get("Content-Type", "")
        q = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
        if ctype.startswith("application/json") and body:
            q.update(json.loads(body))
        elif ctype.startswith("multipart/form-data"):
            q.update(multipart(ctype, body))
        elif body:
            q.update({k: v[0] for k, v in parse_qs(body.decode()).items()})
        return q

    def handle_any(self):
        path = urlparse(self.path).path
        m = re.fullmatch(r"/bot([^/]+)/(\w+)", path)
        f = re.fullmatch(r"/file/bot([^/]+)/(?:documents|photos)/(.+)", path)
        try:
            if path.startswith("/control/"):
                name = path[len("/control/"):]
                with LOCK:
                    if self.command == "GET":
                        q = parse_qs(urlparse(self.path).query)
                        res = {"state": c_state, "log": c_log}[name](q)
                    else:
                        res = CONTROL_POST[name](self.params())
                return self.answer(200, res)
            if f:
                if f.group(1) != S["token"] or f.group(2) not in S["files"]:
                    return self.answer(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                return self.answer(200, S["files"][f.group(2)]["data"])
            if not m or m.group(1) != S["token"]:
                return self.answer(401 if m else 404, {"ok": False, "error_code": 401 if m else 404,
                                                       "description": "Unauthorized" if m else "Not Found"})
            method = m.group(2)
            if method not in METHODS:
                return self.answer(404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"})
            p = self.params()
            with LOCK:
                S["calls"][method] = S["calls"].get(method, 0) + 1
                delay = 0
                slow = S.get("slow")
                if slow and slow["count"] > 0 and method in ("sendMessage", "editMessageText", "sendDocument"):
                    slow["count"] -= 1
                    delay = slow["seconds"]
                fail = S.get("fail")
                if fail and fail["count"] > 0 and method in ("sendMessage", "editMessageText", "sendDocument"):
                    fail["count"] -= 1
                    S["errors"].append({"method": method, "code": fail["status"], "description": "Bad Gateway",
                                        "t": time.time()})
                    return self.answer(fail["status"], b"<html><body>502 Bad Gateway</body></html>")
                try:
                    result = METHODS[method](p)
                except ApiError as e:
                    S["errors"].append({"method": method, "code": e.code, "description": e.description,
                                        "t": time.time()})
                    obj = {"ok": False, "error_code": e.code, "description": e.description}
                    if e.retry_after:
                        obj["parameters"] = {"retry_after": e.retry_after}
                    return self.answer(e.code, obj)
            time.sleep(delay)  # done, answered late (outside the lock)
            return self.answer(200, {"ok": True, "result": result})
        except (ValueError, KeyError, TypeError) as e:
            return self.answer(400, {"ok": False, "error_code": 400, "description": "Bad Request: %s" % e})

    do_GET = do_POST = handle_any


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--token", required=True)
    a = ap.parse_args()
    S["token"] = a.token
    threading.Thread(target=deliverer, daemon=True).start()
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    print("fake telegram on 127.0.0.1:%d" % a.port, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
