/*
 * merkle: RFC 9162 leaf and node hashing with BLAKE2b-256, and the check
 * of an inclusion proof, shared by the node's audit log (daemon/audit.c,
 * which builds trees and proofs) and libtmbus (which checks a proof the
 * node sent). It never allocates and never reads anything but its
 * arguments.
 */
#include "merkle.h"

#include <string.h>

#include <sodium.h>

#define LEAF_PREFIX 0x00
#define NODE_PREFIX 0x01

void merkle_hash_leaf(const uint8_t *data, size_t len, uint8_t out[MERKLE_HASH_BYTES])
{
    crypto_generichash_state h;
    const uint8_t prefix = LEAF_PREFIX;

    crypto_generichash_init(&h, NULL, 0, MERKLE_HASH_BYTES);
    crypto_generichash_update(&h, &prefix, 1);
    crypto_generichash_update(&h, data, len);
    crypto_generichash_final(&h, out, MERKLE_HASH_BYTES);
}

void merkle_hash_node(const uint8_t left[MERKLE_HASH_BYTES], const uint8_t right[MERKLE_HASH_BYTES],
                      uint8_t out[MERKLE_HASH_BYTES])
{
    uint8_t buf[1 + 2 * MERKLE_HASH_BYTES];

    buf[0] = NODE_PREFIX;
    memcpy(buf + 1, left, MERKLE_HASH_BYTES);
    memcpy(buf + 1 + MERKLE_HASH_BYTES, right, MERKLE_HASH_BYTES);
    crypto_generichash(out, MERKLE_HASH_BYTES, buf, sizeof(buf), NULL, 0);
}

bool merkle_verify_inclusion(const uint8_t leaf_hash[MERKLE_HASH_BYTES], uint64_t index,
                             uint64_t size, const uint8_t root[MERKLE_HASH_BYTES],
                             const uint8_t proof[][MERKLE_HASH_BYTES], size_t n_proof)
{
    uint64_t fn = index, sn;
    uint8_t r[MERKLE_HASH_BYTES];

    if (index >= size || n_proof > MERKLE_PROOF_MAX)
        return false;
    sn = size - 1;
    memcpy(r, leaf_hash, MERKLE_HASH_BYTES);
    for (size_t i = 0; i < n_proof; i++) {
        if (sn == 0)
            return false;
        if ((fn & 1) != 0 || fn == sn) {
            merkle_hash_node(proof[i], r, r);
            while ((fn & 1) == 0 && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            merkle_hash_node(r, proof[i], r);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && sodium_memcmp(r, root, MERKLE_HASH_BYTES) == 0;
}
