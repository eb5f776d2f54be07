/* SPDX-License-Identifier: Apache-2.0 */
/*
 * create, write, flush, fsync, truncate, and the commit that turns staged
 * bytes into a published version (write-once, commit on close).
 *
 * A commit runs at the first flush (close), fsync or release after a write
 * (or a truncation, or the creation of the file), so close() reports ENOSPC
 * or EIO to the writer; a commit that failed is not retried behind its back.  Order: ingest (chunks
 * durable in packs or blob files, manifest in the WAL) -> mfs_ns_publish (one synced
 * batch, so chunks are durable before the entry that points to them; a small
 * file's chunk records, index entries and manifest ride in that batch) ->
 * kernel dentry invalidation when the path got a new inode.  A large file's
 * ingest starts while it is written (writebehind.c); the commit finishes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "fs_internal.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/chunk/ingest.h"
#include "store/base/bytes.h"
#include "store/kv/db.h"
#include "store/maint/gc.h"
#include "store/ns/namespace.h"

#define LOG_COMPONENT "fuse"

/* A small commit trusts a statvfs this recent ... */
#define SPACE_RECHECK_NS 1000000000ull
/* ... while this much more than it needs was free (what other writers may take meanwhile). */
#define SPACE_SLACK (1ull << 30)

/*
 * A small commit's check without a statfs (one syscall of the ~23 a small
 * file cost the daemon): the last statvfs, at most SPACE_RECHECK_NS old,
 * less what small commits took since, still leaves SPACE_SLACK beyond the
 * margin.  1: room; 0: ask statvfs.
 */
static int space_cached(struct mfs_fs *fs, uint64_t size)
{
	return size <= MFS_INGEST_SMALL_MAX &&
	       mfs_space_reading_take(&fs->space, size, MFS_SPACE_MARGIN + SPACE_SLACK,
				      SPACE_RECHECK_NS);
}

/*
 * Refuses a commit that cannot fit, before RocksDB runs out of space in a
 * flush: RocksDB 7.8's C API cannot resume after that, and the store would
 * take no writes until restarted.  Worst case, ignoring dedup and
 * compression, every byte goes once to a pack.
 * NEEDSWORK: deduplicated bytes count too; a cheap pre-pass could tell.
 *
 * A commit without bytes (an empty file, a cut to 0, holes alone) writes
 * the namespace's records only, as the create that made the file did:
 * the store's floor governs it (mfs_db_write), not the margin, which
 * keeps room for those records against file bytes.  Under the margin it
 * failed with ENOSPC while a create or mkdir succeeded, and the store's
 * own WAL can take the disk under it for a moment: a WAL grown to two
 * preallocated blocks and the next one's block, 16 MiB more than it
 * holds otherwise, until the flush that switched it ends (t0805 under
 * load: the close of an empty file just after space came back; on a
 * 64 MiB disk, 47 MiB free went down to 31.8 for 30 ms).
 */
int fs_check_space(struct mfs_fs *fs, uint64_t size)
{
	struct statvfs st;
	uint64_t avail;

	if (!size || space_cached(fs, size))
		return 0;
	if (statvfs(fs->cfg->data_dir, &st))
		return 0;
	avail = (uint64_t)st.f_bavail * st.f_frsize;
	mfs_space_reading_set(&fs->space, avail);
	if (avail < size + MFS_SPACE_MARGIN)
		return -ENOSPC;
	return 0;
}

/*
 * Stores the staged bytes' chunks and manifest.  A small file's are staged
 * into *with (mfs_ingest_small) for the publish to write in its own batch:
 * its whole commit is then one WAL append and one sync, where writing
 * them first cost two more appends (issue 10).  A larger one's are stored
 * here (its records in packs or blob files, durable before the publish).
 */
static int ingest(struct mfs_fs *fs, struct mfs_staging *stg, struct mfs_hash *id,
		  int *has_manifest, struct mfs_ingest_stats *ist, struct mfs_ns_with *with,
		  struct mfs_wr *mrec)
{
	int rc = wb_finish(fs, stg, id, has_manifest, ist);

	if (rc != -EAGAIN)
		return rc;
	/* Never from scratch over a hole (writebehind.c): that would store zeros. */
	if (stg->punched)
		return -EIO;
	if (stg->size <= MFS_INGEST_SMALL_MAX) {
		if (!(with->b = mfs_batch_new(fs->db)))
			return -ENOMEM;
		rc = mfs_ingest_small(fs->db, stg->fd, stg->size, stg->dense ? stg->size : 0, with->b,
				      mrec, id, has_manifest, ist);
		with->manifest = mrec->buf;
		with->manifest_len = mrec->len;
		return rc;
	}
	return mfs_ingest_fd_base(fs->db, stg->fd, stg->size, fs->cfg->ingest_threads,
				  fs_delta_base, &stg->delta, id, has_manifest, ist);
}

/*
 * Every writer of n has been closed (a FLUSH, no write since): close(2)
 * has returned to each, and only their RELEASEs, which the kernel sends
 * in the background, are still on their way.  n->lock held.
 */
static int writers_closed(struct mfs_node *n)
{
	return n->writers && __atomic_load_n(&n->closing_writers, __ATOMIC_RELAXED) >= n->writers;
}

static int commit_locked(struct mfs_fs *fs, struct mfs_node *n, uint64_t *moved, uint64_t *parent,
			 char **name)
{
	struct mfs_ingest_stats ist;
	struct mfs_ns_with with = { 0 };
	struct mfs_wr mrec = { 0 };
	struct mfs_inode rec = { 0 };
	struct mfs_publishing pub;
	struct mfs_hash id;
	uint64_t target = fs_node_target(fs, n);
	int has_manifest = 0, rc, going_on = 0;

	*moved = 0;
	if (n->gone && target == n->ino) {
		/* unlinked while open: its bytes go with it */
		n->stg->dirty = n->stg->publish_at_release = 0;
		view_end(fs, n->stg);
		return 0;
	}
	/*
	 * Nothing written since the last commit, only a truncate(2) of the
	 * path through this writer's view, and another writer has published
	 * over the view's version since: the cut was of a version that is no
	 * longer the path's, and publishing it now would undo that writer's
	 * bytes (review s38: the file left empty, 8 runs in 12).  On tmpfs
	 * this close changes nothing either.
	 */
	if (!n->stg->dirty && view_lost(fs, n->stg)) {
		n->stg->publish_at_release = 0;
		view_end(fs, n->stg);
		log_info("inode %016llx: a truncate through its view not published: another "
			 "writer's version came after it", (unsigned long long)target);
		return 0;
	}
	if (fs->commit_hold)
		fs_test_hold(fs->commit_hold); /* says it holds n's lock, then waits */
	view_take_times(fs, n->stg);
	/* Bytes of an answered write are missing (answer_first): never published. */
	if ((rc = n->stg->werr) || (rc = staging_materialize_base(fs, n->stg)) ||
	    (rc = fs_check_space(fs, staging_data_bytes(n->stg))))
		goto failed;
	/* From the dedup checks to the publish, gc must not delete (store/maint/gc.h). */
	mfs_gc_refs_hold(fs->ns);
	rc = ingest(fs, n->stg, &id, &has_manifest, &ist, &with, &mrec);
	if (!rc) {
		/*
		 * No other commit of the file between its publish and its link.
		 * A writer goes on (not a truncate(2)'s staging, freed right
		 * after, nor the bytes of a close(2): every writer closed, their
		 * RELEASEs on the way): opens wait until its view is up
		 * (itable_wait_views).
		 */
		going_on = n->writers && !writers_closed(n);
		pub.view = going_on;
		target = itable_publish_begin(fs, n->ino, &pub);
		if (n->stg->publish_over && target != n->stg->publish_over) {
			mfs_batch_free(with.b);
			rc = -ESTALE;
		} else {
			rc = mfs_ns_publish_with(fs->ns, target, has_manifest ? &id : NULL,
						 n->stg->size, &n->stg->mtime, &n->stg->ctime,
						 with.b ? &with : NULL, &rec);
			/* A view on the version just superseded is lost (view.c). */
			if (rec.ino && rec.ino != target)
				view_superseded(fs, target);
			/* The path has a new inode; n keeps describing the old version. */
			if (rec.ino && rec.ino != target && itable_set_successor(fs, target, rec.ino))
				log_error("inode %016llx: no memory to record its successor",
					  (unsigned long long)target);
			/*
			 * Until the next commit, the new inode shows what this
			 * writer writes on.  A reader that opened the new inode
			 * as if no writer were left took the view for a writer's
			 * and got direct I/O: its shared mmap failed with ENODEV
			 * (t0408's readers, 1 open in about 20,000; t0412, a map
			 * right after a writer's close, 1 in 800).  Shared
			 * (view.c) while n's page cache is its writers' bytes:
			 * every writer writes through it (none joined with direct
			 * I/O), and no reader holds n's version there.  Before
			 * the publish ends: an open of the new inode found
			 * neither the view nor a writer, and staged bytes of its
			 * own beside this writer's, two files in one (SQLite's
			 * WAL, t0417).
			 */
			if (rec.ino && rec.ino != target && going_on)
				view_start(fs, n->stg, n->ino, rec.ino,
					   n->writers == n->cached_writers && !n->joined_writers &&
						   n->readers == n->far_readers);
		}
		itable_publish_end(fs, &pub);
	} else {
		mfs_batch_free(with.b);
	}
	mfs_gc_refs_release(fs->ns);
	mfs_wr_release(&mrec);
	if (rc == -ESTALE) {
		/* A truncate's cut of an older version: it goes to the newer one. */
		n->stg->dirty = n->stg->publish_at_release = 0;
		return rc;
	}
	if (rc == -ENOENT) {
		/*
		 * The path was unlinked or renamed over since (successor links
		 * follow commits, not those): like writes to an unlinked file,
		 * the bytes go with it.
		 */
		n->stg->dirty = n->stg->publish_at_release = 0;
		view_end(fs, n->stg);
		log_info("inode %016llx: not published, its path was removed or replaced",
			 (unsigned long long)target);
		return 0;
	}
	if (rc && !rec.ino)
		goto failed;
	/*
	 * Published, though its sync may have failed (rc): readers and peers
	 * see the version and a restart finds it (t0824), so this node shows
	 * it too; the writer hears that its durability is not assured.
	 */
	if (rc)
		log_warn("inode %016llx: published, but its sync failed (%s): a power loss may lose it",
			 (unsigned long long)target, mfs_strerror(rc));
	n->stg->dirty = n->stg->publish_at_release = 0;
	n->stg->published = 1;
	log_debug("published %016llx: %llu bytes read, %llu chunks (%llu new), %llu bytes of holes",
		  (unsigned long long)rec.ino, (unsigned long long)ist.bytes,
		  (unsigned long long)ist.chunks, (unsigned long long)ist.new_chunks,
		  (unsigned long long)ist.holes);
	if (rec.ino == n->ino) {
		/* Published in place (the file was new): n is the current version. */
		view_end(fs, n->stg);
		mfs_inode_release(&n->rec);
		n->rec = rec;
		mfs_manifest_unref(n->manifest);
		n->manifest = NULL;
		fs_node_untruncate(n);
		return rc;
	}
	n->stg->became_ino = rec.ino; /* a writer that opens n later: open_locked */
	/* What n's followers read once no writer stages here (fs_internal.h note 6). */
	n->became = id;
	n->became_has_manifest = has_manifest;
	n->became_set = 1;
	mfs_manifest_unref(n->became_m);
	n->became_m = NULL;
	/* Failed, became_m stays NULL and follow_end tries again. */
	if (n->followers && has_manifest)
		(void)fs_manifest_pinned(fs, &id, 1, &n->became_m);
	/*
	 * The view started with the publish, when a writer goes on.  Not when
	 * no writer will write on: a truncate(2)'s staging, freed right after,
	 * or the bytes of a close(2) (one that writes again through a dup'ed
	 * descriptor publishes at its release, and stat of the path lags
	 * until then).
	 */
	if (!going_on)
		view_end(fs, n->stg); /* an earlier commit's, on a version superseded now */
	*moved = target;
	*parent = rec.parent;
	*name = rec.name;
	rec.name = NULL;
	mfs_inode_release(&rec);
	return rc;
failed:
	/*
	 * The writer hears of it (close or fsync fails): this version must not
	 * appear later behind its back, published by a RELEASE whose retry
	 * happens to succeed.  The staged bytes stay: a writer that goes on
	 * writing and syncs again publishes all of them.
	 */
	n->stg->dirty = n->stg->publish_at_release = 0;
	log_warn("inode %016llx: commit of %llu bytes failed, not published: %s",
		 (unsigned long long)target, (unsigned long long)n->stg->size, mfs_strerror(rc));
	return rc;
}

/*
 * stat, lookup and getfattr of n answer meanwhile (noted_attrs.c), and so
 * does an open for reading of a new file's bytes (commit_open.c).
 */
int fs_commit(struct mfs_fs *fs, struct mfs_node *n, uint64_t *moved, uint64_t *parent, char **name)
{
	int rc;

	fs_attrs_note(fs, n);
	fs_pending_begin(fs, n);
	rc = commit_locked(fs, n, moved, parent, name);
	fs_pending_end(fs, n);
	fs_attrs_unnote(fs, n);
	return rc;
}

void fs_moved_inode(struct mfs_fs *fs, struct fs_moved *mv)
{
	if (!mv->ino)
		return;
	/*
	 * Descriptors still open on the superseded inode ask again: the
	 * file's mode, owner and times are now the new inode's (op_getattr),
	 * and permission checks use them.  No inode lock: safe under any.
	 */
	fuse_lowlevel_notify_inval_inode(fs->se, mv->ino, -1, 0);
}

void fs_moved_entry(struct mfs_fs *fs, struct fs_moved *mv)
{
	if (mv->ino && mv->name) {
		/* Drop the kernel's dentry so the next open looks up the new inode. */
		int rc = fuse_lowlevel_notify_inval_entry(fs->se, mv->parent, mv->name,
							  strlen(mv->name));

		if (rc && rc != -ENOENT)
			log_warn("invalidating %s: %s", mv->name, strerror(-rc));
		fs_inval_links(fs, mv->parent, mv->name);
	}
	free(mv->name);
	*mv = (struct fs_moved){ 0 };
}

void fs_after_commit(struct mfs_fs *fs, uint64_t moved, uint64_t parent, char *name)
{
	struct fs_moved mv = { moved, parent, name };

	fs_moved_inode(fs, &mv);
	fs_moved_entry(fs, &mv);
}

/* Commits n if it has unpublished writes; replies nothing.  *mv: see fs_moved_inode. */
static int commit_if_dirty(struct mfs_fs *fs, struct mfs_node *n, struct fs_moved *mv)
{
	int rc = 0;

	pthread_mutex_lock(&n->lock);
	if (n->stg && (n->stg->dirty || n->stg->publish_at_release))
		rc = fs_commit(fs, n, &mv->ino, &mv->parent, &mv->name);
	pthread_mutex_unlock(&n->lock);
	return rc;
}

/*
 * A new file written once costs seven requests, three of them the kernel's
 * for reasons no reply of ours moves: doc/decisions.md, "Seven FUSE
 * requests per new small file".
 */
void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		  struct fuse_file_info *fi)
{
	struct mfs_fs *fs = req_fs(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct mfs_ns_new nw = {
		.mode = S_IFREG | (mode & 07777 & ~ctx->umask),
		.uid = ctx->uid, .gid = ctx->gid, .flags = MFS_I_PENDING,
	};
	struct fuse_entry_param e = { 0 };
	struct mfs_inode rec;
	struct mfs_node *n;
	int rc, created;

	if (fs->cfg->ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	fs_inherit_sgid(fs, parent, &nw);
	rc = mfs_ns_create(fs->ns, parent, name, &nw, &rec);
	created = !rc;
	if (!rc)
		fs_refresh(fs, parent);
	else if (rc == -EEXIST && !(fi->flags & O_EXCL))
		rc = mfs_ns_lookup(fs->ns, parent, name, &rec); /* lost a race: open it */
	if (rc) {
		fuse_reply_err(req, mfs_errno(rc));
		return;
	}
	if (!(n = itable_get(fs, rec.ino, &rec, 1, 1, &rc))) {
		fuse_reply_err(req, mfs_errno(rc));
		return;
	}
	if ((rc = fs_open_node(fs, n, fi, created, fuse_req_ctx(req)->pid))) {
		itable_put(fs, n, 1, 1);
		fuse_reply_err(req, mfs_errno(rc));
		return;
	}
	pthread_mutex_lock(&n->lock);
	/* A new file is published even if nothing is written to it. */
	if ((n->rec.flags & MFS_I_PENDING) && n->stg)
		n->stg->publish_at_release = 1;
	fs_fill_stat(fs, n, &e.attr);
	pthread_mutex_unlock(&n->lock);
	e.ino = n->ino;
	e.attr_timeout = e.entry_timeout = fs->timeout;
	if (fuse_reply_create(req, &e, fi)) {
		fs_handle_close(fs, (struct mfs_handle *)(uintptr_t)fi->fh);
		itable_put(fs, n, 1, 0);
	}
}

/*
 * A write by someone without CAP_FSETID drops the file's set-ID bits
 * (fs_setid_to_drop); n->lock held.  A failure to store the mode is logged:
 * the write itself succeeded.
 */
static void drop_setid(struct mfs_fs *fs, struct mfs_node *n, mode_t drop, uint64_t *moved_to)
{
	int rc;

	n->rec.mode &= ~drop;
	clock_gettime(CLOCK_REALTIME, &n->rec.ctime);
	if ((rc = fs_save_attrs(fs, n, MFS_ATTR_MODE | MFS_ATTR_CTIME, moved_to)))
		log_warn("inode %016llx: dropping set-ID bits after a write: %s",
			 (unsigned long long)n->ino, mfs_strerror(rc));
}

/*
 * The same for the path's inode when the writer writes on through an older
 * one (view.c): a chmod of the path set the bits on the path's record,
 * which the kernel never showed on the writer's inode, so it asked for no
 * drop (fsdiff seed 45001, op 99).  The writer's next commit publishes the
 * path's mode.  No node lock held.
 */
static void drop_setid_of_path(fuse_req_t req, uint64_t ino)
{
	struct mfs_fs *fs = req_fs(req);
	struct mfs_node *m = itable_hold(fs, ino);
	uint64_t moved_to = 0;
	mode_t drop;

	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	if ((drop = fs_setid_to_drop(req, &m->rec, 0)))
		drop_setid(fs, m, drop, &moved_to);
	pthread_mutex_unlock(&m->lock);
	itable_put(fs, m, 0, 1);
	if (!drop)
		return;
	if (moved_to)
		fs_refresh(fs, moved_to);
	fuse_lowlevel_notify_inval_inode(fs->se, moved_to ? moved_to : ino, -1, 0);
}

/* Does [off, off + size) hold a whole page of the kernel's page cache? */
static int covers_whole_page(off_t off, size_t size)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t first = ((uint64_t)off + page - 1) / page * page;

	return first + page <= (uint64_t)off + size;
}

/*
 * Whether a write to n is answered before its bytes are copied into the
 * staging (n->lock held): the writer's next write() then overlaps that
 * copy instead of waiting for it.  A writer such as cp issues one write at
 * a time, and on issue 10's 2-core VM its chain (its own copy into the
 * kernel, the request's copy to the daemon, the memfd write) was the
 * ceiling of a cp into the mount.  Only the plain case: a staging in
 * memory (a memfd write fails only for want of memory), no view of a
 * newer inode to update (nor one to start: view_on_write, a forked
 * child's big write after its opener's close; review3 s42 #3, t0429),
 * no setuid bit to drop, no page to drop after.
 * The bytes are copied with n->lock still held, so no request on n (a
 * READ, a GETATTR, the next WRITE, a FLUSH) can see the staging without
 * them; libfuse keeps buf until the handler returns.
 *
 * Not a write under ANSWER_FIRST_MIN: its copy takes a few microseconds,
 * less than the lock handoff that answering first brings.  The answer
 * wakes the writer, which on two cores preempts the handler that still
 * holds n->lock; the writer's next request (a small file's FLUSH: its
 * close) then finds the lock taken, and its thread sleeps until the
 * handler runs again and wakes it: a futex sleep and wake, one more
 * context switch, and the FLUSH, whose sync the close waits for, started
 * late.  Issue 10's small files (one 4 KiB write each) paid that often:
 * 0.33-0.52 futex calls per file in the daemon, 0.18-0.25 without it.
 */
#define ANSWER_FIRST_MIN (64u << 10)

static int answer_first(fuse_req_t req, struct mfs_node *n, size_t size, int misplaced)
{
	struct mfs_staging *s = n->stg;

	return size >= ANSWER_FIRST_MIN && s && s->in_memory && !s->view && !misplaced &&
	       !fs_setid_to_drop(req, &n->rec, 0) &&
	       !(s->became_ino && fs_node_target(req_fs(req), n) == s->became_ino);
}

/*
 * A write that may wait for the write-behind (staging.c, reserve) notes
 * what the file shows first, so a stat meanwhile need not wait
 * (noted_attrs.c).  1 if it did: note_end drops the note.
 */
static int note_if_waiting(struct mfs_fs *fs, struct mfs_node *n, size_t size, off_t off)
{
	if (!n->stg || !staging_may_wait(fs, n->stg, (uint64_t)off + size))
		return 0;
	fs_attrs_note(fs, n);
	return 1;
}

static void note_end(struct mfs_fs *fs, struct mfs_node *n, int noted)
{
	if (noted)
		fs_attrs_unnote(fs, n);
}

/* The write of answer_first: answered, then stored; unlocks n. */
static void write_answered(fuse_req_t req, struct mfs_node *n, const char *buf, size_t size,
			   off_t off)
{
	struct mfs_fs *fs = req_fs(req);
	struct mfs_staging *s = n->stg;
	int noted = note_if_waiting(fs, n, size, off);
	ssize_t w = staging_write_begin(fs, s, size, (uint64_t)off);
	int first = !w && s->in_memory;

	/* Before the answer: a stat after it must see this write. */
	note_end(fs, n, noted);

	/* The room made may have moved the staging to disk: then the bytes go first. */
	if (first)
		fuse_reply_write(req, size);
	if (!w)
		w = staging_write_end(fs, s, buf, size, (uint64_t)off, first);
	if (w > 0 || first) {
		s->dirty = 1;
		staging_touch(s);
	}
	pthread_mutex_unlock(&n->lock);
	if (first)
		return;
	if (w < 0)
		fuse_reply_err(req, mfs_errno((int)w));
	else
		fuse_reply_write(req, (size_t)w);
}

/*
 * n's staged bytes change after a commit that gave the path a new inode
 * while every writer seemed closed, so it started no view (commit_locked):
 * a descriptor outlived its opener's close, and writes on (`cmd >>log &`,
 * Popen(stdout=f) then f.close(): the child's copy).  As after a commit
 * whose writer goes on, the path's inode shows these bytes from now on: a
 * reader of the path follows them, stat shows their size, a writer of the
 * path joins them (t0429).  Not shared: the path's dentries lead to the
 * new inode already.  n->lock held.  Returns the inode whose kernel
 * attributes must go once the lock is released (view_inval), or 0.
 */
static uint64_t view_on_write(struct mfs_fs *fs, struct mfs_node *n)
{
	struct mfs_staging *s = n->stg;

	if (!s || s->view || !s->became_ino || fs_node_target(fs, n) != s->became_ino)
		return 0;
	view_start(fs, s, n->ino, s->became_ino, 0);
	return s->became_ino;
}

void fs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		 struct fuse_file_info *fi)
{
	struct mfs_handle *h = (struct mfs_handle *)(uintptr_t)fi->fh;
	struct mfs_fs *fs = req_fs(req);
	struct mfs_node *n = h->node;
	uint64_t inval = 0, moved_to = 0, node_ino = n->ino, path_ino = 0;
	int misplaced = 0, noted;
	/* The descriptor's flags now (fcntl F_SETFL), not at its open; 0 for a mapping's writeback. */
	int append = !!(fi->flags & O_APPEND);
	mode_t drop = 0;
	ssize_t w;

	if (!h->writable) {
		fuse_reply_err(req, EBADF);
		return;
	}
	fs_writer_active(h);
	/*
	 * A joined writer (fs_read.c, join_view): the other writer's dirty
	 * pages of the range (its shared mapping) go to the staging first.
	 * Else the invalidation after this write wrote them back over its
	 * bytes, and the write was lost.  O_APPEND: its offset is the staged
	 * end, known under the lock: all pages.
	 */
	if (h->joined)
		fuse_lowlevel_notify_inval_inode(fs->se, node_ino, append ? 0 : off,
						 append ? 0 : (off_t)size);
	pthread_mutex_lock(&n->lock);
	/*
	 * O_APPEND writes go to the staged end.  The kernel puts them at its
	 * own i_size: for a direct writer the old version's while readers of
	 * it hold the page cache (fs_fill_stat); for any writer a stale one
	 * after a truncate of the path cut this staging (view.c), and then a
	 * cached writer's page cache holds the bytes at the wrong offset.
	 * Only a page the write covers whole is left up to date there (the
	 * truncate dropped the others, and a partial write does not fill
	 * one); those are dropped once the write is answered (its pages are
	 * locked until then).  Not otherwise: the invalidation bumps the
	 * kernel's attribute version, and a READ it overtakes would then
	 * keep the stale size and return zeros past the real end.
	 */
	if (append && n->stg && off != (off_t)n->stg->size) {
		misplaced = h->cached && covers_whole_page(off, size);
		off = (off_t)n->stg->size;
	}
	if (answer_first(req, n, size, misplaced)) {
		write_answered(req, n, buf, size, off);
		return;
	}
	noted = note_if_waiting(fs, n, size, off);
	w = n->stg ? staging_write(fs, n->stg, buf, size, off) : -EBADF;
	note_end(fs, n, noted);
	if (w > 0) {
		uint64_t started = view_on_write(fs, n);

		n->stg->dirty = 1;
		staging_touch(n->stg);
		inval = view_update(req_fs(req), n->stg);
		if (started)
			inval = started;
		if ((drop = fs_setid_to_drop(req, &n->rec, 0)))
			drop_setid(req_fs(req), n, drop, &moved_to);
		path_ino = view_path_ino(n->stg);
	}
	pthread_mutex_unlock(&n->lock);
	view_inval(req_fs(req), inval);
	if (path_ino)
		drop_setid_of_path(req, path_ino);
	if (drop) {
		/* The kernel caches the mode it had: it asks again. */
		if (moved_to)
			fs_refresh(req_fs(req), moved_to);
		fuse_lowlevel_notify_inval_inode(req_fs(req)->se, moved_to ? moved_to : n->ino, -1, 0);
	}
	/*
	 * A joined writer's bytes (fs_read.c, join_view): the other writer's
	 * pages of them go, and its size, before the answer.  Sent after it, a
	 * read the other writer made once this write() returned could overtake
	 * the invalidation and end at the old size or read the old pages:
	 * SQLite's WAL gave SQLITE_IOERR_SHORT_READ (tests/fs/t0417).  The
	 * write is direct I/O on another inode: it locks none of these pages.
	 */
	if (h->joined && w > 0)
		fuse_lowlevel_notify_inval_inode(fs->se, node_ino, misplaced ? 0 : off,
						 misplaced ? 0 : w);
	if (w < 0)
		fuse_reply_err(req, mfs_errno((int)w));
	else
		fuse_reply_write(req, w);
	if (misplaced && w > 0 && !h->joined)
		fuse_lowlevel_notify_inval_inode(fs->se, node_ino, 0, 0);
}

void fs_writer_active(struct mfs_handle *h)
{
	if (__atomic_load_n(&h->flushed, __ATOMIC_RELAXED) &&
	    __atomic_exchange_n(&h->flushed, 0, __ATOMIC_RELAXED)) {
		__atomic_sub_fetch(&h->node->closing_writers, 1, __ATOMIC_RELAXED);
		/* Its close was not its last (a forked child's copy writes on): stager.c. */
		__atomic_store_n(&h->node->writers_outlive, 1, __ATOMIC_RELAXED);
	}
}

int fs_staging_idle(struct mfs_node *n)
{
	return writers_closed(n) && !n->stg->dirty && !n->stg->publish_at_release;
}

int fs_staging_left(struct mfs_fs *fs, struct mfs_node *n)
{
	return n->readers && writers_closed(n) && !n->stg->dirty && !n->stg->publish_at_release &&
	       fs_node_target(fs, n) != n->ino;
}

int fs_staging_published(struct mfs_fs *fs, struct mfs_node *n)
{
	return n->stg && writers_closed(n) && !n->stg->dirty && !n->stg->publish_at_release &&
	       !(n->rec.flags & MFS_I_PENDING) && fs_node_target(fs, n) == n->ino;
}

void fs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mfs_handle *h = (struct mfs_handle *)(uintptr_t)fi->fh;
	struct fs_moved mv = { 0 };
	int rc = h->writable ? commit_if_dirty(req_fs(req), h->node, &mv) : 0;

	/* The kernel holds no lock of the file while it flushes. */
	fs_moved_inode(req_fs(req), &mv);
	fs_moved_entry(req_fs(req), &mv);
	fuse_reply_err(req, mfs_errno(rc));
}

/*
 * A commit syncs the file's publish; a change of its names or attributes
 * may still wait for the periodic sync (fs_sync.c), and fsync is where
 * POSIX asks for them too: every namespace op so far is synced.
 */
void fs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct mfs_handle *h = (struct mfs_handle *)(uintptr_t)fi->fh;
	struct mfs_fs *fs = req_fs(req);
	struct fs_moved mv = { 0 };
	int rc = h->writable ? commit_if_dirty(fs, h->node, &mv) : 0;

	if (!rc)
		rc = mfs_ns_sync(fs->ns);
	/* The kernel holds the file's inode lock until this reply (fs_moved_inode). */
	fs_moved_inode(fs, &mv);
	fuse_reply_err(req, mfs_errno(rc));
	fs_moved_entry(fs, &mv);
}

static int fallocate_refusal_logged;

void fs_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
		     struct fuse_file_info *fi)
{
	struct mfs_handle *h = (struct mfs_handle *)(uintptr_t)fi->fh;
	struct mfs_node *n = h->node;
	uint64_t inval = 0;
	int rc;

	if (off < 0 || len <= 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (!h->writable) {
		fuse_reply_err(req, EBADF);
		return;
	}
	fs_writer_active(h);
	if (h->joined) /* the other writer's dirty pages first, as fs_op_write */
		fuse_lowlevel_notify_inval_inode(req_fs(req)->se, n->ino, 0, 0);
	pthread_mutex_lock(&n->lock);
	rc = n->stg ? staging_fallocate(req_fs(req), n->stg, mode, off, len) : -EBADF;
	if (!rc) {
		/* Like a write: the next flush commits it. */
		uint64_t started = view_on_write(req_fs(req), n);

		n->stg->dirty = 1;
		staging_touch(n->stg);
		inval = view_update(req_fs(req), n->stg);
		if (started)
			inval = started;
	}
	pthread_mutex_unlock(&n->lock);
	view_inval(req_fs(req), inval);
	if (!rc && h->joined) /* as fs_op_write */
		fuse_lowlevel_notify_inval_inode(req_fs(req)->se, n->ino, 0, 0);
	/* Once per daemon: stress-ng asks for ZERO_RANGE thousands of times. */
	if (rc == -EOPNOTSUPP && !__atomic_exchange_n(&fallocate_refusal_logged, 1, __ATOMIC_RELAXED))
		log_info("inode %016llx: fallocate mode %#x refused (EOPNOTSUPP), as tmpfs refuses it: "
			 "not supported by the staging file (said once)", (unsigned long long)n->ino, mode);
	fuse_reply_err(req, mfs_errno(rc));
}

/*
 * A truncate(2) with no writer open published the version n's readers
 * read, cut or grown to size, under a new inode, and the reply gives the
 * kernel that size for n too (fs_attr.c).  Grown, their version ends
 * sooner, and what lies between is zeros in the new version as on tmpfs:
 * they read zeros there (serve_read), where a short reply made the kernel
 * SIGBUS a mapping and end read(2) early.  Cut, a later stat must not
 * give them the old size back.  Only then: a writer's staged bytes are
 * another version's, which old readers must not see (README).  n->lock
 * held.
 */
int fs_truncated_for_readers(struct mfs_node *n, uint64_t size)
{
	uint64_t end;

	if (!n->manifest)
		return 0; /* nobody has it open */
	end = n->truncated ? n->trunc_to : n->manifest->size;
	if (!n->truncated || size < n->trunc_data)
		n->trunc_data = size;
	n->trunc_to = size;
	__atomic_store_n(&n->truncated, 1, __ATOMIC_RELEASE);
	return size < end;
}

/*
 * The kernel applies a smaller size to an inode's page cache in place: it
 * zeroes the page the cut falls in from the cut on and removes the pages
 * after it.  A read(2) of the inode that took those pages and the size
 * before that (a read does not lock out a truncate) then copied the
 * zeroed tail and, after it, the removed page's old bytes it still held:
 * 8192 bytes, A to the cut, zeros to 4096, A again (t0408's readers, 1
 * open in about 50,000), or zeros from wherever the zeroing overtook its
 * copy.  So the pages from the cut on go first, once n's readers are
 * marked (fs_truncated_for_readers): a page read in again from then on
 * is the cut version's, which the zeroing leaves as it is, and a read
 * that holds an older page copies that page whole, the version before
 * the cut.  (This drops the inode's cached attributes too: the kernel
 * takes the reply's but asks again at the next stat.)
 */
void fs_truncated_pages(struct mfs_fs *fs, uint64_t ino, uint64_t size)
{
	int rc = fuse_lowlevel_notify_inval_inode(fs->se, ino, (off_t)size, 0);

	if (rc && rc != -ENOENT)
		log_warn("inode %016llx: its pages past a cut to %llu not dropped: %s",
			 (unsigned long long)ino, (unsigned long long)size, strerror(-rc));
}

/*
 * n->lock held: n was given trunc_at, so its path's truncates reach it
 * (truncated_heirs).  Each inode number once; a failed allocation leaves
 * n's readers at the size they have (logged).
 */
static void heir_add(struct mfs_fs *fs, struct mfs_node *n)
{
	int i;

	pthread_mutex_lock(&fs->heirs_lock);
	for (i = 0; i < fs->nheirs && fs->heirs[i] != n->ino; i++)
		;
	if (i == fs->nheirs && fs->nheirs == fs->heirs_cap) {
		int cap = fs->heirs_cap ? fs->heirs_cap * 2 : 16;
		uint64_t *grown = realloc(fs->heirs, (size_t)cap * sizeof(*grown));

		if (!grown) {
			pthread_mutex_unlock(&fs->heirs_lock);
			log_warn("inode %016llx: out of memory: later truncates of its path do not "
				 "reach its readers", (unsigned long long)n->ino);
			return;
		}
		fs->heirs = grown;
		fs->heirs_cap = cap;
	}
	if (i == fs->nheirs)
		fs->heirs[fs->nheirs++] = n->ino;
	pthread_mutex_unlock(&fs->heirs_lock);
}

/* ino leaves fs->heirs: no reader of it is left to reach. */
static void heir_drop(struct mfs_fs *fs, uint64_t ino)
{
	pthread_mutex_lock(&fs->heirs_lock);
	for (int i = 0; i < fs->nheirs; i++)
		if (fs->heirs[i] == ino) {
			fs->heirs[i] = fs->heirs[--fs->nheirs];
			break;
		}
	pthread_mutex_unlock(&fs->heirs_lock);
}

/*
 * A truncate(2) with no writer open cut or grew to size the version of
 * inode `from`, and published it as inode `to`.  The readers of from's
 * version were marked (fs_truncated_for_readers); so are those of the
 * older inodes whose versions became from's by such truncates only
 * (n->trunc_at == from), which the kernel never sends this truncate: on
 * tmpfs they are descriptors of one file, and the second of
 * truncate(path, 3), truncate(path, 10) gave them 3 bytes where stat said
 * 10 (or 3 where tmpfs says 10).  The kernel is told each one's size
 * (its attributes dropped; a cut drops its pages, as fs_truncated_pages
 * says).  No locks held; before the truncate's reply, which returns it.
 *
 * They are found in fs->heirs, not by a walk back along the successor
 * links from `from`: that walk went through at most 64 links, most of
 * them inodes the kernel had forgotten, and from the 65th truncate on a
 * reader opened before them kept the size it had (s41 review, t0428).
 * An inode no reader holds any more (or no longer marked) leaves the list.
 * NEEDSWORK: two truncates of a path at once (the second through a
 * lookup of the first's new inode, before the first's walk here) may
 * mark a reader in either order: it may keep the first's size.
 */
static void truncated_heirs(struct mfs_fs *fs, uint64_t from, uint64_t to, uint64_t size)
{
	uint64_t *inos;
	int ni;

	pthread_mutex_lock(&fs->heirs_lock);
	ni = fs->nheirs;
	inos = ni ? malloc((size_t)ni * sizeof(*inos)) : NULL;
	if (inos)
		memcpy(inos, fs->heirs, (size_t)ni * sizeof(*inos));
	pthread_mutex_unlock(&fs->heirs_lock);
	if (!inos) {
		if (ni)
			log_warn("inode %016llx: out of memory: its truncate to %llu does not reach "
				 "older readers", (unsigned long long)from, (unsigned long long)size);
		return;
	}
	for (int i = 0; i < ni; i++) {
		struct mfs_node *p = inos[i] == from ? NULL : itable_hold(fs, inos[i]);
		int heir = 0, cut = 0, dead = !p;

		if (p) {
			pthread_mutex_lock(&p->lock);
			heir = p->truncated && p->trunc_at == from && !p->stg;
			if (heir) {
				cut = fs_truncated_for_readers(p, size);
				p->trunc_at = to;
			}
			dead = !p->truncated || !p->readers || !p->trunc_at;
			pthread_mutex_unlock(&p->lock);
		}
		if (cut)
			fs_truncated_pages(fs, p->ino, size);
		else if (heir)
			fuse_lowlevel_notify_inval_inode(fs->se, p->ino, -1, 0);
		if (dead && inos[i] != from)
			heir_drop(fs, inos[i]);
		if (p)
			itable_put(fs, p, 0, 1);
	}
	free(inos);
}

/*
 * staged_old non-NULL: only a writer's staged bytes may be cut (-ESTALE
 * without one), and *staged_old gets their size before the cut.
 */
/* truncate_node's answer: the file's staging is another node's (fs_truncate). */
#define TRUNCATE_STAGER 1

static int truncate_node(struct mfs_fs *fs, struct mfs_node *n, uint64_t size,
			 struct fuse_file_info *fi, uint64_t *staged_old, int stager,
			 struct fs_moved *mv)
{
	uint64_t moved_to = 0, inval = 0, over = 0, heirs_to = 0, started = 0;
	int rc = 0, temporary = 0, now = 0, cut = 0;

	pthread_mutex_lock(&n->lock);
	if (!S_ISREG(n->rec.mode)) {
		rc = S_ISDIR(n->rec.mode) ? -EISDIR : -EINVAL;
		goto out;
	}
	if (staged_old) {
		/*
		 * The writer's bytes are what the path shows only while the
		 * inode of its view is the current version.  A writer closed
		 * before a newer commit (its RELEASE still on its way) keeps its
		 * view: its bytes cut and published came back over the newer
		 * version's (t0408: a truncate racing cp left an earlier copy).
		 */
		over = n->stg ? view_path_ino(n->stg) : 0;
		/* With no view, the stager's bytes are the path's if its last commit's inode is. */
		if (!over && stager && n->stg)
			over = n->stg->became_ino;
		if (!over || itable_follow(fs, over) != over) {
			rc = -ESTALE;
			goto out;
		}
		*staged_old = n->stg->size;
	}
	/*
	 * Every writer of n closed, its bytes published and superseded since
	 * (the RELEASEs are still on their way): they are not the path's
	 * any more, so as with no writer (below).
	 */
	if (!fi && !staged_old && n->stg && writers_closed(n) && fs_node_target(fs, n) != n->ino) {
		rc = -ESTALE;
		goto out;
	}
	if (!n->stg && fs_node_target(fs, n) != n->ino) {
		/*
		 * A version a commit superseded: the kernel drops the path's
		 * dentry only after that commit's reply, and a truncate(2) or
		 * open(O_TRUNC) racing with it still finds this inode.  Cut
		 * from this version's bytes, it published them over the newer
		 * one: truncate(100) and truncate(5000) at once left 5000 of
		 * the old bytes, the first cut undone (1 time in 3, t0406).
		 * On ESTALE the caller truncates the current version
		 * (fs_attr.c, truncate_file).
		 */
		rc = -ESTALE;
		goto out;
	}
	/*
	 * A writer of another inode of the file stages it (stager.c): a
	 * forked child whose opener's close left no view.  Cut here, this
	 * version's bytes were published and that writer's next commit
	 * publishes its own over them, the cut undone (t0429).  The caller
	 * cuts that staging (fs_truncate).  Not a staging whose chain leads
	 * elsewhere than n's (a peer replaced the file: stager_stale): its
	 * commit publishes nothing, and the cut was lost (t0435).
	 */
	if (!n->stg && !fi && !staged_old && !stager) {
		uint64_t s = stager_of(fs, fs_file_id(n));

		if (s && s != n->ino && itable_follow(fs, s) == itable_follow(fs, n->ino)) {
			rc = TRUNCATE_STAGER;
			goto out;
		}
	}
	if (!n->stg) {
		/* truncate(2) with no writer open: stage, cut, commit now. */
		if (size == n->rec.size) {
			/*
			 * Nothing to cut.  The kernel sends open(O_TRUNC) and
			 * truncate(2) alike (a size, no handle); O_TRUNC marks
			 * mtime and ctime even then, truncate(2) to the size the
			 * file has does not.  Only size 0 can be an O_TRUNC.
			 */
			if (!size && !fi) {
				clock_gettime(CLOCK_REALTIME, &n->rec.mtime);
				n->rec.ctime = n->rec.mtime;
				rc = fs_save_attrs(fs, n, MFS_ATTR_MTIME | MFS_ATTR_CTIME, &moved_to);
			}
			goto out;
		}
		if ((rc = staging_new(fs, &n->rec, &n->stg)))
			goto out;
		temporary = 1;
		if (n->rec.size) {
			if ((rc = fs_node_manifest(fs, n)))
				goto out;
			staging_set_base(n->stg, n->manifest);
		}
	}
	if ((rc = staging_truncate(fs, n->stg, size)))
		goto out;
	staging_touch(n->stg);
	/*
	 * Through a handle (ftruncate) it is a write like any other.  Without
	 * one while a writer is open it is, in practice, open(O_TRUNC) (the
	 * kernel sends it as a truncate right after the open): publish it at
	 * the last release, like the bytes that follow, not at the next flush.
	 * Unless every writer was closed already: then it is a truncate(2)
	 * after close(2) returned, which a read after it must see, and the
	 * release may come later than that read (t0330: an open right after
	 * truncate(2) read the bytes before it, 1 in 2,000 rounds).
	 */
	now = !fi && !temporary && writers_closed(n);
	if (fi && !temporary)
		started = view_on_write(fs, n); /* an ftruncate is a write */
	if (fi || temporary || now)
		n->stg->dirty = 1;
	else
		n->stg->publish_at_release = 1;
	inval = view_update(fs, n->stg);
	if (started)
		inval = started;
	if (temporary || now) {
		/* Over the version the bytes were cut from, and no newer one. */
		n->stg->publish_over = staged_old ? over : n->ino;
		rc = fs_commit(fs, n, &mv->ino, &mv->parent, &mv->name);
		n->stg->publish_over = 0;
	}
	if (temporary && !rc && mv->ino == n->ino) {
		cut = fs_truncated_for_readers(n, size);
		/* The inode published: its truncates reach n's readers, and older ones' (trunc_at). */
		heirs_to = itable_follow(fs, n->ino);
		if (n->truncated && n->readers) {
			n->trunc_at = heirs_to;
			heir_add(fs, n);
		}
	}
out:
	if (temporary) {
		staging_free(fs, n->stg);
		n->stg = NULL;
	}
	pthread_mutex_unlock(&n->lock);
	if (cut)
		fs_truncated_pages(fs, n->ino, size);
	if (heirs_to && heirs_to != n->ino)
		truncated_heirs(fs, n->ino, heirs_to, size);
	if (moved_to)
		fs_refresh(fs, moved_to);
	view_inval(fs, inval);
	return rc;
}

/*
 * A truncate(2) of the path whose file another node's writers stage with
 * no view on the path (stager.c): it cuts their staging, as
 * truncate_path (fs_attr.c) does through a view, and publishes it now if
 * they were all closed.  -ESTALE if that staging is not the path's
 * version (gone, or another commit came after it).
 */
static int truncate_stager(struct mfs_fs *fs, struct mfs_node *n, uint64_t size,
			   struct fs_moved *mv)
{
	uint64_t fid, ino, old = 0;
	struct mfs_node *s;
	int rc;

	pthread_mutex_lock(&n->lock);
	fid = fs_file_id(n);
	pthread_mutex_unlock(&n->lock);
	if (!(ino = stager_of(fs, fid)) || ino == n->ino || !(s = itable_hold(fs, ino)))
		return -ESTALE;
	pthread_mutex_lock(&s->lock);
	rc = stager_stale(fs, s, n);
	pthread_mutex_unlock(&s->lock);
	if (rc) {
		itable_put(fs, s, 0, 1);
		return -ESTALE;
	}
	/* Its dirty pages (a shared mapping) reach the staging before the cut. */
	fuse_lowlevel_notify_inval_inode(fs->se, ino, 0, 0);
	rc = truncate_node(fs, s, size, NULL, &old, 1, mv);
	itable_put(fs, s, 0, 1);
	/* Its inode's size and pages: its writer's reads past the cut find nothing. */
	if (!rc)
		fuse_lowlevel_notify_inval_inode(fs->se, ino, 0, 0);
	return rc;
}

int fs_truncate(struct mfs_fs *fs, struct mfs_node *n, uint64_t size, struct fuse_file_info *fi,
		struct fs_moved *mv)
{
	int rc = truncate_node(fs, n, size, fi, NULL, 0, mv);

	if (rc == TRUNCATE_STAGER && (rc = truncate_stager(fs, n, size, mv)) == -ESTALE)
		rc = truncate_node(fs, n, size, fi, NULL, 1, mv); /* n's own, as before */
	return rc;
}

int fs_truncate_staged(struct mfs_fs *fs, struct mfs_node *n, uint64_t size, uint64_t *old,
		       struct fs_moved *mv)
{
	return truncate_node(fs, n, size, NULL, old, 0, mv);
}
