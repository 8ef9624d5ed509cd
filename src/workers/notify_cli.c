/* notify_cli.c — `kabinetd notify …`, the operator's handle on notifications (see notify.h):
 *
 *   kabinetd notify status                         jobs, broadcasts with their progress, what is pending
 *   kabinetd notify broadcast --name N --text T [--text-en T] [--channels tg,mail,sms] [--paid]
 *   kabinetd notify pause <broadcast id | job>     a broadcast stops going out (within KABINET_NOTIFY_LEAD_S)
 *   kabinetd notify resume <broadcast id | job>
 *   kabinetd notify cancel <broadcast id>          what it has not sent is never sent
 *
 * Blocking libpq (pgcli): a command-line step beside the server, never on its loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "notify.h"
#include "pgcli.h"

static const char *option(int argc, char **argv, const char *name)
{
    for (int i = 2; i + 1 < argc; i++)
        if (!strcmp(argv[i], name))
            return argv[i + 1];
    return NULL;
}

static int has_flag(int argc, char **argv, const char *name)
{
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], name))
            return 1;
    return 0;
}

/* Prints every row of r as tab-separated columns under a header. */
static void print_rows(FILE *out, const char *title, PGresult *r)
{
    fprintf(out, "%s\n", title);
    for (int c = 0; c < PQnfields(r); c++)
        fprintf(out, "%s%s", c ? "\t" : "  ", PQfname(r, c));
    fputc('\n', out);
    for (int i = 0; i < PQntuples(r); i++) {
        for (int c = 0; c < PQnfields(r); c++)
            fprintf(out, "%s%s", c ? "\t" : "  ", PQgetisnull(r, i, c) ? "-" : PQgetvalue(r, i, c));
        fputc('\n', out);
    }
}

static int status(PGconn *pg, FILE *out, char *err, size_t errlen)
{
    static const char *const q[][2] = {
        {"jobs:", "SELECT name, CASE WHEN paused THEN 'paused' ELSE 'on' END AS state, every_s,"
                  " CASE WHEN next_run_at = '-infinity' THEN 'now' ELSE to_char(next_run_at AT TIME ZONE 'UTC',"
                  " 'YYYY-MM-DD HH24:MI:SS') END AS next_run_utc, runs, last_by, last_result FROM kb_job ORDER BY name"},
        {"broadcasts:", "SELECT b.id, b.name, b.status, b.paid, array_to_string(b.channels, ',') AS channels, b.planned,"
                        " count(*) FILTER (WHERE n.state = 'queued') AS queued,"
                        " count(*) FILTER (WHERE o.sent_at IS NOT NULL) AS sent,"
                        " count(*) FILTER (WHERE n.state IN ('pending', 'held')) AS waiting,"
                        " count(*) FILTER (WHERE n.state = 'skipped') AS skipped"
                        " FROM kb_broadcast b LEFT JOIN kb_notice n ON n.broadcast_id = b.id"
                        " LEFT JOIN kb_outbox o ON o.conv = n.conv AND o.event_id = 'notice:' || n.id AND o.seq = 0"
                        " GROUP BY b.id ORDER BY b.id DESC LIMIT 20"},
        {"notices (last 40 days):", "SELECT kind, state, coalesce(why, '') AS why, count(*) FROM kb_notice"
                                    " WHERE created_at > now() - interval '40 days' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"},
    };
    for (size_t i = 0; i < sizeof q / sizeof *q; i++) {
        PGresult *r = pgcli_exec(pg, q[i][1], 0, NULL, err, errlen);
        if (!r)
            return KB_ERR_IO;
        print_rows(out, q[i][0], r);
        PQclear(r);
    }
    return 0;
}

static int broadcast(const cfg_t *cfg, PGconn *pg, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
    const char *name = option(argc, argv, "--name"), *text = option(argc, argv, "--text"),
               *text_en = option(argc, argv, "--text-en"), *channels = option(argc, argv, "--channels");
    int paid = has_flag(argc, argv, "--paid");
    if (!name || !text || !*text) {
        snprintf(err, errlen, "a broadcast needs --name and --text");
        return KB_ERR_INVAL;
    }
    if (paid && !cfg->tg_paid_broadcast) {
        snprintf(err, errlen, "--paid needs KABINET_TELEGRAM_PAID_BROADCAST=on (paid broadcasts cost Telegram Stars)");
        return KB_ERR_INVAL;
    }
    const char *p[] = {name, text, text_en, channels ? channels : "tg,mail", paid ? "true" : "false"};
    PGresult *r = pgcli_exec(pg,
        "INSERT INTO kb_broadcast (name, text_ru, text_en, channels, paid) "
        "SELECT $1, $2, $3, string_to_array($4, ','), $5::boolean "
        "WHERE string_to_array($4, ',') <@ ARRAY['tg', 'sms', 'mail'] AND cardinality(string_to_array($4, ',')) > 0 "
        "RETURNING id", 5, p, err, errlen);
    if (!r)
        return KB_ERR_INVAL;
    int ok = PQntuples(r) == 1;
    if (ok)
        fprintf(out, "broadcast %s planned: it goes out as the scheduler reaches it (kabinetd notify status)\n",
                PQgetvalue(r, 0, 0));
    else
        snprintf(err, errlen, "--channels must be some of tg, mail, sms separated by commas");
    PQclear(r);
    return ok ? 0 : KB_ERR_INVAL;
}

/* pause, resume, cancel: a broadcast by its number, a job by its name. */
static int control(PGconn *pg, const char *what, const char *target, FILE *out, char *err, size_t errlen)
{
    int is_id = target[0] && strspn(target, "0123456789") == strlen(target);
    const char *sql = NULL;
    if (!is_id && strcmp(what, "cancel"))
        sql = !strcmp(what, "pause") ? "UPDATE kb_job SET paused = true WHERE name = $1 RETURNING name"
                                     : "UPDATE kb_job SET paused = false WHERE name = $1 RETURNING name";
    else if (is_id && !strcmp(what, "pause"))
        sql = "WITH b AS (UPDATE kb_broadcast SET status = 'paused' WHERE id = $1::bigint"
              " AND status IN ('planning', 'running') RETURNING id), "
              "h AS (UPDATE kb_notice SET state = 'held' WHERE broadcast_id IN (SELECT id FROM b) AND state = 'pending') "
              "SELECT id FROM b";
    else if (is_id && !strcmp(what, "resume"))
        sql = "WITH b AS (UPDATE kb_broadcast SET status = CASE WHEN planned_all THEN 'running' ELSE 'planning' END"
              " WHERE id = $1::bigint AND status = 'paused' RETURNING id), "
              "h AS (UPDATE kb_notice SET state = 'pending' WHERE broadcast_id IN (SELECT id FROM b) AND state = 'held') "
              "SELECT id FROM b";
    else if (is_id)
        sql = "WITH b AS (UPDATE kb_broadcast SET status = 'cancelled', finished_at = now() WHERE id = $1::bigint"
              " AND status IN ('planning', 'running', 'paused') RETURNING id), "
              "h AS (UPDATE kb_notice SET state = 'skipped', why = 'cancelled' WHERE broadcast_id IN (SELECT id FROM b)"
              " AND state IN ('pending', 'held')) SELECT id FROM b";
    else {
        snprintf(err, errlen, "cancel takes a broadcast's number");
        return KB_ERR_INVAL;
    }
    const char *p[] = {target};
    PGresult *r = pgcli_exec(pg, sql, 1, p, err, errlen);
    if (!r)
        return KB_ERR_INVAL;
    int ok = PQntuples(r) == 1;
    PQclear(r);
    if (!ok) {
        snprintf(err, errlen, is_id ? "no broadcast %s that can be %s" : "no job %s%s", target,
                 is_id ? (!strcmp(what, "pause") ? "paused" : !strcmp(what, "resume") ? "resumed" : "cancelled") : "");
        return KB_ERR_INVAL;
    }
    fprintf(out, "%s %s: %s\n", is_id ? "broadcast" : "job", target,
            !strcmp(what, "pause") ? "paused" : !strcmp(what, "resume") ? "resumed" : "cancelled");
    return 0;
}

int notify_cli(const cfg_t *cfg, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
    const char *what = argc > 2 ? argv[2] : "status";
    int known = !strcmp(what, "status") || !strcmp(what, "broadcast") || !strcmp(what, "pause") ||
                !strcmp(what, "resume") || !strcmp(what, "cancel");
    if (!known || ((!strcmp(what, "pause") || !strcmp(what, "resume") || !strcmp(what, "cancel")) && argc != 4)) {
        snprintf(err, errlen, "usage: kabinetd notify status | broadcast --name N --text T [--text-en T] "
                              "[--channels tg,mail,sms] [--paid] | pause|resume <broadcast id|job> | cancel <id>");
        return KB_ERR_INVAL;
    }
    PGconn *pg = pgcli_connect(cfg->database_url, err, errlen);
    if (!pg)
        return KB_ERR_NOTCONN;
    int rc = !strcmp(what, "status")      ? status(pg, out, err, errlen)
             : !strcmp(what, "broadcast") ? broadcast(cfg, pg, argc, argv, out, err, errlen)
                                          : control(pg, what, argv[3], out, err, errlen);
    PQfinish(pg);
    return rc;
}
