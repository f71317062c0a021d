/*
 * retention: the schedule and the rules' clock of retention (retention.h).
 * Each round takes the configured ages back from the current time, lets
 * the store prune at most [retention] batch envelopes inside a write group
 * of the open batch, and counts what was freed. It runs again at once
 * (after one loop round) while work is left, else after interval_ms.
 */
#include "retention.h"

#include <stdlib.h>
#include <time.h>

#include "board.h"
#include "envelope.h"
#include "log.h"

/* Between two rounds while a backlog is left: one loop round's worth of
 * the node's other work goes first. */
#define BACKLOG_DELAY_MS 10

struct retention {
    struct loop *loop;
    struct store *store;
    struct stats *stats;
    int64_t after_expiry_s; /* 0: the rule is off */
    int64_t after_closed_s; /* 0: the rule is off */
    size_t batch;
    int64_t interval_ms;
    uint64_t timer;
    struct store_retention_cursor cursor;
    bool is_held_logged; /* said once that a client's ack holds the closed rule */
};

bool retention_is_on(const struct config *cfg)
{
    return cfg->retention_after_expiry != 0 || cfg->retention_after_closed != 0;
}

static int64_t on_timer(void *arg)
{
    struct retention *r = arg;
    int rc = retention_round(r);

    return rc == 1 ? BACKLOG_DELAY_MS : r->interval_ms;
}

struct retention *retention_new(const struct retention_parts *parts)
{
    const struct config *cfg = parts->cfg;
    struct retention *r = calloc(1, sizeof(*r));

    if (r == NULL) {
        log_warn("retention");
        return NULL;
    }
    r->loop = parts->loop;
    r->store = parts->store;
    r->stats = parts->stats;
    r->after_expiry_s = (int64_t)cfg->retention_after_expiry * cfg->retention_day_s;
    r->after_closed_s = (int64_t)cfg->retention_after_closed * cfg->retention_day_s;
    r->batch = cfg->retention_batch;
    r->interval_ms = cfg->retention_interval_ms;
    if ((r->timer = loop_add_timer(r->loop, r->interval_ms, on_timer, r)) == 0) {
        free(r);
        return NULL;
    }
    log_info("retention: ciphertext kept %lld s after expiry, %lld s after a need closed "
             "(0: kept for good)",
             (long long)r->after_expiry_s, (long long)r->after_closed_s);
    return r;
}

void retention_free(struct retention **rp)
{
    struct retention *r;

    if (rp == NULL || (r = *rp) == NULL)
        return;
    if (r->timer != 0)
        loop_remove_timer(r->loop, r->timer);
    free(r);
    *rp = NULL;
}

int retention_round(struct retention *r)
{
    struct store_retention_rules rules = {
        .now = (int64_t)time(NULL),
        .closed_status = {BOARD_NEED_CLOSED, BOARD_NEED_WITHDRAWN},
        .max_rows = r->batch,
    };
    struct store_retention_result res;
    int rc;

    if (r->after_expiry_s != 0)
        rules.expired_before = rules.now - r->after_expiry_s;
    if (r->after_closed_s != 0)
        rules.closed_before = rules.now - r->after_closed_s;
    /* Into the round's batch, which the loop's round hook commits: a round
     * costs no commit of its own, and a failed one undoes only itself. */
    if (store_begin(r->store) == -1 || store_group_begin(r->store) == -1)
        return -1;
    rc = store_retention_round(r->store, &rules, envelope_prune, &r->cursor, &res);
    if (store_group_end(r->store, rc == 0) == -1 || rc != 0) {
        stats_count(r->stats, "retention.failed", 1);
        return -1;
    }
    stats_count(r->stats, "retention.rounds", 1);
    if (res.pruned != 0) {
        stats_count(r->stats, "retention.pruned", res.pruned);
        stats_count(r->stats, "retention.bytes-freed", res.bytes_freed);
        log_debug("retention: pruned %llu envelopes, %llu bytes", (unsigned long long)res.pruned,
                  (unsigned long long)res.bytes_freed);
    }
    if (res.is_held && !r->is_held_logged)
        log_info("retention: a closed need's envelopes wait until every subscribed client "
                 "has acknowledged them");
    r->is_held_logged = res.is_held;
    return res.is_more ? 1 : 0;
}
