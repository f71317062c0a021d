/*
 * test_run_accept: route_accept_run, the path of a batch of one log's
 * envelopes from a peer, on a real roster, real member keys and a real
 * store from the fed harness (no daemon runs). A chained run costs one
 * signature; a run whose last signature fails, whose middle envelope was
 * tampered with, that has a gap, or that does not chain to the held head
 * is refused with its reason and nothing refused is stored. Envelopes
 * addressed to BB are opened again for their push, from memory or from
 * the store, to the same body.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <sodium.h>

#include "envelope.h"
#include "fed.h"
#include "keys.h"
#include "log.h"
#include "roster.h"
#include "route.h"
#include "stats.h"
#include "store.h"

#define RUN_MAX 8

/* AA seals; BB runs the route under test; CC is every envelope's recipient
 * unless a test names another (to), so BB only relays and the board stays
 * out of the way. */
struct fixture {
    const char *to;
    struct fed *fed;
    struct keyset *aa, *bb;
    struct envelope_keyring *aa_kr, *bb_kr;
    struct roster *roster;
    struct store *store;
    struct stats *stats;
    struct route *route;
};

/* A chain of AA's relayed log: seq first.. with prev the given id. */
struct run {
    uint8_t *env[RUN_MAX];
    size_t len[RUN_MAX];
    uint8_t id[RUN_MAX][ENVELOPE_HASH_BYTES];
    size_t n;
};

static void run_free(struct run *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->env[i]);
    memset(r, 0, sizeof(*r));
}

/* Seals n envelopes of AA's relayed log from seq first on, the first
 * chained to prev (NULL for seq 1); variant changes every payload, so two
 * runs of one seq range are two histories. */
static void make_run(struct fixture *fx, uint64_t first, const uint8_t *prev, size_t n, int variant,
                     struct run *r)
{
    struct roster_member cc;
    uint8_t payload[64];

    assert_true(n <= RUN_MAX);
    assert_int_equal(roster_find(fx->roster, fx->to, &cc), 0);
    struct envelope_recipient rcpt = {cc.id, cc.box_pk};
    memset(r, 0, sizeof(*r));
    for (size_t i = 0; i < n; i++) {
        struct envelope_seal_args a = {0};
        struct envelope_info info;

        a.coalition = FED_COALITION;
        a.seq = first + i;
        a.prev_hash = i > 0 ? r->id[i - 1] : prev;
        a.roster_version = roster_version(fx->roster);
        a.created_at = (int64_t)time(NULL);
        a.payload = payload;
        a.payload_len = (size_t)snprintf((char *)payload, sizeof(payload), "run %d seq %llu",
                                         variant, (unsigned long long)a.seq);
        a.recipients = &rcpt;
        a.n_recipients = 1;
        assert_int_equal(envelope_seal(fx->aa_kr, &a, &r->env[i], &r->len[i], &info), ENVELOPE_OK);
        memcpy(r->id[i], info.id, ENVELOPE_HASH_BYTES);
        r->n++;
    }
}

/* The signature is the envelope's last field: its last byte. */
static void spoil_signature(struct run *r, size_t i)
{
    r->env[i][r->len[i] - 1] ^= 0x01;
}

static int accept(struct fixture *fx, const struct run *r, size_t from, size_t n)
{
    const uint8_t *envs[RUN_MAX];

    for (size_t i = 0; i < n; i++)
        envs[i] = r->env[from + i];
    return route_accept_run(fx->route, "AA", envs, r->len + from, n);
}

static void commit(struct fixture *fx)
{
    if (store_in_batch(fx->store))
        assert_int_equal(store_commit(fx->store), 0);
    route_end_round(fx->route);
}

static uint64_t head_seq(struct fixture *fx)
{
    struct store_log log = {"AA", ""};
    struct store_head h;

    assert_int_equal(store_head(fx->store, &log, &h), 0);
    return h.seq;
}

static uint64_t count(struct fixture *fx, const char *name)
{
    return stats_get(fx->stats, name);
}

static int setup(void **state)
{
    static const char *const ids[] = {"AA", "BB", "CC"};
    struct fixture *fx = calloc(1, sizeof(*fx));

    if (fx == NULL || (fx->fed = fed_new(3, ids)) == NULL)
        return -1;
    fx->to = "CC";
    fx->aa = keys_load(fed_member_key_path(fx->fed, 0));
    fx->bb = keys_load(fed_member_key_path(fx->fed, 1));
    if (fx->aa == NULL || fx->bb == NULL ||
        roster_load(fed_roster_path(fx->fed), FED_COALITION, &fx->roster) == -1)
        return -1;
    fx->aa_kr = envelope_keyring_new(fx->aa);
    fx->bb_kr = envelope_keyring_new(fx->bb);
    fx->store = fed_store_open(fx->fed, 1);
    fx->stats = stats_new();
    if (fx->aa_kr == NULL || fx->bb_kr == NULL || fx->store == NULL || fx->stats == NULL)
        return -1;
    struct route_parts parts = {"BB", FED_COALITION, fx->store, fx->bb_kr, fx->roster, fx->stats};
    if ((fx->route = route_new(&parts)) == NULL)
        return -1;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;

    route_free(&fx->route);
    stats_free(&fx->stats);
    store_close(&fx->store);
    envelope_keyring_free(&fx->aa_kr);
    envelope_keyring_free(&fx->bb_kr);
    roster_free(&fx->roster);
    keys_free(&fx->aa);
    keys_free(&fx->bb);
    fed_pass(fx->fed);
    fed_free(&fx->fed);
    free(fx);
    return 0;
}

/* Five chained envelopes from an empty log: all stored, one signature. */
static void test_chained_run_one_signature(void **state)
{
    struct fixture *fx = *state;
    struct run r;

    make_run(fx, 1, NULL, 5, 0, &r);
    assert_int_equal(accept(fx, &r, 0, 5), 1);
    commit(fx);
    assert_int_equal(head_seq(fx), 5);
    assert_int_equal(count(fx, "verify.signature"), 1);
    assert_int_equal(count(fx, "verify.by-run"), 4);
    assert_int_equal(count(fx, "accepted"), 5);
    run_free(&r);
}

/* The last signature fails: each is checked alone, the good prefix kept,
 * the last refused as bad-signature and not stored. */
static void test_bad_last_signature(void **state)
{
    struct fixture *fx = *state;
    struct run r;

    make_run(fx, 1, NULL, 4, 0, &r);
    spoil_signature(&r, 3);
    assert_int_equal(accept(fx, &r, 0, 4), -1);
    commit(fx);
    assert_int_equal(count(fx, "run.refused"), 1);
    assert_int_equal(count(fx, "rejected.bad-signature"), 1);
    assert_int_equal(head_seq(fx), 3);
    assert_int_equal(count(fx, "accepted"), 3);
    run_free(&r);
}

/* A middle signature changed: its id changes with it, so the next link
 * no longer chains. The prefix before it is kept; it is refused for its
 * signature; what follows is dropped. */
static void test_bad_middle_signature(void **state)
{
    struct fixture *fx = *state;
    struct run r;

    make_run(fx, 1, NULL, 5, 0, &r);
    spoil_signature(&r, 2);
    assert_int_equal(accept(fx, &r, 0, 5), -1);
    commit(fx);
    assert_int_equal(count(fx, "rejected.bad-signature"), 1);
    assert_int_equal(count(fx, "run.dropped"), 2);
    assert_int_equal(head_seq(fx), 2);
    run_free(&r);
}

/* A run with a gap (seq 3 left out): refused at the gap as out-of-order. */
static void test_broken_link(void **state)
{
    struct fixture *fx = *state;
    struct run r;
    const uint8_t *envs[4];
    size_t lens[4];

    make_run(fx, 1, NULL, 5, 0, &r);
    for (size_t i = 0, k = 0; i < 5; i++) {
        if (i == 2)
            continue;
        envs[k] = r.env[i];
        lens[k++] = r.len[i];
    }
    assert_int_equal(route_accept_run(fx->route, "AA", envs, lens, 4), -1);
    commit(fx);
    assert_int_equal(count(fx, "rejected.out-of-order"), 1);
    assert_int_equal(head_seq(fx), 2);
    run_free(&r);
}

/* Runs that do not chain to what is held: one past a gap is refused and
 * nothing stored; one signed by AA on another history at head + 1 is the
 * proof of a fork, kept as evidence, and halts the log. */
static void test_not_chaining_to_head(void **state)
{
    struct fixture *fx = *state;
    struct run held, later, other;

    make_run(fx, 1, NULL, 2, 0, &held);
    assert_int_equal(accept(fx, &held, 0, 2), 1);
    commit(fx);
    make_run(fx, 3, held.id[1], 4, 0, &later);
    assert_int_equal(accept(fx, &later, 1, 3), -1); /* seq 4..6 over a head of 2 */
    commit(fx);
    assert_int_equal(count(fx, "rejected.out-of-order"), 1);
    assert_int_equal(head_seq(fx), 2);

    make_run(fx, 1, NULL, 4, 1, &other); /* AA's other history: seq 3 on another seq 2 */
    assert_int_equal(accept(fx, &other, 2, 2), 0);
    commit(fx);
    assert_int_equal(count(fx, "equivocation"), 1);
    assert_int_equal(head_seq(fx), 2);
    run_free(&held);
    run_free(&later);
    run_free(&other);
}

/* What is held already at the front is dropped as duplicates, without a
 * signature; the rest is one run. */
static void test_held_prefix(void **state)
{
    struct fixture *fx = *state;
    struct run r;

    make_run(fx, 1, NULL, 6, 0, &r);
    assert_int_equal(accept(fx, &r, 0, 3), 1);
    commit(fx);
    assert_int_equal(count(fx, "verify.signature"), 1);
    assert_int_equal(accept(fx, &r, 1, 5), 1);
    commit(fx);
    assert_int_equal(head_seq(fx), 6);
    assert_int_equal(count(fx, "duplicate"), 2);
    assert_int_equal(count(fx, "verify.signature"), 2);
    /* All of it again: nothing to do, nothing refused. */
    assert_int_equal(accept(fx, &r, 0, 6), 0);
    assert_int_equal(count(fx, "verify.signature"), 2);
    run_free(&r);
}

/* Opens inbox entry number and checks it is AA's envelope at seq with the
 * payload make_run gave it. */
static void check_opened(struct fixture *fx, uint64_t number, uint64_t seq, int variant)
{
    struct store_inbox_entry e;
    struct envelope_info info;
    struct envelope_body *body = NULL;
    char want[64];

    assert_int_equal(store_inbox_next(fx->store, number - 1, &e), 1);
    assert_int_equal(e.number, number);
    assert_int_equal(route_open_inbox(fx->route, &e, &info, &body), 0);
    assert_int_equal(info.seq, seq);
    assert_memory_equal(info.id, e.id, ENVELOPE_HASH_BYTES);
    snprintf(want, sizeof(want), "run %d seq %llu", variant, (unsigned long long)seq);
    assert_int_equal(body->payload_len, strlen(want));
    assert_memory_equal(body->payload, want, strlen(want));
    envelope_body_free(&body);
}

/* Envelopes for BB: each opens for its push, in any order, the first time
 * (kept since accept) and again (read from the store) alike; after an
 * entry is rolled back with its batch, the number a later envelope takes
 * opens to that envelope. */
static void test_open_for_push(void **state)
{
    struct fixture *fx = *state;
    struct run r, other;

    fx->to = "BB";
    make_run(fx, 1, NULL, 4, 0, &r);
    make_run(fx, 4, r.id[2], 1, 1, &other);
    assert_int_equal(accept(fx, &r, 0, 3), 1);
    commit(fx);
    for (uint64_t i = 3; i >= 1; i--)
        check_opened(fx, i, i, 0);
    for (uint64_t i = 1; i <= 3; i++)
        check_opened(fx, i, i, 0);
    /* Seq 4 is accepted, then its batch rolled back: inbox number 4 goes
     * to the other history's seq 4, which must be what opens. */
    assert_int_equal(accept(fx, &r, 3, 1), 1);
    store_rollback(fx->store);
    route_end_round(fx->route);
    assert_int_equal(accept(fx, &other, 0, 1), 1);
    commit(fx);
    check_opened(fx, 4, 4, 1);
    check_opened(fx, 4, 4, 1);
    run_free(&r);
    run_free(&other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_chained_run_one_signature, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_last_signature, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_middle_signature, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_link, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_chaining_to_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_held_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_for_push, setup, teardown),
    };

    log_init("test_run_accept", LOG_LEVEL_WARN);
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
