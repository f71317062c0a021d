/*
 * html: the growing buffer every page of tmbus-web is written into, and
 * the only place that turns text into HTML. Everything read from the bus
 * (titles, member ids, reasons: written by other members) goes through
 * html_text, which escapes it; html_raw and html_printf take only the
 * program's own markup and numbers, never a string from the bus.
 */
#ifndef TMBUS_WEB_HTML_H
#define TMBUS_WEB_HTML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTML_MAX (8u * 1024 * 1024) /* largest page; past it the page fails */

struct html {
    char *buf;
    size_t len;
    size_t cap;
    bool is_failed; /* out of memory or past HTML_MAX: the page is not served */
};

/* An empty buffer (no allocation until the first write). */
void html_init(struct html *h);
/* Frees the buffer; h may be reused after html_init. */
void html_free(struct html *h);
/* Appends the program's own markup as it is. */
void html_raw(struct html *h, const char *s);
/* Appends printf output: the format and its arguments are the program's
 * own (numbers, static names), never text from the bus. */
void html_printf(struct html *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s escaped for an element's text or a quoted attribute value:
 * & < > " ' become entities, control characters other than tab and line
 * breaks become U+FFFD. NULL is "". */
void html_text(struct html *h, const char *s);
/* Appends an amount of EUR cents as "1,234.56". */
void html_eur(struct html *h, uint64_t cents);
/* Appends a coverage bar (inline SVG, sized by attributes so that no
 * inline style is needed under the page's Content-Security-Policy) with
 * the accepted and delivered shares of quantity, and the accepted share as
 * a percentage after it. */
void html_coverage(struct html *h, uint64_t accepted, uint64_t delivered, uint64_t quantity);
/* Case-insensitive (ASCII) substring test, for the title search. */
bool html_contains_folded(const char *haystack, const char *needle);

#endif
