/*
 * tmbusd: runs one tmbus node in the foreground, systemd style. Parses the
 * command line, loads the configuration and hands it to the node; owns
 * nothing else. `tmbusd -n -c FILE` checks a configuration (and the key
 * and roster files and the data directory it names) and exits.
 */
#include <getopt.h>
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

/* What -n checks beyond the syntax: the files the configuration names, and
 * the roster against the one the node's store keeps as trusted, when the
 * store can be read. */
static int check_files(const struct config *cfg)
{
    struct keyset *ks;
    struct roster *r = NULL, *trusted = NULL;
    enum roster_status st;
    uint8_t *buf, *kept = NULL;
    size_t len, kept_len = 0;
    char why[200];
    int has_kept;

    if ((ks = keys_load(cfg->keys)) == NULL) {
        fprintf(stderr, "%s: keys = %s cannot be used (see above)\n", cfg->path, cfg->keys);
        return -1;
    }
    keys_free(&ks);
    if (util_read_file(cfg->roster, ROSTER_MAX_SIZE, &buf, &len) == -1) {
        fprintf(stderr, "%s: roster = %s cannot be read\n", cfg->path, cfg->roster);
        return -1;
    }
    if ((has_kept = store_roster_peek(cfg->data_dir, &kept, &kept_len)) == -1) {
        fprintf(stderr,
                "%s: the trusted roster in %s could not be read; the roster is checked "
                "on its own\n",
                cfg->path, cfg->data_dir);
    } else if (has_kept == 1 &&
               roster_verify_trusted(kept, kept_len, cfg->coalition, &trusted) != ROSTER_OK) {
        fprintf(stderr, "%s: the roster kept as trusted in %s does not verify\n", cfg->path,
                cfg->data_dir);
        free(kept);
        free(buf);
        return -1;
    }
    free(kept);
    st = roster_verify_update(buf, len, cfg->coalition, (int64_t)time(NULL), trusted, &r, why,
                              sizeof(why));
    free(buf);
    roster_free(&trusted);
    if (st != ROSTER_OK) {
        fprintf(stderr, "%s: roster = %s is refused: %s: %s\n", cfg->path, cfg->roster,
                roster_status_name(st), why);
        return -1;
    }
    roster_free(&r);
    return 0;
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
        fprintf(stderr, "%s\n", err);
        return CONFIG_EX_CONFIG;
    }
    log_init("tmbusd", debug ? LOG_LEVEL_DEBUG : cfg->log_level);
    /* A data directory others can read or write is a configuration error,
     * not a warning: it holds the board and the delivery state. */
    if (store_check_dir(cfg->data_dir, why, sizeof(why)) == -1) {
        fprintf(stderr, "%s: %s\n", path, why);
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
