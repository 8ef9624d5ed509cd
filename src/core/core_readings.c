/* core_readings.c — the core operation "reading.submit": one value for one meter zone, inside the caller's
 * transaction, with the retailers' rules (meter.h): the value must parse and fit the meter's digits; a rollover or
 * a consumption above the threshold (the setting reading.warn_kwh, 50,000) needs the customer's confirmation; one
 * customer reading per meter, zone and local day — a second is answered with the time of the first (from the unique
 * index, never as an SQL error, also when two submissions race), or, where the retailer set reading.same_day to
 * "replace", takes the first's place while it has not gone to billing (its consumption counted from the reading
 * before today). Billing's own readings (network, inspection, receipt) never block a customer's. The readings window
 * is the branch's, or the kind of customer's own (the setting reading.window.business: non-residential premises
 * send in other days).
 *
 * args: {"meter_id", "zone" (1), "value" (as typed), "confirm" (false; true: all confirmed; "rollover": only the
 *        passing of zero, so that a consumption above the threshold is still asked about — both apply, in that order),
 *        "source" ("bot"), "event_id", "photo" (a file id),
 *        "customer_id" (optional), "now_ms" (when it was sent: the event's time; default now), "threshold_kwh"
 *        (default: the setting)}
 * result: {"status": "accepted", "reading_id", "consumption", "rollover", "local_day", "review", "replaced"}
 *       | {"status": "outside_window", "from", "to"}   (the branch refuses readings outside its window)
 *       | {"status": "confirm", "reason": "rollover"|"above_threshold", "consumption", "previous", "threshold"}
 *       | {"status": "already", "value", "first_at", "local_day"}
 *       | {"status": "invalid", "reason": "empty"|"not_a_number"|"negative"|"too_precise"|"too_many_digits"|"too_large"}
 *       | {"status": "no_meter"} */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include "core.h"
#include "err.h"
#include "meter.h"

typedef struct {
    db_t *db;
    db_txn_t *txn;
    core_cb cb;
    void *data;
    char meter[24], zone[8], source[16], event_id[160], customer[24], day[16], value_sql[40], conv[160];
    char photo[256];             /* a photo of the meter sent with the value (a file id), or "" */
    meter_milli_t value;
    int parse_rc;                /* why the typed value is not a reading, or 0 */
    int confirm_rollover;        /* the customer confirmed passing zero */
    int confirm_large;           /* … and a consumption above the threshold */
    int64_t now_ms, threshold_kwh;
    meter_calc_t calc;
    int has_previous;
    int review;                  /* outside the branch's window, kept "на проверке" */
    int replace;                 /* reading.same_day is "replace": a second reading today takes the first's place */
    int replaced;
    cJSON *pending_confirm;      /* the confirmation to ask for, once no reading of today was found */
    char cons[40], taken[24];
    const char *params[13];      /* the insert's parameters, again for a replacement */
} submit_t;

static const char *const sql_meter =
    "SELECT m.digits, m.ratio, m.zones, b.utc_offset_min, "
    " (SELECT r.value::text FROM kb_reading r WHERE r.meter_id = m.id AND r.zone = $2::smallint"
    "  AND r.status = 'accepted' ORDER BY r.local_day DESC, r.taken_at DESC, r.id DESC LIMIT 1), "
    /* the window: the kind of customer's own (reading.window.person|business), else the branch's */
    " coalesce((SELECT (value ->> 'from')::int FROM kb_setting WHERE key = 'reading.window.' || a.customer_kind),"
    "  b.window_from, 0),"
    " coalesce((SELECT (value ->> 'to')::int FROM kb_setting WHERE key = 'reading.window.' || a.customer_kind),"
    "  b.window_to, 0), b.outside_window, "
    " coalesce((SELECT value #>> '{}' FROM kb_setting WHERE key = 'reading.same_day'), 'refuse'), "
    " coalesce((SELECT (value #>> '{}')::bigint FROM kb_setting WHERE key = 'reading.warn_kwh'), 50000), "
    /* the reading before today's, for a replacement's consumption */
    " (SELECT r.value::text FROM kb_reading r WHERE r.meter_id = m.id AND r.zone = $2::smallint"
    "  AND r.status = 'accepted' AND r.local_day < kb_local_day(to_timestamp($3::double precision / 1000),"
    "  b.utc_offset_min) ORDER BY r.local_day DESC, r.taken_at DESC, r.id DESC LIMIT 1) "
    "FROM kb_meter m JOIN kb_account a ON a.id = m.account_id JOIN kb_branch b ON b.id = a.branch_id "
    "WHERE m.id = $1::bigint AND m.removed_on IS NULL";
/* the first reading of today, not yet gone to billing, replaced by the second (reading.same_day = "replace") */
static const char *const sql_replace =
    "WITH r AS (UPDATE kb_reading SET value = $3::numeric, consumption = $6::numeric, rollover = $7::boolean,"
    " event_id = $9, taken_at = to_timestamp($10::double precision / 1000), status = $11, photo_file = $13,"
    " customer_id = coalesce($8::bigint, customer_id)"
    " WHERE meter_id = $1::bigint AND zone = $2::smallint AND local_day = $4::date"
    " AND source IN ('bot', 'portal', 'customer') AND status <> 'rejected' AND export_batch IS NULL"
    " AND $5::text IS NOT NULL RETURNING id), "
    "a AS (INSERT INTO kb_audit (conv, event_id, what, details, customer_id, actor) SELECT $12, $9, 'reading.replace',"
    " json_build_object('reading_id', id, 'meter_id', $1::bigint, 'zone', $2::smallint, 'value', $3::numeric,"
    " 'status', $11), $8::bigint, 'customer' FROM r) "
    "SELECT id FROM r";
static const char *const sql_insert =
    "WITH r AS (INSERT INTO kb_reading (meter_id, zone, value, local_day, source, consumption, rollover, customer_id,"
    " event_id, taken_at, status, photo_file) VALUES ($1::bigint, $2::smallint, $3::numeric, $4::date, $5, $6::numeric,"
    " $7::boolean, $8::bigint, $9, to_timestamp($10::double precision / 1000), $11, $13) "
    " ON CONFLICT (meter_id, zone, local_day) WHERE source IN ('bot', 'portal', 'customer') AND status <> 'rejected' "
    " DO NOTHING RETURNING id), "
    "a AS (INSERT INTO kb_audit (conv, event_id, what, details, customer_id, actor) SELECT $12, $9, 'reading.submit',"
    " json_build_object('reading_id', id, 'meter_id', $1::bigint, 'zone', $2::smallint, 'value', $3::numeric,"
    " 'status', $11), $8::bigint, 'customer' FROM r) "
    "SELECT id FROM r";
static const char *const sql_first =
    "SELECT value::text, to_char(taken_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM kb_reading "
    "WHERE meter_id = $1::bigint AND zone = $2::smallint AND local_day = $3::date "
    "AND source IN ('bot', 'portal', 'customer') AND status <> 'rejected' ORDER BY id LIMIT 1";

/* ---------------------------------------------------------------- helpers */

static void finish(submit_t *s, int err, cJSON *result)
{
    s->cb(err, err ? NULL : result, s->data);
    if (err)
        cJSON_Delete(result);
    free(s);
}

/* A meter_milli_t as SQL numeric text ("29700.500"). */
static void sql_value(meter_milli_t v, char *buf, size_t size)
{
    snprintf(buf, size, "%lld.%03lld", (long long)(v / METER_SCALE), (long long)(v % METER_SCALE));
}

/* Parses SQL numeric text into thousandths. */
static meter_milli_t from_sql(const char *s)
{
    meter_milli_t v = 0;
    return meter_parse(s, 0, &v) == 0 ? v : 0;
}

static void add_reading(cJSON *r, const char *name, meter_milli_t v)
{
    char buf[40];
    meter_format(v, buf, sizeof buf);
    cJSON_AddStringToObject(r, name, buf);
}

/* ---------------------------------------------------------------- steps */

/* Today's customer reading, if any: "already" naming it; with none, the pending confirmation is the answer. */
static void on_first(int err, PGresult *res, void *data)
{
    submit_t *s = data;
    cJSON *confirm = s->pending_confirm;
    s->pending_confirm = NULL;
    if (!err && PQntuples(res) == 0 && confirm) {
        finish(s, 0, confirm);
        return;
    }
    cJSON_Delete(confirm);
    if (err || PQntuples(res) != 1) {
        finish(s, err ? err : KB_ERR_STATE, NULL);
        return;
    }
    cJSON *r = core_status("already");
    add_reading(r, "value", from_sql(PQgetvalue(res, 0, 0)));
    cJSON_AddStringToObject(r, "first_at", PQgetvalue(res, 0, 1));
    cJSON_AddStringToObject(r, "local_day", s->day);
    finish(s, 0, r);
}

static void on_insert(int err, PGresult *res, void *data)
{
    submit_t *s = data;
    if (err) {
        finish(s, err, NULL);
        return;
    }
    if (PQntuples(res) == 0 && s->replace && !s->replaced) { /* today's first, replaced while not exported */
        s->replaced = 1;
        int rc = db_txn_exec(s->txn, db_prepare(s->db, sql_replace), 13, s->params, on_insert, s);
        if (rc)
            finish(s, rc, NULL);
        return;
    }
    if (PQntuples(res) == 0) { /* a customer reading for this day exists (perhaps committed a moment ago) */
        s->replaced = 0;
        const char *p[] = {s->meter, s->zone, s->day};
        int rc = db_txn_exec(s->txn, db_prepare(s->db, sql_first), 3, p, on_first, s);
        if (rc)
            finish(s, rc, NULL);
        return;
    }
    cJSON *r = core_status("accepted");
    cJSON_AddNumberToObject(r, "reading_id", atof(PQgetvalue(res, 0, 0)));
    cJSON_AddBoolToObject(r, "review", s->review);
    cJSON_AddBoolToObject(r, "replaced", s->replaced);
    add_reading(r, "consumption", s->calc.consumption);
    cJSON_AddBoolToObject(r, "rollover", s->calc.rollover);
    cJSON_AddStringToObject(r, "local_day", s->day);
    finish(s, 0, r);
}

static const char *parse_reason(int rc)
{
    switch (rc) {
    case METER_EEMPTY: return "empty";
    case METER_ENEGATIVE: return "negative";
    case METER_EPRECISE: return "too_precise";
    case METER_EDIGITS: return "too_many_digits";
    case METER_EOVERFLOW: return "too_large";
    default: return "not_a_number";
    }
}

static cJSON *invalid(const char *reason)
{
    cJSON *r = core_status("invalid");
    cJSON_AddStringToObject(r, "reason", reason);
    return r;
}

/* The meter is known: check the value, compute, and store unless it needs a confirmation first. */
static void on_meter(int err, PGresult *res, void *data)
{
    submit_t *s = data;
    if (err) {
        finish(s, err, NULL);
        return;
    }
    if (PQntuples(res) != 1 || atoi(s->zone) < 1 || atoi(s->zone) > atoi(PQgetvalue(res, 0, 2))) {
        finish(s, 0, core_status("no_meter"));
        return;
    }
    if (s->parse_rc) {
        finish(s, 0, invalid(parse_reason(s->parse_rc)));
        return;
    }
    int digits = atoi(PQgetvalue(res, 0, 0));
    int64_t ratio = atoll(PQgetvalue(res, 0, 1)), span = 1;
    for (int i = 0; i < digits; i++)
        span *= 10;
    if (s->value / METER_SCALE >= span) { /* more whole digits than the meter shows */
        finish(s, 0, invalid("too_many_digits"));
        return;
    }
    s->replace = !strcmp(PQgetvalue(res, 0, 8), "replace");
    if (s->threshold_kwh <= 0)
        s->threshold_kwh = atoll(PQgetvalue(res, 0, 9)) > 0 ? atoll(PQgetvalue(res, 0, 9)) : 50000;
    int prev_col = s->replace ? 10 : 4; /* replacing today's: counted from the reading before today */
    int64_t day = meter_local_day(s->now_ms, atoi(PQgetvalue(res, 0, 3)));
    meter_day_format(day, s->day, sizeof s->day);
    /* the branch's window (say the 15th–26th): outside it a reading is refused or kept for review, as the
     * retailer set it */
    int from = atoi(PQgetvalue(res, 0, 5)), to = atoi(PQgetvalue(res, 0, 6)), dom = atoi(s->day + 8);
    if (from && (from <= to ? dom < from || dom > to : dom < from && dom > to)) {
        if (!strcmp(PQgetvalue(res, 0, 7), "refuse")) {
            cJSON *r = core_status("outside_window");
            cJSON_AddNumberToObject(r, "from", from);
            cJSON_AddNumberToObject(r, "to", to);
            finish(s, 0, r);
            return;
        }
        s->review = 1;
    }
    if (!PQgetisnull(res, 0, prev_col)) {
        meter_milli_t prev = from_sql(PQgetvalue(res, 0, prev_col));
        if (meter_consumption(prev, s->value, digits, ratio, s->threshold_kwh, &s->calc) != 0) {
            finish(s, 0, invalid("too_large"));
            return;
        }
        int ask_rollover = s->calc.rollover && !s->confirm_rollover,
            ask_large = s->calc.above_threshold && !s->confirm_large;
        if (ask_rollover || ask_large) {
            /* "already sent today" outranks a confirmation: look for today's reading first */
            cJSON *r = core_status("confirm");
            cJSON_AddStringToObject(r, "reason", ask_rollover ? "rollover" : "above_threshold");
            add_reading(r, "consumption", s->calc.consumption);
            add_reading(r, "previous", prev);
            cJSON_AddNumberToObject(r, "threshold", (double)s->threshold_kwh);
            if (s->replace) { /* a second reading today may take the first's place: ask at once */
                finish(s, 0, r);
                return;
            }
            s->pending_confirm = r;
            const char *p[] = {s->meter, s->zone, s->day};
            int rc = db_txn_exec(s->txn, db_prepare(s->db, sql_first), 3, p, on_first, s);
            if (rc) {
                cJSON_Delete(s->pending_confirm);
                finish(s, rc, NULL);
            }
            return;
        }
        s->has_previous = 1;
    }
    sql_value(s->calc.consumption, s->cons, sizeof s->cons);
    snprintf(s->taken, sizeof s->taken, "%lld", (long long)s->now_ms);
    const char *p[] = {s->meter, s->zone, s->value_sql, s->day, s->source, s->has_previous ? s->cons : NULL,
                       s->calc.rollover ? "true" : "false", s->customer[0] ? s->customer : NULL, s->event_id, s->taken,
                       s->review ? "review" : "accepted", s->conv, s->photo[0] ? s->photo : NULL};
    memcpy(s->params, p, sizeof p); /* kept for a replacement (they point into s) */
    int rc = db_txn_exec(s->txn, db_prepare(s->db, sql_insert), 13, p, on_insert, s);
    if (rc)
        finish(s, rc, NULL);
}

/* ---------------------------------------------------------------- the operation */

static int reading_submit(db_t *db, db_txn_t *txn, const char *conv, const cJSON *args, core_cb cb, void *data)
{
    const cJSON *meter = cJSON_GetObjectItemCaseSensitive(args, "meter_id"),
                *zone = cJSON_GetObjectItemCaseSensitive(args, "zone"),
                *value = cJSON_GetObjectItemCaseSensitive(args, "value"),
                *confirm = cJSON_GetObjectItemCaseSensitive(args, "confirm"),
                *source = cJSON_GetObjectItemCaseSensitive(args, "source"),
                *event = cJSON_GetObjectItemCaseSensitive(args, "event_id"),
                *customer = cJSON_GetObjectItemCaseSensitive(args, "customer_id"),
                *now = cJSON_GetObjectItemCaseSensitive(args, "now_ms"),
                *threshold = cJSON_GetObjectItemCaseSensitive(args, "threshold_kwh");
    if (!cJSON_IsNumber(meter) || !cJSON_IsString(value))
        return KB_ERR_INVAL;
    submit_t *s = calloc(1, sizeof *s);
    if (!s)
        return KB_ERR_NOMEM;
    s->db = db;
    s->txn = txn;
    s->cb = cb;
    s->data = data;
    snprintf(s->meter, sizeof s->meter, "%lld", (long long)meter->valuedouble);
    snprintf(s->zone, sizeof s->zone, "%d", cJSON_IsNumber(zone) ? zone->valueint : 1);
    snprintf(s->source, sizeof s->source, "%s", cJSON_IsString(source) ? source->valuestring : "bot");
    snprintf(s->conv, sizeof s->conv, "%s", conv);
    snprintf(s->photo, sizeof s->photo, "%s", core_arg_str(args, "photo") ? core_arg_str(args, "photo") : "");
    snprintf(s->event_id, sizeof s->event_id, "%s", cJSON_IsString(event) ? event->valuestring : "");
    if (cJSON_IsNumber(customer))
        snprintf(s->customer, sizeof s->customer, "%lld", (long long)customer->valuedouble);
    /* a value that does not parse is answered after the meter lookup, so that the answer always comes later */
    s->parse_rc = meter_parse(value->valuestring, 0, &s->value);
    sql_value(s->value, s->value_sql, sizeof s->value_sql);
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    s->now_ms = cJSON_IsNumber(now) ? (int64_t)now->valuedouble : (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
    s->threshold_kwh = cJSON_IsNumber(threshold) ? (int64_t)threshold->valuedouble : 0; /* 0: the setting */
    s->confirm_rollover = cJSON_IsTrue(confirm) || cJSON_IsString(confirm);
    s->confirm_large = cJSON_IsTrue(confirm) || (cJSON_IsString(confirm) && !strcmp(confirm->valuestring, "above_threshold"));
    char now_text[24];
    snprintf(now_text, sizeof now_text, "%lld", (long long)s->now_ms);
    const char *p[] = {s->meter, s->zone, now_text};
    int rc = db_txn_exec(txn, db_prepare(db, sql_meter), 3, p, on_meter, s);
    if (rc)
        free(s);
    return rc;
}

/* ---------------------------------------------------------------- reading.submit_many */

#define MANY_MAX 16

typedef struct {
    db_t *db;
    db_txn_t *txn;
    char conv[160];
    cJSON *args;                 /* a copy: the common fields, and "readings" */
    cJSON *results;
    int next, n;
    core_cb cb;
    void *data;
} many_t;

static void many_next(many_t *m);

static void many_done(many_t *m, int err)
{
    cJSON *r = NULL;
    if (!err) {
        r = core_status("done");
        cJSON_AddItemToObject(r, "results", m->results);
        m->results = NULL;
    }
    m->cb(err, r, m->data);
    cJSON_Delete(m->results);
    cJSON_Delete(m->args);
    free(m);
}

static void many_step(int err, cJSON *result, void *data)
{
    many_t *m = data;
    if (err) {
        many_done(m, err);
        return;
    }
    const cJSON *item = cJSON_GetArrayItem(cJSON_GetObjectItem(m->args, "readings"), m->next);
    const cJSON *reason = cJSON_GetObjectItem(result, "reason");
    if (cJSON_IsString(reason) && !strcmp(reason->valuestring, "empty")) { /* a blank value skips its meter */
        cJSON_Delete(result);
        result = core_status("skipped");
    }
    cJSON_AddItemToObject(result, "meter_id", cJSON_Duplicate(cJSON_GetObjectItem(item, "meter_id"), 1));
    cJSON_AddNumberToObject(result, "zone", cJSON_IsNumber(cJSON_GetObjectItem(item, "zone")) ?
                                                cJSON_GetObjectItem(item, "zone")->valueint : 1);
    cJSON_AddItemToArray(m->results, result);
    m->next++;
    many_next(m);
}

/* Submits entry m->next as a reading.submit of its own, with the common fields. Returns its rc (cb not called). */
static int many_start(many_t *m)
{
    cJSON *one = cJSON_Duplicate(m->args, 1), *field;
    cJSON_DeleteItemFromObject(one, "readings");
    cJSON_ArrayForEach(field, cJSON_GetArrayItem(cJSON_GetObjectItem(m->args, "readings"), m->next))
    {
        cJSON_DeleteItemFromObject(one, field->string);
        cJSON_AddItemToObject(one, field->string, cJSON_Duplicate(field, 1));
    }
    int rc = reading_submit(m->db, m->txn, m->conv, one, many_step, m);
    cJSON_Delete(one);
    return rc;
}

static void many_next(many_t *m)
{
    int rc = m->next == m->n ? 0 : many_start(m);
    if (m->next == m->n || rc)
        many_done(m, rc);
}

/* reading.submit_many {"readings": [{meter_id, zone, value, confirm}…] (1 to 16), and reading.submit's common fields
 * (customer_id, event_id, now_ms, source, threshold_kwh)}: the meters of an account in one go, in order, in the
 * caller's transaction; a blank value skips its meter zone (the seeds' rule). → {"status": "done", "results":
 * [reading.submit's result with meter_id and zone, or {"status": "skipped", …}]} */
static int reading_submit_many(db_t *db, db_txn_t *txn, const char *conv, const cJSON *args, core_cb cb, void *data)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(args, "readings"), *item;
    int n = cJSON_GetArraySize(list);
    if (!cJSON_IsArray(list) || n < 1 || n > MANY_MAX)
        return KB_ERR_INVAL;
    cJSON_ArrayForEach(item, list)
        if (!cJSON_IsNumber(cJSON_GetObjectItem(item, "meter_id")) || !cJSON_IsString(cJSON_GetObjectItem(item, "value")))
            return KB_ERR_INVAL;
    many_t *m = calloc(1, sizeof *m);
    if (!m || !(m->args = cJSON_Duplicate(args, 1)) || !(m->results = cJSON_CreateArray())) {
        if (m)
            cJSON_Delete(m->args);
        free(m);
        return KB_ERR_NOMEM;
    }
    m->db = db;
    m->txn = txn;
    m->n = n;
    m->cb = cb;
    m->data = data;
    snprintf(m->conv, sizeof m->conv, "%s", conv);
    int rc = many_start(m);
    if (rc) { /* the first could not even start: nothing was queued */
        cJSON_Delete(m->results);
        cJSON_Delete(m->args);
        free(m);
    }
    return rc;
}

/* ---------------------------------------------------------------- reading.targets */

/* reading.targets {customer_id} → {"status": "ok", "accounts": [{account_id, number, address, meters: [{meter_id,
 * serial, model, zones, digits, verify_by, verify_due (passed or within 90 days), last: [{zone, value, day}]}]}]}:
 * what the customer can send readings for, with the previous reading of each zone (its value and local day). */
static const core_sql_op_t op_targets = {
    {{"customer_id", 'i', 1}},
    {"SELECT json_build_object('status', 'ok', 'accounts', coalesce(json_agg(json_build_object('account_id', a.id,"
     " 'number', a.number, 'address', a.address, 'meters', (SELECT coalesce(json_agg(json_build_object('meter_id', m.id,"
     "  'serial', m.serial, 'model', m.model, 'zones', m.zones, 'digits', m.digits,"
     "  'verify_by', to_char(m.verify_by, 'DD.MM.YYYY'), 'verify_due', m.verify_by < current_date + 90,"
     "  'last', (SELECT json_agg(json_build_object('zone', z, 'value', r.value::text,"
     "    'day', to_char(r.local_day, 'DD.MM.YYYY')) ORDER BY z) FROM generate_series(1, m.zones) z"
     "    LEFT JOIN LATERAL (SELECT value, local_day FROM kb_reading WHERE meter_id = m.id AND zone = z"
     "     AND status = 'accepted' ORDER BY local_day DESC, id DESC LIMIT 1) r ON true)) ORDER BY m.id), '[]')"
     "  FROM kb_meter m WHERE m.account_id = a.id AND m.removed_on IS NULL))"
     " ORDER BY l.is_primary DESC, l.created_at, l.id), '[]'))::text "
     "FROM kb_account_link l JOIN kb_account a ON a.id = l.account_id "
     "WHERE l.customer_id = $1::bigint AND l.status = 'active'"}};

CORE_SQL_OP(reading_targets, op_targets)

void core_readings_register(void)
{
    core_register_query("reading.targets", reading_targets);
    core_register("reading.submit", reading_submit);
    core_register("reading.submit_many", reading_submit_many);
}
