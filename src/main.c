/* main.c — kabinetd's entry point: picks the subcommand and loads the configuration.
 *
 *   kabinetd serve     run the bot (webhooks, engine, senders) — the default
 *   kabinetd migrate   apply the migrations of sql/ compiled into this binary
 *   kabinetd config    print the table of KABINET_* variables (README's configuration section)
 *   kabinetd version   print the version */
#include <stdio.h>
#include <string.h>
#include "config.h"
#include "err.h"
#include "log.h"
#include "metrics.h"
#include "migrate.h"
#include "server.h"

#define KABINET_VERSION "0.1.0"

static int usage(void)
{
    fprintf(stderr, "usage: kabinetd [serve|migrate|config|version]\n");
    return 64;
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
    if (strcmp(cmd, "serve") && strcmp(cmd, "migrate"))
        return usage();

    cfg_t cfg;
    char err[512];
    if (cfg_load(&cfg, err, sizeof err) != 0) {
        fprintf(stderr, "kabinetd: configuration error: %s\n", err);
        cfg_free(&cfg);
        return 2;
    }
    log_set_level(cfg.log_level);
    int rc;
    if (!strcmp(cmd, "migrate")) {
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
