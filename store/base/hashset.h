/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A set of chunk hashes for whole-store walks (statistics, gc): add while
 * walking, then finish (sort, drop duplicates) once, then look up.
 */
#ifndef MFS_HASHSET_H
#define MFS_HASHSET_H

#include <stddef.h>
#include <stdint.h>

#include "hash.h"

struct mfs_hashset {
	struct mfs_hash *h;
	size_t n, cap;
	int finished;          /* sorted since the last add: mfs_hashset_has() may search */
};

/* 0 or -ENOMEM (the set is unchanged). */
int mfs_hashset_add(struct mfs_hashset *s, const struct mfs_hash *h);
/* Sorts and removes duplicates, so that mfs_hashset_has() can search. */
void mfs_hashset_finish(struct mfs_hashset *s);
/* Whether the finished set holds the hash at key (MFS_HASH_LEN bytes). */
int mfs_hashset_has(const struct mfs_hashset *s, const uint8_t *key);
/* Frees the hashes; the set is empty and reusable. */
void mfs_hashset_clear(struct mfs_hashset *s);

#endif
