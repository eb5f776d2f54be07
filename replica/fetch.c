/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Getting a chunk from peers.
 *
 * Notes on the design:
 *  1. Many holders, one link each.  On real networks the link to one holder
 *     is the limit, not the CPU, so a chunk's first request goes to the
 *     likely holder with the fewest requests under way from this node
 *     (struct mfs_peer.inflight): the owners of the chunk at the largest
 *     factor this node has seen (max_repl; every node before its first
 *     scan), or the version's origin when none of them is up.  The cache's
 *     loaders (fuse read-ahead and prefetch, replication, warmup: one
 *     engine) keep fetch_threads requests going, which this spreads
 *     over every holder, so each link carries its share and none idles
 *     while another queues.  Ties go by the chunk's hash, so a quiet node
 *     still spreads its chunks.
 *  2. For a read (not on behalf of another peer) that first request asks
 *     with PROXY: a holder answers at once; an owner that lacks the chunk
 *     fetches it once (its own single-flight) and serves every reader
 *     after that, so N nodes loading a new model do not pull N copies from
 *     the node that wrote it.
 *  3. Then the other nodes in placement order (owners first), the origin,
 *     every other peer that is up; then the same peers again, asked to
 *     fetch it for us: the holders may be nodes this one is not connected to.
 *  4. Peers that are down are skipped.  A reply is used only if its SHA-256
 *     is the chunk's name; a bad copy is logged and the next peer asked.
 *  5. Replication fetches through the chunk cache too (repair.c), so a
 *     read and the replication of one chunk wait on one fetch (the cache's
 *     single-flight); only a read's fetch stamps read_fetch_ms, which
 *     replication yields to.  Replication's worker keeps what it fetched
 *     itself (staged for its batch's index, or in the disk cache): its
 *     records never queue at the keeper ahead of a read's.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "diskcache.h"
#include "internal.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/chunk/chunkstore.h"
#include "store/chunk/codec.h"
#include "store/kv/db.h"

#define LOG_COMPONENT "fetch"
#define MAX_CANDIDATES MFS_MAX_NODES

/* This thread's cache loads are replication's (fetch_as_replication). */
static __thread int tl_repl;
/* Since fetch_as_replication(), a fetch_for_cache here kept its record (how: tl_how). */
static __thread int tl_kept, tl_how;
static __thread struct mfs_stored tl_st;

void fetch_as_replication(int on)
{
	tl_repl = on;
	tl_kept = 0;
}

int fetch_kept(struct mfs_stored *st)
{
	if (tl_kept && tl_how == KEEP_STORE)
		*st = tl_st;
	return tl_kept ? (tl_how == KEEP_STORE ? KEEP_STORE : KEEP_CACHE) : -1;
}

/*
 * Decodes and checks a chunk record.  0 with out filled, MFS_EBADHASH /
 * MFS_ECORRUPT (the copy is bad), or -ENOMEM (ours, not the peer's fault).
 *
 * The SHA-256 of the decoded bytes, which is the chunk's name, is always
 * checked, group by group during the decode (codec.h).  A copy from a peer
 * that is to be kept in the store (kept) is checked for its record's XXH64
 * too, fused with the decode: a record whose bytes hash right but whose
 * XXH64 field is wrong would otherwise be kept, counted as a copy toward
 * the file's factor, yet fail its check at every read here and be refused
 * to every peer (t1480).  Any other copy is only served, or kept in the
 * disk cache, which checks the XXH64 whenever it reads a record back (to
 * serve it, decode it or promote it to the store) and drops one that fails:
 * the check here would be a second one, 0.05-0.1 CPU-s per GiB read of a
 * reader's chunks it does not own.  A copy already here (held for the
 * keeper, staged, stored) passed both when it came.  Decoders bound what
 * they read, so unverified input is safe to decode.
 */
static int check_copy(const struct mfs_hash *h, uint32_t raw_len, const uint8_t *rec,
		      size_t reclen, int kept, struct mfs_chunk_info *info,
		      struct mfs_chunk_bytes *out)
{
	struct mfs_codec_ctx *codec = mfs_codec_ctx_thread();
	struct mfs_hash got;
	ssize_t n;

	memset(out, 0, sizeof(*out));
	if (!codec)
		return -ENOMEM;
	if (mfs_chunk_peek(rec, reclen, info) || info->raw_len != raw_len)
		return MFS_ECORRUPT;
	/* From the pool local loads use: no fresh pages faulted in per chunk. */
	if (mfs_chunk_bytes_alloc(out, raw_len))
		return -ENOMEM;
	n = kept ? mfs_chunk_decode_sha(codec, rec, reclen, out->owned, raw_len, &got)
		 : mfs_chunk_decode_sha_unchecked(codec, rec, reclen, out->owned, raw_len, &got);
	if (n != (ssize_t)raw_len || memcmp(got.b, h->b, MFS_HASH_LEN)) {
		mfs_chunk_bytes_release(out);
		return n == -ENOMEM ? -ENOMEM : n != (ssize_t)raw_len ? MFS_ECORRUPT : MFS_EBADHASH;
	}
	out->p = out->owned;
	out->len = raw_len;
	return 0;
}

int stage_record(struct mfs_replica *r, const struct mfs_hash *h, const uint8_t *rec,
		 size_t reclen)
{
	struct mfs_batch *b = mfs_batch_new(r->db);
	int rc;

	if (!b)
		return -ENOMEM;
	mfs_chunk_stage_record(b, h, rec, reclen);
	rc = mfs_db_write(r->db, b, MFS_WRITE_NOWAL);
	mfs_batch_free(b);
	return rc;
}

/* A good copy over the store's bad one (read path: the local record failed its checksum). */
static int replace_record(struct mfs_replica *r, const struct mfs_hash *h, const uint8_t *rec,
			  size_t reclen, const struct mfs_chunk_info *info, struct mfs_peer *from)
{
	struct mfs_batch *b = mfs_batch_new(r->db);
	char hex[MFS_HASH_HEX_LEN + 1];
	int rc;

	if (!b)
		return -ENOMEM;
	mfs_chunk_stage_record(b, h, rec, reclen);
	mfs_chunk_stage_index_received(b, h, info, reclen);
	rc = mfs_db_write(r->db, b, MFS_WRITE_ASYNC);
	mfs_batch_free(b);
	mfs_hash_to_hex(h, hex);
	if (!rc)
		log_warn("chunk %s: bad local copy replaced by a good one from %s", hex,
			 from->endpoint);
	return rc;
}

/* A verified copy in rr's payload: counted, and kept as as_cache says. */
static int keep_copy(struct mfs_replica *r, struct mfs_peer *p, const struct mfs_hash *h,
		     struct rpc_reply *rr, const struct mfs_chunk_info *info, int as_cache,
		     struct mfs_stored *st, const struct timespec *t0, struct mfs_chunk_bytes *out)
{
	const uint8_t *rec = zmq_msg_data(&rr->payload);
	size_t reclen = zmq_msg_size(&rr->payload);
	int rc = 0;

	__atomic_add_fetch(&r->fetched_chunks, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&r->fetched_bytes, reclen, __ATOMIC_RELAXED);
	mfs_histo_add(&r->fetch_latency, mfs_histo_since_us(t0));
	if (st) {
		st->info = *info;
		st->reclen = reclen;
	}
	if (as_cache == KEEP_REPLACE)
		rc = replace_record(r, h, rec, reclen, info, p);
	else if ((as_cache == KEEP_CACHE && !tl_repl) || as_cache == KEEP_HANDOFF)
		keep_record(r, h, &rr->payload, info, as_cache == KEEP_HANDOFF);
	else if (as_cache == KEEP_CACHE) /* on replication's thread: no hand-off */
		mfs_diskcache_put(r->dc, h, rec, reclen);
	else if ((rc = stage_record(r, h, rec, reclen)))
		mfs_chunk_bytes_release(out);
	return rc;
}

/*
 * p's reply rr to a GET of h (released here): 0 with *out (and the chunk
 * kept here as as_cache says), -ENOENT (MISS), or an error.  t0: when it
 * was asked.
 */
int fetch_take_reply(struct mfs_replica *r, struct mfs_peer *p, const struct mfs_hash *h,
		     uint32_t raw_len, int as_cache, struct mfs_stored *st, struct rpc_reply *rr,
		     const struct timespec *t0, struct mfs_chunk_bytes *out)
{
	struct mfs_chunk_info info;
	struct mfs_hash got;
	char hex[MFS_HASH_HEX_LEN + 1];
	int rc;

	memset(out, 0, sizeof(*out));
	if (rr->h.type == MFS_MSG_MISS) {
		rpc_reply_release(rr);
		return -ENOENT;
	}
	if (rr->h.type != MFS_MSG_CHUNK || !rr->has_payload ||
	    mfs_wire_hash_decode(zmq_msg_data(&rr->body), zmq_msg_size(&rr->body), &got, NULL) ||
	    memcmp(got.b, h->b, MFS_HASH_LEN)) {
		__atomic_add_fetch(&r->malformed, 1, __ATOMIC_RELAXED);
		log_warn("%s: malformed reply to GET, dropped", p->endpoint);
		rpc_reply_release(rr);
		return MFS_EFORMAT;
	}
	/* Its XXH64 only if it goes to the store (check_copy). */
	rc = check_copy(h, raw_len, zmq_msg_data(&rr->payload), zmq_msg_size(&rr->payload),
			as_cache != KEEP_CACHE, &info, out);
	if (rc == MFS_ECORRUPT || rc == MFS_EBADHASH) {
		__atomic_add_fetch(&r->bad_from_peers, 1, __ATOMIC_RELAXED);
		mfs_hash_to_hex(h, hex);
		log_warn("chunk %s from %s does not verify (%s): not used", hex, p->endpoint,
			 mfs_strerror(rc));
	}
	if (!rc)
		rc = keep_copy(r, p, h, rr, &info, as_cache, st, t0, out);
	rpc_reply_release(rr);
	return rc;
}

/* Asks p for h.  0 with *out (and the chunk kept here), or an error. */
static int ask(struct mfs_replica *r, struct mfs_peer *p, const struct mfs_hash *h,
	       uint32_t raw_len, uint8_t flags, int as_cache, struct mfs_stored *st,
	       struct mfs_chunk_bytes *out)
{
	uint8_t body[MFS_WIRE_GET_LEN];
	struct rpc_reply rr;
	int timeout = r->cfg.peer_timeout_ms * ((flags & MFS_GET_PROXY) ? 3 : 1);
	struct timespec t0;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	mfs_wire_get_encode(h, raw_len, flags, body);
	__atomic_add_fetch(&p->inflight, 1, __ATOMIC_RELAXED);
	rc = rpc_call(r, p, MFS_MSG_GET, 0, body, sizeof(body), timeout, &rr);
	__atomic_sub_fetch(&p->inflight, 1, __ATOMIC_RELAXED);
	if (rc)
		return rc;
	return fetch_take_reply(r, p, h, raw_len, as_cache, st, &rr, &t0, out);
}

static void add_candidate(struct mfs_peer **list, int *n, struct mfs_peer *p)
{
	if (!p || !peer_is_up(p))
		return;
	for (int i = 0; i < *n; i++)
		if (list[i] == p)
			return;
	if (*n < MAX_CANDIDATES)
		list[(*n)++] = p;
}

/*
 * Of the likely holders of h (ids: the placement set, ranked for h), the
 * peer with the fewest requests under way (note 1), or NULL if none is up.
 * cap: only peers with fewer bytes than that asked of them by windows
 * (window.c; 0: any); *capped set if one was up but full.
 */
static struct mfs_peer *least_busy_holder(struct mfs_replica *r, const struct mfs_hash *h,
					  const mfs_node_t *ids, int nids, struct mfs_peer *writer,
					  int64_t cap, int *capped)
{
	struct mfs_peer *set[MAX_CANDIDATES], *best = NULL;
	int n = 0, repl = __atomic_load_n(&r->max_repl, __ATOMIC_RELAXED), best_load = 0;

	/* No factor seen yet (the first scan has not run): any node may hold it. */
	for (int i = 0; i < nids && (!repl || i < repl); i++)
		if (ids[i] != r->self)
			add_candidate(set, &n, peer_by_id(r, ids[i]));
	/*
	 * The writer only when no other owner is up: an owner that lacks the
	 * chunk fetches it once for every reader (note 2), where readers that
	 * asked the writer directly would each take a copy from its link.
	 */
	if (!n)
		add_candidate(set, &n, writer);
	/* From a place the hash picks: equal loads do not all go to the first owner. */
	for (int k = 0, start = n ? h->b[1] % n : 0; k < n; k++) {
		struct mfs_peer *p = set[(start + k) % n];
		int load = __atomic_load_n(&p->inflight, __ATOMIC_RELAXED);

		if (cap && __atomic_load_n(&p->wbytes, __ATOMIC_RELAXED) >= cap) {
			*capped = 1;
			continue;
		}
		if (!best || load < best_load) {
			best = p;
			best_load = load;
		}
	}
	return best;
}

static int fetch(struct mfs_replica *r, const struct mfs_hash *h, uint32_t raw_len,
		 uint16_t origin, int allow_proxy, int as_cache, struct mfs_stored *st,
		 struct mfs_chunk_bytes *out)
{
	struct mfs_peer *list[MAX_CANDIDATES], *writer = peer_by_space(r, origin), *first;
	mfs_node_t ids[MAX_CANDIDATES];
	int n = 0, nids = placement_nodes(r, ids, MAX_CANDIDATES), rc = -ENOENT;
	int proxy = allow_proxy && !server_in_worker();

	place_rank(h, ids, nids);
	if ((first = least_busy_holder(r, h, ids, nids, writer, 0, NULL)) &&
	    !(rc = ask(r, first, h, raw_len, proxy ? MFS_GET_PROXY : 0, as_cache, st, out)))
		return 0;
	for (int i = 0; i < nids; i++)
		if (ids[i] != r->self)
			add_candidate(list, &n, peer_by_id(r, ids[i]));
	add_candidate(list, &n, writer);
	for (int i = 0, np = peer_count(r); i < np; i++)
		add_candidate(list, &n, &r->peers[i]);
	for (int i = 0; i < n && !r->stopping; i++)
		if (list[i] != first && !(rc = ask(r, list[i], h, raw_len, 0, as_cache, st, out)))
			return 0;
	/*
	 * Nobody we reach holds it: the holders may be nodes we are not
	 * connected to.  Ask our peers to fetch it for us (one hop: a proxy
	 * fetches directly, it never proxies again).
	 */
	for (int i = 0; i < n && !r->stopping && !server_in_worker(); i++)
		if (!(rc = ask(r, list[i], h, raw_len, MFS_GET_PROXY, as_cache, st, out)))
			return 0;
	return rc == -ENOMEM ? rc : -ENOENT;
}

int fetch_chunk(struct mfs_replica *r, const struct mfs_hash *h, uint32_t raw_len,
		uint16_t origin, int allow_proxy, int as_cache, struct mfs_stored *st,
		struct mfs_chunk_bytes *out)
{
	return fetch(r, h, raw_len, origin, allow_proxy, as_cache, st, out);
}

int fetch_from_diskcache(struct mfs_replica *r, const struct mfs_hash *h, uint32_t raw_len,
			 struct mfs_chunk_bytes *out)
{
	struct mfs_chunk_info info;
	uint8_t *rec;
	size_t reclen;
	int rc = mfs_diskcache_get(r->dc, h, &rec, &reclen);

	if (rc)
		return rc;
	struct mfs_codec_ctx *codec = mfs_codec_ctx_thread();

	if (!codec) {
		free(rec);
		return -ENOMEM;
	}
	rc = -EIO;
	memset(out, 0, sizeof(*out));
	/* mfs_diskcache_get checked the record's XXH64: decode without a second pass. */
	if (!mfs_chunk_peek(rec, reclen, &info) && info.raw_len == raw_len &&
	    !mfs_chunk_bytes_alloc(out, raw_len) &&
	    mfs_chunk_decode_verified(codec, rec, &info, out->owned, raw_len) == (ssize_t)raw_len) {
		out->p = out->owned;
		out->len = raw_len;
		rc = 0;
	}
	free(rec);
	if (rc) {
		mfs_chunk_bytes_release(out);
		mfs_diskcache_remove(r->dc, h);
		rc = -ENOENT;
	}
	return rc;
}

struct mfs_peer *fetch_pick(struct mfs_replica *r, const struct mfs_hash *h, uint16_t origin,
			    int64_t cap, int *capped)
{
	mfs_node_t ids[MAX_CANDIDATES];
	int nids = placement_nodes(r, ids, MAX_CANDIDATES);

	*capped = 0;
	place_rank(h, ids, nids);
	return least_busy_holder(r, h, ids, nids, peer_by_space(r, origin), cap, capped);
}

/* A copy already here, checked (rc): counted, or -ENOENT when it failed. */
static int reused(struct mfs_replica *r, int rc)
{
	if (!rc)
		__atomic_add_fetch(&r->fetch_reused, 1, __ATOMIC_RELAXED);
	return rc == -ENOMEM ? rc : rc ? -ENOENT : 0;
}

/*
 * A chunk whose record this node fetched and has not finished keeping:
 * queued at the keeper or being written (keep.c), or staged in the store
 * without its index yet (by the keeper, or by a replication worker, which
 * indexes its batch of 64 after one flush).  Decoded from that record, not
 * fetched again: the chunk cache dropped the bytes before a reader got
 * there.  The record verified when it came; it is checked again here all
 * the same (SHA-256), as any copy that is served.  0 with *out, -ENOENT,
 * or -ENOMEM.
 */
static int fetch_from_unkept(struct mfs_replica *r, const struct mfs_hash *h, uint32_t raw_len,
			     struct mfs_chunk_bytes *out)
{
	struct mfs_chunk_info info;
	struct mfs_val v = { 0 };
	size_t reclen = 0;
	zmq_msg_t m;
	int held = keep_held(r, h, &m, &reclen), rc;

	if (held == -ENOMEM)
		return held;
	if (held == 0) {
		rc = check_copy(h, raw_len, zmq_msg_data(&m), zmq_msg_size(&m), 0, &info, out);
		zmq_msg_close(&m);
	} else {
		/* Not the keeper's: staged by replication, of whatever length (or by no one). */
		rc = mfs_chunk_staged_get(r->db, h, held == 1 ? reclen : 0, &v);
		if (!rc)
			rc = check_copy(h, raw_len, v.p, v.len, 0, &info, out);
		mfs_val_release(&v);
	}
	return reused(r, rc);
}

/*
 * A chunk indexed in the store after the caller's lookup there missed: a
 * record staged by the keeper or by a replication batch got its index
 * while this chunk waited (in the window's queue, say, for milliseconds
 * under load), and left the keeper's sight.  Read from the store and
 * checked as a fetched copy (SHA-256), silently: only if that fails is
 * the store's copy bad, to be replaced.  Taking the index alone for proof
 * of a bad copy fetched such chunks twice, and logged a false "bad local
 * copy" (t1355 failed 1 run in 20-50 under load; 2 in 3 with the wait
 * widened by 3 ms).  0 with *out, -ENOENT or -ENOMEM.
 */
static int fetch_from_store(struct mfs_replica *r, const struct mfs_hash *h, uint32_t raw_len,
			    struct mfs_chunk_bytes *out)
{
	struct mfs_chunk_info info;
	struct mfs_val v = { 0 };
	int rc = mfs_chunk_record_get(r->db, h, &v);

	if (!rc)
		rc = check_copy(h, raw_len, v.p, v.len, 0, &info, out);
	mfs_val_release(&v);
	return reused(r, rc);
}

int fetch_prepare(struct mfs_replica *r, const struct mfs_hash *h, uint32_t len,
		  struct mfs_chunk_bytes *out, int *keep)
{
	int rc = fetch_from_unkept(r, h, len, out), bad = 0;

	if (rc == -ENOENT)
		rc = fetch_from_diskcache(r, h, len, out);
	if (rc == -ENOENT && mfs_chunk_exists(r->db, h) == 1)
		bad = (rc = fetch_from_store(r, h, len, out)) == -ENOENT;
	if (rc == 0 || rc == -ENOMEM)
		return rc;
	/*
	 * In the store but not loadable: our copy is bad, and the fetched one
	 * replaces it.  A chunk this node's replication wants goes to the store:
	 * the read's fetch is the only one.
	 */
	if (bad)
		*keep = KEEP_REPLACE;
	else if (!repair_wanted_owned(r, h))
		*keep = KEEP_CACHE;
	else
		/* Replication's own worker stages it and indexes it with its batch. */
		*keep = tl_repl ? KEEP_STORE : KEEP_HANDOFF;
	return 1;
}

/*
 * A reader of a file whose only holder is gone gets EIO, and the kernel
 * asks again page by page: about 150 failed fetches of one chunk a second
 * were seen, and a loader reading on makes thousands.  One WARN line each
 * would flood the log (on the data dir's disk).  So at most FAIL_LOG_PER_S
 * lines a second; the others are counted (status fetch_failures counts
 * them all) and the next line logged says how many were not.
 */
#define FAIL_LOG_PER_S 10

static pthread_mutex_t fail_log_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t fail_log_since;   /* start of the current second, monotonic ms (fail_log_lock) */
static unsigned fail_log_n;       /* lines logged in it (fail_log_lock) */
static uint64_t fail_log_skipped; /* failures not logged since the last line (fail_log_lock) */

/* Whether to log this failure; *skipped: how many were not, before it. */
static int fail_log_ok(uint64_t *skipped)
{
	uint64_t now = mfs_now_ms();
	int ok;

	pthread_mutex_lock(&fail_log_lock);
	if (now - fail_log_since >= 1000) {
		fail_log_since = now;
		fail_log_n = 0;
	}
	ok = fail_log_n < FAIL_LOG_PER_S;
	if (ok) {
		fail_log_n++;
		*skipped = fail_log_skipped;
		fail_log_skipped = 0;
	} else {
		fail_log_skipped++;
	}
	pthread_mutex_unlock(&fail_log_lock);
	return ok;
}

int fetch_finish(struct mfs_replica *r, const struct mfs_hash *h, int keep, int rc)
{
	char hex[MFS_HASH_HEX_LEN + 1];
	uint64_t skipped;

	if (!rc && keep != KEEP_REPLACE) {
		tl_kept = 1;
		tl_how = keep;
	}
	if (rc) {
		__atomic_add_fetch(&r->fetch_failures, 1, __ATOMIC_RELAXED);
		if (fail_log_ok(&skipped)) {
			mfs_hash_to_hex(h, hex);
			if (skipped)
				log_warn("chunk %s: no peer has a good copy (%s); %llu more failed "
					 "fetches not logged", hex, mfs_strerror(rc),
					 (unsigned long long)skipped);
			else
				log_warn("chunk %s: no peer has a good copy (%s)", hex, mfs_strerror(rc));
		}
		rc = -EIO;
	}
	return rc;
}

int fetch_retry(struct mfs_replica *r, const struct mfs_hash *h, uint32_t len, uint16_t origin,
		int keep, struct mfs_chunk_bytes *out)
{
	return fetch(r, h, len, origin, 1, keep, NULL, out);
}

int fetch_for_cache(void *arg, const struct mfs_hash *h, uint32_t len, uint16_t origin,
		    struct mfs_chunk_bytes *out)
{
	struct mfs_replica *r = arg;
	int rc, keep;

	if ((rc = fetch_prepare(r, h, len, out, &keep)) <= 0)
		return rc;
	keep_fetch_begin(r, h, !tl_repl);
	rc = fetch(r, h, len, origin, 1, keep, keep == KEEP_STORE ? &tl_st : NULL, out);
	keep_fetch_end(r, h, !tl_repl);
	return fetch_finish(r, h, keep, rc);
}
