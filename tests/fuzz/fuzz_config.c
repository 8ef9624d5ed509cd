/* fuzz_config.c — kabinetd's settings: lines NAME=VALUE become the environment (KABINET_ is prefixed to names
 * without it), then the whole table is read and validated as at start: the common settings, then every channel's
 * and worker's own checks (channel.h). */
#include <stdio.h>
#include "channel.h"
#include "config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *set[64];
    static int nset;
    char *s = fuzz_str(data, size);
    if (!s)
        return 0;
    for (int i = 0; i < nset; i++) /* the previous input's variables go */
        unsetenv(set[i]), free((void *)set[i]);
    nset = 0;
    setenv("KABINET_DATABASE_URL", "hostaddr=127.0.0.1 dbname=x", 1);
    setenv("KABINET_REDIS_URL", "redis://127.0.0.1:1", 1);
    for (char *save = NULL, *line = strtok_r(s, "\n", &save); line && nset < 64; line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (!eq || eq == line)
            continue;
        *eq = 0;
        char name[160];
        snprintf(name, sizeof name, "%s%s", strncmp(line, "KABINET_", 8) ? "KABINET_" : "", line);
        if (setenv(name, eq + 1, 1) == 0)
            set[nset++] = strdup(name);
    }
    cfg_t cfg;
    char err[512];
    if (cfg_load(&cfg, err, sizeof err) == 0) {
        channel_check_all(&cfg, err, sizeof err);
        cfg_free(&cfg);
    }
    free(s);
    return 0;
}
