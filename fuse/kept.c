/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kept bytes: the staged bytes of a file no commit published (it was
 * unlinked while open, or its commit failed), which its readers read on
 * after its last writer left, as a reader of an unlinked file on tmpfs
 * does: followers (fs_internal.h note 6) and readers that opened during
 * the commit (commit_open.c note 7).  Also the staged bytes such readers
 * read while a writer is still there (staging_pread, staging_seek).
 *
 * Notes on the design:
 *  1. Not in memory whole.  A file past its write-behind's lead has most
 *     of its bytes out of the staging (wb_drop_stored), in chunks the
 *     write-behind stored.  Putting them back (wb_restore) for readers
 *     put a 256 MiB file whole into a memfd on a 32 MiB staging budget,
 *     and a 20 GiB model whose commit failed (ENOSPC) would take 20 GiB
 *     of RAM (review s39, B).  So the kept bytes are [0, from), read from
 *     the chunks of `stored` through the chunk cache (as commit_open.c
 *     reads them while the commit runs), and [from, size) from a
 *     descriptor of the staged file, whose bytes below `from` are a hole.
 *  2. `stored` pins its chunks (a decoded version, or wb_stored's copy,
 *     live-listed: store/maint/gc.h note 1a) while it is held: they are
 *     named by no version, and gc must not take them.
 *  3. The staged file's memory stays counted in the staging budget
 *     (fs->staging_mem_used) while kept: the staging gives its charge to
 *     the kept bytes, which give it back when the last reader closes.
 *     Until then later writers spill to disk sooner, and the daemon's
 *     memory stays within staging_mem_mb (s38 review, finding 9).
 *  4. One kept copy per staging (s->kept), shared by its keepers.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs_internal.h"
#include "store/base/log.h"
#include "store/chunk/cache.h"

#define LOG_COMPONENT "fuse"

struct fs_kept {
	int refs;               /* atomic */
	int fd;                 /* the staged file, [from, size); -1 if from == size */
	uint64_t size, from;
	struct mfs_manifest *stored; /* its chunks cover [0, from); NULL if from == 0 */
	uint16_t origin;        /* the file's node, for the chunk cache */
	uint64_t charge;        /* of fs->staging_mem_used (note 3) */
	struct mfs_fs *fs;
};

int fs_copy_chunks(struct mfs_fs *fs, const struct mfs_manifest *m, uint16_t origin, char *buf,
		   uint64_t off, uint64_t len)
{
	const struct mfs_cache_entry *ent;
	int rc;

	for (uint32_t i = mfs_manifest_find(m, off); len; i++) {
		uint64_t in = off - m->off[i], k = m->e[i].len - in;

		if (k > len)
			k = len;
		if (mfs_manifest_is_hole(&m->e[i])) {
			memset(buf, 0, k);
		} else {
			if ((rc = mfs_cache_get_read(fs->cache, &m->e[i].hash, m->e[i].len, origin,
						     &ent)))
				return rc;
			memcpy(buf, ent->data + in, k);
			mfs_cache_release_cold(fs->cache, ent, 0);
		}
		buf += k;
		off += k;
		len -= k;
	}
	return 0;
}

/*
 * [off, off + size) of bytes that are m's below from and fd's above, up
 * to end (zeros past fd's end): the bytes read or -errno.
 */
static ssize_t pread_split(struct mfs_fs *fs, const struct mfs_manifest *m, uint64_t from,
			   uint16_t origin, int fd, uint64_t end, char *buf, size_t size,
			   uint64_t off)
{
	uint64_t want = off >= end ? 0 : end - off < size ? end - off : size, got = 0;
	ssize_t r;
	int rc;

	if (off < from) {
		got = from - off < want ? from - off : want;
		if ((rc = fs_copy_chunks(fs, m, origin, buf, off, got)))
			return rc;
	}
	while (got < want) {
		r = fd >= 0 ? pread(fd, buf + got, want - got, (off_t)(off + got)) : 0;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (!r) { /* past the staged file's end: zeros, as the size says */
			memset(buf + got, 0, want - got);
			r = (ssize_t)(want - got);
		}
		got += (uint64_t)r;
	}
	return (ssize_t)got;
}

/* SEEK_DATA or SEEK_HOLE from off in such bytes: the offset or -errno. */
static off_t seek_split(const struct mfs_manifest *m, uint64_t from, int fd, uint64_t end,
			uint64_t off, int whence)
{
	off_t r;

	if (off >= end)
		return -ENXIO;
	/* The manifest's holes are holes (a staged file's zeros were left as holes too). */
	if (off < from) {
		for (uint32_t i = mfs_manifest_find(m, off); i < m->count && m->off[i] < from; i++)
			if (mfs_manifest_is_hole(&m->e[i]) == (whence == SEEK_HOLE))
				return (off_t)(m->off[i] > off ? m->off[i] : off);
		off = from;
	}
	if (off >= end || fd < 0)
		return whence == SEEK_HOLE ? (off_t)end : -ENXIO;
	if ((r = lseek(fd, (off_t)off, whence)) < 0)
		return errno == ENXIO && whence == SEEK_HOLE ? (off_t)end : -errno;
	return (uint64_t)r > end ? (whence == SEEK_HOLE ? (off_t)end : -ENXIO) : r;
}

/*
 * The chunks that hold s's bytes below s->punched, or NULL (none can be
 * had: the caller puts the bytes back instead).  Borrowed from s or hint.
 */
static struct mfs_manifest *punched_chunks(struct mfs_staging *s, struct mfs_manifest *hint)
{
	struct mfs_manifest *m = wb_pinned(s);

	if (m && m->size >= s->punched)
		return m;
	/* The write-behind's session is gone (its finish failed): the commit's copy. */
	if (!s->wb && hint && hint->size >= s->punched)
		return hint;
	/* Indexes what the feeds stored since (joins a running feed). */
	if ((m = wb_stored_fresh(s)) && m->size >= s->punched)
		return m;
	return NULL;
}

ssize_t staging_pread(struct mfs_fs *fs, struct mfs_staging *s, struct mfs_manifest *hint,
		      void *buf, size_t size, uint64_t off)
{
	struct mfs_manifest *m = NULL;
	uint16_t origin = (uint16_t)(s->delta.ino >> 48);
	ssize_t r;
	int rc;

	if (s->base && s->base->size == s->size) /* the base's bytes, not copied in */
		return pread_split(fs, s->base, s->size, origin, -1, s->size, buf, size, off);
	/* Above the hole, or below it with its chunks: nothing put back (note 1). */
	if (!s->base && (off >= s->punched || (m = punched_chunks(s, hint))))
		return pread_split(fs, m, s->punched, origin, s->fd, s->size, buf, size, off);
	if ((rc = staging_materialize(fs, s)))
		return rc;
	if ((r = pread(s->fd, buf, size, (off_t)off)) < 0)
		return -errno;
	return r;
}

off_t staging_seek(struct mfs_fs *fs, struct mfs_staging *s, struct mfs_manifest *hint,
		   uint64_t off, int whence)
{
	struct mfs_manifest *m = NULL;
	off_t r;
	int rc;

	if (s->base && s->base->size == s->size)
		return seek_split(s->base, s->size, -1, s->size, off, whence);
	if (!s->base && (!s->punched || (m = punched_chunks(s, hint))))
		return seek_split(m, s->punched, s->fd, s->size, off, whence);
	if ((rc = staging_materialize(fs, s)))
		return rc;
	if ((r = lseek(s->fd, (off_t)off, whence)) < 0)
		return -errno;
	return r;
}

int fs_kept_new(struct mfs_fs *fs, struct mfs_staging *s, struct mfs_manifest *hint,
		struct fs_kept **out)
{
	struct mfs_manifest *m = NULL;
	struct fs_kept *k;
	int rc;

	*out = NULL;
	if (s->werr)
		return s->werr; /* never bytes that miss an answered write */
	if (s->kept) {
		__atomic_add_fetch(&s->kept->refs, 1, __ATOMIC_RELAXED);
		*out = s->kept;
		return 0;
	}
	if (!(k = calloc(1, sizeof(*k))))
		return -ENOMEM;
	k->fs = fs;
	k->refs = 2; /* the caller's and s->kept's */
	k->fd = -1;
	k->size = s->size;
	k->origin = (uint16_t)(s->delta.ino >> 48);
	if (s->base && s->base->size == s->size) {
		/* A commit stored them all (its publish found the path gone): the version's bytes. */
		m = s->base;
		k->from = s->size;
	} else if (!s->base && s->punched && (m = punched_chunks(s, hint))) {
		k->from = s->punched;
	} else if ((rc = staging_materialize(fs, s))) { /* note 1: rare, no chunks to read */
		free(k);
		return rc;
	}
	k->stored = mfs_manifest_ref(m);
	if (k->from < k->size) {
		if ((k->fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 0)) < 0) {
			rc = -errno;
			mfs_manifest_unref(k->stored);
			free(k);
			return rc;
		}
		s->lent = 1; /* a pooled memfd is emptied and reused: never this one */
		/* Note 3: s's charge (net of the dropped bytes') is the kept bytes' now. */
		if (s->in_memory) {
			k->charge = s->charged - s->dropped;
			s->charged = s->dropped;
		}
	}
	s->kept = k;
	*out = k;
	return 0;
}

void fs_kept_put(struct fs_kept *k)
{
	if (!k || __atomic_sub_fetch(&k->refs, 1, __ATOMIC_ACQ_REL))
		return;
	if (k->charge)
		__atomic_sub_fetch(&k->fs->staging_mem_used, k->charge, __ATOMIC_RELAXED);
	if (k->fd >= 0)
		close(k->fd);
	mfs_manifest_unref(k->stored);
	free(k);
}

ssize_t fs_kept_pread(struct fs_kept *k, void *buf, size_t size, uint64_t off)
{
	return pread_split(k->fs, k->stored, k->from, k->origin, k->fd, k->size, buf, size, off);
}

off_t fs_kept_seek(struct fs_kept *k, uint64_t off, int whence)
{
	return seek_split(k->stored, k->from, k->fd, k->size, off, whence);
}
