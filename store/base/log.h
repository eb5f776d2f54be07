/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging for every layer: one line per event,
 *   2026-11-23T10:00:00Z ERROR component: message
 * to a log file (the daemon's DATA/modelfs.log) and, when asked, stderr.
 * Tests fail on ERROR lines they did not expect, so ERROR is for conditions
 * an operator must look at; expected, handled conditions are WARN or INFO.
 */
#ifndef MFS_LOG_H
#define MFS_LOG_H

enum mfs_log_level { MFS_LOG_ERROR, MFS_LOG_WARN, MFS_LOG_INFO, MFS_LOG_DEBUG };

/*
 * Lines at `level` or more severe go to the file at path (NULL: no file);
 * lines at `stderr_level` or more severe also go to stderr (-1: none).
 * Returns 0 or -errno.  Not thread safe: call at start.
 */
int mfs_log_open(const char *path, int stderr_level, enum mfs_log_level level);
/* Changes only where lines go to stderr; safe while other threads log. */
void mfs_log_set_stderr_level(int stderr_level);
/*
 * For a daemon that let go of its terminal: what the libraries write to
 * stderr (a RocksDB or ZeroMQ assertion before it aborts, glibc's heap
 * checks, libfuse) goes to the log file, if there is one, not /dev/null.
 * Call with mfs_log_set_stderr_level(-1), so that no line goes there twice.
 */
void mfs_log_stderr_to_file(void);
void mfs_log_close(void);
/*
 * On a fatal signal (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT) writes one
 * ERROR line and a backtrace to the log before the process dies as it
 * would have: a crash must leave a trace for the operator.  Call after
 * mfs_log_open; a no-op in sanitizer builds, whose reports say more.
 */
void mfs_log_catch_fatal(void);

__attribute__((format(printf, 3, 4)))
void mfs_log(enum mfs_log_level level, const char *component, const char *fmt, ...);

#define log_error(...) mfs_log(MFS_LOG_ERROR, LOG_COMPONENT, __VA_ARGS__)
#define log_warn(...)  mfs_log(MFS_LOG_WARN, LOG_COMPONENT, __VA_ARGS__)
#define log_info(...)  mfs_log(MFS_LOG_INFO, LOG_COMPONENT, __VA_ARGS__)
#define log_debug(...) mfs_log(MFS_LOG_DEBUG, LOG_COMPONENT, __VA_ARGS__)

/* A broken invariant: log and abort.  Never for conditions input can cause. */
#define BUG(...) do { mfs_log(MFS_LOG_ERROR, "BUG", __VA_ARGS__); abort(); } while (0)

#endif
