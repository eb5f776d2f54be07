/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Views: what a path shows while its writer goes on after a commit.
 *
 * A commit that gives the path a new inode (fsync, or a flush of a dup'ed
 * descriptor, while the writer keeps the file open) leaves the writer's
 * handle on the old inode: the kernel knows the file by it.  The path now
 * resolves to the new inode, yet on a local filesystem a stat of the path
 * shows the writer's later writes at once.  So until the writer's next
 * commit or its last close, the new inode's stat takes its size and times
 * from the writer's staging, through a view.
 *
 * A view is shared when, at the commit, every writer of the older inode
 * wrote through its page cache and no reader held its version there: a
 * lookup of the path then gives the writer's inode, not the new one
 * (view_lookup_writer; fs_ops.c, fs_dir.c), until the view ends.  Every
 * process that opens the path meanwhile opens the inode the writer has,
 * and shares its staging and its page cache (fs_read.c, open_superseded):
 * all processes of one machine have one kernel inode per nodeid, so they
 * see each other's writes, sizes and shared mappings at once, as on a local
 * filesystem.  SQLite's WAL needs that across processes: every connection
 * opens the database and the -wal for writing, and maps the -shm shared.
 * Opening the new inode instead, such a writer joined the staging with
 * direct I/O (join_view): two page caches kept in step by invalidations,
 * whose races the kernel settles by dropping a size refresh
 * (SQLITE_IOERR_SHORT_READ), and no shared mapping (SQLITE_IOERR_SHMMAP).
 * A view whose writer writes directly is not shared: the older inode's
 * page cache is its readers', and openers join as before.  A view starts
 * within the commit's publish (fs_write.c), and opens wait for it
 * (itable_wait_views): an open of the new inode before it would stage
 * bytes of its own beside the writer's.  A writer that opens an inode a
 * commit superseded, and stages the current version there, starts one
 * too, never shared (it writes with direct I/O): the next writer of the
 * path joins it (fs_read.c, open_locked; t0427).  So do, never shared,
 * a write after a commit that started none because every writer seemed
 * closed (a forked child's copy of the descriptor writes on after its
 * opener's close: fs_write.c, view_on_write), and a writer of another
 * inode of the file that joins a staging with no view (stager.c; t0429).
 *
 * A view has its own lock and lives in a list of the daemon's, not in
 * either node: the writer updates it under its node's lock, a stat of the
 * new inode reads it under that node's lock, and neither node lock is
 * ever taken under the other.  Views are rare (a writer that syncs and
 * writes on) and short-lived, so a list serves.
 */
#include <errno.h>
#include <stdlib.h>

#include "fs_internal.h"
#include "store/base/log.h"

#define LOG_COMPONENT "fuse"

struct mfs_view {
	struct mfs_view *next;          /* fs->views, under fs->views_lock */
	uint64_t ino;                   /* the inode the path resolves to */
	uint64_t writer;                /* the writer's (older) inode */
	uint64_t size;                  /* the writer's staged size and times */
	struct timespec mtime, ctime;
	int shown;                      /* the kernel holds attributes from it */
	int times_set;                  /* utimensat on ino: the writer takes the times */
	int superseded;                 /* another writer published over ino (view_superseded) */
	int shared;                     /* lookups of the path give the writer's inode */
};

static void set_from(struct mfs_view *v, const struct mfs_staging *s)
{
	v->size = s->size;
	v->mtime = s->mtime;
	v->ctime = s->ctime;
}

void view_start(struct mfs_fs *fs, struct mfs_staging *s, uint64_t writer, uint64_t ino,
		int shared)
{
	struct mfs_view *v;

	view_end(fs, s);
	if (!(v = calloc(1, sizeof(*v)))) {
		/* Only the path's stat lags until the next commit. */
		log_warn("inode %016llx: no memory for the writer's view", (unsigned long long)ino);
		return;
	}
	v->ino = ino;
	v->writer = writer;
	v->shared = shared;
	set_from(v, s);
	pthread_mutex_lock(&fs->views_lock);
	v->next = fs->views;
	fs->views = v;
	__atomic_add_fetch(&fs->nviews, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&fs->views_lock);
	s->view = v;
}

uint64_t view_update(struct mfs_fs *fs, struct mfs_staging *s)
{
	struct mfs_view *v = s->view;
	uint64_t inval = 0;

	if (!v)
		return 0;
	pthread_mutex_lock(&fs->views_lock);
	set_from(v, s);
	v->times_set = 0;
	if (v->shown) {
		v->shown = 0;
		inval = v->ino;
	}
	pthread_mutex_unlock(&fs->views_lock);
	return inval;
}

void view_set_times(struct mfs_fs *fs, uint64_t ino, const struct timespec *mtime,
		    const struct timespec *ctime)
{
	struct mfs_view *v;

	if (!__atomic_load_n(&fs->nviews, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&fs->views_lock);
	for (v = fs->views; v; v = v->next) {
		if (v->ino == ino) {
			v->mtime = *mtime;
			v->ctime = *ctime;
			v->times_set = 1;
			break;
		}
	}
	pthread_mutex_unlock(&fs->views_lock);
}

void view_take_times(struct mfs_fs *fs, struct mfs_staging *s)
{
	struct mfs_view *v = s->view;

	if (!v)
		return;
	pthread_mutex_lock(&fs->views_lock);
	if (v->times_set) {
		s->mtime = v->mtime;
		s->ctime = v->ctime;
		v->times_set = 0;
	}
	pthread_mutex_unlock(&fs->views_lock);
}

uint64_t view_writer(struct mfs_fs *fs, uint64_t ino)
{
	struct mfs_view *v;
	uint64_t writer = 0;

	if (!__atomic_load_n(&fs->nviews, __ATOMIC_RELAXED))
		return 0;
	pthread_mutex_lock(&fs->views_lock);
	for (v = fs->views; v && !writer; v = v->next)
		if (v->ino == ino)
			writer = v->writer;
	pthread_mutex_unlock(&fs->views_lock);
	return writer;
}

uint64_t view_lookup_writer(struct mfs_fs *fs, uint64_t ino)
{
	struct mfs_view *v;
	uint64_t writer = 0;

	if (!__atomic_load_n(&fs->nviews, __ATOMIC_RELAXED))
		return 0;
	pthread_mutex_lock(&fs->views_lock);
	for (v = fs->views; v && !writer; v = v->next)
		if (v->ino == ino && v->shared && !v->superseded)
			writer = v->writer;
	pthread_mutex_unlock(&fs->views_lock);
	return writer;
}

void view_superseded(struct mfs_fs *fs, uint64_t ino)
{
	struct mfs_view *v;

	if (!__atomic_load_n(&fs->nviews, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&fs->views_lock);
	for (v = fs->views; v; v = v->next)
		if (v->ino == ino)
			v->superseded = 1;
	pthread_mutex_unlock(&fs->views_lock);
}

int view_lost(struct mfs_fs *fs, const struct mfs_staging *s)
{
	int lost;

	if (!s->view)
		return 0;
	pthread_mutex_lock(&fs->views_lock);
	lost = s->view->superseded;
	pthread_mutex_unlock(&fs->views_lock);
	return lost;
}

uint64_t view_path_ino(const struct mfs_staging *s)
{
	return s->view ? s->view->ino : 0; /* set at view_start, never changed */
}

void view_inval(struct mfs_fs *fs, uint64_t ino)
{
	int rc;

	if (!ino)
		return;
	/* Attributes only (offset -1): the new inode's bytes did not change. */
	rc = fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
	if (rc && rc != -ENOENT)
		log_debug("inode %016llx: dropping the kernel's attributes: %d",
			  (unsigned long long)ino, rc);
}

void view_end(struct mfs_fs *fs, struct mfs_staging *s)
{
	struct mfs_view **p;

	if (!s->view)
		return;
	pthread_mutex_lock(&fs->views_lock);
	for (p = &fs->views; *p; p = &(*p)->next) {
		if (*p == s->view) {
			*p = s->view->next;
			__atomic_sub_fetch(&fs->nviews, 1, __ATOMIC_RELAXED);
			break;
		}
	}
	pthread_mutex_unlock(&fs->views_lock);
	free(s->view);
	s->view = NULL;
}

void view_apply(struct mfs_fs *fs, uint64_t ino, struct stat *st)
{
	struct mfs_view *v;

	if (!__atomic_load_n(&fs->nviews, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&fs->views_lock);
	for (v = fs->views; v; v = v->next) {
		if (v->ino != ino)
			continue;
		st->st_size = (off_t)v->size;
		st->st_blocks = (blkcnt_t)((v->size + 511) / 512);
		st->st_mtim = v->mtime;
		if (mfs_ts_after(&v->ctime, &st->st_ctim))
			st->st_ctim = v->ctime;
		v->shown = 1;
		break;
	}
	pthread_mutex_unlock(&fs->views_lock);
}
