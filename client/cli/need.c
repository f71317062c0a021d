/*
 * tmbus need: post a need, list the board's needs, show one with its
 * offers, close, withdraw or edit one. Also what the posting commands
 * share: recipient lists, finding a need or an offer by id or unique
 * prefix, and printing an update's outcome. Field checks are libtmbus's
 * (tmbus_need_validate): the CLI only turns text into values exactly.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "date.h"

enum {
    OPT_TITLE = 0x200,
    OPT_CATEGORY,
    OPT_QUANTITY,
    OPT_UNIT,
    OPT_VALUE,
    OPT_PRIORITY,
    OPT_TLP,
    OPT_DEADLINE,
    OPT_BENEFICIARY,
    OPT_SECTOR,
    OPT_DESCRIPTION,
    OPT_CONTACT,
    OPT_TO,
    OPT_ALL,
    OPT_STATUS,
    OPT_REASON,
};

static void usage(FILE *f)
{
    fprintf(f, "usage: tmbus need post --title T --category C --quantity N --unit U\n"
               "                       --value-eur E --priority P --tlp L --sector S\n"
               "                       [--deadline YYYY-MM-DD] [--beneficiary ORG]\n"
               "                       [--description D] [--contact C] [--to M1,M2 | --all]\n"
               "       tmbus need list [--limit N] [--after CURSOR] [filters] [--json]\n"
               "       tmbus need show ID [--json]\n"
               "       tmbus need close|withdraw ID [--reason R] [--to M1,M2 | --all] [--json]\n"
               "       tmbus need edit ID [--title T] [--quantity N] [... any post field]\n"
               "                       [--reason R] [--to M1,M2 | --all] [--json]\n"
               "Run 'tmbus need post|list|show|close|withdraw|edit --help' for details.\n");
}

static void usage_post(FILE *f)
{
    fprintf(f,
            "usage: tmbus need post --title T --category C --quantity N --unit U\n"
            "                       --value-eur E --priority P --tlp L --sector S\n"
            "                       [--deadline YYYY-MM-DD] [--beneficiary ORG]\n"
            "                       [--description D] [--contact C] [--to M1,M2 | --all] [--json]\n"
            "Posts a need and prints its id once the node has committed it.\n"
            "  --category     %s\n"
            "  --priority     %s\n"
            "  --tlp          %s\n"
            "  --sector       %s\n"
            "  --value-eur    EUR with at most two decimals: 1234, 1234.5, 1234.56\n"
            "  --to M1,M2     these members only (TLP:RED needs them); --all: every member\n"
            "                 (the default)\n",
            tmbus_category_names(), tmbus_priority_names(), tmbus_tlp_names(),
            tmbus_sector_names());
}

static void usage_list(FILE *f)
{
    fprintf(f,
            "usage: tmbus need list [--limit N] [--after CURSOR] [--status S,..]\n"
            "                       [--category C,..] [--owner M,..] [--priority P,..]\n"
            "                       [--since DATE] [--json]\n"
            "Lists the needs on this node's board that this client may read, by id.\n"
            "Without --limit or --after, every page; with either, one page, and the\n"
            "cursor of the next (\"next\" with --json; on stderr otherwise).\n"
            "  --limit     needs in the page: 1 to %d\n"
            "  --after     the cursor a previous page gave\n"
            "  --status    %s\n"
            "  --category  %s\n"
            "  --owner     member ids\n"
            "  --priority  %s\n"
            "  --since     changed on the node since: YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or unix\n"
            "              seconds\n"
            "Each list takes up to %d values separated by commas: any of them.\n",
            TMBUS_BOARD_PAGE_MAX, tmbus_need_status_names(), tmbus_category_names(),
            tmbus_priority_names(), TMBUS_BOARD_FILTER_MAX);
}

static void usage_show(FILE *f)
{
    fprintf(f,
            "usage: tmbus need show ID [--json]\n"
            "Shows one need and the offers that answer it. ID is the full id (64 hex\n"
            "digits) or a unique prefix of at least %d.\n",
            CLI_ID_PREFIX_MIN);
}

static void usage_close(FILE *f)
{
    fprintf(f,
            "usage: tmbus need close|withdraw ID [--reason R] [--to M1,M2 | --all] [--json]\n"
            "Closes a need (no more offers: it is met or no longer wanted) or withdraws it,\n"
            "and prints the update's id once the node has committed it. Only the need's\n"
            "owner may. ID is the full id or a unique prefix of at least %d hex digits.\n"
            "  --reason R    a sentence for readers (one line)\n"
            "  --to M1,M2    these members; --all: every member (the default). A TLP:RED\n"
            "                need's update must name its readers with --to.\n",
            CLI_ID_PREFIX_MIN);
}

static void usage_edit(FILE *f)
{
    fprintf(f,
            "usage: tmbus need edit ID [--title T] [--description D] [--quantity N]\n"
            "                       [--unit U] [--value-eur E] [--priority P]\n"
            "                       [--deadline YYYY-MM-DD] [--contact C] [--beneficiary ORG]\n"
            "                       [--sector S] [--category C] [--tlp L] [--reason R]\n"
            "                       [--to M1,M2 | --all] [--json]\n"
            "Changes only the fields given (at least one) and prints the update's id once\n"
            "the node has committed it; coverage is recomputed against a new quantity.\n"
            "Only the need's owner may. A field cannot be emptied, nor the value set to 0.\n"
            "  --category     %s\n"
            "  --priority     %s\n"
            "  --tlp          %s\n"
            "  --sector       %s\n"
            "  --to M1,M2     these members; --all: every member (the default). A need that\n"
            "                 is or becomes TLP:RED must name its readers with --to.\n",
            tmbus_category_names(), tmbus_priority_names(), tmbus_tlp_names(),
            tmbus_sector_names());
}

/* ---- shared by the posting commands -------------------------------------- */

int cli_to_parse(struct cli_to *to, const char *list)
{
    int n;

    if (to->is_set)
        return cli_fail(-1, "give --to or --all once");
    n = cli_split_list(list, TMBUS_MAX_RECIPIENTS, &to->names, &to->storage);
    if (n <= 0)
        return cli_fail(-1, "--to wants member ids separated by commas (at most %d)",
                        TMBUS_MAX_RECIPIENTS);
    to->n = (size_t)n;
    to->is_set = true;
    return 0;
}

int cli_to_option(struct cli_to *to, const char *cmd, const char *list)
{
    if (to->is_set)
        return cli_fail(-1, "%s: give either --to M1,M2 or --all, once", cmd);
    if (list == NULL) {
        to->all = to->is_set = true;
        return 0;
    }
    return cli_to_parse(to, list);
}

int cli_to_add(struct cli_to *to, const char *member)
{
    char **more;

    if (to->all)
        return 0;
    for (size_t i = 0; i < to->n; i++)
        if (strcmp(to->names[i], member) == 0)
            return 0;
    if (to->n == TMBUS_MAX_RECIPIENTS)
        return -1;
    /* Names point into storage or at member, which outlives the post. */
    if ((more = realloc(to->names, (to->n + 2) * sizeof(*more))) == NULL)
        return -1;
    to->names = more;
    to->names[to->n++] = (char *)(uintptr_t)member;
    to->names[to->n] = NULL;
    return 0;
}

void cli_to_free(struct cli_to *to)
{
    free(to->names);
    free(to->storage);
    memset(to, 0, sizeof(*to));
}

static bool is_hex(const char *s)
{
    return *s != '\0' && strspn(s, "0123456789abcdefABCDEF") == strlen(s);
}

/* The board around the item with id: its need and the need's offers
 * (is_offer: the need that offer answers), or, for an offer whose need is
 * not on the board (a catalogue offer, a need above the clearance), the
 * page that found it; *index is the item's place there. Takes page. */
static int board_around(struct cli *cli, struct tmbus *h, struct tmbus_board *page, bool is_offer,
                        struct tmbus_board **board, size_t *index)
{
    const uint8_t *need_id =
        is_offer ? tmbus_board_offer_at(page, 0)->offer.need_id : tmbus_board_need_at(page, 0)->id;
    uint8_t id[TMBUS_ID_BYTES];
    int rc;

    memcpy(id, is_offer ? tmbus_board_offer_at(page, 0)->id : need_id, TMBUS_ID_BYTES);
    if (need_id == NULL) {
        *board = page;
        *index = 0;
        return CLI_EX_OK;
    }
    rc = tmbus_board(h, need_id, NULL, cli->timeout_ms, board);
    if (rc == TMBUS_ENOTFOUND && is_offer) {
        *board = page;
        *index = 0;
        return CLI_EX_OK;
    }
    tmbus_board_free(&page);
    if (rc != TMBUS_OK)
        return cli_fail_call(cli, h, rc, "read the board");
    *index = 0;
    for (size_t i = 0; is_offer && i < tmbus_board_offer_count(*board); i++)
        if (memcmp(tmbus_board_offer_at(*board, i)->id, id, TMBUS_ID_BYTES) == 0)
            *index = i;
    return CLI_EX_OK;
}

/* Finds text (64 hex digits, or a unique prefix of at least
 * CLI_ID_PREFIX_MIN) among the board's needs, or its offers when is_offer
 * is set: one prefix rule for every command that takes an id. The node
 * finds the ids with that prefix (two are enough to call it ambiguous).
 * On success returns CLI_EX_OK with *board (the caller frees it: the need
 * and its offers) and *index of the match in it; else prints why and
 * returns the exit status. */
static int find_id(struct cli *cli, struct tmbus *h, const char *text, bool is_offer,
                   struct tmbus_board **board, size_t *index)
{
    const char *what = is_offer ? "offer" : "need";
    struct tmbus_board_query q = {
        .list = is_offer ? TMBUS_BOARD_OFFERS : TMBUS_BOARD_NEEDS, .limit = 2, .id_prefix = text};
    struct tmbus_board *page = NULL;
    char first[TMBUS_ID_HEX_BYTES], second[TMBUS_ID_HEX_BYTES];
    size_t len = strlen(text), matches;
    int rc;

    *board = NULL;
    if (!is_hex(text) || len < CLI_ID_PREFIX_MIN || len > CLI_ID_HEX)
        return cli_fail(CLI_EX_USAGE,
                        "bad %s id '%.80s': give the full id (64 hex digits) or a unique prefix "
                        "of at least %d",
                        what, text, CLI_ID_PREFIX_MIN);
    if ((rc = tmbus_board_query(h, &q, cli->timeout_ms, &page)) != TMBUS_OK)
        return cli_fail_call(cli, h, rc, "read the board");
    matches = is_offer ? tmbus_board_offer_count(page) : tmbus_board_need_count(page);
    if (matches == 1)
        return board_around(cli, h, page, is_offer, board, index);
    if (matches == 0) {
        tmbus_board_free(&page);
        return cli_fail(CLI_EX_FAIL,
                        "unknown %s id '%s': no such %s on this node's board (or not "
                        "readable by this client)",
                        what, text, what);
    }
    tmbus_id_to_hex(is_offer ? tmbus_board_offer_at(page, 0)->id : tmbus_board_need_at(page, 0)->id,
                    first);
    tmbus_id_to_hex(is_offer ? tmbus_board_offer_at(page, 1)->id : tmbus_board_need_at(page, 1)->id,
                    second);
    tmbus_board_free(&page);
    cli_fail(0,
             "%s id prefix '%s' is ambiguous: it matches %.16s…, %.16s… and maybe more; give "
             "more digits",
             what, text, first, second);
    return CLI_EX_USAGE;
}

int cli_find_need(struct cli *cli, struct tmbus *h, const char *text, struct tmbus_board **board,
                  const struct tmbus_board_need **need)
{
    size_t i = 0;
    int rc = find_id(cli, h, text, false, board, &i);

    *need = rc == CLI_EX_OK ? tmbus_board_need_at(*board, i) : NULL;
    return rc;
}

int cli_find_offer(struct cli *cli, struct tmbus *h, const char *text, struct tmbus_board **board,
                   const struct tmbus_board_offer **offer)
{
    size_t i = 0;
    int rc = find_id(cli, h, text, true, board, &i);

    *offer = rc == CLI_EX_OK ? tmbus_board_offer_at(*board, i) : NULL;
    return rc;
}

const struct tmbus_board_need *cli_board_need(const struct tmbus_board *b, const uint8_t *id)
{
    for (size_t i = 0; id != NULL && i < tmbus_board_need_count(b); i++) {
        const struct tmbus_board_need *bn = tmbus_board_need_at(b, i);
        if (memcmp(bn->id, id, TMBUS_ID_BYTES) == 0)
            return bn;
    }
    return NULL;
}

/* ---- need post ------------------------------------------------------------ */

/* Parses an enum option with the library's parser; prints the allowed
 * names when the value is not one of them. */
static int parse_enum(const char *opt, const char *value, int (*parse)(const char *, int *),
                      const char *(*names)(void), int *out)
{
    if (parse(value, out) != TMBUS_OK)
        return cli_fail(-1, "%s: '%.64s' is not one of: %s", opt, value, names());
    return 0;
}

/* The option getopt_long just parsed as typed ("--title" or
 * "--title=T"): its value may be the next word. */
static const char *opt_text(char **argv)
{
    return optind >= 2 && optarg == argv[optind - 1] ? argv[optind - 2] : argv[optind - 1];
}

/* Sets the need field that opt names from arg, exactly as typed (the
 * library checks lengths and lines). Returns 1 when opt is a field
 * option, 0 when it is not, -1 after printing why the value is bad. */
static int parse_field(int opt, const char *arg, struct tmbus_need *need)
{
    const char *err;

    switch (opt) {
    case OPT_TITLE:
        need->title = arg;
        return 1;
    case OPT_CATEGORY:
        return parse_enum("--category", arg, tmbus_category_parse, tmbus_category_names,
                          &need->category) == -1
                   ? -1
                   : 1;
    case OPT_QUANTITY:
        if (cli_parse_u64(arg, 1, UINT64_MAX, &need->quantity) == -1)
            return cli_fail(-1, "--quantity: '%.64s' is not a positive whole number", arg);
        return 1;
    case OPT_UNIT:
        need->unit = arg;
        return 1;
    case OPT_VALUE:
        if (cli_parse_eur(arg, &need->value_cents, &err) == -1)
            return cli_fail(-1, "--value-eur: '%.64s': %s", arg, err);
        return 1;
    case OPT_PRIORITY:
        return parse_enum("--priority", arg, tmbus_priority_parse, tmbus_priority_names,
                          &need->priority) == -1
                   ? -1
                   : 1;
    case OPT_TLP:
        return parse_enum("--tlp", arg, tmbus_tlp_parse, tmbus_tlp_names, &need->tlp) == -1 ? -1
                                                                                            : 1;
    case OPT_DEADLINE:
        if (!date_is_day(arg))
            return cli_fail(-1, "--deadline: '%.64s' is not a date YYYY-MM-DD", arg);
        need->deadline = arg;
        return 1;
    case OPT_BENEFICIARY:
        need->beneficiary = arg;
        return 1;
    case OPT_SECTOR:
        return parse_enum("--sector", arg, tmbus_sector_parse, tmbus_sector_names, &need->sector) ==
                       -1
                   ? -1
                   : 1;
    case OPT_DESCRIPTION:
        need->description = arg;
        return 1;
    case OPT_CONTACT:
        need->contact = arg;
        return 1;
    default:
        return 0;
    }
}

static int need_post(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"title", required_argument, NULL, OPT_TITLE},
        {"category", required_argument, NULL, OPT_CATEGORY},
        {"quantity", required_argument, NULL, OPT_QUANTITY},
        {"unit", required_argument, NULL, OPT_UNIT},
        {"value-eur", required_argument, NULL, OPT_VALUE},
        {"priority", required_argument, NULL, OPT_PRIORITY},
        {"tlp", required_argument, NULL, OPT_TLP},
        {"deadline", required_argument, NULL, OPT_DEADLINE},
        {"beneficiary", required_argument, NULL, OPT_BENEFICIARY},
        {"sector", required_argument, NULL, OPT_SECTOR},
        {"description", required_argument, NULL, OPT_DESCRIPTION},
        {"contact", required_argument, NULL, OPT_CONTACT},
        {"to", required_argument, NULL, OPT_TO},
        {"all", no_argument, NULL, OPT_ALL},
        CLI_COMMON_LONG};
    static const struct {
        int opt;
        const char *name;
    } required[] = {{OPT_TITLE, "--title"},       {OPT_CATEGORY, "--category"},
                    {OPT_QUANTITY, "--quantity"}, {OPT_UNIT, "--unit"},
                    {OPT_VALUE, "--value-eur"},   {OPT_PRIORITY, "--priority"},
                    {OPT_TLP, "--tlp"},           {OPT_SECTOR, "--sector"}};
    struct tmbus_need need = {0};
    struct cli_to to = {0};
    struct tmbus *h = NULL;
    uint8_t id[TMBUS_ID_BYTES];
    char why[TMBUS_VALIDATE_ERROR_MAX];
    bool seen[OPT_STATUS - OPT_TITLE + 1] = {false};
    int opt, field, rc = CLI_EX_USAGE;

    optind = 0;
    while ((opt = getopt_long(argc, argv, CLI_SHORT, longopts, NULL)) != -1) {
        if (opt >= OPT_TITLE && opt <= OPT_STATUS) {
            if (seen[opt - OPT_TITLE] && opt != OPT_TO && opt != OPT_ALL) {
                cli_fail(0, "need post: %s given twice", opt_text(argv));
                goto out;
            }
            seen[opt - OPT_TITLE] = true;
        }
        if ((field = parse_field(opt, optarg, &need)) == -1)
            goto out;
        if (field == 1)
            continue;
        switch (opt) {
        case OPT_TO:
        case OPT_ALL:
            if (cli_to_option(&to, "need post", opt == OPT_TO ? optarg : NULL) == -1)
                goto out;
            break;
        default:
            if ((rc = cli_option(cli, "need post", opt, argv, usage_post)) != CLI_CONTINUE)
                goto out;
            rc = CLI_EX_USAGE;
        }
    }
    if (optind < argc) {
        rc = cli_usage_error("need post", "unexpected argument");
        goto out;
    }
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        if (!seen[required[i].opt - OPT_TITLE]) {
            cli_fail(0, "need post: %s is required (see tmbus need post --help)", required[i].name);
            goto out;
        }
    }
    if (!to.is_set)
        to.all = true;
    /* Check before connecting: a typo should not cost a round trip. */
    if (tmbus_need_validate(&need, why, sizeof(why)) != TMBUS_OK) {
        cli_fail(0, "need post: %s", why);
        goto out;
    }
    if ((h = cli_connect(cli, &rc)) == NULL)
        goto out;
    rc =
        tmbus_post_need(h, &need, (const char *const *)to.names, to.n, to.all, cli->timeout_ms, id);
    if (rc != TMBUS_OK) {
        rc = cli_fail_call(cli, h, rc, "post the need");
        goto out;
    }
    rc = cli_print_id(cli, id);
out:
    tmbus_close(&h);
    cli_to_free(&to);
    return rc;
}

/* ---- need list, need show -------------------------------------------------- */

/* What need list gathers from its pages: a table, or the JSON array. */
struct need_rows {
    struct table *t;
    json_t *needs;
};

static int add_need_rows(void *arg, const struct tmbus_board *page)
{
    struct need_rows *r = arg;

    for (size_t i = 0; i < tmbus_board_need_count(page); i++) {
        const struct tmbus_board_need *bn = tmbus_board_need_at(page, i);
        if (r->needs != NULL ? json_array_append_new(r->needs, output_board_need(bn)) == -1
                             : output_need_row(r->t, bn) == -1)
            return cli_fail(CLI_EX_FAIL, "out of memory");
    }
    return 0;
}

static int need_list(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {CLI_BOARD_LONG_NEEDS, CLI_COMMON_LONG};
    struct cli_board_args args;
    struct need_rows rows = {0};
    char next[TMBUS_BOARD_CURSOR_BYTES];
    struct tmbus *h = NULL;
    int opt, rc;

    optind = 0;
    cli_board_args_init(&args, TMBUS_BOARD_NEEDS);
    while ((opt = getopt_long(argc, argv, CLI_SHORT, longopts, NULL)) != -1) {
        if ((rc = cli_board_option(&args, opt, optarg)) == 1)
            continue;
        if (rc == -1) {
            rc = CLI_EX_USAGE;
            goto out;
        }
        if ((rc = cli_option(cli, "need list", opt, argv, usage_list)) != CLI_CONTINUE)
            goto out;
    }
    if (optind < argc) {
        rc = cli_usage_error("need list", "unexpected argument");
        goto out;
    }
    if ((h = cli_connect(cli, &rc)) == NULL)
        goto out;
    if (cli->is_json ? (rows.needs = json_array()) == NULL
                     : (rows.t = output_need_table()) == NULL) {
        rc = cli_fail(CLI_EX_FAIL, "out of memory");
        goto out;
    }
    if ((rc = cli_board_pages(cli, h, &args, add_need_rows, &rows, next)) != CLI_EX_OK)
        goto out;
    if (cli->is_json) {
        json_t *o = json_pack("{s:o, s:s}", "needs", rows.needs, "next", next);
        rows.needs = NULL;
        if (output_json_line(o) == -1)
            rc = cli_fail(CLI_EX_FAIL, "cannot write to stdout");
    } else {
        table_print(rows.t, stdout);
        if (next[0] != '\0')
            fprintf(stderr, "tmbus: more needs: tmbus need list --after %s\n", next);
    }
out:
    json_decref(rows.needs);
    table_free(&rows.t);
    cli_board_args_free(&args);
    tmbus_close(&h);
    return rc;
}

static void print_need(const struct tmbus_board_need *bn)
{
    const struct tmbus_need *n = &bn->need;
    char hex[TMBUS_ID_HEX_BYTES], eur[32];
    struct table *t;

    tmbus_id_to_hex(bn->id, hex);
    cli_format_eur(n->value_cents, eur, sizeof(eur));
    /* A two-column table so that text from other members is sanitised. */
    if ((t = table_new(2, NULL)) == NULL)
        return;
    char qty[64], cov[96];
    snprintf(qty, sizeof(qty), "%llu", (unsigned long long)n->quantity);
    snprintf(cov, sizeof(cov), "%llu/%llu accepted, %llu delivered",
             (unsigned long long)bn->accepted_quantity, (unsigned long long)n->quantity,
             (unsigned long long)bn->delivered_quantity);
    char created[CLI_TIME_MAX];
    cli_format_time(bn->created_at, created, sizeof(created));
    const char *rows[][2] = {
        {"id", hex},
        {"owner", bn->owner},
        {"created", created},
        {"status", bn->status},
        {"title", n->title},
        {"category", tmbus_category_name(n->category)},
        {"priority", tmbus_priority_name(n->priority)},
        {"tlp", tmbus_tlp_name(n->tlp)},
        {"quantity", qty},
        {"unit", n->unit},
        {"coverage", cov},
        {"value EUR", eur},
        {"deadline", n->deadline},
        {"beneficiary", n->beneficiary},
        {"sector", tmbus_sector_name(n->sector)},
        {"contact", n->contact},
        {"description", n->description},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const char *v = rows[i][1];
        const char *cells[2] = {rows[i][0], v != NULL && *v != '\0' ? v : "-"};
        if (table_add(t, cells) == -1)
            break;
    }
    table_print(t, stdout);
    table_free(&t);
}

static int need_show(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {CLI_COMMON_LONG};
    const struct tmbus_board_need *bn;
    struct tmbus_board *b = NULL;
    struct tmbus *h = NULL;
    struct table *t = NULL;
    int opt, rc;

    optind = 0;
    while ((opt = getopt_long(argc, argv, CLI_SHORT, longopts, NULL)) != -1) {
        if ((rc = cli_option(cli, "need show", opt, argv, usage_show)) != CLI_CONTINUE)
            return rc;
    }
    if (argc - optind != 1)
        return cli_usage_error("need show", "expected one need ID");
    if ((h = cli_connect(cli, &rc)) == NULL)
        return rc;
    if ((rc = cli_find_need(cli, h, argv[optind], &b, &bn)) != CLI_EX_OK)
        goto out;
    rc = CLI_EX_FAIL;
    if (cli->is_json) {
        json_t *offers = json_array(), *o = json_object();
        for (size_t i = 0; i < tmbus_board_offer_count(b); i++) {
            const struct tmbus_board_offer *bo = tmbus_board_offer_at(b, i);
            if (bo->offer.need_id != NULL && memcmp(bo->offer.need_id, bn->id, TMBUS_ID_BYTES) == 0)
                json_array_append_new(offers, output_board_offer(bo));
        }
        json_object_set_new(o, "need", output_board_need(bn));
        json_object_set_new(o, "offers", offers);
        if (output_json_line(o) == -1) {
            cli_fail(0, "cannot write to stdout");
            goto out;
        }
    } else {
        print_need(bn);
        if ((t = output_offer_table()) == NULL)
            goto nomem;
        size_t n = 0;
        for (size_t i = 0; i < tmbus_board_offer_count(b); i++) {
            const struct tmbus_board_offer *bo = tmbus_board_offer_at(b, i);
            if (bo->offer.need_id == NULL || memcmp(bo->offer.need_id, bn->id, TMBUS_ID_BYTES) != 0)
                continue;
            if (output_offer_row(t, bo) == -1)
                goto nomem;
            n++;
        }
        printf("\n");
        if (n == 0)
            printf("no offers yet\n");
        else
            table_print(t, stdout);
    }
    rc = CLI_EX_OK;
    goto out;
nomem:
    cli_fail(0, "out of memory");
out:
    table_free(&t);
    tmbus_board_free(&b);
    tmbus_close(&h);
    return rc;
}

/* ---- need close, need withdraw, need edit ---------------------------------- */

int cli_print_update(const struct cli *cli, const char *kind, const uint8_t target[TMBUS_ID_BYTES],
                     const char *action, const char *done, const uint8_t id[TMBUS_ID_BYTES])
{
    char hex[TMBUS_ID_HEX_BYTES], target_hex[TMBUS_ID_HEX_BYTES];

    tmbus_id_to_hex(id, hex);
    tmbus_id_to_hex(target, target_hex);
    if (cli->is_json) {
        if (output_json_line(json_pack("{s:s, s:s, s:s}", "id", hex, "action", action, "target",
                                       target_hex)) == -1)
            return cli_fail(CLI_EX_FAIL, "cannot write to stdout");
        return CLI_EX_OK;
    }
    printf("%s %.*s %s\n%s\n", kind, CLI_ID_SHORT, target_hex, done, hex);
    if (fflush(stdout) != 0)
        return cli_fail(CLI_EX_FAIL, "cannot write to stdout");
    return CLI_EX_OK;
}

/* Closes, withdraws (no fields) or edits (at least one field) a need.
 * Recipients: every member unless the need is, or becomes, TLP:RED; its
 * readers were then named when it was posted and the board does not
 * remember them, so the caller names them again with --to. */
static int need_update(struct cli *cli, int action, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"title", required_argument, NULL, OPT_TITLE},
        {"category", required_argument, NULL, OPT_CATEGORY},
        {"quantity", required_argument, NULL, OPT_QUANTITY},
        {"unit", required_argument, NULL, OPT_UNIT},
        {"value-eur", required_argument, NULL, OPT_VALUE},
        {"priority", required_argument, NULL, OPT_PRIORITY},
        {"tlp", required_argument, NULL, OPT_TLP},
        {"deadline", required_argument, NULL, OPT_DEADLINE},
        {"beneficiary", required_argument, NULL, OPT_BENEFICIARY},
        {"sector", required_argument, NULL, OPT_SECTOR},
        {"description", required_argument, NULL, OPT_DESCRIPTION},
        {"contact", required_argument, NULL, OPT_CONTACT},
        {"reason", required_argument, NULL, OPT_REASON},
        {"to", required_argument, NULL, OPT_TO},
        {"all", no_argument, NULL, OPT_ALL},
        CLI_COMMON_LONG};
    const char *name = tmbus_need_action_name(action), *reason = NULL;
    bool is_edit = action == TMBUS_NEED_EDIT, has_field = false;
    void (*cmd_usage)(FILE *) = is_edit ? usage_edit : usage_close;
    const struct tmbus_board_need *bn;
    struct tmbus_need edit = {0};
    struct tmbus_board *b = NULL;
    struct cli_to to = {0};
    struct tmbus *h = NULL;
    uint8_t id[TMBUS_ID_BYTES];
    char cmd[32];
    int opt, field, rc = CLI_EX_USAGE;

    snprintf(cmd, sizeof(cmd), "need %s", name);
    optind = 0;
    while ((opt = getopt_long(argc, argv, CLI_SHORT, longopts, NULL)) != -1) {
        if ((field = parse_field(opt, optarg, &edit)) == -1)
            goto out;
        if (field == 1) {
            if (!is_edit) {
                cli_fail(0, "%s: %s is for need edit only", cmd, opt_text(argv));
                goto out;
            }
            has_field = true;
            continue;
        }
        switch (opt) {
        case OPT_REASON:
            reason = optarg;
            break;
        case OPT_TO:
        case OPT_ALL:
            if (cli_to_option(&to, cmd, opt == OPT_TO ? optarg : NULL) == -1)
                goto out;
            break;
        default:
            if ((rc = cli_option(cli, cmd, opt, argv, cmd_usage)) != CLI_CONTINUE)
                goto out;
            rc = CLI_EX_USAGE;
        }
    }
    if (argc - optind != 1) {
        rc = cli_usage_error(cmd, "expected one need ID");
        goto out;
    }
    if (is_edit && !has_field) {
        rc = cli_usage_error(cmd, "give at least one field to change");
        goto out;
    }
    if ((h = cli_connect(cli, &rc)) == NULL)
        goto out;
    if ((rc = cli_find_need(cli, h, argv[optind], &b, &bn)) != CLI_EX_OK)
        goto out;
    if (bn->need.tlp == TMBUS_TLP_RED || edit.tlp == TMBUS_TLP_RED) {
        if (!to.is_set || to.all) {
            rc = cli_fail(CLI_EX_USAGE,
                          "%s: the need is TLP:RED: name the members who may read it with --to "
                          "M1,M2 (an update cannot go to all)",
                          cmd);
            goto out;
        }
    } else if (!to.is_set) {
        to.all = true;
    }
    rc = tmbus_need_update(h, bn->id, action, is_edit ? &edit : NULL, reason,
                           (const char *const *)to.names, to.n, to.all, cli->timeout_ms, id);
    if (rc != TMBUS_OK) {
        char what[64];
        snprintf(what, sizeof(what), "%s the need", name);
        rc = cli_fail_call(cli, h, rc, what);
        goto out;
    }
    rc = cli_print_update(cli, "need", bn->id, name,
                          action == TMBUS_NEED_CLOSE      ? "closed"
                          : action == TMBUS_NEED_WITHDRAW ? "withdrawn"
                                                          : "edited",
                          id);
out:
    cli_to_free(&to);
    tmbus_board_free(&b);
    tmbus_close(&h);
    return rc;
}

int cmd_need(struct cli *cli, int argc, char **argv)
{
    static const struct {
        const char *name;
        int action;
    } updates[] = {
        {"close", TMBUS_NEED_CLOSE}, {"withdraw", TMBUS_NEED_WITHDRAW}, {"edit", TMBUS_NEED_EDIT}};

    if (argc < 2)
        return cli_usage_error("need",
                               "expected a subcommand: post, list, show, close, withdraw, edit");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return CLI_EX_OK;
    }
    if (strcmp(argv[1], "post") == 0)
        return need_post(cli, argc - 1, argv + 1);
    if (strcmp(argv[1], "list") == 0)
        return need_list(cli, argc - 1, argv + 1);
    if (strcmp(argv[1], "show") == 0)
        return need_show(cli, argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof(updates) / sizeof(updates[0]); i++)
        if (strcmp(argv[1], updates[i].name) == 0)
            return need_update(cli, updates[i].action, argc - 1, argv + 1);
    char why[128];
    snprintf(why, sizeof(why),
             "unknown subcommand '%.64s' (post, list, show, close, withdraw, edit)", argv[1]);
    return cli_usage_error("need", why);
}
