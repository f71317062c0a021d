/*
 * bench_catchup: how fast a node that was offline catches up. Node A's
 * store is preloaded with N real sealed envelopes of A's relayed log (the
 * real seal path, committed 10,000 at a time, as A's node would after N
 * posts); then A and an empty B start as real tmbusd processes on loopback
 * and the clock runs until B's status holds all N, durable at B. Prints
 * envelopes per second and both nodes' peak resident memory (VmHWM), and
 * B's resident memory a moment after, at rest. With --probe a client of B
 * posts a need every POLL_MS meanwhile and the program prints how long
 * B took to acknowledge them (its acks wait for the round's commit, so
 * they show how long B's rounds are while it catches up). A program,
 * never a test: every wait is bounded in time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "bench_preload.h"
#include "bench_util.h"
#include "envelope.h"
#include "fed.h"
#include "fedclient.h"
#include "keys.h"
#include "log.h"
#include "roster.h"
#include "store.h"
#include "tmbus.h"

#define CATCHUP_TIMEOUT_MS 600000 /* a round that has not caught up by then fails */
#define POLL_MS            100
#define REST_MS            2000 /* how long B idles before its memory at rest is read */
#define PAYLOAD_TAG        "bench-catchup"
#define PROBE_MAX          6000 /* probes kept: a minute and more at one per POLL_MS */
#define PROBE_EVERY        10   /* probes between two looks at B's holdings */

/* Member 0's log preloaded, timed: for C (never started), or for B and C
 * with is_for_b (B then opens each and applies it to its board). */
static int preload(struct fed *f, uint32_t n, bool is_for_b)
{
    int64_t t0 = fed_now_ms();

    if (bench_preload(f, n, is_for_b, PAYLOAD_TAG) == -1)
        return -1;
    fprintf(stderr, "bench_catchup: preloaded %u envelopes in %.1f s\n", n,
            (double)(fed_now_ms() - t0) / 1000.0);
    return 0;
}

/* A line of /proc/PID/status ("VmHWM", "VmRSS") in KiB, or 0. */
static unsigned long proc_kib(pid_t pid, const char *field)
{
    char path[64], line[256];
    unsigned long v = 0;
    size_t k = strlen(field);
    FILE *fp;

    snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
    if ((fp = fopen(path, "r")) == NULL)
        return 0;
    while (fgets(line, sizeof(line), fp) != NULL)
        if (strncmp(line, field, k) == 0 && line[k] == ':')
            v = strtoul(line + k + 1, NULL, 10);
    fclose(fp);
    return v;
}

static uint64_t envelopes_held(struct tmbus *h)
{
    struct tmbus_status *s = NULL;
    uint64_t n = 0;

    if (tmbus_status(h, 5000, &s) == TMBUS_OK)
        n = tmbus_status_envelopes(s);
    tmbus_status_free(&s);
    return n;
}

/* Prints h's counters whose names start with one of the prefixes. */
static void print_counters(const char *node, struct tmbus *h)
{
    static const char *const prefixes[] = {"verify.",  "run.",     "peer.",  "relayed",
                                           "accepted", "rejected", "commit."};
    struct tmbus_status *s = NULL;
    const struct tmbus_counter *c;

    if (tmbus_status(h, 5000, &s) != TMBUS_OK)
        return;
    printf("    %s:", node);
    for (size_t i = 0; (c = tmbus_status_counter_at(s, i)) != NULL; i++)
        for (size_t k = 0; k < sizeof(prefixes) / sizeof(prefixes[0]); k++)
            if (strncmp(c->name, prefixes[k], strlen(prefixes[k])) == 0) {
                printf(" %s=%llu", c->name, (unsigned long long)c->value);
                break;
            }
    printf("\n");
    tmbus_status_free(&s);
}

struct result {
    double rate;
    size_t n_acks;                       /* probes acknowledged */
    double ack_median, ack_p99, ack_max; /* ms */
    double cpu_a, cpu_b;                 /* seconds used during the catch-up */
    unsigned long hwm_a, hwm_b, rest_b;  /* KiB */
};

static bool is_verbose;

/* The knobs a run changes from the nodes' defaults (0: the default). */
struct knobs {
    unsigned credit, batch, round_ms;
    bool is_round_ms_set, is_probe;
};

/* Sets limit name to value on A and B when is_set. */
static int set_both(struct fed *f, const char *name, unsigned value, bool is_set)
{
    for (size_t i = 0; is_set && i < 2; i++)
        if (fed_set_limit(f, i, name, value) == -1)
            return -1;
    return 0;
}

/* Acks' latencies (ms) into out: median, 99th percentile, maximum. */
static void ack_figures(double *ms, size_t n, struct result *out)
{
    out->n_acks = n;
    if (n == 0)
        return;
    out->ack_median = bench_median(ms, n); /* sorts ms */
    out->ack_p99 = ms[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1];
    out->ack_max = ms[n - 1];
}

static int one_round(uint32_t n, const struct knobs *k, bool is_for_b, struct result *out)
{
    static const char *const ids[] = {"AA", "BB", "CC"};
    /* B coordinates, so that its client may post the probes' needs. */
    static const char *const roles[] = {NULL, "coordinator", NULL};
    struct fed *f = fed_new_with_roles(3, ids, roles);
    struct tmbus *hb = NULL;
    int64_t t0, elapsed;
    double cpu_a0;
    double *acks = calloc(PROBE_MAX, sizeof(*acks));
    size_t n_acks = 0;
    uint32_t posted = 0;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (f == NULL || acks == NULL || fed_topology_line(f) == -1 || preload(f, n, is_for_b) == -1)
        goto out;
    if (set_both(f, "credit_window", k->credit, k->credit > 0) == -1 ||
        set_both(f, "batch_envelopes", k->batch, k->batch > 0) == -1 ||
        set_both(f, "peer_round_ms", k->round_ms, k->is_round_ms_set) == -1 ||
        /* C never starts: B would refuse posts while it waits for C. */
        set_both(f, "recover_wait_ms", 0, k->is_probe) == -1)
        goto out;
    if (fed_start(f, 0) == -1)
        goto out;
    cpu_a0 = bench_cpu_seconds(fed_pid(f, 0));
    t0 = fed_now_ms();
    if (fed_start(f, 1) == -1 || (hb = fc_connect(f, 1)) == NULL)
        goto out;
    /* B's own receipts to A (with is_for_b) are in B's logs, not A's. */
    /* B's own probes are in B's logs too: B holds n + posted at the end.
     * A status answer comes just after one of B's rounds, so a probe sent
     * right after one would find B between rounds: probes go at random
     * moments, and B's holdings are asked only every PROBE_EVERY probes. */
    for (uint32_t tick = 0; tick % PROBE_EVERY != 0 || envelopes_held(hb) < n + posted; tick++) {
        if (fed_now_ms() - t0 > CATCHUP_TIMEOUT_MS) {
            fprintf(stderr, "bench_catchup: B did not catch up in time\n");
            goto out;
        }
        if (k->is_probe && n_acks < PROBE_MAX) {
            double s = bench_now();
            int prc = fc_post(hb, FC_TLP_GREEN, "bench-probe", posted, NULL, 0, NULL);
            if (prc == TMBUS_OK) {
                acks[n_acks++] = (bench_now() - s) * 1000.0;
                posted++;
            } else if (is_verbose)
                fprintf(stderr, "bench_catchup: a probe was refused: %s\n", tmbus_last_error(hb));
        }
        fed_sleep_ms(k->is_probe ? (int)randombytes_uniform(POLL_MS) + POLL_MS / 2 : POLL_MS);
    }
    elapsed = fed_now_ms() - t0;
    ack_figures(acks, n_acks, out);
    out->rate = n * 1000.0 / (double)(elapsed ? elapsed : 1);
    out->cpu_a = bench_cpu_seconds(fed_pid(f, 0)) - cpu_a0;
    out->cpu_b = bench_cpu_seconds(fed_pid(f, 1));
    out->hwm_a = proc_kib(fed_pid(f, 0), "VmHWM");
    out->hwm_b = proc_kib(fed_pid(f, 1), "VmHWM");
    fed_sleep_ms(REST_MS);
    out->rest_b = proc_kib(fed_pid(f, 1), "VmRSS");
    if (is_verbose) {
        struct tmbus *ha = fc_connect(f, 0);
        if (ha != NULL)
            print_counters("A", ha);
        print_counters("B", hb);
        tmbus_close(&ha);
    }
    fed_pass(f);
    rc = 0;
out:
    free(acks);
    tmbus_close(&hb);
    fed_free(&f);
    return rc;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_catchup [-n ENVELOPES] [--credit N] [--batch N] [--round-ms MS]\n"
                    "                     [--probe] [--rounds R] [--for-b] [-v]\n"
                    "       (defaults: 1000000 envelopes for C, the nodes' own limits, "
                    "1 round)\n");
    exit(64);
}

int main(int argc, char **argv)
{
    uint32_t n = 1000000;
    struct knobs k = {0};
    int rounds = 1;
    bool is_for_b = false;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            n = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--credit") == 0 && i + 1 < argc)
            k.credit = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc)
            k.batch = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--round-ms") == 0 && i + 1 < argc) {
            k.round_ms = (unsigned)strtoul(argv[++i], NULL, 10);
            k.is_round_ms_set = true;
        } else if (strcmp(argv[i], "--probe") == 0)
            k.is_probe = true;
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--for-b") == 0)
            is_for_b = true;
        else if (strcmp(argv[i], "-v") == 0)
            is_verbose = true;
        else
            usage();
    }
    if (n == 0 || rounds < 1 || rounds > 9)
        usage();
    log_init("bench_catchup", LOG_LEVEL_WARN);
    if (sodium_init() < 0)
        return 1;
    char window[16] = "default", batch[16] = "default", round_ms[16] = "default";
    if (k.credit > 0)
        snprintf(window, sizeof(window), "%u", k.credit);
    if (k.batch > 0)
        snprintf(batch, sizeof(batch), "%u", k.batch);
    if (k.is_round_ms_set)
        snprintf(round_ms, sizeof(round_ms), "%u", k.round_ms);
    printf("catch-up A -> B of %u envelopes for %s, credit window %s, batches of %s, "
           "peer_round_ms %s, %d round(s)\n",
           n, is_for_b ? "B and C (B opens each)" : "C (B relays only)", window, batch, round_ms,
           rounds);
    for (int r = 0; r < rounds; r++) {
        struct result res;
        if (one_round(n, &k, is_for_b, &res) == -1)
            return 1;
        printf("  round %d: %8.0f envelopes/s   CPU A %.1f s, B %.1f s   peak RSS A %lu KiB, "
               "B %lu KiB; B at rest %lu KiB\n",
               r + 1, res.rate, res.cpu_a, res.cpu_b, res.hwm_a, res.hwm_b, res.rest_b);
        if (k.is_probe)
            printf("           B's acks to %zu posts meanwhile: median %.1f ms, p99 %.1f ms, "
                   "max %.1f ms\n",
                   res.n_acks, res.ack_median, res.ack_p99, res.ack_max);
        fflush(stdout);
    }
    return 0;
}
