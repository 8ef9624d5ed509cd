-- 012: the email channel. Login codes go to an email address as well as to a phone (the same policy, one table);
-- a conversation's reply token (Reply-To reply+<token>@…, and inside our Message-IDs) maps a customer's answer back
-- to it; inbound mail is deduplicated by Message-ID for good (IMAP may show old mail again after a UIDVALIDITY
-- change); the IMAP poller keeps its marker per folder; and a new monthly bill goes by email to the customers who
-- subscribed (kb_customer.email_bills), once per account and month.
ALTER TABLE kb_auth_code RENAME COLUMN phone TO address;
ALTER TABLE kb_auth_code DROP CONSTRAINT kb_auth_code_phone_check;
ALTER TABLE kb_auth_code ADD CONSTRAINT kb_auth_code_address_check
    CHECK (address ~ '^\+7[0-9]{10}$' OR address ~ '^[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}$');
ALTER TABLE kb_auth_failure RENAME COLUMN phone TO address;
COMMENT ON COLUMN kb_auth_code.address IS 'the phone (+7…) or the email address (lowercase) the code went to';

-- one row per conversation that mail went to or came from; token = first 20 hex digits of HMAC(code key, conv)
CREATE TABLE kb_mail_thread (
    token       text PRIMARY KEY CHECK (token ~ '^[0-9a-f]{20}$'),
    conv        text NOT NULL UNIQUE,
    last_in     text,                          -- the customer's latest Message-ID (our replies are In-Reply-To it)
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE kb_mail_seen (
    message_id  text PRIMARY KEY,
    conv        text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE kb_mail_marker (
    folder       text PRIMARY KEY,             -- the IMAP URL without credentials
    uidvalidity  bigint,
    next_uid     bigint NOT NULL DEFAULT 1,
    lease_owner  text,
    lease_until  timestamptz
);

-- e-bills: the first charges of a month for an account are its new bill; each subscriber of a linked account gets
-- it as a PDF (the "doc" channel renders it into the conversation mail:<email>), once (the outbox's unique key)
CREATE FUNCTION kb_ebill_requests() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO kb_outbox (conv, channel, lane, event_id, seq, payload)
    SELECT 'doc:mail:' || lower(c.email), 'doc', 1, 'ebill:' || a.number || ':' || to_char(n.month, 'YYYY-MM'), 0,
           jsonb_build_object('kind', 'bill', 'account', a.number, 'month', to_char(n.month, 'YYYY-MM'),
                              'conv', 'mail:' || lower(c.email), 'lang', c.language, 'tmpl', 'bill.ebill')
    FROM (SELECT DISTINCT account_id, month FROM new_rows) n
    JOIN kb_account a ON a.id = n.account_id
    JOIN kb_account_link l ON l.account_id = a.id AND l.status = 'active'
    JOIN kb_customer c ON c.id = l.customer_id
    WHERE c.email_bills AND c.email IS NOT NULL
      AND n.month >= (SELECT max(month) FROM kb_charge WHERE account_id = a.id)
    ON CONFLICT (conv, event_id, seq) DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER kb_ebill_charge_ins AFTER INSERT ON kb_charge REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kb_ebill_requests();
