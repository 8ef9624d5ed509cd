-- 020: an account linked to someone already. A surname is not proof enough against a customer who has the account
-- (surnames are easy to guess or to know): the core asks for the ЕЛС or a meter photo (account.link answers
-- "surname_not_enough"). And whenever a new link to an account becomes active — by the ЕЛС, or a photo staff
-- approved — every other customer linked to it hears of it in their channel, with how to object.

-- kb_link_tell_others(link): the push to each other active customer of the link's account (routed as notices are:
-- the channel they chose, else Telegram, email, SMS), once per link. Returns how many were told.
CREATE FUNCTION kb_link_tell_others(p_link bigint) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    INSERT INTO kb_outbox (conv, channel, lane, event_id, seq, payload)
    SELECT r.conv, split_part(r.lane, '_', 1), 0, 'link:' || p_link, 0,
           jsonb_build_object('tmpl', 'acc.new_link_notice', 'lang', c.language,
                              'params', jsonb_build_object('account', a.number))
    FROM kb_account_link nl JOIN kb_account a ON a.id = nl.account_id
    JOIN kb_account_link ol ON ol.account_id = nl.account_id AND ol.status = 'active' AND ol.customer_id <> nl.customer_id
    JOIN kb_customer c ON c.id = ol.customer_id
    CROSS JOIN LATERAL kb_notice_route(ol.customer_id, NULL, false) r
    WHERE nl.id = p_link AND nl.status = 'active'
    ON CONFLICT (conv, event_id, seq) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
