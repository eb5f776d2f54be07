/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The in-memory backend of struct mfs_db (db_internal.h), for unit tests
 * that need a store and not a disk: a sorted array of entries per column
 * family under one rwlock.  It keeps the guarantees callers rely on from
 * RocksDB: a batch lands whole or not at all, an iterator sees the store as
 * it was when created (a snapshot), or as it was when a view (db.h) was
 * taken (a copy of every table's references), and a value read stays valid until
 * released even if the key is overwritten or deleted meanwhile.
 *
 * It also keeps what a power loss would leave, as RocksDB's write modes
 * promise it (db.h): a SYNC write makes itself and every earlier WAL write
 * durable, an ASYNC one waits for the next SYNC write, a NOWAL one for a
 * flush of its column family (which, like a RocksDB flush, also persists
 * the WAL writes of that family).  mfs_db_mem_power_loss() goes back to
 * that state, so a test can check that what a caller acknowledged survives.
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

struct op {
	enum mfs_cf cf;
	int del;
	struct ent *e;		/* a reference owned by the batch (or pend) */
	enum mfs_write_mode mode;	/* in pend only */
};

struct mem {
	struct mfs_db base;
	pthread_rwlock_t lock;
	struct table t[MFS_CF_COUNT];	/* protected by lock */
	uint64_t bytes;			/* protected by lock */
	struct table d[MFS_CF_COUNT];	/* what survives a power loss; lock */
	struct op *pend;		/* written, not durable yet, in order; lock */
	size_t npend, pendcap;		/* protected by lock */
};

struct mem_batch {
	struct mfs_batch base;
	struct op *ops;
	size_t n, cap;
	int oom;		/* a put or delete could not be recorded */
};

struct mem_view {
	struct mfs_db_view base;
	struct table t[MFS_CF_COUNT];	/* one reference per entry */
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
	mfs_db_init_base(&m->base, &mem_ops);
	pthread_rwlock_init(&m->lock, NULL);
	*out = &m->base;
	return 0;
}

static void table_clear(struct table *t)
{
	for (size_t i = 0; i < t->n; i++)
		ent_unref(t->e[i]);
	free(t->e);
	memset(t, 0, sizeof(*t));
}

/* dst (empty) takes a reference to each entry of src.  0 or -ENOMEM. */
static int table_copy(struct table *dst, const struct table *src)
{
	if (src->n && !(dst->e = malloc(src->n * sizeof(*dst->e))))
		return -ENOMEM;
	for (size_t i = 0; i < src->n; i++)
		dst->e[dst->n++] = ent_ref(src->e[i]);
	dst->cap = dst->n;
	return 0;
}

static void mem_close(struct mfs_db *db)
{
	struct mem *m = M(db);

	for (int c = 0; c < MFS_CF_COUNT; c++) {
		table_clear(&m->t[c]);
		table_clear(&m->d[c]);
	}
	for (size_t i = 0; i < m->npend; i++)
		ent_unref(m->pend[i].e);
	free(m->pend);
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
	b->ops[b->n++] = (struct op){ cf, del, e, MFS_WRITE_SYNC };
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

/* Room for the puts of ops[0..n) in tables tt, so that applying cannot fail half-way. */
static int reserve(struct table *tt, const struct op *ops, size_t n)
{
	size_t need[MFS_CF_COUNT] = { 0 };

	for (size_t i = 0; i < n; i++)
		need[ops[i].cf] += !ops[i].del;
	for (int c = 0; c < MFS_CF_COUNT; c++) {
		struct table *t = &tt[c];
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

/* Applies o to tables tt; *bytes (if given) follows the live size. */
static void apply(struct table *tt, const struct op *o, uint64_t *bytes)
{
	struct table *t = &tt[o->cf];
	size_t i = lower_bound(t, o->e->k, o->e->klen);
	uint64_t dummy = 0;

	if (!bytes)
		bytes = &dummy;
	if (found(t, i, o->e->k, o->e->klen)) {
		*bytes -= t->e[i]->klen + t->e[i]->vlen;
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
	*bytes += o->e->klen + o->e->vlen;
}

/*
 * Makes durable the pending ops that a SYNC write (cf < 0: every WAL op)
 * or a flush of cf (every op of cf) persists.  Under the write lock.
 */
static int persist(struct mem *m, int cf)
{
	size_t keep = 0;
	int rc = 0;

	/* Worst case: every pending put lands in d. */
	if ((rc = reserve(m->d, m->pend, m->npend)))
		return rc;
	for (size_t i = 0; i < m->npend; i++) {
		struct op *o = &m->pend[i];

		if (cf < 0 ? o->mode != MFS_WRITE_NOWAL : (int)o->cf == cf) {
			apply(m->d, o, NULL);
			ent_unref(o->e);
		} else {
			m->pend[keep++] = *o;
		}
	}
	m->npend = keep;
	return 0;
}

static int mem_write(struct mfs_db *db, struct mfs_batch *base, enum mfs_write_mode mode)
{
	struct mem_batch *b = (struct mem_batch *)base;
	struct mem *m = M(db);
	int rc;

	if (b->oom)
		return -ENOMEM;
	pthread_rwlock_wrlock(&m->lock);
	if ((rc = reserve(m->t, b->ops, b->n)))
		goto out;
	if (m->npend + b->n > m->pendcap) {
		size_t cap = m->pendcap ? m->pendcap : 64;
		struct op *p;

		while (cap < m->npend + b->n)
			cap *= 2;
		if (!(p = realloc(m->pend, cap * sizeof(*p)))) {
			rc = -ENOMEM;
			goto out;
		}
		m->pend = p;
		m->pendcap = cap;
	}
	for (size_t i = 0; i < b->n; i++) {
		apply(m->t, &b->ops[i], &m->bytes);
		m->pend[m->npend] = b->ops[i];
		m->pend[m->npend].mode = mode;
		ent_ref(m->pend[m->npend++].e);
	}
	/*
	 * Applied: a failure to make it durable is one of the sync, which
	 * RocksDB reports too (the write is then in memory only).
	 */
	if (mode == MFS_WRITE_SYNC)
		rc = persist(m, -1);
out:
	pthread_rwlock_unlock(&m->lock);
	return rc;
}

static int mem_flush(struct mfs_db *db, enum mfs_cf cf)
{
	struct mem *m = M(db);
	int rc;

	pthread_rwlock_wrlock(&m->lock);
	rc = persist(m, cf);
	pthread_rwlock_unlock(&m->lock);
	return rc;
}

/* As a SYNC write of nothing: every WAL write so far becomes durable. */
static int mem_sync(struct mfs_db *db)
{
	struct mem *m = M(db);
	int rc;

	pthread_rwlock_wrlock(&m->lock);
	rc = persist(m, -1);
	pthread_rwlock_unlock(&m->lock);
	return rc;
}

int mfs_db_mem_power_loss(struct mfs_db *db)
{
	struct mem *m = M(db);
	struct table t[MFS_CF_COUNT] = { 0 };
	int rc = 0;

	if (db->ops != &mem_ops)
		return -EINVAL;
	pthread_rwlock_wrlock(&m->lock);
	for (int c = 0; c < MFS_CF_COUNT && !rc; c++)
		rc = table_copy(&t[c], &m->d[c]);
	if (rc) {
		for (int c = 0; c < MFS_CF_COUNT; c++)
			table_clear(&t[c]);
		goto out;
	}
	m->bytes = 0;
	for (int c = 0; c < MFS_CF_COUNT; c++) {
		table_clear(&m->t[c]);
		m->t[c] = t[c];
		for (size_t i = 0; i < t[c].n; i++)
			m->bytes += t[c].e[i]->klen + t[c].e[i]->vlen;
	}
	for (size_t i = 0; i < m->npend; i++)
		ent_unref(m->pend[i].e);
	m->npend = 0;
out:
	pthread_rwlock_unlock(&m->lock);
	return rc;
}

static struct mfs_db_view *mem_view_new(struct mfs_db *db)
{
	struct mem_view *v = calloc(1, sizeof(*v));
	struct mem *m = M(db);
	int rc = 0;

	if (!v)
		return NULL;
	v->base.db = db;
	pthread_rwlock_rdlock(&m->lock);
	for (int c = 0; c < MFS_CF_COUNT && !rc; c++)
		rc = table_copy(&v->t[c], &m->t[c]);
	pthread_rwlock_unlock(&m->lock);
	if (rc) {
		for (int c = 0; c < MFS_CF_COUNT; c++)
			table_clear(&v->t[c]);
		free(v);
		return NULL;
	}
	return &v->base;
}

static void mem_view_free(struct mfs_db_view *base)
{
	struct mem_view *v = (struct mem_view *)base;

	for (int c = 0; c < MFS_CF_COUNT; c++)
		table_clear(&v->t[c]);
	free(v);
}

static struct mfs_iter *mem_iter_new(struct mfs_db *db, const struct mfs_db_view *view,
				     enum mfs_cf cf, const void *lower, size_t llen,
				     const void *upper, size_t ulen)
{
	struct mem_iter *it = calloc(1, sizeof(*it));
	struct mem *m = M(db);
	/* A view's tables never change: no lock needed to read them. */
	const struct table *t = view ? &((const struct mem_view *)view)->t[cf] : &m->t[cf];
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
	.sync = mem_sync,
	.view_new = mem_view_new,
	.view_free = mem_view_free,
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
