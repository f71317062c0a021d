/*
 * bench_retention: what retention costs a node, through the store alone.
 * (1) Appends of 1 KiB envelopes in committed batches of 256, once never
 * expiring and once expiring (the second pays the partial index of schema
 * 16); (2) retention rounds of [retention] batch envelopes, each in its
 * own committed batch as the node runs them: milliseconds a round (how long
 * the loop is held), envelopes pruned per second, bytes freed, and the
 * free-list bytes SQLite got back. The prune function is envelope_prune
 * over real sealed envelopes of the payload size asked. Medians of the
 * rounds; a fresh store per run. Never run by ctest.
 *
 *   bench_retention [-n N] [--batch B] [--payload BYTES]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "bench_util.h"
#include "envelope.h"
#include "keys.h"
#include "log.h"
#include "store.h"

#define APPEND_BATCH 256
#define PATH_BYTES   512
#define MAX_ROUNDS   100000

__attribute__((noreturn)) static void die(const char *what)
{
    fprintf(stderr, "bench_retention: %s\n", what);
    exit(1);
}

/* Seals seq of the sender's relayed log into *out. */
static void seal_one(struct envelope_keyring *kr, const struct keyset *self, uint64_t seq,
                     const uint8_t *prev, int64_t expires_at, size_t payload_len, uint8_t **out,
                     size_t *out_len, struct envelope_info *info)
{
    static uint8_t payload[ENVELOPE_MAX_PAYLOAD];
    struct envelope_recipient r = {"BB", self->box_pk};
    struct envelope_seal_args a = {
        .coalition = "bench",
        .seq = seq,
        .prev_hash = seq > 1 ? prev : NULL,
        .roster_version = 1,
        .created_at = 1,
        .expires_at = expires_at,
        .payload = payload,
        .payload_len = payload_len,
        .recipients = &r,
        .n_recipients = 1,
    };

    if (envelope_seal(kr, &a, out, out_len, info) != ENVELOPE_OK)
        die("envelope_seal failed");
}

/* Appends n envelopes; returns the seconds it took. */
static double fill(struct store *s, struct envelope_keyring *kr, const struct keyset *self,
                   size_t n, int64_t expires_at, size_t payload_len)
{
    struct store_log log = {.origin = "AA"};
    uint8_t prev[ENVELOPE_HASH_BYTES] = {0};
    double start = bench_now(), sealing = 0;

    for (size_t i = 0; i < n; i++) {
        struct envelope_info info;
        uint8_t *env;
        size_t len;
        double t0 = bench_now();

        seal_one(kr, self, i + 1, prev, expires_at, payload_len, &env, &len, &info);
        sealing += bench_now() - t0;
        if (i % APPEND_BATCH == 0 && store_begin(s) != 0)
            die("store_begin");
        {
            struct store_entry e = {.log = log,
                                    .seq = i + 1,
                                    .id = info.id,
                                    .prev = i > 0 ? prev : NULL,
                                    .expires_at = expires_at,
                                    .envelope = env,
                                    .envelope_len = len};
            if (store_append(s, &e) != 0)
                die("store_append");
        }
        memcpy(prev, info.id, sizeof(prev));
        free(env);
        if ((i + 1) % APPEND_BATCH == 0 || i + 1 == n)
            if (store_commit(s) != 0)
                die("store_commit");
    }
    return bench_now() - start - sealing;
}

static struct store *fresh(char *dir, const uint8_t *key)
{
    snprintf(dir, PATH_BYTES, "/tmp/bench-retention-XXXXXX");
    if (mkdtemp(dir) == NULL)
        die("mkdtemp");
    strcat(dir, "/data");
    return store_open(dir, key);
}

/* Removes the temporary directory that holds dir (its "/data"). */
static void remove_dir(const char *dir)
{
    char cmd[PATH_BYTES + 32];
    int parent = (int)(strrchr(dir, '/') - dir);

    snprintf(cmd, sizeof(cmd), "rm -rf '%.*s'", parent, dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_retention: could not remove %s\n", dir);
}

int main(int argc, char **argv)
{
    size_t n = 20000, batch = 64, payload = 900;
    uint8_t key[STORE_KEY_BYTES], seed[32];
    char dir[PATH_BYTES];
    struct keyset *self;
    struct envelope_keyring *kr = NULL;
    struct store *s;
    double t_plain, t_expiring, *ms, *work_ms;
    size_t rounds = 0;
    uint64_t pruned = 0, freed = 0, free_before = 0, free_after = 0;
    struct store_retention_cursor cur = {0};
    int64_t now = (int64_t)time(NULL);

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            n = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc)
            batch = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--payload") == 0 && i + 1 < argc)
            payload = strtoul(argv[++i], NULL, 10);
        else
            die("usage: bench_retention [-n N] [--batch B] [--payload BYTES]");
    }
    if (n == 0 || batch == 0 || payload > ENVELOPE_MAX_PAYLOAD)
        die("bad arguments");
    log_init("bench_retention", LOG_LEVEL_WARN);
    if (sodium_init() < 0)
        die("sodium_init");
    randombytes_buf(key, sizeof(key));
    randombytes_buf(seed, sizeof(seed));
    if ((self = keys_from_seed(KEYS_MEMBER, "AA", seed)) == NULL ||
        (kr = envelope_keyring_new(self)) == NULL)
        die("keys");

    if ((s = fresh(dir, key)) == NULL)
        die("store_open");
    t_plain = fill(s, kr, self, n, 0, payload);
    store_close(&s);
    remove_dir(dir);

    if ((s = fresh(dir, key)) == NULL)
        die("store_open");
    t_expiring = fill(s, kr, self, n, now - 10, payload);
    if ((ms = calloc(MAX_ROUNDS, sizeof(*ms))) == NULL ||
        (work_ms = calloc(MAX_ROUNDS, sizeof(*work_ms))) == NULL)
        die("calloc");
    store_free_bytes(s, &free_before);
    for (;;) {
        struct store_retention_rules r = {.now = now, .expired_before = now, .max_rows = batch};
        struct store_retention_result res;
        double t0 = bench_now(), t1;

        if (store_begin(s) != 0 || store_retention_round(s, &r, envelope_prune, &cur, &res) != 0)
            die("retention round");
        t1 = bench_now();
        if (store_commit(s) != 0)
            die("retention commit");
        if (res.examined == 0)
            break;
        if (rounds < MAX_ROUNDS) {
            work_ms[rounds] = (t1 - t0) * 1000;
            ms[rounds++] = (bench_now() - t0) * 1000;
        }
        pruned += res.pruned;
        freed += res.bytes_freed;
    }
    store_free_bytes(s, &free_after);
    {
        double total = 0, median;
        for (size_t i = 0; i < rounds; i++)
            total += ms[i];
        median = bench_median(ms, rounds);
        printf("envelopes            %zu of %zu payload bytes\n", n, payload);
        printf("append, no expiry    %.0f envelopes/s (store only, sealing not counted)\n",
               (double)n / t_plain);
        printf("append, expiring     %.0f envelopes/s (the partial index of schema 16)\n",
               (double)n / t_expiring);
        printf("retention rounds     %zu of %zu envelopes: median %.2f ms without the commit"
               " (what a node's loop round adds), %.2f ms with it\n",
               rounds, batch, bench_median(work_ms, rounds), median);
        printf("pruned               %llu envelopes, %.0f envelopes/s\n",
               (unsigned long long)pruned, (double)pruned / (total / 1000));
        printf("bytes freed          %llu (rows), free list %llu -> %llu bytes\n",
               (unsigned long long)freed, (unsigned long long)free_before,
               (unsigned long long)free_after);
    }
    free(ms);
    free(work_ms);
    store_close(&s);
    remove_dir(dir);
    envelope_keyring_free(&kr);
    keys_free(&self);
    return 0;
}
