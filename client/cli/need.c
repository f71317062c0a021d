/*
 * tmbus need: post a need, list the board's needs, show one with its
 * offers. Also what the posting commands share: recipient lists and
 * finding a need by id or unique prefix. Field checks are libtmbus's
 * (tmbus_need_validate): the CLI only turns text into values exactly.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

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
};

static void usage(FILE *f)
{
    fprintf(f, "usage: tmbus need post --title T --category C --quantity N --unit U\n"
               "                       --value-eur E --priority P --tlp L [--deadline YYYY-MM-DD]\n"
               "                       [--beneficiary ORG] [--sector S] [--description D]\n"
               "                       [--contact C] [--to M1,M2 | --all]\n"
               "       tmbus need list [--status S] [--json]\n"
               "       tmbus need show ID [--json]\n"
               "Run 'tmbus need post|list|show --help' for details.\n");
}

static void usage_post(FILE *f)
{
    fprintf(f,
            "usage: tmbus need post --title T --category C --quantity N --unit U\n"
            "                       --value-eur E --priority P --tlp L [--deadline YYYY-MM-DD]\n"
            "                       [--beneficiary ORG] [--sector S] [--description D]\n"
            "                       [--contact C] [--to M1,M2 | --all] [--json]\n"
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
            "usage: tmbus need list [--status S] [--json]\n"
            "Lists the needs on this node's board that this client may read.\n"
            "  --status   %s\n",
            tmbus_need_status_names());
}

static void usage_show(FILE *f)
{
    fprintf(f,
            "usage: tmbus need show ID [--json]\n"
            "Shows one need and the offers that answer it. ID is the full id (64 hex\n"
            "digits) or a unique prefix of at least %d.\n",
            CLI_ID_PREFIX_MIN);
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

int cli_find_need(struct cli *cli, struct tmbus *h, const char *text, struct tmbus_board **board,
                  const struct tmbus_board_need **need)
{
    char hex[TMBUS_ID_HEX_BYTES], first[TMBUS_ID_HEX_BYTES] = "";
    uint8_t id[TMBUS_ID_BYTES];
    size_t len = strlen(text), matches = 0;
    int rc;

    *board = NULL;
    *need = NULL;
    if (!is_hex(text) || len < CLI_ID_PREFIX_MIN || len > CLI_ID_HEX)
        return cli_fail(CLI_EX_USAGE,
                        "bad need id '%.80s': give the full id (64 hex digits) or a unique prefix "
                        "of at least %d",
                        text, CLI_ID_PREFIX_MIN);
    if (len == CLI_ID_HEX && tmbus_id_from_hex(text, id) == TMBUS_OK)
        rc = tmbus_board(h, id, NULL, cli->timeout_ms, board);
    else
        rc = tmbus_board(h, NULL, NULL, cli->timeout_ms, board);
    if (rc != TMBUS_OK)
        return cli_fail_call(cli, h, rc, "read the board");
    for (size_t i = 0; i < tmbus_board_need_count(*board); i++) {
        const struct tmbus_board_need *bn = tmbus_board_need_at(*board, i);
        tmbus_id_to_hex(bn->id, hex);
        if (strncasecmp(hex, text, len) != 0)
            continue;
        if (matches++ == 0) {
            *need = bn;
            memcpy(first, hex, sizeof(first));
        } else if (matches == 2) {
            cli_fail(0,
                     "need id prefix '%s' is ambiguous: it matches %.16s…, %.16s… and maybe "
                     "more; give more digits",
                     text, first, hex);
        }
    }
    if (matches == 1)
        return CLI_EX_OK;
    tmbus_board_free(board);
    *need = NULL;
    if (matches == 0)
        return cli_fail(CLI_EX_FAIL,
                        "unknown need id '%s': no such need on this node's board (or not "
                        "readable by this client)",
                        text);
    return CLI_EX_USAGE;
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
    } required[] = {
        {OPT_TITLE, "--title"}, {OPT_CATEGORY, "--category"}, {OPT_QUANTITY, "--quantity"},
        {OPT_UNIT, "--unit"},   {OPT_VALUE, "--value-eur"},   {OPT_PRIORITY, "--priority"},
        {OPT_TLP, "--tlp"}};
    struct tmbus_need need = {0};
    struct cli_to to = {0};
    struct tmbus *h = NULL;
    uint8_t id[TMBUS_ID_BYTES];
    char hex[TMBUS_ID_HEX_BYTES], why[TMBUS_VALIDATE_ERROR_MAX];
    bool seen[OPT_STATUS - OPT_TITLE + 1] = {false};
    const char *err;
    int opt, rc = CLI_EX_USAGE;

    optind = 0;
    while ((opt = getopt_long(argc, argv, CLI_SHORT, longopts, NULL)) != -1) {
        if (opt >= OPT_TITLE && opt <= OPT_STATUS) {
            if (seen[opt - OPT_TITLE] && opt != OPT_TO && opt != OPT_ALL) {
                cli_fail(0, "need post: %s given twice", argv[optind - 1]);
                goto out;
            }
            seen[opt - OPT_TITLE] = true;
        }
        switch (opt) {
        case OPT_TITLE:
            need.title = optarg;
            break;
        case OPT_CATEGORY:
            if (parse_enum("--category", optarg, tmbus_category_parse, tmbus_category_names,
                           &need.category) == -1)
                goto out;
            break;
        case OPT_QUANTITY:
            if (cli_parse_u64(optarg, 1, UINT64_MAX, &need.quantity) == -1) {
                cli_fail(0, "--quantity: '%.64s' is not a positive whole number", optarg);
                goto out;
            }
            break;
        case OPT_UNIT:
            need.unit = optarg;
            break;
        case OPT_VALUE:
            if (cli_parse_eur(optarg, &need.value_cents, &err) == -1) {
                cli_fail(0, "--value-eur: '%.64s': %s", optarg, err);
                goto out;
            }
            break;
        case OPT_PRIORITY:
            if (parse_enum("--priority", optarg, tmbus_priority_parse, tmbus_priority_names,
                           &need.priority) == -1)
                goto out;
            break;
        case OPT_TLP:
            if (parse_enum("--tlp", optarg, tmbus_tlp_parse, tmbus_tlp_names, &need.tlp) == -1)
                goto out;
            break;
        case OPT_DEADLINE:
            if (!cli_is_date(optarg)) {
                cli_fail(0, "--deadline: '%.64s' is not a date YYYY-MM-DD", optarg);
                goto out;
            }
            need.deadline = optarg;
            break;
        case OPT_BENEFICIARY:
            need.beneficiary = optarg;
            break;
        case OPT_SECTOR:
            if (parse_enum("--sector", optarg, tmbus_sector_parse, tmbus_sector_names,
                           &need.sector) == -1)
                goto out;
            break;
        case OPT_DESCRIPTION:
            need.description = optarg;
            break;
        case OPT_CONTACT:
            need.contact = optarg;
            break;
        case OPT_TO:
            if (to.all || cli_to_parse(&to, optarg) == -1) {
                cli_fail(0, "need post: give either --to M1,M2 or --all, once");
                goto out;
            }
            break;
        case OPT_ALL:
            if (to.is_set) {
                cli_fail(0, "need post: give either --to M1,M2 or --all, once");
                goto out;
            }
            to.all = to.is_set = true;
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
    tmbus_id_to_hex(id, hex);
    if (cli->is_json) {
        if (output_json_line(json_pack("{s:s}", "id", hex)) == -1) {
            rc = cli_fail(CLI_EX_FAIL, "cannot write to stdout");
            goto out;
        }
    } else {
        printf("%s\n", hex);
    }
    rc = CLI_EX_OK;
out:
    tmbus_close(&h);
    cli_to_free(&to);
    return rc;
}

/* ---- need list, need show -------------------------------------------------- */

static int need_list(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {{"status", required_argument, NULL, OPT_STATUS},
                                             CLI_COMMON_LONG};
    const char *status = NULL;
    struct tmbus_board *b = NULL;
    struct tmbus *h = NULL;
    struct table *t = NULL;
    int opt, rc, value;

    optind = 0;
    while ((opt = getopt_long(argc, argv, CLI_SHORT, longopts, NULL)) != -1) {
        if (opt == OPT_STATUS) {
            if (parse_enum("--status", optarg, tmbus_need_status_parse, tmbus_need_status_names,
                           &value) == -1)
                return CLI_EX_USAGE;
            status = tmbus_need_status_name(value);
        } else if ((rc = cli_option(cli, "need list", opt, argv, usage_list)) != CLI_CONTINUE) {
            return rc;
        }
    }
    if (optind < argc)
        return cli_usage_error("need list", "unexpected argument");
    if ((h = cli_connect(cli, &rc)) == NULL)
        return rc;
    if ((rc = tmbus_board(h, NULL, status, cli->timeout_ms, &b)) != TMBUS_OK) {
        rc = cli_fail_call(cli, h, rc, "read the board");
        goto out;
    }
    rc = CLI_EX_FAIL;
    if (cli->is_json) {
        json_t *needs = json_array(), *o = json_object();
        for (size_t i = 0; i < tmbus_board_need_count(b); i++)
            json_array_append_new(needs, output_board_need(tmbus_board_need_at(b, i)));
        json_object_set_new(o, "needs", needs);
        if (output_json_line(o) == -1) {
            cli_fail(0, "cannot write to stdout");
            goto out;
        }
    } else {
        if ((t = output_need_table()) == NULL)
            goto nomem;
        for (size_t i = 0; i < tmbus_board_need_count(b); i++)
            if (output_need_row(t, tmbus_board_need_at(b, i)) == -1)
                goto nomem;
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
    const char *rows[][2] = {
        {"id", hex},
        {"owner", bn->owner},
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

int cmd_need(struct cli *cli, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("need", "expected a subcommand: post, list, show");
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
    char why[128];
    snprintf(why, sizeof(why), "unknown subcommand '%.64s' (post, list, show)", argv[1]);
    return cli_usage_error("need", why);
}
