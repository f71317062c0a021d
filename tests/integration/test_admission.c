/*
 * Integration: admission of a fifth member (proto/PROTOCOL.md 6.7). Four
 * members run while LT posts catalogue offers and EE's client reads and
 * acks them; UA and PL posted needs before: open ones to every member, one
 * closed, one TLP:RED, one to EE alone. A roster update adding IT is
 * published while messages flow, with PL's node down; IT's node starts.
 * Within a minute IT's board holds exactly the open needs posted to every
 * member, under their original ids and owners (PL's once PL's node is
 * back), and not an offer made before it joined; it receives what is
 * posted after, sees a later edit of a shared need, and its offer on one
 * reaches the owner's board, whose acceptance comes back. A sharing node
 * restarted shares nothing twice.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fed.h"
#include "fedclient.h"
#include "payload.pb-c.h"

#define LINK_MS  10000 /* longest wait for links to come up */
#define APPLY_MS 10000 /* longest wait for the update to be in force at a node */
#define SHARE_MS 60000 /* the promise: shared needs arrive within a minute */
#define SEEN_MS  10000 /* longest wait for a post to reach a board */
#define QUIET_MS 2000  /* how long a restarted node is watched for a second share */

static const char *const ids[] = {"UA", "EE", "PL", "LT", "IT"};
static const char *const roles[] = {NULL, NULL, "coordinator", "coordinator", NULL};
#define N_NODES 5
#define UA      0
#define EE      1
#define PL      2
#define LT      3
#define IT      4

static void admin_conf(struct fed *f, const char *key_path, char *out, size_t size)
{
    char text[4096];
    FILE *fp;

    assert_int_equal(fed_path(f, "UA-admin.conf", out, size), 0);
    snprintf(text, sizeof(text), "[client]\nendpoint = %s\nnode_key = %s\nkey = %s\n",
             fed_client_endpoint(f, UA), fed_member_pub_path(f, UA), key_path);
    assert_non_null(fp = fopen(out, "w"));
    assert_true(fputs(text, fp) >= 0);
    assert_int_equal(fclose(fp), 0);
}

/* Version 2 of the roster, IT included, signed by both governors. */
static void make_v2(struct fed *f, const char *v1, const char *out)
{
    char scratch[FED_PATH_MAX + 16], source[FED_PATH_MAX + 32], update[FED_PATH_MAX + 16];
    char sig[2][FED_PATH_MAX + 16], gov[2][FED_PATH_MAX];
    struct fed_roster spec = {.version = 2};

    snprintf(scratch, sizeof(scratch), "%s.scratch", out);
    snprintf(source, sizeof(source), "%s.ini", scratch);
    snprintf(update, sizeof(update), "%s.unsigned", out);
    spec.out = scratch;
    spec.previous = v1;
    assert_int_equal(fed_make_roster(f, &spec), 0);
    const char *propose[] = {"roster", "propose", source,    "--previous",
                             v1,       update,    "--force", NULL};
    assert_int_equal(fed_admin(f, propose), 0);
    for (int g = 0; g < 2; g++) {
        snprintf(sig[g], sizeof(sig[g]), "%s.%d.sig", out, g);
        snprintf(gov[g], sizeof(gov[g]), "%s/gov-%s.key", fed_keys_dir(f), fed_id(f, (size_t)g));
        const char *sign[] = {"roster", "sign", update, gov[g], "--detached", sig[g], NULL};
        assert_int_equal(fed_admin(f, sign), 0);
    }
    const char *combine[] = {"roster", "combine", update,       sig[0], sig[1],
                             "--out",  out,       "--previous", v1,     NULL};
    assert_int_equal(fed_admin(f, combine), 0);
}

static uint64_t roster_version_at(struct tmbus *h)
{
    struct tmbus_status *st = NULL;
    uint64_t v;

    assert_int_equal(tmbus_status(h, FC_CALL_MS, &st), TMBUS_OK);
    v = tmbus_status_roster_version(st);
    tmbus_status_free(&st);
    return v;
}

static uint64_t counter(struct tmbus *h, const char *name)
{
    uint64_t v = 0;

    assert_int_equal(fc_counter(h, name, &v), 0);
    return v;
}

/* Traffic that runs through the admission: LT posts a catalogue offer to
 * every member per step, EE's client reads and acks what comes. */
struct flow {
    struct tmbus *poster, *reader;
    struct fc_inbox in;
    unsigned n_posted;
};

static void flow_step(struct flow *fl)
{
    struct tmbus_offer o = {.description = "flow", .quantity = 1, .tlp = TMBUS_TLP_GREEN};

    assert_int_equal(tmbus_post_offer(fl->poster, &o, NULL, 0, true, FC_CALL_MS, NULL), TMBUS_OK);
    fl->n_posted++;
    fc_receive(fl->reader, &fl->in, SIZE_MAX, 20, 16);
}

static int post_need(struct tmbus *h, const char *title, int tlp, const char *const *to, size_t n,
                     uint8_t id[TMBUS_ID_BYTES])
{
    struct tmbus_need need = {.sector = TMBUS_SECTOR_OTHER,
                              .category = TMBUS_CATEGORY_OTHER,
                              .title = title,
                              .quantity = 10,
                              .unit = "licences",
                              .priority = TMBUS_PRIORITY_LOW,
                              .tlp = tlp};

    return tmbus_post_need(h, &need, to, n, n == 0, FC_CALL_MS, id);
}

/* The need with id on h's board, copied out: its title, owner, status;
 * false when the board does not hold it. */
struct seen {
    char title[TMBUS_TITLE_MAX + 1];
    char owner[TMBUS_MEMBER_MAX + 1];
    char status[32];
    size_t n_offers;
    char offer_status[32];
};

static bool board_need(struct tmbus *h, const uint8_t *id, struct seen *out)
{
    struct tmbus_board *b = NULL;
    const struct tmbus_board_need *n;
    bool is_held = false;

    memset(out, 0, sizeof(*out));
    if (tmbus_board(h, id, NULL, FC_CALL_MS, &b) != TMBUS_OK)
        return false;
    if ((n = tmbus_board_need_at(b, 0)) != NULL && memcmp(n->id, id, TMBUS_ID_BYTES) == 0) {
        is_held = true;
        snprintf(out->title, sizeof(out->title), "%s", n->need.title);
        snprintf(out->owner, sizeof(out->owner), "%s", n->owner);
        snprintf(out->status, sizeof(out->status), "%s", n->status);
        out->n_offers = tmbus_board_offer_count(b);
        if (out->n_offers > 0)
            snprintf(out->offer_status, sizeof(out->offer_status), "%s",
                     tmbus_board_offer_at(b, 0)->status);
    }
    tmbus_board_free(&b);
    return is_held;
}

static size_t board_need_count(struct tmbus *h)
{
    struct tmbus_board *b = NULL;
    size_t n;

    assert_int_equal(tmbus_board(h, NULL, NULL, FC_CALL_MS, &b), TMBUS_OK);
    n = tmbus_board_need_count(b);
    tmbus_board_free(&b);
    return n;
}

/* Runs flow steps until h's board holds id with a title starting with
 * title (NULL: any), or SEEN_MS (timeout_ms) pass. */
static bool wait_need(struct flow *fl, struct tmbus *h, const uint8_t *id, const char *title,
                      int timeout_ms, struct seen *out)
{
    int64_t deadline = fed_now_ms() + timeout_ms;

    while (fed_now_ms() < deadline) {
        if (board_need(h, id, out) &&
            (title == NULL || strncmp(out->title, title, strlen(title)) == 0))
            return true;
        if (fl != NULL)
            flow_step(fl);
        else
            fed_sleep_ms(100);
    }
    return false;
}

static void test_admission_shares_open_needs(void **state)
{
    struct fed *f = fed_new_with_roles(N_NODES, ids, roles);
    struct fed_roster v1spec = {.version = 1};
    char key[FED_PATH_MAX], conf[FED_PATH_MAX], v1[FED_PATH_MAX], v2[FED_PATH_MAX];
    uint8_t open_green[TMBUS_ID_BYTES], open_amber[TMBUS_ID_BYTES], open_strict[TMBUS_ID_BYTES];
    uint8_t closed[TMBUS_ID_BYTES], red[TMBUS_ID_BYTES], single[TMBUS_ID_BYTES];
    uint8_t pl_need[TMBUS_ID_BYTES], later[TMBUS_ID_BYTES], early_offer[TMBUS_ID_BYTES];
    uint8_t it_offer[TMBUS_ID_BYTES];
    struct tmbus *ua, *ee, *pl, *it;
    struct flow fl = {0};
    struct seen s;
    const char *to_ee[] = {"EE"};
    long mark[N_NODES];
    uint64_t shared_ua;

    assert_non_null(f);
    *state = f;
    assert_int_equal(fed_add_client(f, UA, "secretariat", "admin", "red", key), 0);
    admin_conf(f, key, conf, sizeof(conf));
    /* Version 1 lists the four founders only. */
    v1spec.is_left_out[IT] = true;
    assert_int_equal(fed_make_roster(f, &v1spec), 0);
    assert_int_equal(fed_path(f, "v1.bin", v1, sizeof(v1)), 0);
    assert_int_equal(rename(fed_roster_path(f), v1), 0);
    assert_int_equal(symlink(v1, fed_roster_path(f)), 0);
    for (size_t i = 0; i < IT; i++)
        mark[i] = fed_log_mark(f, i);
    for (size_t i = 0; i < IT; i++)
        assert_int_equal(fed_start(f, i), 0);
    for (size_t i = 0; i < IT; i++)
        for (size_t k = 0; k < IT; k++)
            if (k != i)
                assert_int_equal(fed_wait_link(f, i, mark[i], fed_id(f, k), LINK_MS), 0);

    assert_non_null(ua = fc_connect(f, UA));
    assert_non_null(ee = fc_connect(f, EE));
    assert_non_null(pl = fc_connect(f, PL));
    /* Before the admission: open needs to every member, one closed since,
     * one TLP:RED and one to EE alone; EE's offer on one of them. */
    assert_int_equal(post_need(ua, "shared green", TMBUS_TLP_GREEN, NULL, 0, open_green), TMBUS_OK);
    assert_int_equal(post_need(ua, "shared amber", TMBUS_TLP_AMBER, NULL, 0, open_amber), TMBUS_OK);
    assert_int_equal(post_need(ua, "shared strict", TMBUS_TLP_AMBER_STRICT, NULL, 0, open_strict),
                     TMBUS_OK);
    assert_int_equal(post_need(ua, "closed", TMBUS_TLP_GREEN, NULL, 0, closed), TMBUS_OK);
    assert_int_equal(tmbus_need_update(ua, closed, TMBUS_NEED_CLOSE, NULL, "done", NULL, 0, true,
                                       FC_CALL_MS, NULL),
                     TMBUS_OK);
    assert_int_equal(post_need(ua, "red", TMBUS_TLP_RED, to_ee, 1, red), TMBUS_OK);
    assert_int_equal(post_need(ua, "single", TMBUS_TLP_GREEN, to_ee, 1, single), TMBUS_OK);
    assert_int_equal(post_need(pl, "shared by PL", TMBUS_TLP_GREEN, NULL, 0, pl_need), TMBUS_OK);
    assert_true(wait_need(NULL, ee, open_amber, NULL, SEEN_MS, &s));
    {
        struct tmbus_offer o = {.need_id = open_amber, .quantity = 2, .tlp = TMBUS_TLP_AMBER};
        assert_int_equal(tmbus_post_offer(ee, &o, NULL, 0, true, FC_CALL_MS, early_offer),
                         TMBUS_OK);
    }

    /* Messages flow from here on. */
    assert_non_null(fl.poster = fc_connect(f, LT));
    fl.reader = ee;
    fc_inbox_init(&fl.in, "none");
    assert_int_equal(tmbus_subscribe(ee, 64, FC_CALL_MS), TMBUS_OK);
    for (int i = 0; i < 5; i++)
        flow_step(&fl);

    /* PL's node is down when IT is admitted: it shares once it is back. */
    tmbus_close(&pl);
    assert_int_equal(fed_stop(f, PL), 0);
    assert_int_equal(fed_path(f, "v2.bin", v2, sizeof(v2)), 0);
    make_v2(f, v1, v2);
    {
        const char *publish[] = {"roster", "publish", v2, "--config", conf, NULL};
        assert_int_equal(fed_admin(f, publish), 0);
    }
    for (int64_t until = fed_now_ms() + APPLY_MS;
         roster_version_at(ee) != 2 || roster_version_at(fl.poster) != 2;) {
        assert_true(fed_now_ms() < until);
        flow_step(&fl);
    }
    assert_int_equal(roster_version_at(ua), 2);

    /* Every node reads its roster file at start: IT's is version 2. */
    assert_int_equal(unlink(fed_roster_path(f)), 0);
    assert_int_equal(symlink(v2, fed_roster_path(f)), 0);
    mark[IT] = fed_log_mark(f, IT);
    assert_int_equal(fed_start(f, IT), 0);
    assert_int_equal(fed_wait_link(f, IT, mark[IT], "UA", LINK_MS), 0);
    assert_non_null(it = fc_connect(f, IT));

    /* Within a minute: the open needs posted to every member, under their
     * ids and owners; not the closed, the TLP:RED or EE's own. */
    assert_true(wait_need(&fl, it, open_green, "shared green", SHARE_MS, &s));
    assert_string_equal(s.owner, "UA");
    assert_string_equal(s.status, "open");
    assert_true(wait_need(&fl, it, open_strict, "shared strict", SHARE_MS, &s));
    assert_true(wait_need(&fl, it, open_amber, "shared amber", SHARE_MS, &s));
    /* EE's offer was made before IT joined: IT never sees it. */
    assert_int_equal(s.n_offers, 0);
    assert_false(board_need(it, closed, &s));
    assert_false(board_need(it, red, &s));
    assert_false(board_need(it, single, &s));

    /* PL comes back, takes version 2 at its Hello and shares its need. */
    mark[PL] = fed_log_mark(f, PL);
    assert_int_equal(fed_start(f, PL), 0);
    assert_int_equal(fed_wait_log_from(f, PL, mark[PL], "running: roster version 2", APPLY_MS), 0);
    assert_true(wait_need(&fl, it, pl_need, "shared by PL", SHARE_MS, &s));
    assert_string_equal(s.owner, "PL");
    assert_int_equal(board_need_count(it), 4);

    /* New posts reach IT; so does a later edit of a shared need. */
    assert_int_equal(post_need(ua, "after admission", TMBUS_TLP_GREEN, NULL, 0, later), TMBUS_OK);
    assert_true(wait_need(&fl, it, later, "after admission", SEEN_MS, &s));
    {
        struct tmbus_need edit = {.title = "shared green, edited"};
        assert_int_equal(tmbus_need_update(ua, open_green, TMBUS_NEED_EDIT, &edit, "more detail",
                                           NULL, 0, true, FC_CALL_MS, NULL),
                         TMBUS_OK);
    }
    assert_true(wait_need(&fl, it, open_green, "shared green, edited", SEEN_MS, &s));

    /* IT offers on a shared need: the owner's board takes it, and its
     * acceptance reaches IT. */
    {
        struct tmbus_offer o = {.need_id = open_green, .quantity = 3, .tlp = TMBUS_TLP_GREEN};
        assert_int_equal(tmbus_post_offer(it, &o, NULL, 0, true, FC_CALL_MS, it_offer), TMBUS_OK);
    }
    for (int64_t until = fed_now_ms() + SEEN_MS;
         !board_need(ua, open_green, &s) || s.n_offers != 1;) {
        assert_true(fed_now_ms() < until);
        flow_step(&fl);
    }
    assert_string_equal(s.offer_status, "proposed");
    assert_int_equal(tmbus_offer_update(ua, it_offer, TMBUS_OFFER_ACCEPT, "thanks", NULL, 0, true,
                                        FC_CALL_MS, NULL),
                     TMBUS_OK);
    for (int64_t until = fed_now_ms() + SEEN_MS;
         !board_need(it, open_green, &s) || strcmp(s.offer_status, "accepted") != 0;) {
        assert_true(fed_now_ms() < until);
        flow_step(&fl);
    }
    assert_string_equal(s.status, "partially_covered");

    /* Only a node writes a share: a client's is refused. */
    {
        Tmbus__Payload__Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT;
        Tmbus__Payload__NeedShare sh = TMBUS__PAYLOAD__NEED_SHARE__INIT;
        Tmbus__Payload__Need need = TMBUS__PAYLOAD__NEED__INIT;
        uint8_t buf[FC_PAYLOAD_MAX];

        need.sector = TMBUS__PAYLOAD__SECTOR__SECTOR_OTHER;
        need.category = TMBUS__PAYLOAD__CATEGORY__CATEGORY_OTHER;
        need.title = "forged share";
        need.quantity = 1;
        need.priority = TMBUS__PAYLOAD__PRIORITY__PRIORITY_LOW;
        need.tlp = TMBUS__PAYLOAD__TLP__TLP_GREEN;
        sh.need_id.data = open_green;
        sh.need_id.len = TMBUS_ID_BYTES;
        sh.seq = 1;
        sh.need = &need;
        p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_SHARE;
        p.need_share = &sh;
        assert_true(tmbus__payload__payload__get_packed_size(&p) <= sizeof(buf));
        const char *to_it[] = {"IT"};
        assert_int_equal(tmbus_post(ua, buf, tmbus__payload__payload__pack(&p, buf), to_it, 1,
                                    false, 0, FC_CALL_MS, NULL),
                         TMBUS_EDENIED);
        assert_int_equal(counter(ua, "api.rejected.need-share"), 1);
    }

    /* A sharing node restarted shares nothing again. */
    shared_ua = counter(ua, "admission.shared");
    assert_int_equal(shared_ua, 3);
    assert_int_equal(counter(it, "board.rejected.share-held"), 0);
    tmbus_close(&ua);
    mark[UA] = fed_log_mark(f, UA);
    assert_int_equal(fed_stop(f, UA), 0);
    assert_int_equal(fed_start(f, UA), 0);
    assert_int_equal(fed_wait_link(f, UA, mark[UA], "IT", LINK_MS), 0);
    for (int64_t until = fed_now_ms() + QUIET_MS; fed_now_ms() < until;)
        flow_step(&fl);
    assert_non_null(ua = fc_connect(f, UA));
    assert_int_equal(counter(ua, "admission.shared"), shared_ua);
    assert_int_equal(fed_log_count(f, UA, mark[UA], "admission: 1 member(s) new"), 0);
    assert_int_equal(board_need_count(it), 5);
    assert_true(fl.in.n > 0);
    assert_int_equal(fc_check_order(&fl.in), 0);

    fc_inbox_free(&fl.in);
    tmbus_close(&fl.poster);
    tmbus_close(&it);
    tmbus_close(&ee);
    tmbus_close(&ua);
    fed_pass(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_admission_shares_open_needs, fed_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
