/*
 * fuzz_audit_proof: feeds arbitrary sizes, roots and proof hashes to the
 * two Merkle proof checks that read what another party computed:
 * audit_verify_consistency, run on every checkpoint a peer sends against
 * the one held for it, and audit_verify_inclusion (merkle_verify_inclusion),
 * run by libtmbus on the proofs a node returns. Nothing may crash, read past
 * the proof or shift out of range at any size up to 2^64 - 1; and over a
 * real tree of up to 64 leaves the honest proofs must verify and no other
 * proof may: a proof accepted for a pair of roots is exactly the one the
 * node would make.
 *
 * Input: old size or index (8 bytes, little endian), new size (8), root A
 * (32), root B (32), then proof hashes (32 each, at most AUDIT_PROOF_MAX).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "log.h"

#define HEAD_BYTES (8 + 8 + 2 * AUDIT_HASH_BYTES)
#define TREE_MAX   64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Where the answers to arbitrary questions go: gcc will not let them be
 * dropped. */
static volatile unsigned sink;

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Leaf i of the real tree: the hash of its index and a seed byte, so
 * that inputs reach trees with different leaves. */
struct tree {
    uint8_t seed;
};

static int leaf(void *arg, uint64_t i, uint8_t out[AUDIT_HASH_BYTES])
{
    const struct tree *t = arg;
    uint8_t entry[9];

    for (int k = 0; k < 8; k++)
        entry[k] = (uint8_t)(i >> (8 * k));
    entry[8] = t->seed;
    audit_hash_leaf(entry, sizeof(entry), out);
    return 0;
}

static void root_of(struct tree *t, uint64_t n, uint8_t out[AUDIT_HASH_BYTES])
{
    struct audit_frontier f;
    uint8_t h[AUDIT_HASH_BYTES];

    memset(&f, 0, sizeof(f));
    for (uint64_t i = 0; i < n; i++) {
        leaf(t, i, h);
        audit_frontier_append(&f, h);
    }
    audit_frontier_root(&f, out);
}

static bool is_same_proof(const uint8_t a[][AUDIT_HASH_BYTES], size_t na,
                          const uint8_t b[][AUDIT_HASH_BYTES], size_t nb)
{
    return na == nb && (na == 0 || memcmp(a, b, na * AUDIT_HASH_BYTES) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t honest[AUDIT_PROOF_MAX][AUDIT_HASH_BYTES];
    uint8_t old_root[AUDIT_HASH_BYTES], new_root[AUDIT_HASH_BYTES], h[AUDIT_HASH_BYTES];
    const uint8_t(*p)[AUDIT_HASH_BYTES];
    uint8_t(*proof)[AUDIT_HASH_BYTES];
    const uint8_t(*hp)[AUDIT_HASH_BYTES] = (const uint8_t(*)[AUDIT_HASH_BYTES])honest;
    struct tree t;
    uint64_t a, b, n, m, index;
    size_t n_proof;
    int n_honest;

    if (size < HEAD_BYTES)
        return 0;
    a = get_u64(data);
    b = get_u64(data + 8);
    n_proof = (size - HEAD_BYTES) / AUDIT_HASH_BYTES;
    if (n_proof > AUDIT_PROOF_MAX)
        n_proof = AUDIT_PROOF_MAX;
    /* A heap copy exactly the size of the proof, so that ASan sees any
     * read past it. */
    if ((proof = malloc(n_proof > 0 ? n_proof * AUDIT_HASH_BYTES : 1)) == NULL)
        abort();
    memcpy(proof, data + HEAD_BYTES, n_proof * AUDIT_HASH_BYTES);
    p = (const uint8_t(*)[AUDIT_HASH_BYTES])proof;

    /* Any sizes, any roots: an answer, never a crash. */
    sink += audit_verify_consistency(a, data + 16, b, data + 16 + AUDIT_HASH_BYTES, p, n_proof);
    sink += audit_verify_inclusion(data + 16, a, b, data + 16 + AUDIT_HASH_BYTES, p, n_proof);

    /* A real tree of n leaves and its prefix of m. */
    t.seed = data[16];
    n = 1 + b % TREE_MAX;
    m = 1 + a % n;
    index = a % n;
    root_of(&t, m, old_root);
    root_of(&t, n, new_root);

    n_honest = audit_prove_consistency(leaf, &t, m, n, honest);
    ensure(n_honest >= 0);
    ensure(audit_verify_consistency(m, old_root, n, new_root, hp, (size_t)n_honest));
    if (audit_verify_consistency(m, old_root, n, new_root, p, n_proof))
        ensure(is_same_proof(p, n_proof, hp, (size_t)n_honest));

    n_honest = audit_prove_inclusion(leaf, &t, n, index, honest);
    ensure(n_honest >= 0);
    leaf(&t, index, h);
    ensure(audit_verify_inclusion(h, index, n, new_root, hp, (size_t)n_honest));
    if (audit_verify_inclusion(h, index, n, new_root, p, n_proof))
        ensure(is_same_proof(p, n_proof, hp, (size_t)n_honest));
    free(proof);
    return 0;
}
