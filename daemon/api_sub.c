/*
 * api_sub: subscriptions. Pushes inbox entries to each subscriber under its
 * window, its filter and its client's clearance, and moves the client's
 * durable cursor on ack (after the commit). Every entry is decided once,
 * so one bad entry cannot stall a stream; a payload it cannot read is
 * handled as TLP:RED. A subscription belongs to one connection and to the
 * key that authenticated it: only that connection may ack it, and it ends
 * as soon as the key is no longer its client's. Never shows a client a
 * payload above its clearance.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

#include "api_internal.h"
#include "board.h"
#include "domain.h"
#include "log.h"
#include "loop.h"
#include "message.h"
#include "stats.h"
#include "store.h"

static int64_t now_unix(void)
{
    return (int64_t)time(NULL);
}

/* ---- subscribers -------------------------------------------------------- */

/* The subscription held by the connection rid under key, or NULL. */
static struct subscriber *find_subscriber(struct api *a, const uint8_t *rid, size_t rid_len,
                                          const uint8_t *key)
{
    for (size_t i = 0; i < a->n_subs; i++) {
        struct subscriber *s = &a->subs[i];
        if (s->rid_len == rid_len && memcmp(s->rid, rid, rid_len) == 0 &&
            memcmp(s->key, key, KEYS_PUBLIC_BYTES) == 0)
            return s;
    }
    return NULL;
}

static size_t count_subscribers(const struct api *a, const char *client)
{
    size_t n = 0;

    for (size_t i = 0; i < a->n_subs; i++)
        n += strcmp(a->subs[i].client, client) == 0;
    return n;
}

/* Whether s's key is still its client's in the running configuration. */
static bool is_current(const struct api *a, const struct subscriber *s)
{
    const struct config_client *c = api_find_client(a, s->key);

    return c != NULL && strcmp(c->name, s->client) == 0;
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
    return api_send_reply(a, s->rid, s->rid_len, &r, true);
}

enum pump_result { PUMP_IDLE, PUMP_MORE, PUMP_BLOCKED, PUMP_GONE };

/* True when a filter's mask admits value: an empty mask admits anything,
 * and a value past API_FILTER_BITS only an empty mask. */
static bool has_bit(uint32_t mask, uint32_t value)
{
    return mask == 0 || (value < API_FILTER_BITS && (mask & (UINT32_C(1) << value)) != 0);
}

/* Whether a delivery the client may see is one it asked for. */
static bool matches(struct api *a, const struct subscriber *s, const struct envelope_info *info,
                    const struct message *msg, int tlp)
{
    bool is_sender = s->n_senders == 0;

    /* Receipts are the nodes' bookkeeping (proto/PROTOCOL.md §6.6): shown only to a
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

/* Decides one inbox entry for s: returns true when s may see it. Entries
 * that are above the client's clearance or outside its filter are skipped
 * (pump skips expired and unopenable ones): each is decided once and still
 * moves `pushed` on, so one bad entry cannot stall a stream. */
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
    /* What the delivery is about raises its label: an edit of an AMBER need
     * is AMBER whatever its own label (proto/PROTOCOL.md §6.5). A store
     * failure reads as TLP:RED, the careful reading. */
    if (tlp < MESSAGE_TLP_RED) {
        struct board_referent ref;
        if (board_referent_of(a->store, &msg, &ref) != 0)
            tlp = MESSAGE_TLP_RED;
        else if ((int)ref.tlp > tlp)
            tlp = (int)ref.tlp;
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
    const struct config_client *c = api_find_client(a, s->key);
    int64_t now = now_unix();

    if (c == NULL || strcmp(c->name, s->client) != 0)
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

/* Pumps s once and acts on the outcome: more to send soon, a full queue to
 * retry later, or a subscriber to drop (gone says why, for the log). */
static void pump_one(struct api *a, struct subscriber *s, const char *gone)
{
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
        drop_subscriber(a, s, gone);
        break;
    }
}

/* Pumps every subscriber that has room and something new. */
void api_pump_all(struct api *a)
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
        pump_one(a, s, "connection gone or key no longer configured");
    }
}

static int64_t on_timer(void *arg)
{
    struct api *a = arg;

    a->timer = 0;
    api_pump_all(a);
    return -1;
}

/* A subscription's filter, checked and compiled. */
struct filter {
    uint32_t kinds, categories, tlps;
    char (*senders)[UTIL_MEMBER_ID_MAX + 1];
    size_t n_senders;
};

/* The payload kind a filter names, spelled exactly as the shared table
 * (proto/domain.h) spells it, whose values are enum message_kind's; 0 when
 * unknown. */
static int kind_named(const char *name)
{
    for (int k = 1; k <= domain_max(DOMAIN_KIND); k++)
        if (strcmp(name, domain_name(DOMAIN_KIND, k)) == 0)
            return k;
    return 0;
}

/* Compiles f into *out. Returns NULL, or the reason it is refused. */
static const char *compile_filter(const Tmbus__Api__Filter *f, struct filter *out)
{
    memset(out, 0, sizeof(*out));
    if (f == NULL)
        return NULL;
    if (api_msg_has_unknown(&f->base))
        return "the filter has fields this node does not know";
    for (size_t i = 0; i < f->n_kinds; i++) {
        int k = kind_named(f->kinds[i]);
        if (k == 0)
            return "unknown payload kind in the filter";
        out->kinds |= UINT32_C(1) << k;
    }
    for (size_t i = 0; i < f->n_categories; i++) {
        if (f->categories[i] == 0 || f->categories[i] > (uint32_t)domain_max(DOMAIN_CATEGORY))
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

void api_on_subscribe(struct api *a, const struct request *rq, const Tmbus__Api__Subscribe *sub)
{
    uint32_t window = sub->window ? sub->window : WIRE_WINDOW_DEFAULT;
    struct subscriber *s;
    struct filter filter;
    const char *why;
    uint64_t cursor;
    uint64_t *flight;

    s = find_subscriber(a, rq->rid, rq->rid_len, rq->key);
    if (s == NULL && count_subscribers(a, rq->name) >= API_SUBS_PER_CLIENT) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_DENIED, "api.rejected.too-many-subscriptions",
                   "this client already holds the most subscriptions a node serves at once");
        return;
    }
    if (window > WIRE_WINDOW_MAX) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.window",
                   "window must be 1 to 1024");
        return;
    }
    if ((why = compile_filter(sub->filter, &filter)) != NULL) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.filter", why);
        return;
    }
    if (store_cursor_get(a->store, rq->name, &cursor) == -1) {
        free(filter.senders);
        api_reject(a, rq, TMBUS__API__CODE__CODE_INTERNAL, "api.rejected.internal",
                   "the node's store failed");
        return;
    }
    flight = calloc(window, sizeof(*flight));
    ensure(flight != NULL);
    if (s == NULL) {
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
        memcpy(s->key, rq->key, KEYS_PUBLIC_BYTES);
        memcpy(s->rid, rq->rid, rq->rid_len);
        s->rid_len = rq->rid_len;
        if (count_subscribers(a, rq->name) > 1)
            log_info("api: client %s: %zu subscriptions open, each served on its own", rq->name,
                     count_subscribers(a, rq->name));
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
    s->window = window;
    s->flight = flight;
    s->head = s->count = 0;
    s->pushed = s->acked = cursor;
    api_answer_code(a, rq->rid, rq->rid_len, rq->id, TMBUS__API__CODE__CODE_OK, "");
    log_debug("api: client %s: subscribed from %llu, window %u", rq->name,
              (unsigned long long)cursor, window);
    pump_one(a, s, "client gone");
}

void api_on_ack(struct api *a, const struct request *rq, const Tmbus__Api__Ack *ack)
{
    struct subscriber *s = find_subscriber(a, rq->rid, rq->rid_len, rq->key);
    uint64_t cursor = ack->number;

    if (s == NULL || strcmp(s->client, rq->name) != 0) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_PROTOCOL, "api.rejected.not-subscribed",
                   "ack without a subscription on this connection");
        return;
    }
    if (cursor > s->pushed) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.ack-ahead",
                   "ack of a delivery number not yet delivered");
        return;
    }
    /* When nothing sent after the ack is outstanding, everything up to
     * `pushed` was either acked or skipped: record that, so a reconnect
     * does not open the skipped entries again. */
    if (s->count == 0 || flight_last(s) <= cursor)
        cursor = s->pushed;
    if (route_batch(a->route) == -1 || store_cursor_set(a->store, rq->name, cursor) == -1) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_INTERNAL, "api.rejected.internal",
                   "the node's store failed");
        return;
    }
    api_add_pending(a, PENDING_ACK, rq)->cursor = cursor;
}

/* The cursor is durable: the window opens up to it. */
void api_apply_ack(struct api *a, const struct pending *p)
{
    struct subscriber *s = find_subscriber(a, p->rid, p->rid_len, p->key);

    if (s != NULL) {
        if (p->cursor > s->acked)
            s->acked = p->cursor;
        if (p->cursor > s->pushed)
            s->pushed = p->cursor;
        flight_ack(s, p->cursor);
    }
    stats_count(a->stats, "api.acked", 1);
    api_answer_code(a, p->rid, p->rid_len, p->request_id, TMBUS__API__CODE__CODE_OK, "");
}

void api_end_stale_subs(struct api *a)
{
    /* Backwards: drop_subscriber moves the last entry into the hole. */
    for (size_t i = a->n_subs; i-- > 0;) {
        struct subscriber *s = &a->subs[i];
        if (is_current(a, s))
            continue;
        /* Said once, unasked, so that a client still waiting on this
         * connection learns why nothing more comes; every later request
         * on it is refused the same way. */
        api_answer_code(a, s->rid, s->rid_len, 0, TMBUS__API__CODE__CODE_DENIED,
                        "subscription ended: this key is no longer configured for the client");
        stats_count(a->stats, "api.subscriptions.ended-by-reload", 1);
        drop_subscriber(a, s, "its key is no longer configured for this client");
    }
}

void api_end_all_subs(struct api *a, const char *why)
{
    char text[API_REVOKED_REASON_MAX + 32];

    snprintf(text, sizeof(text), "subscription ended: %s", why);
    while (a->n_subs > 0) {
        struct subscriber *s = &a->subs[a->n_subs - 1];
        api_answer_code(a, s->rid, s->rid_len, 0, TMBUS__API__CODE__CODE_DENIED, text);
        stats_count(a->stats, "api.subscriptions.ended-by-revocation", 1);
        drop_subscriber(a, s, why);
    }
}

void api_subs_free(struct api *a)
{
    for (size_t i = 0; i < a->n_subs; i++) {
        free(a->subs[i].flight);
        free(a->subs[i].senders);
    }
    free(a->subs);
    a->subs = NULL;
    a->n_subs = a->cap_subs = 0;
}
