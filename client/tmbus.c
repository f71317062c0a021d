/*
 * libtmbus: the client side of proto/api.proto over one ZeroMQ DEALER with
 * CURVE. Requests go one at a time; while a call waits for its answer,
 * deliveries that arrive are queued in the handle. A socket monitor tells
 * a failed handshake from silence and notices reconnects, after which the
 * library subscribes again with the same filter. Payloads are built and
 * read by payload.c; the board and deliveries are handed out as views
 * into the decoded replies they own. This file must never expose protobuf
 * types, keep a secret key outside sodium_malloc memory, or exit the
 * process.
 */
#include "tmbus.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#include "api.pb-c.h"
#include "client_config.h"
#include "payload.h"

/* The largest reply is a delivery: a payload plus recipients and header
 * fields, well under 1 MiB. libzmq drops a connection that sends more than
 * twice that. */
#define REPLY_MAX            (1024 * 1024)
#define HARD_MAX             (2 * REPLY_MAX)
#define KEY_FILE_MAX         4096 /* as the daemon's KEYS_FILE_MAX */
#define KEY_FIELD_MAX        8
#define ERROR_MAX            256
#define WINDOW_DEFAULT       64
#define HEARTBEAT_IVL_MS     5000
#define HEARTBEAT_TIMEOUT_MS 15000
#define MONITOR_ENDPOINT     "inproc://tmbus-monitor" /* one context per handle */
#define MONITOR_EVENTS                                                                             \
    (ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |                             \
     ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |                  \
     ZMQ_EVENT_DISCONNECTED)

/* A delivery and the views of its payload, made once when it arrives so
 * that the accessors only read (a delivery may be read from any thread).
 * Only the view of the payload's kind is filled in. */
struct tmbus_delivery {
    Tmbus__Api__Reply *reply;
    Tmbus__Payload__Payload *payload; /* decoded; NULL if it is not one we read */
    struct tmbus_need need;
    struct tmbus_offer offer;
    struct tmbus_need_change need_change;
    struct tmbus_offer_change offer_change;
    struct tmbus_receipt *receipts; /* payload->receipt->n_entries of them */
    struct tmbus_delivery *next;
};

struct tmbus_board {
    Tmbus__Api__Reply *reply;
    Tmbus__Payload__Need **need_messages; /* decoded BoardNeed.need, one a need */
    Tmbus__Payload__Offer **offer_messages;
    struct tmbus_board_need *needs;
    struct tmbus_board_offer *offers;
    size_t n_needs, n_offers;
};

/* A subscription's filter, copied so that a resubscription after a
 * reconnect asks for the same. Kinds point at payload.c's static names. */
struct filter_copy {
    const char *kinds[TMBUS_FILTER_MAX];
    uint32_t categories[TMBUS_FILTER_MAX];
    uint32_t tlps[TMBUS_FILTER_MAX];
    char senders[TMBUS_FILTER_MAX][TMBUS_MEMBER_MAX + 1];
    size_t n_kinds, n_categories, n_tlps, n_senders;
};

struct tmbus_status {
    Tmbus__Api__Reply *reply;
    struct tmbus_peer *peers;       /* reply->status->n_peers of them */
    struct tmbus_counter *counters; /* reply->status->n_counters */
};

struct tmbus {
    void *ctx;
    void *socket;
    void *monitor;
    int epfd;
    uint64_t last_id; /* request ids: 1, 2, 3 … */
    struct tmbus_delivery *head, *tail;
    uint64_t last_number; /* highest delivery number queued or returned */
    bool is_subscribed;
    uint32_t window;
    struct filter_copy filter; /* of the current subscription */
    uint64_t handshakes;       /* handshakes that succeeded */
    bool needs_resubscribe;
    uint64_t resubscribe_id;
    unsigned auth_failures, drops;
    bool is_refused; /* the last handshake failed authentication */
    char error[ERROR_MAX];
};

/* ---- version -------------------------------------------------------------- */

#define STRINGIFY(x)  #x
#define VERSION_OF(x) STRINGIFY(x)
#define VERSION_STRING                                                                             \
    VERSION_OF(TMBUS_VERSION_MAJOR)                                                                \
    "." VERSION_OF(TMBUS_VERSION_MINOR) "." VERSION_OF(TMBUS_VERSION_PATCH)

const char *tmbus_version(void)
{
    return VERSION_STRING;
}

int tmbus_version_number(void)
{
    return TMBUS_VERSION_NUMBER;
}

/* ---- errors ------------------------------------------------------------- */

const char *tmbus_strerror(int err)
{
    switch (err) {
    case TMBUS_OK:
        return "success";
    case TMBUS_ETIMEOUT:
        return "timed out";
    case TMBUS_EDENIED:
        return "denied by the node";
    case TMBUS_EINVALID:
        return "invalid argument or request";
    case TMBUS_EPROTOCOL:
        return "protocol error";
    case TMBUS_ECLOSED:
        return "connection closed";
    case TMBUS_ENOMEM:
        return "out of memory";
    case TMBUS_ENOTFOUND:
        return "not found";
    case TMBUS_EINTERNAL:
        return "the node failed internally";
    default:
        return "unknown error";
    }
}

const char *tmbus_last_error(const struct tmbus *h)
{
    return h != NULL ? h->error : "no handle";
}

__attribute__((format(printf, 3, 0))) static void format_error(char *buf, size_t size,
                                                               const char *fmt, va_list ap)
{
    if (buf != NULL && size > 0)
        vsnprintf(buf, size, fmt, ap);
}

/* Records why a call failed and returns err, so a failure is one line. */
__attribute__((format(printf, 3, 4))) static int fail(struct tmbus *h, int err, const char *fmt,
                                                      ...)
{
    va_list ap;

    va_start(ap, fmt);
    format_error(h->error, sizeof(h->error), fmt, ap);
    va_end(ap);
    return err;
}

__attribute__((format(printf, 4, 5))) static int fail_to(char *buf, size_t size, int err,
                                                         const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    format_error(buf, size, fmt, ap);
    va_end(ap);
    return err;
}

static int from_code(Tmbus__Api__Code code)
{
    switch (code) {
    case TMBUS__API__CODE__CODE_OK:
        return TMBUS_OK;
    case TMBUS__API__CODE__CODE_INVALID:
        return TMBUS_EINVALID;
    case TMBUS__API__CODE__CODE_DENIED:
        return TMBUS_EDENIED;
    case TMBUS__API__CODE__CODE_NOT_FOUND:
        return TMBUS_ENOTFOUND;
    case TMBUS__API__CODE__CODE_INTERNAL:
        return TMBUS_EINTERNAL;
    default:
        return TMBUS_EPROTOCOL;
    }
}

/* ---- time --------------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- deliveries --------------------------------------------------------- */

static void free_reply(Tmbus__Api__Reply *r, bool is_secret)
{
    if (r == NULL)
        return;
    if (is_secret && r->kind_case == TMBUS__API__REPLY__KIND_DELIVERY && r->delivery != NULL &&
        r->delivery->payload.data != NULL)
        sodium_memzero(r->delivery->payload.data, r->delivery->payload.len);
    tmbus__api__reply__free_unpacked(r, NULL);
}

void tmbus_delivery_free(struct tmbus_delivery **dp)
{
    if (dp == NULL || *dp == NULL)
        return;
    free((*dp)->receipts);
    payload_free((*dp)->payload);
    free_reply((*dp)->reply, true);
    free(*dp);
    *dp = NULL;
}

static bool is_sound_delivery(const Tmbus__Api__Delivery *d)
{
    size_t sender_len = strlen(d->sender);

    return d->number > 0 && d->id.len == TMBUS_ID_BYTES && sender_len > 0 &&
           sender_len <= TMBUS_MEMBER_MAX && strlen(d->log_peer) <= TMBUS_MEMBER_MAX &&
           d->n_recipients <= TMBUS_MAX_RECIPIENTS && d->payload.len <= TMBUS_MAX_PAYLOAD;
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

/* Takes responsibility over r: queues it, or frees a duplicate. */
static void enqueue(struct tmbus *h, Tmbus__Api__Reply *r)
{
    struct tmbus_delivery *d;

    /* After a resubscription the node starts again from the durable
     * cursor: what this handle already gave out comes again. */
    if (r->delivery->number <= h->last_number || (d = calloc(1, sizeof(*d))) == NULL) {
        free_reply(r, true);
        return;
    }
    d->reply = r;
    d->payload = payload_decode(r->delivery->payload.data, r->delivery->payload.len);
    /* Out of memory: dropped unacked, as when calloc fails above. */
    if (view_payload(d) == -1) {
        tmbus_delivery_free(&d);
        return;
    }
    if (h->tail != NULL)
        h->tail->next = d;
    else
        h->head = d;
    h->tail = d;
    h->last_number = r->delivery->number;
}

/* ---- the socket --------------------------------------------------------- */

/* Reads the monitor's events: handshakes that worked or failed, and
 * drops. A handshake after the first means a reconnect: the node has
 * forgotten our subscription. */
static void read_events(struct tmbus *h)
{
    for (;;) {
        zmq_msg_t msg;
        uint16_t event = 0;
        int more = 0;
        size_t more_len = sizeof(more);

        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, h->monitor, ZMQ_DONTWAIT) == -1) {
            zmq_msg_close(&msg);
            return;
        }
        if (zmq_msg_size(&msg) >= 6)
            memcpy(&event, zmq_msg_data(&msg), sizeof(event));
        zmq_msg_close(&msg);
        zmq_getsockopt(h->monitor, ZMQ_RCVMORE, &more, &more_len);
        while (more) {
            zmq_msg_init(&msg);
            zmq_msg_recv(&msg, h->monitor, 0);
            zmq_msg_close(&msg);
            more_len = sizeof(more);
            zmq_getsockopt(h->monitor, ZMQ_RCVMORE, &more, &more_len);
        }
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            h->is_refused = false;
            if (++h->handshakes > 1 && h->is_subscribed)
                h->needs_resubscribe = true;
        } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
            h->auth_failures++;
            h->is_refused = true;
        } else if (event != 0) {
            h->drops++;
        }
    }
}

/* Packs and sends req under a fresh id, without blocking. */
static int send_request(struct tmbus *h, Tmbus__Api__Request *req)
{
    size_t len;
    uint8_t *buf;
    int rc = TMBUS_OK;

    req->id = ++h->last_id;
    len = tmbus__api__request__get_packed_size(req);
    if ((buf = malloc(len ? len : 1)) == NULL)
        return fail(h, TMBUS_ENOMEM, "out of memory for a %zu-byte request", len);
    tmbus__api__request__pack(req, buf);
    if (zmq_send(h->socket, buf, len, ZMQ_DONTWAIT) == -1) {
        if (errno == EAGAIN)
            rc = fail(h, TMBUS_ETIMEOUT, "the connection's send queue is full");
        else
            rc = fail(h, TMBUS_ECLOSED, "cannot send: %s", zmq_strerror(errno));
    }
    /* A post's payload may be TLP:AMBER or RED: leave no copy behind. */
    sodium_memzero(buf, len);
    free(buf);
    return rc;
}

/* The parts of a Subscribe request that borrow from a filter_copy. */
struct subscribe_msg {
    Tmbus__Api__Subscribe sub;
    Tmbus__Api__Filter filter;
    char *kinds[TMBUS_FILTER_MAX];
    char *senders[TMBUS_FILTER_MAX];
};

/* Fills m (which must outlive the packing) from window and fc, and points
 * req at it. */
static void fill_subscribe(Tmbus__Api__Request *req, struct subscribe_msg *m, uint32_t window,
                           struct filter_copy *fc)
{
    tmbus__api__subscribe__init(&m->sub);
    tmbus__api__filter__init(&m->filter);
    m->sub.window = window;
    for (size_t i = 0; i < fc->n_kinds; i++)
        m->kinds[i] = (char *)fc->kinds[i];
    for (size_t i = 0; i < fc->n_senders; i++)
        m->senders[i] = fc->senders[i];
    m->filter.kinds = m->kinds;
    m->filter.n_kinds = fc->n_kinds;
    m->filter.categories = fc->categories;
    m->filter.n_categories = fc->n_categories;
    m->filter.tlps = fc->tlps;
    m->filter.n_tlps = fc->n_tlps;
    m->filter.senders = m->senders;
    m->filter.n_senders = fc->n_senders;
    if (fc->n_kinds + fc->n_categories + fc->n_tlps + fc->n_senders > 0)
        m->sub.filter = &m->filter;
    req->kind_case = TMBUS__API__REQUEST__KIND_SUBSCRIBE;
    req->subscribe = &m->sub;
}

static void maybe_resubscribe(struct tmbus *h)
{
    Tmbus__Api__Request req = TMBUS__API__REQUEST__INIT;
    struct subscribe_msg m;

    if (!h->needs_resubscribe)
        return;
    h->needs_resubscribe = false;
    fill_subscribe(&req, &m, h->window, &h->filter);
    if (send_request(h, &req) == TMBUS_OK)
        h->resubscribe_id = req.id;
    else
        h->needs_resubscribe = true;
}

/* Sorts one reply: deliveries to the queue, the answer to want_id into
 * *out, the rest dropped. Takes responsibility over r. */
static void sort_reply(struct tmbus *h, Tmbus__Api__Reply *r, uint64_t want_id,
                       Tmbus__Api__Reply **out)
{
    if (r->id == 0 && r->kind_case == TMBUS__API__REPLY__KIND_DELIVERY) {
        if (is_sound_delivery(r->delivery)) {
            enqueue(h, r);
        } else {
            fail(h, TMBUS_EPROTOCOL, "dropped a malformed delivery from the node");
            free_reply(r, true);
        }
        return;
    }
    /* Id 0 without a delivery: the node could not read the request that
     * is outstanding (there is only ever one), so it could not echo its
     * id. */
    if (want_id != 0 && (r->id == want_id || r->id == 0)) {
        *out = r;
        return;
    }
    if (r->id != 0 && r->id == h->resubscribe_id) {
        if (r->code != TMBUS__API__CODE__CODE_OK) {
            h->is_subscribed = false;
            fail(h, from_code(r->code), "subscribing again after a reconnect failed: %s",
                 r->reason);
        }
        h->resubscribe_id = 0;
    }
    /* Anything else answers a request that timed out earlier. */
    free_reply(r, false);
}

/* Reads every waiting message without blocking, until the answer to
 * want_id appears. Returns TMBUS_OK or TMBUS_ECLOSED. */
static int drain(struct tmbus *h, uint64_t want_id, Tmbus__Api__Reply **out)
{
    while (*out == NULL) {
        zmq_msg_t msg;
        Tmbus__Api__Reply *r;
        int more = 0;
        size_t more_len = sizeof(more);

        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, h->socket, ZMQ_DONTWAIT) == -1) {
            int err = errno;
            zmq_msg_close(&msg);
            if (err == EAGAIN || err == EINTR)
                return TMBUS_OK;
            return fail(h, TMBUS_ECLOSED, "cannot receive: %s", zmq_strerror(err));
        }
        zmq_getsockopt(h->socket, ZMQ_RCVMORE, &more, &more_len);
        if (more || zmq_msg_size(&msg) > REPLY_MAX) {
            /* The node sends one frame per reply; drain the rest. */
            while (more) {
                zmq_msg_t extra;
                zmq_msg_init(&extra);
                zmq_msg_recv(&extra, h->socket, 0);
                zmq_msg_close(&extra);
                more_len = sizeof(more);
                zmq_getsockopt(h->socket, ZMQ_RCVMORE, &more, &more_len);
            }
            fail(h, TMBUS_EPROTOCOL, "dropped a malformed reply from the node");
            zmq_msg_close(&msg);
            continue;
        }
        r = tmbus__api__reply__unpack(NULL, zmq_msg_size(&msg), zmq_msg_data(&msg));
        /* The frame held a delivery's payload in clear. */
        sodium_memzero(zmq_msg_data(&msg), zmq_msg_size(&msg));
        zmq_msg_close(&msg);
        if (r == NULL) {
            fail(h, TMBUS_EPROTOCOL, "dropped a reply that is not a tmbus.api.Reply");
            continue;
        }
        sort_reply(h, r, want_id, out);
    }
    return TMBUS_OK;
}

/* Waits until the answer to want_id arrives (into *out) or, with want_id
 * 0, until a delivery is queued. timeout_ms as in tmbus.h. */
static int wait_for(struct tmbus *h, uint64_t want_id, int timeout_ms, Tmbus__Api__Reply **out)
{
    int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    Tmbus__Api__Reply *dummy = NULL;

    if (out == NULL)
        out = &dummy;
    *out = NULL;
    for (;;) {
        zmq_pollitem_t items[2] = {{h->socket, 0, ZMQ_POLLIN, 0}, {h->monitor, 0, ZMQ_POLLIN, 0}};
        int64_t left;
        int rc;

        read_events(h);
        /* libzmq would retry the handshake for ever; our key is refused
         * and nothing will come, so say so now. */
        if (h->is_refused)
            return fail(h, TMBUS_EDENIED, "the node refused this client's key");
        maybe_resubscribe(h);
        if ((rc = drain(h, want_id, out)) != TMBUS_OK)
            return rc;
        if (*out != NULL || (want_id == 0 && h->head != NULL))
            return TMBUS_OK;
        left = deadline - now_ms();
        if (timeout_ms >= 0 && left <= 0)
            return TMBUS_ETIMEOUT;
        if (zmq_poll(items, 2, timeout_ms < 0 ? -1 : (long)left) == -1 && errno != EINTR)
            return fail(h, TMBUS_ECLOSED, "cannot poll: %s", zmq_strerror(errno));
    }
}

/* One round trip. On TMBUS_OK *out is a reply with code OK, the caller's
 * to free; any other code becomes an error with the node's reason. */
static int call(struct tmbus *h, Tmbus__Api__Request *req, int timeout_ms, Tmbus__Api__Reply **out)
{
    Tmbus__Api__Reply *r = NULL;
    int rc;

    *out = NULL;
    h->error[0] = '\0';
    read_events(h);
    maybe_resubscribe(h);
    if ((rc = send_request(h, req)) != TMBUS_OK)
        return rc;
    if ((rc = wait_for(h, req->id, timeout_ms, &r)) != TMBUS_OK) {
        if (rc == TMBUS_ETIMEOUT)
            fail(h, rc, "no answer from the node within %d ms", timeout_ms);
        return rc;
    }
    if (r->code != TMBUS__API__CODE__CODE_OK) {
        rc = fail(h, from_code(r->code), "%s", r->reason[0] ? r->reason : "refused by the node");
        free_reply(r, false);
        return rc;
    }
    *out = r;
    return TMBUS_OK;
}

/* ---- connecting --------------------------------------------------------- */

static int set_int(void *s, int option, int value)
{
    return zmq_setsockopt(s, option, &value, sizeof(value));
}

static int status_reply(struct tmbus *h, int timeout_ms, Tmbus__Api__Reply **out)
{
    Tmbus__Api__Request req = TMBUS__API__REQUEST__INIT;
    Tmbus__Api__StatusRequest sr = TMBUS__API__STATUS_REQUEST__INIT;
    int rc;

    req.kind_case = TMBUS__API__REQUEST__KIND_STATUS;
    req.status = &sr;
    if ((rc = call(h, &req, timeout_ms, out)) != TMBUS_OK)
        return rc;
    if ((*out)->kind_case != TMBUS__API__REPLY__KIND_STATUS) {
        free_reply(*out, false);
        *out = NULL;
        return fail(h, TMBUS_EPROTOCOL, "the node answered a status request with something else");
    }
    return TMBUS_OK;
}

/* Builds the socket and its monitor; the secret goes to libzmq from
 * sodium_malloc memory. */
static int open_socket(struct tmbus *h, const char *endpoint, const uint8_t *node_pk,
                       const uint8_t *client_pk, const uint8_t *client_sk)
{
    int64_t hard_max = HARD_MAX;
    uint8_t *sk;
    int fd, rc;
    size_t fd_len = sizeof(fd);
    struct epoll_event ev = {.events = EPOLLIN};

    if ((h->ctx = zmq_ctx_new()) == NULL || (h->socket = zmq_socket(h->ctx, ZMQ_DEALER)) == NULL)
        return fail(h, TMBUS_ENOMEM, "cannot create a ZeroMQ socket: %s", zmq_strerror(errno));
    if ((sk = sodium_malloc(TMBUS_KEY_BYTES)) == NULL)
        return fail(h, TMBUS_ENOMEM, "cannot allocate locked memory for the secret key");
    memcpy(sk, client_sk, TMBUS_KEY_BYTES);
    rc = set_int(h->socket, ZMQ_LINGER, 0) |
         zmq_setsockopt(h->socket, ZMQ_MAXMSGSIZE, &hard_max, sizeof(hard_max)) |
         set_int(h->socket, ZMQ_HEARTBEAT_IVL, HEARTBEAT_IVL_MS) |
         set_int(h->socket, ZMQ_HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS) |
         zmq_setsockopt(h->socket, ZMQ_CURVE_SERVERKEY, node_pk, TMBUS_KEY_BYTES) |
         zmq_setsockopt(h->socket, ZMQ_CURVE_PUBLICKEY, client_pk, TMBUS_KEY_BYTES) |
         zmq_setsockopt(h->socket, ZMQ_CURVE_SECRETKEY, sk, TMBUS_KEY_BYTES);
    sodium_free(sk); /* wipes first */
    if (rc != 0)
        return fail(h, TMBUS_EINTERNAL, "cannot set socket options: %s", zmq_strerror(errno));
    if (zmq_socket_monitor(h->socket, MONITOR_ENDPOINT, MONITOR_EVENTS) == -1 ||
        (h->monitor = zmq_socket(h->ctx, ZMQ_PAIR)) == NULL || set_int(h->monitor, ZMQ_LINGER, 0) ||
        zmq_connect(h->monitor, MONITOR_ENDPOINT) == -1)
        return fail(h, TMBUS_EINTERNAL, "cannot monitor the socket: %s", zmq_strerror(errno));
    if (zmq_connect(h->socket, endpoint) == -1)
        return fail(h, TMBUS_EINVALID, "cannot connect to '%s': %s", endpoint, zmq_strerror(errno));
    /* One descriptor for the caller's loop, covering replies and the
     * monitor (so a reconnect wakes the caller, who then subscribes
     * again through tmbus_next). */
    if ((h->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
        return fail(h, TMBUS_EINTERNAL, "epoll_create1: %s", strerror(errno));
    if (zmq_getsockopt(h->socket, ZMQ_FD, &fd, &fd_len) == -1 ||
        epoll_ctl(h->epfd, EPOLL_CTL_ADD, fd, &ev) == -1)
        return fail(h, TMBUS_EINTERNAL, "cannot watch the socket");
    fd_len = sizeof(fd);
    if (zmq_getsockopt(h->monitor, ZMQ_FD, &fd, &fd_len) == -1 ||
        epoll_ctl(h->epfd, EPOLL_CTL_ADD, fd, &ev) == -1)
        return fail(h, TMBUS_EINTERNAL, "cannot watch the socket monitor");
    return TMBUS_OK;
}

int tmbus_connect(const char *endpoint, const uint8_t node_public_key[TMBUS_KEY_BYTES],
                  const uint8_t client_public_key[TMBUS_KEY_BYTES],
                  const uint8_t client_secret_key[TMBUS_KEY_BYTES], int timeout_ms,
                  struct tmbus **out, char *err, size_t err_size)
{
    struct tmbus *h = NULL;
    Tmbus__Api__Reply *r = NULL;
    uint8_t derived[TMBUS_KEY_BYTES];
    int rc;

    if (err != NULL && err_size > 0)
        err[0] = '\0';
    if (out == NULL)
        return fail_to(err, err_size, TMBUS_EINVALID, "no place for the handle");
    *out = NULL;
    if (endpoint == NULL || node_public_key == NULL || client_public_key == NULL ||
        client_secret_key == NULL || timeout_ms < 0)
        return fail_to(err, err_size, TMBUS_EINVALID,
                       "endpoint, keys and a timeout of 0 ms or more are required");
    if (sodium_init() < 0)
        return fail_to(err, err_size, TMBUS_EINTERNAL, "libsodium failed to initialise");
    /* A CURVE key pair that does not match would fail silently later. */
    if (crypto_scalarmult_base(derived, client_secret_key) != 0 ||
        sodium_memcmp(derived, client_public_key, TMBUS_KEY_BYTES) != 0) {
        sodium_memzero(derived, sizeof(derived));
        return fail_to(err, err_size, TMBUS_EINVALID,
                       "the client public key does not belong to the secret key");
    }
    if ((h = calloc(1, sizeof(*h))) == NULL)
        return fail_to(err, err_size, TMBUS_ENOMEM, "out of memory");
    h->epfd = -1;
    h->window = WINDOW_DEFAULT;
    if ((rc = open_socket(h, endpoint, node_public_key, client_public_key, client_secret_key)) !=
        TMBUS_OK)
        goto out;
    rc = status_reply(h, timeout_ms, &r);
    if (rc == TMBUS_ETIMEOUT || rc == TMBUS_EDENIED) {
        read_events(h);
        if (h->auth_failures > 0)
            rc = fail(h, TMBUS_EDENIED,
                      "the node at %s refused this client's key: it is not in the node's "
                      "configuration",
                      endpoint);
        else if (h->drops > 0)
            fail(h, rc,
                 "the node at %s dropped the handshake: is the node public key the node's "
                 "transport key?",
                 endpoint);
        else
            fail(h, rc,
                 "no answer from %s within %d ms: is the node running there, and is the node "
                 "public key right?",
                 endpoint, timeout_ms);
    }
out:
    free_reply(r, false);
    if (rc != TMBUS_OK) {
        fail_to(err, err_size, rc, "%s", h->error);
        tmbus_close(&h);
        return rc;
    }
    *out = h;
    return TMBUS_OK;
}

void tmbus_close(struct tmbus **hp)
{
    struct tmbus *h;

    if (hp == NULL || (h = *hp) == NULL)
        return;
    while (h->head != NULL) {
        struct tmbus_delivery *d = h->head;
        h->head = d->next;
        tmbus_delivery_free(&d);
    }
    if (h->epfd != -1)
        close(h->epfd);
    if (h->monitor != NULL)
        zmq_close(h->monitor);
    if (h->socket != NULL)
        zmq_close(h->socket);
    if (h->ctx != NULL)
        zmq_ctx_term(h->ctx);
    sodium_memzero(h, sizeof(*h));
    free(h);
    *hp = NULL;
}

/* ---- key files ---------------------------------------------------------- */

/* The fields this library reads from a tmbus key file. The daemon's
 * keys.c is the reference for the format ("name = base64" lines, '#'
 * comments); the client must not link the daemon, so this is a small
 * reader of the two kinds a client needs. */
struct key_file {
    const char *path;
    const char *kind;                   /* the kind required */
    const char *allowed[KEY_FIELD_MAX]; /* field names allowed besides kind */
    uint8_t *public_key;                /* transport-public goes here */
    uint8_t *secret_key;                /* transport-secret, or NULL for a public file */
};

static char *trim(char *s)
{
    size_t n;

    while (*s == ' ' || *s == '\t' || *s == '\r')
        s++;
    n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

static int decode_key(const char *value, uint8_t *out)
{
    size_t got = 0;
    const char *end = NULL;

    if (strlen(value) !=
            sodium_base64_ENCODED_LEN(TMBUS_KEY_BYTES, sodium_base64_VARIANT_ORIGINAL) - 1 ||
        sodium_base642bin(out, TMBUS_KEY_BYTES, value, strlen(value), NULL, &got, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        got != TMBUS_KEY_BYTES || *end != '\0')
        return -1;
    return 0;
}

/* Parses text (NUL-terminated, modified in place). Every field at most
 * once, only the fields of the kind, and never echoes a value. */
static int parse_key_text(struct key_file *k, char *text, char *err, size_t err_size)
{
    bool has_kind = false, has_public = false, has_secret = false;
    int line = 0;
    char *next;

    for (char *s = text; s != NULL; s = next) {
        char *eq, *name, *value;
        bool is_allowed = false;

        line++;
        if ((next = strchr(s, '\n')) != NULL)
            *next++ = '\0';
        s = trim(s);
        if (*s == '\0' || *s == '#')
            continue;
        if ((eq = strchr(s, '=')) == NULL)
            return fail_to(err, err_size, TMBUS_EINVALID, "%s:%d: expected 'name = value'", k->path,
                           line);
        *eq = '\0';
        name = trim(s);
        value = trim(eq + 1);
        if (strcmp(name, "kind") == 0) {
            if (has_kind || strcmp(value, k->kind) != 0)
                return fail_to(err, err_size, TMBUS_EINVALID, "%s:%d: expected one 'kind = %s'",
                               k->path, line, k->kind);
            has_kind = true;
            continue;
        }
        for (size_t i = 0; i < KEY_FIELD_MAX && k->allowed[i] != NULL; i++)
            is_allowed |= strcmp(name, k->allowed[i]) == 0;
        if (!is_allowed)
            return fail_to(err, err_size, TMBUS_EINVALID,
                           "%s:%d: a field that does not belong in a %s file", k->path, line,
                           k->kind);
        if (strcmp(name, "transport-public") == 0) {
            if (has_public || decode_key(value, k->public_key) == -1)
                return fail_to(err, err_size, TMBUS_EINVALID,
                               "%s:%d: transport-public must appear once, as 32 bytes of base64",
                               k->path, line);
            has_public = true;
        } else if (strcmp(name, "transport-secret") == 0) {
            if (has_secret || decode_key(value, k->secret_key) == -1)
                return fail_to(err, err_size, TMBUS_EINVALID,
                               "%s:%d: transport-secret must appear once, as 32 bytes of base64",
                               k->path, line);
            has_secret = true;
        }
    }
    if (!has_kind || !has_public || (k->secret_key != NULL && !has_secret))
        return fail_to(err, err_size, TMBUS_EINVALID, "%s: not a complete %s file", k->path,
                       k->kind);
    return TMBUS_OK;
}

/* Reads a key file into sodium_malloc memory (it may hold a secret) and
 * parses it. Refuses links, non-regular files, files over KEY_FILE_MAX and
 * secret files that group or others can access. */
static int load_key_file(struct key_file *k, char *err, size_t err_size)
{
    struct stat st;
    char *text = NULL;
    size_t got = 0;
    int fd, rc = TMBUS_EINVALID;

    if ((fd = open(k->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) == -1)
        return fail_to(err, err_size, errno == ENOENT ? TMBUS_ENOTFOUND : TMBUS_EINVALID,
                       "cannot open %s: %s", k->path, strerror(errno));
    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_size > KEY_FILE_MAX) {
        fail_to(err, err_size, rc, "%s is not a key file", k->path);
        goto out;
    }
    if (k->secret_key != NULL && (st.st_mode & 077) != 0) {
        /* A local mistake, not a refusal by the node. */
        fail_to(err, err_size, TMBUS_EINVALID,
                "%s is accessible by group or others (mode %04o); chmod 600 it", k->path,
                (unsigned)(st.st_mode & 07777));
        goto out;
    }
    if ((text = sodium_malloc(KEY_FILE_MAX + 2)) == NULL) {
        rc = fail_to(err, err_size, TMBUS_ENOMEM, "cannot allocate locked memory");
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, text + got, KEY_FILE_MAX + 1 - got);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1) {
            fail_to(err, err_size, rc, "cannot read %s: %s", k->path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        got += (size_t)n;
        if (got > KEY_FILE_MAX) {
            fail_to(err, err_size, rc, "%s is not a key file", k->path);
            goto out;
        }
    }
    text[got] = '\0';
    if (memchr(text, '\0', got) != NULL) {
        fail_to(err, err_size, rc, "%s is not a key file", k->path);
        goto out;
    }
    rc = parse_key_text(k, text, err, err_size);
out:
    close(fd);
    sodium_free(text); /* accepts NULL; wipes first */
    return rc;
}

int tmbus_connect_files(const char *endpoint, const char *node_public_file,
                        const char *client_secret_file, int timeout_ms, struct tmbus **out,
                        char *err, size_t err_size)
{
    uint8_t node_pk[TMBUS_KEY_BYTES], client_pk[TMBUS_KEY_BYTES];
    uint8_t *client_sk = NULL;
    struct key_file node = {node_public_file,
                            "member-public",
                            {"member", "sign-public", "box-public", "transport-public"},
                            node_pk,
                            NULL};
    struct key_file client = {client_secret_file,
                              "client-secret",
                              {"transport-public", "transport-secret"},
                              client_pk,
                              NULL};
    int rc;

    if (out != NULL)
        *out = NULL;
    if (node_public_file == NULL || client_secret_file == NULL)
        return fail_to(err, err_size, TMBUS_EINVALID, "both key files are required");
    if (sodium_init() < 0)
        return fail_to(err, err_size, TMBUS_EINTERNAL, "libsodium failed to initialise");
    if ((client_sk = sodium_malloc(TMBUS_KEY_BYTES)) == NULL)
        return fail_to(err, err_size, TMBUS_ENOMEM, "cannot allocate locked memory");
    client.secret_key = client_sk;
    if ((rc = load_key_file(&node, err, err_size)) == TMBUS_OK &&
        (rc = load_key_file(&client, err, err_size)) == TMBUS_OK)
        rc = tmbus_connect(endpoint, node_pk, client_pk, client_sk, timeout_ms, out, err, err_size);
    sodium_free(client_sk);
    return rc;
}

int tmbus_connect_config(const char *path, int timeout_ms, struct tmbus **out, char *err,
                         size_t err_size)
{
    struct client_config *c;
    int rc;

    if (err != NULL && err_size > 0)
        err[0] = '\0';
    if (out != NULL)
        *out = NULL;
    if ((c = malloc(sizeof(*c))) == NULL)
        return fail_to(err, err_size, TMBUS_ENOMEM, "out of memory");
    if ((rc = client_config_read(path, c, err, err_size)) == TMBUS_OK)
        rc = tmbus_connect_files(c->endpoint, c->node_key, c->key, timeout_ms, out, err, err_size);
    free(c);
    return rc;
}

/* ---- requests ----------------------------------------------------------- */

int tmbus_post(struct tmbus *h, const void *payload, size_t len, const char *const *recipients,
               size_t n_recipients, bool all, int64_t expires_at, int timeout_ms,
               uint8_t out_id[TMBUS_ID_BYTES])
{
    Tmbus__Api__Request req = TMBUS__API__REQUEST__INIT;
    Tmbus__Api__Post post = TMBUS__API__POST__INIT;
    Tmbus__Api__Reply *r = NULL;
    Tmbus__Api__Receipt *rc_receipt;
    int rc;

    if (h == NULL)
        return TMBUS_EINVALID;
    if (payload == NULL || len == 0 || len > TMBUS_MAX_PAYLOAD)
        return fail(h, TMBUS_EINVALID, "the payload must be 1 to %d bytes", TMBUS_MAX_PAYLOAD);
    if (!all && (recipients == NULL || n_recipients == 0 || n_recipients > TMBUS_MAX_RECIPIENTS))
        return fail(h, TMBUS_EINVALID, "name 1 to %d recipients, or post to all",
                    TMBUS_MAX_RECIPIENTS);
    for (size_t i = 0; !all && i < n_recipients; i++)
        if (recipients[i] == NULL)
            return fail(h, TMBUS_EINVALID, "recipient %zu is NULL", i);
    if (expires_at < 0)
        return fail(h, TMBUS_EINVALID, "expires_at must be 0 or a Unix time");
    post.payload.data = (uint8_t *)payload;
    post.payload.len = len;
    if (all) {
        post.all = true;
    } else {
        post.recipients = (char **)recipients;
        post.n_recipients = n_recipients;
    }
    post.expires_at = expires_at;
    req.kind_case = TMBUS__API__REQUEST__KIND_POST;
    req.post = &post;
    if ((rc = call(h, &req, timeout_ms, &r)) != TMBUS_OK)
        return rc;
    rc_receipt = r->kind_case == TMBUS__API__REPLY__KIND_RECEIPT ? r->receipt : NULL;
    if (rc_receipt == NULL || rc_receipt->n_placed == 0 ||
        rc_receipt->placed[0]->id.len != TMBUS_ID_BYTES) {
        rc = fail(h, TMBUS_EPROTOCOL, "the node answered a post without a receipt");
    } else if (out_id != NULL) {
        memcpy(out_id, rc_receipt->placed[0]->id.data, TMBUS_ID_BYTES);
    }
    free_reply(r, false);
    return rc;
}

/* Checks filter and copies it into *fc. */
static int copy_filter(struct tmbus *h, const struct tmbus_filter *filter, struct filter_copy *fc)
{
    memset(fc, 0, sizeof(*fc));
    if (filter == NULL)
        return TMBUS_OK;
    if (filter->n_kinds > TMBUS_FILTER_MAX || filter->n_categories > TMBUS_FILTER_MAX ||
        filter->n_tlps > TMBUS_FILTER_MAX || filter->n_senders > TMBUS_FILTER_MAX)
        return fail(h, TMBUS_EINVALID, "a filter list holds at most %d entries", TMBUS_FILTER_MAX);
    if ((filter->n_kinds > 0 && filter->kinds == NULL) ||
        (filter->n_categories > 0 && filter->categories == NULL) ||
        (filter->n_tlps > 0 && filter->tlps == NULL) ||
        (filter->n_senders > 0 && filter->senders == NULL))
        return fail(h, TMBUS_EINVALID, "a filter list with entries but no array");
    for (size_t i = 0; i < filter->n_kinds; i++)
        if (tmbus_kind_parse(filter->kinds[i], &fc->kinds[i]) != TMBUS_OK)
            return fail(h, TMBUS_EINVALID, "filter kind '%s' is not one of %s",
                        filter->kinds[i] != NULL ? filter->kinds[i] : "(null)", tmbus_kind_names());
    for (size_t i = 0; i < filter->n_categories; i++) {
        if (tmbus_category_name(filter->categories[i]) == NULL)
            return fail(h, TMBUS_EINVALID, "filter category %d is not one of %s",
                        filter->categories[i], tmbus_category_names());
        fc->categories[i] = (uint32_t)filter->categories[i];
    }
    for (size_t i = 0; i < filter->n_tlps; i++) {
        if (tmbus_tlp_name(filter->tlps[i]) == NULL)
            return fail(h, TMBUS_EINVALID, "filter TLP %d is not one of %s", filter->tlps[i],
                        tmbus_tlp_names());
        fc->tlps[i] = (uint32_t)filter->tlps[i];
    }
    for (size_t i = 0; i < filter->n_senders; i++) {
        const char *m = filter->senders[i];
        if (m == NULL || *m == '\0' || strlen(m) > TMBUS_MEMBER_MAX)
            return fail(h, TMBUS_EINVALID, "filter sender %zu must be a member id of 1 to %d bytes",
                        i, TMBUS_MEMBER_MAX);
        memcpy(fc->senders[i], m, strlen(m) + 1);
    }
    fc->n_kinds = filter->n_kinds;
    fc->n_categories = filter->n_categories;
    fc->n_tlps = filter->n_tlps;
    fc->n_senders = filter->n_senders;
    return TMBUS_OK;
}

int tmbus_subscribe_filtered(struct tmbus *h, unsigned window, const struct tmbus_filter *filter,
                             int timeout_ms)
{
    Tmbus__Api__Request req = TMBUS__API__REQUEST__INIT;
    Tmbus__Api__Reply *r = NULL;
    struct subscribe_msg m;
    struct filter_copy fc;
    int rc;

    if (h == NULL)
        return TMBUS_EINVALID;
    h->error[0] = '\0';
    if (window > TMBUS_WINDOW_MAX)
        return fail(h, TMBUS_EINVALID, "window must be 0 to %d", TMBUS_WINDOW_MAX);
    if ((rc = copy_filter(h, filter, &fc)) != TMBUS_OK)
        return rc;
    fill_subscribe(&req, &m, window ? window : WINDOW_DEFAULT, &fc);
    if ((rc = call(h, &req, timeout_ms, &r)) != TMBUS_OK)
        return rc;
    free_reply(r, false);
    h->is_subscribed = true;
    h->window = m.sub.window;
    h->filter = fc;
    h->needs_resubscribe = false;
    return TMBUS_OK;
}

int tmbus_subscribe(struct tmbus *h, unsigned window, int timeout_ms)
{
    return tmbus_subscribe_filtered(h, window, NULL, timeout_ms);
}

/* ---- needs, offers and updates ----------------------------------------- */

/* Posts an encoded payload (rc from its encoder, reason in why) and wipes
 * and frees it whatever happens. */
static int post_encoded(struct tmbus *h, int rc, const char *why, uint8_t *buf, size_t len,
                        const char *const *recipients, size_t n_recipients, bool all,
                        int timeout_ms, uint8_t *out_id)
{
    if (rc == TMBUS_OK)
        rc = tmbus_post(h, buf, len, recipients, n_recipients, all, 0, timeout_ms, out_id);
    else
        fail(h, rc, "%s", why);
    if (buf != NULL) {
        sodium_memzero(buf, len);
        free(buf);
    }
    return rc;
}

/* TLP:RED goes to named recipients only: say so before the node does. */
static int check_red(struct tmbus *h, int tlp, bool all)
{
    if (tlp == TMBUS_TLP_RED && all)
        return fail(h, TMBUS_EINVALID, "a TLP:RED post must name its recipients, not go to all");
    return TMBUS_OK;
}

int tmbus_post_need(struct tmbus *h, const struct tmbus_need *need, const char *const *recipients,
                    size_t n_recipients, bool all, int timeout_ms, uint8_t out_id[TMBUS_ID_BYTES])
{
    char why[TMBUS_VALIDATE_ERROR_MAX] = "";
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc;

    if (h == NULL)
        return TMBUS_EINVALID;
    h->error[0] = '\0';
    rc = payload_encode_need(need, &buf, &len, why, sizeof(why));
    if (rc == TMBUS_OK && (rc = check_red(h, need->tlp, all)) != TMBUS_OK)
        snprintf(why, sizeof(why), "%s", h->error);
    return post_encoded(h, rc, why, buf, len, recipients, n_recipients, all, timeout_ms, out_id);
}

int tmbus_post_offer(struct tmbus *h, const struct tmbus_offer *offer,
                     const char *const *recipients, size_t n_recipients, bool all, int timeout_ms,
                     uint8_t out_id[TMBUS_ID_BYTES])
{
    char why[TMBUS_VALIDATE_ERROR_MAX] = "";
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc;

    if (h == NULL)
        return TMBUS_EINVALID;
    h->error[0] = '\0';
    rc = payload_encode_offer(offer, &buf, &len, why, sizeof(why));
    if (rc == TMBUS_OK && (rc = check_red(h, offer->tlp, all)) != TMBUS_OK)
        snprintf(why, sizeof(why), "%s", h->error);
    return post_encoded(h, rc, why, buf, len, recipients, n_recipients, all, timeout_ms, out_id);
}

int tmbus_need_update(struct tmbus *h, const uint8_t need_id[TMBUS_ID_BYTES], int action,
                      const struct tmbus_need *edit, const char *reason,
                      const char *const *recipients, size_t n_recipients, bool all, int timeout_ms,
                      uint8_t out_id[TMBUS_ID_BYTES])
{
    char why[TMBUS_VALIDATE_ERROR_MAX] = "";
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc;

    if (h == NULL)
        return TMBUS_EINVALID;
    h->error[0] = '\0';
    rc = payload_encode_need_update(need_id, action, edit, reason, &buf, &len, why, sizeof(why));
    if (rc == TMBUS_OK && edit != NULL && (rc = check_red(h, edit->tlp, all)) != TMBUS_OK)
        snprintf(why, sizeof(why), "%s", h->error);
    return post_encoded(h, rc, why, buf, len, recipients, n_recipients, all, timeout_ms, out_id);
}

int tmbus_offer_update(struct tmbus *h, const uint8_t offer_id[TMBUS_ID_BYTES], int action,
                       const char *reason, const char *const *recipients, size_t n_recipients,
                       bool all, int timeout_ms, uint8_t out_id[TMBUS_ID_BYTES])
{
    char why[TMBUS_VALIDATE_ERROR_MAX] = "";
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc;

    if (h == NULL)
        return TMBUS_EINVALID;
    h->error[0] = '\0';
    rc = payload_encode_offer_update(offer_id, action, reason, &buf, &len, why, sizeof(why));
    return post_encoded(h, rc, why, buf, len, recipients, n_recipients, all, timeout_ms, out_id);
}

/* ---- the board ---------------------------------------------------------- */

void tmbus_board_free(struct tmbus_board **bp)
{
    struct tmbus_board *b;

    if (bp == NULL || (b = *bp) == NULL)
        return;
    for (size_t i = 0; b->need_messages != NULL && i < b->n_needs; i++) {
        if (b->need_messages[i] != NULL) {
            payload_wipe(&b->need_messages[i]->base);
            tmbus__payload__need__free_unpacked(b->need_messages[i], NULL);
        }
    }
    for (size_t i = 0; b->offer_messages != NULL && i < b->n_offers; i++) {
        if (b->offer_messages[i] != NULL) {
            payload_wipe(&b->offer_messages[i]->base);
            tmbus__payload__offer__free_unpacked(b->offer_messages[i], NULL);
        }
    }
    free(b->need_messages);
    free(b->offer_messages);
    free(b->needs);
    free(b->offers);
    if (b->reply != NULL) {
        /* The board holds needs and offers in clear, up to TLP:RED. */
        payload_wipe(&b->reply->base);
        free_reply(b->reply, false);
    }
    free(b);
    *bp = NULL;
}

/* Builds the views of b from b->reply, checking every entry. */
static int read_board(struct tmbus *h, struct tmbus_board *b)
{
    const Tmbus__Api__Board *m = b->reply->board;
    size_t nn = m->n_needs, no = m->n_offers;

    if ((nn > 0 && ((b->need_messages = calloc(nn, sizeof(*b->need_messages))) == NULL ||
                    (b->needs = calloc(nn, sizeof(*b->needs))) == NULL)) ||
        (no > 0 && ((b->offer_messages = calloc(no, sizeof(*b->offer_messages))) == NULL ||
                    (b->offers = calloc(no, sizeof(*b->offers))) == NULL)))
        return fail(h, TMBUS_ENOMEM, "out of memory for a board of %zu needs and %zu offers", nn,
                    no);
    b->n_needs = nn;
    b->n_offers = no;
    for (size_t i = 0; i < nn; i++) {
        const Tmbus__Api__BoardNeed *e = m->needs[i];
        struct tmbus_board_need *v = &b->needs[i];

        if (e->id.len != TMBUS_ID_BYTES || (b->need_messages[i] = tmbus__payload__need__unpack(
                                                NULL, e->need.len, e->need.data)) == NULL)
            return fail(h, TMBUS_EPROTOCOL, "the node sent a board need we cannot read");
        memcpy(v->id, e->id.data, TMBUS_ID_BYTES);
        v->owner = e->owner;
        v->created_at = e->created_at;
        payload_need_view(b->need_messages[i], &v->need);
        v->status = e->status;
        v->accepted_quantity = e->accepted_quantity;
        v->delivered_quantity = e->delivered_quantity;
    }
    for (size_t i = 0; i < no; i++) {
        const Tmbus__Api__BoardOffer *e = m->offers[i];
        struct tmbus_board_offer *v = &b->offers[i];

        if (e->id.len != TMBUS_ID_BYTES || (b->offer_messages[i] = tmbus__payload__offer__unpack(
                                                NULL, e->offer.len, e->offer.data)) == NULL)
            return fail(h, TMBUS_EPROTOCOL, "the node sent a board offer we cannot read");
        memcpy(v->id, e->id.data, TMBUS_ID_BYTES);
        v->donor = e->donor;
        v->created_at = e->created_at;
        payload_offer_view(b->offer_messages[i], &v->offer);
        v->status = e->status;
    }
    return TMBUS_OK;
}

int tmbus_board(struct tmbus *h, const uint8_t *need_id, const char *need_status, int timeout_ms,
                struct tmbus_board **out)
{
    Tmbus__Api__Request req = TMBUS__API__REQUEST__INIT;
    Tmbus__Api__BoardQuery q = TMBUS__API__BOARD_QUERY__INIT;
    struct tmbus_board *b = NULL;
    Tmbus__Api__Reply *r = NULL;
    int status, rc;

    if (out != NULL)
        *out = NULL;
    if (h == NULL || out == NULL)
        return TMBUS_EINVALID;
    h->error[0] = '\0';
    if (need_status != NULL && tmbus_need_status_parse(need_status, &status) != TMBUS_OK)
        return fail(h, TMBUS_EINVALID, "need status '%s' is not one of %s", need_status,
                    tmbus_need_status_names());
    if (need_id != NULL) {
        q.need_id.data = (uint8_t *)need_id;
        q.need_id.len = TMBUS_ID_BYTES;
    }
    if (need_status != NULL)
        q.need_status = (char *)tmbus_need_status_name(status);
    req.kind_case = TMBUS__API__REQUEST__KIND_BOARD;
    req.board = &q;
    if ((rc = call(h, &req, timeout_ms, &r)) != TMBUS_OK)
        return rc;
    if (r->kind_case != TMBUS__API__REPLY__KIND_BOARD || r->board == NULL) {
        payload_wipe(&r->base);
        free_reply(r, false);
        return fail(h, TMBUS_EPROTOCOL, "the node answered a board query with something else");
    }
    if ((b = calloc(1, sizeof(*b))) == NULL) {
        payload_wipe(&r->base);
        free_reply(r, false);
        return fail(h, TMBUS_ENOMEM, "out of memory");
    }
    b->reply = r;
    if ((rc = read_board(h, b)) != TMBUS_OK) {
        tmbus_board_free(&b);
        return rc;
    }
    *out = b;
    return TMBUS_OK;
}

size_t tmbus_board_need_count(const struct tmbus_board *b)
{
    return b != NULL ? b->n_needs : 0;
}

const struct tmbus_board_need *tmbus_board_need_at(const struct tmbus_board *b, size_t i)
{
    return b != NULL && i < b->n_needs ? &b->needs[i] : NULL;
}

size_t tmbus_board_offer_count(const struct tmbus_board *b)
{
    return b != NULL ? b->n_offers : 0;
}

const struct tmbus_board_offer *tmbus_board_offer_at(const struct tmbus_board *b, size_t i)
{
    return b != NULL && i < b->n_offers ? &b->offers[i] : NULL;
}

/* ---- reports ------------------------------------------------------------- */

/* The totals of one kind (by donor, category or sector). */
struct report_totals {
    struct tmbus_report_total *rows;
    size_t n;
};

struct tmbus_report {
    Tmbus__Api__Reply *reply;
    struct tmbus_report_need *needs;
    size_t n_needs;
    struct report_totals by[TMBUS_REPORT_BY_SECTOR + 1]; /* indexed by enum tmbus_report_by */
    struct tmbus_report_total overall;
};

/* Fills in the rows of totals by by from n rows of the reply: 0, or -1
 * when out of memory. Keys name a donor, or a category's or sector's
 * code ("unknown" for a code this library does not know). */
static int view_totals(struct tmbus_report *rep, enum tmbus_report_by by,
                       Tmbus__Api__ReportTotal *const *rows, size_t n)
{
    struct report_totals *t = &rep->by[by];

    if ((t->rows = calloc(n + 1, sizeof(*t->rows))) == NULL)
        return -1;
    t->n = n;
    for (size_t i = 0; i < n; i++) {
        const char *key;
        if (by == TMBUS_REPORT_BY_DONOR)
            key = rows[i]->donor;
        else if (by == TMBUS_REPORT_BY_CATEGORY)
            key = tmbus_category_name((int)rows[i]->code);
        else
            key = tmbus_sector_name((int)rows[i]->code);
        t->rows[i].key = key != NULL ? key : "unknown";
        t->rows[i].pledged_cents = rows[i]->pledged_cents;
        t->rows[i].delivered_cents = rows[i]->delivered_cents;
    }
    return 0;
}

/* The report reply's fields a reader relies on, checked once. */
static bool is_report_sane(const Tmbus__Api__Report *rp)
{
    if (rp->total == NULL)
        return false;
    for (size_t i = 0; i < rp->n_open_needs; i++)
        if (rp->open_needs[i]->id.len != TMBUS_ID_BYTES)
            return false;
    return true;
}

int tmbus_report(struct tmbus *h, int timeout_ms, struct tmbus_report **out)
{
    Tmbus__Api__Request req = TMBUS__API__REQUEST__INIT;
    Tmbus__Api__ReportRequest q = TMBUS__API__REPORT_REQUEST__INIT;
    struct tmbus_report *rep = NULL;
    Tmbus__Api__Reply *r = NULL;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (h == NULL || out == NULL)
        return TMBUS_EINVALID;
    h->error[0] = '\0';
    req.kind_case = TMBUS__API__REQUEST__KIND_REPORT;
    req.report = &q;
    if ((rc = call(h, &req, timeout_ms, &r)) != TMBUS_OK)
        return rc;
    if (r->kind_case != TMBUS__API__REPLY__KIND_REPORT || r->report == NULL ||
        !is_report_sane(r->report)) {
        payload_wipe(&r->base);
        free_reply(r, false);
        return fail(h, TMBUS_EPROTOCOL, "the node answered a report request with something else");
    }
    if ((rep = calloc(1, sizeof(*rep))) == NULL ||
        (rep->needs = calloc(r->report->n_open_needs + 1, sizeof(*rep->needs))) == NULL) {
        free(rep);
        payload_wipe(&r->base);
        free_reply(r, false);
        return fail(h, TMBUS_ENOMEM, "out of memory");
    }
    rep->reply = r;
    rep->n_needs = r->report->n_open_needs;
    for (size_t i = 0; i < rep->n_needs; i++) {
        const Tmbus__Api__ReportNeed *n = r->report->open_needs[i];
        struct tmbus_report_need *o = &rep->needs[i];
        o->id = n->id.data;
        o->owner = n->owner;
        o->title = n->title;
        o->status = n->status;
        o->priority = (int)n->priority;
        o->deadline = n->deadline;
        o->is_overdue = n->overdue;
        o->quantity = n->quantity;
        o->accepted_quantity = n->accepted_quantity;
        o->value_cents = n->value_cents;
    }
    rep->overall.key = "total";
    rep->overall.pledged_cents = r->report->total->pledged_cents;
    rep->overall.delivered_cents = r->report->total->delivered_cents;
    if (view_totals(rep, TMBUS_REPORT_BY_DONOR, r->report->donors, r->report->n_donors) == -1 ||
        view_totals(rep, TMBUS_REPORT_BY_CATEGORY, r->report->categories,
                    r->report->n_categories) == -1 ||
        view_totals(rep, TMBUS_REPORT_BY_SECTOR, r->report->sectors, r->report->n_sectors) == -1) {
        tmbus_report_free(&rep);
        return fail(h, TMBUS_ENOMEM, "out of memory");
    }
    *out = rep;
    return TMBUS_OK;
}

size_t tmbus_report_need_count(const struct tmbus_report *r)
{
    return r != NULL ? r->n_needs : 0;
}

const struct tmbus_report_need *tmbus_report_need_at(const struct tmbus_report *r, size_t i)
{
    return r != NULL && i < r->n_needs ? &r->needs[i] : NULL;
}

size_t tmbus_report_total_count(const struct tmbus_report *r, enum tmbus_report_by by)
{
    if (r == NULL || by < TMBUS_REPORT_BY_DONOR || by > TMBUS_REPORT_BY_SECTOR)
        return 0;
    return r->by[by].n;
}

const struct tmbus_report_total *tmbus_report_total_at(const struct tmbus_report *r,
                                                       enum tmbus_report_by by, size_t i)
{
    return i < tmbus_report_total_count(r, by) ? &r->by[by].rows[i] : NULL;
}

const struct tmbus_report_total *tmbus_report_overall(const struct tmbus_report *r)
{
    return r != NULL ? &r->overall : NULL;
}

void tmbus_report_free(struct tmbus_report **rp)
{
    if (rp == NULL || *rp == NULL)
        return;
    /* Titles are the board's cleartext. */
    payload_wipe(&(*rp)->reply->base);
    free_reply((*rp)->reply, false);
    free((*rp)->needs);
    for (size_t by = 0; by <= TMBUS_REPORT_BY_SECTOR; by++)
        free((*rp)->by[by].rows);
    free(*rp);
    *rp = NULL;
}

/* ---- delivery state ------------------------------------------------------ */

struct tmbus_delivery_state {
    Tmbus__Api__Reply *reply;
    struct tmbus_delivery_entry *entries;
    size_t n;
};

void tmbus_delivery_state_free(struct tmbus_delivery_state **sp)
{
    if (sp == NULL || *sp == NULL)
        return;
    free((*sp)->entries);
    free_reply((*sp)->reply, false);
    free(*sp);
    *sp = NULL;
}

/* A state name the node may send; anything else is a protocol error. */
static bool is_delivery_state_name(const char *s)
{
    return strcmp(s, "pending") == 0 || strcmp(s, "delivered") == 0 || strcmp(s, "rejected") == 0;
}

int tmbus_delivery_state(struct tmbus *h, const uint8_t id[TMBUS_ID_BYTES], int timeout_ms,
                         struct tmbus_delivery_state **out)
{
    Tmbus__Api__Request req = TMBUS__API__REQUEST__INIT;
    Tmbus__Api__DeliveryQuery q = TMBUS__API__DELIVERY_QUERY__INIT;
    const Tmbus__Api__DeliveryState *m;
    struct tmbus_delivery_state *ds = NULL;
    Tmbus__Api__Reply *r = NULL;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (h == NULL || id == NULL || out == NULL)
        return TMBUS_EINVALID;
    h->error[0] = '\0';
    q.id.data = (uint8_t *)(uintptr_t)id;
    q.id.len = TMBUS_ID_BYTES;
    req.kind_case = TMBUS__API__REQUEST__KIND_DELIVERY;
    req.delivery = &q;
    if ((rc = call(h, &req, timeout_ms, &r)) != TMBUS_OK)
        return rc;
    if (r->kind_case != TMBUS__API__REPLY__KIND_DELIVERY_STATE || r->delivery_state == NULL) {
        free_reply(r, false);
        return fail(h, TMBUS_EPROTOCOL, "the node answered a delivery query with something else");
    }
    if ((ds = calloc(1, sizeof(*ds))) == NULL) {
        free_reply(r, false);
        return fail(h, TMBUS_ENOMEM, "out of memory");
    }
    ds->reply = r;
    m = r->delivery_state;
    if (m->n_entries > TMBUS_MAX_RECIPIENTS ||
        (m->n_entries > 0 && (ds->entries = calloc(m->n_entries, sizeof(*ds->entries))) == NULL)) {
        tmbus_delivery_state_free(&ds);
        return fail(h, TMBUS_EPROTOCOL, "the node sent a delivery state we cannot hold");
    }
    for (size_t i = 0; i < m->n_entries; i++) {
        const Tmbus__Api__DeliveryState__Entry *e = m->entries[i];
        size_t len = strlen(e->member);

        if (len == 0 || len > TMBUS_MEMBER_MAX || !is_delivery_state_name(e->state) ||
            strlen(e->reason) > TMBUS_REASON_MAX) {
            tmbus_delivery_state_free(&ds);
            return fail(h, TMBUS_EPROTOCOL, "the node sent a delivery entry we cannot read");
        }
        ds->entries[i] = (struct tmbus_delivery_entry){e->member, e->state, e->reason, e->at};
    }
    ds->n = m->n_entries;
    *out = ds;
    return TMBUS_OK;
}

size_t tmbus_delivery_state_count(const struct tmbus_delivery_state *s)
{
    return s != NULL ? s->n : 0;
}

const struct tmbus_delivery_entry *tmbus_delivery_state_at(const struct tmbus_delivery_state *s,
                                                           size_t i)
{
    return s != NULL && i < s->n ? &s->entries[i] : NULL;
}

/* ---- receiving ---------------------------------------------------------- */

int tmbus_next(struct tmbus *h, int timeout_ms, struct tmbus_delivery **out)
{
    struct tmbus_delivery *d;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (h == NULL || out == NULL)
        return TMBUS_EINVALID;
    if (h->head == NULL) {
        if (!h->is_subscribed)
            return fail(h, TMBUS_EPROTOCOL, "not subscribed");
        if ((rc = wait_for(h, 0, timeout_ms, NULL)) != TMBUS_OK)
            return rc;
    }
    d = h->head;
    h->head = d->next;
    if (h->head == NULL)
        h->tail = NULL;
    d->next = NULL;
    *out = d;
    return TMBUS_OK;
}

int tmbus_ack(struct tmbus *h, uint64_t number, int timeout_ms)
{
    Tmbus__Api__Request req = TMBUS__API__REQUEST__INIT;
    Tmbus__Api__Ack ack = TMBUS__API__ACK__INIT;
    Tmbus__Api__Reply *r = NULL;
    int rc;

    if (h == NULL)
        return TMBUS_EINVALID;
    ack.number = number;
    req.kind_case = TMBUS__API__REQUEST__KIND_ACK;
    req.ack = &ack;
    if ((rc = call(h, &req, timeout_ms, &r)) != TMBUS_OK)
        return rc;
    free_reply(r, false);
    return TMBUS_OK;
}

int tmbus_status(struct tmbus *h, int timeout_ms, struct tmbus_status **out)
{
    Tmbus__Api__Reply *r = NULL;
    const Tmbus__Api__Status *st;
    struct tmbus_status *s;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (h == NULL || out == NULL)
        return TMBUS_EINVALID;
    if ((rc = status_reply(h, timeout_ms, &r)) != TMBUS_OK)
        return rc;
    if ((s = calloc(1, sizeof(*s))) == NULL) {
        free_reply(r, false);
        return fail(h, TMBUS_ENOMEM, "out of memory");
    }
    s->reply = r;
    st = r->status;
    s->peers = calloc(st->n_peers + 1, sizeof(*s->peers));
    s->counters = calloc(st->n_counters + 1, sizeof(*s->counters));
    if (s->peers == NULL || s->counters == NULL) {
        tmbus_status_free(&s);
        return fail(h, TMBUS_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < st->n_peers; i++) {
        const Tmbus__Api__PeerStatus *p = st->peers[i];
        s->peers[i] = (struct tmbus_peer){.member = p->member,
                                          .state = p->state,
                                          .silent_ms = p->silent_ms,
                                          .lag = p->lag,
                                          .behind = p->behind};
    }
    for (size_t i = 0; i < st->n_counters; i++)
        s->counters[i] = (struct tmbus_counter){st->counters[i]->name, st->counters[i]->value};
    *out = s;
    return TMBUS_OK;
}

int tmbus_fd(struct tmbus *h)
{
    if (h == NULL || h->epfd == -1)
        return TMBUS_EINVALID;
    return h->epfd;
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

const char *tmbus_status_member(const struct tmbus_status *s)
{
    return s->reply->status->member;
}

uint64_t tmbus_status_roster_version(const struct tmbus_status *s)
{
    return s->reply->status->roster_version;
}

uint64_t tmbus_status_envelopes(const struct tmbus_status *s)
{
    return s->reply->status->envelopes;
}

uint64_t tmbus_status_inbox(const struct tmbus_status *s)
{
    return s->reply->status->inbox;
}

const uint8_t *tmbus_status_board_digest(const struct tmbus_status *s)
{
    const ProtobufCBinaryData *d = &s->reply->status->board_digest;

    return d->len == TMBUS_ID_BYTES ? d->data : NULL;
}

size_t tmbus_status_counter_count(const struct tmbus_status *s)
{
    return s->reply->status->n_counters;
}

const struct tmbus_counter *tmbus_status_counter_at(const struct tmbus_status *s, size_t i)
{
    return s != NULL && i < s->reply->status->n_counters ? &s->counters[i] : NULL;
}

size_t tmbus_status_peer_count(const struct tmbus_status *s)
{
    return s->reply->status->n_peers;
}

const struct tmbus_peer *tmbus_status_peer_at(const struct tmbus_status *s, size_t i)
{
    return s != NULL && i < s->reply->status->n_peers ? &s->peers[i] : NULL;
}

void tmbus_status_free(struct tmbus_status **sp)
{
    if (sp == NULL || *sp == NULL)
        return;
    free((*sp)->peers);
    free((*sp)->counters);
    free_reply((*sp)->reply, false);
    free(*sp);
    *sp = NULL;
}
