/*
 * roster_internal: what roster.c lends roster_build.c and nobody else: the
 * strict decode and field checks on the generated roster types, the
 * signature's domain tag, and the field predicates, so that the builder
 * applies the verifier's rules instead of a copy. Include it only from
 * roster*.c: it is the one header besides the generated one that names
 * protobuf roster types.
 */
#ifndef TMBUS_ROSTER_INTERNAL_H
#define TMBUS_ROSTER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "roster.h"
#include "roster.pb-c.h"

#define HASH_BYTES 32 /* BLAKE2b-256: roster hashes and chains */

/* Short names for the generated types both files work on. */
typedef Tmbus__Roster__SignedRoster SignedRoster;
typedef Tmbus__Roster__Roster Roster;
typedef Tmbus__Roster__Member Member;
typedef Tmbus__Roster__MemberKeys MemberKeys;
typedef Tmbus__Roster__Governor Governor;
typedef Tmbus__Roster__RosterSignature RosterSignature;
typedef Tmbus__Roster__SignedUpTo SignedUpTo;

/* A governor signs tag || serialized Roster; the tag ends in its NUL. */
#define ROSTER_SIG_TAG_BYTES 16
extern const uint8_t roster_sig_tag[ROSTER_SIG_TAG_BYTES];

/* Decodes buf strictly (size first, no unknown fields, canonical bytes)
 * and checks every field as roster_verify does, but no signature, chain or
 * expiry. On ROSTER_OK *srp and *rop are the caller's to free with their
 * free_unpacked; otherwise both are NULL and why says what is wrong. */
enum roster_status roster_open_fields(const uint8_t *buf, size_t len,
                                      Tmbus__Roster__SignedRoster **srp,
                                      Tmbus__Roster__Roster **rop, char *why, size_t wsz)
    __attribute__((warn_unused_result));

/* A human name: 1..ROSTER_NAME_MAX bytes without control characters. */
bool roster_is_name(const char *s);

/* An endpoint: 1..ROSTER_ENDPOINT_MAX printable ASCII, no spaces. */
bool roster_is_endpoint(const char *s);

#endif
