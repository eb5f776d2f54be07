/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Namespace ops: the unit of namespace replication.
 *
 * An op is what one namespace operation wrote, as a list of entries, each the
 * new state of one key (or its deletion):
 *   'I' ino (u64 BE)            -> inode record, or deleted
 *   'D' parent (u64 BE) + name  -> dirent value, or deleted
 *   'T' ino (u64 BE)            -> a directory's mtime and ctime, a create's
 *                                  time (u64 sec, u32 nsec); taken if later
 *                                  than the ctime held (ns_dir_times_win)
 *   'M' manifest hash (32 B)    -> manifest bytes (content addressed: idempotent)
 *   'N' node id (u64 BE)        -> member record (store/ns/member.h): last writer wins
 *   'A' CURVE public key (32 B) -> allow-list entry (store/ns/allow.h): last writer wins
 *   'R' revision name (1..255 B) -> revision record (store/ns/rev.h): last writer wins
 * Ops carry a Lamport time; an entry's stamp is (lamport, origin node).  A
 * node applies an 'I' or 'D' entry only if its stamp is newer than the one it
 * holds for that key (tombstones keep their stamp), so every node that has
 * applied the same set of ops holds the same entries, in any order of
 * arrival: last writer wins per entry, ties broken by node id.
 *
 * Encoding (little endian, doc/format.md): u8 version, u64 lamport, u32 n,
 * then n times: u8 kind, u8 deleted, u16 key length, key, u32 value length,
 * value.
 */
#ifndef MFS_OPLOG_H
#define MFS_OPLOG_H

#include <stddef.h>
#include <stdint.h>

#include "store/base/bytes.h"
#include "store/base/node.h"

#define MFS_OP_VERSION 1
/* Bounds for untrusted ops: a manifest of 2^22 chunks is 36 bytes each. */
#define MFS_OP_MAX_ENTRIES 4096
#define MFS_OP_MAX_BYTES (160u << 20)
#define MFS_OP_KEY_MAX (8 + 255)

enum mfs_op_kind {
	MFS_OP_INODE = 'I',
	MFS_OP_DIRENT = 'D',
	MFS_OP_TOUCH = 'T',
	MFS_OP_MANIFEST = 'M',
	MFS_OP_NODE = 'N',
	MFS_OP_ALLOW = 'A',
	MFS_OP_REV = 'R',
};

struct mfs_op_entry {
	uint8_t kind;          /* enum mfs_op_kind */
	uint8_t deleted;
	const uint8_t *key;    /* borrowed from the encoding */
	uint16_t klen;
	const uint8_t *val;
	uint32_t vlen;
};

/* An op under construction: entries appended to an encoding buffer. */
struct mfs_op_builder {
	struct mfs_wr w;
	uint32_t n;
};

void mfs_op_begin(struct mfs_op_builder *b);
void mfs_op_add(struct mfs_op_builder *b, uint8_t kind, int deleted, const void *key,
		size_t klen, const void *val, size_t vlen);
/* Fills in the Lamport time; the encoding is then b->w.buf, b->w.len.  -ENOMEM if it ran out. */
int mfs_op_finish(struct mfs_op_builder *b, uint64_t lamport);
void mfs_op_release(struct mfs_op_builder *b);

/* A decoded op: entries point into the buffer given to mfs_op_decode. */
struct mfs_op {
	uint64_t lamport;
	uint32_t n;
	struct mfs_op_entry *e;  /* owned; free with mfs_op_free_entries */
};

/* Whether a kind allows these key and value lengths (and deletion): 1 or 0. */
int mfs_op_entry_shape_ok(uint8_t kind, int deleted, uint16_t klen, uint32_t vlen);
/* Validates kinds, key lengths per kind, bounds.  MFS_EFORMAT on bad input. */
int mfs_op_decode(const uint8_t *p, size_t n, struct mfs_op *out);
void mfs_op_free_entries(struct mfs_op *op);

/* A Lamport stamp; compare with mfs_stamp_cmp (lamport first, then node). */
struct mfs_stamp {
	uint64_t lamport;
	mfs_node_t node;
};
#define MFS_STAMP_LEN 16
void mfs_stamp_encode(const struct mfs_stamp *s, uint8_t out[MFS_STAMP_LEN]);
int mfs_stamp_decode(const uint8_t *p, size_t n, struct mfs_stamp *s);
int mfs_stamp_cmp(const struct mfs_stamp *a, const struct mfs_stamp *b);

/* oplog CF key: origin (u64 BE) + seq (u64 BE). */
#define MFS_OPLOG_KEY_LEN 16
void mfs_oplog_key(mfs_node_t origin, uint64_t seq, uint8_t key[MFS_OPLOG_KEY_LEN]);

#endif
