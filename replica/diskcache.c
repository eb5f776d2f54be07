/* SPDX-License-Identifier: Apache-2.0 */
/* The disk cache of peers' chunks (diskcache.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diskcache.h"
#include "store/base/bytes.h"
#include "store/base/log.h"
#include "store/base/lru.h"
#include "store/chunk/codec.h"
#include "store/kv/pack.h"

#define LOG_COMPONENT "diskcache"
struct dentry {
	struct mfs_lru_node node;  /* node.key: the chunk's hash */
	uint64_t size;
};

struct mfs_diskcache {
	char *dir;
	pthread_mutex_t lock;
	struct mfs_lru table;   /* every file by hash, on the LRU (next: newer) */
	uint64_t bytes, files, limit, hits, misses, evicted;
};

static struct dentry *find(struct mfs_diskcache *dc, const struct mfs_hash *h)
{
	struct mfs_lru_node *n = mfs_lru_find(&dc->table, h);

	return n ? mfs_lru_entry(n, struct dentry, node) : NULL;
}

static void path_of(const struct mfs_diskcache *dc, const struct mfs_hash *h, char *buf, size_t n)
{
	char hex[MFS_HASH_HEX_LEN + 1];

	mfs_hash_to_hex(h, hex);
	snprintf(buf, n, "%s/%s", dc->dir, hex);
}

/* Adds or refreshes an entry; lock held. */
static void track(struct mfs_diskcache *dc, const struct mfs_hash *h, uint64_t size)
{
	struct dentry *e = find(dc, h);

	if (e) {
		dc->bytes -= e->size;
	} else {
		if (!(e = calloc(1, sizeof(*e))))
			return;
		e->node.key = *h;
		mfs_lru_insert(&dc->table, &e->node);
		dc->files++;
	}
	e->size = size;
	dc->bytes += size;
	mfs_lru_push(&dc->table, &e->node, 0);
}

/* Drops an entry; lock held.  The caller unlinks the file. */
static void untrack(struct mfs_diskcache *dc, const struct mfs_hash *h)
{
	struct dentry *e = find(dc, h);

	if (!e)
		return;
	mfs_lru_remove(&dc->table, &e->node);
	dc->bytes -= e->size;
	dc->files--;
	free(e);
}

/* Removes least recently used files until at most target bytes are left; lock held. */
static void evict_to(struct mfs_diskcache *dc, uint64_t target)
{
	char path[4096];

	struct mfs_lru_node *oldest;

	while (dc->bytes > target && (oldest = mfs_lru_oldest(&dc->table))) {
		struct mfs_hash h = oldest->key;

		path_of(dc, &h, path, sizeof(path));
		unlink(path);
		untrack(dc, &h);
		dc->evicted++;
	}
}

uint64_t mfs_diskcache_shrink(struct mfs_diskcache *dc, uint64_t bytes)
{
	uint64_t before;

	pthread_mutex_lock(&dc->lock);
	before = dc->bytes;
	evict_to(dc, bytes < before ? before - bytes : 0);
	before -= dc->bytes;
	pthread_mutex_unlock(&dc->lock);
	return before;
}

static int is_hex_name(const char *s)
{
	if (strlen(s) != MFS_HASH_HEX_LEN)
		return 0;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return 0;
	return 1;
}

struct found {
	struct mfs_hash h;
	uint64_t size;
	struct timespec used;
};

static int by_atime(const void *a, const void *b)
{
	const struct found *x = a, *y = b;

	if (x->used.tv_sec != y->used.tv_sec)
		return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
	return x->used.tv_nsec < y->used.tv_nsec ? -1 : x->used.tv_nsec > y->used.tv_nsec;
}

/* Indexes the files already there, oldest use first; removes leftovers of interrupted puts. */
static int scan(struct mfs_diskcache *dc)
{
	DIR *d = opendir(dc->dir);
	struct found *all = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		if (!is_hex_name(de->d_name)) {
			if (strstr(de->d_name, ".tmp"))
				unlinkat(dirfd(d), de->d_name, 0);
			continue;
		}
		if (fstatat(dirfd(d), de->d_name, &st, 0) || !S_ISREG(st.st_mode) ||
		    mfs_grow(&all, &cap, n, sizeof(*all)))
			continue;
		mfs_hash_from_hex(de->d_name, &all[n].h);
		all[n].size = (uint64_t)st.st_size;
		all[n].used = st.st_atim;
		n++;
	}
	closedir(d);
	if (n)
		qsort(all, n, sizeof(*all), by_atime);
	for (size_t i = 0; i < n; i++)
		track(dc, &all[i].h, all[i].size);
	free(all);
	evict_to(dc, dc->limit);
	return 0;
}

int mfs_diskcache_open(const char *dir, uint64_t limit, struct mfs_diskcache **out)
{
	struct mfs_diskcache *dc = calloc(1, sizeof(*dc));
	int rc;

	*out = NULL;
	if (!dc || !(dc->dir = strdup(dir))) {
		free(dc);
		return -ENOMEM;
	}
	pthread_mutex_init(&dc->lock, NULL);
	mfs_lru_init(&dc->table);
	dc->limit = limit;
	rc = mkdir(dir, 0700) && errno != EEXIST ? -errno : scan(dc);
	if (rc) {
		log_error("disk cache %s: %s", dir, strerror(-rc));
		mfs_diskcache_close(dc);
		return rc;
	}
	*out = dc;
	return 0;
}

void mfs_diskcache_close(struct mfs_diskcache *dc)
{
	if (!dc)
		return;
	for (struct mfs_lru_node *n = mfs_lru_take_all(&dc->table), *next; n; n = next) {
		next = n->hnext;
		free(mfs_lru_entry(n, struct dentry, node));
	}
	pthread_mutex_destroy(&dc->lock);
	free(dc->dir);
	free(dc);
}

static int write_all(int fd, const uint8_t *p, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/*
 * Writes the record into the new file fd.  Its whole blocks go by O_DIRECT
 * from this thread's reused aligned buffer (pack.h), the rest buffered:
 * the bytes are not cached twice, and a cold read does not take ~0.43 GiB
 * of fresh page cache pages per GiB read for them.  On a VM whose host
 * takes back free guest memory, the first touch of such a page traps to
 * the host: writing into them cost 1.4-2.9 CPU-s per GiB, against 0.2
 * into pages freed just before (issue 10).  The file is the same either
 * way.  Buffered where the filesystem has no O_DIRECT.
 */
static int write_record(int fd, const uint8_t *rec, size_t len)
{
	size_t head = len & ~(size_t)(MFS_PACK_ALIGN - 1);
	uint8_t *b = head ? mfs_packs_thread_buf(MFS_PACK_BUF_APPEND, head) : NULL;
	int fl = b ? fcntl(fd, F_GETFL) : -1, rc;

	if (fl >= 0 && !fcntl(fd, F_SETFL, fl | O_DIRECT)) {
		memcpy(b, rec, head);
		rc = write_all(fd, b, head, 0);
		if (fcntl(fd, F_SETFL, fl) && !rc)
			rc = -errno;
		if (rc != -EINVAL)
			return rc ? rc : write_all(fd, rec + head, len - head, (off_t)head);
	}
	return write_all(fd, rec, len, 0);
}

int mfs_diskcache_put(struct mfs_diskcache *dc, const struct mfs_hash *h, const void *rec,
		      size_t len)
{
	char path[4096], tmp[4200];
	int fd, rc;

	if (len > dc->limit)
		return 0; /* would be evicted at once */
	path_of(dc, h, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)gettid());
	/* Write, then rename: a reader never sees a half-written file under the name. */
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return -errno;
	rc = write_record(fd, rec, len);
	if (close(fd) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (rc) {
		unlink(tmp);
		return rc;
	}
	pthread_mutex_lock(&dc->lock);
	track(dc, h, len);
	evict_to(dc, dc->limit);
	pthread_mutex_unlock(&dc->lock);
	return 0;
}

int mfs_diskcache_get(struct mfs_diskcache *dc, const struct mfs_hash *h, uint8_t **rec,
		      size_t *len)
{
	struct mfs_chunk_info info;
	char path[4096];
	struct stat st;
	uint8_t *buf = NULL;
	int fd, rc = 0;

	*rec = NULL;
	pthread_mutex_lock(&dc->lock);
	if (!find(dc, h)) {
		dc->misses++;
		pthread_mutex_unlock(&dc->lock);
		return -ENOENT;
	}
	pthread_mutex_unlock(&dc->lock);
	path_of(dc, h, path, sizeof(path));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		rc = -errno;
	else if (fstat(fd, &st) || st.st_size <= 0 || st.st_size > (64 << 20))
		rc = -EIO;
	else if (!(buf = malloc((size_t)st.st_size)))
		rc = -ENOMEM;
	else if (pread(fd, buf, (size_t)st.st_size, 0) != st.st_size)
		rc = -EIO;
	else if (mfs_chunk_verify(buf, (size_t)st.st_size, &info))
		rc = -EIO;
	if (fd >= 0)
		close(fd);
	pthread_mutex_lock(&dc->lock);
	if (rc == 0) {
		struct dentry *e = find(dc, h);

		if (e) {           /* most recently used now */
			mfs_lru_push(&dc->table, &e->node, 0);
		}
		dc->hits++;
	} else {
		dc->misses++;
		untrack(dc, h);
	}
	pthread_mutex_unlock(&dc->lock);
	if (rc) {
		free(buf);
		if (rc != -ENOMEM) {
			if (rc == -EIO) {
				char hex[MFS_HASH_HEX_LEN + 1];

				mfs_hash_to_hex(h, hex);
				log_warn("cached chunk %s is damaged: dropped", hex);
			}
			unlink(path);
			rc = -ENOENT;
		}
		return rc;
	}
	*rec = buf;
	*len = (size_t)st.st_size;
	return 0;
}

void mfs_diskcache_remove(struct mfs_diskcache *dc, const struct mfs_hash *h)
{
	char path[4096];

	path_of(dc, h, path, sizeof(path));
	pthread_mutex_lock(&dc->lock);
	untrack(dc, h);
	pthread_mutex_unlock(&dc->lock);
	unlink(path);
}

int mfs_diskcache_has(struct mfs_diskcache *dc, const struct mfs_hash *h)
{
	int has;

	pthread_mutex_lock(&dc->lock);
	has = find(dc, h) != NULL;
	pthread_mutex_unlock(&dc->lock);
	return has;
}

int mfs_diskcache_peek(struct mfs_diskcache *dc, const struct mfs_hash *h,
		       struct mfs_chunk_info *info, uint64_t *reclen)
{
	uint8_t hdr[MFS_CHUNK_HDR_SIZE];
	struct dentry *e;
	char path[4096];
	uint64_t size;
	int fd, rc = 0;

	pthread_mutex_lock(&dc->lock);
	e = find(dc, h);
	size = e ? e->size : 0;
	pthread_mutex_unlock(&dc->lock);
	if (!e)
		return -ENOENT;
	if (reclen)
		*reclen = size;
	if (!info)
		return 0;
	path_of(dc, h, path, sizeof(path));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -ENOENT; /* evicted meanwhile */
	if (pread(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr) ||
	    mfs_chunk_peek(hdr, size, info))
		rc = -ENOENT; /* a damaged file is a miss, as for a read */
	close(fd);
	return rc;
}

uint64_t mfs_diskcache_drop(struct mfs_diskcache *dc, const struct mfs_hash *h)
{
	struct dentry *e;
	char path[4096];
	uint64_t size = 0;

	path_of(dc, h, path, sizeof(path));
	pthread_mutex_lock(&dc->lock);
	if ((e = find(dc, h))) {
		size = e->size;
		untrack(dc, h);
		/* Under the lock: a put of h that comes later renames its file in after this. */
		unlink(path);
	}
	pthread_mutex_unlock(&dc->lock);
	return size;
}

void mfs_diskcache_stats(struct mfs_diskcache *dc, struct mfs_diskcache_stats *st)
{
	pthread_mutex_lock(&dc->lock);
	st->files = dc->files;
	st->bytes = dc->bytes;
	st->limit = dc->limit;
	st->hits = dc->hits;
	st->misses = dc->misses;
	st->evicted = dc->evicted;
	pthread_mutex_unlock(&dc->lock);
}

int mfs_diskcache_list(struct mfs_diskcache *dc, struct mfs_diskcache_entry **out, size_t *n)
{
	struct mfs_diskcache_entry *v;
	size_t i = 0;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&dc->lock);
	if (!(v = malloc((dc->files ? dc->files : 1) * sizeof(*v)))) {
		pthread_mutex_unlock(&dc->lock);
		return -ENOMEM;
	}
	for (struct mfs_lru_node *u = mfs_lru_oldest(&dc->table); u && i < dc->files;
	     u = mfs_lru_newer(&dc->table, u))
		v[i++] = (struct mfs_diskcache_entry){ u->key, mfs_lru_entry(u, struct dentry, node)->size };
	pthread_mutex_unlock(&dc->lock);
	*out = v;
	*n = i;
	return 0;
}
