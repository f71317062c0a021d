/*
 * fuzz_date_parse: feeds arbitrary bytes to date_parse, the reader of
 * every deadline, delivery date and timestamp. Nothing may crash or read
 * past the input; a date it accepts must format back to the same text
 * (so it names a day that exists), and a day must be accepted alike with
 * or without times allowed.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "date.h"
#include "log.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    char text[32];
    int64_t t = -1, day = -1;

    if (date_parse(s, size, true, &t) == -1) {
        ensure(date_parse(s, size, false, &day) == -1);
        return 0;
    }
    ensure(t >= 0);
    util_format_utc(t, text, sizeof(text));
    ensure(strlen(text) == DATE_UTC_LEN);
    if (size == DATE_DAY_LEN) {
        ensure(date_parse(s, size, false, &day) == 0 && day == t);
        ensure(t % 86400 == 0 && memcmp(text, s, DATE_DAY_LEN) == 0);
    } else {
        ensure(size == DATE_UTC_LEN && memcmp(text, s, DATE_UTC_LEN) == 0);
        ensure(date_parse(s, size, false, &day) == -1);
    }
    return 0;
}
