/*
 * Integration: no roster member can exhaust a node (proto/PROTOCOL.md §7.2,
 * §7.4, §10). The test plays member M, in the roster without a node, on a
 * raw CURVE DEALER with M's real keys: it names well over 100,000 logs
 * that cannot exist in Vector messages and floods the link with messages,
 * while A's own client must have `status` answered within STATUS_MS every
 * time it asks. Afterwards A holds nothing for the invented logs, counts
 * what it refused, and still serves its honest peer B. A rogue key that
 * knocks again and again is refused every time but logged at a bounded
 * rate. Every load loop is bounded in count and in time; loopback only.
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
#include <sodium.h>
#include <zmq.h>

#include "api.pb-c.h"
#include "fed.h"
#include "keys.h"
#include "peer.pb-c.h"
#include "player.h"
#include "store.h"

#define STATUS_MS     2000 /* the longest a status may take under flood */
#define ANSWER_MS     5000 /* the longest a quiet link may take to answer */
#define FLOOD_ROUNDS  10   /* status requests made during a flood */
#define VECTORS       4    /* Vector messages sent per flood round */
#define VECTOR_LOGS   4096 /* invented logs per Vector (PEER_MSG_MAX_LOGS) */
#define NOISE_MAX     5000 /* heartbeats sent per flood round, at most */
#define SEND_MS       500  /* the longest one flood round may spend sending */
#define ROGUE_DIALS   20   /* connections made with one unknown key */
#define ROGUE_WAIT_MS 1500 /* how long the refusals are given to happen */
#define HEARTBEAT_MS  200  /* how often M speaks when the test waits */
#define ROUND_MAX     64   /* A's limits.peer_round_max in the message flood */
#define CREDIT_WINDOW 32   /* A's limits.credit_window there (below it) */
#define PEER_VERSION  1
#define INVENTED_SEQ  1000000

/* ---- sockets --------------------------------------------------------------- */

/* Packs and sends m; returns 0, or -1 when the queue is full. */
static int try_send(void *s, const Tmbus__Peer__PeerMessage *m)
{
    size_t len = tmbus__peer__peer_message__get_packed_size(m);
    uint8_t *buf = malloc(len ? len : 1);
    int rc;

    assert_non_null(buf);
    tmbus__peer__peer_message__pack(m, buf);
    rc = zmq_send(s, buf, len, ZMQ_DONTWAIT) == (int)len ? 0 : -1;
    free(buf);
    return rc;
}

static int send_heartbeat(void *s)
{
    Tmbus__Peer__PeerMessage m = TMBUS__PEER__PEER_MESSAGE__INIT;
    Tmbus__Peer__Heartbeat hb = TMBUS__PEER__HEARTBEAT__INIT;

    hb.sent_ms = (uint64_t)fed_now_ms();
    m.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_HEARTBEAT;
    m.heartbeat = &hb;
    return try_send(s, &m);
}

static void send_hello(void *s)
{
    Tmbus__Peer__PeerMessage m = TMBUS__PEER__PEER_MESSAGE__INIT;
    Tmbus__Peer__Hello hello = TMBUS__PEER__HELLO__INIT;

    hello.version = PEER_VERSION;
    hello.roster_version = 1;
    m.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_HELLO;
    m.hello = &hello;
    assert_int_equal(try_send(s, &m), 0);
}

/* A Vector naming VECTOR_LOGS logs that cannot exist between M and A,
 * numbered from first: relayed logs of members nobody made, and direct
 * logs that have M or A at one end but a stranger at the other. */
static int send_invented_vector(void *s, uint32_t first)
{
    Tmbus__Peer__PeerMessage m = TMBUS__PEER__PEER_MESSAGE__INIT;
    Tmbus__Peer__Vector v = TMBUS__PEER__VECTOR__INIT;
    Tmbus__Peer__VectorEntry *items = calloc(VECTOR_LOGS, sizeof(*items));
    Tmbus__Peer__VectorEntry **entries = calloc(VECTOR_LOGS, sizeof(*entries));
    char(*names)[16] = calloc(VECTOR_LOGS, sizeof(*names));
    int rc;

    assert_non_null(items);
    assert_non_null(entries);
    assert_non_null(names);
    for (uint32_t i = 0; i < VECTOR_LOGS; i++) {
        tmbus__peer__vector_entry__init(&items[i]);
        snprintf(names[i], sizeof(names[i]), "X%u", first + i);
        switch (i % 4) {
        case 0:
        case 1:
            items[i].origin = names[i];
            items[i].peer = "";
            break;
        case 2:
            items[i].origin = "M";
            items[i].peer = names[i];
            break;
        default:
            items[i].origin = names[i];
            items[i].peer = "A";
            break;
        }
        items[i].seq = INVENTED_SEQ + i;
        entries[i] = &items[i];
    }
    v.entries = entries;
    v.n_entries = VECTOR_LOGS;
    m.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_VECTOR;
    m.vector = &v;
    rc = try_send(s, &m);
    free(names);
    free(entries);
    free(items);
    return rc;
}

/* Reads and drops whatever is waiting on s, without waiting. */
static void drain(void *s)
{
    for (int i = 0; i < 100000; i++) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        int rc = zmq_msg_recv(&msg, s, ZMQ_DONTWAIT);
        zmq_msg_close(&msg);
        if (rc == -1)
            return;
    }
}

/* ---- the node's status, as its own client sees it ---------------------------- */

struct watcher {
    void *zctx;
    void *sock; /* A's client socket, with A's client key */
    uint64_t next_id;
};

static void watcher_open(struct watcher *w, struct fed *f, size_t a)
{
    struct keyset *client = keys_load(fed_client_key_path(f, a));

    assert_non_null(client);
    w->zctx = zmq_ctx_new();
    assert_non_null(w->zctx);
    w->sock = player_dealer(w->zctx, client->transport_pk, keys_transport_secret(client), false,
                            fed_transport_pk(f, a), fed_client_endpoint(f, a));
    w->next_id = 1;
    keys_free(&client);
}

static void watcher_close(struct watcher *w)
{
    zmq_close(w->sock);
    zmq_ctx_term(w->zctx);
}

/* Asks for status and waits at most within_ms. Returns the reply (free
 * with tmbus__api__reply__free_unpacked) and how long it took, or fails
 * the test. */
static Tmbus__Api__Reply *status(struct watcher *w, int within_ms, int64_t *took_ms)
{
    Tmbus__Api__Request r = TMBUS__API__REQUEST__INIT;
    Tmbus__Api__StatusRequest st = TMBUS__API__STATUS_REQUEST__INIT;
    uint8_t buf[64], *got;
    int64_t start = fed_now_ms(), deadline = start + within_ms;
    size_t len;

    r.id = w->next_id++;
    r.kind_case = TMBUS__API__REQUEST__KIND_STATUS;
    r.status = &st;
    len = tmbus__api__request__get_packed_size(&r);
    assert_true(len <= sizeof(buf));
    tmbus__api__request__pack(&r, buf);
    assert_int_equal(zmq_send(w->sock, buf, len, 0), (int)len);
    for (;;) {
        int64_t left = deadline - fed_now_ms();
        Tmbus__Api__Reply *reply;
        int got_len = -1;

        if (left <= 0 || (got_len = player_recv_within(w->sock, (int)left, &got)) == -1)
            fail_msg("status not answered within %d ms", within_ms);
        reply = tmbus__api__reply__unpack(NULL, (size_t)got_len, got);
        free(got);
        assert_non_null(reply);
        if (reply->id != r.id) { /* an answer to an earlier, late request */
            tmbus__api__reply__free_unpacked(reply, NULL);
            continue;
        }
        assert_int_equal(reply->code, TMBUS__API__CODE__CODE_OK);
        assert_int_equal(reply->kind_case, TMBUS__API__REPLY__KIND_STATUS);
        *took_ms = fed_now_ms() - start;
        return reply;
    }
}

static uint64_t counter(const Tmbus__Api__Reply *r, const char *name)
{
    for (size_t i = 0; i < r->status->n_counters; i++)
        if (strcmp(r->status->counters[i]->name, name) == 0)
            return r->status->counters[i]->value;
    return 0;
}

static const Tmbus__Api__PeerStatus *peer(const Tmbus__Api__Reply *r, const char *member)
{
    for (size_t i = 0; i < r->status->n_peers; i++)
        if (strcmp(r->status->peers[i]->member, member) == 0)
            return r->status->peers[i];
    fail_msg("status lists no peer %s", member);
    return NULL;
}

/* ---- M, played by the test ------------------------------------------------------ */

/* Dials A as M and waits for A's Hello{reply = true} to our Hello. */
static void join_as_m(struct player *p, struct fed *f, size_t a)
{
    int64_t deadline = fed_now_ms() + ANSWER_MS, last_hello = 0;
    bool is_answered = false;

    player_open(p, f, a);
    player_dial(p);
    while (!is_answered) {
        Tmbus__Peer__PeerMessage *m;
        uint8_t *buf;
        int len;

        if (fed_now_ms() > deadline)
            fail_msg("A never answered M's hello");
        if (fed_now_ms() - last_hello >= HEARTBEAT_MS) {
            send_hello(p->sock);
            last_hello = fed_now_ms();
        }
        if ((len = player_recv_within(p->sock, 50, &buf)) == -1)
            continue;
        m = tmbus__peer__peer_message__unpack(NULL, (size_t)len, buf);
        free(buf);
        assert_non_null(m);
        is_answered = m->kind_case == TMBUS__PEER__PEER_MESSAGE__KIND_HELLO && m->hello->reply;
        tmbus__peer__peer_message__free_unpacked(m, NULL);
    }
}

/* The CPU time node i has used so far, in ms (Linux), or -1. */
static long cpu_ms(const struct fed *f, size_t i)
{
    char path[64], buf[1024], *p;
    unsigned long utime, stime;
    FILE *fp;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)fed_pid(f, i));
    if ((fp = fopen(path, "r")) == NULL)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    /* Fields 14 and 15, counted after the command's closing parenthesis. */
    if ((p = strrchr(buf, ')')) == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        return -1;
    return (long)((utime + stime) * 1000 / (unsigned long)sysconf(_SC_CLK_TCK));
}

/* ---- fixtures ----------------------------------------------------------------- */

static int setup(void **state)
{
    static const char *const nodes[] = {"A", "B"};
    static const char *const extra[] = {"M"};
    struct fed *f = fed_new_with_extra(2, nodes, 1, extra);

    if (f == NULL)
        return -1;
    *state = f;
    return 0;
}

static int check_log(void *arg, const struct store_log *log, const struct store_head *head)
{
    (void)arg;
    (void)head;
    if (strcmp(log->origin, "A") != 0 && strcmp(log->origin, "B") != 0 &&
        strcmp(log->origin, "M") != 0)
        fail_msg("A's store holds a log of %s", log->origin);
    return 0;
}

/* After A stopped: its store holds logs of roster members only. */
static void assert_store_clean(struct fed *f, size_t a)
{
    struct store *s = fed_store_open(f, a);

    assert_non_null(s);
    assert_int_equal(store_each_log(s, check_log, NULL), 0);
    store_close(&s);
}

/* Starts A and B and waits until A's link to B is up. */
static void start_both(struct fed *f)
{
    size_t a = fed_index(f, "A"), b = fed_index(f, "B");
    long mark_a = fed_log_mark(f, a), mark_b = fed_log_mark(f, b);

    assert_int_equal(fed_start_all(f), 0);
    assert_int_equal(fed_wait_links(f, "A", mark_a, "B", mark_b, ANSWER_MS), 0);
}

/* ---- 1. invented logs ----------------------------------------------------------- */

static void test_invented_logs(void **state)
{
    struct fed *f = *state;
    size_t a = fed_index(f, "A");
    struct watcher w;
    struct player p;
    Tmbus__Api__Reply *r;
    int64_t took, worst = 0;
    uint32_t named = 0;
    long cpu_before;

    start_both(f);
    cpu_before = cpu_ms(f, a);
    watcher_open(&w, f, a);
    r = status(&w, ANSWER_MS, &took);
    tmbus__api__reply__free_unpacked(r, NULL);
    join_as_m(&p, f, a);

    for (int round = 0; round < FLOOD_ROUNDS; round++) {
        int64_t until = fed_now_ms() + SEND_MS;

        for (int i = 0; i < VECTORS && fed_now_ms() < until; i++)
            if (send_invented_vector(p.sock, named) == 0)
                named += VECTOR_LOGS;
        for (int i = 0; i < NOISE_MAX && fed_now_ms() < until; i++)
            if (send_heartbeat(p.sock) == -1)
                break;
        r = status(&w, STATUS_MS, &took);
        tmbus__api__reply__free_unpacked(r, NULL);
        worst = took > worst ? took : worst;
        drain(p.sock);
    }
    print_message("named %u invented logs; slowest status under flood: %lld ms\n", named,
                  (long long)worst);
    assert_true(named >= 100000);

    /* Once A has read everything: it counted every invented name and keeps
     * nothing for them (their huge seqs would show as "behind"), and its
     * honest peer is still up. */
    int64_t deadline = fed_now_ms() + ANSWER_MS;
    for (;;) {
        r = status(&w, STATUS_MS, &took);
        if (counter(r, "peer.rejected-log") >= named || fed_now_ms() > deadline)
            break;
        tmbus__api__reply__free_unpacked(r, NULL);
        send_heartbeat(p.sock);
        fed_sleep_ms(100);
    }
    print_message("A spent %ld ms of CPU on it\n", cpu_ms(f, a) - cpu_before);
    assert_int_equal(counter(r, "peer.rejected-log"), named);
    assert_int_equal(peer(r, "M")->behind, 0);
    assert_string_equal(peer(r, "M")->state, "up");
    assert_string_equal(peer(r, "B")->state, "up");
    tmbus__api__reply__free_unpacked(r, NULL);
    /* At a bounded rate in the log: one line per peer per interval. */
    assert_true(fed_log_count(f, a, 0, "cannot exist between us") <= 2);

    player_close(&p);
    watcher_close(&w);
    assert_true(fed_is_running(f, a));
    assert_int_equal(fed_stop(f, a), 0);
    assert_store_clean(f, a);
    fed_pass(f);
}

/* ---- 2. a message flood ------------------------------------------------------------ */

static void test_message_flood(void **state)
{
    struct fed *f = *state;
    size_t a = fed_index(f, "A");
    struct watcher w;
    struct player p;
    Tmbus__Api__Reply *r;
    int64_t took, worst = 0;
    uint64_t sent = 0;

    /* A small per-round share, so that the test's flood overruns it while
     * B, an honest peer under the same limits, never does. */
    assert_int_equal(fed_set_limit(f, a, "credit_window", CREDIT_WINDOW), 0);
    assert_int_equal(fed_set_limit(f, a, "peer_round_max", ROUND_MAX), 0);
    assert_int_equal(fed_set_limit(f, a, "batch_max", 4 * ROUND_MAX), 0);
    start_both(f);
    watcher_open(&w, f, a);
    r = status(&w, ANSWER_MS, &took);
    tmbus__api__reply__free_unpacked(r, NULL);
    join_as_m(&p, f, a);

    for (int round = 0; round < FLOOD_ROUNDS; round++) {
        int64_t until = fed_now_ms() + SEND_MS;

        for (int i = 0; i < NOISE_MAX && fed_now_ms() < until; i++) {
            if (send_heartbeat(p.sock) == -1)
                break;
            sent++;
        }
        r = status(&w, STATUS_MS, &took);
        tmbus__api__reply__free_unpacked(r, NULL);
        worst = took > worst ? took : worst;
        drain(p.sock);
    }
    print_message("sent %llu messages; slowest status under flood: %lld ms\n",
                  (unsigned long long)sent, (long long)worst);

    r = status(&w, STATUS_MS, &took);
    assert_true(counter(r, "peer.over-budget") > 0);
    assert_true(counter(r, "peer.round-limit") > 0);
    assert_string_equal(peer(r, "B")->state, "up");
    tmbus__api__reply__free_unpacked(r, NULL);
    assert_true(fed_log_count(f, a, 0, "past its") <= 2);

    player_close(&p);
    watcher_close(&w);
    assert_true(fed_is_running(f, a));
    assert_int_equal(fed_stop(f, a), 0);
    fed_pass(f);
}

/* ---- 3. a rogue key knocking --------------------------------------------------------- */

static void test_rogue_knocks(void **state)
{
    struct fed *f = *state;
    size_t a = fed_index(f, "A");
    char rogue_pk[41], rogue_sk[41];
    void *zctx = zmq_ctx_new(), *socks[ROGUE_DIALS];
    struct watcher w;
    Tmbus__Api__Reply *r;
    int64_t took;
    long mark;

    assert_non_null(zctx);
    start_both(f);
    assert_int_equal(zmq_curve_keypair(rogue_pk, rogue_sk), 0);
    mark = fed_log_mark(f, a);
    for (int i = 0; i < ROGUE_DIALS; i++) {
        socks[i] = player_dealer(zctx, rogue_pk, rogue_sk, true, fed_transport_pk(f, a),
                                 fed_peer_endpoint(f, a));
        send_heartbeat(socks[i]);
    }
    fed_sleep_ms(ROGUE_WAIT_MS);
    for (int i = 0; i < ROGUE_DIALS; i++)
        zmq_close(socks[i]);
    zmq_ctx_term(zctx);

    /* Every refusal counted, one line in the log. */
    watcher_open(&w, f, a);
    r = status(&w, ANSWER_MS, &took);
    assert_true(counter(r, "zap.denied.peer") >= ROGUE_DIALS);
    tmbus__api__reply__free_unpacked(r, NULL);
    watcher_close(&w);
    assert_int_equal(fed_log_count(f, a, mark, "zap: refused unknown key"), 1);
    assert_true(fed_is_running(f, a));
    fed_pass(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_invented_logs, setup, fed_teardown),
        cmocka_unit_test_setup_teardown(test_message_flood, setup, fed_teardown),
        cmocka_unit_test_setup_teardown(test_rogue_knocks, setup, fed_teardown),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
