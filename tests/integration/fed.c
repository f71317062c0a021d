/*
 * fed: see fed.h. Builds the federation's files with tmbus-admin exactly as
 * an operator would, then runs tmbusd processes that die with the test
 * program (PR_SET_PDEATHSIG), so a crashed or timed-out test leaves no node
 * behind. Test code only: it never touches anything outside its temporary
 * directory and never prints key material.
 */
/* memmem */
#define _GNU_SOURCE

#include "fed.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "store.h"
#include "util.h"

#ifndef TMBUSD_BIN
#error "TMBUSD_BIN must name the tmbusd binary"
#endif
#ifndef TMBUS_ADMIN_BIN
#error "TMBUS_ADMIN_BIN must name the tmbus-admin binary"
#endif

#define ENDPOINT_MAX  FED_ENDPOINT_MAX
#define LIMIT_NAME    32
#define TAIL_LINES    40
#define POLL_MS       20
#define ROSTER_DAYS   30
#define CLIENT_SUFFIX "-client"
#define FED_EXEC_ARGS 63

struct limit {
    char name[LIMIT_NAME];
    unsigned value;
};

struct member {
    char id[UTIL_MEMBER_ID_MAX + 1];
    const char *role; /* roster role: a static string */
    bool has_node;
    char dir[FED_PATH_MAX];
    char conf[FED_PATH_MAX];
    char log[FED_PATH_MAX];
    char key[FED_PATH_MAX];
    char previous_key[FED_PATH_MAX]; /* previous_keys after a rotation, "" none */
    char next_key[FED_PATH_MAX];     /* next_keys during a rotation, "" none */
    char pub[FED_PATH_MAX];
    char client[UTIL_MEMBER_ID_MAX + sizeof(CLIENT_SUFFIX)];
    char client_key[FED_PATH_MAX];
    uint8_t transport_pk[KEYS_PUBLIC_BYTES];
    char client_pk_b64[64];
    char peer_endpoint[ENDPOINT_MAX];
    char client_endpoint[ENDPOINT_MAX];
    char dial[FED_DIAL_MAX];
    struct limit limits[FED_MAX_LIMITS];
    size_t n_limits;
    const char *clearance; /* the client's; NULL: red */
    /* A second client added by fed_add_client ("" none): its name, role,
     * clearance (static strings) and public key. */
    char extra_client[UTIL_MEMBER_ID_MAX + sizeof(CLIENT_SUFFIX)];
    const char *extra_role, *extra_clearance;
    char extra_pk_b64[64];
    char extra[FED_EXTRA_MAX]; /* appended to the configuration; see fed_set_extra */
    /* Where this node dials each member instead of the roster's endpoint
     * ("" none); see fed_set_peer_endpoint. */
    char dial_endpoint[FED_MAX_MEMBERS][ENDPOINT_MAX];
    char data_dir[FED_PATH_MAX];         /* the store's directory; "" for dir */
    char netns[FED_PATH_MAX];            /* network namespace to start in, "" none */
    char env[FED_ENV_MAX][FED_PATH_MAX]; /* NAME=VALUE set before exec, "" none */
    pid_t pid;                           /* 0: not running */
    long log_start;
};

struct fed {
    char dir[FED_PATH_MAX];
    char keys_dir[FED_PATH_MAX];
    char roster[FED_PATH_MAX];
    struct member m[FED_MAX_MEMBERS];
    size_t n, n_nodes;
    bool is_passed;
};

/* ---- small helpers ------------------------------------------------------ */

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
    va_list ap;

    fputs("fed: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* snprintf that treats truncation as a failure. */
static int fmt(char *out, size_t size, const char *f, ...) __attribute__((format(printf, 3, 4)));

static int fmt(char *out, size_t size, const char *f, ...)
{
    va_list ap;
    int n;

    va_start(ap, f);
    n = vsnprintf(out, size, f, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= size) {
        say("path or line too long");
        return -1;
    }
    return 0;
}

int64_t fed_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void fed_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

const char *fed_wrapper(void)
{
    const char *w = getenv("TMBUS_TEST_WRAPPER");

    return w != NULL && w[0] != '\0' ? w : NULL;
}

int fed_ms(int ms)
{
    const char *slow = getenv("TMBUS_TEST_SLOW");
    long factor = 20;

    if (fed_wrapper() == NULL)
        return ms;
    if (slow != NULL && slow[0] != '\0')
        factor = strtol(slow, NULL, 10);
    if (factor < 1)
        factor = 1;
    return ms > INT_MAX / factor ? INT_MAX : (int)(ms * factor);
}

void fed_exec(const char *const argv[])
{
    const char *wrapped[FED_EXEC_ARGS + 2];
    const char *w = fed_wrapper();
    size_t n = 0;

    if (w == NULL) {
        execv(argv[0], (char *const *)(uintptr_t)argv);
        return;
    }
    wrapped[0] = w;
    for (; argv[n] != NULL; n++) {
        if (n >= FED_EXEC_ARGS)
            return;
        wrapped[n + 1] = argv[n];
    }
    wrapped[n + 1] = NULL;
    execv(w, (char *const *)(uintptr_t)wrapped);
}

int fed_wait_until(bool (*is_done)(void *arg), void *arg, int timeout_ms, int interval_ms)
{
    int64_t deadline = fed_now_ms() + fed_ms(timeout_ms);

    for (;;) {
        if (is_done(arg))
            return 0;
        if (fed_now_ms() > deadline)
            return -1;
        fed_sleep_ms(interval_ms);
    }
}

/* Runs argv[0] with its output appended to DIR/admin.log; 0 when it exits
 * with status 0. */
static int run(const struct fed *f, const char *const argv[])
{
    char log[FED_PATH_MAX];
    pid_t pid;
    int st, fd;

    if (fmt(log, sizeof(log), "%s/admin.log", f->dir) == -1)
        return -1;
    if ((pid = fork()) == -1) {
        say("fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd == -1 || dup2(fd, STDOUT_FILENO) == -1 || dup2(fd, STDERR_FILENO) == -1)
            _exit(127);
        fed_exec(argv);
        _exit(127);
    }
    while (waitpid(pid, &st, 0) == -1)
        if (errno != EINTR)
            return -1;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        say("%s %s %s failed (see %s)", argv[0], argv[1], argv[2], log);
        return -1;
    }
    return 0;
}

/* A port the kernel picks for 127.0.0.1. The socket stays open (and *fd
 * with it) until the caller has picked every port, so no two are equal. */
static int kernel_port(int *fd, unsigned *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    socklen_t len = sizeof(a);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if ((*fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
        bind(*fd, (struct sockaddr *)&a, sizeof(a)) == -1 ||
        getsockname(*fd, (struct sockaddr *)&a, &len) == -1) {
        say("cannot get a port from the kernel: %s", strerror(errno));
        return -1;
    }
    *port = ntohs(a.sin_port);
    return 0;
}

static void close_all(int *fds, size_t *n)
{
    for (size_t k = 0; k < *n; k++)
        if (fds[k] != -1)
            close(fds[k]);
    *n = 0;
}

/* Written 0600: a node's configuration lives in its data directory, which
 * tmbusd refuses when anything in it is open to group or others. */
static int write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *fp = fd == -1 ? NULL : fdopen(fd, "w");

    if (fp == NULL) {
        if (fd != -1)
            close(fd);
        say("%s: %s", path, strerror(errno));
        return -1;
    }
    fputs(text, fp);
    if (fclose(fp) != 0) {
        say("%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Appends a formatted line to a growing buffer; fails when it is full. */
static int add(char *buf, size_t size, size_t *len, const char *f, ...)
    __attribute__((format(printf, 4, 5)));

static int add(char *buf, size_t size, size_t *len, const char *f, ...)
{
    va_list ap;
    int n;

    va_start(ap, f);
    n = vsnprintf(buf + *len, size - *len, f, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= size - *len) {
        say("generated file too large");
        return -1;
    }
    *len += (size_t)n;
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) == -1)
        say("cannot remove %s: %s", path, strerror(errno));
    return 0;
}

/* ---- building the federation ------------------------------------------- */

static int make_keys(struct fed *f)
{
    for (size_t i = 0; i < f->n; i++) {
        struct member *m = &f->m[i];
        const char *member_argv[] = {TMBUS_ADMIN_BIN, "keygen", "member", m->id, f->keys_dir, NULL};
        struct keyset *ks;

        if (run(f, member_argv) == -1 ||
            fmt(m->key, sizeof(m->key), "%s/%s.key", f->keys_dir, m->id) == -1 ||
            fmt(m->pub, sizeof(m->pub), "%s/%s.pub", f->keys_dir, m->id) == -1)
            return -1;
        if ((ks = keys_load(m->key)) == NULL) {
            say("cannot load %s", m->key);
            return -1;
        }
        memcpy(m->transport_pk, ks->transport_pk, KEYS_PUBLIC_BYTES);
        keys_free(&ks);
        if (!m->has_node)
            continue;

        const char *client_argv[] = {TMBUS_ADMIN_BIN, "keygen",    "client",
                                     m->client,       f->keys_dir, NULL};
        if (run(f, client_argv) == -1 ||
            fmt(m->client_key, sizeof(m->client_key), "%s/%s.key", f->keys_dir, m->client) == -1)
            return -1;
        if ((ks = keys_load(m->client_key)) == NULL) {
            say("cannot load %s", m->client_key);
            return -1;
        }
        keys_to_base64(ks->transport_pk, KEYS_PUBLIC_BYTES, m->client_pk_b64,
                       sizeof(m->client_pk_b64));
        keys_free(&ks);
    }
    /* Governance: the first two members (distinct members count once). */
    for (size_t i = 0; i < f->n && i < 2; i++) {
        char name[UTIL_MEMBER_ID_MAX + 8];
        if (fmt(name, sizeof(name), "gov-%s", f->m[i].id) == -1)
            return -1;
        const char *argv[] = {TMBUS_ADMIN_BIN, "keygen", "governor", f->m[i].id, name,
                              f->keys_dir,     NULL};
        if (run(f, argv) == -1)
            return -1;
    }
    return 0;
}

/* Writes spec's roster source next to its output and has tmbus-admin
 * create it and both governors sign it. */
static int write_roster(struct fed *f, const struct fed_roster *spec)
{
    char text[16384], source[FED_PATH_MAX], expires[32];
    const char *out = spec->out != NULL ? spec->out : f->roster;
    int64_t at =
        spec->expires_at != 0 ? spec->expires_at : (int64_t)time(NULL) + ROSTER_DAYS * 86400;
    size_t len = 0;

    util_format_utc(at, expires, sizeof(expires));
    if (add(text, sizeof(text), &len,
            "# Generated by the integration test harness.\n"
            "[roster]\ncoalition = %s\nversion = %llu\nexpires = %s\nthreshold = %d\n",
            FED_COALITION, (unsigned long long)(spec->version ? spec->version : 1), expires,
            f->n >= 2 ? 2 : 1) == -1)
        return -1;
    if (spec->previous != NULL &&
        add(text, sizeof(text), &len, "previous = %s\n", spec->previous) == -1)
        return -1;
    for (size_t i = 0; i < f->n; i++) {
        const struct member *m = &f->m[i];
        char keys[FED_PATH_MAX];
        if (spec->is_left_out[i])
            continue;
        if (fmt(keys, sizeof(keys), "keys/%s.pub", m->id) == -1)
            return -1;
        if (add(text, sizeof(text), &len,
                "\n[member %s]\nname = Test member %s\nrole = %s\nkeys = %s\n"
                "groups = all\n",
                m->id, m->id, m->role, spec->keys[i] != NULL ? spec->keys[i] : keys) == -1)
            return -1;
        if (m->has_node && add(text, sizeof(text), &len, "endpoint = %s\n", m->peer_endpoint) == -1)
            return -1;
        if (spec->extra[i] != NULL && add(text, sizeof(text), &len, "%s\n", spec->extra[i]) == -1)
            return -1;
    }
    for (size_t i = 0; i < f->n && i < 2; i++)
        if (add(text, sizeof(text), &len, "\n[governor gov-%s]\nkey = keys/gov-%s.pub\n",
                f->m[i].id, f->m[i].id) == -1)
            return -1;
    if (fmt(source, sizeof(source), "%s.ini", out) == -1 || write_text(source, text) == -1)
        return -1;

    const char *create[] = {TMBUS_ADMIN_BIN, "roster", "create", source, out, NULL};
    if ((unlink(out) == -1 && errno != ENOENT) || run(f, create) == -1)
        return -1;
    for (size_t i = 0; i < f->n && i < 2; i++) {
        char gov[FED_PATH_MAX];
        if (fmt(gov, sizeof(gov), "%s/gov-%s.key", f->keys_dir, f->m[i].id) == -1)
            return -1;
        const char *sign[] = {TMBUS_ADMIN_BIN, "roster", "sign", out, gov, NULL};
        if (run(f, sign) == -1)
            return -1;
    }
    return 0;
}

static int make_roster(struct fed *f)
{
    struct fed_roster spec = {.version = 1};

    return write_roster(f, &spec);
}

int fed_make_roster(struct fed *f, const struct fed_roster *spec)
{
    return write_roster(f, spec);
}

int fed_admin(struct fed *f, const char *const args[])
{
    const char *argv[16] = {TMBUS_ADMIN_BIN};
    size_t n = 1;

    while (args[n - 1] != NULL) {
        if (n == sizeof(argv) / sizeof(argv[0]) - 1) {
            say("fed_admin: too many arguments");
            return -1;
        }
        argv[n] = args[n - 1];
        n++;
    }
    argv[n] = NULL;
    return run(f, argv);
}

const char *fed_keys_dir(const struct fed *f)
{
    return f->keys_dir;
}

static int write_config(struct fed *f, size_t i)
{
    const struct member *m = &f->m[i];
    char text[8192];
    size_t len = 0;

    if (add(text, sizeof(text), &len,
            "# Generated by the integration test harness.\n"
            "[node]\nmember = %s\ncoalition = %s\nkeys = %s\nroster = %s\ndata_dir = %s\n"
            "peer_listen = %s\nclient_listen = %s\nlog_level = info\n",
            m->id, FED_COALITION, m->key, f->roster, m->data_dir[0] != '\0' ? m->data_dir : m->dir,
            m->peer_endpoint, m->client_endpoint) == -1)
        return -1;
    if (m->previous_key[0] != '\0' &&
        add(text, sizeof(text), &len, "previous_keys = %s\n", m->previous_key) == -1)
        return -1;
    if (m->next_key[0] != '\0' &&
        add(text, sizeof(text), &len, "next_keys = %s\n", m->next_key) == -1)
        return -1;
    if (add(text, sizeof(text), &len, "\n[peers]\ndial = %s\n", m->dial) == -1)
        return -1;
    for (size_t j = 0; j < f->n_nodes; j++)
        if (m->dial_endpoint[j][0] != '\0' && add(text, sizeof(text), &len, "endpoint.%s = %s\n",
                                                  f->m[j].id, m->dial_endpoint[j]) == -1)
            return -1;
    if (add(text, sizeof(text), &len, "\n[limits]\n") == -1)
        return -1;
    for (size_t k = 0; k < m->n_limits; k++)
        if (add(text, sizeof(text), &len, "%s = %u\n", m->limits[k].name, m->limits[k].value) == -1)
            return -1;
    if (add(text, sizeof(text), &len, "\n[client %s]\nkey = %s\nrole = poster\nclearance = %s\n",
            m->client, m->client_pk_b64, m->clearance != NULL ? m->clearance : "red") == -1)
        return -1;
    if (m->extra_client[0] != '\0' &&
        add(text, sizeof(text), &len, "\n[client %s]\nkey = %s\nrole = %s\nclearance = %s\n",
            m->extra_client, m->extra_pk_b64, m->extra_role, m->extra_clearance) == -1)
        return -1;
    if (m->extra[0] != '\0' && add(text, sizeof(text), &len, "\n%s", m->extra) == -1)
        return -1;
    return write_text(m->conf, text);
}

int fed_set_extra(struct fed *f, size_t i, const char *text)
{
    int n = snprintf(f->m[i].extra, sizeof(f->m[i].extra), "%s", text);

    if (n < 0 || (size_t)n >= sizeof(f->m[i].extra)) {
        say("fed_set_extra: more than %d bytes", FED_EXTRA_MAX - 1);
        return -1;
    }
    return write_config(f, i);
}

/* Short timers so that links come up, time out and reconnect within a
 * test's patience; the rest are tmbusd's defaults. A wrapped (slow) node
 * gets a longer peer timeout, or its links would flap while it computes. */
static void default_limits(struct member *m)
{
    struct limit defaults[] = {
        {"heartbeat_ms", 100},
        {"peer_timeout_ms", (unsigned)fed_ms(2000)},
        {"reconnect_max_ms", 500},
        /* Posts at once after a start, as tests that start nodes one by
         * one expect; test_rebuild waits for the peers as a node should. */
        {"recover_wait_ms", 0},
        /* Every link change logged: tests restart nodes many times a
         * minute and wait for each "link up" (test_peer_flap tests the
         * limit). */
        {"link_log_burst", 0},
    };

    m->n_limits = sizeof(defaults) / sizeof(defaults[0]);
    memcpy(m->limits, defaults, sizeof(defaults));
    /* The window in which a relay waits for the origin's own copy must
     * outlast a slow node's work on it, or duplicates are counted that a
     * node at full speed never sees: tmbusd's default, scaled. */
    if (fed_wrapper() != NULL) {
        snprintf(m->limits[m->n_limits].name, LIMIT_NAME, "relay_delay_ms");
        m->limits[m->n_limits++].value = fed_ms(100) < 10000 ? (unsigned)fed_ms(100) : 10000u;
    }
}

static bool is_role(const char *role)
{
    static const char *const roles[] = {"beneficiary", "donor", "observer", "coordinator"};

    for (size_t k = 0; k < sizeof(roles) / sizeof(roles[0]); k++)
        if (strcmp(role, roles[k]) == 0)
            return true;
    return false;
}

static struct fed *build(size_t n_nodes, const char *const ids[], size_t n_extra,
                         const char *const extra_ids[], const char *const roles[])
{
    struct fed *f;
    const char *base = getenv("TMPDIR");
    int fds[2 * FED_MAX_MEMBERS];
    size_t n_fds = 0;
    bool ok = true;

    if (n_nodes + n_extra == 0 || n_nodes + n_extra > FED_MAX_MEMBERS) {
        say("between 1 and %d members", FED_MAX_MEMBERS);
        return NULL;
    }
    if ((f = calloc(1, sizeof(*f))) == NULL)
        return NULL;
    f->n = n_nodes + n_extra;
    f->n_nodes = n_nodes;
    if (fmt(f->dir, sizeof(f->dir), "%s/tmbus-int-XXXXXX", base && *base ? base : "/tmp") == -1 ||
        mkdtemp(f->dir) == NULL) {
        say("cannot make a temporary directory: %s", strerror(errno));
        free(f);
        return NULL;
    }
    if (fmt(f->keys_dir, sizeof(f->keys_dir), "%s/keys", f->dir) == -1 ||
        fmt(f->roster, sizeof(f->roster), "%s/roster.bin", f->dir) == -1)
        goto fail;

    for (size_t i = 0; i < f->n; i++) {
        struct member *m = &f->m[i];
        const char *id = i < n_nodes ? ids[i] : extra_ids[i - n_nodes];
        unsigned peer_port, client_port;

        if (!util_is_member_id(id, strlen(id)) || strlen(id) > UTIL_MEMBER_ID_MAX - 8) {
            say("bad member id '%s'", id);
            goto fail;
        }
        strcpy(m->id, id);
        m->role = i == 0 ? "beneficiary" : "donor";
        if (roles != NULL && i < n_nodes && roles[i] != NULL) {
            if (!is_role(roles[i])) {
                say("bad role '%s'", roles[i]);
                goto fail;
            }
            m->role = roles[i];
        }
        m->has_node = i < n_nodes;
        if (!m->has_node)
            continue;
        strcpy(m->client, id);
        strcat(m->client, CLIENT_SUFFIX);
        strcpy(m->dial, "all");
        default_limits(m);
        if (fmt(m->dir, sizeof(m->dir), "%s/%s", f->dir, id) == -1 ||
            fmt(m->conf, sizeof(m->conf), "%s/tmbusd.conf", m->dir) == -1 ||
            fmt(m->log, sizeof(m->log), "%s/tmbusd.log", m->dir) == -1)
            goto fail;
        if (mkdir(m->dir, 0700) == -1) {
            say("%s: %s", m->dir, strerror(errno));
            goto fail;
        }
        if (kernel_port(&fds[n_fds++], &peer_port) == -1 ||
            kernel_port(&fds[n_fds++], &client_port) == -1) {
            ok = false;
            break;
        }
        snprintf(m->peer_endpoint, sizeof(m->peer_endpoint), "tcp://127.0.0.1:%u", peer_port);
        snprintf(m->client_endpoint, sizeof(m->client_endpoint), "tcp://127.0.0.1:%u", client_port);
    }
    close_all(fds, &n_fds);
    if (!ok || make_keys(f) == -1 || make_roster(f) == -1)
        goto fail;
    for (size_t i = 0; i < f->n_nodes; i++)
        if (write_config(f, i) == -1)
            goto fail;
    return f;
fail:
    close_all(fds, &n_fds);
    say("could not build the federation; kept %s", f->dir);
    free(f);
    return NULL;
}

struct fed *fed_new_with_extra(size_t n_nodes, const char *const ids[], size_t n_extra,
                               const char *const extra_ids[])
{
    return build(n_nodes, ids, n_extra, extra_ids, NULL);
}

struct fed *fed_new_with_roles(size_t n_nodes, const char *const ids[], const char *const roles[])
{
    return build(n_nodes, ids, 0, NULL, roles);
}

struct fed *fed_new(size_t n_nodes, const char *const ids[])
{
    return fed_new_with_extra(n_nodes, ids, 0, NULL);
}

void fed_pass(struct fed *f)
{
    f->is_passed = true;
}

void fed_free(struct fed **fp)
{
    struct fed *f;
    const char *keep = getenv("TMBUS_KEEP");

    if (fp == NULL || (f = *fp) == NULL)
        return;
    /* Under a wrapper such as memcheck the nodes are stopped, not killed,
     * so that each runs its checks at exit; all told at once, as each
     * stop is slow there. */
    if (fed_wrapper() != NULL)
        for (size_t i = 0; i < f->n_nodes; i++)
            if (f->m[i].pid > 0)
                kill(f->m[i].pid, SIGTERM);
    for (size_t i = 0; i < f->n_nodes; i++) {
        if (f->m[i].pid <= 0)
            continue;
        if (fed_wrapper() != NULL)
            (void)fed_stop(f, i);
        else
            fed_kill(f, i);
    }
    if (f->is_passed && (keep == NULL || *keep == '\0')) {
        nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    } else {
        for (size_t i = 0; i < f->n_nodes && !f->is_passed; i++)
            fed_dump_log(f, i, TAIL_LINES);
        say("kept the federation's directory %s", f->dir);
    }
    free(f);
    *fp = NULL;
}

int fed_teardown(void **state)
{
    struct fed *f = *state;

    fed_free(&f);
    *state = NULL;
    return 0;
}

/* ---- accessors ------------------------------------------------------------ */

size_t fed_count(const struct fed *f)
{
    return f->n;
}

size_t fed_node_count(const struct fed *f)
{
    return f->n_nodes;
}

size_t fed_index(const struct fed *f, const char *id)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->m[i].id, id) == 0)
            return i;
    say("no member %s", id);
    abort();
}

const char *fed_dir(const struct fed *f)
{
    return f->dir;
}

const char *fed_roster_path(const struct fed *f)
{
    return f->roster;
}

const char *fed_id(const struct fed *f, size_t i)
{
    return f->m[i].id;
}

const char *fed_data_dir(const struct fed *f, size_t i)
{
    return f->m[i].dir;
}

const char *fed_conf_path(const struct fed *f, size_t i)
{
    return f->m[i].conf;
}

const char *fed_log_path(const struct fed *f, size_t i)
{
    return f->m[i].log;
}

const char *fed_member_key_path(const struct fed *f, size_t i)
{
    return f->m[i].key;
}

const char *fed_member_pub_path(const struct fed *f, size_t i)
{
    return f->m[i].pub;
}

const uint8_t *fed_transport_pk(const struct fed *f, size_t i)
{
    return f->m[i].transport_pk;
}

const char *fed_peer_endpoint(const struct fed *f, size_t i)
{
    return f->m[i].peer_endpoint;
}

const char *fed_client_endpoint(const struct fed *f, size_t i)
{
    return f->m[i].client_endpoint;
}

const char *fed_client_name(const struct fed *f, size_t i)
{
    return f->m[i].client;
}

const char *fed_client_key_path(const struct fed *f, size_t i)
{
    return f->m[i].client_key;
}

pid_t fed_pid(const struct fed *f, size_t i)
{
    return f->m[i].pid;
}

/* ---- configuration -------------------------------------------------------- */

int fed_rekey_client(struct fed *f, size_t i, char *old_key)
{
    struct member *m = &f->m[i];
    char dir[FED_PATH_MAX];
    struct keyset *ks;
    static unsigned generation;

    if (fmt(dir, sizeof(dir), "%s/rekey-%u", f->keys_dir, ++generation) == -1)
        return -1;
    const char *argv[] = {TMBUS_ADMIN_BIN, "keygen", "client", m->client, dir, NULL};
    if (run(f, argv) == -1)
        return -1;
    if (old_key != NULL)
        snprintf(old_key, FED_PATH_MAX, "%s", m->client_key);
    if (fmt(m->client_key, sizeof(m->client_key), "%s/%s.key", dir, m->client) == -1)
        return -1;
    if ((ks = keys_load(m->client_key)) == NULL) {
        say("cannot load %s", m->client_key);
        return -1;
    }
    keys_to_base64(ks->transport_pk, KEYS_PUBLIC_BYTES, m->client_pk_b64, sizeof(m->client_pk_b64));
    keys_free(&ks);
    return write_config(f, i);
}

int fed_add_client(struct fed *f, size_t i, const char *name, const char *role,
                   const char *clearance, char *key_path)
{
    struct member *m = &f->m[i];
    char dir[FED_PATH_MAX];
    struct keyset *ks;
    static unsigned generation;

    if (strlen(name) >= sizeof(m->extra_client) ||
        fmt(dir, sizeof(dir), "%s/extra-%u", f->keys_dir, ++generation) == -1)
        return -1;
    const char *argv[] = {TMBUS_ADMIN_BIN, "keygen", "client", name, dir, NULL};
    if (run(f, argv) == -1 || fmt(key_path, FED_PATH_MAX, "%s/%s.key", dir, name) == -1)
        return -1;
    if ((ks = keys_load(key_path)) == NULL) {
        say("cannot load %s", key_path);
        return -1;
    }
    keys_to_base64(ks->transport_pk, KEYS_PUBLIC_BYTES, m->extra_pk_b64, sizeof(m->extra_pk_b64));
    keys_free(&ks);
    snprintf(m->extra_client, sizeof(m->extra_client), "%s", name);
    m->extra_role = role;
    m->extra_clearance = clearance;
    return write_config(f, i);
}

int fed_set_next_keys(struct fed *f, size_t i, const char *path)
{
    if (i >= f->n_nodes || fmt(f->m[i].next_key, sizeof(f->m[i].next_key), "%s", path) == -1)
        return -1;
    return write_config(f, i);
}

int fed_install_member_key(struct fed *f, size_t i, const char *new_key)
{
    struct member *m = &f->m[i];
    char previous[FED_PATH_MAX];
    char *text = NULL;
    size_t len = 0;
    FILE *in;
    int rc = -1;

    if (i >= f->n_nodes ||
        (size_t)snprintf(previous, sizeof(previous), "%s.previous", m->key) >= sizeof(previous))
        return -1;
    memcpy(m->previous_key, previous, sizeof(previous));
    if ((in = fopen(new_key, "rb")) == NULL) {
        say("%s: %s", new_key, strerror(errno));
        return -1;
    }
    text = calloc(1, 8192);
    if (text != NULL)
        len = fread(text, 1, 8191, in);
    fclose(in);
    if (text == NULL || len == 0 || rename(m->key, m->previous_key) == -1) {
        say("installing %s: %s", new_key, strerror(errno));
        goto out;
    }
    if (write_text(m->key, text) == 0 && write_config(f, i) == 0)
        rc = 0;
out:
    if (text != NULL)
        sodium_memzero(text, 8192);
    free(text);
    return rc;
}

int fed_rotate_member(struct fed *f, size_t i, char *new_key)
{
    char dir[FED_PATH_MAX], pub[FED_PATH_MAX], previous[FED_PATH_MAX], next[FED_PATH_MAX];

    if (fmt(dir, sizeof(dir), "%s/gen2", f->keys_dir) == -1 ||
        fmt(pub, sizeof(pub), "%s/%s.pub", dir, f->m[i].id) == -1 ||
        fmt(previous, sizeof(previous), "%s/roster-v1.bin", f->dir) == -1 ||
        fmt(next, sizeof(next), "%s/roster-v2.bin", f->dir) == -1)
        return -1;
    const char *keygen[] = {TMBUS_ADMIN_BIN, "keygen", "member", f->m[i].id, dir, NULL};
    if (run(f, keygen) == -1)
        return -1;
    if (rename(f->roster, previous) == -1) {
        say("rename %s: %s", f->roster, strerror(errno));
        return -1;
    }
    char revoked[FED_PATH_MAX + 32];
    if (fmt(revoked, sizeof(revoked), "key_id = 2\nrevoked = 1 keys/%s.pub", f->m[i].id) == -1)
        return -1;
    struct fed_roster spec = {.out = next, .version = 2, .previous = previous};
    spec.keys[i] = pub;
    spec.extra[i] = revoked;
    if (write_roster(f, &spec) == -1)
        return -1;
    if (rename(next, f->roster) == -1) {
        say("rename %s: %s", next, strerror(errno));
        return -1;
    }
    if (new_key != NULL && fmt(new_key, FED_PATH_MAX, "%s/%s.key", dir, f->m[i].id) == -1)
        return -1;
    return 0;
}

int fed_set_dial(struct fed *f, size_t i, const char *dial)
{
    if (i >= f->n_nodes || fmt(f->m[i].dial, sizeof(f->m[i].dial), "%s", dial) == -1)
        return -1;
    return write_config(f, i);
}

int fed_set_listen(struct fed *f, size_t i, const char *peer_listen, const char *client_endpoint)
{
    struct member *m;

    if (i >= f->n_nodes)
        return -1;
    m = &f->m[i];
    if (fmt(m->peer_endpoint, sizeof(m->peer_endpoint), "%s", peer_listen) == -1 ||
        fmt(m->client_endpoint, sizeof(m->client_endpoint), "%s", client_endpoint) == -1)
        return -1;
    return write_config(f, i);
}

int fed_set_peer_endpoint(struct fed *f, size_t i, size_t j, const char *endpoint)
{
    if (i >= f->n_nodes || j >= f->n_nodes || i == j ||
        fmt(f->m[i].dial_endpoint[j], ENDPOINT_MAX, "%s", endpoint) == -1)
        return -1;
    return write_config(f, i);
}

int fed_set_data_dir(struct fed *f, size_t i, const char *dir)
{
    if (i >= f->n_nodes || fmt(f->m[i].data_dir, FED_PATH_MAX, "%s", dir) == -1)
        return -1;
    return write_config(f, i);
}

int fed_set_netns(struct fed *f, size_t i, const char *name)
{
    if (i >= f->n_nodes)
        return -1;
    return fmt(f->m[i].netns, sizeof(f->m[i].netns), "%s", name);
}

int fed_set_env(struct fed *f, size_t i, size_t slot, const char *name_value)
{
    if (i >= f->n_nodes || slot >= FED_ENV_MAX)
        return -1;
    return fmt(f->m[i].env[slot], FED_PATH_MAX, "%s", name_value);
}

int fed_set_limit(struct fed *f, size_t i, const char *name, unsigned value)
{
    struct member *m = &f->m[i];
    size_t k;

    if (i >= f->n_nodes || strlen(name) >= LIMIT_NAME)
        return -1;
    for (k = 0; k < m->n_limits && strcmp(m->limits[k].name, name) != 0; k++)
        ;
    if (k == FED_MAX_LIMITS)
        return -1;
    if (k == m->n_limits)
        m->n_limits++;
    strcpy(m->limits[k].name, name);
    m->limits[k].value = value;
    return write_config(f, i);
}

int fed_set_clearance(struct fed *f, size_t i, const char *clearance)
{
    if (i >= f->n_nodes)
        return -1;
    f->m[i].clearance = clearance;
    return write_config(f, i);
}

int fed_topology_line(struct fed *f)
{
    for (size_t i = 0; i < f->n_nodes; i++) {
        char dial[FED_DIAL_MAX] = "";

        if (i > 0)
            strcat(dial, f->m[i - 1].id);
        if (i + 1 < f->n_nodes) {
            if (i > 0)
                strcat(dial, ",");
            strcat(dial, f->m[i + 1].id);
        }
        if (fed_set_dial(f, i, dial[0] ? dial : "none") == -1)
            return -1;
    }
    return 0;
}

int fed_topology_mesh(struct fed *f)
{
    for (size_t i = 0; i < f->n_nodes; i++) {
        char dial[FED_DIAL_MAX] = "";

        for (size_t k = 0; k < f->n_nodes; k++) {
            if (k == i)
                continue;
            if (dial[0] != '\0')
                strcat(dial, ",");
            strcat(dial, f->m[k].id);
        }
        if (fed_set_dial(f, i, dial[0] ? dial : "none") == -1)
            return -1;
    }
    return 0;
}

/* ---- processes -------------------------------------------------------------- */

static long file_size(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

bool fed_is_running(struct fed *f, size_t i)
{
    struct member *m = &f->m[i];
    int st;

    if (m->pid <= 0)
        return false;
    if (waitpid(m->pid, &st, WNOHANG) == m->pid) {
        if (WIFSIGNALED(st))
            say("node %s died of signal %d", m->id, WTERMSIG(st));
        else
            say("node %s exited with status %d", m->id, WEXITSTATUS(st));
        m->pid = 0;
        return false;
    }
    return true;
}

/* In the child before exec: moves into the member's network namespace,
 * one that `ip netns add` made (so its handle is /run/netns/NAME). */
static int enter_netns(const struct member *m)
{
    char path[FED_PATH_MAX + 16];
    int fd, rc;

    if (m->netns[0] == '\0')
        return 0;
    snprintf(path, sizeof(path), "/run/netns/%s", m->netns);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
        return -1;
    rc = setns(fd, CLONE_NEWNET);
    close(fd);
    return rc;
}

int fed_start(struct fed *f, size_t i)
{
    struct member *m = &f->m[i];
    char running[UTIL_MEMBER_ID_MAX + 32];
    pid_t parent = getpid(), pid;

    if (i >= f->n_nodes || m->pid > 0) {
        say("node %s cannot be started: %s", m->id, m->pid > 0 ? "running" : "no node");
        return -1;
    }
    m->log_start = file_size(m->log);
    if ((pid = fork()) == -1) {
        say("fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        sigset_t none;
        int fd = open(m->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

        /* Die with the test program, however it ends. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent)
            _exit(127);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (fd == -1 || null == -1 || dup2(null, STDIN_FILENO) == -1 ||
            dup2(fd, STDOUT_FILENO) == -1 || dup2(fd, STDERR_FILENO) == -1)
            _exit(127);
        if (enter_netns(m) == -1)
            _exit(127);
        for (size_t k = 0; k < FED_ENV_MAX; k++)
            if (m->env[k][0] != '\0' && putenv(m->env[k]) != 0)
                _exit(127);
        fed_exec((const char *const[]){TMBUSD_BIN, "-c", m->conf, NULL});
        _exit(127);
    }
    m->pid = pid;
    snprintf(running, sizeof(running), "member %s running", m->id);
    if (fed_wait_log_from(f, i, m->log_start, running, FED_START_MS) == -1) {
        say("node %s did not start", m->id);
        if (m->pid > 0)
            fed_kill(f, i);
        return -1;
    }
    return 0;
}

int fed_run_exit(struct fed *f, size_t i, bool is_check_only)
{
    struct member *m = &f->m[i];
    int64_t deadline = fed_now_ms() + fed_ms(FED_START_MS);
    pid_t pid;
    int st;

    if (i >= f->n_nodes || m->pid > 0) {
        say("node %s cannot be run: %s", m->id, m->pid > 0 ? "running" : "no node");
        return -1;
    }
    m->log_start = file_size(m->log);
    if ((pid = fork()) == -1) {
        say("fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        int fd = open(m->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

        if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || fd == -1 || dup2(fd, STDOUT_FILENO) == -1 ||
            dup2(fd, STDERR_FILENO) == -1)
            _exit(127);
        if (is_check_only)
            fed_exec((const char *const[]){TMBUSD_BIN, "-n", "-c", m->conf, NULL});
        else
            fed_exec((const char *const[]){TMBUSD_BIN, "-c", m->conf, NULL});
        _exit(127);
    }
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            break;
        if (r == -1 && errno != EINTR)
            return -1;
        if (fed_now_ms() > deadline) {
            say("node %s is still running after %d ms: killing it", m->id, fed_ms(FED_START_MS));
            kill(pid, SIGKILL);
            while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
                ;
            return -1;
        }
        fed_sleep_ms(POLL_MS);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int fed_start_all(struct fed *f)
{
    for (size_t i = 0; i < f->n_nodes; i++)
        if (fed_start(f, i) == -1)
            return -1;
    return 0;
}

int fed_stop(struct fed *f, size_t i)
{
    struct member *m = &f->m[i];
    int64_t deadline = fed_now_ms() + fed_ms(FED_STOP_MS);
    int st;

    if (m->pid <= 0)
        return -1;
    kill(m->pid, SIGTERM);
    for (;;) {
        pid_t r = waitpid(m->pid, &st, WNOHANG);
        if (r == m->pid)
            break;
        if (r == -1 && errno != EINTR) {
            m->pid = 0;
            return -1;
        }
        if (fed_now_ms() > deadline) {
            say("node %s ignored SIGTERM for %d ms: killing it", m->id, fed_ms(FED_STOP_MS));
            fed_kill(f, i);
            return -1;
        }
        fed_sleep_ms(POLL_MS);
    }
    m->pid = 0;
    if (WIFSIGNALED(st)) {
        say("node %s died of signal %d while stopping", m->id, WTERMSIG(st));
        return -1;
    }
    return WEXITSTATUS(st);
}

void fed_kill(struct fed *f, size_t i)
{
    struct member *m = &f->m[i];

    if (m->pid <= 0)
        return;
    kill(m->pid, SIGKILL);
    while (waitpid(m->pid, NULL, 0) == -1 && errno == EINTR)
        ;
    m->pid = 0;
}

int fed_reload(struct fed *f, size_t i)
{
    return f->m[i].pid > 0 ? kill(f->m[i].pid, SIGHUP) : -1;
}

/* ---- logs and files ---------------------------------------------------------- */

/* Reads path from offset to its end into a malloc'd NUL-terminated buffer. */
static char *read_from(const char *path, long offset, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    long size;
    char *buf;

    *len = 0;
    if (fp == NULL)
        return NULL;
    if (fseek(fp, 0, SEEK_END) != 0 || (size = ftell(fp)) < 0 || offset > size ||
        fseek(fp, offset, SEEK_SET) != 0 || (buf = malloc((size_t)(size - offset) + 1)) == NULL) {
        fclose(fp);
        return NULL;
    }
    *len = fread(buf, 1, (size_t)(size - offset), fp);
    buf[*len] = '\0';
    fclose(fp);
    return buf;
}

long fed_log_mark(const struct fed *f, size_t i)
{
    return file_size(f->m[i].log);
}

size_t fed_log_count(const struct fed *f, size_t i, long mark, const char *substr)
{
    size_t len, count = 0, n = strlen(substr);
    char *text = read_from(f->m[i].log, mark, &len);
    const char *p = text;

    if (text == NULL || n == 0)
        goto out;
    while ((p = memmem(p, len - (size_t)(p - text), substr, n)) != NULL) {
        count++;
        p += n;
    }
out:
    free(text);
    return count;
}

int fed_wait_log_from(struct fed *f, size_t i, long mark, const char *substr, int timeout_ms)
{
    int64_t deadline = fed_now_ms() + fed_ms(timeout_ms);

    for (;;) {
        if (fed_log_count(f, i, mark, substr) > 0)
            return 0;
        if (fed_now_ms() > deadline)
            break;
        /* A node that died will never say it; fail now, not at the deadline. */
        if (f->m[i].pid > 0 && !fed_is_running(f, i))
            break;
        fed_sleep_ms(POLL_MS);
    }
    say("node %s never logged \"%s\" within %d ms", f->m[i].id, substr, timeout_ms);
    fed_dump_log(f, i, TAIL_LINES);
    return -1;
}

int fed_wait_log(struct fed *f, size_t i, const char *substr, int timeout_ms)
{
    return fed_wait_log_from(f, i, f->m[i].log_start, substr, timeout_ms);
}

int fed_wait_link(struct fed *f, size_t i, long mark, const char *peer, int timeout_ms)
{
    char line[UTIL_MEMBER_ID_MAX + 32];

    snprintf(line, sizeof(line), "peer %s: link up", peer);
    return fed_wait_log_from(f, i, mark, line, timeout_ms);
}

int fed_wait_links(struct fed *f, const char *a, long mark_a, const char *b, long mark_b,
                   int timeout_ms)
{
    if (fed_wait_link(f, fed_index(f, a), mark_a, b, timeout_ms) == -1)
        return -1;
    return fed_wait_link(f, fed_index(f, b), mark_b, a, timeout_ms);
}

void fed_dump_log(const struct fed *f, size_t i, int lines)
{
    size_t len;
    char *text = read_from(f->m[i].log, 0, &len);
    const char *p;
    int seen = 0;

    if (text == NULL) {
        say("node %s has no log at %s", f->m[i].id, f->m[i].log);
        return;
    }
    p = text + len;
    while (p > text && seen <= lines)
        if (*--p == '\n')
            seen++;
    if (*p == '\n')
        p++;
    fprintf(stderr, "---- last lines of %s ----\n%s---- end of %s ----\n", f->m[i].log, p,
            f->m[i].id);
    free(text);
}

struct store *fed_store_open(const struct fed *f, size_t i)
{
    struct keyset *ks = keys_load(f->m[i].key);
    uint8_t *key = ks != NULL ? keys_derive_store_key(ks) : NULL;
    struct store *s = key != NULL ? store_open(f->m[i].dir, key) : NULL;

    if (s == NULL)
        say("cannot open the store of %s", f->m[i].id);
    keys_store_key_free(&key);
    keys_free(&ks);
    return s;
}

int fed_path(const struct fed *f, const char *name, char *out, size_t size)
{
    return fmt(out, size, "%s/%s", f->dir, name);
}

int fed_write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    size_t len = strlen(text);
    int rc = 0;

    if (fd == -1)
        return -1;
    if (write(fd, text, len) != (ssize_t)len)
        rc = -1;
    if (close(fd) == -1)
        rc = -1;
    return rc;
}

int fed_audit_verify(const char *dir, char *out, size_t size)
{
    char cmd[FED_PATH_MAX * 2];
    size_t n;
    FILE *p;
    int st;

    if (size == 0 || snprintf(cmd, sizeof(cmd), "'%s' audit verify '%s' 2>&1", TMBUS_ADMIN_BIN,
                              dir) >= (int)sizeof(cmd))
        return -1;
    if ((p = popen(cmd, "r")) == NULL)
        return -1;
    n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    st = pclose(p);
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* dir's store, opened for a test to change behind its node's back. */
static sqlite3 *open_db(const char *dir)
{
    char path[FED_PATH_MAX];
    sqlite3 *db = NULL;

    if (fmt(path, sizeof(path), "%s/tmbus.db", dir) == -1)
        return NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        say("%s: %s", path, db != NULL ? sqlite3_errmsg(db) : "cannot open");
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

int fed_store_sql(const char *dir, const char *sql)
{
    sqlite3 *db = open_db(dir);
    char *err = NULL;
    int rc = 0;

    if (db == NULL)
        return -1;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        say("%s: %s", sql, err != NULL ? err : sqlite3_errmsg(db));
        rc = -1;
    }
    sqlite3_free(err);
    sqlite3_close(db);
    return rc;
}

int fed_audit_entry_flip(const char *dir, long long idx, int at)
{
    sqlite3 *db = open_db(dir);
    sqlite3_stmt *st = NULL;
    uint8_t buf[1024];
    int len, rc = -1;

    if (db == NULL)
        return -1;
    if (sqlite3_prepare_v2(db, "SELECT entry FROM audit_entries WHERE idx = ?1", -1, &st, NULL) !=
            SQLITE_OK ||
        sqlite3_bind_int64(st, 1, idx) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW)
        goto out;
    len = sqlite3_column_bytes(st, 0);
    if (at < 0 || len <= at || (size_t)len > sizeof(buf))
        goto out;
    memcpy(buf, sqlite3_column_blob(st, 0), (size_t)len);
    buf[at] ^= 1;
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(db, "UPDATE audit_entries SET entry = ?2 WHERE idx = ?1", -1, &st,
                           NULL) != SQLITE_OK ||
        sqlite3_bind_int64(st, 1, idx) != SQLITE_OK ||
        sqlite3_bind_blob(st, 2, buf, len, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_DONE)
        goto out;
    rc = 0;
out:
    if (rc == -1)
        say("audit entry %lld byte %d of %s: cannot flip it: %s", idx, at, dir, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

int fed_file_contains(const char *path, const void *needle, size_t len)
{
    size_t size;
    char *text;
    int found;

    if (access(path, F_OK) == -1)
        return 0;
    if ((text = read_from(path, 0, &size)) == NULL)
        return -1;
    found = len > 0 && memmem(text, size, needle, len) != NULL;
    free(text);
    return found;
}
