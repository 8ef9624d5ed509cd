/* pay.c — the "pay" channel's sender and the fake provider's pay page (see pay.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/rand.h>
#include "core.h"
#include "err.h"
#include "log.h"
#include "pay.h"
#include "text.h"

struct pay_s {
    db_t *db;
    outbox_t *out;
    char public_url[256];
    engine_outbox_hook kick;
    void *kick_ctx;
    const db_stmt_t *q_link, *q_by_token;
};

/* ---------------------------------------------------------------- the sender: a link for a new payment */

typedef struct {
    pay_t *p;
    outbox_ticket_t *t;
} link_job_t;

static void on_linked(int err, PGresult *res, void *data)
{
    link_job_t *j = data;
    if (err) {
        outbox_done(j->t, OUTBOX_RETRY, -1, "cannot record the link");
    } else {
        if (PQntuples(res) == 1) /* the reply went to the customer's channel: wake its sender */
            j->p->kick(j->p->kick_ctx, PQgetvalue(res, 0, 0));
        outbox_done(j->t, OUTBOX_SENT, 0, NULL);
    }
    free(j);
}

/* The fake provider: the link is kabinet's own pay page under a random token. A payment no longer pending gets
 * no link (the statement does nothing). */
static void deliver(void *ctx, const outbox_msg_t *m, outbox_ticket_t *t)
{
    pay_t *p = ctx;
    const cJSON *id = cJSON_GetObjectItem(m->payload, "payment_id");
    link_job_t *j = malloc(sizeof *j);
    if (!cJSON_IsNumber(id) || !j) {
        free(j);
        outbox_done(t, OUTBOX_DEAD, 0, "no payment_id");
        return;
    }
    j->p = p;
    j->t = t;
    unsigned char rnd[16];
    char token[33], pid[24], base[300];
    RAND_bytes(rnd, sizeof rnd);
    for (int i = 0; i < 16; i++)
        snprintf(token + 2 * i, 3, "%02x", rnd[i]);
    snprintf(pid, sizeof pid, "%lld", (long long)id->valuedouble);
    snprintf(base, sizeof base, "%s/pay/fake/", p->public_url);
    const char *params[] = {pid, token, base};
    if (db_exec(p->db, 0, p->q_link, 3, params, on_linked, j) != 0) {
        free(j);
        outbox_done(t, OUTBOX_RETRY, -1, "postgres unavailable");
    }
}

/* ---------------------------------------------------------------- the fake provider's page */

/* A small page: a message, and the two buttons when the payment can still be paid. */
static void page(httpd_req_t *r, int status, const char *lang, const char *key, const cJSON *params, const char *token)
{
    char text[512], body[3072];
    txt_render(lang, key, params, text, sizeof text);
    char *esc = txt_html_escape(text, strlen(text));
    int n = snprintf(body, sizeof body, "<!doctype html><html lang=\"%s\"><head><meta charset=\"utf-8\">"
                     "<meta name=\"viewport\" content=\"width=device-width\"><title>kabinet</title></head>"
                     "<body><p>%s</p>", lang, esc ? esc : "");
    free(esc);
    if (token) {
        char pay[128], decline[128];
        txt_render(lang, "pay.page_pay", NULL, pay, sizeof pay);
        txt_render(lang, "pay.page_decline", NULL, decline, sizeof decline);
        n += snprintf(body + n, sizeof body - (size_t)n,
                      "<form method=\"post\" action=\"/pay/fake/%s/pay\"><button>%s</button></form>"
                      "<form method=\"post\" action=\"/pay/fake/%s/decline\"><button>%s</button></form>",
                      token, pay, token, decline);
    }
    n += snprintf(body + n, sizeof body - (size_t)n, "</body></html>\n");
    httpd_respond(r, status, "text/html; charset=utf-8", body, (size_t)n);
}

typedef struct {
    pay_t *p;
    httpd_req_t *r;
    char token[40], action[16], lang[4], conv[160];
} page_req_t;

static void on_settled(int err, cJSON *result, void *data)
{
    page_req_t *q = data;
    const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(result, "status"));
    int paid = !strcmp(q->action, "pay");
    if (err || !st) {
        httpd_respond(q->r, 503, "text/plain", "try again\n", 10);
    } else {
        if (q->conv[0]) { /* "payment accepted" was queued for the customer's channel */
            char channel[32];
            snprintf(channel, sizeof channel, "%.*s", (int)strcspn(q->conv, ":"), q->conv);
            q->p->kick(q->p->kick_ctx, channel);
        }
        int ok = paid ? !strcmp(st, "settled") || !strcmp(st, "already_settled") : !strcmp(st, "failed");
        page(q->r, ok ? 200 : 409, q->lang, ok ? (paid ? "pay.page_paid" : "pay.page_declined") : "pay.page_gone",
             NULL, NULL);
    }
    cJSON_Delete(result);
    free(q);
}

/* The payment behind a token: show the page, or pay / decline it. */
static void on_payment(int err, PGresult *res, void *data)
{
    page_req_t *q = data;
    if (err) {
        httpd_respond(q->r, 503, "text/plain", "try again\n", 10);
        free(q);
        return;
    }
    if (PQntuples(res) != 1) {
        page(q->r, 404, "ru", "pay.page_gone", NULL, NULL);
        free(q);
        return;
    }
    const char *order = PQgetvalue(res, 0, 0), *amount = PQgetvalue(res, 0, 1), *status = PQgetvalue(res, 0, 2);
    snprintf(q->lang, sizeof q->lang, "%s", PQgetvalue(res, 0, 3));
    snprintf(q->conv, sizeof q->conv, "%s", PQgetvalue(res, 0, 4));
    int pending = !strcmp(status, "pending");
    if (!q->action[0]) {
        cJSON *pp = cJSON_CreateObject();
        cJSON_AddNumberToObject(pp, "amount", atof(amount));
        cJSON_AddStringToObject(pp, "order", order);
        page(q->r, pending ? 200 : 410, q->lang, pending ? "pay.page" : "pay.page_gone", pp, pending ? q->token : NULL);
        cJSON_Delete(pp);
        free(q);
        return;
    }
    /* as a provider's confirmation would: the order, the amount it took, its own payment id */
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "order_id", order);
    char provider_id[64], conv[64];
    snprintf(provider_id, sizeof provider_id, "fake-%s", q->token);
    snprintf(conv, sizeof conv, "pay:%s", order);
    int rc;
    if (!strcmp(q->action, "pay")) {
        cJSON_AddNumberToObject(a, "amount_kopecks", atof(amount));
        cJSON_AddStringToObject(a, "provider_payment_id", provider_id);
        rc = core_run(q->p->db, "payment.settle", conv, a, on_settled, q);
    } else {
        cJSON_AddStringToObject(a, "reason", "failed");
        rc = core_run(q->p->db, "payment.fail", conv, a, on_settled, q);
    }
    cJSON_Delete(a);
    if (rc) {
        httpd_respond(q->r, 503, "text/plain", "try again\n", 10);
        free(q);
    }
}

/* GET /pay/fake/<token>, POST /pay/fake/<token>/pay|decline */
static void on_page(httpd_req_t *r, void *data)
{
    pay_t *p = data;
    const char *rest = httpd_path(r) + strlen("/pay/fake/"), *slash = strchr(rest, '/');
    size_t tl = slash ? (size_t)(slash - rest) : strlen(rest);
    int post = !strcmp(httpd_method(r), "POST");
    const char *action = slash ? slash + 1 : "";
    if (tl != 32 || strspn(rest, "0123456789abcdef") < 32 || post != (action[0] != 0) ||
        (post && strcmp(action, "pay") && strcmp(action, "decline"))) {
        page(r, 404, "ru", "pay.page_gone", NULL, NULL);
        return;
    }
    page_req_t *q = calloc(1, sizeof *q);
    if (!q) {
        httpd_respond(r, 503, "text/plain", "try again\n", 10);
        return;
    }
    q->p = p;
    q->r = r;
    memcpy(q->token, rest, 32);
    snprintf(q->action, sizeof q->action, "%s", action);
    const char *params[] = {q->token};
    if (db_exec(p->db, 0, p->q_by_token, 1, params, on_payment, q) != 0) {
        httpd_respond(r, 503, "text/plain", "try again\n", 10);
        free(q);
    }
}

/* ---------------------------------------------------------------- lifecycle */

int pay_new(uv_loop_t *loop, httpd_t *h, db_t *db, const pay_options_t *opt, engine_outbox_hook kick, void *kick_ctx,
            pay_t **out)
{
    pay_t *p = calloc(1, sizeof *p);
    if (!p)
        return KB_ERR_NOMEM;
    p->db = db;
    p->kick = kick;
    p->kick_ctx = kick_ctx;
    snprintf(p->public_url, sizeof p->public_url, "%s", opt->public_url);
    size_t n = strlen(p->public_url);
    while (n && p->public_url[n - 1] == '/')
        p->public_url[--n] = 0;
    /* the link, once per payment (a retry finds the token and the reply already there) */
    p->q_link = db_prepare(db,
        "WITH u AS (UPDATE kb_payment SET pay_token = coalesce(pay_token, $2), provider = coalesce(provider, 'fake'),"
        "  pay_url = coalesce(pay_url, $3 || coalesce(pay_token, $2))"
        "  WHERE id = $1::bigint AND status = 'pending' RETURNING order_id, conv, lang, amount_kopecks, pay_url) "
        "INSERT INTO kb_outbox (conv, channel, lane, event_id, seq, payload) "
        "SELECT conv, split_part(conv, ':', 1), 0, 'link:' || order_id, 0, json_build_object('tmpl', 'pay.link',"
        " 'lang', lang, 'params', json_build_object('amount', amount_kopecks, 'url', pay_url), 'url', pay_url,"
        " 'url_button', 'pay_open') FROM u WHERE conv IS NOT NULL "
        "ON CONFLICT (conv, event_id, seq) DO NOTHING RETURNING channel");
    p->q_by_token = db_prepare(db, "SELECT order_id, amount_kopecks, status, lang, coalesce(conv, '') FROM kb_payment "
                                   "WHERE pay_token = $1 AND provider = 'fake'");
    outbox_options_t oo = {{16, 16}, 20, 500, 30};
    int rc = outbox_new(loop, db, "pay", deliver, p, &oo, &p->out);
    if (rc) {
        free(p);
        return rc;
    }
    httpd_route(h, "GET", "/pay/fake/*", on_page, p);
    httpd_route(h, "POST", "/pay/fake/*", on_page, p);
    *out = p;
    return outbox_start(p->out);
}

outbox_t *pay_outbox(pay_t *p) { return p->out; }

void pay_close(pay_t *p)
{
    outbox_close(p->out);
    free(p);
}
