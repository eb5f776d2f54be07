/* SPDX-License-Identifier: Apache-2.0 */
/* gc marks against the op log's bound (gc_marks.h). */
#include <errno.h>
#include <stdlib.h>

#include "gc.h"
#include "gc_marks.h"
#include "store/kv/db.h"

/* Calls fn for every well-formed mark (a malformed one is gc's to replace). */
static int each_mark(struct mfs_db *db, int (*fn)(void *, const uint8_t *, size_t,
						  const struct mfs_gc_mark *), void *arg)
{
	struct mfs_iter *it = mfs_iter_new(db, MFS_CF_META, "gc:", 3);
	struct mfs_gc_mark *m = malloc(sizeof(*m));
	int rc = 0;

	if (!it || !m) {
		mfs_iter_free(it);
		free(m);
		return -ENOMEM;
	}
	for (; mfs_iter_valid(it) && !rc; mfs_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = mfs_iter_key(it, &kl), *v = mfs_iter_value(it, &vl);

		if (!mfs_gc_mark_decode(v, vl, m))
			rc = fn(arg, k, kl, m);
	}
	if (!rc)
		rc = mfs_iter_error(it);
	mfs_iter_free(it);
	free(m);
	return rc;
}

static uint64_t mark_seq(const struct mfs_gc_mark *m, mfs_node_t origin)
{
	for (int i = 0; i < m->n; i++)
		if (m->origin[i] == origin)
			return m->seq[i];
	return 0;
}

struct floor_arg {
	const mfs_node_t *origins;
	uint64_t *upto;
	int n;
};

static int lower(void *arg, const uint8_t *k, size_t kl, const struct mfs_gc_mark *m)
{
	struct floor_arg *a = arg;

	(void)k, (void)kl;
	for (int i = 0; i < a->n; i++) {
		uint64_t held = mark_seq(m, a->origins[i]);

		if (held < a->upto[i])
			a->upto[i] = held;
	}
	return 0;
}

int mfs_gc_marks_floor(struct mfs_db *db, const mfs_node_t *origins, uint64_t *upto, int n)
{
	struct floor_arg a = { origins, upto, n };

	return each_mark(db, lower, &a);
}

struct drop_arg {
	const mfs_node_t *origins;
	const uint64_t *base;
	int n;
	struct mfs_batch *b;
	int dropped;
};

static int drop(void *arg, const uint8_t *k, size_t kl, const struct mfs_gc_mark *m)
{
	struct drop_arg *a = arg;

	for (int i = 0; i < a->n; i++)
		if (mark_seq(m, a->origins[i]) < a->base[i]) {
			mfs_batch_delete(a->b, MFS_CF_META, k, kl);
			a->dropped++;
			break;
		}
	return 0;
}

int mfs_gc_marks_drop_below(struct mfs_db *db, const mfs_node_t *origins, const uint64_t *base,
			    int n)
{
	struct drop_arg a = { origins, base, n, mfs_batch_new(db), 0 };
	int rc;

	if (!a.b)
		return -ENOMEM;
	rc = each_mark(db, drop, &a);
	if (!rc && a.dropped)
		rc = mfs_db_write(db, a.b, MFS_WRITE_SYNC);
	mfs_batch_free(a.b);
	return rc;
}
