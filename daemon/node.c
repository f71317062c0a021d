/*
 * node: builds and tears down a running tmbusd, owns the group commit, and
 * holds the two paths every envelope takes into the store: node_post for
 * our own messages and node_accept for what peers relay. Both feed the
 * board what they can read, in the same batch as the envelope, and keep
 * DESIGN §4.11's promise: node_post records each recipient's delivery state,
 * node_accept answers every envelope addressed to us with a receipt entry
 * (never a receipt with a receipt), sent in one receipt per sender and log
 * when the round commits, and records the receipts it gets. Signals arrive
 * through a signalfd in the event loop, never in a handler. Holds the
 * member's keys only through keys.c and envelope.c.
 */
#include "node.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>
#include <zmq.h>

#include "api.h"
#include "board.h"
#include "log.h"
#include "peer.h"
#include "receipt.h"

_Static_assert(RECEIPT_PENDING == STORE_DELIVERY_PENDING,
               "the store's pending delivery state is the receipt module's");
_Static_assert(RECEIPT_MAX_BYTES <= ENVELOPE_MAX_PAYLOAD,
               "a receipt of RECEIPT_MAX_ENTRIES entries fits in one envelope");

#define BOARD_REJECTED_PREFIX "board.rejected." /* board_apply's rejection counters */

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
    [ENVELOPE_E_INTERNAL] = "rejected.internal-error",
};

bool node_is_self(const struct node *n, const char *member)
{
    return strcmp(n->cfg->member, member) == 0;
}

static int64_t now_unix(void)
{
    return (int64_t)time(NULL);
}

/* ---- batches ----------------------------------------------------------- */

int node_batch(struct node *n)
{
    if (store_in_batch(n->store))
        return 0;
    return store_begin(n->store);
}

static void send_answers(struct node *n);

int node_commit(struct node *n)
{
    bool ok = true;

    if (store_in_batch(n->store)) {
        send_answers(n);
        ok = store_commit(n->store) == 0;
        if (!ok) {
            stats_count(n->stats, "commit.failed", 1);
            log_warnx("node: commit of %zu envelopes failed; nothing in it is acknowledged",
                      n->batch_count);
        } else {
            stats_count(n->stats, "commit.batches", 1);
        }
    }
    peers_after_commit(n->peers, ok);
    api_after_commit(n->api, ok);
    n->n_answers = 0;
    n->is_batch_dirty = false;
    n->batch_count = 0;
    return ok ? 0 : -1;
}

/* The loop's round hook: everything read in one round commits together. */
static void on_round(void *arg)
{
    node_commit(arg);
}

/* ---- appending --------------------------------------------------------- */

static void log_of(const struct envelope_info *info, struct store_log *log)
{
    memset(log, 0, sizeof(*log));
    strcpy(log->origin, info->sender);
    strcpy(log->peer, info->log_peer);
}

static int append(struct node *n, const struct envelope_info *info, const uint8_t *env, size_t len)
{
    struct store_entry e = {0};

    log_of(info, &e.log);
    e.seq = info->seq;
    e.id = info->id;
    e.prev = info->has_prev ? info->prev_hash : NULL;
    e.expires_at = info->expires_at;
    e.envelope = env;
    e.envelope_len = len;
    if (store_append(n->store, &e) == -1)
        return -1;
    n->is_batch_dirty = true;
    n->batch_count++;
    return 0;
}

/* What one board_apply reported. Its first event is about the payload
 * itself; later ones are about waiting updates it let the board replay. */
struct board_seen {
    struct node *n;
    const char *first;
};

static void count_board(void *arg, const char *counter)
{
    struct board_seen *seen = arg;

    if (seen->first == NULL)
        seen->first = counter;
    stats_count(seen->n->stats, counter, 1);
}

/* Applies an opened payload to the board inside the open batch. *refused
 * (may be NULL) gets the board's reason name ("not-owner", …) when the board
 * declined this payload, else NULL. An update that waits for its object
 * counts as accepted: if it is refused when the object arrives, no second
 * receipt says so (the board's log line and counter do). */
static int apply_board(struct node *n, const struct envelope_info *info, const uint8_t *payload,
                       size_t len, const char **refused)
{
    struct board_msg m = {info->id, info->sender, info->log_peer, info->seq, info->created_at};
    struct board_seen seen = {n, NULL};
    struct roster_member sender;
    size_t k = strlen(BOARD_REJECTED_PREFIX);
    int rc;

    /* The board checks the sender's role as the poster's api did. */
    if (roster_find(n->roster, info->sender, &sender) == 0)
        m.role = (int)sender.role;
    rc = board_apply(n->store, &m, payload, len, count_board, &seen);
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
 * of theirs could not be opened (see told_unreadable in node.h). */
static bool is_first_unreadable(struct node *n, const char *member)
{
    for (size_t i = 0; i < n->n_told_unreadable; i++)
        if (strcmp(n->told_unreadable[i], member) == 0)
            return false;
    if (n->n_told_unreadable == ROSTER_MAX_MEMBERS)
        return false;
    snprintf(n->told_unreadable[n->n_told_unreadable++], UTIL_MEMBER_ID_MAX + 1, "%s", member);
    return true;
}

/* One entry of a receipt from the sender of info about one of our posts.
 * Only a recipient's first word is recorded; an entry from a member that was
 * not a recipient, about an envelope we did not post, or a second word is
 * ignored, logged and counted. Returns 0, or -1 when the store failed. */
static int record_entry(struct node *n, const struct envelope_info *info,
                        const struct receipt_entry *r)
{
    char hex[17];
    int state, rc;

    if ((rc = store_delivery_find(n->store, r->envelope_id, info->sender, &state)) == -1)
        return -1;
    if (rc == 0) {
        if ((rc = store_delivery_find(n->store, r->envelope_id, NULL, &state)) == -1)
            return -1;
        stats_count(n->stats,
                    rc == 1 ? "receipts.ignored.not-recipient" : "receipts.ignored.unknown", 1);
        log_warnx("node: ignored a receipt from %s about %s: %s", info->sender,
                  short_hex(r->envelope_id, hex),
                  rc == 1 ? "it was not a recipient of that post" : "we posted no such envelope");
        return 0;
    }
    rc = store_delivery_set(n->store, r->envelope_id, info->sender, r->state, r->reason,
                            info->created_at);
    if (rc == -1)
        return -1;
    stats_count(n->stats, rc == 1 ? "receipts.recorded" : "receipts.ignored.duplicate", 1);
    log_debug("node: %s: %s %s", short_hex(r->envelope_id, hex), info->sender,
              rc == 1 ? receipt_state_name(r->state) : "said so again; first word kept");
    return 0;
}

/* Every entry of a receipt from the sender of info, each on its own. */
static int record_receipt(struct node *n, const struct envelope_info *info, const struct receipt *r)
{
    for (size_t i = 0; i < r->n_entries; i++)
        if (record_entry(n, info, &r->entries[i]) == -1)
            return -1;
    return 0;
}

/* Adds an envelope we can open to the inbox, unless it expired: expiry
 * governs delivery, the envelope keeps its place in the log regardless.
 * body, when not NULL, is the opened envelope, applied to the board first
 * and, when it is a receipt, recorded against our posts; node_post passes
 * NULL because it applied its own payload already. *ans (may be NULL)
 * gets the receipt entry the sender is due; a receipt is never answered. */
static int deliver(struct node *n, const struct envelope_info *info,
                   const struct envelope_body *body, struct answer *ans)
{
    enum receipt_kind kind = RECEIPT_NOT_A_RECEIPT;
    const char *refused = NULL;
    struct receipt *r = NULL;
    struct store_log log;
    uint64_t number;
    int rc;

    if (body != NULL)
        kind = receipt_decode(body->payload, body->payload_len, &r);
    if (info->expires_at != 0 && now_unix() >= info->expires_at) {
        receipt_free(&r);
        stats_count(n->stats, "expired", 1);
        if (kind == RECEIPT_NOT_A_RECEIPT)
            set_answer(ans, RECEIPT_REJECTED, "expired");
        return 0;
    }
    rc = body != NULL ? apply_board(n, info, body->payload, body->payload_len, &refused) : 0;
    if (rc == 0 && kind == RECEIPT_VALID && !node_is_self(n, info->sender))
        rc = record_receipt(n, info, r);
    receipt_free(&r);
    if (rc == -1)
        return -1;
    if (kind == RECEIPT_MALFORMED) {
        stats_count(n->stats, "receipts.malformed", 1);
        log_warnx("node: a malformed receipt from %s (%s log, seq %llu)", info->sender,
                  info->is_direct ? "direct" : "relayed", (unsigned long long)info->seq);
    }
    log_of(info, &log);
    if (store_inbox_add(n->store, &log, info->seq, info->id, info->expires_at, &number) == -1)
        return -1;
    stats_count(n->stats, "delivered", 1);
    if (kind == RECEIPT_NOT_A_RECEIPT) {
        char why[RECEIPT_REASON_MAX + 1];
        snprintf(why, sizeof(why), "refused by the board: %s", refused != NULL ? refused : "");
        set_answer(ans, refused != NULL ? RECEIPT_REJECTED : RECEIPT_DELIVERED,
                   refused != NULL ? why : "");
    }
    return 0;
}

static int post_envelopes(struct node *n, const uint8_t *payload, size_t len,
                          const char *const *recipients, size_t n_recipients,
                          const struct envelope_recipient *rcpt, bool to_self, bool is_direct,
                          int64_t expires_at, struct node_placed *placed, size_t *n_placed,
                          const char **reason);

/* Records a post's recipients as pending (this member itself as delivered:
 * post_envelopes delivered it already), each against the envelope that went
 * to it, all under the post's first envelope id. */
static int track(struct node *n, const char *const *recipients, size_t n_recipients, bool is_direct,
                 const struct node_placed *placed)
{
    int64_t now = now_unix();

    for (size_t i = 0; i < n_recipients; i++) {
        const uint8_t *id = placed[is_direct ? i : 0].id;
        int state = node_is_self(n, recipients[i]) ? RECEIPT_DELIVERED : RECEIPT_PENDING;

        if (store_delivery_add(n->store, placed[0].id, id, recipients[i], state, now) == -1)
            return -1;
    }
    return 0;
}

/* node_post, and the receipts' path with is_tracked false: a receipt has
 * no delivery state of its own (it is never answered). */
static int post(struct node *n, const uint8_t *payload, size_t len, const char *const *recipients,
                size_t n_recipients, bool is_direct, int64_t expires_at, bool is_tracked,
                struct node_placed *placed, size_t *n_placed, const char **reason)
{
    struct envelope_recipient rcpt[ENVELOPE_MAX_RECIPIENTS];
    struct roster_member m;
    bool to_self = false;

    *n_placed = 0;
    if (n_recipients == 0 || n_recipients > ENVELOPE_MAX_RECIPIENTS) {
        *reason = "between 1 and 128 recipients are required";
        return -1;
    }
    for (size_t i = 0; i < n_recipients; i++) {
        if (roster_find(n->roster, recipients[i], &m) == -1) {
            *reason = "a recipient is not a roster member";
            return -1;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(recipients[i], recipients[j]) == 0) {
                *reason = "a recipient is named twice";
                return -1;
            }
        rcpt[i] = (struct envelope_recipient){m.id, m.box_pk};
        to_self |= node_is_self(n, recipients[i]);
    }
    if (is_direct && to_self) {
        *reason = "a TLP:RED message cannot be addressed to this member itself";
        return -1;
    }
    if (node_batch(n) == -1 || store_group_begin(n->store) == -1) {
        *reason = "the node's store failed";
        return -1;
    }
    /* One post is all or nothing: a failure part way through a direct post
     * to several members undoes the envelopes already appended. */
    if (post_envelopes(n, payload, len, recipients, n_recipients, rcpt, to_self, is_direct,
                       expires_at, placed, n_placed, reason) == -1) {
        store_group_end(n->store, false);
        *n_placed = 0;
        return -1;
    }
    if (is_tracked && track(n, recipients, n_recipients, is_direct, placed) == -1) {
        store_group_end(n->store, false);
        *n_placed = 0;
        *reason = "the node's store failed";
        return -1;
    }
    if (store_group_end(n->store, true) == -1) {
        *n_placed = 0;
        *reason = "the node's store failed";
        return -1;
    }
    return 0;
}

int node_post(struct node *n, const uint8_t *payload, size_t len, const char *const *recipients,
              size_t n_recipients, bool is_direct, int64_t expires_at, struct node_placed *placed,
              size_t *n_placed, const char **reason)
{
    /* A client may send a receipt of its own; like ours, it is never
     * answered, so it has no delivery state to keep. */
    bool is_tracked = receipt_decode(payload, len, NULL) == RECEIPT_NOT_A_RECEIPT;

    return post(n, payload, len, recipients, n_recipients, is_direct, expires_at, is_tracked,
                placed, n_placed, reason);
}

static int post_envelopes(struct node *n, const uint8_t *payload, size_t len,
                          const char *const *recipients, size_t n_recipients,
                          const struct envelope_recipient *rcpt, bool to_self, bool is_direct,
                          int64_t expires_at, struct node_placed *placed, size_t *n_placed,
                          const char **reason)
{
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

        strcpy(log.origin, n->cfg->member);
        if (is_direct)
            strcpy(log.peer, recipients[k]);
        if (store_head(n->store, &log, &head) == -1) {
            *reason = "the node's store failed";
            return -1;
        }
        a.coalition = n->cfg->coalition;
        a.log_peer = is_direct ? recipients[k] : NULL;
        a.seq = head.seq + 1;
        a.prev_hash = head.seq > 0 ? head.id : NULL;
        a.roster_version = roster_version(n->roster);
        a.created_at = now_unix();
        a.expires_at = expires_at;
        a.payload = payload;
        a.payload_len = len;
        a.recipients = is_direct ? &rcpt[k] : rcpt;
        a.n_recipients = is_direct ? 1 : n_recipients;
        if ((st = envelope_seal(n->keyring, &a, &env, &env_len, &info)) != ENVELOPE_OK) {
            log_warnx("node: cannot seal a post: %s", envelope_status_name(st));
            *reason = st == ENVELOPE_E_SIZE ? "the payload is too large" : "sealing failed";
            return -1;
        }
        if (append(n, &info, env, env_len) == -1 ||
            apply_board(n, &info, payload, len, NULL) == -1 ||
            (to_self && deliver(n, &info, NULL, NULL) == -1)) {
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
static void answer_sender(struct node *n, const struct envelope_info *info,
                          const struct answer *ans)
{
    struct node_answer *a;

    if (!ans->is_due || node_is_self(n, info->sender))
        return;
    if (n->n_answers == n->cap_answers) {
        size_t cap = n->cap_answers == 0 ? 64 : 2 * n->cap_answers;
        struct node_answer *grown = realloc(n->answers, cap * sizeof(*grown));
        if (grown == NULL) {
            stats_count(n->stats, "receipts.failed", 1);
            log_warn("node: no receipt to %s for its %s log seq %llu: realloc", info->sender,
                     info->is_direct ? "direct" : "relayed", (unsigned long long)info->seq);
            return;
        }
        n->answers = grown;
        n->cap_answers = cap;
    }
    a = &n->answers[n->n_answers++];
    snprintf(a->sender, sizeof(a->sender), "%s", info->sender);
    a->is_direct = info->is_direct;
    a->is_sent = false;
    memcpy(a->entry.envelope_id, info->id, RECEIPT_ID_BYTES);
    a->entry.state = ans->state;
    snprintf(a->entry.reason, sizeof(a->entry.reason), "%s", ans->reason);
}

/* Posts one receipt of entries[0..k) to member to, in the relayed log or,
 * for direct (TLP:RED) originals, in the direct log to it, so that it never
 * passes a third node. */
static void send_receipt(struct node *n, const char *to, bool is_direct,
                         const struct receipt_entry *entries, size_t k)
{
    const char *rcpt[1] = {to};
    struct node_placed placed[1];
    const char *why = "the receipt cannot be encoded";
    uint8_t *buf = NULL;
    size_t len, n_placed;

    if (receipt_encode(entries, k, &buf, &len) == -1 ||
        post(n, buf, len, rcpt, 1, is_direct, 0, false, placed, &n_placed, &why) == -1) {
        stats_count(n->stats, "receipts.failed", k);
        log_warnx("node: no receipt of %zu entries to %s in the %s log: %s", k, to,
                  is_direct ? "direct" : "relayed", why);
    } else {
        stats_count(n->stats, "receipts.sent", k);
        stats_count(n->stats, "receipts.envelopes", 1);
    }
    free(buf);
}

/* Seals the entries owed this round into the open batch: one receipt per
 * sender and log, in the order the envelopes were accepted, split every
 * RECEIPT_MAX_ENTRIES entries. One envelope per envelope answered cost a
 * seal, a signature and a relay each; a round's worth shares them. */
static void send_answers(struct node *n)
{
    struct receipt_entry *group;

    if (n->n_answers == 0)
        return;
    if ((group = malloc(RECEIPT_MAX_ENTRIES * sizeof(*group))) == NULL) {
        stats_count(n->stats, "receipts.failed", n->n_answers);
        log_warn("node: %zu receipt entries lost: malloc", n->n_answers);
        n->n_answers = 0;
        return;
    }
    for (size_t i = 0; i < n->n_answers; i++) {
        const struct node_answer *first = &n->answers[i];
        size_t k = 0;

        if (first->is_sent)
            continue;
        for (size_t j = i; j < n->n_answers && k < RECEIPT_MAX_ENTRIES; j++) {
            struct node_answer *a = &n->answers[j];
            if (a->is_sent || a->is_direct != first->is_direct ||
                strcmp(a->sender, first->sender) != 0)
                continue;
            group[k++] = a->entry;
            a->is_sent = true;
        }
        send_receipt(n, first->sender, first->is_direct, group, k);
        /* Entries beyond the bound stay unsent: a later i picks them up. */
    }
    free(group);
    n->n_answers = 0;
}

/* ---- accepting from peers --------------------------------------------- */

static int reject(struct node *n, const char *from, const char *counter, const char *why)
{
    stats_count(n->stats, counter, 1);
    log_warnx("peer %s: rejected an envelope: %s", from, why);
    return -1;
}

/* Seq at or below our head: the same envelope again is harmless, a
 * different one is equivocation, kept as evidence. */
static int seen_before(struct node *n, const char *from, const struct envelope_info *info,
                       const struct store_log *log, const uint8_t *env, size_t len)
{
    uint8_t held[ENVELOPE_HASH_BYTES];
    uint8_t *copy = NULL;
    size_t copy_len;
    int found;

    found = store_get(n->store, log, info->seq, &copy, &copy_len, held);
    free(copy);
    if (found != 1)
        return reject(n, from, "rejected.store-error", "store lookup failed");
    if (memcmp(held, info->id, ENVELOPE_HASH_BYTES) == 0) {
        stats_count(n->stats, "duplicate", 1);
        return 0;
    }
    if (node_batch(n) == -1 || store_add_evidence(n->store, log, info->seq, env, len) == -1)
        return reject(n, from, "rejected.store-error", "could not keep evidence");
    n->is_batch_dirty = true;
    stats_count(n->stats, "equivocation", 1);
    log_warnx("ALARM: member %s signed two different envelopes for %s log seq "
              "%llu (seen via "
              "%s); evidence kept, log halted",
              info->sender, log->peer[0] ? "a direct" : "its relayed",
              (unsigned long long)info->seq, from);
    return -1;
}

int node_accept(struct node *n, const char *from, const uint8_t *env, size_t len)
{
    struct envelope_info info;
    struct envelope_body *body = NULL;
    struct answer ans = {0};
    struct store_head head;
    struct store_log log;
    enum envelope_status st;

    st = envelope_verify(env, len, n->cfg->coalition, roster_envelope_lookup, n->roster, &info);
    if (st != ENVELOPE_OK)
        return reject(n, from, rejected_names[st], envelope_status_name(st));
    /* A direct (TLP:RED) log travels only from its origin to its named
     * recipient, over their own link. */
    if (info.is_direct && (strcmp(info.sender, from) != 0 || !node_is_self(n, info.log_peer)))
        return reject(n, from, "rejected.direct-misrouted",
                      "a direct log arrived from a third node or for another member");
    log_of(&info, &log);
    if (store_head(n->store, &log, &head) == -1)
        return reject(n, from, "rejected.store-error", "store lookup failed");
    if (head.is_halted)
        return reject(n, from, "rejected.halted-log", "the log is halted after equivocation");
    if (info.seq <= head.seq)
        return seen_before(n, from, &info, &log, env, len);
    if (info.seq != head.seq + 1)
        return reject(n, from, "rejected.out-of-order", "seq is not held + 1 (a gap)");
    if (info.has_prev && memcmp(info.prev_hash, head.id, ENVELOPE_HASH_BYTES) != 0)
        return reject(n, from, "rejected.bad-prev-hash", "prev_hash does not match our head");
    /* The envelope, its board changes and its inbox entry are one group:
     * all of them enter the batch, or none. */
    if (node_batch(n) == -1 || store_group_begin(n->store) == -1)
        return reject(n, from, "rejected.store-error", "cannot open a write group");
    if (append(n, &info, env, len) == -1) {
        store_group_end(n->store, false);
        return reject(n, from, "rejected.store-error", "append failed");
    }

    /* Addressed to us? Relays simply find no stanza of theirs. These bytes
     * passed envelope_verify above, so the signature is not checked twice. */
    st = envelope_open_verified(n->keyring, env, len, n->cfg->coalition, roster_envelope_lookup,
                                n->roster, NULL, &body);
    if (st == ENVELOPE_OK) {
        int rc = deliver(n, &info, body, &ans);
        envelope_body_free(&body);
        if (rc == -1) {
            store_group_end(n->store, false);
            return reject(n, from, "rejected.store-error", "board or inbox write failed");
        }
    } else if (st != ENVELOPE_E_NOT_RECIPIENT) {
        /* Signed by its sender yet unreadable for us: it keeps its place in
         * the log (relays cannot tell), but it is never delivered. */
        stats_count(n->stats, "undeliverable", 1);
        log_warnx("peer %s: envelope %s/%llu from %s addressed to us cannot be "
                  "opened: %s",
                  from, info.sender, (unsigned long long)info.seq, info.sender,
                  envelope_status_name(st));
        if (is_first_unreadable(n, info.sender)) {
            char why[RECEIPT_REASON_MAX + 1];
            snprintf(why, sizeof(why), "cannot be opened: %s", envelope_status_name(st));
            set_answer(&ans, RECEIPT_REJECTED, why);
        }
    }
    if (store_group_end(n->store, true) == -1)
        return reject(n, from, "rejected.store-error", "commit of the write group failed");
    stats_count(n->stats, "accepted", 1);
    answer_sender(n, &info, &ans);
    return 1;
}

int node_open_inbox(struct node *n, const struct store_inbox_entry *e, struct envelope_info *info,
                    struct envelope_body **body)
{
    uint8_t *env;
    size_t len;
    enum envelope_status st;

    if (store_get(n->store, &e->log, e->seq, &env, &len, NULL) != 1)
        return -1;
    st = envelope_open(n->keyring, env, len, n->cfg->coalition, roster_envelope_lookup, n->roster,
                       info, body);
    free(env);
    if (st != ENVELOPE_OK) {
        log_warnx("node: inbox entry %llu no longer opens: %s", (unsigned long long)e->number,
                  envelope_status_name(st));
        return -1;
    }
    return 0;
}

/* ---- start, reload, stop ------------------------------------------------ */

/* The roster file checked as the operator's trusted root (prev == NULL)
 * or as the successor of prev. An expired roster is refused for running. */
static struct roster *load_roster(const struct config *cfg, const struct roster *prev)
{
    struct roster *r = NULL;
    enum roster_status st;
    uint8_t *buf;
    size_t len;

    if (util_read_file(cfg->roster, ROSTER_MAX_SIZE, &buf, &len) == -1) {
        log_warn("roster %s", cfg->roster);
        return NULL;
    }
    if (prev == NULL)
        st = roster_verify_trusted(buf, len, cfg->coalition, &r);
    else
        st = roster_verify(buf, len, cfg->coalition, now_unix(), prev, &r);
    free(buf);
    if (st == ROSTER_OK && now_unix() >= roster_expires_at(r)) {
        roster_free(&r);
        st = ROSTER_E_EXPIRED;
    }
    if (st != ROSTER_OK) {
        log_warnx("roster %s: refused: %s", cfg->roster, roster_status_name(st));
        return NULL;
    }
    return r;
}

/* Our own entry in the roster must carry exactly our keys. */
static int check_self(const struct node *n)
{
    struct roster_member m;

    if (roster_find(n->roster, n->cfg->member, &m) == -1) {
        log_warnx("member %s is not in the roster", n->cfg->member);
        return -1;
    }
    if (memcmp(m.sign_pk, n->keys->sign_pk, KEYS_PUBLIC_BYTES) != 0 ||
        memcmp(m.box_pk, n->keys->box_pk, KEYS_PUBLIC_BYTES) != 0 ||
        memcmp(m.transport_pk, n->keys->transport_pk, KEYS_PUBLIC_BYTES) != 0) {
        log_warnx("the keys in %s are not member %s's active keys in the roster", n->cfg->keys,
                  n->cfg->member);
        return -1;
    }
    return 0;
}

/* ZAP: peers are roster members (never ourselves), clients are listed in
 * the configuration. */
static int zap_check(void *arg, const char *domain, const uint8_t *pk, char *user_id)
{
    struct node *n = arg;

    if (strcmp(domain, "peer") == 0) {
        struct roster_member m;
        if (roster_find_by_transport(n->roster, pk, &m) == -1 || node_is_self(n, m.id)) {
            stats_count(n->stats, "zap.denied.peer", 1);
            return -1;
        }
        snprintf(user_id, ZAP_USER_ID_MAX + 1, "%s", m.id);
        return 0;
    }
    if (strcmp(domain, "client") == 0) {
        const struct config_client *c = config_find_client(n->cfg, pk);
        if (c == NULL) {
            stats_count(n->stats, "zap.denied.client", 1);
            return -1;
        }
        snprintf(user_id, ZAP_USER_ID_MAX + 1, "%s", c->name);
        return 0;
    }
    stats_count(n->stats, "zap.denied.domain", 1);
    return -1;
}

static void reload(struct node *n)
{
    char err[CONFIG_ERR_MAX];
    struct config *cfg;
    struct roster *r;

    log_info("reloading configuration and roster");
    if ((cfg = config_load(n->cfg->path, err, sizeof(err))) == NULL) {
        log_warnx("reload refused, keeping the running configuration: %s", err);
        return;
    }
    if (!config_reload_allowed(n->cfg, cfg, err, sizeof(err))) {
        log_warnx("reload refused, keeping the running configuration: %s", err);
        config_free(&cfg);
        return;
    }
    config_free(&n->cfg);
    n->cfg = cfg;
    log_init("tmbusd", n->cfg->log_level);

    /* The same roster again is not an update; a new one must chain from
     * the one we trust. */
    if ((r = load_roster(n->cfg, NULL)) != NULL &&
        memcmp(roster_hash(r), roster_hash(n->roster), ENVELOPE_HASH_BYTES) == 0) {
        roster_free(&r);
    } else {
        roster_free(&r);
        if ((r = load_roster(n->cfg, n->roster)) == NULL) {
            log_warnx("reload: keeping roster version %llu",
                      (unsigned long long)roster_version(n->roster));
        } else {
            roster_free(&n->roster);
            n->roster = r;
            log_info("roster version %llu in force", (unsigned long long)roster_version(r));
        }
    }
    peers_roster_changed(n->peers);
}

static void on_signal(void *arg)
{
    struct node *n = arg;
    struct signalfd_siginfo si;

    while (read(n->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGHUP) {
            reload(n);
        } else {
            log_info("signal %u: stopping", si.ssi_signo);
            loop_stop(n->loop);
        }
    }
}

static int start_signals(struct node *n)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &set, NULL) == -1 ||
        (n->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1) {
        log_warn("signalfd");
        return -1;
    }
    /* A peer that vanishes must not kill us through a write. */
    signal(SIGPIPE, SIG_IGN);
    return loop_add_fd(n->loop, n->signal_fd, on_signal, n);
}

struct node *node_new(struct config *cfg)
{
    struct node *n = calloc(1, sizeof(*n));

    if (n == NULL) {
        config_free(&cfg);
        return NULL;
    }
    n->cfg = cfg;
    n->signal_fd = -1;
    n->started_ms = loop_now_ms();
    if ((n->stats = stats_new()) == NULL)
        goto fail;
    if ((n->keys = keys_load(cfg->keys)) == NULL)
        goto fail;
    if (n->keys->kind != KEYS_MEMBER || strcmp(n->keys->member, cfg->member) != 0) {
        log_warnx("%s: not the member key file of %s", cfg->keys, cfg->member);
        goto fail;
    }
    if ((n->roster = load_roster(cfg, NULL)) == NULL || check_self(n) == -1)
        goto fail;
    if ((n->keyring = envelope_keyring_new(n->keys)) == NULL)
        goto fail;
    if ((n->store = store_open(cfg->data_dir)) == NULL)
        goto fail;
    if ((n->loop = loop_new()) == NULL || (n->zctx = zmq_ctx_new()) == NULL)
        goto fail;
    /* The ZAP handler first: a CURVE server bound before it would admit
     * any key. */
    if ((n->zap = zap_new(n->zctx, zap_check, n)) == NULL ||
        loop_add_socket(n->loop, zap_socket(n->zap), zap_on_ready, n->zap) == -1)
        goto fail;
    if (start_signals(n) == -1)
        goto fail;
    if ((n->peers = peers_new(n)) == NULL || (n->api = api_new(n)) == NULL)
        goto fail;
    loop_set_round_hook(n->loop, on_round, n);
    log_info("member %s running: roster version %llu, %zu members", cfg->member,
             (unsigned long long)roster_version(n->roster), roster_member_count(n->roster));
    return n;
fail:
    node_free(&n);
    return NULL;
}

void node_free(struct node **np)
{
    struct node *n;

    if (np == NULL || (n = *np) == NULL)
        return;
    if (n->store != NULL && n->peers != NULL && n->api != NULL)
        node_commit(n);
    api_free(&n->api);
    peers_free(&n->peers);
    zap_free(&n->zap);
    if (n->zctx != NULL)
        zmq_ctx_term(n->zctx);
    if (n->signal_fd != -1)
        close(n->signal_fd);
    loop_free(&n->loop);
    store_close(&n->store);
    envelope_keyring_free(&n->keyring);
    roster_free(&n->roster);
    keys_free(&n->keys);
    config_free(&n->cfg);
    free(n->answers);
    stats_free(&n->stats);
    free(n);
    *np = NULL;
}

int node_run(struct node *n)
{
    int rc;

    sd_notify(0, "READY=1");
    rc = loop_run(n->loop);
    sd_notify(0, "STOPPING=1");
    return rc;
}
