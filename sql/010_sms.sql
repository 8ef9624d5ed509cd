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
-- kb_file_put(name, mime, bytes): kb_file_add's file with its token, in one call (a statement cannot see the row
-- its own function call inserted); NULLs for NULL bytes.
CREATE FUNCTION kb_file_put(p_name text, p_mime text, p_bytes bytea, OUT id bigint, OUT token text)
LANGUAGE plpgsql AS $$
BEGIN
    IF p_bytes IS NULL THEN
        RETURN;
    END IF;
    id := kb_file_add(p_name, p_mime, p_bytes);
    SELECT f.token INTO token FROM kb_file f WHERE f.id = kb_file_put.id;
END
$$;
