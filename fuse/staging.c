/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Staging files: the bytes of a file being written, kept in an unlinked
 * temporary file under DATA/staging until the commit.  Being on the store's
 * own filesystem, a full disk shows up as ENOSPC at write() already.  A
 * crash leaves nothing to clean but the directory, cleared at start.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chunker.h"
#include "fs_internal.h"

int staging_new(struct mfs_fs *fs, struct mfs_staging **out)
{
	struct mfs_staging *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->fd = open(fs->staging_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (s->fd < 0) {
		int rc = -errno;

		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void staging_free(struct mfs_staging *s)
{
	if (!s)
		return;
	close(s->fd);
	free(s);
}

int staging_fill(struct mfs_fs *fs, struct mfs_staging *s, struct mfs_manifest *m)
{
	for (uint32_t i = 0; i < m->count; i++) {
		const struct mfs_cache_entry *e;
		const uint8_t *p;
		size_t left;
		uint64_t off = m->off[i];
		int rc = mfs_cache_get(fs->cache, &m->e[i].hash, m->e[i].len, &e);

		if (rc)
			return rc;
		for (p = e->data, left = e->len; left;) {
			ssize_t n = pwrite(s->fd, p, left, off);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				rc = -errno;
				mfs_cache_release(fs->cache, e);
				return rc;
			}
			p += n;
			left -= n;
			off += n;
		}
		mfs_cache_release(fs->cache, e);
	}
	s->size = m->size;
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
