/*
 * merkle: the audit log's hashing (PROTOCOL.md 13, RFC 9162 with
 * BLAKE2b-256) and the check of an inclusion proof: the rules a node's
 * audit log and a client that checks a proof from it both apply. Pure
 * functions; nothing here reads a store or knows an entry's format.
 */
#ifndef TMBUS_MERKLE_H
#define TMBUS_MERKLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MERKLE_HASH_BYTES 32 /* BLAKE2b-256 */
#define MERKLE_PROOF_MAX  64 /* hashes in a proof of a tree of up to 2^64 - 1 leaves */

/* A leaf's hash, H(0x00 || data). */
void merkle_hash_leaf(const uint8_t *data, size_t len, uint8_t out[MERKLE_HASH_BYTES]);

/* An inner node's hash, H(0x01 || left || right). */
void merkle_hash_node(const uint8_t left[MERKLE_HASH_BYTES], const uint8_t right[MERKLE_HASH_BYTES],
                      uint8_t out[MERKLE_HASH_BYTES]);

/* Checks that leaf_hash is leaf index of the tree of size leaves with
 * root, given its inclusion proof (RFC 9162 2.1.3.2, leaf side first).
 * Returns true only for a valid proof. */
bool merkle_verify_inclusion(const uint8_t leaf_hash[MERKLE_HASH_BYTES], uint64_t index,
                             uint64_t size, const uint8_t root[MERKLE_HASH_BYTES],
                             const uint8_t proof[][MERKLE_HASH_BYTES], size_t n_proof)
    __attribute__((warn_unused_result));

#endif
