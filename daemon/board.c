/*
 * board: the need/offer state machine over the store's board tables
 * (proto/PROTOCOL.md §6.3). One set of rules, decide_*(), serves both the
 * poster's check before sealing (board_check_post) and every node's
 * application of what it can read (board_apply), so a post the poster's
 * node accepts is applied the same way everywhere that reads it. Field
 * rules are not written here: they are the shared library's
 * (proto/validate.h), read from the payload's view or applied to what the
 * store kept. Sees protobuf payload types, never SQL; never logs payload
 * text.
 *
 * Each arrival is recorded with its place in its log. An update that
 * sorts after everything else in its cluster (see board.h), where nothing
 * waits or was refused a transition, is decided on the stored need or
 * offer and changes only them (apply_in_order): the stored state is always
 * what a replay of the cluster gives, so deciding the last message on it
 * gives what the replay would. Anything else (a creation, a message that
 * sorts earlier) recomputes the cluster from scratch by a replay in the
 * canonical order, so the board depends on the set of messages, not on
 * their order; test_board compares the two paths' boards. The digest and
 * the reports, computed over this state, are board_report.c's.
 * What remains (a later issue):
 *   - Both paths read the cluster's records (through the store's index on
 *     target) to place the arrival: the in-order path decides and writes
 *     only the arrival, but its reading still grows with the cluster.
 *   - A TLP:RED post to several members is one envelope per recipient; the
 *     poster's board holds one need per envelope id.
 *   - An edit replaces only fields given non-empty / non-zero values.
 *
 * TLP follows the referent (board_referent in board.h): a stated label
 * below the referent's and a message about a TLP:RED referent outside a
 * direct log are refused by the same rule, follows_referent(), on the
 * poster's check and on every replay; the poster's check also hides what
 * is above the client's clearance, so that hidden and unknown read alike.
 */
#include "board.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain.h"
#include "envelope.h"
#include "log.h"
#include "message.h"
#include "payload.pb-c.h"
#include "util.h"
#include "validate.h"

typedef Tmbus__Payload__Payload Payload;
typedef Tmbus__Payload__Need Need;
typedef Tmbus__Payload__Offer Offer;
typedef Tmbus__Payload__NeedUpdate NeedUpdate;
typedef Tmbus__Payload__OfferUpdate OfferUpdate;
typedef Tmbus__Payload__NeedShare NeedShare;

/* The kinds of message the store keeps (codes of board_updates.kind). */
enum msg_kind { KIND_NEED_UPDATE = 1, KIND_OFFER_UPDATE = 2, KIND_NEED = 3, KIND_OFFER = 4 };

/* Outcome codes of board_updates: 0 applied, a board_reason when
 * rejected, OUTCOME_WAITING while its object is unknown, OUTCOME_NEW for
 * a message recorded but not yet replayed. */
#define OUTCOME_APPLIED 0
#define OUTCOME_WAITING (-1)
#define OUTCOME_NEW     (-2)
#define OUTCOME_BLOCKED (-3) /* during a replay only: refused for now, see board.h */

_Static_assert(BOARD_NEED_WITHDRAWN == 5 && BOARD_OFFER_WITHDRAWN == 6,
               "the status codes are the shared names' values (proto/domain.h)");

/* Per reason: its name, its counter (a static string, as stats_count
 * wants) and how a poster's client is answered. */
static const struct {
    const char *name;
    const char *counter;
    enum board_verdict verdict;
} reasons[BOARD_R_COUNT] = {
    [BOARD_R_NONE] = {"none", "board.rejected.none", BOARD_CHECK_OK},
    [BOARD_R_MALFORMED] = {"malformed", "board.rejected.malformed", BOARD_CHECK_INVALID},
    [BOARD_R_BAD_FIELD] = {"bad-field", "board.rejected.bad-field", BOARD_CHECK_INVALID},
    [BOARD_R_UNKNOWN_NEED] = {"unknown-need", "board.rejected.unknown-need", BOARD_CHECK_NOT_FOUND},
    [BOARD_R_UNKNOWN_OFFER] = {"unknown-offer", "board.rejected.unknown-offer",
                               BOARD_CHECK_NOT_FOUND},
    [BOARD_R_NOT_OWNER] = {"not-owner", "board.rejected.not-owner", BOARD_CHECK_DENIED},
    [BOARD_R_NOT_DONOR] = {"not-donor", "board.rejected.not-donor", BOARD_CHECK_DENIED},
    [BOARD_R_NEED_FINAL] = {"need-final", "board.rejected.need-final", BOARD_CHECK_INVALID},
    [BOARD_R_NEED_NOT_OPEN] = {"need-not-open", "board.rejected.need-not-open",
                               BOARD_CHECK_INVALID},
    [BOARD_R_TRANSITION] = {"bad-transition", "board.rejected.bad-transition", BOARD_CHECK_INVALID},
    [BOARD_R_CATALOGUE] = {"catalogue-offer", "board.rejected.catalogue-offer",
                           BOARD_CHECK_INVALID},
    [BOARD_R_ROLE] = {"role", "board.rejected.role", BOARD_CHECK_DENIED},
    [BOARD_R_TLP_BELOW] = {"tlp-below-referent", "board.rejected.tlp-below-referent",
                           BOARD_CHECK_INVALID},
    [BOARD_R_RED_RELAYED] = {"red-not-direct", "board.rejected.red-not-direct",
                             BOARD_CHECK_INVALID},
    [BOARD_R_SHARE_ORIGIN] = {"share-not-original", "board.rejected.share-not-original",
                              BOARD_CHECK_DENIED},
    [BOARD_R_SHARE_HELD] = {"share-held", "board.rejected.share-held", BOARD_CHECK_DENIED},
};

const char *board_need_status_name(int status)
{
    const char *name = domain_name(DOMAIN_NEED_STATUS, status);

    return name != NULL ? name : "unknown";
}

const char *board_offer_status_name(int status)
{
    const char *name = domain_name(DOMAIN_OFFER_STATUS, status);

    return name != NULL ? name : "unknown";
}

const char *board_reason_name(enum board_reason r)
{
    return (unsigned)r < BOARD_R_COUNT ? reasons[r].name : "unknown";
}

int board_need_status_parse(const char *name)
{
    /* The client link names a status exactly as the board reports it, so
     * the comparison is exact, not domain_parse's lenient one. */
    for (int i = 1; i <= domain_max(DOMAIN_NEED_STATUS); i++)
        if (strcmp(name, domain_name(DOMAIN_NEED_STATUS, i)) == 0)
            return i;
    return -1;
}

static bool is_final(int need_status)
{
    return need_status == BOARD_NEED_CLOSED || need_status == BOARD_NEED_WITHDRAWN;
}

/* A short hex prefix of an id, for log lines. */
static const char *short_id(const uint8_t *id, char buf[17])
{
    for (int i = 0; i < 8; i++)
        snprintf(buf + 2 * i, 3, "%02x", id[i]);
    return buf;
}

/* ---- verdicts ------------------------------------------------------------ */

/* What a decision found: a reason and a one-line explanation, or that the
 * object it needs is not known yet. */
struct verdict {
    enum board_reason reason;
    char why[VALIDATE_WHY_MAX];
    bool is_waiting;
    uint8_t awaits[WIRE_ID_BYTES];
};

static bool refuse(struct verdict *v, enum board_reason r, const char *why)
{
    v->reason = r;
    snprintf(v->why, sizeof(v->why), "%s", why);
    return false;
}

/* A refusal by the shared field rules, whose reason is already in v->why. */
static bool refuse_fault(struct verdict *v, enum validate_fault f)
{
    v->reason = f == VALIDATE_MALFORMED ? BOARD_R_MALFORMED : BOARD_R_BAD_FIELD;
    return false;
}

/* The view's verdict by the field rules, taken over into v. */
static bool is_sound(const struct message *msg, struct verdict *v)
{
    if (msg->fault == VALIDATE_OK)
        return true;
    snprintf(v->why, sizeof(v->why), "%s", msg->why);
    return refuse_fault(v, (enum validate_fault)msg->fault);
}

static bool wait_for(struct verdict *v, const uint8_t *id, enum board_reason r, const char *why)
{
    v->is_waiting = true;
    memcpy(v->awaits, id, WIRE_ID_BYTES);
    return refuse(v, r, why);
}

/* The label an object is handled under: its own, but anything that
 * travelled in a direct log is TLP:RED whatever it says. */
static uint32_t effective_tlp(uint32_t label, const char *log_peer)
{
    return message_tlp_in_log(label, log_peer != NULL && log_peer[0] != '\0');
}

/*
 * The TLP rules on a message about a referent labelled referent_tlp (see
 * board_referent in board.h): a label it states (stated, 0 for none) may
 * not be lower, and anything about a TLP:RED referent travels in a direct
 * log. log_peer NULL: the poster's check, where the route has not chosen
 * the log yet (api_post makes such a post direct). Returns true, or false
 * with v saying why.
 */
static bool follows_referent(uint32_t referent_tlp, const char *log_peer, uint32_t stated,
                             struct verdict *v)
{
    if (referent_tlp == MESSAGE_TLP_RED && log_peer != NULL && log_peer[0] == '\0')
        return refuse(v, BOARD_R_RED_RELAYED,
                      "a message about a TLP:RED need or offer must travel in a direct log");
    if (stated != 0 && stated < referent_tlp)
        return refuse(v, BOARD_R_TLP_BELOW,
                      "its TLP label is lower than that of the need or offer it refers to");
    return true;
}

/* ---- a cluster's state ---------------------------------------------------- */

/* What the rules read and change: the cluster's need, when known, and its
 * offers. The records own their blobs. */
struct cluster {
    bool has_need;
    struct store_board_need need;
    struct store_board_offer *offers;
    size_t n_offers, cap_offers;
};

static void cluster_clear(struct cluster *c)
{
    free(c->need.need);
    for (size_t i = 0; i < c->n_offers; i++)
        free(c->offers[i].offer);
    free(c->offers);
    memset(c, 0, sizeof(*c));
}

static struct store_board_offer *cluster_offer(struct cluster *c, const uint8_t *id)
{
    for (size_t i = 0; i < c->n_offers; i++)
        if (memcmp(c->offers[i].id, id, WIRE_ID_BYTES) == 0)
            return &c->offers[i];
    return NULL;
}

static struct store_board_need *cluster_need(struct cluster *c, const uint8_t *id)
{
    return c->has_need && memcmp(c->need.id, id, WIRE_ID_BYTES) == 0 ? &c->need : NULL;
}

/* Adds o; takes responsibility over o->offer on success. Returns 0 or -1. */
static int cluster_add_offer(struct cluster *c, const struct store_board_offer *o)
{
    if (c->n_offers == c->cap_offers) {
        size_t cap = c->cap_offers ? 2 * c->cap_offers : 8;
        struct store_board_offer *grown = realloc(c->offers, cap * sizeof(*grown));
        if (grown == NULL) {
            log_warn("board: realloc");
            return -1;
        }
        c->offers = grown;
        c->cap_offers = cap;
    }
    c->offers[c->n_offers++] = *o;
    return 0;
}

/* ---- decisions ----------------------------------------------------------- */

/* What a report reads of a need, kept in clear beside its row. */
static void need_facts(struct store_board_need *rec, const Need *n)
{
    rec->value_cents = n->value_cents;
    rec->sector = n->sector;
    snprintf(rec->deadline, sizeof(rec->deadline), "%s", n->deadline != NULL ? n->deadline : "");
}

/*
 * Each decide_*() applies the rules to one update against a cluster's
 * state and, when they allow it, changes that state in place; otherwise it
 * changes nothing. Returns 1 when applied, 0 when refused or waiting (v
 * says which and why), -1 when memory ran out.
 */

/* An edit: the stored need with every field the edit gives a non-empty or
 * non-zero value replaced. Packs the result into rec->need. */
static int merge_edit(struct store_board_need *rec, const Need *edit, struct verdict *v)
{
    Need *old = tmbus__payload__need__unpack(NULL, rec->need_len, rec->need);
    Need m = TMBUS__PAYLOAD__NEED__INIT;
    enum validate_fault f;
    uint8_t *buf;
    size_t len;
    int ret = -1;

    if (old == NULL) {
        log_warnx("board: a stored need no longer decodes");
        return -1;
    }
#define TAKE_TEXT(f) m.f = edit->f != NULL && edit->f[0] != '\0' ? edit->f : old->f
#define TAKE_NUM(f)  m.f = edit->f != 0 ? edit->f : old->f
    TAKE_TEXT(beneficiary);
    TAKE_NUM(sector);
    TAKE_NUM(category);
    TAKE_TEXT(title);
    TAKE_TEXT(description);
    TAKE_NUM(quantity);
    TAKE_TEXT(unit);
    TAKE_NUM(value_cents);
    TAKE_NUM(priority);
    TAKE_TEXT(deadline);
    TAKE_NUM(tlp);
    TAKE_TEXT(contact);
#undef TAKE_TEXT
#undef TAKE_NUM
    /* Each field was checked on its own; together they must still make a
     * whole need (an edit cannot blank a required field, but the stored
     * need was checked by the rules of the node that recorded it). */
    if ((f = validate_need(&m, false, v->why, sizeof(v->why))) != VALIDATE_OK) {
        ret = refuse_fault(v, f);
        goto out;
    }
    len = tmbus__payload__need__get_packed_size(&m);
    if ((buf = malloc(len ? len : 1)) == NULL) {
        log_warn("board: malloc");
        goto out;
    }
    tmbus__payload__need__pack(&m, buf);
    free(rec->need);
    rec->need = buf;
    rec->need_len = len;
    rec->tlp = m.tlp;
    rec->category = m.category;
    rec->priority = m.priority;
    rec->quantity = m.quantity;
    need_facts(rec, &m);
    ret = 1;
out:
    tmbus__payload__need__free_unpacked(old, NULL);
    return ret;
}

static int decide_need_update(struct cluster *c, const char *sender, const char *log_peer,
                              const NeedUpdate *u, struct verdict *v)
{
    struct store_board_need *rec;
    enum validate_fault f;
    int rc;

    /* An arriving update passed these rules in its view already; a replay
     * decides what the store kept, which an older node may have judged by
     * looser ones. */
    if ((f = validate_need_update(u, v->why, sizeof(v->why))) != VALIDATE_OK)
        return refuse_fault(v, f);
    if ((rec = cluster_need(c, u->need_id.data)) == NULL)
        return wait_for(v, u->need_id.data, BOARD_R_UNKNOWN_NEED, "no such need");
    if (strcmp(rec->owner, sender) != 0)
        return refuse(v, BOARD_R_NOT_OWNER, "only the need's owner may edit, close or withdraw it");
    if (is_final(rec->status))
        return refuse(v, BOARD_R_NEED_FINAL, "the need is already closed or withdrawn");
    if (!follows_referent(rec->tlp, log_peer,
                          u->need != NULL ? effective_tlp(u->need->tlp, log_peer) : 0, v))
        return 0;
    switch (u->action) {
    case TMBUS__PAYLOAD__NEED_UPDATE__ACTION__ACTION_EDIT:
        if ((rc = merge_edit(rec, u->need, v)) != 1)
            return rc;
        rec->tlp = effective_tlp(rec->tlp, log_peer);
        break;
    case TMBUS__PAYLOAD__NEED_UPDATE__ACTION__ACTION_CLOSE:
        rec->status = BOARD_NEED_CLOSED;
        break;
    default:
        rec->status = BOARD_NEED_WITHDRAWN;
        break;
    }
    return 1;
}

/* The status an offer update moves an offer from, to. */
static bool transition(int action, int from, int *to)
{
    switch (action) {
    case TMBUS__PAYLOAD__OFFER_UPDATE__ACTION__ACTION_ACCEPT:
        *to = BOARD_OFFER_ACCEPTED;
        return from == BOARD_OFFER_PROPOSED;
    case TMBUS__PAYLOAD__OFFER_UPDATE__ACTION__ACTION_DECLINE:
        *to = BOARD_OFFER_DECLINED;
        return from == BOARD_OFFER_PROPOSED;
    case TMBUS__PAYLOAD__OFFER_UPDATE__ACTION__ACTION_DELIVER:
        *to = BOARD_OFFER_DELIVERED;
        return from == BOARD_OFFER_ACCEPTED;
    case TMBUS__PAYLOAD__OFFER_UPDATE__ACTION__ACTION_CONFIRM:
        *to = BOARD_OFFER_CONFIRMED;
        return from == BOARD_OFFER_DELIVERED;
    default: /* withdraw: by the donor, before delivery */
        *to = BOARD_OFFER_WITHDRAWN;
        return from == BOARD_OFFER_PROPOSED || from == BOARD_OFFER_ACCEPTED;
    }
}

static bool is_owners_action(int action)
{
    return action == TMBUS__PAYLOAD__OFFER_UPDATE__ACTION__ACTION_ACCEPT ||
           action == TMBUS__PAYLOAD__OFFER_UPDATE__ACTION__ACTION_DECLINE ||
           action == TMBUS__PAYLOAD__OFFER_UPDATE__ACTION__ACTION_CONFIRM;
}

static int decide_offer_update(struct cluster *c, const char *sender, const char *log_peer,
                               const OfferUpdate *u, struct verdict *v)
{
    struct store_board_offer *rec;
    struct store_board_need *need;
    enum validate_fault f;
    int to;

    if ((f = validate_offer_update(u, v->why, sizeof(v->why))) != VALIDATE_OK)
        return refuse_fault(v, f);
    if ((rec = cluster_offer(c, u->offer_id.data)) == NULL)
        return wait_for(v, u->offer_id.data, BOARD_R_UNKNOWN_OFFER, "no such offer");
    need = rec->has_need ? cluster_need(c, rec->need_id) : NULL;
    if (!follows_referent(need != NULL && need->tlp > rec->tlp ? need->tlp : rec->tlp, log_peer, 0,
                          v))
        return 0;
    if (is_owners_action(u->action)) {
        if (!rec->has_need)
            return refuse(v, BOARD_R_CATALOGUE,
                          "a catalogue offer answers no need: nobody accepts or confirms it");
        if ((need = cluster_need(c, rec->need_id)) == NULL)
            return wait_for(v, rec->need_id, BOARD_R_UNKNOWN_NEED,
                            "the offer's need is not on this board");
        if (strcmp(need->owner, sender) != 0)
            return refuse(v, BOARD_R_NOT_OWNER,
                          "only the need's owner may accept, decline or confirm its offers");
        if (is_final(need->status) &&
            u->action == TMBUS__PAYLOAD__OFFER_UPDATE__ACTION__ACTION_ACCEPT)
            return refuse(v, BOARD_R_NEED_FINAL, "the need is closed or withdrawn");
    } else if (strcmp(rec->donor, sender) != 0) {
        return refuse(v, BOARD_R_NOT_DONOR, "only the donor may deliver or withdraw an offer");
    }
    if (!transition(u->action, rec->status, &to))
        return refuse(v, BOARD_R_TRANSITION, "the offer's status does not allow that");
    rec->status = to;
    return 1;
}

/* Who may post what, on receipt; api applies the same rule to a poster. */
static bool role_allows(int role, enum message_kind kind, struct verdict *v)
{
    const char *why;

    if (role == 0 || message_role_allows(kind, role, &why))
        return true;
    return refuse(v, BOARD_R_ROLE, why);
}

/* ---- applying ------------------------------------------------------------ */

struct apply {
    struct store *s;
    board_count_fn count;
    void *arg;
};

static void count(const struct apply *ap, const char *counter)
{
    if (ap->count != NULL)
        ap->count(ap->arg, counter);
}

/* The envelope itself was accepted (it keeps its place in its log and is
 * delivered); only the board declines it, so the line says "not applied". */
static void rejected(const struct apply *ap, const struct board_msg *m, const char *what,
                     const struct verdict *v)
{
    char hex[17];

    log_warnx("board: %s %s from %s (%s log, seq %llu) not applied: %s: %s", what,
              short_id(m->id, hex), m->sender, m->log_peer[0] ? "direct" : "relayed",
              (unsigned long long)m->seq, reasons[v->reason].name, v->why);
    count(ap, reasons[v->reason].counter);
}

struct sums {
    uint64_t accepted, delivered;
};

static void add_offer(struct sums *sum, const struct store_board_offer *o)
{
    /* Quantities are at most INT64_MAX each; saturate rather than wrap. */
    if (o->status == BOARD_OFFER_ACCEPTED || o->status == BOARD_OFFER_DELIVERED ||
        o->status == BOARD_OFFER_CONFIRMED)
        sum->accepted =
            sum->accepted > INT64_MAX - o->quantity ? INT64_MAX : sum->accepted + o->quantity;
    if (o->status == BOARD_OFFER_CONFIRMED)
        sum->delivered =
            sum->delivered > INT64_MAX - o->quantity ? INT64_MAX : sum->delivered + o->quantity;
}

/* Coverage is derived: the accepted quantity of a need's offers against
 * the quantity it asks for. A closed or withdrawn need keeps its status. */
static void derive(struct cluster *c)
{
    struct store_board_need *n = &c->need;
    struct sums sum = {0};

    for (size_t i = 0; i < c->n_offers; i++)
        if (c->offers[i].has_need && memcmp(c->offers[i].need_id, n->id, WIRE_ID_BYTES) == 0)
            add_offer(&sum, &c->offers[i]);
    n->accepted_quantity = sum.accepted;
    n->delivered_quantity = sum.delivered;
    if (is_final(n->status))
        return;
    if (sum.accepted == 0)
        n->status = BOARD_NEED_OPEN;
    else if (sum.accepted < n->quantity)
        n->status = BOARD_NEED_PARTIALLY_COVERED;
    else
        n->status = BOARD_NEED_COVERED;
}

/* One message of a cluster during a replay. */
struct item {
    struct store_board_update u; /* as stored, owns u.body */
    int64_t t;                   /* the first part of its key */
    int outcome;                 /* this replay's verdict; OUTCOME_NEW until decided */
    bool is_changed;             /* its verdict differs from the stored one */
    int was;                     /* when changed: the stored verdict */
    bool is_member;              /* of the cluster replayed, not only a candidate */
    struct verdict v;
};

struct replay {
    const struct apply *ap;
    const uint8_t *root;
    const uint8_t *arrived; /* id of the message being applied */
    struct item *items;
    size_t n, cap;
    struct cluster c;
};

static void replay_free(struct replay *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->items[i].u.body);
    free(r->items);
    cluster_clear(&r->c);
}

/* Keeps a copy of every candidate row (store_board_each_in_cluster). */
static int gather(void *arg, const struct store_board_update *u)
{
    struct replay *r = arg;
    struct item *it;

    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 16;
        struct item *grown = realloc(r->items, cap * sizeof(*grown));
        if (grown == NULL) {
            log_warn("board: realloc");
            return -1;
        }
        r->items = grown;
        r->cap = cap;
    }
    it = &r->items[r->n];
    memset(it, 0, sizeof(*it));
    it->u = *u;
    if ((it->u.body = malloc(u->body_len ? u->body_len : 1)) == NULL) {
        log_warn("board: malloc");
        return -1;
    }
    if (u->body_len > 0)
        memcpy(it->u.body, u->body, u->body_len);
    it->outcome = OUTCOME_NEW;
    r->n++;
    return 0;
}

/* Whether id is one of the cluster's offers (marked by select_members). */
static bool is_offer_of(const struct replay *r, const uint8_t *id)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->items[i].is_member && r->items[i].u.kind == KIND_OFFER &&
            memcmp(r->items[i].u.id, id, WIRE_ID_BYTES) == 0)
            return true;
    return false;
}

/* Keeps only the cluster's own messages among the candidates: the need
 * with the root's id, offers and need updates naming the root, and offer
 * updates naming one of those offers — or naming the root while no offer
 * with that id is held (they wait in the root's cluster until it comes). */
static int select_members(struct replay *r)
{
    struct store_board_offer o;
    size_t kept = 0;
    int rc;

    for (size_t i = 0; i < r->n; i++) {
        struct item *it = &r->items[i];
        if (it->u.kind == KIND_NEED)
            it->is_member = memcmp(it->u.id, r->root, WIRE_ID_BYTES) == 0;
        else if (it->u.kind == KIND_OFFER || it->u.kind == KIND_NEED_UPDATE)
            it->is_member = memcmp(it->u.target, r->root, WIRE_ID_BYTES) == 0;
    }
    for (size_t i = 0; i < r->n; i++) {
        struct item *it = &r->items[i];
        if (it->u.kind != KIND_OFFER_UPDATE)
            continue;
        it->is_member = is_offer_of(r, it->u.target);
        if (!it->is_member && memcmp(it->u.target, r->root, WIRE_ID_BYTES) == 0) {
            if ((rc = store_board_offer_get(r->ap->s, it->u.target, &o)) < 0)
                return -1;
            free(o.offer);
            it->is_member = rc == 0;
        }
    }
    for (size_t i = 0; i < r->n; i++) {
        if (r->items[i].is_member)
            r->items[kept++] = r->items[i];
        else
            free(r->items[i].u.body);
    }
    r->n = kept;
    return 0;
}

static int cmp_log_seq(const void *a, const void *b)
{
    const struct item *x = a, *y = b;
    int c;

    if ((c = strcmp(x->u.log.origin, y->u.log.origin)) != 0 ||
        (c = strcmp(x->u.log.peer, y->u.log.peer)) != 0)
        return c;
    return x->u.seq < y->u.seq ? -1 : x->u.seq > y->u.seq;
}

static int cmp_key(const void *a, const void *b)
{
    const struct item *x = a, *y = b;
    int c;

    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    if ((c = cmp_log_seq(a, b)) != 0)
        return c;
    return memcmp(x->u.id, y->u.id, WIRE_ID_BYTES);
}

/* Puts the items in the canonical order of board.h. */
static void sort_canonical(struct replay *r)
{
    if (r->n == 0)
        return;
    qsort(r->items, r->n, sizeof(*r->items), cmp_log_seq);
    for (size_t i = 0; i < r->n; i++) {
        struct item *it = &r->items[i];
        bool is_same_log = i > 0 && strcmp(it->u.log.origin, it[-1].u.log.origin) == 0 &&
                           strcmp(it->u.log.peer, it[-1].u.log.peer) == 0;
        it->t = is_same_log && it[-1].t > it->u.created_at ? it[-1].t : it->u.created_at;
    }
    qsort(r->items, r->n, sizeof(*r->items), cmp_key);
}

static int create_need(struct replay *r, struct item *it)
{
    Need *n = tmbus__payload__need__unpack(NULL, it->u.body_len, it->u.body);
    struct store_board_need *rec = &r->c.need;
    enum validate_fault f;
    int ret = 0;

    if (n == NULL)
        return refuse(&it->v, BOARD_R_MALFORMED, "a stored need no longer decodes");
    if ((f = validate_need(n, false, it->v.why, sizeof(it->v.why))) != VALIDATE_OK) {
        refuse_fault(&it->v, f);
        goto out;
    }
    if (r->c.has_need) { /* ids are unique: a broken store, not a message */
        refuse(&it->v, BOARD_R_MALFORMED, "a second need with one id");
        goto out;
    }
    memset(rec, 0, sizeof(*rec));
    if ((rec->need = malloc(it->u.body_len ? it->u.body_len : 1)) == NULL) {
        log_warn("board: malloc");
        ret = -1;
        goto out;
    }
    memcpy(rec->id, it->u.id, WIRE_ID_BYTES);
    snprintf(rec->owner, sizeof(rec->owner), "%s", it->u.sender);
    rec->created_at = it->u.created_at;
    rec->status = BOARD_NEED_OPEN;
    rec->tlp = effective_tlp(n->tlp, it->u.log.peer);
    rec->category = n->category;
    rec->priority = n->priority;
    rec->quantity = n->quantity;
    need_facts(rec, n);
    if (it->u.body_len > 0)
        memcpy(rec->need, it->u.body, it->u.body_len);
    rec->need_len = it->u.body_len;
    r->c.has_need = true;
    ret = 1;
out:
    tmbus__payload__need__free_unpacked(n, NULL);
    return ret;
}

/* The label of the cluster's need with id: as the replay has it so far,
 * else as the need was posted (when it sorts later), else 0 (not held). */
static uint32_t need_tlp(const struct replay *r, const uint8_t *id)
{
    uint32_t label = 0;

    if (r->c.has_need && memcmp(r->c.need.id, id, WIRE_ID_BYTES) == 0)
        return r->c.need.tlp;
    for (size_t i = 0; i < r->n; i++) {
        const struct item *need = &r->items[i];
        Need *n;
        if (need->u.kind != KIND_NEED || memcmp(need->u.id, id, WIRE_ID_BYTES) != 0)
            continue;
        if ((n = tmbus__payload__need__unpack(NULL, need->u.body_len, need->u.body)) != NULL) {
            label = effective_tlp(n->tlp, need->u.log.peer);
            tmbus__payload__need__free_unpacked(n, NULL);
        }
        break;
    }
    return label;
}

static int create_offer(struct replay *r, struct item *it)
{
    Offer *o = tmbus__payload__offer__unpack(NULL, it->u.body_len, it->u.body);
    struct store_board_offer rec = {0};
    enum validate_fault f;
    int ret = 0;

    if (o == NULL)
        return refuse(&it->v, BOARD_R_MALFORMED, "a stored offer no longer decodes");
    if ((f = validate_offer(o, it->v.why, sizeof(it->v.why))) != VALIDATE_OK) {
        refuse_fault(&it->v, f);
        goto out;
    }
    if (cluster_offer(&r->c, it->u.id) != NULL) {
        refuse(&it->v, BOARD_R_MALFORMED, "a second offer with one id");
        goto out;
    }
    /* An offer refers to its need: judged against the need's label as the
     * replay has it so far, or, when it sorts before its need (clocks are
     * coarse), against the need's original label. */
    if (o->need_id.len == WIRE_ID_BYTES &&
        !follows_referent(need_tlp(r, o->need_id.data), it->u.log.peer,
                          effective_tlp(o->tlp, it->u.log.peer), &it->v))
        goto out;
    /* Made after its need was closed or withdrawn, in the canonical order:
     * refused here as the poster's node refuses it, so that a hostile
     * donor's node cannot put offers on a need its owner has ended. */
    if (o->need_id.len == WIRE_ID_BYTES && r->c.has_need &&
        memcmp(r->c.need.id, o->need_id.data, WIRE_ID_BYTES) == 0 && is_final(r->c.need.status)) {
        refuse(&it->v, BOARD_R_NEED_NOT_OPEN, "the need was closed or withdrawn before this offer");
        goto out;
    }
    memcpy(rec.id, it->u.id, WIRE_ID_BYTES);
    snprintf(rec.donor, sizeof(rec.donor), "%s", it->u.sender);
    rec.created_at = it->u.created_at;
    rec.has_need = o->need_id.len == WIRE_ID_BYTES;
    if (rec.has_need)
        memcpy(rec.need_id, o->need_id.data, WIRE_ID_BYTES);
    rec.status = BOARD_OFFER_PROPOSED;
    rec.tlp = effective_tlp(o->tlp, it->u.log.peer);
    rec.quantity = o->quantity;
    rec.value_cents = o->value_cents;
    rec.offer_len = it->u.body_len;
    if ((rec.offer = malloc(it->u.body_len ? it->u.body_len : 1)) == NULL ||
        cluster_add_offer(&r->c, &rec) != 0) {
        log_warn("board: malloc");
        free(rec.offer);
        ret = -1;
        goto out;
    }
    if (it->u.body_len > 0)
        memcpy(rec.offer, it->u.body, it->u.body_len);
    ret = 1;
out:
    tmbus__payload__offer__free_unpacked(o, NULL);
    return ret;
}

static int decide_item(struct replay *r, struct item *it)
{
    NeedUpdate *nu;
    OfferUpdate *ou;
    int rc;

    if (it->u.kind == KIND_NEED_UPDATE) {
        nu = tmbus__payload__need_update__unpack(NULL, it->u.body_len, it->u.body);
        if (nu == NULL)
            return refuse(&it->v, BOARD_R_MALFORMED, "a stored update no longer decodes");
        rc = decide_need_update(&r->c, it->u.sender, it->u.log.peer, nu, &it->v);
        tmbus__payload__need_update__free_unpacked(nu, NULL);
        return rc;
    }
    ou = tmbus__payload__offer_update__unpack(NULL, it->u.body_len, it->u.body);
    if (ou == NULL)
        return refuse(&it->v, BOARD_R_MALFORMED, "a stored update no longer decodes");
    rc = decide_offer_update(&r->c, it->u.sender, it->u.log.peer, ou, &it->v);
    tmbus__payload__offer_update__free_unpacked(ou, NULL);
    return rc;
}

static int step(struct replay *r, size_t i);

/* The object id was just created: the updates that waited for it are
 * decided now, in key order. */
static int release(struct replay *r, const uint8_t *id)
{
    for (size_t j = 0; j < r->n; j++) {
        struct item *it = &r->items[j];
        if (it->outcome == OUTCOME_WAITING && memcmp(it->v.awaits, id, WIRE_ID_BYTES) == 0 &&
            step(r, j) != 0)
            return -1;
    }
    return 0;
}

/* Whether a change at time t may still unblock an update at time u: when
 * it is not clearly later, by more than the clocks' allowed skew. */
static bool is_concurrent(int64_t t, int64_t u)
{
    return t <= u || (uint64_t)t - (uint64_t)u <= BOARD_SKEW_S;
}

/* The cluster just changed, by a message at time t: the first blocked
 * update (key order) that the change allows is applied, which may allow
 * another, and so on. */
static int unblock(struct replay *r, int64_t t)
{
    for (size_t j = 0; j < r->n; j++) {
        struct item *it = &r->items[j];
        if (it->outcome != OUTCOME_BLOCKED || !is_concurrent(t, it->t))
            continue;
        if (step(r, j) != 0)
            return -1;
        if (it->outcome == OUTCOME_APPLIED)
            return 0; /* step ran unblock again, from the start */
    }
    return 0;
}

/* Decides item i against the state built so far. Returns 0 or -1. */
static int step(struct replay *r, size_t i)
{
    struct item *it = &r->items[i];
    int rc;

    memset(&it->v, 0, sizeof(it->v));
    if (it->u.kind == KIND_NEED)
        rc = create_need(r, it);
    else if (it->u.kind == KIND_OFFER)
        rc = create_offer(r, it);
    else
        rc = decide_item(r, it);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        it->outcome = OUTCOME_APPLIED;
        if ((it->u.kind == KIND_NEED || it->u.kind == KIND_OFFER) && release(r, it->u.id) != 0)
            return -1;
        return unblock(r, it->t);
    }
    if (it->v.is_waiting)
        it->outcome = OUTCOME_WAITING;
    else if (it->v.reason == BOARD_R_TRANSITION)
        it->outcome = OUTCOME_BLOCKED;
    else
        it->outcome = (int)it->v.reason;
    return 0;
}

static const char *kind_name(int kind)
{
    switch (kind) {
    case KIND_NEED:
        return "need";
    case KIND_OFFER:
        return "offer";
    case KIND_NEED_UPDATE:
        return "need update";
    default:
        return "offer update";
    }
}

/* Logs and counts one verdict: the arrived message's, or an earlier one's
 * that this replay changed. */
static void report(const struct replay *r, const struct item *it)
{
    struct board_msg m = {it->u.id, it->u.sender, it->u.log.peer, it->u.seq, it->u.created_at, 0};
    bool is_arrived = memcmp(it->u.id, r->arrived, WIRE_ID_BYTES) == 0;
    char hex[17];

    /* An update decided once its object came is the ordinary case; one
     * whose verdict flipped because a message sorted before it is not. */
    if (!is_arrived && it->was == OUTCOME_WAITING)
        log_debug("board: %s %s from %s decided now that its object is here", kind_name(it->u.kind),
                  short_id(it->u.id, hex), it->u.sender);
    else if (!is_arrived)
        log_info("board: %s %s from %s re-decided in canonical order (was %s)",
                 kind_name(it->u.kind), short_id(it->u.id, hex), it->u.sender,
                 it->was == OUTCOME_APPLIED ? "applied" : "rejected");
    if (it->outcome == OUTCOME_APPLIED) {
        count(r->ap, "board.applied");
    } else if (it->outcome == OUTCOME_WAITING) {
        if (is_arrived)
            count(r->ap, "board.waiting");
        log_debug("board: %s %s from %s waits for %s", kind_name(it->u.kind),
                  short_id(it->u.id, hex), it->u.sender, it->v.why);
    } else {
        rejected(r->ap, &m, kind_name(it->u.kind), &it->v);
    }
}

/* Writes the replayed state: the need, its offers, and every verdict that
 * changed; then reports them, the arrived message's first (node takes the
 * first report as this message's verdict). */
static int write_back(struct replay *r)
{
    if (r->c.has_need) {
        derive(&r->c);
        if (store_board_need_put(r->ap->s, &r->c.need) != 0)
            return -1;
    }
    for (size_t i = 0; i < r->c.n_offers; i++)
        if (store_board_offer_put(r->ap->s, &r->c.offers[i]) != 0)
            return -1;
    for (size_t i = 0; i < r->n; i++) {
        struct item *it = &r->items[i];
        bool is_waiting = it->outcome == OUTCOME_WAITING;

        if (it->outcome == it->u.outcome && is_waiting == it->u.is_waiting &&
            (!is_waiting || memcmp(it->u.awaits, it->v.awaits, WIRE_ID_BYTES) == 0))
            continue;
        /* An offer made, as this replay now finds, after its need ended:
         * its row goes, as on a board that never held it. */
        if (it->u.kind == KIND_OFFER && it->u.outcome == OUTCOME_APPLIED &&
            it->outcome != OUTCOME_APPLIED && store_board_offer_drop(r->ap->s, it->u.id) != 0)
            return -1;
        it->was = it->u.outcome;
        it->u.outcome = it->outcome;
        it->u.is_waiting = is_waiting;
        if (is_waiting)
            memcpy(it->u.awaits, it->v.awaits, WIRE_ID_BYTES);
        if (store_board_update_put(r->ap->s, &it->u) != 0)
            return -1;
        it->is_changed = true;
    }
    for (size_t i = 0; i < r->n; i++)
        if (r->items[i].is_changed && memcmp(r->items[i].u.id, r->arrived, WIRE_ID_BYTES) == 0)
            report(r, &r->items[i]);
    for (size_t i = 0; i < r->n; i++) {
        const struct item *it = &r->items[i];
        if (it->is_changed && memcmp(it->u.id, r->arrived, WIRE_ID_BYTES) != 0 &&
            it->outcome != OUTCOME_WAITING)
            report(r, it);
    }
    return 0;
}

/* Recomputes the cluster of root from every message it holds. */
static int replay(const struct apply *ap, const uint8_t *root, const uint8_t *arrived)
{
    struct replay r = {.ap = ap, .root = root, .arrived = arrived};
    int ret = -1;

    if (store_board_each_in_cluster(ap->s, root, gather, &r) != 0 || select_members(&r) != 0)
        goto out;
    sort_canonical(&r);
    for (size_t i = 0; i < r.n; i++)
        if (r.items[i].outcome == OUTCOME_NEW && step(&r, i) != 0)
            goto out;
    for (size_t i = 0; i < r.n; i++)
        if (r.items[i].outcome == OUTCOME_BLOCKED)
            r.items[i].outcome = BOARD_R_TRANSITION;
    ret = write_back(&r);
out:
    replay_free(&r);
    return ret;
}

/* The bytes of one sub-message, packed again: what the board stores. */
static uint8_t *pack_part(const ProtobufCMessage *msg, size_t *len)
{
    uint8_t *buf;

    *len = protobuf_c_message_get_packed_size(msg);
    if ((buf = malloc(*len ? *len : 1)) == NULL) {
        log_warn("board: malloc");
        return NULL;
    }
    protobuf_c_message_pack(msg, buf);
    return buf;
}

/* Where a message is filed: kind, target (what it names) and the root of
 * its cluster. Returns 0 or -1 (store). */
static int file_message(struct store *s, const struct board_msg *m, const Payload *p, int *kind,
                        uint8_t target[WIRE_ID_BYTES], uint8_t root[WIRE_ID_BYTES])
{
    const ProtobufCBinaryData *named = NULL;
    struct store_board_offer o;
    int rc;

    memset(target, 0, WIRE_ID_BYTES);
    switch (p->kind_case) {
    case TMBUS__PAYLOAD__PAYLOAD__KIND_NEED:
        *kind = KIND_NEED;
        memcpy(target, m->id, WIRE_ID_BYTES);
        break;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER:
        *kind = KIND_OFFER;
        named = &p->offer->need_id;
        memcpy(target, named->len == WIRE_ID_BYTES ? named->data : m->id, WIRE_ID_BYTES);
        break;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_UPDATE:
        *kind = KIND_NEED_UPDATE;
        named = &p->need_update->need_id;
        break;
    default:
        *kind = KIND_OFFER_UPDATE;
        named = &p->offer_update->offer_id;
        break;
    }
    if (*kind >= KIND_NEED_UPDATE && *kind <= KIND_OFFER_UPDATE && named->len == WIRE_ID_BYTES)
        memcpy(target, named->data, WIRE_ID_BYTES);
    memcpy(root, target, WIRE_ID_BYTES);
    if (*kind != KIND_OFFER_UPDATE)
        return 0;
    if ((rc = store_board_offer_get(s, target, &o)) < 0)
        return -1;
    if (rc == 1) {
        if (o.has_need)
            memcpy(root, o.need_id, WIRE_ID_BYTES);
        free(o.offer);
    }
    return 0;
}

/* ---- need shares ---------------------------------------------------------- */

/*
 * A need share (board.h, PROTOCOL.md 6.7), sound and from a sender whose
 * role may post needs: recorded as the need it shares, filed under the
 * need's id and created_at, in the share's own log place, so that the
 * owner's later updates (later in the same log) sort after it. The proof
 * that the sender posted the need is in this store: logs are accepted in
 * order, so the envelope at the share's seq of the sender's relayed log is
 * held (whole or pruned) before the share is, and its id is a hash over a
 * header the sender signed. Returns 0 or -1 (store).
 */
static int apply_share(const struct apply *ap, const struct board_msg *m, const NeedShare *sh)
{
    struct store_board_update u = {0};
    struct store_board_need held = {0};
    struct store_log log = {0};
    struct verdict v = {0};
    uint8_t id[WIRE_ID_BYTES], *env = NULL;
    size_t env_len = 0;
    char hex[17];
    int rc, ret = -1;

    if ((rc = store_board_need_get(ap->s, sh->need_id.data, &held)) < 0)
        return -1;
    free(held.need);
    if (rc == 1 && strcmp(held.owner, m->sender) == 0) {
        /* The owner's own board, or a member that held the need already. */
        log_debug("board: need share of %s from %s: held already", short_id(sh->need_id.data, hex),
                  m->sender);
        return 0;
    }
    if (rc == 0 && (rc = store_board_knows(ap->s, sh->need_id.data)) < 0)
        return -1;
    if (rc == 1) {
        refuse(&v, BOARD_R_SHARE_HELD, "this board holds another member's message under that id");
        rejected(ap, m, "need share", &v);
        return 0;
    }
    snprintf(log.origin, sizeof(log.origin), "%s", m->sender);
    if ((rc = store_get(ap->s, &log, sh->seq, &env, &env_len, id)) < 0)
        return -1;
    free(env);
    if (rc == 0 || memcmp(id, sh->need_id.data, WIRE_ID_BYTES) != 0) {
        refuse(&v, BOARD_R_SHARE_ORIGIN,
               "the sender's relayed log holds no envelope with that id at that seq");
        rejected(ap, m, "need share", &v);
        return 0;
    }
    if ((u.body = pack_part(&sh->need->base, &u.body_len)) == NULL)
        return -1;
    u.kind = KIND_NEED;
    memcpy(u.id, sh->need_id.data, WIRE_ID_BYTES);
    memcpy(u.target, sh->need_id.data, WIRE_ID_BYTES);
    snprintf(u.log.origin, sizeof(u.log.origin), "%s", m->sender);
    snprintf(u.log.peer, sizeof(u.log.peer), "%s", m->log_peer);
    u.seq = m->seq;
    snprintf(u.sender, sizeof(u.sender), "%s", m->sender);
    u.created_at = sh->created_at;
    u.outcome = OUTCOME_NEW;
    if (store_board_update_put(ap->s, &u) == 0)
        ret = replay(ap, u.id, u.id);
    free(u.body);
    return ret;
}

/* ---- in order: the arrival decided alone -------------------------------- */

/* Off only in tests, which compare the two paths' boards. */
static bool is_incremental = true;

void board_set_incremental(bool is_on)
{
    is_incremental = is_on;
}

static int load_state(struct store *s, const uint8_t *need_id, const uint8_t *offer_id,
                      struct cluster *c);

/* Whether the update it may be decided on the stored state alone: it
 * sorts after every other message of its cluster, and no other message
 * there waits for an object or was refused a transition (a change that
 * follows may release or unblock those, which only a replay decides). */
static bool is_in_order(const struct replay *r, const uint8_t *arrived)
{
    if (r->n == 0 || memcmp(r->items[r->n - 1].u.id, arrived, WIRE_ID_BYTES) != 0)
        return false;
    for (size_t i = 0; i + 1 < r->n; i++) {
        int o = r->items[i].u.outcome;
        if (o == OUTCOME_NEW || o == OUTCOME_WAITING || o == OUTCOME_BLOCKED ||
            o == BOARD_R_TRANSITION || r->items[i].u.is_waiting)
            return false;
    }
    return true;
}

/* An offer's part in its need's sums, added (sign 1) or taken out (-1). */
static void adjust_sums(struct store_board_need *n, const struct store_board_offer *o, int sign)
{
    struct sums part = {0};

    add_offer(&part, o);
    if (sign > 0) {
        n->accepted_quantity += part.accepted;
        n->delivered_quantity += part.delivered;
    } else {
        n->accepted_quantity -= part.accepted;
        n->delivered_quantity -= part.delivered;
    }
}

/* The status derive() gives, from the need's stored sums. */
static void derive_stored(struct store_board_need *n)
{
    if (is_final(n->status))
        return;
    if (n->accepted_quantity == 0)
        n->status = BOARD_NEED_OPEN;
    else if (n->accepted_quantity < n->quantity)
        n->status = BOARD_NEED_PARTIALLY_COVERED;
    else
        n->status = BOARD_NEED_COVERED;
}

/*
 * Applies update u (recorded, OUTCOME_NEW) of cluster root without a
 * replay when it comes in canonical order: decides it against the stored
 * need or offer and writes only what it changed, exactly as the replay
 * would have. Returns 1 when done, 0 when a replay must decide it, -1 on
 * error.
 */
static int apply_in_order(const struct apply *ap, const uint8_t *root, struct store_board_update *u)
{
    struct replay r = {.ap = ap, .root = root, .arrived = u->id};
    struct cluster c = {0};
    struct store_board_offer *offer = NULL;
    struct verdict v = {0};
    struct item it = {0};
    int before = 0, rc, ret = -1;
    void *upd = NULL;
    bool is_offer_update = u->kind == KIND_OFFER_UPDATE;

    if (store_board_each_in_cluster(ap->s, root, gather, &r) != 0 || select_members(&r) != 0)
        goto out;
    sort_canonical(&r);
    ret = 0;
    if (!is_in_order(&r, u->id))
        goto out;
    ret = -1;
    if (load_state(ap->s, is_offer_update ? NULL : u->target, is_offer_update ? u->target : NULL,
                   &c) != 0)
        goto out;
    ret = 0;
    /* Only what the replay holds: the cluster's own need and offer. */
    if (c.has_need && memcmp(c.need.id, root, WIRE_ID_BYTES) != 0)
        goto out;
    if (is_offer_update) {
        if (c.n_offers != 1)
            goto out; /* waits for its offer: a replay files it */
        offer = &c.offers[0];
        before = offer->status;
        /* Sums at the ceiling were saturated: only a replay adds them. */
        if (c.has_need &&
            (c.need.accepted_quantity >= INT64_MAX / 2 ||
             c.need.delivered_quantity >= INT64_MAX / 2 || offer->quantity >= INT64_MAX / 2))
            goto out;
        if ((upd = tmbus__payload__offer_update__unpack(NULL, u->body_len, u->body)) == NULL)
            goto out;
        rc = decide_offer_update(&c, u->sender, u->log.peer, upd, &v);
    } else {
        if (!c.has_need)
            goto out;
        if ((upd = tmbus__payload__need_update__unpack(NULL, u->body_len, u->body)) == NULL)
            goto out;
        rc = decide_need_update(&c, u->sender, u->log.peer, upd, &v);
    }
    if (rc < 0) {
        ret = -1;
        goto out;
    }
    if (v.is_waiting)
        goto out;
    ret = -1;
    if (rc == 1) {
        if (is_offer_update && c.has_need && offer->has_need &&
            memcmp(offer->need_id, c.need.id, WIRE_ID_BYTES) == 0) {
            struct store_board_offer was = *offer;
            was.status = before;
            adjust_sums(&c.need, &was, -1);
            adjust_sums(&c.need, offer, 1);
        }
        if (c.has_need) {
            derive_stored(&c.need);
            if (store_board_need_put(ap->s, &c.need) != 0)
                goto out;
        }
        if (offer != NULL && store_board_offer_put(ap->s, offer) != 0)
            goto out;
        u->outcome = OUTCOME_APPLIED;
    } else {
        /* Refused a transition with nothing after it to unblock it: the
         * replay's final verdict. */
        u->outcome = (int)v.reason;
    }
    u->is_waiting = false;
    if (store_board_update_put(ap->s, u) != 0)
        goto out;
    it.u = *u;
    it.outcome = u->outcome;
    it.v = v;
    it.was = OUTCOME_NEW;
    report(&r, &it);
    ret = 1;
out:
    if (upd != NULL)
        protobuf_c_message_free_unpacked(upd, NULL);
    cluster_clear(&c);
    replay_free(&r);
    return ret;
}

int board_apply(struct store *s, const struct board_msg *m, const struct message *msg,
                board_count_fn count_fn, void *arg)
{
    struct apply ap = {s, count_fn, arg};
    struct store_board_update u = {0};
    uint8_t root[WIRE_ID_BYTES];
    const Payload *p = msg->pb;
    const ProtobufCMessage *part = NULL;
    uint8_t *body = NULL;
    size_t body_len = 0;
    struct verdict v = {0};
    int rc, ret = -1;

    if ((rc = store_board_knows(s, m->id)) != 0)
        return rc < 0 ? -1 : 0;
    if (!msg->is_payload || msg->kind == MESSAGE_NONE) {
        refuse(&v, BOARD_R_MALFORMED, "not a tmbus.payload.Payload this node understands");
        rejected(&ap, m, "payload", &v);
        ret = 0;
        goto out;
    }
    switch (p->kind_case) {
    case TMBUS__PAYLOAD__PAYLOAD__KIND_NEED:
        part = &p->need->base;
        break;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER:
        part = &p->offer->base;
        break;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_UPDATE:
        part = &p->need_update->base;
        break;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER_UPDATE:
        part = &p->offer_update->base;
        break;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_SHARE:
        break; /* filed as the need it shares (apply_share) */
    default:   /* a receipt is about delivery, not about the board */
        ret = 0;
        goto out;
    }
    /* Refused outright, and not recorded: a sender whose role may not post
     * it, or a payload the field rules refuse (the view's verdict). Neither
     * depends on other messages, so every node judges them alike whenever
     * they arrive. */
    if (!role_allows(m->role, msg->kind, &v) || !is_sound(msg, &v)) {
        rejected(&ap, m, "payload", &v);
        ret = 0;
        goto out;
    }
    if (p->kind_case == TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_SHARE) {
        ret = apply_share(&ap, m, p->need_share);
        goto out;
    }
    if ((body = pack_part(part, &body_len)) == NULL ||
        file_message(s, m, p, &u.kind, u.target, root) != 0)
        goto out;
    memcpy(u.id, m->id, WIRE_ID_BYTES);
    snprintf(u.log.origin, sizeof(u.log.origin), "%s", m->sender);
    snprintf(u.log.peer, sizeof(u.log.peer), "%s", m->log_peer);
    u.seq = m->seq;
    snprintf(u.sender, sizeof(u.sender), "%s", m->sender);
    u.created_at = m->created_at;
    if (p->kind_case == TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_UPDATE)
        u.action = p->need_update->action;
    else if (p->kind_case == TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER_UPDATE)
        u.action = p->offer_update->action;
    u.outcome = OUTCOME_NEW;
    u.body = body;
    u.body_len = body_len;
    if (store_board_update_put(s, &u) != 0)
        goto out;
    if (is_incremental && (u.kind == KIND_NEED_UPDATE || u.kind == KIND_OFFER_UPDATE) &&
        (ret = apply_in_order(&ap, root, &u)) != 0) {
        ret = ret < 0 ? -1 : 0;
        goto out;
    }
    ret = replay(&ap, root, m->id);
out:
    free(body);
    return ret;
}

/* ---- the poster's check --------------------------------------------------- */

/* An offer may answer only a need on this board, visible to the client,
 * that still wants offers, and may not be labelled below it. */
static int check_offer_need(struct store *s, uint32_t clearance, const Offer *o, struct verdict *v)
{
    struct store_board_need need;
    int rc;

    if (o->need_id.len == 0)
        return 1;
    if ((rc = store_board_need_get(s, o->need_id.data, &need)) < 0)
        return -1;
    if (rc == 1)
        free(need.need);
    if (rc == 0 || need.tlp > clearance)
        return refuse(v, BOARD_R_UNKNOWN_NEED, "the offer's need is not on this board");
    if (need.status != BOARD_NEED_OPEN && need.status != BOARD_NEED_PARTIALLY_COVERED)
        return refuse(v, BOARD_R_NEED_NOT_OPEN, "the need is no longer open for offers");
    return follows_referent(need.tlp, NULL, o->tlp, v) ? 1 : 0;
}

/* Forgets what a client of this clearance may not see, so that the rules
 * answer for it exactly as for an id the board does not hold: a need above
 * it, an offer above it or whose need is. */
static void hide_above(struct cluster *c, uint32_t clearance)
{
    bool is_need_hidden = c->has_need && c->need.tlp > clearance;

    for (size_t i = 0; i < c->n_offers; i++) {
        struct store_board_offer *o = &c->offers[i];
        bool is_hidden = o->tlp > clearance || (is_need_hidden && o->has_need &&
                                                memcmp(o->need_id, c->need.id, WIRE_ID_BYTES) == 0);
        if (!is_hidden)
            continue;
        free(o->offer);
        c->offers[i--] = c->offers[--c->n_offers];
    }
    if (is_need_hidden) {
        free(c->need.need);
        memset(&c->need, 0, sizeof(c->need));
        c->has_need = false;
    }
}

/* The board's current state around an update: the named need, or the
 * named offer and its need, as the store holds them. Returns 0 or -1. */
static int load_state(struct store *s, const uint8_t *need_id, const uint8_t *offer_id,
                      struct cluster *c)
{
    struct store_board_offer o;
    int rc;

    if (offer_id != NULL) {
        if ((rc = store_board_offer_get(s, offer_id, &o)) < 0)
            return -1;
        if (rc == 1 && cluster_add_offer(c, &o) != 0) {
            free(o.offer);
            return -1;
        }
        if (rc == 1 && o.has_need)
            need_id = c->offers[0].need_id;
    }
    if (need_id == NULL)
        return 0;
    if ((rc = store_board_need_get(s, need_id, &c->need)) < 0)
        return -1;
    c->has_need = rc == 1;
    return 0;
}

enum board_verdict board_check_post(struct store *s, const char *self, uint32_t clearance,
                                    const struct message *msg, char *reason, size_t reason_size)
{
    struct verdict v = {0};
    struct cluster c = {0};
    const Payload *p = msg->pb;
    const ProtobufCBinaryData *id;
    int rc = 0;

    if (!msg->is_payload || msg->kind == MESSAGE_NONE) {
        refuse(&v, BOARD_R_MALFORMED, "the payload is not a tmbus.payload.Payload");
        goto out;
    }
    if (!is_sound(msg, &v))
        goto out;
    switch (p->kind_case) {
    case TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER:
        rc = check_offer_need(s, clearance, p->offer, &v);
        break;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_UPDATE:
        id = &p->need_update->need_id;
        if ((rc = load_state(s, id->len == WIRE_ID_BYTES ? id->data : NULL, NULL, &c)) == 0) {
            hide_above(&c, clearance);
            rc = decide_need_update(&c, self, NULL, p->need_update, &v);
        }
        break;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER_UPDATE:
        id = &p->offer_update->offer_id;
        if ((rc = load_state(s, NULL, id->len == WIRE_ID_BYTES ? id->data : NULL, &c)) == 0) {
            hide_above(&c, clearance);
            rc = decide_offer_update(&c, self, NULL, p->offer_update, &v);
        }
        break;
    default:
        rc = 1;
        break;
    }
out:
    cluster_clear(&c);
    if (rc < 0) {
        snprintf(reason, reason_size, "the node's store failed");
        return BOARD_CHECK_ERROR;
    }
    if (rc == 1)
        return BOARD_CHECK_OK;
    snprintf(reason, reason_size, "%s", v.why);
    return reasons[v.reason].verdict;
}

/* ---- filters -------------------------------------------------------------- */

static uint32_t need_category(struct store *s, const uint8_t *need_id)
{
    struct store_board_need n;
    uint32_t category = 0;

    if (store_board_need_get(s, need_id, &n) == 1) {
        category = n.category;
        free(n.need);
    }
    return category;
}

static uint32_t offer_category(struct store *s, const uint8_t *offer_id)
{
    struct store_board_offer o;
    uint32_t category = 0;

    if (store_board_offer_get(s, offer_id, &o) == 1) {
        if (o.has_need)
            category = need_category(s, o.need_id);
        free(o.offer);
    }
    return category;
}

uint32_t board_category_of(struct store *s, const struct message *msg)
{
    const Payload *p = msg->pb;
    uint32_t category = 0;

    if (!msg->is_payload)
        return 0;
    switch (p->kind_case) {
    case TMBUS__PAYLOAD__PAYLOAD__KIND_NEED:
        category = p->need->category;
        break;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER:
        if (p->offer->need_id.len == WIRE_ID_BYTES)
            category = need_category(s, p->offer->need_id.data);
        break;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_UPDATE:
        if (p->need_update->need_id.len == WIRE_ID_BYTES)
            category = need_category(s, p->need_update->need_id.data);
        break;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER_UPDATE:
        if (p->offer_update->offer_id.len == WIRE_ID_BYTES)
            category = offer_category(s, p->offer_update->offer_id.data);
        break;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_SHARE:
        if (p->need_share->need != NULL)
            category = p->need_share->need->category;
        break;
    default:
        break;
    }
    return category;
}

/* ---- referents ------------------------------------------------------------ */

/* Finds the log the board message id travelled in, among the messages
 * filed in the cluster of root. */
struct log_search {
    const uint8_t *id;
    struct store_log log;
    bool is_found;
};

static int match_log(void *arg, const struct store_board_update *u)
{
    struct log_search *ls = arg;

    if (memcmp(u->id, ls->id, WIRE_ID_BYTES) != 0)
        return 0;
    ls->log = u->log;
    ls->is_found = true;
    return 1;
}

/* Copies the ends of the log id travelled in into out when it is direct.
 * Returns 1 when it is, 0 when not (or not recorded), -1 (store). */
static int direct_ends(struct store *s, const uint8_t *root, const uint8_t *id,
                       struct board_referent *out)
{
    struct log_search ls = {.id = id};
    int rc = store_board_each_in_cluster(s, root, match_log, &ls);

    if (rc < 0)
        return -1;
    if (!ls.is_found || ls.log.peer[0] == '\0')
        return 0;
    snprintf(out->origin, sizeof(out->origin), "%s", ls.log.origin);
    snprintf(out->peer, sizeof(out->peer), "%s", ls.log.peer);
    return 1;
}

/* Fills out for the need with id. Returns 0 or -1. */
static int need_referent(struct store *s, const uint8_t *id, struct board_referent *out)
{
    struct store_board_need n;
    int rc;

    if ((rc = store_board_need_get(s, id, &n)) <= 0)
        return rc;
    free(n.need);
    out->is_held = true;
    out->tlp = n.tlp;
    out->is_red = n.tlp == MESSAGE_TLP_RED;
    if (out->is_red && direct_ends(s, id, id, out) < 0)
        return -1;
    return 0;
}

/* Fills out for the offer with id: its label and its need's, whichever is
 * higher; the direct log is the offer's own when it has one. */
static int offer_referent(struct store *s, const uint8_t *id, struct board_referent *out)
{
    struct store_board_offer o;
    struct board_referent need = {0};
    int rc;

    if ((rc = store_board_offer_get(s, id, &o)) <= 0)
        return rc;
    free(o.offer);
    if (o.has_need && need_referent(s, o.need_id, &need) != 0)
        return -1;
    out->is_held = true;
    out->tlp = need.tlp > o.tlp ? need.tlp : o.tlp;
    out->is_red = out->tlp == MESSAGE_TLP_RED;
    if (!out->is_red)
        return 0;
    if ((rc = direct_ends(s, o.has_need ? o.need_id : id, id, out)) != 0)
        return rc < 0 ? -1 : 0;
    snprintf(out->origin, sizeof(out->origin), "%s", need.origin);
    snprintf(out->peer, sizeof(out->peer), "%s", need.peer);
    return 0;
}

int board_referent_of(struct store *s, const struct message *msg, struct board_referent *out)
{
    bool is_offer;
    const uint8_t *id;

    memset(out, 0, sizeof(*out));
    if ((id = message_referent(msg, &is_offer)) == NULL)
        return 0;
    return is_offer ? offer_referent(s, id, out) : need_referent(s, id, out);
}

int board_label_of(struct store *s, const uint8_t *id, uint32_t *tlp)
{
    struct board_referent r = {0};

    *tlp = 0;
    if (need_referent(s, id, &r) != 0)
        return -1;
    if (!r.is_held && offer_referent(s, id, &r) != 0)
        return -1;
    *tlp = r.tlp;
    return 0;
}

/* ---- upgrade ---------------------------------------------------------------- */

/* A page of needs to rewrite, copied out of the store's page. */
struct upgrade_page {
    struct store_board_need *v;
    size_t n;
};

static int keep_for_upgrade(void *arg, const struct store_board_need *n)
{
    struct upgrade_page *p = arg;
    struct store_board_need *c = &p->v[p->n];

    *c = *n;
    if ((c->need = malloc(n->need_len ? n->need_len : 1)) == NULL) {
        log_warn("board: malloc");
        return -1;
    }
    if (n->need_len > 0)
        memcpy(c->need, n->need, n->need_len);
    p->n++;
    return 0;
}

/* Puts the need or offer with id back with its facts read from its blob. */
static int fill_one(struct store *s, bool is_offers, const uint8_t *id)
{
    struct store_board_need n;
    struct store_board_offer o;
    int rc;

    if (is_offers) {
        Offer *d;
        if ((rc = store_board_offer_get(s, id, &o)) != 1)
            return rc;
        if ((d = tmbus__payload__offer__unpack(NULL, o.offer_len, o.offer)) != NULL) {
            o.value_cents = d->value_cents;
            tmbus__payload__offer__free_unpacked(d, NULL);
        } else {
            log_warnx("board: a stored offer no longer decodes; its value counts as 0");
        }
        rc = store_board_offer_put(s, &o);
        free(o.offer);
    } else {
        Need *d;
        if ((rc = store_board_need_get(s, id, &n)) != 1)
            return rc;
        if ((d = tmbus__payload__need__unpack(NULL, n.need_len, n.need)) != NULL) {
            need_facts(&n, d);
            tmbus__payload__need__free_unpacked(d, NULL);
        } else {
            log_warnx("board: a stored need no longer decodes; its value counts as 0");
        }
        rc = store_board_need_put(s, &n);
        free(n.need);
    }
    return rc;
}

/* Fills the facts of every need or offer written before schema 13, a
 * batch at a time. */
static int fill_facts(struct store *s, bool is_offers, uint64_t *done)
{
    enum { CHUNK = 256 };
    uint8_t(*ids)[WIRE_ID_BYTES] = malloc(CHUNK * sizeof(*ids));
    uint8_t after[WIRE_ID_BYTES];
    bool has_after = false;
    size_t n;
    int ret = -1;

    if (ids == NULL) {
        log_warn("board: malloc");
        return -1;
    }
    for (;;) {
        if (store_board_unfilled(s, is_offers, has_after ? after : NULL, ids, CHUNK, &n) != 0)
            goto out;
        if (n == 0)
            break;
        if (store_begin(s) != 0)
            goto out;
        for (size_t i = 0; i < n; i++) {
            if (fill_one(s, is_offers, ids[i]) != 0) {
                store_rollback(s);
                goto out;
            }
        }
        if (store_commit(s) != 0)
            goto out;
        memcpy(after, ids[n - 1], WIRE_ID_BYTES);
        has_after = true;
        *done += n;
    }
    ret = 0;
out:
    free(ids);
    return ret;
}

int board_upgrade(struct store *s)
{
    static const uint32_t unset[] = {0};
    struct store_board_filter f = {.clearance = UINT32_MAX,
                                   .need_status = -1,
                                   .priorities = unset,
                                   .n_priorities = 1,
                                   .limit = 256};
    struct upgrade_page p = {.v = calloc(256, sizeof(*p.v))};
    uint8_t after[WIRE_ID_BYTES];
    uint64_t done = 0;
    bool is_rebuilt;
    int ret = -1;

    if (p.v == NULL) {
        log_warn("board: calloc");
        return -1;
    }
    for (;;) {
        size_t n;
        p.n = 0;
        if (store_board_page_needs(s, &f, keep_for_upgrade, &p) != 0 || store_begin(s) != 0)
            goto out;
        for (size_t i = 0; i < p.n; i++) {
            Need *d = tmbus__payload__need__unpack(NULL, p.v[i].need_len, p.v[i].need);
            if (d != NULL && d->priority != 0) {
                p.v[i].priority = d->priority;
                if (store_board_need_put(s, &p.v[i]) != 0) {
                    tmbus__payload__need__free_unpacked(d, NULL);
                    store_rollback(s);
                    goto out;
                }
                done++;
            }
            if (d != NULL)
                tmbus__payload__need__free_unpacked(d, NULL);
        }
        if (store_commit(s) != 0)
            goto out;
        n = p.n;
        if (n > 0)
            memcpy(after, p.v[n - 1].id, WIRE_ID_BYTES);
        for (size_t i = 0; i < n; i++)
            free(p.v[i].need);
        p.n = 0;
        if (n < f.limit)
            break;
        f.after = after;
    }
    if (done > 0)
        log_info("board: %llu needs written before schema 9 now carry their priority",
                 (unsigned long long)done);
    done = 0;
    if (fill_facts(s, false, &done) != 0 || fill_facts(s, true, &done) != 0)
        goto out;
    if (done > 0)
        log_info("board: %llu needs and offers written before schema 13 now carry their"
                 " report's facts in clear",
                 (unsigned long long)done);
    /* After the fills: their puts change no row the digest covers. */
    if (store_begin(s) != 0)
        goto out;
    if (store_board_digest_rebuild(s, &is_rebuilt) != 0) {
        store_rollback(s);
        goto out;
    }
    if (store_commit(s) != 0)
        goto out;
    if (is_rebuilt)
        log_info("board: digest of a board written before schema 11 computed");
    ret = 0;
out:
    for (size_t i = 0; i < p.n; i++)
        free(p.v[i].need);
    free(p.v);
    return ret;
}
