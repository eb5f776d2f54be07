/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A window of requests per peer for prefetches (issue 13 item 4; the
 * cache's side is store/chunk/cache.c note 5).
 *
 * Notes on the design:
 *  1. One request at a time per thread left each link idle for a round
 *     trip per chunk, and cost a hand-off and a wakeup per chunk: the
 *     prefetch thread woken for the chunk, then by ZeroMQ for its reply.
 *     A run here keeps many GETs in flight on one DEALER per peer (the
 *     peer's ROUTER answers them in any order; replies are matched by
 *     request id), and sleeps in one zmq_poll over all of them; each
 *     wakeup handles every reply that has arrived, and tops the window
 *     up with what the reader queued meanwhile.  No new message: an old
 *     peer serves a pipelined DEALER as it serves several sockets.
 *  2. Per peer, windows ask at most WINDOW_BYTES not yet arrived (~4
 *     chunks: enough to keep a link busy over a round trip, little enough
 *     that a read's own request does not queue long behind prefetches on
 *     the peer's link; 8 MiB measured no faster, and its replies waiting
 *     in memory grew the heap: more page faults on the reader).  Each
 *     chunk goes to the least busy likely holder under that bound (fetch.c
 *     note 1), so a read-ahead spreads over every holder; a chunk whose
 *     holders are all full waits here, not on the wire.  A reply is
 *     taken off its socket, and its room given to the next chunks, before
 *     the replies taken earlier are decoded (drain): counting the bytes
 *     until their decode kept a quarter of the room in replies that had
 *     arrived and waited for this thread (issue 10).
 *  3. A reply is decoded and verified (fetch_take_reply: the SHA-256 is
 *     the chunk's name; a copy that does not verify is never served) on
 *     the thread that received it, reads' first, and completes the cache
 *     entry at once.
 *  4. Anything else (a MISS, a bad copy, a peer that stops answering for
 *     peer_timeout_ms with requests on it, a socket that fails) sends the
 *     chunk down fetch_for_cache's own path on this thread (fetch_retry:
 *     every other holder, then proxies).  A peer that died mid-transfer
 *     (down by its heartbeat, or silent for 3 x peer_timeout_ms, as a
 *     proxied GET may be) thus has all its chunks asked of the others.
 *     A socket given up on is closed, never pooled: its late replies must
 *     not answer another request.  So is one whose connection dropped with
 *     requests on it (its monitor says so, client.c): those replies went
 *     with the connection, and the chunks are asked again at once, of the
 *     peer restarted or another holder, not after 3 x peer_timeout_ms.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/chunk/cache.h"
#include "store/chunk/chunkstore.h"

#define LOG_COMPONENT "window"
#define WINDOW_BYTES (4 << 20)   /* asked of one peer by all windows, unanswered (note 2) */
#define RUN_SLOTS 32             /* chunks one run holds (asked or waiting) */
#define RUN_CONNS 16             /* peers one run asks at once */

/* HELD: in this thread's hands; ARRIVED: its reply too, in rr, not yet decoded */
enum { FREE, WAITING, ASKED, HELD, ARRIVED };

struct slot {
	struct mfs_cache_job job;
	int state, keep, conn, begun;  /* begun: keep_fetch_begin'd */
	uint64_t req;
	struct timespec t0;
	struct rpc_reply rr;           /* ARRIVED */
};

struct conn {
	struct mfs_peer *p;
	struct rpc_sock *s;
	int asked;                   /* slots ASKED on s */
	uint64_t last_ms;            /* last reply, or the first request after none */
};

struct run {
	struct mfs_replica *r;
	struct mfs_cache *c;
	struct slot slot[RUN_SLOTS];
	struct conn conn[RUN_CONNS];
	int nconn, used, waiting;
};

/* s's reply came (or never will): s is in this thread's hands, the peer's window freed. */
static void slot_answered(struct run *w, struct slot *s)
{
	struct conn *cn = &w->conn[s->conn];

	__atomic_sub_fetch(&cn->p->wbytes, s->job.len, __ATOMIC_RELAXED);
	__atomic_sub_fetch(&cn->p->inflight, 1, __ATOMIC_RELAXED);
	cn->asked--;
	s->state = HELD;
}

/* The end of s's job: to the cache, and the peer's window freed. */
static void slot_done(struct run *w, struct slot *s, int rc, struct mfs_chunk_bytes *bytes)
{
	if (s->state == ASKED)
		slot_answered(w, s);
	else if (s->state == WAITING)
		w->waiting--;
	if (s->begun) {
		keep_fetch_end(w->r, &s->job.hash, 1);
		rc = fetch_finish(w->r, &s->job.hash, s->keep, rc);
	}
	mfs_cache_job_done(w->c, &s->job, rc, bytes);
	mfs_chunk_bytes_release(bytes);
	s->state = FREE;
	w->used--;
}

/* s could not be had from the peer it was asked of: every other way, here (note 4). */
static void slot_retry(struct run *w, struct slot *s)
{
	struct mfs_chunk_bytes out = { 0 };
	int rc = fetch_retry(w->r, &s->job.hash, s->job.len, s->job.origin, s->keep, &out);

	slot_done(w, s, rc, &out);
}

/* The run's connection to p (opened on first use), or -1. */
static int conn_of(struct run *w, struct mfs_peer *p)
{
	for (int i = 0; i < w->nconn; i++)
		if (w->conn[i].p == p)
			return w->conn[i].s ? i : -1;
	if (w->nconn == RUN_CONNS)
		return -1;
	w->conn[w->nconn] = (struct conn){ .p = p, .s = rpc_sock_get(w->r, p) };
	return w->conn[w->nconn++].s ? w->nconn - 1 : -1;
}

/* Gives up on connection i: its socket closed, its chunks fetched every other way. */
static void conn_drop(struct run *w, int i, int rc)
{
	struct conn *cn = &w->conn[i];

	if (cn->asked)
		log_warn("%s: %d chunk request(s) unanswered (%s): asked of other holders",
			 cn->p->endpoint, cn->asked, mfs_strerror(rc));
	else
		log_warn("%s: cannot ask for chunks (%s): asked of other holders", cn->p->endpoint,
			 mfs_strerror(rc));
	rpc_sock_close(cn->s);
	cn->s = NULL;
	if (rc == -ETIMEDOUT)
		peer_failed(w->r, cn->p);
	for (int k = 0; k < RUN_SLOTS; k++)
		if (w->slot[k].state == ASKED && w->slot[k].conn == i)
			slot_retry(w, &w->slot[k]);
}

/* Asks the least busy holder with room for s (note 2); leaves it WAITING if all are full. */
static void slot_ask(struct run *w, struct slot *s)
{
	struct mfs_replica *r = w->r;
	uint8_t body[MFS_WIRE_GET_LEN];
	int capped, i, rc, proxy = !server_in_worker();
	struct mfs_peer *p = fetch_pick(r, &s->job.hash, s->job.origin, WINDOW_BYTES, &capped);

	if (!p && capped)
		return; /* stays WAITING */
	if (s->state == WAITING)
		w->waiting--;
	s->state = HELD;
	if (!p || (i = conn_of(w, p)) < 0) {
		slot_retry(w, s);
		return;
	}
	/* Its connection dropped while nothing was asked on it: a new socket (rpc_sock_get). */
	if (!w->conn[i].asked && !(w->conn[i].s = rpc_sock_renew(r, p, w->conn[i].s))) {
		slot_retry(w, s);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &s->t0);
	mfs_wire_get_encode(&s->job.hash, s->job.len, proxy ? MFS_GET_PROXY : 0, body);
	if ((rc = rpc_send(r, w->conn[i].s->s, MFS_MSG_GET, 0, body, sizeof(body),
			   r->cfg.peer_timeout_ms, &s->req))) {
		conn_drop(w, i, rc);
		slot_retry(w, s);
		return;
	}
	if (!w->conn[i].asked++)
		w->conn[i].last_ms = mfs_now_ms();
	__atomic_add_fetch(&p->wbytes, s->job.len, __ATOMIC_RELAXED);
	__atomic_add_fetch(&p->inflight, 1, __ATOMIC_RELAXED);
	s->conn = i;
	s->state = ASKED;
}

/* Takes queued chunks (reads' first) into free slots; 1 if it took any. */
static int fill(struct run *w)
{
	int took = 0;

	for (int k = 0; k < RUN_SLOTS; k++) {
		struct slot *s = &w->slot[k];
		struct mfs_chunk_bytes out = { 0 };
		int rc;

		if (s->state != FREE)
			continue;
		if (!mfs_cache_job_next(w->c, &s->job))
			break;
		took = 1;
		w->used++;
		s->state = HELD;
		s->begun = 0;
		s->keep = KEEP_CACHE;
		/* Stopping: what is queued fails, as it would without a remote source. */
		if (w->r->stopping) {
			slot_done(w, s, -EIO, &out);
			continue;
		}
		/* In the disk cache (or out of memory): done here. */
		if ((rc = fetch_prepare(w->r, &s->job.hash, s->job.len, &out, &s->keep)) <= 0) {
			slot_done(w, s, rc, &out);
			continue;
		}
		keep_fetch_begin(w->r, &s->job.hash, 1);
		s->begun = 1;
		s->state = WAITING;
		w->waiting++;
		if (s->keep == KEEP_REPLACE) /* ours is bad (rare): every way, here */
			slot_retry(w, s);
		else
			slot_ask(w, s);
	}
	return took;
}

/* Asks for the chunks waiting for room on their peers: reads' first. */
static void ask_waiting(struct run *w)
{
	for (int pass = 1; pass >= 0; pass--)
		for (int k = 0; k < RUN_SLOTS && w->waiting; k++)
			if (w->slot[k].state == WAITING && w->slot[k].job.read == pass)
				slot_ask(w, &w->slot[k]);
}

/*
 * Takes every reply that has arrived on connection i off its socket
 * (ARRIVED), and frees its room on the peer; -errno if the socket failed.
 */
static int take_arrived(struct run *w, int i)
{
	struct conn *cn = &w->conn[i];

	while (cn->s && cn->asked) {
		struct rpc_reply rr;
		int events = 0, rc, k;
		size_t sz = sizeof(events);

		if (zmq_getsockopt(cn->s->s, ZMQ_EVENTS, &events, &sz))
			return -errno;
		if (!(events & ZMQ_POLLIN))
			return 0;
		if ((rc = rpc_recv(w->r, cn->p, cn->s->s, 0, &rr)))
			return rc;
		cn->last_ms = mfs_now_ms();
		peer_seen(w->r, cn->p, rr.h.node, rr.h.space);
		for (k = 0; k < RUN_SLOTS; k++)
			if (w->slot[k].state == ASKED && w->slot[k].conn == i &&
			    w->slot[k].req == rr.h.req)
				break;
		if (k == RUN_SLOTS) { /* not asked on this socket: malformed */
			__atomic_add_fetch(&w->r->malformed, 1, __ATOMIC_RELAXED);
			log_warn("%s: reply to a request not asked, dropped", cn->p->endpoint);
			rpc_reply_release(&rr);
			continue;
		}
		slot_answered(w, &w->slot[k]);
		w->slot[k].rr = rr;
		w->slot[k].state = ARRIVED;
	}
	return 0;
}

/* The ARRIVED slot to decode next, reads' first; NULL if none. */
static struct slot *next_arrived(struct run *w)
{
	struct slot *any = NULL;

	for (int k = 0; k < RUN_SLOTS; k++)
		if (w->slot[k].state == ARRIVED) {
			if (w->slot[k].job.read)
				return &w->slot[k];
			any = any ? any : &w->slot[k];
		}
	return any;
}

/* s's reply decoded and verified (note 3): to the cache, or every other way. */
static void slot_decode(struct run *w, struct slot *s)
{
	struct mfs_chunk_bytes out = { 0 };
	int rc;

	s->state = HELD;
	rc = fetch_take_reply(w->r, w->conn[s->conn].p, &s->job.hash, s->job.len, s->keep, NULL,
			      &s->rr, &s->t0, &out);
	if (!rc)
		slot_done(w, s, rc, &out);
	else
		slot_retry(w, s);
}

/*
 * Every reply waiting on connection i; -errno if the socket failed.  What
 * has arrived is taken off the socket before each decode, and its room on
 * the peer goes to the next chunks at once (note 2): the peer sends them
 * while this thread decodes, and a read queued meanwhile is asked first.
 * Freeing the room only after each decode kept a quarter of the window's
 * bytes in replies that had arrived, waiting for the one being decoded.
 */
static int drain(struct run *w, int i)
{
	struct slot *s;
	int err = 0;

	for (;;) {
		if (!err)
			err = take_arrived(w, i);
		/* The room freed goes to the chunks waiting for it, then to new ones (window_run). */
		ask_waiting(w);
		fill(w);
		if (!(s = next_arrived(w)))
			return err;
		slot_decode(w, s);
	}
}

/* Sleeps until a reply comes, a peer is late or a connection drops; handles what came. */
static void wait_replies(struct run *w)
{
	zmq_pollitem_t it[2 * RUN_CONNS + 1];
	/* As a single GET with PROXY: the holder may fetch it from another first. */
	int late_ms = 3 * w->r->cfg.peer_timeout_ms, idx[RUN_CONNS], n = 0, timeout = late_ms, rc;
	int midx[RUN_CONNS], nmon = 0;
	uint64_t now = mfs_now_ms();

	for (int i = 0; i < w->nconn; i++) {
		struct conn *cn = &w->conn[i];
		int left;

		if (!cn->s || !cn->asked)
			continue;
		/* Down by its heartbeat (killed, say): its chunks to the others now. */
		if (!peer_is_up(cn->p)) {
			conn_drop(w, i, -EHOSTDOWN);
			continue;
		}
		left = (int)((int64_t)(cn->last_ms + (uint64_t)late_ms) - (int64_t)now);
		if (left <= 0) {
			conn_drop(w, i, -ETIMEDOUT);
			continue;
		}
		timeout = left < timeout ? left : timeout;
		it[n] = (zmq_pollitem_t){ .socket = cn->s->s, .events = ZMQ_POLLIN };
		idx[n++] = i;
	}
	if (!n)
		return;
	/* Its connection dropped (the peer restarted, say): its replies will not come (note 4). */
	for (int k = 0; k < n; k++)
		if (w->conn[idx[k]].s->mon) {
			it[n + nmon] = (zmq_pollitem_t){ .socket = w->conn[idx[k]].s->mon,
							 .events = ZMQ_POLLIN };
			midx[nmon++] = idx[k];
		}
	/* A read's chunk queued wakes it too; new prefetches wait for the next reply. */
	it[n + nmon] = (zmq_pollitem_t){ .fd = mfs_cache_window_fd(w->c), .events = ZMQ_POLLIN };
	if (zmq_poll(it, n + nmon + 1, timeout) <= 0)
		return;
	for (int k = 0; k < n; k++)
		if ((it[k].revents & ZMQ_POLLIN) && (rc = drain(w, idx[k])) < 0)
			conn_drop(w, idx[k], rc);
	/* What arrived before the drop was taken (above); the rest is lost. */
	for (int k = 0; k < nmon; k++) {
		struct conn *cn = &w->conn[midx[k]];

		if (!(it[n + k].revents & ZMQ_POLLIN) || !cn->s || !rpc_sock_lost(cn->s))
			continue;
		if (cn->asked) {
			conn_drop(w, midx[k], -ECONNRESET);
		} else {
			/*
			 * Its replies all came before the drop: the next ask goes
			 * on a new socket, not into the old connection's pipe
			 * (rpc_sock_get), as the drop was read here, not by it.
			 */
			rpc_sock_close(cn->s);
			cn->s = rpc_sock_get(w->r, cn->p);
		}
	}
}

void window_run(void *arg, struct mfs_cache *c)
{
	struct run w = { .r = arg, .c = c };

	for (;;) {
		fill(&w);
		if (!w.used)
			break;
		wait_replies(&w);
		/* Room freed on the peers: the waiting chunks, reads' first, then new ones. */
		ask_waiting(&w);
		/* Nothing asked yet all waiting: another run holds the room; let it answer. */
		if (w.used && w.waiting == w.used)
			sync_nap(w.r, 2);
	}
	for (int i = 0; i < w.nconn; i++)
		if (w.conn[i].s)
			rpc_sock_put(w.conn[i].p, w.conn[i].s);
}
