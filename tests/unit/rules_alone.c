/*
 * rules_alone: a program linked with the shared rules library and nothing
 * else of tmbus (no daemon core, no SQLite, no ZeroMQ), as libtmbus will
 * link it. It builds only if the library is closed under its own
 * dependencies, and it runs one call of each module to prove they work
 * without the node's start-up (no log_init, no sodium_init by the caller).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "date.h"
#include "domain.h"
#include "keyfile.h"
#include "validate.h"

static int check(int ok, const char *what)
{
    if (!ok)
        fprintf(stderr, "rules_alone: %s failed\n", what);
    return ok ? 0 : 1;
}

int main(void)
{
    static const char text[] = "kind = client-public\n"
                               "transport-public = 7hBIXBzvatmVNmFNVgvL2XMozVcWZK/gCXqxpn8fuUI=\n";
    Tmbus__Payload__Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT, *back;
    Tmbus__Payload__OfferUpdate u = TMBUS__PAYLOAD__OFFER_UPDATE__INIT;
    uint8_t id[WIRE_ID_BYTES] = {1}, buf[128];
    struct keyfile kf;
    int64_t t;
    int failed = 0;
    size_t len;

    u.offer_id.data = id;
    u.offer_id.len = sizeof(id);
    u.action = TMBUS__PAYLOAD__OFFER_UPDATE__ACTION__ACTION_CONFIRM;
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER_UPDATE;
    p.offer_update = &u;
    len = tmbus__payload__payload__pack(&p, buf);
    back = tmbus__payload__payload__unpack(NULL, len, buf);
    failed += check(back != NULL && validate_payload(back, NULL, 0) == VALIDATE_OK, "validate");
    tmbus__payload__payload__free_unpacked(back, NULL);
    failed += check(date_parse("2028-02-29", 10, false, &t) == 0, "date_parse");
    failed += check(strcmp(domain_name(DOMAIN_OFFER_ACTION, 4), "confirm") == 0, "domain_name");
    failed += check(keyfile_parse("inline", text, strlen(text), &kf, NULL, 0) == 0 &&
                        kf.kind == KEYFILE_CLIENT_PUBLIC,
                    "keyfile_parse");
    keyfile_clear(&kf);
    return failed != 0;
}
