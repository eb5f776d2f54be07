// SPDX-License-Identifier: Apache-2.0
/*
 * A test-only LD_PRELOAD library (tests/fs/t1440-peers-clock-step.sh): the
 * process's clock_gettime(CLOCK_REALTIME) reads the real time plus a number
 * of seconds that the test changes while the process runs, by writing a
 * little-endian int64 into the file named by CLOCK_SHIFT_FILE (16 bytes,
 * mapped shared).  Setting +3600 and then 0 is a wall clock that ran an
 * hour fast and was stepped back (as chrony's makestep or a VM resume do).
 * The second int64 counts the reads that were shifted, so that the test
 * knows the process looked at its clock while it was fast.
 * Other clocks and the kernel's own timers are untouched: an absolute
 * deadline that a thread computed from the shifted clock stays in the
 * kernel's real time, exactly as with a real step.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static volatile int64_t *shift;     /* [0] the shift in seconds, [1] reads shifted */
static int (*real_clock_gettime)(clockid_t, struct timespec *);

__attribute__((constructor)) static void clockshift_init(void)
{
	const char *path = getenv("CLOCK_SHIFT_FILE");
	void *m;
	int fd;

	real_clock_gettime = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
	if (!path || (fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
		return;
	m = mmap(NULL, 2 * sizeof(int64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (m != MAP_FAILED)
		shift = m;
}

int clock_gettime(clockid_t clk, struct timespec *ts)
{
	int rc = real_clock_gettime ? real_clock_gettime(clk, ts) : -1;

	if (rc == 0 && shift && shift[0] && (clk == CLOCK_REALTIME || clk == CLOCK_REALTIME_COARSE)) {
		ts->tv_sec += (time_t)shift[0];
		__atomic_add_fetch(&shift[1], 1, __ATOMIC_RELAXED);
	}
	return rc;
}
