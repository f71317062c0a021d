/*
 * bench_board: a board of 100,000 needs and 300,000 offers (descriptions
 * of 500 bytes, blobs sealed at rest) written straight into a store
 * through the daemon's core library, then timed as the node answers a
 * client: the first page of the needs, one filtered page per filter, an
 * export of everything page by page, the report, the status digest and the
 * board counts /metrics shows. "before" is the whole board read in one
 * pass, as the unpaged query read it for every answer, the digest computed
 * from every row, as each status request computed it before the store kept
 * it, and the rows counted per scrape, as /metrics did before the store
 * kept its counts. Pages are built and packed as api_query.c builds them,
 * minus the socket. Prints the median of ROUNDS runs of each. A program,
 * never a timed test.
 *
 *   bench_board [--quick] [--keep DIR]   (--quick: 10,000 needs, 30,000 offers)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "api.pb-c.h"
#include "api_msg.h"
#include "board.h"
#include "log.h"
#include "payload.pb-c.h"
#include "store.h"

#define ROUNDS     5
#define BATCH      1000 /* rows per commit while filling */
#define DESC_LEN   500
#define N_MEMBERS  14
#define PAGE_LIMIT 100

/* Ids spread like hashes: a counter mixed into 32 bytes. */
static void make_id(uint64_t i, uint8_t salt, uint8_t id[32])
{
    uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ salt;

    for (int k = 0; k < 32; k++) {
        x ^= x >> 29;
        x *= 0xBF58476D1CE4E5B9ull;
        id[k] = (uint8_t)(x >> 56);
    }
}

static uint8_t *pack_need(uint64_t i, const char *desc, size_t *len)
{
    Tmbus__Payload__Need n = TMBUS__PAYLOAD__NEED__INIT;
    char title[64];
    uint8_t *buf;

    snprintf(title, sizeof(title), "need %llu", (unsigned long long)i);
    n.title = title;
    n.description = (char *)desc;
    n.beneficiary = "a hospital";
    n.sector = 1 + (uint32_t)(i % 5);
    n.category = 1 + (uint32_t)(i % 9);
    n.priority = 1 + (uint32_t)(i % 4);
    n.quantity = 10;
    n.unit = "licences";
    n.value_cents = 100000;
    n.tlp = 1 + (uint32_t)(i % 3);
    n.contact = "ops@example.org";
    *len = tmbus__payload__need__get_packed_size(&n);
    buf = malloc(*len);
    tmbus__payload__need__pack(&n, buf);
    return buf;
}

static uint8_t *pack_offer(const uint8_t *need_id, const char *desc, size_t *len)
{
    Tmbus__Payload__Offer o = TMBUS__PAYLOAD__OFFER__INIT;
    uint8_t *buf;

    o.need_id.data = (uint8_t *)need_id;
    o.need_id.len = 32;
    o.quantity = 2;
    o.value_cents = 20000;
    o.description = (char *)desc;
    o.tlp = 3;
    *len = tmbus__payload__offer__get_packed_size(&o);
    buf = malloc(*len);
    tmbus__payload__offer__pack(&o, buf);
    return buf;
}

static int fill(struct store *s, size_t n_needs, size_t n_offers)
{
    char desc[DESC_LEN + 1];

    memset(desc, 'x', DESC_LEN);
    desc[DESC_LEN] = '\0';
    for (size_t i = 0; i < n_needs; i++) {
        struct store_board_need n = {0};
        int ret;

        make_id(i, 1, n.id);
        snprintf(n.owner, sizeof(n.owner), "M%02zu", i % N_MEMBERS);
        n.created_at = 1700000000 + (int64_t)i;
        n.status = 1 + (int)(i % 5);
        n.tlp = 1 + (uint32_t)(i % 3);
        n.category = 1 + (uint32_t)(i % 9);
        n.priority = 1 + (uint32_t)(i % 4);
        n.quantity = 10;
        n.value_cents = 100000;
        n.sector = 1 + (uint32_t)(i % 5);
        n.need = pack_need(i, desc, &n.need_len);
        ret = (i % BATCH == 0 && store_begin(s) != 0) || store_board_need_put(s, &n) != 0 ||
              ((i % BATCH == BATCH - 1 || i == n_needs - 1) && store_commit(s) != 0);
        free(n.need);
        if (ret)
            return -1;
    }
    for (size_t i = 0; i < n_offers; i++) {
        struct store_board_offer o = {0};
        int ret;

        make_id(i, 2, o.id);
        snprintf(o.donor, sizeof(o.donor), "M%02zu", (i + 3) % N_MEMBERS);
        o.created_at = 1700000000 + (int64_t)i;
        o.has_need = true;
        make_id(i % n_needs, 1, o.need_id);
        o.status = 1 + (int)(i % 6);
        o.tlp = 3;
        o.quantity = 2;
        o.value_cents = 20000;
        o.offer = pack_offer(o.need_id, desc, &o.offer_len);
        ret = (i % BATCH == 0 && store_begin(s) != 0) || store_board_offer_put(s, &o) != 0 ||
              ((i % BATCH == BATCH - 1 || i == n_offers - 1) && store_commit(s) != 0);
        free(o.offer);
        if (ret)
            return -1;
    }
    return 0;
}

/* ---- a page as the node builds it ------------------------------------------ */

struct page {
    size_t n, limit, bytes;
    bool is_cut;
    uint8_t last[32];
};

static bool take(struct page *p, size_t len, const uint8_t *id)
{
    if (p->n == p->limit || (p->n > 0 && p->bytes + len + 6 > API_BOARD_PAGE_BYTES)) {
        p->is_cut = true;
        return false;
    }
    p->n++;
    p->bytes += len + 6;
    memcpy(p->last, id, 32);
    return true;
}

static int on_need(void *arg, const struct store_board_need *n)
{
    Tmbus__Api__BoardNeed bn = TMBUS__API__BOARD_NEED__INIT;
    uint8_t *buf;
    size_t len;

    bn.id.data = (uint8_t *)n->id;
    bn.id.len = 32;
    bn.owner = (char *)n->owner;
    bn.need.data = n->need;
    bn.need.len = n->need_len;
    bn.status = (char *)board_need_status_name(n->status);
    len = tmbus__api__board_need__get_packed_size(&bn);
    if (!take(arg, len, n->id))
        return 1;
    buf = malloc(len);
    tmbus__api__board_need__pack(&bn, buf);
    free(buf);
    return 0;
}

static int on_offer(void *arg, const struct store_board_offer *o)
{
    Tmbus__Api__BoardOffer bo = TMBUS__API__BOARD_OFFER__INIT;
    uint8_t *buf;
    size_t len;

    bo.id.data = (uint8_t *)o->id;
    bo.id.len = 32;
    bo.donor = (char *)o->donor;
    bo.offer.data = o->offer;
    bo.offer.len = o->offer_len;
    bo.status = (char *)board_offer_status_name(o->status);
    len = tmbus__api__board_offer__get_packed_size(&bo);
    if (!take(arg, len, o->id))
        return 1;
    buf = malloc(len);
    tmbus__api__board_offer__pack(&bo, buf);
    free(buf);
    return 0;
}

/* One page: f->limit is the page's size; returns items, -1 on error. */
static long one_page(struct store *s, struct store_board_filter f, bool is_offers, uint8_t *next,
                     bool *has_next)
{
    struct page p = {.limit = f.limit};
    int rc;

    f.limit++;
    rc = is_offers ? store_board_page_offers(s, &f, on_offer, &p)
                   : store_board_page_needs(s, &f, on_need, &p);
    if (rc < 0)
        return -1;
    *has_next = p.is_cut;
    if (next != NULL)
        memcpy(next, p.last, 32);
    return (long)p.n;
}

/* Every page of a list; returns the items seen, -1 on error. */
static long all_pages(struct store *s, bool is_offers)
{
    struct store_board_filter f = {.clearance = 5, .need_status = -1, .limit = API_BOARD_PAGE_MAX};
    uint8_t after[32];
    bool has_next = true;
    long total = 0, n;

    while (has_next) {
        if ((n = one_page(s, f, is_offers, after, &has_next)) < 0)
            return -1;
        total += n;
        f.after = after;
    }
    return total;
}

static int count_need(void *arg, const struct store_board_need *n)
{
    (void)n;
    (*(long *)arg)++;
    return 0;
}

static int count_offer(void *arg, const struct store_board_offer *o)
{
    (void)o;
    (*(long *)arg)++;
    return 0;
}

/* ---- the cases --------------------------------------------------------- */

static const int st_open[] = {1};
static const uint32_t cat_3[] = {3};
static const uint32_t prio_1[] = {1};
static const char *const owner_m5[] = {"M05"};
static const int st_accepted[] = {2};
static uint8_t need_0[32];

struct bench_case {
    const char *name;
    bool is_offers;
    struct store_board_filter f;
};

static void run_cases(struct store *s)
{
    struct bench_case cases[] = {
        {"needs: first page", false, {.clearance = 5, .need_status = -1}},
        {"needs: --status open",
         false,
         {.clearance = 5, .need_status = -1, .statuses = st_open, .n_statuses = 1}},
        {"needs: --category 3",
         false,
         {.clearance = 5, .need_status = -1, .categories = cat_3, .n_categories = 1}},
        {"needs: --owner M05",
         false,
         {.clearance = 5, .need_status = -1, .members = owner_m5, .n_members = 1}},
        {"needs: --priority critical",
         false,
         {.clearance = 5, .need_status = -1, .priorities = prio_1, .n_priorities = 1}},
        {"needs: --since (now - 1 h)",
         false,
         {.clearance = 5, .need_status = -1, .updated_since = (int64_t)time(NULL) - 3600}},
        {"needs: clearance green", false, {.clearance = 2, .need_status = -1}},
        {"offers: first page", true, {.clearance = 5, .need_status = -1}},
        {"offers: --need ID", true, {.clearance = 5, .need_status = -1, .need_id = need_0}},
        {"offers: --status accepted",
         true,
         {.clearance = 5, .need_status = -1, .statuses = st_accepted, .n_statuses = 1}},
        {"offers: --donor M05",
         true,
         {.clearance = 5, .need_status = -1, .members = owner_m5, .n_members = 1}},
        {"offers: clearance green", true, {.clearance = 2, .need_status = -1}},
    };

    make_id(0, 1, need_0);
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        double t[ROUNDS];
        long n = 0;
        bool has_next;
        cases[c].f.limit = PAGE_LIMIT;
        for (int r = 0; r < ROUNDS; r++) {
            double t0 = bench_now();
            n = one_page(s, cases[c].f, cases[c].is_offers, NULL, &has_next);
            t[r] = bench_now() - t0;
        }
        printf("  %-30s %4ld items  %8.2f ms\n", cases[c].name, n, 1e3 * bench_median(t, ROUNDS));
    }
}

int main(int argc, char **argv)
{
    static const uint8_t key[STORE_KEY_BYTES] = {42};
    size_t n_needs = 100000, n_offers = 300000;
    char tmp[] = "/tmp/tmbus-bench-XXXXXX", path[600];
    const char *dir = NULL;
    bool is_kept = false;
    double t[ROUNDS], t0;
    struct store *s;
    long n;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            n_needs = 10000;
            n_offers = 30000;
        } else if (strcmp(argv[i], "--keep") == 0 && i + 1 < argc) {
            dir = argv[++i];
            is_kept = true;
        } else {
            fprintf(stderr, "usage: bench_board [--quick] [--keep DIR]\n");
            return 64;
        }
    }
    log_init("bench_board", LOG_LEVEL_WARN);
    if (dir == NULL && (dir = mkdtemp(tmp)) == NULL)
        return 1;
    if ((s = store_open(dir, key)) == NULL)
        return 1;
    if (store_board_need_get(s, (uint8_t[32]){0}, &(struct store_board_need){0}) < 0)
        return 1;
    {
        long have = 0;
        struct store_board_filter f = {.clearance = 5, .need_status = -1, .limit = 1};
        if (store_board_page_needs(s, &f, count_need, &have) < 0)
            return 1;
        if (have == 0) {
            printf("filling %zu needs and %zu offers (%d-byte descriptions) in %s\n", n_needs,
                   n_offers, DESC_LEN, dir);
            t0 = bench_now();
            if (fill(s, n_needs, n_offers) != 0) {
                fprintf(stderr, "filling the store failed\n");
                return 1;
            }
            printf("  filled in %.1f s\n", bench_now() - t0);
        }
    }
    /* As the node does before serving: a store filled by an older build
     * gets its digest's sum here, once. */
    t0 = bench_now();
    if (board_upgrade(s) != 0)
        return 1;
    printf("  upgrade on open: %.1f ms\n", 1e3 * (bench_now() - t0));
    printf("one page of %d, median of %d runs:\n", PAGE_LIMIT, ROUNDS);
    run_cases(s);
    for (int r = 0; r < ROUNDS; r++) {
        t0 = bench_now();
        n = all_pages(s, false);
        n += all_pages(s, true);
        t[r] = bench_now() - t0;
    }
    printf("  %-30s %ld items  %8.1f ms (pages of %d)\n", "export: every page", n,
           1e3 * bench_median(t, ROUNDS), API_BOARD_PAGE_MAX);
    for (int r = 0; r < ROUNDS; r++) {
        struct board_report br;
        t0 = bench_now();
        if (board_report(s, 5, (int64_t)time(NULL), &br) != 0)
            return 1;
        t[r] = bench_now() - t0;
        if (r == 0)
            printf("  (report: %zu open needs, %zu donors)\n", br.n_open, br.n_donors);
        board_report_free(&br);
    }
    printf("  %-30s %8.1f ms\n", "report", 1e3 * bench_median(t, ROUNDS));
    for (int r = 0; r < 3; r++) {
        uint8_t digest[32];
        t0 = bench_now();
        if (board_digest(s, digest) != 0)
            return 1;
        t[r] = bench_now() - t0;
    }
    printf("  %-30s %8.1f ms (median of 3)\n", "status board digest", 1e3 * bench_median(t, 3));
    /* Before: the digest (version 2) hashed every row, opened, per status. */
    for (int r = 0; r < 3; r++) {
        uint8_t sum[STORE_BOARD_DIGEST_BYTES];
        t0 = bench_now();
        if (store_board_digest_compute(s, sum) != 0)
            return 1;
        t[r] = bench_now() - t0;
    }
    printf("  %-30s %8.1f ms (median of 3)\n", "before: digest from every row",
           1e3 * bench_median(t, 3));
    /* /metrics: the counts by status the store keeps, against counting
     * the rows per scrape as the endpoint did before schema 17. */
    for (int r = 0; r < ROUNDS; r++) {
        struct store_board_counts c;
        t0 = bench_now();
        if (store_board_count(s, &c) != 0)
            return 1;
        t[r] = bench_now() - t0;
    }
    printf("  %-30s %8.3f ms\n", "metrics board counts", 1e3 * bench_median(t, ROUNDS));
    for (int r = 0; r < ROUNDS; r++) {
        struct store_board_counts c;
        t0 = bench_now();
        if (store_board_recount(s, &c) != 0)
            return 1;
        t[r] = bench_now() - t0;
    }
    printf("  %-30s %8.1f ms\n", "before: count(*) per scrape", 1e3 * bench_median(t, ROUNDS));
    /* Before: the unpaged query read the whole board for every answer. */
    for (int r = 0; r < 3; r++) {
        long nn = 0, no = 0;
        t0 = bench_now();
        if (store_board_each_need(s, NULL, -1, count_need, &nn) != 0 ||
            store_board_each_offer(s, NULL, count_offer, &no) != 0)
            return 1;
        t[r] = bench_now() - t0;
        n = nn + no;
    }
    printf("  %-30s %ld items  %8.1f ms (median of 3)\n", "before: whole board, one read", n,
           1e3 * bench_median(t, 3));
    store_close(&s);
    if (!is_kept) {
        static const char *const names[] = {"tmbus.db", "tmbus.db-wal", "tmbus.db-shm",
                                            "tmbus.lock"};
        for (size_t i = 0; i < 4; i++) {
            snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
            unlink(path);
        }
        rmdir(dir);
    }
    return 0;
}
