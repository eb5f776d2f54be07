/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One request, one reply.  A request borrows a DEALER connected to the peer
 * from its pool and returns it after the reply.  A socket whose request
 * timed out is closed, not pooled: its late reply must not be read as the
 * answer to the next request.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"
#include "store/base/errors.h"
#include "store/base/log.h"

#define LOG_COMPONENT "peer"

int sock_common_setup(struct mfs_replica *r, void *s, int64_t maxmsg)
{
	int zero = 0, one = 1, ivl = 100, ivl_max = 2000, hb = 1000, hb_timeout = 5000;

	if (zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg)) ||
	    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero)) ||
	    zmq_setsockopt(s, ZMQ_TCP_KEEPALIVE, &one, sizeof(one)) ||
	    zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl)) ||
	    zmq_setsockopt(s, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof(ivl_max)) ||
	    zmq_setsockopt(s, ZMQ_HEARTBEAT_IVL, &hb, sizeof(hb)) ||
	    zmq_setsockopt(s, ZMQ_HEARTBEAT_TIMEOUT, &hb_timeout, sizeof(hb_timeout)))
		return -errno;
	(void)r;
	return 0;
}

static void *sock_open(struct mfs_replica *r, struct mfs_peer *p)
{
	void *s = zmq_socket(r->zctx, ZMQ_DEALER);
	int one = 1;

	if (!s) {
		log_warn("%s: cannot open a socket: %s", p->endpoint, zmq_strerror(errno));
		return NULL;
	}
	if (sock_common_setup(r, s, MFS_WIRE_MAX_REPLY) ||
	    zmq_setsockopt(s, ZMQ_IMMEDIATE, &one, sizeof(one)) ||
	    (r->curve && mfs_curve_client_setup(s, &r->keys, p->server_key)) ||
	    zmq_connect(s, p->endpoint)) {
		log_warn("%s: cannot open a connection: %s", p->endpoint, zmq_strerror(errno));
		zmq_close(s);
		return NULL;
	}
	return s;
}

void *rpc_sock_get(struct mfs_replica *r, struct mfs_peer *p)
{
	void *s = NULL;

	pthread_mutex_lock(&p->lock);
	if (p->nidle)
		s = p->idle[--p->nidle];
	pthread_mutex_unlock(&p->lock);
	return s ? s : sock_open(r, p);
}

void rpc_sock_put(struct mfs_peer *p, void *s)
{
	pthread_mutex_lock(&p->lock);
	if (p->nidle < (int)(sizeof(p->idle) / sizeof(p->idle[0]))) {
		p->idle[p->nidle++] = s;
		s = NULL;
	}
	pthread_mutex_unlock(&p->lock);
	if (s)
		zmq_close(s);
}

void rpc_pool_drain(struct mfs_peer *p)
{
	pthread_mutex_lock(&p->lock);
	while (p->nidle)
		zmq_close(p->idle[--p->nidle]);
	pthread_mutex_unlock(&p->lock);
}

void rpc_reply_release(struct rpc_reply *rr)
{
	zmq_msg_close(&rr->body);
	if (rr->has_payload)
		zmq_msg_close(&rr->payload);
	rr->has_payload = 0;
}

/*
 * A call's waits are cut into slices of STOP_CHECK_MS, so that a node being
 * stopped leaves a call to a peer that does not answer at once rather than
 * after the whole timeout: each sync thread stuck in a PULL to a dead peer
 * held an umount up to peer_timeout_ms (3 s by default).
 */
#define STOP_CHECK_MS 50

/* The next slice of a wait of timeout_ms (< 0: no end) begun at t0: 0 once it is over. */
static int slice_ms(uint64_t t0, int timeout_ms)
{
	uint64_t spent = mfs_now_ms() - t0;

	if (timeout_ms < 0)
		return STOP_CHECK_MS;
	if (spent >= (uint64_t)timeout_ms)
		return 0;
	return timeout_ms - (int)spent < STOP_CHECK_MS ? timeout_ms - (int)spent : STOP_CHECK_MS;
}

/* Waits for s to be readable; 1, 0 on timeout, -ESHUTDOWN if the node stops, or -errno. */
static int wait_readable(struct mfs_replica *r, void *s, int timeout_ms)
{
	zmq_pollitem_t it = { .socket = s, .events = ZMQ_POLLIN };
	uint64_t t0 = mfs_now_ms();

	for (;;) {
		int step = slice_ms(t0, timeout_ms), rc = zmq_poll(&it, 1, step);

		if (rc)
			return rc < 0 ? -errno : rc;
		if (r->stopping)
			return -ESHUTDOWN;
		if (!step)
			return 0;
	}
}

/*
 * Sends the header frame, waiting up to timeout_ms for the peer to take it
 * (ZMQ_IMMEDIATE: nothing is queued for a peer not connected), in slices.
 */
static int send_first(struct mfs_replica *r, void *s, const void *hb, size_t len, int timeout_ms)
{
	uint64_t t0 = mfs_now_ms();

	for (;;) {
		int step = slice_ms(t0, timeout_ms);

		zmq_setsockopt(s, ZMQ_SNDTIMEO, &step, sizeof(step));
		if (zmq_send(s, hb, len, ZMQ_SNDMORE) >= 0)
			return 0;
		if (errno != EAGAIN)
			return -errno;
		if (r->stopping)
			return -ESHUTDOWN;
		if (!step)
			return -ETIMEDOUT;
	}
}

/*
 * Reads one whole message: header, body, optional payload.  Extra frames are
 * malformed, and so is a reply to another request than req (0: any, the
 * caller matches it: a pipelined window).
 */
int rpc_recv(struct mfs_replica *r, struct mfs_peer *p, void *s, uint64_t req,
	     struct rpc_reply *out)
{
	zmq_msg_t hdr;
	int rc, more, nframes = 0, bad = 0;

	zmq_msg_init(&hdr);
	zmq_msg_init(&out->body);
	zmq_msg_init(&out->payload);
	out->has_payload = 0;
	do {
		zmq_msg_t *m = nframes == 0 ? &hdr : nframes == 1 ? &out->body : &out->payload;
		zmq_msg_t junk;

		if (nframes > 2) {
			zmq_msg_init(&junk);
			m = &junk;
		}
		if (zmq_msg_recv(m, s, 0) < 0) {
			rc = -errno;
			goto fail;
		}
		more = zmq_msg_more(m);
		if (nframes > 2) {
			zmq_msg_close(&junk);
			bad = 1;
		}
		nframes++;
	} while (more);
	out->has_payload = nframes == 3;
	rc = bad || nframes < 2 ? MFS_EFORMAT :
	     mfs_wire_header_decode(zmq_msg_data(&hdr), zmq_msg_size(&hdr), &out->h);
	if (rc == -EPROTO) {
		__atomic_add_fetch(&r->wire_refused, 1, __ATOMIC_RELAXED);
		log_error("%s answers in wire version %u; this build speaks %d only: upgrade "
			  "every node to the same build", p->endpoint, out->h.version, MFS_WIRE_VERSION);
		goto fail;
	}
	if (rc || (req && out->h.req != req)) {
		__atomic_add_fetch(&r->malformed, 1, __ATOMIC_RELAXED);
		log_warn("%s: malformed reply (%d frames), dropped", p->endpoint, nframes);
		rc = MFS_EFORMAT;
		goto fail;
	}
	zmq_msg_close(&hdr);
	return 0;
fail:
	zmq_msg_close(&hdr);
	rpc_reply_release(out);
	return rc;
}

int rpc_send(struct mfs_replica *r, void *s, uint8_t type, uint8_t flags, const void *body,
	     size_t blen, int timeout_ms, uint64_t *req)
{
	static uint64_t next_req;
	struct mfs_wire_header h = {
		.type = type, .flags = flags, .node = r->self, .space = mfs_ns_space(r->ns),
		.req = __atomic_add_fetch(&next_req, 1, __ATOMIC_RELAXED),
	};
	uint8_t hb[MFS_WIRE_HEADER_LEN];
	int rc;

	*req = h.req;
	mfs_wire_header_encode(&h, hb);
	if ((rc = send_first(r, s, hb, sizeof(hb), timeout_ms)))
		return rc;
	/* The rest of a message the peer took is never refused. */
	if (zmq_send(s, body, blen, 0) < 0)
		return errno == EAGAIN ? -ETIMEDOUT : -errno;
	return 0;
}

int rpc_call(struct mfs_replica *r, struct mfs_peer *p, uint8_t type, uint8_t flags,
	     const void *body, size_t blen, int timeout_ms, struct rpc_reply *out)
{
	void *s = rpc_sock_get(r, p);
	uint64_t req;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!s)
		return -ENOMEM;
	if ((rc = rpc_send(r, s, type, flags, body, blen, timeout_ms, &req)))
		goto drop;
	rc = wait_readable(r, s, timeout_ms);
	if (rc <= 0) {
		rc = rc ? rc : -ETIMEDOUT;
		goto drop;
	}
	if ((rc = rpc_recv(r, p, s, req, out)))
		goto drop;
	rpc_sock_put(p, s);
	peer_seen(r, p, out->h.node, out->h.space);
	return 0;
drop:
	zmq_close(s);
	if (rc == -ETIMEDOUT)
		peer_failed(r, p);
	return rc;
}
