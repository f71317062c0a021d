/*
 * test_audit: unit tests of the audit module: the entry codec and its
 * refusals, the tree's hashing against roots computed here by hand from
 * RFC 9162's definition, inclusion and consistency proofs for every size
 * and index of small trees (and their refusal once a byte changes),
 * checkpoint signatures, and the node's log over a real store: it survives
 * a reopen and returns to the committed tree when a batch rolls back. The
 * checkpoint exchange between two logs: a first checkpoint is cosigned, a
 * later one needs a proof from the size held, and a rewritten, truncated
 * or forged history is refused and counted; an entry's inclusion proof
 * from the store verifies. Proofs from the store take whole blocks from
 * the log's cache and read only the entries at their edges.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "audit.h"
#include "keys.h"
#include "log.h"
#include "store.h"
#include "testutil.h"

#define N_LEAVES 21 /* sizes 1..N_LEAVES cover every shape up to 5 levels */

/* ---- helpers ---- */

static void sample(struct audit_entry *e, uint64_t i)
{
    memset(e, 0, sizeof(*e));
    e->at_ms = 1700000000000 + (int64_t)i;
    e->kind = AUDIT_ENVELOPE;
    e->outcome = i % 2 ? AUDIT_REFUSED : AUDIT_OK;
    e->actor_kind = AUDIT_BY_MEMBER;
    snprintf(e->actor, sizeof(e->actor), "member-%llu", (unsigned long long)i);
    snprintf(e->origin, sizeof(e->origin), "DE");
    e->seq = i + 1;
    e->has_id = true;
    memset(e->id, (int)i, sizeof(e->id));
    snprintf(e->detail, sizeof(e->detail), "%s", i % 2 ? "bad signature" : "");
}

/* Leaf hashes of sample entries 0..n-1, as the proof functions read them. */
static uint8_t leaves[N_LEAVES][AUDIT_HASH_BYTES];

static void make_leaves(void)
{
    for (uint64_t i = 0; i < N_LEAVES; i++) {
        struct audit_entry e;
        uint8_t buf[AUDIT_ENTRY_MAX];
        int len;

        sample(&e, i);
        len = audit_entry_encode(&e, buf, sizeof(buf));
        assert_true(len > 0);
        audit_hash_leaf(buf, (size_t)len, leaves[i]);
    }
}

static int leaf_at(void *arg, uint64_t i, uint8_t out[AUDIT_HASH_BYTES])
{
    (void)arg;
    if (i >= N_LEAVES)
        return -1;
    memcpy(out, leaves[i], AUDIT_HASH_BYTES);
    return 0;
}

/* H(prefix || a || b) written out, independent of audit_hash_node. */
static void by_hand(uint8_t prefix, const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len,
                    uint8_t out[AUDIT_HASH_BYTES])
{
    crypto_generichash_state h;

    crypto_generichash_init(&h, NULL, 0, AUDIT_HASH_BYTES);
    crypto_generichash_update(&h, &prefix, 1);
    crypto_generichash_update(&h, a, a_len);
    if (b != NULL)
        crypto_generichash_update(&h, b, b_len);
    crypto_generichash_final(&h, out, AUDIT_HASH_BYTES);
}

static void root_of(uint64_t n, uint8_t out[AUDIT_HASH_BYTES])
{
    struct audit_frontier f = {0};

    for (uint64_t i = 0; i < n; i++)
        audit_frontier_append(&f, leaves[i]);
    audit_frontier_root(&f, out);
}

/* ---- codec ---- */

static void test_codec_round_trip(void **state)
{
    struct audit_entry e, back;
    uint8_t buf[AUDIT_ENTRY_MAX];
    int len;

    (void)state;
    sample(&e, 3);
    e.actor_kind = AUDIT_BY_CLIENT;
    e.has_key = true;
    memset(e.key, 0xab, sizeof(e.key));
    snprintf(e.peer, sizeof(e.peer), "FR");
    len = audit_entry_encode(&e, buf, sizeof(buf));
    assert_true(len > 0 && len <= AUDIT_ENTRY_MAX);
    assert_int_equal(audit_entry_decode(buf, (size_t)len, &back), 0);
    assert_memory_equal(&e, &back, sizeof(e));

    /* Every field at its longest still fits AUDIT_ENTRY_MAX. */
    memset(e.actor, 'a', AUDIT_ACTOR_MAX);
    memset(e.origin, 'o', UTIL_MEMBER_ID_MAX);
    memset(e.peer, 'p', UTIL_MEMBER_ID_MAX);
    memset(e.detail, 'd', AUDIT_DETAIL_MAX);
    len = audit_entry_encode(&e, buf, sizeof(buf));
    assert_true(len > 0 && len <= AUDIT_ENTRY_MAX);
    assert_int_equal(audit_entry_decode(buf, (size_t)len, &back), 0);
    assert_memory_equal(&e, &back, sizeof(e));
}

static void test_codec_cuts_unprintable(void **state)
{
    struct audit_entry e, back;
    uint8_t buf[AUDIT_ENTRY_MAX];
    int len;

    (void)state;
    sample(&e, 0);
    snprintf(e.detail, sizeof(e.detail), "line\nforged");
    len = audit_entry_encode(&e, buf, sizeof(buf));
    assert_int_equal(audit_entry_decode(buf, (size_t)len, &back), 0);
    assert_string_equal(back.detail, "line");
}

static void test_codec_refusals(void **state)
{
    struct audit_entry e, back;
    uint8_t buf[AUDIT_ENTRY_MAX + 1], bad[AUDIT_ENTRY_MAX + 1];
    int len;

    (void)state;
    sample(&e, 2);
    len = audit_entry_encode(&e, buf, sizeof(buf));
    assert_int_equal(audit_entry_decode(buf, (size_t)len, &back), 0);

    /* Too short, a byte trailing, every prefix. */
    for (int cut = 0; cut < len; cut++)
        assert_int_equal(audit_entry_decode(buf, (size_t)cut, &back), -1);
    memcpy(bad, buf, (size_t)len);
    bad[len] = 0;
    assert_int_equal(audit_entry_decode(bad, (size_t)len + 1, &back), -1);

    /* Format, kind, outcome, actor kind, flags out of range. */
    const size_t at[] = {0, 1, 2, 3, 20};
    const uint8_t v[] = {2, 0, 3, 9, 0x80};
    for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
        memcpy(bad, buf, (size_t)len);
        bad[at[i]] = v[i];
        assert_int_equal(audit_entry_decode(bad, (size_t)len, &back), -1);
    }
    /* A string length past the end, and an unprintable byte in one. */
    memcpy(bad, buf, (size_t)len);
    bad[21 + AUDIT_HASH_BYTES] = 200;
    assert_int_equal(audit_entry_decode(bad, (size_t)len, &back), -1);
    memcpy(bad, buf, (size_t)len);
    bad[21 + AUDIT_HASH_BYTES + 1] = 0x07;
    assert_int_equal(audit_entry_decode(bad, (size_t)len, &back), -1);

    /* The encoder refuses enums out of range. */
    e.kind = 0;
    assert_int_equal(audit_entry_encode(&e, buf, sizeof(buf)), -1);
}

/* ---- tree ---- */

static void test_known_roots(void **state)
{
    uint8_t want[AUDIT_HASH_BYTES], got[AUDIT_HASH_BYTES], n01[AUDIT_HASH_BYTES],
        n23[AUDIT_HASH_BYTES], n0123[AUDIT_HASH_BYTES], entry[3] = {'a', 'b', 'c'};

    (void)state;
    /* The empty tree: BLAKE2b-256 of nothing. */
    crypto_generichash(want, sizeof(want), NULL, 0, NULL, 0);
    root_of(0, got);
    assert_memory_equal(got, want, AUDIT_HASH_BYTES);

    /* A leaf is H(0x00 || bytes). */
    by_hand(0x00, entry, sizeof(entry), NULL, 0, want);
    audit_hash_leaf(entry, sizeof(entry), got);
    assert_memory_equal(got, want, AUDIT_HASH_BYTES);

    /* One leaf: the root is the leaf hash. */
    root_of(1, got);
    assert_memory_equal(got, leaves[0], AUDIT_HASH_BYTES);

    /* Three leaves: MTH = H(1 || H(1 || L0 || L1) || L2). */
    by_hand(0x01, leaves[0], AUDIT_HASH_BYTES, leaves[1], AUDIT_HASH_BYTES, n01);
    by_hand(0x01, n01, AUDIT_HASH_BYTES, leaves[2], AUDIT_HASH_BYTES, want);
    root_of(3, got);
    assert_memory_equal(got, want, AUDIT_HASH_BYTES);

    /* Five leaves: the split at 4 is a complete tree and one leaf. */
    by_hand(0x01, leaves[2], AUDIT_HASH_BYTES, leaves[3], AUDIT_HASH_BYTES, n23);
    by_hand(0x01, n01, AUDIT_HASH_BYTES, n23, AUDIT_HASH_BYTES, n0123);
    by_hand(0x01, n0123, AUDIT_HASH_BYTES, leaves[4], AUDIT_HASH_BYTES, want);
    root_of(5, got);
    assert_memory_equal(got, want, AUDIT_HASH_BYTES);

    /* Reordering two leaves changes the root. */
    {
        struct audit_frontier f = {0};
        audit_frontier_append(&f, leaves[1]);
        audit_frontier_append(&f, leaves[0]);
        audit_frontier_append(&f, leaves[2]);
        audit_frontier_root(&f, got);
        root_of(3, want);
        assert_memory_not_equal(got, want, AUDIT_HASH_BYTES);
    }
}

static void test_inclusion_known_answer(void **state)
{
    uint8_t proof[AUDIT_PROOF_MAX][AUDIT_HASH_BYTES], n01[AUDIT_HASH_BYTES], root[AUDIT_HASH_BYTES];

    (void)state;
    /* Leaf 2 of 3: its one sibling is the left subtree H(1 || L0 || L1). */
    by_hand(0x01, leaves[0], AUDIT_HASH_BYTES, leaves[1], AUDIT_HASH_BYTES, n01);
    assert_int_equal(audit_prove_inclusion(leaf_at, NULL, 3, 2, proof), 1);
    assert_memory_equal(proof[0], n01, AUDIT_HASH_BYTES);
    /* Leaf 0 of 3: L1, then L2. */
    assert_int_equal(audit_prove_inclusion(leaf_at, NULL, 3, 0, proof), 2);
    assert_memory_equal(proof[0], leaves[1], AUDIT_HASH_BYTES);
    assert_memory_equal(proof[1], leaves[2], AUDIT_HASH_BYTES);
    root_of(3, root);
    assert_true(audit_verify_inclusion(leaves[0], 0, 3, root, (const uint8_t(*)[32])proof, 2));
}

static void test_inclusion_every_index(void **state)
{
    uint8_t proof[AUDIT_PROOF_MAX][AUDIT_HASH_BYTES], root[AUDIT_HASH_BYTES];
    const uint8_t(*p)[AUDIT_HASH_BYTES] = (const uint8_t(*)[AUDIT_HASH_BYTES])proof;

    (void)state;
    for (uint64_t n = 1; n <= N_LEAVES; n++) {
        root_of(n, root);
        for (uint64_t m = 0; m < n; m++) {
            int k = audit_prove_inclusion(leaf_at, NULL, n, m, proof);

            assert_true(k >= 0);
            assert_true(audit_verify_inclusion(leaves[m], m, n, root, p, (size_t)k));
            /* Another leaf, another index, another size, a changed proof
             * or a shortened one: each refused. */
            assert_false(
                audit_verify_inclusion(leaves[(m + 1) % N_LEAVES], m, n, root, p, (size_t)k));
            if (n > 1)
                assert_false(audit_verify_inclusion(leaves[m], (m + 1) % n, n, root, p, (size_t)k));
            /* The proof does not pass for the next tree (its root); the
             * size itself is bound by the checkpoint that signs both. */
            if (n < N_LEAVES) {
                uint8_t next[AUDIT_HASH_BYTES];
                root_of(n + 1, next);
                assert_false(audit_verify_inclusion(leaves[m], m, n + 1, next, p, (size_t)k));
            }
            if (k > 0) {
                proof[k - 1][0] ^= 1;
                assert_false(audit_verify_inclusion(leaves[m], m, n, root, p, (size_t)k));
                proof[k - 1][0] ^= 1;
                assert_false(audit_verify_inclusion(leaves[m], m, n, root, p, (size_t)k - 1));
            }
        }
        assert_int_equal(audit_prove_inclusion(leaf_at, NULL, n, n, proof), -1);
    }
}

static void test_consistency_known_answer(void **state)
{
    uint8_t proof[AUDIT_PROOF_MAX][AUDIT_HASH_BYTES], r2[AUDIT_HASH_BYTES], r3[AUDIT_HASH_BYTES];

    (void)state;
    /* From 2 to 3 leaves: the old tree is a complete subtree, so the proof
     * is only what was added, L2. */
    assert_int_equal(audit_prove_consistency(leaf_at, NULL, 2, 3, proof), 1);
    assert_memory_equal(proof[0], leaves[2], AUDIT_HASH_BYTES);
    root_of(2, r2);
    root_of(3, r3);
    assert_true(audit_verify_consistency(2, r2, 3, r3, (const uint8_t(*)[32])proof, 1));
    /* From 1 to 2: L1. */
    assert_int_equal(audit_prove_consistency(leaf_at, NULL, 1, 2, proof), 1);
    assert_memory_equal(proof[0], leaves[1], AUDIT_HASH_BYTES);
}

static void test_consistency_every_pair(void **state)
{
    uint8_t proof[AUDIT_PROOF_MAX][AUDIT_HASH_BYTES], r1[AUDIT_HASH_BYTES], r2[AUDIT_HASH_BYTES],
        other[AUDIT_HASH_BYTES];
    const uint8_t(*p)[AUDIT_HASH_BYTES] = (const uint8_t(*)[AUDIT_HASH_BYTES])proof;

    (void)state;
    for (uint64_t n = 1; n <= N_LEAVES; n++) {
        root_of(n, r2);
        for (uint64_t m = 1; m <= n; m++) {
            int k = audit_prove_consistency(leaf_at, NULL, m, n, proof);

            root_of(m, r1);
            assert_true(k >= 0);
            assert_true(audit_verify_consistency(m, r1, n, r2, p, (size_t)k));
            /* A rewritten old tree (another root) is not a prefix. */
            memcpy(other, r1, sizeof(other));
            other[5] ^= 0x10;
            assert_false(audit_verify_consistency(m, other, n, r2, p, (size_t)k));
            memcpy(other, r2, sizeof(other));
            other[5] ^= 0x10;
            assert_false(audit_verify_consistency(m, r1, n, other, p, (size_t)k));
            if (k > 0) {
                proof[0][31] ^= 1;
                assert_false(audit_verify_consistency(m, r1, n, r2, p, (size_t)k));
                proof[0][31] ^= 1;
            }
            if (m < n && m > 1) {
                /* The root of another size does not pass for m's. */
                uint8_t r0[AUDIT_HASH_BYTES];
                root_of(m - 1, r0);
                assert_false(audit_verify_consistency(m, r0, n, r2, p, (size_t)k));
            }
        }
    }
    assert_int_equal(audit_prove_consistency(leaf_at, NULL, 0, 3, proof), -1);
    assert_int_equal(audit_prove_consistency(leaf_at, NULL, 4, 3, proof), -1);
}

/* ---- checkpoints ---- */

static void test_checkpoint_signature(void **state)
{
    struct keyset *ks = tu_member_keys("DE"), *other = tu_member_keys("FR");
    struct audit_checkpoint cp = {.size = 5, .at = 1700000000};
    uint8_t msg[AUDIT_SIGNED_MAX];
    size_t len;

    (void)state;
    snprintf(cp.member, sizeof(cp.member), "DE");
    root_of(5, cp.root);
    len = audit_checkpoint_signed(&cp, msg);
    /* The domain string and its NUL come first. */
    assert_memory_equal(msg, AUDIT_CHECKPOINT_DOMAIN, sizeof(AUDIT_CHECKPOINT_DOMAIN));
    assert_int_equal(len, sizeof(AUDIT_CHECKPOINT_DOMAIN) + 1 + 2 + 8 + 32 + 8);
    assert_int_equal(keys_sign(ks, msg, len, cp.sig), 0);
    assert_true(audit_checkpoint_verify(&cp, ks->sign_pk));
    assert_false(audit_checkpoint_verify(&cp, other->sign_pk));
    cp.size = 4;
    assert_false(audit_checkpoint_verify(&cp, ks->sign_pk));
    cp.size = 5;
    cp.root[0] ^= 1;
    assert_false(audit_checkpoint_verify(&cp, ks->sign_pk));
    keys_free(&ks);
    keys_free(&other);
}

/* ---- the node's log over a store ---- */

struct rows {
    uint64_t n;
    struct audit_frontier tree;
    uint64_t n_checkpoints;
    struct store_audit_checkpoint last;
};

static int count_entry(void *arg, uint64_t idx, const uint8_t *entry, size_t len)
{
    struct rows *r = arg;
    struct audit_entry e;
    uint8_t h[AUDIT_HASH_BYTES];

    assert_int_equal(idx, r->n);
    assert_int_equal(audit_entry_decode(entry, len, &e), 0);
    audit_hash_leaf(entry, len, h);
    audit_frontier_append(&r->tree, h);
    r->n++;
    return 0;
}

static int count_checkpoint(void *arg, const struct store_audit_checkpoint *cp)
{
    struct rows *r = arg;

    r->n_checkpoints++;
    r->last = *cp;
    return 0;
}

static void commit(struct store *s, struct audit *a, bool is_final)
{
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(audit_flush(a, is_final), 0);
    assert_int_equal(store_commit(s), 0);
    audit_committed(a, true);
}

static void test_log_over_store(void **state)
{
    const char *dir = tu_tempdir();
    struct keyset *ks = tu_member_keys("DE");
    struct store *s = store_open(dir, tu_store_key);
    struct stats *st = stats_new();
    struct audit *a;
    struct audit_entry e;
    struct rows rows = {0};
    struct audit_checkpoint cp = {0};
    uint8_t root[AUDIT_HASH_BYTES], root2[AUDIT_HASH_BYTES];
    uint64_t size, size2;

    (void)state;
    assert_non_null(s);
    assert_non_null(a = audit_new(s, ks, "DE", st)); /* records a start entry */
    for (uint64_t i = 0; i < 10; i++) {
        sample(&e, i);
        audit_record(a, &e);
    }
    commit(s, a, false);
    audit_head(a, &size, root);
    assert_int_equal(size, 11);

    /* A batch that rolls back takes its entries with it: the tree returns
     * to what is committed, and the next entries follow on from there. */
    sample(&e, 20);
    audit_record(a, &e);
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(audit_flush(a, false), 0);
    store_rollback(s);
    audit_committed(a, false);
    audit_head(a, &size2, root2);
    assert_int_equal(size2, 11);
    assert_memory_equal(root, root2, AUDIT_HASH_BYTES);
    assert_int_equal(stats_get(st, "audit.lost"), 1);
    sample(&e, 21);
    audit_record(a, &e);
    commit(s, a, true); /* a final flush signs a checkpoint */
    audit_head(a, &size, root);
    assert_int_equal(size, 12);
    audit_free(&a);
    store_close(&s);

    /* Read back as tmbus-admin does: rows in order, the tree they make is
     * the log's, and the checkpoint signs it. */
    assert_int_equal(store_audit_peek(dir, 0, count_entry, count_checkpoint, &rows), 1);
    assert_int_equal(rows.n, 12);
    audit_frontier_root(&rows.tree, root2);
    assert_memory_equal(root, root2, AUDIT_HASH_BYTES);
    assert_true(rows.n_checkpoints >= 1);
    assert_int_equal(rows.last.size, 12);
    assert_memory_equal(rows.last.root, root, AUDIT_HASH_BYTES);
    cp.size = rows.last.size;
    cp.at = rows.last.at;
    memcpy(cp.root, rows.last.root, AUDIT_HASH_BYTES);
    memcpy(cp.member, rows.last.member, sizeof(cp.member));
    memcpy(cp.sig, rows.last.sig, sizeof(cp.sig));
    assert_true(audit_checkpoint_verify(&cp, ks->sign_pk));

    /* Reopened, the log goes on from the saved frontier. */
    assert_non_null(s = store_open(dir, tu_store_key));
    assert_non_null(a = audit_new(s, ks, "DE", st));
    commit(s, a, false);
    audit_head(a, &size2, root2);
    assert_int_equal(size2, 13);
    audit_free(&a);
    store_close(&s);
    stats_free(&st);
    keys_free(&ks);
    tu_rmtree(dir);
}

/* Proofs from the node's log over a store take whole blocks of entries
 * from the log's cache once a first proof has read them: every proof
 * between heads of awkward sizes still verifies, and a proof after the
 * log grew reads a few hundred entries, not the whole log. Before the
 * cache every proof read every entry, which held the node's loop (and
 * every client's ack) for seconds once the log had tens of thousands. */
static void test_proofs_from_cache(void **state)
{
    static const uint64_t grows[] = {700, 1, 255, 256, 1000, 3, 2048, 300};
    enum { N_HEADS = sizeof(grows) / sizeof(grows[0]) + 1 };
    const char *dir = tu_tempdir();
    struct keyset *ks = tu_member_keys("DE");
    struct store *s = store_open(dir, tu_store_key);
    struct stats *st = stats_new();
    struct audit *a;
    struct audit_entry e;
    uint8_t proof[AUDIT_PROOF_MAX][AUDIT_HASH_BYTES], root[N_HEADS][AUDIT_HASH_BYTES];
    const uint8_t(*p)[AUDIT_HASH_BYTES] = (const uint8_t(*)[AUDIT_HASH_BYTES])proof;
    uint8_t entry[AUDIT_ENTRY_MAX], leaf[AUDIT_HASH_BYTES];
    uint64_t size[N_HEADS], i = 0, before;
    size_t len;
    int n;

    (void)state;
    assert_non_null(s);
    assert_non_null(a = audit_new(s, ks, "DE", st));
    commit(s, a, false);
    audit_head(a, &size[0], root[0]);
    for (size_t h = 1; h < N_HEADS; h++) {
        for (uint64_t k = 0; k < grows[h - 1]; k++, i++) {
            sample(&e, i);
            audit_record(a, &e);
        }
        commit(s, a, false);
        audit_head(a, &size[h], root[h]);
    }
    for (size_t x = 0; x < N_HEADS; x++) {
        for (size_t y = x; y < N_HEADS; y++) {
            assert_true((n = audit_prove_since(a, size[x], size[y], proof)) >= 0);
            assert_true(audit_verify_consistency(size[x], root[x], size[y], root[y], p, (size_t)n));
        }
        for (uint64_t k = 0; k < size[x]; k += 97) {
            assert_true((n = audit_prove_entry(a, k, size[x], entry, &len, proof)) >= 0);
            audit_hash_leaf(entry, len, leaf);
            assert_true(audit_verify_inclusion(leaf, k, size[x], root[x], p, (size_t)n));
        }
    }

    /* The log grows by 300 entries: the proof from the last head reads
     * the new block and the entries past the last whole one. */
    for (uint64_t k = 0; k < 300; k++, i++) {
        sample(&e, i);
        audit_record(a, &e);
    }
    commit(s, a, false);
    audit_head(a, &size[0], root[0]);
    before = stats_get(st, "audit.proof-leaves");
    assert_true((n = audit_prove_since(a, size[N_HEADS - 1], size[0], proof)) >= 0);
    assert_true(audit_verify_consistency(size[N_HEADS - 1], root[N_HEADS - 1], size[0], root[0], p,
                                         (size_t)n));
    assert_true(size[0] > 4800);
    assert_in_range(stats_get(st, "audit.proof-leaves") - before, 1, 3 * 256);
    audit_free(&a);
    store_close(&s);
    stats_free(&st);
    keys_free(&ks);
    tu_rmtree(dir);
}

/* ---- the checkpoint exchange between two logs ---- */

/* Records n sample entries in a and commits them with a checkpoint. */
static void grow_and_sign(struct store *s, struct audit *a, uint64_t n, struct audit_checkpoint *cp)
{
    struct audit_entry e;

    for (uint64_t i = 0; i < n; i++) {
        sample(&e, i);
        audit_record(a, &e);
    }
    commit(s, a, true);
    assert_int_equal(audit_latest(a, cp), 1);
}

static void test_exchange(void **state)
{
    char dir_de[512], dir_fr[512];
    struct keyset *de_keys = tu_member_keys("DE"), *fr_keys = tu_member_keys("FR");
    struct store *de_store, *fr_store;
    struct stats *de_st = stats_new(), *fr_st = stats_new();
    struct audit *de, *fr;
    struct audit_checkpoint cp1, cp2, forged;
    uint8_t proof[AUDIT_PROOF_MAX][AUDIT_HASH_BYTES], cosig[KEYS_SIGNATURE_BYTES];
    uint8_t entry[AUDIT_ENTRY_MAX], leaf[AUDIT_HASH_BYTES], msg[AUDIT_SIGNED_MAX];
    size_t len;
    uint64_t held;
    int n;

    (void)state;
    snprintf(dir_de, sizeof(dir_de), "%s", tu_tempdir());
    snprintf(dir_fr, sizeof(dir_fr), "%s", tu_tempdir());
    assert_non_null(de_store = store_open(dir_de, tu_store_key));
    assert_non_null(fr_store = store_open(dir_fr, tu_store_key));
    assert_non_null(de = audit_new(de_store, de_keys, "DE", de_st));
    assert_non_null(fr = audit_new(fr_store, fr_keys, "FR", fr_st));
    grow_and_sign(de_store, de, 5, &cp1);
    assert_string_equal(cp1.member, "DE");

    /* A first checkpoint is taken on its signature and cosigned. */
    assert_int_equal(audit_peer_checkpoint(fr, &cp1, de_keys->sign_pk, 0, NULL, 0, &held, cosig),
                     AUDIT_PEER_COSIGNED);
    assert_int_equal(held, cp1.size);
    assert_true(audit_cosignature_verify("FR", &cp1, cosig, fr_keys->sign_pk));
    assert_false(audit_cosignature_verify("DE", &cp1, cosig, fr_keys->sign_pk));
    assert_int_equal(audit_peer_cosignature(de, "FR", cp1.size, cosig, de_keys->sign_pk, NULL), -1);
    assert_int_equal(audit_peer_cosignature(de, "FR", cp1.size + 1, cosig, fr_keys->sign_pk, NULL),
                     -1);
    assert_int_equal(audit_peer_cosignature(de, "FR", cp1.size, cosig, fr_keys->sign_pk, NULL), 0);
    assert_int_equal(stats_get(de_st, "audit.cosignature.bad"), 1);
    assert_int_equal(stats_get(de_st, "audit.cosignature.unknown"), 1);
    assert_false(audit_is_settled(fr)); /* cosigned once committed */
    commit(fr_store, fr, false);
    commit(de_store, de, false);
    assert_true(audit_is_settled(fr));

    /* A later one must come with a proof from the size held. */
    grow_and_sign(de_store, de, 7, &cp2);
    assert_true(cp2.size > cp1.size);
    assert_int_equal(audit_peer_checkpoint(fr, &cp2, de_keys->sign_pk, 0, NULL, 0, &held, cosig),
                     AUDIT_PEER_PROVE_FROM);
    assert_int_equal(held, cp1.size);
    assert_true((n = audit_prove_since(de, cp1.size, cp2.size, proof)) > 0);
    /* A proof with a byte changed is an inconsistent history. */
    proof[0][3] ^= 1;
    assert_int_equal(audit_peer_checkpoint(fr, &cp2, de_keys->sign_pk, cp1.size,
                                           (const uint8_t(*)[AUDIT_HASH_BYTES])proof, (size_t)n,
                                           &held, cosig),
                     AUDIT_PEER_REFUSED);
    assert_int_equal(stats_get(fr_st, "audit.peer.inconsistent"), 1);
    proof[0][3] ^= 1;
    assert_int_equal(audit_peer_checkpoint(fr, &cp2, de_keys->sign_pk, cp1.size,
                                           (const uint8_t(*)[AUDIT_HASH_BYTES])proof, (size_t)n,
                                           &held, cosig),
                     AUDIT_PEER_COSIGNED);
    assert_int_equal(held, cp2.size);

    /* Going back to the older size is a truncated history. */
    assert_int_equal(
        audit_peer_checkpoint(fr, &cp1, de_keys->sign_pk, cp2.size, NULL, 0, &held, cosig),
        AUDIT_PEER_REFUSED);
    assert_int_equal(stats_get(fr_st, "audit.peer.inconsistent"), 2);
    /* Another root at the size held, signed with the real key: rewritten. */
    forged = cp2;
    forged.root[0] ^= 1;
    len = audit_checkpoint_signed(&forged, msg);
    assert_int_equal(keys_sign(de_keys, msg, len, forged.sig), 0);
    assert_int_equal(
        audit_peer_checkpoint(fr, &forged, de_keys->sign_pk, cp2.size, NULL, 0, &held, cosig),
        AUDIT_PEER_REFUSED);
    assert_int_equal(stats_get(fr_st, "audit.peer.inconsistent"), 3);
    /* A signature that is not the member's. */
    forged = cp2;
    forged.sig[0] ^= 1;
    assert_int_equal(
        audit_peer_checkpoint(fr, &forged, de_keys->sign_pk, cp2.size, NULL, 0, &held, cosig),
        AUDIT_PEER_REFUSED);
    assert_int_equal(stats_get(fr_st, "audit.peer.bad-signature"), 1);
    /* Each refusal is an alarm entry in the receiver's own log. */
    commit(fr_store, fr, false);

    /* An entry's inclusion proof from the store verifies. */
    assert_true((n = audit_prove_entry(de, 3, cp2.size, entry, &len, proof)) > 0);
    audit_hash_leaf(entry, len, leaf);
    assert_true(audit_verify_inclusion(leaf, 3, cp2.size, cp2.root,
                                       (const uint8_t(*)[AUDIT_HASH_BYTES])proof, (size_t)n));
    assert_int_equal(audit_prove_entry(de, cp2.size, cp2.size, entry, &len, proof), -1);

    /* Reopened, the receiver still holds the later checkpoint. */
    audit_free(&fr);
    store_close(&fr_store);
    assert_non_null(fr_store = store_open(dir_fr, tu_store_key));
    assert_non_null(fr = audit_new(fr_store, fr_keys, "FR", fr_st));
    assert_int_equal(audit_peer_checkpoint(fr, &cp2, de_keys->sign_pk, 0, NULL, 0, &held, cosig),
                     AUDIT_PEER_PROVE_FROM);
    assert_int_equal(held, cp2.size);

    audit_free(&fr);
    audit_free(&de);
    store_close(&fr_store);
    store_close(&de_store);
    stats_free(&fr_st);
    stats_free(&de_st);
    keys_free(&fr_keys);
    keys_free(&de_keys);
    tu_rmtree(dir_fr);
    tu_rmtree(dir_de);
}

/* Counts the AUDIT_EPOCH entries of a stored log by actor kind. */
struct resets {
    size_t by_node, by_member;
    uint64_t last_epoch;
};

static int count_reset(void *arg, uint64_t idx, const uint8_t *entry, size_t len)
{
    struct resets *r = arg;
    struct audit_entry e;

    (void)idx;
    assert_int_equal(audit_entry_decode(entry, len, &e), 0);
    if (e.kind != AUDIT_EPOCH)
        return 0;
    if (e.actor_kind == AUDIT_BY_NODE)
        r->by_node++;
    else
        r->by_member++;
    r->last_epoch = e.seq;
    return 0;
}

/* Signs a checkpoint of ks's member with the given fields. */
static void sign_as(const struct keyset *ks, struct audit_checkpoint *cp)
{
    uint8_t msg[AUDIT_SIGNED_MAX];
    size_t len = audit_checkpoint_signed(cp, msg);

    assert_int_equal(keys_sign(ks, msg, len, cp->sig), 0);
}

/* A log rebuilt after a loss begins a new epoch once a peer shows it the
 * checkpoint it lost; the peer records the reset once and cosigns the new
 * epoch. A checkpoint of a lower epoch, or one that contradicts the epoch
 * held, is still an alarm; a log that holds what the peer shows, or that
 * contradicts it within what it had at start (rewritten, not lost), goes
 * on in its epoch. */
static void test_epochs(void **state)
{
    char dir_de[512], dir_new[512], dir_fr[512];
    struct keyset *de_keys = tu_member_keys("DE"), *fr_keys = tu_member_keys("FR");
    struct store *de_store, *new_store, *fr_store;
    struct stats *de_st = stats_new(), *new_st = stats_new(), *fr_st = stats_new();
    struct audit *de, *rebuilt, *fr;
    struct audit_checkpoint cp1, early, ep1, ep2, shown, forged;
    uint8_t proof[AUDIT_PROOF_MAX][AUDIT_HASH_BYTES], cosig[KEYS_SIGNATURE_BYTES];
    uint8_t msg0[AUDIT_SIGNED_MAX], msg1[AUDIT_SIGNED_MAX];
    struct resets resets = {0};
    uint64_t held;
    int n;

    (void)state;
    snprintf(dir_de, sizeof(dir_de), "%s", tu_tempdir());
    snprintf(dir_new, sizeof(dir_new), "%s", tu_tempdir());
    snprintf(dir_fr, sizeof(dir_fr), "%s", tu_tempdir());
    assert_non_null(de_store = store_open(dir_de, tu_store_key));
    assert_non_null(new_store = store_open(dir_new, tu_store_key));
    assert_non_null(fr_store = store_open(dir_fr, tu_store_key));
    assert_non_null(de = audit_new(de_store, de_keys, "DE", de_st));
    assert_non_null(fr = audit_new(fr_store, fr_keys, "FR", fr_st));
    grow_and_sign(de_store, de, 5, &cp1);
    assert_int_equal(cp1.epoch, 0);
    assert_int_equal(audit_peer_checkpoint(fr, &cp1, de_keys->sign_pk, 0, NULL, 0, &held, cosig),
                     AUDIT_PEER_COSIGNED);
    commit(fr_store, fr, false);

    /* An epoch above 0 is signed under its own domain, with the epoch. */
    forged = cp1;
    forged.epoch = 1;
    assert_int_equal(audit_checkpoint_signed(&forged, msg1),
                     audit_checkpoint_signed(&cp1, msg0) + 8);
    assert_memory_equal(msg1, AUDIT_CHECKPOINT_DOMAIN_EPOCH, sizeof(AUDIT_CHECKPOINT_DOMAIN_EPOCH));
    assert_false(audit_checkpoint_verify(&forged, de_keys->sign_pk));

    /* DE's store is lost: a new log, epoch 0 as far as it knows. Its first
     * checkpoint is answered with what FR holds, not refused. */
    assert_non_null(rebuilt = audit_new(new_store, de_keys, "DE", new_st));
    grow_and_sign(new_store, rebuilt, 2, &early);
    assert_int_equal(early.epoch, 0);
    assert_true(early.size < cp1.size);
    assert_int_equal(audit_peer_checkpoint(fr, &early, de_keys->sign_pk, 0, NULL, 0, &held, cosig),
                     AUDIT_PEER_PROVE_FROM);
    assert_int_equal(held, cp1.size);
    assert_int_equal(stats_get(fr_st, "audit.peer.inconsistent"), 0);
    assert_int_equal(audit_peer_held(fr, "DE", &shown), 1);
    assert_int_equal(shown.size, cp1.size);
    assert_memory_equal(shown.root, cp1.root, AUDIT_HASH_BYTES);
    assert_memory_equal(shown.sig, cp1.sig, KEYS_SIGNATURE_BYTES);

    /* Shown a checkpoint of its own beyond what it had at start, DE begins
     * epoch 1, once, whoever shows it next. */
    assert_int_equal(audit_held_by_peer(rebuilt, "FR", &shown), AUDIT_HELD_RESTART);
    assert_int_equal(audit_epoch(rebuilt), 1);
    assert_int_equal(audit_latest(rebuilt, &ep1), 0); /* epoch 1 has none yet */
    assert_int_equal(audit_held_by_peer(rebuilt, "IT", &shown), AUDIT_HELD_RESTART);
    assert_int_equal(audit_epoch(rebuilt), 1);
    assert_int_equal(stats_get(new_st, "audit.epoch-started"), 1);
    commit(new_store, rebuilt, false);
    assert_int_equal(audit_latest(rebuilt, &ep1), 1);
    assert_int_equal(ep1.epoch, 1);
    assert_true(audit_checkpoint_verify(&ep1, de_keys->sign_pk));
    /* A checkpoint held that is not DE's own signature changes nothing. */
    forged = shown;
    forged.sig[5] ^= 1;
    assert_int_equal(audit_held_by_peer(rebuilt, "FR", &forged), AUDIT_HELD_PROVE);
    assert_int_equal(stats_get(new_st, "audit.held.bad-signature"), 1);
    assert_int_equal(audit_epoch(rebuilt), 1);

    /* FR records the reset once and cosigns the new epoch, then goes on
     * within it with proofs as before. */
    assert_int_equal(audit_peer_checkpoint(fr, &ep1, de_keys->sign_pk, 0, NULL, 0, &held, cosig),
                     AUDIT_PEER_COSIGNED);
    assert_true(audit_cosignature_verify("FR", &ep1, cosig, fr_keys->sign_pk));
    assert_int_equal(audit_peer_cosignature(rebuilt, "FR", ep1.size, cosig, fr_keys->sign_pk, NULL),
                     0);
    assert_int_equal(stats_get(fr_st, "audit.epoch-reset"), 1);
    commit(fr_store, fr, false);
    commit(new_store, rebuilt, false);
    grow_and_sign(new_store, rebuilt, 4, &ep2);
    assert_int_equal(ep2.epoch, 1);
    assert_true((n = audit_prove_since(rebuilt, ep1.size, ep2.size, proof)) > 0);
    assert_int_equal(audit_peer_checkpoint(fr, &ep2, de_keys->sign_pk, ep1.size,
                                           (const uint8_t(*)[AUDIT_HASH_BYTES])proof, (size_t)n,
                                           &held, cosig),
                     AUDIT_PEER_COSIGNED);
    assert_int_equal(stats_get(fr_st, "audit.epoch-reset"), 1);
    assert_int_equal(stats_get(fr_st, "audit.peer.inconsistent"), 0);

    /* Within the epoch held, a rewrite is an alarm as ever; so is going
     * back to an epoch below it. */
    forged = ep2;
    forged.root[0] ^= 1;
    sign_as(de_keys, &forged);
    assert_int_equal(
        audit_peer_checkpoint(fr, &forged, de_keys->sign_pk, ep2.size, NULL, 0, &held, cosig),
        AUDIT_PEER_REFUSED);
    assert_int_equal(stats_get(fr_st, "audit.peer.inconsistent"), 1);
    assert_int_equal(
        audit_peer_checkpoint(fr, &cp1, de_keys->sign_pk, ep2.size, NULL, 0, &held, cosig),
        AUDIT_PEER_REFUSED);
    assert_int_equal(stats_get(fr_st, "audit.peer.inconsistent"), 2);
    /* A rewrite that claims a new epoch is no alarm, but it is not
     * hidden: a second reset, counted and recorded. */
    forged.epoch = 2;
    sign_as(de_keys, &forged);
    assert_int_equal(audit_peer_checkpoint(fr, &forged, de_keys->sign_pk, 0, NULL, 0, &held, cosig),
                     AUDIT_PEER_COSIGNED);
    assert_int_equal(stats_get(fr_st, "audit.epoch-reset"), 2);
    commit(fr_store, fr, false);
    assert_int_equal(store_audit_each(fr_store, 0, count_reset, &resets), 0);
    assert_int_equal(resets.by_member, 2);
    assert_int_equal(resets.last_epoch, 2);
    memset(&resets, 0, sizeof(resets));
    assert_int_equal(store_audit_each(new_store, 0, count_reset, &resets), 0);
    assert_int_equal(resets.by_node, 1);
    assert_int_equal(resets.last_epoch, 1);

    /* DE's first store, restarted: a checkpoint it holds goes on in its
     * epoch (an older copy that still holds what peers cosigned needs no
     * reset), and one it contradicts within what it had at start is a
     * rewrite, left to the peer's alarm. */
    audit_free(&de);
    assert_non_null(de = audit_new(de_store, de_keys, "DE", de_st));
    commit(de_store, de, false);
    assert_int_equal(audit_held_by_peer(de, "FR", &cp1), AUDIT_HELD_PROVE);
    forged = cp1;
    forged.size = 3;
    forged.root[0] ^= 1;
    sign_as(de_keys, &forged);
    assert_int_equal(audit_held_by_peer(de, "FR", &forged), AUDIT_HELD_PROVE);
    assert_int_equal(audit_epoch(de), 0);
    assert_int_equal(stats_get(de_st, "audit.epoch-started"), 0);

    audit_free(&fr);
    audit_free(&rebuilt);
    audit_free(&de);
    store_close(&fr_store);
    store_close(&new_store);
    store_close(&de_store);
    stats_free(&fr_st);
    stats_free(&new_st);
    stats_free(&de_st);
    keys_free(&fr_keys);
    keys_free(&de_keys);
    tu_rmtree(dir_fr);
    tu_rmtree(dir_new);
    tu_rmtree(dir_de);
}

/* A store lost after a rotation: the checkpoint a peer holds was signed
 * with the generation the node replaced. Held as one of its own keys
 * (previous_keys), it starts a new epoch; unknown, it is ignored as a
 * checkpoint the node never signed. */
static void test_epoch_after_rotation(void **state)
{
    char dir_old[512], dir_new[512];
    uint8_t seed[32];
    struct keyset *gen1 = tu_member_keys("DE"), *gen2;
    struct store *old_store, *new_store;
    struct stats *old_st = stats_new(), *new_st = stats_new();
    struct audit *old, *rebuilt;
    struct audit_checkpoint cp;

    (void)state;
    memset(seed, 0x42, sizeof(seed));
    assert_non_null(gen2 = keys_from_seed(KEYS_MEMBER, "DE", seed));
    snprintf(dir_old, sizeof(dir_old), "%s", tu_tempdir());
    snprintf(dir_new, sizeof(dir_new), "%s", tu_tempdir());
    assert_non_null(old_store = store_open(dir_old, tu_store_key));
    assert_non_null(new_store = store_open(dir_new, tu_store_key));
    assert_non_null(old = audit_new(old_store, gen1, "DE", old_st));
    grow_and_sign(old_store, old, 5, &cp);

    assert_non_null(rebuilt = audit_new(new_store, gen2, "DE", new_st));
    commit(new_store, rebuilt, false);
    assert_int_equal(audit_held_by_peer(rebuilt, "FR", &cp), AUDIT_HELD_PROVE);
    assert_int_equal(stats_get(new_st, "audit.held.bad-signature"), 1);
    assert_int_equal(audit_epoch(rebuilt), 0);

    audit_add_own_key(rebuilt, gen1->sign_pk);
    assert_int_equal(audit_held_by_peer(rebuilt, "FR", &cp), AUDIT_HELD_RESTART);
    assert_int_equal(audit_epoch(rebuilt), 1);
    assert_int_equal(stats_get(new_st, "audit.held.bad-signature"), 1);
    commit(new_store, rebuilt, false);

    audit_free(&rebuilt);
    audit_free(&old);
    store_close(&new_store);
    store_close(&old_store);
    stats_free(&new_st);
    stats_free(&old_st);
    keys_free(&gen2);
    keys_free(&gen1);
    tu_rmtree(dir_new);
    tu_rmtree(dir_old);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec_round_trip),
        cmocka_unit_test(test_codec_cuts_unprintable),
        cmocka_unit_test(test_codec_refusals),
        cmocka_unit_test(test_known_roots),
        cmocka_unit_test(test_inclusion_known_answer),
        cmocka_unit_test(test_inclusion_every_index),
        cmocka_unit_test(test_consistency_known_answer),
        cmocka_unit_test(test_consistency_every_pair),
        cmocka_unit_test(test_checkpoint_signature),
        cmocka_unit_test(test_log_over_store),
        cmocka_unit_test(test_proofs_from_cache),
        cmocka_unit_test(test_exchange),
        cmocka_unit_test(test_epochs),
        cmocka_unit_test(test_epoch_after_rotation),
    };

    log_init("test_audit", LOG_LEVEL_WARN);
    if (sodium_init() < 0)
        return 1;
    make_leaves();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
