/* rate.h — rate limits shared by every process, kept in Redis: GCRA with reservations.
 *
 * A limit is a steady rate and a burst: "a burst of 3, then 1 per second" lets three go at once and each next one a
 * second after the one before. rate_reserve takes the next free slot of a key's limit and answers how long to wait
 * for it (0: go now). The slot is then the caller's: it must send after the wait, not ask again. A wait longer than
 * the caller's max_wait_ms reserves nothing and is answered negative (−wait), so the caller can put the work off
 * without holding a slot. Redis's own clock is used, so processes on several machines agree. */
#ifndef KB_RATE_H
#define KB_RATE_H

#include <stdint.h>
#include "kv.h"

typedef struct {
    double per_s;              /* the steady rate */
    int burst;                 /* how many may go at once after a quiet spell (1 or more) */
    int max_wait_ms;           /* longer waits are not reserved */
} rate_limit_t;

/* err 0: wait_ms ≥ 0 is the wait for the reserved slot, < 0 means none reserved (that long to wait). */
typedef void (*rate_cb)(int err, int64_t wait_ms, void *data);

/* Reserves the next slot of key's limit. Returns 0 (callback follows) or a negative error (no callback). */
int rate_reserve(kv_t *kv, const char *key, const rate_limit_t *lim, rate_cb cb, void *data);
/* A budget (what SMS pushes cost a day): adds cost to key's total unless that would pass cap; the key expires
 * after ttl_s. The callback's value is the new total, or -1 when the cost did not fit (nothing added). */
int rate_spend(kv_t *kv, const char *key, int64_t cost, int64_t cap, int ttl_s, rate_cb cb, void *data);

#endif
