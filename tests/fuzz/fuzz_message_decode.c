/*
 * fuzz_message_decode: feeds arbitrary bytes to message_decode, the one
 * decoding of every payload a node posts or opens, and then asks the view
 * what its readers ask: soundness, the role rule and the receipt reading
 * (the TLP rule needs a roster, which the fuzz federation does not have). Nothing here may crash,
 * leak or read past the view.
 */
#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "message.h"
#include "receipt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct message m;
    struct receipt *r = NULL;
    const char *why;
    volatile int sink = 0;

    log_init("fuzz_message_decode", LOG_LEVEL_WARN);
    if (message_decode(data, size, &m) == 0) {
        ensure(m.is_payload);
        sink += message_is_sound(&m);
        for (int role = 0; role <= ROSTER_ROLE_COORDINATOR; role++)
            sink += message_role_allows(m.kind, role, &why);
        if (receipt_read(&m, &r) == RECEIPT_VALID)
            sink += (int)r->n_entries;
        else
            ensure(r == NULL);
        receipt_free(&r);
    } else {
        ensure(!m.is_payload && m.kind == MESSAGE_NONE);
    }
    message_clear(&m);
    (void)sink;
    return 0;
}
