/*
 * payload: libtmbus's codec for tmbus.payload.Payload. Turns the plain C
 * structs of tmbus.h into serialized payloads after checking them as the
 * node will, and gives views of decoded payloads as those structs. Private
 * to the library (never installed): with the library's other files
 * (internal.h), the only code that sees generated protobuf types, and it
 * must never keep a copy of a payload it does not wipe.
 */
#ifndef TMBUS_CLIENT_PAYLOAD_H
#define TMBUS_CLIENT_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "payload.pb-c.h"
#include "tmbus.h"

/* Each builds a Payload from its input, checks it with the shared rules
 * (validate_payload, as the node checks what it decodes), then packs it
 * into a fresh malloc'd buffer *out of *len bytes, which the caller wipes
 * and frees. An update without an id is refused. TMBUS_OK,
 * TMBUS_EINVALID (reason in why) or TMBUS_ENOMEM. */
int payload_encode_need(const struct tmbus_need *n, uint8_t **out, size_t *len, char *why,
                        size_t why_size);
int payload_encode_offer(const struct tmbus_offer *o, uint8_t **out, size_t *len, char *why,
                         size_t why_size);
int payload_encode_need_update(const uint8_t *need_id, int action, const struct tmbus_need *edit,
                               const char *reason, uint8_t **out, size_t *len, char *why,
                               size_t why_size);
int payload_encode_offer_update(const uint8_t *offer_id, int action, const char *reason,
                                uint8_t **out, size_t *len, char *why, size_t why_size);

/* Unpacks a Payload; NULL when the bytes are not one. The caller frees
 * it with payload_free. */
Tmbus__Payload__Payload *payload_decode(const uint8_t *data, size_t len);

/* "need", "offer", … for a decoded payload; NULL for NULL or an unknown
 * kind. */
const char *payload_kind(const Tmbus__Payload__Payload *p);

/* Views of decoded messages: *out points into m, which must outlive it. */
void payload_need_view(const Tmbus__Payload__Need *m, struct tmbus_need *out);
void payload_offer_view(const Tmbus__Payload__Offer *m, struct tmbus_offer *out);

/* Wipes every string and bytes field of m, through sub-messages and
 * repeated fields, in place. Accepts NULL. */
void payload_wipe(ProtobufCMessage *m);

/* Wipes and frees a decoded Payload. Accepts NULL. */
void payload_free(Tmbus__Payload__Payload *p);

#endif
