/*
 * roster_build: building and signing rosters, for tmbus-admin (and the
 * tests that make rosters). The node only verifies rosters (roster.h);
 * nothing here is on its path. Never exposes protobuf types.
 */
#ifndef TMBUS_ROSTER_BUILD_H
#define TMBUS_ROSTER_BUILD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "keys.h"
#include "roster.h"

/* Builds an unsigned SignedRoster from a roster source file (INI, see
 * deploy/examples/roster.ini) whose key file paths are relative to the
 * source's directory. now stamps issued_at. Returns 0 and a malloc'd
 * buffer, or -1 with file:line: reason logged. */
int roster_build(const char *source_path, int64_t now, uint8_t **out, size_t *out_len);

/* roster_build for the next version of the roster at previous_path (a
 * signed roster that verifies as trusted): version is its version + 1 and
 * previous_hash its hash, whatever the source's version and previous say.
 * Returns 0 and a malloc'd buffer, or -1 with the reason logged. */
int roster_build_next(const char *source_path, const char *previous_path, int64_t now,
                      uint8_t **out, size_t *out_len);

/* A governor's signature over the roster in buf, detached: *pk gets its
 * key, *sig the Ed25519 signature over the tagged Roster bytes. The key
 * must be listed in the roster. Returns 0, or -1 (logged). */
int roster_sign_detached(const uint8_t *buf, size_t len, const struct keyset *governor,
                         uint8_t pk[KEYS_PUBLIC_BYTES], uint8_t sig[KEYS_SIGNATURE_BYTES]);

/* Adds the signature sig by governor key pk to the SignedRoster in buf
 * (replacing an earlier one by that key). pk must be listed in the
 * roster; the signature itself is not checked here: roster_inspect shows
 * which governors' signatures verify. Returns 0 and a new malloc'd
 * buffer, or -1 (logged). */
int roster_attach(const uint8_t *buf, size_t len, const uint8_t pk[KEYS_PUBLIC_BYTES],
                  const uint8_t sig[KEYS_SIGNATURE_BYTES], uint8_t **out, size_t *out_len);

/* Writes to out what changed from roster old to roster new, one line per
 * change, for people: members added and removed; per member its name,
 * role, endpoints, groups and key generations (added, rotated to ACTIVE,
 * RETIRED or REVOKED); governors added and removed; threshold, expiry and
 * version. Both must decode with sound fields (not necessarily signed).
 * Returns the number of changes, or -1 with the reason logged. */
int roster_diff(const uint8_t *old_buf, size_t old_len, const uint8_t *new_buf, size_t new_len,
                FILE *out);

/* Adds a governor's signature to a serialized SignedRoster (replacing an
 * earlier signature by the same key). The governor key must be listed in
 * the roster. Returns 0 and a new malloc'd buffer, or -1 (logged). */
int roster_sign(const uint8_t *buf, size_t len, const struct keyset *governor, uint8_t **out,
                size_t *out_len);

#endif
