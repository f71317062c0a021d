/*
 * peer_msg: reads a PeerMessage once into a struct peer_msg. Limits are
 * checked before anything is copied: the frame against PEER_MSG_MAX_FRAME,
 * a vector against PEER_MSG_MAX_LOGS. Log names that are not member ids
 * are dropped here, so that no caller copies a name it did not check;
 * whether a well-formed name can exist for a given pair of members is
 * peer_msg_log_may_exist's rule, which the link applies.
 */
#include "peer_msg.h"

#include <stdlib.h>
#include <string.h>

#include "peer.pb-c.h"

typedef Tmbus__Peer__PeerMessage PeerMessage;
typedef Tmbus__Peer__VectorEntry VectorEntry;

static bool is_log(const VectorEntry *e)
{
    return util_is_member_id(e->origin, strlen(e->origin)) &&
           (e->peer[0] == '\0' || util_is_member_id(e->peer, strlen(e->peer))) &&
           (e->head.len == 0 || e->head.len == ENVELOPE_HASH_BYTES);
}

/* Copies the well-formed entries of e[0..n). Returns 0 or -1 (ENOMEM). */
static int take_logs(struct peer_msg *m, VectorEntry **e, size_t n)
{
    m->n_sent = n;
    if (n == 0)
        return 0;
    if ((m->logs = calloc(n, sizeof(*m->logs))) == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct peer_msg_log *l = &m->logs[m->n_logs];
        if (!is_log(e[i]))
            continue;
        strcpy(l->origin, e[i]->origin);
        strcpy(l->peer, e[i]->peer);
        l->seq = e[i]->seq;
        l->has_head = e[i]->head.len == ENVELOPE_HASH_BYTES;
        if (l->has_head)
            memcpy(l->head, e[i]->head.data, ENVELOPE_HASH_BYTES);
        m->n_logs++;
    }
    return 0;
}

static int fail(enum peer_msg_fault *fault, enum peer_msg_fault why)
{
    *fault = why;
    return -1;
}

int peer_msg_decode(const uint8_t *buf, size_t len, struct peer_msg *out,
                    enum peer_msg_fault *fault)
{
    PeerMessage *m;

    memset(out, 0, sizeof(*out));
    *fault = PEER_MSG_OK;
    if (len > PEER_MSG_MAX_FRAME)
        return fail(fault, PEER_MSG_E_SIZE);
    if ((m = tmbus__peer__peer_message__unpack(NULL, len, buf)) == NULL)
        return fail(fault, PEER_MSG_E_MALFORMED);
    out->pb = m;
    if (m->base.n_unknown_fields != 0)
        return fail(fault, PEER_MSG_E_MALFORMED);
    switch (m->kind_case) {
    case TMBUS__PEER__PEER_MESSAGE__KIND_HELLO:
        out->kind = PEER_MSG_HELLO;
        out->version = m->hello->version;
        out->roster_version = m->hello->roster_version;
        out->is_reply = m->hello->reply;
        out->n_sent = m->hello->n_vector;
        if (m->hello->version != PEER_MSG_VERSION || m->hello->n_vector > PEER_MSG_MAX_LOGS)
            return fail(fault, PEER_MSG_E_HELLO);
        if (take_logs(out, m->hello->vector, m->hello->n_vector) == -1)
            return fail(fault, PEER_MSG_E_MALFORMED);
        return 0;
    case TMBUS__PEER__PEER_MESSAGE__KIND_VECTOR:
        out->kind = PEER_MSG_VECTOR;
        out->n_sent = m->vector->n_entries;
        if (m->vector->n_entries > PEER_MSG_MAX_LOGS)
            return fail(fault, PEER_MSG_E_VECTOR);
        if (take_logs(out, m->vector->entries, m->vector->n_entries) == -1)
            return fail(fault, PEER_MSG_E_MALFORMED);
        return 0;
    case TMBUS__PEER__PEER_MESSAGE__KIND_ENVELOPE:
        out->kind = PEER_MSG_ENVELOPE;
        out->envelope = m->envelope.data;
        out->envelope_len = m->envelope.len;
        return 0;
    case TMBUS__PEER__PEER_MESSAGE__KIND_HEARTBEAT:
        out->kind = PEER_MSG_HEARTBEAT;
        return 0;
    case TMBUS__PEER__PEER_MESSAGE__KIND_FETCH:
        out->kind = PEER_MSG_FETCH;
        if (take_logs(out, &m->fetch, 1) == -1 || out->n_logs != 1)
            return fail(fault, PEER_MSG_E_MALFORMED);
        return 0;
    default:
        return fail(fault, PEER_MSG_E_KIND);
    }
}

bool peer_msg_log_may_exist(const struct peer_msg_log *log, const char *peer, const char *self,
                            peer_msg_is_member_fn is_member, void *arg)
{
    if (log->peer[0] == '\0')
        return is_member(arg, log->origin);
    return (strcmp(log->origin, peer) == 0 && strcmp(log->peer, self) == 0) ||
           (strcmp(log->origin, self) == 0 && strcmp(log->peer, peer) == 0);
}

void peer_msg_clear(struct peer_msg *m)
{
    free(m->logs);
    if (m->pb != NULL)
        tmbus__peer__peer_message__free_unpacked(m->pb, NULL);
    memset(m, 0, sizeof(*m));
}
