/*
 * roster_build: building and signing rosters, for tmbus-admin (and the
 * tests that make rosters). The node only verifies rosters (roster.h);
 * nothing here is on its path. Never exposes protobuf types.
 */
#ifndef TMBUS_ROSTER_BUILD_H
#define TMBUS_ROSTER_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "roster.h"

/* Builds an unsigned SignedRoster from a roster source file (INI, see
 * deploy/examples/roster.ini) whose key file paths are relative to the
 * source's directory. now stamps issued_at. Returns 0 and a malloc'd
 * buffer, or -1 with file:line: reason logged. */
int roster_build(const char *source_path, int64_t now, uint8_t **out, size_t *out_len);

/* Adds a governor's signature to a serialized SignedRoster (replacing an
 * earlier signature by the same key). The governor key must be listed in
 * the roster. Returns 0 and a new malloc'd buffer, or -1 (logged). */
int roster_sign(const uint8_t *buf, size_t len, const struct keyset *governor, uint8_t **out,
                size_t *out_len);

#endif
