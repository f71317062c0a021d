/*
 * Integration: "tmbus report", run as a user would (the real binary, by
 * path) against two real nodes, UA (the beneficiary) and EE (a donor),
 * whose board is set up through libtmbus. Checks the --json report field
 * by field (open needs by priority with the overdue flag, pledged and
 * delivered EUR cents per donor, category, sector and in total) and the
 * human tables (EUR with two decimals, OVERDUE marked).
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
#include "fedclient.h"
#include "tmbus.h"

#define UA 0
#define EE 1

#define OFFER_CENTS 250050 /* 2 500.50 EUR */
#define WAIT_MS     15000

static int setup(void **state)
{
    clitest_pair_setup(state, sizeof(struct clitest_pair));
    return 0;
}

static void post_need(struct tmbus *h, const char *title, int priority, const char *deadline,
                      uint8_t id[TMBUS_ID_BYTES])
{
    struct tmbus_need n = {0};

    n.sector = TMBUS_SECTOR_TELECOM;
    n.category = TMBUS_CATEGORY_HARDWARE;
    n.title = title;
    n.quantity = 10;
    n.unit = "devices";
    n.value_cents = 1200000;
    n.priority = priority;
    n.deadline = deadline;
    n.tlp = TMBUS_TLP_GREEN;
    assert_int_equal(tmbus_post_need(h, &n, NULL, 0, true, FC_CALL_MS, id), TMBUS_OK);
}

/* Waits until h's board shows offer id in status. */
static void wait_offer(struct tmbus *h, const uint8_t *id, const char *status)
{
    int64_t deadline = fed_now_ms() + WAIT_MS;

    for (;;) {
        struct tmbus_board *b = NULL;
        bool is_there = false;
        if (tmbus_board(h, NULL, NULL, FC_CALL_MS, &b) == TMBUS_OK)
            for (size_t i = 0; i < tmbus_board_offer_count(b); i++) {
                const struct tmbus_board_offer *o = tmbus_board_offer_at(b, i);
                is_there |= memcmp(o->id, id, TMBUS_ID_BYTES) == 0 && !strcmp(o->status, status);
            }
        tmbus_board_free(&b);
        if (is_there)
            return;
        if (fed_now_ms() > deadline)
            fail_msg("the offer never showed as %s", status);
        fed_sleep_ms(100);
    }
}

static void assert_row(json_t *rows, const char *key, json_int_t pledged, json_int_t delivered)
{
    json_t *row;

    assert_true(json_is_array(rows));
    assert_int_equal(json_array_size(rows), 1);
    row = json_array_get(rows, 0);
    assert_string_equal(clitest_str_of(row, "key"), key);
    assert_int_equal(clitest_int_of(row, "pledged_cents"), pledged);
    assert_int_equal(clitest_int_of(row, "delivered_cents"), delivered);
}

static void test_report(void **state)
{
    struct clitest_pair *c = *state;
    struct tmbus *ua = fc_connect(c->f, UA), *ee = fc_connect(c->f, EE);
    uint8_t late[TMBUS_ID_BYTES], calm[TMBUS_ID_BYTES], offer[TMBUS_ID_BYTES];
    char hex[TMBUS_ID_HEX_BYTES];
    struct tmbus_offer o = {0};
    struct clitest_run r = {0};
    json_t *j, *needs, *first;

    assert_non_null(ua);
    assert_non_null(ee);
    post_need(ua, "Spare routers", TMBUS_PRIORITY_LOW, NULL, calm);
    post_need(ua, "Field radios", TMBUS_PRIORITY_CRITICAL, "2020-01-31", late);
    o.need_id = late;
    o.quantity = 4;
    o.value_cents = OFFER_CENTS;
    o.tlp = TMBUS_TLP_GREEN;
    assert_int_equal(tmbus_post_offer(ee, &o, NULL, 0, true, FC_CALL_MS, offer), TMBUS_OK);
    wait_offer(ua, offer, "proposed");
    assert_int_equal(
        tmbus_offer_update(ua, offer, TMBUS_OFFER_ACCEPT, NULL, NULL, 0, true, FC_CALL_MS, NULL),
        TMBUS_OK);
    wait_offer(ee, offer, "accepted");

    CLITEST_RUN(c->f, &r, "-c", c->conf[EE], "--json", "report");
    clitest_assert_ok(&r);
    j = clitest_json_of(&r);
    needs = json_object_get(j, "open_needs");
    assert_int_equal(json_array_size(needs), 2);
    first = json_array_get(needs, 0);
    tmbus_id_to_hex(late, hex);
    assert_string_equal(clitest_str_of(first, "id"), hex);
    assert_string_equal(clitest_str_of(first, "priority"), "critical");
    assert_string_equal(clitest_str_of(first, "status"), "partially_covered");
    assert_true(json_is_true(json_object_get(first, "overdue")));
    assert_int_equal(clitest_int_of(first, "accepted_quantity"), 4);
    tmbus_id_to_hex(calm, hex);
    assert_string_equal(clitest_str_of(json_array_get(needs, 1), "id"), hex);
    assert_true(json_is_false(json_object_get(json_array_get(needs, 1), "overdue")));
    assert_row(json_object_get(j, "donors"), "EE", OFFER_CENTS, 0);
    assert_row(json_object_get(j, "categories"), "hardware", OFFER_CENTS, 0);
    assert_row(json_object_get(j, "sectors"), "telecom", OFFER_CENTS, 0);
    assert_int_equal(clitest_int_of(json_object_get(j, "total"), "pledged_cents"), OFFER_CENTS);
    json_decref(j);
    clitest_run_free(&r);

    CLITEST_RUN(c->f, &r, "-c", c->conf[UA], "report");
    clitest_assert_ok(&r);
    if (strstr(r.out, "OVERDUE") == NULL || strstr(r.out, "2500.50") == NULL ||
        strstr(r.out, "PLEDGED EUR") == NULL || strstr(r.out, "Field radios") == NULL ||
        strstr(r.out, "Field radios") > strstr(r.out, "Spare routers"))
        fail_msg("unexpected report:\n%s", r.out);
    clitest_run_free(&r);

    CLITEST_RUN(c->f, &r, "-c", c->conf[UA], "report", "extra");
    clitest_assert_failed(&r, 64, "unexpected argument");
    clitest_run_free(&r);

    tmbus_close(&ua);
    tmbus_close(&ee);
    fed_pass(c->f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_report, setup, clitest_pair_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
