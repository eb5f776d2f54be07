/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The peer server: one thread takes the requests off the ROUTER socket;
 * those that pass the checks go to a bounded queue served by worker
 * threads.  A full queue drops the request (logged) rather than growing: a
 * flood of requests cannot exhaust memory, and the requester, hearing
 * nothing, times out and tries another copy.
 *
 * Notes on the design:
 *  1. A worker sends its reply on the ROUTER itself, under s->rlock, which
 *     every use of the socket takes (a ZeroMQ socket may move between
 *     threads behind a full memory barrier; the lock is one).  Replies
 *     used to come back to the server thread over an inproc pipe, which
 *     forwarded them: a hand-off and a wakeup per chunk served, and the
 *     server thread's share of the holder's CPU (issue 10).
 *  2. So the server thread does not sleep in zmq_poll on the socket (the
 *     workers could not send meanwhile): it sleeps in poll(2) on the
 *     socket's ZMQ_FD and an eventfd, and takes what ZMQ_EVENTS says is
 *     there under the lock.  ZMQ_FD only says "look again", and any use of
 *     the socket may consume that signal: a worker that sends therefore
 *     looks at ZMQ_EVENTS after its send, and if a request is waiting
 *     wakes the server thread through the eventfd.
 *  3. Pulls (the heartbeat) and HELLOs are answered by the server thread
 *     at once; chunks, CHECKs and SNAPs by the workers, so a slow disk
 *     delays only them.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "diskcache.h"
#include "internal.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/chunk/cache.h"
#include "store/chunk/chunkstore.h"
#include "store/chunk/codec.h"
#include "store/kv/db.h"
#include "store/maint/recode.h"
#include "store/ns/namespace.h"

#define LOG_COMPONENT "peer"
#define QUEUE_MAX 256
#define MAX_WORKERS 32
#define TAKE_BURST 64           /* requests taken per hold of rlock (note 2) */

struct job {
	zmq_msg_t id;
	char key[MFS_CURVE_Z85_LEN + 1]; /* the sender's CURVE key ("" without CURVE) */
	struct mfs_wire_header h;
	uint8_t *body;
	size_t blen;
	struct job *next;
};

struct mfs_server {
	struct mfs_replica *r;
	void *router;                 /* rlock (note 1) */
	pthread_mutex_t rlock;
	int router_fd;                /* its ZMQ_FD (note 2) */
	int wake_fd;                  /* eventfd: a request waits, or stop */
	int stop;                     /* the server thread ends (atomic) */
	pthread_t thread, workers[MAX_WORKERS];
	int nworkers;
	pthread_mutex_t lock;
	pthread_cond_t work;
	struct job *head, *tail;
	int qlen, stopping;
};

static __thread int in_worker;

int server_in_worker(void)
{
	return in_worker;
}

/* Logs the first 10 of a kind, then every 1000th. */
static int worth_logging(uint64_t n)
{
	return n <= 10 || n % 1000 == 0;
}

/* Logs malformed input, but not a flood of it. */
static void malformed(struct mfs_replica *r, const char *what)
{
	uint64_t n = __atomic_add_fetch(&r->malformed, 1, __ATOMIC_RELAXED);

	if (worth_logging(n))
		log_warn("malformed message from a peer (%s), dropped (%llu so far)", what,
			 (unsigned long long)n);
}

/*
 * A header this build cannot take: a peer of another wire version (an
 * older build: it must be upgraded), or a CURVE peer claiming an id that is
 * not its key's.  0 if h may be served.
 */
static int header_refused(struct mfs_replica *r, int rc, const struct mfs_wire_header *h,
			  zmq_msg_t *frame)
{
	const char *user;
	mfs_node_t kid = 0;
	uint64_t n;

	if (rc == -EPROTO) {
		n = __atomic_add_fetch(&r->wire_refused, 1, __ATOMIC_RELAXED);
		if (worth_logging(n))
			log_error("a peer (node %04llx) speaks wire version %u; this build speaks %d "
				  "only: upgrade every node to the same build (%llu messages refused)",
				  (unsigned long long)h->node, h->version, MFS_WIRE_VERSION,
				  (unsigned long long)n);
		return 1;
	}
	if (rc)
		return rc;
	if (!r->curve)
		return 0;
	/* The ZAP handler set User-Id to the key it admitted (curve.h). */
	user = zmq_msg_gets(frame, "User-Id");
	if (user && !mfs_curve_z85_node_id(user, &kid) && kid == h->node)
		return 0;
	n = __atomic_add_fetch(&r->id_mismatch, 1, __ATOMIC_RELAXED);
	if (worth_logging(n))
		log_error("a peer whose key has node id " MFS_NODE_FMT " claims node id " MFS_NODE_FMT
			  ": refused (%llu so far)", MFS_NODE_ARG(kid), MFS_NODE_ARG(h->node),
			  (unsigned long long)n);
	return 1;
}

/* A request from a key no longer admitted: dropped, logged now and then. */
static void refused(struct mfs_replica *r, const char *key)
{
	uint64_t n = __atomic_add_fetch(&r->refused, 1, __ATOMIC_RELAXED);

	if (worth_logging(n))
		log_warn("request from key %s refused: neither in authorized_keys nor allowed "
			 "by the cluster (%llu so far)", key[0] ? key : "-", (unsigned long long)n);
}

/* ---- worker side ---------------------------------------------------------- */

/*
 * Wakes the server thread if a request waits (rlock held): this thread's
 * use of the socket may have consumed the ZMQ_FD signal (note 2).
 */
static void kick_if_pending(struct mfs_server *s)
{
	int events = 0;
	size_t sz = sizeof(events);
	uint64_t one = 1;

	if (!zmq_getsockopt(s->router, ZMQ_EVENTS, &events, &sz) && (events & ZMQ_POLLIN) &&
	    write(s->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("cannot wake the server thread: %s", strerror(errno));
}

/*
 * Sends a reply on the ROUTER (a worker takes rlock; the server thread
 * holds it already).  A payload is a message of its own (taken: sent or
 * closed here), so a record goes out without a copy.  A requester gone
 * meanwhile fails the first frame (ROUTER_MANDATORY): nothing to do.
 */
static void reply_msg(struct mfs_server *s, struct job *j, uint8_t type,
		      const void *body, size_t blen, zmq_msg_t *payload)
{
	struct mfs_replica *r = s->r;
	struct mfs_wire_header h = { .type = type, .node = r->self, .space = mfs_ns_space(r->ns),
				     .req = j->h.req };
	uint8_t hb[MFS_WIRE_HEADER_LEN];
	int locked = in_worker;
	zmq_msg_t id;

	zmq_msg_init(&id);
	zmq_msg_copy(&id, &j->id);
	mfs_wire_header_encode(&h, hb);
	if (locked)
		pthread_mutex_lock(&s->rlock);
	if (zmq_msg_send(&id, s->router, ZMQ_SNDMORE) < 0) {
		zmq_msg_close(&id);
		if (payload)
			zmq_msg_close(payload);
		goto out;
	}
	zmq_send(s->router, hb, sizeof(hb), ZMQ_SNDMORE);
	zmq_send(s->router, body, blen, payload ? ZMQ_SNDMORE : 0);
	if (payload && zmq_msg_send(payload, s->router, 0) < 0)
		zmq_msg_close(payload);
out:
	if (locked) {
		kick_if_pending(s);
		pthread_mutex_unlock(&s->rlock);
	}
}

static void reply(struct mfs_server *s, struct job *j, uint8_t type,
		  const void *body, size_t blen)
{
	reply_msg(s, j, type, body, blen, NULL);
}

/* ZeroMQ is done with a record sent from the store: unpin it. */
static void release_val(void *data, void *hint)
{
	(void)data;
	mfs_val_release(hint);
	free(hint);
}

static void release_buf(void *data, void *hint)
{
	(void)hint;
	free(data);
}

/*
 * A chunk reply whose payload is the stored record itself (pinned by the
 * store until ZeroMQ has sent it): the record is never copied in user space.
 * Takes v (released here or after the send).
 */
static void reply_chunk_val(struct mfs_server *s, struct job *j,
			    const struct mfs_hash *h, struct mfs_val *v)
{
	struct mfs_val *held = malloc(sizeof(*held));
	zmq_msg_t m;

	if (!held || zmq_msg_init_data(&m, (void *)v->p, v->len, release_val, held)) {
		free(held);
		/* Fall back to a copy. */
		if (zmq_msg_init_size(&m, v->len)) {
			mfs_val_release(v);
			return;
		}
		memcpy(zmq_msg_data(&m), v->p, v->len);
		mfs_val_release(v);
	} else {
		*held = *v;
	}
	reply_msg(s, j, MFS_MSG_CHUNK, h->b, MFS_HASH_LEN, &m);
}

static void handle_pull(struct mfs_server *s, struct job *j)
{
	struct mfs_replica *r = s->r;
	struct mfs_wire_vv *theirs = malloc(sizeof(*theirs));
	mfs_node_t origins[MFS_WIRE_MAX_VV];
	uint64_t seqs[MFS_WIRE_MAX_VV];
	struct mfs_wire_ops_acc a = { .budget = MFS_WIRE_OPS_BUDGET };
	enum snap_why why;
	uint64_t lag = 0;
	int n, following;

	if (!theirs)
		return;
	if (mfs_wire_pull_decode(j->body, j->blen, theirs)) {
		malformed(r, "PULL");
		free(theirs);
		return;
	}
	following = snap_follower(peer_pulled(r, j->h.node, theirs));
	mfs_wire_ops_begin(&a.w);
	why = snap_needed(r, theirs, j->h.node, following || (j->h.flags & MFS_PULL_NOSNAP), &lag);
	if (why) {
		snap_log_why(r, j->h.node, why, lag);
		mfs_wire_ops_finish(&a.w, 0, MFS_OPS_SNAPSHOT);
		goto send;
	}
	n = mfs_ns_vv(r->ns, origins, seqs, MFS_WIRE_MAX_VV);
	for (int i = 0; i < n && !a.more; i++) {
		uint64_t have = 0;

		for (int k = 0; k < theirs->n; k++)
			if (theirs->origin[k] == origins[i])
				have = theirs->seq[k];
		if (origins[i] != j->h.node && seqs[i] > have)
			mfs_ns_ops_since(r->ns, origins[i], have, mfs_wire_ops_acc_add, &a);
	}
	mfs_wire_ops_finish(&a.w, a.count, a.more);
send:
	if (!a.w.oom)
		reply(s, j, MFS_MSG_OPS, a.w.buf, a.w.len);
	mfs_wr_release(&a.w);
	free(theirs);
}

/* A node says where it is reached: pull from it if it is new (members.c). */
static void handle_hello(struct mfs_server *s, struct job *j)
{
	struct mfs_replica *r = s->r;
	char ep[MFS_WIRE_ENDPOINT_MAX + 1];
	struct mfs_wr w = { 0 };

	if (mfs_wire_hello_decode(j->body, j->blen, ep)) {
		malformed(r, "HELLO");
		return;
	}
	members_hello(r, j->h.node, ep, j->key[0] ? j->key : NULL);
	mfs_wire_hello_encode(r->advertise, &w);
	if (!w.oom)
		reply(s, j, MFS_MSG_HELLO, w.buf, w.len);
	mfs_wr_release(&w);
}

static void miss(struct mfs_server *s, struct job *j, const struct mfs_hash *h, uint8_t reason)
{
	uint8_t b[MFS_HASH_LEN + 1];

	memcpy(b, h->b, MFS_HASH_LEN);
	b[MFS_HASH_LEN] = reason;
	reply(s, j, MFS_MSG_MISS, b, sizeof(b));
}

static void free_rec(void *p)
{
	free(p);
}

/*
 * A fine-tune delta record (store/chunk/delta.h) goes out re-encoded with
 * a plain codec: the receiver may lack its bases, and the wire, the disk
 * cache and every peer's decoder stay as they were (doc/format.md, "Delta
 * records").  Costs an encode on this node per chunk served.
 */
static int plain_record(struct mfs_replica *r, const struct mfs_hash *h, struct mfs_val *v)
{
	struct mfs_codec_ctx *ctx = mfs_codec_ctx_thread();
	struct mfs_chunk_bytes b;
	uint8_t *rec = NULL;
	ssize_t n = -ENOMEM;
	int rc;

	mfs_val_release(v);
	if (!ctx)
		return -ENOMEM;
	if ((rc = mfs_chunk_load(r->db, ctx, h, &b, 0)))
		return rc;
	if ((rec = malloc(mfs_chunk_record_bound(b.len))))
		n = mfs_chunk_encode(ctx, b.p, b.len, rec, mfs_chunk_record_bound(b.len), -1);
	mfs_chunk_bytes_release(&b);
	if (n < 0) {
		free(rec);
		return (int)n;
	}
	*v = (struct mfs_val){ .p = rec, .len = (size_t)n, .pin = rec, .release = free_rec };
	return 0;
}

/*
 * Two requests for one queued chunk (a pull and a read, a retry) both saw
 * it queued; the one that lost the swap, or whose recode failed, serves
 * what the index names now if that is encoded, not the raw record it
 * read before: peers still receive the chunk encoded.
 */
static void reread_encoded(struct mfs_replica *r, const struct mfs_hash *h, struct mfs_val *v,
			   uint32_t raw_len)
{
	struct mfs_chunk_info info;
	struct mfs_val now;

	if (mfs_chunk_record_get(r->db, h, &now))
		return;
	if (mfs_chunk_verify(now.p, now.len, &info) || info.raw_len != raw_len ||
	    info.codec == MFS_CODEC_RAW || info.codec == MFS_CODEC_DELTA) {
		mfs_val_release(&now);
		return;
	}
	mfs_val_release(v);
	*v = now;
}

/*
 * Raw record v of h, if it waits on the recode queue, encoded here first,
 * so that the puller gets the encoded record (r->cfg.recode_served): a
 * writer with the codec deferred (option recode) would otherwise send its
 * raw records, and each puller would store them raw and encode them again
 * in its own pass.  The encode is the one this node's pass would do
 * later; it is done at the first pull instead, once for every puller.
 * v becomes the new record, made here (not read back).  The raw record is
 * punched at once: a reader still in it re-reads where the index now
 * points (chunkstore.c).  Never an error: a failed recode sends the raw
 * record, which decodes to the same bytes, and its queue entry stays for
 * the pass.
 */
static void recode_first(struct mfs_replica *r, const struct mfs_hash *h, struct mfs_val *v,
			 const struct mfs_chunk_info *info)
{
	struct mfs_codec_ctx *ctx;
	struct mfs_recode_one one;
	uint8_t *rec;
	size_t len;

	if (!r->cfg.recode_served || info->codec != MFS_CODEC_RAW || v->len < MFS_CHUNK_PACK_MIN ||
	    mfs_recode_queued(r->db, h) != 1 || !(ctx = mfs_codec_ctx_thread()))
		return;
	if (mfs_recode_served(r->ns, ctx, h, v, &one, &rec, &len) || !one.swapped) {
		reread_encoded(r, h, v, info->raw_len);
		return;
	}
	mfs_val_release(v);
	*v = (struct mfs_val){ .p = rec, .len = len, .pin = rec, .release = free_rec };
	(void)mfs_recode_free(r->db, &one);
	__atomic_add_fetch(&r->recoded_served, 1, __ATOMIC_RELAXED);
}

/* The stored record of h if it is whole: 0, -ENOENT, or MFS_ECORRUPT and friends. */
static int load_record(struct mfs_replica *r, const struct mfs_hash *h, uint32_t raw_len,
		       struct mfs_val *v)
{
	struct mfs_chunk_info info;
	int rc = mfs_chunk_record_get(r->db, h, v);

	if (rc)
		return rc;
	rc = mfs_chunk_verify(v->p, v->len, &info);
	if (!rc && info.raw_len != raw_len)
		rc = MFS_ECORRUPT;
	if (!rc && info.codec == MFS_CODEC_DELTA)
		return plain_record(r, h, v); /* released v */
	if (!rc)
		recode_first(r, h, v, &info);
	if (rc)
		mfs_val_release(v);
	return rc;
}

/* Sends rec[0..len) (malloc'ed; taken in every case) as h's CHUNK reply. */
static int send_record(struct mfs_server *s, struct job *j, const struct mfs_hash *h,
		       uint8_t *rec, size_t len)
{
	struct mfs_replica *r = s->r;
	zmq_msg_t m;

	if (zmq_msg_init_data(&m, rec, len, release_buf, NULL)) {
		free(rec);
		return -ENOMEM;
	}
	reply_msg(s, j, MFS_MSG_CHUNK, h->b, MFS_HASH_LEN, &m);
	__atomic_add_fetch(&r->served_chunks, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&r->served_bytes, len, __ATOMIC_RELAXED);
	return 0;
}

/* A copy held only in the disk cache (a proxy often has nothing else). */
static int serve_cached(struct mfs_server *s, struct job *j, const struct mfs_hash *h,
			uint32_t raw_len)
{
	struct mfs_replica *r = s->r;
	struct mfs_chunk_info info;
	uint8_t *rec;
	size_t len;

	if (mfs_diskcache_get(r->dc, h, &rec, &len))
		return -ENOENT;
	if (mfs_chunk_peek(rec, len, &info) || info.raw_len != raw_len) {
		free(rec);
		return -ENOENT;
	}
	return send_record(s, j, h, rec, len);
}

/*
 * A proxy's fetch can end with the chunk in the memory cache only: its
 * record staged in replication's batch or queued at the keeper, in neither
 * the store nor the disk cache yet (t1080 read EIO through its relay).
 * The decoded bytes go out as a raw record; the requester checks their
 * SHA-256 as it does any copy's.
 */
static int serve_decoded(struct mfs_server *s, struct job *j,
			 const struct mfs_hash *h, const struct mfs_cache_entry *e)
{
	size_t cap = mfs_chunk_record_bound(e->len);
	uint8_t *rec = malloc(cap);
	ssize_t n;

	if (!rec)
		return -ENOMEM;
	if ((n = mfs_chunk_encode(NULL, e->data, e->len, rec, cap, MFS_CODEC_RAW)) < 0) {
		free(rec);
		return (int)n;
	}
	return send_record(s, j, h, rec, (size_t)n);
}

static void handle_get(struct mfs_server *s, struct job *j)
{
	struct mfs_replica *r = s->r;
	struct mfs_hash h;
	struct mfs_val v;
	uint32_t raw_len;
	uint8_t flags;
	int rc;

	if (mfs_wire_get_decode(j->body, j->blen, &h, &raw_len, &flags)) {
		malformed(r, "GET");
		return;
	}
	rc = load_record(r, &h, raw_len, &v);
	if (rc && rc != -ENOENT) {
		char hex[MFS_HASH_HEX_LEN + 1];

		mfs_hash_to_hex(&h, hex);
		log_warn("chunk %s: local copy is bad (%s), not sent", hex, mfs_strerror(rc));
	}
	if (rc && !serve_cached(s, j, &h, raw_len))
		return;
	if (rc && (flags & MFS_GET_PROXY)) {
		/* Fetch it for the requester (and keep it): one fetch serves many readers. */
		const struct mfs_cache_entry *e;

		if (!mfs_cache_get(r->cache, &h, raw_len, 0, &e)) {
			rc = load_record(r, &h, raw_len, &v);
			if (rc && (!serve_cached(s, j, &h, raw_len) ||
				   !serve_decoded(s, j, &h, e))) {
				mfs_cache_release(r->cache, e);
				return;
			}
			mfs_cache_release(r->cache, e);
		}
	}
	if (rc) {
		miss(s, j, &h, rc == -ENOENT ? MFS_MISS_ABSENT : MFS_MISS_CORRUPT);
		return;
	}
	__atomic_add_fetch(&r->served_chunks, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&r->served_bytes, v.len, __ATOMIC_RELAXED);
	reply_chunk_val(s, j, &h, &v);
}

static void handle_check(struct mfs_server *s, struct job *j)
{
	struct mfs_replica *r = s->r;
	struct mfs_copy_query *q = malloc(MFS_WIRE_MAX_CHECK * sizeof(*q));
	uint8_t st[MFS_WIRE_MAX_CHECK], flags;
	struct mfs_wr w = { 0 };
	uint16_t n;

	if (!q)
		return;
	if (mfs_wire_check_decode(j->body, j->blen, &flags, q, &n)) {
		malformed(r, "CHECK");
	} else if (!check_local(r, q, n, flags, st)) {
		mfs_wire_have_encode(st, n, &w);
		if (!w.oom)
			reply(s, j, MFS_MSG_HAVE, w.buf, w.len);
	}
	mfs_wr_release(&w);
	free(q);
}

static void handle_snap(struct mfs_server *s, struct job *j)
{
	struct mfs_wr w = { 0 };
	int rc = snap_serve(s->r, j->h.node, j->body, j->blen, &w);

	if (rc == MFS_EFORMAT)
		malformed(s->r, "SNAP");
	else if (!rc)
		reply(s, j, MFS_MSG_SNAPDATA, w.buf, w.len);
	mfs_wr_release(&w);
}

static void job_free(struct job *j)
{
	zmq_msg_close(&j->id);
	free(j->body);
	free(j);
}

static void *worker_main(void *arg)
{
	struct mfs_server *s = arg;

	pthread_setname_np(pthread_self(), "mfs-serve"); /* for perf and top -H */
	in_worker = 1;
	pthread_mutex_lock(&s->lock);
	for (;;) {
		struct job *j;

		while (!s->head && !s->stopping)
			pthread_cond_wait(&s->work, &s->lock);
		if (s->stopping)
			break;
		j = s->head;
		s->head = j->next;
		if (!s->head)
			s->tail = NULL;
		s->qlen--;
		pthread_mutex_unlock(&s->lock);
		if (j->h.type == MFS_MSG_CHECK)
			handle_check(s, j);
		else if (j->h.type == MFS_MSG_SNAP)
			handle_snap(s, j);
		else
			handle_get(s, j);
		job_free(j);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* ---- server thread -------------------------------------------------------- */

/* Decodes a request's header frame into *h: 1 if it may be served, 0 if dropped (logged, counted). */
static int request_header(struct mfs_replica *r, zmq_msg_t *frame, struct job *j)
{
	struct mfs_wire_header *h = &j->h;
	int rc = mfs_wire_header_decode(zmq_msg_data(frame), zmq_msg_size(frame), h);

	if ((rc = header_refused(r, rc, h, frame)) > 0)
		return 0;
	if (rc || (h->type != MFS_MSG_PULL && h->type != MFS_MSG_GET && h->type != MFS_MSG_CHECK &&
		   h->type != MFS_MSG_SNAP && h->type != MFS_MSG_HELLO)) {
		malformed(r, "header");
		return 0;
	}
	if (r->curve) {
		/* Set by the ZAP handler: the key it admitted (curve.h). */
		const char *uid = zmq_msg_gets(frame, "User-Id");

		if (uid && strlen(uid) == MFS_CURVE_Z85_LEN)
			memcpy(j->key, uid, MFS_CURVE_Z85_LEN + 1);
		/* Admitted at the handshake, perhaps revoked since (admit.c). */
		if (!admit_key(r, j->key)) {
			refused(r, j->key);
			return 0;
		}
	}
	spaces_heard(r, h->node, h->space);
	return 1;
}

/* Hands j to the worker pool, or drops it if the queue is full. */
static void enqueue(struct mfs_server *s, struct job *j)
{
	pthread_mutex_lock(&s->lock);
	if (s->qlen >= QUEUE_MAX) {
		pthread_mutex_unlock(&s->lock);
		log_warn("request queue full: a request from node " MFS_NODE_FMT " dropped",
			 MFS_NODE_ARG(j->h.node));
		job_free(j);
		return;
	}
	if (s->tail)
		s->tail->next = j;
	else
		s->head = j;
	s->tail = j;
	s->qlen++;
	pthread_cond_signal(&s->work);
	pthread_mutex_unlock(&s->lock);
}

/* Reads one request off the ROUTER; queues it or drops it. */
static void take_request(struct mfs_server *s)
{
	struct mfs_replica *r = s->r;
	struct job *j = calloc(1, sizeof(*j));
	zmq_msg_t parts[3];
	int n = 0, more, ok = 1;

	zmq_msg_init(&parts[0]);
	do {
		zmq_msg_t m;

		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, s->router, 0) < 0) {
			zmq_msg_close(&m);
			ok = 0;
			break;
		}
		more = zmq_msg_more(&m);
		if (n < 3) {
			if (n == 0)
				zmq_msg_close(&parts[0]);
			parts[n] = m;
		} else {
			zmq_msg_close(&m);
		}
		n++;
	} while (more);
	if (!ok || !j) {
		for (int i = 0; i < (n < 3 ? n : 3); i++)
			zmq_msg_close(&parts[i]);
		free(j);
		return;
	}
	if (n != 3) {
		malformed(r, "frame count");
		goto drop;
	}
	if (!request_header(r, &parts[1], j))
		goto drop;
	j->blen = zmq_msg_size(&parts[2]);
	if (!(j->body = malloc(j->blen ? j->blen : 1)))
		goto drop;
	memcpy(j->body, zmq_msg_data(&parts[2]), j->blen);
	zmq_msg_init(&j->id);
	zmq_msg_move(&j->id, &parts[0]);
	zmq_msg_close(&parts[0]);
	zmq_msg_close(&parts[1]);
	zmq_msg_close(&parts[2]);
	/*
	 * Pulls are answered here, at once: they are the heartbeat, and behind
	 * proxied fetches (which may wait seconds on other peers) a busy node
	 * would look dead.  Reading a megabyte of ops takes milliseconds.
	 */
	if (j->h.type == MFS_MSG_PULL || j->h.type == MFS_MSG_HELLO) {
		/* the ROUTER never blocks: it drops or fails */
		if (j->h.type == MFS_MSG_PULL)
			handle_pull(s, j);
		else
			handle_hello(s, j);
		job_free(j);
		return;
	}
	enqueue(s, j);
	return;
drop:
	for (int i = 0; i < (n < 3 ? n : 3); i++)
		zmq_msg_close(&parts[i]);
	free(j->body);
	free(j);
}

/*
 * The requests waiting on the ROUTER, at most TAKE_BURST (rlock held):
 * 1 if more may wait.
 */
static int take_requests(struct mfs_server *s)
{
	for (int n = 0; n < TAKE_BURST; n++) {
		int events = 0;
		size_t sz = sizeof(events);

		if (zmq_getsockopt(s->router, ZMQ_EVENTS, &events, &sz) || !(events & ZMQ_POLLIN))
			return 0;
		take_request(s);
	}
	return 1;
}

static void *server_main(void *arg)
{
	struct mfs_server *s = arg;
	struct pollfd fds[2] = {
		{ .fd = s->router_fd, .events = POLLIN },
		{ .fd = s->wake_fd, .events = POLLIN },
	};

	pthread_setname_np(pthread_self(), "mfs-router");

	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		uint64_t n;
		int more;

		pthread_mutex_lock(&s->rlock);
		more = take_requests(s);
		pthread_mutex_unlock(&s->rlock);
		/* A burst: let the workers send between two, but sleep not. */
		if (more)
			continue;
		if (poll(fds, 2, -1) < 0 && errno != EINTR)
			break;
		if ((fds[1].revents & POLLIN) && read(s->wake_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
			log_warn("server wakeup: %s", strerror(errno));
	}
	return NULL;
}

int server_start(struct mfs_replica *r, struct mfs_server **out)
{
	struct mfs_server *s = calloc(1, sizeof(*s));
	int one = 1, hwm = 64, rc;
	size_t sz = sizeof(int);

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->r = r;
	s->wake_fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->rlock, NULL);
	pthread_cond_init(&s->work, NULL);
	s->router = zmq_socket(r->zctx, ZMQ_ROUTER);
	if ((s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 || !s->router ||
	    sock_common_setup(r, s->router, MFS_WIRE_MAX_REQUEST) ||
	    zmq_setsockopt(s->router, ZMQ_ROUTER_MANDATORY, &one, sizeof(one)) ||
	    zmq_setsockopt(s->router, ZMQ_SNDHWM, &hwm, sizeof(hwm)) ||
	    (r->curve && mfs_curve_server_setup(s->router, &r->keys)) ||
	    zmq_getsockopt(s->router, ZMQ_FD, &s->router_fd, &sz)) {
		rc = -errno;
		log_error("cannot set up the peer server: %s", zmq_strerror(errno));
		goto fail;
	}
	if (zmq_bind(s->router, r->cfg.listen)) {
		rc = -errno;
		log_error("cannot listen on %s: %s", r->cfg.listen, zmq_strerror(errno));
		goto fail;
	}
	s->nworkers = r->cfg.fetch_threads < 2 ? 2 : r->cfg.fetch_threads;
	if (s->nworkers > MAX_WORKERS)
		s->nworkers = MAX_WORKERS;
	for (int i = 0; i < s->nworkers; i++)
		pthread_create(&s->workers[i], NULL, worker_main, s);
	pthread_create(&s->thread, NULL, server_main, s);
	log_info("listening for peers on %s%s", r->cfg.listen, r->curve ? " (CURVE)" : "");
	*out = s;
	return 0;
fail:
	s->nworkers = 0;
	s->thread = 0;
	server_stop(s);
	return rc;
}

void server_stop(struct mfs_server *s)
{
	if (!s)
		return;
	if (s->thread) {
		uint64_t one = 1;

		__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
		if (write(s->wake_fd, &one, sizeof(one)) < 0)
			log_warn("cannot stop the server thread: %s", strerror(errno));
		pthread_join(s->thread, NULL);
	}
	pthread_mutex_lock(&s->lock);
	s->stopping = 1;
	pthread_cond_broadcast(&s->work);
	pthread_mutex_unlock(&s->lock);
	for (int i = 0; i < s->nworkers; i++)
		pthread_join(s->workers[i], NULL);
	while (s->head) {
		struct job *j = s->head;

		s->head = j->next;
		job_free(j);
	}
	if (s->router)
		zmq_close(s->router);
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->rlock);
	pthread_cond_destroy(&s->work);
	free(s);
}
