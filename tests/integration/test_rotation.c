/*
 * Integration: a member's keys rotated with no downtime (proto/PROTOCOL.md
 * 3.4). EE's signing, encryption and transport keys are replaced while UA
 * and EE post and acking subscribers at UA, EE and PL receive: EE's node
 * is given next_keys, version 2 lists generation 2 ACTIVE beside 1 (EE
 * signs with 2 at once and records the heads of its logs), version 3
 * retires generation 1 with those heads (the links move to the new
 * transport key). Every post is taken, every subscriber gets each one
 * exactly once, no node counts a rejection, and NL, down all along,
 * catches up afterwards and verifies envelopes of both generations.
 * Restarts in the middle come up in the right state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fed.h"
#include "fedclient.h"

#define LINK_MS    10000  /* longest wait for links to come up */
#define APPLY_MS   5000   /* longest wait for an update to be in force at a node */
#define POST_EVERY 25     /* ms between two posts of one poster */
#define OVERLAP_MS 1500   /* traffic between two steps of the rotation */
#define RECEIVE_MS 30000  /* a subscriber's longest wait for its last delivery */
#define EE_BASE    100000 /* EE's posts are numbered from here, UA's from 0 */

static const char *const ids[] = {"UA", "EE", "PL", "NL"};
static const char *const roles[] = {NULL, "coordinator", NULL, NULL};
#define N_NODES 4
#define UA      0
#define EE      1
#define PL      2
#define NL      3

/* Node i's client configuration for a client with secret key key_path. */
static void client_conf(struct fed *f, size_t i, const char *label, const char *key_path, char *out,
                        size_t size)
{
    char name[64], text[4096];

    snprintf(name, sizeof(name), "%s-%s.conf", fed_id(f, i), label);
    assert_int_equal(fed_path(f, name, out, size), 0);
    snprintf(text, sizeof(text), "[client]\nendpoint = %s\nnode_key = %s\nkey = %s\n",
             fed_client_endpoint(f, i), fed_member_pub_path(f, i), key_path);
    assert_int_equal(fed_write_file(out, text), 0);
}

static void gov_key(const struct fed *f, size_t i, char *out, size_t size)
{
    assert_true((size_t)snprintf(out, size, "%s/gov-%s.key", fed_keys_dir(f), fed_id(f, i)) < size);
}

/* The secretariat's workflow: spec's source proposed as the next version
 * of previous, signed by both governors, combined into out. */
static void secretariat(struct fed *f, struct fed_roster *spec, const char *previous,
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
    for (int g = 0; g < 2; g++) {
        snprintf(sig[g], sizeof(sig[g]), "%s.%d.sig", out, g);
        gov_key(f, (size_t)g, gov, sizeof(gov));
        const char *sign[] = {"roster", "sign", update, gov, "--detached", sig[g], NULL};
        assert_int_equal(fed_admin(f, sign), 0);
    }
    const char *combine[] = {"roster", "combine", update,       sig[0],   sig[1],
                             "--out",  out,       "--previous", previous, NULL};
    assert_int_equal(fed_admin(f, combine), 0);
}

static void publish(struct fed *f, const char *conf, const char *file)
{
    const char *args[] = {"roster", "publish", file, "--config", conf, NULL};

    assert_int_equal(fed_admin(f, args), 0);
}

static void copy_file(const char *from, const char *to)
{
    char buf[8192];
    FILE *in = fopen(from, "rb"), *out;
    size_t n;

    assert_non_null(in);
    n = fread(buf, 1, sizeof(buf), in);
    fclose(in);
    assert_non_null(out = fopen(to, "wb"));
    assert_int_equal(fwrite(buf, 1, n, out), n);
    assert_int_equal(fclose(out), 0);
}

static struct tmbus *connect_with(struct fed *f, size_t i, const char *key_path)
{
    struct tmbus *h = NULL;
    char err[256] = "";

    if (tmbus_connect_files(fed_client_endpoint(f, i), fed_member_pub_path(f, i), key_path,
                            FC_CONNECT_MS, &h, err, sizeof(err)) != TMBUS_OK) {
        fprintf(stderr, "rotation: cannot connect to %s: %s\n", fed_id(f, i), err);
        return NULL;
    }
    return h;
}

static struct tmbus_status *status_at(struct fed *f, size_t i)
{
    struct tmbus *h = fc_connect(f, i);
    struct tmbus_status *st = NULL;

    assert_non_null(h);
    assert_int_equal(tmbus_status(h, FC_CALL_MS, &st), TMBUS_OK);
    tmbus_close(&h);
    return st;
}

/* The sum of node i's rejected.* counters: refusals of posts and envelopes. */
static uint64_t rejected_at(struct fed *f, size_t i)
{
    struct tmbus_status *st = status_at(f, i);
    uint64_t sum = 0;

    for (size_t k = 0; k < tmbus_status_counter_count(st); k++) {
        const struct tmbus_counter *c = tmbus_status_counter_at(st, k);
        if (c != NULL && (strncmp(c->name, "rejected.", 9) == 0 || strstr(c->name, ".rejected.")))
            sum += c->value;
    }
    tmbus_status_free(&st);
    return sum;
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

struct version_at {
    struct fed *f;
    uint64_t version;
    size_t n;
};

static bool is_in_force(void *arg)
{
    struct version_at *v = arg;

    for (size_t i = 0; i < v->n; i++) {
        struct tmbus_status *st = status_at(v->f, i);
        uint64_t have = tmbus_status_roster_version(st);
        tmbus_status_free(&st);
        if (have != v->version)
            return false;
    }
    return true;
}

/* ---- the members' programs, in child processes ---------------------------- */

static bool file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* Posts "TAG #base+k" to all every POST_EVERY ms until stop exists; writes
 * how many it posted to count_path. Exits 0 when every post was taken. */
static void poster(struct fed *f, size_t i, const char *tag, uint32_t base, const char *stop,
                   const char *count_path)
{
    struct tmbus *h = fc_connect(f, i);
    uint32_t k = 0;
    int rc = 0;
    char text[32];

    if (h == NULL)
        _exit(2);
    while (!file_exists(stop)) {
        if ((rc = fc_post(h, FC_TLP_GREEN, tag, base + k, NULL, 0, NULL)) != TMBUS_OK) {
            fprintf(stderr, "rotation: %s's post #%u refused: %s\n", fed_id(f, i), base + k,
                    tmbus_strerror(rc));
            break;
        }
        k++;
        fed_sleep_ms(POST_EVERY);
    }
    tmbus_close(&h);
    snprintf(text, sizeof(text), "%u\n", k);
    assert_int_equal(fed_write_file(count_path, text), 0);
    _exit(rc == TMBUS_OK ? 0 : 1);
}

/* Tagged deliveries from sender in in, each index once; -1 on a repeat. */
static long count_from(const struct fc_inbox *in, const char *sender)
{
    long n = 0;

    for (size_t a = 0; a < in->n; a++) {
        if (!in->got[a].is_tagged || strcmp(in->got[a].sender, sender) != 0)
            continue;
        for (size_t b = 0; b < a; b++)
            if (in->got[b].is_tagged && in->got[b].index == in->got[a].index) {
                fprintf(stderr, "rotation: #%u delivered twice\n", in->got[a].index);
                return -1;
            }
        n++;
    }
    return n;
}

/* Receives at node i with key_path, acking every 5, until expect (written
 * by the test: UA's and EE's post counts) exists and every post of the
 * senders other than i has arrived exactly once. Exits 0 then. */
static void subscriber(struct fed *f, size_t i, const char *key_path, const char *tag,
                       const char *expect)
{
    struct tmbus *h = connect_with(f, i, key_path);
    struct fc_inbox in;
    long want_ua = -1, want_ee = -1;
    int64_t waited = 0;
    int rc = 1;

    if (h == NULL || tmbus_subscribe(h, 64, FC_CALL_MS) != TMBUS_OK)
        _exit(2);
    fc_inbox_init(&in, tag);
    while (waited < fed_ms(RECEIVE_MS)) {
        (void)fc_receive(h, &in, in.n_tagged + 1, 200, 5);
        if (want_ua < 0 && file_exists(expect)) {
            FILE *fp = fopen(expect, "r");
            if (fp == NULL || fscanf(fp, "%ld %ld", &want_ua, &want_ee) != 2)
                _exit(3);
            fclose(fp);
        }
        if (want_ua >= 0) {
            /* A node's own member's posts are not what is checked here. */
            long ua = i == UA ? want_ua : count_from(&in, "UA");
            long ee = i == EE ? want_ee : count_from(&in, "EE");
            waited += 200;
            if (ua < 0 || ee < 0 || ua > want_ua || ee > want_ee)
                break;
            if (ua == want_ua && ee == want_ee) {
                /* Anything more now would be a duplicate. */
                (void)fc_expect_quiet(h, &in, 500);
                ua = i == UA ? want_ua : count_from(&in, "UA");
                ee = i == EE ? want_ee : count_from(&in, "EE");
                rc = fc_check_order(&in) == 0 && ua == want_ua && ee == want_ee ? 0 : 4;
                break;
            }
        }
    }
    if (rc != 0)
        fprintf(stderr, "rotation: subscriber at %s: %ld of UA's %ld, %ld of EE's %ld (rc %d)\n",
                fed_id(f, i), count_from(&in, "UA"), want_ua, count_from(&in, "EE"), want_ee, rc);
    fc_inbox_free(&in);
    tmbus_close(&h);
    _exit(rc);
}

static pid_t spawn_poster(struct fed *f, size_t i, const char *tag, uint32_t base, const char *stop,
                          const char *count_path)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0)
        poster(f, i, tag, base, stop, count_path);
    return pid;
}

static pid_t spawn_subscriber(struct fed *f, size_t i, const char *key_path, const char *tag,
                              const char *expect)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0)
        subscriber(f, i, key_path, tag, expect);
    return pid;
}

static int exit_code(pid_t pid)
{
    int status = 0;

    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static long read_count(const char *path)
{
    FILE *fp = fopen(path, "r");
    long n = -1;

    assert_non_null(fp);
    assert_int_equal(fscanf(fp, "%ld", &n), 1);
    fclose(fp);
    return n;
}

/* EE's recorded heads as the roster source's "last_seq = 1 *:N ..." line. */
static void heads_line(struct fed *f, char *out, size_t size)
{
    struct tmbus_status *st = status_at(f, EE);
    size_t used;

    assert_int_equal(tmbus_status_key_switch_id(st), 1);
    assert_true(tmbus_status_key_switch_count(st) >= 1);
    used = (size_t)snprintf(out, size, "last_seq = 1");
    for (size_t k = 0; k < tmbus_status_key_switch_count(st); k++) {
        const char *peer;
        uint64_t seq;
        assert_int_equal(tmbus_status_key_switch_head(st, k, &peer, &seq), TMBUS_OK);
        used += (size_t)snprintf(out + used, size - used, " %s:%llu", peer[0] ? peer : "*",
                                 (unsigned long long)seq);
        assert_true(used < size);
    }
    tmbus_status_free(&st);
}

/* ---- the tests -------------------------------------------------------------- */

/* Three of the four nodes started and linked, a reader client added to
 * each (its key into reader[i]) and an admin client on UA and EE. */
static struct fed *start(char reader[N_NODES][FED_PATH_MAX], char admin[2][FED_PATH_MAX])
{
    struct fed *f = fed_new_with_roles(N_NODES, ids, roles);
    long mark[N_NODES];

    assert_non_null(f);
    for (size_t i = 0; i < N_NODES; i++) {
        assert_int_equal(fed_add_client(f, i, "reader", "admin", "red", reader[i]), 0);
        if (i < 2)
            client_conf(f, i, "admin", reader[i], admin[i], FED_PATH_MAX);
        mark[i] = fed_log_mark(f, i);
    }
    for (size_t i = 0; i < NL; i++)
        assert_int_equal(fed_start(f, i), 0);
    for (size_t i = 0; i < NL; i++)
        for (size_t k = 0; k < NL; k++)
            if (k != i)
                assert_int_equal(fed_wait_link(f, i, mark[i], fed_id(f, k), LINK_MS), 0);
    return f;
}

/* Generates EE's generation 2 (DIR/keys/gen2/EE.key and .pub) and gives
 * its node next_keys, by SIGHUP. */
static void next_keys(struct fed *f, char *key, char *pub)
{
    char dir[FED_PATH_MAX];
    long mark = fed_log_mark(f, EE);

    snprintf(dir, sizeof(dir), "%s/gen2", fed_keys_dir(f));
    const char *keygen[] = {"keygen", "member", "EE", dir, NULL};
    assert_int_equal(fed_admin(f, keygen), 0);
    assert_true((size_t)snprintf(key, FED_PATH_MAX, "%s/gen2/EE.key", fed_keys_dir(f)) <
                FED_PATH_MAX);
    assert_true((size_t)snprintf(pub, FED_PATH_MAX, "%s/gen2/EE.pub", fed_keys_dir(f)) <
                FED_PATH_MAX);
    assert_int_equal(fed_set_next_keys(f, EE, key), 0);
    if (fed_is_running(f, EE)) {
        assert_int_equal(fed_reload(f, EE), 0);
        assert_int_equal(fed_wait_log_from(f, EE, mark, "loaded: taken in force", APPLY_MS), 0);
    }
}

static void test_rotation_under_load(void **state)
{
    char reader[N_NODES][FED_PATH_MAX], admin[2][FED_PATH_MAX];
    char key[FED_PATH_MAX], pub[FED_PATH_MAX], v1[FED_PATH_MAX], v2[FED_PATH_MAX], v3[FED_PATH_MAX];
    char stop[FED_PATH_MAX], expect[FED_PATH_MAX], count[2][FED_PATH_MAX], tag[FC_TAG_MAX];
    char extra2[FED_PATH_MAX], extra3[4096], line[2048], text[64];
    struct fed_roster spec2 = {.version = 2}, spec3 = {.version = 3};
    uint64_t rejected[N_NODES];
    pid_t posters[2], subscribers[3];
    long mark[N_NODES];
    struct fed *f;

    f = *state = start(reader, admin);
    fc_tag(tag, sizeof(tag), "rotation");
    assert_int_equal(fed_path(f, "stop", stop, sizeof(stop)), 0);
    assert_int_equal(fed_path(f, "expect", expect, sizeof(expect)), 0);
    assert_int_equal(fed_path(f, "posted-UA", count[0], sizeof(count[0])), 0);
    assert_int_equal(fed_path(f, "posted-EE", count[1], sizeof(count[1])), 0);
    snprintf(v1, sizeof(v1), "%s", fed_roster_path(f));
    assert_int_equal(fed_path(f, "v2.bin", v2, sizeof(v2)), 0);
    assert_int_equal(fed_path(f, "v3.bin", v3, sizeof(v3)), 0);
    for (size_t i = 0; i < NL; i++)
        rejected[i] = rejected_at(f, i);

    for (size_t i = 0; i < 3; i++)
        subscribers[i] = spawn_subscriber(f, i, reader[i], tag, expect);
    posters[0] = spawn_poster(f, UA, tag, 0, stop, count[0]);
    posters[1] = spawn_poster(f, EE, tag, EE_BASE, stop, count[1]);
    fed_sleep_ms(OVERLAP_MS);

    /* Generation 2 beside 1: EE signs with 2 from the moment it has it. */
    next_keys(f, key, pub);
    snprintf(extra2, sizeof(extra2), "key_id = 2\nactive = 1 keys/EE.pub");
    spec2.keys[EE] = pub;
    spec2.extra[EE] = extra2;
    spec2.extra[PL] = NULL;
    secretariat(f, &spec2, v1, v2);
    mark[EE] = fed_log_mark(f, EE);
    publish(f, admin[UA], v2);
    assert_int_equal(fed_wait_log_from(f, EE, mark[EE], "signs with key generation 2", APPLY_MS),
                     0);
    struct version_at at2 = {f, 2, NL};
    assert_int_equal(fed_wait_until(is_in_force, &at2, APPLY_MS, 100), 0);
    fed_sleep_ms(OVERLAP_MS);

    /* Generation 1 retired with the heads EE recorded at its switch. */
    heads_line(f, line, sizeof(line));
    snprintf(extra3, sizeof(extra3), "key_id = 2\nretired = 1 keys/EE.pub\n%s", line);
    spec3.keys[EE] = pub;
    spec3.extra[EE] = extra3;
    secretariat(f, &spec3, v2, v3);
    for (size_t i = 0; i < NL; i++)
        mark[i] = fed_log_mark(f, i);
    publish(f, admin[EE], v3);
    struct version_at at3 = {f, 3, NL};
    assert_int_equal(fed_wait_until(is_in_force, &at3, APPLY_MS, 100), 0);
    assert_int_equal(
        fed_wait_log_from(f, EE, mark[EE], "links use our new transport key", APPLY_MS), 0);
    for (size_t i = 0; i < NL; i++)
        for (size_t k = 0; k < NL; k++)
            if (k != i && (i == EE || k == EE))
                assert_int_equal(fed_wait_link(f, i, mark[i], fed_id(f, k), LINK_MS), 0);
    assert_int_equal(fed_log_count(f, UA, mark[UA], "peer EE: transport key changed"), 1);
    fed_sleep_ms(OVERLAP_MS);

    /* The traffic stops; every post arrived once at every subscriber. */
    assert_int_equal(fed_write_file(stop, "stop\n"), 0);
    assert_int_equal(exit_code(posters[0]), 0);
    assert_int_equal(exit_code(posters[1]), 0);
    snprintf(text, sizeof(text), "%ld %ld\n", read_count(count[0]), read_count(count[1]));
    assert_true(read_count(count[0]) > 50 && read_count(count[1]) > 50);
    assert_int_equal(fed_write_file(expect, text), 0);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(exit_code(subscribers[i]), 0);
    for (size_t i = 0; i < NL; i++)
        assert_int_equal(rejected_at(f, i), rejected[i]);
    assert_int_equal(counter_at(f, EE, "keys.switched"), 1);
    assert_int_equal(counter_at(f, EE, "peer.transport-key-changed"), 1);

    /* NL, down all along, takes versions 2 and 3 and every envelope. */
    mark[NL] = fed_log_mark(f, NL);
    assert_int_equal(fed_start(f, NL), 0);
    assert_int_equal(fed_wait_link(f, NL, mark[NL], "EE", LINK_MS), 0);
    struct version_at at_nl = {f, 3, N_NODES};
    assert_int_equal(fed_wait_until(is_in_force, &at_nl, APPLY_MS, 100), 0);
    for (int tries = 0; tries < 100; tries++) {
        uint64_t have = 0, want = 0;
        struct tmbus *h = fc_connect(f, NL);
        assert_non_null(h);
        assert_int_equal(fc_envelopes(h, &have), TMBUS_OK);
        tmbus_close(&h);
        h = fc_connect(f, UA);
        assert_non_null(h);
        assert_int_equal(fc_envelopes(h, &want), TMBUS_OK);
        tmbus_close(&h);
        if (have == want)
            break;
        fed_sleep_ms(100);
    }
    assert_int_equal(rejected_at(f, NL), 0);
    assert_true(counter_at(f, NL, "accepted") > 100);
    fed_pass(f);
}

/* Restarts: EE down while version 2 is published comes up on keys = old,
 * next_keys = new and signs with 2 at once; after version 3 it restarts
 * with the new file as keys and the old as previous_keys. Links and posts
 * work each time, and the recorded heads do not move. */
static void test_restart_midway(void **state)
{
    char reader[N_NODES][FED_PATH_MAX], admin[2][FED_PATH_MAX];
    char key[FED_PATH_MAX], pub[FED_PATH_MAX], v1[FED_PATH_MAX], v2[FED_PATH_MAX], v3[FED_PATH_MAX],
        line[2048], again[2048], extra3[4096], tag[FC_TAG_MAX];
    struct fed_roster spec2 = {.version = 2}, spec3 = {.version = 3};
    struct fc_inbox in;
    struct tmbus *h;
    long mark;
    struct fed *f;

    f = *state = start(reader, admin);
    fc_tag(tag, sizeof(tag), "restart");
    snprintf(v1, sizeof(v1), "%s", fed_roster_path(f));
    assert_int_equal(fed_path(f, "v2.bin", v2, sizeof(v2)), 0);
    assert_int_equal(fed_path(f, "v3.bin", v3, sizeof(v3)), 0);
    h = fc_connect(f, EE);
    assert_non_null(h);
    assert_int_equal(fc_post(h, FC_TLP_GREEN, tag, 1, NULL, 0, NULL), TMBUS_OK);
    tmbus_close(&h);

    /* Version 2 is published while EE is down. */
    assert_int_equal(fed_stop(f, EE), 0);
    next_keys(f, key, pub);
    spec2.keys[EE] = pub;
    spec2.extra[EE] = "key_id = 2\nactive = 1 keys/EE.pub";
    secretariat(f, &spec2, v1, v2);
    publish(f, admin[UA], v2);
    mark = fed_log_mark(f, EE);
    assert_int_equal(fed_start(f, EE), 0);
    assert_int_equal(fed_wait_log_from(f, EE, mark, "signs with key generation 2", APPLY_MS), 0);
    assert_int_equal(fed_wait_link(f, EE, mark, "UA", LINK_MS), 0);
    heads_line(f, line, sizeof(line));
    h = fc_connect(f, EE);
    assert_non_null(h);
    assert_int_equal(fc_post(h, FC_TLP_GREEN, tag, 2, NULL, 0, NULL), TMBUS_OK);
    tmbus_close(&h);

    /* A restart in the overlap changes nothing of the heads. */
    assert_int_equal(fed_stop(f, EE), 0);
    assert_int_equal(fed_start(f, EE), 0);
    heads_line(f, again, sizeof(again));
    assert_string_equal(line, again);

    /* Version 3; then the operator moves the files and restarts. */
    snprintf(extra3, sizeof(extra3), "key_id = 2\nretired = 1 keys/EE.pub\n%s", line);
    spec3.keys[EE] = pub;
    spec3.extra[EE] = extra3;
    secretariat(f, &spec3, v2, v3);
    publish(f, admin[EE], v3);
    struct version_at at3 = {f, 3, NL};
    assert_int_equal(fed_wait_until(is_in_force, &at3, APPLY_MS, 100), 0);
    assert_int_equal(fed_stop(f, EE), 0);
    assert_int_equal(fed_set_next_keys(f, EE, ""), 0);
    assert_int_equal(fed_install_member_key(f, EE, key), 0);
    /* The client socket now has the new key: clients are given its
     * public file as node_key. */
    copy_file(pub, fed_member_pub_path(f, EE));
    mark = fed_log_mark(f, EE);
    assert_int_equal(fed_start(f, EE), 0);
    assert_int_equal(fed_wait_link(f, EE, mark, "PL", LINK_MS), 0);
    h = fc_connect(f, EE);
    assert_non_null(h);
    assert_int_equal(fc_post(h, FC_TLP_GREEN, tag, 3, NULL, 0, NULL), TMBUS_OK);
    tmbus_close(&h);

    /* PL got all three, once each. */
    h = connect_with(f, PL, reader[PL]);
    assert_non_null(h);
    assert_int_equal(tmbus_subscribe(h, 64, FC_CALL_MS), TMBUS_OK);
    fc_inbox_init(&in, tag);
    assert_int_equal(fc_receive(h, &in, 3, 5000, 1), 3);
    assert_int_equal(fc_expect_quiet(h, &in, 300), 0);
    assert_int_equal(fc_check_order(&in), 0);
    fc_inbox_free(&in);
    tmbus_close(&h);
    for (size_t i = 0; i < NL; i++)
        assert_int_equal(rejected_at(f, i), 0);
    fed_pass(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_rotation_under_load, fed_teardown),
        cmocka_unit_test_teardown(test_restart_midway, fed_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
