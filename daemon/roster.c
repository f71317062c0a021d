/*
 * roster: the root of trust. Decodes a SignedRoster strictly (size before
 * parsing, no unknown fields, canonical bytes, every count and length
 * against a named limit), then checks coalition, version chain, the
 * threshold of distinct governing members under the new and the old sets,
 * and expiry last, and answers lookups on the verified view: all a node
 * needs. Building a roster from its INI source and signing it are
 * roster_build.c's, for tmbus-admin. It must never hand out a roster that
 * failed a check, except through roster_inspect for display.
 */
#include "roster.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "domain.h"
#include "log.h"
#include "roster.pb-c.h"
#include "roster_internal.h"

/* Domain separation for governor signatures; the NUL is part of the tag. */
const uint8_t roster_sig_tag[ROSTER_SIG_TAG_BYTES] = "tmbus roster v1";

struct roster {
    Roster *pb; /* owns every string and key the views point into */
    uint8_t hash[HASH_BYTES];
    struct roster_member *members;
    struct roster_governor *governors;
    uint32_t n_signers;
};

static const char *const status_names[ROSTER_STATUS_COUNT] = {
    [ROSTER_OK] = "ok",
    [ROSTER_E_SIZE] = "too-large",
    [ROSTER_E_MALFORMED] = "malformed",
    [ROSTER_E_FIELD] = "bad-field",
    [ROSTER_E_COALITION] = "wrong-coalition",
    [ROSTER_E_VERSION] = "bad-version",
    [ROSTER_E_CHAIN] = "broken-chain",
    [ROSTER_E_THRESHOLD] = "below-threshold",
    [ROSTER_E_EXPIRED] = "expired",
    [ROSTER_E_INTERNAL] = "internal",
    [ROSTER_E_ROLLBACK] = "rolled-back",
    [ROSTER_E_FORK] = "forked",
};

static const char *const role_names[] = {
    [ROSTER_ROLE_BENEFICIARY] = "beneficiary",
    [ROSTER_ROLE_DONOR] = "donor",
    [ROSTER_ROLE_OBSERVER] = "observer",
    [ROSTER_ROLE_COORDINATOR] = "coordinator",
};

const char *roster_status_name(enum roster_status st)
{
    if ((unsigned)st >= ROSTER_STATUS_COUNT)
        return "unknown";
    return status_names[st];
}

const char *roster_role_name(enum roster_role role)
{
    if (role < ROSTER_ROLE_BENEFICIARY || role > ROSTER_ROLE_COORDINATOR)
        return "unknown";
    return role_names[role];
}

int roster_role_parse(const char *s, enum roster_role *out)
{
    for (int i = ROSTER_ROLE_BENEFICIARY; i <= ROSTER_ROLE_COORDINATOR; i++) {
        if (strcmp(s, role_names[i]) == 0) {
            *out = (enum roster_role)i;
            return 0;
        }
    }
    return -1;
}

static void say(char *why, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void say(char *why, size_t size, const char *fmt, ...)
{
    va_list ap;

    if (size == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(why, size, fmt, ap);
    va_end(ap);
}

/* ---- decoding ---------------------------------------------------------- */

/* 1 when m re-encodes to exactly buf, 0 when not, -1 when out of memory.
 * protobuf is not canonical; requiring our own encoding closes the door to
 * duplicate fields and other ways of saying the same thing twice. */
static int is_canonical(const ProtobufCMessage *m, const uint8_t *buf, size_t len)
{
    uint8_t *tmp;
    int same;

    if (protobuf_c_message_get_packed_size(m) != len)
        return 0;
    if (len == 0) /* an empty field has a NULL buffer, which memcmp must not see */
        return 1;
    if ((tmp = malloc(len)) == NULL)
        return -1;
    protobuf_c_message_pack(m, tmp);
    same = memcmp(tmp, buf, len) == 0;
    free(tmp);
    return same;
}

static bool has_unknown(const SignedRoster *sr, const Roster *ro)
{
    if (sr->base.n_unknown_fields != 0 || ro->base.n_unknown_fields != 0)
        return true;
    for (size_t i = 0; i < sr->n_signatures; i++)
        if (sr->signatures[i]->base.n_unknown_fields != 0)
            return true;
    for (size_t i = 0; i < ro->n_governors; i++)
        if (ro->governors[i]->base.n_unknown_fields != 0)
            return true;
    for (size_t i = 0; i < ro->n_members; i++) {
        const Member *m = ro->members[i];
        if (m->base.n_unknown_fields != 0)
            return true;
        for (size_t k = 0; k < m->n_keys; k++) {
            if (m->keys[k]->base.n_unknown_fields != 0)
                return true;
            for (size_t l = 0; l < m->keys[k]->n_signed_up_to; l++)
                if (m->keys[k]->signed_up_to[l]->base.n_unknown_fields != 0)
                    return true;
        }
    }
    return false;
}

/* Unpacks a SignedRoster and the Roster inside it. On success both are
 * ours to free with their free_unpacked. */
static enum roster_status decode(const uint8_t *buf, size_t len, SignedRoster **srp, Roster **rop,
                                 char *why, size_t wsz)
{
    SignedRoster *sr = NULL;
    Roster *ro = NULL;
    enum roster_status st = ROSTER_E_MALFORMED;
    int c;

    if (len > ROSTER_MAX_SIZE) {
        say(why, wsz, "%zu bytes, over the limit of %d", len, ROSTER_MAX_SIZE);
        return ROSTER_E_SIZE;
    }
    if (buf == NULL && len > 0) {
        say(why, wsz, "no buffer");
        return ROSTER_E_MALFORMED;
    }
    if ((sr = tmbus__roster__signed_roster__unpack(NULL, len, buf)) == NULL) {
        say(why, wsz, "not a SignedRoster");
        goto out;
    }
    if ((c = is_canonical(&sr->base, buf, len)) != 1) {
        st = c == -1 ? ROSTER_E_INTERNAL : ROSTER_E_MALFORMED;
        say(why, wsz, c == -1 ? "out of memory" : "SignedRoster not canonically encoded");
        goto out;
    }
    ro = tmbus__roster__roster__unpack(NULL, sr->roster.len, sr->roster.data);
    if (ro == NULL) {
        say(why, wsz, "roster bytes are not a Roster");
        goto out;
    }
    if ((c = is_canonical(&ro->base, sr->roster.data, sr->roster.len)) != 1) {
        st = c == -1 ? ROSTER_E_INTERNAL : ROSTER_E_MALFORMED;
        say(why, wsz, c == -1 ? "out of memory" : "Roster not canonically encoded");
        goto out;
    }
    if (has_unknown(sr, ro)) {
        say(why, wsz, "unknown fields");
        goto out;
    }
    *srp = sr;
    *rop = ro;
    return ROSTER_OK;
out:
    if (ro != NULL)
        tmbus__roster__roster__free_unpacked(ro, NULL);
    if (sr != NULL)
        tmbus__roster__signed_roster__free_unpacked(sr, NULL);
    return st;
}

/* ---- field checks ------------------------------------------------------ */

/* A human name: 1..ROSTER_NAME_MAX bytes without control characters, so
 * that it prints safely in a table. */
bool roster_is_name(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > ROSTER_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

/* An endpoint: 1..ROSTER_ENDPOINT_MAX printable ASCII characters, no
 * spaces. libzmq judges the rest when it dials. */
bool roster_is_endpoint(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > ROSTER_ENDPOINT_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= 0x20 || s[i] >= 0x7f)
            return false;
    return true;
}

static bool is_key(ProtobufCBinaryData b)
{
    return b.len == KEYS_PUBLIC_BYTES;
}

/* The oldest ACTIVE generation (lowest key_id) of a member that
 * check_member has passed: the one others seal to and dial. */
static const MemberKeys *active_keys(const Member *m)
{
    const MemberKeys *best = NULL;

    for (size_t k = 0; k < m->n_keys; k++)
        if (m->keys[k]->status == TMBUS__ROSTER__KEY_STATUS__KEY_STATUS_ACTIVE &&
            (best == NULL || m->keys[k]->key_id < best->key_id))
            best = m->keys[k];
    if (best == NULL)
        log_abort(__FILE__, __LINE__, "member without an ACTIVE key generation");
    return best;
}

/* During a rotation's overlap, the newer of a member's two ACTIVE
 * generations; NULL when it has one. */
static const MemberKeys *incoming_keys(const Member *m)
{
    const MemberKeys *oldest = active_keys(m);

    for (size_t k = 0; k < m->n_keys; k++)
        if (m->keys[k]->status == TMBUS__ROSTER__KEY_STATUS__KEY_STATUS_ACTIVE &&
            m->keys[k] != oldest)
            return m->keys[k];
    return NULL;
}

/* Whether two generations share any public key. */
static bool share_a_key(const MemberKeys *a, const MemberKeys *b)
{
    return memcmp(a->sign_key.data, b->sign_key.data, KEYS_PUBLIC_BYTES) == 0 ||
           memcmp(a->box_key.data, b->box_key.data, KEYS_PUBLIC_BYTES) == 0 ||
           memcmp(a->transport_key.data, b->transport_key.data, KEYS_PUBLIC_BYTES) == 0;
}

/* A retired generation's signing window: distinct logs of this member,
 * each the relayed log ("") or a direct log to another member, each with a
 * last seq from 1. Other generations list none. */
static enum roster_status check_signed_up_to(const Member *m, const MemberKeys *mk, char *why,
                                             size_t wsz)
{
    if (mk->n_signed_up_to == 0)
        return ROSTER_OK;
    if (mk->status != TMBUS__ROSTER__KEY_STATUS__KEY_STATUS_RETIRED) {
        say(why, wsz, "member %s: key %u is not RETIRED but lists signed_up_to", m->id, mk->key_id);
        return ROSTER_E_FIELD;
    }
    if (mk->n_signed_up_to > ROSTER_MAX_SIGNED_LOGS) {
        say(why, wsz, "member %s: key %u lists %zu logs (at most %d)", m->id, mk->key_id,
            mk->n_signed_up_to, ROSTER_MAX_SIGNED_LOGS);
        return ROSTER_E_FIELD;
    }
    for (size_t l = 0; l < mk->n_signed_up_to; l++) {
        const SignedUpTo *u = mk->signed_up_to[l];
        size_t n = strlen(u->log_peer);
        if ((n != 0 && (!util_is_member_id(u->log_peer, n) || strcmp(u->log_peer, m->id) == 0)) ||
            u->last_seq == 0) {
            say(why, wsz, "member %s: key %u has a bad signed_up_to entry", m->id, mk->key_id);
            return ROSTER_E_FIELD;
        }
        for (size_t j = 0; j < l; j++) {
            if (strcmp(mk->signed_up_to[j]->log_peer, u->log_peer) == 0) {
                say(why, wsz, "member %s: key %u lists a log twice", m->id, mk->key_id);
                return ROSTER_E_FIELD;
            }
        }
    }
    return ROSTER_OK;
}

/* Whether two members have an ACTIVE transport key in common. */
static bool shares_transport(const Member *a, const Member *b)
{
    for (size_t i = 0; i < a->n_keys; i++) {
        if (a->keys[i]->status != TMBUS__ROSTER__KEY_STATUS__KEY_STATUS_ACTIVE)
            continue;
        for (size_t j = 0; j < b->n_keys; j++)
            if (b->keys[j]->status == TMBUS__ROSTER__KEY_STATUS__KEY_STATUS_ACTIVE &&
                memcmp(a->keys[i]->transport_key.data, b->keys[j]->transport_key.data,
                       KEYS_PUBLIC_BYTES) == 0)
                return true;
    }
    return false;
}

static enum roster_status check_member(const Member *m, size_t i, char *why, size_t wsz)
{
    size_t n_active = 0;

    if (!util_is_member_id(m->id, strlen(m->id))) {
        say(why, wsz, "member %zu: bad id", i);
        return ROSTER_E_FIELD;
    }
    if (!roster_is_name(m->name)) {
        say(why, wsz, "member %s: bad name", m->id);
        return ROSTER_E_FIELD;
    }
    if ((int)m->role < ROSTER_ROLE_BENEFICIARY || (int)m->role > ROSTER_ROLE_COORDINATOR) {
        say(why, wsz, "member %s: unknown role %d", m->id, (int)m->role);
        return ROSTER_E_FIELD;
    }
    if (m->n_keys == 0 || m->n_keys > ROSTER_MAX_KEYS) {
        say(why, wsz, "member %s: %zu key generations (1..%d)", m->id, m->n_keys, ROSTER_MAX_KEYS);
        return ROSTER_E_FIELD;
    }
    for (size_t k = 0; k < m->n_keys; k++) {
        const MemberKeys *mk = m->keys[k];
        if (mk->key_id == 0 || (int)mk->status < ROSTER_KEY_ACTIVE ||
            (int)mk->status > ROSTER_KEY_REVOKED) {
            say(why, wsz, "member %s: key generation %zu has a bad id or status", m->id, k);
            return ROSTER_E_FIELD;
        }
        if (!is_key(mk->sign_key) || !is_key(mk->box_key) || !is_key(mk->transport_key)) {
            say(why, wsz, "member %s: key %u is not %d bytes", m->id, mk->key_id,
                KEYS_PUBLIC_BYTES);
            return ROSTER_E_FIELD;
        }
        for (size_t j = 0; j < k; j++) {
            if (m->keys[j]->key_id == mk->key_id) {
                say(why, wsz, "member %s: key id %u listed twice", m->id, mk->key_id);
                return ROSTER_E_FIELD;
            }
        }
        if (check_signed_up_to(m, mk, why, wsz) != ROSTER_OK)
            return ROSTER_E_FIELD;
        n_active += mk->status == TMBUS__ROSTER__KEY_STATUS__KEY_STATUS_ACTIVE;
    }
    /* Two during a rotation's overlap (PROTOCOL.md 3.4), each with keys
     * of its own: a key in both could not tell which generation used it. */
    if (n_active < 1 || n_active > ROSTER_MAX_ACTIVE) {
        say(why, wsz, "member %s: %zu ACTIVE key generations, need 1 or %d", m->id, n_active,
            ROSTER_MAX_ACTIVE);
        return ROSTER_E_FIELD;
    }
    if (n_active == 2 && incoming_keys(m) != NULL &&
        share_a_key(active_keys(m), incoming_keys(m))) {
        say(why, wsz, "member %s: its two ACTIVE generations share a key", m->id);
        return ROSTER_E_FIELD;
    }
    if (m->n_endpoints > ROSTER_MAX_ENDPOINTS || m->n_groups > ROSTER_MAX_GROUPS) {
        say(why, wsz, "member %s: too many endpoints or groups", m->id);
        return ROSTER_E_FIELD;
    }
    for (size_t e = 0; e < m->n_endpoints; e++) {
        if (!roster_is_endpoint(m->endpoints[e])) {
            say(why, wsz, "member %s: bad endpoint", m->id);
            return ROSTER_E_FIELD;
        }
    }
    for (size_t g = 0; g < m->n_groups; g++) {
        if (!domain_is_word(m->groups[g], ROSTER_GROUP_MAX)) {
            say(why, wsz, "member %s: bad group name", m->id);
            return ROSTER_E_FIELD;
        }
        for (size_t h = 0; h < g; h++) {
            if (strcmp(m->groups[h], m->groups[g]) == 0) {
                say(why, wsz, "member %s: group %s listed twice", m->id, m->groups[g]);
                return ROSTER_E_FIELD;
            }
        }
    }
    return ROSTER_OK;
}

static ssize_t member_index(const Roster *ro, const char *id)
{
    for (size_t i = 0; i < ro->n_members; i++)
        if (strcmp(ro->members[i]->id, id) == 0)
            return (ssize_t)i;
    return -1;
}

/* Number of distinct members among the governors. */
static uint32_t governing_members(const Roster *ro)
{
    uint32_t n = 0;

    for (size_t i = 0; i < ro->n_governors; i++) {
        size_t j = 0;
        while (j < i && strcmp(ro->governors[j]->member, ro->governors[i]->member) != 0)
            j++;
        n += j == i;
    }
    return n;
}

/* Everything that can be said of the bytes alone, before any signature. */
static enum roster_status check_fields(const SignedRoster *sr, const Roster *ro, char *why,
                                       size_t wsz)
{
    enum roster_status st;

    if (sr->n_signatures > ROSTER_MAX_SIGNATURES) {
        say(why, wsz, "%zu signatures, over the limit of %d", sr->n_signatures,
            ROSTER_MAX_SIGNATURES);
        return ROSTER_E_FIELD;
    }
    for (size_t i = 0; i < sr->n_signatures; i++) {
        if (!is_key(sr->signatures[i]->sign_key) ||
            sr->signatures[i]->signature.len != KEYS_SIGNATURE_BYTES) {
            say(why, wsz, "signature %zu has a key or signature of the wrong length", i);
            return ROSTER_E_FIELD;
        }
    }
    if (ro->format != ROSTER_FORMAT) {
        say(why, wsz, "format %u, expected %d", ro->format, ROSTER_FORMAT);
        return ROSTER_E_FIELD;
    }
    if (!domain_is_word(ro->coalition, ENVELOPE_COALITION_MAX)) {
        say(why, wsz, "bad coalition id");
        return ROSTER_E_FIELD;
    }
    if (ro->version == 0 || (ro->version == 1) != (ro->previous_hash.len == 0) ||
        (ro->previous_hash.len != 0 && ro->previous_hash.len != HASH_BYTES)) {
        say(why, wsz, "version %llu with a previous hash of %zu bytes",
            (unsigned long long)ro->version, ro->previous_hash.len);
        return ROSTER_E_FIELD;
    }
    if (ro->issued_at < 0 || ro->expires_at <= ro->issued_at) {
        say(why, wsz, "expires before it is issued");
        return ROSTER_E_FIELD;
    }
    if (ro->n_members == 0 || ro->n_members > ROSTER_MAX_MEMBERS) {
        say(why, wsz, "%zu members (1..%d)", ro->n_members, ROSTER_MAX_MEMBERS);
        return ROSTER_E_FIELD;
    }
    for (size_t i = 0; i < ro->n_members; i++) {
        if ((st = check_member(ro->members[i], i, why, wsz)) != ROSTER_OK)
            return st;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(ro->members[j]->id, ro->members[i]->id) == 0) {
                say(why, wsz, "member %s listed twice", ro->members[i]->id);
                return ROSTER_E_FIELD;
            }
            /* Links are authenticated by transport key: it must name one member. */
            if (shares_transport(ro->members[j], ro->members[i])) {
                say(why, wsz, "members %s and %s share a transport key", ro->members[j]->id,
                    ro->members[i]->id);
                return ROSTER_E_FIELD;
            }
        }
    }
    if (ro->n_governors == 0 || ro->n_governors > ROSTER_MAX_GOVERNORS) {
        say(why, wsz, "%zu governors (1..%d)", ro->n_governors, ROSTER_MAX_GOVERNORS);
        return ROSTER_E_FIELD;
    }
    for (size_t i = 0; i < ro->n_governors; i++) {
        const Governor *g = ro->governors[i];
        if (!is_key(g->sign_key)) {
            say(why, wsz, "governor %zu: key is not %d bytes", i, KEYS_PUBLIC_BYTES);
            return ROSTER_E_FIELD;
        }
        if (member_index(ro, g->member) < 0) {
            say(why, wsz, "governor %zu: holder is not a member", i);
            return ROSTER_E_FIELD;
        }
        for (size_t j = 0; j < i; j++) {
            if (memcmp(ro->governors[j]->sign_key.data, g->sign_key.data, KEYS_PUBLIC_BYTES) == 0) {
                say(why, wsz, "governor key listed twice");
                return ROSTER_E_FIELD;
            }
        }
    }
    if (ro->threshold == 0 || ro->threshold > governing_members(ro)) {
        say(why, wsz, "threshold %u with %u governing members", ro->threshold,
            governing_members(ro));
        return ROSTER_E_FIELD;
    }
    return ROSTER_OK;
}

/* ---- the verified view ------------------------------------------------- */

/* Builds the views; takes ro on success. */
static struct roster *assemble(Roster *ro)
{
    struct roster *r;

    if ((r = calloc(1, sizeof(*r))) == NULL)
        return NULL;
    r->members = calloc(ro->n_members, sizeof(*r->members));
    r->governors = calloc(ro->n_governors, sizeof(*r->governors));
    if (r->members == NULL || r->governors == NULL) {
        free(r->members);
        free(r->governors);
        free(r);
        return NULL;
    }
    for (size_t i = 0; i < ro->n_members; i++) {
        const Member *m = ro->members[i];
        const MemberKeys *mk = active_keys(m);
        struct roster_member *v = &r->members[i];
        v->id = m->id;
        v->name = m->name;
        v->role = (enum roster_role)m->role;
        v->key_id = mk->key_id;
        v->sign_pk = mk->sign_key.data;
        v->box_pk = mk->box_key.data;
        v->transport_pk = mk->transport_key.data;
        if ((mk = incoming_keys(m)) != NULL) {
            v->next_key_id = mk->key_id;
            v->next_sign_pk = mk->sign_key.data;
            v->next_box_pk = mk->box_key.data;
            v->next_transport_pk = mk->transport_key.data;
        }
        v->n_endpoints = m->n_endpoints;
        v->endpoints = (const char *const *)m->endpoints;
        v->n_groups = m->n_groups;
        v->groups = (const char *const *)m->groups;
    }
    for (size_t i = 0; i < ro->n_governors; i++) {
        r->governors[i].member = ro->governors[i]->member;
        r->governors[i].sign_pk = ro->governors[i]->sign_key.data;
    }
    r->pb = ro;
    return r;
}

void roster_free(struct roster **rp)
{
    struct roster *r;

    if (rp == NULL || (r = *rp) == NULL)
        return;
    if (r->pb != NULL)
        tmbus__roster__roster__free_unpacked(r->pb, NULL);
    free(r->members);
    free(r->governors);
    free(r);
    *rp = NULL;
}

static ssize_t governor_index(const struct roster_governor *gv, size_t n, const uint8_t *pk)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(gv[i].sign_pk, pk, KEYS_PUBLIC_BYTES) == 0)
            return (ssize_t)i;
    return -1;
}

/* Distinct members among the governors marked as signed. */
static uint32_t count_signers(const struct roster_governor *gv, const bool *is_signed, size_t n)
{
    uint32_t count = 0;

    for (size_t i = 0; i < n; i++) {
        if (!is_signed[i])
            continue;
        size_t j = 0;
        while (j < i && !(is_signed[j] && strcmp(gv[j].member, gv[i].member) == 0))
            j++;
        count += j == i;
    }
    return count;
}

/* Verifies each signature once whose key is listed in the new or the old
 * set; signatures by unlisted keys cost nothing and count for nothing.
 * Sets has_signed and n_signers on r and the old set's count in *n_prev. */
static int count_signatures(struct roster *r, const SignedRoster *sr, const struct roster *prev,
                            uint32_t *n_prev)
{
    size_t n_gov = r->pb->n_governors;
    size_t n_old = prev ? prev->pb->n_governors : 0;
    bool old_signed[ROSTER_MAX_GOVERNORS] = {false};
    bool new_signed[ROSTER_MAX_GOVERNORS] = {false};
    size_t mlen = ROSTER_SIG_TAG_BYTES + sr->roster.len;
    uint8_t *msg;

    if ((msg = malloc(mlen)) == NULL)
        return -1;
    memcpy(msg, roster_sig_tag, ROSTER_SIG_TAG_BYTES);
    memcpy(msg + ROSTER_SIG_TAG_BYTES, sr->roster.data, sr->roster.len);
    for (size_t i = 0; i < sr->n_signatures; i++) {
        const uint8_t *pk = sr->signatures[i]->sign_key.data;
        ssize_t in_new = governor_index(r->governors, n_gov, pk);
        ssize_t in_old = prev ? governor_index(prev->governors, n_old, pk) : -1;
        if (in_new < 0 && in_old < 0)
            continue;
        if (crypto_sign_verify_detached(sr->signatures[i]->signature.data, msg, mlen, pk) != 0)
            continue;
        if (in_new >= 0)
            new_signed[in_new] = true;
        if (in_old >= 0)
            old_signed[in_old] = true;
    }
    free(msg);
    for (size_t i = 0; i < n_gov; i++)
        r->governors[i].has_signed = new_signed[i];
    r->n_signers = count_signers(r->governors, new_signed, n_gov);
    *n_prev = prev ? count_signers(prev->governors, old_signed, n_old) : 0;
    return 0;
}

/* What the checks skip. */
struct check_opts {
    const char *coalition; /* NULL: any */
    int64_t now;
    bool check_expiry;
    const struct roster *prev;
    bool check_chain;
    bool keep_unverified; /* hand out a sound roster even when a later check fails */
};

static enum roster_status check(const uint8_t *buf, size_t len, const struct check_opts *o,
                                struct roster **out, char *why, size_t wsz)
{
    SignedRoster *sr = NULL;
    Roster *ro = NULL;
    struct roster *r = NULL;
    const struct roster *prev = o->check_chain ? o->prev : NULL;
    uint32_t n_prev = 0;
    enum roster_status st;

    *out = NULL;
    if ((st = decode(buf, len, &sr, &ro, why, wsz)) != ROSTER_OK)
        return st;
    if ((st = check_fields(sr, ro, why, wsz)) != ROSTER_OK)
        goto done;
    if ((r = assemble(ro)) == NULL) {
        st = ROSTER_E_INTERNAL;
        say(why, wsz, "out of memory");
        goto done;
    }
    ro = NULL;
    crypto_generichash(r->hash, HASH_BYTES, sr->roster.data, sr->roster.len, NULL, 0);
    /* Signatures are counted before the cheaper checks below so that a
     * roster kept for display knows who signed it; the order of the
     * verdicts is what matters, and expiry comes last. */
    if (count_signatures(r, sr, prev, &n_prev) == -1) {
        st = ROSTER_E_INTERNAL;
        say(why, wsz, "out of memory");
        goto done;
    }
    if (o->coalition != NULL && strcmp(r->pb->coalition, o->coalition) != 0) {
        st = ROSTER_E_COALITION;
        say(why, wsz, "coalition %s, expected %s", r->pb->coalition, o->coalition);
        goto done;
    }
    if (prev != NULL && strcmp(r->pb->coalition, prev->pb->coalition) != 0) {
        st = ROSTER_E_COALITION;
        say(why, wsz, "coalition %s, previous roster has %s", r->pb->coalition,
            prev->pb->coalition);
        goto done;
    }
    if (o->check_chain) {
        uint64_t want = prev ? prev->pb->version + 1 : 1;
        if (prev != NULL && prev->pb->version == UINT64_MAX) {
            st = ROSTER_E_VERSION;
            say(why, wsz, "previous version is the last one");
            goto done;
        }
        if (r->pb->version != want) {
            st = ROSTER_E_VERSION;
            say(why, wsz, "version %llu, expected %llu", (unsigned long long)r->pb->version,
                (unsigned long long)want);
            goto done;
        }
        if (prev != NULL && sodium_memcmp(r->pb->previous_hash.data, prev->hash, HASH_BYTES) != 0) {
            st = ROSTER_E_CHAIN;
            say(why, wsz, "previous hash does not match version %llu",
                (unsigned long long)prev->pb->version);
            goto done;
        }
    }
    if (r->n_signers < r->pb->threshold) {
        st = ROSTER_E_THRESHOLD;
        say(why, wsz, "signed by %u of threshold %u governing members", r->n_signers,
            r->pb->threshold);
        goto done;
    }
    if (prev != NULL && n_prev < prev->pb->threshold) {
        st = ROSTER_E_THRESHOLD;
        say(why, wsz, "signed by %u of the previous threshold %u governing members", n_prev,
            prev->pb->threshold);
        goto done;
    }
    if (o->check_expiry && o->now >= r->pb->expires_at) {
        char when[32];
        util_format_utc(r->pb->expires_at, when, sizeof(when));
        st = ROSTER_E_EXPIRED;
        say(why, wsz, "expired at %s", when);
        goto done;
    }
    say(why, wsz, "ok");
done:
    if (r != NULL && (st == ROSTER_OK || o->keep_unverified))
        *out = r;
    else
        roster_free(&r);
    if (ro != NULL)
        tmbus__roster__roster__free_unpacked(ro, NULL);
    tmbus__roster__signed_roster__free_unpacked(sr, NULL);
    return st;
}

enum roster_status roster_verify(const uint8_t *buf, size_t len, const char *coalition, int64_t now,
                                 const struct roster *prev, struct roster **out)
{
    struct check_opts o = {.coalition = coalition,
                           .now = now,
                           .check_expiry = true,
                           .prev = prev,
                           .check_chain = true};
    char why[160];
    enum roster_status st;

    ensure(coalition != NULL && out != NULL);
    /* A rejection is the caller's to log with the status name and count;
     * the detail goes to debug so that a flood of bad input stays cheap. */
    if ((st = check(buf, len, &o, out, why, sizeof(why))) != ROSTER_OK)
        log_debug("roster: refused (%s): %s", roster_status_name(st), why);
    return st;
}

enum roster_status roster_verify_trusted(const uint8_t *buf, size_t len, const char *coalition,
                                         struct roster **out)
{
    struct check_opts o = {.coalition = coalition};
    char why[160];
    enum roster_status st;

    ensure(coalition != NULL && out != NULL);
    if ((st = check(buf, len, &o, out, why, sizeof(why))) != ROSTER_OK)
        log_debug("roster: trusted roster refused (%s): %s", roster_status_name(st), why);
    return st;
}

enum roster_status roster_verify_update(const uint8_t *buf, size_t len, const char *coalition,
                                        int64_t now, const struct roster *trusted,
                                        struct roster **out, char *why, size_t why_size)
{
    struct check_opts alone = {.coalition = coalition};
    struct check_opts next = {.coalition = coalition,
                              .now = now,
                              .check_expiry = true,
                              .prev = trusted,
                              .check_chain = true};
    struct roster *r = NULL;
    enum roster_status st;

    ensure(coalition != NULL && out != NULL);
    *out = NULL;
    /* First on its own, to learn its version and hash: a refusal that names
     * the trusted roster says more than bad-version. */
    if ((st = check(buf, len, &alone, &r, why, why_size)) != ROSTER_OK)
        return st;
    if (trusted != NULL && sodium_memcmp(roster_hash(r), roster_hash(trusted), HASH_BYTES) != 0) {
        unsigned long long v = r->pb->version, tv = trusted->pb->version;
        roster_free(&r);
        if (v < tv) {
            say(why, why_size, "version %llu is older than version %llu, which this node trusts", v,
                tv);
            return ROSTER_E_ROLLBACK;
        }
        if (v == tv) {
            say(why, why_size, "not the roster of version %llu that this node trusts", v);
            return ROSTER_E_FORK;
        }
        if (v > tv + 1) {
            say(why, why_size,
                "version %llu does not follow version %llu, which this node trusts: install "
                "version %llu first",
                v, tv, tv + 1);
            return ROSTER_E_VERSION;
        }
        if ((st = check(buf, len, &next, &r, why, why_size)) != ROSTER_OK)
            return st;
    }
    if (now >= r->pb->expires_at) {
        char when[32];
        util_format_utc(r->pb->expires_at, when, sizeof(when));
        say(why, why_size, "expired at %s", when);
        roster_free(&r);
        return ROSTER_E_EXPIRED;
    }
    say(why, why_size, "ok");
    *out = r;
    return ROSTER_OK;
}

enum roster_status roster_inspect(const uint8_t *buf, size_t len, const char *coalition,
                                  int64_t now, const struct roster *prev, bool check_chain,
                                  struct roster **out, char *why, size_t why_size)
{
    struct check_opts o = {.coalition = coalition,
                           .now = now,
                           .check_expiry = true,
                           .prev = prev,
                           .check_chain = check_chain,
                           .keep_unverified = true};

    ensure(out != NULL);
    return check(buf, len, &o, out, why, why_size);
}

int roster_load(const char *path, const char *coalition, struct roster **out)
{
    struct check_opts o = {.coalition = coalition};
    uint8_t *buf = NULL;
    size_t len = 0;
    char why[160];
    enum roster_status st;

    ensure(coalition != NULL && out != NULL);
    *out = NULL;
    if (util_read_file(path, ROSTER_MAX_SIZE, &buf, &len) == -1) {
        log_warn("roster: %s", path);
        return -1;
    }
    st = check(buf, len, &o, out, why, sizeof(why));
    free(buf);
    if (st != ROSTER_OK) {
        log_warnx("roster: %s: %s: %s", path, roster_status_name(st), why);
        return -1;
    }
    return 0;
}

/* ---- questions --------------------------------------------------------- */

const char *roster_coalition(const struct roster *r)
{
    return r->pb->coalition;
}

uint64_t roster_version(const struct roster *r)
{
    return r->pb->version;
}

int64_t roster_issued_at(const struct roster *r)
{
    return r->pb->issued_at;
}

int64_t roster_expires_at(const struct roster *r)
{
    return r->pb->expires_at;
}

uint32_t roster_threshold(const struct roster *r)
{
    return r->pb->threshold;
}

uint32_t roster_signer_count(const struct roster *r)
{
    return r->n_signers;
}

const uint8_t *roster_hash(const struct roster *r)
{
    return r->hash;
}

size_t roster_member_count(const struct roster *r)
{
    return r->pb->n_members;
}

void roster_member_at(const struct roster *r, size_t i, struct roster_member *out)
{
    ensure(i < r->pb->n_members);
    *out = r->members[i];
}

/* A linear scan: at most ROSTER_MAX_MEMBERS short strcmps, about a
 * microsecond, which is noise next to the signature check it precedes. */
int roster_find(const struct roster *r, const char *id, struct roster_member *out)
{
    for (size_t i = 0; i < r->pb->n_members; i++) {
        if (strcmp(r->members[i].id, id) == 0) {
            *out = r->members[i];
            return 0;
        }
    }
    return -1;
}

int roster_find_by_transport(const struct roster *r, const uint8_t *pk, struct roster_member *out)
{
    for (size_t i = 0; i < r->pb->n_members; i++) {
        const struct roster_member *m = &r->members[i];
        if (memcmp(m->transport_pk, pk, KEYS_PUBLIC_BYTES) == 0 ||
            (m->next_transport_pk != NULL &&
             memcmp(m->next_transport_pk, pk, KEYS_PUBLIC_BYTES) == 0)) {
            *out = *m;
            return 0;
        }
    }
    return -1;
}

static bool is_generation(const struct keyset *ks, const uint8_t *sign_pk, const uint8_t *box_pk,
                          const uint8_t *transport_pk)
{
    return sign_pk != NULL && memcmp(ks->sign_pk, sign_pk, KEYS_PUBLIC_BYTES) == 0 &&
           memcmp(ks->box_pk, box_pk, KEYS_PUBLIC_BYTES) == 0 &&
           memcmp(ks->transport_pk, transport_pk, KEYS_PUBLIC_BYTES) == 0;
}

enum roster_generation roster_generation_of(const struct roster_member *m, const struct keyset *ks)
{
    if (is_generation(ks, m->sign_pk, m->box_pk, m->transport_pk))
        return ROSTER_GEN_CURRENT;
    if (is_generation(ks, m->next_sign_pk, m->next_box_pk, m->next_transport_pk))
        return ROSTER_GEN_NEXT;
    return ROSTER_GEN_NONE;
}

/* Whether retired generation mk signed position (log_peer, seq) while it
 * was active: the roster says how far it signed in each log. */
static bool signed_while_active(const MemberKeys *mk, const char *log_peer, uint64_t seq)
{
    for (size_t l = 0; l < mk->n_signed_up_to; l++)
        if (strcmp(mk->signed_up_to[l]->log_peer, log_peer) == 0)
            return seq <= mk->signed_up_to[l]->last_seq;
    return false;
}

int roster_envelope_lookup(void *arg, const char *member, const char *log_peer, uint64_t seq,
                           struct envelope_member_keys *out)
{
    const struct roster *r = arg;
    const Member *pm;
    ssize_t i;

    if (r == NULL || member == NULL || log_peer == NULL || (i = member_index(r->pb, member)) < 0)
        return -1;
    memcpy(out->sign_pk, r->members[i].sign_pk, KEYS_PUBLIC_BYTES);
    memcpy(out->box_pk, r->members[i].box_pk, KEYS_PUBLIC_BYTES);
    out->n_older = 0;
    /* During an overlap the newer ACTIVE generation signs too: offered
     * first, since the rotating node signs with it from its switch on. */
    if (r->members[i].next_sign_pk != NULL) {
        memcpy(out->older[0].sign_pk, r->members[i].next_sign_pk, KEYS_PUBLIC_BYTES);
        memcpy(out->older[0].box_pk, r->members[i].next_box_pk, KEYS_PUBLIC_BYTES);
        out->n_older = 1;
    }
    pm = r->pb->members[i];
    for (size_t k = 0; k < pm->n_keys && out->n_older < ENVELOPE_MAX_OLDER_KEYS; k++) {
        const MemberKeys *mk = pm->keys[k];
        /* REVOKED keys list no window (check_signed_up_to) and verify
         * nothing; ACTIVE is the current one above. */
        if (mk->status != TMBUS__ROSTER__KEY_STATUS__KEY_STATUS_RETIRED ||
            !signed_while_active(mk, log_peer, seq))
            continue;
        memcpy(out->older[out->n_older].sign_pk, mk->sign_key.data, KEYS_PUBLIC_BYTES);
        memcpy(out->older[out->n_older].box_pk, mk->box_key.data, KEYS_PUBLIC_BYTES);
        out->n_older++;
    }
    return 0;
}

size_t roster_retired_keys(const struct roster *r, const char *id, struct roster_retired_key *out,
                           size_t max)
{
    const Member *pm;
    ssize_t i;
    size_t n = 0;

    if (r == NULL || id == NULL || (i = member_index(r->pb, id)) < 0)
        return 0;
    pm = r->pb->members[i];
    for (size_t k = 0; k < pm->n_keys && n < max; k++) {
        const MemberKeys *mk = pm->keys[k];
        if (mk->status != TMBUS__ROSTER__KEY_STATUS__KEY_STATUS_RETIRED)
            continue;
        out[n].key_id = mk->key_id;
        out[n].sign_pk = mk->sign_key.data;
        n++;
    }
    return n;
}

size_t roster_governor_count(const struct roster *r)
{
    return r->pb->n_governors;
}

void roster_governor_at(const struct roster *r, size_t i, struct roster_governor *out)
{
    ensure(i < r->pb->n_governors);
    *out = r->governors[i];
}

/* ---- for the builder ---------------------------------------------------- */

enum roster_status roster_open_fields(const uint8_t *buf, size_t len, SignedRoster **srp,
                                      Roster **rop, char *why, size_t wsz)
{
    enum roster_status st = decode(buf, len, srp, rop, why, wsz);

    if (st == ROSTER_OK && (st = check_fields(*srp, *rop, why, wsz)) != ROSTER_OK) {
        tmbus__roster__roster__free_unpacked(*rop, NULL);
        tmbus__roster__signed_roster__free_unpacked(*srp, NULL);
        *rop = NULL;
        *srp = NULL;
    }
    return st;
}
