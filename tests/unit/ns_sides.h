/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Namespace unit tests with several in-memory stores, one per node ("side"),
 * that exchange ops as peers do: the store, making a name, and applying an
 * op (for mfs_ns_ops_since).  Included by the test files that use them.
 */
#ifndef MFS_TEST_NS_SIDES_H
#define MFS_TEST_NS_SIDES_H

#include <stdint.h>

#include "store/kv/db.h"
#include "store/ns/namespace.h"

struct side {
	struct mfs_db *db;
	struct mfs_ns *ns;
};

/* Makes parent/name with mode on ns: its inode number, or 0. */
static inline uint64_t mk(struct mfs_ns *ns, uint64_t parent, const char *name, uint32_t mode)
{
	struct mfs_ns_new nw = { .mode = mode };
	struct mfs_inode in;
	uint64_t ino;

	if (mfs_ns_create(ns, parent, name, &nw, &in))
		return 0;
	ino = in.ino;
	mfs_inode_release(&in);
	return ino;
}

/* ino's link count on ns, or 0 if it has no record. */
static inline uint32_t nlink_of(struct mfs_ns *ns, uint64_t ino)
{
	struct mfs_inode in;
	uint32_t n;

	if (mfs_ns_get(ns, ino, &in))
		return 0;
	n = in.nlink;
	mfs_inode_release(&in);
	return n;
}

/* mfs_ns_ops_since's callback: applies an op on the store arg. */
static inline int apply_cb(void *arg, mfs_node_t origin, uint64_t seq, const uint8_t *op,
			   size_t len)
{
	return mfs_ns_apply(arg, origin, seq, op, len, NULL, NULL) ? -1 : 0;
}

#endif
