/*
 * fuzz_client_config: feeds arbitrary bytes to client_config_parse, the
 * reader of the client configuration that every program using libtmbus
 * runs on a file a person wrote. A success must give three NUL-terminated,
 * non-empty values that fit their buffers, and a failure a reason; nothing
 * may crash, overflow or leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client_config.h"
#include "tmbus.h"

#define ERR_MAX 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_value(const char *value)
{
    size_t n = strnlen(value, CLIENT_CONFIG_VALUE_MAX);

    if (n == 0 || n == CLIENT_CONFIG_VALUE_MAX)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct client_config *c = malloc(sizeof(*c));
    char err[ERR_MAX] = "";
    int rc;

    if (c == NULL)
        return 0;
    /* A relative path, so that key paths are resolved against its folder. */
    rc = client_config_parse("conf.d/client.conf", (const char *)data, size, c, err, sizeof(err));
    if (rc == TMBUS_OK) {
        check_value(c->endpoint);
        check_value(c->node_key);
        check_value(c->key);
        if (strncmp(c->node_key, "conf.d/", 7) != 0 && c->node_key[0] != '/')
            abort();
    } else if (err[0] == '\0' || (rc != TMBUS_EINVALID && rc != TMBUS_ENOMEM)) {
        abort();
    }
    free(c);
    return 0;
}
