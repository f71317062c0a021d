/*
 * libtmbus: a program's connection to its own tmbus node. Posts needs,
 * offers and their updates, reads the board, receives deliveries under a
 * window and a filter and acks them, asks for status. The connection is
 * CurveZMQ to the node's client socket; the node admits the client's key
 * from its configuration, which also gives the client its role and TLP
 * clearance.
 *
 * Conventions:
 *   - Handles are opaque. x_free(&x) and tmbus_close(&h) accept NULL and
 *     clear the pointer. No protobuf type appears here.
 *   - What the library returns it owns: results (a board, a report, a
 *     status, a delivery) are opaque objects, and what they hold is read
 *     through accessors that return const pointers into them (NULL when
 *     there is none: an index out of range, a delivery of another kind).
 *     Callers never allocate or fill those structs, so fields may be
 *     added at their end in any release; they live as long as the object.
 *   - What the caller gives (struct tmbus_need, tmbus_offer,
 *     tmbus_filter) the caller owns, strings included. These structs may
 *     also grow at the end, with 0 / NULL meaning "unset" for every new
 *     field: zero-initialise them ("= {0}" or designated initializers)
 *     and a program keeps compiling and meaning the same.
 *   - Functions return TMBUS_OK (0) or a negative TMBUS_E* code;
 *     tmbus_strerror names the code and tmbus_last_error gives the node's
 *     (or the library's) one-line reason for the last failure on a handle.
 *   - Buffers are (pointer, length); ids and keys are 32 raw bytes
 *     (tmbus_id_to_hex / tmbus_id_from_hex convert ids for people).
 *   - timeout_ms: how long a call may block; 0 never blocks, -1 waits
 *     for ever.
 *   - The library never exits or prints.
 *
 * Threads: no callbacks, and no threads of ours besides libzmq's own I/O
 * thread (each handle owns a ZeroMQ context). A handle, and everything
 * called on it, is NOT thread-safe: use one handle per thread, or one
 * lock around every call on a shared handle. Different handles may be
 * used from different threads at once. Objects a call returned (a
 * delivery, a status, a board) are immutable: any thread may read one,
 * and exactly one frees it, after the readers are done. The handle-free
 * helpers (tmbus_strerror, the enum name/parse/names helpers,
 * tmbus_need_validate, tmbus_offer_validate, tmbus_id_*) are thread-safe
 * and reentrant.
 *
 * A post's delivery state per recipient (pending, delivered, rejected
 * with a reason) is asked with tmbus_delivery_state; the receipts that
 * recipients' nodes send also arrive as deliveries of kind "receipt" (see
 * tmbus_delivery_receipt_at).
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

/* On the calls whose result a caller must look at: a connection, a post,
 * an ack, a parse or a check that failed is not to be ignored. */
#if defined(__GNUC__) || defined(__clang__)
#define TMBUS_NODISCARD __attribute__((warn_unused_result))
#else
#define TMBUS_NODISCARD
#endif

/* This header's version (the build reads it from these three lines). A
 * program can compare them with what tmbus_version_number() says of the
 * library it runs against. */
#define TMBUS_VERSION_MAJOR 0
#define TMBUS_VERSION_MINOR 2
#define TMBUS_VERSION_PATCH 0
/* The library's ABI, the number of its soname (libtmbus.so.1). It grows by
 * one in the release after any change a program linked against the
 * previous library could trip on: a function removed or its arguments
 * changed, a public struct's layout, an enum's values, an existing call
 * returning a code it never returned before. Additions alone (a new
 * function, a new struct) keep it. Independent of the version above. */
#define TMBUS_ABI 1
/* The three as one number that grows with each release (0.1.0 is 100,
 * 1.2.3 is 10203), for comparisons: TMBUS_VERSION_NUMBER >= 10200. */
#define TMBUS_VERSION_NUMBER                                                                       \
    (TMBUS_VERSION_MAJOR * 10000 + TMBUS_VERSION_MINOR * 100 + TMBUS_VERSION_PATCH)

#define TMBUS_KEY_BYTES      32 /* CURVE public and secret keys */
#define TMBUS_ID_BYTES       32 /* envelope (message) ids */
#define TMBUS_MEMBER_MAX     32 /* longest member id */
#define TMBUS_MAX_PAYLOAD    (504 * 1024)
#define TMBUS_WINDOW_MAX     1024
#define TMBUS_MAX_RECIPIENTS 128
#define TMBUS_FILTER_MAX     64 /* entries in each list of a filter */
#define TMBUS_ID_HEX_BYTES   65 /* 64 hex digits and a NUL */

/* Field limits of needs and offers, in bytes (UTF-8), checked by
 * tmbus_need_validate and tmbus_offer_validate before anything is sent
 * (the node's board checks the same). */
#define TMBUS_TITLE_MAX          200  /* one line */
#define TMBUS_TEXT_MAX           8192 /* description */
#define TMBUS_CONDITIONS_MAX     2048 /* an offer's conditions */
#define TMBUS_FIELD_MAX          256  /* beneficiary, contact: one line */
#define TMBUS_UNIT_MAX           64   /* one line */
#define TMBUS_REASON_MAX         1024 /* an update's or receipt's reason */
#define TMBUS_DATE_BYTES         10   /* "YYYY-MM-DD" */
#define TMBUS_VALIDATE_ERROR_MAX 256  /* enough for any reason of *_validate */

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
    TMBUS_EBUSY = -9,     /* the handle's posts in flight are at their bound */
    /* The node cannot take it yet: it is recovering its own logs from its
     * peers (tmbus_status_recovering); nothing was done; try again later. */
    TMBUS_EUNAVAILABLE = -10,
};

struct tmbus;          /* one connection to one node */
struct tmbus_delivery; /* one received message */
struct tmbus_status;   /* a node's status */
struct tmbus_posted;   /* the outcome of one pipelined post */

/* The version of the library the program runs against, as "MAJOR.MINOR.PATCH"
 * (static, never NULL) and as a TMBUS_VERSION_NUMBER, which a program can
 * compare with the header it was compiled with. Thread-safe. */
TMBUS_EXPORT const char *tmbus_version(void);
TMBUS_EXPORT int tmbus_version_number(void);

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
TMBUS_EXPORT TMBUS_NODISCARD int tmbus_connect(const char *endpoint,
                                               const uint8_t node_public_key[TMBUS_KEY_BYTES],
                                               const uint8_t client_public_key[TMBUS_KEY_BYTES],
                                               const uint8_t client_secret_key[TMBUS_KEY_BYTES],
                                               int timeout_ms, struct tmbus **out, char *err,
                                               size_t err_size);

/* As tmbus_connect, reading the keys from tmbus key files (the format of
 * tmbus-admin's key files): the node's member-public file (its
 * transport-public key) and the client's client-secret file, which is
 * refused when group or others can access it. */
TMBUS_EXPORT TMBUS_NODISCARD int tmbus_connect_files(const char *endpoint,
                                                     const char *node_public_file,
                                                     const char *client_secret_file, int timeout_ms,
                                                     struct tmbus **out, char *err,
                                                     size_t err_size);

/* Closes the connection, drops queued deliveries (unacked ones come again
 * on the next subscription), wipes what it held. Accepts NULL. */
TMBUS_EXPORT void tmbus_close(struct tmbus **hp);

/* As tmbus_connect, reading a client configuration file (INI):
 *
 *   # tmbus client configuration
 *   [client]
 *   endpoint = tcp://127.0.0.1:7102
 *   node_key = keys/UA.pub     ; the node's member-public key file
 *   key = keys/UA-desk.key     ; this client's client-secret file (0600)
 *
 * Relative paths are relative to the configuration file's directory.
 * Comments start with '#' or ';' (at the start of a line, or after
 * whitespace). Unknown sections or keys, a key given twice, or a missing
 * one are errors, reported in err as "FILE:LINE: reason". Blocks up to
 * timeout_ms (not -1). */
TMBUS_EXPORT TMBUS_NODISCARD int tmbus_connect_config(const char *path, int timeout_ms,
                                                      struct tmbus **out, char *err,
                                                      size_t err_size);

/* Posts payload (1..TMBUS_MAX_PAYLOAD bytes, a serialized Payload) to the
 * named roster members, or to every member when all is set (recipients
 * are then ignored). A TLP:RED payload must name its recipients and goes
 * to each over the direct link only. expires_at: Unix seconds after which
 * recipients stop delivering it, 0 for never. Returns TMBUS_OK only once
 * the node has committed the post, with its envelope id in out_id (may be
 * NULL; for TLP:RED, the envelope to the first recipient). After
 * TMBUS_ETIMEOUT the post may or may not have been committed. */
TMBUS_EXPORT TMBUS_NODISCARD int tmbus_post(struct tmbus *h, const void *payload, size_t len,
                                            const char *const *recipients, size_t n_recipients,
                                            bool all, int64_t expires_at, int timeout_ms,
                                            uint8_t out_id[TMBUS_ID_BYTES]);

/* ---- pipelined posting --------------------------------------------------
 *
 * tmbus_post waits for each post's commit before the next can be sent, so
 * one handle posts one envelope per commit of its node. The calls below
 * keep many posts in flight on one handle instead: tmbus_post_send sends
 * and returns a ticket at once; the node commits what it read in one
 * round together and answers each post after that commit; the answers
 * arrive on the handle (its tmbus_fd becomes readable, as for deliveries)
 * and tmbus_posted_next hands them out, one per ticket, in the order they
 * arrive (a refused post is answered before the commit, so outcomes may
 * come out of ticket order; the node's log keeps the order of sending).
 * Synchronous calls (tmbus_post, tmbus_ack, tmbus_status, …) and a
 * subscription may be used on the same handle meanwhile: answers to posts
 * in flight that arrive while they wait are kept for tmbus_posted_next.
 *
 * When the connection to the node drops (the node stopped or restarted),
 * every post in flight completes with TMBUS_ECLOSED, and one whose answer
 * does not come within its timeout with TMBUS_ETIMEOUT: in both cases the
 * node may or may not have committed it. */

#define TMBUS_POST_WINDOW_MAX     1024 /* posts in flight on one handle, at most */
#define TMBUS_POST_WINDOW_DEFAULT 64
#define TMBUS_POST_NOWAIT         1 /* tmbus_post_send: TMBUS_EBUSY instead of waiting */

/* Sets how many posts may be in flight on h at once (1..TMBUS_POST_WINDOW_MAX;
 * TMBUS_POST_WINDOW_DEFAULT until set). Lowering it below the posts in
 * flight now only holds back new ones. Never blocks. Returns TMBUS_OK or
 * TMBUS_EINVALID. */
TMBUS_EXPORT TMBUS_NODISCARD int tmbus_post_window(struct tmbus *h, unsigned window);

/* How many posts sent with tmbus_post_send have no outcome yet. */
TMBUS_EXPORT size_t tmbus_posts_in_flight(const struct tmbus *h);

/* Sends a post as tmbus_post does (same arguments and checks; the
 * caller's buffers may be reused as soon as it returns) without waiting
 * for its commit, and sets *ticket to a number that names it (tickets
 * grow with every call on h; never 0). Its outcome comes later through
 * tmbus_posted_next. When the window is full it waits, up to timeout_ms,
 * for an outcome to free a place, or with flags TMBUS_POST_NOWAIT returns
 * TMBUS_EBUSY at once. timeout_ms also bounds the wait for the post's own
 * answer; it must be more than 0, or -1 for no bound but the
 * connection's (0 is TMBUS_EINVALID: no post is answered at once). Returns TMBUS_OK once the
 * post is sent; TMBUS_EBUSY, TMBUS_ETIMEOUT (no place in time),
 * TMBUS_EINVALID, TMBUS_ECLOSED or TMBUS_ENOMEM when nothing was sent. */
TMBUS_EXPORT TMBUS_NODISCARD int tmbus_post_send(struct tmbus *h, const void *payload, size_t len,
                                                 const char *const *recipients, size_t n_recipients,
                                                 bool all, int64_t expires_at, int flags,
                                                 int timeout_ms, uint64_t *ticket);

/* Waits up to timeout_ms (0: never blocks) for the next post sent with
 * tmbus_post_send to complete. Returns TMBUS_OK with *out, which the
 * caller frees with tmbus_posted_free; TMBUS_ETIMEOUT when none completed
 * in time; TMBUS_ENOTFOUND at once when no post is in flight and none is
 * waiting to be taken; or another error of the handle. Each ticket comes
 * out exactly once. */
TMBUS_EXPORT TMBUS_NODISCARD int tmbus_posted_next(struct tmbus *h, int timeout_ms,
                                                   struct tmbus_posted **out);

/* Waits up to timeout_ms until no post sent with tmbus_post_send is in
 * flight; their outcomes stay for tmbus_posted_next. Returns TMBUS_OK, or
 * TMBUS_ETIMEOUT with posts still in flight. */
TMBUS_EXPORT TMBUS_NODISCARD int tmbus_post_flush(struct tmbus *h, int timeout_ms);

/* The ticket tmbus_post_send gave the post. */
TMBUS_EXPORT uint64_t tmbus_posted_ticket(const struct tmbus_posted *p);

/* TMBUS_OK when the node committed the post, else why not: the node's
 * code (TMBUS_EINVALID, TMBUS_EDENIED, TMBUS_ENOTFOUND, TMBUS_EINTERNAL),
 * or TMBUS_ECLOSED / TMBUS_ETIMEOUT when its outcome is unknown. */
TMBUS_EXPORT int tmbus_posted_result(const struct tmbus_posted *p);

/* The node's (or the library's) one-line reason for a failure; "" after
 * TMBUS_OK. Owned by p. */
TMBUS_EXPORT const char *tmbus_posted_reason(const struct tmbus_posted *p);

/* The envelopes a committed post became: one, or one per recipient for
 * TLP:RED. tmbus_posted_id returns the i-th id (TMBUS_ID_BYTES, owned by
 * p), or NULL when i >= tmbus_posted_count (always 0 after a failure). */
TMBUS_EXPORT size_t tmbus_posted_count(const struct tmbus_posted *p);
TMBUS_EXPORT const uint8_t *tmbus_posted_id(const struct tmbus_posted *p, size_t i);

/* Frees an outcome. Accepts NULL and clears *pp. */
TMBUS_EXPORT void tmbus_posted_free(struct tmbus_posted **pp);

/* Starts (or restarts) receiving deliveries after this client's durable
 * cursor, with at most window (1..TMBUS_WINDOW_MAX; 0 means 64) unacked at
 * a time. If the connection drops and comes back, the library subscribes
 * again by itself (with the same filter) the next time it waits for
 * anything. Equivalent to tmbus_subscribe_filtered with no filter. */
TMBUS_EXPORT TMBUS_NODISCARD int tmbus_subscribe(struct tmbus *h, unsigned window, int timeout_ms);

/* Which deliveries a subscription wants. Each list may be empty (n_x == 0,
 * pointer ignored), meaning "any"; a delivery must match every non-empty
 * list. kinds: "need", "offer", "need_update", "offer_update", "receipt",
 * "need_share" (tmbus_kind_parse accepts and canonicalises them); categories: enum
 * tmbus_category values (an offer takes its need's category); tlps: enum
 * tmbus_tlp values; senders: member ids. A delivery the filter hides
 * still moves the cursor: acking a later number acks it too. */
struct tmbus_filter {
    const char *const *kinds;
    size_t n_kinds;
    const int *categories;
    size_t n_categories;
    const int *tlps;
    size_t n_tlps;
    const char *const *senders;
    size_t n_senders;
};

/* As tmbus_subscribe, with a filter (NULL: none). The library copies the
 * filter (the caller's arrays may go away after the call) to subscribe
 * again after a reconnect. Each list holds at most TMBUS_FILTER_MAX
 * entries; TMBUS_EINVALID for unknown kinds, categories or TLPs. A new
 * subscription replaces the previous one and its filter. */
TMBUS_EXPORT TMBUS_NODISCARD int tmbus_subscribe_filtered(struct tmbus *h, unsigned window,
                                                          const struct tmbus_filter *filter,
                                                          int timeout_ms);

/* Waits up to timeout_ms for the next delivery. Returns TMBUS_OK with
 * *out (the caller frees it with tmbus_delivery_free), TMBUS_ETIMEOUT when
 * none came, TMBUS_EDENIED with the node's reason (tmbus_last_error) once
 * the node ended the subscription (this client's key was removed from its
 * configuration, or the roster revoked the node's member; deliveries
 * queued before are returned first), or another error. Deliveries that arrived while another call
 * waited for its answer are queued in the handle and returned first. A
 * delivery the handle already returned is not returned twice. */
TMBUS_EXPORT TMBUS_NODISCARD int tmbus_next(struct tmbus *h, int timeout_ms,
                                            struct tmbus_delivery **out);

/* Acks every delivery up to and including number; returns TMBUS_OK once
 * the node's cursor is durable. Acked deliveries never come again to this
 * client; unacked ones come again after a reconnect or restart. After a
 * reconnect (the node restarted, say) the ack waits, within timeout_ms,
 * until the library has subscribed again, so a number handed out before
 * the reconnect is acked as usual. */
TMBUS_EXPORT TMBUS_NODISCARD int tmbus_ack(struct tmbus *h, uint64_t number, int timeout_ms);

/* Asks the node for its status. On TMBUS_OK *out is the caller's to free
 * with tmbus_status_free. */
TMBUS_EXPORT TMBUS_NODISCARD int tmbus_status(struct tmbus *h, int timeout_ms,
                                              struct tmbus_status **out);

/* A file descriptor for the caller's own poll/epoll loop: it becomes
 * readable when the handle may have something for tmbus_next or
 * tmbus_posted_next. It is edge-triggered in effect (ZeroMQ's ZMQ_FD
 * semantics): after it fires, and after any other call on the handle,
 * call tmbus_next(h, 0, …) (when subscribed) and tmbus_posted_next(h, 0,
 * …) (when posts are in flight) until they return something other than
 * TMBUS_OK before polling again, or a delivery or an outcome may wait
 * unseen. Owned by the handle; do not close it. Returns the fd or a
 * negative TMBUS_E* code. */
TMBUS_EXPORT TMBUS_NODISCARD int tmbus_fd(struct tmbus *h);

/* ---- the domain: enums mirroring proto/payload.proto ------------------ */

/* The values are the wire values and never change; 0 is "unset". Every
 * enum has NAME (static string, or NULL for a value outside the enum),
 * PARSE (case-insensitive, '-' and '_' alike; TMBUS_OK and *out, or
 * TMBUS_EINVALID) and NAMES (the allowed names, ", "-separated, for error
 * messages). All thread-safe. */

enum tmbus_tlp {
    TMBUS_TLP_CLEAR = 1,
    TMBUS_TLP_GREEN = 2,
    TMBUS_TLP_AMBER = 3,
    TMBUS_TLP_AMBER_STRICT = 4,
    TMBUS_TLP_RED = 5,
};
/* "clear", "green", "amber", "amber+strict", "red"; parse also takes a
 * "tlp:" prefix ("TLP:AMBER+STRICT"). */
TMBUS_EXPORT const char *tmbus_tlp_name(int tlp);
TMBUS_EXPORT TMBUS_NODISCARD int tmbus_tlp_parse(const char *name, int *out);
TMBUS_EXPORT const char *tmbus_tlp_names(void);

enum tmbus_sector {
    TMBUS_SECTOR_ENERGY = 1,
    TMBUS_SECTOR_TELECOM = 2,
    TMBUS_SECTOR_GOVERNMENT = 3,
    TMBUS_SECTOR_FINANCE = 4,
    TMBUS_SECTOR_HEALTH = 5,
    TMBUS_SECTOR_TRANSPORT = 6,
    TMBUS_SECTOR_WATER = 7,
    TMBUS_SECTOR_OTHER = 8,
};
/* "energy", "telecom", "government", "finance", "health", "transport",
 * "water", "other". */
TMBUS_EXPORT const char *tmbus_sector_name(int sector);
TMBUS_EXPORT TMBUS_NODISCARD int tmbus_sector_parse(const char *name, int *out);
TMBUS_EXPORT const char *tmbus_sector_names(void);

enum tmbus_category {
    TMBUS_CATEGORY_SOFTWARE_LICENCES = 1,
    TMBUS_CATEGORY_HARDWARE = 2,
    TMBUS_CATEGORY_MALWARE_DETECTION = 3,
    TMBUS_CATEGORY_THREAT_PREVENTION = 4,
    TMBUS_CATEGORY_INCIDENT_RESPONSE = 5,
    TMBUS_CATEGORY_TRAINING = 6,
    TMBUS_CATEGORY_CONNECTIVITY = 7,
    TMBUS_CATEGORY_ADVISORY = 8,
    TMBUS_CATEGORY_OTHER = 9,
};
/* "software-licences", "hardware", "malware-detection",
 * "threat-prevention", "incident-response", "training", "connectivity",
 * "advisory", "other". */
TMBUS_EXPORT const char *tmbus_category_name(int category);
TMBUS_EXPORT TMBUS_NODISCARD int tmbus_category_parse(const char *name, int *out);
TMBUS_EXPORT const char *tmbus_category_names(void);

enum tmbus_priority {
    TMBUS_PRIORITY_CRITICAL = 1,
    TMBUS_PRIORITY_HIGH = 2,
    TMBUS_PRIORITY_MEDIUM = 3,
    TMBUS_PRIORITY_LOW = 4,
};
/* "critical", "high", "medium", "low". */
TMBUS_EXPORT const char *tmbus_priority_name(int priority);
TMBUS_EXPORT TMBUS_NODISCARD int tmbus_priority_parse(const char *name, int *out);
TMBUS_EXPORT const char *tmbus_priority_names(void);

/* A need's status on the board (derived by the node, never posted). */
enum tmbus_need_status {
    TMBUS_NEED_OPEN = 1,
    TMBUS_NEED_PARTIALLY_COVERED = 2,
    TMBUS_NEED_COVERED = 3,
    TMBUS_NEED_CLOSED = 4,
    TMBUS_NEED_WITHDRAWN = 5,
};
/* "open", "partially_covered", "covered", "closed", "withdrawn" (as in
 * proto/api.proto; parse also takes "partially-covered"). */
TMBUS_EXPORT const char *tmbus_need_status_name(int status);
TMBUS_EXPORT TMBUS_NODISCARD int tmbus_need_status_parse(const char *name, int *out);
TMBUS_EXPORT const char *tmbus_need_status_names(void);

enum tmbus_offer_status {
    TMBUS_OFFER_PROPOSED = 1,
    TMBUS_OFFER_ACCEPTED = 2,
    TMBUS_OFFER_DECLINED = 3,
    TMBUS_OFFER_DELIVERED = 4,
    TMBUS_OFFER_CONFIRMED = 5,
    TMBUS_OFFER_WITHDRAWN = 6,
};
/* "proposed", "accepted", "declined", "delivered", "confirmed",
 * "withdrawn". */
TMBUS_EXPORT const char *tmbus_offer_status_name(int status);
TMBUS_EXPORT TMBUS_NODISCARD int tmbus_offer_status_parse(const char *name, int *out);
TMBUS_EXPORT const char *tmbus_offer_status_names(void);

/* What a need update does; only the need's owner may post one. */
enum tmbus_need_action {
    TMBUS_NEED_EDIT = 1,
    TMBUS_NEED_CLOSE = 2,
    TMBUS_NEED_WITHDRAW = 3,
};
/* "edit", "close", "withdraw". */
TMBUS_EXPORT const char *tmbus_need_action_name(int action);
TMBUS_EXPORT TMBUS_NODISCARD int tmbus_need_action_parse(const char *name, int *out);
TMBUS_EXPORT const char *tmbus_need_action_names(void);

/* What an offer update does: accept, decline, confirm by the need's owner;
 * deliver, withdraw by the donor. */
enum tmbus_offer_action {
    TMBUS_OFFER_ACCEPT = 1,
    TMBUS_OFFER_DECLINE = 2,
    TMBUS_OFFER_DELIVER = 3,
    TMBUS_OFFER_CONFIRM = 4,
    TMBUS_OFFER_WITHDRAW = 5,
};
/* "accept", "decline", "deliver", "confirm", "withdraw". */
TMBUS_EXPORT const char *tmbus_offer_action_name(int action);
TMBUS_EXPORT TMBUS_NODISCARD int tmbus_offer_action_parse(const char *name, int *out);
TMBUS_EXPORT const char *tmbus_offer_action_names(void);

enum tmbus_receipt_state {
    TMBUS_RECEIPT_DELIVERED = 1,
    TMBUS_RECEIPT_REJECTED = 2,
};
/* "delivered", "rejected". */
TMBUS_EXPORT const char *tmbus_receipt_state_name(int state);

/* Payload kinds, as a subscription filter and tmbus_delivery_kind name
 * them: "need", "offer", "need_update", "offer_update", "receipt",
 * "need_share" (an open need shared with a newly admitted member). Parse
 * sets *out to the static canonical name ("need-update" gives
 * "need_update"). */
TMBUS_EXPORT TMBUS_NODISCARD int tmbus_kind_parse(const char *name, const char **out);
TMBUS_EXPORT const char *tmbus_kind_names(void);

/* Ids as 64 lower-case hex digits and back. to_hex writes
 * TMBUS_ID_HEX_BYTES into out; from_hex takes exactly 64 hex digits
 * (either case) and returns TMBUS_OK or TMBUS_EINVALID. */
TMBUS_EXPORT void tmbus_id_to_hex(const uint8_t id[TMBUS_ID_BYTES], char out[TMBUS_ID_HEX_BYTES]);
TMBUS_EXPORT TMBUS_NODISCARD int tmbus_id_from_hex(const char *hex, uint8_t out[TMBUS_ID_BYTES]);

/* ---- needs and offers --------------------------------------------------- */

/* A request for help, posted to the coalition's board. The strings are
 * the caller's; NULL and "" both mean "empty". Enums are held as int (0:
 * unset). Money is EUR in integer cents. In what the library returns,
 * strings are never NULL ("" for empty). Its id is the id of the envelope
 * that carried it. */
struct tmbus_need {
    const char *beneficiary; /* one line, <= TMBUS_FIELD_MAX */
    int sector;              /* enum tmbus_sector, required */
    int category;            /* enum tmbus_category, required */
    const char *title;       /* required, one line, <= TMBUS_TITLE_MAX */
    const char *description; /* optional, <= TMBUS_TEXT_MAX */
    uint64_t quantity;       /* required, 1..INT64_MAX */
    const char *unit;        /* one line, <= TMBUS_UNIT_MAX, e.g. "licences" */
    uint64_t value_cents;    /* estimated value, 0..INT64_MAX */
    int priority;            /* enum tmbus_priority, required */
    const char *deadline;    /* "YYYY-MM-DD" (a real date), or NULL/"" */
    int tlp;                 /* enum tmbus_tlp, required */
    const char *contact;     /* one line, <= TMBUS_FIELD_MAX: name, mail or phone */
};

/* An answer to a need, or a catalogue offer (need_id NULL). */
struct tmbus_offer {
    const uint8_t *need_id;    /* TMBUS_ID_BYTES bytes, or NULL */
    const char *description;   /* <= TMBUS_TEXT_MAX */
    uint64_t quantity;         /* required, 1..INT64_MAX */
    uint64_t value_cents;      /* 0..INT64_MAX */
    const char *delivery_date; /* "YYYY-MM-DD", or NULL/"" */
    const char *conditions;    /* <= TMBUS_CONDITIONS_MAX */
    int tlp;                   /* enum tmbus_tlp, required */
};

/* Checks a need (or offer) as the node will: required fields, enum
 * values, lengths, one-line fields, dates; and, stricter than the node,
 * valid UTF-8 (protobuf strings must be) and no control characters other
 * than tab and, in free text, line breaks (they would reach recipients'
 * terminals). Returns TMBUS_OK,
 * or TMBUS_EINVALID with a one-line reason naming the field (and, for an
 * enum, the allowed names) in why (may be NULL; TMBUS_VALIDATE_ERROR_MAX
 * bytes suffice). The posting functions run the same checks. */
TMBUS_EXPORT TMBUS_NODISCARD int tmbus_need_validate(const struct tmbus_need *need, char *why,
                                                     size_t why_size);
TMBUS_EXPORT TMBUS_NODISCARD int tmbus_offer_validate(const struct tmbus_offer *offer, char *why,
                                                      size_t why_size);

/* ---- posting: each returns only once the node committed the post -------- */

/* All four validate first (TMBUS_EINVALID with the reason in
 * tmbus_last_error, nothing sent), then post as tmbus_post does: to the
 * named recipients (n_recipients of them), or to every roster member when
 * all is set; never expiring. TMBUS_OK only after the node committed the
 * post; out_id (may be NULL) then holds the new message's id, which is
 * the id of the need or offer it creates. After TMBUS_ETIMEOUT the post
 * may or may not have been committed. Block up to timeout_ms. */
TMBUS_EXPORT TMBUS_NODISCARD int tmbus_post_need(struct tmbus *h, const struct tmbus_need *need,
                                                 const char *const *recipients, size_t n_recipients,
                                                 bool all, int timeout_ms,
                                                 uint8_t out_id[TMBUS_ID_BYTES]);

/* As tmbus_post_need, pipelined: validates and encodes the need (nothing
 * sent on TMBUS_EINVALID), then sends it as tmbus_post_send does (flags,
 * timeout_ms and *ticket as there); its outcome, with the need's id, comes
 * through tmbus_posted_next. */
TMBUS_EXPORT TMBUS_NODISCARD int
tmbus_post_need_send(struct tmbus *h, const struct tmbus_need *need, const char *const *recipients,
                     size_t n_recipients, bool all, int flags, int timeout_ms, uint64_t *ticket);

/* An offer's recipients should include the need's owner. */
TMBUS_EXPORT TMBUS_NODISCARD int tmbus_post_offer(struct tmbus *h, const struct tmbus_offer *offer,
                                                  const char *const *recipients,
                                                  size_t n_recipients, bool all, int timeout_ms,
                                                  uint8_t out_id[TMBUS_ID_BYTES]);

/* Edits, closes or withdraws need need_id (TMBUS_ID_BYTES). For
 * TMBUS_NEED_EDIT, edit holds the new values of the fields to change and
 * zero / NULL / "" in the others (each set field is checked as in
 * tmbus_need_validate; at least one must be set); for the other actions
 * edit must be NULL. reason: a sentence for readers (may be NULL; at most
 * TMBUS_REASON_MAX bytes). */
TMBUS_EXPORT TMBUS_NODISCARD int
tmbus_need_update(struct tmbus *h, const uint8_t need_id[TMBUS_ID_BYTES], int action,
                  const struct tmbus_need *edit, const char *reason, const char *const *recipients,
                  size_t n_recipients, bool all, int timeout_ms, uint8_t out_id[TMBUS_ID_BYTES]);

/* Accepts, declines, marks delivered, confirms or withdraws offer
 * offer_id (TMBUS_ID_BYTES); action is an enum tmbus_offer_action. */
TMBUS_EXPORT TMBUS_NODISCARD int
tmbus_offer_update(struct tmbus *h, const uint8_t offer_id[TMBUS_ID_BYTES], int action,
                   const char *reason, const char *const *recipients, size_t n_recipients, bool all,
                   int timeout_ms, uint8_t out_id[TMBUS_ID_BYTES]);

/* ---- the board: valid until tmbus_board_free ---------------------------- */

struct tmbus_board; /* the board as the node sees it, for this client */

/* One need on the board. Strings and need_id pointers live as long as
 * the board. */
struct tmbus_board_need {
    uint8_t id[TMBUS_ID_BYTES];
    const char *owner; /* the member that posted it */
    int64_t created_at;
    struct tmbus_need need;      /* as posted or last edited */
    const char *status;          /* a tmbus_need_status name, e.g. "open" */
    uint64_t accepted_quantity;  /* accepted, delivered or confirmed offers */
    uint64_t delivered_quantity; /* confirmed deliveries */
    int64_t updated_at;          /* unix seconds: when the node last changed it */
    bool is_author_revoked;      /* the owner is no member of the roster in force */
};

struct tmbus_board_offer {
    uint8_t id[TMBUS_ID_BYTES];
    const char *donor; /* the member that offered it */
    int64_t created_at;
    struct tmbus_offer offer; /* offer.need_id is NULL for a catalogue offer */
    const char *status;       /* a tmbus_offer_status name, e.g. "proposed" */
    int64_t updated_at;       /* unix seconds: when the node last changed it */
    bool is_author_revoked;   /* the donor is no member of the roster in force */
};

/* Which list a board query pages through. */
enum tmbus_board_list {
    TMBUS_BOARD_NEEDS = 1,
    TMBUS_BOARD_OFFERS = 2,
};
#define TMBUS_BOARD_PAGE_MAX     1000 /* items in one page */
#define TMBUS_BOARD_FILTER_MAX   16   /* values in each list of a board query */
#define TMBUS_BOARD_CURSOR_BYTES 129  /* a cursor as text, with its NUL, at most */

/* One page's question. Zero it, then set what you need: every list is ORed
 * within itself and the filters ANDed; NULL, an empty list or 0 means any.
 * The library reads it during the call only. */
struct tmbus_board_query {
    int list;               /* enum tmbus_board_list */
    unsigned limit;         /* items in the page: 0 for 100, at most TMBUS_BOARD_PAGE_MAX */
    const char *after;      /* tmbus_board_next of the previous page, or NULL to start */
    const uint8_t *need_id; /* needs: that need; offers: those answering it (TMBUS_ID_BYTES) */
    int need_status;        /* needs in it; offers whose need is in it (tmbus_need_status) */
    const int *statuses;    /* the items' own: tmbus_need_status or tmbus_offer_status values */
    size_t n_statuses;
    const int *categories; /* needs only: tmbus_category values */
    size_t n_categories;
    const int *priorities; /* needs only: tmbus_priority values */
    size_t n_priorities;
    const char *const *members; /* owners (needs) or donors (offers): member ids */
    size_t n_members;
    int64_t updated_since; /* unix seconds: only items the node changed at or after it */
    const char *id_prefix; /* only ids whose hex starts with these 1..64 hex digits, or NULL */
};

/* Asks the node for one page of needs or offers this client may read,
 * ordered by id (the node applies the client's clearance before it
 * counts). On TMBUS_OK *out is a board holding only that list's items, the
 * caller's to free with tmbus_board_free, and tmbus_board_next(*out) says
 * where the next page starts. Paging never skips or repeats an item that
 * existed when the first page was asked, whatever is posted meanwhile.
 * TMBUS_EINVALID for a bad query (the node's reason in tmbus_last_error,
 * also for a cursor it did not give). Blocks up to timeout_ms. */
TMBUS_EXPORT TMBUS_NODISCARD int tmbus_board_query(struct tmbus *h,
                                                   const struct tmbus_board_query *q,
                                                   int timeout_ms, struct tmbus_board **out);

/* The cursor of the page after b (pass it as tmbus_board_query.after), or
 * "" when b was the last page (or came from tmbus_board). Lives as long as
 * b; at most TMBUS_BOARD_CURSOR_BYTES with its NUL. */
TMBUS_EXPORT const char *tmbus_board_next(const struct tmbus_board *b);

/* Asks the node for every need and offer this client may read: only need
 * need_id (TMBUS_ID_BYTES) and its offers when need_id is not NULL; only
 * needs in status need_status (a tmbus_need_status name) when it is not
 * NULL. Reads page after page into one board, so its memory grows with
 * the board: for large boards, page with tmbus_board_query instead. On
 * TMBUS_OK *out is the caller's to free with tmbus_board_free. Blocks up
 * to timeout_ms for each page. */
TMBUS_EXPORT TMBUS_NODISCARD int tmbus_board(struct tmbus *h, const uint8_t *need_id,
                                             const char *need_status, int timeout_ms,
                                             struct tmbus_board **out);
TMBUS_EXPORT size_t tmbus_board_need_count(const struct tmbus_board *b);
/* i < tmbus_board_need_count, else NULL. */
TMBUS_EXPORT const struct tmbus_board_need *tmbus_board_need_at(const struct tmbus_board *b,
                                                                size_t i);
TMBUS_EXPORT size_t tmbus_board_offer_count(const struct tmbus_board *b);
/* i < tmbus_board_offer_count, else NULL. */
TMBUS_EXPORT const struct tmbus_board_offer *tmbus_board_offer_at(const struct tmbus_board *b,
                                                                  size_t i);
/* Wipes, frees, sets *bp to NULL. Accepts NULL. */
TMBUS_EXPORT void tmbus_board_free(struct tmbus_board **bp);

/* ---- reports: valid until tmbus_report_free ------------------------------ */

struct tmbus_report; /* the board's reports as the node sees them, for this client */

/* An open (or partially covered) need. Strings and id live as long as the
 * report. */
struct tmbus_report_need {
    const uint8_t *id; /* TMBUS_ID_BYTES */
    const char *owner;
    const char *title;
    const char *status;   /* "open" or "partially_covered" */
    int priority;         /* enum tmbus_priority */
    const char *deadline; /* "YYYY-MM-DD" or "" */
    bool is_overdue;      /* the deadline is before today (UTC) */
    uint64_t quantity;
    uint64_t accepted_quantity;
    uint64_t value_cents;
    bool is_author_revoked; /* the owner is no member of the roster in force */
};

/* Which totals: per donor, per category or per sector (of the need). */
enum tmbus_report_by {
    TMBUS_REPORT_BY_DONOR = 1,
    TMBUS_REPORT_BY_CATEGORY = 2,
    TMBUS_REPORT_BY_SECTOR = 3,
};

/* One row of totals in EUR cents: pledged counts offers accepted,
 * delivered or confirmed, delivered counts confirmed ones. key is the
 * donor's member id, the category's or sector's name (tmbus_category_name,
 * tmbus_sector_name; "unknown" for a code this library does not know), or
 * "total"; it lives as long as the report. */
struct tmbus_report_total {
    const char *key;
    uint64_t pledged_cents;
    uint64_t delivered_cents;
};

/* Asks the node for the board's reports (open needs, and pledged and
 * delivered value per donor, category and sector) through this client's
 * clearance: needs and offers above it, and offers to needs above it, do
 * not count. Open needs come by priority (critical first), then deadline
 * (none last); totals sorted by key's code or member id. On TMBUS_OK *out
 * is the caller's to free with tmbus_report_free. Blocks up to timeout_ms. */
TMBUS_EXPORT TMBUS_NODISCARD int tmbus_report(struct tmbus *h, int timeout_ms,
                                              struct tmbus_report **out);
/* The open needs the report lists: the first 1,000 in its order. */
TMBUS_EXPORT size_t tmbus_report_need_count(const struct tmbus_report *r);
/* Every open need the node counted (may exceed tmbus_report_need_count). */
TMBUS_EXPORT uint64_t tmbus_report_need_total(const struct tmbus_report *r);
/* i < tmbus_report_need_count, else NULL. */
TMBUS_EXPORT const struct tmbus_report_need *tmbus_report_need_at(const struct tmbus_report *r,
                                                                  size_t i);
TMBUS_EXPORT size_t tmbus_report_total_count(const struct tmbus_report *r, enum tmbus_report_by by);
/* Row i of the totals by by: i < tmbus_report_total_count(r, by), else
 * NULL. */
TMBUS_EXPORT const struct tmbus_report_total *
tmbus_report_total_at(const struct tmbus_report *r, enum tmbus_report_by by, size_t i);
/* The overall totals (key "total"); NULL only when r is NULL. */
TMBUS_EXPORT const struct tmbus_report_total *tmbus_report_overall(const struct tmbus_report *r);
/* Wipes, frees, sets *rp to NULL. Accepts NULL. */
TMBUS_EXPORT void tmbus_report_free(struct tmbus_report **rp);

/* ---- delivery state of own posts: valid until tmbus_delivery_state_free -- */

struct tmbus_delivery_state; /* where one post stands with each recipient */

/* One recipient. Strings live as long as the state and are never NULL. */
struct tmbus_delivery_entry {
    const char *member;
    const char *state;  /* "pending", "delivered" or "rejected" */
    const char *reason; /* why, for "rejected" (one line from its node); else "" */
    int64_t at;         /* unix seconds: posted (pending), else the receipt's time */
};

/* Asks the node how far its member's own post id (TMBUS_ID_BYTES; for a
 * TLP:RED post, any of its envelopes) got with each recipient, as their
 * nodes' receipts said. Only the client that posted it, or an admin
 * client, is told: TMBUS_ENOTFOUND when id is no post of this member, is
 * another client's post, or is above this client's clearance. On TMBUS_OK *out is the caller's to
 * free with tmbus_delivery_state_free. Blocks up to timeout_ms. */
TMBUS_EXPORT TMBUS_NODISCARD int tmbus_delivery_state(struct tmbus *h,
                                                      const uint8_t id[TMBUS_ID_BYTES],
                                                      int timeout_ms,
                                                      struct tmbus_delivery_state **out);
TMBUS_EXPORT size_t tmbus_delivery_state_count(const struct tmbus_delivery_state *s);
/* i < tmbus_delivery_state_count (ordered by member), else NULL. */
TMBUS_EXPORT const struct tmbus_delivery_entry *
tmbus_delivery_state_at(const struct tmbus_delivery_state *s, size_t i);
/* Frees, sets *sp to NULL. Accepts NULL. */
TMBUS_EXPORT void tmbus_delivery_state_free(struct tmbus_delivery_state **sp);

/* ---- the node's audit log (admin clients): valid until its _free -------- */

#define TMBUS_AUDIT_PAGE_MAX   100 /* entries in one page */
#define TMBUS_AUDIT_ENTRY_MAX  512 /* bytes of one encoded entry */
#define TMBUS_AUDIT_HASH_BYTES 32
#define TMBUS_AUDIT_PROOF_MAX  64 /* hashes in an inclusion proof */

/* One entry of the node's audit log (PROTOCOL.md §13). Strings live as
 * long as the page or proof and are never NULL. */
struct tmbus_audit_entry {
    uint64_t index;         /* its place in the log, from 0 */
    int64_t at_ms;          /* Unix milliseconds */
    const char *kind;       /* "envelope", "post", "ack", "query", "roster", "alarm", ... */
    const char *outcome;    /* "ok" or "refused" */
    const char *actor_kind; /* "node", "member" or "client" */
    const char *actor;      /* a member id or a client name */
    bool has_key;
    uint8_t key[32]; /* the client's CURVE key, when has_key */
    const char *origin, *peer;
    uint64_t seq;
    bool has_id;
    uint8_t id[TMBUS_ID_BYTES]; /* the envelope id, when has_id */
    const char *detail;         /* the reason of a refusal, or the request's name */
    const uint8_t *entry;       /* the entry as the log holds it: its leaf is H(0x00 || entry) */
    size_t entry_len;
};

struct tmbus_audit_page; /* a page of entries, newest first */

/* Asks the node for up to limit (1..TMBUS_AUDIT_PAGE_MAX; 0: 20) audit
 * entries with an index below before (0: the newest), newest first. Admin
 * clients only: TMBUS_EDENIED otherwise (the node logs, counts and records
 * the refusal). On TMBUS_OK *out is the caller's to free with
 * tmbus_audit_page_free. Blocks up to timeout_ms. */
TMBUS_EXPORT TMBUS_NODISCARD int tmbus_audit_list(struct tmbus *h, uint64_t before, uint32_t limit,
                                                  int timeout_ms, struct tmbus_audit_page **out);
TMBUS_EXPORT size_t tmbus_audit_page_count(const struct tmbus_audit_page *p);
/* i < tmbus_audit_page_count (newest first), else NULL. */
TMBUS_EXPORT const struct tmbus_audit_entry *tmbus_audit_page_at(const struct tmbus_audit_page *p,
                                                                 size_t i);
/* The entries in the log when the node answered. */
TMBUS_EXPORT uint64_t tmbus_audit_page_size(const struct tmbus_audit_page *p);
/* The before of the next (older) page; 0 when this page reached entry 0. */
TMBUS_EXPORT uint64_t tmbus_audit_page_next(const struct tmbus_audit_page *p);
/* Frees, sets *pp to NULL. Accepts NULL. */
TMBUS_EXPORT void tmbus_audit_page_free(struct tmbus_audit_page **pp);

/* Entry index's inclusion proof in the node's latest signed checkpoint,
 * checked here: is_verified says whether the entry's leaf and the proof
 * give the checkpoint's root. The checkpoint's signature is the member's
 * (checking it needs the roster: tmbus-admin audit verify does). */
struct tmbus_audit_proof {
    struct tmbus_audit_entry entry;
    const char *member;                   /* who signed the checkpoint */
    uint64_t size;                        /* entries the checkpoint covers */
    uint8_t root[TMBUS_AUDIT_HASH_BYTES]; /* its tree's root */
    int64_t at;                           /* Unix seconds, when it was signed */
    uint8_t sig[64];                      /* Ed25519 */
    size_t n_hashes;                      /* the proof, leaf side first */
    uint8_t hashes[TMBUS_AUDIT_PROOF_MAX][TMBUS_AUDIT_HASH_BYTES];
    bool is_verified;
};

/* Asks the node to prove that entry index is in its latest signed
 * checkpoint, and checks the proof. Admin clients only: TMBUS_EDENIED
 * otherwise; TMBUS_ENOTFOUND when no signed checkpoint covers the entry
 * yet. On TMBUS_OK (whether or not the proof verifies) *out is the
 * caller's to free with tmbus_audit_proof_free. Blocks up to timeout_ms. */
TMBUS_EXPORT TMBUS_NODISCARD int tmbus_audit_prove(struct tmbus *h, uint64_t index, int timeout_ms,
                                                   struct tmbus_audit_proof **out);
/* Frees, sets *pp to NULL. Accepts NULL. */
TMBUS_EXPORT void tmbus_audit_proof_free(struct tmbus_audit_proof **pp);
/* ---- the governance log: valid until tmbus_roster_history_free -------- */

struct tmbus_roster_history; /* the rosters a node has trusted */

/* One roster the node trusted. */
struct tmbus_roster_entry {
    uint64_t version;
    uint8_t hash[TMBUS_ID_BYTES]; /* BLAKE2b-256 of its Roster bytes: the next one's previous */
    int64_t trusted_at;           /* unix seconds when that node took it (its clock) */
    uint64_t size;                /* of the signed roster file, in bytes */
};

/* Publishes a roster update (a signed roster file's bytes, as
 * `tmbus-admin roster combine` writes it) through the node: the node
 * checks that it is the direct successor of the roster in force, signed
 * by the threshold of both governance sets and not expired, keeps it, puts
 * it in force and sends it to its peers. Only a client whose role on that
 * node is admin may publish: TMBUS_EDENIED otherwise. A refused update is
 * TMBUS_EINVALID with the node's reason in tmbus_last_error (threshold
 * not met, wrong version, unchained, expired, forked, ...). On TMBUS_OK
 * the update is committed on that node, and *out (when out is not NULL)
 * is its history, the caller's to free with tmbus_roster_history_free.
 * The update must fit a request (PROTOCOL.md 8.6). Blocks up to
 * timeout_ms. */
TMBUS_EXPORT TMBUS_NODISCARD int tmbus_roster_publish(struct tmbus *h, const void *roster,
                                                      size_t len, int timeout_ms,
                                                      struct tmbus_roster_history **out);
/* The rosters the node has trusted, by increasing version (at most the
 * newest 1,000); the last is the one in force. Any client may ask. On
 * TMBUS_OK *out is the caller's to free with tmbus_roster_history_free.
 * Blocks up to timeout_ms. */
TMBUS_EXPORT TMBUS_NODISCARD int tmbus_roster_history(struct tmbus *h, int timeout_ms,
                                                      struct tmbus_roster_history **out);
TMBUS_EXPORT size_t tmbus_roster_history_count(const struct tmbus_roster_history *rh);
/* i < tmbus_roster_history_count, else NULL. */
TMBUS_EXPORT const struct tmbus_roster_entry *
tmbus_roster_history_at(const struct tmbus_roster_history *rh, size_t i);
/* Frees, sets *rhp to NULL. Accepts NULL. */
TMBUS_EXPORT void tmbus_roster_history_free(struct tmbus_roster_history **rhp);

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

/* The payload decoded, once, when the delivery arrived: each accessor
 * below returns a view that lives as long as d, or NULL when d is of
 * another kind. */

/* "need", "offer", "need_update", "offer_update", "receipt", or NULL when
 * the payload is not one this library can read. */
TMBUS_EXPORT const char *tmbus_delivery_kind(const struct tmbus_delivery *d);

/* The need or offer a delivery of kind "need" or "offer" carries. */
TMBUS_EXPORT const struct tmbus_need *tmbus_delivery_need(const struct tmbus_delivery *d);
TMBUS_EXPORT const struct tmbus_offer *tmbus_delivery_offer(const struct tmbus_delivery *d);

struct tmbus_need_change {
    const uint8_t *need_id; /* TMBUS_ID_BYTES, or NULL if the sender sent no valid id */
    int action;             /* enum tmbus_need_action */
    bool has_edit;          /* for TMBUS_NEED_EDIT: edit holds the new values */
    struct tmbus_need edit; /* fields set are changed; 0 / "" are not */
    const char *reason;
};
/* The change a delivery of kind "need_update" carries. */
TMBUS_EXPORT const struct tmbus_need_change *
tmbus_delivery_need_update(const struct tmbus_delivery *d);

struct tmbus_offer_change {
    const uint8_t *offer_id; /* TMBUS_ID_BYTES, or NULL if the sender sent no valid id */
    int action;              /* enum tmbus_offer_action */
    const char *reason;
};
/* The change a delivery of kind "offer_update" carries. */
TMBUS_EXPORT const struct tmbus_offer_change *
tmbus_delivery_offer_update(const struct tmbus_delivery *d);

/* A receipt is a recipient's node's word about one or more of our posts:
 * one entry per envelope, each that it was received or rejected. */
struct tmbus_receipt {
    const uint8_t *envelope_id; /* TMBUS_ID_BYTES, or NULL if the sender sent no valid id */
    int state;                  /* enum tmbus_receipt_state */
    const char *reason;         /* for TMBUS_RECEIPT_REJECTED */
};
/* The number of entries of a receipt delivery; 0 for another kind. */
TMBUS_EXPORT size_t tmbus_delivery_receipt_count(const struct tmbus_delivery *d);
/* Entry i (below tmbus_delivery_receipt_count) of a receipt delivery;
 * NULL for another kind or i out of range. */
TMBUS_EXPORT const struct tmbus_receipt *tmbus_delivery_receipt_at(const struct tmbus_delivery *d,
                                                                   size_t i);

/* ---- status: valid until tmbus_status_free ---------------------------- */

TMBUS_EXPORT const char *tmbus_status_member(const struct tmbus_status *s);
TMBUS_EXPORT uint64_t tmbus_status_roster_version(const struct tmbus_status *s);
/* The node's software version ("0.2.0"); "" from a node that does not
 * say. */
TMBUS_EXPORT const char *tmbus_status_version(const struct tmbus_status *s);
/* Whole seconds since the node began serving clients (0 from a node that
 * does not say). */
TMBUS_EXPORT uint64_t tmbus_status_uptime_s(const struct tmbus_status *s);
/* True while the node cannot commit for want of disk space: it refuses
 * posts (TMBUS_EINTERNAL, "the node's disk is full") until it can again,
 * by itself. False from a node that does not say. */
TMBUS_EXPORT bool tmbus_status_store_full(const struct tmbus_status *s);
/* True while the node recovers its own logs from its peers (its data
 * directory was lost or restored from a backup, or it has just started and
 * waits to hear its peers): it refuses posts (TMBUS_EUNAVAILABLE) until it
 * holds them, by itself. False from a node that does not say. */
TMBUS_EXPORT bool tmbus_status_recovering(const struct tmbus_status *s);
/* The epoch of the node's audit log: 0 until the node's log was first
 * started again after its store lost what it had signed (PROTOCOL.md
 * 13.2), then how many times that happened. 0 from a node that does not
 * say. */
TMBUS_EXPORT uint64_t tmbus_status_audit_epoch(const struct tmbus_status *s);
/* Retention: envelopes whose ciphertext the node dropped under its
 * [retention] rules, and the bytes that freed (0 and 0 from a node that
 * does not prune, or does not say). */
TMBUS_EXPORT uint64_t tmbus_status_retention_pruned(const struct tmbus_status *s);
TMBUS_EXPORT uint64_t tmbus_status_retention_bytes_freed(const struct tmbus_status *s);
/* After a rotation of the member's keys: the key generation its node
 * replaced (0 when none), and for each i < tmbus_status_key_switch_count,
 * how far that generation signed the member's log i: log_peer "" for its
 * relayed log, else the peer of a direct log, and the last seq. These are
 * the signed_up_to of the roster that retires the generation (the
 * "last_seq" line of tmbus-admin's roster source). log_peer lives as long
 * as the status. Returns TMBUS_OK, or TMBUS_EINVALID when i is out of range. */
TMBUS_EXPORT unsigned tmbus_status_key_switch_id(const struct tmbus_status *s);
TMBUS_EXPORT size_t tmbus_status_key_switch_count(const struct tmbus_status *s);
TMBUS_EXPORT TMBUS_NODISCARD int tmbus_status_key_switch_head(const struct tmbus_status *s,
                                                              size_t i, const char **log_peer,
                                                              uint64_t *last_seq);
/* Envelopes held in all logs, and the highest inbox delivery number. */
TMBUS_EXPORT uint64_t tmbus_status_envelopes(const struct tmbus_status *s);
TMBUS_EXPORT uint64_t tmbus_status_inbox(const struct tmbus_status *s);
/* The node's board digest (TMBUS_ID_BYTES of BLAKE2b): equal on every
 * member that can read the same board messages, whatever order they came
 * in. NULL from a node too old to send one. */
TMBUS_EXPORT const uint8_t *tmbus_status_board_digest(const struct tmbus_status *s);

/* One of the node's counters, e.g. "delivered". The name lives as long
 * as the status. */
struct tmbus_counter {
    const char *name;
    uint64_t value;
};
TMBUS_EXPORT size_t tmbus_status_counter_count(const struct tmbus_status *s);
/* i < tmbus_status_counter_count, else NULL. */
TMBUS_EXPORT const struct tmbus_counter *tmbus_status_counter_at(const struct tmbus_status *s,
                                                                 size_t i);

/* One peer link as the node sees it. Strings live as long as the status. */
struct tmbus_peer {
    const char *member;
    const char *state; /* "down", "connecting", "up" */
    int64_t silent_ms; /* since anything was heard; -1: never */
    uint64_t lag;      /* envelopes it lacks that we hold */
    uint64_t behind;   /* envelopes we lack that it holds */
};
TMBUS_EXPORT size_t tmbus_status_peer_count(const struct tmbus_status *s);
/* i < tmbus_status_peer_count, else NULL. */
TMBUS_EXPORT const struct tmbus_peer *tmbus_status_peer_at(const struct tmbus_status *s, size_t i);

/* Frees, sets *sp to NULL. Accepts NULL. */
TMBUS_EXPORT void tmbus_status_free(struct tmbus_status **sp);

#ifdef __cplusplus
}
#endif

#endif
