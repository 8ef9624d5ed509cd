/* crash.c — the kill hook (see crash.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "crash.h"

void crash_point(const char *point)
{
    static int init, armed, count, target = 1;
    static char name[64];
    if (!init) {
        init = 1;
        const char *v = getenv("KABINET_KILL_AT");
        if (v && *v) {
            snprintf(name, sizeof name, "%s", v);
            char *colon = strchr(name, ':');
            if (colon) {
                *colon = 0;
                target = atoi(colon + 1) > 0 ? atoi(colon + 1) : 1;
            }
            armed = 1;
        }
    }
    if (armed && strcmp(point, name) == 0 && ++count >= target) {
        static const char msg[] = "kabinetd: KABINET_KILL_AT reached, exiting\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        _exit(99);
    }
}
