/*
 * tmbus-admin roster: builds a roster from its INI source, proposes the
 * next version of a running one, adds governor signatures (attached or as
 * small detached files), combines them, verifies a roster as a node
 * would, shows and compares rosters, and publishes an update through a
 * node (libtmbus, admin client) or lists the rosters a node has trusted.
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
#include "store.h"
#include "tmbus.h"
#include "util.h"

#define MAX_POSITIONAL (1 + ROSTER_MAX_SIGNATURES) /* combine: UPDATE and its signatures */
#define SIG_FILE_MAX   4096                        /* a detached signature file */
#define SIG_LINE_MAX   256
#define PUBLISH_MS     10000 /* how long publish and history wait for the node */

static const char synopsis[] =
    "usage: tmbus-admin roster create SOURCE.ini OUT [--force]\n"
    "       tmbus-admin roster propose SOURCE.ini --previous CURRENT OUT [--force]\n"
    "       tmbus-admin roster sign ROSTER GOVERNOR.key [--detached OUT.sig]\n"
    "       tmbus-admin roster combine UPDATE SIG... --out FILE [--previous CURRENT]\n"
    "       tmbus-admin roster verify ROSTER --coalition C [--previous OLD] [--now DATE]\n"
    "       tmbus-admin roster show ROSTER [--coalition C] [--now DATE]\n"
    "       tmbus-admin roster diff OLD NEW\n"
    "       tmbus-admin roster publish FILE [--config CLIENT.conf]\n"
    "       tmbus-admin roster history [--config CLIENT.conf | --data-dir DIR]\n";

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
    "propose builds the next version of CURRENT from SOURCE.ini (version CURRENT + 1,\n"
    "        chained to CURRENT's hash, whatever the source says), unsigned, and\n"
    "        prints what changes.\n"
    "sign --detached writes the signature to OUT.sig (a small text file to mail to\n"
    "        the secretariat) and leaves ROSTER as it is.\n"
    "combine adds the detached signatures to UPDATE and writes FILE; exit 0 only when\n"
    "        the signatures meet the threshold (and, with --previous, the chain and the\n"
    "        outgoing governors' threshold), else 1 with the reason.\n"
    "diff    prints what changed from OLD to NEW.\n"
    "publish sends the update through a node (a client with role admin there): the\n"
    "        node checks it, keeps it, puts it in force and sends it to every node.\n"
    "history lists the rosters a node has trusted: through the node, or read from its\n"
    "        data directory. CLIENT.conf defaults to $TMBUS_CONFIG.\n"
    "DATE is YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC); the default is now.\n";

struct args {
    const char *pos[MAX_POSITIONAL];
    int n_pos;
    const char *coalition;
    const char *previous;
    const char *now;
    const char *detached;
    const char *out;
    const char *config;
    const char *data_dir;
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
        else if (strcmp(arg, "--detached") == 0)
            slot = &a->detached;
        else if (strcmp(arg, "--out") == 0)
            slot = &a->out;
        else if (strcmp(arg, "--config") == 0)
            slot = &a->config;
        else if (strcmp(arg, "--data-dir") == 0)
            slot = &a->data_dir;
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

static int sign_detached(const struct args *a);

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
    if (a->detached != NULL)
        return sign_detached(a);
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

/* ---- detached signatures ------------------------------------------------- */

/*
 * A detached signature file: "name = value" lines, so that a governor can
 * mail it and anyone can read what it signs:
 *   kind = roster-signature
 *   coalition = ...        version = N        (what it signs, for people)
 *   roster = base64 hash   (BLAKE2b-256 of the Roster bytes: what it binds)
 *   governor = MEMBER      sign_key = base64  signature = base64
 */
static int sign_detached(const struct args *a)
{
    const char *path = a->pos[0], *key_path = a->pos[1];
    struct keyset *ks = NULL;
    struct roster *r = NULL;
    uint8_t *buf = NULL, pk[KEYS_PUBLIC_BYTES], sig[KEYS_SIGNATURE_BYTES];
    size_t len = 0;
    char why[160], hash64[64], pk64[64], sig64[128], text[SIG_FILE_MAX];
    int rc = 1, n;

    if ((ks = keys_load(key_path)) == NULL)
        goto out;
    if (ks->kind != KEYS_GOVERNOR) {
        fprintf(stderr, "tmbus-admin: %s is not a governor key\n", key_path);
        goto out;
    }
    if (read_roster(path, &buf, &len) == -1)
        goto out;
    (void)roster_inspect(buf, len, NULL, (int64_t)time(NULL), NULL, false, &r, why, sizeof(why));
    if (r == NULL) {
        fprintf(stderr, "tmbus-admin: %s: %s\n", path, why);
        goto out;
    }
    if (roster_sign_detached(buf, len, ks, pk, sig) == -1)
        goto out;
    keys_to_base64(roster_hash(r), ENVELOPE_HASH_BYTES, hash64, sizeof(hash64));
    keys_to_base64(pk, KEYS_PUBLIC_BYTES, pk64, sizeof(pk64));
    keys_to_base64(sig, KEYS_SIGNATURE_BYTES, sig64, sizeof(sig64));
    n = snprintf(text, sizeof(text),
                 "# tmbus roster signature: give it to whoever combines the signatures\n"
                 "kind = roster-signature\ncoalition = %s\nversion = %llu\nroster = %s\n"
                 "governor = %s\nsign_key = %s\nsignature = %s\n",
                 roster_coalition(r), (unsigned long long)roster_version(r), hash64, ks->member,
                 pk64, sig64);
    if (n < 0 || (size_t)n >= sizeof(text) ||
        util_write_file(a->detached, (const uint8_t *)text, (size_t)n, 0644) == -1) {
        fprintf(stderr, "tmbus-admin: %s: %s\n", a->detached, strerror(errno));
        goto out;
    }
    printf("wrote %s: governor %s's signature of %s version %llu\n", a->detached, ks->member,
           roster_coalition(r), (unsigned long long)roster_version(r));
    rc = 0;
out:
    roster_free(&r);
    free(buf);
    keys_free(&ks);
    return rc;
}

/* One detached signature, read. */
struct detached {
    uint8_t hash[ENVELOPE_HASH_BYTES];
    uint8_t pk[KEYS_PUBLIC_BYTES];
    uint8_t sig[KEYS_SIGNATURE_BYTES];
    char governor[UTIL_MEMBER_ID_MAX + 1];
};

/* Reads a detached signature file. Returns 0, or -1 after saying why. */
static int read_detached(const char *path, struct detached *d)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    char *text, *line, *save = NULL;
    bool has_kind = false, has_hash = false, has_pk = false, has_sig = false;
    int rc = -1;

    memset(d, 0, sizeof(*d));
    if (util_read_file(path, SIG_FILE_MAX, &buf, &len) == -1) {
        fprintf(stderr, "tmbus-admin: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if ((text = malloc(len + 1)) == NULL)
        goto out;
    memcpy(text, buf, len);
    text[len] = '\0';
    for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        char name[SIG_LINE_MAX], value[SIG_LINE_MAX];
        if (line[0] == '#' || line[0] == '\0')
            continue;
        if (strlen(line) >= SIG_LINE_MAX || sscanf(line, "%63s = %255s", name, value) != 2)
            continue;
        if (strcmp(name, "kind") == 0)
            has_kind = strcmp(value, "roster-signature") == 0;
        else if (strcmp(name, "roster") == 0)
            has_hash = keys_from_base64(value, d->hash, ENVELOPE_HASH_BYTES) == 0;
        else if (strcmp(name, "sign_key") == 0)
            has_pk = keys_from_base64(value, d->pk, KEYS_PUBLIC_BYTES) == 0;
        else if (strcmp(name, "signature") == 0)
            has_sig = keys_from_base64(value, d->sig, KEYS_SIGNATURE_BYTES) == 0;
        else if (strcmp(name, "governor") == 0)
            snprintf(d->governor, sizeof(d->governor), "%.*s", UTIL_MEMBER_ID_MAX, value);
    }
    free(text);
    if (!has_kind || !has_hash || !has_pk || !has_sig) {
        fprintf(stderr,
                "tmbus-admin: %s: not a roster signature file (needs kind = roster-signature, "
                "roster, sign_key and signature)\n",
                path);
        goto out;
    }
    rc = 0;
out:
    free(buf);
    return rc;
}

static int cmd_combine(const struct args *a)
{
    const char *path = a->pos[0];
    struct roster *r = NULL, *prev = NULL;
    struct roster_governor g;
    uint8_t *buf = NULL;
    size_t len = 0;
    char why[160], coalition[ENVELOPE_COALITION_MAX + 1];
    enum roster_status st;
    int rc = 1;

    if (a->n_pos < 2 || a->out == NULL)
        return usage_error("combine", "needs UPDATE, at least one SIG and --out FILE");
    if (read_roster(path, &buf, &len) == -1)
        goto out;
    (void)roster_inspect(buf, len, NULL, (int64_t)time(NULL), NULL, false, &r, why, sizeof(why));
    if (r == NULL) {
        fprintf(stderr, "tmbus-admin: %s: %s\n", path, why);
        goto out;
    }
    for (int i = 1; i < a->n_pos; i++) {
        struct detached d;
        uint8_t *next = NULL;
        size_t next_len = 0;

        if (read_detached(a->pos[i], &d) == -1)
            goto out;
        if (memcmp(d.hash, roster_hash(r), ENVELOPE_HASH_BYTES) != 0) {
            fprintf(stderr, "tmbus-admin: %s: signs another roster than %s\n", a->pos[i], path);
            goto out;
        }
        if (roster_attach(buf, len, d.pk, d.sig, &next, &next_len) == -1) {
            fprintf(stderr, "tmbus-admin: %s: governor %s is unknown to this roster\n", a->pos[i],
                    d.governor[0] != '\0' ? d.governor : "?");
            goto out;
        }
        free(buf);
        buf = next;
        len = next_len;
    }
    snprintf(coalition, sizeof(coalition), "%s", roster_coalition(r));
    roster_free(&r);
    if (a->previous != NULL && roster_load(a->previous, coalition, &prev) == -1)
        goto out;
    st = roster_inspect(buf, len, prev != NULL ? roster_coalition(prev) : NULL, (int64_t)time(NULL),
                        prev, prev != NULL, &r, why, sizeof(why));
    if (r == NULL) {
        fprintf(stderr, "tmbus-admin: %s: %s: %s\n", path, roster_status_name(st), why);
        goto out;
    }
    for (size_t i = 0; i < roster_governor_count(r); i++) {
        roster_governor_at(r, i, &g);
        printf("  governor %-8s %s\n", g.member, g.has_signed ? "signed" : "not signed");
    }
    if (util_write_file(a->out, buf, len, 0644) == -1) {
        fprintf(stderr, "tmbus-admin: %s: %s\n", a->out, strerror(errno));
        goto out;
    }
    if (st != ROSTER_OK) {
        fprintf(stderr, "tmbus-admin: wrote %s, but it would be refused: %s: %s\n", a->out,
                roster_status_name(st), why);
        goto out;
    }
    printf("wrote %s: version %llu signed by %u of threshold %u governing members%s\n", a->out,
           (unsigned long long)roster_version(r), roster_signer_count(r), roster_threshold(r),
           prev != NULL ? ", chained and signed by the outgoing governors" : "");
    rc = 0;
out:
    roster_free(&prev);
    roster_free(&r);
    free(buf);
    return rc;
}

/* ---- the next version ------------------------------------------------------ */

static int cmd_propose(const struct args *a)
{
    const char *src = a->pos[0], *out = a->pos[1];
    uint8_t *buf = NULL, *cur = NULL;
    size_t len = 0, cur_len = 0;
    int rc = 1, n;

    if (a->n_pos != 2 || a->previous == NULL)
        return usage_error("propose", "needs SOURCE.ini, --previous CURRENT and OUT");
    if (!a->force && access(out, F_OK) == 0) {
        fprintf(stderr, "tmbus-admin: %s exists; use --force to replace it\n", out);
        return 1;
    }
    if (roster_build_next(src, a->previous, (int64_t)time(NULL), &buf, &len) == -1)
        return 1; /* it has said why */
    if (read_roster(a->previous, &cur, &cur_len) == -1)
        goto out;
    if (util_write_file(out, buf, len, 0644) == -1) {
        fprintf(stderr, "tmbus-admin: %s: %s\n", out, strerror(errno));
        goto out;
    }
    printf("wrote %s (unsigned), the successor of %s. Changes:\n", out, a->previous);
    if ((n = roster_diff(cur, cur_len, buf, len, stdout)) == 0)
        printf("  (none but the version)\n");
    if (n < 0)
        goto out;
    printf("each governor signs it: tmbus-admin roster sign %s GOVERNOR.key --detached "
           "GOVERNOR.sig\n",
           out);
    rc = 0;
out:
    free(cur);
    free(buf);
    return rc;
}

static int cmd_diff(const struct args *a)
{
    uint8_t *old = NULL, *new = NULL;
    size_t old_len = 0, new_len = 0;
    int rc = 1, n;

    if (a->n_pos != 2)
        return usage_error("diff", "needs OLD and NEW");
    if (read_roster(a->pos[0], &old, &old_len) == -1 ||
        read_roster(a->pos[1], &new, &new_len) == -1)
        goto out;
    if ((n = roster_diff(old, old_len, new, new_len, stdout)) < 0)
        goto out;
    if (n == 0)
        printf("  no changes but the version\n");
    rc = 0;
out:
    free(old);
    free(new);
    return rc;
}

/* ---- through a node ------------------------------------------------------ */

static struct tmbus *connect_node(const struct args *a, const char *sub)
{
    const char *config = a->config != NULL ? a->config : getenv("TMBUS_CONFIG");
    struct tmbus *h = NULL;
    char err[512] = "";
    int rc;

    if (config == NULL || *config == '\0') {
        usage_error(sub, "needs a client configuration: --config FILE or $TMBUS_CONFIG");
        return NULL;
    }
    if ((rc = tmbus_connect_config(config, PUBLISH_MS, &h, err, sizeof(err))) != TMBUS_OK) {
        fprintf(stderr, "tmbus-admin: cannot reach the node of %s: %s%s%s\n", config,
                tmbus_strerror(rc), *err != '\0' ? ": " : "", err);
        return NULL;
    }
    return h;
}

static void print_entry(uint64_t version, const uint8_t *hash, int64_t at, uint64_t size)
{
    char hash64[64], when[32];

    keys_to_base64(hash, ENVELOPE_HASH_BYTES, hash64, sizeof(hash64));
    util_format_utc(at, when, sizeof(when));
    printf("%7llu  %s  %s  %llu\n", (unsigned long long)version, hash64, when,
           (unsigned long long)size);
}

static void print_history(const struct tmbus_roster_history *rh)
{
    printf("%7s  %-44s  %-20s  %s\n", "VERSION", "HASH", "TRUSTED", "BYTES");
    for (size_t i = 0; i < tmbus_roster_history_count(rh); i++) {
        const struct tmbus_roster_entry *e = tmbus_roster_history_at(rh, i);
        print_entry(e->version, e->hash, e->trusted_at, e->size);
    }
}

static int cmd_publish(const struct args *a)
{
    struct tmbus *h = NULL;
    struct tmbus_roster_history *rh = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = 1, st;

    if (a->n_pos != 1)
        return usage_error("publish", "needs exactly one FILE");
    if (read_roster(a->pos[0], &buf, &len) == -1)
        goto out;
    if ((h = connect_node(a, "publish")) == NULL)
        goto out;
    if ((st = tmbus_roster_publish(h, buf, len, PUBLISH_MS, &rh)) != TMBUS_OK) {
        fprintf(stderr, "tmbus-admin: %s: %s: %s\n", a->pos[0], tmbus_strerror(st),
                tmbus_last_error(h));
        goto out;
    }
    printf("published %s: in force on that node, which sends it to every node\n", a->pos[0]);
    print_history(rh);
    rc = 0;
out:
    tmbus_roster_history_free(&rh);
    tmbus_close(&h);
    free(buf);
    return rc;
}

static int print_stored(void *arg, const struct store_roster_entry *e)
{
    (void)arg;
    print_entry(e->version, e->hash, e->trusted_at, e->size);
    return 0;
}

static int cmd_history(const struct args *a)
{
    struct tmbus *h = NULL;
    struct tmbus_roster_history *rh = NULL;
    int rc = 1, st;

    if (a->n_pos != 0)
        return usage_error("history", "takes no arguments");
    if (a->data_dir != NULL) {
        printf("%7s  %-44s  %-20s  %s\n", "VERSION", "HASH", "TRUSTED", "BYTES");
        return store_roster_history_peek(a->data_dir, print_stored, NULL) == 0 ? 0 : 1;
    }
    if ((h = connect_node(a, "history")) == NULL)
        goto out;
    if ((st = tmbus_roster_history(h, PUBLISH_MS, &rh)) != TMBUS_OK) {
        fprintf(stderr, "tmbus-admin: history: %s: %s\n", tmbus_strerror(st), tmbus_last_error(h));
        goto out;
    }
    print_history(rh);
    rc = 0;
out:
    tmbus_roster_history_free(&rh);
    tmbus_close(&h);
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
        allowed = "detached";
        run = cmd_sign;
    } else if (strcmp(sub, "propose") == 0) {
        allowed = "previous,force";
        run = cmd_propose;
    } else if (strcmp(sub, "combine") == 0) {
        allowed = "out,previous";
        run = cmd_combine;
    } else if (strcmp(sub, "diff") == 0) {
        allowed = "";
        run = cmd_diff;
    } else if (strcmp(sub, "publish") == 0) {
        allowed = "config";
        run = cmd_publish;
    } else if (strcmp(sub, "history") == 0) {
        allowed = "config,data-dir";
        run = cmd_history;
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
