/* workers.c — the workers this kabinetd has (channel.h): jobs that drain outbox lanes or run on the scheduler but
 * speak to no customer themselves — documents (PDF bills, receipts, charts), payments (links, following the
 * provider), the relay (events from one conversation to another) and notifications. They reach the domain only
 * through core operations by name (core_run), as the engine does. */
#include <stddef.h>
#include "docs.h"
#include "notify.h"
#include "pay.h"
#include "relay.h"

const channel_def_t *const kb_workers[] = {
    &worker_pay,
    &worker_docs,
    &worker_relay,
    &worker_notify,
    NULL,
};
