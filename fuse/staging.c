/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Staging: the bytes of a file being written, kept until the commit.
 *
 * They go to a memfd while the daemon's staging budget (staging_mem_mb)
 * lasts: staged bytes are read once by the commit and thrown away, and in
 * a file on disk the kernel would write them back (and throttle the writer
 * for it) for nothing.  A file that outgrows the budget moves to an
 * unlinked temporary file in DATA/staging, on the store's own filesystem,
 * where a full disk shows up as ENOSPC at write().  A crash leaves nothing
 * to clean but that directory, cleared at start.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs_internal.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/chunk/chunker.h"

#define LOG_COMPONENT "staging"

/*
 * Emptied memfds of ended stagings, kept for the next ones: a memfd_create
 * and a close per small file cost ~30 us on issue 10's 2-core VM, twice an
 * ftruncate to 0 (ftruncate frees the pages).  At most MEMFD_POOL.
 */
#define MEMFD_POOL 8
static int memfd_pool[MEMFD_POOL];
static unsigned memfd_pooled;
static pthread_mutex_t memfd_pool_lock = PTHREAD_MUTEX_INITIALIZER;

static int memfd_get(void)
{
	int fd = -1;

	pthread_mutex_lock(&memfd_pool_lock);
	if (memfd_pooled)
		fd = memfd_pool[--memfd_pooled];
	pthread_mutex_unlock(&memfd_pool_lock);
	return fd >= 0 ? fd : memfd_create("modelfs-staging", MFD_CLOEXEC);
}

/* Keeps s's memfd, emptied, for a next staging; else closes it. */
static void memfd_put(struct mfs_staging *s)
{
	int fd = s->fd;

	if (s->in_memory && !s->fallocated && !s->lent && !ftruncate(fd, 0)) {
		pthread_mutex_lock(&memfd_pool_lock);
		if (memfd_pooled < MEMFD_POOL) {
			memfd_pool[memfd_pooled++] = fd;
			fd = -1;
		}
		pthread_mutex_unlock(&memfd_pool_lock);
	}
	if (fd >= 0)
		close(fd);
}

int staging_new(struct mfs_fs *fs, const struct mfs_inode *rec, struct mfs_staging **out)
{
	struct mfs_staging *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->mtime = rec->mtime;
	s->ctime = rec->ctime;
	s->delta = (struct fs_delta_src){ fs, rec->ino };
	s->fd = fs->staging_mem_limit ? memfd_get() : -1;
	s->in_memory = s->fd >= 0;
	s->dense = 1; /* empty */
	if (s->fd < 0)
		s->fd = open(fs->staging_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (s->fd < 0) {
		int rc = -errno;

		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void staging_touch(struct mfs_staging *s)
{
	clock_gettime(CLOCK_REALTIME, &s->mtime);
	s->ctime = s->mtime;
	s->published = 0;
}

static void uncharge(struct mfs_fs *fs, struct mfs_staging *s, uint64_t bytes)
{
	__atomic_sub_fetch(&fs->staging_mem_used, bytes, __ATOMIC_RELAXED);
	s->charged -= bytes;
}

/* Gives back all of s's charge (what dropped bytes took went already). */
static void uncharge_all(struct mfs_fs *fs, struct mfs_staging *s)
{
	uncharge(fs, s, s->charged - s->dropped);
	s->charged = s->dropped = 0;
}

void staging_free(struct mfs_fs *fs, struct mfs_staging *s)
{
	if (!s)
		return;
	view_end(fs, s);
	wb_end(s);
	mfs_manifest_unref(s->base);
	fs_kept_put(s->kept); /* its readers hold it on */
	uncharge_all(fs, s);
	memfd_put(s);
	free(s);
}

/* pwrite of all of buf, or as much as went before an error: the bytes written or -errno. */
static ssize_t pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done, off + done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return done ? (ssize_t)done : -errno;
		done += n;
	}
	return done;
}

/*
 * The next range of from's data at or after *off, before len: [*off, *end).
 * 0 when there is none (holes to len).  Without SEEK_DATA, all is data.
 */
static int next_data(int from, uint64_t *off, uint64_t len, uint64_t *end)
{
	off_t d = lseek(from, (off_t)*off, SEEK_DATA), h;

	if (d < 0 && errno == ENXIO)
		return 0;
	if (d < 0) {
		*end = len;
		return 1;
	}
	if ((uint64_t)d >= len)
		return 0;
	h = lseek(from, d, SEEK_HOLE);
	*off = (uint64_t)d;
	*end = h < 0 || (uint64_t)h > len ? len : (uint64_t)h;
	return 1;
}

/*
 * Copies from[off..len) to to, at the same offsets; holes stay holes (a
 * sparse file spilled to disk is not written out as zeros).  0 or -errno.
 */
static int copy_all(int from, int to, uint64_t off, uint64_t len)
{
	char *buf = malloc(1 << 20);
	uint64_t end = 0;
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	while (!rc && off < len) {
		size_t want;
		ssize_t n;

		if (off >= end && !next_data(from, &off, len, &end))
			break;
		want = end - off < (1 << 20) ? end - off : (1 << 20);
		n = pread(from, buf, want, off);

		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			break;
		}
		ssize_t w = pwrite_all(to, buf, n, off);

		if (w < n)
			rc = w < 0 ? (int)w : -EIO;
		off += n;
	}
	free(buf);
	return rc;
}

/* Moves the staged bytes from the memfd to a file on disk (a hole where they were dropped). */
static int spill(struct mfs_fs *fs, struct mfs_staging *s)
{
	int fd = open(fs->staging_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600), rc;

	if (fd < 0)
		return -errno;
	if ((rc = copy_all(s->fd, fd, s->punched, s->size)) ||
	    (ftruncate(fd, s->size) && (rc = -errno))) {
		close(fd);
		return rc;
	}
	close(s->fd);
	s->fd = fd;
	s->in_memory = 0;
	s->dense = 0; /* copy_all left holes where the memfd had them */
	uncharge_all(fs, s);
	log_debug("staging of %llu bytes moved to disk (memory budget used)",
		  (unsigned long long)s->size);
	return 0;
}

/*
 * How far a writer whose file is stored behind it (writebehind.c) may run
 * ahead of the stored bytes in memory, within the budget.  Past it, it
 * waits for the feed and the stored bytes leave the staging, so the memfd
 * reuses the pages it just freed.  Fresh pages cost far more than reused
 * ones on issue 10's VM (the host backs a guest page at its first touch):
 * a 2 GiB cp with all of it staged spent 1.1 of 4.5 daemon CPU-s/GiB in
 * the memfd write's copy, with 128 MiB of budget 0.05.  The writer does
 * not lose time to the wait: the commit at close has that much less to do.
 */
#define STREAM_LEAD (128ull << 20)

/* Makes room for the staged file to reach `end` bytes. */
static int reserve(struct mfs_fs *fs, struct mfs_staging *s, uint64_t end)
{
	uint64_t more;

	if (!s->in_memory || end <= s->charged)
		return 0;
	/* Each round drops more (s->punched grows), or says there is nothing to drop yet. */
	while (end - s->punched > STREAM_LEAD && wb_drop_stored(fs, s))
		;
	more = end - s->charged;
	/*
	 * Over budget: first drop what the write-behind stored (waiting for
	 * its feed), then, if that was not enough, move to disk.
	 */
	for (;;) {
		if (__atomic_add_fetch(&fs->staging_mem_used, more, __ATOMIC_RELAXED) <=
		    fs->staging_mem_limit) {
			s->charged += more;
			return 0;
		}
		__atomic_sub_fetch(&fs->staging_mem_used, more, __ATOMIC_RELAXED);
		/* Each round drops more (s->punched grows) or spills. */
		if (!wb_drop_stored(fs, s))
			return spill(fs, s);
	}
}

int staging_may_wait(const struct mfs_fs *fs, const struct mfs_staging *s, uint64_t end)
{
	uint64_t used = __atomic_load_n(&fs->staging_mem_used, __ATOMIC_RELAXED);

	/* reserve's two waits, both on the write-behind (wb_drop_stored). */
	return s->wb && s->in_memory && end > s->charged &&
	       (end - s->punched > STREAM_LEAD || used + (end - s->charged) > fs->staging_mem_limit);
}

static ssize_t write_bytes(struct mfs_fs *fs, struct mfs_staging *s, const void *buf, size_t len,
			   uint64_t off)
{
	ssize_t done;
	int rc = reserve(fs, s, off + len);

	if (rc)
		return rc;
	if (off > s->size)
		s->dense = 0; /* a gap: a hole */
	if ((done = pwrite_all(s->fd, buf, len, off)) < 0 || (size_t)done != len)
		s->dense = 0;
	if (done < 0)
		return done;
	if (off + done > s->size)
		s->size = off + done;
	return done;
}

int staging_write_begin(struct mfs_fs *fs, struct mfs_staging *s, size_t len, uint64_t off)
{
	int rc = staging_materialize_base(fs, s);

	if (rc || (rc = wb_changed(fs, s, off)))
		return rc;
	return reserve(fs, s, off + len);
}

ssize_t staging_write_end(struct mfs_fs *fs, struct mfs_staging *s, const void *buf, size_t len,
			  uint64_t off, int answered)
{
	uint64_t eio = fs->staging_eio_at;
	ssize_t done = eio && eio - 1 >= off && eio - 1 < off + len ? -EIO
								   : pwrite_all(s->fd, buf, len, off);
	/* An answered writer was told len bytes: the size says so, whatever went. */
	uint64_t end = answered ? off + len : done > 0 ? off + (uint64_t)done : 0;

	if (off > s->size || done != (ssize_t)len)
		s->dense = 0; /* a gap before off, or bytes missing: a hole */
	if (end > s->size)
		s->size = end;
	if (done == (ssize_t)len || (!answered && done > 0))
		wb_after_write(fs, s);
	if (done == (ssize_t)len || !answered)
		return done;
	s->werr = done < 0 ? (int)done : -EIO;
	log_error("staged write of %zu bytes at %llu failed after it was answered: %s; "
		  "the file's commit fails", len, (unsigned long long)off, mfs_strerror(s->werr));
	return done;
}

ssize_t staging_write(struct mfs_fs *fs, struct mfs_staging *s, const void *buf, size_t len,
		      uint64_t off)
{
	int rc = staging_write_begin(fs, s, len, off);

	return rc ? rc : staging_write_end(fs, s, buf, len, off, 0);
}

int staging_truncate(struct mfs_fs *fs, struct mfs_staging *s, uint64_t size)
{
	int rc;

	if ((rc = wb_changed(fs, s, size)))
		return rc;
	if (size == 0 && s->base) {
		mfs_manifest_unref(s->base);
		s->base = NULL;
		s->size = 0;
	}
	if (size == 0)
		s->werr = 0; /* the bytes a failed answered write missed are gone */
	if ((rc = staging_materialize_base(fs, s)) || (rc = reserve(fs, s, size)))
		return rc;
	if (ftruncate(s->fd, size))
		return -errno;
	if (size > s->size)
		s->dense = 0; /* grown: a hole */
	s->size = size;
	if (s->in_memory && size < s->charged)
		uncharge(fs, s, s->charged - size);
	return 0;
}

int staging_fallocate(struct mfs_fs *fs, struct mfs_staging *s, int mode, uint64_t off,
		      uint64_t len)
{
	struct stat st;
	int rc;

	if (off + len < off)
		return -EFBIG;
	s->fallocated = 1;
	s->dense = 0;
	if ((rc = staging_materialize_base(fs, s)) || (rc = reserve(fs, s, off + len)) ||
	    (rc = wb_changed(fs, s, off)))
		return rc;
	/*
	 * Allocation alone (mode 0, KEEP_SIZE) changes no byte: the staged file
	 * only grows to off + len, as by a truncate, once the store's disk could
	 * hold len (as the kernel's filesystems refuse what they cannot hold).
	 * Allocated zeros would be stored as holes (manifest.h) all the same,
	 * but a memfd held them in memory, and on disk they counted against
	 * the commit's space check: `fallocate -l 64G` failed with ENOSPC with
	 * 76 GiB free.  Zeroing a range (ZERO_RANGE) is the same allocation
	 * over a punched hole: the memfd refuses ZERO_RANGE, as tmpfs does,
	 * but ext4 and xfs take it, and `fallocate -z` and disk-image tools
	 * use it.  Else the staged file, a memfd or a file on the store's
	 * filesystem, punches as the kernel's own filesystems do, and refuses
	 * (EOPNOTSUPP) what they refuse (COLLAPSE_RANGE, INSERT_RANGE).
	 */
	if (!(mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_ZERO_RANGE))) {
		if ((rc = fs_check_space(fs, len)))
			return rc;
		if ((mode & FALLOC_FL_ZERO_RANGE) && off < s->size &&
		    fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
			      (off_t)(off + len < s->size ? len : s->size - off)))
			return -errno;
		if (!(mode & FALLOC_FL_KEEP_SIZE) && off + len > s->size &&
		    ftruncate(s->fd, (off_t)(off + len)))
			return -errno;
	} else if (fallocate(s->fd, mode, off, len)) {
		return -errno;
	}
	if (fstat(s->fd, &st))
		return -errno;
	s->size = st.st_size;
	return 0;
}

void staging_set_base(struct mfs_staging *s, struct mfs_manifest *m)
{
	s->base = mfs_manifest_ref(m);
	s->size = m->size;
}

/*
 * Writes the chunks of m that start below `below` into s at their
 * offsets: through the budget (write_bytes), or straight into the file.
 */
/*
 * Whether chunk e is a run of zeros a copy may leave as a hole (a sparse
 * file's: rewriting 300 MiB at the end of a 6 GiB sparse file copied 6 GiB
 * of zeros into the staged file first): a manifest's hole, or a stored
 * chunk of zeros (a manifest written before holes).  Short chunks are copied.
 */
static int zero_chunk(const struct mfs_manifest_entry *e)
{
	struct mfs_hash z;

	if (mfs_manifest_is_hole(e))
		return 1;
	return e->len >= MFS_CHUNK_MIN && !mfs_sha256_zeros(e->len, &z) &&
	       !memcmp(z.b, e->hash.b, MFS_HASH_LEN);
}

static int copy_chunks(struct mfs_fs *fs, struct mfs_staging *s, const struct mfs_manifest *m,
		       uint64_t below, int direct)
{
	for (uint32_t i = 0; i < m->count && m->off[i] < below; i++) {
		const struct mfs_cache_entry *e;
		ssize_t n;
		int rc;

		/* Left a hole: the caller makes the file reach past it (or it is one). */
		if (zero_chunk(&m->e[i]))
			continue;
		if ((rc = mfs_cache_get(fs->cache, &m->e[i].hash, m->e[i].len, 0, &e)))
			return rc;
		n = direct ? pwrite_all(s->fd, e->data, e->len, m->off[i])
			   : write_bytes(fs, s, e->data, e->len, m->off[i]);
		mfs_cache_release(fs->cache, e);
		if (n < 0)
			return (int)n;
		if ((size_t)n != m->e[i].len)
			return -EIO;
	}
	return 0;
}

int staging_materialize_base(struct mfs_fs *fs, struct mfs_staging *s)
{
	struct mfs_manifest *m = s->base;
	int rc;

	if (!m)
		return 0;
	s->size = 0;
	s->dense = 0; /* zero chunks are left as holes */
	if ((rc = copy_chunks(fs, s, m, UINT64_MAX, 0)))
		return rc;
	/* Zero chunks at the end were left out: the file still ends where m does. */
	if (s->size < m->size) {
		if ((rc = reserve(fs, s, m->size)))
			return rc;
		if (ftruncate(s->fd, (off_t)m->size))
			return -errno;
		s->size = m->size;
	}
	s->base = NULL;
	mfs_manifest_unref(m);
	return 0;
}

int staging_materialize(struct mfs_fs *fs, struct mfs_staging *s)
{
	int rc = wb_restore(fs, s);

	return rc ? rc : staging_materialize_base(fs, s);
}

int staging_restore(struct mfs_fs *fs, struct mfs_staging *s, const struct mfs_manifest *m)
{
	int rc;

	if (m->size < s->punched)
		return -EIO; /* a caller's bug: these chunks do not cover the hole */
	/* Straight into the file: the hole is within the charged size already. */
	if ((rc = copy_chunks(fs, s, m, s->punched, 1)))
		return rc;
	if (s->in_memory)
		__atomic_add_fetch(&fs->staging_mem_used, s->dropped, __ATOMIC_RELAXED);
	s->punched = s->dropped = 0;
	return 0;
}

uint64_t staging_data_bytes(const struct mfs_staging *s)
{
	struct stat st;
	uint64_t blocks;

	if (s->dense && !s->punched)
		return s->size; /* all of it is data */
	if (fstat(s->fd, &st))
		return s->size;
	blocks = (uint64_t)st.st_blocks * 512;
	return blocks < s->size ? blocks : s->size;
}

int staging_clear_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return -errno;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	return 0;
}
