/*
 * Integration: the roster a node trusts only moves forward
 * (proto/PROTOCOL.md §3.3). A node that has run version 2 runs it again
 * when its file still holds the version 1 it trusted before, and refuses a
 * version 1 it never trusted at its next start (exit 78, one line why), on
 * SIGHUP (keeping version 2) and in `tmbusd -n`; a version that skips one is refused until
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

#include "envelope.h"
#include "fed.h"
#include "keys.h"
#include "peer.pb-c.h"
#include "player.h"
#include "roster.h"

#define LOG_MS    5000                /* how long a reason may take to reach the log */
#define PAYLOAD   "need: 40 licences" /* what M posts */
#define EX_CONFIG 78

static const char *const ids[] = {"UA", "EE"};

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
    assert_int_equal(fed_path(f, "v1.bin", v1, sizeof(v1)), 0);
    assert_int_equal(fed_path(f, "v2.bin", v2, sizeof(v2)), 0);
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

/* A version 1 this node never trusted (another roster of that version),
 * written as DIR/v1-other.bin. */
static void other_v1(struct fed *f, char *out, size_t size)
{
    struct fed_roster spec = {.version = 1, .expires_at = (int64_t)time(NULL) + 20 * 86400};

    assert_int_equal(fed_path(f, "v1-other.bin", out, size), 0);
    spec.out = out;
    assert_int_equal(fed_make_roster(f, &spec), 0);
}

/* Version 1 put back after version 2 ran: the file is only the bootstrap
 * (updates also come over the bus), and version 1 was trusted before, so
 * the node runs version 2, and -n says so. A version 1 it never trusted is
 * a rollback: refused at start with exit 78 and a reason, and by -n. */
static void test_rollback_refused_at_start(void **state)
{
    struct fed *f = *state = ran_v2();
    char v1[FED_PATH_MAX], other[FED_PATH_MAX];
    long mark;

    assert_int_equal(fed_path(f, "v1.bin", v1, sizeof(v1)), 0);
    copy_file(v1, fed_roster_path(f));
    mark = fed_log_mark(f, 0);
    assert_int_equal(fed_run_exit(f, 0, true), 0);
    assert_int_equal(fed_start(f, 0), 0);
    assert_int_equal(fed_wait_log_from(f, 0, mark,
                                       "is older than version 2, which this node trusted since: "
                                       "running version 2",
                                       LOG_MS),
                     0);
    assert_int_equal(fed_wait_log_from(f, 0, mark, "member UA running: roster version 2", LOG_MS),
                     0);
    assert_int_equal(fed_stop(f, 0), 0);

    other_v1(f, other, sizeof(other));
    copy_file(other, fed_roster_path(f));
    mark = fed_log_mark(f, 0);
    assert_int_equal(fed_run_exit(f, 0, false), EX_CONFIG);
    assert_int_equal(fed_wait_log_from(f, 0, mark,
                                       "refused: rolled-back: version 1 is older than version 2",
                                       LOG_MS),
                     0);
    assert_int_equal(fed_log_count(f, 0, mark, "member UA running"), 0);
    mark = fed_log_mark(f, 0);
    assert_int_equal(fed_run_exit(f, 0, true), EX_CONFIG);
    assert_int_equal(fed_wait_log_from(f, 0, mark, "is refused: rolled-back", LOG_MS), 0);
    fed_pass(f);
}

/* The same on SIGHUP: version 1, trusted before, leaves version 2 in
 * force; a version 1 never trusted is refused, and the node keeps version
 * 2 and says why, also after a restart. */
static void test_rollback_refused_on_reload(void **state)
{
    struct fed *f = *state = ran_v2();
    char v1[FED_PATH_MAX], other[FED_PATH_MAX];
    long mark;

    assert_int_equal(fed_path(f, "v1.bin", v1, sizeof(v1)), 0);
    other_v1(f, other, sizeof(other));
    assert_int_equal(fed_start(f, 0), 0);
    copy_file(v1, fed_roster_path(f));
    mark = fed_log_mark(f, 0);
    assert_int_equal(fed_reload(f, 0), 0);
    assert_int_equal(fed_wait_log_from(f, 0, mark, "running version 2", LOG_MS), 0);
    assert_int_equal(fed_log_count(f, 0, mark, "refused"), 0);
    copy_file(other, fed_roster_path(f));
    mark = fed_log_mark(f, 0);
    assert_int_equal(fed_reload(f, 0), 0);
    assert_int_equal(fed_wait_log_from(f, 0, mark, "reload: keeping roster version 2", LOG_MS), 0);
    assert_int_equal(fed_log_count(f, 0, mark, "refused: rolled-back"), 1);
    assert_int_equal(fed_stop(f, 0), 0);
    /* Still refused after a restart: the store remembers version 2. */
    assert_int_equal(fed_run_exit(f, 0, false), EX_CONFIG);
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
    assert_int_equal(fed_path(f, "v1.bin", v1, sizeof(v1)), 0);
    assert_int_equal(fed_path(f, "v2.bin", v2, sizeof(v2)), 0);
    assert_int_equal(fed_path(f, "v3.bin", v3, sizeof(v3)), 0);
    copy_file(fed_roster_path(f), v1);
    assert_int_equal(fed_make_roster(f, &spec2), 0);
    assert_int_equal(fed_make_roster(f, &spec3), 0);
    assert_int_equal(fed_start(f, 0), 0);
    assert_int_equal(fed_stop(f, 0), 0);
    copy_file(v3, fed_roster_path(f));
    mark = fed_log_mark(f, 0);
    assert_int_equal(fed_run_exit(f, 0, false), EX_CONFIG);
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
    assert_int_equal(fed_path(f, "v1.bin", v1, sizeof(v1)), 0);
    assert_int_equal(fed_path(f, "keys2", keys2, sizeof(keys2)), 0);
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
    player_open(&p, f, 0);
    assert_int_equal(roster_version(p.roster), 2);

    /* Seq 1..3 signed with generation 1 while it was active, seq 4 with
     * generation 2; and a late seq 4 signed with the retired key. */
    player_use_keys(&p, old_key);
    env[1] = player_seal(&p, 1, NULL, PAYLOAD, &len[1], &info[1]);
    env[2] = player_seal(&p, 2, info[1].id, PAYLOAD, &len[2], &info[2]);
    env[3] = player_seal(&p, 3, info[2].id, PAYLOAD, &len[3], &info[3]);
    late = player_seal(&p, 4, info[3].id, PAYLOAD, &late_len, &info[0]);
    player_use_keys(&p, new_key);
    env[4] = player_seal(&p, 4, info[3].id, PAYLOAD, &len[4], &info[4]);

    player_dial(&p);
    player_send_hello(p.sock, roster_version(p.roster));
    player_wait_ack(&p, 0, NULL);
    for (int i = 1; i <= 3; i++)
        player_send_envelope(p.sock, env[i], len[i]);
    player_wait_ack(&p, 3, NULL);
    mark = fed_log_mark(f, 0);
    player_send_envelope(p.sock, late, late_len);
    assert_int_equal(
        fed_wait_log_from(f, 0, mark, "peer M: rejected an envelope: bad-signature", LOG_MS), 0);
    player_send_envelope(p.sock, env[4], len[4]);
    player_wait_ack(&p, 4, NULL);
    assert_int_equal(fed_log_count(f, 0, mark, "rejected"), 1);

    for (int i = 1; i <= 4; i++)
        free(env[i]);
    free(late);
    player_close(&p);
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
