/*
 * stats: the node's named counters ("rejected.bad-signature",
 * "api.posted", ...), a small fixed table that every module adds to and the
 * status request lists. Its owner (node.c) keeps the values across
 * restarts in the store; the table only tracks what changed since. It depends on nothing else in
 * the daemon and never logs: counting must stay possible from any layer, including the lowest.
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

#endif
