-- 019: money that arrives for a payment kabinet had closed. A provider's "canceled" is final, yet a bank may still
-- report a payment taken after kabinet gave up on it (its own expiry ran out while the customer was paying). The
-- money moved, so the payment is credited (payment.settle); the customer hears plainly that it went through after
-- all (pay.late_paid, not a bare "accepted" after "declined"); and staff see the anomaly: an appeal with reason
-- "payment" in the customer's conversation, posted to the staff group like any other.

ALTER TABLE kb_appeal DROP CONSTRAINT kb_appeal_reason_check;
ALTER TABLE kb_appeal ADD CONSTRAINT kb_appeal_reason_check CHECK (reason IN ('asked', 'stuck', 'link', 'payment'));

-- kb_payment_late(payment, what kabinet had made of it): the appeal staff see, once per payment. An appeal already
-- open in that conversation gets a note instead of a second appeal.
CREATE FUNCTION kb_payment_late(p_payment bigint, p_was text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    p  kb_payment;
    ap bigint;
    note text;
BEGIN
    SELECT * INTO p FROM kb_payment WHERE id = p_payment;
    IF p.conv IS NULL THEN
        RETURN NULL;
    END IF;
    note := format('payment %s (%s kopecks) was %s in kabinet, then the provider reported it paid: credited',
                   p.order_id, p.amount_kopecks, p_was);
    SELECT id INTO ap FROM kb_appeal WHERE conv = p.conv AND status <> 'resolved' FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO kb_appeal (customer_id, conv, channel, subject, reason)
        VALUES (p.customer_id, p.conv, split_part(p.conv, ':', 1), '', 'payment') RETURNING id INTO ap;
    END IF;
    INSERT INTO kb_appeal_message (appeal_id, author, body, kind) VALUES (ap, 'note', note, 'text');
    INSERT INTO kb_outbox (conv, channel, lane, event_id, seq, payload)
    VALUES ('appeal:' || ap, 'staff', 0, 'late:' || p.order_id, 0,
            jsonb_build_object('tmpl', 'staff.post', 'params', jsonb_build_object('appeal_id', ap)))
    ON CONFLICT (conv, event_id, seq) DO NOTHING;
    INSERT INTO kb_audit (conv, event_id, what, details, customer_id, actor)
    VALUES (p.conv, 'late:' || p.order_id, 'payment.late', jsonb_build_object('payment_id', p.id, 'was', p_was,
            'appeal_id', ap), p.customer_id, 'provider');
    RETURN ap;
END $$;
