/*
 * html: page buffers and escaping for tmbus-web. A write that would pass
 * HTML_MAX or fails to allocate marks the page failed instead of
 * truncating it, so that a half page is never served as a whole one.
 * Escaping is by byte: multi-byte UTF-8 passes through untouched (the page
 * declares UTF-8, and a browser shows invalid sequences as U+FFFD).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "html.h"

void html_init(struct html *h)
{
    memset(h, 0, sizeof(*h));
}

void html_free(struct html *h)
{
    free(h->buf);
    html_init(h);
}

/* Makes room for n more bytes and the NUL; false (page failed) if it cannot. */
static bool reserve(struct html *h, size_t n)
{
    size_t cap;
    char *p;

    if (h->is_failed)
        return false;
    if (n >= HTML_MAX - h->len) {
        h->is_failed = true;
        return false;
    }
    if (h->len + n + 1 <= h->cap)
        return true;
    cap = h->cap ? h->cap : 4096;
    while (cap < h->len + n + 1)
        cap *= 2;
    p = realloc(h->buf, cap);
    if (p == NULL) {
        h->is_failed = true;
        return false;
    }
    h->buf = p;
    h->cap = cap;
    return true;
}

static void append(struct html *h, const char *s, size_t n)
{
    if (!reserve(h, n))
        return;
    memcpy(h->buf + h->len, s, n);
    h->len += n;
    h->buf[h->len] = '\0';
}

void html_raw(struct html *h, const char *s)
{
    append(h, s, strlen(s));
}

void html_printf(struct html *h, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(h, (size_t)n)) {
        h->is_failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(h->buf + h->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    h->len += (size_t)n;
}

void html_text(struct html *h, const char *s)
{
    const char *run = s;

    if (s == NULL)
        return;
    for (; *s != '\0'; s++) {
        const char *entity = NULL;
        unsigned char c = (unsigned char)*s;

        switch (c) {
        case '&':
            entity = "&amp;";
            break;
        case '<':
            entity = "&lt;";
            break;
        case '>':
            entity = "&gt;";
            break;
        case '"':
            entity = "&quot;";
            break;
        case '\'':
            entity = "&#39;";
            break;
        default:
            if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
                entity = "\xef\xbf\xbd";
        }
        if (entity == NULL)
            continue;
        append(h, run, (size_t)(s - run));
        html_raw(h, entity);
        run = s + 1;
    }
    append(h, run, (size_t)(s - run));
}

void html_eur(struct html *h, uint64_t cents)
{
    char digits[32], out[48];
    size_t n, o = 0;

    n = (size_t)snprintf(digits, sizeof(digits), "%llu", (unsigned long long)(cents / 100));
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
    html_printf(h, "%s.%02u", out, (unsigned)(cents % 100));
}

/* part as a whole percentage of whole, at most 100 (0 when whole is 0). */
static unsigned percent(uint64_t part, uint64_t whole)
{
    if (whole == 0)
        return 0;
    if (part >= whole)
        return 100;
    /* part < whole <= INT64_MAX: part / (whole / 100) could lose
     * precision, part * 100 could overflow; long double does neither for
     * a display value. */
    return (unsigned)((long double)part * 100.0L / (long double)whole);
}

void html_coverage(struct html *h, uint64_t accepted, uint64_t delivered, uint64_t quantity)
{
    unsigned acc = percent(accepted, quantity), del = percent(delivered, quantity);

    html_printf(h,
                "<svg class=\"bar\" viewBox=\"0 0 100 10\" width=\"100\" height=\"10\" "
                "role=\"img\" aria-label=\"%u%% accepted, %u%% delivered\">"
                "<rect class=\"bar-bg\" width=\"100\" height=\"10\"/>"
                "<rect class=\"bar-acc\" width=\"%u\" height=\"10\"/>"
                "<rect class=\"bar-del\" width=\"%u\" height=\"10\"/></svg>"
                " <span class=\"pct\">%u%% covered</span>",
                acc, del, acc, del, acc);
}

bool html_contains_folded(const char *haystack, const char *needle)
{
    size_t n = strlen(needle);

    if (n == 0)
        return true;
    for (; *haystack != '\0'; haystack++) {
        size_t i = 0;
        while (i < n && haystack[i] != '\0' &&
               (haystack[i] | (haystack[i] >= 'A' && haystack[i] <= 'Z' ? 0x20 : 0)) ==
                   (needle[i] | (needle[i] >= 'A' && needle[i] <= 'Z' ? 0x20 : 0)))
            i++;
        if (i == n)
            return true;
    }
    return false;
}
