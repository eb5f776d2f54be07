/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Revisions: named, read-only copies of a directory tree's namespace state,
 * which users reach as MOUNT/.snapshots/NAME/... (`modelfs-admin snapshot`;
 * doc/replication.md, "Snapshots by path").  "Snapshot" in the code names
 * the join images of ns_snap.c, so these are "revisions" here.
 *
 * A revision is one record: the tree at DIR as it was at one point in time
 * (every entry's attributes, xattrs, symlink target, and for a file the id
 * of its manifest), with no chunk copied: files are write-once, so the
 * manifest a record names keeps meaning the same bytes.  The record travels
 * as an 'R' entry of a namespace op keyed by the revision's name, and lives
 * in the meta CF under "rv" + name, last writer wins by stamp like member
 * records and allow-list entries (member.h, allow.h): it reaches every node
 * with the op log and in join images.  Deleting a revision writes the same
 * entry as a tombstone (a record without a tree), so a delete beats the
 * create it follows on every node.
 *
 * Notes on the design:
 *  1. Creating one is one op, built from a read view of the store (taken
 *     under the namespace lock for a moment only); the walk of the tree runs
 *     at the view, lock-free, while gc is held off (the refs lock, shared) so
 *     no chunk the walk saw can go before the record names it.
 *  2. On a peer the op is checked whole before the lock (ns_apply.c), then
 *     written as one value: no per-file work under the namespace lock.
 *  3. Reading: a record is parsed once into an index (rev_tree.c) and kept
 *     while it stays the record at its name.  Entries are in breadth-first
 *     order, each directory's children contiguous and sorted by name, so a
 *     lookup is a binary search and a listing a range.
 *  4. Inode numbers: /.snapshots is MFS_REVS_INO; entry i of the revision
 *     loaded in slot s (per process, never reused) is
 *     MFS_REV_INO_BASE | s << 24 | i.  Both lie in inode space 0, which no
 *     node allocates from (doc/format.md, "Inode spaces").
 *  5. Everything that must see every referenced chunk (gc, op-log scans in
 *     gc, fsck, repair, trim) reads revisions too: mfs_rev_each_file, or
 *     the inode walk with `revisions` set (inode_walk.h).
 */
#ifndef MFS_REV_H
#define MFS_REV_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "inode.h"

#define MFS_REVS_INO 3
#define MFS_REVS_NAME ".snapshots"
#define MFS_REV_INO_BASE (1ULL << 40)
#define MFS_REV_SLOT_SHIFT 24
/* Entries one revision may have (the slot's share of inode numbers). */
#define MFS_REV_MAX_ENTRIES (1u << MFS_REV_SLOT_SHIFT)
#define MFS_REV_VERSION 1

/* Stored values: never renumber. */
enum mfs_rev_state {
	MFS_REV_DELETED = 0,
	MFS_REV_LIVE = 1,
};

/* Whether ino is /.snapshots or an entry of a revision. */
static inline int mfs_rev_is_ino(uint64_t ino)
{
	return ino == MFS_REVS_INO || (ino >> 40) == 1;
}

/* Whether the name (dir, name) is /.snapshots or inside a revision: no write may touch it. */
static inline int mfs_rev_is_name(uint64_t dir, const char *name)
{
	return mfs_rev_is_ino(dir) || (dir == MFS_ROOT_INO && !strcmp(name, MFS_REVS_NAME));
}

/* A name a revision may have: 1..255 bytes, no '/', no control byte, not "." or "..". */
int mfs_rev_name_ok(const char *name);

/* Checks an 'R' entry's value whole (untrusted): 0 or MFS_EFORMAT. */
int mfs_rev_check(const uint8_t *p, size_t n);

struct mfs_rev_info {
	char name[256];
	int live;
	struct timespec created;
	char path[4096];        /* the directory it was taken of, as it was named then */
	uint64_t entries;       /* the top directory included */
	uint64_t files, dirs;
	uint64_t bytes;         /* logical bytes of its files */
	uint64_t record_bytes;  /* the record's size: the metadata it costs */
	uint64_t walk_us;       /* create: the walk at the view */
	uint64_t locked_us;     /* create: the namespace lock held (view, then commit) */
};

struct mfs_db;
struct mfs_ns;
/*
 * Makes revision name of directory dir (as a local op: peers get it with
 * the next pull).  Durable on return.  -EEXIST if a live revision has that
 * name, -EINVAL for a bad name, -ENOTDIR, -EFBIG past MFS_REV_MAX_ENTRIES
 * entries or MFS_OP_MAX_BYTES of record, -EROFS for a directory inside a
 * revision.  info (may be NULL) gets what was made.
 */
int mfs_ns_rev_create(struct mfs_ns *ns, uint64_t dir, const char *name,
		      struct mfs_rev_info *info);
/* Deletes revision name (a tombstone op).  -ENOENT if there is no live one. */
int mfs_ns_rev_delete(struct mfs_ns *ns, const char *name);
/* Calls fn for each live revision in name order; non-zero stops (and is returned). */
typedef int (*mfs_rev_fn)(void *arg, const struct mfs_rev_info *ri);
int mfs_ns_rev_each(struct mfs_ns *ns, mfs_rev_fn fn, void *arg);

/*
 * Every file with bytes of every live revision in db (read now), with its
 * path ("/.snapshots/NAME/a/b").  in is a record built for the call: its
 * ino is the live file's inode number when the revision was taken (its
 * space is the writer's, as placement wants), mode, size, repl and manifest
 * are the revision's.  A record that does not check goes to bad (if
 * given) with its name: bad returns 0 to pass over it, or non-zero to end
 * the walk with that.  0, the first non-zero return of fn or bad, or an
 * error.
 */
typedef int (*mfs_rev_file_fn)(void *arg, const char *path, const struct mfs_inode *in);
int mfs_rev_each_file(struct mfs_db *db, mfs_rev_file_fn fn, int (*bad)(void *arg,
		      const char *name), void *arg);
/* The same over one record's value (an 'R' op entry, already checked); name for the paths. */
int mfs_rev_files_of(const uint8_t *p, size_t n, const char *name, mfs_rev_file_fn fn,
		     void *arg);

#endif
