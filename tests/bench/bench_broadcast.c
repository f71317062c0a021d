/*
 * bench_broadcast: one member's client posts N needs to all members of a
 * full mesh of real tmbusd processes on loopback (14 by default), and the
 * clock runs until every other node has delivered all N. Prints posts per
 * second, per receiving node the envelopes it received against the
 * distinct ones it appended (its "accepted" and "duplicate" counters) and
 * the mean copies per envelope, and the sending node's CPU time per
 * message from /proc. With --clients K the member's program posts over K
 * connections at once (K threads, one post in flight each), as a program
 * pipelining its posts would, so that the node commits and relays several
 * posts per round; --relay-delay MS sets every node's limits.relay_delay_ms
 * (0 forwards at once, as before the forwarding rule). Every round is a
 * fresh federation, bounded in time; a program, never a test.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "fed.h"
#include "fedclient.h"
#include "log.h"
#include "tmbus.h"

#define ROUND_TIMEOUT_MS 300000 /* a round that has not finished by then fails */
#define LINK_TIMEOUT_MS  60000  /* the whole mesh must be up by then */
#define MEMBERS_MAX      FED_MAX_MEMBERS
#define COUNT_MAX        100000
#define ROUNDS_MAX       9
#define CLIENTS_MAX      32
#define PAYLOAD_TAG      "bench-broadcast"

struct counters {
    uint64_t accepted, duplicate, delivered, relayed, commits;
};

/* The counters of h's node; 0 or -1. */
static int read_counters(struct tmbus *h, struct counters *c)
{
    struct tmbus_status *s = NULL;
    const struct tmbus_counter *k;

    memset(c, 0, sizeof(*c));
    if (tmbus_status(h, FC_CALL_MS, &s) != TMBUS_OK)
        return -1;
    for (size_t i = 0; (k = tmbus_status_counter_at(s, i)) != NULL; i++) {
        if (strcmp(k->name, "accepted") == 0)
            c->accepted = k->value;
        else if (strcmp(k->name, "duplicate") == 0)
            c->duplicate = k->value;
        else if (strcmp(k->name, "delivered") == 0)
            c->delivered = k->value;
        else if (strcmp(k->name, "relayed") == 0)
            c->relayed = k->value;
        else if (strcmp(k->name, "commit.batches") == 0)
            c->commits = k->value;
    }
    tmbus_status_free(&s);
    return 0;
}

/* utime + stime of pid in microseconds, or -1. */
static int64_t cpu_us(pid_t pid)
{
    double s = bench_cpu_seconds(pid);

    return s < 0 ? -1 : (int64_t)(s * 1e6);
}

/* Waits until every node logged its link to every other. */
static int wait_mesh(struct fed *f)
{
    for (size_t i = 0; i < fed_node_count(f); i++)
        for (size_t j = 0; j < fed_node_count(f); j++)
            if (i != j && fed_wait_link(f, i, 0, fed_id(f, j), LINK_TIMEOUT_MS) == -1)
                return -1;
    return 0;
}

struct result {
    double rate;    /* posts per second, first post to last delivery */
    double post_ms; /* time the client spent posting */
    double copies;  /* mean copies per envelope over the receiving nodes */
    double cpu_us;  /* the sending node's CPU per message */
    double worst;   /* the highest mean copies of one node */
};

/* One posting connection: needs first, first + step, ... below count. */
struct poster {
    struct tmbus *h;
    uint32_t first, step, count;
    int64_t t0;
    int rc;
};

static void *post_all(void *arg)
{
    struct poster *ps = arg;

    ps->rc = 0;
    for (uint32_t k = ps->first; k < ps->count; k += ps->step) {
        int prc = fc_post(ps->h, FC_TLP_GREEN, PAYLOAD_TAG, k, NULL, 0, NULL);
        if (prc != TMBUS_OK) {
            fprintf(stderr, "bench_broadcast: post %u: %s\n", k, tmbus_strerror(prc));
            ps->rc = -1;
            break;
        }
        if (fed_now_ms() - ps->t0 > ROUND_TIMEOUT_MS) {
            fprintf(stderr, "bench_broadcast: posting timed out\n");
            ps->rc = -1;
            break;
        }
    }
    return NULL;
}

/* One round over a fresh federation of n_members nodes. */
static int round_run(size_t n_members, uint32_t count, size_t n_clients, int relay_delay_ms,
                     bool is_verbose, struct result *out)
{
    struct poster posters[CLIENTS_MAX] = {0};
    pthread_t threads[CLIENTS_MAX];
    char ids[MEMBERS_MAX][8];
    const char *names[MEMBERS_MAX];
    struct tmbus *h[MEMBERS_MAX] = {0};
    struct counters c[MEMBERS_MAX];
    struct fed *f;
    int64_t t0, t_posted, cpu0, cpu1;
    uint64_t received = 0, distinct = 0;
    bool is_posted = true;
    int rc = -1;

    for (size_t i = 0; i < n_members; i++) {
        snprintf(ids[i], sizeof(ids[i]), "M%02zu", i + 1);
        names[i] = ids[i];
    }
    if ((f = fed_new(n_members, names)) == NULL)
        return -1;
    for (size_t i = 0; i < n_members && relay_delay_ms >= 0; i++)
        if (fed_set_limit(f, i, "relay_delay_ms", (unsigned)relay_delay_ms) == -1)
            goto out;
    if (fed_start_all(f) == -1 || wait_mesh(f) == -1)
        goto out;
    for (size_t i = 0; i < n_members; i++)
        if ((h[i] = fc_connect(f, i)) == NULL)
            goto out;
    for (size_t i = 0; i < n_clients; i++)
        if ((posters[i].h = i == 0 ? h[0] : fc_connect(f, 0)) == NULL)
            goto out;
    if ((cpu0 = cpu_us(fed_pid(f, 0))) < 0)
        goto out;
    t0 = fed_now_ms();
    for (size_t i = 0; i < n_clients; i++) {
        posters[i].first = (uint32_t)i;
        posters[i].step = (uint32_t)n_clients;
        posters[i].count = count;
        posters[i].t0 = t0;
        if (pthread_create(&threads[i], NULL, post_all, &posters[i]) != 0) {
            fprintf(stderr, "bench_broadcast: cannot start a posting thread\n");
            for (size_t j = 0; j < i; j++)
                pthread_join(threads[j], NULL);
            goto out;
        }
    }
    for (size_t i = 0; i < n_clients; i++) {
        pthread_join(threads[i], NULL);
        is_posted = is_posted && posters[i].rc == 0;
    }
    if (!is_posted)
        goto out;
    t_posted = fed_now_ms();
    for (size_t i = 1; i < n_members; i++) {
        do {
            if (read_counters(h[i], &c[i]) == -1 || fed_now_ms() - t0 > ROUND_TIMEOUT_MS) {
                fprintf(stderr, "bench_broadcast: %s has %" PRIu64 " of %u\n", fed_id(f, i),
                        c[i].delivered, count);
                goto out;
            }
            if (c[i].delivered < count)
                fed_sleep_ms(5);
        } while (c[i].delivered < count);
    }
    out->rate = count * 1000.0 / (double)(fed_now_ms() - t0);
    out->post_ms = (double)(t_posted - t0);
    /* The sender's CPU up to the last delivery, and a little beyond for the
     * acks and receipts it still reads: a settled view of what it spent. */
    fed_sleep_ms(500);
    if ((cpu1 = cpu_us(fed_pid(f, 0))) < 0)
        goto out;
    out->cpu_us = (double)(cpu1 - cpu0) / count;
    out->worst = 0;
    for (size_t i = 1; i < n_members; i++) {
        double copies;
        if (read_counters(h[i], &c[i]) == -1)
            goto out;
        copies = c[i].accepted ? (double)(c[i].accepted + c[i].duplicate) / c[i].accepted : 0;
        if (copies > out->worst)
            out->worst = copies;
        received += c[i].accepted + c[i].duplicate;
        distinct += c[i].accepted;
        if (is_verbose)
            printf("    %s: received %6" PRIu64 "  distinct %6" PRIu64 "  copies %5.2f  "
                   "relayed %6" PRIu64 "  commits %6" PRIu64 "\n",
                   fed_id(f, i), c[i].accepted + c[i].duplicate, c[i].accepted, copies,
                   c[i].relayed, c[i].commits);
    }
    out->copies = distinct ? (double)received / distinct : 0;
    if (read_counters(h[0], &c[0]) == 0 && is_verbose)
        printf("    %s (sender): relayed %6" PRIu64 "  commits %6" PRIu64 "\n", fed_id(f, 0),
               c[0].relayed, c[0].commits);
    fed_pass(f);
    rc = 0;
out:
    for (size_t i = 1; i < n_clients; i++)
        tmbus_close(&posters[i].h);
    for (size_t i = 0; i < n_members; i++)
        tmbus_close(&h[i]);
    fed_free(&f);
    return rc;
}

int main(int argc, char **argv)
{
    size_t members = 14, clients = 1;
    int relay_delay_ms = -1; /* -1: tmbusd's default */
    uint32_t count = 500;
    int rounds = 3;
    bool is_verbose = false;
    double rate[ROUNDS_MAX], copies[ROUNDS_MAX], cpu[ROUNDS_MAX], worst[ROUNDS_MAX];

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--members") == 0 && i + 1 < argc) {
            members = strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
            count = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--clients") == 0 && i + 1 < argc) {
            clients = strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--relay-delay") == 0 && i + 1 < argc) {
            relay_delay_ms = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            rounds = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--verbose") == 0) {
            is_verbose = true;
        } else {
            fprintf(stderr,
                    "usage: bench_broadcast [--members 2..%d] [--count 1..%d] "
                    "[--rounds 1..%d] [--verbose]\n",
                    MEMBERS_MAX, COUNT_MAX, ROUNDS_MAX);
            return 64;
        }
    }
    if (members < 2 || members > MEMBERS_MAX || count < 1 || count > COUNT_MAX || clients < 1 ||
        clients > CLIENTS_MAX || relay_delay_ms > 10000 || rounds < 1 || rounds > ROUNDS_MAX) {
        fprintf(stderr, "bench_broadcast: argument out of range\n");
        return 64;
    }
    log_init("bench_broadcast", LOG_LEVEL_WARN);
    printf("broadcast: %zu-member full mesh, %u needs from one member's program to all over "
           "%zu connection(s), %d round(s)\n",
           members, count, clients, rounds);
    for (int r = 0; r < rounds; r++) {
        struct result res;
        if (round_run(members, count, clients, relay_delay_ms, is_verbose, &res) == -1)
            return 1;
        rate[r] = res.rate;
        copies[r] = res.copies;
        cpu[r] = res.cpu_us;
        worst[r] = res.worst;
        printf("  round %d: %7.1f posts/s (posting %.0f ms)  copies/envelope %.2f (worst node "
               "%.2f)  sender CPU %.0f us/msg\n",
               r + 1, res.rate, res.post_ms, res.copies, res.worst, res.cpu_us);
    }
    printf("median: %.1f posts/s; %.2f copies of each envelope per node (worst node %.2f); "
           "sender CPU %.0f us per message\n",
           bench_median(rate, (size_t)rounds), bench_median(copies, (size_t)rounds),
           bench_median(worst, (size_t)rounds), bench_median(cpu, (size_t)rounds));
    return 0;
}
