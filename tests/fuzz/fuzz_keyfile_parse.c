/*
 * fuzz_keyfile_parse: feeds arbitrary bytes to keyfile_parse, the reader
 * behind every key file the node, the tools and libtmbus load. Nothing may
 * crash or leak; a file that parses must render back to text that parses
 * to the same keys (the writer and the reader agree), and a refusal must
 * leave nothing behind.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "keyfile.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void round_trip(const struct keyfile *kf, bool is_secret)
{
    struct keyfile back;
    char *text = sodium_malloc(KEYFILE_MAX);
    size_t len = 0;

    ensure(text != NULL);
    ensure(keyfile_render(kf, is_secret, text, KEYFILE_MAX, &len) == 0);
    ensure(keyfile_parse("again", text, len, &back, NULL, 0) == 0);
    ensure(back.kind == (is_secret ? kf->kind : keyfile_kind_public(kf->kind)));
    ensure(strcmp(back.member, kf->member) == 0);
    ensure(memcmp(back.sign_pk, kf->sign_pk, sizeof(back.sign_pk)) == 0);
    ensure(memcmp(back.box_pk, kf->box_pk, sizeof(back.box_pk)) == 0);
    ensure(memcmp(back.transport_pk, kf->transport_pk, sizeof(back.transport_pk)) == 0);
    ensure(is_secret ? sodium_memcmp(back.secret, kf->secret, sizeof(*kf->secret)) == 0
                     : back.secret == NULL);
    keyfile_clear(&back);
    sodium_free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct keyfile kf;
    char why[KEYFILE_WHY_MAX];

    why[0] = '\0';
    if (keyfile_parse("fuzz", (const char *)data, size, &kf, why, sizeof(why)) == -1) {
        ensure(kf.secret == NULL && kf.kind == 0);
        ensure(why[0] != '\0' && (errno == EINVAL || errno == ENOMEM));
        return 0;
    }
    ensure(keyfile_kind_name(kf.kind) != NULL);
    ensure((kf.secret != NULL) == keyfile_kind_is_secret(kf.kind));
    if (kf.secret != NULL)
        round_trip(&kf, true);
    round_trip(&kf, false);
    keyfile_clear(&kf);
    return 0;
}
