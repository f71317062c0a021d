/*
 * Integration: roster updates over the bus (proto/PROTOCOL.md §3.5). The
 * secretariat proposes version 2 with tmbus-admin, each governor signs a
 * detached signature, the signatures are combined and an admin client
 * publishes the update through one node: every node puts it in force
 * without SIGHUP, one that was down at the time takes it at its next
 * Hello, and a node restarted on its old roster file runs version 2. A
 * rollback, a fork, an update below the threshold, an expired one and a
 * publish by a client that is no admin are refused with their reason at
 * every node, and still after a restart. An update that revokes a
 * member's key, or drops the member, closes its links at every node and
 * ends its node's client sessions within a second; its node refuses its
 * next post with the reason, which reaches no one; what it posted before
 * stays on the other boards, marked as from a revoked member once the
 * member is dropped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "fed.h"
#include "fedclient.h"

#define LINK_MS  10000 /* longest wait for links to come up */
#define APPLY_MS 5000  /* longest wait for an update to be in force at a node */
#define LOG_MS   5000  /* how long a reason may take to reach the log */
#define DOWN_MS  1000  /* a revoked link is down at every node within this */
#define QUIET_MS 1500  /* how long a refused envelope must stay away */

static const char *const ids[] = {"UA", "EE", "PL"};
#define N_NODES 3

/* DIR/ID-admin.conf: a client configuration for node i's admin client,
 * whose secret key file is key_path. */
static void admin_conf(struct fed *f, size_t i, const char *key_path, char *out, size_t size)
{
    char name[64], text[4096];

    snprintf(name, sizeof(name), "%s-admin.conf", fed_id(f, i));
    assert_int_equal(fed_path(f, name, out, size), 0);
    snprintf(text, sizeof(text), "[client]\nendpoint = %s\nnode_key = %s\nkey = %s\n",
             fed_client_endpoint(f, i), fed_member_pub_path(f, i), key_path);
    assert_int_equal(fed_write_file(out, text), 0);
}

/* DIR/ID-poster.conf: node i's own client (role poster). */
static void poster_conf(struct fed *f, size_t i, char *out, size_t size)
{
    char name[64], text[4096];

    snprintf(name, sizeof(name), "%s-poster.conf", fed_id(f, i));
    assert_int_equal(fed_path(f, name, out, size), 0);
    snprintf(text, sizeof(text), "[client]\nendpoint = %s\nnode_key = %s\nkey = %s\n",
             fed_client_endpoint(f, i), fed_member_pub_path(f, i), fed_client_key_path(f, i));
    assert_int_equal(fed_write_file(out, text), 0);
}

static void gov_key(const struct fed *f, size_t i, char *out, size_t size)
{
    assert_true((size_t)snprintf(out, size, "%s/gov-%s.key", fed_keys_dir(f), fed_id(f, i)) < size);
}

/*
 * The secretariat's workflow for the next version of roster `previous`,
 * with spec's changes: the source (fed_make_roster writes it as OUT.ini
 * beside a roster we do not use), propose, one detached signature per
 * governor in signers (1 or 2 of them), combine into out. Returns combine's
 * result (0: the threshold is met).
 */
static int secretariat(struct fed *f, struct fed_roster *spec, const char *previous, int signers,
                       const char *out)
{
    char scratch[FED_PATH_MAX], source[FED_PATH_MAX + 8], update[FED_PATH_MAX + 8];
    char sig[2][FED_PATH_MAX + 8], gov[FED_PATH_MAX];

    snprintf(scratch, sizeof(scratch), "%s.scratch", out);
    snprintf(source, sizeof(source), "%s.ini", scratch);
    snprintf(update, sizeof(update), "%s.unsigned", out);
    spec->out = scratch;
    spec->previous = previous;
    assert_int_equal(fed_make_roster(f, spec), 0);
    const char *propose[] = {"roster", "propose", source,    "--previous",
                             previous, update,    "--force", NULL};
    assert_int_equal(fed_admin(f, propose), 0);
    for (int g = 0; g < signers; g++) {
        snprintf(sig[g], sizeof(sig[g]), "%s.%d.sig", out, g);
        gov_key(f, (size_t)g, gov, sizeof(gov));
        const char *sign[] = {"roster", "sign", update, gov, "--detached", sig[g], NULL};
        assert_int_equal(fed_admin(f, sign), 0);
    }
    if (signers == 1) {
        const char *combine[] = {"roster", "combine", update, sig[0], "--out", out, NULL};
        return fed_admin(f, combine);
    }
    const char *combine[] = {"roster", "combine", update,       sig[0],   sig[1],
                             "--out",  out,       "--previous", previous, NULL};
    return fed_admin(f, combine);
}

static int publish(struct fed *f, const char *conf, const char *file)
{
    const char *args[] = {"roster", "publish", file, "--config", conf, NULL};

    return fed_admin(f, args);
}

static uint64_t roster_version_at(struct fed *f, size_t i)
{
    struct tmbus *h = fc_connect(f, i);
    struct tmbus_status *st = NULL;
    uint64_t v;

    assert_non_null(h);
    assert_int_equal(tmbus_status(h, FC_CALL_MS, &st), TMBUS_OK);
    v = tmbus_status_roster_version(st);
    tmbus_status_free(&st);
    tmbus_close(&h);
    return v;
}

static uint64_t counter_at(struct fed *f, size_t i, const char *name)
{
    struct tmbus *h = fc_connect(f, i);
    uint64_t v = 0;

    assert_non_null(h);
    assert_int_equal(fc_counter(h, name, &v), 0);
    tmbus_close(&h);
    return v;
}

/* Three nodes with an admin client each, started and linked; conf[i] is
 * node i's admin client configuration. PL is a coordinator (it posts
 * needs in the revocation test). */
static struct fed *start_three(char conf[N_NODES][FED_PATH_MAX])
{
    static const char *const roles[] = {NULL, NULL, "coordinator"};
    struct fed *f = fed_new_with_roles(N_NODES, ids, roles);
    long mark[N_NODES];

    assert_non_null(f);
    for (size_t i = 0; i < N_NODES; i++) {
        char key[FED_PATH_MAX];
        assert_int_equal(fed_add_client(f, i, "secretariat", "admin", "red", key), 0);
        admin_conf(f, i, key, conf[i], FED_PATH_MAX);
        mark[i] = fed_log_mark(f, i);
    }
    assert_int_equal(fed_start_all(f), 0);
    for (size_t i = 0; i < N_NODES; i++)
        for (size_t k = 0; k < N_NODES; k++)
            if (k != i)
                assert_int_equal(fed_wait_link(f, i, mark[i], fed_id(f, k), LINK_MS), 0);
    return f;
}

/* Published at UA, version 2 is in force at every node without SIGHUP;
 * PL, down at the time, takes it at its next Hello; a node restarted on
 * its version 1 file runs version 2. */
static void test_update_reaches_every_node(void **state)
{
    char conf[N_NODES][FED_PATH_MAX], v1[FED_PATH_MAX], v2[FED_PATH_MAX];
    struct fed_roster spec = {.version = 2};
    struct fed *f;
    long mark_ee, mark_pl;

    f = *state = start_three(conf);
    snprintf(v1, sizeof(v1), "%s", fed_roster_path(f));
    assert_int_equal(fed_path(f, "v2.bin", v2, sizeof(v2)), 0);
    assert_int_equal(fed_stop(f, 2), 0);
    assert_int_equal(secretariat(f, &spec, v1, 2, v2), 0);
    mark_ee = fed_log_mark(f, 1);
    assert_int_equal(publish(f, conf[0], v2), 0);
    assert_int_equal(roster_version_at(f, 0), 2);
    assert_int_equal(
        fed_wait_log_from(f, 1, mark_ee, "roster version 2 in force (from peer UA)", APPLY_MS), 0);
    assert_int_equal(roster_version_at(f, 1), 2);
    /* Published again through another node: no change, no error. */
    assert_int_equal(publish(f, conf[1], v2), 0);

    mark_pl = fed_log_mark(f, 2);
    assert_int_equal(fed_start(f, 2), 0);
    assert_int_equal(fed_wait_log_from(f, 2, mark_pl, "roster version 2 in force (from peer",
                                       APPLY_MS + LINK_MS),
                     0);
    assert_int_equal(roster_version_at(f, 2), 2);
    assert_int_equal(fed_log_count(f, 2, mark_pl, "roster version 2 in force"), 1);

    /* The file still says version 1: the node runs the newer one it kept. */
    mark_ee = fed_log_mark(f, 1);
    assert_int_equal(fed_stop(f, 1), 0);
    assert_int_equal(fed_start(f, 1), 0);
    assert_int_equal(
        fed_wait_log_from(f, 1, mark_ee, "member EE running: roster version 2", LOG_MS), 0);
    assert_int_equal(roster_version_at(f, 1), 2);

    /* The history through a node, and from a data directory. */
    const char *history[] = {"roster", "history", "--config", conf[0], NULL};
    assert_int_equal(fed_admin(f, history), 0);
    const char *offline[] = {"roster", "history", "--data-dir", fed_data_dir(f, 2), NULL};
    assert_int_equal(fed_admin(f, offline), 0);
    fed_pass(f);
}

/* Publishes file at every node and expects each to refuse it with reason,
 * counted under counter. */
static void refused_everywhere(struct fed *f, char conf[N_NODES][FED_PATH_MAX], const char *file,
                               const char *reason, const char *counter)
{
    for (size_t i = 0; i < N_NODES; i++) {
        long mark = fed_log_mark(f, i);
        uint64_t before = counter_at(f, i, counter);
        assert_int_equal(publish(f, conf[i], file), -1);
        assert_int_equal(fed_wait_log_from(f, i, mark, reason, LOG_MS), 0);
        assert_int_equal(counter_at(f, i, counter), before + 1);
        assert_int_equal(roster_version_at(f, i), 2);
    }
}

/* With version 2 in force everywhere: the rollback to version 1, a second
 * version 2 (a fork), a version 3 signed by one governor of two and an
 * expired version 3 are refused at every node with their reason, before
 * and after a restart; a poster client may not publish at all. */
static void test_bad_updates_refused(void **state)
{
    char conf[N_NODES][FED_PATH_MAX], poster[FED_PATH_MAX];
    char v1[FED_PATH_MAX], v2[FED_PATH_MAX], fork[FED_PATH_MAX], weak[FED_PATH_MAX],
        old[FED_PATH_MAX];
    struct fed_roster spec2 = {.version = 2};
    struct fed_roster spec_fork = {.version = 2, .expires_at = (int64_t)time(NULL) + 20 * 86400};
    struct fed_roster spec_weak = {.version = 3};
    struct fed_roster spec_old = {.version = 3};
    struct fed *f;

    f = *state = start_three(conf);
    snprintf(v1, sizeof(v1), "%s", fed_roster_path(f));
    assert_int_equal(fed_path(f, "v2.bin", v2, sizeof(v2)), 0);
    assert_int_equal(fed_path(f, "fork.bin", fork, sizeof(fork)), 0);
    assert_int_equal(fed_path(f, "weak.bin", weak, sizeof(weak)), 0);
    assert_int_equal(fed_path(f, "old.bin", old, sizeof(old)), 0);
    assert_int_equal(secretariat(f, &spec2, v1, 2, v2), 0);
    assert_int_equal(secretariat(f, &spec_fork, v1, 2, fork), 0);
    /* One governor of two: combine says so and still writes the file. */
    assert_int_equal(secretariat(f, &spec_weak, v2, 1, weak), -1);
    /* It must still be valid while the secretariat makes it (tmbus-admin
     * under memcheck takes seconds a step): fed_ms scales the 3 s. */
    spec_old.expires_at = (int64_t)time(NULL) + fed_ms(3000) / 1000;
    assert_int_equal(secretariat(f, &spec_old, v2, 2, old), 0);
    assert_int_equal(publish(f, conf[1], v2), 0);
    for (size_t i = 0; i < N_NODES; i++) {
        for (int tries = 0; roster_version_at(f, i) != 2 && tries < APPLY_MS / 100; tries++)
            fed_sleep_ms(100);
        assert_int_equal(roster_version_at(f, i), 2);
    }

    refused_everywhere(f, conf, v1, "refused: rolled-back", "roster.refused.rolled-back");
    refused_everywhere(f, conf, fork, "refused: forked", "roster.refused.forked");
    refused_everywhere(f, conf, weak, "refused: below-threshold", "roster.refused.below-threshold");
    while ((int64_t)time(NULL) < spec_old.expires_at) /* old.bin expires */
        fed_sleep_ms(200);
    refused_everywhere(f, conf, old, "refused: expired", "roster.refused.expired");

    /* A client whose role is poster may not publish, even a good update. */
    poster_conf(f, 0, poster, sizeof(poster));
    long mark = fed_log_mark(f, 0);
    assert_int_equal(publish(f, poster, fork), -1);
    assert_int_equal(
        fed_wait_log_from(f, 0, mark, "only an admin client may publish a roster update", LOG_MS),
        0);
    assert_int_equal(counter_at(f, 0, "api.rejected.roster-not-admin"), 1);

    /* After a restart: still version 2, the same refusals. */
    for (size_t i = 0; i < N_NODES; i++) {
        assert_int_equal(fed_stop(f, i), 0);
        assert_int_equal(fed_start(f, i), 0);
        assert_int_equal(roster_version_at(f, i), 2);
    }
    refused_everywhere(f, conf, fork, "refused: forked", "roster.refused.forked");
    refused_everywhere(f, conf, v1, "refused: rolled-back", "roster.refused.rolled-back");
    fed_pass(f);
}

/* Whether node i sees peer's link up. */
static bool is_up(struct fed *f, size_t i, const char *peer)
{
    struct tmbus *h = fc_connect(f, i);
    struct tmbus_status *st = NULL;
    bool up = false;

    assert_non_null(h);
    assert_int_equal(tmbus_status(h, FC_CALL_MS, &st), TMBUS_OK);
    for (size_t k = 0; k < tmbus_status_peer_count(st); k++) {
        const struct tmbus_peer *p = tmbus_status_peer_at(st, k);
        if (strcmp(p->member, peer) == 0)
            up = strcmp(p->state, "up") == 0;
    }
    tmbus_status_free(&st);
    tmbus_close(&h);
    return up;
}

static bool is_pl_cut_off(void *arg)
{
    struct fed *f = arg;

    return !is_up(f, 0, "PL") && !is_up(f, 1, "PL") && !is_up(f, 2, "UA") && !is_up(f, 2, "EE");
}

static uint64_t envelopes_at(struct fed *f, size_t i)
{
    struct tmbus *h = fc_connect(f, i);
    uint64_t n = 0;

    assert_non_null(h);
    assert_int_equal(fc_envelopes(h, &n), TMBUS_OK);
    tmbus_close(&h);
    return n;
}

/* A subscription of PL's client at PL's node, opened before the update. */
static struct tmbus *subscribe_at_pl(struct fed *f)
{
    struct tmbus *sub = fc_connect(f, 2);

    assert_non_null(sub);
    assert_int_equal(tmbus_subscribe(sub, 8, FC_CALL_MS), TMBUS_OK);
    return sub;
}

/* Waits, until start + DOWN_MS (but at least a moment, for bytes on the
 * loopback), for PL's node to end sub: tmbus_next must say TMBUS_EDENIED
 * with a reason naming the revocation. Deliveries before it are skipped. */
static void expect_session_ended(struct tmbus *sub, int64_t start)
{
    struct tmbus_delivery *d = NULL;
    int rc;

    do {
        int64_t left = start + DOWN_MS - fed_now_ms();
        rc = tmbus_next(sub, left > 200 ? (int)left : 200, &d);
        tmbus_delivery_free(&d);
    } while (rc == TMBUS_OK);
    if (rc != TMBUS_EDENIED)
        fail_msg("PL's subscription still open %lld ms after the update (tmbus_next: %d)",
                 (long long)(fed_now_ms() - start), rc);
    print_message("PL's client session ended within %lld ms: %s\n",
                  (long long)(fed_now_ms() - start), tmbus_last_error(sub));
    assert_non_null(strstr(tmbus_last_error(sub), "revoked"));
}

/* PL's next post: refused at PL's own node with the reason and counted,
 * and nothing new arrives at UA or EE. */
static void expect_post_refused_everywhere(struct fed *f)
{
    uint64_t at_ua = envelopes_at(f, 0), at_ee = envelopes_at(f, 1);
    struct tmbus *h;
    char tag[32];

    assert_non_null(h = fc_connect(f, 2));
    fc_tag(tag, sizeof(tag), "revoked");
    assert_int_equal(fc_post(h, FC_TLP_CLEAR, tag, 1, NULL, 0, NULL), TMBUS_EDENIED);
    assert_non_null(strstr(tmbus_last_error(h), "revoked"));
    tmbus_close(&h);
    assert_int_equal(counter_at(f, 2, "api.rejected.member-revoked"), 1);
    assert_int_equal(counter_at(f, 2, "api.subscriptions.ended-by-revocation"), 1);
    fed_sleep_ms(QUIET_MS);
    assert_int_equal(envelopes_at(f, 0), at_ua);
    assert_int_equal(envelopes_at(f, 1), at_ee);
    assert_false(is_up(f, 0, "PL"));
    assert_true(counter_at(f, 0, "zap.denied.peer") > 0);
}

/* Version 2 revokes PL's keys (PL's node runs on), published at UA: every
 * link to PL is down at UA, at EE (which had the update over the bus) and
 * at PL itself within a second, and PL's client session is ended; PL's
 * next post is refused at PL and reaches neither node. (PL's node took
 * that post before its sessions were ended on revocation.) */
static void test_revocation_over_the_bus(void **state)
{
    char conf[N_NODES][FED_PATH_MAX];
    struct fed *f;
    struct tmbus *sub;
    int64_t start;
    long mark_ee;

    f = *state = start_three(conf);
    sub = subscribe_at_pl(f);
    assert_int_equal(fed_rotate_member(f, 2, NULL), 0); /* writes version 2 */
    mark_ee = fed_log_mark(f, 1);
    assert_int_equal(publish(f, conf[0], fed_roster_path(f)), 0);
    start = fed_now_ms();
    if (fed_wait_until(is_pl_cut_off, f, DOWN_MS, 50) == -1)
        fail_msg("PL still linked %lld ms after the update", (long long)(fed_now_ms() - start));
    print_message("links of PL down everywhere within %lld ms\n",
                  (long long)(fed_now_ms() - start));
    expect_session_ended(sub, start);
    tmbus_close(&sub);
    /* From UA, or from PL itself: a node sends a member the rosters it
     * lacks before closing its links, and PL may pass it on to EE first. */
    assert_int_equal(
        fed_wait_log_from(f, 1, mark_ee, "roster version 2 in force (from peer ", LOG_MS), 0);
    expect_post_refused_everywhere(f);
    fed_pass(f);
}

/* How node i's board shows the need titled "TAG #1": -1 when it has no
 * such need, else whether it is marked as from a revoked member; the
 * report's open needs must say the same. */
static int need_mark_at(struct fed *f, size_t i, const char *tag)
{
    struct tmbus_board_query q = {.list = TMBUS_BOARD_NEEDS, .limit = TMBUS_BOARD_PAGE_MAX};
    struct tmbus *h = fc_connect(f, i);
    struct tmbus_board *b = NULL;
    struct tmbus_report *rep = NULL;
    char title[64];
    int mark = -1, in_report = -1;

    snprintf(title, sizeof(title), "%s #1", tag);
    assert_non_null(h);
    assert_int_equal(tmbus_board_query(h, &q, FC_CALL_MS, &b), TMBUS_OK);
    for (size_t k = 0; k < tmbus_board_need_count(b); k++) {
        const struct tmbus_board_need *bn = tmbus_board_need_at(b, k);
        if (strcmp(bn->need.title, title) == 0)
            mark = bn->is_author_revoked;
    }
    tmbus_board_free(&b);
    assert_int_equal(tmbus_report(h, FC_CALL_MS, &rep), TMBUS_OK);
    for (size_t k = 0; k < tmbus_report_need_count(rep); k++) {
        const struct tmbus_report_need *rn = tmbus_report_need_at(rep, k);
        if (strcmp(rn->title, title) == 0)
            in_report = rn->is_author_revoked;
    }
    tmbus_report_free(&rep);
    tmbus_close(&h);
    assert_int_equal(in_report, mark);
    return mark;
}

static void wait_need(struct fed *f, size_t i, const char *tag)
{
    for (int tries = 0; need_mark_at(f, i, tag) == -1; tries++) {
        assert_true(tries < APPLY_MS / 100);
        fed_sleep_ms(100);
    }
}

/* Version 2 leaves PL out altogether. PL's and UA's needs from before are
 * on every board; after the update published at EE, PL's links and client
 * session are gone within a second, its next post is refused, and UA's and
 * EE's boards still hold PL's need, marked as from a revoked member, while
 * UA's is not. */
static void test_member_revoked(void **state)
{
    char conf[N_NODES][FED_PATH_MAX], v1[FED_PATH_MAX], v2[FED_PATH_MAX];
    char pl_tag[32], ua_tag[32];
    struct fed_roster spec = {.version = 2, .is_left_out = {[2] = true}};
    struct fed *f;
    struct tmbus *h, *sub;
    int64_t start;

    f = *state = start_three(conf);
    fc_tag(pl_tag, sizeof(pl_tag), "by-pl");
    fc_tag(ua_tag, sizeof(ua_tag), "by-ua");
    assert_non_null(h = fc_connect(f, 2));
    assert_int_equal(fc_post(h, FC_TLP_CLEAR, pl_tag, 1, NULL, 0, NULL), TMBUS_OK);
    tmbus_close(&h);
    assert_non_null(h = fc_connect(f, 0));
    assert_int_equal(fc_post(h, FC_TLP_CLEAR, ua_tag, 1, NULL, 0, NULL), TMBUS_OK);
    tmbus_close(&h);
    for (size_t i = 0; i < 2; i++) {
        wait_need(f, i, pl_tag);
        wait_need(f, i, ua_tag);
        assert_int_equal(need_mark_at(f, i, pl_tag), 0);
    }
    sub = subscribe_at_pl(f);

    snprintf(v1, sizeof(v1), "%s", fed_roster_path(f));
    assert_int_equal(fed_path(f, "v2.bin", v2, sizeof(v2)), 0);
    assert_int_equal(secretariat(f, &spec, v1, 2, v2), 0);
    assert_int_equal(publish(f, conf[1], v2), 0);
    start = fed_now_ms();
    if (fed_wait_until(is_pl_cut_off, f, DOWN_MS, 50) == -1)
        fail_msg("PL still linked %lld ms after the update", (long long)(fed_now_ms() - start));
    print_message("links of PL down everywhere within %lld ms\n",
                  (long long)(fed_now_ms() - start));
    expect_session_ended(sub, start);
    tmbus_close(&sub);
    for (size_t i = 0; i < N_NODES; i++) {
        for (int tries = 0; roster_version_at(f, i) != 2 && tries < APPLY_MS / 100; tries++)
            fed_sleep_ms(100);
        assert_int_equal(roster_version_at(f, i), 2);
    }
    expect_post_refused_everywhere(f);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(need_mark_at(f, i, pl_tag), 1);
        assert_int_equal(need_mark_at(f, i, ua_tag), 0);
    }
    fed_pass(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_update_reaches_every_node, fed_teardown),
        cmocka_unit_test_teardown(test_bad_updates_refused, fed_teardown),
        cmocka_unit_test_teardown(test_revocation_over_the_bus, fed_teardown),
        cmocka_unit_test_teardown(test_member_revoked, fed_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
