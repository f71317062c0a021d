/*
 * tmbus-admin audit: checks a node's audit log offline, and shows its last
 * entries. It reads DATA_DIR/tmbus.db read-only (beside a running node,
 * too), recomputes the Merkle tree from every entry, and checks each
 * signed checkpoint's root and signature against the member key that the
 * store's trusted roster gives, then each cosignature peers returned for
 * those checkpoints and each peer checkpoint the node holds (PROTOCOL.md
 * 13.1) against the signer's key. A log that began a new epoch after a
 * loss (13.2) is one tree still: every checkpoint of every epoch is checked
 * against it, and each epoch's first checkpoint must follow the entry that
 * records its reset. Every rule lives in daemon/audit.c; this file walks,
 * compares and prints, and never writes to the store.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "audit.h"
#include "log.h"
#include "roster.h"
#include "store.h"

#define EX_FAILED     1 /* the log fails verification */
#define EX_UNREADABLE 2 /* no store, no audit log, no trusted roster, I/O */
#define SHOW_DEFAULT  20
#define SHOW_MAX      1000000
#define WHY_MAX       512
#define STOP_FAILED                                                                                \
    3 /* a walk's callback found an inconsistency (store_audit_peek's 1 is "walked to the end") */

static const char synopsis[] = "usage: tmbus-admin audit verify DATA_DIR\n"
                               "       tmbus-admin audit show DATA_DIR [--last N]\n";

static const char details[] =
    "\n"
    "verify  recomputes the audit log's Merkle tree from every entry and checks each\n"
    "        signed checkpoint: its root against the tree of its size and its signature\n"
    "        against the member key in the store's trusted roster; then each cosignature\n"
    "        peers returned: a checkpoint of that size exists and the signature is the\n"
    "        cosigner's; and each peer checkpoint held: signed by that peer. Reports the\n"
    "        first inconsistency with its index. Checkpoints of every epoch are checked\n"
    "        against the one tree; each epoch's first checkpoint must follow the entry\n"
    "        that records its reset, and the resets are listed, with those of peers\n"
    "        this node recorded. Exit 0 when the log verifies, 1 when it\n"
    "        does not, 2 when it cannot be read.\n"
    "show    prints the last N entries (default 20) and the last checkpoint.\n";

/* ---- verify ---------------------------------------------------------------- */

struct verify {
    struct audit_checkpoint *cps; /* in size order */
    size_t n_cps, cap_cps;
    size_t next_cp;        /* the first checkpoint whose size is not reached yet */
    uint64_t last_cp_size; /* the size of the last checkpoint that matched */
    struct audit_frontier tree;
    int64_t last_at_ms;
    bool has_backwards;
    uint64_t backwards_at; /* the first entry earlier than the one before it */
    const struct roster *roster;
    size_t n_cosigs, n_peers;
    uint32_t signer_gen;     /* the key generation of the last checkpoint's signature */
    size_t n_retired;        /* checkpoints signed with a retired generation */
    char cosigners[WHY_MAX]; /* of the last checkpoint, for the summary */
    uint64_t cosigned_size;  /* the largest checkpoint cosigned */
    /* Epochs (PROTOCOL.md 13.2): the last checkpoint's, and the last reset
     * of our own the log recorded (its epoch, index and detail); resets of
     * peers recorded, and peers held in an epoch above 0. */
    uint64_t epoch, reset_epoch, reset_at;
    char reset_detail[AUDIT_DETAIL_MAX + 1];
    char epochs[WHY_MAX];
    size_t n_peer_resets;
    char peer_resets[WHY_MAX];
    char peer_epochs[WHY_MAX];
    char why[WHY_MAX];
};

/* Appends printf-style text to buf, cut at its end. */
static void append(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t size, const char *fmt, ...)
{
    size_t n = strlen(buf);
    va_list ap;

    if (n + 1 >= size)
        return;
    va_start(ap, fmt);
    vsnprintf(buf + n, size - n, fmt, ap);
    va_end(ap);
}

static int collect_checkpoint(void *arg, const struct store_audit_checkpoint *row)
{
    struct verify *v = arg;
    struct audit_checkpoint *cp;

    if (v->n_cps == v->cap_cps) {
        size_t cap = v->cap_cps ? 2 * v->cap_cps : 64;
        struct audit_checkpoint *grown = realloc(v->cps, cap * sizeof(*grown));

        if (grown == NULL) {
            snprintf(v->why, sizeof(v->why), "out of memory");
            return -1;
        }
        v->cps = grown;
        v->cap_cps = cap;
    }
    cp = &v->cps[v->n_cps++];
    cp->epoch = row->epoch;
    cp->size = row->size;
    memcpy(cp->root, row->root, AUDIT_HASH_BYTES);
    cp->at = row->at;
    memcpy(cp->member, row->member, sizeof(cp->member));
    memcpy(cp->sig, row->sig, sizeof(cp->sig));
    return 0;
}

/* Whether cp is signed by a RETIRED generation of its member's keys while
 * it was active: a generation no older than the one that signed the
 * checkpoint before it, since generations only grow on rotation. So once a
 * newer key signed, an older one signs nothing after (a retired key that
 * leaked cannot extend the log). */
static bool is_signed_by_retired(struct verify *v, const struct audit_checkpoint *cp)
{
    struct roster_retired_key keys[ROSTER_MAX_KEYS];
    size_t n = roster_retired_keys(v->roster, cp->member, keys, ROSTER_MAX_KEYS);

    for (size_t i = 0; i < n; i++)
        if (keys[i].key_id >= v->signer_gen && audit_checkpoint_verify(cp, keys[i].sign_pk)) {
            v->signer_gen = keys[i].key_id;
            v->n_retired++;
            return true;
        }
    return false;
}

/* Checks checkpoint cp (its size reached) against the tree and the
 * roster. Returns 0, or STOP_FAILED with the reason in v->why. */
static int check_checkpoint(struct verify *v, const struct audit_checkpoint *cp)
{
    struct roster_member m;
    uint8_t root[AUDIT_HASH_BYTES];

    audit_frontier_root(&v->tree, root);
    if (memcmp(root, cp->root, AUDIT_HASH_BYTES) != 0) {
        int n = snprintf(v->why, sizeof(v->why),
                         "checkpoint at size %" PRIu64 ": the entries do not give its root: "
                         "entries %" PRIu64 "..%" PRIu64 " were edited, removed or reordered",
                         cp->size, v->last_cp_size, cp->size - 1);
        if (v->has_backwards && v->backwards_at < cp->size && n > 0 && (size_t)n < sizeof(v->why))
            snprintf(v->why + n, sizeof(v->why) - (size_t)n,
                     " (entry %" PRIu64 " is dated before entry %" PRIu64 ")", v->backwards_at,
                     v->backwards_at - 1);
        return STOP_FAILED;
    }
    if (roster_find(v->roster, cp->member, &m) != 0) {
        snprintf(v->why, sizeof(v->why),
                 "checkpoint at size %" PRIu64 ": signed as %s, who is not in the trusted roster",
                 cp->size, cp->member);
        return STOP_FAILED;
    }
    if (audit_checkpoint_verify(cp, m.sign_pk)) {
        v->signer_gen = m.key_id;
    } else if (m.next_sign_pk != NULL && audit_checkpoint_verify(cp, m.next_sign_pk)) {
        /* Signed with the newer generation of a rotation's overlap. */
        v->signer_gen = m.next_key_id;
    } else if (!is_signed_by_retired(v, cp)) {
        snprintf(v->why, sizeof(v->why),
                 "checkpoint at size %" PRIu64 ": its signature is not %s's%s", cp->size,
                 cp->member,
                 v->signer_gen > 0 ? " (nor by a key retired before the last checkpoint's)" : "");
        return STOP_FAILED;
    }
    if (cp->epoch < v->epoch) {
        snprintf(v->why, sizeof(v->why),
                 "checkpoint at size %" PRIu64 ": epoch %" PRIu64 ", below the epoch %" PRIu64
                 " of the checkpoint before it",
                 cp->size, cp->epoch, v->epoch);
        return STOP_FAILED;
    }
    if (cp->epoch > v->epoch) {
        if (v->reset_epoch != cp->epoch) {
            snprintf(v->why, sizeof(v->why),
                     "checkpoint at size %" PRIu64 ": begins epoch %" PRIu64
                     " but no entry before it records that reset",
                     cp->size, cp->epoch);
            return STOP_FAILED;
        }
        append(v->epochs, sizeof(v->epochs), "epoch %" PRIu64 " from entry %" PRIu64 " (%s)\n",
               cp->epoch, v->reset_at, v->reset_detail);
        v->epoch = cp->epoch;
    }
    v->last_cp_size = cp->size;
    return 0;
}

/* Notes an entry that records an epoch reset: our own (for the checkpoint
 * that begins it) or a peer's. */
static void note_epoch(struct verify *v, uint64_t idx, const struct audit_entry *e)
{
    if (e->kind != AUDIT_EPOCH)
        return;
    if (e->actor_kind == AUDIT_BY_NODE) {
        v->reset_epoch = e->seq;
        v->reset_at = idx;
        snprintf(v->reset_detail, sizeof(v->reset_detail), "%s", e->detail);
        return;
    }
    v->n_peer_resets++;
    append(v->peer_resets, sizeof(v->peer_resets), "%s%s to epoch %" PRIu64 " at entry %" PRIu64,
           v->peer_resets[0] ? ", " : "", e->actor, e->seq, idx);
}

static int check_entry(void *arg, uint64_t idx, const uint8_t *entry, size_t len)
{
    struct verify *v = arg;
    struct audit_entry e;
    uint8_t h[AUDIT_HASH_BYTES];

    if (idx != v->tree.size) {
        snprintf(v->why, sizeof(v->why), "entry %" PRIu64 ": missing (the next one is %" PRIu64 ")",
                 v->tree.size, idx);
        return STOP_FAILED;
    }
    if (audit_entry_decode(entry, len, &e) != 0) {
        snprintf(v->why, sizeof(v->why), "entry %" PRIu64 ": malformed", idx);
        return STOP_FAILED;
    }
    /* A clock stepped back is possible, so an entry dated before the one
     * before it is not an inconsistency on its own: it names the likely
     * place when a checkpoint root then differs. */
    if (idx > 0 && e.at_ms < v->last_at_ms && !v->has_backwards) {
        v->has_backwards = true;
        v->backwards_at = idx;
    }
    v->last_at_ms = e.at_ms;
    note_epoch(v, idx, &e);
    audit_hash_leaf(entry, len, h);
    audit_frontier_append(&v->tree, h);
    while (v->next_cp < v->n_cps && v->cps[v->next_cp].size == v->tree.size)
        if (check_checkpoint(v, &v->cps[v->next_cp++]) != 0)
            return STOP_FAILED;
    return 0;
}

/* The checkpoint of exactly size, or NULL. */
static const struct audit_checkpoint *find_checkpoint(const struct verify *v, uint64_t size)
{
    size_t lo = 0, hi = v->n_cps;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v->cps[mid].size == size)
            return &v->cps[mid];
        if (v->cps[mid].size < size)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Whether c is by a RETIRED generation of its cosigner's keys. A
 * cosignature's place in the cosigner's history is not known here, so
 * any retired (never a revoked) generation counts. */
static bool is_cosigned_by_retired(struct verify *v, const struct store_audit_cosignature *c,
                                   const struct audit_checkpoint *cp)
{
    struct roster_retired_key keys[ROSTER_MAX_KEYS];
    size_t n = roster_retired_keys(v->roster, c->cosigner, keys, ROSTER_MAX_KEYS);

    for (size_t i = 0; i < n; i++)
        if (audit_cosignature_verify(c->cosigner, cp, c->sig, keys[i].sign_pk))
            return true;
    return false;
}

/* A cosignature: of a checkpoint the log holds (and so, checked above,
 * consistent with it), by a roster member, under that member's key. */
static int check_cosignature(void *arg, const struct store_audit_cosignature *c)
{
    struct verify *v = arg;
    const struct audit_checkpoint *cp = find_checkpoint(v, c->size);
    struct roster_member m;

    if (cp == NULL) {
        snprintf(v->why, sizeof(v->why),
                 "cosignature by %s of a checkpoint at size %" PRIu64 " that the log does not hold",
                 c->cosigner, c->size);
        return STOP_FAILED;
    }
    if (roster_find(v->roster, c->cosigner, &m) != 0) {
        snprintf(v->why, sizeof(v->why),
                 "cosignature of the checkpoint at size %" PRIu64
                 " by %s, who is not in the trusted roster",
                 c->size, c->cosigner);
        return STOP_FAILED;
    }
    if (!audit_cosignature_verify(c->cosigner, cp, c->sig, m.sign_pk) &&
        (m.next_sign_pk == NULL ||
         !audit_cosignature_verify(c->cosigner, cp, c->sig, m.next_sign_pk)) &&
        !is_cosigned_by_retired(v, c, cp)) {
        snprintf(v->why, sizeof(v->why),
                 "cosignature of the checkpoint at size %" PRIu64 ": its signature is not %s's",
                 c->size, c->cosigner);
        return STOP_FAILED;
    }
    v->n_cosigs++;
    if (c->size > v->cosigned_size) {
        v->cosigned_size = c->size;
        v->cosigners[0] = '\0';
    }
    if (c->size == v->cosigned_size) {
        size_t n = strlen(v->cosigners);
        snprintf(v->cosigners + n, sizeof(v->cosigners) - n, "%s%s", n ? ", " : "", c->cosigner);
    }
    return 0;
}

/* Whether a peer's checkpoint is signed by a RETIRED generation of the
 * peer's keys (it was held before the peer rotated). */
static bool is_peer_retired_key(struct verify *v, const struct audit_checkpoint *cp)
{
    struct roster_retired_key keys[ROSTER_MAX_KEYS];
    size_t n = roster_retired_keys(v->roster, cp->member, keys, ROSTER_MAX_KEYS);

    for (size_t i = 0; i < n; i++)
        if (audit_checkpoint_verify(cp, keys[i].sign_pk))
            return true;
    return false;
}

/* A peer's checkpoint the node holds: signed by that peer. Its
 * consistency with the peer's log is the peer's verify to show. */
static int check_peer_checkpoint(void *arg, const struct store_audit_checkpoint *row)
{
    struct verify *v = arg;
    struct audit_checkpoint cp = {.epoch = row->epoch, .size = row->size, .at = row->at};
    struct roster_member m;

    memcpy(cp.root, row->root, AUDIT_HASH_BYTES);
    memcpy(cp.member, row->member, sizeof(cp.member));
    memcpy(cp.sig, row->sig, sizeof(cp.sig));
    if (roster_find(v->roster, cp.member, &m) != 0 ||
        (!audit_checkpoint_verify(&cp, m.sign_pk) &&
         (m.next_sign_pk == NULL || !audit_checkpoint_verify(&cp, m.next_sign_pk)) &&
         !is_peer_retired_key(v, &cp))) {
        snprintf(v->why, sizeof(v->why),
                 "the checkpoint held of peer %s at size %" PRIu64 " is not signed by it",
                 cp.member, cp.size);
        return STOP_FAILED;
    }
    v->n_peers++;
    if (cp.epoch > 0)
        append(v->peer_epochs, sizeof(v->peer_epochs), "%s%s %" PRIu64,
               v->peer_epochs[0] ? ", " : "", cp.member, cp.epoch);
    return 0;
}

/* The store's trusted roster, for the members' signing keys. Returns
 * NULL after printing why. */
static struct roster *trusted_roster(const char *dir)
{
    struct roster *r = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    char why[WHY_MAX] = "";
    int rc = store_roster_peek(dir, &buf, &len);

    if (rc != 1) {
        fprintf(stderr, "tmbus-admin audit: %s: %s\n", dir,
                rc == 0 ? "no store or no trusted roster in it" : "cannot read the store");
        return NULL;
    }
    /* The store kept it only after it verified; expiry or a coalition
     * check do not matter for keys that signed in the past. */
    (void)roster_inspect(buf, len, NULL, (int64_t)time(NULL), NULL, false, &r, why, sizeof(why));
    free(buf);
    if (r == NULL)
        fprintf(stderr, "tmbus-admin audit: %s: the trusted roster is malformed: %s\n", dir, why);
    return r;
}

static int verify(const char *dir)
{
    struct verify v = {0};
    int rc, ret = EX_UNREADABLE;
    struct roster *r;

    if ((r = trusted_roster(dir)) == NULL)
        return EX_UNREADABLE;
    v.roster = r;
    rc = store_audit_peek(dir, 0, NULL, collect_checkpoint, &v);
    if (rc == 1)
        rc = store_audit_peek(dir, 0, check_entry, NULL, &v);
    if (rc == 0) {
        fprintf(stderr, "tmbus-admin audit: %s: no audit log\n", dir);
        goto out;
    }
    if (rc == -1) {
        fprintf(stderr, "tmbus-admin audit: %s: cannot read the audit log%s%s\n", dir,
                v.why[0] ? ": " : "", v.why);
        goto out;
    }
    ret = EX_FAILED;
    if (rc == STOP_FAILED) {
        printf("audit log FAILS: %s\n", v.why);
        goto out;
    }
    /* A checkpoint beyond the last entry: entries that were signed are
     * gone. */
    if (v.next_cp < v.n_cps) {
        printf("audit log FAILS: checkpoint at size %" PRIu64 " but the log holds %" PRIu64
               " entries: it was truncated\n",
               v.cps[v.next_cp].size, v.tree.size);
        goto out;
    }
    rc = store_audit_peek_exchange(dir, check_cosignature, check_peer_checkpoint, &v);
    if (rc == STOP_FAILED) {
        printf("audit log FAILS: %s\n", v.why);
        goto out;
    }
    if (rc != 1) {
        ret = EX_UNREADABLE;
        fprintf(stderr, "tmbus-admin audit: %s: cannot read the cosignatures\n", dir);
        goto out;
    }
    printf("audit log verifies: %" PRIu64 " entries, %zu signed checkpoints", v.tree.size, v.n_cps);
    if (v.n_cps > 0)
        printf(", the last at size %" PRIu64 " by %s", v.last_cp_size, v.cps[v.n_cps - 1].member);
    printf("\n%zu cosignatures", v.n_cosigs);
    if (v.n_cosigs > 0)
        printf(", the last of size %" PRIu64 " by %s", v.cosigned_size, v.cosigners);
    printf("; %zu peer checkpoints held\n", v.n_peers);
    if (v.epoch > 0)
        printf("this log is in epoch %" PRIu64 ": earlier epochs were lost with the store, "
               "or end where a reset begins; every checkpoint here verifies\n%s",
               v.epoch, v.epochs);
    if (v.n_peer_resets > 0)
        printf("%zu epoch resets of peers recorded: %s\n", v.n_peer_resets, v.peer_resets);
    if (v.peer_epochs[0] != '\0')
        printf("peers held in an epoch above 0 (resets): %s\n", v.peer_epochs);
    if (v.tree.size > v.last_cp_size)
        printf("note: the last %" PRIu64 " entries are not covered by a checkpoint yet\n",
               v.tree.size - v.last_cp_size);
    if (v.n_retired > 0)
        printf("note: %zu checkpoints are signed with a retired key generation, before the "
               "rotation\n",
               v.n_retired);
    if (v.has_backwards)
        printf("note: entry %" PRIu64 " is dated before the one before it (a clock set back?)\n",
               v.backwards_at);
    ret = 0;
out:
    free(v.cps);
    roster_free(&r);
    return ret;
}

/* ---- show ------------------------------------------------------------------ */

static int show_entry(void *arg, uint64_t idx, const uint8_t *entry, size_t len)
{
    struct audit_entry e;
    char when[64], key[17] = "";

    (void)arg;
    if (audit_entry_decode(entry, len, &e) != 0) {
        printf("%8" PRIu64 "  (malformed entry)\n", idx);
        return 0;
    }
    log_format_time(e.at_ms, when, sizeof(when));
    if (e.has_key)
        for (int i = 0; i < 8; i++)
            snprintf(key + 2 * i, sizeof(key) - 2 * (size_t)i, "%02x", e.key[i]);
    printf("%8" PRIu64 "  %s  %-8s %-7s %s %s%s%s", idx, when, audit_kind_name(e.kind),
           audit_outcome_name(e.outcome), audit_actor_name(e.actor_kind), e.actor,
           e.has_key ? " key " : "", key);
    if (e.origin[0] != '\0' || e.seq != 0)
        printf("  %s%s%s #%" PRIu64, e.origin, e.peer[0] ? "/" : "", e.peer, e.seq);
    if (e.has_id) {
        printf("  id ");
        for (int i = 0; i < 8; i++)
            printf("%02x", e.id[i]);
    }
    if (e.detail[0] != '\0')
        printf("  \"%s\"", e.detail);
    printf("\n");
    return 0;
}

static int show_last_checkpoint(void *arg, const struct store_audit_checkpoint *cp)
{
    *(struct store_audit_checkpoint *)arg = *cp;
    return 0;
}

static int show(const char *dir, uint64_t last)
{
    struct store_audit_checkpoint cp = {0};
    uint64_t rows, end;
    int rc = store_audit_peek_count(dir, &rows, &end);

    if (rc != 1) {
        fprintf(stderr, "tmbus-admin audit: %s: %s\n", dir,
                rc == 0 ? "no audit log" : "cannot read the audit log");
        return EX_UNREADABLE;
    }
    printf("%" PRIu64 " entries\n", rows);
    if (store_audit_peek(dir, end > last ? end - last : 0, show_entry, show_last_checkpoint, &cp) !=
        1)
        return EX_UNREADABLE;
    if (cp.size > 0) {
        char when[64];

        log_format_time(cp.at * 1000, when, sizeof(when));
        printf("last checkpoint: epoch %" PRIu64 ", size %" PRIu64 ", signed by %s at %s, root ",
               cp.epoch, cp.size, cp.member, when);
        for (int i = 0; i < AUDIT_HASH_BYTES; i++)
            printf("%02x", cp.root[i]);
        printf("\n");
    }
    return 0;
}

int admin_audit(int argc, char **argv)
{
    uint64_t last = SHOW_DEFAULT;

    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(synopsis, stdout);
        fputs(details, stdout);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "verify") == 0)
        return verify(argv[2]);
    if ((argc == 3 || argc == 5) && strcmp(argv[1], "show") == 0) {
        if (argc == 5) {
            char *end;

            if (strcmp(argv[3], "--last") != 0 || (last = strtoull(argv[4], &end, 10)) == 0 ||
                *end != '\0' || last > SHOW_MAX) {
                fprintf(stderr, "tmbus-admin audit show: --last takes 1..%d\n", SHOW_MAX);
                return ADMIN_EX_USAGE;
            }
        }
        return show(argv[2], last);
    }
    fputs(synopsis, stderr);
    return ADMIN_EX_USAGE;
}
