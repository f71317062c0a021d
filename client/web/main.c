/*
 * tmbus-web: a read-only dashboard of a member's board, served over HTTP.
 * Connects to its node as one configured client (whose role and clearance
 * bound what it can show), subscribes to what arrives for the live feed,
 * and runs one loop in one thread over the node's socket and the HTTP
 * server's. It never posts anything to the bus, and never listens beyond
 * loopback without an access token.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/stat.h>

#include <sodium.h>

#include "feed.h"
#include "server.h"
#include "tmbus.h"

#define LISTEN_DEFAULT   "127.0.0.1:8080"
#define CONNECT_MS       10000
#define ACK_MS           10000
#define SUBSCRIBE_WINDOW 64
#define LOOP_MS          1000 /* the longest select, so a stop is seen in time */
#define ERR_MAX          512
#define PEM_MAX          (64 * 1024) /* a certificate chain or key file, in bytes */

#define EX_USAGE       64
#define EX_UNAVAILABLE 69
#define EX_SOFTWARE    70
#define EX_CONFIG      78

static volatile sig_atomic_t is_stopping;

static void on_stop(int sig)
{
    (void)sig;
    is_stopping = 1;
}

static void warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warnx(const char *fmt, ...)
{
    va_list ap;

    fputs("tmbus-web: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: tmbus-web [-c FILE] [-l ADDRESS:PORT] [-t TOKEN_FILE]\n"
               "                 [--tls-cert PEM_FILE --tls-key PEM_FILE]\n"
               "       tmbus-web --version\n"
               "\n"
               "  -c, --config FILE      client configuration (default: $TMBUS_CONFIG)\n"
               "  -l, --listen ADDR:PORT where to serve (default " LISTEN_DEFAULT ")\n"
               "  -t, --token-file FILE  access token, required beyond loopback\n"
               "      --tls-cert FILE    serve HTTPS with this certificate chain (PEM)\n"
               "      --tls-key FILE     and its private key (PEM, mode 600)\n"
               "  -V, --version          print \"tmbus-web VERSION\" and exit\n"
               "See tmbus-web(1).\n");
}

/* Reads the token: the file's first line, which must not be readable by
 * group or others. Returns a malloc'd string or NULL (reason printed). */
static char *read_token(const char *path)
{
    char line[SERVER_TOKEN_MAX + 2];
    struct stat st;
    FILE *f = fopen(path, "r");
    size_t n;

    if (f == NULL) {
        warnx("%s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(f), &st) != 0 || (st.st_mode & 077) != 0) {
        warnx("%s: group or others can access the token file (chmod 600 it)", path);
        fclose(f);
        return NULL;
    }
    if (fgets(line, sizeof(line), f) == NULL) {
        warnx("%s: empty token file", path);
        fclose(f);
        return NULL;
    }
    fclose(f);
    n = strcspn(line, "\r\n");
    line[n] = '\0';
    return strdup(line);
}

/* Wipes a secret, frees, clears *p. Accepts NULL. */
static void free_pem(char **p, bool is_secret)
{
    if (*p == NULL)
        return;
    if (is_secret) {
        sodium_free(*p); /* wipes before it frees */
    } else {
        free(*p);
    }
    *p = NULL;
}

/* Reads a PEM file of at most PEM_MAX bytes into a NUL-terminated string:
 * a private key (is_secret) into sodium_malloc memory from a file that
 * group and others cannot access, a certificate into malloc memory. The
 * caller frees it with free_pem. Returns NULL with the reason printed. */
static char *read_pem(const char *path, bool is_secret)
{
    struct stat st;
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t n;

    if (f == NULL) {
        warnx("%s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(f), &st) != 0 || st.st_size <= 0 || st.st_size > PEM_MAX) {
        warnx("%s: empty, unreadable or larger than %d bytes", path, PEM_MAX);
        goto out;
    }
    if (is_secret && (st.st_mode & 077) != 0) {
        warnx("%s: group or others can access the private key (chmod 600 it)", path);
        goto out;
    }
    buf = is_secret ? sodium_malloc((size_t)st.st_size + 1) : malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        warnx("%s: out of memory", path);
        goto out;
    }
    n = fread(buf, 1, (size_t)st.st_size, f);
    buf[n] = '\0';
    if (n != (size_t)st.st_size || strlen(buf) != n) {
        warnx("%s: cannot read it whole, or it is not PEM text", path);
        free_pem(&buf, is_secret);
    }
out:
    fclose(f);
    return buf;
}

/* Moves what the subscription delivered into the feed and acks it, so
 * that this client's cursor never holds anything back. Returns true when
 * the feed grew. */
static bool drain(struct tmbus *h, struct feed *feed, int *last_rc)
{
    struct tmbus_delivery *d = NULL;
    uint64_t last = 0;
    int rc;

    while ((rc = tmbus_next(h, 0, &d)) == TMBUS_OK) {
        feed_add(feed, d);
        last = tmbus_delivery_number(d);
        tmbus_delivery_free(&d);
    }
    /* Said once per change: a node that is down would otherwise be
     * reported on every turn of the loop. */
    if (rc != TMBUS_ETIMEOUT && rc != *last_rc)
        warnx("subscription: %s (%s)", tmbus_strerror(rc), tmbus_last_error(h));
    else if (rc == TMBUS_ETIMEOUT && *last_rc != TMBUS_ETIMEOUT)
        warnx("subscription: receiving again");
    *last_rc = rc;
    if (last != 0 && (rc = tmbus_ack(h, last, ACK_MS)) != TMBUS_OK)
        warnx("cannot ack %llu: %s (%s)", (unsigned long long)last, tmbus_strerror(rc),
              tmbus_last_error(h));
    return last != 0;
}

static int run(struct tmbus *h, struct server *s, struct feed *feed)
{
    int fd = tmbus_fd(h), last_rc = TMBUS_ETIMEOUT;

    if (fd < 0) {
        warnx("no socket to wait on: %s", tmbus_strerror(fd));
        return EX_SOFTWARE;
    }
    while (!is_stopping) {
        fd_set rs, ws, es;
        int max_fd = fd, timeout_ms = LOOP_MS, n;
        struct timeval tv;

        FD_ZERO(&rs);
        FD_ZERO(&ws);
        FD_ZERO(&es);
        FD_SET(fd, &rs);
        if (server_fdset(s, &rs, &ws, &es, &max_fd, &timeout_ms) != 0) {
            warnx("a socket does not fit in select's set");
            return EX_SOFTWARE;
        }
        tv.tv_sec = timeout_ms / 1000;
        tv.tv_usec = (timeout_ms % 1000) * 1000;
        n = select(max_fd + 1, &rs, &ws, &es, &tv);
        if (n < 0 && errno != EINTR) {
            warnx("select: %s", strerror(errno));
            return EX_SOFTWARE;
        }
        if (n < 0) {
            FD_ZERO(&rs);
            FD_ZERO(&ws);
            FD_ZERO(&es);
        }
        server_run(s, &rs, &ws, &es);
        /* Pages used the handle, and the fd is edge-triggered: drain
         * whatever came meanwhile on every turn, not only when it fired. */
        if (drain(h, feed, &last_rc))
            server_wake_streams(s);
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"listen", required_argument, NULL, 'l'},
                                             {"token-file", required_argument, NULL, 't'},
                                             {"tls-cert", required_argument, NULL, 'C'},
                                             {"tls-key", required_argument, NULL, 'K'},
                                             {"version", no_argument, NULL, 'V'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    static const char *const kinds[] = {"need", "offer", "need_update", "offer_update"};
    const char *config = getenv("TMBUS_CONFIG"), *listen = LISTEN_DEFAULT, *token_file = NULL;
    const char *cert_file = NULL, *key_file = NULL;
    char *cert = NULL, *key = NULL;
    struct tmbus_filter filter = {.kinds = kinds, .n_kinds = 4};
    struct server_config sc = {0};
    struct tmbus_status *st = NULL;
    struct tmbus *h = NULL;
    struct server *s = NULL;
    static struct feed feed;
    char err[ERR_MAX] = "", *token = NULL, member[TMBUS_MEMBER_MAX + 1];
    struct sigaction sa = {0};
    int opt, rc, status = 0;

    while ((opt = getopt_long(argc, argv, "c:l:t:Vh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config = optarg;
            break;
        case 'l':
            listen = optarg;
            break;
        case 't':
            token_file = optarg;
            break;
        case 'C':
            cert_file = optarg;
            break;
        case 'K':
            key_file = optarg;
            break;
        case 'V':
            printf("tmbus-web %s\n", TMBUS_VERSION_STRING);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EX_USAGE;
        }
    }
    if (optind != argc) {
        warnx("unexpected argument '%s'", argv[optind]);
        return EX_USAGE;
    }
    if (config == NULL || *config == '\0') {
        warnx("no client configuration: give -c FILE or set TMBUS_CONFIG");
        return EX_CONFIG;
    }
    if (sodium_init() < 0) {
        warnx("libsodium failed to initialise");
        return EX_SOFTWARE;
    }
    if ((cert_file == NULL) != (key_file == NULL)) {
        warnx("--tls-cert and --tls-key go together");
        return EX_USAGE;
    }
    if (token_file != NULL && (token = read_token(token_file)) == NULL)
        return EX_CONFIG;
    if (cert_file != NULL &&
        ((cert = read_pem(cert_file, false)) == NULL || (key = read_pem(key_file, true)) == NULL)) {
        status = EX_CONFIG;
        goto done;
    }

    rc = tmbus_connect_config(config, CONNECT_MS, &h, err, sizeof(err));
    if (rc != TMBUS_OK) {
        warnx("cannot connect: %s", *err != '\0' ? err : tmbus_strerror(rc));
        status = rc == TMBUS_EINVALID ? EX_CONFIG : EX_UNAVAILABLE;
        goto done;
    }
    rc = tmbus_status(h, CONNECT_MS, &st);
    if (rc != TMBUS_OK) {
        warnx("cannot ask the node's status: %s (%s)", tmbus_strerror(rc), tmbus_last_error(h));
        status = EX_UNAVAILABLE;
        goto done;
    }
    snprintf(member, sizeof(member), "%s", tmbus_status_member(st));
    tmbus_status_free(&st);
    rc = tmbus_subscribe_filtered(h, SUBSCRIBE_WINDOW, &filter, CONNECT_MS);
    if (rc != TMBUS_OK) {
        warnx("cannot subscribe: %s (%s)", tmbus_strerror(rc), tmbus_last_error(h));
        status = rc == TMBUS_EDENIED ? EX_CONFIG : EX_UNAVAILABLE;
        goto done;
    }

    feed_init(&feed);
    sc.listen = listen;
    sc.token = token;
    sc.member = member;
    sc.h = h;
    sc.feed = &feed;
    sc.tls_cert = cert;
    sc.tls_key = key;
    s = server_new(&sc, err, sizeof(err));
    if (s == NULL) {
        warnx("%s", err);
        status = EX_CONFIG;
        goto done;
    }
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    {
        const char *colon = strrchr(listen, ':');
        printf("tmbus-web: member %s, serving %s://%.*s:%u/\n", member,
               cert != NULL ? "https" : "http", (int)(colon - listen), listen,
               (unsigned)server_port(s));
        fflush(stdout);
    }
    status = run(h, s, &feed);
done:
    server_free(&s);
    tmbus_close(&h);
    free_pem(&cert, false);
    free_pem(&key, true);
    if (token != NULL) {
        sodium_memzero(token, strlen(token));
        free(token);
    }
    return status;
}
