/*
 * EUR amounts for the CLI: parsed from and formatted as decimal text in
 * integer cents, never through floating point. Apart from main.c so that
 * the import fuzzer can link the feed decoder without the CLI's main.
 */
#include <stdint.h>
#include <stdio.h>

#include "cli.h"

int cli_parse_eur(const char *s, uint64_t *cents, const char **why)
{
    uint64_t whole = 0, frac = 0;
    size_t n_int = 0, n_frac = 0;

    *why = "a EUR amount is digits with at most two decimals, like 1234, 1234.5 or 1234.56";
    if (s == NULL || *s == '\0')
        return -1;
    if (*s == '-') {
        *why = "a EUR amount cannot be negative";
        return -1;
    }
    for (; *s >= '0' && *s <= '9'; s++, n_int++) {
        unsigned d = (unsigned)(*s - '0');
        if (whole > (UINT64_MAX / 100 - d) / 10) {
            *why = "EUR amount too large";
            return -1;
        }
        whole = whole * 10 + d;
    }
    if (n_int == 0)
        return -1;
    if (*s == '.') {
        for (s++; *s >= '0' && *s <= '9'; s++, n_frac++) {
            if (n_frac == 2) {
                *why = "a EUR amount has at most two decimals (cents)";
                return -1;
            }
            frac = frac * 10 + (unsigned)(*s - '0');
        }
        if (n_frac == 0)
            return -1;
        if (n_frac == 1)
            frac *= 10;
    }
    if (*s != '\0')
        return -1;
    *cents = whole * 100 + frac;
    return 0;
}

void cli_format_eur(uint64_t cents, char *out, size_t size)
{
    snprintf(out, size, "%llu.%02llu", (unsigned long long)(cents / 100),
             (unsigned long long)(cents % 100));
}
