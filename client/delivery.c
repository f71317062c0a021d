/*
 * delivery: the received message libtmbus hands out. Its payload is
 * decoded once, when it arrives, into the views (need, offer, change,
 * receipts) its accessors return, so that reading one never writes and a
 * delivery may be read from any thread. The payload may be TLP:AMBER or
 * RED: it is wiped when the delivery is freed.
 */
#include "tmbus.h"

#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "payload.h"

void tmbus_delivery_free(struct tmbus_delivery **dp)
{
    if (dp == NULL || *dp == NULL)
        return;
    free((*dp)->receipts);
    payload_free((*dp)->payload);
    client_free_reply((*dp)->reply, true);
    free(*dp);
    *dp = NULL;
}

static const uint8_t *id_or_null(const ProtobufCBinaryData *b)
{
    return b->len == TMBUS_ID_BYTES ? b->data : NULL;
}

/* Fills in d's view of its decoded payload: 0, or -1 when out of memory. */
static int view_payload(struct tmbus_delivery *d)
{
    const Tmbus__Payload__Payload *p = d->payload;

    if (p == NULL || payload_kind(p) == NULL)
        return 0;
    switch (p->kind_case) {
    case TMBUS__PAYLOAD__PAYLOAD__KIND_NEED:
        payload_need_view(p->need, &d->need);
        return 0;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER:
        payload_offer_view(p->offer, &d->offer);
        return 0;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_UPDATE:
        d->need_change.need_id = id_or_null(&p->need_update->need_id);
        d->need_change.action = (int)p->need_update->action;
        d->need_change.has_edit = p->need_update->need != NULL;
        if (d->need_change.has_edit)
            payload_need_view(p->need_update->need, &d->need_change.edit);
        else
            d->need_change.edit = (struct tmbus_need){"", 0, 0, "", "", 0, "", 0, 0, "", 0, ""};
        d->need_change.reason = p->need_update->reason;
        return 0;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER_UPDATE:
        d->offer_change.offer_id = id_or_null(&p->offer_update->offer_id);
        d->offer_change.action = (int)p->offer_update->action;
        d->offer_change.reason = p->offer_update->reason;
        return 0;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_RECEIPT:
        d->receipts = calloc(p->receipt->n_entries + 1, sizeof(*d->receipts));
        if (d->receipts == NULL)
            return -1;
        for (size_t i = 0; i < p->receipt->n_entries; i++) {
            const Tmbus__Payload__Receipt__Entry *e = p->receipt->entries[i];
            d->receipts[i].envelope_id = id_or_null(&e->envelope_id);
            d->receipts[i].state = (int)e->state;
            d->receipts[i].reason = e->reason;
        }
        return 0;
    default:
        return 0;
    }
}

struct tmbus_delivery *delivery_new(Tmbus__Api__Reply *r)
{
    struct tmbus_delivery *d;

    if ((d = calloc(1, sizeof(*d))) == NULL) {
        client_free_reply(r, true);
        return NULL;
    }
    d->reply = r;
    d->payload = payload_decode(r->delivery->payload.data, r->delivery->payload.len);
    if (view_payload(d) == -1) {
        tmbus_delivery_free(&d);
        return NULL;
    }
    return d;
}

/* ---- accessors ---------------------------------------------------------- */

uint64_t tmbus_delivery_number(const struct tmbus_delivery *d)
{
    return d->reply->delivery->number;
}

const uint8_t *tmbus_delivery_id(const struct tmbus_delivery *d)
{
    return d->reply->delivery->id.data;
}

const char *tmbus_delivery_sender(const struct tmbus_delivery *d)
{
    return d->reply->delivery->sender;
}

const char *tmbus_delivery_log_peer(const struct tmbus_delivery *d)
{
    return d->reply->delivery->log_peer;
}

uint64_t tmbus_delivery_seq(const struct tmbus_delivery *d)
{
    return d->reply->delivery->seq;
}

int64_t tmbus_delivery_created_at(const struct tmbus_delivery *d)
{
    return d->reply->delivery->created_at;
}

int64_t tmbus_delivery_expires_at(const struct tmbus_delivery *d)
{
    return d->reply->delivery->expires_at;
}

const uint8_t *tmbus_delivery_payload(const struct tmbus_delivery *d, size_t *len)
{
    if (len != NULL)
        *len = d->reply->delivery->payload.len;
    return d->reply->delivery->payload.data;
}

size_t tmbus_delivery_recipient_count(const struct tmbus_delivery *d)
{
    return d->reply->delivery->n_recipients;
}

const char *tmbus_delivery_recipient(const struct tmbus_delivery *d, size_t i)
{
    return i < d->reply->delivery->n_recipients ? d->reply->delivery->recipients[i] : NULL;
}

const char *tmbus_delivery_kind(const struct tmbus_delivery *d)
{
    return d != NULL ? payload_kind(d->payload) : NULL;
}

/* The decoded payload of d when it is of kind want, else NULL. */
static const Tmbus__Payload__Payload *payload_of(const struct tmbus_delivery *d,
                                                 Tmbus__Payload__Payload__KindCase want)
{
    if (d == NULL || d->payload == NULL || d->payload->kind_case != want ||
        payload_kind(d->payload) == NULL)
        return NULL;
    return d->payload;
}

const struct tmbus_need *tmbus_delivery_need(const struct tmbus_delivery *d)
{
    return payload_of(d, TMBUS__PAYLOAD__PAYLOAD__KIND_NEED) != NULL ? &d->need : NULL;
}

const struct tmbus_offer *tmbus_delivery_offer(const struct tmbus_delivery *d)
{
    return payload_of(d, TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER) != NULL ? &d->offer : NULL;
}

const struct tmbus_need_change *tmbus_delivery_need_update(const struct tmbus_delivery *d)
{
    return payload_of(d, TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_UPDATE) != NULL ? &d->need_change
                                                                            : NULL;
}

const struct tmbus_offer_change *tmbus_delivery_offer_update(const struct tmbus_delivery *d)
{
    return payload_of(d, TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER_UPDATE) != NULL ? &d->offer_change
                                                                             : NULL;
}

size_t tmbus_delivery_receipt_count(const struct tmbus_delivery *d)
{
    const Tmbus__Payload__Payload *p = payload_of(d, TMBUS__PAYLOAD__PAYLOAD__KIND_RECEIPT);

    return p != NULL ? p->receipt->n_entries : 0;
}

const struct tmbus_receipt *tmbus_delivery_receipt_at(const struct tmbus_delivery *d, size_t i)
{
    return i < tmbus_delivery_receipt_count(d) ? &d->receipts[i] : NULL;
}
