/*
 * Integration: TLP:RED never passes through a third node
 * (proto/PROTOCOL.md §4.1, §6.5). In a line A–B–C, A's RED message to C waits in A's direct log
 * until A and C have a link of their own, and B never holds any envelope of that log. The link
 * comes either from restarting C with A in its dial list, or from a SIGHUP that adds A to the list
 * ([peers] may change on reload).
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

#define LINK_MS  15000
#define IDLE_MS  15000
#define QUIET_MS 2500 /* RED must not arrive while there is no direct link */
#define N_RED    5

static int count_direct(void *arg, const struct store_log *log, const struct store_head *head)
{
    size_t *n = arg;

    if (log->peer[0] != '\0' && head->seq > 0)
        *n += 1;
    return 0;
}

/* B's store after B stopped: no direct log at all, and none of the RED
 * envelopes' ids anywhere in its files. */
static void assert_b_never_held(struct fed *f, size_t b, uint8_t (*ids)[TMBUS_ID_BYTES], size_t n)
{
    const char *names[] = {"tmbus.db", "tmbus.db-wal"};
    struct store_log log = {.origin = "A", .peer = "C"};
    struct store_head head;
    size_t n_direct = 0;
    struct store *s = fed_store_open(f, b);

    assert_non_null(s);
    assert_int_equal(store_head(s, &log, &head), 0);
    assert_int_equal(head.seq, 0);
    assert_int_equal(store_each_log(s, count_direct, &n_direct), 0);
    assert_int_equal(n_direct, 0);
    store_close(&s);
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        char path[FED_PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", fed_data_dir(f, b), names[k]);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(fed_file_contains(path, ids[i], TMBUS_ID_BYTES), 0);
    }
}

/* Builds the line, posts N_RED RED messages from A to C, and checks they
 * are held back: neither C's nor B's client sees anything. */
static struct fed *line_with_held_red(void **state, const char *prefix, char *tag, size_t tag_size,
                                      uint8_t (*ids)[TMBUS_ID_BYTES], struct tmbus **hc)
{
    static const char *const members[] = {"A", "B", "C"};
    static const char *const to_c[] = {"C"};
    struct fed *f = fed_new(3, members);
    struct tmbus *ha, *hb;
    struct fc_inbox in_b, in_c;
    size_t a, b, c;

    assert_non_null(f);
    *state = f;
    a = fed_index(f, "A");
    b = fed_index(f, "B");
    c = fed_index(f, "C");
    assert_int_equal(fed_topology_line(f), 0);
    assert_int_equal(fed_start_all(f), 0);
    assert_int_equal(fed_wait_link(f, a, 0, "B", LINK_MS), 0);
    assert_int_equal(fed_wait_link(f, c, 0, "B", LINK_MS), 0);

    fc_tag(tag, tag_size, prefix);
    fc_inbox_init(&in_b, tag);
    fc_inbox_init(&in_c, tag);
    assert_non_null(ha = fc_connect(f, a));
    assert_non_null(hb = fc_connect(f, b));
    assert_non_null(*hc = fc_connect(f, c));
    assert_int_equal(tmbus_subscribe(hb, 64, FC_CALL_MS), TMBUS_OK);
    assert_int_equal(tmbus_subscribe(*hc, 64, FC_CALL_MS), TMBUS_OK);

    /* Committed at A (receipts), but with no A–C link nothing moves. */
    for (uint32_t k = 0; k < N_RED; k++)
        assert_int_equal(fc_post(ha, FC_TLP_RED, tag, k, to_c, 1, ids[k]), TMBUS_OK);
    assert_int_equal(fc_expect_quiet(*hc, &in_c, QUIET_MS), 0);
    assert_int_equal(fc_expect_quiet(hb, &in_b, QUIET_MS / 5), 0);
    assert_int_equal(fed_log_count(f, a, 0, "peer C: link up"), 0);

    tmbus_close(&ha);
    tmbus_close(&hb);
    fc_inbox_free(&in_b);
    fc_inbox_free(&in_c);
    return f;
}

/* C's client receives the RED messages over the direct link: from A, in A's
 * direct log to C, in order, each once. */
static void assert_red_arrives(struct tmbus *hc, const char *tag, uint8_t (*ids)[TMBUS_ID_BYTES])
{
    struct fc_inbox in;

    fc_inbox_init(&in, tag);
    fc_receive(hc, &in, N_RED, IDLE_MS, 1);
    assert_int_equal(fc_check_order(&in), 0);
    assert_int_equal(in.n_tagged, N_RED);
    for (uint32_t k = 0; k < N_RED; k++) {
        const struct fc_got *g = fc_find_index(&in, k);
        if (g == NULL)
            fail_msg("RED message #%u never arrived", k);
        assert_string_equal(g->sender, "A");
        assert_string_equal(g->log_peer, "C");
        assert_int_equal(g->seq, k + 1);
        assert_memory_equal(g->id, ids[k], TMBUS_ID_BYTES);
    }
    fc_inbox_free(&in);
}

static void test_red_waits_for_direct_link_restart(void **state)
{
    uint8_t ids[N_RED][TMBUS_ID_BYTES];
    char tag[FC_TAG_MAX];
    struct tmbus *hc = NULL;
    struct fed *f = line_with_held_red(state, "red-restart", tag, sizeof(tag), ids, &hc);
    size_t a = fed_index(f, "A"), b = fed_index(f, "B"), c = fed_index(f, "C");
    long a_mark;

    /* C comes back dialling A too: the direct link, and the RED messages. */
    assert_int_equal(fed_stop(f, c), 0);
    assert_int_equal(fed_set_dial(f, c, "B,A"), 0);
    a_mark = fed_log_mark(f, a);
    assert_int_equal(fed_start(f, c), 0);
    assert_int_equal(fed_wait_link(f, a, a_mark, "C", LINK_MS), 0);
    assert_red_arrives(hc, tag, ids);
    tmbus_close(&hc);

    for (size_t i = 0; i < 3; i++)
        assert_int_equal(fed_stop(f, i), 0);
    assert_b_never_held(f, b, ids, N_RED);
    fed_pass(f);
}

static void test_red_waits_for_direct_link_reload(void **state)
{
    uint8_t ids[N_RED][TMBUS_ID_BYTES];
    char tag[FC_TAG_MAX];
    struct tmbus *hc = NULL;
    struct fed *f = line_with_held_red(state, "red-reload", tag, sizeof(tag), ids, &hc);
    size_t a = fed_index(f, "A"), b = fed_index(f, "B"), c = fed_index(f, "C");
    long a_mark, c_mark;

    /* SIGHUP may change [peers]: C should dial A without a restart. */
    assert_int_equal(fed_set_dial(f, c, "B,A"), 0);
    a_mark = fed_log_mark(f, a);
    c_mark = fed_log_mark(f, c);
    assert_int_equal(fed_reload(f, c), 0);
    assert_int_equal(fed_wait_log_from(f, c, c_mark, "reloading", LINK_MS), 0);
    assert_int_equal(fed_wait_links(f, "C", c_mark, "A", a_mark, LINK_MS), 0);
    assert_red_arrives(hc, tag, ids);
    tmbus_close(&hc);

    for (size_t i = 0; i < 3; i++)
        assert_int_equal(fed_stop(f, i), 0);
    assert_b_never_held(f, b, ids, N_RED);
    fed_pass(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_red_waits_for_direct_link_restart, fed_teardown),
        cmocka_unit_test_teardown(test_red_waits_for_direct_link_reload, fed_teardown),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
