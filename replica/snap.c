/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The bounded op log and snapshot bootstrap (doc/replication.md, "Op log
 * bound and snapshots").
 *
 * Trimming: once a second this node drops the ops that it and every peer
 * that counts (placement's view: a known id, up or down for less than
 * grace_s; and any peer that pulled within grace_s) hold, as their PULLs
 * said (gc_peers.c keeps the last one).  A peer that counts but has not
 * pulled since this node started holds everything back.  A peer gone past
 * grace no longer counts: when it comes back it is behind the log base and
 * bootstraps from a snapshot, and counts again from its first PULL on.
 *
 * Serving: a SNAP with id 0 makes an image (store/ns/ns_snap.c) of the
 * namespace now, kept in memory with its SHA-256 and handed out in chunks by
 * offset; the requester asks for each chunk in turn (flow control is the
 * request/reply itself).  One image at a time; dropped a minute after its
 * last request.  An image younger than REUSE_MS is given to the next
 * requester too, unless a taker of it would still be behind.
 *
 * Bootstrapping: a PULL answered with OPS `more` = SNAPSHOT (this node lacks
 * ops the peer no longer holds, or is snapshot_lag_ops or more behind, where
 * replaying ops would be slower) makes the sync thread fetch an image whole, check its SHA-256
 * and every record, and only then merge it (store/ns/ns_snap.c): a peer that
 * dies mid-stream leaves nothing applied, and the next peer is asked for a
 * new image from the start.  One bootstrap at a time per node.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/maint/gc_marks.h"
#include "store/ns/member.h"
#include "store/ns/namespace.h"

#define LOG_COMPONENT "snapshot"
#define REUSE_MS 5000
#define IDLE_DROP_MS 60000
#define TRIM_PERIOD_MS 1000
/* A failed bootstrap: pull ops (where the peer still has them) for this long, */
#define RETRY_MS 30000
/* ... and try no bootstrap again for this long (a hostile or broken peer
 * that always asks for one must not make this node fetch images nonstop). */
#define BACKOFF_MS 5000
/* Chunk size while snapshot_throttle_ms is set (tests: a stream of many chunks). */
#define THROTTLE_CHUNK (16u << 10)

struct mfs_snap {
	pthread_mutex_t lock;        /* the image below; held while one is built */
	uint8_t *img;
	size_t len;
	uint64_t id, built_ms, used_ms, next_id;
	struct mfs_hash sha;
	pthread_mutex_t boot;        /* one bootstrap at a time */
	uint64_t gen;                /* bootstraps done (atomic) */
	uint64_t failed_ms;          /* last failed bootstrap (atomic) */
	uint64_t backoff_ms;         /* BACKOFF_MS, or the test's (set at init) */
	int tail_pending;            /* an image merged, its tail not pulled yet (atomic) */
	uint64_t why_logged_ms;      /* snap_log_why's last line (atomic) */
	pthread_t trimmer;
	int started;
};

/* ---- trimming ------------------------------------------------------------------ */

/* Lowers s[] to what p's last PULL held.  -EAGAIN if p counts and has not pulled. */
static int clamp_by_peer(struct mfs_replica *r, struct mfs_peer *p, const mfs_node_t *o,
			 uint64_t *s, int n, uint64_t now)
{
	uint64_t grace = (uint64_t)r->cfg.grace_s * 1000;
	int rc = 0;

	pthread_mutex_lock(&p->lock);
	/* Not a member placement counts (a removed one is not contacted: its last
	 * pull would hold the log back for ever): it will bootstrap.  Nor one
	 * down past grace, unless it pulled since: back, and not reached by this
	 * node yet, it would have the ops it is pulling dropped under it and
	 * bootstrap again and again while writes go on (t1195). */
	if (!p->id || p->id == r->self || p->member == MFS_MEMBER_GONE || p->retired ||
	    (p->state != PEER_UP && now - p->down_since_ms >= grace &&
	     (!p->pulled || now - p->pulled_ms >= grace)))
		goto out;
	if (!p->pulled) {
		rc = -EAGAIN;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		uint64_t have = 0;

		for (int k = 0; k < p->pulled->n; k++)
			if (p->pulled->origin[k] == o[i])
				have = p->pulled->seq[k];
		if (have < s[i])
			s[i] = have;
	}
out:
	pthread_mutex_unlock(&p->lock);
	return rc;
}

static void trim_once(struct mfs_replica *r)
{
	mfs_node_t *o = malloc(MFS_NS_MAX_ORIGINS * sizeof(*o));
	uint64_t *s = malloc(MFS_NS_MAX_ORIGINS * sizeof(*s)), now = mfs_now_ms(), dropped = 0;
	int n = o && s ? mfs_ns_vv(r->ns, o, s, MFS_NS_MAX_ORIGINS) : -ENOMEM, rc = 0;

	for (int i = 0, np = peer_count(r); i < np && n > 0 && !rc; i++)
		rc = clamp_by_peer(r, &r->peers[i], o, s, n, now);
	/* A mark made meanwhile holds the vv of its moment: never below these. */
	if (n > 0 && !rc && !(rc = mfs_gc_marks_floor(r->db, o, s, n)) &&
	    (rc = mfs_ns_trim(r->ns, o, s, n, &dropped)))
		log_warn("cannot trim the op log: %s", mfs_strerror(rc));
	if (dropped)
		__atomic_add_fetch(&r->oplog_trimmed, dropped, __ATOMIC_RELAXED);
	free(o);
	free(s);
}

static void drop_idle_image(struct mfs_snap *sn)
{
	pthread_mutex_lock(&sn->lock);
	if (sn->img && mfs_now_ms() - sn->used_ms > IDLE_DROP_MS) {
		free(sn->img);
		sn->img = NULL;
		sn->len = 0;
		sn->id = 0;
	}
	pthread_mutex_unlock(&sn->lock);
}

static void *trim_main(void *arg)
{
	struct mfs_replica *r = arg;

	while (!r->stopping) {
		sync_nap(r, TRIM_PERIOD_MS);
		if (r->stopping)
			break;
		trim_once(r);
		drop_idle_image(r->snap);
	}
	return NULL;
}

int snap_init(struct mfs_replica *r)
{
	struct mfs_snap *sn = calloc(1, sizeof(*sn));

	if (!sn)
		return -ENOMEM;
	/*
	 * MODELFS_TEST_SNAP_BACKOFF_MS=N (test only): N ms between a failed
	 * bootstrap and the next, for the tests that make one fail on purpose.
	 */
	sn->backoff_ms = getenv("MODELFS_TEST_SNAP_BACKOFF_MS") ?
			 strtoull(getenv("MODELFS_TEST_SNAP_BACKOFF_MS"), NULL, 10) : BACKOFF_MS;
	pthread_mutex_init(&sn->lock, NULL);
	pthread_mutex_init(&sn->boot, NULL);
	r->snap = sn;
	return 0;
}

int snap_start(struct mfs_replica *r)
{
	if (pthread_create(&r->snap->trimmer, NULL, trim_main, r))
		return -EAGAIN;
	r->snap->started = 1;
	return 0;
}

/* After r->stopping is set. */
void snap_stop(struct mfs_replica *r)
{
	struct mfs_snap *sn = r->snap;

	if (!sn)
		return;
	if (sn->started)
		pthread_join(sn->trimmer, NULL);
	pthread_mutex_destroy(&sn->lock);
	pthread_mutex_destroy(&sn->boot);
	free(sn->img);
	free(sn);
	r->snap = NULL;
}

/* ---- serving --------------------------------------------------------------------- */

/*
 * A puller that pulled within FOLLOW_MS follows this node's writes: when a
 * burst of writes outruns it by snapshot_lag_ops, it pulls them as ops.  An
 * image then would be worse: it holds the whole namespace, however few the
 * ops, and writes during its fetch make its tail longer again (t1197; t1195
 * in CI: a follower 1,000 ops behind for a moment was sent a 21,242-record
 * image that took 49 s to fetch).  The lag rule is for a node back from a
 * long silence, or new.
 */
#define FOLLOW_MS 60000

int snap_follower(uint64_t prev_ms)
{
	return prev_ms && mfs_now_ms() - prev_ms < FOLLOW_MS;
}

/* A joiner that cannot fetch an image pulls again every heartbeat. */
#define WHY_LOG_EVERY_MS 10000

void snap_log_why(struct mfs_replica *r, mfs_node_t node, enum snap_why why, uint64_t lag)
{
	uint64_t now = mfs_now_ms(), last = __atomic_load_n(&r->snap->why_logged_ms, __ATOMIC_RELAXED);

	if (last && now - last < WHY_LOG_EVERY_MS)
		return;
	__atomic_store_n(&r->snap->why_logged_ms, now, __ATOMIC_RELAXED);
	log_info("node " MFS_NODE_FMT " is %llu ops behind%s: answered with a snapshot",
		 MFS_NODE_ARG(node), (unsigned long long)lag,
		 why == SNAP_BEHIND ? ", some below the log base" : " and not following");
}

enum snap_why snap_needed(struct mfs_replica *r, const struct mfs_wire_vv *theirs,
			  mfs_node_t requester, int ops_wanted, uint64_t *lag_out)
{
	mfs_node_t *o = malloc(MFS_NS_MAX_ORIGINS * sizeof(*o)), *bo = malloc(MFS_NS_MAX_ORIGINS * sizeof(*bo));
	uint64_t *s = malloc(MFS_NS_MAX_ORIGINS * sizeof(*s)), *bs = malloc(MFS_NS_MAX_ORIGINS * sizeof(*bs));
	uint64_t lag = 0;
	int n = 0, nb = 0, behind = 0;

	if (o && s && bo && bs) {
		n = mfs_ns_vv(r->ns, o, s, MFS_NS_MAX_ORIGINS);
		nb = mfs_ns_log_base(r->ns, bo, bs, MFS_NS_MAX_ORIGINS);
	}
	for (int i = 0; i < n; i++) {
		uint64_t have = 0;

		if (o[i] == requester)
			continue; /* its own ops: it has them all */
		for (int k = 0; k < theirs->n; k++)
			if (theirs->origin[k] == o[i])
				have = theirs->seq[k];
		if (s[i] <= have)
			continue;
		lag += s[i] - have;
		for (int k = 0; k < nb; k++)
			if (bo[k] == o[i] && have < bs[k])
				behind = 1;
	}
	free(o);
	free(s);
	free(bo);
	free(bs);
	if (lag_out)
		*lag_out = lag;
	if (behind)
		return SNAP_BEHIND;
	if (!ops_wanted && r->cfg.snapshot_lag_ops && lag >= (uint64_t)r->cfg.snapshot_lag_ops)
		return SNAP_LAGGING;
	return SNAP_NOT_NEEDED;
}

/* Tests (snapshot_throttle_ms): the build pauses this many times the throttle
 * between taking its view and reading it, so writers surely run meanwhile. */
#define THROTTLE_BUILD_PAUSES 10

/*
 * A new image into sn (locked).  0 or an error.  The namespace lock is held
 * only to take the image's point in time (mfs_ns_snap_begin); its hold is
 * logged and kept for the status (snapshot_lock_us).
 */
static int build_image(struct mfs_replica *r, struct mfs_snap *sn)
{
	struct mfs_wr w = { 0 };
	struct mfs_snap_info info;
	struct mfs_ns_snap_job job;
	uint64_t t0 = mfs_now_ms(), during = 0;
	int rc;

	/* The last image's size and a margin: one allocation, most times. */
	if (sn->len)
		mfs_wr_reserve(&w, sn->len + sn->len / 8);
	rc = mfs_ns_snap_begin(r->ns, &w, &info, &job);

	if (!rc) {
		__atomic_store_n(&r->snapshot_lock_us, info.locked_us, __ATOMIC_RELAXED);
		if (r->cfg.snapshot_throttle_ms)
			sync_nap(r, THROTTLE_BUILD_PAUSES * r->cfg.snapshot_throttle_ms);
		rc = mfs_ns_snap_end(r->ns, &job, &w, &info);
		during = mfs_ns_seq(r->ns) - job.own;
	}
	if (!rc && mfs_sha256(w.buf, w.len, &sn->sha))
		rc = -ENOMEM;
	if (rc) {
		log_warn("cannot make a namespace snapshot: %s", mfs_strerror(rc));
		mfs_wr_release(&w);
		return rc;
	}
	free(sn->img);
	sn->img = w.buf;
	sn->len = w.len;
	sn->id = (mfs_now_ms() << 8) | (++sn->next_id & 0xff);
	sn->built_ms = mfs_now_ms();
	log_info("snapshot %llx: %llu records, %zu bytes, made in %llu ms, namespace locked "
		 "%llu us; %llu ops committed here meanwhile", (unsigned long long)sn->id,
		 (unsigned long long)info.records, sn->len, (unsigned long long)(sn->built_ms - t0),
		 (unsigned long long)info.locked_us, (unsigned long long)during);
	return 0;
}

/* The kept image's version vector (sn locked), to free; NULL if it cannot be had. */
static struct mfs_wire_vv *image_vv(const struct mfs_snap *sn)
{
	struct mfs_wire_vv *vv = malloc(sizeof(*vv));
	int n = vv ? mfs_ns_snap_vv(sn->img, sn->len, vv->origin, vv->seq, MFS_WIRE_MAX_VV) : -1;

	if (n < 0) {
		free(vv);
		return NULL;
	}
	vv->n = (uint16_t)n;
	return vv;
}

/*
 * Whether the kept image (sn locked) would still bring its next taker far
 * enough: a joiner that merged it and still needed a snapshot (its vector
 * below this node's log base, trimmed meanwhile) would only be given the
 * same image again until REUSE_MS ran out
 * (t1195 under load: the same image applied 7 times in 5 s).
 */
static int image_still_helps(struct mfs_replica *r, const struct mfs_snap *sn)
{
	struct mfs_wire_vv *vv = image_vv(sn);
	/* Its taker follows this node from then on (joiner_holds_image). */
	int helps = vv && !snap_needed(r, vv, 0, 1, NULL);

	free(vv);
	return helps;
}

/*
 * A joiner fetching an image counts for trimming as if it had pulled the
 * image's vector: it does not PULL until it has merged the image, and a
 * fetch longer than grace_s made this node stop counting it and drop the
 * ops after the image, so that it needed image after image while writes
 * went on (t1195: 5 snapshots under load).  sn locked.
 */
static void joiner_holds_image(struct mfs_replica *r, const struct mfs_snap *sn,
			       mfs_node_t requester)
{
	struct mfs_wire_vv *vv = image_vv(sn);

	if (vv)
		peer_pulled(r, requester, vv);
	free(vv);
}

int snap_serve(struct mfs_replica *r, mfs_node_t requester, const uint8_t *body, size_t blen,
	       struct mfs_wr *out)
{
	struct mfs_snap *sn = r->snap;
	struct mfs_wire_snapdata d = { .status = MFS_SNAP_OK };
	uint64_t id, off, now = mfs_now_ms();
	size_t chunk = r->cfg.snapshot_throttle_ms ? THROTTLE_CHUNK : MFS_WIRE_SNAP_CHUNK;

	if (mfs_wire_snapreq_decode(body, blen, &id, &off))
		return MFS_EFORMAT;
	pthread_mutex_lock(&sn->lock);
	if (id == 0 && (!sn->img || now - sn->built_ms > REUSE_MS || !image_still_helps(r, sn)) &&
	    build_image(r, sn))
		d.status = MFS_SNAP_FAILED;
	else if (!sn->img || (id && id != sn->id) || off >= sn->len)
		d.status = MFS_SNAP_GONE;
	if (d.status == MFS_SNAP_OK) {
		d.id = sn->id;
		d.total = sn->len;
		d.offset = off;
		d.sha = sn->sha;
		d.data = sn->img + off;
		d.len = sn->len - off < chunk ? sn->len - off : chunk;
		sn->used_ms = now;
		joiner_holds_image(r, sn, requester);
	}
	mfs_wire_snapdata_encode(&d, out);
	pthread_mutex_unlock(&sn->lock);
	if (r->cfg.snapshot_throttle_ms) {
		struct timespec ts = { r->cfg.snapshot_throttle_ms / 1000,
				       (r->cfg.snapshot_throttle_ms % 1000) * 1000000L };

		nanosleep(&ts, NULL);
	}
	/* Counted as the first chunk leaves, not before the throttle's wait:
	 * a status that shows it means the joiner is being sent bytes (t1180). */
	if (d.status == MFS_SNAP_OK && !off)
		__atomic_add_fetch(&r->snapshots_served, 1, __ATOMIC_RELAXED);
	return out->oom ? -ENOMEM : 0;
}

/* ---- bootstrapping ------------------------------------------------------------- */

/* One SNAPDATA for the image so far (id 0 before the first). 0, or an error. */
static int fetch_chunk_of(struct mfs_replica *r, struct mfs_peer *p, struct mfs_wire_snapdata *first,
			  struct mfs_wr *img)
{
	uint8_t req[MFS_WIRE_SNAP_REQ_LEN];
	int pt = r->cfg.peer_timeout_ms;
	/* The first reply waits for the image to be made: seconds for millions of files. */
	int timeout = first->id ? (5 * pt > 2000 ? 5 * pt : 2000) : (60 * pt > 60000 ? 60 * pt : 60000);
	struct mfs_wire_snapdata d;
	struct rpc_reply rr;
	int rc;

	mfs_wire_snapreq_encode(first->id, img->len, req);
	if ((rc = rpc_call(r, p, MFS_MSG_SNAP, 0, req, sizeof(req), timeout, &rr)))
		return rc;
	if (rr.h.type != MFS_MSG_SNAPDATA ||
	    mfs_wire_snapdata_decode(zmq_msg_data(&rr.body), zmq_msg_size(&rr.body), &d)) {
		log_warn("%s: malformed reply to SNAP, dropped", p->endpoint);
		rc = MFS_EFORMAT;
	} else if (d.status != MFS_SNAP_OK) {
		log_warn("%s: snapshot %s", p->endpoint,
			 d.status == MFS_SNAP_GONE ? "gone (the peer restarted or dropped it)" :
			 "could not be made");
		rc = d.status == MFS_SNAP_GONE ? -ESTALE : -EIO;
	} else if (first->id && (d.id != first->id || d.total != first->total ||
				 memcmp(d.sha.b, first->sha.b, MFS_HASH_LEN))) {
		log_warn("%s: snapshot changed mid-stream, dropped", p->endpoint);
		rc = MFS_EFORMAT;
	} else if (d.offset != img->len) {
		log_warn("%s: snapshot chunk at %llu, asked for %zu: dropped", p->endpoint,
			 (unsigned long long)d.offset, img->len);
		rc = MFS_EFORMAT;
	} else {
		if (!first->id) {
			*first = d;
			/* The whole image in one allocation (a peer that lies about
			 * its size fails here, or at the size check in fetch_image). */
			mfs_wr_reserve(img, d.total);
		}
		mfs_wr_put(img, d.data, d.len);
		rc = img->oom ? -ENOMEM : 0;
	}
	if (rc == MFS_EFORMAT)
		__atomic_add_fetch(&r->malformed, 1, __ATOMIC_RELAXED);
	rpc_reply_release(&rr);
	return rc;
}

/* A whole image from p, its SHA-256 checked. */
static int fetch_image(struct mfs_replica *r, struct mfs_peer *p, struct mfs_wr *img)
{
	struct mfs_wire_snapdata first = { 0 };
	struct mfs_hash h;
	int rc;

	do
		rc = fetch_chunk_of(r, p, &first, img);
	while (!rc && img->len < first.total && !r->stopping);
	if (!rc && img->len != first.total)
		rc = -ECANCELED;
	if (!rc && mfs_sha256(img->buf, img->len, &h))
		rc = -ENOMEM;
	if (!rc && memcmp(h.b, first.sha.b, MFS_HASH_LEN)) {
		log_warn("%s: snapshot fails its SHA-256, dropped", p->endpoint);
		__atomic_add_fetch(&r->malformed, 1, __ATOMIC_RELAXED);
		rc = MFS_ECORRUPT;
	}
	return rc;
}

/*
 * The image moved log bases past ops this node never held: gc marks below
 * them cannot be rescanned and go (gc_marks.h).  A crash before this leaves
 * such marks; gc then misses only re-references made in ops it never held.
 */
static int drop_stale_marks(struct mfs_replica *r, const struct mfs_wr *img)
{
	mfs_node_t *o = malloc(MFS_NS_MAX_ORIGINS * sizeof(*o));
	uint64_t *s = malloc(MFS_NS_MAX_ORIGINS * sizeof(*s));
	int n = o && s ? mfs_ns_snap_vv(img->buf, img->len, o, s, MFS_NS_MAX_ORIGINS) : -ENOMEM;

	if (n > 0)
		n = mfs_gc_marks_drop_below(r->db, o, s, n);
	free(o);
	free(s);
	return n < 0 ? n : 0;
}

static int bootstrap_from(struct mfs_replica *r, struct mfs_peer *p)
{
	struct mfs_wr img = { 0 };
	struct mfs_snap_info info;
	uint64_t t0 = mfs_now_ms(), t1;
	int rc = fetch_image(r, p, &img);

	t1 = mfs_now_ms();
	if (!rc) {
		rc = mfs_ns_snap_apply(r->ns, img.buf, img.len, r->cfg.on_change,
				       r->cfg.on_change_arg, &info);
		if (!rc)
			rc = drop_stale_marks(r, &img);
		if (rc == MFS_EFORMAT) {
			__atomic_add_fetch(&r->malformed, 1, __ATOMIC_RELAXED);
			log_warn("%s: snapshot image is malformed (its header or a record fails its "
				 "check), dropped", p->endpoint);
		}
	}
	if (rc)
		log_warn("%s: snapshot bootstrap failed after %zu bytes: %s; nothing applied",
			 p->endpoint, img.len, mfs_strerror(rc));
	else
		log_info("bootstrapped from %s: %llu records (%llu changed here), %zu bytes, "
			 "fetched in %llu ms, applied in %llu ms", p->endpoint,
			 (unsigned long long)info.records, (unsigned long long)info.won, img.len,
			 (unsigned long long)(t1 - t0), (unsigned long long)(mfs_now_ms() - t1));
	mfs_wr_release(&img);
	return rc;
}

uint64_t snap_generation(struct mfs_replica *r)
{
	return __atomic_load_n(&r->snap->gen, __ATOMIC_ACQUIRE);
}

int snap_recently_failed(struct mfs_replica *r)
{
	uint64_t t = __atomic_load_n(&r->snap->failed_ms, __ATOMIC_RELAXED);

	return t && mfs_now_ms() - t < RETRY_MS;
}

/*
 * After an image, the ops since it are its tail: pulled as ops, however
 * many, not answered with another image for being snapshot_lag_ops behind.
 * Writes during a fetch that took longer than snapshot_lag_ops of them
 * made every image bigger than the last, the joiner fetching image after
 * image and never catching up (t1195 under load: 4 images of 3,515 to
 * 120,170 records, the last fetched in 126 s).  A log trimmed past the
 * joiner still gets it an image (snap_needed: behind).
 */
int snap_tail_pending(struct mfs_replica *r)
{
	return __atomic_load_n(&r->snap->tail_pending, __ATOMIC_RELAXED);
}

void snap_tail_pulled(struct mfs_replica *r)
{
	if (snap_tail_pending(r))
		__atomic_store_n(&r->snap->tail_pending, 0, __ATOMIC_RELAXED);
}

int snap_bootstrap(struct mfs_replica *r, struct mfs_peer *first, uint64_t gen)
{
	struct mfs_snap *sn = r->snap;
	int rc = -EHOSTUNREACH;

	pthread_mutex_lock(&sn->boot);
	if (snap_generation(r) != gen) {
		pthread_mutex_unlock(&sn->boot);
		return 0; /* another sync thread bootstrapped meanwhile: pull again */
	}
	if (sn->failed_ms && mfs_now_ms() - sn->failed_ms < sn->backoff_ms) {
		pthread_mutex_unlock(&sn->boot);
		return -EAGAIN;
	}
	/* The peer that said so first, then every other peer that answers. */
	for (int i = -1, np = peer_count(r); i < np && rc && !r->stopping; i++) {
		struct mfs_peer *p = i < 0 ? first : &r->peers[i];

		if (i >= 0 && (p == first || !peer_is_up(p)))
			continue;
		rc = bootstrap_from(r, p);
	}
	if (rc) {
		__atomic_store_n(&sn->failed_ms, mfs_now_ms(), __ATOMIC_RELAXED);
		__atomic_add_fetch(&r->snapshot_failures, 1, __ATOMIC_RELAXED);
	} else {
		__atomic_add_fetch(&r->snapshots_applied, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&sn->tail_pending, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&sn->gen, 1, __ATOMIC_RELEASE);
		/* The owned chunks of every file the image brought: one scan, not one per file. */
		mfs_replica_rescan(r);
	}
	pthread_mutex_unlock(&sn->boot);
	return rc;
}

void snap_status(struct mfs_replica *r, FILE *f)
{
	uint64_t held = 0, folded = 0;

	mfs_ns_log_held(r->ns, &held, &folded);
	fprintf(f, "oplog_ops %llu\n", (unsigned long long)held);
	fprintf(f, "oplog_folded %llu\n", (unsigned long long)folded);
	fprintf(f, "oplog_trimmed %llu\n", (unsigned long long)r->oplog_trimmed);
	fprintf(f, "snapshots_served %llu\n", (unsigned long long)r->snapshots_served);
	fprintf(f, "snapshot_lock_us %llu\n",
		(unsigned long long)__atomic_load_n(&r->snapshot_lock_us, __ATOMIC_RELAXED));
	fprintf(f, "snapshots_applied %llu\n", (unsigned long long)r->snapshots_applied);
	fprintf(f, "snapshot_failures %llu\n", (unsigned long long)r->snapshot_failures);
}
