/*
 * roster: the root of trust. Parses and verifies a SignedRoster (threshold
 * of distinct governing members, hash chain, version, expiry checked last)
 * and answers questions about members and their keys; building and signing
 * rosters, which only tmbus-admin does, is roster_build's. Holds no secrets
 * and does no I/O except roster_load reading a file. Never exposes protobuf
 * types.
 */
#ifndef TMBUS_ROSTER_H
#define TMBUS_ROSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "envelope.h"
#include "keys.h"
#include "util.h"

#define ROSTER_MAX_SIZE        (1024 * 1024) /* serialized SignedRoster */
#define ROSTER_MAX_MEMBERS     256
#define ROSTER_MAX_GOVERNORS   64
#define ROSTER_MAX_SIGNATURES  64
#define ROSTER_MAX_KEYS        16  /* key generations per member */
#define ROSTER_MAX_ACTIVE      2   /* ACTIVE ones: two during a rotation's overlap */
#define ROSTER_MAX_SIGNED_LOGS 256 /* signed_up_to entries of one retired generation */
#define ROSTER_MAX_ENDPOINTS   8
#define ROSTER_MAX_GROUPS      32
#define ROSTER_NAME_MAX        128
#define ROSTER_ENDPOINT_MAX    256
#define ROSTER_GROUP_MAX       64
#define ROSTER_FORMAT          1

enum roster_role {
    ROSTER_ROLE_BENEFICIARY = 1,
    ROSTER_ROLE_DONOR = 2,
    ROSTER_ROLE_OBSERVER = 3,
    ROSTER_ROLE_COORDINATOR = 4,
};

enum roster_key_status {
    ROSTER_KEY_ACTIVE = 1,
    ROSTER_KEY_RETIRED = 2,
    ROSTER_KEY_REVOKED = 3,
};

/* Why a roster was refused. */
enum roster_status {
    ROSTER_OK = 0,
    ROSTER_E_SIZE,      /* over ROSTER_MAX_SIZE, checked before parsing */
    ROSTER_E_MALFORMED, /* not a well-formed SignedRoster / Roster */
    ROSTER_E_FIELD,     /* a field out of bounds, wrong length, duplicate id */
    ROSTER_E_COALITION, /* another coalition */
    ROSTER_E_VERSION,   /* not version 1 without a previous, or not previous + 1 */
    ROSTER_E_CHAIN,     /* previous_hash does not match the previous roster */
    ROSTER_E_THRESHOLD, /* too few distinct governing members signed */
    ROSTER_E_EXPIRED,   /* past expires_at (checked last) */
    ROSTER_E_INTERNAL,  /* out of memory */
    ROSTER_E_ROLLBACK,  /* older than the roster this node trusts */
    ROSTER_E_FORK,      /* the trusted roster's version, but other bytes */
    ROSTER_STATUS_COUNT
};

/* A short stable name for logs and counters. Never NULL. */
const char *roster_status_name(enum roster_status st);

/* Read-only view of one member, valid while its roster lives. */
struct roster_member {
    const char *id;
    const char *name;
    enum roster_role role;
    /* The member's ACTIVE key generation; during a rotation's overlap,
     * the older of its two: the one others seal to and dial. */
    uint32_t key_id;
    const uint8_t *sign_pk;
    const uint8_t *box_pk;
    const uint8_t *transport_pk;
    /* During a rotation's overlap, the newer ACTIVE generation: it signs
     * and authenticates links as well, but nobody seals to it or dials
     * it yet. 0 and NULL when the member has one ACTIVE generation. */
    uint32_t next_key_id;
    const uint8_t *next_sign_pk;
    const uint8_t *next_box_pk;
    const uint8_t *next_transport_pk;
    size_t n_endpoints;
    const char *const *endpoints;
    size_t n_groups;
    const char *const *groups;
};

/* Read-only view of one governance key, valid while its roster lives. */
struct roster_governor {
    const char *member;     /* the member holding the key */
    const uint8_t *sign_pk; /* KEYS_PUBLIC_BYTES */
    bool has_signed;        /* a valid signature by this key is attached */
};

struct roster; /* a verified roster, immutable */

/* Verifies a serialized SignedRoster. coalition is the expected coalition;
 * now is the current Unix time; prev is the roster we trust today (NULL when
 * this is the first: then version must be 1 and previous_hash empty). The
 * threshold must be met under the new governance set and, when prev is
 * given, under prev's too; a governor counts once per distinct member.
 * Expiry is checked last. On success *out is ours to free with
 * roster_free. The detailed reason for a refusal is logged at debug level
 * only (fuzzable, and a flood of bad input stays cheap): the caller logs
 * roster_status_name and counts it. */
enum roster_status roster_verify(const uint8_t *buf, size_t len, const char *coalition, int64_t now,
                                 const struct roster *prev, struct roster **out)
    __attribute__((warn_unused_result));

/* Checks a roster this node trusts already (the one it accepted with
 * roster_verify and saved, or the first roster an operator installs) so
 * that it can serve as prev: every check of roster_verify except the
 * version chain, which needs the roster before it, and expiry, because an
 * expired trusted roster still anchors its successor (as in TUF). A caller
 * that uses the roster for anything else checks roster_expires_at itself.
 * On success *out is ours to free with roster_free. */
enum roster_status roster_verify_trusted(const uint8_t *buf, size_t len, const char *coalition,
                                         struct roster **out) __attribute__((warn_unused_result));

/* The roster a node may run, judged against trusted, the highest roster
 * it has trusted before (kept in its store; NULL when it has trusted none
 * yet, and then buf is checked as by roster_verify_trusted). The bytes of
 * trusted itself are accepted again. Otherwise buf must be trusted's direct
 * successor as roster_verify checks it (version + 1, previous hash,
 * threshold under both governance sets): an older version is
 * ROSTER_E_ROLLBACK, another roster of trusted's version ROSTER_E_FORK, a
 * version more than one ahead ROSTER_E_VERSION (versions are installed in
 * turn, so that each step's governance consents to the next). Whatever
 * passes must not have expired at now: a node does not run on an expired
 * roster. On success *out is ours to free. why (why_size bytes, may be 0)
 * gets a one-line reason for the caller to log with roster_status_name;
 * this function logs nothing. */
enum roster_status roster_verify_update(const uint8_t *buf, size_t len, const char *coalition,
                                        int64_t now, const struct roster *trusted,
                                        struct roster **out, char *why, size_t why_size)
    __attribute__((warn_unused_result));

/* Reads a roster file (at most ROSTER_MAX_SIZE bytes) and checks it with
 * roster_verify_trusted. Blocks on file I/O. Returns 0 and *out, or -1
 * with the reason logged. */
int roster_load(const char *path, const char *coalition, struct roster **out)
    __attribute__((warn_unused_result));

/* For tools only (tmbus-admin roster verify and show): runs the checks of
 * roster_verify, skipping the coalition check when coalition is NULL and
 * the version chain when check_chain is false, and writes a one-line
 * reason into why. *out is set (ours to free) whenever the roster is well
 * formed and its fields are sound, even when a later check fails: such a
 * roster is for display only and must not be trusted unless the result is
 * ROSTER_OK. */
enum roster_status roster_inspect(const uint8_t *buf, size_t len, const char *coalition,
                                  int64_t now, const struct roster *prev, bool check_chain,
                                  struct roster **out, char *why, size_t why_size);

/* Frees a roster and sets *rp to NULL. Accepts NULL. */
void roster_free(struct roster **rp);

const char *roster_coalition(const struct roster *r);
uint64_t roster_version(const struct roster *r);
int64_t roster_issued_at(const struct roster *r);
int64_t roster_expires_at(const struct roster *r);
uint32_t roster_threshold(const struct roster *r);
/* Distinct governing members whose listed key signed this roster. */
uint32_t roster_signer_count(const struct roster *r);
/* BLAKE2b-256 over the signed Roster bytes: the next version's previous_hash. */
const uint8_t *roster_hash(const struct roster *r);

size_t roster_member_count(const struct roster *r);
/* i < roster_member_count; fills *out. */
void roster_member_at(const struct roster *r, size_t i, struct roster_member *out);
/* Returns 0 and fills *out, or -1 when no such member. */
int roster_find(const struct roster *r, const char *id, struct roster_member *out);
/* The member with an ACTIVE transport key pk (either generation during
 * an overlap), or -1. */
int roster_find_by_transport(const struct roster *r, const uint8_t *pk, struct roster_member *out);

/* Which of member m's ACTIVE generations the public keys in ks are (all
 * three must match). */
enum roster_generation {
    ROSTER_GEN_NONE = 0, /* not ACTIVE: retired, revoked or never listed */
    ROSTER_GEN_CURRENT,  /* the one others seal to and dial (m's key_id) */
    ROSTER_GEN_NEXT,     /* the newer one during a rotation's overlap */
};
enum roster_generation roster_generation_of(const struct roster_member *m, const struct keyset *ks);

size_t roster_governor_count(const struct roster *r);
/* i < roster_governor_count; fills *out. */
void roster_governor_at(const struct roster *r, size_t i, struct roster_governor *out);

/* An envelope_lookup_fn over a roster (arg is the const struct roster *):
 * gives a member's ACTIVE keys (the newer of two during an overlap
 * offered first among the older keys) and each RETIRED generation
 * whose signed_up_to covers the envelope's log and seq (it signed there
 * while it was active). REVOKED keys are never offered. Refuses unknown
 * members. */
int roster_envelope_lookup(void *arg, const char *member, const char *log_peer, uint64_t seq,
                           struct envelope_member_keys *out);

/* One RETIRED key generation of a member: what signed before a rotation. */
struct roster_retired_key {
    uint32_t key_id;
    const uint8_t *sign_pk; /* KEYS_PUBLIC_BYTES, inside the roster */
};

/* The RETIRED generations of member id into out (at most max), in the
 * roster's order; REVOKED ones are never given. For checks of what a key
 * signed while it was active, beyond envelopes (audit checkpoints).
 * Returns how many; 0 for an unknown member. */
size_t roster_retired_keys(const struct roster *r, const char *id, struct roster_retired_key *out,
                           size_t max);

const char *roster_role_name(enum roster_role role);
/* "beneficiary", "donor", "observer", "coordinator" → role; -1 if unknown. */
int roster_role_parse(const char *s, enum roster_role *out);

#endif
