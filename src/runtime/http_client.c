/* http_client.c — libcurl multi on libuv (see http_client.h): socket and timer callbacks, transfer bookkeeping;
 * HTTP, and the mail protocols (SMTP uploads, IMAP commands) on the same loop. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>
#include "err.h"
#include "http_client.h"
#include "log.h"
#include "metrics.h"

#define HTTP_MAX_RESPONSE (16 * 1024 * 1024)

struct http_client_s {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    int default_timeout_ms, closing;
    size_t pending;
    struct http_xfer_s *xfers;     /* transfers in flight, for http_client_close */
    metrics_series_t *m_requests, *m_errors, *m_latency;
};

typedef struct {
    uv_poll_t poll;
    curl_socket_t fd;
    http_client_t *hc;
} http_sock_t;

typedef struct http_xfer_s {
    struct http_xfer_s *prev, *next;
    http_client_t *hc;
    CURL *easy;
    struct curl_slist *headers;
    char *body;                    /* request body copy */
    size_t body_len, body_at;      /* an SMTP upload reads body from body_at */
    struct curl_slist *rcpt;
    char *resp, *resp_headers;
    size_t resp_len, resp_cap, resph_len, resph_cap, max_response;
    int too_big, mail;
    http_cb cb;
    void *data;
} http_xfer_t;

/* ---------------------------------------------------------------- buffers */

/* Appends to a growing buffer, keeping it NUL-terminated. Returns 0, or -1 past max bytes. */
static int buf_append(char **buf, size_t *len, size_t *cap, const char *p, size_t n, size_t max)
{
    if (*len + n + 1 > max)
        return -1;
    if (*len + n + 1 > *cap) {
        size_t nc = *cap ? *cap * 2 : 1024;
        while (nc < *len + n + 1)
            nc *= 2;
        char *nb = realloc(*buf, nc);
        if (!nb)
            return -1;
        *buf = nb;
        *cap = nc;
    }
    memcpy(*buf + *len, p, n);
    *len += n;
    (*buf)[*len] = 0;
    return 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    http_xfer_t *x = ud;
    if (buf_append(&x->resp, &x->resp_len, &x->resp_cap, p, size * n, x->max_response)) {
        x->too_big = 1;
        return 0;
    }
    return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    http_xfer_t *x = ud;
    return buf_append(&x->resp_headers, &x->resph_len, &x->resph_cap, p, size * n, HTTP_MAX_RESPONSE) ? 0 : size * n;
}

/* An SMTP upload: the message, piece by piece. */
static size_t on_read(char *p, size_t size, size_t n, void *ud)
{
    http_xfer_t *x = ud;
    size_t left = x->body_len - x->body_at, take = size * n < left ? size * n : left;
    memcpy(p, x->body + x->body_at, take);
    x->body_at += take;
    return take;
}

/* ---------------------------------------------------------------- completion */

static int map_curl_error(CURLcode rc)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT: return KB_ERR_TIMEOUT;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return KB_ERR_NOTCONN;
    case CURLE_WRITE_ERROR:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING: return KB_ERR_PROTO;
    default: return KB_ERR_CONNRESET;
    }
}

/* Frees a transfer after its callback. */
static void xfer_free(http_xfer_t *x)
{
    curl_slist_free_all(x->headers);
    curl_slist_free_all(x->rcpt);
    free(x->body);
    free(x->resp);
    free(x->resp_headers);
    free(x);
}

/* Runs the callback of a finished transfer and frees it. */
static void xfer_done(http_xfer_t *x, int err)
{
    http_client_t *hc = x->hc;
    http_response_t res = {0};
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &res.status);
    if (x->too_big)
        err = KB_ERR_TOOBIG;
    else if (err && x->mail && (res.status >= 500 || x->mail == 2)) /* a 5xx reply, or a failed login */
        err = KB_ERR_REFUSED;
    curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME, &res.seconds);
    res.body = x->resp ? x->resp : "";
    res.body_len = x->resp_len;
    res.headers = x->resp_headers ? x->resp_headers : "";
    res.headers_len = x->resph_len;
    curl_multi_remove_handle(hc->multi, x->easy);
    curl_easy_cleanup(x->easy);
    x->easy = NULL;
    hc->pending--;
    if (x->prev)
        x->prev->next = x->next;
    else
        hc->xfers = x->next;
    if (x->next)
        x->next->prev = x->prev;
    metrics_inc(hc->m_requests);
    if (err)
        metrics_inc(hc->m_errors);
    else
        metrics_observe(hc->m_latency, res.seconds);
    x->cb(err, err ? NULL : &res, x->data);
    xfer_free(x);
}

/* Reads every finished transfer (after each curl_multi_socket_action). */
static void check_done(http_client_t *hc)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(hc->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        http_xfer_t *x;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        CURLcode rc = msg->data.result;
        if (x->mail && rc == CURLE_LOGIN_DENIED)
            x->mail = 2;
        xfer_done(x, rc == CURLE_OK ? 0 : map_curl_error(rc));
    }
}

/* ---------------------------------------------------------------- loop glue */

static void on_poll(uv_poll_t *h, int status, int events)
{
    http_sock_t *s = h->data;
    http_client_t *hc = s->hc;
    int flags = 0, running;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(hc->multi, s->fd, flags, &running);
    check_done(hc);
}

static void on_timer(uv_timer_t *t)
{
    http_client_t *hc = t->data;
    int running;
    curl_multi_socket_action(hc->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(hc);
}

/* libcurl asks for a timer; 0 ms becomes 1 ms, because a 0 ms timer restarted from its own callback starves I/O
 * in libuv 1.44. */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *ud)
{
    http_client_t *hc = ud;
    if (timeout_ms < 0)
        uv_timer_stop(&hc->timer);
    else
        uv_timer_start(&hc->timer, on_timer, timeout_ms > 0 ? (uint64_t)timeout_ms : 1, 0);
    return 0;
}

static void on_sock_closed(uv_handle_t *h) { free(h->data); }

/* libcurl tells which events a socket needs; CURL_POLL_REMOVE comes before it closes the socket, and the poll is
 * stopped right here so that it never watches a closed descriptor. */
static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *ud, void *sockp)
{
    http_client_t *hc = ud;
    http_sock_t *s = sockp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            uv_poll_stop(&s->poll);
            uv_close((uv_handle_t *)&s->poll, on_sock_closed);
            curl_multi_assign(hc->multi, fd, NULL);
        }
        return 0;
    }
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s || uv_poll_init_socket(hc->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->fd = fd;
        s->hc = hc;
        s->poll.data = s;
        curl_multi_assign(hc->multi, fd, s);
    }
    int ev = (what & CURL_POLL_IN ? UV_READABLE : 0) | (what & CURL_POLL_OUT ? UV_WRITABLE : 0);
    uv_poll_start(&s->poll, ev, on_poll);
    return 0;
}

/* ---------------------------------------------------------------- public */

int http_client_new(uv_loop_t *loop, int max_host_conns, int default_timeout_ms, http_client_t **out)
{
    static int global_done;
    if (!global_done) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        global_done = 1;
    }
    http_client_t *hc = calloc(1, sizeof *hc);
    if (!hc)
        return KB_ERR_NOMEM;
    hc->multi = curl_multi_init();
    if (!hc->multi) {
        free(hc);
        return KB_ERR_NOMEM;
    }
    hc->loop = loop;
    hc->default_timeout_ms = default_timeout_ms;
    uv_timer_init(loop, &hc->timer);
    hc->timer.data = hc;
    curl_multi_setopt(hc->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(hc->multi, CURLMOPT_SOCKETDATA, hc);
    curl_multi_setopt(hc->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(hc->multi, CURLMOPT_TIMERDATA, hc);
    curl_multi_setopt(hc->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)max_host_conns);
    curl_multi_setopt(hc->multi, CURLMOPT_MAXCONNECTS, (long)max_host_conns * 4);
    hc->m_requests = metrics_counter("kb_http_out_requests_total", "Outbound HTTP requests finished", "");
    hc->m_errors = metrics_counter("kb_http_out_errors_total", "Outbound HTTP requests without an answer", "");
    hc->m_latency = metrics_histogram("kb_http_out_latency_seconds", "Outbound HTTP request time", "");
    *out = hc;
    return 0;
}

int http_request(http_client_t *hc, const http_request_t *req, http_cb cb, void *data)
{
    if (hc->closing)
        return KB_ERR_CANCELED;
    http_xfer_t *x = calloc(1, sizeof *x);
    if (!x)
        return KB_ERR_NOMEM;
    x->hc = hc;
    x->cb = cb;
    x->data = data;
    x->easy = curl_easy_init();
    if (!x->easy) {
        free(x);
        return KB_ERR_NOMEM;
    }
    CURL *e = x->easy;
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(req->timeout_ms > 0 ? req->timeout_ms : hc->default_timeout_ms));
    x->max_response = req->max_response ? req->max_response + 1 : HTTP_MAX_RESPONSE;
    x->mail = !strncmp(req->url, "smtp", 4) || !strncmp(req->url, "imap", 4);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, x->mail ? "smtp,smtps,imap,imaps" : "http,https");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "kabinetd/0.1");
    if (req->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, req->ca_file);
    if (x->mail)
        curl_easy_setopt(e, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
    if (!strncmp(req->url, "imap", 4)) { /* libcurl skips the SELECT on a reused connection: UIDVALIDITY would be
                                          * stale, so each IMAP transfer logs in afresh */
        curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    }
    if (req->body) { /* the body is copied: the caller's may go once this returns */
        x->body = malloc(req->body_len ? req->body_len : 1);
        if (!x->body) {
            curl_easy_cleanup(e);
            xfer_free(x);
            return KB_ERR_NOMEM;
        }
        memcpy(x->body, req->body, req->body_len);
        x->body_len = req->body_len;
    }
    if (x->mail && req->mail_from) { /* SMTP: envelope, then the message as an upload */
        curl_easy_setopt(e, CURLOPT_MAIL_FROM, req->mail_from);
        for (const char *const *r = req->mail_rcpt; r && *r; r++)
            x->rcpt = curl_slist_append(x->rcpt, *r);
        curl_easy_setopt(e, CURLOPT_MAIL_RCPT, x->rcpt);
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(e, CURLOPT_READDATA, x);
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->body_len);
        static const http_request_t no_http; /* no HTTP body, headers or method below */
        req = &no_http;
    }
    for (const char *const *h = req->headers; h && *h; h++)
        x->headers = curl_slist_append(x->headers, *h);
    if (req->body) {
        int has_expect = 0;
        for (const char *const *h = req->headers; h && *h; h++)
            has_expect |= strncasecmp(*h, "Expect:", 7) == 0;
        if (!has_expect) /* no 100-continue round trip unless the caller asks for one */
            x->headers = curl_slist_append(x->headers, "Expect:");
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    }
    if (req->method)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
    if (x->headers)
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
    if (curl_multi_add_handle(hc->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        xfer_free(x);
        return KB_ERR_NOMEM;
    }
    hc->pending++;
    x->next = hc->xfers;
    if (hc->xfers)
        hc->xfers->prev = x;
    hc->xfers = x;
    return 0;
}

size_t http_client_pending(const http_client_t *hc) { return hc->pending; }

int http_cancel(http_client_t *hc, const void *data)
{
    int n = 0;
    for (http_xfer_t *x = hc->xfers; x;) {
        if (x->data != data) {
            x = x->next;
            continue;
        }
        xfer_done(x, KB_ERR_CANCELED); /* its callback may change the list: start over */
        n++;
        x = hc->xfers;
    }
    return n;
}

static void on_timer_closed(uv_handle_t *h) { free(h->data); }

void http_client_close(http_client_t *hc)
{
    hc->closing = 1;
    while (hc->xfers)
        xfer_done(hc->xfers, KB_ERR_CANCELED);
    curl_multi_cleanup(hc->multi);
    uv_close((uv_handle_t *)&hc->timer, on_timer_closed);
}

int http_header_get(const char *headers, size_t len, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    const char *p = headers, *end = headers + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        if ((size_t)(eol - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
            const char *v = p + nl + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            const char *ve = eol;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
                ve--;
            size_t n = (size_t)(ve - v);
            if (n >= outlen)
                n = outlen - 1;
            memcpy(out, v, n);
            out[n] = 0;
            return 0;
        }
        p = eol + 1;
    }
    return KB_ERR_INVAL;
}
