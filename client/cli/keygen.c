/*
 * tmbus keygen: makes a client's CURVE key pair, NAME.key (kind
 * client-secret, mode 0600) and NAME.pub (kind client-public), in the file
 * format of tmbus-admin and daemon/keys.c, and prints the [client NAME]
 * section to paste into the node's configuration. It never overwrites a
 * file, and the secret exists only in sodium_malloc memory that is wiped
 * before it is freed; it is never printed.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"

#define NAME_MAX_LEN 64 /* the node's client names: 1..64 of A-Z a-z 0-9 _ . - */
#define KEY_B64_LEN                                                                                \
    sodium_base64_ENCODED_LEN(crypto_box_PUBLICKEYBYTES, sodium_base64_VARIANT_ORIGINAL)
#define FILE_TEXT_MAX 512

_Static_assert(crypto_box_PUBLICKEYBYTES == TMBUS_KEY_BYTES, "CURVE keys are X25519 keys");
_Static_assert(crypto_box_SECRETKEYBYTES == TMBUS_KEY_BYTES, "CURVE keys are X25519 keys");

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tmbus keygen NAME [DIR]\n"
            "Makes a client key pair: DIR/NAME.key (secret, mode 0600) and DIR/NAME.pub\n"
            "(public). DIR defaults to the current directory and is created (0700) if\n"
            "missing. Existing files are never overwritten. NAME is 1 to %d of\n"
            "A-Z a-z 0-9 _ . - and does not start with '.'. Prints the [client NAME]\n"
            "section for the node's configuration (--json: as an object).\n",
            NAME_MAX_LEN);
}

static bool is_client_name(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > NAME_MAX_LEN || s[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
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

/* Writes len bytes to a fresh temporary file, syncs it, then link()s it
 * to path: link fails instead of replacing, so two runs racing for one
 * name cannot both win, and a crash leaves no half-written key file. */
static int write_new(const char *path, const char *text, size_t len, mode_t mode)
{
    char tmp[PATH_MAX];
    int fd, rc = -1;
    size_t done = 0;

    if (snprintf(tmp, sizeof(tmp), "%s.new%ld", path, (long)getpid()) >= (int)sizeof(tmp))
        return cli_fail(-1, "%s: path too long", path);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode)) == -1)
        return cli_fail(-1, "cannot create %s: %s", tmp, strerror(errno));
    /* Whatever the umask, the mode is exactly what we asked for. */
    if (fchmod(fd, mode) == -1)
        goto io_error;
    while (done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            goto io_error;
        done += (size_t)w;
    }
    if (fsync(fd) == -1)
        goto io_error;
    if (close(fd) == -1) {
        fd = -1;
        goto io_error;
    }
    fd = -1;
    if (link(tmp, path) == -1) {
        if (errno == EEXIST)
            cli_fail(-1, "%s already exists; refusing to overwrite it", path);
        else
            cli_fail(-1, "cannot create %s: %s", path, strerror(errno));
        goto out;
    }
    rc = 0;
    goto out;
io_error:
    cli_fail(-1, "cannot write %s: %s", tmp, strerror(errno));
    if (fd != -1)
        close(fd);
out:
    unlink(tmp);
    return rc;
}

/* Renders and writes both files. sk and the text buffer are sodium_malloc
 * memory owned by the caller. */
static int write_pair(const char *secret_path, const char *public_path, const char *pk_b64,
                      const uint8_t *sk, char *text)
{
    char pub[FILE_TEXT_MAX];
    int n;

    /* The secret's base64 lives in text only: encode straight into it. */
    n = snprintf(text, FILE_TEXT_MAX,
                 "# tmbus secret keys: keep this file private (mode 0600), never share it.\n"
                 "kind = client-secret\n"
                 "transport-public = %s\n"
                 "transport-secret = ",
                 pk_b64);
    if (n < 0 || (size_t)n + KEY_B64_LEN + 1 > FILE_TEXT_MAX)
        return cli_fail(-1, "key file text too long");
    sodium_bin2base64(text + n, FILE_TEXT_MAX - (size_t)n, sk, crypto_box_SECRETKEYBYTES,
                      sodium_base64_VARIANT_ORIGINAL);
    n += (int)strlen(text + n);
    text[n++] = '\n';
    text[n] = '\0';

    snprintf(pub, sizeof(pub),
             "# tmbus public keys: safe to share.\n"
             "kind = client-public\n"
             "transport-public = %s\n",
             pk_b64);
    if (write_new(secret_path, text, (size_t)n, 0600) == -1)
        return -1;
    if (write_new(public_path, pub, strlen(pub), 0644) == -1) {
        unlink(secret_path); /* half a pair is no use to anyone */
        return -1;
    }
    return 0;
}

int cmd_keygen(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {CLI_COMMON_LONG};
    char secret_path[PATH_MAX], public_path[PATH_MAX], pk_b64[KEY_B64_LEN];
    uint8_t pk[crypto_box_PUBLICKEYBYTES];
    uint8_t *sk = NULL;
    char *text = NULL;
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
    if (!is_client_name(name))
        return cli_fail(CLI_EX_USAGE,
                        "keygen: bad client name '%s' (1..%d of A-Z a-z 0-9 _ . -, not starting "
                        "with '.')",
                        name, NAME_MAX_LEN);
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
    if ((sk = sodium_malloc(crypto_box_SECRETKEYBYTES)) == NULL ||
        (text = sodium_malloc(FILE_TEXT_MAX)) == NULL) {
        cli_fail(0, "out of memory");
        goto out;
    }
    crypto_box_keypair(pk, sk);
    sodium_bin2base64(pk_b64, sizeof(pk_b64), pk, sizeof(pk), sodium_base64_VARIANT_ORIGINAL);
    if (write_pair(secret_path, public_path, pk_b64, sk, text) == -1)
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
    sodium_free(sk); /* sodium_free wipes */
    sodium_free(text);
    return rc;
}
