/* kv_uv.c — the hiredis event adapter on uv_poll, with socket errors passed on (see kv_uv.h). */
#include <stdlib.h>
#include <hiredis/hiredis.h>
#include "err.h"
#include "kv_uv.h"

typedef struct {
    redisAsyncContext *ac;   /* NULL once hiredis has cleaned up */
    uv_poll_t poll;
    int events;
} kv_uv_t;

/* Dispatches readiness to hiredis. On an error (refused connect, reset) libuv has already stopped the poll: let
 * hiredis find the error itself, through the write path while connecting (it checks SO_ERROR and calls the
 * connect callback) and through the read path once connected (read fails and it disconnects). */
static void on_poll(uv_poll_t *handle, int status, int events)
{
    kv_uv_t *p = handle->data;
    if (status < 0) {
        if (p->ac && !(p->ac->c.flags & REDIS_CONNECTED))
            redisAsyncHandleWrite(p->ac);
        else if (p->ac)
            redisAsyncHandleRead(p->ac);
        return;
    }
    if (p->ac && (events & UV_READABLE))
        redisAsyncHandleRead(p->ac);
    if (p->ac && (events & UV_WRITABLE))
        redisAsyncHandleWrite(p->ac);
}

/* Restarts or stops the poll for the current interest set. */
static void update(kv_uv_t *p)
{
    if (p->events)
        uv_poll_start(&p->poll, p->events, on_poll);
    else
        uv_poll_stop(&p->poll);
}

static void add_read(void *d) { kv_uv_t *p = d; p->events |= UV_READABLE; update(p); }
static void del_read(void *d) { kv_uv_t *p = d; p->events &= ~UV_READABLE; update(p); }
static void add_write(void *d) { kv_uv_t *p = d; p->events |= UV_WRITABLE; update(p); }
static void del_write(void *d) { kv_uv_t *p = d; p->events &= ~UV_WRITABLE; update(p); }

static void on_close(uv_handle_t *h) { free(h->data); }

/* hiredis is freeing the context (before it closes the socket): detach and close the poll. */
static void cleanup(void *d)
{
    kv_uv_t *p = d;
    p->ac = NULL;
    uv_close((uv_handle_t *)&p->poll, on_close);
}

int kv__uv_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    if (ac->ev.data)
        return KB_ERR_INVAL;
    kv_uv_t *p = calloc(1, sizeof *p);
    if (!p)
        return KB_ERR_NOMEM;
    int rc = uv_poll_init(loop, &p->poll, ac->c.fd);
    if (rc) {
        free(p);
        return rc;
    }
    p->ac = ac;
    p->poll.data = p;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    ac->ev.data = p;
    return 0;
}
