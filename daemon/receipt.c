/*
 * receipt: encodes and decodes Receipt payloads, behind receipt.h. The
 * only daemon code besides board.c and api.c that sees generated payload
 * types, and it sees only the receipt. It must never log a payload's bytes
 * nor accept a reason that could break a log line or a table (one line).
 */
#include "receipt.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "payload.pb-c.h"

typedef Tmbus__Payload__Payload Payload;
typedef Tmbus__Payload__Receipt Receipt;

const char *receipt_state_name(int state)
{
    switch (state) {
    case RECEIPT_PENDING:
        return "pending";
    case RECEIPT_DELIVERED:
        return "delivered";
    case RECEIPT_REJECTED:
        return "rejected";
    default:
        return "unknown";
    }
}

int receipt_encode(const uint8_t *envelope_id, enum receipt_state state, const char *reason,
                   uint8_t **out, size_t *len)
{
    Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT;
    Receipt r = TMBUS__PAYLOAD__RECEIPT__INIT;
    char line[RECEIPT_REASON_MAX + 1] = "";
    size_t n;

    *out = NULL;
    *len = 0;
    if (envelope_id == NULL || (state != RECEIPT_DELIVERED && state != RECEIPT_REJECTED)) {
        log_warnx("receipt: refusing to encode a receipt without an id or a final state");
        return -1;
    }
    if (state == RECEIPT_REJECTED && reason != NULL) {
        n = strcspn(reason, "\r\n");
        if (n > RECEIPT_REASON_MAX)
            n = RECEIPT_REASON_MAX;
        memcpy(line, reason, n);
        line[n] = '\0';
    }
    r.envelope_id.data = (uint8_t *)(uintptr_t)envelope_id;
    r.envelope_id.len = RECEIPT_ID_BYTES;
    r.state = state == RECEIPT_DELIVERED ? TMBUS__PAYLOAD__RECEIPT__STATE__STATE_DELIVERED
                                         : TMBUS__PAYLOAD__RECEIPT__STATE__STATE_REJECTED;
    r.reason = line;
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_RECEIPT;
    p.receipt = &r;
    *len = tmbus__payload__payload__get_packed_size(&p);
    if ((*out = malloc(*len)) == NULL) {
        log_warn("receipt: malloc");
        *len = 0;
        return -1;
    }
    tmbus__payload__payload__pack(&p, *out);
    return 0;
}

static bool is_one_line(const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);

    return n <= max && strcspn(s, "\r\n") == n;
}

enum receipt_kind receipt_decode(const uint8_t *payload, size_t len, struct receipt *out)
{
    enum receipt_kind kind = RECEIPT_MALFORMED;
    const Receipt *r;
    Payload *p;

    memset(out, 0, sizeof(*out));
    p = tmbus__payload__payload__unpack(NULL, len, payload);
    if (p == NULL || p->kind_case != TMBUS__PAYLOAD__PAYLOAD__KIND_RECEIPT) {
        kind = RECEIPT_NOT_A_RECEIPT;
        goto out;
    }
    r = p->receipt;
    if (p->base.n_unknown_fields > 0 || r->base.n_unknown_fields > 0 ||
        r->envelope_id.len != RECEIPT_ID_BYTES || r->reason == NULL ||
        !is_one_line(r->reason, RECEIPT_REASON_MAX))
        goto out;
    if (r->state == TMBUS__PAYLOAD__RECEIPT__STATE__STATE_DELIVERED)
        out->state = RECEIPT_DELIVERED;
    else if (r->state == TMBUS__PAYLOAD__RECEIPT__STATE__STATE_REJECTED)
        out->state = RECEIPT_REJECTED;
    else
        goto out;
    memcpy(out->envelope_id, r->envelope_id.data, RECEIPT_ID_BYTES);
    if (out->state == RECEIPT_REJECTED)
        memcpy(out->reason, r->reason, strlen(r->reason) + 1);
    kind = RECEIPT_VALID;
out:
    if (p != NULL)
        tmbus__payload__payload__free_unpacked(p, NULL);
    return kind;
}
