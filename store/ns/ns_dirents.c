/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every directory entry of the store, one after another: the scans gc's
 * repairs make (which inodes have names, which entries lead to a file its
 * record does not list, orphans, directories' entries).  Each reads the
 * whole dirents column family, so none runs per op.
 */
#include <string.h>

#include "ns_internal.h"
#include "store/base/bytes.h"
#include "store/kv/db.h"

struct walk {
	ns_dirent_fn fn;
	void *arg;
};

/* An entry's key is its parent (8 bytes, big-endian) and a name; its value the child and mode. */
static int one(void *arg, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	const struct walk *w = arg;
	struct ns_dirent d;

	if (kl <= 8 || kl > 8 + MFS_NAME_MAX || vl != 12)
		return 0;
	d = (struct ns_dirent){
		.parent = get_be64(k), .child = get_le64(v), .mode = get_le32(v + 8),
		.name = (const char *)k + 8, .namelen = kl - 8, .key = k, .klen = kl, .val = v,
	};
	return w->fn(w->arg, &d);
}

int ns_dirents_each(struct mfs_ns *ns, ns_dirent_fn fn, void *arg)
{
	struct walk w = { .fn = fn, .arg = arg };

	return mfs_db_each(ns->db, MFS_CF_DIRENTS, NULL, 0, one, &w);
}

void ns_dirent_name(const struct ns_dirent *d, char out[MFS_NAME_MAX + 1])
{
	memcpy(out, d->name, d->namelen);
	out[d->namelen] = 0;
}
