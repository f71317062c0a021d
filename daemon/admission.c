/*
 * admission: the owner's side of sharing open needs with a newly admitted
 * member (proto/PROTOCOL.md 6.7). It decides which needs are owed to whom
 * from what the store already keeps (the board's needs, the recipients of
 * this member's posts, when each member was first seen in a roster) and
 * encodes each share as a NeedShare payload, sealed by route_post like any
 * post of this member. It never shares a TLP:RED need, nor one that was
 * not addressed to every member, and never logs a need's text.
 */
#include "admission.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "board.h"
#include "log.h"
#include "message.h"
#include "payload.pb-c.h"

/* After a refused post (the roster expired, the disk is full) the work
 * waits this long before it tries again, instead of every round. */
#define ADMISSION_RETRY_MS 5000
#define ADMISSION_IDLE_MS  1000 /* the timer's period while nothing is owed */

struct admission {
    char member[UTIL_MEMBER_ID_MAX + 1];
    struct store *store;
    struct route *route;
    struct stats *stats;
    struct loop *loop;
    uint64_t timer;
    uint64_t noted_version; /* the roster version last noted; 0: none yet */
    bool is_idle;           /* nothing owed: no store read until another roster */
    int64_t retry_at_ms;    /* monotonic; 0: no wait */
    bool has_said_wait;     /* a refused post was logged; quiet until one passes */
};

/* Every row of the admissions table, read once per round with work. */
struct admitted {
    struct store_admission *rows;
    size_t n, cap;
};

static int64_t monotonic_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The round that follows a wake-up does the work (admission_round). */
static int64_t on_timer(void *arg)
{
    const struct admission *a = arg;

    return a->is_idle ? ADMISSION_IDLE_MS : ADMISSION_BUSY_MS;
}

struct admission *admission_new(const struct admission_parts *parts)
{
    struct admission *a = calloc(1, sizeof(*a));

    if (a == NULL) {
        log_warn("admission: calloc");
        return NULL;
    }
    snprintf(a->member, sizeof(a->member), "%s", parts->member);
    a->store = parts->store;
    a->route = parts->route;
    a->stats = parts->stats;
    a->loop = parts->loop;
    if ((a->timer = loop_add_timer(a->loop, ADMISSION_BUSY_MS, on_timer, a)) == 0) {
        free(a);
        return NULL;
    }
    return a;
}

void admission_free(struct admission **ap)
{
    if (ap == NULL || *ap == NULL)
        return;
    loop_remove_timer((*ap)->loop, (*ap)->timer);
    free(*ap);
    *ap = NULL;
}

/* Records the members of roster r (store_admission_note). */
static int note_roster(struct admission *a, const struct roster *r)
{
    const char *ids[ROSTER_MAX_MEMBERS];
    size_t n = roster_member_count(r), n_new = 0;

    for (size_t i = 0; i < n && i < ROSTER_MAX_MEMBERS; i++) {
        struct roster_member m;
        roster_member_at(r, i, &m);
        ids[i] = m.id;
    }
    if (route_batch(a->route) != 0 ||
        store_admission_note(a->store, ids, n < ROSTER_MAX_MEMBERS ? n : ROSTER_MAX_MEMBERS,
                             (int64_t)time(NULL), &n_new) != 0)
        return -1;
    if (n_new > 0) {
        stats_count(a->stats, "admission.admitted", n_new);
        log_info("admission: %zu member(s) new in roster version %llu: sharing %s's open needs "
                 "with them",
                 n_new, (unsigned long long)roster_version(r), a->member);
    }
    a->noted_version = roster_version(r);
    a->is_idle = false;
    return 0;
}

static int keep_row(void *arg, const struct store_admission *row)
{
    struct admitted *all = arg;

    if (all->n == all->cap) {
        size_t cap = all->cap ? 2 * all->cap : 16;
        struct store_admission *grown = realloc(all->rows, cap * sizeof(*grown));
        if (grown == NULL) {
            log_warn("admission: realloc");
            return -1;
        }
        all->rows = grown;
        all->cap = cap;
    }
    all->rows[all->n++] = *row;
    return 0;
}

static const struct store_admission *find_row(const struct admitted *all, const char *member)
{
    for (size_t i = 0; i < all->n; i++)
        if (strcmp(all->rows[i].member, member) == 0)
            return &all->rows[i];
    return NULL;
}

static bool is_named(const struct store_delivery *d, size_t n, const char *member)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(d[i].member, member) == 0)
            return true;
    return false;
}

/*
 * Whether need was addressed to every member when it was posted and not to
 * to: its recipients (as this node recorded them for its post) name every
 * member of the roster in force, this one and `to` aside, that this node
 * knew before the need's time. A member first seen later, or not at all,
 * was not a member then. Returns 1, 0, or -1 (store).
 */
static int is_owed(struct admission *a, const struct roster *r, const struct admitted *all,
                   const struct store_admission_need *need, const char *to)
{
    struct store_delivery d[ENVELOPE_MAX_RECIPIENTS];
    size_t n = 0;

    if (store_delivery_get(a->store, need->id, d, ENVELOPE_MAX_RECIPIENTS, &n) != 0)
        return -1;
    if (n == 0 || is_named(d, n, to))
        return 0;
    for (size_t i = 0; i < roster_member_count(r); i++) {
        struct roster_member m;
        const struct store_admission *row;

        roster_member_at(r, i, &m);
        if (strcmp(m.id, a->member) == 0 || strcmp(m.id, to) == 0)
            continue;
        row = find_row(all, m.id);
        if (row != NULL && row->admitted_at < need->created_at && !is_named(d, n, m.id))
            return 0;
    }
    return 1;
}

/* Encodes the share of need (as this board holds it) and posts it to `to`
 * alone in this member's relayed log. Returns 1 when posted, 0 when the
 * need is not shareable after all (logged), -1 when the post was refused
 * (*reason says why) or the store failed (*reason stays NULL). */
static int share(struct admission *a, const struct store_admission_need *need, const char *to,
                 const char **reason)
{
    Tmbus__Payload__NeedShare sh = TMBUS__PAYLOAD__NEED_SHARE__INIT;
    Tmbus__Payload__Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT;
    struct route_placed placed[ENVELOPE_MAX_RECIPIENTS];
    struct store_board_need row = {0};
    struct message msg = {0};
    Tmbus__Payload__Need *n = NULL;
    uint8_t *buf = NULL;
    size_t len, n_placed = 0;
    int rc, ret = -1;

    if ((rc = store_board_need_get(a->store, need->id, &row)) <= 0)
        return rc;
    if ((n = tmbus__payload__need__unpack(NULL, row.need_len, row.need)) == NULL) {
        log_warnx("admission: a need of %s no longer decodes; not shared", a->member);
        ret = 0;
        goto out;
    }
    /* The label the board handles it under, which an edit may have raised. */
    if (row.tlp > (uint32_t)n->tlp)
        n->tlp = (Tmbus__Payload__Tlp)row.tlp;
    sh.need_id.data = (uint8_t *)need->id;
    sh.need_id.len = WIRE_ID_BYTES;
    sh.seq = need->seq;
    sh.created_at = need->created_at;
    sh.need = n;
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_SHARE;
    p.need_share = &sh;
    len = tmbus__payload__payload__get_packed_size(&p);
    if ((buf = malloc(len ? len : 1)) == NULL) {
        log_warn("admission: malloc");
        goto out;
    }
    tmbus__payload__payload__pack(&p, buf);
    message_decode(buf, len, &msg);
    if (!message_is_sound(&msg)) {
        log_warnx("admission: a need of %s cannot be shared: %s", a->member, msg.why);
        ret = 0;
        goto out;
    }
    if (route_post(a->route, &msg, &to, 1, false, 0, placed, &n_placed, reason) != 0)
        goto out;
    stats_count(a->stats, "admission.shared", 1);
    ret = 1;
out:
    message_clear(&msg);
    free(buf);
    if (n != NULL)
        tmbus__payload__need__free_unpacked(n, NULL);
    free(row.need);
    return ret;
}

/* Shares up to ADMISSION_ROUND_MAX of this member's needs with the first
 * member still owed them, and records how far it got. */
static void share_some(struct admission *a, const struct roster *r)
{
    struct store_admission_need needs[ADMISSION_ROUND_MAX];
    struct admitted all = {0};
    const struct store_admission *to = NULL;
    struct store_admission_query q = {a->member, BOARD_NEED_OPEN, BOARD_NEED_PARTIALLY_COVERED,
                                      MESSAGE_TLP_AMBER_STRICT, NULL};
    struct roster_member m;
    const char *reason = NULL;
    size_t n = 0, done = 0;
    int rc = 0;

    /* A store that fails is tried again a few seconds later, not every round. */
    a->retry_at_ms = monotonic_ms() + ADMISSION_RETRY_MS;
    if (store_admission_each(a->store, keep_row, &all) != 0)
        goto out;
    for (size_t i = 0; i < all.n && to == NULL; i++)
        if (!all.rows[i].is_done)
            to = &all.rows[i];
    if (to == NULL) {
        a->is_idle = true;
        a->retry_at_ms = 0;
        goto out;
    }
    if (route_batch(a->route) != 0)
        goto out;
    a->retry_at_ms = 0;
    /* Ourselves, or a member that left the roster before its share ended:
     * nothing (more) to share. */
    if (strcmp(to->member, a->member) == 0 || roster_find(r, to->member, &m) != 0) {
        if (store_admission_advance(a->store, to->member, NULL, true) != 0)
            a->retry_at_ms = monotonic_ms() + ADMISSION_RETRY_MS;
        goto out;
    }
    q.after = to->has_after ? to->after : NULL;
    if (store_admission_needs(a->store, &q, ADMISSION_ROUND_MAX, needs, &n) != 0) {
        a->retry_at_ms = monotonic_ms() + ADMISSION_RETRY_MS;
        goto out;
    }
    for (; done < n; done++) {
        if ((rc = is_owed(a, r, &all, &needs[done], to->member)) == 1)
            rc = share(a, &needs[done], to->member, &reason);
        if (rc < 0)
            break;
    }
    if (rc < 0) {
        a->retry_at_ms = monotonic_ms() + ADMISSION_RETRY_MS;
        if (reason != NULL && !a->has_said_wait)
            log_warnx("admission: sharing with %s waits: %s", to->member, reason);
        a->has_said_wait = reason != NULL;
    } else {
        a->has_said_wait = false;
    }
    if ((done > 0 || n < ADMISSION_ROUND_MAX) &&
        store_admission_advance(a->store, to->member, done > 0 ? needs[done - 1].id : NULL,
                                rc >= 0 && n < ADMISSION_ROUND_MAX) != 0) {
        a->retry_at_ms = monotonic_ms() + ADMISSION_RETRY_MS;
        goto out;
    }
    if (rc >= 0 && n < ADMISSION_ROUND_MAX)
        log_info("admission: done sharing %s's open needs with %s", a->member, to->member);
out:
    free(all.rows);
}

void admission_round(struct admission *a)
{
    struct roster *r = route_roster(a->route);

    if (route_is_recovering(a->route))
        return;
    if (roster_version(r) != a->noted_version && note_roster(a, r) != 0)
        return;
    if (a->is_idle || (a->retry_at_ms != 0 && monotonic_ms() < a->retry_at_ms))
        return;
    a->retry_at_ms = 0;
    share_some(a, r);
}
