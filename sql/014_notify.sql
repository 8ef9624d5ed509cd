-- 014: notifications. A durable scheduler: jobs with their next run (kb_job), each step of a job run by
-- kb_sched_step under the job row's lock (FOR UPDATE SKIP LOCKED), so several kabinetd processes share the jobs and
-- none is done twice, and a step's work and the job's progress commit together (a process killed mid-run leaves the
-- job where its last step committed). Planners find what a customer should hear of (a readings reminder, a meter's
-- verification, a debt, a new bill, a payment credited, a broadcast) and write it as a notice, once per customer and
-- idempotency key, ever (kb_notice); the dispatcher moves due notices into the outbox's push lane at the channels'
-- pace, never in the quiet hours of the account's local clock and never to a customer who opted out.
INSERT INTO kb_setting (key, value, note) VALUES
    ('notify.quiet_hours', '"21:00-09:00"', 'no pushes between these local times (the account''s branch clock); equal: none quiet'),
    ('notify.reading_from', '15', 'readings reminder: first day of the month (when the branch has no reading window)'),
    ('notify.reading_to', '25', 'readings reminder: last day of the month (when the branch has no reading window)'),
    ('notify.verify_days', '90', 'meter verification warned of this many days ahead (and when passed), once a month'),
    ('notify.debt_after_days', '10', 'debt notice: days after the bill (the 1st of the month after the charges)'),
    ('notify.debt_min_kopecks', '50000', 'debt notice: only above this debt'),
    ('notify.bill_days', '20', 'new bill notice: only within this many days of the bill'),
    ('notify.credited_days', '3', 'payment credited notice: only for payments credited within this many days'),
    ('notify.default_utc_offset_min', '180', 'the clock of a customer without an account (broadcasts), minutes east of UTC')
ON CONFLICT (key) DO NOTHING;

CREATE FUNCTION kb_setting_int(p_key text, p_default integer) RETURNS integer LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT (value #>> '{}')::integer FROM kb_setting WHERE key = p_key), p_default)
$$;

-- the instant a local day begins on a branch's clock
CREATE FUNCTION kb_local_start(p_day date, p_off integer) RETURNS timestamptz LANGUAGE sql IMMUTABLE AS $$
    SELECT (p_day::timestamp - make_interval(mins => p_off)) AT TIME ZONE 'UTC'
$$;

-- whether p_at falls in the quiet hours on a clock p_off minutes east of UTC
CREATE FUNCTION kb_notify_quiet(p_at timestamptz, p_off integer) RETURNS boolean LANGUAGE sql STABLE AS $$
    WITH s AS (SELECT coalesce((SELECT value #>> '{}' FROM kb_setting WHERE key = 'notify.quiet_hours'),
                               '21:00-09:00') AS v),
    q AS (SELECT extract(epoch FROM split_part(v, '-', 1)::time)::int / 60 AS qf,
                 extract(epoch FROM split_part(v, '-', 2)::time)::int / 60 AS qt FROM s),
    m AS (SELECT extract(epoch FROM ((p_at AT TIME ZONE 'UTC') + make_interval(mins => p_off))::time)::int / 60 AS m)
    SELECT CASE WHEN qf = qt THEN false WHEN qf > qt THEN m >= qf OR m < qt ELSE m >= qf AND m < qt END FROM q, m
$$;

-- the serials of an account's meters without a customer's reading this (local) month, or NULL when none is missing
CREATE FUNCTION kb_reading_missing(p_account bigint, p_day date) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT string_agg(m.serial, ', ' ORDER BY m.serial) FROM kb_meter m
    WHERE m.account_id = p_account AND m.removed_on IS NULL AND NOT EXISTS (
        SELECT 1 FROM kb_reading r WHERE r.meter_id = m.id AND r.source IN ('bot', 'portal', 'customer')
          AND r.status <> 'rejected' AND r.local_day >= date_trunc('month', p_day)::date)
$$;

-- the channel a customer wants pushes in: NULL picks Telegram, then email, then SMS (which costs money)
ALTER TABLE kb_customer ADD COLUMN notify_channel text CHECK (notify_channel IN ('tg', 'sms', 'mail'));

CREATE INDEX kb_payment_credited ON kb_payment (credited_at) WHERE status = 'credited';
-- a customer's identities (where a push goes): without it every push scans them all
CREATE INDEX kb_identity_customer ON kb_identity (customer_id);

-- jobs: every_s = 0 runs at every tick (the dispatcher, the broadcast planner); others when next_run_at (on the
-- scheduler's clock) has come, in steps (cursor: how far the run got) until a step says done
CREATE TABLE kb_job (
    name         text PRIMARY KEY,
    every_s      integer NOT NULL CHECK (every_s >= 0),
    next_run_at  timestamptz NOT NULL DEFAULT '-infinity',
    paused       boolean NOT NULL DEFAULT false,
    run_due_at   timestamptz,                         -- the run in progress, NULL: none
    cursor       bigint NOT NULL DEFAULT 0,
    runs         bigint NOT NULL DEFAULT 0,
    last_run_at  timestamptz,
    last_by      text,
    last_result  jsonb
);
-- one row per run of a periodic job: the primary key makes a second run of the same due time impossible
CREATE TABLE kb_job_run (
    job          text NOT NULL REFERENCES kb_job,
    due_at       timestamptz NOT NULL,
    worker       text NOT NULL,
    steps        integer NOT NULL DEFAULT 0,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    result       jsonb,
    PRIMARY KEY (job, due_at)
);
INSERT INTO kb_job (name, every_s) VALUES ('dispatch', 0), ('plan.broadcast', 0), ('plan.credited', 60),
    ('plan.bill', 600), ('plan.reading', 3600), ('plan.verify', 3600), ('plan.debt', 3600), ('prune', 86400);

-- broadcasts: an operator's text to every customer who takes notifications (kabinetd notify broadcast …)
CREATE TABLE kb_broadcast (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL,
    text_ru      text NOT NULL CHECK (length(text_ru) BETWEEN 1 AND 3000),
    text_en      text CHECK (length(text_en) BETWEEN 1 AND 3000),
    channels     text[] NOT NULL DEFAULT '{tg,mail}',
    paid         boolean NOT NULL DEFAULT false,      -- Telegram's paid broadcast (allow_paid_broadcast)
    status       text NOT NULL DEFAULT 'planning' CHECK (status IN ('planning', 'running', 'paused', 'done', 'cancelled')),
    planned_all  boolean NOT NULL DEFAULT false,
    cursor       bigint NOT NULL DEFAULT 0,
    planned      integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);

-- notices: pending (waits for its hour and its channel's room), held (its broadcast is paused), queued (written to
-- the outbox as event "notice:<id>"), skipped (why: opted_out, unreachable, expired, done, paid, ebill, cancelled)
CREATE TABLE kb_notice (
    id             bigserial PRIMARY KEY,
    customer_id    bigint NOT NULL REFERENCES kb_customer,
    key            text NOT NULL,                     -- kind:subject:period, the idempotency key
    kind           text NOT NULL CHECK (kind IN ('reading', 'verify', 'debt', 'bill', 'credited', 'broadcast')),
    account_id     bigint REFERENCES kb_account,
    broadcast_id   bigint REFERENCES kb_broadcast,
    channels       text[],                            -- NULL: any
    utc_offset_min integer NOT NULL,                  -- the clock of its quiet hours
    due_at         timestamptz NOT NULL,              -- the order of sending: earlier due first
    until          timestamptz,                       -- not sent after this
    tmpl           text NOT NULL,
    params         jsonb NOT NULL DEFAULT '{}',
    state          text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'held', 'queued', 'skipped')),
    why            text,
    lane           text,                              -- routed: tg, tg_paid, sms, mail (NULL: not yet)
    conv           text,                              -- routed: the conversation it goes to
    created_at     timestamptz NOT NULL DEFAULT now(),
    queued_at      timestamptz,
    UNIQUE (customer_id, key)
);
CREATE INDEX kb_notice_unrouted ON kb_notice (id) WHERE state = 'pending' AND lane IS NULL;
CREATE INDEX kb_notice_pending ON kb_notice (lane, utc_offset_min, due_at, id) WHERE state = 'pending';
CREATE INDEX kb_notice_broadcast ON kb_notice (broadcast_id, state) WHERE broadcast_id IS NOT NULL;
CREATE INDEX kb_notice_age ON kb_notice (created_at);

-- ---------------------------------------------------------------- planners
-- Each takes (clock, cursor, limit) and returns (result, next_cursor, done); the customer planners walk customers by
-- id, limit at a time (kb_customer_chunk: the last id of the next chunk and how many it has).

CREATE FUNCTION kb_customer_chunk(p_cursor bigint, p_limit integer, OUT last_id bigint, OUT scanned integer)
LANGUAGE sql STABLE AS $$
    SELECT max(id), count(*)::int FROM (SELECT id FROM kb_customer WHERE id > p_cursor ORDER BY id LIMIT p_limit) c
$$;

-- the active links of the chunk's customers who take notifications, with each account's branch and local day
CREATE FUNCTION kb_plan_links(p_now timestamptz, p_cursor bigint, p_last bigint)
RETURNS TABLE (customer_id bigint, account_id bigint, number text, off integer, day date, window_from smallint,
               window_to smallint) LANGUAGE sql STABLE AS $$
    SELECT l.customer_id, a.id, a.number, b.utc_offset_min, kb_local_day(p_now, b.utc_offset_min), b.window_from,
           b.window_to
    FROM kb_customer c JOIN kb_account_link l ON l.customer_id = c.id AND l.status = 'active'
    JOIN kb_account a ON a.id = l.account_id JOIN kb_branch b ON b.id = a.branch_id
    WHERE c.id > p_cursor AND c.id <= p_last AND c.notifications
$$;

CREATE FUNCTION kb_plan_reading(p_now timestamptz, p_cursor bigint, p_limit integer,
                                OUT result jsonb, OUT next_cursor bigint, OUT done boolean) LANGUAGE plpgsql AS $$
DECLARE
    wf int := kb_setting_int('notify.reading_from', 15);
    wt int := kb_setting_int('notify.reading_to', 25);
    last_id bigint; scanned int; n int;
BEGIN
    SELECT * INTO last_id, scanned FROM kb_customer_chunk(p_cursor, p_limit);
    WITH due AS (
        SELECT k.customer_id, k.account_id, k.number, k.off, k.day,
               date_trunc('month', k.day)::date + coalesce(k.window_to, wt) AS closes,
               kb_reading_missing(k.account_id, k.day) AS meters
        FROM kb_plan_links(p_now, p_cursor, last_id) k
        WHERE extract(day FROM k.day) BETWEEN coalesce(k.window_from, wf) AND coalesce(k.window_to, wt))
    INSERT INTO kb_notice (customer_id, key, kind, account_id, utc_offset_min, due_at, until, tmpl, params)
    SELECT customer_id, 'reading:' || account_id || ':' || to_char(day, 'YYYY-MM'), 'reading', account_id, off,
           kb_local_start(closes, off), kb_local_start(closes, off), 'notify.reading',
           jsonb_build_object('account', number, 'meters', meters, 'until', to_char(closes - 1, 'DD.MM'))
    FROM due WHERE meters IS NOT NULL
    ON CONFLICT (customer_id, key) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    result := jsonb_build_object('planned', n);
    next_cursor := coalesce(last_id, p_cursor);
    done := scanned < p_limit;
END $$;

CREATE FUNCTION kb_plan_verify(p_now timestamptz, p_cursor bigint, p_limit integer,
                               OUT result jsonb, OUT next_cursor bigint, OUT done boolean) LANGUAGE plpgsql AS $$
DECLARE
    ahead int := kb_setting_int('notify.verify_days', 90);
    last_id bigint; scanned int; n int;
BEGIN
    SELECT * INTO last_id, scanned FROM kb_customer_chunk(p_cursor, p_limit);
    INSERT INTO kb_notice (customer_id, key, kind, account_id, utc_offset_min, due_at, until, tmpl, params)
    SELECT k.customer_id, 'verify:' || m.id || ':' || to_char(k.day, 'YYYY-MM'), 'verify', k.account_id, k.off,
           kb_local_start(m.verify_by, k.off), kb_local_start((date_trunc('month', k.day) + interval '1 month')::date, k.off),
           CASE WHEN m.verify_by <= k.day THEN 'notify.verify_passed' ELSE 'notify.verify_soon' END,
           jsonb_build_object('account', k.number, 'serial', m.serial, 'date', to_char(m.verify_by, 'DD.MM.YYYY'))
    FROM kb_plan_links(p_now, p_cursor, last_id) k
    JOIN kb_meter m ON m.account_id = k.account_id AND m.removed_on IS NULL
    WHERE m.verify_by < k.day + ahead
    ON CONFLICT (customer_id, key) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    result := jsonb_build_object('planned', n);
    next_cursor := coalesce(last_id, p_cursor);
    done := scanned < p_limit;
END $$;

-- debts and new bills: an account's bill is the latest month of its charges, issued on the 1st of the month after
CREATE FUNCTION kb_plan_money(p_kind text, p_now timestamptz, p_cursor bigint, p_limit integer,
                              OUT result jsonb, OUT next_cursor bigint, OUT done boolean) LANGUAGE plpgsql AS $$
DECLARE
    after_days int := CASE WHEN p_kind = 'debt' THEN kb_setting_int('notify.debt_after_days', 10) ELSE 0 END;
    span int := CASE WHEN p_kind = 'debt' THEN 31 ELSE kb_setting_int('notify.bill_days', 20) END;
    debt_min bigint := kb_setting_int('notify.debt_min_kopecks', 50000);
    last_id bigint; scanned int; n int;
BEGIN
    SELECT * INTO last_id, scanned FROM kb_customer_chunk(p_cursor, p_limit);
    WITH due AS (
        SELECT k.customer_id, k.account_id, k.number, k.off, lm.month,
               (lm.month + interval '1 month')::date + after_days AS from_day, mo.balance_kopecks, mo.penalties_kopecks
        FROM kb_plan_links(p_now, p_cursor, last_id) k
        CROSS JOIN LATERAL (SELECT max(month) AS month FROM kb_charge WHERE kb_charge.account_id = k.account_id) lm
        CROSS JOIN LATERAL kb_account_money(k.account_id) mo
        WHERE lm.month IS NOT NULL
          AND k.day >= (lm.month + interval '1 month')::date + after_days
          AND k.day < (lm.month + interval '1 month')::date + after_days + span
          AND (p_kind <> 'debt' OR mo.balance_kopecks > debt_min))
    INSERT INTO kb_notice (customer_id, key, kind, account_id, utc_offset_min, due_at, until, tmpl, params)
    SELECT customer_id, p_kind || ':' || account_id || ':' || to_char(month, 'YYYY-MM'), p_kind, account_id, off,
           kb_local_start(from_day, off), kb_local_start(from_day + span, off), 'notify.' || p_kind,
           jsonb_build_object('account', number, 'month', to_char(month, 'MM.YYYY'), 'amount', greatest(balance_kopecks, 0),
                              'penalties', greatest(penalties_kopecks, 0))
    FROM due
    ON CONFLICT (customer_id, key) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    result := jsonb_build_object('planned', n);
    next_cursor := coalesce(last_id, p_cursor);
    done := scanned < p_limit;
END $$;

-- payments credited lately: every customer of the account hears of it (a bank payment names no customer)
CREATE FUNCTION kb_plan_credited(p_now timestamptz, p_cursor bigint, p_limit integer,
                                 OUT result jsonb, OUT next_cursor bigint, OUT done boolean) LANGUAGE plpgsql AS $$
DECLARE
    n_days int := kb_setting_int('notify.credited_days', 3);
    n int;
BEGIN
    INSERT INTO kb_notice (customer_id, key, kind, account_id, utc_offset_min, due_at, until, tmpl, params)
    SELECT l.customer_id, 'credited:' || p.id, 'credited', a.id, b.utc_offset_min, p.credited_at,
           p.credited_at + make_interval(days => n_days), 'notify.credited',
           jsonb_build_object('account', a.number, 'amount', p.amount_kopecks,
                              'date', to_char((p.paid_at AT TIME ZONE 'UTC') + make_interval(mins => b.utc_offset_min), 'DD.MM.YYYY'))
    FROM kb_payment p JOIN kb_account a ON a.id = p.account_id JOIN kb_branch b ON b.id = a.branch_id
    JOIN kb_account_link l ON l.account_id = a.id AND l.status = 'active' AND l.created_at <= p.credited_at
    JOIN kb_customer c ON c.id = l.customer_id AND c.notifications
    WHERE p.status = 'credited' AND p.credited_at > least(p_now, now()) - make_interval(days => n_days)
    ON CONFLICT (customer_id, key) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    result := jsonb_build_object('planned', n);
    next_cursor := 0;
    done := true;
END $$;

-- a broadcast in planning: its notices for the next customers; planned fully, it runs
CREATE FUNCTION kb_plan_broadcast(p_now timestamptz, p_cursor bigint, p_limit integer,
                                  OUT result jsonb, OUT next_cursor bigint, OUT done boolean) LANGUAGE plpgsql AS $$
DECLARE
    bc kb_broadcast;
    dflt int := kb_setting_int('notify.default_utc_offset_min', 180);
    last_id bigint; scanned int; n int;
BEGIN
    next_cursor := 0;
    SELECT * INTO bc FROM kb_broadcast WHERE status = 'planning' ORDER BY id LIMIT 1 FOR UPDATE;
    IF NOT FOUND THEN
        result := '{}';
        done := true;
        RETURN;
    END IF;
    SELECT * INTO last_id, scanned FROM kb_customer_chunk(bc.cursor, p_limit);
    INSERT INTO kb_notice (customer_id, key, kind, broadcast_id, channels, utc_offset_min, due_at, tmpl, params)
    SELECT c.id, 'broadcast:' || bc.id, 'broadcast', bc.id, bc.channels,
           coalesce((SELECT b.utc_offset_min FROM kb_account_link l JOIN kb_account a ON a.id = l.account_id
                     JOIN kb_branch b ON b.id = a.branch_id WHERE l.customer_id = c.id AND l.status = 'active'
                     ORDER BY l.is_primary DESC, l.id LIMIT 1), dflt),
           bc.created_at, 'notify.broadcast',
           jsonb_build_object('text', CASE WHEN c.language = 'en' THEN coalesce(bc.text_en, bc.text_ru) ELSE bc.text_ru END)
    FROM kb_customer c
    WHERE c.id > bc.cursor AND c.id <= last_id AND c.notifications
      AND EXISTS (SELECT 1 FROM kb_identity i WHERE i.customer_id = c.id AND i.reachable AND i.channel = ANY (bc.channels))
    ON CONFLICT (customer_id, key) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    UPDATE kb_broadcast SET cursor = coalesce(last_id, cursor), planned = planned + n,
           planned_all = scanned < p_limit, status = CASE WHEN scanned < p_limit THEN 'running' ELSE status END
    WHERE id = bc.id;
    result := jsonb_build_object('broadcast', bc.id, 'planned', n);
    done := false;   -- another step: the next chunk, or the next broadcast in planning (none: done then)
END $$;

-- ---------------------------------------------------------------- the dispatcher
-- Where a customer's push goes: the identity in the channel they chose, else Telegram, then email, then SMS (which
-- costs money); only reachable ones, only in the channels allowed (a broadcast's). Its lane: the channel, and
-- "tg_paid" for a paid broadcast's Telegram messages.
CREATE FUNCTION kb_notice_route(p_customer bigint, p_channels text[], p_paid boolean)
RETURNS TABLE (lane text, conv text) LANGUAGE sql STABLE AS $$
    SELECT i.channel || CASE WHEN p_paid AND i.channel = 'tg' THEN '_paid' ELSE '' END, i.channel || ':' || i.external_id
    FROM kb_identity i JOIN kb_customer c ON c.id = i.customer_id
    WHERE i.customer_id = p_customer AND i.reachable AND i.channel IN ('tg', 'sms', 'mail')
      AND (p_channels IS NULL OR i.channel = ANY (p_channels))
    ORDER BY (i.channel IS NOT DISTINCT FROM c.notify_channel) DESC, array_position(ARRAY['tg', 'mail', 'sms'], i.channel),
             i.id DESC
    LIMIT 1
$$;

-- Due notices into the outbox's push lane (event "notice:<id>"), earlier due first, each lane within its room: its
-- rate (p_opts.rate: tg, tg_paid, sms, mail, per second) times p_opts.lead_s, less what the lane still holds unsent —
-- so the outbox never holds more than a few seconds of pushes, and one slow lane (SMS at its cost cap) never holds
-- up another. New notices are routed first (lane and conversation); a notice is looked at again just before it goes
-- (readings sent meanwhile, a debt paid, a customer who opted out or chose another channel). Quiet hours are checked
-- for now and for now + lead_s on the notice's clock.
CREATE FUNCTION kb_notify_dispatch(p_now timestamptz, p_opts jsonb,
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
        LEFT JOIN LATERAL kb_notice_route(n.customer_id, n.channels, coalesce(bc.paid, false)) r ON true)
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
        LEFT JOIN LATERAL kb_notice_route(p.customer_id, p.channels, coalesce(bc.paid, false)) r ON true),
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

-- ---------------------------------------------------------------- pruning
-- what need not be kept for ever, a chunk at a time: sent (or dead) outbox rows and applied events older than
-- p_opts.retention_days, notices older than 400 days (their idempotency periods are long over)
CREATE FUNCTION kb_prune(p_now timestamptz, p_opts jsonb,
                         OUT result jsonb, OUT next_cursor bigint, OUT done boolean) LANGUAGE plpgsql AS $$
DECLARE
    keep interval := make_interval(days => coalesce((p_opts ->> 'retention_days')::int, 90));
    chunk int := 10000;
    n_out int; n_app int; n_not int;
BEGIN
    DELETE FROM kb_outbox WHERE id IN (SELECT id FROM kb_outbox WHERE created_at < least(p_now, now()) - keep
                                        AND (sent_at IS NOT NULL OR dead) LIMIT chunk);
    GET DIAGNOSTICS n_out = ROW_COUNT;
    DELETE FROM kb_applied WHERE (conv, event_id) IN (SELECT conv, event_id FROM kb_applied
                                                      WHERE applied_at < least(p_now, now()) - keep LIMIT chunk);
    GET DIAGNOSTICS n_app = ROW_COUNT;
    DELETE FROM kb_notice WHERE id IN (SELECT id FROM kb_notice WHERE created_at < least(p_now, now()) - interval '400 days'
                                        AND state IN ('queued', 'skipped') LIMIT chunk);
    GET DIAGNOSTICS n_not = ROW_COUNT;
    result := jsonb_build_object('outbox', n_out, 'applied', n_app, 'notices', n_not);
    next_cursor := 0;
    done := n_out < chunk AND n_app < chunk AND n_not < chunk;
END $$;

-- ---------------------------------------------------------------- the step
-- kb_sched_step(job, fake clock?, process, options) runs one step of the job when it is due and no other process
-- holds it (FOR UPDATE SKIP LOCKED); NULL when it was not run. Returns {job, result, done}. The clock is now(), or
-- with p_fake the instant in kb_setting test.clock (tests move it; kabinetd refuses a fake clock in production).
-- JIT is off for the step: its statements' estimates run high (a lane's room, a planner's chunk), and compiling them
-- took a second each time for work of a few milliseconds.
CREATE FUNCTION kb_sched_step(p_job text, p_fake boolean, p_by text, p_opts jsonb) RETURNS jsonb LANGUAGE plpgsql
SET jit = off AS $$
DECLARE
    clk timestamptz := CASE WHEN p_fake THEN coalesce((SELECT (value #>> '{}')::timestamptz FROM kb_setting
                                                       WHERE key = 'test.clock'), now()) ELSE now() END;
    j kb_job;
    due timestamptz;
    lim int := coalesce((p_opts ->> 'chunk')::int, 5000);
    r record;
BEGIN
    SELECT * INTO j FROM kb_job WHERE name = p_job AND NOT paused AND next_run_at <= clk FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    due := coalesce(j.run_due_at, CASE WHEN j.next_run_at = '-infinity' THEN clk ELSE j.next_run_at END);
    IF j.name = 'dispatch' THEN
        SELECT * INTO r FROM kb_notify_dispatch(clk, p_opts);
    ELSIF j.name = 'plan.broadcast' THEN
        SELECT * INTO r FROM kb_plan_broadcast(clk, j.cursor, lim);
    ELSIF j.name = 'plan.credited' THEN
        SELECT * INTO r FROM kb_plan_credited(clk, j.cursor, lim);
    ELSIF j.name = 'plan.bill' THEN
        SELECT * INTO r FROM kb_plan_money('bill', clk, j.cursor, lim);
    ELSIF j.name = 'plan.debt' THEN
        SELECT * INTO r FROM kb_plan_money('debt', clk, j.cursor, lim);
    ELSIF j.name = 'plan.reading' THEN
        SELECT * INTO r FROM kb_plan_reading(clk, j.cursor, lim);
    ELSIF j.name = 'plan.verify' THEN
        SELECT * INTO r FROM kb_plan_verify(clk, j.cursor, lim);
    ELSIF j.name = 'prune' THEN
        SELECT * INTO r FROM kb_prune(clk, p_opts);
    ELSE
        RAISE EXCEPTION 'unknown job %', j.name;
    END IF;
    -- many new notices: fresh statistics, so that the dispatcher's plans stay index scans (autovacuum comes later)
    IF coalesce((r.result ->> 'planned')::int, 0) >= 1000 THEN
        ANALYZE kb_notice;
    END IF;
    IF j.every_s = 0 THEN
        UPDATE kb_job SET runs = runs + 1, last_run_at = clk, last_by = p_by, last_result = r.result WHERE name = j.name;
    ELSE
        INSERT INTO kb_job_run AS x (job, due_at, worker, steps, finished_at, result)
        VALUES (j.name, due, p_by, 1, CASE WHEN r.done THEN now() END, r.result)
        ON CONFLICT (job, due_at) DO UPDATE SET steps = x.steps + 1, finished_at = EXCLUDED.finished_at,
            result = EXCLUDED.result, worker = EXCLUDED.worker;
        IF r.done THEN   -- the next run: the first multiple of every_s after the due time that is still ahead
            UPDATE kb_job SET run_due_at = NULL, cursor = 0, runs = runs + 1, last_run_at = clk, last_by = p_by,
                   last_result = r.result,
                   next_run_at = due + make_interval(secs => every_s * (floor(extract(epoch FROM clk - due) / every_s) + 1))
            WHERE name = j.name;
        ELSE
            UPDATE kb_job SET run_due_at = due, cursor = r.next_cursor, last_by = p_by WHERE name = j.name;
        END IF;
    END IF;
    RETURN jsonb_build_object('job', j.name, 'result', r.result, 'done', r.done);
END $$;
