/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where a merged directory's entries went (ns_merge.c note 1), for the
 * calls that still name it.
 *
 * Two `mkdir -p` of one path on two nodes at once: the loser's maker merges
 * its directory into the winner and deletes its record.  A process on that
 * node that made the directory a moment before still holds it: the kernel
 * resolved the path to it before the merge (its dentry, or an open
 * directory), and its create in it came back ENOENT though nobody removed
 * anything (t1170 in CI: huggingface_hub's makedirs of .locks/<repo>, then
 * open of the lock file under it).  Such a call goes to the directory the
 * merge moved the entries into, where they are.
 *
 * Kept in memory, the last NS_FORWARD_MAX merges: the race lasts until the
 * kernel takes the invalidation of the entry, and inode numbers are never
 * given twice, so an old forward is never wrong, only dropped.
 */
#include <errno.h>

#include "ns_internal.h"

void ns_forward_note(struct mfs_ns *ns, uint64_t from, uint64_t into)
{
	struct ns_forwards *f = &ns->forwards;

	pthread_mutex_lock(&f->lock);
	f->v[f->next % NS_FORWARD_MAX] = (struct ns_forward){ .from = from, .into = into };
	__atomic_store_n(&f->next, f->next + 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&f->lock);
}

static uint64_t forward_once(const struct ns_forwards *f, uint64_t dir)
{
	for (unsigned i = 0; i < NS_FORWARD_MAX; i++)
		if (f->v[i].from == dir)
			return f->v[i].into;
	return 0;
}

uint64_t ns_forward_dir(struct mfs_ns *ns, uint64_t dir)
{
	struct ns_forwards *f = &ns->forwards;
	uint64_t to = 0, next;

	/* Every lookup of a name that is not there asks: most nodes never merged. */
	if (!dir || !__atomic_load_n(&f->next, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&f->lock);
	/* A chain (a merged parent's subdirectory merged in turn), never a loop. */
	for (int hops = 0; hops < NS_FORWARD_MAX && (next = forward_once(f, to ? to : dir)); hops++)
		to = next;
	pthread_mutex_unlock(&f->lock);
	return to;
}
