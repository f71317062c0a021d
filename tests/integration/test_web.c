/*
 * Integration: tmbus-web, the dashboard, run as an operator would (the
 * real binary, by path) for a reader client of UA with clearance green,
 * in a federation of UA and EE whose board is set up through libtmbus.
 * Over plain HTTP: the token is required, every answer carries the
 * Content-Security-Policy, only GET and HEAD are served, pages show needs,
 * coverage, offers and totals, never an amber need, and a hostile title
 * only escaped; /events streams a need posted afterwards. In Debian's
 * chromium (headless): the rendered DOM holds the same, a need posted
 * later appears on reload, and a screenshot is written. Without a
 * chromium that runs, everything else is checked and the test reports
 * itself skipped.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#ifndef TMBUS_WEB_BIN
#error "TMBUS_WEB_BIN (the path of the tmbus-web binary) is not defined"
#endif

#include "fed.h"
#include "fedclient.h"
#include "tmbus.h"

#define UA 0
#define EE 1

#define TOKEN       "test-token-0123456789abcdef"
#define WAIT_MS     15000
#define HTTP_MS     15000
#define CHROMIUM_MS 45000
#define OFFER_CENTS 250050 /* 2,500.50 EUR */
#define HOSTILE     "<script>alert(1)</script> hostile"
#define SKIP_CODE   77

struct web {
    struct fed *f;
    struct tmbus *ua, *ee;
    pid_t pid;
    unsigned port;
    pid_t tls_pid; /* the second dashboard, over TLS (test_tls) */
    unsigned tls_port;
    char key_path[FED_PATH_MAX]; /* the dashboard's client key */
    uint8_t radios[TMBUS_ID_BYTES];
    int n_passed; /* tests that reached their end; all: the directory goes */
};

static bool is_chromium_missing;

/* ---- helpers -------------------------------------------------------------- */

static void post_need(struct tmbus *h, const char *title, int priority, int tlp,
                      uint8_t id[TMBUS_ID_BYTES])
{
    struct tmbus_need n = {0};

    n.sector = TMBUS_SECTOR_TELECOM;
    n.category = TMBUS_CATEGORY_HARDWARE;
    n.title = title;
    n.quantity = 10;
    n.unit = "devices";
    n.value_cents = 1200000;
    n.priority = priority;
    n.deadline = "2031-01-31";
    n.tlp = tlp;
    assert_int_equal(tmbus_post_need(h, &n, NULL, 0, true, FC_CALL_MS, id), TMBUS_OK);
}

/* Waits until h's board holds need id (any status), or offer id in
 * status when status is not NULL. */
static void wait_board(struct tmbus *h, const uint8_t *id, const char *offer_status)
{
    int64_t deadline = fed_now_ms() + fed_ms(WAIT_MS);

    for (;;) {
        struct tmbus_board *b = NULL;
        bool is_there = false;
        if (tmbus_board(h, NULL, NULL, FC_CALL_MS, &b) == TMBUS_OK) {
            for (size_t i = 0; offer_status == NULL && i < tmbus_board_need_count(b); i++)
                is_there |= memcmp(tmbus_board_need_at(b, i)->id, id, TMBUS_ID_BYTES) == 0;
            for (size_t i = 0; offer_status != NULL && i < tmbus_board_offer_count(b); i++) {
                const struct tmbus_board_offer *o = tmbus_board_offer_at(b, i);
                is_there |=
                    memcmp(o->id, id, TMBUS_ID_BYTES) == 0 && !strcmp(o->status, offer_status);
            }
        }
        tmbus_board_free(&b);
        if (is_there)
            return;
        if (fed_now_ms() > deadline)
            fail_msg("the board never showed it (%s)", offer_status ? offer_status : "need");
        fed_sleep_ms(100);
    }
}

static int dial(unsigned port)
{
    struct sockaddr_in sa = {0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* Reads from fd into *buf (grown) until EOF, until stop appears (when not
 * NULL), or until timeout_ms pass. */
static void read_until(int fd, char **buf, size_t *len, const char *stop, int timeout_ms)
{
    int64_t deadline = fed_now_ms() + fed_ms(timeout_ms);

    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        char chunk[4096];
        ssize_t n;
        int left = (int)(deadline - fed_now_ms());

        if (stop != NULL && *buf != NULL && strstr(*buf, stop) != NULL)
            return;
        if (left <= 0 || poll(&p, 1, left) <= 0)
            return;
        n = read(fd, chunk, sizeof(chunk));
        if (n <= 0)
            return;
        *buf = realloc(*buf, *len + (size_t)n + 1);
        assert_non_null(*buf);
        memcpy(*buf + *len, chunk, (size_t)n);
        *len += (size_t)n;
        (*buf)[*len] = '\0';
    }
}

/* One HTTP/1.1 request (Connection: close); returns the whole response
 * (the caller frees it) and its status in *status. */
static char *http(unsigned port, const char *method, const char *path, const char *headers,
                  int *status)
{
    char req[2048], *resp = NULL;
    size_t len = 0;
    int fd = dial(port);

    snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s\r\n",
             method, path, headers != NULL ? headers : "");
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    read_until(fd, &resp, &len, NULL, HTTP_MS);
    close(fd);
    assert_non_null(resp);
    assert_int_equal(sscanf(resp, "HTTP/1.1 %d", status), 1);
    return resp;
}

static char *get_ok(unsigned port, const char *path)
{
    int status = 0;
    char *r = http(port, "GET", path, "Authorization: Bearer " TOKEN "\r\n", &status);

    if (status != 200)
        fail_msg("GET %s: %d\n%s", path, status, r);
    return r;
}

static void assert_has(const char *text, const char *what)
{
    if (strstr(text, what) == NULL)
        fail_msg("no '%s' in:\n%s", what, text);
}

static void assert_lacks(const char *text, const char *what)
{
    const char *at = strstr(text, what);

    if (at != NULL)
        fail_msg("'%s' should not be in: ...%.300s", what, at > text + 300 ? at - 300 : text);
}

/* The whole file at path (the caller frees it). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0;

    if (f == NULL)
        fail_msg("%s: %s", path, strerror(errno));
    for (;;) {
        char chunk[4096];
        size_t n = fread(chunk, 1, sizeof(chunk), f);
        if (n == 0)
            break;
        buf = realloc(buf, len + n + 1);
        assert_non_null(buf);
        memcpy(buf + len, chunk, n);
        len += n;
        buf[len] = '\0';
    }
    fclose(f);
    return buf != NULL ? buf : strdup("");
}

/* The page's <main> (the board, without the feed column), cut in place. */
static char *main_of(char *page)
{
    char *start = strstr(page, "<main>"), *end = strstr(page, "</main>");

    assert_non_null(start);
    assert_non_null(end);
    *end = '\0';
    return start;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* Runs argv with stdout to out_path (NULL: /dev/null) and stderr to
 * err_path; kills it after timeout_ms. Returns its exit status, or -1. */
static int run(const char *const argv[], const char *out_path, const char *err_path, int timeout_ms)
{
    int64_t deadline = fed_now_ms() + fed_ms(timeout_ms);
    pid_t pid = fork();
    int st;

    assert_true(pid >= 0);
    if (pid == 0) {
        int out =
            open(out_path != NULL ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = open(err_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (out < 0 || err < 0)
            _exit(127);
        dup2(out, 1);
        dup2(err, 2);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    for (;;) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        if (fed_now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        fed_sleep_ms(50);
    }
}

/* ---- the federation and the dashboard --------------------------------------- */

/* Starts tmbus-web for the client key key_path of node UA, over TLS with
 * cert and key when given (else NULL, NULL), and learns its pid and port
 * from the line it prints. */
static void start_web_as(struct web *w, const char *key_path, const char *cert, const char *key,
                         pid_t *pid, unsigned *port)
{
    char conf[FED_PATH_MAX], token[FED_PATH_MAX], text[2 * FED_PATH_MAX + 256];
    const char *scheme = cert != NULL ? "serving https://127.0.0.1:" : "serving http://127.0.0.1:";
    char *line = NULL;
    size_t len = 0;
    int out[2];
    const char *at;

    snprintf(conf, sizeof(conf), "%s/web.conf", fed_dir(w->f));
    snprintf(text, sizeof(text), "[client]\nendpoint = %s\nnode_key = %s\nkey = %s\n",
             fed_client_endpoint(w->f, UA), fed_member_pub_path(w->f, UA), key_path);
    write_file(conf, text, 0600);
    snprintf(token, sizeof(token), "%s/web.token", fed_dir(w->f));
    write_file(token, TOKEN "\n", 0600);

    assert_int_equal(pipe(out), 0);
    *pid = fork();
    assert_true(*pid >= 0);
    if (*pid == 0) {
        char log[FED_PATH_MAX + 16];
        int err;
        snprintf(log, sizeof(log), "%s/web.log", fed_dir(w->f));
        err = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2(out[1], 1);
        if (err >= 0)
            dup2(err, 2);
        close(out[0]);
        if (cert != NULL)
            fed_exec((const char *const[]){TMBUS_WEB_BIN, "-c", conf, "-l", "127.0.0.1:0", "-t",
                                           token, "--tls-cert", cert, "--tls-key", key, NULL});
        else
            fed_exec((const char *const[]){TMBUS_WEB_BIN, "-c", conf, "-l", "127.0.0.1:0", "-t",
                                           token, NULL});
        _exit(127);
    }
    close(out[1]);
    read_until(out[0], &line, &len, "/\n", WAIT_MS);
    close(out[0]);
    at = line != NULL ? strstr(line, scheme) : NULL;
    if (at == NULL)
        fail_msg("tmbus-web did not say where it serves: %s", line ? line : "(nothing)");
    *port = (unsigned)strtoul(at + strlen(scheme), NULL, 10);
    assert_true(*port > 0);
    free(line);
}

static void start_web(struct web *w, const char *key_path)
{
    start_web_as(w, key_path, NULL, NULL, &w->pid, &w->port);
}

static int setup(void **state)
{
    /* EE coordinates, so that it may post needs as well as offers: needs
     * from another member are what reach UA's subscriptions. */
    static const char *const ids[] = {"UA", "EE"}, *const roles[] = {NULL, "coordinator"};
    struct web *w = calloc(1, sizeof(*w));
    char key[FED_PATH_MAX];
    uint8_t id[TMBUS_ID_BYTES], amber[TMBUS_ID_BYTES], offer[TMBUS_ID_BYTES];
    struct tmbus_offer o = {0};

    assert_non_null(w);
    *state = w;
    assert_non_null(w->f = fed_new_with_roles(2, ids, roles));
    assert_int_equal(fed_add_client(w->f, UA, "UA-web", "reader", "green", key), 0);
    assert_int_equal(fed_start_all(w->f), 0);
    assert_int_equal(fed_wait_links(w->f, "UA", 0, "EE", 0, WAIT_MS), 0);
    assert_non_null(w->ua = fc_connect(w->f, UA));
    assert_non_null(w->ee = fc_connect(w->f, EE));

    post_need(w->ua, "Field radios", TMBUS_PRIORITY_CRITICAL, TMBUS_TLP_GREEN, w->radios);
    post_need(w->ua, "Spare routers", TMBUS_PRIORITY_LOW, TMBUS_TLP_GREEN, id);
    post_need(w->ua, HOSTILE, TMBUS_PRIORITY_MEDIUM, TMBUS_TLP_GREEN, id);
    post_need(w->ee, "Amber secret need", TMBUS_PRIORITY_HIGH, TMBUS_TLP_AMBER, amber);
    o.need_id = w->radios;
    o.quantity = 4;
    o.value_cents = OFFER_CENTS;
    o.tlp = TMBUS_TLP_GREEN;
    assert_int_equal(tmbus_post_offer(w->ee, &o, NULL, 0, true, FC_CALL_MS, offer), TMBUS_OK);
    wait_board(w->ua, offer, "proposed");
    assert_int_equal(
        tmbus_offer_update(w->ua, offer, TMBUS_OFFER_ACCEPT, NULL, NULL, 0, true, FC_CALL_MS, NULL),
        TMBUS_OK);
    /* UA's node holds the amber need, so its absence below is the
     * clearance at work, not a need that never arrived. */
    wait_board(w->ua, amber, NULL);
    wait_board(w->ua, offer, "accepted");

    snprintf(w->key_path, sizeof(w->key_path), "%s", key);
    start_web(w, key);
    return 0;
}

static int teardown(void **state)
{
    struct web *w = *state;
    int st;

    for (int i = 0; i < 2; i++) {
        pid_t pid = i == 0 ? w->pid : w->tls_pid;
        if (pid <= 0)
            continue;
        kill(pid, SIGTERM);
        if (waitpid(pid, &st, 0) == pid && (!WIFEXITED(st) || WEXITSTATUS(st) != 0))
            fprintf(stderr, "tmbus-web did not stop cleanly (status %d)\n", st);
    }
    tmbus_close(&w->ua);
    tmbus_close(&w->ee);
    fed_free(&w->f);
    free(w);
    return 0;
}

/* ---- over HTTP ------------------------------------------------------------------ */

static void test_http(void **state)
{
    struct web *w = *state;
    char path[128], hex[TMBUS_ID_HEX_BYTES], *r, *board;
    int status;

    r = http(w->port, "GET", "/", NULL, &status);
    assert_int_equal(status, 401);
    assert_has(r, "Content-Security-Policy: default-src 'none'");
    free(r);
    r = http(w->port, "GET", "/", "Authorization: Bearer wrong-token-0123456789\r\n", &status);
    assert_int_equal(status, 401);
    free(r);
    r = http(w->port, "POST", "/", "Authorization: Bearer " TOKEN "\r\nContent-Length: 0\r\n",
             &status);
    assert_int_equal(status, 405);
    assert_has(r, "Allow: GET, HEAD");
    free(r);
    r = http(w->port, "GET", "/nothing-here", "Authorization: Bearer " TOKEN "\r\n", &status);
    assert_int_equal(status, 404);
    free(r);

    /* The token in the query string once, then the cookie it sets. */
    r = http(w->port, "GET", "/?token=" TOKEN, NULL, &status);
    assert_int_equal(status, 200);
    assert_has(r, "Set-Cookie: tmbus_web_token=" TOKEN);
    assert_has(r, "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src "
                  "'self'");
    assert_has(r, "Field radios");
    assert_has(r, "Spare routers");
    assert_has(r, "40% covered");
    assert_has(r, "&lt;script&gt;alert(1)&lt;/script&gt; hostile");
    assert_lacks(r, "<script>alert");
    assert_lacks(r, "Amber secret need");
    assert_true(strstr(r, "Field radios") < strstr(r, "hostile"));
    assert_true(strstr(r, "hostile") < strstr(r, "Spare routers"));
    free(r);
    r = http(w->port, "GET", "/?q=ROUTERS", "Cookie: tmbus_web_token=" TOKEN "\r\n", &status);
    assert_int_equal(status, 200);
    board = main_of(r);
    assert_has(board, "Spare routers");
    assert_lacks(board, "Field radios");
    free(r);
    r = get_ok(w->port, "/?status=covered");
    assert_lacks(main_of(r), "Field radios");
    free(r);
    r = get_ok(w->port, "/?category=hardware&owner=UA&status=partially_covered");
    board = main_of(r);
    assert_has(board, "Field radios");
    assert_lacks(board, "Spare routers");
    free(r);

    tmbus_id_to_hex(w->radios, hex);
    snprintf(path, sizeof(path), "/need/%s", hex);
    r = get_ok(w->port, path);
    assert_has(r, "<td>EE</td><td>accepted</td>");
    assert_has(r, "2,500.50");
    free(r);

    r = get_ok(w->port, "/totals");
    assert_has(r, "Pledged EUR <strong>2,500.50</strong>");
    assert_has(r, "id=\"by-donor\"");
    assert_has(r, "<td>EE</td><td class=\"num\">2,500.50</td>");
    assert_has(r, "<td>hardware</td>");
    assert_has(r, "<td>telecom</td>");
    free(r);

    r = get_ok(w->port, "/style.css");
    assert_has(r, "Content-Type: text/css");
    free(r);
    w->n_passed++;
}

/* Over TLS: curl, trusting only the dashboard's own certificate, gets the
 * board with a Secure cookie; plain HTTP to that port gets no page; a
 * private key that others may read is refused at start. */
static void test_tls(void **state)
{
    struct web *w = *state;
    char dir[FED_PATH_MAX], cert[FED_PATH_MAX + 16], key[FED_PATH_MAX + 16];
    char loose[FED_PATH_MAX + 32], out[FED_PATH_MAX + 16], err[FED_PATH_MAX + 16];
    char url[128], cmd[8 * FED_PATH_MAX];
    char *page, *r;

    snprintf(dir, sizeof(dir), "%s", fed_dir(w->f));
    snprintf(cert, sizeof(cert), "%s/web-cert.pem", dir);
    snprintf(key, sizeof(key), "%s/web-key.pem", dir);
    snprintf(loose, sizeof(loose), "%s/web-key-loose.pem", dir);
    snprintf(out, sizeof(out), "%s/web-tls.out", dir);
    snprintf(err, sizeof(err), "%s/web-tls.err", dir);
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
             " -keyout '%s' -out '%s' -days 2 -subj /CN=127.0.0.1"
             " -addext subjectAltName=IP:127.0.0.1 2>>'%s' && chmod 600 '%s'"
             " && cp '%s' '%s' && chmod 644 '%s'",
             key, cert, err, key, key, loose, loose);
    assert_int_equal(system(cmd), 0);

    {
        const char *const argv[] = {TMBUS_WEB_BIN, "-l",        "127.0.0.1:0", "--tls-cert",
                                    cert,          "--tls-key", loose,         NULL};
        char conf[FED_PATH_MAX + 16];
        snprintf(conf, sizeof(conf), "%s/web.conf", dir);
        setenv("TMBUS_CONFIG", conf, 1);
        assert_int_equal(run(argv, NULL, err, WAIT_MS), 78);
        unsetenv("TMBUS_CONFIG");
        page = slurp(err);
        assert_has(page, "group or others can access the private key");
        free(page);
    }

    start_web_as(w, w->key_path, cert, key, &w->tls_pid, &w->tls_port);
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/?token=" TOKEN, w->tls_port);
    {
        const char *const argv[] = {"curl", "-sS", "--max-time", "10", "--cacert",
                                    cert,   "-D",  "-",          url,  NULL};
        assert_int_equal(run(argv, out, err, HTTP_MS), 0);
    }
    page = slurp(out);
    assert_has(page, "HTTP/1.1 200");
    assert_has(page,
               "Set-Cookie: tmbus_web_token=" TOKEN "; HttpOnly; SameSite=Strict; Path=/; Secure");
    assert_has(page, "Field radios");
    assert_lacks(page, "Amber secret need");
    free(page);

    /* Plain HTTP to the TLS port: no page. */
    {
        static const char req[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                                  "Authorization: Bearer " TOKEN "\r\n\r\n";
        size_t len = 0;
        int fd = dial(w->tls_port);

        r = NULL;
        assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
        read_until(fd, &r, &len, NULL, HTTP_MS);
        close(fd);
        assert_true(r == NULL || strstr(r, "Field radios") == NULL);
        free(r);
    }
    w->n_passed++;
}

/* /events sends a need that arrives while the stream is open. */
static void test_events(void **state)
{
    struct web *w = *state;
    const char *req =
        "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " TOKEN "\r\n\r\n";
    uint8_t id[TMBUS_ID_BYTES];
    char *buf = NULL;
    size_t len = 0;
    int fd = dial(w->port);

    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    read_until(fd, &buf, &len, ": keep-alive", HTTP_MS);
    assert_non_null(buf);
    assert_has(buf, "HTTP/1.1 200");
    assert_has(buf, "text/event-stream");
    post_need(w->ee, "Streamed water pumps", TMBUS_PRIORITY_HIGH, TMBUS_TLP_GREEN, id);
    read_until(fd, &buf, &len, "Streamed water pumps", WAIT_MS);
    assert_has(buf, "event: bus\ndata: EE: need \"Streamed water pumps\" (high)");
    close(fd);
    free(buf);
    w->n_passed++;
}

/* ---- in chromium ------------------------------------------------------------------ */

static const char *chromium_path(void)
{
    static const char *const paths[] = {"/usr/bin/chromium", "/usr/bin/chromium-browser"};

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        if (access(paths[i], X_OK) == 0)
            return paths[i];
    return NULL;
}

/* Runs chromium headless on url with one more option (--dump-dom, or
 * --screenshot=FILE); the DOM (or nothing) goes to out_path. */
static int chromium(struct web *w, const char *option, const char *url, const char *out_path)
{
    char profile[FED_PATH_MAX + 16], err[FED_PATH_MAX + 16];
    const char *argv[] = {chromium_path(),
                          "--headless",
                          "--no-sandbox",
                          "--disable-gpu",
                          "--disable-quic",
                          "--no-first-run",
                          "--disable-background-networking",
                          "--disable-component-update",
                          "--disable-sync",
                          "--disable-dev-shm-usage",
                          "--window-size=1280,860",
                          profile,
                          option,
                          url,
                          NULL};

    snprintf(profile, sizeof(profile), "--user-data-dir=%s/chromium", fed_dir(w->f));
    snprintf(err, sizeof(err), "%s/chromium.log", fed_dir(w->f));
    return run(argv, out_path, err, CHROMIUM_MS);
}

static void test_chromium(void **state)
{
    struct web *w = *state;
    char url[128], dom[FED_PATH_MAX + 16], shot[FED_PATH_MAX + 32], *text;
    uint8_t id[TMBUS_ID_BYTES];
    unsigned char magic[8];
    FILE *f;

    if (chromium_path() == NULL) {
        fprintf(stderr, "SKIP: no chromium (deploy/install-deps installs it)\n");
        is_chromium_missing = true;
        if (w->n_passed == 3)
            fed_pass(w->f);
        return;
    }
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/?token=" TOKEN, w->port);
    snprintf(dom, sizeof(dom), "%s/dom.html", fed_dir(w->f));
    if (chromium(w, "--dump-dom", url, dom) != 0) {
        fprintf(stderr, "SKIP: chromium does not run here (see %s/chromium.log)\n", fed_dir(w->f));
        is_chromium_missing = true;
        if (w->n_passed == 3)
            fed_pass(w->f);
        return;
    }
    text = slurp(dom);
    assert_has(text, "Field radios");
    assert_has(text, "40% covered");
    assert_has(text, "&lt;script&gt;alert(1)&lt;/script&gt; hostile");
    assert_lacks(text, "<script>alert");
    assert_lacks(text, "Amber secret need");
    free(text);

    post_need(w->ee, "Later solar panels", TMBUS_PRIORITY_CRITICAL, TMBUS_TLP_GREEN, id);
    wait_board(w->ua, id, NULL);
    assert_int_equal(chromium(w, "--dump-dom", url, dom), 0);
    text = slurp(dom);
    assert_has(text, "Later solar panels");
    free(text);

    snprintf(url, sizeof(url), "http://127.0.0.1:%u/totals?token=" TOKEN, w->port);
    assert_int_equal(chromium(w, "--dump-dom", url, dom), 0);
    text = slurp(dom);
    assert_has(text, "2,500.50");
    assert_has(text, "id=\"by-category\"");
    free(text);

    snprintf(url, sizeof(url), "http://127.0.0.1:%u/?token=" TOKEN, w->port);
    snprintf(shot, sizeof(shot), "--screenshot=%s/dashboard.png", fed_dir(w->f));
    assert_int_equal(chromium(w, shot, url, NULL), 0);
    f = fopen(shot + strlen("--screenshot="), "rb");
    assert_non_null(f);
    assert_int_equal(fread(magic, 1, sizeof(magic), f), sizeof(magic));
    fclose(f);
    assert_memory_equal(magic, "\x89PNG\r\n\x1a\n", sizeof(magic));
    if (w->n_passed == 3)
        fed_pass(w->f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_tls),
        cmocka_unit_test(test_chromium),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);

    if (rc == 0 && is_chromium_missing) {
        fprintf(stderr, "the dashboard was checked over HTTP only: skipped in a browser\n");
        return SKIP_CODE;
    }
    return rc;
}
