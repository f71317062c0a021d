/*
 * bench_relay: messages per second relayed A -> B -> C by real tmbusd
 * processes on loopback, durable at every hop (each node commits before it
 * acks), beside the single-core libsodium Ed25519 verify rate measured in
 * the same run. A's own log is preloaded with N sealed envelopes while the
 * nodes are down; then the line A - B - C starts and the clock runs until
 * C's status shows all N delivered. Each round is a fresh federation; the
 * median of the rounds is printed. A program, never a test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

#define ROUND_TIMEOUT_MS 120000 /* a round that has not finished by then fails */
#define PAYLOAD_TAG      "bench-relay"

/* A's envelopes that reached h's node: its "delivered" counter, not the
 * envelopes it holds, which also count the receipts B and C send A. */
static uint64_t held_by(struct tmbus *h)
{
    struct tmbus_status *s = NULL;
    const struct tmbus_counter *c;
    uint64_t n = 0;

    if (tmbus_status(h, 5000, &s) == TMBUS_OK)
        for (size_t i = 0; (c = tmbus_status_counter_at(s, i)) != NULL; i++)
            if (strcmp(c->name, "delivered") == 0)
                n = c->value;
    tmbus_status_free(&s);
    return n;
}

/* One round: returns messages per second, or a negative value on failure. */
static double round_rate(uint32_t n)
{
    static const char *const ids[] = {"AA", "BB", "CC"};
    struct fed *f = fed_new(3, ids);
    struct tmbus *hc = NULL;
    double rate = -1;
    int64_t t0;

    if (f == NULL || fed_topology_line(f) == -1 || bench_preload(f, n, true, PAYLOAD_TAG) == -1)
        goto out;
    if (fed_start(f, 2) == -1 || fed_start(f, 1) == -1 || (hc = fc_connect(f, 2)) == NULL)
        goto out;
    t0 = fed_now_ms();
    if (fed_start(f, 0) == -1)
        goto out;
    while (held_by(hc) < n) {
        if (fed_now_ms() - t0 > ROUND_TIMEOUT_MS) {
            fprintf(stderr, "bench_relay: round timed out\n");
            goto out;
        }
        fed_sleep_ms(20);
    }
    rate = n * 1000.0 / (double)(fed_now_ms() - t0);
    fed_pass(f);
out:
    tmbus_close(&hc);
    fed_free(&f);
    return rate;
}

/* Single-core Ed25519 verifications per second, bounded in count and time. */
static double verify_rate(void)
{
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    uint8_t msg[512], sig[crypto_sign_BYTES];
    uint32_t done = 0;
    int64_t t0 = fed_now_ms(), elapsed;

    crypto_sign_keypair(pk, sk);
    randombytes_buf(msg, sizeof(msg));
    crypto_sign_detached(sig, NULL, msg, sizeof(msg), sk);
    do {
        for (int i = 0; i < 1000; i++)
            if (crypto_sign_verify_detached(sig, msg, sizeof(msg), pk) != 0)
                abort();
        done += 1000;
        elapsed = fed_now_ms() - t0;
    } while (elapsed < 500 && done < 1000000);
    sodium_memzero(sk, sizeof(sk));
    return done * 1000.0 / (double)(elapsed ? elapsed : 1);
}

int main(int argc, char **argv)
{
    uint32_t n = 20000;
    int rounds = 3;
    double rates[9], verify[9];

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            n = 3000;
            rounds = 1;
        } else {
            fprintf(stderr, "usage: bench_relay [--quick]\n");
            return 64;
        }
    }
    log_init("bench_relay", LOG_LEVEL_WARN);
    if (sodium_init() < 0)
        return 1;
    uint8_t sample[FC_PAYLOAD_MAX];
    printf("relay A -> B -> C, %u envelopes with %zu-byte payloads for B and C, %d round(s)\n", n,
           fc_need(sample, sizeof(sample), FC_TLP_GREEN, PAYLOAD_TAG, n), rounds);
    for (int r = 0; r < rounds; r++) {
        verify[r] = verify_rate();
        if ((rates[r] = round_rate(n)) < 0)
            return 1;
        printf("  round %d: %8.0f msg/s relayed   (verify %8.0f/s)\n", r + 1, rates[r], verify[r]);
    }
    double m = bench_median(rates, (size_t)rounds), v = bench_median(verify, (size_t)rounds);
    printf("median: %.0f msg/s relayed A->B->C durable; single-core Ed25519 verify %.0f/s; "
           "ratio %.2f\n",
           m, v, m / v);
    return 0;
}
