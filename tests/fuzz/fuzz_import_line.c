/*
 * fuzz_import_line: feeds arbitrary bytes to feed_line_decode, the strict
 * decoder of one line of `tmbus import` (a JSON object from a partner's
 * feed). A line it accepts must hold what its type needs within the
 * library's limits, and pass the library's validator as the import would
 * post it; a refusal must give a reason. Nothing may crash or leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "feed_line.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ensure(int cond)
{
    if (!cond)
        abort();
}

static void check(struct feed_line *l)
{
    char why[FEED_LINE_WHY_MAX];

    ensure(l->json != NULL);
    ensure(l->to.all || (l->to.n >= 1 && l->to.n <= TMBUS_MAX_RECIPIENTS));
    for (size_t i = 0; i < l->to.n; i++)
        ensure(l->to.names[i] != NULL && l->to.names[i][0] != '\0');
    if (l->kind == FEED_LINE_NEED) {
        ensure(l->need_ref == NULL);
        ensure(tmbus_need_validate(&l->need, why, sizeof(why)) == TMBUS_OK);
        return;
    }
    ensure(l->kind == FEED_LINE_OFFER && l->offer.need_id == NULL);
    if (l->need_ref == NULL) {
        ensure(l->offer.tlp != 0);
        ensure(tmbus_offer_validate(&l->offer, why, sizeof(why)) == TMBUS_OK);
    } else {
        size_t n = strlen(l->need_ref);
        ensure(n >= CLI_ID_PREFIX_MIN && n <= CLI_ID_HEX);
        ensure(strspn(l->need_ref, "0123456789abcdefABCDEF") == n);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct feed_line l;
    char why[FEED_LINE_WHY_MAX] = "";

    if (feed_line_decode((const char *)data, size, &l, why, sizeof(why)) == 0) {
        check(&l);
        feed_line_free(&l);
        ensure(l.json == NULL);
    } else {
        ensure(why[0] != '\0' && l.json == NULL);
    }
    return 0;
}
