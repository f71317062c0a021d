/*
 * client_config: reads libtmbus's client configuration file (a small INI:
 * one [client] section with endpoint, node_key and key). Private to the
 * library; it must not link the daemon's configuration code, and it never
 * reads a key file itself (tmbus.c does, with its own checks).
 */
#ifndef TMBUS_CLIENT_CONFIG_H
#define TMBUS_CLIENT_CONFIG_H

#include <stddef.h>

#define CLIENT_CONFIG_VALUE_MAX 4096 /* a path or an endpoint, resolved */

struct client_config {
    char endpoint[CLIENT_CONFIG_VALUE_MAX];
    char node_key[CLIENT_CONFIG_VALUE_MAX]; /* made absolute against the file's folder */
    char key[CLIENT_CONFIG_VALUE_MAX];      /* likewise */
};

/* Reads the file at path and parses it as client_config_parse does.
 * Blocks on the file system only. Returns TMBUS_OK, or a TMBUS_E* code
 * with "FILE:LINE: reason" (or "FILE: reason") in err. */
int client_config_read(const char *path, struct client_config *out, char *err, size_t err_size);

/* Parses len bytes of configuration text (not NUL-terminated; at most
 * 64 KiB, no NUL byte) into *out, as if read from the file at path, which
 * names it in reasons and against whose folder relative key paths are
 * resolved; it is not opened. Never keeps a pointer into bytes. Returns
 * TMBUS_OK, or TMBUS_EINVALID / TMBUS_ENOMEM with the reason in err. */
int client_config_parse(const char *path, const char *bytes, size_t len, struct client_config *out,
                        char *err, size_t err_size);

#endif
