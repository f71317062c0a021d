/*
 * Integration: "tmbus audit" (proto/PROTOCOL.md 8.5, 13) run as a user
 * would against two real nodes. An admin client lists UA's audit log a page
 * at a time, newest first, and proves an entry's inclusion in the latest
 * signed checkpoint (checked by libtmbus); the node's ordinary (poster)
 * client is refused, and the refusal is counted and shows in the log
 * itself. An entry no checkpoint covers yet cannot be proved.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#ifndef TMBUS_CLI_BIN
#error "TMBUS_CLI_BIN (the path of the tmbus binary) is not defined"
#endif

#include "clitest.h"
#include "fedclient.h"
#include "tmbus.h"

#define UA      0
#define WAIT_MS 15000
#define N_POSTS 3

/* Waits until node i's counter name is at least want. */
static void wait_counter(struct fed *f, size_t i, const char *name, uint64_t want)
{
    struct tmbus *h = fc_connect(f, i);
    int64_t end = fed_now_ms() + WAIT_MS;
    uint64_t v = 0;

    assert_non_null(h);
    while (fc_counter(h, name, &v) == TMBUS_OK && v < want && fed_now_ms() < end)
        fed_sleep_ms(100);
    tmbus_close(&h);
    if (v < want)
        fail_msg("%s: %s is %llu, waited for %llu", fed_id(f, i), name, (unsigned long long)v,
                 (unsigned long long)want);
}

static void write_conf(struct fed *f, const char *path, size_t i, const char *key)
{
    char text[4 * FED_PATH_MAX];

    snprintf(text, sizeof(text), "[client]\nendpoint = %s\nnode_key = %s\nkey = %s\n",
             fed_client_endpoint(f, i), fed_member_pub_path(f, i), key);
    clitest_write_file(path, text);
}

static void test_audit(void **state)
{
    static const char *const ids[] = {"UA", "EE"};
    static const char *const to_ee[] = {"EE"};
    struct fed *f = fed_new(2, ids);
    char admin_key[FED_PATH_MAX], admin_conf[FED_PATH_MAX], poster_conf[FED_PATH_MAX],
        tag[FC_TAG_MAX], before[32], far[32];
    struct clitest_run r = {0};
    struct tmbus *h;
    json_t *o, *entries;
    json_int_t size, next;

    assert_non_null(f);
    *state = f;
    assert_int_equal(fed_add_client(f, UA, "auditor", "admin", "red", admin_key), 0);
    snprintf(admin_conf, sizeof(admin_conf), "%s/auditor.conf", fed_dir(f));
    snprintf(poster_conf, sizeof(poster_conf), "%s/poster.conf", fed_dir(f));
    write_conf(f, admin_conf, UA, admin_key);
    write_conf(f, poster_conf, UA, fed_client_key_path(f, UA));
    assert_int_equal(fed_topology_mesh(f), 0);
    assert_int_equal(fed_start_all(f), 0);
    assert_int_equal(fed_wait_links(f, "UA", 0, "EE", 0, WAIT_MS), 0);
    assert_non_null(h = fc_connect(f, UA));
    fc_tag(tag, sizeof(tag), "audit-cli");
    for (uint32_t k = 0; k < N_POSTS; k++)
        assert_int_equal(fc_post(h, FC_TLP_GREEN, tag, k, to_ee, 1, NULL), TMBUS_OK);
    tmbus_close(&h);
    /* The checkpoint signed when the link came up covers the first
     * entries. */
    wait_counter(f, UA, "audit.checkpoints", 1);

    /* The poster is refused, and the node says so. */
    CLITEST_RUN(f, &r, "-c", poster_conf, "audit");
    clitest_assert_failed(&r, 77, "only admin clients may read the audit log");
    clitest_run_free(&r);
    wait_counter(f, UA, "api.rejected.audit-denied", 1);

    /* A page of 4, newest first. */
    CLITEST_RUN(f, &r, "-c", admin_conf, "audit", "--limit", "4", "--json");
    clitest_assert_ok(&r);
    o = clitest_json_of(&r);
    size = clitest_int_of(o, "size");
    next = clitest_int_of(o, "next");
    entries = json_object_get(o, "entries");
    assert_true(size >= N_POSTS + 2);
    assert_int_equal(json_array_size(entries), 4);
    assert_int_equal(clitest_int_of(json_array_get(entries, 0), "index"), size - 1);
    assert_int_equal(clitest_int_of(json_array_get(entries, 3), "index"), size - 4);
    assert_int_equal(next, size - 4);
    json_decref(o);
    clitest_run_free(&r);

    /* The next page goes on below it. */
    snprintf(before, sizeof(before), "%lld", (long long)next);
    CLITEST_RUN(f, &r, "-c", admin_conf, "audit", "--before", before, "--limit", "2", "--json");
    clitest_assert_ok(&r);
    o = clitest_json_of(&r);
    entries = json_object_get(o, "entries");
    assert_int_equal(clitest_int_of(json_array_get(entries, 0), "index"), next - 1);
    json_decref(o);
    clitest_run_free(&r);

    /* The whole log in text: the first entry is the node's start, and the
     * poster's refusal is recorded (once committed: within a second). */
    for (int64_t end = fed_now_ms() + WAIT_MS;;) {
        CLITEST_RUN(f, &r, "-c", admin_conf, "audit", "--limit", "100");
        clitest_assert_ok(&r);
        if (strstr(r.out, "only admin clients may read the audit log") != NULL ||
            fed_now_ms() > end)
            break;
        clitest_run_free(&r);
        fed_sleep_ms(200);
    }
    print_message("%s", r.out);
    assert_non_null(strstr(r.out, "refused client UA-client"));
    assert_non_null(strstr(r.out, "only admin clients may read the audit log"));
    assert_non_null(strstr(r.out, "start"));
    clitest_run_free(&r);

    /* Entry 0, the start, is in the checkpoint: proved and checked. */
    CLITEST_RUN(f, &r, "-c", admin_conf, "audit", "prove", "0", "--json");
    clitest_assert_ok(&r);
    o = clitest_json_of(&r);
    assert_true(json_is_true(json_object_get(o, "verified")));
    assert_string_equal(clitest_str_of(json_object_get(o, "checkpoint"), "member"), "UA");
    assert_string_equal(clitest_str_of(json_object_get(o, "entry"), "kind"), "start");
    json_decref(o);
    clitest_run_free(&r);
    CLITEST_RUN(f, &r, "-c", admin_conf, "audit", "prove", "1");
    clitest_assert_ok(&r);
    print_message("%s", r.out);
    assert_non_null(strstr(r.out, "verifies: the entry is in the checkpoint's tree"));
    clitest_run_free(&r);

    /* Past the log: no checkpoint covers it. */
    snprintf(far, sizeof(far), "%lld", (long long)size + 1000);
    CLITEST_RUN(f, &r, "-c", admin_conf, "audit", "prove", far);
    clitest_assert_failed(&r, 1, "no signed checkpoint covers that entry yet");
    clitest_run_free(&r);

    /* A page over the limit never reaches the node. */
    CLITEST_RUN(f, &r, "-c", admin_conf, "audit", "--limit", "101");
    clitest_assert_failed(&r, 64, "--limit takes 1..100");
    clitest_run_free(&r);
    fed_pass(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_audit, fed_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
