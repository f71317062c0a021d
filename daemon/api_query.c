/*
 * api_query: the replies built from the node's state: the board as seen
 * under the client's clearance, the reports, a post's per-recipient
 * delivery states and the node's status (counters, peers, board digest).
 * Each reads the store and answers at once; none writes anything.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

#include "api_internal.h"
#include "board.h"
#include "log.h"
#include "peer.h"
#include "receipt.h"
#include "stats.h"
#include "store.h"

static int64_t now_unix(void)
{
    return (int64_t)time(NULL);
}

/* ---- board queries -------------------------------------------------------- */

/* A Board reply being built: every pointer in it is ours until sent. A
 * page takes rows until it holds limit of them (the row after that only
 * says there is more) or its items would pass API_BOARD_PAGE_BYTES. */
struct board_reply {
    const struct roster *roster; /* in force: who is still a member */
    Tmbus__Api__BoardNeed **needs;
    size_t n_needs, cap_needs;
    Tmbus__Api__BoardOffer **offers;
    size_t n_offers, cap_offers;
    size_t limit; /* items this reply may still take */
    size_t bytes; /* packed size of the items taken */
    bool is_cut;  /* a row matched that the reply could not take */
    uint8_t last[WIRE_ID_BYTES];
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

/* Whether the author of a need or offer is no member of the roster in force
 * (a roster update revoked it after it posted): what it posted stays on
 * the board, marked. Asked at each reply, not stored, so that the mark
 * follows the roster both ways. */
static bool is_revoked(const struct roster *r, const char *member)
{
    struct roster_member m;

    return roster_find(r, member, &m) == -1;
}

/* Whether an item of item_len packed bytes still fits; the first item of
 * a reply always does (one item is at most a payload, well under the
 * client's limit), so that a page always moves forward. A protobuf field
 * adds its tag and a length of at most 5 bytes each. */
static bool is_room(struct board_reply *br, size_t item_len)
{
    size_t framed = item_len + 6;

    if (br->limit == 0 ||
        (br->n_needs + br->n_offers > 0 && br->bytes + framed > API_BOARD_PAGE_BYTES)) {
        br->is_cut = true;
        return false;
    }
    br->bytes += framed;
    br->limit--;
    return true;
}

static void free_need(Tmbus__Api__BoardNeed *bn)
{
    free(bn->id.data);
    free(bn->owner);
    /* The need's bytes are cleartext the client may not keep around. */
    explicit_bzero(bn->need.data, bn->need.len);
    free(bn->need.data);
    free(bn);
}

static void free_offer(Tmbus__Api__BoardOffer *bo)
{
    free(bo->id.data);
    free(bo->donor);
    explicit_bzero(bo->offer.data, bo->offer.len);
    free(bo->offer.data);
    free(bo);
}

/* The store read n through the client's clearance already. */
static int add_need(void *arg, const struct store_board_need *n)
{
    struct board_reply *br = arg;
    Tmbus__Api__BoardNeed *bn = malloc(sizeof(*bn));

    ensure(bn != NULL);
    tmbus__api__board_need__init(bn);
    bn->id.data = copy_bytes(n->id, WIRE_ID_BYTES);
    bn->id.len = WIRE_ID_BYTES;
    bn->owner = copy_text(n->owner);
    bn->created_at = n->created_at;
    bn->need.data = copy_bytes(n->need, n->need_len);
    bn->need.len = n->need_len;
    bn->status = (char *)board_need_status_name(n->status);
    bn->accepted_quantity = n->accepted_quantity;
    bn->delivered_quantity = n->delivered_quantity;
    bn->updated_at = n->updated_at;
    bn->author_revoked = is_revoked(br->roster, n->owner);
    if (!is_room(br, tmbus__api__board_need__get_packed_size(bn))) {
        free_need(bn);
        return 1;
    }
    br->needs = reserve(br->needs, br->n_needs, &br->cap_needs, sizeof(*br->needs));
    br->needs[br->n_needs++] = bn;
    memcpy(br->last, n->id, WIRE_ID_BYTES);
    return 0;
}

static int add_offer(void *arg, const struct store_board_offer *o)
{
    struct board_reply *br = arg;
    Tmbus__Api__BoardOffer *bo = malloc(sizeof(*bo));

    ensure(bo != NULL);
    tmbus__api__board_offer__init(bo);
    bo->id.data = copy_bytes(o->id, WIRE_ID_BYTES);
    bo->id.len = WIRE_ID_BYTES;
    bo->donor = copy_text(o->donor);
    bo->created_at = o->created_at;
    bo->offer.data = copy_bytes(o->offer, o->offer_len);
    bo->offer.len = o->offer_len;
    bo->status = (char *)board_offer_status_name(o->status);
    bo->updated_at = o->updated_at;
    bo->author_revoked = is_revoked(br->roster, o->donor);
    if (!is_room(br, tmbus__api__board_offer__get_packed_size(bo))) {
        free_offer(bo);
        return 1;
    }
    br->offers = reserve(br->offers, br->n_offers, &br->cap_offers, sizeof(*br->offers));
    br->offers[br->n_offers++] = bo;
    memcpy(br->last, o->id, WIRE_ID_BYTES);
    return 0;
}

static void board_reply_free(struct board_reply *br)
{
    for (size_t i = 0; i < br->n_needs; i++)
        free_need(br->needs[i]);
    for (size_t i = 0; i < br->n_offers; i++)
        free_offer(br->offers[i]);
    free(br->needs);
    free(br->offers);
}

/* The store's filter for a checked query, through clearance. */
static struct store_board_filter board_filter(const struct api_board_query *q, uint32_t clearance)
{
    return (struct store_board_filter){
        .clearance = clearance,
        .after = q->has_after ? q->after : NULL,
        .need_id = q->need_id,
        .need_status = q->need_status,
        .statuses = q->statuses,
        .n_statuses = q->n_statuses,
        .categories = q->categories,
        .n_categories = q->n_categories,
        .priorities = q->priorities,
        .n_priorities = q->n_priorities,
        .members = q->members,
        .n_members = q->n_members,
        .updated_since = q->updated_since,
        .id_from = q->has_prefix ? q->id_from : NULL,
        .id_to = q->has_to ? q->id_to : NULL,
        /* One row more than the page: when it comes, there is a next page. */
        .limit = q->limit + 1,
    };
}

/* Fills br from the store. Returns 0 or -1 (store). */
static int board_read(struct api *a, const struct api_board_query *q, uint32_t clearance,
                      struct board_reply *br)
{
    struct store_board_filter f = board_filter(q, clearance);

    br->limit = q->limit;
    if (q->list != API_BOARD_OFFERS && store_board_page_needs(a->store, &f, add_need, br) < 0)
        return -1;
    if (q->list == API_BOARD_NEEDS || br->is_cut)
        return 0;
    /* The original query: the offers of the needs it named, after them. */
    return store_board_page_offers(a->store, &f, add_offer, br) < 0 ? -1 : 0;
}

/* A page of the board as this node sees it, through the client's
 * clearance: every client of a node is that member's own, so AMBER+STRICT
 * is shown to any client cleared for it, and TLP:RED only with red
 * clearance. The store applies the clearance inside the query, so that
 * pages stay full and cursors never point at a hidden row. */
void api_on_board(struct api *a, const struct request *rq, const Tmbus__Api__BoardQuery *bq)
{
    struct board_reply br = {.roster = route_roster(a->route)};
    Tmbus__Api__Reply r = TMBUS__API__REPLY__INIT;
    Tmbus__Api__Board board = TMBUS__API__BOARD__INIT;
    uint8_t cursor[API_BOARD_CURSOR_BYTES];
    struct api_board_query q;
    char why[128];

    if (api_msg_board_query(bq, &q, why, sizeof(why)) != 0) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.board-query", why);
        return;
    }
    if (board_read(a, &q, rq->client->clearance, &br) != 0) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_INTERNAL, "api.rejected.internal",
                   "the node's store failed");
        goto out;
    }
    if (q.list == API_BOARD_BOTH && q.need_id != NULL && br.n_needs == 0) {
        /* Unknown and hidden read alike: a client learns nothing above its
         * clearance, not even that it exists. */
        api_reject(a, rq, TMBUS__API__CODE__CODE_NOT_FOUND, "api.rejected.board-not-found",
                   "no such need on this board");
        goto out;
    }
    board.n_needs = br.n_needs;
    board.needs = br.needs;
    board.n_offers = br.n_offers;
    board.offers = br.offers;
    if (q.list == API_BOARD_BOTH) {
        board.truncated = br.is_cut;
    } else if (br.is_cut) {
        api_msg_board_cursor(q.list, br.last, cursor);
        board.next.data = cursor;
        board.next.len = sizeof(cursor);
    }
    r.id = rq->id;
    r.kind_case = TMBUS__API__REPLY__KIND_BOARD;
    r.board = &board;
    if (api_send_reply(a, rq->rid, rq->rid_len, &r, true) == -1)
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
void api_on_report(struct api *a, const struct request *rq)
{
    Tmbus__Api__Reply r = TMBUS__API__REPLY__INIT;
    Tmbus__Api__Report rep = TMBUS__API__REPORT__INIT;
    Tmbus__Api__ReportTotal total, *donors = NULL, *categories = NULL, *sectors = NULL;
    Tmbus__Api__ReportNeed *needs = NULL, **need_ptrs = NULL;
    struct board_report br;
    int64_t now = now_unix();

    if (board_report(a->store, rq->client->clearance, now - now % 86400, &br) != 0) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_INTERNAL, "api.rejected.internal",
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
        needs[i].id.len = WIRE_ID_BYTES;
        needs[i].owner = o->owner;
        needs[i].title = o->title;
        needs[i].status = (char *)board_need_status_name(o->status);
        needs[i].priority = (uint32_t)o->priority;
        needs[i].deadline = o->deadline;
        needs[i].overdue = o->is_overdue;
        needs[i].quantity = o->quantity;
        needs[i].accepted_quantity = o->accepted_quantity;
        needs[i].value_cents = o->value_cents;
        needs[i].author_revoked = is_revoked(route_roster(a->route), o->owner);
        need_ptrs[i] = &needs[i];
    }
    rep.n_open_needs = br.n_open;
    rep.open_needs_total = br.n_open_total;
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
    if (api_send_reply(a, rq->rid, rq->rid_len, &r, true) == -1)
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

/* The delivery state of one of this member's own posts, per recipient:
 * who a post went to and how far it got, never its payload. Only the client
 * that posted it, or an admin client, may ask, and only within its
 * clearance; any other asker gets exactly the unknown id's answer, so it
 * cannot even tell that the id is a post. */
void api_on_delivery(struct api *a, const struct request *rq, const Tmbus__Api__DeliveryQuery *q)
{
    Tmbus__Api__Reply r = TMBUS__API__REPLY__INIT;
    Tmbus__Api__DeliveryState ds = TMBUS__API__DELIVERY_STATE__INIT;
    Tmbus__Api__DeliveryState__Entry *entries = NULL, **entry_ptrs = NULL;
    struct store_delivery *d = NULL;
    char poster[STORE_CLIENT_MAX + 1];
    uint32_t tlp = 0;
    size_t n = 0;
    int rc;

    if (q->id.len != ENVELOPE_HASH_BYTES) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.delivery-query",
                   "id must be 32 bytes");
        return;
    }
    d = calloc(ENVELOPE_MAX_RECIPIENTS, sizeof(*d));
    entries = calloc(ENVELOPE_MAX_RECIPIENTS, sizeof(*entries));
    entry_ptrs = calloc(ENVELOPE_MAX_RECIPIENTS, sizeof(*entry_ptrs));
    ensure(d != NULL && entries != NULL && entry_ptrs != NULL);
    if (store_delivery_get(a->store, q->id.data, d, ENVELOPE_MAX_RECIPIENTS, &n) == -1) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_INTERNAL, "api.rejected.internal",
                   "the node's store failed");
        goto out;
    }
    /* A post of a need or offer above the client's clearance reads as no
     * post at all, exactly as an unknown id does. */
    if (n > 0 && board_label_of(a->store, q->id.data, &tlp) != 0) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_INTERNAL, "api.rejected.internal",
                   "the node's store failed");
        goto out;
    }
    if (n > 0 && rq->client->role != CONFIG_ROLE_ADMIN &&
        (rc = store_post_client_get(a->store, q->id.data, poster)) != 1) {
        if (rc == -1) {
            api_reject(a, rq, TMBUS__API__CODE__CODE_INTERNAL, "api.rejected.internal",
                       "the node's store failed");
            goto out;
        }
        n = 0; /* a post with no recorded poster: admin clients only */
    }
    if (n > 0 && rq->client->role != CONFIG_ROLE_ADMIN && strcmp(poster, rq->client->name) != 0)
        n = 0;
    if (n == 0 || tlp > rq->client->clearance) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_NOT_FOUND, "api.rejected.delivery-not-found",
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
    api_answer(a, rq->rid, rq->rid_len, &r);
    stats_count(a->stats, "api.delivery", 1);
out:
    free(d);
    free(entries);
    free(entry_ptrs);
}

void api_on_status(struct api *a, const struct request *rq)
{
    Tmbus__Api__Reply r = TMBUS__API__REPLY__INIT;
    Tmbus__Api__Status st = TMBUS__API__STATUS__INIT;
    Tmbus__Api__Counter *counters = NULL, **counter_ptrs = NULL;
    Tmbus__Api__PeerStatus *peers = NULL, **peer_ptrs = NULL;
    struct peer_status *ps = NULL;
    Tmbus__Api__KeySwitch ks = TMBUS__API__KEY_SWITCH__INIT;
    struct store_rotation_head *ks_heads = NULL;
    Tmbus__Api__KeySwitch__Head *heads = NULL, **head_ptrs = NULL;
    size_t n_heads = 0;
    uint64_t evidence = 0;
    uint8_t digest[WIRE_ID_BYTES];
    size_t n_peers = 0;

    counters = calloc(stats_size(a->stats) + 1, sizeof(*counters));
    counter_ptrs = calloc(stats_size(a->stats) + 1, sizeof(*counter_ptrs));
    ps = calloc(ROSTER_MAX_MEMBERS, sizeof(*ps));
    peers = calloc(ROSTER_MAX_MEMBERS, sizeof(*peers));
    peer_ptrs = calloc(ROSTER_MAX_MEMBERS, sizeof(*peer_ptrs));
    ks_heads = calloc(STORE_ROTATION_MAX_LOGS, sizeof(*ks_heads));
    heads = calloc(STORE_ROTATION_MAX_LOGS, sizeof(*heads));
    head_ptrs = calloc(STORE_ROTATION_MAX_LOGS, sizeof(*head_ptrs));
    ensure(counters && counter_ptrs && ps && peers && peer_ptrs && ks_heads && heads && head_ptrs);
    if (store_count(a->store, &st.envelopes, &evidence) == -1 ||
        store_inbox_last(a->store, &st.inbox) == -1) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_INTERNAL, "api.rejected.internal",
                   "the node's store failed");
        goto out;
    }
    if (board_digest(a->store, digest) == -1) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_INTERNAL, "api.rejected.internal",
                   "the node's store failed");
        goto out;
    }
    st.board_digest.data = digest;
    st.board_digest.len = sizeof(digest);
    st.member = (char *)a->cfg->member;
    st.roster_version = roster_version(route_roster(a->route));
    st.version = (char *)TMBUS_VERSION_STRING;
    st.uptime_s = (uint64_t)(loop_now_ms() - a->started_ms) / 1000;
    st.store_full = store_is_full(a->store);
    st.recovering = route_is_recovering(a->route);
    st.audit_epoch = audit_epoch(a->audit);
    /* The counters are kept with every commit, so these survive restarts. */
    st.retention_pruned = stats_get(a->stats, "retention.pruned");
    st.retention_bytes_freed = stats_get(a->stats, "retention.bytes-freed");
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
    if (store_rotation_heads(a->store, &ks.key_id, ks_heads, STORE_ROTATION_MAX_LOGS, &n_heads) ==
            0 &&
        ks.key_id != 0) {
        for (size_t i = 0; i < n_heads; i++) {
            tmbus__api__key_switch__head__init(&heads[i]);
            heads[i].log_peer = ks_heads[i].log_peer;
            heads[i].last_seq = ks_heads[i].last_seq;
            head_ptrs[i] = &heads[i];
        }
        ks.n_heads = n_heads;
        ks.heads = head_ptrs;
        st.key_switch = &ks;
    }
    r.id = rq->id;
    r.kind_case = TMBUS__API__REPLY__KIND_STATUS;
    r.status = &st;
    api_answer(a, rq->rid, rq->rid_len, &r);
out:
    free(counters);
    free(counter_ptrs);
    free(ps);
    free(peers);
    free(peer_ptrs);
    free(ks_heads);
    free(heads);
    free(head_ptrs);
}

/* One request frame from connection rid: state (who is asking), then
 * size, then fields, then the request itself. */
