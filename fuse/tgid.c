/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The process of a FUSE request's thread (fs_internal.h note 7).  FUSE
 * gives the daemon the caller's thread id only; a writer adopts the readers
 * its own process opened, so each reader records its process id (Tgid) at
 * open, while the thread that opens is alive and blocked in the request:
 * a thread pool's worker or a data loader's may have exited by the time a
 * writer of the process opens, and its thread id may name a thread of
 * another process by then.
 *
 * tgkill(tgid, tid, 0) succeeds (or says EPERM, for a caller the daemon
 * may not signal) exactly when thread tid is in thread group tgid now, and
 * sends nothing: one syscall proves a guess.  The first guess is a cached
 * answer for this thread id, the second that tid is its process's first
 * thread (tgid == tid, every single-threaded program), and only then
 * /proc/TID/status is read (9-11 us against 1.2-3.9 us for a tgkill on
 * the 2-core VM, s41) and its answer cached.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fs_internal.h"

/* Answers cached by tid % TGID_SLOTS: (tid << 32 | tgid), or 0. */
#define TGID_SLOTS 256
static uint64_t tgid_cache[TGID_SLOTS];

/* Is thread tid in thread group tgid now? */
static int in_group(pid_t tgid, pid_t tid)
{
	return !syscall(SYS_tgkill, tgid, tid, 0) || errno == EPERM;
}

/* The Tgid line of /proc/TID/status, or 0. */
static pid_t status_tgid(pid_t tid)
{
	char path[64], buf[512], *p;
	ssize_t got;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	got = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (got <= 0)
		return 0;
	buf[got] = '\0';
	if (!(p = strstr(buf, "\nTgid:")))
		return 0;
	return (pid_t)strtol(p + 6, NULL, 10);
}

pid_t fs_tgid_of(pid_t tid)
{
	uint64_t *slot, c;
	pid_t tgid;

	if (tid <= 0)
		return 0;
	slot = &tgid_cache[(unsigned)tid % TGID_SLOTS];
	c = __atomic_load_n(slot, __ATOMIC_RELAXED);
	if ((pid_t)(c >> 32) == tid && (tgid = (pid_t)(uint32_t)c) != tid && in_group(tgid, tid))
		return tgid;
	if (in_group(tid, tid))
		return tid;
	/* A later thread; checked again after the read, which a thread's exit can race. */
	if ((tgid = status_tgid(tid)) <= 0 || !in_group(tgid, tid))
		return 0;
	__atomic_store_n(slot, (uint64_t)(uint32_t)tid << 32 | (uint32_t)tgid, __ATOMIC_RELAXED);
	return tgid;
}
