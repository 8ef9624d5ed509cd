-- 004: money as one formula, and the exchange with billing.
-- The ledger (свод) is derived from charges and payments on the account's local calendar (kb_ledger_rows below),
-- so that it can never disagree with them: the stored table of 003 goes. An account may carry an opening balance
-- from billing (debt positive, overpayment negative) that precedes its first imported month.
DROP TABLE kb_ledger;
ALTER TABLE kb_account ADD COLUMN opening_kopecks bigint NOT NULL DEFAULT 0;

-- billing's own id of a payment; a kabinet payment that billing reports back gets it too (matched, never doubled)
ALTER TABLE kb_payment ADD COLUMN billing_id text UNIQUE;

-- export to billing: each row carries the batch that exported it; a change billing must hear about clears it
CREATE SEQUENCE kb_export_batch;
ALTER TABLE kb_reading ADD COLUMN export_batch bigint;
ALTER TABLE kb_payment ADD COLUMN export_batch bigint;
ALTER TABLE kb_account_link ADD COLUMN export_batch bigint;
ALTER TABLE kb_account_link ADD COLUMN changed_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE kb_reading DROP COLUMN exported_at;
ALTER TABLE kb_payment DROP COLUMN exported_at;
CREATE INDEX kb_reading_unexported ON kb_reading (id) WHERE export_batch IS NULL AND source IN ('bot', 'portal', 'customer');
CREATE INDEX kb_reading_batch ON kb_reading (export_batch) WHERE export_batch IS NOT NULL;
CREATE INDEX kb_payment_unexported ON kb_payment (id) WHERE export_batch IS NULL AND billing_id IS NULL;
CREATE INDEX kb_payment_batch ON kb_payment (export_batch) WHERE export_batch IS NOT NULL;
CREATE INDEX kb_link_unexported ON kb_account_link (id) WHERE export_batch IS NULL;
CREATE INDEX kb_link_batch ON kb_account_link (export_batch) WHERE export_batch IS NOT NULL;

-- billing's readings are facts: the same one imported twice stays one row
CREATE UNIQUE INDEX kb_reading_billing_day ON kb_reading (meter_id, zone, local_day, source)
    WHERE source IN ('receipt', 'network', 'inspection');

-- a business contract's supply point is known by its name within the contract
CREATE UNIQUE INDEX kb_supply_point_name ON kb_supply_point (customer_id, name);

-- lookups the core makes on every balance, history and link
CREATE INDEX kb_link_customer ON kb_account_link (customer_id) WHERE status <> 'removed';
CREATE INDEX kb_link_account ON kb_account_link (account_id) WHERE status <> 'removed';
CREATE INDEX kb_payment_account ON kb_payment (account_id, created_at DESC);
CREATE INDEX kb_meter_account ON kb_meter (account_id);
CREATE INDEX kb_payment_pending ON kb_payment (created_at) WHERE status = 'pending';

-- audit rows are found by customer too
CREATE INDEX kb_audit_customer ON kb_audit (customer_id, at) WHERE customer_id IS NOT NULL;

-- ---------------------------------------------------------------- helpers for imports (pure, inlined by the planner)

-- whether t is a real calendar date written YYYY-MM-DD
CREATE FUNCTION kb_is_date(t text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT t ~ '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$'
       AND substr(t, 9, 2)::int <= extract(day FROM make_date(substr(t, 1, 4)::int, substr(t, 6, 2)::int, 1)
                                                  + interval '1 month - 1 day')::int
$$;

-- whether t is an amount of rubles: digits, optionally ',' or '.' and one or two more (118,95), optionally negative
CREATE FUNCTION kb_is_rubles(t text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT t ~ '^-?[0-9]{1,13}([.,][0-9]{1,2})?$'
$$;

-- rubles as exact kopecks (the text must pass kb_is_rubles)
CREATE FUNCTION kb_kopecks(t text) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT (replace(t, ',', '.')::numeric * 100)::bigint
$$;

-- whether t is an exact decimal of up to 12 whole digits and 3 decimals (kWh, readings), ',' or '.'
CREATE FUNCTION kb_is_decimal(t text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT t ~ '^[0-9]{1,12}([.,][0-9]{1,3})?$'
$$;

-- whether t is a time zone offset of Russia's kind: "+07:00", "+7", "7", "UTC+7"
CREATE FUNCTION kb_is_offset(t text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT t ~ '^(UTC)?\+?[0-9]{1,2}(:[0-5][0-9])?$'
$$;

-- such an offset in minutes (the text must pass kb_is_offset)
CREATE FUNCTION kb_offset_min(t text) RETURNS integer LANGUAGE sql IMMUTABLE AS $$
    SELECT split_part(regexp_replace(t, '^(UTC)?\+?', ''), ':', 1)::int * 60
         + coalesce(nullif(split_part(regexp_replace(t, '^(UTC)?\+?', ''), ':', 2), '')::int, 0)
$$;

-- whether t is a moment: "2026-10-05 14:30", "2026-10-05T14:30:00", optionally with "Z" or "+07:00"
CREATE FUNCTION kb_is_moment(t text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT t ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?(Z|[+-][0-9]{2}(:?[0-9]{2})?)?$'
       AND kb_is_date(left(t, 10))
$$;

-- such a moment as UTC; without an offset it is local time on a branch utc_offset_min east of UTC
CREATE FUNCTION kb_moment(t text, utc_offset_min integer) RETURNS timestamptz LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN t ~ '(Z|[+-][0-9]{2}(:?[0-9]{2})?)$' THEN t::timestamptz
                ELSE (replace(t, 'T', ' ')::timestamp - make_interval(mins => utc_offset_min)) AT TIME ZONE 'UTC' END
$$;

-- ---------------------------------------------------------------- the money of one account

-- The account's money now: debt positive, overpayment negative. Everything paid (through kabinet and not yet
-- credited by billing, or credited) counts, once; what billing has not credited yet is reported apart.
CREATE FUNCTION kb_account_money(a bigint) RETURNS TABLE (
    balance_kopecks bigint, penalties_kopecks bigint, duties_kopecks bigint, uncredited_kopecks bigint,
    charged_kopecks bigint, paid_kopecks bigint, last_month date)
LANGUAGE sql STABLE AS $$
    WITH c AS (SELECT coalesce(sum(amount_kopecks + correction_kopecks + odn_kopecks), 0)::bigint AS charged,
                      max(month) AS last_month FROM kb_charge WHERE account_id = a),
         p AS (SELECT coalesce(sum(amount_kopecks) FILTER (WHERE purpose = 'energy'), 0)::bigint AS paid,
                      coalesce(sum(amount_kopecks) FILTER (WHERE purpose = 'penalty'), 0)::bigint AS paid_penalty,
                      coalesce(sum(amount_kopecks) FILTER (WHERE status = 'paid'), 0)::bigint AS uncredited
               FROM kb_payment WHERE account_id = a AND status IN ('paid', 'credited')),
         n AS (SELECT coalesce(sum(penalty_kopecks), 0)::bigint AS penalty, coalesce(sum(duty_kopecks), 0)::bigint AS duty
               FROM kb_penalty WHERE account_id = a)
    SELECT acc.opening_kopecks + c.charged - p.paid, n.penalty - p.paid_penalty, n.duty, p.uncredited,
           c.charged, p.paid, c.last_month
    FROM kb_account acc, c, p, n WHERE acc.id = a
$$;

-- The monthly ledger (свод) of an account between two months on its local calendar: opening, consumed kWh,
-- charged, paid, closing; debt positive. Months with neither charges nor payments are still rows.
CREATE FUNCTION kb_ledger_rows(a bigint, first_month date, last_month date) RETURNS TABLE (
    month date, opening_kopecks bigint, consumed_kwh numeric, charged_kopecks bigint, paid_kopecks bigint,
    closing_kopecks bigint)
LANGUAGE sql STABLE AS $$
    WITH acc AS (SELECT ac.opening_kopecks, b.utc_offset_min FROM kb_account ac JOIN kb_branch b ON b.id = ac.branch_id
                 WHERE ac.id = a),
         ch AS (SELECT c.month, sum(c.kwh) AS kwh, sum(c.amount_kopecks + c.correction_kopecks + c.odn_kopecks)::bigint AS amt
                FROM kb_charge c WHERE c.account_id = a GROUP BY c.month),
         pay AS (SELECT date_trunc('month', (p.paid_at AT TIME ZONE 'UTC')
                                           + make_interval(mins => (SELECT utc_offset_min FROM acc)))::date AS month,
                        sum(p.amount_kopecks)::bigint AS amt
                 FROM kb_payment p WHERE p.account_id = a AND p.status IN ('paid', 'credited') AND p.purpose = 'energy'
                 GROUP BY 1),
         months AS (SELECT m::date AS month FROM generate_series(
                        least(first_month, coalesce((SELECT min(month) FROM ch), first_month),
                              coalesce((SELECT min(month) FROM pay), first_month)),
                        last_month, interval '1 month') m),
         flow AS (SELECT m.month, coalesce(ch.kwh, 0) AS kwh, coalesce(ch.amt, 0) AS charged, coalesce(pay.amt, 0) AS paid,
                         (SELECT opening_kopecks FROM acc)
                           + sum(coalesce(ch.amt, 0) - coalesce(pay.amt, 0)) OVER (ORDER BY m.month) AS closing
                  FROM months m LEFT JOIN ch ON ch.month = m.month LEFT JOIN pay ON pay.month = m.month)
    SELECT month, (closing - charged + paid)::bigint, kwh, charged, paid, closing::bigint
    FROM flow WHERE month >= first_month ORDER BY month
$$;

-- the local calendar day of an instant on an account's branch
CREATE FUNCTION kb_local_day(at timestamptz, utc_offset_min integer) RETURNS date LANGUAGE sql IMMUTABLE AS $$
    SELECT ((at AT TIME ZONE 'UTC') + make_interval(mins => utc_offset_min))::date
$$;
