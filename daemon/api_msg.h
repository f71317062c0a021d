/*
 * api_msg: the decoder of a client's request (proto/api.proto's Request),
 * a pure function from bytes to a checked request, so that it can be
 * fuzzed and tested without a socket. It checks the size, the framing
 * (unknown fields on the request and on its part), the id and the kind;
 * what a request asks for is judged by the api, never here. Never logs.
 */
#ifndef TMBUS_API_MSG_H
#define TMBUS_API_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.pb-c.h"
#include "envelope.h"

/* A Post carries at most ENVELOPE_MAX_PAYLOAD bytes of payload; the rest
 * of the request (recipients, framing) fits easily in 64 KiB. */
#define API_MSG_MAX_REQUEST (ENVELOPE_MAX_PAYLOAD + 64 * 1024)

enum api_msg_kind {
    API_MSG_POST = 1,
    API_MSG_SUBSCRIBE,
    API_MSG_ACK,
    API_MSG_STATUS,
    API_MSG_BOARD,
    API_MSG_REPORT,
    API_MSG_DELIVERY,
    API_MSG_AUDIT,
    API_MSG_ROSTER,
};

/* Why bytes were refused, in the order they are checked. */
enum api_msg_fault {
    API_MSG_OK = 0,
    API_MSG_E_SIZE,          /* over API_MSG_MAX_REQUEST */
    API_MSG_E_MALFORMED,     /* not a Request */
    API_MSG_E_UNKNOWN_FIELD, /* on the Request or on its part */
    API_MSG_E_NO_ID,         /* id 0 */
    API_MSG_E_NO_KIND,       /* a Request of no known kind */
};

/* A decoded request. Its parts point into the unpacked Request and live as
 * long as it; release with api_msg_clear. */
struct api_msg {
    uint64_t id; /* set once the bytes were a Request, even when refused */
    enum api_msg_kind kind;
    const Tmbus__Api__Post *post;
    const Tmbus__Api__Subscribe *subscribe;
    const Tmbus__Api__Ack *ack;
    const Tmbus__Api__BoardQuery *board;
    const Tmbus__Api__DeliveryQuery *delivery;
    const Tmbus__Api__AuditQuery *audit;
    const Tmbus__Api__RosterRequest *roster;
    void *pb; /* the unpacked Request, private to api_msg.c */
};

/*
 * Decodes buf[0..len) into *out. Returns 0, or -1 with *fault saying why
 * (out->id is the request's id from API_MSG_E_UNKNOWN_FIELD on, so that the
 * refusal can answer it). Never blocks, never logs. Release *out with
 * api_msg_clear after either result.
 */
int api_msg_decode(const uint8_t *buf, size_t len, struct api_msg *out, enum api_msg_fault *fault)
    __attribute__((warn_unused_result));

/* A board query's pages (PROTOCOL.md §8.5): items per page by default and
 * at most, the bytes of items after which a page stops (so that a reply
 * stays under the client's 1 MiB whatever the descriptions' sizes: one
 * item is at most a payload), values in each filter list, and the cursor:
 * a version byte, the list and the id of the page's last item. */
#define API_BOARD_PAGE_DEFAULT 100
#define API_BOARD_PAGE_MAX     1000
#define API_BOARD_PAGE_BYTES   (512 * 1024)
#define API_BOARD_FILTER_MAX   16
#define API_BOARD_CURSOR_BYTES (2 + ENVELOPE_HASH_BYTES)
#define API_BOARD_CURSOR_V1    1

enum api_board_list { API_BOARD_BOTH = 0, API_BOARD_NEEDS = 1, API_BOARD_OFFERS = 2 };

/* A board query, checked: codes instead of names, the cursor opened.
 * members point into the decoded request and live as long as it. */
struct api_board_query {
    enum api_board_list list;
    const uint8_t *need_id; /* ENVELOPE_HASH_BYTES, or NULL */
    int need_status;        /* -1 for any */
    size_t limit;           /* 1..API_BOARD_PAGE_MAX */
    bool has_after;
    uint8_t after[ENVELOPE_HASH_BYTES];
    int statuses[API_BOARD_FILTER_MAX]; /* need or offer status codes, by list */
    size_t n_statuses;
    uint32_t categories[API_BOARD_FILTER_MAX];
    size_t n_categories;
    uint32_t priorities[API_BOARD_FILTER_MAX];
    size_t n_priorities;
    const char *members[API_BOARD_FILTER_MAX];
    size_t n_members;
    int64_t updated_since;
    bool has_prefix; /* ids in [id_from, id_to), or from id_from on when !has_to */
    bool has_to;
    uint8_t id_from[ENVELOPE_HASH_BYTES];
    uint8_t id_to[ENVELOPE_HASH_BYTES];
};

/*
 * Checks a decoded BoardQuery and fills *out. Returns 0, or -1 with a
 * one-line reason in why (for CODE_INVALID): an unknown list, a need_id
 * not empty or 32 bytes, an unknown status, category or priority, a
 * member that is not a member id, an id_prefix not 1..64 hex digits, a
 * list over API_BOARD_FILTER_MAX, a
 * limit over API_BOARD_PAGE_MAX, a negative updated_since, a cursor that
 * is not one this node gives for that list, or filters on the original
 * (BOARD_LIST_BOTH) query. Pure: never blocks, never logs.
 */
int api_msg_board_query(const Tmbus__Api__BoardQuery *q, struct api_board_query *out, char *why,
                        size_t why_size) __attribute__((warn_unused_result));

/* Writes the cursor after the item id of list into out
 * (API_BOARD_CURSOR_BYTES). */
void api_msg_board_cursor(enum api_board_list list, const uint8_t *id,
                          uint8_t out[API_BOARD_CURSOR_BYTES]);

/* An audit query's pages (PROTOCOL.md §8.5): entries per page by default
 * and at most. A page of the most is far under the client's message
 * limit: an entry is at most 512 bytes, twice that decoded. */
#define API_AUDIT_PAGE_DEFAULT 20
#define API_AUDIT_PAGE_MAX     100

/* Frees what api_msg_decode allocated and zeroes *m. Accepts a zeroed m. */
void api_msg_clear(struct api_msg *m);

/* True when a protobuf message carries fields this node does not know. */
bool api_msg_has_unknown(const ProtobufCMessage *m);

#endif
