/*
 * tmbus-admin roster: builds a roster from its INI source, adds governor
 * signatures, verifies a roster as a node would, and shows one as a table.
 * Every check lives in daemon/roster.c; this file only parses arguments,
 * reads and writes files and prints. It never prints key secrets, and
 * "show" never presents a roster as trusted unless every check passed.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "keys.h"
#include "log.h"
#include "roster.h"
#include "roster_build.h"
#include "util.h"

#define MAX_POSITIONAL 2

static const char synopsis[] =
    "usage: tmbus-admin roster create SOURCE.ini OUT [--force]\n"
    "       tmbus-admin roster sign ROSTER GOVERNOR.key\n"
    "       tmbus-admin roster verify ROSTER --coalition C [--previous OLD] [--now DATE]\n"
    "       tmbus-admin roster show ROSTER [--coalition C] [--now DATE]\n";

static const char details[] =
    "\n"
    "create  builds an unsigned roster from its source (see deploy/examples/roster.ini);\n"
    "        key file paths in the source are relative to its directory. Refuses to\n"
    "        replace OUT unless --force.\n"
    "sign    adds the governor's signature (replacing an earlier one by the same key);\n"
    "        the file is replaced atomically.\n"
    "verify  checks a roster as a node does: format, coalition, version chain (version 1\n"
    "        without --previous, else previous + 1 with a matching hash), the threshold\n"
    "        of distinct governing members under the new and the previous sets, and\n"
    "        expiry last. Exit 0 when valid, 1 with the reason when not.\n"
    "show    prints the roster and its members; says NOT VERIFIED when a check fails\n"
    "        (the version chain is not checked: use verify --previous for that).\n"
    "DATE is YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC); the default is now.\n";

struct args {
    const char *pos[MAX_POSITIONAL];
    int n_pos;
    const char *coalition;
    const char *previous;
    const char *now;
    bool force;
    bool help;
};

static int usage_error(const char *sub, const char *why)
{
    fprintf(stderr, "tmbus-admin roster%s%s: %s\n", sub ? " " : "", sub ? sub : "", why);
    fputs(synopsis, stderr);
    return ADMIN_EX_USAGE;
}

/* True if name is one of the comma-separated words of list. */
static bool is_listed(const char *list, const char *name)
{
    size_t n = strlen(name);

    while (n > 0 && *list != '\0') {
        const char *end = strchr(list, ',');
        size_t w = end ? (size_t)(end - list) : strlen(list);
        if (w == n && strncmp(list, name, n) == 0)
            return true;
        list += end ? w + 1 : w;
    }
    return false;
}

/* Parses argv after the subcommand. allowed lists the options this
 * subcommand takes, e.g. "coalition,previous,now". Returns 0 or -1 after
 * printing why. */
static int parse_args(int argc, char **argv, const char *sub, const char *allowed, struct args *a)
{
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        const char **slot = NULL;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            a->help = true;
            return 0;
        }
        if (strncmp(arg, "--", 2) != 0) {
            if (a->n_pos == MAX_POSITIONAL) {
                usage_error(sub, "too many arguments");
                return -1;
            }
            a->pos[a->n_pos++] = arg;
            continue;
        }
        if (!is_listed(allowed, arg + 2)) {
            fprintf(stderr, "tmbus-admin roster %s: unknown option %s\n", sub, arg);
            fputs(synopsis, stderr);
            return -1;
        }
        if (strcmp(arg, "--force") == 0) {
            a->force = true;
            continue;
        }
        if (strcmp(arg, "--coalition") == 0)
            slot = &a->coalition;
        else if (strcmp(arg, "--previous") == 0)
            slot = &a->previous;
        else if (strcmp(arg, "--now") == 0)
            slot = &a->now;
        if (slot == NULL) {
            fprintf(stderr, "tmbus-admin roster %s: unknown option %s\n", sub, arg);
            fputs(synopsis, stderr);
            return -1;
        }
        if (i + 1 == argc) {
            fprintf(stderr, "tmbus-admin roster %s: %s needs a value\n", sub, arg);
            fputs(synopsis, stderr);
            return -1;
        }
        *slot = argv[++i];
    }
    return 0;
}

static int get_now(const struct args *a, const char *sub, int64_t *now)
{
    if (a->now == NULL) {
        *now = (int64_t)time(NULL);
        return 0;
    }
    if (util_parse_utc(a->now, now) == -1) {
        usage_error(sub, "--now takes YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ");
        return -1;
    }
    return 0;
}

static int read_roster(const char *path, uint8_t **buf, size_t *len)
{
    if (util_read_file(path, ROSTER_MAX_SIZE, buf, len) == -1) {
        if (errno == EFBIG)
            fprintf(stderr, "tmbus-admin: %s: larger than %d bytes\n", path, ROSTER_MAX_SIZE);
        else
            fprintf(stderr, "tmbus-admin: %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int cmd_create(const struct args *a)
{
    const char *src = a->pos[0], *out = a->pos[1];
    uint8_t *buf = NULL;
    size_t len = 0;

    if (a->n_pos != 2)
        return usage_error("create", "needs SOURCE.ini and OUT");
    if (!a->force && access(out, F_OK) == 0) {
        fprintf(stderr, "tmbus-admin: %s exists; use --force to replace it\n", out);
        return 1;
    }
    if (roster_build(src, (int64_t)time(NULL), &buf, &len) == -1)
        return 1; /* roster_build has said file:line: why */
    if (util_write_file(out, buf, len, 0644) == -1) {
        fprintf(stderr, "tmbus-admin: %s: %s\n", out, strerror(errno));
        free(buf);
        return 1;
    }
    free(buf);
    printf("wrote %s (unsigned): sign it with tmbus-admin roster sign %s GOVERNOR.key\n", out, out);
    return 0;
}

static int cmd_sign(const struct args *a)
{
    const char *path = a->pos[0], *key_path = a->pos[1];
    struct keyset *ks = NULL;
    struct roster *r = NULL;
    uint8_t *buf = NULL, *signed_buf = NULL;
    size_t len = 0, signed_len = 0;
    char why[160];
    int rc = 1;

    if (a->n_pos != 2)
        return usage_error("sign", "needs ROSTER and GOVERNOR.key");
    if ((ks = keys_load(key_path)) == NULL)
        goto out; /* keys_load has said why */
    if (ks->kind != KEYS_GOVERNOR) {
        fprintf(stderr, "tmbus-admin: %s is not a governor key\n", key_path);
        goto out;
    }
    if (read_roster(path, &buf, &len) == -1)
        goto out;
    if (roster_sign(buf, len, ks, &signed_buf, &signed_len) == -1)
        goto out; /* roster_sign has said why */
    if (util_write_file(path, signed_buf, signed_len, 0644) == -1) {
        fprintf(stderr, "tmbus-admin: %s: %s\n", path, strerror(errno));
        goto out;
    }
    (void)roster_inspect(signed_buf, signed_len, NULL, (int64_t)time(NULL), NULL, false, &r, why,
                         sizeof(why));
    if (r != NULL)
        printf("signed %s as governor of %s: %u of threshold %u governing members\n", path,
               ks->member, roster_signer_count(r), roster_threshold(r));
    else
        printf("signed %s as governor of %s\n", path, ks->member);
    rc = 0;
out:
    roster_free(&r);
    free(signed_buf);
    free(buf);
    keys_free(&ks);
    return rc;
}

static int cmd_verify(const struct args *a)
{
    const char *path = a->pos[0];
    struct roster *prev = NULL, *r = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    int64_t now;
    char why[160];
    enum roster_status st;
    int rc = 1;

    if (a->n_pos != 1)
        return usage_error("verify", "needs exactly one ROSTER");
    if (a->coalition == NULL)
        return usage_error("verify", "needs --coalition");
    if (get_now(a, "verify", &now) == -1)
        return ADMIN_EX_USAGE;
    if (a->previous != NULL && roster_load(a->previous, a->coalition, &prev) == -1)
        goto out; /* roster_load has said why */
    if (read_roster(path, &buf, &len) == -1)
        goto out;
    st = roster_inspect(buf, len, a->coalition, now, prev, true, &r, why, sizeof(why));
    if (st != ROSTER_OK) {
        fprintf(stderr, "tmbus-admin: %s: %s: %s\n", path, roster_status_name(st), why);
        goto out;
    }
    printf("ok: coalition %s version %llu, %zu members, signed by %u of threshold %u\n",
           roster_coalition(r), (unsigned long long)roster_version(r), roster_member_count(r),
           roster_signer_count(r), roster_threshold(r));
    rc = 0;
out:
    roster_free(&r);
    roster_free(&prev);
    free(buf);
    return rc;
}

/* Joins n strings with commas into buf, or "-" for none. */
static const char *join(const char *const *v, size_t n, char *buf, size_t size)
{
    size_t used = 0;

    if (n == 0)
        return "-";
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < size; i++) {
        int w = snprintf(buf + used, size - used, "%s%s", i ? "," : "", v[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    return buf;
}

static void print_members(const struct roster *r)
{
    /* Wide enough for ROSTER_MAX_ENDPOINTS of ROSTER_ENDPOINT_MAX and
     * ROSTER_MAX_GROUPS of ROSTER_GROUP_MAX, with commas. */
    static char eps[ROSTER_MAX_ENDPOINTS * (ROSTER_ENDPOINT_MAX + 1) + 1];
    static char grs[ROSTER_MAX_GROUPS * (ROSTER_GROUP_MAX + 1) + 1];
    int w_id = 2, w_name = 4, w_role = 4, w_ep = 9;
    struct roster_member m;

    for (size_t i = 0; i < roster_member_count(r); i++) {
        roster_member_at(r, i, &m);
        int n;
        if ((n = (int)strlen(m.id)) > w_id)
            w_id = n;
        if ((n = (int)strlen(m.name)) > w_name)
            w_name = n;
        if ((n = (int)strlen(roster_role_name(m.role))) > w_role)
            w_role = n;
        if ((n = (int)strlen(join(m.endpoints, m.n_endpoints, eps, sizeof(eps)))) > w_ep)
            w_ep = n;
    }
    printf("%-*s  %-*s  %-*s  %6s  %-*s  %s\n", w_id, "ID", w_name, "NAME", w_role, "ROLE", "KEY",
           w_ep, "ENDPOINTS", "GROUPS");
    for (size_t i = 0; i < roster_member_count(r); i++) {
        roster_member_at(r, i, &m);
        printf("%-*s  %-*s  %-*s  %6u  %-*s  %s\n", w_id, m.id, w_name, m.name, w_role,
               roster_role_name(m.role), m.key_id, w_ep,
               join(m.endpoints, m.n_endpoints, eps, sizeof(eps)),
               join(m.groups, m.n_groups, grs, sizeof(grs)));
    }
}

static int cmd_show(const struct args *a)
{
    const char *path = a->pos[0];
    struct roster *r = NULL;
    struct roster_governor g;
    uint8_t *buf = NULL;
    size_t len = 0;
    int64_t now;
    char why[160], when[32], b64[64];
    enum roster_status st;
    int rc = 1;

    if (a->n_pos != 1)
        return usage_error("show", "needs exactly one ROSTER");
    if (get_now(a, "show", &now) == -1)
        return ADMIN_EX_USAGE;
    if (read_roster(path, &buf, &len) == -1)
        goto out;
    st = roster_inspect(buf, len, a->coalition, now, NULL, false, &r, why, sizeof(why));
    if (r == NULL) {
        fprintf(stderr, "tmbus-admin: %s: %s: %s\n", path, roster_status_name(st), why);
        goto out;
    }
    if (st == ROSTER_OK)
        printf("status:     verified: signed by %u of threshold %u governing members "
               "(version chain not checked)\n",
               roster_signer_count(r), roster_threshold(r));
    else
        printf("status:     NOT VERIFIED: %s: %s\n", roster_status_name(st), why);
    printf("coalition:  %s\n", roster_coalition(r));
    printf("version:    %llu\n", (unsigned long long)roster_version(r));
    util_format_utc(roster_issued_at(r), when, sizeof(when));
    printf("issued:     %s\n", when);
    util_format_utc(roster_expires_at(r), when, sizeof(when));
    printf("expires:    %s\n", when);
    printf("threshold:  %u\n", roster_threshold(r));
    printf("governors:\n");
    for (size_t i = 0; i < roster_governor_count(r); i++) {
        roster_governor_at(r, i, &g);
        keys_to_base64(g.sign_pk, KEYS_PUBLIC_BYTES, b64, sizeof(b64));
        printf("  %-8s  %s  %s\n", g.member, b64, g.has_signed ? "signed" : "not signed");
    }
    printf("members:\n");
    print_members(r);
    rc = 0;
out:
    roster_free(&r);
    free(buf);
    return rc;
}

int admin_roster(int argc, char **argv)
{
    struct args a = {0};
    const char *sub;
    const char *allowed;
    int (*run)(const struct args *);

    if (argc < 2)
        return usage_error(NULL, "missing subcommand");
    sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        fputs(synopsis, stdout);
        fputs(details, stdout);
        return 0;
    }
    if (strcmp(sub, "create") == 0) {
        allowed = "force";
        run = cmd_create;
    } else if (strcmp(sub, "sign") == 0) {
        allowed = "";
        run = cmd_sign;
    } else if (strcmp(sub, "verify") == 0) {
        allowed = "coalition,previous,now";
        run = cmd_verify;
    } else if (strcmp(sub, "show") == 0) {
        allowed = "coalition,now";
        run = cmd_show;
    } else {
        return usage_error(NULL, "unknown subcommand");
    }
    if (parse_args(argc, argv, sub, allowed, &a) == -1)
        return ADMIN_EX_USAGE;
    if (a.help) {
        fputs(synopsis, stdout);
        fputs(details, stdout);
        return 0;
    }
    return run(&a);
}
