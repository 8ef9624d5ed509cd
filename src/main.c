/* main.c — kabinetd's entry point: picks the subcommand and loads the configuration.
 *
 *   kabinetd serve     run the bot (webhooks, engine, senders) — the default
 *   kabinetd migrate   apply the migrations of sql/ compiled into this binary
 *   kabinetd config    print the table of KABINET_* variables (README's configuration section)
 *   kabinetd version   print the version
 *   kabinetd import <kind> <file.csv> [--skip-bad]           load a billing file (README, "Billing files")
 *   kabinetd export <kind> [--since <cursor>] [--out <file>]   what customers did, for billing
 *   kabinetd demo-data [--accounts N] [--months M] [--customers C]  a realistic retailer in an empty database
 *   kabinetd chat [--as NAME] [--url URL]                    be a customer in the terminal (local channel)
 *   kabinetd tg-file FILE_ID > file                        a file a customer sent by Telegram, for staff to check
 *   kabinetd bill NUMBER [YYYY-MM] > bill.pdf              an account's bill (квитанция) with its payment QR
 *   kabinetd notify status|broadcast|pause|resume|cancel   notifications and broadcasts (notify_cli.c) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "billing.h"
#include "channel.h"
#include "doc_bill.h"
#include "config.h"
#include "demo_data.h"
#include "err.h"
#include "log.h"
#include "metrics.h"
#include "migrate.h"
#include "notify.h"
#include "server.h"

#define KABINET_VERSION "0.1.0"

static int usage(void)
{
    fprintf(stderr, "usage: kabinetd [serve|migrate|config|version]\n"
                    "       kabinetd import <kind> <file.csv> [--skip-bad]\n"
                    "       kabinetd export readings|payments|links [--since <cursor>] [--out <file>]\n"
                    "       kabinetd demo-data [--accounts N] [--months M] [--customers C]\n"
                    "       kabinetd chat [--as NAME] [--url http://127.0.0.1:8080]\n"
                    "       kabinetd tg-file FILE_ID > file\n"
                    "       kabinetd bill NUMBER [YYYY-MM] > bill.pdf\n"
                    "       kabinetd notify status | broadcast --name N --text T [--text-en T] [--channels tg,mail,sms]"
                    " [--paid] | pause|resume <broadcast id|job> | cancel <broadcast id>\n");
    return 64;
}

/* The value after option name in argv[from..], or NULL. */
static const char *option(int argc, char **argv, int from, const char *name)
{
    for (int i = from; i + 1 < argc; i++)
        if (!strcmp(argv[i], name))
            return argv[i + 1];
    return NULL;
}

static int has_flag(int argc, char **argv, int from, const char *name)
{
    for (int i = from; i < argc; i++)
        if (!strcmp(argv[i], name))
            return 1;
    return 0;
}

/* Whether s is a whole decimal number. */
static int is_number(const char *s)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

/* import, export, demo-data, bill, notify: exit 0, 1 (refused input: nothing changed), 2 (cannot reach the database) */
static int data_command(const cfg_t *cfg, const char *cmd, int argc, char **argv)
{
    char err[600] = "";
    int rc;
    if (!strcmp(cmd, "import")) {
        if (argc < 4)
            return usage();
        rc = billing_import(cfg->database_url, argv[2], argv[3], has_flag(argc, argv, 4, "--skip-bad"), stdout, err,
                            sizeof err);
    } else if (!strcmp(cmd, "export")) {
        const char *since = option(argc, argv, 3, "--since"), *path = option(argc, argv, 3, "--out");
        if (argc < 3 || (since && !is_number(since)))
            return usage();
        FILE *out = path ? fopen(path, "w") : stdout;
        if (!out) {
            fprintf(stderr, "kabinetd: export: cannot write %s\n", path);
            return 1;
        }
        long long cursor = 0;
        long rows = 0;
        rc = billing_export(cfg->database_url, argv[2], since ? atoll(since) : 0, out, &cursor, &rows, err, sizeof err);
        if (path)
            fclose(out);
        if (rc == 0)
            fprintf(stderr, "export %s: %ld rows; next cursor %lld\n", argv[2], rows, cursor);
    } else if (!strcmp(cmd, "bill")) {
        if (argc < 3 || argc > 4 || (argc == 4 && (strlen(argv[3]) != 7 || argv[3][4] != '-')))
            return usage();
        rc = doc_bill_run(cfg->database_url, argv[2], argc == 4 ? argv[3] : NULL, stdout, err, sizeof err);
    } else if (!strcmp(cmd, "notify")) {
        rc = notify_cli(cfg, argc, argv, stdout, err, sizeof err);
    } else {
        const char *n = option(argc, argv, 2, "--accounts"), *m = option(argc, argv, 2, "--months"),
                   *c = option(argc, argv, 2, "--customers");
        if ((n && !is_number(n)) || (m && !is_number(m)) || (c && !is_number(c)))
            return usage();
        rc = demo_data_run(cfg->database_url, n ? atoi(n) : 1000, m ? atoi(m) : 24, c ? atoi(c) : 20, stdout, err,
                           sizeof err);
    }
    if (rc)
        fprintf(stderr, "kabinetd: %s: %s\n", cmd, err);
    return rc == 0 ? 0 : rc == KB_ERR_NOTCONN ? 2 : 1;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "serve";
    if (!strcmp(cmd, "version")) {
        printf("kabinetd %s\n", KABINET_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "config")) {
        cfg_print_table(stdout);
        return 0;
    }
    const channel_def_t *offer = channel_command(cmd); /* a channel's own subcommand (chat, tg-file) */
    if (offer && !offer->command_needs_cfg)
        return offer->run(NULL, argc, argv);
    if (offer) /* needs only the channel's settings */
        setenv("KABINET_DATABASE_URL", "hostaddr=127.0.0.1", 0);
    int data = !strcmp(cmd, "import") || !strcmp(cmd, "export") || !strcmp(cmd, "demo-data") || !strcmp(cmd, "bill") ||
               !strcmp(cmd, "notify");
    if (strcmp(cmd, "serve") && strcmp(cmd, "migrate") && !data && !offer)
        return usage();

    /* migrate and the data commands touch only PostgreSQL: they do not make the operator name a Redis */
    if (strcmp(cmd, "serve"))
        setenv("KABINET_REDIS_URL", "redis://127.0.0.1:6379", 0);
    cfg_t cfg;
    char err[512];
    if (cfg_load(&cfg, err, sizeof err) != 0 || channel_check_all(&cfg, err, sizeof err) != 0) {
        fprintf(stderr, "kabinetd: configuration error: %s\n", err);
        cfg_free(&cfg);
        return 2;
    }
    log_set_level(cfg.log_level);
    int rc;
    if (offer) {
        rc = offer->run(&cfg, argc, argv);
    } else if (data) {
        rc = data_command(&cfg, cmd, argc, argv);
    } else if (!strcmp(cmd, "migrate")) {
        int applied = 0;
        rc = migrate_run(cfg.database_url, migrate_builtin, &applied, err, sizeof err);
        if (rc)
            fprintf(stderr, "kabinetd: migrate: %s\n", err);
        else
            log_info("migrate", "schema up to date (%d applied now)", applied);
        rc = rc ? (rc == KB_ERR_STATE ? 3 : 1) : 0;
    } else {
        rc = server_run(&cfg);
    }
    cfg_free(&cfg);
    metrics_shutdown();
    return rc;
}
