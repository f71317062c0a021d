/*
 * fuzz_common: a fixed test federation for the fuzz harnesses and the
 * corpus generator: members "A", "B" and "C" with keys derived from
 * BLAKE2b-256 of their ids, a lookup over them, and a keyring for "B".
 * Test code only: everything is built lazily on first use and lives until
 * the process exits; it must never define a fuzzer entry point.
 */
#ifndef TMBUS_FUZZ_COMMON_H
#define TMBUS_FUZZ_COMMON_H

#include "envelope.h"
#include "keys.h"

#define FUZZ_COALITION "fuzz-coalition"
#define FUZZ_N_MEMBERS 3

/* The member id at index i (0..FUZZ_N_MEMBERS-1): "A", "B" or "C". */
const char *fuzz_member_id(size_t i);

/* The key set of member id, or NULL when id is not one of the federation.
 * Owned by this module; never free it. Aborts if keys cannot be made. */
const struct keyset *fuzz_member(const char *id);

/* An envelope_lookup_fn over the federation; arg is unused. Returns 0 and
 * fills *out for "A", "B" and "C", -1 for anyone else. */
int fuzz_lookup(void *arg, const char *member, const char *log_peer, uint64_t seq,
                struct envelope_member_keys *out);

/* B's keyring, built on first call and reused after: its pair-key cache
 * persists across inputs, as it would in a node. Never free it. */
struct envelope_keyring *fuzz_keyring_b(void);

/* A private directory made on first call (under $TMPDIR, else /tmp) and
 * removed with what it holds when the process exits normally. Never free
 * the string. Aborts if the directory cannot be made. */
const char *fuzz_scratch_dir(void);

/* Writes data to the file name inside fuzz_scratch_dir(), replacing it,
 * for the decoders that read a path rather than bytes. Returns the file's
 * path, valid until the next call. Aborts on a write error. */
const char *fuzz_scratch_file(const char *name, const uint8_t *data, size_t size);

#endif
