/*
 * admission: shares this member's open needs with members admitted after
 * they were posted (proto/PROTOCOL.md 6.7). Once a round, before the
 * commit, it notes the members of each roster put in force (the admissions
 * table) and posts, for each member admitted since, one NeedShare per open
 * need of this member that was addressed to every member, a bounded number
 * per round, through route_post into the open batch. It never shares a
 * TLP:RED need, never posts while the route takes no posts, and never
 * touches a socket.
 */
#ifndef TMBUS_ADMISSION_H
#define TMBUS_ADMISSION_H

#include "loop.h"
#include "route.h"
#include "stats.h"
#include "store.h"

/* Needs looked at per loop round, shared or not: bounds a round's extra
 * work (one seal each) whatever the board holds. While some are owed, a
 * timer wakes the loop every ADMISSION_BUSY_MS so that an idle node shares
 * too, and a busy one serves its clients between two rounds of shares. */
#define ADMISSION_ROUND_MAX 64
#define ADMISSION_BUSY_MS   10

struct admission;

/* What an admission works on, borrowed for its life. */
struct admission_parts {
    const char *member; /* this node's member id; copied */
    struct store *store;
    struct route *route; /* the roster in force, and route_post */
    struct stats *stats;
    struct loop *loop; /* wakes the loop while shares are owed */
};

/* An admission over parts, with its timer on parts->loop, or NULL when out
 * of memory (logged). */
struct admission *admission_new(const struct admission_parts *parts);

/* Removes its timer, frees a and clears *ap. Accepts NULL. */
void admission_free(struct admission **ap);

/*
 * One round's share of the work, inside the open batch (opened when there
 * is work): notes the members of a roster version it has not noted yet,
 * then shares up to ADMISSION_ROUND_MAX needs with the first member still
 * owed them. What it posts commits with the round; a failed post ends the
 * round's work (logged once) and is retried a few seconds later. Never
 * blocks beyond the store. Counts "admission.shared" per share and
 * "admission.admitted" per member admitted.
 */
void admission_round(struct admission *a);

#endif
