/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Self-repair: every node works out from the namespace which chunks it owns
 * (placement.c over the files' replication factors) and pulls the ones it
 * lacks.  The to-do list is the wanted CF, so it survives kill -9 and
 * restarts; entries that fail are retried with exponential backoff.  The
 * writer of a file needs to do nothing: its peers pull.
 *
 * Sources of work: ops applied from peers (sync.c), and a scan of the whole
 * namespace at start and every SCAN_INTERVAL (placement changes when a peer
 * has been down longer than the grace period, and a factor may change).
 *
 * Chunks fetched for reads live in the disk cache (replica/diskcache.h),
 * which evicts them; a chunk this node owns moves from there into the store,
 * where nothing evicts it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "diskcache.h"
#include "internal.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/chunk/cache.h"
#include "store/chunk/chunkstore.h"
#include "store/chunk/codec.h"
#include "store/chunk/manifest.h"
#include "store/kv/db.h"
#include "store/ns/inode_walk.h"
#include "store/ns/member.h"
#include "store/ns/namespace.h"

#define LOG_COMPONENT "repair"
#define BATCH 64
#define SCAN_INTERVAL_MS 30000
#define SCAN_RETRY_MS 5000
#define WANTED_LEN 20           /* u8 kind, u32 raw len, u16 origin, u64 not before, u32 attempts, u8 repl */
#define WANT_OWNED 1            /* kinds: a chunk this node owns */
#define WANT_WARM 2             /* a chunk to fetch into the disk cache (prefetch_open, warmup) */
#define WANT_REPLACE 3          /* a stored copy here failed verification (fsck --repair) */
#define WANT_CHECKED 4          /* owned and lacking, said a peer's fsck --repair */
/*
 * The fsck kinds give up after this many failures: a peer's CHECK may name
 * chunks no file here uses (or a replaced copy may have no good source);
 * the namespace scan queues again, as owned, what this node really owns.
 */
#define REPAIR_TRIES 8
/* A failed entry is retried after 1 s, 2 s, 4 s ... at most 256 s (settle). */
#define BACKOFF_MS(attempts) (1000ull << ((attempts) < 8 ? (attempts) : 8))
#define BACKOFF_MAX_MS BACKOFF_MS(8)
/*
 * Replication yields to reads: while a read fetched from a peer less than
 * YIELD_MS ago, no pull starts (a read of a chunk this node owns hands its
 * record to the store, keep.c, so most of that work is done by the read
 * anyway).  After YIELD_MAX_MS of yielding one batch goes through, so a
 * node that never stops reading still replicates.
 */
#define YIELD_MS 1000
#define YIELD_MAX_MS 10000

struct want {
	struct mfs_hash h;
	uint32_t raw_len, attempts;
	uint16_t origin;
	uint8_t kind, repl;
	int ok;
	int deferred;            /* left for later, as it was (a read is fetching) */
	int nospace;             /* left for later, as it was: the disk is at its margin (room.c) */
	int staged;              /* record written here, index after the flush */
	struct mfs_stored st;
};

struct mfs_repair {
	struct mfs_replica *r;
	pthread_t thread, workers[32];
	int nworkers;
	pthread_mutex_t lock;
	/*
	 * Held around the writes of fresh owned entries (repair_consider_manifest,
	 * repair_queue_checked) and around the drop of stale ones after a scan
	 * (drop_unneeded), so that a drop never takes an entry queued again.
	 */
	pthread_mutex_t qlock;
	pthread_cond_t kick, work, done;
	int kicked, stopping;
	int scan_now;            /* a replication factor changed here: rescan (lock) */
	uint64_t scan_ms;        /* SCAN_INTERVAL_MS, or the test's (set at start) */
	int forced;              /* yielded too long: this batch runs (repair_main) */
	uint64_t yield_since;    /* when it began to yield, 0 if not (repair_main) */
	/* the current batch, handed out to workers */
	struct want batch[BATCH];
	int nbatch, next, finished;
	uint64_t batch_gen;
};

static void want_encode(uint8_t kind, uint8_t repl, uint32_t raw_len, uint16_t origin,
			uint64_t not_before, uint32_t attempts, uint8_t v[WANTED_LEN])
{
	v[19] = repl;
	v[0] = kind;
	put_le32(v + 1, raw_len);
	put_le16(v + 5, origin);
	put_le64(v + 7, not_before);
	put_le32(v + 15, attempts);
}

static void qlock(struct mfs_replica *r, int take)
{
	struct mfs_repair *rp = r->repair;

	if (!rp)
		return;
	if (take)
		pthread_mutex_lock(&rp->qlock);
	else
		pthread_mutex_unlock(&rp->qlock);
}

void repair_consider_manifest(struct mfs_replica *r, const struct mfs_hash *id, int repl,
			      uint16_t origin)
{
	mfs_node_t ids[MFS_MAX_NODES];
	int nids = placement_nodes(r, ids, MFS_MAX_NODES), queued = 0;
	struct mfs_manifest *m;
	struct mfs_batch *b;

	/* The likely holders of a chunk a read fetches (fetch.c note 1). */
	for (int cur = __atomic_load_n(&r->max_repl, __ATOMIC_RELAXED); cur < repl;)
		if (__atomic_compare_exchange_n(&r->max_repl, &cur, repl, 0, __ATOMIC_RELAXED,
						__ATOMIC_RELAXED))
			break;
	if (mfs_manifest_load(r->db, id, &m))
		return;
	if (!(b = mfs_batch_new(r->db))) {
		mfs_manifest_unref(m);
		return;
	}
	for (uint32_t i = 0; i < m->count; i++) {
		const struct mfs_hash *h = &m->e[i].hash;
		uint8_t v[WANTED_LEN];

		/* A hole has no chunk to hold, here or anywhere (manifest.h). */
		if (mfs_manifest_is_hole(&m->e[i]))
			continue;
		if (!place_owns(h, r->self, ids, nids, repl ? repl : 1))
			continue;
		if (mfs_chunk_exists(r->db, h) == 1)
			continue;
		/* An entry already there may be a warm one: owned wins. */
		want_encode(WANT_OWNED, (uint8_t)(repl ? repl : 1), m->e[i].len, origin, 0, 0, v);
		mfs_batch_put(b, MFS_CF_WANTED, h->b, MFS_HASH_LEN, v, sizeof(v));
		queued++;
	}
	if (mfs_batch_count(b)) {
		qlock(r, 1);
		mfs_db_write(r->db, b, MFS_WRITE_ASYNC);
		qlock(r, 0);
	}
	mfs_batch_free(b);
	mfs_manifest_unref(m);
	if (queued)
		repair_kick(r);
}

void mfs_replica_warm(struct mfs_replica *r, const struct mfs_manifest *m, uint16_t origin)
{
	struct mfs_batch *b = mfs_batch_new(r->db);
	uint8_t v[WANTED_LEN];

	for (uint32_t i = 0; b && i < m->count; i++) {
		const struct mfs_hash *h = &m->e[i].hash;

		if (mfs_manifest_is_hole(&m->e[i]) || mfs_chunk_exists(r->db, h) == 1 ||
		    mfs_db_exists(r->db, MFS_CF_WANTED, h->b, MFS_HASH_LEN) == 1)
			continue;
		want_encode(WANT_WARM, 0, m->e[i].len, origin, 0, 0, v);
		mfs_batch_put(b, MFS_CF_WANTED, h->b, MFS_HASH_LEN, v, sizeof(v));
	}
	if (b && mfs_batch_count(b)) {
		mfs_db_write(r->db, b, MFS_WRITE_ASYNC);
		repair_kick(r);
	}
	mfs_batch_free(b);
}

/* The kind of h's entry in the wanted queue, 0 if none. */
static int queued_kind(struct mfs_replica *r, const struct mfs_hash *h)
{
	struct mfs_val v;
	int kind;

	if (mfs_db_get(r->db, MFS_CF_WANTED, h->b, MFS_HASH_LEN, &v, 0))
		return 0;
	kind = v.len == WANTED_LEN ? v.p[0] : 0;
	mfs_val_release(&v);
	return kind;
}

/* Whether the wanted queue holds h as this node's own (kind 1) work. */
static int queued_as_owned(struct mfs_replica *r, const struct mfs_hash *h)
{
	return queued_kind(r, h) == WANT_OWNED;
}

int repair_wanted_owned(struct mfs_replica *r, const struct mfs_hash *h)
{
	int kind = queued_kind(r, h);

	return kind == WANT_OWNED || kind == WANT_CHECKED;
}

/* A read fetched from a peer within YIELD_MS. */
static int reading(struct mfs_replica *r)
{
	return mfs_now_ms() - keep_last_read_ms(r) < YIELD_MS;
}

void repair_queue_checked(struct mfs_replica *r, const struct mfs_copy_query *q, size_t n,
			  const uint8_t *st)
{
	mfs_node_t ids[MFS_MAX_NODES];
	int nids = placement_nodes(r, ids, MFS_MAX_NODES), queued = 0;
	struct mfs_batch *b = mfs_batch_new(r->db);
	uint8_t v[WANTED_LEN];

	for (size_t i = 0; b && i < n; i++) {
		const struct mfs_hash *h = &q[i].h;
		uint8_t kind = st[i] == MFS_COPY_CORRUPT ? WANT_REPLACE : WANT_CHECKED;

		if (st[i] == MFS_COPY_STORED ||
		    (kind == WANT_CHECKED && !place_owns(h, r->self, ids, nids, q[i].repl)))
			continue;
		if (kind == WANT_CHECKED && queued_as_owned(r, h))
			kind = WANT_OWNED; /* this node's own work: keep it, never give it up */
		/* Due now, whatever backoff an entry there had. */
		want_encode(kind, q[i].repl, q[i].raw_len, q[i].origin, 0, 0, v);
		mfs_batch_put(b, MFS_CF_WANTED, h->b, MFS_HASH_LEN, v, sizeof(v));
		queued++;
	}
	if (queued) {
		qlock(r, 1);
		mfs_db_write(r->db, b, MFS_WRITE_ASYNC);
		qlock(r, 0);
	}
	mfs_batch_free(b);
	if (queued)
		repair_kick(r);
}

uint64_t repair_backlog(struct mfs_replica *r)
{
	struct mfs_iter *it = mfs_iter_new(r->db, MFS_CF_WANTED, NULL, 0);
	uint64_t n = 0;

	for (; it && mfs_iter_valid(it); mfs_iter_next(it))
		n++;
	mfs_iter_free(it);
	return n;
}

void mfs_replica_rescan(struct mfs_replica *r)
{
	struct mfs_repair *rp = r->repair;

	if (!rp)
		return;
	pthread_mutex_lock(&rp->lock);
	rp->scan_now = rp->kicked = 1;
	pthread_cond_signal(&rp->kick);
	pthread_mutex_unlock(&rp->lock);
}

void repair_kick(struct mfs_replica *r)
{
	struct mfs_repair *rp = r->repair;

	if (!rp)
		return;
	pthread_mutex_lock(&rp->lock);
	rp->kicked = 1;
	pthread_cond_signal(&rp->kick);
	pthread_mutex_unlock(&rp->lock);
}

/* ---- the scan ------------------------------------------------------------- */

/*
 * Entries no file needs any more.  A chunk queued as owned whose files
 * were all deleted before this node got it, and whose every copy the other
 * nodes' gc then freed (they may: this node had reached the deletion), was
 * never given up: owned work is kept until done, repl_backlog stayed above
 * 0 for good and the node asked every peer for it every 256 s (found by
 * tests/fs/t1357's chaos, t1358).  The periodic scan sees every file
 * version: an owned entry that had failed before the scan began, that no
 * version the scan saw references, and that nobody queued again meanwhile
 * (its value is as it was: a new queueing writes attempts 0) leaves the
 * queue.  A file whose record does not decode keeps them all.
 */
struct stale {
	struct mfs_hash h;
	uint8_t v[WANTED_LEN];
	int needed;
};

struct scan_ctx {
	struct mfs_replica *r;
	struct stale *s;
	size_t n, cap;
	int bad;                 /* a record did not decode: drop nothing */
};

static int by_hash(const void *a, const void *b)
{
	return memcmp(a, b, MFS_HASH_LEN); /* struct stale begins with its hash */
}

/* The owned entries that failed at least once, sorted by hash. */
static void stale_collect(struct scan_ctx *c)
{
	struct mfs_iter *it = mfs_iter_new(c->r->db, MFS_CF_WANTED, NULL, 0);

	for (; it && mfs_iter_valid(it); mfs_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = mfs_iter_key(it, &kl), *v = mfs_iter_value(it, &vl);

		if (kl != MFS_HASH_LEN || vl != WANTED_LEN || v[0] != WANT_OWNED ||
		    get_le32(v + 15) == 0)
			continue;
		if (mfs_grow(&c->s, &c->cap, c->n, sizeof(*c->s)))
			break; /* fewer dropped this time */
		memcpy(c->s[c->n].h.b, k, MFS_HASH_LEN);
		memcpy(c->s[c->n].v, v, WANTED_LEN);
		c->s[c->n++].needed = 0;
	}
	mfs_iter_free(it);
	if (c->n)
		qsort(c->s, c->n, sizeof(*c->s), by_hash);
}

static void stale_mark(struct scan_ctx *c, const struct mfs_hash *id)
{
	struct mfs_manifest *m;

	if (mfs_manifest_load(c->r->db, id, &m)) {
		c->bad = 1; /* cannot tell which chunks it needs */
		return;
	}
	for (uint32_t i = 0; i < m->count; i++) {
		struct stale *e = bsearch(&m->e[i].hash, c->s, c->n, sizeof(*c->s), by_hash);

		if (e)
			e->needed = 1;
	}
	mfs_manifest_unref(m);
}

static void drop_unneeded(struct scan_ctx *c)
{
	struct mfs_batch *b = mfs_batch_new(c->r->db);
	size_t dropped = 0;

	qlock(c->r, 1);
	for (size_t i = 0; b && i < c->n; i++) {
		struct mfs_val v;
		int same;

		if (c->s[i].needed ||
		    mfs_db_get(c->r->db, MFS_CF_WANTED, c->s[i].h.b, MFS_HASH_LEN, &v, 0))
			continue;
		same = v.len == WANTED_LEN && !memcmp(v.p, c->s[i].v, WANTED_LEN);
		mfs_val_release(&v);
		if (!same)
			continue;
		mfs_batch_delete(b, MFS_CF_WANTED, c->s[i].h.b, MFS_HASH_LEN);
		if (dropped++ < 4) {
			char hex[MFS_HASH_HEX_LEN + 1];

			mfs_hash_to_hex(&c->s[i].h, hex);
			log_info("chunk %s: no file needs it any more: out of the replication queue",
				 hex);
		}
	}
	if (b && dropped)
		mfs_db_write(c->r->db, b, MFS_WRITE_ASYNC);
	qlock(c->r, 0);
	mfs_batch_free(b);
	if (dropped > 4)
		log_info("%zu chunks no file needs any more left the replication queue", dropped);
}

static int scan_inode(void *arg, const struct mfs_inode *in)
{
	struct scan_ctx *c = arg;

	if (!in->has_manifest)
		return 0;
	repair_consider_manifest(c->r, &in->manifest, in->repl, (uint16_t)(in->ino >> 48));
	if (c->n)
		stale_mark(c, &in->manifest);
	return 0;
}

static int scan_bad(void *arg, uint64_t ino)
{
	(void)ino;
	((struct scan_ctx *)arg)->bad = 1;
	return 0;
}

/* 0, or the error that cut the scan short (the files after it were not considered). */
static int scan(struct mfs_replica *r)
{
	struct scan_ctx c = { .r = r };
	struct mfs_inode_walk w = { .fn = scan_inode, .bad = scan_bad, .arg = &c,
				    .stop = &r->stopping, .revisions = 1 };
	int rc;

	stale_collect(&c);
	rc = mfs_inode_walk(r->db, NULL, &w);
	if (!rc && !c.bad && !r->stopping && c.n)
		drop_unneeded(&c);
	free(c.s);
	return rc;
}

/* ---- workers ---------------------------------------------------------------- */

/* An owned chunk the disk cache holds moves into the store: no fetch. */
static int promote(struct mfs_replica *r, struct want *w)
{
	uint8_t *rec;
	size_t len;
	int rc = mfs_diskcache_get(r->dc, &w->h, &rec, &len);

	if (rc)
		return rc;
	if (mfs_chunk_peek(rec, len, &w->st.info) || w->st.info.raw_len != w->raw_len)
		rc = -EIO;
	else
		rc = stage_record(r, &w->h, rec, len);
	w->st.reclen = len;
	free(rec);
	if (!rc)
		mfs_diskcache_remove(r->dc, &w->h);
	return rc;
}

/*
 * Fetches w through the chunk cache, the engine reads use (fetch.c notes 1
 * and 5): a read of the same chunk meanwhile waits on this one fetch, and
 * this one waits on a read's.  An owned record is staged here, to be
 * indexed with the batch (settle); a warm one goes to the disk cache.  1 if
 * that is done, the fetch failed (w->ok says which), or a read's fetch is
 * keeping it (w->deferred); 0 when the cache had the bytes and nothing kept
 * them: the caller fetches the record itself.
 */
static int fetch_shared(struct mfs_replica *r, struct want *w)
{
	const struct mfs_cache_entry *e;
	int rc, kept;

	if (!r->cache)
		return 0;
	fetch_as_replication(1);
	rc = mfs_cache_get(r->cache, &w->h, w->raw_len, w->origin, &e);
	kept = fetch_kept(&w->st);
	fetch_as_replication(0);
	if (rc)
		return 1;
	/* Replication's bytes: the first the cache drops. */
	mfs_cache_release_cold(r->cache, e, 1);
	if (kept >= 0) {
		w->ok = 1;
		w->staged = kept == KEEP_STORE;
		__atomic_add_fetch(&r->repl_fetched, 1, __ATOMIC_RELAXED);
		return 1;
	}
	/* Another fetch got the bytes (a read's, which this one waited on). */
	if (keep_busy(r, &w->h)) {
		w->deferred = 1; /* its record is on its way to the keeper */
		return 1;
	}
	if (mfs_chunk_exists(r->db, &w->h) == 1 ||
	    (w->kind == WANT_WARM && mfs_diskcache_has(r->dc, &w->h))) {
		w->ok = 1; /* kept already */
		return 1;
	}
	/* A read's fetch kept it in the disk cache (it was not wanted yet then). */
	if (w->kind != WANT_WARM && !promote(r, w)) {
		w->ok = w->staged = 1;
		return 1;
	}
	return 0;
}

static void work_one(struct mfs_repair *rp, struct want *w)
{
	struct mfs_replica *r = rp->r;
	struct mfs_chunk_bytes bytes;

	if (w->kind == WANT_REPLACE) {
		/* Replaced meanwhile (a read fetched a good copy): done. */
		if (mfs_copy_state_local(r->db, &w->h, w->raw_len, MFS_COPY_DEEP) != MFS_COPY_CORRUPT) {
			w->ok = 1;
			return;
		}
		if (!repl_room(r, w->raw_len)) {
			w->nospace = 1;
			return;
		}
		w->ok = !fetch_chunk(r, &w->h, w->raw_len, w->origin, 1, KEEP_REPLACE, NULL, &bytes);
		if (w->ok)
			mfs_chunk_bytes_release(&bytes);
		return;
	}
	if (mfs_chunk_exists(r->db, &w->h) == 1 ||
	    (w->kind == WANT_WARM && mfs_diskcache_has(r->dc, &w->h))) {
		w->ok = 1;
		return;
	}
	if (w->kind == WANT_OWNED || w->kind == WANT_CHECKED) {
		mfs_node_t ids[MFS_MAX_NODES];
		int n = placement_nodes(r, ids, MFS_MAX_NODES);

		/* Placement may have moved since it was queued (a peer's id learned, a
		 * node gone past its grace): no longer ours, nothing to do. */
		if (!place_owns(&w->h, r->self, ids, n, w->repl)) {
			w->ok = 1;
			return;
		}
	}
	/*
	 * The disk at its margin: an owned chunk later, as it was, once there
	 * is room (room.c); a warm one, best effort, not at all.
	 */
	if (!repl_room(r, w->raw_len)) {
		if (w->kind == WANT_WARM)
			w->ok = 1;
		else
			w->nospace = 1;
		return;
	}
	if (w->kind != WANT_WARM && !promote(r, w)) {
		w->ok = w->staged = 1;
		return;
	}
	/* A read is fetching it (and keeps it), or reads are under way: later. */
	if (keep_busy(r, &w->h) || (!rp->forced && reading(r))) {
		w->deferred = 1;
		__atomic_add_fetch(&r->repl_deferred, 1, __ATOMIC_RELAXED);
		return;
	}
	if (fetch_shared(r, w))
		return;
	w->ok = !fetch_chunk(r, &w->h, w->raw_len, w->origin, w->kind == WANT_WARM,
			     w->kind == WANT_WARM, &w->st, &bytes);
	w->staged = w->ok && w->kind != WANT_WARM;
	if (w->ok)
		__atomic_add_fetch(&r->repl_fetched, 1, __ATOMIC_RELAXED);
	if (w->ok)
		mfs_chunk_bytes_release(&bytes);
}

static void *worker_main(void *arg)
{
	struct mfs_repair *rp = arg;

	pthread_setname_np(pthread_self(), "mfs-repl"); /* for perf and top -H */
	pthread_mutex_lock(&rp->lock);
	while (!rp->stopping) {
		if (rp->next >= rp->nbatch) {
			pthread_cond_wait(&rp->work, &rp->lock);
			continue;
		}
		struct want *w = &rp->batch[rp->next++];

		pthread_mutex_unlock(&rp->lock);
		work_one(rp, w);
		pthread_mutex_lock(&rp->lock);
		if (++rp->finished == rp->nbatch)
			pthread_cond_broadcast(&rp->done);
	}
	pthread_mutex_unlock(&rp->lock);
	return NULL;
}

/*
 * Whether an entry retried not before nb (monotonic ms) is due.  The
 * monotonic clock starts again near 0 when the machine boots, and nb was
 * stored under the clock of the boot that set it: a time further ahead
 * than the longest backoff is another boot's, and due now (else an entry
 * that failed on a machine up for a month would wait a month after a
 * reboot).
 */
static int due(uint64_t nb, uint64_t now)
{
	return nb <= now || nb - now > BACKOFF_MAX_MS;
}

/* Up to BATCH due entries of the wanted CF. */
static int collect(struct mfs_repair *rp, uint64_t now)
{
	struct mfs_iter *it = mfs_iter_new(rp->r->db, MFS_CF_WANTED, NULL, 0);
	int n = 0;

	for (; it && mfs_iter_valid(it) && n < BATCH; mfs_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = mfs_iter_key(it, &kl), *v = mfs_iter_value(it, &vl);

		if (kl != MFS_HASH_LEN || vl != WANTED_LEN || v[0] < WANT_OWNED || v[0] > WANT_CHECKED ||
		    !due(get_le64(v + 7), now))
			continue;
		rp->batch[n].kind = v[0];
		memcpy(rp->batch[n].h.b, k, MFS_HASH_LEN);
		rp->batch[n].raw_len = get_le32(v + 1);
		rp->batch[n].origin = get_le16(v + 5);
		rp->batch[n].attempts = get_le32(v + 15);
		rp->batch[n].repl = v[19];
		rp->batch[n].ok = rp->batch[n].staged = rp->batch[n].deferred = 0;
		rp->batch[n].nospace = 0;
		n++;
	}
	mfs_iter_free(it);
	return n;
}

/* Done entries leave the queue; failed ones come back later (1 s, 2 s, ... 256 s). */
static void settle(struct mfs_repair *rp, uint64_t now)
{
	struct mfs_batch *b = mfs_batch_new(rp->r->db);
	int staged = 0;

	for (int i = 0; i < rp->nbatch; i++)
		staged += rp->batch[i].staged;
	/* The records reach the disk before anything points at them. */
	if (staged && mfs_db_flush(rp->r->db, MFS_CF_CHUNKS)) {
		for (int i = 0; i < rp->nbatch; i++)
			rp->batch[i].ok &= !rp->batch[i].staged;
	}

	for (int i = 0; b && i < rp->nbatch; i++) {
		struct want *w = &rp->batch[i];
		uint8_t v[WANTED_LEN];
		uint64_t delay = BACKOFF_MS(w->attempts);

		if (w->deferred || w->nospace)
			continue;
		if (w->ok) {
			if (w->staged)
				mfs_chunk_stage_index_received(b, &w->h, &w->st.info, w->st.reclen);
			mfs_batch_delete(b, MFS_CF_WANTED, w->h.b, MFS_HASH_LEN);
			continue;
		}
		if ((w->kind == WANT_WARM && w->attempts >= 3) ||
		    ((w->kind == WANT_REPLACE || w->kind == WANT_CHECKED) &&
		     w->attempts >= REPAIR_TRIES)) {
			mfs_batch_delete(b, MFS_CF_WANTED, w->h.b, MFS_HASH_LEN); /* best effort */
			continue;
		}
		want_encode(w->kind, w->repl, w->raw_len, w->origin, now + delay, w->attempts + 1, v);
		mfs_batch_put(b, MFS_CF_WANTED, w->h.b, MFS_HASH_LEN, v, sizeof(v));
	}
	if (b)
		mfs_db_write(rp->r->db, b, MFS_WRITE_ASYNC);
	mfs_batch_free(b);
}

/* Sleeps up to ms, or until kicked or stopping. */
static void nap(struct mfs_repair *rp, int ms)
{
	pthread_mutex_lock(&rp->lock);
	if (!rp->kicked && !rp->stopping) {
		struct timespec ts;

		mono_deadline(&ts, ms);
		pthread_cond_timedwait(&rp->kick, &rp->lock, &ts);
	}
	rp->kicked = 0;
	pthread_mutex_unlock(&rp->lock);
}

/* Whether the batch just settled waited for room: then it naps before the next. */
static int batch_short_of_room(const struct mfs_repair *rp)
{
	for (int i = 0; i < rp->nbatch; i++)
		if (rp->batch[i].nospace)
			return 1;
	return 0;
}

/* Every peer that is not gone has told us its id (or its member record did). */
int peers_all_known(struct mfs_replica *r)
{
	for (int i = 0, n = peer_count(r); i < n; i++) {
		struct mfs_peer *p = &r->peers[i];
		int known;

		pthread_mutex_lock(&p->lock);
		known = p->id != 0 || p->member == MFS_MEMBER_GONE;
		pthread_mutex_unlock(&p->lock);
		if (!known)
			return 0;
	}
	return 1;
}

static void *repair_main(void *arg)
{
	struct mfs_repair *rp = arg;
	struct mfs_replica *r = rp->r;
	uint64_t next_scan = mfs_now_ms() + 1000;

	pthread_setname_np(pthread_self(), "mfs-repl-main");

	/*
	 * Placement needs the peers' ids, learned from their first replies: a
	 * node that started to pull before knowing them all would take on
	 * chunks that are not its own.  Wait for them, or for the time a
	 * silent peer takes to count as down.
	 */
	while (!r->stopping && !peers_all_known(r) &&
	       mfs_now_ms() - r->started_ms < 2 * (uint64_t)r->cfg.peer_timeout_ms)
		nanosleep(&(struct timespec){ 0, 50 * 1000000L }, NULL);
	while (!r->stopping) {
		uint64_t now = mfs_now_ms();
		int n;

		pthread_mutex_lock(&rp->lock);
		if (rp->scan_now)
			next_scan = now;
		rp->scan_now = 0;
		pthread_mutex_unlock(&rp->lock);
		if (now >= next_scan) {
			int rc = scan(r);

			/* Cut short, it missed files: sooner than the next periodic scan. */
			if (rc)
				log_warn("scan for chunks to replicate stopped: %s; again in %d s",
					 mfs_strerror(rc), SCAN_RETRY_MS / 1000);
			next_scan = now + (rc ? SCAN_RETRY_MS : rp->scan_ms);
		}
		/* Reads first: wait while they fetch, up to YIELD_MAX_MS at a time. */
		rp->forced = 0;
		if (reading(r)) {
			if (!rp->yield_since)
				rp->yield_since = now;
			if (now - rp->yield_since < YIELD_MAX_MS) {
				nanosleep(&(struct timespec){ 0, 100 * 1000000L }, NULL);
				continue;
			}
			rp->forced = 1;
		}
		rp->yield_since = 0;
		n = collect(rp, now);
		if (n) {
			pthread_mutex_lock(&rp->lock);
			rp->nbatch = n;
			rp->next = rp->finished = 0;
			pthread_cond_broadcast(&rp->work);
			while (rp->finished < rp->nbatch && !rp->stopping)
				pthread_cond_wait(&rp->done, &rp->lock);
			pthread_mutex_unlock(&rp->lock);
			settle(rp, mfs_now_ms());
			/* The disk is at its margin: look again in a second, not at once. */
			if (batch_short_of_room(rp))
				nap(rp, 1000);
			continue;
		}
		nap(rp, 500);
	}
	return NULL;
}

int repair_start(struct mfs_replica *r, struct mfs_repair **out)
{
	struct mfs_repair *rp = calloc(1, sizeof(*rp));

	*out = NULL;
	if (!rp)
		return -ENOMEM;
	rp->r = r;
	/*
	 * MODELFS_TEST_SCAN_MS=N (test only): the periodic scan every N ms, for
	 * the tests that wait for it to find what a dead peer's chunks left
	 * this node to own (nothing else tells it: t1440).
	 */
	rp->scan_ms = getenv("MODELFS_TEST_SCAN_MS") ? strtoull(getenv("MODELFS_TEST_SCAN_MS"), NULL, 10) :
		      SCAN_INTERVAL_MS;
	pthread_mutex_init(&rp->lock, NULL);
	pthread_mutex_init(&rp->qlock, NULL);
	mono_cond_init(&rp->kick); /* its naps are timed */
	pthread_cond_init(&rp->work, NULL);
	pthread_cond_init(&rp->done, NULL);
	rp->nworkers = r->cfg.fetch_threads < 1 ? 1 : r->cfg.fetch_threads;
	if (rp->nworkers > 32)
		rp->nworkers = 32;
	*out = rp;
	r->repair = rp;
	for (int i = 0; i < rp->nworkers; i++)
		pthread_create(&rp->workers[i], NULL, worker_main, rp);
	pthread_create(&rp->thread, NULL, repair_main, rp);
	return 0;
}

void repair_stop(struct mfs_repair *rp)
{
	if (!rp)
		return;
	pthread_mutex_lock(&rp->lock);
	rp->stopping = 1;
	pthread_cond_broadcast(&rp->kick);
	pthread_cond_broadcast(&rp->work);
	pthread_cond_broadcast(&rp->done);
	pthread_mutex_unlock(&rp->lock);
	pthread_join(rp->thread, NULL);
	for (int i = 0; i < rp->nworkers; i++)
		pthread_join(rp->workers[i], NULL);
	rp->r->repair = NULL;
	pthread_mutex_destroy(&rp->lock);
	pthread_mutex_destroy(&rp->qlock);
	pthread_cond_destroy(&rp->kick);
	pthread_cond_destroy(&rp->work);
	pthread_cond_destroy(&rp->done);
	free(rp);
}
