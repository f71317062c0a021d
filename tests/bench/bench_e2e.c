/*
 * bench_e2e: end-to-end throughput and latency of real tmbusd processes on
 * loopback: C posting clients at node A (pipelined posts through libtmbus)
 * -> node A -> node B -> one subscriber at B that acks. Both nodes run
 * with their normal durability (every commit fsynced), so a message
 * counts as delivered only after A committed it, B committed it and B
 * pushed it. Latency runs from the moment a post is sent to the moment
 * the subscriber holds it (one process, one monotonic clock: the send
 * time travels in the need's title). Bounded in count and in time; a
 * program, never a test. The last line on stdout is machine-readable.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "fed.h"
#include "fedclient.h"
#include "tmbus.h"

#define CONNECT_MS    10000
#define LINK_MS       20000
#define DRAIN_MS      15000 /* after the last post: how long deliveries may lag */
#define CLIENTS_MAX   256
#define TITLE_TAG     "bench-e2e"
#define TITLE_BYTES   96
#define NEED_OVERHEAD 96 /* a need's bytes besides its description, about */
#define SUB_WINDOW    1024
#define ACK_EVERY     256

struct options {
    size_t size;
    unsigned clients;
    uint64_t count;
    double rate; /* msgs/s over all clients, 0: as fast as possible */
    double seconds;
    unsigned window;
};

/* What the subscriber thread shares with the posting loop. */
struct sub_state {
    struct tmbus *h;
    double *latency_ms; /* by message index */
    uint64_t count;
    atomic_uint_fast64_t delivered;
    atomic_uint_fast64_t sent_ok; /* committed at A: what B should deliver */
    atomic_bool is_posting_done;
    int64_t last_ns; /* when the last delivery arrived */
    int rc;
};

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_e2e [--size BYTES] [--clients C] [--count N] [--rate R]\n"
               "                 [--seconds T] [--window W]\n"
               "  --size     need payload size in bytes, about (default 1024; 200..8192)\n"
               "  --clients  posting clients at node A (default 1)\n"
               "  --count    messages to post in all (default 10000)\n"
               "  --rate     offered messages per second in all, 0: as fast as possible\n"
               "  --seconds  stop posting after this long (default 30)\n"
               "  --window   posts in flight per client (default 64)\n");
}

static int parse(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"size", required_argument, NULL, 's'},    {"clients", required_argument, NULL, 'c'},
        {"count", required_argument, NULL, 'n'},   {"rate", required_argument, NULL, 'r'},
        {"seconds", required_argument, NULL, 't'}, {"window", required_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    int opt;

    *o = (struct options){1024, 1, 10000, 0, 30, 64};
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 's':
            o->size = strtoul(optarg, NULL, 10);
            break;
        case 'c':
            o->clients = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'n':
            o->count = strtoull(optarg, NULL, 10);
            break;
        case 'r':
            o->rate = strtod(optarg, NULL);
            break;
        case 't':
            o->seconds = strtod(optarg, NULL);
            break;
        case 'w':
            o->window = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind != argc || o->size < 200 || o->size > TMBUS_TEXT_MAX || o->clients == 0 ||
        o->clients > CLIENTS_MAX || o->count == 0 || o->count > 10000000 || o->rate < 0 ||
        o->seconds <= 0 || o->seconds > 3600 || o->window == 0 ||
        o->window > TMBUS_POST_WINDOW_MAX) {
        usage(stderr);
        return -1;
    }
    return 0;
}

static struct tmbus *connect_client(struct fed *f, size_t i)
{
    struct tmbus *h = NULL;
    char err[256];

    if (tmbus_connect_files(fed_client_endpoint(f, i), fed_member_pub_path(f, i),
                            fed_client_key_path(f, i), CONNECT_MS, &h, err,
                            sizeof(err)) != TMBUS_OK) {
        fprintf(stderr, "bench_e2e: cannot connect to %s: %s\n", fed_id(f, i), err);
        return NULL;
    }
    return h;
}

/* Reads "bench-e2e INDEX SENT_NS" from a delivered need. */
static int read_title(const struct tmbus_delivery *d, uint64_t *index, int64_t *sent_ns)
{
    const struct tmbus_need *n = tmbus_delivery_need(d);

    if (n == NULL || n->title == NULL ||
        sscanf(n->title, TITLE_TAG " %" SCNu64 " %" SCNd64, index, sent_ns) != 2)
        return -1;
    return 0;
}

/* The subscriber at B: takes deliveries, notes each one's latency and acks
 * every ACK_EVERY, until all that A committed arrived or DRAIN_MS passed
 * after the posting ended. */
static void *subscribe_loop(void *arg)
{
    struct sub_state *s = arg;
    int64_t done_ns = 0;
    uint64_t last_number = 0, unacked = 0;

    for (;;) {
        struct tmbus_delivery *d = NULL;
        uint64_t index;
        int64_t sent_ns;
        int rc = tmbus_next(s->h, 100, &d);

        if (rc == TMBUS_OK) {
            int64_t t = now_ns();
            if (read_title(d, &index, &sent_ns) == 0 && index < s->count &&
                s->latency_ms[index] < 0) {
                s->latency_ms[index] = (double)(t - sent_ns) / 1e6;
                s->last_ns = t;
                atomic_fetch_add(&s->delivered, 1);
            }
            last_number = tmbus_delivery_number(d);
            tmbus_delivery_free(&d);
            if (++unacked >= ACK_EVERY) {
                if (tmbus_ack(s->h, last_number, CONNECT_MS) != TMBUS_OK) {
                    fprintf(stderr, "bench_e2e: ack: %s\n", tmbus_last_error(s->h));
                    s->rc = -1;
                    return NULL;
                }
                unacked = 0;
            }
        } else if (rc != TMBUS_ETIMEOUT) {
            fprintf(stderr, "bench_e2e: receive: %s\n", tmbus_last_error(s->h));
            s->rc = -1;
            return NULL;
        }
        if (atomic_load(&s->is_posting_done)) {
            if (done_ns == 0)
                done_ns = now_ns();
            if (atomic_load(&s->delivered) >= atomic_load(&s->sent_ok) ||
                now_ns() - done_ns > (int64_t)DRAIN_MS * 1000000)
                break;
        }
    }
    if (unacked > 0 && tmbus_ack(s->h, last_number, CONNECT_MS) != TMBUS_OK)
        fprintf(stderr, "bench_e2e: last ack: %s\n", tmbus_last_error(s->h));
    return NULL;
}

/* One posting client's share of the loop. */
struct poster {
    struct tmbus *h;
    uint64_t committed, failed;
};

/* Takes every outcome h has; counts them. Returns -1 on a handle error. */
static int take_outcomes(struct poster *p, struct sub_state *s)
{
    for (;;) {
        struct tmbus_posted *o = NULL;
        int rc = tmbus_posted_next(p->h, 0, &o);

        if (rc == TMBUS_ETIMEOUT || rc == TMBUS_ENOTFOUND)
            return 0;
        if (rc != TMBUS_OK) {
            fprintf(stderr, "bench_e2e: outcome: %s\n", tmbus_last_error(p->h));
            return -1;
        }
        if (tmbus_posted_result(o) == TMBUS_OK) {
            p->committed++;
            atomic_fetch_add(&s->sent_ok, 1);
        } else {
            if (p->failed++ == 0)
                fprintf(stderr, "bench_e2e: a post failed: %s\n", tmbus_posted_reason(o));
        }
        tmbus_posted_free(&o);
    }
}

/* Posts message index from p: a need whose description pads the payload
 * to about o->size bytes and whose title carries the send time. */
static int post_one(struct poster *p, const struct options *o, const char *pad, uint64_t index,
                    const char *to)
{
    char title[TITLE_BYTES];
    struct tmbus_need n = {0};
    uint64_t ticket;
    int rc;

    snprintf(title, sizeof(title), TITLE_TAG " %" PRIu64 " %" PRId64, index, now_ns());
    n.sector = TMBUS_SECTOR_ENERGY;
    n.category = TMBUS_CATEGORY_HARDWARE;
    n.title = title;
    n.description = pad;
    n.quantity = 1;
    n.unit = "units";
    n.priority = TMBUS_PRIORITY_MEDIUM;
    n.tlp = TMBUS_TLP_GREEN;
    (void)o;
    rc = tmbus_post_need_send(p->h, &n, &to, 1, false, TMBUS_POST_NOWAIT, CONNECT_MS, &ticket);
    if (rc != TMBUS_OK && rc != TMBUS_EBUSY)
        fprintf(stderr, "bench_e2e: post: %s\n", tmbus_last_error(p->h));
    return rc;
}

/* The posting loop: round-robin over the clients, each up to its window,
 * paced to o->rate when it is set; until count posts were sent or
 * o->seconds passed. Returns the posts sent, or -1. */
static int64_t run_posters(struct poster *ps, const struct options *o, struct sub_state *s,
                           const char *pad, const char *to, int64_t start_ns)
{
    struct pollfd fds[CLIENTS_MAX];
    int64_t end_ns = start_ns + (int64_t)(o->seconds * 1e9);
    uint64_t sent = 0;
    unsigned next = 0;

    for (unsigned c = 0; c < o->clients; c++) {
        fds[c].fd = tmbus_fd(ps[c].h);
        fds[c].events = POLLIN;
    }
    while (sent < o->count && now_ns() < end_ns) {
        int64_t due_ns = o->rate > 0 ? start_ns + (int64_t)((double)sent * 1e9 / o->rate) : 0;
        int64_t now = now_ns();
        bool is_blocked = true;

        for (unsigned c = 0; c < o->clients; c++)
            if (take_outcomes(&ps[c], s) == -1)
                return -1;
        /* Send what is due, one client after the other. */
        for (unsigned tries = 0; tries < o->clients && sent < o->count && due_ns <= now;) {
            struct poster *p = &ps[next];
            int rc;

            next = (next + 1) % o->clients;
            if (tmbus_posts_in_flight(p->h) >= o->window) {
                tries++;
                continue;
            }
            if ((rc = post_one(p, o, pad, sent, to)) == TMBUS_EBUSY) {
                tries++;
                continue;
            }
            if (rc != TMBUS_OK)
                return -1;
            sent++;
            is_blocked = false;
            tries = 0;
            if (o->rate > 0)
                due_ns = start_ns + (int64_t)((double)sent * 1e9 / o->rate);
        }
        /* Sleep until an answer comes or the next post is due. */
        if (is_blocked || due_ns > now_ns()) {
            int64_t wait_ms = 1;
            if (o->rate > 0 && due_ns > now_ns())
                wait_ms = (due_ns - now_ns()) / 1000000;
            poll(fds, o->clients, (int)(wait_ms > 0 ? wait_ms : 0));
        }
    }
    for (unsigned c = 0; c < o->clients; c++) {
        if (tmbus_post_flush(ps[c].h, DRAIN_MS) != TMBUS_OK)
            fprintf(stderr, "bench_e2e: client %u: %s\n", c, tmbus_last_error(ps[c].h));
        if (take_outcomes(&ps[c], s) == -1)
            return -1;
    }
    return (int64_t)sent;
}

int main(int argc, char **argv)
{
    static const char *const ids[] = {"A", "B"};
    struct options o;
    struct fed *f = NULL;
    struct poster ps[CLIENTS_MAX] = {{0}};
    struct sub_state s = {0};
    pthread_t sub_thread;
    bool is_sub_running = false;
    char *pad = NULL;
    double *sorted = NULL;
    int64_t sent = -1, start_ns;
    double cpu_a = 0, cpu_b = 0;
    uint64_t committed = 0, failed = 0, delivered, n_lat = 0;
    int status = 1;

    if (parse(argc, argv, &o) == -1)
        return 2;
    if ((f = fed_new(2, ids)) == NULL || fed_start_all(f) == -1 ||
        fed_wait_links(f, "A", 0, "B", 0, LINK_MS) == -1)
        goto out;
    s.count = o.count;
    if ((s.latency_ms = malloc(o.count * sizeof(double))) == NULL ||
        (sorted = malloc(o.count * sizeof(double))) == NULL || (pad = malloc(o.size + 1)) == NULL)
        goto out;
    for (uint64_t i = 0; i < o.count; i++)
        s.latency_ms[i] = -1;
    /* Printable text that does not compress away anywhere. */
    size_t pad_len = o.size > NEED_OVERHEAD ? o.size - NEED_OVERHEAD : 1;
    for (size_t i = 0; i < pad_len; i++)
        pad[i] = (char)('a' + (i * 7 + i / 26) % 26);
    pad[pad_len] = '\0';
    if ((s.h = connect_client(f, 1)) == NULL)
        goto out;
    if (tmbus_subscribe(s.h, SUB_WINDOW, CONNECT_MS) != TMBUS_OK) {
        fprintf(stderr, "bench_e2e: subscribe: %s\n", tmbus_last_error(s.h));
        goto out;
    }
    for (unsigned c = 0; c < o.clients; c++)
        if ((ps[c].h = connect_client(f, 0)) == NULL ||
            tmbus_post_window(ps[c].h, o.window) != TMBUS_OK)
            goto out;
    fprintf(stderr,
            "bench_e2e: %u client(s) at A, window %u, %zu-byte needs, %" PRIu64
            " messages, rate %.0f/s%s, at most %.0f s\n",
            o.clients, o.window, o.size, o.count, o.rate, o.rate > 0 ? "" : " (open)", o.seconds);
    if (pthread_create(&sub_thread, NULL, subscribe_loop, &s) != 0)
        goto out;
    is_sub_running = true;
    cpu_a = bench_cpu_seconds(fed_pid(f, 0));
    cpu_b = bench_cpu_seconds(fed_pid(f, 1));
    start_ns = now_ns();
    sent = run_posters(ps, &o, &s, pad, fed_id(f, 1), start_ns);
    atomic_store(&s.is_posting_done, true);
    pthread_join(sub_thread, NULL);
    is_sub_running = false;
    cpu_a = bench_cpu_seconds(fed_pid(f, 0)) - cpu_a;
    cpu_b = bench_cpu_seconds(fed_pid(f, 1)) - cpu_b;
    if (sent < 0 || s.rc != 0)
        goto out;
    for (unsigned c = 0; c < o.clients; c++) {
        committed += ps[c].committed;
        failed += ps[c].failed;
    }
    delivered = atomic_load(&s.delivered);
    for (uint64_t i = 0; i < o.count; i++)
        if (s.latency_ms[i] >= 0)
            sorted[n_lat++] = s.latency_ms[i];
    qsort(sorted, n_lat, sizeof(*sorted), bench_compare_double);
    double seconds = (double)((s.last_ns > start_ns ? s.last_ns : now_ns()) - start_ns) / 1e9;
    double p50 = n_lat ? sorted[n_lat / 2] : 0;
    double p99 = n_lat ? sorted[(size_t)((double)(n_lat - 1) * 0.99)] : 0;
    double max = n_lat ? sorted[n_lat - 1] : 0;
    fprintf(stderr,
            "bench_e2e: sent %" PRId64 ", committed at A %" PRIu64 ", failed %" PRIu64
            ", delivered at B %" PRIu64 " in %.2f s\n",
            sent, committed, failed, delivered, seconds);
    uint64_t a_commits = 0, b_commits = 0, a_posted = 0;
    if (fc_counter(ps[0].h, "commit.batches", &a_commits) == TMBUS_OK &&
        fc_counter(ps[0].h, "api.posted", &a_posted) == TMBUS_OK &&
        fc_counter(s.h, "commit.batches", &b_commits) == TMBUS_OK)
        fprintf(stderr,
                "bench_e2e: A committed %" PRIu64 " posts in %" PRIu64
                " transactions (%.1f a commit); B committed %" PRIu64 " transactions\n",
                a_posted, a_commits, a_commits ? (double)a_posted / (double)a_commits : 0,
                b_commits);
    if (delivered > 0)
        fprintf(stderr, "bench_e2e: CPU per message: node A %.0f us, node B %.0f us\n",
                cpu_a * 1e6 / (double)delivered, cpu_b * 1e6 / (double)delivered);
    fprintf(stderr, "bench_e2e: %.0f msgs/s; latency p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
            seconds > 0 ? (double)delivered / seconds : 0, p50, p99, max);
    printf("system=tmbus size=%zu clients=%u rate=%.0f sent=%" PRId64 " delivered=%" PRIu64
           " seconds=%.3f msgs_per_s=%.0f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
           o.size, o.clients, o.rate, sent, delivered, seconds,
           seconds > 0 ? (double)delivered / seconds : 0, p50, p99, max);
    fflush(stdout);
    status = delivered == committed && failed == 0 ? 0 : 1;
    if (status == 0)
        fed_pass(f);
out:
    if (is_sub_running) {
        atomic_store(&s.is_posting_done, true);
        pthread_join(sub_thread, NULL);
    }
    for (unsigned c = 0; c < o.clients; c++)
        tmbus_close(&ps[c].h);
    tmbus_close(&s.h);
    fed_free(&f);
    free(s.latency_ms);
    free(sorted);
    free(pad);
    return status;
}
