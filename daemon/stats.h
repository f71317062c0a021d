/*
 * stats: the node's named counters ("rejected.bad-signature",
 * "api.posted", ...), a small fixed table that every module adds to and the
 * status request lists, and a few histograms (commit latency, batch size)
 * that the metrics endpoint shows. Its owner (node.c) keeps the counters'
 * values across restarts in the store; the table only tracks what changed
 * since. It depends on nothing else in the daemon and never logs: counting
 * must stay possible from any layer, including the lowest.
 */
#ifndef TMBUS_STATS_H
#define TMBUS_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How many distinct counters one table holds; one more slot is kept for
 * STATS_DROPPED. */
#define STATS_MAX_COUNTERS 96

/* The counter that a full table adds to instead of a new name. */
#define STATS_DROPPED "stats.dropped"

struct stats;

/* An empty table, or NULL when out of memory. */
struct stats *stats_new(void);

/* Frees the table and clears *sp. Accepts NULL. */
void stats_free(struct stats **sp);

/* Adds by to the counter called name, creating it on first use. name must
 * be a static string: the table keeps the pointer, never a copy. When the
 * table is full, by goes to STATS_DROPPED instead. Accepts s == NULL (no
 * table, nothing counted). Never blocks. */
void stats_count(struct stats *s, const char *name, uint64_t by);

/* The value of the counter called name; 0 when it was never counted. */
uint64_t stats_get(const struct stats *s, const char *name);

/* How many counters exist, in the order they were first counted. */
size_t stats_size(const struct stats *s);

/* The i-th counter (i < stats_size): its static name and value. */
void stats_at(const struct stats *s, size_t i, const char **name, uint64_t *value);

/* ---- persistence: counters that survive a restart --------------------------
 * The table knows nothing of the store: its owner reads the saved values
 * at start (stats_restore), writes the changed ones with each commit
 * (stats_is_saved) and marks them saved once that commit is durable
 * (stats_mark_saved). */

/* Adds value to the counter called name, copying name (which need not be
 * static: the table owns the copy), and records value as what is saved. Returns 0, or
 * -1 when out of memory or the table is full (nothing changed). */
int stats_restore(struct stats *s, const char *name, uint64_t value);

/* Whether the i-th counter (i < stats_size) holds the value last marked
 * saved. */
bool stats_is_saved(const struct stats *s, size_t i);

/* Marks every counter's current value as saved. */
void stats_mark_saved(struct stats *s);

/* ---- histograms ---------------------------------------------------------- */

#define STATS_MAX_HISTOGRAMS 8
#define STATS_MAX_BUCKETS    24 /* upper bounds per histogram, +Inf not counted */

/* One histogram as stats_observe keeps it: counts[i] observations at most
 * bounds[i] and above bounds[i - 1] (counts[n_bounds]: above every bound). */
struct stats_histogram {
    const char *name;     /* static, like a counter's */
    const double *bounds; /* static, ascending */
    size_t n_bounds;
    uint64_t counts[STATS_MAX_BUCKETS + 1];
    uint64_t count;
    double sum;
};

/* Adds value to the histogram called name, created on first use with the
 * n_bounds (at most STATS_MAX_BUCKETS) ascending upper bounds in bounds;
 * name and bounds must be static, and later calls must pass the same
 * bounds. When STATS_MAX_HISTOGRAMS exist already, the value is counted in
 * STATS_DROPPED instead. Accepts s == NULL. Never blocks. */
void stats_observe(struct stats *s, const char *name, const double *bounds, size_t n_bounds,
                   double value);

/* How many histograms exist, and the i-th (i < stats_histogram_count),
 * valid until the next stats_observe. */
size_t stats_histogram_count(const struct stats *s);
const struct stats_histogram *stats_histogram_at(const struct stats *s, size_t i);

#endif
