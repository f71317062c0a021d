/*
 * tmbus import and export: partner feeds as JSON lines. Import reads one
 * need or offer per line, checks it strictly with feed_line_decode
 * (duplicate keys, unknown fields, wrong types, bad enum values are all
 * rejected with the line number and the reason), posts what is valid and
 * goes on past what is not. Runs of needs are pipelined (many posts in flight, each reported
 * in line order once its commit is known); an offer, which may name a
 * need posted just before, waits for every post in flight first. Export writes the board in the
 * same format (so that import reads it back), or as CSV. Money is a decimal string of EUR, never a
 * float.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "feed_line.h"

#define LINE_MAX_BYTES (1024 * 1024) /* a need is < 16 KiB even escaped */
#define WHY_MAX        FEED_LINE_WHY_MAX

enum {
    OPT_DRY_RUN = 0x200,
    OPT_CSV,
};

static void usage_import(FILE *f)
{
    fprintf(f, "usage: tmbus import [FILE|-] [--dry-run] [--json]\n"
               "Posts the needs and offers of a JSON lines feed (standard input when FILE is\n"
               "missing or '-'), one object per line with \"type\": \"need\" or \"offer\".\n"
               "Rejected lines are reported as 'line N: reason' and the run goes on; a\n"
               "summary ends it. Exit status 0 only when no line was rejected (65 when some\n"
               "were). --dry-run checks every line without posting (an offer's need id is\n"
               "then checked for form only). Fields: see tmbus(1).\n"
               "  need:  " FEED_NEED_FIELDS "\n"
               "  offer: " FEED_OFFER_FIELDS "\n");
}

static void usage_export(FILE *f)
{
    fprintf(f, "usage: tmbus export [--json|--csv]\n"
               "Writes every need and offer on this node's board that this client may read:\n"
               "--json (the default) as JSON lines that tmbus import reads back, --csv as\n"
               "CSV with a header row. Pages are written as they arrive, so memory stays\n"
               "flat whatever the size of the board.\n");
}

/* The reason a line is rejected: filled by the first check that fails. */
struct line_error {
    char why[WHY_MAX];
};

__attribute__((format(printf, 2, 3))) static int reject(struct line_error *e, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(e->why, sizeof(e->why), fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- the import run -------------------------------------------------------- */

/* A need line posted and not yet reported, in line order. */
struct in_flight {
    uint64_t ticket;
    unsigned long line;
    bool is_done;
    int result;
    uint8_t id[TMBUS_ID_BYTES];
    char why[WHY_MAX];
};

struct import {
    struct cli *cli;
    struct tmbus *h;           /* NULL for --dry-run */
    struct tmbus_board *board; /* cached for offers' need ids */
    bool is_dry_run;
    bool is_stopped; /* the node stopped answering */
    unsigned long needs, offers, rejected;
    int status; /* exit status when the run must stop */
    struct in_flight *flight;
    size_t n_flight, cap_flight;
};

static void report_posted(struct import *im, unsigned long line, const char *type,
                          const uint8_t *id)
{
    char hex[TMBUS_ID_HEX_BYTES] = "";

    if (id != NULL)
        tmbus_id_to_hex(id, hex);
    if (im->cli->is_json) {
        json_t *o = json_pack("{s:I, s:s}", "line", (json_int_t)line, "type", type);
        if (id != NULL)
            json_object_set_new(o, "id", json_string(hex));
        else
            json_object_set_new(o, "valid", json_true());
        output_json_line(o);
    } else if (id != NULL) {
        printf("line %lu: %s %s\n", line, type, hex);
    } else {
        printf("line %lu: %s ok\n", line, type);
    }
}

/* After a failed post: the reason for the line (why, or the handle's),
 * and whether to go on. */
static int post_failed_why(struct import *im, int err, const char *why, struct line_error *e)
{
    if (why == NULL || *why == '\0')
        why = tmbus_strerror(err);
    switch (err) {
    case TMBUS_ETIMEOUT:
    case TMBUS_ECLOSED:
        im->is_stopped = true;
        im->status = CLI_EX_UNAVAILABLE;
        return reject(e,
                      "the node did not answer within %d ms (the line may have been posted); "
                      "stopping",
                      im->cli->timeout_ms);
    case TMBUS_EDENIED:
        return reject(e, "the node refused: %s", why);
    default:
        return reject(e, "%s", why);
    }
}

static int post_failed(struct import *im, int err, struct line_error *e)
{
    return post_failed_why(im, err, tmbus_last_error(im->h), e);
}

/* Reports, in line order, the posts in flight whose outcome is known. */
static void report_done(struct import *im)
{
    struct line_error e;
    size_t k = 0;

    for (; k < im->n_flight && im->flight[k].is_done; k++) {
        struct in_flight *l = &im->flight[k];
        if (l->result == TMBUS_OK) {
            report_posted(im, l->line, "need", l->id);
            im->needs++;
        } else {
            post_failed_why(im, l->result, l->why, &e);
            im->rejected++;
            cli_fail(0, "line %lu: %s", l->line, e.why);
        }
    }
    memmove(im->flight, im->flight + k, (im->n_flight - k) * sizeof(*im->flight));
    im->n_flight -= k;
}

/* Takes the outcomes that came, waiting up to timeout_ms for the first,
 * and reports what it can in line order. */
static void take_outcomes(struct import *im, int timeout_ms)
{
    struct tmbus_posted *p = NULL;

    while (tmbus_posted_next(im->h, timeout_ms, &p) == TMBUS_OK) {
        for (size_t i = 0; i < im->n_flight; i++) {
            struct in_flight *l = &im->flight[i];
            if (l->ticket != tmbus_posted_ticket(p))
                continue;
            l->is_done = true;
            l->result = tmbus_posted_result(p);
            if (l->result == TMBUS_OK)
                memcpy(l->id, tmbus_posted_id(p, 0), TMBUS_ID_BYTES);
            snprintf(l->why, sizeof(l->why), "%s", tmbus_posted_reason(p));
        }
        tmbus_posted_free(&p);
        timeout_ms = 0;
    }
    report_done(im);
}

/* Waits for every post in flight and reports them all, so that what
 * follows (an offer, a refused line) comes after them. A post whose
 * answer does not come within the timeout fails with TMBUS_ETIMEOUT. */
static void settle(struct import *im)
{
    if (im->h == NULL)
        return;
    while (im->n_flight > 0)
        take_outcomes(im, im->cli->timeout_ms > 0 ? im->cli->timeout_ms : 1000);
}

/* Remembers a need line just sent under ticket. */
static int add_in_flight(struct import *im, uint64_t ticket, unsigned long line)
{
    if (im->n_flight == im->cap_flight) {
        size_t cap = im->cap_flight ? 2 * im->cap_flight : TMBUS_POST_WINDOW_DEFAULT;
        struct in_flight *f = realloc(im->flight, cap * sizeof(*f));
        if (f == NULL)
            return -1;
        im->flight = f;
        im->cap_flight = cap;
    }
    im->flight[im->n_flight++] = (struct in_flight){.ticket = ticket, .line = line};
    return 0;
}

/* Returns 0 (reported), 1 (posted, reported when its outcome comes) or
 * -1 (refused: the reason in e). */
static int import_need(struct import *im, struct feed_line *l, unsigned long line,
                       struct line_error *e)
{
    uint64_t ticket;
    int err;

    if (im->is_dry_run) {
        report_posted(im, line, "need", NULL);
        im->needs++;
        return 0;
    }
    /* Blocks while the window is full; the outcomes that free a place
     * are reported below, in line order. */
    err = tmbus_post_need_send(im->h, &l->need, (const char *const *)l->to.names, l->to.n,
                               l->to.all, 0, im->cli->timeout_ms, &ticket);
    if (err != TMBUS_OK) {
        char why[WHY_MAX];
        snprintf(why, sizeof(why), "%s", tmbus_last_error(im->h));
        settle(im);
        return post_failed_why(im, err, why, e);
    }
    if (add_in_flight(im, ticket, line) == -1) {
        /* It was sent: wait for it alone rather than lose its outcome. */
        settle(im);
        return reject(e, "out of memory");
    }
    take_outcomes(im, 0);
    return 1;
}

/* Finds an offer's need on the cached board, reading the board again on
 * a miss (a need posted earlier in this feed is not in the cache). */
static const struct tmbus_board_need *find_need(struct import *im, const char *text,
                                                struct line_error *e)
{
    const struct tmbus_board_need *found = NULL;
    char hex[TMBUS_ID_HEX_BYTES];
    size_t len = strlen(text), matches = 0;
    int err;

    for (int pass = 0; pass < 2; pass++) {
        if (im->board == NULL || pass == 1) {
            tmbus_board_free(&im->board);
            if ((err = tmbus_board(im->h, NULL, NULL, im->cli->timeout_ms, &im->board)) !=
                TMBUS_OK) {
                post_failed(im, err, e);
                return NULL;
            }
        }
        matches = 0;
        for (size_t i = 0; i < tmbus_board_need_count(im->board); i++) {
            const struct tmbus_board_need *bn = tmbus_board_need_at(im->board, i);
            tmbus_id_to_hex(bn->id, hex);
            if (strncasecmp(hex, text, len) == 0 && matches++ == 0)
                found = bn;
        }
        if (matches == 1)
            return found;
        if (matches > 1) {
            reject(e, "field 'need': id prefix '%s' matches %zu needs; give more digits", text,
                   matches);
            return NULL;
        }
    }
    reject(e, "field 'need': unknown need id '%s' (not on this node's board)", text);
    return NULL;
}

/* The line has passed feed_line_decode, which checked all but the need
 * it names, if any: that one is looked up on the board here. */
static int import_offer(struct import *im, struct feed_line *l, unsigned long line,
                        struct line_error *e)
{
    struct tmbus_offer *f = &l->offer;
    const struct tmbus_board_need *bn;
    uint8_t id[TMBUS_ID_BYTES];
    int err;

    /* The need it names may be in flight still. */
    settle(im);
    if (im->is_dry_run) {
        report_posted(im, line, "offer", NULL);
    } else if (l->need_ref == NULL) {
        err = tmbus_post_offer(im->h, f, (const char *const *)l->to.names, l->to.n, l->to.all,
                               im->cli->timeout_ms, id);
        if (err != TMBUS_OK)
            return post_failed(im, err, e);
        report_posted(im, line, "offer", id);
    } else {
        if ((bn = find_need(im, l->need_ref, e)) == NULL)
            return -1;
        f->need_id = bn->id;
        if (f->tlp == 0)
            f->tlp = bn->need.tlp;
        if (tmbus_offer_validate(f, e->why, sizeof(e->why)) != TMBUS_OK)
            return -1;
        if (cli_to_add(&l->to, bn->owner) == -1)
            return reject(e, "field 'to': too many recipients");
        err = tmbus_post_offer(im->h, f, (const char *const *)l->to.names, l->to.n, l->to.all,
                               im->cli->timeout_ms, id);
        if (err != TMBUS_OK)
            return post_failed(im, err, e);
        report_posted(im, line, "offer", id);
    }
    im->offers++;
    return 0;
}

static int import_line(struct import *im, const char *text, size_t len, unsigned long line,
                       struct line_error *e)
{
    struct feed_line l;
    int rc;

    if (feed_line_decode(text, len, &l, e->why, sizeof(e->why)) == -1)
        return -1;
    if (l.kind == FEED_LINE_NEED)
        rc = import_need(im, &l, line, e);
    else
        rc = import_offer(im, &l, line, e);
    feed_line_free(&l);
    return rc;
}

static bool is_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

int cmd_import(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {{"dry-run", no_argument, NULL, OPT_DRY_RUN},
                                             CLI_COMMON_LONG};
    struct import im = {.cli = cli};
    struct line_error e;
    const char *path = "-";
    unsigned long line = 0;
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    FILE *in = stdin;
    int opt, rc;

    optind = 0;
    while ((opt = getopt_long(argc, argv, CLI_SHORT, longopts, NULL)) != -1) {
        if (opt == OPT_DRY_RUN)
            im.is_dry_run = true;
        else if ((rc = cli_option(cli, "import", opt, argv, usage_import)) != CLI_CONTINUE)
            return rc;
    }
    if (argc - optind > 1)
        return cli_usage_error("import", "expected at most one FILE");
    if (argc - optind == 1)
        path = argv[optind];
    if (strcmp(path, "-") != 0 && (in = fopen(path, "r")) == NULL)
        return cli_fail(CLI_EX_FAIL, "cannot open %s: %s", path, strerror(errno));
    if (!im.is_dry_run && (im.h = cli_connect(cli, &rc)) == NULL)
        goto out;

    while (!im.is_stopped && (len = getline(&buf, &cap, in)) != -1) {
        line++;
        if (is_blank(buf, (size_t)len))
            continue;
        if ((size_t)len > LINE_MAX_BYTES)
            reject(&e, "longer than %d bytes", LINE_MAX_BYTES);
        else if ((rc = import_line(&im, buf, (size_t)len, line, &e)) >= 0)
            continue;
        /* After the lines before it. */
        settle(&im);
        im.rejected++;
        cli_fail(0, "line %lu: %s", line, e.why);
    }
    settle(&im);
    if (ferror(in)) {
        rc = cli_fail(CLI_EX_FAIL, "cannot read %s: %s", path, strerror(errno));
        goto out;
    }
    if (cli->is_json) {
        output_json_line(json_pack("{s:b, s:I, s:I, s:I}", "dry_run", im.is_dry_run, "needs",
                                   (json_int_t)im.needs, "offers", (json_int_t)im.offers,
                                   "rejected", (json_int_t)im.rejected));
    } else {
        printf("%s %lu need%s, %lu offer%s; rejected %lu line%s\n",
               im.is_dry_run ? "would import" : "imported", im.needs, im.needs == 1 ? "" : "s",
               im.offers, im.offers == 1 ? "" : "s", im.rejected, im.rejected == 1 ? "" : "s");
    }
    if (fflush(stdout) != 0)
        rc = cli_fail(CLI_EX_FAIL, "cannot write to stdout");
    else if (im.is_stopped)
        rc = im.status;
    else
        rc = im.rejected > 0 ? CLI_EX_DATAERR : CLI_EX_OK;
out:
    free(buf);
    if (in != stdin)
        fclose(in);
    tmbus_board_free(&im.board);
    tmbus_close(&im.h);
    free(im.flight);
    return rc;
}

/* ---- export ----------------------------------------------------------------- */

static const char *const csv_columns[] = {"type",
                                          "id",
                                          "member",
                                          "status",
                                          "created_at",
                                          "need",
                                          "title",
                                          "category",
                                          "priority",
                                          "tlp",
                                          "quantity",
                                          "unit",
                                          "value_eur",
                                          "deadline",
                                          "delivery_date",
                                          "beneficiary",
                                          "sector",
                                          "contact",
                                          "accepted_quantity",
                                          "delivered_quantity",
                                          "description",
                                          "conditions",
                                          "author_revoked"};
#define CSV_COLUMNS (sizeof(csv_columns) / sizeof(csv_columns[0]))

/* One CSV row from a JSON object of export's, by column name. */
static void csv_row(FILE *f, json_t *o, const char *member_key)
{
    char num[32];

    for (size_t c = 0; c < CSV_COLUMNS; c++) {
        const char *key = strcmp(csv_columns[c], "member") == 0 ? member_key : csv_columns[c];
        json_t *v = json_object_get(o, key);
        const char *s = "";
        if (json_is_string(v)) {
            s = json_string_value(v);
        } else if (json_is_integer(v)) {
            snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
            s = num;
        } else if (json_is_boolean(v)) {
            s = json_is_true(v) ? "true" : "false";
        }
        if (c > 0)
            fputc(',', f);
        output_csv_field(f, s);
    }
    fputs("\r\n", f);
}

/* Writes each item of one page as it arrives: a JSON line or a CSV row. */
static int export_page(void *arg, const struct tmbus_board *page)
{
    const bool *is_csv = arg;
    size_t nn = tmbus_board_need_count(page), no = tmbus_board_offer_count(page);

    for (size_t i = 0; i < nn + no; i++) {
        bool is_need = i < nn;
        json_t *o = is_need ? output_board_need(tmbus_board_need_at(page, i))
                            : output_board_offer(tmbus_board_offer_at(page, i - nn));
        if (o == NULL)
            return cli_fail(CLI_EX_FAIL, "out of memory");
        if (*is_csv) {
            csv_row(stdout, o, is_need ? "owner" : "donor");
            json_decref(o);
        } else if (output_json_line(o) == -1) {
            return cli_fail(CLI_EX_FAIL, "cannot write to stdout");
        }
    }
    if (*is_csv && ferror(stdout))
        return cli_fail(CLI_EX_FAIL, "cannot write to stdout");
    return 0;
}

int cmd_export(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {{"csv", no_argument, NULL, OPT_CSV}, CLI_COMMON_LONG};
    static const int lists[] = {TMBUS_BOARD_NEEDS, TMBUS_BOARD_OFFERS};
    char next[TMBUS_BOARD_CURSOR_BYTES];
    struct tmbus *h = NULL;
    bool is_csv = false;
    int opt, rc = CLI_EX_OK;

    optind = 0;
    while ((opt = getopt_long(argc, argv, CLI_SHORT, longopts, NULL)) != -1) {
        if (opt == OPT_CSV)
            is_csv = true;
        else if ((rc = cli_option(cli, "export", opt, argv, usage_export)) != CLI_CONTINUE)
            return rc;
    }
    if (optind < argc)
        return cli_usage_error("export", "unexpected argument");
    if (is_csv && cli->is_json)
        return cli_usage_error("export", "give --json or --csv, not both");
    if ((h = cli_connect(cli, &rc)) == NULL)
        return rc;
    if (is_csv) {
        for (size_t c = 0; c < CSV_COLUMNS; c++)
            printf("%s%s", c > 0 ? "," : "", csv_columns[c]);
        fputs("\r\n", stdout);
    }
    /* Every need, then every offer, a page at a time: what is written
     * leaves memory before the next page is asked for. */
    rc = CLI_EX_OK;
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]) && rc == CLI_EX_OK; i++) {
        struct cli_board_args args;
        cli_board_args_init(&args, lists[i]);
        args.q.limit = TMBUS_BOARD_PAGE_MAX;
        rc = cli_board_pages(cli, h, &args, export_page, &is_csv, next);
        cli_board_args_free(&args);
    }
    if (rc == CLI_EX_OK && (fflush(stdout) != 0 || ferror(stdout)))
        rc = cli_fail(CLI_EX_FAIL, "cannot write to stdout");
    tmbus_close(&h);
    return rc;
}
