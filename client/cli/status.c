/*
 * tmbus status: what the node says about itself — its member, version and
 * uptime, the roster version in force, each peer link with its state and
 * lag, and its counters. Read-only; any client role may ask. Its exit
 * status makes it a health check: 0 only when every peer link the node
 * keeps is up.
 */
#include <getopt.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: tmbus status [--json]\n"
               "Shows the node's member, version, uptime, roster version, envelopes held, inbox,\n"
               "each peer link (state, silence, lag: what it lacks from us, behind: what we lack\n"
               "from it) and the node's counters. Exits 0 when every peer link is up, 75 when\n"
               "one is not (the table says which), 69 when the node does not answer.\n");
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

/* "3d 04:05:06" (or "04:05:06" under a day), then the seconds. */
static void format_uptime(uint64_t s, char *out, size_t size)
{
    uint64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60, sec = s % 60;

    if (d > 0)
        snprintf(out, size, "%llud %02llu:%02llu:%02llu (%llu s)", (unsigned long long)d,
                 (unsigned long long)h, (unsigned long long)m, (unsigned long long)sec,
                 (unsigned long long)s);
    else
        snprintf(out, size, "%02llu:%02llu:%02llu (%llu s)", (unsigned long long)h,
                 (unsigned long long)m, (unsigned long long)sec, (unsigned long long)s);
}

/* Every link the node keeps is to a peer it dials or expects to be dialled
 * by, so each one that is not up is a fault. Returns CLI_EX_OK, or
 * CLI_EX_DEGRADED with the links named on stderr. */
static int check_links(const struct tmbus_status *s)
{
    char names[512] = "";
    size_t used = 0, n_down = 0, n = tmbus_status_peer_count(s);
    const struct tmbus_peer *p;

    for (size_t i = 0; i < n; i++) {
        if ((p = tmbus_status_peer_at(s, i)) == NULL || strcmp(p->state, "up") == 0)
            continue;
        n_down++;
        if (used < sizeof(names))
            used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s (%s)",
                                     n_down > 1 ? ", " : "", p->member, p->state);
    }
    if (n_down == 0)
        return CLI_EX_OK;
    return cli_fail(CLI_EX_DEGRADED, "%zu of %zu peer links not up: %s", n_down, n, names);
}

/* The replaced key generation's heads as the roster source's line
 * "last_seq = ID LOG:SEQ ..." (LOG * for the relayed log), into line. */
/* "last_seq = ID" and up to 256 " LOG:SEQ" of 32 + 20 characters. */
#define KEY_SWITCH_LINE_MAX (32 + 256 * 54)

static void key_switch_line(const struct tmbus_status *s, char *line, size_t size)
{
    size_t used = (size_t)snprintf(line, size, "last_seq = %u", tmbus_status_key_switch_id(s));

    for (size_t i = 0; i < tmbus_status_key_switch_count(s) && used < size; i++) {
        const char *peer;
        uint64_t seq;
        if (tmbus_status_key_switch_head(s, i, &peer, &seq) != TMBUS_OK)
            continue;
        used += (size_t)snprintf(line + used, size - used, " %s:%llu", peer[0] != '\0' ? peer : "*",
                                 (unsigned long long)seq);
    }
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
    json_object_set_new(o, "version", json_string(tmbus_status_version(s)));
    json_object_set_new(o, "uptime_s", json_integer((json_int_t)tmbus_status_uptime_s(s)));
    json_object_set_new(o, "store_full", json_boolean(tmbus_status_store_full(s)));
    json_object_set_new(o, "recovering", json_boolean(tmbus_status_recovering(s)));
    json_object_set_new(o, "audit_epoch", json_integer((json_int_t)tmbus_status_audit_epoch(s)));
    json_object_set_new(o, "roster_version",
                        json_integer((json_int_t)tmbus_status_roster_version(s)));
    json_object_set_new(o, "envelopes", json_integer((json_int_t)tmbus_status_envelopes(s)));
    json_object_set_new(o, "inbox", json_integer((json_int_t)tmbus_status_inbox(s)));
    json_object_set_new(o, "retention_pruned",
                        json_integer((json_int_t)tmbus_status_retention_pruned(s)));
    json_object_set_new(o, "retention_bytes_freed",
                        json_integer((json_int_t)tmbus_status_retention_bytes_freed(s)));
    json_object_set_new(o, "board_digest", json_string(digest_hex(s, hex)));
    if (tmbus_status_key_switch_id(s) != 0) {
        json_t *heads = json_array();
        char line[KEY_SWITCH_LINE_MAX];
        for (size_t i = 0; i < tmbus_status_key_switch_count(s); i++) {
            const char *peer;
            uint64_t seq;
            if (tmbus_status_key_switch_head(s, i, &peer, &seq) == TMBUS_OK)
                json_array_append_new(
                    heads, json_pack("{s:s, s:I}", "log_peer", peer, "last_seq", (json_int_t)seq));
        }
        key_switch_line(s, line, sizeof(line));
        json_object_set_new(o, "key_switch",
                            json_pack("{s:I, s:o, s:s}", "key_id",
                                      (json_int_t)tmbus_status_key_switch_id(s), "heads", heads,
                                      "roster_line", line));
    }
    json_object_set_new(o, "peers", peers);
    json_object_set_new(o, "counters", counters);
    return output_json_line(o);
}

static int print_text(const struct tmbus_status *s)
{
    static const char *const peer_headers[] = {"PEER", "STATE", "SILENT", "LAG", "BEHIND"};
    static const char *const counter_headers[] = {"COUNTER", "VALUE"};
    struct table *peers = table_new(5, peer_headers), *counters = table_new(2, counter_headers);
    char silent[32], lag[32], behind[32], v[32], hex[TMBUS_ID_HEX_BYTES], uptime[96];
    const struct tmbus_peer *p;
    const struct tmbus_counter *c;
    int rc = -1;

    if (peers == NULL || counters == NULL)
        goto out;
    format_uptime(tmbus_status_uptime_s(s), uptime, sizeof(uptime));
    printf("member          %s\n", tmbus_status_member(s));
    fputs("version         ", stdout);
    output_text(stdout, tmbus_status_version(s)[0] != '\0' ? tmbus_status_version(s) : "unknown");
    printf("\nuptime          %s\n"
           "roster version  %llu\n"
           "envelopes       %llu\n"
           "inbox           %llu\n"
           "pruned          %llu envelopes, %llu bytes freed\n"
           "store           %s\n"
           "posts           %s\n"
           "audit epoch     %llu\n"
           "board digest    %s\n\n",
           uptime, (unsigned long long)tmbus_status_roster_version(s),
           (unsigned long long)tmbus_status_envelopes(s), (unsigned long long)tmbus_status_inbox(s),
           (unsigned long long)tmbus_status_retention_pruned(s),
           (unsigned long long)tmbus_status_retention_bytes_freed(s),
           tmbus_status_store_full(s) ? "full: no room on the node's disk, posts refused"
                                      : "writable",
           tmbus_status_recovering(s) ? "refused: recovering its own logs from peers" : "taken",
           (unsigned long long)tmbus_status_audit_epoch(s), digest_hex(s, hex));
    if (tmbus_status_key_switch_id(s) != 0) {
        char line[KEY_SWITCH_LINE_MAX];
        key_switch_line(s, line, sizeof(line));
        printf("key rotation    generation %u replaced; the roster that retires it says:\n"
               "                %s\n\n",
               tmbus_status_key_switch_id(s), line);
    }
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
        rc = check_links(s);
    }
    tmbus_status_free(&s);
    tmbus_close(&h);
    return rc;
}
