/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The in-memory backend of struct mfs_db (db_internal.h), for unit tests
 * that need a store and not a disk: a sorted array of entries per column
 * family under one rwlock.  It keeps the guarantees callers rely on from
 * RocksDB: a batch lands whole or not at all, an iterator sees the store as
 * it was when created (a snapshot), and a value read stays valid until
 * released even if the key is overwritten or deleted meanwhile.  Write modes
 * are all the same here (nothing is ever durable), flush and reclaim do
 * nothing.
 *
 * Entries are immutable and reference-counted: a get, an iterator's snapshot
 * and the table each hold a reference, so no value is copied.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "db_internal.h"

struct ent {
	unsigned refs;		/* atomic */
	size_t klen, vlen;
	uint8_t *v;		/* points into k[], after the key */
	uint8_t k[];
};

struct table {
	struct ent **e;		/* sorted by key (memcmp, then length) */
	size_t n, cap;
};

struct mem {
	struct mfs_db base;
	pthread_rwlock_t lock;
	struct table t[MFS_CF_COUNT];	/* protected by lock */
	uint64_t bytes;			/* protected by lock */
};

struct op {
	enum mfs_cf cf;
	int del;
	struct ent *e;		/* a reference owned by the batch */
};

struct mem_batch {
	struct mfs_batch base;
	struct op *ops;
	size_t n, cap;
	int oom;		/* a put or delete could not be recorded */
};

struct mem_iter {
	struct mfs_iter base;
	struct ent **e;		/* the snapshot: one reference each */
	size_t n, pos;
};

static const struct mfs_kv_ops mem_ops;

static struct mem *M(struct mfs_db *db)
{
	return (struct mem *)db;
}

static struct ent *ent_new(const void *k, size_t kl, const void *v, size_t vl)
{
	struct ent *e = malloc(sizeof(*e) + kl + vl);

	if (!e)
		return NULL;
	e->refs = 1;
	e->klen = kl;
	e->vlen = vl;
	e->v = e->k + kl;
	if (kl)
		memcpy(e->k, k, kl);
	if (vl)
		memcpy(e->v, v, vl);
	return e;
}

static struct ent *ent_ref(struct ent *e)
{
	__atomic_add_fetch(&e->refs, 1, __ATOMIC_RELAXED);
	return e;
}

static void ent_unref(void *p)
{
	struct ent *e = p;

	if (e && !__atomic_sub_fetch(&e->refs, 1, __ATOMIC_ACQ_REL))
		free(e);
}

static int key_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);

	return c ? c : (al > bl) - (al < bl);
}

/* Index of the first entry >= key. */
static size_t lower_bound(const struct table *t, const void *key, size_t klen)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (key_cmp(t->e[mid]->k, t->e[mid]->klen, key, klen) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int found(const struct table *t, size_t i, const void *key, size_t klen)
{
	return i < t->n && !key_cmp(t->e[i]->k, t->e[i]->klen, key, klen);
}

int mfs_db_open_mem(struct mfs_db **out)
{
	struct mem *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (!m)
		return -ENOMEM;
	m->base.ops = &mem_ops;
	pthread_rwlock_init(&m->lock, NULL);
	*out = &m->base;
	return 0;
}

static void mem_close(struct mfs_db *db)
{
	struct mem *m = M(db);

	for (int c = 0; c < MFS_CF_COUNT; c++) {
		for (size_t i = 0; i < m->t[c].n; i++)
			ent_unref(m->t[c].e[i]);
		free(m->t[c].e);
	}
	pthread_rwlock_destroy(&m->lock);
	free(m);
}

static int mem_get(struct mfs_db *db, enum mfs_cf cf, const void *key, size_t klen,
		   struct mfs_val *v, int verify)
{
	struct mem *m = M(db);
	struct table *t = &m->t[cf];
	int rc = -ENOENT;
	size_t i;

	(void)verify;
	pthread_rwlock_rdlock(&m->lock);
	i = lower_bound(t, key, klen);
	if (found(t, i, key, klen)) {
		v->pin = ent_ref(t->e[i]);
		v->release = ent_unref;
		v->p = t->e[i]->v;
		v->len = t->e[i]->vlen;
		rc = 0;
	}
	pthread_rwlock_unlock(&m->lock);
	return rc;
}

static struct mfs_batch *mem_batch_new(struct mfs_db *db)
{
	struct mem_batch *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->base.db = db;
	return &b->base;
}

static void mem_batch_free(struct mfs_batch *base)
{
	struct mem_batch *b = (struct mem_batch *)base;

	for (size_t i = 0; i < b->n; i++)
		ent_unref(b->ops[i].e);
	free(b->ops);
	free(b);
}

static void batch_add(struct mfs_batch *base, enum mfs_cf cf, int del, const void *k, size_t kl,
		      const void *v, size_t vl)
{
	struct mem_batch *b = (struct mem_batch *)base;
	struct ent *e;

	if (b->oom)
		return;
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 8;
		struct op *ops = realloc(b->ops, cap * sizeof(*ops));

		if (!ops) {
			b->oom = 1;
			return;
		}
		b->ops = ops;
		b->cap = cap;
	}
	if (!(e = ent_new(k, kl, v, vl))) {
		b->oom = 1;
		return;
	}
	b->ops[b->n++] = (struct op){ cf, del, e };
}

static void mem_batch_put(struct mfs_batch *b, enum mfs_cf cf, const void *k, size_t kl,
			  const void *v, size_t vl)
{
	batch_add(b, cf, 0, k, kl, v, vl);
}

static void mem_batch_delete(struct mfs_batch *b, enum mfs_cf cf, const void *k, size_t kl)
{
	batch_add(b, cf, 1, k, kl, NULL, 0);
}

static size_t mem_batch_count(struct mfs_batch *base)
{
	return ((struct mem_batch *)base)->n;
}

/* Room for every put of b, so that applying it cannot fail half-way. */
static int reserve(struct mem *m, const struct mem_batch *b)
{
	size_t need[MFS_CF_COUNT] = { 0 };

	for (size_t i = 0; i < b->n; i++)
		need[b->ops[i].cf] += !b->ops[i].del;
	for (int c = 0; c < MFS_CF_COUNT; c++) {
		struct table *t = &m->t[c];
		struct ent **e;
		size_t cap;

		if (t->n + need[c] <= t->cap)
			continue;
		cap = t->cap ? t->cap : 16;
		while (cap < t->n + need[c])
			cap *= 2;
		if (!(e = realloc(t->e, cap * sizeof(*e))))
			return -ENOMEM;
		t->e = e;
		t->cap = cap;
	}
	return 0;
}

static void apply(struct mem *m, const struct op *o)
{
	struct table *t = &m->t[o->cf];
	size_t i = lower_bound(t, o->e->k, o->e->klen);

	if (found(t, i, o->e->k, o->e->klen)) {
		m->bytes -= t->e[i]->klen + t->e[i]->vlen;
		ent_unref(t->e[i]);
		if (o->del) {
			memmove(&t->e[i], &t->e[i + 1], (t->n - i - 1) * sizeof(*t->e));
			t->n--;
			return;
		}
	} else if (o->del) {
		return;
	} else {
		memmove(&t->e[i + 1], &t->e[i], (t->n - i) * sizeof(*t->e));
		t->n++;
	}
	t->e[i] = ent_ref(o->e);
	m->bytes += o->e->klen + o->e->vlen;
}

static int mem_write(struct mfs_db *db, struct mfs_batch *base, enum mfs_write_mode mode)
{
	struct mem_batch *b = (struct mem_batch *)base;
	struct mem *m = M(db);
	int rc;

	(void)mode;
	if (b->oom)
		return -ENOMEM;
	pthread_rwlock_wrlock(&m->lock);
	if (!(rc = reserve(m, b)))
		for (size_t i = 0; i < b->n; i++)
			apply(m, &b->ops[i]);
	pthread_rwlock_unlock(&m->lock);
	return rc;
}

static int mem_flush(struct mfs_db *db, enum mfs_cf cf)
{
	(void)db;
	(void)cf;
	return 0;
}

static struct mfs_iter *mem_iter_new(struct mfs_db *db, enum mfs_cf cf, const void *lower,
				     size_t llen, const void *upper, size_t ulen)
{
	struct mem_iter *it = calloc(1, sizeof(*it));
	struct mem *m = M(db);
	struct table *t = &m->t[cf];
	size_t lo, hi;

	if (!it)
		return NULL;
	it->base.db = db;
	pthread_rwlock_rdlock(&m->lock);
	lo = llen ? lower_bound(t, lower, llen) : 0;
	hi = ulen ? lower_bound(t, upper, ulen) : t->n;
	if (hi > lo && !(it->e = malloc((hi - lo) * sizeof(*it->e)))) {
		pthread_rwlock_unlock(&m->lock);
		free(it);
		return NULL;
	}
	for (size_t i = lo; i < hi; i++)
		it->e[it->n++] = ent_ref(t->e[i]);
	pthread_rwlock_unlock(&m->lock);
	return &it->base;
}

static void mem_iter_seek(struct mfs_iter *base, const void *key, size_t klen)
{
	struct mem_iter *it = (struct mem_iter *)base;
	struct table snap = { it->e, it->n, it->n };

	it->pos = lower_bound(&snap, key, klen);
}

static int mem_iter_valid(struct mfs_iter *base)
{
	struct mem_iter *it = (struct mem_iter *)base;

	return it->pos < it->n;
}

static void mem_iter_next(struct mfs_iter *base)
{
	struct mem_iter *it = (struct mem_iter *)base;

	if (it->pos < it->n)
		it->pos++;
}

static const uint8_t *mem_iter_key(struct mfs_iter *base, size_t *len)
{
	struct mem_iter *it = (struct mem_iter *)base;

	*len = it->e[it->pos]->klen;
	return it->e[it->pos]->k;
}

static const uint8_t *mem_iter_value(struct mfs_iter *base, size_t *len)
{
	struct mem_iter *it = (struct mem_iter *)base;

	*len = it->e[it->pos]->vlen;
	return it->e[it->pos]->v;
}

static void mem_iter_free(struct mfs_iter *base)
{
	struct mem_iter *it = (struct mem_iter *)base;

	for (size_t i = 0; i < it->n; i++)
		ent_unref(it->e[i]);
	free(it->e);
	free(it);
}

static int mem_reclaim(struct mfs_db *db, enum mfs_cf cf, int relocate)
{
	(void)db;
	(void)cf;
	(void)relocate;
	return 0;
}

/* Keys and values held: what a disk would hold, give or take. */
static uint64_t mem_disk_bytes(struct mfs_db *db)
{
	struct mem *m = M(db);
	uint64_t n;

	pthread_rwlock_rdlock(&m->lock);
	n = m->bytes;
	pthread_rwlock_unlock(&m->lock);
	return n;
}

static const struct mfs_kv_ops mem_ops = {
	.name = "mem",
	.close = mem_close,
	.get = mem_get,
	.batch_new = mem_batch_new,
	.batch_free = mem_batch_free,
	.batch_put = mem_batch_put,
	.batch_delete = mem_batch_delete,
	.batch_count = mem_batch_count,
	.write = mem_write,
	.flush = mem_flush,
	.iter_new = mem_iter_new,
	.iter_seek = mem_iter_seek,
	.iter_valid = mem_iter_valid,
	.iter_next = mem_iter_next,
	.iter_key = mem_iter_key,
	.iter_value = mem_iter_value,
	.iter_free = mem_iter_free,
	.reclaim = mem_reclaim,
	.disk_bytes = mem_disk_bytes,
};
