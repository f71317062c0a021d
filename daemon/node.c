/*
 * node: builds and tears down a running tmbusd. It loads the keys, roster
 * and store, hands each part what it needs (the route its store, roster
 * and keyring; api and peers the route and their sockets' settings), owns
 * the loop round and the group commit, and reloads the configuration and
 * roster on SIGHUP. It runs the roster its store keeps as trusted or that
 * one's direct successor, never an older one, and watches its expiry.
 * Signals arrive through a signalfd in the event loop, never in a
 * handler. The node names api and peers only to build, reload and free
 * them; what was committed reaches them through listeners.
 */
#include "node.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>
#include <zmq.h>

#include "admission.h"
#include "api.h"
#include "board.h"
#include "envelope.h"
#include "http.h"
#include "keys.h"
#include "log.h"
#include "loop.h"
#include "peer.h"
#include "retention.h"
#include "roster.h"
#include "route.h"
#include "stats.h"
#include "store.h"
#include "zap.h"

#define NODE_MAX_LISTENERS 4
#define NODE_WHY_MAX       200 /* a roster refusal's reason */
#define EXPIRY_WEEK_S      (7 * 86400)
#define EXPIRY_DAY_S       86400
#define EXPIRY_CHECK_MS    60000      /* longest sleep of the expiry timer */
#define EXPIRY_MIN_MS      250        /* shortest: time(NULL) has whole seconds */
#define NOTIFY_STATUS_MS   10000      /* how often STATUS= is renewed without a watchdog */
#define NOTIFY_MAX         256        /* one sd_notify message */
#define FULL_RETRY_MIN_MS  250        /* a full store is tried again after this, */
#define FULL_RETRY_MAX_MS  8000       /* doubling up to this */
#define FULL_ROOM_BYTES    (4u << 20) /* free space that ends "store full" */

/* How near the roster in force is to its expiry; it only moves forward
 * for one roster, so that each warning is logged once. */
enum expiry_stage {
    EXPIRY_FAR,  /* more than a week left */
    EXPIRY_WEEK, /* a week or less: warned */
    EXPIRY_DAY,  /* a day or less: warned */
    EXPIRY_PAST, /* expired: no posts, no envelopes from peers */
};

struct listener {
    node_commit_fn fn;
    void *arg;
};

struct node {
    struct config *cfg;
    /* The key generation in force: the one set every part borrows (it
     * signs, seals, and is api's client socket key at start). During a
     * rotation (PROTOCOL.md 3.4) spare holds the other generation of
     * next_keys: the next one until the switch, the replaced one after
     * it (settle_keys swaps the two sets' contents). previous holds
     * previous_keys. Both open what was sealed to them. */
    struct keyset *keys;
    struct keyset *spare;
    struct keyset *previous;
    uint8_t boot_transport_pk[KEYS_PUBLIC_BYTES]; /* the keys file's, for the client socket */
    struct roster *roster;                        /* owned here, lent to the route */
    struct admission *admission;                  /* shares open needs with new members */
    uint64_t trusted_version; /* the roster version the store keeps as trusted */
    /* A roster came over the bus or from an admin client this round: the
     * route has it already; links and sessions follow at the round's end
     * (apply_roster), never inside the peer or api callback that took it. */
    bool is_roster_new;
    enum expiry_stage expiry; /* of the roster in force */
    struct envelope_keyring *keyring;
    struct store *store;
    struct audit *audit;
    struct stats *stats;
    struct route *route;
    void *zctx;
    struct loop *loop;
    struct zap *zap;
    struct peers *peers;
    struct api *api;
    struct http *http;           /* NULL when [http] listen is off */
    struct retention *retention; /* NULL when [retention] is off */
    int signal_fd;
    bool is_watchdog; /* systemd wants WATCHDOG=1 from us (WatchdogSec=) */
    struct listener listeners[NODE_MAX_LISTENERS];
    size_t n_listeners;
    /* The store's disk is full: posts are refused and peers held (by api
     * and peer, which ask the store) while a timer tries a small commit,
     * backing off, until one succeeds. */
    bool is_full;
    int64_t full_delay_ms;
    int64_t full_since_ms;
    uint64_t full_timer;
};

static int64_t now_unix(void)
{
    return (int64_t)time(NULL);
}

int node_listen(struct node *n, node_commit_fn fn, void *arg)
{
    if (n->n_listeners == NODE_MAX_LISTENERS)
        return -1;
    n->listeners[n->n_listeners++] = (struct listener){fn, arg};
    return 0;
}

/* Upper bounds of the commit histograms that /metrics shows: seconds from
 * sealing the answers to the end of the fsync, and envelopes per batch. */
static const double commit_seconds_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                               0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                               1,      2.5,     5,      10};
static const double commit_envelopes_bounds[] = {1,   2,   4,   8,    16,   32,    64,
                                                 128, 256, 512, 1024, 4096, 16384, 65536};

static double elapsed_s(const struct timespec *since)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - since->tv_sec) + (double)(now.tv_nsec - since->tv_nsec) / 1e9;
}

static int64_t on_full_timer(void *arg);

/* A commit failed for want of disk space. Said once; from then on a timer
 * alone tries again, backing off, so that nothing spins while the disk
 * stays full. A commit that fails while the node tries is silent. */
static void enter_full(struct node *n)
{
    if (n->is_full)
        return;
    n->is_full = true;
    n->full_delay_ms = FULL_RETRY_MIN_MS;
    n->full_since_ms = loop_now_ms();
    stats_count(n->stats, "store.full", 1);
    log_warnx("store full: no room left on the disk of %s; refusing posts and holding peers, "
              "trying again after %d ms, backing off to every %d ms",
              n->cfg->data_dir, FULL_RETRY_MIN_MS, FULL_RETRY_MAX_MS);
    n->full_timer = loop_add_timer(n->loop, n->full_delay_ms, on_full_timer, n);
}

/* A try went through with room to spare, or envelopes committed: the store
 * takes writes again, and peers are asked to send again what was lost. */
static void leave_full(struct node *n)
{
    if (!n->is_full)
        return;
    n->is_full = false;
    if (n->full_timer != 0)
        loop_remove_timer(n->loop, n->full_timer);
    n->full_timer = 0;
    stats_count(n->stats, "store.writable-again", 1);
    log_info("store writable again after %lld ms: taking posts and envelopes from peers again",
             (long long)(loop_now_ms() - n->full_since_ms));
    peers_resync(n->peers);
}

/* Whether the file system of the data directory has FULL_ROOM_BYTES free
 * (true when it cannot tell): a commit that fits in the last few pages
 * freed by a rollback is no sign that the next round's will. */
static bool has_room(const struct node *n)
{
    struct statvfs fs;

    if (statvfs(n->cfg->data_dir, &fs) == -1)
        return true;
    return (uint64_t)fs.f_bavail * fs.f_frsize >= FULL_ROOM_BYTES;
}

/* Once the file system has room, tries one small commit (the counters;
 * store.full at least), unless a round's batch is open, which then tries
 * for it. Backs off up to FULL_RETRY_MAX_MS while it fails. */
static int64_t on_full_timer(void *arg)
{
    struct node *n = arg;
    const char *name;
    uint64_t value;

    if (has_room(n) && !store_in_batch(n->store) && store_begin(n->store) == 0) {
        store_counters_save(n->store, n->stats);
        for (size_t i = 0; i < stats_size(n->stats); i++) {
            stats_at(n->stats, i, &name, &value);
            if (strcmp(name, "store.full") == 0)
                (void)store_counter_put(n->store, name, value);
        }
        if (store_commit(n->store) == 0) {
            stats_mark_saved(n->stats);
            n->full_timer = 0; /* ends with this call */
            leave_full(n);
            return -1;
        }
    }
    n->full_delay_ms =
        n->full_delay_ms * 2 < FULL_RETRY_MAX_MS ? n->full_delay_ms * 2 : FULL_RETRY_MAX_MS;
    return n->full_delay_ms;
}

/* Records a node event in the audit log: kind, outcome and detail, with
 * seq (a roster version) where it applies. */
static void note(struct node *n, enum audit_kind kind, bool is_ok, uint64_t seq, const char *detail)
{
    struct audit_entry e = {.kind = kind,
                            .outcome = is_ok ? AUDIT_OK : AUDIT_REFUSED,
                            .actor_kind = AUDIT_BY_NODE,
                            .seq = seq};

    snprintf(e.detail, sizeof(e.detail), "%.*s", AUDIT_DETAIL_MAX, detail);
    audit_record(n->audit, &e);
}

/* Seals the receipts owed this round and the audit entries queued into the
 * open batch, commits it and tells every listener the outcome; then the
 * round is over for the route too. A round with only audit entries opens
 * a batch for them once they are due (audit_is_due) and the disk is not
 * full, and is_final (the node stops) signs a last checkpoint. Returns 0 or -1. */
static int commit_round(struct node *n, bool is_final)
{
    bool ok = true;

    /* While the disk is full only the timer tries to commit (on_full_timer):
     * the log's entries wait in memory meanwhile. */
    if (!store_in_batch(n->store) && (is_final || (!n->is_full && audit_is_due(n->audit))) &&
        n->audit != NULL)
        (void)store_begin(n->store);
    if (store_in_batch(n->store)) {
        struct timespec start;
        clock_gettime(CLOCK_MONOTONIC, &start);
        route_seal_answers(n->route);
        if (n->audit != NULL && audit_flush(n->audit, is_final) != 0) {
            store_rollback(n->store);
            ok = false;
        } else {
            /* Last before the commit, so that what the flush counted (a
             * checkpoint) is written with it, not only marked saved. */
            store_counters_save(n->store, n->stats);
            ok = store_commit(n->store) == 0;
        }
        audit_committed(n->audit, ok);
        stats_observe(n->stats, "commit.seconds", commit_seconds_bounds,
                      sizeof(commit_seconds_bounds) / sizeof(double), elapsed_s(&start));
        stats_observe(n->stats, "commit.envelopes", commit_envelopes_bounds,
                      sizeof(commit_envelopes_bounds) / sizeof(double),
                      (double)route_batch_count(n->route));
        if (!ok) {
            stats_count(n->stats, "commit.failed", 1);
            if (store_is_full(n->store))
                enter_full(n);
            else
                log_warnx("node: commit of %zu envelopes failed; nothing in it is acknowledged",
                          route_batch_count(n->route));
        } else {
            stats_mark_saved(n->stats);
            stats_count(n->stats, "commit.batches", 1);
            if (route_batch_count(n->route) > 0)
                leave_full(n);
        }
    }
    for (size_t i = 0; i < n->n_listeners; i++)
        n->listeners[i].fn(n->listeners[i].arg, ok);
    route_end_round(n->route);
    return ok ? 0 : -1;
}

static int commit(struct node *n)
{
    return commit_round(n, false);
}

/* Wakes the loop so that audit entries of a quiet node (a query, a
 * refusal) reach the store within AUDIT_FLUSH_SECONDS: the round that
 * follows a timer commits them when they are due. */
static int64_t on_audit_timer(void *arg)
{
    (void)arg;
    return AUDIT_FLUSH_SECONDS * 1000;
}

static bool is_in_history(struct node *n, const uint8_t *buf, size_t len);
static void apply_roster(struct node *n);

/* The loop's round hook: everything read in one round commits together. */
static void on_round(void *arg)
{
    struct node *n = arg;

    if (n->is_roster_new)
        apply_roster(n);
    admission_round(n->admission);
    commit(n);
}

/* ---- start, reload, stop ------------------------------------------------ */

/* Counters for a roster refused on reload, by reason (static names, as
 * stats_count wants). */
static const char *const refused_counter[ROSTER_STATUS_COUNT] = {
    [ROSTER_E_SIZE] = "roster.refused.too-large",
    [ROSTER_E_MALFORMED] = "roster.refused.malformed",
    [ROSTER_E_FIELD] = "roster.refused.bad-field",
    [ROSTER_E_COALITION] = "roster.refused.wrong-coalition",
    [ROSTER_E_VERSION] = "roster.refused.bad-version",
    [ROSTER_E_CHAIN] = "roster.refused.broken-chain",
    [ROSTER_E_THRESHOLD] = "roster.refused.below-threshold",
    [ROSTER_E_EXPIRED] = "roster.refused.expired",
    [ROSTER_E_INTERNAL] = "roster.refused.internal",
    [ROSTER_E_ROLLBACK] = "roster.refused.rolled-back",
    [ROSTER_E_FORK] = "roster.refused.forked",
};

/* The counter for a refusal by load_roster; ROSTER_STATUS_COUNT stands for
 * a file that could not be read. */
static const char *refused_counter_name(enum roster_status st)
{
    if ((unsigned)st >= ROSTER_STATUS_COUNT || refused_counter[st] == NULL)
        return "roster.refused.unreadable";
    return refused_counter[st];
}

/* The roster file judged against trusted, the highest roster this node has
 * trusted (roster_verify_update). On success returns the roster and leaves
 * the file's bytes in *buf and *len (the caller's to free), so that they can
 * be kept in the store. On refusal returns NULL with *stp set (to
 * ROSTER_STATUS_COUNT when the file cannot be read) and one line saying why
 * logged. */
static struct roster *load_roster(struct node *n, const struct roster *trusted,
                                  enum roster_status *stp, uint8_t **buf, size_t *len)
{
    const struct config *cfg = n->cfg;
    struct roster *r = NULL;
    char why[NODE_WHY_MAX];

    *stp = ROSTER_STATUS_COUNT;
    if (util_read_file(cfg->roster, ROSTER_MAX_SIZE, buf, len) == -1) {
        log_warn("roster %s", cfg->roster);
        return NULL;
    }
    *stp =
        roster_verify_update(*buf, *len, cfg->coalition, now_unix(), trusted, &r, why, sizeof(why));
    /* The file is the bootstrap: updates since came over the bus. A file
     * this node trusted before is no rollback, it is just older than the
     * roster kept, which the node runs (expiry checked as for a file). */
    if (*stp == ROSTER_E_ROLLBACK && is_in_history(n, *buf, *len)) {
        free(*buf);
        *buf = NULL;
        if (store_roster_get(n->store, buf, len) != 1) {
            *stp = ROSTER_STATUS_COUNT;
            return NULL;
        }
        log_info("roster %s is older than version %llu, which this node trusted since: running "
                 "version %llu",
                 cfg->roster, (unsigned long long)roster_version(trusted),
                 (unsigned long long)roster_version(trusted));
        *stp = roster_verify_update(*buf, *len, cfg->coalition, now_unix(), trusted, &r, why,
                                    sizeof(why));
    }
    if (*stp != ROSTER_OK) {
        log_warnx("roster %s refused: %s: %s", cfg->roster, roster_status_name(*stp), why);
        free(*buf);
        *buf = NULL;
        return NULL;
    }
    return r;
}

/* Records r, read from buf, as the roster this node trusts unless it is
 * already. Returns 0 or -1 (logged by the store). */
static int keep_roster(struct node *n, const struct roster *r, const uint8_t *buf, size_t len)
{
    if (n->trusted_version == roster_version(r) && n->trusted_version != 0)
        return 0;
    if (store_roster_put(n->store, buf, len, roster_version(r), roster_hash(r)) == -1)
        return -1;
    n->trusted_version = roster_version(r);
    note(n, AUDIT_ROSTER, true, roster_version(r), "in force");
    return 0;
}

/* The roster this node trusted before, from its store: NULL in *out when
 * there is none yet. Returns 0, or -1 when the store cannot be read or
 * holds a roster that no longer verifies (logged). */
static int trusted_roster(struct node *n, struct roster **out)
{
    uint8_t *buf;
    size_t len;
    int rc;

    *out = NULL;
    if ((rc = store_roster_get(n->store, &buf, &len)) <= 0)
        return rc;
    if (roster_verify_trusted(buf, len, n->cfg->coalition, out) != ROSTER_OK) {
        log_warnx("the roster kept in %s as trusted does not verify for coalition %s",
                  n->cfg->data_dir, n->cfg->coalition);
        rc = -1;
    } else {
        n->trusted_version = roster_version(*out);
    }
    free(buf);
    return rc;
}

/* The generation of ks (may be NULL) in our entry m. */
static enum roster_generation generation(const struct roster_member *m, const struct keyset *ks)
{
    return ks != NULL ? roster_generation_of(m, ks) : ROSTER_GEN_NONE;
}

/* Records the heads of our own logs as what generation key_id signed,
 * once: in the open batch, or in a batch of its own at start. */
static void record_switch(struct node *n, uint32_t key_id)
{
    bool is_own_batch = !store_in_batch(n->store);
    int rc;

    if (is_own_batch && store_begin(n->store) == -1)
        return;
    rc = store_rotation_record(n->store, n->cfg->member, key_id);
    if (is_own_batch && rc == -1)
        store_rollback(n->store);
    else if (is_own_batch && store_commit(n->store) == -1)
        rc = -1;
    if (rc == 1)
        log_info("key rotation: the heads of member %s's logs are recorded as what key "
                 "generation %u signed (tmbus status shows them for the roster that retires it)",
                 n->cfg->member, key_id);
    else if (rc == -1)
        log_warnx("key rotation: the heads of generation %u could not be recorded; its last seqs "
                  "are logged at the node's next stop",
                  key_id);
}

/* The key set for the links: the oldest ACTIVE generation this node
 * holds, which its peers dial (settle_keys). */
static const struct keyset *transport_keys(const struct node *n)
{
    struct roster_member m;

    if (roster_find(n->roster, n->cfg->member, &m) == 0 &&
        generation(&m, n->keys) == ROSTER_GEN_NEXT) {
        if (generation(&m, n->spare) == ROSTER_GEN_CURRENT)
            return n->spare;
        if (generation(&m, n->previous) == ROSTER_GEN_CURRENT)
            return n->previous;
    }
    return n->keys;
}

/*
 * Puts in force the generations the roster in force asks for (PROTOCOL.md
 * 3.4): the node signs and seals with the newest ACTIVE generation it
 * holds of keys and next_keys, and its links use the oldest ACTIVE one it
 * holds of those and previous_keys, which is the one its peers dial. The
 * first time it signs with a newer generation while an older one is still
 * ACTIVE, the heads of its logs are recorded as the older one's
 * signed_up_to. Returns 0, or -1 when the roster lists no generation it
 * holds as ACTIVE (logged).
 */
static int settle_keys(struct node *n)
{
    struct roster_member m;
    enum roster_generation in_force, spare;

    if (roster_find(n->roster, n->cfg->member, &m) == -1) {
        log_warnx("member %s is not in the roster", n->cfg->member);
        return -1;
    }
    in_force = generation(&m, n->keys);
    spare = generation(&m, n->spare);
    if (spare > in_force) {
        if (in_force == ROSTER_GEN_CURRENT)
            record_switch(n, m.key_id);
        keys_swap(n->keys, n->spare);
        in_force = spare;
        stats_count(n->stats, "keys.switched", 1);
        log_info("key rotation: member %s signs with key generation %u (next_keys = %s) from now "
                 "on",
                 n->cfg->member, in_force == ROSTER_GEN_NEXT ? m.next_key_id : m.key_id,
                 n->cfg->next_keys);
    }
    if (in_force == ROSTER_GEN_NONE) {
        log_warnx("the keys in %s%s%s are not member %s's active keys in roster version %llu",
                  n->cfg->keys, n->spare != NULL ? " and " : "",
                  n->spare != NULL ? n->cfg->next_keys : "", n->cfg->member,
                  (unsigned long long)roster_version(n->roster));
        return -1;
    }
    /* Also at a start signing with the newer generation: a no-op when
     * this node switched before. */
    if (in_force == ROSTER_GEN_NEXT)
        record_switch(n, m.key_id);
    if (n->peers != NULL)
        peers_set_transport(n->peers, transport_keys(n));
    return 0;
}

/* Loads the optional key file path of our member into *out, for a
 * rotation. Returns 0 (nothing to do for NULL) or -1 (logged). */
static int load_other_keys(const struct node *n, const char *name, const char *path,
                           struct keyset **out)
{
    if (path == NULL)
        return 0;
    if ((*out = keys_load(path)) == NULL)
        return -1;
    if ((*out)->kind != KEYS_MEMBER || strcmp((*out)->member, n->cfg->member) != 0) {
        log_warnx("%s: %s is not a member key file of %s", path, name, n->cfg->member);
        keys_free(out);
        return -1;
    }
    return 0;
}

/* Whether the roster in force revoked this node's own member: it no longer
 * lists the member, or lists the node's keys as neither one of its
 * ACTIVE generations nor a RETIRED one (a rotation in progress is no revocation).
 * Tells the api, which ends the clients' sessions and refuses their
 * requests with the reason, or serves them again. */
static void apply_standing(struct node *n)
{
    struct roster_retired_key retired[ROSTER_MAX_KEYS];
    struct roster_member m;
    unsigned long long v = (unsigned long long)roster_version(n->roster);
    char why[API_REVOKED_REASON_MAX];
    size_t n_retired;

    if (roster_find(n->roster, n->cfg->member, &m) == -1) {
        snprintf(why, sizeof(why),
                 "roster version %llu revoked member %s: it is no longer a member", v,
                 n->cfg->member);
        api_set_revoked(n->api, why);
        return;
    }
    if (roster_generation_of(&m, n->keys) != ROSTER_GEN_NONE) {
        api_set_revoked(n->api, NULL);
        return;
    }
    n_retired = roster_retired_keys(n->roster, n->cfg->member, retired, ROSTER_MAX_KEYS);
    for (size_t i = 0; i < n_retired; i++) {
        if (memcmp(retired[i].sign_pk, n->keys->sign_pk, KEYS_PUBLIC_BYTES) == 0) {
            api_set_revoked(n->api, NULL);
            return;
        }
    }
    snprintf(why, sizeof(why), "roster version %llu revoked member %s's key that this node holds",
             v, n->cfg->member);
    api_set_revoked(n->api, why);
}

/* A reload that adds next_keys: loaded once, never dropped while the node
 * runs (it may hold the generation in force by then). */
static void reload_next_keys(struct node *n)
{
    if (n->spare != NULL || n->cfg->next_keys == NULL)
        return;
    if (load_other_keys(n, "next_keys", n->cfg->next_keys, &n->spare) == -1 ||
        envelope_keyring_add(n->keyring, n->spare) == -1) {
        keys_free(&n->spare);
        log_warnx("reload: next_keys = %s not taken", n->cfg->next_keys);
        return;
    }
    audit_add_own_key(n->audit, n->spare->sign_pk);
    log_info("next_keys = %s loaded: taken in force once the roster lists them as member %s's "
             "newer active generation",
             n->cfg->next_keys, n->cfg->member);
}

/* ZAP: peers are roster members (never ourselves), clients are listed in
 * the configuration. This admits a handshake only; peer and api check each
 * message's key again against what is in force when it arrives. */
static int zap_check(void *arg, const char *domain, const uint8_t *pk)
{
    struct node *n = arg;

    if (strcmp(domain, "peer") == 0) {
        struct roster_member m;
        if (roster_find_by_transport(n->roster, pk, &m) == -1 ||
            strcmp(m.id, n->cfg->member) == 0) {
            stats_count(n->stats, "zap.denied.peer", 1);
            return -1;
        }
        return 0;
    }
    if (strcmp(domain, "client") == 0) {
        if (config_find_client(n->cfg, pk) == NULL) {
            stats_count(n->stats, "zap.denied.client", 1);
            return -1;
        }
        return 0;
    }
    stats_count(n->stats, "zap.denied.domain", 1);
    return -1;
}

/* ---- roster expiry -------------------------------------------------------- */

static enum expiry_stage expiry_stage_at(int64_t expires_at, int64_t now)
{
    if (now >= expires_at)
        return EXPIRY_PAST;
    if (expires_at - now <= EXPIRY_DAY_S)
        return EXPIRY_DAY;
    if (expires_at - now <= EXPIRY_WEEK_S)
        return EXPIRY_WEEK;
    return EXPIRY_FAR;
}

/* Logs and counts the stage the roster in force has reached, once per
 * stage; at expiry the route stops taking anything new. A roster loaded
 * with days to spare skips the week's warning for the day's. */
static void check_expiry(struct node *n)
{
    int64_t at = roster_expires_at(n->roster), now = now_unix();
    enum expiry_stage stage = expiry_stage_at(at, now);
    unsigned long long version = roster_version(n->roster);
    char when[32];

    if (stage <= n->expiry)
        return;
    n->expiry = stage;
    util_format_utc(at, when, sizeof(when));
    switch (stage) {
    case EXPIRY_WEEK:
    case EXPIRY_DAY:
        stats_count(n->stats,
                    stage == EXPIRY_WEEK ? "roster.expires-within-7d" : "roster.expires-within-1d",
                    1);
        log_warnx("roster version %llu expires at %s, in %lld hours: load a fresh roster "
                  "(SIGHUP) before then",
                  version, when, (long long)((at - now) / 3600));
        break;
    case EXPIRY_PAST:
        stats_count(n->stats, "roster.expired", 1);
        route_set_roster_expired(n->route, true);
        log_warnx("roster version %llu expired at %s: refusing posts and envelopes from peers "
                  "until a fresh roster is loaded (SIGHUP); reads are still served",
                  version, when);
        break;
    case EXPIRY_FAR:
        break;
    }
}

/* Sleeps until the next stage (at most EXPIRY_CHECK_MS, so that a clock
 * set forward is noticed within a minute). */
static int64_t on_expiry_timer(void *arg)
{
    struct node *n = arg;
    int64_t at = roster_expires_at(n->roster), now = now_unix(), next;

    check_expiry(n);
    switch (n->expiry) {
    case EXPIRY_FAR:
        next = at - EXPIRY_WEEK_S;
        break;
    case EXPIRY_WEEK:
        next = at - EXPIRY_DAY_S;
        break;
    case EXPIRY_DAY:
        next = at;
        break;
    default:
        return EXPIRY_CHECK_MS;
    }
    if (next - now >= EXPIRY_CHECK_MS / 1000)
        return EXPIRY_CHECK_MS;
    return next <= now ? EXPIRY_MIN_MS : (next - now) * 1000;
}

/* A new roster is in force: its expiry is judged afresh, and what peers
 * sent while the old one had expired is asked for again. */
static void renew_expiry(struct node *n)
{
    if (n->expiry == EXPIRY_PAST) {
        route_set_roster_expired(n->route, false);
        peers_resync(n->peers);
        log_info("roster renewed: taking posts and envelopes from peers again");
    }
    n->expiry = EXPIRY_FAR;
    check_expiry(n);
}

static void reload(struct node *n)
{
    char err[CONFIG_ERR_MAX];
    struct config *cfg;
    struct roster *r;
    enum roster_status st;
    uint8_t *buf = NULL;
    size_t len = 0;

    log_info("reloading configuration and roster");
    if ((cfg = config_load(n->cfg->path, err, sizeof(err))) == NULL) {
        stats_count(n->stats, "config.refused", 1);
        log_warnx("reload refused, keeping the running configuration: %s", err);
        note(n, AUDIT_RELOAD, false, 0, err);
        return;
    }
    if (!config_reload_allowed(n->cfg, cfg, err, sizeof(err))) {
        stats_count(n->stats, "config.refused", 1);
        log_warnx("reload refused, keeping the running configuration: %s", err);
        note(n, AUDIT_RELOAD, false, 0, err);
        config_free(&cfg);
        return;
    }
    config_free(&n->cfg);
    n->cfg = cfg;
    log_init("tmbusd", n->cfg->log_level);
    note(n, AUDIT_RELOAD, true, 0, "configuration applied");

    /* The running roster is the one the store keeps as trusted: a file
     * must be it again or its direct successor. */
    if ((r = load_roster(n, n->roster, &st, &buf, &len)) == NULL) {
        stats_count(n->stats, refused_counter_name(st), 1);
        note(n, AUDIT_ROSTER, false, 0, roster_status_name(st));
        log_warnx("reload: keeping roster version %llu",
                  (unsigned long long)roster_version(n->roster));
    } else if (memcmp(roster_hash(r), roster_hash(n->roster), ENVELOPE_HASH_BYTES) == 0) {
        roster_free(&r);
    } else if (keep_roster(n, r, buf, len) == -1) {
        roster_free(&r);
        stats_count(n->stats, "roster.refused.store", 1);
        log_warnx("reload: roster version %llu could not be recorded; keeping version %llu",
                  (unsigned long long)roster_version(r),
                  (unsigned long long)roster_version(n->roster));
    } else {
        roster_free(&n->roster);
        n->roster = r;
        stats_count(n->stats, "roster.updated", 1);
        log_info("roster version %llu in force", (unsigned long long)roster_version(r));
        renew_expiry(n);
    }
    free(buf);
    route_set_roster(n->route, n->roster);
    api_reload(n->api, n->cfg);
    reload_next_keys(n);
    peers_reload(n->peers, n->cfg);
    (void)settle_keys(n);
    apply_standing(n);
    http_reload(n->http, n->cfg);
}

/* ---- the governance log ------------------------------------------------- */

/* Finds a version's hash in the history (store_each_roster). */
struct history_find {
    uint64_t version;
    const uint8_t *hash;
    bool is_found;
};

static int find_in_history(void *arg, const struct store_roster_entry *e)
{
    struct history_find *h = arg;

    if (e->version != h->version)
        return 0;
    h->is_found = memcmp(e->hash, h->hash, ENVELOPE_HASH_BYTES) == 0;
    return 1;
}

/* Whether buf is a roster this node trusted at some time (an older link of
 * its governance log): checked as trusted (signatures, threshold) and
 * found with the same hash in the store's history. */
static bool is_in_history(struct node *n, const uint8_t *buf, size_t len)
{
    struct roster *r = NULL;
    struct history_find h = {0};

    if (roster_verify_trusted(buf, len, n->cfg->coalition, &r) != ROSTER_OK)
        return false;
    h.version = roster_version(r);
    h.hash = roster_hash(r);
    (void)store_each_roster(n->store, find_in_history, &h);
    roster_free(&r);
    return h.is_found;
}

/* Puts a roster that came over the bus or from a client in force for the
 * links and the client sessions, as a SIGHUP does for a file: links of
 * members that left or whose transport key changed (rotated, revoked)
 * close at once, and every connection to our peer socket authenticates
 * again. Runs at the end of a round, outside any socket callback. */
static void apply_roster(struct node *n)
{
    n->is_roster_new = false;
    api_reload(n->api, n->cfg);
    peers_reload(n->peers, n->cfg);
    if (settle_keys(n) == -1)
        log_warnx("roster version %llu no longer lists this node's keys as active: its peers "
                  "will refuse its links until its keys match the roster",
                  (unsigned long long)roster_version(n->roster));
    apply_standing(n);
}

/*
 * Judges a roster update from a peer (from is its member id) or a client
 * (from is NULL) against the roster in force, as roster_verify_update
 * does: only the direct successor is taken. A taken roster is kept in the
 * open batch (its commit makes it durable before any peer is sent it),
 * put in force for the route at once, and for links and sessions at the
 * round's end. A roster this node trusted before is HELD from a peer
 * (another peer forwarded it first) and refused from a client (a client
 * asks for a change; an old roster is none). *version is the roster's
 * version when it could be read. why gets a one-line reason.
 */
static enum peers_roster_outcome offer_roster(struct node *n, const char *from, const uint8_t *buf,
                                              size_t len, uint64_t *version, char *why,
                                              size_t why_size)
{
    struct roster *r = NULL;
    enum roster_status st;
    char who[UTIL_MEMBER_ID_MAX + 16];

    *version = 0;
    snprintf(who, sizeof(who), "%s%s", from != NULL ? "from peer " : "published by a client",
             from != NULL ? from : "");
    st =
        roster_verify_update(buf, len, n->cfg->coalition, now_unix(), n->roster, &r, why, why_size);
    if (st == ROSTER_OK &&
        memcmp(roster_hash(r), roster_hash(n->roster), ENVELOPE_HASH_BYTES) == 0) {
        *version = roster_version(r);
        roster_free(&r);
        snprintf(why, why_size, "version %llu is in force already", (unsigned long long)*version);
        return PEERS_ROSTER_HELD;
    }
    if (st == ROSTER_OK) {
        if (!store_in_batch(n->store) && store_begin(n->store) == -1) {
            roster_free(&r);
            snprintf(why, why_size, "the store cannot take it");
            return PEERS_ROSTER_REFUSED;
        }
        if (keep_roster(n, r, buf, len) == -1) {
            stats_count(n->stats, "roster.refused.store", 1);
            log_warnx("roster version %llu %s could not be recorded; keeping version %llu",
                      (unsigned long long)roster_version(r), who,
                      (unsigned long long)roster_version(n->roster));
            roster_free(&r);
            snprintf(why, why_size, "the store cannot take it");
            return PEERS_ROSTER_REFUSED;
        }
        *version = roster_version(r);
        roster_free(&n->roster);
        n->roster = r;
        route_set_roster(n->route, n->roster);
        n->is_roster_new = true;
        stats_count(n->stats, "roster.updated", 1);
        stats_count(n->stats, from != NULL ? "roster.received" : "roster.published", 1);
        log_info("roster version %llu in force (%s)", (unsigned long long)*version, who);
        renew_expiry(n);
        return PEERS_ROSTER_TAKEN;
    }
    /* Two peers forward the same update in one round; a lagging one offers
     * what we hold: neither is a fault. */
    if (from != NULL && st == ROSTER_E_ROLLBACK && is_in_history(n, buf, len))
        return PEERS_ROSTER_HELD;
    if (from != NULL && st == ROSTER_E_VERSION) {
        log_debug("roster %s is ahead of version %llu + 1: %s", who,
                  (unsigned long long)roster_version(n->roster), why);
        return PEERS_ROSTER_AHEAD;
    }
    stats_count(n->stats, refused_counter_name(st), 1);
    note(n, AUDIT_ROSTER, false, 0, roster_status_name(st));
    log_warnx("roster update %s refused: %s: %s; keeping version %llu", who, roster_status_name(st),
              why, (unsigned long long)roster_version(n->roster));
    {
        char detail[NODE_WHY_MAX];
        snprintf(detail, sizeof(detail), "%s: %s", roster_status_name(st), why);
        snprintf(why, why_size, "%s", detail);
    }
    return PEERS_ROSTER_REFUSED;
}

/* peers_roster_fn: a roster a peer sent. */
static enum peers_roster_outcome on_peer_roster(void *arg, const char *from, const uint8_t *buf,
                                                size_t len, uint64_t *version)
{
    char why[NODE_WHY_MAX];

    return offer_roster(arg, from, buf, len, version, why, sizeof(why));
}

/* api_roster_fn: a roster an admin client published. Publishing the
 * roster in force again is no error (a secretariat may publish through
 * several nodes): it is answered like the first time. */
static int on_client_roster(void *arg, const uint8_t *buf, size_t len, char *why, size_t why_size)
{
    uint64_t version;

    switch (offer_roster(arg, NULL, buf, len, &version, why, why_size)) {
    case PEERS_ROSTER_TAKEN:
    case PEERS_ROSTER_HELD:
        return 0;
    default:
        return -1;
    }
}

/* ---- systemd ------------------------------------------------------------ */

/* Tells systemd (through $NOTIFY_SOCKET; a no-op without it) what the
 * node is doing: head, "READY=1" or "RELOADING=1" or "", followed by one
 * STATUS= line an operator sees in `systemctl status`. */
static void notify(struct node *n, const char *head)
{
    struct peer_status *ps = calloc(ROSTER_MAX_MEMBERS, sizeof(*ps));
    size_t n_peers = 0, n_up = 0;
    char msg[NOTIFY_MAX];

    if (ps != NULL && n->peers != NULL)
        n_peers = peers_status(n->peers, ps, ROSTER_MAX_MEMBERS);
    for (size_t i = 0; i < n_peers; i++)
        n_up += strcmp(ps[i].state, "up") == 0;
    free(ps);
    snprintf(msg, sizeof(msg),
             "%s%sSTATUS=member %s, roster version %llu%s, %zu of %zu peer links up", head,
             *head != '\0' ? "\n" : "", n->cfg->member,
             (unsigned long long)roster_version(n->roster),
             n->expiry == EXPIRY_PAST ? " (expired)" : "", n_up, n_peers);
    (void)sd_notify(0, msg);
}

/* The watchdog and the status line are renewed from the loop, so that a
 * loop that hangs stops the pings and systemd restarts the node. */
static int64_t on_notify_timer(void *arg)
{
    struct node *n = arg;
    uint64_t usec = 0;

    notify(n, n->is_watchdog ? "WATCHDOG=1" : "");
    if (n->is_watchdog && sd_watchdog_enabled(0, &usec) > 0 && usec / 2000 < NOTIFY_STATUS_MS)
        return usec / 2000 > 0 ? (int64_t)(usec / 2000) : 1;
    return NOTIFY_STATUS_MS;
}

static void on_signal(void *arg)
{
    struct node *n = arg;
    struct signalfd_siginfo si;
    struct timespec ts;
    char head[64];

    while (read(n->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGHUP) {
            /* MONOTONIC_USEC lets systemd match this reload to the
             * request (Type=notify-reload needs it; Type=notify takes it). */
            clock_gettime(CLOCK_MONOTONIC, &ts);
            snprintf(head, sizeof(head), "RELOADING=1\nMONOTONIC_USEC=%llu",
                     (unsigned long long)ts.tv_sec * 1000000ULL +
                         (unsigned long long)ts.tv_nsec / 1000ULL);
            (void)sd_notify(0, head);
            reload(n);
            notify(n, "READY=1");
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

/* The route, then peers and api over it, each handed only what it uses.
 * Peers hear of a commit before the api, as they always have. */
static int start_parts(struct node *n)
{
    struct route_parts rp = {n->cfg->member, n->cfg->coalition, n->store,
                             n->keyring,     n->roster,         n->stats};
    struct peers_parts pp = {n->cfg, transport_keys(n), n->zctx, n->loop, n->store, NULL, n->stats};
    /* The client socket keeps the key of the file in keys until a restart
     * (a switch at start has swapped it into spare). */
    const struct keyset *api_keys =
        n->spare != NULL &&
                memcmp(n->spare->transport_pk, n->boot_transport_pk, KEYS_PUBLIC_BYTES) == 0
            ? n->spare
            : n->keys;
    struct api_parts ap = {n->cfg, api_keys, n->zctx, n->loop, n->store, NULL, n->stats, NULL};

    rp.audit = ap.audit = n->audit;
    pp.on_roster = on_peer_roster;
    pp.roster_arg = n;
    ap.on_roster = on_client_roster;
    ap.roster_arg = n;
    if ((n->route = route_new(&rp)) == NULL)
        return -1;
    pp.route = ap.route = n->route;
    pp.audit = n->audit;
    if ((n->peers = peers_new(&pp)) == NULL)
        return -1;
    ap.peers = n->peers;
    if ((n->api = api_new(&ap)) == NULL)
        return -1;
    peers_set_waiting(n->peers, api_is_waiting, n->api);
    {
        struct admission_parts dp = {n->cfg->member, n->store, n->route, n->stats, n->loop};
        if ((n->admission = admission_new(&dp)) == NULL)
            return -1;
    }
    if (node_listen(n, peers_after_commit, n->peers) == -1 ||
        node_listen(n, api_after_commit, n->api) == -1)
        return -1;
    if (n->cfg->http_listen[0] != '\0') {
        struct http_parts hp = {n->cfg, n->loop, n->store, n->route, n->peers, n->api, n->stats};
        if ((n->http = http_new(&hp)) == NULL || node_listen(n, http_after_commit, n->http) == -1)
            return -1;
    }
    if (retention_is_on(n->cfg)) {
        struct retention_parts tp = {n->cfg, n->loop, n->store, n->stats};
        if ((n->retention = retention_new(&tp)) == NULL)
            return -1;
    }
    return 0;
}

/* Opens the store with the store key of the member's keys and, after a
 * rotation, of the key file they replaced (previous_keys), which the store
 * needs once to wrap its data key anew. */
struct store *node_open_store(const struct config *cfg, const struct keyset *keys)
{
    struct keyset *previous = NULL;
    uint8_t *key = NULL, *previous_key = NULL;
    struct store *s = NULL;

    if (cfg->previous_keys != NULL) {
        if ((previous = keys_load(cfg->previous_keys)) == NULL)
            return NULL;
        if (previous->kind != KEYS_MEMBER || strcmp(previous->member, cfg->member) != 0) {
            log_warnx("%s: previous_keys is not a member key file of %s", cfg->previous_keys,
                      cfg->member);
            goto out;
        }
        if ((previous_key = keys_derive_store_key(previous)) == NULL)
            goto out;
    }
    if ((key = keys_derive_store_key(keys)) == NULL)
        goto out;
    s = store_open_rotated(cfg->data_dir, key, previous_key);
out:
    keys_store_key_free(&key);
    keys_store_key_free(&previous_key);
    keys_free(&previous);
    return s;
}

struct node *node_new(struct config *cfg, bool *is_config_error)
{
    struct node *n = calloc(1, sizeof(*n));
    struct roster *trusted = NULL;
    enum roster_status st;
    uint8_t *buf = NULL;
    size_t len = 0;

    *is_config_error = false;
    if (n == NULL) {
        config_free(&cfg);
        return NULL;
    }
    n->cfg = cfg;
    n->signal_fd = -1;
    if ((n->stats = stats_new()) == NULL)
        goto fail;
    /* A key file that is missing, another's or open to group or others is
     * the operator's to fix, as `tmbusd -n` says: exit CONFIG_EX_CONFIG. */
    if ((n->keys = keys_load(cfg->keys)) == NULL) {
        *is_config_error = true;
        goto fail;
    }
    if (n->keys->kind != KEYS_MEMBER || strcmp(n->keys->member, cfg->member) != 0) {
        log_warnx("%s: not the member key file of %s", cfg->keys, cfg->member);
        *is_config_error = true;
        goto fail;
    }
    /* The store before the roster: it keeps the roster this node trusts,
     * and the file must be that roster or its successor. */
    if ((n->store = node_open_store(cfg, n->keys)) == NULL || board_upgrade(n->store) != 0 ||
        (n->audit = audit_new(n->store, n->keys, cfg->member, n->stats)) == NULL)
        goto fail;
    if (store_counters_restore(n->store, n->stats) != 0)
        goto fail;
    if (trusted_roster(n, &trusted) == -1) {
        *is_config_error = true;
        goto fail;
    }
    n->roster = load_roster(n, trusted, &st, &buf, &len);
    roster_free(&trusted);
    if (n->roster == NULL) {
        *is_config_error = true;
        goto fail;
    }
    if (keep_roster(n, n->roster, buf, len) == -1)
        goto fail;
    free(buf);
    buf = NULL;
    if (load_other_keys(n, "next_keys", cfg->next_keys, &n->spare) == -1 ||
        load_other_keys(n, "previous_keys", cfg->previous_keys, &n->previous) == -1) {
        *is_config_error = true;
        goto fail;
    }
    if (n->spare != NULL)
        audit_add_own_key(n->audit, n->spare->sign_pk);
    if (n->previous != NULL)
        audit_add_own_key(n->audit, n->previous->sign_pk);
    memcpy(n->boot_transport_pk, n->keys->transport_pk, KEYS_PUBLIC_BYTES);
    if (settle_keys(n) == -1)
        goto fail;
    if ((n->keyring = envelope_keyring_new(n->keys)) == NULL ||
        (n->spare != NULL && envelope_keyring_add(n->keyring, n->spare) == -1) ||
        (n->previous != NULL && envelope_keyring_add(n->keyring, n->previous) == -1))
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
    if (start_parts(n) == -1)
        goto fail;
    loop_set_round_hook(n->loop, on_round, n);
    /* The first check runs now, before the loop: a roster that expires
     * within a day is warned about at start. */
    check_expiry(n);
    if (loop_add_timer(n->loop, on_expiry_timer(n), on_expiry_timer, n) == 0 ||
        loop_add_timer(n->loop, AUDIT_FLUSH_SECONDS * 1000, on_audit_timer, n) == 0)
        goto fail;
    log_info("member %s running: roster version %llu, %zu members", cfg->member,
             (unsigned long long)roster_version(n->roster), roster_member_count(n->roster));
    return n;
fail:
    free(buf);
    node_free(&n);
    return NULL;
}

/* Logs the head of each of this member's own logs: what a key rotation
 * records as the retired key's signed_up_to (roster last_seq). */
static int log_own_head(void *arg, const struct store_log *log, const struct store_head *head)
{
    const struct node *n = arg;

    if (strcmp(log->origin, n->cfg->member) == 0)
        log_info("own log %s: last seq %llu", log->peer[0] != '\0' ? log->peer : "*",
                 (unsigned long long)head->seq);
    return 0;
}

void node_free(struct node **np)
{
    struct node *n;

    if (np == NULL || (n = *np) == NULL)
        return;
    if (n->store != NULL && n->route != NULL && n->peers != NULL && n->api != NULL) {
        commit_round(n, true);
        /* What was counted since the last commit, in a batch of its own:
         * one more commit, at a clean stop only. */
        if (store_begin(n->store) == 0) {
            store_counters_save(n->store, n->stats);
            if (store_commit(n->store) == 0)
                stats_mark_saved(n->stats);
        }
        (void)store_each_log(n->store, log_own_head, n);
    }
    retention_free(&n->retention);
    http_free(&n->http);
    api_free(&n->api);
    admission_free(&n->admission);
    peers_free(&n->peers);
    route_free(&n->route);
    zap_free(&n->zap);
    if (n->zctx != NULL)
        zmq_ctx_term(n->zctx);
    if (n->signal_fd != -1)
        close(n->signal_fd);
    loop_free(&n->loop);
    audit_free(&n->audit);
    store_close(&n->store);
    envelope_keyring_free(&n->keyring);
    roster_free(&n->roster);
    keys_free(&n->keys);
    keys_free(&n->spare);
    keys_free(&n->previous);
    config_free(&n->cfg);
    stats_free(&n->stats);
    free(n);
    *np = NULL;
}

int node_run(struct node *n)
{
    uint64_t usec = 0;
    int rc;

    /* Unset NOTIFY_SOCKET means no systemd listening: no timer either. */
    n->is_watchdog = sd_watchdog_enabled(0, &usec) > 0;
    if (getenv("NOTIFY_SOCKET") != NULL &&
        loop_add_timer(n->loop, n->is_watchdog ? 0 : NOTIFY_STATUS_MS, on_notify_timer, n) == 0)
        return -1;
    if (n->is_watchdog)
        log_info("systemd watchdog: pinging every %llu ms",
                 (unsigned long long)(usec / 2000 > 0 ? usec / 2000 : 1));
    notify(n, "READY=1");
    rc = loop_run(n->loop);
    (void)sd_notify(0, "STOPPING=1\nSTATUS=stopping");
    return rc;
}
