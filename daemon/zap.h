/*
 * zap: our ZeroMQ authentication (ZAP, RFC 27) handler. Debian's libzmq
 * 4.3.4 has no ZMQ_ZAP_ENFORCE_DOMAIN, so a CURVE server with no handler
 * accepts any client key: zap_new binds the handler before any other
 * socket exists, and the node must poll it from then on. It admits only
 * CURVE clients whose key the caller's check function knows, and gives each
 * connection its key, in base64, as its User-Id: every message a server
 * socket receives names the key that authenticated its connection, so the
 * sockets look the sender up by key on each message and a key removed or
 * replaced by a reload is out at once, even on a connection it opened
 * before. Owns the REP socket; never sees a secret key.
 */
#ifndef TMBUS_ZAP_H
#define TMBUS_ZAP_H

#include <stddef.h>
#include <stdint.h>

#include "keys.h"

/* Decides one handshake: domain is the server socket's ZMQ_ZAP_DOMAIN,
 * client_pk the CURVE key (32 bytes). Returns 0 to allow, -1 to deny. */
typedef int (*zap_check_fn)(void *arg, const char *domain, const uint8_t *client_pk);

struct zap;

/* Binds the handler on inproc://zeromq.zap.01 in zctx. Returns NULL on
 * failure (logged): the caller must then not bind any CURVE server. */
struct zap *zap_new(void *zctx, zap_check_fn check, void *arg);

void zap_free(struct zap **zp);

/* The REP socket, for the event loop. */
void *zap_socket(struct zap *z);

/* Answers every pending request without blocking (a loop_ready_fn; arg is
 * the struct zap). */
void zap_on_ready(void *arg);

/* The CURVE key that authenticated the connection a received message
 * (a zmq_msg_t *) came in on, from its User-Id, into pk. Returns 0, or -1
 * when the message carries none (it came from a socket that is not a
 * CURVE server behind this handler). */
int zap_message_key(void *msg, uint8_t pk[KEYS_PUBLIC_BYTES]);

/*
 * A watch on a CURVE server socket for the handshakes libzmq refuses
 * before any ZAP request: a client without CURVE (the NULL or PLAIN
 * mechanism) or one that breaks the ZMTP handshake. libzmq drops those
 * connections without telling anyone; the watch counts each as counter
 * and logs it, at most one line per ZAP_LOG_INTERVAL_MS per socket (the
 * next line says how many were left out).
 */
struct zap_watch;
struct stats;

/* Starts watching server, whose ZAP domain is domain (a static string,
 * "peer" or "client"); counter is a static string. The caller polls
 * zap_watch_socket(w) with zap_watch_on_ready and frees the watch before
 * it closes server. Returns NULL on failure (logged). */
struct zap_watch *zap_watch_new(void *zctx, void *server, const char *domain, const char *counter,
                                struct stats *stats);

/* The PAIR socket the events arrive on, for the event loop. */
void *zap_watch_socket(struct zap_watch *w);

/* Reads every pending event without blocking (a loop_ready_fn; arg is the
 * struct zap_watch). */
void zap_watch_on_ready(void *arg);

/* Stops watching, frees, sets *wp to NULL. Accepts NULL. */
void zap_watch_free(struct zap_watch **wp);

/* Handshakes allowed and denied so far. */
uint64_t zap_allowed(const struct zap *z);
uint64_t zap_denied(const struct zap *z);

#endif
