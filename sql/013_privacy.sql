-- 013: personal data (152-ФЗ). Before a phone or an address is asked for, a customer accepts the processing of
-- personal data and the user agreement: the acceptance is kept per identity (the Telegram user, the phone, the
-- address, the console conversation) with its time and the texts' version (kb_setting legal.*). /forget erases
-- what the retailer need not keep (kb_privacy_forget); billing records stay.
INSERT INTO kb_setting (key, value, note) VALUES
    ('legal.version', '"2026-11-01"', 'version of the personal data consent and the user agreement; a new one is asked for again'),
    ('legal.pd_url', '"https://example.ru/legal/personal-data"', 'the personal data processing policy (152-ФЗ)'),
    ('legal.terms_url', '"https://example.ru/legal/terms"', 'the user agreement')
ON CONFLICT (key) DO NOTHING;

CREATE TABLE kb_consent (
    id           bigserial PRIMARY KEY,
    channel      text NOT NULL,
    external_id  text NOT NULL,                  -- the identity; after /forget a hash of it
    customer_id  bigint,
    version      text NOT NULL,
    conv         text NOT NULL,
    accepted_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (channel, external_id, version)
);

-- kb_privacy_forget(customer, conv, event): erases the customer's personal data that need not be kept and returns
-- what the caller still has to do: {"convs": [their conversations that were used, to sign out], "erased": {what:
-- count}}. Kept:
-- the customer row (its id, without name, phone, email, address, birth date), accounts, links, readings, charges,
-- payments and receipts (billing and accounting law), appeals without their texts and files, consent records with
-- the identity hashed (the proof the data was processed lawfully), the audit trail. Their topics in the staff
-- groups are queued for deletion (deleteForumTopic) on the "staff" outbox.
CREATE FUNCTION kb_privacy_forget(p_customer bigint, p_conv text, p_event text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    convs text[];
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
    UPDATE kb_appeal SET topic_id = NULL, card_posted = false WHERE customer_id = p_customer;
    UPDATE kb_appeal_message m SET body = '', attachment_file = NULL, attachment_size = NULL
      FROM kb_appeal a WHERE a.id = m.appeal_id AND a.customer_id = p_customer AND (m.body <> '' OR m.attachment_file IS NOT NULL);
    GET DIAGNOSTICS n_msgs = ROW_COUNT;
    -- what was said in their conversations, and what was sent to them
    UPDATE kb_applied SET said = NULL, state = '{}' WHERE conv = ANY(convs);
    UPDATE kb_outbox SET payload = '{}' WHERE conv = ANY(convs) AND (sent_at IS NOT NULL OR dead);
    GET DIAGNOSTICS n_out = ROW_COUNT;
    -- codes sent to their phone and address
    DELETE FROM kb_auth_code c USING kb_customer k WHERE k.id = p_customer AND c.address IN (k.phone, k.email);
    GET DIAGNOSTICS n_codes = ROW_COUNT;
    DELETE FROM kb_auth_failure f USING kb_customer k WHERE k.id = p_customer AND f.address IN (k.phone, k.email);
    -- consent stays as proof, the identity in it hashed
    UPDATE kb_consent c SET external_id = encode(sha256(convert_to(c.channel || ':' || c.external_id, 'UTF8')), 'hex'),
           customer_id = p_customer
      FROM kb_identity i WHERE i.customer_id = p_customer AND c.channel = i.channel AND c.external_id = i.external_id;
    UPDATE kb_consent SET external_id = encode(sha256(convert_to(channel || ':' || external_id, 'UTF8')), 'hex')
      WHERE customer_id = p_customer AND external_id !~ '^[0-9a-f]{64}$';
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
