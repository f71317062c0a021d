/*
 * tmbus report: the board's reports as the node computes them for this
 * client (the board: proto/PROTOCOL.md, section 6.3) — open needs by
 * priority and deadline, overdue ones flagged, then pledged and delivered
 * value per donor, per category, per sector and in total. Read-only; what
 * is above the client's clearance does not count.
 */
#include <getopt.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: tmbus report [--json]\n"
               "Shows the open needs (critical first, then by deadline; overdue ones marked),\n"
               "then the value pledged (offers accepted, delivered or confirmed) and delivered\n"
               "(confirmed) in EUR, per donor, per category, per sector and in total.\n");
}

static const enum tmbus_report_by kinds[] = {TMBUS_REPORT_BY_DONOR, TMBUS_REPORT_BY_CATEGORY,
                                             TMBUS_REPORT_BY_SECTOR};
static const char *const kind_names[] = {"donors", "categories", "sectors"};
static const char *const kind_headers[] = {"DONOR", "CATEGORY", "SECTOR"};

static json_t *total_json(const struct tmbus_report_total *t)
{
    return json_pack("{s:s, s:I, s:I}", "key", t->key, "pledged_cents",
                     (json_int_t)t->pledged_cents, "delivered_cents",
                     (json_int_t)t->delivered_cents);
}

static int print_json(const struct tmbus_report *r)
{
    json_t *o = json_object(), *needs = json_array();
    char hex[TMBUS_ID_HEX_BYTES];

    for (size_t i = 0; i < tmbus_report_need_count(r); i++) {
        const struct tmbus_report_need *n = tmbus_report_need_at(r, i);
        const char *priority = tmbus_priority_name(n->priority);
        cli_id_hex(n->id, hex);
        json_array_append_new(
            needs,
            json_pack("{s:s, s:s, s:b, s:s, s:s, s:s, s:s, s:b, s:I, s:I, s:I}", "id", hex, "owner",
                      n->owner, "author_revoked", n->is_author_revoked, "title", n->title, "status",
                      n->status, "priority", priority != NULL ? priority : "unknown", "deadline",
                      n->deadline, "overdue", n->is_overdue, "quantity", (json_int_t)n->quantity,
                      "accepted_quantity", (json_int_t)n->accepted_quantity, "value_cents",
                      (json_int_t)n->value_cents));
    }
    json_object_set_new(o, "open_needs", needs);
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        json_t *rows = json_array();
        for (size_t i = 0; i < tmbus_report_total_count(r, kinds[k]); i++)
            json_array_append_new(rows, total_json(tmbus_report_total_at(r, kinds[k], i)));
        json_object_set_new(o, kind_names[k], rows);
    }
    json_object_set_new(o, "total", total_json(tmbus_report_overall(r)));
    return output_json_line(o);
}

static int print_needs(const struct tmbus_report *r)
{
    static const char *const headers[] = {"PRIORITY",  "DEADLINE", "STATUS", "COVERED",
                                          "VALUE EUR", "OWNER",    "TITLE",  "ID"};
    struct table *t = table_new(8, headers);
    char deadline[32], covered[64], eur[32], hex[TMBUS_ID_HEX_BYTES], owner[CLI_OWNER_CELL];
    int rc = -1;

    if (t == NULL)
        return -1;
    table_set_max(t, 6, 48);
    for (size_t i = 0; i < tmbus_report_need_count(r); i++) {
        const struct tmbus_report_need *n = tmbus_report_need_at(r, i);
        const char *priority = tmbus_priority_name(n->priority);
        snprintf(deadline, sizeof(deadline), "%s%s", n->deadline[0] ? n->deadline : "-",
                 n->is_overdue ? " OVERDUE" : "");
        snprintf(covered, sizeof(covered), "%llu/%llu", (unsigned long long)n->accepted_quantity,
                 (unsigned long long)n->quantity);
        cli_format_eur(n->value_cents, eur, sizeof(eur));
        cli_id_hex(n->id, hex);
        hex[16] = '\0';
        output_author(n->owner, n->is_author_revoked, owner, sizeof(owner));
        const char *cells[] = {priority != NULL ? priority : "unknown",
                               deadline,
                               n->status,
                               covered,
                               eur,
                               owner,
                               n->title,
                               hex};
        if (table_add(t, cells) == -1)
            goto out;
    }
    if (tmbus_report_need_count(r) == 0)
        printf("no open needs\n");
    else
        table_print(t, stdout);
    if (tmbus_report_need_total(r) > tmbus_report_need_count(r))
        printf("(the first %zu of %llu open needs; tmbus need list --status open lists all)\n",
               tmbus_report_need_count(r), (unsigned long long)tmbus_report_need_total(r));
    rc = 0;
out:
    table_free(&t);
    return rc;
}

static int add_total_row(struct table *t, const struct tmbus_report_total *row)
{
    char pledged[32], delivered[32];

    cli_format_eur(row->pledged_cents, pledged, sizeof(pledged));
    cli_format_eur(row->delivered_cents, delivered, sizeof(delivered));
    const char *cells[] = {row->key, pledged, delivered};
    return table_add(t, cells);
}

static int print_totals(const struct tmbus_report *r, size_t k)
{
    const char *headers[] = {kind_headers[k], "PLEDGED EUR", "DELIVERED EUR"};
    struct table *t = table_new(3, headers);
    int rc = -1;

    if (t == NULL)
        return -1;
    for (size_t i = 0; i < tmbus_report_total_count(r, kinds[k]); i++)
        if (add_total_row(t, tmbus_report_total_at(r, kinds[k], i)) == -1)
            goto out;
    if (add_total_row(t, tmbus_report_overall(r)) == -1)
        goto out;
    printf("\n");
    table_print(t, stdout);
    rc = 0;
out:
    table_free(&t);
    return rc;
}

static int print_text(const struct tmbus_report *r)
{
    if (print_needs(r) == -1)
        return -1;
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
        if (print_totals(r, k) == -1)
            return -1;
    return fflush(stdout) == 0 ? 0 : -1;
}

int cmd_report(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {CLI_COMMON_LONG};
    struct tmbus_report *r = NULL;
    struct tmbus *h;
    int opt, rc;

    optind = 0;
    while ((opt = getopt_long(argc, argv, CLI_SHORT, longopts, NULL)) != -1) {
        if ((rc = cli_option(cli, "report", opt, argv, usage)) != CLI_CONTINUE)
            return rc;
    }
    if (optind < argc)
        return cli_usage_error("report", "unexpected argument");
    if ((h = cli_connect(cli, &rc)) == NULL)
        return rc;
    if ((rc = tmbus_report(h, cli->timeout_ms, &r)) != TMBUS_OK) {
        rc = cli_fail_call(cli, h, rc, "ask for the report");
    } else if ((cli->is_json ? print_json(r) : print_text(r)) == -1) {
        rc = cli_fail(CLI_EX_FAIL, "cannot write to stdout");
    } else {
        rc = CLI_EX_OK;
    }
    tmbus_report_free(&r);
    tmbus_close(&h);
    return rc;
}
