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

/* Parses the file at path into *out. Returns TMBUS_OK, or a TMBUS_E*
 * code with "FILE:LINE: reason" (or "FILE: reason") in err. */
int client_config_read(const char *path, struct client_config *out, char *err, size_t err_size);

#endif
