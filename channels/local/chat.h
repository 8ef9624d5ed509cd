/* chat.h — the console chat (`kabinetd chat`): one customer in the terminal, through a running kabinetd's local
 * channel (chat.c). */
#ifndef KB_CHAT_H
#define KB_CHAT_H

/* Talks to kabinetd at url (http://127.0.0.1:8080) as conversation local:<who> until stdin ends. Returns 0, or
 * KB_ERR_NOTCONN when kabinetd cannot be reached or refuses. */
int chat_run(const char *url, const char *who);

#endif
