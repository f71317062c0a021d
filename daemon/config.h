/*
 * config: tmbusd's INI configuration, parsed whole into an immutable
 * struct config. One table in config.c lists every option with its type,
 * default, bounds and whether SIGHUP may change it. Holds paths and public
 * keys only, never secrets. A reload parses a fresh config and swaps it in
 * whole, or keeps the old one.
 */
#ifndef TMBUS_CONFIG_H
#define TMBUS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "keys.h"
#include "log.h"
#include "util.h"

/* The exit status of `tmbusd -n` (and of a start) on a bad configuration:
 * sysexits' EX_CONFIG. */
#define CONFIG_EX_CONFIG 78

#define CONFIG_CLIENT_NAME_MAX WIRE_CLIENT_NAME_MAX
#define CONFIG_MAX_CLIENTS     1024
#define CONFIG_MAX_PEERS       256
#define CONFIG_ERR_MAX         512

/* What a client of this node may do; each role may do all the one before
 * it may. The api applies them (api_client_may_post, api_audit.c). Admin
 * is the only role that reads the audit log, and will be the only one
 * allowed to publish roster updates through the client socket. */
enum config_client_role {
    CONFIG_ROLE_READER = 1, /* subscribe, ack, status, board, report, delivery */
    CONFIG_ROLE_POSTER = 2, /* reader + post */
    CONFIG_ROLE_ADMIN = 3,  /* poster + the audit log (+ roster updates, not offered yet) */
};

/* Highest TLP a client may see; order matters (clear < … < red). */
enum config_tlp {
    CONFIG_TLP_CLEAR = 1,
    CONFIG_TLP_GREEN = 2,
    CONFIG_TLP_AMBER = 3,
    CONFIG_TLP_AMBER_STRICT = 4,
    CONFIG_TLP_RED = 5,
};

/* One client allowed on the client socket ([client NAME] section). */
struct config_client {
    char name[CONFIG_CLIENT_NAME_MAX + 1];
    uint8_t transport_pk[KEYS_PUBLIC_BYTES]; /* CURVE public key */
    enum config_client_role role;
    enum config_tlp clearance;
};

struct config {
    char *path; /* the file this came from */

    /* [node] */
    char member[UTIL_MEMBER_ID_MAX + 1];
    char *coalition;
    char *keys;          /* member secret key file */
    char *previous_keys; /* the key file before a rotation, for the store; NULL: none */
    char *next_keys;     /* the key file a rotation moves to (node.c); NULL: none */
    char *roster;        /* signed roster file */
    char *data_dir;      /* SQLite database and state */
    char *peer_listen;   /* e.g. tcp://0.0.0.0:7101 ("" : do not listen) */
    char *client_listen; /* e.g. tcp://127.0.0.1:7102 */
    enum log_level log_level;

    /* [peers] */
    bool dial_all; /* dial every roster member with an endpoint */
    size_t n_dial; /* when !dial_all: the members to dial */
    char (*dial)[UTIL_MEMBER_ID_MAX + 1];
    size_t n_dial_only; /* members that only dial us: never dialled */
    char (*dial_only)[UTIL_MEMBER_ID_MAX + 1];
    size_t n_endpoint_overrides; /* "endpoint.EE = tcp://…": where to dial EE */
    char (*override_member)[UTIL_MEMBER_ID_MAX + 1];
    char **override_endpoint;

    /* [limits] */
    uint32_t batch_max;       /* messages read per socket per loop round */
    uint32_t credit_window;   /* envelopes in flight per peer link */
    uint32_t peer_round_max;  /* envelopes' worth read from one peer per loop round */
    uint32_t batch_envelopes; /* envelopes in one batch sent to a peer */
    uint32_t peer_round_ms;   /* ms a round reads peers' messages; 0: no limit */
    uint32_t heartbeat_ms;
    uint32_t peer_timeout_ms;  /* silence before a link is declared down */
    uint32_t reconnect_max_ms; /* backoff ceiling */
    uint32_t relay_delay_ms;   /* a relay's wait per rank before it serves a peer; 0: at once */
    uint32_t recover_wait_ms;  /* at start, the longest wait for unheard peers before posts */
    uint32_t link_log_burst;   /* a link's up/down cycles logged a minute; 0: all */
    /* [http] */
    char *http_listen;           /* "ADDRESS:PORT" for /metrics and /healthz; "": off */
    bool http_allow_remote;      /* may http_listen be other than loopback? */
    uint32_t health_grace_ms;    /* how long a link may be down before /healthz says so */
    uint32_t health_min_free_mb; /* free space under data_dir below which /healthz fails */

    /* [retention]: 0 days turns a rule off */
    uint32_t retention_after_expiry; /* days after an envelope's expiry before pruning */
    uint32_t retention_after_closed; /* days after a need closed or was withdrawn */
    uint32_t retention_day_s;        /* seconds in one of those days (86400) */
    uint32_t retention_batch;        /* envelopes examined per retention round */
    uint32_t retention_interval_ms;  /* between two retention rounds */

    /* [client NAME] sections */
    size_t n_clients;
    struct config_client *clients;
};

/* Parses path. On failure returns NULL and writes "file:line: what is
 * wrong" (or "file: what is wrong") into err. Checks types, bounds,
 * required options, that member ids are ids, and that no option or client
 * appears twice; does not open the files it names. Relative paths in the
 * file (keys, roster, data_dir) are taken relative to the file's directory. */
struct config *config_load(const char *path, char *err, size_t errlen);

/* Whether a running node may swap old for new on SIGHUP: true unless new
 * changes an option that only a restart may change (member, coalition,
 * keys, data_dir, the listen endpoints). On false, writes which option
 * changed into err. Log level, roster path, [peers], [limits] and clients
 * may change. */
bool config_reload_allowed(const struct config *old, const struct config *new, char *err,
                           size_t errlen) __attribute__((warn_unused_result));

/* Frees, sets *cp to NULL. Accepts NULL. */
void config_free(struct config **cp);

/* The client whose CURVE key is pk, or NULL. */
const struct config_client *config_find_client(const struct config *c, const uint8_t *pk);

/* Parses "IPV4:PORT" or "[IPV6]:PORT" (numeric only, port 0..65535; 0
 * lets the kernel choose) into *out, as [http] listen is written. Returns
 * 0, or -1 when text is not such an address. */
int config_parse_address(const char *text, struct sockaddr_storage *out);

/* Whether a parsed address is a loopback one (127.0.0.0/8 or ::1). */
bool config_is_loopback(const struct sockaddr_storage *a);

const char *config_role_name(enum config_client_role role);
const char *config_tlp_name(enum config_tlp tlp);

#endif
