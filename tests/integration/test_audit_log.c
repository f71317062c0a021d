/*
 * Integration: the audit log (proto/PROTOCOL.md, "The audit log"). Two
 * real nodes; A's client posts to B's, which receives and acks; both stop
 * cleanly and `tmbus-admin audit verify` passes on both data directories.
 * Then copies of A's directory are tampered with directly in SQLite (an
 * entry edited, entries cut off the end, two entries swapped, one deleted
 * from the middle, a checkpoint's signature changed) and each copy must
 * fail verify with its own reason. Last, a member's keys rotated with the
 * old generation RETIRED: the checkpoints the old key signed before the
 * rotation still verify.
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

#define LINK_MS 15000
#define IDLE_MS 15000
#define N_POSTS 6
#define OUT_MAX 8192

/* A fresh copy of src's data directory, for one tampering. */
static const char *copy_dir(struct fed *f, const char *src, const char *name)
{
    static char dst[FED_PATH_MAX + 64];
    char cmd[FED_PATH_MAX * 6];

    snprintf(dst, sizeof(dst), "%s/%s", fed_dir(f), name);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -a '%s' '%s' && rm -f '%s/tmbus.lock'", dst, src,
             dst, dst);
    assert_int_equal(system(cmd), 0);
    return dst;
}

static long long count_entries(const char *dir)
{
    char path[FED_PATH_MAX];
    sqlite3 *db;
    sqlite3_stmt *st;
    long long n;

    snprintf(path, sizeof(path), "%s/tmbus.db", dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM audit_entries", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static void expect_failure(const char *dir, const char *what, const char *reason)
{
    char out[OUT_MAX];
    int rc = fed_audit_verify(dir, out, OUT_MAX);

    print_message("%s: %s", what, out);
    if (rc != 1 || strstr(out, reason) == NULL)
        fail_msg("%s: expected exit 1 with \"%s\", got %d: %s", what, reason, rc, out);
}

static void test_verify_and_tamper(void **state)
{
    static const char *const ids[] = {"A", "B"};
    static const char *const to_b[] = {"B"};
    struct fed *f = fed_new(2, ids);
    struct tmbus *ha, *hb;
    struct fc_inbox in;
    uint8_t id[TMBUS_ID_BYTES];
    uint64_t n_env;
    char tag[FC_TAG_MAX], out[OUT_MAX];
    const char *dir;
    long long n;

    assert_non_null(f);
    *state = f;
    assert_int_equal(fed_topology_mesh(f), 0);
    assert_int_equal(fed_start_all(f), 0);
    assert_int_equal(fed_wait_links(f, "A", 0, "B", 0, LINK_MS), 0);
    fc_tag(tag, sizeof(tag), "audit");
    assert_non_null(ha = fc_connect(f, fed_index(f, "A")));
    assert_non_null(hb = fc_connect(f, fed_index(f, "B")));
    assert_int_equal(tmbus_subscribe(hb, 64, FC_CALL_MS), TMBUS_OK);
    for (uint32_t k = 0; k < N_POSTS; k++)
        assert_int_equal(fc_post(ha, FC_TLP_GREEN, tag, k, to_b, 1, id), TMBUS_OK);
    assert_int_equal(fc_envelopes(ha, &n_env), 0); /* a status query, recorded too */
    fc_inbox_init(&in, tag);
    assert_int_equal(fc_receive(hb, &in, N_POSTS, IDLE_MS, 2), N_POSTS);
    fc_inbox_free(&in);
    tmbus_close(&ha);
    tmbus_close(&hb);
    assert_int_equal(fed_stop(f, 0), 0);
    assert_int_equal(fed_stop(f, 1), 0);

    /* Both logs verify as they are. */
    for (size_t i = 0; i < 2; i++) {
        int rc = fed_audit_verify(fed_data_dir(f, i), out, OUT_MAX);
        print_message("%s: %s", fed_id(f, i), out);
        if (rc != 0 || strstr(out, "audit log verifies") == NULL)
            fail_msg("%s: verify exited %d: %s", fed_id(f, i), rc, out);
    }
    /* A start, a roster, N_POSTS posts, a status query and the envelopes'
     * receipts from B at least. */
    n = count_entries(fed_data_dir(f, 0));
    assert_true(n >= 2 + N_POSTS + 1);

    /* An entry edited: a byte of its time changed (it still decodes). */
    dir = copy_dir(f, fed_data_dir(f, 0), "edited");
    assert_int_equal(fed_audit_entry_flip(dir, 3, 10), 0);
    expect_failure(dir, "edited", "were edited, removed or reordered");

    /* The log truncated: its last three entries gone. */
    dir = copy_dir(f, fed_data_dir(f, 0), "truncated");
    assert_int_equal(
        fed_store_sql(
            dir, "DELETE FROM audit_entries WHERE idx >= (SELECT max(idx) - 2 FROM audit_entries)"),
        0);
    expect_failure(dir, "truncated", "it was truncated");

    /* Two entries swapped. */
    dir = copy_dir(f, fed_data_dir(f, 0), "reordered");
    assert_int_equal(fed_store_sql(dir, "CREATE TEMP TABLE pair AS SELECT idx, entry"
                                        " FROM audit_entries WHERE idx IN (2, 3);"
                                        "UPDATE audit_entries SET entry ="
                                        " (SELECT entry FROM pair"
                                        "  WHERE pair.idx = 5 - audit_entries.idx)"
                                        " WHERE idx IN (2, 3);"),
                     0);
    expect_failure(dir, "reordered", "were edited, removed or reordered");

    /* An entry deleted from the middle. */
    dir = copy_dir(f, fed_data_dir(f, 0), "deleted");
    assert_int_equal(fed_store_sql(dir, "DELETE FROM audit_entries WHERE idx = 1"), 0);
    expect_failure(dir, "deleted", "entry 1: missing");

    /* A checkpoint's signature changed. */
    dir = copy_dir(f, fed_data_dir(f, 0), "forged");
    assert_int_equal(fed_store_sql(dir, "UPDATE audit_checkpoints SET sig = zeroblob(64)"
                                        " WHERE size = (SELECT max(size) FROM audit_checkpoints)"),
                     0);
    expect_failure(dir, "forged", "its signature is not A's");

    /* The copying itself changes nothing. */
    dir = copy_dir(f, fed_data_dir(f, 0), "unchanged");
    assert_int_equal(fed_audit_verify(dir, out, OUT_MAX), 0);
    fed_pass(f);
}

/* A node that signed checkpoints, then rotated its member key (the old
 * generation RETIRED) and signed more with the new one: verify takes both. */
static void test_retired_key(void **state)
{
    static const char *const ids[] = {"A"};
    struct fed *f = fed_new(1, ids);
    char gen2[FED_PATH_MAX + 16], pub[FED_PATH_MAX + 32], key[FED_PATH_MAX + 32],
        previous[FED_PATH_MAX + 32], out[OUT_MAX];
    int rc;

    assert_non_null(f);
    *state = f;
    assert_int_equal(fed_start(f, 0), 0);
    assert_int_equal(fed_stop(f, 0), 0);
    assert_int_equal(fed_start(f, 0), 0);
    assert_int_equal(fed_stop(f, 0), 0);

    snprintf(gen2, sizeof(gen2), "%s/gen2", fed_dir(f));
    snprintf(pub, sizeof(pub), "%s/A.pub", gen2);
    snprintf(key, sizeof(key), "%s/A.key", gen2);
    snprintf(previous, sizeof(previous), "%s/roster-v1.bin", fed_dir(f));
    const char *keygen[] = {"keygen", "member", "A", gen2, NULL};
    assert_int_equal(fed_admin(f, keygen), 0);
    assert_int_equal(rename(fed_roster_path(f), previous), 0);
    struct fed_roster spec = {.version = 2, .previous = previous};
    spec.keys[0] = pub;
    spec.extra[0] = "key_id = 2\nretired = 1 keys/A.pub";
    assert_int_equal(fed_make_roster(f, &spec), 0);
    assert_int_equal(fed_install_member_key(f, 0, key), 0);
    assert_int_equal(fed_start(f, 0), 0);
    assert_int_equal(fed_stop(f, 0), 0);

    rc = fed_audit_verify(fed_data_dir(f, 0), out, OUT_MAX);
    print_message("A after the rotation: %s", out);
    if (rc != 0 || strstr(out, "signed with a retired key generation") == NULL)
        fail_msg("verify exited %d: %s", rc, out);
    fed_pass(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_verify_and_tamper, fed_teardown),
        cmocka_unit_test_teardown(test_retired_key, fed_teardown),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
