/*
 * fuzz_peer_msg: feeds arbitrary bytes to peer_msg_decode, the decoder of
 * everything a peer node sends. Every log it hands out must carry member
 * ids, a vector never more than PEER_MSG_MAX_LOGS entries, a batch 1 to
 * PEER_MSG_MAX_BATCH envelopes of at most ENVELOPE_MAX_SIZE, an audit
 * checkpoint a size of at least 1 and at most PEER_MSG_MAX_PROOF proof
 * hashes; nothing here may crash or leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "log.h"
#include "peer_msg.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct peer_msg m;
    enum peer_msg_fault fault;
    volatile size_t sink = 0;

    log_init("fuzz_peer_msg", LOG_LEVEL_WARN);
    if (peer_msg_decode(data, size, &m, &fault) == 0) {
        ensure(fault == PEER_MSG_OK);
        ensure(m.n_logs <= m.n_sent && m.n_sent <= PEER_MSG_MAX_LOGS);
        for (size_t i = 0; i < m.n_logs; i++) {
            const struct peer_msg_log *l = &m.logs[i];
            ensure(util_is_member_id(l->origin, strlen(l->origin)));
            ensure(l->peer[0] == '\0' || util_is_member_id(l->peer, strlen(l->peer)));
            sink += l->seq;
        }
        for (size_t i = 0; i < m.envelope_len; i++)
            sink += m.envelope[i];
        ensure(m.kind != PEER_MSG_BATCH ||
               (m.n_envelopes >= 1 && m.n_envelopes <= PEER_MSG_MAX_BATCH));
        for (size_t k = 0; k < m.n_envelopes; k++) {
            ensure(m.envelope_lens[k] <= ENVELOPE_MAX_SIZE);
            for (size_t i = 0; i < m.envelope_lens[k]; i++)
                sink += m.envelopes[k][i];
        }
        if (m.kind == PEER_MSG_CHECKPOINT) {
            ensure(m.checkpoint.size >= 1 && m.checkpoint.has_sig);
            ensure(m.checkpoint.n_proof <= PEER_MSG_MAX_PROOF);
            for (size_t k = 0; k < m.checkpoint.n_proof; k++)
                sink += m.checkpoint.proof[k][ENVELOPE_HASH_BYTES - 1];
            sink += m.checkpoint.root[0] + m.checkpoint.sig[KEYS_SIGNATURE_BYTES - 1];
        }
        ensure(m.kind != PEER_MSG_COSIGNATURE || m.checkpoint.n_proof == 0);
    } else {
        ensure(fault != PEER_MSG_OK);
    }
    peer_msg_clear(&m);
    (void)sink;
    return 0;
}
