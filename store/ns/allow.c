/* SPDX-License-Identifier: Apache-2.0 */
/* The replicated allow-list: entries and their place in the namespace (allow.h). */
#include <errno.h>
#include <string.h>

#include "allow.h"
#include "namespace.h"
#include "ns_internal.h"
#include "store/base/errors.h"
#include "store/kv/db.h"

int mfs_allow_decode(const uint8_t *p, size_t n, int *allowed)
{
	if (n != MFS_ALLOW_VAL_LEN || p[0] != MFS_ALLOW_VERSION || p[1] > 1)
		return MFS_EFORMAT;
	*allowed = p[1];
	return 0;
}

void allow_key(const uint8_t *key, uint8_t out[ALLOW_KEY_LEN])
{
	out[0] = 'a';
	out[1] = 'k';
	memcpy(out + 2, key, MFS_ALLOW_KEY_LEN);
}

int mfs_ns_allow_put(struct mfs_ns *ns, const uint8_t key[MFS_ALLOW_KEY_LEN], int allowed)
{
	uint8_t val[MFS_ALLOW_VAL_LEN] = { MFS_ALLOW_VERSION, !!allowed }, mk[ALLOW_KEY_LEN];
	struct ns_txn t;
	int rc;

	allow_key(key, mk);
	pthread_mutex_lock(&ns->lock);
	if (!(rc = txn_begin(ns, &t))) {
		mfs_op_add(&t.op, MFS_OP_ALLOW, 0, key, MFS_ALLOW_KEY_LEN, val, sizeof(val));
		mfs_batch_put(t.b, MFS_CF_META, mk, sizeof(mk), val, sizeof(val));
		rc = txn_commit(ns, &t);
	}
	rc = ns_unlock_durable(ns, rc, NS_SYNC_NOW);
	txn_free(&t);
	return rc;
}

int mfs_ns_allowed(struct mfs_ns *ns, const uint8_t key[MFS_ALLOW_KEY_LEN])
{
	uint8_t mk[ALLOW_KEY_LEN];
	struct mfs_val v;
	int rc, allowed = 0;

	allow_key(key, mk);
	if ((rc = mfs_db_get(ns->db, MFS_CF_META, mk, sizeof(mk), &v, 1)))
		return rc == -ENOENT ? 0 : rc;
	/* Checked when applied; one that does not decode now allows nothing. */
	if (mfs_allow_decode(v.p, v.len, &allowed))
		allowed = 0;
	mfs_val_release(&v);
	return allowed;
}

int mfs_ns_allow_each(struct mfs_ns *ns, mfs_allow_fn fn, void *arg)
{
	struct mfs_iter *it = mfs_iter_new(ns->db, MFS_CF_META, "ak", 2);
	int rc = 0, allowed;

	if (!it)
		return -ENOMEM;
	for (; !rc && mfs_iter_valid(it); mfs_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = mfs_iter_key(it, &kl), *v = mfs_iter_value(it, &vl);

		if (kl == ALLOW_KEY_LEN && !mfs_allow_decode(v, vl, &allowed))
			rc = fn(arg, k + 2, allowed);
	}
	if (!rc)
		rc = mfs_iter_error(it);
	mfs_iter_free(it);
	return rc;
}
