/*
 * tmbus status: what the node says about itself — its member, the roster
 * version in force, each peer link with its state and lag, and its
 * counters. Read-only; any client role may ask.
 */
#include <getopt.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: tmbus status [--json]\n"
               "Shows the node's member, roster version, envelopes held, inbox, each peer link\n"
               "(state, silence, lag: what it lacks from us, behind: what we lack from it)\n"
               "and the node's counters.\n");
}

/* The board digest in hex, "" from a node that sends none. */
static const char *digest_hex(const struct tmbus_status *s, char hex[TMBUS_ID_HEX_BYTES])
{
    const uint8_t *d = tmbus_status_board_digest(s);

    hex[0] = '\0';
    if (d != NULL)
        cli_id_hex(d, hex);
    return hex;
}

static int print_json(const struct tmbus_status *s)
{
    json_t *o = json_object(), *peers = json_array(), *counters = json_object();
    char hex[TMBUS_ID_HEX_BYTES];
    const struct tmbus_peer *p;
    const struct tmbus_counter *c;

    for (size_t i = 0; i < tmbus_status_peer_count(s); i++) {
        if ((p = tmbus_status_peer_at(s, i)) == NULL)
            continue;
        json_array_append_new(peers,
                              json_pack("{s:s, s:s, s:I, s:I, s:I}", "member", p->member, "state",
                                        p->state, "silent_ms", (json_int_t)p->silent_ms, "lag",
                                        (json_int_t)p->lag, "behind", (json_int_t)p->behind));
    }
    for (size_t i = 0; i < tmbus_status_counter_count(s); i++)
        if ((c = tmbus_status_counter_at(s, i)) != NULL)
            json_object_set_new(counters, c->name, json_integer((json_int_t)c->value));
    json_object_set_new(o, "member", json_string(tmbus_status_member(s)));
    json_object_set_new(o, "roster_version",
                        json_integer((json_int_t)tmbus_status_roster_version(s)));
    json_object_set_new(o, "envelopes", json_integer((json_int_t)tmbus_status_envelopes(s)));
    json_object_set_new(o, "inbox", json_integer((json_int_t)tmbus_status_inbox(s)));
    json_object_set_new(o, "board_digest", json_string(digest_hex(s, hex)));
    json_object_set_new(o, "peers", peers);
    json_object_set_new(o, "counters", counters);
    return output_json_line(o);
}

static int print_text(const struct tmbus_status *s)
{
    static const char *const peer_headers[] = {"PEER", "STATE", "SILENT", "LAG", "BEHIND"};
    static const char *const counter_headers[] = {"COUNTER", "VALUE"};
    struct table *peers = table_new(5, peer_headers), *counters = table_new(2, counter_headers);
    char silent[32], lag[32], behind[32], v[32], hex[TMBUS_ID_HEX_BYTES];
    const struct tmbus_peer *p;
    const struct tmbus_counter *c;
    int rc = -1;

    if (peers == NULL || counters == NULL)
        goto out;
    printf("member          %s\n"
           "roster version  %llu\n"
           "envelopes       %llu\n"
           "inbox           %llu\n"
           "board digest    %s\n\n",
           tmbus_status_member(s), (unsigned long long)tmbus_status_roster_version(s),
           (unsigned long long)tmbus_status_envelopes(s), (unsigned long long)tmbus_status_inbox(s),
           digest_hex(s, hex));
    for (size_t i = 0; i < tmbus_status_peer_count(s); i++) {
        if ((p = tmbus_status_peer_at(s, i)) == NULL)
            continue;
        if (p->silent_ms < 0)
            snprintf(silent, sizeof(silent), "never heard");
        else
            snprintf(silent, sizeof(silent), "%lld ms", (long long)p->silent_ms);
        snprintf(lag, sizeof(lag), "%llu", (unsigned long long)p->lag);
        snprintf(behind, sizeof(behind), "%llu", (unsigned long long)p->behind);
        const char *cells[] = {p->member, p->state, silent, lag, behind};
        if (table_add(peers, cells) == -1)
            goto out;
    }
    if (tmbus_status_peer_count(s) == 0)
        printf("no peers\n");
    else
        table_print(peers, stdout);
    printf("\n");
    for (size_t i = 0; i < tmbus_status_counter_count(s); i++) {
        if ((c = tmbus_status_counter_at(s, i)) == NULL)
            continue;
        snprintf(v, sizeof(v), "%llu", (unsigned long long)c->value);
        const char *cells[] = {c->name, v};
        if (table_add(counters, cells) == -1)
            goto out;
    }
    table_print(counters, stdout);
    rc = fflush(stdout) == 0 ? 0 : -1;
out:
    table_free(&peers);
    table_free(&counters);
    return rc;
}

int cmd_status(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {CLI_COMMON_LONG};
    struct tmbus_status *s = NULL;
    struct tmbus *h;
    int opt, rc;

    optind = 0;
    while ((opt = getopt_long(argc, argv, CLI_SHORT, longopts, NULL)) != -1) {
        if ((rc = cli_option(cli, "status", opt, argv, usage)) != CLI_CONTINUE)
            return rc;
    }
    if (optind < argc)
        return cli_usage_error("status", "unexpected argument");
    if ((h = cli_connect(cli, &rc)) == NULL)
        return rc;
    if ((rc = tmbus_status(h, cli->timeout_ms, &s)) != TMBUS_OK) {
        rc = cli_fail_call(cli, h, rc, "ask for the status");
    } else if ((cli->is_json ? print_json(s) : print_text(s)) == -1) {
        rc = cli_fail(CLI_EX_FAIL, "cannot write to stdout");
    } else {
        rc = CLI_EX_OK;
    }
    tmbus_status_free(&s);
    tmbus_close(&h);
    return rc;
}
