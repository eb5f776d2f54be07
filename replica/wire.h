/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The peer wire protocol, version 2 (doc/format.md, "Peer protocol").
 *
 * A message is ZeroMQ multipart: a 16-byte header frame, a body frame, and
 * for CHUNK a payload frame (the chunk record as stored, store/chunk/codec.h).
 * Requests go DEALER -> ROUTER, the reply comes back with the request's id.
 * Everything received is untrusted: the decoders check frame counts,
 * lengths and types and return MFS_EFORMAT on anything else.
 *
 * Header: "MFW" u8 version | u8 type | u8 flags | u16 sender's inode space |
 *         u64 sender node id | u64 request id            (little endian)
 * Version 1 (16-bit node ids, a 16-byte header) is refused by name:
 * mfs_wire_header_decode says which version a peer speaks.
 */
#ifndef MFS_WIRE_H
#define MFS_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "store/base/bytes.h"
#include "store/base/hash.h"
#include "store/base/node.h"
#include "store/maint/copies.h"

#define MFS_WIRE_VERSION 2
#define MFS_WIRE_HEADER_LEN 24
/* Largest chunk record a GET may ask for or a CHUNK carry: a 4 MiB chunk and room. */
#define MFS_WIRE_MAX_FRAME ((4u << 20) + 65536)
/* ZMQ_MAXMSGSIZE of the server: requests are small (a PULL of 1024 origins is 10 KiB). */
#define MFS_WIRE_MAX_REQUEST 65536
/* ... and of clients: a reply may carry one op of the largest size (a huge manifest). */
#define MFS_WIRE_MAX_REPLY ((int64_t)MFS_WIRE_MAX_FRAME + (160ll << 20))
/* A pull reply carries ops up to about this many bytes (at least one op). */
#define MFS_WIRE_OPS_BUDGET (1u << 20)
#define MFS_WIRE_MAX_VV 1024

enum mfs_msg_type {
	MFS_MSG_PULL = 1,   /* body: version vector -> OPS */
	MFS_MSG_OPS = 2,    /* body: ops the puller lacks */
	MFS_MSG_GET = 3,    /* body: hash, raw length, flags -> CHUNK or MISS */
	MFS_MSG_CHUNK = 4,  /* body: hash; payload: chunk record */
	MFS_MSG_MISS = 5,   /* body: hash, reason */
	MFS_MSG_CHECK = 6,  /* body: flags, chunks -> HAVE (fsck, info) */
	MFS_MSG_HAVE = 7,   /* body: one copy state per chunk asked */
	MFS_MSG_SNAP = 8,   /* body: image id, offset -> SNAPDATA (snapshot bootstrap) */
	MFS_MSG_SNAPDATA = 9, /* body: status, image id, total, offset, SHA-256, bytes */
	MFS_MSG_HELLO = 10, /* body: the sender's endpoint -> HELLO with the receiver's */
	MFS_MSG_TYPE_MAX = 10,
};

/* PULL header flags */
enum { MFS_PULL_NOSNAP = 1 << 0 };  /* send ops if you hold them, even if far behind */
/* OPS `more` values */
enum { MFS_OPS_DONE = 0, MFS_OPS_MORE = 1, MFS_OPS_SNAPSHOT = 2 };

/* GET flags */
enum { MFS_GET_PROXY = 1 << 0 };   /* fetch it from peers if you lack it */
/* MISS reasons */
enum { MFS_MISS_ABSENT = 0, MFS_MISS_CORRUPT = 1, MFS_MISS_BUSY = 2 };

struct mfs_wire_header {
	uint8_t type, flags;
	uint16_t space;         /* the sender's inode space (never 0) */
	mfs_node_t node;        /* the sender (never 0) */
	uint64_t req;
	uint8_t version;        /* decode: the version the sender speaks */
};

void mfs_wire_header_encode(const struct mfs_wire_header *h, uint8_t out[MFS_WIRE_HEADER_LEN]);
/*
 * 0, MFS_EFORMAT, or -EPROTO for a modelfs header of another version
 * (h->version says which; for version 1, h->node is the sender's 16-bit id).
 */
int mfs_wire_header_decode(const uint8_t *p, size_t n, struct mfs_wire_header *h);

/* PULL: u16 count, count x (u64 origin, u64 seq). */
struct mfs_wire_vv {
	uint16_t n;
	mfs_node_t origin[MFS_WIRE_MAX_VV];
	uint64_t seq[MFS_WIRE_MAX_VV];
};
void mfs_wire_pull_encode(const struct mfs_wire_vv *vv, struct mfs_wr *w);
int mfs_wire_pull_decode(const uint8_t *p, size_t n, struct mfs_wire_vv *vv);

/* OPS: u8 more, u32 count, count x (u64 origin, u64 seq, u32 len, op bytes). */
void mfs_wire_ops_begin(struct mfs_wr *w);
void mfs_wire_ops_add(struct mfs_wr *w, mfs_node_t origin, uint64_t seq, const uint8_t *op,
		      size_t len);
void mfs_wire_ops_finish(struct mfs_wr *w, uint32_t count, int more);
/*
 * An OPS body filled op by op up to a byte budget (the answer to a PULL):
 * mfs_wire_ops_acc_add is an mfs_op_fn (store/ns/namespace.h) that takes
 * ops while they fit, always the first, and then stops the walk with more
 * set.
 */
struct mfs_wire_ops_acc {
	struct mfs_wr w;
	uint32_t count;
	size_t budget;
	int more;
};
int mfs_wire_ops_acc_add(void *arg, mfs_node_t origin, uint64_t seq, const uint8_t *op,
			 size_t len);
struct mfs_wire_ops {
	const uint8_t *p;
	size_t left;
	uint32_t count, next;
	int more;
};
int mfs_wire_ops_decode(const uint8_t *p, size_t n, struct mfs_wire_ops *it);
/* Next op: 1 with fields set, 0 at the end, MFS_EFORMAT if malformed. */
int mfs_wire_ops_next(struct mfs_wire_ops *it, mfs_node_t *origin, uint64_t *seq,
		      const uint8_t **op, size_t *len);

/* GET: hash, u32 raw length, u8 flags. */
#define MFS_WIRE_GET_LEN (MFS_HASH_LEN + 5)
void mfs_wire_get_encode(const struct mfs_hash *h, uint32_t raw_len, uint8_t flags,
			 uint8_t out[MFS_WIRE_GET_LEN]);
int mfs_wire_get_decode(const uint8_t *p, size_t n, struct mfs_hash *h, uint32_t *raw_len,
			uint8_t *flags);

/*
 * CHECK: u8 flags (enum mfs_copy_flags), u16 n (1..MFS_WIRE_MAX_CHECK),
 *        n x (hash, u32 raw length (>= 1), u16 origin (an inode space),
 *        u8 repl (>= 1)).
 * HAVE:  u16 n, n x u8 state (enum mfs_copy_state, < MFS_COPY_UNKNOWN), in
 *        the order asked.
 */
#define MFS_WIRE_MAX_CHECK 1024
#define MFS_WIRE_CHECK_ITEM_LEN (MFS_HASH_LEN + 7)
void mfs_wire_check_encode(uint8_t flags, const struct mfs_copy_query *q, uint16_t n,
			   struct mfs_wr *w);
/* q has room for MFS_WIRE_MAX_CHECK entries. */
int mfs_wire_check_decode(const uint8_t *p, size_t n, uint8_t *flags, struct mfs_copy_query *q,
			  uint16_t *count);
void mfs_wire_have_encode(const uint8_t *states, uint16_t n, struct mfs_wr *w);
/* The states of a HAVE that answers a CHECK of `expect` chunks (borrowed from p). */
int mfs_wire_have_decode(const uint8_t *p, size_t n, uint16_t expect, const uint8_t **states);

/*
 * SNAP: u64 image id (0: a new image), u64 offset.
 * SNAPDATA: u8 status, u64 image id, u64 total length, u64 offset,
 *           SHA-256 of the whole image (32), then the image's bytes from
 *           offset (1 .. MFS_WIRE_SNAP_CHUNK of them; none unless status OK).
 */
#define MFS_WIRE_SNAP_REQ_LEN 16
#define MFS_WIRE_SNAPDATA_HEAD (1 + 8 + 8 + 8 + MFS_HASH_LEN)
#define MFS_WIRE_SNAP_CHUNK (1u << 20)
/* Largest image a node accepts (about 50 million records). */
#define MFS_WIRE_SNAP_MAX (16ull << 30)
enum { MFS_SNAP_OK = 0, MFS_SNAP_GONE = 1, MFS_SNAP_FAILED = 2 };
struct mfs_wire_snapdata {
	uint8_t status;
	uint64_t id, total, offset;
	struct mfs_hash sha;
	const uint8_t *data;    /* borrowed from the body */
	size_t len;
};
void mfs_wire_snapreq_encode(uint64_t id, uint64_t offset, uint8_t out[MFS_WIRE_SNAP_REQ_LEN]);
int mfs_wire_snapreq_decode(const uint8_t *p, size_t n, uint64_t *id, uint64_t *offset);
void mfs_wire_snapdata_encode(const struct mfs_wire_snapdata *d, struct mfs_wr *w);
int mfs_wire_snapdata_decode(const uint8_t *p, size_t n, struct mfs_wire_snapdata *d);

/*
 * HELLO: u8 length, the endpoint the sender's peers reach it at (printable
 * ASCII, no spaces; length 0: it has none).  A node that receives one from a
 * node it does not know starts pulling from it (membership, members.c).
 */
#define MFS_WIRE_ENDPOINT_MAX 255
void mfs_wire_hello_encode(const char *endpoint, struct mfs_wr *w);
/* out gets the endpoint, NUL-terminated ("" for none). */
int mfs_wire_hello_decode(const uint8_t *p, size_t n, char out[MFS_WIRE_ENDPOINT_MAX + 1]);

/* CHUNK body: hash.  MISS body: hash, u8 reason. */
int mfs_wire_hash_decode(const uint8_t *p, size_t n, struct mfs_hash *h, uint8_t *reason);

#endif
