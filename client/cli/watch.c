/*
 * tmbus watch: prints every message delivered to this member as it
 * arrives, from the client's durable cursor on, and acks each one only
 * after it is printed and flushed, so a crash or a closed pipe never loses
 * one: it comes again next time. Stops cleanly on SIGINT or SIGTERM, or
 * after --count messages.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define WAIT_MS 250 /* how often the loop looks at the stop flag */
#define WINDOW  64

enum {
    OPT_KIND = 0x200,
    OPT_CATEGORY,
    OPT_TLP,
    OPT_SENDER,
    OPT_COUNT,
};

static volatile sig_atomic_t is_stopping;

static void on_signal(int sig)
{
    (void)sig;
    is_stopping = 1;
}

/* True when whoever reads our stdout has gone (a pipe whose reader
 * exited reports POLLERR): "tmbus watch | head -1" then ends while idle
 * instead of waiting for the next message to find out. */
static bool is_reader_gone(void)
{
    struct pollfd p = {.fd = STDOUT_FILENO, .events = 0};

    return poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP)) != 0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tmbus watch [--json] [--kind K,...] [--category C,...] [--tlp L,...]\n"
            "                   [--sender M,...] [--count N]\n"
            "Prints each message delivered to this member as it arrives (--json: one JSON\n"
            "object per line), resuming after the last one this client acked, and acks\n"
            "each after printing it. Messages the filters hide are acked unseen. Stops on\n"
            "SIGINT or SIGTERM, or after N messages with --count.\n"
            "  --kind       %s\n"
            "  --category   %s\n"
            "  --tlp        %s\n",
            tmbus_kind_names(), tmbus_category_names(), tmbus_tlp_names());
}

/* Everything a filter list owns. */
struct lists {
    char **kinds_raw, *kinds_storage;
    const char **kinds;
    size_t n_kinds;
    int *categories;
    size_t n_categories;
    int *tlps;
    size_t n_tlps;
    char **senders, *senders_storage;
    size_t n_senders;
};

static void lists_free(struct lists *l)
{
    free(l->kinds_raw);
    free(l->kinds_storage);
    free(l->kinds);
    free(l->categories);
    free(l->tlps);
    free(l->senders);
    free(l->senders_storage);
}

/* Parses "A,B" of enum names into values. Returns 0, or -1 (printed). */
static int parse_enum_list(const char *opt, const char *text, int (*parse)(const char *, int *),
                           const char *(*names)(void), int **out, size_t *n_out)
{
    char **items, *storage;
    int n = cli_split_list(text, TMBUS_FILTER_MAX, &items, &storage), rc = -1;

    if (n <= 0)
        return cli_fail(-1, "%s wants names separated by commas (at most %d)", opt,
                        TMBUS_FILTER_MAX);
    if ((*out = calloc((size_t)n, sizeof(**out))) == NULL) {
        cli_fail(0, "out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        if (parse(items[i], &(*out)[i]) != TMBUS_OK) {
            cli_fail(0, "%s: '%.64s' is not one of: %s", opt, items[i], names());
            goto out;
        }
    }
    *n_out = (size_t)n;
    rc = 0;
out:
    free(items);
    free(storage);
    return rc;
}

static int parse_kinds(struct lists *l, const char *text)
{
    int n = cli_split_list(text, TMBUS_FILTER_MAX, &l->kinds_raw, &l->kinds_storage);

    if (n <= 0)
        return cli_fail(-1, "--kind wants kinds separated by commas (at most %d)",
                        TMBUS_FILTER_MAX);
    if ((l->kinds = calloc((size_t)n, sizeof(*l->kinds))) == NULL)
        return cli_fail(-1, "out of memory");
    for (int i = 0; i < n; i++)
        if (tmbus_kind_parse(l->kinds_raw[i], &l->kinds[i]) != TMBUS_OK)
            return cli_fail(-1, "--kind: '%.64s' is not one of: %s", l->kinds_raw[i],
                            tmbus_kind_names());
    l->n_kinds = (size_t)n;
    return 0;
}

static json_t *id_or_null(const uint8_t *id)
{
    char hex[TMBUS_ID_HEX_BYTES];

    if (id == NULL)
        return json_null();
    tmbus_id_to_hex(id, hex);
    return json_string(hex);
}

static json_t *delivery_json(const struct tmbus_delivery *d)
{
    const char *kind = tmbus_delivery_kind(d);
    json_t *o = json_object(), *rcpt = json_array(), *body = json_object();
    const struct tmbus_need *need;
    const struct tmbus_offer *offer;
    const struct tmbus_need_change *nc;
    const struct tmbus_offer_change *oc;
    const struct tmbus_receipt *r;

    if (o == NULL || rcpt == NULL || body == NULL) {
        json_decref(o);
        json_decref(rcpt);
        json_decref(body);
        return NULL;
    }
    for (size_t i = 0; i < tmbus_delivery_recipient_count(d); i++)
        json_array_append_new(rcpt, json_string(tmbus_delivery_recipient(d, i)));
    json_object_set_new(o, "number", json_integer((json_int_t)tmbus_delivery_number(d)));
    json_object_set_new(o, "id", id_or_null(tmbus_delivery_id(d)));
    json_object_set_new(o, "sender", json_string(tmbus_delivery_sender(d)));
    json_object_set_new(o, "log_peer", json_string(tmbus_delivery_log_peer(d)));
    json_object_set_new(o, "seq", json_integer((json_int_t)tmbus_delivery_seq(d)));
    json_object_set_new(o, "created_at", json_integer(tmbus_delivery_created_at(d)));
    json_object_set_new(o, "expires_at", json_integer(tmbus_delivery_expires_at(d)));
    json_object_set_new(o, "recipients", rcpt);
    json_object_set_new(o, "kind", kind != NULL ? json_string(kind) : json_null());
    if ((need = tmbus_delivery_need(d)) != NULL) {
        output_need_fields(body, need);
    } else if ((offer = tmbus_delivery_offer(d)) != NULL) {
        output_offer_fields(body, offer);
    } else if ((nc = tmbus_delivery_need_update(d)) != NULL) {
        json_object_set_new(body, "need", id_or_null(nc->need_id));
        json_object_set_new(body, "action", json_string(tmbus_need_action_name(nc->action)));
        json_object_set_new(body, "reason", json_string(nc->reason));
        if (nc->has_edit) {
            json_t *edit = json_object();
            output_need_fields(edit, &nc->edit);
            json_object_set_new(body, "edit", edit);
        }
    } else if ((oc = tmbus_delivery_offer_update(d)) != NULL) {
        json_object_set_new(body, "offer", id_or_null(oc->offer_id));
        json_object_set_new(body, "action", json_string(tmbus_offer_action_name(oc->action)));
        json_object_set_new(body, "reason", json_string(oc->reason));
    } else if (tmbus_delivery_receipt_count(d) > 0) {
        json_t *entries = json_array();
        for (size_t i = 0; entries != NULL && (r = tmbus_delivery_receipt_at(d, i)) != NULL; i++) {
            json_t *e = json_object();
            json_object_set_new(e, "envelope", id_or_null(r->envelope_id));
            json_object_set_new(e, "state", json_string(tmbus_receipt_state_name(r->state)));
            json_object_set_new(e, "reason", json_string(r->reason));
            json_array_append_new(entries, e);
        }
        json_object_set_new(body, "entries", entries);
    }
    if (kind != NULL)
        json_object_set_new(o, kind, body);
    else
        json_decref(body);
    return o;
}

static void put_short_id(const uint8_t *id)
{
    char hex[TMBUS_ID_HEX_BYTES];

    if (id == NULL) {
        fputs("-", stdout);
        return;
    }
    tmbus_id_to_hex(id, hex);
    printf("%.*s", CLI_ID_SHORT, hex);
}

static const char *or_unknown(const char *s)
{
    return s != NULL ? s : "?";
}

/* One line for people: number, time, sender, kind and the gist. */
static void delivery_text(const struct tmbus_delivery *d)
{
    const char *kind = tmbus_delivery_kind(d);
    const struct tmbus_need *need;
    const struct tmbus_offer *offer;
    const struct tmbus_need_change *nc;
    const struct tmbus_offer_change *oc;
    const struct tmbus_receipt *r;
    char when[CLI_TIME_MAX];
    char eur[32];

    cli_format_time(tmbus_delivery_created_at(d), when, sizeof(when));
    printf("#%llu %s ", (unsigned long long)tmbus_delivery_number(d), when);
    output_text(stdout, tmbus_delivery_sender(d));
    printf(" %s ", kind != NULL ? kind : "unknown");
    if ((need = tmbus_delivery_need(d)) != NULL) {
        put_short_id(tmbus_delivery_id(d));
        printf(" [%s] %s %s: ", or_unknown(tmbus_tlp_name(need->tlp)),
               or_unknown(tmbus_priority_name(need->priority)),
               or_unknown(tmbus_category_name(need->category)));
        output_text(stdout, need->title);
        printf(" (%llu ", (unsigned long long)need->quantity);
        output_text(stdout, need->unit);
        printf(")");
    } else if ((offer = tmbus_delivery_offer(d)) != NULL) {
        put_short_id(tmbus_delivery_id(d));
        printf(" for need ");
        put_short_id(offer->need_id);
        cli_format_eur(offer->value_cents, eur, sizeof(eur));
        printf(" [%s] %llu, EUR %s: ", or_unknown(tmbus_tlp_name(offer->tlp)),
               (unsigned long long)offer->quantity, eur);
        output_text(stdout, offer->description);
    } else if ((nc = tmbus_delivery_need_update(d)) != NULL) {
        put_short_id(nc->need_id);
        printf(" %s: ", or_unknown(tmbus_need_action_name(nc->action)));
        output_text(stdout, nc->reason);
    } else if ((oc = tmbus_delivery_offer_update(d)) != NULL) {
        put_short_id(oc->offer_id);
        printf(" %s: ", or_unknown(tmbus_offer_action_name(oc->action)));
        output_text(stdout, oc->reason);
    } else if (tmbus_delivery_receipt_count(d) > 0) {
        printf("about");
        for (size_t i = 0; (r = tmbus_delivery_receipt_at(d, i)) != NULL; i++) {
            printf(i > 0 ? "; " : " ");
            put_short_id(r->envelope_id);
            printf(" %s", or_unknown(tmbus_receipt_state_name(r->state)));
            if (r->reason != NULL && *r->reason != '\0') {
                printf(": ");
                output_text(stdout, r->reason);
            }
        }
    } else {
        put_short_id(tmbus_delivery_id(d));
    }
    putchar('\n');
}

int cmd_watch(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {{"kind", required_argument, NULL, OPT_KIND},
                                             {"category", required_argument, NULL, OPT_CATEGORY},
                                             {"tlp", required_argument, NULL, OPT_TLP},
                                             {"sender", required_argument, NULL, OPT_SENDER},
                                             {"count", required_argument, NULL, OPT_COUNT},
                                             CLI_COMMON_LONG};
    struct lists l = {0};
    struct tmbus_filter filter = {0};
    struct tmbus_delivery *d = NULL;
    struct tmbus *h = NULL;
    struct sigaction sa = {0};
    uint64_t count = 0, seen = 0;
    int opt, rc = CLI_EX_USAGE, n;

    optind = 0;
    while ((opt = getopt_long(argc, argv, CLI_SHORT, longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_KIND:
            if (l.kinds != NULL || parse_kinds(&l, optarg) == -1)
                goto usage_fail;
            break;
        case OPT_CATEGORY:
            if (l.categories != NULL ||
                parse_enum_list("--category", optarg, tmbus_category_parse, tmbus_category_names,
                                &l.categories, &l.n_categories) == -1)
                goto usage_fail;
            break;
        case OPT_TLP:
            if (l.tlps != NULL || parse_enum_list("--tlp", optarg, tmbus_tlp_parse, tmbus_tlp_names,
                                                  &l.tlps, &l.n_tlps) == -1)
                goto usage_fail;
            break;
        case OPT_SENDER:
            if (l.senders != NULL || (n = cli_split_list(optarg, TMBUS_FILTER_MAX, &l.senders,
                                                         &l.senders_storage)) <= 0) {
                cli_fail(0, "--sender wants member ids separated by commas, once");
                goto usage_fail;
            }
            l.n_senders = (size_t)n;
            break;
        case OPT_COUNT:
            if (cli_parse_u64(optarg, 1, UINT64_MAX, &count) == -1) {
                cli_fail(0, "--count: '%.64s' is not a positive whole number", optarg);
                goto usage_fail;
            }
            break;
        default:
            if ((rc = cli_option(cli, "watch", opt, argv, usage)) != CLI_CONTINUE)
                goto out;
            rc = CLI_EX_USAGE;
        }
    }
    if (optind < argc) {
        rc = cli_usage_error("watch", "unexpected argument");
        goto out;
    }
    filter = (struct tmbus_filter){
        .kinds = l.kinds,
        .n_kinds = l.n_kinds,
        .categories = l.categories,
        .n_categories = l.n_categories,
        .tlps = l.tlps,
        .n_tlps = l.n_tlps,
        .senders = (const char *const *)l.senders,
        .n_senders = l.n_senders,
    };

    /* No SA_RESTART: a signal should end the wait in tmbus_next at once.
     * A closed stdout is an error we see on fflush, not a signal. */
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if ((h = cli_connect(cli, &rc)) == NULL)
        goto out;
    if ((rc = tmbus_subscribe_filtered(h, WINDOW, &filter, cli->timeout_ms)) != TMBUS_OK) {
        rc = cli_fail_call(cli, h, rc, "subscribe");
        goto out;
    }
    while (!is_stopping && (count == 0 || seen < count)) {
        rc = tmbus_next(h, WAIT_MS, &d);
        if (rc == TMBUS_ETIMEOUT) {
            if (is_reader_gone())
                break;
            continue;
        }
        if (rc != TMBUS_OK) {
            if (is_stopping)
                break;
            rc = cli_fail_call(cli, h, rc, "receive");
            goto out;
        }
        if (cli->is_json) {
            if (output_json_line(delivery_json(d)) == -1)
                goto write_fail;
        } else {
            delivery_text(d);
        }
        /* Printed and flushed before the ack: never ack what nobody saw. */
        if (fflush(stdout) != 0 || ferror(stdout))
            goto write_fail;
        if ((rc = tmbus_ack(h, tmbus_delivery_number(d), cli->timeout_ms)) != TMBUS_OK) {
            rc = cli_fail_call(cli, h, rc, "ack");
            goto out;
        }
        tmbus_delivery_free(&d);
        seen++;
    }
    rc = CLI_EX_OK;
    goto out;
usage_fail:
    rc = CLI_EX_USAGE;
    goto out;
write_fail:
    /* The reader went away ("watch | head -1"): a normal end, and the
     * message we could not hand over comes again next time. */
    if (errno == EPIPE)
        rc = CLI_EX_OK;
    else
        rc = cli_fail(CLI_EX_FAIL, "cannot write to stdout (%s): stopping without acking",
                      strerror(errno));
out:
    tmbus_delivery_free(&d);
    tmbus_close(&h);
    lists_free(&l);
    return rc;
}
