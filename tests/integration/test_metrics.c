/*
 * Integration: the [http] endpoints of a real tmbusd. /metrics passes
 * promtool's checks and a real Prometheus server scrapes it (up == 1, a
 * tmbus counter stored); /healthz is 200 while the links are up, 503
 * naming the peer once its node has been killed for longer than the grace
 * period, and 200 again after it returns; 503 when the store's file system
 * has less free space than configured; other paths are 404, other
 * methods 405, an oversized request is refused, and `tmbusd -n` refuses a
 * non-loopback address unless allow_remote is set. When promtool or
 * prometheus is not installed, the rest still runs and the program exits
 * with TEST_SKIP (ctest reports it skipped, with the reason).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <sodium.h>

#include "fed.h"
#include "fedclient.h"
#include "tmbus.h"

#define TEST_SKIP      77    /* SKIP_RETURN_CODE in tests/CMakeLists.txt */
#define LINK_MS        15000 /* links come up well within this */
#define HEALTH_MS      15000 /* /healthz changes its answer well within this */
#define SCRAPE_MS      30000 /* Prometheus starts and scrapes within this */
#define TOOL_MS        15000 /* promtool answers within this */
#define GRACE_MS       1000  /* [http] health_grace_ms of the node under test */
#define REPLY_MAX      (1 << 20)
#define IO_TIMEOUT_S   5
#define OVERSIZED_SIZE (64 * 1024)

static bool has_tools;       /* promtool and prometheus are installed */
static pid_t prometheus_pid; /* 0: not running */

struct reply {
    int status; /* 0: no status line (the connection was closed) */
    char *head; /* status line and headers */
    char *body;
    char *raw; /* what head and body point into */
};

static void reply_free(struct reply *r)
{
    free(r->raw);
    memset(r, 0, sizeof(*r));
}

/* A loopback port the kernel picks, free again when this returns. */
static unsigned free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    unsigned port = 0;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd != -1 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd != -1)
        close(fd);
    return port;
}

/* Sends request (whole, raw) to 127.0.0.1:port and reads the reply until
 * the server closes. Returns 0, or -1 when nothing could be sent. */
static int exchange(unsigned port, const char *request, size_t len, struct reply *r)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    size_t got = 0, sent = 0;
    char *sep;

    memset(r, 0, sizeof(*r));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1 ||
        connect(fd, (struct sockaddr *)&a, sizeof(a)) == -1) {
        if (fd != -1)
            close(fd);
        return -1;
    }
    /* A server that refuses a long request may close before it is all
     * sent: what it answered so far still counts. */
    while (sent < len) {
        ssize_t n = send(fd, request + sent, len - sent, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        sent += (size_t)n;
    }
    r->raw = calloc(1, REPLY_MAX + 1);
    assert_non_null(r->raw);
    for (;;) {
        ssize_t n = recv(fd, r->raw + got, REPLY_MAX - got, 0);
        if (n <= 0 || (got += (size_t)n) == REPLY_MAX)
            break;
    }
    close(fd);
    r->head = r->raw;
    if ((sep = strstr(r->raw, "\r\n\r\n")) != NULL) {
        *sep = '\0';
        r->body = sep + 4;
    } else {
        r->body = r->raw + got;
    }
    if (sscanf(r->raw, "HTTP/1.%*d %d", &r->status) != 1)
        r->status = 0;
    return 0;
}

static int http_do(unsigned port, const char *method, const char *path, struct reply *r)
{
    char req[1024];
    int n = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nConnection: close\r\n\r\n", method,
                     path, port);

    assert_true(n > 0 && (size_t)n < sizeof(req));
    return exchange(port, req, (size_t)n, r);
}

/* Runs argv (stdin from in_path unless NULL, stdout and stderr to
 * out_path) and waits at most timeout_ms. Returns its exit status, or -1
 * when it could not run, died of a signal or had to be killed. */
static int run_tool(char *const argv[], const char *in_path, const char *out_path, int timeout_ms)
{
    int64_t deadline = fed_now_ms() + timeout_ms;
    pid_t pid = fork();
    int status;

    if (pid == -1)
        return -1;
    if (pid == 0) {
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int in = in_path != NULL ? open(in_path, O_RDONLY) : -1;
        if (out == -1 || (in_path != NULL && in == -1))
            _exit(126);
        if (in != -1)
            dup2(in, 0);
        dup2(out, 1);
        dup2(out, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        if (fed_now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        fed_sleep_ms(20);
    }
}

static void print_file(const char *path)
{
    char line[512];
    FILE *fp = fopen(path, "r");

    if (fp == NULL)
        return;
    while (fgets(line, sizeof(line), fp) != NULL)
        fprintf(stderr, "  %s", line);
    fclose(fp);
}

static bool on_path(const char *prog)
{
    char *path = getenv("PATH"), *copy, *dir, *save = NULL;
    char full[FED_PATH_MAX];
    bool found = false;

    if (path == NULL || (copy = strdup(path)) == NULL)
        return false;
    for (dir = strtok_r(copy, ":", &save); dir != NULL && !found;
         dir = strtok_r(NULL, ":", &save)) {
        snprintf(full, sizeof(full), "%s/%s", dir, prog);
        found = access(full, X_OK) == 0;
    }
    free(copy);
    return found;
}

static void stop_prometheus(void)
{
    int status;

    if (prometheus_pid <= 0)
        return;
    kill(prometheus_pid, SIGTERM);
    for (int k = 0; k < 100 && waitpid(prometheus_pid, &status, WNOHANG) == 0; k++)
        fed_sleep_ms(50);
    if (kill(prometheus_pid, 0) == 0) {
        kill(prometheus_pid, SIGKILL);
        waitpid(prometheus_pid, &status, 0);
    }
    prometheus_pid = 0;
}

static int teardown(void **state)
{
    stop_prometheus();
    return fed_teardown(state);
}

/* A federation of A and B where A serves [http] on port, wanting
 * min_free_mb free for its store. */
static struct fed *start_pair_free(void **state, unsigned port, uint32_t min_free_mb)
{
    static const char *const ids[] = {"A", "B"};
    char extra[256];
    struct fed *f = fed_new(2, ids);

    assert_non_null(f);
    *state = f;
    snprintf(extra, sizeof(extra),
             "[http]\nlisten = 127.0.0.1:%u\nhealth_grace_ms = %d\nhealth_min_free_mb = %" PRIu32
             "\n",
             port, GRACE_MS, min_free_mb);
    assert_int_equal(fed_set_extra(f, 0, extra), 0);
    assert_int_equal(fed_start_all(f), 0);
    assert_int_equal(fed_wait_links(f, "A", 0, "B", 0, LINK_MS), 0);
    return f;
}

static struct fed *start_pair(void **state, unsigned port)
{
    return start_pair_free(state, port, 64);
}

struct health_wait {
    unsigned port;
    int want;
    const char *needle; /* in the body; NULL: anything */
    struct reply last;
};

static bool is_health(void *arg)
{
    struct health_wait *w = arg;

    reply_free(&w->last);
    return http_do(w->port, "GET", "/healthz", &w->last) == 0 && w->last.status == w->want &&
           (w->needle == NULL || strstr(w->last.body, w->needle) != NULL);
}

static void wait_health(unsigned port, int want, const char *needle)
{
    struct health_wait w = {port, want, needle, {0}};

    if (fed_wait_until(is_health, &w, HEALTH_MS, 100) != 0)
        fail_msg("/healthz never answered %d%s%s; last: %d \"%s\"", want,
                 needle != NULL ? " with " : "", needle != NULL ? needle : "", w.last.status,
                 w.last.body != NULL ? w.last.body : "");
    reply_free(&w.last);
}

static void test_health_follows_links(void **state)
{
    unsigned port = free_port();
    struct fed *f = start_pair(state, port);
    size_t b = fed_index(f, "B");

    wait_health(port, 200, "ok");
    fed_kill(f, b);
    wait_health(port, 503, "peer B:");
    assert_int_equal(fed_start(f, b), 0);
    wait_health(port, 200, "ok");
    fed_pass(f);
}

/* A store whose file system has less free space than health_min_free_mb
 * (here more than any test machine has) makes /healthz fail with the
 * figure, while /metrics shows the free bytes. */
static void test_health_wants_disk(void **state)
{
    unsigned port = free_port();
    struct fed *f = start_pair_free(state, port, 16777216);
    struct reply r;

    wait_health(port, 503, "MiB free on the data directory's file system");
    assert_int_equal(http_do(port, "GET", "/metrics", &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\ntmbus_filesystem_free_bytes "));
    reply_free(&r);
    fed_pass(f);
}

static void test_paths_and_methods(void **state)
{
    unsigned port = free_port();
    struct fed *f = start_pair(state, port);
    struct reply r;
    char *big = malloc(OVERSIZED_SIZE + 128);
    int n;

    assert_int_equal(http_do(port, "GET", "/nope", &r), 0);
    assert_int_equal(r.status, 404);
    reply_free(&r);
    assert_int_equal(http_do(port, "GET", "/metrics/extra", &r), 0);
    assert_int_equal(r.status, 404);
    reply_free(&r);
    assert_int_equal(http_do(port, "POST", "/metrics", &r), 0);
    assert_int_equal(r.status, 405);
    assert_non_null(strstr(r.head, "Allow: GET, HEAD"));
    reply_free(&r);
    assert_int_equal(http_do(port, "DELETE", "/healthz", &r), 0);
    assert_int_equal(r.status, 405);
    reply_free(&r);
    assert_int_equal(http_do(port, "HEAD", "/metrics", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "");
    reply_free(&r);

    /* A header far past the server's per-connection memory is refused
     * (an error status or a closed connection), and the node serves on. */
    assert_non_null(big);
    n = snprintf(big, OVERSIZED_SIZE + 128, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(big + n, 'a', OVERSIZED_SIZE);
    memcpy(big + n + OVERSIZED_SIZE, "\r\n\r\n", 4);
    assert_int_equal(exchange(port, big, (size_t)n + OVERSIZED_SIZE + 4, &r), 0);
    assert_true(r.status == 0 || r.status >= 400);
    reply_free(&r);
    free(big);
    assert_int_equal(http_do(port, "GET", "/metrics", &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "tmbus_build_info{version=\"" TMBUS_VERSION_STRING "\"} 1"));
    assert_non_null(strstr(r.body, "tmbus_peer_link_state{peer=\"B\",state=\"up\"} 1"));
    assert_non_null(strstr(r.body, "tmbus_http_rejected_total{reason=\"not-found\"} 2"));
    /* The board's kept counts, by status too (an empty board here). */
    assert_non_null(strstr(r.body, "\ntmbus_board_needs 0\n"));
    assert_non_null(strstr(r.body, "\ntmbus_board_needs_by_status{status=\"open\"} 0\n"));
    assert_non_null(strstr(r.body, "\ntmbus_board_offers_by_status{status=\"withdrawn\"} 0\n"));
    /* Every link change is counted, logged or not. */
    assert_non_null(strstr(r.body, "\ntmbus_peer_link_up_total "));
    reply_free(&r);
    fed_pass(f);
}

static void test_check_refuses_remote(void **state)
{
    static const char *const ids[] = {"A"};
    struct fed *f = fed_new(1, ids);

    assert_non_null(f);
    *state = f;
    assert_int_equal(fed_set_extra(f, 0, "[http]\nlisten = 0.0.0.0:9464\n"), 0);
    assert_int_equal(fed_run_exit(f, 0, true), 78);
    assert_int_equal(fed_set_extra(f, 0, "[http]\nlisten = 127.0.0.1:99999\n"), 0);
    assert_int_equal(fed_run_exit(f, 0, true), 78);
    assert_int_equal(fed_set_extra(f, 0, "[http]\nlisten = 0.0.0.0:9464\nallow_remote = true\n"),
                     0);
    assert_int_equal(fed_run_exit(f, 0, true), 0);
    assert_int_equal(fed_set_extra(f, 0, "[http]\nlisten = [::1]:9464\n"), 0);
    assert_int_equal(fed_run_exit(f, 0, true), 0);
    fed_pass(f);
}

struct query_wait {
    unsigned port;
    const char *path;
    const char *needle;
    struct reply last;
};

static bool is_in_query(void *arg)
{
    struct query_wait *w = arg;

    reply_free(&w->last);
    return http_do(w->port, "GET", w->path, &w->last) == 0 && w->last.status == 200 &&
           strstr(w->last.body, w->needle) != NULL;
}

static void wait_query(unsigned port, const char *path, const char *needle, const char *log)
{
    struct query_wait w = {port, path, needle, {0}};

    if (fed_wait_until(is_in_query, &w, SCRAPE_MS, 250) != 0) {
        fprintf(stderr, "prometheus log:\n");
        print_file(log);
        fail_msg("Prometheus never answered %s with %s; last: %d \"%.400s\"", path, needle,
                 w.last.status, w.last.body != NULL ? w.last.body : "");
    }
    reply_free(&w.last);
}

static void test_prometheus_scrapes(void **state)
{
    unsigned port = free_port(), prom_port = free_port();
    struct fed *f = start_pair(state, port);
    char path[FED_PATH_MAX], out[FED_PATH_MAX], conf[FED_PATH_MAX], data[FED_PATH_MAX],
        log[FED_PATH_MAX], listen[64], flag_conf[FED_PATH_MAX + 16], flag_data[FED_PATH_MAX + 32],
        flag_listen[96];
    char tag[FC_TAG_MAX];
    struct tmbus *h;
    struct reply r;
    FILE *fp;
    int rc;

    if (!has_tools) {
        fed_pass(f);
        skip();
    }
    /* Something committed, so that the commit histograms have a sample. */
    assert_non_null(h = fc_connect(f, fed_index(f, "A")));
    fc_tag(tag, sizeof(tag), "metrics");
    assert_int_equal(fc_post(h, FC_TLP_GREEN, tag, 0, NULL, 0, NULL), TMBUS_OK);
    tmbus_close(&h);

    assert_int_equal(http_do(port, "GET", "/metrics", &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "tmbus_commit_seconds_bucket{le=\"+Inf\"}"));
    snprintf(path, sizeof(path), "%s/metrics.txt", fed_dir(f));
    snprintf(out, sizeof(out), "%s/promtool.out", fed_dir(f));
    assert_non_null(fp = fopen(path, "w"));
    fputs(r.body, fp);
    fclose(fp);
    reply_free(&r);
    rc = run_tool((char *[]){"promtool", "check", "metrics", NULL}, path, out, TOOL_MS);
    if (rc != 0) {
        fprintf(stderr, "promtool check metrics (exit %d):\n", rc);
        print_file(out);
        fail_msg("promtool refused /metrics (kept in %s)", path);
    }

    snprintf(conf, sizeof(conf), "%s/prometheus.yml", fed_dir(f));
    snprintf(data, sizeof(data), "%s/prometheus-data", fed_dir(f));
    snprintf(log, sizeof(log), "%s/prometheus.log", fed_dir(f));
    assert_non_null(fp = fopen(conf, "w"));
    fprintf(fp,
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n  - job_name: tmbus\n    static_configs:\n"
            "      - targets: ['127.0.0.1:%u']\n",
            port);
    fclose(fp);
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", prom_port);
    snprintf(flag_conf, sizeof(flag_conf), "--config.file=%s", conf);
    snprintf(flag_data, sizeof(flag_data), "--storage.tsdb.path=%s", data);
    snprintf(flag_listen, sizeof(flag_listen), "--web.listen-address=%s", listen);
    prometheus_pid = fork();
    assert_true(prometheus_pid != -1);
    if (prometheus_pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd == -1)
            _exit(126);
        dup2(fd, 1);
        dup2(fd, 2);
        execlp("prometheus", "prometheus", flag_conf, flag_data, flag_listen, (char *)NULL);
        _exit(127);
    }
    wait_query(prom_port, "/api/v1/query?query=up%7Bjob%3D%22tmbus%22%7D%3D%3D1", "\"value\":[",
               log);
    wait_query(prom_port, "/api/v1/query?query=tmbus_api_posted_total%7Bjob%3D%22tmbus%22%7D",
               "\"__name__\":\"tmbus_api_posted_total\"", log);
    stop_prometheus();
    fed_pass(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_check_refuses_remote, teardown),
        cmocka_unit_test_teardown(test_paths_and_methods, teardown),
        cmocka_unit_test_teardown(test_health_follows_links, teardown),
        cmocka_unit_test_teardown(test_health_wants_disk, teardown),
        cmocka_unit_test_teardown(test_prometheus_scrapes, teardown),
    };
    int rc;

    if (sodium_init() < 0)
        return 1;
    has_tools = on_path("promtool") && on_path("prometheus");
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (rc == 0 && !has_tools) {
        fprintf(stderr, "SKIP: promtool or prometheus is not installed (Debian package "
                        "prometheus; deploy/install-deps installs it): /metrics was not "
                        "checked by them\n");
        return TEST_SKIP;
    }
    return rc;
}
