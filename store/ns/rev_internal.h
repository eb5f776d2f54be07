/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to the revision files (rev.h): rev_rec.c (the record's encoding,
 * checked and read entry by entry), rev_tree.c (a record's index and the
 * reads through it: get, lookup, readdir) and rev.c (create, delete, list).
 * namespace.c calls the reads for inode numbers of revisions.
 *
 * Record (doc/format.md, "Revision record"), little endian:
 *   u8 version (1), u8 state (enum mfs_rev_state), u64 created s, u32 ns,
 *   u32 count (0 for a tombstone), u16 path length, path,
 *   count entries, breadth first (entry 0 is the top directory):
 *   u32 parent entry (0 for entry 0), u8 name length (0 for entry 0), name,
 *   u32 mode, u32 uid, u32 gid, u64 size, u64 mtime s, u32 ns, u64 ctime s,
 *   u32 ns, u64 ino (the live inode's number then), u8 repl, u8 flags
 *   (bit 0: a manifest id follows, 32 bytes), then a symlink's u16 length
 *   and target, or a device's u64 rdev, then u16 xattr count, each u8 name
 *   length, name, u32 value length, value.
 */
#ifndef MFS_REV_INTERNAL_H
#define MFS_REV_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "namespace.h"
#include "oplog.h"
#include "rev.h"
#include "store/base/bytes.h"

#define REV_HDR_LEN 20          /* up to the path */
#define REV_F_MANIFEST 1
#define REV_SYMLINK_MAX 4095
/* meta CF key: "rv" + name. */
#define REV_KEY_MAX (2 + MFS_NAME_MAX)
size_t rev_key(const uint8_t *name, size_t nlen, uint8_t out[REV_KEY_MAX]);

/*
 * Every `rv` record in name order, well-formed keys only, to fn(arg, name,
 * value, value length).  Stops at fn's first nonzero return and returns it
 * (so a positive one means "stopped"), else the iterator's error or 0.
 */
typedef int (*rev_scan_fn)(void *arg, const char *name, const uint8_t *v, size_t vl);
int rev_scan(struct mfs_db *db, rev_scan_fn fn, void *arg);

struct rev_hdr {
	uint8_t state;
	struct timespec created;
	uint32_t count;
	const uint8_t *path;
	uint16_t plen;
};

/* One entry as stored: pointers into the record. */
struct rev_ent {
	uint32_t parent;
	const uint8_t *name;
	uint8_t nlen;
	uint32_t mode, uid, gid;
	uint64_t size;
	struct timespec mtime, ctime;
	uint64_t ino;
	uint8_t repl, flags;
	const uint8_t *manifest;   /* MFS_HASH_LEN bytes, or NULL */
	const uint8_t *symlink;
	uint16_t slen;
	uint64_t rdev;
	uint16_t nxattr;
	const uint8_t *xattrs;     /* nxattr (name, value) pairs as stored */
	size_t xlen;
};

/* The header, r left at entry 0: 0 or MFS_EFORMAT. */
int rev_rd_hdr(struct mfs_rd *r, struct rev_hdr *h);
/* The next entry's fields (shape only; rev_rec.c checks the rest): 0 or MFS_EFORMAT. */
int rev_rd_entry(struct mfs_rd *r, struct rev_ent *e);
/* Appends one entry (the inode record in, named name, under entry parent) to w. */
void rev_wr_entry(struct mfs_wr *w, uint32_t parent, const char *name, size_t nlen,
		  const struct mfs_inode *in);
/* e's stored fields into out (its ino, parent, name: the caller's).  0 or -ENOMEM. */
int rev_ent_attrs(const struct rev_ent *e, struct mfs_inode *out);

/*
 * A record parsed and indexed (rev_tree.c), shared by reference: held
 * while a read uses it, kept in the cache while it is the record at its
 * name.  Immutable once made, but for refs.
 */
struct rev_node {
	uint32_t off;              /* of the entry, in buf */
	uint32_t first, nchild;    /* children: entries first .. first + nchild - 1 */
	uint32_t nsubdir;
};
struct rev_tree {
	int refs;                  /* protected by the cache's lock */
	uint16_t slot;
	uint8_t stamp[MFS_STAMP_LEN];
	char name[MFS_NAME_MAX + 1];
	uint8_t *buf;
	size_t len;
	uint32_t n;
	struct rev_node *e;
	struct timespec created;
	struct rev_tree *next;     /* in the cache's list; the cache's lock */
};

/* The revisions loaded by a namespace (struct mfs_ns.revs). */
struct rev_cache {
	pthread_mutex_t lock;
	struct rev_tree *list;     /* lock */
	struct rev_tree **slots;   /* slot -> tree while cached; lock */
	uint32_t next_slot;        /* lock; slots are never given twice */
};
int rev_cache_init(struct rev_cache **out);
void rev_cache_free(struct rev_cache *c);

/* namespace.c's reads for revision inode numbers (mfs_rev_is_ino). */
int rev_get(struct mfs_ns *ns, uint64_t ino, struct mfs_inode *out);
int rev_lookup(struct mfs_ns *ns, uint64_t parent, const char *name, struct mfs_inode *out);
int rev_readdir(struct mfs_ns *ns, uint64_t dir, const char *after, uint64_t skip,
		mfs_dirent_fn fn, void *arg);
/* Whether a live revision has the record at key (prefix "rv"): 1, 0, or an error. */
int rev_is_live(struct mfs_ns *ns, const uint8_t *key, size_t klen);

#endif
