/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one walk over every inode record of a store (the inodes column
 * family), for the whole-store passes: statistics, gc's references,
 * fsck, crash recovery of pending files, replica repair, tree totals.
 *
 * Policy for a record that does not decode (a malformed key or value):
 * the walk calls bad, if given, with the record's inode number (0 when
 * the key itself is malformed); bad returns 0 to pass over the record or
 * a negative errno to end the walk with it.  Without bad, such records
 * are passed over: fsck is the pass that reports them.  Passes whose
 * result would be wrong without every record (gc: an unread record's
 * chunks would look unreferenced) must give a bad that stops.
 */
#ifndef MFS_INODE_WALK_H
#define MFS_INODE_WALK_H

#include <stdint.h>

struct mfs_db;
struct mfs_iter;
struct mfs_inode;

struct mfs_inode_walk {
	/* Each decoded record, in inode number order: 0 to go on, else the walk ends with it. */
	int (*fn)(void *arg, const struct mfs_inode *in);
	int (*bad)(void *arg, uint64_t ino);   /* may be NULL: pass over */
	void *arg;
	const volatile int *stop;              /* may be NULL: when it becomes nonzero, the walk ends (0) */
	/*
	 * Also each file of every live revision (store/ns/rev.h), after the
	 * inode records and read then: a record built for the call, its ino the
	 * live file's when the revision was taken (mfs_rev_each_file).  A
	 * revision record that does not check goes to bad with ino 0.  Set by
	 * the passes that must see every referenced chunk: gc, repair, trim.
	 */
	int revisions;
};

/*
 * Walks every inode record with it (an iterator over the inodes column
 * family, made by the caller when it must be taken at a chosen moment,
 * freed here), or over a new iterator when it is NULL.  Returns 0, the
 * first nonzero return of fn or bad, or the iterator's error.
 */
int mfs_inode_walk(struct mfs_db *db, struct mfs_iter *it, const struct mfs_inode_walk *w);

#endif
