/*
 * Unit tests for receipt.c: receipts of one to RECEIPT_MAX_ENTRIES entries
 * round-trip; a reason is cut to one line and to its limit; other payloads
 * are "not a receipt", and unsound receipts (no entries, too many, one bad
 * entry among good ones) are malformed, so that a node neither answers nor
 * believes them.
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

typedef Tmbus__Payload__Receipt__Entry Entry;

static uint8_t *pack(const Tmbus__Payload__Payload *p, size_t *len)
{
    uint8_t *buf;

    *len = tmbus__payload__payload__get_packed_size(p);
    buf = malloc(*len + 1);
    assert_non_null(buf);
    tmbus__payload__payload__pack(p, buf);
    return buf;
}

static void entry_set(struct receipt_entry *e, uint8_t fill, enum receipt_state state,
                      const char *reason)
{
    memset(e, 0, sizeof(*e));
    memset(e->envelope_id, fill, sizeof(e->envelope_id));
    e->state = state;
    strcpy(e->reason, reason);
}

static void test_round_trip(void **state)
{
    struct receipt_entry e[2];
    struct receipt *r = NULL;
    uint8_t *buf = NULL;
    size_t len;

    (void)state;
    entry_set(&e[0], 0xab, RECEIPT_DELIVERED, "ignored");
    entry_set(&e[1], 0xcd, RECEIPT_REJECTED, "expired\nsecond line");
    assert_int_equal(receipt_encode(e, 1, &buf, &len), 0);
    assert_int_equal(receipt_decode(buf, len, &r), RECEIPT_VALID);
    assert_non_null(r);
    assert_int_equal(r->n_entries, 1);
    assert_memory_equal(r->entries[0].envelope_id, e[0].envelope_id, WIRE_ID_BYTES);
    assert_int_equal(r->entries[0].state, RECEIPT_DELIVERED);
    assert_string_equal(r->entries[0].reason, "");
    receipt_free(&r);
    assert_null(r);
    free(buf);

    assert_int_equal(receipt_encode(e, 2, &buf, &len), 0);
    assert_int_equal(receipt_decode(buf, len, NULL), RECEIPT_VALID);
    assert_int_equal(receipt_decode(buf, len, &r), RECEIPT_VALID);
    assert_int_equal(r->n_entries, 2);
    assert_int_equal(r->entries[0].state, RECEIPT_DELIVERED);
    assert_memory_equal(r->entries[1].envelope_id, e[1].envelope_id, WIRE_ID_BYTES);
    assert_int_equal(r->entries[1].state, RECEIPT_REJECTED);
    assert_string_equal(r->entries[1].reason, "expired");
    receipt_free(&r);
    receipt_free(&r);
    receipt_free(NULL);
    free(buf);

    entry_set(&e[1], 0xcd, RECEIPT_PENDING, "");
    assert_int_equal(receipt_encode(e, 2, &buf, &len), -1);
    assert_null(buf);
    assert_int_equal(receipt_encode(NULL, 1, &buf, &len), -1);
    assert_int_equal(receipt_encode(e, 0, &buf, &len), -1);
    assert_int_equal(receipt_encode(e, RECEIPT_MAX_ENTRIES + 1, &buf, &len), -1);
    assert_null(buf);
    assert_string_equal(receipt_state_name(RECEIPT_PENDING), "pending");
    assert_string_equal(receipt_state_name(RECEIPT_REJECTED), "rejected");
    assert_string_equal(receipt_state_name(7), "unknown");
}

/* The most entries, each with the longest reason, fit the stated bound and
 * come back in order. */
static void test_many_entries(void **state)
{
    struct receipt_entry *e = calloc(RECEIPT_MAX_ENTRIES, sizeof(*e));
    struct receipt *r = NULL;
    uint8_t *buf = NULL;
    size_t len;

    (void)state;
    assert_non_null(e);
    for (size_t i = 0; i < RECEIPT_MAX_ENTRIES; i++) {
        entry_set(&e[i], (uint8_t)i, i % 2 ? RECEIPT_REJECTED : RECEIPT_DELIVERED, "");
        memset(e[i].reason, 'a' + (int)(i % 26), RECEIPT_REASON_MAX);
        e[i].reason[RECEIPT_REASON_MAX] = '\0';
    }
    assert_int_equal(receipt_encode(e, RECEIPT_MAX_ENTRIES, &buf, &len), 0);
    assert_true(len <= RECEIPT_MAX_BYTES);
    assert_int_equal(receipt_decode(buf, len, &r), RECEIPT_VALID);
    assert_int_equal(r->n_entries, RECEIPT_MAX_ENTRIES);
    for (size_t i = 0; i < RECEIPT_MAX_ENTRIES; i++) {
        assert_int_equal(r->entries[i].envelope_id[WIRE_ID_BYTES - 1], (uint8_t)i);
        assert_int_equal(r->entries[i].state, i % 2 ? RECEIPT_REJECTED : RECEIPT_DELIVERED);
        assert_int_equal(strlen(r->entries[i].reason), i % 2 ? RECEIPT_REASON_MAX : 0);
    }
    receipt_free(&r);
    free(buf);
    free(e);
}

static void test_long_reason_cut(void **state)
{
    char *reason = malloc(RECEIPT_REASON_MAX * 2);
    struct receipt_entry e;
    struct receipt *r = NULL;
    uint8_t *buf = NULL;
    size_t len;

    (void)state;
    assert_non_null(reason);
    memset(reason, 'x', RECEIPT_REASON_MAX * 2 - 1);
    reason[RECEIPT_REASON_MAX * 2 - 1] = '\0';
    /* The entry's own array holds at most RECEIPT_REASON_MAX bytes: an
     * unterminated one is cut there. */
    entry_set(&e, 1, RECEIPT_REJECTED, "");
    memcpy(e.reason, reason, sizeof(e.reason));
    assert_int_equal(receipt_encode(&e, 1, &buf, &len), 0);
    assert_int_equal(receipt_decode(buf, len, &r), RECEIPT_VALID);
    assert_int_equal(strlen(r->entries[0].reason), RECEIPT_REASON_MAX);
    receipt_free(&r);
    free(buf);
    free(reason);
}

/* What the node encodes, its recipients accept: a reason is cut before a
 * control character and never inside a UTF-8 sequence. */
static void test_reason_kept_sound(void **state)
{
    struct receipt_entry e;
    struct receipt *r = NULL;
    uint8_t *buf = NULL;
    size_t len;

    (void)state;
    entry_set(&e, 1, RECEIPT_REJECTED, "expired\x1b[31m red");
    assert_int_equal(receipt_encode(&e, 1, &buf, &len), 0);
    assert_int_equal(receipt_decode(buf, len, &r), RECEIPT_VALID);
    assert_string_equal(r->entries[0].reason, "expired");
    receipt_free(&r);
    free(buf);

    /* 1,023 bytes and a two-byte letter: the letter does not fit. */
    memset(e.reason, 'x', RECEIPT_REASON_MAX - 1);
    memcpy(e.reason + RECEIPT_REASON_MAX - 1, "\xc3\xa9", 2);
    assert_int_equal(receipt_encode(&e, 1, &buf, &len), 0);
    assert_int_equal(receipt_decode(buf, len, &r), RECEIPT_VALID);
    assert_int_equal(strlen(r->entries[0].reason), RECEIPT_REASON_MAX - 1);
    receipt_free(&r);
    free(buf);
}

static void test_not_receipts_and_malformed(void **state)
{
    Tmbus__Payload__Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT;
    Tmbus__Payload__Need need = TMBUS__PAYLOAD__NEED__INIT;
    Tmbus__Payload__Receipt rc = TMBUS__PAYLOAD__RECEIPT__INIT;
    Entry good = TMBUS__PAYLOAD__RECEIPT__ENTRY__INIT, bad = TMBUS__PAYLOAD__RECEIPT__ENTRY__INIT;
    Entry *two[2] = {&good, &bad}, **many;
    static const uint8_t junk[] = "need: 40 licences";
    uint8_t id[WIRE_ID_BYTES] = {2}, *buf;
    char reason[RECEIPT_REASON_MAX + 2];
    struct receipt *r = NULL;
    size_t len;

    (void)state;
    assert_int_equal(receipt_decode(junk, sizeof(junk) - 1, &r), RECEIPT_NOT_A_RECEIPT);
    assert_null(r);
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_NEED;
    p.need = &need;
    buf = pack(&p, &len);
    assert_int_equal(receipt_decode(buf, len, &r), RECEIPT_NOT_A_RECEIPT);
    free(buf);

    /* No entries at all. */
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_RECEIPT;
    p.receipt = &rc;
    buf = pack(&p, &len);
    assert_int_equal(receipt_decode(buf, len, &r), RECEIPT_MALFORMED);
    assert_null(r);
    free(buf);

    /* A good entry, then a bad one: the whole receipt is malformed. */
    good.envelope_id.data = id;
    good.envelope_id.len = sizeof(id);
    good.state = TMBUS__PAYLOAD__RECEIPT__STATE__STATE_DELIVERED;
    bad = good;
    rc.entries = two;
    rc.n_entries = 2;
    bad.envelope_id.len = sizeof(id) - 1; /* a short id */
    buf = pack(&p, &len);
    assert_int_equal(receipt_decode(buf, len, &r), RECEIPT_MALFORMED);
    assert_null(r);
    free(buf);

    bad.envelope_id.len = sizeof(id);
    bad.state = TMBUS__PAYLOAD__RECEIPT__STATE__STATE_UNSPECIFIED;
    buf = pack(&p, &len);
    assert_int_equal(receipt_decode(buf, len, &r), RECEIPT_MALFORMED);
    free(buf);

    bad.state = TMBUS__PAYLOAD__RECEIPT__STATE__STATE_REJECTED;
    bad.reason = "two\nlines";
    buf = pack(&p, &len);
    assert_int_equal(receipt_decode(buf, len, &r), RECEIPT_MALFORMED);
    free(buf);

    /* The shared text rule: no control characters, only UTF-8. */
    bad.reason = "refused\x1b[31m";
    buf = pack(&p, &len);
    assert_int_equal(receipt_decode(buf, len, &r), RECEIPT_MALFORMED);
    free(buf);
    bad.reason = "refus\xe9";
    buf = pack(&p, &len);
    assert_int_equal(receipt_decode(buf, len, &r), RECEIPT_MALFORMED);
    free(buf);

    memset(reason, 'y', sizeof(reason) - 1);
    reason[sizeof(reason) - 1] = '\0';
    bad.reason = reason;
    buf = pack(&p, &len);
    assert_int_equal(receipt_decode(buf, len, &r), RECEIPT_MALFORMED);
    free(buf);

    bad.reason = "refused by the board: not-owner";
    buf = pack(&p, &len);
    assert_int_equal(receipt_decode(buf, len, &r), RECEIPT_VALID);
    assert_int_equal(r->n_entries, 2);
    assert_string_equal(r->entries[1].reason, "refused by the board: not-owner");
    receipt_free(&r);
    free(buf);

    /* One entry more than the bound. */
    many = calloc(RECEIPT_MAX_ENTRIES + 1, sizeof(*many));
    assert_non_null(many);
    for (size_t i = 0; i <= RECEIPT_MAX_ENTRIES; i++)
        many[i] = &good;
    rc.entries = many;
    rc.n_entries = RECEIPT_MAX_ENTRIES;
    buf = pack(&p, &len);
    assert_int_equal(receipt_decode(buf, len, NULL), RECEIPT_VALID);
    free(buf);
    rc.n_entries = RECEIPT_MAX_ENTRIES + 1;
    buf = pack(&p, &len);
    assert_int_equal(receipt_decode(buf, len, &r), RECEIPT_MALFORMED);
    assert_null(r);
    free(buf);
    free(many);

    /* A truncated receipt is no Payload at all. */
    rc.entries = two;
    rc.n_entries = 2;
    buf = pack(&p, &len);
    assert_int_equal(receipt_decode(buf, len - 1, &r), RECEIPT_NOT_A_RECEIPT);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_many_entries),
        cmocka_unit_test(test_long_reason_cut),
        cmocka_unit_test(test_reason_kept_sound),
        cmocka_unit_test(test_not_receipts_and_malformed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
