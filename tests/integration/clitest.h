/*
 * clitest: what the CLI's integration tests share. Runs the real tmbus
 * binary (TMBUS_CLI_BIN) as a user would, captures its exit status,
 * stdout and stderr, and checks them with cmocka assertions; starts a
 * federation whose nodes each have a client configuration for it. Test
 * code only: every helper either succeeds or fails the running test.
 */
#ifndef TMBUS_CLITEST_H
#define TMBUS_CLITEST_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "fed.h"

#define CLITEST_LINK_MS 15000
#define CLITEST_SEEN_MS 15000 /* longest wait for a post to reach another node */
#define CLITEST_RUN_MS  30000 /* longest one CLI run may take */

/* One finished run of the CLI. */
struct clitest_run {
    int status; /* exit status, or -1 when killed or signalled */
    char *out;  /* stdout, NUL-terminated */
    char *err;  /* stderr */
};

void clitest_run_free(struct clitest_run *r);

/* The file at path (at most 1 MiB of it; "" when it does not exist). */
char *clitest_slurp(const char *path);
void clitest_write_file(const char *path, const char *text);

/* Starts a federation of n nodes (fed_new's defaults: the first is the
 * beneficiary), writes DIR/ID-client.conf for each node's client into
 * conf[i] and waits until every node links to every other. */
struct fed *clitest_fed_start(size_t n, const char *const ids[], char (*conf)[FED_PATH_MAX]);

/* What every CLI test starts from: UA and EE, linked, each with a client
 * configuration for the CLI. A test that keeps more state puts this first
 * in its own struct. */
struct clitest_pair {
    struct fed *f;
    char conf[2][FED_PATH_MAX]; /* client configurations of UA and EE */
};

/* cmocka group setup and teardown: *state becomes a zeroed allocation of
 * size bytes (at least sizeof(struct clitest_pair)) that begins with a
 * started pair; teardown stops the pair and frees it. */
void clitest_pair_setup(void **state, size_t size);
int clitest_pair_teardown(void **state);

/* Runs the CLI with argv (NULL-terminated, without the program name),
 * stdin from in_path (NULL: /dev/null), in f's directory's output files.
 * When sig is non-zero, sends it after sig_after_ms. Kills the run after
 * CLITEST_RUN_MS. */
void clitest_run_signal(struct fed *f, struct clitest_run *r, const char *in_path, int sig,
                        int sig_after_ms, const char *const argv[]);
void clitest_run(struct fed *f, struct clitest_run *r, const char *in_path,
                 const char *const argv[]);

#define CLITEST_RUN(f, r, ...) clitest_run((f), (r), NULL, (const char *const[]){__VA_ARGS__, NULL})

/* A failed run: the status, and stderr exactly one line "tmbus: …"
 * holding substr. */
void clitest_assert_failed(const struct clitest_run *r, int status, const char *substr);
/* The same for a run with --json: stderr is one JSON object
 * {"error":{"code","status","reason"}} with that status and code, its
 * reason holding substr. */
void clitest_assert_failed_json(const struct clitest_run *r, int status, const char *code,
                                const char *substr);
void clitest_assert_ok(const struct clitest_run *r);

/* stdout parsed as one JSON object (the caller decrefs). */
json_t *clitest_json_of(const struct clitest_run *r);
bool clitest_is_hex_id(const char *s);
/* o's member key, which must be a string (an integer). */
const char *clitest_str_of(json_t *o, const char *key);
json_int_t clitest_int_of(json_t *o, const char *key);

/* Waits until the board read with client configuration conf lists id
 * among kind ("need" or "offer"); returns a copy of its JSON object (the
 * caller decrefs). */
json_t *clitest_wait_on_board(struct fed *f, const char *conf, const char *kind, const char *id);

#endif
