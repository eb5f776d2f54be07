/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inode records: one per file, directory, symlink, FIFO, socket or device,
 * keyed by inode number in the inodes CF.  A record carries everything
 * replication will need (the replication factor, a version counter) and
 * every (parent, name) that points to it: the first in parent/name, the
 * other hard links' in links[] (namespace.h, "Hard links"), so that a new
 * version can move all of a file's names to its new inode in one batch.
 *
 * Inode numbers are node-prefixed, (node_id << 48) | counter, so nodes can
 * allocate them without talking to each other; 1 is the root everywhere.
 */
#ifndef MFS_INODE_H
#define MFS_INODE_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "store/base/bytes.h"
#include "store/base/hash.h"

#define MFS_ROOT_INO 1
#define MFS_NAME_MAX 255
#define MFS_XATTR_NAME_MAX 255
#define MFS_XATTR_VALUE_MAX 65536
#define MFS_XATTR_TOTAL_MAX (256 * 1024)
/* Written: 2 (rdev, extra names).  Read: 1 and 2. */
#define MFS_INODE_VERSION 2
/* Names one inode may have: a publish rewrites one dirent per name in one op. */
#define MFS_LINK_MAX 1000
#define MFS_DEFAULT_REPL 1

enum mfs_inode_flags {
	/* Created but never committed: removed by recovery at the next start. */
	MFS_I_PENDING = 1 << 0,
	/* Never renumber: stored on disk. */
};

struct mfs_xattr {
	char *name;
	uint8_t *value;
	uint32_t len;
};

/* One more name of a hard-linked inode. */
struct mfs_name {
	uint64_t parent;
	char *name;            /* owned */
};

struct mfs_inode {
	uint64_t ino;
	uint64_t parent;
	char *name;            /* owned; NULL for the root */
	uint32_t mode;         /* S_IFMT bits + permissions */
	uint32_t uid, gid;
	uint32_t nlink;
	uint32_t flags;        /* enum mfs_inode_flags */
	uint8_t repl;          /* replication factor (issue 3 uses it) */
	uint64_t size;
	uint64_t version;      /* counts published versions of this path */
	struct timespec atime, mtime, ctime;
	int has_manifest;      /* 0 for empty files, dirs, symlinks */
	struct mfs_hash manifest;
	char *symlink;         /* owned; symlinks only */
	uint32_t nxattr;
	struct mfs_xattr *xattr; /* owned */
	uint64_t rdev;         /* devices only: the kernel's dev_t */
	/*
	 * The file id, shown as st_ino: the inode number the file was created
	 * with, kept by every later version (a published rewrite gets a new
	 * inode number, but SQLite, rsync and tar expect a file to keep its
	 * st_ino).  0 in a record being built means "ino".
	 */
	uint64_t fid;
	uint32_t nlinks;       /* names besides (parent, name); nlink = 1 + nlinks for non-dirs */
	struct mfs_name *links; /* owned */
};

/* Whether time a is later than time b. */
static inline int mfs_ts_after(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec != b->tv_sec ? a->tv_sec > b->tv_sec : a->tv_nsec > b->tv_nsec;
}

/* Frees what the record owns and zeroes it.  Safe on a zeroed record. */
void mfs_inode_release(struct mfs_inode *in);
/* Deep copy into dst (which is overwritten, not released).  0 or -ENOMEM. */
int mfs_inode_copy(struct mfs_inode *dst, const struct mfs_inode *src);

void mfs_inode_encode(const struct mfs_inode *in, struct mfs_wr *w);
/* Validates lengths and types; MFS_EFORMAT on malformed bytes. */
int mfs_inode_decode(uint64_t ino, const void *p, size_t n, struct mfs_inode *out);
/*
 * As mfs_inode_decode, with the extended attributes checked but not kept
 * (none in out): for a caller that replaces them all, which then need not
 * copy thousands of attributes only to free them.
 */
int mfs_inode_decode_no_xattrs(uint64_t ino, const void *p, size_t n, struct mfs_inode *out);

/* Borrowed pointer to the xattr called name, or NULL. */
const struct mfs_xattr *mfs_inode_xattr_get(const struct mfs_inode *in, const char *name);
/* Sets or replaces; -ENOSPC past MFS_XATTR_TOTAL_MAX, -ERANGE for big values. */
int mfs_inode_xattr_set(struct mfs_inode *in, const char *name, const void *v, size_t len);
/* Replaces dst's xattrs by copies of src's, in one pass.  0 or -ENOMEM (dst unchanged). */
int mfs_inode_xattrs_copy(struct mfs_inode *dst, const struct mfs_inode *src);
/* 0 or -ENODATA. */
int mfs_inode_xattr_remove(struct mfs_inode *in, const char *name);

/* Is (parent, name) one of in's names? */
int mfs_inode_has_name(const struct mfs_inode *in, uint64_t parent, const char *name);
/*
 * Adds a name, listed or not (the caller checks: a record lists each name
 * once).  0, -EMLINK past MFS_LINK_MAX names, or -ENOMEM.
 */
int mfs_inode_name_add(struct mfs_inode *in, uint64_t parent, const char *name);
/*
 * Removes a name; when it is the first one, another takes its place.  0,
 * -ENOENT if in has no such name, -EMLINK if it is the only one.
 */
int mfs_inode_name_remove(struct mfs_inode *in, uint64_t parent, const char *name);
/*
 * Renames one of in's names in place; if in lists the new name already,
 * the old one is removed instead.  0, -ENOENT or -ENOMEM.
 */
int mfs_inode_name_move(struct mfs_inode *in, uint64_t parent, const char *name,
			uint64_t newparent, const char *newname);

void mfs_ino_key(uint64_t ino, uint8_t key[8]);

#endif
