/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Write-behind: the commit of a large file starts while it is still being
 * written.  Once the staged file passes write_behind_mb, a thread cuts,
 * hashes, encodes and stores the chunks of the bytes written so far
 * (mfs_ingest_feed), one window at a time, so the commit at close only does
 * the last window and the publish.  Without it, a writer's close() waited
 * for the whole file's encoding after the last write (issue 10: 10 of the
 * 12.6 s of a 1 GiB cp were the close).
 *
 * The thread reads bytes [0, claimed) of the staging; the writer keeps to
 * its side: any change below `claimed` (a write, a truncate, a fallocate)
 * breaks the ingest, and the commit then ingests from scratch (deduping
 * against what the broken one stored).  A loader that writes a file
 * sequentially and never looks back gets the overlap; one that seeks back
 * to patch a header pays a second pass of hashing, not of encoding.
 *
 * Every function here runs with the node's lock held; the thread never
 * takes it, so joining the thread under the lock cannot deadlock.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "fs_internal.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/chunk/ingest.h"

#define LOG_COMPONENT "writebehind"

/* New bytes that start another feed: one ingest window, or write_behind_mb if less. */
#define STEP (32ull << 20)

struct mfs_writebehind {
	struct mfs_ingest *ing;
	pthread_t thread;
	int running;            /* a thread was started and is not joined */
	int stop;               /* atomic: return at the next window */
	int broken;             /* bytes below claimed changed, or a feed failed */
	int fd;                 /* the thread's own descriptor of the staging */
	uint64_t claimed;       /* the thread may read [0, claimed) */
	int rc;                 /* the last feed's result */
};

static void *feed_thread(void *arg)
{
	struct mfs_writebehind *wb = arg;

	wb->rc = mfs_ingest_feed(wb->ing, wb->fd, wb->claimed, &wb->stop);
	return NULL;
}

/* After the thread was joined: a failed feed breaks the ingest. */
static void reaped(struct mfs_writebehind *wb)
{
	wb->running = 0;
	close(wb->fd);
	wb->fd = -1;
	if (wb->rc && !wb->broken) {
		log_warn("write-behind feed failed, the commit ingests from scratch: %s",
			 mfs_strerror(wb->rc));
		wb->broken = 1;
	}
}

/* Waits for a running feed. */
static void join(struct mfs_writebehind *wb)
{
	if (!wb->running)
		return;
	pthread_join(wb->thread, NULL);
	reaped(wb);
}

void wb_changed(struct mfs_staging *s, uint64_t off)
{
	if (s->wb && off < s->wb->claimed) {
		s->wb->broken = 1;
		__atomic_store_n(&s->wb->stop, 1, __ATOMIC_RELAXED);
	}
}

void wb_after_write(struct mfs_fs *fs, struct mfs_staging *s)
{
	struct mfs_writebehind *wb = s->wb;
	uint64_t start = (uint64_t)fs->cfg->write_behind_mb << 20;

	if (!start || s->size < start || (wb && wb->broken))
		return;
	if (wb && wb->running) {
		/* Reaped only once done: a write never waits for a feed. */
		if (pthread_tryjoin_np(wb->thread, NULL))
			return;
		reaped(wb);
		if (wb->broken)
			return;
	}
	if (!wb) {
		if (!(wb = calloc(1, sizeof(*wb))))
			return;
		wb->fd = -1;
		if (mfs_ingest_begin(fs->db, fs->cfg->ingest_threads, &wb->ing)) {
			free(wb);
			return;
		}
		s->wb = wb;
	}
	if (s->size - wb->claimed < (start < STEP ? start : STEP))
		return;
	/*
	 * The commit refuses a file the disk cannot hold before writing any
	 * of it (fs_check_space); so does each feed.  Then the commit at
	 * close reports ENOSPC to the writer.
	 */
	if (fs_check_space(fs, s->size - wb->claimed)) {
		wb->broken = 1;
		return;
	}
	/* Its own descriptor: a spill to disk replaces s->fd, not the bytes. */
	if ((wb->fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 0)) < 0)
		return;
	wb->claimed = s->size;
	if (pthread_create(&wb->thread, NULL, feed_thread, wb)) {
		close(wb->fd);
		wb->fd = -1;
		return;
	}
	wb->running = 1;
}

int wb_finish(struct mfs_staging *s, struct mfs_hash *id, int *has_manifest,
	      struct mfs_ingest_stats *st)
{
	struct mfs_writebehind *wb = s->wb;
	int rc;

	if (!wb)
		return -EAGAIN;
	s->wb = NULL;
	join(wb);
	log_info("write-behind at commit: %s, %llu of %llu bytes cut before close",
		 wb->broken ? "broken" : "usable", (unsigned long long)mfs_ingest_offset(wb->ing),
		 (unsigned long long)s->size);
	if (wb->broken) {
		mfs_ingest_abandon(wb->ing);
		rc = -EAGAIN;
	} else {
		rc = mfs_ingest_finish(wb->ing, s->fd, s->size, id, has_manifest, st);
		if (rc == -ESTALE)
			rc = -EAGAIN;
	}
	free(wb);
	return rc;
}

void wb_end(struct mfs_staging *s)
{
	struct mfs_writebehind *wb = s->wb;

	if (!wb)
		return;
	s->wb = NULL;
	__atomic_store_n(&wb->stop, 1, __ATOMIC_RELAXED);
	join(wb);
	mfs_ingest_abandon(wb->ing);
	free(wb);
}
