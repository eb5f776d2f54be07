/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Stagers: which node holds the one staging of each file, by file id.
 *
 * A file's writers must stage its bytes in one place: two stagings of one
 * file, each started from the same version, and the later close publishes
 * over the earlier, whose bytes are lost with no error.  Views (view.c)
 * lead a writer of the path's new inode to the staging on the older one,
 * but only while a view is up, and a commit starts none when every writer
 * seemed closed: a forked child that inherited the descriptor writes on
 * after its parent, the opener, closed (`cmd >>log &`, Popen(stdout=f)
 * then f.close(); review2 s41, t0429).  So every node whose writers have
 * a staging is listed here under its file id (rec.fid: every inode of one
 * file has it), and a writer that opens any inode of the file looks here
 * first (fs_read.c, join_stager), under the file's writer-open lock: it
 * shares the staging listed, or makes the file's one.
 *
 * A node is listed from the writer's open that makes its staging to the
 * last writer's release that frees it, so a listed node is alive.  The
 * table's lock is taken under a node lock or none, and no other lock is
 * taken under it.
 */
#include <errno.h>
#include <fcntl.h>
#include <time.h>

#include "fs_internal.h"
#include "store/base/log.h"

#define LOG_COMPONENT "fuse"

uint64_t fs_file_id(const struct mfs_node *n)
{
	return n->rec.fid ? n->rec.fid : n->ino;
}

void stager_add(struct mfs_fs *fs, struct mfs_node *n)
{
	struct mfs_itable *t = &fs->itable;
	uint64_t fid = fs_file_id(n);

	if (n->staging_listed)
		return;
	pthread_mutex_lock(&t->stagers_lock);
	n->snext = t->stagers[fid % MFS_STAGER_BUCKETS];
	t->stagers[fid % MFS_STAGER_BUCKETS] = n;
	n->staging_listed = fid;
	pthread_mutex_unlock(&t->stagers_lock);
}

void stager_remove(struct mfs_fs *fs, struct mfs_node *n)
{
	struct mfs_itable *t = &fs->itable;
	struct mfs_node **p;

	if (!n->staging_listed)
		return;
	pthread_mutex_lock(&t->stagers_lock);
	/* By the fid it was listed under: a publish in place may change rec. */
	for (p = &t->stagers[n->staging_listed % MFS_STAGER_BUCKETS]; *p; p = &(*p)->snext) {
		if (*p == n) {
			*p = n->snext;
			break;
		}
	}
	n->snext = NULL;
	n->staging_listed = 0;
	pthread_mutex_unlock(&t->stagers_lock);
}

uint64_t stager_of(struct mfs_fs *fs, uint64_t fid)
{
	struct mfs_itable *t = &fs->itable;
	uint64_t ino = 0;
	struct mfs_node *s;

	pthread_mutex_lock(&t->stagers_lock);
	for (s = t->stagers[fid % MFS_STAGER_BUCKETS]; s && !ino; s = s->snext)
		if (s->staging_listed == fid)
			ino = s->ino;
	pthread_mutex_unlock(&t->stagers_lock);
	return ino;
}

/*
 * s's staging is not n's file as the path shows it now: s's chain (its
 * commits' successor links) leads elsewhere than n's.  A peer rewrote
 * the file (on this node the path names a new inode of the same file id,
 * and s's version is deleted with no link to it: only local commits make
 * one), or a peer removed it.  s's writers write the replaced file, as
 * after a rename over it: their close publishes nothing (fs_write.c,
 * commit_locked's ENOENT).  A writer or a truncate of n that joined s
 * lost its bytes the same way, its close or truncate(2) answering 0
 * (review3 s42 #1, t0435).  So s no longer stages the file: it is
 * unlisted, and n's writer stages the path's version.  s->lock held.
 */
int stager_stale(struct mfs_fs *fs, struct mfs_node *s, struct mfs_node *n)
{
	uint64_t path = fs_node_target(fs, s);

	if (path == itable_follow(fs, n->ino))
		return 0;
	stager_remove(fs, s);
	return 1;
}

/* At most this many 1 ms naps for a stager's RELEASE (see stager_join). */
#define STAGER_WAIT_NAPS 1000

/*
 * The writer of another inode of the file joins its staging, with direct
 * I/O, as a writer of a view's inode does (fs_read.c, join_view): on
 * tmpfs they write one file.  Its own staging would start from the
 * path's version and miss what the stager's writers write since; one
 * of the two closes would then undo the other's bytes (t0429).
 *
 * A stager whose writers all closed, with nothing unpublished, is in
 * most cases a close(2) whose RELEASE the kernel has yet to send: np.save
 * then np.memmap(mode='r+') opens the path's new inode right after.  The
 * open waits for that RELEASE, so it makes a staging of its own through
 * the page cache (a joiner's direct I/O makes a shared mapping ENODEV).
 * A descriptor that outlives its opener's close (a forked child's) sends
 * none: after the naps the open joins, and the node says so
 * (writers_outlive) for the next open not to wait again.
 *
 * The path's inode shows the staging from then on (a view, not shared:
 * the joiner writes directly), or from the first write if it holds
 * nothing unpublished yet: a reader of the path follows it, a
 * truncate(2) of the path cuts it (fs_attr.c, truncate_path), and a
 * writer of the path joins it through the view.
 */
int stager_join(struct mfs_fs *fs, struct mfs_node *n, struct mfs_handle *h,
		struct fuse_file_info *fi, int first, pid_t tid)
{
	struct timespec nap = { 0, 1000000 };
	uint64_t fid, ino, path, inval = 0;
	struct mfs_node *s;
	int rc = 0, cut = 0, idle, naps;
	pid_t wt;

	if (fs->cfg->ro || mfs_rev_is_ino(n->ino))
		return 0;
	pthread_mutex_lock(&n->lock);
	fid = fs_file_id(n);
	pthread_mutex_unlock(&n->lock);
	if (!(ino = stager_of(fs, fid)) || ino == n->ino || !(s = itable_hold(fs, ino)))
		return 0;
	pthread_mutex_lock(&s->lock);
	if (stager_stale(fs, s, n)) {
		pthread_mutex_unlock(&s->lock);
		itable_put(fs, s, 0, 1);
		return 0; /* the opener stages the path's version, as with no stager */
	}
	/*
	 * Not a create that found the file (fs_op_create; an OPEN never has
	 * O_CREAT): the kernel holds the parent directory's lock, which the
	 * opener's FLUSH may wait for (fs_moved_entry), so its RELEASE
	 * cannot come while this naps (review3 s42 #4).  It joins at once,
	 * and says nothing of writers_outlive: it has not seen a RELEASE
	 * fail to come.
	 */
	naps = !(fi->flags & O_CREAT);
	for (int i = 0; naps && i < STAGER_WAIT_NAPS && s->stg && fs_staging_idle(s) &&
			!__atomic_load_n(&s->writers_outlive, __ATOMIC_RELAXED);
	     i++) {
		pthread_mutex_unlock(&s->lock);
		nanosleep(&nap, NULL);
		pthread_mutex_lock(&s->lock);
	}
	/* Released meanwhile (the file has no staging), or a peer replaced it. */
	if (!s->stg || !s->writers || !S_ISREG(s->rec.mode) || stager_stale(fs, s, n)) {
		pthread_mutex_unlock(&s->lock);
		itable_put(fs, s, 0, 1);
		return 0;
	}
	if ((idle = fs_staging_idle(s)) && naps)
		__atomic_store_n(&s->writers_outlive, 1, __ATOMIC_RELAXED);
	path = fs_node_target(fs, s);
	/*
	 * s's writers all closed, wrote through its page cache, and the last
	 * was opened by this opener's process, and no reader holds s's own
	 * version there: share that page cache, as a writer that goes on
	 * after an fsync does (fs_write.c, commit_locked).  The path's
	 * lookups give s's inode from now on (a shared view), and this open
	 * answers ESTALE: the kernel looks the path up again and opens s's
	 * inode, a writer through the page cache beside its mapping.  Joined
	 * with direct I/O instead, its shared mmap gave ENODEV: fio's mmap
	 * engine maps a file, closes it, opens and maps it again (the mapping
	 * keeps the first descriptor's RELEASE back; t0390), and np.memmap
	 * rounds whose RELEASE came late (t0421).  Another process keeps the
	 * direct join: a reader beside a shared view cannot map it (t0429,
	 * an idle forked child).  Not with a view up already, nor for an
	 * O_TRUNC cut, nor in the kernel's retry.
	 */
	if (first && idle && !(fi->flags & O_TRUNC) && !s->stg->view && path != s->ino &&
	    s->writers == s->cached_writers && !s->joined_writers &&
	    s->readers == s->far_readers &&
	    (wt = __atomic_load_n(&s->writer_tgid, __ATOMIC_RELAXED)) > 0 && wt == fs_tgid_of(tid)) {
		view_start(fs, s->stg, s->ino, path, 1);
		pthread_mutex_unlock(&s->lock);
		itable_put(fs, s, 0, 1);
		return -ESTALE;
	}
	/* A create that found the file (fs_op_create): O_TRUNC cuts it here. */
	if ((fi->flags & O_TRUNC) && !(rc = staging_truncate(fs, s->stg, 0))) {
		staging_touch(s->stg);
		s->stg->publish_at_release = 1;
		inval = view_update(fs, s->stg);
		cut = 1;
	}
	if (!rc) {
		fs_join_writer(h, n, s, fi);
		/*
		 * Not while s's bytes are all published (idle, not cut):
		 * the path's version is they, and its readers read it
		 * through the page cache (a view gave them direct I/O: a
		 * shared mmap's ENODEV for as long as an idle forked child
		 * lived; review3 s42 #2).  The first write or ftruncate,
		 * the joiner's or the child's, starts it (view_on_write).
		 */
		if (!s->stg->view && path != s->ino && (!idle || cut)) {
			view_start(fs, s->stg, s->ino, path, 0);
			inval = path; /* the kernel's attributes of it were its own */
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (rc) {
		itable_put(fs, s, 0, 1);
		return rc;
	}
	h->owed_attrs = inval;
	h->owed_pages = cut ? s->ino : 0; /* the other writers' pages and size */
	if (!__atomic_exchange_n(&s->said_direct, 1, __ATOMIC_RELAXED))
		log_info("inode %016llx: a writer opened it while inode %016llx of the same file "
			 "has writers: it writes their staged bytes with direct I/O, shared "
			 "writable mmap gives ENODEV", (unsigned long long)n->ino,
			 (unsigned long long)s->ino);
	return 1;
}
