/* bcast_sink.c — the Bot API end of the broadcast benchmark (tests/bench/broadcast.sh): answers sendMessage like
 * Telegram and counts what arrives, per second of its own clock and per chat (uids FIRST .. FIRST+N-1), until every
 * chat has had a message (or the time is up). Then it prints one line per figure: messages, chats reached,
 * duplicates, the busiest second, the mean rate from first to last message, and how many carried
 * allow_paid_broadcast.
 *   bcast_sink PORT FIRST_UID N TIMEOUT_S */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include <cjson/cJSON.h>
#include "httpd.h"

static long long first_uid, n, reached, messages, dups, paid, others;
static unsigned char *seen;
static uint64_t t_first, t_last;
static long *per_sec;
static size_t nsec;
static uv_loop_t *loop;

static void finish(void)
{
    long busiest = 0;
    for (size_t i = 0; i < nsec; i++)
        busiest = per_sec[i] > busiest ? per_sec[i] : busiest;
    double span = (double)(t_last - t_first) / 1e9;
    printf("sink: %lld messages, %lld of %lld chats reached, %lld twice, %lld to other chats\n", messages, reached, n,
           dups, others);
    printf("sink: busiest second %ld messages; mean %.0f messages/s over %.1f s (first to last)\n", busiest,
           span > 0 ? (double)(messages - 1) / span : 0, span);
    printf("sink: %lld with allow_paid_broadcast\n", paid);
    fflush(stdout);
    uv_stop(loop);
}

static void on_api(httpd_req_t *r, void *data)
{
    (void)data;
    const char *method = strrchr(httpd_path(r), '/');
    size_t len;
    const char *body = httpd_body(r, &len);
    char out[256];
    if (method && !strcmp(method, "/sendMessage")) {
        cJSON *b = cJSON_ParseWithLength(body, len);
        const cJSON *chat = cJSON_GetObjectItem(b, "chat_id");
        long long uid = cJSON_IsNumber(chat) ? (long long)chat->valuedouble : 0;
        uint64_t now = uv_hrtime();
        if (!t_first)
            t_first = now;
        t_last = now;
        size_t sec = (size_t)((now - t_first) / 1000000000ull);
        if (sec >= nsec) {
            size_t m = sec * 2 + 16;
            per_sec = realloc(per_sec, m * sizeof *per_sec);
            memset(per_sec + nsec, 0, (m - nsec) * sizeof *per_sec);
            nsec = m;
        }
        per_sec[sec]++;
        messages++;
        paid += cJSON_IsTrue(cJSON_GetObjectItem(b, "allow_paid_broadcast"));
        if (uid >= first_uid && uid < first_uid + n) {
            if (seen[uid - first_uid]++)
                dups++;
            else
                reached++;
        } else {
            others++;
        }
        snprintf(out, sizeof out, "{\"ok\":true,\"result\":{\"message_id\":%lld,\"date\":0,\"chat\":{\"id\":%lld,"
                                  "\"type\":\"private\"},\"text\":\"x\"}}", messages, uid);
        cJSON_Delete(b);
        httpd_respond(r, 200, "application/json", out, strlen(out));
        if (reached == n)
            finish();
        return;
    }
    snprintf(out, sizeof out, "{\"ok\":true,\"result\":true}");
    httpd_respond(r, 200, "application/json", out, strlen(out));
}

static void on_timeout(uv_timer_t *t)
{
    (void)t;
    printf("sink: time is up\n");
    finish();
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: bcast_sink PORT FIRST_UID N TIMEOUT_S\n");
        return 64;
    }
    first_uid = atoll(argv[2]);
    n = atoll(argv[3]);
    seen = calloc((size_t)n, 1);
    loop = uv_default_loop();
    httpd_t *api;
    httpd_new(loop, "127.0.0.1", atoi(argv[1]), 1 << 20, &api);
    httpd_route(api, "POST", "/bot*", on_api, NULL);
    if (httpd_start(api) != 0) {
        fprintf(stderr, "bcast_sink: cannot listen on 127.0.0.1:%s\n", argv[1]);
        return 1;
    }
    uv_timer_t timer;
    uv_timer_init(loop, &timer);
    uv_timer_start(&timer, on_timeout, (uint64_t)atoll(argv[4]) * 1000, 0);
    uv_run(loop, UV_RUN_DEFAULT);
    return 0;
}
