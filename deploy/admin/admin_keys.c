/*
 * tmbus-admin keygen: creates a member's, a governor's or a client's key
 * pair files, NAME.key (secret, 0600) and NAME.pub (public, 0644), in a
 * directory it creates 0700 when missing. It never overwrites a file and
 * never prints or logs key material: key handling is daemon/keys.c's and
 * the file format proto/keyfile.c's.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "admin.h"
#include "domain.h"
#include "keys.h"
#include "log.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tmbus-admin keygen member ID DIR\n"
            "       tmbus-admin keygen governor MEMBER NAME DIR\n"
            "       tmbus-admin keygen client NAME DIR\n"
            "Writes DIR/ID.key or DIR/NAME.key (secret keys, mode 0600) and the\n"
            "matching .pub file (public keys, mode 0644). DIR is created with mode\n"
            "0700 if missing. Existing files are never overwritten. ID, MEMBER and\n"
            "NAME are 1 to %d of A-Z a-z 0-9 _ -.\n",
            WIRE_MEMBER_ID_MAX);
}

static int usage_error(const char *why)
{
    fprintf(stderr, "tmbus-admin keygen: %s\n", why);
    usage(stderr);
    return ADMIN_EX_USAGE;
}

/* Member ids and key names follow one rule: a key name becomes a file
 * name, and the member id charset keeps it one. */
static bool is_name(const char *s)
{
    return domain_is_member_id(s, strlen(s));
}

/* Creates dir 0700 unless it exists; an existing dir keeps its mode. */
static int make_dir(const char *dir)
{
    struct stat st;

    if (mkdir(dir, 0700) == 0)
        return chmod(dir, 0700) == 0 ? 0 : -1; /* whatever the umask */
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

int admin_keygen(int argc, char **argv)
{
    char secret_path[PATH_MAX], public_path[PATH_MAX];
    enum keys_kind kind;
    const char *member = NULL, *name, *dir;
    struct keyset *ks = NULL;
    int rc = 1;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
    }
    if (argc < 2)
        return usage_error("missing key kind");
    if (strcmp(argv[1], "member") == 0 && argc == 4) {
        kind = KEYS_MEMBER;
        member = name = argv[2];
        dir = argv[3];
    } else if (strcmp(argv[1], "governor") == 0 && argc == 5) {
        kind = KEYS_GOVERNOR;
        member = argv[2];
        name = argv[3];
        dir = argv[4];
    } else if (strcmp(argv[1], "client") == 0 && argc == 4) {
        kind = KEYS_CLIENT;
        name = argv[2];
        dir = argv[3];
    } else if (strcmp(argv[1], "member") == 0 || strcmp(argv[1], "governor") == 0 ||
               strcmp(argv[1], "client") == 0) {
        return usage_error("wrong number of arguments");
    } else {
        return usage_error("key kind must be member, governor or client");
    }
    if (member != NULL && !is_name(member))
        return usage_error("not a valid member id");
    /* The name becomes a file name: the same strict charset keeps it one. */
    if (!is_name(name))
        return usage_error("not a valid key name");
    if (*dir == '\0')
        return usage_error("empty directory name");

    if (snprintf(secret_path, sizeof(secret_path), "%s/%s.key", dir, name) >=
            (int)sizeof(secret_path) ||
        snprintf(public_path, sizeof(public_path), "%s/%s.pub", dir, name) >=
            (int)sizeof(public_path)) {
        fprintf(stderr, "tmbus-admin keygen: directory path too long\n");
        goto out;
    }
    if (make_dir(dir) == -1) {
        fprintf(stderr, "tmbus-admin keygen: cannot create directory %s: %s\n", dir,
                strerror(errno));
        goto out;
    }
    /* keys_generate and keys_save log their own one-line reasons. */
    if ((ks = keys_generate(kind, member)) == NULL || keys_save(ks, secret_path, public_path) == -1)
        goto out;
    printf("%s\n%s\n", secret_path, public_path);
    rc = 0;
out:
    keys_free(&ks);
    return rc;
}
