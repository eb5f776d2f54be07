/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "lru.h"

static unsigned bucket_of(const struct mfs_hash *h)
{
	unsigned v;

	memcpy(&v, h->b, sizeof(v)); /* SHA-256 bytes are uniform */
	return v % MFS_LRU_BUCKETS;
}

void mfs_lru_init(struct mfs_lru *t)
{
	memset(t->buckets, 0, sizeof(t->buckets));
	t->list.prev = t->list.next = &t->list;
}

struct mfs_lru_node *mfs_lru_find(const struct mfs_lru *t, const struct mfs_hash *h)
{
	for (struct mfs_lru_node *n = t->buckets[bucket_of(h)]; n; n = n->hnext)
		if (!memcmp(n->key.b, h->b, MFS_HASH_LEN))
			return n;
	return NULL;
}

void mfs_lru_insert(struct mfs_lru *t, struct mfs_lru_node *n)
{
	struct mfs_lru_node **head = &t->buckets[bucket_of(&n->key)];

	n->prev = n->next = NULL;
	n->hnext = *head;
	*head = n;
}

void mfs_lru_remove(struct mfs_lru *t, struct mfs_lru_node *n)
{
	struct mfs_lru_node **pp = &t->buckets[bucket_of(&n->key)];

	while (*pp && *pp != n)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = n->hnext;
	mfs_lru_unlink(n);
}

void mfs_lru_push(struct mfs_lru *t, struct mfs_lru_node *n, int cold)
{
	struct mfs_lru_node *after;

	/* Unlinked first: n may be the newest, the node it would go after. */
	mfs_lru_unlink(n);
	after = cold ? &t->list : t->list.prev;
	n->prev = after;
	n->next = after->next;
	after->next->prev = n;
	after->next = n;
}

void mfs_lru_unlink(struct mfs_lru_node *n)
{
	if (!n->next)
		return;
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = NULL;
}

struct mfs_lru_node *mfs_lru_oldest(const struct mfs_lru *t)
{
	return t->list.next == &t->list ? NULL : t->list.next;
}

struct mfs_lru_node *mfs_lru_newer(const struct mfs_lru *t, const struct mfs_lru_node *n)
{
	return n->next == &t->list ? NULL : n->next;
}

struct mfs_lru_node *mfs_lru_take_all(struct mfs_lru *t)
{
	struct mfs_lru_node *all = NULL;

	for (int b = 0; b < MFS_LRU_BUCKETS; b++) {
		while (t->buckets[b]) {
			struct mfs_lru_node *n = t->buckets[b];

			t->buckets[b] = n->hnext;
			n->hnext = all;
			all = n;
		}
	}
	t->list.prev = t->list.next = &t->list;
	return all;
}
