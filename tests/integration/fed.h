/*
 * fed: a federation of real tmbusd processes for integration tests. Makes a
 * temporary directory with member, governor and client keys (through
 * tmbus-admin, as an operator would), a roster signed by two governors,
 * one configuration per node on kernel-chosen loopback ports, and starts,
 * stops and kills the nodes. Nothing here mocks a part a user would run:
 * the daemon, ZeroMQ, SQLite and libsodium are the real ones. Test code
 * only; every helper either succeeds or reports why on stderr.
 */
#ifndef TMBUS_FED_H
#define TMBUS_FED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "keys.h"

#define FED_MAX_MEMBERS  24
#define FED_PATH_MAX     512
#define FED_COALITION    "tmbus-test"
#define FED_START_MS     15000 /* longest wait for "member X running" */
#define FED_STOP_MS      15000 /* longest wait for a clean exit after SIGTERM */
#define FED_MAX_LIMITS   10    /* [limits] options one node may override */
#define FED_DIAL_MAX     256
#define FED_EXTRA_MAX    1024 /* configuration text fed_set_extra appends */
#define FED_ENDPOINT_MAX 128  /* an endpoint's text, with its NUL */
#define FED_ENV_MAX      4    /* environment variables fed_set_env may set */

struct fed;

/* Makes a federation of n_nodes members that run a node (ids[i], each with
 * a peer and a client endpoint on kernel-chosen ports of 127.0.0.1 and one
 * client "ID-client", role poster, clearance red) plus n_extra members that
 * are in the roster without a node and without an endpoint: a test plays
 * them itself with their member keys. The first two members hold the
 * governance keys (threshold 2, or 1 with a single member). The first member
 * is the beneficiary, every other a donor. Every node dials
 * every other ("dial = all") until a topology helper says otherwise.
 * Starts nothing. Returns NULL on failure, with the reason on stderr. */
struct fed *fed_new_with_extra(size_t n_nodes, const char *const ids[], size_t n_extra,
                               const char *const extra_ids[]);

/* fed_new without extra members, giving node i the roster role roles[i]
 * ("beneficiary", "donor", "observer", "coordinator"; NULL or a NULL entry
 * keeps the default: the first member is the beneficiary, the rest are
 * donors). */
struct fed *fed_new_with_roles(size_t n_nodes, const char *const ids[], const char *const roles[]);

/* fed_new_with_extra without extra members. */
struct fed *fed_new(size_t n_nodes, const char *const ids[]);

/* Marks the test as passed: fed_free then removes the directory. */
void fed_pass(struct fed *f);

/* Kills every node still running (SIGKILL; SIGTERM and fed_stop under
 * fed_wrapper, so that a wrapper's exit checks run) and removes the
 * directory if
 * fed_pass was called and TMBUS_KEEP is not set in the environment; else
 * keeps it and prints its path and the tail of every node's log. Accepts
 * NULL and sets *fp to NULL. */
void fed_free(struct fed **fp);

/* A cmocka teardown for a test whose *state holds the federation it made:
 * fed_free(state). Always returns 0. */
int fed_teardown(void **state);

/* ---- what the federation is made of ------------------------------------ */

/* Members are numbered nodes first (0 .. n_nodes - 1), then extras. */
size_t fed_count(const struct fed *f);
size_t fed_node_count(const struct fed *f);
/* Index of member id; aborts when there is none (a test bug). */
size_t fed_index(const struct fed *f, const char *id);

const char *fed_dir(const struct fed *f);
const char *fed_roster_path(const struct fed *f);
const char *fed_id(const struct fed *f, size_t i);
/* DIR/ID: the node's data_dir (tmbus.db), configuration and log. */
const char *fed_data_dir(const struct fed *f, size_t i);
const char *fed_conf_path(const struct fed *f, size_t i);
const char *fed_log_path(const struct fed *f, size_t i);
/* Member secret key file, DIR/keys/ID.key (nodes and extras). */
const char *fed_member_key_path(const struct fed *f, size_t i);
/* Member public key file, DIR/keys/ID.pub (what a client names as the
 * node's key file). */
const char *fed_member_pub_path(const struct fed *f, size_t i);
/* The member's CURVE public key (the server key of both its sockets). */
const uint8_t *fed_transport_pk(const struct fed *f, size_t i);
const char *fed_peer_endpoint(const struct fed *f, size_t i);
const char *fed_client_endpoint(const struct fed *f, size_t i);
/* The node's one configured client: its name and secret key file. */
const char *fed_client_name(const struct fed *f, size_t i);
const char *fed_client_key_path(const struct fed *f, size_t i);

/* DIR/keys: where the member, governor and client key files are. */
const char *fed_keys_dir(const struct fed *f);

/* ---- rosters ------------------------------------------------------------ */

/* A roster for fed_make_roster: every member of the federation with its
 * role and endpoint, both governors, threshold 2 (1 with one member). */
struct fed_roster {
    const char *out;      /* where to write it; NULL: fed_roster_path */
    uint64_t version;     /* 0 means 1 */
    const char *previous; /* the previous roster file (version > 1) */
    int64_t expires_at;   /* Unix time; 0: 30 days from now */
    /* Per member (by index): its active public key file relative to DIR
     * (NULL: keys/ID.pub), and lines added to its [member] section. */
    const char *keys[FED_MAX_MEMBERS];
    const char *extra[FED_MAX_MEMBERS];
    /* Members (by index) this version leaves out: revoked, or admitted by
     * a later version. The first two hold the governance keys and must
     * stay. */
    bool is_left_out[FED_MAX_MEMBERS];
};

/* Writes the source as OUT.ini, then creates and signs the roster with
 * tmbus-admin as an operator would. Returns 0 or -1 (reason on stderr). */
int fed_make_roster(struct fed *f, const struct fed_roster *spec);

/* Runs tmbus-admin with args (NULL-terminated, at most 14, without the
 * program's name), output appended to DIR/admin.log. Returns 0 when it
 * exits with 0, else -1. */
int fed_admin(struct fed *f, const char *const args[]);

/* ---- configuration ------------------------------------------------------ */

/* Sets node i's [peers] dial ("all", "none", or a comma list of member ids)
 * and rewrites its configuration file (a running node sees it on
 * fed_reload). Returns 0 or -1. */
int fed_set_dial(struct fed *f, size_t i, const char *dial);

/* Sets (or replaces) one [limits] option of node i and rewrites its
 * configuration file. Returns 0 or -1. */
int fed_set_limit(struct fed *f, size_t i, const char *name, unsigned value);

/* Appends text (whole sections, e.g. "[http]\nlisten = 127.0.0.1:0\n", at
 * most FED_EXTRA_MAX - 1 bytes) to node i's configuration, replacing what
 * an earlier call appended, and rewrites the file. Returns 0 or -1. */
int fed_set_extra(struct fed *f, size_t i, const char *text);

/* Makes node i listen for peers on peer_listen and for clients on
 * client_endpoint (what fed_client_endpoint returns from then on, e.g. an
 * ipc:// path a client outside the node's network namespace can reach),
 * and rewrites its configuration. The roster keeps the endpoints it was
 * made with. Returns 0 or -1. */
int fed_set_listen(struct fed *f, size_t i, const char *peer_listen, const char *client_endpoint);

/* Makes node i dial node j at endpoint instead of the roster's endpoint
 * (an endpoint.ID line of [peers]) and rewrites its configuration.
 * Returns 0 or -1. */
int fed_set_peer_endpoint(struct fed *f, size_t i, size_t j, const char *endpoint);

/* Points node i's data_dir (where its store lives) at dir instead of
 * fed_data_dir, e.g. a small file system, and rewrites its configuration.
 * fed_data_dir still names the directory of its configuration and log.
 * Returns 0 or -1. */
int fed_set_data_dir(struct fed *f, size_t i, const char *dir);

/* Makes fed_start run node i inside the network namespace NAME, one made
 * with `ip netns add` (the caller makes, wires and deletes it; "" for
 * none). Needs root at fed_start. Returns 0 or -1. */
int fed_set_netns(struct fed *f, size_t i, const char *name);

/* Sets environment variable slot (below FED_ENV_MAX) of node i's process
 * to name_value ("NAME=VALUE", e.g. a clock offset through a preloaded
 * library; "" clears the slot), in force at the next fed_start. Returns 0
 * or -1. */
int fed_set_env(struct fed *f, size_t i, size_t slot, const char *name_value);

/* Gives node i's client a fresh key (tmbus-admin keygen client) under the
 * same name and rewrites the node's configuration (in force after
 * fed_reload). fed_client_key_path names the new key from then on; the old
 * key file stays, and its path is copied to old_key (FED_PATH_MAX bytes)
 * when not NULL. Returns 0 or -1. */
int fed_rekey_client(struct fed *f, size_t i, char *old_key);

/* Adds to node i's configuration a second client NAME (at most 31 bytes)
 * with role and clearance (static strings, e.g. "reader", "red"), under a
 * fresh key (tmbus-admin keygen client); its secret key file's path goes to
 * key_path (FED_PATH_MAX bytes). In force at the next start or fed_reload;
 * a later call replaces it. Returns 0 or -1. */
int fed_add_client(struct fed *f, size_t i, const char *name, const char *role,
                   const char *clearance, char *key_path);

/* Replaces the roster file with version 2, chained to version 1 and signed
 * by both governors, in which member i holds fresh member keys (key id 2)
 * and its first keys are revoked. Nodes see it on fed_reload; member i's
 * own node keeps its key file, as whoever holds the old keys would. The new
 * secret key file's path goes to new_key (FED_PATH_MAX bytes) when not
 * NULL. Call it once per federation. Returns 0 or -1. */
int fed_rotate_member(struct fed *f, size_t i, char *new_key);

/* What member i's operator does after a rotation: keeps the current key
 * file as KEY.previous, puts the secret key file new_key in its place and
 * names the old one as previous_keys in the node's configuration (for the
 * store; in force at the next start). Returns 0 or -1. */
int fed_install_member_key(struct fed *f, size_t i, const char *new_key);

/* Names path as node i's next_keys ("" for none: the line goes) and
 * rewrites its configuration (in force at fed_reload or the next start).
 * Returns 0 or -1. */
int fed_set_next_keys(struct fed *f, size_t i, const char *path);

/* Line topology over the nodes in index order: node k dials only k - 1 and
 * k + 1, so nodes two apart never link (both still listen, but neither
 * dials the other and nobody else knows to). Rewrites every configuration.
 * Returns 0 or -1. */
int fed_topology_line(struct fed *f);

/* Gives node i's client the clearance named (a static string: "clear",
 * "green", "amber", "amber+strict" or "red"; the default is "red") and
 * rewrites its configuration. Returns 0 or -1. */
int fed_set_clearance(struct fed *f, size_t i, const char *clearance);

/* Full mesh: every node dials every other node by name. Returns 0 or -1. */
int fed_topology_mesh(struct fed *f);

/* ---- processes ---------------------------------------------------------- */

/* Starts node i (tmbusd -c CONF, stdout and stderr appended to its log,
 * through fed_wrapper) and waits at most fed_ms(FED_START_MS) until its log shows "member ID
 * running". The process dies with the test program. Returns 0, or -1 (log tail printed) when it
 * exited or never said so. */
int fed_start(struct fed *f, size_t i);

/* Runs tmbusd -c CONF for node i (with -n when is_check_only), output
 * appended to its log, and waits at most FED_START_MS for it to exit: for
 * a node expected to refuse to start. Returns its exit status, or -1 when
 * it had to be killed or died of a signal. */
int fed_run_exit(struct fed *f, size_t i, bool is_check_only);

/* fed_start for every node, in index order, stopping at the first that
 * fails. Returns 0 or -1. */
int fed_start_all(struct fed *f);

/* SIGTERM, then waits at most FED_STOP_MS (SIGKILL after that). Returns
 * the exit status (0 for a clean stop), or -1 when it had to be killed or
 * died of a signal. A node that is not running returns -1. */
int fed_stop(struct fed *f, size_t i);

/* SIGKILL and reap: a crash, as far as the node can tell. */
void fed_kill(struct fed *f, size_t i);

/* SIGHUP: re-read the configuration and roster. Returns 0 or -1. */
int fed_reload(struct fed *f, size_t i);

/* True while node i's process lives (reaps it when it has died). */
bool fed_is_running(struct fed *f, size_t i);
pid_t fed_pid(const struct fed *f, size_t i);

/* ---- logs and files ------------------------------------------------------ */

/* The current size of node i's log: a mark to search from. */
long fed_log_mark(const struct fed *f, size_t i);

/* Waits at most timeout_ms for substr to appear in node i's log after
 * mark. Returns 0 when found, -1 (log tail printed) otherwise. */
int fed_wait_log_from(struct fed *f, size_t i, long mark, const char *substr, int timeout_ms);

/* fed_wait_log_from the last start of node i. */
int fed_wait_log(struct fed *f, size_t i, const char *substr, int timeout_ms);

/* How many times substr occurs in node i's log after mark. */
size_t fed_log_count(const struct fed *f, size_t i, long mark, const char *substr);

/* Waits until node i logs "peer PEER: link up" after mark. Returns 0 or -1. */
int fed_wait_link(struct fed *f, size_t i, long mark, const char *peer, int timeout_ms);

/* Waits until nodes a and b (member ids) each log their link to the other,
 * after mark_a in a's log and mark_b in b's. Returns 0 or -1. */
int fed_wait_links(struct fed *f, const char *a, long mark_a, const char *b, long mark_b,
                   int timeout_ms);

/* Prints the last lines of node i's log to stderr. */
void fed_dump_log(const struct fed *f, size_t i, int lines);

/* Opens member i's store as its node would: the store key derived from
 * its member key file. The node must be stopped. Returns NULL (reason on
 * stderr) on failure; close it with store_close. */
struct store *fed_store_open(const struct fed *f, size_t i);

/* 1 when the file at path contains the bytes needle[0..len), 0 when it
 * does not or does not exist, -1 on a read error. */
int fed_file_contains(const char *path, const void *needle, size_t len);

/* fed_dir(f)/name into out (size bytes). Returns 0, or -1 when it does
 * not fit. */
int fed_path(const struct fed *f, const char *name, char *out, size_t size);

/* Writes text as the whole of the file at path (0600). Returns 0 or -1. */
int fed_write_file(const char *path, const char *text);

/* Runs `tmbus-admin audit verify dir` and puts what it printed (stdout
 * and stderr, at most size - 1 bytes) in out. Returns its exit status, or
 * -1 when it could not be run or did not exit. */
int fed_audit_verify(const char *dir, char *out, size_t size);

/* Runs sql on the store in data directory dir (its node stopped), as a
 * test that tampers with it does. Returns 0, or -1 (reason on stderr). */
int fed_store_sql(const char *dir, const char *sql);

/* Flips the low bit of byte at of audit entry idx in the store in dir:
 * the entry still decodes, with another time. Returns 0, or -1 (reason on
 * stderr) when there is no such entry or byte. */
int fed_audit_entry_flip(const char *dir, long long idx, int at);

/* Monotonic milliseconds. */
int64_t fed_now_ms(void);

/* Sleeps ms milliseconds. */
void fed_sleep_ms(int ms);

/* The program every process the harness starts runs under (tmbusd,
 * tmbus-admin, the CLI): the environment's TMBUS_TEST_WRAPPER, a path such
 * as tests/valgrind-exec that is given the real program and its arguments;
 * NULL when unset or empty. */
const char *fed_wrapper(void);

/* ms scaled for a slow, wrapped run: times TMBUS_TEST_SLOW (default 20)
 * when fed_wrapper is set, unchanged otherwise. Every wait of the harness
 * goes through it, so tests' own patience grows with the processes'. */
int fed_ms(int ms);

/* In a forked child: execv(argv[0], argv) through fed_wrapper when set.
 * argv ends with NULL and has at most 63 entries. Returns only on failure. */
void fed_exec(const char *const argv[]);

/* Calls is_done(arg) every interval_ms until it returns true (0) or
 * fed_ms(timeout_ms) have passed since the first call (-1, after one last
 * call).
 * Blocks; reports nothing itself, so the caller says what never happened. */
int fed_wait_until(bool (*is_done)(void *arg), void *arg, int timeout_ms, int interval_ms);

#endif
