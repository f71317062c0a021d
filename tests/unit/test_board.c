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
#include "message.h"
#include "payload.pb-c.h"
#include "roster.h"
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

/* The board reads a payload's view (message.h); these decode the bytes a
 * test built, as the route and the api do, and release the view after. */
static int apply_bytes(struct store *s, const struct board_msg *m, const uint8_t *payload,
                       size_t len, board_count_fn count, void *arg)
{
    struct message msg;
    int rc;

    message_decode(payload, len, &msg);
    rc = board_apply(s, m, &msg, count, arg);
    message_clear(&msg);
    return rc;
}

/* The verdict's reason, kept for the test to read. */
static char check_why[256];

static enum board_verdict check_bytes(struct store *s, const char *self, const uint8_t *payload,
                                      size_t len, const char **reason)
{
    struct message msg;
    enum board_verdict v;

    message_decode(payload, len, &msg);
    v = board_check_post(s, self, MESSAGE_TLP_RED, &msg, check_why, sizeof(check_why));
    *reason = check_why;
    message_clear(&msg);
    return v;
}

/* As check_bytes, for a client of the given clearance. */
static enum board_verdict check_cleared(struct store *s, const char *self, uint32_t clearance,
                                        const uint8_t *payload, size_t len, char *why,
                                        size_t why_size)
{
    struct message msg;
    enum board_verdict v;

    message_decode(payload, len, &msg);
    v = board_check_post(s, self, clearance, &msg, why, why_size);
    message_clear(&msg);
    return v;
}

/* board_referent_of on payload's view. */
static void referent_of(struct store *s, const uint8_t *payload, size_t len,
                        struct board_referent *out)
{
    struct message msg;

    message_decode(payload, len, &msg);
    assert_int_equal(board_referent_of(s, &msg, out), 0);
    message_clear(&msg);
}

static uint32_t category_bytes(struct store *s, const uint8_t *payload, size_t len)
{
    struct message msg;
    uint32_t category;

    message_decode(payload, len, &msg);
    category = board_category_of(s, &msg);
    message_clear(&msg);
    return category;
}

static int count_row(void *arg, const struct store_board_need *n)
{
    (void)n;
    (*(size_t *)arg)++;
    return 0;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    snprintf(f->root, sizeof(f->root), "%s", tu_tempdir());
    if ((f->s = store_open(f->root, tu_store_key)) == NULL || store_begin(f->s) != 0)
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

static size_t offer_payload_at(const uint8_t *need_id, uint64_t quantity, uint32_t tlp,
                               uint8_t *buf);

static size_t offer_payload(const uint8_t *need_id, uint64_t quantity, uint8_t *buf)
{
    return offer_payload_at(need_id, quantity, TMBUS__PAYLOAD__TLP__TLP_AMBER, buf);
}

/* An offer labelled tlp. */
static size_t offer_payload_at(const uint8_t *need_id, uint64_t quantity, uint32_t tlp,
                               uint8_t *buf)
{
    Tmbus__Payload__Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT;
    Tmbus__Payload__Offer o = TMBUS__PAYLOAD__OFFER__INIT;

    o.need_id.data = (uint8_t *)need_id;
    o.need_id.len = need_id != NULL ? WIRE_ID_BYTES : 0;
    o.description = "Licences from our national stock.";
    o.quantity = quantity;
    o.value_cents = 50000;
    o.delivery_date = "2026-02-15";
    o.tlp = (Tmbus__Payload__Tlp)tlp;
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
    u.need_id.len = WIRE_ID_BYTES;
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
    u.offer_id.len = WIRE_ID_BYTES;
    u.action = action;
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER_UPDATE;
    p.offer_update = &u;
    return pack(&p, buf);
}

/* Applies payload as a message from sender with a fresh id, written into
 * id (may be NULL); the counters it reports replace the previous ones. */
/* Applies payload as sent by sender in its direct log to peer ("": its
 * relayed log). */
static void apply_in(struct fixture *f, const char *sender, const char *peer,
                     const uint8_t *payload, size_t len, uint8_t *id)
{
    uint8_t fresh[WIRE_ID_BYTES];
    struct board_msg m;

    memset(fresh, 0, sizeof(fresh));
    fresh[0] = ++f->next_id;
    fresh[31] = 0xb0;
    /* An hour apart: clearly ordered, beyond BOARD_SKEW_S. */
    m = (struct board_msg){fresh, sender, peer, ++f->seq, 1700000000 + 3600 * (int64_t)f->seq};
    f->n_counted = 0;
    assert_int_equal(apply_bytes(f->s, &m, payload, len, on_count, f), 0);
    if (id != NULL)
        memcpy(id, fresh, WIRE_ID_BYTES);
}

static void apply_as(struct fixture *f, const char *sender, const uint8_t *payload, size_t len,
                     uint8_t *id)
{
    apply_in(f, sender, "", payload, len, id);
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

/* An offer update in the direct log from sender to peer. */
static void offer_action_in(struct fixture *f, const char *sender, const char *peer,
                            const uint8_t *offer_id, Tmbus__Payload__OfferUpdate__Action action,
                            const char *expect)
{
    uint8_t buf[PAYLOAD_MAX];

    apply_in(f, sender, peer, buf, offer_update_payload(offer_id, action, buf), NULL);
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
    uint8_t need[WIRE_ID_BYTES], ee[WIRE_ID_BYTES], pl[WIRE_ID_BYTES];

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
    uint8_t need[WIRE_ID_BYTES], ee[WIRE_ID_BYTES];

    post_need(f, "UA", 3, need);
    post_offer(f, "EE", need, 3, ee);
    offer_action(f, "UA", ee, DECLINE, APPLIED);
    assert_offer(f, ee, BOARD_OFFER_DECLINED);
    assert_need(f, need, BOARD_NEED_OPEN, 0, 0);
    need_action(f, "UA", need, N_WITHDRAW, APPLIED);
    assert_need(f, need, BOARD_NEED_WITHDRAWN, 0, 0);
}

/* An offer to a need its owner has closed is refused on receipt, as the
 * poster's node refuses it, and the board never holds it. */
static void test_offer_after_close(void **state)
{
    struct fixture *f = *state;
    uint8_t buf[PAYLOAD_MAX], need[WIRE_ID_BYTES], ee[WIRE_ID_BYTES], pl[WIRE_ID_BYTES];
    struct store_board_offer o;

    post_need(f, "UA", 3, need);
    post_offer(f, "EE", need, 1, ee);
    need_action(f, "UA", need, CLOSE, APPLIED);
    apply_as(f, "PL", buf, offer_payload(need, 1, buf), pl);
    assert_string_equal(last_counted(f), "board.rejected.need-not-open");
    assert_int_equal(store_board_offer_get(f->s, pl, &o), 0);
    assert_int_equal(store_board_offer_get(f->s, ee, &o), 1);
    free(o.offer);
}

/* Every forbidden update is refused with its reason and changes nothing. */
static void test_forbidden_updates(void **state)
{
    struct fixture *f = *state;
    uint8_t need[WIRE_ID_BYTES], ee[WIRE_ID_BYTES], pl[WIRE_ID_BYTES];
    uint8_t cat[WIRE_ID_BYTES];

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
    char long_title[WIRE_TITLE_MAX + 2];
    char *long_text = malloc(WIRE_DESCRIPTION_MAX + 2);
    uint8_t buf[PAYLOAD_MAX], id[WIRE_ID_BYTES], need[WIRE_ID_BYTES];
    struct store_board_need got;
    Tmbus__Payload__Need n;

    assert_non_null(long_text);
    memset(long_title, 'x', sizeof(long_title) - 1);
    long_title[sizeof(long_title) - 1] = '\0';
    memset(long_text, 'y', WIRE_DESCRIPTION_MAX + 1);
    long_text[WIRE_DESCRIPTION_MAX + 1] = '\0';

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

/* The node applies the shared field rules (proto/validate.h), the client
 * library's: what only the client used to refuse the board refuses too,
 * whether it arrives or is about to be posted, and records none of it. */
static void test_strict_fields(void **state)
{
    struct fixture *f = *state;
    uint8_t buf[PAYLOAD_MAX], id[WIRE_ID_BYTES], need[WIRE_ID_BYTES];
    Tmbus__Payload__Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT;
    Tmbus__Payload__Offer o = TMBUS__PAYLOAD__OFFER__INIT;
    Tmbus__Payload__NeedUpdate u = TMBUS__PAYLOAD__NEED_UPDATE__INIT;
    Tmbus__Payload__Need n, edit = TMBUS__PAYLOAD__NEED__INIT;
    struct store_board_need got;
    const char *why = NULL;

    for (int k = 0; k < 4; k++) {
        init_need(&n, 5);
        if (k == 0)
            n.title = "EDR licences\x1b[2J"; /* a terminal escape */
        else if (k == 1)
            n.contact = "duty\tdesk\x07";
        else if (k == 2)
            n.description = "licences for \xc0\xaf"; /* an overlong '/' */
        else
            n.deadline = "2100-02-29"; /* 2100 is no leap year */
        apply_as(f, "UA", buf, need_payload(&n, buf), id);
        if (strcmp(last_counted(f), "board.rejected.bad-field") != 0)
            fail_msg("case %d: counted %s", k, last_counted(f));
        assert_int_equal(store_board_knows(f->s, id), 0);
    }
    init_need(&n, 5);
    n.title = "EDR licences\r";
    assert_int_equal(check_bytes(f->s, "UA", buf, need_payload(&n, buf), &why),
                     BOARD_CHECK_INVALID);
    assert_non_null(strstr(why, "title"));

    post_need(f, "UA", 5, need);
    o.need_id.data = need;
    o.need_id.len = WIRE_ID_BYTES;
    o.quantity = 1;
    o.tlp = TMBUS__PAYLOAD__TLP__TLP_AMBER;
    o.conditions = "none\x7f";
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER;
    p.offer = &o;
    apply_as(f, "EE", buf, pack(&p, buf), id);
    assert_string_equal(last_counted(f), "board.rejected.bad-field");
    assert_int_equal(store_board_knows(f->s, id), 0);

    /* An edit that changes nothing, a close that carries values, a reason
     * with a control character: refused before they are recorded. */
    apply_as(f, "UA", buf, need_update_payload(need, EDIT, &edit, buf), id);
    assert_string_equal(last_counted(f), "board.rejected.bad-field");
    assert_int_equal(store_board_knows(f->s, id), 0);
    edit.title = "A new title";
    apply_as(f, "UA", buf, need_update_payload(need, CLOSE, &edit, buf), id);
    assert_string_equal(last_counted(f), "board.rejected.bad-field");
    u.need_id.data = need;
    u.need_id.len = WIRE_ID_BYTES;
    u.action = CLOSE;
    u.reason = "done\x1b";
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_UPDATE;
    p.need_update = &u;
    apply_as(f, "UA", buf, pack(&p, buf), id);
    assert_string_equal(last_counted(f), "board.rejected.bad-field");
    assert_int_equal(store_board_knows(f->s, id), 0);
    assert_int_equal(check_bytes(f->s, "UA", buf, pack(&p, buf), &why), BOARD_CHECK_INVALID);
    assert_non_null(strstr(why, "reason"));
    assert_need(f, need, BOARD_NEED_OPEN, 0, 0);
    assert_int_equal(store_board_need_get(f->s, need, &got), 1);
    free(got.need);
}

/* An update that names an object not seen yet waits for it. */
static void test_waiting_updates(void **state)
{
    struct fixture *f = *state;
    uint8_t buf[PAYLOAD_MAX];
    uint8_t need[WIRE_ID_BYTES], offer[WIRE_ID_BYTES], acc[WIRE_ID_BYTES];
    Tmbus__Payload__Need n;
    struct board_msg m;

    /* Ids chosen ahead, as if the need and the offer were still on their
     * way through another link. */
    memset(need, 0, sizeof(need));
    memset(offer, 0, sizeof(offer));
    need[0] = 0xa1;
    offer[0] = 0xa2;
    f->seq = 1; /* the accept is UA's second message; the need, below, its first */
    apply_as(f, "UA", buf, offer_update_payload(offer, ACCEPT, buf), acc);
    assert_string_equal(last_counted(f), "board.waiting");
    assert_int_equal(store_board_knows(f->s, acc), 1);

    m = (struct board_msg){offer, "EE", "", 1, 1700000001};
    assert_int_equal(apply_bytes(f->s, &m, buf, offer_payload(need, 7, buf), on_count, f), 0);
    assert_offer(f, offer, BOARD_OFFER_PROPOSED); /* now waits for the need */

    m = (struct board_msg){need, "UA", "", 1, 1700000000};
    init_need(&n, 7);
    assert_int_equal(apply_bytes(f->s, &m, buf, need_payload(&n, buf), on_count, f), 0);
    assert_offer(f, offer, BOARD_OFFER_ACCEPTED);
    assert_need(f, need, BOARD_NEED_COVERED, 7, 0);
}

/* The same envelope applied twice (a post to oneself, a replay) counts once. */
static void test_idempotent(void **state)
{
    struct fixture *f = *state;
    uint8_t buf[PAYLOAD_MAX], need[WIRE_ID_BYTES], ee[WIRE_ID_BYTES];
    uint8_t acc[WIRE_ID_BYTES];
    struct board_msg m;
    size_t len;

    post_need(f, "UA", 2, need);
    post_offer(f, "EE", need, 1, ee);
    len = offer_update_payload(ee, ACCEPT, buf);
    apply_as(f, "UA", buf, len, acc);
    assert_string_equal(last_counted(f), APPLIED);
    m = (struct board_msg){acc, "UA", "", 99, 1700000099};
    f->n_counted = 0;
    assert_int_equal(apply_bytes(f->s, &m, buf, len, on_count, f), 0);
    assert_int_equal(f->n_counted, 0);
    assert_need(f, need, BOARD_NEED_PARTIALLY_COVERED, 1, 0);
}

/* An edit by the owner replaces fields and re-derives coverage. */
static void test_edit(void **state)
{
    struct fixture *f = *state;
    uint8_t buf[PAYLOAD_MAX], need[WIRE_ID_BYTES], ee[WIRE_ID_BYTES];
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
    uint8_t buf[PAYLOAD_MAX], need[WIRE_ID_BYTES], ee[WIRE_ID_BYTES], nope[WIRE_ID_BYTES];
    const char *why = NULL;
    Tmbus__Payload__Need n;
    size_t len;

    memset(nope, 0x77, sizeof(nope));
    init_need(&n, 2);
    len = need_payload(&n, buf);
    assert_int_equal(check_bytes(f->s, "UA", buf, len, &why), BOARD_CHECK_OK);
    n.deadline = "2026-02-29";
    len = need_payload(&n, buf);
    assert_int_equal(check_bytes(f->s, "UA", buf, len, &why), BOARD_CHECK_INVALID);
    assert_non_null(strstr(why, "deadline"));

    len = offer_payload(nope, 1, buf);
    assert_int_equal(check_bytes(f->s, "EE", buf, len, &why), BOARD_CHECK_NOT_FOUND);
    post_need(f, "UA", 2, need);
    len = offer_payload(need, 2, buf);
    assert_int_equal(check_bytes(f->s, "EE", buf, len, &why), BOARD_CHECK_OK);
    post_offer(f, "EE", need, 2, ee);

    len = offer_update_payload(ee, ACCEPT, buf);
    assert_int_equal(check_bytes(f->s, "EE", buf, len, &why), BOARD_CHECK_DENIED);
    assert_int_equal(check_bytes(f->s, "UA", buf, len, &why), BOARD_CHECK_OK);
    len = offer_update_payload(nope, ACCEPT, buf);
    assert_int_equal(check_bytes(f->s, "UA", buf, len, &why), BOARD_CHECK_NOT_FOUND);
    len = need_update_payload(need, CLOSE, NULL, buf);
    assert_int_equal(check_bytes(f->s, "PL", buf, len, &why), BOARD_CHECK_DENIED);
    assert_int_equal(check_bytes(f->s, "UA", buf, len, &why), BOARD_CHECK_OK);

    /* A covered need takes no more offers. */
    offer_action(f, "UA", ee, ACCEPT, APPLIED);
    len = offer_payload(need, 1, buf);
    assert_int_equal(check_bytes(f->s, "PL", buf, len, &why), BOARD_CHECK_INVALID);
    assert_non_null(strstr(why, "no longer open"));

    /* The check writes nothing. */
    assert_int_equal(store_board_knows(f->s, nope), 0);
}

static void test_category_of(void **state)
{
    struct fixture *f = *state;
    uint8_t buf[PAYLOAD_MAX], need[WIRE_ID_BYTES], ee[WIRE_ID_BYTES];
    size_t len;

    post_need(f, "UA", 2, need);
    post_offer(f, "EE", need, 2, ee);
    len = offer_payload(need, 2, buf);
    assert_int_equal(category_bytes(f->s, buf, len),
                     TMBUS__PAYLOAD__CATEGORY__CATEGORY_MALWARE_DETECTION);
    len = offer_update_payload(ee, ACCEPT, buf);
    assert_int_equal(category_bytes(f->s, buf, len),
                     TMBUS__PAYLOAD__CATEGORY__CATEGORY_MALWARE_DETECTION);
    len = offer_payload(NULL, 2, buf);
    assert_int_equal(category_bytes(f->s, buf, len), 0);
}

/* ---- order independence -------------------------------------------------- */

/* One message of a scenario: its place in its log and its payload. */
struct scene_msg {
    uint8_t id[WIRE_ID_BYTES];
    const char *sender;
    uint64_t seq;
    int64_t created_at;
    uint8_t payload[1024];
    size_t len;
};

#define SCENE_MAX 24

struct scene {
    struct scene_msg m[SCENE_MAX];
    size_t n;
    uint8_t late[2][WIRE_ID_BYTES]; /* offers made after their need ended */
};

static struct scene_msg *scene_add(struct scene *sc, const char *sender, uint64_t seq,
                                   int64_t created_at)
{
    struct scene_msg *m = &sc->m[sc->n];

    assert_true(sc->n < SCENE_MAX);
    memset(m, 0, sizeof(*m));
    m->id[0] = (uint8_t)(0x40 + sc->n);
    m->id[31] = 0xc0;
    m->sender = sender;
    m->seq = seq;
    m->created_at = created_at;
    sc->n++;
    return m;
}

/* A coalition's week on one need and its neighbours, with what makes
 * order matter: a delivery stamped before the acceptance it answers (the
 * donor's clock is behind), an owner's clock that jumps back within its
 * log, a withdrawal crossing a decline, forbidden updates, offers made
 * after their need was closed or withdrawn, and updates that any shuffle
 * may deliver before their objects. */
static void build_scene(struct scene *sc, uint8_t n1[WIRE_ID_BYTES], uint8_t n2[WIRE_ID_BYTES],
                        uint8_t o1[WIRE_ID_BYTES], uint8_t o2[WIRE_ID_BYTES],
                        uint8_t o3[WIRE_ID_BYTES], uint8_t o4[WIRE_ID_BYTES])
{
    Tmbus__Payload__Need need, edit = TMBUS__PAYLOAD__NEED__INIT;
    struct scene_msg *m;
    uint8_t buf[PAYLOAD_MAX];
    size_t len;

#define PUT(mp, expr)                                                                              \
    do {                                                                                           \
        len = (expr);                                                                              \
        assert_true(len <= sizeof((mp)->payload));                                                 \
        memcpy((mp)->payload, buf, len);                                                           \
        (mp)->len = len;                                                                           \
    } while (0)

    memset(sc, 0, sizeof(*sc));
    init_need(&need, 10);
    m = scene_add(sc, "UA", 1, 1000);
    memcpy(n1, m->id, WIRE_ID_BYTES);
    PUT(m, need_payload(&need, buf));
    m = scene_add(sc, "UA", 2, 1010);
    memcpy(n2, m->id, WIRE_ID_BYTES);
    PUT(m, need_payload(&need, buf));

    m = scene_add(sc, "EE", 1, 1050);
    memcpy(o1, m->id, WIRE_ID_BYTES);
    PUT(m, offer_payload(n1, 10, buf));
    m = scene_add(sc, "PL", 1, 1055);
    memcpy(o2, m->id, WIRE_ID_BYTES);
    PUT(m, offer_payload(n1, 5, buf));
    m = scene_add(sc, "EE", 2, 1060);
    memcpy(o3, m->id, WIRE_ID_BYTES);
    PUT(m, offer_payload(NULL, 3, buf));
    m = scene_add(sc, "PL", 2, 1060);
    memcpy(o4, m->id, WIRE_ID_BYTES);
    PUT(m, offer_payload(n2, 4, buf));

    /* EE's delivery is stamped five seconds before UA's acceptance. */
    m = scene_add(sc, "EE", 3, 1095);
    PUT(m, offer_update_payload(o1, DELIVER, buf));
    m = scene_add(sc, "UA", 3, 1100);
    PUT(m, offer_update_payload(o1, ACCEPT, buf));
    m = scene_add(sc, "UA", 4, 1105);
    PUT(m, offer_update_payload(o2, DECLINE, buf));
    /* PL withdraws O2 as UA declines it: declined first, so refused. */
    m = scene_add(sc, "PL", 3, 1106);
    PUT(m, offer_update_payload(o2, WITHDRAW, buf));
    m = scene_add(sc, "PL", 4, 1110);
    PUT(m, offer_update_payload(o1, ACCEPT, buf)); /* not the owner */
    /* UA's clock jumped back: its log still puts the confirmation last. */
    m = scene_add(sc, "UA", 5, 1090);
    PUT(m, offer_update_payload(o1, CONFIRM, buf));
    edit.title = "EDR licences, second batch";
    edit.quantity = 12;
    m = scene_add(sc, "UA", 6, 1200);
    PUT(m, need_update_payload(n2, EDIT, &edit, buf));
    m = scene_add(sc, "UA", 7, 1400);
    PUT(m, need_update_payload(n1, CLOSE, NULL, buf));
    m = scene_add(sc, "UA", 8, 1410);
    PUT(m, need_update_payload(n2, N_WITHDRAW, NULL, buf));
    m = scene_add(sc, "UA", 9, 1420);
    PUT(m, need_update_payload(n2, CLOSE, NULL, buf)); /* already withdrawn */
    m = scene_add(sc, "EE", 4, 1500);
    PUT(m, offer_update_payload(o3, WITHDRAW, buf));
    m = scene_add(sc, "UA", 10, 1510);
    PUT(m, offer_update_payload(o4, ACCEPT, buf)); /* its need is withdrawn */
    /* Offers made after the close and the withdrawal: never on the board,
     * even when they arrive before what ended their need. */
    m = scene_add(sc, "PL", 5, 1450);
    memcpy(sc->late[0], m->id, WIRE_ID_BYTES);
    PUT(m, offer_payload(n1, 2, buf));
    m = scene_add(sc, "DK", 1, 1415);
    memcpy(sc->late[1], m->id, WIRE_ID_BYTES);
    PUT(m, offer_payload(n2, 2, buf));
#undef PUT
}

/* The counts by status the store kept write by write (late offers put,
 * then dropped when what ended their need arrived, included) are those a
 * fresh count of the rows gives, and the scene's: needs closed and
 * withdrawn, offers confirmed, declined, withdrawn and proposed. */
static void assert_counts(struct store *s, uint64_t needs, uint64_t offers)
{
    struct store_board_counts kept, fresh;

    assert_int_equal(store_board_count(s, &kept), 0);
    assert_int_equal(store_board_recount(s, &fresh), 0);
    assert_memory_equal(&kept, &fresh, sizeof(kept));
    assert_int_equal(kept.needs, needs);
    assert_int_equal(kept.offers, offers);
    assert_int_equal(kept.need_status[BOARD_NEED_CLOSED], 1);
    assert_int_equal(kept.need_status[BOARD_NEED_WITHDRAWN], 1);
    assert_int_equal(kept.offer_status[BOARD_OFFER_CONFIRMED], 1);
    assert_int_equal(kept.offer_status[BOARD_OFFER_DECLINED], 1);
    assert_int_equal(kept.offer_status[BOARD_OFFER_WITHDRAWN], 1);
    assert_int_equal(kept.offer_status[BOARD_OFFER_PROPOSED], 1);
}

/* Applies the scene's messages in the order given on a fresh store; the
 * digest goes to digest and the board's state is checked. */
static void play(const struct scene *sc, const size_t *order, uint8_t digest[WIRE_ID_BYTES],
                 const uint8_t *ids[6])
{
    char root[1024];
    struct store *s;
    struct store_board_need n;
    struct store_board_offer o;
    uint8_t kept[STORE_BOARD_DIGEST_BYTES], computed[STORE_BOARD_DIGEST_BYTES];
    static const int offer_status[] = {BOARD_OFFER_CONFIRMED, BOARD_OFFER_DECLINED,
                                       BOARD_OFFER_WITHDRAWN, BOARD_OFFER_PROPOSED};

    snprintf(root, sizeof(root), "%s", tu_tempdir());
    s = store_open(root, tu_store_key);
    assert_non_null(s);
    assert_int_equal(store_begin(s), 0);
    for (size_t i = 0; i < sc->n; i++) {
        const struct scene_msg *m = &sc->m[order[i]];
        struct board_msg bm = {m->id, m->sender, "", m->seq, m->created_at, 0};
        assert_int_equal(apply_bytes(s, &bm, m->payload, m->len, NULL, NULL), 0);
    }
    assert_int_equal(board_digest(s, digest), 0);
    /* The sum kept write by write is the one the rows make. */
    assert_int_equal(store_board_digest(s, kept), 0);
    assert_int_equal(store_board_digest_compute(s, computed), 0);
    assert_memory_equal(kept, computed, sizeof(kept));

    assert_int_equal(store_board_need_get(s, ids[0], &n), 1);
    free(n.need);
    assert_int_equal(n.status, BOARD_NEED_CLOSED);
    assert_int_equal(n.accepted_quantity, 10);
    assert_int_equal(n.delivered_quantity, 10);
    assert_int_equal(store_board_need_get(s, ids[1], &n), 1);
    free(n.need);
    assert_int_equal(n.status, BOARD_NEED_WITHDRAWN);
    assert_int_equal(n.quantity, 12);
    assert_int_equal(n.accepted_quantity, 0);
    for (size_t k = 0; k < 4; k++) {
        assert_int_equal(store_board_offer_get(s, ids[2 + k], &o), 1);
        free(o.offer);
        if (o.status != offer_status[k])
            fail_msg("offer %zu is %s, expected %s", k, board_offer_status_name(o.status),
                     board_offer_status_name(offer_status[k]));
    }
    for (size_t k = 0; k < 2; k++)
        assert_int_equal(store_board_offer_get(s, sc->late[k], &o), 0);
    assert_counts(s, 2, 4);
    assert_int_equal(store_commit(s), 0);
    store_close(&s);
    /* And after a restart (in the scene's own order only: a reopen per
     * order would add seconds to the run and test nothing more). */
    if (order[0] == 0) {
        s = store_open(root, tu_store_key);
        assert_non_null(s);
        assert_counts(s, 2, 4);
        store_close(&s);
    }
    tu_rmtree(root);
}

/* The same messages in 30 orders (updates before their objects included)
 * make the same board, to the byte of its digest. */
static void test_order_independence(void **state)
{
    struct scene sc;
    uint8_t n1[WIRE_ID_BYTES], n2[WIRE_ID_BYTES], o1[WIRE_ID_BYTES], o2[WIRE_ID_BYTES];
    uint8_t o3[WIRE_ID_BYTES], o4[WIRE_ID_BYTES];
    const uint8_t *ids[6] = {n1, n2, o1, o2, o3, o4};
    uint8_t first[WIRE_ID_BYTES], digest[WIRE_ID_BYTES];
    size_t order[SCENE_MAX];
    unsigned seed = 20260301;

    (void)state;
    build_scene(&sc, n1, n2, o1, o2, o3, o4);
    for (size_t i = 0; i < sc.n; i++)
        order[i] = i;
    play(&sc, order, first, ids);
    /* Reversed: every update before its object. */
    for (size_t i = 0; i < sc.n; i++)
        order[i] = sc.n - 1 - i;
    play(&sc, order, digest, ids);
    assert_memory_equal(digest, first, WIRE_ID_BYTES);
    for (int round = 0; round < 30; round++) {
        for (size_t i = sc.n - 1; i > 0; i--) {
            size_t j = (size_t)rand_r(&seed) % (i + 1), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        play(&sc, order, digest, ids);
        if (memcmp(digest, first, WIRE_ID_BYTES) != 0)
            fail_msg("round %d: the board differs", round);
    }
}

/* Updates decided on the stored state when they come in order make the
 * board a replay of every cluster makes: the scene in 40 random orders
 * (and in its own order, where most updates come in order), with the
 * shortcut and without it, gives one digest. */
static void test_incremental_equals_replay(void **state)
{
    struct scene sc;
    uint8_t n1[WIRE_ID_BYTES], n2[WIRE_ID_BYTES], o1[WIRE_ID_BYTES], o2[WIRE_ID_BYTES];
    uint8_t o3[WIRE_ID_BYTES], o4[WIRE_ID_BYTES];
    const uint8_t *ids[6] = {n1, n2, o1, o2, o3, o4};
    uint8_t fast[WIRE_ID_BYTES], slow[WIRE_ID_BYTES];
    size_t order[SCENE_MAX];
    unsigned seed = 20261130;

    (void)state;
    build_scene(&sc, n1, n2, o1, o2, o3, o4);
    for (size_t i = 0; i < sc.n; i++)
        order[i] = i;
    for (int round = 0; round < 41; round++) {
        if (round > 0) {
            for (size_t i = sc.n - 1; i > 0; i--) {
                size_t j = (size_t)rand_r(&seed) % (i + 1), t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
        }
        board_set_incremental(true);
        play(&sc, order, fast, ids);
        board_set_incremental(false);
        play(&sc, order, slow, ids);
        board_set_incremental(true);
        if (memcmp(fast, slow, WIRE_ID_BYTES) != 0)
            fail_msg("round %d: the shortcut's board differs from the replay's", round);
    }
}

/* A digest changes with the board and only with it. */
static void test_digest(void **state)
{
    struct fixture *f = *state;
    uint8_t empty[WIRE_ID_BYTES], d1[WIRE_ID_BYTES], d2[WIRE_ID_BYTES];
    uint8_t need[WIRE_ID_BYTES], ee[WIRE_ID_BYTES];

    assert_int_equal(board_digest(f->s, empty), 0);
    post_need(f, "UA", 2, need);
    post_offer(f, "EE", need, 2, ee);
    assert_int_equal(board_digest(f->s, d1), 0);
    assert_memory_not_equal(d1, empty, WIRE_ID_BYTES);
    assert_int_equal(board_digest(f->s, d2), 0);
    assert_memory_equal(d1, d2, WIRE_ID_BYTES);
    offer_action(f, "UA", ee, ACCEPT, APPLIED);
    assert_int_equal(board_digest(f->s, d2), 0);
    assert_memory_not_equal(d1, d2, WIRE_ID_BYTES);
}

/* Applies payload from sender holding role; returns the counter reported. */
static const char *apply_with_role(struct fixture *f, const char *sender, int role,
                                   const uint8_t *payload, size_t len, uint8_t *id)
{
    uint8_t fresh[WIRE_ID_BYTES];
    struct board_msg m;

    memset(fresh, 0, sizeof(fresh));
    fresh[0] = ++f->next_id;
    fresh[31] = 0xd0;
    m = (struct board_msg){fresh, sender, "", ++f->seq, 1700000000 + 3600 * (int64_t)f->seq, role};
    f->n_counted = 0;
    assert_int_equal(apply_bytes(f->s, &m, payload, len, on_count, f), 0);
    if (id != NULL)
        memcpy(id, fresh, WIRE_ID_BYTES);
    return f->n_counted ? f->counted[0] : "";
}

/* A receiving node checks the sender's role as the poster's api does. */
static void test_roles_on_receipt(void **state)
{
    struct fixture *f = *state;
    uint8_t buf[PAYLOAD_MAX], id[WIRE_ID_BYTES], need[WIRE_ID_BYTES], ee[WIRE_ID_BYTES];
    Tmbus__Payload__Need n;
    size_t len;

    init_need(&n, 3);
    len = need_payload(&n, buf);
    assert_string_equal(apply_with_role(f, "EE", ROSTER_ROLE_DONOR, buf, len, id),
                        "board.rejected.role");
    assert_int_equal(store_board_knows(f->s, id), 0);
    assert_string_equal(apply_with_role(f, "EU", ROSTER_ROLE_OBSERVER, buf, len, id),
                        "board.rejected.role");
    assert_int_equal(store_board_knows(f->s, id), 0);
    assert_string_equal(apply_with_role(f, "CO", ROSTER_ROLE_COORDINATOR, buf, len, id), APPLIED);
    assert_string_equal(apply_with_role(f, "UA", ROSTER_ROLE_BENEFICIARY, buf, len, need), APPLIED);

    len = offer_payload(need, 3, buf);
    assert_string_equal(apply_with_role(f, "UA", ROSTER_ROLE_BENEFICIARY, buf, len, id),
                        "board.rejected.role");
    assert_string_equal(apply_with_role(f, "EU", ROSTER_ROLE_OBSERVER, buf, len, id),
                        "board.rejected.role");
    assert_string_equal(apply_with_role(f, "EE", ROSTER_ROLE_DONOR, buf, len, ee), APPLIED);

    /* An observer's update is refused before the rules are even asked. */
    len = offer_update_payload(ee, ACCEPT, buf);
    assert_string_equal(apply_with_role(f, "EU", ROSTER_ROLE_OBSERVER, buf, len, id),
                        "board.rejected.role");
    assert_offer(f, ee, BOARD_OFFER_PROPOSED);
    assert_string_equal(apply_with_role(f, "UA", ROSTER_ROLE_BENEFICIARY, buf, len, id), APPLIED);
    assert_need(f, need, BOARD_NEED_COVERED, 3, 0);
}

/* Reports: open needs by priority then deadline, totals by donor,
 * category, sector; what is above the clearance does not count. */
static void test_report(void **state)
{
    struct fixture *f = *state;
    uint8_t buf[PAYLOAD_MAX], a[WIRE_ID_BYTES], b[WIRE_ID_BYTES], c[WIRE_ID_BYTES];
    uint8_t ee[WIRE_ID_BYTES], pl[WIRE_ID_BYTES], red[WIRE_ID_BYTES];
    Tmbus__Payload__Need n;
    struct board_report r;
    int64_t today;

    assert_int_equal(util_parse_utc("2026-03-15", &today), 0);
    init_need(&n, 10); /* high, 2026-03-31: due */
    apply_as(f, "UA", buf, need_payload(&n, buf), a);
    n.priority = TMBUS__PAYLOAD__PRIORITY__PRIORITY_CRITICAL;
    n.deadline = "2026-03-01"; /* overdue */
    n.sector = TMBUS__PAYLOAD__SECTOR__SECTOR_TELECOM;
    apply_as(f, "UA", buf, need_payload(&n, buf), b);
    n.deadline = "";
    n.tlp = TMBUS__PAYLOAD__TLP__TLP_RED;
    /* TLP:RED and everything about it travels in direct logs. */
    apply_in(f, "UA", "PL", buf, need_payload(&n, buf), c);

    post_offer(f, "EE", a, 4, ee); /* value 500.00 EUR each */
    post_offer(f, "PL", b, 10, pl);
    apply_in(f, "PL", "UA", buf, offer_payload(c, 10, buf), red);
    assert_string_equal(last_counted(f), "board.applied");
    offer_action(f, "UA", ee, ACCEPT, APPLIED);
    offer_action(f, "UA", pl, ACCEPT, APPLIED);
    offer_action_in(f, "UA", "PL", red, ACCEPT, APPLIED);
    offer_action(f, "PL", pl, DELIVER, APPLIED);
    offer_action(f, "UA", pl, CONFIRM, APPLIED);

    assert_int_equal(board_report(f->s, TMBUS__PAYLOAD__TLP__TLP_AMBER, today, &r), 0);
    assert_int_equal(r.n_open, 1); /* b is covered, c hidden */
    assert_memory_equal(r.open[0].id, a, WIRE_ID_BYTES);
    assert_false(r.open[0].is_overdue);
    assert_int_equal(r.open[0].accepted_quantity, 4);
    assert_int_equal(r.n_donors, 2);
    assert_string_equal(r.donors[0].donor, "EE");
    assert_int_equal(r.donors[0].pledged_cents, 50000);
    assert_int_equal(r.donors[0].delivered_cents, 0);
    assert_string_equal(r.donors[1].donor, "PL");
    assert_int_equal(r.donors[1].pledged_cents, 50000);
    assert_int_equal(r.donors[1].delivered_cents, 50000);
    assert_int_equal(r.n_sectors, 2);
    assert_int_equal(r.sectors[0].code, TMBUS__PAYLOAD__SECTOR__SECTOR_ENERGY);
    assert_int_equal(r.sectors[1].code, TMBUS__PAYLOAD__SECTOR__SECTOR_TELECOM);
    assert_int_equal(r.n_categories, 1);
    assert_int_equal(r.categories[0].pledged_cents, 100000);
    assert_int_equal(r.total.pledged_cents, 100000);
    assert_int_equal(r.total.delivered_cents, 50000);
    board_report_free(&r);

    /* With red clearance the third need's offer counts; reopen b first. */
    assert_int_equal(board_report(f->s, TMBUS__PAYLOAD__TLP__TLP_RED, today, &r), 0);
    assert_int_equal(r.total.pledged_cents, 150000);
    assert_int_equal(r.n_open, 1);
    board_report_free(&r);

    /* Open needs: critical (overdue) before high. */
    offer_action_in(f, "PL", "UA", red, WITHDRAW, APPLIED);
    n.tlp = TMBUS__PAYLOAD__TLP__TLP_AMBER;
    n.deadline = "2026-03-01";
    apply_as(f, "UA", buf, need_payload(&n, buf), c);
    assert_int_equal(board_report(f->s, TMBUS__PAYLOAD__TLP__TLP_AMBER, today, &r), 0);
    assert_int_equal(r.n_open, 2);
    assert_memory_equal(r.open[0].id, c, WIRE_ID_BYTES);
    assert_true(r.open[0].is_overdue);
    assert_memory_equal(r.open[1].id, a, WIRE_ID_BYTES);
    board_report_free(&r);
}

/* Anything about a need or an offer carries at least its label; a label
 * stated lower is refused on receipt, whatever the log. */
static void test_tlp_referent(void **state)
{
    struct fixture *f = *state;
    uint8_t buf[PAYLOAD_MAX], need[WIRE_ID_BYTES], offer[WIRE_ID_BYTES];
    Tmbus__Payload__Need n, edit;
    struct board_referent ref;

    init_need(&n, 10); /* AMBER */
    apply_as(f, "UA", buf, need_payload(&n, buf), need);
    tmbus__payload__need__init(&edit);
    edit.tlp = TMBUS__PAYLOAD__TLP__TLP_GREEN;
    apply_as(f, "UA", buf, need_update_payload(need, EDIT, &edit, buf), NULL);
    assert_string_equal(last_counted(f), "board.rejected.tlp-below-referent");
    edit.tlp = TMBUS__PAYLOAD__TLP__TLP_AMBER_STRICT; /* raising is allowed */
    apply_as(f, "UA", buf, need_update_payload(need, EDIT, &edit, buf), NULL);
    assert_string_equal(last_counted(f), "board.applied");

    /* The need is AMBER+STRICT now: an AMBER offer is below it. */
    apply_as(f, "EE", buf, offer_payload(need, 1, buf), NULL);
    assert_string_equal(last_counted(f), "board.rejected.tlp-below-referent");
    apply_as(f, "EE", buf, offer_payload_at(need, 1, TMBUS__PAYLOAD__TLP__TLP_AMBER_STRICT, buf),
             offer);
    assert_string_equal(last_counted(f), "board.applied");

    /* An update states no label: it takes its referent's, the higher of
     * the offer's and its need's. */
    referent_of(f->s, buf, offer_update_payload(offer, ACCEPT, buf), &ref);
    assert_true(ref.is_held);
    assert_int_equal(ref.tlp, TMBUS__PAYLOAD__TLP__TLP_AMBER_STRICT);
    assert_false(ref.is_red);
    referent_of(f->s, buf, need_update_payload(need, CLOSE, NULL, buf), &ref);
    assert_int_equal(ref.tlp, TMBUS__PAYLOAD__TLP__TLP_AMBER_STRICT);
    offer_action(f, "UA", offer, ACCEPT, APPLIED);
}

/* An offer whose clock puts it before its need is judged by the need's
 * label all the same: the verdict depends on the cluster, not the order. */
static void test_tlp_referent_early_offer(void **state)
{
    struct fixture *f = *state;
    uint8_t buf[PAYLOAD_MAX], need[WIRE_ID_BYTES], offer[WIRE_ID_BYTES];
    Tmbus__Payload__Need n;
    struct board_msg m;

    memset(need, 0xe1, sizeof(need));
    memset(offer, 0xe2, sizeof(offer));
    init_need(&n, 10); /* AMBER */
    m = (struct board_msg){need, "UA", "", 1, 1700003600};
    f->n_counted = 0;
    assert_int_equal(apply_bytes(f->s, &m, buf, need_payload(&n, buf), on_count, f), 0);
    m = (struct board_msg){offer, "EE", "", 1, 1700000000};
    f->n_counted = 0;
    assert_int_equal(apply_bytes(f->s, &m, buf,
                                 offer_payload_at(need, 1, TMBUS__PAYLOAD__TLP__TLP_GREEN, buf),
                                 on_count, f),
                     0);
    assert_string_equal(f->counted[0], "board.rejected.tlp-below-referent");
}

/* TLP:RED and everything about it travel in direct logs only; the board
 * records the two members of the original's direct log. */
/* A need share (PROTOCOL.md 6.7) of the need at seq of owner's relayed
 * log, as owner's node would write it. */
static size_t share_payload(const uint8_t *need_id, uint64_t seq, const Tmbus__Payload__Need *n,
                            uint8_t *buf)
{
    Tmbus__Payload__Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT;
    Tmbus__Payload__NeedShare sh = TMBUS__PAYLOAD__NEED_SHARE__INIT;

    sh.need_id.data = (uint8_t *)need_id;
    sh.need_id.len = WIRE_ID_BYTES;
    sh.seq = seq;
    sh.created_at = 1600000000;
    sh.need = (Tmbus__Payload__Need *)n;
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_SHARE;
    p.need_share = &sh;
    return pack(&p, buf);
}

/* What a share creates, whom it must come from, and what it leaves. */
static void test_need_share(void **state)
{
    struct fixture *f = *state;
    uint8_t buf[PAYLOAD_MAX], shared[WIRE_ID_BYTES], other[WIRE_ID_BYTES], offer[WIRE_ID_BYTES];
    const uint8_t envelope[] = "an envelope the test never opens";
    struct store_entry e = {.seq = 1, .envelope = envelope, .envelope_len = sizeof(envelope)};
    struct store_board_need n = {0};
    Tmbus__Payload__Need need, edit = TMBUS__PAYLOAD__NEED__INIT;
    size_t len, rows = 0;

    memset(shared, 0x5a, sizeof(shared));
    memset(other, 0x6b, sizeof(other));
    init_need(&need, 10);
    /* UA's relayed log holds the need's envelope at seq 1, as a new member
     * holds it from catching up, unable to open it. */
    strcpy(e.log.origin, "UA");
    e.id = shared;
    assert_int_equal(store_append(f->s, &e), 0);

    /* From another member than the one that posted it: refused. */
    len = share_payload(shared, 1, &need, buf);
    apply_in(f, "EE", "", buf, len, NULL);
    assert_string_equal(last_counted(f), "board.rejected.share-not-original");
    /* An id the log does not hold at that seq: refused. */
    len = share_payload(other, 1, &need, buf);
    apply_in(f, "UA", "", buf, len, NULL);
    assert_string_equal(last_counted(f), "board.rejected.share-not-original");
    len = share_payload(shared, 2, &need, buf);
    apply_in(f, "UA", "", buf, len, NULL);
    assert_string_equal(last_counted(f), "board.rejected.share-not-original");
    assert_int_equal(store_board_each_need(f->s, NULL, -1, count_row, &rows), 0);
    assert_int_equal(rows, 0);

    /* From its poster: the need, under its own id, owner and time. */
    len = share_payload(shared, 1, &need, buf);
    apply_in(f, "UA", "", buf, len, NULL);
    assert_string_equal(last_counted(f), "board.applied");
    assert_int_equal(store_board_need_get(f->s, shared, &n), 1);
    assert_string_equal(n.owner, "UA");
    assert_int_equal(n.created_at, 1600000000);
    assert_int_equal(n.status, BOARD_NEED_OPEN);
    assert_int_equal(n.tlp, MESSAGE_TLP_AMBER);
    free(n.need);
    /* Again (a second share from the owner): nothing changes, no refusal. */
    apply_in(f, "UA", "", buf, len, NULL);
    assert_int_equal(f->n_counted, 0);
    /* Another member cannot take it over. */
    apply_in(f, "EE", "", buf, len, NULL);
    assert_string_equal(last_counted(f), "board.rejected.share-held");

    /* Later updates and offers apply to it as to any need. */
    edit.title = "EDR licences, edited";
    len = need_update_payload(shared, TMBUS__PAYLOAD__NEED_UPDATE__ACTION__ACTION_EDIT, &edit, buf);
    apply_in(f, "EE", "", buf, len, NULL);
    assert_string_equal(last_counted(f), "board.rejected.not-owner");
    apply_in(f, "UA", "", buf, len, NULL);
    assert_string_equal(last_counted(f), "board.applied");
    len = offer_payload(shared, 4, buf);
    apply_in(f, "IT", "", buf, len, offer);
    assert_string_equal(last_counted(f), "board.applied");
    len = offer_update_payload(offer, TMBUS__PAYLOAD__OFFER_UPDATE__ACTION__ACTION_ACCEPT, buf);
    apply_in(f, "UA", "", buf, len, NULL);
    assert_string_equal(last_counted(f), "board.applied");
    assert_int_equal(store_board_need_get(f->s, shared, &n), 1);
    assert_int_equal(n.status, BOARD_NEED_PARTIALLY_COVERED);
    assert_int_equal(n.accepted_quantity, 4);
    free(n.need);
}

static void test_red_referent(void **state)
{
    struct fixture *f = *state;
    uint8_t buf[PAYLOAD_MAX], need[WIRE_ID_BYTES], offer[WIRE_ID_BYTES];
    Tmbus__Payload__Need n;
    struct board_referent ref;

    init_need(&n, 10);
    n.tlp = TMBUS__PAYLOAD__TLP__TLP_GREEN; /* in a direct log: TLP:RED all the same */
    apply_in(f, "UA", "PL", buf, need_payload(&n, buf), need);
    assert_string_equal(last_counted(f), "board.applied");
    referent_of(f->s, buf, need_update_payload(need, CLOSE, NULL, buf), &ref);
    assert_true(ref.is_red);
    assert_string_equal(ref.origin, "UA");
    assert_string_equal(ref.peer, "PL");

    need_action(f, "UA", need, CLOSE, "board.rejected.red-not-direct");
    apply_in(f, "PL", "", buf, offer_payload_at(need, 1, TMBUS__PAYLOAD__TLP__TLP_RED, buf), NULL);
    assert_string_equal(last_counted(f), "board.rejected.red-not-direct");
    apply_in(f, "PL", "UA", buf, offer_payload(need, 1, buf), offer);
    assert_string_equal(last_counted(f), "board.applied");
    referent_of(f->s, buf, offer_update_payload(offer, ACCEPT, buf), &ref);
    assert_true(ref.is_red);
    assert_string_equal(ref.origin, "PL");
    assert_string_equal(ref.peer, "UA");
    offer_action(f, "UA", offer, ACCEPT, "board.rejected.red-not-direct");
    offer_action_in(f, "UA", "PL", offer, ACCEPT, APPLIED);
    apply_in(f, "UA", "PL", buf, need_update_payload(need, CLOSE, NULL, buf), NULL);
    assert_string_equal(last_counted(f), "board.applied");
}

/* A client acts only on what its clearance shows it: a hidden need or
 * offer gets the very answer an unknown id gets. */
static void test_check_post_hides(void **state)
{
    struct fixture *f = *state;
    uint8_t buf[PAYLOAD_MAX], need[WIRE_ID_BYTES], offer[WIRE_ID_BYTES], unknown[WIRE_ID_BYTES];
    char why_hidden[256], why_unknown[256];
    const uint32_t green = TMBUS__PAYLOAD__TLP__TLP_GREEN, amber = TMBUS__PAYLOAD__TLP__TLP_AMBER;

    memset(unknown, 0x77, sizeof(unknown));
    post_need(f, "UA", 10, need); /* AMBER */
    post_offer(f, "EE", need, 2, offer);

    assert_int_equal(check_cleared(f->s, "UA", green, buf,
                                   need_update_payload(need, CLOSE, NULL, buf), why_hidden,
                                   sizeof(why_hidden)),
                     BOARD_CHECK_NOT_FOUND);
    assert_int_equal(check_cleared(f->s, "UA", green, buf,
                                   need_update_payload(unknown, CLOSE, NULL, buf), why_unknown,
                                   sizeof(why_unknown)),
                     BOARD_CHECK_NOT_FOUND);
    assert_string_equal(why_hidden, why_unknown);
    assert_int_equal(check_cleared(f->s, "UA", amber, buf,
                                   need_update_payload(need, CLOSE, NULL, buf), why_hidden,
                                   sizeof(why_hidden)),
                     BOARD_CHECK_OK);

    assert_int_equal(check_cleared(f->s, "UA", green, buf, offer_update_payload(offer, ACCEPT, buf),
                                   why_hidden, sizeof(why_hidden)),
                     BOARD_CHECK_NOT_FOUND);
    assert_int_equal(check_cleared(f->s, "UA", green, buf,
                                   offer_update_payload(unknown, ACCEPT, buf), why_unknown,
                                   sizeof(why_unknown)),
                     BOARD_CHECK_NOT_FOUND);
    assert_string_equal(why_hidden, why_unknown);

    assert_int_equal(check_cleared(f->s, "EE", green, buf, offer_payload_at(need, 1, green, buf),
                                   why_hidden, sizeof(why_hidden)),
                     BOARD_CHECK_NOT_FOUND);
    assert_int_equal(check_cleared(f->s, "EE", green, buf, offer_payload_at(unknown, 1, green, buf),
                                   why_unknown, sizeof(why_unknown)),
                     BOARD_CHECK_NOT_FOUND);
    assert_string_equal(why_hidden, why_unknown);
    /* Seen at a cleared client, the same GREEN offer is below its need. */
    assert_int_equal(check_cleared(f->s, "EE", amber, buf, offer_payload_at(need, 1, green, buf),
                                   why_hidden, sizeof(why_hidden)),
                     BOARD_CHECK_INVALID);
}

/* A need written before schema 9 (priority 0 in its row) gets the
 * priority its payload states from board_upgrade, and pages filter on it;
 * a second run finds nothing to do. */
static void test_upgrade_fills_priority(void **state)
{
    struct fixture *f = *state;
    Tmbus__Payload__Need need = TMBUS__PAYLOAD__NEED__INIT;
    struct store_board_need row = {0};
    static const uint32_t high[] = {2};
    struct store_board_filter q = {
        .clearance = 5, .need_status = -1, .priorities = high, .n_priorities = 1, .limit = 10};
    uint8_t buf[256];
    size_t count = 0;

    need.title = "pumps";
    need.category = 2;
    need.priority = 2;
    need.quantity = 3;
    need.unit = "pcs";
    need.tlp = 2;
    row.need_len = tmbus__payload__need__pack(&need, buf);
    row.need = buf;
    memset(row.id, 0x77, sizeof(row.id));
    strcpy(row.owner, "UA");
    row.status = BOARD_NEED_OPEN;
    row.tlp = 2;
    row.category = 2;
    row.quantity = 3;
    assert_int_equal(store_board_need_put(f->s, &row), 0);
    assert_int_equal(store_commit(f->s), 0);
    assert_int_equal(store_board_page_needs(f->s, &q, count_row, &count), 0);
    assert_int_equal(count, 0);
    assert_int_equal(board_upgrade(f->s), 0);
    assert_int_equal(board_upgrade(f->s), 0);
    assert_int_equal(store_board_page_needs(f->s, &q, count_row, &count), 0);
    assert_int_equal(count, 1);
    assert_int_equal(store_begin(f->s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_full_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_fills_priority, setup, teardown),
        cmocka_unit_test(test_incremental_equals_replay),
        cmocka_unit_test_setup_teardown(test_decline_and_withdraw_need, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forbidden_updates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_strict_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_waiting_updates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_post, setup, teardown),
        cmocka_unit_test_setup_teardown(test_category_of, setup, teardown),
        cmocka_unit_test(test_order_independence),
        cmocka_unit_test_setup_teardown(test_digest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roles_on_receipt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offer_after_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tlp_referent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tlp_referent_early_offer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_red_referent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_need_share, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_post_hides, setup, teardown),
    };

    log_init("test_board", LOG_LEVEL_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
