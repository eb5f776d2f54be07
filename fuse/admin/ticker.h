/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A background thread of the daemon's that sleeps between its rounds on the
 * monotonic clock (a wall-clock step neither wakes nor stalls it) and stops
 * at once when asked: the timers of gc, recode, metrics and the namespace
 * sync (fs_gc.c, fs_recode.c, fs_metrics.c, fs_sync.c).
 */
#ifndef MFS_FUSE_TICKER_H
#define MFS_FUSE_TICKER_H

#include <pthread.h>
#include <stdint.h>

struct fs_ticker {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int stopping;   /* protected by lock */
};

/* Runs fn(arg) on a new thread called name; 0, or -errno with nothing to stop. */
int fs_ticker_start(struct fs_ticker *t, const char *name, void *(*fn)(void *), void *arg);
/* For fn: sleeps ms, or less if stopped; 1 to go on, 0 to return. */
int fs_ticker_nap(struct fs_ticker *t, uint64_t ms);
/* Stops the thread: wakes it from its nap and joins it. */
void fs_ticker_stop(struct fs_ticker *t);

#endif
