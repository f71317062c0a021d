/*
 * fuzz_envelope_verify: feeds arbitrary bytes to envelope_verify, the relay
 * path every node runs on every envelope a peer sends. Nothing here may
 * crash or leak, and an envelope that verifies must describe itself
 * consistently: the checks below abort on any broken invariant.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "envelope.h"
#include "fuzz_common.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Refuses every member, as a roster would after revoking them all. */
static int lookup_none(void *arg, const char *member, const char *log_peer, uint64_t seq,
                       struct envelope_member_keys *out)
{
    (void)arg;
    (void)member;
    (void)log_peer;
    (void)seq;
    (void)out;
    return -1;
}

/* What must hold for any envelope envelope_verify accepted. */
static void check_info(const struct envelope_info *info)
{
    struct envelope_member_keys k;

    ensure(info->version == ENVELOPE_VERSION);
    ensure(strcmp(info->coalition, FUZZ_COALITION) == 0);
    ensure(fuzz_lookup(NULL, info->sender, info->log_peer, info->seq, &k) == 0);
    ensure(util_is_member_id(info->sender, strlen(info->sender)));
    ensure(info->seq >= 1);
    ensure(info->has_prev == (info->seq != 1));
    ensure(info->n_stanzas >= 1 && info->n_stanzas <= ENVELOPE_MAX_RECIPIENTS);
    ensure(info->created_at >= 0 && info->expires_at >= 0);
    if (info->is_direct) {
        ensure(util_is_member_id(info->log_peer, strlen(info->log_peer)));
        ensure(strcmp(info->log_peer, info->sender) != 0);
    } else {
        ensure(info->log_peer[0] == '\0');
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct envelope_info info, again;
    struct envelope_peek pk;
    enum envelope_status st;
    int peeked;

    log_init("fuzz_envelope_verify", LOG_LEVEL_WARN);
    /* The duplicate check reads any bytes before anything else does. */
    peeked = envelope_peek(data, size, &pk);
    ensure(peeked == 0 || peeked == -1);
    if (peeked == 0) {
        ensure(util_is_member_id(pk.sender, strlen(pk.sender)) && pk.seq >= 1);
        ensure(pk.signature >= data && pk.signature + ENVELOPE_SIGNATURE_BYTES <= data + size);
    }
    memset(&info, 0, sizeof(info));
    st = envelope_verify(data, size, FUZZ_COALITION, fuzz_lookup, NULL, &info);
    ensure((unsigned)st < ENVELOPE_STATUS_COUNT);
    ensure(envelope_status_name(st) != NULL);
    if (st != ENVELOPE_OK)
        return 0;
    check_info(&info);
    /* What verifies, peek reads alike. */
    ensure(peeked == 0 && strcmp(pk.sender, info.sender) == 0 &&
           strcmp(pk.log_peer, info.log_peer) == 0 && pk.seq == info.seq);

    /* Verification is a pure function of its inputs. */
    memset(&again, 0, sizeof(again));
    ensure(envelope_verify(data, size, FUZZ_COALITION, fuzz_lookup, NULL, &again) == ENVELOPE_OK);
    ensure(memcmp(&info, &again, sizeof(info)) == 0);
    /* The same bytes must fail for another coalition and for a roster that
     * no longer knows the sender. */
    ensure(envelope_verify(data, size, "other-coalition", fuzz_lookup, NULL, &again) ==
           ENVELOPE_E_COALITION);
    ensure(envelope_verify(data, size, FUZZ_COALITION, lookup_none, NULL, &again) ==
           ENVELOPE_E_SENDER);
    return 0;
}
