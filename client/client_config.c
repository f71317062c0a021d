/*
 * client_config: the reader of a client configuration file. Debian's inih
 * would do, but the client library keeps its dependencies to libzmq,
 * libsodium and protobuf-c, and the format is three keys in one section:
 * a small strict reader that names the file and line of every error costs
 * less than a new dependency for every program that links libtmbus. It
 * holds no secrets: the file names key files, it does not contain keys.
 */
#include "client_config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmbus.h"

#define CONFIG_FILE_MAX (64 * 1024)
#define LINE_MAX_BYTES  1024

__attribute__((format(printf, 4, 5))) static int fail_to(char *err, size_t size, int rc,
                                                         const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && size > 0) {
        va_start(ap, fmt);
        vsnprintf(err, size, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static char *trim(char *s)
{
    size_t n;

    while (*s == ' ' || *s == '\t')
        s++;
    n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* Cuts a comment that starts with ';' or '#' after whitespace, so that a
 * value may still hold either character ("tcp://host#1" stays whole). */
static void cut_comment(char *value)
{
    for (char *s = value; *s != '\0'; s++) {
        if ((*s == ';' || *s == '#') && (s == value || s[-1] == ' ' || s[-1] == '\t')) {
            *s = '\0';
            return;
        }
    }
}

/* Resolves value against the folder of the configuration file unless it
 * is absolute. */
static int resolve(const char *config_path, const char *value, char *out, size_t size)
{
    const char *slash = strrchr(config_path, '/');
    int n;

    if (value[0] == '/' || slash == NULL)
        n = snprintf(out, size, "%s", value);
    else
        n = snprintf(out, size, "%.*s/%s", (int)(slash - config_path), config_path, value);
    return n >= 0 && (size_t)n < size ? 0 : -1;
}

/* A NUL-terminated copy of (bytes, len) for parsing in place, refusing
 * text that is too large or holds NUL. */
static int copy_text(const char *path, const char *bytes, size_t len, char **out, char *err,
                     size_t err_size)
{
    *out = NULL;
    if (len > CONFIG_FILE_MAX || (len > 0 && memchr(bytes, '\0', len) != NULL))
        return fail_to(err, err_size, TMBUS_EINVALID, "%s: not a tmbus client configuration file",
                       path);
    if ((*out = malloc(len + 1)) == NULL)
        return fail_to(err, err_size, TMBUS_ENOMEM, "%s: out of memory", path);
    if (len > 0)
        memcpy(*out, bytes, len);
    (*out)[len] = '\0';
    return TMBUS_OK;
}

int client_config_read(const char *path, struct client_config *out, char *err, size_t err_size)
{
    FILE *f;
    char *bytes;
    size_t got;
    int rc;

    memset(out, 0, sizeof(*out));
    if (path == NULL)
        return fail_to(err, err_size, TMBUS_EINVALID, "no configuration file given");
    if ((f = fopen(path, "re")) == NULL)
        return fail_to(err, err_size, errno == ENOENT ? TMBUS_ENOTFOUND : TMBUS_EINVALID,
                       "%s: cannot open: %s", path, strerror(errno));
    /* One byte more than the limit, so that a longer file is refused. */
    if ((bytes = malloc(CONFIG_FILE_MAX + 1)) == NULL) {
        fclose(f);
        return fail_to(err, err_size, TMBUS_ENOMEM, "%s: out of memory", path);
    }
    got = fread(bytes, 1, CONFIG_FILE_MAX + 1, f);
    if (ferror(f))
        rc = fail_to(err, err_size, TMBUS_EINVALID, "%s: cannot read it", path);
    else
        rc = client_config_parse(path, bytes, got, out, err, err_size);
    fclose(f);
    free(bytes);
    return rc;
}

int client_config_parse(const char *path, const char *bytes, size_t len, struct client_config *out,
                        char *err, size_t err_size)
{
    struct {
        const char *name;
        char *value;
        int line; /* where it was set; 0: not yet */
    } keys[] = {
        {"endpoint", out->endpoint, 0}, {"node_key", out->node_key, 0}, {"key", out->key, 0}};
    bool is_in_client = false;
    char *text = NULL, *next;
    int line = 0, rc;

    memset(out, 0, sizeof(*out));
    if (path == NULL || (bytes == NULL && len > 0))
        return fail_to(err, err_size, TMBUS_EINVALID, "no configuration file given");
    if ((rc = copy_text(path, bytes, len, &text, err, err_size)) != TMBUS_OK)
        return rc;
    rc = TMBUS_EINVALID;
    for (char *s = text; s != NULL; s = next) {
        char *eq, *name, *value;
        size_t k;

        line++;
        if ((next = strchr(s, '\n')) != NULL)
            *next++ = '\0';
        if (strlen(s) > LINE_MAX_BYTES) {
            fail_to(err, err_size, rc, "%s:%d: line longer than %d bytes", path, line,
                    LINE_MAX_BYTES);
            goto out;
        }
        s = trim(s);
        if (*s == '\0' || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            char *end = strchr(s, ']'), *rest = end != NULL ? trim(end + 1) : NULL;
            if (rest == NULL || (*rest != '\0' && *rest != ';' && *rest != '#')) {
                fail_to(err, err_size, rc, "%s:%d: expected '[section]'", path, line);
                goto out;
            }
            *end = '\0';
            if (strcmp(trim(s + 1), "client") != 0) {
                fail_to(err, err_size, rc, "%s:%d: unknown section '[%s]'; expected [client]", path,
                        line, trim(s + 1));
                goto out;
            }
            is_in_client = true;
            continue;
        }
        if ((eq = strchr(s, '=')) == NULL) {
            fail_to(err, err_size, rc, "%s:%d: expected 'name = value'", path, line);
            goto out;
        }
        if (!is_in_client) {
            fail_to(err, err_size, rc, "%s:%d: '%s' outside the [client] section", path, line,
                    trim(s));
            goto out;
        }
        *eq = '\0';
        name = trim(s);
        value = eq + 1;
        cut_comment(value);
        value = trim(value);
        for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
            if (strcmp(name, keys[k].name) == 0)
                break;
        if (k == sizeof(keys) / sizeof(keys[0])) {
            fail_to(err, err_size, rc,
                    "%s:%d: unknown key '%s'; expected endpoint, node_key or key", path, line,
                    name);
            goto out;
        }
        if (keys[k].line != 0) {
            fail_to(err, err_size, rc, "%s:%d: '%s' given again (first on line %d)", path, line,
                    name, keys[k].line);
            goto out;
        }
        if (*value == '\0') {
            fail_to(err, err_size, rc, "%s:%d: '%s' has no value", path, line, name);
            goto out;
        }
        if ((k == 0 ? snprintf(keys[k].value, CLIENT_CONFIG_VALUE_MAX, "%s", value) < 0 ||
                          strlen(value) >= CLIENT_CONFIG_VALUE_MAX
                    : resolve(path, value, keys[k].value, CLIENT_CONFIG_VALUE_MAX) == -1)) {
            fail_to(err, err_size, rc, "%s:%d: '%s' is too long", path, line, name);
            goto out;
        }
        keys[k].line = line;
    }
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        if (keys[k].line == 0) {
            fail_to(err, err_size, rc, "%s: '%s' is missing from the [client] section", path,
                    keys[k].name);
            goto out;
        }
    }
    rc = TMBUS_OK;
out:
    free(text);
    return rc;
}
