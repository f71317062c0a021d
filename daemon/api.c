/*
 * api: the client socket. Reads one Request per message from a CurveZMQ
 * ROUTER, has api_msg decode it, checks who sent it against the running
 * configuration (the key that authenticated the connection, looked up on
 * every request, so a reload that removes or replaces a key shuts that key
 * out at once, open connections included) and dispatches it; answers posts and acks only after the
 * node's commit. The policy lives beside it: api_post.c, api_sub.c and
 * api_query.c. Never logs payloads.
 */
#include "api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "api_internal.h"
#include "keys.h"
#include "log.h"
#include "stats.h"
#include "store.h"
#include "zap.h"

/* Always the running configuration: a SIGHUP may have swapped it. */
const struct config_client *api_find_client(const struct api *a, const uint8_t *key)
{
    return config_find_client(a->cfg, key);
}

bool api_client_may_post(const struct config_client *c)
{
    return c->role == CONFIG_ROLE_POSTER || c->role == CONFIG_ROLE_ADMIN;
}

/* ---- sending ------------------------------------------------------------ */

/* Sends one Reply to the connection rid without blocking. A delivery's
 * bytes hold a payload in clear, so is_secret wipes them after use.
 * Returns 0, or -1 with errno EHOSTUNREACH (the connection is gone) or
 * EAGAIN (its queue is full). */
int api_send_reply(struct api *a, const uint8_t *rid, size_t rid_len, const Tmbus__Api__Reply *r,
                   bool is_secret)
{
    size_t len = tmbus__api__reply__get_packed_size(r);
    uint8_t *buf = malloc(len ? len : 1);
    int rc = -1, err = 0;

    if (buf == NULL) {
        log_warnx("api: out of memory for a %zu-byte reply", len);
        errno = ENOMEM;
        return -1;
    }
    tmbus__api__reply__pack(r, buf);
    if (zmq_send(a->socket, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) == -1 ||
        zmq_send(a->socket, buf, len, ZMQ_DONTWAIT) == -1)
        err = errno;
    else
        rc = 0;
    if (is_secret)
        explicit_bzero(buf, len);
    free(buf);
    errno = err;
    return rc;
}

/* Answers a request; a reply that cannot be sent is dropped (the client
 * times out and may ask again). */
void api_answer(struct api *a, const uint8_t *rid, size_t rid_len, Tmbus__Api__Reply *r)
{
    if (api_send_reply(a, rid, rid_len, r, false) == -1)
        log_debug("api: reply to request %llu dropped: %s", (unsigned long long)r->id,
                  zmq_strerror(errno));
}

void api_answer_code(struct api *a, const uint8_t *rid, size_t rid_len, uint64_t id,
                     Tmbus__Api__Code code, const char *reason)
{
    Tmbus__Api__Reply r = TMBUS__API__REPLY__INIT;

    r.id = id;
    r.code = code;
    r.reason = (char *)reason;
    api_answer(a, rid, rid_len, &r);
}

/* Every refusal: one log line (never the payload), one counter, one reply
 * with a code and a reason. counter is a static string. */
void api_reject(struct api *a, const struct request *rq, Tmbus__Api__Code code, const char *counter,
                const char *reason)
{
    log_warnx("api: client %s: request %llu refused: %s", rq->name ? rq->name : "(unknown)",
              (unsigned long long)rq->id, reason);
    stats_count(a->stats, counter, 1);
    a->n_refused++;
    api_note(a, rq, AUDIT_REFUSED, NULL, 0, reason);
    api_answer_code(a, rq->rid, rq->rid_len, rq->id, code, reason);
}

/* ---- requests ----------------------------------------------------------- */

void api_note(struct api *a, const struct request *rq, enum audit_outcome o, const uint8_t *id,
              uint64_t seq, const char *detail)
{
    struct audit_entry e = {.kind = rq->kind != 0 ? rq->kind : AUDIT_QUERY,
                            .outcome = o,
                            .actor_kind = AUDIT_BY_CLIENT,
                            .has_key = true,
                            .seq = seq};

    if (a->audit == NULL)
        return;
    snprintf(e.actor, sizeof(e.actor), "%s", rq->name != NULL ? rq->name : "");
    memcpy(e.key, rq->key, sizeof(e.key));
    snprintf(e.detail, sizeof(e.detail), "%s",
             detail != NULL     ? detail
             : rq->what != NULL ? rq->what
                                : "");
    if (id != NULL) {
        e.has_id = true;
        memcpy(e.id, id, sizeof(e.id));
    }
    audit_record(a->audit, &e);
}

/* The audit kind and name of a decoded request. */
static void name_request(struct request *rq, enum api_msg_kind kind)
{
    static const struct {
        enum audit_kind kind;
        const char *what;
    } names[] = {
        [API_MSG_POST] = {AUDIT_POST, "post"},
        [API_MSG_SUBSCRIBE] = {AUDIT_QUERY, "subscribe"},
        [API_MSG_ACK] = {AUDIT_ACK, "ack"},
        [API_MSG_STATUS] = {AUDIT_QUERY, "status"},
        [API_MSG_BOARD] = {AUDIT_QUERY, "board"},
        [API_MSG_REPORT] = {AUDIT_QUERY, "report"},
        [API_MSG_DELIVERY] = {AUDIT_QUERY, "delivery"},
        [API_MSG_AUDIT] = {AUDIT_QUERY, "audit"},
        [API_MSG_ROSTER] = {AUDIT_ROSTER, "roster"},
    };

    if ((size_t)kind < sizeof(names) / sizeof(names[0]) && names[kind].what != NULL) {
        rq->kind = names[kind].kind;
        rq->what = names[kind].what;
    }
}

struct pending *api_add_pending(struct api *a, enum pending_kind kind, const struct request *rq)
{
    struct pending *p;

    if (a->n_pending == a->cap_pending) {
        size_t cap = a->cap_pending ? 2 * a->cap_pending : 16;
        p = realloc(a->pending, cap * sizeof(*p));
        ensure(p != NULL);
        a->pending = p;
        a->cap_pending = cap;
    }
    p = &a->pending[a->n_pending++];
    memset(p, 0, sizeof(*p));
    p->kind = kind;
    memcpy(p->rid, rq->rid, rq->rid_len);
    p->rid_len = rq->rid_len;
    p->request_id = rq->id;
    snprintf(p->client, sizeof(p->client), "%s", rq->name);
    memcpy(p->key, rq->key, sizeof(p->key));
    return p;
}

/* Answers a request that api_msg_decode refused. */
static void refuse(struct api *a, const struct request *rq, enum api_msg_fault fault)
{
    switch (fault) {
    case API_MSG_E_SIZE:
        api_reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.too-large",
                   "request larger than the node accepts");
        break;
    case API_MSG_E_MALFORMED:
        api_reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.malformed",
                   "not a tmbus.api.Request");
        break;
    case API_MSG_E_UNKNOWN_FIELD:
        api_reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.unknown-field",
                   "the request has fields this node does not know");
        break;
    case API_MSG_E_NO_ID:
        api_reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.no-id",
                   "request id must not be 0");
        break;
    case API_MSG_E_NO_KIND:
    case API_MSG_OK:
        api_reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.no-kind",
                   "the request asks for nothing this node knows");
        break;
    }
}

static void on_request(struct api *a, struct request *rq, bool has_key, const uint8_t *data,
                       size_t len)
{
    struct api_msg m;
    enum api_msg_fault fault;
    uint64_t refused;
    /* Decoded first only so that a refusal can echo the request's id. */
    int rc = api_msg_decode(data, len, &m, &fault);

    rq->id = m.id;
    if (!has_key || (rq->client = api_find_client(a, rq->key)) == NULL) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_DENIED, "api.rejected.unknown-client",
                   "this client key is not (or no longer) configured on this node");
        api_msg_clear(&m);
        return;
    }
    rq->name = rq->client->name;
    if (rc == -1) {
        refuse(a, rq, fault);
        api_msg_clear(&m);
        return;
    }
    name_request(rq, m.kind);
    /* A revoked member's node serves nothing but what its operator needs
     * to see why: its peers refuse it anyway, so a post could reach no
     * one, and its clients should hear so at once. */
    if (a->revoked[0] != '\0' && m.kind != API_MSG_STATUS && m.kind != API_MSG_AUDIT) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_DENIED, "api.rejected.member-revoked", a->revoked);
        api_msg_clear(&m);
        return;
    }
    refused = a->n_refused;
    switch (m.kind) {
    case API_MSG_POST:
        api_on_post(a, rq, m.post);
        break;
    case API_MSG_SUBSCRIBE:
        api_on_subscribe(a, rq, m.subscribe);
        break;
    case API_MSG_ACK:
        api_on_ack(a, rq, m.ack);
        break;
    case API_MSG_STATUS:
        api_on_status(a, rq);
        break;
    case API_MSG_BOARD:
        api_on_board(a, rq, m.board);
        break;
    case API_MSG_REPORT:
        api_on_report(a, rq);
        break;
    case API_MSG_DELIVERY:
        api_on_delivery(a, rq, m.delivery);
        break;
    case API_MSG_AUDIT:
        api_on_audit(a, rq, m.audit);
        break;
    case API_MSG_ROSTER:
        api_on_roster(a, rq, m.roster);
        break;
    }
    /* A post is recorded with its envelope where it is sealed. */
    if (a->n_refused == refused && m.kind != API_MSG_POST)
        api_note(a, rq, AUDIT_OK, NULL, m.kind == API_MSG_ACK ? m.ack->number : 0, NULL);
    api_msg_clear(&m);
}

static bool has_more(void *socket)
{
    int more = 0;
    size_t more_len = sizeof(more);

    return zmq_getsockopt(socket, ZMQ_RCVMORE, &more, &more_len) == 0 && more;
}

/* The loop callback: reads at most limits.batch_max messages, so a busy
 * client cannot starve the peers; zmq_poll calls again while more wait.
 * Nothing bounds a client to one post in flight: every post read here
 * is sealed into the round's open batch, all of them commit in the one
 * transaction that ends the round, and each is answered after it (a
 * client's posts in flight are bounded by its pipe in libzmq and, per
 * round, by batch_max). */
static void on_ready(void *arg)
{
    struct api *a = arg;

    for (uint32_t i = 0; i < a->cfg->batch_max; i++) {
        zmq_msg_t rid, msg;
        struct request rq = {0};
        bool is_extra = false;

        zmq_msg_init(&rid);
        if (zmq_msg_recv(&rid, a->socket, ZMQ_DONTWAIT) == -1) {
            zmq_msg_close(&rid);
            break;
        }
        zmq_msg_init(&msg);
        if (has_more(a->socket))
            zmq_msg_recv(&msg, a->socket, 0);
        while (has_more(a->socket)) {
            zmq_msg_t extra;
            zmq_msg_init(&extra);
            zmq_msg_recv(&extra, a->socket, 0);
            zmq_msg_close(&extra);
            is_extra = true;
        }
        rq.rid = zmq_msg_data(&rid);
        rq.rid_len = zmq_msg_size(&rid);
        /* The key that completed the handshake, as the ZAP handler
         * recorded it; nothing in the request can claim another. */
        bool has_key = zap_message_key(&msg, rq.key) == 0;
        if (rq.rid_len == 0 || rq.rid_len > API_ROUTING_MAX) {
            stats_count(a->stats, "api.rejected.routing-id", 1);
            log_warnx("api: dropped a message with a bad routing id");
        } else if (is_extra) {
            api_reject(a, &rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.frames",
                       "one frame per request");
        } else {
            on_request(a, &rq, has_key, zmq_msg_data(&msg), zmq_msg_size(&msg));
        }
        zmq_msg_close(&msg);
        zmq_msg_close(&rid);
    }
}

/* ---- commit ------------------------------------------------------------- */

static void answer_receipt(struct api *a, const struct pending *p)
{
    Tmbus__Api__Reply r = TMBUS__API__REPLY__INIT;
    Tmbus__Api__Receipt receipt = TMBUS__API__RECEIPT__INIT;
    Tmbus__Api__Receipt__Placed placed[ENVELOPE_MAX_RECIPIENTS];
    Tmbus__Api__Receipt__Placed *ptrs[ENVELOPE_MAX_RECIPIENTS];

    for (size_t i = 0; i < p->n_placed; i++) {
        tmbus__api__receipt__placed__init(&placed[i]);
        placed[i].id.data = p->placed[i].id;
        placed[i].id.len = ENVELOPE_HASH_BYTES;
        placed[i].log_peer = p->placed[i].log_peer;
        placed[i].seq = p->placed[i].seq;
        ptrs[i] = &placed[i];
    }
    receipt.n_placed = p->n_placed;
    receipt.placed = ptrs;
    r.id = p->request_id;
    r.kind_case = TMBUS__API__REPLY__KIND_RECEIPT;
    r.receipt = &receipt;
    api_answer(a, p->rid, p->rid_len, &r);
}

void api_after_commit(void *arg, bool is_committed)
{
    struct api *a = arg;

    if (a == NULL)
        return;
    for (size_t i = 0; i < a->n_pending; i++) {
        struct pending *p = &a->pending[i];
        if (!is_committed) {
            log_warnx("api: client %s: request %llu not committed", p->client,
                      (unsigned long long)p->request_id);
            stats_count(a->stats, "api.rejected.not-committed", 1);
            api_answer_code(a, p->rid, p->rid_len, p->request_id, TMBUS__API__CODE__CODE_INTERNAL,
                            store_is_full(a->store) ? API_STORE_FULL : "not committed, retry");
        } else if (p->kind == PENDING_POST) {
            stats_count(a->stats, "api.posted", 1);
            answer_receipt(a, p);
        } else if (p->kind == PENDING_ROSTER) {
            api_answer_roster(a, p->rid, p->rid_len, p->request_id);
        } else {
            api_apply_ack(a, p);
        }
        free(p->placed);
    }
    a->n_pending = 0;
    if (is_committed)
        api_pump_all(a);
}

bool api_is_waiting(void *arg)
{
    struct api *a = arg;
    int events = 0;
    size_t len = sizeof(events);

    if (a->n_pending > 0)
        return true;
    return zmq_getsockopt(a->socket, ZMQ_EVENTS, &events, &len) == 0 && (events & ZMQ_POLLIN);
}

/* ---- life --------------------------------------------------------------- */

static int set_int(void *s, int option, int value)
{
    return zmq_setsockopt(s, option, &value, sizeof(value));
}

struct api *api_new(const struct api_parts *parts)
{
    struct api *a = calloc(1, sizeof(*a));
    int64_t hard_max = API_HARD_MAX;

    if (a == NULL) {
        log_warnx("api: out of memory");
        return NULL;
    }
    a->cfg = parts->cfg;
    a->loop = parts->loop;
    a->store = parts->store;
    a->route = parts->route;
    a->stats = parts->stats;
    a->audit = parts->audit;
    a->on_roster = parts->on_roster;
    a->roster_arg = parts->roster_arg;
    a->peers = parts->peers;
    a->started_ms = loop_now_ms();
    if ((a->socket = zmq_socket(parts->zctx, ZMQ_ROUTER)) == NULL ||
        set_int(a->socket, ZMQ_LINGER, 0) || set_int(a->socket, ZMQ_ROUTER_MANDATORY, 1) ||
        set_int(a->socket, ZMQ_CURVE_SERVER, 1) ||
        set_int(a->socket, ZMQ_HEARTBEAT_IVL, API_HEARTBEAT_MS) ||
        set_int(a->socket, ZMQ_HEARTBEAT_TIMEOUT, API_HEARTBEAT_TIMEOUT_MS) ||
        zmq_setsockopt(a->socket, ZMQ_MAXMSGSIZE, &hard_max, sizeof(hard_max)) ||
        zmq_setsockopt(a->socket, ZMQ_CURVE_PUBLICKEY, parts->keys->transport_pk,
                       KEYS_PUBLIC_BYTES) ||
        zmq_setsockopt(a->socket, ZMQ_CURVE_SECRETKEY, keys_transport_secret(parts->keys),
                       KEYS_CURVE_SECRET_BYTES) ||
        zmq_setsockopt(a->socket, ZMQ_ZAP_DOMAIN, "client", 6) ||
        zmq_bind(a->socket, a->cfg->client_listen) == -1) {
        log_warnx("api: cannot listen for clients on %s: %s", a->cfg->client_listen,
                  zmq_strerror(errno));
        api_free(&a);
        return NULL;
    }
    if (loop_add_socket(a->loop, a->socket, on_ready, a) == -1 ||
        (a->watch = zap_watch_new(parts->zctx, a->socket, "client", "zap.handshake-failed.client",
                                  a->stats)) == NULL ||
        loop_add_socket(a->loop, zap_watch_socket(a->watch), zap_watch_on_ready, a->watch) == -1) {
        api_free(&a);
        return NULL;
    }
    log_info("api: listening for clients on %s", a->cfg->client_listen);
    return a;
}

void api_reload(struct api *a, const struct config *cfg)
{
    a->cfg = cfg;
    api_end_stale_subs(a);
}

void api_set_revoked(struct api *a, const char *why)
{
    if (why == NULL) {
        if (a->revoked[0] != '\0')
            log_info("api: this member is in the roster again: serving clients");
        a->revoked[0] = '\0';
        return;
    }
    if (a->revoked[0] == '\0')
        log_warnx("api: %s: ending %zu client subscription(s), refusing requests", why, a->n_subs);
    snprintf(a->revoked, sizeof(a->revoked), "%s", why);
    api_end_all_subs(a, a->revoked);
}

void api_free(struct api **ap)
{
    struct api *a;

    if (ap == NULL || (a = *ap) == NULL)
        return;
    if (a->timer != 0)
        loop_remove_timer(a->loop, a->timer);
    if (a->watch != NULL) {
        loop_remove_socket(a->loop, zap_watch_socket(a->watch));
        zap_watch_free(&a->watch);
    }
    if (a->socket != NULL) {
        loop_remove_socket(a->loop, a->socket);
        zmq_close(a->socket);
    }
    for (size_t i = 0; i < a->n_pending; i++)
        free(a->pending[i].placed);
    free(a->pending);
    api_subs_free(a);
    free(a);
    *ap = NULL;
}

size_t api_session_count(const struct api *a)
{
    return a != NULL ? a->n_subs : 0;
}
