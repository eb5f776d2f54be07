/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Copies of chunks on the nodes of a cluster: the vocabulary fsck (store/
 * fsck.c), info and the peer CHECK message (replica/check.c) share.  Each
 * node answers for its own copies; whoever asked adds them up.
 */
#ifndef MFS_COPIES_H
#define MFS_COPIES_H

#include <stddef.h>
#include <stdint.h>

#include "store/base/hash.h"

struct mfs_db;

/* A chunk to look for, with what the asker's namespace says of it. */
struct mfs_copy_query {
	struct mfs_hash h;
	uint32_t raw_len;
	uint16_t origin;       /* inode space of a node that wrote a version using it (0: unknown);
				* the peer announcing it is asked first (ino >> 48) */
	uint8_t repl;          /* the largest factor of the files using it */
};

/* A cluster: this node and up to MFS_MAX_NODES - 1 peers (the mount option peers=). */
#define MFS_MAX_NODES 256

/* What one node holds of a chunk.  Sent on the wire (HAVE): never renumber. */
enum mfs_copy_state {
	MFS_COPY_ABSENT = 0,
	MFS_COPY_STORED = 1,   /* in the node's store, and it verified */
	MFS_COPY_CORRUPT = 2,  /* in the store, and it failed verification */
	MFS_COPY_CACHED = 3,   /* only in the node's disk cache (evictable) */
	/* Stored and verified, but the node does not own it at the asked factor (only
	 * with MFS_COPY_OWNED): its gc may drop it, so it does not count as kept. */
	MFS_COPY_LOOSE = 4,
	MFS_COPY_UNKNOWN = 255 /* the node did not answer (never on the wire) */
};

enum mfs_copy_flags {
	MFS_COPY_DEEP = 1 << 0,   /* decode and re-hash (SHA-256), not only the checksum */
	MFS_COPY_REPAIR = 1 << 1, /* and queue a fetch of what the node owns and lacks */
	MFS_COPY_QUICK = 1 << 2,  /* presence in the index only: no record is read (info) */
	MFS_COPY_OWNED = 1 << 3,  /* a stored copy the node does not own is LOOSE (gc trim) */
};

/*
 * The state of chunk h in this node's store: reads the record and checks
 * its XXH64; with MFS_COPY_DEEP also decodes it and compares the SHA-256
 * with h; with MFS_COPY_QUICK only looks it up in the index.  MFS_COPY_STORED, _CORRUPT or _ABSENT; a negative errno when it
 * could not tell (the store failed).  raw_len 0: any length.
 */
int mfs_copy_state_local(struct mfs_db *db, const struct mfs_hash *h, uint32_t raw_len,
			 unsigned flags);

#endif
