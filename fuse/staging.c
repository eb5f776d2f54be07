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

	if (s->in_memory && !s->fallocated && !ftruncate(fd, 0)) {
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
	s->fd = fs->staging_mem_limit ? memfd_get() : -1;
	s->in_memory = s->fd >= 0;
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
}

static void uncharge(struct mfs_fs *fs, struct mfs_staging *s, uint64_t bytes)
{
	__atomic_sub_fetch(&fs->staging_mem_used, bytes, __ATOMIC_RELAXED);
	s->charged -= bytes;
}

void staging_free(struct mfs_fs *fs, struct mfs_staging *s)
{
	if (!s)
		return;
	view_end(fs, s);
	wb_end(s);
	mfs_manifest_unref(s->base);
	uncharge(fs, s, s->charged);
	memfd_put(s);
	free(s);
}

/* Copies all of from[0..len) to to, from the start.  0 or -errno. */
static int copy_all(int from, int to, uint64_t len)
{
	char *buf = malloc(1 << 20);
	uint64_t off = 0;
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	while (!rc && off < len) {
		size_t want = len - off < (1 << 20) ? len - off : (1 << 20);
		ssize_t n = pread(from, buf, want, off);

		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			break;
		}
		for (ssize_t done = 0; done < n && !rc;) {
			ssize_t w = pwrite(to, buf + done, n - done, off + done);

			if (w < 0 && errno != EINTR)
				rc = -errno;
			if (w > 0)
				done += w;
		}
		off += n;
	}
	free(buf);
	return rc;
}

/* Moves the staged bytes from the memfd to a file on disk. */
static int spill(struct mfs_fs *fs, struct mfs_staging *s)
{
	int fd = open(fs->staging_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600), rc;

	if (fd < 0)
		return -errno;
	if ((rc = copy_all(s->fd, fd, s->size)) || (ftruncate(fd, s->size) && (rc = -errno))) {
		close(fd);
		return rc;
	}
	close(s->fd);
	s->fd = fd;
	s->in_memory = 0;
	uncharge(fs, s, s->charged);
	log_debug("staging of %llu bytes moved to disk (memory budget used)",
		  (unsigned long long)s->size);
	return 0;
}

/* Makes room for the staged file to reach `end` bytes. */
static int reserve(struct mfs_fs *fs, struct mfs_staging *s, uint64_t end)
{
	uint64_t more;

	if (!s->in_memory || end <= s->charged)
		return 0;
	more = end - s->charged;
	if (__atomic_add_fetch(&fs->staging_mem_used, more, __ATOMIC_RELAXED) <= fs->staging_mem_limit) {
		s->charged += more;
		return 0;
	}
	__atomic_sub_fetch(&fs->staging_mem_used, more, __ATOMIC_RELAXED);
	return spill(fs, s);
}

static ssize_t write_bytes(struct mfs_fs *fs, struct mfs_staging *s, const void *buf, size_t len,
			   uint64_t off)
{
	size_t done = 0;
	int rc = reserve(fs, s, off + len);

	if (rc)
		return rc;
	while (done < len) {
		ssize_t n = pwrite(s->fd, (const char *)buf + done, len - done, off + done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (!done)
				return -errno;
			break;
		}
		done += n;
	}
	if (off + done > s->size)
		s->size = off + done;
	return done;
}

ssize_t staging_write(struct mfs_fs *fs, struct mfs_staging *s, const void *buf, size_t len,
		      uint64_t off)
{
	int rc = staging_materialize(fs, s);
	ssize_t n;

	if (rc)
		return rc;
	wb_changed(s, off);
	if ((n = write_bytes(fs, s, buf, len, off)) > 0)
		wb_after_write(fs, s);
	return n;
}

int staging_truncate(struct mfs_fs *fs, struct mfs_staging *s, uint64_t size)
{
	int rc;

	wb_changed(s, size);
	if (size == 0 && s->base) {
		mfs_manifest_unref(s->base);
		s->base = NULL;
		s->size = 0;
	}
	if ((rc = staging_materialize(fs, s)) || (rc = reserve(fs, s, size)))
		return rc;
	if (ftruncate(s->fd, size))
		return -errno;
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
	if ((rc = staging_materialize(fs, s)) || (rc = reserve(fs, s, off + len)))
		return rc;
	wb_changed(s, off);
	/*
	 * The staged file is a memfd or a file on the store's filesystem: it
	 * allocates, punches and zeroes as the kernel's own filesystems do, and
	 * refuses (EOPNOTSUPP) what they refuse.
	 */
	if (fallocate(s->fd, mode, off, len))
		return -errno;
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

int staging_materialize(struct mfs_fs *fs, struct mfs_staging *s)
{
	struct mfs_manifest *m = s->base;

	if (!m)
		return 0;
	s->size = 0;
	for (uint32_t i = 0; i < m->count; i++) {
		const struct mfs_cache_entry *e;
		ssize_t n;
		int rc = mfs_cache_get(fs->cache, &m->e[i].hash, m->e[i].len, 0, &e);

		if (rc)
			return rc;
		n = write_bytes(fs, s, e->data, e->len, m->off[i]);
		mfs_cache_release(fs->cache, e);
		if (n < 0)
			return (int)n;
		if ((size_t)n != m->e[i].len)
			return -EIO;
	}
	s->base = NULL;
	mfs_manifest_unref(m);
	return 0;
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
