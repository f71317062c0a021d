/*
 * tmbus keygen: makes a client's CURVE key pair, NAME.key (kind
 * client-secret, mode 0600) and NAME.pub (kind client-public), and prints
 * the [client NAME] section to paste into the node's configuration. The
 * name rule and the key file format are the shared ones (proto/domain.h,
 * proto/keyfile.h), linked in statically. It never overwrites a file, and
 * the secret exists only in sodium_malloc memory that is wiped before it
 * is freed; it is never printed.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "domain.h"
#include "keyfile.h"

#define KEY_B64_LEN                                                                                \
    sodium_base64_ENCODED_LEN(crypto_box_PUBLICKEYBYTES, sodium_base64_VARIANT_ORIGINAL)

_Static_assert(crypto_box_PUBLICKEYBYTES == WIRE_KEY_BYTES, "CURVE keys are X25519 keys");
_Static_assert(crypto_box_SECRETKEYBYTES == WIRE_KEY_BYTES, "CURVE keys are X25519 keys");

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tmbus keygen NAME [DIR]\n"
            "Makes a client key pair: DIR/NAME.key (secret, mode 0600) and DIR/NAME.pub\n"
            "(public). DIR defaults to the current directory and is created (0700) if\n"
            "missing. Existing files are never overwritten. NAME is 1 to %d of\n"
            "A-Z a-z 0-9 _ . - and does not start with '.'. Prints the [client NAME]\n"
            "section for the node's configuration (--json: as an object).\n",
            WIRE_CLIENT_NAME_MAX);
}

/* Creates dir 0700 unless it exists (an existing directory keeps its mode). */
static int make_dir(const char *dir)
{
    struct stat st;

    if (mkdir(dir, 0700) == 0)
        return 0;
    if (errno != EEXIST)
        return -1;
    if (stat(dir, &st) == -1)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

/* Fails when path exists, even as a dangling symbolic link. */
static int check_absent(const char *path)
{
    struct stat st;

    if (lstat(path, &st) == 0)
        return cli_fail(-1, "%s already exists; refusing to overwrite it", path);
    if (errno != ENOENT)
        return cli_fail(-1, "cannot check %s: %s", path, strerror(errno));
    return 0;
}

/* Writes kf's secret file, then its public file; a failure leaves
 * neither, as half a pair is no use to anyone. */
static int write_pair(const char *secret_path, const char *public_path, const struct keyfile *kf)
{
    char why[KEYFILE_WHY_MAX];

    if (keyfile_write(secret_path, kf, true, why, sizeof(why)) == -1)
        return cli_fail(-1, "%s", why);
    if (keyfile_write(public_path, kf, false, why, sizeof(why)) == -1) {
        unlink(secret_path);
        return cli_fail(-1, "%s", why);
    }
    return 0;
}

int cmd_keygen(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {CLI_COMMON_LONG};
    char secret_path[PATH_MAX], public_path[PATH_MAX], pk_b64[KEY_B64_LEN];
    struct keyfile kf = {.kind = KEYFILE_CLIENT_SECRET};
    const char *name, *dir;
    int opt, rc = CLI_EX_FAIL;

    optind = 0;
    while ((opt = getopt_long(argc, argv, CLI_SHORT, longopts, NULL)) != -1) {
        if ((rc = cli_option(cli, "keygen", opt, argv, usage)) != CLI_CONTINUE)
            return rc;
    }
    rc = CLI_EX_FAIL;
    if (argc - optind < 1 || argc - optind > 2)
        return cli_usage_error("keygen", "expected NAME [DIR]");
    name = argv[optind];
    dir = argc - optind == 2 ? argv[optind + 1] : ".";
    if (!domain_is_client_name(name))
        return cli_fail(CLI_EX_USAGE,
                        "keygen: bad client name '%s' (1..%d of A-Z a-z 0-9 _ . -, not starting "
                        "with '.')",
                        name, WIRE_CLIENT_NAME_MAX);
    if (*dir == '\0')
        return cli_fail(CLI_EX_USAGE, "keygen: empty directory name");
    if (snprintf(secret_path, sizeof(secret_path), "%s/%s.key", dir, name) >=
            (int)sizeof(secret_path) ||
        snprintf(public_path, sizeof(public_path), "%s/%s.pub", dir, name) >=
            (int)sizeof(public_path))
        return cli_fail(CLI_EX_USAGE, "keygen: directory path too long");
    if (make_dir(dir) == -1)
        return cli_fail(CLI_EX_FAIL, "cannot create directory %s: %s", dir, strerror(errno));
    /* Check both names first so that a refusal leaves nothing half done. */
    if (check_absent(secret_path) == -1 || check_absent(public_path) == -1)
        return CLI_EX_FAIL;

    if (sodium_init() < 0) {
        cli_fail(0, "libsodium failed to initialise");
        goto out;
    }
    if ((kf.secret = sodium_malloc(sizeof(*kf.secret))) == NULL) {
        cli_fail(0, "out of memory");
        goto out;
    }
    sodium_memzero(kf.secret, sizeof(*kf.secret));
    crypto_box_keypair(kf.transport_pk, kf.secret->transport_sk);
    sodium_bin2base64(pk_b64, sizeof(pk_b64), kf.transport_pk, sizeof(kf.transport_pk),
                      sodium_base64_VARIANT_ORIGINAL);
    if (write_pair(secret_path, public_path, &kf) == -1)
        goto out;

    if (cli->is_json) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "name", name, "key", pk_b64, "secret_file",
                              secret_path, "public_file", public_path);
        if (output_json_line(o) == -1) {
            cli_fail(0, "cannot write to stdout");
            goto out;
        }
    } else {
        printf("wrote %s (secret, keep it here) and %s\n"
               "Add this to the node's configuration (tmbusd.conf), then reload the node:\n"
               "\n"
               "[client %s]\n"
               "key = %s\n"
               "# reader (default), poster or admin\n"
               "role = poster\n"
               "# clear (default), green, amber, amber+strict or red\n"
               "clearance = amber\n",
               secret_path, public_path, name, pk_b64);
    }
    rc = CLI_EX_OK;
out:
    keyfile_clear(&kf); /* wipes the secret */
    return rc;
}
