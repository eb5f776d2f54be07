/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Opens for reading while a commit runs.  A writer's close(2) is durable,
 * so it runs the commit: it cuts, hashes and encodes the last bytes and
 * syncs the publish, 0.7-1.3 s for a 1 GiB model here, with the node's
 * lock held.  An open(2) of the file waited for all of it, and a loader
 * started right after a download's close began stalled that long.  Stat,
 * lookup and getfattr answer from the commit's notes (noted_attrs.c); an
 * open needs more: bytes.
 *
 * Notes on the design:
 *  1. Which version.  Every write(2) of the bytes being committed has
 *     returned, so a reader that opens now must read them (POSIX: a read
 *     after a write returned sees it), not the version before.  The commit
 *     publishes exactly those bytes, so the reader's version is the one the
 *     commit publishes.
 *  2. Only a file's first publish (MFS_I_PENDING: a download, a save) is
 *     served so: it is published in place, in the inode the reader opened,
 *     whose size, page cache and later GETATTRs are then the version's.  A
 *     rewrite publishes a new inode while this one keeps the old version's
 *     size for its own readers (one inode has one size for the kernel), so
 *     a reader of the new bytes here would be cut at, or read zeros up to,
 *     the old size: such an open waits for the commit, and then answers
 *     ESTALE (fs_read.c), the kernel's retry opening the new inode.
 *  3. While the commit runs, the reader reads the staged file through a
 *     descriptor of its own (fs_pending.fd), which nothing writes: writes,
 *     truncates and the write-behind all need the node's lock, which the
 *     commit holds.  Bytes the write-behind dropped from the staging
 *     (below `from`; a file past its 128 MiB lead has most of its bytes
 *     there) are in chunks it stored, which the store finds only once
 *     indexed: the commit indexes them as it begins (wb_stored, as an
 *     abandoned ingest would; its finish writes the same entries again)
 *     and they are read through the chunk cache.  If that fails, a
 *     direct I/O reader's READ of them waits for the commit's end, and a
 *     reader through the page cache does not open at once (fs_pending_begin).
 *  4. When the commit ends (fs_pending_end, node lock held) its readers
 *     are counted as the node's, the version they read from then on is the
 *     node's published one (same bytes, now in the store: the staging and
 *     its memory go with the writer), and READs on the descriptor are
 *     waited out before it is closed, so no READ sees a later write.
 *  5. Only a close's commit (every writer closed it) serves opens so.
 *     After an fsync's the writer writes on, and an opener waits for the
 *     commit and then follows the writer (fs_internal.h note 6).  A reader
 *     goes through the page cache when every writer of the inode did (a
 *     new file's do): the pages and the size the kernel has are then the
 *     staged bytes, so a shared mmap works; otherwise direct I/O.
 *     A handle closed before that is uncounted from the commit's bytes
 *     instead (fs_pending_uncount): its RELEASE must not wait for the
 *     lock, or a loop of opens and closes during a commit held every
 *     FUSE thread in RELEASEs within a second, and then every request
 *     of the mount waited for the commit (openlat.py, s37).
 *  6. Writers opening meanwhile still wait: they share the staging the
 *     commit reads (an O_TRUNC would cut it under the ingest, and every
 *     write needs the lock anyway), and the commit's choices (a view for a
 *     writer that goes on, publish at the last release) count the writers.
 *  7. A commit that fails (ENOSPC, an I/O error) or does not publish (the
 *     path was removed or replaced meanwhile) leaves the file its empty
 *     pending version.  A reader that opened during it read the staged
 *     bytes, and reads on from them, as a follower does (fs_internal.h
 *     note 6): on tmpfs a reader of a file unlinked while open reads it
 *     whole, and one that read a part of it must not find the rest gone.
 *     Reading on from the empty version, a cached reader's kernel took
 *     size 0 from its next GETATTR: reads found nothing, a mapping took
 *     SIGBUS.  A failed commit is the writer's to hear (its close fails);
 *     every write(2) of those bytes returned, so a reader reads them, as
 *     a follower does after a failed fsync (t0399), and a file never
 *     published goes at its writer's RELEASE with its readers keeping it.
 *     The commit puts p on n->kept (fs_pending_end): until the last writer
 *     leaves, READs read n's staging under n's lock (a writer may write
 *     on through a dup'ed descriptor; staging_pread reads the bytes the
 *     write-behind dropped from their chunks); then fs_pending_keep gives
 *     p the kept bytes of its own (kept.c: the dropped bytes stay in their
 *     chunks, the staged file's memory stays in the staging budget), and
 *     n shows their size (followers_settle).  Never bytes that miss a
 *     write: a write answered before its bytes failed (s->werr) makes the
 *     READs answer EIO, as before for every such reader.
 *  8. The chunks wb_stored indexes are named by no version until the
 *     publish, and gc sees them from then on: the write-behind holds them
 *     pinned (mfs_ingest_index_stored's copy, live-listed) until its
 *     session ends, the finish under gc's refs lock until the publish
 *     names them.  A commit that fails before its finish leaves them
 *     pinned for the next (store/maint/gc.h note 1a).
 *
 * Lock order: the node's lock, then fs->noted_lock, then p->lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs_internal.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/chunk/cache.h"

#define LOG_COMPONENT "fuse"

struct fs_pending {
	pthread_mutex_t lock;
	pthread_cond_t cond;    /* ended, or the last pread done */
	int refs;               /* the commit's and one per handle; atomic */
	int fd;                 /* the staging's bytes; -1 once ended */
	uint64_t size;          /* the version's */
	uint64_t from;          /* [from, size) is in fd (note 3) */
	int cached;             /* readers use the page cache (note 5) */
	/* The chunks stored of [0, from) and on (wb_stored), or NULL (note 3) */
	struct mfs_manifest *stored;
	uint16_t origin;        /* the file's node, for the chunk cache */
	int readers, cached_readers; /* handles opened on it; fs->noted_lock */
	int users;              /* preads of fd under way; lock */
	int ended;              /* lock */
	struct mfs_manifest *m; /* the version after the end, NULL if none; set under lock */
	/*
	 * Not published: its readers read on the bytes written (note 7), from
	 * the node's staging, or once `own` (atomic) from k, or err.  kept is
	 * set before ended; own, k and err under the node's lock.
	 */
	int kept, own, err;
	struct fs_kept *k;
	struct fs_pending *knext; /* in the node's kept list; its lock */
};

static void pending_put(struct fs_pending *p)
{
	if (!p || __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL))
		return;
	if (p->fd >= 0)
		close(p->fd);
	mfs_manifest_unref(p->m);
	mfs_manifest_unref(p->stored);
	fs_kept_put(p->k);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

void fs_pending_begin(struct mfs_fs *fs, struct mfs_node *n)
{
	struct mfs_staging *s = n->stg;
	struct fs_pending *p;

	/* A base not copied in yet, or bytes lost: opens wait (rare). */
	if (!s || s->base || s->werr || n->gone || !(n->rec.flags & MFS_I_PENDING) ||
	    fs_node_target(fs, n) != n->ino)
		return;
	/*
	 * Only a close's commit (every writer closed: fs_writer_active).
	 * After an fsync's the writer writes on, and an opener must read what
	 * it writes (fs_internal.h note 6): it waits for the commit and then
	 * follows the writer.
	 */
	if (!n->writers || __atomic_load_n(&n->closing_writers, __ATOMIC_RELAXED) < n->writers ||
	    !(p = calloc(1, sizeof(*p))))
		return;
	if ((p->fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 0)) < 0) {
		free(p);
		return;
	}
	p->size = s->size;
	p->from = s->punched;
	/* Through the page cache unless a writer bypassed it. */
	p->cached = n->writers == n->cached_writers;
	p->origin = (uint16_t)(n->ino >> 48);
	/*
	 * A READ through the page cache that waited for the commit held its
	 * pages locked meanwhile, and the kernel's next look at the file's
	 * attributes (a stat, an open's lookup) found the last write's mtime
	 * and dropped the page cache, waiting for those pages: stat and open
	 * waited for the commit again (openlat.py, s37: 0.3-0.7 s).  So the
	 * dropped bytes are read from their chunks, indexed now; if they
	 * cannot be, only direct I/O readers (whose READs wait) open at once.
	 */
	if (p->from && !(p->stored = wb_stored(s)) && p->cached) {
		close(p->fd);
		free(p);
		return;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->refs = 1;
	pthread_mutex_lock(&fs->noted_lock);
	if (n->noted && !n->noted->pending) {
		n->noted->pending = p;
		p = NULL;
	}
	pthread_mutex_unlock(&fs->noted_lock);
	pending_put(p); /* no note (no memory): opens wait */
}

void fs_pending_end(struct mfs_fs *fs, struct mfs_node *n)
{
	struct mfs_manifest *m = NULL;
	struct fs_pending *p = NULL;
	int rc;

	pthread_mutex_lock(&fs->noted_lock);
	if (n->noted) {
		p = n->noted->pending;
		n->noted->pending = NULL; /* no more opens on it */
	}
	pthread_mutex_unlock(&fs->noted_lock);
	if (!p)
		return;
	if (p->readers) {
		n->readers += p->readers;
		n->cached_readers += p->cached_readers;
		/*
		 * n's version: the one just published in place, the bytes they
		 * read so far.  If the commit failed or did not publish (the
		 * file was removed or replaced meanwhile), n shows its empty
		 * pending version: they read on the bytes written (note 7).
		 */
		if ((n->rec.flags & MFS_I_PENDING) && n->stg && !n->stg->werr) {
			log_info("inode %016llx: not published; the %d readers that opened during its "
				 "commit read on the %llu bytes written", (unsigned long long)n->ino,
				 p->readers, (unsigned long long)n->stg->size);
			p->kept = 1;
			__atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED); /* n->kept's */
			p->knext = n->kept;
			n->kept = p;
		} else if (n->rec.flags & MFS_I_PENDING)
			log_warn("inode %016llx: not published; the %d readers that opened during "
				 "its commit read EIO from now on",
				 (unsigned long long)n->ino, p->readers);
		else if ((rc = fs_node_manifest(fs, n)))
			log_warn("inode %016llx: readers that opened during its commit: %s",
				 (unsigned long long)n->ino, mfs_strerror(rc));
		else
			m = mfs_manifest_ref(n->manifest);
	}
	pthread_mutex_lock(&p->lock);
	p->m = m;
	p->ended = 1;
	while (p->users)
		pthread_cond_wait(&p->cond, &p->lock);
	close(p->fd);
	p->fd = -1;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	pending_put(p);
}

struct fs_pending *fs_pending_take(struct mfs_fs *fs, struct mfs_node *n)
{
	struct fs_pending *p = n->noted ? n->noted->pending : NULL;

	(void)fs; /* fs->noted_lock held by the caller */
	if (p) {
		__atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED);
		p->readers++;
		p->cached_readers += p->cached;
	}
	return p;
}

void fs_pending_open(struct mfs_handle *h, struct fs_pending *p, struct fuse_file_info *fi)
{
	h->pending = p;
	h->cached = p->cached;
	if (p->cached)
		fi->keep_cache = 1;
	else
		fi->direct_io = 1;
}

/* The version after the end into h->m (once); p->lock held.  -EIO if there is none. */
static int settle(struct mfs_handle *h, struct fs_pending *p)
{
	if (!p->m)
		return -EIO;
	if (!__atomic_load_n(&h->m, __ATOMIC_ACQUIRE))
		__atomic_store_n(&h->m, mfs_manifest_ref(p->m), __ATOMIC_RELEASE);
	return 0;
}

int fs_pending_wait(struct mfs_handle *h)
{
	struct fs_pending *p = h->pending;
	int rc;

	pthread_mutex_lock(&p->lock);
	while (!p->ended)
		pthread_cond_wait(&p->cond, &p->lock);
	rc = p->kept ? 1 : settle(h, p);
	pthread_mutex_unlock(&p->lock);
	return rc;
}

/*
 * Reads [off, off + size) of the bytes p's readers keep (note 7) into buf:
 * p's own, or n's staging's, the write-behind's dropped bytes read from
 * their chunks (kept.c note 1).  The bytes read or -errno.  n->lock held
 * unless p->own.
 */
static ssize_t kept_pread(struct mfs_fs *fs, struct mfs_node *n, struct fs_pending *p, char *buf,
			  size_t size, off_t off)
{
	if (p->own)
		return p->err ? p->err : fs_kept_pread(p->k, buf, size, (uint64_t)off);
	if (!n->stg)
		return -EIO; /* fs_pending_keep ran for every staging that goes */
	if (n->stg->werr)
		return n->stg->werr;
	return staging_pread(fs, n->stg, p->stored, buf, size, (uint64_t)off);
}

/* A READ of kept bytes (note 7): 0, with the bytes replied or the -errno replied in *out. */
static int read_kept(fuse_req_t req, struct mfs_handle *h, size_t size, off_t off, ssize_t *out)
{
	struct fs_pending *p = h->pending;
	struct mfs_node *n = h->node;
	char *buf = malloc(size ? size : 1);
	int locked = !__atomic_load_n(&p->own, __ATOMIC_ACQUIRE);
	ssize_t got = -ENOMEM;

	if (buf) {
		/* Once p has its own bytes, nothing changes them: no lock. */
		if (locked)
			pthread_mutex_lock(&n->lock);
		got = kept_pread(req_fs(req), n, p, buf, size, off);
		if (locked)
			pthread_mutex_unlock(&n->lock);
	}
	*out = fs_reply_bytes(req, buf, got);
	return 0;
}

off_t fs_pending_seek(struct mfs_fs *fs, struct mfs_handle *h, off_t off, int whence)
{
	struct fs_pending *p = h->pending;
	struct mfs_node *n = h->node;
	off_t r;

	pthread_mutex_lock(&n->lock);
	if (p->own)
		r = p->err ? p->err : fs_kept_seek(p->k, (uint64_t)off, whence);
	else if (!n->stg)
		r = -EIO;
	else if (n->stg->werr)
		r = n->stg->werr;
	else
		r = staging_seek(fs, n->stg, p->stored, (uint64_t)off, whence);
	pthread_mutex_unlock(&n->lock);
	return r;
}

void fs_pending_keep(struct mfs_fs *fs, struct mfs_node *n)
{
	struct mfs_staging *s = n->stg;
	struct fs_pending *p;
	int rc;

	while ((p = n->kept)) {
		n->kept = p->knext;
		p->knext = NULL;
		/*
		 * Its readers all left (no handle takes p after its end): the
		 * staged file's memory would stay charged to the budget (kept.c
		 * note 3), for nobody.
		 */
		if (__atomic_load_n(&p->refs, __ATOMIC_ACQUIRE) == 1) {
			pending_put(p); /* n->kept's, the last */
			continue;
		}
		/* Their own reference: not in memory whole (kept.c note 1). */
		rc = fs_kept_new(fs, s, p->stored, &p->k);
		p->err = rc;
		if (rc)
			log_warn("inode %016llx: readers that opened during its commit lost its "
				 "unpublished bytes: %s", (unsigned long long)n->ino, mfs_strerror(rc));
		else
			log_info("inode %016llx: its %llu unpublished bytes kept by %d reader(s) "
				 "opened during its commit", (unsigned long long)n->ino,
				 (unsigned long long)s->size,
				 __atomic_load_n(&p->refs, __ATOMIC_RELAXED) - 1);
		__atomic_store_n(&p->own, 1, __ATOMIC_RELEASE);
		pending_put(p); /* n->kept's */
	}
}

void fs_pending_drop_kept(struct mfs_node *n)
{
	struct fs_pending *p;

	while ((p = n->kept)) {
		n->kept = p->knext;
		pending_put(p);
	}
}

int fs_pending_read(fuse_req_t req, struct mfs_handle *h, size_t size, off_t off, ssize_t *out)
{
	struct fs_pending *p = h->pending;
	uint64_t end = (uint64_t)off + size, mid = (uint64_t)off;
	ssize_t got = 0, r;
	char *buf = NULL;
	int rc;

	pthread_mutex_lock(&p->lock);
	/* Bytes the write-behind dropped, and no chunks to read them from: note 3. */
	while (!p->ended && !p->stored && (uint64_t)off < p->from)
		pthread_cond_wait(&p->cond, &p->lock);
	if (p->ended && p->kept) {
		pthread_mutex_unlock(&p->lock);
		return read_kept(req, h, size, off, out);
	}
	if (p->ended) {
		rc = settle(h, p);
		pthread_mutex_unlock(&p->lock);
		if (!rc)
			return 1; /* not answered: read h->m */
		fuse_reply_err(req, -rc);
		*out = rc;
		return 0;
	}
	p->users++;
	pthread_mutex_unlock(&p->lock);
	if (end > p->size)
		end = p->size;
	if ((uint64_t)off < end && !(buf = malloc(end - off)))
		got = -ENOMEM;
	/* [off, mid) from the stored chunks, [mid, end) from the staging. */
	if (got >= 0 && p->stored && (uint64_t)off < p->stored->size) {
		mid = end < p->stored->size ? end : p->stored->size;
		if ((rc = fs_copy_chunks(req_fs(req), p->stored, p->origin, buf, off, mid - off)))
			got = rc;
		else
			got = (ssize_t)(mid - off);
	}
	while (got >= 0 && (uint64_t)off + got < end) {
		r = pread(p->fd, buf + got, end - off - got, off + got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			got = -errno;
			break;
		}
		if (!r) { /* a staged end past the file's (ftruncate): zeros */
			memset(buf + got, 0, end - off - got);
			r = (ssize_t)(end - off - got);
		}
		got += r;
	}
	pthread_mutex_lock(&p->lock);
	if (!--p->users && p->ended)
		pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	*out = fs_reply_bytes(req, buf, got);
	return 0;
}

int fs_pending_uncount(struct mfs_fs *fs, struct mfs_handle *h)
{
	struct mfs_node *n = h->node;
	int done = 0;

	pthread_mutex_lock(&fs->noted_lock);
	if (n->noted && n->noted->pending == h->pending) {
		h->pending->readers--;
		h->pending->cached_readers -= h->cached;
		done = 1;
	}
	pthread_mutex_unlock(&fs->noted_lock);
	return done;
}

void fs_pending_close(struct mfs_handle *h)
{
	pending_put(h->pending);
	h->pending = NULL;
}
