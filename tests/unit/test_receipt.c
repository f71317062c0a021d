/*
 * Unit tests for receipt.c: receipts round-trip; a reason is cut to one
 * line and to its limit; other payloads are "not a receipt" and unsound
 * receipts are malformed, so that a node neither answers nor believes them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "payload.pb-c.h"
#include "receipt.h"

static uint8_t *pack(const Tmbus__Payload__Payload *p, size_t *len)
{
    uint8_t *buf;

    *len = tmbus__payload__payload__get_packed_size(p);
    buf = malloc(*len + 1);
    assert_non_null(buf);
    tmbus__payload__payload__pack(p, buf);
    return buf;
}

static void test_round_trip(void **state)
{
    uint8_t id[RECEIPT_ID_BYTES], *buf = NULL;
    struct receipt r;
    size_t len;

    (void)state;
    memset(id, 0xab, sizeof(id));
    assert_int_equal(receipt_encode(id, RECEIPT_DELIVERED, "ignored", &buf, &len), 0);
    assert_int_equal(receipt_decode(buf, len, &r), RECEIPT_VALID);
    assert_memory_equal(r.envelope_id, id, sizeof(id));
    assert_int_equal(r.state, RECEIPT_DELIVERED);
    assert_string_equal(r.reason, "");
    free(buf);

    assert_int_equal(receipt_encode(id, RECEIPT_REJECTED, "expired\nsecond line", &buf, &len), 0);
    assert_int_equal(receipt_decode(buf, len, &r), RECEIPT_VALID);
    assert_int_equal(r.state, RECEIPT_REJECTED);
    assert_string_equal(r.reason, "expired");
    free(buf);

    assert_int_equal(receipt_encode(id, RECEIPT_PENDING, "", &buf, &len), -1);
    assert_null(buf);
    assert_int_equal(receipt_encode(NULL, RECEIPT_DELIVERED, "", &buf, &len), -1);
    assert_string_equal(receipt_state_name(RECEIPT_PENDING), "pending");
    assert_string_equal(receipt_state_name(RECEIPT_REJECTED), "rejected");
    assert_string_equal(receipt_state_name(7), "unknown");
}

static void test_long_reason_cut(void **state)
{
    char *reason = malloc(RECEIPT_REASON_MAX * 2);
    uint8_t id[RECEIPT_ID_BYTES] = {1}, *buf = NULL;
    struct receipt r;
    size_t len;

    (void)state;
    assert_non_null(reason);
    memset(reason, 'x', RECEIPT_REASON_MAX * 2 - 1);
    reason[RECEIPT_REASON_MAX * 2 - 1] = '\0';
    assert_int_equal(receipt_encode(id, RECEIPT_REJECTED, reason, &buf, &len), 0);
    assert_int_equal(receipt_decode(buf, len, &r), RECEIPT_VALID);
    assert_int_equal(strlen(r.reason), RECEIPT_REASON_MAX);
    free(buf);
    free(reason);
}

static void test_not_receipts_and_malformed(void **state)
{
    Tmbus__Payload__Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT;
    Tmbus__Payload__Need need = TMBUS__PAYLOAD__NEED__INIT;
    Tmbus__Payload__Receipt rc = TMBUS__PAYLOAD__RECEIPT__INIT;
    static const uint8_t junk[] = "need: 40 licences";
    uint8_t id[RECEIPT_ID_BYTES] = {2}, *buf;
    char reason[RECEIPT_REASON_MAX + 2];
    struct receipt r;
    size_t len;

    (void)state;
    assert_int_equal(receipt_decode(junk, sizeof(junk) - 1, &r), RECEIPT_NOT_A_RECEIPT);
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_NEED;
    p.need = &need;
    buf = pack(&p, &len);
    assert_int_equal(receipt_decode(buf, len, &r), RECEIPT_NOT_A_RECEIPT);
    free(buf);

    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_RECEIPT;
    p.receipt = &rc;
    rc.envelope_id.data = id;
    rc.envelope_id.len = sizeof(id) - 1; /* a short id */
    rc.state = TMBUS__PAYLOAD__RECEIPT__STATE__STATE_DELIVERED;
    buf = pack(&p, &len);
    assert_int_equal(receipt_decode(buf, len, &r), RECEIPT_MALFORMED);
    free(buf);

    rc.envelope_id.len = sizeof(id);
    rc.state = TMBUS__PAYLOAD__RECEIPT__STATE__STATE_UNSPECIFIED;
    buf = pack(&p, &len);
    assert_int_equal(receipt_decode(buf, len, &r), RECEIPT_MALFORMED);
    free(buf);

    rc.state = TMBUS__PAYLOAD__RECEIPT__STATE__STATE_REJECTED;
    rc.reason = "two\nlines";
    buf = pack(&p, &len);
    assert_int_equal(receipt_decode(buf, len, &r), RECEIPT_MALFORMED);
    free(buf);

    memset(reason, 'y', sizeof(reason) - 1);
    reason[sizeof(reason) - 1] = '\0';
    rc.reason = reason;
    buf = pack(&p, &len);
    assert_int_equal(receipt_decode(buf, len, &r), RECEIPT_MALFORMED);
    free(buf);

    rc.reason = "refused by the board: not-owner";
    buf = pack(&p, &len);
    assert_int_equal(receipt_decode(buf, len, &r), RECEIPT_VALID);
    assert_string_equal(r.reason, "refused by the board: not-owner");
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_long_reason_cut),
        cmocka_unit_test(test_not_receipts_and_malformed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
