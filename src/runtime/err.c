/* err.c — descriptions of kabinet's error codes (see err.h). */
#include <string.h>
#include "err.h"

/* Describes err; falls back to strerror for errno values that have no kabinet meaning of their own. */
const char *kb_strerror(int err)
{
    switch (err) {
    case KB_OK: return "ok";
    case KB_ERR_NOMEM: return "out of memory";
    case KB_ERR_INVAL: return "invalid argument";
    case KB_ERR_TIMEOUT: return "timed out";
    case KB_ERR_NOTCONN: return "not connected";
    case KB_ERR_CONNRESET: return "connection lost";
    case KB_ERR_CANCELED: return "canceled";
    case KB_ERR_BUSY: return "queue full";
    case KB_ERR_AGAIN: return "try again later";
    case KB_ERR_IO: return "error reply";
    case KB_ERR_PROTO: return "protocol error";
    case KB_ERR_TOOBIG: return "too large";
    case KB_ERR_REFUSED: return "refused";
    case KB_ERR_STATE: return "unrecoverable state";
    default: return err < 0 ? strerror(-err) : "unknown";
    }
}
