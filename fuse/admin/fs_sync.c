/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The periodic sync of deferred namespace changes (meta_sync_ms).
 *
 * With it on, a mkdir, rename, unlink, chmod or setxattr returns once its
 * op is in RocksDB's WAL, unsynced: it survives a kill of the daemon, and a
 * power loss only loses what no fsync asked for, as on ext4 (store/ns/
 * namespace.h, mfs_ns_defer_syncs).  Synced one by one, each cost a WAL
 * fdatasync, ~0.2 ms on this disk, most of a chmod's 0.37 ms (issue 10
 * notes: 2,700 chmods/s against tmpfs's 430,000).  This thread bounds how
 * long such a change waits: every meta_sync_ms it syncs whatever is
 * unsynced.  A publish (close after a write), fsync and fsyncdir still sync
 * before they return, and so do a node's own ops before a peer gets them.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fuse/fs_internal.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/ns/namespace.h"

#define LOG_COMPONENT "sync"

struct fs_sync {
	struct mfs_fs *fs;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int stopping;  /* protected by lock */
	int failing;   /* the last sync failed (logged once until one succeeds) */
};

static void sync_once(struct fs_sync *s)
{
	int rc;

	if (!mfs_ns_unsynced(s->fs->ns))
		return;
	rc = mfs_ns_sync(s->fs->ns);
	if (rc && !s->failing)
		log_error("cannot sync namespace changes: %s", mfs_strerror(rc));
	else if (!rc && s->failing)
		log_info("namespace changes sync again");
	s->failing = rc != 0;
}

static void *sync_thread(void *arg)
{
	struct fs_sync *s = arg;
	long ms = s->fs->cfg->meta_sync_ms;

	pthread_mutex_lock(&s->lock);
	while (!s->stopping) {
		struct timespec until;

		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += ms / 1000;
		until.tv_nsec += (ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (!s->stopping &&
		       pthread_cond_timedwait(&s->wake, &s->lock, &until) != ETIMEDOUT)
			;
		pthread_mutex_unlock(&s->lock);
		sync_once(s);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

int fs_sync_start(struct mfs_fs *fs, struct fs_sync **out)
{
	struct fs_sync *s;
	pthread_condattr_t ca;
	int rc;

	*out = NULL;
	if (fs->cfg->meta_sync_ms <= 0)
		return 0;
	if (!(s = calloc(1, sizeof(*s))))
		return -ENOMEM;
	s->fs = fs;
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->wake, &ca);
	pthread_condattr_destroy(&ca);
	if ((rc = -pthread_create(&s->thread, NULL, sync_thread, s))) {
		pthread_mutex_destroy(&s->lock);
		pthread_cond_destroy(&s->wake);
		free(s);
		return rc;
	}
	/* Only now: a change deferred with no thread to sync it would wait for the next fsync. */
	mfs_ns_defer_syncs(fs->ns, 1);
	*out = s;
	return 0;
}

void fs_sync_stop(struct fs_sync *s)
{
	if (!s)
		return;
	mfs_ns_defer_syncs(s->fs->ns, 0);
	pthread_mutex_lock(&s->lock);
	s->stopping = 1;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	/* What the last period left: an unmount makes every change durable. */
	sync_once(s);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->wake);
	free(s);
}
