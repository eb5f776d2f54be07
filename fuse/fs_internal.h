/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private state of the FUSE daemon, shared by the fs_*.c operation files.
 *
 * Notes on the design:
 *  1. struct mfs_node is the daemon's view of one inode the kernel knows.
 *     It lives while the kernel holds lookups on it (nlookup) or files are
 *     open on it (opens); both counts are protected by itable->lock.
 *  2. node->lock protects the node's record, manifest and staging.  Lock
 *     order: a node lock, then the itable lock (itable_* helpers may be
 *     called with a node lock held; they never take node locks).  Never
 *     call into the kernel (fuse_lowlevel_notify_*) with either lock held.
 *  3. Readers pin the manifest (version) they opened in their handle; the
 *     node's manifest may move on, theirs does not.
 *  4. Writers share one staging per node.  The first flush or fsync after
 *     a write, a truncation or the creation of a new file commits it, and
 *     the last release commits what is left: ingest, publish, and
 *     (when the path got a new inode) invalidate the kernel's dentry so new
 *     opens see the new version.  A successor link (itable_set_successor)
 *     then leads later commits and metadata changes through old handles to
 *     the path's current inode, however many versions came between.
 *     A writer that opens the path's newer inode while a writer goes on
 *     after such a commit (view.c) shares that writer's staging too
 *     (h->joined): on a local filesystem they write one file.  While
 *     every writer of the older inode writes through its page cache and
 *     no reader holds its version there, the view is shared: a lookup of
 *     the path gives the older inode itself, so openers of every process
 *     share its staging and its page cache (one kernel inode per nodeid:
 *     coherent, mappable); an open through a dentry of the newer inode
 *     answers ESTALE once, and the kernel's lookup again gives the older.
 *     The view starts within the commit's publish, which opens wait for
 *     (itable_wait_views).  A close(2) by another process than a
 *     writer's opener (an inherited descriptor) is not its close
 *     (closing_writers; fs_read.c, closes_writer).  Whatever the views
 *     say, a file never has two stagings: the node whose writers stage
 *     it is listed by file id (stager.c), and a writer that opens any
 *     other inode of the file joins that staging (a forked child writes
 *     on after its opener's close counted as the writers' close).
 *  5. While a writer has bytes staged, new readers use direct I/O; only
 *     readers through the page cache (cached_readers) keep the inode's size
 *     from shrinking under them.
 *  6. A reader that opens while a writer has bytes staged on the inode
 *     (h->follower) reads them, as on any POSIX filesystem: every write(2)
 *     that returned is in what it reads, though no commit has run.  Once no
 *     writer stages there (the last one's RELEASE), it reads the version
 *     the staged bytes became (n->became, or n's own for a first publish in
 *     place), and keeps that one as any reader keeps its version.  Bytes
 *     no commit published (the file was unlinked while open, or the commit
 *     failed) it keeps as they are (h->own, kept.c), as on tmpfs, and stat
 *     shows their size; bytes that miss a write answered before its bytes
 *     failed (s->werr) it never reads: EIO.  It pins no version while it
 *     follows, so it is not one of n->readers: a rewrite's writer need not
 *     keep an old version for it.  Settled, it is a reader of its version:
 *     of n's own, or of the newer inode's that has it (fs_read.c,
 *     read_as_current), so that a truncate(2) of the path reaches it.  A
 *     reader of the path's newer inode while a writer goes on after a
 *     commit on the older one (view.c) follows that writer's bytes
 *     (h->src) the same way.  Only while every
 *     writer writes through the page cache (followable): a private mapping is
 *     filled from the inode's pages even with direct I/O, and a writer
 *     with direct I/O keeps those pages for readers of the old version.
 *  7. A writer's own process's readers follow it (fs_read.c,
 *     adopt_readers).  np.load(path, mmap_mode='r+') keeps a descriptor
 *     open for reading while it maps the file shared and writable; a
 *     writer that found readers of the version used direct I/O (note 5:
 *     their page cache keeps that version), and the kernel refuses a
 *     shared mapping of a direct I/O descriptor (ENODEV).  A writer that
 *     opens O_RDWR (one that may map the file) when every reader of the
 *     inode reads through the page cache, was opened in the writer's
 *     process and holds the inode's current version, and whose staging
 *     starts as exactly that version (the first writer, no O_TRUNC), makes
 *     those readers followers of the staging (note 6), as if they had
 *     opened after it.  The pages they share are the staging's bytes as
 *     they are, so nothing is invalidated, and the writer writes through
 *     the page cache; they read what it writes, as on tmpfs.  A reader of
 *     another process keeps its version, and the writer direct I/O, as
 *     before; so do the writer's own readers beside an O_WRONLY writer
 *     (cp, `>`, open('wb'), which the kernel truncates after the open).
 *     An adopted reader that settles on the inode's own version (the
 *     writer changed nothing: open_memmap opens the file twice) is one of
 *     its pinned readers again, for the next writer to adopt.  "Process"
 *     is the thread group of the FUSE request's thread, which each reader
 *     records when it opens (tgid.c): a reader opened by a thread that
 *     has exited since (a thread pool's, a data loader's) is its
 *     process's, and a process that took that thread's id is another.  A
 *     descriptor the reader's process passed on (fork, SCM_RIGHTS) is
 *     the opener's: a writer of the opener's process adopts it, and the
 *     child reads the writer's bytes too, as on tmpfs, where there is
 *     one file; a writer of the child's adopts none (the reader is
 *     another process's), and the child's reader keeps its version.  An adopted reader reads through its
 *     inode's page cache, which a new reader of the path shares while the
 *     inode stays the path's: if the writer's commit fails, it settles on
 *     the path's version (not the kept bytes other followers read), and
 *     the writer's pages go (fs_handle_close).  Settled on the version a
 *     commit published on a newer inode, it counts among that inode's
 *     readers (read_as_current) as a far reader: its pages are its own
 *     inode's, so a writer of the newer one may still use the page cache.
 *  8. fcntl (POSIX, OFD) and flock locks are the daemon's (locks.c), kept
 *     per file: by the file id all its inodes share (rec.fid, st_ino), as
 *     the kernel would keep them per inode and a commit moves the path to a
 *     new one (note 4).  The lock table has its own mutex, taken under no
 *     node lock; a request that waits holds neither, nor a thread.
 */
#ifndef MFS_FS_INTERNAL_H
#define MFS_FS_INTERNAL_H

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "settings.h"
#include "store/base/histo.h"
#include "store/base/space.h"
#include "store/chunk/cache.h"
#include "store/chunk/manifest.h"
#include "store/maint/report.h"
#include "store/ns/inode.h"
#include "store/ns/rev.h"

struct mfs_db;
struct mfs_ns;
struct mfs_control;
struct mfs_replica;
struct mfs_ns_change;

/* What fs_delta_base needs to find a committing file's base (fs_delta.c). */
struct fs_delta_src {
	struct mfs_fs *fs;
	uint64_t ino;           /* the inode the staging was made for */
};

struct mfs_staging {
	int fd;                 /* memfd, or unlinked temporary file in DATA/staging */
	uint64_t size;
	uint64_t charged;       /* the memfd's end charged to fs->staging_mem_used */
	int in_memory;
	int fallocated;         /* fallocate ran: pages may lie past size; fd not reused */
	/*
	 * Bytes [0, size) of fd are all data, each put there by a write that
	 * started at or below the size then (no hole: no gap, truncate up,
	 * fallocate, punch or base copy since the staging began): the commit
	 * reads them without asking the file where its data is, and a small
	 * file's costs no fstat (issue 10: four syscalls of ~4.5 us per file
	 * on its VM).
	 */
	int dense;
	/*
	 * Bytes [0, punched) are out of the staging file (a hole): their
	 * chunks were stored by the write-behind, which can put them back
	 * (wb_restore).  `dropped` of the charge went with them.
	 */
	uint64_t punched, dropped;
	/*
	 * The version the writer opened, not yet copied in: copied on the first
	 * write, truncate to non-zero size or read, dropped by a truncate to 0
	 * (open(O_TRUNC) arrives as one), so a rewrite never copies old bytes.
	 */
	struct mfs_manifest *base;
	int dirty;              /* written since the last commit: commit at flush */
	/*
	 * Created or opened with O_TRUNC and not yet published: commit at the
	 * next flush or the last release even without writes (touch, `: > f`),
	 * so that close() returns with the file (or its truncation) visible, as
	 * on the kernel's filesystems.  A program that closes a dup'ed
	 * descriptor right after open (dd does) publishes an empty version
	 * first, as tmpfs shows an empty file then too.
	 */
	int publish_at_release;
	/*
	 * The one inode the next commit may publish over, or 0 (any: a
	 * writer's bytes go to the current version).  A truncate(2) sets it
	 * when it commits bytes it cut from a version (truncate_node): over a
	 * newer version, fs_commit answers ESTALE instead, or that version's
	 * bytes would come back over the newer one's.
	 */
	uint64_t publish_over;
	/*
	 * The mtime the commit gives the new version: the time of the last
	 * change to the bytes, or what utimensat/futimens set after it, by any
	 * handle, before the commit ran.  cp -a, cp -p and tar set times on the
	 * open file or right after close, and the commit (at FLUSH, or at
	 * RELEASE after close returned) must not stamp its own time over them.
	 * ctime likewise: the last change of bytes or attributes, not the
	 * commit's (a close changes nothing a stat can see).
	 */
	struct timespec mtime, ctime;
	/* What the path's newer inode shows of these bytes (view.c), or NULL. */
	struct mfs_view *view;
	/* The new inode the last commit gave the path (0: none, or in place). */
	uint64_t became_ino;
	/* The commit started while writing (writebehind.c), or NULL. */
	struct mfs_writebehind *wb;
	struct fs_delta_src delta; /* the base finder's argument, for ingest */
	int werr;               /* a write answered before its bytes failed: every commit fails */
	/*
	 * The bytes are a published version's: no change (staging_touch)
	 * since a commit published them, or since they were a base's.  What
	 * followers keep when the last writer leaves (fs_internal.h note 6).
	 */
	int published;
	int lent;               /* followers hold descriptors of fd: never emptied for reuse */
	struct fs_kept *kept;   /* the unpublished bytes its readers keep (kept.c), or NULL */
};

struct mfs_node {
	uint64_t ino;
	uint64_t nlookup;       /* protected by itable lock */
	int opens;              /* protected by itable lock */
	struct mfs_node *hnext; /* protected by itable lock */

	pthread_mutex_t lock;
	struct mfs_inode rec;               /* protected by lock */
	struct mfs_manifest *manifest;      /* current version; lazily loaded; lock */
	struct mfs_staging *stg;            /* lock */
	int writers;                        /* open writable handles; lock */
	int cached_writers;                 /* of those, not direct_io; lock */
	/* Of cached_writers, those joined through a newer inode, direct (join_view); lock. */
	int joined_writers;
	int readers;                        /* open read-only handles; lock */
	int cached_readers;                 /* of those, reading through the page cache; lock */
	/*
	 * Of readers: settled followers whose descriptors are on an older
	 * inode (fs_read.c, read_as_current), which never read this inode's
	 * page cache; lock.
	 */
	int far_readers;
	int closing_readers;                /* of readers, those closed and not read since
					     * (FLUSH): their RELEASE is on its way; atomic */
	int closing_writers;                /* of writers, those closed and not written
					     * since (fs_writers_closed); atomic */
	int gone;                           /* unlinked or replaced; lock */
	struct mfs_handle *followers;       /* following handles (note 6); lock */
	/* The readers open_locked gave the page cache, which a writer may adopt (note 7); lock. */
	struct mfs_handle *pinned;
	/* The version n's last commit published on a new inode (note 6); lock. */
	struct mfs_hash became;
	int became_set, became_has_manifest;
	struct mfs_manifest *became_m;      /* it, loaded for followers (pins its chunks); lock */
	/*
	 * A truncate(2) of the path with no writer open published a new inode
	 * while descriptors had this one open, and its reply gave the kernel
	 * the new size for this inode too (fs_attr.c, reply_moved_attr): as on
	 * tmpfs, the cut or the growth holds for readers of n->manifest.  They
	 * read their version up to trunc_data, zeros from there up to trunc_to,
	 * and stat shows trunc_to (fs_truncated_end).  trunc_data is the
	 * smallest cut since the first: bytes a truncate cut never come back
	 * when a later one grows the file.  Cleared when n->manifest goes.
	 * lock; serve_read loads `truncated` atomically before it locks.
	 */
	int truncated;
	uint64_t trunc_to, trunc_data;
	/*
	 * While truncated: the inode a truncate(2) with no writer open last
	 * published from n's version cut or grown (n's, or a later one's
	 * that only such truncates made).  Its own truncates reach n's
	 * readers too (fs_write.c, truncated_heirs): truncate(path, 3), then
	 * truncate(path, 10), and they read 3 bytes and 7 zeros, as on tmpfs.
	 * A writer's commit of it makes a version of another content, whose
	 * truncates they never see.  0: none; lock.
	 */
	uint64_t trunc_at;
	/* The holes of manifest holes_of (fs_fill_stat's st_blocks); lock. */
	struct mfs_hash holes_of;
	uint64_t holes;
	int holes_known;
	/*
	 * Handles of writers that opened n and write another node's staging
	 * (h->joined, fs_read.c join_view): their fstat asks n, whose size
	 * that staging's changes never tell the kernel, so n's attributes are
	 * not cached (fs_attr.c, attr_timeout); atomic.
	 */
	int joiners;
	/*
	 * A lookup of its path gave it while its writer's view was shared
	 * (view.c): the kernel may open it through that dentry after the
	 * view ended (fs_read.c, open_superseded); atomic.
	 */
	int lent;
	/* What it showed when a long wait under lock began, or NULL (noted_attrs.c); fs->noted_lock. */
	struct fs_noted_attrs *noted;
	/*
	 * Commits that did not publish, whose readers (opened during them)
	 * read the staged bytes on until the last writer leaves (commit_open.c
	 * note 7); lock.
	 */
	struct fs_pending *kept;
	/*
	 * Never published, gone at its last writer's release, but the removal
	 * of its name failed (a full disk): the name still leads here.  The
	 * next open tries the removal again (fs_read.c, open_node); lock.
	 */
	int drop_failed;
	/*
	 * Listed in fs->itable.stagers while its writers have a staging
	 * (stager.c): the file id it is listed under, or 0; snext is the
	 * next in its bucket.  lock (and itable.stagers_lock to change).
	 */
	uint64_t staging_listed;
	struct mfs_node *snext;
	/*
	 * A writer's handle wrote again after a close(2) that counted as
	 * its close (fs_writer_active): some descriptor of it outlives its
	 * opener's close (a forked child, a dup, a mapping).  While n's
	 * writers all seem closed, a writer of another inode of the file
	 * need not wait for their RELEASE (fs_read.c, join_stager).  Cleared
	 * with the staging; atomic.
	 */
	int writers_outlive;
	/*
	 * Why a writer of n used direct I/O was logged (once per inode: an
	 * appender that opens per line, `echo >>log`, would log every line).
	 * Atomic.
	 */
	int said_direct;
	/* The process of the latest writer's open of n (fs_read.c, note_opener); atomic. */
	pid_t writer_tgid;
};

/* What a file showed when a commit, or a write's wait, began (noted_attrs.c). */
struct fs_noted_attrs {
	struct stat st;         /* fs_fill_stat's */
	struct mfs_inode rec;   /* its mode, repl and xattrs only */
	uint64_t target;        /* fs_node_target's */
	struct fs_pending *pending; /* a commit's bytes for readers that open (commit_open.c) */
};

struct mfs_handle {
	struct mfs_node *node;
	struct mfs_manifest *m;  /* pinned version; NULL for writers */
	int writable;
	int cached;              /* through the page cache (a writer's writes, a reader's reads) */
	uint64_t next_off;       /* where a sequential reader goes next */
	int window;              /* chunks prefetched ahead (adaptive) */
	int flushed;             /* counted in closing_readers or closing_writers; atomic */
	int follower;            /* opened while a writer staged: note 6 */
	int following;           /* a follower still reading the staged bytes (m NULL);
				  * set under node->lock, read atomically */
	int follow_err;          /* a follower with no version (m NULL): why */
	struct mfs_node *src;    /* a follower's: the node whose staged bytes it reads */
	int counted;             /* a settled follower counted in node->readers (follow_end) */
	/*
	 * A settled follower of the version a commit published on a newer
	 * inode, counted in that inode's node's readers instead, held
	 * (read_as_current); NULL.
	 */
	struct mfs_node *reader_of;
	struct fs_kept *own;     /* a follower's unpublished bytes (kept.c), or NULL */
	struct mfs_handle *fnext; /* in node->followers while following */
	pid_t tgid;              /* a reader in node->pinned: the process that opened it (note 7) */
	pid_t opener;            /* the process that opened it (fs_read.c, closes_writer), or 0 */
	struct mfs_handle *pnext; /* in node->pinned */
	/*
	 * An adopted reader's version (note 7): READs under way may still
	 * read it, so it stays until h closes.  NULL otherwise.
	 */
	struct mfs_manifest *was_m;
	/*
	 * Opened during a commit (commit_open.c): it reads the commit's staged
	 * bytes until it ends, then h->m, the version published (set once,
	 * atomic).  NULL otherwise.
	 */
	struct fs_pending *pending;
	/*
	 * A writer that opened the path's inode while a writer that synced
	 * writes on through an older one (view.c): it writes that writer's
	 * staging, h->node, as a second writer of one file on tmpfs does
	 * (fs_read.c, join_view).  The node the kernel opened, held until
	 * h closes; NULL otherwise.
	 */
	struct mfs_node *joined;
	/*
	 * What an open's O_TRUNC of another node's staging owes the kernel
	 * (join_view, join_current, stager_join): the inode whose attributes
	 * and the one whose pages go, or 0.  Sent once the open has let go
	 * of its file's writer-open lock (fs_read.c, open_notify): a notify
	 * may wait on a page whose READ needs a daemon thread, and every
	 * thread could be waiting for that lock (review2 s41 #5).
	 */
	uint64_t owed_attrs, owed_pages;
	/* Its file's lock identity once a lock request asked (locks.c), or 0; atomic. */
	uint64_t lock_id;
	int locked;              /* a lock was asked for through it (locks.c); atomic */
};

/* "The path of inode `from` moved on to inode `to`" (one per moved publish). */
struct mfs_succ {
	uint64_t from, to;
	struct mfs_succ *next;  /* in succ[], by from */
	struct mfs_succ *tnext; /* in pred[], by to */
};

#define MFS_SUCC_BUCKETS 1024

/*
 * An open(2) the daemon answered ESTALE, while the kernel retries it
 * (itable_retry_*): the thread that opens, and the inode the path's
 * lookup gave it since (0: none yet).
 */
struct mfs_retry {
	pid_t tid;
	uint64_t ino;
};

#define MFS_RETRY_SLOTS 64

#define MFS_STAGER_BUCKETS 256

struct mfs_itable {
	pthread_mutex_t lock;
	struct mfs_node **buckets;
	size_t nbuckets, count;
	/*
	 * Successor links, protected by lock.  Kept for the daemon's life
	 * (16 bytes and a pointer per rewrite): a writer whose handle is on an
	 * old inode must find the path's current inode however many other
	 * commits came between, even after their nodes were forgotten.
	 */
	struct mfs_succ *succ[MFS_SUCC_BUCKETS];
	/* The same links by `to` (itable_hold_preds); lock. */
	struct mfs_succ *pred[MFS_SUCC_BUCKETS];
	/*
	 * The inodes commits are publishing a new version of now
	 * (itable_publish_begin), one commit per inode at a time; lock.
	 * `published` is signalled as each ends.
	 */
	struct mfs_publishing *publishing;
	pthread_cond_t published;
	int viewing;            /* of publishing, those with view set; lock, read atomically */
	uint64_t publish_seq;   /* publishes begun; lock */
	/*
	 * The open(2)s being retried, a slot per thread (by its id modulo
	 * the slots; a thread that takes another's slot leaves that one to
	 * ESTALE, as before); lock.  `retrying` counts the slots in use,
	 * read without the lock so that lookups and opens skip them.
	 */
	struct mfs_retry retry[MFS_RETRY_SLOTS];
	int retrying;
	/* The nodes whose writers stage their file, by file id (stager.c). */
	pthread_mutex_t stagers_lock;
	struct mfs_node *stagers[MFS_STAGER_BUCKETS];
};

/* One commit's publish, on its stack while it is in itable->publishing. */
struct mfs_publishing {
	uint64_t ino;
	/* Its writer goes on: a view starts with the publish (fs_write.c); set before begin. */
	int view;
	uint64_t seq;           /* itable->publish_seq at its begin */
	struct mfs_publishing *next;
};

/* Writer-open locks by file id (mfs_fs.writer_open_locks). */
#define WRITER_OPEN_STRIPES 64

struct mfs_fs {
	struct mfs_config *cfg;
	struct mfs_db *db;
	struct mfs_ns *ns;
	struct mfs_cache *cache;
	struct mfs_itable itable;
	struct fuse_session *se;
	struct mfs_control *control;
	struct mfs_replica *replica;  /* NULL for a node without peers */
	char *staging_dir;
	uint64_t staging_mem_used;  /* atomic: bytes staged in memfds */
	uint64_t staging_mem_limit; /* above it, staging spills to DATA/staging */
	/* fs_check_space's last statvfs, shared by small commits (space.h) */
	struct mfs_space_reading space;
	char *control_path;
	struct fs_metrics *metrics;  /* NULL without metrics_file */
	struct fs_gc *gc;            /* the gc timer; NULL with gc_interval_s=0 */
	struct fs_recode *recode;    /* the recode thread; NULL unless recode=1 */
	struct fs_sync *sync;        /* the meta_sync_ms timer; NULL with 0 */
	double timeout;          /* attr/entry cache seconds */
	/* Test only (MODELFS_TEST_LOOKUP_DELAY_MS): a lookup's pause between
	 * reading its record and making its node, to widen that race. */
	unsigned lookup_delay_ms;
	unsigned release_delay_ms;      /* MODELFS_TEST_RELEASE_DELAY_MS: test only */
	/* Test only (MODELFS_TEST_COMMIT_HOLD=PATH): a commit, its node locked,
	 * makes PATH.held and waits (60 s at most) until PATH exists. */
	const char *commit_hold;
	/* Test only (MODELFS_TEST_READ_HOLD=PATH): a READ, before it reads
	 * anything, makes PATH.held and waits the same way. */
	const char *read_hold;
	/* Test only (MODELFS_TEST_STAGING_EIO_AT=N): a staged write covering
	 * byte N fails with EIO (staging_write_end), held as N + 1; 0: none. */
	uint64_t staging_eio_at;
	/*
	 * Changes a lookup's record may have missed (atomic; fs_remote.c):
	 * peers' namespace changes applied, and nodes freed (a change saved
	 * through a node that is gone is in the store only; itable_put).  A
	 * lookup reads a record before it has a node that a change could
	 * refresh: it compares this before and after (fs_node_catch_up).
	 */
	uint64_t remote_gen;
	/*
	 * Changes told to the kernel (fs_remote_change) only, not node frees:
	 * what a lookup's reply may have crossed (fs_reply_entry_gen).
	 */
	uint64_t told_gen;
	struct timespec started; /* CLOCK_MONOTONIC at start: status's uptime */
	/* READs answered (fs_op_read): counters, atomic; reported by status. */
	uint64_t read_requests, read_bytes;
	struct mfs_histo read_latency;
	struct mfs_stats_cache stats; /* store totals for status (store/maint/report.h) */
	pthread_mutex_t views_lock;
	/*
	 * One held by a writer's open(2) of an existing file, the one its
	 * file id picks (fs_read.c, writer_open_lock), from before its node
	 * lock until its handle shares or made the file's one staging: two
	 * writers opening one file at once (one through a superseded inode)
	 * each made a staging of their own, and one's close undid the
	 * other's update (t0427).  Per file, not one for the daemon: an open
	 * may wait out its file's commit, and other files' writers need not.
	 * Taken before any node lock, never under one.
	 */
	pthread_mutex_t writer_open_locks[WRITER_OPEN_STRIPES];
	struct mfs_view *views;  /* view.c; views_lock */
	pthread_mutex_t noted_lock; /* every node's noted (noted_attrs.c) */
	int nviews;              /* atomic: length of views */
	struct fs_locks *locks;  /* fcntl and flock locks, per file (locks.c) */
	/*
	 * The inodes given a trunc_at (fs_write.c, truncated_heirs), by
	 * number, which its truncates reach without a walk back along the
	 * successor links; heirs_lock, taken under a node lock or none, and
	 * never held while taking another.
	 */
	pthread_mutex_t heirs_lock;
	uint64_t *heirs;
	int nheirs, heirs_cap;
};

/* locks.c: file locks kept per file across its inodes */
struct fs_locks;
int fs_locks_new(struct mfs_fs *fs);
void fs_locks_free(struct mfs_fs *fs);
void fs_op_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock);
void fs_op_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock,
		 int sleep);
void fs_op_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op);
/* A close(2) (FLUSH): the owner's POSIX locks on the file go. */
void fs_locks_flush(struct mfs_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi);
/* h's RELEASE: its OFD and flock locks go. */
void fs_locks_close(struct mfs_fs *fs, struct mfs_handle *h, struct fuse_file_info *fi);

/* itable.c */
int itable_init(struct mfs_itable *t);
void itable_release(struct mfs_fs *fs);
/*
 * Node for ino, loading the record from the namespace if not in memory.
 * rec (optional) is a record the caller already has (moved into the node
 * when the node is new, released otherwise).  Adds `lookups` to nlookup and
 * `opens` to opens.  Returns NULL with *rc set on failure.
 */
struct mfs_node *itable_get(struct mfs_fs *fs, uint64_t ino, struct mfs_inode *rec,
			    uint64_t lookups, int opens, int *rc);
/* Drops lookups/opens; frees the node when both reach zero. */
void itable_put(struct mfs_fs *fs, struct mfs_node *n, uint64_t lookups, int opens);
/* In-memory node for ino or NULL; no counts taken. */
struct mfs_node *itable_peek(struct mfs_fs *fs, uint64_t ino);
/* In-memory node for ino or NULL, held (one open) until itable_put(fs, n, 0, 1). */
struct mfs_node *itable_hold(struct mfs_fs *fs, uint64_t ino);
/* Records that the path of `from` now has inode `to`.  -ENOMEM or 0. */
int itable_set_successor(struct mfs_fs *fs, uint64_t from, uint64_t to);
/* from has no successor any more (its record is a live version again: fs_remote.c). */
void itable_drop_successor(struct mfs_fs *fs, uint64_t from);
/*
 * The nodes in the table of the inodes whose successor links lead to `to`,
 * at most max of them, each held (itable_put(fs, n, 0, 1)); their number.
 */
int itable_hold_preds(struct mfs_fs *fs, uint64_t to, struct mfs_node **out, int max);
/* The newest inode reached from ino through successor links (ino if none). */
uint64_t itable_follow(struct mfs_fs *fs, uint64_t ino);
/*
 * A commit publishes a new version of the file of ino: from the store's
 * publish, which deletes the old record, to itable_set_successor, the old
 * inode leads nowhere, and a commit, chmod or setxattr sent there lost its
 * change as if the file had been removed (fs_commit, fs_save_attrs).  So
 * begin waits until no other commit is publishing the inode ino leads to,
 * and returns that inode, now the caller's to publish until end (p on the
 * caller's stack).  Between the two the caller takes no node lock.
 */
uint64_t itable_publish_begin(struct mfs_fs *fs, uint64_t ino, struct mfs_publishing *p);
void itable_publish_end(struct mfs_fs *fs, struct mfs_publishing *p);
/*
 * Waits until the commits whose writers go on that are publishing now
 * have ended (not those that begin meanwhile: a stream of them starves no
 * open): from its publish to its view (view.c), an open of the path's new
 * inode would find neither the view nor the writer (fs_op_open).  No lock
 * held.
 */
void itable_wait_views(struct mfs_fs *fs);
/* itable_follow, once no commit is publishing the inode it leads to. */
uint64_t itable_follow_settled(struct mfs_fs *fs, uint64_t ino);
/*
 * An OPEN of a superseded version for reading is answered ESTALE (fs_read.c,
 * open_superseded), and the kernel retries the open(2) once: it looks the
 * path up again (LOOKUP_REVAL: every component, the last one too) and opens
 * the inode the lookup gave, which a commit may have superseded again
 * meanwhile.  That inode was the path's current version during the call,
 * so opening its version is an answer tmpfs could give.  These tell that
 * retry from an open through a dentry left from before a commit returned:
 * begin as the ESTALE is answered to thread tid, lookup for each inode a
 * LOOKUP by tid gives, and take at every OPEN by tid (and a lookup that
 * finds nothing, with ino 0): 1 if the retry's lookup gave ino, 0 if tid
 * was retrying otherwise, -1 if not; the slot is freed.  Thread id 0 (an
 * opener outside the daemon's pid namespace) is never recorded.
 */
void itable_retry_begin(struct mfs_fs *fs, pid_t tid);
void itable_retry_lookup(struct mfs_fs *fs, pid_t tid, uint64_t ino);
int itable_retry_take(struct mfs_fs *fs, pid_t tid, uint64_t ino);

/*
 * stager.c: the node holding each file's one staging.  add and remove
 * with n->lock held, as n's writers make and free n->stg; stager_of: the
 * inode whose writers stage file fid, or 0 (no node lock needed).
 */
void stager_add(struct mfs_fs *fs, struct mfs_node *n);
void stager_remove(struct mfs_fs *fs, struct mfs_node *n);
uint64_t stager_of(struct mfs_fs *fs, uint64_t fid);
/*
 * 1 if s's staging is not the file n's path shows (a peer replaced it):
 * s is unlisted; s->lock held.
 */
int stager_stale(struct mfs_fs *fs, struct mfs_node *s, struct mfs_node *n);
/* The file id of n (rec.fid, which all its inodes share); n->lock held. */
uint64_t fs_file_id(const struct mfs_node *n);
/*
 * A writer opening n, of a file whose writers stage on another node:
 * h writes that staging (fs_join_writer), after waiting a little for
 * the RELEASE of writers that all seem closed; or, first (not the
 * kernel's retry), -ESTALE when they are all closed, wrote through the
 * page cache and were opened by the opener's process (tid's): the path's
 * lookups then give their inode (a shared view), whose page cache the
 * retry shares.  1 if h joined, 0 if the file has no other
 * staging (the caller makes the one), -errno.  No lock held; called
 * under the file's writer-open lock.
 */
int stager_join(struct mfs_fs *fs, struct mfs_node *n, struct mfs_handle *h,
		struct fuse_file_info *fi, int first, pid_t tid);
/*
 * fs_read.c: h, opened on n, writes src's staging with direct I/O (n's
 * pages are another version's); src->lock held.
 */
void fs_join_writer(struct mfs_handle *h, struct mfs_node *n, struct mfs_node *src,
		    struct fuse_file_info *fi);

/* staging.c */
/* New empty staging whose version times start as rec's (the file's). */
int staging_new(struct mfs_fs *fs, const struct mfs_inode *rec, struct mfs_staging **out);
/*
 * fs_delta.c: the manifest of the base the file of arg (a struct
 * fs_delta_src) is stored against as fine-tune deltas: 1 with *id, or 0
 * (an mfs_ingest_base_fn, store/chunk/ingest.h).
 */
int fs_delta_base(void *arg, struct mfs_hash *id);
/* The staged bytes changed now: the version's mtime and ctime move. */
void staging_touch(struct mfs_staging *s);
void staging_free(struct mfs_fs *fs, struct mfs_staging *s);
/* Starts s as the bytes of m (an existing file opened for writing), lazily. */
void staging_set_base(struct mfs_staging *s, struct mfs_manifest *m);
/*
 * Makes every staged byte readable from s->fd: copies the base version in,
 * if still pending, and puts back bytes the write-behind dropped.
 */
int staging_materialize(struct mfs_fs *fs, struct mfs_staging *s);
/* The base version only (a commit: it does not need dropped bytes back). */
int staging_materialize_base(struct mfs_fs *fs, struct mfs_staging *s);
/* Writes the chunks of m that start below s->punched back into s->fd. */
int staging_restore(struct mfs_fs *fs, struct mfs_staging *s, const struct mfs_manifest *m);
/* pwrite/ftruncate of the staged bytes; may move them from memory to disk. */
ssize_t staging_write(struct mfs_fs *fs, struct mfs_staging *s, const void *buf, size_t len,
		      uint64_t off);
/*
 * staging_write in two steps, for a write answered in between (fs_write.c):
 * begin does all that may refuse the write (the base copied in, the
 * write-behind told, room made: 0 or -errno); end stores the bytes (the bytes written or
 * -errno).  With answered (the writer was told it went), a failure there
 * (a short or failed pwrite) is kept in s->werr for every later commit to
 * report, as a kernel filesystem reports a failed writeback at fsync and
 * close.
 */
int staging_write_begin(struct mfs_fs *fs, struct mfs_staging *s, size_t len, uint64_t off);
ssize_t staging_write_end(struct mfs_fs *fs, struct mfs_staging *s, const void *buf, size_t len,
			  uint64_t off, int answered);
/* Whether making room for `end` staged bytes may wait for the write-behind. */
int staging_may_wait(const struct mfs_fs *fs, const struct mfs_staging *s, uint64_t end);
int staging_truncate(struct mfs_fs *fs, struct mfs_staging *s, uint64_t size);
/* fallocate(2) of the staged bytes (mode as fallocate's).  0 or -errno. */
int staging_fallocate(struct mfs_fs *fs, struct mfs_staging *s, int mode, uint64_t off,
		      uint64_t len);
int staging_clear_dir(const char *dir);
/*
 * The staged bytes that hold data (its holes left out: a sparse file
 * needs no room for them), for the space check before a commit.
 */
uint64_t staging_data_bytes(const struct mfs_staging *s);

/*
 * writebehind.c: the commit of a large file runs while it is written.  All
 * with the node's lock held.  wb_after_write after bytes were added;
 * wb_changed when bytes from `off` on changed (write, truncate, fallocate):
 * below what the feed has read, the early ingest is dropped (bytes it let
 * the staging drop come back first).  wb_drop_stored, when the staging
 * budget is used up, frees the staged bytes whose chunks are stored.  wb_finish
 * ingests the rest and stores the manifest (as mfs_ingest_fd), or returns
 * -EAGAIN when there is no usable early ingest: ingest from scratch then.
 * wb_end drops it (the staging goes without a commit).
 */
struct mfs_writebehind;
struct mfs_ingest_stats;
/* fs_write.c: -ENOSPC unless the store's filesystem can take size more bytes. */
int fs_check_space(struct mfs_fs *fs, uint64_t size);
void wb_after_write(struct mfs_fs *fs, struct mfs_staging *s);
int wb_changed(struct mfs_fs *fs, struct mfs_staging *s, uint64_t off);
uint64_t wb_drop_stored(struct mfs_fs *fs, struct mfs_staging *s);
int wb_restore(struct mfs_fs *fs, struct mfs_staging *s);
int wb_finish(struct mfs_fs *fs, struct mfs_staging *s, struct mfs_hash *id, int *has_manifest,
	      struct mfs_ingest_stats *st);
void wb_end(struct mfs_staging *s);
/*
 * For readers during the commit (commit_open.c): the manifest of the
 * chunks stored so far, which cover the dropped bytes, made readable
 * (mfs_ingest_index_stored); NULL if none can be.  The caller unrefs it.
 */
struct mfs_manifest *wb_stored(struct mfs_staging *s);
/*
 * The write-behind's last copy of its stored chunks (wb_stored), or NULL;
 * borrowed while s->wb lives.  wb_stored_fresh indexes what the feeds
 * stored since first (joins a running feed).
 */
struct mfs_manifest *wb_pinned(struct mfs_staging *s);
struct mfs_manifest *wb_stored_fresh(struct mfs_staging *s);

/*
 * kept.c: the staged bytes of a file no commit published, which its
 * readers read on after its last writer left (kept.c notes), without
 * putting the write-behind's dropped bytes back into memory.
 * fs_kept_new (n->lock held, s the staging of n, which goes next): a
 * reference to them, shared by s's keepers; hint, if not NULL, the chunks
 * of s's hole a commit indexed (commit_open.c).  -errno if they are lost
 * (s->werr, or chunks that cannot be read back).  pread: [off, off +
 * size) up to their size, the bytes read or -errno; seek: SEEK_DATA or
 * SEEK_HOLE, the offset or -errno; neither takes a lock.
 */
struct fs_kept;
int fs_kept_new(struct mfs_fs *fs, struct mfs_staging *s, struct mfs_manifest *hint,
		struct fs_kept **out);
/* NULL is a no-op. */
void fs_kept_put(struct fs_kept *k);
ssize_t fs_kept_pread(struct fs_kept *k, void *buf, size_t size, uint64_t off);
off_t fs_kept_seek(struct fs_kept *k, uint64_t off, int whence);
/*
 * The staged bytes of s as a reader sees them (s's lock held), those the
 * write-behind dropped read from its chunks, not put back (unless there
 * are none to read: staging_materialize); hint as fs_kept_new's.  The
 * bytes read or -errno; the offset or -errno.
 */
ssize_t staging_pread(struct mfs_fs *fs, struct mfs_staging *s, struct mfs_manifest *hint,
		      void *buf, size_t size, uint64_t off);
off_t staging_seek(struct mfs_fs *fs, struct mfs_staging *s, struct mfs_manifest *hint,
		   uint64_t off, int whence);
/* Copies [off, off + len) of m's bytes into buf through the chunk cache.  0 or -errno. */
int fs_copy_chunks(struct mfs_fs *fs, const struct mfs_manifest *m, uint16_t origin, char *buf,
		   uint64_t off, uint64_t len);

/*
 * view.c: after a commit moved the path to inode `ino` while the writer
 * (inode `writer`) stays open, ino's stat shows the writer's staging s (its size and times)
 * until view_end (the next commit, or staging_free).  view_update, called
 * with the writer's node lock held after s changed, returns the inode whose
 * kernel attributes view_inval must drop once that lock is released (0:
 * none).  view_apply overrides st for ino if a view is on it.  Times set
 * on ino itself (utimensat of the path) go to the view, and view_take_times
 * (writer's node lock held) hands them to the writer's staging, so its next
 * commit publishes them, as one file on a local filesystem would keep them.
 */
struct mfs_view;
/*
 * shared: every writer of `writer` writes through its page cache and no
 * reader holds its version; lookups of the path give `writer` then.
 */
void view_start(struct mfs_fs *fs, struct mfs_staging *s, uint64_t writer, uint64_t ino,
		int shared);
/* The inode of the writer whose view is on ino, or 0. */
uint64_t view_writer(struct mfs_fs *fs, uint64_t ino);
/* The same for a shared view not superseded: what a lookup gives for ino (view.c), or 0. */
uint64_t view_lookup_writer(struct mfs_fs *fs, uint64_t ino);
/*
 * A commit published a newer version over ino: a view on it is lost, and
 * its writer's close publishes only bytes it wrote since (view_lost), not
 * a truncate(2) of the path that reached its staging through the view.
 */
void view_superseded(struct mfs_fs *fs, uint64_t ino);
int view_lost(struct mfs_fs *fs, const struct mfs_staging *s);
/* The inode the writer of s shows its view on (its path's), or 0; its node lock held. */
uint64_t view_path_ino(const struct mfs_staging *s);
uint64_t view_update(struct mfs_fs *fs, struct mfs_staging *s);
void view_inval(struct mfs_fs *fs, uint64_t ino);
void view_end(struct mfs_fs *fs, struct mfs_staging *s);
void view_set_times(struct mfs_fs *fs, uint64_t ino, const struct timespec *mtime,
		    const struct timespec *ctime);
void view_take_times(struct mfs_fs *fs, struct mfs_staging *s);
void view_apply(struct mfs_fs *fs, uint64_t ino, struct stat *st);

/*
 * tgid.c: the process (thread group id) of thread tid, alive, as the
 * daemon's pid namespace names it; 0 if unknown (tid 0: another pid
 * namespace's caller, or a thread gone).
 */
pid_t fs_tgid_of(pid_t tid);

/* fs_ops.c */
void fs_fill_stat(struct mfs_fs *fs, struct mfs_node *n, struct stat *st);
void fs_reply_entry(struct mfs_fs *fs, fuse_req_t req, struct mfs_inode *rec);
/* fs_reply_entry of a record read when fs->remote_gen was gen (a lookup). */
void fs_reply_entry_gen(struct mfs_fs *fs, fuse_req_t req, struct mfs_inode *rec, uint64_t gen);
/*
 * Stores the fields in mask (enum mfs_attr_mask) of n->rec, as the caller
 * changed them, with n->lock held.  For an old version they go to the path's
 * current inode, left in *moved_to for the caller to refresh once unlocked.
 */
int fs_save_attrs(struct mfs_fs *fs, struct mfs_node *n, unsigned mask, uint64_t *moved_to);
struct mfs_ns_new;
/*
 * A new entry in a set-group-ID directory takes the directory's group, and
 * a new directory inherits the bit (the kernel's own filesystems do so;
 * FUSE leaves it to the filesystem).  No locks held.
 */
void fs_inherit_sgid(struct mfs_fs *fs, uint64_t parent, struct mfs_ns_new *nw);
/*
 * The set-user-ID and set-group-ID bits of the file rec that the
 * caller of req drops by a write or truncate (chown 0) or by a chown
 * (chown 1), as the kernel's setattr_should_drop_suidgid() decides for its
 * own filesystems.  libfuse 3.14 documents FUSE_CAP_HANDLE_KILLPRIV as its
 * default but never sends it (its INIT reply lacks the flag), so the kernel
 * drops the bits itself (a GETATTR, then a SETATTR of the mode) before a
 * write through the page cache; not before a direct-I/O write, whose kill
 * flag libfuse 3.14 does not pass on: there only this drop does it.  A chown drops them whoever
 * makes it; a write or truncate only when the caller lacks CAP_FSETID (here:
 * is not root).
 */
mode_t fs_setid_to_drop(fuse_req_t req, const struct mfs_inode *rec, int chown);
/* Re-reads ino's record into its in-memory node (no locks held). */
void fs_refresh(struct mfs_fs *fs, uint64_t ino);
/* Drops the kernel's dentries of the other names of parent/name's file (no locks held). */
void fs_inval_links(struct mfs_fs *fs, uint64_t parent, const char *name);
/*
 * Loads version id (an empty one when !has_manifest) as readers do: under
 * gc's references lock, so that once loaded it pins its chunks.
 */
int fs_manifest_pinned(struct mfs_fs *fs, const struct mfs_hash *id, int has_manifest,
		       struct mfs_manifest **out);
/* Loads n->manifest if needed; called with n->lock held. */
int fs_node_manifest(struct mfs_fs *fs, struct mfs_node *n);
/* Forgets n->truncated (its manifest goes); n->lock held. */
void fs_node_untruncate(struct mfs_node *n);
/* The ino the node's path now has (follows successors). Caller holds n->lock. */
uint64_t fs_node_target(struct mfs_fs *fs, struct mfs_node *n);

/*
 * fs_read.c: a new handle on n (in fi->fh), or an error.  `created`: n is
 * the new file this request created, and the handle publishes it at its
 * release whatever its access mode (open(O_CREAT|O_RDONLY), as flock(1)
 * makes, creates a file like O_WRONLY does).  tid: the caller's thread
 * (fuse_req_ctx), or 0 (note 7).
 */
int fs_open_node(struct mfs_fs *fs, struct mfs_node *n, struct fuse_file_info *fi, int created,
		 pid_t tid);
void fs_handle_close(struct mfs_fs *fs, struct mfs_handle *h);

/*
 * fs_write.c: commit staged bytes of n (n->lock held).  May drop nothing.
 * *moved: the inode the commit superseded (the path got a new one), or 0.
 */
int fs_commit(struct mfs_fs *fs, struct mfs_node *n, uint64_t *moved, uint64_t *parent,
	      char **name);
/*
 * n's staged bytes are published under another inode, every writer of n
 * has been closed (only their RELEASEs are on their way), and readers hold
 * n's version: n shows that version (fs_fill_stat), theirs, not the
 * writer's any more.  (A writer's dup'ed descriptor still open is not
 * told: n has one size for the kernel, and the readers read by it.)
 * n->stg set, n->lock held.
 */
int fs_staging_left(struct mfs_fs *fs, struct mfs_node *n);
/*
 * Every writer of n has been closed and n's staged bytes are its
 * published version (a close's commit in place): only the writers'
 * RELEASEs are on their way.  n->lock held.
 */
int fs_staging_published(struct mfs_fs *fs, struct mfs_node *n);
/*
 * Every writer of n has been closed and its staging holds nothing
 * unpublished: only their RELEASEs are to come, unless a descriptor
 * outlives its opener's close (n->writers_outlive).  n->stg set,
 * n->lock held.
 */
int fs_staging_idle(struct mfs_node *n);
/* Notifies the kernel after a commit that moved the path (no locks held). */
void fs_after_commit(struct mfs_fs *fs, uint64_t moved, uint64_t parent, char *name);
/*
 * The same in two halves, for requests the kernel sends holding the file's
 * inode lock (FSYNC, SETATTR): the dentries of the path can only be dropped
 * with the parent directory's lock, which an unlink or rename of the file
 * holds while it waits for the file's (the VFS takes the parent first), so
 * dropping them before the reply deadlocks.  fs_moved_inode before the
 * reply (the attributes: no lock), fs_moved_entry after it (frees name).
 */
struct fs_moved {
	uint64_t ino, parent;   /* ino 0: nothing moved */
	char *name;
};
void fs_moved_inode(struct mfs_fs *fs, struct fs_moved *mv);
void fs_moved_entry(struct mfs_fs *fs, struct fs_moved *mv);

/*
 * fs_info.c: per-file reports.  fs_info_write writes ino's info as "key
 * value" lines; fs_info_xattr gives them as the value of user.modelfs.info
 * (key "info": all lines) or one line's value (-ENODATA for an unknown key;
 * *out is malloc'ed, the caller frees it); fs_evict drops this node's cached
 * copies of a file's chunks and writes what it did as lines.  0 or -errno.
 */
int fs_info_write(struct mfs_fs *fs, uint64_t ino, FILE *f);
int fs_info_xattr(struct mfs_fs *fs, uint64_t ino, const char *key, char **out, size_t *outlen);
int fs_evict(struct mfs_fs *fs, uint64_t ino, FILE *f);

/* fs_metrics.c: writes the Prometheus text of the status to cfg->metrics_file periodically. */
struct fs_metrics;
int fs_metrics_start(struct mfs_fs *fs, struct fs_metrics **out);
/* NULL is a no-op. */
void fs_metrics_stop(struct fs_metrics *m);

/*
 * fs_gc.c.  The node's manifest if no handle has n open (an old version,
 * or the current one, whose manifest is then only a cache): detached for the
 * caller to unref once unlocked, so that gc can free an old version's
 * chunks and trim the extra copies of a current one.  NULL otherwise.
 * n->lock held.
 */
struct mfs_manifest *fs_node_release_old(struct mfs_fs *fs, struct mfs_node *n);
/* Answers a control request "gc [apply] [relocate] [grace=N]" (args after "gc"). */
void fs_gc_control(struct mfs_fs *fs, const char *args, FILE *f);
/* Runs gc (apply, grace gc_grace_s) every gc_interval_s until stopped; *out NULL when off. */
struct fs_gc;
int fs_gc_start(struct mfs_fs *fs, struct fs_gc **out);
void fs_gc_stop(struct fs_gc *g);
/* fs_recode.c: the background encoding of deferred raw chunks (recode=1); *out NULL when off. */
struct fs_recode;
int fs_recode_start(struct mfs_fs *fs, struct fs_recode **out);
void fs_recode_stop(struct fs_recode *r);
/* Status lines: recode_queue, and the thread's counters when it runs. */
void fs_recode_status(struct mfs_fs *fs, FILE *f);
/*
 * fs_sync.c: with meta_sync_ms > 0, defers the sync of namespace changes
 * other than publishes (mfs_ns_defer_syncs) and syncs them every
 * meta_sync_ms; *out NULL when off.  Stop syncs what is left.
 */
struct fs_sync;
int fs_sync_start(struct mfs_fs *fs, struct fs_sync **out);
void fs_sync_stop(struct fs_sync *s);

/* fs_lost.c: gc's pass over the names (mfs_ns_repair_names); the entries moved into /lost+found. */
uint64_t fs_adopt_orphans(struct mfs_fs *fs);

/* fs_remote.c: the replica's on_change hook (arg: struct mfs_fs). */
void fs_remote_change(void *arg, const struct mfs_ns_change *c);
/* fs->remote_gen now. */
uint64_t fs_remote_gen(struct mfs_fs *fs);
/*
 * n was made from a record read when fs->remote_gen was gen: if a peer's
 * change landed since, its refresh may have found no node to refresh, so
 * n's record is read again.  n->lock held.  Returns a manifest for the
 * caller to unref once n->lock is released (NULL mostly).
 */
struct mfs_manifest *fs_node_catch_up(struct mfs_fs *fs, struct mfs_node *n, uint64_t gen);

extern const struct fuse_lowlevel_ops mfs_fs_ops;

/* Operation handlers split over fs_*.c, gathered in fs_ops.c. */
void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void fs_op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		 struct fuse_file_info *fi);
void fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		  struct fuse_file_info *fi);
void fs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		 struct fuse_file_info *fi);
void fs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
/* FLUSH as the table sends it: a reader's close marks it closing, a writer's is fs_op_flush. */
void fs_op_close_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
/* A writer's handle wrote again after a close(2) of one of its descriptors: not closing. */
void fs_writer_active(struct mfs_handle *h);
void fs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void fs_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
		     struct fuse_file_info *fi);
int fs_truncate(struct mfs_fs *fs, struct mfs_node *n, uint64_t size, struct fuse_file_info *fi,
		struct fs_moved *mv);
/*
 * A truncate(2) of the path to size, with no writer open, holds for the
 * readers of n->manifest (n->truncated, above).  n->lock held.  Returns 1
 * if it cut their version shorter than n showed: the caller then calls
 * fs_truncated_pages before the reply that gives the kernel that size.
 */
int fs_truncated_for_readers(struct mfs_node *n, uint64_t size);
/* Drops the kernel's cached pages of ino from size on (no locks held). */
void fs_truncated_pages(struct mfs_fs *fs, uint64_t ino, uint64_t size);
/*
 * fs_truncate of n's staged bytes only: -ESTALE if n has none (its writer
 * released it); *old gets their size before the cut.  Commits them (*mv)
 * when every writer was closed already, else the writer publishes them.
 */
int fs_truncate_staged(struct mfs_fs *fs, struct mfs_node *n, uint64_t size, uint64_t *old,
		       struct fs_moved *mv);
void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
		    size_t size, int flags);
void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void fs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);
/* fs_attr.c */
void fs_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		   struct fuse_file_info *fi);
/* fs_dir.c */
void fs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi);
void fs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi);
void fs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void fs_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
/* noted_attrs.c: before and after a long wait under n->lock (a commit, a write's). */
void fs_attrs_note(struct mfs_fs *fs, struct mfs_node *n);
void fs_attrs_unnote(struct mfs_fs *fs, struct mfs_node *n);
/*
 * For a request that only reads n's attributes or xattrs: locks n and
 * returns 1, or, while a long wait holds n's lock, returns 0 with n->noted to
 * read instead (fs->noted_lock held).  Either way fs_node_unlock_attrs ends it.
 */
int fs_node_lock_attrs(struct mfs_fs *fs, struct mfs_node *n);
void fs_node_unlock_attrs(struct mfs_fs *fs, struct mfs_node *n, int locked);
/*
 * For an open for reading: locks n and returns 1, or, while a commit of n
 * runs that readers can open (commit_open.c), returns 0 with *p a
 * reference to its bytes for fs_pending_open.
 */
struct fs_pending;
int fs_node_lock_open(struct mfs_fs *fs, struct mfs_node *n, struct fs_pending **p);
/*
 * commit_open.c: readers that open while a commit runs.  begin and end
 * bracket the commit (n->lock held, between fs_attrs_note and
 * fs_attrs_unnote); take (fs->noted_lock held) gives a reference to the
 * commit's bytes if readers can open them, and open makes h their
 * reader.  read answers a READ of h and returns 0 with the bytes replied
 * or the -errno replied in *out, or returns 1 without replying once the
 * commit ended and published: h->m is set then, read that.  wait waits for
 * the end (0 with h->m set; 1: the commit did not publish and h reads the
 * bytes written, ask seek; or -EIO, note 7); close drops h's reference.
 * uncount, at h's release: 1 if the commit has not ended and h is no
 * longer counted in it (no lock taken), 0 if h counts among n's readers
 * now.  keep, n->lock held as n's last writer leaves (n->stg still set):
 * the readers of n->kept take descriptors of the bytes of their own.
 */
void fs_pending_begin(struct mfs_fs *fs, struct mfs_node *n);
void fs_pending_end(struct mfs_fs *fs, struct mfs_node *n);
struct fs_pending *fs_pending_take(struct mfs_fs *fs, struct mfs_node *n);
void fs_pending_open(struct mfs_handle *h, struct fs_pending *p, struct fuse_file_info *fi);
int fs_pending_read(fuse_req_t req, struct mfs_handle *h, size_t size, off_t off, ssize_t *out);
/*
 * fs_read.c: replies to a READ with the got bytes of buf, or with the
 * error got (-errno); frees buf.  Returns got.
 */
ssize_t fs_reply_bytes(fuse_req_t req, void *buf, ssize_t got);
int fs_pending_wait(struct mfs_handle *h);
int fs_pending_uncount(struct mfs_fs *fs, struct mfs_handle *h);
void fs_pending_close(struct mfs_handle *h);
void fs_pending_keep(struct mfs_fs *fs, struct mfs_node *n);
/* SEEK_DATA or SEEK_HOLE in the bytes h keeps (wait gave 1): the offset or -errno. */
off_t fs_pending_seek(struct mfs_fs *fs, struct mfs_handle *h, off_t off, int whence);
/* The kept commits of a node that goes (itable.c); no lock needed. */
void fs_pending_drop_kept(struct mfs_node *n);
/* The node the kernel refers to by ino (it looked it up): NULL and *rc -ESTALE if none. */
struct mfs_node *fs_node_of(struct mfs_fs *fs, fuse_ino_t ino, int *rc);

static inline struct mfs_fs *req_fs(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/*
 * Test only (MODELFS_TEST_COMMIT_HOLD, MODELFS_TEST_READ_HOLD; test_hold.c):
 * makes PATH.held, then waits until PATH exists, 60 s at most.
 */
void fs_test_hold(const char *path);

#endif
