/*
 * Integration: the need/offer board across a four-member federation
 * (proto/PROTOCOL.md §6.3), through libtmbus as members' programs would use it. UA (the
 * beneficiary) posts a need to all; EE and PL (donors) offer; UA accepts
 * one and declines the other; EE marks its delivery and UA confirms it;
 * the need is covered, then closed. Every member — NL, an observer,
 * included — ends with the same board digest and the same reports, whose
 * pledged and delivered totals are exactly the messages' values. Then a
 * need posted and withdrawn while NL is down reaches NL, withdrawn, once
 * it is back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fed.h"
#include "fedclient.h"
#include "tmbus.h"

#define LINK_MS     15000 /* links come up well within this */
#define WAIT_MS     20000 /* longest wait for a board to settle */
#define N_MEMBERS   4
#define NEED_CENTS  1200000 /* 12 000.00 EUR estimated */
#define EE_CENTS    750000  /* EE's offer: 7 500.00 EUR for all 10 */
#define PL_CENTS    333333  /* PL's offer: 3 333.33 EUR for 4 */
#define NEED_AMOUNT 10

static void init_need(struct tmbus_need *n, const char *title)
{
    memset(n, 0, sizeof(*n));
    n->beneficiary = "Regional energy operator";
    n->sector = TMBUS_SECTOR_ENERGY;
    n->category = TMBUS_CATEGORY_MALWARE_DETECTION;
    n->title = title;
    n->description = "Endpoint detection for the substations of one region.";
    n->quantity = NEED_AMOUNT;
    n->unit = "licences";
    n->value_cents = NEED_CENTS;
    n->priority = TMBUS_PRIORITY_HIGH;
    n->deadline = "2099-12-31";
    n->tlp = TMBUS_TLP_AMBER;
    n->contact = "duty desk";
}

static void offer(struct tmbus *h, const uint8_t *need_id, uint64_t quantity, uint64_t cents,
                  uint8_t id[TMBUS_ID_BYTES])
{
    struct tmbus_offer o = {0};

    o.need_id = need_id;
    o.description = "From our national stock.";
    o.quantity = quantity;
    o.value_cents = cents;
    o.delivery_date = "2099-06-30";
    o.tlp = TMBUS_TLP_AMBER;
    assert_int_equal(tmbus_post_offer(h, &o, NULL, 0, true, FC_CALL_MS, id), TMBUS_OK);
}

static void act(struct tmbus *h, const uint8_t *offer_id, int action)
{
    assert_int_equal(tmbus_offer_update(h, offer_id, action, NULL, NULL, 0, true, FC_CALL_MS, NULL),
                     TMBUS_OK);
}

/* Whether h's board shows need_id in need_status and, unless offer_id is
 * NULL, that offer in offer_status. */
static bool board_shows(struct tmbus *h, const uint8_t *need_id, const char *need_status,
                        const uint8_t *offer_id, const char *offer_status)
{
    struct tmbus_board *b = NULL;
    bool is_shown = false;

    if (tmbus_board(h, need_id, NULL, FC_CALL_MS, &b) != TMBUS_OK)
        return false;
    if (tmbus_board_need_count(b) == 1 &&
        strcmp(tmbus_board_need_at(b, 0)->status, need_status) == 0) {
        is_shown = offer_id == NULL;
        for (size_t i = 0; i < tmbus_board_offer_count(b) && !is_shown; i++) {
            const struct tmbus_board_offer *o = tmbus_board_offer_at(b, i);
            is_shown = memcmp(o->id, offer_id, TMBUS_ID_BYTES) == 0 &&
                       strcmp(o->status, offer_status) == 0;
        }
    }
    tmbus_board_free(&b);
    return is_shown;
}

/* What wait_shows waits for. */
struct shows_wait {
    struct tmbus *h;
    const uint8_t *need_id, *offer_id;
    const char *need_status, *offer_status;
};

static bool is_shown(void *arg)
{
    const struct shows_wait *w = arg;

    return board_shows(w->h, w->need_id, w->need_status, w->offer_id, w->offer_status);
}

static void wait_shows(struct tmbus *h, const char *who, const uint8_t *need_id,
                       const char *need_status, const uint8_t *offer_id, const char *offer_status)
{
    struct shows_wait w = {h, need_id, offer_id, need_status, offer_status};

    if (fed_wait_until(is_shown, &w, WAIT_MS, 50) == -1)
        fail_msg("%s's board never showed the need %s (offer %s)", who, need_status,
                 offer_status != NULL ? offer_status : "-");
}

/* Node h's board digest into out; false when the status has none. */
static bool digest_of(struct tmbus *h, uint8_t out[TMBUS_ID_BYTES])
{
    struct tmbus_status *s = NULL;
    const uint8_t *d;
    bool has = false;

    if (tmbus_status(h, FC_CALL_MS, &s) != TMBUS_OK)
        return false;
    if ((d = tmbus_status_board_digest(s)) != NULL) {
        memcpy(out, d, TMBUS_ID_BYTES);
        has = true;
    }
    tmbus_status_free(&s);
    return has;
}

/* Whether every member's board digest (arg: the N_MEMBERS handles) is the
 * same. */
static bool is_same_digest(void *arg)
{
    struct tmbus *const *h = arg;
    uint8_t first[TMBUS_ID_BYTES], d[TMBUS_ID_BYTES];
    bool is_same = digest_of(h[0], first);

    for (size_t i = 1; i < N_MEMBERS && is_same; i++)
        is_same = digest_of(h[i], d) && memcmp(d, first, TMBUS_ID_BYTES) == 0;
    return is_same;
}

/* Waits until every member's board digest is the same. */
static void wait_same_digest(struct tmbus *const h[N_MEMBERS])
{
    if (fed_wait_until(is_same_digest, (void *)h, WAIT_MS, 100) == -1)
        fail_msg("the members' board digests never agreed");
}

static void check_total(const struct tmbus_report *r, enum tmbus_report_by by, const char *key,
                        uint64_t pledged, uint64_t delivered)
{
    const struct tmbus_report_total *t;

    assert_int_equal(tmbus_report_total_count(r, by), 1);
    assert_non_null(t = tmbus_report_total_at(r, by, 0));
    assert_null(tmbus_report_total_at(r, by, 1));
    assert_string_equal(t->key, key);
    assert_int_equal(t->pledged_cents, pledged);
    assert_int_equal(t->delivered_cents, delivered);
}

/* The reports every member must give once the need is closed: no open
 * need, and EE's offer — the only one accepted — pledged and delivered. */
static void check_report(struct tmbus *h, const uint8_t *open_need)
{
    struct tmbus_report *r = NULL;
    const struct tmbus_report_total *t;

    assert_int_equal(tmbus_report(h, FC_CALL_MS, &r), TMBUS_OK);
    if (open_need == NULL) {
        assert_int_equal(tmbus_report_need_count(r), 0);
    } else {
        assert_int_equal(tmbus_report_need_count(r), 1);
        assert_memory_equal(tmbus_report_need_at(r, 0)->id, open_need, TMBUS_ID_BYTES);
        assert_false(tmbus_report_need_at(r, 0)->is_overdue);
    }
    assert_null(tmbus_report_need_at(r, 5));
    check_total(r, TMBUS_REPORT_BY_DONOR, "EE", EE_CENTS, EE_CENTS);
    check_total(r, TMBUS_REPORT_BY_CATEGORY, "malware-detection", EE_CENTS, EE_CENTS);
    check_total(r, TMBUS_REPORT_BY_SECTOR, "energy", EE_CENTS, EE_CENTS);
    assert_non_null(t = tmbus_report_overall(r));
    assert_string_equal(t->key, "total");
    assert_int_equal(t->pledged_cents, EE_CENTS);
    assert_int_equal(t->delivered_cents, EE_CENTS);
    tmbus_report_free(&r);
    assert_null(r);
}

static void test_board_scenario(void **state)
{
    static const char *const ids[N_MEMBERS] = {"UA", "EE", "PL", "NL"};
    static const char *const roles[N_MEMBERS] = {"beneficiary", "donor", "donor", "observer"};
    struct fed *f = fed_new_with_roles(N_MEMBERS, ids, roles);
    struct tmbus *h[N_MEMBERS] = {NULL};
    uint8_t need[TMBUS_ID_BYTES], ee[TMBUS_ID_BYTES], pl[TMBUS_ID_BYTES], late[TMBUS_ID_BYTES];
    struct tmbus_need n;
    size_t ua, eeh, plh, nl;

    assert_non_null(f);
    *state = f;
    ua = fed_index(f, "UA");
    eeh = fed_index(f, "EE");
    plh = fed_index(f, "PL");
    nl = fed_index(f, "NL");
    assert_int_equal(fed_start_all(f), 0);
    for (size_t i = 0; i < N_MEMBERS; i++)
        for (size_t j = i + 1; j < N_MEMBERS; j++)
            assert_int_equal(fed_wait_link(f, i, 0, fed_id(f, j), LINK_MS), 0);
    for (size_t i = 0; i < N_MEMBERS; i++)
        assert_non_null(h[i] = fc_connect(f, i));

    init_need(&n, "EDR licences for substations");
    assert_int_equal(tmbus_post_need(h[ua], &n, NULL, 0, true, FC_CALL_MS, need), TMBUS_OK);
    wait_shows(h[eeh], "EE", need, "open", NULL, NULL);
    wait_shows(h[plh], "PL", need, "open", NULL, NULL);
    offer(h[eeh], need, NEED_AMOUNT, EE_CENTS, ee);
    offer(h[plh], need, 4, PL_CENTS, pl);
    wait_shows(h[ua], "UA", need, "open", ee, "proposed");
    wait_shows(h[ua], "UA", need, "open", pl, "proposed");

    act(h[ua], ee, TMBUS_OFFER_ACCEPT);
    act(h[ua], pl, TMBUS_OFFER_DECLINE);
    wait_shows(h[eeh], "EE", need, "covered", ee, "accepted");
    act(h[eeh], ee, TMBUS_OFFER_DELIVER);
    wait_shows(h[ua], "UA", need, "covered", ee, "delivered");
    act(h[ua], ee, TMBUS_OFFER_CONFIRM);
    wait_shows(h[ua], "UA", need, "covered", ee, "confirmed");
    assert_int_equal(tmbus_need_update(h[ua], need, TMBUS_NEED_CLOSE, NULL, "covered and delivered",
                                       NULL, 0, true, FC_CALL_MS, NULL),
                     TMBUS_OK);

    for (size_t i = 0; i < N_MEMBERS; i++) {
        wait_shows(h[i], fed_id(f, i), need, "closed", ee, "confirmed");
        wait_shows(h[i], fed_id(f, i), need, "closed", pl, "declined");
    }
    wait_same_digest(h);
    for (size_t i = 0; i < N_MEMBERS; i++)
        check_report(h[i], NULL);

    /* A need posted and withdrawn while NL is down reaches NL withdrawn. */
    tmbus_close(&h[nl]);
    assert_int_equal(fed_stop(f, nl), 0);
    init_need(&n, "Satellite terminals for field teams");
    assert_int_equal(tmbus_post_need(h[ua], &n, NULL, 0, true, FC_CALL_MS, late), TMBUS_OK);
    assert_int_equal(tmbus_need_update(h[ua], late, TMBUS_NEED_WITHDRAW, NULL, "found elsewhere",
                                       NULL, 0, true, FC_CALL_MS, NULL),
                     TMBUS_OK);
    wait_shows(h[eeh], "EE", late, "withdrawn", NULL, NULL);
    assert_int_equal(fed_start(f, nl), 0);
    assert_non_null(h[nl] = fc_connect(f, nl));
    wait_shows(h[nl], "NL", late, "withdrawn", NULL, NULL);
    wait_same_digest(h);
    for (size_t i = 0; i < N_MEMBERS; i++)
        check_report(h[i], NULL);

    for (size_t i = 0; i < N_MEMBERS; i++)
        tmbus_close(&h[i]);
    fed_pass(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_board_scenario, fed_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
