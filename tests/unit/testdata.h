/* SPDX-License-Identifier: Apache-2.0 */
/* Test data for unit tests: a seeded byte stream, and files made of bytes. */
#ifndef MFS_TESTDATA_H
#define MFS_TESTDATA_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include "tap.h"

/* xorshift64: the same stream on every run for a seed (never 0). */
static inline uint64_t td_next(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

/* A new file at path holding p[0..len); its descriptor, open read/write. Bails on failure. */
static inline int td_write_file(const char *path, const uint8_t *p, size_t len)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || write(fd, p, len) != (ssize_t)len)
		tap_bail("cannot write %s", path);
	return fd;
}

#endif
