/*
 * Integration: a node whose disk fills up. Member A's data directory is a
 * 2 MiB tmpfs (real ENOSPC; the test needs root to mount it and is skipped
 * otherwise) while B's client sends A thousands of needs of 1.5 KiB. A must
 * acknowledge nothing it could not commit, stay up, refuse its own client's
 * posts with a reason that says the disk is full, not spin (one log line
 * when it fills, little CPU), show it in its status, and catch up with
 * everything by itself once the file system has room again.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>

#include "fed.h"
#include "fedclient.h"
#include "payload.pb-c.h"
#include "tmbus.h"

#define SKIP        77
#define LINK_MS     15000
#define N_NEEDS     3000
#define DESC_BYTES  1536
#define FULL_MS     60000 /* longest wait for A to fill up */
#define QUIET_S     5     /* the span over which A must not spin */
#define CPU_MAX_MS  500   /* A's CPU over that span, at most */
#define LOG_MAX     4096  /* A's log growth over that span, at most */
#define BACK_MS     30000 /* longest wait for A to take writes again */
#define CATCH_UP_MS 60000

static char mount_dir[FED_PATH_MAX];

static void unmount_at_exit(void)
{
    if (mount_dir[0] != '\0')
        (void)umount2(mount_dir, MNT_DETACH);
}

/* Points node i's data_dir at DIR/ID/db, a tmpfs of size_kib. Returns 0,
 * or -1 when it cannot be mounted (not root, say). */
static int data_on_tmpfs(struct fed *f, size_t i, unsigned size_kib)
{
    char text[16384], opts[64], from[FED_PATH_MAX + 16], to[FED_PATH_MAX + 16];
    FILE *fp;
    size_t len;
    char *at;

    snprintf(mount_dir, sizeof(mount_dir), "%s/db", fed_data_dir(f, i));
    if (mkdir(mount_dir, 0700) == -1)
        return -1;
    snprintf(opts, sizeof(opts), "size=%uk,mode=0700", size_kib);
    if (mount("tmpfs", mount_dir, "tmpfs", 0, opts) == -1) {
        fprintf(stderr, "cannot mount a tmpfs on %s: %s\n", mount_dir, strerror(errno));
        mount_dir[0] = '\0';
        return -1;
    }
    atexit(unmount_at_exit);
    assert_non_null(fp = fopen(fed_conf_path(f, i), "r"));
    len = fread(text, 1, sizeof(text) - 1, fp);
    fclose(fp);
    text[len] = '\0';
    snprintf(from, sizeof(from), "data_dir = %s\n", fed_data_dir(f, i));
    snprintf(to, sizeof(to), "data_dir = %s\n", mount_dir);
    assert_non_null(at = strstr(text, from));
    assert_non_null(fp = fopen(fed_conf_path(f, i), "w"));
    fwrite(text, 1, (size_t)(at - text), fp);
    fputs(to, fp);
    fputs(at + strlen(from), fp);
    fclose(fp);
    return 0;
}

static int resize_tmpfs(unsigned size_kib)
{
    char opts[64];

    snprintf(opts, sizeof(opts), "size=%uk,mode=0700", size_kib);
    return mount("tmpfs", mount_dir, "tmpfs", MS_REMOUNT, opts);
}

/* A need of about DESC_BYTES + 200 bytes, titled "TAG #index". */
static size_t big_need(uint8_t *buf, size_t size, const char *tag, uint32_t index)
{
    Tmbus__Payload__Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT;
    Tmbus__Payload__Need need = TMBUS__PAYLOAD__NEED__INIT;
    static char desc[DESC_BYTES + 1];
    char title[FC_TAG_MAX + 16];
    size_t len;

    memset(desc, 'd', DESC_BYTES);
    snprintf(title, sizeof(title), "%s #%" PRIu32, tag, index);
    need.beneficiary = "Regional energy operator (test)";
    need.sector = TMBUS__PAYLOAD__SECTOR__SECTOR_ENERGY;
    need.category = TMBUS__PAYLOAD__CATEGORY__CATEGORY_SOFTWARE_LICENCES;
    need.title = title;
    need.description = desc;
    need.quantity = 1;
    need.unit = "licences";
    need.value_cents = 100000;
    need.priority = TMBUS__PAYLOAD__PRIORITY__PRIORITY_MEDIUM;
    need.tlp = TMBUS__PAYLOAD__TLP__TLP_AMBER;
    need.contact = "duty desk";
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_NEED;
    p.need = &need;
    len = tmbus__payload__payload__get_packed_size(&p);
    if (len > size)
        return 0;
    tmbus__payload__payload__pack(&p, buf);
    return len;
}

/* B's client sends N_NEEDS needs to A, pipelined; each must be committed
 * at B (A's disk is not B's). */
static void post_needs(struct tmbus *h, const char *tag)
{
    static const char *const to_a[] = {"A"};
    static uint8_t buf[DESC_BYTES + 1024];
    struct tmbus_posted *p = NULL;
    size_t ok = 0;

    for (uint32_t k = 0; k < N_NEEDS; k++) {
        size_t len = big_need(buf, sizeof(buf), tag, k);
        uint64_t ticket;
        assert_true(len > 0);
        assert_int_equal(tmbus_post_send(h, buf, len, to_a, 1, false, 0, 0, FC_CALL_MS, &ticket),
                         TMBUS_OK);
        while (tmbus_posted_next(h, 0, &p) == TMBUS_OK && p != NULL) {
            ok += tmbus_posted_result(p) == TMBUS_OK;
            tmbus_posted_free(&p);
        }
    }
    assert_int_equal(tmbus_post_flush(h, 30000), TMBUS_OK);
    while (tmbus_posted_next(h, 0, &p) == TMBUS_OK && p != NULL) {
        ok += tmbus_posted_result(p) == TMBUS_OK;
        tmbus_posted_free(&p);
    }
    assert_int_equal(ok, N_NEEDS);
}

/* utime + stime of pid, in ms. */
static int64_t cpu_ms(pid_t pid)
{
    char path[64], line[1024], *p;
    unsigned long long ut = 0, st = 0;
    FILE *fp;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    assert_non_null(fp = fopen(path, "r"));
    assert_non_null(fgets(line, sizeof(line), fp));
    fclose(fp);
    /* Past the command's closing parenthesis, utime and stime are the
     * 12th and 13th fields. */
    assert_non_null(p = strrchr(line, ')'));
    assert_int_equal(
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st), 2);
    return (int64_t)((ut + st) * 1000 / (unsigned long long)sysconf(_SC_CLK_TCK));
}

static bool is_store_full(struct tmbus *h)
{
    struct tmbus_status *s = NULL;
    bool is_full;

    assert_int_equal(tmbus_status(h, FC_CALL_MS, &s), TMBUS_OK);
    is_full = tmbus_status_store_full(s);
    tmbus_status_free(&s);
    return is_full;
}

static void assert_integrity_ok(const char *dir)
{
    char path[FED_PATH_MAX + 16];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;

    snprintf(path, sizeof(path), "%s/tmbus.db", dir);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void test_full_disk(void **state)
{
    static const char *const ids[] = {"A", "B"};
    static const char *const roles[] = {"beneficiary", "beneficiary"};
    struct fed *f = fed_new_with_roles(2, ids, roles);
    static const char *const to_b[] = {"B"};
    struct tmbus *ha, *hb;
    struct fc_inbox in;
    char tag[FC_TAG_MAX];
    uint64_t full = 0, n = 0;
    int64_t cpu0, cpu1;
    long mark, size0, size1;
    size_t a, b;
    int rc;

    assert_non_null(f);
    *state = f;
    a = fed_index(f, "A");
    b = fed_index(f, "B");
    if (geteuid() != 0 || data_on_tmpfs(f, a, 2048) == -1) {
        fprintf(stderr, "skipped: mounting a tmpfs needs root\n");
        fed_pass(f);
        fed_free(&f);
        *state = NULL;
        exit(SKIP);
    }
    assert_int_equal(fed_start(f, a), 0);
    assert_int_equal(fed_start(f, b), 0);
    assert_int_equal(fed_wait_link(f, a, 0, "B", LINK_MS), 0);

    fc_tag(tag, sizeof(tag), "full");
    assert_non_null(ha = fc_connect(f, a));
    assert_non_null(hb = fc_connect(f, b));
    post_needs(hb, tag);
    assert_int_equal(fed_wait_log(f, a, "store full", FULL_MS), 0);

    /* A's own client learns why, at once. */
    rc = fc_post(ha, FC_TLP_AMBER, tag, N_NEEDS, to_b, 1, NULL);
    assert_int_equal(rc, TMBUS_EINTERNAL);
    if (strstr(tmbus_last_error(ha), "disk is full") == NULL)
        fail_msg("refusal reason: %s", tmbus_last_error(ha));
    assert_int_equal(fc_counter(ha, "store.full", &full), TMBUS_OK);
    assert_int_equal(full, 1);
    assert_true(is_store_full(ha));

    /* No busy retry: little CPU, next to nothing logged. */
    mark = fed_log_mark(f, a);
    size0 = fed_log_mark(f, a);
    cpu0 = cpu_ms(fed_pid(f, a));
    fed_sleep_ms(QUIET_S * 1000);
    cpu1 = cpu_ms(fed_pid(f, a));
    size1 = fed_log_mark(f, a);
    fprintf(stderr, "while full: %lld ms of CPU in %d s, %ld bytes logged\n",
            (long long)(cpu1 - cpu0), QUIET_S, size1 - size0);
    assert_true(cpu1 - cpu0 <= CPU_MAX_MS);
    assert_true(size1 - size0 <= LOG_MAX);
    assert_int_equal(fed_log_count(f, a, 0, "store full"), 1);
    assert_true(fed_is_running(f, a));

    /* Room again: A takes writes by itself and catches up with all. */
    assert_int_equal(resize_tmpfs(256 * 1024), 0);
    assert_int_equal(fed_wait_log_from(f, a, mark, "store writable again", BACK_MS), 0);
    assert_false(is_store_full(ha));
    assert_int_equal(fc_post(ha, FC_TLP_AMBER, tag, N_NEEDS, to_b, 1, NULL), TMBUS_OK);
    fc_inbox_init(&in, tag);
    assert_int_equal(tmbus_subscribe(ha, 256, FC_CALL_MS), TMBUS_OK);
    fc_receive(ha, &in, N_NEEDS, CATCH_UP_MS, 128);
    assert_int_equal(in.n_tagged, N_NEEDS);
    assert_int_equal(fc_check_order(&in), 0);
    for (uint32_t k = 0; k < N_NEEDS; k++)
        assert_non_null(fc_find_index(&in, k));
    assert_int_equal(fed_log_count(f, a, 0, "store full"), 1);
    assert_int_equal(fc_envelopes(ha, &n), TMBUS_OK);
    assert_true(n >= N_NEEDS + 1);

    tmbus_close(&ha);
    tmbus_close(&hb);
    fc_inbox_free(&in);
    assert_int_equal(fed_stop(f, a), 0);
    assert_int_equal(fed_stop(f, b), 0);
    assert_integrity_ok(mount_dir);
    fed_pass(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_full_disk, fed_teardown),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
