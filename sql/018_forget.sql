-- 018: /forget leaves nothing that names the customer. Besides what 013 erased: the subjects of their appeals (the
-- first words they typed) and the appeals left open (so the chat's next user starts a new one), outbox rows whose
-- key or sender names their phone, address or chat (a code's SMS), and the consent kept as proof holds the
-- identity as an HMAC under the server's key (the bare SHA-256 of a phone is reversed by trying every number) and
-- no conversation. Appeals are joined or reopened only by the customer who opened them (a chat that was erased and
-- signed in again never reopens the erased customer's appeal).

-- HMAC-SHA256 (RFC 2104) of msg under key, as hex: core SQL has sha256() but no hmac() without pgcrypto.
CREATE FUNCTION kb_hmac_hex(p_key text, p_msg text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    k bytea := convert_to(coalesce(p_key, ''), 'UTF8');
    ip bytea; op bytea;
BEGIN
    IF length(k) > 64 THEN
        k := sha256(k);
    END IF;
    k := k || decode(repeat('00', 64 - length(k)), 'hex');
    ip := k; op := k;
    FOR i IN 0..63 LOOP
        ip := set_byte(ip, i, get_byte(k, i) # 54);
        op := set_byte(op, i, get_byte(k, i) # 92);
    END LOOP;
    RETURN encode(sha256(op || sha256(ip || convert_to(p_msg, 'UTF8'))), 'hex');
END $$;

DROP FUNCTION kb_privacy_forget(bigint, text, text);
CREATE FUNCTION kb_privacy_forget(p_customer bigint, p_conv text, p_event text, p_key text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    convs text[];
    addrs text[];
    n_ident int; n_msgs int; n_out int; n_topics int; n_codes int;
BEGIN
    SELECT coalesce(array_agg(CASE channel WHEN 'tg' THEN 'tg:' || external_id WHEN 'sms' THEN 'sms:' || external_id
                                           WHEN 'mail' THEN 'mail:' || external_id ELSE external_id END), '{}')
      INTO convs FROM kb_identity i WHERE customer_id = p_customer
      AND EXISTS (SELECT 1 FROM kb_applied a WHERE a.conv = CASE i.channel WHEN 'tg' THEN 'tg:' || i.external_id
                  WHEN 'sms' THEN 'sms:' || i.external_id WHEN 'mail' THEN 'mail:' || i.external_id ELSE i.external_id END);
    convs := array_append(convs, p_conv);
    -- the staff topics of the customer's appeals go (their texts with them)
    WITH t AS (
        INSERT INTO kb_outbox (conv, channel, lane, event_id, seq, payload)
        SELECT 'forget:' || a.staff_chat || ':' || a.topic_id, 'staff', 0, 'forget:' || a.id, 0,
               jsonb_build_object('chat', a.staff_chat, 'topic', a.topic_id)
        FROM kb_appeal a WHERE a.customer_id = p_customer AND a.topic_id IS NOT NULL AND a.staff_chat IS NOT NULL
        ON CONFLICT (conv, event_id, seq) DO NOTHING RETURNING 1)
    SELECT count(*) INTO n_topics FROM t;
    -- their appeals: no topic, no subject (what they typed), none left open for the chat's next user
    UPDATE kb_appeal SET topic_id = NULL, card_posted = false, subject = '',
           status = 'resolved', resolved_at = coalesce(resolved_at, now()) WHERE customer_id = p_customer;
    UPDATE kb_appeal_message m SET body = '', attachment_file = NULL, attachment_size = NULL
      FROM kb_appeal a WHERE a.id = m.appeal_id AND a.customer_id = p_customer AND (m.body <> '' OR m.attachment_file IS NOT NULL);
    GET DIAGNOSTICS n_msgs = ROW_COUNT;
    -- what was said in their conversations, and what was sent to them
    UPDATE kb_applied SET said = NULL, state = '{}' WHERE conv = ANY(convs);
    -- what went out to them or for them: its payload, and a key that names a phone, an address or a chat (a code's
    -- SMS to their phone, sent "from" their Telegram chat, names both)
    SELECT array_cat(convs, ARRAY['sms:' || k.phone, 'mail:' || k.email]) INTO addrs FROM kb_customer k WHERE k.id = p_customer;
    UPDATE kb_outbox SET payload = '{}', conv = 'erased:' || id
     WHERE (conv = ANY(addrs) OR payload ->> 'from' = ANY(convs)) AND (sent_at IS NOT NULL OR dead);
    GET DIAGNOSTICS n_out = ROW_COUNT;
    -- codes sent to their phone and address
    DELETE FROM kb_auth_code c USING kb_customer k WHERE k.id = p_customer AND c.address IN (k.phone, k.email);
    GET DIAGNOSTICS n_codes = ROW_COUNT;
    DELETE FROM kb_auth_failure f USING kb_customer k WHERE k.id = p_customer AND f.address IN (k.phone, k.email);
    -- consent stays as proof: the identity in it an HMAC under the server's key (never a bare hash that a list of
    -- phones would reverse), the conversation it was given in blanked
    UPDATE kb_consent c SET customer_id = p_customer
      FROM kb_identity i WHERE i.customer_id = p_customer AND c.channel = i.channel AND c.external_id = i.external_id;
    UPDATE kb_consent SET external_id = kb_hmac_hex(p_key, channel || ':' || external_id), conv = ''
      WHERE customer_id = p_customer AND (external_id !~ '^[0-9a-f]{64}$' OR conv <> '');
    DELETE FROM kb_identity WHERE customer_id = p_customer;
    GET DIAGNOSTICS n_ident = ROW_COUNT;
    UPDATE kb_customer SET full_name = NULL, birth_date = NULL, address = NULL, phone = NULL, email = NULL,
           email_bills = false, notifications = false WHERE id = p_customer;
    INSERT INTO kb_audit (conv, event_id, what, details, customer_id, actor)
    VALUES (p_conv, p_event, 'privacy.forget', jsonb_build_object('identities', n_ident, 'messages', n_msgs,
            'outbox', n_out, 'topics', n_topics, 'codes', n_codes), p_customer, 'customer');
    RETURN jsonb_build_object('convs', to_jsonb(convs), 'erased', jsonb_build_object('identities', n_ident,
           'messages', n_msgs, 'outbox', n_out, 'topics', n_topics, 'codes', n_codes));
END $$;

-- A customer's message to support: joins the conversation's live appeal, reopens the last one resolved within
-- appeal.reopen_hours, or opens a new one — of this customer only (or of nobody yet: a guest's, who signed in since).
-- Returns {status, appeal_id, new, reopened, appeal_status, next_open}.
CREATE OR REPLACE FUNCTION kb_appeal_add(p_customer bigint, p_conv text, p_text text, p_attachment text, p_size int,
                              p_kind text, p_reason text, p_link bigint) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    a        kb_appeal;
    is_new   boolean := false;
    reopened boolean := false;
    nxt      timestamp;
BEGIN
    SELECT * INTO a FROM kb_appeal WHERE conv = p_conv AND status <> 'resolved'
        AND (customer_id IS NULL OR customer_id = p_customer) FOR UPDATE;
    IF NOT FOUND THEN
        SELECT * INTO a FROM kb_appeal WHERE conv = p_conv AND status = 'resolved'
            AND (customer_id IS NULL OR customer_id = p_customer) AND resolved_at > now() -
            make_interval(hours => coalesce((SELECT (value #>> '{}')::int FROM kb_setting
                                             WHERE key = 'appeal.reopen_hours'), 72))
            ORDER BY resolved_at DESC LIMIT 1 FOR UPDATE;
        IF FOUND THEN
            UPDATE kb_appeal SET status = 'waiting', resolved_at = NULL, reopened_at = now(), hours_told = false,
                   rating = NULL, rated_at = NULL, updated_at = now() WHERE id = a.id RETURNING * INTO a;
            reopened := true;
        ELSE
            -- another customer's appeal still open in this chat (signed out here since): closed, one live per chat
            UPDATE kb_appeal SET status = 'resolved', resolved_at = now(), updated_at = now()
             WHERE conv = p_conv AND status <> 'resolved';
            INSERT INTO kb_appeal (customer_id, conv, channel, subject, reason, link_id)
            VALUES (p_customer, p_conv, split_part(p_conv, ':', 1), left(coalesce(nullif(p_text, ''), p_kind, ''), 80),
                    coalesce(p_reason, 'asked'), p_link) RETURNING * INTO a;
            is_new := true;
        END IF;
    END IF;
    UPDATE kb_appeal SET status = CASE WHEN status = 'bot' OR (status = 'waiting' AND assignee IS NOT NULL)
                                       THEN CASE WHEN assignee IS NULL THEN 'waiting' ELSE 'open' END ELSE status END,
           customer_id = coalesce(customer_id, p_customer), link_id = coalesce(p_link, link_id),
           reason = CASE WHEN p_link IS NOT NULL THEN 'link' ELSE reason END, updated_at = now()
     WHERE id = a.id RETURNING * INTO a;
    INSERT INTO kb_appeal_message (appeal_id, author, body, attachment_file, attachment_size, kind)
    VALUES (a.id, 'customer', coalesce(p_text, ''), p_attachment, p_size, coalesce(p_kind, 'text'));
    IF NOT a.hours_told THEN
        nxt := kb_support_next_open(now());
        IF nxt IS NOT NULL THEN
            UPDATE kb_appeal SET hours_told = true WHERE id = a.id;
        END IF;
    END IF;
    RETURN jsonb_build_object('status', 'ok', 'appeal_id', a.id, 'new', is_new, 'reopened', reopened,
                              'appeal_status', a.status, 'next_open', to_char(nxt, 'DD.MM HH24:MI'));
END
$$;
