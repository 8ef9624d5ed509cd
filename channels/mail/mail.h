/* mail.h — the email channel: replies, codes, bills and checks out by SMTP; customers' mail in by IMAP polling or by
 * a mail service's webhook, as events.
 *
 * Out (the sender of channel "mail", conversation "mail:<address>"): a reply rendered for email — its text, the
 * offered buttons as numbered choices to answer with, the keyword commands at the foot — a document as a PDF
 * attachment, a sign-in code with a one-click confirmation link (<public_url>/mail/confirm), UTF-8 subjects and
 * names as RFC 2047 words, a Message-ID of ours that carries the conversation's reply token
 * (kb.<outbox id>.<token>@<domain>), Reply-To reply+<token>@<domain>, In-Reply-To the customer's latest message,
 * Auto-Submitted, and for bills and pushes List-Unsubscribe with one-click (<public_url>/mail/unsubscribe).
 * A 5xx from the server or a failed login is final; anything else is tried again.
 *
 * In (mail_in.c): a message becomes an event of the conversation its reply+ token, else its In-Reply-To, else its
 * References name, otherwise "mail:<sender>"; a keyword command (БАЛАНС, ПОКАЗАНИЯ 12345, ОПЛАТА, СЧЕТ…) in the
 * subject or the first line becomes the dialog's command, a digit the numbered choice, anything else text with the
 * quoted history and signature cut off. Machines' mail (auto-replies, bulk, lists, bounces) and our own are never
 * answered. Each Message-ID is taken once, for good. IMAP: one process at a time polls (a lease in Postgres), from
 * a marker per folder that moves only after a message was durably accepted; a UIDVALIDITY change reads the folder
 * again, the Message-IDs already taken skipped. Messages over max_bytes, without a From or with broken MIME are
 * refused with a log line and change nothing. */
#ifndef KB_MAIL_H
#define KB_MAIL_H

#include "db.h"
#include "engine.h"
#include "http_client.h"
#include "httpd.h"
#include "outbox.h"
#include "channel.h"

typedef struct mail_s mail_t;

typedef struct {
    const char *smtp_url;          /* smtp[s]://[user:password@]host[:port] ("": no sending) */
    const char *from;              /* "Name <address>": our address (its domain names our Message-IDs and Reply-To) */
    const char *imap_url;          /* imap[s]://user:password@host[:port]/INBOX ("": no polling) */
    int imap_poll_s;
    const char *webhook_secret;    /* the password of the webhook's Basic auth ("": no webhook) */
    const char *public_url;        /* where links point */
    const char *token_key;         /* the key reply tokens are an HMAC under */
    const char *ca_file;           /* CA bundle for the mail servers' certificates ("" = the system's) */
    size_t max_bytes;              /* the largest message taken in */
    const char *authserv_id;       /* the receiving server whose Authentication-Results count ("" or NULL: none) */
} mail_options_t;

/* Makes the channel: its sender (when smtp_url is set), the IMAP poller (imap_url), the webhook route POST
 * /mail/inbound (webhook_secret), and the link pages /mail/confirm and /mail/unsubscribe. Strings are copied. */
int mail_new(uv_loop_t *loop, httpd_t *h, http_client_t *http, db_t *db, engine_t *e, const mail_options_t *o,
             mail_t **out);
/* Starts the sender and the poller. */
int mail_start(mail_t *m);
/* The sender, or NULL without SMTP (kicked after commits that wrote "mail" rows). */
outbox_t *mail_outbox(mail_t *m);
/* Stops the sender and the poller; frees everything once the work in flight has ended. */
void mail_close(mail_t *m);

/* Email as the server sees it (channel.h): lane "mail" (when SMTP is set), IMAP and a webhook in. */
extern const channel_def_t channel_mail;

#endif
