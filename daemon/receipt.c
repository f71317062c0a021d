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
#include "message.h"
#include "payload.pb-c.h"

typedef Tmbus__Payload__Payload Payload;
typedef Tmbus__Payload__Receipt Receipt;
typedef Tmbus__Payload__Receipt__Entry Entry;

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
        if (e->state == RECEIPT_REJECTED) {
            size_t k = strnlen(e->reason, RECEIPT_REASON_MAX);
            for (size_t j = 0; j < k; j++)
                if (e->reason[j] == '\r' || e->reason[j] == '\n')
                    k = j;
            memcpy(lines[i], e->reason, k);
            lines[i][k] = '\0';
        }
        es[i].envelope_id.data = (uint8_t *)(uintptr_t)e->envelope_id;
        es[i].envelope_id.len = RECEIPT_ID_BYTES;
        es[i].state = e->state == RECEIPT_DELIVERED
                          ? TMBUS__PAYLOAD__RECEIPT__STATE__STATE_DELIVERED
                          : TMBUS__PAYLOAD__RECEIPT__STATE__STATE_REJECTED;
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

static bool is_one_line(const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);

    return n <= max && strcspn(s, "\r\n") == n;
}

/* One entry checked and, when sound, copied to *out. */
static bool entry_read(const Entry *e, struct receipt_entry *out)
{
    if (e == NULL || e->base.n_unknown_fields > 0 || e->envelope_id.len != RECEIPT_ID_BYTES ||
        e->reason == NULL || !is_one_line(e->reason, RECEIPT_REASON_MAX))
        return false;
    if (e->state == TMBUS__PAYLOAD__RECEIPT__STATE__STATE_DELIVERED)
        out->state = RECEIPT_DELIVERED;
    else if (e->state == TMBUS__PAYLOAD__RECEIPT__STATE__STATE_REJECTED)
        out->state = RECEIPT_REJECTED;
    else
        return false;
    memcpy(out->envelope_id, e->envelope_id.data, RECEIPT_ID_BYTES);
    out->reason[0] = '\0';
    if (out->state == RECEIPT_REJECTED)
        memcpy(out->reason, e->reason, strlen(e->reason) + 1);
    return true;
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
    enum receipt_kind kind = RECEIPT_MALFORMED;
    struct receipt_entry scratch;
    struct receipt *rc = NULL;
    const Payload *p = m->pb;
    const Receipt *r;

    if (out != NULL)
        *out = NULL;
    if (!m->is_payload || m->kind != MESSAGE_RECEIPT) {
        kind = RECEIPT_NOT_A_RECEIPT;
        goto out;
    }
    r = p->receipt;
    if (p->base.n_unknown_fields > 0 || r->base.n_unknown_fields > 0 || r->n_entries == 0 ||
        r->n_entries > RECEIPT_MAX_ENTRIES)
        goto out;
    if (out != NULL) {
        rc = malloc(sizeof(*rc) + r->n_entries * sizeof(rc->entries[0]));
        if (rc == NULL) {
            log_warn("receipt: malloc");
            goto out;
        }
        rc->n_entries = r->n_entries;
    }
    for (size_t i = 0; i < r->n_entries; i++)
        if (!entry_read(r->entries[i], rc != NULL ? &rc->entries[i] : &scratch))
            goto out;
    kind = RECEIPT_VALID;
    if (out != NULL) {
        *out = rc;
        rc = NULL;
    }
out:
    free(rc);
    return kind;
}

void receipt_free(struct receipt **rp)
{
    if (rp == NULL)
        return;
    free(*rp);
    *rp = NULL;
}
