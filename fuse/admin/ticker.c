/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's timer threads (ticker.h). */
#include <errno.h>
#include <time.h>

#include "ticker.h"

int fs_ticker_start(struct fs_ticker *t, const char *name, void *(*fn)(void *), void *arg)
{
	pthread_condattr_t ca;
	int rc;

	t->stopping = 0;
	pthread_mutex_init(&t->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->wake, &ca);
	pthread_condattr_destroy(&ca);
	if ((rc = pthread_create(&t->thread, NULL, fn, arg))) {
		pthread_mutex_destroy(&t->lock);
		pthread_cond_destroy(&t->wake);
		return -rc;
	}
	(void)pthread_setname_np(t->thread, name);
	return 0;
}

int fs_ticker_nap(struct fs_ticker *t, uint64_t ms)
{
	struct timespec until;
	int go;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += (time_t)(ms / 1000);
	until.tv_nsec += (long)(ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&t->lock);
	/* Wakeups that are not a stop (spurious ones) sleep on to the deadline. */
	while (!t->stopping && pthread_cond_timedwait(&t->wake, &t->lock, &until) != ETIMEDOUT)
		;
	go = !t->stopping;
	pthread_mutex_unlock(&t->lock);
	return go;
}

void fs_ticker_stop(struct fs_ticker *t)
{
	pthread_mutex_lock(&t->lock);
	t->stopping = 1;
	pthread_cond_signal(&t->wake);
	pthread_mutex_unlock(&t->lock);
	pthread_join(t->thread, NULL);
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->wake);
}
