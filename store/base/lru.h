/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An intrusive table of chunks by hash with a least-recently-used list: the
 * one mechanism behind the chunk cache (store/chunk/cache.c) and the peers'
 * disk cache (replica/diskcache.c).  The caller embeds a struct
 * mfs_lru_node in its entry, owns the memory and the lock, and keeps its
 * own byte counts: a node can be in the table and off the list (the chunk
 * cache takes entries that are in use off the list, so they are never
 * evicted).  Not thread-safe: every call is made under the caller's lock.
 */
#ifndef MFS_LRU_H
#define MFS_LRU_H

#include <stddef.h>

#include "hash.h"

#define MFS_LRU_BUCKETS 4096

struct mfs_lru_node {
	struct mfs_hash key;
	struct mfs_lru_node *hnext;        /* bucket chain */
	struct mfs_lru_node *prev, *next;  /* list (next: newer); NULL when off it */
};

struct mfs_lru {
	struct mfs_lru_node *buckets[MFS_LRU_BUCKETS];
	struct mfs_lru_node list;          /* sentinel: list.next is the oldest */
};

void mfs_lru_init(struct mfs_lru *t);
struct mfs_lru_node *mfs_lru_find(const struct mfs_lru *t, const struct mfs_hash *h);
/* Into the table (not onto the list); n->key set, not already present. */
void mfs_lru_insert(struct mfs_lru *t, struct mfs_lru_node *n);
/* Out of the table and off the list. */
void mfs_lru_remove(struct mfs_lru *t, struct mfs_lru_node *n);
/* Onto the list at the newest end, or with cold at the oldest (evicted first). */
void mfs_lru_push(struct mfs_lru *t, struct mfs_lru_node *n, int cold);
/* Off the list, still in the table; nothing if it was not on it. */
void mfs_lru_unlink(struct mfs_lru_node *n);
static inline int mfs_lru_listed(const struct mfs_lru_node *n)
{
	return n->next != NULL;
}
/* The least recently used node on the list, or NULL. */
struct mfs_lru_node *mfs_lru_oldest(const struct mfs_lru *t);
/* The next newer node on the list after n, or NULL. */
struct mfs_lru_node *mfs_lru_newer(const struct mfs_lru *t, const struct mfs_lru_node *n);
/* Empties the table; returns its nodes chained by hnext, for the caller to free. */
struct mfs_lru_node *mfs_lru_take_all(struct mfs_lru *t);

/* The entry that embeds node n as its member. */
#define mfs_lru_entry(n, type, member) ((type *)((char *)(n) - offsetof(type, member)))

#endif
