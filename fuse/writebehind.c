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
 * against what the broken one stored).  Such a change first waits for a
 * running feed to stop (at its next window): a window it is reading must
 * not change or go under it (a torn window, or a short read).  A loader that
 * writes a file sequentially and never looks back gets the overlap; one
 * that seeks back to patch a header pays a second pass of hashing, not of
 * encoding.
 *
 * Bytes whose chunks are stored need not stay staged (wb_drop_stored):
 * they are punched out of the staging file (those of chunks found
 * already stored too, pinned by the feed: a second copy of a model is
 * not staged whole on a disk that cannot hold it), so a file larger than the
 * staging budget stays in memory, its writer waiting on the feed once the
 * budget is used up (as the kernel's writers wait on writeback), and a
 * file staged on disk is not written there as well as to the packs.  A
 * change below the hole puts the bytes back first (wb_restore): the
 * ingest is dropped, its chunks indexed and read back.  A read of it
 * reads them from those chunks (kept.c, staging_pread): a reader must
 * not bring a file past the budget back into memory whole.
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
#include "store/maint/gc.h"

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
	unsigned feeds;         /* feeds started (mfs_ingest_wait_stored) */
	uint64_t claimed;       /* the thread may read [0, claimed) */
	int rc;                 /* the last feed's result */
	/*
	 * The chunks indexed early (wb_stored), live-listed: gc sees them
	 * from then on, and no version names them until the commit's publish
	 * (or the session ends).  Released with wb.
	 */
	struct mfs_manifest *pinned;
};

/* Frees wb, its ingest ended; gc may take its early-indexed chunks from now. */
static void wb_free(struct mfs_writebehind *wb)
{
	mfs_manifest_unref(wb->pinned);
	free(wb);
}

static void *feed_thread(void *arg)
{
	struct mfs_writebehind *wb = arg;

	pthread_setname_np(pthread_self(), "mfs-feed"); /* for perf and top -H */
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

/*
 * Ends wb's ingest (its chunks indexed) and writes the dropped bytes back
 * from its chunks; gc's refs lock held.  Sticky on failure: with the
 * ingest gone, nothing can put them back, and every later use says EIO.
 */
static int restore_held(struct mfs_fs *fs, struct mfs_staging *s, struct mfs_writebehind *wb)
{
	struct mfs_manifest *m;
	int rc = -EIO;

	if (wb && wb->ing) {
		__atomic_store_n(&wb->stop, 1, __ATOMIC_RELAXED);
		join(wb);
		wb->broken = 1;
		m = mfs_ingest_manifest(wb->ing);
		rc = mfs_ingest_abandon(wb->ing);
		wb->ing = NULL;
		if (!rc)
			rc = staging_restore(fs, s, m);
		mfs_manifest_unref(m);
	}
	if (rc)
		log_error("staged bytes [0, %llu) of a file being written cannot be put back: %s",
			  (unsigned long long)s->punched, mfs_strerror(rc));
	else
		log_info("dropped staged bytes put back from their chunks (a change or read below them)");
	return rc;
}

int wb_restore(struct mfs_fs *fs, struct mfs_staging *s)
{
	int rc;

	if (!s->punched)
		return 0;
	/* From indexing the chunks to reading them back, gc must not delete one. */
	mfs_gc_refs_hold(fs->ns);
	rc = restore_held(fs, s, s->wb);
	mfs_gc_refs_release(fs->ns);
	return rc;
}

int wb_changed(struct mfs_fs *fs, struct mfs_staging *s, uint64_t off)
{
	int rc = off < s->punched ? wb_restore(fs, s) : 0;

	if (s->wb && off < s->wb->claimed) {
		s->wb->broken = 1;
		__atomic_store_n(&s->wb->stop, 1, __ATOMIC_RELAXED);
		/*
		 * The feed reads the staged file a window at a time (ingest.c,
		 * window_bytes): it must be done before a byte it may read
		 * changes or is truncated away.  It stops at its next window.
		 */
		join(s->wb);
	}
	return rc;
}

static int start_feed(struct mfs_fs *fs, struct mfs_staging *s, struct mfs_writebehind *wb);

uint64_t wb_drop_stored(struct mfs_fs *fs, struct mfs_staging *s)
{
	struct mfs_writebehind *wb = s->wb;
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), upto, freed;

	if (!wb || wb->broken)
		return 0;
	/*
	 * Waits for the running feed to store one more window, not for the
	 * whole feed (which may hold all the bytes written while it ran): the
	 * writer and the feed keep overlapping.  A failed feed says 0.
	 */
	upto = mfs_ingest_wait_stored(wb->ing, s->punched + page - 1, wb->feeds) / page * page;
	/*
	 * The feeds ended short of the hole's end (a feed's last window is
	 * published once the next one starts, and a writer faster than the
	 * feed claims nothing new until it is reaped): in memory, one more
	 * feed of what is written, and its first window, before the caller
	 * moves the staging to disk (on disk, a write never waits for a
	 * feed).  Without it a second copy of a model (every chunk found
	 * stored, nothing to encode) spilled at the budget's end whenever
	 * the feed was a window behind, and was then staged on disk whole.
	 */
	if (upto <= s->punched && s->in_memory && s->size > wb->claimed) {
		join(wb);
		if (!wb->broken && start_feed(fs, s, wb))
			upto = mfs_ingest_wait_stored(wb->ing, s->punched + page - 1, wb->feeds) /
			       page * page;
	}
	if (upto <= s->punched ||
	    fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)s->punched,
		      (off_t)(upto - s->punched)))
		return 0;
	freed = upto - s->punched;
	s->punched = upto;
	s->dense = 0;
	if (s->in_memory) {
		__atomic_sub_fetch(&fs->staging_mem_used, freed, __ATOMIC_RELAXED);
		s->dropped += freed;
	}
	return freed;
}

/* Starts a feed of the bytes written since the last one (none runs): 1 if started. */
static int start_feed(struct mfs_fs *fs, struct mfs_staging *s, struct mfs_writebehind *wb)
{
	/*
	 * The commit refuses a file the disk cannot hold before writing any
	 * of it (fs_check_space); so does each feed.  Then the commit at
	 * close reports ENOSPC to the writer.
	 */
	if (fs_check_space(fs, s->size - wb->claimed < staging_data_bytes(s) ?
				       s->size - wb->claimed : staging_data_bytes(s))) {
		wb->broken = 1;
		return 0;
	}
	/* Its own descriptor: a spill to disk replaces s->fd, not the bytes. */
	if ((wb->fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 0)) < 0)
		return 0;
	wb->claimed = s->size;
	wb->feeds++;
	if (pthread_create(&wb->thread, NULL, feed_thread, wb)) {
		wb->feeds--;
		close(wb->fd);
		wb->fd = -1;
		return 0;
	}
	wb->running = 1;
	return 1;
}

/* gc's refs lock for the feed's pins of the chunks it finds stored (mfs_ingest_set_lock). */
static void refs_lock(void *ns, int hold)
{
	if (hold)
		mfs_gc_refs_hold(ns);
	else
		mfs_gc_refs_release(ns);
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
		/* On disk, stored bytes go before the kernel writes them back for nothing. */
		if (!s->in_memory)
			wb_drop_stored(fs, s);
	}
	if (!wb) {
		if (!(wb = calloc(1, sizeof(*wb))))
			return;
		wb->fd = -1;
		if (mfs_ingest_begin(fs->db, fs->cfg->ingest_threads, &wb->ing)) {
			free(wb);
			return;
		}
		mfs_ingest_set_base(wb->ing, fs_delta_base, &s->delta);
		mfs_ingest_set_lock(wb->ing, refs_lock, fs->ns);
		s->wb = wb;
	}
	if (s->size - wb->claimed >= (start < STEP ? start : STEP))
		start_feed(fs, s, wb);
}

struct mfs_manifest *wb_stored(struct mfs_staging *s)
{
	struct mfs_writebehind *wb = s->wb;
	struct mfs_manifest *m = NULL;

	if (!wb || !wb->ing || wb->broken)
		return NULL;
	/*
	 * The commit's wb_finish would join the feed; it stops at its next
	 * window instead, and the finish ingests the rest: an open waits for
	 * one window (16 MiB), not for all the feed has claimed (up to the
	 * 128 MiB lead, 0.36 s here).
	 */
	__atomic_store_n(&wb->stop, 1, __ATOMIC_RELAXED);
	join(wb);
	/* A commit that fails before its finish leaves the feeds to go on. */
	__atomic_store_n(&wb->stop, 0, __ATOMIC_RELAXED);
	if (wb->broken || mfs_ingest_index_stored(wb->ing, &m))
		return NULL;
	/* m covers the earlier copy's chunks too (the ingest only appends). */
	mfs_manifest_unref(wb->pinned);
	wb->pinned = mfs_manifest_ref(m);
	if (m->size < s->punched) { /* cannot be: dropped bytes were stored */
		mfs_manifest_unref(m);
		return NULL;
	}
	return m;
}

struct mfs_manifest *wb_pinned(struct mfs_staging *s)
{
	return s->wb ? s->wb->pinned : NULL;
}

struct mfs_manifest *wb_stored_fresh(struct mfs_staging *s)
{
	mfs_manifest_unref(wb_stored(s)); /* s->wb->pinned holds it */
	return wb_pinned(s);
}

/*
 * After a commit through the write-behind, a staging with a hole goes on
 * from the version just stored, as one opened on it would: copied in at
 * the next change (a writer that syncs, then writes on).
 */
static int base_after_commit(struct mfs_fs *fs, struct mfs_staging *s, const struct mfs_hash *id)
{
	struct mfs_manifest *m;
	int rc = mfs_manifest_load(fs->db, id, &m);

	if (rc)
		return rc;
	staging_set_base(s, m);
	mfs_manifest_unref(m);
	if (s->in_memory)
		__atomic_add_fetch(&fs->staging_mem_used, s->dropped, __ATOMIC_RELAXED);
	s->punched = s->dropped = 0;
	return 0;
}

/*
 * The end of an ingest whose staging has a hole (gc's refs lock held, as
 * by the commit): -ESTALE (a chunk it found stored is gone) indexed what
 * it stored, which then comes back for the ingest from scratch.
 */
static int finish_holed(struct mfs_fs *fs, struct mfs_staging *s, struct mfs_ingest *ing,
			struct mfs_hash *id, int *has_manifest, struct mfs_ingest_stats *st)
{
	struct mfs_manifest *m = mfs_ingest_manifest(ing);
	int rc = mfs_ingest_finish(ing, s->fd, s->size, id, has_manifest, st);

	if (rc == -ESTALE && !(rc = staging_restore(fs, s, m)))
		rc = -EAGAIN;
	mfs_manifest_unref(m);
	if (!rc && *has_manifest)
		rc = base_after_commit(fs, s, id);
	return rc;
}

int wb_finish(struct mfs_fs *fs, struct mfs_staging *s, struct mfs_hash *id, int *has_manifest,
	      struct mfs_ingest_stats *st)
{
	struct mfs_writebehind *wb = s->wb;
	int rc;

	if (!wb)
		return -EAGAIN;
	join(wb);
	log_info("write-behind at commit: %s, %llu of %llu bytes cut before close, %llu dropped",
		 wb->broken ? "broken" : "usable",
		 (unsigned long long)(wb->ing ? mfs_ingest_offset(wb->ing) : 0),
		 (unsigned long long)s->size, (unsigned long long)s->punched);
	/* From scratch needs every byte back (a feed failed after bytes were dropped). */
	if (wb->broken && s->punched && (rc = restore_held(fs, s, wb)))
		return rc;
	s->wb = NULL;
	if (wb->broken) {
		mfs_ingest_abandon(wb->ing);
		rc = -EAGAIN;
	} else if (s->punched) {
		rc = finish_holed(fs, s, wb->ing, id, has_manifest, st);
	} else {
		rc = mfs_ingest_finish(wb->ing, s->fd, s->size, id, has_manifest, st);
		if (rc == -ESTALE)
			rc = -EAGAIN;
	}
	/* gc's refs lock is held until the publish names the chunks. */
	wb_free(wb);
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
	wb_free(wb);
}
