/*
 * Unit tests for message.c: a payload is decoded into a view that says
 * what it is, whether it carries fields this node does not know and what
 * the shared field rules (proto/validate.h) say of it; bytes that are no
 * Payload get a view that says so; the role rule and the direct-log TLP
 * rule answer as the api and the board rely on.
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
#include "validate.h"

static uint8_t *pack(const Tmbus__Payload__Payload *p, size_t *len)
{
    uint8_t *buf;

    *len = tmbus__payload__payload__get_packed_size(p);
    buf = malloc(*len + 1);
    assert_non_null(buf);
    tmbus__payload__payload__pack(p, buf);
    return buf;
}

static void init_need(Tmbus__Payload__Need *need)
{
    tmbus__payload__need__init(need);
    need->sector = TMBUS__PAYLOAD__SECTOR__SECTOR_ENERGY;
    need->category = TMBUS__PAYLOAD__CATEGORY__CATEGORY_HARDWARE;
    need->title = "Spare routers";
    need->quantity = 3;
    need->priority = TMBUS__PAYLOAD__PRIORITY__PRIORITY_MEDIUM;
    need->tlp = TMBUS__PAYLOAD__TLP__TLP_AMBER;
}

/* Decodes p into m, asserting that it is a Payload. */
static uint8_t *decode(const Tmbus__Payload__Payload *p, struct message *m)
{
    size_t len;
    uint8_t *buf = pack(p, &len);

    assert_int_equal(message_decode(buf, len, m), 0);
    assert_true(m->is_payload);
    return buf;
}

static void test_views(void **state)
{
    Tmbus__Payload__Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT;
    Tmbus__Payload__Need need;
    /* Field 99, varint 1: a field no schema of ours has. */
    static const uint8_t unknown[] = {0x98, 0x06, 0x01};
    static const uint8_t garbage[] = {0xff, 0xff, 0xff};
    struct message m;
    uint8_t *buf, *more, *bare;
    size_t len;

    (void)state;
    init_need(&need);
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_NEED;
    p.need = &need;
    buf = pack(&p, &len);
    assert_int_equal(message_decode(buf, len, &m), 0);
    assert_true(m.is_payload);
    assert_int_equal(m.kind, MESSAGE_NEED);
    assert_false(m.has_unknown);
    assert_int_equal(m.fault, VALIDATE_OK);
    assert_true(message_is_sound(&m));
    assert_ptr_equal(m.bytes, buf);
    message_clear(&m);

    /* A need with a label and nothing else is a need, and no sound one. */
    tmbus__payload__need__init(&need);
    need.tlp = TMBUS__PAYLOAD__TLP__TLP_AMBER;
    bare = decode(&p, &m);
    assert_int_equal(m.kind, MESSAGE_NEED);
    assert_false(m.has_unknown);
    assert_int_equal(m.fault, VALIDATE_BAD_FIELD);
    assert_non_null(strstr(m.why, "sector"));
    assert_false(message_is_sound(&m));
    message_clear(&m);
    free(bare);

    /* The same need with a field appended to the Payload itself. */
    more = malloc(len + sizeof(unknown));
    assert_non_null(more);
    memcpy(more, buf, len);
    memcpy(more + len, unknown, sizeof(unknown));
    assert_int_equal(message_decode(more, len + sizeof(unknown), &m), 0);
    assert_true(m.has_unknown);
    assert_int_equal(m.fault, VALIDATE_MALFORMED);
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
    assert_int_equal(m.fault, VALIDATE_MALFORMED);
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

/* The view applies the shared field rules, which are stricter than the
 * node's own checks were: each of these used to pass the node and was
 * refused only by the client library. */
static void test_strict_fields(void **state)
{
    Tmbus__Payload__Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT;
    Tmbus__Payload__NeedUpdate u = TMBUS__PAYLOAD__NEED_UPDATE__INIT;
    Tmbus__Payload__Receipt r = TMBUS__PAYLOAD__RECEIPT__INIT;
    Tmbus__Payload__Receipt__Entry e = TMBUS__PAYLOAD__RECEIPT__ENTRY__INIT, *ep = &e;
    Tmbus__Payload__Need need, edit;
    static uint8_t id[32] = {7};
    static const char *const bad_titles[] = {"bell\a", "esc\x1b[0m", "del\x7f", "\xc3\x28"};
    struct message m;
    uint8_t *buf;

    (void)state;
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_NEED;
    p.need = &need;
    for (size_t i = 0; i < sizeof(bad_titles) / sizeof(bad_titles[0]); i++) {
        init_need(&need);
        need.title = (char *)bad_titles[i];
        buf = decode(&p, &m);
        assert_int_equal(m.fault, VALIDATE_BAD_FIELD);
        assert_non_null(strstr(m.why, "title"));
        message_clear(&m);
        free(buf);
    }
    /* A tab is text; a day that does not exist (2100 is no leap year) is not. */
    init_need(&need);
    need.description = "two\tcolumns\nand a second line";
    need.deadline = "2100-02-28";
    buf = decode(&p, &m);
    assert_int_equal(m.fault, VALIDATE_OK);
    message_clear(&m);
    free(buf);
    need.deadline = "2100-02-29";
    buf = decode(&p, &m);
    assert_int_equal(m.fault, VALIDATE_BAD_FIELD);
    assert_non_null(strstr(m.why, "deadline"));
    message_clear(&m);
    free(buf);

    /* An edit that changes nothing, and a close that carries values. */
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_UPDATE;
    p.need_update = &u;
    u.need_id.data = id;
    u.need_id.len = sizeof(id);
    u.action = TMBUS__PAYLOAD__NEED_UPDATE__ACTION__ACTION_EDIT;
    tmbus__payload__need__init(&edit);
    u.need = &edit;
    buf = decode(&p, &m);
    assert_int_equal(m.fault, VALIDATE_BAD_FIELD);
    assert_non_null(strstr(m.why, "at least one field"));
    message_clear(&m);
    free(buf);
    u.action = TMBUS__PAYLOAD__NEED_UPDATE__ACTION__ACTION_CLOSE;
    edit.title = "New title";
    buf = decode(&p, &m);
    assert_int_equal(m.fault, VALIDATE_BAD_FIELD);
    message_clear(&m);
    free(buf);
    u.need = NULL;
    u.reason = "done\x01";
    buf = decode(&p, &m);
    assert_int_equal(m.fault, VALIDATE_BAD_FIELD);
    assert_non_null(strstr(m.why, "reason"));
    message_clear(&m);
    free(buf);

    /* A receipt's reason obeys the same text rule. */
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_RECEIPT;
    p.receipt = &r;
    r.n_entries = 1;
    r.entries = &ep;
    e.envelope_id.data = id;
    e.envelope_id.len = sizeof(id);
    e.state = TMBUS__PAYLOAD__RECEIPT__STATE__STATE_REJECTED;
    e.reason = "refused\x1b";
    buf = decode(&p, &m);
    assert_int_equal(m.kind, MESSAGE_RECEIPT);
    assert_int_equal(m.fault, VALIDATE_BAD_FIELD);
    message_clear(&m);
    free(buf);
}

/* What a message refers to, and the label it states itself: the inputs of
 * the referent rules (effective label = max(own, referent's)). */
static void test_referent(void **state)
{
    Tmbus__Payload__Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT;
    Tmbus__Payload__Need need, edit;
    Tmbus__Payload__Offer offer = TMBUS__PAYLOAD__OFFER__INIT;
    Tmbus__Payload__NeedUpdate nu = TMBUS__PAYLOAD__NEED_UPDATE__INIT;
    Tmbus__Payload__OfferUpdate ou = TMBUS__PAYLOAD__OFFER_UPDATE__INIT;
    uint8_t id[32];
    struct message m;
    uint8_t *buf;
    bool is_offer = true;

    (void)state;
    memset(id, 7, sizeof(id));
    init_need(&need);
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_NEED;
    p.need = &need;
    buf = decode(&p, &m);
    assert_null(message_referent(&m, &is_offer));
    assert_false(is_offer);
    assert_int_equal(message_stated_tlp(&m), MESSAGE_TLP_AMBER);
    message_clear(&m);
    free(buf);

    offer.need_id.data = id;
    offer.need_id.len = sizeof(id);
    offer.tlp = TMBUS__PAYLOAD__TLP__TLP_GREEN;
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER;
    p.offer = &offer;
    buf = decode(&p, &m);
    assert_memory_equal(message_referent(&m, &is_offer), id, sizeof(id));
    assert_false(is_offer);
    assert_int_equal(message_stated_tlp(&m), MESSAGE_TLP_GREEN);
    message_clear(&m);
    free(buf);

    /* A close states no label; an edit states the one it sets. */
    nu.need_id.data = id;
    nu.need_id.len = sizeof(id);
    nu.action = TMBUS__PAYLOAD__NEED_UPDATE__ACTION__ACTION_CLOSE;
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_UPDATE;
    p.need_update = &nu;
    buf = decode(&p, &m);
    assert_memory_equal(message_referent(&m, &is_offer), id, sizeof(id));
    assert_int_equal(message_stated_tlp(&m), 0);
    message_clear(&m);
    free(buf);
    tmbus__payload__need__init(&edit);
    edit.tlp = TMBUS__PAYLOAD__TLP__TLP_RED;
    nu.action = TMBUS__PAYLOAD__NEED_UPDATE__ACTION__ACTION_EDIT;
    nu.need = &edit;
    buf = decode(&p, &m);
    assert_int_equal(message_stated_tlp(&m), MESSAGE_TLP_RED);
    message_clear(&m);
    free(buf);

    ou.offer_id.data = id;
    ou.offer_id.len = sizeof(id);
    ou.action = TMBUS__PAYLOAD__OFFER_UPDATE__ACTION__ACTION_ACCEPT;
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER_UPDATE;
    p.offer_update = &ou;
    buf = decode(&p, &m);
    assert_memory_equal(message_referent(&m, &is_offer), id, sizeof(id));
    assert_true(is_offer);
    assert_int_equal(message_stated_tlp(&m), 0);
    message_clear(&m);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_views),
        cmocka_unit_test(test_strict_fields),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_referent),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
