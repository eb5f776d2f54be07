/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The inode table: in-memory nodes for the inodes the kernel knows or that
 * have open files, keyed by inode number.  See fs_internal.h, note 1.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs_internal.h"
#include "store/base/log.h"
#include "store/ns/namespace.h"

#define LOG_COMPONENT "fuse"

#define INITIAL_BUCKETS 4096

int itable_init(struct mfs_itable *t)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->published, NULL);
	pthread_mutex_init(&t->stagers_lock, NULL);
	t->nbuckets = INITIAL_BUCKETS;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	return t->buckets ? 0 : -ENOMEM;
}

static void node_free(struct mfs_fs *fs, struct mfs_node *n)
{
	mfs_inode_release(&n->rec);
	mfs_manifest_unref(n->manifest);
	mfs_manifest_unref(n->became_m);
	fs_pending_drop_kept(n);
	stager_remove(fs, n);
	staging_free(fs, n->stg);
	pthread_mutex_destroy(&n->lock);
	free(n);
}

void itable_release(struct mfs_fs *fs)
{
	struct mfs_itable *t = &fs->itable;

	for (size_t b = 0; b < t->nbuckets; b++) {
		struct mfs_node *n = t->buckets ? t->buckets[b] : NULL, *next;

		for (; n; n = next) {
			next = n->hnext;
			node_free(fs, n);
		}
	}
	free(t->buckets);
	for (size_t b = 0; b < MFS_SUCC_BUCKETS; b++) {
		struct mfs_succ *l = t->succ[b], *next;

		for (; l; l = next) {
			next = l->next;
			free(l);
		}
	}
	pthread_cond_destroy(&t->published);
	pthread_mutex_destroy(&t->lock);
}

static struct mfs_succ **succ_slot(struct mfs_itable *t, uint64_t from)
{
	struct mfs_succ **pp = &t->succ[(from * 0x9E3779B97F4A7C15ull >> 40) % MFS_SUCC_BUCKETS];

	while (*pp && (*pp)->from != from)
		pp = &(*pp)->next;
	return pp;
}

static struct mfs_succ **pred_head(struct mfs_itable *t, uint64_t to)
{
	return &t->pred[(to * 0x9E3779B97F4A7C15ull >> 40) % MFS_SUCC_BUCKETS];
}

static void pred_link(struct mfs_itable *t, struct mfs_succ *l)
{
	struct mfs_succ **head = pred_head(t, l->to);

	l->tnext = *head;
	*head = l;
}

static void pred_unlink(struct mfs_itable *t, struct mfs_succ *l)
{
	struct mfs_succ **pp = pred_head(t, l->to);

	while (*pp && *pp != l)
		pp = &(*pp)->tnext;
	if (*pp)
		*pp = l->tnext;
}

int itable_set_successor(struct mfs_fs *fs, uint64_t from, uint64_t to)
{
	struct mfs_itable *t = &fs->itable;
	struct mfs_succ **pp, *l;
	int rc = 0;

	pthread_mutex_lock(&t->lock);
	pp = succ_slot(t, from);
	if (*pp) {
		pred_unlink(t, *pp);
		(*pp)->to = to;
		pred_link(t, *pp);
	} else if ((l = malloc(sizeof(*l)))) {
		*l = (struct mfs_succ){ from, to, NULL, NULL };
		*pp = l;
		pred_link(t, l);
	} else {
		rc = -ENOMEM;
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

void itable_drop_successor(struct mfs_fs *fs, uint64_t from)
{
	struct mfs_itable *t = &fs->itable;
	struct mfs_succ **pp, *l;

	pthread_mutex_lock(&t->lock);
	pp = succ_slot(t, from);
	l = *pp;
	if (l) {
		*pp = l->next;
		pred_unlink(t, l);
	}
	pthread_mutex_unlock(&t->lock);
	free(l);
}

/* itable_follow with t->lock held. */
static uint64_t follow_locked(struct mfs_itable *t, uint64_t ino)
{
	/* Inode numbers only grow along a chain, so it cannot loop; bound it anyway. */
	for (int steps = 0; steps < 1 << 20; steps++) {
		struct mfs_succ *l = *succ_slot(t, ino);

		if (!l)
			break;
		ino = l->to;
	}
	return ino;
}

uint64_t itable_follow(struct mfs_fs *fs, uint64_t ino)
{
	struct mfs_itable *t = &fs->itable;

	pthread_mutex_lock(&t->lock);
	ino = follow_locked(t, ino);
	pthread_mutex_unlock(&t->lock);
	return ino;
}

static struct mfs_node **slot(struct mfs_itable *t, uint64_t ino);

int itable_hold_preds(struct mfs_fs *fs, uint64_t to, struct mfs_node **out, int max)
{
	struct mfs_itable *t = &fs->itable;
	uint64_t queue[64];
	int nq = 1, k = 0;

	queue[0] = to;
	pthread_mutex_lock(&t->lock);
	/* Breadth first back along the links: A -> B -> to finds B, then A. */
	for (int q = 0; q < nq && k < max; q++) {
		for (struct mfs_succ *l = *pred_head(t, queue[q]); l && k < max; l = l->tnext) {
			struct mfs_node *n;

			if (l->to != queue[q])
				continue;
			if (nq < (int)(sizeof(queue) / sizeof(queue[0])))
				queue[nq++] = l->from;
			if ((n = *slot(t, l->from))) {
				n->opens++;
				out[k++] = n;
			}
		}
	}
	pthread_mutex_unlock(&t->lock);
	return k;
}

static struct mfs_retry *retry_slot(struct mfs_itable *t, pid_t tid)
{
	return &t->retry[(unsigned)tid % MFS_RETRY_SLOTS];
}

void itable_retry_begin(struct mfs_fs *fs, pid_t tid)
{
	struct mfs_itable *t = &fs->itable;
	struct mfs_retry *r;

	if (tid <= 0)
		return;
	pthread_mutex_lock(&t->lock);
	r = retry_slot(t, tid);
	if (!r->tid)
		__atomic_add_fetch(&t->retrying, 1, __ATOMIC_RELAXED);
	*r = (struct mfs_retry){ tid, 0 };
	pthread_mutex_unlock(&t->lock);
}

void itable_retry_lookup(struct mfs_fs *fs, pid_t tid, uint64_t ino)
{
	struct mfs_itable *t = &fs->itable;
	struct mfs_retry *r;

	if (tid <= 0 || !__atomic_load_n(&t->retrying, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&t->lock);
	r = retry_slot(t, tid);
	/* The walk looks up every component: the last lookup is the file's. */
	if (r->tid == tid)
		r->ino = ino;
	pthread_mutex_unlock(&t->lock);
}

int itable_retry_take(struct mfs_fs *fs, pid_t tid, uint64_t ino)
{
	struct mfs_itable *t = &fs->itable;
	struct mfs_retry *r;
	int ok = -1;

	if (tid <= 0 || !__atomic_load_n(&t->retrying, __ATOMIC_RELAXED))
		return -1;
	pthread_mutex_lock(&t->lock);
	r = retry_slot(t, tid);
	if (r->tid == tid) {
		ok = r->ino && r->ino == ino;
		*r = (struct mfs_retry){ 0, 0 };
		__atomic_sub_fetch(&t->retrying, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&t->lock);
	return ok;
}

static int publishing(const struct mfs_itable *t, uint64_t ino)
{
	for (const struct mfs_publishing *p = t->publishing; p; p = p->next)
		if (p->ino == ino)
			return 1;
	return 0;
}

/* Follows ino's links once no commit publishes where they lead; t->lock held. */
static uint64_t follow_settled_locked(struct mfs_itable *t, uint64_t ino)
{
	uint64_t to;

	while (publishing(t, to = follow_locked(t, ino)))
		pthread_cond_wait(&t->published, &t->lock);
	return to;
}

uint64_t itable_follow_settled(struct mfs_fs *fs, uint64_t ino)
{
	struct mfs_itable *t = &fs->itable;

	pthread_mutex_lock(&t->lock);
	ino = follow_settled_locked(t, ino);
	pthread_mutex_unlock(&t->lock);
	return ino;
}

uint64_t itable_publish_begin(struct mfs_fs *fs, uint64_t ino, struct mfs_publishing *p)
{
	struct mfs_itable *t = &fs->itable;

	pthread_mutex_lock(&t->lock);
	p->ino = follow_settled_locked(t, ino);
	p->next = t->publishing;
	p->seq = ++t->publish_seq;
	t->publishing = p;
	if (p->view)
		__atomic_add_fetch(&t->viewing, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&t->lock);
	return p->ino;
}

/* Is a commit whose writer goes on, begun by the seq'th publish or before, publishing?  lock. */
static int viewing_upto(const struct mfs_itable *t, uint64_t seq)
{
	for (const struct mfs_publishing *p = t->publishing; p; p = p->next)
		if (p->view && p->seq <= seq)
			return 1;
	return 0;
}

void itable_wait_views(struct mfs_fs *fs)
{
	struct mfs_itable *t = &fs->itable;
	uint64_t upto;

	if (!__atomic_load_n(&t->viewing, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&t->lock);
	upto = t->publish_seq;
	while (viewing_upto(t, upto))
		pthread_cond_wait(&t->published, &t->lock);
	pthread_mutex_unlock(&t->lock);
}

void itable_publish_end(struct mfs_fs *fs, struct mfs_publishing *p)
{
	struct mfs_itable *t = &fs->itable;
	struct mfs_publishing **pp;

	pthread_mutex_lock(&t->lock);
	for (pp = &t->publishing; *pp && *pp != p; pp = &(*pp)->next)
		;
	if (*pp) {
		*pp = p->next;
		if (p->view)
			__atomic_sub_fetch(&t->viewing, 1, __ATOMIC_RELAXED);
	}
	pthread_cond_broadcast(&t->published);
	pthread_mutex_unlock(&t->lock);
}

static struct mfs_node **slot(struct mfs_itable *t, uint64_t ino)
{
	struct mfs_node **pp = &t->buckets[(ino * 0x9E3779B97F4A7C15ull >> 32) % t->nbuckets];

	while (*pp && (*pp)->ino != ino)
		pp = &(*pp)->hnext;
	return pp;
}

static void grow(struct mfs_itable *t)
{
	size_t nb = t->nbuckets * 2;
	struct mfs_node **nbk = calloc(nb, sizeof(*nbk));
	struct mfs_node **old = t->buckets;
	size_t oldn = t->nbuckets;

	if (!nbk)
		return; /* longer chains, still correct */
	t->buckets = nbk;
	t->nbuckets = nb;
	for (size_t b = 0; b < oldn; b++) {
		struct mfs_node *n = old[b], *next;

		for (; n; n = next) {
			struct mfs_node **pp = slot(t, n->ino);

			next = n->hnext;
			n->hnext = NULL;
			*pp = n;
		}
	}
	free(old);
}

struct mfs_node *itable_peek(struct mfs_fs *fs, uint64_t ino)
{
	struct mfs_node *n;

	pthread_mutex_lock(&fs->itable.lock);
	n = *slot(&fs->itable, ino);
	pthread_mutex_unlock(&fs->itable.lock);
	return n;
}

struct mfs_node *itable_hold(struct mfs_fs *fs, uint64_t ino)
{
	struct mfs_node *n;

	pthread_mutex_lock(&fs->itable.lock);
	if ((n = *slot(&fs->itable, ino)))
		n->opens++;
	pthread_mutex_unlock(&fs->itable.lock);
	return n;
}

struct mfs_node *itable_get(struct mfs_fs *fs, uint64_t ino, struct mfs_inode *rec,
			    uint64_t lookups, int opens, int *rc)
{
	struct mfs_itable *t = &fs->itable;
	struct mfs_inode loaded = { 0 };
	struct mfs_node *n, **pp;

	*rc = 0;
	pthread_mutex_lock(&t->lock);
	pp = slot(t, ino);
	if ((n = *pp)) {
		n->nlookup += lookups;
		n->opens += opens;
		pthread_mutex_unlock(&t->lock);
		if (rec)
			mfs_inode_release(rec);
		return n;
	}
	pthread_mutex_unlock(&t->lock);

	/* Load outside the table lock; another thread may race us in. */
	if (!rec) {
		if ((*rc = mfs_ns_get(fs->ns, ino, &loaded)))
			return NULL;
		rec = &loaded;
	}
	if (!(n = calloc(1, sizeof(*n)))) {
		mfs_inode_release(rec);
		*rc = -ENOMEM;
		return NULL;
	}
	n->ino = ino;
	n->rec = *rec;
	memset(rec, 0, sizeof(*rec));
	pthread_mutex_init(&n->lock, NULL);

	pthread_mutex_lock(&t->lock);
	pp = slot(t, ino);
	if (*pp) {
		struct mfs_node *winner = *pp;

		winner->nlookup += lookups;
		winner->opens += opens;
		pthread_mutex_unlock(&t->lock);
		node_free(fs, n);
		return winner;
	}
	n->nlookup = lookups;
	n->opens = opens;
	*pp = n;
	if (++t->count > t->nbuckets * 2)
		grow(t);
	pthread_mutex_unlock(&t->lock);
	return n;
}

void itable_put(struct mfs_fs *fs, struct mfs_node *n, uint64_t lookups, int opens)
{
	struct mfs_itable *t = &fs->itable;
	int dead = 0;

	pthread_mutex_lock(&t->lock);
	/*
	 * More dropped than taken is a counting bug here (the kernel forgets
	 * only what it was given): going on would free a node still in use.
	 * The root is the exception: it has one lookup from the start and the
	 * kernel may forget it at unmount.
	 */
	if ((lookups > n->nlookup && n->ino != MFS_ROOT_INO) || opens > n->opens)
		BUG("inode %016llx: dropping %llu lookups and %d opens of %llu and %d",
		    (unsigned long long)n->ino, (unsigned long long)lookups, opens,
		    (unsigned long long)n->nlookup, n->opens);
	n->nlookup -= lookups < n->nlookup ? lookups : n->nlookup;
	n->opens -= opens;
	if (n->nlookup == 0 && n->opens == 0 && n->ino != MFS_ROOT_INO) {
		struct mfs_node **pp = slot(t, n->ino);

		if (*pp == n) {
			*pp = n->hnext;
			t->count--;
			dead = 1;
			/*
			 * A change saved through n (an fsetxattr through an old
			 * version's descriptor, on a node of the new version made
			 * for it) is now in the store and in no node: a lookup that
			 * read the record before it must read it again.
			 */
			__atomic_add_fetch(&fs->remote_gen, 1, __ATOMIC_ACQ_REL);
		}
	}
	pthread_mutex_unlock(&t->lock);
	if (dead)
		node_free(fs, n);
}
