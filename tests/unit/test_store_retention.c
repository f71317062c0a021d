/*
 * test_store_retention: store_retention_round against a real SQLite file.
 * The envelopes are opaque bytes here and the prune function a stand-in
 * that keeps a fixed prefix, so these tests check the store's choice of
 * rows (expiry, closed needs, the inbox and the clients' acks, the bound
 * per round) and that heads, counts and unpruned rows are left alone. The
 * pruned form itself is test_envelope's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "store.h"
#include "testutil.h"

#define ENV_BYTES    1024
#define PRUNED_BYTES 40 /* what the stand-in keeps */
#define PATH_BYTES   1024
#define NEED_CLOSED  4 /* board.h's BOARD_NEED_CLOSED and _WITHDRAWN */
#define NEED_GONE    5
#define NEED_OPEN    1

struct fixture {
    char root[PATH_BYTES];
    char dir[PATH_BYTES + 8];
    struct store *s;
    struct store_log log;
    uint8_t head[STORE_HASH_BYTES];
    uint64_t seq;
};

/* The stand-in for envelope_prune: keeps the first PRUNED_BYTES. */
static int cut(const uint8_t *env, size_t len, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (len <= PRUNED_BYTES)
        return 0;
    if ((*out = malloc(PRUNED_BYTES)) == NULL)
        return -1;
    memcpy(*out, env, PRUNED_BYTES);
    *out_len = PRUNED_BYTES;
    return 1;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    snprintf(f->root, sizeof(f->root), "%s", tu_tempdir());
    snprintf(f->dir, sizeof(f->dir), "%s/data", f->root);
    if ((f->s = store_open(f->dir, tu_store_key)) == NULL)
        return -1;
    snprintf(f->log.origin, sizeof(f->log.origin), "EE");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    store_close(&f->s);
    tu_rmtree(f->root);
    free(f);
    return 0;
}

/* Appends the next envelope of EE's relayed log, len bytes, in the open
 * batch. Returns its seq. */
static uint64_t add(struct fixture *f, int64_t expires_at, size_t len)
{
    uint8_t env[ENV_BYTES], id[STORE_HASH_BYTES];
    uint64_t seq = f->seq + 1;
    struct store_entry e = {.log = f->log,
                            .seq = seq,
                            .id = id,
                            .prev = seq > 1 ? f->head : NULL,
                            .expires_at = expires_at,
                            .envelope = env,
                            .envelope_len = len};

    crypto_generichash(id, sizeof(id), (const uint8_t *)&seq, sizeof(seq), NULL, 0);
    for (size_t i = 0; i < sizeof(env); i++)
        env[i] = (uint8_t)(seq + i);
    assert_int_equal(store_append(f->s, &e), 0);
    memcpy(f->head, id, sizeof(id));
    f->seq = seq;
    return seq;
}

static size_t stored_len(struct fixture *f, uint64_t seq)
{
    uint8_t *env = NULL;
    size_t len = 0;

    assert_int_equal(store_get(f->s, &f->log, seq, &env, &len, NULL), 1);
    free(env);
    return len;
}

static void round_with(struct fixture *f, const struct store_retention_rules *r,
                       struct store_retention_cursor *c, struct store_retention_result *res)
{
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(store_retention_round(f->s, r, cut, c, res), 0);
    assert_int_equal(store_commit(f->s), 0);
}

static void test_expiry_rule(void **state)
{
    struct fixture *f = *state;
    int64_t now = (int64_t)time(NULL);
    struct store_retention_rules r = {.now = now, .expired_before = now - 100, .max_rows = 3};
    struct store_retention_cursor c = {0};
    struct store_retention_result res;
    uint64_t envelopes = 0, evidence = 0;
    struct store_head h;

    assert_int_equal(store_begin(f->s), 0);
    add(f, now - 1000, ENV_BYTES);   /* 1: due */
    add(f, 0, ENV_BYTES);            /* 2: never expires */
    add(f, now - 10, ENV_BYTES);     /* 3: expired, but not for long enough */
    add(f, now - 500, ENV_BYTES);    /* 4: due */
    add(f, now - 900, PRUNED_BYTES); /* 5: due, arrived pruned */
    add(f, now - 800, ENV_BYTES);    /* 6: due */
    assert_int_equal(store_commit(f->s), 0);

    /* Rules off: nothing. */
    r.expired_before = 0;
    round_with(f, &r, &c, &res);
    assert_int_equal(res.examined, 0);
    assert_int_equal(stored_len(f, 1), ENV_BYTES);

    /* Oldest expiry first, three rows at most: 1, 5 (nothing to free), 6. */
    r.expired_before = now - 100;
    round_with(f, &r, &c, &res);
    assert_int_equal(res.examined, 3);
    assert_int_equal(res.pruned, 2);
    assert_int_equal(res.bytes_freed, 2 * (ENV_BYTES - PRUNED_BYTES));
    assert_true(res.is_more);
    assert_int_equal(stored_len(f, 1), PRUNED_BYTES);
    assert_int_equal(stored_len(f, 4), ENV_BYTES);
    assert_int_equal(stored_len(f, 6), PRUNED_BYTES);

    round_with(f, &r, &c, &res);
    assert_int_equal(res.examined, 1);
    assert_int_equal(res.pruned, 1);
    assert_false(res.is_more);
    assert_int_equal(stored_len(f, 4), PRUNED_BYTES);

    /* Done: a pruned row is never looked at again. */
    round_with(f, &r, &c, &res);
    assert_int_equal(res.examined, 0);
    assert_int_equal(stored_len(f, 2), ENV_BYTES);
    assert_int_equal(stored_len(f, 3), ENV_BYTES);

    /* The log is whole: same head, same count; it still takes appends. */
    assert_int_equal(store_head(f->s, &f->log, &h), 0);
    assert_int_equal(h.seq, 6);
    assert_memory_equal(h.id, f->head, STORE_HASH_BYTES);
    assert_int_equal(store_count(f->s, &envelopes, &evidence), 0);
    assert_int_equal(envelopes, 6);
    assert_int_equal(store_begin(f->s), 0);
    add(f, 0, ENV_BYTES);
    assert_int_equal(store_commit(f->s), 0);

    /* Outside a batch a round is refused. */
    assert_int_equal(store_retention_round(f->s, &r, cut, &c, &res), -1);
}

/* Files one board message of the need's cluster, as board_apply does. */
static void file(struct fixture *f, uint64_t seq, const uint8_t *target, int kind)
{
    uint8_t body[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct store_board_update u = {.seq = seq, .kind = kind, .body = body, .body_len = 8};

    crypto_generichash(u.id, sizeof(u.id), (const uint8_t *)&seq, sizeof(seq), NULL, 0);
    u.log = f->log;
    snprintf(u.sender, sizeof(u.sender), "EE");
    memcpy(u.target, target, STORE_HASH_BYTES);
    assert_int_equal(store_board_update_put(f->s, &u), 0);
}

static void put_need(struct fixture *f, uint64_t seq, int status, uint8_t *id)
{
    uint8_t blob[4] = {9, 9, 9, 9};
    struct store_board_need n = {
        .status = status, .tlp = 1, .quantity = 1, .need = blob, .need_len = sizeof(blob)};

    crypto_generichash(n.id, sizeof(n.id), (const uint8_t *)&seq, sizeof(seq), NULL, 0);
    snprintf(n.owner, sizeof(n.owner), "EE");
    assert_int_equal(store_board_need_put(f->s, &n), 0);
    memcpy(id, n.id, STORE_HASH_BYTES);
}

static void test_closed_rule(void **state)
{
    struct fixture *f = *state;
    int64_t now = (int64_t)time(NULL);
    struct store_retention_rules r = {
        .now = now,
        .closed_before = now + 10, /* every need that is closed now */
        .closed_status = {NEED_CLOSED, NEED_GONE},
        .max_rows = 100,
    };
    struct store_retention_cursor c = {0};
    struct store_retention_result res;
    uint8_t closed[STORE_HASH_BYTES], open[STORE_HASH_BYTES], gone[STORE_HASH_BYTES];
    uint64_t number = 0;

    assert_int_equal(store_begin(f->s), 0);
    /* A closed need (1), its update (2) and an offer on it (3) with the
     * offer's update (4); an open need (5) and its update (6); a
     * withdrawn need (7) that is in the inbox. */
    add(f, 0, ENV_BYTES);
    put_need(f, 1, NEED_CLOSED, closed);
    file(f, 1, closed, 1);
    add(f, 0, ENV_BYTES);
    file(f, 2, closed, 3);
    add(f, 0, ENV_BYTES);
    file(f, 3, closed, 2);
    {
        uint8_t offer[STORE_HASH_BYTES];
        uint64_t three = 3;
        crypto_generichash(offer, sizeof(offer), (const uint8_t *)&three, sizeof(three), NULL, 0);
        add(f, 0, ENV_BYTES);
        file(f, 4, offer, 4);
    }
    add(f, 0, ENV_BYTES);
    put_need(f, 5, NEED_OPEN, open);
    file(f, 5, open, 1);
    add(f, 0, ENV_BYTES);
    file(f, 6, open, 3);
    add(f, 0, ENV_BYTES);
    put_need(f, 7, NEED_GONE, gone);
    file(f, 7, gone, 1);
    assert_int_equal(store_inbox_add(f->s, &f->log, 7, gone, 0, &number), 0);
    assert_int_equal(store_commit(f->s), 0);

    /* No client ever subscribed: the closed need goes, the withdrawn one
     * waits, since its envelope may still be handed to a client. */
    round_with(f, &r, &c, &res);
    assert_int_equal(res.pruned, 4);
    assert_true(res.is_held);
    for (uint64_t seq = 1; seq <= 4; seq++)
        assert_int_equal(stored_len(f, seq), PRUNED_BYTES);
    assert_int_equal(stored_len(f, 5), ENV_BYTES);
    assert_int_equal(stored_len(f, 6), ENV_BYTES);
    assert_int_equal(stored_len(f, 7), ENV_BYTES);

    /* A client that acked up to before it still holds it. */
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(store_cursor_set(f->s, "desk", number - 1), 0);
    assert_int_equal(store_commit(f->s), 0);
    round_with(f, &r, &c, &res);
    assert_int_equal(res.pruned, 0);
    assert_true(res.is_held);

    /* Acked: it goes. The open need's envelopes never do. */
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(store_cursor_set(f->s, "desk", number), 0);
    assert_int_equal(store_commit(f->s), 0);
    round_with(f, &r, &c, &res);
    assert_int_equal(res.pruned, 1);
    assert_false(res.is_held);
    assert_int_equal(stored_len(f, 7), PRUNED_BYTES);
    assert_int_equal(stored_len(f, 5), ENV_BYTES);

    /* The board keeps every row and its status. */
    {
        struct store_board_need n;
        assert_int_equal(store_board_need_get(f->s, closed, &n), 1);
        assert_int_equal(n.status, NEED_CLOSED);
        free(n.need);
    }

    /* Not yet due: a need closed now is kept for closed_before's age. */
    memset(&c, 0, sizeof(c));
    r.closed_before = now - 3600;
    assert_int_equal(store_begin(f->s), 0);
    add(f, 0, ENV_BYTES);
    {
        uint8_t late[STORE_HASH_BYTES];
        put_need(f, 8, NEED_CLOSED, late);
        file(f, 8, late, 1);
    }
    assert_int_equal(store_commit(f->s), 0);
    round_with(f, &r, &c, &res);
    assert_int_equal(res.pruned, 0);
    assert_int_equal(stored_len(f, 8), ENV_BYTES);
}

static void test_free_bytes(void **state)
{
    struct fixture *f = *state;
    int64_t now = (int64_t)time(NULL);
    struct store_retention_rules r = {.now = now, .expired_before = now, .max_rows = 1000};
    struct store_retention_cursor c = {0};
    struct store_retention_result res;
    uint64_t before = 0, after = 0;

    assert_int_equal(store_begin(f->s), 0);
    for (int i = 0; i < 200; i++)
        add(f, now - 10, ENV_BYTES);
    assert_int_equal(store_commit(f->s), 0);
    assert_int_equal(store_free_bytes(f->s, &before), 0);
    round_with(f, &r, &c, &res);
    assert_int_equal(res.pruned, 200);
    assert_int_equal(store_free_bytes(f->s, &after), 0);
    /* 200 KiB of rows shrank to 8 KiB: pages went to the free list. */
    assert_true(after > before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_expiry_rule, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closed_rule, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_bytes, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
