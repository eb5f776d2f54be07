/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The op log's bound: ops every peer that counts has pulled are dropped.
 *
 * The namespace records (inodes, dirents, stamps, manifests) already are
 * the checkpoint: every op held was applied to them when it was written or
 * pulled, so dropping an op loses nothing but the ability to send it.  What
 * is dropped is recorded per origin as the log base (meta "lb" + origin):
 * ops (lb, vv] are held, ops <= lb are folded into the records.  A puller
 * that lacks an op at or below a base must bootstrap from a snapshot
 * (ns_snap.c).  Which ops may be dropped is the caller's knowledge of the
 * peers and of gc's marks (replica/snap.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "namespace.h"
#include "ns_internal.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/kv/db.h"

#define LOG_COMPONENT "namespace"
/* Ops dropped per origin per call: bounds the time the namespace lock is held. */
#define TRIM_MAX_OPS 65536

int mfs_ns_log_base(struct mfs_ns *ns, mfs_node_t *origins, uint64_t *seqs, int cap)
{
	return ns_vec_list(ns, "lb", origins, seqs, cap);
}

int mfs_ns_log_held(struct mfs_ns *ns, uint64_t *held, uint64_t *folded)
{
	mfs_node_t *o = malloc(MFS_NS_MAX_ORIGINS * sizeof(*o));
	uint64_t *s = malloc(MFS_NS_MAX_ORIGINS * sizeof(*s)), base;
	int n, rc = 0;

	*held = *folded = 0;
	if (!o || !s) {
		rc = -ENOMEM;
		goto out;
	}
	if ((n = mfs_ns_vv(ns, o, s, MFS_NS_MAX_ORIGINS)) < 0) {
		rc = n;
		goto out;
	}
	for (int i = 0; i < n && !rc; i++) {
		if (!(rc = lb_get(ns, o[i], &base)) && base <= s[i]) {
			*held += s[i] - base;
			*folded += base;
		}
	}
out:
	free(o);
	free(s);
	return rc;
}

int oplog_drop(struct mfs_ns *ns, struct mfs_batch *b, mfs_node_t origin, uint64_t from,
	       uint64_t upto)
{
	uint8_t prefix[8], k0[MFS_OPLOG_KEY_LEN];
	struct mfs_iter *it;
	int rc;

	put_be64(prefix, origin);
	if (!(it = mfs_iter_new(ns->db, MFS_CF_OPLOG, prefix, sizeof(prefix))))
		return -ENOMEM;
	mfs_oplog_key(origin, from + 1, k0);
	for (mfs_iter_seek(it, k0, sizeof(k0)); mfs_iter_valid(it); mfs_iter_next(it)) {
		size_t kl;
		const uint8_t *k = mfs_iter_key(it, &kl);

		if (kl != MFS_OPLOG_KEY_LEN || get_be64(k + 8) > upto)
			break;
		mfs_batch_delete(b, MFS_CF_OPLOG, k, kl);
	}
	rc = mfs_iter_error(it);
	mfs_iter_free(it);
	return rc;
}

/* One origin's ops up to upto into b, and its new base; how many in *n. */
static int trim_origin(struct mfs_ns *ns, struct mfs_batch *b, mfs_node_t origin, uint64_t upto,
		       uint64_t *n)
{
	uint64_t base, held;
	int rc;

	*n = 0;
	if ((rc = lb_get(ns, origin, &base)) || (rc = vv_get(ns, origin, &held)))
		return rc;
	if (upto > held)
		upto = held; /* never past what is held: a base is a prefix of the vv */
	if (upto <= base)
		return 0;
	if (upto - base > TRIM_MAX_OPS)
		upto = base + TRIM_MAX_OPS;
	if ((rc = oplog_drop(ns, b, origin, base, upto)))
		return rc;
	lb_put(b, origin, upto);
	*n = upto - base;
	return 0;
}

int mfs_ns_trim(struct mfs_ns *ns, const mfs_node_t *origins, const uint64_t *upto, int n,
		uint64_t *dropped)
{
	struct mfs_batch *b = mfs_batch_new(ns->db);
	int rc = 0;

	*dropped = 0;
	if (!b)
		return -ENOMEM;
	/* Under the lock: a snapshot's apply moves bases too. */
	pthread_mutex_lock(&ns->lock);
	for (int i = 0; i < n && !rc; i++) {
		uint64_t k;

		if (!(rc = trim_origin(ns, b, origins[i], upto[i], &k)))
			*dropped += k;
	}
	if (!rc && *dropped)
		rc = mfs_db_write(ns->db, b, MFS_WRITE_ASYNC);
	pthread_mutex_unlock(&ns->lock);
	if (rc)
		*dropped = 0;
	mfs_batch_free(b);
	return rc;
}
