/*
 * fuzz_bundle: feeds arbitrary bytes to bundle_check, the reader that
 * `tmbus-admin bundle import` and `bundle export` run over files a
 * courier carried, checked against member A's key of the fuzz federation.
 * Every item it hands out must be within its bounds, a section's
 * envelopes consecutive and exactly as many as announced; a file that
 * verifies must be exactly what the writer makes of the same items (one
 * encoding per bundle). Nothing here may crash, read out of bounds or
 * leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "fuzz_common.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the items said so far, and the same file written again. */
struct walk {
    struct bundle_writer *w;
    uint64_t next_seq;
    uint32_t left;
};

static int check_item(void *arg, const struct bundle_item *item)
{
    struct walk *wk = arg;

    ensure(strlen(item->origin) <= UTIL_MEMBER_ID_MAX && strlen(item->peer) <= UTIL_MEMBER_ID_MAX);
    switch (item->kind) {
    case BUNDLE_ITEM_SECTION:
        ensure(wk->left == 0 && item->count > 0 && item->seq > 0);
        wk->left = item->count;
        wk->next_seq = item->seq;
        if (wk->w != NULL)
            ensure(bundle_writer_section(wk->w, item->origin, item->peer, item->seq, item->count) ==
                   0);
        break;
    case BUNDLE_ITEM_ENVELOPE:
        ensure(wk->left > 0 && item->seq == wk->next_seq);
        ensure(item->len > 0 && item->len <= BUNDLE_ENVELOPE_MAX && item->env != NULL);
        wk->left--;
        wk->next_seq++;
        if (wk->w != NULL)
            ensure(bundle_writer_envelope(wk->w, item->env, item->len) == 0);
        break;
    case BUNDLE_ITEM_HEAD:
        ensure(wk->left == 0);
        if (wk->w != NULL)
            ensure(bundle_writer_head(wk->w, item->origin, item->peer, item->seq, item->id) == 0);
        break;
    case BUNDLE_ITEM_END:
        ensure(wk->left == 0);
        break;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct keyset *a = fuzz_member("A");
    struct bundle_header h;
    struct walk wk = {0};
    char *again = NULL;
    size_t again_len = 0;
    FILE *f;

    log_init("fuzz_bundle", LOG_LEVEL_WARN);
    if (bundle_check(data, size, NULL, &h, check_item, &wk) != BUNDLE_OK)
        return 0;
    ensure(h.kind == BUNDLE_KIND_ENVELOPES || h.kind == BUNDLE_KIND_VECTOR);
    ensure(h.created_at >= 0 && strcmp(h.from, h.to) != 0);
    if (bundle_check(data, size, a->sign_pk, NULL, NULL, NULL) != BUNDLE_OK)
        return 0;
    /* Signed by A: written again by A's key (Ed25519 is deterministic),
     * the bytes are the same. */
    ensure((f = open_memstream(&again, &again_len)) != NULL);
    ensure((wk.w = bundle_writer_new(f, &h)) != NULL);
    wk.left = 0;
    ensure(bundle_check(data, size, NULL, NULL, check_item, &wk) == BUNDLE_OK);
    ensure(bundle_writer_finish(wk.w, a) == 0);
    bundle_writer_free(&wk.w);
    ensure(fclose(f) == 0);
    ensure(again_len == size && memcmp(again, data, size) == 0);
    free(again);
    return 0;
}
