/*
 * libtmbus's handle: the client side of proto/api.proto over one ZeroMQ
 * DEALER with CURVE. Calls wait for their answer one at a time, while
 * pipelined posts (post.c keeps their tickets) may be in flight beside
 * them; whatever arrives meanwhile (deliveries, posts' outcomes) is
 * queued in the handle. A socket
 * monitor tells a failed handshake from silence and notices reconnects,
 * after which the library subscribes again with the same filter. The
 * typed posts (post.c), the results (results.c), deliveries (delivery.c)
 * and key files (keyfile.c) build on the calls this file lends them
 * (internal.h). It must never expose protobuf types, keep a secret key
 * outside sodium_malloc memory, or exit the process.
 */
#include "tmbus.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#include "domain.h"
#include "internal.h"
#include "payload.h"
#include "wire_limits.h"

/* The largest reply is a delivery: a payload plus recipients and header
 * fields, well under 1 MiB. libzmq drops a connection that sends more than
 * twice that. */
#define REPLY_MAX            (1024 * 1024)
#define HARD_MAX             (2 * REPLY_MAX)
#define ERROR_MAX            256 /* a handle's last one-line reason */
#define WINDOW_DEFAULT       64
#define HEARTBEAT_IVL_MS     5000
#define HEARTBEAT_TIMEOUT_MS 15000
#define MONITOR_ENDPOINT     "inproc://tmbus-monitor" /* one context per handle */
#define MONITOR_EVENTS                                                                             \
    (ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |                             \
     ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |                  \
     ZMQ_EVENT_DISCONNECTED)

/* A subscription's filter, copied so that a resubscription after a
 * reconnect asks for the same. Kinds point at payload.c's static names. */
struct filter_copy {
    const char *kinds[TMBUS_FILTER_MAX];
    uint32_t categories[TMBUS_FILTER_MAX];
    uint32_t tlps[TMBUS_FILTER_MAX];
    char senders[TMBUS_FILTER_MAX][TMBUS_MEMBER_MAX + 1];
    size_t n_kinds, n_categories, n_tlps, n_senders;
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
    int ended; /* the node ended the subscription unasked: its error, else 0 */
    char ended_why[ERROR_MAX];
    uint32_t window;
    struct filter_copy filter; /* of the current subscription */
    uint64_t handshakes;       /* handshakes that succeeded */
    bool needs_resubscribe;
    uint64_t resubscribe_id;
    bool is_down; /* the connection dropped and no handshake has followed yet */
    unsigned auth_failures, drops;
    bool is_refused;         /* the last handshake failed authentication */
    struct post_queue posts; /* pipelined posts in flight and their outcomes */
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
    case TMBUS_EBUSY:
        return "too many posts in flight";
    case TMBUS_EUNAVAILABLE:
        return "the node cannot take it yet: try again later";
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

int client_fail(struct tmbus *h, int err, const char *fmt, ...)
{
    va_list ap;

    if (h == NULL)
        return err; /* a reply read without a connection (the fuzzer) */
    va_start(ap, fmt);
    format_error(h->error, sizeof(h->error), fmt, ap);
    va_end(ap);
    return err;
}

int client_fail_to(char *buf, size_t size, int err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    format_error(buf, size, fmt, ap);
    va_end(ap);
    return err;
}

const char *client_reply_reason(Tmbus__Api__Reply *r, const char *fallback)
{
    char *s = r->reason;

    if (s == NULL)
        return fallback;
    for (size_t i = 0; s[i] != '\0'; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
            /* Only an unset reason is protobuf-c's shared read-only "",
             * and it has no byte to cut at. */
            s[i] = '\0';
            break;
        }
    return s[0] != '\0' ? s : fallback;
}

void client_clear_error(struct tmbus *h)
{
    h->error[0] = '\0';
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
    case TMBUS__API__CODE__CODE_UNAVAILABLE:
        return TMBUS_EUNAVAILABLE;
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

void client_free_reply(Tmbus__Api__Reply *r, bool is_secret)
{
    if (r == NULL)
        return;
    if (is_secret && r->kind_case == TMBUS__API__REPLY__KIND_DELIVERY && r->delivery != NULL &&
        r->delivery->payload.data != NULL)
        sodium_memzero(r->delivery->payload.data, r->delivery->payload.len);
    tmbus__api__reply__free_unpacked(r, NULL);
}

static bool is_sound_delivery(const Tmbus__Api__Delivery *d)
{
    bool is_log_peer =
        d->log_peer[0] == '\0' || domain_is_member_id(d->log_peer, strlen(d->log_peer));

    return d->number > 0 && d->id.len == WIRE_ID_BYTES &&
           domain_is_member_id(d->sender, strlen(d->sender)) && is_log_peer &&
           d->n_recipients <= WIRE_MAX_RECIPIENTS && d->payload.len <= WIRE_MAX_PAYLOAD;
}

/* Takes responsibility over r: queues it, or frees a duplicate. */
static void enqueue(struct tmbus *h, Tmbus__Api__Reply *r)
{
    struct tmbus_delivery *d;

    /* After a resubscription the node starts again from the durable
     * cursor: what this handle already gave out comes again. Out of
     * memory, the delivery is dropped unacked: it comes again after a
     * reconnect. */
    if (r->delivery->number <= h->last_number) {
        client_free_reply(r, true);
        return;
    }
    if ((d = delivery_new(r)) == NULL)
        return;
    if (h->tail != NULL)
        h->tail->next = d;
    else
        h->head = d;
    h->tail = d;
    h->last_number = d->reply->delivery->number;
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
            h->is_down = false;
            if (++h->handshakes > 1 && h->is_subscribed)
                h->needs_resubscribe = true;
        } else if (event == ZMQ_EVENT_DISCONNECTED) {
            h->drops++;
            h->is_down = true;
            /* Their answers died with the connection: a node that
             * restarts answers nothing it read before. */
            post_queue_fail_all(&h->posts, TMBUS_ECLOSED,
                                "the connection to the node dropped (the post may have been "
                                "committed)");
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
        return client_fail(h, TMBUS_ENOMEM, "out of memory for a %zu-byte request", len);
    tmbus__api__request__pack(req, buf);
    if (zmq_send(h->socket, buf, len, ZMQ_DONTWAIT) == -1) {
        if (errno == EAGAIN)
            rc = client_fail(h, TMBUS_ETIMEOUT, "the connection's send queue is full");
        else
            rc = client_fail(h, TMBUS_ECLOSED, "cannot send: %s", zmq_strerror(errno));
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
            client_fail(h, TMBUS_EPROTOCOL, "dropped a malformed delivery from the node");
            client_free_reply(r, true);
        }
        return;
    }
    if (r->id != 0 && post_queue_answer(&h->posts, r, from_code(r->code)))
        return;
    /* Id 0, refused, unasked, while subscribed and no call waits: the node
     * ended the subscription (our key was removed from its configuration,
     * or the roster revoked its member) and says why once. */
    if (r->id == 0 && want_id == 0 && h->is_subscribed && r->code != TMBUS__API__CODE__CODE_OK) {
        h->is_subscribed = false;
        h->ended = from_code(r->code);
        snprintf(h->ended_why, sizeof(h->ended_why), "%s",
                 client_reply_reason(r, "subscription ended"));
        client_free_reply(r, false);
        return;
    }
    /* Id 0 without a delivery: the node could not read a request, so it
     * could not echo its id. Ours are well-formed, so it is taken as the
     * answer to the call that waits (pipelined posts' never are). */
    if (want_id != 0 && (r->id == want_id || r->id == 0)) {
        *out = r;
        return;
    }
    if (r->id != 0 && r->id == h->resubscribe_id) {
        if (r->code != TMBUS__API__CODE__CODE_OK) {
            h->is_subscribed = false;
            client_fail(h, from_code(r->code), "subscribing again after a reconnect failed: %s",
                        client_reply_reason(r, ""));
        }
        h->resubscribe_id = 0;
    }
    /* Anything else answers a request that timed out earlier. */
    client_free_reply(r, false);
}

/* The id of a Reply too large to decode, read from its first field (a
 * Reply's id is field 1, which protobuf encoders write first); 0 when the
 * frame does not start with it. */
static uint64_t reply_id(zmq_msg_t *msg)
{
    const uint8_t *p = zmq_msg_data(msg);
    size_t len = zmq_msg_size(msg);
    uint64_t id = 0;

    if (len < 2 || p[0] != 0x08) /* field 1, varint */
        return 0;
    for (size_t i = 1; i < len && i <= 10; i++) {
        id |= (uint64_t)(p[i] & 0x7f) << (7 * (i - 1));
        if ((p[i] & 0x80) == 0)
            return id;
    }
    return 0;
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
            return client_fail(h, TMBUS_ECLOSED, "cannot receive: %s", zmq_strerror(err));
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
            if (!more && want_id != 0 && reply_id(&msg) == want_id) {
                /* The answer itself is what we cannot take: say so now
                 * rather than let the caller wait for its timeout. */
                size_t size = zmq_msg_size(&msg);
                sodium_memzero(zmq_msg_data(&msg), size);
                zmq_msg_close(&msg);
                return client_fail(h, TMBUS_EPROTOCOL,
                                   "the node's answer of %zu bytes is over this library's limit "
                                   "of %d bytes",
                                   size, REPLY_MAX);
            }
            client_fail(h, TMBUS_EPROTOCOL, "dropped a malformed reply from the node");
            sodium_memzero(zmq_msg_data(&msg), zmq_msg_size(&msg));
            zmq_msg_close(&msg);
            continue;
        }
        r = tmbus__api__reply__unpack(NULL, zmq_msg_size(&msg), zmq_msg_data(&msg));
        /* The frame held a delivery's payload in clear. */
        sodium_memzero(zmq_msg_data(&msg), zmq_msg_size(&msg));
        zmq_msg_close(&msg);
        if (r == NULL) {
            client_fail(h, TMBUS_EPROTOCOL, "dropped a reply that is not a tmbus.api.Reply");
            continue;
        }
        sort_reply(h, r, want_id, out);
    }
    return TMBUS_OK;
}

/* Whether the node may not hold this handle's subscription yet: the
 * connection dropped, or came back and the subscription sent again is not
 * confirmed. An ack sent then would reach a node that has forgotten the
 * subscription (a restarted node, or the same one on a new connection). */
static bool is_resubscribing(const struct tmbus *h)
{
    return h->is_subscribed && (h->is_down || h->needs_resubscribe || h->resubscribe_id != 0);
}

/* What a wait is for. */
enum wait_goal {
    WAIT_REPLY,     /* the answer to want_id, into *out */
    WAIT_DELIVERY,  /* a delivery queued */
    WAIT_OUTCOME,   /* a pipelined post's outcome queued */
    WAIT_PLACE,     /* a place in the window of posts in flight */
    WAIT_NO_FLIGHT, /* no post in flight */
    WAIT_SUBSCRIBED /* the subscription is in place on the current connection */
};

static bool is_reached(const struct tmbus *h, enum wait_goal goal, Tmbus__Api__Reply *const *out)
{
    switch (goal) {
    case WAIT_REPLY:
        return *out != NULL;
    case WAIT_DELIVERY:
        return h->head != NULL;
    case WAIT_OUTCOME:
        return h->posts.head != NULL;
    case WAIT_PLACE:
        return !post_queue_is_full(&h->posts);
    case WAIT_NO_FLIGHT:
        return h->posts.n_flight == 0;
    case WAIT_SUBSCRIBED:
        return !is_resubscribing(h);
    }
    return true;
}

/* Waits until goal is reached (want_id and out for WAIT_REPLY), reading
 * whatever comes meanwhile and timing out posts in flight. timeout_ms as
 * in tmbus.h. */
static int wait_for(struct tmbus *h, enum wait_goal goal, uint64_t want_id, int timeout_ms,
                    Tmbus__Api__Reply **out)
{
    int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    Tmbus__Api__Reply *dummy = NULL;

    if (out == NULL)
        out = &dummy;
    *out = NULL;
    for (;;) {
        zmq_pollitem_t items[2] = {{h->socket, 0, ZMQ_POLLIN, 0}, {h->monitor, 0, ZMQ_POLLIN, 0}};
        int64_t now, left, next_expiry;
        int rc;

        read_events(h);
        /* libzmq would retry the handshake for ever; our key is refused
         * and nothing will come, so say so now. */
        if (h->is_refused) {
            post_queue_fail_all(&h->posts, TMBUS_EDENIED, "the node refused this client's key");
            return client_fail(h, TMBUS_EDENIED, "the node refused this client's key");
        }
        maybe_resubscribe(h);
        if ((rc = drain(h, goal == WAIT_REPLY ? want_id : 0, out)) != TMBUS_OK)
            return rc;
        now = now_ms();
        next_expiry = post_queue_expire(&h->posts, now);
        if (is_reached(h, goal, out))
            return TMBUS_OK;
        if (goal == WAIT_DELIVERY && h->ended != 0)
            return client_fail(h, h->ended, "%s", h->ended_why);
        if (goal == WAIT_OUTCOME && h->posts.n_flight == 0)
            return client_fail(h, TMBUS_ENOTFOUND, "no post in flight");
        left = deadline - now;
        if (timeout_ms >= 0 && left <= 0)
            return TMBUS_ETIMEOUT;
        if (timeout_ms < 0)
            left = -1;
        /* Wake for the first post that times out, to report it. */
        if (next_expiry >= 0 && (left < 0 || next_expiry - now < left))
            left = next_expiry - now > 0 ? next_expiry - now : 1;
        if (zmq_poll(items, 2, (long)left) == -1 && errno != EINTR)
            return client_fail(h, TMBUS_ECLOSED, "cannot poll: %s", zmq_strerror(errno));
    }
}

/* One round trip. On TMBUS_OK *out is a reply with code OK, the caller's
 * to free; any other code becomes an error with the node's reason. */
int client_call(struct tmbus *h, Tmbus__Api__Request *req, int timeout_ms, Tmbus__Api__Reply **out)
{
    Tmbus__Api__Reply *r = NULL;
    int rc;

    *out = NULL;
    h->error[0] = '\0';
    read_events(h);
    maybe_resubscribe(h);
    if ((rc = send_request(h, req)) != TMBUS_OK)
        return rc;
    if ((rc = wait_for(h, WAIT_REPLY, req->id, timeout_ms, &r)) != TMBUS_OK) {
        if (rc == TMBUS_ETIMEOUT)
            client_fail(h, rc, "no answer from the node within %d ms", timeout_ms);
        return rc;
    }
    if (r->code != TMBUS__API__CODE__CODE_OK) {
        rc =
            client_fail(h, from_code(r->code), "%s", client_reply_reason(r, "refused by the node"));
        client_free_reply(r, false);
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

int client_status_reply(struct tmbus *h, int timeout_ms, Tmbus__Api__Reply **out)
{
    Tmbus__Api__Request req = TMBUS__API__REQUEST__INIT;
    Tmbus__Api__StatusRequest sr = TMBUS__API__STATUS_REQUEST__INIT;
    int rc;

    req.kind_case = TMBUS__API__REQUEST__KIND_STATUS;
    req.status = &sr;
    if ((rc = client_call(h, &req, timeout_ms, out)) != TMBUS_OK)
        return rc;
    if ((*out)->kind_case != TMBUS__API__REPLY__KIND_STATUS) {
        client_free_reply(*out, false);
        *out = NULL;
        return client_fail(h, TMBUS_EPROTOCOL,
                           "the node answered a status request with something else");
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
        return client_fail(h, TMBUS_ENOMEM, "cannot create a ZeroMQ socket: %s",
                           zmq_strerror(errno));
    if ((sk = sodium_malloc(TMBUS_KEY_BYTES)) == NULL)
        return client_fail(h, TMBUS_ENOMEM, "cannot allocate locked memory for the secret key");
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
        return client_fail(h, TMBUS_EINTERNAL, "cannot set socket options: %s",
                           zmq_strerror(errno));
    if (zmq_socket_monitor(h->socket, MONITOR_ENDPOINT, MONITOR_EVENTS) == -1 ||
        (h->monitor = zmq_socket(h->ctx, ZMQ_PAIR)) == NULL || set_int(h->monitor, ZMQ_LINGER, 0) ||
        zmq_connect(h->monitor, MONITOR_ENDPOINT) == -1)
        return client_fail(h, TMBUS_EINTERNAL, "cannot monitor the socket: %s",
                           zmq_strerror(errno));
    if (zmq_connect(h->socket, endpoint) == -1)
        return client_fail(h, TMBUS_EINVALID, "cannot connect to '%s': %s", endpoint,
                           zmq_strerror(errno));
    /* One descriptor for the caller's loop, covering replies and the
     * monitor (so a reconnect wakes the caller, who then subscribes
     * again through tmbus_next). */
    if ((h->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
        return client_fail(h, TMBUS_EINTERNAL, "epoll_create1: %s", strerror(errno));
    if (zmq_getsockopt(h->socket, ZMQ_FD, &fd, &fd_len) == -1 ||
        epoll_ctl(h->epfd, EPOLL_CTL_ADD, fd, &ev) == -1)
        return client_fail(h, TMBUS_EINTERNAL, "cannot watch the socket");
    fd_len = sizeof(fd);
    if (zmq_getsockopt(h->monitor, ZMQ_FD, &fd, &fd_len) == -1 ||
        epoll_ctl(h->epfd, EPOLL_CTL_ADD, fd, &ev) == -1)
        return client_fail(h, TMBUS_EINTERNAL, "cannot watch the socket monitor");
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
        return client_fail_to(err, err_size, TMBUS_EINVALID, "no place for the handle");
    *out = NULL;
    if (endpoint == NULL || node_public_key == NULL || client_public_key == NULL ||
        client_secret_key == NULL || timeout_ms < 0)
        return client_fail_to(err, err_size, TMBUS_EINVALID,
                              "endpoint, keys and a timeout of 0 ms or more are required");
    if (sodium_init() < 0)
        return client_fail_to(err, err_size, TMBUS_EINTERNAL, "libsodium failed to initialise");
    /* A CURVE key pair that does not match would fail silently later. */
    if (crypto_scalarmult_base(derived, client_secret_key) != 0 ||
        sodium_memcmp(derived, client_public_key, TMBUS_KEY_BYTES) != 0) {
        sodium_memzero(derived, sizeof(derived));
        return client_fail_to(err, err_size, TMBUS_EINVALID,
                              "the client public key does not belong to the secret key");
    }
    if ((h = calloc(1, sizeof(*h))) == NULL)
        return client_fail_to(err, err_size, TMBUS_ENOMEM, "out of memory");
    h->epfd = -1;
    h->window = WINDOW_DEFAULT;
    post_queue_init(&h->posts);
    if ((rc = open_socket(h, endpoint, node_public_key, client_public_key, client_secret_key)) !=
        TMBUS_OK)
        goto out;
    rc = client_status_reply(h, timeout_ms, &r);
    if (rc == TMBUS_ETIMEOUT || rc == TMBUS_EDENIED) {
        read_events(h);
        if (h->auth_failures > 0)
            rc = client_fail(h, TMBUS_EDENIED,
                             "the node at %s refused this client's key: it is not in the node's "
                             "configuration",
                             endpoint);
        else if (h->drops > 0)
            client_fail(h, rc,
                        "the node at %s dropped the handshake: is the node public key the node's "
                        "transport key?",
                        endpoint);
        else
            client_fail(
                h, rc,
                "no answer from %s within %d ms: is the node running there, and is the node "
                "public key right?",
                endpoint, timeout_ms);
    }
out:
    client_free_reply(r, false);
    if (rc != TMBUS_OK) {
        client_fail_to(err, err_size, rc, "%s", h->error);
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
    post_queue_clear(&h->posts);
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

/* ---- requests ----------------------------------------------------------- */

/* Checks a post's arguments and fills req and post (which borrow them). */
static int fill_post(struct tmbus *h, Tmbus__Api__Request *req, Tmbus__Api__Post *post,
                     const void *payload, size_t len, const char *const *recipients,
                     size_t n_recipients, bool all, int64_t expires_at)
{
    if (payload == NULL || len == 0 || len > TMBUS_MAX_PAYLOAD)
        return client_fail(h, TMBUS_EINVALID, "the payload must be 1 to %d bytes",
                           TMBUS_MAX_PAYLOAD);
    if (!all && (recipients == NULL || n_recipients == 0 || n_recipients > TMBUS_MAX_RECIPIENTS))
        return client_fail(h, TMBUS_EINVALID, "name 1 to %d recipients, or post to all",
                           TMBUS_MAX_RECIPIENTS);
    for (size_t i = 0; !all && i < n_recipients; i++)
        if (recipients[i] == NULL)
            return client_fail(h, TMBUS_EINVALID, "recipient %zu is NULL", i);
    if (expires_at < 0)
        return client_fail(h, TMBUS_EINVALID, "expires_at must be 0 or a Unix time");
    post->payload.data = (uint8_t *)payload;
    post->payload.len = len;
    if (all) {
        post->all = true;
    } else {
        post->recipients = (char **)recipients;
        post->n_recipients = n_recipients;
    }
    post->expires_at = expires_at;
    req->kind_case = TMBUS__API__REQUEST__KIND_POST;
    req->post = post;
    return TMBUS_OK;
}

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
    if ((rc = fill_post(h, &req, &post, payload, len, recipients, n_recipients, all, expires_at)) !=
        TMBUS_OK)
        return rc;
    if ((rc = client_call(h, &req, timeout_ms, &r)) != TMBUS_OK)
        return rc;
    rc_receipt = r->kind_case == TMBUS__API__REPLY__KIND_RECEIPT ? r->receipt : NULL;
    if (rc_receipt == NULL || rc_receipt->n_placed == 0 ||
        rc_receipt->placed[0]->id.len != TMBUS_ID_BYTES) {
        rc = client_fail(h, TMBUS_EPROTOCOL, "the node answered a post without a receipt");
    } else if (out_id != NULL) {
        memcpy(out_id, rc_receipt->placed[0]->id.data, TMBUS_ID_BYTES);
    }
    client_free_reply(r, false);
    return rc;
}

/* ---- pipelined posts ------------------------------------------------------ */

int tmbus_post_window(struct tmbus *h, unsigned window)
{
    if (h == NULL)
        return TMBUS_EINVALID;
    if (window == 0 || window > TMBUS_POST_WINDOW_MAX)
        return client_fail(h, TMBUS_EINVALID, "the post window must be 1 to %d",
                           TMBUS_POST_WINDOW_MAX);
    h->posts.window = window;
    return TMBUS_OK;
}

size_t tmbus_posts_in_flight(const struct tmbus *h)
{
    return h != NULL ? h->posts.n_flight : 0;
}

int tmbus_post_send(struct tmbus *h, const void *payload, size_t len, const char *const *recipients,
                    size_t n_recipients, bool all, int64_t expires_at, int flags, int timeout_ms,
                    uint64_t *ticket)
{
    Tmbus__Api__Request req = TMBUS__API__REQUEST__INIT;
    Tmbus__Api__Post post = TMBUS__API__POST__INIT;
    int rc;

    if (ticket != NULL)
        *ticket = 0;
    if (h == NULL)
        return TMBUS_EINVALID;
    h->error[0] = '\0';
    if (ticket == NULL || (flags & ~TMBUS_POST_NOWAIT) != 0 || timeout_ms == 0 || timeout_ms < -1)
        return client_fail(h, TMBUS_EINVALID,
                           "a place for the ticket, known flags and a timeout of -1 or more "
                           "than 0 ms");
    if ((rc = fill_post(h, &req, &post, payload, len, recipients, n_recipients, all, expires_at)) !=
        TMBUS_OK)
        return rc;
    read_events(h);
    if (post_queue_is_full(&h->posts)) {
        if (flags & TMBUS_POST_NOWAIT)
            return client_fail(h, TMBUS_EBUSY, "%zu posts in flight, the window's bound",
                               h->posts.n_flight);
        if ((rc = wait_for(h, WAIT_PLACE, 0, timeout_ms, NULL)) != TMBUS_OK) {
            if (rc == TMBUS_ETIMEOUT)
                client_fail(h, rc, "no place in the window of posts in flight within %d ms",
                            timeout_ms);
            return rc;
        }
    }
    maybe_resubscribe(h);
    /* The place is taken before sending, so that an answer read in the
     * same breath finds its ticket. */
    if ((rc = post_queue_track(&h->posts, h->last_id + 1,
                               timeout_ms >= 0 ? now_ms() + timeout_ms : -1)) != TMBUS_OK)
        return client_fail(h, rc, "out of memory for a post in flight");
    if ((rc = send_request(h, &req)) != TMBUS_OK) {
        h->posts.n_flight--; /* the last one: nothing was sent */
        return rc;
    }
    *ticket = req.id;
    return TMBUS_OK;
}

int tmbus_posted_next(struct tmbus *h, int timeout_ms, struct tmbus_posted **out)
{
    int rc;

    if (out != NULL)
        *out = NULL;
    if (h == NULL || out == NULL)
        return TMBUS_EINVALID;
    if (h->posts.head == NULL) {
        if (h->posts.n_flight == 0)
            return client_fail(h, TMBUS_ENOTFOUND, "no post in flight");
        if ((rc = wait_for(h, WAIT_OUTCOME, 0, timeout_ms, NULL)) != TMBUS_OK)
            return rc;
    }
    *out = post_queue_take(&h->posts);
    return TMBUS_OK;
}

int tmbus_post_flush(struct tmbus *h, int timeout_ms)
{
    int rc;

    if (h == NULL)
        return TMBUS_EINVALID;
    if (h->posts.n_flight == 0)
        return TMBUS_OK;
    rc = wait_for(h, WAIT_NO_FLIGHT, 0, timeout_ms, NULL);
    if (rc == TMBUS_ETIMEOUT)
        client_fail(h, rc, "%zu posts still in flight after %d ms", h->posts.n_flight, timeout_ms);
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
        return client_fail(h, TMBUS_EINVALID, "a filter list holds at most %d entries",
                           TMBUS_FILTER_MAX);
    if ((filter->n_kinds > 0 && filter->kinds == NULL) ||
        (filter->n_categories > 0 && filter->categories == NULL) ||
        (filter->n_tlps > 0 && filter->tlps == NULL) ||
        (filter->n_senders > 0 && filter->senders == NULL))
        return client_fail(h, TMBUS_EINVALID, "a filter list with entries but no array");
    for (size_t i = 0; i < filter->n_kinds; i++)
        if (tmbus_kind_parse(filter->kinds[i], &fc->kinds[i]) != TMBUS_OK)
            return client_fail(h, TMBUS_EINVALID, "filter kind '%s' is not one of %s",
                               filter->kinds[i] != NULL ? filter->kinds[i] : "(null)",
                               tmbus_kind_names());
    for (size_t i = 0; i < filter->n_categories; i++) {
        if (tmbus_category_name(filter->categories[i]) == NULL)
            return client_fail(h, TMBUS_EINVALID, "filter category %d is not one of %s",
                               filter->categories[i], tmbus_category_names());
        fc->categories[i] = (uint32_t)filter->categories[i];
    }
    for (size_t i = 0; i < filter->n_tlps; i++) {
        if (tmbus_tlp_name(filter->tlps[i]) == NULL)
            return client_fail(h, TMBUS_EINVALID, "filter TLP %d is not one of %s", filter->tlps[i],
                               tmbus_tlp_names());
        fc->tlps[i] = (uint32_t)filter->tlps[i];
    }
    for (size_t i = 0; i < filter->n_senders; i++) {
        const char *m = filter->senders[i];
        if (m == NULL || !domain_is_member_id(m, strlen(m)))
            return client_fail(h, TMBUS_EINVALID,
                               "filter sender %zu must be a member id (1 to %d of A-Z a-z 0-9 _ -)",
                               i, WIRE_MEMBER_ID_MAX);
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
        return client_fail(h, TMBUS_EINVALID, "window must be 0 to %d", TMBUS_WINDOW_MAX);
    if ((rc = copy_filter(h, filter, &fc)) != TMBUS_OK)
        return rc;
    fill_subscribe(&req, &m, window ? window : WINDOW_DEFAULT, &fc);
    if ((rc = client_call(h, &req, timeout_ms, &r)) != TMBUS_OK)
        return rc;
    client_free_reply(r, false);
    h->is_subscribed = true;
    h->ended = 0;
    h->window = m.sub.window;
    h->filter = fc;
    h->needs_resubscribe = false;
    return TMBUS_OK;
}

int tmbus_subscribe(struct tmbus *h, unsigned window, int timeout_ms)
{
    return tmbus_subscribe_filtered(h, window, NULL, timeout_ms);
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
        if (!h->is_subscribed && h->ended != 0)
            return client_fail(h, h->ended, "%s", h->ended_why);
        if (!h->is_subscribed)
            return client_fail(h, TMBUS_EPROTOCOL, "not subscribed");
        if ((rc = wait_for(h, WAIT_DELIVERY, 0, timeout_ms, NULL)) != TMBUS_OK)
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

/* Waits, within deadline (monotonic ms; -1: none), until the subscription
 * is in place on the current connection. */
static int wait_subscribed(struct tmbus *h, int64_t deadline)
{
    int left = deadline < 0 ? -1 : (int)(deadline > now_ms() ? deadline - now_ms() : 0);
    int rc;

    read_events(h);
    if (!is_resubscribing(h))
        return TMBUS_OK;
    if ((rc = wait_for(h, WAIT_SUBSCRIBED, 0, left, NULL)) == TMBUS_ETIMEOUT)
        return client_fail(h, rc,
                           "the node has not taken the subscription again since the "
                           "connection dropped");
    if (rc == TMBUS_OK && !h->is_subscribed)
        return client_fail(h, TMBUS_EPROTOCOL, "subscribing again after a reconnect failed");
    return rc;
}

int tmbus_ack(struct tmbus *h, uint64_t number, int timeout_ms)
{
    Tmbus__Api__Request req = TMBUS__API__REQUEST__INIT;
    Tmbus__Api__Ack ack = TMBUS__API__ACK__INIT;
    Tmbus__Api__Reply *r = NULL;
    int64_t deadline;
    int rc;

    if (h == NULL)
        return TMBUS_EINVALID;
    h->error[0] = '\0';
    deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : -1;
    ack.number = number;
    req.kind_case = TMBUS__API__REQUEST__KIND_ACK;
    req.ack = &ack;
    /* After a reconnect the ack waits for the subscription sent again: the
     * node (restarted or not) acks only on a connection that subscribed.
     * A number handed out before the reconnect is still right: the node
     * resumes from its durable cursor, below it, and has pushed again up
     * to it by the time it answers the subscription. An ack that left
     * before the drop was noticed (queued by ZeroMQ across the reconnect)
     * can still overtake the subscription: the node refuses it with
     * CODE_PROTOCOL, and it is sent once more behind the subscription. */
    for (int tries = 0;; tries++) {
        if ((rc = wait_subscribed(h, deadline)) != TMBUS_OK)
            return rc;
        r = NULL;
        rc = client_call(
            h, &req, deadline < 0 ? -1 : (int)(deadline > now_ms() ? deadline - now_ms() : 0), &r);
        client_free_reply(r, false);
        if (rc != TMBUS_EPROTOCOL || tries > 0 || !h->is_subscribed)
            return rc;
        read_events(h);
        if (!is_resubscribing(h)) {
            /* The node forgot the subscription, yet no drop was seen:
             * the handshake event may still be on its way. */
            h->needs_resubscribe = true;
        }
    }
}

int tmbus_fd(struct tmbus *h)
{
    if (h == NULL || h->epfd == -1)
        return TMBUS_EINVALID;
    return h->epfd;
}
