/*
 * tmbus audit: the node's audit log for an admin client (proto/PROTOCOL.md,
 * section 13): a page of recent entries, newest first, or one entry's
 * inclusion proof in the node's latest signed checkpoint, checked here.
 * Read-only; the node refuses every other client and records the refusal.
 */
#include <getopt.h>
#include <inttypes.h>
#include <string.h>

#include "cli.h"

#define OPT_BEFORE 0x200
#define OPT_LIMIT  0x201
#define HASH_HEX   (2 * TMBUS_AUDIT_HASH_BYTES + 1)

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tmbus audit [--before N] [--limit N] [--json]\n"
            "       tmbus audit prove INDEX [--json]\n"
            "Admin clients only. Lists the node's audit log, newest first: the entries below\n"
            "index N (default: the newest), at most --limit (1..%d, default 20); the last line\n"
            "says how to ask for the next page. 'prove' asks the node for the inclusion proof of\n"
            "entry INDEX in its latest signed checkpoint and checks it: exit 0 when it\n"
            "verifies, 1 when it does not.\n",
            TMBUS_AUDIT_PAGE_MAX);
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static json_t *entry_json(const struct tmbus_audit_entry *e)
{
    json_t *o = json_object();
    char h[HASH_HEX];

    json_object_set_new(o, "index", json_integer((json_int_t)e->index));
    json_object_set_new(o, "at_ms", json_integer((json_int_t)e->at_ms));
    json_object_set_new(o, "kind", json_string(e->kind));
    json_object_set_new(o, "outcome", json_string(e->outcome));
    json_object_set_new(o, "actor_kind", json_string(e->actor_kind));
    json_object_set_new(o, "actor", json_string(e->actor));
    if (e->has_key) {
        hex(e->key, sizeof(e->key), h);
        json_object_set_new(o, "key", json_string(h));
    }
    json_object_set_new(o, "origin", json_string(e->origin));
    json_object_set_new(o, "peer", json_string(e->peer));
    json_object_set_new(o, "seq", json_integer((json_int_t)e->seq));
    if (e->has_id) {
        hex(e->id, sizeof(e->id), h);
        json_object_set_new(o, "id", json_string(h));
    }
    json_object_set_new(o, "detail", json_string(e->detail));
    return o;
}

/* One line: index, time, kind, outcome, who, about what, why. */
static void entry_line(const struct tmbus_audit_entry *e)
{
    char when[CLI_TIME_MAX], id[CLI_ID_SHORT + 1] = "";

    cli_format_time(e->at_ms / 1000, when, sizeof(when));
    if (e->has_id) {
        char full[HASH_HEX];
        hex(e->id, sizeof(e->id), full);
        memcpy(id, full, CLI_ID_SHORT);
    }
    printf("%8" PRIu64 "  %s  %-8s %-7s %s %s", e->index, when, e->kind, e->outcome, e->actor_kind,
           e->actor);
    if (e->origin[0] != '\0' || e->seq != 0)
        printf("  %s%s%s #%" PRIu64, e->origin, e->peer[0] ? "/" : "", e->peer, e->seq);
    if (id[0] != '\0')
        printf("  id %s", id);
    if (e->detail[0] != '\0') {
        printf("  \"");
        output_text(stdout, e->detail);
        printf("\"");
    }
    printf("\n");
}

static int list(struct cli *cli, struct tmbus *h, uint64_t before, uint32_t limit)
{
    struct tmbus_audit_page *p = NULL;
    int rc = tmbus_audit_list(h, before, limit, cli->timeout_ms, &p);

    if (rc != TMBUS_OK)
        return cli_fail_call(cli, h, rc, "read the audit log");
    if (cli->is_json) {
        json_t *o = json_object(), *entries = json_array();
        for (size_t i = 0; i < tmbus_audit_page_count(p); i++)
            json_array_append_new(entries, entry_json(tmbus_audit_page_at(p, i)));
        json_object_set_new(o, "size", json_integer((json_int_t)tmbus_audit_page_size(p)));
        json_object_set_new(o, "entries", entries);
        json_object_set_new(o, "next", json_integer((json_int_t)tmbus_audit_page_next(p)));
        rc = output_json_line(o) == 0 ? CLI_EX_OK : CLI_EX_FAIL;
    } else {
        printf("%" PRIu64 " entries in the log\n", tmbus_audit_page_size(p));
        for (size_t i = 0; i < tmbus_audit_page_count(p); i++)
            entry_line(tmbus_audit_page_at(p, i));
        if (tmbus_audit_page_next(p) > 0)
            printf("older: tmbus audit --before %" PRIu64 "\n", tmbus_audit_page_next(p));
        rc = fflush(stdout) == 0 ? CLI_EX_OK : CLI_EX_FAIL;
    }
    tmbus_audit_page_free(&p);
    return rc;
}

static int prove(struct cli *cli, struct tmbus *h, uint64_t index)
{
    struct tmbus_audit_proof *p = NULL;
    char root[HASH_HEX], sig[2 * 64 + 1], when[CLI_TIME_MAX];
    int rc = tmbus_audit_prove(h, index, cli->timeout_ms, &p);

    if (rc != TMBUS_OK)
        return cli_fail_call(cli, h, rc, "prove the entry");
    hex(p->root, sizeof(p->root), root);
    hex(p->sig, sizeof(p->sig), sig);
    if (cli->is_json) {
        json_t *o = json_object(), *hashes = json_array();
        char hh[HASH_HEX];
        for (size_t i = 0; i < p->n_hashes; i++) {
            hex(p->hashes[i], TMBUS_AUDIT_HASH_BYTES, hh);
            json_array_append_new(hashes, json_string(hh));
        }
        json_object_set_new(o, "entry", entry_json(&p->entry));
        json_object_set_new(o, "checkpoint",
                            json_pack("{s:s, s:I, s:s, s:I, s:s}", "member", p->member, "size",
                                      (json_int_t)p->size, "root", root, "at", (json_int_t)p->at,
                                      "sig", sig));
        json_object_set_new(o, "proof", hashes);
        json_object_set_new(o, "verified", json_boolean(p->is_verified));
        rc = output_json_line(o) == 0 ? CLI_EX_OK : CLI_EX_FAIL;
    } else {
        entry_line(&p->entry);
        cli_format_time(p->at, when, sizeof(when));
        printf("checkpoint: size %" PRIu64 ", signed by %s at %s\n  root %s\n  sig  %s\n", p->size,
               p->member, when, root, sig);
        printf("inclusion proof (%zu hashes, leaf side first):\n", p->n_hashes);
        for (size_t i = 0; i < p->n_hashes; i++) {
            char hh[HASH_HEX];
            hex(p->hashes[i], TMBUS_AUDIT_HASH_BYTES, hh);
            printf("  %s\n", hh);
        }
        printf("%s\n", p->is_verified ? "verifies: the entry is in the checkpoint's tree"
                                      : "DOES NOT VERIFY against the checkpoint's root");
        rc = fflush(stdout) == 0 ? CLI_EX_OK : CLI_EX_FAIL;
    }
    if (rc == CLI_EX_OK && !p->is_verified)
        rc = cli_fail(CLI_EX_FAIL, "the proof of entry %" PRIu64 " does not verify", index);
    tmbus_audit_proof_free(&p);
    return rc;
}

int cmd_audit(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {{"before", required_argument, NULL, OPT_BEFORE},
                                             {"limit", required_argument, NULL, OPT_LIMIT},
                                             CLI_COMMON_LONG};
    uint64_t before = 0, limit = 0, index = 0;
    bool is_prove = false;
    struct tmbus *h;
    int opt, rc;

    optind = 0;
    while ((opt = getopt_long(argc, argv, CLI_SHORT, longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_BEFORE:
            if (cli_parse_u64(optarg, 0, UINT64_MAX, &before) != 0)
                return cli_usage_error("audit", "--before takes an entry index");
            break;
        case OPT_LIMIT:
            if (cli_parse_u64(optarg, 1, TMBUS_AUDIT_PAGE_MAX, &limit) != 0)
                return cli_usage_error("audit", "--limit takes 1..100");
            break;
        default:
            if ((rc = cli_option(cli, "audit", opt, argv, usage)) != CLI_CONTINUE)
                return rc;
        }
    }
    if (optind < argc && strcmp(argv[optind], "prove") == 0) {
        if (optind + 2 != argc || cli_parse_u64(argv[optind + 1], 0, UINT64_MAX, &index) != 0)
            return cli_usage_error("audit", "prove takes one entry index");
        is_prove = true;
    } else if (optind < argc) {
        return cli_usage_error("audit", "unexpected argument");
    }
    if ((h = cli_connect(cli, &rc)) == NULL)
        return rc;
    rc = is_prove ? prove(cli, h, index) : list(cli, h, before, (uint32_t)limit);
    tmbus_close(&h);
    return rc;
}
