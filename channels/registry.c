/* registry.c — the channels this kabinetd has (channel.h): the server creates, starts, stops and wakes them from
 * this table alone, in this order. A new channel is a folder under channels/ and one line here. */
#include <stddef.h>
#include "local.h"
#include "mail.h"
#include "sms.h"
#include "telegram.h"

const channel_def_t *const kb_channels[] = {
    &channel_local,
    &channel_telegram,
    &channel_sms,
    &channel_mail,
    NULL,
};
