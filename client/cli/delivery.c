/*
 * tmbus delivery: where one of this member's own posts stands with each
 * recipient — pending, delivered, or rejected with the recipient node's
 * reason — as the recipients' receipts said (proto/PROTOCOL.md, section
 * 6.6). Read-only. An id is 64 hex digits, or a unique prefix of a need
 * or offer on the board (updates and other posts need the full id, as
 * 'need post' printed it).
 */
#include <getopt.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tmbus delivery ID [--json]\n"
            "Shows, for a post of this member, each recipient's delivery state: pending,\n"
            "delivered, or rejected with the reason its node gave. ID is the post's id (64 hex\n"
            "digits; any of a TLP:RED post's ids), or a unique prefix of at least %d digits of\n"
            "a need or an offer on the board.\n",
            CLI_ID_PREFIX_MIN);
}

static bool is_hex(const char *s)
{
    return *s != '\0' && strspn(s, "0123456789abcdefABCDEF") == strlen(s);
}

/* Notes one board id that starts with text. */
static void match(const uint8_t *id, const char *text, size_t len, uint8_t *out, size_t *matches,
                  char *first)
{
    char hex[TMBUS_ID_HEX_BYTES];

    tmbus_id_to_hex(id, hex);
    if (strncasecmp(hex, text, len) != 0)
        return;
    if ((*matches)++ == 0) {
        memcpy(out, id, TMBUS_ID_BYTES);
        memcpy(first, hex, TMBUS_ID_HEX_BYTES);
    } else if (*matches == 2) {
        cli_fail(0,
                 "id prefix '%s' is ambiguous: it matches %.16s…, %.16s… and maybe more; give "
                 "more digits",
                 text, first, hex);
    }
}

/* The full id text stands for, as cli_find_need resolves need ids, among
 * the board's needs and offers. Returns CLI_EX_OK or the exit status
 * (the reason printed). */
static int resolve(struct cli *cli, struct tmbus *h, const char *text, uint8_t *id)
{
    char first[TMBUS_ID_HEX_BYTES] = "";
    struct tmbus_board *b = NULL;
    size_t len = strlen(text), matches = 0;
    int rc;

    if (!is_hex(text) || len < CLI_ID_PREFIX_MIN || len > CLI_ID_HEX)
        return cli_fail(CLI_EX_USAGE,
                        "bad id '%.80s': give the full id (64 hex digits) or a unique prefix of "
                        "at least %d",
                        text, CLI_ID_PREFIX_MIN);
    if (len == CLI_ID_HEX)
        return tmbus_id_from_hex(text, id) == TMBUS_OK ? CLI_EX_OK
                                                       : cli_fail(CLI_EX_USAGE, "bad id");
    /* The node finds the ids with that prefix: two of each list are
     * enough to call it ambiguous. */
    for (int list = TMBUS_BOARD_NEEDS; list <= TMBUS_BOARD_OFFERS; list++) {
        struct tmbus_board_query q = {.list = list, .limit = 2, .id_prefix = text};
        if ((rc = tmbus_board_query(h, &q, cli->timeout_ms, &b)) != TMBUS_OK)
            return cli_fail_call(cli, h, rc, "read the board");
        for (size_t i = 0; i < tmbus_board_need_count(b); i++)
            match(tmbus_board_need_at(b, i)->id, text, len, id, &matches, first);
        for (size_t i = 0; i < tmbus_board_offer_count(b); i++)
            match(tmbus_board_offer_at(b, i)->id, text, len, id, &matches, first);
        tmbus_board_free(&b);
    }
    if (matches == 1)
        return CLI_EX_OK;
    if (matches == 0)
        return cli_fail(CLI_EX_FAIL,
                        "unknown id prefix '%s': no need or offer on this node's board starts "
                        "with it (give the full id of other posts)",
                        text);
    return CLI_EX_USAGE;
}

static int print_json(const uint8_t *id, const struct tmbus_delivery_state *s)
{
    json_t *o = json_object(), *recipients = json_array();
    char hex[TMBUS_ID_HEX_BYTES];

    for (size_t i = 0; i < tmbus_delivery_state_count(s); i++) {
        const struct tmbus_delivery_entry *e = tmbus_delivery_state_at(s, i);
        json_array_append_new(recipients,
                              json_pack("{s:s, s:s, s:s, s:I}", "member", e->member, "state",
                                        e->state, "reason", e->reason, "at", (json_int_t)e->at));
    }
    tmbus_id_to_hex(id, hex);
    json_object_set_new(o, "id", json_string(hex));
    json_object_set_new(o, "recipients", recipients);
    return output_json_line(o);
}

static int print_text(const struct tmbus_delivery_state *s)
{
    static const char *const headers[] = {"MEMBER", "STATE", "SINCE", "REASON"};
    struct table *t = table_new(4, headers);
    char when[32];
    int rc = -1;

    if (t == NULL)
        return -1;
    for (size_t i = 0; i < tmbus_delivery_state_count(s); i++) {
        const struct tmbus_delivery_entry *e = tmbus_delivery_state_at(s, i);
        cli_format_time(e->at, when, sizeof(when));
        const char *cells[] = {e->member, e->state, when, e->reason};
        if (table_add(t, cells) == -1)
            goto out;
    }
    table_print(t, stdout);
    rc = fflush(stdout) == 0 ? 0 : -1;
out:
    table_free(&t);
    return rc;
}

int cmd_delivery(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {CLI_COMMON_LONG};
    struct tmbus_delivery_state *s = NULL;
    uint8_t id[TMBUS_ID_BYTES];
    struct tmbus *h;
    int opt, rc;

    optind = 0;
    while ((opt = getopt_long(argc, argv, CLI_SHORT, longopts, NULL)) != -1) {
        if ((rc = cli_option(cli, "delivery", opt, argv, usage)) != CLI_CONTINUE)
            return rc;
    }
    if (optind >= argc)
        return cli_usage_error("delivery", "no id given");
    if (optind + 1 < argc)
        return cli_usage_error("delivery", "unexpected argument");
    if ((h = cli_connect(cli, &rc)) == NULL)
        return rc;
    if ((rc = resolve(cli, h, argv[optind], id)) != CLI_EX_OK)
        goto out;
    if ((rc = tmbus_delivery_state(h, id, cli->timeout_ms, &s)) != TMBUS_OK)
        rc = cli_fail_call(cli, h, rc, "ask for the delivery state");
    else if ((cli->is_json ? print_json(id, s) : print_text(s)) == -1)
        rc = cli_fail(CLI_EX_FAIL, "cannot write to stdout");
    else
        rc = CLI_EX_OK;
out:
    tmbus_delivery_state_free(&s);
    tmbus_close(&h);
    return rc;
}
