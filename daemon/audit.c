/*
 * audit: the entry codec, RFC 9162 tree hashing and proofs, checkpoint
 * signing, and the node's log that queues entries between two commits
 * (audit.h). It owns the tree's frontier in memory and never reads the
 * whole tree on the hot path: appending is O(log n) hashing, writing is
 * one row per entry in the batch the round commits anyway. It must never
 * record a payload or a secret, and never update or delete a row.
 */
#include "audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "log.h"
#include "loop.h"
#include "merkle.h"

#define FLAG_KEY  0x01
#define FLAG_ID   0x02
#define FLAGS_ALL (FLAG_KEY | FLAG_ID)
/* Entries one round may queue before they are dropped: far above what a
 * round reads, and a bound on memory when every commit fails. */
#define QUEUE_MAX   65536
#define QUEUE_FIRST 256
/* Peers whose checkpoints one node holds (and rows of theirs waiting for a
 * commit), and cosignatures waiting for one (while the disk is full): bounds
 * far above a roster's members, against a broken caller. */
#define PEERS_MAX   65536
#define PENDING_MAX 4096
/* A proof takes the root of a complete aligned block of BLOCK_LEAVES
 * entries from the log's block cache instead of hashing its leaves again:
 * it reads at most a block's worth of leaves at the edge of each subtree,
 * not the whole log. 32 bytes of memory per 256 entries. */
#define BLOCK_HEIGHT 8
#define BLOCK_LEAVES ((uint64_t)1 << BLOCK_HEIGHT)
#define BLOCKS_MAX   ((size_t)1 << 32)

/* ---- codec --------------------------------------------------------------- */

/* Writes a string as one length byte and its bytes, cut at max or at the
 * first byte that is not printable ASCII. */
static size_t put_str(uint8_t *p, const char *s, size_t max)
{
    size_t n = 0;

    while (n < max && s[n] >= 0x20 && s[n] <= 0x7e)
        n++;
    p[0] = (uint8_t)n;
    memcpy(p + 1, s, n);
    return n + 1;
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

int audit_entry_encode(const struct audit_entry *e, uint8_t *buf, size_t size)
{
    uint8_t tmp[AUDIT_ENTRY_MAX];
    size_t n = 0;

    if (e->kind < 1 || e->kind > AUDIT_KIND_MAX_ || e->outcome < 1 ||
        e->outcome > AUDIT_OUTCOME_MAX_ || e->actor_kind < 1 || e->actor_kind > AUDIT_ACTOR_MAX_)
        return -1;
    tmp[n++] = AUDIT_FORMAT;
    tmp[n++] = (uint8_t)e->kind;
    tmp[n++] = (uint8_t)e->outcome;
    tmp[n++] = (uint8_t)e->actor_kind;
    put_u64(tmp + n, (uint64_t)e->at_ms);
    n += 8;
    put_u64(tmp + n, e->seq);
    n += 8;
    tmp[n++] = (uint8_t)((e->has_key ? FLAG_KEY : 0) | (e->has_id ? FLAG_ID : 0));
    if (e->has_key) {
        memcpy(tmp + n, e->key, KEYS_PUBLIC_BYTES);
        n += KEYS_PUBLIC_BYTES;
    }
    if (e->has_id) {
        memcpy(tmp + n, e->id, AUDIT_HASH_BYTES);
        n += AUDIT_HASH_BYTES;
    }
    n += put_str(tmp + n, e->actor, AUDIT_ACTOR_MAX);
    n += put_str(tmp + n, e->origin, UTIL_MEMBER_ID_MAX);
    n += put_str(tmp + n, e->peer, UTIL_MEMBER_ID_MAX);
    n += put_str(tmp + n, e->detail, AUDIT_DETAIL_MAX);
    if (n > size)
        return -1;
    memcpy(buf, tmp, n);
    return (int)n;
}

/* Reads a length-prefixed printable string of at most max bytes into out
 * (max + 1 bytes). Returns 0 or -1. */
static int get_str(const uint8_t *buf, size_t len, size_t *at, char *out, size_t max)
{
    size_t n;

    if (*at >= len || (n = buf[*at]) > max || n > len - *at - 1)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (buf[*at + 1 + i] < 0x20 || buf[*at + 1 + i] > 0x7e)
            return -1;
    memcpy(out, buf + *at + 1, n);
    out[n] = '\0';
    *at += n + 1;
    return 0;
}

int audit_entry_decode(const uint8_t *buf, size_t len, struct audit_entry *out)
{
    size_t at = 0;
    uint8_t flags;

    memset(out, 0, sizeof(*out));
    if (len < 21 || len > AUDIT_ENTRY_MAX || buf[0] != AUDIT_FORMAT)
        return -1;
    if (buf[1] < 1 || buf[1] > AUDIT_KIND_MAX_ || buf[2] < 1 || buf[2] > AUDIT_OUTCOME_MAX_ ||
        buf[3] < 1 || buf[3] > AUDIT_ACTOR_MAX_)
        return -1;
    out->kind = buf[1];
    out->outcome = buf[2];
    out->actor_kind = buf[3];
    out->at_ms = (int64_t)get_u64(buf + 4);
    out->seq = get_u64(buf + 12);
    flags = buf[20];
    at = 21;
    if ((flags & ~FLAGS_ALL) != 0)
        return -1;
    if (flags & FLAG_KEY) {
        if (len - at < KEYS_PUBLIC_BYTES)
            return -1;
        out->has_key = true;
        memcpy(out->key, buf + at, KEYS_PUBLIC_BYTES);
        at += KEYS_PUBLIC_BYTES;
    }
    if (flags & FLAG_ID) {
        if (len - at < AUDIT_HASH_BYTES)
            return -1;
        out->has_id = true;
        memcpy(out->id, buf + at, AUDIT_HASH_BYTES);
        at += AUDIT_HASH_BYTES;
    }
    if (get_str(buf, len, &at, out->actor, AUDIT_ACTOR_MAX) != 0 ||
        get_str(buf, len, &at, out->origin, UTIL_MEMBER_ID_MAX) != 0 ||
        get_str(buf, len, &at, out->peer, UTIL_MEMBER_ID_MAX) != 0 ||
        get_str(buf, len, &at, out->detail, AUDIT_DETAIL_MAX) != 0)
        return -1;
    return at == len ? 0 : -1;
}

const char *audit_kind_name(enum audit_kind k)
{
    static const char *const names[] = {
        [AUDIT_ENVELOPE] = "envelope", [AUDIT_POST] = "post",     [AUDIT_ACK] = "ack",
        [AUDIT_QUERY] = "query",       [AUDIT_ROSTER] = "roster", [AUDIT_ALARM] = "alarm",
        [AUDIT_RELOAD] = "reload",     [AUDIT_START] = "start",   [AUDIT_EPOCH] = "epoch",
    };

    return k >= 1 && k <= AUDIT_KIND_MAX_ ? names[k] : "?";
}

const char *audit_outcome_name(enum audit_outcome o)
{
    return o == AUDIT_OK ? "ok" : o == AUDIT_REFUSED ? "refused" : "?";
}

const char *audit_actor_name(enum audit_actor a)
{
    return a == AUDIT_BY_NODE     ? "node"
           : a == AUDIT_BY_MEMBER ? "member"
           : a == AUDIT_BY_CLIENT ? "client"
                                  : "?";
}

/* ---- hashing ------------------------------------------------------------- */

void audit_hash_leaf(const uint8_t *entry, size_t len, uint8_t out[AUDIT_HASH_BYTES])
{
    merkle_hash_leaf(entry, len, out);
}

void audit_hash_node(const uint8_t left[AUDIT_HASH_BYTES], const uint8_t right[AUDIT_HASH_BYTES],
                     uint8_t out[AUDIT_HASH_BYTES])
{
    merkle_hash_node(left, right, out);
}

void audit_frontier_append(struct audit_frontier *f, const uint8_t leaf[AUDIT_HASH_BYTES])
{
    uint8_t h[AUDIT_HASH_BYTES];
    int k = 0;

    memcpy(h, leaf, AUDIT_HASH_BYTES);
    /* Each set low bit is a complete subtree of the same height as h:
     * merging them is the carry of adding one to size. */
    while (k < AUDIT_MAX_DEPTH && (f->size >> k & 1) != 0) {
        audit_hash_node(f->hash[k], h, h);
        k++;
    }
    memcpy(f->hash[k], h, AUDIT_HASH_BYTES);
    f->size++;
}

void audit_frontier_root(const struct audit_frontier *f, uint8_t out[AUDIT_HASH_BYTES])
{
    bool is_set = false;

    if (f->size == 0) {
        crypto_generichash(out, AUDIT_HASH_BYTES, NULL, 0, NULL, 0);
        return;
    }
    /* The smallest subtree is the rightmost; each larger one sits to its
     * left, as RFC 9162's split at the largest power of two gives. */
    for (int k = 0; k < AUDIT_MAX_DEPTH; k++) {
        if ((f->size >> k & 1) == 0)
            continue;
        if (!is_set)
            memcpy(out, f->hash[k], AUDIT_HASH_BYTES);
        else
            audit_hash_node(f->hash[k], out, out);
        is_set = true;
    }
}

/* ---- proofs -------------------------------------------------------------- */

/* The largest power of two below n (n >= 2). */
static uint64_t split(uint64_t n)
{
    uint64_t k = 1;

    while (k << 1 < n)
        k <<= 1;
    return k;
}

/* Where a proof's hashes come from: leaf hashes one at a time and, when
 * block is not NULL, the root of complete aligned block b (leaves
 * b * BLOCK_LEAVES on) in one call. Both return 0 or -1. */
struct source {
    audit_leaf_fn leaf;
    int (*block)(void *arg, uint64_t b, uint8_t out[AUDIT_HASH_BYTES]);
    void *arg;
};

/* Appends the root of a complete subtree of 2^height leaves to f, whose
 * size must be a multiple of 2^height: the carry of audit_frontier_append
 * from bit height up. */
static void frontier_append_subtree(struct audit_frontier *f, const uint8_t root[AUDIT_HASH_BYTES],
                                    int height)
{
    uint8_t h[AUDIT_HASH_BYTES];
    int k = height;

    memcpy(h, root, AUDIT_HASH_BYTES);
    while (k < AUDIT_MAX_DEPTH && (f->size >> k & 1) != 0) {
        audit_hash_node(f->hash[k], h, h);
        k++;
    }
    memcpy(f->hash[k], h, AUDIT_HASH_BYTES);
    f->size += (uint64_t)1 << height;
}

/* MTH of leaves [lo, lo + n), n >= 1: whole aligned blocks from the
 * source's block cache when it has one, the rest leaf by leaf. Returns 0
 * or -1. */
static int subtree(const struct source *src, uint64_t lo, uint64_t n, uint8_t out[AUDIT_HASH_BYTES])
{
    struct audit_frontier f = {0};
    uint8_t h[AUDIT_HASH_BYTES];
    uint64_t i = 0;

    while (i < n) {
        if (src->block != NULL && (lo + i) % BLOCK_LEAVES == 0 && i % BLOCK_LEAVES == 0 &&
            n - i >= BLOCK_LEAVES) {
            if (src->block(src->arg, (lo + i) / BLOCK_LEAVES, h) != 0)
                return -1;
            frontier_append_subtree(&f, h, BLOCK_HEIGHT);
            i += BLOCK_LEAVES;
            continue;
        }
        if (src->leaf(src->arg, lo + i, h) != 0)
            return -1;
        audit_frontier_append(&f, h);
        i++;
    }
    audit_frontier_root(&f, out);
    return 0;
}

/* PATH(m, D[lo : lo + n]) appended at proof[*np]. */
static int path(const struct source *src, uint64_t lo, uint64_t n, uint64_t m,
                uint8_t proof[][AUDIT_HASH_BYTES], int *np)
{
    uint64_t k;

    if (n <= 1)
        return 0;
    k = split(n);
    if (*np >= AUDIT_PROOF_MAX)
        return -1;
    if (m < k) {
        if (path(src, lo, k, m, proof, np) != 0)
            return -1;
        return subtree(src, lo + k, n - k, proof[(*np)++]);
    }
    if (path(src, lo + k, n - k, m - k, proof, np) != 0)
        return -1;
    return subtree(src, lo, k, proof[(*np)++]);
}

static int prove_inclusion(const struct source *src, uint64_t size, uint64_t index,
                           uint8_t proof[][AUDIT_HASH_BYTES])
{
    int n = 0;

    if (index >= size || path(src, 0, size, index, proof, &n) != 0)
        return -1;
    return n;
}

int audit_prove_inclusion(audit_leaf_fn leaf, void *arg, uint64_t size, uint64_t index,
                          uint8_t proof[][AUDIT_HASH_BYTES])
{
    const struct source src = {.leaf = leaf, .arg = arg};

    return prove_inclusion(&src, size, index, proof);
}

bool audit_verify_inclusion(const uint8_t leaf_hash[AUDIT_HASH_BYTES], uint64_t index,
                            uint64_t size, const uint8_t root[AUDIT_HASH_BYTES],
                            const uint8_t proof[][AUDIT_HASH_BYTES], size_t n_proof)
{
    return merkle_verify_inclusion(leaf_hash, index, size, root, proof, n_proof);
}

/* SUBPROOF(m, D[lo : lo + n], b) appended at proof[*np]. */
static int subproof(const struct source *src, uint64_t lo, uint64_t n, uint64_t m, bool b,
                    uint8_t proof[][AUDIT_HASH_BYTES], int *np)
{
    uint64_t k;

    if (*np >= AUDIT_PROOF_MAX)
        return -1;
    if (m == n) {
        if (b)
            return 0;
        return subtree(src, lo, m, proof[(*np)++]);
    }
    k = split(n);
    if (m <= k) {
        if (subproof(src, lo, k, m, b, proof, np) != 0 || *np >= AUDIT_PROOF_MAX)
            return -1;
        return subtree(src, lo + k, n - k, proof[(*np)++]);
    }
    if (subproof(src, lo + k, n - k, m - k, false, proof, np) != 0 || *np >= AUDIT_PROOF_MAX)
        return -1;
    return subtree(src, lo, k, proof[(*np)++]);
}

static int prove_consistency(const struct source *src, uint64_t old_size, uint64_t new_size,
                             uint8_t proof[][AUDIT_HASH_BYTES])
{
    int n = 0;

    if (old_size == 0 || old_size > new_size)
        return -1;
    if (subproof(src, 0, new_size, old_size, true, proof, &n) != 0)
        return -1;
    return n;
}

int audit_prove_consistency(audit_leaf_fn leaf, void *arg, uint64_t old_size, uint64_t new_size,
                            uint8_t proof[][AUDIT_HASH_BYTES])
{
    const struct source src = {.leaf = leaf, .arg = arg};

    return prove_consistency(&src, old_size, new_size, proof);
}

bool audit_verify_consistency(uint64_t old_size, const uint8_t old_root[AUDIT_HASH_BYTES],
                              uint64_t new_size, const uint8_t new_root[AUDIT_HASH_BYTES],
                              const uint8_t proof[][AUDIT_HASH_BYTES], size_t n_proof)
{
    const uint8_t(*p)[AUDIT_HASH_BYTES] = proof;
    uint8_t fr[AUDIT_HASH_BYTES], sr[AUDIT_HASH_BYTES];
    uint64_t fn, sn;
    size_t i = 0;

    if (old_size == 0 || old_size > new_size)
        return false;
    if (old_size == new_size)
        return n_proof == 0 && sodium_memcmp(old_root, new_root, AUDIT_HASH_BYTES) == 0;
    if (n_proof == 0)
        return false;
    fn = old_size - 1;
    sn = new_size - 1;
    /* An old tree that is a complete subtree is its own first node; the
     * proof leaves it out. */
    if ((old_size & (old_size - 1)) == 0) {
        memcpy(fr, old_root, AUDIT_HASH_BYTES);
    } else {
        memcpy(fr, p[0], AUDIT_HASH_BYTES);
        i = 1;
    }
    memcpy(sr, fr, AUDIT_HASH_BYTES);
    while ((fn & 1) != 0) {
        fn >>= 1;
        sn >>= 1;
    }
    for (; i < n_proof; i++) {
        if (sn == 0)
            return false;
        if ((fn & 1) != 0 || fn == sn) {
            audit_hash_node(p[i], fr, fr);
            audit_hash_node(p[i], sr, sr);
            while ((fn & 1) == 0 && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            audit_hash_node(sr, p[i], sr);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && sodium_memcmp(fr, old_root, AUDIT_HASH_BYTES) == 0 &&
           sodium_memcmp(sr, new_root, AUDIT_HASH_BYTES) == 0;
}

/* ---- checkpoints --------------------------------------------------------- */

size_t audit_checkpoint_signed(const struct audit_checkpoint *cp, uint8_t *buf)
{
    /* Both domains have the same length; the epoch follows the member in
     * the second only. */
    const char *domain = cp->epoch == 0 ? AUDIT_CHECKPOINT_DOMAIN : AUDIT_CHECKPOINT_DOMAIN_EPOCH;
    size_t n = sizeof(AUDIT_CHECKPOINT_DOMAIN), m = strnlen(cp->member, UTIL_MEMBER_ID_MAX);

    _Static_assert(sizeof(AUDIT_CHECKPOINT_DOMAIN) == sizeof(AUDIT_CHECKPOINT_DOMAIN_EPOCH),
                   "checkpoint domains of one length");
    memcpy(buf, domain, n);
    buf[n++] = (uint8_t)m;
    memcpy(buf + n, cp->member, m);
    n += m;
    if (cp->epoch != 0) {
        put_u64(buf + n, cp->epoch);
        n += 8;
    }
    put_u64(buf + n, cp->size);
    n += 8;
    memcpy(buf + n, cp->root, AUDIT_HASH_BYTES);
    n += AUDIT_HASH_BYTES;
    put_u64(buf + n, (uint64_t)cp->at);
    return n + 8;
}

bool audit_checkpoint_verify(const struct audit_checkpoint *cp,
                             const uint8_t sign_pk[KEYS_PUBLIC_BYTES])
{
    uint8_t msg[AUDIT_SIGNED_MAX];
    size_t len = audit_checkpoint_signed(cp, msg);

    return crypto_sign_verify_detached(cp->sig, msg, len, sign_pk) == 0;
}

size_t audit_cosignature_signed(const char *cosigner, const struct audit_checkpoint *cp,
                                uint8_t *buf)
{
    size_t n = sizeof(AUDIT_COSIGN_DOMAIN), m = strnlen(cosigner, UTIL_MEMBER_ID_MAX);

    memcpy(buf, AUDIT_COSIGN_DOMAIN, n);
    buf[n++] = (uint8_t)m;
    memcpy(buf + n, cosigner, m);
    n += m;
    return n + audit_checkpoint_signed(cp, buf + n);
}

bool audit_cosignature_verify(const char *cosigner, const struct audit_checkpoint *cp,
                              const uint8_t sig[KEYS_SIGNATURE_BYTES],
                              const uint8_t sign_pk[KEYS_PUBLIC_BYTES])
{
    uint8_t msg[AUDIT_COSIGNED_MAX];
    size_t len = audit_cosignature_signed(cosigner, cp, msg);

    return crypto_sign_verify_detached(sig, msg, len, sign_pk) == 0;
}

/* ---- the node's log ------------------------------------------------------ */

/* The wall clock in milliseconds: entries are dated for people, unlike
 * the loop's monotonic clock that times flushes. */
static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct queued {
    uint8_t bytes[AUDIT_ENTRY_MAX];
    size_t len;
};

struct audit {
    struct store *store;
    const struct keyset *keys;
    uint8_t own_pk[AUDIT_OWN_KEYS_MAX][KEYS_PUBLIC_BYTES]; /* audit_add_own_key */
    size_t n_own_pk;
    struct stats *stats;
    char member[UTIL_MEMBER_ID_MAX + 1];
    struct audit_frontier tree;      /* every entry recorded, flushed or not */
    struct audit_frontier committed; /* as of the last successful commit */
    struct audit_frontier flushed;   /* as of the last flush, until it commits */
    struct queued *queue;            /* recorded, not yet flushed */
    size_t n_queue, cap_queue;
    size_t n_flushed; /* entries written by the last flush */
    int64_t first_queued_ms;
    uint64_t checkpoint_size; /* the last checkpoint's */
    int64_t checkpoint_at;
    /* The epoch the log is in, and that of the last checkpoint committed
     * (a reset not yet committed is forgotten with its batch); the tree's
     * size found at start, which a peer's checkpoint beyond shows lost. */
    uint64_t epoch, epoch_committed;
    uint64_t start_size;
    bool wants_checkpoint;     /* audit_want_checkpoint: sign at the next flush */
    int64_t exchange_since_ms; /* when exchange work began to wait for a flush */
    /* The last checkpoint signed, and the last committed (what peers are
     * sent); has_*: there is one. */
    struct audit_checkpoint cp_flushed, cp_committed;
    bool has_cp_flushed, has_cp_committed;
    /* The exchange: the checkpoint held of each peer (cosigned, in force
     * at once), and what waits for the next flush. */
    struct audit_checkpoint *peers;
    size_t n_peers, cap_peers;
    struct store_audit_checkpoint *pend_peers;
    size_t n_pend_peers, cap_pend_peers;
    struct store_audit_cosignature *pend_cosigs;
    size_t n_pend_cosigs, cap_pend_cosigs;
    /* The roots of the committed log's first n_blocks complete blocks of
     * BLOCK_LEAVES entries, computed by the first proof that needs each
     * (committed entries never change). */
    uint8_t (*blocks)[AUDIT_HASH_BYTES];
    size_t n_blocks, cap_blocks;
};

/* A frontier's bytes as audit_state keeps them: the hashes of the set bits
 * of size, lowest first. */
static size_t frontier_pack(const struct audit_frontier *f, uint8_t *out)
{
    size_t n = 0;

    for (int k = 0; k < AUDIT_MAX_DEPTH; k++)
        if ((f->size >> k & 1) != 0)
            memcpy(out + AUDIT_HASH_BYTES * n++, f->hash[k], AUDIT_HASH_BYTES);
    return n * AUDIT_HASH_BYTES;
}

static int frontier_unpack(struct audit_frontier *f, uint64_t size, const uint8_t *buf, size_t len)
{
    size_t n = 0;

    memset(f, 0, sizeof(*f));
    f->size = size;
    for (int k = 0; k < AUDIT_MAX_DEPTH; k++)
        if ((size >> k & 1) != 0) {
            if (AUDIT_HASH_BYTES * (n + 1) > len)
                return -1;
            memcpy(f->hash[k], buf + AUDIT_HASH_BYTES * n++, AUDIT_HASH_BYTES);
        }
    return AUDIT_HASH_BYTES * n == len ? 0 : -1;
}

/* Rebuilds the frontier from every stored entry (a store without a saved
 * frontier): once, at start. */
static int rebuild_one(void *arg, uint64_t idx, const uint8_t *entry, size_t len)
{
    struct audit_frontier *f = arg;
    uint8_t h[AUDIT_HASH_BYTES];

    if (idx != f->size) {
        log_warnx("audit: entry %llu missing from the stored log", (unsigned long long)f->size);
        return -1;
    }
    audit_hash_leaf(entry, len, h);
    audit_frontier_append(f, h);
    return 0;
}

/* Grows an array of n elements of size bytes to hold one more. Returns 0
 * or -1 (out of memory, or past max). */
static int grow(void **arr, size_t *cap, size_t n, size_t size, size_t max)
{
    size_t want = *cap ? *cap * 2 : 8;
    void *grown;

    if (n < *cap)
        return 0;
    if (want > max || (grown = realloc(*arr, want * size)) == NULL)
        return -1;
    *arr = grown;
    *cap = want;
    return 0;
}

/* The checkpoint held of member, or NULL. */
static struct audit_checkpoint *peer_held(struct audit *a, const char *member)
{
    for (size_t i = 0; i < a->n_peers; i++)
        if (strcmp(a->peers[i].member, member) == 0)
            return &a->peers[i];
    return NULL;
}

/* Makes cp the checkpoint held of its member. Returns 0 or -1. */
static int peer_hold(struct audit *a, const struct audit_checkpoint *cp)
{
    struct audit_checkpoint *h = peer_held(a, cp->member);

    if (h == NULL) {
        if (grow((void **)&a->peers, &a->cap_peers, a->n_peers, sizeof(*a->peers), PEERS_MAX) != 0)
            return -1;
        h = &a->peers[a->n_peers++];
    }
    *h = *cp;
    return 0;
}

/* The checkpoint a stored row holds. */
static struct audit_checkpoint from_row(const struct store_audit_checkpoint *row)
{
    struct audit_checkpoint cp = {.epoch = row->epoch, .size = row->size, .at = row->at};

    memcpy(cp.root, row->root, AUDIT_HASH_BYTES);
    memcpy(cp.member, row->member, sizeof(cp.member));
    memcpy(cp.sig, row->sig, sizeof(cp.sig));
    return cp;
}

/* The row that stores cp. */
static struct store_audit_checkpoint to_row(const struct audit_checkpoint *cp)
{
    struct store_audit_checkpoint row = {.epoch = cp->epoch, .size = cp->size, .at = cp->at};

    memcpy(row.root, cp->root, AUDIT_HASH_BYTES);
    memcpy(row.member, cp->member, sizeof(row.member));
    memcpy(row.sig, cp->sig, sizeof(row.sig));
    return row;
}

static int load_peer(void *arg, const struct store_audit_checkpoint *row)
{
    struct audit_checkpoint cp = from_row(row);

    return peer_hold(arg, &cp);
}

static int load(struct audit *a)
{
    uint8_t buf[AUDIT_MAX_DEPTH * AUDIT_HASH_BYTES];
    struct store_audit_checkpoint cp;
    uint8_t root[AUDIT_HASH_BYTES];
    uint64_t size;
    size_t len;
    int rc;

    if ((rc = store_audit_state_get(a->store, &size, buf, sizeof(buf), &len)) == -1)
        return -1;
    if (rc == 1 && frontier_unpack(&a->tree, size, buf, len) != 0) {
        log_warnx("audit: the saved frontier is malformed");
        return -1;
    }
    if (rc == 0 && store_audit_each(a->store, 0, rebuild_one, &a->tree) != 0)
        return -1;
    if ((rc = store_audit_checkpoint_last(a->store, &cp)) == -1)
        return -1;
    if (rc == 1) {
        a->checkpoint_size = cp.size;
        a->checkpoint_at = cp.at;
        a->cp_committed = from_row(&cp);
        a->has_cp_committed = true;
        a->epoch = cp.epoch;
        a->epoch_committed = cp.epoch;
        if (cp.size > a->tree.size) {
            log_warnx("audit: the log has %llu entries but a checkpoint signed %llu: it was "
                      "truncated; run tmbus-admin audit verify",
                      (unsigned long long)a->tree.size, (unsigned long long)cp.size);
            return -1;
        }
        audit_frontier_root(&a->tree, root);
        if (cp.size == a->tree.size && memcmp(root, cp.root, AUDIT_HASH_BYTES) != 0) {
            log_warnx("audit: the log's root differs from its last signed checkpoint; run "
                      "tmbus-admin audit verify");
            return -1;
        }
    }
    a->committed = a->tree;
    a->flushed = a->tree;
    a->start_size = a->tree.size;
    return store_audit_peer_each(a->store, load_peer, a);
}

struct audit *audit_new(struct store *s, const struct keyset *ks, const char *member,
                        struct stats *stats)
{
    struct audit *a = calloc(1, sizeof(*a));

    if (a == NULL || (a->queue = calloc(QUEUE_FIRST, sizeof(*a->queue))) == NULL) {
        log_warnx("audit: out of memory");
        free(a);
        return NULL;
    }
    a->cap_queue = QUEUE_FIRST;
    a->store = s;
    a->keys = ks;
    a->stats = stats;
    snprintf(a->member, sizeof(a->member), "%s", member);
    if (load(a) != 0) {
        audit_free(&a);
        return NULL;
    }
    audit_record(a, &(struct audit_entry){.kind = AUDIT_START,
                                          .outcome = AUDIT_OK,
                                          .actor_kind = AUDIT_BY_NODE,
                                          .seq = a->tree.size});
    return a;
}

void audit_free(struct audit **ap)
{
    if (ap == NULL || *ap == NULL)
        return;
    free((*ap)->queue);
    free((*ap)->peers);
    free((*ap)->pend_peers);
    free((*ap)->pend_cosigs);
    free((*ap)->blocks);
    free(*ap);
    *ap = NULL;
}

void audit_record(struct audit *a, const struct audit_entry *e)
{
    struct audit_entry copy;
    struct queued *q;
    uint8_t h[AUDIT_HASH_BYTES];
    int len;

    if (a == NULL)
        return;
    if (a->n_queue == a->cap_queue) {
        size_t cap = a->cap_queue * 2;
        struct queued *grown;

        /* Past QUEUE_MAX only a store that fails every commit gets here:
         * the log cannot grow without it, and memory stays bounded. */
        if (cap > QUEUE_MAX || (grown = realloc(a->queue, cap * sizeof(*grown))) == NULL) {
            stats_count(a->stats, "audit.dropped", 1);
            return;
        }
        a->queue = grown;
        a->cap_queue = cap;
    }
    copy = *e;
    if (copy.at_ms == 0)
        copy.at_ms = wall_ms();
    if (copy.actor_kind == AUDIT_BY_NODE && copy.actor[0] == '\0')
        snprintf(copy.actor, sizeof(copy.actor), "%s", a->member);
    q = &a->queue[a->n_queue];
    if ((len = audit_entry_encode(&copy, q->bytes, sizeof(q->bytes))) < 0) {
        stats_count(a->stats, "audit.dropped", 1);
        log_warnx("audit: an entry of kind %d could not be encoded", (int)e->kind);
        return;
    }
    q->len = (size_t)len;
    if (a->n_queue++ == 0)
        a->first_queued_ms = loop_now_ms();
    audit_hash_leaf(q->bytes, q->len, h);
    audit_frontier_append(&a->tree, h);
}

bool audit_is_due(const struct audit *a)
{
    if (a == NULL)
        return false;
    /* Exchange rows and a checkpoint asked for wait like entries: they
     * ride the next commit, or commit on their own AUDIT_FLUSH_SECONDS
     * after they came, so that a busy exchange adds at most one commit a
     * second to a node's rounds. */
    if ((a->n_pend_peers > 0 || a->n_pend_cosigs > 0 ||
         (a->wants_checkpoint && a->tree.size > a->checkpoint_size)) &&
        loop_now_ms() - a->exchange_since_ms >= AUDIT_FLUSH_SECONDS * 1000)
        return true;
    return a->n_queue > 0 && (a->n_queue >= AUDIT_FLUSH_ENTRIES ||
                              loop_now_ms() - a->first_queued_ms >= AUDIT_FLUSH_SECONDS * 1000);
}

static int sign_checkpoint(struct audit *a)
{
    struct audit_checkpoint cp = {
        .epoch = a->epoch, .size = a->tree.size, .at = (int64_t)time(NULL)};
    struct store_audit_checkpoint row;
    uint8_t msg[AUDIT_SIGNED_MAX];
    size_t len;

    snprintf(cp.member, sizeof(cp.member), "%s", a->member);
    audit_frontier_root(&a->tree, cp.root);
    len = audit_checkpoint_signed(&cp, msg);
    if (keys_sign(a->keys, msg, len, cp.sig) != 0) {
        log_warnx("audit: could not sign a checkpoint");
        return -1;
    }
    row = to_row(&cp);
    if (store_audit_checkpoint_put(a->store, &row) != 0)
        return -1;
    a->checkpoint_size = cp.size;
    a->checkpoint_at = cp.at;
    a->cp_flushed = cp;
    a->has_cp_flushed = true;
    a->wants_checkpoint = false;
    stats_count(a->stats, "audit.checkpoints", 1);
    return 0;
}

int audit_flush(struct audit *a, bool is_final)
{
    const uint8_t *entries[64];
    size_t lens[64];
    uint8_t packed[AUDIT_MAX_DEPTH * AUDIT_HASH_BYTES];
    uint64_t first = a->tree.size - a->n_queue;
    bool is_due;

    for (size_t done = 0; done < a->n_queue;) {
        size_t n = a->n_queue - done < 64 ? a->n_queue - done : 64;

        for (size_t i = 0; i < n; i++) {
            entries[i] = a->queue[done + i].bytes;
            lens[i] = a->queue[done + i].len;
        }
        if (store_audit_append(a->store, first + done, entries, lens, n) != 0)
            return -1;
        done += n;
    }
    if (a->n_queue > 0 &&
        store_audit_state_put(a->store, a->tree.size, packed, frontier_pack(&a->tree, packed)) != 0)
        return -1;
    for (size_t i = 0; i < a->n_pend_peers; i++)
        if (store_audit_peer_put(a->store, &a->pend_peers[i]) != 0)
            return -1;
    for (size_t i = 0; i < a->n_pend_cosigs; i++)
        if (store_audit_cosignature_put(a->store, &a->pend_cosigs[i]) != 0)
            return -1;
    /* The exchange's rows stay pending until audit_committed says they
     * are in the store: a commit that fails writes them again next time. */
    is_due = a->tree.size > a->checkpoint_size &&
             (is_final || a->wants_checkpoint ||
              a->tree.size - a->checkpoint_size >= AUDIT_CHECKPOINT_ENTRIES ||
              (int64_t)time(NULL) - a->checkpoint_at >= AUDIT_CHECKPOINT_SECONDS);
    if (is_due && sign_checkpoint(a) != 0)
        return -1;
    stats_count(a->stats, "audit.entries", a->n_queue);
    a->n_flushed = a->n_queue;
    a->n_queue = 0;
    a->flushed = a->tree;
    return 0;
}

void audit_committed(struct audit *a, bool is_committed)
{
    if (a == NULL)
        return;
    if (is_committed) {
        a->committed = a->flushed;
        a->n_flushed = 0;
        if (a->has_cp_flushed) {
            a->cp_committed = a->cp_flushed;
            a->has_cp_committed = true;
            a->has_cp_flushed = false;
            a->epoch_committed = a->cp_committed.epoch;
        }
        a->n_pend_peers = 0;
        a->n_pend_cosigs = 0;
        return;
    }
    a->has_cp_flushed = false;
    /* The rows went with the batch, and so did anything queued after the
     * flush that failed: the tree goes back to what is on disk. */
    stats_count(a->stats, "audit.lost", a->n_flushed + a->n_queue);
    a->n_flushed = 0;
    a->n_queue = 0;
    a->tree = a->committed;
    a->flushed = a->committed;
    if (a->checkpoint_size > a->committed.size)
        a->checkpoint_size = a->committed.size;
    /* A reset's entry went with the batch: the next peer that shows what
     * it holds of us starts it again. */
    a->epoch = a->epoch_committed;
}

void audit_head(const struct audit *a, uint64_t *size, uint8_t root[AUDIT_HASH_BYTES])
{
    *size = a->committed.size;
    audit_frontier_root(&a->committed, root);
}

/* ---- the checkpoint exchange --------------------------------------------- */

bool audit_is_settled(const struct audit *a)
{
    return a == NULL || (a->n_pend_peers == 0 && a->n_pend_cosigs == 0);
}

int audit_latest(const struct audit *a, struct audit_checkpoint *out)
{
    if (a == NULL || !a->has_cp_committed || a->cp_committed.epoch != a->epoch)
        return 0;
    *out = a->cp_committed;
    return 1;
}

uint64_t audit_epoch(const struct audit *a)
{
    return a == NULL ? 0 : a->epoch;
}

/* Notes when exchange work starts to wait for a flush (audit_is_due). */
static void exchange_waits(struct audit *a)
{
    if (a->n_pend_peers == 0 && a->n_pend_cosigs == 0 && !a->wants_checkpoint)
        a->exchange_since_ms = loop_now_ms();
}

void audit_want_checkpoint(struct audit *a)
{
    if (a == NULL)
        return;
    exchange_waits(a);
    a->wants_checkpoint = true;
}

struct prove_arg {
    struct audit *a;
    struct store_audit_reader *reader;
    uint64_t leaves; /* entries read from the store */
};

static int read_leaf(void *arg, uint64_t i, uint8_t out[AUDIT_HASH_BYTES])
{
    struct prove_arg *pa = arg;
    uint8_t entry[AUDIT_ENTRY_MAX];
    size_t len;

    if (store_audit_read(pa->reader, i, entry, sizeof(entry), &len) != 0)
        return -1;
    pa->leaves++;
    audit_hash_leaf(entry, len, out);
    return 0;
}

/* The root of block b of the committed log: from the cache, or computed
 * from the store, with every block before it that is not cached yet (a
 * proof wants the blocks from the first on). */
static int read_block(void *arg, uint64_t b, uint8_t out[AUDIT_HASH_BYTES])
{
    struct prove_arg *pa = arg;
    struct audit *a = pa->a;

    if ((b + 1) * BLOCK_LEAVES > a->committed.size)
        return -1;
    while (a->n_blocks <= b) {
        struct audit_frontier f = {0};
        uint8_t h[AUDIT_HASH_BYTES];
        if (grow((void **)&a->blocks, &a->cap_blocks, a->n_blocks, AUDIT_HASH_BYTES, BLOCKS_MAX) !=
            0) {
            log_warnx("audit: out of memory for the proof cache");
            return -1;
        }
        for (uint64_t i = 0; i < BLOCK_LEAVES; i++) {
            if (read_leaf(pa, a->n_blocks * BLOCK_LEAVES + i, h) != 0)
                return -1;
            audit_frontier_append(&f, h);
        }
        audit_frontier_root(&f, a->blocks[a->n_blocks++]);
    }
    memcpy(out, a->blocks[b], AUDIT_HASH_BYTES);
    return 0;
}

static int prove_begin(struct audit *a, struct prove_arg *pa, struct source *src)
{
    pa->a = a;
    pa->leaves = 0;
    *src = (struct source){.leaf = read_leaf, .block = read_block, .arg = pa};
    return (pa->reader = store_audit_reader_new(a->store)) == NULL ? -1 : 0;
}

static void prove_end(struct audit *a, struct prove_arg *pa)
{
    stats_count(a->stats, "audit.proof-leaves", pa->leaves);
    store_audit_reader_free(&pa->reader);
}

int audit_prove_since(struct audit *a, uint64_t from_size, uint64_t size,
                      uint8_t proof[][AUDIT_HASH_BYTES])
{
    struct prove_arg pa;
    struct source src;
    int n;

    if (from_size == 0 || from_size > size || size > a->committed.size)
        return -1;
    if (prove_begin(a, &pa, &src) != 0)
        return -1;
    n = prove_consistency(&src, from_size, size, proof);
    prove_end(a, &pa);
    return n;
}

int audit_prove_entry(struct audit *a, uint64_t index, uint64_t size, uint8_t *entry, size_t *len,
                      uint8_t proof[][AUDIT_HASH_BYTES])
{
    struct prove_arg pa;
    struct source src;
    int n = -1;

    if (index >= size || size > a->committed.size)
        return -1;
    if (prove_begin(a, &pa, &src) != 0)
        return -1;
    if (store_audit_read(pa.reader, index, entry, AUDIT_ENTRY_MAX, len) == 0)
        n = prove_inclusion(&src, size, index, proof);
    prove_end(a, &pa);
    return n;
}

/* Logs, counts and records a peer's checkpoint refused for why. */
static void alarm(struct audit *a, const struct audit_checkpoint *cp, const char *counter,
                  const char *why)
{
    struct audit_entry e = {.kind = AUDIT_ALARM,
                            .outcome = AUDIT_REFUSED,
                            .actor_kind = AUDIT_BY_MEMBER,
                            .seq = cp->size};

    stats_count(a->stats, counter, 1);
    log_warnx("audit: ALARM: refused %s's checkpoint at size %llu: %s", cp->member,
              (unsigned long long)cp->size, why);
    snprintf(e.actor, sizeof(e.actor), "%s", cp->member);
    snprintf(e.origin, sizeof(e.origin), "%s", cp->member);
    snprintf(e.detail, sizeof(e.detail), "checkpoint: %s", why);
    audit_record(a, &e);
}

/* Logs, counts and records, once, that member's log went from the epoch
 * of the checkpoint we held (old) to cp's. */
static void peer_reset(struct audit *a, const struct audit_checkpoint *old,
                       const struct audit_checkpoint *cp)
{
    struct audit_entry e = {.kind = AUDIT_EPOCH,
                            .outcome = AUDIT_OK,
                            .actor_kind = AUDIT_BY_MEMBER,
                            .seq = cp->epoch,
                            .has_id = true};

    stats_count(a->stats, "audit.epoch-reset", 1);
    log_warnx("audit: %s started its audit log again, as epoch %llu: the checkpoint of epoch %llu "
              "at size %llu we cosigned can no longer be proved (a node rebuilt after a loss, "
              "or a rewritten history)",
              cp->member, (unsigned long long)cp->epoch, (unsigned long long)old->epoch,
              (unsigned long long)old->size);
    snprintf(e.actor, sizeof(e.actor), "%s", cp->member);
    snprintf(e.origin, sizeof(e.origin), "%s", cp->member);
    memcpy(e.id, old->root, AUDIT_HASH_BYTES);
    snprintf(e.detail, sizeof(e.detail), "epoch reset: held epoch %llu at size %llu",
             (unsigned long long)old->epoch, (unsigned long long)old->size);
    audit_record(a, &e);
}

enum audit_peer_verdict audit_peer_checkpoint(struct audit *a, const struct audit_checkpoint *cp,
                                              const uint8_t sign_pk[KEYS_PUBLIC_BYTES],
                                              uint64_t from_size,
                                              const uint8_t proof[][AUDIT_HASH_BYTES],
                                              size_t n_proof, uint64_t *held,
                                              uint8_t cosig[KEYS_SIGNATURE_BYTES])
{
    const struct audit_checkpoint *h = peer_held(a, cp->member);
    struct store_audit_checkpoint *row;
    uint8_t msg[AUDIT_COSIGNED_MAX];
    size_t len;

    *held = h != NULL ? h->size : 0;
    if (!audit_checkpoint_verify(cp, sign_pk)) {
        alarm(a, cp, "audit.peer.bad-signature", "its signature is not the member's");
        return AUDIT_PEER_REFUSED;
    }
    if (h != NULL && cp->epoch < h->epoch) {
        alarm(a, cp, "audit.peer.inconsistent",
              "an epoch below the one we hold: its log was rewritten");
        return AUDIT_PEER_REFUSED;
    }
    if (h != NULL && cp->epoch > h->epoch) {
        /* Nothing of the old epoch can be proved any more: the reset is
         * recorded for good, and the new epoch starts on its signature. */
        peer_reset(a, h, cp);
    } else if (h != NULL) {
        /* Asked before the size is judged: a node whose store lost what
         * it signed learns so from the answer, and starts a new epoch
         * instead of being refused (13.2). */
        if (from_size != h->size) {
            stats_count(a->stats, "audit.peer.prove-from", 1);
            return AUDIT_PEER_PROVE_FROM;
        }
        if (cp->size < h->size) {
            alarm(a, cp, "audit.peer.inconsistent",
                  "smaller than the checkpoint we hold: its log was truncated");
            return AUDIT_PEER_REFUSED;
        }
        if (!audit_verify_consistency(h->size, h->root, cp->size, cp->root, proof, n_proof)) {
            alarm(a, cp, "audit.peer.inconsistent",
                  cp->size == h->size
                      ? "another root for the size we hold: its log was rewritten"
                      : "not an extension of the checkpoint we hold: its log was rewritten");
            return AUDIT_PEER_REFUSED;
        }
    }
    len = audit_cosignature_signed(a->member, cp, msg);
    if (keys_sign(a->keys, msg, len, cosig) != 0) {
        log_warnx("audit: could not cosign %s's checkpoint", cp->member);
        return AUDIT_PEER_REFUSED;
    }
    if (peer_hold(a, cp) != 0) {
        stats_count(a->stats, "audit.dropped", 1);
        return AUDIT_PEER_REFUSED;
    }
    exchange_waits(a);
    /* One pending row per peer: the store keeps only the latest anyway. */
    row = NULL;
    for (size_t i = 0; i < a->n_pend_peers && row == NULL; i++)
        if (strcmp(a->pend_peers[i].member, cp->member) == 0)
            row = &a->pend_peers[i];
    if (row == NULL && grow((void **)&a->pend_peers, &a->cap_pend_peers, a->n_pend_peers,
                            sizeof(*a->pend_peers), PEERS_MAX) != 0) {
        stats_count(a->stats, "audit.dropped", 1);
        return AUDIT_PEER_REFUSED;
    }
    if (row == NULL)
        row = &a->pend_peers[a->n_pend_peers++];
    *row = to_row(cp);
    *held = cp->size;
    stats_count(a->stats, "audit.peer.cosigned", 1);
    return AUDIT_PEER_COSIGNED;
}

int audit_peer_cosignature(struct audit *a, const char *cosigner, uint64_t size,
                           const uint8_t sig[KEYS_SIGNATURE_BYTES],
                           const uint8_t sign_pk[KEYS_PUBLIC_BYTES], const uint8_t *next_pk)
{
    struct audit_checkpoint cp;
    struct store_audit_checkpoint row;
    struct store_audit_cosignature *c;

    if (a->has_cp_committed && a->cp_committed.size == size) {
        cp = a->cp_committed;
    } else if (store_audit_checkpoint_get(a->store, size, &row) == 1) {
        cp = from_row(&row);
    } else {
        stats_count(a->stats, "audit.cosignature.unknown", 1);
        log_warnx("audit: %s cosigned a checkpoint at size %llu that we never signed", cosigner,
                  (unsigned long long)size);
        return -1;
    }
    if (!audit_cosignature_verify(cosigner, &cp, sig, sign_pk) &&
        (next_pk == NULL || !audit_cosignature_verify(cosigner, &cp, sig, next_pk))) {
        stats_count(a->stats, "audit.cosignature.bad", 1);
        log_warnx("audit: refused %s's cosignature of our checkpoint at size %llu: bad signature",
                  cosigner, (unsigned long long)size);
        return -1;
    }
    if (grow((void **)&a->pend_cosigs, &a->cap_pend_cosigs, a->n_pend_cosigs,
             sizeof(*a->pend_cosigs), PENDING_MAX) != 0) {
        stats_count(a->stats, "audit.dropped", 1);
        return -1;
    }
    exchange_waits(a);
    c = &a->pend_cosigs[a->n_pend_cosigs++];
    c->size = size;
    snprintf(c->cosigner, sizeof(c->cosigner), "%s", cosigner);
    c->at = (int64_t)time(NULL);
    memcpy(c->sig, sig, sizeof(c->sig));
    stats_count(a->stats, "audit.cosignatures", 1);
    return 0;
}

int audit_peer_held(const struct audit *a, const char *member, struct audit_checkpoint *out)
{
    for (size_t i = 0; i < a->n_peers; i++)
        if (strcmp(a->peers[i].member, member) == 0) {
            *out = a->peers[i];
            return 1;
        }
    return 0;
}

/* Whether our committed log holds cp: cp's root is our tree's at its
 * size. Reads the log once for the proof. */
static bool is_in_log(struct audit *a, const struct audit_checkpoint *cp)
{
    uint8_t proof[AUDIT_PROOF_MAX][AUDIT_HASH_BYTES];
    uint8_t root[AUDIT_HASH_BYTES];
    int n;

    if (cp->size == 0 || cp->size > a->committed.size)
        return false;
    audit_frontier_root(&a->committed, root);
    if (cp->size == a->committed.size)
        return sodium_memcmp(root, cp->root, AUDIT_HASH_BYTES) == 0;
    n = audit_prove_since(a, cp->size, a->committed.size, proof);
    return n >= 0 && audit_verify_consistency(cp->size, cp->root, a->committed.size, root,
                                              (const uint8_t(*)[AUDIT_HASH_BYTES])proof, (size_t)n);
}

void audit_add_own_key(struct audit *a, const uint8_t pk[KEYS_PUBLIC_BYTES])
{
    if (a->n_own_pk == AUDIT_OWN_KEYS_MAX) {
        log_warnx("audit: more than %d other key generations of our own; one ignored",
                  AUDIT_OWN_KEYS_MAX);
        return;
    }
    memcpy(a->own_pk[a->n_own_pk++], pk, KEYS_PUBLIC_BYTES);
}

/* Whether cp was signed by us: the key set in force or another
 * generation we hold (audit_add_own_key). */
static bool is_ours(const struct audit *a, const struct audit_checkpoint *cp)
{
    if (audit_checkpoint_verify(cp, a->keys->sign_pk))
        return true;
    for (size_t i = 0; i < a->n_own_pk; i++)
        if (audit_checkpoint_verify(cp, a->own_pk[i]))
            return true;
    return false;
}

enum audit_held_answer audit_held_by_peer(struct audit *a, const char *peer,
                                          const struct audit_checkpoint *held)
{
    struct audit_entry e = {
        .kind = AUDIT_EPOCH, .outcome = AUDIT_OK, .actor_kind = AUDIT_BY_NODE, .has_id = true};

    if (!is_ours(a, held)) {
        stats_count(a->stats, "audit.held.bad-signature", 1);
        log_warnx("audit: %s holds a checkpoint of ours at size %llu that we did not sign; "
                  "ignored",
                  peer, (unsigned long long)held->size);
        return AUDIT_HELD_PROVE;
    }
    if (held->epoch < a->epoch)
        return AUDIT_HELD_RESTART;
    if (held->epoch == UINT64_MAX)
        return AUDIT_HELD_PROVE; /* no epoch after it: never signed by this code */
    if (held->epoch == a->epoch && is_in_log(a, held))
        return AUDIT_HELD_PROVE;
    if (held->epoch == a->epoch && held->size <= a->start_size) {
        /* Not lost but other: the log found at start contradicts what we
         * signed. Only a rewrite does that; the peer's check will say so. */
        log_warnx("audit: %s holds our checkpoint at size %llu, which this log contradicts: it "
                  "was rewritten; run tmbus-admin audit verify",
                  peer, (unsigned long long)held->size);
        return AUDIT_HELD_PROVE;
    }
    a->epoch = (held->epoch > a->epoch ? held->epoch : a->epoch) + 1;
    stats_count(a->stats, "audit.epoch-started", 1);
    log_warnx("audit: %s holds our checkpoint of epoch %llu at size %llu, which this log (%llu "
              "entries at start) does not hold: the store lost it; the log goes on as epoch %llu",
              peer, (unsigned long long)held->epoch, (unsigned long long)held->size,
              (unsigned long long)a->start_size, (unsigned long long)a->epoch);
    e.seq = a->epoch;
    snprintf(e.origin, sizeof(e.origin), "%s", a->member);
    snprintf(e.peer, sizeof(e.peer), "%s", peer);
    memcpy(e.id, held->root, AUDIT_HASH_BYTES);
    snprintf(e.detail, sizeof(e.detail), "epoch reset: %s held epoch %llu at size %llu", peer,
             (unsigned long long)held->epoch, (unsigned long long)held->size);
    audit_record(a, &e);
    audit_want_checkpoint(a);
    return AUDIT_HELD_RESTART;
}
