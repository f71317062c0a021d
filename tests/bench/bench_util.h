/*
 * bench_util: the few measuring helpers every benchmark program uses (a
 * monotonic clock, the median of a set of samples, a process's CPU time),
 * kept in one place so that every program measures the same way. Only the
 * benchmarks link it; nothing here is part of tmbus.
 */
#ifndef TMBUS_BENCH_UTIL_H
#define TMBUS_BENCH_UTIL_H

#include <stddef.h>
#include <sys/types.h>

/* Seconds on the monotonic clock. */
double bench_now(void);

/* qsort comparator for doubles, ascending. */
int bench_compare_double(const void *a, const void *b);

/* The median of v[0..n) (n >= 1); sorts v in place. */
double bench_median(double *v, size_t n);

/* CPU seconds (user + system) process pid has used so far, read from
 * /proc; -1 when it cannot be read. */
double bench_cpu_seconds(pid_t pid);

#endif
