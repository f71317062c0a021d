/*
 * keyfile: libtmbus's connections from files: the tmbus key files a client
 * connects with (the node's member-public file and the client's
 * client-secret file) and, through client_config.c, the client
 * configuration that names them. The key file format and its checks are
 * the shared ones (proto/keyfile.h); this file only asks for the kind each
 * file must be. A secret key lives only in the sodium_malloc memory the
 * shared reader gives it, is wiped on every path, and is never echoed.
 */
#include "tmbus.h"

#include <errno.h>
#include <stdlib.h>

#include <sodium.h>

#include "client_config.h"
#include "internal.h"
#include "keyfile.h"

/* Reads the key file at path, which must be of kind want. On TMBUS_OK *kf
 * holds its keys and the caller releases it with keyfile_clear; otherwise
 * *kf holds nothing and the reason is in err. */
static int read_key_file(const char *path, enum keyfile_kind want, struct keyfile *kf, char *err,
                         size_t err_size)
{
    enum keyfile_kind kind;

    if (keyfile_read(path, kf, err, err_size) == -1) {
        if (errno == ENOENT)
            return TMBUS_ENOTFOUND;
        return errno == ENOMEM ? TMBUS_ENOMEM : TMBUS_EINVALID;
    }
    if ((kind = kf->kind) == want)
        return TMBUS_OK;
    keyfile_clear(kf);
    return client_fail_to(err, err_size, TMBUS_EINVALID, "%s is a %s file; expected a %s file",
                          path, keyfile_kind_name(kind), keyfile_kind_name(want));
}

int tmbus_connect_files(const char *endpoint, const char *node_public_file,
                        const char *client_secret_file, int timeout_ms, struct tmbus **out,
                        char *err, size_t err_size)
{
    struct keyfile node, client;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (node_public_file == NULL || client_secret_file == NULL)
        return client_fail_to(err, err_size, TMBUS_EINVALID, "both key files are required");
    if (sodium_init() < 0)
        return client_fail_to(err, err_size, TMBUS_EINTERNAL, "libsodium failed to initialise");
    if ((rc = read_key_file(node_public_file, KEYFILE_MEMBER_PUBLIC, &node, err, err_size)) !=
        TMBUS_OK)
        return rc;
    if ((rc = read_key_file(client_secret_file, KEYFILE_CLIENT_SECRET, &client, err, err_size)) ==
        TMBUS_OK) {
        rc = tmbus_connect(endpoint, node.transport_pk, client.transport_pk,
                           client.secret->transport_sk, timeout_ms, out, err, err_size);
        keyfile_clear(&client); /* wipes the secret */
    }
    keyfile_clear(&node);
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
