/*
 * Integration: TLP follows what a message is about (proto/PROTOCOL.md §6.5).
 * Three nodes in a mesh: UA (beneficiary), EE and NL (donors). Each test acts
 * as a member's clients would, and as a careless or curious one: an edit of
 * an AMBER need must not reach a GREEN reader, a client must not act on a
 * need above its clearance nor learn that it exists, an offer may not carry
 * a lower label than its need, and an update of a TLP:RED need travels only
 * in the direct log to the member the need went to, never through a third
 * node.
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

#define LINK_MS 15000
#define IDLE_MS 15000

static const char *const members[] = {"UA", "EE", "NL"};

/* A mesh of the three members, running, with EE's client at clearance
 * `ee_clearance`. */
static struct fed *mesh(void **state, const char *ee_clearance)
{
    struct fed *f = fed_new(3, members);

    assert_non_null(f);
    *state = f;
    assert_int_equal(fed_topology_mesh(f), 0);
    assert_int_equal(fed_set_clearance(f, fed_index(f, "EE"), ee_clearance), 0);
    assert_int_equal(fed_start_all(f), 0);
    for (size_t i = 0; i < 3; i++)
        for (size_t k = i + 1; k < 3; k++)
            assert_int_equal(fed_wait_links(f, members[i], 0, members[k], 0, LINK_MS), 0);
    return f;
}

static struct tmbus_need need_of(const char *title, int tlp)
{
    return (struct tmbus_need){
        .sector = TMBUS_SECTOR_ENERGY,
        .category = TMBUS_CATEGORY_OTHER,
        .title = title,
        .description = "before",
        .quantity = 10,
        .priority = TMBUS_PRIORITY_HIGH,
        .tlp = tlp,
    };
}

/* What one client received until a need titled marker came. */
struct seen {
    size_t n_updates; /* need updates about need */
    bool has_need;    /* need itself */
    bool has_marker;
    char update_log[TMBUS_MEMBER_MAX + 1]; /* the log_peer of the last such update */
};

static void receive_until(struct tmbus *h, const char *marker, const uint8_t *need, struct seen *s)
{
    int64_t deadline = fed_now_ms() + IDLE_MS;

    memset(s, 0, sizeof(*s));
    while (!s->has_marker && fed_now_ms() < deadline) {
        struct tmbus_delivery *d = NULL;
        const char *kind;

        if (tmbus_next(h, 500, &d) != TMBUS_OK)
            continue;
        kind = tmbus_delivery_kind(d);
        if (kind != NULL && strcmp(kind, "need") == 0) {
            const struct tmbus_need *n = tmbus_delivery_need(d);
            s->has_marker = strcmp(n->title, marker) == 0;
            s->has_need |= memcmp(tmbus_delivery_id(d), need, TMBUS_ID_BYTES) == 0;
        } else if (kind != NULL && strcmp(kind, "need_update") == 0) {
            s->n_updates++;
            snprintf(s->update_log, sizeof(s->update_log), "%s", tmbus_delivery_log_peer(d));
        }
        assert_int_equal(tmbus_ack(h, tmbus_delivery_number(d), FC_CALL_MS), TMBUS_OK);
        tmbus_delivery_free(&d);
    }
    if (!s->has_marker)
        fail_msg("the marker %s never arrived", marker);
}

/* Seen: UA posts an AMBER need to all and edits its description; a GREEN
 * reader at EE received the edit's text while `need list` hid the need. */
static void test_edit_of_amber_need_skips_green_reader(void **state)
{
    struct fed *f = mesh(state, "green");
    struct tmbus_need need = need_of("amber need", TMBUS_TLP_AMBER);
    struct tmbus_need edit = {.description = "the edit's secret text"};
    struct tmbus_need marker = need_of("marker 1", TMBUS_TLP_GREEN);
    struct tmbus *ha, *he, *hn;
    uint8_t id[TMBUS_ID_BYTES];
    struct seen at_ee, at_nl;

    assert_non_null(ha = fc_connect(f, fed_index(f, "UA")));
    assert_non_null(he = fc_connect(f, fed_index(f, "EE")));
    assert_non_null(hn = fc_connect(f, fed_index(f, "NL")));
    assert_int_equal(tmbus_subscribe(he, 64, FC_CALL_MS), TMBUS_OK);
    assert_int_equal(tmbus_subscribe(hn, 64, FC_CALL_MS), TMBUS_OK);

    assert_int_equal(tmbus_post_need(ha, &need, NULL, 0, true, FC_CALL_MS, id), TMBUS_OK);
    /* An edit states no label: it is handled under its need's. */
    assert_int_equal(
        tmbus_need_update(ha, id, TMBUS_NEED_EDIT, &edit, NULL, NULL, 0, true, FC_CALL_MS, NULL),
        TMBUS_OK);
    assert_int_equal(tmbus_post_need(ha, &marker, NULL, 0, true, FC_CALL_MS, NULL), TMBUS_OK);

    receive_until(hn, "marker 1", id, &at_nl); /* AMBER reads both */
    assert_true(at_nl.has_need);
    assert_int_equal(at_nl.n_updates, 1);
    receive_until(he, "marker 1", id, &at_ee); /* GREEN neither */
    assert_false(at_ee.has_need);
    assert_int_equal(at_ee.n_updates, 0);

    tmbus_close(&ha);
    tmbus_close(&he);
    tmbus_close(&hn);
    fed_pass(f);
}

/* Two answers from one client are the same: code and reason text. */
static void assert_same_answer(int rc_a, const char *why_a, int rc_b, const char *why_b)
{
    assert_int_equal(rc_a, rc_b);
    assert_string_equal(why_a, why_b);
}

/* Seen: a GREEN poster can close or edit a need above its clearance, and a
 * hidden need id answers differently from one that does not exist. UA's
 * client posts an AMBER need at clearance red, then comes back at green. */
static void test_hidden_need_answers_as_unknown(void **state)
{
    struct fed *f = mesh(state, "red");
    size_t ua = fed_index(f, "UA");
    struct tmbus_need need = need_of("amber need", TMBUS_TLP_AMBER);
    struct tmbus_need edit = {.description = "changed"};
    struct tmbus *ha;
    uint8_t id[TMBUS_ID_BYTES], unknown[TMBUS_ID_BYTES];
    char why_hidden[512], why_unknown[512];
    struct tmbus_delivery_state *ds = NULL;
    int rc_hidden, rc_unknown;

    memset(unknown, 0x5a, sizeof(unknown));
    assert_non_null(ha = fc_connect(f, ua));
    assert_int_equal(tmbus_post_need(ha, &need, NULL, 0, true, FC_CALL_MS, id), TMBUS_OK);
    tmbus_close(&ha);
    assert_int_equal(fed_stop(f, ua), 0);
    assert_int_equal(fed_set_clearance(f, ua, "green"), 0);
    assert_int_equal(fed_start(f, ua), 0);
    assert_non_null(ha = fc_connect(f, ua));

    for (int action = TMBUS_NEED_EDIT; action <= TMBUS_NEED_CLOSE; action++) {
        const struct tmbus_need *e = action == TMBUS_NEED_EDIT ? &edit : NULL;
        rc_hidden = tmbus_need_update(ha, id, action, e, NULL, NULL, 0, true, FC_CALL_MS, NULL);
        snprintf(why_hidden, sizeof(why_hidden), "%s", tmbus_last_error(ha));
        rc_unknown =
            tmbus_need_update(ha, unknown, action, e, NULL, NULL, 0, true, FC_CALL_MS, NULL);
        snprintf(why_unknown, sizeof(why_unknown), "%s", tmbus_last_error(ha));
        assert_int_equal(rc_unknown, TMBUS_ENOTFOUND);
        assert_same_answer(rc_hidden, why_hidden, rc_unknown, why_unknown);
    }
    /* The post's delivery state and the board by id say the same. */
    rc_hidden = tmbus_delivery_state(ha, id, FC_CALL_MS, &ds);
    tmbus_delivery_state_free(&ds);
    snprintf(why_hidden, sizeof(why_hidden), "%s", tmbus_last_error(ha));
    rc_unknown = tmbus_delivery_state(ha, unknown, FC_CALL_MS, &ds);
    tmbus_delivery_state_free(&ds);
    snprintf(why_unknown, sizeof(why_unknown), "%s", tmbus_last_error(ha));
    assert_int_equal(rc_unknown, TMBUS_ENOTFOUND);
    assert_same_answer(rc_hidden, why_hidden, rc_unknown, why_unknown);

    tmbus_close(&ha);
    fed_pass(f);
}

/* Seen: offers may carry a lower label than their need. A GREEN client at
 * EE cannot even name UA's AMBER need; an AMBER one may answer it only at
 * AMBER or above. */
static void test_offer_below_its_need_refused(void **state)
{
    struct fed *f = mesh(state, "green");
    struct tmbus_need need = need_of("amber need", TMBUS_TLP_AMBER);
    struct tmbus_need marker = need_of("marker 3", TMBUS_TLP_GREEN);
    struct tmbus *ha, *he, *hn;
    uint8_t id[TMBUS_ID_BYTES], unknown[TMBUS_ID_BYTES];
    struct tmbus_offer offer = {.quantity = 2, .tlp = TMBUS_TLP_GREEN};
    const char *const to_ua[] = {"UA"};
    char why_hidden[512], why_unknown[512];
    struct seen at_nl, at_ee;
    int rc_hidden, rc_unknown;

    memset(unknown, 0xa5, sizeof(unknown));
    assert_non_null(ha = fc_connect(f, fed_index(f, "UA")));
    assert_non_null(he = fc_connect(f, fed_index(f, "EE")));
    assert_non_null(hn = fc_connect(f, fed_index(f, "NL")));
    assert_int_equal(tmbus_subscribe(he, 64, FC_CALL_MS), TMBUS_OK);
    assert_int_equal(tmbus_subscribe(hn, 64, FC_CALL_MS), TMBUS_OK);
    assert_int_equal(tmbus_post_need(ha, &need, NULL, 0, true, FC_CALL_MS, id), TMBUS_OK);
    assert_int_equal(tmbus_post_need(ha, &marker, NULL, 0, true, FC_CALL_MS, NULL), TMBUS_OK);
    receive_until(hn, "marker 3", id, &at_nl);
    receive_until(he, "marker 3", id, &at_ee); /* EE's node holds the need now */

    offer.need_id = id;
    rc_hidden = tmbus_post_offer(he, &offer, to_ua, 1, false, FC_CALL_MS, NULL);
    snprintf(why_hidden, sizeof(why_hidden), "%s", tmbus_last_error(he));
    offer.need_id = unknown;
    rc_unknown = tmbus_post_offer(he, &offer, to_ua, 1, false, FC_CALL_MS, NULL);
    snprintf(why_unknown, sizeof(why_unknown), "%s", tmbus_last_error(he));
    assert_int_equal(rc_unknown, TMBUS_ENOTFOUND);
    assert_same_answer(rc_hidden, why_hidden, rc_unknown, why_unknown);

    offer.need_id = id;
    assert_int_equal(tmbus_post_offer(hn, &offer, to_ua, 1, false, FC_CALL_MS, NULL),
                     TMBUS_EINVALID);
    assert_non_null(strstr(tmbus_last_error(hn), "lower than"));
    offer.tlp = TMBUS_TLP_AMBER;
    assert_int_equal(tmbus_post_offer(hn, &offer, to_ua, 1, false, FC_CALL_MS, NULL), TMBUS_OK);

    tmbus_close(&ha);
    tmbus_close(&he);
    tmbus_close(&hn);
    fed_pass(f);
}

/* Seen: a RED need sent to EE, then edited to EE, went through UA's
 * relayed log and was stored by NL. Here the RED need goes to NL and EE
 * is the third node: the edit must reach NL in the direct log and never
 * reach EE's store; an edit to EE instead is refused. */
static void test_red_update_stays_direct(void **state)
{
    struct fed *f = mesh(state, "red");
    size_t ee = fed_index(f, "EE");
    struct tmbus_need need = need_of("red need", TMBUS_TLP_RED);
    struct tmbus_need edit = {.description = "red edit"};
    struct tmbus_need marker = need_of("marker 4", TMBUS_TLP_GREEN);
    const char *const to_nl[] = {"NL"}, *const to_ee[] = {"EE"}, *const to_both[] = {"NL", "EE"};
    const char *names[] = {"tmbus.db", "tmbus.db-wal"};
    struct tmbus *ha, *he, *hn;
    uint8_t id[TMBUS_ID_BYTES], edit_id[TMBUS_ID_BYTES];
    struct seen at_nl, at_ee;

    assert_non_null(ha = fc_connect(f, fed_index(f, "UA")));
    assert_non_null(he = fc_connect(f, ee));
    assert_non_null(hn = fc_connect(f, fed_index(f, "NL")));
    assert_int_equal(tmbus_subscribe(he, 64, FC_CALL_MS), TMBUS_OK);
    assert_int_equal(tmbus_subscribe(hn, 64, FC_CALL_MS), TMBUS_OK);

    assert_int_equal(tmbus_post_need(ha, &need, to_nl, 1, false, FC_CALL_MS, id), TMBUS_OK);
    assert_int_equal(
        tmbus_need_update(ha, id, TMBUS_NEED_EDIT, &edit, NULL, to_ee, 1, false, FC_CALL_MS, NULL),
        TMBUS_EINVALID);
    assert_int_equal(tmbus_need_update(ha, id, TMBUS_NEED_EDIT, &edit, NULL, to_both, 2, false,
                                       FC_CALL_MS, NULL),
                     TMBUS_EINVALID);
    assert_int_equal(tmbus_need_update(ha, id, TMBUS_NEED_EDIT, &edit, NULL, to_nl, 1, false,
                                       FC_CALL_MS, edit_id),
                     TMBUS_OK);
    assert_int_equal(tmbus_post_need(ha, &marker, NULL, 0, true, FC_CALL_MS, NULL), TMBUS_OK);

    receive_until(hn, "marker 4", id, &at_nl);
    assert_true(at_nl.has_need);
    assert_int_equal(at_nl.n_updates, 1);
    assert_string_equal(at_nl.update_log, "NL"); /* UA's direct log to NL */
    receive_until(he, "marker 4", id, &at_ee);
    assert_int_equal(at_ee.n_updates, 0);

    /* EE relayed and stored everything UA's relayed log held up to the
     * marker; the edit is not among it. */
    tmbus_close(&he);
    assert_int_equal(fed_stop(f, ee), 0);
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        char path[FED_PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", fed_data_dir(f, ee), names[k]);
        assert_int_equal(fed_file_contains(path, edit_id, TMBUS_ID_BYTES), 0);
    }

    tmbus_close(&ha);
    tmbus_close(&hn);
    fed_pass(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_edit_of_amber_need_skips_green_reader, fed_teardown),
        cmocka_unit_test_teardown(test_hidden_need_answers_as_unknown, fed_teardown),
        cmocka_unit_test_teardown(test_offer_below_its_need_refused, fed_teardown),
        cmocka_unit_test_teardown(test_red_update_stays_direct, fed_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
