/* SPDX-License-Identifier: Apache-2.0 */
/*
 * File locks (fcntl POSIX and OFD locks, flock), kept by the daemon.
 *
 * The kernel keeps the locks of a FUSE file per kernel inode, and a
 * commit gives the path a new inode (fs_internal.h note 4): a lock taken
 * through a descriptor opened before an fsync would not exclude a process
 * that opens the path after it, and SQLite shared by processes broke
 * (t0422, t0417).  So the daemon answers GETLK, SETLK, SETLKW and flock
 * itself (FUSE_CAP_POSIX_LOCKS, FUSE_CAP_FLOCK_LOCKS), and keys them by the
 * file, not the inode: by the file id every version of the file keeps and
 * stat shows as st_ino (inode.h, fid).  Two descriptors of one file lock
 * one table whichever of its inodes they opened, as on tmpfs.
 *
 * POSIX locks are byte ranges of an owner (fi->lock_owner: the process's
 * file table, or the open file description for OFD locks, which the kernel
 * sends the same way); an owner's ranges never overlap, and touching ranges
 * of one type merge.  They go when the owner closes any descriptor of the
 * file (FLUSH: a process's exit closes them all), and with the open file
 * description (RELEASE) for those taken through it: OFD locks end there,
 * and a POSIX lock's owner closed the descriptor, so flushed, before.
 * flock locks are per open file description and go at its RELEASE.
 *
 * A blocking request (F_SETLKW, flock without LOCK_NB) that must wait is
 * queued with its request, holding no thread and no node lock: the
 * daemon's threads are few (threads=), and the holder's unlock must get
 * through.  Each change that frees a range grants what waits in order and
 * answers those requests.  A signal to the waiting process (the kernel's
 * INTERRUPT; SIGKILL too) answers EINTR.  No EDEADLK detection.
 *
 * One mutex guards all tables: lock requests are few and short.  Memory is
 * what open files hold: a file's entry goes with its last range and waiter.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>

#include "fs_internal.h"
#include "store/base/log.h"

#define LOG_COMPONENT "fuse"

#define LK_BUCKETS 256
#define LK_EOF UINT64_MAX
/* Ranges at most (a bound on memory; the kernel has none): beyond, ENOLCK. */
#define LK_MAX_RANGES (1u << 20)

struct lk_range {
	uint64_t owner;
	uint64_t fh;            /* the handle it was taken through */
	pid_t pid;
	int type;               /* F_RDLCK or F_WRLCK */
	uint64_t start, end;    /* inclusive; end LK_EOF: to the end of the file */
	struct lk_range *next;
};

struct lk_waiter {
	fuse_req_t req;
	int flock;              /* a flock request (fl->flocks), else POSIX */
	struct lk_range want;   /* type, range, owner, fh, pid */
	struct lk_waiter *next;
};

struct lk_file {
	uint64_t id;
	struct lk_range *posix, *flocks;
	struct lk_waiter *waiters; /* FIFO */
	struct lk_file *next;
};

struct fs_locks {
	pthread_mutex_t mu;
	struct lk_file *files[LK_BUCKETS];
	unsigned ranges;        /* all files' ranges; mu, read atomically */
};

int fs_locks_new(struct mfs_fs *fs)
{
	struct fs_locks *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	pthread_mutex_init(&l->mu, NULL);
	fs->locks = l;
	return 0;
}

static void free_ranges(struct lk_range *r)
{
	while (r) {
		struct lk_range *next = r->next;

		free(r);
		r = next;
	}
}

void fs_locks_free(struct mfs_fs *fs)
{
	struct fs_locks *l = fs->locks;

	if (!l)
		return;
	for (int b = 0; b < LK_BUCKETS; b++) {
		struct lk_file *f = l->files[b], *next;

		for (; f; f = next) {
			next = f->next;
			free_ranges(f->posix);
			free_ranges(f->flocks);
			/* Waiting requests die with the session. */
			for (struct lk_waiter *w = f->waiters, *wn; w; w = wn) {
				wn = w->next;
				free(w);
			}
			free(f);
		}
	}
	pthread_mutex_destroy(&l->mu);
	free(l);
	fs->locks = NULL;
}

static struct lk_file **file_slot(struct fs_locks *l, uint64_t id)
{
	struct lk_file **pp = &l->files[(id * 0x9E3779B97F4A7C15ull >> 40) % LK_BUCKETS];

	while (*pp && (*pp)->id != id)
		pp = &(*pp)->next;
	return pp;
}

/* The file's entry, made if `make`; NULL if none (or no memory).  mu held. */
static struct lk_file *file_get(struct fs_locks *l, uint64_t id, int make)
{
	struct lk_file **pp = file_slot(l, id);

	if (!*pp && make && (*pp = calloc(1, sizeof(**pp))))
		(*pp)->id = id;
	return *pp;
}

/* Frees f's entry if nothing is left in it.  mu held. */
static void file_trim(struct fs_locks *l, struct lk_file *f)
{
	struct lk_file **pp;

	if (f->posix || f->flocks || f->waiters)
		return;
	pp = file_slot(l, f->id);
	*pp = f->next;
	free(f);
}

static int overlaps(const struct lk_range *a, const struct lk_range *b)
{
	return a->start <= b->end && b->start <= a->end;
}

/* The first range of list that `want` (another owner's) conflicts with, or NULL. */
static const struct lk_range *conflict(const struct lk_range *list, const struct lk_range *want)
{
	for (const struct lk_range *r = list; r; r = r->next)
		if (r->owner != want->owner && overlaps(r, want) &&
		    (r->type == F_WRLCK || want->type == F_WRLCK))
			return r;
	return NULL;
}

static int adjacent(const struct lk_range *a, const struct lk_range *b)
{
	return (a->end != LK_EOF && a->end + 1 == b->start) ||
	       (b->end != LK_EOF && b->end + 1 == a->start);
}

/*
 * Sets want (type F_RDLCK, F_WRLCK or F_UNLCK) over its range for its
 * owner in *list, as POSIX does: the owner's ranges there are replaced,
 * cut or split, and touching ranges of the same type merge.  No conflict
 * check.  0, or -ENOLCK (no memory; *list unchanged).  *freed: whether a
 * range of the owner shrank or weakened (waiters may go on).  mu held.
 */
static int posix_apply(struct fs_locks *l, struct lk_range **list, const struct lk_range *want,
		       int *freed)
{
	struct lk_range *spare[3] = { NULL, NULL, NULL }, *out = NULL, **tail = &out;
	struct lk_range merged = *want;
	int nspare = 0, need = 0;

	/* At most two pieces of a split and the new range: allocated first. */
	for (struct lk_range *r = *list; r; r = r->next)
		if (r->owner == want->owner && overlaps(r, want) &&
		    (want->type == F_UNLCK || r->type != want->type))
			need += (r->start < want->start) + (r->end > want->end);
	need = need > 2 ? 2 : need;
	need += want->type != F_UNLCK;
	if (__atomic_load_n(&l->ranges, __ATOMIC_RELAXED) + need > LK_MAX_RANGES)
		return -ENOLCK;
	for (; nspare < need; nspare++)
		if (!(spare[nspare] = malloc(sizeof(struct lk_range)))) {
			while (nspare--)
				free(spare[nspare]);
			return -ENOLCK;
		}
	for (struct lk_range *r = *list, *next; r; r = next) {
		next = r->next;
		if (r->owner != want->owner ||
		    (!overlaps(r, want) && (want->type == F_UNLCK || r->type != want->type ||
					    !adjacent(r, want)))) {
			*tail = r;
			tail = &r->next;
			continue;
		}
		if (want->type != F_UNLCK && r->type == want->type) {
			/* Same type, overlapping or touching: absorbed. */
			merged.start = r->start < merged.start ? r->start : merged.start;
			merged.end = r->end > merged.end ? r->end : merged.end;
			free(r);
			l->ranges--;
			continue;
		}
		/* Another type (or an unlock) over part of r: keep what lies outside. */
		*freed = 1;
		if (r->start < want->start) {
			struct lk_range *p = spare[--nspare];

			*p = *r;
			p->end = want->start - 1;
			*tail = p;
			tail = &p->next;
			l->ranges++;
		}
		if (r->end > want->end) {
			struct lk_range *p = spare[--nspare];

			*p = *r;
			p->start = want->end + 1;
			*tail = p;
			tail = &p->next;
			l->ranges++;
		}
		free(r);
		l->ranges--;
	}
	if (want->type != F_UNLCK) {
		struct lk_range *p = spare[--nspare];

		*p = merged;
		*tail = p;
		tail = &p->next;
		l->ranges++;
	}
	*tail = NULL;
	*list = out;
	while (nspare > 0)
		free(spare[--nspare]);
	return 0;
}

/* Drops the flock lock of owner in f (0 or 1 dropped).  mu held. */
static int flock_drop(struct fs_locks *l, struct lk_file *f, uint64_t owner)
{
	for (struct lk_range **pp = &f->flocks; *pp; pp = &(*pp)->next)
		if ((*pp)->owner == owner) {
			struct lk_range *r = *pp;

			*pp = r->next;
			free(r);
			l->ranges--;
			return 1;
		}
	return 0;
}

/* flock: want (whole file) for its owner, whose old lock was dropped.  mu held. */
static int flock_add(struct fs_locks *l, struct lk_file *f, const struct lk_range *want)
{
	struct lk_range *r;

	if (__atomic_load_n(&l->ranges, __ATOMIC_RELAXED) >= LK_MAX_RANGES ||
	    !(r = malloc(sizeof(*r))))
		return -ENOLCK;
	*r = *want;
	r->next = f->flocks;
	f->flocks = r;
	l->ranges++;
	return 0;
}

/* A request answered after mu is let go. */
struct lk_answer {
	fuse_req_t req;
	int err;
};

/*
 * Grants what waits on f that no lock conflicts with now, in order, and
 * puts their answers in ans (at most max; the rest wait for the next
 * change).  A grant that frees a range of its owner (a wait for F_RDLCK
 * over the owner's F_WRLCK) looks at the queue again from its head: a
 * waiter passed over may go on now.  mu held.
 */
static int grant_waiters(struct fs_locks *l, struct lk_file *f, struct lk_answer *ans, int max)
{
	int k = 0, freed = 0;

	for (struct lk_waiter **pp = &f->waiters; *pp && k < max;) {
		struct lk_waiter *w = *pp;

		if (w->flock ? conflict(f->flocks, &w->want) != NULL
			     : conflict(f->posix, &w->want) != NULL) {
			pp = &w->next;
			continue;
		}
		ans[k].req = w->req;
		if (w->flock) {
			/* The description may have taken a lock while w waited (another
			 * thread): the new one replaces it, as a conversion does. */
			freed = flock_drop(l, f, w->want.owner);
			ans[k].err = -flock_add(l, f, &w->want);
		} else {
			ans[k].err = -posix_apply(l, &f->posix, &w->want, &freed);
		}
		k++;
		*pp = w->next;
		free(w);
		if (freed) {
			freed = 0;
			pp = &f->waiters;
		}
	}
	return k;
}

#define LK_BATCH 16

/* Answers and, while any remain grantable, grants more; takes mu and lets it go. */
static void wake(struct fs_locks *l, uint64_t id)
{
	struct lk_answer ans[LK_BATCH];
	int k;

	do {
		struct lk_file *f;

		pthread_mutex_lock(&l->mu);
		f = file_get(l, id, 0);
		k = f ? grant_waiters(l, f, ans, LK_BATCH) : 0;
		if (f)
			file_trim(l, f);
		pthread_mutex_unlock(&l->mu);
		for (int i = 0; i < k; i++)
			fuse_reply_err(ans[i].req, ans[i].err);
	} while (k == LK_BATCH);
}

/*
 * INTERRUPT of a waiting request (libfuse calls it with the request held):
 * if it still waits, it ends with EINTR.  Not found: granted already, or
 * not queued yet (queue() looks at fuse_req_interrupted itself).
 */
static void interrupted(fuse_req_t req, void *data)
{
	struct fs_locks *l = data;
	struct lk_waiter *found = NULL;
	struct lk_file *in = NULL;

	pthread_mutex_lock(&l->mu);
	for (int b = 0; b < LK_BUCKETS && !found; b++)
		for (struct lk_file *f = l->files[b]; f && !found; f = f->next)
			for (struct lk_waiter **pp = &f->waiters; *pp; pp = &(*pp)->next)
				if ((*pp)->req == req) {
					found = *pp;
					*pp = found->next;
					in = f;
					break;
				}
	/* After the loops: their step reads f->next, and file_trim may free f. */
	if (in)
		file_trim(l, in);
	pthread_mutex_unlock(&l->mu);
	if (found) {
		free(found);
		fuse_reply_err(req, EINTR);
	}
}

/* The lock identity of kernel inode ino: its file's id.  0 or -errno. */
static int file_id(struct mfs_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi, uint64_t *id)
{
	struct mfs_handle *h = fi && fi->fh ? (struct mfs_handle *)(uintptr_t)fi->fh : NULL;
	struct mfs_node *n;
	int rc = 0;

	if (h && (*id = __atomic_load_n(&h->lock_id, __ATOMIC_RELAXED)))
		return 0;
	n = itable_get(fs, ino, NULL, 0, 1, &rc);
	if (!n)
		return rc ? rc : -ENOENT;
	pthread_mutex_lock(&n->lock);
	*id = n->rec.fid ? n->rec.fid : n->ino;
	pthread_mutex_unlock(&n->lock);
	itable_put(fs, n, 0, 1);
	if (h)
		__atomic_store_n(&h->lock_id, *id, __ATOMIC_RELAXED);
	return 0;
}

static void range_of(const struct flock *lk, struct lk_range *r)
{
	r->type = lk->l_type;
	r->start = lk->l_start < 0 ? 0 : (uint64_t)lk->l_start;
	r->end = lk->l_len <= 0 ? LK_EOF : r->start + (uint64_t)lk->l_len - 1;
	if (r->end < r->start)
		r->end = LK_EOF;
}

void fs_op_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock)
{
	struct mfs_fs *fs = req_fs(req);
	struct fs_locks *l = fs->locks;
	struct lk_range want = { .owner = fi->lock_owner };
	const struct lk_range *c = NULL;
	struct flock out = *lock;
	struct lk_file *f;
	uint64_t id;
	int rc = file_id(fs, ino, fi, &id);

	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	range_of(lock, &want);
	pthread_mutex_lock(&l->mu);
	if ((f = file_get(l, id, 0)) && want.type != F_UNLCK)
		c = conflict(f->posix, &want);
	if (c) {
		out.l_type = c->type;
		out.l_whence = SEEK_SET;
		out.l_start = (off_t)c->start;
		out.l_len = c->end == LK_EOF ? 0 : (off_t)(c->end - c->start + 1);
		out.l_pid = c->pid;
	} else {
		out.l_type = F_UNLCK;
	}
	pthread_mutex_unlock(&l->mu);
	fuse_reply_lock(req, &out);
}

/*
 * Queues w on f (mu held), unless its request was interrupted: then 0
 * and the caller answers EINTR.  The interrupt function was set before
 * (set_interrupt), so an INTERRUPT after this finds w in the queue.
 */
static int queue(struct lk_file *f, struct lk_waiter *w)
{
	struct lk_waiter **pp = &f->waiters;

	if (fuse_req_interrupted(w->req))
		return 0;
	while (*pp)
		pp = &(*pp)->next;
	w->next = NULL;
	*pp = w;
	return 1;
}

/*
 * POSIX (and OFD) setlk, and flock: one path.  want is the request;
 * sleep: wait for conflicting locks to go.
 */
static void set_lock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		     struct lk_range *want, int is_flock, int sleep)
{
	struct mfs_fs *fs = req_fs(req);
	struct fs_locks *l = fs->locks;
	struct lk_waiter *w = NULL;
	struct lk_file *f;
	uint64_t id;
	int rc = file_id(fs, ino, fi, &id), freed = 0, waiting = 0;

	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	want->owner = fi->lock_owner;
	want->fh = fi->fh;
	if (sleep && want->type != F_UNLCK) {
		if (!(w = calloc(1, sizeof(*w)))) {
			fuse_reply_err(req, ENOLCK);
			return;
		}
		/* Before the request can be seen in a queue: see interrupted(). */
		fuse_req_interrupt_func(req, interrupted, l);
	}
	pthread_mutex_lock(&l->mu);
	f = file_get(l, id, want->type != F_UNLCK);
	if (!f) {
		rc = want->type == F_UNLCK ? 0 : -ENOLCK;
	} else if (is_flock) {
		/* Linux drops the old lock first, even when the new one must wait or fails. */
		freed = flock_drop(l, f, want->owner);
		if (want->type == F_UNLCK)
			rc = 0;
		else if (!conflict(f->flocks, want))
			rc = flock_add(l, f, want);
		else if (!w)
			rc = -EWOULDBLOCK;
		else
			waiting = 1;
	} else if (want->type == F_UNLCK || !conflict(f->posix, want)) {
		rc = posix_apply(l, &f->posix, want, &freed);
	} else if (!w) {
		rc = -EAGAIN;
	} else {
		waiting = 1;
	}
	if (waiting) {
		w->req = req;
		w->flock = is_flock;
		w->want = *want;
		if (queue(f, w))
			w = NULL;
		else
			rc = -EINTR;
	}
	if (f)
		file_trim(l, f);
	pthread_mutex_unlock(&l->mu);
	if (fi->fh)
		__atomic_store_n(&((struct mfs_handle *)(uintptr_t)fi->fh)->locked, 1,
				 __ATOMIC_RELAXED);
	free(w);
	if (!waiting || rc)
		fuse_reply_err(req, -rc);
	if (freed)
		wake(l, id);
}

void fs_op_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock,
		 int sleep)
{
	struct lk_range want = { .pid = lock->l_pid };

	range_of(lock, &want);
	if (want.type != F_RDLCK && want.type != F_WRLCK && want.type != F_UNLCK) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	set_lock(req, ino, fi, &want, 0, sleep);
}

void fs_op_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op)
{
	struct lk_range want = { .start = 0, .end = LK_EOF, .pid = fuse_req_ctx(req)->pid };

	switch (op & (LOCK_SH | LOCK_EX | LOCK_UN)) {
	case LOCK_SH:
		want.type = F_RDLCK;
		break;
	case LOCK_EX:
		want.type = F_WRLCK;
		break;
	case LOCK_UN:
		want.type = F_UNLCK;
		break;
	default:
		fuse_reply_err(req, EINVAL);
		return;
	}
	set_lock(req, ino, fi, &want, 1, !(op & LOCK_NB));
}

/* Whether owner has a POSIX range anywhere.  mu held. */
static int owner_has_ranges(struct fs_locks *l, uint64_t owner)
{
	for (int b = 0; b < LK_BUCKETS; b++)
		for (struct lk_file *f = l->files[b]; f; f = f->next)
			for (struct lk_range *r = f->posix; r; r = r->next)
				if (r->owner == owner)
					return 1;
	return 0;
}

/* Drops owner's ranges and those taken through fh (either 0: none); whether any went.  mu held. */
static int drop_where(struct fs_locks *l, struct lk_range **list, uint64_t owner, uint64_t fh)
{
	int any = 0;

	for (struct lk_range **pp = list; *pp;) {
		struct lk_range *r = *pp;

		if ((owner && r->owner == owner) || (fh && r->fh == fh)) {
			*pp = r->next;
			free(r);
			l->ranges--;
			any = 1;
		} else {
			pp = &r->next;
		}
	}
	return any;
}

void fs_locks_flush(struct mfs_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_locks *l = fs->locks;
	struct lk_file *f;
	uint64_t id;
	int any = 0;

	if (!__atomic_load_n(&l->ranges, __ATOMIC_RELAXED))
		return;
	/* Only an owner that holds locks pays for finding the file. */
	pthread_mutex_lock(&l->mu);
	any = owner_has_ranges(l, fi->lock_owner);
	pthread_mutex_unlock(&l->mu);
	if (!any || file_id(fs, ino, fi, &id))
		return;
	pthread_mutex_lock(&l->mu);
	any = (f = file_get(l, id, 0)) && drop_where(l, &f->posix, fi->lock_owner, 0);
	if (f)
		file_trim(l, f);
	pthread_mutex_unlock(&l->mu);
	if (any)
		wake(l, id);
}

void fs_locks_close(struct mfs_fs *fs, struct mfs_handle *h, struct fuse_file_info *fi)
{
	struct fs_locks *l = fs->locks;
	uint64_t id = __atomic_load_n(&h->lock_id, __ATOMIC_RELAXED);
	uint64_t owner = fi->flock_release ? fi->lock_owner : 0;
	struct lk_file *f;
	int any = 0;

	/* Nothing was ever locked through h: nothing of it to drop. */
	if (!__atomic_load_n(&h->locked, __ATOMIC_RELAXED) || !id)
		return;
	pthread_mutex_lock(&l->mu);
	if ((f = file_get(l, id, 0))) {
		/* The handle's OFD locks; a POSIX owner flushed when it closed h. */
		any = drop_where(l, &f->posix, 0, (uint64_t)(uintptr_t)h);
		any |= drop_where(l, &f->flocks, owner, (uint64_t)(uintptr_t)h);
		file_trim(l, f);
	}
	pthread_mutex_unlock(&l->mu);
	if (any)
		wake(l, id);
}
