/*
 * bench_admission: what choosing the needs owed to a new member costs
 * through the store, for an owner with many open needs (PROTOCOL.md 6.7):
 * the pages of ADMISSION_ROUND_MAX needs admission.c reads per loop
 * round, with each need's recipients (its is_owed check). Sealing a share
 * costs what any post does (bench_e2e). Each round uses a fresh store;
 * the medians of the rounds are printed. A program, never a timed test.
 *
 *   bench_admission [--quick]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admission.h"
#include "bench_util.h"
#include "board.h"
#include "envelope.h"
#include "log.h"
#include "store.h"

#define ROUNDS   3
#define BLOB_LEN 512 /* a typical serialized need */
#define BATCH    1000

static const char *const members[] = {"UA", "EE", "PL", "LT"};
#define N_MEMBERS 4

/* n open needs of UA, each with its posting message and its recipients. */
static int fill(struct store *s, size_t n)
{
    uint8_t blob[BLOB_LEN];

    memset(blob, 'n', sizeof(blob));
    for (size_t i = 0; i < n; i++) {
        struct store_board_need need = {0};
        struct store_board_update u = {0};

        memcpy(need.id, &i, sizeof(i));
        need.id[31] = 1;
        strcpy(need.owner, "UA");
        need.created_at = 1700000000 + (int64_t)i;
        need.status = BOARD_NEED_OPEN;
        need.tlp = MESSAGE_TLP_AMBER;
        need.quantity = 1;
        need.need = blob;
        need.need_len = sizeof(blob);
        memcpy(u.id, need.id, sizeof(u.id));
        memcpy(u.target, need.id, sizeof(u.target));
        strcpy(u.log.origin, "UA");
        strcpy(u.sender, "UA");
        u.seq = i + 1;
        u.created_at = need.created_at;
        u.kind = 3; /* a need, as board.c files it */
        u.body = blob;
        u.body_len = sizeof(blob);
        if ((i % BATCH == 0 && store_begin(s) != 0) || store_board_need_put(s, &need) != 0 ||
            store_board_update_put(s, &u) != 0)
            return -1;
        for (size_t k = 0; k < N_MEMBERS; k++)
            if (store_delivery_add(s, need.id, need.id, members[k], 0, need.created_at) != 0)
                return -1;
        if ((i % BATCH == BATCH - 1 || i == n - 1) && store_commit(s) != 0)
            return -1;
    }
    return 0;
}

/* Walks every page as admission.c does; *page_ms gets the slowest page. */
static int walk(struct store *s, size_t n, double *per_s, double *page_ms)
{
    struct store_admission_need page[ADMISSION_ROUND_MAX];
    struct store_delivery d[ENVELOPE_MAX_RECIPIENTS];
    struct store_admission_query q = {"UA", BOARD_NEED_OPEN, BOARD_NEED_PARTIALLY_COVERED,
                                      MESSAGE_TLP_AMBER_STRICT, NULL};
    uint8_t after[STORE_HASH_BYTES];
    size_t got = 0, k, nd;
    double t0 = bench_now(), p0;

    *page_ms = 0;
    do {
        p0 = bench_now();
        if (store_admission_needs(s, &q, ADMISSION_ROUND_MAX, page, &k) != 0)
            return -1;
        for (size_t i = 0; i < k; i++)
            if (store_delivery_get(s, page[i].id, d, ENVELOPE_MAX_RECIPIENTS, &nd) != 0 ||
                nd != N_MEMBERS)
                return -1;
        if (k > 0) {
            memcpy(after, page[k - 1].id, sizeof(after));
            q.after = after;
        }
        got += k;
        if ((bench_now() - p0) * 1000 > *page_ms)
            *page_ms = (bench_now() - p0) * 1000;
    } while (k == ADMISSION_ROUND_MAX);
    *per_s = (double)got / (bench_now() - t0);
    return got == n ? 0 : -1;
}

static int one_round(size_t n, double *per_s, double *page_ms)
{
    static const uint8_t key[STORE_KEY_BYTES] = {42};
    char dir[] = "/tmp/tmbus-bench-XXXXXX", path[64];
    struct store *s;
    int rc = -1;

    if (mkdtemp(dir) == NULL || (s = store_open(dir, key)) == NULL)
        return -1;
    if (fill(s, n) == 0 && walk(s, n, per_s, page_ms) == 0)
        rc = 0;
    store_close(&s);
    for (size_t i = 0; i < 4; i++) {
        static const char *const names[] = {"tmbus.db", "tmbus.db-wal", "tmbus.db-shm",
                                            "tmbus.lock"};
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
    return rc;
}

int main(int argc, char **argv)
{
    size_t n = 100000;
    double per_s[ROUNDS], page_ms[ROUNDS];

    if (argc == 2 && strcmp(argv[1], "--quick") == 0) {
        n = 5000;
    } else if (argc != 1) {
        fprintf(stderr, "usage: bench_admission [--quick]\n");
        return 64;
    }
    log_init("bench_admission", LOG_LEVEL_WARN);
    for (int r = 0; r < ROUNDS; r++) {
        if (one_round(n, &per_s[r], &page_ms[r]) != 0) {
            fprintf(stderr, "round %d failed\n", r + 1);
            return 1;
        }
        printf("  round %d: %9.0f needs/s chosen, slowest page of %d: %.2f ms\n", r + 1, per_s[r],
               ADMISSION_ROUND_MAX, page_ms[r]);
    }
    printf("median over %d rounds of %zu open needs: %.0f needs/s, slowest page %.2f ms\n", ROUNDS,
           n, bench_median(per_s, ROUNDS), bench_median(page_ms, ROUNDS));
    return 0;
}
