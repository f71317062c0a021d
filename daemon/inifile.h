/*
 * inifile: reads one INI file for a module that owns its format (the
 * daemon's configuration, a roster source). It owns the file, the lines and
 * the error text: a size limit, counted lines, a UTF-8 BOM, leading blanks,
 * over-long lines, NUL bytes and inih's syntax errors, each reported as
 * "file:line: what". It never gives a meaning to a section or an option:
 * the caller's handlers do. The name is not "ini.h" because that would hide
 * inih's own <ini.h>, which is on the same include path.
 */
#ifndef TMBUS_INIFILE_H
#define TMBUS_INIFILE_H

#include <stddef.h>

#define INIFILE_SECTION_MAX 159 /* longest "[section]" name, in characters */
#define INIFILE_WHY_MAX     512 /* a handler's reason, with its NUL */

/*
 * What a caller is told, in file order. Each returns 0 to go on, or -1
 * after writing a one-line reason, without file or line, into why (at most
 * whylen bytes, NUL-terminated); the first -1 stops the parse and becomes
 * the error. lineno counts from 1. The strings are valid only for the call.
 */
struct inifile_handlers {
    /* A "[name]" line, before inih parses it and before any option under
     * it, so an empty section is seen too. name is what lies between '['
     * and the first ']', as written, at most INIFILE_SECTION_MAX characters.
     * May be NULL. */
    int (*on_section)(void *arg, const char *name, int lineno, char *why, size_t whylen);
    /* A "name = value" line, both trimmed by inih. section is the name last
     * given to on_section, or "" before any. */
    int (*on_value)(void *arg, const char *section, const char *name, const char *value, int lineno,
                    char *why, size_t whylen);
};

/*
 * Reads path (a regular file of at most max_size bytes) and parses it,
 * calling h with arg. A BOM at the start of the file and blanks at the
 * start of each line are dropped, so an indented line is an ordinary line,
 * never the continuation of the previous value. Blocks on file I/O. Returns
 * 0, or -1 with "path:line: what", or "path: what" when no line is to
 * blame, in err (at most errlen bytes).
 */
int inifile_read(const char *path, size_t max_size, const struct inifile_handlers *h, void *arg,
                 char *err, size_t errlen);

#endif
