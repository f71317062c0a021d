/*
 * Integration: a node rebuilt from its peers never forks its own log
 * (proto/PROTOCOL.md §4.6). In a federation of three, B posts a stream
 * (relayed needs to all, and every tenth a TLP:RED need to A, in B's direct
 * log to A) and is killed in the middle of it, with posts in flight. Its
 * data directory is then destroyed (case 1) or replaced by an older copy
 * (case 2), and B starts again with the same keys and configuration while
 * A, the only node besides B that holds B's direct log to A, is still down.
 * B must refuse posts with the recovering reason and say so in its status
 * and metrics, take its logs back from its peers once A is up, and then
 * post each log's next seq: the envelope every peer acknowledged is in
 * B's store with the same id, the new posts sit at seq head + 1 and no node
 * raises an ALARM or counts a fork. B's audit log lost what its peers
 * cosigned: it begins epoch 1, and A and C each record that reset exactly
 * once (a warning, audit.epoch-reset, an epoch entry in their own log)
 * instead of alarming (PROTOCOL.md 13.2). An offer A made to B while B was down
 * reaches B during its recovery: B's receipt for it waits until B holds its
 * direct log to A again, then takes the next seq there, and A learns that
 * the offer was delivered.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fed.h"
#include "fedclient.h"
#include "store.h"
#include "tmbus.h"

#define LINK_MS         15000
#define RECOVER_WAIT_MS 20000 /* B's limits.recover_wait_ms: longer than the test waits for A */
#define RECOVERED_MS    15000 /* B holds its logs again within this once A is up */
#define N_SYNC          120   /* posts B makes one at a time */
#define N_FLIGHT        40    /* then posts in flight when it is killed */
#define RED_EVERY       10    /* every tenth post is TLP:RED to A */
#define KILL_AFTER_MS   30    /* B dies this long after the posts in flight were sent */
#define SETTLE_MS       1000  /* for A and C to commit what reached them */
#define HTTP_REPLY_MAX  (256 * 1024)
#define OUT_MAX         8192
#define RESET_LOG       "started its audit log again" /* a peer recording B's reset */

/* What a node's store holds of one log: its head and the id there. */
struct head {
    uint64_t seq;
    uint8_t id[TMBUS_ID_BYTES];
};

static const struct store_log relayed_b = {.origin = "B", .peer = ""};
static const struct store_log direct_b_a = {.origin = "B", .peer = "A"};

/* A loopback port the kernel picks, free again when this returns. */
static unsigned free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    unsigned port = 0;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd != -1 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd != -1)
        close(fd);
    return port;
}

/* Whether GET /metrics on 127.0.0.1:port shows the line wanted. */
static bool metrics_show(unsigned port, const char *wanted)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {.tv_sec = 5};
    char req[256], *buf = calloc(1, HTTP_REPLY_MAX + 1);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    size_t got = 0;
    ssize_t n;
    bool is_shown;

    assert_non_null(buf);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    n = snprintf(req, sizeof(req),
                 "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nConnection: close\r\n\r\n", port);
    if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
        connect(fd, (struct sockaddr *)&a, sizeof(a)) == -1 ||
        send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        if (fd != -1)
            close(fd);
        free(buf);
        return false;
    }
    while (got < HTTP_REPLY_MAX && (n = recv(fd, buf + got, HTTP_REPLY_MAX - got, 0)) > 0)
        got += (size_t)n;
    close(fd);
    is_shown = strstr(buf, wanted) != NULL;
    free(buf);
    return is_shown;
}

/* Reads node i's head of log from its store; the node must be stopped. */
static void read_head(struct fed *f, size_t i, const struct store_log *log, struct head *out)
{
    struct store *s = fed_store_open(f, i);
    struct store_head h;

    assert_non_null(s);
    assert_int_equal(store_head(s, log, &h), 0);
    out->seq = h.seq;
    memcpy(out->id, h.id, TMBUS_ID_BYTES);
    store_close(&s);
}

/* Whether node i's store holds id at (log, seq); the node must be stopped. */
static bool holds(struct fed *f, size_t i, const struct store_log *log, uint64_t seq,
                  const uint8_t *id)
{
    struct store *s = fed_store_open(f, i);
    uint8_t held[TMBUS_ID_BYTES], *env = NULL;
    size_t len;
    int rc;

    assert_non_null(s);
    rc = store_get(s, log, seq, &env, &len, held);
    free(env);
    store_close(&s);
    return rc == 1 && memcmp(held, id, TMBUS_ID_BYTES) == 0;
}

/* Post k of B's stream: TLP:RED to A every RED_EVERY, else to all. */
static size_t stream_payload(uint8_t *buf, size_t size, const char *tag, uint32_t k, bool *is_red)
{
    *is_red = k % RED_EVERY == RED_EVERY - 1;
    return fc_need(buf, size, *is_red ? FC_TLP_RED : FC_TLP_GREEN, tag, k);
}

static void post_sync(struct tmbus *h, const char *tag, uint32_t from, uint32_t to)
{
    static const char *const to_a[] = {"A"};
    uint8_t buf[FC_PAYLOAD_MAX];

    for (uint32_t k = from; k < to; k++) {
        bool is_red;
        size_t len = stream_payload(buf, sizeof(buf), tag, k, &is_red);
        int rc = tmbus_post(h, buf, len, is_red ? to_a : NULL, is_red ? 1 : 0, !is_red, 0,
                            FC_CALL_MS, NULL);
        if (rc != TMBUS_OK)
            fail_msg("post #%u: %s (%s)", k, tmbus_strerror(rc), tmbus_last_error(h));
    }
}

/* Sends N_FLIGHT more posts without waiting for their commits and kills
 * B at once: some are committed at B and relayed, some committed at B
 * only, some never read. */
static void post_and_kill(struct fed *f, size_t b, struct tmbus *h, const char *tag, uint32_t from)
{
    static const char *const to_a[] = {"A"};
    uint8_t buf[FC_PAYLOAD_MAX];
    uint64_t ticket;

    assert_int_equal(tmbus_post_window(h, N_FLIGHT), TMBUS_OK);
    for (uint32_t k = from; k < from + N_FLIGHT; k++) {
        bool is_red;
        size_t len = stream_payload(buf, sizeof(buf), tag, k, &is_red);
        assert_int_equal(tmbus_post_send(h, buf, len, is_red ? to_a : NULL, is_red ? 1 : 0, !is_red,
                                         0, 0, FC_CALL_MS, &ticket),
                         TMBUS_OK);
    }
    fed_sleep_ms(KILL_AFTER_MS);
    fed_kill(f, b);
}

static bool is_recovering(struct tmbus *h)
{
    struct tmbus_status *s = NULL;
    bool is = true;

    if (tmbus_status(h, FC_CALL_MS, &s) == TMBUS_OK)
        is = tmbus_status_recovering(s);
    tmbus_status_free(&s);
    return is;
}

/* The epoch of the node's audit log, from its status. */
static uint64_t audit_epoch(struct tmbus *h)
{
    struct tmbus_status *s = NULL;
    uint64_t epoch;

    assert_int_equal(tmbus_status(h, FC_CALL_MS, &s), TMBUS_OK);
    epoch = tmbus_status_audit_epoch(s);
    tmbus_status_free(&s);
    return epoch;
}

static bool is_recovered(void *arg)
{
    return !is_recovering(arg);
}

/* A's catalogue offer and the client that posted it. */
struct offer_check {
    struct tmbus *h;
    uint8_t id[TMBUS_ID_BYTES];
};

/* Whether B's receipt told A that the offer was delivered. */
static bool is_offer_delivered(void *arg)
{
    struct offer_check *oc = arg;
    struct tmbus_delivery_state *st = NULL;
    const struct tmbus_delivery_entry *e;
    bool is_done = false;

    if (tmbus_delivery_state(oc->h, oc->id, FC_CALL_MS, &st) != TMBUS_OK)
        return false;
    if (tmbus_delivery_state_count(st) == 1 && (e = tmbus_delivery_state_at(st, 0)) != NULL)
        is_done = strcmp(e->member, "B") == 0 && strcmp(e->state, "delivered") == 0;
    tmbus_delivery_state_free(&st);
    return is_done;
}

static uint64_t counter(struct tmbus *h, const char *name)
{
    uint64_t v = 0;

    assert_int_equal(fc_counter(h, name, &v), TMBUS_OK);
    return v;
}

/* How the data directory B starts again with is made. */
enum loss {
    LOSS_DESTROYED, /* rm -rf: an empty store */
    LOSS_RESTORED,  /* an older copy, taken while B was stopped */
};

static void rebuild(void **state, enum loss loss)
{
    static const char *const nodes[] = {"B", "A", "C"};
    struct fed *f = fed_new(3, nodes);
    size_t a, b, c;
    struct tmbus *ha, *hb, *hc;
    struct offer_check offered;
    struct head rel_a, rel_c, dir_a, rel_b, dir_b, before;
    uint8_t buf[FC_PAYLOAD_MAX], rel_id[TMBUS_ID_BYTES], red_id[TMBUS_ID_BYTES];
    char tag[FC_TAG_MAX], extra[128], copy[FED_PATH_MAX], cmd[3 * FED_PATH_MAX], out[OUT_MAX];
    const char *const to_a[] = {"A"};
    unsigned port = free_port();
    uint64_t expect_rel;
    long mark_a, mark_b, mark_c;
    size_t len;
    int rc, n;

    assert_non_null(f);
    *state = f;
    a = fed_index(f, "A");
    b = fed_index(f, "B");
    c = fed_index(f, "C");
    assert_true(port != 0);
    snprintf(extra, sizeof(extra), "[http]\nlisten = 127.0.0.1:%u\n", port);
    assert_int_equal(fed_set_extra(f, b, extra), 0);
    assert_int_equal(fed_set_limit(f, b, "recover_wait_ms", RECOVER_WAIT_MS), 0);
    assert_int_equal(fed_start_all(f), 0);
    assert_int_equal(fed_wait_links(f, "B", 0, "A", 0, LINK_MS), 0);
    assert_int_equal(fed_wait_links(f, "B", 0, "C", 0, LINK_MS), 0);
    assert_int_equal(fed_wait_links(f, "A", 0, "C", 0, LINK_MS), 0);
    fc_tag(tag, sizeof(tag), loss == LOSS_DESTROYED ? "destroyed" : "restored");

    /* A fresh start with every peer up: B hears them at once. */
    assert_non_null(hb = fc_connect(f, b));
    assert_int_equal(fed_wait_until(is_recovered, hb, RECOVERED_MS, 50), 0);
    post_sync(hb, tag, 0, N_SYNC / 2);
    snprintf(copy, sizeof(copy), "%s.tmbus.db.copy", fed_data_dir(f, b));
    if (loss == LOSS_RESTORED) {
        tmbus_close(&hb);
        assert_int_equal(fed_stop(f, b), 0);
        read_head(f, b, &relayed_b, &before);
        snprintf(cmd, sizeof(cmd), "cp -a '%s/tmbus.db' '%s'", fed_data_dir(f, b), copy);
        assert_int_equal(system(cmd), 0);
        assert_int_equal(fed_start(f, b), 0);
        assert_non_null(hb = fc_connect(f, b));
        assert_int_equal(fed_wait_until(is_recovered, hb, RECOVERED_MS, 50), 0);
    }
    post_sync(hb, tag, N_SYNC / 2, N_SYNC);
    post_and_kill(f, b, hb, tag, N_SYNC);
    tmbus_close(&hb);

    /* While B is down, A offers B something: B owes A a receipt for it. */
    {
        const char *const to_b[] = {"B"};
        struct tmbus_offer offer = {.description = tag, .quantity = 1, .tlp = TMBUS_TLP_GREEN};
        assert_non_null(ha = fc_connect(f, a));
        assert_int_equal(tmbus_post_offer(ha, &offer, to_b, 1, false, FC_CALL_MS, offered.id),
                         TMBUS_OK);
        tmbus_close(&ha);
    }

    /* What the peers acknowledged, read from their stores. */
    fed_sleep_ms(SETTLE_MS);
    assert_int_equal(fed_stop(f, a), 0);
    assert_int_equal(fed_stop(f, c), 0);
    read_head(f, a, &relayed_b, &rel_a);
    read_head(f, c, &relayed_b, &rel_c);
    read_head(f, a, &direct_b_a, &dir_a);
    print_message("peers hold B's relayed log to %llu (A) and %llu (C), B->A to %llu\n",
                  (unsigned long long)rel_a.seq, (unsigned long long)rel_c.seq,
                  (unsigned long long)dir_a.seq);
    assert_true(rel_a.seq >= N_SYNC - N_SYNC / RED_EVERY);
    assert_true(dir_a.seq >= N_SYNC / RED_EVERY);
    expect_rel = (rel_a.seq > rel_c.seq ? rel_a.seq : rel_c.seq) + 1;

    /* B's store is lost (the data directory also holds the harness's
     * configuration and log); B comes back while A is still down. */
    n = snprintf(cmd, sizeof(cmd), "cd '%s' && rm -f tmbus.db tmbus.db-wal tmbus.db-shm",
                 fed_data_dir(f, b));
    if (loss == LOSS_RESTORED)
        snprintf(cmd + n, sizeof(cmd) - (size_t)n, " && cp -a '%s' tmbus.db", copy);
    assert_int_equal(system(cmd), 0);
    mark_c = fed_log_mark(f, c);
    assert_int_equal(fed_start(f, c), 0);
    mark_b = fed_log_mark(f, b);
    assert_int_equal(fed_start(f, b), 0);
    assert_int_equal(fed_wait_link(f, b, mark_b, "C", LINK_MS), 0);
    assert_non_null(hb = fc_connect(f, b));
    assert_true(is_recovering(hb));
    assert_true(metrics_show(port, "tmbus_recovering 1"));
    len = fc_need(buf, sizeof(buf), FC_TLP_GREEN, tag, 9000);
    rc = tmbus_post(hb, buf, len, NULL, 0, true, 0, FC_CALL_MS, NULL);
    print_message("B refuses a post while recovering: %s (%s)\n", tmbus_strerror(rc),
                  tmbus_last_error(hb));
    assert_int_equal(rc, TMBUS_EUNAVAILABLE);
    assert_non_null(strstr(tmbus_last_error(hb), "node is recovering its own log from peers"));
    assert_int_equal(counter(hb, "api.rejected.recovering"), 1);

    /* C showed B the checkpoint of B's it cosigned, which B's store lost:
     * B's audit log begins epoch 1, and C records the reset. */
    assert_int_equal(fed_wait_log_from(f, b, mark_b, "the log goes on as epoch 1", RECOVERED_MS),
                     0);
    assert_int_equal(fed_wait_log_from(f, c, mark_c, RESET_LOG, RECOVERED_MS), 0);

    /* A is back: B takes its direct log to A from A, and recovers. */
    mark_a = fed_log_mark(f, a);
    assert_int_equal(fed_start(f, a), 0);
    assert_int_equal(fed_wait_until(is_recovered, hb, RECOVERED_MS, 50), 0);
    assert_true(metrics_show(port, "tmbus_recovering 0"));
    assert_int_equal(fed_wait_log_from(f, b, mark_b, "recovering done", 1000), 0);

    /* Posts go on at each log's head + 1. */
    len = fc_need(buf, sizeof(buf), FC_TLP_GREEN, tag, 10000);
    assert_int_equal(tmbus_post(hb, buf, len, NULL, 0, true, 0, FC_CALL_MS, rel_id), TMBUS_OK);
    len = fc_need(buf, sizeof(buf), FC_TLP_RED, tag, 10001);
    assert_int_equal(tmbus_post(hb, buf, len, to_a, 1, false, 0, FC_CALL_MS, red_id), TMBUS_OK);

    /* A and C take them: the log did not fork. */
    assert_non_null(ha = fc_connect(f, a));
    offered.h = ha;
    assert_int_equal(fed_wait_until(is_offer_delivered, &offered, RECOVERED_MS, 100), 0);
    assert_non_null(hc = fc_connect(f, c));
    {
        struct fc_inbox in;
        fc_inbox_init(&in, tag);
        assert_int_equal(tmbus_subscribe(ha, 1024, FC_CALL_MS), TMBUS_OK);
        fc_receive(ha, &in, N_SYNC + N_FLIGHT + 2, 3000, 256);
        assert_non_null(fc_find_index(&in, 10000));
        assert_non_null(fc_find_index(&in, 10001));
        fc_inbox_free(&in);
    }
    assert_int_equal(counter(ha, "equivocation"), 0);
    assert_int_equal(counter(hc, "equivocation"), 0);
    assert_int_equal(counter(ha, "peer.split-view"), 0);
    assert_int_equal(counter(hc, "peer.split-view"), 0);
    assert_int_equal(counter(hb, "equivocation.own"), 0);
    /* A, back with the checkpoint of B's epoch 0 it held, records the
     * reset too; each peer once, and B began one epoch. */
    assert_int_equal(fed_wait_log_from(f, a, mark_a, RESET_LOG, RECOVERED_MS), 0);
    assert_int_equal(counter(ha, "audit.epoch-reset"), 1);
    assert_int_equal(counter(hc, "audit.epoch-reset"), 1);
    assert_int_equal(counter(hb, "audit.epoch-started"), 1);
    assert_int_equal(audit_epoch(hb), 1);
    assert_int_equal(audit_epoch(ha), 0);
    assert_int_equal(counter(ha, "audit.peer.inconsistent"), 0);
    assert_int_equal(counter(hc, "audit.peer.inconsistent"), 0);
    tmbus_close(&ha);
    tmbus_close(&hb);
    tmbus_close(&hc);
    /* No fork and no alarm of any kind, on any node, in the whole run. */
    for (size_t i = 0; i < fed_node_count(f); i++)
        assert_int_equal(fed_log_count(f, i, 0, "ALARM"), 0);
    assert_int_equal(fed_log_count(f, a, 0, RESET_LOG), 1);
    assert_int_equal(fed_log_count(f, c, 0, RESET_LOG), 1);
    assert_int_equal(fed_log_count(f, b, 0, "the log goes on as epoch"), 1);

    /* Every envelope a peer acknowledged is in B's store, with its id. */
    assert_int_equal(fed_stop(f, b), 0);
    assert_int_equal(fed_stop(f, a), 0);
    assert_int_equal(fed_stop(f, c), 0);
    read_head(f, b, &relayed_b, &rel_b);
    read_head(f, b, &direct_b_a, &dir_b);
    assert_int_equal(rel_b.seq, expect_rel);
    /* B's direct log to A: the receipt that waited, then the new post. */
    assert_int_equal(dir_b.seq, dir_a.seq + 2);
    assert_true(holds(f, b, &relayed_b, rel_a.seq, rel_a.id));
    assert_true(holds(f, b, &relayed_b, rel_c.seq, rel_c.id));
    assert_true(holds(f, b, &direct_b_a, dir_a.seq, dir_a.id));
    assert_true(holds(f, b, &relayed_b, expect_rel, rel_id));
    assert_true(holds(f, b, &direct_b_a, dir_a.seq + 2, red_id));
    assert_true(holds(f, a, &relayed_b, expect_rel, rel_id));
    assert_true(holds(f, a, &direct_b_a, dir_a.seq + 2, red_id));
    if (loss == LOSS_RESTORED)
        assert_true(holds(f, b, &relayed_b, before.seq, before.id));

    /* B's log verifies across the reset, and says where epoch 1 began;
     * each peer's log names B's reset once. */
    rc = fed_audit_verify(fed_data_dir(f, b), out, OUT_MAX);
    print_message("B: %s", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "this log is in epoch 1"));
    assert_non_null(strstr(out, "epoch 1 from entry"));
    for (size_t i = 0; i < fed_node_count(f); i++) {
        if (i == b)
            continue;
        rc = fed_audit_verify(fed_data_dir(f, i), out, OUT_MAX);
        print_message("%s: %s", fed_id(f, i), out);
        assert_int_equal(rc, 0);
        assert_non_null(strstr(out, "1 epoch resets of peers recorded: B to epoch 1"));
        assert_non_null(strstr(out, "peers held in an epoch above 0 (resets): B 1"));
    }
    fed_pass(f);
}

static void test_destroyed(void **state)
{
    rebuild(state, LOSS_DESTROYED);
}

static void test_restored(void **state)
{
    rebuild(state, LOSS_RESTORED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_destroyed, fed_teardown),
        cmocka_unit_test_teardown(test_restored, fed_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
