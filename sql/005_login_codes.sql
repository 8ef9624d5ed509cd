-- 005: login codes sent by SMS. A code is stored only as an HMAC under the server's key (KABINET_CODE_KEY), never
-- as itself. Wrong tries are counted per phone, not per code, so that asking for a new code does not reset them.
CREATE TABLE kb_auth_code (
    id          bigserial PRIMARY KEY,
    phone       text NOT NULL CHECK (phone ~ '^\+7[0-9]{10}$'),
    code_hmac   text NOT NULL CHECK (code_hmac ~ '^[0-9a-f]{64}$'),
    conv        text NOT NULL,                     -- the conversation that asked for it
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX kb_auth_code_phone ON kb_auth_code (phone, id DESC);

CREATE TABLE kb_auth_failure (
    phone  text NOT NULL,
    at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX kb_auth_failure_phone ON kb_auth_failure (phone, at);

-- the console and local channels have customers too
ALTER TABLE kb_identity DROP CONSTRAINT kb_identity_channel_check;
ALTER TABLE kb_identity ADD CONSTRAINT kb_identity_channel_check CHECK (channel IN ('tg', 'sms', 'mail', 'local'));
