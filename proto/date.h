/*
 * date: the one reader of the dates tmbus carries and accepts. A payload's
 * deadline or delivery date is an ISO day "YYYY-MM-DD"; configuration and
 * the tools also take "YYYY-MM-DDTHH:MM:SSZ". Only days that exist, in the
 * years 1970 to 9999, and only UTC. Pure: no clock, no locale, no I/O.
 */
#ifndef TMBUS_DATE_H
#define TMBUS_DATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DATE_DAY_LEN 10 /* "YYYY-MM-DD" */
#define DATE_UTC_LEN 20 /* "YYYY-MM-DDTHH:MM:SSZ" */

/* Parses exactly len bytes of s (no NUL needed) as "YYYY-MM-DD" or, with
 * is_time_allowed, also as "YYYY-MM-DDTHH:MM:SSZ", into Unix seconds (UTC;
 * a day is its 00:00). Rejects days that do not exist (2026-02-30) and
 * years before 1970. Returns 0, or -1 leaving *out untouched. The entry
 * point for fuzzing. */
int date_parse(const char *s, size_t len, bool is_time_allowed, int64_t *out)
    __attribute__((warn_unused_result));

/* True if s (NUL-terminated) is a real day written "YYYY-MM-DD". */
bool date_is_day(const char *s);

#endif
