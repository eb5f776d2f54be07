/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The log sink (store/base/log.c) when a write is cut short, as on a full
 * disk: with RLIMIT_FSIZE just past the log's size (SIGXFSZ ignored, so the
 * write is short, then fails with EFBIG), a line is torn; once the limit is
 * lifted the next line starts on a line of its own, whole, with its level
 * where a reader looks for it, and the lines after it carry no extra
 * newline.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_COMPONENT "test"
#include "store/base/log.h"
#include "tap.h"

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s = calloc(1, 1 << 16);
	size_t n;

	if (!f || !s)
		tap_bail("cannot read %s", path);
	n = fread(s, 1, (1 << 16) - 1, f);
	s[n] = 0;
	fclose(f);
	return s;
}

int main(void)
{
	char dir[] = "/tmp/mfs-test-log.XXXXXX", path[64];
	struct rlimit lim, old;
	struct stat st;
	char *s, *second, *third;
	int set, grew, lifted;

	if (!mkdtemp(dir))
		tap_bail("mkdtemp");
	snprintf(path, sizeof(path), "%s/log", dir);
	ok(mfs_log_open(path, -1, MFS_LOG_INFO) == 0, "log opened");
	log_info("first line, whole");
	ok(stat(path, &st) == 0, "log written");

	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = (rlim_t)st.st_size + 20;
	/* The limit holds for stdout too when it is a file (make check): no TAP meanwhile. */
	fflush(stdout);
	set = setrlimit(RLIMIT_FSIZE, &lim) == 0;
	log_error("this line is torn: %s", "No space left on device");
	log_error("this one does not fit at all");
	grew = stat(path, &st) == 0 && (rlim_t)st.st_size == lim.rlim_cur;
	lifted = setrlimit(RLIMIT_FSIZE, &old) == 0;
	ok(set, "file size limit 20 bytes past the log");
	ok(grew, "the log grew by the 20 bytes only");
	ok(lifted, "limit lifted");
	log_error("after the torn line: %d", 42);
	log_info("and one more");
	mfs_log_close();

	s = slurp(path);
	second = strchr(s, '\n');
	ok(second && strstr(second + 1, "\n") != NULL, "lines follow the fragment");
	third = second ? strchr(second + 1, '\n') : NULL;
	ok(third && strstr(third + 1, " ERROR test: after the torn line: 42\n") == third + 21,
	   "the next line starts a line of its own, whole");
	ok(third && strstr(third + 1, " INFO test: and one more\n") &&
	   !strstr(third + 1, "\n\n"), "no empty line after it");
	if (tap_failed)
		fprintf(stderr, "log:\n%s", s);
	free(s);
	unlink(path);
	rmdir(dir);
	return done_testing();
}
