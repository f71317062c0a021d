/*
 * route: holds the two paths every envelope takes into the store:
 * route_post for our own messages and route_accept for what peers relay.
 * Both feed the board what they can read, in the same batch as the
 * envelope; route_post records each recipient's delivery state, and
 * route_accept answers every envelope addressed to us with a receipt entry
 * (never a receipt with a receipt), sealed one receipt per sender in the
 * direct log to that sender when the round ends (relays never see who
 * answered what), and records the receipts it gets. It works only on
 * what it was handed; the batch it opens is committed by its owner.
 */
#include "route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "board.h"
#include "log.h"
#include "message.h"
#include "receipt.h"

#define ROUTE_LOG_LIMIT_MS 10000 /* at most one line this often about ignored receipts */

_Static_assert(RECEIPT_PENDING == STORE_DELIVERY_PENDING,
               "the store's pending delivery state is the receipt module's");
_Static_assert(RECEIPT_MAX_BYTES <= ENVELOPE_MAX_PAYLOAD,
               "a receipt of RECEIPT_MAX_ENTRIES entries fits in one envelope");

#define BOARD_REJECTED_PREFIX "board.rejected." /* board_apply's rejection counters */

/* Bodies opened on accept and kept for the push that follows the commit:
 * at most this many entries and this many payload bytes in memory. */
#define OPENED_SLOTS     2048
#define OPENED_MAX_BYTES (4u * 1024 * 1024)

/* Counter names are static strings: envelope statuses and replication
 * reasons map onto these tables. */
static const char *const rejected_names[ENVELOPE_STATUS_COUNT] = {
    [ENVELOPE_OK] = "rejected.none",
    [ENVELOPE_E_SIZE] = "rejected.too-large",
    [ENVELOPE_E_MALFORMED] = "rejected.malformed",
    [ENVELOPE_E_FIELD] = "rejected.bad-field",
    [ENVELOPE_E_VERSION] = "rejected.bad-version",
    [ENVELOPE_E_COALITION] = "rejected.wrong-coalition",
    [ENVELOPE_E_SENDER] = "rejected.unknown-sender",
    [ENVELOPE_E_SIGNATURE] = "rejected.bad-signature",
    [ENVELOPE_E_NOT_RECIPIENT] = "rejected.not-recipient",
    [ENVELOPE_E_COMMITMENT] = "rejected.bad-key-commitment",
    [ENVELOPE_E_DECRYPT] = "rejected.decrypt-failed",
    [ENVELOPE_E_PADDING] = "rejected.bad-padding",
    [ENVELOPE_E_BODY] = "rejected.body-mismatch",
    [ENVELOPE_E_PRUNED] = "rejected.pruned",
    [ENVELOPE_E_INTERNAL] = "rejected.internal-error",
};

/* A receipt entry owed to the sender of an envelope we accepted this
 * round, from its relayed log or its direct log to us: either way it goes
 * back in our direct log to the sender. */
struct owed {
    char sender[UTIL_MEMBER_ID_MAX + 1];
    bool is_sent; /* scratch while route_seal_answers groups entries */
    struct receipt_entry entry;
};

struct route {
    char member[UTIL_MEMBER_ID_MAX + 1];
    char *coalition;
    struct store *store;
    struct envelope_keyring *keyring;
    struct roster *roster;
    struct stats *stats;
    struct audit *audit;
    bool is_batch_dirty;    /* something was appended since the round began */
    bool is_roster_expired; /* route_set_roster_expired: nothing new comes in */
    bool is_recovering;     /* route_set_recovering: no post, receipts wait */
    bool has_posted;        /* this process sealed something into our own logs */
    bool is_deferring;      /* receipts owed wait for the end of recovering */
    /* Lines about receipts we ignore: a node rebuilt from its peers gets
     * back every receipt for posts it no longer knows, one per entry. */
    struct log_limit ignored_receipts;
    size_t batch_count; /* envelopes in the open batch */
    /* Senders already told, since start, that an envelope of theirs could
     * not be opened here: told once each, so that two nodes that cannot
     * read each other do not answer each other's receipts forever. */
    char told_unreadable[ROSTER_MAX_MEMBERS][UTIL_MEMBER_ID_MAX + 1];
    size_t n_told_unreadable;
    /* Receipt entries owed this round: route_seal_answers seals one receipt
     * per sender (split beyond RECEIPT_MAX_ENTRIES) into the batch
     * just before the node commits, so that receipts commit with what they
     * are about. */
    struct owed *answers;
    size_t n_answers, cap_answers;
    /* Per log, the signature of the last envelope we appended to it: what
     * is_held_copy compares a copy of our head with, no store read. */
    struct last_signed *last;
    size_t n_last, cap_last;
    /* Inbox entries from this number on were added by this process under
     * the roster in force (route_post sealed them, route_accept checked
     * their signatures): opening one for delivery need not check its
     * signature again. Older entries, and every entry after the roster
     * changes (a key may have been revoked), are checked in full. */
    uint64_t trusted_from;
    /* Bodies of inbox entries this process added since trusted_from, by
     * number modulo OPENED_SLOTS: route_open_inbox hands one out once
     * instead of opening the stored envelope again. A slot is reused by a
     * later entry, so the memory held is bounded (and wiped when freed). */
    struct opened *opened;
    size_t opened_bytes;
};

/* An envelope route_accept opened and added to the inbox, kept (in memory
 * only) so that pushing it need not read and open it again. */
struct opened {
    uint64_t number; /* its inbox entry; 0: the slot is empty */
    struct envelope_info info;
    struct envelope_body *body;
};

/* The last envelope appended to a log, by seq, id and signature. */
struct last_signed {
    struct store_log log;
    uint64_t seq;
    uint8_t id[ENVELOPE_HASH_BYTES];
    uint8_t signature[ENVELOPE_SIGNATURE_BYTES];
};

/* The first inbox number that the next entry can take (UINT64_MAX, trusting
 * nothing, when the store cannot say). */
static uint64_t next_inbox_number(struct store *store)
{
    uint64_t last;

    return store_inbox_last(store, &last) == 0 ? last + 1 : UINT64_MAX;
}

/* Empties one slot, wiping the payload it held. */
static void clear_opened(struct route *rt, struct opened *o)
{
    if (o->body != NULL)
        rt->opened_bytes -= o->body->payload_len;
    envelope_body_free(&o->body);
    o->number = 0;
}

/* Empties every slot: the roster changed, or the route goes. */
static void forget_opened(struct route *rt)
{
    for (size_t i = 0; rt->opened != NULL && i < OPENED_SLOTS; i++)
        clear_opened(rt, &rt->opened[i]);
}

/* Keeps the body of inbox entry number for its push; takes responsibility
 * over *body (sets it to NULL) whether it is kept or freed. */
static void keep_opened(struct route *rt, uint64_t number, const struct envelope_info *info,
                        struct envelope_body **body)
{
    struct opened *o = &rt->opened[number % OPENED_SLOTS];

    clear_opened(rt, o);
    if (number < rt->trusted_from || rt->opened_bytes + (*body)->payload_len > OPENED_MAX_BYTES) {
        envelope_body_free(body);
        return;
    }
    o->number = number;
    o->info = *info;
    o->body = *body;
    rt->opened_bytes += o->body->payload_len;
    *body = NULL;
}

struct route *route_new(const struct route_parts *parts)
{
    struct route *rt = calloc(1, sizeof(*rt));

    if (rt == NULL || (rt->coalition = strdup(parts->coalition)) == NULL ||
        (rt->opened = calloc(OPENED_SLOTS, sizeof(*rt->opened))) == NULL) {
        log_warnx("route: out of memory");
        if (rt != NULL)
            free(rt->coalition);
        free(rt);
        return NULL;
    }
    snprintf(rt->member, sizeof(rt->member), "%s", parts->member);
    rt->store = parts->store;
    rt->keyring = parts->keyring;
    rt->roster = parts->roster;
    rt->stats = parts->stats;
    rt->audit = parts->audit;
    rt->trusted_from = next_inbox_number(rt->store);
    return rt;
}

void route_set_roster_expired(struct route *rt, bool is_expired)
{
    rt->is_roster_expired = is_expired;
}

void route_set_recovering(struct route *rt, bool is_recovering)
{
    rt->is_recovering = is_recovering;
    /* The receipts that waited go out with the next commit, which an open
     * batch makes happen at the end of the round even if nothing else
     * comes. */
    if (!is_recovering && rt->is_deferring && rt->n_answers > 0 && route_batch(rt) == -1)
        log_warnx("route: %zu receipt entries wait for the next commit", rt->n_answers);
}

bool route_is_recovering(const struct route *rt)
{
    return rt->is_recovering;
}

bool route_has_posted(const struct route *rt)
{
    return rt->has_posted;
}

void route_free(struct route **rp)
{
    struct route *rt;

    if (rp == NULL || (rt = *rp) == NULL)
        return;
    forget_opened(rt);
    free(rt->opened);
    free(rt->answers);
    free(rt->last);
    free(rt->coalition);
    free(rt);
    *rp = NULL;
}

void route_set_roster(struct route *rt, struct roster *roster)
{
    rt->roster = roster;
    rt->trusted_from = next_inbox_number(rt->store);
    forget_opened(rt);
}

struct roster *route_roster(const struct route *rt)
{
    return rt->roster;
}

bool route_is_self(const struct route *rt, const char *member)
{
    return strcmp(rt->member, member) == 0;
}

static int64_t now_unix(void)
{
    return (int64_t)time(NULL);
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- batches ----------------------------------------------------------- */

int route_batch(struct route *rt)
{
    if (store_in_batch(rt->store))
        return 0;
    return store_begin(rt->store);
}

bool route_is_batch_dirty(const struct route *rt)
{
    return rt->is_batch_dirty;
}

size_t route_batch_count(const struct route *rt)
{
    return rt->batch_count;
}

void route_end_round(struct route *rt)
{
    /* Sealing a receipt now would take a seq of our direct log that a peer
     * may hold already: the entries wait until we hold our heads again. */
    if (!rt->is_recovering && !rt->is_deferring)
        rt->n_answers = 0;
    rt->is_batch_dirty = false;
    rt->batch_count = 0;
}

/* ---- appending --------------------------------------------------------- */

static void log_of(const struct envelope_info *info, struct store_log *log)
{
    memset(log, 0, sizeof(*log));
    strcpy(log->origin, info->sender);
    strcpy(log->peer, info->log_peer);
}

static struct last_signed *find_last(const struct route *rt, const struct store_log *log)
{
    for (size_t i = 0; i < rt->n_last; i++)
        if (strcmp(rt->last[i].log.origin, log->origin) == 0 &&
            strcmp(rt->last[i].log.peer, log->peer) == 0)
            return &rt->last[i];
    return NULL;
}

/* Remembers the signature of what was just appended at seq of log. Out of
 * memory it remembers nothing: is_held_copy then reads the store. */
static void remember_signed(struct route *rt, const struct store_log *log, uint64_t seq,
                            const uint8_t *id, const uint8_t *env, size_t len)
{
    struct last_signed *l = find_last(rt, log);
    struct envelope_peek pk;

    if (envelope_peek(env, len, &pk) == -1)
        return;
    if (l == NULL) {
        if (rt->n_last == rt->cap_last) {
            size_t cap = rt->cap_last ? rt->cap_last * 2 : 16;
            struct last_signed *grown = realloc(rt->last, cap * sizeof(*grown));
            if (grown == NULL)
                return;
            rt->last = grown;
            rt->cap_last = cap;
        }
        l = &rt->last[rt->n_last++];
        l->log = *log;
    }
    l->seq = seq;
    memcpy(l->id, id, ENVELOPE_HASH_BYTES);
    memcpy(l->signature, pk.signature, ENVELOPE_SIGNATURE_BYTES);
}

static int append(struct route *rt, const struct envelope_info *info, const uint8_t *env,
                  size_t len)
{
    struct store_entry e = {0};

    log_of(info, &e.log);
    e.seq = info->seq;
    e.id = info->id;
    e.prev = info->has_prev ? info->prev_hash : NULL;
    e.expires_at = info->expires_at;
    e.envelope = env;
    e.envelope_len = len;
    if (store_append(rt->store, &e) == -1)
        return -1;
    remember_signed(rt, &e.log, e.seq, e.id, env, len);
    rt->is_batch_dirty = true;
    rt->batch_count++;
    return 0;
}

/* What one board_apply reported. Its first event is about the payload
 * itself; later ones are about waiting updates it let the board replay. */
struct board_seen {
    struct route *rt;
    const char *first;
};

static void count_board(void *arg, const char *counter)
{
    struct board_seen *seen = arg;

    if (seen->first == NULL)
        seen->first = counter;
    stats_count(seen->rt->stats, counter, 1);
}

/* Applies an opened payload to the board inside the open batch. *refused
 * (may be NULL) gets the board's reason name ("not-owner", …) when the board
 * declined this payload, else NULL. An update that waits for its object
 * counts as accepted: if it is refused when the object arrives, no second
 * receipt says so (the board's log line and counter do). */
static int apply_board(struct route *rt, const struct envelope_info *info,
                       const struct message *msg, const char **refused)
{
    struct board_msg m = {info->id, info->sender, info->log_peer, info->seq, info->created_at};
    struct board_seen seen = {rt, NULL};
    struct roster_member sender;
    size_t k = strlen(BOARD_REJECTED_PREFIX);
    int rc;

    /* The board checks the sender's role as the poster's api did. */
    if (roster_find(rt->roster, info->sender, &sender) == 0)
        m.role = (int)sender.role;
    rc = board_apply(rt->store, &m, msg, count_board, &seen);
    if (refused != NULL)
        *refused = seen.first != NULL && strncmp(seen.first, BOARD_REJECTED_PREFIX, k) == 0
                       ? seen.first + k
                       : NULL;
    return rc;
}

/* ---- receipts ------------------------------------------------------------ */

/* The receipt an envelope addressed to us earns its sender. */
struct answer {
    bool is_due;
    enum receipt_state state;
    char reason[RECEIPT_REASON_MAX + 1];
};

static void set_answer(struct answer *ans, enum receipt_state state, const char *reason)
{
    if (ans == NULL)
        return;
    ans->is_due = true;
    ans->state = state;
    snprintf(ans->reason, sizeof(ans->reason), "%s", reason);
}

/* A short hex prefix of an id, for log lines. */
static const char *short_hex(const uint8_t *id, char buf[17])
{
    for (int i = 0; i < 8; i++)
        snprintf(buf + 2 * i, 3, "%02x", id[i]);
    return buf;
}

/* True the first time since start that member is to be told an envelope
 * of theirs could not be opened (see told_unreadable in struct route). */
static bool is_first_unreadable(struct route *rt, const char *member)
{
    for (size_t i = 0; i < rt->n_told_unreadable; i++)
        if (strcmp(rt->told_unreadable[i], member) == 0)
            return false;
    if (rt->n_told_unreadable == ROSTER_MAX_MEMBERS)
        return false;
    snprintf(rt->told_unreadable[rt->n_told_unreadable++], UTIL_MEMBER_ID_MAX + 1, "%s", member);
    return true;
}

/* One entry of a receipt from the sender of info about one of our posts.
 * Only a recipient's first word is recorded; an entry from a member that was
 * not a recipient, about an envelope we did not post, or a second word is
 * ignored, logged and counted. Returns 0, or -1 when the store failed. */
static int record_entry(struct route *rt, const struct envelope_info *info,
                        const struct receipt_entry *r)
{
    char hex[17], note[LOG_LIMIT_NOTE_MAX];
    uint64_t suppressed;
    int state, rc;

    if ((rc = store_delivery_find(rt->store, r->envelope_id, info->sender, &state)) == -1)
        return -1;
    if (rc == 0) {
        if ((rc = store_delivery_find(rt->store, r->envelope_id, NULL, &state)) == -1)
            return -1;
        stats_count(rt->stats,
                    rc == 1 ? "receipts.ignored.not-recipient" : "receipts.ignored.unknown", 1);
        if (log_limit_allow(&rt->ignored_receipts, monotonic_ms(), ROUTE_LOG_LIMIT_MS, &suppressed))
            log_warnx("route: ignored a receipt from %s about %s: %s%s", info->sender,
                      short_hex(r->envelope_id, hex),
                      rc == 1 ? "it was not a recipient of that post"
                              : "we posted no such envelope",
                      log_limit_note(note, suppressed));
        return 0;
    }
    rc = store_delivery_set(rt->store, r->envelope_id, info->sender, r->state, r->reason,
                            info->created_at);
    if (rc == -1)
        return -1;
    stats_count(rt->stats, rc == 1 ? "receipts.recorded" : "receipts.ignored.duplicate", 1);
    log_debug("route: %s: %s %s", short_hex(r->envelope_id, hex), info->sender,
              rc == 1 ? receipt_state_name(r->state) : "said so again; first word kept");
    return 0;
}

/* Every entry of a receipt from the sender of info, each on its own. */
static int record_receipt(struct route *rt, const struct envelope_info *info,
                          const struct receipt *r)
{
    for (size_t i = 0; i < r->n_entries; i++)
        if (record_entry(rt, info, &r->entries[i]) == -1)
            return -1;
    return 0;
}

/* TLP:RED travels only in direct logs, between its two members: a payload
 * that states TLP:RED, or is about a need or offer the board holds as
 * TLP:RED, has no business in a relayed log, which every node stores. It
 * keeps its place in the log (the chain is the sender's), but it is neither
 * applied nor delivered here. Returns 1 (refused, logged and counted), 0,
 * or -1 when the store failed. */
static int is_red_relayed(struct route *rt, const struct envelope_info *info,
                          const struct message *msg)
{
    struct board_referent ref;
    char hex[17];

    if (message_stated_tlp(msg) != MESSAGE_TLP_RED) {
        if (board_referent_of(rt->store, msg, &ref) != 0)
            return -1;
        if (!ref.is_red)
            return 0;
    }
    stats_count(rt->stats, "refused.red-relayed", 1);
    log_warnx("route: %s from %s (relayed log, seq %llu) refused: TLP:RED in a relayed log",
              short_hex(info->id, hex), info->sender, (unsigned long long)info->seq);
    return 1;
}

/* Adds an envelope we can open to the inbox, unless it expired: expiry
 * governs delivery, the envelope keeps its place in the log regardless.
 * body, when not NULL, is the opened envelope, applied to the board first
 * and, when it is a receipt, recorded against our posts; route_post passes
 * NULL because it applied its own payload already. *ans (may be NULL)
 * gets the receipt entry the sender is due; a receipt is never answered.
 * *number (may be NULL) gets the inbox entry's number, 0 when none was
 * added. */
static int deliver(struct route *rt, const struct envelope_info *info,
                   const struct envelope_body *body, struct answer *ans, uint64_t *numberp)
{
    enum receipt_kind kind = RECEIPT_NOT_A_RECEIPT;
    const char *refused = NULL;
    struct receipt *r = NULL;
    struct store_log log;
    struct message msg = {0};
    uint64_t number;
    int rc;

    if (numberp != NULL)
        *numberp = 0;
    /* The one decoding of this payload: the board and the receipts read
     * the view. Bytes that are no Payload still get a view that says so. */
    if (body != NULL) {
        message_decode(body->payload, body->payload_len, &msg);
        kind = receipt_read(&msg, &r);
    }
    if (info->expires_at != 0 && now_unix() >= info->expires_at) {
        receipt_free(&r);
        message_clear(&msg);
        stats_count(rt->stats, "expired", 1);
        if (kind == RECEIPT_NOT_A_RECEIPT)
            set_answer(ans, RECEIPT_REJECTED, "expired");
        return 0;
    }
    if (body != NULL && !info->is_direct) {
        if ((rc = is_red_relayed(rt, info, &msg)) != 0) {
            receipt_free(&r);
            message_clear(&msg);
            if (rc == 1)
                set_answer(ans, RECEIPT_REJECTED, "refused: TLP:RED in a relayed log");
            return rc < 0 ? -1 : 0;
        }
    }
    rc = body != NULL ? apply_board(rt, info, &msg, &refused) : 0;
    if (rc == 0 && kind == RECEIPT_VALID && !route_is_self(rt, info->sender))
        rc = record_receipt(rt, info, r);
    receipt_free(&r);
    message_clear(&msg);
    if (rc == -1)
        return -1;
    if (kind == RECEIPT_MALFORMED) {
        stats_count(rt->stats, "receipts.malformed", 1);
        log_warnx("route: a malformed receipt from %s (%s log, seq %llu)", info->sender,
                  info->is_direct ? "direct" : "relayed", (unsigned long long)info->seq);
    }
    log_of(info, &log);
    if (store_inbox_add(rt->store, &log, info->seq, info->id, info->expires_at, &number) == -1)
        return -1;
    if (numberp != NULL)
        *numberp = number;
    stats_count(rt->stats, "delivered", 1);
    if (kind == RECEIPT_NOT_A_RECEIPT) {
        char why[RECEIPT_REASON_MAX + 1];
        snprintf(why, sizeof(why), "refused by the board: %s", refused != NULL ? refused : "");
        set_answer(ans, refused != NULL ? RECEIPT_REJECTED : RECEIPT_DELIVERED,
                   refused != NULL ? why : "");
    }
    return 0;
}

static int post_envelopes(struct route *rt, const struct message *msg,
                          const char *const *recipients, size_t n_recipients,
                          const struct envelope_recipient *rcpt, bool to_self, bool is_direct,
                          int64_t expires_at, struct route_placed *placed, size_t *n_placed,
                          const char **reason);

/* Records a post's recipients as pending (this member itself as delivered:
 * post_envelopes delivered it already), each against the envelope that went
 * to it, all under the post's first envelope id. */
static int track(struct route *rt, const char *const *recipients, size_t n_recipients,
                 bool is_direct, const struct route_placed *placed)
{
    int64_t now = now_unix();

    for (size_t i = 0; i < n_recipients; i++) {
        const uint8_t *id = placed[is_direct ? i : 0].id;
        int state = route_is_self(rt, recipients[i]) ? RECEIPT_DELIVERED : RECEIPT_PENDING;

        if (store_delivery_add(rt->store, placed[0].id, id, recipients[i], state, now) == -1)
            return -1;
    }
    return 0;
}

/* route_post, and the receipts' path with is_tracked false: a receipt has
 * no delivery state of its own (it is never answered). */
static int post(struct route *rt, const struct message *msg, const char *const *recipients,
                size_t n_recipients, bool is_direct, int64_t expires_at, bool is_tracked,
                struct route_placed *placed, size_t *n_placed, const char **reason)
{
    struct envelope_recipient rcpt[ENVELOPE_MAX_RECIPIENTS];
    enum route_recipients fault;
    struct roster_member m;
    bool to_self = false;

    *n_placed = 0;
    if ((fault = route_check_recipients(rt, recipients, n_recipients)) == ROUTE_RECIPIENTS_OK &&
        is_direct)
        fault = route_check_direct(rt, recipients, n_recipients);
    if (fault != ROUTE_RECIPIENTS_OK) {
        *reason = route_recipients_reason(fault);
        return -1;
    }
    for (size_t i = 0; i < n_recipients; i++) {
        ensure(roster_find(rt->roster, recipients[i], &m) == 0);
        rcpt[i] = (struct envelope_recipient){m.id, m.box_pk};
        to_self |= route_is_self(rt, recipients[i]);
    }
    if (route_batch(rt) == -1 || store_group_begin(rt->store) == -1) {
        *reason = "the node's store failed";
        return -1;
    }
    /* One post is all or nothing: a failure part way through a direct post
     * to several members undoes the envelopes already appended. */
    if (post_envelopes(rt, msg, recipients, n_recipients, rcpt, to_self, is_direct, expires_at,
                       placed, n_placed, reason) == -1) {
        store_group_end(rt->store, false);
        *n_placed = 0;
        return -1;
    }
    if (is_tracked && track(rt, recipients, n_recipients, is_direct, placed) == -1) {
        store_group_end(rt->store, false);
        *n_placed = 0;
        *reason = "the node's store failed";
        return -1;
    }
    if (store_group_end(rt->store, true) == -1) {
        *n_placed = 0;
        *reason = "the node's store failed";
        return -1;
    }
    rt->has_posted = true;
    return 0;
}

int route_post(struct route *rt, const struct message *msg, const char *const *recipients,
               size_t n_recipients, bool is_direct, int64_t expires_at, struct route_placed *placed,
               size_t *n_placed, const char **reason)
{
    /* A receipt here is never a client's (api_post refuses those); like
     * every receipt it is never answered, so it has no delivery state. */
    bool is_tracked = receipt_read(msg, NULL) == RECEIPT_NOT_A_RECEIPT;

    if (rt->is_roster_expired) {
        stats_count(rt->stats, "route.refused.roster-expired", 1);
        *n_placed = 0;
        *reason = "the roster has expired: this node takes no posts until a fresh roster is "
                  "loaded";
        return -1;
    }
    if (rt->is_recovering) {
        stats_count(rt->stats, "route.refused.recovering", 1);
        *n_placed = 0;
        *reason = ROUTE_RECOVERING_REASON;
        return -1;
    }
    return post(rt, msg, recipients, n_recipients, is_direct, expires_at, is_tracked, placed,
                n_placed, reason);
}

static const char *const recipients_reasons[] = {
    [ROUTE_RECIPIENTS_OK] = "",
    [ROUTE_RECIPIENTS_COUNT] = "between 1 and 128 recipients are required",
    [ROUTE_RECIPIENTS_BAD_ID] = "a recipient is not a member id",
    [ROUTE_RECIPIENTS_UNKNOWN] = "a recipient is not a roster member",
    [ROUTE_RECIPIENTS_TWICE] = "a recipient is named twice",
    [ROUTE_RECIPIENTS_RED_TO_SELF] = "TLP:RED cannot be addressed to this member itself",
};

const char *route_recipients_reason(enum route_recipients fault)
{
    return recipients_reasons[fault];
}

enum route_recipients route_check_recipients(const struct route *rt, const char *const *names,
                                             size_t n)
{
    struct roster_member m;

    if (n == 0 || n > ENVELOPE_MAX_RECIPIENTS)
        return ROUTE_RECIPIENTS_COUNT;
    for (size_t i = 0; i < n; i++) {
        if (!util_is_member_id(names[i], strlen(names[i])))
            return ROUTE_RECIPIENTS_BAD_ID;
        if (roster_find(rt->roster, names[i], &m) == -1)
            return ROUTE_RECIPIENTS_UNKNOWN;
        for (size_t j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0)
                return ROUTE_RECIPIENTS_TWICE;
    }
    return ROUTE_RECIPIENTS_OK;
}

enum route_recipients route_check_direct(const struct route *rt, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (route_is_self(rt, names[i]))
            return ROUTE_RECIPIENTS_RED_TO_SELF;
    return ROUTE_RECIPIENTS_OK;
}

static int post_envelopes(struct route *rt, const struct message *msg,
                          const char *const *recipients, size_t n_recipients,
                          const struct envelope_recipient *rcpt, bool to_self, bool is_direct,
                          int64_t expires_at, struct route_placed *placed, size_t *n_placed,
                          const char **reason)
{
    const uint8_t *payload = msg->bytes;
    size_t len = msg->len;

    /* A relayed post is one envelope for everyone; a direct one is one
     * envelope per recipient, each in the direct log to that member. */
    for (size_t k = 0; k < (is_direct ? n_recipients : 1); k++) {
        struct envelope_seal_args a = {0};
        struct envelope_info info;
        struct store_head head;
        struct store_log log = {0};
        enum envelope_status st;
        uint8_t *env;
        size_t env_len;

        strcpy(log.origin, rt->member);
        if (is_direct)
            strcpy(log.peer, recipients[k]);
        if (store_head(rt->store, &log, &head) == -1) {
            *reason = "the node's store failed";
            return -1;
        }
        /* Our own log forked (keep_evidence): anything more we sealed into
         * it would extend a history our peers refuse. */
        if (head.is_halted) {
            stats_count(rt->stats, "route.refused.own-fork", 1);
            *reason = "this node's own log has forked (its data was restored from a backup or "
                      "its key runs on another node): posts are refused until an operator "
                      "rebuilds its data directory";
            return -1;
        }
        a.coalition = rt->coalition;
        a.log_peer = is_direct ? recipients[k] : NULL;
        a.seq = head.seq + 1;
        a.prev_hash = head.seq > 0 ? head.id : NULL;
        a.roster_version = roster_version(rt->roster);
        a.created_at = now_unix();
        a.expires_at = expires_at;
        a.payload = payload;
        a.payload_len = len;
        a.recipients = is_direct ? &rcpt[k] : rcpt;
        a.n_recipients = is_direct ? 1 : n_recipients;
        if ((st = envelope_seal(rt->keyring, &a, &env, &env_len, &info)) != ENVELOPE_OK) {
            log_warnx("route: cannot seal a post: %s", envelope_status_name(st));
            *reason = st == ENVELOPE_E_SIZE ? "the payload is too large" : "sealing failed";
            return -1;
        }
        if (append(rt, &info, env, env_len) == -1 || apply_board(rt, &info, msg, NULL) == -1 ||
            (to_self && deliver(rt, &info, NULL, NULL, NULL) == -1)) {
            free(env);
            *reason = "the node's store failed";
            return -1;
        }
        free(env);
        memcpy(placed[k].id, info.id, ENVELOPE_HASH_BYTES);
        strcpy(placed[k].log_peer, info.log_peer);
        placed[k].seq = info.seq;
        (*n_placed)++;
    }
    return 0;
}

/* Owes the sender of info the entry ans, to be sent when the round
 * commits. A failure costs the entry (logged, counted), never the envelope
 * it is about. */
static void answer_sender(struct route *rt, const struct envelope_info *info,
                          const struct answer *ans)
{
    struct owed *a;

    if (!ans->is_due || route_is_self(rt, info->sender))
        return;
    if (rt->is_recovering && rt->n_answers >= ROUTE_DEFERRED_MAX) {
        stats_count(rt->stats, "receipts.deferred-dropped", 1);
        return;
    }
    if (rt->n_answers == rt->cap_answers) {
        size_t cap = rt->cap_answers == 0 ? 64 : 2 * rt->cap_answers;
        struct owed *grown = realloc(rt->answers, cap * sizeof(*grown));
        if (grown == NULL) {
            stats_count(rt->stats, "receipts.failed", 1);
            log_warn("route: no receipt to %s for its %s log seq %llu: realloc", info->sender,
                     info->is_direct ? "direct" : "relayed", (unsigned long long)info->seq);
            return;
        }
        rt->answers = grown;
        rt->cap_answers = cap;
    }
    a = &rt->answers[rt->n_answers++];
    snprintf(a->sender, sizeof(a->sender), "%s", info->sender);
    a->is_sent = false;
    memcpy(a->entry.envelope_id, info->id, WIRE_ID_BYTES);
    a->entry.state = ans->state;
    snprintf(a->entry.reason, sizeof(a->entry.reason), "%s", ans->reason);
}

/* Posts one receipt of entries[0..k) to member to, in our direct log to
 * it, whatever log the envelopes came in: a receipt in our relayed log
 * would show every relay, in the round after seq n of to's log, exactly
 * which members answered it, its recipient list. In the direct log it
 * never passes a third node; the price is that it waits for a link
 * between us and to (route.h). */
static void send_receipt(struct route *rt, const char *to, const struct receipt_entry *entries,
                         size_t k)
{
    const char *rcpt[1] = {to};
    struct route_placed placed[1];
    const char *why = "the receipt cannot be encoded";
    struct message msg = {0};
    uint8_t *buf = NULL;
    size_t len, n_placed;

    /* The board reads the view of every post; a receipt changes nothing
     * there, but it is decoded like any other payload. */
    if (receipt_encode(entries, k, &buf, &len) == -1 || message_decode(buf, len, &msg) == -1 ||
        post(rt, &msg, rcpt, 1, true, 0, false, placed, &n_placed, &why) == -1) {
        stats_count(rt->stats, "receipts.failed", k);
        log_warnx("route: no receipt of %zu entries to %s in the direct log: %s", k, to, why);
    } else {
        stats_count(rt->stats, "receipts.sent", k);
        stats_count(rt->stats, "receipts.envelopes", 1);
    }
    message_clear(&msg);
    free(buf);
}

/* Seals the entries owed this round into the open batch: one receipt per
 * sender, in the order the envelopes were accepted, split every
 * RECEIPT_MAX_ENTRIES entries. One envelope per envelope answered cost a
 * seal, a signature and a relay each; a round's worth shares them. */
void route_seal_answers(struct route *rt)
{
    struct receipt_entry *group;

    rt->is_deferring = rt->is_recovering && rt->n_answers > 0;
    if (rt->n_answers == 0 || rt->is_recovering)
        return;
    if ((group = malloc(RECEIPT_MAX_ENTRIES * sizeof(*group))) == NULL) {
        stats_count(rt->stats, "receipts.failed", rt->n_answers);
        log_warn("route: %zu receipt entries lost: malloc", rt->n_answers);
        rt->n_answers = 0;
        return;
    }
    for (size_t i = 0; i < rt->n_answers; i++) {
        const struct owed *first = &rt->answers[i];
        size_t k = 0;

        if (first->is_sent)
            continue;
        for (size_t j = i; j < rt->n_answers && k < RECEIPT_MAX_ENTRIES; j++) {
            struct owed *a = &rt->answers[j];
            if (a->is_sent || strcmp(a->sender, first->sender) != 0)
                continue;
            group[k++] = a->entry;
            a->is_sent = true;
        }
        send_receipt(rt, first->sender, group, k);
        /* Entries beyond the bound stay unsent: a later i picks them up. */
    }
    free(group);
    rt->n_answers = 0;
}

/* ---- accepting from peers --------------------------------------------- */

/* Records in the audit log what peer from sent and what became of it:
 * kind, the envelope when it was decoded (info may be NULL), and why when
 * it was refused (NULL: accepted). */
static void note(struct route *rt, enum audit_kind kind, const char *from,
                 const struct envelope_info *info, const char *why)
{
    struct audit_entry e = {.kind = kind,
                            .outcome = why == NULL ? AUDIT_OK : AUDIT_REFUSED,
                            .actor_kind = AUDIT_BY_MEMBER};

    if (rt->audit == NULL)
        return;
    snprintf(e.actor, sizeof(e.actor), "%s", from);
    snprintf(e.detail, sizeof(e.detail), "%s", why != NULL ? why : "");
    if (info != NULL) {
        snprintf(e.origin, sizeof(e.origin), "%s", info->sender);
        snprintf(e.peer, sizeof(e.peer), "%s", info->log_peer);
        e.seq = info->seq;
        e.has_id = true;
        memcpy(e.id, info->id, AUDIT_HASH_BYTES);
    }
    audit_record(rt->audit, &e);
}

static int reject(struct route *rt, const char *from, const char *counter, const char *why)
{
    stats_count(rt->stats, counter, 1);
    log_warnx("peer %s: rejected an envelope: %s", from, why);
    note(rt, AUDIT_ENVELOPE, from, NULL, why);
    return -1;
}

/* The one signature check an envelope from a peer costs, counted so that
 * a peer resending what we drop can be seen to cost nothing more. */
static int verify(struct route *rt, const char *from, const uint8_t *env, size_t len,
                  struct envelope_info *info)
{
    enum envelope_status st;

    stats_count(rt->stats, "verify.signature", 1);
    st = envelope_verify(env, len, rt->coalition, roster_envelope_lookup, rt->roster, info);
    if (st != ENVELOPE_OK)
        return reject(rt, from, rejected_names[st], envelope_status_name(st));
    return 0;
}

/* A signed envelope that contradicts the log we hold: a second envelope
 * at a held seq, or one at head + 1 whose prev_hash is not our head's id
 * (it commits to another envelope at head, the seq it is kept against).
 * Either proves the origin
 * signed two histories. Only called after verify, so nobody can forge
 * evidence; kept once, and the log halts, so the same envelope coming
 * back is dropped by the halted check before any signature work. Our own
 * log forking means this node's data was restored from a backup or its
 * key runs on another node: route_post refuses posts into it from now on. */
static int keep_evidence(struct route *rt, const char *from, const struct envelope_info *info,
                         const struct store_log *log, uint64_t contradicted, const uint8_t *env,
                         size_t len)
{
    bool is_own = route_is_self(rt, info->sender);

    if (route_batch(rt) == -1 || store_add_evidence(rt->store, log, contradicted, env, len) == -1)
        return reject(rt, from, "rejected.store-error", "could not keep evidence");
    rt->is_batch_dirty = true;
    stats_count(rt->stats, is_own ? "equivocation.own" : "equivocation", 1);
    note(rt, AUDIT_ALARM, from, info, is_own ? "own log forked" : "equivocation");
    if (is_own)
        log_warnx("ALARM: peer %s holds a different envelope of OUR OWN %s log at seq %llu: "
                  "this node's data directory was restored from a backup or its member key "
                  "is used by another node. Evidence kept; the log is halted and posts into "
                  "it are refused until an operator rebuilds this node's data directory",
                  from, log->peer[0] ? "direct" : "relayed", (unsigned long long)info->seq);
    else
        log_warnx("ALARM: member %s signed two different envelopes for %s log seq %llu "
                  "(seen via %s); evidence kept, log halted",
                  info->sender, log->peer[0] ? "a direct" : "its relayed",
                  (unsigned long long)info->seq, from);
    return 0;
}

/* Seq at or below our head: the same envelope again is harmless and costs
 * no signature check; a different one is checked once and kept as
 * evidence. */
static int seen_before(struct route *rt, const char *from, struct envelope_info *info,
                       const struct store_log *log, const uint8_t *env, size_t len)
{
    uint8_t held[ENVELOPE_HASH_BYTES];
    uint8_t *copy = NULL;
    size_t copy_len;
    int found;

    found = store_get(rt->store, log, info->seq, &copy, &copy_len, held);
    free(copy);
    if (found != 1)
        return reject(rt, from, "rejected.store-error", "store lookup failed");
    if (memcmp(held, info->id, ENVELOPE_HASH_BYTES) == 0) {
        stats_count(rt->stats, "duplicate", 1);
        return 0;
    }
    if (verify(rt, from, env, len, info) == -1)
        return -1;
    return keep_evidence(rt, from, info, log, info->seq, env, len);
}

static int take_verified(struct route *rt, const char *from, const struct envelope_info *info,
                         const uint8_t *env, size_t len);

/* Whether a direct log origin -> log_peer may come from peer `from`: from
 * its origin to us, its recipient (4.3 step 2), or our own direct log to
 * `from` handed back by it, the one node besides us that holds it, for a
 * node that recovers its own logs (4.6). Either way only the two ends of
 * the log ever carry it. */
static bool is_direct_routed(const struct route *rt, const char *from, const char *origin,
                             const char *log_peer)
{
    if (strcmp(origin, from) == 0 && route_is_self(rt, log_peer))
        return true;
    return route_is_self(rt, origin) && strcmp(log_peer, from) == 0;
}

/* Recognises, before any hashing or signature check, a copy of an envelope
 * we hold: same log, a seq at or below our head, and the same 64-byte
 * signature as our envelope at that seq. Dropping it loses nothing. The
 * signature covers the header and the ciphertext's hash, and the one we
 * hold verified under the origin's key: bytes that carry it over another
 * header or ciphertext cannot verify (that would take a collision of the
 * hash inside Ed25519 or of BLAKE2b), so they are either our envelope
 * again or a forgery. Another signature at a held seq may be a fork: it
 * takes the full path, which verifies it and keeps it as evidence. A
 * direct log from a third node takes the full path too, which refuses it
 * whatever it holds. Our head's signature is in memory (remember_signed,
 * valid while the store's head still has the id it was remembered with,
 * so a batch that did not commit cannot mislead it); an older seq costs
 * one store read. Counts "duplicate". */
static bool is_held_copy(struct route *rt, const char *from, const uint8_t *env, size_t len)
{
    struct envelope_peek pk, held;
    struct store_log log = {0};
    struct store_head head;
    const struct last_signed *l;
    uint8_t *copy = NULL;
    size_t copy_len;
    bool is_same;

    if (envelope_peek(env, len, &pk) == -1)
        return false;
    if (pk.log_peer[0] != '\0' && !is_direct_routed(rt, from, pk.sender, pk.log_peer))
        return false;
    strcpy(log.origin, pk.sender);
    strcpy(log.peer, pk.log_peer);
    if (store_head(rt->store, &log, &head) == -1 || head.is_halted || pk.seq > head.seq)
        return false;
    l = find_last(rt, &log);
    if (l != NULL && l->seq == pk.seq && pk.seq == head.seq &&
        memcmp(l->id, head.id, ENVELOPE_HASH_BYTES) == 0) {
        is_same = memcmp(l->signature, pk.signature, ENVELOPE_SIGNATURE_BYTES) == 0;
    } else {
        if (store_get(rt->store, &log, pk.seq, &copy, &copy_len, NULL) != 1)
            return false;
        is_same = envelope_peek(copy, copy_len, &held) == 0 &&
                  memcmp(held.signature, pk.signature, ENVELOPE_SIGNATURE_BYTES) == 0;
        free(copy);
    }
    if (is_same)
        stats_count(rt->stats, "duplicate", 1);
    return is_same;
}

/* Every check that needs no signature runs first (size, decoding, fields,
 * coalition, sender, routing, halted log, seq and prev_hash against our
 * head), so a peer resending a stale, duplicate or conflicting envelope
 * costs a parse and a lookup, not an Ed25519 verification. */
int route_accept(struct route *rt, const char *from, const uint8_t *env, size_t len)
{
    struct envelope_info info;
    struct store_head head;
    struct store_log log;
    enum envelope_status st;

    /* Dropped, not rejected: a rejection makes the link resynchronise,
     * which would only bring the same envelope back. Nothing is acked, so
     * the peer keeps it until a fresh roster is loaded and the links
     * resynchronise (peers_resync). The node warned once at expiry. */
    if (rt->is_roster_expired) {
        stats_count(rt->stats, "rejected.roster-expired", 1);
        log_debug("peer %s: dropped an envelope: the roster has expired", from);
        return 0;
    }
    if (is_held_copy(rt, from, env, len))
        return 0;
    st = envelope_inspect(env, len, rt->coalition, roster_envelope_lookup, rt->roster, &info);
    if (st != ENVELOPE_OK)
        return reject(rt, from, rejected_names[st], envelope_status_name(st));
    /* A direct (TLP:RED) log travels only between its two members, over
     * their own link: from its origin, or back to it from its recipient. */
    if (info.is_direct && !is_direct_routed(rt, from, info.sender, info.log_peer))
        return reject(rt, from, "rejected.direct-misrouted",
                      "a direct log arrived from a third node or for another member");
    log_of(&info, &log);
    if (store_head(rt->store, &log, &head) == -1)
        return reject(rt, from, "rejected.store-error", "store lookup failed");
    /* Dropped, not rejected, and not logged: a resynchronisation would
     * bring it back, and the halt was alarmed once already. */
    if (head.is_halted) {
        stats_count(rt->stats, "rejected.halted-log", 1);
        log_debug("peer %s: dropped an envelope of %s's halted log", from, info.sender);
        return 0;
    }
    if (info.seq <= head.seq)
        return seen_before(rt, from, &info, &log, env, len);
    if (info.seq != head.seq + 1)
        return reject(rt, from, "rejected.out-of-order", "seq is not held + 1 (a gap)");
    if (info.has_prev && memcmp(info.prev_hash, head.id, ENVELOPE_HASH_BYTES) != 0) {
        if (verify(rt, from, env, len, &info) == -1)
            return -1;
        return keep_evidence(rt, from, &info, &log, head.seq, env, len);
    }
    if (verify(rt, from, env, len, &info) == -1)
        return -1;
    return take_verified(rt, from, &info, env, len);
}

/* Appends an envelope whose signature is proven (by itself, or by the run
 * it chains into) and whose place in the log was checked, then opens it
 * when it is ours. Returns 1, or -1 when the store failed. */
static int take_verified(struct route *rt, const char *from, const struct envelope_info *infop,
                         const uint8_t *env, size_t len)
{
    struct envelope_info info = *infop;
    struct envelope_body *body = NULL;
    struct answer ans = {0};
    enum envelope_status st;

    /* The envelope, its board changes and its inbox entry are one group:
     * all of them enter the batch, or none. */
    if (route_batch(rt) == -1 || store_group_begin(rt->store) == -1)
        return reject(rt, from, "rejected.store-error", "cannot open a write group");
    if (append(rt, &info, env, len) == -1) {
        store_group_end(rt->store, false);
        return reject(rt, from, "rejected.store-error", "append failed");
    }

    /* Addressed to us? Relays simply find no stanza of theirs. These bytes
     * passed envelope_verify above, so the signature is not checked twice. */
    st = envelope_open_verified(rt->keyring, env, len, rt->coalition, roster_envelope_lookup,
                                rt->roster, NULL, &body);
    if (st == ENVELOPE_OK) {
        uint64_t number;
        int rc = deliver(rt, &info, body, &ans, &number);

        if (rc == -1) {
            envelope_body_free(&body);
            store_group_end(rt->store, false);
            return reject(rt, from, "rejected.store-error", "board or inbox write failed");
        }
        /* Pushed once the batch commits: keep what was just opened. An
         * entry rolled back with its batch is never pushed, and a number
         * a later entry reuses is told apart by its id. */
        if (number != 0)
            keep_opened(rt, number, &info, &body);
        envelope_body_free(&body);
    } else if (st == ENVELOPE_E_PRUNED) {
        /* Ours, but a node on the way dropped its ciphertext under its
         * retention rule (PROTOCOL.md 5.8): it fills its place in the log
         * and is never delivered. Expected in a catch-up of old history,
         * so counted rather than logged. */
        stats_count(rt->stats, "retention.received-pruned", 1);
        /* A direct log carries receipts too, and a receipt is never
         * answered: what it was cannot be told any more. */
        if (!info.is_direct)
            set_answer(&ans, RECEIPT_REJECTED,
                       info.expires_at != 0 && now_unix() >= info.expires_at
                           ? "expired"
                           : "pruned: its ciphertext was dropped on the way");
    } else if (st != ENVELOPE_E_NOT_RECIPIENT) {
        /* Signed by its sender yet unreadable for us: it keeps its place in
         * the log (relays cannot tell), but it is never delivered. */
        stats_count(rt->stats, "undeliverable", 1);
        log_warnx("peer %s: envelope %s/%llu from %s addressed to us cannot be "
                  "opened: %s",
                  from, info.sender, (unsigned long long)info.seq, info.sender,
                  envelope_status_name(st));
        if (is_first_unreadable(rt, info.sender)) {
            char why[RECEIPT_REASON_MAX + 1];
            snprintf(why, sizeof(why), "cannot be opened: %s", envelope_status_name(st));
            set_answer(&ans, RECEIPT_REJECTED, why);
        }
    }
    if (store_group_end(rt->store, true) == -1)
        return reject(rt, from, "rejected.store-error", "commit of the write group failed");
    stats_count(rt->stats, "accepted", 1);
    note(rt, AUDIT_ENVELOPE, from, &info, NULL);
    answer_sender(rt, &info, &ans);
    return 1;
}

/* ---- accepting a run ---------------------------------------------------- */

/* Whether infos[from..n) extend head without a break: the first at head + 1
 * with head's id as prev_hash (none at seq 1), each later one at the seq
 * after the one before with that one's id as prev_hash, all of one log. On
 * false, *why says where it broke. */
static bool is_chained(const struct envelope_info *infos, size_t from, size_t n,
                       const struct store_log *log, const struct store_head *head, const char **why)
{
    const struct envelope_info *first = &infos[from];

    if (strcmp(first->sender, log->origin) != 0 || strcmp(first->log_peer, log->peer) != 0) {
        *why = "it mixes logs";
        return false;
    }
    if (first->seq != head->seq + 1) {
        *why = "its first envelope is not at the held head + 1";
        return false;
    }
    if (first->has_prev ? memcmp(first->prev_hash, head->id, ENVELOPE_HASH_BYTES) != 0
                        : head->seq != 0) {
        *why = "its first envelope does not chain to the held head";
        return false;
    }
    for (size_t i = from + 1; i < n; i++) {
        const struct envelope_info *a = &infos[i - 1], *b = &infos[i];
        if (strcmp(a->sender, b->sender) != 0 || strcmp(a->log_peer, b->log_peer) != 0) {
            *why = "it mixes logs";
            return false;
        }
        if (b->seq != a->seq + 1 || !b->has_prev ||
            memcmp(b->prev_hash, a->id, ENVELOPE_HASH_BYTES) != 0) {
            *why = "a link of it does not chain to the envelope before";
            return false;
        }
    }
    return true;
}

/* One envelope at a time, as if each had come alone: the good prefix is
 * kept, the first refusal ends the run. */
static int accept_each(struct route *rt, const char *from, const uint8_t *const *envs,
                       const size_t *lens, size_t from_i, size_t n, int rc)
{
    for (size_t i = from_i; i < n; i++) {
        int one = route_accept(rt, from, envs[i], lens[i]);
        if (one == -1) {
            if (n - i - 1 > 0)
                stats_count(rt->stats, "run.dropped", n - i - 1);
            return -1;
        }
        if (one == 1)
            rc = 1;
    }
    return rc;
}

int route_accept_run(struct route *rt, const char *from, const uint8_t *const *envs,
                     const size_t *lens, size_t n)
{
    struct envelope_info *infos;
    struct store_head head;
    struct store_log log;
    enum envelope_status st;
    const char *why = NULL;
    size_t i = 0;
    int rc = 0;

    if (n == 0 || n > ROUTE_RUN_MAX)
        return n == 0 ? 0 : reject(rt, from, "rejected.run-too-long", "a run over ROUTE_RUN_MAX");
    if (n == 1 || rt->is_roster_expired)
        return accept_each(rt, from, envs, lens, 0, n, 0);
    if ((infos = malloc(n * sizeof(*infos))) == NULL)
        return reject(rt, from, "rejected.store-error", "out of memory for a run");
    /* Every cheap check, for every envelope; any failure sends the whole
     * run one by one, where each gets its own reason. */
    for (size_t k = 0; k < n; k++) {
        st = envelope_inspect(envs[k], lens[k], rt->coalition, roster_envelope_lookup, rt->roster,
                              &infos[k]);
        if (st != ENVELOPE_OK) {
            why = envelope_status_name(st);
            goto one_by_one;
        }
    }
    if (infos[0].is_direct && !is_direct_routed(rt, from, infos[0].sender, infos[0].log_peer)) {
        why = "direct-misrouted";
        goto one_by_one;
    }
    log_of(&infos[0], &log);
    if (store_head(rt->store, &log, &head) == -1) {
        free(infos);
        return reject(rt, from, "rejected.store-error", "store lookup failed");
    }
    if (head.is_halted) {
        why = "halted log";
        goto one_by_one;
    }
    /* What we hold already at the front (a resend after a lost ack) costs
     * an id comparison each, as alone. */
    while (i < n && infos[i].seq <= head.seq && strcmp(infos[i].sender, log.origin) == 0 &&
           strcmp(infos[i].log_peer, log.peer) == 0) {
        int one = route_accept(rt, from, envs[i], lens[i]);
        if (one == -1) {
            free(infos);
            if (n - i - 1 > 0)
                stats_count(rt->stats, "run.dropped", n - i - 1);
            return -1;
        }
        rc = one == 1 ? 1 : rc;
        i++;
    }
    if (i == n) {
        free(infos);
        return rc;
    }
    if (i > 0 && store_head(rt->store, &log, &head) == -1) {
        free(infos);
        return reject(rt, from, "rejected.store-error", "store lookup failed");
    }
    if (!is_chained(infos, i, n, &log, &head, &why))
        goto one_by_one;
    /* The last signature vouches for every link below it. */
    stats_count(rt->stats, "verify.signature", 1);
    st = envelope_verify(envs[n - 1], lens[n - 1], rt->coalition, roster_envelope_lookup,
                         rt->roster, &infos[n - 1]);
    if (st != ENVELOPE_OK) {
        stats_count(rt->stats, "run.refused", 1);
        log_warnx("peer %s: a run of %zu envelopes of %s's log failed its last signature (%s): "
                  "checking each",
                  from, n - i, log.origin, envelope_status_name(st));
        free(infos);
        return accept_each(rt, from, envs, lens, i, n, rc);
    }
    stats_count(rt->stats, "verify.by-run", n - i - 1);
    for (; i < n; i++) {
        if (take_verified(rt, from, &infos[i], envs[i], lens[i]) == -1) {
            if (n - i - 1 > 0)
                stats_count(rt->stats, "run.dropped", n - i - 1);
            free(infos);
            return -1;
        }
        rc = 1;
    }
    free(infos);
    return rc;
one_by_one:
    log_debug("peer %s: a run of %zu envelopes taken one by one: %s", from, n - i, why);
    free(infos);
    return accept_each(rt, from, envs, lens, i, n, rc);
}

int route_open_inbox(struct route *rt, const struct store_inbox_entry *e,
                     struct envelope_info *info, struct envelope_body **body)
{
    struct opened *o = &rt->opened[e->number % OPENED_SLOTS];
    uint8_t *env;
    size_t len;
    enum envelope_status st;

    /* Opened on accept, under the roster in force: hand it out once. */
    if (o->number == e->number && o->body != NULL && e->number >= rt->trusted_from &&
        memcmp(o->info.id, e->id, ENVELOPE_HASH_BYTES) == 0) {
        *info = o->info;
        *body = o->body;
        rt->opened_bytes -= o->body->payload_len;
        o->body = NULL;
        o->number = 0;
        return 0;
    }
    if (store_get(rt->store, &e->log, e->seq, &env, &len, NULL) != 1)
        return -1;
    /* A signature check costs as much as the rest of the opening. */
    if (e->number >= rt->trusted_from)
        st = envelope_open_verified(rt->keyring, env, len, rt->coalition, roster_envelope_lookup,
                                    rt->roster, info, body);
    else
        st = envelope_open(rt->keyring, env, len, rt->coalition, roster_envelope_lookup, rt->roster,
                           info, body);
    free(env);
    if (st == ENVELOPE_E_PRUNED) {
        /* Retention pruned it after every client that had subscribed
         * acknowledged it: only a client new since then meets it. */
        stats_count(rt->stats, "retention.inbox-pruned", 1);
        return -1;
    }
    if (st != ENVELOPE_OK) {
        log_warnx("route: inbox entry %llu no longer opens: %s", (unsigned long long)e->number,
                  envelope_status_name(st));
        return -1;
    }
    return 0;
}
