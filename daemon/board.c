/*
 * board: the need/offer state machine (DESIGN §5) over the store's board
 * tables. One set of rules, decide_*(), serves both the poster's check
 * before sealing (board_check_post) and every node's application of what it
 * can read (board_apply), so a post the poster's node accepts is applied the
 * same way everywhere that reads it. Sees protobuf payload types, never SQL;
 * never logs payload text.
 *
 * Version 0 — what is missing for the full board (a later issue):
 *   - Order independence. Updates apply in arrival order; an update that
 *     names an object not seen yet waits and is applied when it arrives,
 *     but two updates about one object that reach two nodes in different
 *     orders (say a donor's withdraw crossing the owner's accept) can still
 *     leave the nodes with different boards. The full machine re-applies
 *     every update of an object in a canonical order — by its place in its
 *     origin's log, ties between logs broken by (created_at, origin, seq) —
 *     and is tested with shuffled-order digests. Every update is kept with
 *     its (origin, peer, seq) and body (board_updates) for exactly that.
 *   - Receiving nodes do not check the sender's roster role (the poster's
 *     api does) nor whether an offer's need was still open when it arrived.
 *   - A TLP:RED post to several members is one envelope per recipient; the
 *     poster's board holds one need per envelope id.
 *   - An edit replaces only fields given non-empty / non-zero values.
 */
#include "board.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "payload.pb-c.h"
#include "util.h"

typedef Tmbus__Payload__Payload Payload;
typedef Tmbus__Payload__Need Need;
typedef Tmbus__Payload__Offer Offer;
typedef Tmbus__Payload__NeedUpdate NeedUpdate;
typedef Tmbus__Payload__OfferUpdate OfferUpdate;

#define DATE_LEN 10 /* "YYYY-MM-DD" */

/* The kinds of update the store keeps (codes of board_updates.kind). */
enum update_kind { KIND_NEED_UPDATE = 1, KIND_OFFER_UPDATE = 2 };

/* Outcome codes of board_updates: 0 applied, a board_reason when
 * rejected, OUTCOME_WAITING while its object is unknown. */
#define OUTCOME_APPLIED 0
#define OUTCOME_WAITING (-1)

static const char *const need_status_names[] = {
    [BOARD_NEED_OPEN] = "open",           [BOARD_NEED_PARTIALLY_COVERED] = "partially_covered",
    [BOARD_NEED_COVERED] = "covered",     [BOARD_NEED_CLOSED] = "closed",
    [BOARD_NEED_WITHDRAWN] = "withdrawn",
};

static const char *const offer_status_names[] = {
    [BOARD_OFFER_PROPOSED] = "proposed",   [BOARD_OFFER_ACCEPTED] = "accepted",
    [BOARD_OFFER_DECLINED] = "declined",   [BOARD_OFFER_DELIVERED] = "delivered",
    [BOARD_OFFER_CONFIRMED] = "confirmed", [BOARD_OFFER_WITHDRAWN] = "withdrawn",
};

/* Per reason: its name, its counter (a static string, as node_count
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
};

const char *board_need_status_name(int status)
{
    if (status < BOARD_NEED_OPEN || status > BOARD_NEED_WITHDRAWN)
        return "unknown";
    return need_status_names[status];
}

const char *board_offer_status_name(int status)
{
    if (status < BOARD_OFFER_PROPOSED || status > BOARD_OFFER_WITHDRAWN)
        return "unknown";
    return offer_status_names[status];
}

const char *board_reason_name(enum board_reason r)
{
    return (unsigned)r < BOARD_R_COUNT ? reasons[r].name : "unknown";
}

int board_need_status_parse(const char *name)
{
    for (int i = BOARD_NEED_OPEN; i <= BOARD_NEED_WITHDRAWN; i++)
        if (strcmp(name, need_status_names[i]) == 0)
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

/* ---- field checks -------------------------------------------------------- */

/* What a decision found: a reason and a one-line explanation, or that the
 * object it needs is not known yet. */
struct verdict {
    enum board_reason reason;
    const char *why;
    bool is_waiting;
    uint8_t awaits[BOARD_ID_BYTES];
};

static bool refuse(struct verdict *v, enum board_reason r, const char *why)
{
    v->reason = r;
    v->why = why;
    return false;
}

static bool wait_for(struct verdict *v, const uint8_t *id, enum board_reason r, const char *why)
{
    v->is_waiting = true;
    memcpy(v->awaits, id, BOARD_ID_BYTES);
    return refuse(v, r, why);
}

static bool is_text(const char *s, size_t min, size_t max, bool is_one_line)
{
    size_t n = s != NULL ? strnlen(s, max + 1) : 0;

    if (n < min || n > max)
        return false;
    return !is_one_line || (strchr(s, '\n') == NULL && strchr(s, '\r') == NULL);
}

/* Empty, or a real day "YYYY-MM-DD". */
static bool is_date(const char *s)
{
    int64_t t;

    if (s == NULL || *s == '\0')
        return true;
    return strlen(s) == DATE_LEN && util_parse_utc(s, &t) == 0;
}

static bool is_tlp(int tlp)
{
    return tlp >= TMBUS__PAYLOAD__TLP__TLP_CLEAR && tlp <= TMBUS__PAYLOAD__TLP__TLP_RED;
}

static bool has_unknown(const ProtobufCMessage *m)
{
    return m != NULL && m->n_unknown_fields > 0;
}

static bool check_need(const Need *n, struct verdict *v)
{
    if (has_unknown(&n->base))
        return refuse(v, BOARD_R_MALFORMED, "the need has fields this node does not know");
    if (n->sector <= TMBUS__PAYLOAD__SECTOR__SECTOR_UNSPECIFIED ||
        n->sector > TMBUS__PAYLOAD__SECTOR__SECTOR_OTHER)
        return refuse(v, BOARD_R_BAD_FIELD, "the need's sector is missing or unknown");
    if (n->category <= TMBUS__PAYLOAD__CATEGORY__CATEGORY_UNSPECIFIED ||
        n->category > TMBUS__PAYLOAD__CATEGORY__CATEGORY_OTHER)
        return refuse(v, BOARD_R_BAD_FIELD, "the need's category is missing or unknown");
    if (n->priority <= TMBUS__PAYLOAD__PRIORITY__PRIORITY_UNSPECIFIED ||
        n->priority > TMBUS__PAYLOAD__PRIORITY__PRIORITY_LOW)
        return refuse(v, BOARD_R_BAD_FIELD, "the need's priority is missing or unknown");
    if (!is_tlp(n->tlp))
        return refuse(v, BOARD_R_BAD_FIELD, "the need's TLP is missing or unknown");
    if (n->quantity == 0 || n->quantity > INT64_MAX)
        return refuse(v, BOARD_R_BAD_FIELD, "the need's quantity must be positive");
    if (n->value_cents > INT64_MAX)
        return refuse(v, BOARD_R_BAD_FIELD, "the need's value is out of range");
    if (!is_text(n->title, 1, BOARD_TITLE_MAX, true))
        return refuse(v, BOARD_R_BAD_FIELD, "the need's title must be one line of 1 to 200 bytes");
    if (!is_text(n->description, 0, BOARD_DESCRIPTION_MAX, false))
        return refuse(v, BOARD_R_BAD_FIELD, "the need's description is longer than 8 KiB");
    if (!is_text(n->beneficiary, 0, BOARD_NAME_MAX, true) ||
        !is_text(n->contact, 0, BOARD_NAME_MAX, true))
        return refuse(v, BOARD_R_BAD_FIELD,
                      "the need's beneficiary or contact is not one line of at most 256 bytes");
    if (!is_text(n->unit, 0, BOARD_UNIT_MAX, true))
        return refuse(v, BOARD_R_BAD_FIELD, "the need's unit is not one line of at most 64 bytes");
    if (!is_date(n->deadline))
        return refuse(v, BOARD_R_BAD_FIELD, "the need's deadline is not a real YYYY-MM-DD day");
    return true;
}

static bool check_offer(const Offer *o, struct verdict *v)
{
    if (has_unknown(&o->base))
        return refuse(v, BOARD_R_MALFORMED, "the offer has fields this node does not know");
    if (o->need_id.len != 0 && o->need_id.len != BOARD_ID_BYTES)
        return refuse(v, BOARD_R_BAD_FIELD, "the offer's need id must be empty or 32 bytes");
    if (!is_tlp(o->tlp))
        return refuse(v, BOARD_R_BAD_FIELD, "the offer's TLP is missing or unknown");
    if (o->quantity == 0 || o->quantity > INT64_MAX)
        return refuse(v, BOARD_R_BAD_FIELD, "the offer's quantity must be positive");
    if (o->value_cents > INT64_MAX)
        return refuse(v, BOARD_R_BAD_FIELD, "the offer's value is out of range");
    if (!is_text(o->description, 0, BOARD_DESCRIPTION_MAX, false))
        return refuse(v, BOARD_R_BAD_FIELD, "the offer's description is longer than 8 KiB");
    if (!is_text(o->conditions, 0, BOARD_CONDITIONS_MAX, false))
        return refuse(v, BOARD_R_BAD_FIELD, "the offer's conditions are longer than 2 KiB");
    if (!is_date(o->delivery_date))
        return refuse(v, BOARD_R_BAD_FIELD,
                      "the offer's delivery date is not a real YYYY-MM-DD day");
    return true;
}

/* The label an object is handled under: its own, but anything that
 * travelled in a direct log is TLP:RED whatever it says. */
static uint32_t effective_tlp(uint32_t label, const char *log_peer)
{
    return log_peer != NULL && log_peer[0] != '\0' ? TMBUS__PAYLOAD__TLP__TLP_RED : label;
}

/* ---- decisions ----------------------------------------------------------- */

/*
 * Each decide_*() reads the board, applies the rules and, when they allow
 * the change, fills the record to write; it writes nothing. Returns 1 when
 * allowed, 0 when refused or waiting (v says which and why), -1 when the
 * store failed. Records it fills own their blobs (freed by the caller).
 */

/* An edit: the stored need with every field the edit gives a non-empty or
 * non-zero value replaced. Packs the result into rec->need. */
static int merge_edit(struct store_board_need *rec, const Need *edit, struct verdict *v)
{
    Need *old = tmbus__payload__need__unpack(NULL, rec->need_len, rec->need);
    Need m = TMBUS__PAYLOAD__NEED__INIT;
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
    if (!check_need(&m, v)) {
        ret = 0;
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
    rec->quantity = m.quantity;
    ret = 1;
out:
    tmbus__payload__need__free_unpacked(old, NULL);
    return ret;
}

static int decide_need_update(struct store *s, const char *sender, const char *log_peer,
                              const NeedUpdate *u, struct store_board_need *rec, struct verdict *v)
{
    int rc;

    if (has_unknown(&u->base) || (u->need != NULL && has_unknown(&u->need->base)))
        return refuse(v, BOARD_R_MALFORMED, "the update has fields this node does not know");
    if (u->need_id.len != BOARD_ID_BYTES)
        return refuse(v, BOARD_R_BAD_FIELD, "a need update must name a 32-byte need id");
    if (u->action <= TMBUS__PAYLOAD__NEED_UPDATE__ACTION__ACTION_UNSPECIFIED ||
        u->action > TMBUS__PAYLOAD__NEED_UPDATE__ACTION__ACTION_WITHDRAW)
        return refuse(v, BOARD_R_BAD_FIELD, "the need update's action is missing or unknown");
    if (u->action == TMBUS__PAYLOAD__NEED_UPDATE__ACTION__ACTION_EDIT && u->need == NULL)
        return refuse(v, BOARD_R_BAD_FIELD, "an edit must carry the new field values");
    if (!is_text(u->reason, 0, BOARD_REASON_MAX, true))
        return refuse(v, BOARD_R_BAD_FIELD, "the reason is not one line of at most 1 KiB");
    if ((rc = store_board_need_get(s, u->need_id.data, rec)) != 1)
        return rc < 0 ? -1 : wait_for(v, u->need_id.data, BOARD_R_UNKNOWN_NEED, "no such need");
    if (strcmp(rec->owner, sender) != 0)
        return refuse(v, BOARD_R_NOT_OWNER, "only the need's owner may edit, close or withdraw it");
    if (is_final(rec->status))
        return refuse(v, BOARD_R_NEED_FINAL, "the need is already closed or withdrawn");
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

static int decide_offer_update(struct store *s, const char *sender, const OfferUpdate *u,
                               struct store_board_offer *rec, struct verdict *v)
{
    struct store_board_need need;
    int rc, to;

    if (has_unknown(&u->base))
        return refuse(v, BOARD_R_MALFORMED, "the update has fields this node does not know");
    if (u->offer_id.len != BOARD_ID_BYTES)
        return refuse(v, BOARD_R_BAD_FIELD, "an offer update must name a 32-byte offer id");
    if (u->action <= TMBUS__PAYLOAD__OFFER_UPDATE__ACTION__ACTION_UNSPECIFIED ||
        u->action > TMBUS__PAYLOAD__OFFER_UPDATE__ACTION__ACTION_WITHDRAW)
        return refuse(v, BOARD_R_BAD_FIELD, "the offer update's action is missing or unknown");
    if (!is_text(u->reason, 0, BOARD_REASON_MAX, true))
        return refuse(v, BOARD_R_BAD_FIELD, "the reason is not one line of at most 1 KiB");
    if ((rc = store_board_offer_get(s, u->offer_id.data, rec)) != 1)
        return rc < 0 ? -1 : wait_for(v, u->offer_id.data, BOARD_R_UNKNOWN_OFFER, "no such offer");
    if (is_owners_action(u->action)) {
        if (!rec->has_need)
            return refuse(v, BOARD_R_CATALOGUE,
                          "a catalogue offer answers no need: nobody accepts or confirms it");
        if ((rc = store_board_need_get(s, rec->need_id, &need)) != 1)
            return rc < 0 ? -1
                          : wait_for(v, rec->need_id, BOARD_R_UNKNOWN_NEED,
                                     "the offer's need is not on this board");
        rc = strcmp(need.owner, sender) == 0;
        free(need.need);
        if (!rc)
            return refuse(v, BOARD_R_NOT_OWNER,
                          "only the need's owner may accept, decline or confirm its offers");
        if (is_final(need.status) &&
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

static int add_offer(void *arg, const struct store_board_offer *o)
{
    struct sums *sum = arg;

    /* Quantities are at most INT64_MAX each; saturate rather than wrap. */
    if (o->status == BOARD_OFFER_ACCEPTED || o->status == BOARD_OFFER_DELIVERED ||
        o->status == BOARD_OFFER_CONFIRMED)
        sum->accepted =
            sum->accepted > INT64_MAX - o->quantity ? INT64_MAX : sum->accepted + o->quantity;
    if (o->status == BOARD_OFFER_CONFIRMED)
        sum->delivered =
            sum->delivered > INT64_MAX - o->quantity ? INT64_MAX : sum->delivered + o->quantity;
    return 0;
}

/* Coverage is derived: the accepted quantity of a need's offers against
 * the quantity it asks for. A closed or withdrawn need keeps its status. */
static void derive(struct store_board_need *n, const struct sums *sum)
{
    n->accepted_quantity = sum->accepted;
    n->delivered_quantity = sum->delivered;
    if (is_final(n->status))
        return;
    if (sum->accepted == 0)
        n->status = BOARD_NEED_OPEN;
    else if (sum->accepted < n->quantity)
        n->status = BOARD_NEED_PARTIALLY_COVERED;
    else
        n->status = BOARD_NEED_COVERED;
}

/* Recomputes and writes rec (a need about to be stored). */
static int put_need(struct store *s, struct store_board_need *rec)
{
    struct sums sum = {0};

    if (store_board_each_offer(s, rec->id, add_offer, &sum) != 0)
        return -1;
    derive(rec, &sum);
    return store_board_need_put(s, rec);
}

/* After an offer changed: its need's coverage, when the need is known. */
static int recompute(struct store *s, const uint8_t *need_id)
{
    struct store_board_need rec;
    int rc;

    if ((rc = store_board_need_get(s, need_id, &rec)) != 1)
        return rc;
    rc = put_need(s, &rec);
    free(rec.need);
    return rc;
}

static int replay(const struct apply *ap, const uint8_t *id);

/* Records an update with its outcome, then (when applied) writes what it
 * changed. Returns 0 or -1. */
static int record_update(const struct apply *ap, const struct board_msg *m, int kind, int action,
                         const uint8_t *target, const uint8_t *body, size_t body_len,
                         const struct verdict *v, bool is_applied)
{
    struct store_board_update u = {0};

    memcpy(u.id, m->id, BOARD_ID_BYTES);
    snprintf(u.log.origin, sizeof(u.log.origin), "%s", m->sender);
    snprintf(u.log.peer, sizeof(u.log.peer), "%s", m->log_peer);
    u.seq = m->seq;
    snprintf(u.sender, sizeof(u.sender), "%s", m->sender);
    u.created_at = m->created_at;
    u.kind = kind;
    u.action = action;
    memcpy(u.target, target, BOARD_ID_BYTES);
    u.outcome = is_applied ? OUTCOME_APPLIED : v->is_waiting ? OUTCOME_WAITING : (int)v->reason;
    u.is_waiting = !is_applied && v->is_waiting;
    if (u.is_waiting)
        memcpy(u.awaits, v->awaits, BOARD_ID_BYTES);
    u.body = (uint8_t *)(uintptr_t)body;
    u.body_len = body_len;
    return store_board_update_put(ap->s, &u);
}

/* Not yet decidable, or refused: record it, log and count once. */
static int settle(const struct apply *ap, const struct board_msg *m, const char *what,
                  const struct verdict *v, bool is_replay)
{
    if (v->is_waiting) {
        char hex[17];
        if (!is_replay)
            count(ap, "board.waiting");
        log_debug("board: %s %s from %s waits for %s", what, short_id(m->id, hex), m->sender,
                  v->why);
        return 0;
    }
    rejected(ap, m, what, v);
    return 0;
}

static int apply_need_update(const struct apply *ap, const struct board_msg *m, const NeedUpdate *u,
                             const uint8_t *body, size_t body_len, bool is_replay)
{
    struct store_board_need rec = {0};
    struct verdict v = {0};
    static const uint8_t none[BOARD_ID_BYTES];
    int rc, ret = -1;

    if ((rc = decide_need_update(ap->s, m->sender, m->log_peer, u, &rec, &v)) < 0)
        goto out;
    if (record_update(ap, m, KIND_NEED_UPDATE, u->action,
                      u->need_id.len == BOARD_ID_BYTES ? u->need_id.data : none, body, body_len, &v,
                      rc == 1) != 0)
        goto out;
    if (rc == 0) {
        ret = settle(ap, m, "need update", &v, is_replay);
        goto out;
    }
    if (put_need(ap->s, &rec) != 0)
        goto out;
    count(ap, "board.applied");
    ret = 0;
out:
    free(rec.need);
    return ret;
}

static int apply_offer_update(const struct apply *ap, const struct board_msg *m,
                              const OfferUpdate *u, const uint8_t *body, size_t body_len,
                              bool is_replay)
{
    struct store_board_offer rec = {0};
    struct verdict v = {0};
    static const uint8_t none[BOARD_ID_BYTES];
    int rc, ret = -1;

    if ((rc = decide_offer_update(ap->s, m->sender, u, &rec, &v)) < 0)
        goto out;
    if (record_update(ap, m, KIND_OFFER_UPDATE, u->action,
                      u->offer_id.len == BOARD_ID_BYTES ? u->offer_id.data : none, body, body_len,
                      &v, rc == 1) != 0)
        goto out;
    if (rc == 0) {
        ret = settle(ap, m, "offer update", &v, is_replay);
        goto out;
    }
    if (store_board_offer_put(ap->s, &rec) != 0 ||
        (rec.has_need && recompute(ap->s, rec.need_id) < 0))
        goto out;
    count(ap, "board.applied");
    ret = 0;
out:
    free(rec.offer);
    return ret;
}

static int apply_need(const struct apply *ap, const struct board_msg *m, const Need *n,
                      const uint8_t *body, size_t body_len)
{
    struct store_board_need rec = {0};
    struct verdict v = {0};

    if (!check_need(n, &v)) {
        rejected(ap, m, "need", &v);
        return 0;
    }
    memcpy(rec.id, m->id, BOARD_ID_BYTES);
    snprintf(rec.owner, sizeof(rec.owner), "%s", m->sender);
    rec.created_at = m->created_at;
    rec.status = BOARD_NEED_OPEN;
    rec.tlp = effective_tlp(n->tlp, m->log_peer);
    rec.category = n->category;
    rec.quantity = n->quantity;
    rec.need = (uint8_t *)(uintptr_t)body;
    rec.need_len = body_len;
    if (put_need(ap->s, &rec) != 0)
        return -1;
    count(ap, "board.applied");
    return replay(ap, m->id);
}

static int apply_offer(const struct apply *ap, const struct board_msg *m, const Offer *o,
                       const uint8_t *body, size_t body_len)
{
    struct store_board_offer rec = {0};
    struct verdict v = {0};

    if (!check_offer(o, &v)) {
        rejected(ap, m, "offer", &v);
        return 0;
    }
    memcpy(rec.id, m->id, BOARD_ID_BYTES);
    snprintf(rec.donor, sizeof(rec.donor), "%s", m->sender);
    rec.created_at = m->created_at;
    rec.has_need = o->need_id.len == BOARD_ID_BYTES;
    if (rec.has_need)
        memcpy(rec.need_id, o->need_id.data, BOARD_ID_BYTES);
    rec.status = BOARD_OFFER_PROPOSED;
    rec.tlp = effective_tlp(o->tlp, m->log_peer);
    rec.quantity = o->quantity;
    rec.offer = (uint8_t *)(uintptr_t)body;
    rec.offer_len = body_len;
    if (store_board_offer_put(ap->s, &rec) != 0)
        return -1;
    count(ap, "board.applied");
    return replay(ap, m->id);
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

/* Applies the updates that waited for the object id, now that it arrived,
 * in the order they were recorded. */
static int replay_one(void *arg, const struct store_board_update *u)
{
    const struct apply *ap = arg;
    struct board_msg m = {u->id, u->sender, u->log.peer, u->seq, u->created_at};
    int ret = -1;

    if (u->kind == KIND_NEED_UPDATE) {
        NeedUpdate *nu = tmbus__payload__need_update__unpack(NULL, u->body_len, u->body);
        if (nu != NULL) {
            ret = apply_need_update(ap, &m, nu, u->body, u->body_len, true);
            tmbus__payload__need_update__free_unpacked(nu, NULL);
        }
    } else if (u->kind == KIND_OFFER_UPDATE) {
        OfferUpdate *ou = tmbus__payload__offer_update__unpack(NULL, u->body_len, u->body);
        if (ou != NULL) {
            ret = apply_offer_update(ap, &m, ou, u->body, u->body_len, true);
            tmbus__payload__offer_update__free_unpacked(ou, NULL);
        }
    }
    if (ret != 0)
        log_warnx("board: a waiting update no longer decodes or applies");
    return ret;
}

static int replay(const struct apply *ap, const uint8_t *id)
{
    return store_board_each_waiting(ap->s, id, replay_one, (void *)(uintptr_t)ap);
}

int board_apply(struct store *s, const struct board_msg *m, const uint8_t *payload, size_t len,
                board_count_fn count_fn, void *arg)
{
    struct apply ap = {s, count_fn, arg};
    Payload *p;
    const ProtobufCMessage *part = NULL;
    uint8_t *body = NULL;
    size_t body_len = 0;
    struct verdict v = {0};
    int rc, ret = -1;

    if ((rc = store_board_knows(s, m->id)) != 0)
        return rc < 0 ? -1 : 0;
    p = tmbus__payload__payload__unpack(NULL, len, payload);
    if (p == NULL || p->kind_case == TMBUS__PAYLOAD__PAYLOAD__KIND__NOT_SET ||
        has_unknown(&p->base)) {
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
    default: /* a receipt is about delivery, not about the board */
        ret = 0;
        goto out;
    }
    if ((body = pack_part(part, &body_len)) == NULL)
        goto out;
    switch (p->kind_case) {
    case TMBUS__PAYLOAD__PAYLOAD__KIND_NEED:
        ret = apply_need(&ap, m, p->need, body, body_len);
        break;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER:
        ret = apply_offer(&ap, m, p->offer, body, body_len);
        break;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_UPDATE:
        ret = apply_need_update(&ap, m, p->need_update, body, body_len, false);
        break;
    default:
        ret = apply_offer_update(&ap, m, p->offer_update, body, body_len, false);
        break;
    }
out:
    free(body);
    if (p != NULL)
        tmbus__payload__payload__free_unpacked(p, NULL);
    return ret;
}

/* ---- the poster's check --------------------------------------------------- */

/* An offer may answer only a need on this board that still wants offers. */
static int check_offer_need(struct store *s, const Offer *o, struct verdict *v)
{
    struct store_board_need need;
    int rc;

    if (o->need_id.len == 0)
        return 1;
    if ((rc = store_board_need_get(s, o->need_id.data, &need)) != 1)
        return rc < 0 ? -1
                      : refuse(v, BOARD_R_UNKNOWN_NEED, "the offer's need is not on this board");
    free(need.need);
    if (need.status != BOARD_NEED_OPEN && need.status != BOARD_NEED_PARTIALLY_COVERED)
        return refuse(v, BOARD_R_NEED_NOT_OPEN, "the need is no longer open for offers");
    return 1;
}

enum board_verdict board_check_post(struct store *s, const char *self, const uint8_t *payload,
                                    size_t len, const char **reason)
{
    struct verdict v = {0};
    Payload *p = tmbus__payload__payload__unpack(NULL, len, payload);
    int rc = 0;

    if (p == NULL || p->kind_case == TMBUS__PAYLOAD__PAYLOAD__KIND__NOT_SET ||
        has_unknown(&p->base)) {
        refuse(&v, BOARD_R_MALFORMED, "the payload is not a tmbus.payload.Payload");
        goto out;
    }
    switch (p->kind_case) {
    case TMBUS__PAYLOAD__PAYLOAD__KIND_NEED:
        rc = check_need(p->need, &v);
        break;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER:
        rc = check_offer(p->offer, &v) ? check_offer_need(s, p->offer, &v) : 0;
        break;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_UPDATE: {
        struct store_board_need rec = {0};
        rc = decide_need_update(s, self, "", p->need_update, &rec, &v);
        free(rec.need);
        break;
    }
    case TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER_UPDATE: {
        struct store_board_offer rec = {0};
        rc = decide_offer_update(s, self, p->offer_update, &rec, &v);
        free(rec.offer);
        break;
    }
    default:
        rc = 1;
        break;
    }
out:
    if (p != NULL)
        tmbus__payload__payload__free_unpacked(p, NULL);
    if (rc < 0) {
        *reason = "the node's store failed";
        return BOARD_CHECK_ERROR;
    }
    if (rc == 1)
        return BOARD_CHECK_OK;
    *reason = v.why;
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

uint32_t board_category_of(struct store *s, const uint8_t *payload, size_t len)
{
    Payload *p = tmbus__payload__payload__unpack(NULL, len, payload);
    uint32_t category = 0;

    if (p == NULL)
        return 0;
    switch (p->kind_case) {
    case TMBUS__PAYLOAD__PAYLOAD__KIND_NEED:
        category = p->need->category;
        break;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER:
        if (p->offer->need_id.len == BOARD_ID_BYTES)
            category = need_category(s, p->offer->need_id.data);
        break;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_UPDATE:
        if (p->need_update->need_id.len == BOARD_ID_BYTES)
            category = need_category(s, p->need_update->need_id.data);
        break;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER_UPDATE:
        if (p->offer_update->offer_id.len == BOARD_ID_BYTES)
            category = offer_category(s, p->offer_update->offer_id.data);
        break;
    default:
        break;
    }
    tmbus__payload__payload__free_unpacked(p, NULL);
    return category;
}
