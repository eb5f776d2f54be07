/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What gc needs to know of the peers (store/maint/gc.h, rule c): the version
 * vector each configured peer sent in its last PULL.  A PULL carries all
 * the puller has applied, so once a peer's vector covers this node's
 * vector of some moment, that peer has every op this node had then.  Kept
 * in memory only: after a restart every peer counts as silent until it
 * pulls again (within a heartbeat when it is up).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "diskcache.h"
#include "internal.h"
#include "store/maint/gc.h"

uint64_t peer_pulled(struct mfs_replica *r, mfs_node_t node, const struct mfs_wire_vv *vv)
{
	struct mfs_peer *p = peer_by_id(r, node);
	uint64_t prev;

	/* Only configured peers count (and bound the memory kept). */
	if (!p)
		return 0;
	pthread_mutex_lock(&p->lock);
	prev = p->pulled ? p->pulled_ms : 0;
	if (!p->pulled)
		p->pulled = malloc(sizeof(*p->pulled));
	if (p->pulled) {
		*p->pulled = *vv;
		p->pulled_ms = mfs_now_ms();
	}
	pthread_mutex_unlock(&p->lock);
	return prev;
}

int mfs_replica_gc_peers(struct mfs_replica *r, struct mfs_gc_peer **out, int *n)
{
	int np = peer_count(r), k = 0;
	struct mfs_gc_peer *v = calloc(np ? np : 1, sizeof(*v));

	*out = NULL;
	*n = 0;
	if (!v)
		return -ENOMEM;
	for (int i = 0; i < np; i++) {
		struct mfs_peer *p = &r->peers[i];
		struct mfs_gc_peer *g = &v[k];

		/* A removed node holds nothing back: it will never pull again. */
		if (peer_is_gone(p))
			continue;
		k++;
		snprintf(g->name, sizeof(g->name), "%s", p->endpoint);
		pthread_mutex_lock(&p->lock);
		g->id = p->id;
		if (!p->id) {
			g->state = MFS_GC_PEER_UNKNOWN;
		} else if (!p->pulled) {
			g->state = MFS_GC_PEER_SILENT;
		} else {
			g->state = MFS_GC_PEER_PULLED;
			g->n = p->pulled->n < MFS_GC_MAX_VV ? p->pulled->n : MFS_GC_MAX_VV;
			memcpy(g->origin, p->pulled->origin, g->n * sizeof(*g->origin));
			memcpy(g->seq, p->pulled->seq, g->n * sizeof(*g->seq));
		}
		pthread_mutex_unlock(&p->lock);
	}
	*out = v;
	*n = k;
	return 0;
}

/* gc's view of the disk cache (store/maint/gc.h): the cache's calls, adapted. */
static int cache_each(void *arg, int (*fn)(void *fnarg, const struct mfs_hash *h, uint64_t size),
		      void *fnarg)
{
	struct mfs_diskcache_entry *v = NULL;
	size_t n = 0;
	int rc = mfs_diskcache_list(arg, &v, &n);

	for (size_t i = 0; i < n && !rc; i++)
		rc = fn(fnarg, &v[i].h, v[i].size);
	free(v);
	return rc;
}

static int cache_has(void *arg, const struct mfs_hash *h)
{
	return mfs_diskcache_has(arg, h);
}

static void cache_remove(void *arg, const struct mfs_hash *h)
{
	mfs_diskcache_remove(arg, h);
}

const struct mfs_gc_cache *mfs_replica_gc_cache(struct mfs_replica *r)
{
	if (!r->dc)
		return NULL;
	r->gc_cache = (struct mfs_gc_cache){ cache_each, cache_has, cache_remove, r->dc };
	return &r->gc_cache;
}
