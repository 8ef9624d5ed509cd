-- 011: escalation to support staff. An appeal (обращение) gets a life cycle — bot (handed back to the bot, still
-- open), waiting (for a person), open (a staff member took it), resolved — the customer's channel, why it opened
-- (the customer asked, the bot gave up, a meter photo to check), its forum topic in the staff group, the business-
-- hours notice (once per appeal) and the customer's rating. Messages gain internal notes and "posted to the topic".
-- The engine keeps what the customer said with each event (kb_applied.said) for the card's last messages.
ALTER TABLE kb_appeal DROP CONSTRAINT kb_appeal_status_check;
UPDATE kb_appeal SET status = CASE status WHEN 'open' THEN 'waiting' WHEN 'answered' THEN 'open' ELSE 'resolved' END;
ALTER TABLE kb_appeal
    ADD CONSTRAINT kb_appeal_status_check CHECK (status IN ('bot', 'waiting', 'open', 'resolved')),
    ALTER COLUMN status SET DEFAULT 'waiting',
    ADD COLUMN channel       text NOT NULL DEFAULT 'tg',
    ADD COLUMN reason        text NOT NULL DEFAULT 'asked' CHECK (reason IN ('asked', 'stuck', 'link')),
    ADD COLUMN link_id       bigint REFERENCES kb_account_link,
    ADD COLUMN assignee      text,               -- the staff member's Telegram user id
    ADD COLUMN assignee_name text,
    ADD COLUMN staff_chat    bigint,             -- the staff group and forum topic the appeal lives in
    ADD COLUMN topic_id      bigint,
    ADD COLUMN card_posted   boolean NOT NULL DEFAULT false,
    ADD COLUMN hours_told    boolean NOT NULL DEFAULT false,
    ADD COLUMN resolved_at   timestamptz,
    ADD COLUMN close_reason  text,
    ADD COLUMN reopened_at   timestamptz,
    ADD COLUMN rating        smallint CHECK (rating BETWEEN 1 AND 5),
    ADD COLUMN rated_at      timestamptz,
    ADD COLUMN updated_at    timestamptz NOT NULL DEFAULT now();
UPDATE kb_appeal SET channel = split_part(conv, ':', 1), resolved_at = CASE WHEN status = 'resolved' THEN now() END;
CREATE UNIQUE INDEX kb_appeal_live ON kb_appeal (conv) WHERE status <> 'resolved';
CREATE UNIQUE INDEX kb_appeal_topic ON kb_appeal (staff_chat, topic_id) WHERE topic_id IS NOT NULL;
CREATE INDEX kb_appeal_conv ON kb_appeal (conv, resolved_at);

ALTER TABLE kb_appeal_message DROP CONSTRAINT kb_appeal_message_author_check;
ALTER TABLE kb_appeal_message
    ADD CONSTRAINT kb_appeal_message_author_check CHECK (author IN ('customer', 'staff', 'note')),
    ADD COLUMN staff_id  text,
    ADD COLUMN kind      text NOT NULL DEFAULT 'text' CHECK (kind IN ('text', 'photo', 'document')),
    ADD COLUMN posted_at timestamptz;
UPDATE kb_appeal_message SET posted_at = created_at;
CREATE INDEX kb_appeal_unposted ON kb_appeal_message (appeal_id, id) WHERE posted_at IS NULL;

ALTER TABLE kb_applied ADD COLUMN said text;

INSERT INTO kb_setting (key, value, note) VALUES
    ('appeal.reopen_hours', '72', 'a customer''s message within this many hours of "resolved" reopens that appeal'),
    ('support.hours', '{"days": "12345", "from": "09:00", "to": "18:00", "utc_offset_min": 180}',
     'when staff answer: ISO weekdays (1 = Monday), local from–to, the offset of that local time')
ON CONFLICT (key) DO NOTHING;

-- When support opens next (local time of support.hours), or NULL while it is open.
CREATE FUNCTION kb_support_next_open(p_at timestamptz) RETURNS timestamp LANGUAGE plpgsql STABLE AS $$
DECLARE
    h  jsonb := coalesce((SELECT value FROM kb_setting WHERE key = 'support.hours'),
                         '{"days": "1234567", "from": "00:00", "to": "24:00", "utc_offset_min": 180}');
    lt timestamp := (p_at AT TIME ZONE 'UTC') + make_interval(mins => coalesce((h->>'utc_offset_min')::int, 180));
    f  time := (h->>'from')::time;
    t  time := (h->>'to')::time;
    d  date;
BEGIN
    FOR i IN 0..7 LOOP
        d := lt::date + i;
        CONTINUE WHEN position(extract(isodow FROM d)::text IN coalesce(h->>'days', '')) = 0;
        IF i = 0 AND lt::time >= f AND lt::time < t THEN
            RETURN NULL;
        END IF;
        IF i > 0 OR lt::time < f THEN
            RETURN d + f;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

-- A customer's message to support: joins the conversation's live appeal, reopens the last one resolved within
-- appeal.reopen_hours, or opens a new one. Returns {status, appeal_id, new, reopened, appeal_status, next_open}.
CREATE FUNCTION kb_appeal_add(p_customer bigint, p_conv text, p_text text, p_attachment text, p_size int,
                              p_kind text, p_reason text, p_link bigint) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    a        kb_appeal;
    is_new   boolean := false;
    reopened boolean := false;
    nxt      timestamp;
BEGIN
    SELECT * INTO a FROM kb_appeal WHERE conv = p_conv AND status <> 'resolved' FOR UPDATE;
    IF NOT FOUND THEN
        SELECT * INTO a FROM kb_appeal WHERE conv = p_conv AND status = 'resolved' AND resolved_at > now() -
            make_interval(hours => coalesce((SELECT (value #>> '{}')::int FROM kb_setting
                                             WHERE key = 'appeal.reopen_hours'), 72))
            ORDER BY resolved_at DESC LIMIT 1 FOR UPDATE;
        IF FOUND THEN
            UPDATE kb_appeal SET status = 'waiting', resolved_at = NULL, reopened_at = now(), hours_told = false,
                   rating = NULL, rated_at = NULL, updated_at = now() WHERE id = a.id RETURNING * INTO a;
            reopened := true;
        ELSE
            INSERT INTO kb_appeal (customer_id, conv, channel, subject, reason, link_id)
            VALUES (p_customer, p_conv, split_part(p_conv, ':', 1), left(coalesce(nullif(p_text, ''), p_kind, ''), 80),
                    coalesce(p_reason, 'asked'), p_link) RETURNING * INTO a;
            is_new := true;
        END IF;
    END IF;
    UPDATE kb_appeal SET status = CASE WHEN status = 'bot' OR (status = 'waiting' AND assignee IS NOT NULL)
                                       THEN CASE WHEN assignee IS NULL THEN 'waiting' ELSE 'open' END ELSE status END,
           customer_id = coalesce(customer_id, p_customer), link_id = coalesce(p_link, link_id),
           reason = CASE WHEN p_link IS NOT NULL THEN 'link' ELSE reason END, updated_at = now()
     WHERE id = a.id RETURNING * INTO a;
    INSERT INTO kb_appeal_message (appeal_id, author, body, attachment_file, attachment_size, kind)
    VALUES (a.id, 'customer', coalesce(p_text, ''), p_attachment, p_size, coalesce(p_kind, 'text'));
    IF NOT a.hours_told THEN
        nxt := kb_support_next_open(now());
        IF nxt IS NOT NULL THEN
            UPDATE kb_appeal SET hours_told = true WHERE id = a.id;
        END IF;
    END IF;
    RETURN jsonb_build_object('status', 'ok', 'appeal_id', a.id, 'new', is_new, 'reopened', reopened,
                              'appeal_status', a.status, 'next_open', to_char(nxt, 'DD.MM HH24:MI'));
END
$$;

-- A staff action in the topic of an appeal: say (to the customer), note (internal), take, take_say, close, bot,
-- reopen, approve, reject. Audited with the staff member's id. Returns {status: "ok" | "no_appeal" | "resolved" |
-- "not_assigned" | "not_resolved" | "no_link" | "not_pending", appeal_id, conv, action, …}.
CREATE FUNCTION kb_appeal_staff(p_chat bigint, p_topic bigint, p_staff text, p_name text, p_action text,
                                p_text text, p_conv text, p_event text, p_attachment text, p_kind text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    a   kb_appeal;
    l   kb_account_link;
    num text;
    st  text := 'ok';
BEGIN
    SELECT * INTO a FROM kb_appeal WHERE staff_chat = p_chat AND topic_id = p_topic FOR UPDATE;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('status', 'no_appeal');
    END IF;
    IF a.status = 'resolved' AND p_action NOT IN ('reopen', 'note') THEN
        st := 'resolved';
    ELSIF p_action = 'say' AND (a.assignee IS NULL OR a.status IN ('waiting', 'bot')) THEN
        st := 'not_assigned';
    ELSIF p_action IN ('take', 'take_say') THEN
        UPDATE kb_appeal SET assignee = p_staff, assignee_name = p_name, status = 'open', updated_at = now()
         WHERE id = a.id RETURNING * INTO a;
    ELSIF p_action = 'close' THEN
        UPDATE kb_appeal SET status = 'resolved', resolved_at = now(), close_reason = nullif(p_text, ''),
               updated_at = now() WHERE id = a.id RETURNING * INTO a;
    ELSIF p_action = 'bot' THEN
        UPDATE kb_appeal SET status = 'bot', updated_at = now() WHERE id = a.id RETURNING * INTO a;
    ELSIF p_action = 'reopen' THEN
        IF a.status <> 'resolved' THEN
            st := 'not_resolved';
        ELSE
            UPDATE kb_appeal SET status = 'open', assignee = p_staff, assignee_name = p_name, resolved_at = NULL,
                   reopened_at = now(), rating = NULL, rated_at = NULL, updated_at = now()
             WHERE id = a.id RETURNING * INTO a;
        END IF;
    ELSIF p_action IN ('approve', 'reject') THEN
        SELECT * INTO l FROM kb_account_link WHERE id = a.link_id FOR UPDATE;
        IF NOT FOUND THEN
            st := 'no_link';
        ELSIF l.status <> 'pending' THEN
            st := 'not_pending';
        ELSE
            UPDATE kb_account_link SET status = CASE p_action WHEN 'approve' THEN 'active' ELSE 'removed' END,
                   approved_by = p_staff, changed_at = now(), export_batch = NULL,
                   removed_at = CASE p_action WHEN 'reject' THEN now() END,
                   is_primary = p_action = 'approve' AND NOT EXISTS (SELECT 1 FROM kb_account_link x
                                WHERE x.customer_id = l.customer_id AND x.is_primary AND x.status = 'active')
             WHERE id = l.id;
        END IF;
        SELECT number INTO num FROM kb_account WHERE id = l.account_id;
    END IF;
    IF st = 'ok' AND p_action IN ('say', 'take_say', 'note') THEN
        INSERT INTO kb_appeal_message (appeal_id, author, staff_id, staff_name, body, attachment_file, kind, posted_at)
        VALUES (a.id, CASE p_action WHEN 'note' THEN 'note' ELSE 'staff' END, p_staff, p_name, coalesce(p_text, ''),
                p_attachment, CASE WHEN p_attachment IS NULL THEN 'text' ELSE p_kind END, now());
    END IF;
    IF st = 'ok' THEN
        INSERT INTO kb_audit (conv, event_id, what, details, customer_id, actor)
        VALUES (p_conv, p_event, 'staff.' || p_action, jsonb_build_object('appeal_id', a.id, 'link_id', a.link_id),
                a.customer_id, 'staff:' || p_staff);
    END IF;
    RETURN jsonb_build_object('status', st, 'appeal_id', a.id, 'conv', a.conv, 'channel', a.channel,
                              'action', p_action, 'assignee_name', a.assignee_name, 'number', num,
                              'reason', a.close_reason);
END
$$;

-- What staff see of an account (/ls): the account, its balance, meters with their last readings, and who is
-- linked (phones masked). Audited by the caller.
CREATE FUNCTION kb_staff_account(p_number text) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('status', 'ok', 'account_id', a.id, 'number', a.number, 'address', a.address,
        'holder', a.holder_surname, 'branch', b.name,
        'balance_kopecks', a.opening_kopecks + coalesce(t.charged_kopecks - t.paid_energy_kopecks, 0),
        'meters', coalesce((SELECT jsonb_agg(jsonb_build_object('serial', m.serial, 'verify_by', m.verify_by,
                    'last', (SELECT jsonb_agg(jsonb_build_object('zone', r.zone, 'value', r.value, 'day', r.local_day)
                                              ORDER BY r.zone)
                             FROM (SELECT DISTINCT ON (zone) zone, value, local_day FROM kb_reading
                                   WHERE meter_id = m.id AND status <> 'rejected'
                                   ORDER BY zone, taken_at DESC) r)) ORDER BY m.serial)
                   FROM kb_meter m WHERE m.account_id = a.id AND m.removed_on IS NULL), '[]'),
        'linked', coalesce((SELECT jsonb_agg(jsonb_build_object('customer_id', l.customer_id, 'status', l.status,
                    'phone', regexp_replace(coalesce(c.phone, ''), '^(\+7\d{3})\d{5}(\d{2})$', '\1*****\2'))
                    ORDER BY l.id)
                   FROM kb_account_link l JOIN kb_customer c ON c.id = l.customer_id
                   WHERE l.account_id = a.id AND l.status <> 'removed'), '[]'))
    FROM kb_account a JOIN kb_branch b ON b.id = a.branch_id LEFT JOIN kb_account_totals t ON t.account_id = a.id
    WHERE a.number = p_number
$$;

-- A customer's phone as staff and logs see it: +7916*****67.
CREATE FUNCTION kb_mask_phone(p text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT regexp_replace(coalesce(p, ''), '^(\+7\d{3})\d{5}(\d{2})$', '\1*****\2')
$$;

-- What the first post of an appeal's topic shows, so that staff need not ask: the customer, the linked accounts
-- with balance and last readings, the pending link and its photo, and the last 10 messages of the conversation
-- ("in": what the customer said; "out": the bot's replies as templates, rendered by the caller).
CREATE FUNCTION kb_appeal_card(p_id bigint) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('appeal_id', ap.id, 'status', ap.status, 'reason', ap.reason, 'channel', ap.channel,
        'conv', ap.conv, 'customer_id', ap.customer_id, 'name', coalesce(c.full_name, c.org_name, ''),
        'phone', nullif(kb_mask_phone(coalesce(c.phone, CASE WHEN ap.channel = 'sms'   -- by SMS before login:
                                                 THEN split_part(ap.conv, ':', 2) END)), ''),  -- the number itself
        'subject', ap.subject,
        'branch', (SELECT b.code FROM kb_account_link l JOIN kb_account a ON a.id = l.account_id
                   JOIN kb_branch b ON b.id = a.branch_id
                   WHERE l.customer_id = ap.customer_id AND l.status <> 'removed'
                   ORDER BY l.is_primary DESC, l.id LIMIT 1),
        'account', (SELECT a.number FROM kb_account_link l JOIN kb_account a ON a.id = l.account_id
                    WHERE l.customer_id = ap.customer_id AND l.status <> 'removed'
                    ORDER BY l.is_primary DESC, l.id LIMIT 1),
        'accounts', coalesce((SELECT jsonb_agg(jsonb_build_object('number', s->>'number', 'address', s->>'address',
                        'status', l.status, 'balance_kopecks', (s->>'balance_kopecks')::bigint, 'meters', s->'meters')
                        ORDER BY l.is_primary DESC, l.id)
                    FROM kb_account_link l JOIN kb_account a ON a.id = l.account_id,
                         LATERAL kb_staff_account(a.number) s
                    WHERE l.customer_id = ap.customer_id AND l.status <> 'removed'), '[]'),
        'link', (SELECT jsonb_build_object('link_id', l.id, 'number', a.number, 'address', a.address,
                        'status', l.status, 'photo', l.photo_file)
                 FROM kb_account_link l JOIN kb_account a ON a.id = l.account_id WHERE l.id = ap.link_id),
        'history', coalesce((SELECT jsonb_agg(h ORDER BY h.at) FROM (
                    SELECT * FROM (
                        SELECT applied_at AS at, 'in' AS dir, said AS text, NULL::jsonb AS reply
                          FROM kb_applied WHERE conv = ap.conv AND said IS NOT NULL
                        UNION ALL
                        SELECT created_at, 'out', NULL, payload FROM kb_outbox
                         WHERE conv = ap.conv AND NOT dead AND payload ? 'tmpl') u
                    ORDER BY at DESC LIMIT 10) h), '[]'))
    FROM kb_appeal ap LEFT JOIN kb_customer c ON c.id = ap.customer_id
    WHERE ap.id = p_id
$$;
