/*
 * Integration: a roster that expires while the node runs (tmbusd(8),
 * ROSTER EXPIRY). UA runs a roster that expires seconds after it starts:
 * it warns at start, and at expiry refuses its client's posts and drops
 * what its peer EE relays, unacknowledged, while still answering reads;
 * a fresh roster loaded with SIGHUP lifts both, and what EE sent meanwhile
 * arrives. EE runs a roster of the same version that does not expire.
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

#include "fed.h"
#include "fedclient.h"

#define EXPIRES_IN_S 8     /* UA's roster: time enough to start and link */
#define LINK_MS      10000 /* longest wait for the link */
#define LOG_MS       5000  /* how long a reason may take to reach the log */
#define IDLE_MS      5000  /* fc_receive's patience */
#define QUIET_MS     1500  /* how long nothing must arrive */

static void copy_file(const char *from, const char *to)
{
    char buf[65536];
    FILE *in = fopen(from, "rb"), *out;
    size_t n;

    assert_non_null(in);
    assert_non_null(out = fopen(to, "wb"));
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

/* The value of counter name in node h's status; 0 when not listed. */
static uint64_t counter(struct tmbus *h, const char *name)
{
    struct tmbus_status *st = NULL;
    uint64_t v = 0;

    assert_int_equal(tmbus_status(h, FC_CALL_MS, &st), TMBUS_OK);
    for (size_t i = 0; i < tmbus_status_counter_count(st); i++) {
        const struct tmbus_counter *c = tmbus_status_counter_at(st, i);
        if (strcmp(c->name, name) == 0)
            v = c->value;
    }
    tmbus_status_free(&st);
    return v;
}

static void test_expiry_while_running(void **state)
{
    static const char *const ids[] = {"UA", "EE"};
    static const char *const roles[] = {"coordinator", "coordinator"};
    struct fed *f = *state = fed_new_with_roles(2, ids, roles);
    char short_roster[FED_PATH_MAX], tag[FC_TAG_MAX + 1];
    struct fed_roster spec = {.version = 1};
    struct fed_roster renewed = {.version = 2, .previous = short_roster};
    struct tmbus *ua = NULL, *ee = NULL;
    struct fc_inbox in;
    int64_t deadline;
    long mark;

    assert_non_null(f);
    assert_true((size_t)snprintf(short_roster, sizeof(short_roster), "%s/short.bin", fed_dir(f)) <
                sizeof(short_roster));
    assert_int_equal(fed_start(f, 1), 0);
    /* Scaled as the harness's waits are, so that a node slowed by a
     * wrapper (memcheck) still starts before its roster expires. */
    spec.expires_at = (int64_t)time(NULL) + fed_ms(EXPIRES_IN_S * 1000) / 1000;
    assert_int_equal(fed_make_roster(f, &spec), 0);
    copy_file(fed_roster_path(f), short_roster);
    assert_int_equal(fed_start(f, 0), 0);
    assert_int_equal(fed_wait_log(f, 0, "expires at", LOG_MS), 0);
    assert_int_equal(fed_wait_links(f, "UA", 0, "EE", 0, LINK_MS), 0);

    fc_tag(tag, sizeof(tag), "expiry");
    fc_inbox_init(&in, tag);
    assert_non_null(ua = fc_connect(f, 0));
    assert_non_null(ee = fc_connect(f, 1));
    assert_int_equal(counter(ua, "roster.expires-within-1d"), 1);
    assert_int_equal(fc_post(ua, FC_TLP_GREEN, tag, 0, NULL, 0, NULL), TMBUS_OK);

    /* Expiry, found by the node's own timer. */
    mark = fed_log_mark(f, 0);
    assert_int_equal(fed_wait_log_from(f, 0, 0, "expired at", (EXPIRES_IN_S + 5) * 1000), 0);
    assert_int_not_equal(fc_post(ua, FC_TLP_GREEN, tag, 1, NULL, 0, NULL), TMBUS_OK);
    assert_non_null(strstr(tmbus_last_error(ua), "the roster has expired"));
    assert_int_equal(counter(ua, "roster.expired"), 1);
    assert_int_equal(counter(ua, "route.refused.roster-expired"), 1);

    /* EE's roster still holds: its post reaches UA, which drops it. */
    assert_int_equal(tmbus_subscribe(ua, 64, FC_CALL_MS), TMBUS_OK);
    fc_receive(ua, &in, 1, IDLE_MS, 1); /* UA's own post, from before */
    assert_int_equal(in.n_tagged, 1);
    assert_int_equal(fc_post(ee, FC_TLP_GREEN, tag, 2, NULL, 0, NULL), TMBUS_OK);
    deadline = fed_now_ms() + LOG_MS;
    while (counter(ua, "rejected.roster-expired") == 0 && fed_now_ms() < deadline)
        fed_sleep_ms(100);
    assert_true(counter(ua, "rejected.roster-expired") > 0);
    assert_int_equal(fc_expect_quiet(ua, &in, QUIET_MS), 0);
    assert_int_equal(fed_log_count(f, 0, mark, "expired at"), 1);

    /* A fresh roster lifts both, and EE's post arrives after all. */
    assert_int_equal(fed_make_roster(f, &renewed), 0);
    mark = fed_log_mark(f, 0);
    assert_int_equal(fed_reload(f, 0), 0);
    assert_int_equal(fed_wait_log_from(f, 0, mark, "roster renewed", LOG_MS), 0);
    assert_int_equal(fc_receive(ua, &in, 2, IDLE_MS, 1), 2);
    assert_non_null(fc_find_index(&in, 2));
    assert_int_equal(fc_post(ua, FC_TLP_GREEN, tag, 3, NULL, 0, NULL), TMBUS_OK);

    tmbus_close(&ua);
    tmbus_close(&ee);
    fc_inbox_free(&in);
    mark = fed_log_mark(f, 0);
    assert_int_equal(fed_stop(f, 0), 0);
    /* What a key rotation would record: the heads of UA's own logs. */
    assert_int_equal(fed_log_count(f, 0, mark, "own log *: last seq "), 1);
    assert_int_equal(fed_stop(f, 1), 0);
    fed_pass(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_expiry_while_running, fed_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
