/*
 * payload: libtmbus's face of the domain's enums, its checks of a need or
 * offer before it is posted, and the codec between tmbus.h's plain C
 * structs and tmbus.payload.Payload. The names and the field rules are the
 * shared ones (proto/domain.h, proto/validate.h), applied to the message
 * about to be packed, so the library never accepts what the node refuses
 * and never restates a rule. Everything here is pure: no handle, no I/O,
 * no global state, so all of it is thread-safe. Payloads may be TLP:AMBER
 * or RED: every buffer and decoded message is wiped before it is freed.
 */
#include "payload.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "domain.h"
#include "internal.h"
#include "validate.h"
#include "wire_limits.h"

/* ---- names -------------------------------------------------------------- */

static int from_domain(int rc)
{
    return rc == 0 ? TMBUS_OK : TMBUS_EINVALID;
}

#define NAMED_ENUM(prefix, e)                                                                      \
    const char *tmbus_##prefix##_name(int value)                                                   \
    {                                                                                              \
        return domain_name(e, value);                                                              \
    }                                                                                              \
    int tmbus_##prefix##_parse(const char *name, int *out)                                         \
    {                                                                                              \
        return from_domain(domain_parse(e, name, out));                                            \
    }                                                                                              \
    const char *tmbus_##prefix##_names(void)                                                       \
    {                                                                                              \
        return domain_names(e);                                                                    \
    }

NAMED_ENUM(tlp, DOMAIN_TLP)
NAMED_ENUM(sector, DOMAIN_SECTOR)
NAMED_ENUM(category, DOMAIN_CATEGORY)
NAMED_ENUM(priority, DOMAIN_PRIORITY)
NAMED_ENUM(need_status, DOMAIN_NEED_STATUS)
NAMED_ENUM(offer_status, DOMAIN_OFFER_STATUS)
NAMED_ENUM(need_action, DOMAIN_NEED_ACTION)
NAMED_ENUM(offer_action, DOMAIN_OFFER_ACTION)

const char *tmbus_receipt_state_name(int state)
{
    return domain_name(DOMAIN_RECEIPT_STATE, state);
}

int tmbus_kind_parse(const char *name, const char **out)
{
    int kind;

    if (out == NULL || domain_parse(DOMAIN_KIND, name, &kind) == -1)
        return TMBUS_EINVALID;
    *out = domain_name(DOMAIN_KIND, kind); /* the one static spelling */
    return TMBUS_OK;
}

const char *tmbus_kind_names(void)
{
    return domain_names(DOMAIN_KIND);
}

/* ---- ids ---------------------------------------------------------------- */

void tmbus_id_to_hex(const uint8_t id[TMBUS_ID_BYTES], char out[TMBUS_ID_HEX_BYTES])
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < TMBUS_ID_BYTES; i++) {
        out[2 * i] = digits[id[i] >> 4];
        out[2 * i + 1] = digits[id[i] & 0xf];
    }
    out[2 * TMBUS_ID_BYTES] = '\0';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int tmbus_id_from_hex(const char *hex, uint8_t out[TMBUS_ID_BYTES])
{
    uint8_t id[TMBUS_ID_BYTES];

    if (hex == NULL || out == NULL || strlen(hex) != 2 * TMBUS_ID_BYTES)
        return TMBUS_EINVALID;
    for (size_t i = 0; i < TMBUS_ID_BYTES; i++) {
        int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return TMBUS_EINVALID;
        id[i] = (uint8_t)(hi << 4 | lo);
    }
    memcpy(out, id, sizeof(id));
    return TMBUS_OK;
}

/* ---- checks ------------------------------------------------------------- */

static int from_fault(enum validate_fault f)
{
    return f == VALIDATE_OK ? TMBUS_OK : TMBUS_EINVALID;
}

/* protobuf-c wants char * for string fields it only reads when packing. */
static char *text(const char *s)
{
    return (char *)(s != NULL ? s : "");
}

static void fill_need(Tmbus__Payload__Need *m, const struct tmbus_need *n)
{
    m->beneficiary = text(n->beneficiary);
    m->sector = (Tmbus__Payload__Sector)n->sector;
    m->category = (Tmbus__Payload__Category)n->category;
    m->title = text(n->title);
    m->description = text(n->description);
    m->quantity = n->quantity;
    m->unit = text(n->unit);
    m->value_cents = n->value_cents;
    m->priority = (Tmbus__Payload__Priority)n->priority;
    m->deadline = text(n->deadline);
    m->tlp = (Tmbus__Payload__Tlp)n->tlp;
    m->contact = text(n->contact);
}

/* A NULL need_id is a catalogue offer: an empty id on the wire. */
static void fill_offer(Tmbus__Payload__Offer *m, const struct tmbus_offer *o)
{
    if (o->need_id != NULL) {
        m->need_id.data = (uint8_t *)o->need_id;
        m->need_id.len = WIRE_ID_BYTES;
    }
    m->description = text(o->description);
    m->quantity = o->quantity;
    m->value_cents = o->value_cents;
    m->delivery_date = text(o->delivery_date);
    m->conditions = text(o->conditions);
    m->tlp = (Tmbus__Payload__Tlp)o->tlp;
}

int tmbus_need_validate(const struct tmbus_need *need, char *why, size_t why_size)
{
    Tmbus__Payload__Need m = TMBUS__PAYLOAD__NEED__INIT;

    if (why != NULL && why_size > 0)
        why[0] = '\0';
    if (need != NULL)
        fill_need(&m, need);
    return from_fault(validate_need(need != NULL ? &m : NULL, false, why, why_size));
}

int tmbus_offer_validate(const struct tmbus_offer *offer, char *why, size_t why_size)
{
    Tmbus__Payload__Offer m = TMBUS__PAYLOAD__OFFER__INIT;

    if (why != NULL && why_size > 0)
        why[0] = '\0';
    if (offer != NULL)
        fill_offer(&m, offer);
    return from_fault(validate_offer(offer != NULL ? &m : NULL, why, why_size));
}

/* ---- encoding ----------------------------------------------------------- */

/* Checks p as the node will check it once decoded, then packs it. */
static int pack(const Tmbus__Payload__Payload *p, uint8_t **out, size_t *len, char *why,
                size_t why_size)
{
    size_t size;

    if (validate_payload(p, why, why_size) != VALIDATE_OK)
        return TMBUS_EINVALID;
    size = tmbus__payload__payload__get_packed_size(p);
    if (size > WIRE_MAX_PAYLOAD)
        return client_fail_to(why, why_size, TMBUS_EINVALID,
                              "the payload would be %zu bytes; at most %d are allowed", size,
                              WIRE_MAX_PAYLOAD);
    if ((*out = malloc(size > 0 ? size : 1)) == NULL)
        return client_fail_to(why, why_size, TMBUS_ENOMEM, "out of memory");
    *len = tmbus__payload__payload__pack(p, *out);
    return TMBUS_OK;
}

int payload_encode_need(const struct tmbus_need *n, uint8_t **out, size_t *len, char *why,
                        size_t why_size)
{
    Tmbus__Payload__Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT;
    Tmbus__Payload__Need m = TMBUS__PAYLOAD__NEED__INIT;

    *out = NULL;
    *len = 0;
    if (n != NULL)
        fill_need(&m, n);
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_NEED;
    p.need = n != NULL ? &m : NULL;
    return pack(&p, out, len, why, why_size);
}

int payload_encode_offer(const struct tmbus_offer *o, uint8_t **out, size_t *len, char *why,
                         size_t why_size)
{
    Tmbus__Payload__Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT;
    Tmbus__Payload__Offer m = TMBUS__PAYLOAD__OFFER__INIT;

    *out = NULL;
    *len = 0;
    if (o != NULL)
        fill_offer(&m, o);
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER;
    p.offer = o != NULL ? &m : NULL;
    return pack(&p, out, len, why, why_size);
}

int payload_encode_need_update(const uint8_t *need_id, int action, const struct tmbus_need *edit,
                               const char *reason, uint8_t **out, size_t *len, char *why,
                               size_t why_size)
{
    Tmbus__Payload__Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT;
    Tmbus__Payload__NeedUpdate u = TMBUS__PAYLOAD__NEED_UPDATE__INIT;
    Tmbus__Payload__Need m = TMBUS__PAYLOAD__NEED__INIT;

    *out = NULL;
    *len = 0;
    if (need_id != NULL) {
        u.need_id.data = (uint8_t *)need_id;
        u.need_id.len = WIRE_ID_BYTES;
    }
    u.action = (Tmbus__Payload__NeedUpdate__Action)action;
    if (edit != NULL) {
        fill_need(&m, edit);
        u.need = &m;
    }
    u.reason = text(reason);
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_UPDATE;
    p.need_update = &u;
    return pack(&p, out, len, why, why_size);
}

int payload_encode_offer_update(const uint8_t *offer_id, int action, const char *reason,
                                uint8_t **out, size_t *len, char *why, size_t why_size)
{
    Tmbus__Payload__Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT;
    Tmbus__Payload__OfferUpdate u = TMBUS__PAYLOAD__OFFER_UPDATE__INIT;

    *out = NULL;
    *len = 0;
    if (offer_id != NULL) {
        u.offer_id.data = (uint8_t *)offer_id;
        u.offer_id.len = WIRE_ID_BYTES;
    }
    u.action = (Tmbus__Payload__OfferUpdate__Action)action;
    u.reason = text(reason);
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER_UPDATE;
    p.offer_update = &u;
    return pack(&p, out, len, why, why_size);
}

/* ---- decoding ----------------------------------------------------------- */

Tmbus__Payload__Payload *payload_decode(const uint8_t *data, size_t len)
{
    if (data == NULL || len == 0 || len > WIRE_MAX_PAYLOAD)
        return NULL;
    return tmbus__payload__payload__unpack(NULL, len, data);
}

const char *payload_kind(const Tmbus__Payload__Payload *p)
{
    const void *sub;

    if (p == NULL)
        return NULL;
    switch (p->kind_case) {
    case TMBUS__PAYLOAD__PAYLOAD__KIND_NEED:
        sub = p->need;
        break;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER:
        sub = p->offer;
        break;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_UPDATE:
        sub = p->need_update;
        break;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER_UPDATE:
        sub = p->offer_update;
        break;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_RECEIPT:
        sub = p->receipt;
        break;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_SHARE:
        sub = p->need_share;
        break;
    default:
        return NULL;
    }
    /* DOMAIN_KIND's values are kind_case's. */
    return sub != NULL ? domain_name(DOMAIN_KIND, (int)p->kind_case) : NULL;
}

void payload_need_view(const Tmbus__Payload__Need *m, struct tmbus_need *out)
{
    out->beneficiary = m->beneficiary;
    out->sector = (int)m->sector;
    out->category = (int)m->category;
    out->title = m->title;
    out->description = m->description;
    out->quantity = m->quantity;
    out->unit = m->unit;
    out->value_cents = m->value_cents;
    out->priority = (int)m->priority;
    out->deadline = m->deadline;
    out->tlp = (int)m->tlp;
    out->contact = m->contact;
}

void payload_offer_view(const Tmbus__Payload__Offer *m, struct tmbus_offer *out)
{
    out->need_id = m->need_id.len == WIRE_ID_BYTES ? m->need_id.data : NULL;
    out->description = m->description;
    out->quantity = m->quantity;
    out->value_cents = m->value_cents;
    out->delivery_date = m->delivery_date;
    out->conditions = m->conditions;
    out->tlp = (int)m->tlp;
}

/* ---- wiping ------------------------------------------------------------- */

static void wipe_value(const ProtobufCFieldDescriptor *f, void *member)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        char *s = *(char **)member;
        /* Unset strings point at protobuf-c's shared, read-only "". */
        if (s != NULL && s != protobuf_c_empty_string && *s != '\0')
            sodium_memzero(s, strlen(s));
        break;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *b = member;
        if (b->data != NULL && b->len > 0)
            sodium_memzero(b->data, b->len);
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        payload_wipe(*(ProtobufCMessage **)member);
        break;
    default:
        break;
    }
}

static size_t element_size(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    default:
        return 0; /* scalars hold nothing worth wiping */
    }
}

void payload_wipe(ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d;

    if (m == NULL)
        return;
    d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        uint8_t *member = (uint8_t *)m + f->offset;
        size_t size = element_size(f);

        if (size == 0)
            continue;
        /* Only the oneof member that is set holds a valid pointer. */
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0 &&
            *(const uint32_t *)((const uint8_t *)m + f->quantifier_offset) != f->id)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)((const uint8_t *)m + f->quantifier_offset);
            uint8_t *array = *(uint8_t **)member;
            for (size_t k = 0; array != NULL && k < n; k++)
                wipe_value(f, array + k * size);
        } else {
            wipe_value(f, member);
        }
    }
}

void payload_free(Tmbus__Payload__Payload *p)
{
    if (p == NULL)
        return;
    payload_wipe(&p->base);
    tmbus__payload__payload__free_unpacked(p, NULL);
}
