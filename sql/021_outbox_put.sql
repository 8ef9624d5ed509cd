-- 021_outbox_put: one way into the outbox. kb_outbox_put is the only statement that writes a kb_outbox row — the
-- engine's replies, the core's statements (payments, documents) and every function below call it — so the row's
-- shape, its idempotence key and its lane are decided in one place (its contract: src/engine/outbox.h). The
-- functions that wrote rows by hand are redefined to call it, with no change in what they do.

-- Puts one message for conversation p_conv on lane p_lane (0 replies, 1 pushes) of outbox channel p_channel, keyed
-- by (p_conv, p_event, p_seq): a second put with the same key changes nothing. Returns the new row's id, or NULL
-- when the key was there already. Within a conversation and lane, rows go out in id order (outbox.h). p_hold_s:
-- the engine delivers the row itself (its conversation's lease holds it): no claim takes it for that long.
CREATE FUNCTION kb_outbox_put(p_conv text, p_channel text, p_lane integer, p_event text, p_seq integer,
                              p_payload jsonb, p_hold_s integer DEFAULT NULL) RETURNS bigint
LANGUAGE sql VOLATILE AS $$
    INSERT INTO kb_outbox (conv, channel, lane, event_id, seq, payload, claimed_until)
    VALUES (p_conv, p_channel, coalesce(p_lane, 0)::smallint, p_event, p_seq, p_payload,
            CASE WHEN p_hold_s > 0 THEN now() + make_interval(secs => p_hold_s) END)
    ON CONFLICT (conv, event_id, seq) DO NOTHING
    RETURNING id
$$;

CREATE OR REPLACE FUNCTION public.kb_ebill_requests()
 RETURNS trigger
 LANGUAGE plpgsql
AS $fn$
BEGIN
    PERFORM kb_outbox_put('doc:mail:' || lower(c.email), 'doc', 1, 'ebill:' || a.number || ':' || to_char(n.month, 'YYYY-MM'), 0,
           jsonb_build_object('kind', 'bill', 'account', a.number, 'month', to_char(n.month, 'YYYY-MM'),
                              'conv', 'mail:' || lower(c.email), 'lang', c.language, 'tmpl', 'bill.ebill'))
    FROM (SELECT DISTINCT account_id, month FROM new_rows) n
    JOIN kb_account a ON a.id = n.account_id
    JOIN kb_account_link l ON l.account_id = a.id AND l.status = 'active'
    JOIN kb_customer c ON c.id = l.customer_id
    WHERE c.email_bills AND c.email IS NOT NULL
      AND n.month >= (SELECT max(month) FROM kb_charge WHERE account_id = a.id);
    RETURN NULL;
END $fn$
;
CREATE OR REPLACE FUNCTION public.kb_notify_dispatch(p_now timestamp with time zone, p_opts jsonb, OUT result jsonb, OUT next_cursor bigint, OUT done boolean)
 RETURNS record
 LANGUAGE plpgsql
AS $fn$
DECLARE
    lim int := coalesce((p_opts ->> 'limit')::int, 1000);
    lead int := coalesce((p_opts ->> 'lead_s')::int, 3);
    dflt int := kb_setting_int('notify.default_utc_offset_min', 180);
    debt_min bigint := kb_setting_int('notify.debt_min_kopecks', 50000);
    room jsonb;
    routed int;
BEGIN
    -- routing: new notices get their lane and conversation (or are skipped: nobody to reach, opted out)
    WITH u AS (
        SELECT n.id, c.notifications, r.lane, r.conv
        FROM (SELECT * FROM kb_notice WHERE state = 'pending' AND lane IS NULL ORDER BY id LIMIT 5000) n
        JOIN kb_customer c ON c.id = n.customer_id LEFT JOIN kb_broadcast bc ON bc.id = n.broadcast_id
        LEFT JOIN LATERAL kb_notice_route(n.customer_id, kb_notice_channels(n.channels, p_opts), coalesce(bc.paid, false)) r ON true)
    UPDATE kb_notice n SET lane = u.lane, conv = u.conv,
           state = CASE WHEN NOT u.notifications OR u.conv IS NULL THEN 'skipped' ELSE 'pending' END,
           why = CASE WHEN NOT u.notifications THEN 'opted_out' WHEN u.conv IS NULL THEN 'unreachable' END
    FROM u WHERE n.id = u.id;
    GET DIAGNOSTICS routed = ROW_COUNT;
    -- each lane's room: its rate times the lead, less what it still holds unsent
    WITH backlog AS (
        SELECT channel || CASE WHEN channel = 'tg' AND payload ->> 'paid' = 'true' THEN '_paid' ELSE '' END AS k, count(*) AS n
        FROM kb_outbox WHERE channel IN ('tg', 'sms', 'mail') AND lane = 1 AND sent_at IS NULL AND NOT dead GROUP BY 1)
    SELECT jsonb_object_agg(r.key, least(greatest(r.value::int * lead - coalesce(b.n, 0), 0), lim))
    INTO room FROM jsonb_each_text(p_opts -> 'rate') r LEFT JOIN backlog b ON b.k = r.key;
    WITH offs AS (
        SELECT o FROM (SELECT utc_offset_min FROM kb_branch UNION SELECT dflt UNION SELECT generate_series(120, 720, 60)) x(o)
        WHERE NOT kb_notify_quiet(p_now, o) AND NOT kb_notify_quiet(p_now + make_interval(secs => lead), o)),
    lanes AS (SELECT key AS lane, value::int AS room FROM jsonb_each_text(room) WHERE value::int > 0),
    pick AS (   -- per lane, the earliest due of the offsets outside their quiet hours, up to the lane's room
        SELECT p.* FROM lanes CROSS JOIN LATERAL (
            SELECT n.* FROM offs CROSS JOIN LATERAL (
                SELECT * FROM kb_notice n WHERE n.state = 'pending' AND n.lane = lanes.lane AND n.utc_offset_min = offs.o
                ORDER BY n.due_at, n.id LIMIT lanes.room) n
            ORDER BY n.due_at, n.id LIMIT lanes.room) p),
    judged AS (
        SELECT p.id, p.kind, p.lane, p.conv, p.tmpl, p.params, p.broadcast_id, c.language, r.lane AS now_lane,
               CASE WHEN NOT c.notifications THEN 'opted_out'
                    WHEN p.until IS NOT NULL AND p.until <= p_now THEN 'expired'
                    WHEN p.kind = 'reading' AND kb_reading_missing(p.account_id, kb_local_day(p_now, p.utc_offset_min)) IS NULL THEN 'done'
                    WHEN p.kind = 'debt' AND (SELECT balance_kopecks FROM kb_account_money(p.account_id)) <= debt_min THEN 'paid'
                    WHEN p.kind = 'bill' AND c.email_bills AND p.lane = 'mail' THEN 'ebill' END AS why,
               r.conv IS DISTINCT FROM p.conv AS moved   -- the customer chose another channel, or this one broke
        FROM pick p JOIN kb_customer c ON c.id = p.customer_id LEFT JOIN kb_broadcast bc ON bc.id = p.broadcast_id
        LEFT JOIN LATERAL kb_notice_route(p.customer_id, kb_notice_channels(p.channels, p_opts), coalesce(bc.paid, false)) r ON true),
    go AS (SELECT * FROM judged WHERE why IS NULL AND NOT moved),
    ins AS (
        SELECT kb_outbox_put(conv, split_part(lane, '_', 1), 1::smallint, 'notice:' || id, 0,
               jsonb_build_object('tmpl', tmpl, 'lang', language, 'params', params)
               || CASE WHEN lane = 'tg_paid' THEN '{"paid": true}'::jsonb ELSE '{}'::jsonb END
               -- Telegram shows buttons that lead on (a push's buttons carry no screen version: valid at any time)
               || CASE WHEN lane NOT LIKE 'tg%' THEN '{}'::jsonb WHEN kind = 'reading' THEN '{"buttons": ["readings"]}'
                       WHEN kind = 'debt' THEN '{"buttons": ["pay"]}' WHEN kind = 'bill' THEN '{"buttons": ["bills", "pay"]}'
                       WHEN kind = 'credited' THEN '{"buttons": ["balance"]}' ELSE '{}'::jsonb END) AS id
        FROM go),
    q AS (
        UPDATE kb_notice n SET state = 'queued', queued_at = now() FROM go WHERE n.id = go.id
        RETURNING n.kind, n.broadcast_id, split_part(go.lane, '_', 1) AS channel),
    s AS (
        UPDATE kb_notice n SET state = CASE WHEN j.why IS NULL THEN 'pending' ELSE 'skipped' END, why = j.why,
               lane = CASE WHEN j.why IS NULL THEN NULL ELSE n.lane END, queued_at = CASE WHEN j.why IS NOT NULL THEN now() END
        FROM judged j WHERE n.id = j.id AND (j.why IS NOT NULL OR j.moved) RETURNING j.kind, coalesce(j.why, 'moved') AS why)
    SELECT jsonb_build_object(
        'routed', routed,
        'picked', (SELECT count(*) FROM pick),
        'queued', (SELECT coalesce(jsonb_object_agg(kind, k), '{}') FROM (SELECT kind, count(*) AS k FROM q GROUP BY kind) x),
        'channels', (SELECT coalesce(jsonb_object_agg(channel, k), '{}') FROM (SELECT channel, count(*) AS k FROM q GROUP BY channel) x),
        'skipped', (SELECT coalesce(jsonb_object_agg(why, k), '{}') FROM (SELECT why, count(*) AS k FROM s WHERE why <> 'moved' GROUP BY why) x),
        'broadcasts', (SELECT coalesce(jsonb_object_agg(broadcast_id::text, k), '{}')
                       FROM (SELECT broadcast_id, count(*) AS k FROM q WHERE broadcast_id IS NOT NULL GROUP BY broadcast_id) x),
        'more', routed >= 5000,   -- more to route; what is routed goes as the lanes drain, tick by tick
        'put', (SELECT count(*) FROM ins)) - 'put'   -- (named, so that the puts run)
    INTO result;
    -- a running broadcast with nothing left to queue is done
    UPDATE kb_broadcast b SET status = 'done', finished_at = now()
    WHERE b.status = 'running' AND NOT EXISTS (SELECT 1 FROM kb_notice n WHERE n.broadcast_id = b.id AND n.state = 'pending');
    IF coalesce((p_opts ->> 'count')::boolean, false) THEN
        result := result || jsonb_build_object('pending', (SELECT count(*) FROM kb_notice WHERE state = 'pending'));
    END IF;
    next_cursor := 0;
    done := NOT (result ->> 'more')::boolean;
END $fn$
;
CREATE OR REPLACE FUNCTION public.kb_payment_late(p_payment bigint, p_was text)
 RETURNS bigint
 LANGUAGE plpgsql
AS $fn$
DECLARE
    p  kb_payment;
    ap bigint;
    note text;
BEGIN
    SELECT * INTO p FROM kb_payment WHERE id = p_payment;
    IF p.conv IS NULL THEN
        RETURN NULL;
    END IF;
    note := format('payment %s (%s kopecks) was %s in kabinet, then the provider reported it paid: credited',
                   p.order_id, p.amount_kopecks, p_was);
    SELECT id INTO ap FROM kb_appeal WHERE conv = p.conv AND status <> 'resolved' FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO kb_appeal (customer_id, conv, channel, subject, reason)
        VALUES (p.customer_id, p.conv, split_part(p.conv, ':', 1), '', 'payment') RETURNING id INTO ap;
    END IF;
    INSERT INTO kb_appeal_message (appeal_id, author, body, kind) VALUES (ap, 'note', note, 'text');
    PERFORM kb_outbox_put('appeal:' || ap, 'staff', 0::smallint, 'late:' || p.order_id, 0,
            jsonb_build_object('tmpl', 'staff.post', 'params', jsonb_build_object('appeal_id', ap)));
    INSERT INTO kb_audit (conv, event_id, what, details, customer_id, actor)
    VALUES (p.conv, 'late:' || p.order_id, 'payment.late', jsonb_build_object('payment_id', p.id, 'was', p_was,
            'appeal_id', ap), p.customer_id, 'provider');
    RETURN ap;
END $fn$
;
CREATE OR REPLACE FUNCTION public.kb_link_tell_others(p_link bigint)
 RETURNS integer
 LANGUAGE plpgsql
AS $fn$
DECLARE
    n integer;
BEGIN
    SELECT count(kb_outbox_put(r.conv, split_part(r.lane, '_', 1), 0::smallint, 'link:' || p_link, 0,
           jsonb_build_object('tmpl', 'acc.new_link_notice', 'lang', c.language,
                              'params', jsonb_build_object('account', a.number)))) INTO n
    FROM kb_account_link nl JOIN kb_account a ON a.id = nl.account_id
    JOIN kb_account_link ol ON ol.account_id = nl.account_id AND ol.status = 'active' AND ol.customer_id <> nl.customer_id
    JOIN kb_customer c ON c.id = ol.customer_id
    CROSS JOIN LATERAL kb_notice_route(ol.customer_id, NULL, false) r
    WHERE nl.id = p_link AND nl.status = 'active';
    RETURN n;
END $fn$
;
