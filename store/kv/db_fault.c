/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fault-injecting backend of struct mfs_db (db_internal.h): wraps
 * another backend, counts the calls that reach it and fails the Nth one as
 * a spec says (db.h), so a test can try every failure point of a sequence
 * in turn: run it once to count the calls, then once per call with that
 * call failing.  The unit tests wrap db_mem.c or db_rocks.c; a daemon gets a
 * spec from MODELFS_FAULT (db.c, test only).
 *
 * A failed write changes nothing in the wrapped store (its batch is never
 * passed on), as RocksDB promises of a failed write.  "crash" goes further:
 * from that call on, every write and flush fails, as on a node whose disk
 * went away; the test then reopens the wrapped store, which sees the writes
 * before the crash, as recovery after a power loss would (a synced write is
 * durable; the store's callers sync what they need before reporting it).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "db_internal.h"
#include "store/base/log.h"

#define LOG_COMPONENT "fault"

struct fault {
	struct mfs_db base;
	struct mfs_db *inner;
	unsigned flags;
	struct mfs_fault_spec spec;
	pthread_mutex_t lock;
	uint64_t calls[MFS_FAULT_NCLASS];	/* protected by lock */
	int fired;				/* protected by lock */
	int crashed;				/* protected by lock */
};

struct fault_batch {
	struct mfs_batch base;
	struct mfs_batch *inner;
};

struct fault_iter {
	struct mfs_iter base;
	struct mfs_iter *inner;	/* NULL when its creation was failed */
	int err;
};

static const struct mfs_kv_ops fault_ops;
static const char *const class_names[MFS_FAULT_NCLASS] = { "any", "write" };
static const char *const kind_names[] = { "EIO", "ENOSPC", "ENOMEM", "crash" };
static const int kind_errno[] = { -EIO, -ENOSPC, -ENOMEM, -EIO };

static struct fault *F(struct mfs_db *db)
{
	return (struct fault *)db;
}

int mfs_fault_spec_parse(const char *s, struct mfs_fault_spec *out)
{
	char *copy = strdup(s), *save = NULL, *rule;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (!copy)
		return -ENOMEM;
	for (rule = strtok_r(copy, ",", &save); rule && !rc; rule = strtok_r(NULL, ",", &save)) {
		char *cls = rule, *nth = strchr(rule, ':'), *kind = NULL, *end = NULL;
		struct mfs_fault_rule r = { 0 };
		int k;

		if (nth) {
			*nth++ = '\0';
			if ((kind = strchr(nth, ':')))
				*kind++ = '\0';
		}
		if (!kind || out->n == MFS_FAULT_MAX_RULES) {
			rc = -EINVAL;
			break;
		}
		if (!strcmp(cls, "any"))
			r.cls = MFS_FAULT_ANY;
		else if (!strcmp(cls, "write"))
			r.cls = MFS_FAULT_WRITE;
		else
			rc = -EINVAL;
		errno = 0;
		r.nth = strtoull(nth, &end, 10);
		if (errno || end == nth || *end || *nth == '-')
			rc = -EINVAL;
		for (k = 0; k < (int)(sizeof(kind_names) / sizeof(*kind_names)); k++)
			if (!strcmp(kind, kind_names[k]))
				break;
		if (k == (int)(sizeof(kind_names) / sizeof(*kind_names)))
			rc = -EINVAL;
		r.kind = k;
		out->r[out->n++] = r;
	}
	if (!rc && !out->n)
		rc = -EINVAL;
	free(copy);
	return rc;
}

/*
 * Counts one call (a write or flush when is_write) and says how it fails:
 * 0 when it goes through.
 */
static int count(struct fault *f, int is_write, const char *what)
{
	uint64_t any, wr;
	int rc = 0;

	pthread_mutex_lock(&f->lock);
	any = ++f->calls[MFS_FAULT_ANY];
	wr = is_write ? ++f->calls[MFS_FAULT_WRITE] : 0;
	if (f->crashed && is_write)
		rc = -EIO;
	for (int i = 0; i < f->spec.n && !rc; i++) {
		const struct mfs_fault_rule *r = &f->spec.r[i];
		uint64_t n = r->cls == MFS_FAULT_ANY ? any : wr;

		if (!r->nth || n != r->nth)
			continue;
		f->fired++;
		f->crashed |= r->kind == MFS_FAULT_CRASH;
		rc = kind_errno[r->kind];
		log_warn("injected %s at %s call %" PRIu64 " (%s)", kind_names[r->kind],
			 class_names[r->cls], n, what);
	}
	pthread_mutex_unlock(&f->lock);
	return rc;
}

int mfs_db_fault_wrap(struct mfs_db *inner, const struct mfs_fault_spec *spec, unsigned flags,
		      struct mfs_db **out)
{
	struct fault *f = calloc(1, sizeof(*f));

	*out = NULL;
	if (!f)
		return -ENOMEM;
	mfs_db_init_base(&f->base, &fault_ops);
	f->inner = inner;
	f->flags = flags;
	/* Borrowed: the records and the index stay one store (pack I/O is not faulted). */
	mfs_db_set_packs(&f->base, mfs_db_packs(inner), 0);
	if (spec)
		f->spec = *spec;
	pthread_mutex_init(&f->lock, NULL);
	*out = &f->base;
	return 0;
}

int mfs_db_fault_arm(struct mfs_db *db, const struct mfs_fault_spec *spec)
{
	struct fault *f = F(db);

	if (!db || db->ops != &fault_ops)
		return -EINVAL;
	pthread_mutex_lock(&f->lock);
	memset(&f->spec, 0, sizeof(f->spec));
	if (spec)
		f->spec = *spec;
	memset(f->calls, 0, sizeof(f->calls));
	f->fired = 0;
	f->crashed = 0;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

uint64_t mfs_db_fault_calls(struct mfs_db *db, enum mfs_fault_class cls)
{
	uint64_t n;

	if (!db || db->ops != &fault_ops)
		return 0;
	pthread_mutex_lock(&F(db)->lock);
	n = F(db)->calls[cls];
	pthread_mutex_unlock(&F(db)->lock);
	return n;
}

int mfs_db_fault_fired(struct mfs_db *db)
{
	int n;

	if (!db || db->ops != &fault_ops)
		return 0;
	pthread_mutex_lock(&F(db)->lock);
	n = F(db)->fired;
	pthread_mutex_unlock(&F(db)->lock);
	return n;
}

static void fault_close(struct mfs_db *db)
{
	struct fault *f = F(db);

	/* Tests read this to place their faults (t08NN-fault-kv.sh). */
	log_info("fault injection: %" PRIu64 " calls, %" PRIu64 " writes, %d faults injected",
		 f->calls[MFS_FAULT_ANY], f->calls[MFS_FAULT_WRITE], f->fired);
	if (f->flags & MFS_FAULT_OWN)
		mfs_db_close(f->inner);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

static int fault_get(struct mfs_db *db, enum mfs_cf cf, const void *key, size_t klen,
		     struct mfs_val *v, int verify)
{
	struct fault *f = F(db);
	int rc = count(f, 0, "get");

	return rc ? rc : f->inner->ops->get(f->inner, cf, key, klen, v, verify);
}

static struct mfs_batch *fault_batch_new(struct mfs_db *db)
{
	struct fault *f = F(db);
	struct fault_batch *b;

	/*
	 * Not a counted call: no backend can fail it but by allocation, and an
	 * I/O fault reported as ENOMEM would test nothing real.
	 */
	if (!(b = calloc(1, sizeof(*b))))
		return NULL;
	if (!(b->inner = f->inner->ops->batch_new(f->inner))) {
		free(b);
		return NULL;
	}
	b->base.db = db;
	return &b->base;
}

static struct mfs_batch *inner_batch(struct mfs_batch *b)
{
	return ((struct fault_batch *)b)->inner;
}

static void fault_batch_free(struct mfs_batch *b)
{
	mfs_batch_free(inner_batch(b));
	free(b);
}

static void fault_batch_put(struct mfs_batch *b, enum mfs_cf cf, const void *k, size_t kl,
			    const void *v, size_t vl)
{
	mfs_batch_put(inner_batch(b), cf, k, kl, v, vl);
}

static void fault_batch_delete(struct mfs_batch *b, enum mfs_cf cf, const void *k, size_t kl)
{
	mfs_batch_delete(inner_batch(b), cf, k, kl);
}

static size_t fault_batch_count(struct mfs_batch *b)
{
	return mfs_batch_count(inner_batch(b));
}

static int fault_write(struct mfs_db *db, struct mfs_batch *b, enum mfs_write_mode mode)
{
	struct fault *f = F(db);
	int rc = count(f, 1, "write");

	return rc ? rc : mfs_db_write(f->inner, inner_batch(b), mode);
}

static int fault_flush(struct mfs_db *db, enum mfs_cf cf)
{
	struct fault *f = F(db);
	int rc = count(f, 1, "flush");

	return rc ? rc : mfs_db_flush(f->inner, cf);
}

/* Counted as a write; the inner backend's own sync (its front's group
 * commit state counts the wrapper's writes, not the inner ones). */
static int fault_sync(struct mfs_db *db)
{
	struct fault *f = F(db);
	int rc = count(f, 1, "sync");

	return rc ? rc : f->inner->ops->sync(f->inner);
}

/* Views are not counted: taking one cannot fail but for memory. */
struct fault_view {
	struct mfs_db_view base;
	struct mfs_db_view *inner;
};

static struct mfs_db_view *fault_view_new(struct mfs_db *db)
{
	struct fault_view *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->base.db = db;
	if (!(v->inner = mfs_db_view_new(F(db)->inner))) {
		free(v);
		return NULL;
	}
	return &v->base;
}

static void fault_view_free(struct mfs_db_view *v)
{
	mfs_db_view_free(((struct fault_view *)v)->inner);
	free(v);
}

static struct mfs_iter *fault_iter_new(struct mfs_db *db, const struct mfs_db_view *view,
				       enum mfs_cf cf, const void *lower, size_t llen,
				       const void *upper, size_t ulen)
{
	struct fault *f = F(db);
	int rc = count(f, 0, "iterate");
	struct fault_iter *it;

	if (rc == -ENOMEM || !(it = calloc(1, sizeof(*it))))
		return NULL;
	it->base.db = db;
	/* A failed iteration ends at once with its error, as RocksDB's do. */
	it->err = rc;
	if (!rc && !(it->inner = f->inner->ops->iter_new(f->inner,
			view ? ((const struct fault_view *)view)->inner : NULL, cf, lower, llen, upper, ulen))) {
		free(it);
		return NULL;
	}
	return &it->base;
}

static struct mfs_iter *inner_iter(struct mfs_iter *it)
{
	return ((struct fault_iter *)it)->inner;
}

static void fault_iter_seek(struct mfs_iter *it, const void *key, size_t klen)
{
	if (inner_iter(it))
		mfs_iter_seek(inner_iter(it), key, klen);
}

static int fault_iter_valid(struct mfs_iter *it)
{
	struct fault_iter *fi = (struct fault_iter *)it;

	if (fi->err)
		return fi->err;
	if (mfs_iter_valid(fi->inner))
		return 1;
	return mfs_iter_error(fi->inner);
}

static void fault_iter_next(struct mfs_iter *it)
{
	mfs_iter_next(inner_iter(it));
}

static const uint8_t *fault_iter_key(struct mfs_iter *it, size_t *len)
{
	return mfs_iter_key(inner_iter(it), len);
}

static const uint8_t *fault_iter_value(struct mfs_iter *it, size_t *len)
{
	return mfs_iter_value(inner_iter(it), len);
}

static void fault_iter_free(struct mfs_iter *it)
{
	mfs_iter_free(inner_iter(it));
	free(it);
}

static int fault_reclaim(struct mfs_db *db, enum mfs_cf cf, int relocate)
{
	struct fault *f = F(db);
	int rc = count(f, 0, "reclaim");

	return rc ? rc : mfs_db_reclaim(f->inner, cf, relocate);
}

static uint64_t fault_disk_bytes(struct mfs_db *db)
{
	return mfs_db_disk_bytes(F(db)->inner);
}

static const struct mfs_kv_ops fault_ops = {
	.name = "fault",
	.close = fault_close,
	.get = fault_get,
	.batch_new = fault_batch_new,
	.batch_free = fault_batch_free,
	.batch_put = fault_batch_put,
	.batch_delete = fault_batch_delete,
	.batch_count = fault_batch_count,
	.write = fault_write,
	.flush = fault_flush,
	.sync = fault_sync,
	.view_new = fault_view_new,
	.view_free = fault_view_free,
	.iter_new = fault_iter_new,
	.iter_seek = fault_iter_seek,
	.iter_valid = fault_iter_valid,
	.iter_next = fault_iter_next,
	.iter_key = fault_iter_key,
	.iter_value = fault_iter_value,
	.iter_free = fault_iter_free,
	.reclaim = fault_reclaim,
	.disk_bytes = fault_disk_bytes,
};
