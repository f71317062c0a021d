/*
 * stats: a table of named counters kept in first-counted order, so that a
 * status reply lists them the same way every time. Names are static strings
 * compared by pointer first and by text second, or copies the table owns
 * for counters restored from a previous run. No other daemon module is
 * included here, and nothing here logs.
 */
#include "stats.h"

#include <stdlib.h>
#include <string.h>

struct counter {
    const char *name;
    uint64_t value;
};

struct stats {
    struct counter counters[STATS_MAX_COUNTERS + 1]; /* + STATS_DROPPED */
    size_t n;
    /* Persistence, parallel to counters: the value last saved, and the
     * name when the table owns it (a counter restored from the store). */
    uint64_t saved[STATS_MAX_COUNTERS + 1];
    char *owned[STATS_MAX_COUNTERS + 1];
    struct stats_histogram histograms[STATS_MAX_HISTOGRAMS];
    size_t n_histograms;
};

struct stats *stats_new(void)
{
    return calloc(1, sizeof(struct stats));
}

void stats_free(struct stats **sp)
{
    if (sp == NULL)
        return;
    if (*sp != NULL)
        for (size_t i = 0; i < (*sp)->n; i++)
            free((*sp)->owned[i]);
    free(*sp);
    *sp = NULL;
}

static struct counter *find(const struct stats *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->counters[i].name == name || strcmp(s->counters[i].name, name) == 0)
            return (struct counter *)&s->counters[i];
    return NULL;
}

void stats_count(struct stats *s, const char *name, uint64_t by)
{
    struct counter *c;

    if (s == NULL)
        return;
    if ((c = find(s, name)) == NULL) {
        /* The spare slot lets a full table still say that it dropped. */
        if (s->n >= STATS_MAX_COUNTERS && (c = find(s, STATS_DROPPED)) == NULL)
            name = STATS_DROPPED;
        if (c == NULL) {
            c = &s->counters[s->n++];
            c->name = name;
            c->value = 0;
        }
    }
    c->value += by;
}

uint64_t stats_get(const struct stats *s, const char *name)
{
    const struct counter *c = s != NULL ? find(s, name) : NULL;

    return c != NULL ? c->value : 0;
}

size_t stats_size(const struct stats *s)
{
    return s != NULL ? s->n : 0;
}

void stats_at(const struct stats *s, size_t i, const char **name, uint64_t *value)
{
    *name = s->counters[i].name;
    *value = s->counters[i].value;
}

int stats_restore(struct stats *s, const char *name, uint64_t value)
{
    struct counter *c;
    size_t i;

    if ((c = find(s, name)) == NULL) {
        char *copy;
        if (s->n >= STATS_MAX_COUNTERS || (copy = strdup(name)) == NULL)
            return -1;
        i = s->n++;
        s->owned[i] = copy;
        s->counters[i] = (struct counter){copy, 0};
        c = &s->counters[i];
    }
    i = (size_t)(c - s->counters);
    /* The store holds value: what was counted before the restore is not
     * saved yet. */
    c->value += value;
    s->saved[i] = value;
    return 0;
}

bool stats_is_saved(const struct stats *s, size_t i)
{
    return s->saved[i] == s->counters[i].value;
}

void stats_mark_saved(struct stats *s)
{
    for (size_t i = 0; i < s->n; i++)
        s->saved[i] = s->counters[i].value;
}

void stats_observe(struct stats *s, const char *name, const double *bounds, size_t n_bounds,
                   double value)
{
    struct stats_histogram *h = NULL;
    size_t i;

    if (s == NULL)
        return;
    for (i = 0; i < s->n_histograms && h == NULL; i++)
        if (s->histograms[i].name == name || strcmp(s->histograms[i].name, name) == 0)
            h = &s->histograms[i];
    if (h == NULL) {
        if (s->n_histograms == STATS_MAX_HISTOGRAMS || n_bounds > STATS_MAX_BUCKETS) {
            stats_count(s, STATS_DROPPED, 1);
            return;
        }
        h = &s->histograms[s->n_histograms++];
        memset(h, 0, sizeof(*h));
        h->name = name;
        h->bounds = bounds;
        h->n_bounds = n_bounds;
    }
    /* A linear scan: a couple of dozen bounds at most, once per commit. */
    for (i = 0; i < h->n_bounds && value > h->bounds[i]; i++)
        ;
    h->counts[i]++;
    h->count++;
    h->sum += value;
}

size_t stats_histogram_count(const struct stats *s)
{
    return s != NULL ? s->n_histograms : 0;
}

const struct stats_histogram *stats_histogram_at(const struct stats *s, size_t i)
{
    return &s->histograms[i];
}
