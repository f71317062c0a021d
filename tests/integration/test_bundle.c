/*
 * Integration: air-gap bundles (proto/PROTOCOL.md 14). UA and EE run
 * nodes of one roster that never link (neither dials, and nobody knows to
 * dial them), so everything between them goes by file: a vector one way,
 * a bundle back, imported with the node stopped. A week's traffic of
 * several kinds (needs of every label but RED to all, a TLP:RED need in
 * the direct log, an offer and its acceptance, and the receipts each node
 * owes) crosses in both directions; then both boards have the same digest
 * and each subscriber got every message exactly once. A tampered, a
 * truncated, a replayed and foreign bundles (for another member, of
 * another coalition, signed by an unknown key or a non-member) are
 * refused, each with its reason and counter, and change nothing. A fork
 * carried by a bundle is kept as evidence, as over a link. Bundles keep
 * flowing through a rotation of EE's keys (PROTOCOL.md 3.4), in its
 * overlap and after the old generation is retired, with EE's node on
 * keys = old file and next_keys = new file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include "bundle.h"
#include "fed.h"
#include "fedclient.h"
#include "keys.h"
#include "store.h"
#include "tmbus.h"

#define UA         0
#define EE         1
#define DAYS       7 /* a week, one round trip of bundles a day */
#define UA_PER_DAY 4 /* tagged needs UA posts each day, and one TLP:RED on the first */
#define EE_PER_DAY 3
#define RECEIVE_MS 10000
#define OUT_MAX    8192
#define EX_REFUSED 1
#define EX_REPLAY  3

struct world {
    struct fed *f;
    struct tmbus *h[2];
    struct fc_inbox in[2];
    size_t want[2]; /* tagged deliveries each subscriber must hold */
    char tag[FC_TAG_MAX + 1];
    int trip;
};

/* DIR/name, in one of four buffers: valid until the fourth call after. */
static const char *path_in(struct world *w, const char *name)
{
    static char p[4][FED_PATH_MAX + 64];
    static int k;

    k = (k + 1) % 4;
    snprintf(p[k], sizeof(p[k]), "%s/%s", fed_dir(w->f), name);
    return p[k];
}

/* Runs tmbus-admin bundle ARGS; its output (both streams) into out.
 * Returns the exit status. */
static int admin(char out[OUT_MAX], const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int admin(char out[OUT_MAX], const char *fmt, ...)
{
    char args[FED_PATH_MAX * 4], cmd[FED_PATH_MAX * 5];
    va_list ap;
    size_t n;
    FILE *p;
    int st;

    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof(cmd), "'%s' bundle %s 2>&1", TMBUS_ADMIN_BIN, args);
    assert_non_null(p = popen(cmd, "r"));
    n = fread(out, 1, OUT_MAX - 1, p);
    out[n] = '\0';
    st = pclose(p);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void connect_client(struct world *w, size_t i)
{
    tmbus_close(&w->h[i]);
    assert_non_null(w->h[i] = fc_connect(w->f, i));
    assert_int_equal(tmbus_subscribe(w->h[i], 64, FC_CALL_MS), TMBUS_OK);
}

/* Each subscriber holds exactly what was sent to it so far, once. */
static void check_received(struct world *w, size_t i)
{
    size_t got = fc_receive(w->h[i], &w->in[i], w->want[i], RECEIVE_MS, 1);

    if (got != w->want[i])
        fail_msg("%s received %zu of %zu tagged messages", fed_id(w->f, i), got, w->want[i]);
    assert_int_equal(fc_check_order(&w->in[i]), 0);
}

/* One courier trip from `from` to `to`: to's vector, from's bundle for it,
 * imported into to with its node stopped. */
static void carry(struct world *w, size_t from, size_t to)
{
    char out[OUT_MAX], vec[64], bun[64];
    int rc;

    w->trip++;
    snprintf(vec, sizeof(vec), "vector-%d", w->trip);
    snprintf(bun, sizeof(bun), "bundle-%d", w->trip);
    rc = admin(out, "vector -c '%s' --to %s --out '%s'", fed_conf_path(w->f, to),
               fed_id(w->f, from), path_in(w, vec));
    if (rc != 0)
        fail_msg("vector: %s", out);
    rc = admin(out, "export -c '%s' --for '%s' --out '%s'", fed_conf_path(w->f, from),
               path_in(w, vec), path_in(w, bun));
    if (rc != 0)
        fail_msg("export: %s", out);
    tmbus_close(&w->h[to]);
    assert_int_equal(fed_stop(w->f, to), 0);
    rc = admin(out, "import -c '%s' '%s'", fed_conf_path(w->f, to), path_in(w, bun));
    if (rc != 0)
        fail_msg("import: %s", out);
    assert_non_null(strstr(out, "added seq"));
    assert_int_equal(fed_start(w->f, to), 0);
    connect_client(w, to);
    check_received(w, to);
}

static void round_trip(struct world *w)
{
    carry(w, UA, EE);
    carry(w, EE, UA);
}

static void post_tagged(struct world *w, size_t from, enum fc_tlp tlp, uint32_t index)
{
    const char *to[] = {fed_id(w->f, 1 - from), "PL"};
    size_t n = tlp == FC_TLP_RED ? 1 : 2;

    assert_int_equal(fc_post(w->h[from], tlp, w->tag, index, to, n, NULL), TMBUS_OK);
    w->want[1 - from]++;
}

static bool digest_of(struct tmbus *h, uint8_t out[TMBUS_ID_BYTES])
{
    struct tmbus_status *s = NULL;
    const uint8_t *d;
    bool ok = false;

    if (tmbus_status(h, FC_CALL_MS, &s) != TMBUS_OK)
        return false;
    if ((d = tmbus_status_board_digest(s)) != NULL) {
        memcpy(out, d, TMBUS_ID_BYTES);
        ok = true;
    }
    tmbus_status_free(&s);
    return ok;
}

static uint64_t counter(struct tmbus *h, const char *name)
{
    uint64_t v;

    assert_int_equal(fc_counter(h, name, &v), TMBUS_OK);
    return v;
}

/* EE's state, read from its store with the node stopped. */
struct snapshot {
    uint64_t envelopes, evidence, inbox;
    uint8_t digest[STORE_BOARD_DIGEST_BYTES];
};

static void snapshot(struct world *w, struct snapshot *s)
{
    struct store *st = fed_store_open(w->f, EE);

    assert_non_null(st);
    assert_int_equal(store_count(st, &s->envelopes, &s->evidence), 0);
    assert_int_equal(store_inbox_last(st, &s->inbox), 0);
    assert_int_equal(store_board_digest(st, s->digest), 0);
    store_close(&st);
}

/* A bundle for `to`, with no sections, as `from` of `coalition`, signed
 * by ks: what a foreign or forged bundle looks like from outside. */
static void forge(const char *path, const char *coalition, const char *from, const char *to,
                  const struct keyset *ks)
{
    struct bundle_header h = {.kind = BUNDLE_KIND_ENVELOPES, .created_at = time(NULL)};
    struct bundle_writer *bw;
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    snprintf(h.coalition, sizeof(h.coalition), "%s", coalition);
    snprintf(h.from, sizeof(h.from), "%s", from);
    snprintf(h.to, sizeof(h.to), "%s", to);
    assert_non_null(bw = bundle_writer_new(f, &h));
    assert_int_equal(bundle_writer_finish(bw, ks), 0);
    bundle_writer_free(&bw);
    assert_int_equal(fclose(f), 0);
}

/* Copies src to dst, cut to len bytes, with byte flip (when >= 0) changed. */
static void copy_altered(const char *src, const char *dst, long len, long flip)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    int c;

    assert_non_null(in);
    assert_non_null(out);
    for (long i = 0; i < len && (c = fgetc(in)) != EOF; i++)
        fputc(i == flip ? c ^ 0x01 : c, out);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    long n;

    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fclose(f);
    return n;
}

static void refused(struct world *w, const char *bundle, int status, const char *reason)
{
    char out[OUT_MAX];
    int rc = admin(out, "import -c '%s' '%s'", fed_conf_path(w->f, EE), bundle);

    if (rc != status || strstr(out, reason) == NULL)
        fail_msg("import of %s: exit %d (want %d), wanted \"%s\" in: %s", bundle, rc, status,
                 reason, out);
}

/* Copies node i's database files (the node stopped) from one directory
 * to another, replacing what is there. */
static void copy_db(const char *from, const char *to)
{
    char cmd[FED_PATH_MAX * 4];

    snprintf(cmd, sizeof(cmd),
             "mkdir -p '%s' && rm -f '%s'/tmbus.db* && cp -a '%s'/tmbus.db* '%s'/", to, to, from,
             to);
    assert_int_equal(system(cmd), 0);
}

/* UA's node restored from a backup signs another envelope at a seq EE
 * holds: the bundle carries it, and EE keeps it as evidence and halts the
 * log, as over a link; its subscriber never sees it. */
static void fork_by_courier(struct world *w)
{
    char out[OUT_MAX], backup[FED_PATH_MAX + 64];

    snprintf(backup, sizeof(backup), "%s", path_in(w, "ua-backup"));
    tmbus_close(&w->h[UA]);
    assert_int_equal(fed_stop(w->f, UA), 0);
    copy_db(fed_data_dir(w->f, UA), backup);
    assert_int_equal(fed_start(w->f, UA), 0);
    connect_client(w, UA);
    post_tagged(w, UA, FC_TLP_GREEN, 1950);
    carry(w, UA, EE);

    tmbus_close(&w->h[UA]);
    assert_int_equal(fed_stop(w->f, UA), 0);
    copy_db(backup, fed_data_dir(w->f, UA));
    assert_int_equal(fed_start(w->f, UA), 0);
    connect_client(w, UA);
    post_tagged(w, UA, FC_TLP_GREEN, 1951);
    w->want[EE]--; /* never delivered: it contradicts 1950 */
    assert_int_equal(admin(out, "vector -c '%s' --to UA --out '%s'", fed_conf_path(w->f, EE),
                           path_in(w, "vector-fork")),
                     0);
    assert_int_equal(admin(out, "export -c '%s' --for '%s' --out '%s'", fed_conf_path(w->f, UA),
                           path_in(w, "vector-fork"), path_in(w, "bundle-fork")),
                     0);
    tmbus_close(&w->h[EE]);
    assert_int_equal(fed_stop(w->f, EE), 0);
    if (admin(out, "import -c '%s' '%s'", fed_conf_path(w->f, EE), path_in(w, "bundle-fork")) != 0)
        fail_msg("import of the fork: %s", out);
    assert_int_equal(fed_start(w->f, EE), 0);
    connect_client(w, EE);
    assert_int_equal(counter(w->h[EE], "equivocation"), 1);
    fc_expect_quiet(w->h[EE], &w->in[EE], 300);
    assert_int_equal(w->in[EE].n_tagged, w->want[EE]);
    assert_null(fc_find_index(&w->in[EE], 1951));
    assert_int_equal(fc_check_order(&w->in[EE]), 0);
}

static void test_week_by_courier(void **state)
{
    /* EE coordinates, so that it posts needs too; PL never runs a node. */
    static const char *const ids[] = {"UA", "EE", "PL"};
    static const char *const roles[] = {NULL, "coordinator", NULL};
    static const enum fc_tlp labels[] = {FC_TLP_GREEN, FC_TLP_AMBER, FC_TLP_CLEAR,
                                         FC_TLP_AMBER_STRICT};
    struct world w = {0};
    struct tmbus_need need = {0};
    struct tmbus_offer offer = {0};
    const char *ua[] = {"UA"}, *ee_pl[] = {"EE", "PL"};
    uint8_t need_id[TMBUS_ID_BYTES], offer_id[TMBUS_ID_BYTES];
    uint8_t da[TMBUS_ID_BYTES], de[TMBUS_ID_BYTES];
    struct snapshot before, after;
    struct keyset *ua_keys, *stranger;
    char out[OUT_MAX], last[FED_PATH_MAX + 64];
    long size;

    assert_non_null(w.f = fed_new_with_roles(3, ids, roles));
    *state = w.f;
    /* Two federations of one roster: nobody dials anybody. */
    assert_int_equal(fed_set_dial(w.f, UA, "none"), 0);
    assert_int_equal(fed_set_dial(w.f, EE, "none"), 0);
    assert_int_equal(fed_start(w.f, UA), 0);
    assert_int_equal(fed_start(w.f, EE), 0);
    fc_tag(w.tag, sizeof(w.tag), "bundle");
    fc_inbox_init(&w.in[UA], w.tag);
    fc_inbox_init(&w.in[EE], w.tag);
    connect_client(&w, UA);
    connect_client(&w, EE);

    for (uint32_t day = 0; day < DAYS; day++) {
        for (uint32_t k = 0; k < UA_PER_DAY; k++)
            post_tagged(&w, UA, labels[k % 4], 1000 + day * 10 + k);
        for (uint32_t k = 0; k < EE_PER_DAY; k++)
            post_tagged(&w, EE, labels[(k + 1) % 4], 2000 + day * 10 + k);
        if (day == 0) {
            post_tagged(&w, UA, FC_TLP_RED, 1500);
            need.beneficiary = "Regional water utility";
            need.sector = TMBUS_SECTOR_ENERGY;
            need.category = TMBUS_CATEGORY_MALWARE_DETECTION;
            need.title = "Sensors for the pumping stations";
            need.description = "Network sensors for twelve sites.";
            need.quantity = 12;
            need.unit = "sensors";
            need.value_cents = 4800000;
            need.priority = TMBUS_PRIORITY_HIGH;
            need.deadline = "2099-12-31";
            need.tlp = TMBUS_TLP_AMBER;
            need.contact = "duty desk";
            assert_int_equal(tmbus_post_need(w.h[UA], &need, ee_pl, 2, false, FC_CALL_MS, need_id),
                             TMBUS_OK);
        } else if (day == 1) {
            offer.need_id = need_id;
            offer.description = "From our stock.";
            offer.quantity = 12;
            offer.value_cents = 4000000;
            offer.delivery_date = "2099-06-30";
            offer.tlp = TMBUS_TLP_AMBER;
            assert_int_equal(tmbus_post_offer(w.h[EE], &offer, ua, 1, false, FC_CALL_MS, offer_id),
                             TMBUS_OK);
        } else if (day == 2) {
            assert_int_equal(tmbus_offer_update(w.h[UA], offer_id, TMBUS_OFFER_ACCEPT, NULL, NULL,
                                                0, true, FC_CALL_MS, NULL),
                             TMBUS_OK);
        }
        round_trip(&w);
    }
    /* One more trip brings UA's last receipts to EE; EE owes none for
     * receipts, so a bundle back would hold nothing (a replay). */
    carry(&w, UA, EE);
    assert_true(digest_of(w.h[UA], da));
    assert_true(digest_of(w.h[EE], de));
    assert_memory_equal(da, de, TMBUS_ID_BYTES);
    for (size_t i = 0; i < 2; i++) {
        /* What is still coming (the offer and its acceptance are not
         * tagged) brings no tagged message twice, and no envelope twice. */
        fc_expect_quiet(w.h[i], &w.in[i], 300);
        fc_receive(w.h[i], &w.in[i], w.want[i], 0, 1); /* acks them */
        assert_int_equal(w.in[i].n_tagged, w.want[i]);
        assert_int_equal(fc_check_order(&w.in[i]), 0);
        assert_int_equal(fed_log_count(w.f, i, 0, "link up"), 0);
    }
    assert_non_null(fc_find_index(&w.in[EE], 1500)); /* the TLP:RED one, in the direct log */
    assert_true(counter(w.h[EE], "bundle.imported") >= DAYS + 1);

    /* A last bundle for EE, then what must be refused. */
    post_tagged(&w, UA, FC_TLP_GREEN, 1900);
    assert_int_equal(admin(out, "vector -c '%s' --to UA --out '%s'", fed_conf_path(w.f, EE),
                           path_in(&w, "vector-last")),
                     0);
    snprintf(last, sizeof(last), "%s", path_in(&w, "bundle-last"));
    assert_int_equal(admin(out, "export -c '%s' --for '%s' --out '%s'", fed_conf_path(w.f, UA),
                           path_in(&w, "vector-last"), last),
                     0);
    tmbus_close(&w.h[EE]);
    assert_int_equal(fed_stop(w.f, EE), 0);
    snapshot(&w, &before);

    size = file_size(last);
    copy_altered(last, path_in(&w, "tampered"), size, size - 300);
    refused(&w, path_in(&w, "tampered"), EX_REFUSED, "bad-signature");
    copy_altered(last, path_in(&w, "truncated"), size / 2, -1);
    refused(&w, path_in(&w, "truncated"), EX_REFUSED, "truncated");
    assert_non_null(ua_keys = keys_load(fed_member_key_path(w.f, UA)));
    assert_non_null(stranger = keys_generate(KEYS_MEMBER, "UA"));
    forge(path_in(&w, "for-pl"), FED_COALITION, "UA", "PL", ua_keys);
    refused(&w, path_in(&w, "for-pl"), EX_REFUSED, "other-member");
    forge(path_in(&w, "other-coalition"), "another-coalition", "UA", "EE", ua_keys);
    refused(&w, path_in(&w, "other-coalition"), EX_REFUSED, "other-coalition");
    forge(path_in(&w, "stranger"), FED_COALITION, "UA", "EE", stranger);
    refused(&w, path_in(&w, "stranger"), EX_REFUSED, "bad-signature");
    forge(path_in(&w, "non-member"), FED_COALITION, "ZZ", "EE", stranger);
    refused(&w, path_in(&w, "non-member"), EX_REFUSED, "unknown-signer");
    keys_free(&ua_keys);
    keys_free(&stranger);
    snapshot(&w, &after);
    assert_int_equal(after.envelopes, before.envelopes);
    assert_int_equal(after.evidence, before.evidence);
    assert_int_equal(after.inbox, before.inbox);
    assert_memory_equal(after.digest, before.digest, STORE_BOARD_DIGEST_BYTES);

    /* The good one goes in once; again, it is a replay. */
    assert_int_equal(admin(out, "import -c '%s' '%s'", fed_conf_path(w.f, EE), last), 0);
    snapshot(&w, &before);
    refused(&w, last, EX_REPLAY, "replayed");
    snapshot(&w, &after);
    assert_int_equal(after.envelopes, before.envelopes);
    assert_int_equal(after.inbox, before.inbox);

    assert_int_equal(fed_start(w.f, EE), 0);
    connect_client(&w, EE);
    check_received(&w, EE);
    assert_int_equal(counter(w.h[EE], "bundle.refused.bad-signature"), 2);
    assert_int_equal(counter(w.h[EE], "bundle.refused.truncated"), 1);
    assert_int_equal(counter(w.h[EE], "bundle.refused.other-member"), 1);
    assert_int_equal(counter(w.h[EE], "bundle.refused.other-coalition"), 1);
    assert_int_equal(counter(w.h[EE], "bundle.refused.unknown-signer"), 1);
    assert_int_equal(counter(w.h[EE], "bundle.refused.replayed"), 1);

    fork_by_courier(&w);
    for (size_t i = 0; i < 2; i++) {
        tmbus_close(&w.h[i]);
        fc_inbox_free(&w.in[i]);
    }
    fed_pass(w.f);
}

/* ---- through a key rotation (PROTOCOL.md 3.4) --------------------------- */

#define APPLY_MS 5000 /* longest wait for a roster or key file to be in force */

static uint64_t roster_version_at(struct world *w, size_t i)
{
    struct tmbus *h = fc_connect(w->f, i);
    struct tmbus_status *st = NULL;
    uint64_t v;

    assert_non_null(h);
    assert_int_equal(tmbus_status(h, FC_CALL_MS, &st), TMBUS_OK);
    v = tmbus_status_roster_version(st);
    tmbus_status_free(&st);
    tmbus_close(&h);
    return v;
}

struct version_at {
    struct world *w;
    uint64_t version;
};

static bool is_in_force(void *arg)
{
    struct version_at *v = arg;

    return roster_version_at(v->w, UA) == v->version && roster_version_at(v->w, EE) == v->version;
}

/* Roster `version` of the federation, with extra as EE's lines and EE's
 * key file pub, written as DIR/roster-vVERSION.bin chained to the one
 * before, and put in place as both nodes' roster file: the operators of
 * sites that never link install it by hand and send SIGHUP. */
static void install_roster(struct world *w, uint64_t version, const char *pub, const char *extra)
{
    struct fed_roster spec = {.version = version};
    char out[FED_PATH_MAX], previous[FED_PATH_MAX], name[32], cmd[FED_PATH_MAX * 3];
    struct version_at at = {w, version};

    snprintf(name, sizeof(name), "roster-v%llu.bin", (unsigned long long)version);
    assert_int_equal(fed_path(w->f, name, out, sizeof(out)), 0);
    snprintf(name, sizeof(name), "roster-v%llu.bin", (unsigned long long)version - 1);
    assert_int_equal(fed_path(w->f, name, previous, sizeof(previous)), 0);
    spec.out = out;
    spec.previous = previous;
    spec.keys[EE] = pub;
    spec.extra[EE] = extra;
    assert_int_equal(fed_make_roster(w->f, &spec), 0);
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", out, fed_roster_path(w->f));
    assert_int_equal(system(cmd), 0);
    assert_int_equal(fed_reload(w->f, UA), 0);
    assert_int_equal(fed_reload(w->f, EE), 0);
    assert_int_equal(fed_wait_until(is_in_force, &at, APPLY_MS, 100), 0);
}

/* EE's recorded heads (the last seq generation 1 signed in each of its
 * logs) as the roster source's "last_seq = 1 *:N ..." line. */
static void heads_line(struct world *w, char *out, size_t size)
{
    struct tmbus_status *st = NULL;
    size_t used;

    assert_int_equal(tmbus_status(w->h[EE], FC_CALL_MS, &st), TMBUS_OK);
    assert_int_equal(tmbus_status_key_switch_id(st), 1);
    assert_true(tmbus_status_key_switch_count(st) >= 1);
    used = (size_t)snprintf(out, size, "last_seq = 1");
    for (size_t k = 0; k < tmbus_status_key_switch_count(st); k++) {
        const char *peer;
        uint64_t seq;
        assert_int_equal(tmbus_status_key_switch_head(st, k, &peer, &seq), TMBUS_OK);
        used += (size_t)snprintf(out + used, size - used, " %s:%llu", peer[0] ? peer : "*",
                                 (unsigned long long)seq);
        assert_true(used < size);
    }
    tmbus_status_free(&st);
}

/* EE's posts of one step: relayed ones of several labels to UA and PL,
 * and a TLP:RED one in its direct log to UA. */
static void post_step(struct world *w, uint32_t base)
{
    post_tagged(w, EE, FC_TLP_GREEN, base);
    post_tagged(w, EE, FC_TLP_AMBER, base + 1);
    post_tagged(w, EE, FC_TLP_RED, base + 2);
}

/* EE rotates its keys while UA and EE exchange bundles only. EE's node
 * runs with keys = generation 1 and next_keys = generation 2 throughout,
 * as PROTOCOL.md 3.4 allows. EE posts under generation 1, then under 2
 * once version 2 (both ACTIVE) is in force; with retire, version 3
 * retires generation 1 before any bundle leaves, and EE posts again. Then
 * a bundle each way, no envelope having crossed before: EE's bundle and
 * EE's vector (which UA's export checks) must be signed by a generation
 * of EE's that is ACTIVE in the roster in force, and every envelope of
 * both generations, TLP:RED ones in the direct logs too, arrives once.
 * Before tmbus-admin bundle took next_keys into account it signed with
 * generation 1 even after version 3 retired it, and UA refused. */
static void rotate_by_courier(void **state, bool retire)
{
    static const char *const ids[] = {"UA", "EE", "PL"};
    static const char *const roles[] = {NULL, "coordinator", NULL};
    char dir[FED_PATH_MAX], key[FED_PATH_MAX], pub[FED_PATH_MAX], v1[FED_PATH_MAX];
    char cmd[FED_PATH_MAX * 3], line[2048], extra[4096];
    struct world world = {0}, *w = &world;
    long mark;

    assert_non_null(w->f = fed_new_with_roles(3, ids, roles));
    *state = w->f;
    assert_int_equal(fed_set_dial(w->f, UA, "none"), 0);
    assert_int_equal(fed_set_dial(w->f, EE, "none"), 0);
    assert_int_equal(fed_start(w->f, UA), 0);
    assert_int_equal(fed_start(w->f, EE), 0);
    fc_tag(w->tag, sizeof(w->tag), retire ? "retired" : "overlap");
    fc_inbox_init(&w->in[UA], w->tag);
    fc_inbox_init(&w->in[EE], w->tag);
    connect_client(w, UA);
    connect_client(w, EE);
    assert_int_equal(fed_path(w->f, "roster-v1.bin", v1, sizeof(v1)), 0);
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", fed_roster_path(w->f), v1);
    assert_int_equal(system(cmd), 0);

    post_step(w, 100); /* under generation 1 */
    post_tagged(w, UA, FC_TLP_GREEN, 1);

    /* Generation 2 as next_keys, then version 2 lists it ACTIVE beside 1:
     * EE switches at once. */
    snprintf(dir, sizeof(dir), "%s/gen2", fed_keys_dir(w->f));
    const char *keygen[] = {"keygen", "member", "EE", dir, NULL};
    assert_int_equal(fed_admin(w->f, keygen), 0);
    assert_true((size_t)snprintf(key, sizeof(key), "%s/gen2/EE.key", fed_keys_dir(w->f)) <
                sizeof(key));
    assert_true((size_t)snprintf(pub, sizeof(pub), "%s/gen2/EE.pub", fed_keys_dir(w->f)) <
                sizeof(pub));
    mark = fed_log_mark(w->f, EE);
    assert_int_equal(fed_set_next_keys(w->f, EE, key), 0);
    assert_int_equal(fed_reload(w->f, EE), 0);
    assert_int_equal(fed_wait_log_from(w->f, EE, mark, "loaded: taken in force", APPLY_MS), 0);
    mark = fed_log_mark(w->f, EE);
    install_roster(w, 2, pub, "key_id = 2\nactive = 1 keys/EE.pub");
    assert_int_equal(fed_wait_log_from(w->f, EE, mark, "signs with key generation 2", APPLY_MS), 0);
    post_step(w, 200); /* under generation 2 */

    if (retire) {
        /* Version 3 retires generation 1 with the heads EE recorded. */
        heads_line(w, line, sizeof(line));
        snprintf(extra, sizeof(extra), "key_id = 2\nretired = 1 keys/EE.pub\n%s", line);
        install_roster(w, 3, pub, extra);
        post_step(w, 300);
        post_tagged(w, UA, FC_TLP_RED, 2);
    }

    carry(w, EE, UA);
    if (retire) {
        /* EE's operator ends the rotation: keys = generation 2, the old
         * file as previous_keys. UA's posts sealed to generation 1 must
         * still open at EE's import. */
        char cp[FED_PATH_MAX * 3];

        tmbus_close(&w->h[EE]);
        assert_int_equal(fed_stop(w->f, EE), 0);
        assert_int_equal(fed_set_next_keys(w->f, EE, ""), 0);
        assert_int_equal(fed_install_member_key(w->f, EE, key), 0);
        snprintf(cp, sizeof(cp), "cp '%s' '%s'", pub, fed_member_pub_path(w->f, EE));
        assert_int_equal(system(cp), 0);
        assert_int_equal(fed_start(w->f, EE), 0);
        connect_client(w, EE);
    }
    carry(w, UA, EE);
    for (size_t i = 0; i < 2; i++) {
        fc_expect_quiet(w->h[i], &w->in[i], 300);
        assert_int_equal(w->in[i].n_tagged, w->want[i]);
        assert_int_equal(fc_check_order(&w->in[i]), 0);
        assert_int_equal(fed_log_count(w->f, i, 0, "link up"), 0);
    }
    assert_non_null(fc_find_index(&w->in[UA], 100)); /* generation 1's */
    assert_non_null(fc_find_index(&w->in[UA], 102)); /* its TLP:RED one */
    assert_non_null(fc_find_index(&w->in[UA], 202)); /* generation 2's */
    assert_int_equal(counter(w->h[UA], "bundle.imported"), 1);
    assert_int_equal(counter(w->h[EE], "bundle.imported"), 1);
    for (size_t i = 0; i < 2; i++) {
        tmbus_close(&w->h[i]);
        fc_inbox_free(&w->in[i]);
    }
    fed_pass(w->f);
}

static void test_rotation_overlap(void **state)
{
    rotate_by_courier(state, false);
}

static void test_rotation_retired(void **state)
{
    rotate_by_courier(state, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_week_by_courier, fed_teardown),
        cmocka_unit_test_teardown(test_rotation_overlap, fed_teardown),
        cmocka_unit_test_teardown(test_rotation_retired, fed_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
