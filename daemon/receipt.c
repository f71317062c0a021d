/*
 * receipt: encodes and decodes Receipt payloads, behind receipt.h. The
 * only daemon code besides message.c and board.c that sees generated
 * payload types, and it sees only the receipt. It must never log a
 * payload's bytes; it reads only receipts the shared field rules accepted
 * (one-line reasons that cannot break a log line or a table), and encodes
 * only receipts those rules accept.
 */
#include "receipt.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain.h"
#include "log.h"
#include "message.h"
#include "payload.pb-c.h"
#include "validate.h"

typedef Tmbus__Payload__Payload Payload;
typedef Tmbus__Payload__Receipt Receipt;
typedef Tmbus__Payload__Receipt__Entry Entry;

_Static_assert((int)RECEIPT_DELIVERED == (int)TMBUS__PAYLOAD__RECEIPT__STATE__STATE_DELIVERED &&
                   (int)RECEIPT_REJECTED == (int)TMBUS__PAYLOAD__RECEIPT__STATE__STATE_REJECTED,
               "the final states are the wire's");

const char *receipt_state_name(int state)
{
    const char *name = domain_name(DOMAIN_RECEIPT_STATE, state);

    /* Pending is the store's word for a recipient not heard from yet; it
     * never travels, so the wire's table does not name it. */
    if (state == RECEIPT_PENDING)
        return "pending";
    return name != NULL ? name : "unknown";
}

/* The part of reason a receipt carries: up to its first control character
 * and at most RECEIPT_REASON_MAX bytes, not ending inside a UTF-8 sequence,
 * so that the receipt passes validate_receipt at its recipient. */
static void first_line(const char *reason, char out[RECEIPT_REASON_MAX + 1])
{
    size_t k = strnlen(reason, RECEIPT_REASON_MAX);

    for (size_t j = 0; j < k; j++) {
        unsigned char c = (unsigned char)reason[j];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            k = j;
    }
    /* A cut sequence is at most three bytes long; text that is no UTF-8
     * elsewhere is not sent at all. */
    for (int b = 0; b < 4 && k > 0 && !validate_is_utf8((const uint8_t *)reason, k); b++)
        k = b < 3 ? k - 1 : 0;
    memcpy(out, reason, k);
    out[k] = '\0';
}

int receipt_encode(const struct receipt_entry *entries, size_t n, uint8_t **out, size_t *len)
{
    Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT;
    Receipt r = TMBUS__PAYLOAD__RECEIPT__INIT;
    Entry *es = NULL, **ptrs = NULL;
    char(*lines)[RECEIPT_REASON_MAX + 1] = NULL;
    int rc = -1;

    *out = NULL;
    *len = 0;
    if (entries == NULL || n == 0 || n > RECEIPT_MAX_ENTRIES) {
        log_warnx("receipt: refusing to encode a receipt of %zu entries", n);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (entries[i].state != RECEIPT_DELIVERED && entries[i].state != RECEIPT_REJECTED) {
            log_warnx("receipt: refusing to encode an entry without a final state");
            return -1;
        }
    es = calloc(n, sizeof(*es));
    ptrs = calloc(n, sizeof(*ptrs));
    lines = calloc(n, sizeof(*lines));
    if (es == NULL || ptrs == NULL || lines == NULL) {
        log_warn("receipt: calloc");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const struct receipt_entry *e = &entries[i];

        tmbus__payload__receipt__entry__init(&es[i]);
        if (e->state == RECEIPT_REJECTED)
            first_line(e->reason, lines[i]);
        es[i].envelope_id.data = (uint8_t *)(uintptr_t)e->envelope_id;
        es[i].envelope_id.len = WIRE_ID_BYTES;
        es[i].state = (Tmbus__Payload__Receipt__State)e->state;
        es[i].reason = lines[i];
        ptrs[i] = &es[i];
    }
    r.n_entries = n;
    r.entries = ptrs;
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_RECEIPT;
    p.receipt = &r;
    *len = tmbus__payload__payload__get_packed_size(&p);
    if ((*out = malloc(*len)) == NULL) {
        log_warn("receipt: malloc");
        *len = 0;
        goto out;
    }
    tmbus__payload__payload__pack(&p, *out);
    rc = 0;
out:
    free(es);
    free(ptrs);
    free(lines);
    return rc;
}

/* One entry the view's field rules accepted, copied to *out. */
static void entry_copy(const Entry *e, struct receipt_entry *out)
{
    out->state = (enum receipt_state)e->state;
    memcpy(out->envelope_id, e->envelope_id.data, WIRE_ID_BYTES);
    out->reason[0] = '\0';
    if (out->state == RECEIPT_REJECTED)
        snprintf(out->reason, sizeof(out->reason), "%s", e->reason);
}

enum receipt_kind receipt_decode(const uint8_t *payload, size_t len, struct receipt **out)
{
    struct message m;
    enum receipt_kind kind;

    if (message_decode(payload, len, &m) == -1) {
        if (out != NULL)
            *out = NULL;
        return RECEIPT_NOT_A_RECEIPT;
    }
    kind = receipt_read(&m, out);
    message_clear(&m);
    return kind;
}

enum receipt_kind receipt_read(const struct message *m, struct receipt **out)
{
    const Payload *p = m->pb;
    const Receipt *r;
    struct receipt *rc;

    if (out != NULL)
        *out = NULL;
    if (!m->is_payload || m->kind != MESSAGE_RECEIPT)
        return RECEIPT_NOT_A_RECEIPT;
    /* The view judged the whole Payload by the shared rules once. */
    if (m->fault != VALIDATE_OK)
        return RECEIPT_MALFORMED;
    if (out == NULL)
        return RECEIPT_VALID;
    r = p->receipt;
    if ((rc = malloc(sizeof(*rc) + r->n_entries * sizeof(rc->entries[0]))) == NULL) {
        log_warn("receipt: malloc");
        return RECEIPT_MALFORMED;
    }
    rc->n_entries = r->n_entries;
    for (size_t i = 0; i < r->n_entries; i++)
        entry_copy(r->entries[i], &rc->entries[i]);
    *out = rc;
    return RECEIPT_VALID;
}

void receipt_free(struct receipt **rp)
{
    if (rp == NULL)
        return;
    free(*rp);
    *rp = NULL;
}
