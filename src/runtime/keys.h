/* keys.h — the names of kabinet's Redis keys, and the hash-tag rule they follow.
 *
 * Every key that belongs to one conversation is "kb:{<conversation>}:<what>", so all of a conversation's keys hash
 * to one Redis Cluster slot and one Lua script may touch them together. A conversation id is "<channel>:<id>"
 * (tg:123, sms:+79161234567, mail:…). Keys that belong to no conversation (leases of a whole process, global rate
 * limits) carry a tag of their own ("kb:{lease:tg-poll}"). Only this module builds key names. */
#ifndef KB_KEYS_H
#define KB_KEYS_H

#include <stddef.h>

/* The kinds of per-conversation keys. */
typedef enum {
    KEY_STATE,      /* hash: dialog, step, data, version, updated */
    KEY_QUEUE,      /* list: the conversation's pending events */
    KEY_SEEN,       /* (unused since the recent ids moved into the state hash: fields seen, seen_at) */
    KEY_LEASE,      /* string: which process handles the conversation now */
    KEY_RATE,       /* string: per-conversation rate limit counter */
    KEY_OUT,        /* list: replies committed, in order, for the lease holder to deliver (engine.h) */
    KEY__COUNT
} keys_kind_t;

/* Writes the key of kind for conversation conv into buf; returns its length, or a negative error when buf is too
 * small or conv contains a brace (which would break the tag). */
int keys_conv(char *buf, size_t size, const char *conv, keys_kind_t kind);
/* Writes a global key with its own tag: "kb:{<name>}". */
int keys_global(char *buf, size_t size, const char *name);
/* Writes a scheduler key: "kb:{sched}:<what>" (what: "ready", "timers"). */
int keys_sched(char *buf, size_t size, const char *what);
/* The hash tag of key as Redis Cluster computes it: the text between the first '{' and the next '}' when that is
 * not empty, else the whole key. */
void keys_tag(const char *key, size_t len, const char **tag, size_t *taglen);
/* 1 when two keys hash to the same slot by construction (same tag). */
int keys_same_slot(const char *a, size_t alen, const char *b, size_t blen);
/* The Redis Cluster slot of key (0…16383): CRC16 of its hash tag, modulo 16384. */
int keys_slot(const char *key, size_t len);
/* The suffix used for a kind ("state", "queue", …). */
const char *keys_kind_name(keys_kind_t kind);

#endif
