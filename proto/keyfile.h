/*
 * keyfile: the tmbus key file format, read and written the same way by the
 * node, the admin tool, libtmbus and the CLI. A key file is a small text
 * file of "name = value" lines ('#' comments, blank lines ignored): its
 * kind, for members and governors the member id, and the base64 keys of
 * that kind, each exactly once and nothing else. A secret file is written
 * 0600 and refused on read when its group or others can access it.
 *
 *   kind = member-secret | member-public | client-secret | client-public
 *          | governor-secret | governor-public
 *   member = ID                        (member and governor kinds)
 *   sign-public, sign-secret           (member, governor; Ed25519)
 *   box-public, box-secret             (member; X25519)
 *   transport-public, transport-secret (member, client; CURVE)
 */
#ifndef TMBUS_KEYFILE_H
#define TMBUS_KEYFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire_limits.h"

#define KEYFILE_MAX               4096 /* largest key file read or written */
#define KEYFILE_SIGN_SECRET_BYTES 64   /* Ed25519 secret key: seed || public key */
#define KEYFILE_WHY_MAX           512  /* enough for any reason, path included */

enum keyfile_kind {
    KEYFILE_MEMBER_SECRET = 1,
    KEYFILE_MEMBER_PUBLIC,
    KEYFILE_CLIENT_SECRET,
    KEYFILE_CLIENT_PUBLIC,
    KEYFILE_GOVERNOR_SECRET,
    KEYFILE_GOVERNOR_PUBLIC,
};

/* The secret keys of a file; the parts its kind lacks stay zero. Lives
 * only in sodium_malloc memory. */
struct keyfile_secret {
    uint8_t sign_sk[KEYFILE_SIGN_SECRET_BYTES];
    uint8_t box_sk[WIRE_KEY_BYTES];
    uint8_t transport_sk[WIRE_KEY_BYTES];
};

/* What a key file holds. Public keys the kind lacks are zero; member is ""
 * for clients. secret is NULL for a public kind; for a secret kind it is
 * owned by the struct and freed (wiped) by keyfile_clear. */
struct keyfile {
    enum keyfile_kind kind;
    char member[WIRE_MEMBER_ID_MAX + 1];
    uint8_t sign_pk[WIRE_KEY_BYTES];
    uint8_t box_pk[WIRE_KEY_BYTES];
    uint8_t transport_pk[WIRE_KEY_BYTES];
    struct keyfile_secret *secret;
};

/* "member-secret", …; NULL for an unknown kind. */
const char *keyfile_kind_name(enum keyfile_kind kind);

/* True for the three secret kinds. */
bool keyfile_kind_is_secret(enum keyfile_kind kind);

/* The public kind that goes with kind (member-secret → member-public);
 * a public kind is its own. 0 for an unknown kind. */
enum keyfile_kind keyfile_kind_public(enum keyfile_kind kind);

/* Parses len bytes of key file text (need not be NUL-terminated; may hold
 * secrets, so the caller should pass sodium_malloc memory, and it is only
 * copied into such memory). name prefixes every reason ("PATH:LINE: ...").
 * For a secret kind it also checks that every public key is the one its
 * secret derives. On 0, *out holds the keys and must be released with
 * keyfile_clear; on -1, *out holds nothing, a reason is in why (may be
 * NULL) and errno is EINVAL, or ENOMEM when locked memory ran out. Never
 * echoes a value it refuses. The entry point for fuzzing. */
int keyfile_parse(const char *name, const char *text, size_t len, struct keyfile *out, char *why,
                  size_t why_size) __attribute__((warn_unused_result));

/* Reads and parses the key file at path. Refuses symbolic links,
 * non-regular files (without blocking on a FIFO), files over KEYFILE_MAX,
 * NUL bytes, and secret files that group or others can access. Blocks on
 * the file system only. On 0 as keyfile_parse; on -1 a reason is in why
 * and errno says which kind of failure: ENOENT (no such file), ENOMEM, or
 * another open/read error, EINVAL for the content and EACCES for the
 * mode. */
int keyfile_read(const char *path, struct keyfile *out, char *why, size_t why_size)
    __attribute__((warn_unused_result));

/* Renders kf as the text of its secret file (is_secret) or of its public
 * file into buf (size bytes; KEYFILE_MAX is always enough), NUL-terminated,
 * *len bytes without the NUL. The secret form needs kf->secret and a
 * secret kind; buf should then be sodium_malloc memory. Returns 0 or -1
 * (no secret to render, unknown kind, buffer too small: buf is wiped). */
int keyfile_render(const struct keyfile *kf, bool is_secret, char *buf, size_t size, size_t *len)
    __attribute__((warn_unused_result));

/* Writes kf's secret (mode 0600) or public (mode 0644) file to path,
 * whatever the umask, never over an existing file or link: the text goes
 * to a fresh temporary file that is synced and then link()ed into place,
 * so two writers racing for one path cannot both win and a crash leaves
 * no half-written key. Blocks on the file system. Returns 0, or -1 with a
 * reason in why and errno set (EEXIST when path exists). */
int keyfile_write(const char *path, const struct keyfile *kf, bool is_secret, char *why,
                  size_t why_size) __attribute__((warn_unused_result));

/* Frees and wipes kf's secret and zeroes kf. Accepts NULL. */
void keyfile_clear(struct keyfile *kf);

#endif
