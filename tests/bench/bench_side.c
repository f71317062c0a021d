/*
 * bench_side: the flags, pacing, stamps and receiver's record shared by the
 * side-by-side benchmark programs. The record keeps one latency per
 * delivered message (bounded by --count) so that percentiles are exact,
 * and one bit per message sent so that duplicates are told apart from
 * deliveries. Nothing here talks to a broker.
 */
#include "bench_side.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct bench_side_record {
    int clients;
    uint64_t
        *first_seq; /* clients + 1 entries: publisher c's messages are first_seq[c] .. [c+1] - 1 */
    uint8_t *seen;  /* one bit per message, indexed by first_seq[c] + seq */
    uint32_t *latency_us; /* one per first delivery, in arrival order */
    uint64_t capacity;
    _Atomic uint64_t delivered;
    uint64_t duplicates;
    uint64_t foreign;
    uint64_t last_ns; /* arrival of the last first delivery */
};

static void usage(const char *name)
{
    fprintf(stderr,
            "usage: bench_%s [--size BYTES] [--clients C] [--count N] [--rate R] [--seconds T]\n"
            "       [--window W] --pub-port P --sub-port P [--drain S]\n"
            "  publishers send N messages in all (fewer if T seconds pass first), R a second\n"
            "  in all (0 = as fast as possible), each with at most W unacknowledged; the\n"
            "  subscriber at the other broker acknowledges each one.\n",
            name);
}

/* The flags, their bounds and defaults; pub-port and sub-port have no
 * default (0 = not given). */
enum {
    F_SIZE,
    F_CLIENTS,
    F_COUNT,
    F_RATE,
    F_SECONDS,
    F_WINDOW,
    F_PUB_PORT,
    F_SUB_PORT,
    F_DRAIN,
    F_N
};
static const struct flag {
    const char *name;
    double lo, hi, def;
} flags[F_N] = {
    [F_SIZE] = {"--size", BENCH_SIDE_MIN_SIZE, BENCH_SIDE_MAX_SIZE, 1024},
    [F_CLIENTS] = {"--clients", 1, BENCH_SIDE_MAX_CLIENTS, 1},
    [F_COUNT] = {"--count", 1, BENCH_SIDE_MAX_COUNT, 100000},
    [F_RATE] = {"--rate", 0, 1e7, 0},
    [F_SECONDS] = {"--seconds", 0.1, BENCH_SIDE_MAX_SECONDS, 10},
    [F_WINDOW] = {"--window", 1, 65535, 64},
    [F_PUB_PORT] = {"--pub-port", 1, 65535, 0},
    [F_SUB_PORT] = {"--sub-port", 1, 65535, 0},
    [F_DRAIN] = {"--drain", 0, BENCH_SIDE_MAX_SECONDS, 15},
};

int bench_side_parse(int argc, char **argv, const char *name, struct bench_side_opts *o)
{
    double v[F_N];

    for (int k = 0; k < F_N; k++)
        v[k] = flags[k].def;
    for (int i = 1; i < argc; i += 2) {
        int k = 0;
        while (k < F_N && strcmp(argv[i], flags[k].name) != 0)
            k++;
        if (k == F_N) {
            fprintf(stderr, "bench_%s: unknown flag %s\n", name, argv[i]);
            usage(name);
            return -1;
        }
        char *end;
        errno = 0;
        double x = i + 1 < argc ? strtod(argv[i + 1], &end) : 0;
        if (i + 1 >= argc || errno != 0 || end == argv[i + 1] || *end != '\0' || x < flags[k].lo ||
            x > flags[k].hi) {
            fprintf(stderr, "bench_%s: %s needs a number from %g to %g\n", name, argv[i],
                    flags[k].lo, flags[k].hi);
            usage(name);
            return -1;
        }
        v[k] = x;
    }
    if (v[F_PUB_PORT] == 0 || v[F_SUB_PORT] == 0) {
        fprintf(stderr, "bench_%s: --pub-port and --sub-port are needed\n", name);
        usage(name);
        return -1;
    }
    if (v[F_CLIENTS] > v[F_COUNT]) {
        fprintf(stderr, "bench_%s: fewer messages than publishers\n", name);
        return -1;
    }
    *o = (struct bench_side_opts){.size = (size_t)v[F_SIZE],
                                  .clients = (int)v[F_CLIENTS],
                                  .count = (uint64_t)v[F_COUNT],
                                  .rate = v[F_RATE],
                                  .seconds = v[F_SECONDS],
                                  .window = (int)v[F_WINDOW],
                                  .pub_port = (int)v[F_PUB_PORT],
                                  .sub_port = (int)v[F_SUB_PORT],
                                  .drain = v[F_DRAIN],
                                  .name = name};
    return 0;
}

uint64_t bench_side_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bench_side_share(const struct bench_side_opts *o, int c)
{
    uint64_t each = o->count / (uint64_t)o->clients;
    return each + ((uint64_t)c < o->count % (uint64_t)o->clients ? 1 : 0);
}

void bench_side_pace(uint64_t start_ns, uint64_t i, double rate_each)
{
    if (rate_each <= 0)
        return;
    uint64_t due = start_ns + (uint64_t)((double)i * 1e9 / rate_each);
    struct timespec ts = {.tv_sec = (time_t)(due / 1000000000u),
                          .tv_nsec = (long)(due % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

void bench_side_stamp(uint8_t *buf, uint32_t client, uint32_t seq)
{
    uint64_t t = bench_side_now_ns();

    put32(buf, (uint32_t)t);
    put32(buf + 4, (uint32_t)(t >> 32));
    put32(buf + 8, client);
    put32(buf + 12, seq);
}

struct bench_side_record *bench_side_record_new(const struct bench_side_opts *o)
{
    struct bench_side_record *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return NULL;
    r->clients = o->clients;
    r->capacity = o->count;
    r->first_seq = calloc((size_t)o->clients + 1, sizeof(*r->first_seq));
    r->seen = calloc((size_t)(o->count / 8 + 1), 1);
    r->latency_us = calloc((size_t)o->count, sizeof(*r->latency_us));
    if (r->first_seq == NULL || r->seen == NULL || r->latency_us == NULL) {
        bench_side_record_free(&r);
        return NULL;
    }
    for (int c = 0; c < o->clients; c++)
        r->first_seq[c + 1] = r->first_seq[c] + bench_side_share(o, c);
    return r;
}

int bench_side_record_receive(struct bench_side_record *r, const uint8_t *buf, size_t len)
{
    uint64_t now = bench_side_now_ns();

    if (len < BENCH_SIDE_STAMP_BYTES) {
        r->foreign++;
        return 0;
    }
    uint64_t sent = (uint64_t)get32(buf + 4) << 32 | get32(buf);
    uint32_t client = get32(buf + 8), seq = get32(buf + 12);
    if (client >= (uint32_t)r->clients || seq >= r->first_seq[client + 1] - r->first_seq[client]) {
        r->foreign++;
        return 0;
    }
    uint64_t bit = r->first_seq[client] + seq;
    if (r->seen[bit / 8] & (1u << (bit % 8))) {
        r->duplicates++;
        return 0;
    }
    r->seen[bit / 8] |= (uint8_t)(1u << (bit % 8));
    uint64_t us = now > sent ? (now - sent) / 1000 : 0;
    uint64_t n = atomic_load_explicit(&r->delivered, memory_order_relaxed);
    r->latency_us[n] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    r->last_ns = now;
    atomic_store_explicit(&r->delivered, n + 1, memory_order_release);
    return 1;
}

uint64_t bench_side_record_delivered(const struct bench_side_record *r)
{
    return atomic_load_explicit(&r->delivered, memory_order_acquire);
}

static int compare_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* The nearest-rank percentile p (0..100) of the n sorted values, in ms. */
static double percentile_ms(const uint32_t *sorted, uint64_t n, double p)
{
    if (n == 0)
        return 0;
    uint64_t rank = (uint64_t)(p / 100.0 * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1] / 1000.0;
}

void bench_side_record_report(struct bench_side_record *r, const struct bench_side_opts *o,
                              uint64_t sent, uint64_t start_ns)
{
    uint64_t n = bench_side_record_delivered(r);
    double seconds = n > 0 && r->last_ns > start_ns ? (double)(r->last_ns - start_ns) / 1e9 : 0;
    double rate = seconds > 0 ? (double)n / seconds : 0;

    qsort(r->latency_us, (size_t)n, sizeof(*r->latency_us), compare_u32);
    double p50 = percentile_ms(r->latency_us, n, 50), p99 = percentile_ms(r->latency_us, n, 99);
    double max = percentile_ms(r->latency_us, n, 100);
    fprintf(stderr,
            "%s: %" PRIu64 " sent, %" PRIu64 " delivered (%" PRIu64 " duplicates, %" PRIu64
            " foreign) in %.3f s: %.0f msg/s, latency p50 %.3f ms, p99 %.3f ms, max %.3f ms\n",
            o->name, sent, n, r->duplicates, r->foreign, seconds, rate, p50, p99, max);
    printf("system=%s size=%zu clients=%d rate=%g sent=%" PRIu64 " delivered=%" PRIu64
           " seconds=%.3f msgs_per_s=%.0f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
           o->name, o->size, o->clients, o->rate, sent, n, seconds, rate, p50, p99, max);
    fflush(stdout);
}

void bench_side_record_free(struct bench_side_record **rp)
{
    if (rp == NULL || *rp == NULL)
        return;
    free((*rp)->first_seq);
    free((*rp)->seen);
    free((*rp)->latency_us);
    free(*rp);
    *rp = NULL;
}
