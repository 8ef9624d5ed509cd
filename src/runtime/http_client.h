/* http_client.h — outbound HTTP: libcurl multi driven by the loop (a uv_poll per socket, one uv_timer).
 *
 * Lifecycle: http_client_new → http_request… → http_client_close. Connections are reused across requests and
 * capped per host (CURLMOPT_MAX_HOST_CONNECTIONS; libcurl queues the rest), because libcurl multi slows to a crawl
 * with about a thousand connections to one host. Every request has its own timeout. The callback runs exactly once
 * for every request accepted (return 0), on the loop, never from inside http_request. */
#ifndef KB_HTTP_CLIENT_H
#define KB_HTTP_CLIENT_H

#include <stddef.h>
#include <uv.h>

typedef struct http_client_s http_client_t;

typedef struct {
    const char *method;            /* NULL: GET, or POST when body is set */
    const char *url;
    const char *const *headers;    /* NULL-terminated "Name: value" lines, or NULL */
    const char *body;              /* copied */
    size_t body_len;
    int timeout_ms;                /* 0: the client's default */
    /* mail URLs (smtp://, smtps://, imap://, imaps://; TLS by STARTTLS when the server offers it; an IMAP transfer
     * has a connection of its own, so that its SELECT shows the folder's UIDVALIDITY as it is now): */
    const char *mail_from;         /* SMTP: the envelope sender; body is the message, uploaded */
    const char *const *mail_rcpt;  /* SMTP: NULL-terminated envelope recipients */
    const char *ca_file;           /* a CA bundle to verify the server by (NULL: the system's) */
    size_t max_response;           /* a larger answer ends the transfer with KB_ERR_TOOBIG (0: 16 MiB) */
} http_request_t;

typedef struct {
    long status;                   /* HTTP status; 4xx and 5xx are answers, not errors */
    const char *headers;           /* raw response header block */
    size_t headers_len;
    const char *body;              /* NUL-terminated for convenience */
    size_t body_len;
    double seconds;                /* total time */
} http_response_t;

/* err: 0 with a response, KB_ERR_TIMEOUT, KB_ERR_NOTCONN (could not connect), KB_ERR_CONNRESET (broke mid-way),
 * KB_ERR_PROTO (malformed answer), KB_ERR_TOOBIG (past max_response), KB_ERR_REFUSED (a mail server refused for
 * good: a 5xx reply, failed login), KB_ERR_CANCELED (client closed). res is valid during the call. */
typedef void (*http_cb)(int err, const http_response_t *res, void *data);

/* Makes a client. Returns 0 or a negative error. */
int http_client_new(uv_loop_t *loop, int max_host_conns, int default_timeout_ms, http_client_t **out);
/* Starts a request; the request's strings are copied. Returns 0 or a negative error (then no callback). */
int http_request(http_client_t *hc, const http_request_t *req, http_cb cb, void *data);
/* Requests in flight. */
size_t http_client_pending(const http_client_t *hc);
/* Cancels the requests in flight that were started with this callback data (their callbacks get KB_ERR_CANCELED,
 * now): how a long poll ends at shutdown. Returns how many. */
int http_cancel(http_client_t *hc, const void *data);
/* Cancels what is in flight (callbacks get KB_ERR_CANCELED) and frees the client once its handles closed. */
void http_client_close(http_client_t *hc);

/* Finds a header of a raw header block (case-insensitive), copying its value into out. Returns 0 or KB_ERR_INVAL. */
int http_header_get(const char *headers, size_t len, const char *name, char *out, size_t outlen);

#endif
