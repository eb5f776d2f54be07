/* SPDX-License-Identifier: Apache-2.0 */
/* Namespace op encoding and decoding (see oplog.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "oplog.h"
#include "store/base/errors.h"
#include "store/base/hash.h"

/* version, lamport, entry count */
#define OP_HEADER_LEN (1 + 8 + 4)

void mfs_op_begin(struct mfs_op_builder *b)
{
	static const uint8_t zero[OP_HEADER_LEN];

	memset(b, 0, sizeof(*b));
	mfs_wr_put(&b->w, zero, sizeof(zero));
}

void mfs_op_add(struct mfs_op_builder *b, uint8_t kind, int deleted, const void *key,
		size_t klen, const void *val, size_t vlen)
{
	mfs_wr_u8(&b->w, kind);
	mfs_wr_u8(&b->w, deleted ? 1 : 0);
	mfs_wr_u16(&b->w, (uint16_t)klen);
	mfs_wr_put(&b->w, key, klen);
	mfs_wr_u32(&b->w, (uint32_t)vlen);
	if (vlen)
		mfs_wr_put(&b->w, val, vlen);
	b->n++;
}

int mfs_op_finish(struct mfs_op_builder *b, uint64_t lamport)
{
	if (b->w.oom)
		return -ENOMEM;
	b->w.buf[0] = MFS_OP_VERSION;
	put_le64(b->w.buf + 1, lamport);
	put_le32(b->w.buf + 9, b->n);
	return 0;
}

void mfs_op_release(struct mfs_op_builder *b)
{
	mfs_wr_release(&b->w);
	b->n = 0;
}

int mfs_op_entry_shape_ok(uint8_t kind, int deleted, uint16_t klen, uint32_t vlen)
{
	switch (kind) {
	case MFS_OP_INODE:
		return klen == 8 && (deleted ? vlen == 0 : vlen > 0);
	case MFS_OP_DIRENT:
		return klen > 8 && klen <= MFS_OP_KEY_MAX && (deleted ? vlen == 0 : vlen == 12);
	case MFS_OP_TOUCH:
		return klen == 8 && !deleted && vlen == 12;
	case MFS_OP_MANIFEST:
		return klen == MFS_HASH_LEN && !deleted && vlen > 0;
	case MFS_OP_NODE:
		return klen == 8 && !deleted && vlen > 0 && vlen <= 512;
	case MFS_OP_ALLOW:
		return klen == 32 && !deleted && vlen == 2;
	case MFS_OP_REV:
		return klen >= 1 && klen <= MFS_OP_KEY_MAX - 8 && !deleted && vlen >= 20;
	}
	return 0;
}

int mfs_op_decode(const uint8_t *p, size_t n, struct mfs_op *out)
{
	struct mfs_rd r = { .p = p, .left = n };
	uint8_t version;

	memset(out, 0, sizeof(*out));
	if (n > MFS_OP_MAX_BYTES)
		return MFS_EFORMAT;
	version = mfs_rd_u8(&r);
	out->lamport = mfs_rd_u64(&r);
	out->n = mfs_rd_u32(&r);
	if (r.bad || version != MFS_OP_VERSION || out->n == 0 || out->n > MFS_OP_MAX_ENTRIES)
		return MFS_EFORMAT;
	if (!(out->e = calloc(out->n, sizeof(*out->e))))
		return -ENOMEM;
	for (uint32_t i = 0; i < out->n; i++) {
		struct mfs_op_entry *e = &out->e[i];

		e->kind = mfs_rd_u8(&r);
		e->deleted = mfs_rd_u8(&r);
		e->klen = mfs_rd_u16(&r);
		e->key = mfs_rd_take(&r, e->klen);
		e->vlen = mfs_rd_u32(&r);
		e->val = mfs_rd_take(&r, e->vlen);
		if (r.bad || e->deleted > 1 || !mfs_op_entry_shape_ok(e->kind, e->deleted, e->klen, e->vlen))
			goto bad;
	}
	if (r.left == 0)
		return 0;
bad:
	mfs_op_free_entries(out);
	return MFS_EFORMAT;
}

void mfs_op_free_entries(struct mfs_op *op)
{
	free(op->e);
	op->e = NULL;
	op->n = 0;
}

void mfs_stamp_encode(const struct mfs_stamp *s, uint8_t out[MFS_STAMP_LEN])
{
	put_le64(out, s->lamport);
	put_le64(out + 8, s->node);
}

int mfs_stamp_decode(const uint8_t *p, size_t n, struct mfs_stamp *s)
{
	if (n != MFS_STAMP_LEN)
		return MFS_EFORMAT;
	s->lamport = get_le64(p);
	s->node = get_le64(p + 8);
	return 0;
}

int mfs_stamp_cmp(const struct mfs_stamp *a, const struct mfs_stamp *b)
{
	if (a->lamport != b->lamport)
		return a->lamport < b->lamport ? -1 : 1;
	if (a->node != b->node)
		return a->node < b->node ? -1 : 1;
	return 0;
}

void mfs_oplog_key(mfs_node_t origin, uint64_t seq, uint8_t key[MFS_OPLOG_KEY_LEN])
{
	put_be64(key, origin);
	put_be64(key + 8, seq);
}
