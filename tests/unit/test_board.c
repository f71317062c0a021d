/*
 * test_board: unit tests of the board's state machine, fed with payloads
 * built from the generated protobuf code through a real store in a
 * temporary directory. Every forbidden transition is tried next to the
 * allowed one and must leave the board as it was, with its reason counted.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board.h"
#include "log.h"
#include "payload.pb-c.h"
#include "store.h"
#include "testutil.h"

#define PAYLOAD_MAX (16 * 1024)
#define MAX_COUNTED 64

struct fixture {
    char root[1024];
    struct store *s;
    uint8_t next_id; /* each message gets a fresh envelope id */
    uint64_t seq;    /* and a fresh place in its log */
    const char *counted[MAX_COUNTED];
    size_t n_counted;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    snprintf(f->root, sizeof(f->root), "%s", tu_tempdir());
    if ((f->s = store_open(f->root)) == NULL || store_begin(f->s) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(store_commit(f->s), 0);
    store_close(&f->s);
    tu_rmtree(f->root);
    free(f);
    return 0;
}

static void on_count(void *arg, const char *counter)
{
    struct fixture *f = arg;

    if (f->n_counted < MAX_COUNTED)
        f->counted[f->n_counted++] = counter;
}

/* The last counter the board reported, "" when none since the reset. */
static const char *last_counted(struct fixture *f)
{
    return f->n_counted ? f->counted[f->n_counted - 1] : "";
}

static size_t pack(const Tmbus__Payload__Payload *p, uint8_t *buf)
{
    size_t len = tmbus__payload__payload__get_packed_size(p);

    assert_true(len <= PAYLOAD_MAX);
    tmbus__payload__payload__pack(p, buf);
    return len;
}

static void init_need(Tmbus__Payload__Need *n, uint64_t quantity)
{
    tmbus__payload__need__init(n);
    n->beneficiary = "Regional energy operator";
    n->sector = TMBUS__PAYLOAD__SECTOR__SECTOR_ENERGY;
    n->category = TMBUS__PAYLOAD__CATEGORY__CATEGORY_MALWARE_DETECTION;
    n->title = "EDR licences for substations";
    n->description = "Endpoint detection for 40 substations.";
    n->quantity = quantity;
    n->unit = "licences";
    n->value_cents = 1000000;
    n->priority = TMBUS__PAYLOAD__PRIORITY__PRIORITY_HIGH;
    n->deadline = "2026-03-31";
    n->tlp = TMBUS__PAYLOAD__TLP__TLP_AMBER;
    n->contact = "duty desk";
}

static size_t need_payload(const Tmbus__Payload__Need *n, uint8_t *buf)
{
    Tmbus__Payload__Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT;

    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_NEED;
    p.need = (Tmbus__Payload__Need *)n;
    return pack(&p, buf);
}

static size_t offer_payload(const uint8_t *need_id, uint64_t quantity, uint8_t *buf)
{
    Tmbus__Payload__Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT;
    Tmbus__Payload__Offer o = TMBUS__PAYLOAD__OFFER__INIT;

    o.need_id.data = (uint8_t *)need_id;
    o.need_id.len = need_id != NULL ? BOARD_ID_BYTES : 0;
    o.description = "Licences from our national stock.";
    o.quantity = quantity;
    o.value_cents = 50000;
    o.delivery_date = "2026-02-15";
    o.tlp = TMBUS__PAYLOAD__TLP__TLP_AMBER;
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER;
    p.offer = &o;
    return pack(&p, buf);
}

static size_t need_update_payload(const uint8_t *need_id, Tmbus__Payload__NeedUpdate__Action action,
                                  const Tmbus__Payload__Need *edit, uint8_t *buf)
{
    Tmbus__Payload__Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT;
    Tmbus__Payload__NeedUpdate u = TMBUS__PAYLOAD__NEED_UPDATE__INIT;

    u.need_id.data = (uint8_t *)need_id;
    u.need_id.len = BOARD_ID_BYTES;
    u.action = action;
    u.need = (Tmbus__Payload__Need *)edit;
    u.reason = "test";
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_UPDATE;
    p.need_update = &u;
    return pack(&p, buf);
}

static size_t offer_update_payload(const uint8_t *offer_id,
                                   Tmbus__Payload__OfferUpdate__Action action, uint8_t *buf)
{
    Tmbus__Payload__Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT;
    Tmbus__Payload__OfferUpdate u = TMBUS__PAYLOAD__OFFER_UPDATE__INIT;

    u.offer_id.data = (uint8_t *)offer_id;
    u.offer_id.len = BOARD_ID_BYTES;
    u.action = action;
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER_UPDATE;
    p.offer_update = &u;
    return pack(&p, buf);
}

/* Applies payload as a message from sender with a fresh id, written into
 * id (may be NULL); the counters it reports replace the previous ones. */
static void apply_as(struct fixture *f, const char *sender, const uint8_t *payload, size_t len,
                     uint8_t *id)
{
    uint8_t fresh[BOARD_ID_BYTES];
    struct board_msg m;

    memset(fresh, 0, sizeof(fresh));
    fresh[0] = ++f->next_id;
    fresh[31] = 0xb0;
    m = (struct board_msg){fresh, sender, "", ++f->seq, 1700000000 + (int64_t)f->seq};
    f->n_counted = 0;
    assert_int_equal(board_apply(f->s, &m, payload, len, on_count, f), 0);
    if (id != NULL)
        memcpy(id, fresh, BOARD_ID_BYTES);
}

static void post_need(struct fixture *f, const char *owner, uint64_t quantity, uint8_t *id)
{
    uint8_t buf[PAYLOAD_MAX];
    Tmbus__Payload__Need n;

    init_need(&n, quantity);
    apply_as(f, owner, buf, need_payload(&n, buf), id);
    assert_string_equal(last_counted(f), "board.applied");
}

static void post_offer(struct fixture *f, const char *donor, const uint8_t *need_id,
                       uint64_t quantity, uint8_t *id)
{
    uint8_t buf[PAYLOAD_MAX];

    apply_as(f, donor, buf, offer_payload(need_id, quantity, buf), id);
    assert_string_equal(last_counted(f), "board.applied");
}

static void offer_action(struct fixture *f, const char *sender, const uint8_t *offer_id,
                         Tmbus__Payload__OfferUpdate__Action action, const char *expect)
{
    uint8_t buf[PAYLOAD_MAX];

    apply_as(f, sender, buf, offer_update_payload(offer_id, action, buf), NULL);
    assert_string_equal(last_counted(f), expect);
}

static void need_action(struct fixture *f, const char *sender, const uint8_t *need_id,
                        Tmbus__Payload__NeedUpdate__Action action, const char *expect)
{
    uint8_t buf[PAYLOAD_MAX];

    apply_as(f, sender, buf, need_update_payload(need_id, action, NULL, buf), NULL);
    assert_string_equal(last_counted(f), expect);
}

static void assert_need(struct fixture *f, const uint8_t *id, int status, uint64_t accepted,
                        uint64_t delivered)
{
    struct store_board_need n;

    assert_int_equal(store_board_need_get(f->s, id, &n), 1);
    free(n.need);
    if (n.status != status)
        fail_msg("need status %s, expected %s", board_need_status_name(n.status),
                 board_need_status_name(status));
    assert_int_equal(n.accepted_quantity, accepted);
    assert_int_equal(n.delivered_quantity, delivered);
}

static void assert_offer(struct fixture *f, const uint8_t *id, int status)
{
    struct store_board_offer o;

    assert_int_equal(store_board_offer_get(f->s, id, &o), 1);
    free(o.offer);
    if (o.status != status)
        fail_msg("offer status %s, expected %s", board_offer_status_name(o.status),
                 board_offer_status_name(status));
}

#define ACCEPT     TMBUS__PAYLOAD__OFFER_UPDATE__ACTION__ACTION_ACCEPT
#define DECLINE    TMBUS__PAYLOAD__OFFER_UPDATE__ACTION__ACTION_DECLINE
#define DELIVER    TMBUS__PAYLOAD__OFFER_UPDATE__ACTION__ACTION_DELIVER
#define CONFIRM    TMBUS__PAYLOAD__OFFER_UPDATE__ACTION__ACTION_CONFIRM
#define WITHDRAW   TMBUS__PAYLOAD__OFFER_UPDATE__ACTION__ACTION_WITHDRAW
#define EDIT       TMBUS__PAYLOAD__NEED_UPDATE__ACTION__ACTION_EDIT
#define CLOSE      TMBUS__PAYLOAD__NEED_UPDATE__ACTION__ACTION_CLOSE
#define N_WITHDRAW TMBUS__PAYLOAD__NEED_UPDATE__ACTION__ACTION_WITHDRAW
#define APPLIED    "board.applied"

/* ---- tests ---------------------------------------------------------------- */

static void test_full_lifecycle(void **state)
{
    struct fixture *f = *state;
    uint8_t need[BOARD_ID_BYTES], ee[BOARD_ID_BYTES], pl[BOARD_ID_BYTES];

    post_need(f, "UA", 10, need);
    assert_need(f, need, BOARD_NEED_OPEN, 0, 0);
    post_offer(f, "EE", need, 4, ee);
    post_offer(f, "PL", need, 6, pl);
    assert_offer(f, ee, BOARD_OFFER_PROPOSED);
    assert_need(f, need, BOARD_NEED_OPEN, 0, 0);

    offer_action(f, "UA", ee, ACCEPT, APPLIED);
    assert_offer(f, ee, BOARD_OFFER_ACCEPTED);
    assert_need(f, need, BOARD_NEED_PARTIALLY_COVERED, 4, 0);
    offer_action(f, "UA", pl, ACCEPT, APPLIED);
    assert_need(f, need, BOARD_NEED_COVERED, 10, 0);

    offer_action(f, "EE", ee, DELIVER, APPLIED);
    assert_offer(f, ee, BOARD_OFFER_DELIVERED);
    offer_action(f, "UA", ee, CONFIRM, APPLIED);
    assert_offer(f, ee, BOARD_OFFER_CONFIRMED);
    assert_need(f, need, BOARD_NEED_COVERED, 10, 4);

    /* A donor withdrawing an accepted offer uncovers the need again. */
    offer_action(f, "PL", pl, WITHDRAW, APPLIED);
    assert_offer(f, pl, BOARD_OFFER_WITHDRAWN);
    assert_need(f, need, BOARD_NEED_PARTIALLY_COVERED, 4, 4);

    need_action(f, "UA", need, CLOSE, APPLIED);
    assert_need(f, need, BOARD_NEED_CLOSED, 4, 4);
}

static void test_decline_and_withdraw_need(void **state)
{
    struct fixture *f = *state;
    uint8_t need[BOARD_ID_BYTES], ee[BOARD_ID_BYTES];

    post_need(f, "UA", 3, need);
    post_offer(f, "EE", need, 3, ee);
    offer_action(f, "UA", ee, DECLINE, APPLIED);
    assert_offer(f, ee, BOARD_OFFER_DECLINED);
    assert_need(f, need, BOARD_NEED_OPEN, 0, 0);
    need_action(f, "UA", need, N_WITHDRAW, APPLIED);
    assert_need(f, need, BOARD_NEED_WITHDRAWN, 0, 0);
}

/* Every forbidden update is refused with its reason and changes nothing. */
static void test_forbidden_updates(void **state)
{
    struct fixture *f = *state;
    uint8_t need[BOARD_ID_BYTES], ee[BOARD_ID_BYTES], pl[BOARD_ID_BYTES];
    uint8_t cat[BOARD_ID_BYTES];

    post_need(f, "UA", 10, need);
    post_offer(f, "EE", need, 4, ee);
    post_offer(f, "PL", need, 6, pl);
    post_offer(f, "PL", NULL, 2, cat);

    /* Only the need's owner edits, closes, withdraws, accepts, declines. */
    need_action(f, "EE", need, CLOSE, "board.rejected.not-owner");
    need_action(f, "EE", need, N_WITHDRAW, "board.rejected.not-owner");
    offer_action(f, "EE", ee, ACCEPT, "board.rejected.not-owner");
    offer_action(f, "PL", ee, DECLINE, "board.rejected.not-owner");
    assert_need(f, need, BOARD_NEED_OPEN, 0, 0);
    assert_offer(f, ee, BOARD_OFFER_PROPOSED);

    /* Order of the offer's life. */
    offer_action(f, "EE", ee, DELIVER, "board.rejected.bad-transition");
    offer_action(f, "UA", ee, CONFIRM, "board.rejected.bad-transition");
    offer_action(f, "UA", ee, ACCEPT, APPLIED);
    offer_action(f, "UA", ee, ACCEPT, "board.rejected.bad-transition");
    offer_action(f, "UA", ee, DECLINE, "board.rejected.bad-transition");
    offer_action(f, "UA", ee, CONFIRM, "board.rejected.bad-transition");

    /* Only the donor delivers or withdraws. */
    offer_action(f, "UA", ee, DELIVER, "board.rejected.not-donor");
    offer_action(f, "PL", ee, DELIVER, "board.rejected.not-donor");
    offer_action(f, "PL", ee, WITHDRAW, "board.rejected.not-donor");
    assert_offer(f, ee, BOARD_OFFER_ACCEPTED);
    offer_action(f, "EE", ee, DELIVER, APPLIED);
    offer_action(f, "EE", ee, WITHDRAW, "board.rejected.bad-transition");
    offer_action(f, "EE", ee, DELIVER, "board.rejected.bad-transition");
    offer_action(f, "EE", ee, CONFIRM, "board.rejected.not-owner");
    assert_offer(f, ee, BOARD_OFFER_DELIVERED);
    assert_need(f, need, BOARD_NEED_PARTIALLY_COVERED, 4, 0);

    /* A catalogue offer answers no need. */
    offer_action(f, "UA", cat, ACCEPT, "board.rejected.catalogue-offer");
    assert_offer(f, cat, BOARD_OFFER_PROPOSED);
    offer_action(f, "PL", cat, WITHDRAW, APPLIED);

    /* Once closed, the need takes no more changes nor acceptances. */
    need_action(f, "UA", need, CLOSE, APPLIED);
    need_action(f, "UA", need, N_WITHDRAW, "board.rejected.need-final");
    need_action(f, "UA", need, CLOSE, "board.rejected.need-final");
    offer_action(f, "UA", pl, ACCEPT, "board.rejected.need-final");
    assert_offer(f, pl, BOARD_OFFER_PROPOSED);
    assert_need(f, need, BOARD_NEED_CLOSED, 4, 0);
}

/* Malformed and out-of-bounds payloads are refused and never recorded. */
static void test_bad_fields(void **state)
{
    struct fixture *f = *state;
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff};
    char long_title[BOARD_TITLE_MAX + 2];
    char *long_text = malloc(BOARD_DESCRIPTION_MAX + 2);
    uint8_t buf[PAYLOAD_MAX], id[BOARD_ID_BYTES], need[BOARD_ID_BYTES];
    struct store_board_need got;
    Tmbus__Payload__Need n;

    assert_non_null(long_text);
    memset(long_title, 'x', sizeof(long_title) - 1);
    long_title[sizeof(long_title) - 1] = '\0';
    memset(long_text, 'y', BOARD_DESCRIPTION_MAX + 1);
    long_text[BOARD_DESCRIPTION_MAX + 1] = '\0';

    apply_as(f, "UA", junk, sizeof(junk), id);
    assert_string_equal(last_counted(f), "board.rejected.malformed");
    assert_int_equal(store_board_knows(f->s, id), 0);

    for (int k = 0; k < 10; k++) {
        init_need(&n, 5);
        switch (k) {
        case 0:
            n.title = "";
            break;
        case 1:
            n.title = long_title;
            break;
        case 2:
            n.title = "two\nlines";
            break;
        case 3:
            n.quantity = 0;
            break;
        case 4:
            n.sector = TMBUS__PAYLOAD__SECTOR__SECTOR_UNSPECIFIED;
            break;
        case 5:
            n.category = (Tmbus__Payload__Category)42;
            break;
        case 6:
            n.deadline = "2026-02-30";
            break;
        case 7:
            n.deadline = "2026-03-01T00:00:00Z";
            break;
        case 8:
            n.description = long_text;
            break;
        default:
            n.tlp = TMBUS__PAYLOAD__TLP__TLP_UNSPECIFIED;
            break;
        }
        apply_as(f, "UA", buf, need_payload(&n, buf), id);
        if (strcmp(last_counted(f), "board.rejected.bad-field") != 0)
            fail_msg("case %d: counted %s", k, last_counted(f));
        assert_int_equal(store_board_need_get(f->s, id, &got), 0);
    }
    /* The same need, unspoilt, is accepted. */
    post_need(f, "UA", 5, need);

    /* An offer with a zero quantity or a short need id is refused. */
    apply_as(f, "EE", buf, offer_payload(need, 0, buf), id);
    assert_string_equal(last_counted(f), "board.rejected.bad-field");
    assert_int_equal(store_board_knows(f->s, id), 0);
    free(long_text);
}

/* An update that names an object not seen yet waits for it. */
static void test_waiting_updates(void **state)
{
    struct fixture *f = *state;
    uint8_t buf[PAYLOAD_MAX];
    uint8_t need[BOARD_ID_BYTES], offer[BOARD_ID_BYTES], acc[BOARD_ID_BYTES];
    Tmbus__Payload__Need n;
    struct board_msg m;

    /* Ids chosen ahead, as if the need and the offer were still on their
     * way through another link. */
    memset(need, 0, sizeof(need));
    memset(offer, 0, sizeof(offer));
    need[0] = 0xa1;
    offer[0] = 0xa2;
    apply_as(f, "UA", buf, offer_update_payload(offer, ACCEPT, buf), acc);
    assert_string_equal(last_counted(f), "board.waiting");
    assert_int_equal(store_board_knows(f->s, acc), 1);

    m = (struct board_msg){offer, "EE", "", 1, 1700000001};
    assert_int_equal(board_apply(f->s, &m, buf, offer_payload(need, 7, buf), on_count, f), 0);
    assert_offer(f, offer, BOARD_OFFER_PROPOSED); /* now waits for the need */

    m = (struct board_msg){need, "UA", "", 1, 1700000000};
    init_need(&n, 7);
    assert_int_equal(board_apply(f->s, &m, buf, need_payload(&n, buf), on_count, f), 0);
    assert_offer(f, offer, BOARD_OFFER_ACCEPTED);
    assert_need(f, need, BOARD_NEED_COVERED, 7, 0);
}

/* The same envelope applied twice (a post to oneself, a replay) counts once. */
static void test_idempotent(void **state)
{
    struct fixture *f = *state;
    uint8_t buf[PAYLOAD_MAX], need[BOARD_ID_BYTES], ee[BOARD_ID_BYTES];
    uint8_t acc[BOARD_ID_BYTES];
    struct board_msg m;
    size_t len;

    post_need(f, "UA", 2, need);
    post_offer(f, "EE", need, 1, ee);
    len = offer_update_payload(ee, ACCEPT, buf);
    apply_as(f, "UA", buf, len, acc);
    assert_string_equal(last_counted(f), APPLIED);
    m = (struct board_msg){acc, "UA", "", 99, 1700000099};
    f->n_counted = 0;
    assert_int_equal(board_apply(f->s, &m, buf, len, on_count, f), 0);
    assert_int_equal(f->n_counted, 0);
    assert_need(f, need, BOARD_NEED_PARTIALLY_COVERED, 1, 0);
}

/* An edit by the owner replaces fields and re-derives coverage. */
static void test_edit(void **state)
{
    struct fixture *f = *state;
    uint8_t buf[PAYLOAD_MAX], need[BOARD_ID_BYTES], ee[BOARD_ID_BYTES];
    Tmbus__Payload__Need edit = TMBUS__PAYLOAD__NEED__INIT, *got;
    struct store_board_need rec;

    post_need(f, "UA", 4, need);
    post_offer(f, "EE", need, 4, ee);
    offer_action(f, "UA", ee, ACCEPT, APPLIED);
    assert_need(f, need, BOARD_NEED_COVERED, 4, 0);

    edit.quantity = 8;
    edit.title = "EDR licences for all substations";
    apply_as(f, "EE", buf, need_update_payload(need, EDIT, &edit, buf), NULL);
    assert_string_equal(last_counted(f), "board.rejected.not-owner");
    apply_as(f, "UA", buf, need_update_payload(need, EDIT, &edit, buf), NULL);
    assert_string_equal(last_counted(f), APPLIED);
    assert_need(f, need, BOARD_NEED_PARTIALLY_COVERED, 4, 0);

    assert_int_equal(store_board_need_get(f->s, need, &rec), 1);
    got = tmbus__payload__need__unpack(NULL, rec.need_len, rec.need);
    assert_non_null(got);
    assert_string_equal(got->title, "EDR licences for all substations");
    assert_string_equal(got->unit, "licences"); /* kept */
    assert_int_equal(got->quantity, 8);
    tmbus__payload__need__free_unpacked(got, NULL);
    free(rec.need);

    /* An edit that would make the need invalid changes nothing. */
    tmbus__payload__need__init(&edit);
    edit.deadline = "2026-13-01";
    apply_as(f, "UA", buf, need_update_payload(need, EDIT, &edit, buf), NULL);
    assert_string_equal(last_counted(f), "board.rejected.bad-field");
    assert_need(f, need, BOARD_NEED_PARTIALLY_COVERED, 4, 0);
}

/* The poster's check: the same rules, answered with a verdict. */
static void test_check_post(void **state)
{
    struct fixture *f = *state;
    uint8_t buf[PAYLOAD_MAX], need[BOARD_ID_BYTES], ee[BOARD_ID_BYTES], nope[BOARD_ID_BYTES];
    const char *why = NULL;
    Tmbus__Payload__Need n;
    size_t len;

    memset(nope, 0x77, sizeof(nope));
    init_need(&n, 2);
    len = need_payload(&n, buf);
    assert_int_equal(board_check_post(f->s, "UA", buf, len, &why), BOARD_CHECK_OK);
    n.deadline = "2026-02-29";
    len = need_payload(&n, buf);
    assert_int_equal(board_check_post(f->s, "UA", buf, len, &why), BOARD_CHECK_INVALID);
    assert_non_null(strstr(why, "deadline"));

    len = offer_payload(nope, 1, buf);
    assert_int_equal(board_check_post(f->s, "EE", buf, len, &why), BOARD_CHECK_NOT_FOUND);
    post_need(f, "UA", 2, need);
    len = offer_payload(need, 2, buf);
    assert_int_equal(board_check_post(f->s, "EE", buf, len, &why), BOARD_CHECK_OK);
    post_offer(f, "EE", need, 2, ee);

    len = offer_update_payload(ee, ACCEPT, buf);
    assert_int_equal(board_check_post(f->s, "EE", buf, len, &why), BOARD_CHECK_DENIED);
    assert_int_equal(board_check_post(f->s, "UA", buf, len, &why), BOARD_CHECK_OK);
    len = offer_update_payload(nope, ACCEPT, buf);
    assert_int_equal(board_check_post(f->s, "UA", buf, len, &why), BOARD_CHECK_NOT_FOUND);
    len = need_update_payload(need, CLOSE, NULL, buf);
    assert_int_equal(board_check_post(f->s, "PL", buf, len, &why), BOARD_CHECK_DENIED);
    assert_int_equal(board_check_post(f->s, "UA", buf, len, &why), BOARD_CHECK_OK);

    /* A covered need takes no more offers. */
    offer_action(f, "UA", ee, ACCEPT, APPLIED);
    len = offer_payload(need, 1, buf);
    assert_int_equal(board_check_post(f->s, "PL", buf, len, &why), BOARD_CHECK_INVALID);
    assert_non_null(strstr(why, "no longer open"));

    /* The check writes nothing. */
    assert_int_equal(store_board_knows(f->s, nope), 0);
}

static void test_category_of(void **state)
{
    struct fixture *f = *state;
    uint8_t buf[PAYLOAD_MAX], need[BOARD_ID_BYTES], ee[BOARD_ID_BYTES];
    size_t len;

    post_need(f, "UA", 2, need);
    post_offer(f, "EE", need, 2, ee);
    len = offer_payload(need, 2, buf);
    assert_int_equal(board_category_of(f->s, buf, len),
                     TMBUS__PAYLOAD__CATEGORY__CATEGORY_MALWARE_DETECTION);
    len = offer_update_payload(ee, ACCEPT, buf);
    assert_int_equal(board_category_of(f->s, buf, len),
                     TMBUS__PAYLOAD__CATEGORY__CATEGORY_MALWARE_DETECTION);
    len = offer_payload(NULL, 2, buf);
    assert_int_equal(board_category_of(f->s, buf, len), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_full_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decline_and_withdraw_need, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forbidden_updates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_waiting_updates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_post, setup, teardown),
        cmocka_unit_test_setup_teardown(test_category_of, setup, teardown),
    };

    log_init("test_board", LOG_LEVEL_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
