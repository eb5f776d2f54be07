/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test fixture for t1480-peers-flipped-checksum.sh: a peer-protocol proxy
 * that damages a chunk record in a way its content does not show.
 *
 *   flip_proxy LISTEN UPSTREAM
 *       Binds a ROUTER at tcp://LISTEN and forwards each client's messages
 *       over a DEALER of its own to tcp://UPSTREAM, and the replies back.
 *       In a CHUNK reply (header type 4) it flips one bit of the record's
 *       XXH64 checksum (payload bytes 16..23, doc/format.md): the record
 *       still decodes to bytes whose SHA-256 is the chunk's name, but it
 *       fails its own check wherever it is stored.  SIGUSR1 turns flipping
 *       off (then it only forwards).  Prints "flipped N" on SIGTERM.
 *
 *   flip_proxy LISTEN UPSTREAM --data N
 *       For t1356-peers-bad-chunk-in-batch.sh: checksums pass untouched;
 *       instead the chunk of the Nth CHUNK reply (by its hash, the reply's
 *       body) is damaged in that reply and every later one: the last byte
 *       of its record flipped and the record's XXH64 made right again (a
 *       record with one checksum over its whole payload), so the record
 *       passes every check but the SHA-256 of its bytes, the chunk's name.
 *       Every other chunk is forwarded as sent.
 *       SIGUSR1 stops the damage here too.
 *
 * Plain TCP only (no CURVE): loopback clusters without keys.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "store/base/hash.h"
#include "store/chunk/codec.h"

#define MAX_CLIENTS 64
#define MAX_FRAMES 8
#define CHECKSUM_OFF 16

static volatile sig_atomic_t flipping = 1, stop;

static void on_usr1(int sig)
{
	(void)sig;
	flipping = -1; /* neither the checksums nor (--data) the chunk */
}

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

struct client {
	zmq_msg_t id;
	void *dealer;
};

/* Receives one multipart message into m[]; returns the frame count or -1. */
static int recv_all(void *s, zmq_msg_t *m, int max)
{
	int n = 0, more;

	do {
		if (n == max)
			return -1;
		zmq_msg_init(&m[n]);
		if (zmq_msg_recv(&m[n], s, 0) < 0) {
			zmq_msg_close(&m[n]);
			while (n--)
				zmq_msg_close(&m[n]);
			return -1;
		}
		more = zmq_msg_more(&m[n]);
		n++;
	} while (more);
	return n;
}

/*
 * Damages record r[0..n): its last byte flipped, its XXH64 (bytes 16..23:
 * header bytes 0..15, then the payload) computed again.  A split record
 * with group checksums keeps a wrong group: it fails its XXH64 still.
 */
static void damage(uint8_t *r, size_t n)
{
	struct mfs_xxh64_state st;
	uint64_t sum;

	r[n - 1] ^= 0x40;
	mfs_xxh64_init(&st, 0);
	mfs_xxh64_update(&st, r, 16);
	mfs_xxh64_update(&st, r + MFS_CHUNK_HDR_SIZE, n - MFS_CHUNK_HDR_SIZE);
	sum = mfs_xxh64_digest(&st);
	for (int i = 0; i < 8; i++)
		r[CHECKSUM_OFF + i] = (uint8_t)(sum >> (8 * i));
}

static void send_all(void *s, zmq_msg_t *m, int from, int n)
{
	for (int i = from; i < n; i++)
		zmq_msg_send(&m[i], s, i + 1 < n ? ZMQ_SNDMORE : 0);
}

int main(int argc, char **argv)
{
	struct client cl[MAX_CLIENTS];
	zmq_pollitem_t items[MAX_CLIENTS + 1];
	zmq_msg_t m[MAX_FRAMES + 1];
	char ep[300];
	void *ctx, *router;
	int ncl = 0, linger = 0;
	long flipped = 0, nth = 0, chunks = 0;
	uint8_t bad[32];
	int have_bad = 0;

	if (argc == 5 && !strcmp(argv[3], "--data") && (nth = atol(argv[4])) > 0) {
		flipping = 0; /* no checksum flips: one chunk's data only */
	} else if (argc != 3) {
		fprintf(stderr, "usage: flip_proxy LISTEN UPSTREAM [--data N]\n");
		return 2;
	}
	signal(SIGUSR1, on_usr1);
	signal(SIGTERM, on_term);
	ctx = zmq_ctx_new();
	router = zmq_socket(ctx, ZMQ_ROUTER);
	zmq_setsockopt(router, ZMQ_LINGER, &linger, sizeof(linger));
	snprintf(ep, sizeof(ep), "tcp://%s", argv[1]);
	if (zmq_bind(router, ep)) {
		fprintf(stderr, "flip_proxy: bind %s: %s\n", ep, zmq_strerror(errno));
		return 1;
	}
	snprintf(ep, sizeof(ep), "tcp://%s", argv[2]);
	while (!stop) {
		items[0] = (zmq_pollitem_t){ .socket = router, .events = ZMQ_POLLIN };
		for (int i = 0; i < ncl; i++)
			items[i + 1] = (zmq_pollitem_t){ .socket = cl[i].dealer, .events = ZMQ_POLLIN };
		if (zmq_poll(items, ncl + 1, 200) < 0)
			continue;
		if (items[0].revents & ZMQ_POLLIN) {
			int n = recv_all(router, m, MAX_FRAMES + 1), c;

			if (n < 2) {
				for (int i = 0; i < n; i++)
					zmq_msg_close(&m[i]);
				continue;
			}
			for (c = 0; c < ncl; c++)
				if (zmq_msg_size(&cl[c].id) == zmq_msg_size(&m[0]) &&
				    !memcmp(zmq_msg_data(&cl[c].id), zmq_msg_data(&m[0]),
					    zmq_msg_size(&m[0])))
					break;
			if (c == ncl && ncl < MAX_CLIENTS) {
				cl[c].dealer = zmq_socket(ctx, ZMQ_DEALER);
				zmq_setsockopt(cl[c].dealer, ZMQ_LINGER, &linger, sizeof(linger));
				zmq_connect(cl[c].dealer, ep);
				zmq_msg_init(&cl[c].id);
				zmq_msg_copy(&cl[c].id, &m[0]);
				ncl++;
			}
			if (c < ncl)
				send_all(cl[c].dealer, m, 1, n);
			for (int i = 0; i < n; i++)
				zmq_msg_close(&m[i]);
		}
		for (int c = 0; c < ncl; c++) {
			int n;

			if (!(items[c + 1].revents & ZMQ_POLLIN))
				continue;
			if ((n = recv_all(cl[c].dealer, m + 1, MAX_FRAMES)) < 1)
				continue;
			n++;
			if (flipping > 0 && n == 4 && zmq_msg_size(&m[1]) >= 5 &&
			    ((uint8_t *)zmq_msg_data(&m[1]))[4] == 4 &&
			    zmq_msg_size(&m[3]) > CHECKSUM_OFF + 8) {
				((uint8_t *)zmq_msg_data(&m[3]))[CHECKSUM_OFF] ^= 0x01;
				flipped++;
			}
			if (nth && flipping >= 0 && n == 4 && zmq_msg_size(&m[1]) >= 5 &&
			    ((uint8_t *)zmq_msg_data(&m[1]))[4] == 4 && zmq_msg_size(&m[2]) >= 32 &&
			    zmq_msg_size(&m[3]) > CHECKSUM_OFF + 8) {
				if (++chunks == nth) {
					memcpy(bad, zmq_msg_data(&m[2]), 32);
					have_bad = 1;
				}
				if (have_bad && !memcmp(bad, zmq_msg_data(&m[2]), 32)) {
					damage(zmq_msg_data(&m[3]), zmq_msg_size(&m[3]));
					flipped++;
				}
			}
			zmq_msg_init(&m[0]);
			zmq_msg_copy(&m[0], &cl[c].id);
			send_all(router, m, 0, n);
			for (int i = 0; i < n; i++)
				zmq_msg_close(&m[i]);
		}
	}
	printf("flipped %ld\n", flipped);
	fflush(stdout);
	for (int c = 0; c < ncl; c++) {
		zmq_close(cl[c].dealer);
		zmq_msg_close(&cl[c].id);
	}
	zmq_close(router);
	zmq_ctx_term(ctx);
	return 0;
}
