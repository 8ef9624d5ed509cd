-- 015: one customer in every channel. A signed-in customer adds an email or a phone by a code sent to it; when that
-- address already belonged to another customer (the same person registered twice: by SMS once, in Telegram once),
-- the two become one (kb_customer_merge): every identity, account link, reading, payment, appeal, notice, consent and
-- audit row moves to the customer who proved the address; the other stays as a row pointing to it (merged_into).

ALTER TABLE kb_customer ADD COLUMN merged_into bigint REFERENCES kb_customer;

-- kb_customer_merge(into, from, conv, event): moves everything of customer p_from to p_into and returns
-- {"merged": from, "convs": [from's conversations that were used, to be told who they are now]}. Links to the same
-- account stay one (into's; from's is removed), into keeps its primary account (from's primary becomes additional),
-- notices with the same key stay one (into's). Profile fields into lacks are taken from from.
CREATE FUNCTION kb_customer_merge(p_into bigint, p_from bigint, p_conv text, p_event text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    convs jsonb;
    n_links int;
BEGIN
    IF p_into IS NULL OR p_from IS NULL OR p_into = p_from THEN
        RETURN NULL;
    END IF;
    PERFORM 1 FROM kb_customer WHERE id IN (p_into, p_from) ORDER BY id FOR UPDATE;
    SELECT coalesce(jsonb_agg(i.channel || ':' || i.external_id), '[]') INTO convs FROM kb_identity i
    WHERE i.customer_id = p_from AND i.channel IN ('tg', 'sms', 'mail', 'local')
      AND EXISTS (SELECT 1 FROM kb_applied a WHERE a.conv = i.channel || ':' || i.external_id);
    UPDATE kb_identity SET customer_id = p_into WHERE customer_id = p_from;
    -- links: one per account (into's wins), one primary (into's wins)
    UPDATE kb_account_link f SET status = 'removed', removed_at = now(), is_primary = false
    WHERE f.customer_id = p_from AND f.status <> 'removed' AND EXISTS (
        SELECT 1 FROM kb_account_link t WHERE t.customer_id = p_into AND t.account_id = f.account_id AND t.status <> 'removed');
    UPDATE kb_account_link f SET is_primary = false
    WHERE f.customer_id = p_from AND f.is_primary AND EXISTS (
        SELECT 1 FROM kb_account_link t WHERE t.customer_id = p_into AND t.is_primary AND t.status = 'active');
    UPDATE kb_account_link SET customer_id = p_into WHERE customer_id = p_from;
    GET DIAGNOSTICS n_links = ROW_COUNT;
    DELETE FROM kb_notice f WHERE f.customer_id = p_from
      AND EXISTS (SELECT 1 FROM kb_notice t WHERE t.customer_id = p_into AND t.key = f.key);
    UPDATE kb_notice SET customer_id = p_into WHERE customer_id = p_from;
    UPDATE kb_reading SET customer_id = p_into WHERE customer_id = p_from;
    UPDATE kb_payment SET customer_id = p_into WHERE customer_id = p_from;
    UPDATE kb_appeal SET customer_id = p_into WHERE customer_id = p_from;
    UPDATE kb_consent SET customer_id = p_into WHERE customer_id = p_from;
    UPDATE kb_audit SET customer_id = p_into WHERE customer_id = p_from;
    UPDATE kb_proof_failure SET customer_id = p_into WHERE customer_id = p_from;
    UPDATE kb_supply_point SET customer_id = p_into WHERE customer_id = p_from;
    UPDATE kb_customer t SET full_name = coalesce(t.full_name, f.full_name), phone = coalesce(t.phone, f.phone),
           email = coalesce(t.email, f.email), address = coalesce(t.address, f.address),
           birth_date = coalesce(t.birth_date, f.birth_date), email_bills = t.email_bills OR f.email_bills
    FROM kb_customer f WHERE t.id = p_into AND f.id = p_from;
    UPDATE kb_customer SET merged_into = p_into, notifications = false WHERE id = p_from;
    INSERT INTO kb_audit (conv, event_id, what, details, customer_id, actor)
    VALUES (coalesce(p_conv, ''), coalesce(p_event, ''), 'customer.merged',
            jsonb_build_object('from', p_from, 'links', n_links, 'convs', convs), p_into, 'customer');
    RETURN jsonb_build_object('merged', p_from, 'convs', convs);
END $$;
