/* docs.h — the "doc" channel: documents made for a customer and dropped into their conversation. The core queues a
 * request as an outbox row of this channel (conversation "doc:<the customer's conversation>", so one customer's
 * documents go in order and different customers' side by side): a check once a payment's fiscal receipt exists
 * (receipt.add: {kind: "check", payment_id}), or the latest bill of an account the customer asked for (bill.send:
 * {kind: "bill", account, month, conv, lang[, tmpl]}; an e-bill is a push with tmpl "bill.ebill", see
 * sql/012_mail.sql); a check may go to another conversation than the payment's ("to": the payer's email). Its sender reads the data, renders the PDF off the loop
 * (uv_queue_work: libharu does file I/O and takes milliseconds), stores it in kb_file and writes the reply — the
 * text with the PDF as a document — to the customer's conversation, once (a retry finds it there). */
#ifndef KB_DOCS_H
#define KB_DOCS_H

#include "channel.h"
#include "db.h"
#include "engine.h"
#include "httpd.h"
#include "outbox.h"

typedef struct docs_s docs_t;

/* Makes the channel and starts its sender, and serves GET /f/<token> on h: a stored document by its short link
 * (<public_url>/f/<token>, given to the reply as the parameter file_url, for channels that cannot attach files),
 * for 90 days. kick wakes the sender of the channel a reply was written for. */
int docs_new(uv_loop_t *loop, httpd_t *h, db_t *db, const char *public_url, engine_outbox_hook kick, void *kick_ctx,
             docs_t **out);
/* The sender. */
outbox_t *docs_outbox(docs_t *d);
/* Stops the sender; frees everything once the work in flight has ended. */
void docs_close(docs_t *d);

/* The worker as the server sees it (channel.h). */
extern const channel_def_t worker_docs;

#endif
