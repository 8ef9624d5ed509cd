-- 007: each account's money totals in one row, kept by the statements that change charges, penalties and payments
-- (statement-level triggers over their transition tables: one set-based step per statement, also for a million
-- imported rows), so that a balance is one index read instead of three aggregates. kb_account_money reads it; the
-- ledger still derives from the rows themselves.
CREATE TABLE kb_account_totals (
    account_id            bigint PRIMARY KEY REFERENCES kb_account,
    charged_kopecks       bigint NOT NULL DEFAULT 0,   -- amounts + corrections + ОДН
    paid_energy_kopecks   bigint NOT NULL DEFAULT 0,   -- payments paid or credited, for energy
    paid_penalty_kopecks  bigint NOT NULL DEFAULT 0,   -- … for penalties
    uncredited_kopecks    bigint NOT NULL DEFAULT 0,   -- paid through kabinet, not yet credited by billing
    penalty_kopecks       bigint NOT NULL DEFAULT 0,
    duty_kopecks          bigint NOT NULL DEFAULT 0,
    last_month            date
);

INSERT INTO kb_account_totals (account_id, charged_kopecks, last_month)
SELECT account_id, sum(amount_kopecks + correction_kopecks + odn_kopecks), max(month) FROM kb_charge GROUP BY account_id
ON CONFLICT (account_id) DO NOTHING;
INSERT INTO kb_account_totals AS t (account_id, paid_energy_kopecks, paid_penalty_kopecks, uncredited_kopecks)
SELECT account_id, coalesce(sum(amount_kopecks) FILTER (WHERE purpose = 'energy'), 0),
       coalesce(sum(amount_kopecks) FILTER (WHERE purpose = 'penalty'), 0),
       coalesce(sum(amount_kopecks) FILTER (WHERE status = 'paid'), 0)
FROM kb_payment WHERE status IN ('paid', 'credited') GROUP BY account_id
ON CONFLICT (account_id) DO UPDATE SET paid_energy_kopecks = EXCLUDED.paid_energy_kopecks,
    paid_penalty_kopecks = EXCLUDED.paid_penalty_kopecks, uncredited_kopecks = EXCLUDED.uncredited_kopecks;
INSERT INTO kb_account_totals AS t (account_id, penalty_kopecks, duty_kopecks)
SELECT account_id, sum(penalty_kopecks), sum(duty_kopecks) FROM kb_penalty GROUP BY account_id
ON CONFLICT (account_id) DO UPDATE SET penalty_kopecks = EXCLUDED.penalty_kopecks, duty_kopecks = EXCLUDED.duty_kopecks;

-- What one payment row counts: paid or credited for energy or penalties; paid through kabinet and not yet credited.
CREATE FUNCTION kb_pay_energy(status text, purpose text, amount bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN status IN ('paid', 'credited') AND purpose = 'energy' THEN amount ELSE 0 END $$;
CREATE FUNCTION kb_pay_penalty(status text, purpose text, amount bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN status IN ('paid', 'credited') AND purpose = 'penalty' THEN amount ELSE 0 END $$;
CREATE FUNCTION kb_pay_uncredited(status text, amount bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN status = 'paid' THEN amount ELSE 0 END $$;

-- One function per table, run once per statement: new rows add, old rows (UPDATE, DELETE) subtract. Transition
-- tables exist only for the events that have them, so each part runs only for its events.
CREATE FUNCTION kb_totals_payment() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO kb_account_totals AS t (account_id, paid_energy_kopecks, paid_penalty_kopecks, uncredited_kopecks)
        SELECT account_id, sum(kb_pay_energy(status, purpose, amount_kopecks)),
               sum(kb_pay_penalty(status, purpose, amount_kopecks)), sum(kb_pay_uncredited(status, amount_kopecks))
        FROM new_rows GROUP BY account_id ORDER BY account_id
        ON CONFLICT (account_id) DO UPDATE SET paid_energy_kopecks = t.paid_energy_kopecks + EXCLUDED.paid_energy_kopecks,
            paid_penalty_kopecks = t.paid_penalty_kopecks + EXCLUDED.paid_penalty_kopecks,
            uncredited_kopecks = t.uncredited_kopecks + EXCLUDED.uncredited_kopecks;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        UPDATE kb_account_totals t SET paid_energy_kopecks = t.paid_energy_kopecks - o.pe,
            paid_penalty_kopecks = t.paid_penalty_kopecks - o.pp, uncredited_kopecks = t.uncredited_kopecks - o.u
        FROM (SELECT account_id, sum(kb_pay_energy(status, purpose, amount_kopecks)) AS pe,
                     sum(kb_pay_penalty(status, purpose, amount_kopecks)) AS pp,
                     sum(kb_pay_uncredited(status, amount_kopecks)) AS u
              FROM old_rows GROUP BY account_id) o
        WHERE t.account_id = o.account_id AND (o.pe <> 0 OR o.pp <> 0 OR o.u <> 0);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION kb_totals_charge() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO kb_account_totals AS t (account_id, charged_kopecks, last_month)
        SELECT account_id, sum(amount_kopecks + correction_kopecks + odn_kopecks), max(month)
        FROM new_rows GROUP BY account_id ORDER BY account_id
        ON CONFLICT (account_id) DO UPDATE SET charged_kopecks = t.charged_kopecks + EXCLUDED.charged_kopecks,
            last_month = greatest(t.last_month, EXCLUDED.last_month);
    END IF;
    IF TG_OP <> 'INSERT' THEN
        UPDATE kb_account_totals t SET charged_kopecks = t.charged_kopecks - o.c,
            last_month = (SELECT max(month) FROM kb_charge c WHERE c.account_id = t.account_id)
        FROM (SELECT account_id, sum(amount_kopecks + correction_kopecks + odn_kopecks) AS c FROM old_rows
              GROUP BY account_id) o
        WHERE t.account_id = o.account_id;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION kb_totals_penalty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO kb_account_totals AS t (account_id, penalty_kopecks, duty_kopecks)
        SELECT account_id, sum(penalty_kopecks), sum(duty_kopecks) FROM new_rows GROUP BY account_id ORDER BY account_id
        ON CONFLICT (account_id) DO UPDATE SET penalty_kopecks = t.penalty_kopecks + EXCLUDED.penalty_kopecks,
            duty_kopecks = t.duty_kopecks + EXCLUDED.duty_kopecks;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        UPDATE kb_account_totals t SET penalty_kopecks = t.penalty_kopecks - o.p, duty_kopecks = t.duty_kopecks - o.d
        FROM (SELECT account_id, sum(penalty_kopecks) AS p, sum(duty_kopecks) AS d FROM old_rows GROUP BY account_id) o
        WHERE t.account_id = o.account_id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER kb_totals_payment_ins AFTER INSERT ON kb_payment REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kb_totals_payment();
CREATE TRIGGER kb_totals_payment_upd AFTER UPDATE ON kb_payment REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kb_totals_payment();
CREATE TRIGGER kb_totals_payment_del AFTER DELETE ON kb_payment REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kb_totals_payment();
CREATE TRIGGER kb_totals_charge_ins AFTER INSERT ON kb_charge REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kb_totals_charge();
CREATE TRIGGER kb_totals_charge_upd AFTER UPDATE ON kb_charge REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kb_totals_charge();
CREATE TRIGGER kb_totals_charge_del AFTER DELETE ON kb_charge REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kb_totals_charge();
CREATE TRIGGER kb_totals_penalty_ins AFTER INSERT ON kb_penalty REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kb_totals_penalty();
CREATE TRIGGER kb_totals_penalty_upd AFTER UPDATE ON kb_penalty REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kb_totals_penalty();
CREATE TRIGGER kb_totals_penalty_del AFTER DELETE ON kb_penalty REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kb_totals_penalty();

-- The account's money now, from its totals (the same answer as 004's aggregates, in one index read).
CREATE OR REPLACE FUNCTION kb_account_money(a bigint) RETURNS TABLE (
    balance_kopecks bigint, penalties_kopecks bigint, duties_kopecks bigint, uncredited_kopecks bigint,
    charged_kopecks bigint, paid_kopecks bigint, last_month date)
LANGUAGE sql STABLE AS $$
    SELECT acc.opening_kopecks + coalesce(t.charged_kopecks, 0) - coalesce(t.paid_energy_kopecks, 0),
           coalesce(t.penalty_kopecks, 0) - coalesce(t.paid_penalty_kopecks, 0), coalesce(t.duty_kopecks, 0),
           coalesce(t.uncredited_kopecks, 0), coalesce(t.charged_kopecks, 0), coalesce(t.paid_energy_kopecks, 0),
           t.last_month
    FROM kb_account acc LEFT JOIN kb_account_totals t ON t.account_id = acc.id WHERE acc.id = a
$$;
