/*
 * tmbus-admin bundle: carries a node's logs to a node it never links to,
 * by file (proto/PROTOCOL.md 14). `vector` and `export` read the store
 * read-only beside the running node; `import` opens it as its only writer
 * (the node stopped, its lock held) and feeds every envelope to
 * route_accept_run, the path a peer link's batches take, so that a bundle
 * gets exactly the network's checks. The file format is daemon/bundle.c's;
 * this file decides what goes in a bundle and what an import may change,
 * and changes nothing for a bundle it refuses.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "admin.h"
#include "audit.h"
#include "board.h"
#include "bundle.h"
#include "config.h"
#include "keys.h"
#include "log.h"
#include "node.h"
#include "roster.h"
#include "route.h"
#include "stats.h"
#include "store.h"

#define EX_REFUSED      1 /* the bundle was refused, or an envelope in it */
#define EX_CANNOT       2 /* no configuration, keys, store, or the node runs */
#define EX_ALREADY_HELD 3 /* a replay: everything in it is held already */
#define PATH_BYTES      4096
#define WHY_MAX         256

/* An import applies a section in chunks, each one store transaction and
 * one route_accept_run: at most this many envelopes (<= ROUTE_RUN_MAX)
 * and, the last one over, this many bytes, so that memory stays at most
 * CHUNK_BYTES + BUNDLE_ENVELOPE_MAX whatever the bundle's size. */
#define CHUNK_ENVELOPES 1024
#define CHUNK_BYTES     (8u << 20)
_Static_assert(CHUNK_ENVELOPES <= ROUTE_RUN_MAX, "a chunk is one run");

/* What an export counts against BUNDLE_MAX_BYTES besides the envelopes:
 * the header, end and signature (at most 8 + 2 + 3 * 65 + 8 + 32 + 1 +
 * 64), each section's tag, ids, seq and count, each envelope's length. */
#define FRAME_BYTES   512
#define SECTION_BYTES (1 + 2 * (1 + UTIL_MEMBER_ID_MAX) + 8 + 4)
#define RECORD_BYTES  4

static const char synopsis[] = "usage: tmbus-admin bundle vector -c CONF --to MEMBER --out FILE\n"
                               "       tmbus-admin bundle export -c CONF --for VECTOR --out FILE\n"
                               "       tmbus-admin bundle import -c CONF FILE\n";

static const char details[] =
    "\n"
    "vector  writes what this node holds of each log MEMBER may send it, signed,\n"
    "        for MEMBER's operator to answer with a bundle. Runs beside the node.\n"
    "export  writes, signed, every envelope that the node which wrote VECTOR\n"
    "        lacks and may hold. Runs beside the node.\n"
    "import  checks a bundle's signature, then applies it with the network's\n"
    "        checks and reports per log what it added. The node must be stopped.\n"
    "        Exit 0 when something was added, 3 when everything was held already,\n"
    "        1 when the bundle (or an envelope in it) was refused, 2 on errors.\n";

/* ---- what every subcommand loads ----------------------------------------- */

struct site {
    struct config *cfg;
    struct keyset *keys;     /* the generation that signs (site_roster settles it) */
    struct keyset *spare;    /* next_keys, when configured: the other generation */
    struct keyset *previous; /* previous_keys, when configured: opens what was sealed to it */
    struct roster *roster;   /* the roster the store trusts */
};

static void site_free(struct site *s)
{
    roster_free(&s->roster);
    keys_free(&s->previous);
    keys_free(&s->spare);
    keys_free(&s->keys);
    config_free(&s->cfg);
}

/* The member key file at path (of the configuration's member) into *out.
 * Returns 0 or -1 (said on stderr). */
static int site_keys(const struct site *s, const char *path, struct keyset **out)
{
    if ((*out = keys_load(path)) == NULL)
        return -1;
    if ((*out)->kind != KEYS_MEMBER || strcmp((*out)->member, s->cfg->member) != 0) {
        fprintf(stderr, "tmbus-admin bundle: %s is not the member key file of %s\n", path,
                s->cfg->member);
        return -1;
    }
    return 0;
}

/* The configuration and the member's keys (keys, and next_keys during a
 * rotation, previous_keys after one). */
static int site_load(struct site *s, const char *conf)
{
    char err[CONFIG_ERR_MAX];

    memset(s, 0, sizeof(*s));
    if ((s->cfg = config_load(conf, err, sizeof(err))) == NULL) {
        fprintf(stderr, "tmbus-admin bundle: %s\n", err);
        return -1;
    }
    if (site_keys(s, s->cfg->keys, &s->keys) == -1)
        return -1;
    if (s->cfg->next_keys != NULL && site_keys(s, s->cfg->next_keys, &s->spare) == -1)
        return -1;
    if (s->cfg->previous_keys != NULL && site_keys(s, s->cfg->previous_keys, &s->previous) == -1)
        return -1;
    return 0;
}

/* The roster the node trusts, as it keeps it in its store. */
static int site_roster(struct site *s, const uint8_t *buf, size_t len)
{
    struct roster_member m;

    if (roster_verify_trusted(buf, len, s->cfg->coalition, &s->roster) != ROSTER_OK) {
        fprintf(stderr, "tmbus-admin bundle: the roster kept in %s does not verify\n",
                s->cfg->data_dir);
        return -1;
    }
    /* Sign with the newest ACTIVE generation held, as the node does once
     * the roster makes next_keys its member's newer one (PROTOCOL.md 3.4). */
    if (s->spare != NULL && roster_find(s->roster, s->cfg->member, &m) == 0 &&
        roster_generation_of(&m, s->spare) > roster_generation_of(&m, s->keys))
        keys_swap(s->keys, s->spare);
    return 0;
}

/* Whether bundle or vector buf was signed by one of m's ACTIVE generations
 * (two during a rotation's overlap). */
static bool is_signed_by(const uint8_t *buf, size_t len, const struct roster_member *m)
{
    return bundle_check(buf, len, m->sign_pk, NULL, NULL, NULL) == BUNDLE_OK ||
           (m->next_sign_pk != NULL &&
            bundle_check(buf, len, m->next_sign_pk, NULL, NULL, NULL) == BUNDLE_OK);
}

static int site_roster_peek(struct site *s)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = store_roster_peek(s->cfg->data_dir, &buf, &len);

    if (rc != 1) {
        if (rc == 0)
            fprintf(stderr,
                    "tmbus-admin bundle: %s holds no store with a roster yet: start "
                    "the node once\n",
                    s->cfg->data_dir);
        return -1;
    }
    rc = site_roster(s, buf, len);
    free(buf);
    return rc;
}

/* May member see log? Relayed logs, and direct logs only between their
 * two ends (as the peer link's rule). */
static bool is_visible(const struct store_log *log, const char *member)
{
    return log->peer[0] == '\0' || strcmp(log->origin, member) == 0 ||
           strcmp(log->peer, member) == 0;
}

/* Writes through OUT.tmp, synced, renamed over out once complete: a
 * failed run leaves no partial file under the name a courier carries. */
struct out_file {
    char tmp[PATH_BYTES];
    const char *path;
    FILE *f;
};

static int out_open(struct out_file *o, const char *path)
{
    o->path = path;
    if ((size_t)snprintf(o->tmp, sizeof(o->tmp), "%s.tmp", path) >= sizeof(o->tmp))
        return -1;
    if ((o->f = fopen(o->tmp, "wbx")) == NULL) {
        fprintf(stderr, "tmbus-admin bundle: %s: %s\n", o->tmp, strerror(errno));
        return -1;
    }
    return 0;
}

static int out_close(struct out_file *o, bool is_ok)
{
    if (o->f == NULL)
        return -1;
    if (is_ok && (fflush(o->f) != 0 || fsync(fileno(o->f)) != 0)) {
        fprintf(stderr, "tmbus-admin bundle: %s: %s\n", o->tmp, strerror(errno));
        is_ok = false;
    }
    if (fclose(o->f) != 0)
        is_ok = false;
    o->f = NULL;
    if (is_ok && rename(o->tmp, o->path) != 0) {
        fprintf(stderr, "tmbus-admin bundle: %s: %s\n", o->path, strerror(errno));
        is_ok = false;
    }
    if (!is_ok)
        unlink(o->tmp);
    return is_ok ? 0 : -1;
}

/* ---- vector --------------------------------------------------------------- */

struct vector_walk {
    struct bundle_writer *w;
    const char *to;
    size_t n;
};

static int write_head(void *arg, const struct store_log *log, const struct store_head *head)
{
    struct vector_walk *v = arg;

    if (!is_visible(log, v->to) || v->n == BUNDLE_MAX_LOGS)
        return 0;
    v->n++;
    return bundle_writer_head(v->w, log->origin, log->peer, head->seq, head->id);
}

static int cmd_vector(const char *conf, const char *to, const char *out)
{
    struct bundle_header h = {.kind = BUNDLE_KIND_VECTOR};
    struct vector_walk walk = {.to = to};
    struct store_view *view = NULL;
    struct roster_member m;
    struct out_file o = {0};
    struct site s;
    int rc = EX_CANNOT;

    if (site_load(&s, conf) == -1 || site_roster_peek(&s) == -1)
        goto out;
    if (roster_find(s.roster, to, &m) == -1 || strcmp(to, s.cfg->member) == 0) {
        fprintf(stderr, "tmbus-admin bundle: %s is not another member of the roster\n", to);
        goto out;
    }
    if (store_view_open(s.cfg->data_dir, &view) != 1 || out_open(&o, out) == -1)
        goto out;
    snprintf(h.coalition, sizeof(h.coalition), "%s", s.cfg->coalition);
    snprintf(h.from, sizeof(h.from), "%s", s.cfg->member);
    snprintf(h.to, sizeof(h.to), "%s", to);
    h.created_at = (int64_t)time(NULL);
    walk.w = bundle_writer_new(o.f, &h);
    if (walk.w != NULL && store_view_each_log(view, write_head, &walk) == 0 &&
        bundle_writer_finish(walk.w, s.keys) == 0 && out_close(&o, true) == 0) {
        printf("vector of %s for %s: %zu logs, written to %s\n", s.cfg->member, to, walk.n, out);
        rc = 0;
    }
    bundle_writer_free(&walk.w);
out:
    if (o.f != NULL)
        out_close(&o, false);
    store_view_close(&view);
    site_free(&s);
    return rc;
}

/* ---- export --------------------------------------------------------------- */

/* The heads a vector lists, in the file's (origin, peer) order. */
struct heads {
    struct bundle_item *e;
    size_t n, cap;
};

static int collect_head(void *arg, const struct bundle_item *item)
{
    struct heads *hs = arg;

    if (item->kind != BUNDLE_ITEM_HEAD)
        return 0;
    if (hs->n == hs->cap) {
        size_t cap = hs->cap ? 2 * hs->cap : 64;
        struct bundle_item *grown = realloc(hs->e, cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        hs->e = grown;
        hs->cap = cap;
    }
    hs->e[hs->n++] = *item;
    return 0;
}

static const struct bundle_item *find_head(const struct heads *hs, const struct store_log *log)
{
    for (size_t i = 0; i < hs->n; i++)
        if (strcmp(hs->e[i].origin, log->origin) == 0 && strcmp(hs->e[i].peer, log->peer) == 0)
            return &hs->e[i];
    return NULL;
}

/* Reads and checks the vector a peer's operator sent: well formed, of our
 * coalition, asking us, signed by a member's active key. */
static int read_vector(const struct site *s, const char *path, struct bundle_header *h,
                       struct heads *hs, uint8_t answers[BUNDLE_HASH_BYTES])
{
    struct roster_member m;
    enum bundle_status st;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = -1;

    if (util_read_file(path, BUNDLE_VECTOR_MAX_BYTES, &buf, &len) == -1) {
        fprintf(stderr, "tmbus-admin bundle: %s: cannot read it (or over %d bytes)\n", path,
                BUNDLE_VECTOR_MAX_BYTES);
        return -1;
    }
    if ((st = bundle_check(buf, len, NULL, h, collect_head, hs)) != BUNDLE_OK)
        fprintf(stderr, "tmbus-admin bundle: vector %s refused: %s\n", path,
                bundle_status_name(st));
    else if (h->kind != BUNDLE_KIND_VECTOR)
        fprintf(stderr, "tmbus-admin bundle: %s is a bundle, not a vector\n", path);
    else if (strcmp(h->coalition, s->cfg->coalition) != 0)
        fprintf(stderr, "tmbus-admin bundle: vector %s refused: for coalition %s\n", path,
                h->coalition);
    else if (strcmp(h->to, s->cfg->member) != 0)
        fprintf(stderr, "tmbus-admin bundle: vector %s refused: it asks %s, not %s\n", path, h->to,
                s->cfg->member);
    else if (roster_find(s->roster, h->from, &m) == -1)
        fprintf(stderr, "tmbus-admin bundle: vector %s refused: %s is not in the roster\n", path,
                h->from);
    else if (!is_signed_by(buf, len, &m))
        fprintf(stderr, "tmbus-admin bundle: vector %s refused: not signed by %s's active key\n",
                path, h->from);
    else
        rc = 0;
    if (rc == 0)
        bundle_hash(buf, len, answers);
    free(buf);
    return rc;
}

struct export_walk {
    struct bundle_writer *w;
    struct store_view *view;
    const struct heads *theirs;
    const char *self, *to;
    uint64_t n_envelopes;
    uint64_t bytes; /* what the file will hold, at most BUNDLE_MAX_BYTES */
    bool is_capped; /* a limit left envelopes out: the next vector asks for them */
    size_t n_logs;
    bool is_failed;
};

static int write_envelope(void *arg, uint64_t seq, const uint8_t *env, size_t len)
{
    struct export_walk *x = arg;

    (void)seq;
    x->bytes += RECORD_BYTES + len;
    return bundle_writer_envelope(x->w, env, len);
}

/* One log: what the vector's node lacks of it, from the seq after its
 * head; from its head itself when it holds another envelope there (a
 * fork), so that the import keeps ours as evidence as a fetch would. */
static int export_log(void *arg, const struct store_log *log, const struct store_head *head)
{
    struct export_walk *x = arg;
    const struct bundle_item *t = find_head(x->theirs, log);
    uint64_t from = t != NULL ? t->seq + 1 : 1, count;
    uint8_t id[ENVELOPE_HASH_BYTES];
    int64_t fit;

    /* Direct logs only from us to the importer: its own it holds, and
     * another pair's it may not hold at all. Halted logs are not relayed. */
    if (head->is_halted || !is_visible(log, x->to) ||
        (log->peer[0] != '\0' && strcmp(log->origin, x->self) != 0))
        return 0;
    if (t != NULL && t->seq > 0 && t->seq <= head->seq) {
        if (store_view_id(x->view, log, t->seq, id) != 1)
            return -1;
        if (memcmp(id, t->id, ENVELOPE_HASH_BYTES) != 0)
            from = t->seq;
    }
    if (from > head->seq)
        return 0;
    /* What does not fit, in envelopes or bytes, the next vector asks for. */
    count = head->seq - from + 1;
    if (count > BUNDLE_MAX_ENVELOPES - x->n_envelopes)
        count = BUNDLE_MAX_ENVELOPES - x->n_envelopes;
    if (count == 0 || x->n_logs == BUNDLE_MAX_LOGS ||
        x->bytes + SECTION_BYTES >= BUNDLE_MAX_BYTES) {
        x->is_capped = true;
        return 0;
    }
    fit = store_view_fit(x->view, log, from, from + count - 1,
                         BUNDLE_MAX_BYTES - x->bytes - SECTION_BYTES, RECORD_BYTES);
    if (fit < 0)
        return -1;
    if ((uint64_t)fit < head->seq - from + 1)
        x->is_capped = true;
    if ((count = (uint64_t)fit) == 0)
        return 0;
    x->bytes += SECTION_BYTES;
    if (bundle_writer_section(x->w, log->origin, log->peer, from, (uint32_t)count) == -1 ||
        store_view_range(x->view, log, from, from + count - 1, write_envelope, x) != (int)count)
        return -1;
    printf("  %s/%s: seq %" PRIu64 "..%" PRIu64 " (%" PRIu64 ")\n", log->origin,
           log->peer[0] ? log->peer : "*", from, from + count - 1, count);
    x->n_envelopes += count;
    x->n_logs++;
    return 0;
}

static int cmd_export(const char *conf, const char *vector, const char *out)
{
    struct bundle_header theirs, h = {.kind = BUNDLE_KIND_ENVELOPES};
    struct heads hs = {0};
    struct export_walk x = {0};
    struct out_file o = {0};
    struct site s;
    int rc = EX_CANNOT;

    if (site_load(&s, conf) == -1 || site_roster_peek(&s) == -1)
        goto out;
    if (read_vector(&s, vector, &theirs, &hs, h.answers) == -1) {
        rc = EX_REFUSED;
        goto out;
    }
    if (store_view_open(s.cfg->data_dir, &x.view) != 1 || out_open(&o, out) == -1)
        goto out;
    snprintf(h.coalition, sizeof(h.coalition), "%s", s.cfg->coalition);
    snprintf(h.from, sizeof(h.from), "%s", s.cfg->member);
    snprintf(h.to, sizeof(h.to), "%s", theirs.from);
    h.created_at = (int64_t)time(NULL);
    x.theirs = &hs;
    x.bytes = FRAME_BYTES;
    x.self = s.cfg->member;
    x.to = theirs.from;
    printf("bundle from %s for %s:\n", s.cfg->member, theirs.from);
    if ((x.w = bundle_writer_new(o.f, &h)) != NULL &&
        store_view_each_log(x.view, export_log, &x) == 0 &&
        bundle_writer_finish(x.w, s.keys) == 0 && out_close(&o, true) == 0) {
        printf("%" PRIu64 " envelopes of %zu logs written to %s\n", x.n_envelopes, x.n_logs, out);
        if (x.is_capped)
            printf("the bundle is full (%d envelopes or 4 GiB): the next vector asks for the "
                   "rest\n",
                   BUNDLE_MAX_ENVELOPES);
        rc = 0;
    }
    bundle_writer_free(&x.w);
out:
    if (o.f != NULL)
        out_close(&o, false);
    store_view_close(&x.view);
    free(hs.e);
    site_free(&s);
    return rc;
}

/* ---- import --------------------------------------------------------------- */

/* Why a bundle was refused: its counter, "bundle.refused.NAME". */
enum refusal {
    REFUSED_IO,
    REFUSED_TRUNCATED,
    REFUSED_MALFORMED,
    REFUSED_TOO_LARGE,
    REFUSED_SIGNATURE,
    REFUSED_NOMEM,
    REFUSED_COALITION,
    REFUSED_MEMBER,
    REFUSED_SIGNER,
    REFUSED_REPLAYED,
    REFUSED_CHANGED,
    REFUSED_COUNT_
};

static const char *const refused_counters[REFUSED_COUNT_] = {
    [REFUSED_IO] = "bundle.refused.io-error",
    [REFUSED_TRUNCATED] = "bundle.refused.truncated",
    [REFUSED_MALFORMED] = "bundle.refused.malformed",
    [REFUSED_TOO_LARGE] = "bundle.refused.too-large",
    [REFUSED_SIGNATURE] = "bundle.refused.bad-signature",
    [REFUSED_NOMEM] = "bundle.refused.out-of-memory",
    [REFUSED_COALITION] = "bundle.refused.other-coalition",
    [REFUSED_MEMBER] = "bundle.refused.other-member",
    [REFUSED_SIGNER] = "bundle.refused.unknown-signer",
    [REFUSED_REPLAYED] = "bundle.refused.replayed",
    [REFUSED_CHANGED] = "bundle.refused.changed-during-import",
};

/* The reader's status as a refusal (never BUNDLE_OK). */
static enum refusal refusal_of(enum bundle_status st)
{
    switch (st) {
    case BUNDLE_E_TRUNCATED:
        return REFUSED_TRUNCATED;
    case BUNDLE_E_TOO_LARGE:
        return REFUSED_TOO_LARGE;
    case BUNDLE_E_SIGNATURE:
        return REFUSED_SIGNATURE;
    case BUNDLE_E_NOMEM:
        return REFUSED_NOMEM;
    case BUNDLE_E_IO:
        return REFUSED_IO;
    default:
        return REFUSED_MALFORMED;
    }
}

/* One section as the first pass saw it, and what the second did. */
struct section {
    struct store_log log;
    uint64_t first, count;
    uint64_t added_from, added_to; /* 0, 0: nothing added */
    uint64_t skipped;              /* held already, or dropped as the network drops */
    bool is_refused;               /* an envelope of it was refused: the rest unread */
};

struct import {
    struct site s;
    struct store *store;
    struct stats *stats;
    struct audit *audit;
    struct envelope_keyring *keyring; /* the route's */
    struct route *route;
    int fd;
    struct bundle_header h;
    const uint8_t *sign_pk;      /* the exporter's active key, in s.roster */
    const uint8_t *next_sign_pk; /* its newer one during a rotation, or NULL */
    struct section *sections;
    size_t n_sections;
    uint8_t (*chunks)[BUNDLE_HASH_BYTES]; /* each chunk's hash, from the first pass */
    size_t n_chunks, cap_chunks;
    /* The chunk being read: its envelopes, copied, and their hash. */
    uint8_t *chunk;
    size_t chunk_len, chunk_n;
    const uint8_t *envs[CHUNK_ENVELOPES];
    size_t lens[CHUNK_ENVELOPES];
    crypto_generichash_state chunk_hash;
    char why[WHY_MAX];
};

static long read_fd(void *arg, uint8_t *buf, size_t len)
{
    const struct import *im = arg;
    ssize_t n;

    do
        n = read(im->fd, buf, len);
    while (n == -1 && errno == EINTR);
    return (long)n;
}

/* The node's group commit, for one chunk: receipts owed, audit entries
 * and counters go in with the envelopes. Returns 0 or -1. */
static int commit(struct import *im, bool is_final)
{
    bool ok;

    if (!store_in_batch(im->store) && store_begin(im->store) == -1)
        return -1;
    route_seal_answers(im->route);
    if (audit_flush(im->audit, is_final) != 0) {
        store_rollback(im->store);
        ok = false;
    } else {
        store_counters_save(im->store, im->stats);
        ok = store_commit(im->store) == 0;
    }
    audit_committed(im->audit, ok);
    if (ok)
        stats_mark_saved(im->stats);
    route_end_round(im->route);
    return ok ? 0 : -1;
}

/* Refuses the bundle: says why, counts it, records it in the audit log,
 * and commits only those two. */
static int refuse(struct import *im, enum refusal why, const char *detail)
{
    struct audit_entry e = {
        .kind = AUDIT_ENVELOPE, .outcome = AUDIT_REFUSED, .actor_kind = AUDIT_BY_MEMBER};

    fprintf(stderr, "bundle refused: %s: %s\n", refused_counters[why] + strlen("bundle.refused."),
            detail);
    stats_count(im->stats, refused_counters[why], 1);
    snprintf(e.actor, sizeof(e.actor), "%s", im->h.from[0] ? im->h.from : im->s.cfg->member);
    snprintf(e.detail, sizeof(e.detail), "bundle refused: %s",
             refused_counters[why] + strlen("bundle.refused."));
    audit_record(im->audit, &e);
    (void)commit(im, true);
    return why == REFUSED_REPLAYED ? EX_ALREADY_HELD : EX_REFUSED;
}

/* The header's checks, in the order the reasons read best: another
 * coalition, another importer, a signer who is not a member. */
static int check_header(struct import *im, enum refusal *why)
{
    struct roster_member m;

    if (im->h.kind != BUNDLE_KIND_ENVELOPES) {
        *why = REFUSED_MALFORMED;
        snprintf(im->why, sizeof(im->why), "a vector file, not a bundle");
    } else if (strcmp(im->h.coalition, im->s.cfg->coalition) != 0) {
        *why = REFUSED_COALITION;
        snprintf(im->why, sizeof(im->why), "made for coalition %s, this node is in %s",
                 im->h.coalition, im->s.cfg->coalition);
    } else if (strcmp(im->h.to, im->s.cfg->member) != 0) {
        *why = REFUSED_MEMBER;
        snprintf(im->why, sizeof(im->why), "made by %s for %s, this node is %s", im->h.from,
                 im->h.to, im->s.cfg->member);
    } else if (roster_find(im->s.roster, im->h.from, &m) == -1) {
        *why = REFUSED_SIGNER;
        snprintf(im->why, sizeof(im->why), "signed as %s, who is not in the roster", im->h.from);
    } else {
        im->sign_pk = m.sign_pk;
        im->next_sign_pk = m.next_sign_pk;
        return 0;
    }
    return -1;
}

static int add_chunk_hash(struct import *im, const uint8_t *hash)
{
    if (im->n_chunks == im->cap_chunks) {
        size_t cap = im->cap_chunks ? 2 * im->cap_chunks : 64;
        uint8_t(*grown)[BUNDLE_HASH_BYTES] = realloc(im->chunks, cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        im->chunks = grown;
        im->cap_chunks = cap;
    }
    memcpy(im->chunks[im->n_chunks++], hash, BUNDLE_HASH_BYTES);
    return 0;
}

/* Adds an envelope to the chunk being read: copied when is_copy (the
 * second pass applies it), hashed either way. Returns true when the chunk
 * is full. */
static bool chunk_add(struct import *im, const struct bundle_item *item, bool is_copy)
{
    uint8_t len4[4] = {(uint8_t)(item->len >> 24), (uint8_t)(item->len >> 16),
                       (uint8_t)(item->len >> 8), (uint8_t)item->len};

    if (im->chunk_n == 0 && im->chunk_len == 0)
        crypto_generichash_init(&im->chunk_hash, NULL, 0, BUNDLE_HASH_BYTES);
    crypto_generichash_update(&im->chunk_hash, len4, sizeof(len4));
    crypto_generichash_update(&im->chunk_hash, item->env, item->len);
    if (is_copy) {
        memcpy(im->chunk + im->chunk_len, item->env, item->len);
        im->envs[im->chunk_n] = im->chunk + im->chunk_len;
    }
    im->lens[im->chunk_n++] = item->len;
    im->chunk_len += item->len;
    return im->chunk_n == CHUNK_ENVELOPES || im->chunk_len >= CHUNK_BYTES;
}

static void chunk_end(struct import *im, uint8_t hash[BUNDLE_HASH_BYTES])
{
    crypto_generichash_final(&im->chunk_hash, hash, BUNDLE_HASH_BYTES);
}

static void chunk_reset(struct import *im)
{
    im->chunk_n = 0;
    im->chunk_len = 0;
}

/* Whether the store holds exactly item's envelope at its seq: 1, 0, or -1
 * when the store failed. */
static int is_held(struct import *im, const struct store_log *log, const struct bundle_item *item)
{
    uint8_t *held = NULL;
    size_t len = 0;
    int rc = store_get(im->store, log, item->seq, &held, &len, NULL);

    if (rc == 1)
        rc = len == item->len && memcmp(held, item->env, len) == 0 ? 1 : 0;
    free(held);
    return rc;
}

/* The first pass: the whole file read once, nothing written. Checks the
 * header, every record's bounds and the signature over all of it, notes
 * each section and each chunk's hash, and whether anything is new.
 * Returns 0, or the refusal's exit status. */
static int first_pass(struct import *im, bool *has_new)
{
    struct bundle_reader *r = bundle_reader_new(read_fd, im, BUNDLE_MAX_BYTES);
    struct bundle_item item;
    enum bundle_status st;
    enum refusal why;
    uint8_t hash[BUNDLE_HASH_BYTES];
    size_t left = 0;              /* envelopes left in the open section */
    struct store_head head = {0}; /* of the open section's log */
    struct section *sec = NULL;

    *has_new = false;
    if (r == NULL)
        return refuse(im, REFUSED_NOMEM, "no memory for a reader");
    if ((st = bundle_reader_header(r, &im->h)) != BUNDLE_OK)
        goto bad;
    if (check_header(im, &why) == -1) {
        bundle_reader_free(&r);
        return refuse(im, why, im->why);
    }
    while ((st = bundle_reader_next(r, &item)) == BUNDLE_OK && item.kind != BUNDLE_ITEM_END) {
        if (item.kind == BUNDLE_ITEM_SECTION) {
            struct section *grown = realloc(im->sections, (im->n_sections + 1) * sizeof(*grown));

            if (grown == NULL) {
                st = BUNDLE_E_NOMEM;
                break;
            }
            im->sections = grown;
            sec = &im->sections[im->n_sections++];
            memset(sec, 0, sizeof(*sec));
            strcpy(sec->log.origin, item.origin);
            strcpy(sec->log.peer, item.peer);
            sec->first = item.seq;
            sec->count = item.count;
            left = item.count;
            if (store_head(im->store, &sec->log, &head) == -1) {
                st = BUNDLE_E_IO;
                break;
            }
            if (sec->first + sec->count - 1 > head.seq)
                *has_new = true;
            continue;
        }
        /* Another envelope at a held seq is news too: a fork, kept as
         * evidence. The same bytes are not. */
        if (item.seq <= head.seq && !*has_new) {
            int same = is_held(im, &sec->log, &item);
            if (same == -1) {
                st = BUNDLE_E_IO;
                break;
            }
            *has_new = same == 0;
        }
        left--;
        if (!chunk_add(im, &item, false) && left > 0)
            continue;
        chunk_end(im, hash);
        chunk_reset(im);
        if (add_chunk_hash(im, hash) == -1) {
            st = BUNDLE_E_NOMEM;
            break;
        }
    }
    if (st == BUNDLE_OK) {
        st = bundle_reader_verify(r, im->sign_pk);
        if (st != BUNDLE_OK && im->next_sign_pk != NULL)
            st = bundle_reader_verify(r, im->next_sign_pk);
    }
bad:
    bundle_reader_free(&r);
    if (st != BUNDLE_OK) {
        snprintf(im->why, sizeof(im->why), "%s",
                 st == BUNDLE_E_SIGNATURE   ? "the signature does not verify under the signer's "
                                              "active key (altered, or signed by another key)"
                 : st == BUNDLE_E_TRUNCATED ? "the file ends before its signature"
                                            : bundle_status_name(st));
        return refuse(im, refusal_of(st), im->why);
    }
    if (!*has_new)
        return refuse(im, REFUSED_REPLAYED,
                      "already applied: every envelope in it is held, nothing added");
    return 0;
}

/* Applies the chunk read: one run, one transaction; notes what it added
 * to the section. Returns 0, or -1 when the store failed. */
static int apply_chunk(struct import *im, struct section *sec)
{
    struct store_head before, after;
    int rc;

    if (store_head(im->store, &sec->log, &before) == -1 || route_batch(im->route) == -1)
        return -1;
    rc = route_accept_run(im->route, im->h.from, im->envs, im->lens, im->chunk_n);
    if (commit(im, false) == -1 || store_head(im->store, &sec->log, &after) == -1)
        return -1;
    if (after.seq > before.seq) {
        if (sec->added_from == 0)
            sec->added_from = before.seq + 1;
        sec->added_to = after.seq;
    }
    sec->skipped += im->chunk_n - (after.seq - before.seq);
    if (rc == -1)
        sec->is_refused = true;
    return 0;
}

/* The second pass: the file read again, each chunk compared with the
 * first pass's hash before route_accept_run sees it (the file cannot
 * change under the import), and applied. */
static int second_pass(struct import *im)
{
    struct bundle_reader *r = NULL;
    struct bundle_header h;
    struct bundle_item item;
    struct section *sec = NULL;
    uint8_t hash[BUNDLE_HASH_BYTES];
    size_t chunk_i = 0, sec_i = 0;
    uint64_t left = 0;
    int rc = EX_CANNOT;

    if (lseek(im->fd, 0, SEEK_SET) != 0 ||
        (r = bundle_reader_new(read_fd, im, BUNDLE_MAX_BYTES)) == NULL)
        goto out;
    if (bundle_reader_header(r, &h) != BUNDLE_OK || memcmp(&h, &im->h, sizeof(h)) != 0) {
        rc = refuse(im, REFUSED_CHANGED, "the file changed during the import");
        goto out;
    }
    while (bundle_reader_next(r, &item) == BUNDLE_OK && item.kind != BUNDLE_ITEM_END) {
        if (item.kind == BUNDLE_ITEM_SECTION) {
            if (sec_i == im->n_sections)
                break;
            sec = &im->sections[sec_i++];
            left = item.count;
            continue;
        }
        left--;
        if (!chunk_add(im, &item, true) && left > 0)
            continue;
        chunk_end(im, hash);
        if (chunk_i == im->n_chunks || memcmp(hash, im->chunks[chunk_i++], sizeof(hash)) != 0) {
            rc = refuse(im, REFUSED_CHANGED, "the file changed during the import");
            goto out;
        }
        if (sec->is_refused) {
            sec->skipped += im->chunk_n; /* after a refusal the rest of its log is not read */
        } else if (apply_chunk(im, sec) == -1) {
            fprintf(stderr, "tmbus-admin bundle: the store failed; what was committed stays, "
                            "import the bundle again\n");
            goto out;
        }
        chunk_reset(im);
    }
    rc = 0;
out:
    bundle_reader_free(&r);
    return rc;
}

static int import_open(struct import *im, const char *conf)
{
    struct envelope_keyring *kr;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc;

    if (site_load(&im->s, conf) == -1)
        return -1;
    if ((im->stats = stats_new()) == NULL)
        return -1;
    if ((im->store = node_open_store(im->s.cfg, im->s.keys)) == NULL) {
        fprintf(stderr,
                "tmbus-admin bundle: cannot open the store in %s: an import needs the "
                "node stopped\n",
                im->s.cfg->data_dir);
        return -1;
    }
    if (board_upgrade(im->store) != 0 || store_counters_restore(im->store, im->stats) != 0)
        return -1;
    if ((rc = store_roster_get(im->store, &buf, &len)) != 1) {
        if (rc == 0)
            fprintf(stderr, "tmbus-admin bundle: the store trusts no roster yet: start the node "
                            "once\n");
        return -1;
    }
    rc = site_roster(&im->s, buf, len);
    free(buf);
    if (rc == -1)
        return -1;
    if (roster_expires_at(im->s.roster) <= (int64_t)time(NULL)) {
        fprintf(stderr, "tmbus-admin bundle: the roster in force has expired: a node takes "
                        "nothing in under it\n");
        return -1;
    }
    if ((kr = envelope_keyring_new(im->s.keys)) == NULL)
        return -1;
    /* The node's keyring: what was sealed to any generation it holds
     * opens, as at the node (an envelope sealed to the old box key may
     * cross long after the operator moved the files). */
    if ((im->s.spare != NULL && envelope_keyring_add(kr, im->s.spare) == -1) ||
        (im->s.previous != NULL && envelope_keyring_add(kr, im->s.previous) == -1)) {
        envelope_keyring_free(&kr);
        return -1;
    }
    if ((im->audit = audit_new(im->store, im->s.keys, im->s.cfg->member, im->stats)) == NULL) {
        envelope_keyring_free(&kr);
        return -1;
    }
    /* The keyring lives as long as the route: freed in import_close. */
    struct route_parts rp = {
        im->s.cfg->member, im->s.cfg->coalition, im->store, kr, im->s.roster, im->stats, im->audit};
    if ((im->route = route_new(&rp)) == NULL) {
        envelope_keyring_free(&kr);
        return -1;
    }
    im->keyring = kr;
    return 0;
}

static void import_close(struct import *im)
{
    route_free(&im->route);
    envelope_keyring_free(&im->keyring);
    audit_free(&im->audit);
    store_close(&im->store);
    stats_free(&im->stats);
    site_free(&im->s);
    free(im->sections);
    free(im->chunks);
    free(im->chunk);
    if (im->fd != -1)
        close(im->fd);
}

/* What the import added, per log, and the exit status it earns. */
static int report(const struct import *im)
{
    uint64_t added = 0, skipped = 0;
    bool is_refused = false;
    char when[32];

    util_format_utc(im->h.created_at, when, sizeof(when));
    printf("bundle from %s for %s, made %s:\n", im->h.from, im->h.to, when);
    for (size_t i = 0; i < im->n_sections; i++) {
        const struct section *sec = &im->sections[i];
        const char *peer = sec->log.peer[0] ? sec->log.peer : "*";

        if (sec->added_to > 0)
            printf("  %s/%s: added seq %" PRIu64 "..%" PRIu64 " (%" PRIu64 "), skipped %" PRIu64
                   "%s\n",
                   sec->log.origin, peer, sec->added_from, sec->added_to,
                   sec->added_to - sec->added_from + 1, sec->skipped,
                   sec->is_refused ? ", then an envelope was refused (see above)" : "");
        else
            printf("  %s/%s: nothing added, skipped %" PRIu64 "%s\n", sec->log.origin, peer,
                   sec->skipped,
                   sec->is_refused ? ": an envelope was refused (see above)" : " (held already)");
        added += sec->added_to > 0 ? sec->added_to - sec->added_from + 1 : 0;
        skipped += sec->skipped;
        is_refused = is_refused || sec->is_refused;
    }
    printf("%" PRIu64 " envelopes added, %" PRIu64 " skipped\n", added, skipped);
    return is_refused ? EX_REFUSED : 0;
}

static int cmd_import(const char *conf, const char *path)
{
    struct import *im = calloc(1, sizeof(*im));
    struct stat sb;
    bool has_new;
    int rc = EX_CANNOT;

    if (im == NULL)
        return EX_CANNOT;
    im->fd = -1;
    if (import_open(im, conf) == -1)
        goto out;
    if ((im->fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 || fstat(im->fd, &sb) == -1) {
        fprintf(stderr, "tmbus-admin bundle: %s: %s\n", path, strerror(errno));
        goto out;
    }
    if ((uint64_t)sb.st_size > BUNDLE_MAX_BYTES) {
        rc = refuse(im, REFUSED_TOO_LARGE, "over BUNDLE_MAX_BYTES (4 GiB)");
        goto out;
    }
    if ((rc = first_pass(im, &has_new)) != 0)
        goto out;
    if ((im->chunk = malloc(CHUNK_BYTES + BUNDLE_ENVELOPE_MAX)) == NULL) {
        rc = refuse(im, REFUSED_NOMEM, "no memory for a chunk");
        goto out;
    }
    if ((rc = second_pass(im)) != 0)
        goto out;
    stats_count(im->stats, "bundle.imported", 1);
    rc = report(im);
    if (commit(im, true) == -1)
        rc = EX_CANNOT;
out:
    import_close(im);
    free(im);
    return rc;
}

/* ---- dispatch ------------------------------------------------------------- */

int admin_bundle(int argc, char **argv)
{
    const char *conf = NULL, *out = NULL, *vector = NULL, *to = NULL, *file = NULL;

    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("%s%s", synopsis, details);
            return 0;
        }
    for (int i = 2; i < argc; i++) {
        const char **opt = strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0 ? &conf
                           : strcmp(argv[i], "--out") == 0                                ? &out
                           : strcmp(argv[i], "--for") == 0                                ? &vector
                           : strcmp(argv[i], "--to") == 0                                 ? &to
                                                                                          : NULL;
        if (opt != NULL && i + 1 < argc)
            *opt = argv[++i];
        else if (opt == NULL && argv[i][0] != '-' && file == NULL)
            file = argv[i];
        else
            goto usage;
    }
    if (argc < 2 || conf == NULL)
        goto usage;
    if (strcmp(argv[1], "vector") == 0 && to != NULL && out != NULL && file == NULL)
        return cmd_vector(conf, to, out);
    if (strcmp(argv[1], "export") == 0 && vector != NULL && out != NULL && file == NULL)
        return cmd_export(conf, vector, out);
    if (strcmp(argv[1], "import") == 0 && file != NULL && out == NULL && vector == NULL)
        return cmd_import(conf, file);
usage:
    fputs(synopsis, stderr);
    return ADMIN_EX_USAGE;
}
