/*
 * fuzz_delivery: feeds arbitrary bytes, as the payload of a delivery the
 * node hands a subscriber, to delivery_new, which decodes what another
 * member wrote once in libtmbus and makes the views tmbus_delivery_need,
 * _offer, _need_update, _offer_update and _receipt_at return. Every view a
 * kind offers must be there and readable to its last byte, every other
 * view absent; nothing may crash, read past the payload or leak. The
 * delivery around the payload is a sound one, as tmbus.c checks it.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tmbus.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile size_t sink;

static void must(bool cond)
{
    if (!cond)
        abort();
}

/* Reads s to its end (NULL allowed where the header allows it). */
static void touch(const char *s)
{
    if (s != NULL)
        sink += strlen(s);
}

static void touch_id(const uint8_t *id)
{
    if (id != NULL)
        sink += id[0] + id[TMBUS_ID_BYTES - 1];
}

static void touch_need(const struct tmbus_need *n)
{
    char why[TMBUS_VALIDATE_ERROR_MAX];

    touch(n->beneficiary);
    touch(n->title);
    touch(n->description);
    touch(n->unit);
    touch(n->deadline);
    touch(n->contact);
    sink += (size_t)n->quantity + (size_t)n->sector + (size_t)n->priority;
    sink += (size_t)tmbus_need_validate(n, why, sizeof(why));
}

static void touch_offer(const struct tmbus_offer *o)
{
    char why[TMBUS_VALIDATE_ERROR_MAX];

    touch_id(o->need_id);
    touch(o->description);
    touch(o->delivery_date);
    touch(o->conditions);
    sink += (size_t)o->quantity + (size_t)o->tlp;
    sink += (size_t)tmbus_offer_validate(o, why, sizeof(why));
}

/* The reply libtmbus would have unpacked from the node: a sound delivery
 * carrying data as its payload. NULL when it cannot be built. */
static Tmbus__Api__Reply *reply_with(const uint8_t *data, size_t size)
{
    static char sender[] = "A", peer[] = "", recipient[] = "B";
    static char *recipients[] = {recipient};
    static uint8_t id[TMBUS_ID_BYTES] = {1};
    Tmbus__Api__Reply r = TMBUS__API__REPLY__INIT;
    Tmbus__Api__Delivery d = TMBUS__API__DELIVERY__INIT;
    Tmbus__Api__Reply *out;
    uint8_t *buf;
    size_t len;

    d.number = 1;
    d.id.data = id;
    d.id.len = sizeof(id);
    d.sender = sender;
    d.log_peer = peer;
    d.seq = 1;
    d.n_recipients = 1;
    d.recipients = recipients;
    d.payload.data = (uint8_t *)(uintptr_t)data;
    d.payload.len = size;
    r.kind_case = TMBUS__API__REPLY__KIND_DELIVERY;
    r.delivery = &d;
    len = tmbus__api__reply__get_packed_size(&r);
    if ((buf = malloc(len)) == NULL)
        return NULL;
    tmbus__api__reply__pack(&r, buf);
    out = tmbus__api__reply__unpack(NULL, len, buf);
    free(buf);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Tmbus__Api__Reply *r = reply_with(data, size);
    struct tmbus_delivery *d;
    const char *kind;
    size_t n, len;

    if (r == NULL)
        abort();
    if ((d = delivery_new(r)) == NULL)
        abort(); /* only out of memory */
    must(tmbus_delivery_number(d) == 1 && strcmp(tmbus_delivery_sender(d), "A") == 0);
    must(tmbus_delivery_payload(d, &len) != NULL || len == 0);
    must(len == size);
    for (size_t i = 0; i < tmbus_delivery_recipient_count(d); i++)
        touch(tmbus_delivery_recipient(d, i));
    kind = tmbus_delivery_kind(d);
    touch(kind);
    if (kind == NULL) {
        must(tmbus_delivery_need(d) == NULL && tmbus_delivery_offer(d) == NULL);
        must(tmbus_delivery_need_update(d) == NULL && tmbus_delivery_offer_update(d) == NULL);
        must(tmbus_delivery_receipt_count(d) == 0);
    } else if (strcmp(kind, "need") == 0) {
        must(tmbus_delivery_need(d) != NULL);
        touch_need(tmbus_delivery_need(d));
    } else if (strcmp(kind, "offer") == 0) {
        must(tmbus_delivery_offer(d) != NULL);
        touch_offer(tmbus_delivery_offer(d));
    } else if (strcmp(kind, "need_update") == 0) {
        const struct tmbus_need_change *c = tmbus_delivery_need_update(d);
        must(c != NULL);
        touch_id(c->need_id);
        touch(c->reason);
        if (c->has_edit)
            touch_need(&c->edit);
    } else if (strcmp(kind, "offer_update") == 0) {
        const struct tmbus_offer_change *c = tmbus_delivery_offer_update(d);
        must(c != NULL);
        touch_id(c->offer_id);
        touch(c->reason);
    } else if (strcmp(kind, "receipt") == 0) {
        n = tmbus_delivery_receipt_count(d);
        for (size_t i = 0; i < n; i++) {
            const struct tmbus_receipt *e = tmbus_delivery_receipt_at(d, i);
            must(e != NULL);
            touch_id(e->envelope_id);
            touch(e->reason);
        }
        must(tmbus_delivery_receipt_at(d, n) == NULL);
    }
    tmbus_delivery_free(&d);
    return 0;
}
