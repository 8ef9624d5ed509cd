/* loadgen.c — the load generator: many simulated Telegram customers against a bot's real webhook, and the Bot API
 * the bot answers through (a fake one, here, on the same loop), so that every reply is time-stamped where it lands.
 *
 * Each chat runs a closed loop of journeys, starting at a different one per chat so that all run at once: the
 * balance (press "balance" in the menu), a history page (press "history", "h_charges", then "menu"), a reading
 * ("/reading 99999 99999": one value per zone, confirming when asked), a payment link (press "pay", type "100",
 * until the reply with the link's URL button) and back to the menu ("/menu"). An action presses a button of the
 * latest reply (a callback_query with the button's own callback_data) or types a text; a journey ends with the
 * menu (a reply with a "balance" button) or, for the payment, the link. The latency of an update is from its webhook
 * POST to the first reply for that chat (sendMessage or editMessageText). A webhook answer other than 200 is
 * retried, as Telegram does; a chat stuck for 5 s starts over with "/menu".
 *
 * It prints one line per figure: updates per second, latency p50/p95/p99, webhook retries, and, with --pid, the bot
 * process's CPU µs per update and its RSS. --journey balance keeps to the menu and the balance (the old loop).
 * --think MS pauses each chat MS between journeys (people do); --flood N adds one chat that writes "/help" N times
 * a minute whatever it is answered, and reports how many replies it got. --sweep N visits N chats (uids from --first-uid on), each once with "/start", CHATS at a time: the bot's memory
 * and Redis's per conversation after many conversations.
 *   loadgen WEBHOOK_URL SECRET API_PORT CHATS SECONDS [--first-uid N] [--pid PID] [--label NAME] [--journey all|balance] [--sweep N]
 *           [--think MS] [--flood N] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>
#include <cjson/cJSON.h>
#include "http_client.h"
#include "httpd.h"

/* A journey: its actions ("press:<button>" or "type:<text>") and how it ends (the menu, or a URL button). */
typedef struct {
    const char *name;
    const char *actions[5];        /* NULL-terminated */
    int ends_with_url;
} journey_t;

static const journey_t customer_journeys[] = {
    {"balance", {"press:balance", NULL}, 0},
    {"history", {"press:history", "press:h_charges", "press:menu", NULL}, 0},
    {"reading", {"type:/reading 99999 99999", NULL}, 0},
    {"pay", {"press:pay", "type:100", NULL}, 1},
    {"menu", {"type:/menu", NULL}, 0},
};
/* --journey echo: the echo class every bot framework does — a /start menu, a text answered (the session read and
 * written), a button that answers its callback and edits the message, and back (the demo dialog; the peers). */
static const journey_t echo_journeys[] = {
    {"echo", {"type:/start", "type:hello", "press:count", "press:done"}, 0},
};
static const journey_t *journeys = customer_journeys;
static int njourneys = (int)(sizeof customer_journeys / sizeof *customer_journeys);
static const char *menu_button = "balance"; /* a reply offering it ends a journey */
#define NJOURNEYS njourneys
#define J_MENU (NJOURNEYS - 1)

typedef struct {
    long long uid;
    int j, a;                      /* the journey, and its next action */
    int start;                     /* the journey after the first menu (chats spread over them), then -1 */
    uv_timer_t think;              /* --think: the pause before the next journey */
    char next_text[64], next_data[72];
    long long next_mid;
    int waiting;                   /* an update is out, its first reply not in */
    uint64_t sent_at;              /* µs */
    uint64_t moved_at;             /* the last update sent, for stalls */
    long long next_msg;            /* message ids this fake hands out */
} chat_t;

static int only_balance;
static int think_ms;                /* --think MS: a pause between journeys, as people make */
static int flood_per_min;           /* --flood N: one more chat sends N updates a minute, open loop */
static long long flood_uid, flood_sent, flood_replies;
static long long sweep, swept;      /* --sweep N: N chats in all, each one "/start", CHATS at a time */
static uv_loop_t *loop;
static http_client_t *http;
static httpd_t *api;
static chat_t *chats;
static int nchats;
static long long first_uid = 7100000000LL, update_id = 1;
static const char *webhook, *secret;
static char secret_header[320];
static uint64_t *lat;               /* latencies in µs */
static size_t nlat, caplat;
static long retries, steps_started;
static int measuring = 1, stopping;

static uint64_t now_us(void)
{
    uv_update_time(loop);
    return uv_hrtime() / 1000;
}

static void send_step(chat_t *c);

/* ---------------------------------------------------------------- the webhook side */

static void on_webhook(int err, const http_response_t *res, void *data)
{
    chat_t *c = data;
    if (err || res->status != 200) { /* as Telegram: again, after a moment */
        retries++;
        c->waiting = 0;
        if (!stopping)
            send_step(c);
    }
}

/* Sends an update: a typed text, or a press of the button whose callback_data is data on message mid. */
static void send_update(chat_t *c, const char *text, const char *data, long long mid)
{
    char body[900];
    long long id = update_id++;
    if (text)
        snprintf(body, sizeof body,
                 "{\"update_id\":%lld,\"message\":{\"message_id\":%lld,\"date\":%ld,\"chat\":{\"id\":%lld,\"type\":"
                 "\"private\"},\"from\":{\"id\":%lld,\"is_bot\":false,\"first_name\":\"L\"},\"text\":\"%s\"}}",
                 id, id, (long)time(NULL), c->uid, c->uid, text);
    else
        snprintf(body, sizeof body,
                 "{\"update_id\":%lld,\"callback_query\":{\"id\":\"q%lld\",\"from\":{\"id\":%lld,\"is_bot\":false,"
                 "\"first_name\":\"L\"},\"chat_instance\":\"1\",\"message\":{\"message_id\":%lld,\"date\":0,\"chat\":"
                 "{\"id\":%lld,\"type\":\"private\"}},\"data\":\"%s\"}}",
                 id, id, c->uid, mid, c->uid, data);
    const char *headers[] = {"Content-Type: application/json", secret_header, NULL};
    http_request_t req = {"POST", webhook, headers, body, strlen(body), 10000};
    c->waiting = 1;
    c->sent_at = c->moved_at = now_us();
    steps_started++;
    if (http_request(http, &req, on_webhook, c) != 0) {
        retries++;
        c->waiting = 0;
    }
}

/* Starts over from the menu (in sweep mode: the chat's "/start" again). */
static void send_step(chat_t *c)
{
    if (sweep) {
        send_update(c, "/start", NULL, 0);
        return;
    }
    c->j = J_MENU;
    c->a = 1;
    send_update(c, journeys == echo_journeys ? "/start" : "/menu", NULL, 0);
}

/* ---------------------------------------------------------------- the Bot API side */

static chat_t *find_chat(long long uid)
{
    long long i = uid - first_uid;
    if (sweep) /* a slot serves uids i, i + CHATS, i + 2 CHATS, … */
        i %= nchats;
    return i >= 0 && i < nchats && chats[i].uid == uid ? &chats[i] : NULL;
}

/* The callback_data of button id in a reply's markup, or NULL; *url is set when the markup has a URL button. */
static const char *button(const cJSON *markup, const char *id, int *url)
{
    const cJSON *row, *b;
    const char *found = NULL;
    size_t il = strlen(id);
    cJSON_ArrayForEach(row, cJSON_GetObjectItem(markup, "inline_keyboard"))
        cJSON_ArrayForEach(b, row)
        {
            const char *d = cJSON_GetStringValue(cJSON_GetObjectItem(b, "callback_data"));
            size_t n = d ? strlen(d) : 0;
            if (n > il && d[n - il - 1] == ':' && !strcmp(d + n - il, id))
                found = d;
            if (url && cJSON_GetObjectItem(b, "url"))
                *url = 1;
        }
    return found;
}

/* The pause is over: the next journey's first action. */
static void on_think(uv_timer_t *t)
{
    chat_t *c = t->data;
    if (stopping)
        return;
    if (c->next_text[0])
        send_update(c, c->next_text, NULL, 0);
    else if (c->next_data[0])
        send_update(c, NULL, c->next_data, c->next_mid);
    else
        send_step(c);
}

static void on_flood_sent(int err, const http_response_t *res, void *data) { (void)err, (void)res, (void)data; }

/* --flood: one more chat writes "/help" at a steady pace whatever it is answered. */
static void on_flood(uv_timer_t *t)
{
    if (stopping || !measuring)
        return;
    char body[400];
    long long id = update_id++;
    snprintf(body, sizeof body,
             "{\"update_id\":%lld,\"message\":{\"message_id\":%lld,\"date\":%ld,\"chat\":{\"id\":%lld,\"type\":"
             "\"private\"},\"from\":{\"id\":%lld,\"is_bot\":false,\"first_name\":\"F\"},\"text\":\"/help\"}}",
             id, id, (long)time(NULL), flood_uid, flood_uid);
    const char *headers[] = {"Content-Type: application/json", secret_header, NULL};
    http_request_t req = {"POST", webhook, headers, body, strlen(body), 10000};
    if (http_request(http, &req, on_flood_sent, NULL) == 0)
        flood_sent++;
}

/* A reply for chat c landed (markup may be NULL, mid is its message id): the journey's next action, or its end
 * and the next journey's first action. */
static void on_reply(chat_t *c, const cJSON *markup, long long mid)
{
    if (sweep) { /* the first reply ends a chat's visit; the slot moves on to its next chat */
        swept++;
        if (c->uid + nchats < first_uid + sweep) {
            c->uid += nchats;
            send_update(c, "/start", NULL, 0);
        } else {
            c->moved_at = UINT64_MAX / 2;
        }
        return;
    }
    int url = 0;
    const char *menu = button(markup, menu_button, &url);
    const journey_t *jr = &journeys[c->j];
    for (int pass = 0; pass < 2; pass++) {
        const char *act = jr->actions[c->a];
        if (act && !strncmp(act, "type:", 5)) {
            c->a++;
            send_update(c, act + 5, NULL, 0);
            return;
        }
        if (act) { /* press: when this reply offers the button */
            const char *d = button(markup, act + 6, NULL);
            if (d) {
                c->a++;
                send_update(c, NULL, d, mid);
            }
            return;
        }
        const char *yes = button(markup, "yes", NULL);
        if (yes) { /* asked to confirm (a reading past a rollover, say) */
            send_update(c, NULL, yes, mid);
            return;
        }
        if (!(jr->ends_with_url ? url : menu != NULL))
            return;
        /* the journey has ended: the next one starts from this reply */
        c->j = only_balance ? (c->j == 0 ? J_MENU : 0) : c->start >= 0 ? c->start : (c->j + 1) % NJOURNEYS;
        c->start = -1;
        c->a = 0;
        jr = &journeys[c->j];
        if (think_ms > 0) { /* after a pause: what the next journey starts with, kept for the timer */
            const char *act = jr->actions[0], *d = act && !strncmp(act, "press:", 6) ? button(markup, act + 6, NULL) : NULL;
            c->next_text[0] = c->next_data[0] = 0;
            if (act && !strncmp(act, "type:", 5))
                snprintf(c->next_text, sizeof c->next_text, "%s", act + 5);
            else if (d)
                snprintf(c->next_data, sizeof c->next_data, "%s", d);
            c->next_mid = mid;
            c->a = 1;
            c->moved_at = now_us() + (uint64_t)think_ms * 1000;
            uv_timer_start(&c->think, on_think, (uint64_t)think_ms, 0);
            return;
        }
    }
}

static void record(uint64_t us)
{
    if (!measuring)
        return;
    if (nlat == caplat) {
        caplat = caplat ? caplat * 2 : 1 << 16;
        lat = realloc(lat, caplat * sizeof *lat);
    }
    lat[nlat++] = us;
}

/* POST /bot<token>/<method>: a reply lands. */
static void on_api(httpd_req_t *r, void *data)
{
    const char *path = httpd_path(r), *method = strrchr(path, '/');
    size_t len;
    const char *body = httpd_body(r, &len);
    cJSON *b = cJSON_ParseWithLength(body, len);
    const cJSON *chat_id = cJSON_GetObjectItem(b, "chat_id");
    char out[256];
    int is_send = method && (!strcmp(method, "/sendMessage") || !strcmp(method, "/editMessageText") ||
                             !strcmp(method, "/sendDocument") || !strcmp(method, "/sendPhoto"));
    chat_t *c = cJSON_IsNumber(chat_id) ? find_chat((long long)chat_id->valuedouble) : NULL;
    if (is_send && flood_uid && cJSON_IsNumber(chat_id) && (long long)chat_id->valuedouble == flood_uid && measuring)
        flood_replies++;
    if (is_send && c) {
        long long mid = !strcmp(method, "/editMessageText") && cJSON_IsNumber(cJSON_GetObjectItem(b, "message_id"))
                            ? (long long)cJSON_GetObjectItem(b, "message_id")->valuedouble
                            : ++c->next_msg;
        if (c->waiting) {
            c->waiting = 0;
            record(now_us() - c->sent_at);
        }
        const cJSON *markup = cJSON_GetObjectItem(b, "reply_markup");
        cJSON *parsed = cJSON_IsString(markup) ? cJSON_Parse(markup->valuestring) : NULL;
        if (!stopping)
            on_reply(c, parsed ? parsed : markup, mid);
        cJSON_Delete(parsed);
        snprintf(out, sizeof out, "{\"ok\":true,\"result\":{\"message_id\":%lld,\"date\":0,\"chat\":{\"id\":%lld,"
                                  "\"type\":\"private\"},\"text\":\"x\"}}", mid, c->uid);
    } else {
        snprintf(out, sizeof out, "{\"ok\":true,\"result\":true}");
    }
    cJSON_Delete(b);
    httpd_respond(r, 200, "application/json", out, strlen(out));
}

/* ---------------------------------------------------------------- the run */

static int cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(double p) { return nlat ? lat[(size_t)(p * (double)(nlat - 1))] / 1000.0 : 0; }

/* utime + stime of a process in clock ticks, and its RSS in kB. */
static void proc_usage(int pid, double *cpu_s, long *rss_kb)
{
    char path[64], buf[1024];
    *cpu_s = 0;
    *rss_kb = 0;
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (f && fgets(buf, sizeof buf, f)) {
        char *p = strrchr(buf, ')');
        unsigned long ut = 0, st = 0;
        if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
            *cpu_s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    }
    if (f)
        fclose(f);
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    f = fopen(path, "r");
    while (f && fgets(buf, sizeof buf, f))
        if (!strncmp(buf, "VmRSS:", 6))
            *rss_kb = atol(buf + 6);
    if (f)
        fclose(f);
}

static uv_timer_t end_timer, warm_timer, stall_timer;

/* A chat whose step got no menu back within 5 s (a reply lost, a stale screen) starts over with /menu. */
static void on_stall(uv_timer_t *t)
{
    uint64_t now = now_us();
    for (int i = 0; i < nchats && !stopping; i++)
        if (now - chats[i].moved_at > 5000000 && now > chats[i].moved_at) {
            retries++;
            send_step(&chats[i]);
        }
}
static uint64_t t0;
static double cpu0;
static int pid;
static long started0, retries0;
static const char *label = "bot";

static void on_warm(uv_timer_t *t)
{
    measuring = 1;
    nlat = 0;
    t0 = now_us();
    started0 = steps_started;
    retries0 = retries;
    long rss;
    if (pid)
        proc_usage(pid, &cpu0, &rss);
}

static void on_end(uv_timer_t *t);

/* Sweep mode: ends once every chat has had its visit (or the time is up). */
static void on_sweep_check(uv_timer_t *t)
{
    if (swept >= sweep)
        on_end(&end_timer);
}

static void on_end(uv_timer_t *t)
{
    if (stopping)
        return;
    double secs = (double)(now_us() - t0) / 1e6;
    long done = (long)nlat;
    stopping = 1;
    measuring = 0;
    if (nlat)
        qsort(lat, nlat, sizeof *lat, cmp);
    printf("%s: %d chats, %.1f s: %ld updates answered, %.0f updates/s\n", label, nchats, secs, done, done / secs);
    printf("%s: latency (update sent -> first reply) p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, max %.2f ms\n", label,
           pct(0.50), pct(0.95), pct(0.99), pct(1.0));
    printf("%s: webhook retries and restarted steps %ld\n", label, retries - retries0);
    printf("%s: %ld updates sent in all (warm-up included)\n", label, steps_started);
    if (sweep)
        printf("%s: %lld chats visited once each\n", label, swept);
    if (flood_per_min)
        printf("%s: the flooding chat sent %lld updates (%d a minute), got %lld replies\n", label, flood_sent,
               flood_per_min, flood_replies);
    if (pid) {
        double cpu1;
        long rss;
        proc_usage(pid, &cpu1, &rss);
        printf("%s: process CPU %.0f us per update (%.0f%% of one core), RSS %.1f MB\n", label,
               done ? (cpu1 - cpu0) * 1e6 / (double)done : 0, (cpu1 - cpu0) / secs * 100, rss / 1024.0);
    }
    fflush(stdout);
    uv_stop(loop);
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: loadgen WEBHOOK_URL SECRET API_PORT CHATS SECONDS [--first-uid N] [--pid PID] "
                        "[--label NAME]\n");
        return 64;
    }
    webhook = argv[1];
    secret = argv[2];
    int port = atoi(argv[3]), secs = atoi(argv[5]);
    nchats = atoi(argv[4]);
    for (int i = 6; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--first-uid"))
            first_uid = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--pid"))
            pid = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--label"))
            label = argv[i + 1];
        else if (!strcmp(argv[i], "--think"))
            think_ms = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--flood"))
            flood_per_min = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--sweep"))
            sweep = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--journey") && !strcmp(argv[i + 1], "echo")) {
            journeys = echo_journeys;
            njourneys = 1;
            menu_button = "count";
        } else if (!strcmp(argv[i], "--journey"))
            only_balance = !strcmp(argv[i + 1], "balance");
    }
    snprintf(secret_header, sizeof secret_header, "X-Telegram-Bot-Api-Secret-Token: %s", secret);
    signal(SIGPIPE, SIG_IGN);
    loop = uv_default_loop();
    http_client_new(loop, nchats < 256 ? nchats : 256, 10000, &http);
    httpd_new(loop, "127.0.0.1", port, 1 << 20, &api);
    httpd_route(api, "POST", "/bot*", on_api, NULL);
    if (httpd_start(api) != 0) {
        fprintf(stderr, "loadgen: cannot listen on 127.0.0.1:%d\n", port);
        return 1;
    }
    chats = calloc((size_t)nchats, sizeof *chats);
    for (int i = 0; i < nchats; i++) {
        chats[i].uid = first_uid + i;
        chats[i].start = only_balance || NJOURNEYS == 1 ? -1 : i % (NJOURNEYS - 1); /* the chats spread over the journeys */
        uv_timer_init(loop, &chats[i].think);
        chats[i].think.data = &chats[i];
        if (sweep)
            send_update(&chats[i], "/start", NULL, 0);
        else
            send_step(&chats[i]);
    }
    /* a warm-up of 1 s (connections, caches), then the measured window */
    measuring = 0;
    uv_timer_init(loop, &warm_timer);
    uv_timer_init(loop, &end_timer);
    uv_timer_start(&warm_timer, on_warm, 1000, 0);
    uv_timer_start(&end_timer, on_end, 1000 + (uint64_t)secs * 1000, 0);
    uv_timer_init(loop, &stall_timer);
    uv_timer_start(&stall_timer, on_stall, 500, 500);
    static uv_timer_t sweep_timer, flood_timer;
    if (flood_per_min > 0) {
        flood_uid = first_uid - 1;
        uv_timer_init(loop, &flood_timer);
        uint64_t every = 60000 / (uint64_t)flood_per_min;
        uv_timer_start(&flood_timer, on_flood, every ? every : 1, every ? every : 1);
    }
    if (sweep) { /* measured from the start: every visit counts */
        uv_timer_stop(&warm_timer);
        on_warm(&warm_timer);
        uv_timer_init(loop, &sweep_timer);
        uv_timer_start(&sweep_timer, on_sweep_check, 200, 200);
    }
    uv_run(loop, UV_RUN_DEFAULT);
    return nlat ? 0 : 1;
}
