/* err.h — the error codes every kabinet module returns.
 *
 * Functions return 0 on success or one of these negative codes; asynchronous operations report the same codes as
 * the first argument of their callback. The values are negative errno numbers where one fits, so that a libuv
 * error (also a negative errno) passes through unchanged. */
#ifndef KB_ERR_H
#define KB_ERR_H

#include <errno.h>

#define KB_OK 0
#define KB_ERR_NOMEM (-ENOMEM)             /* allocation failed */
#define KB_ERR_INVAL (-EINVAL)             /* bad argument or malformed input */
#define KB_ERR_TIMEOUT (-ETIMEDOUT)        /* the operation did not finish in its time */
#define KB_ERR_NOTCONN (-ENOTCONN)         /* the service is not connected right now */
#define KB_ERR_CONNRESET (-ECONNRESET)     /* the connection broke while the operation was in flight */
#define KB_ERR_CANCELED (-ECANCELED)       /* the owner closed the module before the operation finished */
#define KB_ERR_BUSY (-EBUSY)               /* a queue is full: try again later */
#define KB_ERR_AGAIN (-EAGAIN)             /* the peer could not answer now (5xx, 429, timeout): ask again later */
#define KB_ERR_IO (-EIO)                   /* the peer answered with an error (SQL error, Redis error reply, …) */
#define KB_ERR_PROTO (-EPROTO)             /* the peer answered something we cannot understand */
#define KB_ERR_TOOBIG (-EFBIG)             /* more than the limit (a message, an answer) */
#define KB_ERR_REFUSED (-EPERM)            /* the peer refused for good (a mail server's 5xx, a failed login) */
#define KB_ERR_STATE (-ENOTRECOVERABLE)    /* e.g. the database holds a migration this binary does not know */

/* Returns a short English description of an error code (never NULL). */
const char *kb_strerror(int err);

#endif
