/*
 * Integration: a board larger than one reply, read page by page from a
 * real node through libtmbus and through the tmbus CLI. The node's store
 * is filled before it starts (3,000 needs with 500-byte descriptions and
 * 1,500 offers, written through the store as the board would write them,
 * sealed under the member's key), its client cleared for AMBER only. The
 * test checks that paging (the library's pages, the old whole-board call,
 * the CLI's list and export) sees every need and offer within the
 * clearance exactly once, in id order, and nothing above it, also while a
 * need is posted between two pages; that each filter returns exactly the
 * items it names; that a page stops at the node's byte limit; and that a
 * bad cursor or filter is refused with a reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#ifndef TMBUS_CLI_BIN
#error "TMBUS_CLI_BIN (the path of the tmbus binary) is not defined"
#endif

#include "clitest.h"
#include "fedclient.h"
#include "payload.pb-c.h"
#include "store.h"
#include "tmbus.h"

#define N_NEEDS  3000
#define N_OFFERS 1500
#define DESC_LEN 500
#define SEEN_MAX (N_NEEDS > N_OFFERS ? N_NEEDS : N_OFFERS)

struct board_test {
    struct fed *f;
    char conf[1][FED_PATH_MAX];
    struct tmbus *h;
};

/* Item i's id: its index in the first two bytes (so ids sort by index and
 * a test reads the index back), then a fixed tail per kind. */
static void item_id(int i, bool is_offer, uint8_t id[32])
{
    memset(id, is_offer ? 0xEE : 0x5A, 32);
    id[0] = (uint8_t)(i >> 8);
    id[1] = (uint8_t)i;
}

static int item_index(const uint8_t id[32])
{
    return id[0] << 8 | id[1];
}

/* The generator's facts: what a filter or the clearance keeps. */
static uint32_t need_tlp(int i)
{
    return i % 10 == 0 ? 5 : 1 + (uint32_t)(i % 3); /* every tenth TLP:RED */
}
static int need_status(int i)
{
    return 1 + i % 5;
}
static uint32_t need_category(int i)
{
    return 1 + (uint32_t)(i % 9);
}
static uint32_t need_priority(int i)
{
    return 1 + (uint32_t)(i % 4);
}
static const char *need_owner(int i)
{
    return i % 2 ? "EE" : "UA";
}
static bool is_need_visible(int i)
{
    return need_tlp(i) <= 3;
}
static int offer_need(int j)
{
    return (j * 7) % N_NEEDS;
}
static uint32_t offer_tlp(int j)
{
    return 1 + (uint32_t)(j % 4); /* AMBER+STRICT every fourth */
}
static bool is_offer_visible(int j)
{
    return offer_tlp(j) <= 3 && is_need_visible(offer_need(j));
}

static uint8_t *packed_need(int i, size_t *len)
{
    Tmbus__Payload__Need n = TMBUS__PAYLOAD__NEED__INIT;
    char title[32], desc[DESC_LEN + 1];
    uint8_t *buf;

    snprintf(title, sizeof(title), "need %d", i);
    memset(desc, 'a' + i % 26, DESC_LEN);
    desc[DESC_LEN] = '\0';
    n.title = title;
    n.description = desc;
    n.beneficiary = "a hospital";
    n.sector = 1;
    n.category = need_category(i);
    n.priority = need_priority(i);
    n.quantity = 10;
    n.unit = "licences";
    n.tlp = need_tlp(i);
    *len = tmbus__payload__need__get_packed_size(&n);
    assert_non_null(buf = malloc(*len));
    tmbus__payload__need__pack(&n, buf);
    return buf;
}

static uint8_t *packed_offer(int j, size_t *len)
{
    Tmbus__Payload__Offer o = TMBUS__PAYLOAD__OFFER__INIT;
    uint8_t need_id[32], *buf;
    char desc[DESC_LEN + 1];

    item_id(offer_need(j), false, need_id);
    memset(desc, 'z', DESC_LEN);
    desc[DESC_LEN] = '\0';
    o.need_id.data = need_id;
    o.need_id.len = 32;
    o.quantity = 1;
    o.description = desc;
    o.tlp = offer_tlp(j);
    *len = tmbus__payload__offer__get_packed_size(&o);
    assert_non_null(buf = malloc(*len));
    tmbus__payload__offer__pack(&o, buf);
    return buf;
}

static void fill(struct fed *f)
{
    struct store *s = fed_store_open(f, 0);

    assert_non_null(s);
    assert_int_equal(store_begin(s), 0);
    for (int i = 0; i < N_NEEDS; i++) {
        struct store_board_need n = {0};
        item_id(i, false, n.id);
        strcpy(n.owner, need_owner(i));
        n.created_at = 1700000000 + i;
        n.status = need_status(i);
        n.tlp = need_tlp(i);
        n.category = need_category(i);
        n.priority = need_priority(i);
        n.quantity = 10;
        n.need = packed_need(i, &n.need_len);
        assert_int_equal(store_board_need_put(s, &n), 0);
        free(n.need);
    }
    for (int j = 0; j < N_OFFERS; j++) {
        struct store_board_offer o = {0};
        item_id(j, true, o.id);
        strcpy(o.donor, j % 3 ? "EE" : "UA");
        o.created_at = 1700000000 + j;
        o.has_need = true;
        item_id(offer_need(j), false, o.need_id);
        o.status = 1 + j % 6;
        o.tlp = offer_tlp(j);
        o.quantity = 1;
        o.offer = packed_offer(j, &o.offer_len);
        assert_int_equal(store_board_offer_put(s, &o), 0);
        free(o.offer);
    }
    assert_int_equal(store_commit(s), 0);
    store_close(&s);
}

static int setup(void **state)
{
    static const char *const ids[] = {"UA"};
    struct board_test *t = calloc(1, sizeof(*t));
    char text[4 * FED_PATH_MAX];

    assert_non_null(t);
    *state = t;
    assert_non_null(t->f = fed_new(1, ids));
    assert_int_equal(fed_set_clearance(t->f, 0, "amber"), 0);
    fill(t->f);
    snprintf(t->conf[0], FED_PATH_MAX, "%s/UA-client.conf", fed_dir(t->f));
    snprintf(text, sizeof(text),
             "# tmbus client configuration\n[client]\nendpoint = %s\nnode_key = %s\nkey = %s\n",
             fed_client_endpoint(t->f, 0), fed_member_pub_path(t->f, 0),
             fed_client_key_path(t->f, 0));
    clitest_write_file(t->conf[0], text);
    assert_int_equal(fed_start(t->f, 0), 0);
    assert_non_null(t->h = fc_connect(t->f, 0));
    return 0;
}

static int teardown(void **state)
{
    struct board_test *t = *state;

    if (t == NULL)
        return 0;
    tmbus_close(&t->h);
    fed_free(&t->f);
    free(t);
    return 0;
}

/* Every page of q into seen[] (by index), checking id order; returns the
 * number of items; *pages and *short_pages count pages and pages that
 * stopped before the limit while a next page followed. */
static size_t walk(struct tmbus *h, struct tmbus_board_query q, int *seen, int *pages,
                   int *short_pages, const uint8_t *extra_id, int *extra_seen)
{
    char after[TMBUS_BOARD_CURSOR_BYTES] = "";
    uint8_t last[32] = {0};
    size_t total = 0;

    memset(seen, 0, SEEN_MAX * sizeof(*seen));
    *pages = *short_pages = 0;
    if (extra_seen != NULL)
        *extra_seen = 0;
    do {
        struct tmbus_board *b = NULL;
        bool is_offers = q.list == TMBUS_BOARD_OFFERS;
        size_t n;
        q.after = after;
        if (tmbus_board_query(h, &q, FC_CALL_MS, &b) != TMBUS_OK)
            fail_msg("board query: %s", tmbus_last_error(h));
        n = is_offers ? tmbus_board_offer_count(b) : tmbus_board_need_count(b);
        assert_int_equal(is_offers ? tmbus_board_need_count(b) : tmbus_board_offer_count(b), 0);
        for (size_t i = 0; i < n; i++) {
            const uint8_t *id =
                is_offers ? tmbus_board_offer_at(b, i)->id : tmbus_board_need_at(b, i)->id;
            assert_true(memcmp(last, id, 32) < 0);
            memcpy(last, id, 32);
            if (extra_id != NULL && memcmp(id, extra_id, 32) == 0)
                (*extra_seen)++;
            else
                seen[item_index(id)]++;
        }
        total += n;
        (*pages)++;
        snprintf(after, sizeof(after), "%s", tmbus_board_next(b));
        if (after[0] != '\0' && n < (q.limit ? q.limit : 100))
            (*short_pages)++;
        tmbus_board_free(&b);
    } while (after[0] != '\0');
    return total;
}

/* Pages see every visible need and offer once and nothing hidden; a page
 * of 1,000 stops early at the byte limit; the old whole-board call reads
 * them all through pages too. */
static void test_every_item_once(void **state)
{
    struct board_test *t = *state;
    struct tmbus_board_query q = {.list = TMBUS_BOARD_NEEDS, .limit = TMBUS_BOARD_PAGE_MAX};
    static int seen[SEEN_MAX];
    struct tmbus_board *b = NULL;
    int pages, short_pages;
    size_t visible = 0;

    walk(t->h, q, seen, &pages, &short_pages, NULL, NULL);
    for (int i = 0; i < N_NEEDS; i++) {
        assert_int_equal(seen[i], is_need_visible(i) ? 1 : 0);
        visible += is_need_visible(i);
    }
    /* 2,700 needs of over 500 bytes do not fit one reply. */
    assert_true(pages >= 3);
    assert_true(short_pages >= 1);
    q.list = TMBUS_BOARD_OFFERS;
    q.limit = 0;
    walk(t->h, q, seen, &pages, &short_pages, NULL, NULL);
    for (int j = 0; j < N_OFFERS; j++)
        assert_int_equal(seen[j], is_offer_visible(j) ? 1 : 0);
    assert_int_equal(tmbus_board(t->h, NULL, NULL, FC_CALL_MS, &b), TMBUS_OK);
    assert_int_equal(tmbus_board_need_count(b), visible);
    tmbus_board_free(&b);
    fed_pass(t->f);
}

/* A need posted between two pages: the items that were there come once
 * each, and the new one at most once. */
static void test_insert_while_paging(void **state)
{
    struct board_test *t = *state;
    struct tmbus_board_query q = {.list = TMBUS_BOARD_NEEDS, .limit = 500};
    struct tmbus_board *b = NULL;
    static int seen[SEEN_MAX];
    uint8_t new_id[TMBUS_ID_BYTES], last[32];
    char after[TMBUS_BOARD_CURSOR_BYTES];
    int pages, short_pages, extra;
    char tag[32];

    assert_int_equal(tmbus_board_query(t->h, &q, FC_CALL_MS, &b), TMBUS_OK);
    snprintf(after, sizeof(after), "%s", tmbus_board_next(b));
    memcpy(last, tmbus_board_need_at(b, tmbus_board_need_count(b) - 1)->id, 32);
    memset(seen, 0, sizeof(seen));
    for (size_t i = 0; i < tmbus_board_need_count(b); i++)
        seen[item_index(tmbus_board_need_at(b, i)->id)]++;
    tmbus_board_free(&b);
    fc_tag(tag, sizeof(tag), "paging");
    assert_int_equal(fc_post(t->h, FC_TLP_GREEN, tag, 1, NULL, 0, new_id), TMBUS_OK);
    {
        static int rest[SEEN_MAX];
        q.after = after;
        /* walk() restarts from q.after = ""; read the rest by hand. */
        do {
            assert_int_equal(tmbus_board_query(t->h, &q, FC_CALL_MS, &b), TMBUS_OK);
            for (size_t i = 0; i < tmbus_board_need_count(b); i++) {
                const uint8_t *id = tmbus_board_need_at(b, i)->id;
                assert_true(memcmp(last, id, 32) < 0);
                memcpy(last, id, 32);
                if (memcmp(id, new_id, 32) != 0)
                    rest[item_index(id)]++;
            }
            snprintf(after, sizeof(after), "%s", tmbus_board_next(b));
            tmbus_board_free(&b);
        } while (after[0] != '\0');
        for (int i = 0; i < N_NEEDS; i++)
            assert_int_equal(seen[i] + rest[i], is_need_visible(i) ? 1 : 0);
    }
    /* A fresh walk sees the new need once. */
    q.after = NULL;
    walk(t->h, q, seen, &pages, &short_pages, new_id, &extra);
    assert_int_equal(extra, 1);
    fed_pass(t->f);
}

/* Each filter returns exactly what it names, within the clearance. */
static void test_filters(void **state)
{
    struct board_test *t = *state;
    static const int statuses[] = {TMBUS_NEED_OPEN, TMBUS_NEED_CLOSED};
    static const int categories[] = {3};
    static const int priorities[] = {TMBUS_PRIORITY_CRITICAL};
    static const char *const owners[] = {"EE"};
    static const int offer_statuses[] = {TMBUS_OFFER_ACCEPTED};
    static int seen[SEEN_MAX];
    uint8_t need_id[32];
    int pages, short_pages;
    struct tmbus_board_query q = {.list = TMBUS_BOARD_NEEDS,
                                  .limit = 400,
                                  .statuses = statuses,
                                  .n_statuses = 2,
                                  .categories = categories,
                                  .n_categories = 1};

    walk(t->h, q, seen, &pages, &short_pages, NULL, NULL);
    for (int i = 0; i < N_NEEDS; i++) {
        bool is_match = is_need_visible(i) && (need_status(i) == 1 || need_status(i) == 4) &&
                        need_category(i) == 3;
        assert_int_equal(seen[i], is_match ? 1 : 0);
    }
    q = (struct tmbus_board_query){.list = TMBUS_BOARD_NEEDS,
                                   .priorities = priorities,
                                   .n_priorities = 1,
                                   .members = owners,
                                   .n_members = 1,
                                   .updated_since = 1};
    walk(t->h, q, seen, &pages, &short_pages, NULL, NULL);
    for (int i = 0; i < N_NEEDS; i++) {
        bool is_match =
            is_need_visible(i) && need_priority(i) == 1 && strcmp(need_owner(i), "EE") == 0;
        assert_int_equal(seen[i], is_match ? 1 : 0);
    }
    /* Nothing changed in the future. */
    q.updated_since = (int64_t)time(NULL) + 3600;
    assert_int_equal(walk(t->h, q, seen, &pages, &short_pages, NULL, NULL), 0);

    /* Offers: of one need, and by status. */
    item_id(offer_need(3), false, need_id);
    q = (struct tmbus_board_query){.list = TMBUS_BOARD_OFFERS, .need_id = need_id};
    walk(t->h, q, seen, &pages, &short_pages, NULL, NULL);
    for (int j = 0; j < N_OFFERS; j++)
        assert_int_equal(seen[j], is_offer_visible(j) && offer_need(j) == offer_need(3) ? 1 : 0);
    q = (struct tmbus_board_query){
        .list = TMBUS_BOARD_OFFERS, .statuses = offer_statuses, .n_statuses = 1};
    walk(t->h, q, seen, &pages, &short_pages, NULL, NULL);
    for (int j = 0; j < N_OFFERS; j++)
        assert_int_equal(seen[j], is_offer_visible(j) && 1 + j % 6 == 2 ? 1 : 0);

    /* Refusals, with the node's reason. */
    q = (struct tmbus_board_query){.list = TMBUS_BOARD_NEEDS, .after = "00ff"};
    {
        struct tmbus_board *b = NULL;
        assert_int_equal(tmbus_board_query(t->h, &q, FC_CALL_MS, &b), TMBUS_EINVALID);
        assert_non_null(strstr(tmbus_last_error(t->h), "cursor"));
        q.after = NULL;
        q.list = TMBUS_BOARD_OFFERS;
        q.categories = categories;
        q.n_categories = 1;
        assert_int_equal(tmbus_board_query(t->h, &q, FC_CALL_MS, &b), TMBUS_EINVALID);
        assert_non_null(strstr(tmbus_last_error(t->h), "not offers"));
        assert_null(b);
    }
    fed_pass(t->f);
}

/* The CLI: a page with filters and its cursor, the next page from it, a
 * bad cursor and a bad status refused, and export writing every item. */
static void test_cli(void **state)
{
    struct board_test *t = *state;
    struct clitest_run r = {0};
    char next[TMBUS_BOARD_CURSOR_BYTES], path[FED_PATH_MAX + 16], *line = NULL;
    static int needs[SEEN_MAX], offers[SEEN_MAX];
    size_t cap = 0, n_needs = 0, n_offers = 0;
    int last = -1;
    json_t *j, *arr;
    FILE *fp;

    CLITEST_RUN(t->f, &r, "-c", t->conf[0], "need", "list", "--json", "--limit", "5", "--status",
                "open,covered", "--owner", "EE", "--priority", "high", "--since", "2020-01-01");
    clitest_assert_ok(&r);
    j = clitest_json_of(&r);
    arr = json_object_get(j, "needs");
    assert_int_equal(json_array_size(arr), 5);
    for (size_t i = 0; i < 5; i++) {
        uint8_t id[32];
        int k;
        json_t *item = json_array_get(arr, i);
        assert_int_equal(tmbus_id_from_hex(clitest_str_of(item, "id"), id), TMBUS_OK);
        k = item_index(id);
        assert_true(k > last);
        last = k;
        assert_true(is_need_visible(k) && (need_status(k) == 1 || need_status(k) == 3) &&
                    strcmp(need_owner(k), "EE") == 0 && need_priority(k) == 2);
    }
    snprintf(next, sizeof(next), "%s", clitest_str_of(j, "next"));
    assert_true(next[0] != '\0');
    json_decref(j);
    clitest_run_free(&r);

    CLITEST_RUN(t->f, &r, "-c", t->conf[0], "need", "list", "--json", "--limit", "5", "--status",
                "open,covered", "--owner", "EE", "--priority", "high", "--after", next);
    clitest_assert_ok(&r);
    j = clitest_json_of(&r);
    arr = json_object_get(j, "needs");
    assert_true(json_array_size(arr) > 0);
    {
        uint8_t id[32];
        assert_int_equal(tmbus_id_from_hex(clitest_str_of(json_array_get(arr, 0), "id"), id),
                         TMBUS_OK);
        assert_true(item_index(id) > last);
    }
    json_decref(j);
    clitest_run_free(&r);

    CLITEST_RUN(t->f, &r, "-c", t->conf[0], "need", "list", "--after", "0102");
    clitest_assert_failed(&r, 64, "cursor");
    clitest_run_free(&r);
    CLITEST_RUN(t->f, &r, "-c", t->conf[0], "offer", "list", "--status", "nearly");
    clitest_assert_failed(&r, 64, "nearly");
    clitest_run_free(&r);

    /* export: every visible item once, read from the run's stdout file. */
    CLITEST_RUN(t->f, &r, "-c", t->conf[0], "export");
    assert_int_equal(r.status, 0);
    clitest_run_free(&r);
    snprintf(path, sizeof(path), "%s/cli.out", fed_dir(t->f));
    assert_non_null(fp = fopen(path, "r"));
    while (getline(&line, &cap, fp) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        uint8_t id[32];
        assert_non_null(o);
        assert_int_equal(tmbus_id_from_hex(clitest_str_of(o, "id"), id), TMBUS_OK);
        if (json_object_get(o, "owner") != NULL) {
            needs[item_index(id)]++;
            n_needs++;
        } else {
            offers[item_index(id)]++;
            n_offers++;
        }
        json_decref(o);
    }
    free(line);
    fclose(fp);
    for (int i = 0; i < N_NEEDS; i++)
        assert_int_equal(needs[i], is_need_visible(i) ? 1 : 0);
    for (int k = 0; k < N_OFFERS; k++)
        assert_int_equal(offers[k], is_offer_visible(k) ? 1 : 0);
    fed_pass(t->f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_item_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insert_while_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cli, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
