/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test fixture for node ids on the wire (tests/fs/t1300-peers-upgrade-ids.sh):
 * a client that sends a real node PULLs it must refuse and PULLs it must
 * answer.
 *
 *   wire_peer oldwire ENDPOINT
 *       A PULL with a version 1 header (the build before 64-bit ids): no
 *       answer expected; then a version 2 PULL: an OPS answer expected.
 *   wire_peer claim ENDPOINT SECRET_KEY_FILE SERVER_PUBLIC_Z85
 *       Over CURVE with the key pair in SECRET_KEY_FILE (one the node
 *       authorizes): a PULL claiming another node's id gets no answer; one
 *       with the key's own id gets OPS.
 *   wire_peer space ENDPOINT SPACE
 *       A PULL from node 1 (lower than any other id) whose inode space is
 *       SPACE (hex): an OPS answer expected.  A node numbering its inodes
 *       in SPACE must move to another space.
 * Exit status 0 if all went so.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "replica/curve.h"
#include "replica/wire.h"
#include "store/base/bytes.h"
#include "store/base/log.h"

#define OTHER_ID 0x7777777777777777ull

/* Sends header bytes hb and an empty PULL body; 1 if an OPS came back in time, 0 if none. */
static int pull(void *s, const uint8_t *hb, size_t hlen, int timeout_ms)
{
	static const uint8_t empty_vv[2];
	zmq_pollitem_t it = { .socket = s, .events = ZMQ_POLLIN };
	struct mfs_wire_header rh;
	zmq_msg_t hdr, body;
	int ok;

	zmq_send(s, hb, hlen, ZMQ_SNDMORE);
	zmq_send(s, empty_vv, sizeof(empty_vv), 0);
	if (zmq_poll(&it, 1, timeout_ms) <= 0)
		return 0;
	zmq_msg_init(&hdr);
	zmq_msg_init(&body);
	ok = zmq_msg_recv(&hdr, s, 0) >= 0 && zmq_msg_recv(&body, s, 0) >= 0 &&
	     !mfs_wire_header_decode(zmq_msg_data(&hdr), zmq_msg_size(&hdr), &rh) &&
	     rh.type == MFS_MSG_OPS;
	zmq_msg_close(&hdr);
	zmq_msg_close(&body);
	return ok;
}

static int pull_in(void *s, mfs_node_t id, uint16_t space, int timeout_ms)
{
	struct mfs_wire_header h = { .type = MFS_MSG_PULL, .node = id, .space = space, .req = 1 };
	uint8_t hb[MFS_WIRE_HEADER_LEN];

	mfs_wire_header_encode(&h, hb);
	return pull(s, hb, sizeof(hb), timeout_ms);
}

static int pull_as(void *s, mfs_node_t id, int timeout_ms)
{
	return pull_in(s, id, 0x7777, timeout_ms);
}

static int expect(int cond, const char *what)
{
	printf("%s: %s\n", cond ? "ok" : "FAIL", what);
	return cond ? 0 : 1;
}

static int oldwire(void *s)
{
	/* "MFW" 1 | type PULL | flags 0 | u16 node | u64 request id */
	static const uint8_t v1[16] = { 'M', 'F', 'W', 1, MFS_MSG_PULL, 0, 0x2b, 0x1a, 9 };
	int fail = 0;

	fail += expect(!pull(s, v1, sizeof(v1), 2000), "a version 1 PULL gets no answer");
	fail += expect(pull_as(s, OTHER_ID, 10000), "a version 2 PULL gets OPS");
	return fail;
}

static int claim(void *s, const char *endpoint, const char *keyfile, const char *server_pub)
{
	struct mfs_curve_keys k;
	char err[512] = "";
	mfs_node_t mine;
	int fail = 0;

	if (mfs_curve_load_secret(keyfile, &k, err, sizeof(err)) || mfs_curve_node_id(&k, &mine) ||
	    mfs_curve_client_setup(s, &k, server_pub) || zmq_connect(s, endpoint)) {
		fprintf(stderr, "wire_peer: cannot set up CURVE to %s\n", endpoint);
		return 2;
	}
	fail += expect(!pull_as(s, OTHER_ID, 3000), "a PULL claiming another node's id gets no answer");
	fail += expect(pull_as(s, mine, 10000), "a PULL with the key's own id gets OPS");
	return fail;
}

int main(int argc, char **argv)
{
	void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_DEALER);
	int zero = 0, rc = 2;

	mfs_log_open(NULL, MFS_LOG_ERROR, MFS_LOG_ERROR);
	zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
	if (argc == 3 && !strcmp(argv[1], "oldwire")) {
		if (!zmq_connect(s, argv[2]))
			rc = oldwire(s);
	} else if (argc == 5 && !strcmp(argv[1], "claim")) {
		rc = claim(s, argv[2], argv[3], argv[4]);
	} else if (argc == 4 && !strcmp(argv[1], "space")) {
		unsigned long sp = strtoul(argv[3], NULL, 16);

		if (sp && sp <= 0xffff && !zmq_connect(s, argv[2]))
			rc = expect(pull_in(s, 1, (uint16_t)sp, 10000), "a PULL from node 1 gets OPS");
	} else {
		fprintf(stderr, "usage: wire_peer oldwire ENDPOINT\n"
				"       wire_peer claim ENDPOINT SECRET_KEY_FILE SERVER_PUBLIC_Z85\n"
				"       wire_peer space ENDPOINT SPACE\n");
	}
	zmq_close(s);
	zmq_ctx_term(ctx);
	return rc ? 1 : 0;
}
