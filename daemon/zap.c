/*
 * zap: answers ZAP requests from libzmq's I/O threads. A request is
 * refused unless it is well formed, uses CURVE, and the check function
 * knows the key. Every refusal is counted; its line in the log is rate
 * limited, since whoever can reach a socket can make us refuse without
 * end: at most one line per key per ZAP_LOG_INTERVAL_MS (the next one says
 * how many were left out), and at most ZAP_LOG_BURST lines in that time
 * over all keys, so fresh keys buy no more lines than one. A zap_watch
 * does the same for the handshakes libzmq fails before it asks us at all
 * (a client without CURVE), which would otherwise leave no trace.
 */
#include "zap.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

#include "keys.h"
#include "log.h"
#include "stats.h"

#define ZAP_ENDPOINT        "inproc://zeromq.zap.01"
#define ZAP_MAX_FRAMES      8
#define ZAP_FRAME_MAX       256
#define ZAP_USER_ID_MAX     (4 * ((KEYS_PUBLIC_BYTES + 2) / 3) + 1) /* base64 and NUL */
#define ZAP_LOG_INTERVAL_MS 10000
#define ZAP_LOG_KEYS        64 /* keys whose last line we remember */
#define ZAP_LOG_BURST       16 /* lines over all keys per interval */
#define ZAP_DOMAIN_MAX      16 /* of a domain told apart in the log limit */

/* When a key refused on one socket (or, all zero, a request too broken to
 * name one) was last written to the log. */
struct refused_key {
    uint8_t pk[KEYS_PUBLIC_BYTES];
    char domain[ZAP_DOMAIN_MAX + 1];
    struct log_limit limit;
};

struct zap {
    void *socket;
    zap_check_fn check;
    void *arg;
    uint64_t allowed, denied;
    struct refused_key refused[ZAP_LOG_KEYS];
    size_t n_refused, next_evicted;
    struct log_limit all;  /* the interval over all keys */
    uint32_t lines_in_all; /* lines written in it */
};

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether a refusal of pk (NULL: no usable key) on the socket of domain
 * may be logged now. When it may, *suppressed says how many refusals of
 * that key there went unlogged since its last line. A key not remembered
 * takes the slot of the one remembered longest; forgetting one costs at
 * most an extra line. */
static bool may_log(struct zap *z, const uint8_t *pk, const char *domain, uint64_t *suppressed)
{
    static const uint8_t none[KEYS_PUBLIC_BYTES];
    struct refused_key *k = NULL;
    int64_t now = now_ms();
    uint64_t ignored;

    if (pk == NULL)
        pk = none;
    for (size_t i = 0; i < z->n_refused && k == NULL; i++)
        if (memcmp(z->refused[i].pk, pk, KEYS_PUBLIC_BYTES) == 0 &&
            strncmp(z->refused[i].domain, domain, ZAP_DOMAIN_MAX) == 0)
            k = &z->refused[i];
    if (k == NULL) {
        if (z->n_refused < ZAP_LOG_KEYS) {
            k = &z->refused[z->n_refused++];
        } else {
            k = &z->refused[z->next_evicted];
            z->next_evicted = (z->next_evicted + 1) % ZAP_LOG_KEYS;
        }
        memset(k, 0, sizeof(*k));
        memcpy(k->pk, pk, KEYS_PUBLIC_BYTES);
        snprintf(k->domain, sizeof(k->domain), "%s", domain);
    }
    if (log_limit_allow(&z->all, now, ZAP_LOG_INTERVAL_MS, &ignored))
        z->lines_in_all = 0;
    if (z->lines_in_all >= ZAP_LOG_BURST ||
        !log_limit_allow(&k->limit, now, ZAP_LOG_INTERVAL_MS, suppressed)) {
        if (z->lines_in_all >= ZAP_LOG_BURST)
            k->limit.suppressed++;
        return false;
    }
    z->lines_in_all++;
    return true;
}

struct zap *zap_new(void *zctx, zap_check_fn check, void *arg)
{
    struct zap *z = calloc(1, sizeof(*z));
    int linger = 0;

    if (z == NULL)
        return NULL;
    z->check = check;
    z->arg = arg;
    if ((z->socket = zmq_socket(zctx, ZMQ_REP)) == NULL ||
        zmq_setsockopt(z->socket, ZMQ_LINGER, &linger, sizeof(linger)) == -1 ||
        zmq_bind(z->socket, ZAP_ENDPOINT) == -1) {
        log_warnx("zap: cannot start the authentication handler: %s", zmq_strerror(errno));
        zap_free(&z);
        return NULL;
    }
    return z;
}

void zap_free(struct zap **zp)
{
    if (zp == NULL || *zp == NULL)
        return;
    if ((*zp)->socket != NULL)
        zmq_close((*zp)->socket);
    free(*zp);
    *zp = NULL;
}

void *zap_socket(struct zap *z)
{
    return z->socket;
}

int zap_message_key(void *msg, uint8_t pk[KEYS_PUBLIC_BYTES])
{
    const char *user_id = zmq_msg_gets(msg, "User-Id");

    if (user_id == NULL || strlen(user_id) >= ZAP_USER_ID_MAX)
        return -1;
    return keys_from_base64(user_id, pk, KEYS_PUBLIC_BYTES);
}

uint64_t zap_allowed(const struct zap *z)
{
    return z->allowed;
}

uint64_t zap_denied(const struct zap *z)
{
    return z->denied;
}

struct frame {
    uint8_t data[ZAP_FRAME_MAX];
    size_t len;
};

/* Reads one whole multipart request; frames beyond what fits are drained
 * and make the request malformed. Returns the frame count, or -1 when
 * nothing was waiting. */
static int read_request(void *socket, struct frame *frames, bool *is_truncated)
{
    int n = 0, more;
    size_t more_len = sizeof(more);

    *is_truncated = false;
    do {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, socket, n == 0 ? ZMQ_DONTWAIT : 0) == -1) {
            zmq_msg_close(&msg);
            return n == 0 ? -1 : n;
        }
        if (n < ZAP_MAX_FRAMES && zmq_msg_size(&msg) <= ZAP_FRAME_MAX) {
            memcpy(frames[n].data, zmq_msg_data(&msg), zmq_msg_size(&msg));
            frames[n].len = zmq_msg_size(&msg);
        } else {
            *is_truncated = true;
        }
        n++;
        zmq_msg_close(&msg);
        zmq_getsockopt(socket, ZMQ_RCVMORE, &more, &more_len);
    } while (more);
    return n;
}

static bool frame_is(const struct frame *f, const char *s)
{
    return f->len == strlen(s) && memcmp(f->data, s, f->len) == 0;
}

static void send_frame(void *socket, const void *data, size_t len, bool more)
{
    zmq_send(socket, data, len, more ? ZMQ_SNDMORE : 0);
}

static void reply(void *socket, const struct frame *request_id, const char *code, const char *text,
                  const char *user_id)
{
    send_frame(socket, "1.0", 3, true);
    send_frame(socket, request_id ? request_id->data : NULL, request_id ? request_id->len : 0,
               true);
    send_frame(socket, code, strlen(code), true);
    send_frame(socket, text, strlen(text), true);
    send_frame(socket, user_id, strlen(user_id), true);
    send_frame(socket, "", 0, false);
}

/* One request: version, request id, domain, address, identity, mechanism,
 * credentials. */
static void handle(struct zap *z, struct frame *f, int n, bool is_truncated)
{
    char domain[ZAP_FRAME_MAX + 1], address[ZAP_FRAME_MAX + 1], user_id[ZAP_USER_ID_MAX];
    char fingerprint[16];
    const char *why = NULL;
    uint64_t suppressed;
    char note[LOG_LIMIT_NOTE_MAX];

    if (n < 2 || is_truncated) {
        /* Not even a request id to answer to: a REP socket must still
         * reply, so answer with an empty id. */
        z->denied++;
        if (may_log(z, NULL, "", &suppressed))
            log_warnx("zap: refused a malformed request (%d frames)%s", n,
                      log_limit_note(note, suppressed));
        reply(z->socket, n >= 2 ? &f[1] : NULL, "500", "malformed request", "");
        return;
    }
    if (!frame_is(&f[0], "1.0") || n != 7)
        why = "malformed request";
    else if (!frame_is(&f[5], "CURVE"))
        why = "mechanism is not CURVE";
    else if (f[6].len != KEYS_PUBLIC_BYTES)
        why = "bad CURVE key length";
    if (why != NULL) {
        z->denied++;
        if (may_log(z, NULL, "", &suppressed))
            log_warnx("zap: refused a handshake: %s%s", why, log_limit_note(note, suppressed));
        reply(z->socket, &f[1], "400", why, "");
        return;
    }
    memcpy(domain, f[2].data, f[2].len);
    domain[f[2].len] = '\0';
    memcpy(address, f[3].data, f[3].len);
    address[f[3].len] = '\0';
    if (z->check(z->arg, domain, f[6].data) != 0) {
        z->denied++;
        /* A public key prefix names the intruder without revealing anything
         * secret. */
        keys_to_base64(f[6].data, 9, fingerprint, sizeof(fingerprint));
        if (may_log(z, f[6].data, domain, &suppressed))
            log_warnx("zap: refused unknown key %s… from %s on the %s socket%s", fingerprint,
                      address, domain, log_limit_note(note, suppressed));
        reply(z->socket, &f[1], "400", "unknown key", "");
        return;
    }
    z->allowed++;
    /* The key itself, not the name it maps to now: a name outlives a key,
     * and each message must be checked against the configuration and
     * roster in force when it arrives. */
    keys_to_base64(f[6].data, KEYS_PUBLIC_BYTES, user_id, sizeof(user_id));
    log_debug("zap: admitted %s from %s on the %s socket", user_id, address, domain);
    reply(z->socket, &f[1], "200", "OK", user_id);
}

void zap_on_ready(void *arg)
{
    struct zap *z = arg;
    struct frame frames[ZAP_MAX_FRAMES];
    bool is_truncated;
    int n;

    /* Bounded: at most 64 handshakes per round, so a flood of connection
     * attempts cannot starve the peers. */
    for (int i = 0; i < 64; i++) {
        if ((n = read_request(z->socket, frames, &is_truncated)) == -1)
            return;
        handle(z, frames, n, is_truncated);
    }
}

/* ---- handshakes refused before ZAP ------------------------------------- */

/* The events of a handshake that failed without a ZAP request: an
 * authentication failure (HANDSHAKE_FAILED_AUTH) is ZAP's own refusal,
 * logged and counted above. */
#define WATCH_EVENTS (ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)

struct zap_watch {
    void *server;
    void *pair;
    const char *domain;
    const char *counter;
    struct stats *stats;
    struct log_limit limit;
};

struct zap_watch *zap_watch_new(void *zctx, void *server, const char *domain, const char *counter,
                                struct stats *stats)
{
    struct zap_watch *w = calloc(1, sizeof(*w));
    char endpoint[64];
    int linger = 0;

    if (w == NULL) {
        log_warnx("zap: out of memory");
        return NULL;
    }
    w->domain = domain;
    w->counter = counter;
    w->stats = stats;
    /* One endpoint per socket: its domain names it, as each domain has
     * one server socket. */
    snprintf(endpoint, sizeof(endpoint), "inproc://tmbus-zap-watch-%s", domain);
    if (zmq_socket_monitor(server, endpoint, WATCH_EVENTS) == -1) {
        log_warnx("zap: cannot watch the %s socket: %s", domain, zmq_strerror(errno));
        free(w);
        return NULL;
    }
    w->server = server;
    if ((w->pair = zmq_socket(zctx, ZMQ_PAIR)) == NULL ||
        zmq_setsockopt(w->pair, ZMQ_LINGER, &linger, sizeof(linger)) == -1 ||
        zmq_connect(w->pair, endpoint) == -1) {
        log_warnx("zap: cannot watch the %s socket: %s", domain, zmq_strerror(errno));
        zap_watch_free(&w);
        return NULL;
    }
    return w;
}

void *zap_watch_socket(struct zap_watch *w)
{
    return w->pair;
}

/* Reads one event (two frames: event and value, then the endpoint).
 * Returns 0 with *event and *value, or -1 when none is pending. */
static int read_event(void *pair, uint16_t *event, uint32_t *value)
{
    zmq_msg_t msg;
    int more = 0;
    size_t more_len = sizeof(more);

    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, pair, ZMQ_DONTWAIT) == -1) {
        zmq_msg_close(&msg);
        return -1;
    }
    *event = 0;
    *value = 0;
    if (zmq_msg_size(&msg) >= sizeof(*event) + sizeof(*value)) {
        memcpy(event, zmq_msg_data(&msg), sizeof(*event));
        memcpy(value, (const uint8_t *)zmq_msg_data(&msg) + sizeof(*event), sizeof(*value));
    }
    zmq_msg_close(&msg);
    zmq_getsockopt(pair, ZMQ_RCVMORE, &more, &more_len);
    while (more) {
        zmq_msg_init(&msg);
        zmq_msg_recv(&msg, pair, 0);
        zmq_msg_close(&msg);
        more_len = sizeof(more);
        zmq_getsockopt(pair, ZMQ_RCVMORE, &more, &more_len);
    }
    return 0;
}

void zap_watch_on_ready(void *arg)
{
    struct zap_watch *w = arg;
    uint16_t event;
    uint32_t value;
    uint64_t suppressed;
    char note[LOG_LIMIT_NOTE_MAX], why[64];

    while (read_event(w->pair, &event, &value) == 0) {
        if ((event & WATCH_EVENTS) == 0)
            continue;
        stats_count(w->stats, w->counter, 1);
        if (!log_limit_allow(&w->limit, now_ms(), ZAP_LOG_INTERVAL_MS, &suppressed))
            continue;
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
            value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
            snprintf(why, sizeof(why), "the client does not use CURVE");
        else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
            snprintf(why, sizeof(why), "handshake protocol error 0x%08x", (unsigned)value);
        else
            snprintf(why, sizeof(why), "handshake failed");
        log_warnx("zap: refused a connection on the %s socket: %s%s", w->domain, why,
                  log_limit_note(note, suppressed));
    }
}

void zap_watch_free(struct zap_watch **wp)
{
    struct zap_watch *w;

    if (wp == NULL || (w = *wp) == NULL)
        return;
    if (w->server != NULL)
        zmq_socket_monitor(w->server, NULL, 0);
    if (w->pair != NULL)
        zmq_close(w->pair);
    free(w);
    *wp = NULL;
}
