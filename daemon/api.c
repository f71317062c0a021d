/*
 * api: the client socket. Reads one Request per message from a CurveZMQ
 * ROUTER, checks it against the client's role and clearance from the
 * running configuration (looked up by name on every request, so a reload
 * takes effect at once), and answers posts and acks only after the node's
 * commit. Pushes inbox deliveries to subscribers under their window and
 * filter, and answers board and delivery-state queries. Posts pass the
 * member's roster role and the board's rules before they are sealed. Never
 * shows a client a payload or a board entry above its clearance and never
 * logs payloads.
 */
#include "api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

#include "api.pb-c.h"
#include "api_msg.h"
#include "board.h"
#include "log.h"
#include "message.h"
#include "peer.h"
#include "receipt.h"
#include "route.h"

/* Past this libzmq drops the connection instead of handing us the frame:
 * a little over the limit still gets a reply, a flood does not. */
#define API_HARD_MAX       (2 * API_MSG_MAX_REQUEST)
#define API_ROUTING_MAX    256 /* libzmq routing ids are at most 255 bytes */
#define API_MAX_PER_CALL   256 /* requests read per socket callback */
#define API_PUMP_BUDGET    256 /* inbox entries looked at per subscriber per pump */
#define API_WINDOW_DEFAULT 64
#define API_WINDOW_MAX     1024
#define API_RETRY_MS       100 /* a subscriber's queue was full: try again after */
#define API_FILTER_BITS    32  /* categories and TLPs a filter can name: 0..31 */

_Static_assert((int)CONFIG_TLP_CLEAR == (int)MESSAGE_TLP_CLEAR &&
                   (int)CONFIG_TLP_RED == (int)MESSAGE_TLP_RED,
               "configured clearances and payload TLP labels must share one order");

/* One client's subscription. At most one per client name: a new Subscribe
 * (from a reconnected client, say) takes it over and restarts from the
 * durable cursor. State is bounded by the number of configured clients. */
struct subscriber {
    char client[CONFIG_CLIENT_NAME_MAX + 1];
    uint8_t rid[API_ROUTING_MAX];
    size_t rid_len;
    uint32_t window;
    uint64_t pushed; /* highest delivery number sent or skipped */
    uint64_t acked;  /* the durable cursor, as committed */
    /* Delivery numbers sent and not yet acked, ascending, as a ring of
     * `window` slots. Skipped entries are never in it. */
    uint64_t *flight;
    size_t head, count;
    /* The filter; a zero mask or no senders means "any". Masks hold one bit
     * per payload kind case, category or TLP value. */
    uint32_t kinds, categories, tlps;
    char (*senders)[UTIL_MEMBER_ID_MAX + 1];
    size_t n_senders;
};

enum pending_kind { PENDING_POST, PENDING_ACK };

/* A request whose answer waits for the commit. */
struct pending {
    enum pending_kind kind;
    uint8_t rid[API_ROUTING_MAX];
    size_t rid_len;
    uint64_t request_id;
    char client[CONFIG_CLIENT_NAME_MAX + 1];
    uint64_t cursor;             /* ack: the cursor written in the batch */
    struct route_placed *placed; /* post: where its envelopes went */
    size_t n_placed;
};

struct api {
    const struct config *cfg; /* the running one: api_reload swaps it */
    struct loop *loop;
    struct store *store;
    struct route *route;
    struct stats *stats;
    struct peers *peers;
    void *socket;
    struct subscriber *subs;
    size_t n_subs, cap_subs;
    struct pending *pending;
    size_t n_pending, cap_pending;
    uint64_t timer; /* pending pump retry, 0 when none */
};

/* Who sent the request being handled. client is NULL when the name is no
 * longer (or never was) in the configuration. */
struct request {
    const uint8_t *rid;
    size_t rid_len;
    uint64_t id;
    const char *name;
    const struct config_client *client;
};

static int64_t now_unix(void)
{
    return (int64_t)time(NULL);
}

/* Always the running configuration: a SIGHUP may have swapped it. */
static const struct config_client *find_client(const struct api *a, const char *name)
{
    const struct config *c = a->cfg;

    for (size_t i = 0; i < c->n_clients; i++)
        if (strcmp(c->clients[i].name, name) == 0)
            return &c->clients[i];
    return NULL;
}

/* ---- sending ------------------------------------------------------------ */

/* Sends one Reply to the connection rid without blocking. A delivery's
 * bytes hold a payload in clear, so is_secret wipes them after use.
 * Returns 0, or -1 with errno EHOSTUNREACH (the connection is gone) or
 * EAGAIN (its queue is full). */
static int send_reply(struct api *a, const uint8_t *rid, size_t rid_len, const Tmbus__Api__Reply *r,
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
static void answer(struct api *a, const uint8_t *rid, size_t rid_len, Tmbus__Api__Reply *r)
{
    if (send_reply(a, rid, rid_len, r, false) == -1)
        log_debug("api: reply to request %llu dropped: %s", (unsigned long long)r->id,
                  zmq_strerror(errno));
}

static void answer_code(struct api *a, const uint8_t *rid, size_t rid_len, uint64_t id,
                        Tmbus__Api__Code code, const char *reason)
{
    Tmbus__Api__Reply r = TMBUS__API__REPLY__INIT;

    r.id = id;
    r.code = code;
    r.reason = (char *)reason;
    answer(a, rid, rid_len, &r);
}

/* Every refusal: one log line (never the payload), one counter, one reply
 * with a code and a reason. counter is a static string. */
static void reject(struct api *a, const struct request *rq, Tmbus__Api__Code code,
                   const char *counter, const char *reason)
{
    log_warnx("api: client %s: request %llu refused: %s", rq->name ? rq->name : "(unknown)",
              (unsigned long long)rq->id, reason);
    stats_count(a->stats, counter, 1);
    answer_code(a, rq->rid, rq->rid_len, rq->id, code, reason);
}

/* ---- subscribers -------------------------------------------------------- */

static struct subscriber *find_subscriber(struct api *a, const char *client)
{
    for (size_t i = 0; i < a->n_subs; i++)
        if (strcmp(a->subs[i].client, client) == 0)
            return &a->subs[i];
    return NULL;
}

static void drop_subscriber(struct api *a, struct subscriber *s, const char *why)
{
    size_t i = (size_t)(s - a->subs);

    log_info("api: client %s: subscription ended: %s", s->client, why);
    free(s->flight);
    free(s->senders);
    a->subs[i] = a->subs[--a->n_subs];
}

static uint64_t flight_last(const struct subscriber *s)
{
    return s->flight[(s->head + s->count - 1) % s->window];
}

static void flight_push(struct subscriber *s, uint64_t number)
{
    s->flight[(s->head + s->count) % s->window] = number;
    s->count++;
}

/* Forgets every delivery up to and including cursor. */
static void flight_ack(struct subscriber *s, uint64_t cursor)
{
    while (s->count > 0 && s->flight[s->head] <= cursor) {
        s->head = (s->head + 1) % s->window;
        s->count--;
    }
}

/* Sends one delivery. Returns 0, or -1 with errno as send_reply. */
static int push_delivery(struct api *a, struct subscriber *s, const struct store_inbox_entry *e,
                         const struct envelope_info *info, const struct envelope_body *body)
{
    Tmbus__Api__Reply r = TMBUS__API__REPLY__INIT;
    Tmbus__Api__Delivery d = TMBUS__API__DELIVERY__INIT;

    d.number = e->number;
    d.id.data = (uint8_t *)info->id;
    d.id.len = ENVELOPE_HASH_BYTES;
    d.sender = (char *)info->sender;
    d.log_peer = (char *)info->log_peer;
    d.seq = info->seq;
    d.created_at = info->created_at;
    d.expires_at = info->expires_at;
    d.n_recipients = body->n_recipients;
    d.recipients = body->recipients;
    d.payload.data = body->payload;
    d.payload.len = body->payload_len;
    r.id = 0;
    r.kind_case = TMBUS__API__REPLY__KIND_DELIVERY;
    r.delivery = &d;
    return send_reply(a, s->rid, s->rid_len, &r, true);
}

enum pump_result { PUMP_IDLE, PUMP_MORE, PUMP_BLOCKED, PUMP_GONE };

/* Decides one inbox entry for s: returns true when s may see it. Entries
 * that are expired, above the client's clearance or that no longer open
 * are skipped: each is decided once and still moves `pushed` on, so one
 * bad entry cannot stall a stream. */
static bool has_bit(uint32_t mask, uint32_t value)
{
    return mask == 0 || (value < API_FILTER_BITS && (mask & (UINT32_C(1) << value)) != 0);
}

/* Whether a delivery the client may see is one it asked for. */
static bool matches(struct api *a, const struct subscriber *s, const struct envelope_info *info,
                    const struct message *msg, int tlp)
{
    bool is_sender = s->n_senders == 0;

    /* Receipts are the nodes' bookkeeping (DESIGN §4.11): shown only to a
     * filter that asks for them by name, not to "any kind". */
    if (msg->kind == MESSAGE_RECEIPT && (s->kinds & (UINT32_C(1) << MESSAGE_RECEIPT)) == 0)
        return false;
    if (!has_bit(s->kinds, (uint32_t)msg->kind) || !has_bit(s->tlps, (uint32_t)tlp))
        return false;
    for (size_t i = 0; i < s->n_senders && !is_sender; i++)
        is_sender = strcmp(s->senders[i], info->sender) == 0;
    if (!is_sender)
        return false;
    return s->categories == 0 || has_bit(s->categories, board_category_of(a->store, msg));
}

static bool is_visible(struct api *a, const struct subscriber *s, const struct store_inbox_entry *e,
                       const struct config_client *c, const struct envelope_info *info,
                       const struct envelope_body *body)
{
    struct message msg;
    bool is_match;
    int tlp;

    message_decode(body->payload, body->payload_len, &msg);
    /* A payload we cannot read is handled as TLP:RED, the careful reading. */
    tlp = MESSAGE_TLP_RED;
    if (msg.is_payload && !msg.has_unknown) {
        int t = message_tlp(&msg, route_roster(a->route), (const char *const *)body->recipients,
                            body->n_recipients, info->is_direct);
        if (t > 0)
            tlp = t;
    }
    if (tlp > (int)c->clearance) {
        message_clear(&msg);
        stats_count(a->stats, "api.skipped.clearance", 1);
        log_debug("api: client %s: delivery %llu is above its clearance", c->name,
                  (unsigned long long)e->number);
        return false;
    }
    is_match = matches(a, s, info, &msg, tlp);
    message_clear(&msg);
    if (!is_match) {
        stats_count(a->stats, "api.skipped.filter", 1);
        return false;
    }
    return true;
}

/* Pushes what s may see after s->pushed, up to its window and a budget
 * of inbox entries, so one subscriber cannot hold the loop. */
static enum pump_result pump(struct api *a, struct subscriber *s)
{
    const struct config_client *c = find_client(a, s->client);
    int64_t now = now_unix();

    if (c == NULL)
        return PUMP_GONE;
    for (int budget = API_PUMP_BUDGET; s->count < s->window; budget--) {
        struct store_inbox_entry e;
        struct envelope_info info;
        struct envelope_body *body = NULL;
        int rc;

        if (budget == 0)
            return PUMP_MORE;
        if ((rc = store_inbox_next(a->store, s->pushed, &e)) == 0)
            return PUMP_IDLE;
        if (rc == -1) {
            log_warnx("api: client %s: cannot read the inbox", s->client);
            return PUMP_BLOCKED;
        }
        if (e.expires_at != 0 && now >= e.expires_at) {
            stats_count(a->stats, "api.skipped.expired", 1);
            s->pushed = e.number;
            continue;
        }
        if (route_open_inbox(a->route, &e, &info, &body) == -1) {
            /* Permanent as far as we can tell (a key retired since, say);
             * waiting on it would stall every later delivery. */
            log_warnx("api: client %s: delivery %llu no longer opens; skipped", s->client,
                      (unsigned long long)e.number);
            stats_count(a->stats, "api.skipped.unopenable", 1);
            s->pushed = e.number;
            continue;
        }
        if (!is_visible(a, s, &e, c, &info, body)) {
            envelope_body_free(&body);
            s->pushed = e.number;
            continue;
        }
        rc = push_delivery(a, s, &e, &info, body);
        envelope_body_free(&body);
        if (rc == -1)
            return errno == EAGAIN ? PUMP_BLOCKED : PUMP_GONE;
        s->pushed = e.number;
        flight_push(s, e.number);
        stats_count(a->stats, "api.delivered", 1);
    }
    return PUMP_IDLE;
}

static int64_t on_timer(void *arg);

static void schedule(struct api *a, int64_t delay_ms)
{
    if (a->timer == 0)
        a->timer = loop_add_timer(a->loop, delay_ms, on_timer, a);
}

/* Pumps every subscriber that has room and something new. */
static void pump_all(struct api *a)
{
    uint64_t last;

    if (a->n_subs == 0)
        return;
    if (store_inbox_last(a->store, &last) == -1) {
        schedule(a, API_RETRY_MS);
        return;
    }
    /* Backwards: drop_subscriber moves the last entry into the hole. */
    for (size_t i = a->n_subs; i-- > 0;) {
        struct subscriber *s = &a->subs[i];
        if (s->pushed >= last || s->count >= s->window)
            continue;
        switch (pump(a, s)) {
        case PUMP_IDLE:
            break;
        case PUMP_MORE:
            schedule(a, 0);
            break;
        case PUMP_BLOCKED:
            schedule(a, API_RETRY_MS);
            break;
        case PUMP_GONE:
            drop_subscriber(a, s, "client gone or no longer configured");
            break;
        }
    }
}

static int64_t on_timer(void *arg)
{
    struct api *a = arg;

    a->timer = 0;
    pump_all(a);
    return -1;
}

/* ---- requests ----------------------------------------------------------- */

static struct pending *add_pending(struct api *a, enum pending_kind kind, const struct request *rq)
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
    return p;
}

/* Collects the post's recipients into names[]: every roster member for
 * `all`, else the named ones, checked. Returns 0, or -1 after rejecting. */
static int post_recipients(struct api *a, const struct request *rq, const Tmbus__Api__Post *post,
                           const char **names, size_t *n)
{
    const struct roster *r = route_roster(a->route);
    enum route_recipients fault;
    struct roster_member m;

    *n = 0;
    if (post->all) {
        if (roster_member_count(r) > ENVELOPE_MAX_RECIPIENTS) {
            reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.too-many-recipients",
                   "the roster has more members than one post can address");
            return -1;
        }
        for (size_t i = 0; i < roster_member_count(r); i++) {
            roster_member_at(r, i, &m);
            names[(*n)++] = m.id;
        }
        return 0;
    }
    if (post->n_recipients == 0) {
        reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.no-recipients",
               "name at least one recipient, or set all");
        return -1;
    }
    if (post->n_recipients > ENVELOPE_MAX_RECIPIENTS) {
        reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.too-many-recipients",
               "at most 128 recipients");
        return -1;
    }
    fault =
        route_check_recipients(a->route, (const char *const *)post->recipients, post->n_recipients);
    switch (fault) {
    case ROUTE_RECIPIENTS_OK:
        break;
    case ROUTE_RECIPIENTS_UNKNOWN:
        reject(a, rq, TMBUS__API__CODE__CODE_NOT_FOUND, "api.rejected.unknown-recipient",
               route_recipients_reason(fault));
        return -1;
    case ROUTE_RECIPIENTS_TWICE:
        reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.duplicate-recipient",
               route_recipients_reason(fault));
        return -1;
    default:
        reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.bad-recipient",
               route_recipients_reason(fault));
        return -1;
    }
    /* The roster's own strings: they outlive the request. */
    for (size_t i = 0; i < post->n_recipients; i++) {
        ensure(roster_find(r, post->recipients[i], &m) == 0);
        names[(*n)++] = m.id;
    }
    return 0;
}

/* The role rule (message_role_allows) applied to this member's own roster
 * role. Returns true, or false after rejecting. */
static bool member_may_post(struct api *a, const struct request *rq, const struct message *msg)
{
    struct roster_member self;
    const char *why;

    if (roster_find(route_roster(a->route), a->cfg->member, &self) == -1) {
        reject(a, rq, TMBUS__API__CODE__CODE_DENIED, "api.rejected.member-role",
               "this member is no longer in the roster");
        return false;
    }
    if (!message_role_allows(msg->kind, (int)self.role, &why)) {
        reject(a, rq, TMBUS__API__CODE__CODE_DENIED, "api.rejected.member-role", why);
        return false;
    }
    return true;
}

/* The board's rules, before anything is sealed. Returns true, or false
 * after rejecting with the board's reason. */
static bool board_allows(struct api *a, const struct request *rq, const struct message *msg)
{
    const char *why = NULL;

    switch (board_check_post(a->store, a->cfg->member, msg, &why)) {
    case BOARD_CHECK_OK:
        return true;
    case BOARD_CHECK_INVALID:
        reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.board-invalid", why);
        return false;
    case BOARD_CHECK_NOT_FOUND:
        reject(a, rq, TMBUS__API__CODE__CODE_NOT_FOUND, "api.rejected.board-not-found", why);
        return false;
    case BOARD_CHECK_DENIED:
        reject(a, rq, TMBUS__API__CODE__CODE_DENIED, "api.rejected.board-denied", why);
        return false;
    default:
        reject(a, rq, TMBUS__API__CODE__CODE_INTERNAL, "api.rejected.internal", why);
        return false;
    }
}

static void on_post(struct api *a, const struct request *rq, const Tmbus__Api__Post *post)
{
    const char *names[ROSTER_MAX_MEMBERS];
    struct route_placed *placed = NULL;
    struct pending *pd;
    struct message msg = {0};
    const char *reason = NULL;
    size_t n = 0, n_placed = 0;
    bool is_direct;
    int tlp;

    if (rq->client->role < CONFIG_ROLE_POSTER) {
        reject(a, rq, TMBUS__API__CODE__CODE_DENIED, "api.rejected.role",
               "this client's role may not post");
        goto out;
    }
    if (post->payload.len == 0 || post->payload.len > ENVELOPE_MAX_PAYLOAD) {
        reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.payload-size",
               "the payload must be 1 byte to 504 KiB");
        goto out;
    }
    /* The one decoding of this payload: every check below, the board and
     * the route read the view. */
    if (message_decode(post->payload.data, post->payload.len, &msg) == -1 ||
        msg.kind == MESSAGE_NONE) {
        reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.bad-payload",
               "the payload is not a tmbus.payload.Payload");
        goto out;
    }
    if (msg.has_unknown) {
        reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.unknown-field",
               "the payload has fields this node does not know");
        goto out;
    }
    if (post->expires_at < 0 || (post->expires_at != 0 && post->expires_at <= now_unix())) {
        reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.expired",
               "expires_at is in the past");
        goto out;
    }
    if (!member_may_post(a, rq, &msg))
        goto out;
    if (post_recipients(a, rq, post, names, &n) == -1)
        goto out;
    tlp = message_tlp(&msg, route_roster(a->route), names, n, false);
    if (tlp == 0) {
        reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.no-tlp",
               "a need or offer must carry a TLP label");
        goto out;
    }
    if (tlp < 0) {
        reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.bad-tlp", "unknown TLP label");
        goto out;
    }
    /* TLP:RED goes to named members only, one direct envelope each. */
    is_direct = tlp == MESSAGE_TLP_RED;
    if (is_direct && post->all) {
        reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.red-to-all",
               "TLP:RED must name its recipients");
        goto out;
    }
    if (is_direct && route_check_direct(a->route, names, n) != ROUTE_RECIPIENTS_OK) {
        reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.red-to-self",
               route_recipients_reason(ROUTE_RECIPIENTS_RED_TO_SELF));
        goto out;
    }
    if (tlp > (int)rq->client->clearance) {
        reject(a, rq, TMBUS__API__CODE__CODE_DENIED, "api.rejected.clearance",
               "the post's TLP is above this client's clearance");
        goto out;
    }
    if (!board_allows(a, rq, &msg))
        goto out;
    placed = calloc(ENVELOPE_MAX_RECIPIENTS, sizeof(*placed));
    ensure(placed != NULL);
    if (route_batch(a->route) == -1 ||
        route_post(a->route, &msg, names, n, is_direct, post->expires_at, placed, &n_placed,
                   &reason) == -1) {
        reject(a, rq, TMBUS__API__CODE__CODE_INTERNAL, "api.rejected.internal",
               reason ? reason : "the node's store failed");
        goto out;
    }
    pd = add_pending(a, PENDING_POST, rq);
    pd->placed = placed;
    pd->n_placed = n_placed;
    placed = NULL;
out:
    free(placed);
    message_clear(&msg);
}

/* A subscription's filter, checked and compiled. */
struct filter {
    uint32_t kinds, categories, tlps;
    char (*senders)[UTIL_MEMBER_ID_MAX + 1];
    size_t n_senders;
};

static const struct {
    const char *name;
    enum message_kind kind;
} kind_names[] = {
    {"need", MESSAGE_NEED},
    {"offer", MESSAGE_OFFER},
    {"need_update", MESSAGE_NEED_UPDATE},
    {"offer_update", MESSAGE_OFFER_UPDATE},
    {"receipt", MESSAGE_RECEIPT},
};

/* Compiles f into *out. Returns NULL, or the reason it is refused. */
static const char *compile_filter(const Tmbus__Api__Filter *f, struct filter *out)
{
    memset(out, 0, sizeof(*out));
    if (f == NULL)
        return NULL;
    if (api_msg_has_unknown(&f->base))
        return "the filter has fields this node does not know";
    for (size_t i = 0; i < f->n_kinds; i++) {
        size_t k = 0, n = sizeof(kind_names) / sizeof(kind_names[0]);
        while (k < n && strcmp(f->kinds[i], kind_names[k].name) != 0)
            k++;
        if (k == n)
            return "unknown payload kind in the filter";
        out->kinds |= UINT32_C(1) << kind_names[k].kind;
    }
    for (size_t i = 0; i < f->n_categories; i++) {
        if (f->categories[i] == 0 || f->categories[i] > MESSAGE_CATEGORY_MAX)
            return "unknown category in the filter";
        out->categories |= UINT32_C(1) << f->categories[i];
    }
    for (size_t i = 0; i < f->n_tlps; i++) {
        if (f->tlps[i] == 0 || f->tlps[i] > MESSAGE_TLP_RED)
            return "unknown TLP in the filter";
        out->tlps |= UINT32_C(1) << f->tlps[i];
    }
    if (f->n_senders > ROSTER_MAX_MEMBERS)
        return "too many senders in the filter";
    for (size_t i = 0; i < f->n_senders; i++)
        if (!util_is_member_id(f->senders[i], strlen(f->senders[i])))
            return "a sender in the filter is not a member id";
    if (f->n_senders > 0) {
        out->senders = calloc(f->n_senders, sizeof(*out->senders));
        ensure(out->senders != NULL);
        for (size_t i = 0; i < f->n_senders; i++)
            snprintf(out->senders[i], sizeof(out->senders[i]), "%s", f->senders[i]);
        out->n_senders = f->n_senders;
    }
    return NULL;
}

static void on_subscribe(struct api *a, const struct request *rq, const Tmbus__Api__Subscribe *sub)
{
    uint32_t window = sub->window ? sub->window : API_WINDOW_DEFAULT;
    struct subscriber *s;
    struct filter filter;
    const char *why;
    uint64_t cursor;
    uint64_t *flight;

    if (window > API_WINDOW_MAX) {
        reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.window",
               "window must be 1 to 1024");
        return;
    }
    if ((why = compile_filter(sub->filter, &filter)) != NULL) {
        reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.filter", why);
        return;
    }
    if (store_cursor_get(a->store, rq->name, &cursor) == -1) {
        free(filter.senders);
        reject(a, rq, TMBUS__API__CODE__CODE_INTERNAL, "api.rejected.internal",
               "the node's store failed");
        return;
    }
    flight = calloc(window, sizeof(*flight));
    ensure(flight != NULL);
    if ((s = find_subscriber(a, rq->name)) == NULL) {
        if (a->n_subs == a->cap_subs) {
            size_t cap = a->cap_subs ? 2 * a->cap_subs : 8;
            struct subscriber *subs = realloc(a->subs, cap * sizeof(*subs));
            ensure(subs != NULL);
            a->subs = subs;
            a->cap_subs = cap;
        }
        s = &a->subs[a->n_subs++];
        memset(s, 0, sizeof(*s));
        snprintf(s->client, sizeof(s->client), "%s", rq->name);
    } else {
        log_info("api: client %s: subscribed again; restarting from its cursor", rq->name);
        free(s->flight);
        free(s->senders);
    }
    s->kinds = filter.kinds;
    s->categories = filter.categories;
    s->tlps = filter.tlps;
    s->senders = filter.senders;
    s->n_senders = filter.n_senders;
    memcpy(s->rid, rq->rid, rq->rid_len);
    s->rid_len = rq->rid_len;
    s->window = window;
    s->flight = flight;
    s->head = s->count = 0;
    s->pushed = s->acked = cursor;
    answer_code(a, rq->rid, rq->rid_len, rq->id, TMBUS__API__CODE__CODE_OK, "");
    log_debug("api: client %s: subscribed from %llu, window %u", rq->name,
              (unsigned long long)cursor, window);
    switch (pump(a, s)) {
    case PUMP_IDLE:
        break;
    case PUMP_MORE:
        schedule(a, 0);
        break;
    case PUMP_BLOCKED:
        schedule(a, API_RETRY_MS);
        break;
    case PUMP_GONE:
        drop_subscriber(a, s, "client gone");
        break;
    }
}

static void on_ack(struct api *a, const struct request *rq, const Tmbus__Api__Ack *ack)
{
    struct subscriber *s = find_subscriber(a, rq->name);
    uint64_t cursor = ack->number;

    if (s == NULL || s->rid_len != rq->rid_len || memcmp(s->rid, rq->rid, rq->rid_len) != 0) {
        reject(a, rq, TMBUS__API__CODE__CODE_PROTOCOL, "api.rejected.not-subscribed",
               "ack without a subscription on this connection");
        return;
    }
    if (cursor > s->pushed) {
        reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.ack-ahead",
               "ack of a delivery number not yet delivered");
        return;
    }
    /* When nothing sent after the ack is outstanding, everything up to
     * `pushed` was either acked or skipped: record that, so a reconnect
     * does not open the skipped entries again. */
    if (s->count == 0 || flight_last(s) <= cursor)
        cursor = s->pushed;
    if (route_batch(a->route) == -1 || store_cursor_set(a->store, rq->name, cursor) == -1) {
        reject(a, rq, TMBUS__API__CODE__CODE_INTERNAL, "api.rejected.internal",
               "the node's store failed");
        return;
    }
    add_pending(a, PENDING_ACK, rq)->cursor = cursor;
}

/* ---- board queries -------------------------------------------------------- */

/* A Board reply being built: every pointer in it is ours until sent. */
struct board_reply {
    struct api *a;
    uint32_t clearance;
    int status; /* need status asked for, -1 for any */
    Tmbus__Api__BoardNeed **needs;
    size_t n_needs, cap_needs;
    Tmbus__Api__BoardOffer **offers;
    size_t n_offers, cap_offers;
};

static uint8_t *copy_bytes(const uint8_t *p, size_t len)
{
    uint8_t *c = malloc(len ? len : 1);

    ensure(c != NULL);
    if (len > 0)
        memcpy(c, p, len);
    return c;
}

static char *copy_text(const char *s)
{
    char *c = strdup(s);

    ensure(c != NULL);
    return c;
}

/* Room for one more element of a doubling array (a board reply's needs or
 * offers); running out of memory here is fatal, as for every reply. */
static void *reserve(void *arr, size_t n, size_t *cap, size_t size)
{
    size_t grown;
    void *p;

    if (n < *cap)
        return arr;
    grown = *cap ? 2 * *cap : 16;
    p = realloc(arr, grown * size);
    ensure(p != NULL);
    *cap = grown;
    return p;
}

static int add_need(void *arg, const struct store_board_need *n)
{
    struct board_reply *br = arg;
    Tmbus__Api__BoardNeed *bn;

    if (n->tlp > br->clearance)
        return 0;
    br->needs = reserve(br->needs, br->n_needs, &br->cap_needs, sizeof(*br->needs));
    bn = malloc(sizeof(*bn));
    ensure(bn != NULL);
    tmbus__api__board_need__init(bn);
    bn->id.data = copy_bytes(n->id, BOARD_ID_BYTES);
    bn->id.len = BOARD_ID_BYTES;
    bn->owner = copy_text(n->owner);
    bn->created_at = n->created_at;
    bn->need.data = copy_bytes(n->need, n->need_len);
    bn->need.len = n->need_len;
    bn->status = (char *)board_need_status_name(n->status);
    bn->accepted_quantity = n->accepted_quantity;
    bn->delivered_quantity = n->delivered_quantity;
    br->needs[br->n_needs++] = bn;
    return 0;
}

/* An offer is shown when its own label and its need's allow it, and, when
 * needs were asked for by status, only with a need in that status. */
static int add_offer(void *arg, const struct store_board_offer *o)
{
    struct board_reply *br = arg;
    Tmbus__Api__BoardOffer *bo;

    if (o->tlp > br->clearance)
        return 0;
    if (o->has_need) {
        struct store_board_need n;
        int rc = store_board_need_get(br->a->store, o->need_id, &n);
        if (rc < 0)
            return -1;
        if (rc == 1)
            free(n.need);
        if ((rc == 1 && n.tlp > br->clearance) ||
            (br->status >= 0 && (rc == 0 || n.status != br->status)))
            return 0;
    } else if (br->status >= 0) {
        return 0;
    }
    br->offers = reserve(br->offers, br->n_offers, &br->cap_offers, sizeof(*br->offers));
    bo = malloc(sizeof(*bo));
    ensure(bo != NULL);
    tmbus__api__board_offer__init(bo);
    bo->id.data = copy_bytes(o->id, BOARD_ID_BYTES);
    bo->id.len = BOARD_ID_BYTES;
    bo->donor = copy_text(o->donor);
    bo->created_at = o->created_at;
    bo->offer.data = copy_bytes(o->offer, o->offer_len);
    bo->offer.len = o->offer_len;
    bo->status = (char *)board_offer_status_name(o->status);
    br->offers[br->n_offers++] = bo;
    return 0;
}

static void board_reply_free(struct board_reply *br)
{
    for (size_t i = 0; i < br->n_needs; i++) {
        free(br->needs[i]->id.data);
        free(br->needs[i]->owner);
        /* The need's bytes are cleartext the client may not keep around. */
        explicit_bzero(br->needs[i]->need.data, br->needs[i]->need.len);
        free(br->needs[i]->need.data);
        free(br->needs[i]);
    }
    for (size_t i = 0; i < br->n_offers; i++) {
        free(br->offers[i]->id.data);
        free(br->offers[i]->donor);
        explicit_bzero(br->offers[i]->offer.data, br->offers[i]->offer.len);
        free(br->offers[i]->offer.data);
        free(br->offers[i]);
    }
    free(br->needs);
    free(br->offers);
}

/* The board as this node sees it, through the client's clearance: every
 * client of a node is that member's own, so AMBER+STRICT is shown to any
 * client cleared for it, and TLP:RED only with red clearance. One reply
 * holds the whole answer (volumes are thousands a year; paging can come
 * with the reports). */
static void on_board(struct api *a, const struct request *rq, const Tmbus__Api__BoardQuery *q)
{
    struct board_reply br = {.a = a, .clearance = rq->client->clearance, .status = -1};
    Tmbus__Api__Reply r = TMBUS__API__REPLY__INIT;
    Tmbus__Api__Board board = TMBUS__API__BOARD__INIT;
    const uint8_t *need_id = NULL;

    if (q->need_id.len != 0 && q->need_id.len != BOARD_ID_BYTES) {
        reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.board-query",
               "need_id must be empty or 32 bytes");
        return;
    }
    if (q->need_id.len == BOARD_ID_BYTES)
        need_id = q->need_id.data;
    if (q->need_status != NULL && q->need_status[0] != '\0' &&
        (br.status = board_need_status_parse(q->need_status)) < 0) {
        reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.board-query",
               "unknown need status");
        return;
    }
    if (store_board_each_need(a->store, need_id, br.status, add_need, &br) != 0) {
        reject(a, rq, TMBUS__API__CODE__CODE_INTERNAL, "api.rejected.internal",
               "the node's store failed");
        goto out;
    }
    if (need_id != NULL && br.n_needs == 0) {
        /* Unknown and hidden read alike: a client learns nothing above its
         * clearance, not even that it exists. */
        reject(a, rq, TMBUS__API__CODE__CODE_NOT_FOUND, "api.rejected.board-not-found",
               "no such need on this board");
        goto out;
    }
    if (store_board_each_offer(a->store, need_id, add_offer, &br) != 0) {
        reject(a, rq, TMBUS__API__CODE__CODE_INTERNAL, "api.rejected.internal",
               "the node's store failed");
        goto out;
    }
    board.n_needs = br.n_needs;
    board.needs = br.needs;
    board.n_offers = br.n_offers;
    board.offers = br.offers;
    r.id = rq->id;
    r.kind_case = TMBUS__API__REPLY__KIND_BOARD;
    r.board = &board;
    if (send_reply(a, rq->rid, rq->rid_len, &r, true) == -1)
        log_debug("api: board reply to request %llu dropped: %s", (unsigned long long)rq->id,
                  zmq_strerror(errno));
    stats_count(a->stats, "api.board", 1);
out:
    board_reply_free(&br);
}

/* ---- reports -------------------------------------------------------------- */

/* Points a ReportTotal at t (which must outlive the reply). */
static void set_total(Tmbus__Api__ReportTotal *out, struct board_total *t)
{
    tmbus__api__report_total__init(out);
    out->donor = t->donor;
    out->code = t->code;
    out->pledged_cents = t->pledged_cents;
    out->delivered_cents = t->delivered_cents;
}

/* n ReportTotals over rows in a new array (*cells, the caller frees) and
 * the pointer array a reply wants (returned, the caller frees). */
static Tmbus__Api__ReportTotal **totals(struct board_total *rows, size_t n,
                                        Tmbus__Api__ReportTotal **cells)
{
    Tmbus__Api__ReportTotal **ptrs = calloc(n + 1, sizeof(*ptrs));

    *cells = calloc(n + 1, sizeof(**cells));
    ensure(ptrs != NULL && *cells != NULL);
    for (size_t i = 0; i < n; i++) {
        set_total(&(*cells)[i], &rows[i]);
        ptrs[i] = &(*cells)[i];
    }
    return ptrs;
}

/* The board's reports through the client's clearance, in one reply. */
static void on_report(struct api *a, const struct request *rq)
{
    Tmbus__Api__Reply r = TMBUS__API__REPLY__INIT;
    Tmbus__Api__Report rep = TMBUS__API__REPORT__INIT;
    Tmbus__Api__ReportTotal total, *donors = NULL, *categories = NULL, *sectors = NULL;
    Tmbus__Api__ReportNeed *needs = NULL, **need_ptrs = NULL;
    struct board_report br;
    int64_t now = now_unix();

    if (board_report(a->store, rq->client->clearance, now - now % 86400, &br) != 0) {
        reject(a, rq, TMBUS__API__CODE__CODE_INTERNAL, "api.rejected.internal",
               "the node's store failed");
        return;
    }
    needs = calloc(br.n_open + 1, sizeof(*needs));
    need_ptrs = calloc(br.n_open + 1, sizeof(*need_ptrs));
    ensure(needs != NULL && need_ptrs != NULL);
    for (size_t i = 0; i < br.n_open; i++) {
        struct board_open_need *o = &br.open[i];
        tmbus__api__report_need__init(&needs[i]);
        needs[i].id.data = o->id;
        needs[i].id.len = BOARD_ID_BYTES;
        needs[i].owner = o->owner;
        needs[i].title = o->title;
        needs[i].status = (char *)board_need_status_name(o->status);
        needs[i].priority = (uint32_t)o->priority;
        needs[i].deadline = o->deadline;
        needs[i].overdue = o->is_overdue;
        needs[i].quantity = o->quantity;
        needs[i].accepted_quantity = o->accepted_quantity;
        needs[i].value_cents = o->value_cents;
        need_ptrs[i] = &needs[i];
    }
    rep.n_open_needs = br.n_open;
    rep.open_needs = need_ptrs;
    rep.n_donors = br.n_donors;
    rep.donors = totals(br.donors, br.n_donors, &donors);
    rep.n_categories = br.n_categories;
    rep.categories = totals(br.categories, br.n_categories, &categories);
    rep.n_sectors = br.n_sectors;
    rep.sectors = totals(br.sectors, br.n_sectors, &sectors);
    set_total(&total, &br.total);
    rep.total = &total;
    r.id = rq->id;
    r.kind_case = TMBUS__API__REPLY__KIND_REPORT;
    r.report = &rep;
    if (send_reply(a, rq->rid, rq->rid_len, &r, true) == -1)
        log_debug("api: report reply to request %llu dropped: %s", (unsigned long long)rq->id,
                  zmq_strerror(errno));
    stats_count(a->stats, "api.report", 1);
    free(rep.donors);
    free(rep.categories);
    free(rep.sectors);
    free(donors);
    free(categories);
    free(sectors);
    free(needs);
    free(need_ptrs);
    board_report_free(&br);
}

/* The delivery state of one of this member's own posts, per recipient.
 * Any configured client may ask: it learns who a post went to and how far
 * it got, never its payload. */
static void on_delivery(struct api *a, const struct request *rq, const Tmbus__Api__DeliveryQuery *q)
{
    Tmbus__Api__Reply r = TMBUS__API__REPLY__INIT;
    Tmbus__Api__DeliveryState ds = TMBUS__API__DELIVERY_STATE__INIT;
    Tmbus__Api__DeliveryState__Entry *entries = NULL, **entry_ptrs = NULL;
    struct store_delivery *d = NULL;
    size_t n = 0;

    if (q->id.len != ENVELOPE_HASH_BYTES) {
        reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.delivery-query",
               "id must be 32 bytes");
        return;
    }
    d = calloc(ENVELOPE_MAX_RECIPIENTS, sizeof(*d));
    entries = calloc(ENVELOPE_MAX_RECIPIENTS, sizeof(*entries));
    entry_ptrs = calloc(ENVELOPE_MAX_RECIPIENTS, sizeof(*entry_ptrs));
    ensure(d != NULL && entries != NULL && entry_ptrs != NULL);
    if (store_delivery_get(a->store, q->id.data, d, ENVELOPE_MAX_RECIPIENTS, &n) == -1) {
        reject(a, rq, TMBUS__API__CODE__CODE_INTERNAL, "api.rejected.internal",
               "the node's store failed");
        goto out;
    }
    if (n == 0) {
        reject(a, rq, TMBUS__API__CODE__CODE_NOT_FOUND, "api.rejected.delivery-not-found",
               "no post of this member has that id");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        tmbus__api__delivery_state__entry__init(&entries[i]);
        entries[i].member = d[i].member;
        entries[i].state = (char *)receipt_state_name(d[i].state);
        entries[i].reason = d[i].reason;
        entries[i].at = d[i].at;
        entry_ptrs[i] = &entries[i];
    }
    ds.n_entries = n;
    ds.entries = entry_ptrs;
    r.id = rq->id;
    r.kind_case = TMBUS__API__REPLY__KIND_DELIVERY_STATE;
    r.delivery_state = &ds;
    answer(a, rq->rid, rq->rid_len, &r);
    stats_count(a->stats, "api.delivery", 1);
out:
    free(d);
    free(entries);
    free(entry_ptrs);
}

static void on_status(struct api *a, const struct request *rq)
{
    Tmbus__Api__Reply r = TMBUS__API__REPLY__INIT;
    Tmbus__Api__Status st = TMBUS__API__STATUS__INIT;
    Tmbus__Api__Counter *counters = NULL, **counter_ptrs = NULL;
    Tmbus__Api__PeerStatus *peers = NULL, **peer_ptrs = NULL;
    struct peer_status *ps = NULL;
    uint64_t evidence = 0;
    uint8_t digest[BOARD_ID_BYTES];
    size_t n_peers = 0;

    counters = calloc(stats_size(a->stats) + 1, sizeof(*counters));
    counter_ptrs = calloc(stats_size(a->stats) + 1, sizeof(*counter_ptrs));
    ps = calloc(ROSTER_MAX_MEMBERS, sizeof(*ps));
    peers = calloc(ROSTER_MAX_MEMBERS, sizeof(*peers));
    peer_ptrs = calloc(ROSTER_MAX_MEMBERS, sizeof(*peer_ptrs));
    ensure(counters && counter_ptrs && ps && peers && peer_ptrs);
    if (store_count(a->store, &st.envelopes, &evidence) == -1 ||
        store_inbox_last(a->store, &st.inbox) == -1) {
        reject(a, rq, TMBUS__API__CODE__CODE_INTERNAL, "api.rejected.internal",
               "the node's store failed");
        goto out;
    }
    if (board_digest(a->store, digest) == -1) {
        reject(a, rq, TMBUS__API__CODE__CODE_INTERNAL, "api.rejected.internal",
               "the node's store failed");
        goto out;
    }
    st.board_digest.data = digest;
    st.board_digest.len = sizeof(digest);
    st.member = (char *)a->cfg->member;
    st.roster_version = roster_version(route_roster(a->route));
    for (size_t i = 0; i < stats_size(a->stats); i++) {
        const char *name;
        tmbus__api__counter__init(&counters[i]);
        stats_at(a->stats, i, &name, &counters[i].value);
        counters[i].name = (char *)name;
        counter_ptrs[i] = &counters[i];
    }
    st.n_counters = stats_size(a->stats);
    st.counters = counter_ptrs;
    if (a->peers != NULL)
        n_peers = peers_status(a->peers, ps, ROSTER_MAX_MEMBERS);
    for (size_t i = 0; i < n_peers; i++) {
        tmbus__api__peer_status__init(&peers[i]);
        peers[i].member = ps[i].member;
        peers[i].state = (char *)ps[i].state;
        peers[i].silent_ms = ps[i].silent_ms;
        peers[i].lag = ps[i].lag;
        peers[i].behind = ps[i].behind;
        peer_ptrs[i] = &peers[i];
    }
    st.n_peers = n_peers;
    st.peers = peer_ptrs;
    r.id = rq->id;
    r.kind_case = TMBUS__API__REPLY__KIND_STATUS;
    r.status = &st;
    answer(a, rq->rid, rq->rid_len, &r);
out:
    free(counters);
    free(counter_ptrs);
    free(ps);
    free(peers);
    free(peer_ptrs);
}

/* One request frame from connection rid: state (who is asking), then
 * size, then fields, then the request itself. */
/* Answers a request that api_msg_decode refused. */
static void refuse(struct api *a, const struct request *rq, enum api_msg_fault fault)
{
    switch (fault) {
    case API_MSG_E_SIZE:
        reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.too-large",
               "request larger than the node accepts");
        break;
    case API_MSG_E_MALFORMED:
        reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.malformed",
               "not a tmbus.api.Request");
        break;
    case API_MSG_E_UNKNOWN_FIELD:
        reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.unknown-field",
               "the request has fields this node does not know");
        break;
    case API_MSG_E_NO_ID:
        reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.no-id",
               "request id must not be 0");
        break;
    case API_MSG_E_NO_KIND:
    case API_MSG_OK:
        reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.no-kind",
               "the request asks for nothing this node knows");
        break;
    }
}

static void on_request(struct api *a, struct request *rq, const uint8_t *data, size_t len)
{
    struct api_msg m;
    enum api_msg_fault fault;

    if (rq->name == NULL || (rq->client = find_client(a, rq->name)) == NULL) {
        reject(a, rq, TMBUS__API__CODE__CODE_DENIED, "api.rejected.unknown-client",
               "this client is not (or no longer) configured on this node");
        return;
    }
    if (api_msg_decode(data, len, &m, &fault) == -1) {
        rq->id = m.id;
        refuse(a, rq, fault);
        api_msg_clear(&m);
        return;
    }
    rq->id = m.id;
    switch (m.kind) {
    case API_MSG_POST:
        on_post(a, rq, m.post);
        break;
    case API_MSG_SUBSCRIBE:
        on_subscribe(a, rq, m.subscribe);
        break;
    case API_MSG_ACK:
        on_ack(a, rq, m.ack);
        break;
    case API_MSG_STATUS:
        on_status(a, rq);
        break;
    case API_MSG_BOARD:
        on_board(a, rq, m.board);
        break;
    case API_MSG_REPORT:
        on_report(a, rq);
        break;
    case API_MSG_DELIVERY:
        on_delivery(a, rq, m.delivery);
        break;
    }
    api_msg_clear(&m);
}

static bool has_more(void *socket)
{
    int more = 0;
    size_t more_len = sizeof(more);

    return zmq_getsockopt(socket, ZMQ_RCVMORE, &more, &more_len) == 0 && more;
}

/* The loop callback: reads at most API_MAX_PER_CALL messages, so a busy
 * client cannot starve the peers; zmq_poll calls again while more wait. */
static void on_ready(void *arg)
{
    struct api *a = arg;

    for (int i = 0; i < API_MAX_PER_CALL; i++) {
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
        /* The ZAP handler set User-Id to the configured name whose key
         * completed the handshake; nothing in the request can claim it. */
        rq.name = zmq_msg_gets(&msg, "User-Id");
        if (rq.rid_len == 0 || rq.rid_len > API_ROUTING_MAX) {
            stats_count(a->stats, "api.rejected.routing-id", 1);
            log_warnx("api: dropped a message with a bad routing id");
        } else if (is_extra) {
            reject(a, &rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.frames",
                   "one frame per request");
        } else {
            on_request(a, &rq, zmq_msg_data(&msg), zmq_msg_size(&msg));
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
    answer(a, p->rid, p->rid_len, &r);
}

/* The cursor is durable: the window opens up to it. */
static void apply_ack(struct api *a, const struct pending *p)
{
    struct subscriber *s = find_subscriber(a, p->client);

    if (s != NULL) {
        if (p->cursor > s->acked)
            s->acked = p->cursor;
        if (p->cursor > s->pushed)
            s->pushed = p->cursor;
        flight_ack(s, p->cursor);
    }
    stats_count(a->stats, "api.acked", 1);
    answer_code(a, p->rid, p->rid_len, p->request_id, TMBUS__API__CODE__CODE_OK, "");
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
            answer_code(a, p->rid, p->rid_len, p->request_id, TMBUS__API__CODE__CODE_INTERNAL,
                        "not committed, retry");
        } else if (p->kind == PENDING_POST) {
            stats_count(a->stats, "api.posted", 1);
            answer_receipt(a, p);
        } else {
            apply_ack(a, p);
        }
        free(p->placed);
    }
    a->n_pending = 0;
    if (is_committed)
        pump_all(a);
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
    a->peers = parts->peers;
    if ((a->socket = zmq_socket(parts->zctx, ZMQ_ROUTER)) == NULL ||
        set_int(a->socket, ZMQ_LINGER, 0) || set_int(a->socket, ZMQ_ROUTER_MANDATORY, 1) ||
        set_int(a->socket, ZMQ_CURVE_SERVER, 1) ||
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
    if (loop_add_socket(a->loop, a->socket, on_ready, a) == -1) {
        api_free(&a);
        return NULL;
    }
    log_info("api: listening for clients on %s", a->cfg->client_listen);
    return a;
}

void api_reload(struct api *a, const struct config *cfg)
{
    a->cfg = cfg;
}

void api_free(struct api **ap)
{
    struct api *a;

    if (ap == NULL || (a = *ap) == NULL)
        return;
    if (a->timer != 0)
        loop_remove_timer(a->loop, a->timer);
    if (a->socket != NULL) {
        loop_remove_socket(a->loop, a->socket);
        zmq_close(a->socket);
    }
    for (size_t i = 0; i < a->n_pending; i++)
        free(a->pending[i].placed);
    free(a->pending);
    for (size_t i = 0; i < a->n_subs; i++) {
        free(a->subs[i].flight);
        free(a->subs[i].senders);
    }
    free(a->subs);
    free(a);
    *ap = NULL;
}
