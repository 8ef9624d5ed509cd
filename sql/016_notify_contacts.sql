-- 016: a notice reaches a business by its contract's contacts. A business customer is often only in billing's
-- records: no chat has signed in for it, yet its contract names an email and a phone. Where such a customer has no
-- reachable chat, its pushes (a debt, a new bill, a verification) go to the contract's email, else by SMS to the
-- contract's phone. And a push goes only by a channel this deployment runs (p_opts.on, from the process's
-- configuration): a customer with an email identity is not routed into a mail lane that no process drains.

-- Where a customer's push goes: the identity in the channel they chose, else Telegram, then email, then SMS (which
-- costs money); only reachable ones, only in the channels allowed. A business with no reachable identity: its
-- contract's email, then its contract's phone. Its lane: the channel, and "tg_paid" for a paid broadcast's Telegram
-- messages.
CREATE OR REPLACE FUNCTION kb_notice_route(p_customer bigint, p_channels text[], p_paid boolean)
RETURNS TABLE (lane text, conv text) LANGUAGE sql STABLE AS $$
    SELECT r.lane, r.conv FROM (
        SELECT i.channel || CASE WHEN p_paid AND i.channel = 'tg' THEN '_paid' ELSE '' END AS lane,
               i.channel || ':' || i.external_id AS conv, 0 AS tier,
               i.channel IS NOT DISTINCT FROM c.notify_channel AS chosen,
               array_position(ARRAY['tg', 'mail', 'sms'], i.channel) AS pos, i.id
        FROM kb_identity i JOIN kb_customer c ON c.id = i.customer_id
        WHERE i.customer_id = p_customer AND i.reachable AND i.channel IN ('tg', 'sms', 'mail')
          AND (p_channels IS NULL OR i.channel = ANY (p_channels))
        UNION ALL
        SELECT v.ch, v.ch || ':' || v.addr, 1, v.ch IS NOT DISTINCT FROM c.notify_channel, v.pos, 0
        FROM kb_customer c CROSS JOIN LATERAL (VALUES ('mail', lower(c.email), 1), ('sms', c.phone, 2)) v(ch, addr, pos)
        WHERE c.id = p_customer AND c.kind = 'business' AND c.merged_into IS NULL AND v.addr IS NOT NULL
          AND (p_channels IS NULL OR v.ch = ANY (p_channels))) r
    ORDER BY r.tier, r.chosen DESC, r.pos, r.id DESC
    LIMIT 1
$$;

-- The channels a notice may take: those it allows (a broadcast's; NULL: any) that this deployment runs (p_opts.on;
-- absent: any).
CREATE FUNCTION kb_notice_channels(p_channels text[], p_opts jsonb) RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_opts ? 'on' THEN ARRAY(SELECT x FROM jsonb_array_elements_text(p_opts -> 'on') x
                                              WHERE p_channels IS NULL OR x = ANY (p_channels))
                ELSE p_channels END
$$;

-- Due notices into the outbox's push lane (event "notice:<id>"), earlier due first, each lane within its room: its
-- rate (p_opts.rate: tg, tg_paid, sms, mail, per second) times p_opts.lead_s, less what the lane still holds unsent —
-- so the outbox never holds more than a few seconds of pushes, and one slow lane (SMS at its cost cap) never holds
-- up another. New notices are routed first (lane and conversation); a notice is looked at again just before it goes
-- (readings sent meanwhile, a debt paid, a customer who opted out or chose another channel). Quiet hours are checked
-- for now and for now + lead_s on the notice's clock.
CREATE OR REPLACE FUNCTION kb_notify_dispatch(p_now timestamptz, p_opts jsonb,
                                   OUT result jsonb, OUT next_cursor bigint, OUT done boolean) LANGUAGE plpgsql AS $$
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
        INSERT INTO kb_outbox (conv, channel, lane, event_id, seq, payload)
        SELECT conv, split_part(lane, '_', 1), 1, 'notice:' || id, 0,
               jsonb_build_object('tmpl', tmpl, 'lang', language, 'params', params)
               || CASE WHEN lane = 'tg_paid' THEN '{"paid": true}'::jsonb ELSE '{}'::jsonb END
               -- Telegram shows buttons that lead on (a push's buttons carry no screen version: valid at any time)
               || CASE WHEN lane NOT LIKE 'tg%' THEN '{}'::jsonb WHEN kind = 'reading' THEN '{"buttons": ["readings"]}'
                       WHEN kind = 'debt' THEN '{"buttons": ["pay"]}' WHEN kind = 'bill' THEN '{"buttons": ["bills", "pay"]}'
                       WHEN kind = 'credited' THEN '{"buttons": ["balance"]}' ELSE '{}'::jsonb END
        FROM go ON CONFLICT (conv, event_id, seq) DO NOTHING),
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
        'more', routed >= 5000)   -- more to route; what is routed goes as the lanes drain, tick by tick
    INTO result;
    -- a running broadcast with nothing left to queue is done
    UPDATE kb_broadcast b SET status = 'done', finished_at = now()
    WHERE b.status = 'running' AND NOT EXISTS (SELECT 1 FROM kb_notice n WHERE n.broadcast_id = b.id AND n.state = 'pending');
    IF coalesce((p_opts ->> 'count')::boolean, false) THEN
        result := result || jsonb_build_object('pending', (SELECT count(*) FROM kb_notice WHERE state = 'pending'));
    END IF;
    next_cursor := 0;
    done := NOT (result ->> 'more')::boolean;
END $$;
