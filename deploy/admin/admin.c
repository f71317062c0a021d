/*
 * tmbus-admin: entry point. Dispatches to the subcommand families and
 * prints the overall usage; owns nothing else.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "admin.h"
#include "log.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: tmbus-admin keygen member ID DIR\n"
               "       tmbus-admin keygen governor MEMBER NAME DIR\n"
               "       tmbus-admin keygen client NAME DIR\n"
               "       tmbus-admin roster create SOURCE.ini OUT\n"
               "       tmbus-admin roster sign ROSTER GOVERNOR.key\n"
               "       tmbus-admin roster verify ROSTER --coalition C [--previous OLD]\n"
               "       tmbus-admin roster show ROSTER [--coalition C]\n"
               "       tmbus-admin audit verify DATA_DIR\n"
               "       tmbus-admin audit show DATA_DIR [--last N]\n"
               "       tmbus-admin bundle vector -c CONF --to MEMBER --out FILE\n"
               "       tmbus-admin bundle export -c CONF --for VECTOR --out FILE\n"
               "       tmbus-admin bundle import -c CONF FILE\n"
               "       tmbus-admin --help | --version\n"
               "Run a subcommand with --help for details.\n");
}

int main(int argc, char **argv)
{
    log_init("tmbus-admin", LOG_LEVEL_WARN);
    log_set_plain();
    if (sodium_init() < 0)
        fatalx("libsodium failed to initialise");
    if (argc < 2) {
        usage(stderr);
        return ADMIN_EX_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("tmbus-admin %s\n", TMBUS_VERSION_STRING);
        return 0;
    }
    if (strcmp(argv[1], "keygen") == 0)
        return admin_keygen(argc - 1, argv + 1);
    if (strcmp(argv[1], "roster") == 0)
        return admin_roster(argc - 1, argv + 1);
    if (strcmp(argv[1], "audit") == 0)
        return admin_audit(argc - 1, argv + 1);
    if (strcmp(argv[1], "bundle") == 0)
        return admin_bundle(argc - 1, argv + 1);
    fprintf(stderr, "tmbus-admin: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return ADMIN_EX_USAGE;
}
