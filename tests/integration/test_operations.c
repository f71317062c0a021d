/*
 * Integration: what an operator relies on around a running node. `tmbusd
 * -n` refuses an endpoint whose port is out of range and a member key file
 * of another member than the configuration names, each with one clear
 * line; and under systemd the node says READY=1 with a STATUS= line,
 * pings the watchdog from its loop, and brackets a reload with
 * RELOADING=1 and READY=1 (checked on a notify socket of the test's own).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "fed.h"

#define EX_CONFIG      78
#define NOTIFY_WAIT_MS 10000
#define WATCHDOG_USEC  "400000" /* pings every 200 ms */

/* Reads path whole into a fresh string (the caller frees it). */
static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    char *text;
    long len;

    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    len = ftell(f);
    assert_true(len >= 0);
    rewind(f);
    text = calloc(1, (size_t)len + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    return text;
}

/* Replaces the whole line starting with prefix in path by line. */
static void replace_line(const char *path, const char *prefix, const char *line)
{
    char *text = read_text(path), *at, *end, *out;

    at = strstr(text, prefix);
    assert_non_null(at);
    end = strchr(at, '\n');
    assert_non_null(end);
    out = calloc(1, strlen(text) + strlen(line) + 2);
    assert_non_null(out);
    memcpy(out, text, (size_t)(at - text));
    strcat(out, line);
    strcat(out, end);
    assert_int_equal(fed_write_file(path, out), 0);
    free(out);
    free(text);
}

/* `tmbusd -n` on node 0's configuration exits want and, when text is not
 * NULL, logs it. */
static void check_only(struct fed *f, int want, const char *text)
{
    long mark = fed_log_mark(f, 0);

    assert_int_equal(fed_run_exit(f, 0, true), want);
    if (text != NULL && fed_log_count(f, 0, mark, text) != 1)
        fail_msg("tmbusd -n did not say \"%s\" (log %s)", text, fed_log_path(f, 0));
}

static void test_check_refuses_port_and_member(void **state)
{
    static const char *const ids[] = {"A", "B"};
    struct fed *f = fed_new(2, ids);
    const char *conf;
    char *saved;

    assert_non_null(f);
    *state = f;
    conf = fed_conf_path(f, 0);
    saved = read_text(conf);
    check_only(f, 0, "configuration OK");

    /* libzmq would bind a random port for 99999 and say nothing. */
    replace_line(conf, "client_listen =", "client_listen = tcp://127.0.0.1:99999");
    check_only(f, EX_CONFIG, "client_listen: 'tcp://127.0.0.1:99999' port '99999' is not 1..65535");
    assert_int_equal(fed_write_file(conf, saved), 0);
    replace_line(conf, "peer_listen =", "peer_listen = udp://127.0.0.1:7101");
    check_only(f, EX_CONFIG, "does not start with tcp://, ipc:// or inproc://");
    assert_int_equal(fed_write_file(conf, saved), 0);

    /* A's keys under member = B: refused by -n before any start. */
    replace_line(conf, "member =", "member = B");
    check_only(f, EX_CONFIG, "holds member A's keys, but member = B");
    assert_int_equal(fed_write_file(conf, saved), 0);
    check_only(f, 0, "configuration OK");
    free(saved);
    fed_pass(f);
}

/* Waits for a notify message containing want; returns it (static). */
static const char *wait_notify(int fd, const char *want)
{
    static char buf[1024];
    int64_t end = fed_now_ms() + NOTIFY_WAIT_MS;

    while (fed_now_ms() < end) {
        ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
        if (n < 0) {
            assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
            usleep(10000);
            continue;
        }
        buf[n] = '\0';
        if (strstr(buf, want) != NULL)
            return buf;
    }
    fail_msg("no notify message with \"%s\" within %d ms", want, NOTIFY_WAIT_MS);
    return NULL;
}

static void test_systemd_notify(void **state)
{
    static const char *const ids[] = {"A", "B"};
    struct fed *f = fed_new(2, ids);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    const char *msg;
    int fd;

    assert_non_null(f);
    *state = f;
    assert_true(snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/notify", fed_dir(f)) <
                (int)sizeof(sa.sun_path));
    assert_true((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);

    /* Only node A gets the notify socket and the watchdog. */
    assert_int_equal(setenv("NOTIFY_SOCKET", sa.sun_path, 1), 0);
    assert_int_equal(setenv("WATCHDOG_USEC", WATCHDOG_USEC, 1), 0);
    assert_int_equal(fed_start(f, 0), 0);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    assert_int_equal(fed_start(f, 1), 0);

    msg = wait_notify(fd, "READY=1");
    assert_non_null(strstr(msg, "STATUS=member A, roster version 1"));
    /* The pings come from the loop, again and again. */
    for (int i = 0; i < 3; i++)
        (void)wait_notify(fd, "WATCHDOG=1");
    /* The status line follows the link to B coming up. */
    msg = wait_notify(fd, "1 of 1 peer links up");
    assert_non_null(strstr(msg, "STATUS=member A"));

    assert_int_equal(fed_reload(f, 0), 0);
    msg = wait_notify(fd, "RELOADING=1");
    assert_non_null(strstr(msg, "MONOTONIC_USEC="));
    msg = wait_notify(fd, "READY=1");
    assert_non_null(strstr(msg, "STATUS=member A"));

    assert_int_equal(fed_stop(f, 0), 0);
    (void)wait_notify(fd, "STOPPING=1");
    close(fd);
    fed_pass(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_check_refuses_port_and_member, fed_teardown),
        cmocka_unit_test_teardown(test_systemd_notify, fed_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
