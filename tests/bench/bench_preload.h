/*
 * bench_preload: fills member 0's store of a stopped federation with a
 * relayed log of real sealed envelopes, as its node would after that many
 * posts, so that a benchmark times only what follows. Benchmarks only.
 */
#ifndef TMBUS_BENCH_PRELOAD_H
#define TMBUS_BENCH_PRELOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "fed.h"

/* Seals n envelopes of member 0's relayed log (seq 1..n, chained) straight
 * into its store, committing every 10,000. Each is a need tagged tag (see
 * fc_need) addressed to member 2, and to member 1 too when is_for_1 (which
 * then opens each and applies it to its board, as a recipient does). The
 * nodes must be stopped. Returns 0 or -1. */
int bench_preload(struct fed *f, uint32_t n, bool is_for_1, const char *tag);

#endif
