/*
 * Integration: the tmbus CLI's board transitions, run as users would run
 * them (the real binary, by path) against two real nodes: UA, the
 * beneficiary, and EE, a donor. Walks an offer through accept, deliver
 * and confirm, declines and withdraws others, edits and closes the need,
 * and checks both boards after each step, the one-line refusals (with the
 * node's reason and exit status) of moves the rules forbid, and the
 * output of each command.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* tests/CMakeLists.txt gives every test_cli*.c the path of the binary;
 * without it this test must not build, rather than pass without running. */
#ifndef TMBUS_CLI_BIN
#error "TMBUS_CLI_BIN (the path of the tmbus binary) is not defined"
#endif

#include "clitest.h"

#define UA 0
#define EE 1

static int setup(void **state)
{
    clitest_pair_setup(state, sizeof(struct clitest_pair));
    return 0;
}

/* Runs a posting command with --json and returns its "id" in id. */
static void post_json(struct clitest_pair *c, const char *const argv[], char id[65])
{
    struct clitest_run r = {0};

    clitest_run(c->f, &r, NULL, argv);
    clitest_assert_ok(&r);
    json_t *j = clitest_json_of(&r);
    assert_true(clitest_is_hex_id(clitest_str_of(j, "id")));
    strcpy(id, clitest_str_of(j, "id"));
    json_decref(j);
    clitest_run_free(&r);
}

/* Waits until the board node i's client reads shows item id of kind with
 * key equal to value (a string); returns the item (the caller decrefs). */
static json_t *wait_field(struct clitest_pair *c, size_t i, const char *kind, const char *id,
                          const char *key, const char *value)
{
    int64_t deadline = fed_now_ms() + CLITEST_SEEN_MS;

    for (;;) {
        json_t *item = clitest_wait_on_board(c->f, c->conf[i], kind, id);
        if (strcmp(clitest_str_of(item, key), value) == 0)
            return item;
        if (fed_now_ms() > deadline)
            fail_msg("%s %s on %s's board: %s is '%s', never '%s'", kind, id, fed_id(c->f, i), key,
                     clitest_str_of(item, key), value);
        json_decref(item);
        fed_sleep_ms(200);
    }
}

/* An update's --json output: its own id, the action and the target. */
static void assert_update_json(const struct clitest_run *r, const char *action, const char *target)
{
    clitest_assert_ok(r);
    json_t *j = clitest_json_of(r);
    assert_true(clitest_is_hex_id(clitest_str_of(j, "id")));
    assert_string_not_equal(clitest_str_of(j, "id"), target);
    assert_string_equal(clitest_str_of(j, "action"), action);
    assert_string_equal(clitest_str_of(j, "target"), target);
    json_decref(j);
}

/* An update's human output: "KIND ID12 DONE" and the update's id. */
static void assert_update_line(const struct clitest_run *r, const char *kind, const char *target,
                               const char *done)
{
    char want[128];

    clitest_assert_ok(r);
    snprintf(want, sizeof(want), "%s %.12s %s\n", kind, target, done);
    if (strncmp(r->out, want, strlen(want)) != 0)
        fail_msg("expected '%s' first; got: %s", want, r->out);
    const char *id = r->out + strlen(want);
    assert_int_equal(strlen(id), 65);
    assert_int_equal(id[64], '\n');
    assert_int_equal(strspn(id, "0123456789abcdef"), 64);
}

/* ---- usage, before any node is asked --------------------------------------- */

static void test_usage(void **state)
{
    struct clitest_pair *c = *state;
    struct clitest_run r = {0};
    static const char *const helps[][2] = {
        {"accept", "offer"},   {"decline", "offer"}, {"deliver", "offer"}, {"confirm", "offer"},
        {"withdraw", "offer"}, {"close", "need"},    {"withdraw", "need"}, {"edit", "need"}};

    for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++) {
        clitest_run(c->f, &r, NULL,
                    (const char *const[]){helps[i][1], helps[i][0], "--help", NULL});
        clitest_assert_ok(&r);
        if (strstr(r.out, "usage: tmbus") == NULL || strstr(r.out, helps[i][0]) == NULL)
            fail_msg("%s %s --help printed no usage: %s", helps[i][1], helps[i][0], r.out);
        clitest_run_free(&r);
    }
    CLITEST_RUN(c->f, &r, "-c", c->conf[UA], "need", "edit", "0123456789abcdef");
    clitest_assert_failed(&r, 64, "need edit: give at least one field to change");
    clitest_run_free(&r);
    CLITEST_RUN(c->f, &r, "-c", c->conf[UA], "need", "close", "0123456789abcdef", "--title", "T");
    clitest_assert_failed(&r, 64, "--title is for need edit only");
    clitest_run_free(&r);
    CLITEST_RUN(c->f, &r, "-c", c->conf[UA], "offer", "accept");
    clitest_assert_failed(&r, 64, "expected one offer ID");
    clitest_run_free(&r);
    CLITEST_RUN(c->f, &r, "-c", c->conf[UA], "offer", "accepted", "0123456789abcdef");
    clitest_assert_failed(&r, 64, "unknown subcommand 'accepted'");
    clitest_run_free(&r);
    CLITEST_RUN(c->f, &r, "-c", c->conf[UA], "offer", "accept", "abc");
    clitest_assert_failed(&r, 64, "bad offer id 'abc'");
    clitest_run_free(&r);
    CLITEST_RUN(c->f, &r, "-c", c->conf[UA], "offer", "accept", "0123456789abcdef");
    clitest_assert_failed(&r, 1, "unknown offer id '0123456789abcdef'");
    clitest_run_free(&r);
}

/* ---- the lifecycle ------------------------------------------------------------ */

static void test_lifecycle(void **state)
{
    struct clitest_pair *c = *state;
    char need[65], o1[65], o2[65], o3[65], p1[9];
    struct clitest_run r = {0};
    json_t *j;

    post_json(c,
              (const char *const[]){"-c",
                                    c->conf[UA],
                                    "--json",
                                    "need",
                                    "post",
                                    "--title",
                                    "Firewall appliances",
                                    "--category",
                                    "hardware",
                                    "--quantity",
                                    "10",
                                    "--unit",
                                    "devices",
                                    "--value-eur",
                                    "50000",
                                    "--priority",
                                    "high",
                                    "--tlp",
                                    "amber",
                                    "--beneficiary",
                                    "Regional energy operator",
                                    "--sector",
                                    "energy",
                                    NULL},
              need);
    json_decref(clitest_wait_on_board(c->f, c->conf[EE], "need", need));
    const char *offers[][2] = {{"4", "Four appliances"}, {"3", "Three more"}, {"2", "Two spare"}};
    char *ids[] = {o1, o2, o3};
    for (size_t i = 0; i < 3; i++)
        post_json(c,
                  (const char *const[]){"-c", c->conf[EE], "--json", "offer", "post", "--need",
                                        need, "--quantity", offers[i][0], "--value-eur", "1000",
                                        "--description", offers[i][1], NULL},
                  ids[i]);
    for (size_t i = 0; i < 3; i++)
        json_decref(wait_field(c, UA, "offer", ids[i], "status", "proposed"));
    memcpy(p1, o1, 8);
    p1[8] = '\0';

    /* A donor cannot accept its own offer: the node says why. */
    CLITEST_RUN(c->f, &r, "-c", c->conf[EE], "offer", "accept", p1);
    clitest_assert_failed(&r, 77, "the node refused: only the need's owner may accept");
    clitest_run_free(&r);

    /* UA accepts by prefix; EE delivers; UA confirms. */
    CLITEST_RUN(c->f, &r, "-c", c->conf[UA], "offer", "accept", p1, "--reason", "Fits", "--json");
    assert_update_json(&r, "accept", o1);
    clitest_run_free(&r);
    json_decref(wait_field(c, EE, "offer", o1, "status", "accepted"));
    /* Only the donor delivers. */
    CLITEST_RUN(c->f, &r, "-c", c->conf[UA], "offer", "deliver", o1);
    clitest_assert_failed(&r, 77, "only the donor may deliver or withdraw an offer");
    clitest_run_free(&r);
    CLITEST_RUN(c->f, &r, "-c", c->conf[EE], "offer", "deliver", p1);
    assert_update_line(&r, "offer", o1, "delivered");
    clitest_run_free(&r);
    json_decref(wait_field(c, UA, "offer", o1, "status", "delivered"));
    CLITEST_RUN(c->f, &r, "-c", c->conf[UA], "offer", "confirm", o1);
    assert_update_line(&r, "offer", o1, "confirmed");
    clitest_run_free(&r);
    json_decref(wait_field(c, EE, "offer", o1, "status", "confirmed"));
    /* Twice is a move the status does not allow. */
    CLITEST_RUN(c->f, &r, "-c", c->conf[UA], "offer", "confirm", o1);
    clitest_assert_failed(&r, 64, "cannot confirm the offer: the offer's status does not allow");
    clitest_run_free(&r);

    /* Both boards show the coverage and the statuses. */
    for (size_t i = 0; i < 2; i++) {
        j = wait_field(c, i, "need", need, "status", "partially_covered");
        assert_int_equal(clitest_int_of(j, "accepted_quantity"), 4);
        assert_int_equal(clitest_int_of(j, "delivered_quantity"), 4);
        json_decref(j);
        CLITEST_RUN(c->f, &r, "-c", c->conf[i], "need", "list");
        clitest_assert_ok(&r);
        assert_non_null(strstr(r.out, "4/10"));
        assert_non_null(strstr(r.out, "partially_covered"));
        clitest_run_free(&r);
    }
    CLITEST_RUN(c->f, &r, "-c", c->conf[EE], "need", "show", need);
    clitest_assert_ok(&r);
    assert_non_null(strstr(r.out, "4/10 accepted, 4 delivered"));
    assert_non_null(strstr(r.out, "confirmed"));
    assert_non_null(strstr(r.out, "proposed"));
    clitest_run_free(&r);

    /* UA declines the second offer, EE withdraws the third. */
    CLITEST_RUN(c->f, &r, "-c", c->conf[UA], "offer", "decline", o2, "--reason", "Not needed");
    assert_update_line(&r, "offer", o2, "declined");
    clitest_run_free(&r);
    CLITEST_RUN(c->f, &r, "-c", c->conf[EE], "offer", "withdraw", o3, "--json");
    assert_update_json(&r, "withdraw", o3);
    clitest_run_free(&r);
    json_decref(wait_field(c, EE, "offer", o2, "status", "declined"));
    json_decref(wait_field(c, UA, "offer", o3, "status", "withdrawn"));
    json_decref(wait_field(c, UA, "offer", o2, "status", "declined"));
    json_decref(wait_field(c, EE, "offer", o3, "status", "withdrawn"));
    /* Withdrawn offers count for nothing. */
    j = wait_field(c, UA, "need", need, "status", "partially_covered");
    assert_int_equal(clitest_int_of(j, "accepted_quantity"), 4);
    json_decref(j);

    /* Only the owner edits; an edit changes only what it names. */
    CLITEST_RUN(c->f, &r, "-c", c->conf[EE], "need", "edit", need, "--title", "Mine now");
    clitest_assert_failed(&r, 77, "only the need's owner may edit, close or withdraw it");
    clitest_run_free(&r);
    CLITEST_RUN(c->f, &r, "-c", c->conf[UA], "--json", "need", "edit", need, "--title",
                "Firewall appliances, fewer", "--quantity", "4", "--reason", "Two sites done");
    assert_update_json(&r, "edit", need);
    clitest_run_free(&r);
    for (size_t i = 0; i < 2; i++) {
        /* 4 accepted of 4 needed: covered, with the coverage recomputed. */
        j = wait_field(c, i, "need", need, "title", "Firewall appliances, fewer");
        assert_int_equal(clitest_int_of(j, "quantity"), 4);
        assert_string_equal(clitest_str_of(j, "status"), "covered");
        assert_string_equal(clitest_str_of(j, "unit"), "devices");
        assert_string_equal(clitest_str_of(j, "priority"), "high");
        json_decref(j);
    }

    /* UA closes it; nobody edits a closed need. */
    CLITEST_RUN(c->f, &r, "-c", c->conf[UA], "need", "close", need, "--reason", "Met");
    assert_update_line(&r, "need", need, "closed");
    clitest_run_free(&r);
    json_decref(wait_field(c, EE, "need", need, "status", "closed"));
    CLITEST_RUN(c->f, &r, "-c", c->conf[UA], "need", "edit", need, "--quantity", "9");
    clitest_assert_failed(&r, 64, "the need is already closed or withdrawn");
    clitest_run_free(&r);

    /* need show lists every offer with where it ended. */
    CLITEST_RUN(c->f, &r, "-c", c->conf[UA], "need", "show", need, "--json");
    clitest_assert_ok(&r);
    j = clitest_json_of(&r);
    assert_string_equal(clitest_str_of(json_object_get(j, "need"), "status"), "closed");
    json_t *list = json_object_get(j, "offers"), *item;
    size_t k, seen = 0;
    assert_int_equal(json_array_size(list), 3);
    json_array_foreach(list, k, item)
    {
        const char *id = clitest_str_of(item, "id"), *status = clitest_str_of(item, "status");
        if (strcmp(id, o1) == 0 && strcmp(status, "confirmed") == 0)
            seen |= 1;
        else if (strcmp(id, o2) == 0 && strcmp(status, "declined") == 0)
            seen |= 2;
        else if (strcmp(id, o3) == 0 && strcmp(status, "withdrawn") == 0)
            seen |= 4;
    }
    assert_int_equal(seen, 7);
    json_decref(j);
    clitest_run_free(&r);
    fed_pass(c->f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_lifecycle),
    };

    return cmocka_run_group_tests(tests, setup, clitest_pair_teardown);
}
