/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the C benchmark tools share (bench_util.c): this thread's CPU
 * clock, the figure every tool prints per GiB, and a whole file read
 * into memory.
 */
#ifndef MFS_BENCH_UTIL_H
#define MFS_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* CPU seconds this thread has used (user + system). */
double bench_cpu_now(void);

/* FILE's bytes in a malloc'ed buffer, their count in *len; NULL on error. */
uint8_t *bench_read_file(const char *path, size_t *len);

#endif
