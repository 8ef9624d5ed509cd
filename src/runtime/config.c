/* config.c — the table of KABINET_* variables, their parsing and validation (see config.h). */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <errno.h>
#include <limits.h>
#include <arpa/inet.h>
#include "err.h"
#include "config.h"
#include "kv.h"
#include "payprov_int.h"

typedef enum { CFG_STR, CFG_INT, CFG_BOOL } cfg_kind_t;

typedef struct {
    const char *name;
    cfg_kind_t kind;
    const char *def;     /* NULL: required */
    int secret;          /* never printed */
    long min, max;       /* for CFG_INT */
    size_t offset;       /* into cfg_t: char* for CFG_STR, int for CFG_INT/CFG_BOOL */
    const char *help;
} cfg_var_t;

#define OFF(f) offsetof(cfg_t, f)
#define CFG_DEV_CODE_KEY "development-only-code-key"

static const cfg_var_t cfg_vars[] = {
    {"KABINET_ENV", CFG_STR, "development", 0, 0, 0, OFF(env),
     "`development` or `production`. Production refuses test-only helpers (such as the log-only code sender)."},
    {"KABINET_DATABASE_URL", CFG_STR, NULL, 1, 0, 0, OFF(database_url),
     "PostgreSQL connection: a libpq URL or key=value string. A host name is resolved once at start; "
     "give `hostaddr` to skip that."},
    {"KABINET_DATABASE_POOL", CFG_INT, "8", 0, 1, 256, OFF(database_pool), "Connections in the Postgres pool."},
    {"KABINET_DATABASE_REPLICA_URL", CFG_STR, "", 1, 0, 0, OFF(database_replica_url),
     "A streaming replica of that database (same form). When set, reads that may lag a few seconds go there: the "
     "readings history, the ledger and its chart, the account's history, bills and business documents; everything "
     "that decides (readings, payments, links, balances, sign-in) stays on the primary. While the replica is down "
     "they go to the primary."},
    {"KABINET_DATABASE_REPLICA_POOL", CFG_INT, "4", 0, 1, 256, OFF(database_replica_pool),
     "Connections in the replica's pool."},
    {"KABINET_DATABASE_PREPARED", CFG_BOOL, "on", 0, 0, 1, OFF(database_prepared),
     "Use named prepared statements. Turn off behind PgBouncer in transaction mode before 1.21."},
    {"KABINET_DATABASE_PIPELINE", CFG_INT, "32", 0, 1, 1024, OFF(database_pipeline),
     "Queries in flight at once on one connection (libpq pipeline mode)."},
    {"KABINET_DATABASE_TIMEOUT_MS", CFG_INT, "10000", 0, 100, 600000, OFF(database_timeout_ms),
     "Connect timeout and the longest a query may wait and run; past it the connection is reset."},
    {"KABINET_REDIS_URL", CFG_STR, NULL, 1, 0, 0, OFF(redis_url),
     "Redis: `redis://[:password@]host[:port][/db]`; a cluster: `redis-cluster://host:port[,host:port…]` (seeds); "
     "behind Sentinel: `redis-sentinel://host:port[,host:port…]/master[/db]`. Hosts are IP addresses or localhost."},
    {"KABINET_REDIS_TIMEOUT_MS", CFG_INT, "2000", 0, 50, 60000, OFF(redis_timeout_ms),
     "Connect and command timeout; a command past it resets the connection."},
    {"KABINET_REDIS_WAIT_REPLICAS", CFG_INT, "1", 0, 0, 5, OFF(redis_wait_replicas),
     "On a Redis Cluster or behind Sentinel: replicas an accepted update must reach (WAIT) before the provider is "
     "answered, so that a failover loses none. 0 turns it off. Ignored for one server."},
    {"KABINET_REDIS_WAIT_MS", CFG_INT, "100", 0, 1, 10000, OFF(redis_wait_ms),
     "The longest an intake waits for those replicas; then it is accepted anyway and counted in "
     "kb_engine_unreplicated_total (a replica down must not stop the service)."},
    {"KABINET_HTTP_LISTEN", CFG_STR, "127.0.0.1:8080", 0, 0, 0, OFF(http_listen),
     "Address and port of the HTTP server (webhooks, /healthz, /readyz, /metrics)."},
    {"KABINET_HTTP_MAX_BODY", CFG_INT, "4194304", 0, 1024, 64 * 1024 * 1024, OFF(http_max_body),
     "Largest request body accepted, in bytes; larger ones get 413."},
    {"KABINET_HTTP_OUT_TIMEOUT_MS", CFG_INT, "10000", 0, 100, 600000, OFF(http_out_timeout_ms),
     "Default timeout of an outbound HTTP request."},
    {"KABINET_HTTP_OUT_MAX_HOST_CONNECTIONS", CFG_INT, "32", 0, 1, 1024, OFF(http_out_max_host_conns),
     "Outbound connections to one host at most (more are queued by libcurl)."},
    {"KABINET_SHUTDOWN_TIMEOUT_MS", CFG_INT, "10000", 0, 0, 600000, OFF(shutdown_timeout_ms),
     "On SIGTERM/SIGINT: how long to finish in-flight work before exiting anyway."},
    {"KABINET_ENGINE_CONCURRENCY", CFG_INT, "256", 0, 1, 100000, OFF(engine_concurrency),
     "Conversations one process handles at once (events of one conversation always go one at a time)."},
    {"KABINET_LEASE_MS", CFG_INT, "5000", 0, 500, 600000, OFF(lease_ms),
     "A conversation's lease: the longest a crashed process can hold up its conversations."},
    {"KABINET_STATE_TTL_S", CFG_INT, "2592000", 0, 60, 31536000, OFF(state_ttl_s),
     "A conversation's state lives this long after its last event (sliding; 30 days)."},
    {"KABINET_STEP_TTL_S", CFG_INT, "3600", 0, 10, 31536000, OFF(step_ttl_s),
     "An unfinished step (a half-typed reading, say) resets after this long without events."},
    {"KABINET_DEDUPE_IDS", CFG_INT, "8", 0, 1, 1024, OFF(dedupe_ids),
     "Recent external ids remembered per conversation to drop redelivered updates."},
    {"KABINET_DEDUPE_TTL_S", CFG_INT, "86400", 0, 60, 2592000, OFF(dedupe_ttl_s),
     "How long those ids are remembered after the conversation's last event."},
    {"KABINET_LIMIT_PER_MINUTE", CFG_INT, "60", 0, 0, 100000, OFF(limit_per_minute),
     "Messages one customer's conversation may send a minute (a burst of as many, then one every 60/N s); over it "
     "they are told once when to try again and the rest is dropped. 0: no limit (benchmarks)."},
    {"KABINET_LIMIT_PER_DAY", CFG_INT, "2000", 0, 0, 10000000, OFF(limit_per_day),
     "Messages one customer's conversation may send a UTC day, the same way. 0: no limit."},
    {"KABINET_LOCAL_CHANNEL", CFG_BOOL, "off", 0, 0, 1, OFF(local_channel),
     "The local channel (`POST /local/events`, `GET /local/replies`) for development and tests; refused in production."},
    {"KABINET_LOG_LEVEL", CFG_STR, "info", 0, 0, 0, OFF(log_level_name), "`debug`, `info`, `warn` or `error`."},
    {"KABINET_START_DIALOG", CFG_STR, "customer", 0, 0, 0, OFF(start_dialog),
     "The dialog a new conversation starts in: `customer` (the personal account) or `demo` (the engine's test "
     "dialog: echo and a counter)."},
    {"KABINET_CODE_KEY", CFG_STR, CFG_DEV_CODE_KEY, 1, 0, 0, OFF(code_key),
     "Server key for the HMAC under which login codes are stored (32 characters or more; `KABINET_CODE_KEY_FILE` "
     "reads it from a file). Production refuses the development default."},
    {"KABINET_PUBLIC_URL", CFG_STR, "", 0, 0, 0, OFF(public_url),
     "How customers reach this server: short payment links (/p/…), the fake pay page and the address providers send "
     "customers back to are built on it. Empty: http://KABINET_HTTP_LISTEN."},
    {"KABINET_PAY_PROVIDER", CFG_STR, "fake", 0, 0, 0, OFF(pay_provider),
     "`yookassa`, `sber` (Sberbank acquiring), `fake` (kabinet's own test pay page at /pay/fake/…, development only) "
     "or `none` (no payment links)."},
    {"KABINET_PAY_POLL_S", CFG_INT, "30", 0, 1, 3600, OFF(pay_poll_s),
     "A payment with no word from the provider is asked about this often; so is a paid one's fiscal receipt."},
    {"KABINET_PAY_EXPIRE_S", CFG_INT, "1200", 0, 10, 86400, OFF(pay_expire_s),
     "A payment link lives this long (Sberbank's sessionTimeoutSecs); a payment still unpaid after it expires."},
    {"KABINET_YOOKASSA_URL", CFG_STR, "https://api.yookassa.ru", 0, 0, 0, OFF(yk_url),
     "YooKassa API base (requests go to <base>/v3/…)."},
    {"KABINET_YOOKASSA_SHOP_ID", CFG_STR, "", 0, 0, 0, OFF(yk_shop_id), "YooKassa shopId (HTTP Basic user)."},
    {"KABINET_YOOKASSA_SECRET_KEY", CFG_STR, "", 1, 0, 0, OFF(yk_secret_key),
     "YooKassa secret key (HTTP Basic password)."},
    {"KABINET_YOOKASSA_WEBHOOK_IPS", CFG_STR,
     "185.71.76.0/27,185.71.77.0/27,77.75.153.0/25,77.75.156.11,77.75.156.35,77.75.154.128/25,2a02:5180::/32", 0, 0,
     0, OFF(yk_webhook_ips),
     "Addresses YooKassa notifications may come from (comma-separated, CIDR allowed; YooKassa's published list). "
     "Others get 403."},
    {"KABINET_TRUSTED_PROXIES", CFG_STR, "", 0, 0, 0, OFF(trusted_proxies),
     "Reverse proxies in front of kabinetd (addresses or networks, comma-separated): from them, the client's address "
     "is the right-most X-Forwarded-For entry that is not such a proxy (YooKassa's address check). Empty: the TCP "
     "peer is the client and X-Forwarded-For is ignored."},
    {"KABINET_YOOKASSA_VAT_CODE", CFG_INT, "1", 0, 1, 12, OFF(yk_vat_code),
     "vat_code of the receipt item (YooKassa's codes: 1 no VAT, 4 VAT 20%, …): the retailer's tax setting."},
    {"KABINET_SBER_URL", CFG_STR, "https://securepayments.sberbank.ru/payment/rest", 0, 0, 0, OFF(sber_url),
     "Sberbank acquiring REST base (register.do, getOrderStatusExtended.do, getReceiptStatus.do)."},
    {"KABINET_SBER_USERNAME", CFG_STR, "", 0, 0, 0, OFF(sber_username), "Sberbank API user (userName)."},
    {"KABINET_SBER_PASSWORD", CFG_STR, "", 1, 0, 0, OFF(sber_password), "Sberbank API password."},
    {"KABINET_SBER_CALLBACK_KEY", CFG_STR, "", 1, 0, 0, OFF(sber_callback_key),
     "Sberbank's symmetric callback key: callbacks must carry its HMAC-SHA256 checksum."},
    {"KABINET_SMS_PROVIDER", CFG_STR, "log", 0, 0, 0, OFF(sms_provider),
     "`smsc` (SMSC.ru), `smsru` (SMS.ru) or `log` (SMS written to the log, codes included: development only)."},
    {"KABINET_SMSC_URL", CFG_STR, "https://smsc.ru", 0, 0, 0, OFF(smsc_url), "SMSC.ru API base (<base>/sys/send.php)."},
    {"KABINET_SMSC_LOGIN", CFG_STR, "", 0, 0, 0, OFF(smsc_login), "SMSC.ru login."},
    {"KABINET_SMSC_PASSWORD", CFG_STR, "", 1, 0, 0, OFF(smsc_password), "SMSC.ru password (or API key)."},
    {"KABINET_SMSC_SECRET", CFG_STR, "", 1, 0, 0, OFF(smsc_secret),
     "The secret SMSC.ru signs its callbacks with (md5); callbacks to /sms/smsc/callback must carry it."},
    {"KABINET_SMSC_SENDER", CFG_STR, "", 0, 0, 0, OFF(smsc_sender), "Sender name registered at SMSC.ru (\"\" = default)."},
    {"KABINET_SMSRU_URL", CFG_STR, "https://sms.ru", 0, 0, 0, OFF(smsru_url), "SMS.ru API base (<base>/sms/send)."},
    {"KABINET_SMSRU_API_ID", CFG_STR, "", 1, 0, 0, OFF(smsru_api_id), "SMS.ru api_id."},
    {"KABINET_SMSRU_TOKEN", CFG_STR, "", 1, 0, 0, OFF(smsru_token),
     "The secret in SMS.ru's callback URL (/sms/smsru/callback/<token>), 16 to 100 characters."},
    {"KABINET_TELEGRAM_TOKEN", CFG_STR, "", 1, 0, 0, OFF(tg_token),
     "The bot's token from @BotFather. Empty: no Telegram channel."},
    {"KABINET_TELEGRAM_API_URL", CFG_STR, "https://api.telegram.org", 0, 0, 0, OFF(tg_api_url),
     "The Bot API server: the public one, a local Bot API server, or a test server."},
    {"KABINET_TELEGRAM_MODE", CFG_STR, "polling", 0, 0, 0, OFF(tg_mode),
     "`polling` (getUpdates; one process of all polls, by a Redis lease) or `webhook` (Telegram calls "
     "`POST /telegram/webhook`)."},
    {"KABINET_TELEGRAM_WEBHOOK_URL", CFG_STR, "", 0, 0, 0, OFF(tg_webhook_url),
     "Webhook mode: the public https URL that reaches this server's `/telegram/webhook` (registered with "
     "setWebhook at start)."},
    {"KABINET_TELEGRAM_SECRET", CFG_STR, "", 1, 0, 0, OFF(tg_secret),
     "Webhook mode: the secret Telegram sends in X-Telegram-Bot-Api-Secret-Token (1-256 of A-Z a-z 0-9 _ -); "
     "calls without it get 401."},
    {"KABINET_TELEGRAM_POLL_TIMEOUT_S", CFG_INT, "25", 0, 1, 50, OFF(tg_poll_timeout_s),
     "Polling mode: getUpdates' long-poll timeout. The polling lease lasts this plus 5 s."},
    {"KABINET_TELEGRAM_MAX_CONNECTIONS", CFG_INT, "40", 0, 1, 100, OFF(tg_max_connections),
     "Webhook mode: setWebhook's max_connections (parallel deliveries Telegram may make)."},
    {"KABINET_TELEGRAM_MAX_INFLIGHT", CFG_INT, "1000", 0, 1, 100000, OFF(tg_max_inflight),
     "Webhook mode: updates being accepted at once; more get 429 with Retry-After."},
    {"KABINET_TELEGRAM_BROADCAST_RATE", CFG_INT, "30", 0, 1, 1000, OFF(tg_broadcast_rate),
     "Pushes and broadcasts (lane 1) sent per second by all processes together; live replies are not counted "
     "against it."},
    {"KABINET_TELEGRAM_CHAT_LIMIT", CFG_BOOL, "on", 0, 0, 1, OFF(tg_chat_limit),
     "Telegram's per-chat pace (a burst of 3, then 1 message a second). Off only against a Bot API without limits "
     "(benchmarks); production refuses off."},
    {"KABINET_STAFF_CHAT_ID", CFG_STR, "", 0, 0, 0, OFF(staff_chat_id),
     "The Telegram supergroup with topics where support staff answer appeals (such as -1001234567890; the bot "
     "must be an admin who may manage topics). Empty: appeals are kept but nobody is told."},
    {"KABINET_STAFF_BRANCHES", CFG_STR, "", 0, 0, 0, OFF(staff_branches),
     "Branches whose appeals go to a staff group of their own: `code=chat id,…` (kb_branch.code)."},
    {"KABINET_SMTP_URL", CFG_STR, "", 1, 0, 0, OFF(smtp_url),
     "Outbound mail: `smtp://[user:password@]host[:port]` (STARTTLS when offered) or `smtps://…`. Empty: no email "
     "channel out."},
    {"KABINET_MAIL_FROM", CFG_STR, "", 0, 0, 0, OFF(mail_from),
     "Our address, `Name <bot@example.ru>`; its domain names our Message-IDs and the Reply-To reply+<token>@domain "
     "(route reply+*@domain to the IMAP mailbox or the webhook). Needed by any of the mail settings."},
    {"KABINET_IMAP_URL", CFG_STR, "", 1, 0, 0, OFF(imap_url),
     "Inbound mail by polling: `imap[s]://user:password@host[:port]/INBOX`. Empty: no polling."},
    {"KABINET_IMAP_POLL_S", CFG_INT, "30", 0, 1, 3600, OFF(imap_poll_s), "How often the IMAP folder is read."},
    {"KABINET_MAIL_WEBHOOK_SECRET", CFG_STR, "", 1, 0, 0, OFF(mail_webhook_secret),
     "Inbound mail from a mail service: the Basic auth password of `POST /mail/inbound` (Postmark's inbound JSON, "
     "or the raw message as message/rfc822). Empty: no webhook."},
    {"KABINET_MAIL_AUTHSERV_ID", CFG_STR, "", 0, 0, 0, OFF(mail_authserv_id),
     "The authserv-id of the receiving mail server whose `Authentication-Results` header kabinet trusts (RFC 8601; "
     "that server must remove headers carrying its id from what it receives). A message that is not a reply to ours "
     "acts for a signed-in customer only when that header says `dmarc=pass` (or `dkim=pass` aligned with the From "
     "domain). Empty: only replies carrying our reply token do."},
    {"KABINET_MAIL_CA_FILE", CFG_STR, "", 0, 0, 0, OFF(mail_ca_file),
     "CA bundle the SMTP and IMAP servers' certificates are checked against (empty: the system's)."},
    {"KABINET_MAIL_MAX_BYTES", CFG_INT, "10485760", 0, 65536, 52428800, OFF(mail_max_bytes),
     "The largest inbound message taken; larger ones are refused with a log line."},
    {"KABINET_NOTIFY", CFG_BOOL, "on", 0, 0, 1, OFF(notify),
     "Notifications: the scheduler that plans reminders, warnings and broadcasts and pushes them (sql/014_notify.sql; "
     "the retailer's rules are kb_setting notify.*). Off: no process of this configuration runs jobs."},
    {"KABINET_SCHED_TICK_MS", CFG_INT, "1000", 0, 50, 60000, OFF(sched_tick_ms),
     "How often the scheduler offers every job a step."},
    {"KABINET_FAKE_CLOCK", CFG_BOOL, "off", 0, 0, 1, OFF(fake_clock),
     "Tests: the scheduler's clock is kb_setting `test.clock` instead of the time. Refused in production."},
    {"KABINET_NOTIFY_LEAD_S", CFG_INT, "3", 0, 1, 60, OFF(notify_lead_s),
     "Pushes moved into the outbox ahead of sending, in seconds of each channel's rate (pausing takes effect "
     "within this; quiet hours are kept with this margin)."},
    {"KABINET_RETENTION_DAYS", CFG_INT, "90", 0, 7, 3650, OFF(retention_days),
     "Sent outbox rows and handled events older than this are deleted by the daily prune job."},
    {"KABINET_TELEGRAM_PAID_BROADCAST", CFG_BOOL, "off", 0, 0, 1, OFF(tg_paid_broadcast),
     "Lets a broadcast be made paid (`notify broadcast --paid`): sent with allow_paid_broadcast, at "
     "KABINET_TELEGRAM_PAID_RATE, for Telegram Stars the bot's balance pays."},
    {"KABINET_TELEGRAM_PAID_RATE", CFG_INT, "1000", 0, 1, 1000, OFF(tg_paid_rate),
     "Paid broadcast messages a second, all processes together (Telegram allows up to 1000)."},
    {"KABINET_SMS_PUSH_RATE", CFG_INT, "10", 0, 1, 1000, OFF(sms_push_rate),
     "Pushes by SMS sent per second by all processes together (codes and replies are not counted)."},
    {"KABINET_SMS_PUSH_CAP_KOPECKS", CFG_INT, "0", 0, 0, 2000000000, OFF(sms_push_cap),
     "What pushes by SMS may cost a day (Moscow time), all processes together; over it they wait for the next "
     "day. 0: no cap."},
    {"KABINET_SMS_PRICE_KOPECKS", CFG_INT, "400", 0, 0, 100000, OFF(sms_price),
     "The price of one SMS segment, for the cap."},
    {"KABINET_MAIL_PUSH_RATE", CFG_INT, "10", 0, 1, 1000, OFF(mail_push_rate),
     "Pushes by email moved into the outbox per second."},
    {"KABINET_STAFF_PER_MINUTE", CFG_INT, "20", 0, 1, 60, OFF(staff_per_minute),
     "Posts a minute to one staff group, all processes together (Telegram allows a group about 20)."},
};

#define NVARS (sizeof cfg_vars / sizeof cfg_vars[0])

/* ---------------------------------------------------------------- helpers */

/* Reads the whole of a small file (a secret) into a new string without its trailing newline. */
static char *read_small_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(65537);
    size_t n = buf ? fread(buf, 1, 65536, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = 0;
    return buf;
}

/* Splits host:port; the host must be an IP literal or "localhost" (names are not looked up on the loop). */
int cfg_parse_hostport(const char *s, char *host, size_t hostlen, int *port)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s)
        return KB_ERR_INVAL;
    size_t hl = (size_t)(colon - s);
    const char *h = s;
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl == 0 || hl >= hostlen)
        return KB_ERR_INVAL;
    memcpy(host, h, hl);
    host[hl] = 0;
    if (strcmp(host, "localhost") == 0)
        snprintf(host, hostlen, "127.0.0.1");
    unsigned char tmp[16];
    if (inet_pton(AF_INET, host, tmp) != 1 && inet_pton(AF_INET6, host, tmp) != 1)
        return KB_ERR_INVAL;
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || p < 1 || p > 65535)
        return KB_ERR_INVAL;
    *port = (int)p;
    return 0;
}

/* Parses one value into its slot; writes the expectation into err when it does not fit. */
static int set_value(cfg_t *cfg, const cfg_var_t *v, const char *val, char *err, size_t errlen)
{
    char *slot = (char *)cfg + v->offset;
    if (v->kind == CFG_STR) {
        if (!*val && !(v->def && !*v->def)) { /* "" is allowed where it is the default (optional) */
            snprintf(err, errlen, "%s is empty: expected a value (%s)", v->name, v->help);
            return KB_ERR_INVAL;
        }
        *(char **)slot = strdup(val);
        return *(char **)slot ? 0 : KB_ERR_NOMEM;
    }
    if (v->kind == CFG_BOOL) {
        if (!strcmp(val, "on") || !strcmp(val, "true") || !strcmp(val, "1") || !strcmp(val, "yes"))
            *(int *)slot = 1;
        else if (!strcmp(val, "off") || !strcmp(val, "false") || !strcmp(val, "0") || !strcmp(val, "no"))
            *(int *)slot = 0;
        else {
            snprintf(err, errlen, "%s must be on or off", v->name);
            return KB_ERR_INVAL;
        }
        return 0;
    }
    char *end;
    errno = 0;
    long n = strtol(val, &end, 10);
    if (errno || *end || end == val || n < v->min || n > v->max) {
        snprintf(err, errlen, "%s must be a whole number from %ld to %ld%s%s%s", v->name, v->min, v->max,
                 v->secret ? "" : ", not \"", v->secret ? "" : val, v->secret ? "" : "\"");
        return KB_ERR_INVAL;
    }
    *(int *)slot = (int)n;
    return 0;
}

/* ---------------------------------------------------------------- public */

/* Loads every variable (VAR, else VAR_FILE, else the default) and then checks the values that depend on parsing. */
static int load(cfg_t *cfg, char *err, size_t errlen);

int cfg_load(cfg_t *cfg, char *err, size_t errlen)
{
    int rc = load(cfg, err, errlen);
    if (rc) /* what was read before the error goes */
        cfg_free(cfg);
    return rc;
}

/* Reads and checks every variable (cfg_load, which frees what was read when this fails). */
static int load(cfg_t *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < NVARS; i++) {
        const cfg_var_t *v = &cfg_vars[i];
        const char *val = getenv(v->name);
        char *fromfile = NULL;
        if (!val) {
            char fname[96];
            snprintf(fname, sizeof fname, "%s_FILE", v->name);
            const char *path = getenv(fname);
            if (path) {
                fromfile = read_small_file(path);
                if (!fromfile) {
                    snprintf(err, errlen, "%s: cannot read the file %s: %s", fname, path, strerror(errno ? errno : EIO));
                    return KB_ERR_INVAL;
                }
                val = fromfile;
            }
        }
        if (!val)
            val = v->def;
        if (!val) {
            snprintf(err, errlen, "%s is not set: expected %s", v->name, v->help);
            return KB_ERR_INVAL;
        }
        int rc = set_value(cfg, v, val, err, errlen);
        free(fromfile);
        if (rc)
            return rc;
    }
    if (strcmp(cfg->env, "development") && strcmp(cfg->env, "production")) {
        snprintf(err, errlen, "KABINET_ENV must be development or production, not \"%s\"", cfg->env);
        return KB_ERR_INVAL;
    }
    cfg->production = !strcmp(cfg->env, "production");
    if (strcmp(cfg->start_dialog, "customer") && strcmp(cfg->start_dialog, "demo")) {
        snprintf(err, errlen, "KABINET_START_DIALOG must be customer or demo, not \"%s\"", cfg->start_dialog);
        return KB_ERR_INVAL;
    }
    if (cfg->production && (strlen(cfg->code_key) < 32 || !strcmp(cfg->code_key, CFG_DEV_CODE_KEY))) {
        snprintf(err, errlen, "KABINET_CODE_KEY must be your own key of 32 characters or more when KABINET_ENV is "
                              "production");
        return KB_ERR_INVAL;
    }
    if (cfg->production && cfg->fake_clock) {
        snprintf(err, errlen, "KABINET_FAKE_CLOCK must be off when KABINET_ENV is production");
        return KB_ERR_INVAL;
    }
    if (cfg->production && getenv("KABINET_KILL_AT")) {
        snprintf(err, errlen, "KABINET_KILL_AT (a crash-test hook) must not be set when KABINET_ENV is production");
        return KB_ERR_INVAL;
    }
    payprov_ipnet_t nets[32];
    if (payprov_ipset_parse(cfg->trusted_proxies, nets, 32) < 0) {
        snprintf(err, errlen, "KABINET_TRUSTED_PROXIES must be addresses or networks (a.b.c.d/n, x:y::/n), "
                              "comma-separated, 32 at most");
        return KB_ERR_INVAL;
    }
    if (cfg->public_url[0] && strncmp(cfg->public_url, "http://", 7) && strncmp(cfg->public_url, "https://", 8)) {
        snprintf(err, errlen, "KABINET_PUBLIC_URL must be an http:// or https:// URL");
        return KB_ERR_INVAL;
    }
    if (log_parse_level(cfg->log_level_name, &cfg->log_level)) {
        snprintf(err, errlen, "KABINET_LOG_LEVEL must be debug, info, warn or error, not \"%s\"", cfg->log_level_name);
        return KB_ERR_INVAL;
    }
    if (cfg_parse_hostport(cfg->http_listen, cfg->http_host, sizeof cfg->http_host, &cfg->http_port)) {
        snprintf(err, errlen, "KABINET_HTTP_LISTEN must be IP:PORT such as 127.0.0.1:8080 (port 1-65535), not \"%s\"",
                 cfg->http_listen);
        return KB_ERR_INVAL;
    }
    if (kv_url_check(cfg->redis_url) != 0) {
        snprintf(err, errlen, "KABINET_REDIS_URL must be redis://[:password@]host[:port][/db], "
                              "redis-cluster://[:password@]host:port[,host:port…] or "
                              "redis-sentinel://[:password@]host:port[,host:port…]/master[/db] (hosts as IP addresses)");
        return KB_ERR_INVAL;
    }
    return 0;
}

/* Frees the strings of cfg. */
void cfg_free(cfg_t *cfg)
{
    for (size_t i = 0; i < NVARS; i++)
        if (cfg_vars[i].kind == CFG_STR) {
            char **slot = (char **)((char *)cfg + cfg_vars[i].offset);
            free(*slot);
            *slot = NULL;
        }
}

/* Prints the Markdown table for README. */
void cfg_print_table(FILE *out)
{
    fprintf(out, "| variable | default | meaning |\n|---|---|---|\n");
    for (size_t i = 0; i < NVARS; i++) {
        const cfg_var_t *v = &cfg_vars[i];
        int none = v->def && !*v->def;
        fprintf(out, "| `%s` | %s%s%s | %s%s |\n", v->name, none ? "(none)" : v->def ? "`" : "**required**",
                v->def ? v->def : "", v->def && !none ? "`" : "", v->help, v->secret ? " Secret: never logged." : "");
    }
}
