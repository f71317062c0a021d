/*
 * api_msg: reads a client's Request once into a struct api_msg, refusing
 * it in the order the client is told why: size, framing, unknown fields,
 * id, kind. A client that speaks a newer schema than ours is refused
 * rather than half understood.
 */
#include "api_msg.h"

#include <stdio.h>
#include <string.h>

#include "domain.h"

bool api_msg_has_unknown(const ProtobufCMessage *m)
{
    return m != NULL && m->n_unknown_fields > 0;
}

static bool request_has_unknown(const Tmbus__Api__Request *req)
{
    if (api_msg_has_unknown(&req->base))
        return true;
    switch (req->kind_case) {
    case TMBUS__API__REQUEST__KIND_POST:
        return api_msg_has_unknown(&req->post->base);
    case TMBUS__API__REQUEST__KIND_SUBSCRIBE:
        return api_msg_has_unknown(&req->subscribe->base);
    case TMBUS__API__REQUEST__KIND_ACK:
        return api_msg_has_unknown(&req->ack->base);
    case TMBUS__API__REQUEST__KIND_STATUS:
        return api_msg_has_unknown(&req->status->base);
    case TMBUS__API__REQUEST__KIND_BOARD:
        return api_msg_has_unknown(&req->board->base);
    case TMBUS__API__REQUEST__KIND_REPORT:
        return api_msg_has_unknown(&req->report->base);
    case TMBUS__API__REQUEST__KIND_DELIVERY:
        return api_msg_has_unknown(&req->delivery->base);
    case TMBUS__API__REQUEST__KIND_AUDIT:
        return api_msg_has_unknown(&req->audit->base);
    case TMBUS__API__REQUEST__KIND_ROSTER:
        return api_msg_has_unknown(&req->roster->base);
    default:
        return false;
    }
}

static int fail(enum api_msg_fault *fault, enum api_msg_fault why)
{
    *fault = why;
    return -1;
}

int api_msg_decode(const uint8_t *buf, size_t len, struct api_msg *out, enum api_msg_fault *fault)
{
    Tmbus__Api__Request *req;

    memset(out, 0, sizeof(*out));
    *fault = API_MSG_OK;
    if (len > API_MSG_MAX_REQUEST)
        return fail(fault, API_MSG_E_SIZE);
    if ((req = tmbus__api__request__unpack(NULL, len, buf)) == NULL)
        return fail(fault, API_MSG_E_MALFORMED);
    out->pb = req;
    out->id = req->id;
    if (request_has_unknown(req))
        return fail(fault, API_MSG_E_UNKNOWN_FIELD);
    if (req->id == 0)
        return fail(fault, API_MSG_E_NO_ID);
    switch (req->kind_case) {
    case TMBUS__API__REQUEST__KIND_POST:
        out->kind = API_MSG_POST;
        out->post = req->post;
        return 0;
    case TMBUS__API__REQUEST__KIND_SUBSCRIBE:
        out->kind = API_MSG_SUBSCRIBE;
        out->subscribe = req->subscribe;
        return 0;
    case TMBUS__API__REQUEST__KIND_ACK:
        out->kind = API_MSG_ACK;
        out->ack = req->ack;
        return 0;
    case TMBUS__API__REQUEST__KIND_STATUS:
        out->kind = API_MSG_STATUS;
        return 0;
    case TMBUS__API__REQUEST__KIND_BOARD:
        out->kind = API_MSG_BOARD;
        out->board = req->board;
        return 0;
    case TMBUS__API__REQUEST__KIND_REPORT:
        out->kind = API_MSG_REPORT;
        return 0;
    case TMBUS__API__REQUEST__KIND_DELIVERY:
        out->kind = API_MSG_DELIVERY;
        out->delivery = req->delivery;
        return 0;
    case TMBUS__API__REQUEST__KIND_AUDIT:
        out->kind = API_MSG_AUDIT;
        out->audit = req->audit;
        return 0;
    case TMBUS__API__REQUEST__KIND_ROSTER:
        out->kind = API_MSG_ROSTER;
        out->roster = req->roster;
        return 0;
    default:
        return fail(fault, API_MSG_E_NO_KIND);
    }
}

void api_msg_clear(struct api_msg *m)
{
    if (m->pb != NULL)
        tmbus__api__request__free_unpacked(m->pb, NULL);
    memset(m, 0, sizeof(*m));
}

/* ---- board queries -------------------------------------------------------- */

static int refuse(char *why, size_t why_size, const char *reason)
{
    snprintf(why, why_size, "%s", reason);
    return -1;
}

/* A status named exactly as the board reports it. */
static int exact_status(enum domain_enum e, const char *name)
{
    for (int i = 1; i <= domain_max(e); i++)
        if (strcmp(name, domain_name(e, i)) == 0)
            return i;
    return -1;
}

static bool is_filtered(const Tmbus__Api__BoardQuery *q)
{
    return q->limit != 0 || q->after.len != 0 || q->n_statuses != 0 || q->n_categories != 0 ||
           q->n_members != 0 || q->n_priorities != 0 || q->updated_since != 0 ||
           (q->id_prefix != NULL && q->id_prefix[0] != '\0');
}

static int read_codes(const uint32_t *in, size_t n, enum domain_enum e, uint32_t *out,
                      const char *what, char *why, size_t why_size)
{
    for (size_t i = 0; i < n; i++) {
        if (in[i] < 1 || in[i] > (uint32_t)domain_max(e)) {
            snprintf(why, why_size, "unknown %s %u", what, (unsigned)in[i]);
            return -1;
        }
        out[i] = in[i];
    }
    return 0;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The ids a hex prefix covers: from the prefix padded with zeros up to
 * (not including) the prefix plus one, unless the prefix is all f. */
static int read_prefix(const char *prefix, struct api_board_query *out, char *why, size_t why_size)
{
    size_t len = strnlen(prefix, 2 * ENVELOPE_HASH_BYTES + 1);
    int carry = 1;

    if (len == 0)
        return 0;
    if (len > 2 * ENVELOPE_HASH_BYTES)
        return refuse(why, why_size, "id_prefix is longer than 64 hex digits");
    for (size_t i = 0; i < len; i++) {
        int d = hex_digit(prefix[i]);
        if (d < 0)
            return refuse(why, why_size, "id_prefix is not hex digits");
        out->id_from[i / 2] |= (uint8_t)(i % 2 == 0 ? d << 4 : d);
    }
    memcpy(out->id_to, out->id_from, sizeof(out->id_to));
    /* Add one at the prefix's last digit. */
    for (size_t i = len; i-- > 0 && carry;) {
        int shift = i % 2 == 0 ? 4 : 0;
        int d = ((out->id_to[i / 2] >> shift) & 0xf) + 1;
        carry = d > 0xf;
        out->id_to[i / 2] = (uint8_t)((out->id_to[i / 2] & ~(0xf << shift)) | ((d & 0xf) << shift));
    }
    out->has_prefix = true;
    out->has_to = !carry;
    return 0;
}

static int read_cursor(const Tmbus__Api__BoardQuery *q, struct api_board_query *out, char *why,
                       size_t why_size)
{
    if (q->after.len == 0)
        return 0;
    if (q->after.len != API_BOARD_CURSOR_BYTES || q->after.data[0] != API_BOARD_CURSOR_V1 ||
        q->after.data[1] != (uint8_t)out->list)
        return refuse(why, why_size, "after is not a cursor this node gave for that list");
    out->has_after = true;
    memcpy(out->after, q->after.data + 2, ENVELOPE_HASH_BYTES);
    return 0;
}

int api_msg_board_query(const Tmbus__Api__BoardQuery *q, struct api_board_query *out, char *why,
                        size_t why_size)
{
    enum domain_enum own;

    memset(out, 0, sizeof(*out));
    out->need_status = -1;
    if (q->list != TMBUS__API__BOARD_LIST__BOARD_LIST_BOTH &&
        q->list != TMBUS__API__BOARD_LIST__BOARD_LIST_NEEDS &&
        q->list != TMBUS__API__BOARD_LIST__BOARD_LIST_OFFERS)
        return refuse(why, why_size, "unknown board list");
    out->list = (enum api_board_list)q->list;
    if (q->need_id.len != 0 && q->need_id.len != ENVELOPE_HASH_BYTES)
        return refuse(why, why_size, "need_id must be empty or 32 bytes");
    out->need_id = q->need_id.len != 0 ? q->need_id.data : NULL;
    if (q->need_status != NULL && q->need_status[0] != '\0' &&
        (out->need_status = exact_status(DOMAIN_NEED_STATUS, q->need_status)) < 0)
        return refuse(why, why_size, "unknown need status");
    if (out->list == API_BOARD_BOTH) {
        /* The original query keeps its meaning; pages and filters are the
         * lists' own. */
        if (is_filtered(q))
            return refuse(why, why_size, "limit, after and filters need list needs or offers");
        out->limit = API_BOARD_PAGE_MAX;
        return 0;
    }
    if (q->limit > API_BOARD_PAGE_MAX)
        return refuse(why, why_size, "limit is over 1000");
    out->limit = q->limit != 0 ? q->limit : API_BOARD_PAGE_DEFAULT;
    if (read_cursor(q, out, why, why_size) != 0)
        return -1;
    if (q->n_statuses > API_BOARD_FILTER_MAX || q->n_categories > API_BOARD_FILTER_MAX ||
        q->n_members > API_BOARD_FILTER_MAX || q->n_priorities > API_BOARD_FILTER_MAX)
        return refuse(why, why_size, "a filter names more than 16 values");
    own = out->list == API_BOARD_NEEDS ? DOMAIN_NEED_STATUS : DOMAIN_OFFER_STATUS;
    for (size_t i = 0; i < q->n_statuses; i++) {
        if (q->statuses[i] == NULL || (out->statuses[i] = exact_status(own, q->statuses[i])) < 0)
            return refuse(why, why_size,
                          out->list == API_BOARD_NEEDS ? "unknown need status"
                                                       : "unknown offer status");
    }
    out->n_statuses = q->n_statuses;
    if (out->list == API_BOARD_OFFERS && (q->n_categories != 0 || q->n_priorities != 0))
        return refuse(why, why_size, "categories and priorities filter needs, not offers");
    if (read_codes(q->categories, q->n_categories, DOMAIN_CATEGORY, out->categories, "category",
                   why, why_size) != 0 ||
        read_codes(q->priorities, q->n_priorities, DOMAIN_PRIORITY, out->priorities, "priority",
                   why, why_size) != 0)
        return -1;
    out->n_categories = q->n_categories;
    out->n_priorities = q->n_priorities;
    for (size_t i = 0; i < q->n_members; i++) {
        if (q->members[i] == NULL ||
            !domain_is_member_id(q->members[i], strnlen(q->members[i], WIRE_MEMBER_ID_MAX + 1)))
            return refuse(why, why_size, "a member filter is not a member id");
        out->members[i] = q->members[i];
    }
    out->n_members = q->n_members;
    if (q->updated_since < 0)
        return refuse(why, why_size, "updated_since is negative");
    out->updated_since = q->updated_since;
    return read_prefix(q->id_prefix != NULL ? q->id_prefix : "", out, why, why_size);
}

void api_msg_board_cursor(enum api_board_list list, const uint8_t *id,
                          uint8_t out[API_BOARD_CURSOR_BYTES])
{
    out[0] = API_BOARD_CURSOR_V1;
    out[1] = (uint8_t)list;
    memcpy(out + 2, id, ENVELOPE_HASH_BYTES);
}
