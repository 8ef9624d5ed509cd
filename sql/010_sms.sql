-- 010: the SMS channel: what the gateway said about each message (its id, the segments it cost, delivery), an
-- index for the anti-abuse caps on login codes (per number prefix and in total, per hour), and short file links.
ALTER TABLE kb_outbox ADD COLUMN ext_id text,
                      ADD COLUMN segments smallint,
                      ADD COLUMN delivery text CHECK (delivery IN ('sent', 'delivered', 'failed')),
                      ADD COLUMN delivery_at timestamptz;
CREATE INDEX kb_outbox_ext ON kb_outbox (channel, ext_id) WHERE ext_id IS NOT NULL;
CREATE INDEX kb_auth_code_created ON kb_auth_code (created_at);
-- A file's short link (/f/<token>): what a document becomes where it cannot be attached (an SMS).
ALTER TABLE kb_file ADD COLUMN token text NOT NULL DEFAULT left(replace(gen_random_uuid()::text, '-', ''), 16);
CREATE UNIQUE INDEX kb_file_token ON kb_file (token);
