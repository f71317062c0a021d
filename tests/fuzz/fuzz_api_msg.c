/*
 * fuzz_api_msg: feeds arbitrary bytes to api_msg_decode, the decoder of
 * every request a client sends, and a board query it accepts to
 * api_msg_board_query. A request it accepts has an id and exactly the part
 * its kind names; a board query is checked within its limits; nothing here
 * may crash or leak.
 */
#include <stddef.h>
#include <stdint.h>

#include "api_msg.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct api_msg m;
    enum api_msg_fault fault;
    volatile size_t sink = 0;

    log_init("fuzz_api_msg", LOG_LEVEL_WARN);
    if (api_msg_decode(data, size, &m, &fault) == 0) {
        ensure(fault == API_MSG_OK && m.id != 0);
        switch (m.kind) {
        case API_MSG_POST:
            ensure(m.post != NULL);
            sink += m.post->payload.len + m.post->n_recipients;
            for (size_t i = 0; i < m.post->n_recipients; i++)
                sink += m.post->recipients[i][0];
            break;
        case API_MSG_SUBSCRIBE:
            ensure(m.subscribe != NULL);
            break;
        case API_MSG_ACK:
            ensure(m.ack != NULL);
            break;
        case API_MSG_BOARD: {
            struct api_board_query q;
            char why[128];
            ensure(m.board != NULL);
            if (api_msg_board_query(m.board, &q, why, sizeof(why)) == 0)
                ensure(q.limit >= 1 && q.limit <= API_BOARD_PAGE_MAX &&
                       q.n_statuses <= API_BOARD_FILTER_MAX && q.n_members <= API_BOARD_FILTER_MAX);
            else
                ensure(why[0] != '\0');
            break;
        }
        case API_MSG_DELIVERY:
            ensure(m.delivery != NULL);
            sink += m.delivery->id.len;
            break;
        default:
            break;
        }
    } else {
        ensure(fault != API_MSG_OK);
    }
    api_msg_clear(&m);
    (void)sink;
    return 0;
}
