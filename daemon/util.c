/*
 * util: whole-file reads and writes, UTC formatting, and the daemon's
 * names for the shared member id and date rules (proto/domain, proto/date).
 * Pure helpers: no globals, no crypto, no logging (callers log with
 * context).
 */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "date.h"
#include "domain.h"

bool util_is_member_id(const char *s, size_t len)
{
    return domain_is_member_id(s, len);
}

int util_parse_utc(const char *s, int64_t *out)
{
    return date_parse(s, strlen(s), true, out);
}

void util_format_utc(int64_t t, char *buf, size_t size)
{
    struct tm tm;
    time_t tt = (time_t)t;

    if (gmtime_r(&tt, &tm) == NULL || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, size, "%lld", (long long)t);
}

int util_read_file(const char *path, size_t max, uint8_t **out, size_t *out_len)
{
    struct stat st;
    uint8_t *buf = NULL;
    size_t got = 0;
    int fd, saved;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
        return -1;
    if (fstat(fd, &st) == -1)
        goto fail;
    if (!S_ISREG(st.st_mode)) {
        errno = EINVAL;
        goto fail;
    }
    if ((uint64_t)st.st_size > max) {
        errno = EFBIG;
        goto fail;
    }
    /* One spare byte tells a file that grew past max since fstat. */
    if ((buf = malloc((size_t)st.st_size + 1)) == NULL)
        goto fail;
    for (;;) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size + 1 - got);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1)
            goto fail;
        if (n == 0)
            break;
        got += (size_t)n;
        if (got > (size_t)st.st_size) {
            errno = EFBIG;
            goto fail;
        }
    }
    close(fd);
    *out = buf;
    *out_len = got;
    return 0;
fail:
    saved = errno;
    free(buf);
    close(fd);
    errno = saved;
    return -1;
}

int util_write_file(const char *path, const void *data, size_t len, unsigned mode)
{
    char tmp[4096];
    const uint8_t *p = data;
    int fd, saved;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid()) >= (int)sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)) == -1)
        return -1;
    /* The umask must not loosen nor tighten what the caller asked for. */
    if (fchmod(fd, mode) == -1)
        goto fail;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1)
            goto fail;
        p += n;
        len -= (size_t)n;
    }
    if (fsync(fd) == -1 || close(fd) == -1) {
        fd = -1;
        goto fail;
    }
    if (rename(tmp, path) == -1) {
        saved = errno;
        unlink(tmp);
        errno = saved;
        return -1;
    }
    return 0;
fail:
    saved = errno;
    if (fd != -1)
        close(fd);
    unlink(tmp);
    errno = saved;
    return -1;
}
