/* pay.c — the "pay" channel: a payment's way through its provider (see pay.h). Three ways in — the outbox (a new
 * payment wants a link), the provider's notifications, and a poller for payments
 * the provider has not told us about — and one way to a decision: ask the provider where the payment stands, then
 * settle, decline or expire it in its own transaction, which also queues what the customer hears. The check of a
 * paid payment, once its fiscal receipt exists, is made by the "doc" channel (docs.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "core.h"
#include "err.h"
#include "log.h"
#include "pay.h"
#include "payprov_int.h"
#include "text.h"

struct pay_s {
    uv_loop_t *loop;
    db_t *db;
    outbox_t *out;
    payprov_t *prov;
    engine_outbox_hook kick;
    void *kick_ctx;
    uv_timer_t poll;
    int poll_s, expire_s, jobs, closing, timer_closed;   /* jobs: work in flight that uses this struct */
    char poll_s_text[16], expire_s_text[16], short_base[300];   /* short_base: "<public_url>/p/" */
    const db_stmt_t *q_order, *q_link, *q_find, *q_claim, *q_short;
};

/* One payment being decided: where it came from (a notification's request, the poller, the fake page), the row. */
typedef struct {
    pay_t *p;
    httpd_req_t *r;                /* answered when done, or NULL */
    int fake_page, fake_paid;      /* answer with the fake page's words; its Pay button was pressed */
    char id[24], order[64], provider_id[80], status[16], conv[160], lang[4];
    int overdue;
    int64_t amount;
} job_t;

/* The struct goes once closed and idle: callbacks of work in flight still come (canceled) after pay_close. */
static void maybe_free(pay_t *p)
{
    if (p->closing && p->timer_closed && p->jobs == 0) {
        p->prov->ops->free(p->prov);
        free(p);
    }
}

static void job_free(job_t *j)
{
    pay_t *p = j->p;
    p->jobs--;
    free(j);
    maybe_free(p);
}

/* Wakes the sender of the channel a conversation belongs to ("tg:42" → "tg"). */
static void kick_conv(pay_t *p, const char *conv)
{
    char channel[32];
    if (!conv || !conv[0])
        return;
    snprintf(channel, sizeof channel, "%.*s", (int)strcspn(conv, ":"), conv);
    p->kick(p->kick_ctx, channel);
}

/* ---------------------------------------------------------------- pages */

/* A small page: a message, and (fake provider) the two buttons while the payment can still be paid. */
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

static void respond(job_t *j, int status, const char *text)
{
    if (!j->r)
        return;
    if (j->fake_page)
        page(j->r, status, j->lang, status == 200 ? text : "pay.page_gone", NULL, NULL);
    else
        httpd_respond(j->r, status, "text/plain", text, strlen(text));
    j->r = NULL;
}

/* ---------------------------------------------------------------- deciding: settle, decline, expire */

static void on_decided(int err, cJSON *result, void *data)
{
    job_t *j = data;
    const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(result, "status"));
    if (err || !st) {
        respond(j, 503, "try again\n");
    } else if (!strcmp(st, "amount_mismatch")) {
        log_error("pay", "payment %s: the provider holds another amount than the order; nothing changed", j->order);
        respond(j, 409, "amount differs from the order\n");
    } else {
        if (!strcmp(st, "settled") || !strcmp(st, "failed") || !strcmp(st, "expired"))
            kick_conv(j->p, j->conv);
        int paid = !strcmp(st, "settled") || !strcmp(st, "already_settled");
        if (!j->fake_page)
            respond(j, 200, "ok\n");
        else if (j->fake_paid ? paid : !strcmp(st, "failed"))
            respond(j, 200, paid ? "pay.page_paid" : "pay.page_declined");
        else
            respond(j, 409, "pay.page_gone");
    }
    cJSON_Delete(result);
    job_free(j);
}

/* What the provider said about j's payment decides it. */
static void decide(job_t *j, const payprov_result_t *r)
{
    char conv[96];
    snprintf(conv, sizeof conv, "pay:%s", j->order);
    size_t ol = strlen(j->order);
    if (r->order_id[0] && (strncmp(r->order_id, j->order, ol) || (r->order_id[ol] && r->order_id[ol] != '-'))) {
        log_error("pay", "payment %s: the provider names another order; nothing changed", j->order);
        respond(j, 409, "order differs\n");
        job_free(j);
        return;
    }
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "order_id", j->order);
    int rc;
    if (r->state == PAYPROV_PAID) {
        cJSON_AddNumberToObject(a, "amount_kopecks", (double)r->amount_kopecks);
        cJSON_AddStringToObject(a, "provider_payment_id", r->provider_id[0] ? r->provider_id : j->provider_id);
        if (r->paid_at[0])
            cJSON_AddStringToObject(a, "paid_at", r->paid_at);
        rc = core_run(j->p->db, "payment.settle", conv, a, on_decided, j);
    } else if (r->state == PAYPROV_CANCELED || j->overdue) {
        cJSON_AddStringToObject(a, "reason", r->state == PAYPROV_CANCELED ? "failed" : "expired");
        rc = core_run(j->p->db, "payment.fail", conv, a, on_decided, j);
    } else {
        respond(j, 200, "ok\n");
        job_free(j);
        rc = 0;
    }
    cJSON_Delete(a);
    if (rc) {
        respond(j, 503, "try again\n");
        job_free(j);
    }
}

static void on_status(int err, const payprov_result_t *r, void *data)
{
    job_t *j = data;
    if (err || j->p->closing) {
        respond(j, 503, "try again\n");
        job_free(j);
        return;
    }
    decide(j, r);
}

/* Asks the provider about j's payment, then decides. */
static void check(job_t *j)
{
    if (!j->provider_id[0]) { /* never got to the provider: nothing to ask */
        payprov_result_t r;
        memset(&r, 0, sizeof r);
        decide(j, &r);
        return;
    }
    if (j->p->prov->ops->status(j->p->prov, j->provider_id, j->order, on_status, j) != 0) {
        respond(j, 503, "try again\n");
        job_free(j);
    }
}

static job_t *job_new(pay_t *p, httpd_req_t *r)
{
    job_t *j = calloc(1, sizeof *j);
    if (j) {
        j->p = p;
        j->r = r;
        snprintf(j->lang, sizeof j->lang, "ru");
        p->jobs++;
    }
    return j;
}

/* Fills j from a row of q_find / q_claim: id, order, provider id, status, conv, lang, overdue, amount. */
static void job_row(job_t *j, PGresult *res, int i)
{
    snprintf(j->id, sizeof j->id, "%s", PQgetvalue(res, i, 0));
    snprintf(j->order, sizeof j->order, "%s", PQgetvalue(res, i, 1));
    snprintf(j->provider_id, sizeof j->provider_id, "%s", PQgetvalue(res, i, 2));
    snprintf(j->status, sizeof j->status, "%s", PQgetvalue(res, i, 3));
    snprintf(j->conv, sizeof j->conv, "%s", PQgetvalue(res, i, 4));
    snprintf(j->lang, sizeof j->lang, "%s", PQgetvalue(res, i, 5));
    j->overdue = PQgetvalue(res, i, 6)[0] == 't';
    j->amount = atoll(PQgetvalue(res, i, 7));
}

/* ---------------------------------------------------------------- notifications */

static void on_found(int err, PGresult *res, void *data)
{
    job_t *j = data;
    if (err) {
        respond(j, 503, "try again\n");
        job_free(j);
    } else if (PQntuples(res) != 1) {
        log_warn("pay", "a notification names a payment kabinet does not know: refused");
        respond(j, 404, "unknown payment\n");
        job_free(j);
    } else {
        job_row(j, res, 0);
        check(j);
    }
}

/* A provider's notification: authenticated by the provider, then only a reason to ask it again. */
static void on_notice(httpd_req_t *r, void *data)
{
    pay_t *p = data;
    payprov_notice_t n;
    memset(&n, 0, sizeof n);
    int st = p->prov->ops->notice(p->prov, r, &n);
    if (st) {
        char msg[64];
        snprintf(msg, sizeof msg, "%s\n", st == 403 ? "forbidden" : st == 401 ? "bad checksum" : "malformed");
        httpd_respond(r, st, "text/plain", msg, strlen(msg));
        return;
    }
    job_t *j = job_new(p, r);
    const char *params[] = {p->prov->ops->name, n.provider_id, n.order_id, p->expire_s_text};
    if (!j || db_exec(p->db, 0, p->q_find, 4, params, on_found, j) != 0) {
        if (j)
            job_free(j);
        httpd_respond(r, 503, "text/plain", "try again\n", 10);
    }
}

/* ---------------------------------------------------------------- the poller: no word from the provider */

static void on_receipt_added(int err, cJSON *result, void *data)
{
    job_t *j = data;
    const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(result, "status"));
    if (!err && st && !strcmp(st, "added")) /* the check is queued for the "doc" channel */
        j->p->kick(j->p->kick_ctx, "doc");
    cJSON_Delete(result);
    job_free(j);
}

static void on_receipt(int err, const payprov_result_t *r, void *data)
{
    job_t *j = data;
    if (err || !r->fiscal || j->p->closing) { /* not fiscalized yet: the next round asks again */
        job_free(j);
        return;
    }
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "order_id", j->order);
    cJSON_AddStringToObject(a, "kkt_reg", r->kkt_reg);
    cJSON_AddStringToObject(a, "fn", r->fn);
    cJSON_AddStringToObject(a, "fd", r->fd);
    cJSON_AddStringToObject(a, "fpd", r->fpd);
    cJSON_AddStringToObject(a, "check_url", r->check_url);
    if (r->fiscal_at[0])
        cJSON_AddStringToObject(a, "issued_at", r->fiscal_at);
    char conv[96];
    snprintf(conv, sizeof conv, "pay:%s", j->order);
    if (core_run(j->p->db, "receipt.add", conv, a, on_receipt_added, j) != 0)
        job_free(j);
    cJSON_Delete(a);
}

static void on_claimed(int err, PGresult *res, void *data)
{
    pay_t *p = data;
    p->jobs++; /* held over the loop below */
    for (int i = 0; !err && !p->closing && i < PQntuples(res); i++) {
        job_t *j = job_new(p, NULL);
        if (!j)
            break;
        job_row(j, res, i);
        if (!strcmp(j->status, "pending")) {
            check(j);
        } else if (p->prov->ops->receipt(p->prov, j->provider_id, j->order, on_receipt, j) != 0) {
            job_free(j);
        }
    }
    p->jobs -= 2; /* the claim's and the loop's */
    maybe_free(p);
}

/* Every KABINET_PAY_POLL_S: pending payments nobody told us about, and paid ones still without their receipt. */
static void on_poll(uv_timer_t *t)
{
    pay_t *p = t->data;
    const char *params[] = {p->prov->ops->name, p->poll_s_text, p->expire_s_text};
    if (db_ready(p->db) && db_exec(p->db, 0, p->q_claim, 3, params, on_claimed, p) == 0)
        p->jobs++;
}

/* ---------------------------------------------------------------- the sender: links */

typedef struct {
    pay_t *p;
    outbox_ticket_t *t;
    char id[24], conv[160];
} send_t;

static void send_done(send_t *s, outbox_result_t r, const char *error)
{
    pay_t *p = s->p;
    outbox_done(s->t, r, -1, error);
    free(s);
    p->jobs--;
    maybe_free(p);
}

static void on_link_written(int err, PGresult *res, void *data)
{
    send_t *s = data;
    if (err) {
        send_done(s, OUTBOX_RETRY, "cannot record the link");
        return;
    }
    if (PQntuples(res) == 1) /* the reply went to the customer's channel: wake its sender */
        s->p->kick(s->p->kick_ctx, PQgetvalue(res, 0, 0));
    send_done(s, OUTBOX_SENT, NULL);
}

static void on_failed_create(int err, cJSON *result, void *data)
{
    send_t *s = data;
    if (!err)
        kick_conv(s->p, s->conv);
    cJSON_Delete(result);
    send_done(s, err ? OUTBOX_RETRY : OUTBOX_DEAD, err ? "cannot record the refusal" : "the provider refused");
}

static void on_created(int err, const payprov_result_t *r, void *data)
{
    send_t *s = data;
    if (err == KB_ERR_AGAIN || s->p->closing) {
        send_done(s, OUTBOX_RETRY, "the provider did not answer");
        return;
    }
    if (err) { /* refused: the payment cannot be made; the customer hears "declined" */
        log_error("pay", "the provider refused to create payment %s", s->id);
        cJSON *a = cJSON_CreateObject();
        char order[40], conv[64];
        snprintf(order, sizeof order, "kb-%s", s->id);
        snprintf(conv, sizeof conv, "pay:%s", order);
        cJSON_AddStringToObject(a, "order_id", order);
        cJSON_AddStringToObject(a, "reason", "failed");
        if (core_run(s->p->db, "payment.fail", conv, a, on_failed_create, s) != 0)
            send_done(s, OUTBOX_RETRY, "postgres unavailable");
        cJSON_Delete(a);
        return;
    }
    /* kabinet's own short redirect to the link, for where space is short (SMS): /p/<token> */
    unsigned char rnd[9];
    char token[16];
    if (RAND_bytes(rnd, sizeof rnd) != 1) {
        send_done(s, OUTBOX_RETRY, "no randomness");
        return;
    }
    EVP_EncodeBlock((unsigned char *)token, rnd, sizeof rnd); /* 12 characters */
    for (char *c = token; *c; c++)
        *c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
    char minutes[16]; /* the link's lifetime as the customer is told it (KABINET_PAY_EXPIRE_S) */
    snprintf(minutes, sizeof minutes, "%d", s->p->expire_s >= 60 ? s->p->expire_s / 60 : 1);
    const char *params[] = {s->id, s->p->prov->ops->name, r->provider_id, r->url, token, s->p->short_base, minutes};
    if (db_exec(s->p->db, 0, s->p->q_link, 7, params, on_link_written, s) != 0)
        send_done(s, OUTBOX_RETRY, "postgres unavailable");
}

/* The payment as the provider is told it; no row: no longer pending or already linked — nothing to do. */
static void on_order(int err, PGresult *res, void *data)
{
    send_t *s = data;
    if (err) {
        send_done(s, OUTBOX_RETRY, "postgres unavailable");
        return;
    }
    if (PQntuples(res) != 1) {
        send_done(s, OUTBOX_SENT, NULL);
        return;
    }
    snprintf(s->conv, sizeof s->conv, "%s", PQgetvalue(res, 0, 6));
    payprov_order_t o = {PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), atoll(PQgetvalue(res, 0, 2)),
                         PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4), PQgetvalue(res, 0, 5), 1};
    if (s->p->prov->ops->create(s->p->prov, &o, on_created, s) != 0)
        send_done(s, OUTBOX_RETRY, "cannot ask the provider");
}

static void deliver(void *ctx, const outbox_msg_t *m, outbox_ticket_t *t)
{
    pay_t *p = ctx;
    const cJSON *id = cJSON_GetObjectItem(m->payload, "payment_id");
    send_t *s = calloc(1, sizeof *s);
    if (!cJSON_IsNumber(id) || !s) {
        free(s);
        outbox_done(t, OUTBOX_DEAD, 0, "no payment_id");
        return;
    }
    s->p = p;
    s->t = t;
    p->jobs++;
    snprintf(s->id, sizeof s->id, "%lld", (long long)id->valuedouble);
    const char *params[] = {s->id};
    if (db_exec(p->db, 0, p->q_order, 1, params, on_order, s) != 0)
        send_done(s, OUTBOX_RETRY, "postgres unavailable");
}

/* ---------------------------------------------------------------- the fake provider's page */

static void on_fake_row(int err, PGresult *res, void *data)
{
    job_t *j = data;
    if (err) {
        respond(j, 503, "try again\n");
        job_free(j);
        return;
    }
    if (PQntuples(res) != 1) {
        page(j->r, 404, "ru", "pay.page_gone", NULL, NULL);
        j->r = NULL;
        job_free(j);
        return;
    }
    job_row(j, res, 0);
    const char *action = strchr(httpd_path(j->r) + strlen("/pay/fake/"), '/');
    int pending = !strcmp(j->status, "pending");
    if (!action) { /* GET: the page, with the buttons while payable */
        cJSON *pp = cJSON_CreateObject();
        cJSON_AddNumberToObject(pp, "amount", (double)j->amount);
        cJSON_AddStringToObject(pp, "order", j->order);
        page(j->r, pending ? 200 : 410, j->lang, pending ? "pay.page" : "pay.page_gone", pp,
             pending ? j->provider_id + 5 : NULL);
        cJSON_Delete(pp);
        j->r = NULL;
        job_free(j);
        return;
    }
    if (!pending) { /* paid, declined or expired: final, as at a real provider — nothing changes */
        int paid = !strcmp(j->status, "paid") || !strcmp(j->status, "credited");
        page(j->r, paid ? 200 : 410, j->lang, paid ? "pay.page_paid" : "pay.page_gone", NULL, NULL);
        j->r = NULL;
        job_free(j);
        return;
    }
    /* as a provider's confirmation would say it: paid with the order's amount, or declined */
    payprov_result_t r;
    memset(&r, 0, sizeof r);
    r.state = !strcmp(action, "/pay") ? PAYPROV_PAID : PAYPROV_CANCELED;
    r.amount_kopecks = j->amount;
    snprintf(r.provider_id, sizeof r.provider_id, "%s", j->provider_id);
    j->fake_page = 1;
    j->fake_paid = r.state == PAYPROV_PAID;
    j->overdue = 0;
    decide(j, &r);
}

/* GET /pay/fake/<token>, POST /pay/fake/<token>/pay|decline */
static void on_fake_page(httpd_req_t *r, void *data)
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
    char pid[40];
    snprintf(pid, sizeof pid, "fake-%.32s", rest);
    job_t *j = job_new(p, r);
    const char *params[] = {"fake", pid, "", p->expire_s_text};
    if (!j || db_exec(p->db, 0, p->q_find, 4, params, on_fake_row, j) != 0) {
        if (j)
            job_free(j);
        httpd_respond(r, 503, "text/plain", "try again\n", 10);
    }
}

static void on_short_row(int err, PGresult *res, void *data)
{
    job_t *j = data;
    if (err) {
        respond(j, 503, "try again\n");
    } else if (PQntuples(res) != 1) {
        page(j->r, 410, "ru", "pay.page_gone", NULL, NULL);
        j->r = NULL;
    } else {
        httpd_set_header(j->r, "Location", PQgetvalue(res, 0, 0));
        httpd_respond(j->r, 302, "text/plain", "", 0);
        j->r = NULL;
    }
    job_free(j);
}

/* GET /p/<token>: kabinet's short link, a redirect to the provider's page while the payment can be paid. */
static void on_short(httpd_req_t *r, void *data)
{
    pay_t *p = data;
    const char *token = httpd_path(r) + 3;
    if (strlen(token) != 12 || strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != 12) {
        page(r, 404, "ru", "pay.page_gone", NULL, NULL);
        return;
    }
    job_t *j = job_new(p, r);
    const char *params[] = {token, p->expire_s_text};
    if (!j || db_exec(p->db, 0, p->q_short, 2, params, on_short_row, j) != 0) {
        if (j)
            job_free(j);
        httpd_respond(r, 503, "text/plain", "try again\n", 10);
    }
}

/* GET /pay/done: where the provider's page sends the customer back. */
static void on_done_page(httpd_req_t *r, void *data)
{
    (void)data;
    page(r, 200, strstr(httpd_query(r), "lang=en") ? "en" : "ru", "pay.page_done", NULL, NULL);
}

/* ---------------------------------------------------------------- lifecycle */

#define PAY_ROW "p.id, p.order_id, coalesce(p.provider_payment_id, ''), p.status, coalesce(p.conv, ''), p.lang, " \
                "p.created_at < now() - make_interval(secs => $%d::int), p.amount_kopecks"

static void prepare(pay_t *p)
{
    char sql[2048];
    p->q_order = db_prepare(p->db,
        "SELECT p.order_id, p.idempotency_key, p.amount_kopecks, a.number, coalesce(p.receipt_email, c.email, ''),"
        " coalesce(c.phone, ''), coalesce(p.conv, '') FROM kb_payment p JOIN kb_account a ON a.id = p.account_id"
        " LEFT JOIN kb_customer c ON c.id = p.customer_id WHERE p.id = $1::bigint AND p.status = 'pending'"
        " AND p.pay_url IS NULL");
    /* the link, once per payment, and the reply that carries it (a retry finds both there) */
    p->q_link = db_prepare(p->db,
        "WITH u AS (UPDATE kb_payment SET provider = $2, provider_payment_id = $3, pay_url = $4, pay_token = $5"
        "  WHERE id = $1::bigint AND status = 'pending' AND pay_url IS NULL"
        "  RETURNING order_id, conv, lang, amount_kopecks, pay_url, $6 || pay_token AS short_url) "
        "SELECT split_part(conv, ':', 1) AS channel FROM u WHERE CASE WHEN conv IS NULL THEN false ELSE"
        " kb_outbox_put(conv, split_part(conv, ':', 1), 0, 'link:' || order_id, 0, jsonb_build_object('tmpl', 'pay.link',"
        " 'lang', lang, 'params', jsonb_build_object('amount', amount_kopecks, 'url', pay_url, 'short_url', short_url,"
        " 'minutes', $7::int),"
        " 'url', pay_url, 'url_button', 'pay_open')) IS NOT NULL END");
    snprintf(sql, sizeof sql, "SELECT " PAY_ROW " FROM kb_payment p WHERE p.provider = $1 AND "
             "CASE WHEN $2 <> '' THEN p.provider_payment_id = $2 ELSE p.order_id = $3 END", 4);
    p->q_find = db_prepare(p->db, sql);
    /* claimed for one round (checked_at), so that processes side by side do not ask twice */
    snprintf(sql, sizeof sql,
             "WITH c AS (SELECT id FROM kb_payment WHERE provider = $1"
             "  AND (checked_at IS NULL OR checked_at < now() - greatest(make_interval(secs => $2::int),"
             "       (now() - coalesce(paid_at, created_at)) / 10))"
             "  AND ((status = 'pending' AND created_at < now() - make_interval(secs => $2::int))"
             "   OR (status IN ('paid', 'credited') AND conv IS NOT NULL AND paid_at > now() - interval '3 days'"
             "       AND NOT EXISTS (SELECT 1 FROM kb_receipt r WHERE r.payment_id = kb_payment.id)))"
             "  ORDER BY id LIMIT 32 FOR UPDATE SKIP LOCKED) "
             "UPDATE kb_payment p SET checked_at = now() FROM c WHERE p.id = c.id RETURNING " PAY_ROW, 3);
    p->q_claim = db_prepare(p->db, sql);
    p->q_short = db_prepare(p->db, "SELECT pay_url FROM kb_payment WHERE pay_token = $1 AND status = 'pending'"
                                   " AND created_at > now() - make_interval(secs => $2::int)");
}

int pay_new(uv_loop_t *loop, httpd_t *h, db_t *db, payprov_t *prov, const pay_options_t *opt,
            engine_outbox_hook kick, void *kick_ctx, pay_t **out)
{
    pay_t *p = calloc(1, sizeof *p);
    if (!p)
        return KB_ERR_NOMEM;
    p->loop = loop;
    p->db = db;
    p->prov = prov;
    p->kick = kick;
    p->kick_ctx = kick_ctx;
    p->poll_s = opt->poll_s;
    p->expire_s = opt->expire_s;
    snprintf(p->poll_s_text, sizeof p->poll_s_text, "%d", opt->poll_s);
    snprintf(p->expire_s_text, sizeof p->expire_s_text, "%d", opt->expire_s);
    snprintf(p->short_base, sizeof p->short_base, "%s/p/", opt->public_url);
    prepare(p);
    outbox_options_t oo = {{16, 16}, 20, 500, 30};
    int rc = outbox_new(loop, db, "pay", deliver, p, &oo, &p->out);
    if (rc) {
        free(p);
        return rc;
    }
    if (!strcmp(prov->ops->name, "fake")) {
        httpd_route(h, "GET", "/pay/fake/*", on_fake_page, p);
        httpd_route(h, "POST", "/pay/fake/*", on_fake_page, p);
    }
    if (prov->ops->notice_path)
        httpd_route(h, prov->ops->notice_method, prov->ops->notice_path, on_notice, p);
    httpd_route(h, "GET", "/pay/done", on_done_page, p);
    httpd_route(h, "GET", "/p/*", on_short, p);
    uv_timer_init(loop, &p->poll);
    p->poll.data = p;
    uv_timer_start(&p->poll, on_poll, (uint64_t)p->poll_s * 1000, (uint64_t)p->poll_s * 1000);
    *out = p;
    return outbox_start(p->out);
}

outbox_t *pay_outbox(pay_t *p) { return p->out; }

static void on_timer_closed(uv_handle_t *h)
{
    pay_t *p = h->data;
    p->timer_closed = 1;
    maybe_free(p);
}

void pay_close(pay_t *p)
{
    p->closing = 1;
    outbox_close(p->out);
    uv_timer_stop(&p->poll);
    uv_close((uv_handle_t *)&p->poll, on_timer_closed);
}

/* ---------------------------------------------------------------- the worker's seam (channel.h) */

/* The provider KABINET_PAY_PROVIDER names, and its credentials. */
static int pay_check(cfg_t *cfg, char *err, size_t errlen)
{
    if (strcmp(cfg->pay_provider, "fake") && strcmp(cfg->pay_provider, "none") &&
        strcmp(cfg->pay_provider, "yookassa") && strcmp(cfg->pay_provider, "sber")) {
        snprintf(err, errlen, "KABINET_PAY_PROVIDER must be yookassa, sber, fake or none, not \"%s\"",
                 cfg->pay_provider);
        return KB_ERR_INVAL;
    }
    payprov_ipnet_t nets[32];
    if (payprov_ipset_parse(cfg->yk_webhook_ips, nets, 32) < 0) {
        snprintf(err, errlen, "KABINET_YOOKASSA_WEBHOOK_IPS must be addresses or networks (a.b.c.d/n, x:y::/n), "
                              "comma-separated, 32 at most");
        return KB_ERR_INVAL;
    }
    if (!strcmp(cfg->pay_provider, "yookassa") && (!cfg->yk_shop_id[0] || !cfg->yk_secret_key[0])) {
        snprintf(err, errlen, "KABINET_PAY_PROVIDER=yookassa needs KABINET_YOOKASSA_SHOP_ID and "
                              "KABINET_YOOKASSA_SECRET_KEY");
        return KB_ERR_INVAL;
    }
    if (!strcmp(cfg->pay_provider, "sber") &&
        (!cfg->sber_username[0] || !cfg->sber_password[0] || !cfg->sber_callback_key[0])) {
        snprintf(err, errlen, "KABINET_PAY_PROVIDER=sber needs KABINET_SBER_USERNAME, KABINET_SBER_PASSWORD and "
                              "KABINET_SBER_CALLBACK_KEY");
        return KB_ERR_INVAL;
    }
    if (cfg->production && !strcmp(cfg->pay_provider, "fake")) {
        snprintf(err, errlen, "KABINET_PAY_PROVIDER must not be fake when KABINET_ENV is production (set none until a "
                              "real provider is configured)");
        return KB_ERR_INVAL;
    }
    return 0;
}

static int pay_wanted(const cfg_t *cfg) { return strcmp(cfg->pay_provider, "none") != 0; }

/* The worker with the provider KABINET_PAY_PROVIDER names. */
static int pay_create(const channel_env_t *env, void **self, char *err, size_t errlen)
{
    const cfg_t *cfg = env->cfg;
    char back[400], fail[400];
    snprintf(back, sizeof back, "%s/pay/done", env->public_url);
    snprintf(fail, sizeof fail, "%s/pay/done?failed=1", env->public_url);
    payprov_t *prov = NULL;
    int rc;
    if (!strcmp(cfg->pay_provider, "yookassa")) {
        payprov_yookassa_options_t yo = {cfg->yk_url, cfg->yk_shop_id, cfg->yk_secret_key, cfg->yk_webhook_ips, back,
                                         cfg->yk_vat_code, cfg->trusted_proxies};
        rc = payprov_yookassa_new(env->http, &yo, &prov, err, errlen);
    } else if (!strcmp(cfg->pay_provider, "sber")) {
        payprov_sber_options_t so = {cfg->sber_url, cfg->sber_username, cfg->sber_password, cfg->sber_callback_key,
                                     back, fail, cfg->pay_expire_s};
        rc = payprov_sber_new(env->http, &so, &prov, err, errlen);
    } else {
        rc = payprov_fake_new(env->public_url, &prov);
    }
    if (rc) {
        if (!err[0])
            snprintf(err, errlen, "cannot set up the payment provider");
        return rc;
    }
    pay_options_t po = {cfg->pay_poll_s, cfg->pay_expire_s, env->public_url};
    return pay_new(env->loop, env->httpd, env->db, prov, &po, env->kick, env->kick_ctx, (pay_t **)self);
}

static outbox_t *pay_lane(void *self, const char *lane) { return pay_outbox(self); }
static void pay_free(void *self) { pay_close(self); }

const channel_def_t worker_pay = {.name = "pay", .lanes = {"pay", NULL}, .check = pay_check, .wanted = pay_wanted,
                                  .create = pay_create, .outbox = pay_lane, .close = pay_free};
