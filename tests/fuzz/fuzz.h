/* fuzz.h — what every fuzz target shares: the libFuzzer entry point's signature, and a NUL-terminated copy of the
 * input for parsers that take C strings. Each fuzz_<name>.c feeds one parser that takes outside input; built with
 * libFuzzer (tests/fuzz/run.sh, clang-14 with ASan and UBSan) or with replay.c into a plain program that runs
 * the seed corpus and the regression inputs (ctest fuzz_replay_<name>). */
#ifndef KB_FUZZ_H
#define KB_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include "httpd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A malloc'ed, NUL-terminated copy of data (NULL bytes inside stay: C-string parsers see a prefix). */
static inline char *fuzz_str(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s) {
        memcpy(s, data, size);
        s[size] = 0;
    }
    return s;
}

/* A webhook call from an input: data[1..] up to the first newline is the query, the rest the body (data[0] is the
 * target's own selector). NULL when out of memory. Free with httpd_req_detached_free. */
static inline httpd_req_t *fuzz_request(const uint8_t *data, size_t size, const char *method, const char *path,
                                        const char *content_type)
{
    const char *rest = (const char *)data + 1, *nl = memchr(rest, '\n', size - 1);
    char *query = fuzz_str((const uint8_t *)rest, nl ? (size_t)(nl - rest) : 0);
    const char *body = nl ? nl + 1 : rest;
    char ct[128];
    snprintf(ct, sizeof ct, "Content-Type: %s", content_type);
    const char *headers[] = {ct, NULL};
    httpd_req_t *r = query ? httpd_req_detached(method, path, query, headers, body,
                                                size - 1 - (size_t)(body - rest), "127.0.0.1") : NULL;
    free(query);
    return r;
}

#endif
