/*
 * ignore_result: a program that drops the result of tmbus_ack. It must
 * draw the compiler's "ignoring return value" warning (TMBUS_NODISCARD);
 * ctest compiles it and fails when the warning is missing. Never linked.
 */
#include "tmbus.h"

void drop_ack(struct tmbus *h);

void drop_ack(struct tmbus *h)
{
    tmbus_ack(h, 1, 0);
}
