/* httpd.h — inbound HTTP: h2o (the libuv build) on kabinet's loop, a route table, deferred answers.
 *
 * Lifecycle: httpd_new → httpd_route… → httpd_start (bind and listen) → httpd_stop (stop accepting; requests in
 * flight may still be answered) → httpd_close. Routes match the exact path (or a prefix, when the route ends with
 * '*'); a known path with another method gets 405 with Allow, an unknown path 404, a body over the limit 413 (from
 * h2o itself).
 *
 * A handler may answer at once or later, after asynchronous work: it keeps the httpd_req_t and calls
 * httpd_respond exactly once, whenever it is done. If the client went away meanwhile the answer is dropped
 * quietly; the httpd_req_t stays valid until httpd_respond either way (it is not h2o's request, which dies with its
 * connection). */
#ifndef KB_HTTPD_H
#define KB_HTTPD_H

#include <stddef.h>
#include <uv.h>

typedef struct httpd_s httpd_t;
typedef struct httpd_req_s httpd_req_t;

/* A route handler. It must end with httpd_respond, now or later. */
typedef void (*httpd_handler)(httpd_req_t *r, void *data);

/* Makes a server that will listen on host:port (an IP literal) with the body limit max_body bytes. */
int httpd_new(uv_loop_t *loop, const char *host, int port, size_t max_body, httpd_t **out);
/* Adds a route: method ("GET", "POST", …) and path ("/healthz"; a trailing star makes a prefix route). */
int httpd_route(httpd_t *h, const char *method, const char *path, httpd_handler fn, void *data);
/* Binds and listens. Returns 0 or a negative error (such as -EADDRINUSE). */
int httpd_start(httpd_t *h);
/* The port actually bound (useful with port 0 in tests). */
int httpd_port(const httpd_t *h);
/* Stops accepting connections; answers still go out. */
void httpd_stop(httpd_t *h);
/* Requests taken and not yet answered. */
size_t httpd_inflight(const httpd_t *h);
/* Closes the server; it frees itself once its handles are closed (keep running the loop). Requests still open are
 * dropped. */
void httpd_close(httpd_t *h);

/* Request accessors, valid until httpd_respond. */
const char *httpd_method(const httpd_req_t *r);
const char *httpd_path(const httpd_req_t *r);           /* without the query */
const char *httpd_query(const httpd_req_t *r);          /* after '?', or "" */
const char *httpd_body(const httpd_req_t *r, size_t *len);
/* Copies a request header's value into out (case-insensitive name). Returns 0, or KB_ERR_INVAL when absent. */
int httpd_header(const httpd_req_t *r, const char *name, char *out, size_t outlen);
/* The client's IP address ("127.0.0.1", "2a02:5180::1"), or "" when unknown. Proxies in front are not looked
 * through: the address is the TCP peer's. */
const char *httpd_peer(const httpd_req_t *r);
/* 1 while the client is still there. */
int httpd_alive(const httpd_req_t *r);

/* Adds a response header (before httpd_respond). */
void httpd_set_header(httpd_req_t *r, const char *name, const char *value);
/* Sends the answer (the body is copied) and releases r. */
void httpd_respond(httpd_req_t *r, int status, const char *content_type, const char *body, size_t len);

/* ---------------------------------------------------------------- detached requests (fuzzing, direct tests) */

/* A request that came over no connection, for calling a handler directly: method, path, query (or ""), request
 * headers as NULL-terminated "Name: value" lines (or NULL), body and peer. Its answer is recorded, not sent. Returns
 * NULL when out of memory. Free with httpd_req_detached_free, after the handler answered or not. */
httpd_req_t *httpd_req_detached(const char *method, const char *path, const char *query, const char *const *headers,
                                const char *body, size_t len, const char *peer);
/* The status the handler answered a detached request with, or 0 while it has not. */
int httpd_req_detached_status(const httpd_req_t *r);
/* Frees a detached request. */
void httpd_req_detached_free(httpd_req_t *r);

#endif
