/*
 * keyfile: libtmbus's readers of the files a client connects with: tmbus
 * key files (the node's member-public file and the client's
 * client-secret file) and, through client_config.c, the client
 * configuration that names them. A secret key is read only into
 * sodium_malloc memory, wiped on every path, and never echoed in a reason.
 */
#include "tmbus.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "client_config.h"
#include "internal.h"

#define KEY_FILE_MAX  4096 /* as the daemon's KEYS_FILE_MAX */
#define KEY_FIELD_MAX 8

/* ---- key files ---------------------------------------------------------- */

/* The fields this library reads from a tmbus key file. The daemon's
 * keys.c is the reference for the format ("name = base64" lines, '#'
 * comments); the client must not link the daemon, so this is a small
 * reader of the two kinds a client needs. */
struct key_file {
    const char *path;
    const char *kind;                   /* the kind required */
    const char *allowed[KEY_FIELD_MAX]; /* field names allowed besides kind */
    uint8_t *public_key;                /* transport-public goes here */
    uint8_t *secret_key;                /* transport-secret, or NULL for a public file */
};

static char *trim(char *s)
{
    size_t n;

    while (*s == ' ' || *s == '\t' || *s == '\r')
        s++;
    n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

static int decode_key(const char *value, uint8_t *out)
{
    size_t got = 0;
    const char *end = NULL;

    if (strlen(value) !=
            sodium_base64_ENCODED_LEN(TMBUS_KEY_BYTES, sodium_base64_VARIANT_ORIGINAL) - 1 ||
        sodium_base642bin(out, TMBUS_KEY_BYTES, value, strlen(value), NULL, &got, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        got != TMBUS_KEY_BYTES || *end != '\0')
        return -1;
    return 0;
}

/* Parses text (NUL-terminated, modified in place). Every field at most
 * once, only the fields of the kind, and never echoes a value. */
static int parse_key_text(struct key_file *k, char *text, char *err, size_t err_size)
{
    bool has_kind = false, has_public = false, has_secret = false;
    int line = 0;
    char *next;

    for (char *s = text; s != NULL; s = next) {
        char *eq, *name, *value;
        bool is_allowed = false;

        line++;
        if ((next = strchr(s, '\n')) != NULL)
            *next++ = '\0';
        s = trim(s);
        if (*s == '\0' || *s == '#')
            continue;
        if ((eq = strchr(s, '=')) == NULL)
            return client_fail_to(err, err_size, TMBUS_EINVALID, "%s:%d: expected 'name = value'",
                                  k->path, line);
        *eq = '\0';
        name = trim(s);
        value = trim(eq + 1);
        if (strcmp(name, "kind") == 0) {
            if (has_kind || strcmp(value, k->kind) != 0)
                return client_fail_to(err, err_size, TMBUS_EINVALID,
                                      "%s:%d: expected one 'kind = %s'", k->path, line, k->kind);
            has_kind = true;
            continue;
        }
        for (size_t i = 0; i < KEY_FIELD_MAX && k->allowed[i] != NULL; i++)
            is_allowed |= strcmp(name, k->allowed[i]) == 0;
        if (!is_allowed)
            return client_fail_to(err, err_size, TMBUS_EINVALID,
                                  "%s:%d: a field that does not belong in a %s file", k->path, line,
                                  k->kind);
        if (strcmp(name, "transport-public") == 0) {
            if (has_public || decode_key(value, k->public_key) == -1)
                return client_fail_to(
                    err, err_size, TMBUS_EINVALID,
                    "%s:%d: transport-public must appear once, as 32 bytes of base64", k->path,
                    line);
            has_public = true;
        } else if (strcmp(name, "transport-secret") == 0) {
            if (has_secret || decode_key(value, k->secret_key) == -1)
                return client_fail_to(
                    err, err_size, TMBUS_EINVALID,
                    "%s:%d: transport-secret must appear once, as 32 bytes of base64", k->path,
                    line);
            has_secret = true;
        }
    }
    if (!has_kind || !has_public || (k->secret_key != NULL && !has_secret))
        return client_fail_to(err, err_size, TMBUS_EINVALID, "%s: not a complete %s file", k->path,
                              k->kind);
    return TMBUS_OK;
}

/* Reads a key file into sodium_malloc memory (it may hold a secret) and
 * parses it. Refuses links, non-regular files, files over KEY_FILE_MAX and
 * secret files that group or others can access. */
static int load_key_file(struct key_file *k, char *err, size_t err_size)
{
    struct stat st;
    char *text = NULL;
    size_t got = 0;
    int fd, rc = TMBUS_EINVALID;

    if ((fd = open(k->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) == -1)
        return client_fail_to(err, err_size, errno == ENOENT ? TMBUS_ENOTFOUND : TMBUS_EINVALID,
                              "cannot open %s: %s", k->path, strerror(errno));
    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_size > KEY_FILE_MAX) {
        client_fail_to(err, err_size, rc, "%s is not a key file", k->path);
        goto out;
    }
    if (k->secret_key != NULL && (st.st_mode & 077) != 0) {
        /* A local mistake, not a refusal by the node. */
        client_fail_to(err, err_size, TMBUS_EINVALID,
                       "%s is accessible by group or others (mode %04o); chmod 600 it", k->path,
                       (unsigned)(st.st_mode & 07777));
        goto out;
    }
    if ((text = sodium_malloc(KEY_FILE_MAX + 2)) == NULL) {
        rc = client_fail_to(err, err_size, TMBUS_ENOMEM, "cannot allocate locked memory");
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, text + got, KEY_FILE_MAX + 1 - got);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1) {
            client_fail_to(err, err_size, rc, "cannot read %s: %s", k->path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        got += (size_t)n;
        if (got > KEY_FILE_MAX) {
            client_fail_to(err, err_size, rc, "%s is not a key file", k->path);
            goto out;
        }
    }
    text[got] = '\0';
    if (memchr(text, '\0', got) != NULL) {
        client_fail_to(err, err_size, rc, "%s is not a key file", k->path);
        goto out;
    }
    rc = parse_key_text(k, text, err, err_size);
out:
    close(fd);
    sodium_free(text); /* accepts NULL; wipes first */
    return rc;
}

int tmbus_connect_files(const char *endpoint, const char *node_public_file,
                        const char *client_secret_file, int timeout_ms, struct tmbus **out,
                        char *err, size_t err_size)
{
    uint8_t node_pk[TMBUS_KEY_BYTES], client_pk[TMBUS_KEY_BYTES];
    uint8_t *client_sk = NULL;
    struct key_file node = {node_public_file,
                            "member-public",
                            {"member", "sign-public", "box-public", "transport-public"},
                            node_pk,
                            NULL};
    struct key_file client = {client_secret_file,
                              "client-secret",
                              {"transport-public", "transport-secret"},
                              client_pk,
                              NULL};
    int rc;

    if (out != NULL)
        *out = NULL;
    if (node_public_file == NULL || client_secret_file == NULL)
        return client_fail_to(err, err_size, TMBUS_EINVALID, "both key files are required");
    if (sodium_init() < 0)
        return client_fail_to(err, err_size, TMBUS_EINTERNAL, "libsodium failed to initialise");
    if ((client_sk = sodium_malloc(TMBUS_KEY_BYTES)) == NULL)
        return client_fail_to(err, err_size, TMBUS_ENOMEM, "cannot allocate locked memory");
    client.secret_key = client_sk;
    if ((rc = load_key_file(&node, err, err_size)) == TMBUS_OK &&
        (rc = load_key_file(&client, err, err_size)) == TMBUS_OK)
        rc = tmbus_connect(endpoint, node_pk, client_pk, client_sk, timeout_ms, out, err, err_size);
    sodium_free(client_sk);
    return rc;
}

int tmbus_connect_config(const char *path, int timeout_ms, struct tmbus **out, char *err,
                         size_t err_size)
{
    struct client_config *c;
    int rc;

    if (err != NULL && err_size > 0)
        err[0] = '\0';
    if (out != NULL)
        *out = NULL;
    if ((c = malloc(sizeof(*c))) == NULL)
        return client_fail_to(err, err_size, TMBUS_ENOMEM, "out of memory");
    if ((rc = client_config_read(path, c, err, err_size)) == TMBUS_OK)
        rc = tmbus_connect_files(c->endpoint, c->node_key, c->key, timeout_ms, out, err, err_size);
    free(c);
    return rc;
}
