/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Chunk cache; see cache.h.
 *
 * Notes on the design:
 *  1. One mutex (c->lock) protects the hash table, the LRU list, every
 *     entry's state/refs and the counters.  Decoding runs outside it.
 *  2. Entry states: LOADING -> READY, or LOADING -> removed (load failed).
 *     Waiters sleep on the entry's own condition (e->done) and re-check; a
 *     failed load wakes them with the error in e->rc, and the last of them
 *     frees the entry.  One condition per entry, not one for the cache: a
 *     streaming read has several READs waiting on different chunks, and a
 *     shared one woke all of them at every load.
 *  3. Only READY entries with refs == 0 are on the LRU list and evictable.
 *     A sequential reader that has read a chunk to its end releases it
 *     cold, at the evicting end: the kernel's page cache holds those bytes
 *     now, and the chunks prefetched ahead of it, which it has yet to
 *     read, are what the cache must keep.  So a cache of a few prefetch
 *     windows serves any number of streaming readers without reloading.
 *  4. Each thread keeps its own codec context (pthread key), so decoding
 *     needs no lock and no allocation per request.
 *  5. With a window set (the replica's pipelined fetch), a prefetch thread
 *     does not load one queued chunk at a time: it runs the window, which
 *     takes the queued chunks (mfs_cache_job_next: those in the store are
 *     loaded there and then), keeps many of them asked of peers at once,
 *     and completes each as its reply comes, taking newly queued chunks
 *     meanwhile.  Queuing wakes no thread while WINDOW_RUNS runs go on,
 *     and a run handles every reply that has arrived per wakeup: not a
 *     hand-off and a wakeup per chunk.  Several runs, so decoding and
 *     verifying use both cores, also on a busy machine.  A read's miss (mfs_cache_get_read) that
 *     is not in the store goes to the runs too, ahead of the prefetches,
 *     waking one through an eventfd it polls with its sockets: the kernel's
 *     readahead sends many READs at once, and each fetching its own chunk
 *     was most of the fetching, one request per thread.
 *  6. A delta record's load (delta.h) takes its bases' bytes from here
 *     when they are loaded (mfs_delta_src_set around each load): a server
 *     that reads a base, then its fine-tune, decodes the base once, and
 *     the fine-tune's read costs 1.2-1.5x a plain file's, not 1.6-2.1x.
 *     Only READY entries, referenced while used, and never a load from
 *     here: a load that waited for another could wait for itself (a base
 *     that is the chunk being loaded), and a cold read is no dearer than
 *     without it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cache.h"
#include "chunkstore.h"
#include "codec.h"
#include "delta.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/base/lru.h"

#define LOG_COMPONENT "cache"
#define PREFETCH_QUEUE 64
#define MAX_PREFETCH_THREADS 32
#define WINDOW_RUNS 4           /* prefetch threads running the window at once (note 5) */

/* DROPPED: taken out by mfs_cache_drop() while referenced; freed at the last release. */
enum entry_state { LOADING, READY, FAILED, DROPPED };

struct entry {
	struct mfs_cache_entry pub;   /* first: the public view */
	struct mfs_lru_node node;     /* node.key: the chunk's hash; on the LRU when unused */
	struct mfs_chunk_bytes bytes;
	enum entry_state state;
	int refs;
	int rc;                       /* load error when FAILED */
	pthread_cond_t done;          /* broadcast when state leaves LOADING */
	struct entry *next_victim;    /* out of the table, to be freed */
	struct entry *fg_next;        /* a read's, queued for the window (lock) */
	uint32_t fg_len;
	uint16_t fg_origin;
};

struct prefetch_req {
	struct mfs_hash hash;
	uint32_t len;
	uint16_t origin;
};

struct mfs_cache {
	struct mfs_db *db;
	mfs_cache_remote_fn remote;   /* lock */
	void *remote_arg;             /* lock */
	mfs_cache_window_fn window;   /* lock */
	void *window_arg;             /* lock */
	int windows;                  /* window runs under way; lock */
	struct entry *fg_head, *fg_tail; /* reads' chunks for the window, first (lock) */
	int kick_fd;                  /* eventfd: wakes the runs for a read's chunk */
	int remote_calls;             /* calls of remote or window under way; lock */
	pthread_mutex_t lock;
	pthread_cond_t unset;         /* remote_calls reached 0 (mfs_cache_set_remote waits) */
	struct mfs_lru table;         /* every entry by hash; unused ones on its LRU */
	size_t bytes, capacity;
	struct mfs_cache_stats st;
	/* prefetch queue, protected by lock */
	pthread_cond_t work;
	struct prefetch_req queue[PREFETCH_QUEUE];
	unsigned qhead, qlen;
	int stopping;
	int nthreads;
	pthread_t threads[MAX_PREFETCH_THREADS];
};


static struct entry *entry_of(struct mfs_lru_node *n)
{
	return n ? mfs_lru_entry(n, struct entry, node) : NULL;
}

static struct entry *find(struct mfs_cache *c, const struct mfs_hash *h)
{
	return entry_of(mfs_lru_find(&c->table, h));
}

static void entry_free(struct entry *e)
{
	mfs_chunk_bytes_release(&e->bytes);
	pthread_cond_destroy(&e->done);
	free(e);
}

/* Evicts unreferenced entries until the cache fits; called with lock held. */
static void evict(struct mfs_cache *c, struct entry **victims)
{
	struct entry *e;

	while (c->bytes > c->capacity && (e = entry_of(mfs_lru_oldest(&c->table)))) {
		mfs_lru_remove(&c->table, &e->node);
		c->bytes -= e->pub.len;
		c->st.entries--;
		e->next_victim = *victims; /* freed after unlocking */
		*victims = e;
	}
}


/*
 * A delta's base, if cached and loaded (note 6): referenced, never loaded
 * here.  Called by a load outside the lock.
 */
static const uint8_t *base_get(void *arg, const struct mfs_hash *h, size_t *len, const void **ref)
{
	struct mfs_cache *c = arg;
	struct entry *e;

	pthread_mutex_lock(&c->lock);
	e = find(c, h);
	if (!e || e->state != READY) {
		pthread_mutex_unlock(&c->lock);
		return NULL;
	}
	e->refs++;
	mfs_lru_unlink(&e->node);
	pthread_mutex_unlock(&c->lock);
	*len = e->pub.len;
	*ref = e;
	return e->pub.data;
}

static void base_put(void *arg, const void *ref)
{
	mfs_cache_release(arg, ref);
}

/* e's copy in this node's store (e LOADING, referenced by the caller), checked. */
static int load_local(struct mfs_cache *c, struct entry *e, uint32_t len)
{
	struct mfs_codec_ctx *ctx = mfs_codec_ctx_thread();
	const struct mfs_delta_src src = { base_get, base_put, c };
	int rc = -ENOMEM;

	if (ctx) {
		mfs_delta_src_set(&src);
		/* e->bytes are read next by the kernel's copy of a reply: not cached (codec.h). */
		mfs_codec_set_stream_out(ctx, 1);
		rc = mfs_chunk_load(c->db, ctx, &e->node.key, &e->bytes, 0);
		mfs_codec_set_stream_out(ctx, 0);
		mfs_delta_src_set(NULL);
	}

	if (!rc && e->bytes.len != len) {
		char hex[MFS_HASH_HEX_LEN + 1];

		mfs_hash_to_hex(&e->node.key, hex);
		log_error("chunk %s: length %u, manifest says %u", hex, e->bytes.len, len);
		mfs_chunk_bytes_release(&e->bytes);
		rc = MFS_ECORRUPT;
	}
	return rc;
}

/* Not here, or our copy is bad: another node's copy, verified there. */
static int wants_remote(int rc)
{
	return rc == -ENOENT || rc == MFS_ECORRUPT || rc == MFS_EBADHASH || rc == MFS_EFORMAT;
}

/*
 * Ends e's load with rc (0: e->bytes hold it) and wakes its waiters.
 * counted: the load was one of c->remote_calls.
 */
static void finish(struct mfs_cache *c, struct entry *e, uint32_t len, int rc, int counted)
{
	struct entry *victims = NULL;

	/* One lock for the count and the state, so a load wakes its waiters once. */
	pthread_mutex_lock(&c->lock);
	if (counted && --c->remote_calls == 0)
		pthread_cond_broadcast(&c->unset);
	if (rc) {
		e->state = FAILED;
		e->rc = rc;
		mfs_lru_remove(&c->table, &e->node);
	} else {
		e->state = READY;
		e->pub.data = e->bytes.p;
		e->pub.len = len;
		c->bytes += len;
		c->st.entries++;
		evict(c, &victims);
	}
	pthread_mutex_unlock(&c->lock);
	/*
	 * After unlocking: a waiter woken under the lock blocked on it at once,
	 * a second context switch per waiter and chunk.  e stays alive: the
	 * caller holds a reference until this returns.
	 */
	pthread_cond_broadcast(&e->done);
	while (victims) {
		struct entry *next = victims->next_victim;

		entry_free(victims);
		victims = next;
	}
}

/* After load_local gave rc: from the remote source if it wants one, then finished. */
static int load_remote(struct mfs_cache *c, struct entry *e, uint32_t len, uint16_t origin,
		       int rc)
{
	int counted = 0;              /* this load is one of c->remote_calls */

	if (wants_remote(rc)) {
		mfs_cache_remote_fn remote;
		void *arg;

		pthread_mutex_lock(&c->lock);
		remote = c->remote;
		arg = c->remote_arg;
		/* Counted in while the lock is held, so a stop that clears `remote` waits for it. */
		if (remote) {
			c->remote_calls++;
			counted = 1;
		}
		pthread_mutex_unlock(&c->lock);
		if (remote)
			rc = remote(arg, &e->node.key, len, origin, &e->bytes);
	}
	finish(c, e, len, rc, counted);
	return rc;
}

/* Loads e (state LOADING, referenced by the caller) outside the lock. */
static int load(struct mfs_cache *c, struct entry *e, uint32_t len, uint16_t origin)
{
	return load_remote(c, e, len, origin, load_local(c, e, len));
}

/*
 * Drops a reference; called with lock held.  Returns the entry if it must be
 * freed.  cold: the entry goes to the evicting end of the LRU (note 3).
 */
static struct entry *unref_locked(struct mfs_cache *c, struct entry *e, int cold)
{
	/* A release without a get would put the entry on the LRU twice. */
	if (e->refs <= 0)
		BUG("cache entry released more often than taken");
	if (--e->refs > 0)
		return NULL;
	if (e->state == FAILED || e->state == DROPPED)
		return e;
	mfs_lru_push(&c->table, &e->node, cold);
	return NULL;
}

/*
 * Waits for referenced e to load (lock held, and dropped); its result for
 * a reader of expect_len bytes.  The reference stays with *out on success.
 */
static int wait_entry(struct mfs_cache *c, struct entry *e, uint32_t expect_len,
		      const struct mfs_cache_entry **out)
{
	struct entry *dead = NULL;
	int rc = 0;

	while (e->state == LOADING)
		pthread_cond_wait(&e->done, &c->lock);
	if (e->state == FAILED) {
		rc = e->rc;
		dead = unref_locked(c, e, 0);
	} else if (e->pub.len != expect_len) {
		rc = MFS_ECORRUPT;
		dead = unref_locked(c, e, 0);
	}
	pthread_mutex_unlock(&c->lock);
	if (dead)
		entry_free(dead);
	if (!rc)
		*out = &e->pub;
	return rc;
}

/*
 * Hands loading e (not in the store) to the window runs (note 5), lock held:
 * a run under way is woken through the kick fd, else a prefetch thread.
 */
static void to_window(struct mfs_cache *c, struct entry *e, uint32_t len, uint16_t origin)
{
	uint64_t one = 1;

	e->refs++;                    /* the job's, dropped by mfs_cache_job_done */
	e->fg_len = len;
	e->fg_origin = origin;
	e->fg_next = NULL;
	if (c->fg_tail)
		c->fg_tail->fg_next = e;
	else
		c->fg_head = e;
	c->fg_tail = e;
	if (c->windows && write(c->kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("cannot wake the window: %s", strerror(errno));
	if (!c->windows)
		pthread_cond_signal(&c->work);
}

static int get(struct mfs_cache *c, const struct mfs_hash *h, uint32_t expect_len,
	       uint16_t origin, int windowed, const struct mfs_cache_entry **out)
{
	struct entry *e, *dead = NULL;
	int rc = 0;

	*out = NULL;
	pthread_mutex_lock(&c->lock);
	e = find(c, h);
	if (e) {
		e->refs++;
		mfs_lru_unlink(&e->node);
		if (e->state == LOADING)
			c->st.waits++;
		else
			c->st.hits++;
		return wait_entry(c, e, expect_len, out);
	}
	c->st.misses++;
	if (!(e = calloc(1, sizeof(*e)))) {
		pthread_mutex_unlock(&c->lock);
		return -ENOMEM;
	}
	e->node.key = *h;
	pthread_cond_init(&e->done, NULL);
	e->state = LOADING;
	e->refs = 1;
	mfs_lru_insert(&c->table, &e->node);
	pthread_mutex_unlock(&c->lock);

	/* A window needs a prefetch thread to run it. */
	if (windowed && c->kick_fd >= 0 && c->nthreads) {
		rc = load_local(c, e, expect_len);
		pthread_mutex_lock(&c->lock);
		if (wants_remote(rc) && c->window) {
			to_window(c, e, expect_len, origin);
			return wait_entry(c, e, expect_len, out);
		}
		pthread_mutex_unlock(&c->lock);
		rc = load_remote(c, e, expect_len, origin, rc);
	} else {
		rc = load(c, e, expect_len, origin);
	}
	if (rc) {
		pthread_mutex_lock(&c->lock);
		dead = unref_locked(c, e, 0);
		pthread_mutex_unlock(&c->lock);
		if (dead)
			entry_free(dead);
		return rc;
	}
	*out = &e->pub;
	return 0;
}

int mfs_cache_get(struct mfs_cache *c, const struct mfs_hash *h, uint32_t expect_len, uint16_t origin,
		  const struct mfs_cache_entry **out)
{
	return get(c, h, expect_len, origin, 0, out);
}

int mfs_cache_get_read(struct mfs_cache *c, const struct mfs_hash *h, uint32_t expect_len,
		       uint16_t origin, const struct mfs_cache_entry **out)
{
	return get(c, h, expect_len, origin, 1, out);
}

void mfs_cache_release_cold(struct mfs_cache *c, const struct mfs_cache_entry *pub, int cold)
{
	struct entry *e = (struct entry *)pub, *victims = NULL, *dead;

	if (!pub)
		return;
	pthread_mutex_lock(&c->lock);
	dead = unref_locked(c, e, cold); /* dropped while held: the last holder frees it */
	evict(c, &victims);
	pthread_mutex_unlock(&c->lock);
	if (dead)
		entry_free(dead);
	while (victims) {
		struct entry *next = victims->next_victim;

		entry_free(victims);
		victims = next;
	}
}

void mfs_cache_release(struct mfs_cache *c, const struct mfs_cache_entry *e)
{
	mfs_cache_release_cold(c, e, 0);
}

int mfs_cache_stream_advance(uint64_t *front, uint64_t off, uint64_t end, uint64_t slack)
{
	uint64_t at = __atomic_load_n(front, __ATOMIC_RELAXED);
	int in = at == off ? MFS_STREAM_NEXT :
		 end - off >= MFS_STREAM_READ_MIN && off + slack >= at && off <= at + slack ?
		 MFS_STREAM_NEAR : 0;

	if (!in) {
		__atomic_store_n(front, end, __ATOMIC_RELAXED);
		return 0;
	}
	/* Only forward: a READ answered late does not pull the front back. */
	while (at < end &&
	       !__atomic_compare_exchange_n(front, &at, end, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
	return in;
}

void mfs_cache_prefetch(struct mfs_cache *c, const struct mfs_hash *h, uint32_t len,
			uint16_t origin)
{
	int queued = 0, wake;

	if (!c->nthreads)
		return;
	pthread_mutex_lock(&c->lock);
	if (!find(c, h) && c->qlen < PREFETCH_QUEUE) {
		int dup = 0;

		for (unsigned i = 0; i < c->qlen && !dup; i++)
			dup = !memcmp(c->queue[(c->qhead + i) % PREFETCH_QUEUE].hash.b, h->b, MFS_HASH_LEN);
		if (!dup) {
			c->queue[(c->qhead + c->qlen++) % PREFETCH_QUEUE] = (struct prefetch_req){ *h, len, origin };
			queued = 1;
		}
	}
	/*
	 * A window run takes what is queued as its replies come (note 5): no
	 * thread to wake per chunk unless fewer than WINDOW_RUNS run.
	 */
	wake = queued && (!c->window || c->windows < WINDOW_RUNS);
	pthread_mutex_unlock(&c->lock);
	/* Unlocked first, so the thread woken does not block on the lock at once. */
	if (wake)
		pthread_cond_signal(&c->work);
}

/* Runs the window once (lock held, dropped meanwhile): it drains the queue. */
static void run_window(struct mfs_cache *c)
{
	mfs_cache_window_fn fn = c->window;
	void *arg = c->window_arg;

	c->windows++;
	c->remote_calls++;
	pthread_mutex_unlock(&c->lock);
	fn(arg, c);
	pthread_mutex_lock(&c->lock);
	c->windows--;
	if (--c->remote_calls == 0)
		pthread_cond_broadcast(&c->unset);
}

int mfs_cache_job_next(struct mfs_cache *c, struct mfs_cache_job *j)
{
	for (;;) {
		struct prefetch_req q;
		struct entry *e;
		int rc;

		pthread_mutex_lock(&c->lock);
		/* A read waits for these: before any prefetch. */
		if ((e = c->fg_head)) {
			if (!(c->fg_head = e->fg_next))
				c->fg_tail = NULL;
			*j = (struct mfs_cache_job){ .hash = e->node.key, .len = e->fg_len,
						     .origin = e->fg_origin, .read = 1,
						     .priv = e };
			pthread_mutex_unlock(&c->lock);
			return 1;
		}
		/* Loaded or loading since it was queued: nothing to do. */
		while (c->qlen && find(c, &c->queue[c->qhead].hash)) {
			c->qhead = (c->qhead + 1) % PREFETCH_QUEUE;
			c->qlen--;
		}
		if (!c->qlen || c->stopping || !(e = calloc(1, sizeof(*e)))) {
			pthread_mutex_unlock(&c->lock);
			return 0;
		}
		q = c->queue[c->qhead];
		c->qhead = (c->qhead + 1) % PREFETCH_QUEUE;
		c->qlen--;
		c->st.prefetches++;
		c->st.misses++;
		e->node.key = q.hash;
		pthread_cond_init(&e->done, NULL);
		e->state = LOADING;
		e->refs = 1;                  /* the job's, dropped by mfs_cache_job_done */
		mfs_lru_insert(&c->table, &e->node);
		pthread_mutex_unlock(&c->lock);
		*j = (struct mfs_cache_job){ .hash = q.hash, .len = q.len, .origin = q.origin, .priv = e };
		if (wants_remote(rc = load_local(c, e, q.len)))
			return 1;
		mfs_cache_job_done(c, j, rc, NULL);
	}
}

void mfs_cache_job_done(struct mfs_cache *c, struct mfs_cache_job *j, int rc,
			struct mfs_chunk_bytes *bytes)
{
	struct entry *e = j->priv, *dead;

	if (!rc && bytes) {
		e->bytes = *bytes;        /* taken over */
		memset(bytes, 0, sizeof(*bytes));
	}
	finish(c, e, j->len, rc, 0);
	pthread_mutex_lock(&c->lock);
	dead = unref_locked(c, e, 0);
	pthread_mutex_unlock(&c->lock);
	if (dead)
		entry_free(dead);
}

void mfs_cache_set_window(struct mfs_cache *c, mfs_cache_window_fn fn, void *arg)
{
	pthread_mutex_lock(&c->lock);
	struct entry *fg;

	c->window = fn;
	c->window_arg = arg;
	/* Whoever unsets it may free its argument once this returns. */
	while (c->remote_calls)
		pthread_cond_wait(&c->unset, &c->lock);
	/* No run took these, and none will: their readers get an error, as without a source. */
	fg = fn ? NULL : c->fg_head;
	if (!fn)
		c->fg_head = c->fg_tail = NULL;
	pthread_mutex_unlock(&c->lock);
	while (fg) {
		struct entry *next = fg->fg_next;
		struct mfs_cache_job j = { .hash = fg->node.key, .len = fg->fg_len, .priv = fg };

		mfs_cache_job_done(c, &j, -EIO, NULL);
		fg = next;
	}
}

int mfs_cache_window_fd(struct mfs_cache *c)
{
	uint64_t n;

	/* Read: the next kick wakes a poll again (nonblocking: another run may have read it). */
	if (read(c->kick_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("window kick: %s", strerror(errno));
	return c->kick_fd;
}

static void *prefetch_thread(void *arg)
{
	struct mfs_cache *c = arg;

	pthread_setname_np(pthread_self(), "mfs-prefetch"); /* for perf and top -H */
	pthread_mutex_lock(&c->lock);
	for (;;) {
		struct prefetch_req r;
		const struct mfs_cache_entry *e;

		/* The runs under way take what is queued: no third one (note 5). */
		while (((!c->qlen && !c->fg_head) || (c->window && c->windows >= WINDOW_RUNS)) &&
		       !c->stopping)
			pthread_cond_wait(&c->work, &c->lock);
		if (c->stopping)
			break;
		if (c->window) {
			run_window(c);
			continue;
		}
		if (!c->qlen)
			continue;
		r = c->queue[c->qhead];
		c->qhead = (c->qhead + 1) % PREFETCH_QUEUE;
		c->qlen--;
		/*
		 * Loaded or loading since it was queued (a READ got there first):
		 * nothing to do, and waiting on it would idle this thread while
		 * the chunks after it wait in the queue.
		 */
		if (find(c, &r.hash))
			continue;
		c->st.prefetches++;
		pthread_mutex_unlock(&c->lock);
		if (!mfs_cache_get(c, &r.hash, r.len, r.origin, &e))
			mfs_cache_release(c, e);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

void mfs_cache_set_remote(struct mfs_cache *c, mfs_cache_remote_fn fn, void *arg)
{
	pthread_mutex_lock(&c->lock);
	c->remote = fn;
	c->remote_arg = arg;
	/* Whoever unsets the source may free it once this returns. */
	while (c->remote_calls)
		pthread_cond_wait(&c->unset, &c->lock);
	pthread_mutex_unlock(&c->lock);
}

int mfs_cache_new(struct mfs_db *db, size_t capacity, int threads, struct mfs_cache **out)
{
	struct mfs_cache *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c)
		return -ENOMEM;
	c->db = db;
	c->capacity = capacity;
	/* Without it reads load as before, on their own thread. */
	c->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	mfs_lru_init(&c->table);
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->unset, NULL);
	pthread_cond_init(&c->work, NULL);
	if (threads > MAX_PREFETCH_THREADS)
		threads = MAX_PREFETCH_THREADS;
	for (int i = 0; i < threads; i++) {
		if (pthread_create(&c->threads[i], NULL, prefetch_thread, c))
			break;
		c->nthreads++;
	}
	*out = c;
	return 0;
}

void mfs_cache_free(struct mfs_cache *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->stopping = 1;
	pthread_cond_broadcast(&c->work);
	pthread_mutex_unlock(&c->lock);
	for (int i = 0; i < c->nthreads; i++)
		pthread_join(c->threads[i], NULL);
	for (struct mfs_lru_node *n = mfs_lru_take_all(&c->table), *next; n; n = next) {
		next = n->hnext;
		entry_free(entry_of(n));
	}
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->unset);
	pthread_cond_destroy(&c->work);
	if (c->kick_fd >= 0)
		close(c->kick_fd);
	free(c);
}

int mfs_cache_has(struct mfs_cache *c, const struct mfs_hash *h)
{
	struct entry *e;
	int has;

	pthread_mutex_lock(&c->lock);
	e = find(c, h);
	has = e && e->state == READY;
	pthread_mutex_unlock(&c->lock);
	return has;
}

uint32_t mfs_cache_drop(struct mfs_cache *c, const struct mfs_hash *h)
{
	struct entry *e, *dead = NULL;
	uint32_t len = 0;

	pthread_mutex_lock(&c->lock);
	e = find(c, h);
	if (e && e->state == READY) {
		len = e->pub.len;
		mfs_lru_remove(&c->table, &e->node);
		c->bytes -= len;
		c->st.entries--;
		if (e->refs) {
			e->state = DROPPED; /* a reader still uses its bytes */
		} else {
			mfs_lru_unlink(&e->node);
			dead = e;
		}
	}
	pthread_mutex_unlock(&c->lock);
	if (dead)
		entry_free(dead);
	return len;
}

void mfs_cache_stats(struct mfs_cache *c, struct mfs_cache_stats *st)
{
	pthread_mutex_lock(&c->lock);
	*st = c->st;
	st->bytes = c->bytes;
	st->capacity = c->capacity;
	pthread_mutex_unlock(&c->lock);
}
