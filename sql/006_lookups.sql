-- 006: lookups of accounts by a typed number, by customers who have not linked them: counted per conversation so
-- that nobody walks the account numbers (setting lookup.per_day, 10 by default).
CREATE TABLE kb_lookup (
    conv        text NOT NULL,
    account_id  bigint REFERENCES kb_account,          -- NULL: no such account
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX kb_lookup_conv ON kb_lookup (conv, at);
