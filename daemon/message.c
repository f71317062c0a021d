/*
 * message: decodes a Payload once into a view, judges it once by the
 * shared field rules (proto/validate), and keeps the payload rules shared
 * by the api, the route and the board (the role rule, the TLP rule).
 * The view owns the unpacked protobuf; the bytes stay the caller's. Nothing
 * here touches the store, a socket or a key, and nothing logs.
 */
#include "message.h"

#include <stdio.h>
#include <string.h>

#include "payload.pb-c.h"
#include "validate.h"
#include "wire_limits.h"

_Static_assert((int)MESSAGE_NEED == (int)TMBUS__PAYLOAD__PAYLOAD__KIND_NEED, "kind numbers");
_Static_assert((int)MESSAGE_OFFER == (int)TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER, "kind numbers");
_Static_assert((int)MESSAGE_NEED_UPDATE == (int)TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_UPDATE,
               "kind numbers");
_Static_assert((int)MESSAGE_OFFER_UPDATE == (int)TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER_UPDATE,
               "kind numbers");
_Static_assert((int)MESSAGE_RECEIPT == (int)TMBUS__PAYLOAD__PAYLOAD__KIND_RECEIPT, "kind numbers");
_Static_assert((int)MESSAGE_NEED_SHARE == (int)TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_SHARE,
               "kind numbers");
_Static_assert(MESSAGE_WHY_MAX >= VALIDATE_WHY_MAX, "room for the field rules' reason");
_Static_assert((int)MESSAGE_TLP_CLEAR == (int)TMBUS__PAYLOAD__TLP__TLP_CLEAR, "TLP numbers");
_Static_assert((int)MESSAGE_TLP_AMBER_STRICT == (int)TMBUS__PAYLOAD__TLP__TLP_AMBER_STRICT,
               "TLP numbers");
_Static_assert((int)MESSAGE_TLP_RED == (int)TMBUS__PAYLOAD__TLP__TLP_RED, "TLP numbers");

static bool has_unknown_fields(const ProtobufCMessage *m)
{
    return m != NULL && m->n_unknown_fields > 0;
}

/* Unknown fields anywhere a reader of p looks. */
static bool payload_has_unknown(const Tmbus__Payload__Payload *p)
{
    if (has_unknown_fields(&p->base))
        return true;
    switch (p->kind_case) {
    case TMBUS__PAYLOAD__PAYLOAD__KIND_NEED:
        return has_unknown_fields(&p->need->base);
    case TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER:
        return has_unknown_fields(&p->offer->base);
    case TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_UPDATE:
        return has_unknown_fields(&p->need_update->base) ||
               (p->need_update->need != NULL && has_unknown_fields(&p->need_update->need->base));
    case TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER_UPDATE:
        return has_unknown_fields(&p->offer_update->base);
    case TMBUS__PAYLOAD__PAYLOAD__KIND_RECEIPT:
        if (has_unknown_fields(&p->receipt->base))
            return true;
        for (size_t i = 0; i < p->receipt->n_entries; i++)
            if (has_unknown_fields(&p->receipt->entries[i]->base))
                return true;
        return false;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_SHARE:
        return has_unknown_fields(&p->need_share->base) ||
               (p->need_share->need != NULL && has_unknown_fields(&p->need_share->need->base));
    default:
        return false;
    }
}

int message_decode(const uint8_t *payload, size_t len, struct message *m)
{
    Tmbus__Payload__Payload *p;

    memset(m, 0, sizeof(*m));
    m->bytes = payload;
    m->len = len;
    m->fault = VALIDATE_MALFORMED;
    snprintf(m->why, sizeof(m->why), "the payload is not a tmbus.payload.Payload");
    if ((p = tmbus__payload__payload__unpack(NULL, len, payload)) == NULL)
        return -1;
    m->pb = p;
    m->is_payload = true;
    m->kind = (enum message_kind)p->kind_case;
    if (p->kind_case < TMBUS__PAYLOAD__PAYLOAD__KIND_NEED ||
        p->kind_case > TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_SHARE)
        m->kind = MESSAGE_NONE;
    m->has_unknown = payload_has_unknown(p);
    m->fault = (int)validate_payload(p, m->why, sizeof(m->why));
    return 0;
}

void message_clear(struct message *m)
{
    if (m->pb != NULL)
        tmbus__payload__payload__free_unpacked(m->pb, NULL);
    memset(m, 0, sizeof(*m));
}

bool message_is_sound(const struct message *m)
{
    return m->is_payload && m->kind != MESSAGE_NONE && m->fault == VALIDATE_OK;
}

bool message_role_allows(enum message_kind kind, int role, const char **why)
{
    if (kind == MESSAGE_RECEIPT)
        return true;
    if (role == ROSTER_ROLE_OBSERVER) {
        *why = "observers read only";
        return false;
    }
    if ((kind == MESSAGE_NEED || kind == MESSAGE_NEED_SHARE) && role != ROSTER_ROLE_BENEFICIARY &&
        role != ROSTER_ROLE_COORDINATOR) {
        *why = "only the beneficiary and coordinators post needs";
        return false;
    }
    if (kind == MESSAGE_OFFER && role != ROSTER_ROLE_DONOR && role != ROSTER_ROLE_COORDINATOR) {
        *why = "only donors and coordinators post offers";
        return false;
    }
    return true;
}

/* True when recipients name every member of roster r. */
static bool covers_roster(const struct roster *r, const char *const *recipients, size_t n)
{
    size_t count = roster_member_count(r);

    for (size_t i = 0; i < count; i++) {
        struct roster_member m;
        bool is_named = false;

        roster_member_at(r, i, &m);
        for (size_t j = 0; j < n && !is_named; j++)
            is_named = strcmp(recipients[j], m.id) == 0;
        if (!is_named)
            return false;
    }
    return true;
}

int message_tlp(const struct message *m, const struct roster *r, const char *const *recipients,
                size_t n, bool is_direct)
{
    const Tmbus__Payload__Payload *p = m->pb;
    int label = 0;

    switch (p->kind_case) {
    case TMBUS__PAYLOAD__PAYLOAD__KIND_NEED:
        label = p->need->tlp;
        if (label == 0)
            return 0;
        break;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER:
        label = p->offer->tlp;
        if (label == 0)
            return 0;
        break;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_UPDATE:
        if (p->need_update->action == TMBUS__PAYLOAD__NEED_UPDATE__ACTION__ACTION_EDIT &&
            p->need_update->need != NULL)
            label = p->need_update->need->tlp;
        break;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_RECEIPT:
        label = MESSAGE_TLP_GREEN;
        break;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_SHARE:
        label = p->need_share->need != NULL ? (int)p->need_share->need->tlp : 0;
        if (label == 0)
            return 0;
        break;
    default:
        break;
    }
    if (label < 0 || label > MESSAGE_TLP_RED)
        return -1;
    if (label == 0)
        label = covers_roster(r, recipients, n) ? MESSAGE_TLP_GREEN : MESSAGE_TLP_AMBER;
    return (int)message_tlp_in_log((uint32_t)label, is_direct);
}

uint32_t message_tlp_in_log(uint32_t label, bool is_direct)
{
    return is_direct ? MESSAGE_TLP_RED : label;
}

const uint8_t *message_referent(const struct message *m, bool *is_offer)
{
    const Tmbus__Payload__Payload *p = m->pb;
    const ProtobufCBinaryData *id = NULL;

    *is_offer = false;
    if (!m->is_payload)
        return NULL;
    switch (p->kind_case) {
    case TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER:
        id = &p->offer->need_id;
        break;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_UPDATE:
        id = &p->need_update->need_id;
        break;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER_UPDATE:
        id = &p->offer_update->offer_id;
        *is_offer = true;
        break;
    default:
        return NULL;
    }
    return id->len == WIRE_ID_BYTES ? id->data : NULL;
}

uint32_t message_stated_tlp(const struct message *m)
{
    const Tmbus__Payload__Payload *p = m->pb;
    int label = 0;

    if (!m->is_payload)
        return 0;
    switch (p->kind_case) {
    case TMBUS__PAYLOAD__PAYLOAD__KIND_NEED:
        label = p->need->tlp;
        break;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER:
        label = p->offer->tlp;
        break;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_UPDATE:
        if (p->need_update->need != NULL)
            label = p->need_update->need->tlp;
        break;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_SHARE:
        if (p->need_share->need != NULL)
            label = p->need_share->need->tlp;
        break;
    default:
        break;
    }
    return label > 0 && label <= MESSAGE_TLP_RED ? (uint32_t)label : 0;
}
