/*
 * Integration: the audit checkpoint exchange (proto/PROTOCOL.md 13.1).
 * Three real nodes send each other their signed checkpoints on link up and
 * cosign them; a node that comes back proves its new checkpoint consistent
 * with the one its peers hold, and `tmbus-admin audit verify` counts the
 * cosignatures. Then a node whose audit log was rewritten while it was
 * stopped (an entry edited in SQLite, its checkpoints gone, so that it signs
 * the rewritten tree with its real key when it starts) is caught by its
 * peer: an alarm, a counter, an entry in the peer's own log, and no
 * cosignature. Last, a node whose log lost its tail (entries, checkpoints
 * and cosignatures cut back, as an older copy of its store would be) learns
 * from its peer what it signed, begins a new epoch, and the peer records the
 * reset once and cosigns the new epoch, with no alarm (PROTOCOL.md 13.2):
 * the reset is not hidden, but it is no alarm either.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>

#include "fed.h"
#include "fedclient.h"
#include "tmbus.h"

#define LINK_MS   15000
#define COSIGN_MS 15000
#define POLL_MS   100
#define OUT_MAX   8192
#define N_POSTS   4

/* One integer from a query on dir's store (the node stopped). */
static long long query(const char *dir, const char *sql)
{
    char path[FED_PATH_MAX];
    sqlite3 *db;
    sqlite3_stmt *st;
    long long n;

    snprintf(path, sizeof(path), "%s/tmbus.db", dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* Waits until node i's counter name reaches at least want. Returns its
 * value. */
static uint64_t wait_counter(struct fed *f, size_t i, const char *name, uint64_t want)
{
    struct tmbus *h = fc_connect(f, i);
    int64_t end = fed_now_ms() + COSIGN_MS;
    uint64_t v = 0;

    assert_non_null(h);
    while (fc_counter(h, name, &v) == TMBUS_OK && v < want && fed_now_ms() < end)
        fed_sleep_ms(POLL_MS);
    tmbus_close(&h);
    if (v < want) {
        fed_dump_log(f, i, 40);
        fail_msg("%s: %s is %llu, waited for %llu", fed_id(f, i), name, (unsigned long long)v,
                 (unsigned long long)want);
    }
    return v;
}

static uint64_t counter(struct fed *f, size_t i, const char *name)
{
    struct tmbus *h = fc_connect(f, i);
    uint64_t v = 0;

    assert_non_null(h);
    assert_int_equal(fc_counter(h, name, &v), TMBUS_OK);
    tmbus_close(&h);
    return v;
}

static void post_some(struct fed *f, size_t from, const char *to)
{
    const char *const rcpt[] = {to};
    struct tmbus *h = fc_connect(f, from);
    char tag[FC_TAG_MAX];

    assert_non_null(h);
    fc_tag(tag, sizeof(tag), "cosign");
    for (uint32_t k = 0; k < N_POSTS; k++)
        assert_int_equal(fc_post(h, FC_TLP_GREEN, tag, k, rcpt, 1, NULL), TMBUS_OK);
    tmbus_close(&h);
}

static void test_cosign(void **state)
{
    static const char *const ids[] = {"A", "B", "C"};
    struct fed *f = fed_new(3, ids);
    char out[OUT_MAX];
    uint64_t first;

    assert_non_null(f);
    *state = f;
    assert_int_equal(fed_topology_mesh(f), 0);
    assert_int_equal(fed_start_all(f), 0);
    assert_int_equal(fed_wait_links(f, "A", 0, "B", 0, LINK_MS), 0);
    assert_int_equal(fed_wait_links(f, "A", 0, "C", 0, LINK_MS), 0);
    assert_int_equal(fed_wait_links(f, "B", 0, "C", 0, LINK_MS), 0);
    /* Each node's first checkpoint, cosigned by both others. */
    for (size_t i = 0; i < 3; i++) {
        wait_counter(f, i, "audit.cosignatures", 2);
        wait_counter(f, i, "audit.peer.cosigned", 2);
    }
    first = counter(f, 0, "audit.cosignatures");

    /* More entries at A; C comes back: A signs again on the new link and
     * proves it from the size C holds. */
    post_some(f, 0, "B");
    assert_int_equal(fed_stop(f, 2), 0);
    long mark = fed_log_mark(f, 0);
    assert_int_equal(fed_start(f, 2), 0);
    assert_int_equal(fed_wait_link(f, 0, mark, "C", LINK_MS), 0);
    wait_counter(f, 0, "audit.cosignatures", first + 1);
    assert_int_equal(counter(f, 2, "audit.peer.inconsistent"), 0);
    assert_int_equal(counter(f, 0, "audit.peer.inconsistent"), 0);

    for (size_t i = 0; i < 3; i++)
        assert_int_equal(fed_stop(f, i), 0);
    for (size_t i = 0; i < 3; i++) {
        int rc = fed_audit_verify(fed_data_dir(f, i), out, OUT_MAX);
        print_message("%s: %s", fed_id(f, i), out);
        if (rc != 0 || strstr(out, "audit log verifies") == NULL)
            fail_msg("%s: verify exited %d: %s", fed_id(f, i), rc, out);
        assert_true(query(fed_data_dir(f, i), "SELECT count(*) FROM audit_cosignatures") >= 2);
        assert_int_equal(query(fed_data_dir(f, i), "SELECT count(*) FROM audit_peer_checkpoints"),
                         2);
        assert_null(strstr(out, "\n0 cosignatures"));
    }
    /* A cosignature that is not its cosigner's fails verify. */
    assert_int_equal(fed_store_sql(fed_data_dir(f, 0),
                                   "UPDATE audit_cosignatures SET sig = zeroblob(64)"
                                   " WHERE size = (SELECT max(size) FROM audit_cosignatures)"),
                     0);
    assert_int_equal(fed_audit_verify(fed_data_dir(f, 0), out, OUT_MAX), 1);
    print_message("A, a cosignature zeroed: %s", out);
    assert_non_null(strstr(out, "its signature is not"));
    fed_pass(f);
}

static void test_rewrite_caught(void **state)
{
    static const char *const ids[] = {"A", "B"};
    struct fed *f = fed_new(2, ids);
    uint64_t inconsistent;
    long mark;

    assert_non_null(f);
    *state = f;
    assert_int_equal(fed_topology_mesh(f), 0);
    assert_int_equal(fed_start_all(f), 0);
    assert_int_equal(fed_wait_links(f, "A", 0, "B", 0, LINK_MS), 0);
    post_some(f, 0, "B");
    /* B holds and cosigned a checkpoint of A's. */
    wait_counter(f, 1, "audit.peer.cosigned", 1);
    wait_counter(f, 0, "audit.cosignatures", 1);
    assert_int_equal(fed_stop(f, 0), 0);

    /* A's history rewritten: entry 1's time changed, the signed
     * checkpoints and the frontier cache gone, so that A starts from the
     * rewritten tree and signs it with its real key. */
    assert_int_equal(fed_audit_entry_flip(fed_data_dir(f, 0), 1, 10), 0);
    assert_int_equal(fed_store_sql(fed_data_dir(f, 0),
                                   "DELETE FROM audit_checkpoints; DELETE FROM audit_state;"
                                   "DELETE FROM audit_cosignatures;"),
                     0);
    mark = fed_log_mark(f, 1);
    assert_int_equal(fed_start(f, 0), 0);
    assert_int_equal(fed_wait_link(f, 1, mark, "A", LINK_MS), 0);
    assert_int_equal(fed_wait_log_from(f, 1, mark, "ALARM: refused A's checkpoint", COSIGN_MS), 0);
    inconsistent = wait_counter(f, 1, "audit.peer.inconsistent", 1);
    assert_true(inconsistent >= 1);
    /* Give a cosignature time to arrive if one were sent. */
    fed_sleep_ms(1000);
    assert_int_equal(fed_stop(f, 0), 0);
    assert_int_equal(fed_stop(f, 1), 0);
    assert_int_equal(query(fed_data_dir(f, 0), "SELECT count(*) FROM audit_cosignatures"), 0);
    /* B's own log records the alarm. */
    assert_true(query(fed_data_dir(f, 1), "SELECT count(*) FROM audit_entries"
                                          " WHERE instr(entry, CAST('checkpoint: ' AS BLOB)) > 0"
                                          " AND substr(entry, 2, 1) = x'06'") >= 1);
    fed_pass(f);
}

static void test_truncated_new_epoch(void **state)
{
    static const char *const ids[] = {"A", "B"};
    struct fed *f = fed_new(2, ids);
    char out[OUT_MAX];
    long mark_a, mark_b;
    uint64_t cosigned;

    assert_non_null(f);
    *state = f;
    assert_int_equal(fed_topology_mesh(f), 0);
    assert_int_equal(fed_start_all(f), 0);
    assert_int_equal(fed_wait_links(f, "A", 0, "B", 0, LINK_MS), 0);
    post_some(f, 0, "B");
    wait_counter(f, 1, "audit.peer.cosigned", 1);
    wait_counter(f, 0, "audit.cosignatures", 1);
    assert_int_equal(fed_stop(f, 0), 0);
    assert_true(query(fed_data_dir(f, 1), "SELECT max(size) FROM audit_peer_checkpoints") > 2);

    /* A's log cut back to its first two entries, with what it signed. */
    assert_int_equal(fed_store_sql(fed_data_dir(f, 0),
                                   "DELETE FROM audit_entries WHERE idx >= 2;"
                                   "DELETE FROM audit_checkpoints; DELETE FROM audit_state;"
                                   "DELETE FROM audit_cosignatures;"),
                     0);
    mark_a = fed_log_mark(f, 0);
    mark_b = fed_log_mark(f, 1);
    assert_int_equal(fed_start(f, 0), 0);
    assert_int_equal(fed_wait_log_from(f, 0, mark_a, "the log goes on as epoch 1", COSIGN_MS), 0);
    assert_int_equal(
        fed_wait_log_from(f, 1, mark_b, "A started its audit log again, as epoch 1", COSIGN_MS), 0);
    /* B cosigns the new epoch; the reset counted once, no alarm. */
    cosigned = wait_counter(f, 0, "audit.cosignatures", 1);
    assert_true(cosigned >= 1);
    assert_int_equal(counter(f, 1, "audit.epoch-reset"), 1);
    assert_int_equal(counter(f, 1, "audit.peer.inconsistent"), 0);
    assert_int_equal(counter(f, 0, "audit.epoch-started"), 1);
    fed_sleep_ms(1000);
    assert_int_equal(fed_stop(f, 0), 0);
    assert_int_equal(fed_stop(f, 1), 0);
    assert_int_equal(fed_log_count(f, 1, 0, "ALARM"), 0);
    assert_int_equal(fed_log_count(f, 1, 0, "started its audit log again"), 1);
    /* Both logs keep it: A's own epoch entry and B's record of it. */
    assert_int_equal(query(fed_data_dir(f, 0), "SELECT count(*) FROM audit_entries"
                                               " WHERE substr(entry, 2, 1) = x'09'"),
                     1);
    assert_int_equal(query(fed_data_dir(f, 1), "SELECT count(*) FROM audit_entries"
                                               " WHERE substr(entry, 2, 1) = x'09'"),
                     1);
    assert_int_equal(query(fed_data_dir(f, 1), "SELECT epoch FROM audit_peer_checkpoints"
                                               " WHERE member = 'A'"),
                     1);
    assert_int_equal(fed_audit_verify(fed_data_dir(f, 0), out, OUT_MAX), 0);
    print_message("A: %s", out);
    assert_non_null(strstr(out, "this log is in epoch 1"));
    assert_int_equal(fed_audit_verify(fed_data_dir(f, 1), out, OUT_MAX), 0);
    print_message("B: %s", out);
    assert_non_null(strstr(out, "1 epoch resets of peers recorded: A to epoch 1"));
    fed_pass(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_cosign, fed_teardown),
        cmocka_unit_test_teardown(test_rewrite_caught, fed_teardown),
        cmocka_unit_test_teardown(test_truncated_new_epoch, fed_teardown),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
