/*
 * date: reads ISO days and UTC timestamps with the proleptic Gregorian
 * calendar. It must never consult the clock, the time zone or the locale:
 * a date means the same on every node and in every client.
 */
#include "date.h"

#include <string.h>

#define YEAR_MIN 1970

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int digits(const char *s, int n, int64_t *out)
{
    int64_t v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int date_parse(const char *s, size_t len, bool is_time_allowed, int64_t *out)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t y, mo, d, h = 0, mi = 0, se = 0;

    if (s == NULL || out == NULL)
        return -1;
    if (len != DATE_DAY_LEN && !(is_time_allowed && len == DATE_UTC_LEN))
        return -1;
    if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d))
        return -1;
    if (len == DATE_UTC_LEN &&
        (s[10] != 'T' || digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) ||
         s[16] != ':' || digits(s + 17, 2, &se) || s[19] != 'Z'))
        return -1;
    if (y < YEAR_MIN || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59)
        return -1;
    if (d > mdays[mo - 1] + (mo == 2 && is_leap(y)))
        return -1;
    *out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    return 0;
}

bool date_is_day(const char *s)
{
    int64_t t;

    return s != NULL && date_parse(s, strlen(s), false, &t) == 0;
}
