/* fuzz.h — what every fuzz target shares: the libFuzzer entry point's signature, and a NUL-terminated copy of the
 * input for parsers that take C strings. Each fuzz_<name>.c feeds one parser that takes outside input; built with
 * libFuzzer (tests/fuzz/run.sh, clang-14 with ASan and UBSan) or with replay.c into a plain program that runs
 * the seed corpus and the regression inputs (ctest fuzz_replay_<name>). */
#ifndef KB_FUZZ_H
#define KB_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

#endif
