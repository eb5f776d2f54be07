/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test-only holds: a request says it has reached a point (PATH.held) and
 * waits there until the test lets it go (PATH exists), so that a test can
 * act while a commit or a read is under way, without timing races.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "fs_internal.h"

void fs_test_hold(const char *path)
{
	char held[PATH_MAX];
	int fd;

	snprintf(held, sizeof(held), "%s.held", path);
	if ((fd = open(held, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)) >= 0)
		close(fd);
	for (int i = 0; i < 6000 && access(path, F_OK); i++)
		usleep(10000);
}
