/*
 * test_roster: the roster module, the root of trust. Builds rosters field by
 * field (so that each test can break exactly one rule), signs them with
 * deterministic governor keys and checks every verdict of roster_verify,
 * then drives roster_build and the tmbus-admin roster CLI end to end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <sodium.h>

#include "keys.h"
#include "roster.h"
#include "roster_build.h"
#include "roster.pb-c.h"
#include "testutil.h"
#include "util.h"

#define COALITION "tallinn-mechanism"
#define ISSUED    1790000000 /* 2026-09-21 */
#define NOW       1800000000 /* 2027-01-15 */
#define EXPIRES   1830000000 /* 2027-12-28 */
#define N_MEMBERS 6
#define MAX_GOVS  8
#define MAX_SIGS  8

typedef Tmbus__Roster__Roster Roster;

static char ids[N_MEMBERS][8] = {"UA", "EE", "PL", "NL", "EU", "TM"};
static char names[N_MEMBERS][32] = {"Ukraine",     "Estonia",        "Poland",
                                    "Netherlands", "European Union", "Front office"};
static const int roles[N_MEMBERS] = {1, 2, 2, 2, 3, 4};
static char group_all[] = "all";
static char endpoint[] = "tcp://127.0.0.1:7101";

static struct keyset *members[N_MEMBERS];
static struct keyset *gov_ee, *gov_ee2, *gov_pl, *gov_tm, *gov_ua, *gov_nl, *gov_x;

static struct keyset *gov_keys(const char *member, const char *label)
{
    uint8_t seed[32];
    struct keyset *ks;

    crypto_generichash(seed, sizeof(seed), (const uint8_t *)label, strlen(label), NULL, 0);
    ks = keys_from_seed(KEYS_GOVERNOR, member, seed);
    assert_non_null(ks);
    return ks;
}

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    for (int i = 0; i < N_MEMBERS; i++)
        members[i] = tu_member_keys(ids[i]);
    gov_ee = gov_keys("EE", "ee-gov");
    gov_ee2 = gov_keys("EE", "ee-gov-2");
    gov_pl = gov_keys("PL", "pl-gov");
    gov_tm = gov_keys("TM", "tm-gov");
    gov_ua = gov_keys("UA", "ua-gov");
    gov_nl = gov_keys("NL", "nl-gov");
    gov_x = gov_keys("UA", "unlisted");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < N_MEMBERS; i++)
        keys_free(&members[i]);
    keys_free(&gov_ee);
    keys_free(&gov_ee2);
    keys_free(&gov_pl);
    keys_free(&gov_tm);
    keys_free(&gov_ua);
    keys_free(&gov_nl);
    keys_free(&gov_x);
    return 0;
}

/* What a test roster looks like; zero fields take the defaults. */
struct spec {
    const char *coalition;
    uint64_t version;
    const uint8_t *prev_hash;
    uint32_t threshold;
    int64_t expires;
    size_t n_govs;
    struct keyset *govs[MAX_GOVS];
    void (*mutate)(Roster *ro);
};

static const struct spec base = {.threshold = 2, .n_govs = 3};

static void fill_base_govs(struct spec *sp)
{
    sp->govs[0] = gov_ee;
    sp->govs[1] = gov_pl;
    sp->govs[2] = gov_tm;
}

/* Encodes the roster of sp and signs it with each signer in turn (the same
 * key may sign twice). Returns a malloc'd SignedRoster. */
static uint8_t *make(const struct spec *sp, struct keyset *const *signers, size_t n_signers,
                     size_t *len)
{
    Roster ro;
    Tmbus__Roster__Member m[N_MEMBERS], *mp[N_MEMBERS];
    Tmbus__Roster__MemberKeys k[N_MEMBERS], *kp[N_MEMBERS];
    Tmbus__Roster__Governor g[MAX_GOVS], *gp[MAX_GOVS];
    Tmbus__Roster__SignedRoster sr;
    Tmbus__Roster__RosterSignature s[MAX_SIGS], *sp_[MAX_SIGS];
    uint8_t pks[MAX_SIGS][KEYS_PUBLIC_BYTES], sigs[MAX_SIGS][KEYS_SIGNATURE_BYTES];
    uint8_t gpks[MAX_GOVS][KEYS_PUBLIC_BYTES], hash[32];
    uint8_t keybuf[N_MEMBERS][3][KEYS_PUBLIC_BYTES];
    char gmember[MAX_GOVS][UTIL_MEMBER_ID_MAX + 1];
    char coalition[64];
    char *groups[1] = {group_all};
    char *endpoints[1] = {endpoint};
    uint8_t *rbuf, *msg, *out;
    size_t rlen;

    tmbus__roster__roster__init(&ro);
    snprintf(coalition, sizeof(coalition), "%s", sp->coalition ? sp->coalition : COALITION);
    ro.format = ROSTER_FORMAT;
    ro.coalition = coalition;
    ro.version = sp->version ? sp->version : 1;
    if (sp->prev_hash != NULL) {
        memcpy(hash, sp->prev_hash, sizeof(hash));
        ro.previous_hash.data = hash;
        ro.previous_hash.len = sizeof(hash);
    }
    ro.issued_at = ISSUED;
    ro.expires_at = sp->expires ? sp->expires : EXPIRES;
    ro.threshold = sp->threshold;
    for (int i = 0; i < N_MEMBERS; i++) {
        tmbus__roster__member__init(&m[i]);
        tmbus__roster__member_keys__init(&k[i]);
        memcpy(keybuf[i][0], members[i]->sign_pk, KEYS_PUBLIC_BYTES);
        memcpy(keybuf[i][1], members[i]->box_pk, KEYS_PUBLIC_BYTES);
        memcpy(keybuf[i][2], members[i]->transport_pk, KEYS_PUBLIC_BYTES);
        k[i].key_id = 1;
        k[i].status = TMBUS__ROSTER__KEY_STATUS__KEY_STATUS_ACTIVE;
        k[i].sign_key = (ProtobufCBinaryData){KEYS_PUBLIC_BYTES, keybuf[i][0]};
        k[i].box_key = (ProtobufCBinaryData){KEYS_PUBLIC_BYTES, keybuf[i][1]};
        k[i].transport_key = (ProtobufCBinaryData){KEYS_PUBLIC_BYTES, keybuf[i][2]};
        kp[i] = &k[i];
        m[i].id = ids[i];
        m[i].name = names[i];
        m[i].role = (Tmbus__Roster__Role)roles[i];
        m[i].n_keys = 1;
        m[i].keys = &kp[i];
        m[i].n_groups = 1;
        m[i].groups = groups;
        if (i == 0) {
            m[i].n_endpoints = 1;
            m[i].endpoints = endpoints;
        }
        mp[i] = &m[i];
    }
    ro.n_members = N_MEMBERS;
    ro.members = mp;
    for (size_t i = 0; i < sp->n_govs; i++) {
        tmbus__roster__governor__init(&g[i]);
        snprintf(gmember[i], sizeof(gmember[i]), "%s", sp->govs[i]->member);
        memcpy(gpks[i], sp->govs[i]->sign_pk, KEYS_PUBLIC_BYTES);
        g[i].member = gmember[i];
        g[i].sign_key = (ProtobufCBinaryData){KEYS_PUBLIC_BYTES, gpks[i]};
        gp[i] = &g[i];
    }
    ro.n_governors = sp->n_govs;
    ro.governors = gp;
    if (sp->mutate != NULL)
        sp->mutate(&ro);

    rlen = tmbus__roster__roster__get_packed_size(&ro);
    rbuf = malloc(rlen);
    msg = malloc(16 + rlen);
    assert_non_null(rbuf);
    assert_non_null(msg);
    tmbus__roster__roster__pack(&ro, rbuf);
    memcpy(msg, "tmbus roster v1", 16); /* with its NUL */
    memcpy(msg + 16, rbuf, rlen);
    tmbus__roster__signed_roster__init(&sr);
    sr.roster = (ProtobufCBinaryData){rlen, rbuf};
    assert_true(n_signers <= MAX_SIGS);
    for (size_t i = 0; i < n_signers; i++) {
        tmbus__roster__roster_signature__init(&s[i]);
        assert_int_equal(keys_sign(signers[i], msg, 16 + rlen, sigs[i]), 0);
        memcpy(pks[i], signers[i]->sign_pk, KEYS_PUBLIC_BYTES);
        s[i].sign_key = (ProtobufCBinaryData){KEYS_PUBLIC_BYTES, pks[i]};
        s[i].signature = (ProtobufCBinaryData){KEYS_SIGNATURE_BYTES, sigs[i]};
        sp_[i] = &s[i];
    }
    sr.n_signatures = n_signers;
    sr.signatures = sp_;
    *len = tmbus__roster__signed_roster__get_packed_size(&sr);
    out = malloc(*len);
    assert_non_null(out);
    tmbus__roster__signed_roster__pack(&sr, out);
    free(msg);
    free(rbuf);
    return out;
}

/* Builds sp signed by the given signers and verifies it. */
static enum roster_status verify_spec(const struct spec *sp, struct keyset *const *signers,
                                      size_t n, int64_t now, const struct roster *prev,
                                      struct roster **out)
{
    size_t len;
    uint8_t *buf = make(sp, signers, n, &len);
    struct roster *r = NULL;
    enum roster_status st = roster_verify(buf, len, COALITION, now, prev, out ? out : &r);

    if (st != ROSTER_OK)
        assert_null(out ? *out : r);
    roster_free(&r);
    free(buf);
    return st;
}

static size_t find_bytes(const uint8_t *buf, size_t len, const char *what)
{
    size_t n = strlen(what);

    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(buf + i, what, n) == 0)
            return i;
    fail_msg("'%s' not found", what);
    return 0;
}

/* ---- roster_verify ----------------------------------------------------- */

static void test_valid_2_of_3(void **state)
{
    struct spec sp = base;
    struct keyset *signers[] = {gov_ee, gov_pl};
    struct roster *r = NULL;

    (void)state;
    fill_base_govs(&sp);
    assert_int_equal(verify_spec(&sp, signers, 2, NOW, NULL, &r), ROSTER_OK);
    assert_non_null(r);
    assert_string_equal(roster_coalition(r), COALITION);
    assert_int_equal(roster_version(r), 1);
    assert_int_equal(roster_threshold(r), 2);
    assert_int_equal(roster_signer_count(r), 2);
    assert_int_equal(roster_member_count(r), N_MEMBERS);
    assert_int_equal(roster_expires_at(r), EXPIRES);
    assert_int_equal(roster_issued_at(r), ISSUED);
    assert_int_equal(roster_governor_count(r), 3);
    roster_free(&r);
    assert_null(r);
    roster_free(&r); /* accepts NULL */
}

static void test_below_threshold(void **state)
{
    struct spec sp = base;
    struct keyset *signers[] = {gov_tm};

    (void)state;
    fill_base_govs(&sp);
    assert_int_equal(verify_spec(&sp, signers, 1, NOW, NULL, NULL), ROSTER_E_THRESHOLD);
    assert_int_equal(verify_spec(&sp, signers, 0, NOW, NULL, NULL), ROSTER_E_THRESHOLD);
}

static void test_same_key_twice_counts_once(void **state)
{
    struct spec sp = base;
    struct keyset *signers[] = {gov_ee, gov_ee};

    (void)state;
    fill_base_govs(&sp);
    assert_int_equal(verify_spec(&sp, signers, 2, NOW, NULL, NULL), ROSTER_E_THRESHOLD);
}

static void test_two_keys_one_member_counts_once(void **state)
{
    struct spec sp = base;
    struct keyset *signers[] = {gov_ee, gov_ee2};
    struct keyset *enough[] = {gov_ee, gov_ee2, gov_pl};

    (void)state;
    sp.n_govs = 4;
    sp.govs[0] = gov_ee;
    sp.govs[1] = gov_ee2;
    sp.govs[2] = gov_pl;
    sp.govs[3] = gov_tm;
    assert_int_equal(verify_spec(&sp, signers, 2, NOW, NULL, NULL), ROSTER_E_THRESHOLD);
    assert_int_equal(verify_spec(&sp, enough, 3, NOW, NULL, NULL), ROSTER_OK);
    /* Threshold is bounded by distinct members (3 here), not keys (4). */
    sp.threshold = 4;
    assert_int_equal(verify_spec(&sp, enough, 3, NOW, NULL, NULL), ROSTER_E_FIELD);
}

static void test_expired(void **state)
{
    struct spec sp = base;
    struct keyset *signers[] = {gov_ee, gov_pl};

    (void)state;
    fill_base_govs(&sp);
    assert_int_equal(verify_spec(&sp, signers, 2, EXPIRES - 1, NULL, NULL), ROSTER_OK);
    assert_int_equal(verify_spec(&sp, signers, 2, EXPIRES, NULL, NULL), ROSTER_E_EXPIRED);
}

static void test_expiry_checked_last(void **state)
{
    struct spec sp = base;
    struct keyset *signers[] = {gov_ee, gov_pl};
    struct roster *r = NULL;
    size_t len;
    uint8_t *buf;

    (void)state;
    fill_base_govs(&sp);
    buf = make(&sp, signers, 2, &len);
    buf[find_bytes(buf, len, "Ukraine")] ^= 0x01; /* "Tkraine": same length, still sound */
    assert_int_equal(roster_verify(buf, len, COALITION, EXPIRES + 1, NULL, &r), ROSTER_E_THRESHOLD);
    assert_null(r);
    /* Expired and below threshold: the threshold is reported. */
    free(buf);
    buf = make(&sp, signers, 1, &len);
    assert_int_equal(roster_verify(buf, len, COALITION, EXPIRES + 1, NULL, &r), ROSTER_E_THRESHOLD);
    /* Expired and of another coalition: the coalition is reported. */
    assert_int_equal(roster_verify(buf, len, "other", EXPIRES + 1, NULL, &r), ROSTER_E_COALITION);
    free(buf);
}

static void test_tampered(void **state)
{
    struct spec sp = base;
    struct keyset *signers[] = {gov_ee, gov_pl};
    struct roster *r = NULL;
    size_t len, at;
    uint8_t *buf;

    (void)state;
    fill_base_govs(&sp);
    buf = make(&sp, signers, 2, &len);
    assert_int_equal(roster_verify(buf, len, COALITION, NOW, NULL, &r), ROSTER_OK);
    roster_free(&r);
    at = find_bytes(buf, len, "Netherlands");
    buf[at + 3] ^= 0x20; /* "NetHerlands" */
    assert_int_equal(roster_verify(buf, len, COALITION, NOW, NULL, &r), ROSTER_E_THRESHOLD);
    buf[at + 3] ^= 0x20;
    /* A bit of the last signature. */
    buf[len - 1] ^= 0x80;
    assert_int_equal(roster_verify(buf, len, COALITION, NOW, NULL, &r), ROSTER_E_THRESHOLD);
    buf[len - 1] ^= 0x80;
    /* Every single-bit flip is refused, whatever the reason. */
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            buf[i] ^= (uint8_t)(1u << bit);
            assert_int_not_equal(roster_verify(buf, len, COALITION, NOW, NULL, &r), ROSTER_OK);
            assert_null(r);
            buf[i] ^= (uint8_t)(1u << bit);
        }
    }
    free(buf);
}

static void test_wrong_coalition(void **state)
{
    struct spec sp = base;
    struct keyset *signers[] = {gov_ee, gov_pl};
    struct roster *r = NULL;
    size_t len;
    uint8_t *buf;

    (void)state;
    fill_base_govs(&sp);
    buf = make(&sp, signers, 2, &len);
    assert_int_equal(roster_verify(buf, len, "other-coalition", NOW, NULL, &r), ROSTER_E_COALITION);
    assert_null(r);
    free(buf);
}

static void test_unknown_signer_ignored(void **state)
{
    struct spec sp = base;
    struct keyset *with_two[] = {gov_x, gov_ee, gov_pl};
    struct keyset *with_one[] = {gov_x, gov_ee, gov_nl};
    struct roster *r = NULL;

    (void)state;
    fill_base_govs(&sp);
    assert_int_equal(verify_spec(&sp, with_two, 3, NOW, NULL, &r), ROSTER_OK);
    assert_int_equal(roster_signer_count(r), 2);
    roster_free(&r);
    assert_int_equal(verify_spec(&sp, with_one, 3, NOW, NULL, NULL), ROSTER_E_THRESHOLD);
}

static void test_oversize_before_parse(void **state)
{
    struct spec sp = base;
    struct keyset *signers[] = {gov_ee, gov_pl};
    struct roster *r = NULL;
    size_t len;
    uint8_t *buf, *big;

    (void)state;
    fill_base_govs(&sp);
    buf = make(&sp, signers, 2, &len);
    /* A valid roster followed by padding: it would parse as garbage, but
     * the size check must come first. */
    big = calloc(1, (size_t)ROSTER_MAX_SIZE + 1);
    assert_non_null(big);
    memcpy(big, buf, len);
    assert_int_equal(roster_verify(big, (size_t)ROSTER_MAX_SIZE + 1, COALITION, NOW, NULL, &r),
                     ROSTER_E_SIZE);
    assert_null(r);
    free(big);
    free(buf);
}

static void test_malformed(void **state)
{
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    struct spec sp = base;
    struct keyset *signers[] = {gov_ee, gov_pl};
    struct roster *r = NULL;
    size_t len;
    uint8_t *buf, *longer;

    (void)state;
    fill_base_govs(&sp);
    assert_int_equal(roster_verify(junk, sizeof(junk), COALITION, NOW, NULL, &r),
                     ROSTER_E_MALFORMED);
    assert_int_not_equal(roster_verify(junk, 0, COALITION, NOW, NULL, &r), ROSTER_OK);
    buf = make(&sp, signers, 2, &len);
    assert_int_equal(roster_verify(buf, len - 1, COALITION, NOW, NULL, &r), ROSTER_E_MALFORMED);
    /* An unknown field (number 15, varint 1) appended to the SignedRoster. */
    longer = malloc(len + 2);
    assert_non_null(longer);
    memcpy(longer, buf, len);
    longer[len] = 0x78;
    longer[len + 1] = 0x01;
    assert_int_equal(roster_verify(longer, len + 2, COALITION, NOW, NULL, &r), ROSTER_E_MALFORMED);
    /* The roster field given twice: protobuf keeps the last, we refuse. */
    free(longer);
    longer = malloc(2 * len);
    assert_non_null(longer);
    memcpy(longer, buf, len);
    memcpy(longer + len, buf, len);
    assert_int_equal(roster_verify(longer, 2 * len, COALITION, NOW, NULL, &r), ROSTER_E_MALFORMED);
    assert_null(r);
    free(longer);
    free(buf);
}

static void dup_member(Roster *ro)
{
    ro->members[1]->id = ro->members[0]->id;
}

static void two_active(Roster *ro)
{
    /* PL's keys listed a second time under another id, both ACTIVE: an
     * overlap needs two generations with keys of their own. */
    static Tmbus__Roster__MemberKeys extra, *both[2];
    extra = *ro->members[2]->keys[0];
    extra.key_id = 2;
    both[0] = ro->members[2]->keys[0];
    both[1] = &extra;
    ro->members[2]->n_keys = 2;
    ro->members[2]->keys = both;
}

static void short_key(Roster *ro)
{
    ro->members[3]->keys[0]->box_key.len = 31;
}

static void bad_role(Roster *ro)
{
    ro->members[4]->role = (Tmbus__Roster__Role)9;
}

static void bad_format(Roster *ro)
{
    ro->format = 2;
}

static void gov_not_member(Roster *ro)
{
    static char nobody[] = "FR";
    ro->governors[2]->member = nobody;
}

static void test_bad_fields(void **state)
{
    void (*mutations[])(Roster *) = {dup_member, two_active, short_key,
                                     bad_role,   bad_format, gov_not_member};
    struct keyset *signers[] = {gov_ee, gov_pl};

    (void)state;
    for (size_t i = 0; i < sizeof(mutations) / sizeof(mutations[0]); i++) {
        struct spec sp = base;
        fill_base_govs(&sp);
        sp.mutate = mutations[i];
        assert_int_equal(verify_spec(&sp, signers, 2, NOW, NULL, NULL), ROSTER_E_FIELD);
    }
    struct spec zero = base;
    fill_base_govs(&zero);
    zero.threshold = 0;
    assert_int_equal(verify_spec(&zero, signers, 2, NOW, NULL, NULL), ROSTER_E_FIELD);
}

/* ---- updates ----------------------------------------------------------- */

static struct roster *trusted_v1(void)
{
    struct spec sp = base;
    struct keyset *signers[] = {gov_ee, gov_pl};
    struct roster *r = NULL;

    fill_base_govs(&sp);
    assert_int_equal(verify_spec(&sp, signers, 2, NOW, NULL, &r), ROSTER_OK);
    return r;
}

/* ---- retired keys ------------------------------------------------------ */

/* NL rotated: generation 1 (EE's keys stand in for it) RETIRED after
 * signing its relayed log up to seq 3 and its direct log to UA up to 2;
 * generation 2 (PL's keys) REVOKED; generation 3 ACTIVE (NL's own). */
static Tmbus__Roster__SignedUpTo up_relayed, up_ua, *ups[2];
static Tmbus__Roster__MemberKeys nl_retired, nl_revoked, *nl_keys[3];
static char peer_none[] = "", peer_ua[] = "UA";

static void rotated_nl(Roster *ro)
{
    tmbus__roster__signed_up_to__init(&up_relayed);
    tmbus__roster__signed_up_to__init(&up_ua);
    up_relayed.log_peer = peer_none;
    up_relayed.last_seq = 3;
    up_ua.log_peer = peer_ua;
    up_ua.last_seq = 2;
    ups[0] = &up_relayed;
    ups[1] = &up_ua;
    nl_retired = *ro->members[1]->keys[0];
    nl_retired.key_id = 1;
    nl_retired.status = TMBUS__ROSTER__KEY_STATUS__KEY_STATUS_RETIRED;
    nl_retired.n_signed_up_to = 2;
    nl_retired.signed_up_to = ups;
    nl_revoked = *ro->members[2]->keys[0];
    nl_revoked.key_id = 2;
    nl_revoked.status = TMBUS__ROSTER__KEY_STATUS__KEY_STATUS_REVOKED;
    nl_keys[0] = &nl_retired;
    nl_keys[1] = &nl_revoked;
    nl_keys[2] = ro->members[3]->keys[0];
    nl_keys[2]->key_id = 3;
    ro->members[3]->n_keys = 3;
    ro->members[3]->keys = nl_keys;
}

/* A revoked generation with a signing window is malformed. */
static void revoked_with_window(Roster *ro)
{
    rotated_nl(ro);
    nl_revoked.n_signed_up_to = 1;
    nl_revoked.signed_up_to = ups;
}

/* The same log listed twice for one key. */
static void window_twice(Roster *ro)
{
    rotated_nl(ro);
    ups[1] = &up_relayed;
}

/* A window on the member's own id as a direct log peer. */
static void window_self(Roster *ro)
{
    static char nl[] = "NL";
    rotated_nl(ro);
    up_ua.log_peer = nl;
}

static void test_retired_key_window(void **state)
{
    struct spec sp = base;
    struct keyset *signers[] = {gov_ee, gov_pl};
    struct roster *r = NULL;
    struct envelope_member_keys k;

    (void)state;
    fill_base_govs(&sp);
    sp.mutate = rotated_nl;
    assert_int_equal(verify_spec(&sp, signers, 2, NOW, NULL, &r), ROSTER_OK);
    /* Within the window: the current key first, the retired one offered. */
    assert_int_equal(roster_envelope_lookup(r, "NL", "", 3, &k), 0);
    assert_memory_equal(k.sign_pk, members[3]->sign_pk, KEYS_PUBLIC_BYTES);
    assert_int_equal(k.n_older, 1);
    assert_memory_equal(k.older[0].sign_pk, members[1]->sign_pk, KEYS_PUBLIC_BYTES);
    assert_memory_equal(k.older[0].box_pk, members[1]->box_pk, KEYS_PUBLIC_BYTES);
    assert_int_equal(roster_envelope_lookup(r, "NL", "UA", 2, &k), 0);
    assert_int_equal(k.n_older, 1);
    /* Past it, in a log it never signed, and never the revoked key. */
    assert_int_equal(roster_envelope_lookup(r, "NL", "", 4, &k), 0);
    assert_int_equal(k.n_older, 0);
    assert_int_equal(roster_envelope_lookup(r, "NL", "UA", 3, &k), 0);
    assert_int_equal(k.n_older, 0);
    assert_int_equal(roster_envelope_lookup(r, "NL", "EE", 1, &k), 0);
    assert_int_equal(k.n_older, 0);
    roster_free(&r);

    void (*bad[])(Roster *) = {revoked_with_window, window_twice, window_self};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sp.mutate = bad[i];
        assert_int_equal(verify_spec(&sp, signers, 2, NOW, NULL, NULL), ROSTER_E_FIELD);
    }
}

/* ---- a rotation's overlap ------------------------------------------------- */

/* NL rotating: generation 1 (its own keys) and generation 2 (nl_next's)
 * both ACTIVE. */
static struct keyset *nl_next, *nl_third;
static Tmbus__Roster__MemberKeys nl_gen2, nl_gen3, *nl_active[3];

static void overlap_nl(Roster *ro)
{
    nl_gen2 = *ro->members[3]->keys[0];
    nl_gen2.key_id = 2;
    nl_gen2.sign_key = (ProtobufCBinaryData){KEYS_PUBLIC_BYTES, nl_next->sign_pk};
    nl_gen2.box_key = (ProtobufCBinaryData){KEYS_PUBLIC_BYTES, nl_next->box_pk};
    nl_gen2.transport_key = (ProtobufCBinaryData){KEYS_PUBLIC_BYTES, nl_next->transport_pk};
    /* The newer one first: the view goes by key_id, not by order. */
    nl_active[0] = &nl_gen2;
    nl_active[1] = ro->members[3]->keys[0];
    ro->members[3]->n_keys = 2;
    ro->members[3]->keys = nl_active;
}

/* Three ACTIVE generations at once. */
static void three_active(Roster *ro)
{
    overlap_nl(ro);
    nl_gen3 = nl_gen2;
    nl_gen3.key_id = 3;
    nl_gen3.sign_key = (ProtobufCBinaryData){KEYS_PUBLIC_BYTES, nl_third->sign_pk};
    nl_gen3.box_key = (ProtobufCBinaryData){KEYS_PUBLIC_BYTES, nl_third->box_pk};
    nl_gen3.transport_key = (ProtobufCBinaryData){KEYS_PUBLIC_BYTES, nl_third->transport_pk};
    nl_active[2] = &nl_gen3;
    ro->members[3]->n_keys = 3;
}

/* Two ACTIVE generations with one box key between them. */
static void overlap_shared_key(Roster *ro)
{
    overlap_nl(ro);
    nl_gen2.box_key = ro->members[3]->keys[1]->box_key;
}

/* The newer generation's transport key is another member's. */
static void overlap_others_transport(Roster *ro)
{
    overlap_nl(ro);
    nl_gen2.transport_key = ro->members[2]->keys[0]->transport_key;
}

static void test_rotation_overlap(void **state)
{
    struct spec sp = base;
    struct keyset *signers[] = {gov_ee, gov_pl};
    struct roster *r = NULL;
    struct roster_member m;
    struct envelope_member_keys k;

    (void)state;
    nl_next = keys_generate(KEYS_MEMBER, "NL");
    nl_third = keys_generate(KEYS_MEMBER, "NL");
    assert_non_null(nl_next);
    assert_non_null(nl_third);
    fill_base_govs(&sp);
    sp.mutate = overlap_nl;
    assert_int_equal(verify_spec(&sp, signers, 2, NOW, NULL, &r), ROSTER_OK);
    /* Others seal to and dial the older generation; the newer one is
     * given beside it. */
    assert_int_equal(roster_find(r, "NL", &m), 0);
    assert_int_equal(m.key_id, 1);
    assert_memory_equal(m.box_pk, members[3]->box_pk, KEYS_PUBLIC_BYTES);
    assert_int_equal(m.next_key_id, 2);
    assert_memory_equal(m.next_sign_pk, nl_next->sign_pk, KEYS_PUBLIC_BYTES);
    assert_memory_equal(m.next_transport_pk, nl_next->transport_pk, KEYS_PUBLIC_BYTES);
    assert_int_equal(roster_generation_of(&m, members[3]), ROSTER_GEN_CURRENT);
    assert_int_equal(roster_generation_of(&m, nl_next), ROSTER_GEN_NEXT);
    assert_int_equal(roster_generation_of(&m, nl_third), ROSTER_GEN_NONE);
    /* Either transport key names NL; either signing key verifies. */
    assert_int_equal(roster_find_by_transport(r, nl_next->transport_pk, &m), 0);
    assert_string_equal(m.id, "NL");
    assert_int_equal(roster_find_by_transport(r, members[3]->transport_pk, &m), 0);
    assert_string_equal(m.id, "NL");
    assert_int_equal(roster_envelope_lookup(r, "NL", "", 7, &k), 0);
    assert_memory_equal(k.sign_pk, members[3]->sign_pk, KEYS_PUBLIC_BYTES);
    assert_int_equal(k.n_older, 1);
    assert_memory_equal(k.older[0].sign_pk, nl_next->sign_pk, KEYS_PUBLIC_BYTES);
    assert_memory_equal(k.older[0].box_pk, nl_next->box_pk, KEYS_PUBLIC_BYTES);
    /* A member with one generation has no next one. */
    assert_int_equal(roster_find(r, "EE", &m), 0);
    assert_int_equal(m.next_key_id, 0);
    assert_null(m.next_sign_pk);
    assert_int_equal(roster_generation_of(&m, nl_next), ROSTER_GEN_NONE);
    roster_free(&r);

    void (*bad[])(Roster *) = {three_active, overlap_shared_key, overlap_others_transport};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sp.mutate = bad[i];
        assert_int_equal(verify_spec(&sp, signers, 2, NOW, NULL, NULL), ROSTER_E_FIELD);
    }
    keys_free(&nl_next);
    keys_free(&nl_third);
}

/* What a node runs, judged against the roster it trusts. */
static enum roster_status update_spec(const struct spec *sp, struct keyset *const *signers,
                                      size_t n, int64_t now, const struct roster *trusted,
                                      struct roster **out, char *why, size_t why_size)
{
    size_t len;
    uint8_t *buf = make(sp, signers, n, &len);
    struct roster *r = NULL;
    enum roster_status st =
        roster_verify_update(buf, len, COALITION, now, trusted, out ? out : &r, why, why_size);

    if (st != ROSTER_OK)
        assert_null(out ? *out : r);
    roster_free(&r);
    free(buf);
    return st;
}

static void test_verify_update(void **state)
{
    struct roster *v1 = trusted_v1(), *v2 = NULL, *r = NULL;
    struct spec one = base, sp = base;
    struct keyset *signers[] = {gov_pl, gov_tm};
    char why[200];

    (void)state;
    fill_base_govs(&one);
    fill_base_govs(&sp);
    /* Nothing trusted yet: checked on its own; the trusted roster again. */
    assert_int_equal(update_spec(&one, signers, 2, NOW, NULL, &r, why, sizeof(why)), ROSTER_OK);
    roster_free(&r);
    assert_int_equal(update_spec(&one, signers, 2, NOW, v1, NULL, why, sizeof(why)), ROSTER_OK);
    /* ... unless it has expired since. */
    assert_int_equal(update_spec(&one, signers, 2, EXPIRES, v1, NULL, why, sizeof(why)),
                     ROSTER_E_EXPIRED);
    sp.version = 2;
    sp.prev_hash = roster_hash(v1);
    assert_int_equal(update_spec(&sp, signers, 2, NOW, v1, &v2, why, sizeof(why)), ROSTER_OK);
    /* Back to version 1, or another version 2. */
    assert_int_equal(update_spec(&one, signers, 2, NOW, v2, NULL, why, sizeof(why)),
                     ROSTER_E_ROLLBACK);
    assert_non_null(strstr(why, "version 1 is older than version 2"));
    sp.expires = EXPIRES - 1;
    assert_int_equal(update_spec(&sp, signers, 2, NOW, v2, NULL, why, sizeof(why)), ROSTER_E_FORK);
    sp.expires = 0;
    /* A skipped version names the one to install first. */
    sp.version = 3;
    assert_int_equal(update_spec(&sp, signers, 2, NOW, v1, NULL, why, sizeof(why)),
                     ROSTER_E_VERSION);
    assert_non_null(strstr(why, "install version 2 first"));
    /* Governed otherwise: a version 2 whose governors v1's set did not
     * sign is refused. */
    struct spec other = base;
    other.version = 2;
    other.prev_hash = roster_hash(v1);
    other.n_govs = 2;
    other.govs[0] = gov_ua;
    other.govs[1] = gov_nl;
    struct keyset *new_only[] = {gov_ua, gov_nl};
    assert_int_equal(update_spec(&other, new_only, 2, NOW, v1, NULL, why, sizeof(why)),
                     ROSTER_E_THRESHOLD);
    roster_free(&v2);
    roster_free(&v1);
}

static void test_update_chain(void **state)
{
    struct roster *v1 = trusted_v1(), *v2 = NULL;
    struct spec sp = base;
    struct keyset *signers[] = {gov_pl, gov_tm};
    uint8_t wrong[32];

    (void)state;
    fill_base_govs(&sp);
    sp.version = 2;
    sp.prev_hash = roster_hash(v1);
    assert_int_equal(verify_spec(&sp, signers, 2, NOW, v1, &v2), ROSTER_OK);
    assert_int_equal(roster_version(v2), 2);
    /* A version 2 needs the roster it follows. */
    assert_int_equal(verify_spec(&sp, signers, 2, NOW, NULL, NULL), ROSTER_E_VERSION);
    /* ... and that roster, not another. */
    memcpy(wrong, roster_hash(v1), sizeof(wrong));
    wrong[7] ^= 1;
    sp.prev_hash = wrong;
    assert_int_equal(verify_spec(&sp, signers, 2, NOW, v1, NULL), ROSTER_E_CHAIN);
    /* Version skip. */
    sp.prev_hash = roster_hash(v1);
    sp.version = 3;
    assert_int_equal(verify_spec(&sp, signers, 2, NOW, v1, NULL), ROSTER_E_VERSION);
    assert_int_equal(verify_spec(&sp, signers, 2, NOW, v2, NULL), ROSTER_E_CHAIN);
    /* Rollback: version 1 again, or version 2 against version 2. */
    struct spec again = base;
    fill_base_govs(&again);
    assert_int_equal(verify_spec(&again, signers, 2, NOW, v1, NULL), ROSTER_E_VERSION);
    sp.version = 2;
    sp.prev_hash = roster_hash(v1);
    assert_int_equal(verify_spec(&sp, signers, 2, NOW, v2, NULL), ROSTER_E_VERSION);
    /* The chain continues from v2. */
    sp.version = 3;
    sp.prev_hash = roster_hash(v2);
    assert_int_equal(verify_spec(&sp, signers, 2, NOW, v2, NULL), ROSTER_OK);
    roster_free(&v2);
    roster_free(&v1);
}

static void test_update_needs_old_threshold(void **state)
{
    struct roster *v1 = trusted_v1();
    struct spec sp = base;
    struct keyset *new_only[] = {gov_ua, gov_nl};
    struct keyset *one_old[] = {gov_ua, gov_nl, gov_tm};
    struct keyset *two_old[] = {gov_ua, gov_ee, gov_tm};

    (void)state;
    /* v2 hands governance to UA and NL, threshold 1. */
    sp.version = 2;
    sp.prev_hash = roster_hash(v1);
    sp.threshold = 1;
    sp.n_govs = 2;
    sp.govs[0] = gov_ua;
    sp.govs[1] = gov_nl;
    assert_int_equal(verify_spec(&sp, new_only, 2, NOW, v1, NULL), ROSTER_E_THRESHOLD);
    assert_int_equal(verify_spec(&sp, one_old, 3, NOW, v1, NULL), ROSTER_E_THRESHOLD);
    assert_int_equal(verify_spec(&sp, two_old, 3, NOW, v1, NULL), ROSTER_OK);
    /* The old set alone is not enough either. */
    struct keyset *old_only[] = {gov_ee, gov_tm};
    assert_int_equal(verify_spec(&sp, old_only, 2, NOW, v1, NULL), ROSTER_E_THRESHOLD);
    roster_free(&v1);
}

static void test_trusted_and_inspect(void **state)
{
    struct spec sp = base;
    struct keyset *signers[] = {gov_ee, gov_pl};
    struct roster *r = NULL;
    char why[160];
    size_t len;
    uint8_t *buf;

    (void)state;
    fill_base_govs(&sp);
    sp.version = 5;
    sp.prev_hash = (const uint8_t *)"0123456789abcdef0123456789abcdef";
    buf = make(&sp, signers, 2, &len);
    /* A saved, trusted version 5 loads without its predecessor, even expired. */
    assert_int_equal(roster_verify_trusted(buf, len, COALITION, &r), ROSTER_OK);
    roster_free(&r);
    free(buf);
    buf = make(&sp, signers, 1, &len);
    assert_int_equal(roster_verify_trusted(buf, len, COALITION, &r), ROSTER_E_THRESHOLD);
    assert_null(r);
    /* inspect keeps a sound but unverified roster for display. */
    assert_int_equal(roster_inspect(buf, len, NULL, NOW, NULL, false, &r, why, sizeof(why)),
                     ROSTER_E_THRESHOLD);
    assert_non_null(r);
    assert_int_equal(roster_signer_count(r), 1);
    assert_non_null(strstr(why, "1 of threshold 2"));
    roster_free(&r);
    free(buf);
}

/* ---- questions --------------------------------------------------------- */

static void test_find(void **state)
{
    struct roster *r = trusted_v1();
    struct roster_member m;
    struct envelope_member_keys k;
    struct roster_governor g;
    uint8_t zero[KEYS_PUBLIC_BYTES] = {0};

    (void)state;
    assert_int_equal(roster_find(r, "EE", &m), 0);
    assert_string_equal(m.id, "EE");
    assert_string_equal(m.name, "Estonia");
    assert_int_equal(m.role, ROSTER_ROLE_DONOR);
    assert_int_equal(m.key_id, 1);
    assert_memory_equal(m.sign_pk, members[1]->sign_pk, KEYS_PUBLIC_BYTES);
    assert_int_equal(roster_find(r, "XX", &m), -1);
    assert_int_equal(roster_find(r, "", &m), -1);

    assert_int_equal(roster_find_by_transport(r, members[2]->transport_pk, &m), 0);
    assert_string_equal(m.id, "PL");
    assert_int_equal(roster_find_by_transport(r, zero, &m), -1);
    assert_int_equal(roster_find_by_transport(r, members[2]->sign_pk, &m), -1);

    assert_int_equal(roster_envelope_lookup(r, "NL", "", 1, &k), 0);
    assert_memory_equal(k.sign_pk, members[3]->sign_pk, KEYS_PUBLIC_BYTES);
    assert_memory_equal(k.box_pk, members[3]->box_pk, KEYS_PUBLIC_BYTES);
    assert_int_equal(roster_envelope_lookup(r, "FR", "", 1, &k), -1);

    roster_member_at(r, 0, &m);
    assert_string_equal(m.id, "UA");
    assert_int_equal(m.role, ROSTER_ROLE_BENEFICIARY);
    assert_int_equal(m.n_endpoints, 1);
    assert_string_equal(m.endpoints[0], endpoint);
    assert_int_equal(m.n_groups, 1);
    assert_string_equal(m.groups[0], "all");

    roster_governor_at(r, 2, &g);
    assert_string_equal(g.member, "TM");
    assert_false(g.has_signed);
    roster_governor_at(r, 0, &g);
    assert_true(g.has_signed);

    enum roster_role role;
    assert_int_equal(roster_role_parse("observer", &role), 0);
    assert_int_equal(role, ROSTER_ROLE_OBSERVER);
    assert_int_equal(roster_role_parse("king", &role), -1);
    assert_string_equal(roster_role_name(ROSTER_ROLE_COORDINATOR), "coordinator");
    for (int st = 0; st <= ROSTER_STATUS_COUNT; st++)
        assert_non_null(roster_status_name((enum roster_status)st));
    roster_free(&r);
}

/* ---- building and signing ---------------------------------------------- */

static int run(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int run(char *out, size_t size, const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return tu_run(cmd, out, size);
}

static void write_text(const char *path, const char *text)
{
    assert_int_equal(util_write_file(path, text, strlen(text), 0644), 0);
}

/* Writes member public files and governor key files into dir/keys. */
static void write_keys(const char *dir)
{
    char p[1024], q[1024];

    snprintf(p, sizeof(p), "%s/keys", dir);
    assert_int_equal(mkdir(p, 0700), 0);
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s/keys/%s.pub", dir, ids[i]);
        assert_int_equal(keys_save(members[i], NULL, p), 0);
    }
    struct keyset *govs[] = {gov_ee, gov_pl, gov_ua};
    const char *labels[] = {"ee-gov", "pl-gov", "ua-gov"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s/keys/%s.key", dir, labels[i]);
        snprintf(q, sizeof(q), "%s/keys/%s.pub", dir, labels[i]);
        assert_int_equal(keys_save(govs[i], p, q), 0);
    }
}

static const char source_v1[] = "# a small roster\n"
                                "[roster]\n"
                                "coalition = tallinn-mechanism\n"
                                "version = 1\n"
                                "expires = 2027-12-28\n"
                                "threshold = 2\n"
                                "\n"
                                "[member UA]\n"
                                "name = Ukraine\n"
                                "role = beneficiary\n"
                                "keys = keys/UA.pub\n"
                                "endpoint = tcp://127.0.0.1:7101\n"
                                "groups = all, beneficiaries\n"
                                "[member EE]\n"
                                "name = Estonia\n"
                                "role = donor\n"
                                "keys = keys/EE.pub\n"
                                "groups = all\n"
                                "groups = donors\n"
                                "[member PL]\n"
                                "name = Poland\n"
                                "role = donor\n"
                                "keys = keys/PL.pub\n"
                                "[governor ee]\n"
                                "key = keys/ee-gov.pub\n"
                                "[governor pl]\n"
                                "key = keys/pl-gov.pub\n"
                                "member = PL\n"
                                "[governor ua]\n"
                                "key = keys/ua-gov.pub\n";

static void test_build_and_sign(void **state)
{
    char dir[512], src[600];
    uint8_t *buf = NULL, *s1 = NULL, *s2 = NULL, *s3 = NULL;
    size_t len, l1, l2, l3;
    struct roster *r = NULL;
    struct roster_member m;

    (void)state;
    snprintf(dir, sizeof(dir), "%s", tu_tempdir());
    write_keys(dir);
    snprintf(src, sizeof(src), "%s/roster.ini", dir);
    write_text(src, source_v1);
    assert_int_equal(roster_build(src, NOW, &buf, &len), 0);
    assert_int_equal(roster_verify(buf, len, COALITION, NOW, NULL, &r), ROSTER_E_THRESHOLD);
    assert_int_equal(roster_sign(buf, len, gov_ee, &s1, &l1), 0);
    /* Signing again with the same key replaces, never adds. */
    assert_int_equal(roster_sign(s1, l1, gov_ee, &s2, &l2), 0);
    assert_int_equal(l1, l2);
    assert_int_equal(roster_verify(s2, l2, COALITION, NOW, NULL, &r), ROSTER_E_THRESHOLD);
    assert_int_equal(roster_sign(s2, l2, gov_pl, &s3, &l3), 0);
    assert_int_equal(roster_verify(s3, l3, COALITION, NOW, NULL, &r), ROSTER_OK);
    assert_int_equal(roster_member_count(r), 3);
    assert_int_equal(roster_issued_at(r), NOW);
    assert_int_equal(roster_find(r, "UA", &m), 0);
    assert_int_equal(m.n_groups, 2);
    assert_string_equal(m.groups[1], "beneficiaries");
    assert_int_equal(roster_find(r, "EE", &m), 0);
    assert_int_equal(m.n_groups, 2);
    assert_int_equal(m.n_endpoints, 0);
    roster_free(&r);
    /* An unlisted governor or a member key cannot sign. */
    uint8_t *x = NULL;
    size_t xl;
    assert_int_equal(roster_sign(s3, l3, gov_x, &x, &xl), -1);
    assert_int_equal(roster_sign(s3, l3, members[0], &x, &xl), -1);
    assert_null(x);
    free(s3);
    free(s2);
    free(s1);
    free(buf);
    tu_rmtree(dir);
}

static void test_build_errors(void **state)
{
    /* Each bad source, and the line the error must name. */
    static const struct {
        const char *find, *replace;
        int line;
    } cases[] = {
        {"role = donor\nkeys = keys/EE.pub", "role = king\nkeys = keys/EE.pub", 16},
        {"version = 1\n", "version = one\n", 4},
        {"[member PL]\n", "[member UA]\n", 20},
        {"name = Poland\n", "this is not ini\n", 21},
        {"threshold = 2\n", "threshold = 2\nthreshold = 2\n", 7},
        {"keys = keys/PL.pub\n", "keys = keys/EE.pub\n", 23},
        {"expires = 2027-12-28\n", "expires = 2027-02-30\n", 5},
        {"[governor ua]\n", "[governer ua]\n", 29},
        {"groups = all\n", "groups = all, a b\n", 18},
        {"endpoint = tcp://127.0.0.1:7101\n", "endpoint = tcp://127.0.0.1:99999\n", 12},
        {"endpoint = tcp://127.0.0.1:7101\n", "endpoint = udp://127.0.0.1:7101\n", 12},
    };
    char dir[512], src[600], text[2048], out[4096], want[64];
    uint8_t *buf = NULL;
    size_t len;

    (void)state;
    snprintf(dir, sizeof(dir), "%s", tu_tempdir());
    write_keys(dir);
    snprintf(src, sizeof(src), "%s/roster.ini", dir);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *at = strstr(source_v1, cases[i].find);
        assert_non_null(at);
        snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - source_v1), source_v1, cases[i].replace,
                 at + strlen(cases[i].find));
        write_text(src, text);
        assert_int_equal(roster_build(src, NOW, &buf, &len), -1);
        assert_null(buf);
        /* The error names the file and the line to fix. */
        assert_int_equal(
            run(out, sizeof(out), "%s roster create %s %s/out.bin", TMBUS_ADMIN_BIN, src, dir), 1);
        snprintf(want, sizeof(want), "roster.ini:%d: ", cases[i].line);
        if (strstr(out, want) == NULL)
            fail_msg("case %zu: expected '%s' in: %s", i, want, out);
    }
    /* A line longer than inih's buffer is refused, not split in two. */
    snprintf(text, sizeof(text), "%s[member NL]\nname = %0250d\n", source_v1, 0);
    write_text(src, text);
    assert_int_equal(roster_build(src, NOW, &buf, &len), -1);
    /* Threshold above the governing members is caught after parsing. */
    const char *at = strstr(source_v1, "threshold = 2");
    snprintf(text, sizeof(text), "%.*sthreshold = 4%s", (int)(at - source_v1), source_v1,
             at + strlen("threshold = 2"));
    write_text(src, text);
    assert_int_equal(roster_build(src, NOW, &buf, &len), -1);
    tu_rmtree(dir);
}

/* ---- the CLI ----------------------------------------------------------- */

static void test_cli_flow(void **state)
{
    const char *bin = TMBUS_ADMIN_BIN;
    char dir[512], src[600], out[8192], text[2048];

    (void)state;
    snprintf(dir, sizeof(dir), "%s", tu_tempdir());
    write_keys(dir);
    snprintf(src, sizeof(src), "%s/roster.ini", dir);
    write_text(src, source_v1);

    assert_int_equal(run(out, sizeof(out), "%s roster create %s %s/r1", bin, src, dir), 0);
    assert_int_equal(run(out, sizeof(out), "%s roster create %s %s/r1", bin, src, dir), 1);
    assert_non_null(strstr(out, "--force"));
    assert_int_equal(run(out, sizeof(out), "%s roster create %s %s/r1 --force", bin, src, dir), 0);
    assert_int_equal(run(out, sizeof(out), "%s roster show %s/r1", bin, dir), 0);
    assert_non_null(strstr(out, "NOT VERIFIED"));

    assert_int_equal(
        run(out, sizeof(out), "%s roster sign %s/r1 %s/keys/ee-gov.key", bin, dir, dir), 0);
    assert_int_equal(
        run(out, sizeof(out), "%s roster sign %s/r1 %s/keys/ee-gov.key", bin, dir, dir), 0);
    assert_int_equal(
        run(out, sizeof(out), "%s roster verify %s/r1 --coalition %s", bin, dir, COALITION), 1);
    assert_non_null(strstr(out, "below-threshold"));
    assert_non_null(strstr(out, "1 of threshold 2"));

    assert_int_equal(
        run(out, sizeof(out), "%s roster sign %s/r1 %s/keys/pl-gov.key", bin, dir, dir), 0);
    assert_int_equal(
        run(out, sizeof(out), "%s roster verify %s/r1 --coalition %s", bin, dir, COALITION), 0);
    assert_non_null(strstr(out,
                           "ok: coalition tallinn-mechanism version 1, 3 members, signed by 2 of "
                           "threshold 2"));
    assert_int_equal(run(out, sizeof(out), "%s roster verify %s/r1 --coalition other", bin, dir),
                     1);
    assert_int_equal(run(out, sizeof(out), "%s roster verify %s/r1 --coalition %s --now 2028-01-01",
                         bin, dir, COALITION),
                     1);
    assert_non_null(strstr(out, "expired"));

    assert_int_equal(run(out, sizeof(out), "%s roster show %s/r1", bin, dir), 0);
    assert_null(strstr(out, "NOT VERIFIED"));
    assert_non_null(strstr(out, "verified"));
    assert_non_null(strstr(out, "tallinn-mechanism"));
    assert_non_null(strstr(out, "Ukraine"));
    assert_non_null(strstr(out, "beneficiary"));
    assert_non_null(strstr(out, "tcp://127.0.0.1:7101"));
    assert_non_null(strstr(out, "all,beneficiaries"));

    /* Version 2 lowers the threshold to 1; version 1's threshold of 2
     * still applies to this update. */
    const char *at = strstr(source_v1, "version = 1\nexpires = 2027-12-28\nthreshold = 2\n");
    assert_non_null(at);
    snprintf(text, sizeof(text),
             "%.*sversion = 2\nprevious = r1\nexpires = 2027-12-28\nthreshold = 1\n%s",
             (int)(at - source_v1), source_v1,
             at + strlen("version = 1\nexpires = 2027-12-28\nthreshold = 2\n"));
    write_text(src, text);
    assert_int_equal(run(out, sizeof(out), "%s roster create %s %s/r2", bin, src, dir), 0);
    assert_int_equal(
        run(out, sizeof(out), "%s roster sign %s/r2 %s/keys/ua-gov.key", bin, dir, dir), 0);
    /* Signed by UA: enough under v2, one short under v1. */
    assert_int_equal(run(out, sizeof(out), "%s roster verify %s/r2 --coalition %s --previous %s/r1",
                         bin, dir, COALITION, dir),
                     1);
    assert_non_null(strstr(out, "previous threshold"));
    assert_int_equal(
        run(out, sizeof(out), "%s roster sign %s/r2 %s/keys/pl-gov.key", bin, dir, dir), 0);
    assert_int_equal(run(out, sizeof(out), "%s roster verify %s/r2 --coalition %s --previous %s/r1",
                         bin, dir, COALITION, dir),
                     0);
    assert_non_null(strstr(out, "version 2"));
    /* Without its predecessor a version 2 does not verify. */
    assert_int_equal(
        run(out, sizeof(out), "%s roster verify %s/r2 --coalition %s", bin, dir, COALITION), 1);

    /* Usage. */
    assert_int_equal(run(out, sizeof(out), "%s roster verify %s/r1", bin, dir), 64);
    assert_int_equal(run(out, sizeof(out), "%s roster frobnicate", bin), 64);
    assert_int_equal(run(out, sizeof(out), "%s roster", bin), 64);
    assert_int_equal(run(out, sizeof(out), "%s roster show %s/r1 --force", bin, dir), 64);
    assert_int_equal(run(out, sizeof(out), "%s roster sign --help", bin), 0);
    assert_non_null(strstr(out, "usage:"));
    assert_int_equal(run(out, sizeof(out), "%s roster show %s/missing", bin, dir), 1);
    tu_rmtree(dir);
}

/* The secretariat's workflow: propose the next version from a source
 * (version and chain from the current roster, with the changes printed),
 * detached signatures, combine (refused while the outgoing governors'
 * threshold is not met, or a signature is of another roster), diff. */
static void test_cli_secretariat(void **state)
{
    const char *bin = TMBUS_ADMIN_BIN;
    char dir[512], src[600], out[8192], text[2048];
    const char *from = "role = donor\nkeys = keys/EE.pub",
               *to = "role = coordinator\nkeys = keys/EE.pub";
    const char *at;

    (void)state;
    snprintf(dir, sizeof(dir), "%s", tu_tempdir());
    write_keys(dir);
    snprintf(src, sizeof(src), "%s/roster.ini", dir);
    write_text(src, source_v1);
    assert_int_equal(run(out, sizeof(out), "%s roster create %s %s/r1", bin, src, dir), 0);
    assert_int_equal(
        run(out, sizeof(out), "%s roster sign %s/r1 %s/keys/ee-gov.key", bin, dir, dir), 0);
    assert_int_equal(
        run(out, sizeof(out), "%s roster sign %s/r1 %s/keys/pl-gov.key", bin, dir, dir), 0);

    /* EE becomes a coordinator; the source still says version 1. */
    assert_non_null(at = strstr(source_v1, from));
    snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - source_v1), source_v1, to,
             at + strlen(from));
    write_text(src, text);
    assert_int_equal(run(out, sizeof(out), "%s roster propose %s %s/r2u", bin, src, dir), 64);
    assert_int_equal(
        run(out, sizeof(out), "%s roster propose %s --previous %s/r1 %s/r2u", bin, src, dir, dir),
        0);
    assert_non_null(strstr(out, "version 1 -> 2"));
    assert_non_null(strstr(out, "member EE: role donor -> coordinator"));
    assert_null(strstr(out, "member UA"));
    assert_int_equal(run(out, sizeof(out),
                         "%s roster verify %s/r2u --coalition %s --previous %s/r1", bin, dir,
                         COALITION, dir),
                     1);

    assert_int_equal(run(out, sizeof(out),
                         "%s roster sign %s/r2u %s/keys/ua-gov.key --detached %s/ua.sig", bin, dir,
                         dir, dir),
                     0);
    assert_non_null(strstr(out, "wrote"));
    /* One governor of two: written, but refused, with the reason. */
    assert_int_equal(
        run(out, sizeof(out), "%s roster combine %s/r2u %s/ua.sig --out %s/r2", bin, dir, dir, dir),
        1);
    assert_non_null(strstr(out, "below-threshold"));
    assert_int_equal(run(out, sizeof(out),
                         "%s roster sign %s/r2u %s/keys/pl-gov.key --detached %s/pl.sig", bin, dir,
                         dir, dir),
                     0);
    assert_int_equal(
        run(out, sizeof(out),
            "%s roster combine %s/r2u %s/ua.sig %s/pl.sig --out %s/r2 --previous %s/r1", bin, dir,
            dir, dir, dir, dir),
        0);
    assert_non_null(strstr(out, "signed by 2 of threshold 2"));
    assert_int_equal(run(out, sizeof(out), "%s roster verify %s/r2 --coalition %s --previous %s/r1",
                         bin, dir, COALITION, dir),
                     0);
    /* The unsigned update is untouched by detached signing. */
    assert_int_equal(run(out, sizeof(out),
                         "%s roster verify %s/r2u --coalition %s --previous %s/r1", bin, dir,
                         COALITION, dir),
                     1);

    /* A signature of another roster is refused by name. */
    assert_int_equal(run(out, sizeof(out),
                         "%s roster sign %s/r1 %s/keys/ee-gov.key --detached %s/ee1.sig", bin, dir,
                         dir, dir),
                     0);
    assert_int_equal(run(out, sizeof(out), "%s roster combine %s/r2u %s/ee1.sig --out %s/r3", bin,
                         dir, dir, dir),
                     1);
    assert_non_null(strstr(out, "signs another roster"));
    assert_int_equal(
        run(out, sizeof(out), "%s roster combine %s/r2u %s/r1 --out %s/r3", bin, dir, dir, dir), 1);
    assert_non_null(strstr(out, "not a roster signature file"));

    assert_int_equal(run(out, sizeof(out), "%s roster diff %s/r1 %s/r2", bin, dir, dir), 0);
    assert_non_null(strstr(out, "member EE: role donor -> coordinator"));
    assert_int_equal(run(out, sizeof(out), "%s roster diff %s/r1 %s/r1", bin, dir, dir), 0);
    assert_non_null(strstr(out, "no changes"));
    tu_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_2_of_3),
        cmocka_unit_test(test_below_threshold),
        cmocka_unit_test(test_same_key_twice_counts_once),
        cmocka_unit_test(test_two_keys_one_member_counts_once),
        cmocka_unit_test(test_expired),
        cmocka_unit_test(test_expiry_checked_last),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_wrong_coalition),
        cmocka_unit_test(test_unknown_signer_ignored),
        cmocka_unit_test(test_oversize_before_parse),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_bad_fields),
        cmocka_unit_test(test_update_chain),
        cmocka_unit_test(test_verify_update),
        cmocka_unit_test(test_retired_key_window),
        cmocka_unit_test(test_rotation_overlap),
        cmocka_unit_test(test_update_needs_old_threshold),
        cmocka_unit_test(test_trusted_and_inspect),
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_build_and_sign),
        cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_cli_flow),
        cmocka_unit_test(test_cli_secretariat),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
