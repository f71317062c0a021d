/*
 * fuzz_receipt_decode: feeds arbitrary bytes to receipt_decode, which every
 * node runs on the receipts other nodes send about its posts. A valid
 * receipt must hold 1..RECEIPT_MAX_ENTRIES sound entries and encode again;
 * nothing here may crash or leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "receipt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct receipt *r = NULL;
    enum receipt_kind kind;
    uint8_t *again = NULL;
    size_t len;

    log_init("fuzz_receipt_decode", LOG_LEVEL_WARN);
    kind = receipt_decode(data, size, &r);
    ensure(receipt_decode(data, size, NULL) == kind);
    if (kind != RECEIPT_VALID) {
        ensure(r == NULL);
        return 0;
    }
    ensure(r->n_entries >= 1 && r->n_entries <= RECEIPT_MAX_ENTRIES);
    for (size_t i = 0; i < r->n_entries; i++) {
        const struct receipt_entry *e = &r->entries[i];
        ensure(e->state == RECEIPT_DELIVERED || e->state == RECEIPT_REJECTED);
        ensure(strlen(e->reason) <= RECEIPT_REASON_MAX);
    }
    /* What was read must be what we would send. */
    ensure(receipt_encode(r->entries, r->n_entries, &again, &len) == 0);
    ensure(receipt_decode(again, len, NULL) == RECEIPT_VALID);
    free(again);
    receipt_free(&r);
    return 0;
}
