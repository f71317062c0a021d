/*
 * Integration: forks are detected once, cheaply (proto/PROTOCOL.md §4.3,
 * §4.4). A member M played by the test (it holds M's member keys) signs two
 * envelopes for one seq and resends the second again and again: node A keeps
 * the evidence, raises one ALARM, halts M's log, verifies no signature for
 * the resends and sends no resynchronising Hello for them, and goes on
 * carrying B's log. A node whose data directory is restored from a backup
 * and posts again finds from its peer's stream that its own log forked: it
 * raises one ALARM, counts it and refuses client posts with a reason, and
 * neither side loops.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "envelope.h"
#include "fed.h"
#include "fedclient.h"
#include "keys.h"
#include "peer.pb-c.h"
#include "player.h"
#include "roster.h"
#include "store.h"
#include "tmbus.h"

#define ANSWER_MS  5000  /* how long a legitimate answer may take */
#define LOG_MS     5000  /* how long a line may take to reach the log */
#define LINK_MS    15000 /* links come up well within this */
#define IDLE_MS    15000 /* longest silence while a delivery is due */
#define WATCH_MS   3000  /* how long a loop would have to show itself */
#define RESENDS    30    /* times M resends its conflicting envelope */
#define MAX_CHECKS 5     /* signature checks A may spend on all of M's envelopes */

/* ---- the test's own peer: M on a DEALER ----------------------------------- */

/* A Vector naming M's relayed log at seq with head as M's envelope id. */
static void send_vector_head(void *s, uint64_t seq, const uint8_t *head)
{
    Tmbus__Peer__PeerMessage m = TMBUS__PEER__PEER_MESSAGE__INIT;
    Tmbus__Peer__Vector v = TMBUS__PEER__VECTOR__INIT;
    Tmbus__Peer__VectorEntry e = TMBUS__PEER__VECTOR_ENTRY__INIT, *ep = &e;

    e.origin = (char *)"M";
    e.peer = (char *)"";
    e.seq = seq;
    e.head.data = (uint8_t *)(uintptr_t)head;
    e.head.len = ENVELOPE_HASH_BYTES;
    v.entries = &ep;
    v.n_entries = 1;
    m.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_VECTOR;
    m.vector = &v;
    player_send_message(s, &m);
}

/* Waits for the node to ask M for its envelope at (M, "", seq). */
static void wait_fetch(struct player *p, uint64_t seq)
{
    int64_t deadline = fed_now_ms() + ANSWER_MS;

    while (fed_now_ms() < deadline) {
        Tmbus__Peer__PeerMessage *m;
        uint8_t *buf;
        int len;
        bool is_it;

        if ((len = player_recv_within(p->sock, 50, &buf)) == -1)
            continue;
        m = tmbus__peer__peer_message__unpack(NULL, (size_t)len, buf);
        free(buf);
        assert_non_null(m);
        is_it = m->kind_case == TMBUS__PEER__PEER_MESSAGE__KIND_FETCH &&
                strcmp(m->fetch->origin, "M") == 0 && m->fetch->peer[0] == '\0' &&
                m->fetch->seq == seq;
        tmbus__peer__peer_message__free_unpacked(m, NULL);
        if (is_it)
            return;
    }
    fail_msg("node never fetched M's envelope at seq %llu", (unsigned long long)seq);
}

/* Keeps the link alive for ms while draining what the node sends; returns
 * how many opening Hellos (reply = false) it sent meanwhile: each one is a
 * resynchronisation, the engine of a rejection loop. */
static size_t count_hellos(struct player *p, int ms)
{
    int64_t end = fed_now_ms() + ms;
    size_t n = 0;

    while (fed_now_ms() < end) {
        Tmbus__Peer__PeerMessage *m;
        uint8_t *buf;
        int len;

        if (fed_now_ms() - p->last_sent_ms >= PLAYER_HEARTBEAT_MS) {
            player_send_heartbeat(p->sock);
            p->last_sent_ms = fed_now_ms();
        }
        if ((len = player_recv_within(p->sock, 50, &buf)) == -1)
            continue;
        m = tmbus__peer__peer_message__unpack(NULL, (size_t)len, buf);
        free(buf);
        if (m == NULL)
            continue;
        if (m->kind_case == TMBUS__PEER__PEER_MESSAGE__KIND_HELLO && !m->hello->reply)
            n++;
        tmbus__peer__peer_message__free_unpacked(m, NULL);
    }
    return n;
}

/* The value of counter name in node i's status, or -1 when it lists none. */
static int64_t counter(struct tmbus *h, const char *name)
{
    struct tmbus_status *st = NULL;
    int64_t value = -1;

    assert_int_equal(tmbus_status(h, FC_CALL_MS, &st), TMBUS_OK);
    for (size_t i = 0; i < tmbus_status_counter_count(st); i++) {
        const struct tmbus_counter *c = tmbus_status_counter_at(st, i);
        if (strcmp(c->name, name) == 0)
            value = (int64_t)c->value;
    }
    tmbus_status_free(&st);
    return value;
}

/* Posts need "TAG #index" from h to all and waits until in (reading from
 * reader) holds it. */
static void post_and_receive(struct tmbus *h, struct tmbus *reader, struct fc_inbox *in,
                             uint32_t index)
{
    size_t want = in->n_tagged + 1;

    assert_int_equal(fc_post(h, FC_TLP_GREEN, in->tag, index, NULL, 0, NULL), TMBUS_OK);
    if (fc_receive(reader, in, want, IDLE_MS, 1) != want)
        fail_msg("need #%u never arrived", index);
    assert_non_null(fc_find_index(in, index));
}

/* ---- (1) a member signs two envelopes for one seq ------------------------------ */

static void test_equivocation_once(void **state)
{
    /* B first: the beneficiary, whose client may post needs. */
    static const char *const nodes[] = {"B", "A"};
    static const char *const extra[] = {"M"};
    struct fed *f = fed_new_with_extra(2, nodes, 1, extra);
    size_t a, b;
    struct envelope_info info1, info_eq;
    uint8_t *env1, *env_eq;
    size_t len1, len_eq, hellos;
    struct tmbus *ha, *hb;
    struct fc_inbox in_a;
    char tag[FC_TAG_MAX];
    struct player p;
    bool hello_reply = false;
    long mark;

    assert_non_null(f);
    *state = f;
    a = fed_index(f, "A");
    b = fed_index(f, "B");
    assert_int_equal(fed_start_all(f), 0);
    assert_int_equal(fed_wait_links(f, "A", 0, "B", 0, LINK_MS), 0);
    assert_non_null(ha = fc_connect(f, a));
    assert_non_null(hb = fc_connect(f, b));
    assert_int_equal(tmbus_subscribe(ha, 64, FC_CALL_MS), TMBUS_OK);
    fc_tag(tag, sizeof(tag), "forks");
    fc_inbox_init(&in_a, tag);
    post_and_receive(hb, ha, &in_a, 0);

    player_open(&p, f, a);
    env1 = player_seal(&p, 1, NULL, "need: 40 licences, seq 1", &len1, &info1);
    env_eq = player_seal(&p, 1, NULL, "need: a second story for seq 1", &len_eq, &info_eq);
    mark = fed_log_mark(f, a);
    player_dial(&p);
    player_send_hello(p.sock, 1);
    p.last_sent_ms = fed_now_ms();
    player_wait_ack(&p, 0, &hello_reply);
    assert_true(hello_reply);
    player_send_envelope(p.sock, env1, len1);
    player_wait_ack(&p, 1, NULL);

    /* M's vector names its other envelope at seq 1: A sees the split view
     * on this exchange and fetches it; M answers with the second story. */
    send_vector_head(p.sock, 1, info_eq.id);
    wait_fetch(&p, 1);
    assert_int_equal(fed_log_count(f, a, mark, "ALARM"), 0);
    player_send_envelope(p.sock, env_eq, len_eq);
    /* Then the same again and again, as a peer that streams from a stale
     * idea of A would, and the vector again. */
    assert_int_equal(fed_wait_log_from(f, a, mark, "ALARM", LOG_MS), 0);
    for (int k = 0; k < RESENDS; k++) {
        player_send_envelope(p.sock, env_eq, len_eq);
        player_send_envelope(p.sock, env1, len1);
        send_vector_head(p.sock, 1, info_eq.id);
    }
    p.last_sent_ms = fed_now_ms();
    hellos = count_hellos(&p, WATCH_MS);
    print_message("after %d resends: %zu opening hellos, %lld signature checks\n", RESENDS, hellos,
                  (long long)counter(ha, "verify.signature"));
    assert_int_equal(fed_log_count(f, a, mark, "ALARM"), 1);
    assert_int_equal(fed_log_count(f, a, mark, "member M signed two different envelopes"), 1);
    assert_true(fed_log_count(f, a, mark, "peer M: rejected") < 10);
    assert_true(hellos <= 1);
    /* One check for seq 1, one for the evidence: resends cost none. The
     * counter also counts B's envelopes, which the test posted before. */
    assert_true(counter(ha, "verify.signature") >= 2);
    assert_true(counter(ha, "verify.signature") <= MAX_CHECKS);
    assert_int_equal(counter(ha, "equivocation"), 1);
    assert_true(counter(ha, "rejected.halted-log") >= RESENDS);

    /* The link goes on carrying B's log to A. */
    post_and_receive(hb, ha, &in_a, 1);

    player_close(&p);
    tmbus_close(&ha);
    tmbus_close(&hb);
    fc_inbox_free(&in_a);
    assert_int_equal(fed_stop(f, a), 0);

    struct store *s = fed_store_open(f, a);
    struct store_log log = {.origin = "M", .peer = ""};
    struct store_head head;
    uint64_t envelopes = 0, evidence = 0;

    assert_non_null(s);
    assert_int_equal(store_count(s, &envelopes, &evidence), 0);
    assert_int_equal(evidence, 1);
    assert_int_equal(store_head(s, &log, &head), 0);
    assert_int_equal(head.seq, 1);
    assert_true(head.is_halted);
    store_close(&s);
    free(env1);
    free(env_eq);
    fed_pass(f);
}

/* ---- (2) a node restored from a backup of its data directory ------------------- */

static void copy_dir(const char *from, const char *to)
{
    char cmd[3 * FED_PATH_MAX];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -a '%s' '%s'", to, from, to);
    assert_int_equal(system(cmd), 0);
}

static void test_restored_backup(void **state)
{
    /* B first: the beneficiary, whose client may post needs. */
    static const char *const nodes[] = {"B", "A"};
    struct fed *f = fed_new(2, nodes);
    size_t a, b;
    struct tmbus *ha, *hb;
    struct fc_inbox in_a;
    char tag[FC_TAG_MAX], backup[FED_PATH_MAX];
    long mark_a, mark_b;
    int rc;

    assert_non_null(f);
    *state = f;
    a = fed_index(f, "A");
    b = fed_index(f, "B");
    assert_int_equal(fed_start_all(f), 0);
    assert_int_equal(fed_wait_links(f, "A", 0, "B", 0, LINK_MS), 0);
    fc_tag(tag, sizeof(tag), "restored");
    fc_inbox_init(&in_a, tag);
    assert_non_null(ha = fc_connect(f, a));
    assert_int_equal(tmbus_subscribe(ha, 64, FC_CALL_MS), TMBUS_OK);
    assert_non_null(hb = fc_connect(f, b));
    post_and_receive(hb, ha, &in_a, 0);
    tmbus_close(&hb);

    /* The backup, taken while B is stopped. */
    assert_int_equal(fed_stop(f, b), 0);
    snprintf(backup, sizeof(backup), "%s.backup", fed_data_dir(f, b));
    copy_dir(fed_data_dir(f, b), backup);

    /* B goes on: two more posts, which A holds. */
    mark_a = fed_log_mark(f, a);
    assert_int_equal(fed_start(f, b), 0);
    assert_int_equal(fed_wait_link(f, a, mark_a, "B", LINK_MS), 0);
    assert_non_null(hb = fc_connect(f, b));
    post_and_receive(hb, ha, &in_a, 1);
    post_and_receive(hb, ha, &in_a, 2);
    tmbus_close(&hb);
    assert_int_equal(fed_stop(f, b), 0);

    /* The backup is restored, and B posts something else before it hears
     * from A: a second story for the seq A already holds. */
    copy_dir(backup, fed_data_dir(f, b));
    assert_int_equal(fed_set_dial(f, a, "none"), 0);
    assert_int_equal(fed_reload(f, a), 0);
    assert_int_equal(fed_set_dial(f, b, "none"), 0);
    mark_b = fed_log_mark(f, b);
    assert_int_equal(fed_start(f, b), 0);
    assert_non_null(hb = fc_connect(f, b));
    assert_int_equal(fc_post(hb, FC_TLP_GREEN, tag, 3, NULL, 0, NULL), TMBUS_OK);

    /* The link comes back. */
    mark_a = fed_log_mark(f, a);
    assert_int_equal(fed_set_dial(f, b, "all"), 0);
    assert_int_equal(fed_reload(f, b), 0);
    assert_int_equal(fed_wait_log_from(f, b, mark_b, "OUR OWN", LINK_MS), 0);
    fed_sleep_ms(WATCH_MS);
    /* Two alarms: A's vector shows more of B's log than B holds after B
     * posted (the recovering check, PROTOCOL.md 4.6), and then the fork
     * itself, proven by A's envelope at the seq B reused. */
    assert_int_equal(fed_log_count(f, b, mark_b, "ALARM"), 2);
    assert_int_equal(fed_log_count(f, b, mark_b, "beyond our 2, after this node took posts"), 1);
    assert_int_equal(fed_log_count(f, b, mark_b, "OUR OWN"), 1);
    assert_int_equal(counter(hb, "equivocation.own"), 1);
    /* A found the split view in B's vector, fetched B's second story and
     * raised its own ALARM, once. B's audit log went back with the backup
     * too: A shows B the later checkpoint it cosigned, B's log begins a new
     * epoch, and A records that reset, once, as a warning rather than an
     * alarm (PROTOCOL.md 13.2); the fork is the alarm here. */
    assert_int_equal(fed_wait_log_from(f, a, mark_a, "ALARM: member", LOG_MS), 0);
    assert_int_equal(fed_log_count(f, a, mark_a, "ALARM: member"), 1);
    assert_int_equal(fed_log_count(f, a, mark_a, "member B signed two different envelopes"), 1);
    assert_int_equal(
        fed_wait_log_from(f, a, mark_a, "B started its audit log again, as epoch 1", LOG_MS), 0);
    assert_int_equal(fed_log_count(f, a, mark_a, "ALARM: refused B's checkpoint"), 0);
    assert_int_equal(counter(ha, "audit.epoch-reset"), 1);
    assert_int_equal(counter(ha, "equivocation"), 1);
    /* Neither side loops. */
    assert_true(fed_log_count(f, b, mark_b, "rejected") < 10);
    assert_true(fed_log_count(f, a, mark_a, "rejected") < 10);
    assert_true(counter(hb, "verify.signature") < 10);
    assert_true(counter(ha, "verify.signature") < 20);

    /* B refuses to post into its forked log, with a reason. */
    rc = fc_post(hb, FC_TLP_GREEN, tag, 4, NULL, 0, NULL);
    assert_int_not_equal(rc, TMBUS_OK);
    print_message("B refuses a post: %s\n", tmbus_last_error(hb));
    assert_non_null(strstr(tmbus_last_error(hb), "forked"));
    assert_int_equal(counter(hb, "route.refused.own-fork"), 1);

    tmbus_close(&hb);
    tmbus_close(&ha);
    fc_inbox_free(&in_a);
    assert_int_equal(fed_stop(f, b), 0);
    /* The refusal persists: the halt is in the store. */
    {
        struct store *s = fed_store_open(f, b);
        struct store_log own = {.origin = "B", .peer = ""};
        struct store_head head;
        assert_non_null(s);
        assert_int_equal(store_head(s, &own, &head), 0);
        assert_true(head.is_halted);
        store_close(&s);
    }
    fed_pass(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_equivocation_once, fed_teardown),
        cmocka_unit_test_teardown(test_restored_backup, fed_teardown),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
