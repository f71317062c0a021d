/*
 * peer: one link per roster member, replication over it as
 * proto/peer.proto describes. Keeps, per link, the peer's vector (what it
 * holds) and what we sent it; streams the difference under the credit
 * window after each round, as batches of one log's consecutive envelopes
 * read from the store in one statement each, and acks with our vector
 * after each commit. It hands a received batch to route_accept_run (one
 * signature for a chained run) and a lone envelope to route_accept; it
 * never opens, stores or acks anything itself.
 *
 * A link is bound to the member's transport key in the roster in force, not
 * to its id: a message on our ROUTER is taken only when the key that
 * authenticated its connection is a link's current key (libzmq 4.3 cannot
 * drop one ROUTER connection, so this is checked on every message), and a
 * reload that revokes or rotates a key closes that member's links, redials
 * with the new key and rebinds the ROUTER so that every connection made
 * under the old roster authenticates again. A dialled link goes down the
 * moment its connection drops, so the far end of a revoked link notices too.
 *
 * Every vector entry carries the id of the sender's envelope at its seq, so
 * a split view of a log is seen on the first exchange: we fetch the peer's
 * envelope once (check_split) and route_accept keeps it as evidence.
 *
 * Audit checkpoints go both ways on every link (PROTOCOL.md 13.1): ours
 * after link up and whenever we sign a new one, with a consistency proof
 * from the size the peer says it holds; theirs checked by audit.c and
 * cosigned once the round that keeps it commits.
 *
 * The governance log travels here too: a peer whose Hello says an older
 * roster_version is sent the rosters it lacks from the store's history, in
 * order, after a commit and before the round's stream (send_rosters); a
 * roster a peer sends goes to the node to judge (take_roster). Whether a
 * roster is trusted is never decided in this file.
 *
 * Nothing a peer sends makes it grow without bound: a vector keeps only
 * logs that can exist between the two members (peer_msg_log_may_exist), and
 * each round reads at most limits.peer_round_max envelopes' worth of
 * messages from one peer (a batch counts its envelopes).
 */
#include "peer.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "log.h"
#include "peer.pb-c.h"
#include "peer_msg.h"
#include "store.h"
#include "zap.h"

#define PEER_HARD_MAX      (4 * ENVELOPE_MAX_SIZE) /* libzmq drops the link past this */
#define PEER_ROUTING_MAX   256
#define PEER_RECONNECT_MIN 100   /* ms, first retry; libzmq doubles up to the config's max */
#define PEER_LOG_LIMIT_MS  10000 /* at most one line per peer and kind of abuse this often */
/* A link's up/down lines: the first limits.link_log_burst cycles of each
 * PEER_FLAP_MS are logged, the rest summed up in one line at its end. */
#define PEER_FLAP_MS      60000
#define PEER_ENDPOINT_MAX 256
#define PEER_REBIND_MS    20  /* retry while the old listener is still closing */
#define PEER_REBIND_TRIES 250 /* five seconds of retries */
/* How long a dealer closed by a roster update keeps trying to deliver the
 * rosters sent on it as its last words. */
#define PEER_LAST_WORD_MS 500
#define RELAY_TURN_MAX    8 /* a relay's turn is at most this many relay_delay_ms */
/* A consistency proof reads our audit log from the store: at most one per
 * link this often, whatever sizes the peer asks to be proved from. */
#define PEER_PROOF_MIN_MS 1000
/* What a dealer's monitor reports: the connection dropped or could not
 * authenticate. Either way the link has no channel until it is back. */
#define PEER_MONITOR_EVENTS                                                                        \
    (ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |                               \
     ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)

/* How far a log is held. */
struct vec_entry {
    struct store_log log;
    uint64_t seq;
    bool is_halted;                    /* ours only */
    uint8_t head[ENVELOPE_HASH_BYTES]; /* ours only: the id at seq */
};

struct vec {
    struct vec_entry *e;
    size_t n, cap;
};

/* One link's view of another origin's relayed log, for the forwarding
 * rule (is_relay_due). */
struct watch {
    struct store_log log;
    uint64_t held;    /* the peer's acknowledged seq when last looked at */
    int64_t since_ms; /* -1: it lacked nothing then; else since when it lacks
                         something and its acknowledged seq has not risen */
    uint32_t rank;    /* our turn among its possible relays; 0 until known */
    bool is_serving;  /* we stream the log to it until it has caught up */
    bool is_first;    /* no progress seen since its Hello */
};

struct watches {
    struct watch *w;
    size_t n, cap;
};

struct link {
    struct peers *owner;
    char member[UTIL_MEMBER_ID_MAX + 1];
    uint8_t transport_pk[KEYS_PUBLIC_BYTES]; /* the one we dial: its oldest ACTIVE */
    /* During the member's rotation overlap, its newer ACTIVE transport
     * key: its connections authenticate with either. */
    bool has_next_pk;
    uint8_t next_pk[KEYS_PUBLIC_BYTES];
    /* Whether we dial next_pk: the member's node listens with whichever
     * generation it holds, so a failed handshake tries the other one
     * (is_redial_due, taken on the timer, outside the monitor's callback). */
    bool is_dialling_next;
    bool is_redial_due;
    bool is_other_key_due; /* the redial switches keys */
    /* The member's node refused our key (ZAP), e.g. before it knew our
     * new one: libzmq does not dial again after that, so we do once its
     * Hello says it holds our roster. */
    bool was_denied;
    void *dealer;  /* NULL unless we dial this member */
    void *monitor; /* the dealer's connection events; NULL with it */
    /* The peer's own connection to our ROUTER, learnt from its messages. */
    uint8_t rid[PEER_ROUTING_MAX];
    size_t rid_len;
    bool has_conversation; /* its Hello arrived since the link (re)started */
    bool is_heard;         /* a Hello of it arrived since this process started */
    bool needs_hello;      /* send an opening Hello at the end of the round */
    bool is_blocked;       /* a send met a full queue this round */
    int64_t last_heard_ms; /* -1: never */
    int64_t last_sent_ms;
    int64_t last_hello_ms;
    uint32_t round_reads; /* messages read from it this round, all channels */
    bool is_deferred;     /* its dialled connection waited out a round's time (is_round_spent) */
    struct log_limit rejected_log, over_budget; /* lines about its abuse */
    struct vec theirs;                          /* what it holds: only logs that can exist */
    struct vec sent;                            /* the highest seq we sent it, per log */
    struct vec asked;      /* per log, the seq whose envelope we fetched from it */
    struct watches relays; /* other origins' relayed logs: is_relay_due */
    /* How long it takes, smoothed, to acknowledge what it lacked when
     * someone else served it (ms, 0 until seen): is_relay_due's turn. */
    int64_t ack_ms;
    /* The audit exchange: the size of our checkpoint last sent (0: send
     * ours), the size of ours it says it holds (a proof starts there), and
     * the Cosignature we owe it once the round commits. */
    uint64_t audit_sent, audit_held;
    int64_t last_proof_ms; /* when we last computed a proof for it */
    int64_t last_held_ms;  /* when we last checked a checkpoint it showed us */
    bool is_cosign_due;
    struct peer_msg_checkpoint cosign;
    /* The highest roster version it is known to hold: its Hello's, raised
     * by each roster it sent us or we sent it (send_rosters). */
    uint64_t roster_known;
    struct log_limit roster_lines; /* lines about rosters we could not send it */
    struct log_flap flaps;         /* its link up and link down lines */
};

struct peers {
    const struct config *cfg;                /* the running one: peers_reload swaps it */
    struct audit *audit;                     /* may be NULL */
    const struct keyset *keys;               /* our CURVE keys (peers_set_transport) */
    uint8_t transport_pk[KEYS_PUBLIC_BYTES]; /* the public one our sockets were made with */
    void *zctx;
    struct loop *loop;
    struct store *store;
    struct route *route;
    struct stats *stats;
    peers_roster_fn on_roster;
    void *roster_arg;
    void *router;
    struct zap_watch *watch;                 /* the router's handshakes refused before ZAP */
    char router_endpoint[PEER_ENDPOINT_MAX]; /* as bound, for a rebind */
    uint64_t rebind_timer;                   /* 0 unless a rebind waits */
    int rebind_tries;
    uint64_t monitors; /* monitor endpoints made, for unique names */
    struct link *links;
    size_t n_links;
    struct vec ours;
    /* Whose relayed log can exist, sorted for bsearch: the roster's
     * members and the origins of the relayed logs we hold (a member who
     * left the roster keeps its log). Rebuilt with ours and on reload. */
    char (*origins)[UTIL_MEMBER_ID_MAX + 1];
    size_t n_origins;
    uint64_t timer;
    uint64_t relay_timer;            /* 0 unless a relay waits for its turn */
    int64_t relay_due_ms;            /* when relay_timer fires */
    struct log_limit unknown_sender; /* lines about messages of no link */
    /* The round's time for peers' messages (is_round_spent): when the
     * first was read, who tells whether a client waits, whether the round
     * was cut short, and whether the listening socket waited out the last
     * one. */
    int64_t round_began_ms;      /* 0: none read yet this round */
    peers_waiting_fn is_waiting; /* NULL: rounds are not timed */
    void *waiting_arg;
    bool is_round_cut;
    bool is_router_deferred;
    int64_t recover_until_ms; /* until when a start waits for unheard peers */
    /* What send_batch reads from the store before it packs a frame: one
     * frame's worth, reused for every batch to every peer. */
    uint8_t *scratch;                 /* PEER_MSG_MAX_FRAME bytes */
    ProtobufCBinaryData *batch_items; /* PEER_MSG_MAX_BATCH */
};

/* ---- vectors ------------------------------------------------------------ */

static bool same_log(const struct store_log *a, const struct store_log *b)
{
    return strcmp(a->origin, b->origin) == 0 && strcmp(a->peer, b->peer) == 0;
}

static struct vec_entry *vec_find(const struct vec *v, const struct store_log *log)
{
    for (size_t i = 0; i < v->n; i++)
        if (same_log(&v->e[i].log, log))
            return &v->e[i];
    return NULL;
}

static uint64_t vec_get(const struct vec *v, const struct store_log *log)
{
    const struct vec_entry *e = vec_find(v, log);
    return e ? e->seq : 0;
}

/* Raises log's entry to seq (never lowers it). */
static void vec_raise(struct vec *v, const struct store_log *log, uint64_t seq)
{
    struct vec_entry *e = vec_find(v, log);

    if (e != NULL) {
        if (seq > e->seq)
            e->seq = seq;
        return;
    }
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        struct vec_entry *grown = realloc(v->e, cap * sizeof(*grown));
        ensure(grown != NULL);
        v->e = grown;
        v->cap = cap;
    }
    v->e[v->n++] = (struct vec_entry){*log, seq, false};
}

static void vec_clear(struct vec *v)
{
    v->n = 0;
}

static void vec_free(struct vec *v)
{
    free(v->e);
    memset(v, 0, sizeof(*v));
}

/* May the peer `member` see log? Direct logs only between their two ends. */
static bool is_visible(const struct store_log *log, const char *member)
{
    return log->peer[0] == '\0' || strcmp(log->origin, member) == 0 ||
           strcmp(log->peer, member) == 0;
}

/* Whether log is l's own direct log to us: we are the one node besides its
 * origin that holds it, so we hand it back to an origin whose data went
 * back in time (PROTOCOL.md 4.6); it still never reaches a third node. */
static bool is_returned(const struct store_log *log, const struct link *l)
{
    return log->peer[0] != '\0' && strcmp(log->origin, l->member) == 0;
}

static int collect_head(void *arg, const struct store_log *log, const struct store_head *head)
{
    struct vec *v = arg;

    vec_raise(v, log, head->seq);
    vec_find(v, log)->is_halted = head->is_halted;
    memcpy(vec_find(v, log)->head, head->id, ENVELOPE_HASH_BYTES);
    return 0;
}

static int compare_ids(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void refresh_origins(struct peers *p)
{
    const struct roster *r = route_roster(p->route);
    size_t cap = roster_member_count(r) + p->ours.n, n = 0;
    char(*ids)[UTIL_MEMBER_ID_MAX + 1] = realloc(p->origins, (cap ? cap : 1) * sizeof(*ids));

    ensure(ids != NULL);
    for (size_t i = 0; i < roster_member_count(r); i++) {
        struct roster_member m;
        roster_member_at(r, i, &m);
        snprintf(ids[n++], sizeof(ids[0]), "%s", m.id);
    }
    for (size_t i = 0; i < p->ours.n; i++)
        if (p->ours.e[i].log.peer[0] == '\0')
            strcpy(ids[n++], p->ours.e[i].log.origin);
    qsort(ids, n, sizeof(ids[0]), compare_ids);
    p->origins = ids;
    p->n_origins = n;
}

static void refresh_ours(struct peers *p)
{
    vec_clear(&p->ours);
    if (store_each_log(p->store, collect_head, &p->ours) != 0)
        log_warnx("peer: cannot read our log heads");
    refresh_origins(p);
}

/* ---- sending ------------------------------------------------------------ */

static bool has_channel(const struct link *l)
{
    return l->dealer != NULL || l->rid_len > 0;
}

static void resend_checkpoint(struct link *l);

/* The line that sums up a flapping link's cycles left out of the log, once
 * the interval they fell in is over (the timer and each change look). */
static void flap_summary(struct link *l, int64_t now)
{
    int64_t span_ms;
    uint64_t n = log_flap_summary(&l->flaps, now, PEER_FLAP_MS, &span_ms);

    if (n > 0)
        log_warnx("peer %s: link flapped %llu more times in the last %lld s, not logged one by "
                  "one (peer.link-up counts them all); it is now %s",
                  l->member, (unsigned long long)n, (long long)(span_ms / 1000),
                  l->has_conversation ? "up" : "down");
}

/* The only places a link changes state. Every change is counted; the log
 * has one line per change, every "link up" followed by its "link down"
 * before the next, except that a link that flaps has only its first
 * limits.link_log_burst cycles a minute logged, each up with its down,
 * and the rest summed up (flap_summary). */
static void link_up(struct link *l, uint64_t roster_version)
{
    uint32_t burst = l->owner->cfg->link_log_burst;
    int64_t now = loop_now_ms();

    if (l->has_conversation)
        return;
    l->has_conversation = true;
    stats_count(l->owner->stats, "peer.link-up", 1);
    flap_summary(l, now);
    if (log_flap_up(&l->flaps, now, PEER_FLAP_MS, burst > 0 ? burst : UINT32_MAX))
        log_info("peer %s: link up (roster version %llu)", l->member,
                 (unsigned long long)roster_version);
    resend_checkpoint(l);
}

/* is_fault: the link failed (a warning), rather than this node closing it
 * itself on a stop or a roster change (info). */
static void link_down(struct link *l, const char *why, bool is_fault)
{
    if (!l->has_conversation)
        return;
    l->has_conversation = false;
    vec_clear(&l->sent);
    stats_count(l->owner->stats, "peer.link-down", 1);
    if (!log_flap_down(&l->flaps))
        return;
    if (is_fault)
        log_warnx("peer %s: link down (%s)", l->member, why);
    else
        log_info("peer %s: link down (%s)", l->member, why);
}

/* Sends one PeerMessage to l: on our DEALER when we dial it, else over its
 * connection to our ROUTER. Never blocks. Returns 0 or -1. */
static int send_message(struct peers *p, struct link *l, const Tmbus__Peer__PeerMessage *m)
{
    size_t len = tmbus__peer__peer_message__get_packed_size(m);
    zmq_msg_t msg;
    int rc;

    if (!has_channel(l) || l->is_blocked)
        return -1;
    if (zmq_msg_init_size(&msg, len) == -1)
        return -1;
    tmbus__peer__peer_message__pack(m, zmq_msg_data(&msg));
    if (l->dealer != NULL) {
        rc = zmq_msg_send(&msg, l->dealer, ZMQ_DONTWAIT);
    } else {
        rc = zmq_send(p->router, l->rid, l->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT);
        if (rc != -1)
            rc = zmq_msg_send(&msg, p->router, ZMQ_DONTWAIT);
    }
    if (rc == -1) {
        int err = errno;
        zmq_msg_close(&msg);
        if (err == EAGAIN) {
            l->is_blocked = true;
            stats_count(p->stats, "peer.send-blocked", 1);
        } else if (err == EHOSTUNREACH) {
            /* Its connection to us is gone; wait for it to dial again. With
             * no dealer of ours either, the link is down now, not after the
             * timeout. */
            l->rid_len = 0;
            if (l->dealer == NULL)
                link_down(l, "its connection is gone", true);
        }
        return -1;
    }
    l->last_sent_ms = loop_now_ms();
    return 0;
}

/* Our vector as l may see it. One allocation holds the pointer array and
 * the entries (which point into p->ours); free it with free(). */
static Tmbus__Peer__VectorEntry **vector_entries(const struct peers *p, const struct link *l,
                                                 size_t *n)
{
    size_t cap = p->ours.n ? p->ours.n : 1;
    Tmbus__Peer__VectorEntry **out = calloc(cap, sizeof(*out) + sizeof(**out));
    Tmbus__Peer__VectorEntry *items;

    ensure(out != NULL);
    items = (Tmbus__Peer__VectorEntry *)(out + cap);
    *n = 0;
    for (size_t i = 0; i < p->ours.n; i++) {
        const struct vec_entry *e = &p->ours.e[i];
        if (!is_visible(&e->log, l->member))
            continue;
        tmbus__peer__vector_entry__init(&items[*n]);
        items[*n].origin = (char *)(uintptr_t)e->log.origin;
        items[*n].peer = (char *)(uintptr_t)e->log.peer;
        items[*n].seq = e->seq;
        if (e->seq > 0) {
            items[*n].head.data = (uint8_t *)(uintptr_t)e->head;
            items[*n].head.len = ENVELOPE_HASH_BYTES;
        }
        out[*n] = &items[*n];
        (*n)++;
    }
    return out;
}

/* Whether envelopes from peers are dropped unread: the store's disk is
 * full, so they could not be committed, and checking them would only cost
 * signatures. The peers keep them (nothing is acknowledged) and send them
 * again after the Hello the node sends once space returns. */
static bool is_store_full(struct peers *p)
{
    if (!store_is_full(p->store))
        return false;
    stats_count(p->stats, "peer.store-full", 1);
    return true;
}

static void send_hello(struct peers *p, struct link *l, bool is_reply)
{
    Tmbus__Peer__PeerMessage m = TMBUS__PEER__PEER_MESSAGE__INIT;
    Tmbus__Peer__Hello hello = TMBUS__PEER__HELLO__INIT;

    hello.version = PEER_MSG_VERSION;
    hello.roster_version = roster_version(route_roster(p->route));
    hello.reply = is_reply;
    hello.vector = vector_entries(p, l, &hello.n_vector);
    m.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_HELLO;
    m.hello = &hello;
    if (send_message(p, l, &m) == 0) {
        l->needs_hello = false;
        l->last_hello_ms = loop_now_ms();
    }
    free(hello.vector);
}

static void send_vector(struct peers *p, struct link *l)
{
    Tmbus__Peer__PeerMessage m = TMBUS__PEER__PEER_MESSAGE__INIT;
    Tmbus__Peer__Vector v = TMBUS__PEER__VECTOR__INIT;

    v.entries = vector_entries(p, l, &v.n_entries);
    m.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_VECTOR;
    m.vector = &v;
    send_message(p, l, &m);
    free(v.entries);
}

static void send_heartbeat(struct peers *p, struct link *l)
{
    Tmbus__Peer__PeerMessage m = TMBUS__PEER__PEER_MESSAGE__INIT;
    Tmbus__Peer__Heartbeat hb = TMBUS__PEER__HEARTBEAT__INIT;

    hb.sent_ms = (uint64_t)loop_now_ms();
    m.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_HEARTBEAT;
    m.heartbeat = &hb;
    send_message(p, l, &m);
}

/* ---- the forwarding rule ------------------------------------------------ */

static struct watch *watch_get(struct link *l, const struct store_log *log)
{
    struct watches *ws = &l->relays;

    for (size_t i = 0; i < ws->n; i++)
        if (same_log(&ws->w[i].log, log))
            return &ws->w[i];
    if (ws->n == ws->cap) {
        size_t cap = ws->cap ? ws->cap * 2 : 16;
        struct watch *grown = realloc(ws->w, cap * sizeof(*grown));
        ensure(grown != NULL);
        ws->w = grown;
        ws->cap = cap;
    }
    ws->w[ws->n] = (struct watch){.log = *log, .since_ms = -1, .is_first = true};
    return &ws->w[ws->n++];
}

static void watches_clear(struct watches *ws)
{
    ws->n = 0;
}

static void watches_free(struct watches *ws)
{
    free(ws->w);
    memset(ws, 0, sizeof(*ws));
}

/* A well-spread 64-bit hash of (relay, peer, origin): FNV-1a, then the
 * splitmix64 finaliser, so that ids differing in one letter still land far
 * apart. Not cryptographic; it only spreads the relaying work. */
static uint64_t relay_hash(const char *relay, const char *peer, const char *origin)
{
    const char *parts[3] = {relay, peer, origin};
    uint64_t h = 0xcbf29ce484222325ULL;

    for (size_t k = 0; k < 3; k++)
        for (const char *c = parts[k];; c++) {
            h = (h ^ (uint8_t)*c) * 0x100000001b3ULL;
            if (*c == '\0')
                break;
        }
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

/* Our turn to relay origin's log to peer: 1 + how many roster members other
 * than peer, origin and us come before us in the order of relay_hash. Every
 * node computes the same order, so exactly one relay has each rank, and
 * over many (peer, origin) pairs every relay comes first about as often. */
static uint32_t relay_rank(const struct peers *p, const char *peer, const char *origin)
{
    const struct roster *r = route_roster(p->route);
    const char *self = p->cfg->member;
    uint64_t mine = relay_hash(self, peer, origin);
    uint32_t rank = 1;

    for (size_t i = 0; i < roster_member_count(r); i++) {
        struct roster_member m;
        uint64_t h;

        roster_member_at(r, i, &m);
        if (strcmp(m.id, peer) == 0 || strcmp(m.id, origin) == 0 || strcmp(m.id, self) == 0)
            continue;
        h = relay_hash(m.id, peer, origin);
        if (h < mine || (h == mine && strcmp(m.id, self) < 0))
            rank++;
    }
    return rank;
}

static int64_t on_relay_timer(void *arg)
{
    struct peers *p = arg;

    /* Firing is the point: the round that follows pumps every link. */
    p->relay_timer = 0;
    p->relay_due_ms = 0;
    return -1;
}

/* Makes sure a round runs at due_ms (loop time) at the latest. */
static void wake_at(struct peers *p, int64_t due_ms)
{
    int64_t now = loop_now_ms();

    if (p->relay_timer != 0 && p->relay_due_ms <= due_ms)
        return;
    if (p->relay_timer != 0)
        loop_remove_timer(p->loop, p->relay_timer);
    p->relay_due_ms = due_ms;
    p->relay_timer = loop_add_timer(p->loop, due_ms > now ? due_ms - now : 1, on_relay_timer, p);
}

/* The forwarding rule (proto/PROTOCOL.md 7.3) for the relayed log o of
 * another origin, of which l acknowledged held: whether to stream it to l
 * now. In a mesh the origin streams its log to every peer itself; were
 * every relay to forward what it just received too, each node would get
 * one copy from every relay before their acks crossed. So a relay waits
 * until l has lacked something for rank turns without its acknowledged
 * seq rising (someone else serving it counts as rising), a turn being
 * limits.relay_delay_ms or twice the time l takes to acknowledge when
 * someone else serves it, whichever is longer (at most RELAY_TURN_MAX
 * delays; the most until it first makes progress after its Hello), so
 * that a peer slow to commit is not taken for one cut off,
 * then serves it until l has caught up with us: its progress is ours from
 * then on, so it no longer tells whether anybody else serves l. */
static bool is_relay_due(struct peers *p, struct link *l, const struct vec_entry *o, uint64_t held)
{
    uint32_t delay = p->cfg->relay_delay_ms;
    int64_t now = loop_now_ms(), due, turn;
    struct watch *w;

    /* An origin lacks its own log only when its data went back in time
     * (restored from a backup): every copy tells it so at once, before
     * we learn of the fork ourselves and halt the log. */
    if (delay == 0 || strcmp(l->member, o->log.origin) == 0)
        return true;
    w = watch_get(l, &o->log);
    /* Someone else served it: how long that took is what a relay of the
     * first rank must wait out (a slow disk makes every ack slow). */
    if (!w->is_serving && w->since_ms >= 0 && held > w->held)
        l->ack_ms =
            l->ack_ms == 0 ? now - w->since_ms + 1 : (7 * l->ack_ms + now - w->since_ms + 1) / 8;
    if (held >= o->seq || held > w->held)
        w->is_first = false;
    if (held >= o->seq) {
        w->since_ms = -1;
        w->is_serving = false;
        w->held = held;
        return false;
    }
    if (w->is_serving)
        return true;
    if (w->since_ms < 0 || held > w->held) {
        w->since_ms = now;
        w->held = held;
    }
    if (w->rank == 0)
        w->rank = relay_rank(p, l->member, o->log.origin);
    turn = 2 * l->ack_ms > delay ? 2 * l->ack_ms : delay;
    /* A peer that has just (re)started is slow to ack its first catch-up
     * from the origin (a cold store, a burst to verify): give it the
     * longest turn before taking it for one the origin cannot reach. */
    if (w->is_first || turn > RELAY_TURN_MAX * (int64_t)delay)
        turn = RELAY_TURN_MAX * (int64_t)delay;
    due = w->since_ms + (int64_t)w->rank * turn;
    if (now < due) {
        wake_at(p, due);
        return false;
    }
    w->is_serving = true;
    stats_count(p->stats, "relay.takeover", 1);
    log_debug("peer %s: relaying %s's log from seq %llu (our turn %u)", l->member, o->log.origin,
              (unsigned long long)held + 1, w->rank);
    return true;
}

/* Bytes a varint takes: the batch is sized as protobuf will pack it. */
static size_t varint_size(size_t v)
{
    size_t n = 1;

    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* A batch being read from the store: the envelopes' bytes side by side in
 * the link set's one scratch buffer, and where each starts. */
struct batch_fill {
    struct peers *p;
    size_t n, max, used;
    size_t packed; /* the Batch's packed size so far */
};

/* Takes one envelope into the batch while the frame and the count allow;
 * the first always fits (a frame holds the largest envelope). */
static int fill_batch(void *arg, uint64_t seq, const uint8_t *env, size_t len)
{
    struct batch_fill *b = arg;
    struct peers *p = b->p;
    size_t item = 1 + varint_size(len) + len, packed = b->packed + item;

    (void)seq;
    if (b->n == b->max || 1 + varint_size(packed) + packed > PEER_MSG_MAX_FRAME)
        return b->n == 0 ? -1 : 1;
    memcpy(p->scratch + b->used, env, len);
    p->batch_items[b->n] = (ProtobufCBinaryData){len, p->scratch + b->used};
    b->used += len;
    b->packed = packed;
    b->n++;
    return 0;
}

/* Sends l one Batch of log's envelopes from seq `from` on, at most up to
 * `to` and at most max of them, read from the store in one statement.
 * Returns how many it sent: 0 when nothing could be read or sent. */
static uint64_t send_batch(struct peers *p, struct link *l, const struct store_log *log,
                           uint64_t from, uint64_t to, uint64_t max)
{
    Tmbus__Peer__PeerMessage m = TMBUS__PEER__PEER_MESSAGE__INIT;
    Tmbus__Peer__Batch batch = TMBUS__PEER__BATCH__INIT;
    struct batch_fill b = {
        p, 0, max < p->cfg->batch_envelopes ? (size_t)max : p->cfg->batch_envelopes, 0, 0};
    uint64_t last = to - from + 1 > b.max ? from + b.max - 1 : to;

    if (store_get_range(p->store, log, from, last, fill_batch, &b) <= 0 || b.n == 0) {
        log_warnx("peer: %s/%s from seq %llu unreadable from our store", log->origin, log->peer,
                  (unsigned long long)from);
        return 0;
    }
    batch.n_envelopes = b.n;
    batch.envelopes = p->batch_items;
    m.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_BATCH;
    m.batch = &batch;
    ensure(tmbus__peer__peer_message__get_packed_size(&m) <= PEER_MSG_MAX_FRAME);
    if (send_message(p, l, &m) == -1)
        return 0;
    vec_raise(&l->sent, log, from + b.n - 1);
    stats_count(p->stats, "relayed", b.n);
    stats_count(p->stats, "peer.batches-sent", 1);
    return b.n;
}

/* Envelopes l lacks and has not been sent, in log order, while credit
 * lasts. */
static void pump(struct peers *p, struct link *l)
{
    uint64_t in_flight = 0, window = p->cfg->credit_window;

    if (!l->has_conversation)
        return;
    for (size_t i = 0; i < l->sent.n; i++) {
        uint64_t held = vec_get(&l->theirs, &l->sent.e[i].log);
        if (l->sent.e[i].seq > held)
            in_flight += l->sent.e[i].seq - held;
    }
    for (size_t i = 0; i < p->ours.n && in_flight < window && !l->is_blocked; i++) {
        const struct vec_entry *o = &p->ours.e[i];
        uint64_t next, held = vec_get(&l->theirs, &o->log), sent = vec_get(&l->sent, &o->log);

        /* Equivocation halts a log: we stop relaying it. */
        if (o->is_halted || !is_visible(&o->log, l->member))
            continue;
        /* A direct log goes only from its origin (us) to its recipient,
         * or back to its origin when that lacks it (is_returned). */
        if (o->log.peer[0] != '\0' && !route_is_self(p->route, o->log.origin) &&
            !is_returned(&o->log, l))
            continue;
        /* Our own logs go to everyone at once; another origin's when it is
         * our turn. */
        if (!route_is_self(p->route, o->log.origin) && !is_relay_due(p, l, o, held))
            continue;
        next = (sent > held ? sent : held) + 1;
        while (next <= o->seq && in_flight < window) {
            uint64_t n = send_batch(p, l, &o->log, next, o->seq, window - in_flight);
            if (n == 0)
                return;
            next += n;
            in_flight += n;
        }
    }
}

/* ---- recovering our own logs (PROTOCOL.md 4.6) --------------------------- */

/* The first of our own logs that l's vector says it holds further than we
 * do, or NULL: our data went back in time (an empty or restored data
 * directory), and whatever we sealed now would take a seq l holds already.
 * A halted log is left out: its fork is proven, and posts into it are
 * refused anyway. *held gets our seq of it. */
static const struct vec_entry *own_ahead(const struct peers *p, const struct link *l,
                                         uint64_t *held)
{
    for (size_t i = 0; i < l->theirs.n; i++) {
        const struct vec_entry *t = &l->theirs.e[i];
        const struct vec_entry *o;

        if (!route_is_self(p->route, t->log.origin))
            continue;
        o = vec_find(&p->ours, &t->log);
        *held = o != NULL ? o->seq : 0;
        if ((o == NULL || !o->is_halted) && t->seq > *held)
            return t;
    }
    return NULL;
}

/* A link we dial whose Hello has not come since we started, while the
 * start's wait (limits.recover_wait_ms) lasts; NULL when none. */
static const struct link *unheard(const struct peers *p)
{
    if (loop_now_ms() >= p->recover_until_ms)
        return NULL;
    for (size_t i = 0; i < p->n_links; i++)
        if (p->links[i].dealer != NULL && !p->links[i].is_heard)
            return &p->links[i];
    return NULL;
}

/* Puts the node in the recovering state, or out of it, as the peers'
 * vectors say: in it while a peer holds one of our own logs further than
 * we do (the peers stream it back: is_relay_due, is_returned), and at
 * start until every peer we dial has said what it holds, or the wait is
 * over. Every vector, every commit and the heartbeat timer look again.
 * Each change is logged once; a peer found ahead after we left the state
 * is an ALARM: posts we made meanwhile may have forked our log, which the
 * split-view check then proves (check_split). */
static void recover_check(struct peers *p)
{
    const struct vec_entry *ahead = NULL;
    const struct link *by = NULL, *waiting = unheard(p);
    uint64_t held = 0;
    bool was = route_is_recovering(p->route);
    char name[UTIL_MEMBER_ID_MAX + 32];

    for (size_t i = 0; i < p->n_links && ahead == NULL; i++)
        if ((ahead = own_ahead(p, &p->links[i], &held)) != NULL)
            by = &p->links[i];
    if ((ahead != NULL || waiting != NULL) == was)
        return;
    route_set_recovering(p->route, !was);
    if (was) {
        stats_count(p->stats, "recover.done", 1);
        log_info("recovering done: no peer heard from holds more of our own logs than we do");
        return;
    }
    if (ahead != NULL && ahead->log.peer[0] != '\0')
        snprintf(name, sizeof(name), "direct log to %s", ahead->log.peer);
    else
        snprintf(name, sizeof(name), "relayed log");
    stats_count(p->stats, "recover.started", 1);
    if (ahead == NULL) {
        log_info("recovering: waiting up to %u ms for peer %s (and any other unheard peer) "
                 "before taking posts",
                 p->cfg->recover_wait_ms, waiting->member);
    } else if (!route_has_posted(p->route)) {
        log_warnx("recovering: peer %s holds our own %s up to seq %llu and we hold %llu: "
                  "posts are refused until we have it back",
                  by->member, name, (unsigned long long)ahead->seq, (unsigned long long)held);
    } else {
        stats_count(p->stats, "recover.alarm", 1);
        log_warnx("ALARM: peer %s holds our own %s up to seq %llu, beyond our %llu, after "
                  "this node took posts: its data went back in time. Posts are refused until "
                  "we have it back; a post made meanwhile forked the log",
                  by->member, name, (unsigned long long)ahead->seq, (unsigned long long)held);
    }
}

/* ---- receiving ---------------------------------------------------------- */

static struct link *find_link(struct peers *p, const char *member)
{
    for (size_t i = 0; i < p->n_links; i++)
        if (strcmp(p->links[i].member, member) == 0)
            return &p->links[i];
    return NULL;
}

/* The link whose current transport key is pk, or NULL: a key the roster
 * in force does not give a member we link to finds nothing. */
static struct link *find_link_by_key(struct peers *p, const uint8_t *pk)
{
    for (size_t i = 0; i < p->n_links; i++)
        if (memcmp(p->links[i].transport_pk, pk, KEYS_PUBLIC_BYTES) == 0 ||
            (p->links[i].has_next_pk && memcmp(p->links[i].next_pk, pk, KEYS_PUBLIC_BYTES) == 0))
            return &p->links[i];
    return NULL;
}

/* Whether id's relayed log can exist; O(log n), since a flood of invented
 * names asks once per name. */
static bool has_origin(void *arg, const char *id)
{
    const struct peers *p = arg;

    return bsearch(id, p->origins, p->n_origins, sizeof(p->origins[0]), compare_ids) != NULL;
}

/* Asks l for its envelope at (log, seq). */
static void send_fetch(struct peers *p, struct link *l, const struct store_log *log, uint64_t seq)
{
    Tmbus__Peer__PeerMessage m = TMBUS__PEER__PEER_MESSAGE__INIT;
    Tmbus__Peer__VectorEntry e = TMBUS__PEER__VECTOR_ENTRY__INIT;

    e.origin = (char *)(uintptr_t)log->origin;
    e.peer = (char *)(uintptr_t)log->peer;
    e.seq = seq;
    m.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_FETCH;
    m.fetch = &e;
    send_message(p, l, &m);
}

/* Sends l our envelope at (log, seq), when l may see the log and we hold
 * that seq, halted or not. Returns whether it went out. */
static bool send_held(struct peers *p, struct link *l, const struct store_log *log, uint64_t seq)
{
    Tmbus__Peer__PeerMessage m = TMBUS__PEER__PEER_MESSAGE__INIT;
    const struct vec_entry *o = vec_find(&p->ours, log);
    uint8_t *env;
    size_t len;
    int rc;

    if (o == NULL || seq == 0 || seq > o->seq || !is_visible(log, l->member) ||
        (log->peer[0] != '\0' && !route_is_self(p->route, log->origin) && !is_returned(log, l)))
        return false;
    if (store_get(p->store, log, seq, &env, &len, NULL) != 1)
        return false;
    m.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_ENVELOPE;
    m.envelope.data = env;
    m.envelope.len = len;
    rc = send_message(p, l, &m);
    free(env);
    return rc == 0;
}

/* A vector entry naming the peer's envelope id at a seq we hold too: a
 * different id is a split view of the log, found on the first exchange.
 * We fetch the peer's envelope once per log and seq; route_accept verifies
 * it once, keeps it as evidence, raises the ALARM and halts the log, whose
 * entries are not looked at again. At our head the id is in memory; below
 * it, one store read, done only for a Hello (once per conversation). */
static void check_split(struct peers *p, struct link *l, const struct store_log *log,
                        const struct peer_msg_log *e, bool is_hello)
{
    const struct vec_entry *o = vec_find(&p->ours, log);
    uint8_t held[ENVELOPE_HASH_BYTES];

    if (!e->has_head || e->seq == 0 || o == NULL || o->is_halted || o->seq < e->seq)
        return;
    if (vec_get(&l->asked, log) >= e->seq)
        return;
    if (o->seq == e->seq) {
        memcpy(held, o->head, sizeof(held));
    } else {
        uint8_t *env = NULL;
        size_t len;
        if (!is_hello || store_get(p->store, log, e->seq, &env, &len, held) != 1)
            return;
        free(env);
    }
    if (memcmp(held, e->head, sizeof(held)) == 0)
        return;
    vec_raise(&l->asked, log, e->seq);
    stats_count(p->stats, "peer.split-view", 1);
    log_warnx("peer %s holds another envelope at %s/%s seq %llu: fetching it as evidence",
              l->member, log->origin, log->peer, (unsigned long long)e->seq);
    send_fetch(p, l, log, e->seq);
    /* The peer's own log: our envelope at that seq is its proof that it
     * signed two stories (a node restored from a backup), and the log is
     * about to halt here, after which nothing of it is streamed. */
    if (strcmp(log->origin, l->member) == 0)
        send_held(p, l, log, e->seq);
}

/* Answers a Fetch: the envelope asked for. A halted log too: the asker
 * needs our side of the split as evidence, and asks once per log and seq.
 * One envelope per message, within the peer's share of the round like any
 * other. */
static void serve_fetch(struct peers *p, struct link *l, const struct peer_msg_log *e)
{
    struct store_log log = {0};

    strcpy(log.origin, e->origin);
    strcpy(log.peer, e->peer);
    if (send_held(p, l, &log, e->seq))
        stats_count(p->stats, "peer.fetch-served", 1);
}

/* Reads a received vector into theirs; a Hello replaces it, a Vector
 * raises it. peer_msg_decode kept only well-formed names; of those, a log
 * that cannot exist between l's member and us is dropped before anything
 * is kept for it, so theirs never outgrows the roster and our own logs
 * (has_origin) plus the pair's two direct logs.
 * Dropped names are counted each, logged at most once per
 * PEER_LOG_LIMIT_MS per peer. */
static void take_vector(struct peers *p, struct link *l, const struct peer_msg *m)
{
    size_t rejected = m->n_sent - m->n_logs;
    const struct peer_msg_log *example = NULL;
    uint64_t suppressed;
    char note[LOG_LIMIT_NOTE_MAX];

    if (m->kind == PEER_MSG_HELLO)
        vec_clear(&l->theirs);
    for (size_t i = 0; i < m->n_logs; i++) {
        struct store_log log = {0};
        if (!peer_msg_log_may_exist(&m->logs[i], l->member, p->cfg->member, has_origin, p)) {
            rejected++;
            example = example ? example : &m->logs[i];
            continue;
        }
        strcpy(log.origin, m->logs[i].origin);
        strcpy(log.peer, m->logs[i].peer);
        vec_raise(&l->theirs, &log, m->logs[i].seq);
        check_split(p, l, &log, &m->logs[i], m->kind == PEER_MSG_HELLO);
    }
    if (rejected == 0)
        return;
    stats_count(p->stats, "peer.rejected-log", rejected);
    if (log_limit_allow(&l->rejected_log, loop_now_ms(), PEER_LOG_LIMIT_MS, &suppressed))
        log_warnx("peer %s: ignored %zu of %zu logs in a %s that cannot exist between us "
                  "(e.g. \"%s/%s\")%s",
                  l->member, rejected, m->n_sent, m->kind == PEER_MSG_HELLO ? "hello" : "vector",
                  example ? example->origin : "", example ? example->peer : "",
                  log_limit_note(note, suppressed));
}

/* ---- the audit checkpoint exchange (PROTOCOL.md 13.1) ------------------- */

/* A new conversation: send our latest checkpoint again, and sign one so
 * that it covers what happened since. */
static void resend_checkpoint(struct link *l)
{
    l->audit_sent = 0;
    audit_want_checkpoint(l->owner->audit);
}

/* The Ed25519 key of l's member in the roster in force into pk, and
 * during its rotation overlap the newer one into next_pk (*has_next).
 * Returns 0, or -1 (counted). */
static int member_sign_key(struct peers *p, const struct link *l, uint8_t pk[KEYS_PUBLIC_BYTES],
                           uint8_t next_pk[KEYS_PUBLIC_BYTES], bool *has_next)
{
    struct roster_member m;

    if (roster_find(route_roster(p->route), l->member, &m) != 0) {
        stats_count(p->stats, "audit.peer.unknown", 1);
        return -1;
    }
    memcpy(pk, m.sign_pk, KEYS_PUBLIC_BYTES);
    *has_next = m.next_sign_pk != NULL;
    if (*has_next)
        memcpy(next_pk, m.next_sign_pk, KEYS_PUBLIC_BYTES);
    return 0;
}

/* A peer's checkpoint: audit.c checks it against what we hold of the peer;
 * the answer (a cosignature, or the size to prove from) is owed until the
 * round commits. An inconsistent one gets no answer. */
static void take_checkpoint(struct peers *p, struct link *l, const struct peer_msg_checkpoint *c)
{
    struct audit_checkpoint cp = {.epoch = c->epoch, .size = c->size, .at = c->at}, kept;
    uint8_t pk[KEYS_PUBLIC_BYTES], next_pk[KEYS_PUBLIC_BYTES];
    bool has_next;
    uint64_t held = 0;

    if (p->audit == NULL || member_sign_key(p, l, pk, next_pk, &has_next) != 0)
        return;
    memcpy(cp.root, c->root, AUDIT_HASH_BYTES);
    memcpy(cp.sig, c->sig, KEYS_SIGNATURE_BYTES);
    snprintf(cp.member, sizeof(cp.member), "%s", l->member);
    /* During its rotation overlap the peer signs with either generation. */
    if (has_next && audit_checkpoint_verify(&cp, next_pk))
        memcpy(pk, next_pk, KEYS_PUBLIC_BYTES);
    memset(&l->cosign, 0, sizeof(l->cosign));
    switch (audit_peer_checkpoint(p->audit, &cp, pk, c->from_size, c->proof, c->n_proof, &held,
                                  l->cosign.sig)) {
    case AUDIT_PEER_COSIGNED:
        l->cosign.has_sig = true;
        l->cosign.epoch = cp.epoch;
        break;
    case AUDIT_PEER_PROVE_FROM:
        /* Shown whole: a peer whose store lost it learns what it signed
         * (PROTOCOL.md 13.2). */
        if (audit_peer_held(p->audit, l->member, &kept) == 1) {
            l->cosign.has_held = true;
            l->cosign.epoch = kept.epoch;
            memcpy(l->cosign.root, kept.root, AUDIT_HASH_BYTES);
            l->cosign.at = kept.at;
            memcpy(l->cosign.held_sig, kept.sig, KEYS_SIGNATURE_BYTES);
        }
        break;
    case AUDIT_PEER_REFUSED:
        l->is_cosign_due = false;
        return;
    }
    l->cosign.size = held;
    l->is_cosign_due = true;
}

/* A peer's answer to our checkpoint: a cosignature to keep, or the size of
 * ours it holds, to prove from. */
static void take_cosignature(struct peers *p, struct link *l, const struct peer_msg_checkpoint *c)
{
    uint8_t pk[KEYS_PUBLIC_BYTES], next_pk[KEYS_PUBLIC_BYTES];
    bool has_next;

    if (p->audit == NULL)
        return;
    if (!c->has_sig) {
        /* Our next checkpoint goes out with a proof from there, or, when
         * the peer holds one our log no longer has, from 0 in a new epoch.
         * Checking a checkpoint shown reads our log once, as a proof does:
         * at most once a PEER_PROOF_MIN_MS per link; one shown sooner is
         * ignored, and our next checkpoint asks again. */
        if (c->has_held && loop_now_ms() - l->last_held_ms < PEER_PROOF_MIN_MS)
            return;
        l->audit_held = c->size;
        l->audit_sent = 0;
        if (c->has_held) {
            struct audit_checkpoint held = {.epoch = c->epoch, .size = c->size, .at = c->at};

            memcpy(held.root, c->root, AUDIT_HASH_BYTES);
            memcpy(held.sig, c->held_sig, KEYS_SIGNATURE_BYTES);
            snprintf(held.member, sizeof(held.member), "%s", p->cfg->member);
            l->last_held_ms = loop_now_ms();
            if (audit_held_by_peer(p->audit, l->member, &held) == AUDIT_HELD_RESTART)
                l->audit_held = 0;
        }
        return;
    }
    if (member_sign_key(p, l, pk, next_pk, &has_next) != 0)
        return;
    if (audit_peer_cosignature(p->audit, l->member, c->size, c->sig, pk,
                               has_next ? next_pk : NULL) == 0)
        l->audit_held = c->size;
}

/* After a round: the answer we owe l once the round committed, and our
 * latest checkpoint when l has not been sent it. */
static void exchange_checkpoints(struct peers *p, struct link *l, bool is_committed)
{
    uint8_t proof[AUDIT_PROOF_MAX][AUDIT_HASH_BYTES];
    ProtobufCBinaryData items[AUDIT_PROOF_MAX];
    Tmbus__Peer__PeerMessage m = TMBUS__PEER__PEER_MESSAGE__INIT;
    struct audit_checkpoint cp;
    int n = 0;

    if (p->audit == NULL || !l->has_conversation)
        return;
    /* Cosigned only once what we now hold of the peer is in the store. */
    if (l->is_cosign_due && is_committed && audit_is_settled(p->audit)) {
        Tmbus__Peer__Cosignature c = TMBUS__PEER__COSIGNATURE__INIT;

        c.size = l->cosign.size;
        c.epoch = l->cosign.epoch;
        if (l->cosign.has_sig)
            c.sig = (ProtobufCBinaryData){KEYS_SIGNATURE_BYTES, l->cosign.sig};
        if (l->cosign.has_held) {
            c.root = (ProtobufCBinaryData){AUDIT_HASH_BYTES, l->cosign.root};
            c.at = l->cosign.at;
            c.checkpoint_sig = (ProtobufCBinaryData){KEYS_SIGNATURE_BYTES, l->cosign.held_sig};
        }
        m.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_COSIGNATURE;
        m.cosignature = &c;
        if (send_message(p, l, &m) == 0)
            l->is_cosign_due = false;
    }
    if (audit_latest(p->audit, &cp) != 1 || cp.size == l->audit_sent)
        return;
    /* A peer that holds more than we have signed sees the truncation from
     * from_size itself; no proof is possible then. */
    bool needs_proof = l->audit_held > 0 && l->audit_held < cp.size;
    if (needs_proof && loop_now_ms() - l->last_proof_ms < PEER_PROOF_MIN_MS)
        return; /* a later round sends it */
    if (needs_proof)
        l->last_proof_ms = loop_now_ms();
    if (needs_proof && (n = audit_prove_since(p->audit, l->audit_held, cp.size, proof)) < 0) {
        log_warnx("peer %s: cannot prove our audit checkpoint at size %llu from %llu", l->member,
                  (unsigned long long)cp.size, (unsigned long long)l->audit_held);
        l->audit_sent = cp.size;
        return;
    }
    Tmbus__Peer__Checkpoint c = TMBUS__PEER__CHECKPOINT__INIT;

    c.size = cp.size;
    c.root = (ProtobufCBinaryData){AUDIT_HASH_BYTES, cp.root};
    c.at = cp.at;
    c.sig = (ProtobufCBinaryData){KEYS_SIGNATURE_BYTES, cp.sig};
    c.epoch = cp.epoch;
    c.from_size = l->audit_held;
    for (int i = 0; i < n; i++)
        items[i] = (ProtobufCBinaryData){AUDIT_HASH_BYTES, proof[i]};
    c.n_proof = (size_t)n;
    c.proof = items;
    m = (Tmbus__Peer__PeerMessage)TMBUS__PEER__PEER_MESSAGE__INIT;
    m.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_CHECKPOINT;
    m.checkpoint = &c;
    if (send_message(p, l, &m) == 0) {
        l->audit_sent = cp.size;
        stats_count(p->stats, "audit.checkpoints-sent", 1);
    }
}

/* Counts and logs what peer_msg_decode refused. Bytes that are no message
 * at all leave the link as it was; a message of a refused kind still shows
 * the peer is there, and asks for a Hello if none was exchanged yet. */
static void refuse(struct peers *p, struct link *l, const struct peer_msg *m,
                   enum peer_msg_fault fault, size_t len)
{
    switch (fault) {
    case PEER_MSG_OK:
        return;
    case PEER_MSG_E_SIZE:
        stats_count(p->stats, "rejected.too-large", 1);
        log_warnx("peer %s: rejected a %zu-byte message: over the %d-byte limit", l->member, len,
                  PEER_MSG_MAX_FRAME);
        return;
    case PEER_MSG_E_MALFORMED:
        stats_count(p->stats, "peer.malformed", 1);
        log_warnx("peer %s: rejected a malformed message", l->member);
        return;
    case PEER_MSG_E_HELLO:
        stats_count(p->stats, "peer.bad-hello", 1);
        log_warnx("peer %s: refused a hello (version %u, %zu logs)", l->member, m->version,
                  m->n_sent);
        break;
    case PEER_MSG_E_VECTOR:
        stats_count(p->stats, "peer.bad-vector", 1);
        break;
    case PEER_MSG_E_BATCH:
        stats_count(p->stats, "peer.bad-batch", 1);
        log_warnx("peer %s: rejected a batch: empty, over %d envelopes or with one over %d bytes",
                  l->member, PEER_MSG_MAX_BATCH, ENVELOPE_MAX_SIZE);
        break;
    case PEER_MSG_E_CHECKPOINT:
        stats_count(p->stats, "peer.bad-checkpoint", 1);
        log_warnx("peer %s: rejected an audit checkpoint or cosignature: over %d bytes, or a "
                  "field of the wrong size",
                  l->member, PEER_MSG_MAX_CHECKPOINT);
        break;
    case PEER_MSG_E_ROSTER:
        stats_count(p->stats, "peer.bad-roster", 1);
        log_warnx("peer %s: rejected a roster message: empty or over %d bytes", l->member,
                  ROSTER_MAX_SIZE);
        break;
    case PEER_MSG_E_KIND:
        stats_count(p->stats, "peer.malformed", 1);
        log_warnx("peer %s: rejected a message of no known kind", l->member);
        break;
    }
    if (!l->has_conversation)
        l->needs_hello = true;
}

/* ---- the governance log --------------------------------------------------- */

/* Sends l, in version order, the rosters it lacks up to the one in force,
 * read from the store's history (committed: nothing is sent that a crash
 * could take back). Runs after a commit, before the round's stream, so
 * that a peer has a roster before the envelopes that may need it. Stops
 * at a full queue, to go on after the next round. */
static void send_rosters(struct peers *p, struct link *l)
{
    uint64_t ours = roster_version(route_roster(p->route));

    while (l->has_conversation && !l->is_blocked && l->roster_known < ours) {
        Tmbus__Peer__PeerMessage m = TMBUS__PEER__PEER_MESSAGE__INIT;
        uint64_t v = l->roster_known + 1, suppressed;
        char note[LOG_LIMIT_NOTE_MAX];
        uint8_t *buf = NULL;
        size_t len = 0;

        if (store_roster_at(p->store, v, &buf, &len) != 1) {
            /* A store from before the history kept only its last roster;
             * the peer then needs the file, as before. */
            if (log_limit_allow(&l->roster_lines, loop_now_ms(), PEER_LOG_LIMIT_MS, &suppressed))
                log_warnx("peer %s: holds roster version %llu; version %llu is not in our "
                          "history, so it cannot be sent%s",
                          l->member, (unsigned long long)l->roster_known, (unsigned long long)v,
                          log_limit_note(note, suppressed));
            l->roster_known = ours;
            return;
        }
        m.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_ROSTER;
        m.roster.data = buf;
        m.roster.len = len;
        if (send_message(p, l, &m) == -1) {
            free(buf);
            return;
        }
        free(buf);
        stats_count(p->stats, "peer.roster-sent", 1);
        log_info("peer %s: sent roster version %llu", l->member, (unsigned long long)v);
        l->roster_known = v;
    }
}

/* A roster from l: the node judges and applies it. One that is ahead of
 * the successor means l thinks we hold more than we do: a Hello tells it. */
static void take_roster(struct peers *p, struct link *l, const struct peer_msg *m)
{
    uint64_t version = 0;

    stats_count(p->stats, "peer.roster-received", 1);
    if (p->on_roster == NULL)
        return;
    switch (p->on_roster(p->roster_arg, l->member, m->roster, m->roster_len, &version)) {
    case PEERS_ROSTER_TAKEN:
    case PEERS_ROSTER_HELD:
        if (version > l->roster_known)
            l->roster_known = version;
        break;
    case PEERS_ROSTER_AHEAD:
        l->needs_hello = true;
        break;
    case PEERS_ROSTER_REFUSED:
        break;
    }
}

static void on_message(struct peers *p, struct link *l, const uint8_t *data, size_t len)
{
    struct peer_msg m;
    enum peer_msg_fault fault;

    l->last_heard_ms = loop_now_ms();
    if (peer_msg_decode(data, len, &m, &fault) == -1) {
        refuse(p, l, &m, fault, len);
        peer_msg_clear(&m);
        return;
    }
    switch (m.kind) {
    case PEER_MSG_HELLO:
        /* An opening Hello on a live link means the peer restarted (or
         * resynchronises): a new conversation either way, logged as the
         * old one ending and the new one starting. Our answer goes out
         * before anything its vector makes us send (a fetch, our side of a
         * split view): the peer drops what arrives before our Hello. */
        if (!m.is_reply)
            link_down(l, "it opened a new conversation", true);
        link_up(l, m.roster_version);
        l->is_heard = true;
        if (!m.is_reply)
            send_hello(p, l, true);
        l->roster_known = m.roster_version; /* send_rosters sends what it lacks */
        if (l->was_denied && l->dealer != NULL &&
            m.roster_version >= roster_version(route_roster(p->route)))
            l->is_redial_due = true;
        take_vector(p, l, &m);
        /* Whatever we had sent may be lost: stream again from its vector,
         * and wait our turn again for what it lacks of other origins. */
        vec_clear(&l->sent);
        watches_clear(&l->relays);
        recover_check(p);
        break;
    case PEER_MSG_VECTOR:
        take_vector(p, l, &m);
        recover_check(p);
        break;
    case PEER_MSG_ENVELOPE:
        /* Before the Hello exchange the peer streams from a stale idea of
         * us (say it queued for our previous process): drop quietly, the
         * Hello that follows makes it resend from our vector. */
        if (!l->has_conversation) {
            stats_count(p->stats, "peer.before-hello", 1);
            log_debug("peer %s: dropped an envelope sent before the hello", l->member);
            break;
        }
        if (is_store_full(p))
            break;
        /* Accepted or not, an envelope that does not extend our head means
         * the peer streams from a stale idea of us: resynchronise. */
        if (route_accept(p->route, l->member, m.envelope, m.envelope_len) == -1)
            l->needs_hello = true;
        break;
    case PEER_MSG_BATCH:
        /* A batch counts against the peer's share of the round by its
         * envelopes, as if they had come one per message (7.6). */
        l->round_reads += (uint32_t)(m.n_envelopes - 1);
        if (!l->has_conversation) {
            stats_count(p->stats, "peer.before-hello", 1);
            log_debug("peer %s: dropped a batch sent before the hello", l->member);
            break;
        }
        if (is_store_full(p))
            break;
        if (route_accept_run(p->route, l->member, m.envelopes, m.envelope_lens, m.n_envelopes) ==
            -1)
            l->needs_hello = true;
        break;
    case PEER_MSG_HEARTBEAT:
        break;
    case PEER_MSG_ROSTER:
        /* Judging a roster costs up to a megabyte parsed twice and its
         * signatures verified under both governance sets: it counts as a
         * full batch against the peer's share of the round (7.6), so a
         * member flooding rosters slows only itself. Taken before the
         * Hello exchange too: a roster proves itself. */
        l->round_reads += PEER_MSG_MAX_BATCH - 1;
        take_roster(p, l, &m);
        break;
    case PEER_MSG_FETCH:
        /* Served even before the Hello exchange: a node checks the
         * opening Hello's vector, and fetches, before it answers it. */
        serve_fetch(p, l, &m.logs[0]);
        break;
    case PEER_MSG_CHECKPOINT:
        take_checkpoint(p, l, &m.checkpoint);
        break;
    case PEER_MSG_COSIGNATURE:
        take_cosignature(p, l, &m.checkpoint);
        break;
    }
    if (!l->has_conversation)
        l->needs_hello = true;
    peer_msg_clear(&m);
}

/* Whether l has read its share of this round; counts the first time. */
static bool is_over_budget(struct peers *p, struct link *l)
{
    if (l->round_reads < p->cfg->peer_round_max)
        return false;
    if (l->round_reads == p->cfg->peer_round_max) {
        l->round_reads++; /* count the round once */
        stats_count(p->stats, "peer.round-limit", 1);
    }
    return true;
}

/*
 * Whether the round has spent its time on peers' messages: a client waits
 * for its commit and limits.peer_round_ms have passed since the round read
 * its first peer message. The rest waits in libzmq's queues, so the round
 * commits and the client is answered however far behind a peer is; while
 * no client waits, a peer catching us up gets whole rounds (fewer commits).
 * A reader that waited out the last round (*is_deferred) reads one message
 * first, so the sockets the loop polls first cannot starve the others.
 */
static bool is_round_spent(struct peers *p, bool *is_deferred)
{
    int64_t now = loop_now_ms();

    if (p->round_began_ms == 0)
        p->round_began_ms = now;
    if (p->cfg->peer_round_ms == 0 || now - p->round_began_ms < p->cfg->peer_round_ms ||
        p->is_waiting == NULL || !p->is_waiting(p->waiting_arg))
        return false;
    if (*is_deferred) {
        *is_deferred = false;
        return false;
    }
    *is_deferred = true;
    if (!p->is_round_cut) {
        p->is_round_cut = true;
        stats_count(p->stats, "peer.round-time", 1);
    }
    return true;
}

/* Reads at most batch_max messages, and no more than what is left of the
 * peer's share of the round or, while a client waits, of its time: the
 * rest waits in libzmq's queue (and, when that is full, in the peer's), so
 * a flooding peer slows only itself. */
static void on_dealer(void *arg)
{
    struct link *l = arg;
    struct peers *p = l->owner;
    zmq_msg_t msg;

    for (uint32_t i = 0;
         i < p->cfg->batch_max && !is_over_budget(p, l) && !is_round_spent(p, &l->is_deferred);
         i++) {
        int more;
        size_t more_len = sizeof(more);

        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, l->dealer, ZMQ_DONTWAIT) == -1) {
            zmq_msg_close(&msg);
            return;
        }
        l->round_reads++;
        zmq_getsockopt(l->dealer, ZMQ_RCVMORE, &more, &more_len);
        if (more) {
            /* One frame per message: drain and drop anything else. */
            stats_count(p->stats, "peer.malformed", 1);
            do {
                zmq_msg_close(&msg);
                zmq_msg_init(&msg);
                zmq_msg_recv(&msg, l->dealer, 0);
                zmq_getsockopt(l->dealer, ZMQ_RCVMORE, &more, &more_len);
            } while (more);
            zmq_msg_close(&msg);
            continue;
        }
        on_message(p, l, zmq_msg_data(&msg), zmq_msg_size(&msg));
        zmq_msg_close(&msg);
    }
}

/* Reads at most batch_max messages, whoever sent them, while the round's
 * time lasts (is_round_spent); libzmq queues each connection apart and
 * takes from them in turn, so peers share the round fairly. A peer's
 * messages past its share of the round are already read when we see whose
 * they are: they are dropped unparsed, and a Hello makes the peer resend
 * from what we really hold. */
static void on_router(void *arg)
{
    struct peers *p = arg;

    for (uint32_t i = 0; i < p->cfg->batch_max && !is_round_spent(p, &p->is_router_deferred); i++) {
        zmq_msg_t rid, msg;
        int more;
        size_t more_len = sizeof(more);
        uint8_t pk[KEYS_PUBLIC_BYTES];
        struct link *l = NULL;
        uint64_t suppressed;
        char note[LOG_LIMIT_NOTE_MAX];

        zmq_msg_init(&rid);
        if (zmq_msg_recv(&rid, p->router, ZMQ_DONTWAIT) == -1) {
            zmq_msg_close(&rid);
            return;
        }
        zmq_msg_init(&msg);
        zmq_msg_recv(&msg, p->router, 0);
        zmq_getsockopt(p->router, ZMQ_RCVMORE, &more, &more_len);
        while (more) {
            zmq_msg_t extra;
            zmq_msg_init(&extra);
            zmq_msg_recv(&extra, p->router, 0);
            zmq_msg_close(&extra);
            zmq_getsockopt(p->router, ZMQ_RCVMORE, &more, &more_len);
            more_len = sizeof(more);
            stats_count(p->stats, "peer.malformed", 1);
        }
        /* The key that completed the handshake, checked against the
         * roster in force now: a connection made before a reload revoked
         * or rotated that key gets nothing through, whatever it says. */
        if (zap_message_key(&msg, pk) == 0)
            l = find_link_by_key(p, pk);
        if (l == NULL) {
            char fingerprint[16] = "?";
            if (zap_message_key(&msg, pk) == 0)
                keys_to_base64(pk, 9, fingerprint, sizeof(fingerprint));
            stats_count(p->stats, "peer.stale-key", 1);
            if (log_limit_allow(&p->unknown_sender, loop_now_ms(), PEER_LOG_LIMIT_MS, &suppressed))
                log_warnx("peer: dropped a message from key %s…, not a member's key in roster "
                          "version %llu%s",
                          fingerprint, (unsigned long long)roster_version(route_roster(p->route)),
                          log_limit_note(note, suppressed));
        } else if (zmq_msg_size(&rid) > PEER_ROUTING_MAX) {
            stats_count(p->stats, "peer.unknown-sender", 1);
            if (log_limit_allow(&p->unknown_sender, loop_now_ms(), PEER_LOG_LIMIT_MS, &suppressed))
                log_warnx("peer: dropped a message from an unknown connection%s",
                          log_limit_note(note, suppressed));
        } else if (is_over_budget(p, l)) {
            stats_count(p->stats, "peer.over-budget", 1);
            l->needs_hello = true;
            if (log_limit_allow(&l->over_budget, loop_now_ms(), PEER_LOG_LIMIT_MS, &suppressed))
                log_warnx("peer %s: dropped a message past its share of %" PRIu32
                          " messages this round%s",
                          l->member, p->cfg->peer_round_max, log_limit_note(note, suppressed));
        } else {
            l->round_reads++;
            memcpy(l->rid, zmq_msg_data(&rid), zmq_msg_size(&rid));
            l->rid_len = zmq_msg_size(&rid);
            on_message(p, l, zmq_msg_data(&msg), zmq_msg_size(&msg));
        }
        zmq_msg_close(&msg);
        zmq_msg_close(&rid);
    }
}

/* ---- sockets ------------------------------------------------------------ */

static int set_int(void *s, int option, int value)
{
    return zmq_setsockopt(s, option, &value, sizeof(value));
}

static int common_options(struct peers *p, void *s)
{
    const struct config *c = p->cfg;
    int64_t hard_max = PEER_HARD_MAX;
    /* Credit keeps each link far below the high-water mark, so a full queue
     * means a stuck peer, not a busy one. */
    int hwm = (int)(4 * c->credit_window + 256);

    return set_int(s, ZMQ_LINGER, 0) | set_int(s, ZMQ_SNDHWM, hwm) | set_int(s, ZMQ_RCVHWM, hwm) |
           zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &hard_max, sizeof(hard_max)) |
           set_int(s, ZMQ_HEARTBEAT_IVL, (int)c->heartbeat_ms) |
           set_int(s, ZMQ_HEARTBEAT_TIMEOUT, (int)c->peer_timeout_ms) |
           zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, p->keys->transport_pk, KEYS_PUBLIC_BYTES) |
           zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, keys_transport_secret(p->keys),
                          KEYS_PUBLIC_BYTES);
}

/* Where to dial member m: the configuration's override, else the roster. */
static const char *dial_endpoint(const struct config *c, const struct roster_member *m)
{
    for (size_t i = 0; i < c->n_endpoint_overrides; i++)
        if (strcmp(c->override_member[i], m->id) == 0)
            return c->override_endpoint[i];
    return m->n_endpoints > 0 ? m->endpoints[0] : NULL;
}

static bool should_dial(const struct config *c, const char *member)
{
    for (size_t i = 0; i < c->n_dial_only; i++)
        if (strcmp(c->dial_only[i], member) == 0)
            return false;
    if (c->dial_all)
        return true;
    for (size_t i = 0; i < c->n_dial; i++)
        if (strcmp(c->dial[i], member) == 0)
            return true;
    return false;
}

/* Stops dialling l: its dealer and the dealer's monitor go. */
static void close_dealer(struct peers *p, struct link *l)
{
    if (l->monitor != NULL) {
        loop_remove_socket(p->loop, l->monitor);
        zmq_close(l->monitor);
        l->monitor = NULL;
    }
    if (l->dealer != NULL) {
        zmq_socket_monitor(l->dealer, NULL, 0);
        loop_remove_socket(p->loop, l->dealer);
        zmq_close(l->dealer);
        l->dealer = NULL;
    }
}

static void close_link(struct peers *p, struct link *l)
{
    close_dealer(p, l);
    link_down(l, "closed", false);
    l->rid_len = 0;
    vec_free(&l->theirs);
    vec_free(&l->sent);
    vec_free(&l->asked);
    watches_free(&l->relays);
}

/* The dealer's connection events: a drop or a failed handshake takes the
 * link down at once (it had no other channel: we send on our dealer when
 * we dial), so status never shows a link up that cannot carry anything. */
static void on_monitor(void *arg)
{
    struct link *l = arg;
    struct peers *p = l->owner;

    for (;;) {
        zmq_msg_t msg;
        uint16_t event = 0;
        int more = 0;
        size_t more_len = sizeof(more);

        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, l->monitor, ZMQ_DONTWAIT) == -1) {
            zmq_msg_close(&msg);
            return;
        }
        if (zmq_msg_size(&msg) >= sizeof(event) + sizeof(uint32_t))
            memcpy(&event, zmq_msg_data(&msg), sizeof(event));
        zmq_msg_close(&msg);
        zmq_getsockopt(l->monitor, ZMQ_RCVMORE, &more, &more_len);
        while (more) {
            zmq_msg_init(&msg);
            zmq_msg_recv(&msg, l->monitor, 0);
            zmq_msg_close(&msg);
            more_len = sizeof(more);
            zmq_getsockopt(l->monitor, ZMQ_RCVMORE, &more, &more_len);
        }
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ||
            event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
            event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
            stats_count(p->stats, "peer.handshake-failed", 1);
        if ((event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
             event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) &&
            l->has_next_pk)
            l->is_redial_due = l->is_other_key_due = true;
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
            l->was_denied = true;
        if ((event & PEER_MONITOR_EVENTS) != 0 && l->has_conversation) {
            stats_count(p->stats, "peer.disconnects", 1);
            link_down(l,
                      event == ZMQ_EVENT_DISCONNECTED ? "connection dropped" : "handshake failed",
                      true);
        }
    }
}

/* Watches l's dealer for drops. Returns 0 or -1 (logged). */
static int open_monitor(struct peers *p, struct link *l)
{
    char endpoint[64];

    snprintf(endpoint, sizeof(endpoint), "inproc://tmbus-peer-monitor-%llu",
             (unsigned long long)++p->monitors);
    if (zmq_socket_monitor(l->dealer, endpoint, PEER_MONITOR_EVENTS) == -1 ||
        (l->monitor = zmq_socket(p->zctx, ZMQ_PAIR)) == NULL ||
        set_int(l->monitor, ZMQ_LINGER, 0) || zmq_connect(l->monitor, endpoint) == -1 ||
        loop_add_socket(p->loop, l->monitor, on_monitor, l) == -1) {
        log_warnx("peer %s: cannot watch the link: %s", l->member, zmq_strerror(errno));
        if (l->monitor != NULL)
            zmq_close(l->monitor);
        l->monitor = NULL;
        return -1;
    }
    return 0;
}

static int open_dealer(struct peers *p, struct link *l, const char *endpoint)
{
    const struct config *c = p->cfg;

    if ((l->dealer = zmq_socket(p->zctx, ZMQ_DEALER)) == NULL)
        return -1;
    if (common_options(p, l->dealer) != 0 ||
        zmq_setsockopt(l->dealer, ZMQ_CURVE_SERVERKEY,
                       l->is_dialling_next && l->has_next_pk ? l->next_pk : l->transport_pk,
                       KEYS_PUBLIC_BYTES) ||
        set_int(l->dealer, ZMQ_RECONNECT_IVL, PEER_RECONNECT_MIN) ||
        /* Queue nothing while the link is down: whatever we would queue is
         * stale by the time the peer's next process reads it. */
        set_int(l->dealer, ZMQ_IMMEDIATE, 1) ||
        set_int(l->dealer, ZMQ_RECONNECT_IVL_MAX, (int)c->reconnect_max_ms) ||
        zmq_connect(l->dealer, endpoint) == -1 ||
        loop_add_socket(p->loop, l->dealer, on_dealer, l) == -1) {
        log_warnx("peer %s: cannot dial %s: %s", l->member, endpoint, zmq_strerror(errno));
        zmq_close(l->dealer);
        l->dealer = NULL;
        return -1;
    }
    if (open_monitor(p, l) == -1) {
        close_dealer(p, l);
        return -1;
    }
    log_info("peer %s: dialling %s", l->member, endpoint);
    /* Sent, and retried every heartbeat, until the connection is up: it
     * opens the conversation. */
    l->needs_hello = true;
    return 0;
}

/* The newer transport key of m's rotation overlap, which authenticates
 * its connections alongside the one we dial (PROTOCOL.md 3.4). */
static void set_next_key(struct link *l, const struct roster_member *m)
{
    bool was_dialling = l->has_next_pk && l->is_dialling_next;
    bool is_same = l->has_next_pk && m->next_transport_pk != NULL &&
                   memcmp(l->next_pk, m->next_transport_pk, KEYS_PUBLIC_BYTES) == 0;

    l->has_next_pk = m->next_transport_pk != NULL;
    if (l->has_next_pk)
        memcpy(l->next_pk, m->next_transport_pk, KEYS_PUBLIC_BYTES);
    /* Dialling a newer key the roster no longer lists: back to the one
     * it does. */
    if (was_dialling && !is_same) {
        l->is_dialling_next = false;
        l->is_redial_due = true;
    }
}

/* Dials l again: with its member's other ACTIVE transport key after a
 * failed handshake (the member's node listens with the other one), with
 * the one key the roster lists when the other went, or with the same key
 * after the member's node refused ours before it knew it. */
static void redial(struct peers *p, struct link *l)
{
    struct roster_member m;
    const char *endpoint;

    bool is_other = l->is_other_key_due;

    l->is_redial_due = l->is_other_key_due = l->was_denied = false;
    if (l->dealer == NULL || roster_find(route_roster(p->route), l->member, &m) != 0 ||
        (endpoint = dial_endpoint(p->cfg, &m)) == NULL)
        return;
    if (is_other)
        l->is_dialling_next = l->has_next_pk && !l->is_dialling_next;
    close_dealer(p, l);
    link_down(l, "dialling it again", false);
    if (l->has_next_pk)
        log_info("peer %s: dialling with its %s transport key", l->member,
                 l->is_dialling_next ? "newer" : "older");
    open_dealer(p, l, endpoint);
}

/* Makes the link table match the roster: one link per other member.
 * Returns how many links it closed because their member left or their key
 * changed, or -1 when out of memory. */
/* A link about to close because the roster in force dropped its member or
 * changed its transport key: the rosters the member's node lacks are its
 * last words, so that it learns why (a revoked member's node then ends its
 * clients' sessions; its links cannot carry them once closed). The dealer
 * lingers a moment to deliver them. */
static void send_last_rosters(struct peers *p, struct link *l)
{
    int linger = PEER_LAST_WORD_MS;

    if (!l->has_conversation)
        return;
    send_rosters(p, l);
    if (l->dealer != NULL)
        (void)zmq_setsockopt(l->dealer, ZMQ_LINGER, &linger, sizeof(linger));
}

static int sync_links(struct peers *p)
{
    int n_closed = 0;

    size_t count = roster_member_count(route_roster(p->route));
    struct link *links = calloc(count ? count : 1, sizeof(*links));
    size_t n = 0;

    if (links == NULL)
        return -1;
    for (size_t i = 0; i < count; i++) {
        struct roster_member m;
        struct link *old;
        const char *endpoint;

        roster_member_at(route_roster(p->route), i, &m);
        if (route_is_self(p->route, m.id))
            continue;
        old = find_link(p, m.id);
        endpoint = dial_endpoint(p->cfg, &m);
        if (old != NULL && memcmp(old->transport_pk, m.transport_pk, KEYS_PUBLIC_BYTES) == 0) {
            struct link *kept = &links[n++];
            *kept = *old;
            memset(old, 0, sizeof(*old)); /* moved */
            set_next_key(kept, &m);
            /* A reload may start or stop dialling this member. */
            if (kept->dealer != NULL && !should_dial(p->cfg, m.id)) {
                close_dealer(p, kept);
                log_info("peer %s: no longer dialling", m.id);
            } else if (kept->dealer == NULL && should_dial(p->cfg, m.id) && endpoint != NULL) {
                open_dealer(p, kept, endpoint);
            }
            continue;
        }
        if (old != NULL) {
            log_info("peer %s: transport key changed, closing the link", m.id);
            send_last_rosters(p, old);
            close_link(p, old);
            memset(old, 0, sizeof(*old)); /* closed, not a member who left */
            n_closed++;
        }
        struct link *l = &links[n++];
        memset(l, 0, sizeof(*l));
        l->owner = p;
        strcpy(l->member, m.id);
        memcpy(l->transport_pk, m.transport_pk, KEYS_PUBLIC_BYTES);
        set_next_key(l, &m);
        l->last_heard_ms = -1;
        if (should_dial(p->cfg, m.id) && endpoint != NULL)
            open_dealer(p, l, endpoint);
    }
    /* Whatever was not moved belongs to members who left the roster. */
    for (size_t i = 0; i < p->n_links; i++)
        if (p->links[i].member[0] != '\0') {
            log_info("peer %s: no longer in the roster, closing the link", p->links[i].member);
            send_last_rosters(p, &p->links[i]);
            close_link(p, &p->links[i]);
            n_closed++;
        }
    free(p->links);
    p->links = links;
    p->n_links = n;
    /* Dealers and monitors registered the old link addresses with the
     * loop: re-register. */
    for (size_t i = 0; i < n; i++) {
        if (links[i].dealer != NULL) {
            loop_remove_socket(p->loop, links[i].dealer);
            loop_add_socket(p->loop, links[i].dealer, on_dealer, &links[i]);
        }
        if (links[i].monitor != NULL) {
            loop_remove_socket(p->loop, links[i].monitor);
            loop_add_socket(p->loop, links[i].monitor, on_monitor, &links[i]);
        }
    }
    return n_closed;
}

/* ---- rebinding ---------------------------------------------------------- */

static int64_t on_rebind(void *arg)
{
    struct peers *p = arg;

    if (zmq_bind(p->router, p->router_endpoint) == 0) {
        log_info("peer: listening again on %s; every peer authenticates anew", p->router_endpoint);
        p->rebind_timer = 0;
        return -1;
    }
    if (++p->rebind_tries >= PEER_REBIND_TRIES) {
        log_warnx("peer: cannot listen again on %s: %s; peers can no longer dial us",
                  p->router_endpoint, zmq_strerror(errno));
        stats_count(p->stats, "peer.rebind-failed", 1);
        p->rebind_timer = 0;
        return -1;
    }
    return PEER_REBIND_MS;
}

/* Drops every connection to our ROUTER (an unbind ends the connections it
 * accepted) and listens again, so that each peer's next handshake meets the
 * roster in force. libzmq closes the old listener asynchronously, so the
 * bind is retried on a timer until the port is free. */
static void rebind_router(struct peers *p)
{
    if (p->router == NULL || p->rebind_timer != 0)
        return;
    if (zmq_unbind(p->router, p->router_endpoint) == -1) {
        log_warnx("peer: cannot stop listening on %s: %s", p->router_endpoint, zmq_strerror(errno));
        return;
    }
    for (size_t i = 0; i < p->n_links; i++)
        if (p->links[i].dealer == NULL)
            link_down(&p->links[i], "listening again", false);
    for (size_t i = 0; i < p->n_links; i++)
        p->links[i].rid_len = 0;
    stats_count(p->stats, "peer.rebinds", 1);
    p->rebind_tries = 0;
    if (on_rebind(p) != -1)
        p->rebind_timer = loop_add_timer(p->loop, PEER_REBIND_MS, on_rebind, p);
}

/* ---- timers and hooks --------------------------------------------------- */

static int64_t on_timer(void *arg)
{
    struct peers *p = arg;
    const struct config *c = p->cfg;
    int64_t now = loop_now_ms();

    for (size_t i = 0; i < p->n_links; i++) {
        struct link *l = &p->links[i];

        flap_summary(l, now);
        if (l->is_redial_due)
            redial(p, l);
        if (l->has_conversation && now - l->last_heard_ms > (int64_t)c->peer_timeout_ms) {
            char why[64];
            snprintf(why, sizeof(why), "silent for %lld ms", (long long)(now - l->last_heard_ms));
            link_down(l, why, true);
            stats_count(p->stats, "peer.timeouts", 1);
        }
        /* Keep knocking until the peer answers; the queue holds one Hello. */
        if (!l->has_conversation && has_channel(l) &&
            now - l->last_hello_ms >= (int64_t)c->heartbeat_ms)
            l->needs_hello = true;
        if (l->has_conversation && now - l->last_sent_ms >= (int64_t)c->heartbeat_ms)
            send_heartbeat(p, l);
    }
    recover_check(p);
    return c->heartbeat_ms;
}

void peers_set_waiting(struct peers *p, peers_waiting_fn fn, void *arg)
{
    p->is_waiting = fn;
    p->waiting_arg = arg;
}

void peers_after_commit(void *arg, bool is_committed)
{
    struct peers *p = arg;
    bool moved = route_is_batch_dirty(p->route);

    if (moved || !is_committed) {
        refresh_ours(p);
        recover_check(p);
    }
    /* A full disk fails every commit until space returns: a Hello now
     * would have every peer send everything again at once, for ever. The
     * node resynchronises (peers_resync) once a commit goes through. */
    bool is_full = store_is_full(p->store);

    /* A round cut short for a client starts the next one spent: the
     * client's request read in it is answered after one more message per
     * waiting reader, not after another peer_round_ms. */
    p->round_began_ms = p->is_round_cut ? loop_now_ms() - p->cfg->peer_round_ms : 0;
    p->is_round_cut = false;
    for (size_t i = 0; i < p->n_links; i++) {
        struct link *l = &p->links[i];

        l->is_blocked = false;
        l->round_reads = 0;
        if (!is_committed && !is_full)
            l->needs_hello = true;
        if (l->needs_hello && !is_full) {
            send_hello(p, l, false);
            continue;
        }
        /* Our vector is the ack: it tells every peer what is now durable
         * here, and returns the credit of whoever sent it. */
        if (moved && l->has_conversation)
            send_vector(p, l);
        send_rosters(p, l);
        pump(p, l);
        exchange_checkpoints(p, l, is_committed);
    }
}

void peers_set_transport(struct peers *p, const struct keyset *keys)
{
    p->keys = keys;
    if (memcmp(p->transport_pk, keys->transport_pk, KEYS_PUBLIC_BYTES) == 0)
        return;
    memcpy(p->transport_pk, keys->transport_pk, KEYS_PUBLIC_BYTES);
    log_info("peer: links use our new transport key from now on: redialling every peer and "
             "listening again");
    stats_count(p->stats, "peer.transport-key-changed", 1);
    if (p->router != NULL &&
        (zmq_setsockopt(p->router, ZMQ_CURVE_PUBLICKEY, keys->transport_pk, KEYS_PUBLIC_BYTES) ||
         zmq_setsockopt(p->router, ZMQ_CURVE_SECRETKEY, keys_transport_secret(keys),
                        KEYS_CURVE_SECRET_BYTES)))
        log_warnx("peer: cannot set the new transport key: %s", zmq_strerror(errno));
    /* Every link starts over on the new key: dialled ones are dialled
     * again, and the connections to our ROUTER authenticate anew. */
    for (size_t i = 0; i < p->n_links; i++) {
        struct link *l = &p->links[i];
        struct roster_member m;
        const char *endpoint;
        if (l->dealer == NULL)
            continue;
        close_dealer(p, l);
        link_down(l, "our transport key changed", false);
        if (roster_find(route_roster(p->route), l->member, &m) == 0 &&
            (endpoint = dial_endpoint(p->cfg, &m)) != NULL)
            open_dealer(p, l, endpoint);
    }
    rebind_router(p);
}

void peers_reload(struct peers *p, const struct config *cfg)
{
    p->cfg = cfg;
    if (sync_links(p) > 0)
        rebind_router(p);
    refresh_origins(p);
    /* Ranks follow the roster in force: count them again. */
    for (size_t i = 0; i < p->n_links; i++)
        for (size_t k = 0; k < p->links[i].relays.n; k++)
            p->links[i].relays.w[k].rank = 0;
}

size_t peers_status(struct peers *p, struct peer_status *out, size_t max)
{
    int64_t now = loop_now_ms();
    size_t k = 0;

    for (size_t i = 0; i < p->n_links && k < max; i++, k++) {
        const struct link *l = &p->links[i];
        struct peer_status *s = &out[k];

        memset(s, 0, sizeof(*s));
        strcpy(s->member, l->member);
        s->state = l->has_conversation ? "up" : has_channel(l) ? "connecting" : "down";
        s->silent_ms = l->last_heard_ms < 0 ? -1 : now - l->last_heard_ms;
        for (size_t j = 0; j < p->ours.n; j++) {
            const struct vec_entry *o = &p->ours.e[j];
            uint64_t held = vec_get(&l->theirs, &o->log);
            if (is_visible(&o->log, l->member) && o->seq > held)
                s->lag += o->seq - held;
        }
        for (size_t j = 0; j < l->theirs.n; j++) {
            const struct vec_entry *t = &l->theirs.e[j];
            uint64_t have = vec_get(&p->ours, &t->log);
            if (t->seq > have)
                s->behind += t->seq - have;
        }
    }
    return k;
}

struct peers *peers_new(const struct peers_parts *parts)
{
    struct peers *p = calloc(1, sizeof(*p));
    const struct config *c = parts->cfg;

    if (p == NULL)
        return NULL;
    p->cfg = parts->cfg;
    p->keys = parts->keys;
    memcpy(p->transport_pk, parts->keys->transport_pk, KEYS_PUBLIC_BYTES);
    p->zctx = parts->zctx;
    p->loop = parts->loop;
    p->store = parts->store;
    p->route = parts->route;
    p->stats = parts->stats;
    p->audit = parts->audit;
    p->on_roster = parts->on_roster;
    p->roster_arg = parts->roster_arg;
    p->scratch = malloc(PEER_MSG_MAX_FRAME);
    p->batch_items = calloc(PEER_MSG_MAX_BATCH, sizeof(*p->batch_items));
    if (p->scratch == NULL || p->batch_items == NULL) {
        peers_free(&p);
        return NULL;
    }
    refresh_ours(p);
    if (c->peer_listen != NULL && c->peer_listen[0] != '\0') {
        if ((p->router = zmq_socket(p->zctx, ZMQ_ROUTER)) == NULL || common_options(p, p->router) ||
            set_int(p->router, ZMQ_CURVE_SERVER, 1) ||
            zmq_setsockopt(p->router, ZMQ_ZAP_DOMAIN, "peer", 4) ||
            set_int(p->router, ZMQ_ROUTER_MANDATORY, 1) ||
            zmq_bind(p->router, c->peer_listen) == -1 ||
            zmq_getsockopt(p->router, ZMQ_LAST_ENDPOINT, p->router_endpoint,
                           &(size_t){sizeof(p->router_endpoint)}) == -1 ||
            loop_add_socket(p->loop, p->router, on_router, p) == -1) {
            log_warnx("peer: cannot listen on %s: %s", c->peer_listen, zmq_strerror(errno));
            peers_free(&p);
            return NULL;
        }
        if ((p->watch = zap_watch_new(p->zctx, p->router, "peer", "zap.handshake-failed.peer",
                                      p->stats)) == NULL ||
            loop_add_socket(p->loop, zap_watch_socket(p->watch), zap_watch_on_ready, p->watch) ==
                -1) {
            peers_free(&p);
            return NULL;
        }
        log_info("peer: listening on %s", c->peer_listen);
    }
    if (sync_links(p) == -1) {
        peers_free(&p);
        return NULL;
    }
    p->timer = loop_add_timer(p->loop, c->heartbeat_ms, on_timer, p);
    p->recover_until_ms = loop_now_ms() + (int64_t)c->recover_wait_ms;
    recover_check(p);
    return p;
}

void peers_free(struct peers **pp)
{
    struct peers *p;

    if (pp == NULL || (p = *pp) == NULL)
        return;
    for (size_t i = 0; i < p->n_links; i++)
        close_link(p, &p->links[i]);
    free(p->links);
    if (p->watch != NULL) {
        loop_remove_socket(p->loop, zap_watch_socket(p->watch));
        zap_watch_free(&p->watch);
    }
    if (p->router != NULL) {
        loop_remove_socket(p->loop, p->router);
        zmq_close(p->router);
    }
    if (p->timer)
        loop_remove_timer(p->loop, p->timer);
    if (p->rebind_timer)
        loop_remove_timer(p->loop, p->rebind_timer);
    if (p->relay_timer)
        loop_remove_timer(p->loop, p->relay_timer);
    vec_free(&p->ours);
    free(p->origins);
    free(p->scratch);
    free(p->batch_items);
    free(p);
    *pp = NULL;
}

void peers_resync(struct peers *p)
{
    for (size_t i = 0; i < p->n_links; i++)
        p->links[i].needs_hello = true;
}
