/* kv_uv.h — hiredis ↔ libuv glue, kabinet's own (internal to kv.c).
 *
 * Debian's hiredis 0.14 adapters/libuv.h returns early when uv_poll reports an error, so a refused or reset
 * connection never reaches hiredis and its connect callback never runs. This adapter hands errors to hiredis. */
#ifndef KB_KV_UV_H
#define KB_KV_UV_H

#include <uv.h>
#include <hiredis/async.h>

/* Attaches ac to loop; returns 0 or a negative error. The adapter frees itself when hiredis cleans up. */
int kv__uv_attach(redisAsyncContext *ac, uv_loop_t *loop);

#endif
