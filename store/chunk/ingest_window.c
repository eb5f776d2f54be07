/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Ingest's encoder window and its list of stored chunks (ingest_window.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "chunker.h"
#include "chunkstore.h"
#include "delta.h"
#include "ingest_window.h"
#include "store/base/bytes.h"
#include "store/base/errors.h"

static size_t slot_of(const struct new_list *l, const struct mfs_hash *h)
{
	uint64_t k;

	memcpy(&k, h->b, sizeof(k)); /* SHA-256 bytes: already uniform */
	return (size_t)k & (l->nslots - 1);
}

int mfs_new_list_has(const struct new_list *l, const struct mfs_hash *h)
{
	if (!l->nslots)
		return 0;
	for (size_t i = slot_of(l, h);; i = (i + 1) & (l->nslots - 1)) {
		uint32_t s = l->slot[i];

		if (!s)
			return 0;
		if (!memcmp(l->v[s - 1].hash.b, h->b, MFS_HASH_LEN))
			return 1;
	}
}

static void new_list_index(struct new_list *l, size_t idx)
{
	size_t i = slot_of(l, &l->v[idx].hash);

	while (l->slot[i])
		i = (i + 1) & (l->nslots - 1);
	l->slot[i] = (uint32_t)idx + 1;
}

int mfs_new_list_add(struct new_list *l, const struct pending_chunk *c)
{
	if (2 * (l->n + 1) > l->nslots) {
		size_t want = l->nslots ? 2 * l->nslots : 1024;
		uint32_t *s = calloc(want, sizeof(*s));

		if (!s)
			return -ENOMEM;
		free(l->slot);
		l->slot = s;
		l->nslots = want;
		for (size_t i = 0; i < l->n; i++)
			new_list_index(l, i);
	}
	if (mfs_grow(&l->v, &l->cap, l->n, sizeof(*l->v)))
		return -ENOMEM;
	l->v[l->n] = (struct new_chunk){ c->hash, c->info, (uint32_t)c->rec_len, 0, 0 };
	if (c->info.codec == MFS_CODEC_DELTA) {
		struct mfs_hash *b;
		uint32_t nb;
		int rc = mfs_delta_bases(c->rec, c->rec_len, &b, &nb);

		for (uint32_t i = 0; i < nb && !rc; i++)
			rc = mfs_grow(&l->bases, &l->capbases, l->nbases + i, sizeof(*l->bases));
		if (!rc)
			memcpy(l->bases + l->nbases, b, nb * sizeof(*b));
		free(b);
		if (rc)
			return rc;
		l->v[l->n].base_at = (uint32_t)l->nbases;
		l->v[l->n].nbases = nb;
		l->nbases += nb;
	}
	new_list_index(l, l->n++);
	return 0;
}

/*
 * Whether chunk c is stored raw for the recode pass: only a record that
 * goes to a pack (the pass swaps pack records only), and never a
 * fine-tune's chunk, whose delta is tried now against the raw encoding.
 */
static int defer_chunk(const struct window *w, const struct pending_chunk *c)
{
	return w->defer && !w->delta && MFS_CHUNK_HDR_SIZE + (size_t)c->len >= MFS_CHUNK_PACK_MIN;
}

/*
 * A fine-tune's chunk c as a delta against its base into c->rec, if that
 * is clearly smaller than the plain record: under 3/4 of the plain
 * record's estimate, so that the plain encode is skipped (it was a third
 * of a fine-tune's ingest CPU); else under 7/8 of the plain record, made
 * to compare.  Returns the record's length, 0 (c->rec is free for the
 * plain record), or -errno.
 */
static ssize_t encode_delta(struct window *w, struct pending_chunk *c, struct mfs_codec_ctx *ctx)
{
	size_t est = mfs_chunk_estimate(ctx, c->p, c->len);
	ssize_t n, d;

	/* mfs_delta_encode keeps a delta 1/8 under its plain_len: 7/8 of 6/7 is 3/4. */
	d = mfs_delta_encode(w->delta, ctx, c->off, c->p, c->len, est * 6 / 7, c->rec, c->rec_cap);
	if (d)
		return d;
	n = mfs_chunk_encode(ctx, c->p, c->len, c->rec, c->rec_cap, -1);
	if (n <= 0)
		return n;
	/* Not clearly smaller: the plain record stays unless the delta beats it by 1/8. */
	d = mfs_delta_encode(w->delta, ctx, c->off, c->p, c->len, n, c->rec, c->rec_cap);
	return d ? d : n;
}

static int is_split(int codec)
{
	return codec == MFS_CODEC_SPLIT2 || codec == MFS_CODEC_SPLIT4;
}

/* Makes head c's choice known (once) to the chunks that share it; mu held. */
static void resolve_locked(struct window *w, struct pending_chunk *c, int choice)
{
	if (!c->is_head || c->choice != CHOICE_PENDING)
		return;
	c->choice = is_split(choice) ? choice : -1;
	pthread_cond_broadcast(&w->chosen);
}

static void resolve(struct window *w, struct pending_chunk *c, int choice)
{
	pthread_mutex_lock(&w->mu);
	resolve_locked(w, c, choice);
	pthread_mutex_unlock(&w->mu);
}

/*
 * The codec chunk c is encoded with: its head's choice once known (the
 * head was claimed before c, so it is being encoded or done), else its
 * own (-1: automatic).
 */
static int shared_choice(struct window *w, const struct pending_chunk *c)
{
	int codec;

	if (!c->head)
		return c->codec;
	pthread_mutex_lock(&w->mu);
	while ((codec = c->head->choice) == CHOICE_PENDING)
		pthread_cond_wait(&w->chosen, &w->mu);
	pthread_mutex_unlock(&w->mu);
	return codec;
}

/*
 * c into its record with codec (-1: automatic).  A split codec given is
 * held to the automatic rule: raw unless it saves 1/32 (codec.c note 3),
 * so a chunk's record is the one the automatic choice makes whenever it
 * would pick the same codec.
 */
static ssize_t encode_as(struct mfs_codec_ctx *ctx, struct pending_chunk *c, int codec)
{
	ssize_t n = mfs_chunk_encode(ctx, c->p, c->len, c->rec, c->rec_cap, codec);

	if (codec > MFS_CODEC_RAW &&
	    (n == -ENOBUFS ||
	     (n >= 0 && (size_t)n - MFS_CHUNK_HDR_SIZE >= c->len - c->len / 32)))
		n = mfs_chunk_encode(ctx, c->p, c->len, c->rec, c->rec_cap, MFS_CODEC_RAW);
	return n;
}

/* The codec for new chunk c: a head chooses (and tells), the others share. */
static int chunk_codec(struct window *w, struct pending_chunk *c, struct mfs_codec_ctx *ctx)
{
	int codec;

	if (!c->is_head)
		return shared_choice(w, c);
	codec = mfs_chunk_choose(ctx, c->p, c->len);
	resolve(w, c, codec);
	return codec < 0 ? -1 : codec; /* an error: the automatic encode says it again */
}

/* Whether c is a chunk to hash: a run of zeros (a sparse file's hole, written zeros alike) is none (manifest.h). */
static int to_hash(struct pending_chunk *c)
{
	if (c->len >= MFS_CHUNK_MIN && mfs_all_zero(c->p, c->len)) {
		c->hole = 1;
		return 0;
	}
	return 1;
}

/*
 * Hashes chunk c, and d if not NULL: two together where both are full
 * chunks (mfs_sha256_pair: a fifth less CPU than one after the other
 * with SHA-NI).  A short one goes alone: mfs_sha256 knows runs of zeros.
 */
static void hash_chunks(struct pending_chunk *c, struct pending_chunk *d)
{
	int hc = to_hash(c), hd = d && to_hash(d);

	if (hc && hd && c->len >= MFS_CHUNK_MIN && d->len >= MFS_CHUNK_MIN) {
		c->rc = d->rc = mfs_sha256_pair(c->p, c->len, &c->hash, d->p, d->len, &d->hash);
		return;
	}
	if (hc)
		c->rc = mfs_sha256(c->p, c->len, &c->hash);
	if (hd)
		d->rc = mfs_sha256(d->p, d->len, &d->hash);
}

/* Looks hashed chunk c up and, if new, encodes it with codec context ctx. */
static void encode_chunk(struct window *w, struct pending_chunk *c, struct mfs_codec_ctx *ctx)
{
	ssize_t n;
	int ex;

	if (c->hole || c->rc)
		return;
	/* A stored delta whose bases are gone is no dedup hit: stored again. */
	ex = mfs_new_list_has(w->fresh, &c->hash) ? 1 : mfs_delta_usable(w->db, &c->hash);
	if (ex < 0) {
		c->rc = ex;
		return;
	}
	c->exists = ex;
	if (ex)
		return;
	n = w->delta ? encode_delta(w, c, ctx) : 0;
	/*
	 * The slot holds the header and the raw bytes: the automatic codec
	 * never stores more (an encoding that would not fit is stored raw).
	 * Deferred: raw now (a copy and an XXH64), the codec choice and the
	 * compression later, by the recode pass, off the writer's clock.
	 */
	if (!n && defer_chunk(w, c)) {
		n = mfs_chunk_encode(ctx, c->p, c->len, c->rec, c->rec_cap, MFS_CODEC_RAW);
	} else if (!n) {
		int codec = chunk_codec(w, c, ctx);

		n = encode_as(ctx, c, codec);
	}
	if (n < 0) {
		c->rc = (int)n;
		return;
	}
	c->rec_len = n;
	c->rc = mfs_chunk_peek(c->rec, n, &c->info);
}

/*
 * How many published chunks, not yet hashed, one claimer hashes all
 * together (mfs_sha256_many) rather than in pairs: a vector round costs as much for one lane as for sixteen, so the lanes
 * pay only with many chunks.  On a model's chunk lengths, CPU-s per GiB:
 * pairs 0.72-0.84; batches of 10 0.70-0.78, 12 0.57-0.64, 16 0.50-0.59,
 * all 928 at once 0.39-0.51 (/work/notes/s40/cphash.md).  While the
 * window is being cut, the encoders wait for HASH_LANES such chunks
 * rather than take them two by two as they come: otherwise they keep up
 * with the cutting and a batch never forms.  MFS_TEST_HASH_BATCH sets
 * the minimum (0: pairs only), for tests; without lanes, pairs only.
 */
#define HASH_BATCH_MIN 12
#define HASH_LANES 16

static unsigned hash_batch_min(void)
{
	static int min = -1;
	int m = __atomic_load_n(&min, __ATOMIC_RELAXED);

	if (m < 0) {
		const char *e = getenv("MFS_TEST_HASH_BATCH");

		m = e ? atoi(e) : HASH_BATCH_MIN;
		if (m < 0 || !mfs_sha256_many_lanes())
			m = 0;
		__atomic_store_n(&min, m, __ATOMIC_RELAXED);
	}
	return (unsigned)m;
}

/* Hashes chunks c[0..n) together, up to 64 at a time (a run of zeros is none: to_hash). */
static void hash_batch(struct pending_chunk *c, unsigned n)
{
	enum { MAX = 64 };
	const void *p[MAX];
	size_t len[MAX];
	struct mfs_hash out[MAX];
	unsigned idx[MAX];

	for (unsigned at = 0; at < n;) {
		unsigned k = 0;
		int rc;

		for (; at < n && k < MAX; at++) {
			if (!to_hash(&c[at]))
				continue;
			p[k] = c[at].p;
			len[k] = c[at].len;
			idx[k++] = at;
		}
		rc = mfs_sha256_many(p, len, (int)k, out);
		for (unsigned i = 0; i < k; i++) {
			c[idx[i]].hash = out[i];
			c[idx[i]].rc = rc;
		}
	}
}

/*
 * Encodes published chunks until none is left to claim, two at a time
 * when two are there (hashed together); mu held, and held again on
 * return.  Of a pair, a head is encoded first: later chunks may be
 * waiting for its choice, and a chunk never follows a later one.
 * When hash_batch_min() or more published chunks are not hashed yet
 * (HASH_LANES while the window is cut), the claimer hashes them all at
 * once first (hnext); they are then claimed for encoding in order by
 * anyone (next), already hashed.
 */
static void claim_chunks(struct window *w, struct mfs_codec_ctx *ctx)
{
	unsigned batch = hash_batch_min();

	while (w->next < w->cut) {
		struct pending_chunk *c, *d = NULL;
		int hashed = 0;

		if (w->next == w->hnext && batch && w->cutting && w->cut - w->hnext < HASH_LANES)
			break; /* wait for more to hash together */
		if (w->next == w->hnext && batch && w->cut - w->hnext >= batch) {
			unsigned from = w->hnext, n = w->cut - from;

			w->hnext = w->cut;
			w->busy += n; /* until each is encoded */
			pthread_mutex_unlock(&w->mu);
			hash_batch(&w->chunks[from], n);
			pthread_mutex_lock(&w->mu);
			for (unsigned i = from; i < from + n; i++)
				w->chunks[i].hashed = 1;
			pthread_cond_broadcast(&w->hashed);
			pthread_cond_broadcast(&w->more); /* to encode them */
			continue;
		}
		if (w->next < w->hnext) {
			/* Hashed in a batch, or being hashed. */
			if (!w->chunks[w->next].hashed) {
				pthread_cond_wait(&w->hashed, &w->mu);
				continue;
			}
			c = &w->chunks[w->next++];
			if (w->next < w->hnext && w->chunks[w->next].hashed)
				d = &w->chunks[w->next++];
			hashed = 1;
		} else {
			c = &w->chunks[w->next++];
			if (w->next < w->cut)
				d = &w->chunks[w->next++];
			w->hnext = w->next;
			w->busy += d ? 2 : 1;
		}
		pthread_mutex_unlock(&w->mu);
		if (!hashed)
			hash_chunks(c, d);
		if (d && d->is_head && !c->is_head) {
			struct pending_chunk *t = c;

			c = d;
			d = t;
		}
		encode_chunk(w, c, ctx);
		/*
		 * A head that chose nothing (a hole, a stored chunk, an error):
		 * its chunks each choose.  Said before d is encoded, which may
		 * be one of them, waiting for it (shared_choice).
		 */
		resolve(w, c, -1);
		if (d) {
			encode_chunk(w, d, ctx);
			resolve(w, d, -1);
		}
		pthread_mutex_lock(&w->mu);
		w->busy -= d ? 2 : 1;
		if (!w->busy)
			pthread_cond_signal(&w->idle);
	}
}

struct worker_arg {
	struct window *w;
	int id;
};

/* An encoder thread: claims chunks as they are published, until quit. */
static void *encode_worker(void *arg)
{
	struct window *w = ((struct worker_arg *)arg)->w;
	struct mfs_codec_ctx *ctx = w->ctx[((struct worker_arg *)arg)->id];

	free(arg);
	pthread_setname_np(pthread_self(), "mfs-encode"); /* for perf and top -H */
	pthread_mutex_lock(&w->mu);
	while (!w->quit) {
		claim_chunks(w, ctx);
		if (!w->quit)
			pthread_cond_wait(&w->more, &w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* A new window: no chunk published; starts the encoders the first time. */
void mfs_window_start(struct window *w, int threads)
{
	pthread_mutex_lock(&w->mu);
	w->cut = w->next = w->hnext = 0;
	w->cutting = 1;
	pthread_mutex_unlock(&w->mu);
	w->count = 0;
	while (w->workers + 1 < threads && w->workers >= 0) {
		struct worker_arg *a = malloc(sizeof(*a));
		int t = w->workers + 1;

		if (!a)
			break;
		*a = (struct worker_arg){ w, t };
		if (pthread_create(&w->tid[t], NULL, encode_worker, a)) {
			free(a);
			w->workers = -w->workers - 1; /* no more tries: -(started + 1) */
			break;
		}
		w->workers = t;
	}
}

/* Publishes the chunk just cut (w->chunks[w->count]) to the encoders. */
void mfs_window_publish(struct window *w)
{
	w->count++;
	pthread_mutex_lock(&w->mu);
	w->cut = w->count;
	/* No wakeup for a chunk that waits for a batch (claim_chunks). */
	if (!(hash_batch_min() && w->next == w->hnext && w->cut - w->hnext < HASH_LANES))
		pthread_cond_signal(&w->more);
	pthread_mutex_unlock(&w->mu);
}

/* All chunks cut: encodes what is left with the encoders, and waits for them. */
void mfs_window_finish(struct window *w)
{
	pthread_mutex_lock(&w->mu);
	w->cutting = 0;
	pthread_cond_broadcast(&w->more); /* the encoders may be waiting for a batch */
	claim_chunks(w, w->ctx[0]);
	while (w->busy)
		pthread_cond_wait(&w->idle, &w->mu);
	pthread_mutex_unlock(&w->mu);
}

/* Stops and joins the encoder threads. */
void mfs_window_stop(struct window *w)
{
	int n = w->workers < 0 ? -w->workers - 1 : w->workers;

	pthread_mutex_lock(&w->mu);
	w->quit = 1;
	pthread_cond_broadcast(&w->more);
	pthread_mutex_unlock(&w->mu);
	for (int t = 1; t <= n; t++)
		pthread_join(w->tid[t], NULL);
	w->workers = 0;
}
