/*
 * Integration: messages relayed between real tmbusd nodes and delivered to
 * real clients through libtmbus (proto/PROTOCOL.md §4, §5). A broadcast in a
 * full mesh reaches every member's client; in a line A–B–C a message from
 * A to C travels through B, which stores and forwards it without ever
 * holding its plaintext in its database, its write-ahead log or its log.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "fed.h"
#include "fedclient.h"
#include "store.h"
#include "tmbus.h"

#define LINK_MS     15000 /* links come up well within this */
#define IDLE_MS     15000 /* longest silence while deliveries are due (fed_ms scales it) */
#define QUIET_MS    2000  /* how long "nothing arrives" is watched */
#define N_BROADCAST 25
#define N_RELAYED   40

/* Asserts that in holds indexes 0..n-1 exactly once each, from sender, with
 * the envelope ids the poster's receipts gave, in the order posted. */
static void assert_all_once(const struct fc_inbox *in, uint32_t n, const char *sender,
                            uint8_t (*ids)[TMBUS_ID_BYTES])
{
    uint64_t last_seq = 0;

    assert_int_equal(fc_check_order(in), 0);
    assert_int_equal(in->n_tagged, n);
    for (uint32_t k = 0; k < n; k++) {
        const struct fc_got *g = fc_find_index(in, k);
        if (g == NULL)
            fail_msg("message #%u never arrived", k);
        assert_string_equal(g->sender, sender);
        assert_memory_equal(g->id, ids[k], TMBUS_ID_BYTES);
        assert_true(g->seq > last_seq);
        last_seq = g->seq;
    }
}

static void test_mesh_broadcast(void **state)
{
    static const char *const ids[] = {"A", "B", "C"};
    struct fed *f = fed_new(3, ids);
    struct tmbus *ha, *hb, *hc;
    struct fc_inbox in_a, in_b, in_c;
    uint8_t(*posted)[TMBUS_ID_BYTES] = calloc(N_BROADCAST, TMBUS_ID_BYTES);
    char tag[FC_TAG_MAX];

    assert_non_null(f);
    *state = f;
    assert_non_null(posted);
    assert_int_equal(fed_topology_mesh(f), 0);
    assert_int_equal(fed_start_all(f), 0);
    assert_int_equal(fed_wait_links(f, "A", 0, "B", 0, LINK_MS), 0);
    assert_int_equal(fed_wait_links(f, "A", 0, "C", 0, LINK_MS), 0);
    assert_int_equal(fed_wait_links(f, "B", 0, "C", 0, LINK_MS), 0);

    fc_tag(tag, sizeof(tag), "mesh");
    fc_inbox_init(&in_a, tag);
    fc_inbox_init(&in_b, tag);
    fc_inbox_init(&in_c, tag);
    assert_non_null(ha = fc_connect(f, fed_index(f, "A")));
    assert_non_null(hb = fc_connect(f, fed_index(f, "B")));
    assert_non_null(hc = fc_connect(f, fed_index(f, "C")));
    assert_int_equal(tmbus_subscribe(ha, 64, FC_CALL_MS), TMBUS_OK);
    assert_int_equal(tmbus_subscribe(hb, 64, FC_CALL_MS), TMBUS_OK);
    assert_int_equal(tmbus_subscribe(hc, 64, FC_CALL_MS), TMBUS_OK);

    for (uint32_t k = 0; k < N_BROADCAST; k++)
        assert_int_equal(fc_post(ha, FC_TLP_GREEN, tag, k, NULL, 0, posted[k]), TMBUS_OK);

    /* Every member's client gets the broadcast: B and C over their links,
     * A (a recipient too, "all" includes it) from its own node. */
    fc_receive(hb, &in_b, N_BROADCAST, fed_ms(IDLE_MS), 10);
    fc_receive(hc, &in_c, N_BROADCAST, fed_ms(IDLE_MS), 10);
    fc_receive(ha, &in_a, N_BROADCAST, fed_ms(IDLE_MS), 10);
    assert_all_once(&in_b, N_BROADCAST, "A", posted);
    assert_all_once(&in_c, N_BROADCAST, "A", posted);
    assert_all_once(&in_a, N_BROADCAST, "A", posted);

    /* Nothing more comes: no copy through the second path of the mesh. */
    assert_int_equal(fc_expect_quiet(hb, &in_b, QUIET_MS), 0);
    assert_int_equal(fc_expect_quiet(hc, &in_c, QUIET_MS / 4), 0);

    tmbus_close(&ha);
    tmbus_close(&hb);
    tmbus_close(&hc);
    fc_inbox_free(&in_a);
    fc_inbox_free(&in_b);
    fc_inbox_free(&in_c);
    free(posted);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(fed_stop(f, i), 0);
    fed_pass(f);
}

/* 1 when any of B's files holds text. */
static int b_files_contain(struct fed *f, size_t b, const char *text)
{
    const char *names[] = {"tmbus.db", "tmbus.db-wal", "tmbus.db-shm", "tmbusd.log"};
    char path[FED_PATH_MAX];
    int found = 0;

    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        int rc;
        snprintf(path, sizeof(path), "%s/%s", fed_data_dir(f, b), names[k]);
        rc = fed_file_contains(path, text, strlen(text));
        assert_int_not_equal(rc, -1);
        if (rc == 1) {
            fprintf(stderr, "plaintext found in %s\n", path);
            found = 1;
        }
    }
    return found;
}

static void test_line_relay_keeps_relay_blind(void **state)
{
    static const char *const ids[] = {"A", "B", "C"};
    static const char *const to_c[] = {"C"};
    struct fed *f = fed_new(3, ids);
    size_t a, b, c;
    struct tmbus *ha, *hb, *hc;
    struct fc_inbox in_b, in_c;
    uint8_t(*posted)[TMBUS_ID_BYTES] = calloc(N_RELAYED, TMBUS_ID_BYTES);
    char tag[FC_TAG_MAX];

    assert_non_null(f);
    *state = f;
    assert_non_null(posted);
    a = fed_index(f, "A");
    b = fed_index(f, "B");
    c = fed_index(f, "C");
    assert_int_equal(fed_topology_line(f), 0);
    assert_int_equal(fed_start_all(f), 0);
    assert_int_equal(fed_wait_links(f, "A", 0, "B", 0, LINK_MS), 0);
    assert_int_equal(fed_wait_links(f, "B", 0, "C", 0, LINK_MS), 0);

    fc_tag(tag, sizeof(tag), "line");
    fc_inbox_init(&in_b, tag);
    fc_inbox_init(&in_c, tag);
    assert_non_null(ha = fc_connect(f, a));
    assert_non_null(hb = fc_connect(f, b));
    assert_non_null(hc = fc_connect(f, c));
    assert_int_equal(tmbus_subscribe(hb, 64, FC_CALL_MS), TMBUS_OK);
    assert_int_equal(tmbus_subscribe(hc, 64, FC_CALL_MS), TMBUS_OK);

    for (uint32_t k = 0; k < N_RELAYED; k++)
        assert_int_equal(fc_post(ha, FC_TLP_AMBER, tag, k, to_c, 1, posted[k]), TMBUS_OK);
    fc_receive(hc, &in_c, N_RELAYED, fed_ms(IDLE_MS), 16);
    assert_all_once(&in_c, N_RELAYED, "A", posted);
    for (size_t i = 0; i < in_c.n; i++) {
        assert_string_equal(in_c.got[i].log_peer, "");
        assert_int_equal(in_c.got[i].seq, i + 1);
    }

    /* B relayed but is no recipient: its client gets nothing. */
    assert_int_equal(fc_expect_quiet(hb, &in_b, QUIET_MS), 0);

    /* The only path was through B: A and C never linked. */
    assert_int_equal(fed_log_count(f, a, 0, "peer C: link up"), 0);
    assert_int_equal(fed_log_count(f, c, 0, "peer A: link up"), 0);

    /* B never held the plaintext: not in its database, its WAL or its log,
     * while running and after a clean stop (which checkpoints the WAL). */
    assert_int_equal(b_files_contain(f, b, tag), 0);
    tmbus_close(&ha);
    tmbus_close(&hb);
    tmbus_close(&hc);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(fed_stop(f, i), 0);
    assert_int_equal(b_files_contain(f, b, tag), 0);

    /* ... yet it stored every envelope of A's log as ciphertext. */
    struct store *s = fed_store_open(f, b);
    struct store_log log = {.origin = "A", .peer = ""};
    struct store_head head;
    assert_non_null(s);
    assert_int_equal(store_head(s, &log, &head), 0);
    assert_int_equal(head.seq, N_RELAYED);
    assert_memory_equal(head.id, posted[N_RELAYED - 1], STORE_HASH_BYTES);
    store_close(&s);

    fc_inbox_free(&in_b);
    fc_inbox_free(&in_c);
    free(posted);
    fed_pass(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_mesh_broadcast, fed_teardown),
        cmocka_unit_test_teardown(test_line_relay_keeps_relay_blind, fed_teardown),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
