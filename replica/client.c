/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One request, one reply.  A request borrows a DEALER connected to the peer
 * from its pool and returns it after the reply.  A socket whose request
 * timed out is closed, not pooled: its late reply must not be read as the
 * answer to the next request.
 *
 * A connection that drops takes the requests on it with it, and ZeroMQ
 * says nothing: the DEALER connects again (to the peer restarted, say)
 * and the caller waited out its whole timeout for a reply that could not
 * come (peer_timeout_ms, raised to minutes for slow links: a restart of
 * one node stalled the pulls and reads of every other node that long).
 * So each DEALER has a monitor (ZMQ_EVENT_DISCONNECTED, read from a PAIR
 * beside it), and a request whose connection drops is sent again at once,
 * on a new socket that sends it once it has connected (ZMQ_IMMEDIATE),
 * within what is left of its timeout.  A pooled socket whose connection
 * dropped while it was idle is replaced too (rpc_sock_get).  Every
 * request is safe to send twice: PULL, GET, CHECK, HELLO and SNAP change
 * nothing a second copy would undo.
 */
#include <errno.h>
#include <stdlib.h>
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

/* A PAIR reading s's disconnections (NULL if it cannot be had: requests then wait out their timeout). */
static void *monitor_open(struct mfs_replica *r, void *s)
{
	static uint64_t seq;
	char ep[64];
	void *mon;
	int zero = 0;

	snprintf(ep, sizeof(ep), "inproc://mfs-link-%llu",
		 (unsigned long long)__atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
	if (zmq_socket_monitor(s, ep, ZMQ_EVENT_DISCONNECTED))
		return NULL;
	if (!(mon = zmq_socket(r->zctx, ZMQ_PAIR)))
		goto fail;
	if (!zmq_setsockopt(mon, ZMQ_LINGER, &zero, sizeof(zero)) && !zmq_connect(mon, ep))
		return mon;
	zmq_close(mon);
fail:
	zmq_socket_monitor(s, NULL, 0);
	return NULL;
}

void rpc_sock_close(struct rpc_sock *k)
{
	if (!k)
		return;
	zmq_close(k->s);
	if (k->mon)
		zmq_close(k->mon);
	free(k);
}

int rpc_sock_lost(struct rpc_sock *k)
{
	int lost = 0;

	while (k->mon) {
		zmq_msg_t m;
		int more;

		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, k->mon, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&m);
			break;
		}
		/* An event: u16 number, u32 value, then a frame with the endpoint. */
		more = zmq_msg_more(&m);
		if (zmq_msg_size(&m) >= 2) {
			uint16_t ev;

			memcpy(&ev, zmq_msg_data(&m), sizeof(ev));
			lost |= ev == ZMQ_EVENT_DISCONNECTED;
		}
		zmq_msg_close(&m);
		while (more) {
			zmq_msg_init(&m);
			more = zmq_msg_recv(&m, k->mon, ZMQ_DONTWAIT) >= 0 && zmq_msg_more(&m);
			zmq_msg_close(&m);
		}
	}
	return lost;
}

static struct rpc_sock *sock_open(struct mfs_replica *r, struct mfs_peer *p)
{
	struct rpc_sock *k = calloc(1, sizeof(*k));
	int one = 1;

	if (!k || !(k->s = zmq_socket(r->zctx, ZMQ_DEALER))) {
		log_warn("%s: cannot open a socket: %s", p->endpoint, zmq_strerror(errno));
		free(k);
		return NULL;
	}
	if (!(k->mon = monitor_open(r, k->s)))
		log_warn("%s: cannot watch a connection (%s): a request it loses waits out "
			 "peer_timeout_ms", p->endpoint, zmq_strerror(errno));
	if (sock_common_setup(r, k->s, MFS_WIRE_MAX_REPLY) ||
	    zmq_setsockopt(k->s, ZMQ_IMMEDIATE, &one, sizeof(one)) ||
	    (r->curve && mfs_curve_client_setup(k->s, &r->keys, p->server_key)) ||
	    zmq_connect(k->s, p->endpoint)) {
		log_warn("%s: cannot open a connection: %s", p->endpoint, zmq_strerror(errno));
		rpc_sock_close(k);
		return NULL;
	}
	return k;
}

/*
 * A socket whose connection dropped is not used again: its monitor says so
 * before the socket itself has dropped the connection's pipe, and a
 * request sent meanwhile went into that pipe, lost (t1405 waited out its
 * timeout so in 2 runs of 9).  A new socket has no pipe until it has
 * connected.
 */
struct rpc_sock *rpc_sock_get(struct mfs_replica *r, struct mfs_peer *p)
{
	for (;;) {
		struct rpc_sock *k = NULL;

		pthread_mutex_lock(&p->lock);
		if (p->nidle)
			k = p->idle[--p->nidle];
		pthread_mutex_unlock(&p->lock);
		if (!k)
			return sock_open(r, p);
		if (!rpc_sock_lost(k))
			return k;
		rpc_sock_close(k);
	}
}

struct rpc_sock *rpc_sock_renew(struct mfs_replica *r, struct mfs_peer *p, struct rpc_sock *k)
{
	if (!rpc_sock_lost(k))
		return k;
	rpc_sock_close(k);
	return sock_open(r, p);
}

void rpc_sock_put(struct mfs_peer *p, struct rpc_sock *k)
{
	pthread_mutex_lock(&p->lock);
	if (p->nidle < (int)(sizeof(p->idle) / sizeof(p->idle[0]))) {
		p->idle[p->nidle++] = k;
		k = NULL;
	}
	pthread_mutex_unlock(&p->lock);
	rpc_sock_close(k);
}

void rpc_pool_drain(struct mfs_peer *p)
{
	pthread_mutex_lock(&p->lock);
	while (p->nidle)
		rpc_sock_close(p->idle[--p->nidle]);
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

/*
 * Waits for k's socket to be readable; 1, 0 on timeout, -ECONNRESET if its
 * connection dropped, -ESHUTDOWN if the node stops, or -errno.
 */
static int wait_readable(struct mfs_replica *r, struct rpc_sock *k, int timeout_ms)
{
	zmq_pollitem_t it[2] = { { .socket = k->s, .events = ZMQ_POLLIN },
				 { .socket = k->mon, .events = ZMQ_POLLIN } };
	uint64_t t0 = mfs_now_ms();

	for (;;) {
		int step = slice_ms(t0, timeout_ms), rc = zmq_poll(it, k->mon ? 2 : 1, step);

		if (rc < 0)
			return -errno;
		if (it[0].revents & ZMQ_POLLIN)
			return 1;
		if (rc && rpc_sock_lost(k))
			return -ECONNRESET;
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

/* Copies of one request rpc_call sends at most (each after a connection dropped). */
#define MAX_SENDS 16

static const char *request_name(uint8_t type)
{
	switch (type) {
	case MFS_MSG_PULL: return "PULL";
	case MFS_MSG_GET: return "GET";
	case MFS_MSG_CHECK: return "CHECK";
	case MFS_MSG_SNAP: return "SNAP";
	case MFS_MSG_HELLO: return "HELLO";
	default: return "request";
	}
}

/* What is left of a wait of timeout_ms begun at t0, 0 once it is over. */
static int left_ms(uint64_t t0, int timeout_ms)
{
	uint64_t spent = mfs_now_ms() - t0;

	return spent >= (uint64_t)timeout_ms ? 0 : timeout_ms - (int)spent;
}

int rpc_call(struct mfs_replica *r, struct mfs_peer *p, uint8_t type, uint8_t flags,
	     const void *body, size_t blen, int timeout_ms, struct rpc_reply *out)
{
	struct rpc_sock *k = rpc_sock_get(r, p);
	uint64_t req, t0 = 0;
	int rc, nsent = 0, left = timeout_ms;

	memset(out, 0, sizeof(*out));
	if (!k)
		return -ENOMEM;
	for (;;) {
		if ((rc = rpc_send(r, k->s, type, flags, body, blen, left, &req)))
			goto drop;
		nsent++;
		/* The reply's wait: timeout_ms from the first send, whatever copies follow. */
		if (!t0)
			t0 = mfs_now_ms();
		rc = wait_readable(r, k, left = left_ms(t0, timeout_ms));
		if (rc != -ECONNRESET || nsent == MAX_SENDS)
			break;
		log_info("%s: connection lost with a %s on it (the peer restarted?): sent again",
			 p->endpoint, request_name(type));
		__atomic_add_fetch(&r->resent, 1, __ATOMIC_RELAXED);
		if (!(left = left_ms(t0, timeout_ms))) {
			rc = -ETIMEDOUT;
			goto drop;
		}
		/* On a new socket: not into the old connection's pipe (rpc_sock_get). */
		rpc_sock_close(k);
		if (!(k = sock_open(r, p)))
			return -ENOMEM;
	}
	if (rc <= 0) {
		rc = rc ? rc : -ETIMEDOUT;
		goto drop;
	}
	if ((rc = rpc_recv(r, p, k->s, req, out)))
		goto drop;
	rpc_sock_put(p, k);
	peer_seen(r, p, out->h.node, out->h.space);
	return 0;
drop:
	rpc_sock_close(k);
	if (rc == -ETIMEDOUT)
		peer_failed(r, p);
	return rc;
}
