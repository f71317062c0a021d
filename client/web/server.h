/*
 * server: tmbus-web's HTTP side. Owns the libmicrohttpd daemon, run from
 * the caller's own loop in the caller's thread (no thread of its own), so
 * that the tmbus handle it renders pages from is only ever used by that
 * one thread. Serves GET and HEAD only, checks the access token, sends
 * every response with a strict Content-Security-Policy, and feeds the
 * Server-Sent Events streams from the feed. It never posts to the bus.
 */
#ifndef TMBUS_WEB_SERVER_H
#define TMBUS_WEB_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/select.h>

#include "feed.h"
#include "tmbus.h"

#define SERVER_CONNECTIONS_MAX 64    /* connections at once */
#define SERVER_STREAMS_MAX     16    /* of them /events streams */
#define SERVER_REQUEST_MAX     16384 /* a request's line and headers, in bytes */
#define SERVER_TIMEOUT_S       30    /* an idle connection is closed after it */
#define SERVER_KEEPALIVE_MS    15000 /* a silent stream gets a comment this often */
#define SERVER_TOKEN_MIN       16    /* shortest access token accepted */
#define SERVER_TOKEN_MAX       256

struct server;

struct server_config {
    const char *listen;      /* "ADDRESS:PORT", IPv4 or [IPv6]; port 0 lets the kernel choose */
    const char *token;       /* access token, or NULL for none (loopback only) */
    const char *member;      /* the node's member id, shown on every page */
    struct tmbus *h;         /* the client's handle: borrowed, used from server_run only */
    const struct feed *feed; /* borrowed: what /events streams */
    /* TLS: the certificate chain and its private key, PEM text (both NULL:
     * plain HTTP). Borrowed; the key must stay readable until server_free. */
    const char *tls_cert;
    const char *tls_key;
};

/* Binds and starts listening, over TLS when the config has a certificate.
 * Refuses (NULL, reason in err) a listen address that is not loopback when
 * no token is given, a token shorter than SERVER_TOKEN_MIN, a certificate
 * without its key (or the reverse), a key that does not load, TLS when
 * libmicrohttpd was built without it, or an address it cannot parse or
 * bind. The config's pointers must outlive the server. */
struct server *server_new(const struct server_config *c, char *err, size_t err_size);
/* Resumes open streams so they end, stops the daemon, frees it. Accepts
 * NULL and clears *sp. */
void server_free(struct server **sp);
/* The port it listens on (the kernel's choice for port 0). */
uint16_t server_port(const struct server *s);
/* Adds the server's sockets to the caller's select sets, raising *max_fd,
 * and lowers *timeout_ms to when the server next needs to run. Returns 0,
 * or -1 when a socket does not fit in an fd_set. */
int server_fdset(struct server *s, fd_set *rs, fd_set *ws, fd_set *es, int *max_fd,
                 int *timeout_ms);
/* Handles what select reported, renders pages (blocking on the node for
 * each), and sends waiting streams what the feed holds now. */
void server_run(struct server *s, const fd_set *rs, const fd_set *ws, const fd_set *es);
/* Tells the streams that the feed grew (or a keep-alive is due). Never
 * blocks; the data goes out on the next server_run. */
void server_wake_streams(struct server *s);

#endif
