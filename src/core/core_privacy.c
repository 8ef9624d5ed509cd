/* core_privacy.c — personal data (152-ФЗ): the consent to its processing and to the user agreement, kept per
 * identity with its time and the texts' version (kb_setting legal.version, legal.pd_url, legal.terms_url); signing
 * a chat out; and erasing a customer's personal data that need not be kept (kb_privacy_forget, sql/013_privacy.sql).
 *
 * consent.terms {channel, external_id} → {"status": "ok", version, pd_url, terms_url, accepted} (accepted: this
 *     identity accepted the current version)
 * consent.accept {channel, external_id, event_id} → {"status": "ok", version}
 * privacy.logout {customer_id, channel, external_id, event_id} → {"status": "ok"} (a Telegram or console identity is
 *     unbound from the customer; a phone's or an address's own conversation only ends its session: they are how
 *     those channels know who writes)
 * privacy.forget {customer_id, event_id} → {"status": "ok", convs: [the customer's conversations], erased: {…}} */
#include "core.h"

#define LEGAL(k, dflt) "coalesce((SELECT value #>> '{}' FROM kb_setting WHERE key = 'legal." k "'), '" dflt "')"

static const core_sql_op_t op_terms = {
    {{"channel", 's', 1}, {"external_id", 's', 1}},
    {"SELECT json_build_object('status', 'ok', 'version', " LEGAL("version", "1") ", 'pd_url', " LEGAL("pd_url", "")
     ", 'terms_url', " LEGAL("terms_url", "") ", 'accepted', EXISTS (SELECT 1 FROM kb_consent WHERE channel = $1"
     " AND external_id = $2 AND version = " LEGAL("version", "1") "))::text"}};

static const core_sql_op_t op_accept = {
    {{"channel", 's', 1}, {"external_id", 's', 1}, {"$conv"}, {"event_id", 's', 0}},
    {"WITH c AS (INSERT INTO kb_consent (channel, external_id, version, conv, customer_id)"
     " SELECT $1, $2, " LEGAL("version", "1") ", $3, (SELECT customer_id FROM kb_identity WHERE channel = $1"
     "  AND external_id = $2) ON CONFLICT (channel, external_id, version) DO NOTHING RETURNING version) "
     "INSERT INTO kb_audit (conv, event_id, what, details, actor) "
     "SELECT $3, coalesce($4, ''), 'privacy.consent', json_build_object('version', version), 'customer' FROM c",
     "SELECT json_build_object('status', 'ok', 'version', " LEGAL("version", "1") ")::text"}};

static const core_sql_op_t op_logout = {
    {{"customer_id", 'i', 1}, {"channel", 's', 1}, {"external_id", 's', 1}, {"$conv"}, {"event_id", 's', 0}},
    {"UPDATE kb_identity SET customer_id = NULL WHERE customer_id = $1::bigint AND channel = $2 AND external_id = $3"
     " AND channel NOT IN ('sms', 'mail')",
     "INSERT INTO kb_audit (conv, event_id, what, details, customer_id, actor) "
     "VALUES ($4, coalesce($5, ''), 'privacy.logout', json_build_object('channel', $2::text), $1::bigint, 'customer')"
     " RETURNING json_build_object('status', 'ok', 'ok', $3::text IS NOT NULL)::text"}};

static const core_sql_op_t op_forget = {
    {{"customer_id", 'i', 1}, {"$conv"}, {"event_id", 's', 0}, {"$key"}},
    {"SELECT (jsonb_build_object('status', 'ok') || kb_privacy_forget($1::bigint, $2, coalesce($3, ''), $4))::text"}};

CORE_SQL_OP(consent_terms, op_terms)
CORE_SQL_OP(consent_accept, op_accept)
CORE_SQL_OP(privacy_logout, op_logout)
CORE_SQL_OP(privacy_forget, op_forget)

void core_privacy_register(void)
{
    core_register("consent.terms", consent_terms);
    core_register("consent.accept", consent_accept);
    core_register("privacy.logout", privacy_logout);
    core_register("privacy.forget", privacy_forget);
}
