/*
 * fedclient: acting as a member's own systems in integration tests, through
 * libtmbus exactly as a program would. Builds need payloads that carry a
 * test's tag and a message index, and collects deliveries so that a test
 * can check what arrived: how many, in which order, and whether twice.
 * Test code only.
 */
#ifndef TMBUS_FEDCLIENT_H
#define TMBUS_FEDCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fed.h"
#include "tmbus.h"

#define FC_CONNECT_MS  10000 /* tmbus_connect's patience */
#define FC_CALL_MS     10000 /* a post's or an ack's patience */
#define FC_TAG_MAX     64
#define FC_PAYLOAD_MAX 1024

/* TLP labels as in proto/payload.proto. */
enum fc_tlp {
    FC_TLP_CLEAR = 1,
    FC_TLP_GREEN = 2,
    FC_TLP_AMBER = 3,
    FC_TLP_AMBER_STRICT = 4,
    FC_TLP_RED = 5,
};

/* Connects node i's configured client to node i. Returns NULL (reason on
 * stderr) on failure. */
struct tmbus *fc_connect(struct fed *f, size_t i);

/* Writes a serialized Payload{need} labelled tlp whose title is
 * "TAG #INDEX" into buf. tag must be distinctive (a test greps stores and
 * logs for it). Returns the length, or 0 when buf is too small. */
size_t fc_need(uint8_t *buf, size_t size, enum fc_tlp tlp, const char *tag, uint32_t index);

/* Makes a tag no file on the machine holds by chance: prefix and 12 random
 * hex digits. */
void fc_tag(char *out, size_t size, const char *prefix);

/* Posts need "TAG #index" labelled tlp from the client h to recipients
 * (n == 0: to all). Returns tmbus_post's result; id (may be NULL) gets the
 * envelope id. */
int fc_post(struct tmbus *h, enum fc_tlp tlp, const char *tag, uint32_t index,
            const char *const *recipients, size_t n, uint8_t id[TMBUS_ID_BYTES]);

/* Asks h's node for its status and sets *value to its counter name, or 0
 * when the node never counted it. Blocks up to FC_CALL_MS. Returns
 * tmbus_status's result, or TMBUS_EPROTOCOL when a listed counter cannot be
 * read; *value is 0 unless TMBUS_OK. */
int fc_counter(struct tmbus *h, const char *name, uint64_t *value);

/* Asks h's node for its status and sets *n to the envelopes it holds.
 * Blocks up to FC_CALL_MS. Returns tmbus_status's result; *n is 0 unless
 * TMBUS_OK. */
int fc_envelopes(struct tmbus *h, uint64_t *n);

/* Posts, from h, Payload{receipt{{id, delivered}}} to member to, as a
 * member's program might try to: only a node writes receipts, so a node
 * refuses it. id is TMBUS_ID_BYTES long. Blocks up to FC_CALL_MS. Returns
 * tmbus_post's result. */
int fc_post_receipt(struct tmbus *h, const uint8_t *id, const char *to);

/* One delivery as a test remembers it. */
struct fc_got {
    uint64_t number;
    char sender[TMBUS_MEMBER_MAX + 1];
    char log_peer[TMBUS_MEMBER_MAX + 1];
    uint64_t seq;
    uint8_t id[TMBUS_ID_BYTES];
    bool is_tagged; /* a need whose title starts with the collector's tag */
    uint32_t index; /* its #index when is_tagged */
};

/* Deliveries collected from one client, in the order they came. */
struct fc_inbox {
    char tag[FC_TAG_MAX + 1];
    struct fc_got *got;
    size_t n, cap;
    size_t n_tagged;
    uint64_t acked; /* the last number acked, and confirmed */
};

void fc_inbox_init(struct fc_inbox *in, const char *tag);
void fc_inbox_free(struct fc_inbox *in);

/* Receives from h into in until it holds want tagged deliveries, or
 * idle_ms pass without a new one. Acks (and waits for the ack) after every
 * ack_every deliveries and once at the end; ack_every == 0 never acks.
 * Returns the number of tagged deliveries held. */
size_t fc_receive(struct tmbus *h, struct fc_inbox *in, size_t want, int idle_ms,
                  unsigned ack_every);

/* Waits quiet_ms and returns how many deliveries arrived meanwhile (they
 * are added to in, unacked). */
size_t fc_expect_quiet(struct tmbus *h, struct fc_inbox *in, int quiet_ms);

/* Checks the invariants of what in holds: delivery numbers strictly
 * increase, no envelope id twice, and per (sender, log) the seq strictly
 * increases. Returns 0, or -1 with the first violation on stderr. */
int fc_check_order(const struct fc_inbox *in);

/* The tagged delivery with index, or NULL. */
const struct fc_got *fc_find_index(const struct fc_inbox *in, uint32_t index);

#endif
