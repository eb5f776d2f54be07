/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The peer wire messages (replica/wire.h): every encoder's output decodes
 * back to what was encoded, and the strict decoders refuse every truncation,
 * a wrong magic, version, type or sender, counts that promise more than the
 * bytes hold, and op lengths of 0 or past the end.
 */
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include "replica/wire.h"
#include "store/base/errors.h"
#include "store/ns/oplog.h"
#include "tap.h"

static void test_header(void)
{
	struct mfs_wire_header h = { .type = MFS_MSG_OPS, .flags = 0xa5, .node = 0xfedcba987654beefull,
				     .space = 0x1a2b, .req = 0x0102030405060708ull }, g;
	uint8_t b[MFS_WIRE_HEADER_LEN], c[MFS_WIRE_HEADER_LEN + 1];
	int bad = 0;

	mfs_wire_header_encode(&h, b);
	ok(!memcmp(b, "MFW\x02", 4), "header starts with magic and version 2");
	is_int(MFS_WIRE_HEADER_LEN, 24, "a header is 24 bytes");
	is_int(mfs_wire_header_decode(b, sizeof(b), &g), 0, "header decodes");
	ok(g.type == h.type && g.flags == h.flags && g.node == h.node && g.req == h.req &&
	   g.space == h.space, "header round trip (64-bit node id, inode space)");
	for (uint8_t t = 1; t <= MFS_MSG_TYPE_MAX; t++) {
		h.type = t;
		mfs_wire_header_encode(&h, b);
		bad += mfs_wire_header_decode(b, sizeof(b), &g) != 0 || g.type != t;
	}
	is_int(bad, 0, "every message type decodes");
	for (size_t n = 0; n < sizeof(b); n++)
		bad += mfs_wire_header_decode(b, n, &g) != MFS_EFORMAT;
	is_int(bad, 0, "every truncation of a header is refused");
	memcpy(c, b, sizeof(b));
	c[sizeof(b)] = 0;
	is_int(mfs_wire_header_decode(c, sizeof(c), &g), MFS_EFORMAT, "a header with a trailing byte");
	for (int i = 0; i < 3; i++) {
		memcpy(c, b, sizeof(b));
		c[i] ^= 0x20;
		bad += mfs_wire_header_decode(c, sizeof(b), &g) != MFS_EFORMAT;
	}
	is_int(bad, 0, "a bad magic is refused");
	memcpy(c, b, sizeof(b));
	c[3] = MFS_WIRE_VERSION + 1;
	is_int(mfs_wire_header_decode(c, sizeof(b), &g), -EPROTO, "version 3 is refused as another version");
	is_int(g.version, 3, "... which it names");
	c[3] = 0;
	is_int(mfs_wire_header_decode(c, sizeof(b), &g), -EPROTO, "version 0 is refused");
	{
		/* A version 1 header (the build before 64-bit ids): named, with its 16-bit id. */
		static const uint8_t v1[16] = { 'M', 'F', 'W', 1, MFS_MSG_PULL, 0, 0x2b, 0x1a,
						1, 0, 0, 0, 0, 0, 0, 0 };

		is_int(mfs_wire_header_decode(v1, sizeof(v1), &g), -EPROTO, "a version 1 header is refused");
		ok(g.version == 1 && g.node == 0x1a2b, "... naming version 1 and the sender's old id");
	}
	memcpy(c, b, sizeof(b));
	c[4] = 0;
	is_int(mfs_wire_header_decode(c, sizeof(b), &g), MFS_EFORMAT, "type 0 is refused");
	c[4] = MFS_MSG_TYPE_MAX + 1;
	is_int(mfs_wire_header_decode(c, sizeof(b), &g), MFS_EFORMAT, "type past the last is refused");
	c[4] = 0xff;
	is_int(mfs_wire_header_decode(c, sizeof(b), &g), MFS_EFORMAT, "type 255 is refused");
	memcpy(c, b, sizeof(b));
	memset(c + 8, 0, 8);
	is_int(mfs_wire_header_decode(c, sizeof(b), &g), MFS_EFORMAT, "sender node 0 is refused");
	c[8] = 1;
	is_int(mfs_wire_header_decode(c, sizeof(b), &g), 0, "sender node 1 is fine");
	ok(g.node == 1, "node id is little endian");
	c[6] = c[7] = 0;
	is_int(mfs_wire_header_decode(c, sizeof(b), &g), MFS_EFORMAT, "inode space 0 is refused");
}

static void test_pull(void)
{
	static struct mfs_wire_vv vv, got;
	struct mfs_wr w = { 0 };
	int bad = 0;

	vv.n = 3;
	vv.origin[0] = 1, vv.seq[0] = 0;
	vv.origin[1] = 0x1234, vv.seq[1] = 99;
	vv.origin[2] = 0xfedcba9876543210ull, vv.seq[2] = UINT64_MAX;
	mfs_wire_pull_encode(&vv, &w);
	is_int(w.len, 2 + 3 * 16, "PULL body size");
	is_int(mfs_wire_pull_decode(w.buf, w.len, &got), 0, "PULL decodes");
	ok(got.n == 3 && !memcmp(got.origin, vv.origin, 3 * sizeof(vv.origin[0])) &&
	   !memcmp(got.seq, vv.seq, 3 * sizeof(vv.seq[0])), "PULL round trip");
	for (size_t n = 0; n < w.len; n++)
		bad += mfs_wire_pull_decode(w.buf, n, &got) != MFS_EFORMAT;
	is_int(bad, 0, "every truncation of a PULL is refused");
	mfs_wr_u8(&w, 0);
	is_int(mfs_wire_pull_decode(w.buf, w.len, &got), MFS_EFORMAT, "a PULL with a trailing byte");
	mfs_wr_release(&w);

	vv.n = 0;
	mfs_wire_pull_encode(&vv, &w);
	is_int(mfs_wire_pull_decode(w.buf, w.len, &got), 0, "an empty version vector");
	is_int(got.n, 0, "... has no entries");
	mfs_wr_release(&w);

	vv.n = MFS_WIRE_MAX_VV;
	for (int i = 0; i < MFS_WIRE_MAX_VV; i++)
		vv.origin[i] = (mfs_node_t)(i + 1) << 40 | 7, vv.seq[i] = (uint64_t)i * 7919;
	mfs_wire_pull_encode(&vv, &w);
	is_int(mfs_wire_pull_decode(w.buf, w.len, &got), 0, "the largest version vector");
	ok(got.n == MFS_WIRE_MAX_VV && got.origin[MFS_WIRE_MAX_VV - 1] == ((mfs_node_t)MFS_WIRE_MAX_VV << 40 | 7) &&
	   got.seq[MFS_WIRE_MAX_VV - 1] == (uint64_t)(MFS_WIRE_MAX_VV - 1) * 7919, "... round trips");
	mfs_wr_release(&w);
	/* One entry past the limit, by hand: the struct has no room for it. */
	mfs_wr_u16(&w, MFS_WIRE_MAX_VV + 1);
	for (int i = 0; i <= MFS_WIRE_MAX_VV; i++) {
		mfs_wr_u64(&w, (uint64_t)(i + 1));
		mfs_wr_u64(&w, 0);
	}
	is_int(mfs_wire_pull_decode(w.buf, w.len, &got), MFS_EFORMAT, "more than MFS_WIRE_MAX_VV entries");
	mfs_wr_release(&w);
	mfs_wr_u16(&w, 5);
	mfs_wr_u64(&w, 1);
	mfs_wr_u64(&w, 1);
	is_int(mfs_wire_pull_decode(w.buf, w.len, &got), MFS_EFORMAT, "a count larger than the bytes");
	mfs_wr_release(&w);
}

/* Decodes an OPS body whole; returns the number of ops or the error. */
static int ops_walk(const uint8_t *p, size_t n, int *more)
{
	struct mfs_wire_ops it;
	mfs_node_t origin;
	uint64_t seq;
	const uint8_t *op;
	size_t len;
	int rc, count = 0;

	if ((rc = mfs_wire_ops_decode(p, n, &it)))
		return rc;
	if (more)
		*more = it.more;
	while ((rc = mfs_wire_ops_next(&it, &origin, &seq, &op, &len)) == 1) {
		if (op < p || op + len > p + n)
			return -1000; /* out of the body: must never happen */
		count++;
	}
	return rc ? rc : count;
}

static void test_ops(void)
{
	static const uint8_t op1[] = { 1, 2, 3 }, op2[] = { 0xff };
	uint8_t big[300];
	struct mfs_wr w = { 0 };
	struct mfs_wire_ops it;
	mfs_node_t origin;
	uint64_t seq;
	const uint8_t *op;
	size_t len;
	int bad = 0, more = -1;

	memset(big, 0x5a, sizeof(big));
	mfs_wire_ops_begin(&w);
	mfs_wire_ops_add(&w, 0x0102, 1, op1, sizeof(op1));
	mfs_wire_ops_add(&w, 0xfffe00000000abcdull, UINT64_MAX, op2, sizeof(op2));
	mfs_wire_ops_add(&w, 7, 42, big, sizeof(big));
	mfs_wire_ops_finish(&w, 3, 1);
	is_int(mfs_wire_ops_decode(w.buf, w.len, &it), 0, "OPS decodes");
	ok(it.count == 3 && it.more == 1, "OPS count and more flag");
	is_int(mfs_wire_ops_next(&it, &origin, &seq, &op, &len), 1, "first op");
	ok(origin == 0x0102 && seq == 1 && len == sizeof(op1) && !memcmp(op, op1, len), "first op round trips");
	is_int(mfs_wire_ops_next(&it, &origin, &seq, &op, &len), 1, "second op");
	ok(origin == 0xfffe00000000abcdull && seq == UINT64_MAX && len == 1 && op[0] == 0xff,
	   "second op round trips (a 64-bit origin)");
	is_int(mfs_wire_ops_next(&it, &origin, &seq, &op, &len), 1, "third op");
	ok(origin == 7 && seq == 42 && len == sizeof(big) && !memcmp(op, big, len), "third op round trips");
	is_int(mfs_wire_ops_next(&it, &origin, &seq, &op, &len), 0, "then the end");
	is_int(mfs_wire_ops_next(&it, &origin, &seq, &op, &len), 0, "and the end again");
	is_int(ops_walk(w.buf, w.len, &more), 3, "a walk finds three ops");
	for (size_t n = 0; n < w.len; n++)
		bad += ops_walk(w.buf, n, NULL) >= 0;
	is_int(bad, 0, "every truncation of an OPS body is refused by decode or next");
	mfs_wr_u8(&w, 0);
	is_int(ops_walk(w.buf, w.len, NULL), MFS_EFORMAT, "a trailing byte after the last op");
	w.len--;
	w.buf[0] = 2;
	is_int(mfs_wire_ops_decode(w.buf, w.len, &it), MFS_EFORMAT,
	       "a more flag of 2 (SNAPSHOT) with ops: it comes alone");
	w.buf[0] = 3;
	is_int(mfs_wire_ops_decode(w.buf, w.len, &it), MFS_EFORMAT, "a more flag of 3");
	w.buf[0] = 0;
	is_int(ops_walk(w.buf, w.len, &more), 3, "more = 0 decodes");
	is_int(more, 0, "... as 0");
	put_le32(w.buf + 1, 2);
	is_int(ops_walk(w.buf, w.len, NULL), MFS_EFORMAT, "a count smaller than the ops present");
	put_le32(w.buf + 1, 4);
	is_int(ops_walk(w.buf, w.len, NULL), MFS_EFORMAT, "a count one larger than the ops present");
	put_le32(w.buf + 1, UINT32_MAX);
	is_int(mfs_wire_ops_decode(w.buf, w.len, &it), MFS_EFORMAT, "a count of 2^32-1");
	put_le32(w.buf + 1, (uint32_t)(w.len - 5) / 14 + 1);
	is_int(mfs_wire_ops_decode(w.buf, w.len, &it), MFS_EFORMAT,
	       "a count more than the bytes could hold");
	mfs_wr_release(&w);

	/* Empty reply. */
	mfs_wire_ops_begin(&w);
	mfs_wire_ops_finish(&w, 0, 0);
	is_int(w.len, 5, "an empty OPS body is 5 bytes");
	is_int(ops_walk(w.buf, w.len, &more), 0, "an empty OPS decodes to no ops");
	mfs_wr_release(&w);
	mfs_wire_ops_begin(&w);
	mfs_wire_ops_finish(&w, 0, MFS_OPS_SNAPSHOT);
	is_int(ops_walk(w.buf, w.len, &more), 0, "an OPS that asks for a snapshot decodes...");
	is_int(more, MFS_OPS_SNAPSHOT, "... with more = 2");
	mfs_wr_release(&w);

	/* Op length 0, and lengths past the end or huge. */
	mfs_wire_ops_begin(&w);
	mfs_wire_ops_add(&w, 1, 1, op1, 0);
	mfs_wr_put(&w, big, 20); /* so the count check in decode passes */
	mfs_wire_ops_finish(&w, 1, 0);
	is_int(ops_walk(w.buf, w.len, NULL), MFS_EFORMAT, "an op of length 0 is refused");
	put_le32(w.buf + 5 + 16, 21);
	is_int(ops_walk(w.buf, w.len, NULL), MFS_EFORMAT, "an op one byte longer than the body");
	put_le32(w.buf + 5 + 16, 20);
	is_int(ops_walk(w.buf, w.len, NULL), 1, "the same op with its true length");
	put_le32(w.buf + 5 + 16, UINT32_MAX);
	is_int(ops_walk(w.buf, w.len, NULL), MFS_EFORMAT, "an op of length 2^32-1");
	put_le32(w.buf + 5 + 16, MFS_OP_MAX_BYTES + 1);
	is_int(ops_walk(w.buf, w.len, NULL), MFS_EFORMAT, "an op longer than MFS_OP_MAX_BYTES");
	mfs_wr_release(&w);
}

static void test_get_hash(void)
{
	struct mfs_hash h, g;
	uint8_t b[MFS_WIRE_GET_LEN + 1], body[MFS_HASH_LEN + 2], reason = 9, flags = 9;
	uint32_t raw = 0;
	int bad = 0;

	for (int i = 0; i < MFS_HASH_LEN; i++)
		h.b[i] = (uint8_t)(i * 37 + 1);
	mfs_wire_get_encode(&h, 4u << 20, MFS_GET_PROXY, b);
	is_int(mfs_wire_get_decode(b, MFS_WIRE_GET_LEN, &g, &raw, &flags), 0, "GET decodes");
	ok(!memcmp(g.b, h.b, MFS_HASH_LEN) && raw == 4u << 20 && flags == MFS_GET_PROXY, "GET round trip");
	mfs_wire_get_encode(&h, 1, 0, b);
	is_int(mfs_wire_get_decode(b, MFS_WIRE_GET_LEN, &g, &raw, &flags), 0, "GET without flags");
	ok(raw == 1 && flags == 0, "... round trips");
	for (size_t n = 0; n < MFS_WIRE_GET_LEN; n++)
		bad += mfs_wire_get_decode(b, n, &g, &raw, &flags) != MFS_EFORMAT;
	is_int(bad, 0, "every truncation of a GET is refused");
	b[MFS_WIRE_GET_LEN] = 0;
	is_int(mfs_wire_get_decode(b, MFS_WIRE_GET_LEN + 1, &g, &raw, &flags), MFS_EFORMAT,
	       "a GET with a trailing byte");
	mfs_wire_get_encode(&h, 0, 0, b);
	is_int(mfs_wire_get_decode(b, MFS_WIRE_GET_LEN, &g, &raw, &flags), MFS_EFORMAT, "raw length 0");
	mfs_wire_get_encode(&h, MFS_WIRE_MAX_FRAME + 1, 0, b);
	is_int(mfs_wire_get_decode(b, MFS_WIRE_GET_LEN, &g, &raw, &flags), MFS_EFORMAT,
	       "raw length past the largest frame");
	mfs_wire_get_encode(&h, 100, 0x02, b);
	is_int(mfs_wire_get_decode(b, MFS_WIRE_GET_LEN, &g, &raw, &flags), MFS_EFORMAT, "an unknown flag");

	memcpy(body, h.b, MFS_HASH_LEN);
	body[MFS_HASH_LEN] = MFS_MISS_BUSY;
	is_int(mfs_wire_hash_decode(body, MFS_HASH_LEN, &g, NULL), 0, "CHUNK body decodes");
	ok(!memcmp(g.b, h.b, MFS_HASH_LEN), "CHUNK body round trip");
	is_int(mfs_wire_hash_decode(body, MFS_HASH_LEN + 1, &g, NULL), MFS_EFORMAT,
	       "CHUNK body with a trailing byte");
	is_int(mfs_wire_hash_decode(body, MFS_HASH_LEN + 1, &g, &reason), 0, "MISS body decodes");
	ok(!memcmp(g.b, h.b, MFS_HASH_LEN) && reason == MFS_MISS_BUSY, "MISS body round trip");
	is_int(mfs_wire_hash_decode(body, MFS_HASH_LEN, &g, &reason), MFS_EFORMAT, "MISS body without reason");
	is_int(mfs_wire_hash_decode(body, MFS_HASH_LEN + 2, &g, &reason), MFS_EFORMAT,
	       "MISS body with a trailing byte");
	body[MFS_HASH_LEN] = MFS_MISS_BUSY + 1;
	is_int(mfs_wire_hash_decode(body, MFS_HASH_LEN + 1, &g, &reason), MFS_EFORMAT, "an unknown MISS reason");
	body[MFS_HASH_LEN] = MFS_MISS_ABSENT;
	for (size_t n = 0; n < MFS_HASH_LEN; n++)
		bad += mfs_wire_hash_decode(body, n, &g, NULL) != MFS_EFORMAT;
	for (size_t n = 0; n <= MFS_HASH_LEN; n++)
		bad += mfs_wire_hash_decode(body, n, &g, &reason) != MFS_EFORMAT;
	is_int(bad, 0, "every truncation of CHUNK and MISS bodies is refused");
}

static void test_check_have(void)
{
	static struct mfs_copy_query q[MFS_WIRE_MAX_CHECK + 1], g[MFS_WIRE_MAX_CHECK];
	uint8_t st[MFS_WIRE_MAX_CHECK], flags = 0;
	const uint8_t *got;
	struct mfs_wr w = { 0 };
	uint16_t n = 0;
	int bad = 0;

	for (int i = 0; i <= MFS_WIRE_MAX_CHECK; i++) {
		for (int k = 0; k < MFS_HASH_LEN; k++)
			q[i].h.b[k] = (uint8_t)(i * 31 + k);
		q[i].raw_len = 1 + (uint32_t)i * 4099;
		q[i].origin = (uint16_t)(0x100 + i);
		q[i].repl = (uint8_t)(1 + i % 16);
	}
	mfs_wire_check_encode(MFS_COPY_DEEP | MFS_COPY_REPAIR, q, 3, &w);
	is_int((int)w.len, 3 + 3 * MFS_WIRE_CHECK_ITEM_LEN, "CHECK of 3 chunks: 3 + 3 x 39 bytes");
	is_int(mfs_wire_check_decode(w.buf, w.len, &flags, g, &n), 0, "CHECK decodes");
	ok(n == 3 && flags == (MFS_COPY_DEEP | MFS_COPY_REPAIR) &&
	   !memcmp(g[2].h.b, q[2].h.b, MFS_HASH_LEN) && g[2].raw_len == q[2].raw_len &&
	   g[2].origin == q[2].origin && g[2].repl == q[2].repl, "CHECK round trip");
	for (size_t k = 0; k < w.len; k++)
		bad += mfs_wire_check_decode(w.buf, k, &flags, g, &n) != MFS_EFORMAT;
	is_int(bad, 0, "every truncation of a CHECK is refused");
	w.buf[0] = MFS_COPY_OWNED;
	is_int(mfs_wire_check_decode(w.buf, w.len, &flags, g, &n), 0, "CHECK with OWNED decodes");
	ok(flags == MFS_COPY_OWNED, "... and keeps the flag");
	w.buf[0] = 0x10;
	is_int(mfs_wire_check_decode(w.buf, w.len, &flags, g, &n), MFS_EFORMAT, "an unknown CHECK flag");
	w.buf[0] = 0;
	put_le32(w.buf + 3 + MFS_HASH_LEN, 0);
	is_int(mfs_wire_check_decode(w.buf, w.len, &flags, g, &n), MFS_EFORMAT, "raw length 0");
	put_le32(w.buf + 3 + MFS_HASH_LEN, MFS_WIRE_MAX_FRAME + 1);
	is_int(mfs_wire_check_decode(w.buf, w.len, &flags, g, &n), MFS_EFORMAT,
	       "raw length past the largest frame");
	put_le32(w.buf + 3 + MFS_HASH_LEN, 7);
	w.buf[3 + MFS_HASH_LEN + 6] = 0;
	is_int(mfs_wire_check_decode(w.buf, w.len, &flags, g, &n), MFS_EFORMAT, "factor 0");
	mfs_wr_release(&w);

	mfs_wire_check_encode(0, q, 0, &w);
	is_int(mfs_wire_check_decode(w.buf, w.len, &flags, g, &n), MFS_EFORMAT, "a CHECK of no chunks");
	mfs_wr_release(&w);
	mfs_wire_check_encode(0, q, MFS_WIRE_MAX_CHECK, &w);
	is_int(mfs_wire_check_decode(w.buf, w.len, &flags, g, &n), 0, "the largest CHECK");
	ok(w.len <= MFS_WIRE_MAX_REQUEST, "... fits in a request frame");
	mfs_wr_release(&w);
	mfs_wire_check_encode(0, q, MFS_WIRE_MAX_CHECK + 1, &w);
	is_int(mfs_wire_check_decode(w.buf, w.len, &flags, g, &n), MFS_EFORMAT,
	       "more than MFS_WIRE_MAX_CHECK chunks");
	mfs_wr_release(&w);

	for (int i = 0; i < 4; i++)
		st[i] = (uint8_t)i;
	mfs_wire_have_encode(st, 4, &w);
	is_int(mfs_wire_have_decode(w.buf, w.len, 4, &got), 0, "HAVE decodes");
	ok(!memcmp(got, st, 4), "HAVE round trip");
	is_int(mfs_wire_have_decode(w.buf, w.len, 3, &got), MFS_EFORMAT,
	       "a HAVE for another number of chunks than asked");
	for (size_t k = 0; k < w.len; k++)
		bad += mfs_wire_have_decode(w.buf, k, 4, &got) != MFS_EFORMAT;
	is_int(bad, 0, "every truncation of a HAVE is refused");
	w.buf[2 + 3] = MFS_COPY_LOOSE;
	is_int(mfs_wire_have_decode(w.buf, w.len, 4, &got), 0, "state 4 (stored, not owned) decodes");
	w.buf[2 + 3] = MFS_COPY_LOOSE + 1;
	is_int(mfs_wire_have_decode(w.buf, w.len, 4, &got), MFS_EFORMAT, "the state after 4");
	w.buf[2 + 3] = MFS_COPY_UNKNOWN;
	is_int(mfs_wire_have_decode(w.buf, w.len, 4, &got), MFS_EFORMAT, "an unknown copy state");
	mfs_wr_release(&w);
}

static void test_snap(void)
{
	uint8_t req[MFS_WIRE_SNAP_REQ_LEN], data[100];
	struct mfs_wire_snapdata d = { .status = MFS_SNAP_OK, .id = 9, .total = 1000, .offset = 900,
				       .data = data, .len = sizeof(data) }, got;
	struct mfs_wr w = { 0 };
	uint64_t id, off;
	int bad = 0;

	mfs_wire_snapreq_encode(9, 900, req);
	ok(mfs_wire_snapreq_decode(req, sizeof(req), &id, &off) == 0 && id == 9 && off == 900,
	   "SNAP round trips");
	is_int(mfs_wire_snapreq_decode(req, sizeof(req) - 1, &id, &off), MFS_EFORMAT, "a short SNAP");
	mfs_wire_snapreq_encode(0, 0, req);
	is_int(mfs_wire_snapreq_decode(req, sizeof(req), &id, &off), 0, "SNAP for a new image");
	mfs_wire_snapreq_encode(0, 5, req);
	is_int(mfs_wire_snapreq_decode(req, sizeof(req), &id, &off), MFS_EFORMAT,
	       "a new image asked from an offset other than 0");

	memset(data, 0x33, sizeof(data));
	memset(d.sha.b, 0x44, MFS_HASH_LEN);
	mfs_wire_snapdata_encode(&d, &w);
	ok(mfs_wire_snapdata_decode(w.buf, w.len, &got) == 0 && got.id == 9 && got.total == 1000 &&
	   got.offset == 900 && got.len == 100 && !memcmp(got.data, data, 100) &&
	   !memcmp(got.sha.b, d.sha.b, MFS_HASH_LEN), "SNAPDATA round trips");
	/* The bytes are the rest of the frame: fewer of them are a shorter chunk (the
	 * requester asks for the next offset; the SHA-256 covers the whole image). */
	for (size_t n = 0; n < w.len; n++)
		bad += (mfs_wire_snapdata_decode(w.buf, n, &got) == 0) !=
		       (n > MFS_WIRE_SNAPDATA_HEAD && got.len == n - MFS_WIRE_SNAPDATA_HEAD);
	is_int(bad, 0, "a SNAPDATA cut in its head is refused, cut in its bytes carries fewer");
	mfs_wr_u8(&w, 0);
	is_int(mfs_wire_snapdata_decode(w.buf, w.len, &got), MFS_EFORMAT, "bytes past the image's end");
	mfs_wr_release(&w);
	d.offset = 1000;
	d.len = 0;
	mfs_wire_snapdata_encode(&d, &w);
	is_int(mfs_wire_snapdata_decode(w.buf, w.len, &got), MFS_EFORMAT, "an OK chunk with no bytes");
	mfs_wr_release(&w);
	d.status = MFS_SNAP_GONE;
	mfs_wire_snapdata_encode(&d, &w);
	ok(mfs_wire_snapdata_decode(w.buf, w.len, &got) == 0 && got.status == MFS_SNAP_GONE,
	   "GONE carries no bytes");
	mfs_wr_u8(&w, 0);
	is_int(mfs_wire_snapdata_decode(w.buf, w.len, &got), MFS_EFORMAT, "GONE with bytes");
	w.len--;
	w.buf[0] = 3;
	is_int(mfs_wire_snapdata_decode(w.buf, w.len, &got), MFS_EFORMAT, "an unknown status");
	mfs_wr_release(&w);
	d = (struct mfs_wire_snapdata){ .status = MFS_SNAP_OK, .id = 0, .total = 10, .data = data,
					.len = 10 };
	mfs_wire_snapdata_encode(&d, &w);
	is_int(mfs_wire_snapdata_decode(w.buf, w.len, &got), MFS_EFORMAT, "image id 0");
	mfs_wr_release(&w);
	d.id = 1;
	d.total = MFS_WIRE_SNAP_MAX + 1;
	mfs_wire_snapdata_encode(&d, &w);
	is_int(mfs_wire_snapdata_decode(w.buf, w.len, &got), MFS_EFORMAT, "an image over 16 GiB");
	mfs_wr_release(&w);
}

int main(void)
{
	test_header();
	test_pull();
	test_ops();
	test_get_hash();
	test_check_have();
	test_snap();
	return done_testing();
}
