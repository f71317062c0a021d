/*
 * tmbus offer: answer a need with an offer, list offers, and move an
 * offer through its lifecycle (accept, decline, deliver, confirm,
 * withdraw). Needs and offers are named by id or unique prefix and looked
 * up on the board first, so that a typo fails here with a clear reason;
 * who may make which move is the node's rule, and its refusal is printed
 * as it gave it.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "date.h"

enum {
    OPT_NEED = 0x200,
    OPT_QUANTITY,
    OPT_VALUE,
    OPT_DESCRIPTION,
    OPT_TLP,
    OPT_DELIVERY,
    OPT_CONDITIONS,
    OPT_TO,
    OPT_ALL,
    OPT_REASON,
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tmbus offer post --need ID --quantity N --value-eur E --description D\n"
            "                        [--tlp L] [--delivery-date YYYY-MM-DD] [--conditions C]\n"
            "                        [--to M1,M2 | --all]\n"
            "       tmbus offer list [--need ID] [--limit N] [--after CURSOR] [filters] [--json]\n"
            "       tmbus offer accept|decline|deliver|confirm|withdraw ID [--reason R]\n"
            "                        [--json]\n"
            "Run 'tmbus offer post|list|accept|... --help' for details.\n");
}

static void usage_update(FILE *f)
{
    fprintf(f,
            "usage: tmbus offer accept|decline|deliver|confirm|withdraw ID [--reason R] [--json]\n"
            "Moves offer ID (full id or a unique prefix of at least %d hex digits) on and\n"
            "prints the update's id once the node has committed it:\n"
            "  accept, decline   a proposed offer; by the need's owner\n"
            "  deliver           an accepted offer; by the donor\n"
            "  confirm           a delivered offer; by the need's owner\n"
            "  withdraw          a proposed or accepted offer; by the donor\n"
            "  --reason R        a sentence for readers (one line)\n"
            "The update goes to every member, or for a TLP:RED offer to its donor and\n"
            "the need's owner only.\n",
            CLI_ID_PREFIX_MIN);
}

static void usage_post(FILE *f)
{
    fprintf(f,
            "usage: tmbus offer post --need ID --quantity N --value-eur E --description D\n"
            "                        [--tlp L] [--delivery-date YYYY-MM-DD] [--conditions C]\n"
            "                        [--to M1,M2 | --all] [--json]\n"
            "Offers help towards need ID (full id or a unique prefix of at least %d hex\n"
            "digits) and prints the offer's id once the node has committed it.\n"
            "  --tlp         %s (default: the need's)\n"
            "  --value-eur   EUR with at most two decimals: 1234, 1234.5, 1234.56\n"
            "  --to M1,M2    these members, and always the need's owner; --all: every\n"
            "                member (the default)\n",
            CLI_ID_PREFIX_MIN, tmbus_tlp_names());
}

static void usage_list(FILE *f)
{
    fprintf(f,
            "usage: tmbus offer list [--need ID] [--limit N] [--after CURSOR] [--status S,..]\n"
            "                        [--donor M,..] [--since DATE] [--json]\n"
            "Lists the offers on this node's board that this client may read, by id, or\n"
            "only those answering need ID (full id or a unique prefix). Without --limit\n"
            "or --after, every page; with either, one page, and the cursor of the next\n"
            "(\"next\" with --json; on stderr otherwise).\n"
            "  --limit   offers in the page: 1 to %d\n"
            "  --after   the cursor a previous page gave\n"
            "  --status  %s\n"
            "  --donor   member ids\n"
            "  --since   changed on the node since: YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or unix\n"
            "            seconds\n"
            "Each list takes up to %d values separated by commas: any of them.\n",
            TMBUS_BOARD_PAGE_MAX, tmbus_offer_status_names(), TMBUS_BOARD_FILTER_MAX);
}

static int offer_post(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"need", required_argument, NULL, OPT_NEED},
        {"quantity", required_argument, NULL, OPT_QUANTITY},
        {"value-eur", required_argument, NULL, OPT_VALUE},
        {"description", required_argument, NULL, OPT_DESCRIPTION},
        {"tlp", required_argument, NULL, OPT_TLP},
        {"delivery-date", required_argument, NULL, OPT_DELIVERY},
        {"conditions", required_argument, NULL, OPT_CONDITIONS},
        {"to", required_argument, NULL, OPT_TO},
        {"all", no_argument, NULL, OPT_ALL},
        CLI_COMMON_LONG};
    struct tmbus_offer offer = {0};
    const struct tmbus_board_need *bn;
    struct tmbus_board *b = NULL;
    struct cli_to to = {0};
    struct tmbus *h = NULL;
    const char *need = NULL, *err;
    uint8_t id[TMBUS_ID_BYTES];
    char why[TMBUS_VALIDATE_ERROR_MAX];
    bool has_qty = false, has_value = false;
    int opt, rc = CLI_EX_USAGE;

    optind = 0;
    while ((opt = getopt_long(argc, argv, CLI_SHORT, longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_NEED:
            need = optarg;
            break;
        case OPT_QUANTITY:
            if (cli_parse_u64(optarg, 1, UINT64_MAX, &offer.quantity) == -1) {
                cli_fail(0, "--quantity: '%.64s' is not a positive whole number", optarg);
                goto out;
            }
            has_qty = true;
            break;
        case OPT_VALUE:
            if (cli_parse_eur(optarg, &offer.value_cents, &err) == -1) {
                cli_fail(0, "--value-eur: '%.64s': %s", optarg, err);
                goto out;
            }
            has_value = true;
            break;
        case OPT_DESCRIPTION:
            offer.description = optarg;
            break;
        case OPT_TLP:
            if (tmbus_tlp_parse(optarg, &offer.tlp) != TMBUS_OK) {
                cli_fail(0, "--tlp: '%.64s' is not one of: %s", optarg, tmbus_tlp_names());
                goto out;
            }
            break;
        case OPT_DELIVERY:
            if (!date_is_day(optarg)) {
                cli_fail(0, "--delivery-date: '%.64s' is not a date YYYY-MM-DD", optarg);
                goto out;
            }
            offer.delivery_date = optarg;
            break;
        case OPT_CONDITIONS:
            offer.conditions = optarg;
            break;
        case OPT_TO:
        case OPT_ALL:
            if (cli_to_option(&to, "offer post", opt == OPT_TO ? optarg : NULL) == -1)
                goto out;
            break;
        default:
            if ((rc = cli_option(cli, "offer post", opt, argv, usage_post)) != CLI_CONTINUE)
                goto out;
            rc = CLI_EX_USAGE;
        }
    }
    if (optind < argc) {
        rc = cli_usage_error("offer post", "unexpected argument");
        goto out;
    }
    if (need == NULL || !has_qty || !has_value || offer.description == NULL) {
        cli_fail(0, "offer post: --need, --quantity, --value-eur and --description are required "
                    "(see tmbus offer post --help)");
        goto out;
    }
    if (!to.is_set)
        to.all = true;
    if ((h = cli_connect(cli, &rc)) == NULL)
        goto out;
    if ((rc = cli_find_need(cli, h, need, &b, &bn)) != CLI_EX_OK)
        goto out;
    offer.need_id = bn->id;
    if (offer.tlp == 0)
        offer.tlp = bn->need.tlp;
    if (tmbus_offer_validate(&offer, why, sizeof(why)) != TMBUS_OK) {
        rc = cli_fail(CLI_EX_USAGE, "offer post: %s", why);
        goto out;
    }
    if (cli_to_add(&to, bn->owner) == -1) {
        rc = cli_fail(CLI_EX_USAGE, "offer post: too many recipients");
        goto out;
    }
    rc = tmbus_post_offer(h, &offer, (const char *const *)to.names, to.n, to.all, cli->timeout_ms,
                          id);
    if (rc != TMBUS_OK) {
        rc = cli_fail_call(cli, h, rc, "post the offer");
        goto out;
    }
    rc = cli_print_id(cli, id);
out:
    cli_to_free(&to); /* before the board: a name may point into it */
    tmbus_board_free(&b);
    tmbus_close(&h);
    return rc;
}

/* What offer list gathers from its pages: a table, or the JSON array. */
struct offer_rows {
    struct table *t;
    json_t *offers;
};

static int add_offer_rows(void *arg, const struct tmbus_board *page)
{
    struct offer_rows *r = arg;

    for (size_t i = 0; i < tmbus_board_offer_count(page); i++) {
        const struct tmbus_board_offer *bo = tmbus_board_offer_at(page, i);
        if (r->offers != NULL ? json_array_append_new(r->offers, output_board_offer(bo)) == -1
                              : output_offer_row(r->t, bo) == -1)
            return cli_fail(CLI_EX_FAIL, "out of memory");
    }
    return 0;
}

static int offer_list(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"need", required_argument, NULL, OPT_NEED}, CLI_BOARD_LONG_OFFERS, CLI_COMMON_LONG};
    const struct tmbus_board_need *bn = NULL;
    struct tmbus_board *b = NULL;
    struct cli_board_args args;
    struct offer_rows rows = {0};
    char next[TMBUS_BOARD_CURSOR_BYTES];
    struct tmbus *h = NULL;
    const char *need = NULL;
    int opt, rc;

    optind = 0;
    cli_board_args_init(&args, TMBUS_BOARD_OFFERS);
    while ((opt = getopt_long(argc, argv, CLI_SHORT, longopts, NULL)) != -1) {
        if (opt == OPT_NEED) {
            need = optarg;
            continue;
        }
        if ((rc = cli_board_option(&args, opt, optarg)) == 1)
            continue;
        if (rc == -1) {
            rc = CLI_EX_USAGE;
            goto out;
        }
        if ((rc = cli_option(cli, "offer list", opt, argv, usage_list)) != CLI_CONTINUE)
            goto out;
    }
    if (optind < argc) {
        rc = cli_usage_error("offer list", "unexpected argument");
        goto out;
    }
    if ((h = cli_connect(cli, &rc)) == NULL)
        goto out;
    /* --need takes a prefix too: found first, then its id narrows the list. */
    if (need != NULL) {
        if ((rc = cli_find_need(cli, h, need, &b, &bn)) != CLI_EX_OK)
            goto out;
        args.q.need_id = bn->id;
    }
    if (cli->is_json ? (rows.offers = json_array()) == NULL
                     : (rows.t = output_offer_table()) == NULL) {
        rc = cli_fail(CLI_EX_FAIL, "out of memory");
        goto out;
    }
    if ((rc = cli_board_pages(cli, h, &args, add_offer_rows, &rows, next)) != CLI_EX_OK)
        goto out;
    if (cli->is_json) {
        json_t *o = json_pack("{s:o, s:s}", "offers", rows.offers, "next", next);
        rows.offers = NULL;
        if (output_json_line(o) == -1)
            rc = cli_fail(CLI_EX_FAIL, "cannot write to stdout");
    } else {
        table_print(rows.t, stdout);
        if (next[0] != '\0')
            fprintf(stderr, "tmbus: more offers: tmbus offer list --after %s\n", next);
    }
out:
    json_decref(rows.offers);
    table_free(&rows.t);
    cli_board_args_free(&args);
    tmbus_board_free(&b);
    tmbus_close(&h);
    return rc;
}

/* Recipients of an update of offer bo: every member, as for the offer
 * itself, unless the offer is TLP:RED. Then only its donor and its need's
 * owner, who alone act on it; other readers it was sent to keep seeing its
 * earlier status (the board does not remember an offer's recipients). */
static int update_recipients(const struct tmbus_board *b, const struct tmbus_board_offer *bo,
                             struct cli_to *to)
{
    const struct tmbus_board_need *bn;

    if (bo->offer.tlp != TMBUS_TLP_RED) {
        to->all = to->is_set = true;
        return 0;
    }
    if (cli_to_add(to, bo->donor) == -1)
        return -1;
    if ((bn = cli_board_need(b, bo->offer.need_id)) != NULL && cli_to_add(to, bn->owner) == -1)
        return -1;
    to->is_set = true;
    return 0;
}

static int offer_update(struct cli *cli, int action, int argc, char **argv)
{
    static const struct option longopts[] = {{"reason", required_argument, NULL, OPT_REASON},
                                             CLI_COMMON_LONG};
    static const char *const done[] = {[TMBUS_OFFER_ACCEPT] = "accepted",
                                       [TMBUS_OFFER_DECLINE] = "declined",
                                       [TMBUS_OFFER_DELIVER] = "delivered",
                                       [TMBUS_OFFER_CONFIRM] = "confirmed",
                                       [TMBUS_OFFER_WITHDRAW] = "withdrawn"};
    const char *name = tmbus_offer_action_name(action), *reason = NULL;
    const struct tmbus_board_offer *bo;
    struct tmbus_board *b = NULL;
    struct cli_to to = {0};
    struct tmbus *h = NULL;
    uint8_t id[TMBUS_ID_BYTES];
    char cmd[32], what[32];
    int opt, rc;

    snprintf(cmd, sizeof(cmd), "offer %s", name);
    optind = 0;
    while ((opt = getopt_long(argc, argv, CLI_SHORT, longopts, NULL)) != -1) {
        if (opt == OPT_REASON)
            reason = optarg;
        else if ((rc = cli_option(cli, cmd, opt, argv, usage_update)) != CLI_CONTINUE)
            return rc;
    }
    if (argc - optind != 1)
        return cli_usage_error(cmd, "expected one offer ID");
    if ((h = cli_connect(cli, &rc)) == NULL)
        return rc;
    if ((rc = cli_find_offer(cli, h, argv[optind], &b, &bo)) != CLI_EX_OK)
        goto out;
    if (update_recipients(b, bo, &to) == -1) {
        rc = cli_fail(CLI_EX_FAIL, "out of memory");
        goto out;
    }
    rc = tmbus_offer_update(h, bo->id, action, reason, (const char *const *)to.names, to.n, to.all,
                            cli->timeout_ms, id);
    if (rc != TMBUS_OK) {
        snprintf(what, sizeof(what), "%s the offer", name);
        rc = cli_fail_call(cli, h, rc, what);
        goto out;
    }
    rc = cli_print_update(cli, "offer", bo->id, name, done[action], id);
out:
    cli_to_free(&to); /* before the board: names point into it */
    tmbus_board_free(&b);
    tmbus_close(&h);
    return rc;
}

int cmd_offer(struct cli *cli, int argc, char **argv)
{
    int action;

    if (argc < 2)
        return cli_usage_error(
            "offer",
            "expected a subcommand: post, list, accept, decline, deliver, confirm, withdraw");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return CLI_EX_OK;
    }
    if (strcmp(argv[1], "post") == 0)
        return offer_post(cli, argc - 1, argv + 1);
    if (strcmp(argv[1], "list") == 0)
        return offer_list(cli, argc - 1, argv + 1);
    if (tmbus_offer_action_parse(argv[1], &action) == TMBUS_OK &&
        strcmp(argv[1], tmbus_offer_action_name(action)) == 0)
        return offer_update(cli, action, argc - 1, argv + 1);
    char why[160];
    snprintf(why, sizeof(why),
             "unknown subcommand '%.64s' (post, list, accept, decline, deliver, confirm, withdraw)",
             argv[1]);
    return cli_usage_error("offer", why);
}
