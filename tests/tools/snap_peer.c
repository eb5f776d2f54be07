/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test fixture for snapshot bootstrap (tests/fs/t1160-peers-snapshot-bad.sh):
 * a hostile peer, and a client that sends a real node bad SNAP requests.
 *
 *   snap_peer serve ENDPOINT MODE
 *       Binds ENDPOINT and answers every PULL with OPS "bootstrap from a
 *       snapshot" and every SNAP with a damaged snapshot (node id 7777):
 *         badsha     a well-formed image whose SHA-256 in the header is wrong
 *         badrecord  an image whose SHA-256 is right, with a dirent named "a/b"
 *         badmsg     a SNAPDATA body of 5 bytes
 *         changeid   a well-formed image in 64-byte chunks, the second with
 *                    another image id
 *       Runs until killed.
 *   snap_peer client ENDPOINT
 *       Sends a real node a SNAP of 15 bytes and one for a new image from
 *       offset 5 (both malformed: no answer expected), one for an image id it
 *       never made (GONE expected), then fetches a real image whole and checks
 *       its SHA-256 and every record.  Exit status 0 if all went so.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#include "replica/wire.h"
#include "store/base/bytes.h"
#include "store/base/errors.h"
#include "store/base/hash.h"
#include "store/base/log.h"
#include "store/kv/db.h"
#include "store/ns/inode.h"
#include "store/ns/namespace.h"

#define FAKE_NODE 0x7777

/* A small real image: a directory with two entries, one named "victim". */
static void make_image(struct mfs_wr *img)
{
	struct mfs_ns_new nd = { .mode = S_IFDIR | 0755 }, nl = { .mode = S_IFLNK | 0777, .symlink = "t" };
	struct mfs_inode d, x;
	struct mfs_db *db;
	struct mfs_ns *ns;

	if (mfs_db_open_mem(&db) || mfs_ns_open(db, &ns) ||
	    mfs_ns_create(ns, MFS_ROOT_INO, "dir", &nd, &d) ||
	    mfs_ns_create(ns, d.ino, "victim", &nl, &x) || mfs_ns_snap_build(ns, img, NULL)) {
		fprintf(stderr, "snap_peer: cannot make an image\n");
		exit(2);
	}
	mfs_inode_release(&d);
	mfs_inode_release(&x);
	mfs_ns_close(ns);
	mfs_db_close(db);
}

static void send_msg(void *s, zmq_msg_t *id, uint8_t type, uint64_t req, const void *body,
		     size_t blen)
{
	struct mfs_wire_header h = { .type = type, .node = FAKE_NODE, .space = FAKE_NODE, .req = req };
	uint8_t hb[MFS_WIRE_HEADER_LEN];

	mfs_wire_header_encode(&h, hb);
	zmq_msg_send(id, s, ZMQ_SNDMORE);
	zmq_send(s, hb, sizeof(hb), ZMQ_SNDMORE);
	zmq_send(s, body, blen, 0);
}

/* The SNAPDATA this mode sends for a request of the image from offset off. */
static void answer_snap(const char *mode, const struct mfs_wr *img, uint64_t off, struct mfs_wr *w)
{
	struct mfs_wire_snapdata d = { .status = MFS_SNAP_OK, .id = 1234, .total = img->len,
				       .offset = off };
	size_t chunk = strcmp(mode, "changeid") ? MFS_WIRE_SNAP_CHUNK : 64;

	if (!strcmp(mode, "badmsg")) {
		mfs_wr_put(w, "junk!", 5);
		return;
	}
	if (off >= img->len) {
		d.status = MFS_SNAP_GONE;
		mfs_wire_snapdata_encode(&d, w);
		return;
	}
	if (mfs_sha256(img->buf, img->len, &d.sha))
		exit(2);
	if (!strcmp(mode, "badsha"))
		d.sha.b[0] ^= 1;
	if (!strcmp(mode, "changeid") && off)
		d.id = 4321;
	d.data = img->buf + off;
	d.len = img->len - off < chunk ? img->len - off : chunk;
	mfs_wire_snapdata_encode(&d, w);
}

static int serve(const char *endpoint, const char *mode)
{
	void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_ROUTER);
	struct mfs_wr img = { 0 };

	make_image(&img);
	if (!strcmp(mode, "badrecord")) {
		uint8_t *p = memmem(img.buf, img.len, "victim", 6);

		for (; p; p = memmem(p, img.buf + img.len - p, "victim", 6))
			p[3] = '/';
	}
	if (!s || zmq_bind(s, endpoint)) {
		fprintf(stderr, "snap_peer: cannot bind %s: %s\n", endpoint, zmq_strerror(errno));
		return 2;
	}
	for (;;) {
		zmq_msg_t id, hdr, body;
		struct mfs_wire_header h;
		struct mfs_wr w = { 0 };

		zmq_msg_init(&id);
		zmq_msg_init(&hdr);
		zmq_msg_init(&body);
		if (zmq_msg_recv(&id, s, 0) < 0 || zmq_msg_recv(&hdr, s, 0) < 0 ||
		    zmq_msg_recv(&body, s, 0) < 0)
			return 1;
		if (!mfs_wire_header_decode(zmq_msg_data(&hdr), zmq_msg_size(&hdr), &h)) {
			uint64_t sid, off;

			if (h.type == MFS_MSG_PULL) {
				mfs_wire_ops_begin(&w);
				mfs_wire_ops_finish(&w, 0, MFS_OPS_SNAPSHOT);
				send_msg(s, &id, MFS_MSG_OPS, h.req, w.buf, w.len);
			} else if (h.type == MFS_MSG_SNAP &&
				   !mfs_wire_snapreq_decode(zmq_msg_data(&body), zmq_msg_size(&body), &sid, &off)) {
				answer_snap(mode, &img, off, &w);
				send_msg(s, &id, MFS_MSG_SNAPDATA, h.req, w.buf, w.len);
			}
		}
		mfs_wr_release(&w);
		zmq_msg_close(&id);
		zmq_msg_close(&hdr);
		zmq_msg_close(&body);
	}
}

/* One request; 0 with the reply's body in *out, -ETIMEDOUT, or another error. */
static int call(void *s, uint8_t type, const void *body, size_t blen, int timeout_ms, zmq_msg_t *out)
{
	static uint64_t req = 100;
	struct mfs_wire_header h = { .type = type, .node = FAKE_NODE, .space = FAKE_NODE, .req = ++req }, rh;
	uint8_t hb[MFS_WIRE_HEADER_LEN];
	zmq_pollitem_t it = { .socket = s, .events = ZMQ_POLLIN };
	zmq_msg_t hdr;

	mfs_wire_header_encode(&h, hb);
	zmq_send(s, hb, sizeof(hb), ZMQ_SNDMORE);
	zmq_send(s, body, blen, 0);
	if (zmq_poll(&it, 1, timeout_ms) <= 0)
		return -ETIMEDOUT;
	zmq_msg_init(&hdr);
	zmq_msg_init(out);
	if (zmq_msg_recv(&hdr, s, 0) < 0 || zmq_msg_recv(out, s, 0) < 0 ||
	    mfs_wire_header_decode(zmq_msg_data(&hdr), zmq_msg_size(&hdr), &rh) ||
	    rh.req != req || rh.type != MFS_MSG_SNAPDATA) {
		zmq_msg_close(&hdr);
		zmq_msg_close(out);
		return MFS_EFORMAT;
	}
	zmq_msg_close(&hdr);
	return 0;
}

/*
 * No answer in 500 ms.  A late one would still be seen: call() takes only
 * the reply to its own request, so the next call would fail on it; and
 * t1190 checks that the node counted the request as malformed.
 */
static int expect_silence(void *s, const void *body, size_t blen, const char *what)
{
	zmq_msg_t m;
	int rc = call(s, MFS_MSG_SNAP, body, blen, 500, &m);

	if (rc == -ETIMEDOUT) {
		printf("ok: %s: no answer\n", what);
		return 0;
	}
	if (!rc)
		zmq_msg_close(&m);
	printf("FAIL: %s: answered (%d)\n", what, rc);
	return 1;
}

static int fetch_real(void *s)
{
	struct mfs_wire_snapdata d, first = { 0 };
	struct mfs_wr img = { 0 };
	struct mfs_snap_info info;
	struct mfs_hash h;
	uint8_t req[MFS_WIRE_SNAP_REQ_LEN];
	zmq_msg_t m;

	do {
		mfs_wire_snapreq_encode(first.id, img.len, req);
		if (call(s, MFS_MSG_SNAP, req, sizeof(req), 30000, &m))
			return printf("FAIL: no SNAPDATA at offset %zu\n", img.len), 1;
		if (mfs_wire_snapdata_decode(zmq_msg_data(&m), zmq_msg_size(&m), &d) ||
		    d.status != MFS_SNAP_OK || d.offset != img.len)
			return printf("FAIL: a bad SNAPDATA at offset %zu\n", img.len), 1;
		if (!first.id)
			first = d;
		mfs_wr_put(&img, d.data, d.len);
		zmq_msg_close(&m);
	} while (img.len < first.total);
	if (mfs_sha256(img.buf, img.len, &h))
		return 1;
	if (memcmp(h.b, first.sha.b, MFS_HASH_LEN) || mfs_ns_snap_check(img.buf, img.len, &info))
		return printf("FAIL: the image fails its SHA-256 or its check\n"), 1;
	printf("ok: a real image of %zu bytes, %llu records, SHA-256 and records check\n", img.len,
	       (unsigned long long)info.records);
	mfs_wr_release(&img);
	return 0;
}

static int client(const char *endpoint)
{
	void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_DEALER);
	uint8_t req[MFS_WIRE_SNAP_REQ_LEN];
	struct mfs_wire_snapdata d;
	int zero = 0, fail = 0;
	zmq_msg_t m;

	zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
	if (zmq_connect(s, endpoint))
		return 2;
	fail += expect_silence(s, "0123456789abcde", 15, "a SNAP of 15 bytes");
	mfs_wire_snapreq_encode(0, 0, req);
	put_le64(req + 8, 5);
	fail += expect_silence(s, req, sizeof(req), "a SNAP for a new image from offset 5");
	mfs_wire_snapreq_encode(0x5eed, 0, req);
	if (call(s, MFS_MSG_SNAP, req, sizeof(req), 5000, &m) ||
	    mfs_wire_snapdata_decode(zmq_msg_data(&m), zmq_msg_size(&m), &d) ||
	    d.status != MFS_SNAP_GONE) {
		printf("FAIL: a SNAP for an image never made: no GONE\n");
		fail++;
	} else {
		printf("ok: a SNAP for an image never made: GONE\n");
		zmq_msg_close(&m);
	}
	fail += fetch_real(s);
	zmq_close(s);
	zmq_ctx_term(ctx);
	return fail ? 1 : 0;
}

int main(int argc, char **argv)
{
	mfs_log_open(NULL, MFS_LOG_ERROR, MFS_LOG_ERROR);
	if (argc == 4 && !strcmp(argv[1], "serve"))
		return serve(argv[2], argv[3]);
	if (argc == 3 && !strcmp(argv[1], "client"))
		return client(argv[2]);
	fprintf(stderr, "usage: snap_peer serve ENDPOINT badsha|badrecord|badmsg|changeid\n"
			"       snap_peer client ENDPOINT\n");
	return 2;
}
