/* SPDX-License-Identifier: Apache-2.0 */
/* Append-only pack files of chunk records (pack.h, doc/format.md). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pack.h"
#include "store/base/bytes.h"
#include "store/base/errors.h"
#include "store/base/log.h"

#define LOG_COMPONENT "packs"
#define PEND_BUCKETS 256
#define HUGE_PAGE (2u << 20)

struct pack {
	int fd;
	int dfd;		/* O_DIRECT; -1 where the filesystem has none */
	int sealed;		/* takes no appends; append_lock */
	int dirty;		/* appended since its last fdatasync; atomic */
	uint64_t end;		/* next append offset; append_lock */
	uint64_t live;		/* bytes of records counted live; atomic */
	uint64_t disk;		/* bytes it takes on disk (approximate); atomic */
	uint64_t counted;	/* blocks' bytes of the records counted at open; atomic */
};

struct mfs_pack_pend {
	struct mfs_pack_pend *next;
	uint8_t key[32];
	struct mfs_pack_loc loc;
	uint64_t ticket;
	int claimed;		/* an index entry naming it is being written; pend_lock */
};

struct mfs_packs {
	char *dir;
	int dirfd;
	/* The table: v[number], NULL once unlinked.  Readers of a pack's fd
	 * hold it shared; growing the table and closing an fd take it
	 * exclusive, so a pread never meets a closed (or reused) fd. */
	pthread_rwlock_t table_lock;
	struct pack **v;
	uint32_t n;		/* entries in v; table_lock */
	pthread_mutex_t append_lock;
	uint32_t cur;		/* the pack taking appends, 0 before the first; append_lock */
	uint32_t next;		/* number of the next new pack; append_lock */
	/* Group commit of the fdatasyncs: every append takes a ticket once its
	 * bytes are written; a sync covers every ticket taken before it began. */
	pthread_mutex_t sync_lock;
	uint64_t completed;	/* atomic */
	uint64_t synced;	/* sync_lock */
	int fail_sync;		/* tests; sync_lock */
	pthread_mutex_t pend_lock;
	struct mfs_pack_pend *pend[PEND_BUCKETS];
};

/* The bytes a record of len takes in its pack: it starts and ends on a block. */
static uint64_t span_of(uint64_t len)
{
	return (len + MFS_PACK_ALIGN - 1) & ~(uint64_t)(MFS_PACK_ALIGN - 1);
}

static void pack_path(const struct mfs_packs *p, uint32_t n, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/%08u.pack", p->dir, n);
}

static int add_slot(struct mfs_packs *p, uint32_t n, struct pack *k)
{
	int rc = 0;

	pthread_rwlock_wrlock(&p->table_lock);
	if (n >= p->n) {
		uint32_t cap = n + 64;
		struct pack **v = realloc(p->v, cap * sizeof(*v));

		if (!v) {
			rc = -ENOMEM;
			goto out;
		}
		memset(v + p->n, 0, (cap - p->n) * sizeof(*v));
		p->v = v;
		p->n = cap;
	}
	p->v[n] = k;
out:
	pthread_rwlock_unlock(&p->table_lock);
	return rc;
}

/*
 * A pack's fd for O_DIRECT, when the filesystem has it (tmpfs before Linux
 * 6.6 does not).  Reads: a model's bytes are then cached once (the mount's
 * page cache and the chunk cache), not a second time as pack pages, and a
 * cold read skips the kernel's copy out of the page cache.  Appends: no
 * copy into page cache pages and no writeback of them later (measured: the
 * kernel's copy into fresh page cache pages was a third of the daemon's
 * CPU on cp).  Records start on MFS_PACK_ALIGN, so a whole record (padded)
 * is one aligned transfer.
 */
static int open_direct(const char *path)
{
	return open(path, O_RDWR | O_DIRECT | O_CLOEXEC);
}

/* Each thread's aligned buffers, one per purpose (pack.h). */
struct thread_bufs {
	uint8_t *p[MFS_PACK_BUF_COUNT];
	size_t cap[MFS_PACK_BUF_COUNT];
};
static pthread_key_t bufs_key;
static pthread_once_t bufs_once = PTHREAD_ONCE_INIT;

static void bufs_free(void *arg)
{
	struct thread_bufs *t = arg;

	for (int i = 0; i < MFS_PACK_BUF_COUNT; i++)
		free(t->p[i]);
	free(t);
}

static void bufs_init(void)
{
	pthread_key_create(&bufs_key, bufs_free);
}

uint8_t *mfs_packs_thread_buf(enum mfs_pack_buf which, size_t len)
{
	struct thread_bufs *t;
	void *p;

	pthread_once(&bufs_once, bufs_init);
	if (!(t = pthread_getspecific(bufs_key))) {
		if (!(t = calloc(1, sizeof(*t))))
			return NULL;
		if (pthread_setspecific(bufs_key, t)) {
			free(t);
			return NULL;
		}
	}
	if (t->cap[which] < len) {
		/*
		 * A read buffer takes whole records (~1 MiB) by O_DIRECT, then
		 * the XXH64 pass and the decoder read them: on huge pages, one
		 * pin and one TLB entry per 2 MiB instead of per 4 KiB (see the
		 * chunk buffers in chunkstore.c).
		 */
		if (which == MFS_PACK_BUF_READ) {
			len = (len + HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1);
			if (posix_memalign(&p, HUGE_PAGE, len))
				return NULL;
			(void)madvise(p, len, MADV_HUGEPAGE);
		} else if (posix_memalign(&p, MFS_PACK_ALIGN, len ? len : 1)) {
			return NULL;
		}
		free(t->p[which]);
		t->p[which] = p;
		t->cap[which] = len;
	}
	return t->p[which];
}

/* Opens an existing pack, sealed.  MFS_EFORMAT if its header is not a pack's. */
static int open_existing(struct mfs_packs *p, uint32_t n)
{
	uint8_t hdr[MFS_PACK_HDR_LEN];
	char path[4096];
	struct pack *k = NULL;
	struct stat st;
	int fd, rc;

	pack_path(p, n, path, sizeof(path));
	if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
		return -errno;
	if (fstat(fd, &st)) {
		rc = -errno;
		goto out;
	}
	if (pread(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr) ||
	    memcmp(hdr, MFS_PACK_MAGIC, 4) || hdr[4] != MFS_PACK_VERSION || get_le32(hdr + 8) != n) {
		log_error("%s: not a modelfs pack of version %d (%s)", path, MFS_PACK_VERSION,
			  "a file that is not one has no place among the packs");
		rc = MFS_EFORMAT;
		goto out;
	}
	if (!(k = calloc(1, sizeof(*k)))) {
		rc = -ENOMEM;
		goto out;
	}
	*k = (struct pack){ .fd = fd, .dfd = open_direct(path), .sealed = 1,
			    .end = (uint64_t)st.st_size, .disk = (uint64_t)st.st_blocks * 512 };
	if ((rc = add_slot(p, n, k)))
		goto out;
	return 0;
out:
	if (k && k->dfd >= 0)
		close(k->dfd);
	free(k);
	close(fd);
	return rc;
}

int mfs_packs_open(const char *dir, struct mfs_packs **out)
{
	struct mfs_packs *p = calloc(1, sizeof(*p));
	struct dirent *de;
	DIR *d = NULL;
	int rc = -ENOMEM;

	*out = NULL;
	if (!p || !(p->dir = strdup(dir)))
		goto fail;
	p->dirfd = -1;
	pthread_rwlock_init(&p->table_lock, NULL);
	pthread_mutex_init(&p->append_lock, NULL);
	pthread_mutex_init(&p->sync_lock, NULL);
	pthread_mutex_init(&p->pend_lock, NULL);
	p->next = 1;
	if (mkdir(dir, 0700) && errno != EEXIST) {
		rc = -errno;
		goto fail;
	}
	if ((p->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    !(d = fdopendir(dup(p->dirfd)))) {
		rc = -errno;
		goto fail;
	}
	rc = 0;
	while (!rc && (de = readdir(d))) {
		unsigned n;
		char tail;

		if (de->d_name[0] == '.')
			continue;
		/* Only NNNNNNNN.pack is ours; anything else is left alone. */
		if (sscanf(de->d_name, "%8u.pac%c", &n, &tail) != 2 || tail != 'k' ||
		    strlen(de->d_name) != 13 || n == 0)
			continue;
		rc = open_existing(p, n);
		if (!rc && n >= p->next)
			p->next = n + 1;
	}
	closedir(d);
	if (rc)
		goto fail;
	*out = p;
	return 0;
fail:
	mfs_packs_close(p);
	return rc;
}

void mfs_packs_close(struct mfs_packs *p)
{
	if (!p)
		return;
	for (uint32_t i = 0; i < p->n; i++) {
		if (p->v[i] && p->v[i]->fd >= 0)
			close(p->v[i]->fd);
		if (p->v[i] && p->v[i]->dfd >= 0)
			close(p->v[i]->dfd);
		free(p->v[i]);
	}
	for (int i = 0; i < PEND_BUCKETS; i++)
		while (p->pend[i]) {
			struct mfs_pack_pend *e = p->pend[i];

			p->pend[i] = e->next;
			free(e);
		}
	if (p->dirfd >= 0)
		close(p->dirfd);
	pthread_rwlock_destroy(&p->table_lock);
	pthread_mutex_destroy(&p->append_lock);
	pthread_mutex_destroy(&p->sync_lock);
	pthread_mutex_destroy(&p->pend_lock);
	free(p->v);
	free(p->dir);
	free(p);
}

int mfs_packs_add_live(struct mfs_packs *p, const struct mfs_pack_loc *loc)
{
	int rc = -ENOENT;

	pthread_rwlock_rdlock(&p->table_lock);
	if (loc->pack < p->n && p->v[loc->pack]) {
		__atomic_add_fetch(&p->v[loc->pack]->live, loc->len, __ATOMIC_RELAXED);
		__atomic_add_fetch(&p->v[loc->pack]->counted, span_of(loc->len), __ATOMIC_RELAXED);
		rc = 0;
	}
	pthread_rwlock_unlock(&p->table_lock);
	return rc;
}

/* Closes and unlinks pack n; the caller made sure nothing names it. */
static void unlink_pack(struct mfs_packs *p, uint32_t n)
{
	struct pack *k;
	char path[4096];

	pthread_rwlock_wrlock(&p->table_lock);
	k = n < p->n ? p->v[n] : NULL;
	if (k)
		p->v[n] = NULL;
	pthread_rwlock_unlock(&p->table_lock);
	if (!k)
		return;
	pack_path(p, n, path, sizeof(path));
	if (unlink(path))
		log_warn("%s: cannot unlink: %s", path, strerror(errno));
	else
		log_info("%s: no live record left, removed", path);
	close(k->fd);
	if (k->dfd >= 0)
		close(k->dfd);
	free(k);
}

void mfs_packs_drop_unused(struct mfs_packs *p)
{
	uint32_t n;

	pthread_rwlock_rdlock(&p->table_lock);
	n = p->n;
	pthread_rwlock_unlock(&p->table_lock);
	for (uint32_t i = 1; i < n; i++) {
		int dead;

		pthread_rwlock_rdlock(&p->table_lock);
		dead = p->v[i] && p->v[i]->sealed && !__atomic_load_n(&p->v[i]->live, __ATOMIC_RELAXED);
		pthread_rwlock_unlock(&p->table_lock);
		if (dead)
			unlink_pack(p, i);
	}
}

/*
 * A pack's blocks past its counted records, before it is called one with
 * leftovers: the filesystem's own metadata blocks (an extent tree grows
 * as holes are punched) are counted in st_blocks too.
 */
#define LEFTOVER_SLACK (256u << 10)

int mfs_packs_leftovers(struct mfs_packs *p, uint8_t **which, uint32_t *n)
{
	int count = 0;

	pthread_rwlock_rdlock(&p->table_lock);
	*n = p->n;
	if (!(*which = calloc(p->n ? p->n : 1, 1))) {
		pthread_rwlock_unlock(&p->table_lock);
		return -ENOMEM;
	}
	for (uint32_t i = 1; i < p->n; i++) {
		struct pack *k = p->v[i];

		if (k && k->sealed &&
		    k->disk > MFS_PACK_ALIGN + __atomic_load_n(&k->counted, __ATOMIC_RELAXED) +
				      LEFTOVER_SLACK) {
			(*which)[i] = 1;
			count++;
		}
	}
	pthread_rwlock_unlock(&p->table_lock);
	return count;
}

static int loc_cmp(const void *a, const void *b)
{
	const struct mfs_pack_loc *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

/* Punches [from, to) of fd where it holds data (holes are skipped: most gaps are gc's). */
static int punch_gap(int fd, uint64_t from, uint64_t to)
{
	off_t d;

	if (from >= to)
		return 0;
	if ((d = lseek(fd, (off_t)from, SEEK_DATA)) < 0)
		return errno == ENXIO ? 0 : -errno;
	if ((uint64_t)d >= to)
		return 0;
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, d, (off_t)(to - (uint64_t)d)))
		return -errno;
	return 0;
}

int mfs_packs_reclaim(struct mfs_packs *p, uint32_t n, struct mfs_pack_loc *live, size_t nlive,
		      uint64_t *freed)
{
	uint64_t at = MFS_PACK_ALIGN; /* the header's block stays */
	struct stat st;
	struct pack *k;
	int rc = 0;

	*freed = 0;
	pthread_rwlock_rdlock(&p->table_lock);
	k = n < p->n ? p->v[n] : NULL;
	if (!k || !k->sealed) {
		pthread_rwlock_unlock(&p->table_lock);
		return -ENOENT;
	}
	qsort(live, nlive, sizeof(*live), loc_cmp);
	for (size_t i = 0; !rc && i <= nlive; i++) {
		uint64_t next = i < nlive ? live[i].off : k->end;

		rc = punch_gap(k->fd, at, next);
		if (i < nlive && live[i].off + span_of(live[i].len) > at)
			at = live[i].off + span_of(live[i].len);
	}
	if (!fstat(k->fd, &st)) {
		uint64_t now = (uint64_t)st.st_blocks * 512, was = __atomic_load_n(&k->disk, __ATOMIC_RELAXED);

		*freed = was > now ? was - now : 0;
		__atomic_store_n(&k->disk, now, __ATOMIC_RELAXED);
	}
	pthread_rwlock_unlock(&p->table_lock);
	return rc == -EOPNOTSUPP ? 0 : rc;
}

static int write_full(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *b = buf;

	while (len) {
		ssize_t n = pwrite(fd, b, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		b += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/*
 * Writes a record at off: padded to span with O_DIRECT where it can, else
 * buffered.  An aligned record's whole blocks go straight from it; only
 * the rest (all of an unaligned one) through the bounce buffer.
 */
static int append_at(struct pack *k, const void *rec, size_t len, uint64_t span, uint64_t off)
{
	size_t head = (uintptr_t)rec % MFS_PACK_ALIGN ? 0 : len & ~(size_t)(MFS_PACK_ALIGN - 1);
	uint8_t *b;
	int rc = 0;

	if (k->dfd >= 0 && (b = mfs_packs_thread_buf(MFS_PACK_BUF_APPEND, span - head))) {
		if (head)
			rc = write_full(k->dfd, rec, head, off);
		if (!rc && span > head) {
			memcpy(b, (const uint8_t *)rec + head, len - head);
			memset(b + len - head, 0, span - len);
			rc = write_full(k->dfd, b, span - head, off + head);
		}
		if (rc != -EINVAL)
			return rc;
	}
	return write_full(k->fd, rec, len, off);
}

/* A new pack taking appends (append_lock held).  Its name is durable before any record in it is. */
static int start_pack(struct mfs_packs *p)
{
	uint8_t hdr[MFS_PACK_HDR_LEN] = { 0 };
	struct pack *k = calloc(1, sizeof(*k));
	uint32_t n = p->next;
	char path[4096];
	int fd = -1, rc;

	if (!k)
		return -ENOMEM;
	k->dfd = -1;
	pack_path(p, n, path, sizeof(path));
	if ((fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
		rc = -errno;
		goto fail;
	}
	memcpy(hdr, MFS_PACK_MAGIC, 4);
	hdr[4] = MFS_PACK_VERSION;
	put_le32(hdr + 8, n);
	if ((rc = write_full(fd, hdr, sizeof(hdr), 0)) || (fdatasync(fd) && (rc = -errno)) ||
	    (fsync(p->dirfd) && (rc = -errno)))
		goto fail;
	*k = (struct pack){ .fd = fd, .dfd = open_direct(path), .end = MFS_PACK_ALIGN,
			    .disk = MFS_PACK_ALIGN };
	if ((rc = add_slot(p, n, k)))
		goto fail;
	if (p->cur) {
		pthread_rwlock_rdlock(&p->table_lock);
		p->v[p->cur]->sealed = 1;
		pthread_rwlock_unlock(&p->table_lock);
	}
	p->cur = n;
	p->next = n + 1;
	return 0;
fail:
	log_error("%s: cannot start a pack: %s", path, mfs_strerror(rc));
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
	if (k->dfd >= 0)
		close(k->dfd);
	free(k);
	return rc;
}

int mfs_packs_append(struct mfs_packs *p, const void *rec, size_t len, struct mfs_pack_loc *loc,
		     uint64_t *ticket)
{
	uint64_t span = span_of(len);
	struct pack *k;
	int rc = 0;

	if (len > UINT32_MAX || span > MFS_PACK_SEAL)
		return -EINVAL;
	pthread_mutex_lock(&p->append_lock);
	if (p->cur) {
		pthread_rwlock_rdlock(&p->table_lock);
		k = p->v[p->cur];
		pthread_rwlock_unlock(&p->table_lock);
		if (k->end + span > MFS_PACK_SEAL)
			rc = start_pack(p);
	} else {
		rc = start_pack(p);
	}
	if (rc) {
		pthread_mutex_unlock(&p->append_lock);
		return rc;
	}
	/* The table may grow (realloc) but v[cur] stays: live bytes keep it from unlinking. */
	pthread_rwlock_rdlock(&p->table_lock);
	k = p->v[p->cur];
	pthread_rwlock_unlock(&p->table_lock);
	*loc = (struct mfs_pack_loc){ .pack = p->cur, .len = (uint32_t)len, .off = k->end };
	k->end += span;
	__atomic_add_fetch(&k->live, len, __ATOMIC_RELAXED);
	__atomic_add_fetch(&k->disk, span, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&p->append_lock);

	if ((rc = append_at(k, rec, len, span, loc->off))) {
		/* The hole is never named; a sealed pack with nothing live goes later. */
		__atomic_sub_fetch(&k->live, len, __ATOMIC_RELAXED);
		log_error("pack %08u: append failed: %s", loc->pack, mfs_strerror(rc));
		return rc;
	}
	__atomic_store_n(&k->dirty, 1, __ATOMIC_RELEASE);
	*ticket = __atomic_add_fetch(&p->completed, 1, __ATOMIC_ACQ_REL);
	return 0;
}

int mfs_packs_sync(struct mfs_packs *p, uint64_t ticket)
{
	uint64_t want;
	int rc = 0;

	if (!ticket)
		ticket = __atomic_load_n(&p->completed, __ATOMIC_ACQUIRE);
	pthread_mutex_lock(&p->sync_lock);
	if (p->synced >= ticket)
		goto out;
	if (p->fail_sync) {
		rc = p->fail_sync;
		p->fail_sync = 0;
		goto out;
	}
	/* Every append with a ticket <= want set its pack's dirty flag before. */
	want = __atomic_load_n(&p->completed, __ATOMIC_ACQUIRE);
	pthread_rwlock_rdlock(&p->table_lock);
	for (uint32_t i = 1; i < p->n && !rc; i++) {
		struct pack *k = p->v[i];

		if (!k || !__atomic_exchange_n(&k->dirty, 0, __ATOMIC_ACQ_REL))
			continue;
		if (fdatasync(k->fd)) {
			rc = -errno;
			__atomic_store_n(&k->dirty, 1, __ATOMIC_RELEASE);
			log_error("pack %08u: fdatasync: %s", i, strerror(-rc));
		}
	}
	pthread_rwlock_unlock(&p->table_lock);
	if (!rc && want > p->synced)
		p->synced = want;
out:
	pthread_mutex_unlock(&p->sync_lock);
	return rc;
}

void mfs_packs_fail_next_sync(struct mfs_packs *p, int rc)
{
	pthread_mutex_lock(&p->sync_lock);
	p->fail_sync = rc;
	pthread_mutex_unlock(&p->sync_lock);
}

static int read_full(int fd, uint8_t *b, size_t len, size_t want, uint64_t off)
{
	size_t got = 0;

	while (got < want) {
		ssize_t n = pread(fd, b + got, len - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return MFS_ECORRUPT; /* the pack ends before the record */
		got += (size_t)n;
	}
	return 0;
}

size_t mfs_packs_read_cap(size_t len)
{
	return (len + MFS_PACK_ALIGN - 1) & ~(size_t)(MFS_PACK_ALIGN - 1);
}

int mfs_packs_read(struct mfs_packs *p, const struct mfs_pack_loc *loc, void *buf, size_t cap)
{
	size_t span = mfs_packs_read_cap(loc->len);
	struct pack *k;
	int rc = -ENOENT;

	pthread_rwlock_rdlock(&p->table_lock);
	if (loc->pack >= p->n || !(k = p->v[loc->pack]))
		goto out;
	/* Whole blocks into an aligned buffer (the pack may end before the last one). */
	if (k->dfd >= 0 && cap >= span && !((uintptr_t)buf % MFS_PACK_ALIGN) &&
	    !(loc->off % MFS_PACK_ALIGN)) {
		rc = read_full(k->dfd, buf, span, loc->len, loc->off);
		if (rc != -EINVAL)
			goto out;
	}
	rc = read_full(k->fd, buf, loc->len, loc->len, loc->off);
out:
	pthread_rwlock_unlock(&p->table_lock);
	return rc;
}

int mfs_packs_punch(struct mfs_packs *p, const struct mfs_pack_loc *loc)
{
	uint64_t span = span_of(loc->len);
	static int warned;
	struct pack *k;
	int rc = 0, dead;

	pthread_rwlock_rdlock(&p->table_lock);
	k = loc->pack < p->n ? p->v[loc->pack] : NULL;
	if (!k) {
		pthread_rwlock_unlock(&p->table_lock);
		return -ENOENT;
	}
	if (fallocate(k->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)loc->off,
		      (off_t)span)) {
		rc = -errno;
		/* Space only: it comes back with the pack. */
		if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
			log_warn("pack %08u: cannot punch a hole: %s", loc->pack, strerror(-rc));
	} else {
		__atomic_sub_fetch(&k->disk, span < k->disk ? span : 0, __ATOMIC_RELAXED);
	}
	__atomic_sub_fetch(&k->live, loc->len, __ATOMIC_ACQ_REL);
	pthread_rwlock_unlock(&p->table_lock);
	/* sealed is written under append_lock; a sealed pack gains no live bytes. */
	pthread_mutex_lock(&p->append_lock);
	pthread_rwlock_rdlock(&p->table_lock);
	k = loc->pack < p->n ? p->v[loc->pack] : NULL;
	dead = k && k->sealed && !__atomic_load_n(&k->live, __ATOMIC_ACQUIRE);
	pthread_rwlock_unlock(&p->table_lock);
	pthread_mutex_unlock(&p->append_lock);
	if (dead)
		unlink_pack(p, loc->pack);
	return rc == -EOPNOTSUPP ? 0 : rc;
}

uint64_t mfs_packs_disk_bytes(struct mfs_packs *p)
{
	uint64_t sum = 0;

	pthread_rwlock_rdlock(&p->table_lock);
	for (uint32_t i = 1; i < p->n; i++)
		if (p->v[i])
			sum += __atomic_load_n(&p->v[i]->disk, __ATOMIC_RELAXED);
	pthread_rwlock_unlock(&p->table_lock);
	return sum;
}

static unsigned bucket(const uint8_t key[32])
{
	return key[0] % PEND_BUCKETS; /* a SHA-256: any byte is uniform */
}

/*
 * Where key's pending entry of len bytes (0: of any length; unclaimed: not
 * claimed) is linked, or the bucket's final NULL link.  pend_lock held.
 */
static struct mfs_pack_pend **pend_slot(struct mfs_packs *p, const uint8_t key[32], uint32_t len,
					  int unclaimed)
{
	struct mfs_pack_pend **pp = &p->pend[bucket(key)];

	while (*pp && (memcmp((*pp)->key, key, 32) || (len && (*pp)->loc.len != len) ||
		       (unclaimed && (*pp)->claimed)))
		pp = &(*pp)->next;
	return pp;
}

int mfs_packs_pending_put(struct mfs_packs *p, const uint8_t key[32], const struct mfs_pack_loc *loc,
			  uint64_t ticket)
{
	struct mfs_pack_pend *e = malloc(sizeof(*e));
	unsigned b = bucket(key);

	if (!e)
		return -ENOMEM;
	memcpy(e->key, key, 32);
	e->loc = *loc;
	e->ticket = ticket;
	e->claimed = 0;
	pthread_mutex_lock(&p->pend_lock);
	e->next = p->pend[b];
	p->pend[b] = e;
	pthread_mutex_unlock(&p->pend_lock);
	return 0;
}

int mfs_packs_pending_peek(struct mfs_packs *p, const uint8_t key[32], uint32_t len,
			   struct mfs_pack_loc *loc)
{
	struct mfs_pack_pend *e;

	pthread_mutex_lock(&p->pend_lock);
	if ((e = *pend_slot(p, key, len, 0)))
		*loc = e->loc;
	pthread_mutex_unlock(&p->pend_lock);
	return e ? 0 : -ENOENT;
}

int mfs_packs_pending_claim(struct mfs_packs *p, const uint8_t key[32], uint32_t len,
			    struct mfs_pack_loc *loc, uint64_t *ticket, struct mfs_pack_pend **claim)
{
	struct mfs_pack_pend *e;

	pthread_mutex_lock(&p->pend_lock);
	if ((e = *pend_slot(p, key, len, 1)))
		e->claimed = 1;
	pthread_mutex_unlock(&p->pend_lock);
	if (!e)
		return -ENOENT;
	*loc = e->loc;
	*ticket = e->ticket;
	*claim = e;
	return 0;
}

void mfs_packs_pending_drop(struct mfs_packs *p, struct mfs_pack_pend *claim)
{
	struct mfs_pack_pend **pp;

	pthread_mutex_lock(&p->pend_lock);
	for (pp = &p->pend[bucket(claim->key)]; *pp && *pp != claim; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = claim->next;
	pthread_mutex_unlock(&p->pend_lock);
	free(claim);
}

int mfs_packs_pending_take(struct mfs_packs *p, const uint8_t key[32], uint32_t len,
			   struct mfs_pack_loc *loc, uint64_t *ticket)
{
	struct mfs_pack_pend *e;
	int rc = mfs_packs_pending_claim(p, key, len, loc, ticket, &e);

	if (!rc)
		mfs_packs_pending_drop(p, e);
	return rc;
}
