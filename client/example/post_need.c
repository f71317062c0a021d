/*
 * post_need: the README's example of libtmbus. Connects to the member's own
 * node with a client configuration file, posts one need to every member,
 * and prints the need's id once the node has committed it.
 *
 *   cc post_need.c $(pkg-config --cflags --libs tmbus) -o post_need
 *   ./post_need ~/.config/tmbus/client.conf "EDR licences for 400 workstations"
 */
#include <stdio.h>

#include <tmbus.h>

int main(int argc, char **argv)
{
    struct tmbus *h = NULL;
    char err[256], hex[TMBUS_ID_HEX_BYTES];
    uint8_t id[TMBUS_ID_BYTES];
    struct tmbus_need need = {
        .beneficiary = "Regional energy operator",
        .sector = TMBUS_SECTOR_ENERGY,
        .category = TMBUS_CATEGORY_MALWARE_DETECTION,
        .title = argc > 2 ? argv[2] : "EDR licences for 400 workstations",
        .quantity = 400,
        .unit = "licences",
        .value_cents = 4800000, /* EUR 48,000.00 */
        .priority = TMBUS_PRIORITY_HIGH,
        .deadline = "2027-06-30",
        .tlp = TMBUS_TLP_AMBER,
        .contact = "soc@example.org",
    };
    int rc;

    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s CLIENT.conf [TITLE]\n", argv[0]);
        return 2;
    }
    /* Optional: the library checks again, but this needs no node. */
    if (tmbus_need_validate(&need, err, sizeof(err)) != TMBUS_OK) {
        fprintf(stderr, "post_need: %s\n", err);
        return 1;
    }
    rc = tmbus_connect_config(argv[1], 5000, &h, err, sizeof(err));
    if (rc != TMBUS_OK) {
        fprintf(stderr, "post_need: %s: %s\n", tmbus_strerror(rc), err);
        return 1;
    }
    /* To every member; returns once the node has committed the post. */
    rc = tmbus_post_need(h, &need, NULL, 0, true, 10000, id);
    if (rc == TMBUS_OK) {
        tmbus_id_to_hex(id, hex);
        printf("%s\n", hex);
    } else {
        fprintf(stderr, "post_need: %s: %s\n", tmbus_strerror(rc), tmbus_last_error(h));
    }
    tmbus_close(&h);
    return rc == TMBUS_OK ? 0 : 1;
}
