/*
 * fuzz_audit_entry: feeds arbitrary bytes to audit_entry_decode, which
 * `tmbus-admin audit` runs on every row of a store it is asked to check,
 * a store that may have been tampered with. A decoded entry must have its
 * fields in range and encode back to exactly the same bytes; nothing here
 * may crash, read out of bounds or leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "audit.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct audit_entry e;
    uint8_t again[AUDIT_ENTRY_MAX];
    int len;

    log_init("fuzz_audit_entry", LOG_LEVEL_WARN);
    if (audit_entry_decode(data, size, &e) != 0)
        return 0;
    ensure(e.kind >= 1 && e.kind <= AUDIT_KIND_MAX_);
    ensure(e.outcome >= 1 && e.outcome <= AUDIT_OUTCOME_MAX_);
    ensure(e.actor_kind >= 1 && e.actor_kind <= AUDIT_ACTOR_MAX_);
    ensure(strlen(e.actor) <= AUDIT_ACTOR_MAX && strlen(e.detail) <= AUDIT_DETAIL_MAX);
    /* One encoding per entry: what verifies is what the node wrote. */
    len = audit_entry_encode(&e, again, sizeof(again));
    ensure(len >= 0 && (size_t)len == size && memcmp(again, data, size) == 0);
    return 0;
}
