/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The log sink.  Each line is formatted into a stack buffer and written with
 * one write(2) on an O_APPEND descriptor, so lines from different threads
 * never interleave and no lock is needed.  A write cut short (the disk
 * full, a file size limit) leaves part of a line without its newline: the
 * next line that gets through starts with one, so it is not glued to the
 * fragment (where a test or an operator would no longer find its level).
 */
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int log_fd = -1;
static int log_torn;            /* the last write to log_fd was cut short (atomic) */
static int log_stderr = MFS_LOG_WARN;
static enum mfs_log_level log_level = MFS_LOG_INFO;

static const char *const level_names[] = { "ERROR", "WARN", "INFO", "DEBUG" };

int mfs_log_open(const char *path, int stderr_level, enum mfs_log_level level)
{
	log_stderr = stderr_level;
	log_level = level;
	mfs_log_close();
	if (!path)
		return 0;
	log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	return log_fd < 0 ? -errno : 0;
}

void mfs_log_set_stderr_level(int stderr_level)
{
	__atomic_store_n(&log_stderr, stderr_level, __ATOMIC_RELAXED);
}

void mfs_log_stderr_to_file(void)
{
	if (log_fd >= 0)
		dup2(log_fd, STDERR_FILENO);
}

void mfs_log_close(void)
{
	if (log_fd >= 0)
		close(log_fd);
	log_fd = -1;
}

void mfs_log(enum mfs_log_level level, const char *component, const char *fmt, ...)
{
	char buf[1025], *line = buf + 1;  /* buf[0]: a newline after a torn line */
	struct tm tm;
	time_t now;
	size_t n;
	va_list ap;
	int saved = errno;

	int to_stderr = __atomic_load_n(&log_stderr, __ATOMIC_RELAXED);

	if ((int)level > (int)log_level && (int)level > to_stderr)
		return;
	now = time(NULL);
	gmtime_r(&now, &tm);
	n = strftime(line, sizeof(buf) - 1, "%Y-%m-%dT%H:%M:%SZ ", &tm);
	n += snprintf(line + n, sizeof(buf) - 1 - n, "%s %s: ", level_names[level], component);
	va_start(ap, fmt);
	if (n < sizeof(buf) - 1)
		n += vsnprintf(line + n, sizeof(buf) - 1 - n, fmt, ap);
	va_end(ap);
	if (n >= sizeof(buf) - 2)
		n = sizeof(buf) - 3;
	line[n++] = '\n';
	/* A failed log write has nowhere left to be reported. */
	if (level <= log_level && log_fd >= 0) {
		int torn = __atomic_load_n(&log_torn, __ATOMIC_RELAXED);
		char *p = torn ? buf : line;
		size_t len = n + (torn ? 1 : 0);
		ssize_t w;

		buf[0] = '\n';
		w = write(log_fd, p, len);
		if (w != (ssize_t)len)
			__atomic_store_n(&log_torn, w > 0 || torn, __ATOMIC_RELAXED);
		else if (torn)
			__atomic_store_n(&log_torn, 0, __ATOMIC_RELAXED);
	}
	if ((int)level <= to_stderr && write(STDERR_FILENO, line, n) < 0) {
	}
	errno = saved;
}

/* The sanitizers catch these signals themselves, with better reports. */
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
/* Only async-signal-safe calls: write(2), backtrace_symbols_fd(3), raise(3). */
static void on_fatal(int sig)
{
	static const char head[] = "ERROR daemon: fatal signal ";
	void *frames[64];
	char num[4] = { (char)('0' + sig / 10 % 10), (char)('0' + sig % 10), '\n', 0 };
	int fd = log_fd >= 0 ? log_fd : 2, n;

	if (write(fd, head, sizeof(head) - 1) < 0 || write(fd, num, 3) < 0)
		goto out;
	n = backtrace(frames, 64);
	backtrace_symbols_fd(frames, n, fd);
out:
	signal(sig, SIG_DFL);
	raise(sig);
}
#endif

void mfs_log_catch_fatal(void)
{
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
	void *warm[1];
	struct sigaction sa = { .sa_handler = on_fatal, .sa_flags = SA_RESETHAND | SA_NODEFER };

	/* The first backtrace() loads libgcc: do it now, not in the handler. */
	backtrace(warm, 1);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
#endif
}
