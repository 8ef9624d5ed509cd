-- 025_card_order: the appeal card's «Последние сообщения» in the order they happened. A domain step's replies are
-- written before its kb_applied row gets its time (applied_at is taken at the end of the step's transaction), so
-- each reply sat above the message it answers; now every reply is placed right after its event's message, in its
-- own order (seq), and a push (no event of the conversation) at its own time.

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
                        -- an event's replies right after what the customer said (its applied_at), in their order;
                        -- a push (no event of this conversation) at its own time
                        SELECT coalesce(e.applied_at, o.created_at) + (o.seq + 1) * interval '1 microsecond', 'out',
                               NULL, o.payload
                          FROM kb_outbox o LEFT JOIN kb_applied e ON e.conv = o.conv AND e.event_id = o.event_id
                         WHERE o.conv = ap.conv AND NOT o.dead AND o.payload ? 'tmpl'
                        UNION ALL   -- a fast step's replies, kept with its history
                        SELECT a.applied_at + r.n * interval '1 microsecond', 'out', NULL, r.p
                          FROM kb_applied a, jsonb_array_elements(a.replies) WITH ORDINALITY AS r(p, n)
                         WHERE a.conv = ap.conv AND a.replies IS NOT NULL AND r.p ? 'tmpl') u
                    ORDER BY at DESC LIMIT 10) h), '[]'))
    FROM kb_appeal ap LEFT JOIN kb_customer c ON c.id = ap.customer_id
    WHERE ap.id = p_id
$fn$;
