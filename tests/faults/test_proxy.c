/*
 * test_proxy: tmbus_proxy (proxy.c) against plain loopback sockets, so that
 * the fault harness's partitions mean what they say: pass forwards both
 * ways, drop ends connections in order and closes new ones, hold forwards
 * nothing and keeps connections open (what was held flows once the link
 * passes again), cut resets connections, a timed cut heals by itself, and
 * bad commands are refused. Test code only: it listens on 127.0.0.1 and
 * every wait is bounded.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>

#ifndef FAULTS_PROXY_BIN
#error "FAULTS_PROXY_BIN must name the tmbus_proxy binary"
#endif

#define WAIT_MS  3000 /* longest wait for bytes, an end or an answer */
#define QUIET_MS 300  /* how long "nothing arrives" is watched */

struct proxy {
    pid_t pid;
    int to, from;
    int target;    /* the listener the proxy forwards to */
    unsigned port; /* the proxy's port for link "l" */
};

static unsigned port_of(int fd)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);

    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    return ntohs(sa.sin_port);
}

static int listen_any(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 16), 0);
    return fd;
}

static int dial(unsigned port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* Whether fd becomes readable within ms. */
static int readable(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};

    return poll(&p, 1, ms) == 1;
}

/* One command; the answer (after "ok") into reply. Returns 0 for ok. */
static int call(struct proxy *px, char *reply, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int call(struct proxy *px, char *reply, size_t size, const char *fmt, ...)
{
    char line[128], answer[128];
    size_t n = 0;
    va_list ap;
    int len;

    va_start(ap, fmt);
    len = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    line[len++] = '\n';
    assert_int_equal(write(px->to, line, (size_t)len), len);
    while (n < sizeof(answer) - 1) {
        assert_true(readable(px->from, WAIT_MS));
        assert_int_equal(read(px->from, answer + n, 1), 1);
        if (answer[n] == '\n')
            break;
        n++;
    }
    answer[n] = '\0';
    if (reply != NULL) {
        const char *rest = strncmp(answer, "ok ", 3) == 0 ? answer + 3 : "";
        size_t used = strnlen(rest, size - 1);
        memcpy(reply, rest, used);
        reply[used] = '\0';
    }
    return strncmp(answer, "ok", 2) == 0 ? 0 : -1;
}

static int setup(void **state)
{
    struct proxy *px = calloc(1, sizeof(*px));
    int to[2], from[2];
    char reply[32];

    assert_non_null(px);
    assert_int_equal(pipe2(to, O_CLOEXEC), 0);
    assert_int_equal(pipe2(from, O_CLOEXEC), 0);
    px->pid = fork();
    assert_true(px->pid >= 0);
    if (px->pid == 0) {
        dup2(to[0], STDIN_FILENO);
        dup2(from[1], STDOUT_FILENO);
        execl(FAULTS_PROXY_BIN, "tmbus_proxy", "--lifetime", "60", (char *)NULL);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    px->to = to[1];
    px->from = from[0];
    px->target = listen_any();
    assert_int_equal(call(px, reply, sizeof(reply), "route l %u", port_of(px->target)), 0);
    px->port = (unsigned)atoi(reply);
    assert_true(px->port > 0);
    *state = px;
    return 0;
}

/* Closing the control channel ends the proxy. */
static int teardown(void **state)
{
    struct proxy *px = *state;
    int st;

    close(px->to);
    close(px->from);
    close(px->target);
    assert_int_equal(waitpid(px->pid, &st, 0), px->pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    free(px);
    return 0;
}

/* A connection through the proxy: *up is its far end at the target. */
static int through(struct proxy *px, int *up)
{
    int fd = dial(px->port);

    assert_true(readable(px->target, WAIT_MS));
    *up = accept4(px->target, NULL, NULL, SOCK_CLOEXEC);
    assert_true(*up >= 0);
    return fd;
}

static void expect_bytes(int fd, const char *want)
{
    char buf[64];
    size_t n = 0, len = strlen(want);

    while (n < len) {
        ssize_t r;
        assert_true(readable(fd, WAIT_MS));
        r = read(fd, buf + n, len - n);
        assert_true(r > 0);
        n += (size_t)r;
    }
    assert_memory_equal(buf, want, len);
}

/* What the end of a connection sees next: 0 (FIN), -ECONNRESET, or 1
 * (bytes). */
static int end_seen(int fd)
{
    char c;
    ssize_t r;

    assert_true(readable(fd, WAIT_MS));
    r = read(fd, &c, 1);
    return r == 0 ? 0 : r < 0 ? -errno : 1;
}

static void test_pass(void **state)
{
    struct proxy *px = *state;
    int up, fd = through(px, &up);
    char reply[16];

    assert_int_equal(write(fd, "ping", 4), 4);
    expect_bytes(up, "ping");
    assert_int_equal(write(up, "pong", 4), 4);
    expect_bytes(fd, "pong");
    assert_int_equal(call(px, reply, sizeof(reply), "conns l"), 0);
    assert_string_equal(reply, "1");
    /* An orderly end goes through in order. */
    close(fd);
    assert_int_equal(end_seen(up), 0);
    close(up);
}

static void test_drop(void **state)
{
    struct proxy *px = *state;
    int up, fd = through(px, &up), late;

    assert_int_equal(call(px, NULL, 0, "set l drop"), 0);
    assert_int_equal(end_seen(fd), 0);
    assert_int_equal(end_seen(up), 0);
    close(fd);
    close(up);
    /* A new connection is taken and closed, never forwarded. */
    late = dial(px->port);
    assert_int_equal(end_seen(late), 0);
    assert_false(readable(px->target, QUIET_MS));
    close(late);
    assert_int_equal(call(px, NULL, 0, "set l pass"), 0);
}

static void test_hold(void **state)
{
    struct proxy *px = *state;
    int up, fd = through(px, &up), late, late_up;
    char reply[16];

    assert_int_equal(call(px, NULL, 0, "set l hold"), 0);
    assert_int_equal(write(fd, "held", 4), 4);
    assert_int_equal(write(up, "back", 4), 4);
    /* Nothing crosses, nothing ends, and a new connection is not taken. */
    assert_false(readable(up, QUIET_MS));
    assert_false(readable(fd, QUIET_MS));
    late = dial(px->port);
    assert_false(readable(px->target, QUIET_MS));
    assert_int_equal(call(px, reply, sizeof(reply), "conns l"), 0);
    assert_string_equal(reply, "1");
    /* Passing again, what was held flows and the waiting one is taken. */
    assert_int_equal(call(px, NULL, 0, "set l pass"), 0);
    expect_bytes(up, "held");
    expect_bytes(fd, "back");
    assert_true(readable(px->target, WAIT_MS));
    late_up = accept4(px->target, NULL, NULL, SOCK_CLOEXEC);
    assert_true(late_up >= 0);
    assert_int_equal(write(late, "late", 4), 4);
    expect_bytes(late_up, "late");
    close(late);
    close(late_up);
    close(fd);
    close(up);
}

/* An end that closes while held is closed on the other side only once the
 * link passes again: a black hole carries no FIN either. */
static void test_hold_close(void **state)
{
    struct proxy *px = *state;
    int up, fd = through(px, &up);

    assert_int_equal(call(px, NULL, 0, "set l hold"), 0);
    close(fd);
    assert_false(readable(up, QUIET_MS));
    assert_int_equal(call(px, NULL, 0, "set l pass"), 0);
    assert_int_equal(end_seen(up), 0);
    close(up);
}

static void test_cut(void **state)
{
    struct proxy *px = *state;
    int up, fd = through(px, &up), late;

    assert_int_equal(call(px, NULL, 0, "set l cut"), 0);
    assert_int_equal(end_seen(fd), -ECONNRESET);
    assert_int_equal(end_seen(up), -ECONNRESET);
    close(fd);
    close(up);
    late = dial(px->port);
    assert_int_equal(end_seen(late), -ECONNRESET);
    close(late);
    assert_int_equal(call(px, NULL, 0, "set l pass"), 0);
}

/* A timed cut heals by itself, should the harness hang. */
static void test_heals_by_itself(void **state)
{
    struct proxy *px = *state;
    int up, fd;

    assert_int_equal(call(px, NULL, 0, "set l drop 200"), 0);
    fd = dial(px->port);
    assert_int_equal(end_seen(fd), 0);
    close(fd);
    usleep(400 * 1000);
    fd = through(px, &up);
    assert_int_equal(write(fd, "again", 5), 5);
    expect_bytes(up, "again");
    close(fd);
    close(up);
}

static void test_refusals(void **state)
{
    struct proxy *px = *state;

    assert_int_equal(call(px, NULL, 0, "set nowhere drop"), -1);
    assert_int_equal(call(px, NULL, 0, "set l sideways"), -1);
    assert_int_equal(call(px, NULL, 0, "set l drop -5"), -1);
    assert_int_equal(call(px, NULL, 0, "route m 0"), -1);
    assert_int_equal(call(px, NULL, 0, "route m 70000"), -1);
    assert_int_equal(call(px, NULL, 0, "conns nowhere"), -1);
    assert_int_equal(call(px, NULL, 0, "frobnicate"), -1);
    assert_int_equal(call(px, NULL, 0, "set l pass"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pass, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hold_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_heals_by_itself, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
