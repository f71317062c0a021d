/*
 * domain: the names of tmbus's enums and the rules for the names of its
 * parties, shared by the node, the client library and the tools so that a
 * sector or a member id is spelled and checked the same everywhere. Each
 * enum's values are those of proto/payload.proto and proto/api.proto;
 * value 0 ("unspecified") has no name. Pure and thread-safe: constant
 * tables, no allocation, no I/O.
 */
#ifndef TMBUS_DOMAIN_H
#define TMBUS_DOMAIN_H

#include <stdbool.h>
#include <stddef.h>

/* The enums that have names. */
enum domain_enum {
    DOMAIN_TLP,           /* tmbus.payload.Tlp: "clear" .. "red" */
    DOMAIN_SECTOR,        /* tmbus.payload.Sector: "energy" .. "other" */
    DOMAIN_CATEGORY,      /* tmbus.payload.Category: "software-licences" .. "other" */
    DOMAIN_PRIORITY,      /* tmbus.payload.Priority: "critical" .. "low" */
    DOMAIN_NEED_STATUS,   /* a need's status (api.proto): "open" .. "withdrawn" */
    DOMAIN_OFFER_STATUS,  /* an offer's status (api.proto): "proposed" .. "withdrawn" */
    DOMAIN_NEED_ACTION,   /* NeedUpdate.Action: "edit", "close", "withdraw" */
    DOMAIN_OFFER_ACTION,  /* OfferUpdate.Action: "accept" .. "withdraw" */
    DOMAIN_RECEIPT_STATE, /* Receipt.State: "delivered", "rejected" */
    DOMAIN_KIND,          /* Payload's kind_case: "need" .. "need_share" */
    DOMAIN_ENUM_COUNT
};

/* The name of value in e, e.g. "amber+strict"; NULL for 0, for a value out
 * of range, or for an unknown e. The string is static. */
const char *domain_name(enum domain_enum e, int value);

/* The value named name in e. Case-insensitive, '-' and '_' alike (so that
 * "Partially-Covered" and "software_licences" are found); a TLP may also
 * be written "TLP:AMBER". Returns 0 with *out set, or -1 (unknown name,
 * NULL argument). */
int domain_parse(enum domain_enum e, const char *name, int *out)
    __attribute__((warn_unused_result));

/* Every name of e, comma-separated, for messages: "critical, high, medium,
 * low". Static; "" for an unknown e. */
const char *domain_names(enum domain_enum e);

/* The highest value of e: its values are 1..domain_max(e). 0 for an
 * unknown e. */
int domain_max(enum domain_enum e);

/* True if the len bytes at s are a member id: 1..WIRE_MEMBER_ID_MAX of
 * A-Z a-z 0-9 _ -. Member ids become file names and log fields, so the
 * charset is deliberately narrow. */
bool domain_is_member_id(const char *s, size_t len);

/* True if s is a word: 1..max of A-Z a-z 0-9 _ . - (coalition ids, with
 * max WIRE_COALITION_MAX; roster group names). */
bool domain_is_word(const char *s, size_t max);

/* True if s is a client name: 1..WIRE_CLIENT_NAME_MAX of A-Z a-z 0-9 _ . -
 * not starting with '.' (a client name becomes a key file name, and a
 * leading '.' would hide it or make it "." or ".."). */
bool domain_is_client_name(const char *s);

/* Enough for any reason domain_check_endpoint writes. */
#define DOMAIN_WHY_MAX 128

/* Checks a ZeroMQ endpoint a node binds or dials: tcp://HOST:PORT (HOST a
 * name or IPv4 address of A-Z a-z 0-9 . - _, "*", or an IPv6 address in
 * brackets; PORT 1..65535 in decimal), ipc://PATH or inproc://NAME, with
 * no space or control character. Any other transport, an empty host or
 * path, and a port out of range (libzmq would quietly bind a random one)
 * are refused. Returns 0, or -1 with a one-line reason in why. */
int domain_check_endpoint(const char *s, char *why, size_t why_size);

#endif
