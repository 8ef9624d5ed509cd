/* chat.c — `kabinetd chat`: talk to a running kabinetd as one customer in the terminal, through its local channel
 * (KABINET_LOCAL_CHANNEL=on, development only). What you type goes as a message ("/start" and the like as
 * commands), whole lines of any length (the channel keeps 16 KB); a number presses that button of the latest screen;
 * the contact button shares the phone you type once; "contact +7…" shares one as Telegram would. Replies are
 * printed as the customer would read them, buttons numbered, SMS this conversation caused (a login code) shown as
 * the phone would show them, and a file (a bill, a check, a chart) as a line with its name and where it was saved
 * (KABINET_CHAT_FILES, .kabinet/files by default). Messages that come later (a payment's result, a staff answer, a
 * push) appear as they come, also while you type nothing. A refused message is said and the chat goes on. A
 * command-line client: blocking libcurl, no loop; stdout is line buffered so that a script can drive it through a
 * pipe. In a terminal the kernel's line editing holds at most 4095 bytes a line; paste longer texts through a pipe. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
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
    int want_phone;                /* the contact button was pressed: the next line is the phone to share */
    const char *files;             /* where files are saved */
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

/* A response header: the file name of a Content-Disposition, kept in data (char[128]). */
static size_t header(char *p, size_t size, size_t n, void *data)
{
    char *name = data;
    size_t len = size * n;
    if (len > 20 && !strncasecmp(p, "Content-Disposition:", 20)) {
        const char *f = memmem(p, len, "filename=\"", 10);
        if (f) {
            f += 10;
            size_t k = 0;
            while (f + k < p + len && f[k] != '"' && k < 127)
                k++;
            snprintf(name, 128, "%.*s", (int)k, f);
        }
    }
    return len;
}

/* One request to url; the body (or NULL) is the caller's to free; *blen its length; name (char[128], or NULL)
 * receives a Content-Disposition's file name. */
static char *fetch(chat_t *c, const char *url, const char *post, long *status, size_t *blen, char *name)
{
    body_t b = {0};
    curl_easy_reset(c->curl);
    if (name) {
        curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, header);
        curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, name);
    }
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
    if (blen)
        *blen = b.len;
    return b.buf;
}

/* A request to kabinetd (path on its url). */
static char *request(chat_t *c, const char *path, const char *post, long *status)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", c->url, path);
    return fetch(c, url, post, status, NULL, NULL);
}

/* A file a reply links to (a bill, a check, a chart): saved under c->files by its own name; a line says where. */
static void save_file(chat_t *c, const char *url)
{
    char name[128] = "", path[512];
    long st;
    size_t len = 0;
    char *bytes = fetch(c, url, NULL, &st, &len, name);
    const char *base = strrchr(url, '/');
    if (!name[0] || strchr(name, '/') || name[0] == '.') /* its own name, never a path */
        snprintf(name, sizeof name, "%s", base ? base + 1 : "file");
    char dir[400];
    snprintf(dir, sizeof dir, "%s", c->files);
    for (char *p = dir + 1; *p; p++) /* mkdir -p */
        if (*p == '/') {
            *p = 0;
            mkdir(dir, 0755);
            *p = '/';
        }
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/%s", c->files, name);
    FILE *f = bytes && st == 200 ? fopen(path, "wb") : NULL;
    if (f && fwrite(bytes, 1, len, f) == len && fclose(f) == 0)
        printf("  [file] %s — saved to %s (%s)\n", name, path, url);
    else {
        if (f)
            fclose(f);
        printf("  [file] %s — open %s\n", name, url);
    }
    free(bytes);
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
        if (cJSON_IsString(ch) && (!strcmp(ch->valuestring, "sms") || !strcmp(ch->valuestring, "mail"))) {
            const char *to = cJSON_GetStringValue(cJSON_GetObjectItem(it, "to"));
            printf("[%s %s] %s\n", ch->valuestring[0] == 's' ? "SMS" : "EMAIL to", to ? to : "", text ? text : "");
            continue;
        }
        printf("bot: %s\n", text ? text : "");
        const char *file_url = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(reply, "params"), "file_url"));
        if (file_url && !strncmp(file_url, "http", 4))
            save_file(c, file_url);
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
    if (c->want_phone) { /* the contact button: the phone typed now goes as a shared contact */
        c->want_phone = 0;
        cJSON_AddStringToObject(ev, "kind", "contact");
        cJSON_AddStringToObject(ev, "text", line);
    } else if (k >= 1 && k <= c->nbuttons && strspn(line, "0123456789") == strlen(line) &&
               !strcmp(c->buttons[k - 1], "share_phone")) {
        cJSON_Delete(ev);
        c->want_phone = 1;
        printf("chat: the phone to share (as Telegram shares your own), e.g. +79161234567:\n");
        return 0;
    } else if (k >= 1 && k <= c->nbuttons && strspn(line, "0123456789") == strlen(line)) {
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
    if (st == 0) /* nobody there: say so, and go on (kabinetd may come back) */
        printf("chat: kabinetd does not answer at %s (is it running with KABINET_LOCAL_CHANNEL=on?); not sent\n",
               c->url);
    else if (st != 200) { /* refused: the reason kabinetd gave, and go on */
        cJSON *why = body ? cJSON_Parse(body) : NULL;
        const char *e = cJSON_GetStringValue(cJSON_GetObjectItem(why, "error"));
        printf("chat: not sent — %s (HTTP %ld)\n", e ? e : "kabinetd refused it", st);
        cJSON_Delete(why);
    }
    free(body);
    if (st == 200)
        await(c);
    return 0;
}

int chat_run(const char *url, const char *who)
{
    chat_t c = {0};
    c.url = url;
    snprintf(c.conv, sizeof c.conv, "local:%s", who);
    setvbuf(stdout, NULL, _IOLBF, 0);
    setvbuf(stdin, NULL, _IONBF, 0); /* nothing read ahead: poll() on the descriptor tells whether a line waits */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    c.curl = curl_easy_init();
    int rc = c.curl ? 0 : KB_ERR_NOMEM;
    c.files = getenv("KABINET_CHAT_FILES") && getenv("KABINET_CHAT_FILES")[0] ? getenv("KABINET_CHAT_FILES")
                                                                               : ".kabinet/files";
    char *line = NULL;
    size_t cap = 0;
    if (rc == 0) {
        show(&c); /* what this conversation already had: continue where it was */
        printf("chat as %s with %s — type a message, a button's number, or Ctrl-D to leave\n", c.conv, url);
    }
    while (rc == 0) {
        /* while nothing is typed, look for messages that come later, twice a second */
        struct pollfd in = {STDIN_FILENO, POLLIN, 0};
        int ready = poll(&in, 1, 500);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready == 0) {
            show(&c);
            continue;
        }
        ssize_t n = getline(&line, &cap, stdin);
        if (n < 0)
            break;
        line[strcspn(line, "\r\n")] = 0;
        if (line[0])
            rc = say(&c, line);
    }
    free(line);
    if (c.curl)
        curl_easy_cleanup(c.curl);
    curl_global_cleanup();
    return rc;
}
