/*
 * test_rules: unit tests of the shared rules library (proto/): the limits
 * agree with every header that still repeats them, the enum name tables,
 * the member id and client name rules, dates, payload validation on
 * decoded messages, and the key file format. Where the client and the node
 * used to disagree, the case is here with the strict answer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "board.h"
#include "config.h"
#include "date.h"
#include "domain.h"
#include "envelope.h"
#include "keyfile.h"
#include "keys.h"
#include "receipt.h"
#include "tmbus.h"
#include "testutil.h"
#include "util.h"
#include "validate.h"
#include "wire_limits.h"

/* The public header keeps its own macros; they must say what the rules say. */
_Static_assert(TMBUS_MEMBER_MAX == WIRE_MEMBER_ID_MAX, "tmbus.h member id limit");
_Static_assert(TMBUS_ID_BYTES == WIRE_ID_BYTES, "tmbus.h id size");
_Static_assert(TMBUS_KEY_BYTES == WIRE_KEY_BYTES, "tmbus.h key size");
_Static_assert(TMBUS_MAX_PAYLOAD == WIRE_MAX_PAYLOAD, "tmbus.h payload limit");
_Static_assert(TMBUS_MAX_RECIPIENTS == WIRE_MAX_RECIPIENTS, "tmbus.h recipient limit");
_Static_assert(TMBUS_TITLE_MAX == WIRE_TITLE_MAX, "tmbus.h title limit");
_Static_assert(TMBUS_TEXT_MAX == WIRE_DESCRIPTION_MAX, "tmbus.h description limit");
_Static_assert(TMBUS_CONDITIONS_MAX == WIRE_CONDITIONS_MAX, "tmbus.h conditions limit");
_Static_assert(TMBUS_FIELD_MAX == WIRE_FIELD_MAX, "tmbus.h field limit");
_Static_assert(TMBUS_UNIT_MAX == WIRE_UNIT_MAX, "tmbus.h unit limit");
_Static_assert(TMBUS_REASON_MAX == WIRE_REASON_MAX, "tmbus.h reason limit");
_Static_assert(TMBUS_DATE_BYTES == WIRE_DATE_LEN, "tmbus.h date length");
_Static_assert(TMBUS_WINDOW_MAX == WIRE_WINDOW_MAX, "tmbus.h window limit");
_Static_assert(TMBUS_VALIDATE_ERROR_MAX >= VALIDATE_WHY_MAX, "tmbus.h reason buffer");
_Static_assert(TMBUS_KEY_BYTES == KEYS_PUBLIC_BYTES, "keys.h key size");

/* The node's headers that still repeat a limit, until they include it. */
_Static_assert(RECEIPT_REASON_MAX == WIRE_REASON_MAX, "receipt.h reason limit");
_Static_assert(RECEIPT_MAX_ENTRIES == WIRE_RECEIPT_ENTRIES_MAX, "receipt.h entry limit");
_Static_assert(ENVELOPE_COALITION_MAX == WIRE_COALITION_MAX, "envelope.h coalition limit");
_Static_assert(ENVELOPE_HASH_BYTES == WIRE_ID_BYTES, "envelope.h id size");
_Static_assert((int)CONFIG_TLP_CLEAR == (int)TMBUS__PAYLOAD__TLP__TLP_CLEAR &&
                   (int)CONFIG_TLP_RED == (int)TMBUS__PAYLOAD__TLP__TLP_RED,
               "config.h clearances are the wire's TLP values");
_Static_assert(BOARD_NEED_WITHDRAWN == 5 && BOARD_OFFER_WITHDRAWN == 6, "board status codes");

typedef Tmbus__Payload__Need Need;
typedef Tmbus__Payload__Offer Offer;

static uint8_t some_id[WIRE_ID_BYTES] = {1, 2, 3};

/* ---- domain ---- */

static void test_names(void **state)
{
    int v = 0;

    (void)state;
    assert_string_equal(domain_name(DOMAIN_TLP, 4), "amber+strict");
    assert_null(domain_name(DOMAIN_TLP, 0));
    assert_null(domain_name(DOMAIN_TLP, 6));
    assert_null(domain_name(DOMAIN_ENUM_COUNT, 1));
    assert_int_equal(domain_max(DOMAIN_SECTOR), TMBUS__PAYLOAD__SECTOR__SECTOR_OTHER);
    assert_int_equal(domain_max(DOMAIN_CATEGORY), TMBUS__PAYLOAD__CATEGORY__CATEGORY_OTHER);
    assert_int_equal(domain_max(DOMAIN_PRIORITY), TMBUS__PAYLOAD__PRIORITY__PRIORITY_LOW);
    assert_int_equal(domain_max(DOMAIN_NEED_ACTION),
                     TMBUS__PAYLOAD__NEED_UPDATE__ACTION__ACTION_WITHDRAW);
    assert_int_equal(domain_max(DOMAIN_OFFER_ACTION),
                     TMBUS__PAYLOAD__OFFER_UPDATE__ACTION__ACTION_WITHDRAW);
    assert_int_equal(domain_max(DOMAIN_KIND), TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_SHARE);
    assert_int_equal(domain_max(DOMAIN_NEED_STATUS), BOARD_NEED_WITHDRAWN);
    assert_int_equal(domain_max(DOMAIN_OFFER_STATUS), BOARD_OFFER_WITHDRAWN);
    /* The node's status names and the shared ones are one spelling. */
    for (int i = 1; i <= BOARD_NEED_WITHDRAWN; i++)
        assert_string_equal(domain_name(DOMAIN_NEED_STATUS, i), board_need_status_name(i));
    for (int i = 1; i <= BOARD_OFFER_WITHDRAWN; i++)
        assert_string_equal(domain_name(DOMAIN_OFFER_STATUS, i), board_offer_status_name(i));
    /* And the client's public names too. */
    for (int i = 1; i <= domain_max(DOMAIN_CATEGORY); i++) {
        assert_int_equal(domain_parse(DOMAIN_CATEGORY, domain_name(DOMAIN_CATEGORY, i), &v), 0);
        assert_int_equal(v, i);
    }
    assert_int_equal(domain_parse(DOMAIN_NEED_STATUS, "Partially-Covered", &v), 0);
    assert_int_equal(v, 2);
    assert_int_equal(domain_parse(DOMAIN_TLP, "TLP:AMBER+STRICT", &v), 0);
    assert_int_equal(v, 4);
    assert_int_equal(domain_parse(DOMAIN_CATEGORY, "software_licences", &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(domain_parse(DOMAIN_SECTOR, "tlp:energy", &v), -1);
    assert_int_equal(domain_parse(DOMAIN_SECTOR, "", &v), -1);
    assert_int_equal(domain_parse(DOMAIN_SECTOR, NULL, &v), -1);
    assert_int_equal(domain_parse(DOMAIN_PRIORITY, "urgent", &v), -1);
    assert_string_equal(domain_names(DOMAIN_PRIORITY), "critical, high, medium, low");
    assert_string_equal(domain_names(DOMAIN_KIND),
                        "need, offer, need_update, offer_update, receipt, need_share");
    /* Every list names exactly the table's values, in order. */
    for (int e = 0; e < DOMAIN_ENUM_COUNT; e++) {
        char list[512] = "";
        for (int i = 1; i <= domain_max(e); i++) {
            if (i > 1)
                strcat(list, ", ");
            strcat(list, domain_name(e, i));
        }
        assert_string_equal(list, domain_names(e));
    }
}

static void test_member_ids(void **state)
{
    char longest[WIRE_MEMBER_ID_MAX + 2];

    (void)state;
    memset(longest, 'a', sizeof(longest));
    assert_true(domain_is_member_id("EE-cert_1", 9));
    assert_true(domain_is_member_id(longest, WIRE_MEMBER_ID_MAX));
    assert_false(domain_is_member_id(longest, WIRE_MEMBER_ID_MAX + 1));
    assert_false(domain_is_member_id("", 0));
    assert_false(domain_is_member_id(NULL, 3));
    assert_false(domain_is_member_id("a.b", 3));
    assert_false(domain_is_member_id("a b", 3));
    assert_false(domain_is_member_id("a/b", 3));
    /* The node's old helper now says the same. */
    assert_true(util_is_member_id("EE", 2));
    assert_false(util_is_member_id("E.E", 3));
}

static void test_client_names(void **state)
{
    char name[WIRE_CLIENT_NAME_MAX + 2];

    (void)state;
    memset(name, 'c', sizeof(name));
    name[WIRE_CLIENT_NAME_MAX] = '\0';
    assert_true(domain_is_client_name(name));
    name[WIRE_CLIENT_NAME_MAX] = 'c';
    name[WIRE_CLIENT_NAME_MAX + 1] = '\0';
    assert_false(domain_is_client_name(name));
    assert_true(domain_is_client_name("feed.bot-1_a"));
    assert_false(domain_is_client_name(""));
    assert_false(domain_is_client_name(NULL));
    assert_false(domain_is_client_name("a/b"));
    assert_false(domain_is_client_name("a b"));
    /* Words: coalition ids and group names share the charset. */
    assert_true(domain_is_word("tallinn-mechanism.v2_x", WIRE_COALITION_MAX));
    assert_true(domain_is_word(".x", 2));
    assert_false(domain_is_word("abc", 2));
    assert_false(domain_is_word("", 2));
    assert_false(domain_is_word(NULL, 2));
    assert_false(domain_is_word("a:b", 3));
    /* The node's configuration used to take these; the CLI's keygen did
     * not, as they would make hidden or special key file names. */
    assert_false(domain_is_client_name(".hidden"));
    assert_false(domain_is_client_name("."));
    assert_false(domain_is_client_name(".."));
}

/* ---- dates ---- */

static void test_dates(void **state)
{
    int64_t t = -1;

    (void)state;
    assert_int_equal(date_parse("1970-01-01", 10, false, &t), 0);
    assert_int_equal(t, 0);
    assert_int_equal(date_parse("2024-02-29", 10, false, &t), 0);
    assert_int_equal(t, 1709164800);
    assert_int_equal(date_parse("2026-11-30T04:48:02Z", 20, true, &t), 0);
    assert_int_equal(t, 1796014082);
    assert_int_equal(date_parse("2026-11-30T04:48:02Z", 20, false, &t), -1);
    assert_int_equal(date_parse("2000-02-29", 10, false, &t), 0);
    assert_int_equal(date_parse("1900-02-28", 10, false, &t), -1); /* before 1970 */
    assert_int_equal(date_parse("2100-02-29", 10, false, &t), -1); /* not a leap year */
    assert_int_equal(date_parse("2023-02-29", 10, false, &t), -1);
    assert_int_equal(date_parse("1969-12-31", 10, false, &t), -1);
    assert_int_equal(date_parse("2024-04-31", 10, false, &t), -1);
    assert_int_equal(date_parse("2024-13-01", 10, false, &t), -1);
    assert_int_equal(date_parse("2024-00-01", 10, false, &t), -1);
    assert_int_equal(date_parse("2024-01-00", 10, false, &t), -1);
    assert_int_equal(date_parse("2024-1-01", 9, false, &t), -1);
    assert_int_equal(date_parse("2024/01/01", 10, false, &t), -1);
    assert_int_equal(date_parse("2024-01-01T24:00:00Z", 20, true, &t), -1);
    assert_int_equal(date_parse("2024-01-01T23:60:00Z", 20, true, &t), -1);
    assert_int_equal(date_parse("2024-01-01 23:00:00Z", 20, true, &t), -1);
    assert_int_equal(date_parse(NULL, 10, false, &t), -1);
    assert_true(date_is_day("9999-12-31"));
    assert_false(date_is_day("2024-01-01T00:00:00Z"));
    assert_false(date_is_day(""));
    assert_false(date_is_day(NULL));
    /* A length that is not the string's: only len bytes are read. */
    assert_int_equal(date_parse("2024-01-01xxxx", 10, false, &t), 0);
    /* The node's old helper now says the same. */
    assert_int_equal(util_parse_utc("2023-02-29", &t), -1);
    assert_int_equal(util_parse_utc("2024-02-29T12:00:00Z", &t), 0);
}

/* ---- validation ---- */

static Need good_need(void)
{
    Need n = TMBUS__PAYLOAD__NEED__INIT;

    n.beneficiary = "Regional energy operator";
    n.sector = TMBUS__PAYLOAD__SECTOR__SECTOR_ENERGY;
    n.category = TMBUS__PAYLOAD__CATEGORY__CATEGORY_HARDWARE;
    n.title = "Firewall appliances";
    n.description = "Five units.\nWith support.\tThanks.";
    n.quantity = 5;
    n.unit = "devices";
    n.value_cents = 1200000;
    n.priority = TMBUS__PAYLOAD__PRIORITY__PRIORITY_HIGH;
    n.deadline = "2027-03-31";
    n.tlp = TMBUS__PAYLOAD__TLP__TLP_AMBER;
    n.contact = "duty desk";
    return n;
}

static Offer good_offer(void)
{
    Offer o = TMBUS__PAYLOAD__OFFER__INIT;

    o.need_id.data = some_id;
    o.need_id.len = sizeof(some_id);
    o.description = "Two from stock";
    o.quantity = 2;
    o.value_cents = 480000;
    o.delivery_date = "2027-02-15";
    o.conditions = "Shipped\nto Warsaw";
    o.tlp = TMBUS__PAYLOAD__TLP__TLP_GREEN;
    return o;
}

/* Checks n, expecting fault f and (if f) a reason that contains expect. */
static void expect_need(const Need *n, bool is_edit, enum validate_fault f, const char *expect)
{
    char why[VALIDATE_WHY_MAX] = "";

    assert_int_equal(validate_need(n, is_edit, why, sizeof(why)), f);
    if (expect != NULL && strstr(why, expect) == NULL)
        fail_msg("expected \"%s\" in \"%s\"", expect, why);
}

static void test_need(void **state)
{
    Need n = good_need(), e = TMBUS__PAYLOAD__NEED__INIT;
    ProtobufCMessageUnknownField unknown = {0};
    char title[WIRE_TITLE_MAX + 2];

    (void)state;
    expect_need(&n, false, VALIDATE_OK, NULL);
    memset(title, 't', sizeof(title));
    title[WIRE_TITLE_MAX] = '\0';
    n.title = title;
    expect_need(&n, false, VALIDATE_OK, NULL);
    title[WIRE_TITLE_MAX] = 't';
    title[WIRE_TITLE_MAX + 1] = '\0';
    expect_need(&n, false, VALIDATE_BAD_FIELD, "title is 201 bytes long");
    /* The node used to take an escape sequence or a tab-free bell in a
     * title; the client did not. Both refuse it now. */
    n = good_need();
    n.title = "EDR\x1b[2J licences";
    expect_need(&n, false, VALIDATE_BAD_FIELD, "title must be one line");
    n.title = "EDR\tlicences"; /* a tab is no control character here */
    expect_need(&n, false, VALIDATE_OK, NULL);
    n.title = "EDR\xc2\x9b"
              "2J licences"; /* U+009B, the C1 CSI */
    expect_need(&n, false, VALIDATE_BAD_FIELD, "title must be one line");
    n.title = "EDR \xc2\xa0licences"; /* U+00A0, no control character */
    expect_need(&n, false, VALIDATE_OK, NULL);
    n = good_need();
    n.description = "bell\a";
    expect_need(&n, false, VALIDATE_BAD_FIELD, "description must be text");
    n.description = "caf\xc3";
    expect_need(&n, false, VALIDATE_BAD_FIELD, "description is not valid UTF-8");
    n = good_need();
    n.contact = "a\x7f";
    expect_need(&n, false, VALIDATE_BAD_FIELD, "contact must be one line");
    n = good_need();
    n.beneficiary = "a\rb";
    expect_need(&n, false, VALIDATE_BAD_FIELD, "beneficiary must be one line");
    n = good_need();
    n.sector = 9;
    expect_need(&n, false, VALIDATE_BAD_FIELD, "sector 9 is not one of energy");
    n = good_need();
    n.category = 0;
    expect_need(&n, false, VALIDATE_BAD_FIELD, "category is required");
    n = good_need();
    n.priority = 5;
    expect_need(&n, false, VALIDATE_BAD_FIELD, "priority 5");
    n = good_need();
    n.tlp = 6;
    expect_need(&n, false, VALIDATE_BAD_FIELD, "tlp 6");
    n = good_need();
    n.quantity = 0;
    expect_need(&n, false, VALIDATE_BAD_FIELD, "quantity must be 1 or more");
    n.quantity = (uint64_t)INT64_MAX + 1;
    expect_need(&n, false, VALIDATE_BAD_FIELD, "at most");
    n = good_need();
    n.value_cents = UINT64_MAX;
    expect_need(&n, false, VALIDATE_BAD_FIELD, "at most");
    n = good_need();
    n.deadline = "2023-02-29";
    expect_need(&n, false, VALIDATE_BAD_FIELD, "deadline must be a date");
    n.deadline = "";
    expect_need(&n, false, VALIDATE_OK, NULL);
    n.deadline = NULL; /* as a caller's struct may say */
    n.contact = NULL;
    expect_need(&n, false, VALIDATE_OK, NULL);
    n = good_need();
    n.base.n_unknown_fields = 1;
    n.base.unknown_fields = &unknown;
    expect_need(&n, false, VALIDATE_MALFORMED, "fields this side does not know");
    expect_need(NULL, false, VALIDATE_MALFORMED, NULL);

    /* Edits: nothing is required, but what is set is checked, and an edit
     * that changes nothing is refused (the node used to apply it). */
    expect_need(&e, true, VALIDATE_BAD_FIELD, "an edit must change at least one field");
    e.priority = TMBUS__PAYLOAD__PRIORITY__PRIORITY_CRITICAL;
    expect_need(&e, true, VALIDATE_OK, NULL);
    e.title = "two\nlines";
    expect_need(&e, true, VALIDATE_BAD_FIELD, "title must be one line");
}

static void test_offer(void **state)
{
    Offer o = good_offer();
    char why[VALIDATE_WHY_MAX];

    (void)state;
    assert_int_equal(validate_offer(&o, why, sizeof(why)), VALIDATE_OK);
    o.need_id.len = 0; /* a catalogue offer */
    assert_int_equal(validate_offer(&o, why, sizeof(why)), VALIDATE_OK);
    o.need_id.len = 31;
    assert_int_equal(validate_offer(&o, why, sizeof(why)), VALIDATE_BAD_FIELD);
    o = good_offer();
    o.tlp = 0;
    assert_int_equal(validate_offer(&o, why, sizeof(why)), VALIDATE_BAD_FIELD);
    assert_non_null(strstr(why, "tlp is required"));
    o = good_offer();
    o.quantity = 0;
    assert_int_equal(validate_offer(&o, why, sizeof(why)), VALIDATE_BAD_FIELD);
    o = good_offer();
    o.delivery_date = "2027-02-30";
    assert_int_equal(validate_offer(&o, why, sizeof(why)), VALIDATE_BAD_FIELD);
    assert_non_null(strstr(why, "delivery date must be a date"));
    o = good_offer();
    o.conditions = "bell\a"; /* the node used to take it */
    assert_int_equal(validate_offer(&o, why, sizeof(why)), VALIDATE_BAD_FIELD);
    o = good_offer();
    o.description = "\xed\xa0\x80"; /* a surrogate */
    assert_int_equal(validate_offer(&o, why, sizeof(why)), VALIDATE_BAD_FIELD);
    /* why may be NULL. */
    assert_int_equal(validate_offer(&o, NULL, 0), VALIDATE_BAD_FIELD);
}

static void test_updates(void **state)
{
    Tmbus__Payload__NeedUpdate nu = TMBUS__PAYLOAD__NEED_UPDATE__INIT;
    Tmbus__Payload__OfferUpdate ou = TMBUS__PAYLOAD__OFFER_UPDATE__INIT;
    Need edit = TMBUS__PAYLOAD__NEED__INIT;
    char why[VALIDATE_WHY_MAX];

    (void)state;
    nu.need_id.data = some_id;
    nu.need_id.len = sizeof(some_id);
    nu.action = TMBUS__PAYLOAD__NEED_UPDATE__ACTION__ACTION_CLOSE;
    nu.reason = "done";
    assert_int_equal(validate_need_update(&nu, why, sizeof(why)), VALIDATE_OK);
    nu.reason = "two\nlines";
    assert_int_equal(validate_need_update(&nu, why, sizeof(why)), VALIDATE_BAD_FIELD);
    nu.reason = "tab\tand\x01"; /* the node used to take a control character */
    assert_int_equal(validate_need_update(&nu, why, sizeof(why)), VALIDATE_BAD_FIELD);
    nu.reason = "";
    nu.action = 4;
    assert_int_equal(validate_need_update(&nu, why, sizeof(why)), VALIDATE_BAD_FIELD);
    nu.action = TMBUS__PAYLOAD__NEED_UPDATE__ACTION__ACTION_EDIT;
    assert_int_equal(validate_need_update(&nu, why, sizeof(why)), VALIDATE_BAD_FIELD);
    assert_non_null(strstr(why, "an edit needs the new field values"));
    nu.need = &edit;
    assert_int_equal(validate_need_update(&nu, why, sizeof(why)), VALIDATE_BAD_FIELD);
    edit.tlp = TMBUS__PAYLOAD__TLP__TLP_RED;
    assert_int_equal(validate_need_update(&nu, why, sizeof(why)), VALIDATE_OK);
    /* Field values on a close: the client refused them, the node ignored
     * them; refused now. */
    nu.action = TMBUS__PAYLOAD__NEED_UPDATE__ACTION__ACTION_CLOSE;
    assert_int_equal(validate_need_update(&nu, why, sizeof(why)), VALIDATE_BAD_FIELD);
    assert_non_null(strstr(why, "only an edit carries field values"));
    nu.need = NULL;
    nu.need_id.len = 16;
    assert_int_equal(validate_need_update(&nu, why, sizeof(why)), VALIDATE_BAD_FIELD);

    ou.offer_id.data = some_id;
    ou.offer_id.len = sizeof(some_id);
    ou.action = TMBUS__PAYLOAD__OFFER_UPDATE__ACTION__ACTION_ACCEPT;
    assert_int_equal(validate_offer_update(&ou, why, sizeof(why)), VALIDATE_OK);
    ou.action = 0;
    assert_int_equal(validate_offer_update(&ou, why, sizeof(why)), VALIDATE_BAD_FIELD);
    ou.action = 6;
    assert_int_equal(validate_offer_update(&ou, why, sizeof(why)), VALIDATE_BAD_FIELD);
    ou.action = TMBUS__PAYLOAD__OFFER_UPDATE__ACTION__ACTION_WITHDRAW;
    ou.offer_id.len = 0;
    assert_int_equal(validate_offer_update(&ou, why, sizeof(why)), VALIDATE_BAD_FIELD);
}

static void test_payload(void **state)
{
    Tmbus__Payload__Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT, *back;
    Tmbus__Payload__Receipt r = TMBUS__PAYLOAD__RECEIPT__INIT;
    Tmbus__Payload__Receipt__Entry e = TMBUS__PAYLOAD__RECEIPT__ENTRY__INIT, *entries[] = {&e};
    Need n = good_need();
    uint8_t buf[1024];
    size_t len;
    char why[VALIDATE_WHY_MAX];

    (void)state;
    assert_int_equal(validate_payload(&p, why, sizeof(why)), VALIDATE_MALFORMED);
    assert_int_equal(validate_payload(NULL, why, sizeof(why)), VALIDATE_MALFORMED);
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_NEED;
    p.need = &n;
    assert_int_equal(validate_payload(&p, why, sizeof(why)), VALIDATE_OK);
    /* What the client validates before encoding, the node validates the
     * same after decoding. */
    len = tmbus__payload__payload__pack(&p, buf);
    back = tmbus__payload__payload__unpack(NULL, len, buf);
    assert_non_null(back);
    assert_int_equal(validate_payload(back, why, sizeof(why)), VALIDATE_OK);
    tmbus__payload__payload__free_unpacked(back, NULL);

    e.envelope_id.data = some_id;
    e.envelope_id.len = sizeof(some_id);
    e.state = TMBUS__PAYLOAD__RECEIPT__STATE__STATE_REJECTED;
    e.reason = "unknown sender";
    r.n_entries = 1;
    r.entries = entries;
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_RECEIPT;
    p.receipt = &r;
    assert_int_equal(validate_payload(&p, why, sizeof(why)), VALIDATE_OK);
    e.state = 3;
    assert_int_equal(validate_payload(&p, why, sizeof(why)), VALIDATE_BAD_FIELD);
    e.state = TMBUS__PAYLOAD__RECEIPT__STATE__STATE_DELIVERED;
    r.n_entries = 0;
    assert_int_equal(validate_payload(&p, why, sizeof(why)), VALIDATE_BAD_FIELD);
}

/* A need share: the rules of a need as posted, a 32-byte id, a place in
 * a log, and never TLP:RED. */
static void expect_share(const Tmbus__Payload__NeedShare *sh, enum validate_fault f,
                         const char *expect)
{
    Tmbus__Payload__Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT;
    char why[VALIDATE_WHY_MAX] = "";

    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_SHARE;
    p.need_share = (Tmbus__Payload__NeedShare *)sh;
    assert_int_equal(validate_need_share(sh, why, sizeof(why)), f);
    assert_int_equal(validate_payload(&p, why, sizeof(why)), f);
    if (expect != NULL && strstr(why, expect) == NULL)
        fail_msg("expected \"%s\" in \"%s\"", expect, why);
}

static void test_need_share(void **state)
{
    Tmbus__Payload__NeedShare sh = TMBUS__PAYLOAD__NEED_SHARE__INIT, *back;
    Tmbus__Payload__Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT, *whole;
    ProtobufCMessageUnknownField unknown = {0};
    Need n = good_need(), edit = TMBUS__PAYLOAD__NEED__INIT;
    uint8_t buf[1024];
    size_t len;

    (void)state;
    sh.need_id.data = some_id;
    sh.need_id.len = sizeof(some_id);
    sh.seq = 7;
    sh.created_at = 1700000000;
    sh.need = &n;
    expect_share(&sh, VALIDATE_OK, NULL);
    /* What the owner's node packs, every node reads back the same. */
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_SHARE;
    p.need_share = &sh;
    len = tmbus__payload__payload__pack(&p, buf);
    whole = tmbus__payload__payload__unpack(NULL, len, buf);
    assert_non_null(whole);
    assert_int_equal(whole->kind_case, TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_SHARE);
    back = whole->need_share;
    assert_int_equal(back->seq, 7);
    assert_int_equal(validate_payload(whole, NULL, 0), VALIDATE_OK);
    tmbus__payload__payload__free_unpacked(whole, NULL);

    expect_share(NULL, VALIDATE_MALFORMED, "no need share");
    sh.need_id.len = 31;
    expect_share(&sh, VALIDATE_BAD_FIELD, "32-byte need id");
    sh.need_id.len = 0;
    expect_share(&sh, VALIDATE_BAD_FIELD, "32-byte need id");
    sh.need_id.len = sizeof(some_id);
    sh.seq = 0;
    expect_share(&sh, VALIDATE_BAD_FIELD, "seq must be 1");
    sh.seq = (uint64_t)INT64_MAX + 1;
    expect_share(&sh, VALIDATE_BAD_FIELD, "seq must be 1");
    sh.seq = 1;
    sh.created_at = -1;
    expect_share(&sh, VALIDATE_BAD_FIELD, "created_at");
    sh.created_at = 0;
    expect_share(&sh, VALIDATE_OK, NULL);
    sh.need = NULL;
    expect_share(&sh, VALIDATE_BAD_FIELD, "carries the need");
    /* A share is a need as posted: an edit's partial values are not one. */
    edit.title = "only a title";
    sh.need = &edit;
    expect_share(&sh, VALIDATE_BAD_FIELD, "is required");
    sh.need = &n;
    n.tlp = TMBUS__PAYLOAD__TLP__TLP_RED;
    expect_share(&sh, VALIDATE_BAD_FIELD, "TLP:RED need is never shared");
    n.tlp = TMBUS__PAYLOAD__TLP__TLP_AMBER_STRICT;
    expect_share(&sh, VALIDATE_OK, NULL);
    n.title = "";
    expect_share(&sh, VALIDATE_BAD_FIELD, "title is required");
    n = good_need();
    n.base.n_unknown_fields = 1;
    n.base.unknown_fields = &unknown;
    expect_share(&sh, VALIDATE_MALFORMED, "does not know");
    n = good_need();
    sh.base.n_unknown_fields = 1;
    sh.base.unknown_fields = &unknown;
    expect_share(&sh, VALIDATE_MALFORMED, "does not know");
}

/* ---- key files ---- */

/* A freshly made member key file's text, in sodium_malloc memory. */
static struct keyfile member_keys(void)
{
    struct keyfile kf = {.kind = KEYFILE_MEMBER_SECRET, .member = "EE"};

    assert_true(sodium_init() >= 0);
    kf.secret = sodium_malloc(sizeof(*kf.secret));
    assert_non_null(kf.secret);
    crypto_sign_keypair(kf.sign_pk, kf.secret->sign_sk);
    crypto_box_keypair(kf.box_pk, kf.secret->box_sk);
    crypto_box_keypair(kf.transport_pk, kf.secret->transport_sk);
    return kf;
}

static void expect_parse_fails(const char *text, const char *expect)
{
    struct keyfile kf;
    char why[KEYFILE_WHY_MAX] = "";

    assert_int_equal(keyfile_parse("k", text, strlen(text), &kf, why, sizeof(why)), -1);
    assert_int_equal(errno, EINVAL);
    assert_null(kf.secret);
    if (strstr(why, expect) == NULL)
        fail_msg("expected \"%s\" in \"%s\"", expect, why);
}

static void test_keyfile_text(void **state)
{
    struct keyfile kf = member_keys(), back;
    char text[KEYFILE_MAX], pub[KEYFILE_MAX], bad[KEYFILE_MAX];
    char why[KEYFILE_WHY_MAX];
    size_t len, pub_len;
    char *line;

    (void)state;
    assert_int_equal(keyfile_render(&kf, true, text, sizeof(text), &len), 0);
    assert_int_equal(len, strlen(text));
    assert_int_equal(keyfile_parse("k", text, len, &back, why, sizeof(why)), 0);
    assert_int_equal(back.kind, KEYFILE_MEMBER_SECRET);
    assert_string_equal(back.member, "EE");
    assert_memory_equal(back.sign_pk, kf.sign_pk, WIRE_KEY_BYTES);
    assert_memory_equal(back.secret, kf.secret, sizeof(*kf.secret));
    keyfile_clear(&back);
    assert_null(back.secret);

    assert_int_equal(keyfile_render(&kf, false, pub, sizeof(pub), &pub_len), 0);
    assert_null(strstr(pub, "secret ="));
    assert_int_equal(keyfile_parse("k", pub, pub_len, &back, why, sizeof(why)), 0);
    assert_int_equal(back.kind, KEYFILE_MEMBER_PUBLIC);
    assert_null(back.secret);
    assert_memory_equal(back.transport_pk, kf.transport_pk, WIRE_KEY_BYTES);
    keyfile_clear(&back);
    /* A public key set cannot render a secret file. */
    back.kind = KEYFILE_MEMBER_PUBLIC;
    assert_int_equal(keyfile_render(&back, true, bad, sizeof(bad), &len), -1);
    /* A buffer too small is refused, not cut. */
    assert_int_equal(keyfile_render(&kf, true, bad, 100, &len), -1);

    /* Refusals, each named. */
    expect_parse_fails("", "missing field 'kind'");
    expect_parse_fails("kind = member-public\nkind = member-public\n", "duplicate field 'kind'");
    expect_parse_fails("kind = wizard\n", "unknown kind 'wizard'");
    expect_parse_fails("colour = blue\n", "unknown field 'colour'");
    expect_parse_fails("kind client-public\n", "k:1: expected 'name = value'");
    expect_parse_fails("kind = client-public\n", "missing field 'transport-public'");
    expect_parse_fails("kind = client-public\ntransport-public = AAAA\n",
                       "transport-public is not the base64 encoding of exactly 32 bytes");
    expect_parse_fails("kind = governor-public\nmember = E.E\n", "member is not a member id");
    /* A secret value mistyped as a field name is never echoed. */
    expect_parse_fails("c2VjcmV0IGtleSBtYXRlcmlhbA = x\n", "unknown field '(unprintable)'");
    /* A field of another kind. */
    memcpy(bad, pub, pub_len + 1);
    line = strstr(bad, "member-public");
    memcpy(line, "client-public", 13);
    expect_parse_fails(bad, "does not belong in a client-public file");
    /* A public key that its secret does not derive. */
    memcpy(bad, text, len + 1);
    line = strstr(bad, "box-public = ") + strlen("box-public = ");
    line[0] = line[0] == 'A' ? 'B' : 'A';
    expect_parse_fails(bad, "box-public does not match box-secret");
    /* NUL bytes and oversized text. */
    assert_int_equal(keyfile_parse("k", "kind\0", 5, &back, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "NUL byte"));
    assert_int_equal(keyfile_parse("k", text, KEYFILE_MAX + 1, &back, why, sizeof(why)), -1);
    keyfile_clear(&kf);
    keyfile_clear(NULL);
}

static void test_keyfile_files(void **state)
{
    struct keyfile kf = member_keys(), back;
    const char *dir = tu_tempdir();
    char secret[512], pub[512], why[KEYFILE_WHY_MAX];
    struct stat st;

    (void)state;
    snprintf(secret, sizeof(secret), "%s/EE.key", dir);
    snprintf(pub, sizeof(pub), "%s/EE.pub", dir);
    umask(0);
    assert_int_equal(keyfile_write(secret, &kf, true, why, sizeof(why)), 0);
    assert_int_equal(keyfile_write(pub, &kf, false, why, sizeof(why)), 0);
    umask(022);
    assert_int_equal(stat(secret, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(pub, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    /* Never over an existing file. */
    assert_int_equal(keyfile_write(secret, &kf, true, why, sizeof(why)), -1);
    assert_int_equal(errno, EEXIST);
    assert_non_null(strstr(why, "already exists; refusing to overwrite it"));

    assert_int_equal(keyfile_read(secret, &back, why, sizeof(why)), 0);
    assert_memory_equal(back.secret, kf.secret, sizeof(*kf.secret));
    keyfile_clear(&back);
    assert_int_equal(keyfile_read(pub, &back, why, sizeof(why)), 0);
    keyfile_clear(&back);
    /* A secret file others can read is refused; a public one is not. */
    assert_int_equal(chmod(secret, 0640), 0);
    assert_int_equal(keyfile_read(secret, &back, why, sizeof(why)), -1);
    assert_int_equal(errno, EACCES);
    assert_non_null(strstr(why, "readable by group or others (mode 0640); chmod 600 it"));
    assert_null(back.secret);
    assert_int_equal(chmod(secret, 0620), 0);
    assert_int_equal(keyfile_read(secret, &back, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "writable by group or others"));
    assert_int_equal(chmod(pub, 0666), 0);
    assert_int_equal(keyfile_read(pub, &back, why, sizeof(why)), 0);
    keyfile_clear(&back);
    /* Missing files say so through errno; links and directories are no
     * key files. */
    snprintf(pub, sizeof(pub), "%s/none.pub", dir);
    assert_int_equal(keyfile_read(pub, &back, why, sizeof(why)), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(symlink(secret, pub), 0);
    assert_int_equal(keyfile_read(pub, &back, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "symbolic link"));
    assert_int_equal(keyfile_read(dir, &back, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "not a regular file"));
    keyfile_clear(&kf);
    tu_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),         cmocka_unit_test(test_member_ids),
        cmocka_unit_test(test_client_names),  cmocka_unit_test(test_dates),
        cmocka_unit_test(test_need),          cmocka_unit_test(test_offer),
        cmocka_unit_test(test_updates),       cmocka_unit_test(test_payload),
        cmocka_unit_test(test_need_share),    cmocka_unit_test(test_keyfile_text),
        cmocka_unit_test(test_keyfile_files),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
