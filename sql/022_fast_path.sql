-- 022_fast_path: a step that changes nothing in the domain (a menu, an echo, a question, a stale button) is
-- committed in Redis alone and its replies handed straight to the channel (src/engine/engine_out.c). Its history —
-- what the customer said and what was answered, the lines of an appeal's card — still comes to kb_applied, written
-- in batches off the step's path: the answers in the new column replies (a domain step's stay in kb_outbox).

ALTER TABLE kb_applied ADD COLUMN replies jsonb;

-- The appeal's card: its history also shows fast steps' replies.
CREATE OR REPLACE FUNCTION public.kb_appeal_card(p_id bigint)
 RETURNS jsonb
 LANGUAGE sql
 STABLE
AS $fn$
    SELECT jsonb_build_object('appeal_id', ap.id, 'status', ap.status, 'reason', ap.reason, 'channel', ap.channel,
        'conv', ap.conv, 'customer_id', ap.customer_id, 'name', coalesce(c.full_name, c.org_name, ''),
        'phone', nullif(kb_mask_phone(coalesce(c.phone, CASE WHEN ap.channel = 'sms'   -- by SMS before login:
                                                 THEN split_part(ap.conv, ':', 2) END)), ''),  -- the number itself
        'subject', ap.subject,
        'branch', (SELECT b.code FROM kb_account_link l JOIN kb_account a ON a.id = l.account_id
                   JOIN kb_branch b ON b.id = a.branch_id
                   WHERE l.customer_id = ap.customer_id AND l.status <> 'removed'
                   ORDER BY l.is_primary DESC, l.id LIMIT 1),
        'account', (SELECT a.number FROM kb_account_link l JOIN kb_account a ON a.id = l.account_id
                    WHERE l.customer_id = ap.customer_id AND l.status <> 'removed'
                    ORDER BY l.is_primary DESC, l.id LIMIT 1),
        'accounts', coalesce((SELECT jsonb_agg(jsonb_build_object('number', s->>'number', 'address', s->>'address',
                        'status', l.status, 'balance_kopecks', (s->>'balance_kopecks')::bigint, 'meters', s->'meters')
                        ORDER BY l.is_primary DESC, l.id)
                    FROM kb_account_link l JOIN kb_account a ON a.id = l.account_id,
                         LATERAL kb_staff_account(a.number) s
                    WHERE l.customer_id = ap.customer_id AND l.status <> 'removed'), '[]'),
        'link', (SELECT jsonb_build_object('link_id', l.id, 'number', a.number, 'address', a.address,
                        'status', l.status, 'photo', l.photo_file)
                 FROM kb_account_link l JOIN kb_account a ON a.id = l.account_id WHERE l.id = ap.link_id),
        'history', coalesce((SELECT jsonb_agg(h ORDER BY h.at) FROM (
                    SELECT * FROM (
                        SELECT applied_at AS at, 'in' AS dir, said AS text, NULL::jsonb AS reply
                          FROM kb_applied WHERE conv = ap.conv AND said IS NOT NULL
                        UNION ALL
                        SELECT created_at, 'out', NULL, payload FROM kb_outbox
                         WHERE conv = ap.conv AND NOT dead AND payload ? 'tmpl'
                        UNION ALL   -- a fast step's replies, kept with its history
                        SELECT a.applied_at + r.n * interval '1 microsecond', 'out', NULL, r.p
                          FROM kb_applied a, jsonb_array_elements(a.replies) WITH ORDINALITY AS r(p, n)
                         WHERE a.conv = ap.conv AND a.replies IS NOT NULL AND r.p ? 'tmpl') u
                    ORDER BY at DESC LIMIT 10) h), '[]'))
    FROM kb_appeal ap LEFT JOIN kb_customer c ON c.id = ap.customer_id
    WHERE ap.id = p_id
$fn$;

-- /forget: a fast step's replies go with the rest of the customer's history.
CREATE OR REPLACE FUNCTION public.kb_privacy_forget(p_customer bigint, p_conv text, p_event text, p_key text)
 RETURNS jsonb
 LANGUAGE plpgsql
AS $fn$
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
    SELECT count(kb_outbox_put('forget:' || a.staff_chat || ':' || a.topic_id, 'staff', 0::smallint, 'forget:' || a.id, 0,
                               jsonb_build_object('chat', a.staff_chat, 'topic', a.topic_id)))
      INTO n_topics
      FROM kb_appeal a WHERE a.customer_id = p_customer AND a.topic_id IS NOT NULL AND a.staff_chat IS NOT NULL;
    -- their appeals: no topic, no subject (what they typed), none left open for the chat's next user
    UPDATE kb_appeal SET topic_id = NULL, card_posted = false, subject = '',
           status = 'resolved', resolved_at = coalesce(resolved_at, now()) WHERE customer_id = p_customer;
    UPDATE kb_appeal_message m SET body = '', attachment_file = NULL, attachment_size = NULL
      FROM kb_appeal a WHERE a.id = m.appeal_id AND a.customer_id = p_customer AND (m.body <> '' OR m.attachment_file IS NOT NULL);
    GET DIAGNOSTICS n_msgs = ROW_COUNT;
    -- what was said in their conversations, and what was sent to them
    UPDATE kb_applied SET said = NULL, state = '{}', replies = NULL WHERE conv = ANY(convs);
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
END $fn$;
