/* config.h — kabinetd's settings, read from KABINET_* environment variables.
 *
 * One table (config.c) names every variable with its type, default, whether it is required or secret, and what it
 * means; validation, `kabinetd config` (which prints the table for README) and start-up errors all come from it.
 * Every variable may instead be given as VAR_FILE=path (as container secrets are), read once at start. */
#ifndef KB_CONFIG_H
#define KB_CONFIG_H

#include <stddef.h>
#include <stdio.h>
#include "log.h"

typedef struct cfg_s {
    char *env;                    /* KABINET_ENV: development | production */
    int production;
    char *database_url;           /* KABINET_DATABASE_URL */
    int database_pool;            /* KABINET_DATABASE_POOL */
    char *database_replica_url;   /* KABINET_DATABASE_REPLICA_URL */
    int database_replica_pool;    /* KABINET_DATABASE_REPLICA_POOL */
    int database_prepared;        /* KABINET_DATABASE_PREPARED */
    int database_pipeline;        /* KABINET_DATABASE_PIPELINE */
    int database_timeout_ms;      /* KABINET_DATABASE_TIMEOUT_MS */
    char *redis_url;              /* KABINET_REDIS_URL */
    int redis_timeout_ms;         /* KABINET_REDIS_TIMEOUT_MS */
    int redis_wait_replicas;      /* KABINET_REDIS_WAIT_REPLICAS */
    int redis_wait_ms;            /* KABINET_REDIS_WAIT_MS */
    char *http_listen;            /* KABINET_HTTP_LISTEN, split into the two below */
    char http_host[64];
    int http_port;
    int http_max_body;            /* KABINET_HTTP_MAX_BODY */
    int http_out_timeout_ms;      /* KABINET_HTTP_OUT_TIMEOUT_MS */
    int http_out_max_host_conns;  /* KABINET_HTTP_OUT_MAX_HOST_CONNECTIONS */
    int shutdown_timeout_ms;      /* KABINET_SHUTDOWN_TIMEOUT_MS */
    int engine_concurrency;       /* KABINET_ENGINE_CONCURRENCY */
    int lease_ms;                 /* KABINET_LEASE_MS */
    int state_ttl_s;              /* KABINET_STATE_TTL_S */
    int step_ttl_s;               /* KABINET_STEP_TTL_S */
    int dedupe_ids;               /* KABINET_DEDUPE_IDS */
    int dedupe_ttl_s;             /* KABINET_DEDUPE_TTL_S */
    int limit_per_minute;         /* KABINET_LIMIT_PER_MINUTE */
    int limit_per_day;            /* KABINET_LIMIT_PER_DAY */
    int local_channel;            /* KABINET_LOCAL_CHANNEL */
    char *code_key;               /* KABINET_CODE_KEY (secret) */
    char *start_dialog;           /* KABINET_START_DIALOG: customer | demo */
    char *public_url;             /* KABINET_PUBLIC_URL ("" = http://KABINET_HTTP_LISTEN) */
    char *pay_provider;           /* KABINET_PAY_PROVIDER: fake | yookassa | sber | none */
    int pay_poll_s;               /* KABINET_PAY_POLL_S */
    int pay_expire_s;             /* KABINET_PAY_EXPIRE_S */
    char *yk_url;                 /* KABINET_YOOKASSA_URL */
    char *yk_shop_id;             /* KABINET_YOOKASSA_SHOP_ID */
    char *yk_secret_key;          /* KABINET_YOOKASSA_SECRET_KEY (secret) */
    char *yk_webhook_ips;         /* KABINET_YOOKASSA_WEBHOOK_IPS */
    int yk_vat_code;              /* KABINET_YOOKASSA_VAT_CODE */
    char *sber_url;               /* KABINET_SBER_URL */
    char *sber_username;          /* KABINET_SBER_USERNAME */
    char *sber_password;          /* KABINET_SBER_PASSWORD (secret) */
    char *sber_callback_key;      /* KABINET_SBER_CALLBACK_KEY (secret) */
    char *sms_provider;           /* KABINET_SMS_PROVIDER: log | smsc | smsru */
    char *smsc_url;               /* KABINET_SMSC_URL */
    char *smsc_login;             /* KABINET_SMSC_LOGIN */
    char *smsc_password;          /* KABINET_SMSC_PASSWORD (secret) */
    char *smsc_secret;            /* KABINET_SMSC_SECRET (secret) */
    char *smsc_sender;            /* KABINET_SMSC_SENDER */
    char *smsru_url;              /* KABINET_SMSRU_URL */
    char *smsru_api_id;           /* KABINET_SMSRU_API_ID (secret) */
    char *smsru_token;            /* KABINET_SMSRU_TOKEN (secret) */
    char *tg_token;               /* KABINET_TELEGRAM_TOKEN (secret; "" = no Telegram) */
    char *tg_api_url;             /* KABINET_TELEGRAM_API_URL */
    char *tg_mode;                /* KABINET_TELEGRAM_MODE: polling | webhook */
    char *tg_webhook_url;         /* KABINET_TELEGRAM_WEBHOOK_URL */
    char *tg_secret;              /* KABINET_TELEGRAM_SECRET (secret) */
    int tg_poll_timeout_s;        /* KABINET_TELEGRAM_POLL_TIMEOUT_S */
    int tg_max_connections;       /* KABINET_TELEGRAM_MAX_CONNECTIONS */
    int tg_max_inflight;          /* KABINET_TELEGRAM_MAX_INFLIGHT */
    int tg_broadcast_rate;        /* KABINET_TELEGRAM_BROADCAST_RATE */
    int tg_chat_limit;            /* KABINET_TELEGRAM_CHAT_LIMIT */
    char *staff_chat_id;          /* KABINET_STAFF_CHAT_ID ("" = no staff group) */
    long long staff_chat;         /* … parsed */
    char *staff_branches;         /* KABINET_STAFF_BRANCHES */
    int staff_per_minute;         /* KABINET_STAFF_PER_MINUTE */
    char *smtp_url;               /* KABINET_SMTP_URL (secret; "" = no email out) */
    char *mail_from;              /* KABINET_MAIL_FROM */
    char *imap_url;               /* KABINET_IMAP_URL (secret; "" = no IMAP polling) */
    int imap_poll_s;              /* KABINET_IMAP_POLL_S */
    char *mail_webhook_secret;    /* KABINET_MAIL_WEBHOOK_SECRET (secret; "" = no inbound webhook) */
    char *mail_ca_file;           /* KABINET_MAIL_CA_FILE */
    char *trusted_proxies;        /* KABINET_TRUSTED_PROXIES ("" = none: the TCP peer is the client) */
    char *mail_authserv_id;       /* KABINET_MAIL_AUTHSERV_ID ("" = no Authentication-Results header trusted) */
    int mail_max_bytes;           /* KABINET_MAIL_MAX_BYTES */
    int notify;                   /* KABINET_NOTIFY */
    int sched_tick_ms;            /* KABINET_SCHED_TICK_MS */
    int fake_clock;               /* KABINET_FAKE_CLOCK */
    int notify_lead_s;            /* KABINET_NOTIFY_LEAD_S */
    int retention_days;           /* KABINET_RETENTION_DAYS */
    int tg_paid_broadcast;        /* KABINET_TELEGRAM_PAID_BROADCAST */
    int tg_paid_rate;             /* KABINET_TELEGRAM_PAID_RATE */
    int sms_push_rate;            /* KABINET_SMS_PUSH_RATE */
    int sms_push_cap;             /* KABINET_SMS_PUSH_CAP_KOPECKS */
    int sms_price;                /* KABINET_SMS_PRICE_KOPECKS */
    int mail_push_rate;           /* KABINET_MAIL_PUSH_RATE */
    char *log_level_name;         /* KABINET_LOG_LEVEL */
    log_level_t log_level;
} cfg_t;

/* Reads and validates every variable from the environment into cfg. On error returns KB_ERR_INVAL and writes one
 * line naming the variable and what is expected into err (never the value of a secret). cfg_free releases cfg
 * either way. */
int cfg_load(cfg_t *cfg, char *err, size_t errlen);
/* Releases what cfg_load allocated. */
void cfg_free(cfg_t *cfg);
/* Writes the table of variables as Markdown (the one README shows). */
void cfg_print_table(FILE *out);

/* Splits "host:port" (IPv4, [IPv6] or localhost) into its parts; returns 0 or KB_ERR_INVAL. */
int cfg_parse_hostport(const char *s, char *host, size_t hostlen, int *port);

#endif
