/* tg_file.h — fetching a file a customer sent (a meter photo, an appeal's scan) from Telegram by its file_id, for
 * the staff who check it: getFile, then the download from <api url>/file/bot<token>/<path>. Blocking (libcurl easy):
 * for the command line (`kabinetd tg-file FILE_ID`), never on the loop. Telegram keeps file_ids valid; the download
 * link from getFile lasts an hour, so it is asked for each time. */
#ifndef KB_TG_FILE_H
#define KB_TG_FILE_H

#include <stddef.h>
#include <stdio.h>

#define TG_MAX_DOWNLOAD (20 * 1024 * 1024)   /* the Bot API serves files up to 20 MB */

/* Writes the file's bytes to out. Returns 0, KB_ERR_INVAL (Telegram does not know the file_id: err says why),
 * KB_ERR_NOTCONN (Telegram not reachable) or KB_ERR_PROTO (an answer that makes no sense, or a file too large). */
int tg_file_fetch(const char *api_url, const char *token, const char *file_id, FILE *out, char *err, size_t errlen);

#endif
