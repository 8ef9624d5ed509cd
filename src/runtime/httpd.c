/* httpd.c — the h2o server glue (see httpd.h): accepting, routing, request contexts that survive the client. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <h2o.h>
#include "err.h"
#include "httpd.h"
#include "log.h"
#include "metrics.h"

#define HTTPD_MAX_ROUTES 64
#define HTTPD_MAX_HEADERS 8

typedef struct {
    char method[8];
    char *path;
    size_t plen;
    int prefix;
    httpd_handler fn;
    void *data;
} httpd_route_t;

struct httpd_s {
    uv_loop_t *loop;
    char host[64];
    int port, listening;
    uv_tcp_t listener;
    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    httpd_route_t routes[HTTPD_MAX_ROUTES];
    int nroutes;
    size_t inflight;
    size_t conns;              /* connections open */
    metrics_series_t *m_latency, *m_status[6];
};

/* The context of one request. Two owners hold it: h2o's request (through a guard in the request pool, dropped when
 * the pool is cleared — also when the client goes away early) and the handler (until httpd_respond). It is freed
 * when both have let go. */
struct httpd_req_s {
    httpd_t *h;
    h2o_req_t *req;            /* NULL once h2o's request is gone */
    int refs;
    double started;
    char method[16], peer[64];    /* peer: the client's IP address as text */
    char *path, *query, *body;
    size_t body_len;
    int nheaders;
    char *hname[HTTPD_MAX_HEADERS], *hvalue[HTTPD_MAX_HEADERS];
    int detached, status;       /* a detached request: its request headers below, its answer's status recorded */
    char **in_headers;
};

typedef struct {
    h2o_handler_t super;
    httpd_t *h;
} httpd_h2o_handler_t;

/* ---------------------------------------------------------------- request contexts */

static void req_unref(httpd_req_t *r)
{
    if (--r->refs > 0)
        return;
    free(r->path);
    free(r->query);
    free(r->body);
    for (int i = 0; i < r->nheaders; i++) {
        free(r->hname[i]);
        free(r->hvalue[i]);
    }
    for (char **h = r->in_headers; h && *h; h++)
        free(*h);
    free(r->in_headers);
    free(r);
}

/* The request pool is being cleared: h2o's request is gone. */
static void guard_dispose(void *p)
{
    httpd_req_t *r = *(httpd_req_t **)p;
    r->req = NULL;
    req_unref(r);
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
    }
}

/* ---------------------------------------------------------------- routing */

/* Looks the request up in the route table and calls the handler, or answers 404/405. */
static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    httpd_t *h = ((httpd_h2o_handler_t *)self)->h;
    httpd_req_t *r = calloc(1, sizeof *r);
    if (!r)
        return -1;
    r->h = h;
    r->req = req;
    r->refs = 2;
    r->started = metrics_now();
    size_t plen = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    r->path = strndup(req->path.base, plen);
    r->query = req->query_at != SIZE_MAX ? strndup(req->path.base + req->query_at + 1, req->path.len - req->query_at - 1)
                                         : strdup("");
    snprintf(r->method, sizeof r->method, "%.*s", (int)req->method.len, req->method.base);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (req->conn->callbacks->get_peername && req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss)) {
        if (ss.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, r->peer, sizeof r->peer);
        else if (ss.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, r->peer, sizeof r->peer);
    }
    if (req->entity.base) {
        r->body = malloc(req->entity.len + 1);
        if (r->body) {
            memcpy(r->body, req->entity.base, req->entity.len);
            r->body[req->entity.len] = 0;
            r->body_len = req->entity.len;
        }
    }
    httpd_req_t **guard = h2o_mem_alloc_shared(&req->pool, sizeof *guard, guard_dispose);
    *guard = r;
    h->inflight++;
    if (!r->path || !r->query || (req->entity.base && !r->body)) {
        httpd_respond(r, 500, "text/plain", "out of memory\n", 14);
        return 0;
    }
    int path_known = 0;
    char allow[64] = "";
    for (int i = 0; i < h->nroutes; i++) {
        httpd_route_t *rt = &h->routes[i];
        int match = rt->prefix ? strncmp(r->path, rt->path, rt->plen) == 0 : strcmp(r->path, rt->path) == 0;
        if (!match)
            continue;
        path_known = 1;
        if (strcmp(rt->method, r->method) == 0 || (!strcmp(r->method, "HEAD") && !strcmp(rt->method, "GET"))) {
            rt->fn(r, rt->data);
            return 0;
        }
        if (strlen(allow) + strlen(rt->method) + 3 < sizeof allow)
            snprintf(allow + strlen(allow), sizeof allow - strlen(allow), "%s%s", allow[0] ? ", " : "", rt->method);
    }
    if (path_known) {
        httpd_set_header(r, "Allow", allow);
        httpd_respond(r, 405, "text/plain", "method not allowed\n", 19);
    } else {
        httpd_respond(r, 404, "text/plain", "not found\n", 10);
    }
    return 0;
}

/* ---------------------------------------------------------------- accepting */

/* A client connection: the libuv handle first (h2o hands it back to the close callback), then its server. */
typedef struct {
    uv_tcp_t tcp;
    httpd_t *srv;
} httpd_conn_t;

static void on_conn_closed(uv_handle_t *h)
{
    httpd_conn_t *c = (httpd_conn_t *)h;
    c->srv->conns--;
    free(c);
}

static void on_accept(uv_stream_t *listener, int status)
{
    httpd_t *h = listener->data;
    if (status != 0)
        return;
    httpd_conn_t *c = malloc(sizeof *c);
    if (!c)
        return;
    uv_tcp_t *conn = &c->tcp;
    c->srv = h;
    uv_tcp_init(h->loop, conn);
    h->conns++;
    if (uv_accept(listener, (uv_stream_t *)conn) != 0) {
        uv_close((uv_handle_t *)conn, on_conn_closed);
        return;
    }
    uv_tcp_nodelay(conn, 1);
    h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)conn, on_conn_closed);
    h2o_accept(&h->accept_ctx, sock);
}

/* ---------------------------------------------------------------- public */

int httpd_new(uv_loop_t *loop, const char *host, int port, size_t max_body, httpd_t **out)
{
    httpd_t *h = calloc(1, sizeof *h);
    if (!h)
        return KB_ERR_NOMEM;
    h->loop = loop;
    snprintf(h->host, sizeof h->host, "%s", host);
    h->port = port;
    h2o_config_init(&h->config);
    h->config.max_request_entity_size = max_body; /* h2o's default is 1 GiB */
    h2o_hostconf_t *hostconf = h2o_config_register_host(&h->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pathconf = h2o_config_register_path(hostconf, "/", 0);
    httpd_h2o_handler_t *hh = (httpd_h2o_handler_t *)h2o_create_handler(pathconf, sizeof *hh);
    hh->super.on_req = on_req;
    hh->h = h;
    h2o_context_init(&h->ctx, loop, &h->config);
    h->accept_ctx.ctx = &h->ctx;
    h->accept_ctx.hosts = h->config.hosts;
    h->m_latency = metrics_histogram("kb_http_in_latency_seconds", "Inbound HTTP request time", "");
    static const char *const classes[] = {"1xx", "1xx", "2xx", "3xx", "4xx", "5xx"};
    for (int i = 1; i < 6; i++) {
        char l[32];
        snprintf(l, sizeof l, "code=\"%s\"", classes[i]);
        h->m_status[i] = metrics_counter("kb_http_in_requests_total", "Inbound HTTP requests by status class", l);
    }
    *out = h;
    return 0;
}

int httpd_route(httpd_t *h, const char *method, const char *path, httpd_handler fn, void *data)
{
    if (h->nroutes >= HTTPD_MAX_ROUTES || strlen(method) >= sizeof h->routes[0].method)
        return KB_ERR_INVAL;
    httpd_route_t *rt = &h->routes[h->nroutes];
    size_t n = strlen(path);
    rt->prefix = n > 0 && path[n - 1] == '*';
    rt->path = strndup(path, rt->prefix ? n - 1 : n);
    if (!rt->path)
        return KB_ERR_NOMEM;
    rt->plen = strlen(rt->path);
    snprintf(rt->method, sizeof rt->method, "%s", method);
    rt->fn = fn;
    rt->data = data;
    h->nroutes++;
    return 0;
}

int httpd_start(httpd_t *h)
{
    struct sockaddr_storage addr;
    int rc = strchr(h->host, ':') ? uv_ip6_addr(h->host, h->port, (struct sockaddr_in6 *)&addr)
                                  : uv_ip4_addr(h->host, h->port, (struct sockaddr_in *)&addr);
    if (rc)
        return rc;
    uv_tcp_init(h->loop, &h->listener);
    h->listener.data = h;
    h->listening = 1;
    if ((rc = uv_tcp_bind(&h->listener, (struct sockaddr *)&addr, 0)) != 0 ||
        (rc = uv_listen((uv_stream_t *)&h->listener, 1024, on_accept)) != 0) {
        httpd_stop(h);
        return rc;
    }
    struct sockaddr_storage bound;
    int len = sizeof bound;
    if (uv_tcp_getsockname(&h->listener, (struct sockaddr *)&bound, &len) == 0)
        h->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                    : ((struct sockaddr_in *)&bound)->sin_port);
    return 0;
}

int httpd_port(const httpd_t *h) { return h->port; }
size_t httpd_inflight(const httpd_t *h) { return h->inflight; }

void httpd_stop(httpd_t *h)
{
    if (h->listening) {
        h->listening = 0;
        uv_close((uv_handle_t *)&h->listener, NULL);
    }
}

/* Frees the server after the listener (if any) has closed; one loop turn later is enough for that. */
static void on_close_timer(uv_handle_t *t)
{
    httpd_t *h = t->data;
    /* h2o 2.2 cannot close keep-alive connections itself, and disposing its context under them asserts: with
     * connections still open (only at process exit) its state is left to the exit */
    free(t);
    if (h->conns > 0)
        return;
    h2o_context_dispose(&h->ctx);
    h2o_config_dispose(&h->config);
    for (int i = 0; i < h->nroutes; i++)
        free(h->routes[i].path);
    free(h);
}

void httpd_close(httpd_t *h)
{
    httpd_stop(h);
    uv_idle_t *idle = malloc(sizeof *idle);
    uv_idle_init(h->loop, idle);
    idle->data = h;
    uv_close((uv_handle_t *)idle, on_close_timer);
}

const char *httpd_method(const httpd_req_t *r) { return r->method; }
const char *httpd_path(const httpd_req_t *r) { return r->path; }
const char *httpd_query(const httpd_req_t *r) { return r->query; }
const char *httpd_peer(const httpd_req_t *r) { return r->peer; }
int httpd_alive(const httpd_req_t *r) { return r->req != NULL; }

const char *httpd_body(const httpd_req_t *r, size_t *len)
{
    *len = r->body_len;
    return r->body ? r->body : "";
}

int httpd_header(const httpd_req_t *r, const char *name, char *out, size_t outlen)
{
    if (r->detached) {
        size_t n = strlen(name);
        for (char **h = r->in_headers; h && *h; h++)
            if (!strncasecmp(*h, name, n) && (*h)[n] == ':') {
                const char *v = *h + n + 1;
                while (*v == ' ')
                    v++;
                snprintf(out, outlen, "%s", v);
                return 0;
            }
        return KB_ERR_INVAL;
    }
    if (!r->req)
        return KB_ERR_NOTCONN;
    ssize_t i = h2o_find_header_by_str(&r->req->headers, name, strlen(name), -1);
    if (i < 0) {
        /* h2o keeps well-known headers as lowercase tokens */
        char lower[64];
        size_t n = strlen(name);
        if (n >= sizeof lower)
            return KB_ERR_INVAL;
        for (size_t k = 0; k <= n; k++)
            lower[k] = (char)(name[k] >= 'A' && name[k] <= 'Z' ? name[k] + 32 : name[k]);
        i = h2o_find_header_by_str(&r->req->headers, lower, n, -1);
        if (i < 0)
            return KB_ERR_INVAL;
    }
    h2o_iovec_t v = r->req->headers.entries[i].value;
    snprintf(out, outlen, "%.*s", (int)v.len, v.base);
    return 0;
}

void httpd_set_header(httpd_req_t *r, const char *name, const char *value)
{
    if (r->nheaders >= HTTPD_MAX_HEADERS)
        return;
    r->hname[r->nheaders] = strdup(name);
    r->hvalue[r->nheaders] = strdup(value);
    r->nheaders++;
}

void httpd_respond(httpd_req_t *r, int status, const char *content_type, const char *body, size_t len)
{
    if (r->detached) {
        r->status = status;
        req_unref(r);
        return;
    }
    httpd_t *h = r->h;
    h2o_req_t *req = r->req;
    h->inflight--;
    metrics_inc(h->m_status[status / 100 >= 1 && status / 100 <= 5 ? status / 100 : 5]);
    metrics_observe(h->m_latency, metrics_now() - r->started);
    if (req) {
        req->res.status = status;
        req->res.reason = reason(status);
        if (content_type) {
            h2o_iovec_t ct = h2o_strdup(&req->pool, content_type, SIZE_MAX);
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ct.base, ct.len);
        }
        for (int i = 0; i < r->nheaders; i++) {
            if (!r->hname[i] || !r->hvalue[i])
                continue;
            /* h2o keeps pointers: both strings go into the request pool; names lowercase as tokens are */
            h2o_iovec_t n = h2o_strdup(&req->pool, r->hname[i], SIZE_MAX);
            for (size_t k = 0; k < n.len; k++)
                if (n.base[k] >= 'A' && n.base[k] <= 'Z')
                    n.base[k] = (char)(n.base[k] + 32);
            h2o_iovec_t v = h2o_strdup(&req->pool, r->hvalue[i], SIZE_MAX);
            h2o_add_header_by_str(&req->pool, &req->res.headers, n.base, n.len, 1, NULL, v.base, v.len);
        }
        req->res.content_length = len;
        h2o_send_inline(req, body, len);
    }
    req_unref(r);
}

/* ---------------------------------------------------------------- detached requests */

httpd_req_t *httpd_req_detached(const char *method, const char *path, const char *query, const char *const *headers,
                                const char *body, size_t len, const char *peer)
{
    httpd_req_t *r = calloc(1, sizeof *r);
    size_t nh = 0;
    while (headers && headers[nh])
        nh++;
    if (!r || !(r->in_headers = calloc(nh + 1, sizeof *r->in_headers))) {
        free(r);
        return NULL;
    }
    r->detached = 1;
    r->refs = 2; /* one for the handler's answer, one for the caller */
    snprintf(r->method, sizeof r->method, "%s", method);
    snprintf(r->peer, sizeof r->peer, "%s", peer ? peer : "");
    r->path = strdup(path);
    r->query = strdup(query ? query : "");
    r->body = malloc(len + 1);
    for (size_t i = 0; i < nh; i++)
        r->in_headers[i] = strdup(headers[i]);
    if (r->body) {
        memcpy(r->body, body, len);
        r->body[len] = 0;
        r->body_len = len;
    }
    r->started = metrics_now();
    return r;
}

int httpd_req_detached_status(const httpd_req_t *r) { return r->status; }

void httpd_req_detached_free(httpd_req_t *r)
{
    if (r->refs > 1) /* never answered: the handler's reference goes too */
        r->refs = 1;
    req_unref(r);
}
