/*
 * faults: the fault harness. Runs federations of real tmbusd processes
 * (through the fed harness) with posting and subscribing clients that use
 * only the public libtmbus, injects one kind of fault per scenario (SIGKILL
 * of a node, cut links and a split federation, a full disk, skewed clocks,
 * a slow consumer) and checks, after every run, that every acknowledged
 * post reached every recipient's acking subscriber exactly once and in its
 * origin's order, that every store passes SQLite's integrity check and that
 * every node's board digest agrees. One seed per run, printed, replays the
 * run's choices. Links are cut in network namespaces when it runs as root
 * with iproute2, else (or when TMBUS_FAULTS_PARTITION=proxy) through
 * tmbus_proxy (proxy.c), a loopback TCP proxy between every pair of nodes
 * that drops, holds or cuts a link on command. Test code only: it never
 * touches an address or a network namespace it did not make, and every
 * loop is bounded in count and time.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "fed.h"
#include "payload.pb-c.h"
#include "tmbus.h"

#define SKIP           77
#define MAX_NODES      5
#define CONNECT_MS     10000
#define CALL_MS        5000  /* a post's, an ack's or a status's patience */
#define POST_WINDOW    32    /* posts in flight per poster */
#define SUB_WINDOW     256   /* unacked deliveries per subscriber */
#define ACK_EVERY      64    /* a subscriber acks after this many */
#define ACK_IDLE_MS    250   /* or after this long, whatever it holds */
#define SLOW_ACK_MS    2000  /* the slow consumer's pace */
#define LINK_MS        15000 /* longest wait for the first links */
#define DESC_BYTES     1536  /* a big need's description (disk full) */
#define TITLE_MAX      96
#define TSV_LINE_MAX   512
#define TSV_ROWS_MAX   64
#define FAKETIME_LIB   "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"
#define NETNS_PREFIX   "tmbf"
#define NETNS_NAME     32
#define SUBNET_PREFIX  "10.213"
#define EXPIRY_S       600   /* clock skew: how long an expiring post lives */
#define PROXY_REPLY_MS 5000  /* longest wait for the proxy's answer */
#define PROXY_LIFE_S   7200  /* the proxy exits by itself after this */
#define PROXY_HEAL_MS  30000 /* a link heals by itself this long after its cut should end */

#ifndef FAULTS_PROXY_BIN
#error "FAULTS_PROXY_BIN must name the tmbus_proxy binary"
#endif

/* What a post became, as its poster learned. */
enum post_state {
    POST_UNSENT = 0,
    POST_SENT,    /* no outcome yet */
    POST_ACKED,   /* committed by its node: must reach every recipient */
    POST_FAILED,  /* refused: must reach nobody (may not be in any log) */
    POST_UNKNOWN, /* timed out or the link dropped: may arrive, once */
};

/* One poster's posts, by index. */
struct origin {
    uint8_t *state;
    uint8_t (*id)[TMBUS_ID_BYTES];     /* the id its node gave it, when acked */
    uint8_t (*got_id)[TMBUS_ID_BYTES]; /* the id the first delivery carried */
    bool *has_got_id;
    bool *is_expiring; /* posted with an expiry (clock skew) */
    uint32_t n, cap;
};

/* A delivery received but not yet acked: counted once the ack is durable. */
struct pending {
    uint8_t origin;
    uint32_t index;
    uint8_t id[TMBUS_ID_BYTES];
};

struct sub {
    struct tmbus *h;
    struct pending *pend;
    size_t n_pend, cap_pend;
    uint64_t last_number;      /* the highest number received */
    uint8_t *count[MAX_NODES]; /* deliveries counted per origin and index */
    uint32_t cap[MAX_NODES];
    int64_t last_index[MAX_NODES]; /* per origin: the order check */
    bool is_slow;                  /* the slow consumer: acks rarely */
    bool is_stopped;               /* stops reading altogether */
    int64_t next_ack_ms;
};

/* The tickets of one poster's posts in flight. */
struct flight {
    uint64_t ticket;
    uint32_t index;
};

struct poster {
    struct tmbus *h;
    struct flight fl[POST_WINDOW];
    size_t n_fl;
    bool is_posting;
};

struct run {
    const char *scenario;
    bool is_soak;
    uint64_t seed;
    struct fed *f;
    size_t n;
    bool is_up[MAX_NODES];
    char sub_key[MAX_NODES][FED_PATH_MAX];
    struct origin org[MAX_NODES];
    struct poster post[MAX_NODES];
    struct sub sub[MAX_NODES];
    char tag[32];
    int skew_s[MAX_NODES]; /* each node's clock offset (clock skew) */
    bool is_big;           /* big needs (disk full) */
    uint32_t max_messages; /* posts, at most, in the whole run */
    uint32_t n_posted;
    uint64_t n_acked; /* posts their nodes committed */
    /* The figures of the report. */
    unsigned rounds;
    uint64_t lost, duplicated, corrupted;
    bool is_failed;
    /* Not in the report: how long acks waited (a node that holds its loop
     * shows here first). */
    int64_t ack_max_ms;
    unsigned ack_timeouts;
};

static uint64_t rng;

/* xorshift64*: the one source of every random choice, from the seed. */
static uint64_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 2685821657736338717ULL;
}

static int rnd_between(int lo, int hi)
{
    return lo + (int)(rnd() % (uint64_t)(hi - lo + 1));
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
    va_list ap;

    fputs("faults: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void *xrealloc(void *p, size_t size)
{
    if ((p = realloc(p, size)) == NULL) {
        say("out of memory");
        exit(1);
    }
    return p;
}

/* Runs argv (a NULL-terminated list, argv[0] a path) and waits. Returns
 * its exit status, or -1. */
static int run_cmd(const char *const argv[])
{
    pid_t pid = fork();
    int st;

    if (pid == -1)
        return -1;
    if (pid == 0) {
        execv(argv[0], (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    if (waitpid(pid, &st, 0) == -1 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

/* ---- network namespaces: one per node, a veth pair per pair of nodes ---- */

#define IP_BIN "/usr/sbin/ip"

static char netns[MAX_NODES][NETNS_NAME];
static size_t n_netns;

static void netns_name(char *out, size_t size, pid_t pid, size_t i)
{
    snprintf(out, size, NETNS_PREFIX "%d-%zu", (int)pid, i);
}

/* Deletes the namespaces this process made; safe to call twice, and from
 * a signal handler's exit path. */
static void netns_cleanup(void)
{
    for (size_t i = 0; i < n_netns; i++) {
        const char *const del[] = {IP_BIN, "netns", "del", netns[i], NULL};
        (void)run_cmd(del);
    }
    n_netns = 0;
}

static void on_signal(int sig)
{
    (void)sig;
    exit(2); /* runs the atexit handlers: namespaces go, tmpfs unmounts */
}

/* Namespaces of an earlier run of this harness whose process is gone (it
 * was killed before it could clean up). Only names with our prefix. */
static void netns_remove_stale(void)
{
    FILE *fp = popen(IP_BIN " netns list", "r");
    char line[256];

    if (fp == NULL)
        return;
    while (fgets(line, sizeof(line), fp) != NULL) {
        char name[NETNS_NAME];
        int pid;
        size_t k;
        if (sscanf(line, NETNS_PREFIX "%d-%zu", &pid, &k) != 2 || pid <= 0 ||
            (kill(pid, 0) == 0 || errno != ESRCH))
            continue;
        snprintf(name, sizeof(name), NETNS_PREFIX "%d-%zu", pid, k);
        const char *const del[] = {IP_BIN, "netns", "del", name, NULL};
        (void)run_cmd(del);
    }
    pclose(fp);
}

static bool can_use_netns(void)
{
    return geteuid() == 0 && access(IP_BIN, X_OK) == 0;
}

/* The address of node i on its link to node j. */
static void link_addr(char *out, size_t size, size_t i, size_t j)
{
    size_t lo = i < j ? i : j, hi = i < j ? j : i;

    snprintf(out, size, SUBNET_PREFIX ".%zu.%d", lo * 16 + hi, i == lo ? 1 : 2);
}

static int ip(const char *a0, const char *a1, const char *a2, const char *a3, const char *a4,
              const char *a5, const char *a6, const char *a7)
{
    const char *argv[] = {IP_BIN, a0, a1, a2, a3, a4, a5, a6, a7, NULL};

    if (run_cmd(argv) != 0) {
        say("ip %s %s %s %s %s %s %s %s failed", a0, a1 ? a1 : "", a2 ? a2 : "", a3 ? a3 : "",
            a4 ? a4 : "", a5 ? a5 : "", a6 ? a6 : "", a7 ? a7 : "");
        return -1;
    }
    return 0;
}

/* Makes a namespace per node with its loopback up, and a veth pair per
 * pair of nodes: device pJ in node i's namespace faces device pI in node
 * j's, each with one address of a /30 of its own. */
static int netns_build(size_t n)
{
    char dev_i[24], dev_j[24], addr[48];

    netns_remove_stale();
    for (size_t i = 0; i < n; i++) {
        netns_name(netns[i], sizeof(netns[i]), getpid(), i);
        if (ip("netns", "add", netns[i], NULL, NULL, NULL, NULL, NULL) == -1)
            return -1;
        n_netns = i + 1;
        if (ip("-n", netns[i], "link", "set", "lo", "up", NULL, NULL) == -1)
            return -1;
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++) {
            snprintf(dev_i, sizeof(dev_i), "p%zu", j); /* in i's namespace */
            snprintf(dev_j, sizeof(dev_j), "p%zu", i);
            const char *const add[] = {IP_BIN, "link", "add",  dev_i, "netns", netns[i], "type",
                                       "veth", "peer", "name", dev_j, "netns", netns[j], NULL};
            if (run_cmd(add) != 0) {
                say("cannot add the veth pair between namespaces %s and %s", netns[i], netns[j]);
                return -1;
            }
            link_addr(addr, sizeof(addr), i, j);
            strcat(addr, "/30");
            if (ip("-n", netns[i], "addr", "add", addr, "dev", dev_i, NULL) == -1 ||
                ip("-n", netns[i], "link", "set", dev_i, "up", NULL, NULL) == -1)
                return -1;
            link_addr(addr, sizeof(addr), j, i);
            strcat(addr, "/30");
            if (ip("-n", netns[j], "addr", "add", addr, "dev", dev_j, NULL) == -1 ||
                ip("-n", netns[j], "link", "set", dev_j, "up", NULL, NULL) == -1)
                return -1;
        }
    }
    return 0;
}

/* Takes the link between nodes i and j down (both ends) or up again. */
static int link_set(size_t i, size_t j, bool is_up)
{
    char dev_i[24], dev_j[24];

    snprintf(dev_i, sizeof(dev_i), "p%zu", j);
    snprintf(dev_j, sizeof(dev_j), "p%zu", i);
    if (ip("-n", netns[i], "link", "set", dev_i, is_up ? "up" : "down", NULL, NULL) == -1 ||
        ip("-n", netns[j], "link", "set", dev_j, is_up ? "up" : "down", NULL, NULL) == -1)
        return -1;
    return 0;
}

/* ---- the loopback proxy: tmbus_proxy between every pair of nodes -------- */

/* How a cut link looks to its two ends (proxy.c says what each does). */
enum cut_mode { CUT_DROP, CUT_HOLD, CUT_RESET };

static const char *const cut_names[] = {"drop", "hold", "cut"};

static pid_t proxy_pid;
static int proxy_to = -1, proxy_from = -1; /* its stdin, its stdout */

/* Closing its control channel ends the proxy; it is killed if it lingers. */
static void proxy_stop(void)
{
    int st;

    if (proxy_pid <= 0)
        return;
    close(proxy_to);
    close(proxy_from);
    proxy_to = proxy_from = -1;
    for (int k = 0; k < 100 && waitpid(proxy_pid, &st, WNOHANG) == 0; k++)
        fed_sleep_ms(20);
    if (waitpid(proxy_pid, &st, WNOHANG) == 0) {
        kill(proxy_pid, SIGKILL);
        waitpid(proxy_pid, &st, 0);
    }
    proxy_pid = 0;
}

static int proxy_start(void)
{
    int to[2], from[2];
    char life[16];

    if (pipe2(to, O_CLOEXEC) == -1 || pipe2(from, O_CLOEXEC) == -1) {
        say("cannot make the proxy's pipes: %s", strerror(errno));
        return -1;
    }
    snprintf(life, sizeof(life), "%d", PROXY_LIFE_S);
    if ((proxy_pid = fork()) == -1) {
        say("cannot start the proxy: %s", strerror(errno));
        return -1;
    }
    if (proxy_pid == 0) {
        dup2(to[0], STDIN_FILENO);
        dup2(from[1], STDOUT_FILENO);
        execl(FAULTS_PROXY_BIN, "tmbus_proxy", "--lifetime", life, (char *)NULL);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    proxy_to = to[1];
    proxy_from = from[0];
    atexit(proxy_stop);
    return 0;
}

/* Sends one command line and reads the proxy's answer into reply (after
 * "ok", without it). Returns 0 for "ok", -1 for anything else (said). */
static int proxy_call(char *reply, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int proxy_call(char *reply, size_t size, const char *fmt, ...)
{
    char line[256], answer[256];
    size_t n = 0;
    va_list ap;
    int len;

    va_start(ap, fmt);
    len = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (len < 0 || (size_t)len >= sizeof(line) - 1)
        return -1;
    line[len++] = '\n';
    if (write(proxy_to, line, (size_t)len) != len) {
        say("the proxy is gone: %s", strerror(errno));
        return -1;
    }
    /* One line back, within PROXY_REPLY_MS. */
    for (int64_t end = fed_now_ms() + PROXY_REPLY_MS; n < sizeof(answer) - 1;) {
        struct pollfd pfd = {.fd = proxy_from, .events = POLLIN};
        int64_t left = end - fed_now_ms();
        ssize_t r;
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0 ||
            (r = read(proxy_from, answer + n, 1)) != 1) {
            say("no answer from the proxy to: %.*s", len - 1, line);
            return -1;
        }
        if (answer[n] == '\n')
            break;
        n++;
    }
    answer[n] = '\0';
    if (strncmp(answer, "ok", 2) != 0) {
        say("the proxy answered %s to: %.*s", answer, len - 1, line);
        return -1;
    }
    if (reply != NULL && size > 0) {
        const char *rest = answer[2] == ' ' ? answer + 3 : "";
        size_t used = strnlen(rest, size - 1);
        memcpy(reply, rest, used);
        reply[used] = '\0';
    }
    return 0;
}

/* The proxy's name for the link between nodes i and j, both ways. */
static void proxy_link(char *out, size_t size, size_t i, size_t j)
{
    snprintf(out, size, "%u-%u", (unsigned)(i < j ? i : j) % 100, (unsigned)(i < j ? j : i) % 100);
}

/* Puts the link between nodes i and j in mode (or passes it again when
 * is_up); a cut heals by itself after heal_ms, should the harness hang. */
static int proxy_set(size_t i, size_t j, bool is_up, enum cut_mode mode, int heal_ms)
{
    char link[16];

    proxy_link(link, sizeof(link), i, j);
    if (is_up)
        return proxy_call(NULL, 0, "set %s pass", link);
    return proxy_call(NULL, 0, "set %s %s %d", link, cut_names[mode], heal_ms);
}

/* ---- disk full: a small tmpfs for one node's store ---------------------- */

static char mount_dir[FED_PATH_MAX];

static void unmount_at_exit(void)
{
    if (mount_dir[0] != '\0')
        (void)umount2(mount_dir, MNT_DETACH);
    mount_dir[0] = '\0';
}

static unsigned used_kib(const char *dir)
{
    struct statvfs sv;

    if (statvfs(dir, &sv) == -1)
        return 0;
    return (unsigned)((sv.f_blocks - sv.f_bfree) * sv.f_frsize / 1024);
}

static int tmpfs_mount(const char *dir, unsigned size_kib, bool is_remount)
{
    char opts[64];

    snprintf(opts, sizeof(opts), "size=%uk,mode=0700", size_kib);
    if (mount("tmpfs", dir, "tmpfs", is_remount ? MS_REMOUNT : 0, opts) == -1) {
        say("cannot mount a tmpfs on %s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- clients ------------------------------------------------------------- */

static struct tmbus *connect_as(struct run *r, size_t i, const char *key)
{
    struct tmbus *h = NULL;
    char err[256] = "";
    int rc = tmbus_connect_files(fed_client_endpoint(r->f, i), fed_member_pub_path(r->f, i), key,
                                 CONNECT_MS, &h, err, sizeof(err));

    if (rc != TMBUS_OK) {
        say("cannot connect to node %s: %s (%s)", fed_id(r->f, i), tmbus_strerror(rc), err);
        return NULL;
    }
    return h;
}

static void origin_grow(struct origin *o, uint32_t want)
{
    uint32_t cap = o->cap == 0 ? 1024 : o->cap;

    if (want <= o->cap)
        return;
    while (cap < want)
        cap *= 2;
    o->state = xrealloc(o->state, cap);
    o->id = xrealloc(o->id, (size_t)cap * TMBUS_ID_BYTES);
    o->got_id = xrealloc(o->got_id, (size_t)cap * TMBUS_ID_BYTES);
    o->has_got_id = xrealloc(o->has_got_id, (size_t)cap * sizeof(bool));
    o->is_expiring = xrealloc(o->is_expiring, (size_t)cap * sizeof(bool));
    memset(o->state + o->cap, 0, cap - o->cap);
    memset(o->has_got_id + o->cap, 0, (cap - o->cap) * sizeof(bool));
    memset(o->is_expiring + o->cap, 0, (cap - o->cap) * sizeof(bool));
    o->cap = cap;
}

static uint8_t *sub_count(struct sub *s, size_t origin, uint32_t index)
{
    if (index >= s->cap[origin]) {
        uint32_t cap = s->cap[origin] == 0 ? 1024 : s->cap[origin];
        while (cap <= index)
            cap *= 2;
        s->count[origin] = xrealloc(s->count[origin], cap);
        memset(s->count[origin] + s->cap[origin], 0, cap - s->cap[origin]);
        s->cap[origin] = cap;
    }
    return &s->count[origin][index];
}

/* Whether subscriber s must get origin's post index: every node but the
 * origin, unless the post expires before s's clock reaches it. */
static bool is_due(const struct run *r, size_t s, size_t origin, uint32_t index)
{
    if (s == origin)
        return false;
    if (r->org[origin].is_expiring[index] && r->skew_s[s] >= EXPIRY_S)
        return false;
    return true;
}

static size_t node_by_id(const struct run *r, const char *id)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(fed_id(r->f, i), id) == 0)
            return i;
    return SIZE_MAX;
}

/* ---- posting ------------------------------------------------------------- */

static void note_outcome(struct run *r, size_t i, struct tmbus_posted *p)
{
    struct poster *po = &r->post[i];
    struct origin *o = &r->org[i];
    uint64_t t = tmbus_posted_ticket(p);

    for (size_t k = 0; k < po->n_fl; k++) {
        if (po->fl[k].ticket != t)
            continue;
        uint32_t index = po->fl[k].index;
        int rc = tmbus_posted_result(p);
        if (rc == TMBUS_OK && tmbus_posted_count(p) >= 1) {
            o->state[index] = POST_ACKED;
            memcpy(o->id[index], tmbus_posted_id(p, 0), TMBUS_ID_BYTES);
            r->n_acked++;
        } else if (rc == TMBUS_ETIMEOUT || rc == TMBUS_ECLOSED) {
            o->state[index] = POST_UNKNOWN;
        } else {
            o->state[index] = POST_FAILED;
        }
        po->fl[k] = po->fl[--po->n_fl];
        return;
    }
    say("node %s answered a post it was never sent (ticket %" PRIu64 ")", fed_id(r->f, i), t);
    r->corrupted++;
}

static void drain_outcomes(struct run *r, size_t i)
{
    struct tmbus_posted *p = NULL;

    while (r->post[i].n_fl > 0 && tmbus_posted_next(r->post[i].h, 0, &p) == TMBUS_OK && p != NULL) {
        note_outcome(r, i, p);
        tmbus_posted_free(&p);
    }
}

/* A serialized Payload{need} titled title, with a long description when
 * is_big. The library has no encoder that takes an expiry, so the harness
 * encodes its needs itself and posts the bytes. Returns the length, or 0
 * when buf is too small. */
static size_t encode_need(uint8_t *buf, size_t size, const char *title, bool is_big)
{
    static char desc[DESC_BYTES + 1];
    Tmbus__Payload__Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT;
    Tmbus__Payload__Need need = TMBUS__PAYLOAD__NEED__INIT;
    size_t len;

    if (desc[0] == '\0')
        memset(desc, 'd', DESC_BYTES);
    need.beneficiary = "Regional energy operator (fault test)";
    need.sector = TMBUS__PAYLOAD__SECTOR__SECTOR_ENERGY;
    need.category = TMBUS__PAYLOAD__CATEGORY__CATEGORY_SOFTWARE_LICENCES;
    need.title = (char *)(uintptr_t)title;
    need.description = is_big ? desc : "";
    need.quantity = 1;
    need.unit = "licences";
    need.value_cents = 100;
    need.priority = TMBUS__PAYLOAD__PRIORITY__PRIORITY_MEDIUM;
    need.tlp = TMBUS__PAYLOAD__TLP__TLP_GREEN;
    need.contact = "duty desk";
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_NEED;
    p.need = &need;
    len = tmbus__payload__payload__get_packed_size(&p);
    if (len > size)
        return 0;
    tmbus__payload__payload__pack(&p, buf);
    return len;
}

static bool is_skewed(const struct run *r)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->skew_s[i] != 0)
            return true;
    return false;
}

/* Sends one need, to every member, from poster i; false when the window
 * is full or the node could not take it. */
static bool post_one(struct run *r, size_t i)
{
    static uint8_t buf[DESC_BYTES + 1024];
    struct origin *o = &r->org[i];
    struct poster *po = &r->post[i];
    char title[TITLE_MAX];
    uint32_t index = o->n;
    uint64_t ticket;
    int64_t expires = 0;
    size_t len;

    if (po->n_fl >= POST_WINDOW || r->n_posted >= r->max_messages)
        return false;
    origin_grow(o, index + 1);
    snprintf(title, sizeof(title), "%s #%" PRIu32, r->tag, index);
    if ((len = encode_need(buf, sizeof(buf), title, r->is_big)) == 0)
        return false;
    /* Clock skew: every fourth post expires ten minutes from now by the
     * harness's clock, which is the true one. */
    if (is_skewed(r) && index % 4 == 0)
        expires = (int64_t)time(NULL) + EXPIRY_S;
    if (tmbus_post_send(po->h, buf, len, NULL, 0, true, expires, TMBUS_POST_NOWAIT, CALL_MS,
                        &ticket) != TMBUS_OK)
        return false;
    o->state[index] = POST_SENT;
    o->is_expiring[index] = expires != 0;
    o->n = index + 1;
    r->n_posted++;
    po->fl[po->n_fl].ticket = ticket;
    po->fl[po->n_fl].index = index;
    po->n_fl++;
    return true;
}

/* ---- subscribing --------------------------------------------------------- */

/* The origin and index a delivery names, when it is one of this run's
 * needs. */
static bool parse_delivery(const struct run *r, const struct tmbus_delivery *d, size_t *origin,
                           uint32_t *index)
{
    const struct tmbus_need *need = tmbus_delivery_need(d);
    size_t len = strlen(r->tag);
    char *end;
    unsigned long k;

    if (need == NULL || strncmp(need->title, r->tag, len) != 0 || need->title[len] != ' ' ||
        need->title[len + 1] != '#')
        return false;
    errno = 0;
    k = strtoul(need->title + len + 2, &end, 10);
    if (errno != 0 || *end != '\0' || k > UINT32_MAX)
        return false;
    *origin = node_by_id(r, tmbus_delivery_sender(d));
    *index = (uint32_t)k;
    return *origin != SIZE_MAX;
}

/* What subscriber s acked is durable now: count it. */
static void commit_pending(struct run *r, size_t s)
{
    struct sub *sb = &r->sub[s];

    for (size_t k = 0; k < sb->n_pend; k++) {
        struct pending *p = &sb->pend[k];
        struct origin *o = &r->org[p->origin];
        uint8_t *c = sub_count(sb, p->origin, p->index);
        if (p->index >= o->n) {
            say("seed %" PRIu64 ": %s got %s #%u, never posted", r->seed, fed_id(r->f, s),
                fed_id(r->f, p->origin), p->index);
            r->corrupted++;
            continue;
        }
        if (*c > 0) {
            say("seed %" PRIu64 ": %s got %s #%u again after acking it", r->seed, fed_id(r->f, s),
                fed_id(r->f, p->origin), p->index);
            r->duplicated++;
            continue;
        }
        *c = 1;
        if ((int64_t)p->index <= sb->last_index[p->origin]) {
            say("seed %" PRIu64 ": %s got %s #%u after #%" PRId64, r->seed, fed_id(r->f, s),
                fed_id(r->f, p->origin), p->index, sb->last_index[p->origin]);
            r->corrupted++;
        }
        sb->last_index[p->origin] = p->index;
        if (o->has_got_id[p->index] && memcmp(o->got_id[p->index], p->id, TMBUS_ID_BYTES) != 0) {
            say("seed %" PRIu64 ": %s #%u arrived under two ids", r->seed, fed_id(r->f, p->origin),
                p->index);
            r->corrupted++;
        }
        memcpy(o->got_id[p->index], p->id, TMBUS_ID_BYTES);
        o->has_got_id[p->index] = true;
    }
    sb->n_pend = 0;
}

static void ack(struct run *r, size_t s)
{
    struct sub *sb = &r->sub[s];

    if (sb->n_pend == 0)
        return;
    int64_t t0 = fed_now_ms();
    int rc = tmbus_ack(sb->h, sb->last_number, CALL_MS);

    if (fed_now_ms() - t0 > r->ack_max_ms)
        r->ack_max_ms = fed_now_ms() - t0;
    r->ack_timeouts += rc == TMBUS_ETIMEOUT;
    if (rc == TMBUS_OK)
        commit_pending(r, s);
    else
        say("ack %" PRIu64 " at %s: %s (%s) after %lld ms", sb->last_number, fed_id(r->f, s),
            tmbus_strerror(rc), tmbus_last_error(sb->h), (long long)(fed_now_ms() - t0));
}

/* Takes what subscriber s has, without waiting. Returns how many. */
static size_t receive(struct run *r, size_t s)
{
    struct sub *sb = &r->sub[s];
    struct tmbus_delivery *d = NULL;
    size_t n = 0;

    if (sb->is_stopped)
        return 0;
    while (n < SUB_WINDOW && tmbus_next(sb->h, 0, &d) == TMBUS_OK && d != NULL) {
        size_t origin;
        uint32_t index;
        n++;
        if (tmbus_delivery_number(d) <= sb->last_number) {
            say("seed %" PRIu64 ": %s: delivery number %" PRIu64 " after %" PRIu64, r->seed,
                fed_id(r->f, s), tmbus_delivery_number(d), sb->last_number);
            r->corrupted++;
        }
        sb->last_number = tmbus_delivery_number(d);
        if (parse_delivery(r, d, &origin, &index)) {
            if (sb->n_pend == sb->cap_pend) {
                sb->cap_pend = sb->cap_pend == 0 ? 256 : sb->cap_pend * 2;
                sb->pend = xrealloc(sb->pend, sb->cap_pend * sizeof(*sb->pend));
            }
            sb->pend[sb->n_pend].origin = (uint8_t)origin;
            sb->pend[sb->n_pend].index = index;
            memcpy(sb->pend[sb->n_pend].id, tmbus_delivery_id(d), TMBUS_ID_BYTES);
            sb->n_pend++;
        }
        tmbus_delivery_free(&d);
        if (!sb->is_slow && sb->n_pend >= ACK_EVERY)
            ack(r, s);
    }
    /* An ack waits for the node's commit (an fsync): a quiet subscriber
     * acks what it holds every ACK_IDLE_MS, not after every empty look,
     * or the acks would pace the whole stream. The slow one acks every
     * SLOW_ACK_MS whatever it holds. */
    if (fed_now_ms() >= sb->next_ack_ms && (sb->is_slow || n == 0)) {
        ack(r, s);
        sb->next_ack_ms = fed_now_ms() + (sb->is_slow ? SLOW_ACK_MS : ACK_IDLE_MS);
    }
    return n;
}

/* ---- the stream ---------------------------------------------------------- */

/* Posts and receives for ms milliseconds (posting only while is_posting
 * and below max_messages), on the nodes that are up. */
static void pump(struct run *r, int ms, bool is_posting)
{
    int64_t end = fed_now_ms() + ms;

    while (fed_now_ms() < end) {
        size_t progress = 0;
        for (size_t i = 0; i < r->n; i++) {
            /* A dead node's posts in flight complete too (unknown fate). */
            drain_outcomes(r, i);
            if (!r->is_up[i])
                continue;
            if (is_posting && r->post[i].is_posting)
                for (int k = 0; k < POST_WINDOW && post_one(r, i); k++)
                    progress++;
            progress += receive(r, i);
        }
        if (progress == 0)
            fed_sleep_ms(2);
    }
}

/* How many deliveries of acked posts are due but not counted yet. */
static uint64_t count_missing(const struct run *r)
{
    uint64_t n = 0;

    for (size_t origin = 0; origin < r->n; origin++) {
        const struct origin *o = &r->org[origin];
        for (uint32_t k = 0; k < o->n; k++) {
            if (o->state[k] != POST_ACKED)
                continue;
            for (size_t s = 0; s < r->n; s++)
                if (is_due(r, s, origin, k) &&
                    (k >= r->sub[s].cap[origin] || r->sub[s].count[origin][k] == 0))
                    n++;
        }
    }
    return n;
}

/* Pumps without posting until every outcome is in and every acked post
 * reached every subscriber due it, or ms pass. Returns 0 or -1. */
static int converge(struct run *r, int ms)
{
    int64_t end = fed_now_ms() + ms;

    while (fed_now_ms() < end) {
        bool is_busy = false;
        pump(r, 200, false);
        for (size_t i = 0; i < r->n; i++) {
            is_busy |= r->post[i].n_fl > 0;
            ack(r, i);
            is_busy |= r->sub[i].n_pend > 0;
        }
        if (!is_busy && count_missing(r) == 0)
            return 0;
    }
    return -1;
}

/* ---- the checks ---------------------------------------------------------- */

/* Every acked post counted once at every subscriber due it; every post
 * that failed at nobody. Adds to lost and corrupted. */
static void check_deliveries(struct run *r)
{
    for (size_t origin = 0; origin < r->n; origin++) {
        const struct origin *o = &r->org[origin];
        for (uint32_t k = 0; k < o->n; k++) {
            for (size_t s = 0; s < r->n; s++) {
                struct sub *sb = &r->sub[s];
                uint8_t c = k < sb->cap[origin] ? sb->count[origin][k] : 0;
                if (o->state[k] == POST_ACKED && is_due(r, s, origin, k) && c == 0) {
                    if (r->lost < 20)
                        say("seed %" PRIu64 ": acked %s #%u never reached %s", r->seed,
                            fed_id(r->f, origin), k, fed_id(r->f, s));
                    r->lost++;
                } else if (o->state[k] == POST_ACKED && !is_due(r, s, origin, k) && c > 0 &&
                           s != origin) {
                    say("seed %" PRIu64 ": %s #%u reached %s after it expired there", r->seed,
                        fed_id(r->f, origin), k, fed_id(r->f, s));
                    r->corrupted++;
                } else if (o->state[k] == POST_FAILED && c > 0) {
                    say("seed %" PRIu64 ": refused %s #%u reached %s", r->seed,
                        fed_id(r->f, origin), k, fed_id(r->f, s));
                    r->corrupted++;
                }
            }
            if (o->state[k] == POST_ACKED && o->has_got_id[k] &&
                memcmp(o->id[k], o->got_id[k], TMBUS_ID_BYTES) != 0) {
                say("seed %" PRIu64 ": %s #%u arrived under another id than its receipt's", r->seed,
                    fed_id(r->f, origin), k);
                r->corrupted++;
            }
        }
    }
}

/* Whether node i's clock runs so far ahead that the expiring posts are
 * expired there: it reads fewer board messages than the others, so its
 * digest is not theirs. */
static bool is_expiring_all(const struct run *r, size_t i)
{
    return r->skew_s[i] >= EXPIRY_S;
}

/* Every node's board digest, asked through its poster; they must agree
 * among the nodes that read every post. Waits up to ms for them to. Returns 0, or
 * -1 with the digests printed. */
static int check_digests(struct run *r, int ms)
{
    uint8_t d[MAX_NODES][TMBUS_ID_BYTES];
    int64_t end = fed_now_ms() + ms;

    for (;;) {
        bool is_same = true;
        for (size_t i = 0; i < r->n; i++) {
            struct tmbus_status *st = NULL;
            const uint8_t *dg;
            memset(d[i], 0, TMBUS_ID_BYTES);
            if (is_expiring_all(r, i))
                continue;
            if (tmbus_status(r->post[i].h, CALL_MS, &st) != TMBUS_OK) {
                is_same = false;
                continue;
            }
            if ((dg = tmbus_status_board_digest(st)) != NULL)
                memcpy(d[i], dg, TMBUS_ID_BYTES);
            tmbus_status_free(&st);
            is_same &= memcmp(d[i], d[0], TMBUS_ID_BYTES) == 0;
        }
        if (is_same)
            return 0;
        if (fed_now_ms() >= end)
            break;
        fed_sleep_ms(500);
    }
    for (size_t i = 0; i < r->n; i++) {
        char hex[TMBUS_ID_HEX_BYTES];
        sodium_bin2hex(hex, sizeof(hex), d[i], TMBUS_ID_BYTES);
        say("seed %" PRIu64 ": %s board digest %s", r->seed, fed_id(r->f, i), hex);
    }
    return -1;
}

/* PRAGMA integrity_check on the store file, opened read-only (the store
 * file is plain SQLite; only the board's blobs are sealed, inside it). */
static int check_store(const char *dir)
{
    char path[FED_PATH_MAX + 16];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = -1;

    snprintf(path, sizeof(path), "%s/tmbus.db", dir);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        if (v != NULL && strcmp(v, "ok") == 0)
            rc = 0;
        else
            say("%s: integrity_check says %s", path, v != NULL ? v : "nothing");
    } else {
        say("%s: cannot check: %s", path, db != NULL ? sqlite3_errmsg(db) : "no memory");
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

/* ---- a run --------------------------------------------------------------- */

static const char *const ids[MAX_NODES] = {"A", "B", "C", "D", "E"};

static int run_open(struct run *r, size_t n)
{
    r->n = n;
    static const char *const roles[MAX_NODES] = {"beneficiary", "beneficiary", "beneficiary",
                                                 "beneficiary", "beneficiary"};

    if ((r->f = fed_new_with_roles(n, ids, roles)) == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (fed_set_limit(r->f, i, "heartbeat_ms", 100) == -1 ||
            fed_add_client(r->f, i, "sub", "reader", "red", r->sub_key[i]) == -1)
            return -1;
        for (size_t o = 0; o < MAX_NODES; o++)
            r->sub[i].last_index[o] = -1;
    }
    snprintf(r->tag, sizeof(r->tag), "fault-%016" PRIx64, r->seed);
    return 0;
}

static int start_node(struct run *r, size_t i)
{
    if (fed_start(r->f, i) == -1)
        return -1;
    r->is_up[i] = true;
    return 0;
}

/* Starts every node and connects its poster and its subscriber. */
static int run_start(struct run *r)
{
    for (size_t i = 0; i < r->n; i++)
        if (start_node(r, i) == -1)
            return -1;
    for (size_t i = 1; i < r->n; i++)
        if (fed_wait_link(r->f, i, 0, "A", LINK_MS) == -1)
            return -1;
    for (size_t i = 0; i < r->n; i++) {
        if ((r->post[i].h = connect_as(r, i, fed_client_key_path(r->f, i))) == NULL ||
            (r->sub[i].h = connect_as(r, i, r->sub_key[i])) == NULL)
            return -1;
        if (tmbus_post_window(r->post[i].h, POST_WINDOW) != TMBUS_OK ||
            tmbus_subscribe(r->sub[i].h, SUB_WINDOW, CONNECT_MS) != TMBUS_OK) {
            say("cannot subscribe at %s", fed_id(r->f, i));
            return -1;
        }
        r->post[i].is_posting = true;
    }
    return 0;
}

/* Converges, checks deliveries and digests, stops the nodes and checks
 * their stores. Sets is_failed. */
static void run_finish(struct run *r, int converge_ms)
{
    if (converge(r, converge_ms) == -1)
        say("seed %" PRIu64 ": no convergence in %d ms (%" PRIu64 " deliveries missing)", r->seed,
            converge_ms, count_missing(r));
    check_deliveries(r);
    if (check_digests(r, 20000) == -1)
        r->corrupted++;
    for (size_t i = 0; i < r->n; i++) {
        tmbus_close(&r->post[i].h);
        tmbus_close(&r->sub[i].h);
        if (r->is_up[i] && fed_stop(r->f, i) != 0) {
            say("node %s did not stop cleanly", fed_id(r->f, i));
            r->corrupted++;
        }
        r->is_up[i] = false;
    }
    for (size_t i = 0; i < r->n; i++)
        if (check_store(i == 0 && mount_dir[0] != '\0' ? mount_dir : fed_data_dir(r->f, i)) == -1)
            r->corrupted++;
    r->is_failed |= r->lost > 0 || r->duplicated > 0 || r->corrupted > 0;
    if (r->n_acked == 0) {
        say("seed %" PRIu64 ": nothing was acknowledged", r->seed);
        r->is_failed = true;
    }
}

static void run_free(struct run *r)
{
    for (size_t i = 0; i < r->n; i++) {
        tmbus_close(&r->post[i].h);
        tmbus_close(&r->sub[i].h);
        free(r->sub[i].pend);
        for (size_t o = 0; o < MAX_NODES; o++)
            free(r->sub[i].count[o]);
    }
    for (size_t o = 0; o < MAX_NODES; o++) {
        free(r->org[o].state);
        free(r->org[o].id);
        free(r->org[o].got_id);
        free(r->org[o].has_got_id);
        free(r->org[o].is_expiring);
    }
    if (r->f != NULL && !r->is_failed)
        fed_pass(r->f);
    fed_free(&r->f);
}

/* ---- the scenarios ------------------------------------------------------- */

/* SIGKILL of a random node at a random moment of the stream, round after
 * round; it comes back after a random pause. */
static int scenario_kill(struct run *r)
{
    unsigned max_rounds = r->is_soak ? 2000 : 4;
    int64_t end = fed_now_ms() + (r->is_soak ? 45 * 60 * 1000 : 60 * 1000);

    r->max_messages = r->is_soak ? 120000 : 20000;
    if (run_open(r, 5) == -1 || run_start(r) == -1)
        return -1;
    while (r->rounds < max_rounds && fed_now_ms() < end && (!r->is_soak || r->n_acked < 100000)) {
        size_t victim = (size_t)rnd_between(0, (int)r->n - 1);
        pump(r, rnd_between(200, 1500), true);
        fed_kill(r->f, victim);
        r->is_up[victim] = false;
        pump(r, rnd_between(100, 1000), true);
        if (start_node(r, victim) == -1)
            return -1;
        r->rounds++;
        if (r->is_soak && r->rounds % 20 == 0)
            say("kill: %u rounds, %" PRIu64 " acked", r->rounds, r->n_acked);
    }
    pump(r, 500, true);
    run_finish(r, r->is_soak ? 600000 : 60000);
    return 0;
}

/* Which rounds the proxy plays: the shape (0 one link, 1 two against
 * three, 2 one node alone) and how the links fail. The split is held first:
 * a black hole that only heartbeats reveal. */
static const struct {
    int shape;
    enum cut_mode mode;
} proxy_rounds[] = {
    {1, CUT_HOLD},  {0, CUT_RESET}, {2, CUT_DROP}, {1, CUT_DROP}, {0, CUT_HOLD},
    {2, CUT_RESET}, {1, CUT_RESET}, {0, CUT_DROP}, {2, CUT_HOLD},
};

/* Whether partitions go through the proxy: TMBUS_FAULTS_PARTITION says
 * "proxy" or "netns"; unset, namespaces when they can be had. Returns 1,
 * 0, or -1 for a value it does not know. */
static int wants_proxy(void)
{
    const char *want = getenv("TMBUS_FAULTS_PARTITION");

    if (want == NULL || want[0] == '\0')
        return can_use_netns() ? 0 : 1;
    if (strcmp(want, "proxy") == 0)
        return 1;
    if (strcmp(want, "netns") == 0)
        return 0;
    say("TMBUS_FAULTS_PARTITION is %s; it must be proxy or netns", want);
    return -1;
}

/* Each node in a namespace of its own: it listens on every address of
 * its namespace, on the port the roster names, and dials each peer at
 * that peer's end of their own veth link; its clients come in over a Unix
 * socket. */
static int wire_netns(struct run *r, const unsigned port[])
{
    char addr[32], ep[FED_ENDPOINT_MAX], listen[FED_ENDPOINT_MAX], client[FED_ENDPOINT_MAX];

    if (netns_build(r->n) == -1)
        return -1;
    for (size_t i = 0; i < r->n; i++) {
        snprintf(listen, sizeof(listen), "tcp://*:%u", port[i]);
        snprintf(client, sizeof(client), "ipc://%s/client.sock", fed_data_dir(r->f, i));
        if (fed_set_listen(r->f, i, listen, client) == -1 || fed_set_netns(r->f, i, netns[i]) == -1)
            return -1;
        for (size_t j = 0; j < r->n; j++) {
            if (j == i)
                continue;
            link_addr(addr, sizeof(addr), j, i);
            snprintf(ep, sizeof(ep), "tcp://%s:%u", addr, port[j]);
            if (fed_set_peer_endpoint(r->f, i, j, ep) == -1)
                return -1;
        }
    }
    return 0;
}

/* Every node dials each peer at a port of the proxy that forwards to that
 * peer's own port; the two directions of a pair are one link. */
static int wire_proxy(struct run *r, const unsigned port[])
{
    char link[16], reply[16], ep[FED_ENDPOINT_MAX];

    if (proxy_start() == -1)
        return -1;
    for (size_t i = 0; i < r->n; i++) {
        for (size_t j = 0; j < r->n; j++) {
            if (j == i)
                continue;
            proxy_link(link, sizeof(link), i, j);
            if (proxy_call(reply, sizeof(reply), "route %s %u", link, port[j]) == -1)
                return -1;
            snprintf(ep, sizeof(ep), "tcp://127.0.0.1:%s", reply);
            if (fed_set_peer_endpoint(r->f, i, j, ep) == -1)
                return -1;
        }
    }
    return 0;
}

/* Pumps until every node logged each of its links that was cut up again
 * after mark, or LINK_MS pass. Returns 0, or -1 (said). */
static int wait_healed(struct run *r, bool is_cut[][MAX_NODES], const long mark[])
{
    int64_t end = fed_now_ms() + LINK_MS;

    for (;;) {
        size_t i_down = SIZE_MAX, j_down = SIZE_MAX;
        for (size_t i = 0; i < r->n && i_down == SIZE_MAX; i++) {
            for (size_t j = 0; j < r->n; j++) {
                char needle[64];
                snprintf(needle, sizeof(needle), "peer %s: link up", fed_id(r->f, j));
                if (is_cut[i][j] && fed_log_count(r->f, i, mark[i], needle) == 0) {
                    i_down = i;
                    j_down = j;
                    break;
                }
            }
        }
        if (i_down == SIZE_MAX)
            return 0;
        if (fed_now_ms() >= end) {
            say("seed %" PRIu64 ": %s's link to %s not up %d ms after the heal", r->seed,
                fed_id(r->f, i_down), fed_id(r->f, j_down), LINK_MS);
            return -1;
        }
        pump(r, 200, true);
    }
}

/* Links cut, then healed: one link, the federation split two against
 * three, one node alone. In network namespaces a link is a veth pair taken
 * down: open connections become a black hole, new ones find no route.
 * Through the proxy each round also says how the links fail: dropped, held
 * (a black hole) or reset. Every node must notice each of its links cut,
 * and every acked post arrive once the links heal. */
static int scenario_partition(struct run *r)
{
    unsigned port[MAX_NODES];
    int is_proxy = wants_proxy();
    unsigned n_rounds;

    if (is_proxy == -1)
        return -1;
    if (!is_proxy && !can_use_netns()) {
        say("skipped: partitions in namespaces need root and iproute2 "
            "(TMBUS_FAULTS_PARTITION=proxy needs neither)");
        return SKIP;
    }
    if (is_proxy)
        r->scenario = "partition-proxy";
    n_rounds = is_proxy ? (r->is_soak ? 9 : 6) : (r->is_soak ? 6 : 3);
    r->max_messages = r->is_soak ? 200000 : 20000;
    if (run_open(r, 5) == -1)
        return -1;
    for (size_t i = 0; i < r->n; i++) {
        const char *p = strrchr(fed_peer_endpoint(r->f, i), ':');
        port[i] = p != NULL ? (unsigned)atoi(p + 1) : 0;
    }
    if ((is_proxy ? wire_proxy(r, port) : wire_netns(r, port)) == -1 || run_start(r) == -1)
        return -1;
    {
        /* Every link up before the first cut. */
        bool every[MAX_NODES][MAX_NODES];
        const long start[MAX_NODES] = {0};
        for (size_t i = 0; i < r->n; i++)
            for (size_t j = 0; j < r->n; j++)
                every[i][j] = i != j;
        if (wait_healed(r, every, start) == -1)
            return -1;
    }
    pump(r, 1000, true);
    for (unsigned k = 0; k < n_rounds; k++) {
        bool is_cut[MAX_NODES][MAX_NODES] = {{false}};
        bool side[MAX_NODES] = {false};
        int shape = is_proxy ? proxy_rounds[k % 9].shape : (int)(k % 3);
        enum cut_mode mode = is_proxy ? proxy_rounds[k % 9].mode : CUT_HOLD;
        /* Past the peers' 2 s timeout in CI, so that a black hole is
         * noticed; seconds to minutes in the soak. */
        int cut_ms = !r->is_soak ? 4000 : is_proxy ? rnd_between(5000, 120000) : 60000;
        long mark[MAX_NODES];
        char what[64];
        switch (shape) {
        case 0: { /* one link */
            size_t i = (size_t)rnd_between(0, (int)r->n - 1);
            size_t j = (i + (size_t)rnd_between(1, (int)r->n - 1)) % r->n;
            is_cut[i][j] = is_cut[j][i] = true;
            snprintf(what, sizeof(what), "link %s-%s cut", fed_id(r->f, i), fed_id(r->f, j));
            break;
        }
        case 1: /* two against three */
            for (int m = 0; m < 2;) {
                size_t i = (size_t)rnd_between(0, (int)r->n - 1);
                if (!side[i]) {
                    side[i] = true;
                    m++;
                }
            }
            for (size_t i = 0; i < r->n; i++)
                for (size_t j = 0; j < r->n; j++)
                    is_cut[i][j] = i != j && side[i] != side[j];
            snprintf(what, sizeof(what), "split in two");
            break;
        default: { /* one node alone */
            size_t i = (size_t)rnd_between(0, (int)r->n - 1);
            for (size_t j = 0; j < r->n; j++)
                is_cut[i][j] = is_cut[j][i] = i != j;
            snprintf(what, sizeof(what), "%s alone", fed_id(r->f, i));
            break;
        }
        }
        say("partition round %u: %s (%s, %d ms)", k, what, is_proxy ? cut_names[mode] : "veth down",
            cut_ms);
        for (size_t i = 0; i < r->n; i++)
            mark[i] = fed_log_mark(r->f, i);
        for (size_t i = 0; i < r->n; i++)
            for (size_t j = i + 1; j < r->n; j++)
                if (is_cut[i][j] && (is_proxy ? proxy_set(i, j, false, mode, cut_ms + PROXY_HEAL_MS)
                                              : link_set(i, j, false)) == -1)
                    return -1;
        pump(r, cut_ms, true);
        for (size_t i = 0; i < r->n; i++) {
            for (size_t j = 0; j < r->n; j++) {
                char needle[64];
                if (!is_cut[i][j])
                    continue;
                snprintf(needle, sizeof(needle), "peer %s: link down", fed_id(r->f, j));
                if (fed_log_count(r->f, i, mark[i], needle) == 0) {
                    say("seed %" PRIu64 ": %s never noticed its link to %s cut for %d ms", r->seed,
                        fed_id(r->f, i), fed_id(r->f, j), cut_ms);
                    r->is_failed = true;
                }
            }
        }
        for (size_t i = 0; i < r->n; i++)
            mark[i] = fed_log_mark(r->f, i);
        for (size_t i = 0; i < r->n; i++)
            for (size_t j = i + 1; j < r->n; j++)
                if (is_cut[i][j] &&
                    (is_proxy ? proxy_set(i, j, true, mode, 0) : link_set(i, j, true)) == -1)
                    return -1;
        /* Healed: every cut link comes back (a dialler retries at most
         * every reconnect_max_ms), so the next round cuts links that are
         * up. */
        if (wait_healed(r, is_cut, mark) == -1)
            r->is_failed = true;
        pump(r, rnd_between(500, 1500), true);
        r->rounds++;
    }
    run_finish(r, r->is_soak ? 600000 : 60000);
    return 0;
}

/* Node A's store on a tmpfs too small for the stream: it fills, A
 * refuses posts and acknowledges nothing it could not commit; then the
 * file system grows and A catches up with everything. */
static int scenario_disk(struct run *r)
{
    char dir[FED_PATH_MAX];
    long mark;
    int64_t end;

    if (geteuid() != 0) {
        say("skipped: mounting a tmpfs needs root");
        return SKIP;
    }
    r->is_big = true;
    r->max_messages = r->is_soak ? 40000 : 6000;
    if (run_open(r, 3) == -1)
        return -1;
    snprintf(dir, sizeof(dir), "%s/db", fed_data_dir(r->f, 0));
    if (mkdir(dir, 0700) == -1 || tmpfs_mount(dir, 2048, false) == -1)
        return -1;
    snprintf(mount_dir, sizeof(mount_dir), "%s", dir);
    atexit(unmount_at_exit);
    if (fed_set_data_dir(r->f, 0, dir) == -1 || run_start(r) == -1)
        return -1;
    mark = fed_log_mark(r->f, 0);
    end = fed_now_ms() + (r->is_soak ? 600000 : 60000);
    for (unsigned k = 0; k < (r->is_soak ? 5u : 1u); k++) {
        /* Room for 2 MiB more than A holds, until A says it is full
         * (bounded), then a while longer. */
        if (k > 0 && tmpfs_mount(dir, used_kib(dir) + 2048, true) == -1)
            return -1;
        while (fed_now_ms() < end && fed_log_count(r->f, 0, mark, "store full") == 0 &&
               r->n_posted < r->max_messages)
            pump(r, 500, true);
        if (fed_log_count(r->f, 0, mark, "store full") == 0) {
            say("seed %" PRIu64 ": A never filled up", r->seed);
            r->is_failed = true;
            break;
        }
        pump(r, 2000, true);
        mark = fed_log_mark(r->f, 0);
        if (tmpfs_mount(dir, used_kib(dir) + 256 * 1024, true) == -1)
            return -1;
        if (fed_wait_log_from(r->f, 0, mark, "store writable again", 30000) == -1) {
            r->is_failed = true;
            break;
        }
        pump(r, 2000, true);
        r->rounds++;
        mark = fed_log_mark(r->f, 0);
    }
    run_finish(r, r->is_soak ? 600000 : 60000);
    return 0;
}

/* Clocks apart: B and C within the board's skew window, D and E beyond
 * it (a preloaded libfaketime shifts each node's clock). Every post goes
 * to all, every fourth expires in ten minutes: D, ahead by fifteen, must
 * treat those as expired and every other node deliver them. */
static int scenario_skew(struct run *r)
{
    static const int skew[MAX_NODES] = {0, -90, 120, 900, -900};
    char env[3][FED_PATH_MAX];
    const char *asan = getenv("ASAN_OPTIONS");
    int64_t end;

#ifdef FAULTS_NO_FAKETIME
    say("skipped: libfaketime hangs a sanitized tmbusd at start");
    return SKIP;
#endif
    if (access(FAKETIME_LIB, R_OK) != 0) {
        say("skipped: no %s (Debian package faketime)", FAKETIME_LIB);
        return SKIP;
    }
    memcpy(r->skew_s, skew, sizeof(skew));
    r->max_messages = r->is_soak ? 60000 : 6000;
    if (run_open(r, 5) == -1)
        return -1;
    for (size_t i = 1; i < r->n; i++) {
        snprintf(env[0], sizeof(env[0]), "LD_PRELOAD=%s", FAKETIME_LIB);
        snprintf(env[1], sizeof(env[1]), "FAKETIME=%+ds", skew[i]);
        /* The sanitizer runtime must come first unless told otherwise. */
        snprintf(env[2], sizeof(env[2]), "ASAN_OPTIONS=%s%sverify_asan_link_order=0",
                 asan != NULL ? asan : "", asan != NULL && asan[0] != '\0' ? ":" : "");
        if (fed_set_env(r->f, i, 0, env[0]) == -1 || fed_set_env(r->f, i, 1, env[1]) == -1 ||
            fed_set_env(r->f, i, 2, "FAKETIME_DONT_FAKE_MONOTONIC=1") == -1 ||
            fed_set_env(r->f, i, 3, env[2]) == -1)
            return -1;
    }
    if (run_start(r) == -1)
        return -1;
    end = fed_now_ms() + (r->is_soak ? 300000 : 5000);
    while (fed_now_ms() < end && r->n_posted < r->max_messages)
        pump(r, 500, true);
    r->rounds = 1;
    run_finish(r, r->is_soak ? 600000 : 60000);
    return 0;
}

/* B's subscriber takes deliveries in a window of four and acks every two
 * seconds, then stops reading for a while; A's and C's subscribers must
 * keep up with the posts all the same, and B's must get everything once
 * it reads again. */
static int scenario_slow(struct run *r)
{
    int stream_ms = r->is_soak ? 120000 : 4000;

    r->max_messages = r->is_soak ? 100000 : 10000;
    if (run_open(r, 3) == -1 || run_start(r) == -1)
        return -1;
    if (tmbus_subscribe(r->sub[1].h, 4, CONNECT_MS) != TMBUS_OK)
        return -1;
    r->sub[1].is_slow = true;
    r->post[1].is_posting = false;
    pump(r, stream_ms / 2, true);
    r->sub[1].is_stopped = true;
    pump(r, stream_ms / 2, true);
    /* The peers' subscribers are up to date within seconds of the end of
     * the stream, while B's still lags. */
    {
        int64_t end = fed_now_ms() + 15000;
        bool is_fresh = false;
        while (fed_now_ms() < end && !is_fresh) {
            pump(r, 200, false);
            is_fresh = true;
            for (size_t s = 0; s < r->n; s += 2)
                for (size_t o = 0; o < r->n; o++)
                    for (uint32_t k = 0; k < r->org[o].n; k++)
                        if (r->org[o].state[k] == POST_ACKED && is_due(r, s, o, k) &&
                            (k >= r->sub[s].cap[o] || r->sub[s].count[o][k] == 0))
                            is_fresh = false;
        }
        if (!is_fresh) {
            say("seed %" PRIu64 ": the slow consumer at B held back A's or C's subscriber",
                r->seed);
            r->is_failed = true;
        }
    }
    /* B's subscriber reads at the usual pace again: a window of four
     * would make its catch-up crawl, not the node. What it holds unacked
     * stays held (the handle never returns a delivery twice). */
    r->sub[1].is_stopped = false;
    r->sub[1].is_slow = false;
    if (tmbus_subscribe(r->sub[1].h, SUB_WINDOW, CONNECT_MS) != TMBUS_OK)
        return -1;
    r->rounds = 1;
    run_finish(r, r->is_soak ? 600000 : 60000);
    return 0;
}

/* ---- the report row ------------------------------------------------------ */

/* Replaces the row of (scenario, mode) in the TSV file, or adds it;
 * rows keep their order. Returns 0 or -1. */
static int tsv_write(const char *path, const struct run *r)
{
    static const char header[] =
        "scenario\tmode\tseed\trounds\tmessages\tlost\tduplicated\tcorrupted\tresult\tdate\n";
    char rows[TSV_ROWS_MAX][TSV_LINE_MAX], row[TSV_LINE_MAX], key[64], date[32];
    size_t n = 0, k;
    time_t now = time(NULL);
    FILE *fp;
    bool is_placed = false;

    strftime(date, sizeof(date), "%Y-%m-%d", gmtime(&now));
    snprintf(row, sizeof(row),
             "%s\t%s\t%" PRIu64 "\t%u\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64
             "\t%s\t%s\n",
             r->scenario, r->is_soak ? "soak" : "ci", r->seed, r->rounds, r->n_acked, r->lost,
             r->duplicated, r->corrupted, r->is_failed ? "FAIL" : "pass", date);
    snprintf(key, sizeof(key), "%s\t%s\t", r->scenario, r->is_soak ? "soak" : "ci");
    if ((fp = fopen(path, "r")) != NULL) {
        while (n < TSV_ROWS_MAX && fgets(rows[n], TSV_LINE_MAX, fp) != NULL)
            if (strncmp(rows[n], "scenario\t", 9) != 0)
                n++;
        fclose(fp);
    }
    for (k = 0; k < n; k++) {
        if (strncmp(rows[k], key, strlen(key)) == 0) {
            snprintf(rows[k], TSV_LINE_MAX, "%s", row);
            is_placed = true;
        }
    }
    if (!is_placed && n < TSV_ROWS_MAX)
        snprintf(rows[n++], TSV_LINE_MAX, "%s", row);
    if ((fp = fopen(path, "w")) == NULL) {
        say("cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    fputs(header, fp);
    for (k = 0; k < n; k++)
        fputs(rows[k], fp);
    return fclose(fp) == 0 ? 0 : -1;
}

/* ---- main ---------------------------------------------------------------- */

struct scenario {
    const char *name;
    int (*run)(struct run *r);
};

static const struct scenario scenarios[] = {
    {"kill", scenario_kill}, {"partition", scenario_partition}, {"disk", scenario_disk},
    {"skew", scenario_skew}, {"slow", scenario_slow},
};

static void usage(void)
{
    fprintf(stderr, "usage: tmbus-faults [--soak] [--seed N] [--tsv FILE] SCENARIO\n"
                    "scenarios: kill, partition, disk, skew, slow\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct run r = {0};
    const char *tsv = NULL;
    const struct scenario *sc = NULL;
    int rc;

    for (int k = 1; k < argc; k++) {
        if (strcmp(argv[k], "--soak") == 0) {
            r.is_soak = true;
        } else if (strcmp(argv[k], "--seed") == 0 && k + 1 < argc) {
            r.seed = strtoull(argv[++k], NULL, 0);
        } else if (strcmp(argv[k], "--tsv") == 0 && k + 1 < argc) {
            tsv = argv[++k];
        } else if (sc == NULL && argv[k][0] != '-') {
            for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
                if (strcmp(argv[k], scenarios[i].name) == 0)
                    sc = &scenarios[i];
            if (sc == NULL)
                usage();
        } else {
            usage();
        }
    }
    if (sc == NULL)
        usage();
    if (sodium_init() < 0)
        return 1;
    if (r.seed == 0)
        randombytes_buf(&r.seed, sizeof(r.seed));
    rng = r.seed | 1;
    r.scenario = sc->name;
    fprintf(stderr, "faults: %s (%s), seed %" PRIu64 " (replay: --seed %" PRIu64 ")\n", sc->name,
            r.is_soak ? "soak" : "ci", r.seed, r.seed);
    atexit(netns_cleanup);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);

    rc = sc->run(&r);
    if (rc == SKIP) {
        r.is_failed = false;
        run_free(&r);
        return SKIP;
    }
    if (rc == -1) {
        say("seed %" PRIu64 ": the %s scenario could not run", r.seed, sc->name);
        r.is_failed = true;
    }
    fprintf(stderr,
            "faults: %s: %u rounds, %" PRIu64 " acked of %" PRIu32 " posted, %" PRIu64
            " lost, %" PRIu64 " duplicated, %" PRIu64 " corrupted; slowest ack %lld ms, %u acks"
            " timed out: %s (seed %" PRIu64 ")\n",
            r.scenario, r.rounds, r.n_acked, r.n_posted, r.lost, r.duplicated, r.corrupted,
            (long long)r.ack_max_ms, r.ack_timeouts, r.is_failed ? "FAIL" : "pass", r.seed);
    if (rc == 0 && tsv != NULL && tsv_write(tsv, &r) == -1)
        r.is_failed = true;
    rc = r.is_failed ? 1 : 0;
    /* The nodes are down: the tmpfs goes before fed_free removes the
     * directory it is mounted in. */
    for (size_t i = 0; i < r.n; i++)
        if (r.f != NULL && fed_is_running(r.f, i))
            fed_kill(r.f, i);
    unmount_at_exit();
    run_free(&r);
    netns_cleanup();
    proxy_stop();
    return rc;
}
