/*
 * board: what the board's listing commands share: the filter options
 * (--limit, --after, --status, --category, --owner or --donor, --priority,
 * --since) turned into one tmbus_board_query, and the loop over its pages
 * that hands each page on as it arrives and frees it, so that listing or
 * exporting a board of any size holds one page at a time. It never builds
 * or changes a cursor: those are the node's.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "date.h"

void cli_board_args_init(struct cli_board_args *a, int list)
{
    memset(a, 0, sizeof(*a));
    a->q.list = list;
    a->q.statuses = a->statuses;
    a->q.categories = a->categories;
    a->q.priorities = a->priorities;
}

void cli_board_args_free(struct cli_board_args *a)
{
    free(a->members);
    free(a->storage);
    a->members = NULL;
    a->storage = NULL;
}

/* Parses "A,B" of names with parse into codes; n receives the count. */
static int parse_codes(const char *opt, const char *arg, int (*parse)(const char *, int *),
                       const char *(*names)(void), int *codes, size_t *n)
{
    char **items = NULL, *storage = NULL;
    int count = cli_split_list(arg, TMBUS_BOARD_FILTER_MAX, &items, &storage);
    int ret = 0;

    if (count < 0) {
        cli_fail(0, "%s: give 1 to %d names separated by commas", opt, TMBUS_BOARD_FILTER_MAX);
        return -1;
    }
    for (int i = 0; i < count && ret == 0; i++)
        if (parse(items[i], &codes[i]) != TMBUS_OK)
            ret = cli_fail(-1, "%s: '%.64s' is not one of: %s", opt, items[i], names());
    *n = (size_t)count;
    free(items);
    free(storage);
    return ret;
}

/* --since: a day, a UTC time, or unix seconds. */
static int parse_since(const char *arg, int64_t *out)
{
    uint64_t seconds;

    if (date_parse(arg, strlen(arg), true, out) == 0)
        return 0;
    if (cli_parse_u64(arg, 0, INT64_MAX, &seconds) == 0) {
        *out = (int64_t)seconds;
        return 0;
    }
    return cli_fail(-1, "--since: '%.64s' is not YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or unix seconds",
                    arg);
}

int cli_board_option(struct cli_board_args *a, int opt, const char *arg)
{
    bool is_needs = a->q.list == TMBUS_BOARD_NEEDS;
    uint64_t limit;
    int n;

    switch (opt) {
    case CLI_OPT_LIMIT:
        if (cli_parse_u64(arg, 1, TMBUS_BOARD_PAGE_MAX, &limit) != 0)
            return cli_fail(-1, "--limit: give a number from 1 to %d", TMBUS_BOARD_PAGE_MAX);
        a->q.limit = (unsigned)limit;
        a->is_paged = true;
        return 1;
    case CLI_OPT_AFTER:
        if (arg[0] == '\0' || strlen(arg) >= TMBUS_BOARD_CURSOR_BYTES)
            return cli_fail(-1, "--after: give the \"next\" cursor a previous page printed");
        a->q.after = arg;
        a->is_paged = true;
        return 1;
    case CLI_OPT_STATUS:
        return parse_codes("--status", arg,
                           is_needs ? tmbus_need_status_parse : tmbus_offer_status_parse,
                           is_needs ? tmbus_need_status_names : tmbus_offer_status_names,
                           a->statuses, &a->q.n_statuses) == 0
                   ? 1
                   : -1;
    case CLI_OPT_CATEGORY:
        return parse_codes("--category", arg, tmbus_category_parse, tmbus_category_names,
                           a->categories, &a->q.n_categories) == 0
                   ? 1
                   : -1;
    case CLI_OPT_PRIORITY:
        return parse_codes("--priority", arg, tmbus_priority_parse, tmbus_priority_names,
                           a->priorities, &a->q.n_priorities) == 0
                   ? 1
                   : -1;
    case CLI_OPT_MEMBER:
        cli_board_args_free(a);
        n = cli_split_list(arg, TMBUS_BOARD_FILTER_MAX, &a->members, &a->storage);
        if (n < 0)
            return cli_fail(-1, "--%s: give 1 to %d member ids separated by commas",
                            is_needs ? "owner" : "donor", TMBUS_BOARD_FILTER_MAX);
        a->q.members = (const char *const *)a->members;
        a->q.n_members = (size_t)n;
        return 1;
    case CLI_OPT_SINCE:
        return parse_since(arg, &a->q.updated_since) == 0 ? 1 : -1;
    default:
        return 0;
    }
}

int cli_board_pages(struct cli *cli, struct tmbus *h, struct cli_board_args *a,
                    int (*fn)(void *arg, const struct tmbus_board *page), void *arg, char *next)
{
    char after[TMBUS_BOARD_CURSOR_BYTES] = "";
    const char *first = a->q.after;
    int rc;

    next[0] = '\0';
    for (;;) {
        struct tmbus_board *page = NULL;

        a->q.after = after[0] != '\0' ? after : first;
        rc = tmbus_board_query(h, &a->q, cli->timeout_ms, &page);
        a->q.after = first;
        if (rc != TMBUS_OK)
            return cli_fail_call(cli, h, rc, "read the board");
        snprintf(next, TMBUS_BOARD_CURSOR_BYTES, "%s", tmbus_board_next(page));
        rc = fn(arg, page);
        tmbus_board_free(&page);
        if (rc != 0)
            return rc;
        if (a->is_paged || next[0] == '\0')
            return CLI_EX_OK;
        snprintf(after, sizeof(after), "%s", next);
    }
}
