-- 002: the dialog engine's durable half.
-- kb_applied: one row per (conversation, event) whose transition committed, with the state it produced, so that a
-- re-run of the same event (after a crash between the commit and Redis) finds it done and reuses its outcome.
CREATE TABLE kb_applied (
    conv        text NOT NULL,
    event_id    text NOT NULL,
    version     bigint NOT NULL,          -- the state version the transition produced
    state       jsonb NOT NULL,           -- {dialog, step, keep, data}
    worker      text NOT NULL,            -- the process that made the transition
    started_at  timestamptz NOT NULL,     -- when that process began the event (its clock)
    applied_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (conv, event_id)
);
CREATE INDEX kb_applied_age ON kb_applied (applied_at);

-- kb_outbox: every message to send, written in the same transaction as the change it reports. Unique on
-- (conv, event_id, seq): a retried event cannot write its replies twice. lane 0 = replies to a customer's own
-- message, lane 1 = pushes and broadcasts; senders drain lane 0 first and never behind lane 1.
CREATE TABLE kb_outbox (
    id              bigserial PRIMARY KEY,
    conv            text NOT NULL,
    channel         text NOT NULL,
    lane            smallint NOT NULL DEFAULT 0 CHECK (lane IN (0, 1)),
    event_id        text NOT NULL,
    seq             integer NOT NULL,
    payload         jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    claimed_until   timestamptz,
    sent_at         timestamptz,
    dead            boolean NOT NULL DEFAULT false,
    last_error      text,
    UNIQUE (conv, event_id, seq)
);
CREATE INDEX kb_outbox_due ON kb_outbox (channel, lane, next_attempt_at, id) WHERE sent_at IS NULL AND NOT dead;
CREATE INDEX kb_outbox_conv_pending ON kb_outbox (conv, id) WHERE sent_at IS NULL AND NOT dead;

-- the demo dialog's counter: a real domain change, so that exactly-once can be checked in tests
CREATE TABLE kb_demo_counter (
    conv    text PRIMARY KEY,
    n       bigint NOT NULL DEFAULT 0,
    history bigint[] NOT NULL DEFAULT '{}'
);

-- audit events that dialogs write (the core adds its own in later migrations)
CREATE TABLE kb_audit (
    id        bigserial PRIMARY KEY,
    conv      text NOT NULL,
    event_id  text NOT NULL,
    what      text NOT NULL,
    details   jsonb NOT NULL DEFAULT '{}',
    at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX kb_audit_conv ON kb_audit (conv, at);
