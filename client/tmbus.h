/*
 * libtmbus: a program's connection to its own tmbus node. Posts payloads,
 * receives deliveries under a window and acks them, asks for status. The
 * connection is CurveZMQ to the node's client socket; the node admits the
 * client's key from its configuration, which also gives the client its
 * role and TLP clearance.
 *
 * Conventions:
 *   - Handles are opaque. x_free(&x) and tmbus_close(&h) accept NULL and
 *     clear the pointer.
 *   - Functions return TMBUS_OK (0) or a negative TMBUS_E* code;
 *     tmbus_strerror names the code and tmbus_last_error gives the node's
 *     (or the library's) one-line reason for the last failure on a handle.
 *   - Buffers are (pointer, length); ids and keys are 32 raw bytes.
 *   - timeout_ms: how long a call may block; 0 never blocks, -1 waits
 *     for ever.
 *   - No callbacks and no threads of ours: each handle owns a ZeroMQ
 *     context (which runs libzmq's own I/O thread). A handle is not
 *     thread-safe: use one handle per thread.
 *   - The library never exits or prints; payloads are opaque bytes here
 *     (a serialized tmbus.payload.Payload, see proto/payload.proto).
 */
#ifndef TMBUS_H
#define TMBUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TMBUS_EXPORT __attribute__((visibility("default")))

#define TMBUS_KEY_BYTES      32 /* CURVE public and secret keys */
#define TMBUS_ID_BYTES       32 /* envelope (message) ids */
#define TMBUS_MEMBER_MAX     32 /* longest member id */
#define TMBUS_MAX_PAYLOAD    (504 * 1024)
#define TMBUS_WINDOW_MAX     1024
#define TMBUS_MAX_RECIPIENTS 128

enum tmbus_error {
    TMBUS_OK = 0,
    TMBUS_ETIMEOUT = -1,  /* no answer in time; the request may still take effect */
    TMBUS_EDENIED = -2,   /* the node refused: key unknown, role or clearance */
    TMBUS_EINVALID = -3,  /* a bad argument or request */
    TMBUS_EPROTOCOL = -4, /* an answer we did not understand, or out of turn */
    TMBUS_ECLOSED = -5,   /* the handle's socket is gone */
    TMBUS_ENOMEM = -6,
    TMBUS_ENOTFOUND = -7, /* unknown recipient, need, envelope */
    TMBUS_EINTERNAL = -8, /* the node failed (disk, memory): try again later */
};

struct tmbus;          /* one connection to one node */
struct tmbus_delivery; /* one received message */
struct tmbus_status;   /* a node's status */

/* A short, static description of an error code. Never NULL. */
TMBUS_EXPORT const char *tmbus_strerror(int err);

/* The one-line reason for the last failure on h ("" if none): the node's
 * own reason when it answered, else the library's. Valid until the next
 * call on h. */
TMBUS_EXPORT const char *tmbus_last_error(const struct tmbus *h);

/* Connects to the node at endpoint (e.g. "tcp://127.0.0.1:7102") with the
 * client's CURVE key pair, checking the node's key. The secret is copied
 * only into locked memory that is wiped at once, after libzmq took it.
 * Because a CURVE handshake that fails is silent in ZeroMQ, this waits for
 * one status round trip: TMBUS_EDENIED when the node refused our key,
 * TMBUS_ETIMEOUT when nothing answered in timeout_ms (wrong endpoint, or a
 * node_public_key that is not the node's). On success *out is a handle
 * the caller closes with tmbus_close. On failure err (may be NULL) gets a
 * one-line reason, as there is no handle to ask. Blocks up to timeout_ms
 * (which must not be -1 here). */
TMBUS_EXPORT int tmbus_connect(const char *endpoint, const uint8_t node_public_key[TMBUS_KEY_BYTES],
                               const uint8_t client_public_key[TMBUS_KEY_BYTES],
                               const uint8_t client_secret_key[TMBUS_KEY_BYTES], int timeout_ms,
                               struct tmbus **out, char *err, size_t err_size);

/* As tmbus_connect, reading the keys from tmbus key files (the format of
 * tmbus-admin's key files): the node's member-public file (its
 * transport-public key) and the client's client-secret file, which is
 * refused when group or others can access it. */
TMBUS_EXPORT int tmbus_connect_files(const char *endpoint, const char *node_public_file,
                                     const char *client_secret_file, int timeout_ms,
                                     struct tmbus **out, char *err, size_t err_size);

/* Closes the connection, drops queued deliveries (unacked ones come again
 * on the next subscription), wipes what it held. Accepts NULL. */
TMBUS_EXPORT void tmbus_close(struct tmbus **hp);

/* Posts payload (1..TMBUS_MAX_PAYLOAD bytes, a serialized Payload) to the
 * named roster members, or to every member when all is set (recipients
 * are then ignored). A TLP:RED payload must name its recipients and goes
 * to each over the direct link only. expires_at: Unix seconds after which
 * recipients stop delivering it, 0 for never. Returns TMBUS_OK only once
 * the node has committed the post, with its envelope id in out_id (may be
 * NULL; for TLP:RED, the envelope to the first recipient). After
 * TMBUS_ETIMEOUT the post may or may not have been committed. */
TMBUS_EXPORT int tmbus_post(struct tmbus *h, const void *payload, size_t len,
                            const char *const *recipients, size_t n_recipients, bool all,
                            int64_t expires_at, int timeout_ms, uint8_t out_id[TMBUS_ID_BYTES]);

/* Starts (or restarts) receiving deliveries after this client's durable
 * cursor, with at most window (1..TMBUS_WINDOW_MAX; 0 means 64) unacked at
 * a time. If the connection drops and comes back, the library subscribes
 * again by itself the next time it waits for anything. */
TMBUS_EXPORT int tmbus_subscribe(struct tmbus *h, unsigned window, int timeout_ms);

/* Waits up to timeout_ms for the next delivery. Returns TMBUS_OK with
 * *out (the caller frees it with tmbus_delivery_free), TMBUS_ETIMEOUT when
 * none came, or another error. Deliveries that arrived while another call
 * waited for its answer are queued in the handle and returned first. A
 * delivery the handle already returned is not returned twice. */
TMBUS_EXPORT int tmbus_next(struct tmbus *h, int timeout_ms, struct tmbus_delivery **out);

/* Acks every delivery up to and including number; returns TMBUS_OK once
 * the node's cursor is durable. Acked deliveries never come again to this
 * client; unacked ones come again after a reconnect or restart. */
TMBUS_EXPORT int tmbus_ack(struct tmbus *h, uint64_t number, int timeout_ms);

/* Asks the node for its status. On TMBUS_OK *out is the caller's to free
 * with tmbus_status_free. */
TMBUS_EXPORT int tmbus_status(struct tmbus *h, int timeout_ms, struct tmbus_status **out);

/* A file descriptor for the caller's own poll/epoll loop: it becomes
 * readable when the handle may have something for tmbus_next. It is
 * edge-triggered in effect (ZeroMQ's ZMQ_FD semantics): after it fires,
 * and after any other call on the handle, call tmbus_next(h, 0, …) until it
 * returns TMBUS_ETIMEOUT before polling again, or a delivery may wait
 * unseen. Owned by the handle; do not close it. Returns the fd or a
 * negative TMBUS_E* code. */
TMBUS_EXPORT int tmbus_fd(struct tmbus *h);

/* ---- deliveries: valid until tmbus_delivery_free ---------------------- */

/* The local delivery number: strictly increasing; ack it. */
TMBUS_EXPORT uint64_t tmbus_delivery_number(const struct tmbus_delivery *d);
/* The envelope id, TMBUS_ID_BYTES bytes. */
TMBUS_EXPORT const uint8_t *tmbus_delivery_id(const struct tmbus_delivery *d);
/* The sending member. */
TMBUS_EXPORT const char *tmbus_delivery_sender(const struct tmbus_delivery *d);
/* "" for a relayed log, this member for a direct (TLP:RED) one. */
TMBUS_EXPORT const char *tmbus_delivery_log_peer(const struct tmbus_delivery *d);
/* Position in the sender's log. */
TMBUS_EXPORT uint64_t tmbus_delivery_seq(const struct tmbus_delivery *d);
/* Unix seconds; expires_at is 0 for never. */
TMBUS_EXPORT int64_t tmbus_delivery_created_at(const struct tmbus_delivery *d);
TMBUS_EXPORT int64_t tmbus_delivery_expires_at(const struct tmbus_delivery *d);
/* The serialized Payload and its length. */
TMBUS_EXPORT const uint8_t *tmbus_delivery_payload(const struct tmbus_delivery *d, size_t *len);
/* The recipients the sender named (signed by it). */
TMBUS_EXPORT size_t tmbus_delivery_recipient_count(const struct tmbus_delivery *d);
/* i < tmbus_delivery_recipient_count, else NULL. */
TMBUS_EXPORT const char *tmbus_delivery_recipient(const struct tmbus_delivery *d, size_t i);
/* Wipes the payload, frees, sets *dp to NULL. Accepts NULL. */
TMBUS_EXPORT void tmbus_delivery_free(struct tmbus_delivery **dp);

/* ---- status: valid until tmbus_status_free ---------------------------- */

TMBUS_EXPORT const char *tmbus_status_member(const struct tmbus_status *s);
TMBUS_EXPORT uint64_t tmbus_status_roster_version(const struct tmbus_status *s);
/* Envelopes held in all logs, and the highest inbox delivery number. */
TMBUS_EXPORT uint64_t tmbus_status_envelopes(const struct tmbus_status *s);
TMBUS_EXPORT uint64_t tmbus_status_inbox(const struct tmbus_status *s);

TMBUS_EXPORT size_t tmbus_status_counter_count(const struct tmbus_status *s);
/* i < tmbus_status_counter_count: fills *name and *value, returns
 * TMBUS_OK; else TMBUS_EINVALID. */
TMBUS_EXPORT int tmbus_status_counter(const struct tmbus_status *s, size_t i, const char **name,
                                      uint64_t *value);

/* One peer link as the node sees it. Strings live as long as the status. */
struct tmbus_peer {
    const char *member;
    const char *state; /* "down", "connecting", "up" */
    int64_t silent_ms; /* since anything was heard; -1: never */
    uint64_t lag;      /* envelopes it lacks that we hold */
    uint64_t behind;   /* envelopes we lack that it holds */
};
TMBUS_EXPORT size_t tmbus_status_peer_count(const struct tmbus_status *s);
/* i < tmbus_status_peer_count: fills *out, returns TMBUS_OK; else
 * TMBUS_EINVALID. */
TMBUS_EXPORT int tmbus_status_peer(const struct tmbus_status *s, size_t i, struct tmbus_peer *out);

/* Frees, sets *sp to NULL. Accepts NULL. */
TMBUS_EXPORT void tmbus_status_free(struct tmbus_status **sp);

#ifdef __cplusplus
}
#endif

#endif
