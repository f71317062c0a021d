/*
 * tmbus_proxy: a loopback TCP proxy the fault harness puts between nodes,
 * so that links can be cut without root or network namespaces. Each route
 * listens on a kernel-chosen port of 127.0.0.1 and forwards every
 * connection to one target port there; routes are grouped into named
 * links, and each link is told on the control channel (commands on stdin,
 * one a line, answers on stdout) to pass, drop, hold or cut. It never
 * listens or connects beyond 127.0.0.1, holds at most BUF_BYTES per
 * direction of a connection and CONN_MAX connections, and exits when its
 * control channel closes or its lifetime ends.
 *
 * Commands (each answered by one line, "ok ..." or "error REASON"):
 *   route LINK PORT        listen for LINK, forward to 127.0.0.1:PORT;
 *                          answers "ok LISTEN_PORT"
 *   set LINK MODE [MS]     MODE is pass, drop, hold or cut; with MS, the
 *                          link passes again by itself after MS ms
 *   conns LINK             answers "ok N": LINK's open connections
 *   quit
 * The modes, as the two ends of a link see them:
 *   pass  every byte is forwarded both ways.
 *   drop  open connections are closed in order (FIN); a new connection is
 *         accepted and closed at once.
 *   hold  a black hole: open connections stay open and nothing crosses
 *         them, new connections wait unaccepted in the listen queue; only
 *         a heartbeat timeout tells the ends. Once the link passes again
 *         what was held flows on, and an end closed meanwhile is closed
 *         on the other side too.
 *   cut   open connections are reset (RST) both ways, and so is every new
 *         connection.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ROUTE_MAX      64
#define CONN_MAX       512   /* connections at once, over every route */
#define BUF_BYTES      65536 /* per direction of a connection */
#define LINK_NAME_MAX  32
#define LINE_MAX_BYTES 256
#define BACKLOG        64
#define LIFETIME_MAX_S 86400
#define LIFETIME_DEF_S 3600
#define DRAIN_MAX      (1024 * 1024) /* unread bytes read away before an orderly close */

enum mode { MODE_PASS, MODE_DROP, MODE_HOLD, MODE_CUT };

static const char *const mode_names[] = {"pass", "drop", "hold", "cut"};

struct route {
    char link[LINK_NAME_MAX];
    int lfd;
    uint16_t port, target;
    enum mode mode;
    int64_t revert_ms; /* when the mode turns back to pass; 0: never */
};

/* One direction of a connection: bytes read from one end, not yet written
 * to the other. */
struct pipe_buf {
    uint8_t data[BUF_BYTES];
    size_t off, len;
    bool is_eof; /* the reading end sent FIN: shut down writing once empty */
    bool is_shut;
};

/* A proxied connection: end 0 is the one that dialled us, end 1 is ours to
 * the target. fd -1: that end is gone. */
struct conn {
    size_t route;
    int fd[2];
    bool is_connecting;     /* end 1's connect has not completed */
    struct pipe_buf dir[2]; /* dir[k]: read from end k, written to end 1 - k */
};

static struct route routes[ROUTE_MAX];
static size_t n_routes;
static struct conn *conns[CONN_MAX];
static size_t n_conns;

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void answer(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One line on stdout, written at once: the harness waits for it. */
static void answer(const char *fmt, ...)
{
    char line[LINE_MAX_BYTES];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    for (size_t off = 0; off < (size_t)n;) {
        ssize_t w = write(STDOUT_FILENO, line + off, (size_t)n - off);
        if (w == -1 && errno == EINTR)
            continue;
        if (w <= 0)
            exit(1); /* nobody listens any more */
        off += (size_t)w;
    }
}

static int set_nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    return fl == -1 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void loopback(struct sockaddr_in *sa, uint16_t port)
{
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons(port);
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

/* Closes fd with a reset: SO_LINGER of zero makes close send RST. */
static void close_reset(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};

    (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
}

/* Closes fd in order: what the far end sent is read away first (bounded),
 * since closing over unread bytes would send RST instead of FIN. */
static void close_orderly(int fd)
{
    uint8_t sink[4096];
    size_t n = 0;
    ssize_t r;

    while (n < DRAIN_MAX && (r = read(fd, sink, sizeof(sink))) > 0)
        n += (size_t)r;
    (void)shutdown(fd, SHUT_RDWR);
    close(fd);
}

static void conn_free(size_t k, bool is_reset)
{
    struct conn *c = conns[k];

    for (int e = 0; e < 2; e++) {
        if (c->fd[e] == -1)
            continue;
        if (is_reset)
            close_reset(c->fd[e]);
        else
            close_orderly(c->fd[e]);
    }
    free(c);
    conns[k] = conns[--n_conns];
}

static struct route *route_by_link(const char *link, size_t from)
{
    for (size_t i = from; i < n_routes; i++)
        if (strcmp(routes[i].link, link) == 0)
            return &routes[i];
    return NULL;
}

/* ---- the control channel ------------------------------------------------ */

static void cmd_route(const char *link, const char *port_text)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    char *end;
    unsigned long port = strtoul(port_text, &end, 10);
    struct route *r;
    int one = 1;

    if (*end != '\0' || port == 0 || port > 65535 || strlen(link) >= LINK_NAME_MAX) {
        answer("error bad route");
        return;
    }
    if (n_routes == ROUTE_MAX) {
        answer("error too many routes");
        return;
    }
    r = &routes[n_routes];
    memset(r, 0, sizeof(*r));
    loopback(&sa, 0);
    if ((r->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1 ||
        setsockopt(r->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
        bind(r->lfd, (struct sockaddr *)&sa, sizeof(sa)) == -1 || listen(r->lfd, BACKLOG) == -1 ||
        getsockname(r->lfd, (struct sockaddr *)&sa, &len) == -1) {
        answer("error cannot listen: %s", strerror(errno));
        if (r->lfd != -1)
            close(r->lfd);
        return;
    }
    snprintf(r->link, sizeof(r->link), "%s", link);
    r->port = ntohs(sa.sin_port);
    r->target = (uint16_t)port;
    r->mode = MODE_PASS;
    n_routes++;
    answer("ok %u", (unsigned)r->port);
}

/* Puts route r in mode m, and acts on its open connections at once. */
static void route_set(struct route *r, enum mode m)
{
    size_t ri = (size_t)(r - routes);

    r->mode = m;
    for (size_t k = 0; k < n_conns;) {
        struct conn *c = conns[k];
        if (c->route != ri) {
            k++;
        } else if (m == MODE_DROP || m == MODE_CUT) {
            conn_free(k, m == MODE_CUT);
        } else if (m == MODE_PASS && (c->fd[0] == -1 || c->fd[1] == -1)) {
            /* An end closed while held: the other learns it now. */
            conn_free(k, false);
        } else {
            k++;
        }
    }
}

static void cmd_set(const char *link, const char *mode_text, const char *ms_text)
{
    int m = -1;
    long ms = 0;
    bool is_found = false;

    for (int i = 0; i < 4; i++)
        if (strcmp(mode_text, mode_names[i]) == 0)
            m = i;
    if (ms_text != NULL) {
        char *end;
        ms = strtol(ms_text, &end, 10);
        if (*end != '\0' || ms <= 0 || ms > (long)LIFETIME_MAX_S * 1000)
            m = -1;
    }
    if (m == -1) {
        answer("error bad mode");
        return;
    }
    for (struct route *r = route_by_link(link, 0); r != NULL;
         r = route_by_link(link, (size_t)(r - routes) + 1)) {
        route_set(r, (enum mode)m);
        r->revert_ms = ms > 0 && m != MODE_PASS ? now_ms() + ms : 0;
        is_found = true;
    }
    if (is_found)
        answer("ok");
    else
        answer("error no link %s", link);
}

static void cmd_conns(const char *link)
{
    size_t n = 0;
    bool is_found = false;

    for (size_t i = 0; i < n_routes; i++) {
        if (strcmp(routes[i].link, link) != 0)
            continue;
        is_found = true;
        for (size_t k = 0; k < n_conns; k++)
            n += conns[k]->route == i;
    }
    if (is_found)
        answer("ok %zu", n);
    else
        answer("error no link %s", link);
}

/* Runs one command line. Returns false on quit. */
static bool command(char *line)
{
    char *word[4] = {NULL};
    size_t n = 0;

    for (char *save = NULL, *w = strtok_r(line, " \t\r", &save); w != NULL;
         w = strtok_r(NULL, " \t\r", &save)) {
        if (n == 4) {
            answer("error too many words");
            return true;
        }
        word[n++] = w;
    }
    if (n == 0)
        answer("error empty command");
    else if (strcmp(word[0], "quit") == 0)
        return false;
    else if (strcmp(word[0], "route") == 0 && n == 3)
        cmd_route(word[1], word[2]);
    else if (strcmp(word[0], "set") == 0 && (n == 3 || n == 4))
        cmd_set(word[1], word[2], word[3]);
    else if (strcmp(word[0], "conns") == 0 && n == 2)
        cmd_conns(word[1]);
    else
        answer("error unknown command");
    return true;
}

/* Reads what the control channel holds and runs each whole line. Returns
 * false when it closed or said quit. */
static bool read_control(void)
{
    static char buf[LINE_MAX_BYTES];
    static size_t len;
    ssize_t r = read(STDIN_FILENO, buf + len, sizeof(buf) - 1 - len);
    char *nl;

    if (r == -1 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (r <= 0)
        return false;
    len += (size_t)r;
    while ((nl = memchr(buf, '\n', len)) != NULL) {
        size_t used = (size_t)(nl - buf) + 1;
        *nl = '\0';
        if (!command(buf))
            return false;
        memmove(buf, buf + used, len - used);
        len -= used;
    }
    if (len == sizeof(buf) - 1) {
        answer("error line too long");
        len = 0;
    }
    return true;
}

/* ---- connections -------------------------------------------------------- */

/* Takes one waiting connection on route ri, as its mode says. */
static void accept_one(size_t ri)
{
    struct route *r = &routes[ri];
    struct sockaddr_in sa;
    struct conn *c;
    int fd = accept4(r->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    int up;

    if (fd == -1)
        return;
    if (r->mode == MODE_CUT) {
        close_reset(fd);
        return;
    }
    if (r->mode == MODE_DROP || n_conns == CONN_MAX || (c = calloc(1, sizeof(*c))) == NULL) {
        close_orderly(fd);
        return;
    }
    loopback(&sa, r->target);
    if ((up = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1 ||
        (connect(up, (struct sockaddr *)&sa, sizeof(sa)) == -1 && errno != EINPROGRESS)) {
        /* The target is down: the dialler sees its connection refused. */
        if (up != -1)
            close(up);
        close_reset(fd);
        free(c);
        return;
    }
    c->route = ri;
    c->fd[0] = fd;
    c->fd[1] = up;
    c->is_connecting = true;
    conns[n_conns++] = c;
}

/* Moves bytes across connection c as far as its buffers and sockets let.
 * Returns false when the connection is over (the caller frees it, with a
 * reset when *is_reset). */
static bool forward(struct conn *c, const short revents[2], bool *is_reset)
{
    if (c->is_connecting) {
        int err = 0;
        socklen_t len = sizeof(err);
        if ((revents[1] & (POLLOUT | POLLERR | POLLHUP)) == 0)
            return true;
        if (getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &err, &len) == -1 || err != 0) {
            *is_reset = true;
            return false;
        }
        c->is_connecting = false;
    }
    if (((revents[0] | revents[1]) & POLLERR) != 0) {
        *is_reset = true; /* an end was reset: reset the other */
        return false;
    }
    for (int e = 0; e < 2; e++) {
        struct pipe_buf *in = &c->dir[e];
        int from = c->fd[e], to = c->fd[1 - e];
        if (!in->is_eof && in->off + in->len < BUF_BYTES &&
            (revents[e] & (POLLIN | POLLHUP | POLLERR)) != 0) {
            ssize_t r = read(from, in->data + in->off + in->len, BUF_BYTES - in->off - in->len);
            if (r == 0) {
                in->is_eof = true;
            } else if (r > 0) {
                in->len += (size_t)r;
            } else if (errno != EAGAIN && errno != EINTR) {
                *is_reset = true; /* reset by its end: reset the other */
                return false;
            }
        }
        while (in->len > 0) {
            ssize_t w = send(to, in->data + in->off, in->len, MSG_NOSIGNAL);
            if (w == -1 && (errno == EAGAIN || errno == EINTR))
                break;
            if (w <= 0) {
                *is_reset = true;
                return false;
            }
            in->off += (size_t)w;
            in->len -= (size_t)w;
        }
        if (in->len == 0)
            in->off = 0;
        if (in->is_eof && in->len == 0 && !in->is_shut) {
            (void)shutdown(to, SHUT_WR);
            in->is_shut = true;
        }
    }
    *is_reset = false;
    return !(c->dir[0].is_shut && c->dir[1].is_shut);
}

/* A held connection only watches for an end that closes: that end is
 * closed here too, and the other learns it when the link passes again. */
static void watch_held(struct conn *c, const short revents[2])
{
    for (int e = 0; e < 2; e++)
        if (c->fd[e] != -1 && (revents[e] & (POLLRDHUP | POLLHUP | POLLERR)) != 0) {
            close(c->fd[e]);
            c->fd[e] = -1;
        }
}

/* What to poll an end of connection c for, in its route's mode. */
static short events_of(const struct conn *c, int e, enum mode m)
{
    short ev = 0;

    if (c->fd[e] == -1)
        return 0;
    if (m == MODE_HOLD)
        return POLLRDHUP;
    if (c->is_connecting)
        return e == 1 ? POLLOUT : 0;
    if (!c->dir[e].is_eof && c->dir[e].off + c->dir[e].len < BUF_BYTES)
        ev |= POLLIN;
    if (c->dir[1 - e].len > 0)
        ev |= POLLOUT;
    return ev;
}

static void usage(void)
{
    fprintf(stderr, "usage: tmbus_proxy [--lifetime SECONDS]\n"
                    "commands on stdin: route LINK PORT | set LINK pass|drop|hold|cut [MS] |"
                    " conns LINK | quit\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static struct pollfd pfd[1 + ROUTE_MAX + 2 * CONN_MAX];
    static size_t conn_at[CONN_MAX]; /* pfd index of each connection's end 0 */
    long lifetime_s = LIFETIME_DEF_S;
    int64_t deadline;

    for (int k = 1; k < argc; k++) {
        char *end;
        if (strcmp(argv[k], "--lifetime") == 0 && k + 1 < argc) {
            lifetime_s = strtol(argv[++k], &end, 10);
            if (*end != '\0' || lifetime_s <= 0 || lifetime_s > LIFETIME_MAX_S)
                usage();
        } else {
            usage();
        }
    }
    deadline = now_ms() + lifetime_s * 1000;
    if (set_nonblocking(STDIN_FILENO) == -1)
        return 1;
    for (;;) {
        int64_t now = now_ms(), wait = deadline - now;
        size_t n = 0;
        int rc;

        if (now >= deadline) {
            fprintf(stderr, "tmbus_proxy: lifetime of %ld s over\n", lifetime_s);
            break;
        }
        for (size_t i = 0; i < n_routes; i++) {
            if (routes[i].revert_ms != 0 && now >= routes[i].revert_ms) {
                routes[i].revert_ms = 0;
                route_set(&routes[i], MODE_PASS);
            }
            if (routes[i].revert_ms != 0 && routes[i].revert_ms - now < wait)
                wait = routes[i].revert_ms - now;
        }
        pfd[n++] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
        for (size_t i = 0; i < n_routes; i++)
            /* A held route leaves new connections in the listen queue. */
            pfd[n++] = (struct pollfd){.fd = routes[i].mode == MODE_HOLD ? -1 : routes[i].lfd,
                                       .events = POLLIN};
        for (size_t k = 0; k < n_conns; k++) {
            enum mode m = routes[conns[k]->route].mode;
            conn_at[k] = n;
            for (int e = 0; e < 2; e++)
                pfd[n++] =
                    (struct pollfd){.fd = conns[k]->fd[e], .events = events_of(conns[k], e, m)};
        }
        rc = poll(pfd, n, wait > 1000 ? 1000 : (int)wait);
        if (rc == -1 && errno != EINTR)
            return 1;
        if (rc <= 0)
            continue;
        /* Connections first (a connection freed takes the place of the
         * last, already seen: walk down), then new ones, then commands,
         * which may free connections and so come last. */
        for (size_t k = n_conns; k-- > 0;) {
            struct conn *c = conns[k];
            short rev[2] = {pfd[conn_at[k]].revents, pfd[conn_at[k] + 1].revents};
            bool is_reset = false;
            if (routes[c->route].mode == MODE_HOLD) {
                watch_held(c, rev);
                if (c->fd[0] == -1 && c->fd[1] == -1)
                    conn_free(k, false);
            } else if (!forward(c, rev, &is_reset)) {
                conn_free(k, is_reset);
            }
        }
        for (size_t i = 0; i < n_routes; i++)
            if ((pfd[1 + i].revents & POLLIN) != 0)
                accept_one(i);
        if (pfd[0].revents != 0 && !read_control())
            break;
    }
    while (n_conns > 0)
        conn_free(n_conns - 1, false);
    for (size_t i = 0; i < n_routes; i++)
        close(routes[i].lfd);
    return 0;
}
