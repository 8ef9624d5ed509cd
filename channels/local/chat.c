/* chat.c — `kabinetd chat`: talk to a running kabinetd as one customer in the terminal, through its local channel
 * (KABINET_LOCAL_CHANNEL=on, development only). What you type goes as a message ("/start" and the like as
 * commands); a number presses that button of the latest screen; "contact +7…" shares a phone as Telegram would.
 * Replies are printed as the customer would read them, buttons numbered, and SMS this conversation caused (a login
 * code) shown as the phone would show them. A command-line client: blocking libcurl, no loop; stdout is line
 * buffered so that a script can drive it through a pipe. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include <cjson/cJSON.h>
#include "chat.h"
#include "err.h"

typedef struct {
    char *buf;
    size_t len;
} body_t;

typedef struct {
    CURL *curl;
    const char *url;
    char conv[96];
    long long after, ver;
    char buttons[12][48];
    int nbuttons, n;
} chat_t;

static size_t collect(char *p, size_t size, size_t n, void *data)
{
    body_t *b = data;
    char *nb = realloc(b->buf, b->len + size * n + 1);
    if (!nb)
        return 0;
    b->buf = nb;
    memcpy(b->buf + b->len, p, size * n);
    b->len += size * n;
    b->buf[b->len] = 0;
    return size * n;
}

/* One request; the body (or NULL) is the caller's to free. */
static char *request(chat_t *c, const char *path, const char *post, long *status)
{
    char url[512];
    body_t b = {0};
    snprintf(url, sizeof url, "%s%s", c->url, path);
    curl_easy_reset(c->curl);
    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, 5000L);
    if (post)
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, post);
    *status = 0;
    if (curl_easy_perform(c->curl) != CURLE_OK) {
        free(b.buf);
        return NULL;
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, status);
    return b.buf;
}

/* Prints the replies after c->after; returns how many there were. */
static int show(chat_t *c)
{
    char path[256];
    long st;
    snprintf(path, sizeof path, "/local/replies?with_sms=1&conv=%s&after=%lld", c->conv, c->after);
    char *body = request(c, path, NULL, &st);
    cJSON *list = body && st == 200 ? cJSON_Parse(body) : NULL, *it;
    free(body);
    int n = 0;
    cJSON_ArrayForEach(it, list)
    {
        const cJSON *reply = cJSON_GetObjectItem(it, "reply"), *ch = cJSON_GetObjectItem(it, "channel");
        const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(reply, "text"));
        c->after = (long long)cJSON_GetObjectItem(it, "id")->valuedouble;
        n++;
        if (cJSON_IsString(ch) && !strcmp(ch->valuestring, "sms")) {
            printf("[SMS %s] %s\n", cJSON_GetStringValue(cJSON_GetObjectItem(it, "to")), text ? text : "");
            continue;
        }
        printf("bot: %s\n", text ? text : "");
        const cJSON *ids = cJSON_GetObjectItem(reply, "buttons"), *labels = cJSON_GetObjectItem(reply, "labels");
        if (cJSON_GetArraySize(ids) > 0) {
            c->nbuttons = 0;
            c->ver = (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(reply, "ver"));
            for (int i = 0; i < cJSON_GetArraySize(ids) && i < 12; i++) {
                snprintf(c->buttons[i], sizeof c->buttons[0], "%s", cJSON_GetStringValue(cJSON_GetArrayItem(ids, i)));
                printf("  [%d] %s\n", i + 1, cJSON_GetStringValue(cJSON_GetArrayItem(labels, i)));
                c->nbuttons++;
            }
        }
    }
    cJSON_Delete(list);
    return n;
}

/* Waits for the answer to a message: replies until they stop coming for a moment (at most 5 s). */
static void await(chat_t *c)
{
    struct timespec pause = {0, 100 * 1000 * 1000};
    int quiet = 0, got = 0;
    for (int i = 0; i < 50 && (got == 0 || quiet < 4); i++) {
        nanosleep(&pause, NULL);
        int n = show(c);
        got += n;
        quiet = n ? 0 : quiet + 1;
    }
    fflush(stdout);
}

/* Sends one line as the customer: a button number, a command, a contact, or text. */
static int say(chat_t *c, const char *line)
{
    cJSON *ev = cJSON_CreateObject();
    char id[32];
    snprintf(id, sizeof id, "c%ld-%d", (long)time(NULL), ++c->n);
    cJSON_AddStringToObject(ev, "conv", c->conv);
    cJSON_AddStringToObject(ev, "id", id);
    int k = atoi(line);
    if (k >= 1 && k <= c->nbuttons && strspn(line, "0123456789") == strlen(line)) {
        cJSON_AddStringToObject(ev, "kind", "button");
        cJSON_AddStringToObject(ev, "text", c->buttons[k - 1]);
        cJSON_AddNumberToObject(ev, "ver", (double)c->ver);
    } else if (!strncmp(line, "contact ", 8)) {
        cJSON_AddStringToObject(ev, "kind", "contact");
        cJSON_AddStringToObject(ev, "text", line + 8);
    } else {
        cJSON_AddStringToObject(ev, "kind", line[0] == '/' ? "command" : "text");
        cJSON_AddStringToObject(ev, "text", line);
    }
    char *json = cJSON_PrintUnformatted(ev);
    cJSON_Delete(ev);
    long st;
    char *body = request(c, "/local/events", json, &st);
    free(json);
    free(body);
    if (st != 200) {
        fprintf(stderr, "chat: kabinetd answered %ld (is it running with KABINET_LOCAL_CHANNEL=on at %s?)\n", st, c->url);
        return KB_ERR_NOTCONN;
    }
    await(c);
    return 0;
}

int chat_run(const char *url, const char *who)
{
    chat_t c = {0};
    c.url = url;
    snprintf(c.conv, sizeof c.conv, "local:%s", who);
    setvbuf(stdout, NULL, _IOLBF, 0);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    c.curl = curl_easy_init();
    int rc = c.curl ? 0 : KB_ERR_NOMEM;
    char line[2048];
    if (rc == 0) {
        show(&c); /* what this conversation already had: continue where it was */
        printf("chat as %s with %s — type a message, a button's number, or Ctrl-D to leave\n", c.conv, url);
    }
    while (rc == 0 && fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\r\n")] = 0;
        if (line[0])
            rc = say(&c, line);
    }
    if (c.curl)
        curl_easy_cleanup(c.curl);
    curl_global_cleanup();
    return rc;
}
