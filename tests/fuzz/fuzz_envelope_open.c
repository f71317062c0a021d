/*
 * fuzz_envelope_open: feeds arbitrary bytes to envelope_open with B's
 * keyring, the recipient path. Nothing here may crash or leak; a body that
 * opens must agree with its verified header, and open must never accept
 * what verify refuses. The checks below abort on any broken invariant.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "envelope.h"
#include "fuzz_common.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What must hold for any body envelope_open handed out to B. */
static void check_body(const struct envelope_info *info, const struct envelope_body *b)
{
    bool has_self = false;

    ensure(b != NULL);
    ensure(strcmp(b->sender, info->sender) == 0);
    ensure(info->n_stanzas >= 1 && info->n_stanzas <= ENVELOPE_MAX_RECIPIENTS);
    ensure(b->n_recipients == info->n_stanzas);
    ensure(b->recipients != NULL);
    ensure(b->payload_len <= ENVELOPE_MAX_PAYLOAD);
    ensure(b->payload_len == 0 || b->payload != NULL);
    for (size_t i = 0; i < b->n_recipients; i++) {
        ensure(util_is_member_id(b->recipients[i], strlen(b->recipients[i])));
        for (size_t j = 0; j < i; j++)
            ensure(strcmp(b->recipients[i], b->recipients[j]) != 0);
        has_self |= strcmp(b->recipients[i], "B") == 0;
    }
    ensure(has_self);
    if (info->is_direct)
        ensure(b->n_recipients == 1 && strcmp(b->recipients[0], info->log_peer) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct envelope_keyring *kr = fuzz_keyring_b();
    struct envelope_info info, vinfo;
    struct envelope_body *body = NULL;
    enum envelope_status st, vst;
    volatile uint8_t sink = 0;

    log_init("fuzz_envelope_open", LOG_LEVEL_WARN);
    memset(&info, 0, sizeof(info));
    memset(&vinfo, 0, sizeof(vinfo));
    st = envelope_open(kr, data, size, FUZZ_COALITION, fuzz_lookup, NULL, &info, &body);
    vst = envelope_verify(data, size, FUZZ_COALITION, fuzz_lookup, NULL, &vinfo);
    ensure((unsigned)st < ENVELOPE_STATUS_COUNT);
    ensure(envelope_status_name(st) != NULL);
    /* Open does everything verify does first, with the same reasons. */
    if (vst != ENVELOPE_OK)
        ensure(st == vst);
    if (st != ENVELOPE_OK) {
        ensure(body == NULL);
        return 0;
    }
    ensure(vst == ENVELOPE_OK);
    ensure(memcmp(&info, &vinfo, sizeof(info)) == 0);
    check_body(&info, body);
    /* Touch every byte handed out, so ASan sees any short allocation. */
    for (size_t i = 0; i < body->payload_len; i++)
        sink ^= body->payload[i];
    (void)sink;
    envelope_body_free(&body);
    ensure(body == NULL);
    return 0;
}
