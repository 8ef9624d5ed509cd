/* smsprov.h — the SMS gateway interface: send one text to one number, and read the gateway's callbacks (delivery
 * statuses, a customer's incoming SMS), authenticated the gateway's way. Three gateways behind it: SMSC.ru
 * (send.php; statuses and incoming messages POSTed to one URL, each with an md5 signature made with the shared
 * secret), SMS.ru (sms/send; statuses as data[N] lines, answered "100", the callback URL carrying a secret token)
 * and the log-only gateway for local use (writes the text to the log; production refuses it). The SMS channel
 * (sms.h) drives them; gateways do no database work.
 *
 * Sending answers once through smsprov_cb on the loop (or, for the log gateway, from inside the call): err 0 with
 * the gateway's message id, KB_ERR_AGAIN when the gateway could not take it now (connection, timeout, 5xx, a
 * "too many requests" or "no money" error: try again later), KB_ERR_INVAL when it refused the message for good (a
 * bad number, a forbidden text): never retried. */
#ifndef KB_SMSPROV_H
#define KB_SMSPROV_H

#include "http_client.h"
#include "httpd.h"

typedef struct smsprov_s smsprov_t;

typedef void (*smsprov_cb)(int err, const char *msg_id, void *data);

/* One thing a callback told: a delivery status, or an incoming message. */
typedef struct {
    enum { SMSPROV_STATUS = 1, SMSPROV_MESSAGE } kind;
    char msg_id[64];               /* STATUS: the gateway's id of our message; MESSAGE: of theirs */
    char status[16];               /* STATUS: "sent", "delivered" or "failed" */
    char from[24];                 /* MESSAGE: the sender, as +7 and 10 digits */
    char text[1024];               /* MESSAGE: the text, UTF-8 */
} smsprov_in_t;

typedef struct {
    const char *name;              /* "smsc", "smsru", "log" */
    /* to: +7 and 10 digits; ref: our id of the message (the gateway may echo it) */
    int (*send)(smsprov_t *p, const char *to, const char *text, const char *ref, smsprov_cb cb, void *data);
    /* Reads a callback request into items (at most max): 0 with *n set and the body to answer with in answer, or
     * the HTTP status to refuse it with (401/403 bad signature or token, 400 malformed). */
    int (*callback)(smsprov_t *p, httpd_req_t *r, smsprov_in_t *items, int max, int *n, char *answer, size_t size);
    const char *callback_path;     /* where callbacks come ("/sms/smsc/callback"; a prefix route when it ends in *) */
    void (*free)(smsprov_t *p);
} smsprov_ops_t;

struct smsprov_s {
    const smsprov_ops_t *ops;
};

typedef struct {
    const char *base_url, *login, *password, *secret, *sender;
} smsprov_smsc_options_t;

typedef struct {
    const char *base_url, *api_id, *token;
} smsprov_smsru_options_t;

/* Make a gateway. 0, KB_ERR_NOMEM or KB_ERR_INVAL (a setting too long). */
int smsprov_smsc_new(http_client_t *hc, const smsprov_smsc_options_t *opt, smsprov_t **out);
int smsprov_smsru_new(http_client_t *hc, const smsprov_smsru_options_t *opt, smsprov_t **out);
int smsprov_log_new(smsprov_t **out);

/* SMSC.ru's callback signature: lower-case hex md5 of the fields joined with ':' and the secret last. */
void smsprov_smsc_sign(const char *const *fields, int n, const char *secret, char out[33]);

#endif
