/*
 * test_client_payload: unit tests of libtmbus's pure parts: the enum
 * names and their parsers, id hex, the checks of needs and offers (a table
 * of small changes to one good need, each naming the field it breaks),
 * the payload encoders (round trips through the generated decoder),
 * wiping, the client configuration reader, and which key files
 * tmbus_connect_files refuses before it connects. No node, no socket.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "client_config.h"
#include "keyfile.h"
#include "payload.h"
#include "testutil.h"
#include "tmbus.h"

/* ---- names -------------------------------------------------------------- */

struct named {
    const char *(*name)(int);
    int (*parse)(const char *, int *);
    const char *(*names)(void);
    int count; /* values 1..count */
    const char *first, *last;
};

static void check_named(const struct named *e)
{
    char list[512];
    int got = 0, n_listed = 1;

    assert_null(e->name(0));
    assert_null(e->name(e->count + 1));
    assert_null(e->name(-1));
    assert_string_equal(e->name(1), e->first);
    assert_string_equal(e->name(e->count), e->last);
    snprintf(list, sizeof(list), "%s", e->names());
    for (const char *s = list; (s = strstr(s, ", ")) != NULL; s += 2)
        n_listed++;
    assert_int_equal(n_listed, e->count);
    for (int v = 1; v <= e->count; v++) {
        const char *name = e->name(v);
        assert_non_null(name);
        assert_int_equal(e->parse(name, &got), TMBUS_OK);
        assert_int_equal(got, v);
        assert_non_null(strstr(e->names(), name));
    }
    got = 77;
    assert_int_equal(e->parse("no-such-name", &got), TMBUS_EINVALID);
    assert_int_equal(e->parse("", &got), TMBUS_EINVALID);
    assert_int_equal(e->parse(NULL, &got), TMBUS_EINVALID);
    assert_int_equal(got, 77); /* untouched on failure */
}

static void test_names_round_trip(void **state)
{
    static const struct named enums[] = {
        {tmbus_tlp_name, tmbus_tlp_parse, tmbus_tlp_names, 5, "clear", "red"},
        {tmbus_sector_name, tmbus_sector_parse, tmbus_sector_names, 8, "energy", "other"},
        {tmbus_category_name, tmbus_category_parse, tmbus_category_names, 9, "software-licences",
         "other"},
        {tmbus_priority_name, tmbus_priority_parse, tmbus_priority_names, 4, "critical", "low"},
        {tmbus_need_status_name, tmbus_need_status_parse, tmbus_need_status_names, 5, "open",
         "withdrawn"},
        {tmbus_offer_status_name, tmbus_offer_status_parse, tmbus_offer_status_names, 6, "proposed",
         "withdrawn"},
        {tmbus_need_action_name, tmbus_need_action_parse, tmbus_need_action_names, 3, "edit",
         "withdraw"},
        {tmbus_offer_action_name, tmbus_offer_action_parse, tmbus_offer_action_names, 5, "accept",
         "withdraw"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(enums) / sizeof(enums[0]); i++)
        check_named(&enums[i]);
}

static void test_names_wire_values(void **state)
{
    int v = 0;

    (void)state;
    /* The enums are the wire values of proto/payload.proto. */
    assert_int_equal(TMBUS_TLP_AMBER_STRICT, TMBUS__PAYLOAD__TLP__TLP_AMBER_STRICT);
    assert_int_equal(TMBUS_SECTOR_WATER, TMBUS__PAYLOAD__SECTOR__SECTOR_WATER);
    assert_int_equal(TMBUS_CATEGORY_ADVISORY, TMBUS__PAYLOAD__CATEGORY__CATEGORY_ADVISORY);
    assert_int_equal(TMBUS_PRIORITY_LOW, TMBUS__PAYLOAD__PRIORITY__PRIORITY_LOW);
    assert_int_equal(TMBUS_NEED_WITHDRAW, TMBUS__PAYLOAD__NEED_UPDATE__ACTION__ACTION_WITHDRAW);
    assert_int_equal(TMBUS_OFFER_WITHDRAW, TMBUS__PAYLOAD__OFFER_UPDATE__ACTION__ACTION_WITHDRAW);
    assert_int_equal(TMBUS_RECEIPT_REJECTED, TMBUS__PAYLOAD__RECEIPT__STATE__STATE_REJECTED);

    /* What people type. */
    assert_int_equal(tmbus_tlp_parse("TLP:AMBER+STRICT", &v), TMBUS_OK);
    assert_int_equal(v, TMBUS_TLP_AMBER_STRICT);
    assert_int_equal(tmbus_tlp_parse("Red", &v), TMBUS_OK);
    assert_int_equal(v, TMBUS_TLP_RED);
    assert_int_equal(tmbus_tlp_parse("amber+", &v), TMBUS_EINVALID);
    assert_int_equal(tmbus_need_status_parse("Partially-Covered", &v), TMBUS_OK);
    assert_int_equal(v, TMBUS_NEED_PARTIALLY_COVERED);
    assert_int_equal(tmbus_category_parse("software_licences", &v), TMBUS_OK);
    assert_int_equal(v, TMBUS_CATEGORY_SOFTWARE_LICENCES);
    assert_int_equal(tmbus_category_parse("software", &v), TMBUS_EINVALID);
    assert_int_equal(tmbus_category_parse("software-licencesX", &v), TMBUS_EINVALID);
    assert_string_equal(tmbus_tlp_names(), "clear, green, amber, amber+strict, red");
    assert_string_equal(tmbus_receipt_state_name(TMBUS_RECEIPT_DELIVERED), "delivered");
    assert_null(tmbus_receipt_state_name(3));
}

static void test_kinds(void **state)
{
    const char *k = NULL, *again = NULL;

    (void)state;
    assert_int_equal(tmbus_kind_parse("need-update", &k), TMBUS_OK);
    assert_string_equal(k, "need_update");
    assert_int_equal(tmbus_kind_parse("NEED_UPDATE", &again), TMBUS_OK);
    assert_ptr_equal(k, again); /* one static canonical name */
    assert_int_equal(tmbus_kind_parse("receipt", &k), TMBUS_OK);
    assert_int_equal(tmbus_kind_parse("needs", &k), TMBUS_EINVALID);
    assert_int_equal(tmbus_kind_parse(NULL, &k), TMBUS_EINVALID);
    assert_string_equal(tmbus_kind_names(),
                        "need, offer, need_update, offer_update, receipt, need_share");
}

static void test_id_hex(void **state)
{
    uint8_t id[TMBUS_ID_BYTES], back[TMBUS_ID_BYTES];
    char hex[TMBUS_ID_HEX_BYTES], bad[TMBUS_ID_HEX_BYTES + 1];

    (void)state;
    for (size_t i = 0; i < sizeof(id); i++)
        id[i] = (uint8_t)(i * 37 + 5);
    tmbus_id_to_hex(id, hex);
    assert_int_equal(strlen(hex), 64);
    assert_memory_equal(hex, "052a4f74", 8);
    assert_int_equal(tmbus_id_from_hex(hex, back), TMBUS_OK);
    assert_memory_equal(id, back, sizeof(id));
    for (size_t i = 0; hex[i] != '\0'; i++)
        if (hex[i] >= 'a')
            hex[i] = (char)(hex[i] - 'a' + 'A');
    memset(back, 0, sizeof(back));
    assert_int_equal(tmbus_id_from_hex(hex, back), TMBUS_OK);
    assert_memory_equal(id, back, sizeof(id));

    memset(back, 0xee, sizeof(back));
    memcpy(bad, hex, sizeof(hex));
    bad[63] = 'g';
    assert_int_equal(tmbus_id_from_hex(bad, back), TMBUS_EINVALID);
    bad[63] = '\0';
    assert_int_equal(tmbus_id_from_hex(bad, back), TMBUS_EINVALID);
    memcpy(bad, hex, sizeof(hex));
    bad[64] = '0';
    bad[65] = '\0';
    assert_int_equal(tmbus_id_from_hex(bad, back), TMBUS_EINVALID);
    assert_int_equal(tmbus_id_from_hex(NULL, back), TMBUS_EINVALID);
    assert_int_equal(back[0], 0xee); /* untouched on failure */
}

/* ---- checks ------------------------------------------------------------- */

static struct tmbus_need good_need(void)
{
    return (struct tmbus_need){
        .beneficiary = "Oblenergo (regional energy operator)",
        .sector = TMBUS_SECTOR_ENERGY,
        .category = TMBUS_CATEGORY_MALWARE_DETECTION,
        .title = "EDR licences for 400 workstations",
        .description = "Endpoint detection for the control-room network.\nTwo sites.",
        .quantity = 400,
        .unit = "licences",
        .value_cents = 4800000,
        .priority = TMBUS_PRIORITY_HIGH,
        .deadline = "2024-02-29",
        .tlp = TMBUS_TLP_AMBER,
        .contact = "soc@example.ua",
    };
}

static struct tmbus_offer good_offer(const uint8_t *need_id)
{
    return (struct tmbus_offer){
        .need_id = need_id,
        .description = "200 EDR licences, 3 years, with onboarding",
        .quantity = 200,
        .value_cents = 2400000,
        .delivery_date = "2024-03-15",
        .conditions = "Licences are not transferable.",
        .tlp = TMBUS_TLP_GREEN,
    };
}

static char long_text[TMBUS_TEXT_MAX + 2];

static const char *text_of(size_t n)
{
    memset(long_text, 'x', n);
    long_text[n] = '\0';
    return long_text;
}

/* One broken need: the change and a word the reason must contain. */
struct need_case {
    const char *what;
    void (*change)(struct tmbus_need *);
    const char *expect;
};

/* Each: a name, the change to good_need(), and what the reason must say. */
#define NEED_CASES(X)                                                                              \
    X(two_line_beneficiary, n->beneficiary = "a\rb", "beneficiary must be one line")               \
    X(no_sector, n->sector = 0, "sector is required (one of energy, telecom")                      \
    X(bad_sector, n->sector = 9, "sector 9 is not one of energy")                                  \
    X(bad_category, n->category = 10, "category 10 is not one of software-licences")               \
    X(no_title, n->title = NULL, "title is required")                                              \
    X(long_title, n->title = text_of(TMBUS_TITLE_MAX + 1), "title is 201 bytes")                   \
    X(two_line_title, n->title = "EDR\nlicences", "title must be one line")                        \
    X(long_description, n->description = text_of(TMBUS_TEXT_MAX + 1), "description is")            \
    X(control_description, n->description = "bell\a", "description must be text")                  \
    X(no_quantity, n->quantity = 0, "quantity must be 1 or more")                                  \
    X(escape_unit, n->unit = "li\x1b[2Jcences", "unit must be one line")                           \
    X(long_unit, n->unit = text_of(TMBUS_UNIT_MAX + 1), "unit is 65 bytes")                        \
    X(huge_quantity, n->quantity = (uint64_t)INT64_MAX + 1, "at most")                             \
    X(huge_value, n->value_cents = UINT64_MAX, "at most")                                          \
    X(bad_priority, n->priority = 5, "priority 5 is not one of critical, high")                    \
    X(no_priority, n->priority = 0, "priority is required")                                        \
    X(not_leap, n->deadline = "2023-02-29", "deadline must be a date")                             \
    X(short_date, n->deadline = "2024-2-01", "deadline must be a date")                            \
    X(bad_month, n->deadline = "2024-13-01", "deadline must be a date")                            \
    X(day_zero, n->deadline = "2024-04-00", "deadline must be a date")                             \
    X(april_31, n->deadline = "2024-04-31", "deadline must be a date")                             \
    X(old_date, n->deadline = "1969-12-31", "deadline must be a date")                             \
    X(date_letters, n->deadline = "2024-O1-01", "deadline must be a date")                         \
    X(no_tlp, n->tlp = 0, "tlp is required (one of clear, green, amber, amber+strict, red)")       \
    X(bad_tlp, n->tlp = 6, "tlp 6 is not one of")                                                  \
    X(overlong_utf8, n->contact = "a\xc0\xaf", "contact is not valid UTF-8")                       \
    X(surrogate_utf8, n->contact = "\xed\xa0\x80", "contact is not valid UTF-8")                   \
    X(cut_utf8, n->title = "caf\xc3", "title is not valid UTF-8")                                  \
    X(beyond_unicode, n->title = "\xf4\x90\x80\x80", "title is not valid UTF-8")                   \
    X(long_contact, n->contact = text_of(TMBUS_FIELD_MAX + 1), "contact is 257 bytes")             \
    X(del_contact, n->contact = "a\x7f", "contact must be one line")

#define DEFINE_CHANGE(name, body, expect)                                                          \
    static void name(struct tmbus_need *n)                                                         \
    {                                                                                              \
        body;                                                                                      \
    }
NEED_CASES(DEFINE_CHANGE)

static void test_need_validate(void **state)
{
#define CASE_ROW(name, body, expect) {#name, name, expect},
    static const struct need_case cases[] = {NEED_CASES(CASE_ROW)};
#undef CASE_ROW
    struct tmbus_need n = good_need();
    char why[TMBUS_VALIDATE_ERROR_MAX];

    (void)state;
    assert_int_equal(tmbus_need_validate(&n, why, sizeof(why)), TMBUS_OK);
    assert_string_equal(why, "");
    /* The optional fields may all be empty; UTF-8 and the longest fields
     * pass. */
    n.beneficiary = n.description = n.unit = n.deadline = n.contact = NULL;
    n.value_cents = 0;
    assert_int_equal(tmbus_need_validate(&n, why, sizeof(why)), TMBUS_OK);
    n = good_need();
    n.beneficiary = "Укренерго — «диспетчерська» \xf0\x9f\x9b\xa1";
    n.deadline = "";
    assert_int_equal(tmbus_need_validate(&n, why, sizeof(why)), TMBUS_OK);
    n.title = text_of(TMBUS_TITLE_MAX);
    assert_int_equal(tmbus_need_validate(&n, why, sizeof(why)), TMBUS_OK);
    n.title = "EDR\tlicences"; /* a tab is not a control that harms */
    n.description = "line 1\r\nline 2";
    assert_int_equal(tmbus_need_validate(&n, why, sizeof(why)), TMBUS_OK);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        n = good_need();
        cases[i].change(&n);
        why[0] = '\0';
        if (tmbus_need_validate(&n, why, sizeof(why)) != TMBUS_EINVALID)
            fail_msg("case '%s' was accepted", cases[i].what);
        if (strstr(why, cases[i].expect) == NULL)
            fail_msg("case '%s': reason '%s' lacks '%s'", cases[i].what, why, cases[i].expect);
    }
    assert_int_equal(tmbus_need_validate(NULL, why, sizeof(why)), TMBUS_EINVALID);
    n = good_need();
    n.sector = 0;
    assert_int_equal(tmbus_need_validate(&n, NULL, 0), TMBUS_EINVALID); /* why may be NULL */
}

static void test_offer_validate(void **state)
{
    uint8_t id[TMBUS_ID_BYTES] = {1};
    struct tmbus_offer o = good_offer(id);
    char why[TMBUS_VALIDATE_ERROR_MAX];

    (void)state;
    assert_int_equal(tmbus_offer_validate(&o, why, sizeof(why)), TMBUS_OK);
    o.need_id = NULL; /* a catalogue offer */
    o.delivery_date = o.conditions = o.description = NULL;
    assert_int_equal(tmbus_offer_validate(&o, why, sizeof(why)), TMBUS_OK);

    o = good_offer(id);
    o.description = "\x07";
    assert_int_equal(tmbus_offer_validate(&o, why, sizeof(why)), TMBUS_EINVALID);
    assert_non_null(strstr(why, "description must be text"));
    o = good_offer(id);
    o.quantity = 0;
    assert_int_equal(tmbus_offer_validate(&o, why, sizeof(why)), TMBUS_EINVALID);
    assert_non_null(strstr(why, "quantity"));
    o = good_offer(id);
    o.delivery_date = "15.03.2024";
    assert_int_equal(tmbus_offer_validate(&o, why, sizeof(why)), TMBUS_EINVALID);
    assert_non_null(strstr(why, "delivery date must be a date"));
    o = good_offer(id);
    o.tlp = 0;
    assert_int_equal(tmbus_offer_validate(&o, why, sizeof(why)), TMBUS_EINVALID);
    assert_non_null(strstr(why, "tlp is required"));
    o = good_offer(id);
    o.conditions = text_of(TMBUS_CONDITIONS_MAX + 1);
    assert_int_equal(tmbus_offer_validate(&o, why, sizeof(why)), TMBUS_EINVALID);
    assert_non_null(strstr(why, "conditions is 2049 bytes"));
    o.conditions = text_of(TMBUS_CONDITIONS_MAX);
    assert_int_equal(tmbus_offer_validate(&o, why, sizeof(why)), TMBUS_OK);
    assert_int_equal(tmbus_offer_validate(NULL, why, sizeof(why)), TMBUS_EINVALID);
}

/* ---- encoding ----------------------------------------------------------- */

static void assert_need_equal(const struct tmbus_need *a, const struct tmbus_need *b)
{
    assert_string_equal(a->beneficiary, b->beneficiary);
    assert_int_equal(a->sector, b->sector);
    assert_int_equal(a->category, b->category);
    assert_string_equal(a->title, b->title);
    assert_string_equal(a->description, b->description);
    assert_int_equal(a->quantity, b->quantity);
    assert_string_equal(a->unit, b->unit);
    assert_int_equal(a->value_cents, b->value_cents);
    assert_int_equal(a->priority, b->priority);
    assert_string_equal(a->deadline, b->deadline);
    assert_int_equal(a->tlp, b->tlp);
    assert_string_equal(a->contact, b->contact);
}

static void test_encode_need(void **state)
{
    struct tmbus_need n = good_need(), back;
    Tmbus__Payload__Payload *p;
    char why[TMBUS_VALIDATE_ERROR_MAX] = "";
    uint8_t *buf = NULL;
    size_t len = 0;

    (void)state;
    assert_int_equal(payload_encode_need(&n, &buf, &len, why, sizeof(why)), TMBUS_OK);
    assert_non_null(buf);
    assert_true(len > 0);
    assert_non_null(p = payload_decode(buf, len));
    assert_string_equal(payload_kind(p), "need");
    payload_need_view(p->need, &back);
    assert_need_equal(&n, &back);

    /* Wiping leaves no byte of a string behind. */
    {
        char *title = p->need->title;
        size_t title_len = strlen(title);
        payload_wipe(&p->base);
        for (size_t i = 0; i < title_len; i++)
            assert_int_equal(title[i], 0);
        assert_int_equal(p->need->quantity, 400); /* scalars stay */
    }
    payload_free(p);
    free(buf);

    /* A need that fails its checks is never encoded. */
    n.quantity = 0;
    assert_int_equal(payload_encode_need(&n, &buf, &len, why, sizeof(why)), TMBUS_EINVALID);
    assert_null(buf);
    assert_int_equal(len, 0);
    assert_non_null(strstr(why, "quantity"));

    assert_null(payload_decode((const uint8_t *)"\xff\xff\xff", 3));
    assert_null(payload_decode(NULL, 0));
    assert_null(payload_kind(NULL));
}

static void test_encode_offer(void **state)
{
    uint8_t id[TMBUS_ID_BYTES];
    struct tmbus_offer o, back;
    Tmbus__Payload__Payload *p;
    char why[TMBUS_VALIDATE_ERROR_MAX] = "";
    uint8_t *buf = NULL;
    size_t len = 0;

    (void)state;
    memset(id, 0xab, sizeof(id));
    o = good_offer(id);
    assert_int_equal(payload_encode_offer(&o, &buf, &len, why, sizeof(why)), TMBUS_OK);
    assert_non_null(p = payload_decode(buf, len));
    assert_string_equal(payload_kind(p), "offer");
    payload_offer_view(p->offer, &back);
    assert_non_null(back.need_id);
    assert_memory_equal(back.need_id, id, sizeof(id));
    assert_string_equal(back.description, o.description);
    assert_int_equal(back.quantity, o.quantity);
    assert_int_equal(back.value_cents, o.value_cents);
    assert_string_equal(back.delivery_date, o.delivery_date);
    assert_string_equal(back.conditions, o.conditions);
    assert_int_equal(back.tlp, o.tlp);
    payload_free(p);
    free(buf);

    o.need_id = NULL;
    o.delivery_date = NULL;
    assert_int_equal(payload_encode_offer(&o, &buf, &len, why, sizeof(why)), TMBUS_OK);
    assert_non_null(p = payload_decode(buf, len));
    payload_offer_view(p->offer, &back);
    assert_null(back.need_id);                   /* a catalogue offer */
    assert_string_equal(back.delivery_date, ""); /* never NULL when read */
    payload_free(p);
    free(buf);
}

static void test_encode_updates(void **state)
{
    uint8_t id[TMBUS_ID_BYTES];
    struct tmbus_need edit = {0}, back;
    Tmbus__Payload__Payload *p;
    char why[TMBUS_VALIDATE_ERROR_MAX] = "";
    uint8_t *buf = NULL;
    size_t len = 0;

    (void)state;
    memset(id, 0x5a, sizeof(id));
    /* A close carries no fields; an edit must carry some. */
    assert_int_equal(payload_encode_need_update(id, TMBUS_NEED_CLOSE, NULL, "covered elsewhere",
                                                &buf, &len, why, sizeof(why)),
                     TMBUS_OK);
    assert_non_null(p = payload_decode(buf, len));
    assert_string_equal(payload_kind(p), "need_update");
    assert_int_equal(p->need_update->action, TMBUS_NEED_CLOSE);
    assert_null(p->need_update->need);
    assert_memory_equal(p->need_update->need_id.data, id, sizeof(id));
    assert_string_equal(p->need_update->reason, "covered elsewhere");
    payload_free(p);
    free(buf);

    assert_int_equal(
        payload_encode_need_update(id, TMBUS_NEED_EDIT, NULL, NULL, &buf, &len, why, sizeof(why)),
        TMBUS_EINVALID);
    assert_non_null(strstr(why, "an edit needs"));
    assert_int_equal(
        payload_encode_need_update(id, TMBUS_NEED_EDIT, &edit, NULL, &buf, &len, why, sizeof(why)),
        TMBUS_EINVALID);
    assert_non_null(strstr(why, "at least one field"));
    assert_int_equal(payload_encode_need_update(id, TMBUS_NEED_WITHDRAW, &edit, NULL, &buf, &len,
                                                why, sizeof(why)),
                     TMBUS_EINVALID);
    assert_non_null(strstr(why, "only an edit"));
    assert_int_equal(payload_encode_need_update(id, 4, NULL, NULL, &buf, &len, why, sizeof(why)),
                     TMBUS_EINVALID);
    assert_non_null(strstr(why, "edit, close, withdraw"));
    assert_int_equal(payload_encode_need_update(NULL, TMBUS_NEED_CLOSE, NULL, NULL, &buf, &len, why,
                                                sizeof(why)),
                     TMBUS_EINVALID);
    assert_int_equal(payload_encode_need_update(id, TMBUS_NEED_CLOSE, NULL, "two\nlines", &buf,
                                                &len, why, sizeof(why)),
                     TMBUS_EINVALID);
    assert_non_null(strstr(why, "reason must be one line"));
    edit.priority = 9;
    assert_int_equal(
        payload_encode_need_update(id, TMBUS_NEED_EDIT, &edit, NULL, &buf, &len, why, sizeof(why)),
        TMBUS_EINVALID);
    assert_non_null(strstr(why, "priority 9"));
    assert_null(buf);

    /* An edit of two fields carries those and leaves the rest unset. */
    edit.priority = TMBUS_PRIORITY_CRITICAL;
    edit.quantity = 600;
    assert_int_equal(
        payload_encode_need_update(id, TMBUS_NEED_EDIT, &edit, NULL, &buf, &len, why, sizeof(why)),
        TMBUS_OK);
    assert_non_null(p = payload_decode(buf, len));
    assert_non_null(p->need_update->need);
    payload_need_view(p->need_update->need, &back);
    assert_int_equal(back.priority, TMBUS_PRIORITY_CRITICAL);
    assert_int_equal(back.quantity, 600);
    assert_string_equal(back.title, "");
    assert_int_equal(back.tlp, 0);
    payload_free(p);
    free(buf);

    assert_int_equal(payload_encode_offer_update(id, TMBUS_OFFER_ACCEPT, "thank you", &buf, &len,
                                                 why, sizeof(why)),
                     TMBUS_OK);
    assert_non_null(p = payload_decode(buf, len));
    assert_string_equal(payload_kind(p), "offer_update");
    assert_int_equal(p->offer_update->action, TMBUS_OFFER_ACCEPT);
    assert_memory_equal(p->offer_update->offer_id.data, id, sizeof(id));
    payload_free(p);
    free(buf);
    assert_int_equal(payload_encode_offer_update(id, 0, NULL, &buf, &len, why, sizeof(why)),
                     TMBUS_EINVALID);
    assert_non_null(strstr(why, "accept, decline, deliver, confirm, withdraw"));
    assert_int_equal(payload_encode_offer_update(id, 6, NULL, &buf, &len, why, sizeof(why)),
                     TMBUS_EINVALID);
}

/* ---- the client configuration ------------------------------------------ */

static char conf_dir[512];

static const char *write_conf(const char *name, const char *text)
{
    static char path[600];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", conf_dir, name);
    assert_non_null(f = fopen(path, "w"));
    fputs(text, f);
    fclose(f);
    return path;
}

/* Reads text as a configuration; returns the result and the error after
 * the file name. */
static int read_conf(const char *text, struct client_config *c, char *err, size_t size)
{
    const char *path = write_conf("c.conf", text);
    char full[TMBUS_VALIDATE_ERROR_MAX + 600];
    size_t skip = strlen(path);
    int rc;

    full[0] = '\0';
    rc = client_config_read(path, c, full, sizeof(full));
    if (strncmp(full, path, skip) == 0)
        snprintf(err, size, "%s", full + skip);
    else
        snprintf(err, size, "%s", full);
    return rc;
}

static void test_config(void **state)
{
    static const struct {
        const char *text, *error;
    } refused[] = {
        {"endpoint = tcp://h:1\n", ":1: 'endpoint = tcp://h:1' outside the [client] section"},
        {"[node]\n", ":1: unknown section '[node]'; expected [client]"},
        {"[client\n", ":1: expected '[section]'"},
        {"[client]\nendpoint tcp://h:1\n", ":2: expected 'name = value'"},
        {"[client]\nendpoint = tcp://h:1\nnode_key = a\nkey = b\nport = 3\n",
         ":5: unknown key 'port'; expected endpoint, node_key or key"},
        {"[client]\nendpoint = tcp://h:1\nendpoint = tcp://h:2\n",
         ":3: 'endpoint' given again (first on line 2)"},
        {"[client]\nendpoint = ; nothing\n", ":2: 'endpoint' has no value"},
        {"[client]\nendpoint = tcp://h:1\nkey = b\n",
         ": 'node_key' is missing from the [client] section"},
    };
    struct client_config c;
    char err[512], want[sizeof(conf_dir) + 16];

    (void)state;
    snprintf(conf_dir, sizeof(conf_dir), "%s", tu_tempdir());
    assert_int_equal(read_conf("# tmbus client configuration\n"
                               "[client]\n"
                               "endpoint = tcp://127.0.0.1:7102\n"
                               "node_key = keys/UA.pub      ; the node's member-public key\n"
                               "  key=/etc/tmbus/UA-desk.key # absolute\r\n"
                               "\n"
                               "; the end\n",
                               &c, err, sizeof(err)),
                     TMBUS_OK);
    assert_string_equal(c.endpoint, "tcp://127.0.0.1:7102");
    snprintf(want, sizeof(want), "%s/keys/UA.pub", conf_dir);
    assert_string_equal(c.node_key, want);
    assert_string_equal(c.key, "/etc/tmbus/UA-desk.key");

    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        err[0] = '\0';
        if (read_conf(refused[i].text, &c, err, sizeof(err)) != TMBUS_EINVALID)
            fail_msg("config %zu was accepted", i);
        if (strcmp(err, refused[i].error) != 0)
            fail_msg("config %zu: got '%s', want '%s'", i, err, refused[i].error);
    }

    /* From bytes, as the fuzzer calls it: not NUL-terminated, no file
     * opened, relative paths against the named file's folder; NUL bytes
     * and oversized text refused. */
    {
        static const char text[] = "[client]\nendpoint = tcp://h:1\nnode_key = n.pub\nkey = k\n";
        char *big = calloc(1, 64 * 1024 + 2);
        assert_non_null(big);
        assert_int_equal(
            client_config_parse("d/c.conf", text, strlen(text) - 1, &c, err, sizeof(err)),
            TMBUS_OK);
        assert_string_equal(c.endpoint, "tcp://h:1");
        assert_string_equal(c.node_key, "d/n.pub");
        assert_string_equal(c.key, "d/k");
        assert_int_equal(client_config_parse("d/c.conf", text, sizeof(text), &c, err, sizeof(err)),
                         TMBUS_EINVALID);
        assert_string_equal(err, "d/c.conf: not a tmbus client configuration file");
        for (size_t i = 0; i < 64 * 1024 + 1; i++)
            big[i] = i % 2 == 0 ? '#' : '\n'; /* comment lines */
        assert_int_equal(client_config_parse("d/c.conf", big, 64 * 1024 + 1, &c, err, sizeof(err)),
                         TMBUS_EINVALID);
        assert_string_equal(err, "d/c.conf: not a tmbus client configuration file");
        assert_int_equal(client_config_parse("d/c.conf", big, 64 * 1024, &c, err, sizeof(err)),
                         TMBUS_EINVALID);
        assert_string_equal(err, "d/c.conf: 'endpoint' is missing from the [client] section");
        free(big);
    }

    /* Through the public call: a missing file is named. */
    {
        struct tmbus *h = (struct tmbus *)1;
        char missing[600];
        snprintf(missing, sizeof(missing), "%s/none.conf", conf_dir);
        assert_int_equal(tmbus_connect_config(missing, 100, &h, err, sizeof(err)), TMBUS_ENOTFOUND);
        assert_null(h);
        assert_non_null(strstr(err, "none.conf: cannot open"));
    }
    tu_rmtree(conf_dir);
}

/* ---- key files ----------------------------------------------------------- */

/* tmbus_connect_files reads both files with the shared reader and wants a
 * member-public file for the node and a client-secret file for the
 * client; each refusal comes before any socket. */
static void test_connect_files_kinds(void **state)
{
    char dir[512], node[600], key[600], pub[600], none[600], err[KEYFILE_WHY_MAX + 64];
    struct keyfile member = {.kind = KEYFILE_MEMBER_PUBLIC, .member = "alpha"};
    struct keyfile client = {.kind = KEYFILE_CLIENT_SECRET};
    const char *endpoint = "tcp://127.0.0.1:9";
    struct tmbus *h = (struct tmbus *)1;

    (void)state;
    assert_true(sodium_init() >= 0);
    snprintf(dir, sizeof(dir), "%s", tu_tempdir());
    snprintf(node, sizeof(node), "%s/alpha.pub", dir);
    snprintf(key, sizeof(key), "%s/desk.key", dir);
    snprintf(pub, sizeof(pub), "%s/desk.pub", dir);
    snprintf(none, sizeof(none), "%s/none.pub", dir);
    randombytes_buf(member.sign_pk, sizeof(member.sign_pk));
    randombytes_buf(member.box_pk, sizeof(member.box_pk));
    randombytes_buf(member.transport_pk, sizeof(member.transport_pk));
    assert_non_null(client.secret = sodium_malloc(sizeof(*client.secret)));
    sodium_memzero(client.secret, sizeof(*client.secret));
    crypto_box_keypair(client.transport_pk, client.secret->transport_sk);
    assert_int_equal(keyfile_write(node, &member, false, err, sizeof(err)), 0);
    assert_int_equal(keyfile_write(key, &client, true, err, sizeof(err)), 0);
    assert_int_equal(keyfile_write(pub, &client, false, err, sizeof(err)), 0);
    keyfile_clear(&client);

    assert_int_equal(tmbus_connect_files(endpoint, none, key, 100, &h, err, sizeof(err)),
                     TMBUS_ENOTFOUND);
    assert_null(h);
    assert_int_equal(tmbus_connect_files(endpoint, pub, key, 100, &h, err, sizeof(err)),
                     TMBUS_EINVALID);
    assert_non_null(strstr(err, "is a client-public file; expected a member-public file"));
    assert_int_equal(tmbus_connect_files(endpoint, node, pub, 100, &h, err, sizeof(err)),
                     TMBUS_EINVALID);
    assert_non_null(strstr(err, "is a client-public file; expected a client-secret file"));
    assert_int_equal(tmbus_connect_files(endpoint, key, key, 100, &h, err, sizeof(err)),
                     TMBUS_EINVALID);
    assert_non_null(strstr(err, "expected a member-public file"));
    assert_int_equal(chmod(key, 0640), 0);
    assert_int_equal(tmbus_connect_files(endpoint, node, key, 100, &h, err, sizeof(err)),
                     TMBUS_EINVALID);
    assert_non_null(strstr(err, "chmod 600"));
    assert_null(h);
    tu_rmtree(dir);
}

/* The library's version, the header's and the build's
 * (TMBUS_VERSION_STRING, from project(VERSION)) are one. */
static void test_version(void **state)
{
    char text[32];

    (void)state;
    assert_string_equal(tmbus_version(), TMBUS_VERSION_STRING);
    assert_int_equal(tmbus_version_number(), TMBUS_VERSION_NUMBER);
    snprintf(text, sizeof(text), "%d.%d.%d", TMBUS_VERSION_MAJOR, TMBUS_VERSION_MINOR,
             TMBUS_VERSION_PATCH);
    assert_string_equal(tmbus_version(), text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_round_trip),
        cmocka_unit_test(test_names_wire_values),
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_id_hex),
        cmocka_unit_test(test_need_validate),
        cmocka_unit_test(test_offer_validate),
        cmocka_unit_test(test_encode_need),
        cmocka_unit_test(test_encode_offer),
        cmocka_unit_test(test_encode_updates),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_connect_files_kinds),
        cmocka_unit_test(test_version),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
