/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The namespace: directories, files, symlinks and special files (FIFOs,
 * sockets, devices: a record with an rdev and no bytes), stored as inode records
 * (inodes CF) and directory entries (dirents CF), on top of struct mfs_db.
 * Every operation is one atomic RocksDB batch, synced before the call returns
 * (group commit: ns_internal.h; a file created pending is synced by its
 * publish or the next op), so a crash leaves the
 * tree as it was before or after the operation, never in between.
 *
 * Versions.  A file's bytes are immutable once published.  Publishing new
 * bytes for a path that already had published bytes gives the path a new
 * inode number and deletes the old record; the old inode lives on only in
 * the memory of whoever still has it open (the FUSE layer), so readers keep
 * the version they opened and the kernel never mixes two versions in one
 * inode's page cache.  A file that was created but never published is
 * MFS_I_PENDING and is published in place; pending files left by a crash are
 * removed when the namespace is opened.
 *
 * Hard links.  A file (anything but a directory) may have several names.
 * Its record lists them all: the first in (parent, name), the others in
 * links[], and nlink is their count; each name is an ordinary dirent.
 *  1. link adds a dirent and a name to the record, unlink removes one of
 *     each and deletes the record with its last name; rename moves one name
 *     in the record.  Each also sets the file's ctime, in the same batch.
 *  2. A publish that gives a file a new inode moves every name: the old
 *     record is deleted, the new one carries the same names, and every
 *     dirent is rewritten to the new inode, all in one synced batch (one
 *     op: peers get the 'I' and all 'D' entries together).
 *  3. Renaming one name over another name of the same inode does nothing
 *     (POSIX).  Directories have exactly one name (link answers -EPERM).
 *  4. Peers apply the op's entries last writer wins, like any other op, so
 *     every node ends with the same entries; but the record's list and
 *     nlink are the winning op's, not a merge, until the node that made
 *     the file lists again the names that lead to it, by an op, after each
 *     op that touched them (ns_version.c, note 7).  A rename racing an unlink
 *     can leave a dirent the record does not list; such a dirent still
 *     works, and a later rewrite moves only the names whose entries still
 *     lead to the file.  Likewise an unlink, or a rename over a name,
 *     counts only those names: the record goes with the last of them, and
 *     loses the others it lists (ns_drop_name), so nlink is right again
 *     after it.  To know which do, an unlink reads each listed name's
 *     entry once, and then trusts the list (names_ok, in memory) for the
 *     unlinks after it, until any write but a link, unlink, rename or
 *     setattr, or any applied op: a file of many names (cp -al, rsync
 *     --link-dest) would otherwise pay a read per name per unlink.
 *     A record lists each name once: a link or a rename to a name it
 *     lists already (a stale one, whose entry a peer's op took) does not
 *     list it again, and the maker's repair takes a name listed twice
 *     once (older builds listed it twice, and nlink stayed one too high
 *     on every node for good: t1496, status counting a file more than
 *     the tree showed).
 *     A rename or a link racing a rewrite of the same file, and
 *     the later by the clock, puts the old version's record back beside
 *     the new one, with the renamed or linked name: the node that made the
 *     new version then gives it every name of the old one, whose record
 *     goes (ns_version.c); a chmod, chown or setxattr so racing gives the
 *     new version its attributes.  The rewrite being the later, the other
 *     op's new name is left on no record, hidden.  NEEDSWORK: the files
 *     of a node that left the cluster keep their lists as they are (as
 *     ns_merge.c, note 5).
 *

 * Thread safety: all functions may be called from any thread; one mutex
 * serialises the read-check-write sequences.
 */
#ifndef MFS_NAMESPACE_H
#define MFS_NAMESPACE_H

#include <stdint.h>

#include "inode.h"
#include "store/base/node.h"

struct mfs_batch;
struct mfs_db;
struct mfs_ns;

/*
 * 7: split records carry group checksums (store/chunk/codec_split.c note
 * 3), which a format 6 build refuses as corrupt; 6: a delta record may be version 2, its XOR planes in sparse pieces
 * (store/chunk/codec_split.c note 2), which a format 5 build refuses as
 * corrupt (and its fsck would report so); 5: a delta's chunk index entry may be version 3 (its bases listed), which
 * a format 4 build cannot decode: it would count the packs holding those
 * records as unused; 4: chunk records may be fine-tune deltas (codec 6, store/chunk/delta.h),
 * whose bases only a build that knows them keeps from gc; 3: 64-bit node
 * ids in op-log keys, stamps, vectors and gc marks; 2: chunk index entries
 * may name pack records (doc/format.md).  1 and 2 are converted at open
 * (ns_migrate.c), 3 to 6 are marked 7 (nothing to convert).
 */
#define MFS_FORMAT_VERSION 7
/* The format ns_migrate_wide_ids() converts 1 and 2 to; then 3 to 6 are marked 7. */
#define MFS_FORMAT_WIDE_IDS 3
#define MFS_FORMAT_OLDEST 1
/* meta "peer:" + endpoint: u64 node id, u16 inode space (replica/node.c). */
#define MFS_PEER_REC_LEN 10

int mfs_ns_open(struct mfs_db *db, struct mfs_ns **out);
void mfs_ns_close(struct mfs_ns *ns);
/* Borrowed: lives as long as ns. */
struct mfs_db *mfs_ns_db(struct mfs_ns *ns);
mfs_node_t mfs_ns_node_id(struct mfs_ns *ns);
/*
 * Makes id this node's id from now on (persisted): a node with a CURVE key
 * takes its key's id at start, before any op (replica/node.c).  Its ops
 * under the id it had stay in the log under that origin.  0 or an error.
 */
int mfs_ns_set_node_id(struct mfs_ns *ns, mfs_node_t id);
/* The inode space: new inode numbers are space << 48 | counter (never 0). */
uint16_t mfs_ns_space(struct mfs_ns *ns);
/* Numbers new inodes in space from now on (persisted).  0 or an error. */
int mfs_ns_set_space(struct mfs_ns *ns, uint16_t space);
/* Inode spaces in use by inodes held here: bit s of used (65536 bits) set.  0 or an error. */
int mfs_ns_spaces_used(struct mfs_ns *ns, uint8_t used[8192]);

/* Record of ino into *out (caller releases with mfs_inode_release). */
int mfs_ns_get(struct mfs_ns *ns, uint64_t ino, struct mfs_inode *out);
/* -ENOENT, -ENOTDIR, -ENAMETOOLONG or 0 with the child's record. */
int mfs_ns_lookup(struct mfs_ns *ns, uint64_t parent, const char *name, struct mfs_inode *out);

struct mfs_ns_new {
	uint32_t mode;          /* with S_IFMT: any of S_IFREG, S_IFDIR, S_IFLNK,
				 * S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK */
	uint64_t rdev;          /* S_IFCHR and S_IFBLK only */
	uint32_t uid, gid;
	const char *symlink;    /* target, symlinks only */
	uint32_t flags;         /* MFS_I_PENDING for files being written */
};
/* Creates name in parent; -EEXIST if taken.  Inherits parent's repl. */
int mfs_ns_create(struct mfs_ns *ns, uint64_t parent, const char *name,
		  const struct mfs_ns_new *nw, struct mfs_inode *out);

/*
 * A new name newparent/newname for ino (not a directory: -EPERM).  -EEXIST
 * if the name is taken, -EMLINK past MFS_LINK_MAX names, -ENOENT if ino is
 * gone.  *out (if not NULL) gets ino's record as written.
 */
int mfs_ns_link(struct mfs_ns *ns, uint64_t ino, uint64_t newparent, const char *newname,
		struct mfs_inode *out);

/*
 * unlink (dir=0) or rmdir (dir=1).  *removed_ino (if not NULL) gets the ino
 * whose name went; the record itself goes with its last name only.
 */
int mfs_ns_remove(struct mfs_ns *ns, uint64_t parent, const char *name, int dir,
		  uint64_t *removed_ino);
/*
 * mfs_ns_remove, with the record the name led to as it was before (its ino
 * is the one removed) into *before on success, zeroed otherwise; the caller
 * releases it with mfs_inode_release.  The daemon keeps it for descriptors
 * of the file that live on (fuse/fs_ops.c, mark_gone).
 */
int mfs_ns_remove_rec(struct mfs_ns *ns, uint64_t parent, const char *name, int dir,
		      struct mfs_inode *before);

/*
 * Removes file ino, which was never published, with every name it has
 * (hard links), if name still leads to it; -ENOENT otherwise.
 */
int mfs_ns_remove_if(struct mfs_ns *ns, uint64_t parent, const char *name, uint64_t ino);
/*
 * Deletes the record of file ino, never published, that no name leads to
 * any more: another node's op took its name while it was being written
 * (two nodes downloading one file into a shared cache), so neither its
 * commit nor mfs_ns_remove_if, which go by name, can remove it.  As an op:
 * peers hold it too.  0, -ENOENT if gone, -EBUSY if published, -EEXIST if
 * a name still leads to it.
 */
int mfs_ns_drop_pending(struct mfs_ns *ns, uint64_t ino);

enum mfs_rename_flags {
	MFS_RENAME_NOREPLACE = 1 << 0,
	MFS_RENAME_EXCHANGE = 1 << 1,   /* swap the two entries; both must exist */
};
/*
 * POSIX rename; *replaced (if not NULL) gets the ino whose name it replaced
 * or 0 (that ino keeps its record if it has other names).
 */
int mfs_ns_rename(struct mfs_ns *ns, uint64_t parent, const char *name, uint64_t newparent,
		  const char *newname, unsigned flags, uint64_t *replaced);
/*
 * mfs_ns_rename, with the record of the inode it replaced as it was before
 * into *replaced_rec (zeroed when none was replaced, or on failure); the
 * caller releases it with mfs_inode_release.
 */
int mfs_ns_rename_rec(struct mfs_ns *ns, uint64_t parent, const char *name, uint64_t newparent,
		      const char *newname, unsigned flags, struct mfs_inode *replaced_rec);

/* Fields of an inode that setattr and the xattr calls change. */
enum mfs_attr_mask {
	MFS_ATTR_MODE = 1 << 0,   /* permission bits; the type never changes */
	MFS_ATTR_UID = 1 << 1,
	MFS_ATTR_GID = 1 << 2,
	MFS_ATTR_ATIME = 1 << 3,
	MFS_ATTR_MTIME = 1 << 4,
	MFS_ATTR_CTIME = 1 << 5,
	MFS_ATTR_XATTR = 1 << 6,  /* the whole xattr list */
	MFS_ATTR_REPL = 1 << 7,   /* replication factor */
};

/*
 * Copies the fields in mask from src onto ino's stored record (read, change,
 * write under the namespace lock, so fields changed meanwhile by other
 * operations, such as a directory's mtime and nlink, are kept).  *out (if
 * not NULL) gets the record as written.  0 or -ENOENT.
 */
int mfs_ns_setattr(struct mfs_ns *ns, uint64_t ino, const struct mfs_inode *src, unsigned mask,
		   struct mfs_inode *out);

/*
 * Publishes a new version of ino: manifest id (NULL for an empty file) and
 * size.  The chunks and the manifest must already be durable or written
 * before this (the sync here covers them).  *out gets the record now at the
 * path: same ino if ino was pending, a new ino otherwise.  -ENOENT when ino
 * was unlinked or replaced meanwhile: the bytes are not published.  mtime
 * (NULL: now) is the version's modification time: the last write, or what
 * the writer set (cp -p); ctime (NULL: now) its last change, kept if the
 * stored record's is later.  An error with out->ino set is the sync's: the
 * version is published (readers see it, peers pull it, a restart finds it
 * unless the machine lost power), only its durability is not assured; the
 * caller owns *out then too.
 */
int mfs_ns_publish(struct mfs_ns *ns, uint64_t ino, const struct mfs_hash *manifest,
		   uint64_t size, const struct timespec *mtime, const struct timespec *ctime,
		   struct mfs_inode *out);
/*
 * A small file's stored bytes (mfs_ingest_small), written in the publish's
 * own batch: the commit is then one WAL append and its sync.
 */
struct mfs_ns_with {
	struct mfs_batch *b;    /* chunk records, index entries, manifest */
	const void *manifest;   /* the manifest record staged in b (the op carries it) */
	size_t manifest_len;
};
/*
 * As mfs_ns_publish, in one batch with what with->b holds.  Takes with->b:
 * freed on every return.  NULL is mfs_ns_publish.
 */
int mfs_ns_publish_with(struct mfs_ns *ns, uint64_t ino, const struct mfs_hash *manifest,
			uint64_t size, const struct timespec *mtime, const struct timespec *ctime,
			const struct mfs_ns_with *with, struct mfs_inode *out);

/* Called for each entry in name order; a non-zero return stops the walk. */
typedef int (*mfs_dirent_fn)(void *arg, const char *name, uint64_t ino, uint32_t mode);
/*
 * Walks dir's entries in name order, starting after the name `after` if
 * given (a resumed listing: stable when entries before it are removed),
 * else after skipping `skip` entries.
 */
int mfs_ns_readdir(struct mfs_ns *ns, uint64_t dir, const char *after, uint64_t skip,
		   mfs_dirent_fn fn, void *arg);

/* Path of ino from the root ("/a/b"), for reports.  Caller frees. */
char *mfs_ns_path(struct mfs_ns *ns, uint64_t ino);

/*
 * lost+found (ns_orphan.c): entries left unreachable by concurrent
 * directory operations, and where they go.  The directory has a fixed
 * inode number (origin 0: no node allocates it) and name.
 */
#define MFS_LOST_INO 2
#define MFS_LOST_NAME "lost+found"
/* An entry (parent, name) -> ino of mode whose parent was deleted; non-zero stops. */
typedef int (*mfs_orphan_fn)(void *arg, uint64_t parent, const char *name, uint64_t ino,
			     uint32_t mode);
/* Calls fn for every orphaned entry (parent deleted by an op, the child alive). */
int mfs_ns_orphans(struct mfs_ns *ns, mfs_orphan_fn fn, void *arg);
/* Its name in lost+found: "%016llx-NAME" of the deleted parent (cut to the name limit). */
void mfs_ns_lost_name(uint64_t parent, const char *name, char out[MFS_NAME_MAX + 1]);
/*
 * Moves the orphaned entry (parent, name) -> ino into lost+found (made if
 * missing), as an op like a rename, under the name it puts in newname:
 * mfs_ns_lost_name's, or "%016llx-NAME" of ino if that one leads to another
 * inode.  -ESTALE when it is no longer an orphan (a peer's adoption came
 * first), -EEXIST when the root's "lost+found" is something else.
 */
int mfs_ns_adopt(struct mfs_ns *ns, uint64_t parent, const char *name, uint64_t ino,
		 char newname[MFS_NAME_MAX + 1]);
/*
 * Repairs this node's directories that lost their name to another node's op
 * (store/ns/ns_merge.c): each is merged into the directory that won the
 * name, given its name back, or moved to lost+found.  Applying ops does it
 * as they come; this pass catches what a crash left.  Calls fn (may be
 * NULL) for every key changed.  The count repaired, or an error.
 */
struct mfs_ns_change;
typedef void (*mfs_ns_change_fn)(void *arg, const struct mfs_ns_change *c);
int mfs_ns_fix_dead_dirs(struct mfs_ns *ns, mfs_ns_change_fn fn, void *arg);
/*
 * Calls fn for every directory, of any node, whose record lives and holds
 * entries but whose name does not lead to it (fsck: those entries are out
 * of view until the node that made it repairs it).  Non-zero from fn stops
 * the walk.
 */
typedef int (*mfs_dead_dir_fn)(void *arg, uint64_t ino, uint64_t parent, const char *name);
int mfs_ns_dead_dirs(struct mfs_ns *ns, mfs_dead_dir_fn fn, void *arg);
/*
 * Deletes this node's file records that no directory entry names, each by
 * an op (store/ns/ns_nameless.c: the loser of two concurrent writes of one
 * path, or a file an attribute change put back after a concurrent unlink).
 * fn as for mfs_ns_fix_dead_dirs.  The count, or an error.
 */
int mfs_ns_drop_nameless(struct mfs_ns *ns, mfs_ns_change_fn fn, void *arg);
/*
 * gc: counts every directory's nlink again from its entries (derived state,
 * written here only, no op).  Applying ops keeps it right; a repair that a
 * kill cut short, or an entry that led nowhere when its parent was last
 * counted and somewhere since, may leave it off by one, on one node.  fn
 * as for mfs_ns_fix_dead_dirs.  The count of directories fixed, or an error.
 */
int mfs_ns_recount_dirs(struct mfs_ns *ns, mfs_ns_change_fn fn, void *arg);
/*
 * Moves every orphaned entry into lost+found (mfs_ns_adopt), a bounded
 * number per call.  fn as for mfs_ns_fix_dead_dirs.  The count moved, or
 * an error.
 */
int mfs_ns_adopt_orphans(struct mfs_ns *ns, mfs_ns_change_fn fn, void *arg);
/*
 * gc's pass over the names (ns_orphan.c), its parts in this order:
 * mfs_ns_fix_dead_dirs, mfs_ns_adopt_orphans, mfs_ns_drop_nameless (after
 * the moves: ns_orphan.c note 6), mfs_ns_recount_dirs.  A part that fails
 * is logged and the others run.  fn as for mfs_ns_fix_dead_dirs.  The
 * count of entries moved into lost+found.
 */
uint64_t mfs_ns_repair_names(struct mfs_ns *ns, mfs_ns_change_fn fn, void *arg);

/* ------------------------------------------------------------------------ */
/* Replication (ns_apply.c): every operation above also appends an op to
 * this node's op log (store/ns/oplog.h); other nodes' ops are applied here. */

/* What an applied remote op changed, for the FUSE layer's cache invalidation. */
struct mfs_ns_change {
	enum { MFS_CHANGE_INODE, MFS_CHANGE_DIRENT } kind;
	uint64_t ino;           /* INODE */
	uint64_t parent;        /* DIRENT */
	const char *name;       /* DIRENT */
};

/*
 * Applies op number seq of node origin (its encoding: oplog.h).  Ops of one
 * origin apply in sequence: a seq already applied returns 0 and does
 * nothing, a gap returns -EAGAIN.  fn (may be NULL) is called for every key
 * that changed, after the write and without locks.  MFS_EFORMAT for a
 * malformed op (nothing applied).
 */
int mfs_ns_apply(struct mfs_ns *ns, mfs_node_t origin, uint64_t seq, const uint8_t *op,
		 size_t len, mfs_ns_change_fn fn, void *arg);

/* The version vector: for each origin known here, the last seq held.  Returns the count (at most cap). */
int mfs_ns_vv(struct mfs_ns *ns, mfs_node_t *origins, uint64_t *seqs, int cap);

/* Called for each op; non-zero stops. */
typedef int (*mfs_op_fn)(void *arg, mfs_node_t origin, uint64_t seq, const uint8_t *op, size_t len);
/* Walks origin's ops after seq `after`, in order, until fn stops it. */
int mfs_ns_ops_since(struct mfs_ns *ns, mfs_node_t origin, uint64_t after, mfs_op_fn fn, void *arg);

/* Origins a version vector holds at most (the wire's PULL carries as many). */
#define MFS_NS_MAX_ORIGINS 1024

/*
 * The op log's bound (ns_trim.c).  The log base of an origin: its ops up to
 * there are folded into the namespace records and no longer held (a puller
 * lacking one must bootstrap from a snapshot).  mfs_ns_log_base lists the
 * bases set (count, at most cap).  mfs_ns_trim drops origins[i]'s ops up to
 * upto[i] (at most 65536 per origin per call; never an op a gc mark still
 * needs: the caller lowers upto with mfs_gc_marks_floor); *dropped says how
 * many.  mfs_ns_log_held: ops held, and ops
 * folded (the sum of the bases).
 */
int mfs_ns_log_base(struct mfs_ns *ns, mfs_node_t *origins, uint64_t *seqs, int cap);
int mfs_ns_trim(struct mfs_ns *ns, const mfs_node_t *origins, const uint64_t *upto, int n,
		uint64_t *dropped);
int mfs_ns_log_held(struct mfs_ns *ns, uint64_t *held, uint64_t *folded);

/*
 * Namespace snapshots (ns_snap.c; the image format is doc/format.md,
 * "Namespace snapshot"): every inode, dirent and manifest record with its
 * stamp, tombstones included, and the version vector and Lamport time they
 * are the state of, read at one point in time.
 */
struct mfs_wr;
struct mfs_snap_info {
	uint64_t records;       /* records in the image */
	uint64_t won;           /* records that changed something here (apply) */
	uint64_t lamport;
	int nvv;                /* origins in its version vector */
	uint64_t locked_us;     /* build: how long it held the namespace lock */
};
/* Builds the image into w (empty on entry).  Only durable own ops are in it. */
int mfs_ns_snap_build(struct mfs_ns *ns, struct mfs_wr *w, struct mfs_snap_info *info);
/*
 * The same in two steps.  _begin, under the namespace lock for a moment
 * only, takes a read view of the store (kv/db.h) and writes the image's
 * header (the version vector, the clock) of that same point; _end reads the
 * records at the view, lock-free, while commits and applies go on (their
 * ops are after the image's vector: a puller gets them as ops), then waits
 * for the own ops in the image to be durable.  _end always releases job,
 * so a caller calls it once _begin returned 0 (w and info as for build).
 */
struct mfs_db_view;
struct mfs_ns_snap_job {
	struct mfs_db_view *view;
	uint64_t own;           /* own ops in the image: durable before it leaves */
};
int mfs_ns_snap_begin(struct mfs_ns *ns, struct mfs_wr *w, struct mfs_snap_info *info,
		      struct mfs_ns_snap_job *job);
int mfs_ns_snap_end(struct mfs_ns *ns, struct mfs_ns_snap_job *job, struct mfs_wr *w,
		    struct mfs_snap_info *info);
/* The version vector in an image's header: count (at most cap), or MFS_EFORMAT. */
int mfs_ns_snap_vv(const uint8_t *p, size_t n, mfs_node_t *origins, uint64_t *seqs, int cap);
/* Checks an image whole (info may be NULL): 0 or MFS_EFORMAT; nothing written. */
int mfs_ns_snap_check(const uint8_t *p, size_t n, struct mfs_snap_info *info);
/*
 * Merges a checked image into the namespace as applying its ops would:
 * each record where its stamp wins, directories' times by the later ctime
 * and nlink recounted, then the version vector raised to the image's, the log base of
 * each origin raised with it (the ops in between are not held) and the
 * Lamport clock.  Checks it first (MFS_EFORMAT: nothing written).  Two
 * synced batches, records then vector: a crash between leaves the vector
 * behind, and merging the image again changes nothing more.  fn as in
 * mfs_ns_apply.
 */
int mfs_ns_snap_apply(struct mfs_ns *ns, const uint8_t *p, size_t n, mfs_ns_change_fn fn,
		      void *arg, struct mfs_snap_info *info);

/* Remote ops applied since open. */
uint64_t mfs_ns_applied(struct mfs_ns *ns);
/* Ops this node originated. */
uint64_t mfs_ns_seq(struct mfs_ns *ns);

/*
 * Durability of namespace changes.  Every op is in the WAL before it
 * returns, so a kill of the process loses none.  A publish is also synced
 * before it returns, always.  Other changes (create, mkdir, link, unlink,
 * rename, setattr, xattrs) are synced before they return unless deferred
 * syncs are on: then, as on a local filesystem, mfs_ns_sync (fsync, or the
 * daemon's periodic sync), any later synced op, or serving own ops to a peer
 * makes them durable, and a power loss before that loses them, newest first.
 */
void mfs_ns_defer_syncs(struct mfs_ns *ns, int on);
/* Makes every op written so far durable. */
int mfs_ns_sync(struct mfs_ns *ns);
/* Own ops written and not yet known durable. */
uint64_t mfs_ns_unsynced(struct mfs_ns *ns);

#endif
