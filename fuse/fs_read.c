/* SPDX-License-Identifier: Apache-2.0 */
/*
 * open, read and release.  The read path: find the chunks under the range in
 * the handle's pinned manifest, take each from the chunk cache (loading on a
 * miss, single-flight), and reply with an iovec pointing straight into the
 * cached chunks: no copy and no allocation per request.  Sequential readers
 * also queue the next chunks for the cache's prefetch threads.
 */
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "fs_internal.h"
#include "replica/replica.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/chunk/chunkstore.h"
#include "store/maint/gc.h"
#include "store/ns/namespace.h"

#define LOG_COMPONENT "fuse"

/* A 1 MiB request spans at most 6 chunks of >= 256 KiB; be generous. */
#define MAX_IOV 64

/*
 * src->lock held.  Can a reader follow src's writers (fs_internal.h note
 * 6)?  Only while every one of them writes through the page cache: then
 * src's pages hold what they wrote, and a follower's private mapping,
 * which the kernel fills from those pages even with direct I/O, reads
 * those bytes too.  A writer with direct I/O keeps src's pages for
 * readers of the old version: a new reader reads that version, as they do.
 */
static int followable(const struct mfs_node *src)
{
	return src->stg && src->writers && src->writers == src->cached_writers;
}

/*
 * src->lock held: reader h follows src's staged bytes from now on.  The
 * version a commit made of them is pinned now (n->became_m): nothing else
 * keeps its chunks from gc until the follower settles.
 */
static void follow_start(struct mfs_fs *fs, struct mfs_handle *h, struct mfs_node *src)
{
	/* Failed, became_m stays NULL and follow_end tries again. */
	if (src->became_set && src->became_has_manifest && !src->became_m)
		(void)fs_manifest_pinned(fs, &src->became, 1, &src->became_m);
	h->src = src;
	h->follower = 1;
	h->fnext = src->followers;
	src->followers = h;
	__atomic_store_n(&h->following, 1, __ATOMIC_RELEASE);
}

/*
 * src->lock held, followable(src): reader h, opening, follows the staged
 * bytes.  Direct I/O: the bytes move under it.
 */
static void follow(struct mfs_fs *fs, struct mfs_handle *h, struct mfs_node *src,
		   struct fuse_file_info *fi)
{
	follow_start(fs, h, src);
	fi->direct_io = 1;
}

/*
 * n->lock held.  How many of n's pinned readers process tgid opened and
 * holds the current version with (fs_internal.h note 7);
 * *closed (if not NULL): how many of those were closed (counted in
 * closing_readers), though a mapping or another descriptor may keep them.
 */
static int own_readers(struct mfs_node *n, pid_t tgid, int *closed)
{
	int own = 0;

	if (closed)
		*closed = 0;
	for (struct mfs_handle *h = n->pinned; h; h = h->pnext)
		if (h->m == n->manifest && (!h->follower || h->was_m == h->m) &&
		    h->tgid == tgid) {
			own++;
			if (closed && __atomic_load_n(&h->flushed, __ATOMIC_RELAXED))
				(*closed)++;
		}
	return own;
}

/*
 * Would a writer opening with fi adopt readers of its process (fs_internal.h
 * note 7)?  Only one that can map the file (O_RDWR: mmap needs read
 * access), so that cp, `>` and open('wb') (O_WRONLY; the kernel sends
 * their O_TRUNC as a truncate after the open) leave its process's readers
 * their version as before; and whose staging starts from the inode's own
 * version (not cur, no O_TRUNC).
 */
static int adopting(const struct fuse_file_info *fi, const struct mfs_manifest *cur)
{
	return !cur && (fi->flags & O_ACCMODE) == O_RDWR && !(fi->flags & O_TRUNC);
}

/*
 * n->lock held; n has no writer, and the one that opens (process tgid)
 * starts its staging from n's version, not cut (O_TRUNC).  Can it adopt
 * n's readers (fs_internal.h note 7)?  Only if every one of them reads
 * through the page cache, as open_locked opened it, pinning n's current
 * version (a reader opened during a commit, or a direct I/O follower that
 * settled on it, is not in n->pinned and keeps its version), and was opened by
 * process tgid; and n is the path's version, which no truncate(2), view
 * or kept commit changes for its readers.
 */
static int adoptable(struct mfs_fs *fs, struct mfs_node *n, pid_t tgid)
{
	if (!tgid || n->stg || n->readers == n->far_readers ||
	    n->readers - n->far_readers != n->cached_readers || n->gone ||
	    n->truncated || n->kept || (n->rec.flags & MFS_I_PENDING) ||
	    view_writer(fs, n->ino) || fs_node_target(fs, n) != n->ino || fs_node_manifest(fs, n))
		return 0;
	return own_readers(n, tgid, NULL) == n->readers - n->far_readers;
}

/*
 * n->lock held, adoptable(n) and n's staging made from n->manifest: n's
 * readers follow it (fs_internal.h note 7).  They keep their descriptors'
 * page cache, whose pages are the staging's bytes now, and the version
 * they pinned (h->was_m) for their READs under way, which read the same
 * bytes.  They count in no node's readers from now on, so the writer that
 * opens goes through the page cache (open_locked).
 */
static void adopt_readers(struct mfs_fs *fs, struct mfs_node *n)
{
	struct mfs_handle *h;

	while ((h = n->pinned)) {
		n->pinned = h->pnext;
		h->pnext = NULL;
		n->readers--;
		n->cached_readers--;
		/* A follower is no closing reader (fs_op_close_flush). */
		if (__atomic_exchange_n(&h->flushed, 0, __ATOMIC_RELAXED))
			__atomic_sub_fetch(&n->closing_readers, 1, __ATOMIC_RELAXED);
		/* Adopted before, settled on n's version (follow_end): was_m is it. */
		if (h->follower)
			__atomic_store_n(&h->counted, 0, __ATOMIC_RELAXED);
		else
			h->was_m = mfs_manifest_ref(h->m);
		follow_start(fs, h, n);
	}
	log_info("inode %016llx: a writer of the process that reads it opened it: its readers "
		 "read what it writes", (unsigned long long)n->ino);
}

/*
 * A reader opening n while a writer goes on writing, on an older inode of
 * the path, after a commit gave the path n (view.c): it follows that
 * writer's staged bytes as a reader of the writer's own inode does.  1 if
 * h follows them; src stays held (an open) until h closes.  No lock held:
 * a node lock is never taken under another.  While that writer commits, n
 * opens at once and reads n's version (a direct I/O reader of a view).
 */
static int follow_view(struct mfs_fs *fs, struct mfs_node *n, struct mfs_handle *h,
		       struct fuse_file_info *fi)
{
	uint64_t w = view_writer(fs, n->ino);
	struct mfs_node *src;

	if (!w || w == n->ino || !(src = itable_hold(fs, w)))
		return 0;
	/* The writer's commit may hold it long: then n's version, as before. */
	if (!pthread_mutex_trylock(&src->lock)) {
		if (followable(src))
			follow(fs, h, src, fi);
		pthread_mutex_unlock(&src->lock);
	}
	if (!h->follower) {
		itable_put(fs, src, 0, 1);
		return 0;
	}
	h->node = n;
	return 1;
}

/*
 * h, opened on n, writes src's staging as a joined writer: with direct
 * I/O, n's pages being another version's (join_view, join_current,
 * stager.c).
 * src->lock held.
 */
void fs_join_writer(struct mfs_handle *h, struct mfs_node *n, struct mfs_node *src,
		    struct fuse_file_info *fi)
{
	h->node = src;
	h->joined = n;
	__atomic_add_fetch(&n->joiners, 1, __ATOMIC_RELAXED);
	h->writable = 1;
	fi->direct_io = 1;
	h->cached = 1;
	src->cached_writers++;
	src->joined_writers++;
	src->writers++;
}

/*
 * A writer opening n while a writer goes on writing, on an older inode of
 * the path, after a commit gave the path n (view.c): on tmpfs both write
 * one file, so h writes that writer's staging (fs_internal.h note 4).
 * Its own staging would start from n's version, the bytes of that
 * commit, and miss what the other writer did since: a truncate of the
 * path (this writer's O_TRUNC, which reaches the staging through the
 * view) or a write.  A rewrite shorter than the synced bytes then kept
 * their tail (review s38).  h->node is the writer's node, held until h
 * closes, and h->joined n.  Direct I/O: n's pages are not the staging's,
 * and the other writer's writes never reach them.  It counts among the
 * node's cached writers all the same, so readers still follow the staged
 * bytes (followable): its writes drop the node's pages they cover
 * (fs_op_write), which a follower's private mapping is filled from.  1 if
 * h joined, 0 if not (no such writer, or its view moved on meanwhile), or
 * -errno.  No lock held: a node lock is never taken under another.
 *
 * A shared view (view.c) is joined through the writer's own inode, with
 * its page cache: the path's lookup gives that inode.  An open that
 * found n all the same (its dentry was looked up just before the view
 * began, as the commit published) answers ESTALE the first time, and the
 * kernel looks the path up again (first: fs_op_open).
 */
static int join_view(struct mfs_fs *fs, struct mfs_node *n, struct mfs_handle *h,
		     struct fuse_file_info *fi, int first)
{
	uint64_t w = view_writer(fs, itable_follow(fs, n->ino)), inval = 0;
	struct mfs_node *src;
	int rc = 0, cut = 0;

	if (!w || w == n->ino || fs->cfg->ro || mfs_rev_is_ino(n->ino))
		return 0;
	if (first && view_lookup_writer(fs, itable_follow(fs, n->ino)) == w)
		return -ESTALE;
	if (!(src = itable_hold(fs, w)))
		return 0;
	pthread_mutex_lock(&src->lock);
	/*
	 * Its view is still on the path's version: n, or the one a commit of
	 * that writer published over n while this open waited for its lock
	 * (or a dentry of n led here after it: open_superseded).
	 */
	if (!src->stg || !src->writers ||
	    view_path_ino(src->stg) != itable_follow(fs, n->ino)) {
		pthread_mutex_unlock(&src->lock);
		itable_put(fs, src, 0, 1);
		return 0;
	}
	/* The kernel sends O_TRUNC as a truncate of the path (that goes through the view)... */
	if (fi->flags & O_TRUNC) {
		/* ... but for a create that found the file: cut it here. */
		if (!(rc = staging_truncate(fs, src->stg, 0))) {
			staging_touch(src->stg);
			src->stg->publish_at_release = 1;
			inval = view_update(fs, src->stg);
			cut = 1;
		}
	}
	if (!rc)
		fs_join_writer(h, n, src, fi);
	pthread_mutex_unlock(&src->lock);
	h->owed_attrs = inval;
	h->owed_pages = cut ? src->ino : 0; /* the other writer's pages and size */
	if (rc) {
		itable_put(fs, src, 0, 1);
		return rc;
	}
	/* As open_locked says of its direct writers: an mmap's ENODEV is explained here. */
	if (!__atomic_exchange_n(&src->said_direct, 1, __ATOMIC_RELAXED))
		log_info("inode %016llx: a writer opened it while inode %016llx writes on after a "
			 "commit: it writes that one's staged bytes with direct I/O, shared writable "
			 "mmap gives ENODEV", (unsigned long long)n->ino, (unsigned long long)src->ino);
	return 1;
}

/*
 * Sets up n for a new handle; n->lock held.  See fs_internal.h note 3.
 * cur: for a writer of a superseded n (open_superseded), the current
 * version, which its staging starts from.
 */
static int open_locked(struct mfs_fs *fs, struct mfs_node *n, struct mfs_handle *h,
		       struct fuse_file_info *fi, int created, struct mfs_manifest *cur, pid_t tgid)
{
	int rc, adopt = 0, made = 0;

	if (S_ISDIR(n->rec.mode))
		return -EISDIR;
	if (!S_ISREG(n->rec.mode))
		return -EINVAL;
	h->node = n;
	/*
	 * The creator's handle stages and publishes the new file whatever its
	 * access mode; the kernel refuses writes on a read-only descriptor
	 * before they reach us.
	 */
	h->writable = created || (fi->flags & O_ACCMODE) != O_RDONLY;
	if (!h->writable && followable(n)) {
		follow(fs, h, n, fi); /* it reads what the writer wrote */
		return 0;
	}
	if (!h->writable) {
		/* cur: the current version, for a reader of a lent n (open_superseded). */
		if (!cur && (rc = fs_node_manifest(fs, n)))
			return rc;
		h->m = mfs_manifest_ref(cur ? cur : n->manifest);
		n->readers++;
		/*
		 * While a writer has bytes staged, a new reader bypasses the page
		 * cache: a writer of a new file writes through it, and the size
		 * the kernel has is the writer's, not that of the version this
		 * reader pinned (a mapping past its end would SIGBUS).  Its
		 * shared mmap gives ENODEV instead; reads work.  So too while
		 * a writer on an older inode of the path, that synced and
		 * writes on, lends this inode its size (view.c).  So too
		 * on a version a commit superseded (a reader in the kernel's
		 * retry, or one whose open was checked just before the commit):
		 * a writer through the page cache left the newer version's
		 * bytes in this inode's, and a reader that read through it got
		 * them, another version's, and its own from there on (t0408,
		 * read-cp: 1 run in 5).
		 */
		if (cur || n->stg || view_writer(fs, n->ino) || fs_node_target(fs, n) != n->ino) {
			fi->direct_io = 1;
		} else {
			fi->keep_cache = 1;
			h->cached = 1;
			n->cached_readers++;
			h->tgid = tgid;
			h->pnext = n->pinned;
			n->pinned = h;
		}
		return 0;
	}
	if (fs->cfg->ro || mfs_rev_is_ino(n->ino))
		return -EROFS;
	if (n->stg) {
		cur = NULL; /* a writer opened it before: this one shares its bytes */
		/*
		 * Every writer had closed when their commit gave the path a new
		 * inode, so it made no view (fs_write.c), and only their
		 * RELEASEs keep the staging: this open came in during that
		 * commit, on the inode it superseded.  It writes on those bytes
		 * now, as a writer that goes on after a commit does, and the
		 * path's inode must show them: a writer that opens the path
		 * then joins this staging (join_view), a reader follows it.
		 * Without the view, the next writer started from the commit's
		 * bytes beside this one, and the later close of the two undid
		 * the other's update (two processes counting under lockf
		 * lost 1 in 10, t0426).
		 */
		if (!n->stg->view && n->stg->became_ino &&
		    fs_node_target(fs, n) == n->stg->became_ino)
			view_start(fs, n->stg, n->ino, n->stg->became_ino,
				   n->writers == n->cached_writers && !n->joined_writers &&
					   n->readers == n->far_readers);
	} else {
		/* Its own process's readers read what it writes (fs_internal.h note 7). */
		adopt = adopting(fi, cur) && adoptable(fs, n, tgid);
		if ((rc = staging_new(fs, &n->rec, &n->stg)))
			return rc;
		stager_add(fs, n); /* the file's one staging: its other inodes' writers join it */
		made = 1;
		/* Its bytes start as n's version: a new file's are no version yet. */
		n->stg->published = !cur && !(n->rec.flags & MFS_I_PENDING);
		if (cur) {
			if (cur->size)
				staging_set_base(n->stg, cur);
		} else if (!(fi->flags & O_TRUNC) && n->rec.size) {
			if ((rc = fs_node_manifest(fs, n))) {
				stager_remove(fs, n);
				staging_free(fs, n->stg);
				n->stg = NULL;
				return rc;
			}
			staging_set_base(n->stg, n->manifest);
		}
	}
	if (fi->flags & O_TRUNC) {
		if ((rc = staging_truncate(fs, n->stg, 0))) {
			/* This open's staging has no writer: listed, it stayed till node_free. */
			if (made) {
				stager_remove(fs, n);
				staging_free(fs, n->stg);
				n->stg = NULL;
			}
			return rc;
		}
		staging_touch(n->stg);
		n->stg->publish_at_release = 1;
	}
	/*
	 * A writer of a superseded n stages the current version's bytes here:
	 * the path's inode shows them, and a writer that opens it joins this
	 * staging (join_view) instead of staging that version a second time
	 * (two processes counting under lockf lost 1 turn in 20-40, t0427).
	 * Not shared: this writer writes with direct I/O (view.c).
	 */
	if (cur && !n->stg->view) {
		uint64_t path = fs_node_target(fs, n);

		if (path != n->ino)
			view_start(fs, n->stg, n->ino, path, 0);
	}
	if (adopt)
		adopt_readers(fs, n);
	/*
	 * Rewriting a published file while readers have the old version open:
	 * keep the new bytes out of this inode's page cache, which is theirs.
	 * Without readers the writer goes through the page cache like a new
	 * file's (so shared writable mmap works: np.memmap(mode='r+')); readers
	 * that open meanwhile bypass it (open above), and the commit moves the
	 * path to a new inode with a page cache of its own.  Cached and direct
	 * writers are never mixed on one inode.
	 */
	/* n's page cache and size are its own version's, not cur's bytes. */
	if (cur)
		fi->direct_io = 1;
	else if (!(n->rec.flags & MFS_I_PENDING) &&
		 (n->readers > n->far_readers || n->writers > n->cached_writers)) {
		fi->direct_io = 1;
		if (!__atomic_exchange_n(&n->said_direct, 1, __ATOMIC_RELAXED))
			log_info("inode %016llx: rewritten while %d reader(s) hold the old version "
				 "or another writer writes directly: writes bypass the page cache, "
				 "shared writable mmap gives ENODEV",
				 (unsigned long long)n->ino, n->readers);
	}
	h->cached = !fi->direct_io;
	n->cached_writers += h->cached;
	n->writers++;
	return 0;
}

/* At most this many 1 ms naps (see wait_closing_readers). */
#define CLOSING_WAIT_NAPS 1000

/*
 * A writer that finds readers, all of whose descriptors were closed,
 * waits for their RELEASE (n->lock held; dropped while it naps).  FUSE
 * sends RELEASE in the background after close(2) returned, so a file read
 * and closed just before would otherwise count as "rewritten while readers
 * hold the old version", and the writer's shared mmap would get ENODEV at
 * random (read, close, open O_RDWR, mmap MAP_SHARED: 1 to 9 times in 200;
 * np.memmap(mode='r+') after np.load(mmap_mode='r'): t0402, t1470).  A
 * reader that lives on in another descriptor (dup, fork) or in a mapping
 * that reads from the page cache keeps the rule: after the naps the writer
 * bypasses the page cache as before; only readers gone let it use it.
 * Readers of the writer's own process it may adopt (adopt_tgid: its
 * process, or 0 when it cannot: fs_internal.h note 7) need not go, even
 * closed (a mapping keeps np.load(mmap_mode='r')'s): it waits while the
 * others are all closing, and not at all for its own.
 */
static int others_closing(struct mfs_node *n, pid_t adopt_tgid)
{
	int closing = __atomic_load_n(&n->closing_readers, __ATOMIC_RELAXED), own, own_closed;

	if (!n->readers || !closing)
		return 0;
	if (!adopt_tgid || n->stg)
		return n->readers == closing;
	/* Readers of another process are left, every one of them closing. */
	own = own_readers(n, adopt_tgid, &own_closed);
	return own < n->readers && n->readers - own == closing - own_closed;
}

static void wait_closing_readers(struct mfs_node *n, pid_t adopt_tgid)
{
	struct timespec nap = { 0, 1000000 };

	for (int i = 0; i < CLOSING_WAIT_NAPS && others_closing(n, adopt_tgid) &&
			n->writers == n->cached_writers && !(n->rec.flags & MFS_I_PENDING);
	     i++) {
		pthread_mutex_unlock(&n->lock);
		nanosleep(&nap, NULL);
		pthread_mutex_lock(&n->lock);
	}
}

/*
 * The same the other way round: a reader that finds a writer's staged
 * bytes, every writer closed and those bytes published in place (a new
 * file's close), waits for the writers' RELEASE (n->lock held; dropped
 * while it naps).  Staged bytes make a reader bypass the page cache
 * (open_locked), and its shared mmap then gives ENODEV, though its
 * version is the one the writer's close(2) published: open right after
 * close, then mmap, failed whenever the RELEASE came late (t0412's
 * first round, 1 to 4 in 2,000 under load; 20 ms late, every time).  A
 * writer that lives on in another descriptor (dup, fork) or in a
 * mapping keeps the rule: after the naps the reader bypasses the page
 * cache as before, since that writer may write through it again.
 */
static void wait_released_writers(struct mfs_fs *fs, struct mfs_node *n)
{
	struct timespec nap = { 0, 1000000 };

	for (int i = 0; i < CLOSING_WAIT_NAPS && fs_staging_published(fs, n) &&
			!view_writer(fs, n->ino);
	     i++) {
		pthread_mutex_unlock(&n->lock);
		nanosleep(&nap, NULL);
		pthread_mutex_lock(&n->lock);
	}
}

/*
 * n->lock held.  A new file never published, gone (unlinked, or dropped
 * after its last writer left: drop_unpublished, whose removal fails while
 * the store's disk is full, leaving the name), whose readers keep the
 * bytes written: n shows their size (followers_settle), but n's version is
 * empty.  A reader of it would read nothing below that size, and that
 * short read made the kernel shrink the size for the readers keeping the
 * bytes too: they then read nothing (a disk full at the release, s39).
 * Such an open (the name left, a reopen through /proc/PID/fd, a lookup
 * just before the unlink) answers ENOENT.  NEEDSWORK: tmpfs gives the
 * bytes; the opener could share a keeper's descriptor.
 */
static int unpublished_gone(const struct mfs_node *n)
{
	return n->gone && (n->rec.flags & MFS_I_PENDING) && !n->stg && n->rec.size;
}

static int drop_unpublished(struct mfs_fs *fs, uint64_t parent, char *name, uint64_t ino);

/* open_node's answer when a commit moved the path on while a writer's open waited. */
#define OPEN_MOVED 1
/*
 * open_node's answer to a reader of a lent n (a shared view's writer)
 * whose view ended, its staging gone: n's own version is older than what
 * the path showed meanwhile (open_superseded).
 */
#define OPEN_CURRENT 2
/* A writer's opens at most, commits racing it; the last one takes the version it finds. */
#define OPEN_TRIES 64

/*
 * first: an ESTALE now is the open(2)'s first, which the kernel retries
 * with a fresh lookup of the path (fs_op_open).  from: for a writer, the
 * inode whose version its staging is to start from (n's own, or cur's);
 * if a commit moved the path past it while this open waited for n's
 * lock, 1 (OPEN_MOVED): the caller looks again.  0: no such check.
 */
static int open_node(struct mfs_fs *fs, struct mfs_node *n, struct fuse_file_info *fi, int created,
		     struct mfs_manifest *cur, int first, pid_t tid, uint64_t from)
{
	int rc, reader = !created && (fi->flags & O_ACCMODE) == O_RDONLY;
	/* The opener's process: readers record it, writers that may adopt them compare it (note 7). */
	pid_t tgid = reader || adopting(fi, cur) ? fs_tgid_of(tid) : 0;
	struct mfs_handle *h = calloc(1, sizeof(*h));
	struct fs_pending *p = NULL;
	char *drop_name = NULL;
	uint64_t drop_parent = 0;

	if (!h)
		return -ENOMEM;
	/* A writer goes on after a commit moved the path to n: its bytes (note 6). */
	if (reader && S_ISREG(n->rec.mode) && follow_view(fs, n, h, fi)) {
		fi->fh = (uintptr_t)h;
		return 0;
	}
	/*
	 * The same for a writer: it writes that writer's bytes; or, with no
	 * view, those of any writer of the file (stager.c).
	 */
	if (!reader && !created && S_ISREG(n->rec.mode) &&
	    ((rc = join_view(fs, n, h, fi, first)) || (rc = stager_join(fs, n, h, fi, first, tid)))) {
		if (rc < 0) {
			free(h);
			return rc;
		}
		fi->fh = (uintptr_t)h;
		return 0;
	}
	if (!reader) {
		/* A writer waits for a commit under way: commit_open.c, note 6. */
		pthread_mutex_lock(&n->lock);
		wait_closing_readers(n, adopting(fi, cur) ? tgid : 0);
		/*
		 * A commit of another writer's staging published over `from`
		 * while this open waited (for n's lock, in join_view for the
		 * committing writer's, or in the naps above): a staging made
		 * now would start from the bytes before it, and this writer's
		 * close publish them over that commit's (two processes
		 * counting in a file under lockf lost 1 update in 10, t0426).
		 * A staging already there is shared: it has the bytes.
		 */
		if (from && !n->stg && fs_node_target(fs, n) != from) {
			pthread_mutex_unlock(&n->lock);
			free(h);
			return OPEN_MOVED;
		}
	} else if (!fs_node_lock_open(fs, n, &p)) {
		/* A new file's commit runs: its bytes, at once (commit_open.c). */
		h->node = n;
		fs_pending_open(h, p, fi);
		fi->fh = (uintptr_t)h;
		return 0;
	}
	if (reader)
		wait_released_writers(fs, n);
	/*
	 * A commit that ended while this open waited for it, or just before,
	 * moved the path to a new inode: the bytes the writer wrote are there,
	 * and this inode keeps the old version's for its readers (commit_open.c,
	 * note 2).  The kernel's retry opens the new one.
	 */
	if (reader && first && !cur && fs_node_target(fs, n) != n->ino) {
		rc = -ESTALE;
	} else if (reader && !cur && !n->stg && __atomic_load_n(&n->lent, __ATOMIC_RELAXED) &&
		   fs_node_target(fs, n) != n->ino) {
		rc = OPEN_CURRENT;
	} else if (n->drop_failed && !n->stg && n->rec.name) {
		/*
		 * Its name stayed when it went (drop_failed): a writer's bytes
		 * would go with the node, its close saying 0 (a download tried
		 * again once the disk is freed; a restart then removed the
		 * name).  The removal again; the kernel's retry then finds no
		 * name, and an O_CREAT makes a new file.
		 */
		rc = (drop_name = strdup(n->rec.name)) ? 0 : -ENOMEM;
		drop_parent = n->rec.parent;
		n->drop_failed = !drop_name;
	} else if (reader && unpublished_gone(n)) {
		rc = -ENOENT;
	} else {
		rc = open_locked(fs, n, h, fi, created, cur, tgid);
	}
	pthread_mutex_unlock(&n->lock);
	if (drop_name) {
		if ((rc = drop_unpublished(fs, drop_parent, drop_name, n->ino))) {
			pthread_mutex_lock(&n->lock);
			n->drop_failed = 1;
			pthread_mutex_unlock(&n->lock);
		} else {
			rc = first ? -ESTALE : -ENOENT;
		}
	}
	if (rc) {
		free(h);
		return rc;
	}
	fi->fh = (uintptr_t)h;
	/* Loaders read the whole file anyway: fetch it all now, in the background. */
	if (fs->replica && fs->cfg->prefetch_open && h->m && h->m->count)
		mfs_replica_warm(fs->replica, h->m, (uint16_t)(n->ino >> 48));
	return 0;
}

/*
 * A writer opening n, superseded, while c, the path's current inode, has
 * writers: on tmpfs they write one file, so h writes c's staging, as a
 * joined writer does (join_view): h->node is c (the caller's hold on c
 * goes to h), h->joined n, direct I/O (n's pages are another version's).
 * A staging of its own here would start from c's version and miss what
 * c's writers write: one of the two closes then undid the other's update
 * (two processes counting under lockf, t0427).  1 if h joined, 0 if c has
 * no writer, -errno.  c->lock taken, no other lock held.
 */
static int join_current(struct mfs_fs *fs, struct mfs_node *n, struct mfs_node *c,
			struct fuse_file_info *fi)
{
	struct mfs_handle *h;
	int rc = 0, cut = 0;

	if (c == n || fs->cfg->ro || mfs_rev_is_ino(n->ino) || !S_ISREG(c->rec.mode))
		return 0;
	if (!(h = calloc(1, sizeof(*h))))
		return -ENOMEM;
	pthread_mutex_lock(&c->lock);
	if (!c->stg || !c->writers || fs_node_target(fs, c) != c->ino) {
		pthread_mutex_unlock(&c->lock);
		free(h);
		return 0;
	}
	if ((fi->flags & O_TRUNC) && !(rc = staging_truncate(fs, c->stg, 0))) {
		staging_touch(c->stg);
		c->stg->publish_at_release = 1;
		cut = 1;
	}
	if (!rc)
		fs_join_writer(h, n, c, fi);
	pthread_mutex_unlock(&c->lock);
	if (rc) {
		free(h);
		return rc;
	}
	h->owed_pages = cut ? c->ino : 0; /* the other writers' pages and size */
	fi->fh = (uintptr_t)h;
	return 1;
}

/*
 * Test only (MODELFS_TEST_OPEN_HOLD=PATH, t0431): a reader's open of a
 * shared view's writer inode waits there (fs_test_hold) once it decided
 * to open that inode.  Read here, not in daemon.c's settings: one hook
 * of this file's.
 */
static const char *open_hold(void)
{
	static const char *path;
	static int read;

	if (!__atomic_load_n(&read, __ATOMIC_ACQUIRE)) {
		path = getenv("MODELFS_TEST_OPEN_HOLD");
		__atomic_store_n(&read, 1, __ATOMIC_RELEASE);
	}
	return path;
}

/*
 * An open of inode ino, which a commit superseded, through a dentry of
 * the path the kernel has not dropped yet (it drops it only after the
 * commit's reply).  A reader must not read that version (a caller whose
 * truncate(2) had returned read the bytes from before it, t0395), and its
 * inode's size and pages are that version's, which a reader goes by: it
 * gets ESTALE, and the kernel looks the path up again and retries.  Only
 * once, though, and with truncates of the path committing back to back
 * the retry met a superseded version again: a cp over the path failed
 * with ESTALE (t0408, 1 to 3 opens in 100).  A writer needs none of that
 * version: it opens here, its staged bytes start as the current version's
 * (the one the successor links lead to), it bypasses the inode's page
 * cache, and its commit goes to the current version as any writer's
 * through an old inode does (fs_commit).  A file removed since: ESTALE,
 * and the kernel finds what the path names now.
 *
 * A reader in the kernel's retry (`retried`: its fresh lookup of the path
 * gave n, superseded since, itable_retry_take) opens n's version.  n was
 * the path's file during the call, and its reader reads n's version as one
 * that opened just before the commit does, so read(2), fstat and a mapping
 * go by n's size (or the truncates' that reached it).  No ESTALE again:
 * the kernel would not retry (two readers against three truncaters of a
 * path: 98 to 160 of 4,800 opens failed, t0408).  It reads with direct
 * I/O (open_locked), as any reader of a superseded inode does.
 *
 * n with a shared view on the path's inode (view.c) is what a lookup of
 * the path gives: the writer's, whose staging its openers share, as on
 * any inode with a writer (open_locked: a writer shares it whatever cur,
 * a reader follows it).  Once that
 * view ended, a writer that opens n through a dentry from then (lent)
 * answers ESTALE the first time, as a reader does: its staging would
 * start from the current version, with direct I/O, and each opener after
 * it would share that through n.  An older inode than the shared view's
 * writer (its dentry was looked up as a commit moved the path on) answers
 * ESTALE the first time too: the kernel's retry opens the writer's.  A
 * reader of n (lent) whose view ended before its open got n's lock never
 * reads n's own version, which the path never showed while n was lent:
 * ESTALE the first time, the current version in the kernel's retry
 * (OPEN_CURRENT; t0431).
 */
static int open_superseded(struct mfs_fs *fs, struct mfs_node *n, struct fuse_file_info *fi,
			   int retried, int last)
{
	uint64_t shared = view_lookup_writer(fs, itable_follow(fs, n->ino)), to, settled;
	struct mfs_manifest *cur = NULL;
	struct mfs_node *c;
	uint64_t from;
	int rc, staged;

	/* A dentry from before the view began: the lookup gives the writer's inode. */
	if (shared && shared != n->ino && retried < 0)
		return -ESTALE;
	if ((fi->flags & O_ACCMODE) == O_RDONLY) {
		if (retried <= 0 && shared != n->ino)
			return -ESTALE;
		if (open_hold())
			fs_test_hold(open_hold()); /* t0431: the view may end meanwhile */
		if ((rc = open_node(fs, n, fi, 0, NULL, 0, 0, 0)) != OPEN_CURRENT)
			return rc;
		/*
		 * The view that lent n ended (its writer's last RELEASE) after
		 * the lookup gave n: n's own version is the one from before
		 * that writer's first commit, and the fsync and close that
		 * followed had returned (review2 s41 #2, #3).  The kernel's
		 * retry looks the path up again; a reader in that retry
		 * already reads the current version.
		 */
		if (retried < 0)
			return -ESTALE;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY && retried < 0 &&
	    __atomic_load_n(&n->lent, __ATOMIC_RELAXED)) {
		pthread_mutex_lock(&n->lock);
		staged = !!n->stg;
		pthread_mutex_unlock(&n->lock);
		if (!staged)
			return -ESTALE;
	}
	/*
	 * A commit publishing over the current version deleted its record and
	 * has not linked its successor yet: that one, as current_version
	 * (fs_attr.c) does.  A lookup that gives a shared view's writer makes
	 * the kernel's retry land here, beside commits of the path.
	 */
	to = itable_follow(fs, n->ino);
	c = itable_get(fs, to, NULL, 0, 1, &rc);
	while (!c && rc == -ENOENT && (settled = itable_follow_settled(fs, n->ino)) != to)
		c = itable_get(fs, to = settled, NULL, 0, 1, &rc);
	if (!c)
		return rc == -ENOENT ? -ESTALE : rc;
	/* The current inode's writers stage the file: this one writes there too. */
	if ((fi->flags & O_ACCMODE) != O_RDONLY && (rc = join_current(fs, n, c, fi))) {
		if (rc < 0)
			itable_put(fs, c, 0, 1);
		return rc < 0 ? rc : 0; /* joined: c's hold is h's */
	}
	from = c->ino;
	pthread_mutex_lock(&c->lock);
	if (!(rc = fs_node_manifest(fs, c)))
		cur = mfs_manifest_ref(c->manifest);
	pthread_mutex_unlock(&c->lock);
	itable_put(fs, c, 0, 1);
	if (!rc)
		rc = open_node(fs, n, fi, 0, cur, 0, 0,
			       last || (fi->flags & O_ACCMODE) == O_RDONLY ? 0 : from);
	mfs_manifest_unref(cur);
	return rc;
}

/* The writer-open lock of n's file: by its file id, which all its inodes share. */
static pthread_mutex_t *writer_open_lock(struct mfs_fs *fs, struct mfs_node *n)
{
	uint64_t fid;

	pthread_mutex_lock(&n->lock);
	fid = fs_file_id(n);
	pthread_mutex_unlock(&n->lock);
	return &fs->writer_open_locks[fid % WRITER_OPEN_STRIPES];
}

/* The notifies an open's O_TRUNC of another node's staging owed (no lock held). */
static void open_notify(struct mfs_fs *fs, struct mfs_handle *h)
{
	view_inval(fs, h->owed_attrs);
	if (h->owed_pages)
		fuse_lowlevel_notify_inval_inode(fs->se, h->owed_pages, 0, 0);
	h->owed_attrs = h->owed_pages = 0;
}

/* h's opener's process: closes_writer's, and a writer's node's for stager_join. */
static void note_opener(struct mfs_handle *h, pid_t tid)
{
	h->opener = fs_tgid_of(tid);
	if (h->writable && h->opener > 0)
		__atomic_store_n(&h->node->writer_tgid, h->opener, __ATOMIC_RELAXED);
}

/*
 * Opens n, the inode the kernel names (ino), for fs_op_open and for
 * fs_op_create that found the file: a writer under its file's
 * writer-open lock, and again while commits move the path on under it
 * (open_node's from).  retried: itable_retry_take's.  *superseded: n was
 * a superseded version.  0 with fi->fh set, or -errno.
 */
static int open_path_node(struct mfs_fs *fs, struct mfs_node *n, struct fuse_file_info *fi,
			  int retried, pid_t tid, int *superseded)
{
	/* Writers of one file share its one staging (fs_internal.h, writer_open_locks). */
	pthread_mutex_t *wlock =
		(fi->flags & O_ACCMODE) != O_RDONLY ? writer_open_lock(fs, n) : NULL;
	uint64_t ino = n->ino;
	int rc;

	if (wlock)
		pthread_mutex_lock(wlock);
	for (int tries = 0;; tries++) {
		int last = tries == OPEN_TRIES - 1;

		*superseded = itable_follow(fs, ino) != ino;
		rc = *superseded ? open_superseded(fs, n, fi, retried, last)
				 : open_node(fs, n, fi, 0, NULL, retried < 0, tid, last ? 0 : ino);
		/* OPEN_CURRENT: superseded since the check, open_superseded's now. */
		if (rc != OPEN_MOVED && rc != OPEN_CURRENT)
			break;
	}
	if (rc > 0) /* never a handle: the path moved on 64 times */
		rc = -ESTALE;
	if (wlock)
		pthread_mutex_unlock(wlock);
	if (!rc)
		open_notify(fs, (struct mfs_handle *)(uintptr_t)fi->fh);
	return rc;
}

void fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mfs_fs *fs = req_fs(req);
	pid_t tid = fuse_req_ctx(req)->pid;
	int rc, superseded, retried;
	struct mfs_node *n;

	/* The inode a commit just gave the path: its view first (fs_write.c). */
	itable_wait_views(fs);
	retried = itable_retry_take(fs, tid, ino);

	if (!(n = itable_get(fs, ino, NULL, 0, 1, &rc))) {
		fuse_reply_err(req, mfs_errno(rc));
		return;
	}
	rc = open_path_node(fs, n, fi, retried, tid, &superseded);
	if (rc) {
		itable_put(fs, n, 0, 1);
		/* Before the reply: the kernel's retry follows it.  It retries once. */
		if (rc == -ESTALE && retried < 0)
			itable_retry_begin(fs, tid);
		fuse_reply_err(req, mfs_errno(rc));
		return;
	}
	note_opener((struct mfs_handle *)(uintptr_t)fi->fh, tid);
	if (fuse_reply_open(req, fi)) { /* the opener was interrupted */
		fs_handle_close(fs, (struct mfs_handle *)(uintptr_t)fi->fh);
		return;
	}
	/* A writer of a superseded version: its size is the staged one now (attributes only). */
	if (superseded)
		fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
}

/*
 * A file this create made opens as itself; one the create found
 * (O_CREAT without O_EXCL, another process made it first) opens as
 * fs_op_open opens it: a writer under its file's writer-open lock, so it
 * shares the file's one staging (stager.c), and an ESTALE the kernel
 * retries with a lookup, which then finds the file (review2 s41 #7: it
 * joined a shared view directly, and no lock kept a second staging out).
 */
int fs_open_node(struct mfs_fs *fs, struct mfs_node *n, struct fuse_file_info *fi, int created,
		 pid_t tid)
{
	int rc, superseded;

	rc = created ? open_node(fs, n, fi, 1, NULL, 0, tid, 0)
		     : open_path_node(fs, n, fi, -1, tid, &superseded);
	if (!rc)
		note_opener((struct mfs_handle *)(uintptr_t)fi->fh, tid);
	else if (rc == -ESTALE && !created)
		itable_retry_begin(fs, tid);
	return rc;
}

/*
 * n->lock held, follower h settled on m, the version n's last commit
 * published on a newer inode.  While that inode still has it, h is one of
 * its readers, as one that opened it is: a truncate(2) of the path reaches
 * that inode, and cuts or grows what its readers read
 * (fs_truncated_for_readers), h's too, as on tmpfs, where they are one
 * file.  Counted in no node's readers, h read the version whole: 10 bytes
 * after a truncate(2) to 3 that its fstat showed (s38 review, finding 7).
 * Only tried: the newer node's lock is taken while n's is held.
 */
static void read_as_current(struct mfs_fs *fs, struct mfs_handle *h, struct mfs_node *n)
{
	uint64_t to = itable_follow(fs, n->ino);
	struct mfs_node *b;
	int rc;

	if (to == n->ino || !n->became_has_manifest || !(b = itable_get(fs, to, NULL, 0, 1, &rc)))
		return;
	if (pthread_mutex_trylock(&b->lock)) {
		itable_put(fs, b, 0, 1);
		return;
	}
	if (!b->gone && b->rec.has_manifest &&
	    !memcmp(b->rec.manifest.b, n->became.b, MFS_HASH_LEN) && !fs_node_manifest(fs, b)) {
		mfs_manifest_unref(h->m);
		h->m = mfs_manifest_ref(b->manifest);
		b->readers++;
		b->far_readers++; /* its page cache is n's: a writer of b may use b's */
		h->reader_of = b; /* b's hold is h's now (follower_close) */
		__atomic_store_n(&h->counted, 1, __ATOMIC_RELEASE); /* after reader_of: close_flush */
		b = NULL;
	}
	if (b) {
		pthread_mutex_unlock(&b->lock);
		itable_put(fs, b, 0, 1);
	} else {
		pthread_mutex_unlock(&h->reader_of->lock);
	}
}

/*
 * n->lock held.  The version follower h reads once no writer stages (the
 * one n's last commit published on a new inode, else n's own); on an
 * error its READs fail with it.
 */
static void follow_end(struct mfs_fs *fs, struct mfs_handle *h)
{
	struct mfs_node *n = h->src;
	struct mfs_manifest *m = NULL;
	int rc;

	if (n->became_set && n->became_m) {
		m = mfs_manifest_ref(n->became_m);
		rc = 0;
	} else if (n->became_set) {
		rc = fs_manifest_pinned(fs, &n->became, n->became_has_manifest, &m);
	} else if (!(rc = fs_node_manifest(fs, n))) {
		/*
		 * n's own version: a reader of it like any other from now on,
		 * so a later writer of n keeps the page cache (its private
		 * mappings fill it) for it (open_locked).
		 */
		m = mfs_manifest_ref(n->manifest);
		__atomic_store_n(&h->counted, 1, __ATOMIC_RELAXED);
		n->readers++;
		/*
		 * An adopted reader reads through the page cache (note 7): one
		 * of n's pinned readers again, which the next writer of its
		 * process adopts again (open_memmap opens the file twice).
		 */
		if (h->was_m && h->was_m == m) {
			n->cached_readers++;
			h->pnext = n->pinned;
			n->pinned = h;
		}
	}
	if (rc)
		log_warn("inode %016llx: a reader that read a writer's bytes has no version now: %s",
			 (unsigned long long)n->ino, mfs_strerror(rc));
	/* An adopted reader's old one: was_m keeps it for READs under way (note 7). */
	if (h->m)
		mfs_manifest_unref(h->m);
	h->m = m;
	h->follow_err = rc;
	if (m && n->became_set)
		read_as_current(fs, h, n);
	__atomic_store_n(&h->following, 0, __ATOMIC_RELEASE);
}

/*
 * n->lock held.  Follower h keeps the staged bytes no commit published
 * (kept.c): a file unlinked while open is read on by its followers so.
 * Never bytes that miss an answered write (s38 review, finding 8c):
 * fs_kept_new answers s->werr then.
 */
static void keep_unpublished(struct mfs_fs *fs, struct mfs_handle *h)
{
	struct mfs_node *n = h->src;
	int rc = fs_kept_new(fs, n->stg, NULL, &h->own);

	if (rc) {
		log_warn("inode %016llx: a reader of a writer's unpublished bytes lost them: %s",
			 (unsigned long long)n->ino, mfs_strerror(rc));
		h->follow_err = rc;
	}
	/* An adopted reader's old version is not what it reads now (note 7). */
	if (h->m) {
		mfs_manifest_unref(h->m); /* was_m keeps it for READs under way */
		__atomic_store_n(&h->m, NULL, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&h->following, 0, __ATOMIC_RELEASE);
}

/* n->lock held, its last writer leaving: each follower keeps what was written (note 6). */
static void followers_settle(struct mfs_fs *fs, struct mfs_node *n)
{
	int published = n->stg->published;

	/*
	 * An unlinked file's stat shows what its readers read (its record is
	 * in memory only), as does one never published, which goes now.  So
	 * for readers that opened during a commit that did not publish
	 * (commit_open.c note 7).
	 */
	if (!published && n->gone && (n->followers || n->kept))
		n->rec.size = n->stg->size;
	while (n->followers) {
		struct mfs_handle *h = n->followers;

		n->followers = h->fnext;
		h->fnext = NULL;
		/*
		 * An adopted reader (note 7) reads through n's page cache, which
		 * new readers of the path share while n stays its inode: after a
		 * commit that failed it reads the path's version, as they do
		 * (fs_handle_close drops the pages the writer left).
		 */
		if (published || (h->was_m && !n->gone))
			follow_end(fs, h);
		else
			keep_unpublished(fs, h);
	}
	mfs_manifest_unref(n->became_m);
	n->became_m = NULL;
}

/* n->lock held: reader h leaves n's pinned readers (fs_internal.h note 7). */
static int pinned_leave(struct mfs_node *n, struct mfs_handle *h)
{
	for (struct mfs_handle **p = &n->pinned; *p; p = &(*p)->pnext)
		if (*p == h) {
			*p = h->pnext;
			h->pnext = NULL;
			return 1;
		}
	return 0;
}

/* n->lock held: follower h leaves n's list. */
static void follower_leave(struct mfs_node *n, struct mfs_handle *h)
{
	for (struct mfs_handle **p = &n->followers; *p; p = &(*p)->fnext)
		if (*p == h) {
			*p = h->fnext;
			return;
		}
}

/* n->lock held.  Does h read n's staged bytes: a writer, or a follower still? */
static int reads_staged(const struct mfs_handle *h)
{
	return h->writable || __atomic_load_n(&h->following, __ATOMIC_RELAXED);
}

/* The node whose staged bytes h reads: a writer's own, a follower's src. */
static struct mfs_node *staged_node(const struct mfs_handle *h)
{
	return h->follower ? h->src : h->node;
}

/*
 * Reads the staged bytes for a writer (O_RDWR handles: rare, so no buffer
 * kept) or a follower.  1 if it replied, with *got the bytes replied or
 * the -errno replied; 0 if h reads a version: *base (a reference) if set,
 * else its own h->m now (reads_staged).
 */
static int read_staged(fuse_req_t req, struct mfs_handle *h, size_t size, off_t off,
		       ssize_t *got, struct mfs_manifest **base)
{
	struct mfs_node *n = staged_node(h);
	char *buf = malloc(size ? size : 1);
	int staged;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		*got = -ENOMEM;
		return 1;
	}
	pthread_mutex_lock(&n->lock);
	staged = reads_staged(h);
	/*
	 * A follower of a writer that changed nothing yet (np.memmap(mode='r+')
	 * of a model): the bytes are the base version's, read through the
	 * chunk cache, not copied whole into the staged file first.
	 */
	if (staged && !h->writable && n->stg && n->stg->base && n->stg->published) {
		*base = mfs_manifest_ref(n->stg->base);
		staged = 0;
	}
	*got = 0;
	/* A follower never reads bytes that miss an answered write (s38 review, 8c). */
	if (staged && !h->writable && n->stg && n->stg->werr)
		*got = n->stg->werr;
	/* The write-behind's dropped bytes from their chunks, not put back (kept.c). */
	else if (staged && n->stg)
		*got = staging_pread(req_fs(req), n->stg, NULL, buf, size, (uint64_t)off);
	pthread_mutex_unlock(&n->lock);
	if (!staged) {
		free(buf);
		return 0;
	}
	fs_reply_bytes(req, buf, *got);
	return 1;
}

/*
 * Whether a READ of [off, end) continues h's stream, whose front is
 * h->next_off (mfs_cache_stream_advance: 0, MFS_STREAM_NEAR or
 * MFS_STREAM_NEXT).  Slack: the READs the kernel's readahead (readahead_kb,
 * its current window and the next) can have under way.
 * Taking only the READ that starts exactly where the last answered one
 * ended for sequential reset the prefetch window at about one READ in ten
 * of a streaming read from a peer (issue 10): the prefetches fell behind
 * the kernel's READs, 35-55 % of which then found their chunk not even
 * asked for and fetched it themselves, a round trip each, while the peer's
 * window stood half empty.
 */
static int stream_advance(struct mfs_fs *fs, struct mfs_handle *h, uint64_t off, uint64_t end)
{
	uint64_t slack = 2 * ((uint64_t)fs->cfg->readahead_kb << 10) + (2u << 20);

	return mfs_cache_stream_advance(&h->next_off, off, end, slack);
}

/*
 * Queues the chunks after `next` for the prefetch threads.  The window
 * adapts: it doubles with each sequential read up to prefetch_chunks and
 * falls back to one chunk when the reader jumps, so a random reader does
 * not pull chunks it will never read.  A streaming reader's prefetches run
 * ahead of its stream's front (stream_advance), not of the READ that came
 * last: those behind the front are queued, loading or loaded already.
 */
static void prefetch_after(struct mfs_fs *fs, struct mfs_handle *h, struct mfs_manifest *m,
			   uint32_t next, int sequential)
{
	uint16_t origin = (uint16_t)(h->node->ino >> 48);
	int w = __atomic_load_n(&h->window, __ATOMIC_RELAXED);
	uint64_t front = __atomic_load_n(&h->next_off, __ATOMIC_RELAXED);

	w = sequential ? (w < 1 ? 1 : w * 2) : 1;
	if (w > fs->cfg->prefetch_chunks)
		w = fs->cfg->prefetch_chunks;
	__atomic_store_n(&h->window, w, __ATOMIC_RELAXED);
	if (!sequential)
		return;
	/* The chunk after the one that holds the front's last byte. */
	if (front > m->off[next] && front <= m->size)
		next = mfs_manifest_find(m, front - 1) + 1;
	for (int k = 0; k < w && next + k < m->count; k++)
		if (!mfs_manifest_is_hole(&m->e[next + k]))
			mfs_cache_prefetch(fs->cache, &m->e[next + k].hash, m->e[next + k].len,
					   origin);
}

/*
 * A small read that jumps (a page fault under MADV_RANDOM, a loader
 * seeking to one tensor) and whose chunk is not cached: only the codec
 * groups it touches are decoded, and the chunk is not cached.  Decoding a
 * whole ~1 MiB chunk for 4 KiB was most of a random fault's cost (issue
 * 10); then reading and hashing the whole record was, and a split record
 * with group checksums (format 7) is read from disk only in its head and
 * those groups.  Returns 1 if it replied; 0 sends the read down the cache path
 * (sequential reads, reads across chunks, chunks held only by peers, and
 * any error, which the cache path reports or repairs from a peer).
 */
#define RANGE_READ_MAX (128u << 10)

static int read_range(struct mfs_fs *fs, fuse_req_t req, struct mfs_handle *h,
		      const struct mfs_manifest *m, uint32_t i, uint64_t off, uint64_t end)
{
	uint64_t in_chunk = off - m->off[i], len = end - off;
	struct mfs_codec_ctx *ctx;
	uint8_t *buf;

	/*
	 * A streaming reader's readahead READs arrive out of order too: its
	 * grown prefetch window (prefetch_after) keeps them on the cache path,
	 * where the prefetch threads are loading those chunks already.
	 */
	if (len > RANGE_READ_MAX || in_chunk + len > m->e[i].len ||
	    __atomic_load_n(&h->next_off, __ATOMIC_RELAXED) == off ||
	    __atomic_load_n(&h->window, __ATOMIC_RELAXED) > 1 ||
	    mfs_manifest_is_hole(&m->e[i]) || mfs_cache_has(fs->cache, &m->e[i].hash))
		return 0;
	if (!(ctx = mfs_codec_ctx_thread()) || !(buf = malloc(len)))
		return 0;
	if (mfs_chunk_read_range(fs->db, ctx, &m->e[i].hash, (uint32_t)in_chunk, (uint32_t)len,
				 buf)) {
		free(buf);
		return 0;
	}
	__atomic_store_n(&h->next_off, end, __ATOMIC_RELAXED);
	__atomic_store_n(&h->window, 1, __ATOMIC_RELAXED);
	fuse_reply_buf(req, (const char *)buf, len);
	free(buf);
	return 1;
}

/*
 * The bytes of a manifest's holes (manifest.h): never written, so every
 * page of it is the kernel's zero page.  A hole longer than this takes
 * several iovecs of one READ.
 */
#define ZEROS_LEN (1u << 20)
static uint8_t zeros[ZEROS_LEN];

/* iovecs for zeros past a version's end (truncated_end): a READ is at most a few MiB. */
#define PAD_IOV 8

/*
 * 1 and *to the size a truncate(2) of the path cut or grew h's version to
 * for it, *data the bytes of the version no cut took since (fs_internal.h,
 * truncated); 0 if none did.  The lock only for such a node: a commit can
 * hold it long.
 */
static int truncated_end(struct mfs_handle *h, uint64_t *data, uint64_t *to)
{
	struct mfs_node *n = h->reader_of ? h->reader_of : h->node;
	int t;

	if (!__atomic_load_n(&n->truncated, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&n->lock);
	t = n->truncated && h->m == n->manifest;
	*to = n->trunc_to;
	*data = n->trunc_data < h->m->size ? n->trunc_data : h->m->size;
	pthread_mutex_unlock(&n->lock);
	return t;
}

/*
 * Adds iovecs of zeros for [from, to) after the n already in iov (at most
 * max in all); returns the new count, or -1 if they do not fit.
 */
static int add_zeros(struct iovec *iov, int n, int max, uint64_t from, uint64_t to)
{
	while (from < to) {
		uint64_t len = to - from < ZEROS_LEN ? to - from : ZEROS_LEN;

		if (n == max)
			return -1;
		iov[n].iov_base = zeros;
		iov[n].iov_len = len;
		n++;
		from += len;
	}
	return n;
}

/* A READ wholly past the end of h's version; returns the bytes replied. */
static ssize_t read_past_end(fuse_req_t req, uint64_t off, size_t size, uint64_t zend)
{
	struct iovec iov[PAD_IOV];
	uint64_t to = off + size < zend ? off + size : zend;
	int n = off < to ? add_zeros(iov, 0, PAD_IOV, off, to) : 0;

	if (n < 0) {
		fuse_reply_err(req, EIO);
		return -EIO;
	}
	fuse_reply_iov(req, iov, n);
	return off < to ? (ssize_t)(to - off) : 0;
}

ssize_t fs_reply_bytes(fuse_req_t req, void *buf, ssize_t got)
{
	if (got < 0)
		fuse_reply_err(req, mfs_errno((int)got));
	else
		fuse_reply_buf(req, buf, (size_t)got);
	free(buf);
	return got;
}

/* A READ of a follower with no version (followers_settle): its own bytes, or its error. */
static ssize_t read_own(fuse_req_t req, struct mfs_handle *h, size_t size, off_t off)
{
	char *buf = h->own ? malloc(size ? size : 1) : NULL;
	ssize_t got = !h->own ? h->follow_err : !buf ? -ENOMEM : 0;

	if (!got)
		got = fs_kept_pread(h->own, buf, size, (uint64_t)off);
	return fs_reply_bytes(req, buf, got);
}

/* Answers a READ of h from version m; returns the bytes replied, or the -errno replied. */
static ssize_t serve_version(fuse_req_t req, struct mfs_handle *h, struct mfs_manifest *m,
			     size_t size, off_t off)
{
	struct mfs_fs *fs = req_fs(req);
	const struct mfs_cache_entry *ents[MAX_IOV];
	struct iovec iov[MAX_IOV + PAD_IOV];
	uint8_t ends[MAX_IOV];         /* the read reaches the chunk's last byte */
	uint64_t pos, end, vend, zend = 0, d, t, replied;
	uint32_t i;
	int n = 0, niov, rc = 0, sequential = 0, in_order = 0;

	vend = m->size;
	/* A truncate(2) of the path cut the version for it, or grew it with zeros. */
	if (m == h->m && truncated_end(h, &d, &t)) {
		vend = d;
		zend = t > d ? t : 0;
	}
	if ((uint64_t)off >= vend)
		return read_past_end(req, (uint64_t)off, size, zend);
	end = off + size < vend ? off + size : vend;
	i = mfs_manifest_find(m, off);
	if (!zend && read_range(fs, req, h, m, i, off, end))
		return (ssize_t)(end - off);
	for (pos = off; pos < end; i++) {
		uint64_t in_chunk = pos - m->off[i];
		size_t len = m->e[i].len - in_chunk;

		if (n == MAX_IOV) {
			rc = -EIO;
			log_error("read of %zu bytes spans more than %d chunks", size, MAX_IOV);
			break;
		}
		if (mfs_manifest_is_hole(&m->e[i])) {
			if (len > end - pos)
				len = end - pos;
			if (len > ZEROS_LEN)
				len = ZEROS_LEN;
			ents[n] = NULL;
			iov[n].iov_base = zeros;
			iov[n].iov_len = len;
			ends[n] = 0;
			n++;
			pos += len;
			/* The rest of a long hole: the same entry again. */
			if (pos < end && pos < m->off[i + 1])
				i--;
			continue;
		}
		if ((rc = mfs_cache_get_read(fs->cache, &m->e[i].hash, m->e[i].len,
					    (uint16_t)(h->node->ino >> 48), &ents[n])))
			break;
		if (len > end - pos)
			len = end - pos;
		iov[n].iov_base = (void *)(ents[n]->data + in_chunk);
		iov[n].iov_len = len;
		ends[n] = in_chunk + len == m->e[i].len;
		n++;
		pos += len;
	}
	/* Concurrent READs on one handle (readahead) race here: atomic. */
	if (!rc) {
		sequential = stream_advance(fs, h, (uint64_t)off, end);
		in_order = sequential == MFS_STREAM_NEXT;
		prefetch_after(fs, h, m, i, sequential);
	}
	replied = end - off;
	niov = n;
	if (!rc && zend) {
		/* The rest of the request, up to the grown end, is zeros. */
		uint64_t to = off + size < zend ? off + size : zend;

		niov = add_zeros(iov, n, MAX_IOV + PAD_IOV, end, to);
		if (niov < 0) {
			rc = -EIO;
			log_error("read of %zu bytes spans too many zero ranges", size);
		} else {
			replied = to - off;
		}
	}
	if (rc)
		fuse_reply_err(req, mfs_errno(rc));
	else
		fuse_reply_iov(req, iov, niov);
	/*
	 * A sequential reader past a chunk's end will not come back for it
	 * (its bytes are in the page cache now): let the cache drop it before
	 * the chunks prefetched ahead, so a small cache serves streaming.  Not
	 * after a READ answered out of order: a READ of the chunk's start may
	 * still be coming (released cold, 5-7 % of a cold read's chunks were
	 * evicted before it came, and loaded again).
	 */
	while (n--)
		if (ents[n])
			mfs_cache_release_cold(fs->cache, ents[n], in_order && ends[n]);
	return rc ? rc : (ssize_t)replied;
}

/* Answers a READ; returns the bytes replied, or the -errno replied. */
static ssize_t serve_read(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct mfs_handle *h = (struct mfs_handle *)(uintptr_t)fi->fh;
	struct mfs_manifest *m = NULL;
	ssize_t got;

	if (h->writable || __atomic_load_n(&h->following, __ATOMIC_ACQUIRE)) {
		if (read_staged(req, h, size, off, &got, &m))
			return got;
		if (m) { /* a follower of unchanged bytes: their version */
			got = serve_version(req, h, m, size, off);
			mfs_manifest_unref(m);
			return got;
		}
	}
	/* Opened during a commit that has not ended: its staged bytes. */
	if (h->pending && !__atomic_load_n(&h->m, __ATOMIC_ACQUIRE) &&
	    !fs_pending_read(req, h, size, off, &got))
		return got;
	if (!(m = __atomic_load_n(&h->m, __ATOMIC_ACQUIRE)))
		return read_own(req, h, size, off); /* a follower with no version */
	return serve_version(req, h, m, size, off);
}

/*
 * The node whose readers count reader h, and so whose closing_readers
 * counts h's close(2) (h->flushed): a settled follower's of the newer
 * inode's version is that inode's (read_as_current), one of its source's
 * own version the source's (follow_end), any other h's own.  The FLUSH
 * that counts it, the READ that finds it reading again and its RELEASE
 * must all take the same one: a READ after a close(2) of a dup'ed
 * descriptor took h->node off, never counted, and left the newer inode
 * counted for good; from then on every writer that opened it beside one
 * reader napped a second for a RELEASE that never came (s41).  Set before
 * h->counted (release) and never changed after.
 */
static struct mfs_node *closing_node(const struct mfs_handle *h)
{
	return h->reader_of ? h->reader_of : h->src ? h->src : h->node;
}

void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct mfs_handle *h = (struct mfs_handle *)(uintptr_t)fi->fh;
	struct mfs_fs *fs = req_fs(req);
	struct timespec t0;
	ssize_t got;

	(void)ino;
	if (fs->read_hold)
		fs_test_hold(fs->read_hold);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* A reader closed in one descriptor reads on through another: not closing. */
	if (__atomic_load_n(&h->flushed, __ATOMIC_RELAXED) &&
	    __atomic_exchange_n(&h->flushed, 0, __ATOMIC_RELAXED))
		__atomic_sub_fetch(&closing_node(h)->closing_readers, 1, __ATOMIC_RELAXED);
	got = serve_read(req, size, off, fi);
	/* status: read_requests, read_bytes, read_latency_us (req is gone: replied) */
	__atomic_add_fetch(&fs->read_requests, 1, __ATOMIC_RELAXED);
	if (got > 0)
		__atomic_add_fetch(&fs->read_bytes, (uint64_t)got, __ATOMIC_RELAXED);
	mfs_histo_add(&fs->read_latency, mfs_histo_since_us(&t0));
}

/*
 * SEEK_DATA / SEEK_HOLE in a version: data is every chunk, a hole every
 * hole entry (manifest.h), and the end of the file a hole.  -ENXIO when
 * off is at or past the end, or no data follows it.
 */
static off_t seek_version(const struct mfs_manifest *m, uint64_t off, int whence)
{
	if (off >= m->size)
		return -ENXIO;
	for (uint32_t i = mfs_manifest_find(m, off); i < m->count; i++)
		if (mfs_manifest_is_hole(&m->e[i]) == (whence == SEEK_HOLE))
			return (off_t)(m->off[i] > off ? m->off[i] : off);
	return whence == SEEK_HOLE ? (off_t)m->size : -ENXIO;
}

/*
 * seek_version's answer r for a version whose first `size` bytes are left
 * to its reader after the truncate(2)s of the path that cut or grew it to
 * t: nothing at or past t, and the zeros past those bytes a hole.
 */
static off_t seek_truncated(uint64_t size, uint64_t t, off_t off, int whence, off_t r)
{
	if ((uint64_t)off >= t)
		return -ENXIO;
	if (whence == SEEK_DATA)
		return r >= 0 && (uint64_t)r >= t ? -ENXIO : r;
	if ((uint64_t)off >= size)
		return off; /* in the zeros */
	return r >= 0 && (uint64_t)r > t ? (off_t)t : r;
}

/*
 * lseek's SEEK_DATA and SEEK_HOLE (the kernel answers the other kinds):
 * cp --sparse=auto, tar --sparse and rsync skip a sparse file's holes by
 * them instead of reading its zeros.  A writer asks its staged file.
 */
void fs_op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		 struct fuse_file_info *fi)
{
	struct mfs_handle *h = (struct mfs_handle *)(uintptr_t)fi->fh;
	struct mfs_node *n = h->node;
	off_t r;
	int staged = 0;

	(void)ino;
	if ((whence != SEEK_DATA && whence != SEEK_HOLE) || off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	/* The lock only for those: a commit can hold it long. */
	if (h->writable || __atomic_load_n(&h->following, __ATOMIC_ACQUIRE)) {
		n = staged_node(h);
		pthread_mutex_lock(&n->lock);
		if ((staged = reads_staged(h))) {
			r = n->stg ? staging_seek(req_fs(req), n->stg, NULL, (uint64_t)off, whence)
				   : -EBADF;
		}
		pthread_mutex_unlock(&n->lock);
	}
	if (!staged && h->follower && !h->m) { /* a follower without a version (followers_settle) */
		r = !h->own ? h->follow_err : fs_kept_seek(h->own, (uint64_t)off, whence);
	} else if (!staged) {
		uint64_t d, t;

		/*
		 * Opened during a commit: the staged file's holes include the
		 * bytes the write-behind dropped, data all the same, so the
		 * answer waits for the version (cp --sparse asks once).
		 */
		if (h->pending && (r = fs_pending_wait(h))) {
			/* 1: a commit that did not publish, its bytes kept (commit_open.c note 7) */
			if (r > 0 && (r = fs_pending_seek(req_fs(req), h, off, whence)) >= 0)
				fuse_reply_lseek(req, r);
			else
				fuse_reply_err(req, mfs_errno((int)r));
			return;
		}
		r = seek_version(h->m, (uint64_t)off, whence);
		if (truncated_end(h, &d, &t))
			r = seek_truncated(d, t, off, whence, r);
	}
	if (r < 0)
		fuse_reply_err(req, mfs_errno((int)r));
	else
		fuse_reply_lseek(req, r);
}

/*
 * A new file whose last writer leaves without a successful commit was
 * never published: remove it, so a failed copy leaves no file behind.
 * Frees name.  0, or -errno if the name stays (the store cannot write:
 * a full disk).
 */
static int drop_unpublished(struct mfs_fs *fs, uint64_t parent, char *name, uint64_t ino)
{
	int rc = mfs_ns_remove_if(fs->ns, parent, name, ino);

	if (!rc) {
		log_warn("removed %s: its writer closed it without a successful commit", name);
		fs_refresh(fs, parent);
		fuse_lowlevel_notify_delete(fs->se, parent, ino, name, strlen(name));
	} else if (rc == -ENOENT && !mfs_ns_drop_pending(fs->ns, ino)) {
		/* Another node's op took the name: the record alone was left. */
		log_info("inode %016llx: removed, its name %s went to another file while it was written",
			 (unsigned long long)ino, name);
	} else if (rc && rc != -ENOENT) {
		log_warn("could not remove %s, never published: %s (its next open tries again)",
			 name, mfs_strerror(rc));
		free(name);
		return rc;
	}
	free(name);
	return 0;
}

/* Closes follower h: it counts in no node's readers (fs_internal.h note 6). */
static void follower_close(struct mfs_fs *fs, struct mfs_handle *h)
{
	struct mfs_node *src = h->src;

	pthread_mutex_lock(&src->lock);
	if (h->following)
		follower_leave(src, h);
	if (h->counted && !h->reader_of) { /* follow_end: a reader of src's own version (src is h->node) */
		src->readers--;
		if (pinned_leave(src, h)) /* an adopted one (follow_end) */
			src->cached_readers--;
		if (__atomic_exchange_n(&h->flushed, 0, __ATOMIC_RELAXED))
			__atomic_sub_fetch(&src->closing_readers, 1, __ATOMIC_RELAXED);
	} else if (h->was_m && __atomic_exchange_n(&h->flushed, 0, __ATOMIC_RELAXED)) {
		/* Adopted while its close's FLUSH counted it (fs_op_close_flush). */
		__atomic_sub_fetch(&h->node->closing_readers, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&src->lock);
	if (h->reader_of) { /* read_as_current: a reader of the newer inode's version */
		struct mfs_node *b = h->reader_of;
		struct mfs_manifest *old;

		pthread_mutex_lock(&b->lock);
		b->readers--;
		b->far_readers--;
		if (__atomic_exchange_n(&h->flushed, 0, __ATOMIC_RELAXED))
			__atomic_sub_fetch(&b->closing_readers, 1, __ATOMIC_RELAXED);
		old = fs_node_release_old(fs, b);
		pthread_mutex_unlock(&b->lock);
		mfs_manifest_unref(old);
		itable_put(fs, b, 0, 1);
	}
	if (src != h->node)
		itable_put(fs, src, 0, 1); /* follow_view's hold */
	fs_kept_put(h->own);
	itable_put(fs, h->node, 0, 1);
	mfs_manifest_unref(h->m);
	mfs_manifest_unref(h->was_m);
	free(h);
}

/* Closes handle h: commits a writer's staged bytes, drops its counts. */
void fs_handle_close(struct mfs_fs *fs, struct mfs_handle *h)
{
	struct mfs_node *n = h->node;
	struct mfs_manifest *old;
	uint64_t parent = 0, drop_parent = 0, moved = 0;
	char *name = NULL, *drop_name = NULL;
	int rc = 0, shrunk = 0, stale = 0;

	if (h->follower) {
		follower_close(fs, h);
		return;
	}
	/* Opened during a commit still running: no lock (commit_open.c, note 4). */
	if (h->pending && fs_pending_uncount(fs, h)) {
		if (__atomic_exchange_n(&h->flushed, 0, __ATOMIC_RELAXED))
			__atomic_sub_fetch(&n->closing_readers, 1, __ATOMIC_RELAXED);
		fs_pending_close(h);
		free(h);
		itable_put(fs, n, 0, 1);
		return;
	}
	pthread_mutex_lock(&n->lock);
	if (h->writable) {
		/* Out of the closing count (not fs_writer_active: no write outlived a close). */
		if (__atomic_exchange_n(&h->flushed, 0, __ATOMIC_RELAXED))
			__atomic_sub_fetch(&n->closing_writers, 1, __ATOMIC_RELAXED);
		if (n->stg && (n->stg->dirty || (n->writers == 1 && n->stg->publish_at_release)))
			rc = fs_commit(fs, n, &moved, &parent, &name);
		n->cached_writers -= h->cached;
		n->joined_writers -= !!h->joined;
		if (--n->writers == 0) {
			/*
			 * Readers of this inode stay: the kernel's size was the
			 * writer's (an unpublished one, if the file was unlinked),
			 * the version they read is n->rec's.
			 */
			shrunk = n->readers && n->stg && n->stg->size != n->rec.size;
			/* Never published: it goes (drop_unpublished), before its readers settle. */
			if ((n->rec.flags & MFS_I_PENDING) && !n->gone && n->rec.name &&
			    (drop_name = strdup(n->rec.name))) {
				drop_parent = n->rec.parent;
				n->gone = 1;
			}
			/*
			 * Staged bytes no commit published, on the inode the path
			 * still has: a writer through the page cache left them in
			 * n's pages, which the next reader (keep_cache) would read
			 * if the size and mtime it sees did not change (a failed
			 * commit after utime, as cp -p does).
			 */
			stale = !n->stg->published && !n->gone;
			followers_settle(fs, n);
			fs_pending_keep(fs, n);
			stager_remove(fs, n);
			__atomic_store_n(&n->writers_outlive, 0, __ATOMIC_RELAXED);
			staging_free(fs, n->stg);
			n->stg = NULL;
		}
	} else if (h->follower) {
		/* Adopted by a writer that opened while this RELEASE came (note 7). */
		pthread_mutex_unlock(&n->lock);
		follower_close(fs, h);
		return;
	} else {
		pinned_leave(n, h);
		n->readers--;
		n->cached_readers -= h->cached;
		if (__atomic_exchange_n(&h->flushed, 0, __ATOMIC_RELAXED))
			__atomic_sub_fetch(&n->closing_readers, 1, __ATOMIC_RELAXED);
		/* The last old reader left: the staged size is the size (fs_fill_stat). */
		shrunk = h->cached && !n->cached_readers && n->stg && n->stg->size < n->rec.size;
	}
	old = fs_node_release_old(fs, n);
	pthread_mutex_unlock(&n->lock);
	mfs_manifest_unref(old);
	/* close() has returned already: nobody is left to hear about it. */
	if (rc)
		log_warn("inode %016llx: commit at release failed: %s",
			 (unsigned long long)n->ino, mfs_strerror(rc));
	fs_after_commit(fs, moved, parent, name);
	if (stale)
		fuse_lowlevel_notify_inval_inode(fs->se, n->ino, 0, 0);
	else if (shrunk)
		fuse_lowlevel_notify_inval_inode(fs->se, n->ino, -1, 0);
	if (drop_name && drop_unpublished(fs, drop_parent, drop_name, n->ino)) {
		pthread_mutex_lock(&n->lock);
		n->drop_failed = 1;
		pthread_mutex_unlock(&n->lock);
	}
	mfs_manifest_unref(h->m);
	fs_pending_close(h);
	if (h->joined) {
		__atomic_sub_fetch(&h->joined->joiners, 1, __ATOMIC_RELAXED);
		itable_put(fs, h->joined, 0, 1); /* the open's; n is join_view's hold */
	}
	free(h);
	itable_put(fs, n, 0, 1);
}

/*
 * Does a close(2) by thread tid (a FLUSH) close writer h, as far as the
 * daemon can tell (closing_writers)?  Not one by another process than
 * h's opener (tgid.c), while that process lives: a child that inherited the
 * descriptor closed its copy, and the opener writes on.  Python's
 * multiprocessing closes every inherited descriptor in a spawned child,
 * and a forked child's exit closes its own; a commit that took that for
 * the writer's last close started no view (fs_write.c), and the next
 * opener of the path staged bytes of its own beside the writer's (SQLite's
 * WAL, t0417, t0423).  An opener that exited (or one outside the
 * daemon's pid namespace: 0) says nothing: the close counts.
 */
static int closes_writer(const struct mfs_handle *h, pid_t tid)
{
	pid_t tgid;

	if (h->opener <= 0 || tid <= 0 || (kill(h->opener, 0) && errno != EPERM))
		return 1;
	return (tgid = fs_tgid_of(tid)) <= 0 || tgid == h->opener;
}

void fs_op_close_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mfs_handle *h = (struct mfs_handle *)(uintptr_t)fi->fh;

	/* A close(2): the process's POSIX locks on the file go, before close returns. */
	fs_locks_flush(req_fs(req), ino, fi);
	if (h->writable) {
		/* Before the commit: a path truncate after close(2) returned must see it. */
		if (closes_writer(h, fuse_req_ctx(req)->pid) &&
		    !__atomic_exchange_n(&h->flushed, 1, __ATOMIC_RELAXED))
			__atomic_add_fetch(&h->node->closing_writers, 1, __ATOMIC_RELAXED);
		fs_op_flush(req, ino, fi); /* the commit (fs_write.c) */
		return;
	}
	/* Every close(2) of a descriptor: the last one's RELEASE follows
	 * (wait_closing_readers).  No lock: a writer's commit may hold it long. */
	if ((!h->follower || __atomic_load_n(&h->counted, __ATOMIC_ACQUIRE)) &&
	    !__atomic_exchange_n(&h->flushed, 1, __ATOMIC_RELAXED))
		__atomic_add_fetch(&closing_node(h)->closing_readers, 1, __ATOMIC_RELAXED);
	fuse_reply_err(req, 0);
}

void fs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mfs_handle *h = (struct mfs_handle *)(uintptr_t)fi->fh;
	struct mfs_fs *fs = req_fs(req);

	/* The kernel sends RELEASE in the background, after close(2) returned: late, for a test. */
	if (fs->release_delay_ms && h->writable)
		usleep(fs->release_delay_ms * 1000u);
	fs_locks_close(fs, h, fi);
	fs_handle_close(fs, h);
	fuse_reply_err(req, 0);
}
