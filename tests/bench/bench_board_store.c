/*
 * bench_board_store: what the board's table costs through the store, with
 * its blobs sealed at rest: needs of a typical size put in committed
 * batches, then every need read back (each blob opened), and the seal and
 * open of one blob on their own. Each round uses a fresh store in a
 * temporary directory; the median of the rounds is printed. A program,
 * never a timed test.
 *
 *   bench_board_store [--quick]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "log.h"
#include "store.h"

#define ROUNDS   5
#define BLOB_LEN 512 /* a typical serialized need */
#define BATCH    100 /* needs per commit, as a busy loop round might */

static int count(void *arg, const struct store_board_need *n)
{
    (void)n;
    (*(size_t *)arg)++;
    return 0;
}

/* One round of n needs: puts per second into *put, reads per second into
 * *get. Returns 0 or -1. */
static int one_round(size_t n, double *put, double *get)
{
    static const uint8_t key[STORE_KEY_BYTES] = {42};
    char dir[] = "/tmp/tmbus-bench-XXXXXX", path[64];
    uint8_t blob[BLOB_LEN];
    struct store *s;
    size_t seen = 0;
    double t0;
    int rc = -1;

    if (mkdtemp(dir) == NULL || (s = store_open(dir, key)) == NULL)
        return -1;
    for (size_t i = 0; i < sizeof(blob); i++)
        blob[i] = (uint8_t)('a' + i % 26);
    t0 = bench_now();
    for (size_t i = 0; i < n; i++) {
        struct store_board_need need = {0};

        memcpy(need.id, &i, sizeof(i));
        strcpy(need.owner, "UA");
        need.created_at = (int64_t)i;
        need.status = 1;
        need.tlp = 3;
        need.quantity = 1;
        need.need = blob;
        need.need_len = sizeof(blob);
        if ((i % BATCH == 0 && store_begin(s) != 0) || store_board_need_put(s, &need) != 0 ||
            ((i % BATCH == BATCH - 1 || i == n - 1) && store_commit(s) != 0))
            goto out;
    }
    *put = (double)n / (bench_now() - t0);
    t0 = bench_now();
    if (store_board_each_need(s, NULL, -1, count, &seen) != 0 || seen != n)
        goto out;
    *get = (double)n / (bench_now() - t0);
    rc = 0;
out:
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
    size_t n = 20000;
    double put[ROUNDS], get[ROUNDS];

    if (argc == 2 && strcmp(argv[1], "--quick") == 0) {
        n = 2000;
    } else if (argc != 1) {
        fprintf(stderr, "usage: bench_board_store [--quick]\n");
        return 64;
    }
    log_init("bench_board_store", LOG_LEVEL_WARN);
    for (int r = 0; r < ROUNDS; r++) {
        if (one_round(n, &put[r], &get[r]) != 0) {
            fprintf(stderr, "round %d failed\n", r + 1);
            return 1;
        }
        printf("  round %d: %9.0f puts/s (in batches of %d)  %9.0f reads/s\n", r + 1, put[r], BATCH,
               get[r]);
    }
    printf("median over %d rounds of %zu needs of %d bytes: %.0f puts/s, %.0f reads/s\n", ROUNDS, n,
           BLOB_LEN, bench_median(put, ROUNDS), bench_median(get, ROUNDS));
    return 0;
}
