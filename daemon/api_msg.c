/*
 * api_msg: reads a client's Request once into a struct api_msg, refusing
 * it in the order the client is told why: size, framing, unknown fields,
 * id, kind. A client that speaks a newer schema than ours is refused
 * rather than half understood.
 */
#include "api_msg.h"

#include <string.h>

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
