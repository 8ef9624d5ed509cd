/* crash.h — the kill hook for crash tests. With KABINET_KILL_AT=<point>[:<n>] the process _exits (code 99) the n-th
 * time (default 1st) it reaches that point: after_dedupe, after_commit, after_cas, lease_held. Refused in
 * production mode (config.c). Unset, it costs one branch. */
#ifndef KB_CRASH_H
#define KB_CRASH_H

/* Exits the process when point is the armed one and its count is reached. */
void crash_point(const char *point);

#endif
