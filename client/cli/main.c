/*
 * tmbus: the command-line client of a tmbus node, for people and scripts.
 * Parses the options every command shares, dispatches to the command
 * families, and holds the helpers they share: connecting with the client
 * configuration, turning library errors into one-line reasons and exit
 * statuses, and parsing numbers, money, dates and lists exactly.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define CONFIG_LINE_MAX 512
#define ENDPOINT_MAX    256
#define ERR_MAX         512

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tmbus [-c FILE] [--json] [--timeout MS] COMMAND [ARGS]\n"
            "       tmbus --version\n"
            "\n"
            "commands:\n"
            "  need post|list|show     post a need, list the board's needs, show one\n"
            "  need close|withdraw|edit  end or change one of your needs\n"
            "  offer post|list         answer a need, list offers\n"
            "  offer accept|decline|deliver|confirm|withdraw  move an offer on\n"
            "  watch                   print messages as they arrive, and ack them\n"
            "  status                  the node's member, roster, peers and counters\n"
            "  delivery ID             a post's delivery state per recipient\n"
            "  report                  open needs, pledged and delivered value\n"
            "  import [FILE|-]         post needs and offers from JSON lines\n"
            "  export [--json|--csv]   write the board\n"
            "  keygen NAME [DIR]       make a client key pair\n"
            "  audit [prove INDEX]     the node's audit log, or one entry's proof (admin)\n"
            "\n"
            "  -c FILE       client configuration (default: $TMBUS_CONFIG)\n"
            "  --json        JSON for programs (one object; JSON lines for streams)\n"
            "  --timeout MS  how long to wait for the node (default %d)\n"
            "  --version     print \"tmbus VERSION\" and exit\n"
            "Run 'tmbus COMMAND --help' for a command's options; see tmbus(1).\n",
            CLI_TIMEOUT_DEFAULT);
}

/* Set before anything is parsed when --json is among the arguments, so
 * that even a mistake in the arguments is reported as JSON. */
static bool is_json_errors;

/* Reasons given with status 0 ("the caller returns its own status"),
 * held in JSON mode until the command returns and its status is known. */
#define HELD_MAX 64
static char *held[HELD_MAX];
static size_t n_held;

const char *cli_status_name(int status)
{
    switch (status) {
    case CLI_EX_USAGE:
        return "usage";
    case CLI_EX_DATAERR:
        return "data";
    case CLI_EX_UNAVAILABLE:
        return "unavailable";
    case CLI_EX_DEGRADED:
        return "degraded";
    case CLI_EX_NOPERM:
        return "denied";
    case CLI_EX_CONFIG:
        return "config";
    default:
        return "failed";
    }
}

/* Writes one reason: a line "tmbus: …", or the JSON object. */
static void put_reason(int status, const char *reason)
{
    json_t *o = NULL;

    if (is_json_errors) {
        /* A reason may quote bytes a user typed that are not UTF-8, which
         * JSON cannot carry: then the object says so instead. */
        o = json_pack("{s:{s:s, s:i, s:s}}", "error", "code", cli_status_name(status), "status",
                      status, "reason", reason);
        if (o == NULL)
            o = json_pack("{s:{s:s, s:i, s:s}}", "error", "code", cli_status_name(status), "status",
                          status, "reason", "(the reason is not valid UTF-8)");
    }
    if (o != NULL && json_dumpf(o, stderr, JSON_COMPACT) == 0)
        fputc('\n', stderr);
    else
        fprintf(stderr, "tmbus: %s\n", reason);
    json_decref(o);
}

int cli_fail(int status, const char *fmt, ...)
{
    char reason[ERR_MAX];
    va_list ap;

    fflush(stdout);
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    if (status == 0 && is_json_errors && n_held < HELD_MAX &&
        (held[n_held] = strdup(reason)) != NULL) {
        n_held++;
        return status;
    }
    put_reason(status, reason);
    return status;
}

/* Writes the held reasons with the command's exit status; returns it. */
static int finish(int status)
{
    for (size_t i = 0; i < n_held; i++) {
        put_reason(status, held[i]);
        free(held[i]);
    }
    n_held = 0;
    return status;
}

int cli_usage_error(const char *cmd, const char *why)
{
    if (cmd != NULL)
        return cli_fail(CLI_EX_USAGE, "%s: %s (see 'tmbus %s --help')", cmd, why, cmd);
    return cli_fail(CLI_EX_USAGE, "%s (see 'tmbus --help')", why);
}

int cli_option(struct cli *cli, const char *cmd, int opt, char **argv, void (*cmd_usage)(FILE *))
{
    uint64_t ms;
    char why[128];

    switch (opt) {
    case 'h':
        cmd_usage(stdout);
        return CLI_EX_OK;
    case 'c':
        cli->config = optarg;
        return CLI_CONTINUE;
    case CLI_OPT_JSON:
        cli->is_json = true;
        return CLI_CONTINUE;
    case CLI_OPT_TIMEOUT:
        if (cli_parse_u64(optarg, 1, CLI_TIMEOUT_MAX, &ms) == -1) {
            snprintf(why, sizeof(why), "--timeout wants milliseconds, 1 to %d", CLI_TIMEOUT_MAX);
            return cli_usage_error(cmd, why);
        }
        cli->timeout_ms = (int)ms;
        return CLI_CONTINUE;
    case ':':
        snprintf(why, sizeof(why), "option %.64s needs a value", argv[optind - 1]);
        return cli_usage_error(cmd, why);
    default:
        if (optopt != 0 && optopt < 0x100)
            snprintf(why, sizeof(why), "unknown option -%c", optopt);
        else
            snprintf(why, sizeof(why), "unknown option %.64s", argv[optind - 1]);
        return cli_usage_error(cmd, why);
    }
}

/* ---- connecting ---------------------------------------------------------- */

/* The endpoint the configuration names, only to say where we looked when
 * the node did not answer; libtmbus reads the file for real. */
static void config_endpoint(const char *path, char *out, size_t size)
{
    char line[CONFIG_LINE_MAX];
    bool is_client = false;
    FILE *f = fopen(path, "r");

    snprintf(out, size, "%s", "the configured endpoint");
    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL) {
        char *s = line + strspn(line, " \t");
        if (*s == '[') {
            is_client = strncmp(s, "[client]", 8) == 0;
            continue;
        }
        if (!is_client || strncmp(s, "endpoint", 8) != 0)
            continue;
        s += 8;
        s += strspn(s, " \t");
        if (*s++ != '=')
            continue;
        s += strspn(s, " \t");
        s[strcspn(s, " \t\r\n;#")] = '\0';
        if (*s != '\0')
            snprintf(out, size, "%s", s);
        break;
    }
    fclose(f);
}

struct tmbus *cli_connect(struct cli *cli, int *status)
{
    char err[ERR_MAX] = "", endpoint[ENDPOINT_MAX];
    struct tmbus *h = NULL;
    int rc;

    if (cli->config == NULL || *cli->config == '\0') {
        *status = cli_fail(CLI_EX_CONFIG, "no client configuration: give -c FILE or set "
                                          "TMBUS_CONFIG (see tmbus(1))");
        return NULL;
    }
    rc = tmbus_connect_config(cli->config, cli->timeout_ms, &h, err, sizeof(err));
    switch (rc) {
    case TMBUS_OK:
        return h;
    case TMBUS_ETIMEOUT:
        config_endpoint(cli->config, endpoint, sizeof(endpoint));
        *status = cli_fail(CLI_EX_UNAVAILABLE,
                           "cannot reach the node at %s within %d ms: is tmbusd running and is "
                           "node_key its key?",
                           endpoint, cli->timeout_ms);
        return NULL;
    case TMBUS_EDENIED:
        /* The library's reason already says who refused: the node (our
         * key is not in its configuration) or we (a key file others can
         * read). */
        *status =
            cli_fail(CLI_EX_NOPERM, "%s", *err != '\0' ? err : "the node refused this client");
        return NULL;
    case TMBUS_EINVALID:
        *status = cli_fail(CLI_EX_CONFIG, "%s", *err != '\0' ? err : tmbus_strerror(rc));
        return NULL;
    default:
        *status =
            cli_fail(CLI_EX_FAIL, "cannot connect: %s", *err != '\0' ? err : tmbus_strerror(rc));
        return NULL;
    }
}

int cli_fail_call(const struct cli *cli, const struct tmbus *h, int err, const char *what)
{
    const char *why = h != NULL ? tmbus_last_error(h) : "";

    if (why == NULL || *why == '\0')
        why = tmbus_strerror(err);
    switch (err) {
    case TMBUS_ETIMEOUT:
        return cli_fail(CLI_EX_UNAVAILABLE,
                        "cannot %s: the node did not answer within %d ms (it may still have "
                        "done it)",
                        what, cli->timeout_ms);
    case TMBUS_EDENIED:
        return cli_fail(CLI_EX_NOPERM, "the node refused: %s", why);
    case TMBUS_EINVALID:
        return cli_fail(CLI_EX_USAGE, "cannot %s: %s", what, why);
    case TMBUS_ENOTFOUND:
        return cli_fail(CLI_EX_FAIL, "cannot %s: %s", what, why);
    case TMBUS_EUNAVAILABLE:
        /* Nothing was done and it will pass by itself: try again later. */
        return cli_fail(CLI_EX_DEGRADED, "cannot %s now: %s", what, why);
    default:
        return cli_fail(CLI_EX_FAIL, "cannot %s: %s", what, why);
    }
}

/* ---- parsing ------------------------------------------------------------- */

int cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (s == NULL || *s == '\0')
        return -1;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int cli_split_list(const char *s, size_t max, char ***items, char **storage)
{
    char *copy, **v;
    size_t n = 0;

    *items = NULL;
    *storage = NULL;
    if ((copy = strdup(s)) == NULL || (v = calloc(max + 1, sizeof(*v))) == NULL) {
        free(copy);
        return -1;
    }
    /* strsep, unlike strtok, sees empty items: "A,,B" is a mistake. */
    for (char *p = copy, *tok; (tok = strsep(&p, ",")) != NULL;) {
        if (*tok == '\0' || n == max) {
            free(v);
            free(copy);
            return -1;
        }
        v[n++] = tok;
    }
    *items = v;
    *storage = copy;
    return (int)n;
}

void cli_format_time(int64_t unix_s, char *out, size_t size)
{
    time_t t = (time_t)unix_s;
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL || strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, size, "%lld", (long long)unix_s);
}

void cli_id_hex(const uint8_t id[TMBUS_ID_BYTES], char *out)
{
    tmbus_id_to_hex(id, out);
}

/* ---- dispatch ------------------------------------------------------------ */

/* Only the top level takes --version: it is the program's, not a command's. */
#define OPT_VERSION 0x1ff

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"version", no_argument, NULL, OPT_VERSION},
                                             CLI_COMMON_LONG};
    struct cli cli = {.config = getenv("TMBUS_CONFIG"), .timeout_ms = CLI_TIMEOUT_DEFAULT};
    static const struct {
        const char *name;
        int (*run)(struct cli *, int, char **);
    } commands[] = {
        {"need", cmd_need},     {"offer", cmd_offer},       {"watch", cmd_watch},
        {"status", cmd_status}, {"import", cmd_import},     {"export", cmd_export},
        {"keygen", cmd_keygen}, {"delivery", cmd_delivery}, {"report", cmd_report},
        {"audit", cmd_audit},
    };
    char why[128];
    int opt, rc;

    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        is_json_errors = is_json_errors || strcmp(argv[i], "--json") == 0;
    opterr = 0;
    /* '+' stops at the command name: what follows is the command's. */
    while ((opt = getopt_long(argc, argv, "+" CLI_SHORT, longopts, NULL)) != -1) {
        if (opt == OPT_VERSION) {
            printf("tmbus %s\n", TMBUS_VERSION_STRING);
            return CLI_EX_OK;
        }
        if ((rc = cli_option(&cli, NULL, opt, argv, usage)) != CLI_CONTINUE)
            return rc;
    }
    if (optind >= argc)
        return cli_usage_error(NULL, "no command given");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[optind], commands[i].name) == 0)
            return finish(commands[i].run(&cli, argc - optind, argv + optind));
    }
    snprintf(why, sizeof(why), "unknown command '%.64s'", argv[optind]);
    return cli_usage_error(NULL, why);
}
