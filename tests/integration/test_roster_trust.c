/*
 * Integration: the roster a node trusts only moves forward
 * (proto/PROTOCOL.md §3.3). A node that has run version 2 must refuse
 * version 1 at its next start (exit 78, one line why), on SIGHUP (keeping
 * version 2) and in `tmbusd -n`; a version that skips one is refused until
 * the one between is installed. After a key rotation, a node that catches
 * up verifies the older envelopes under the retired key, exactly up to
 * where the roster says it signed (§3.4), and nothing after. Rosters are
 * made with tmbus-admin as an operator makes them; the rotated member M is
 * played by the test on a real CURVE link.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>
#include <zmq.h>

#include "envelope.h"
#include "fed.h"
#include "keys.h"
#include "peer.pb-c.h"
#include "roster.h"

#define LOG_MS       5000 /* how long a reason may take to reach the log */
#define ANSWER_MS    5000 /* how long the node may take to ack */
#define HEARTBEAT_MS 200
#define PEER_VERSION 1
#define EX_CONFIG    78

static const char *const ids[] = {"UA", "EE"};

static void path_in(const struct fed *f, const char *name, char *out, size_t size)
{
    assert_true((size_t)snprintf(out, size, "%s/%s", fed_dir(f), name) < size);
}

static void copy_file(const char *from, const char *to)
{
    char buf[65536];
    FILE *in = fopen(from, "rb"), *out;
    size_t n;

    assert_non_null(in);
    assert_non_null(out = fopen(to, "wb"));
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

/* The federation with UA's node having run roster version 2, stopped, and
 * copies of both versions as DIR/v1.bin and DIR/v2.bin. */
static struct fed *ran_v2(void)
{
    struct fed *f = fed_new(2, ids);
    char v1[FED_PATH_MAX], v2[FED_PATH_MAX];
    struct fed_roster spec = {.version = 2, .previous = v1};

    assert_non_null(f);
    path_in(f, "v1.bin", v1, sizeof(v1));
    path_in(f, "v2.bin", v2, sizeof(v2));
    copy_file(fed_roster_path(f), v1);
    assert_int_equal(fed_start(f, 0), 0);
    assert_int_equal(fed_stop(f, 0), 0);
    assert_int_equal(fed_make_roster(f, &spec), 0);
    copy_file(fed_roster_path(f), v2);
    assert_int_equal(fed_start(f, 0), 0);
    assert_int_equal(fed_wait_log(f, 0, "member UA running: roster version 2", LOG_MS), 0);
    assert_int_equal(fed_stop(f, 0), 0);
    return f;
}

/* Version 1 put back after version 2 ran: refused at start with exit 78
 * and a reason, and by `tmbusd -n`. */
static void test_rollback_refused_at_start(void **state)
{
    struct fed *f = *state = ran_v2();
    char v1[FED_PATH_MAX];
    long mark;

    path_in(f, "v1.bin", v1, sizeof(v1));
    copy_file(v1, fed_roster_path(f));
    mark = fed_log_mark(f, 0);
    assert_int_equal(fed_run_once(f, 0, false), EX_CONFIG);
    assert_int_equal(fed_wait_log_from(f, 0, mark,
                                       "refused: rolled-back: version 1 is older than version 2",
                                       LOG_MS),
                     0);
    assert_int_equal(fed_log_count(f, 0, mark, "member UA running"), 0);
    mark = fed_log_mark(f, 0);
    assert_int_equal(fed_run_once(f, 0, true), EX_CONFIG);
    assert_int_equal(fed_wait_log_from(f, 0, mark, "is refused: rolled-back", LOG_MS), 0);
    fed_pass(f);
}

/* The same on SIGHUP: the node keeps version 2 and says why. */
static void test_rollback_refused_on_reload(void **state)
{
    struct fed *f = *state = ran_v2();
    char v1[FED_PATH_MAX];
    long mark;

    path_in(f, "v1.bin", v1, sizeof(v1));
    assert_int_equal(fed_start(f, 0), 0);
    copy_file(v1, fed_roster_path(f));
    mark = fed_log_mark(f, 0);
    assert_int_equal(fed_reload(f, 0), 0);
    assert_int_equal(fed_wait_log_from(f, 0, mark, "reload: keeping roster version 2", LOG_MS), 0);
    assert_int_equal(fed_log_count(f, 0, mark, "refused: rolled-back"), 1);
    assert_int_equal(fed_stop(f, 0), 0);
    /* Still refused after a restart: the store remembers version 2. */
    assert_int_equal(fed_run_once(f, 0, false), EX_CONFIG);
    fed_pass(f);
}

/* A node that trusts version 1 refuses version 3 until version 2 has been
 * installed, then takes version 3. */
static void test_skipped_version_refused(void **state)
{
    struct fed *f = *state = fed_new(2, ids);
    char v1[FED_PATH_MAX], v2[FED_PATH_MAX], v3[FED_PATH_MAX];
    struct fed_roster spec2 = {.version = 2, .previous = v1, .out = v2};
    struct fed_roster spec3 = {.version = 3, .previous = v2, .out = v3};
    long mark;

    assert_non_null(f);
    path_in(f, "v1.bin", v1, sizeof(v1));
    path_in(f, "v2.bin", v2, sizeof(v2));
    path_in(f, "v3.bin", v3, sizeof(v3));
    copy_file(fed_roster_path(f), v1);
    assert_int_equal(fed_make_roster(f, &spec2), 0);
    assert_int_equal(fed_make_roster(f, &spec3), 0);
    assert_int_equal(fed_start(f, 0), 0);
    assert_int_equal(fed_stop(f, 0), 0);
    copy_file(v3, fed_roster_path(f));
    mark = fed_log_mark(f, 0);
    assert_int_equal(fed_run_once(f, 0, false), EX_CONFIG);
    assert_int_equal(fed_wait_log_from(f, 0, mark, "install version 2 first", LOG_MS), 0);
    copy_file(v2, fed_roster_path(f));
    assert_int_equal(fed_start(f, 0), 0);
    copy_file(v3, fed_roster_path(f));
    mark = fed_log_mark(f, 0);
    assert_int_equal(fed_reload(f, 0), 0);
    assert_int_equal(fed_wait_log_from(f, 0, mark, "roster version 3 in force", LOG_MS), 0);
    assert_int_equal(fed_stop(f, 0), 0);
    fed_pass(f);
}

/* ---- M, played on a DEALER ----------------------------------------------- */

struct player {
    void *zctx, *sock;
    struct fed *fed;
    size_t node;
    struct roster *roster;
    int64_t last_sent_ms;
};

static void send_message(struct player *p, const Tmbus__Peer__PeerMessage *m)
{
    size_t len = tmbus__peer__peer_message__get_packed_size(m);
    uint8_t *buf = malloc(len ? len : 1);

    assert_non_null(buf);
    tmbus__peer__peer_message__pack(m, buf);
    assert_int_equal(zmq_send(p->sock, buf, len, 0), (int)len);
    free(buf);
    p->last_sent_ms = fed_now_ms();
}

static void send_hello(struct player *p)
{
    Tmbus__Peer__PeerMessage m = TMBUS__PEER__PEER_MESSAGE__INIT;
    Tmbus__Peer__Hello hello = TMBUS__PEER__HELLO__INIT;

    hello.version = PEER_VERSION;
    hello.roster_version = roster_version(p->roster);
    m.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_HELLO;
    m.hello = &hello;
    send_message(p, &m);
}

static void send_heartbeat(struct player *p)
{
    Tmbus__Peer__PeerMessage m = TMBUS__PEER__PEER_MESSAGE__INIT;
    Tmbus__Peer__Heartbeat hb = TMBUS__PEER__HEARTBEAT__INIT;

    hb.sent_ms = (uint64_t)fed_now_ms();
    m.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_HEARTBEAT;
    m.heartbeat = &hb;
    send_message(p, &m);
}

static void send_envelope(struct player *p, const uint8_t *env, size_t len)
{
    Tmbus__Peer__PeerMessage m = TMBUS__PEER__PEER_MESSAGE__INIT;

    m.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_ENVELOPE;
    m.envelope.data = (uint8_t *)(uintptr_t)env;
    m.envelope.len = len;
    send_message(p, &m);
}

/* The highest seq of M's relayed log in a vector, or -1 when not listed. */
static int64_t entry_seq(Tmbus__Peer__VectorEntry **e, size_t n)
{
    int64_t seq = -1;

    for (size_t i = 0; i < n; i++)
        if (strcmp(e[i]->origin, "M") == 0 && e[i]->peer[0] == '\0' && (int64_t)e[i]->seq > seq)
            seq = (int64_t)e[i]->seq;
    return seq;
}

/* Reads what the node sends until a Hello or Vector acks M's relayed log
 * at exactly want, keeping the link alive. Fails the test otherwise. */
static void wait_ack(struct player *p, uint64_t want)
{
    int64_t deadline = fed_now_ms() + ANSWER_MS;

    for (;;) {
        zmq_pollitem_t item = {p->sock, 0, ZMQ_POLLIN, 0};
        Tmbus__Peer__PeerMessage *m;
        int64_t seq = -1;
        zmq_msg_t msg;

        if (fed_now_ms() > deadline)
            fail_msg("the node never acked M's log at seq %llu", (unsigned long long)want);
        if (fed_now_ms() - p->last_sent_ms >= HEARTBEAT_MS)
            send_heartbeat(p);
        if (zmq_poll(&item, 1, 50) != 1)
            continue;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, p->sock, ZMQ_DONTWAIT) == -1) {
            zmq_msg_close(&msg);
            continue;
        }
        m = tmbus__peer__peer_message__unpack(NULL, zmq_msg_size(&msg), zmq_msg_data(&msg));
        zmq_msg_close(&msg);
        assert_non_null(m);
        if (m->kind_case == TMBUS__PEER__PEER_MESSAGE__KIND_HELLO) {
            seq = entry_seq(m->hello->vector, m->hello->n_vector);
            if (seq == -1)
                seq = 0;
        } else if (m->kind_case == TMBUS__PEER__PEER_MESSAGE__KIND_VECTOR) {
            seq = entry_seq(m->vector->entries, m->vector->n_entries);
        }
        tmbus__peer__peer_message__free_unpacked(m, NULL);
        if (seq > (int64_t)want)
            fail_msg("the node acked M's log at seq %lld, beyond %llu", (long long)seq,
                     (unsigned long long)want);
        if (seq == (int64_t)want)
            return;
    }
}

/* Seals a payload for the node's member at seq of M's relayed log, signed
 * with the key generation in key_file. */
static uint8_t *seal_as_m(struct player *p, const char *key_file, uint64_t seq, const uint8_t *prev,
                          size_t *len, struct envelope_info *info)
{
    struct keyset *ks = keys_load(key_file);
    struct envelope_keyring *kr;
    struct roster_member target;
    struct envelope_recipient rcpt;
    struct envelope_seal_args a = {0};
    static const char payload[] = "need: 40 licences";
    uint8_t *env = NULL;

    assert_non_null(ks);
    assert_non_null(kr = envelope_keyring_new(ks));
    assert_int_equal(roster_find(p->roster, fed_id(p->fed, p->node), &target), 0);
    rcpt.member = target.id;
    rcpt.box_pk = target.box_pk;
    a.coalition = FED_COALITION;
    a.seq = seq;
    a.prev_hash = prev;
    a.roster_version = roster_version(p->roster);
    a.created_at = (int64_t)time(NULL);
    a.payload = (const uint8_t *)payload;
    a.payload_len = sizeof(payload) - 1;
    a.recipients = &rcpt;
    a.n_recipients = 1;
    assert_int_equal(envelope_seal(kr, &a, &env, len, info), ENVELOPE_OK);
    envelope_keyring_free(&kr);
    keys_free(&ks);
    return env;
}

/* Dials the node's peer socket as M with the keys in key_file. */
static void player_dial(struct player *p, const char *key_file)
{
    struct keyset *ks = keys_load(key_file);
    int linger = 0;

    assert_non_null(ks);
    assert_non_null(p->sock = zmq_socket(p->zctx, ZMQ_DEALER));
    assert_int_equal(zmq_setsockopt(p->sock, ZMQ_LINGER, &linger, sizeof(linger)), 0);
    assert_int_equal(zmq_setsockopt(p->sock, ZMQ_CURVE_PUBLICKEY, ks->transport_pk, 32), 0);
    assert_int_equal(zmq_setsockopt(p->sock, ZMQ_CURVE_SECRETKEY, keys_transport_secret(ks), 32),
                     0);
    assert_int_equal(
        zmq_setsockopt(p->sock, ZMQ_CURVE_SERVERKEY, fed_transport_pk(p->fed, p->node), 32), 0);
    assert_int_equal(zmq_connect(p->sock, fed_peer_endpoint(p->fed, p->node)), 0);
    keys_free(&ks);
}

/* M rotated from key generation 1 to 2 after signing seq 1..3 of its
 * relayed log; version 2 of the roster says so. UA's node, new to the
 * federation, catches up on M's log from M itself. */
static void test_retired_key_verifies_what_it_signed(void **state)
{
    static const char *const nodes[] = {"UA", "EE"};
    static const char *const extra[] = {"M"};
    struct fed *f = *state = fed_new_with_extra(2, nodes, 1, extra);
    char v1[FED_PATH_MAX], keys2[FED_PATH_MAX], old_key[FED_PATH_MAX], new_key[FED_PATH_MAX];
    struct fed_roster spec = {.version = 2, .previous = v1};
    struct player p = {0};
    struct envelope_info info[5];
    uint8_t *env[5], *late = NULL;
    size_t len[5], late_len;
    size_t m;
    long mark;

    assert_non_null(f);
    m = fed_index(f, "M");
    path_in(f, "v1.bin", v1, sizeof(v1));
    path_in(f, "keys2", keys2, sizeof(keys2));
    copy_file(fed_roster_path(f), v1);
    assert_int_equal(mkdir(keys2, 0700), 0);
    const char *keygen[] = {"keygen", "member", "M", keys2, NULL};
    assert_int_equal(fed_admin(f, keygen), 0);
    snprintf(old_key, sizeof(old_key), "%s", fed_member_key_path(f, m));
    assert_true((size_t)snprintf(new_key, sizeof(new_key), "%s/M.key", keys2) < sizeof(new_key));
    spec.keys[m] = "keys2/M.pub";
    spec.extra[m] = "key_id = 2\nretired = 1 keys/M.pub\nlast_seq = 1 *:3";
    assert_int_equal(fed_make_roster(f, &spec), 0);

    assert_int_equal(fed_start(f, 0), 0);
    p.fed = f;
    p.node = 0;
    assert_non_null(p.zctx = zmq_ctx_new());
    assert_int_equal(roster_load(fed_roster_path(f), FED_COALITION, &p.roster), 0);
    assert_int_equal(roster_version(p.roster), 2);

    /* Seq 1..3 signed with generation 1 while it was active, seq 4 with
     * generation 2; and a late seq 4 signed with the retired key. */
    env[1] = seal_as_m(&p, old_key, 1, NULL, &len[1], &info[1]);
    env[2] = seal_as_m(&p, old_key, 2, info[1].id, &len[2], &info[2]);
    env[3] = seal_as_m(&p, old_key, 3, info[2].id, &len[3], &info[3]);
    env[4] = seal_as_m(&p, new_key, 4, info[3].id, &len[4], &info[4]);
    late = seal_as_m(&p, old_key, 4, info[3].id, &late_len, &info[0]);

    player_dial(&p, new_key);
    send_hello(&p);
    wait_ack(&p, 0);
    for (int i = 1; i <= 3; i++)
        send_envelope(&p, env[i], len[i]);
    wait_ack(&p, 3);
    mark = fed_log_mark(f, 0);
    send_envelope(&p, late, late_len);
    assert_int_equal(
        fed_wait_log_from(f, 0, mark, "peer M: rejected an envelope: bad-signature", LOG_MS), 0);
    send_envelope(&p, env[4], len[4]);
    wait_ack(&p, 4);
    assert_int_equal(fed_log_count(f, 0, mark, "rejected"), 1);

    for (int i = 1; i <= 4; i++)
        free(env[i]);
    free(late);
    zmq_close(p.sock);
    roster_free(&p.roster);
    zmq_ctx_term(p.zctx);
    assert_int_equal(fed_stop(f, 0), 0);
    fed_pass(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_rollback_refused_at_start, fed_teardown),
        cmocka_unit_test_teardown(test_rollback_refused_on_reload, fed_teardown),
        cmocka_unit_test_teardown(test_skipped_version_refused, fed_teardown),
        cmocka_unit_test_teardown(test_retired_key_verifies_what_it_signed, fed_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
