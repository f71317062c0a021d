/*
 * tmbus CLI: what the command families share. The CLI is a thin shell over
 * libtmbus: it parses arguments and files, calls the library, and prints
 * tables for people or JSON for programs; the few shared rules it needs
 * beside the library (dates, client names, key files) come from proto/.
 * It never links the daemon's code or uses protobuf, and it prints every
 * failure as one line "tmbus: …" on stderr with an exit status a script
 * can branch on.
 */
#ifndef TMBUS_CLI_H
#define TMBUS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "tmbus.h"

/* Exit statuses (sysexits.h values, so that scripts can tell them apart). */
#define CLI_EX_OK          0
#define CLI_EX_FAIL        1  /* the node refused or failed; not found */
#define CLI_EX_USAGE       64 /* bad arguments or field values */
#define CLI_EX_DATAERR     65 /* import: at least one line was rejected */
#define CLI_EX_UNAVAILABLE 69 /* the node did not answer in time */
#define CLI_EX_DEGRADED                                                                            \
    75                   /* status: a peer link that should be up is not; a post the node          \
                            cannot take yet (EX_TEMPFAIL) */
#define CLI_EX_NOPERM 77 /* the node refused our key or role */
#define CLI_EX_CONFIG 78 /* the client configuration is unusable */

#define CLI_TIMEOUT_DEFAULT 10000 /* ms a call may wait for the node */
#define CLI_TIMEOUT_MAX     3600000
#define CLI_ID_HEX          (2 * TMBUS_ID_BYTES)
#define CLI_ID_PREFIX_MIN   8  /* shortest id prefix a user may type */
#define CLI_ID_SHORT        12 /* id digits a table shows */
#define CLI_OWNER_CELL      48 /* a member id (at most 32) and " (revoked)" */

/* Options every command takes, before or after the command name. */
struct cli {
    const char *config;   /* -c FILE, else $TMBUS_CONFIG */
    bool is_json;         /* --json */
    int timeout_ms;       /* --timeout MS */
    const char *endpoint; /* for messages only: the configured endpoint */
};

/* ---- main.c: shared helpers ---------------------------------------------- */

/* Prints "tmbus: " and the formatted reason on one line to stderr; returns
 * status so that callers can write "return cli_fail(CLI_EX_USAGE, …)".
 * When --json is among the arguments the line is instead one JSON object,
 * {"error":{"code":NAME,"status":N,"reason":TEXT}}, NAME naming the exit
 * status (cli_status_name). Status 0 means the caller returns a status of
 * its own; in JSON the reason then waits until the command has returned,
 * to carry that status. */
int cli_fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The getopt_long entries of the shared options, to end a command's own
 * table, and the short options string (':' first: we print our own
 * errors). Commands parse with permutation, so "need show ID --json"
 * works; main stops at the command name. */
#define CLI_OPT_JSON    0x100
#define CLI_OPT_TIMEOUT 0x101
#define CLI_SHORT       ":c:h"
/* clang-format off */
#define CLI_COMMON_LONG                                                 \
    {"json", no_argument, NULL, CLI_OPT_JSON},                          \
    {"timeout", required_argument, NULL, CLI_OPT_TIMEOUT},              \
    {"help", no_argument, NULL, 'h'},                                   \
    {"config", required_argument, NULL, 'c'},                           \
    {NULL, 0, NULL, 0}
/* clang-format on */
#define CLI_CONTINUE (-1)

/* Handles what a command's own switch did not: the shared options (-c,
 * --json, --timeout, --help, which prints usage to stdout) and getopt's
 * complaints (unknown option, missing value: one line on stderr).
 * cmd names the command in messages ("need post"). Returns CLI_CONTINUE
 * to go on parsing, else the exit status the command should return. */
int cli_option(struct cli *cli, const char *cmd, int opt, char **argv, void (*usage)(FILE *));

/* The word for an exit status in JSON errors: "failed", "usage", "data",
 * "unavailable", "degraded", "denied", "config" ("failed" for any other). */
const char *cli_status_name(int status);

/* Prints one line "tmbus: CMD: why (see 'tmbus CMD --help')" to stderr
 * (cmd may be NULL); returns CLI_EX_USAGE. */
int cli_usage_error(const char *cmd, const char *why);

/* Connects with the client configuration. On failure prints the reason
 * (naming the endpoint and the timeout when nothing answered) and returns
 * NULL with *status set to the exit status to use. */
struct tmbus *cli_connect(struct cli *cli, int *status);

/* Maps a library error on h (may be NULL) to a printed one-line reason and
 * an exit status. what says what we were doing ("post the need"). */
int cli_fail_call(const struct cli *cli, const struct tmbus *h, int err, const char *what);

/* Parses a decimal unsigned integer in [min, max]. Returns 0 or -1. */
int cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Parses a EUR amount "1234", "1234.5" or "1234.56" into integer cents,
 * exactly (no floating point). Returns 0, or -1 with why (static). */
int cli_parse_eur(const char *s, uint64_t *cents, const char **why);

/* Formats cents as "1234.56" into out (at least 24 bytes). */
void cli_format_eur(uint64_t cents, char *out, size_t size);

/* Splits "A,B,C" into a NULL-terminated array of at most max pointers into
 * a copy that *storage owns (free both with free). Returns the count, or
 * -1 for an empty item or too many. */
int cli_split_list(const char *s, size_t max, char ***items, char **storage);

#define CLI_TIME_MAX 32

/* Unix seconds as ISO 8601 UTC, "2026-11-30T07:29:31Z", into out
 * (CLI_TIME_MAX bytes): how every time is shown to people. JSON carries
 * times as Unix seconds (integers) instead, everywhere. */
void cli_format_time(int64_t unix_s, char *out, size_t size);

/* Hex of an id into out (CLI_ID_HEX + 1 bytes). */
void cli_id_hex(const uint8_t id[TMBUS_ID_BYTES], char *out);

/* ---- output.c: tables, JSON, CSV ----------------------------------------- */

struct table;

/* A table with ncols columns named by the headers (copied; NULL for a
 * table without a header row). NULL on ENOMEM. */
struct table *table_new(size_t ncols, const char *const headers[]);
/* Adds a row of ncols cells (copied; NULL prints as ""). Returns 0 or -1. */
int table_add(struct table *t, const char *const cells[]);
/* Limits column col to width characters; longer cells end in "…". */
void table_set_max(struct table *t, size_t col, size_t width);
/* Prints the table with aligned columns; control characters in cells are
 * shown as '?' so that a message cannot drive the terminal. */
void table_print(const struct table *t, FILE *f);
/* Frees, sets *tp to NULL. Accepts NULL. */
void table_free(struct table **tp);

/* Writes obj as one compact line to stdout and flushes. Takes the
 * reference (decrefs obj). Returns 0 or -1 (write error). */
int output_json_line(json_t *obj);
/* Prints a new message's id: the hex line, or {"id": …} with --json.
 * Returns CLI_EX_OK, or CLI_EX_FAIL (reason printed) when stdout fails. */
int cli_print_id(const struct cli *cli, const uint8_t id[TMBUS_ID_BYTES]);

/* Writes text that came from others, control characters shown as '?'. */
void output_text(FILE *f, const char *s);

/* Writes s as one CSV field (RFC 4180: quoted when it holds a comma, a
 * quote, CR or LF, quotes doubled). */
void output_csv_field(FILE *f, const char *s);

/* Adds a need's or an offer's fields to o, under the names tmbus import
 * reads (unset enums are null, empty strings ""). */
void output_need_fields(json_t *o, const struct tmbus_need *n);
void output_offer_fields(json_t *o, const struct tmbus_offer *f);

/* A board need or offer as a new JSON object with "type", "id", the
 * owner or donor, "author_revoked", "created_at", "status" and the fields
 * above. NULL on ENOMEM. */
json_t *output_board_need(const struct tmbus_board_need *bn);
json_t *output_board_offer(const struct tmbus_board_offer *bo);

/* Tables of needs and offers, and a row for each. Rows return 0 or -1. */
struct table *output_need_table(void);
struct table *output_offer_table(void);
int output_need_row(struct table *t, const struct tmbus_board_need *bn);
int output_offer_row(struct table *t, const struct tmbus_board_offer *bo);

/* The owner or donor as a table shows it: "PL", or "PL (revoked)" when the
 * member is no longer in the roster in force. Writes at most size bytes
 * (CLI_OWNER_CELL holds any member id). */
void output_author(const char *member, bool is_revoked, char *out, size_t size);

/* ---- need.c: what posting commands share ---------------------------------- */

/* Where a post goes: every member, or the named ones. */
struct cli_to {
    bool all;
    bool is_set; /* --to or --all was given */
    char **names;
    size_t n;
    char *storage;
};

/* Parses "--to A,B" into to. Returns 0, or -1 with the reason printed. */
int cli_to_parse(struct cli_to *to, const char *list);
/* One --to LIST (list != NULL) or --all (list == NULL) of command cmd;
 * only one of them, once. Returns 0, or -1 with the reason printed. */
int cli_to_option(struct cli_to *to, const char *cmd, const char *list);
/* Adds member to the named recipients unless it is there or to is "all".
 * Returns 0 or -1 (ENOMEM, or too many). */
int cli_to_add(struct cli_to *to, const char *member);
void cli_to_free(struct cli_to *to);

/* Finds need text (64 hex digits, or a unique prefix of at least
 * CLI_ID_PREFIX_MIN) on the board. On success returns CLI_EX_OK with
 * *board (the caller frees it) holding *need; else prints why (unknown,
 * ambiguous, bad id) and returns the exit status. */
int cli_find_need(struct cli *cli, struct tmbus *h, const char *text, struct tmbus_board **board,
                  const struct tmbus_board_need **need);
/* The same for an offer id, looked up among the board's offers. */
int cli_find_offer(struct cli *cli, struct tmbus *h, const char *text, struct tmbus_board **board,
                   const struct tmbus_board_offer **offer);
/* The need with id (TMBUS_ID_BYTES; may be NULL) on board b, or NULL. */
const struct tmbus_board_need *cli_board_need(const struct tmbus_board *b, const uint8_t *id);

/* ---- board.c: the board's pages and filters ------------------------------- */

/* The options need list, offer list and export share (long names in
 * CLI_BOARD_LONG_NEEDS / _OFFERS); values above the commands' own. */
enum {
    CLI_OPT_LIMIT = 0x300,
    CLI_OPT_AFTER,
    CLI_OPT_STATUS,
    CLI_OPT_CATEGORY,
    CLI_OPT_MEMBER,
    CLI_OPT_PRIORITY,
    CLI_OPT_SINCE,
};
/* clang-format off */
#define CLI_BOARD_LONG_COMMON                                           \
    {"limit", required_argument, NULL, CLI_OPT_LIMIT},                  \
    {"after", required_argument, NULL, CLI_OPT_AFTER},                  \
    {"status", required_argument, NULL, CLI_OPT_STATUS},                \
    {"since", required_argument, NULL, CLI_OPT_SINCE}
#define CLI_BOARD_LONG_NEEDS                                            \
    CLI_BOARD_LONG_COMMON,                                              \
    {"category", required_argument, NULL, CLI_OPT_CATEGORY},            \
    {"owner", required_argument, NULL, CLI_OPT_MEMBER},                 \
    {"priority", required_argument, NULL, CLI_OPT_PRIORITY}
#define CLI_BOARD_LONG_OFFERS                                           \
    CLI_BOARD_LONG_COMMON,                                              \
    {"donor", required_argument, NULL, CLI_OPT_MEMBER}
/* clang-format on */

/* A board list's question as the options built it: q points into the
 * arrays here. is_paged: --limit or --after was given, so one page is
 * asked, not every one. */
struct cli_board_args {
    struct tmbus_board_query q;
    bool is_paged;
    int statuses[TMBUS_BOARD_FILTER_MAX];
    int categories[TMBUS_BOARD_FILTER_MAX];
    int priorities[TMBUS_BOARD_FILTER_MAX];
    char **members;
    char *storage;
};

/* Starts args for list (TMBUS_BOARD_NEEDS or TMBUS_BOARD_OFFERS). */
void cli_board_args_init(struct cli_board_args *a, int list);
/* Takes one option of the shared board options (opt, its value arg).
 * Returns 1 when taken, 0 when opt is not one of them, -1 after printing
 * why the value is bad. arg must outlive a. */
int cli_board_option(struct cli_board_args *a, int opt, const char *arg);
void cli_board_args_free(struct cli_board_args *a);

/* Asks for the pages a asks for (one, or every one when !a->is_paged) and
 * calls fn with each as it arrives; the page is freed after fn returns.
 * Memory stays one page whatever the board's size. next (at least
 * TMBUS_BOARD_CURSOR_BYTES) receives the cursor after the last page read.
 * Returns CLI_EX_OK, the exit status of a failed call (reason printed),
 * or fn's non-zero return. */
int cli_board_pages(struct cli *cli, struct tmbus *h, struct cli_board_args *a,
                    int (*fn)(void *arg, const struct tmbus_board *page), void *arg, char *next);

/* Prints a committed update of need or offer target: "KIND 1a2b3c4d5e6f
 * DONE" and the update's id on the next line, or with --json
 * {"id", "action", "target"}. Returns the exit status. */
int cli_print_update(const struct cli *cli, const char *kind, const uint8_t target[TMBUS_ID_BYTES],
                     const char *action, const char *done, const uint8_t id[TMBUS_ID_BYTES]);

/* ---- command families: each returns the process exit status ------------- */

int cmd_need(struct cli *cli, int argc, char **argv);
int cmd_offer(struct cli *cli, int argc, char **argv);
int cmd_watch(struct cli *cli, int argc, char **argv);
int cmd_status(struct cli *cli, int argc, char **argv);
int cmd_report(struct cli *cli, int argc, char **argv);
int cmd_import(struct cli *cli, int argc, char **argv);
int cmd_export(struct cli *cli, int argc, char **argv);
int cmd_keygen(struct cli *cli, int argc, char **argv);
int cmd_delivery(struct cli *cli, int argc, char **argv);
/* audit.c: the node's audit log, pages and inclusion proofs (admin). */
int cmd_audit(struct cli *cli, int argc, char **argv);

#endif
