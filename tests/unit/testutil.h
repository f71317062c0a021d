/*
 * testutil: helpers shared by the unit tests: temporary directories that
 * clean themselves up, running a command and capturing its output, and
 * deterministic key sets. Test code only.
 */
#ifndef TMBUS_TESTUTIL_H
#define TMBUS_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "keys.h"

/* Creates a fresh directory under $TMPDIR (or /tmp) and returns its path
 * in a static buffer overwritten by the next call. Aborts on failure. */
const char *tu_tempdir(void);

/* Removes a directory tree (best effort). */
void tu_rmtree(const char *path);

/* Runs cmd through /bin/sh, captures stdout+stderr (at most size-1 bytes,
 * NUL-terminated) and returns the exit status, or -1 if it did not exit. */
int tu_run(const char *cmd, char *out, size_t size);

/* A member's key set derived from a seed built from the member id, so
 * every run gets the same keys. Aborts on failure. */
struct keyset *tu_member_keys(const char *member);

/* A fixed store key (STORE_KEY_BYTES) for tests that open a store
 * without a member's keys. */
extern const uint8_t tu_store_key[32];

#endif
