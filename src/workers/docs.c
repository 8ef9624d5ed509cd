/* docs.c — the "doc" channel's sender: data → PDF (or the ledger's PNG chart) off the loop → kb_file → the reply with
 * its document (docs.h). The data of bills, business documents and charts is read where reads may lag (core_reader:
 * the replica when there is one); receipts, the file and the reply are the primary's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "chart.h"
#include "core.h"
#include "doc.h"
#include "doc_bill.h"
#include "doc_biz.h"
#include "doc_receipt.h"
#include "docs.h"
#include "err.h"
#include "log.h"
#include "text.h"

struct docs_s {
    uv_loop_t *loop;
    db_t *db;
    outbox_t *out;
    engine_outbox_hook kick;
    void *kick_ctx;
    int jobs, closing;
    char file_base[300];           /* "<public_url>/f/": a file's short link is this and its token */
    const db_stmt_t *q_reply, *q_file;
};

/* One document in the making. */
typedef struct {
    docs_t *d;
    outbox_ticket_t *t;
    enum { DOC_CHECK, DOC_BILL, DOC_CHART, DOC_BIZ } kind;
    cJSON *data;                   /* receipt.get's answer or the bill's data */
    char conv[160], event[200], lang[4], name[64], tmpl[32], to[128];
    int lane;                      /* the request's: an e-bill is a push */
    unsigned char *pdf;            /* the file: a PDF, or the chart's PNG */
    size_t pdf_len;
    char err[160];
    uv_work_t work;
} doc_job_t;

static void job_done(doc_job_t *j, outbox_result_t r, const char *error)
{
    docs_t *d = j->d;
    outbox_done(j->t, r, -1, error);
    cJSON_Delete(j->data);
    free(j->pdf);
    free(j);
    if (--d->jobs == 0 && d->closing)
        free(d);
}

/* ---------------------------------------------------------------- the reply */

static void on_written(int err, PGresult *res, void *data)
{
    doc_job_t *j = data;
    if (err) {
        job_done(j, OUTBOX_RETRY, "cannot record the reply");
        return;
    }
    if (PQntuples(res) == 1)
        j->d->kick(j->d->kick_ctx, PQgetvalue(res, 0, 0));
    job_done(j, OUTBOX_SENT, NULL);
}

/* Writes the reply: template tmpl with params, and the PDF when there is one. */
static void write_reply(doc_job_t *j, const char *tmpl, cJSON *params)
{
    char *hex = NULL;
    if (j->pdf) {
        hex = malloc(2 * j->pdf_len + 1);
        if (!hex) {
            cJSON_Delete(params);
            job_done(j, OUTBOX_RETRY, "out of memory");
            return;
        }
        for (size_t i = 0; i < j->pdf_len; i++)
            sprintf(hex + 2 * i, "%02x", j->pdf[i]);
        hex[2 * j->pdf_len] = 0;
    }
    char *pj = cJSON_PrintUnformatted(params);
    cJSON_Delete(params);
    const char *qp[] = {j->name, hex, j->conv, j->event, tmpl, j->lang, pj, j->d->file_base, j->lane ? "1" : "0",
                        j->kind == DOC_CHART ? "image/png" : "application/pdf"};
    if (!pj || db_exec(j->d->db, 0, j->d->q_reply, 10, qp, on_written, j) != 0)
        job_done(j, OUTBOX_RETRY, "postgres unavailable");
    free(pj);
    free(hex);
}

/* ---------------------------------------------------------------- rendering */

/* The ledger's rows (account.ledger: the months, and each zone's kWh) as the chart. */
static int chart(doc_job_t *j)
{
    chart_month_t m[CHART_MAX_MONTHS];
    int n = 0, zones = (int)doc_num(j->data, "zones");
    const cJSON *r, *z;
    cJSON_ArrayForEach(r, cJSON_GetObjectItem(j->data, "rows")) if (n < CHART_MAX_MONTHS)
    {
        memset(&m[n], 0, sizeof m[n]);
        snprintf(m[n].month, sizeof m[n].month, "%s", doc_str(r, "month"));
        m[n].charged_kopecks = doc_num(r, "charged_kopecks");
        m[n].paid_kopecks = doc_num(r, "paid_kopecks");
        m[n].consumed_kwh = atof(doc_str(r, "consumed_kwh"));
        int k = 0;
        cJSON_ArrayForEach(z, cJSON_GetObjectItem(r, "zones_kwh")) if (k < CHART_MAX_ZONES)
            m[n].zone_kwh[k++] = atof(cJSON_GetStringValue(z) ?: "0");
        n++;
    }
    chart_t c = {j->lang, doc_str(j->data, "number"), zones >= 1 && zones <= CHART_MAX_ZONES ? zones : 1, m, n};
    return n ? chart_png(&c, &j->pdf, &j->pdf_len) : KB_ERR_INVAL;
}

static void render(uv_work_t *w)
{
    doc_job_t *j = w->data;
    int rc = j->kind == DOC_BILL    ? doc_bill_pdf(j->data, j->lang, &j->pdf, &j->pdf_len, j->err, sizeof j->err)
             : j->kind == DOC_CHART ? chart(j)
             : j->kind == DOC_BIZ   ? doc_biz_pdf(j->data, j->lang, &j->pdf, &j->pdf_len, j->err, sizeof j->err)
                                    : doc_receipt_pdf(j->data, j->lang, &j->pdf, &j->pdf_len, j->err, sizeof j->err);
    if (rc) {
        free(j->pdf);
        j->pdf = NULL;
    }
}

static void rendered(uv_work_t *w, int status)
{
    doc_job_t *j = w->data;
    if (status) {
        job_done(j, OUTBOX_RETRY, "canceled");
        return;
    }
    if (j->kind == DOC_CHART) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddNumberToObject(p, "months", cJSON_GetArraySize(cJSON_GetObjectItem(j->data, "rows")));
        write_reply(j, j->pdf ? "his.chart" : "his.empty", p);
        return;
    }
    if (j->kind == DOC_BIZ) {
        if (!j->pdf) {
            log_error("doc", "cannot render a business document: %s", j->err);
            job_done(j, OUTBOX_DEAD, "cannot render the document");
            return;
        }
        char key[48], title[300];
        snprintf(key, sizeof key, "doc.title_%s", doc_str(j->data, "kind"));
        txt_render(j->lang, key, j->data, title, sizeof title);
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "title", title);
        write_reply(j, "doc.sent", p);
        return;
    }
    if (j->kind == DOC_BILL) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "account", cJSON_GetStringValue(cJSON_GetObjectItem(j->data, "account")) ?: "");
        cJSON_AddStringToObject(p, "month", cJSON_GetStringValue(cJSON_GetObjectItem(j->data, "month")) ?: "");
        cJSON_AddNumberToObject(p, "due", cJSON_GetNumberValue(cJSON_GetObjectItem(j->data, "due")));
        if (!j->pdf) /* the branch's bank details are not usable: the customer hears it, staff read the log */
            log_error("doc", "cannot make the bill of account %s: %s", cJSON_GetStringValue(cJSON_GetObjectItem(
                j->data, "account")) ?: "?", j->err);
        write_reply(j, j->pdf ? (j->tmpl[0] ? j->tmpl : "bill.sent") : "bill.unavailable", p);
        return;
    }
    if (!j->pdf) {
        log_error("doc", "cannot render a check: %s", j->err);
        job_done(j, OUTBOX_RETRY, "cannot render the check");
        return;
    }
    write_reply(j, "pay.check", doc_receipt_params(j->data));
}

static void start_render(doc_job_t *j)
{
    j->work.data = j;
    if (uv_queue_work(j->d->loop, &j->work, render, rendered) != 0)
        job_done(j, OUTBOX_RETRY, "cannot render now");
}

/* ---------------------------------------------------------------- the data */

static void on_receipt(int err, cJSON *result, void *data)
{
    doc_job_t *j = data;
    const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(result, "status"));
    if (err || !st) {
        cJSON_Delete(result);
        job_done(j, OUTBOX_RETRY, "postgres unavailable");
        return;
    }
    const char *conv = cJSON_GetStringValue(cJSON_GetObjectItem(result, "conv"));
    if (strcmp(st, "ok") || !cJSON_IsObject(cJSON_GetObjectItem(result, "fiscal")) || !conv) {
        cJSON_Delete(result);
        job_done(j, OUTBOX_DEAD, "no fiscal receipt or no conversation for this payment");
        return;
    }
    j->data = result;
    snprintf(j->conv, sizeof j->conv, "%s", j->to[0] ? j->to : conv); /* a copy to the email the payer gave */
    snprintf(j->lang, sizeof j->lang, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(result, "lang")) ?: "ru");
    snprintf(j->event, sizeof j->event, "check:%s", cJSON_GetStringValue(cJSON_GetObjectItem(result, "order_id")) ?: "");
    snprintf(j->name, sizeof j->name, "check-%s.pdf", cJSON_GetStringValue(cJSON_GetObjectItem(result, "order_id")) ?: "");
    start_render(j);
}

static void on_ledger(int err, cJSON *result, void *data)
{
    doc_job_t *j = data;
    if (err || !result) {
        cJSON_Delete(result);
        job_done(j, OUTBOX_RETRY, "postgres unavailable");
        return;
    }
    j->data = result;
    start_render(j);
}

/* A bill's or a business document's data (one JSON row): named, then rendered; no row: there is nothing to send. */
static void on_data(int err, PGresult *res, void *data)
{
    doc_job_t *j = data;
    if (err) {
        job_done(j, OUTBOX_RETRY, "postgres unavailable");
        return;
    }
    j->data = PQntuples(res) == 1 ? cJSON_Parse(PQgetvalue(res, 0, 0)) : NULL;
    if (!j->data) {
        job_done(j, OUTBOX_DEAD, j->kind == DOC_BIZ ? "no such business account" : "no such bill");
        return;
    }
    if (j->kind == DOC_BIZ)
        snprintf(j->name, sizeof j->name, "%s-%s-%s.pdf", doc_str(j->data, "kind"), doc_str(j->data, "number"),
                 doc_str(j->data, "from"));
    else
        snprintf(j->name, sizeof j->name, "bill-%s-%s.pdf", doc_str(j->data, "account"), doc_str(j->data, "period"));
    start_render(j);
}

/* Reads a bill's or a business document's data (sql, one JSON row) where reads may lag (core_reader). */
static int read_data(doc_job_t *j, const char *sql, int n, const char *const *params)
{
    db_t *db = core_reader(j->d->db);
    const db_stmt_t *st = db_prepare(db, sql);
    return st ? db_exec(db, 0, st, n, params, on_data, j) : KB_ERR_NOMEM;
}

/* The request's kind, the conversation the document goes to, its language and the reply's event ("<prefix>:<the
 * request's event>"); -1 when the request names no conversation. */
static int addressed(doc_job_t *j, const outbox_msg_t *m, int kind, const char *prefix)
{
    const char *conv = cJSON_GetStringValue(cJSON_GetObjectItem(m->payload, "conv")),
               *lang = cJSON_GetStringValue(cJSON_GetObjectItem(m->payload, "lang"));
    if (!conv)
        return -1;
    j->kind = kind;
    snprintf(j->conv, sizeof j->conv, "%s", conv);
    snprintf(j->lang, sizeof j->lang, "%s", lang && !strcmp(lang, "en") ? "en" : "ru");
    snprintf(j->event, sizeof j->event, "%s:%s", prefix, m->event_id);
    return 0;
}

static void deliver(void *ctx, const outbox_msg_t *m, outbox_ticket_t *t)
{
    docs_t *d = ctx;
    doc_job_t *j = calloc(1, sizeof *j);
    const char *kind = cJSON_GetStringValue(cJSON_GetObjectItem(m->payload, "kind"));
    if (!j || !kind) {
        free(j);
        outbox_done(t, OUTBOX_DEAD, 0, "not a document request");
        return;
    }
    j->d = d;
    j->t = t;
    j->lane = m->lane;
    d->jobs++;
    const char *tmpl = cJSON_GetStringValue(cJSON_GetObjectItem(m->payload, "tmpl"));
    const char *to = cJSON_GetStringValue(cJSON_GetObjectItem(m->payload, "to"));
    snprintf(j->tmpl, sizeof j->tmpl, "%s", tmpl && !strncmp(tmpl, "bill.", 5) ? tmpl : "");
    snprintf(j->to, sizeof j->to, "%s", to && !strncmp(to, "mail:", 5) ? to : "");
    int rc;
    if (!strcmp(kind, "bill")) {
        const char *account = cJSON_GetStringValue(cJSON_GetObjectItem(m->payload, "account"));
        const char *month = cJSON_GetStringValue(cJSON_GetObjectItem(m->payload, "month"));
        if (!account || addressed(j, m, DOC_BILL, "bill") != 0) {
            job_done(j, OUTBOX_DEAD, "a bill request without account or conversation");
            return;
        }
        const char *params[] = {account, month};
        rc = read_data(j, doc_bill_sql, 2, params);
    } else if (!strcmp(kind, "biz")) { /* a business's document for a period */
        const char *account = cJSON_GetStringValue(cJSON_GetObjectItem(m->payload, "account")),
                   *doc = cJSON_GetStringValue(cJSON_GetObjectItem(m->payload, "doc")),
                   *from = cJSON_GetStringValue(cJSON_GetObjectItem(m->payload, "from")),
                   *to = cJSON_GetStringValue(cJSON_GetObjectItem(m->payload, "to"));
        if (!account || !doc || !from || !to || addressed(j, m, DOC_BIZ, "biz") != 0) {
            job_done(j, OUTBOX_DEAD, "a document request without its account, kind, period or conversation");
            return;
        }
        const char *params[] = {account, doc, from, to};
        rc = read_data(j, doc_biz_sql, 4, params);
    } else if (!strcmp(kind, "chart")) { /* the ledger as a picture, for the conversation that asked */
        const cJSON *account = cJSON_GetObjectItem(m->payload, "account_id");
        if (!cJSON_IsNumber(account) || addressed(j, m, DOC_CHART, "chart") != 0) {
            job_done(j, OUTBOX_DEAD, "a chart request without account or conversation");
            return;
        }
        snprintf(j->name, sizeof j->name, "ledger-%lld.png", (long long)account->valuedouble);
        cJSON *a = cJSON_CreateObject();
        cJSON_AddItemToObject(a, "account_id", cJSON_Duplicate(account, 1));
        cJSON_AddStringToObject(a, "staff", "doc"); /* the request was made by the linked customer's dialog */
        rc = core_run(d->db, "account.ledger", m->conv, a, on_ledger, j);
        cJSON_Delete(a);
    } else {
        const cJSON *id = cJSON_GetObjectItem(m->payload, "payment_id");
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "payment_id", cJSON_GetNumberValue(id));
        cJSON_AddStringToObject(a, "staff", "doc");
        rc = cJSON_IsNumber(id) ? core_run(d->db, "receipt.get", m->conv, a, on_receipt, j) : KB_ERR_INVAL;
        cJSON_Delete(a);
    }
    if (rc)
        job_done(j, rc == KB_ERR_INVAL ? OUTBOX_DEAD : OUTBOX_RETRY, "cannot read the document's data");
}

/* ---------------------------------------------------------------- a file by its short link */

typedef struct {
    docs_t *d;
    httpd_req_t *r;
} file_req_t;

static void on_file(int err, PGresult *res, void *data)
{
    file_req_t *q = data;
    docs_t *d = q->d;
    if (err) {
        httpd_respond(q->r, 503, "text/plain", "try again\n", 10);
    } else if (PQntuples(res) != 1) {
        httpd_respond(q->r, 404, "text/plain", "no such file, or its link has expired\n", 38);
    } else {
        size_t n = 0;
        unsigned char *bytes = PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 2), &n);
        char disp[160];
        snprintf(disp, sizeof disp, "inline; filename=\"%s\"", PQgetvalue(res, 0, 1));
        httpd_set_header(q->r, "Content-Disposition", disp);
        httpd_set_header(q->r, "Cache-Control", "private, no-store");
        if (bytes)
            httpd_respond(q->r, 200, PQgetvalue(res, 0, 0), (const char *)bytes, n);
        else
            httpd_respond(q->r, 503, "text/plain", "try again\n", 10);
        PQfreemem(bytes);
    }
    free(q);
    if (--d->jobs == 0 && d->closing)
        free(d);
}

/* GET /f/<token>: a document kabinet made for a customer (a check, a bill), for 90 days, by its unguessable link. */
static void on_file_req(httpd_req_t *r, void *data)
{
    docs_t *d = data;
    const char *token = httpd_path(r) + 3;
    file_req_t *q = strlen(token) == 16 && strspn(token, "0123456789abcdef") == 16 ? malloc(sizeof *q) : NULL;
    if (!q) {
        httpd_respond(r, 404, "text/plain", "no such file, or its link has expired\n", 38);
        return;
    }
    q->d = d;
    q->r = r;
    d->jobs++;
    const char *params[] = {token};
    if (db_exec(d->db, 0, d->q_file, 1, params, on_file, q) != 0) {
        d->jobs--;
        free(q);
        httpd_respond(r, 503, "text/plain", "try again\n", 10);
    }
}

/* ---------------------------------------------------------------- lifecycle */

int docs_new(uv_loop_t *loop, httpd_t *h, db_t *db, const char *public_url, engine_outbox_hook kick, void *kick_ctx,
             docs_t **out)
{
    docs_t *d = calloc(1, sizeof *d);
    if (!d)
        return KB_ERR_NOMEM;
    snprintf(d->file_base, sizeof d->file_base, "%s/f/", public_url);
    httpd_route(h, "GET", "/f/*", on_file_req, d);
    d->loop = loop;
    d->db = db;
    d->kick = kick;
    d->kick_ctx = kick_ctx;
    /* the reply, once (keyed by the request); the PDF stored once per content */
    d->q_reply = db_prepare(db,
        "WITH t AS (SELECT p.id, p.token FROM kb_file_put($1, $10, decode($2, 'hex')) p) "
        "SELECT split_part($3, ':', 1) AS channel FROM t WHERE kb_outbox_put($3, split_part($3, ':', 1), $9::int, $4, 0,"
        " jsonb_build_object('tmpl', $5::text, 'lang', $6::text, 'params',"
        " $7::jsonb || CASE WHEN t.token IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('file_url', $8 || t.token) END)"
        " || CASE WHEN t.id IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('document', jsonb_build_object('file', t.id))"
        " END) IS NOT NULL");
    d->q_file = db_prepare(db, "SELECT mime, name, bytes FROM kb_file WHERE token = $1"
                               " AND created_at > now() - interval '90 days'");
    outbox_options_t oo = {{8, 8}, 20, 500, 30};
    int rc = outbox_new(loop, db, "doc", deliver, d, &oo, &d->out);
    if (rc) {
        free(d);
        return rc;
    }
    *out = d;
    return outbox_start(d->out);
}

outbox_t *docs_outbox(docs_t *d) { return d->out; }

void docs_close(docs_t *d)
{
    outbox_close(d->out);
    d->closing = 1;
    if (d->jobs == 0)
        free(d);
}

/* ---------------------------------------------------------------- the worker's seam (channel.h) */

static int docs_wanted(const cfg_t *cfg) { return 1; }

static int docs_create(const channel_env_t *env, void **self, char *err, size_t errlen)
{
    return docs_new(env->loop, env->httpd, env->db, env->public_url, env->kick, env->kick_ctx, (docs_t **)self);
}

static outbox_t *docs_lane(void *self, const char *lane) { return docs_outbox(self); }
static void docs_free(void *self) { docs_close(self); }

const channel_def_t worker_docs = {.name = "doc", .lanes = {"doc", NULL}, .wanted = docs_wanted,
                                   .create = docs_create, .outbox = docs_lane, .close = docs_free};
