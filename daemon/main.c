/*
 * tmbusd: runs one tmbus node in the foreground, systemd style. Parses the
 * command line, loads the configuration and hands it to the node; owns
 * nothing else. `tmbusd -n -c FILE` checks a configuration (and the key
 * and roster files and the data directory it names) and exits.
 */
#include <getopt.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "config.h"
#include "keys.h"
#include "log.h"
#include "node.h"
#include "roster.h"
#include "store.h"

/* One line about the configuration, for the operator: plain on a terminal
 * (what -n prints), with the journal's error priority when stderr is the
 * journal (ExecStartPre=tmbusd -n, or a start that fails). */
static void complain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void complain(const char *fmt, ...)
{
    va_list ap;

    if (log_to_journal())
        fputs("<3>", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: tmbusd [-n] [-d] -c FILE\n"
               "       tmbusd --help | --version\n"
               "  -c FILE    the node's configuration (INI)\n"
               "  -n         check the configuration, keys and roster, then exit\n"
               "  -d         log at debug level\n"
               "  -h, --help print this and exit\n"
               "  --version  print the version and exit\n");
}

/* Whether ks, loaded from the file option name = path, is a member key
 * file of the configured member: the node would refuse anything else at
 * start, so -n says so first. */
static int check_member_keys(const struct config *cfg, const char *name, const char *path,
                             const struct keyset *ks)
{
    if (ks->kind != KEYS_MEMBER) {
        complain("%s: %s = %s is not a member secret key file\n", cfg->path, name, path);
        return -1;
    }
    if (strcmp(ks->member, cfg->member) != 0) {
        complain("%s: %s = %s holds member %s's keys, but member = %s\n", cfg->path, name, path,
                 ks->member, cfg->member);
        return -1;
    }
    return 0;
}

/* Loads and checks the optional key file name = path into *out (NULL when
 * path is). Returns 0 or -1 (said). */
static int check_other_keys(const struct config *cfg, const char *name, const char *path,
                            struct keyset **out)
{
    *out = NULL;
    if (path == NULL)
        return 0;
    if ((*out = keys_load(path)) == NULL) {
        complain("%s: %s = %s cannot be used (see above)\n", cfg->path, name, path);
        return -1;
    }
    if (check_member_keys(cfg, name, path, *out) == -1) {
        keys_free(out);
        return -1;
    }
    return 0;
}

/* Whether the roster r lists the configured member with the keys in ks,
 * or during a rotation those in next (may be NULL), as an active
 * generation. */
static int check_in_roster(const struct config *cfg, const struct roster *r,
                           const struct keyset *ks, const struct keyset *next)
{
    struct roster_member m;

    if (roster_find(r, cfg->member, &m) == -1) {
        complain("%s: member = %s is not in roster = %s\n", cfg->path, cfg->member, cfg->roster);
        return -1;
    }
    if (roster_generation_of(&m, ks) == ROSTER_GEN_NONE &&
        (next == NULL || roster_generation_of(&m, next) == ROSTER_GEN_NONE)) {
        complain("%s: keys = %s%s%s are not member %s's active keys in roster = %s\n", cfg->path,
                 cfg->keys, next != NULL ? " and next_keys = " : "",
                 next != NULL ? cfg->next_keys : "", cfg->member, cfg->roster);
        return -1;
    }
    return 0;
}

/* Finds a roster version's hash in a store's history. */
struct kept_find {
    uint64_t version;
    const uint8_t *hash;
    bool is_found;
};

static int find_kept(void *arg, const struct store_roster_entry *e)
{
    struct kept_find *k = arg;

    if (e->version == k->version)
        k->is_found = memcmp(e->hash, k->hash, STORE_HASH_BYTES) == 0;
    return 0;
}

/* Whether the roster file buf is one the node trusted before and so runs
 * the newer roster it kept (node.c does the same at start). */
static bool was_trusted(const struct config *cfg, const uint8_t *buf, size_t len)
{
    struct roster *r = NULL;
    struct kept_find k = {0};

    if (roster_verify_trusted(buf, len, cfg->coalition, &r) != ROSTER_OK)
        return false;
    k.version = roster_version(r);
    k.hash = roster_hash(r);
    (void)store_roster_history_peek(cfg->data_dir, find_kept, &k);
    roster_free(&r);
    return k.is_found;
}

/* What -n checks beyond the syntax: the files the configuration names, and
 * the roster against the one the node's store keeps as trusted, when the
 * store can be read. */
static int check_files(const struct config *cfg)
{
    struct keyset *ks, *previous = NULL, *next = NULL;
    struct roster *r = NULL, *trusted = NULL;
    enum roster_status st;
    uint8_t *buf, *kept = NULL;
    size_t len, kept_len = 0;
    char why[200];
    int has_kept, rc;

    if ((ks = keys_load(cfg->keys)) == NULL) {
        complain("%s: keys = %s cannot be used (see above)\n", cfg->path, cfg->keys);
        return -1;
    }
    if (check_member_keys(cfg, "keys", cfg->keys, ks) == -1) {
        keys_free(&ks);
        return -1;
    }
    if (check_other_keys(cfg, "previous_keys", cfg->previous_keys, &previous) == -1 ||
        check_other_keys(cfg, "next_keys", cfg->next_keys, &next) == -1) {
        keys_free(&ks);
        keys_free(&previous);
        return -1;
    }
    keys_free(&previous);
    if (util_read_file(cfg->roster, ROSTER_MAX_SIZE, &buf, &len) == -1) {
        complain("%s: roster = %s cannot be read\n", cfg->path, cfg->roster);
        keys_free(&ks);
        keys_free(&next);
        return -1;
    }
    if ((has_kept = store_roster_peek(cfg->data_dir, &kept, &kept_len)) == -1) {
        fprintf(stderr,
                "%s: the trusted roster in %s could not be read; the roster is checked "
                "on its own\n",
                cfg->path, cfg->data_dir);
    } else if (has_kept == 1 &&
               roster_verify_trusted(kept, kept_len, cfg->coalition, &trusted) != ROSTER_OK) {
        complain("%s: the roster kept as trusted in %s does not verify\n", cfg->path,
                 cfg->data_dir);
        free(kept);
        free(buf);
        keys_free(&ks);
        keys_free(&next);
        return -1;
    }
    st = roster_verify_update(buf, len, cfg->coalition, (int64_t)time(NULL), trusted, &r, why,
                              sizeof(why));
    if (st == ROSTER_E_ROLLBACK && was_trusted(cfg, buf, len)) {
        printf("%s: roster = %s is older than version %llu, which the node trusted since and "
               "runs\n",
               cfg->path, cfg->roster, (unsigned long long)roster_version(trusted));
        st = roster_verify_update(kept, kept_len, cfg->coalition, (int64_t)time(NULL), trusted, &r,
                                  why, sizeof(why));
    }
    free(kept);
    free(buf);
    roster_free(&trusted);
    if (st != ROSTER_OK) {
        complain("%s: roster = %s is refused: %s: %s\n", cfg->path, cfg->roster,
                 roster_status_name(st), why);
        keys_free(&ks);
        keys_free(&next);
        return -1;
    }
    rc = check_in_roster(cfg, r, ks, next);
    roster_free(&r);
    keys_free(&ks);
    keys_free(&next);
    return rc;
}

static int block_signals(void)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &set, NULL) == -1) {
        log_warn("sigprocmask");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    bool check_only = false, debug = false, is_config_error;
    char err[CONFIG_ERR_MAX];
    char why[STORE_WHY_MAX];
    struct config *cfg;
    struct node *n;
    int ch, rc;
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };

    while ((ch = getopt_long(argc, argv, "c:ndh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            path = optarg;
            break;
        case 'n':
            check_only = true;
            break;
        case 'd':
            debug = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("tmbusd %s\n", TMBUS_VERSION_STRING);
            return 0;
        default:
            usage(stderr);
            return 64;
        }
    }
    if (path == NULL || optind != argc) {
        usage(stderr);
        return 64;
    }
    log_init("tmbusd", LOG_LEVEL_INFO);
    if (sodium_init() < 0)
        fatalx("libsodium failed to initialise");
    if ((cfg = config_load(path, err, sizeof(err))) == NULL) {
        complain("%s\n", err);
        return CONFIG_EX_CONFIG;
    }
    log_init("tmbusd", debug ? LOG_LEVEL_DEBUG : cfg->log_level);
    /* A data directory others can read or write is a configuration error,
     * not a warning: it holds the board and the delivery state. */
    if (store_check_dir(cfg->data_dir, why, sizeof(why)) == -1) {
        complain("%s: %s\n", path, why);
        config_free(&cfg);
        return CONFIG_EX_CONFIG;
    }
    if (check_only) {
        rc = check_files(cfg);
        config_free(&cfg);
        if (rc == -1)
            return CONFIG_EX_CONFIG;
        printf("%s: configuration OK\n", path);
        return 0;
    }
    /* SIGTERM, SIGINT and SIGHUP are read through the node's signalfd. Blocked
     * here, before any library starts a thread, every thread inherits the
     * mask, so none of them can take a signal's default action (dying) in
     * the node's place. */
    if (block_signals() == -1)
        return 1;
    if ((n = node_new(cfg, &is_config_error)) == NULL)
        return is_config_error ? CONFIG_EX_CONFIG : 1;
    rc = node_run(n);
    node_free(&n);
    log_info("stopped");
    return rc == 0 ? 0 : 1;
}
