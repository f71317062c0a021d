/*
 * test_store: unit tests of the store against a real SQLite file in a
 * temporary directory. Each refusal test also shows the accepted case next
 * to it and checks that nothing was written, so a store that refuses
 * everything, or writes and then says no, fails. Crash safety is tested by
 * a child process that exits in the middle of a batch.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "log.h"
#include "store.h"
#include "testutil.h"

#define ENV_BYTES     1024 /* envelope size used throughout */
#define BENCH_BATCH   256
#define BENCH_BATCHES 40
#define PATH_BYTES    1024

/* Each test gets a fresh temporary directory; the store lives in a
 * subdirectory that does not exist yet, so store_open has to create it. */
struct fixture {
    char root[PATH_BYTES];
    char dir[PATH_BYTES + 8];
};

/* The connection most recently opened in this process, caught by an
 * SQLite auto-extension: the only way to ask the store's own connection
 * about per-connection settings such as synchronous. */
static sqlite3 *last_db;

static int catch_db(sqlite3 *db, const char **err, const struct sqlite3_api_routines *api)
{
    (void)err;
    (void)api;
    last_db = db;
    return SQLITE_OK;
}

/* ---- helpers ---- */

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    snprintf(f->root, sizeof(f->root), "%s", tu_tempdir());
    snprintf(f->dir, sizeof(f->dir), "%s/data", f->root);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    tu_rmtree(f->root);
    free(f);
    return 0;
}

static struct store_log mklog(const char *origin, const char *peer)
{
    struct store_log log;

    memset(&log, 0, sizeof(log));
    snprintf(log.origin, sizeof(log.origin), "%s", origin);
    snprintf(log.peer, sizeof(log.peer), "%s", peer);
    return log;
}

/* A deterministic id for (log, seq, variant), distinct across logs. */
static void mkid(const struct store_log *log, uint64_t seq, int variant, uint8_t *id)
{
    char buf[128];
    int n = snprintf(buf, sizeof(buf), "%s/%s/%llu/%d", log->origin, log->peer,
                     (unsigned long long)seq, variant);

    crypto_generichash(id, STORE_HASH_BYTES, (const uint8_t *)buf, (size_t)n, NULL, 0);
}

/* Deterministic envelope bytes for (log, seq, variant). */
static void mkenv(const struct store_log *log, uint64_t seq, int variant, uint8_t *env)
{
    mkid(log, seq, variant, env);
    for (size_t i = STORE_HASH_BYTES; i < ENV_BYTES; i++)
        env[i] = (uint8_t)(env[i % STORE_HASH_BYTES] ^ i);
}

/* Appends seq from..to, chained on the previous ids. Returns 0 or -1 so
 * that a forked child can use it too. */
static int append_range(struct store *s, const struct store_log *log, uint64_t from, uint64_t to)
{
    uint8_t env[ENV_BYTES], id[STORE_HASH_BYTES], prev[STORE_HASH_BYTES];

    for (uint64_t seq = from; seq <= to; seq++) {
        struct store_entry e = {.log = *log,
                                .seq = seq,
                                .id = id,
                                .expires_at = 0,
                                .envelope = env,
                                .envelope_len = sizeof(env)};

        mkid(log, seq, 0, id);
        mkenv(log, seq, 0, env);
        if (seq > 1) {
            mkid(log, seq - 1, 0, prev);
            e.prev = prev;
        }
        if (store_append(s, &e) != 0)
            return -1;
    }
    return 0;
}

static void assert_head(struct store *s, const struct store_log *log, uint64_t seq, bool is_halted)
{
    struct store_head h;
    uint8_t id[STORE_HASH_BYTES] = {0};

    assert_int_equal(store_head(s, log, &h), 0);
    assert_int_equal(h.seq, seq);
    assert_int_equal(h.is_halted, is_halted);
    if (seq > 0)
        mkid(log, seq, 0, id);
    assert_memory_equal(h.id, id, STORE_HASH_BYTES);
}

static void assert_counts(struct store *s, uint64_t envelopes, uint64_t evidence)
{
    uint64_t n_env = 99, n_ev = 99;

    assert_int_equal(store_count(s, &n_env, &n_ev), 0);
    assert_int_equal(n_env, envelopes);
    assert_int_equal(n_ev, evidence);
}

/* Checks that (log, seq) holds the standard envelope, or nothing. */
static void assert_held(struct store *s, const struct store_log *log, uint64_t seq, bool is_held)
{
    uint8_t want[ENV_BYTES], want_id[STORE_HASH_BYTES], id[STORE_HASH_BYTES];
    uint8_t *env = NULL;
    size_t len = 0;

    if (!is_held) {
        assert_int_equal(store_get(s, log, seq, &env, &len, id), 0);
        assert_null(env);
        return;
    }
    assert_int_equal(store_get(s, log, seq, &env, &len, id), 1);
    mkenv(log, seq, 0, want);
    mkid(log, seq, 0, want_id);
    assert_int_equal(len, ENV_BYTES);
    assert_memory_equal(env, want, ENV_BYTES);
    assert_memory_equal(id, want_id, STORE_HASH_BYTES);
    free(env);
}

static struct store *open_ok(const struct fixture *f)
{
    struct store *s = store_open(f->dir, tu_store_key);

    assert_non_null(s);
    return s;
}

static void commit_range(struct store *s, const struct store_log *log, uint64_t from, uint64_t to)
{
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(append_range(s, log, from, to), 0);
    assert_int_equal(store_commit(s), 0);
    assert_false(store_in_batch(s));
}

/* ---- tests ---- */

static void test_open_close_reopen(void **state)
{
    struct fixture *f = *state;
    struct store_log log = mklog("EE", "");
    struct stat sb;
    struct store *s = open_ok(f);

    assert_int_equal(stat(f->dir, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(sb.st_mode & 0777, 0700);
    assert_head(s, &log, 0, false);
    assert_counts(s, 0, 0);
    commit_range(s, &log, 1, 3);
    store_close(&s);
    assert_null(s);
    store_close(&s); /* NULL is accepted */
    store_close(NULL);

    s = open_ok(f);
    assert_head(s, &log, 3, false);
    assert_counts(s, 3, 0);
    for (uint64_t seq = 1; seq <= 3; seq++)
        assert_held(s, &log, seq, true);
    store_close(&s);
}

static void test_wal_and_synchronous_full(void **state)
{
    struct fixture *f = *state;
    char path[PATH_BYTES + 32];
    sqlite3_stmt *st;
    struct store *s;

    last_db = NULL;
    s = open_ok(f);
    assert_non_null(last_db);

    assert_int_equal(sqlite3_prepare_v2(last_db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);

    assert_int_equal(sqlite3_prepare_v2(last_db, "PRAGMA synchronous", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 2); /* FULL */
    sqlite3_finalize(st);

    assert_int_equal(sqlite3_prepare_v2(last_db, "PRAGMA foreign_keys", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 1);
    sqlite3_finalize(st);

    /* The WAL file is there while the store is open. */
    snprintf(path, sizeof(path), "%s/tmbus.db-wal", f->dir);
    assert_int_equal(access(path, F_OK), 0);
    store_close(&s);
    last_db = NULL;
}

static void test_append_and_heads(void **state)
{
    struct fixture *f = *state;
    struct store_log log = mklog("PL", "");
    struct store *s = open_ok(f);

    assert_int_equal(store_begin(s), 0);
    assert_true(store_in_batch(s));
    assert_int_equal(store_begin(s), 0); /* already open: fine */
    for (uint64_t seq = 1; seq <= 50; seq++) {
        assert_int_equal(append_range(s, &log, seq, seq), 0);
        assert_head(s, &log, seq, false);
    }
    assert_int_equal(store_commit(s), 0);
    assert_int_equal(store_commit(s), 0); /* no batch: 0 */
    assert_head(s, &log, 50, false);
    assert_counts(s, 50, 0);
    store_close(&s);
}

static void test_append_refusals(void **state)
{
    struct fixture *f = *state;
    struct store_log log = mklog("DE", "");
    uint8_t env[ENV_BYTES], id[STORE_HASH_BYTES], prev[STORE_HASH_BYTES];
    struct store_entry e = {.log = log, .id = id, .envelope = env, .envelope_len = sizeof(env)};
    struct store *s = open_ok(f);

    commit_range(s, &log, 1, 3);
    assert_int_equal(store_begin(s), 0);
    mkenv(&log, 4, 0, env);
    mkid(&log, 4, 0, id);

    /* Wrong seq: a gap, a repeat, and seq 0. */
    mkid(&log, 3, 0, prev);
    e.prev = prev;
    e.seq = 5;
    assert_int_equal(store_append(s, &e), -1);
    e.seq = 3;
    assert_int_equal(store_append(s, &e), -1);
    e.seq = 0;
    assert_int_equal(store_append(s, &e), -1);

    /* Wrong prev: another id, none at all, and zeros. */
    e.seq = 4;
    mkid(&log, 2, 0, prev);
    assert_int_equal(store_append(s, &e), -1);
    e.prev = NULL;
    assert_int_equal(store_append(s, &e), -1);
    memset(prev, 0, sizeof(prev));
    e.prev = prev;
    assert_int_equal(store_append(s, &e), -1);

    /* Bad log names. */
    e.log = mklog("", "");
    mkid(&log, 3, 0, prev);
    assert_int_equal(store_append(s, &e), -1);
    e.log = mklog("EE", "a b");
    assert_int_equal(store_append(s, &e), -1);

    assert_head(s, &log, 3, false);
    assert_counts(s, 3, 0);
    assert_held(s, &log, 4, false);

    /* The control: the right seq and prev are accepted. */
    e.log = log;
    assert_int_equal(store_append(s, &e), 0);
    assert_int_equal(store_commit(s), 0);
    assert_head(s, &log, 4, false);

    /* After a halt, even a correct append is refused. */
    mkenv(&log, 2, 1, env);
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(store_add_evidence(s, &log, 2, env, sizeof(env)), 0);
    assert_int_equal(store_commit(s), 0);
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(append_range(s, &log, 5, 5), -1);
    assert_int_equal(store_commit(s), 0);
    assert_head(s, &log, 4, true);
    assert_counts(s, 4, 1);
    assert_held(s, &log, 5, false);
    store_close(&s);
}

static void test_writes_outside_batch_refused(void **state)
{
    struct fixture *f = *state;
    struct store_log log = mklog("EE", "");
    uint8_t env[ENV_BYTES], id[STORE_HASH_BYTES];
    uint64_t number = 0, acked = 9;
    struct store *s = open_ok(f);

    commit_range(s, &log, 1, 1);
    assert_int_equal(append_range(s, &log, 2, 2), -1);
    mkenv(&log, 1, 1, env);
    assert_int_equal(store_add_evidence(s, &log, 1, env, sizeof(env)), -1);
    mkid(&log, 1, 0, id);
    assert_int_equal(store_inbox_add(s, &log, 1, id, 0, &number), -1);
    assert_int_equal(store_cursor_set(s, "desk", 1), -1);

    assert_head(s, &log, 1, false);
    assert_counts(s, 1, 0);
    assert_int_equal(store_inbox_last(s, &number), 0);
    assert_int_equal(number, 0);
    assert_int_equal(store_cursor_get(s, "desk", &acked), 0);
    assert_int_equal(acked, 0);

    /* The same calls inside a batch work. */
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(append_range(s, &log, 2, 2), 0);
    assert_int_equal(store_inbox_add(s, &log, 1, id, 0, &number), 0);
    assert_int_equal(store_cursor_set(s, "desk", 1), 0);
    assert_int_equal(store_commit(s), 0);
    assert_head(s, &log, 2, false);
    store_close(&s);
}

static void test_rollback_drops_batch(void **state)
{
    struct fixture *f = *state;
    struct store_log log = mklog("EE", "");
    struct store *s = open_ok(f);

    commit_range(s, &log, 1, 2);
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(append_range(s, &log, 3, 10), 0);
    assert_head(s, &log, 10, false);
    store_rollback(s);
    assert_false(store_in_batch(s));
    store_rollback(s); /* no batch: nothing happens */
    assert_head(s, &log, 2, false);
    assert_counts(s, 2, 0);
    assert_held(s, &log, 3, false);

    /* The log goes on from the committed head. */
    commit_range(s, &log, 3, 3);
    assert_head(s, &log, 3, false);
    store_close(&s);
}

static void test_uncommitted_batch_lost_on_close(void **state)
{
    struct fixture *f = *state;
    struct store_log log = mklog("EE", "");
    struct store *s = open_ok(f);

    commit_range(s, &log, 1, 5);
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(append_range(s, &log, 6, 9), 0);
    store_close(&s);

    s = open_ok(f);
    assert_head(s, &log, 5, false);
    assert_counts(s, 5, 0);
    assert_held(s, &log, 5, true);
    assert_held(s, &log, 6, false);
    store_close(&s);
}

static void test_get(void **state)
{
    struct fixture *f = *state;
    struct store_log log = mklog("EE", "PL");
    struct store_log other = mklog("EE", "");
    uint8_t *env = NULL;
    size_t len = 0;
    struct store *s = open_ok(f);

    commit_range(s, &log, 1, 2);
    assert_held(s, &log, 1, true);
    assert_held(s, &log, 2, true);
    assert_held(s, &log, 3, false);
    assert_held(s, &log, 0, false);
    assert_held(s, &other, 1, false);
    /* id may be NULL. */
    assert_int_equal(store_get(s, &log, 1, &env, &len, NULL), 1);
    assert_int_equal(len, ENV_BYTES);
    free(env);
    store_close(&s);
}

/* What a range read handed over; stops after `max` envelopes. */
struct range_seen {
    struct store_log log;
    uint64_t next, max, n;
};

static int range_cb(void *arg, uint64_t seq, const uint8_t *env, size_t len)
{
    struct range_seen *r = arg;
    uint8_t want[ENV_BYTES];

    if (r->n == r->max)
        return 1;
    assert_int_equal(seq, r->next);
    assert_int_equal(len, ENV_BYTES);
    mkenv(&r->log, seq, 0, want);
    assert_memory_equal(env, want, ENV_BYTES);
    r->next++;
    r->n++;
    return 0;
}

static int range_fail(void *arg, uint64_t seq, const uint8_t *env, size_t len)
{
    (void)arg;
    (void)seq;
    (void)env;
    (void)len;
    return -1;
}

static void test_get_range(void **state)
{
    struct fixture *f = *state;
    struct range_seen r = {mklog("EE", ""), 3, 100, 0};
    struct store *s = open_ok(f);

    commit_range(s, &r.log, 1, 10);
    /* From 3 to 8, in order, every byte. */
    assert_int_equal(store_get_range(s, &r.log, 3, 8, range_cb, &r), 6);
    assert_int_equal(r.next, 9);
    /* The callback's stop ends the read without taking the envelope. */
    r = (struct range_seen){mklog("EE", ""), 2, 4, 0};
    assert_int_equal(store_get_range(s, &r.log, 2, 10, range_cb, &r), 4);
    assert_int_equal(r.next, 6);
    /* Past the head: only what is held. */
    r = (struct range_seen){mklog("EE", ""), 9, 100, 0};
    assert_int_equal(store_get_range(s, &r.log, 9, 50, range_cb, &r), 2);
    /* Nothing there, an empty range, another log. */
    assert_int_equal(store_get_range(s, &r.log, 11, 20, range_cb, &r), 0);
    assert_int_equal(store_get_range(s, &r.log, 5, 4, range_cb, &r), 0);
    r = (struct range_seen){mklog("PL", ""), 1, 100, 0};
    assert_int_equal(store_get_range(s, &r.log, 1, 10, range_cb, &r), 0);
    /* The callback's failure is the read's. */
    assert_int_equal(store_get_range(s, &r.log, 1, 10, range_fail, NULL), 0);
    r.log = mklog("EE", "");
    assert_int_equal(store_get_range(s, &r.log, 1, 10, range_fail, NULL), -1);
    /* The statement was reset: a plain read works after a failed range. */
    assert_held(s, &r.log, 4, true);
    store_close(&s);
}

static void test_evidence_halts_log(void **state)
{
    struct fixture *f = *state;
    struct store_log log = mklog("FR", "");
    struct store_log other = mklog("SE", "");
    uint8_t env[ENV_BYTES], same[ENV_BYTES];
    struct store *s = open_ok(f);

    commit_range(s, &log, 1, 3);
    commit_range(s, &other, 1, 1);
    assert_int_equal(store_begin(s), 0);
    /* Not evidence: the very envelope held, or a seq nothing holds. */
    mkenv(&log, 2, 0, same);
    assert_int_equal(store_add_evidence(s, &log, 2, same, sizeof(same)), -1);
    mkenv(&log, 4, 1, env);
    assert_int_equal(store_add_evidence(s, &log, 4, env, sizeof(env)), -1);
    assert_head(s, &log, 3, false);
    assert_counts(s, 4, 0);

    mkenv(&log, 2, 1, env);
    assert_int_equal(store_add_evidence(s, &log, 2, env, sizeof(env)), 0);
    assert_int_equal(store_add_evidence(s, &log, 2, env, sizeof(env)), 0); /* kept once */
    assert_int_equal(store_commit(s), 0);
    assert_head(s, &log, 3, true);
    assert_head(s, &other, 1, false);
    assert_counts(s, 4, 1);
    assert_held(s, &log, 2, true); /* the first envelope stays in the log */
    store_close(&s);

    s = open_ok(f);
    assert_head(s, &log, 3, true);
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(append_range(s, &log, 4, 4), -1);
    assert_int_equal(append_range(s, &other, 2, 2), 0); /* other logs go on */
    assert_int_equal(store_commit(s), 0);
    assert_counts(s, 5, 1);
    store_close(&s);
}

struct each_state {
    struct store_log logs[8];
    struct store_head heads[8];
    int n;
    int stop_at; /* return 7 from this call, or never when 0 */
};

static int each_cb(void *arg, const struct store_log *log, const struct store_head *head)
{
    struct each_state *st = arg;

    if (st->n >= 8)
        return -2;
    st->logs[st->n] = *log;
    st->heads[st->n] = *head;
    st->n++;
    return st->n == st->stop_at ? 7 : 0;
}

static void test_each_log(void **state)
{
    struct fixture *f = *state;
    struct store_log logs[] = {mklog("EE", ""), mklog("AA", "ZZ"), mklog("AA", ""),
                               mklog("AA", "BB")};
    uint64_t heads[] = {4, 1, 3, 2};
    /* (origin, peer) order: AA/"", AA/BB, AA/ZZ, EE/"". */
    int order[] = {2, 3, 1, 0};
    struct each_state st = {0};
    uint8_t env[ENV_BYTES];
    struct store *s = open_ok(f);

    assert_int_equal(store_each_log(s, each_cb, &st), 0);
    assert_int_equal(st.n, 0);
    for (size_t i = 0; i < 4; i++)
        commit_range(s, &logs[i], 1, heads[i]);
    mkenv(&logs[1], 1, 1, env);
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(store_add_evidence(s, &logs[1], 1, env, sizeof(env)), 0);
    assert_int_equal(store_commit(s), 0);

    assert_int_equal(store_each_log(s, each_cb, &st), 0);
    assert_int_equal(st.n, 4);
    for (int i = 0; i < 4; i++) {
        const struct store_log *want = &logs[order[i]];
        uint8_t id[STORE_HASH_BYTES];

        assert_string_equal(st.logs[i].origin, want->origin);
        assert_string_equal(st.logs[i].peer, want->peer);
        assert_int_equal(st.heads[i].seq, heads[order[i]]);
        mkid(want, heads[order[i]], 0, id);
        assert_memory_equal(st.heads[i].id, id, STORE_HASH_BYTES);
        assert_int_equal(st.heads[i].is_halted, order[i] == 1);
    }

    /* fn's first non-zero return stops the walk and is returned. */
    memset(&st, 0, sizeof(st));
    st.stop_at = 2;
    assert_int_equal(store_each_log(s, each_cb, &st), 7);
    assert_int_equal(st.n, 2);
    store_close(&s);
}

static void test_inbox(void **state)
{
    struct fixture *f = *state;
    struct store_log a = mklog("EE", ""), b = mklog("PL", "EE");
    uint8_t id[STORE_HASH_BYTES], wrong[STORE_HASH_BYTES];
    struct store_inbox_entry ent;
    uint64_t number = 0, last = 99;
    struct store *s = open_ok(f);

    assert_int_equal(store_inbox_last(s, &last), 0);
    assert_int_equal(last, 0);
    assert_int_equal(store_inbox_next(s, 0, &ent), 0);
    commit_range(s, &a, 1, 3);
    commit_range(s, &b, 1, 1);

    assert_int_equal(store_begin(s), 0);
    mkid(&a, 2, 0, id);
    assert_int_equal(store_inbox_add(s, &a, 2, id, 1700000000, &number), 0);
    assert_int_equal(number, 1);
    mkid(&b, 1, 0, id);
    assert_int_equal(store_inbox_add(s, &b, 1, id, 0, &number), 0);
    assert_int_equal(number, 2);
    mkid(&a, 2, 0, id);
    assert_int_equal(store_inbox_add(s, &a, 2, id, 1700000000, &number), 0);
    assert_int_equal(number, 1); /* the same (log, seq): the same number */
    mkid(&a, 3, 0, id);
    assert_int_equal(store_inbox_add(s, &a, 3, id, 0, &number), 0);
    assert_int_equal(number, 3);

    /* Refused: an envelope not held, an id that is not the one held, and
     * a different id for an entry already in the inbox. */
    mkid(&a, 4, 0, id);
    assert_int_equal(store_inbox_add(s, &a, 4, id, 0, &number), -1);
    mkid(&a, 1, 1, wrong);
    assert_int_equal(store_inbox_add(s, &a, 1, wrong, 0, &number), -1);
    assert_int_equal(store_inbox_add(s, &a, 2, wrong, 0, &number), -1);
    assert_int_equal(store_commit(s), 0);
    assert_int_equal(store_inbox_last(s, &last), 0);
    assert_int_equal(last, 3);
    store_close(&s);

    s = open_ok(f);
    assert_int_equal(store_inbox_next(s, 0, &ent), 1);
    assert_int_equal(ent.number, 1);
    assert_string_equal(ent.log.origin, "EE");
    assert_string_equal(ent.log.peer, "");
    assert_int_equal(ent.seq, 2);
    assert_int_equal(ent.expires_at, 1700000000);
    mkid(&a, 2, 0, id);
    assert_memory_equal(ent.id, id, STORE_HASH_BYTES);
    assert_int_equal(store_inbox_next(s, 1, &ent), 1);
    assert_int_equal(ent.number, 2);
    assert_string_equal(ent.log.origin, "PL");
    assert_string_equal(ent.log.peer, "EE");
    assert_int_equal(ent.seq, 1);
    assert_int_equal(store_inbox_next(s, 2, &ent), 1);
    assert_int_equal(ent.number, 3);
    assert_int_equal(ent.seq, 3);
    assert_int_equal(store_inbox_next(s, 3, &ent), 0);
    assert_int_equal(store_inbox_last(s, &last), 0);
    assert_int_equal(last, 3);
    store_close(&s);
}

static void test_cursors(void **state)
{
    struct fixture *f = *state;
    char long_name[STORE_CLIENT_MAX + 2];
    uint64_t acked = 99;
    struct store *s = open_ok(f);

    assert_int_equal(store_cursor_get(s, "desk", &acked), 0);
    assert_int_equal(acked, 0);
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(store_cursor_set(s, "desk", 5), 0);
    assert_int_equal(store_cursor_set(s, "desk", 3), 0); /* ignored */
    assert_int_equal(store_cursor_set(s, "feed", 2), 0);
    assert_int_equal(store_commit(s), 0);
    assert_int_equal(store_cursor_get(s, "desk", &acked), 0);
    assert_int_equal(acked, 5);

    memset(long_name, 'x', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(store_cursor_set(s, long_name, 1), -1);
    assert_int_equal(store_cursor_set(s, "", 1), -1);
    long_name[STORE_CLIENT_MAX] = '\0';
    assert_int_equal(store_cursor_set(s, long_name, 1), 0);
    assert_int_equal(store_commit(s), 0);
    store_close(&s);

    s = open_ok(f);
    assert_int_equal(store_cursor_get(s, "desk", &acked), 0);
    assert_int_equal(acked, 5);
    assert_int_equal(store_cursor_get(s, "feed", &acked), 0);
    assert_int_equal(acked, 2);
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(store_cursor_set(s, "desk", 0), 0);
    assert_int_equal(store_cursor_set(s, "feed", 7), 0);
    assert_int_equal(store_commit(s), 0);
    assert_int_equal(store_cursor_get(s, "desk", &acked), 0);
    assert_int_equal(acked, 5);
    assert_int_equal(store_cursor_get(s, "feed", &acked), 0);
    assert_int_equal(acked, 7);
    store_close(&s);
}

/* Delivery state: a relayed post to B and C under one id, a TLP:RED post
 * of two envelopes (to D and E) under the first; receipts move a pending
 * entry once; unknown ids and non-recipients find nothing. */
static void test_deliveries(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_ok(f);
    struct store_delivery d[4];
    uint8_t post[STORE_HASH_BYTES], red1[STORE_HASH_BYTES], red2[STORE_HASH_BYTES],
        other[STORE_HASH_BYTES];
    char long_reason[STORE_REASON_MAX + 2];
    size_t n = 99;
    int st = -1;

    memset(post, 1, sizeof(post));
    memset(red1, 2, sizeof(red1));
    memset(red2, 3, sizeof(red2));
    memset(other, 4, sizeof(other));

    /* Writes only inside a batch, and only sound records. */
    assert_int_equal(store_delivery_add(s, post, post, "B", 0, 100), -1);
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(store_delivery_add(s, post, post, "B", STORE_DELIVERY_PENDING, 100), 0);
    assert_int_equal(store_delivery_add(s, post, post, "C", STORE_DELIVERY_PENDING, 100), 0);
    assert_int_equal(store_delivery_add(s, post, post, "C", STORE_DELIVERY_PENDING, 100), -1);
    assert_int_equal(store_delivery_add(s, post, post, "not a member!", 0, 100), -1);
    assert_int_equal(store_delivery_add(s, red1, red1, "D", STORE_DELIVERY_PENDING, 101), 0);
    assert_int_equal(store_delivery_add(s, red1, red2, "E", STORE_DELIVERY_PENDING, 101), 0);
    assert_int_equal(store_commit(s), 0);

    assert_int_equal(store_delivery_get(s, post, d, 4, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(d[0].member, "B");
    assert_string_equal(d[1].member, "C");
    assert_int_equal(d[0].state, STORE_DELIVERY_PENDING);
    assert_string_equal(d[0].reason, "");
    assert_int_equal(d[0].at, 100);
    assert_memory_equal(d[1].id, post, STORE_HASH_BYTES);
    /* Any envelope of a direct post finds all of it. */
    assert_int_equal(store_delivery_get(s, red2, d, 4, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(d[0].member, "D");
    assert_memory_equal(d[0].id, red1, STORE_HASH_BYTES);
    assert_string_equal(d[1].member, "E");
    assert_memory_equal(d[1].id, red2, STORE_HASH_BYTES);
    assert_int_equal(store_delivery_get(s, other, d, 4, &n), 0);
    assert_int_equal(n, 0);
    /* Room for fewer than the post's recipients is an error. */
    assert_int_equal(store_delivery_get(s, post, d, 1, &n), -1);
    assert_int_equal(n, 0);

    assert_int_equal(store_delivery_find(s, post, "B", &st), 1);
    assert_int_equal(st, STORE_DELIVERY_PENDING);
    assert_int_equal(store_delivery_find(s, post, "D", &st), 0);
    assert_int_equal(store_delivery_find(s, post, NULL, &st), 1);
    assert_int_equal(store_delivery_find(s, red1, "E", &st), 0);
    assert_int_equal(store_delivery_find(s, other, NULL, &st), 0);

    /* Receipts: the first word is final; unknown pairs move nothing. */
    assert_int_equal(store_delivery_set(s, post, "B", 1, "", 200), -1); /* no batch */
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(store_delivery_set(s, post, "B", 1, "", 200), 1);
    assert_int_equal(store_delivery_set(s, post, "B", 2, "too late", 201), 0);
    assert_int_equal(store_delivery_set(s, post, "D", 1, "", 200), 0);
    assert_int_equal(store_delivery_set(s, red2, "E", 2, "refused by the board: not-owner", 202),
                     1);
    memset(long_reason, 'r', sizeof(long_reason) - 1);
    long_reason[sizeof(long_reason) - 1] = '\0';
    assert_int_equal(store_delivery_set(s, post, "C", 2, long_reason, 203), -1);
    assert_int_equal(store_commit(s), 0);
    store_close(&s);

    s = open_ok(f);
    assert_int_equal(store_delivery_get(s, post, d, 4, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(d[0].state, 1);
    assert_int_equal(d[0].at, 200);
    assert_string_equal(d[0].reason, "");
    assert_int_equal(d[1].state, STORE_DELIVERY_PENDING);
    assert_int_equal(store_delivery_get(s, red1, d, 4, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(d[0].state, STORE_DELIVERY_PENDING);
    assert_int_equal(d[1].state, 2);
    assert_string_equal(d[1].reason, "refused by the board: not-owner");
    assert_int_equal(d[1].at, 202);
    store_close(&s);
}

static void test_second_open_refused(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_ok(f);
    struct store *again;
    pid_t pid;
    int st;

    again = store_open(f->dir, tu_store_key);
    assert_null(again);

    /* Another process, as a second tmbusd would be. */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct store *c = store_open(f->dir, tu_store_key);
        _exit(c == NULL ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);

    /* The control: once the first is closed, the directory opens again. */
    store_close(&s);
    s = open_ok(f);
    store_close(&s);
}

/* Writes v as the database header's user_version (offset 60, big-endian). */
static void poke_user_version(const char *dir, uint32_t v)
{
    char path[PATH_BYTES + 32];
    uint8_t be[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    int fd;

    snprintf(path, sizeof(path), "%s/tmbus.db-wal", dir);
    assert_int_equal(access(path, F_OK), -1); /* everything is in the main file */
    snprintf(path, sizeof(path), "%s/tmbus.db", dir);
    fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, be, sizeof(be), 60), (ssize_t)sizeof(be));
    assert_int_equal(close(fd), 0);
}

/* The trusted roster: absent at first, kept across a reopen, readable by
 * the lock-free peek beside an open store, and never moved back. */
static void test_trusted_roster(void **state)
{
    struct fixture *f = *state;
    struct store *s;
    uint8_t hash[STORE_HASH_BYTES] = {1}, v2[] = {2, 2, 2}, v3[] = {3, 3, 3, 3};
    uint8_t *buf;
    size_t len;

    assert_int_equal(store_roster_peek(f->dir, &buf, &len), 0);
    s = open_ok(f);
    assert_int_equal(store_roster_get(s, &buf, &len), 0);
    assert_null(buf);
    assert_int_equal(store_roster_peek(f->dir, &buf, &len), 0);
    assert_int_equal(store_roster_put(s, v2, sizeof(v2), 2, hash), 0);
    assert_false(store_in_batch(s));
    store_close(&s);

    s = open_ok(f);
    assert_int_equal(store_roster_get(s, &buf, &len), 1);
    assert_int_equal(len, sizeof(v2));
    assert_memory_equal(buf, v2, sizeof(v2));
    free(buf);
    assert_int_equal(store_roster_peek(f->dir, &buf, &len), 1);
    assert_memory_equal(buf, v2, sizeof(v2));
    free(buf);
    /* Older is refused and changes nothing; newer inside a batch commits
     * with it. */
    assert_int_equal(store_roster_put(s, v3, sizeof(v3), 1, hash), -1);
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(store_roster_put(s, v3, sizeof(v3), 3, hash), 0);
    store_rollback(s);
    assert_int_equal(store_roster_get(s, &buf, &len), 1);
    assert_memory_equal(buf, v2, sizeof(v2));
    free(buf);
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(store_roster_put(s, v3, sizeof(v3), 3, hash), 0);
    assert_int_equal(store_commit(s), 0);
    assert_int_equal(store_roster_get(s, &buf, &len), 1);
    assert_int_equal(len, sizeof(v3));
    free(buf);
    assert_int_equal(store_roster_put(s, NULL, 0, 4, hash), -1);
    store_close(&s);
}

static void test_newer_schema_refused(void **state)
{
    struct fixture *f = *state;
    struct store_log log = mklog("EE", "");
    struct store *s = open_ok(f);

    commit_range(s, &log, 1, 1);
    store_close(&s);

    /* Rewriting the current version is harmless: the poke itself works. */
    poke_user_version(f->dir, STORE_SCHEMA);
    s = open_ok(f);
    assert_head(s, &log, 1, false);
    store_close(&s);

    poke_user_version(f->dir, STORE_SCHEMA + 1);
    assert_null(store_open(f->dir, tu_store_key));
    assert_null(store_open(f->dir, tu_store_key)); /* and it stays refused */
}

static void test_crash_mid_batch(void **state)
{
    struct fixture *f = *state;
    struct store_log log = mklog("EE", "");
    pid_t pid;
    int st;

    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct store *c = store_open(f->dir, tu_store_key);

        if (c == NULL)
            _exit(10);
        if (store_begin(c) != 0 || append_range(c, &log, 1, 10) != 0)
            _exit(11);
        if (store_commit(c) != 0)
            _exit(12);
        /* Larger than SQLite's page cache, so uncommitted pages spill into
         * the WAL before the process dies. */
        if (store_begin(c) != 0 || append_range(c, &log, 11, 4000) != 0)
            _exit(13);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);

    struct store *s = open_ok(f);
    assert_head(s, &log, 10, false);
    assert_counts(s, 10, 0);
    assert_held(s, &log, 10, true);
    assert_held(s, &log, 11, false);
    commit_range(s, &log, 11, 11); /* and the log carries on from there */
    store_close(&s);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_throughput(void **state)
{
    struct fixture *f = *state;
    struct store_log log = mklog("EE", "");
    struct store *s = open_ok(f);
    uint64_t seq = 0;
    double t0, t1, t, t_commit = 0;

    /* Measured, not asserted: the number depends on the disk. It includes
     * building the test envelopes, which is small next to the store. */
    t0 = now_s();
    for (int b = 0; b < BENCH_BATCHES; b++) {
        assert_int_equal(store_begin(s), 0);
        assert_int_equal(append_range(s, &log, seq + 1, seq + BENCH_BATCH), 0);
        t1 = now_s();
        assert_int_equal(store_commit(s), 0);
        t_commit += now_s() - t1;
        seq += BENCH_BATCH;
    }
    t = now_s() - t0;
    assert_head(s, &log, seq, false);
    printf("store: %llu appends of %d B in batches of %d: %.3f s, %.0f appends/s "
           "(%.0f%% of the time in commit, %.2f ms a commit)\n",
           (unsigned long long)seq, ENV_BYTES, BENCH_BATCH, t, (double)seq / t,
           100.0 * t_commit / t, 1000.0 * t_commit / BENCH_BATCHES);
    store_close(&s);
}

/* ---- board tables ---- */

static int count_need(void *arg, const struct store_board_need *n)
{
    size_t *count = arg;

    assert_int_equal(n->need_len, 3);
    (*count)++;
    return 0;
}

static int count_offer(void *arg, const struct store_board_offer *o)
{
    size_t *count = arg;

    (void)o;
    (*count)++;
    return 0;
}

static int take_waiting(void *arg, const struct store_board_update *u)
{
    struct store_board_update *out = arg;

    *out = *u;
    out->body = NULL; /* the store frees it after the call */
    assert_int_equal(u->body_len, 2);
    assert_memory_equal(u->body, "\x08\x01", 2);
    return 7;
}

static void test_board_tables(void **state)
{
    struct fixture *f = *state;
    struct store *s = store_open(f->dir, tu_store_key);
    struct store_board_need n = {0}, got_n;
    struct store_board_offer o = {0}, got_o;
    struct store_board_update u = {0}, got_u;
    uint8_t need_blob[] = {1, 2, 3}, offer_blob[] = {4, 5}, body[] = {8, 1};
    uint8_t other[STORE_HASH_BYTES];
    size_t count = 0;

    assert_non_null(s);
    memset(n.id, 0x11, sizeof(n.id));
    strcpy(n.owner, "UA");
    n.created_at = 1700000000;
    n.status = 1;
    n.tlp = 3;
    n.category = 4;
    n.quantity = 10;
    n.need = need_blob;
    n.need_len = sizeof(need_blob);

    /* Writes only inside a batch. */
    assert_int_equal(store_board_need_put(s, &n), -1);
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(store_board_need_get(s, n.id, &got_n), 0);
    assert_int_equal(store_board_knows(s, n.id), 0);
    assert_int_equal(store_board_need_put(s, &n), 0);
    n.accepted_quantity = 4;
    n.status = 2;
    assert_int_equal(store_board_need_put(s, &n), 0); /* replaced */
    assert_int_equal(store_board_need_get(s, n.id, &got_n), 1);
    assert_string_equal(got_n.owner, "UA");
    assert_int_equal(got_n.status, 2);
    assert_int_equal(got_n.accepted_quantity, 4);
    assert_int_equal(got_n.quantity, 10);
    assert_int_equal(got_n.tlp, 3);
    assert_int_equal(got_n.need_len, 3);
    assert_memory_equal(got_n.need, need_blob, 3);
    free(got_n.need);
    assert_int_equal(store_board_knows(s, n.id), 1);

    /* A bad owner or an oversized blob is refused. */
    strcpy(got_n.owner, "not a member!");
    got_n.need = need_blob;
    assert_int_equal(store_board_need_put(s, &got_n), -1);

    memset(o.id, 0x22, sizeof(o.id));
    strcpy(o.donor, "EE");
    o.has_need = true;
    memcpy(o.need_id, n.id, sizeof(o.need_id));
    o.status = 1;
    o.quantity = 4;
    o.offer = offer_blob;
    o.offer_len = sizeof(offer_blob);
    assert_int_equal(store_board_offer_put(s, &o), 0);
    memset(o.id, 0x23, sizeof(o.id));
    o.has_need = false; /* a catalogue offer */
    assert_int_equal(store_board_offer_put(s, &o), 0);
    assert_int_equal(store_board_offer_get(s, o.id, &got_o), 1);
    assert_false(got_o.has_need);
    assert_string_equal(got_o.donor, "EE");
    free(got_o.offer);

    assert_int_equal(store_board_each_need(s, NULL, -1, count_need, &count), 0);
    assert_int_equal(count, 1);
    count = 0;
    assert_int_equal(store_board_each_need(s, NULL, 1, count_need, &count), 0);
    assert_int_equal(count, 0);
    assert_int_equal(store_board_each_need(s, NULL, 2, count_need, &count), 0);
    assert_int_equal(count, 1);
    count = 0;
    assert_int_equal(store_board_each_offer(s, NULL, count_offer, &count), 0);
    assert_int_equal(count, 2);
    count = 0;
    assert_int_equal(store_board_each_offer(s, n.id, count_offer, &count), 0);
    assert_int_equal(count, 1);

    /* Updates: kept with their place in the log; waiting ones come back. */
    memset(u.id, 0x33, sizeof(u.id));
    u.log = mklog("UA", "");
    u.seq = 5;
    strcpy(u.sender, "UA");
    u.kind = 2;
    u.action = 1;
    memset(u.target, 0x44, sizeof(u.target));
    u.outcome = -1;
    u.is_waiting = true;
    memset(u.awaits, 0x44, sizeof(u.awaits));
    u.body = body;
    u.body_len = sizeof(body);
    assert_int_equal(store_board_update_put(s, &u), 0);
    assert_int_equal(store_board_knows(s, u.id), 1);
    memset(other, 0x55, sizeof(other));
    assert_int_equal(store_board_each_waiting(s, other, take_waiting, &got_u), 0);
    assert_int_equal(store_board_each_waiting(s, u.awaits, take_waiting, &got_u), 7);
    assert_int_equal(got_u.seq, 5);
    assert_string_equal(got_u.log.origin, "UA");
    assert_true(got_u.is_waiting);
    /* Applied at last: no longer waiting. */
    u.is_waiting = false;
    u.outcome = 0;
    assert_int_equal(store_board_update_put(s, &u), 0);
    assert_int_equal(store_board_each_waiting(s, u.awaits, take_waiting, &got_u), 0);

    /* The board commits and survives a reopen. */
    assert_int_equal(store_commit(s), 0);
    store_close(&s);
    assert_non_null(s = store_open(f->dir, tu_store_key));
    assert_int_equal(store_board_knows(s, n.id), 1);
    assert_int_equal(store_board_offer_get(s, o.id, &got_o), 1);
    free(got_o.offer);
    store_close(&s);
}

/* ---- sealing at rest ---- */

#define MARKER "sealed-marker-7f3a91"
#define ID71   "7171717171717171717171717171717171717171717171717171717171717171"
#define ID72   "7272727272727272727272727272727272727272727272727272727272727272"
#define ID73   "7373737373737373737373737373737373737373737373737373737373737373"

/* 1 when the file holds needle, 0 when not (or when it does not exist). */
static int file_contains(const char *path, const char *needle)
{
    FILE *fp = fopen(path, "rb");
    size_t n = strlen(needle), len = 0, cap = 0, got;
    char *buf = NULL;
    int found = 0;

    if (fp == NULL)
        return 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? 2 * cap : 65536;
            assert_non_null(buf = realloc(buf, cap));
        }
        if ((got = fread(buf + len, 1, cap - len, fp)) == 0)
            break;
        len += got;
    }
    fclose(fp);
    for (size_t i = 0; !found && n > 0 && i + n <= len; i++)
        found = memcmp(buf + i, needle, n) == 0;
    free(buf);
    return found;
}

static int dir_contains(const char *dir, const char *needle)
{
    static const char *const names[] = {"tmbus.db", "tmbus.db-wal", "tmbus.db-shm"};
    char path[PATH_BYTES + 32];
    int found = 0;

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        found |= file_contains(path, needle);
    }
    return found;
}

/* Puts a need whose blob is text under id byte b. */
static void put_need(struct store *s, uint8_t b, const char *text)
{
    struct store_board_need n = {0};

    memset(n.id, b, sizeof(n.id));
    strcpy(n.owner, "UA");
    n.status = 1;
    n.tlp = 5;
    n.quantity = 1;
    n.need = (uint8_t *)(uintptr_t)text;
    n.need_len = strlen(text);
    assert_int_equal(store_board_need_put(s, &n), 0);
}

/* 1 and the need's text in out (size bytes), 0, or -1 as need_get. */
static int get_need(struct store *s, uint8_t b, char *out, size_t size)
{
    struct store_board_need got;
    uint8_t id[STORE_HASH_BYTES];
    int rc;

    memset(id, b, sizeof(id));
    if ((rc = store_board_need_get(s, id, &got)) == 1) {
        assert_true(got.need_len < size);
        memcpy(out, got.need, got.need_len);
        out[got.need_len] = '\0';
        free(got.need);
    }
    return rc;
}

static void raw_exec(const char *dir, const char *sql)
{
    char path[PATH_BYTES + 32];
    sqlite3 *db;

    snprintf(path, sizeof(path), "%s/tmbus.db", dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* The one integer a query answers, through a connection of its own. */
static long long raw_count(const char *dir, const char *sql)
{
    char path[PATH_BYTES + 32];
    sqlite3_stmt *st;
    sqlite3 *db;
    long long n;

    snprintf(path, sizeof(path), "%s/tmbus.db", dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    return n;
}

/* The kept digest sum follows every put, a replaced row's hash leaving it,
 * and equals one computed from the rows; a store without one (migrated
 * from before schema 11) computes it until the rebuild keeps it. */
static void test_board_digest_kept(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_ok(f);
    uint8_t empty[STORE_BOARD_DIGEST_BYTES], kept[STORE_BOARD_DIGEST_BYTES];
    uint8_t computed[STORE_BOARD_DIGEST_BYTES], one[STORE_BOARD_DIGEST_BYTES];
    struct store_board_offer o = {0};
    bool is_done;

    assert_int_equal(store_board_digest(s, empty), 0);
    assert_int_equal(store_board_digest_compute(s, computed), 0);
    assert_memory_equal(empty, computed, sizeof(empty));
    assert_int_equal(store_begin(s), 0);
    put_need(s, 0x11, "first");
    assert_int_equal(store_board_digest(s, one), 0);
    assert_memory_not_equal(one, empty, sizeof(one));
    put_need(s, 0x12, "second");
    put_need(s, 0x12, "second, edited");
    memset(o.id, 0x13, sizeof(o.id));
    strcpy(o.donor, "EE");
    o.has_need = true;
    memset(o.need_id, 0x11, sizeof(o.need_id));
    o.status = 1;
    o.offer = (uint8_t *)(uintptr_t) "offer";
    o.offer_len = 5;
    assert_int_equal(store_board_offer_put(s, &o), 0);
    o.status = 2;
    assert_int_equal(store_board_offer_put(s, &o), 0);
    assert_int_equal(store_board_digest(s, kept), 0);
    assert_int_equal(store_board_digest_compute(s, computed), 0);
    assert_memory_equal(kept, computed, sizeof(kept));
    store_rollback(s);
    assert_int_equal(store_board_digest(s, kept), 0);
    assert_memory_equal(kept, empty, sizeof(kept)); /* rolled back with the rows */
    assert_int_equal(store_begin(s), 0);
    put_need(s, 0x11, "first");
    put_need(s, 0x12, "second");
    assert_int_equal(store_commit(s), 0);
    assert_int_equal(store_board_digest(s, kept), 0);
    store_close(&s);

    raw_exec(f->dir, "UPDATE board_digest SET sum = NULL");
    s = open_ok(f);
    assert_int_equal(store_board_digest(s, computed), 0);
    assert_memory_equal(kept, computed, sizeof(kept));
    assert_int_equal(store_begin(s), 0);
    put_need(s, 0x14, "while unknown"); /* counted by the rebuild */
    assert_int_equal(store_board_digest_rebuild(s, &is_done), 0);
    assert_true(is_done);
    assert_int_equal(store_board_digest_rebuild(s, &is_done), 0);
    assert_false(is_done);
    assert_int_equal(store_commit(s), 0);
    assert_int_equal(raw_count(f->dir, "SELECT count(*) FROM board_digest WHERE sum IS NULL"), 0);
    assert_int_equal(store_board_digest(s, kept), 0);
    assert_int_equal(store_board_digest_compute(s, computed), 0);
    assert_memory_equal(kept, computed, sizeof(kept));
    store_close(&s);
}

/* The counts the store keeps equal a fresh count of the rows. */
static void assert_counts_fresh(struct store *s, const struct store_board_counts *want)
{
    struct store_board_counts kept, fresh;

    assert_int_equal(store_board_count(s, &kept), 0);
    assert_int_equal(store_board_recount(s, &fresh), 0);
    assert_memory_equal(&kept, &fresh, sizeof(kept));
    if (want != NULL)
        assert_memory_equal(&kept, want, sizeof(kept));
}

static void put_offer(struct store *s, uint8_t b, int status)
{
    struct store_board_offer o = {0};

    memset(o.id, b, sizeof(o.id));
    strcpy(o.donor, "EE");
    o.status = status;
    o.offer = (uint8_t *)(uintptr_t) "offer";
    o.offer_len = 5;
    assert_int_equal(store_board_offer_put(s, &o), 0);
}

/* The counts by status follow every put (new rows, status changes, rows
 * put again unchanged), every drop and a rollback; a store from before
 * schema 17 is counted once by the migration; counts found out of step
 * (edited by hand here) are counted again by the next write that moves
 * one, and a status outside the tracked range counts in the totals. */
static void test_board_counts_kept(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_ok(f);
    struct store_board_counts want = {0};
    uint8_t id[STORE_HASH_BYTES];

    assert_counts_fresh(s, &want);
    assert_int_equal(store_begin(s), 0);
    put_need(s, 0x31, "one");
    put_need(s, 0x32, "two");
    put_need(s, 0x32, "two, edited"); /* the same row, the same status */
    put_offer(s, 0x41, 1);
    put_offer(s, 0x42, 1);
    put_offer(s, 0x43, 1);
    put_offer(s, 0x42, 2); /* accepted */
    put_offer(s, 0x43, 6); /* withdrawn */
    memset(id, 0x41, sizeof(id));
    assert_int_equal(store_board_offer_drop(s, id), 0); /* a late offer dropped */
    assert_int_equal(store_board_offer_drop(s, id), 0); /* nothing left to drop */
    want.needs = 2;
    want.need_status[1] = 2;
    want.offers = 2;
    want.offer_status[2] = 1;
    want.offer_status[6] = 1;
    assert_counts_fresh(s, &want);
    store_rollback(s);
    memset(&want, 0, sizeof(want));
    assert_counts_fresh(s, &want); /* rolled back with the rows */

    assert_int_equal(store_begin(s), 0);
    put_need(s, 0x31, "one");
    put_offer(s, 0x41, 1);
    put_offer(s, 0x42, 5);
    put_offer(s, 0x44, STORE_BOARD_STATUSES + 3);
    assert_int_equal(store_commit(s), 0);
    want.needs = 1;
    want.need_status[1] = 1;
    want.offers = 3;
    want.offer_status[1] = 1;
    want.offer_status[5] = 1;
    assert_counts_fresh(s, &want);
    store_close(&s);

    /* A restart keeps them. */
    s = open_ok(f);
    assert_counts_fresh(s, &want);
    store_close(&s);

    /* A store of schema 16 has no table: the migration counts (the later
     * steps' columns go too, so that they can be added again). */
    raw_exec(f->dir, "DROP TABLE board_counts;"
                     " ALTER TABLE audit_checkpoints DROP COLUMN epoch;"
                     " ALTER TABLE audit_peer_checkpoints DROP COLUMN epoch;");
    poke_user_version(f->dir, 16);
    s = open_ok(f);
    assert_counts_fresh(s, &want);
    store_close(&s);

    /* Out of step: the next step down finds no row and counts again. */
    raw_exec(f->dir, "DELETE FROM board_counts WHERE kind = 1");
    s = open_ok(f);
    assert_int_equal(store_begin(s), 0);
    put_offer(s, 0x41, 2);
    assert_int_equal(store_commit(s), 0);
    want.offer_status[1] = 0;
    want.offer_status[2] = 1;
    assert_counts_fresh(s, &want);
    store_close(&s);
}

static int keep_need_row(void *arg, const struct store_board_need *n)
{
    *(struct store_board_need *)arg = *n;
    return 0;
}

/* A report's facts round-trip in clear; a row from before schema 13 (NULL
 * there) reads as not filled, is listed as such, and leaves that list once
 * put back. */
static void test_board_facts(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_ok(f);
    struct store_board_need n = {0}, got;
    uint8_t ids[4][STORE_HASH_BYTES];
    size_t count;

    memset(n.id, 0x21, sizeof(n.id));
    strcpy(n.owner, "UA");
    n.status = 1;
    n.tlp = 3;
    n.quantity = 4;
    n.value_cents = 123456;
    n.sector = 7;
    strcpy(n.deadline, "2027-01-31");
    n.need = (uint8_t *)(uintptr_t) "need";
    n.need_len = 4;
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(store_board_need_put(s, &n), 0);
    assert_int_equal(store_commit(s), 0);
    memset(&got, 0, sizeof(got));
    assert_int_equal(store_board_need_facts(s, 3, keep_need_row, &got), 0);
    assert_true(got.has_facts);
    assert_null(got.need);
    assert_int_equal(got.value_cents, 123456);
    assert_int_equal(got.sector, 7);
    assert_string_equal(got.deadline, "2027-01-31");
    assert_int_equal(got.quantity, 4);
    memset(&got, 0, sizeof(got));
    assert_int_equal(store_board_need_facts(s, 2, keep_need_row, &got), 0);
    assert_false(got.has_facts); /* above the clearance: not read */
    assert_int_equal(store_board_unfilled(s, false, NULL, ids, 4, &count), 0);
    assert_int_equal(count, 0);
    store_close(&s);

    raw_exec(f->dir, "UPDATE board_needs SET value_cents = NULL, sector = NULL, deadline = NULL");
    s = open_ok(f);
    assert_int_equal(store_board_unfilled(s, false, NULL, ids, 4, &count), 0);
    assert_int_equal(count, 1);
    assert_memory_equal(ids[0], n.id, sizeof(n.id));
    assert_int_equal(store_board_unfilled(s, false, ids[0], ids, 4, &count), 0);
    assert_int_equal(count, 0);
    assert_int_equal(store_board_need_get(s, n.id, &got), 1);
    assert_false(got.has_facts);
    got.value_cents = 5;
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(store_board_need_put(s, &got), 0);
    assert_int_equal(store_commit(s), 0);
    free(got.need);
    assert_int_equal(store_board_unfilled(s, false, NULL, ids, 4, &count), 0);
    assert_int_equal(count, 0);
    store_close(&s);
}

/* The board's blobs round-trip in clear through the interface, while the
 * files hold no byte of them; another key cannot open the store. */
static void test_board_sealed_at_rest(void **state)
{
    struct fixture *f = *state;
    struct store *s = store_open(f->dir, tu_store_key);
    uint8_t other_key[STORE_KEY_BYTES];
    struct store_board_update u = {0};
    struct store_board_offer o = {0}, got_o;
    char text[128];

    assert_non_null(s);
    assert_int_equal(store_begin(s), 0);
    put_need(s, 0x61, "need " MARKER);
    memset(o.id, 0x62, sizeof(o.id));
    strcpy(o.donor, "EE");
    o.offer = (uint8_t *)"offer " MARKER;
    o.offer_len = strlen((const char *)o.offer);
    assert_int_equal(store_board_offer_put(s, &o), 0);
    memset(u.id, 0x63, sizeof(u.id));
    u.log = mklog("UA", "");
    u.seq = 1;
    strcpy(u.sender, "UA");
    memset(u.target, 0x61, sizeof(u.target));
    u.body = (uint8_t *)"update " MARKER;
    u.body_len = strlen((const char *)u.body);
    assert_int_equal(store_board_update_put(s, &u), 0);
    put_need(s, 0x64, ""); /* an empty blob seals and opens too */
    assert_int_equal(store_commit(s), 0);

    /* In the WAL while open, in the database after close: nowhere. */
    assert_int_equal(dir_contains(f->dir, MARKER), 0);
    store_close(&s);
    assert_int_equal(dir_contains(f->dir, MARKER), 0);
    /* The scan itself works: the plain id column is there to be found. */
    {
        char id_text[STORE_HASH_BYTES + 1];
        memset(id_text, 0x61, STORE_HASH_BYTES);
        id_text[STORE_HASH_BYTES] = '\0';
        assert_int_equal(dir_contains(f->dir, id_text), 1);
    }

    assert_non_null(s = store_open(f->dir, tu_store_key));
    assert_int_equal(get_need(s, 0x61, text, sizeof(text)), 1);
    assert_string_equal(text, "need " MARKER);
    assert_int_equal(get_need(s, 0x64, text, sizeof(text)), 1);
    assert_string_equal(text, "");
    assert_int_equal(store_board_offer_get(s, o.id, &got_o), 1);
    assert_int_equal(got_o.offer_len, o.offer_len);
    assert_memory_equal(got_o.offer, o.offer, o.offer_len);
    free(got_o.offer);
    store_close(&s);

    /* Another member's key: refused at open, not at the first read. */
    memcpy(other_key, tu_store_key, sizeof(other_key));
    other_key[0] ^= 1;
    assert_null(store_open(f->dir, other_key));
    assert_null(store_open(f->dir, NULL));
    assert_non_null(s = store_open(f->dir, tu_store_key));
    store_close(&s);
}

/* A member that rotates its keys keeps its store: the first open with the
 * new key and the previous one wraps the data key again, after which the
 * new key alone opens it, the old one no longer does, and the board reads
 * as before. Without the previous key the store stays refused. */
static void test_store_survives_key_rotation(void **state)
{
    struct fixture *f = *state;
    struct store *s = store_open(f->dir, tu_store_key);
    uint8_t new_key[STORE_KEY_BYTES], wrong[STORE_KEY_BYTES];
    char text[128];

    assert_non_null(s);
    assert_int_equal(store_begin(s), 0);
    put_need(s, 0x71, "need " MARKER);
    assert_int_equal(store_commit(s), 0);
    store_close(&s);

    memset(new_key, 0x5a, sizeof(new_key));
    memset(wrong, 0xa5, sizeof(wrong));
    assert_null(store_open(f->dir, new_key));
    assert_null(store_open_rotated(f->dir, new_key, wrong));
    assert_non_null(s = store_open_rotated(f->dir, new_key, tu_store_key));
    store_close(&s);
    assert_non_null(s = store_open(f->dir, new_key));
    assert_int_equal(get_need(s, 0x71, text, sizeof(text)), 1);
    assert_string_equal(text, "need " MARKER);
    store_close(&s);
    assert_null(store_open(f->dir, tu_store_key));
    /* Given both once more (an operator who left the option in), the
     * current key wins and nothing changes. */
    assert_non_null(s = store_open_rotated(f->dir, new_key, tu_store_key));
    store_close(&s);
    assert_int_equal(dir_contains(f->dir, MARKER), 0);
}

/* A sealed blob is bound to its row and column: copied onto another row,
 * moved into another column or altered by one bit, it does not open, and
 * the rows around it still do. */
static void test_board_swapped_blob_refused(void **state)
{
    struct fixture *f = *state;
    struct store *s = store_open(f->dir, tu_store_key);
    struct store_board_offer o = {0}, got_o;
    char text[128];

    assert_non_null(s);
    assert_int_equal(store_begin(s), 0);
    put_need(s, 0x71, "first need");
    put_need(s, 0x72, "second need");
    put_need(s, 0x73, "third need");
    memset(o.id, 0x71, sizeof(o.id)); /* the same id as a need */
    strcpy(o.donor, "EE");
    o.offer = (uint8_t *)"an offer";
    o.offer_len = strlen((const char *)o.offer);
    assert_int_equal(store_board_offer_put(s, &o), 0);
    assert_int_equal(store_commit(s), 0);
    store_close(&s);

    /* Row swap: need 0x73 gets need 0x72's blob. Column swap: need 0x71
     * gets the blob of the offer with the same id. */
    raw_exec(f->dir,
             "UPDATE board_needs SET need = (SELECT need FROM board_needs WHERE id = x'" ID72
             "') WHERE id = x'" ID73 "'");
    raw_exec(f->dir, "UPDATE board_needs SET need = (SELECT offer FROM board_offers)"
                     " WHERE id = x'" ID71 "'");
    assert_non_null(s = store_open(f->dir, tu_store_key));
    assert_int_equal(get_need(s, 0x71, text, sizeof(text)), -1);
    assert_int_equal(get_need(s, 0x73, text, sizeof(text)), -1);
    assert_int_equal(get_need(s, 0x72, text, sizeof(text)), 1);
    assert_string_equal(text, "second need");
    assert_int_equal(store_board_offer_get(s, o.id, &got_o), 1);
    free(got_o.offer);
    store_close(&s);

    /* One changed byte in the ciphertext of need 0x72. */
    raw_exec(f->dir, "UPDATE board_needs SET need = substr(need, 1, 30) ||"
                     " CASE WHEN substr(need, 31, 1) = x'00' THEN x'01' ELSE x'00' END ||"
                     " substr(need, 32) WHERE id = x'" ID72 "'");
    assert_non_null(s = store_open(f->dir, tu_store_key));
    assert_int_equal(get_need(s, 0x72, text, sizeof(text)), -1);
    store_close(&s);
}

/* A store written before sealing (schema 4, the board in clear) is sealed
 * in place when opened, and not one byte of the old plaintext is left in
 * its files. */
static void test_migration_seals_plaintext(void **state)
{
    struct fixture *f = *state;
    struct store *s = store_open(f->dir, tu_store_key);
    char text[128];

    assert_non_null(s);
    assert_int_equal(store_begin(s), 0);
    put_need(s, 0x81, "placeholder");
    assert_int_equal(store_commit(s), 0);
    store_close(&s);
    /* Back to what schema 4 wrote: the blob in clear, no key check. */
    raw_exec(f->dir, "UPDATE board_needs SET need = CAST('old " MARKER "' AS BLOB);"
                     " DROP TABLE key_check; DROP TABLE roster_trusted; DROP TABLE post_clients;"
                     " DROP TABLE board_digest;"
                     " ALTER TABLE audit_checkpoints DROP COLUMN epoch;"
                     " ALTER TABLE audit_peer_checkpoints DROP COLUMN epoch;"
                     /* Schema 9 rebuilt needs and offers; give them back
                      * the shape schema 4 had (a rowid table). */
                     " CREATE TABLE n4 (id BLOB PRIMARY KEY, owner TEXT NOT NULL,"
                     " created_at INTEGER NOT NULL, status INTEGER NOT NULL, tlp INTEGER NOT NULL,"
                     " category INTEGER NOT NULL, quantity INTEGER NOT NULL,"
                     " accepted INTEGER NOT NULL, delivered INTEGER NOT NULL, need BLOB NOT NULL);"
                     " INSERT INTO n4 SELECT id, owner, created_at, status, tlp, category,"
                     " quantity, accepted, delivered, need FROM board_needs;"
                     " DROP TABLE board_needs; ALTER TABLE n4 RENAME TO board_needs;"
                     " CREATE INDEX board_needs_status ON board_needs (status, created_at);"
                     " CREATE TABLE o4 (id BLOB PRIMARY KEY, donor TEXT NOT NULL,"
                     " created_at INTEGER NOT NULL, need_id BLOB, status INTEGER NOT NULL,"
                     " tlp INTEGER NOT NULL, quantity INTEGER NOT NULL, offer BLOB NOT NULL);"
                     " DROP TABLE board_offers; ALTER TABLE o4 RENAME TO board_offers;"
                     " CREATE INDEX board_offers_need ON board_offers (need_id, created_at);"
                     " PRAGMA user_version = 4;");
    assert_int_equal(dir_contains(f->dir, MARKER), 1); /* the scan sees it */

    assert_non_null(s = store_open(f->dir, tu_store_key));
    assert_int_equal(dir_contains(f->dir, MARKER), 0);
    assert_int_equal(get_need(s, 0x81, text, sizeof(text)), 1);
    assert_string_equal(text, "old " MARKER);
    store_close(&s);
    assert_int_equal(dir_contains(f->dir, MARKER), 0);
}

/* A store of schema 7 (envelopes with an index on id) is rebuilt without
 * it: every envelope, inbox entry and their order survive, and the store
 * appends as before (migrate itself refuses to go on unless foreign keys
 * are on again). */
static void test_migration_drops_envelope_id_index(void **state)
{
    struct fixture *f = *state;
    struct store_log a = mklog("EE", "");
    uint8_t id[STORE_HASH_BYTES];
    struct store_inbox_entry ent;
    uint64_t number = 0;
    struct store *s = open_ok(f);

    commit_range(s, &a, 1, 3);
    assert_int_equal(store_begin(s), 0);
    mkid(&a, 2, 0, id);
    assert_int_equal(store_inbox_add(s, &a, 2, id, 0, &number), 0);
    assert_int_equal(store_commit(s), 0);
    store_close(&s);
    /* Back to schema 7's table, rows and all. */
    raw_exec(f->dir,
             "CREATE TABLE old (origin TEXT NOT NULL, peer TEXT NOT NULL,"
             " seq INTEGER NOT NULL CHECK (seq >= 1),"
             " id BLOB NOT NULL UNIQUE CHECK (length(id) = 32),"
             " prev BLOB CHECK (prev IS NULL OR length(prev) = 32),"
             " expires_at INTEGER NOT NULL, data BLOB NOT NULL,"
             " PRIMARY KEY (origin, peer, seq),"
             " FOREIGN KEY (origin, peer) REFERENCES logs (origin, peer));"
             " INSERT INTO old SELECT origin, peer, seq, id, prev, expires_at, data FROM envelopes;"
             " DROP TABLE envelopes;"
             " ALTER TABLE old RENAME TO envelopes; DROP TABLE board_digest;"
             " ALTER TABLE audit_checkpoints DROP COLUMN epoch;"
             " ALTER TABLE audit_peer_checkpoints DROP COLUMN epoch;"
             " PRAGMA user_version = 7;");
    assert_int_equal(raw_count(f->dir, "SELECT count(*) FROM sqlite_master"
                                       " WHERE tbl_name = 'envelopes' AND type = 'index'"
                                       " AND sql IS NULL"),
                     2);

    s = open_ok(f);
    assert_int_equal(raw_count(f->dir, "SELECT count(*) FROM sqlite_master"
                                       " WHERE tbl_name = 'envelopes' AND type = 'index'"
                                       " AND sql IS NULL"),
                     1); /* the primary key's only */
    assert_int_equal(raw_count(f->dir, "SELECT count(*) FROM envelopes"), 3);
    for (uint64_t seq = 1; seq <= 3; seq++) {
        uint8_t *env = NULL;
        size_t len;
        assert_int_equal(store_get(s, &a, seq, &env, &len, NULL), 1);
        free(env);
    }
    assert_int_equal(store_inbox_next(s, 0, &ent), 1);
    assert_int_equal(ent.number, 1);
    assert_int_equal(ent.seq, 2);
    commit_range(s, &a, 4, 5);
    /* An inbox entry still needs its envelope. */
    assert_int_equal(store_begin(s), 0);
    mkid(&a, 9, 0, id);
    assert_int_equal(store_inbox_add(s, &a, 9, id, 0, &number), -1);
    store_rollback(s);
    store_close(&s);
}

/* ---- board pages ---------------------------------------------------------- */

#define PAGE_NEEDS  60
#define PAGE_OFFERS 150

/* What a paging walk saw: each id's count, by its first byte. */
struct seen {
    int needs[256], offers[256];
    size_t n;
    uint8_t last[STORE_HASH_BYTES];
    bool is_ordered;
};

static int see_need(void *arg, const struct store_board_need *n)
{
    struct seen *w = arg;

    w->is_ordered &= w->n == 0 || memcmp(w->last, n->id, STORE_HASH_BYTES) < 0;
    memcpy(w->last, n->id, STORE_HASH_BYTES);
    w->needs[n->id[0]]++;
    w->n++;
    return 0;
}

static int see_offer(void *arg, const struct store_board_offer *o)
{
    struct seen *w = arg;

    w->is_ordered &= w->n == 0 || memcmp(w->last, o->id, STORE_HASH_BYTES) < 0;
    memcpy(w->last, o->id, STORE_HASH_BYTES);
    w->offers[o->id[0]]++;
    w->n++;
    return 0;
}

/* Need i: id byte i + 1, TLP 1 + i % 5 (so clearance 3 hides 2 in 5),
 * category 1 + i % 9, status 1 + i % 5, owner UA or EE. Offer j: id byte
 * j + 1 under salt 0xEE, answers need j % PAGE_NEEDS, TLP 1 + j % 4. */
static void fill_board(struct store *s)
{
    static const char blob[] = "sealed on its way in";

    assert_int_equal(store_begin(s), 0);
    for (int i = 0; i < PAGE_NEEDS; i++) {
        struct store_board_need n = {0};
        memset(n.id, 0x5A, sizeof(n.id));
        n.id[0] = (uint8_t)(i + 1);
        strcpy(n.owner, i % 2 ? "EE" : "UA");
        n.status = 1 + i % 5;
        n.tlp = 1 + (uint32_t)(i % 5);
        n.category = 1 + (uint32_t)(i % 9);
        n.priority = 1 + (uint32_t)(i % 4);
        n.quantity = 1;
        n.need = (uint8_t *)(uintptr_t)blob;
        n.need_len = sizeof(blob);
        assert_int_equal(store_board_need_put(s, &n), 0);
    }
    for (int j = 0; j < PAGE_OFFERS; j++) {
        struct store_board_offer o = {0};
        memset(o.id, 0xEE, sizeof(o.id));
        o.id[0] = (uint8_t)(j + 1);
        strcpy(o.donor, j % 3 ? "EE" : "UA");
        o.has_need = true;
        memset(o.need_id, 0x5A, sizeof(o.need_id));
        o.need_id[0] = (uint8_t)(j % PAGE_NEEDS + 1);
        o.status = 1 + j % 6;
        o.tlp = 1 + (uint32_t)(j % 4);
        o.quantity = 1;
        o.offer = (uint8_t *)(uintptr_t)blob;
        o.offer_len = sizeof(blob);
        assert_int_equal(store_board_offer_put(s, &o), 0);
    }
    assert_int_equal(store_commit(s), 0);
}

/* Walks every page of size page under f; the rows seen in *w. */
static void walk(struct store *s, struct store_board_filter f, bool is_offers, size_t page,
                 struct seen *w)
{
    uint8_t after[STORE_HASH_BYTES];

    memset(w, 0, sizeof(*w));
    w->is_ordered = true;
    f.limit = page;
    for (;;) {
        size_t before = w->n;
        if (is_offers)
            assert_int_equal(store_board_page_offers(s, &f, see_offer, w), 0);
        else
            assert_int_equal(store_board_page_needs(s, &f, see_need, w), 0);
        if (w->n - before < page)
            return;
        memcpy(after, w->last, sizeof(after));
        f.after = after;
    }
}

/* Pages by id see every row within the clearance exactly once, in order,
 * and no row above it, nor an offer whose need is above it; filters
 * narrow the walk and compose. */
static void test_board_pages(void **state)
{
    struct fixture *f = *state;
    struct store *s = store_open(f->dir, tu_store_key);
    struct store_board_filter all = {.clearance = 5, .need_status = -1};
    struct store_board_filter f3 = {.clearance = 3, .need_status = -1};
    static const int open_closed[] = {1, 4};
    static const uint32_t cat[] = {2};
    static const char *const ee[] = {"EE"};
    struct seen w;

    assert_non_null(s);
    fill_board(s);
    for (size_t page = 1; page <= 8; page += 7) {
        walk(s, all, false, page, &w);
        assert_int_equal(w.n, PAGE_NEEDS);
        assert_true(w.is_ordered);
        for (int i = 0; i < PAGE_NEEDS; i++)
            assert_int_equal(w.needs[i + 1], 1);
        walk(s, f3, false, page, &w);
        assert_true(w.is_ordered);
        for (int i = 0; i < PAGE_NEEDS; i++)
            assert_int_equal(w.needs[i + 1], 1 + i % 5 <= 3 ? 1 : 0);
        walk(s, f3, true, page, &w);
        assert_true(w.is_ordered);
        for (int j = 0; j < PAGE_OFFERS; j++) {
            int need = j % PAGE_NEEDS;
            bool is_visible = 1 + j % 4 <= 3 && 1 + need % 5 <= 3;
            assert_int_equal(w.offers[j + 1], is_visible ? 1 : 0);
        }
    }
    /* Statuses (ORed), a category and an owner (ANDed). */
    all.statuses = open_closed;
    all.n_statuses = 2;
    all.categories = cat;
    all.n_categories = 1;
    all.members = ee;
    all.n_members = 1;
    walk(s, all, false, 4, &w);
    for (int i = 0; i < PAGE_NEEDS; i++) {
        bool is_match = (1 + i % 5 == 1 || 1 + i % 5 == 4) && 1 + i % 9 == 2 && i % 2 == 1;
        assert_int_equal(w.needs[i + 1], is_match ? 1 : 0);
    }
    /* Offers of one need whose own status is "open" (need_status). */
    memset(&all, 0, sizeof(all));
    all.clearance = 5;
    all.need_status = 1;
    walk(s, all, true, 3, &w);
    for (int j = 0; j < PAGE_OFFERS; j++)
        assert_int_equal(w.offers[j + 1], (j % PAGE_NEEDS) % 5 == 0 ? 1 : 0);
    /* A need's label raised later hides its offers with it (offers keep
     * the higher of the two labels): need 0 (TLP 1) goes to TLP 5. */
    {
        struct store_board_need n = {0};
        struct store_board_filter c3 = {.clearance = 3, .need_status = -1};
        memset(n.id, 0x5A, sizeof(n.id));
        n.id[0] = 1;
        strcpy(n.owner, "UA");
        n.status = 1;
        n.tlp = 5;
        n.quantity = 1;
        n.need = (uint8_t *)(uintptr_t) "raised";
        n.need_len = 6;
        assert_int_equal(store_begin(s), 0);
        assert_int_equal(store_board_need_put(s, &n), 0);
        assert_int_equal(store_commit(s), 0);
        walk(s, c3, true, 50, &w);
        for (int j = 0; j < PAGE_OFFERS; j++) {
            int need = j % PAGE_NEEDS;
            bool is_visible = need != 0 && 1 + j % 4 <= 3 && 1 + need % 5 <= 3;
            assert_int_equal(w.offers[j + 1], is_visible ? 1 : 0);
        }
    }
    /* An id range: the ids starting 0x05. */
    {
        uint8_t from[STORE_HASH_BYTES] = {0x05}, to[STORE_HASH_BYTES] = {0x06};
        memset(&all, 0, sizeof(all));
        all.clearance = 5;
        all.need_status = -1;
        all.id_from = from;
        all.id_to = to;
        walk(s, all, false, 10, &w);
        assert_int_equal(w.n, 1);
        assert_int_equal(w.needs[5], 1);
    }
    store_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_close_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trusted_roster, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_and_synchronous_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_and_heads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writes_outside_batch_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollback_drops_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uncommitted_batch_lost_on_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evidence_halts_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_each_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inbox, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cursors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_open_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_board_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_mid_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_board_tables, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deliveries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_board_sealed_at_rest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_board_digest_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_board_counts_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_board_facts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_survives_key_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_board_swapped_blob_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_seals_plaintext, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_drops_envelope_id_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_throughput, setup, teardown),
    };

    log_init("test_store", LOG_LEVEL_WARN);
    if (sodium_init() < 0)
        return 1;
    if (sqlite3_auto_extension((void (*)(void))catch_db) != SQLITE_OK)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
