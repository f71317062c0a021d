/*
 * server: the HTTP front of tmbus-web on libmicrohttpd in external-select
 * mode. libmicrohttpd runs only inside server_run, in the caller's thread:
 * a page is rendered there, on the one tmbus handle, and no lock is needed
 * (a handle is not thread-safe, and a second handle per connection would
 * cost the node a session per browser tab). The price is that a slow node
 * answer holds up every connection for that long; pages are small reads.
 * /events streams never block the loop: a stream with nothing to send is
 * suspended and resumed when the feed grows or a keep-alive is due.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>
#include <sodium.h>

#include "html.h"
#include "pages.h"
#include "server.h"

#define TOKEN_COOKIE "tmbus_web_token"

/* Scripts and styles only from this server's own files, nothing inline,
 * no frames, no forms anywhere else, no plugins. */
#define CSP                                                                                        \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "                    \
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

struct stream {
    struct server *s;
    struct MHD_Connection *c;
    uint64_t next;   /* the feed's seq it sends next */
    int64_t last_ms; /* when it last sent anything; 0: never */
    bool is_suspended;
    struct stream *prev, *next_stream;
};

struct server {
    struct MHD_Daemon *d;
    struct server_config c;
    uint8_t token_hash[crypto_generichash_BYTES];
    bool has_token;
    bool is_stopping;
    struct stream *streams;
    size_t n_streams;
    int64_t last_wake_ms;
};

extern const char web_style_css[];
extern const char web_live_js[];

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- listening ------------------------------------------------------------ */

/* Parses "A.B.C.D:PORT" or "[V6]:PORT" into sa; sets *is_loopback. */
static int parse_listen(const char *text, struct sockaddr_storage *sa, bool *is_loopback,
                        bool *is_v6)
{
    char host[64];
    const char *colon = strrchr(text, ':');
    size_t n;
    char *end;
    unsigned long port;

    if (colon == NULL || (n = (size_t)(colon - text)) == 0 || n >= sizeof(host))
        return -1;
    memcpy(host, text, n);
    host[n] = '\0';
    port = strtoul(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || port > 65535)
        return -1;
    memset(sa, 0, sizeof(*sa));
    if (host[0] == '[' && host[n - 1] == ']') {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;
        host[n - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
            return -1;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        *is_loopback = IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr);
        *is_v6 = true;
        return 0;
    }
    struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
    if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
        return -1;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    *is_loopback = (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
    *is_v6 = false;
    return 0;
}

/* ---- responses ------------------------------------------------------------- */

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, struct MHD_Response *r,
                               const char *type)
{
    enum MHD_Result ret;

    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_SECURITY_POLICY, CSP);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Sends a rendered page; takes its buffer. */
static enum MHD_Result respond_html(struct MHD_Connection *c, int status, struct html *page,
                                    const char *cookie)
{
    struct MHD_Response *r;

    if (page->is_failed) {
        html_free(page);
        r = MHD_create_response_from_buffer(strlen("page too large\n"), (void *)"page too large\n",
                                            MHD_RESPMEM_PERSISTENT);
        return respond(c, MHD_HTTP_INTERNAL_SERVER_ERROR, r, "text/plain; charset=utf-8");
    }
    r = MHD_create_response_from_buffer(page->len, page->buf, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        html_free(page);
        return MHD_NO;
    }
    html_init(page); /* the response owns the buffer now */
    if (cookie != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, cookie);
    return respond(c, (unsigned)status, r, "text/html; charset=utf-8");
}

static enum MHD_Result respond_text(struct MHD_Connection *c, unsigned status, const char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);

    if (r != NULL && status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    if (r != NULL && status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    return respond(c, status, r, "text/plain; charset=utf-8");
}

static enum MHD_Result respond_asset(struct MHD_Connection *c, const char *body, const char *type)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);

    return respond(c, MHD_HTTP_OK, r, type);
}

/* ---- the access token ------------------------------------------------------ */

/* Compares hashes, in constant time, so that neither the token's bytes
 * nor its length leak through timing. */
static bool is_token(const struct server *s, const char *given)
{
    uint8_t h[crypto_generichash_BYTES];

    if (given == NULL || strlen(given) > SERVER_TOKEN_MAX)
        return false;
    crypto_generichash(h, sizeof(h), (const unsigned char *)given, strlen(given), NULL, 0);
    return sodium_memcmp(h, s->token_hash, sizeof(h)) == 0;
}

/* True when the request carries the token: "Authorization: Bearer T", the
 * cookie set earlier, or "?token=T" (what a person pastes into a browser;
 * answered with the cookie, so links need not carry it). */
static bool is_authorized(struct server *s, struct MHD_Connection *c, bool *set_cookie)
{
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");

    *set_cookie = false;
    if (!s->has_token)
        return true;
    if (auth != NULL && strncmp(auth, "Bearer ", 7) == 0 && is_token(s, auth + 7))
        return true;
    if (is_token(s, MHD_lookup_connection_value(c, MHD_COOKIE_KIND, TOKEN_COOKIE)))
        return true;
    if (is_token(s, MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token"))) {
        *set_cookie = true;
        return true;
    }
    return false;
}

/* ---- /events ---------------------------------------------------------------- */

static const char keepalive[] = ": keep-alive\n\n";

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct stream *st = cls;
    const struct feed *f = st->s->c.feed;
    const struct feed_event *e;
    size_t n = 0;
    int64_t now = now_ms();

    (void)pos;
    if (st->s->is_stopping)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (st->next < feed_oldest(f))
        st->next = feed_oldest(f);
    while ((e = feed_get(f, st->next)) != NULL) {
        size_t len = feed_sse(e, buf + n, max - n);
        if (len == 0)
            break;
        n += len;
        st->next++;
    }
    if (n == 0 && now - st->last_ms >= SERVER_KEEPALIVE_MS && max >= sizeof(keepalive)) {
        memcpy(buf, keepalive, sizeof(keepalive) - 1);
        n = sizeof(keepalive) - 1;
    }
    if (n > 0) {
        st->last_ms = now;
        return (ssize_t)n;
    }
    MHD_suspend_connection(st->c);
    st->is_suspended = true;
    return 0;
}

static void stream_free(void *cls)
{
    struct stream *st = cls;
    struct server *s = st->s;

    if (st->prev != NULL)
        st->prev->next_stream = st->next_stream;
    else
        s->streams = st->next_stream;
    if (st->next_stream != NULL)
        st->next_stream->prev = st->prev;
    s->n_streams--;
    free(st);
}

static enum MHD_Result open_stream(struct server *s, struct MHD_Connection *c)
{
    const char *last_id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
    struct stream *st;
    struct MHD_Response *r;

    if (s->n_streams >= SERVER_STREAMS_MAX)
        return respond_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "too many event streams\n");
    st = calloc(1, sizeof(*st));
    if (st == NULL)
        return MHD_NO;
    st->s = s;
    st->c = c;
    /* What arrives from now on, or after the last event a reconnecting
     * EventSource saw, when the ring still holds what followed it. */
    st->next = s->c.feed->next_seq;
    if (last_id != NULL) {
        char *end;
        unsigned long long seen = strtoull(last_id, &end, 10);
        if (*last_id != '\0' && *end == '\0' && seen < st->next &&
            seen + 1 >= feed_oldest(s->c.feed))
            st->next = seen + 1;
    }
    r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, st, stream_free);
    if (r == NULL) {
        free(st);
        return MHD_NO;
    }
    st->next_stream = s->streams;
    if (s->streams != NULL)
        s->streams->prev = st;
    s->streams = st;
    s->n_streams++;
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    return respond(c, MHD_HTTP_OK, r, "text/event-stream; charset=utf-8");
}

void server_wake_streams(struct server *s)
{
    for (struct stream *st = s->streams; st != NULL; st = st->next_stream)
        if (st->is_suspended) {
            st->is_suspended = false;
            MHD_resume_connection(st->c);
        }
    s->last_wake_ms = now_ms();
}

/* ---- requests ----------------------------------------------------------------- */

/* A query-string value, or NULL; *is_bad when it is longer than allowed. */
static const char *arg(struct MHD_Connection *c, const char *key, bool *is_bad)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);

    if (v != NULL && strlen(v) > PAGES_QUERY_MAX)
        *is_bad = true;
    return v != NULL && *v != '\0' ? v : NULL;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req)
{
    struct server *s = cls;
    struct pages_site site = {s->c.member, s->c.feed};
    struct html page;
    const char *length = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    const char *chunked = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding");
    char cookie[SERVER_TOKEN_MAX + 96];
    bool set_cookie, is_bad = false;
    int status;

    (void)version;
    (void)upload_data;
    (void)req;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return respond_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
    if (*upload_data_size != 0 || chunked != NULL || (length != NULL && strcmp(length, "0") != 0))
        return respond_text(c, MHD_HTTP_CONTENT_TOO_LARGE, "a request has no body here\n");
    if (!is_authorized(s, c, &set_cookie))
        return respond_text(c, MHD_HTTP_UNAUTHORIZED, "an access token is required\n");
    cookie[0] = '\0';
    /* Over TLS the browser must never send the token in clear. */
    if (set_cookie)
        snprintf(cookie, sizeof(cookie), TOKEN_COOKIE "=%s; HttpOnly; SameSite=Strict; Path=/%s",
                 MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token"),
                 s->c.tls_cert != NULL ? "; Secure" : "");

    if (strcmp(url, "/style.css") == 0)
        return respond_asset(c, web_style_css, "text/css; charset=utf-8");
    if (strcmp(url, "/live.js") == 0)
        return respond_asset(c, web_live_js, "text/javascript; charset=utf-8");
    if (strcmp(url, "/events") == 0)
        return open_stream(s, c);

    html_init(&page);
    if (strcmp(url, "/") == 0) {
        struct pages_filter q = {arg(c, "status", &is_bad), arg(c, "category", &is_bad),
                                 arg(c, "owner", &is_bad), arg(c, "q", &is_bad)};
        if (is_bad) {
            pages_error(&site, 400, "a filter is too long", &page);
            status = 400;
        } else {
            status = pages_needs(s->c.h, &site, &q, &page);
        }
    } else if (strncmp(url, "/need/", 6) == 0 && strlen(url + 6) == 64) {
        status = pages_need(s->c.h, &site, url + 6, &page);
    } else if (strcmp(url, "/totals") == 0) {
        status = pages_totals(s->c.h, &site, &page);
    } else {
        pages_error(&site, 404, "no such page", &page);
        status = 404;
    }
    return respond_html(c, status, &page, *cookie != '\0' ? cookie : NULL);
}

/* ---- the daemon ------------------------------------------------------------------ */

struct server *server_new(const struct server_config *c, char *err, size_t err_size)
{
    struct sockaddr_storage sa;
    bool is_loopback = false, is_v6 = false;
    unsigned flags = MHD_ALLOW_SUSPEND_RESUME;
    struct MHD_OptionItem tls[3] = {{MHD_OPTION_END, 0, NULL}};
    struct server *s;

    if (parse_listen(c->listen, &sa, &is_loopback, &is_v6) != 0) {
        snprintf(err, err_size, "cannot parse listen address '%s' (ADDRESS:PORT)", c->listen);
        return NULL;
    }
    if (c->token == NULL && !is_loopback) {
        snprintf(err, err_size,
                 "%s is not a loopback address: give an access token to listen "
                 "there",
                 c->listen);
        return NULL;
    }
    if (c->token != NULL &&
        (strlen(c->token) < SERVER_TOKEN_MIN || strlen(c->token) > SERVER_TOKEN_MAX)) {
        snprintf(err, err_size, "the access token must have %d to %d characters", SERVER_TOKEN_MIN,
                 SERVER_TOKEN_MAX);
        return NULL;
    }
    /* The token goes back in a Set-Cookie header: only characters that
     * need no quoting there. */
    for (const char *t = c->token; t != NULL && *t != '\0'; t++)
        if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=", *t) ==
            NULL) {
            snprintf(err, err_size, "the access token may hold only letters, digits and -._~+/=");
            return NULL;
        }
    if ((c->tls_cert == NULL) != (c->tls_key == NULL)) {
        snprintf(err, err_size, "TLS needs both a certificate and its private key");
        return NULL;
    }
    if (c->tls_cert != NULL) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            snprintf(err, err_size, "this libmicrohttpd was built without TLS");
            return NULL;
        }
        flags |= MHD_USE_TLS;
        tls[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)c->tls_key};
        tls[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)c->tls_cert};
        tls[2] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    }
    if (is_v6)
        flags |= MHD_USE_IPv6;
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    s->c = *c;
    if (c->token != NULL) {
        s->has_token = true;
        crypto_generichash(s->token_hash, sizeof(s->token_hash), (const unsigned char *)c->token,
                           strlen(c->token), NULL, 0);
    }
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned)SERVER_CONNECTIONS_MAX, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                            (size_t)SERVER_REQUEST_MAX, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)SERVER_TIMEOUT_S, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
    if (s->d == NULL) {
        snprintf(err, err_size,
                 c->tls_cert != NULL
                     ? "cannot listen on %s (in use, not an address of this host,"
                       " or a certificate and key that do not load together?)"
                     : "cannot listen on %s (in use, or not an address of this host?)",
                 c->listen);
        free(s);
        return NULL;
    }
    s->last_wake_ms = now_ms();
    return s;
}

void server_free(struct server **sp)
{
    struct server *s = sp != NULL ? *sp : NULL;

    if (s == NULL)
        return;
    s->is_stopping = true;
    server_wake_streams(s);
    MHD_run(s->d); /* lets resumed streams end before the daemon stops */
    MHD_stop_daemon(s->d);
    sodium_memzero(s->token_hash, sizeof(s->token_hash));
    free(s);
    *sp = NULL;
}

uint16_t server_port(const struct server *s)
{
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);

    return i != NULL ? i->port : 0;
}

int server_fdset(struct server *s, fd_set *rs, fd_set *ws, fd_set *es, int *max_fd, int *timeout_ms)
{
    MHD_socket max = *max_fd;
    MHD_UNSIGNED_LONG_LONG t;
    int64_t until_wake = s->last_wake_ms + SERVER_KEEPALIVE_MS - now_ms();

    if (MHD_get_fdset2(s->d, rs, ws, es, &max, FD_SETSIZE) != MHD_YES)
        return -1;
    *max_fd = max;
    if (MHD_get_timeout(s->d, &t) == MHD_YES && t < (MHD_UNSIGNED_LONG_LONG)*timeout_ms)
        *timeout_ms = (int)t;
    if (s->streams != NULL && until_wake < *timeout_ms)
        *timeout_ms = until_wake > 0 ? (int)until_wake : 0;
    return 0;
}

void server_run(struct server *s, const fd_set *rs, const fd_set *ws, const fd_set *es)
{
    if (s->streams != NULL && now_ms() - s->last_wake_ms >= SERVER_KEEPALIVE_MS)
        server_wake_streams(s);
    MHD_run_from_select(s->d, rs, ws, es);
}
