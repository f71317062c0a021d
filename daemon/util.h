/*
 * util: small pure helpers shared by every module: member id checks, UTC
 * dates, reading whole files with a size cap. No globals, no crypto.
 */
#ifndef TMBUS_UTIL_H
#define TMBUS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire_limits.h"

/* Longest member id, without the terminating NUL. */
#define UTIL_MEMBER_ID_MAX WIRE_MEMBER_ID_MAX

/* True if s is a member id: 1..UTIL_MEMBER_ID_MAX of [A-Za-z0-9_-]
 * (domain_is_member_id). */
bool util_is_member_id(const char *s, size_t len);

/* Parses "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SSZ" (UTC) into Unix seconds
 * (date_parse). Rejects dates that do not exist (2026-02-30). Returns 0 or
 * -1. */
int util_parse_utc(const char *s, int64_t *out);

/* Formats Unix seconds as "YYYY-MM-DDTHH:MM:SSZ" into buf (>= 21 bytes). */
void util_format_utc(int64_t t, char *buf, size_t size);

/* Reads a whole file of at most max bytes into a malloc'd buffer that the
 * caller frees. Returns 0, or -1 with errno set (EFBIG when over max). */
int util_read_file(const char *path, size_t max, uint8_t **out, size_t *out_len);

/* Writes len bytes to path atomically (temporary file, fsync, rename) with
 * the given mode. Returns 0 or -1 with errno set. */
int util_write_file(const char *path, const void *data, size_t len, unsigned mode);

#endif
