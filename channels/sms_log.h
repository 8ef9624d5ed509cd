/* sms_log.h — the development stand-in for an SMS gateway: each SMS (a login code, say) is rendered and written to
 * kabinetd's log with the number masked, and counts as sent. kabinetd makes it only outside production, until a
 * real gateway is configured (the SMS issue). */
#ifndef KB_SMS_LOG_H
#define KB_SMS_LOG_H

#include "db.h"
#include "outbox.h"

/* Makes and starts the sender of channel "sms" on db; *out is set (close with outbox_close). */
int sms_log_new(uv_loop_t *loop, db_t *db, outbox_t **out);

#endif
