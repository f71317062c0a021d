/*
 * fuzz_payload_validate: feeds arbitrary bytes to the path every payload
 * takes on a node and in a client that reads one: protobuf-c decodes a
 * Payload and validate_payload checks it. Nothing here may crash or leak,
 * a message judged valid must have a kind, and judging it twice must give
 * the same answer.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "log.h"
#include "payload.pb-c.h"
#include "validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Tmbus__Payload__Payload *p;
    char why[VALIDATE_WHY_MAX], again[VALIDATE_WHY_MAX];
    enum validate_fault f;

    if ((p = tmbus__payload__payload__unpack(NULL, size, data)) == NULL)
        return 0;
    why[0] = again[0] = '\0';
    f = validate_payload(p, why, sizeof(why));
    ensure(validate_payload(p, again, sizeof(again)) == f);
    ensure(strcmp(why, again) == 0);
    ensure(validate_payload(p, NULL, 0) == f);
    ensure(f == VALIDATE_OK || why[0] != '\0');
    if (f == VALIDATE_OK)
        ensure(p->kind_case != TMBUS__PAYLOAD__PAYLOAD__KIND__NOT_SET);
    tmbus__payload__payload__free_unpacked(p, NULL);
    return 0;
}
