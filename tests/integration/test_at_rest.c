/*
 * Integration: what a copy of a node's data directory gives away. The
 * directory is the node user's alone (0700, files 0600 whatever the umask)
 * and a looser one stops tmbusd from starting with exit 78; and the board
 * it keeps is ciphertext, so a copy of the directory without the member's
 * key file shows no payload text, whatever its TLP. Acts as a member's
 * program through libtmbus and then reads the files byte by byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <dirent.h>
#include <stdbool.h>

#include "fed.h"
#include "fedclient.h"
#include "store.h"
#include "tmbus.h"

#define EX_CONFIG 78

static const char *in_dir(const char *dir, const char *name)
{
    static char path[FED_PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return path;
}

static unsigned mode_of(const char *path)
{
    struct stat sb;

    assert_int_equal(lstat(path, &sb), 0);
    return (unsigned)(sb.st_mode & 07777);
}

/* Under a umask that would leave everything world-writable, the node still
 * makes its directory 0700 and every file in it, SQLite's -wal and -shm
 * included, 0600. */
static void test_files_are_private_whatever_the_umask(void **state)
{
    static const char *const ids[] = {"A"};
    struct fed *f = fed_new(1, ids);
    const char *dir;
    mode_t old;
    DIR *d;
    struct dirent *de;
    size_t n_files = 0;

    assert_non_null(f);
    *state = f;
    dir = fed_data_dir(f, 0);
    old = umask(0);
    /* The directory holds the configuration and log, so it exists: make it
     * as loose as the umask would and let tmbusd refuse, then tighten it. */
    assert_int_equal(chmod(dir, 0777), 0);
    assert_int_equal(fed_run_exit(f, 0, false), EX_CONFIG);
    assert_int_equal(chmod(dir, 0700), 0);
    assert_int_equal(fed_start(f, 0), 0);
    umask(old);

    assert_int_equal(mode_of(dir), 0700);
    assert_non_null(d = opendir(dir));
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (mode_of(in_dir(dir, de->d_name)) != 0600)
            fail_msg("%s has mode %04o, not 0600", de->d_name, mode_of(in_dir(dir, de->d_name)));
        n_files++;
    }
    closedir(d);
    /* tmbus.db, -wal, -shm, the lock, and the harness's configuration and
     * log: the -wal and -shm files exist while the node runs. */
    assert_true(n_files >= 6);
    assert_int_equal(mode_of(in_dir(dir, "tmbus.db-wal")), 0600);
    assert_int_equal(mode_of(in_dir(dir, "tmbus.db-shm")), 0600);
    assert_int_equal(fed_stop(f, 0), 0);
    fed_pass(f);
}

/* One loose thing in the data directory, and tmbusd exits 78 with the
 * reason on one line, and so does tmbusd -n; put right, it starts. */
static void expect_refused(struct fed *f, const char *path, unsigned loose, unsigned right,
                           const char *reason)
{
    long mark = fed_log_mark(f, 0);

    assert_int_equal(chmod(path, loose), 0);
    assert_int_equal(fed_run_exit(f, 0, false), EX_CONFIG);
    assert_int_equal(fed_wait_log_from(f, 0, mark, reason, 1000), 0);
    mark = fed_log_mark(f, 0);
    assert_int_equal(fed_run_exit(f, 0, true), EX_CONFIG);
    assert_int_equal(fed_wait_log_from(f, 0, mark, reason, 1000), 0);
    assert_int_equal(fed_log_count(f, 0, mark, "configuration OK"), 0);
    assert_int_equal(chmod(path, right), 0);
    assert_int_equal(fed_run_exit(f, 0, true), 0);
    assert_int_equal(fed_start(f, 0), 0);
    assert_int_equal(fed_stop(f, 0), 0);
}

static void test_loose_data_dir_is_refused(void **state)
{
    static const char *const ids[] = {"A"};
    struct fed *f = fed_new(1, ids);
    const char *dir;

    assert_non_null(f);
    *state = f;
    dir = fed_data_dir(f, 0);
    assert_int_equal(fed_start(f, 0), 0);
    assert_int_equal(fed_stop(f, 0), 0);

    expect_refused(f, in_dir(dir, "tmbus.db"), 0644, 0600, "tmbus.db has mode 0644");
    expect_refused(f, dir, 0755, 0700, "has mode 0755; it must be 0700");
    expect_refused(f, in_dir(dir, "tmbus.lock"), 0660, 0600, "tmbus.lock has mode 0660");
    fed_pass(f);
}

/* ---- what a copy of the directory shows -------------------------------- */

#define LINK_MS 15000
#define IDLE_MS 15000

enum { AMBER, RED, CLEAR, N_POSTS };

/* Every byte of every file in dir: 1 when needle occurs in one (named on
 * stderr), else 0. */
static int dir_contains(const char *dir, const void *needle, size_t len, bool is_secret)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int found = 0;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        int rc;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        rc = fed_file_contains(in_dir(dir, de->d_name), needle, len);
        assert_int_not_equal(rc, -1);
        if (rc == 1) {
            if (is_secret)
                fprintf(stderr, "plaintext found in %s/%s\n", dir, de->d_name);
            found = 1;
        }
    }
    closedir(d);
    return found;
}

/* No title of any post, nor the fixed beneficiary or contact text, in any
 * file of either node's directory. */
static void assert_no_plaintext(struct fed *f, const char *tag)
{
    char title[FC_TAG_MAX + 16];

    for (size_t i = 0; i < fed_node_count(f); i++) {
        const char *dir = fed_data_dir(f, i);
        for (int k = 0; k < N_POSTS; k++) {
            snprintf(title, sizeof(title), "%s #%d", tag, k);
            if (dir_contains(dir, title, strlen(title), true))
                fail_msg("%s's directory holds the title of post %d in clear", fed_id(f, i), k);
        }
        assert_int_equal(dir_contains(dir, tag, strlen(tag), true), 0);
        assert_int_equal(dir_contains(dir, "Regional energy operator", 24, true), 0);
        assert_int_equal(dir_contains(dir, "duty desk", 9, true), 0);
    }
}

/* A posts an AMBER, a RED and a CLEAR need to B. Neither node's directory,
 * read while running and again after a clean stop, holds a byte of their
 * text; yet B's board keeps all three, which B's own key opens, and the
 * rows are in the files the scan read (their plain ids are found). */
static void test_copy_of_data_dir_shows_no_payload(void **state)
{
    static const char *const ids[] = {"A", "B"};
    static const char *const to_b[] = {"B"};
    static const enum fc_tlp tlps[N_POSTS] = {FC_TLP_AMBER, FC_TLP_RED, FC_TLP_CLEAR};
    struct fed *f = fed_new(2, ids);
    uint8_t posted[N_POSTS][TMBUS_ID_BYTES];
    char tag[FC_TAG_MAX + 1], title[FC_TAG_MAX + 16];
    struct tmbus *ha, *hb;
    struct fc_inbox in;
    struct store *s;
    size_t a, b;

    assert_non_null(f);
    *state = f;
    a = fed_index(f, "A");
    b = fed_index(f, "B");
    assert_int_equal(fed_start_all(f), 0);
    assert_int_equal(fed_wait_links(f, "A", 0, "B", 0, LINK_MS), 0);
    fc_tag(tag, sizeof(tag), "at-rest-");
    fc_inbox_init(&in, tag);
    assert_non_null(ha = fc_connect(f, a));
    assert_non_null(hb = fc_connect(f, b));
    assert_int_equal(tmbus_subscribe(hb, 64, FC_CALL_MS), TMBUS_OK);
    for (int k = 0; k < N_POSTS; k++)
        assert_int_equal(fc_post(ha, tlps[k], tag, (uint32_t)k, to_b, 1, posted[k]), TMBUS_OK);
    /* Delivered to B's client: applied to B's board in the same commit. */
    assert_int_equal(fc_receive(hb, &in, N_POSTS, IDLE_MS, 1), N_POSTS);
    tmbus_close(&ha);
    tmbus_close(&hb);
    fc_inbox_free(&in);

    /* Running: the database, its WAL and shared memory, the log. */
    assert_no_plaintext(f, tag);
    assert_int_equal(fed_stop(f, a), 0);
    assert_int_equal(fed_stop(f, b), 0);
    assert_no_plaintext(f, tag);

    /* The scan reads the pages that hold the board's rows ... */
    for (int k = 0; k < N_POSTS; k++)
        assert_int_equal(dir_contains(fed_data_dir(f, b), posted[k], TMBUS_ID_BYTES, false), 1);
    /* ... and with the member's key the rows open to the full text. */
    assert_non_null(s = fed_store_open(f, b));
    for (int k = 0; k < N_POSTS; k++) {
        struct store_board_need n;
        bool is_found = false;

        assert_int_equal(store_board_need_get(s, posted[k], &n), 1);
        assert_int_equal(n.tlp, (uint32_t)tlps[k]);
        snprintf(title, sizeof(title), "%s #%d", tag, k);
        for (size_t i = 0; !is_found && i + strlen(title) <= n.need_len; i++)
            is_found = memcmp(n.need + i, title, strlen(title)) == 0;
        assert_true(is_found);
        free(n.need);
    }
    store_close(&s);
    fed_pass(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_files_are_private_whatever_the_umask, fed_teardown),
        cmocka_unit_test_teardown(test_loose_data_dir_is_refused, fed_teardown),
        cmocka_unit_test_teardown(test_copy_of_data_dir_shows_no_payload, fed_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
