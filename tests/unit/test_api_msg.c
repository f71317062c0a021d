/*
 * Unit tests for api_msg.c's board query checks: defaults, a cursor the
 * node wrote reads back and a cursor it did not write (wrong length,
 * version or list) is refused, every filter refuses an unknown value with
 * a reason, filters on the original query are refused, and an id prefix
 * becomes the id range it covers. An audit request decodes into its
 * query.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api_msg.h"

/* Checks q and expects a refusal whose reason contains want. */
static void expect_refused(const Tmbus__Api__BoardQuery *q, const char *want)
{
    struct api_board_query out;
    char why[128] = "";

    assert_int_equal(api_msg_board_query(q, &out, why, sizeof(why)), -1);
    if (strstr(why, want) == NULL)
        fail_msg("reason '%s' does not say '%s'", why, want);
}

static void test_defaults_and_cursor(void **state)
{
    Tmbus__Api__BoardQuery q = TMBUS__API__BOARD_QUERY__INIT;
    struct api_board_query out;
    uint8_t id[ENVELOPE_HASH_BYTES], cursor[API_BOARD_CURSOR_BYTES];
    char why[128];

    (void)state;
    assert_int_equal(api_msg_board_query(&q, &out, why, sizeof(why)), 0);
    assert_int_equal(out.list, API_BOARD_BOTH);
    assert_int_equal(out.need_status, -1);
    q.list = TMBUS__API__BOARD_LIST__BOARD_LIST_NEEDS;
    assert_int_equal(api_msg_board_query(&q, &out, why, sizeof(why)), 0);
    assert_int_equal(out.limit, API_BOARD_PAGE_DEFAULT);
    assert_false(out.has_after);
    q.limit = API_BOARD_PAGE_MAX;
    assert_int_equal(api_msg_board_query(&q, &out, why, sizeof(why)), 0);
    assert_int_equal(out.limit, API_BOARD_PAGE_MAX);

    for (size_t i = 0; i < sizeof(id); i++)
        id[i] = (uint8_t)(0xA0 + i);
    api_msg_board_cursor(API_BOARD_NEEDS, id, cursor);
    q.after.data = cursor;
    q.after.len = sizeof(cursor);
    assert_int_equal(api_msg_board_query(&q, &out, why, sizeof(why)), 0);
    assert_true(out.has_after);
    assert_memory_equal(out.after, id, sizeof(id));

    /* A needs cursor on the offers list, a cut one, another version. */
    q.list = TMBUS__API__BOARD_LIST__BOARD_LIST_OFFERS;
    expect_refused(&q, "cursor");
    q.list = TMBUS__API__BOARD_LIST__BOARD_LIST_NEEDS;
    q.after.len = sizeof(cursor) - 1;
    expect_refused(&q, "cursor");
    q.after.len = sizeof(cursor);
    cursor[0] = API_BOARD_CURSOR_V1 + 1;
    expect_refused(&q, "cursor");
}

static void test_bad_filters(void **state)
{
    Tmbus__Api__BoardQuery q = TMBUS__API__BOARD_QUERY__INIT;
    char *statuses[API_BOARD_FILTER_MAX + 1], *members[1];
    uint32_t codes[1];
    uint8_t short_id[31] = {0};
    size_t i;

    (void)state;
    q.list = (Tmbus__Api__BoardList)7;
    expect_refused(&q, "list");
    q.list = TMBUS__API__BOARD_LIST__BOARD_LIST_NEEDS;
    q.limit = API_BOARD_PAGE_MAX + 1;
    expect_refused(&q, "limit");
    q.limit = 0;
    q.need_id.data = short_id;
    q.need_id.len = sizeof(short_id);
    expect_refused(&q, "need_id");
    q.need_id.len = 0;
    q.need_status = "nearly";
    expect_refused(&q, "need status");
    q.need_status = "";

    /* An offer's status on the needs list, and the other way round. */
    statuses[0] = "proposed";
    q.statuses = statuses;
    q.n_statuses = 1;
    expect_refused(&q, "need status");
    q.list = TMBUS__API__BOARD_LIST__BOARD_LIST_OFFERS;
    statuses[0] = "open";
    expect_refused(&q, "offer status");
    statuses[0] = "Proposed"; /* the node's names are exact */
    expect_refused(&q, "offer status");
    for (i = 0; i <= API_BOARD_FILTER_MAX; i++)
        statuses[i] = "proposed";
    q.n_statuses = API_BOARD_FILTER_MAX + 1;
    expect_refused(&q, "more than 16");
    q.n_statuses = 0;

    codes[0] = 3;
    q.categories = codes;
    q.n_categories = 1;
    expect_refused(&q, "not offers"); /* categories filter needs */
    q.list = TMBUS__API__BOARD_LIST__BOARD_LIST_NEEDS;
    codes[0] = 0;
    expect_refused(&q, "unknown category");
    codes[0] = 10;
    expect_refused(&q, "unknown category");
    q.n_categories = 0;
    q.priorities = codes;
    q.n_priorities = 1;
    codes[0] = 5;
    expect_refused(&q, "unknown priority");
    q.n_priorities = 0;

    members[0] = "not a member";
    q.members = members;
    q.n_members = 1;
    expect_refused(&q, "member");
    q.n_members = 0;
    q.updated_since = -1;
    expect_refused(&q, "negative");
    q.updated_since = 0;
    q.id_prefix = "12x4";
    expect_refused(&q, "hex");
    q.id_prefix = "0123456789012345678901234567890123456789012345678901234567890123"
                  "4";
    expect_refused(&q, "64");
    q.id_prefix = "";

    /* The original query takes no page or filter. */
    q.list = TMBUS__API__BOARD_LIST__BOARD_LIST_BOTH;
    q.limit = 5;
    expect_refused(&q, "list needs or offers");
}

static void test_id_prefix(void **state)
{
    Tmbus__Api__BoardQuery q = TMBUS__API__BOARD_QUERY__INIT;
    struct api_board_query out;
    uint8_t want[ENVELOPE_HASH_BYTES] = {0};
    char why[128];

    (void)state;
    q.list = TMBUS__API__BOARD_LIST__BOARD_LIST_OFFERS;
    q.id_prefix = "aB";
    assert_int_equal(api_msg_board_query(&q, &out, why, sizeof(why)), 0);
    assert_true(out.has_prefix && out.has_to);
    want[0] = 0xab;
    assert_memory_equal(out.id_from, want, sizeof(want));
    want[0] = 0xac;
    assert_memory_equal(out.id_to, want, sizeof(want));

    /* An odd number of digits: the last is the high nibble. */
    q.id_prefix = "0ff";
    assert_int_equal(api_msg_board_query(&q, &out, why, sizeof(why)), 0);
    want[0] = 0x0f;
    want[1] = 0xf0;
    assert_memory_equal(out.id_from, want, sizeof(want));
    want[0] = 0x10;
    want[1] = 0x00;
    assert_memory_equal(out.id_to, want, sizeof(want));

    /* All f: no upper end. */
    q.id_prefix = "fff";
    assert_int_equal(api_msg_board_query(&q, &out, why, sizeof(why)), 0);
    assert_true(out.has_prefix);
    assert_false(out.has_to);
}

static void test_audit_request(void **state)
{
    Tmbus__Api__Request rq = TMBUS__API__REQUEST__INIT;
    Tmbus__Api__AuditQuery q = TMBUS__API__AUDIT_QUERY__INIT;
    enum api_msg_fault fault;
    struct api_msg m;
    uint8_t buf[64];
    size_t len;

    (void)state;
    rq.id = 5;
    q.prove = 1;
    q.index = 42;
    rq.kind_case = TMBUS__API__REQUEST__KIND_AUDIT;
    rq.audit = &q;
    len = tmbus__api__request__get_packed_size(&rq);
    assert_true(len <= sizeof(buf));
    tmbus__api__request__pack(&rq, buf);
    assert_int_equal(api_msg_decode(buf, len, &m, &fault), 0);
    assert_int_equal(m.kind, API_MSG_AUDIT);
    assert_int_equal(m.id, 5);
    assert_true(m.audit->prove);
    assert_int_equal(m.audit->index, 42);
    api_msg_clear(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_cursor),
        cmocka_unit_test(test_bad_filters),
        cmocka_unit_test(test_id_prefix),
        cmocka_unit_test(test_audit_request),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
