/* mime.h — email messages as kabinet reads and writes them, pure: parsing a customer's message (RFC 5322 headers,
 * RFC 2047 encoded words, MIME multipart with base64 and quoted-printable parts, charsets through iconv) into what
 * the mail channel needs — the sender, subject, threading ids, whether it was sent by a machine, and its plain
 * text with the quoted history and signature cut off; and building ours (multipart/mixed: a UTF-8 text part and
 * attachments, RFC 2047 subject and names, CRLF lines). */
#ifndef KB_MIME_H
#define KB_MIME_H

#include <stddef.h>
#include <time.h>
#include "phone.h"

#define MIME_MAX_DEPTH 8             /* nested multiparts deeper than this are malformed */

typedef struct {
    char from[EMAIL_MAX + 1];        /* the sender's address, normalized (email_normalize) */
    char from_name[256];             /* its display name, UTF-8 */
    char recipients[2048];           /* To, Cc, Delivered-To and X-Original-To, as they came (for reply+ tokens) */
    char subject[1024];              /* UTF-8 */
    char message_id[256];            /* without the angle brackets; a hash of the message when it has none */
    char in_reply_to[256];
    char references[2048];
    char auth_results[1024];         /* the topmost Authentication-Results header (RFC 8601), unfolded; "" if none */
    int automatic;                   /* sent by a machine: Auto-Submitted other than "no", Precedence bulk/junk/list,
                                      * List-Id, X-Autoreply/X-Autorespond, an empty Return-Path (a bounce) */
    int attachments;                 /* parts that are not the text */
    char *text;                      /* the text (text/plain, or text/html with the tags dropped), UTF-8; malloc'ed */
} mime_msg_t;

/* Parses raw[0..len) into out (free with mime_msg_free). Returns 0, or KB_ERR_INVAL with the reason in err (no
 * From, a From that is not an address, broken MIME: a multipart without its boundary, a bad encoding, text that is
 * not valid in its charset). */
int mime_parse(const char *raw, size_t len, mime_msg_t *out, char *err, size_t errlen);
/* Frees what mime_parse allocated. */
void mime_msg_free(mime_msg_t *m);

/* 1 when auth_results (an Authentication-Results value) was added by authserv_id (compared without case) and says
 * the message's From domain is authentic: dmarc=pass (its header.from, when given, being that domain), or dkim=pass
 * with a signing domain (header.d, or the domain of header.i) equal to the From domain or a parent of it (relaxed
 * alignment). 0 for anything else: another server's header, spf alone, fail, none, an empty authserv_id. */
int mime_auth_pass(const char *auth_results, const char *authserv_id, const char *from);

/* Cuts a reply's text in place before what the customer did not write: the quoted history (lines starting with
 * ">", "On … wrote:", "… пишет:", "-----Original Message-----", an Outlook "From:" block) and the signature ("-- "
 * and phone-client footers); trims blank lines around what is left. */
void mime_strip_reply(char *text);

/* Decodes RFC 2047 encoded words in s into UTF-8 (out always terminated). */
void mime_decode_words(const char *s, char *out, size_t size);
/* Encodes UTF-8 s as RFC 2047 "B" words when it is not plain ASCII (folded lines for a header), else copies it.
 * Returns a malloc'ed string or NULL. */
char *mime_encode_words(const char *s);

typedef struct {
    const char *name;                /* the file name, UTF-8 */
    const char *type;                /* "application/pdf" */
    const unsigned char *bytes;
    size_t len;
} mime_attachment_t;

typedef struct {
    const char *from;                /* "Name <address>" or an address; a UTF-8 name is encoded */
    const char *to;                  /* an address */
    const char *subject;             /* UTF-8 */
    const char *message_id;          /* without the angle brackets */
    const char *in_reply_to;         /* or NULL: also the References */
    const char *reply_to;            /* or NULL */
    const char *auto_submitted;      /* "auto-replied", "auto-generated" (RFC 3834), or NULL */
    const char *list_unsubscribe;    /* the header's value (RFC 2369, 8058), or NULL */
    const char *text;                /* UTF-8 */
    const mime_attachment_t *attachments;
    int nattachments;
    time_t date;
} mime_out_t;

/* Builds a message; *len gets its length. Returns a malloc'ed buffer, or NULL when out of memory. */
char *mime_build(const mime_out_t *m, size_t *len);

#endif
