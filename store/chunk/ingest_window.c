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
 * Encodes published chunks until none is left to claim, two at a time
 * when two are there (hashed together); mu held, and held again on
 * return.  Of a pair, a head is encoded first: later chunks may be
 * waiting for its choice, and a chunk never follows a later one.
 */
static void claim_chunks(struct window *w, struct mfs_codec_ctx *ctx)
{
	while (w->next < w->cut) {
		struct pending_chunk *c = &w->chunks[w->next++], *d = NULL;

		if (w->next < w->cut)
			d = &w->chunks[w->next++];
		w->busy += d ? 2 : 1;
		pthread_mutex_unlock(&w->mu);
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
	w->cut = w->next = 0;
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
	pthread_cond_signal(&w->more);
	pthread_mutex_unlock(&w->mu);
}

/* All chunks cut: encodes what is left with the encoders, and waits for them. */
void mfs_window_finish(struct window *w)
{
	pthread_mutex_lock(&w->mu);
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
