/*
 * api_roster: the client side of the governance log. An admin client
 * publishes a roster update through this node; any client reads the
 * rosters the node has trusted. The node judges an update (api_parts'
 * on_roster, roster_verify_update underneath); this file only checks the
 * client's role, answers, and never takes a roster on its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "log.h"
#include "stats.h"
#include "store.h"

/* The newest API_ROSTER_HISTORY_MAX of the history, oldest first. */
struct history {
    Tmbus__Api__RosterHistory__Entry *items;
    Tmbus__Api__RosterHistory__Entry **ptrs;
    uint8_t (*hashes)[STORE_HASH_BYTES];
    size_t n, start; /* a ring: n written in all, the oldest at start */
};

static int take_entry(void *arg, const struct store_roster_entry *e)
{
    struct history *h = arg;
    size_t i = h->n % API_ROSTER_HISTORY_MAX;
    Tmbus__Api__RosterHistory__Entry *it = &h->items[i];

    tmbus__api__roster_history__entry__init(it);
    memcpy(h->hashes[i], e->hash, STORE_HASH_BYTES);
    it->version = e->version;
    it->hash.data = h->hashes[i];
    it->hash.len = STORE_HASH_BYTES;
    it->trusted_at = e->trusted_at;
    it->size = e->size;
    h->n++;
    return 0;
}

void api_answer_roster(struct api *a, const uint8_t *rid, size_t rid_len, uint64_t id)
{
    Tmbus__Api__Reply r = TMBUS__API__REPLY__INIT;
    Tmbus__Api__RosterHistory rh = TMBUS__API__ROSTER_HISTORY__INIT;
    struct history h = {0};
    size_t count, first;

    h.items = calloc(API_ROSTER_HISTORY_MAX, sizeof(*h.items));
    h.ptrs = calloc(API_ROSTER_HISTORY_MAX, sizeof(*h.ptrs));
    h.hashes = calloc(API_ROSTER_HISTORY_MAX, sizeof(*h.hashes));
    if (h.items == NULL || h.ptrs == NULL || h.hashes == NULL ||
        store_each_roster(a->store, take_entry, &h) != 0) {
        api_answer_code(a, rid, rid_len, id, TMBUS__API__CODE__CODE_INTERNAL,
                        "the node could not read its roster history");
        goto out;
    }
    count = h.n < API_ROSTER_HISTORY_MAX ? h.n : API_ROSTER_HISTORY_MAX;
    first = h.n < API_ROSTER_HISTORY_MAX ? 0 : h.n % API_ROSTER_HISTORY_MAX;
    for (size_t i = 0; i < count; i++)
        h.ptrs[i] = &h.items[(first + i) % API_ROSTER_HISTORY_MAX];
    rh.entries = h.ptrs;
    rh.n_entries = count;
    r.id = id;
    r.kind_case = TMBUS__API__REPLY__KIND_ROSTER_HISTORY;
    r.roster_history = &rh;
    api_answer(a, rid, rid_len, &r);
out:
    free(h.items);
    free(h.ptrs);
    free(h.hashes);
}

void api_on_roster(struct api *a, const struct request *rq, const Tmbus__Api__RosterRequest *q)
{
    char why[200];

    if (q->publish.len == 0) {
        api_answer_roster(a, rq->rid, rq->rid_len, rq->id);
        return;
    }
    if (rq->client->role != CONFIG_ROLE_ADMIN) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_DENIED, "api.rejected.roster-not-admin",
                   "only an admin client may publish a roster update");
        return;
    }
    if (q->publish.len > ROSTER_MAX_SIZE) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.roster-too-large",
                   "the roster is larger than a roster may be");
        return;
    }
    if (a->on_roster == NULL) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_DENIED, "api.rejected.roster-off",
                   "this node takes no roster updates from clients");
        return;
    }
    if (a->on_roster(a->roster_arg, q->publish.data, q->publish.len, why, sizeof(why)) == -1) {
        char reason[sizeof(why) + 32];
        snprintf(reason, sizeof(reason), "roster update refused: %s", why);
        api_reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.roster", reason);
        return;
    }
    /* Answered once the commit has made the roster durable. */
    api_add_pending(a, PENDING_ROSTER, rq);
}
