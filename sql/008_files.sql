-- 008: files kabinet sends (bills, receipts, statements as PDF): the bytes once, by content hash, and the id a
-- channel gave the file when it was first uploaded, so that the same file is never uploaded twice (Telegram's
-- file_id). A reply names a file by kb_file.id in its payload ("document": {"file": id}).
CREATE TABLE kb_file (
    id          bigserial PRIMARY KEY,
    sha256      text NOT NULL UNIQUE CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    mime        text NOT NULL,
    bytes       bytea NOT NULL CHECK (length(bytes) <= 50 * 1024 * 1024),
    tg_file_id  text,                                   -- Telegram's file_id after the first upload
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- kb_file_add(name, mime, bytes): the file's id, the existing one when the same bytes were stored before
CREATE FUNCTION kb_file_add(p_name text, p_mime text, p_bytes bytea) RETURNS bigint
LANGUAGE sql AS $$
    WITH ins AS (
        INSERT INTO kb_file (sha256, name, mime, bytes)
        VALUES (encode(sha256(p_bytes), 'hex'), p_name, p_mime, p_bytes)
        ON CONFLICT (sha256) DO NOTHING RETURNING id)
    SELECT id FROM ins UNION ALL SELECT id FROM kb_file WHERE sha256 = encode(sha256(p_bytes), 'hex') LIMIT 1
$$;
