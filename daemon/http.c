/*
 * http: libmicrohttpd without threads of its own. The server runs in epoll
 * mode, its epoll fd is watched by the node's loop and a timer honours
 * MHD_get_timeout, so every request is answered on the loop's thread and
 * reads the node's state without locks. A reply is built whole in memory,
 * bounded by HTTP_REPLY_MAX; requests are bounded by the connection memory
 * limit, the number of connections and an idle timeout. Nothing here
 * writes to the store or changes a counter other than its own.
 */
#include "http.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#include <microhttpd.h>

#include "board.h"
#include "log.h"
#include "roster.h"

#define HTTP_MAX_CONNECTIONS 16
#define HTTP_MAX_PER_IP      8
#define HTTP_IDLE_TIMEOUT_S  10
#define HTTP_REQUEST_MAX     16384      /* headers and all: more is refused by the server */
#define HTTP_REPLY_MAX       (1u << 20) /* a reply never grows past this */
#define HTTP_TIMER_MAX_MS    1000       /* longest sleep of the server's timer */
#define HTTP_MAX_PEERS       CONFIG_MAX_PEERS
#define METRIC_NAME_MAX      128

struct http {
    const struct config *cfg;
    struct loop *loop;
    struct store *store;
    struct route *route;
    struct peers *peers;
    struct api *api;
    struct stats *stats;
    struct MHD_Daemon *daemon;
    uint64_t timer;
    int64_t started_ms;    /* monotonic, for peers never heard since start */
    int64_t started_unix;  /* for tmbus_process_start_time_seconds */
    bool is_store_failed;  /* the last batch attempted did not commit */
    uint64_t seen_batches; /* commit.batches when last looked at */
};

/* A reply under construction; once a write would pass HTTP_REPLY_MAX it
 * stops growing and is_full says so. */
struct text {
    char *p;
    size_t len, cap;
    bool is_full;
};

static void add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add(struct text *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (t->is_full)
        return;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        ensure(n >= 0);
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        if (t->cap >= HTTP_REPLY_MAX) {
            t->p[t->len] = '\0';
            t->is_full = true;
            return;
        }
        size_t cap = t->cap * 2 < HTTP_REPLY_MAX ? t->cap * 2 : HTTP_REPLY_MAX;
        char *p = realloc(t->p, cap);
        ensure(p != NULL);
        t->p = p;
        t->cap = cap;
    }
}

/* ---- /metrics ----------------------------------------------------------- */

/* A counter as Prometheus sees it: "api.rejected.bad-tlp" becomes family
 * tmbus_api_rejected_total with reason "bad-tlp"; a name without such a
 * segment has no reason. */
struct sample {
    char family[METRIC_NAME_MAX];
    const char *reason; /* points into the counter's static name; NULL: none */
    uint64_t value;
};

/* The segments after which the rest of a counter's name is a reason. */
static bool is_reason_marker(const char *seg, size_t len)
{
    static const char *const markers[] = {"rejected", "refused", "denied", "skipped", "ignored"};

    for (size_t i = 0; i < sizeof(markers) / sizeof(markers[0]); i++)
        if (strlen(markers[i]) == len && memcmp(markers[i], seg, len) == 0)
            return true;
    return false;
}

/* Writes "tmbus_" + name[0..len) + suffix with every character a metric
 * name may not hold turned into '_'. */
static void metric_name(char *out, size_t size, const char *name, size_t len, const char *suffix)
{
    int n = snprintf(out, size, "tmbus_%.*s%s", (int)len, name, suffix);

    ensure(n > 0 && (size_t)n < size);
    for (char *c = out; *c != '\0'; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')))
            *c = '_';
}

static void to_sample(const char *name, uint64_t value, struct sample *s)
{
    const char *seg = name, *dot;
    size_t len = strlen(name);

    s->reason = NULL;
    s->value = value;
    while ((dot = strchr(seg, '.')) != NULL) {
        if (is_reason_marker(seg, (size_t)(dot - seg))) {
            len = (size_t)(dot - name);
            s->reason = dot + 1;
            break;
        }
        seg = dot + 1;
    }
    metric_name(s->family, sizeof(s->family), name, len, "_total");
}

static int by_family(const void *a, const void *b)
{
    const struct sample *x = a, *y = b;
    int c = strcmp(x->family, y->family);

    if (c != 0)
        return c;
    return strcmp(x->reason != NULL ? x->reason : "", y->reason != NULL ? y->reason : "");
}

/* A label value with \, " and newline escaped, as the format wants. */
static void add_label_value(struct text *t, const char *v)
{
    for (; *v != '\0'; v++) {
        if (*v == '\\' || *v == '"')
            add(t, "\\%c", *v);
        else if (*v == '\n')
            add(t, "\\n");
        else
            add(t, "%c", *v);
    }
}

static void add_family(struct text *t, const char *name, const char *type, const char *help)
{
    add(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Every named counter, grouped into families (the table keeps them in
 * first-counted order, and a family's samples must be together). */
static void add_counters(struct http *h, struct text *t)
{
    size_t n = stats_size(h->stats);
    struct sample *s = calloc(n + 1, sizeof(*s));

    ensure(s != NULL);
    for (size_t i = 0; i < n; i++) {
        const char *name;
        uint64_t value;
        stats_at(h->stats, i, &name, &value);
        to_sample(name, value, &s[i]);
    }
    qsort(s, n, sizeof(*s), by_family);
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || strcmp(s[i].family, s[i - 1].family) != 0)
            add_family(t, s[i].family, "counter",
                       s[i].reason != NULL ? "tmbusd counter, by reason." : "tmbusd counter.");
        add(t, "%s", s[i].family);
        if (s[i].reason != NULL) {
            add(t, "{reason=\"");
            add_label_value(t, s[i].reason);
            add(t, "\"}");
        }
        add(t, " %" PRIu64 "\n", s[i].value);
    }
    free(s);
}

static void add_histograms(struct http *h, struct text *t)
{
    char name[METRIC_NAME_MAX];

    for (size_t i = 0; i < stats_histogram_count(h->stats); i++) {
        const struct stats_histogram *hg = stats_histogram_at(h->stats, i);
        uint64_t cumulative = 0;

        metric_name(name, sizeof(name), hg->name, strlen(hg->name), "");
        add_family(t, name, "histogram", "tmbusd histogram, one observation per group commit.");
        for (size_t b = 0; b < hg->n_bounds; b++) {
            cumulative += hg->counts[b];
            add(t, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, hg->bounds[b], cumulative);
        }
        add(t, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, hg->count);
        add(t, "%s_sum %.9g\n%s_count %" PRIu64 "\n", name, hg->sum, name, hg->count);
    }
}

static void add_peers(struct http *h, struct text *t)
{
    static const char *const states[] = {"down", "connecting", "up"};
    struct peer_status *ps = calloc(HTTP_MAX_PEERS, sizeof(*ps));
    size_t n;

    ensure(ps != NULL);
    n = peers_status(h->peers, ps, HTTP_MAX_PEERS);
    add_family(t, "tmbus_peer_link_state", "gauge",
               "1 for the state each peer link is in (down, connecting, up), else 0.");
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < sizeof(states) / sizeof(states[0]); k++)
            add(t, "tmbus_peer_link_state{peer=\"%s\",state=\"%s\"} %d\n", ps[i].member, states[k],
                strcmp(ps[i].state, states[k]) == 0);
    add_family(t, "tmbus_peer_lag_envelopes", "gauge",
               "Envelopes this node holds that the peer lacks.");
    for (size_t i = 0; i < n; i++)
        add(t, "tmbus_peer_lag_envelopes{peer=\"%s\"} %" PRIu64 "\n", ps[i].member, ps[i].lag);
    add_family(t, "tmbus_peer_behind_envelopes", "gauge",
               "Envelopes the peer holds that this node lacks.");
    for (size_t i = 0; i < n; i++)
        add(t, "tmbus_peer_behind_envelopes{peer=\"%s\"} %" PRIu64 "\n", ps[i].member,
            ps[i].behind);
    add_family(t, "tmbus_peer_silent_seconds", "gauge",
               "Seconds since the peer was last heard (absent: never heard since start).");
    for (size_t i = 0; i < n; i++)
        if (ps[i].silent_ms >= 0)
            add(t, "tmbus_peer_silent_seconds{peer=\"%s\"} %.3f\n", ps[i].member,
                (double)ps[i].silent_ms / 1000.0);
    free(ps);
}

/* Bytes of the store's database file and its write-ahead log. */
static uint64_t store_file_bytes(const struct http *h)
{
    static const char *const files[] = {"tmbus.db", "tmbus.db-wal"};
    char path[4096];
    uint64_t total = 0;
    struct stat st;

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        int n = snprintf(path, sizeof(path), "%s/%s", h->cfg->data_dir, files[i]);
        if (n > 0 && (size_t)n < sizeof(path) && stat(path, &st) == 0)
            total += (uint64_t)st.st_size;
    }
    return total;
}

/* Bytes an unprivileged writer may still use on the data directory's file
 * system; returns -1 when it cannot be read. */
static int filesystem_free_bytes(const struct http *h, uint64_t *out)
{
    struct statvfs vfs;

    if (statvfs(h->cfg->data_dir, &vfs) != 0)
        return -1;
    *out = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
    return 0;
}

static void add_gauge(struct text *t, const char *name, const char *help, double value)
{
    add_family(t, name, "gauge", help);
    add(t, "%s %.17g\n", name, value);
}

/* The board's counts as the store keeps them (store_board_count reads a
 * dozen rows, so a scrape costs the same at any board size). */
static void add_board(struct text *t, const struct store_board_counts *c)
{
    add_gauge(t, "tmbus_board_needs", "Needs on the board, in every status.", (double)c->needs);
    add_gauge(t, "tmbus_board_offers", "Offers on the board, in every status.", (double)c->offers);
    add_family(t, "tmbus_board_needs_by_status", "gauge", "Needs on the board in each status.");
    for (int st = 0; st < STORE_BOARD_STATUSES; st++)
        if (strcmp(board_need_status_name(st), "unknown") != 0)
            add(t, "tmbus_board_needs_by_status{status=\"%s\"} %" PRIu64 "\n",
                board_need_status_name(st), c->need_status[st]);
    add_family(t, "tmbus_board_offers_by_status", "gauge", "Offers on the board in each status.");
    for (int st = 0; st < STORE_BOARD_STATUSES; st++)
        if (strcmp(board_offer_status_name(st), "unknown") != 0)
            add(t, "tmbus_board_offers_by_status{status=\"%s\"} %" PRIu64 "\n",
                board_offer_status_name(st), c->offer_status[st]);
}

static void add_state(struct http *h, struct text *t)
{
    const struct roster *r = route_roster(h->route);
    struct store_board_counts board;
    uint64_t envelopes, evidence, free_bytes;

    add_family(t, "tmbus_build_info", "gauge", "Always 1; the version tmbusd was built as.");
    add(t, "tmbus_build_info{version=\"%s\"} 1\n", TMBUS_VERSION_STRING);
    add_gauge(t, "tmbus_process_start_time_seconds", "When tmbusd started, in Unix seconds.",
              (double)h->started_unix);
    if (store_count(h->store, &envelopes, &evidence) == 0) {
        add_gauge(t, "tmbus_store_envelopes", "Envelopes held in the store's logs.",
                  (double)envelopes);
        add_gauge(t, "tmbus_store_evidence_envelopes", "Envelopes kept as fork evidence.",
                  (double)evidence);
    }
    if (store_free_bytes(h->store, &free_bytes) == 0)
        add_gauge(t, "tmbus_store_freelist_bytes",
                  "Bytes of the store's file on its free list, reused by later writes"
                  " (retention frees them).",
                  (double)free_bytes);
    add_gauge(t, "tmbus_store_file_bytes", "Bytes of the store's database file and its log.",
              (double)store_file_bytes(h));
    if (filesystem_free_bytes(h, &free_bytes) == 0)
        add_gauge(t, "tmbus_filesystem_free_bytes",
                  "Bytes still free for the store on its file system.", (double)free_bytes);
    if (store_board_count(h->store, &board) == 0)
        add_board(t, &board);
    add_gauge(t, "tmbus_roster_version", "Version of the roster in force.",
              (double)roster_version(r));
    add_gauge(t, "tmbus_roster_expiry_timestamp_seconds",
              "When the roster in force expires, in Unix seconds.", (double)roster_expires_at(r));
    add_gauge(t, "tmbus_client_sessions", "Open client subscription sessions.",
              (double)api_session_count(h->api));
    add_gauge(t, "tmbus_recovering",
              "1 while the node recovers its own logs from its peers and refuses posts.",
              route_is_recovering(h->route) ? 1 : 0);
}

static void build_metrics(struct http *h, struct text *t)
{
    add_state(h, t);
    add_counters(h, t);
    add_histograms(h, t);
    add_peers(h, t);
}

/* ---- /healthz ----------------------------------------------------------- */

/* One line per reason the node is unhealthy; returns how many: the last
 * commit failed, the store's file system is nearly full, a link is down. A link
 * counts as down once it has been silent (or, never heard, the node has
 * run) longer than health_grace_ms: a link that drops and comes straight
 * back never flaps the check. */
static size_t build_health(struct http *h, struct text *t)
{
    int64_t grace = h->cfg->health_grace_ms, now = loop_now_ms();
    uint64_t min_free = (uint64_t)h->cfg->health_min_free_mb << 20, free_bytes;
    struct peer_status *ps = calloc(HTTP_MAX_PEERS, sizeof(*ps));
    size_t n, bad = 0;

    ensure(ps != NULL);
    if (h->is_store_failed) {
        add(t, "store: the last commit failed\n");
        bad++;
    }
    if (min_free > 0 && filesystem_free_bytes(h, &free_bytes) == 0 && free_bytes < min_free) {
        add(t, "store: %.1f MiB free on the data directory's file system, below %" PRIu32 " MiB\n",
            (double)free_bytes / (1 << 20), h->cfg->health_min_free_mb);
        bad++;
    }
    if (route_is_recovering(h->route)) {
        add(t, "posts: refused while the node recovers its own logs from its peers\n");
        bad++;
    }
    n = peers_status(h->peers, ps, HTTP_MAX_PEERS);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(ps[i].state, "up") == 0)
            continue;
        if (ps[i].silent_ms >= 0 && ps[i].silent_ms > grace) {
            add(t, "peer %s: link %s, silent for %.1f s\n", ps[i].member, ps[i].state,
                (double)ps[i].silent_ms / 1000.0);
            bad++;
        } else if (ps[i].silent_ms < 0 && now - h->started_ms > grace) {
            add(t, "peer %s: link %s, never heard since start\n", ps[i].member, ps[i].state);
            bad++;
        }
    }
    free(ps);
    return bad;
}

/* ---- the server --------------------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, struct text *t,
                             const char *type)
{
    struct MHD_Response *r;
    enum MHD_Result rc;

    /* MHD frees t->p with free() once the reply is sent. */
    r = MHD_create_response_from_buffer(t->len, t->p, MHD_RESPMEM_MUST_FREE);
    ensure(r != NULL);
    t->p = NULL;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **state)
{
    static const char *const plain = "text/plain; charset=utf-8";
    struct http *h = cls;
    struct text t = {malloc(4096), 0, 4096, false};
    unsigned status = MHD_HTTP_OK;
    const char *type = plain;

    (void)version;
    (void)upload;
    (void)upload_size;
    (void)state;
    ensure(t.p != NULL);
    t.p[0] = '\0';
    stats_count(h->stats, "http.requests", 1);
    /* Answered on the first call, before any body: nothing here takes
     * one, and the server closes a connection whose body went unread. */
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        stats_count(h->stats, "http.rejected.method", 1);
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
        add(&t, "only GET and HEAD\n");
    } else if (strcmp(url, "/metrics") == 0) {
        build_metrics(h, &t);
        type = "text/plain; version=0.0.4; charset=utf-8";
    } else if (strcmp(url, "/healthz") == 0) {
        if (build_health(h, &t) > 0)
            status = MHD_HTTP_SERVICE_UNAVAILABLE;
        else
            add(&t, "ok\n");
    } else {
        stats_count(h->stats, "http.rejected.not-found", 1);
        status = MHD_HTTP_NOT_FOUND;
        add(&t, "not found: try /metrics or /healthz\n");
    }
    if (t.is_full) {
        log_warnx("http: %s reply larger than %u bytes, refused", url, HTTP_REPLY_MAX);
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        t.len = 0;
    }
    return reply(c, status, &t, type);
}

/* libmicrohttpd's own messages (a refused connection, a request too
 * large): debug level, one line each. */
static void on_log(void *arg, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void on_log(void *arg, const char *fmt, va_list ap)
{
    char line[512];

    (void)arg;
    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    log_debug("http: %s", line);
}

/* Runs whatever the server has ready; returns when the timer should fire
 * next. */
static int64_t serve(struct http *h)
{
    MHD_UNSIGNED_LONG_LONG ms;

    (void)MHD_run(h->daemon);
    if (MHD_get_timeout(h->daemon, &ms) == MHD_YES && ms < HTTP_TIMER_MAX_MS)
        return (int64_t)ms;
    return HTTP_TIMER_MAX_MS;
}

static int64_t on_timer(void *arg)
{
    return serve(arg);
}

static void on_ready(void *arg)
{
    struct http *h = arg;

    int64_t next = serve(h);

    /* A connection that became ready now may time out sooner than the
     * timer was set for: start it afresh. */
    loop_remove_timer(h->loop, h->timer);
    h->timer = loop_add_timer(h->loop, next, on_timer, h);
}

struct http *http_new(const struct http_parts *parts)
{
    struct http *h = calloc(1, sizeof(*h));
    struct sockaddr_storage addr;
    const union MHD_DaemonInfo *info;
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;

    if (h == NULL)
        return NULL;
    h->cfg = parts->cfg;
    h->loop = parts->loop;
    h->store = parts->store;
    h->route = parts->route;
    h->peers = parts->peers;
    h->api = parts->api;
    h->stats = parts->stats;
    h->started_ms = loop_now_ms();
    h->started_unix = (int64_t)time(NULL);
    h->seen_batches = stats_get(h->stats, "commit.batches");
    /* config_load checked the address (and that it is loopback unless
     * allowed otherwise). */
    ensure(config_parse_address(h->cfg->http_listen, &addr) == 0);
    if (addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR,
                                 (struct sockaddr *)&addr, MHD_OPTION_CONNECTION_LIMIT,
                                 (unsigned)HTTP_MAX_CONNECTIONS, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                 (unsigned)HTTP_MAX_PER_IP, MHD_OPTION_CONNECTION_TIMEOUT,
                                 (unsigned)HTTP_IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                                 (size_t)HTTP_REQUEST_MAX, MHD_OPTION_EXTERNAL_LOGGER, on_log, h,
                                 MHD_OPTION_END);
    if (h->daemon == NULL) {
        log_warnx("http: cannot listen on %s", h->cfg->http_listen);
        goto fail;
    }
    if ((info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_EPOLL_FD)) == NULL ||
        loop_add_fd(h->loop, info->epoll_fd, on_ready, h) == -1)
        goto fail;
    if ((h->timer = loop_add_timer(h->loop, HTTP_TIMER_MAX_MS, on_timer, h)) == 0)
        goto fail;
    info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    log_info("http: /metrics and /healthz on %s (port %u)", h->cfg->http_listen,
             info != NULL ? (unsigned)info->port : 0u);
    return h;
fail:
    http_free(&h);
    return NULL;
}

void http_free(struct http **hp)
{
    struct http *h;

    if (hp == NULL || (h = *hp) == NULL)
        return;
    if (h->timer != 0)
        loop_remove_timer(h->loop, h->timer);
    if (h->daemon != NULL)
        MHD_stop_daemon(h->daemon);
    free(h);
    *hp = NULL;
}

void http_reload(struct http *h, const struct config *cfg)
{
    if (h != NULL)
        h->cfg = cfg;
}

void http_after_commit(void *arg, bool is_committed)
{
    struct http *h = arg;
    uint64_t batches = stats_get(h->stats, "commit.batches");

    /* The node calls listeners after every round, batch or not: only a
     * batch that committed clears a failure. */
    if (!is_committed)
        h->is_store_failed = true;
    else if (batches != h->seen_batches)
        h->is_store_failed = false;
    h->seen_batches = batches;
}
