/* SPDX-License-Identifier: Apache-2.0 */
/* Peer message encoding and strict decoding (wire.h). */
#include <errno.h>
#include <string.h>

#include "store/base/errors.h"
#include "store/ns/oplog.h"
#include "wire.h"

void mfs_wire_header_encode(const struct mfs_wire_header *h, uint8_t out[MFS_WIRE_HEADER_LEN])
{
	memcpy(out, "MFW", 3);
	out[3] = MFS_WIRE_VERSION;
	out[4] = h->type;
	out[5] = h->flags;
	put_le16(out + 6, h->space);
	put_le64(out + 8, h->node);
	put_le64(out + 16, h->req);
}

int mfs_wire_header_decode(const uint8_t *p, size_t n, struct mfs_wire_header *h)
{
	memset(h, 0, sizeof(*h));
	if (n < 4 || memcmp(p, "MFW", 3))
		return MFS_EFORMAT;
	h->version = p[3];
	if (h->version != MFS_WIRE_VERSION) {
		/* Version 1: "MFW" 1 type flags u16 node u64 req (16 bytes). */
		if (h->version == 1 && n == 16)
			h->node = get_le16(p + 6);
		return -EPROTO;
	}
	if (n != MFS_WIRE_HEADER_LEN)
		return MFS_EFORMAT;
	h->type = p[4];
	h->flags = p[5];
	h->space = get_le16(p + 6);
	h->node = get_le64(p + 8);
	h->req = get_le64(p + 16);
	if (h->type == 0 || h->type > MFS_MSG_TYPE_MAX || h->node == 0 || h->space == 0)
		return MFS_EFORMAT;
	return 0;
}

void mfs_wire_pull_encode(const struct mfs_wire_vv *vv, struct mfs_wr *w)
{
	mfs_wr_u16(w, vv->n);
	for (uint16_t i = 0; i < vv->n; i++) {
		mfs_wr_u64(w, vv->origin[i]);
		mfs_wr_u64(w, vv->seq[i]);
	}
}

int mfs_wire_pull_decode(const uint8_t *p, size_t n, struct mfs_wire_vv *vv)
{
	struct mfs_rd r = { .p = p, .left = n };

	vv->n = mfs_rd_u16(&r);
	if (r.bad || vv->n > MFS_WIRE_MAX_VV || r.left != (size_t)vv->n * 16)
		return MFS_EFORMAT;
	for (uint16_t i = 0; i < vv->n; i++) {
		vv->origin[i] = mfs_rd_u64(&r);
		vv->seq[i] = mfs_rd_u64(&r);
	}
	return 0;
}

void mfs_wire_ops_begin(struct mfs_wr *w)
{
	static const uint8_t zero[5];

	mfs_wr_put(w, zero, sizeof(zero));
}

void mfs_wire_ops_add(struct mfs_wr *w, mfs_node_t origin, uint64_t seq, const uint8_t *op,
		      size_t len)
{
	mfs_wr_u64(w, origin);
	mfs_wr_u64(w, seq);
	mfs_wr_u32(w, (uint32_t)len);
	mfs_wr_put(w, op, len);
}

void mfs_wire_ops_finish(struct mfs_wr *w, uint32_t count, int more)
{
	if (w->oom)
		return;
	w->buf[0] = (uint8_t)more;
	put_le32(w->buf + 1, count);
}

int mfs_wire_ops_acc_add(void *arg, mfs_node_t origin, uint64_t seq, const uint8_t *op,
			 size_t len)
{
	struct mfs_wire_ops_acc *a = arg;

	if (a->count && a->w.len + len > a->budget) {
		a->more = 1;
		return 1;
	}
	mfs_wire_ops_add(&a->w, origin, seq, op, len);
	a->count++;
	return 0;
}

int mfs_wire_ops_decode(const uint8_t *p, size_t n, struct mfs_wire_ops *it)
{
	struct mfs_rd r = { .p = p, .left = n };
	uint8_t more = mfs_rd_u8(&r);

	memset(it, 0, sizeof(*it));
	it->count = mfs_rd_u32(&r);
	if (r.bad || more > MFS_OPS_SNAPSHOT || it->count > r.left / 20 ||
	    (more == MFS_OPS_SNAPSHOT && it->count))
		return MFS_EFORMAT;
	it->more = more;
	it->p = r.p;
	it->left = r.left;
	return 0;
}

int mfs_wire_ops_next(struct mfs_wire_ops *it, mfs_node_t *origin, uint64_t *seq,
		      const uint8_t **op, size_t *len)
{
	struct mfs_rd r = { .p = it->p, .left = it->left };

	if (it->next == it->count)
		return it->left == 0 ? 0 : MFS_EFORMAT;
	*origin = mfs_rd_u64(&r);
	*seq = mfs_rd_u64(&r);
	*len = mfs_rd_u32(&r);
	if (r.bad || *len == 0 || *len > MFS_OP_MAX_BYTES)
		return MFS_EFORMAT;
	if (!(*op = mfs_rd_take(&r, *len)))
		return MFS_EFORMAT;
	it->p = r.p;
	it->left = r.left;
	it->next++;
	return 1;
}

void mfs_wire_get_encode(const struct mfs_hash *h, uint32_t raw_len, uint8_t flags,
			 uint8_t out[MFS_WIRE_GET_LEN])
{
	memcpy(out, h->b, MFS_HASH_LEN);
	put_le32(out + MFS_HASH_LEN, raw_len);
	out[MFS_HASH_LEN + 4] = flags;
}

int mfs_wire_get_decode(const uint8_t *p, size_t n, struct mfs_hash *h, uint32_t *raw_len,
			uint8_t *flags)
{
	if (n != MFS_WIRE_GET_LEN)
		return MFS_EFORMAT;
	memcpy(h->b, p, MFS_HASH_LEN);
	*raw_len = get_le32(p + MFS_HASH_LEN);
	*flags = p[MFS_HASH_LEN + 4];
	if (*raw_len == 0 || *raw_len > MFS_WIRE_MAX_FRAME || (*flags & ~MFS_GET_PROXY))
		return MFS_EFORMAT;
	return 0;
}

int mfs_wire_hash_decode(const uint8_t *p, size_t n, struct mfs_hash *h, uint8_t *reason)
{
	if (n != MFS_HASH_LEN + (reason ? 1 : 0))
		return MFS_EFORMAT;
	memcpy(h->b, p, MFS_HASH_LEN);
	if (reason && (*reason = p[MFS_HASH_LEN]) > MFS_MISS_BUSY)
		return MFS_EFORMAT;
	return 0;
}

void mfs_wire_check_encode(uint8_t flags, const struct mfs_copy_query *q, uint16_t n,
			   struct mfs_wr *w)
{
	mfs_wr_u8(w, flags);
	mfs_wr_u16(w, n);
	for (uint16_t i = 0; i < n; i++) {
		mfs_wr_put(w, q[i].h.b, MFS_HASH_LEN);
		mfs_wr_u32(w, q[i].raw_len);
		mfs_wr_u16(w, q[i].origin);
		mfs_wr_u8(w, q[i].repl);
	}
}

int mfs_wire_check_decode(const uint8_t *p, size_t n, uint8_t *flags, struct mfs_copy_query *q,
			  uint16_t *count)
{
	struct mfs_rd r = { .p = p, .left = n };

	*flags = mfs_rd_u8(&r);
	*count = mfs_rd_u16(&r);
	if (r.bad ||
	    (*flags & ~(MFS_COPY_DEEP | MFS_COPY_REPAIR | MFS_COPY_QUICK | MFS_COPY_OWNED)) ||
	    *count == 0 ||
	    *count > MFS_WIRE_MAX_CHECK || r.left != (size_t)*count * MFS_WIRE_CHECK_ITEM_LEN)
		return MFS_EFORMAT;
	for (uint16_t i = 0; i < *count; i++) {
		memcpy(q[i].h.b, mfs_rd_take(&r, MFS_HASH_LEN), MFS_HASH_LEN);
		q[i].raw_len = mfs_rd_u32(&r);
		q[i].origin = mfs_rd_u16(&r);
		q[i].repl = mfs_rd_u8(&r);
		if (q[i].raw_len == 0 || q[i].raw_len > MFS_WIRE_MAX_FRAME || q[i].repl == 0)
			return MFS_EFORMAT;
	}
	return 0;
}

void mfs_wire_have_encode(const uint8_t *states, uint16_t n, struct mfs_wr *w)
{
	mfs_wr_u16(w, n);
	mfs_wr_put(w, states, n);
}

int mfs_wire_have_decode(const uint8_t *p, size_t n, uint16_t expect, const uint8_t **states)
{
	if (n < 2 || get_le16(p) != expect || n != 2 + (size_t)expect)
		return MFS_EFORMAT;
	for (size_t i = 0; i < expect; i++)
		if (p[2 + i] > MFS_COPY_LOOSE)
			return MFS_EFORMAT;
	*states = p + 2;
	return 0;
}

void mfs_wire_snapreq_encode(uint64_t id, uint64_t offset, uint8_t out[MFS_WIRE_SNAP_REQ_LEN])
{
	put_le64(out, id);
	put_le64(out + 8, offset);
}

int mfs_wire_snapreq_decode(const uint8_t *p, size_t n, uint64_t *id, uint64_t *offset)
{
	if (n != MFS_WIRE_SNAP_REQ_LEN)
		return MFS_EFORMAT;
	*id = get_le64(p);
	*offset = get_le64(p + 8);
	/* A new image is read from its start. */
	if ((*id == 0 && *offset) || *offset >= MFS_WIRE_SNAP_MAX)
		return MFS_EFORMAT;
	return 0;
}

void mfs_wire_snapdata_encode(const struct mfs_wire_snapdata *d, struct mfs_wr *w)
{
	mfs_wr_u8(w, d->status);
	mfs_wr_u64(w, d->id);
	mfs_wr_u64(w, d->total);
	mfs_wr_u64(w, d->offset);
	mfs_wr_put(w, d->sha.b, MFS_HASH_LEN);
	if (d->len)
		mfs_wr_put(w, d->data, d->len);
}

int mfs_wire_snapdata_decode(const uint8_t *p, size_t n, struct mfs_wire_snapdata *d)
{
	struct mfs_rd r = { .p = p, .left = n };
	const uint8_t *sha;

	memset(d, 0, sizeof(*d));
	d->status = mfs_rd_u8(&r);
	d->id = mfs_rd_u64(&r);
	d->total = mfs_rd_u64(&r);
	d->offset = mfs_rd_u64(&r);
	sha = mfs_rd_take(&r, MFS_HASH_LEN);
	if (r.bad || d->status > MFS_SNAP_FAILED)
		return MFS_EFORMAT;
	memcpy(d->sha.b, sha, MFS_HASH_LEN);
	d->data = r.p;
	d->len = r.left;
	if (d->status != MFS_SNAP_OK)
		return d->len ? MFS_EFORMAT : 0;
	if (d->id == 0 || d->total == 0 || d->total > MFS_WIRE_SNAP_MAX || d->len == 0 ||
	    d->len > MFS_WIRE_SNAP_CHUNK || d->offset >= d->total || d->len > d->total - d->offset)
		return MFS_EFORMAT;
	return 0;
}

void mfs_wire_hello_encode(const char *endpoint, struct mfs_wr *w)
{
	size_t n = endpoint ? strlen(endpoint) : 0;

	if (n > MFS_WIRE_ENDPOINT_MAX)
		n = 0;
	mfs_wr_u8(w, (uint8_t)n);
	if (n)
		mfs_wr_put(w, endpoint, n);
}

int mfs_wire_hello_decode(const uint8_t *p, size_t n, char out[MFS_WIRE_ENDPOINT_MAX + 1])
{
	if (n < 1 || n != 1 + (size_t)p[0])
		return MFS_EFORMAT;
	for (size_t i = 1; i < n; i++)
		if (p[i] <= ' ' || p[i] > '~')
			return MFS_EFORMAT;
	memcpy(out, p + 1, n - 1);
	out[n - 1] = 0;
	return 0;
}
