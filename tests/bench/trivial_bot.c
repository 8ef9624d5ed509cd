/* trivial_bot.c — the machine's ceiling for a Telegram bot: h2o in, libcurl out, no state, no stores. Each webhook
 * update is answered 200 and with one sendMessage carrying a menu button, through the same runtime modules kabinetd
 * uses (httpd, http_client), so that the load generator can drive it exactly like kabinetd and the ratio of the two
 * is what kabinet's durability and dialogs cost.
 *   trivial_bot LISTEN_PORT API_URL */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include <cjson/cJSON.h>
#include "http_client.h"
#include "httpd.h"

static http_client_t *http;
static char send_url[512];

static void on_sent(int err, const http_response_t *res, void *data) {}

/* POST /telegram/webhook: 200, then one reply to the update's chat. */
static void on_update(httpd_req_t *r, void *data)
{
    size_t len;
    const char *body = httpd_body(r, &len);
    cJSON *u = cJSON_ParseWithLength(body, len);
    const cJSON *m = cJSON_GetObjectItem(u, "message");
    if (!m)
        m = cJSON_GetObjectItem(cJSON_GetObjectItem(u, "callback_query"), "message");
    const cJSON *chat = cJSON_GetObjectItem(cJSON_GetObjectItem(m, "chat"), "id");
    httpd_respond(r, 200, "application/json", "{\"ok\":true}", 11);
    if (cJSON_IsNumber(chat)) {
        char reply[800]; /* a keyboard with every button the generator's journeys press, and a URL button */
        int n = snprintf(reply, sizeof reply, "{\"chat_id\":%lld,\"text\":\"ok\",\"reply_markup\":{\"inline_keyboard\":"
                                              "[[{\"text\":\"Balance\",\"callback_data\":\"1:balance\"},{\"text\":\"History\","
                                              "\"callback_data\":\"1:history\"},{\"text\":\"Charges\",\"callback_data\":"
                                              "\"1:h_charges\"}],[{\"text\":\"Menu\",\"callback_data\":\"1:menu\"},"
                                              "{\"text\":\"Pay\",\"callback_data\":\"1:pay\"},{\"text\":\"Open\","
                                              "\"url\":\"https://example.ru/p\"}],[{\"text\":\"Count\",\"callback_data\":"
                                              "\"1:count\"},{\"text\":\"Done\",\"callback_data\":\"1:done\"}]]}}",
                         (long long)chat->valuedouble);
        const char *headers[] = {"Content-Type: application/json", NULL};
        http_request_t req = {"POST", send_url, headers, reply, (size_t)n, 10000};
        http_request(http, &req, on_sent, NULL);
    }
    cJSON_Delete(u);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: trivial_bot LISTEN_PORT API_URL\n");
        return 64;
    }
    signal(SIGPIPE, SIG_IGN);
    snprintf(send_url, sizeof send_url, "%s/botTRIVIAL/sendMessage", argv[2]);
    uv_loop_t *loop = uv_default_loop();
    httpd_t *h;
    http_client_new(loop, 32, 10000, &http);
    httpd_new(loop, "127.0.0.1", atoi(argv[1]), 1 << 20, &h);
    httpd_route(h, "POST", "/telegram/webhook", on_update, NULL);
    if (httpd_start(h) != 0) {
        fprintf(stderr, "trivial_bot: cannot listen on %s\n", argv[1]);
        return 1;
    }
    return uv_run(loop, UV_RUN_DEFAULT);
}
