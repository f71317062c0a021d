/*
 * Unit tests for message.c: a payload is decoded into a view that says
 * what it is and whether it carries fields this node does not know; bytes
 * that are no Payload get a view that says so; the role rule and the
 * direct-log TLP rule answer as the api and the board rely on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "message.h"
#include "payload.pb-c.h"

static uint8_t *pack(const Tmbus__Payload__Payload *p, size_t *len)
{
    uint8_t *buf;

    *len = tmbus__payload__payload__get_packed_size(p);
    buf = malloc(*len + 1);
    assert_non_null(buf);
    tmbus__payload__payload__pack(p, buf);
    return buf;
}

static void test_views(void **state)
{
    Tmbus__Payload__Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT;
    Tmbus__Payload__Need need = TMBUS__PAYLOAD__NEED__INIT;
    /* Field 99, varint 1: a field no schema of ours has. */
    static const uint8_t unknown[] = {0x98, 0x06, 0x01};
    static const uint8_t garbage[] = {0xff, 0xff, 0xff};
    struct message m;
    uint8_t *buf, *more;
    size_t len;

    (void)state;
    need.tlp = TMBUS__PAYLOAD__TLP__TLP_AMBER;
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_NEED;
    p.need = &need;
    buf = pack(&p, &len);
    assert_int_equal(message_decode(buf, len, &m), 0);
    assert_true(m.is_payload);
    assert_int_equal(m.kind, MESSAGE_NEED);
    assert_false(m.has_unknown);
    assert_true(message_is_sound(&m));
    assert_ptr_equal(m.bytes, buf);
    message_clear(&m);

    /* The same need with a field appended to the Payload itself. */
    more = malloc(len + sizeof(unknown));
    assert_non_null(more);
    memcpy(more, buf, len);
    memcpy(more + len, unknown, sizeof(unknown));
    assert_int_equal(message_decode(more, len + sizeof(unknown), &m), 0);
    assert_true(m.has_unknown_top);
    assert_true(m.has_unknown);
    assert_false(message_is_sound(&m));
    message_clear(&m);
    free(more);
    free(buf);

    /* An empty Payload parses but has no kind; garbage is no Payload. */
    assert_int_equal(message_decode((const uint8_t *)"", 0, &m), 0);
    assert_int_equal(m.kind, MESSAGE_NONE);
    assert_false(message_is_sound(&m));
    message_clear(&m);
    assert_int_equal(message_decode(garbage, sizeof(garbage), &m), -1);
    assert_false(m.is_payload);
    assert_int_equal(m.kind, MESSAGE_NONE);
    message_clear(&m);
}

static void test_rules(void **state)
{
    const char *why = NULL;

    (void)state;
    assert_true(message_role_allows(MESSAGE_NEED, ROSTER_ROLE_BENEFICIARY, &why));
    assert_true(message_role_allows(MESSAGE_NEED, ROSTER_ROLE_COORDINATOR, &why));
    assert_false(message_role_allows(MESSAGE_NEED, ROSTER_ROLE_DONOR, &why));
    assert_string_equal(why, "only the beneficiary and coordinators post needs");
    assert_true(message_role_allows(MESSAGE_OFFER, ROSTER_ROLE_DONOR, &why));
    assert_false(message_role_allows(MESSAGE_OFFER, ROSTER_ROLE_BENEFICIARY, &why));
    assert_string_equal(why, "only donors and coordinators post offers");
    assert_false(message_role_allows(MESSAGE_OFFER_UPDATE, ROSTER_ROLE_OBSERVER, &why));
    assert_string_equal(why, "observers read only");
    assert_true(message_role_allows(MESSAGE_OFFER_UPDATE, ROSTER_ROLE_BENEFICIARY, &why));
    /* A receipt is not a board message: anyone, observers included. */
    assert_true(message_role_allows(MESSAGE_RECEIPT, ROSTER_ROLE_OBSERVER, &why));

    assert_int_equal(message_tlp_in_log(MESSAGE_TLP_GREEN, false), MESSAGE_TLP_GREEN);
    assert_int_equal(message_tlp_in_log(MESSAGE_TLP_GREEN, true), MESSAGE_TLP_RED);
    assert_int_equal(message_tlp_in_log(MESSAGE_TLP_CLEAR, true), MESSAGE_TLP_RED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_views),
        cmocka_unit_test(test_rules),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
