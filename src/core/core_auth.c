/* core_auth.c — login by phone with a code sent by SMS (or by an email address with a code sent by email), and
 * the code policy: 6 digits from the CSPRNG (OpenSSL
 * RAND_bytes, unbiased), stored only as HMAC-SHA256(server key, phone ":" code), valid 10 minutes, used once;
 * 5 wrong tries kill a code; 5 wrong tries from one conversation lock the phone for that conversation (the 6th is
 * refused even when right) until an hour has passed since them, and a new code does not reset them — the owner's
 * own chat stays free; a new code no sooner than 60 s after the last, at most 5 an hour and 10 a day per phone, and
 * from one conversation codes to at most 3 numbers an hour and 10 codes a day (sms.conv_numbers_hour,
 * sms.conv_codes_day), so that one chat neither pumps SMS nor reaches the global caps. A per-phone advisory lock makes the caps
 * exact when two requests race. A successful login finds or creates the customer by the phone's SMS identity and
 * binds the identity the customer came from (a Telegram user, say) to it. Each attempt leaves an audit row.
 *
 * The code itself never reaches the database: auth.code_send returns it to the dialog, which sends it by SMS.
 *
 * Wherever "phone" is named below, "email" may stand instead: the code goes by email, the identity is a "mail" one,
 * and the countries and number prefixes do not apply. auth.code_verify with customer_id adds the address to that
 * (signed-in) customer, as their email or phone, with the consent they gave in the conversation that asked; when the
 * address was another customer's (the same person, registered twice), the two become one (kb_customer_merge) and
 * "merged" says {from, convs} — the other customer's conversations, to be told who they speak for now.
 *
 * auth.code_send {phone (as typed)} → {"status": "sent", phone, code, expires_in_s} | {"status": "too_soon",
 *     retry_in_s} | {"status": "hour_limit"} | {"status": "day_limit"} | {"status": "invalid_phone"} (also a country
 *     outside the setting sms.countries, "+7" by default) | {"status": "prefix_limit"} (more than sms.codes_per_prefix_hour,
 *     30, to numbers sharing the first 6 digits after +7 in the last hour) | {"status": "busy"} (more than
 *     sms.codes_per_hour, 1000, in all) | {"status": "conv_limit"} (this conversation's caps)
 * auth.code_verify {phone, code, channel, external_id[, customer_id]} → {"status": "ok", customer_id, new} | {"status": "wrong",
 *     attempts_left} | {"status": "locked"} | {"status": "expired"} | {"status": "no_code"}
 *     | {"status": "invalid_phone"} | {"status": "invalid_code"} (not 6 digits: no try is spent)
 * auth.sms_login {phone (the SMS sender)} → {"status": "ok", customer_id, new} | {"status": "invalid_phone"}
 * auth.mail_login {email (the sender)} → {"status": "ok", customer_id, new: false} | {"status": "unknown"}: an address
 *     confirmed by a code before (at registration, or added in Settings) signs its conversation in as SMS numbers do;
 *     what is answered goes to that address only.
 * auth.business_find, auth.business_verify: a business signs in by contract number and INN, with a code sent to the
 *     contract's phone (below). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include "core.h"
#include "err.h"
#include "phone.h"

static char code_key[512];

void core_auth_set_key(const char *key) { snprintf(code_key, sizeof code_key, "%s", key ? key : ""); }

const char *core_auth_key(void) { return code_key; }

/* ---------------------------------------------------------------- codes */

/* Six random digits, without modulo bias. */
static int new_code(char out[7])
{
    unsigned int v;
    do {
        unsigned char b[4];
        if (RAND_bytes(b, sizeof b) != 1)
            return KB_ERR_IO;
        v = (unsigned)b[0] << 24 | (unsigned)b[1] << 16 | (unsigned)b[2] << 8 | b[3];
    } while (v >= 4294000000u); /* the largest multiple of 10^6 below 2^32 */
    snprintf(out, 7, "%06u", v % 1000000u);
    return 0;
}

/* HMAC-SHA256(key, phone ":" code) as 64 hex digits. */
static int code_hmac(const char *phone, const char *code, char out[65])
{
    char msg[64];
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    int n = snprintf(msg, sizeof msg, "%s:%s", phone, code);
    if (!code_key[0] || !HMAC(EVP_sha256(), code_key, (int)strlen(code_key), (const unsigned char *)msg, (size_t)n,
                              mac, &len))
        return KB_ERR_STATE;
    for (unsigned i = 0; i < len && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
    return 0;
}

static int answer(db_t *db, db_txn_t *txn, const char *status, core_cb cb, void *data)
{
    const char *sql = !strcmp(status, "invalid_phone") ? "SELECT '{\"status\": \"invalid_phone\"}'"
                      : !strcmp(status, "unknown")     ? "SELECT '{\"status\": \"unknown\"}'"
                                                       : "SELECT '{\"status\": \"invalid_code\"}'";
    return core_json(db, txn, 1, &sql, 0, NULL, cb, data);
}

/* ---------------------------------------------------------------- auth.code_send */

#define LOCK "SELECT pg_advisory_xact_lock(hashtext('kb_auth:' || $1))"

static const char *const sql_send[] = {
    LOCK,
    "SELECT pg_advisory_xact_lock(hashtext('kb_auth:conv:' || $3)) WHERE coalesce($1::text, $2::text, '') IS NOT NULL",
    "WITH caps AS (SELECT max(created_at) AS last, count(*) FILTER (WHERE created_at > now() - interval '1 hour') AS hour,"
    "  count(*) AS day FROM kb_auth_code WHERE address = $1 AND created_at > now() - interval '1 day'), "
    /* one conversation: a few numbers an hour, a few codes a day (SMS pumping; the global caps out of its reach) */
    "cv AS (SELECT count(DISTINCT address) FILTER (WHERE created_at > now() - interval '1 hour' AND address <> $1)"
    "  AS others, count(*) AS conv_day FROM kb_auth_code WHERE conv = $3 AND created_at > now() - interval '1 day'), "
    /* anti-abuse beyond one phone: its number prefix (+7 and 6 digits) and all codes, per hour; countries */
    "lim AS (SELECT coalesce((SELECT (value #>> '{}')::int FROM kb_setting WHERE key = 'sms.codes_per_prefix_hour'), 30)"
    "  AS per_prefix, coalesce((SELECT (value #>> '{}')::int FROM kb_setting WHERE key = 'sms.codes_per_hour'), 1000)"
    "  AS per_hour, coalesce((SELECT value #>> '{}' FROM kb_setting WHERE key = 'sms.countries'), '+7') AS countries,"
    "  coalesce((SELECT (value #>> '{}')::int FROM kb_setting WHERE key = 'sms.conv_numbers_hour'), 3) AS conv_numbers,"
    "  coalesce((SELECT (value #>> '{}')::int FROM kb_setting WHERE key = 'sms.conv_codes_day'), 10) AS conv_cap), "
    "glob AS (SELECT count(*) FILTER (WHERE $1 LIKE '+%' AND left(address, 8) = left($1, 8)) AS prefix, count(*) AS total"
    "  FROM kb_auth_code WHERE created_at > now() - interval '1 hour'), "
    "ok AS (SELECT (last IS NULL OR last <= now() - interval '60 seconds') AND hour < 5 AND day < 10"
    "  AND glob.prefix < lim.per_prefix AND glob.total < lim.per_hour AND cv.others < lim.conv_numbers"
    "  AND cv.conv_day < lim.conv_cap"
    "  AND (strpos($1, '@') > 0 OR EXISTS (SELECT 1 FROM unnest(string_to_array(lim.countries, ',')) c"
    "   WHERE $1 LIKE trim(c) || '%')) AS ok,"
    "  (strpos($1, '@') > 0 OR EXISTS (SELECT 1 FROM unnest(string_to_array(lim.countries, ',')) c"
    "   WHERE $1 LIKE trim(c) || '%')) AS country,"
    "  glob.prefix >= lim.per_prefix AS prefix_full, glob.total >= lim.per_hour AS all_full,"
    "  cv.others >= lim.conv_numbers OR cv.conv_day >= lim.conv_cap AS conv_full FROM caps, lim, glob, cv), "
    "ins AS (INSERT INTO kb_auth_code (address, code_hmac, conv, expires_at)"
    "  SELECT $1, $2, $3, now() + interval '10 minutes' FROM ok WHERE ok.ok RETURNING id), "
    "a AS (INSERT INTO kb_audit (conv, event_id, what, details, actor)"
    "  SELECT $3, '', 'login.code_sent', json_build_object('code_id', id), 'customer' FROM ins) "
    "SELECT json_build_object('status', CASE WHEN EXISTS (SELECT 1 FROM ins) THEN 'sent'"
    "  WHEN NOT ok.country THEN 'invalid_phone'"
    "  WHEN last > now() - interval '60 seconds' THEN 'too_soon' WHEN day >= 10 THEN 'day_limit'"
    "  WHEN hour >= 5 THEN 'hour_limit' WHEN ok.conv_full THEN 'conv_limit' WHEN ok.prefix_full THEN 'prefix_limit'"
    "  ELSE 'busy' END,"
    " 'phone', $1::text, 'address', $1::text, 'expires_in_s', 600, 'retry_in_s', CASE WHEN last > now() - interval '60 seconds'"
    "  THEN ceil(extract(epoch FROM last + interval '60 seconds' - now()))::int END)::text FROM caps, ok",
};

typedef struct {
    core_cb cb;
    void *data;
    char code[7];
} send_t;

/* The code joins the result here, after the database: it is never stored as itself. */
static void on_sent(int err, cJSON *result, void *data)
{
    send_t *s = data;
    const cJSON *st = cJSON_GetObjectItem(result, "status");
    if (!err && cJSON_IsString(st) && !strcmp(st->valuestring, "sent"))
        cJSON_AddStringToObject(result, "code", s->code);
    s->cb(err, result, s->data);
    OPENSSL_cleanse(s->code, sizeof s->code);
    free(s);
}

/* The address a call names: "phone" (normalized to +7…) or "email" (lowercased). Returns 0, 1 when it is given but
 * malformed, or KB_ERR_INVAL when neither is given. */
static int address(const cJSON *args, char out[EMAIL_MAX + 1])
{
    const char *phone = core_arg_str(args, "phone"), *email = core_arg_str(args, "email");
    if (email)
        return email_normalize(email, out, EMAIL_MAX + 1) ? 1 : 0;
    if (phone)
        return phone_normalize(phone, out, EMAIL_MAX + 1) ? 1 : 0;
    return KB_ERR_INVAL;
}

static int code_send(db_t *db, db_txn_t *txn, const char *conv, const cJSON *args, core_cb cb, void *data)
{
    char phone[EMAIL_MAX + 1], mac[65];
    int bad = address(args, phone);
    if (bad < 0)
        return bad;
    if (bad)
        return answer(db, txn, "invalid_phone", cb, data);
    send_t *s = calloc(1, sizeof *s);
    if (!s)
        return KB_ERR_NOMEM;
    int rc = new_code(s->code);
    if (!rc)
        rc = code_hmac(phone, s->code, mac);
    if (!rc) {
        s->cb = cb;
        s->data = data;
        const char *p[] = {phone, mac, conv};
        rc = core_json(db, txn, sizeof sql_send / sizeof *sql_send, sql_send, 3, p, on_sent, s);
    }
    if (rc) {
        OPENSSL_cleanse(s->code, sizeof s->code);
        free(s);
    }
    return rc;
}

/* ---------------------------------------------------------------- auth.code_verify */

/* The phone's latest code; the wrong tries of that code (code_n: five kill it), and this conversation's wrong tries
 * for the phone since its last login within the hour (n: five lock the phone for this conversation only, so that a
 * stranger who types wrong codes never locks the owner's own chat out). */
#define LATEST "c AS (SELECT id, code_hmac, expires_at, used_at FROM kb_auth_code WHERE address = $1 ORDER BY id DESC LIMIT 1)"
#define FAILURES                                                                                                      \
    "f AS (SELECT count(*) FILTER (WHERE conv = $3 AND at > greatest(now() - interval '1 hour', coalesce((SELECT"   \
    " max(used_at) FROM kb_auth_code WHERE address = $1 AND used_at < now()), '-infinity'))) AS n,"                  \
    " count(*) FILTER (WHERE code_id = (SELECT id FROM c)) AS code_n FROM kb_auth_failure WHERE address = $1)"
#define LOGGED_IN "EXISTS (SELECT 1 FROM kb_auth_code WHERE address = $1 AND used_at = now())"
/* The channel whose identity the address $1 is: "mail" for an email address, "sms" for a phone. */
#define HOME "(CASE WHEN strpos($1, '@') > 0 THEN 'mail' ELSE 'sms' END)"
/* A new customer for an address seen for the first time (when cond holds), with it as their identity. */
#define NEW_CUSTOMER(cond)                                                                                            \
    "WITH c AS (INSERT INTO kb_customer (phone, email) SELECT CASE WHEN strpos($1, '@') = 0 THEN $1 END,"            \
    "  CASE WHEN strpos($1, '@') > 0 THEN $1 END WHERE " cond " AND NOT EXISTS (SELECT 1 FROM kb_identity"           \
    "  WHERE channel = " HOME " AND external_id = $1 AND customer_id IS NOT NULL) RETURNING id) "                     \
    "INSERT INTO kb_identity (customer_id, channel, external_id, verified_at) SELECT id, " HOME ", $1, now() FROM c " \
    "ON CONFLICT (channel, external_id) DO UPDATE SET customer_id = EXCLUDED.customer_id, verified_at = now()"
/* Names parameters a statement does not need, so that every statement of a call takes the same list (always true). */
#define ALSO_TAKES(list) " AND coalesce(" list ", '') IS NOT NULL"

/* the try: the live code matches (used now) or a wrong try is counted */
#define TRY_CODE                                                                                                      \
    "WITH " LATEST ", " FAILURES ", "                                                                                 \
    "live AS (SELECT c.* FROM c, f WHERE c.used_at IS NULL AND c.expires_at > now() AND f.n < 5 AND f.code_n < 5), " \
    "ok AS (UPDATE kb_auth_code SET used_at = now() WHERE id = (SELECT id FROM live WHERE code_hmac = $2) RETURNING id), " \
    "bad AS (INSERT INTO kb_auth_failure (address, code_id, conv) SELECT $1, live.id, $3 FROM live"                  \
    " WHERE NOT EXISTS (SELECT 1 FROM ok) RETURNING 1) "                                                             \
    "INSERT INTO kb_audit (conv, event_id, what, details, actor) "                                                    \
    "SELECT $3, '', 'login.wrong_code', '{}', 'customer' FROM bad"
/* the answer to a try; WHO: the customer signed in when it was right */
#define TRY_RESULT(WHO)                                                                                               \
    "WITH " LATEST ", " FAILURES ", mine AS (SELECT count(*) AS n FROM kb_auth_failure WHERE address = $1 AND at = now()) " \
    "SELECT (CASE WHEN c.used_at = now() THEN " WHO                                                                   \
    " WHEN c.id IS NULL THEN json_build_object('status', 'no_code')"                                                  \
    " WHEN mine.n > 0 THEN json_build_object('status', 'wrong', 'attempts_left', greatest(0, 5 - greatest(f.n, f.code_n)))" \
    " WHEN f.n >= 5 THEN json_build_object('status', 'locked')"                                                       \
    " ELSE json_build_object('status', 'expired') END)::text "                                                        \
    "FROM (SELECT 1) x LEFT JOIN c ON true, f, mine WHERE true"

static const char *const sql_verify[] = {
    LOCK,
    TRY_CODE,
    /* the address was another customer's: the same person, registered twice — now one (kb_customer_merge) */
    "SELECT kb_customer_merge($6::bigint, i.customer_id, $3, '') FROM kb_identity i WHERE $6::bigint IS NOT NULL"
    " AND " LOGGED_IN " AND i.channel = " HOME " AND i.external_id = $1 AND i.customer_id IS NOT NULL"
    " AND i.customer_id <> $6::bigint" ALSO_TAKES("$2::text, $4::text, $5::text"),
    /* a signed-in customer adding this address (customer_id given): it becomes theirs, and their email or phone */
    "WITH i AS (INSERT INTO kb_identity (customer_id, channel, external_id, verified_at) "
    "SELECT $6::bigint, " HOME ", $1, now() WHERE $6::bigint IS NOT NULL AND " LOGGED_IN
    ALSO_TAKES("$2::text, $3::text, $4::text, $5::text")
    " ON CONFLICT (channel, external_id) DO UPDATE SET customer_id = EXCLUDED.customer_id, verified_at = now(),"
    " reachable = true, unreachable_why = NULL RETURNING customer_id) "
    "UPDATE kb_customer k SET email = CASE WHEN strpos($1, '@') > 0 THEN $1 ELSE k.email END,"
    " phone = CASE WHEN strpos($1, '@') = 0 THEN $1 ELSE k.phone END FROM i WHERE k.id = i.customer_id",
    /* …with the consent the customer gave here: the new channel does not ask it again */
    "INSERT INTO kb_consent (channel, external_id, customer_id, version, conv) "
    "SELECT " HOME ", $1, $6::bigint, coalesce((SELECT value #>> '{}' FROM kb_setting WHERE key = 'legal.version'), ''),"
    " $3 WHERE $6::bigint IS NOT NULL AND " LOGGED_IN ALSO_TAKES("$2::text, $4::text, $5::text")
    " ON CONFLICT (channel, external_id, version) DO NOTHING",
    NEW_CUSTOMER(LOGGED_IN),
    /* the identity the customer came from joins them */
    "INSERT INTO kb_identity (customer_id, channel, external_id, verified_at) "
    "SELECT i.customer_id, $4, $5, now() FROM kb_identity i WHERE i.channel = " HOME " AND i.external_id = $1 AND " LOGGED_IN
    ALSO_TAKES("$2::text, $3::text") " ON CONFLICT (channel, external_id) DO UPDATE SET customer_id = EXCLUDED.customer_id, verified_at = now(),"
    " reachable = true, unreachable_why = NULL",
    "INSERT INTO kb_audit (conv, event_id, what, details, customer_id, actor) "
    "SELECT $3, '', 'login', json_build_object('channel', $4::text), i.customer_id, 'customer' FROM kb_identity i "
    "WHERE i.channel = " HOME " AND i.external_id = $1 AND " LOGGED_IN ALSO_TAKES("$2::text"),
    TRY_RESULT("json_build_object('status', 'ok', 'customer_id', (SELECT k.id FROM kb_identity i JOIN kb_customer k"
               " ON k.id = i.customer_id WHERE i.channel = " HOME " AND i.external_id = $1), 'new', (SELECT"
               " k.created_at = now() FROM kb_identity i JOIN kb_customer k ON k.id = i.customer_id WHERE i.channel = "
               HOME " AND i.external_id = $1), 'merged', (SELECT details FROM kb_audit WHERE what = 'customer.merged'"
               " AND customer_id = $6::bigint AND at = now() ORDER BY id DESC LIMIT 1))")
    ALSO_TAKES("$2::text, $3::text, $4::text, $5::text"),
};

/* ---------------------------------------------------------------- business sign-in */

/* auth.business_find {contract_no, inn, $conv} → {"status": "found", business_id, phone, phone_masked} | {"status": "not_found"} |
 * {"status": "no_phone"} | {"status": "locked"} (5 wrong pairs an hour from one conversation): the contract a
 * business signs in with (seed 000: contract number and INN); the code then goes to the contract's phone. */
static const char *const sql_business_find[] = {
    "SELECT pg_advisory_xact_lock(hashtext('kb_auth:biz:' || $3)) WHERE coalesce($1::text, $2::text, '') IS NOT NULL",
    "INSERT INTO kb_auth_failure (address) SELECT 'biz:' || $3 WHERE NOT EXISTS (SELECT 1 FROM kb_customer"
    " WHERE kind = 'business' AND merged_into IS NULL AND upper(contract_no) = upper($1) AND inn = $2)",
    /* five wrong pairs an hour; the sixth locks the conversation out for the hour, right or wrong */
    "SELECT (CASE WHEN (SELECT count(*) FROM kb_auth_failure WHERE address = 'biz:' || $3"
    "  AND at > now() - interval '1 hour') > 5 THEN json_build_object('status', 'locked')"
    " ELSE coalesce((SELECT CASE WHEN phone IS NULL THEN json_build_object('status', 'no_phone') ELSE"
    "  json_build_object('status', 'found', 'business_id', id, 'phone', phone,"
    "  'phone_masked', '+' || left(substr(phone, 2), 4) || '***' || right(phone, 4)) END FROM kb_customer WHERE kind = 'business'"
    "  AND merged_into IS NULL AND upper(contract_no) = upper($1) AND inn = $2), json_build_object('status', 'not_found'))"
    " END)::text",
};

static int business_find(db_t *db, db_txn_t *txn, const char *conv, const cJSON *args, core_cb cb, void *data)
{
    const char *contract = core_arg_str(args, "contract_no"), *inn = core_arg_str(args, "inn");
    if (!contract || !inn || strlen(contract) > 40 || strlen(inn) > 12)
        return KB_ERR_INVAL;
    const char *p[] = {contract, inn, conv};
    return core_json(db, txn, sizeof sql_business_find / sizeof *sql_business_find, sql_business_find, 3, p, cb, data);
}

/* auth.business_verify {phone, code, channel, external_id, business_id} → as auth.code_verify: the code sent to the
 * contract's phone signs the conversation's identity in as the business. */
static const char *const sql_business_verify[] = {
    LOCK,
    TRY_CODE,
    "INSERT INTO kb_identity (customer_id, channel, external_id, verified_at) SELECT $6::bigint, $4, $5, now()"
    " WHERE " LOGGED_IN ALSO_TAKES("$2::text, $3::text") " ON CONFLICT (channel, external_id) DO UPDATE SET"
    " customer_id = EXCLUDED.customer_id, verified_at = now(), reachable = true, unreachable_why = NULL",
    "INSERT INTO kb_audit (conv, event_id, what, details, customer_id, actor) "
    "SELECT $3, '', 'login', json_build_object('channel', $4::text, 'business', true), $6::bigint, 'customer'"
    " WHERE " LOGGED_IN ALSO_TAKES("$2::text, $5::text"),
    TRY_RESULT("json_build_object('status', 'ok', 'customer_id', $6::bigint, 'new', false)")
    ALSO_TAKES("$2::text, $3::text, $4::text, $5::text"),
};

/* A typed code against the address's live one: the statements sql (sql_verify or sql_business_verify) with $1 the
 * address, $2 the code's HMAC, $3 the conversation, $4/$5 its identity and $6 id (the signed-in customer adding the
 * address, or the business; NULL: none). */
static int try_code(const char *const *sql, size_t n, db_t *db, db_txn_t *txn, const char *conv, const cJSON *args,
                    const cJSON *id, core_cb cb, void *data)
{
    const char *code = core_arg_str(args, "code"), *channel = core_arg_str(args, "channel"),
               *external = core_arg_str(args, "external_id");
    char phone[EMAIL_MAX + 1], mac[65], idtext[24];
    int bad = address(args, phone);
    if (bad < 0 || !code || !channel || !external)
        return KB_ERR_INVAL;
    if (bad)
        return answer(db, txn, "invalid_phone", cb, data);
    if (strlen(code) != 6 || strspn(code, "0123456789") != 6)
        return answer(db, txn, "invalid_code", cb, data);
    int rc = code_hmac(phone, code, mac);
    if (rc)
        return rc;
    snprintf(idtext, sizeof idtext, "%lld", cJSON_IsNumber(id) ? (long long)id->valuedouble : 0LL);
    const char *p[] = {phone, mac, conv, channel, external, cJSON_IsNumber(id) ? idtext : NULL};
    return core_json(db, txn, n, sql, 6, p, cb, data);
}

static int business_verify(db_t *db, db_txn_t *txn, const char *conv, const cJSON *args, core_cb cb, void *data)
{
    const cJSON *biz = cJSON_GetObjectItem(args, "business_id");
    if (!cJSON_IsNumber(biz))
        return KB_ERR_INVAL;
    return try_code(sql_business_verify, sizeof sql_business_verify / sizeof *sql_business_verify, db, txn, conv, args,
                    biz, cb, data);
}

static int code_verify(db_t *db, db_txn_t *txn, const char *conv, const cJSON *args, core_cb cb, void *data)
{
    return try_code(sql_verify, sizeof sql_verify / sizeof *sql_verify, db, txn, conv, args,
                    cJSON_GetObjectItem(args, "customer_id"), cb, data);
}

/* ---------------------------------------------------------------- auth.sms_login */

/* In the SMS channel the sender's number is the identity (the network vouches for it): no code. */
static const char *const sql_sms_login[] = {
    NEW_CUSTOMER("true"),
    "UPDATE kb_identity SET verified_at = now(), reachable = true, unreachable_why = NULL"
    " WHERE channel = 'sms' AND external_id = $1",
    "INSERT INTO kb_audit (conv, event_id, what, details, customer_id, actor) "
    "SELECT $2, '', 'login', '{\"channel\": \"sms\"}', customer_id, 'customer' FROM kb_identity"
    " WHERE channel = 'sms' AND external_id = $1",
    "SELECT json_build_object('status', 'ok', 'customer_id', k.id, 'new', k.created_at = now())::text "
    "FROM kb_identity i JOIN kb_customer k ON k.id = i.customer_id WHERE i.channel = " HOME " AND i.external_id = $1",
};

static int sms_login(db_t *db, db_txn_t *txn, const char *conv, const cJSON *args, core_cb cb, void *data)
{
    const char *typed = core_arg_str(args, "phone");
    char phone[16];
    if (!typed)
        return KB_ERR_INVAL;
    if (phone_normalize(typed, phone, sizeof phone))
        return answer(db, txn, "invalid_phone", cb, data);
    const char *p[] = {phone, conv};
    return core_json(db, txn, sizeof sql_sms_login / sizeof *sql_sms_login, sql_sms_login, 2, p, cb, data);
}

/* ---------------------------------------------------------------- auth.mail_login */

static const char *const sql_mail_login[] = {
    "INSERT INTO kb_audit (conv, event_id, what, details, customer_id, actor) "
    "SELECT $2, '', 'login', '{\"channel\": \"mail\"}', customer_id, 'customer' FROM kb_identity"
    " WHERE channel = 'mail' AND external_id = $1 AND customer_id IS NOT NULL AND verified_at IS NOT NULL",
    "SELECT coalesce((SELECT json_build_object('status', 'ok', 'customer_id', customer_id, 'new', false) FROM kb_identity"
    " WHERE channel = 'mail' AND external_id = $1 AND customer_id IS NOT NULL AND verified_at IS NOT NULL),"
    " json_build_object('status', 'unknown'))::text WHERE $2::text IS NOT NULL",
};

static int mail_login(db_t *db, db_txn_t *txn, const char *conv, const cJSON *args, core_cb cb, void *data)
{
    char email[EMAIL_MAX + 1];
    const char *typed = core_arg_str(args, "email");
    if (!typed)
        return KB_ERR_INVAL;
    if (email_normalize(typed, email, sizeof email))
        return answer(db, txn, "unknown", cb, data);
    const char *p[] = {email, conv};
    return core_json(db, txn, sizeof sql_mail_login / sizeof *sql_mail_login, sql_mail_login, 2, p, cb, data);
}

void core_auth_register(void)
{
    core_register("auth.code_send", code_send);
    core_register("auth.code_verify", code_verify);
    core_register("auth.sms_login", sms_login);
    core_register("auth.mail_login", mail_login);
    core_register("auth.business_find", business_find);
    core_register("auth.business_verify", business_verify);
}
