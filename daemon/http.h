/*
 * http: the node's metrics and health endpoints ([http] listen), served by
 * libmicrohttpd from inside the node's one event loop: GET /metrics in the
 * Prometheus text format and GET /healthz. It only reads the node's parts,
 * never changes them, and is the only module that includes microhttpd.h.
 * It has no authentication, so the configuration keeps it on loopback
 * unless the operator allows otherwise.
 */
#ifndef TMBUS_HTTP_H
#define TMBUS_HTTP_H

#include <stdbool.h>

#include "api.h"
#include "config.h"
#include "loop.h"
#include "peer.h"
#include "route.h"
#include "stats.h"
#include "store.h"

struct http;

/* What the endpoints read, all borrowed for their life (cfg until the next
 * http_reload). */
struct http_parts {
    const struct config *cfg; /* [http], data_dir, the peer timeout */
    struct loop *loop;
    struct store *store; /* envelope and board counts */
    struct route *route; /* the roster in force */
    struct peers *peers; /* link states */
    struct api *api;     /* client sessions */
    struct stats *stats; /* counters and histograms */
};

/* Listens on cfg->http_listen and registers the server with the loop.
 * Returns the server, or NULL on failure (logged). Must not be called
 * when http_listen is "" (off). */
struct http *http_new(const struct http_parts *parts);

/* Stops listening and closes every connection. The loop must not run
 * again afterwards (its watch on the server's fd stays). Accepts NULL. */
void http_free(struct http **hp);

/* Puts a reloaded configuration in force (health_grace_ms may change; the
 * address may not). The caller frees the old configuration after. */
void http_reload(struct http *h, const struct config *cfg);

/* A commit listener (arg is the struct http): remembers whether the last
 * batch that was committed or failed made it to disk, for /healthz. */
void http_after_commit(void *arg, bool is_committed);

#endif
