/* SPDX-License-Identifier: Apache-2.0 */
/* Sets of chunk hashes (hashset.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "hashset.h"
#include "log.h"

int mfs_hashset_add(struct mfs_hashset *s, const struct mfs_hash *h)
{
	if (mfs_grow(&s->h, &s->cap, s->n, sizeof(*s->h)))
		return -ENOMEM;
	s->h[s->n++] = *h;
	s->finished = 0;
	return 0;
}

static int hash_cmp(const void *a, const void *b)
{
	return memcmp(a, b, MFS_HASH_LEN);
}

void mfs_hashset_finish(struct mfs_hashset *s)
{
	size_t out = 0;

	s->finished = 1;
	if (!s->n)
		return;
	qsort(s->h, s->n, sizeof(*s->h), hash_cmp);
	for (size_t i = 1; i < s->n; i++)
		if (memcmp(&s->h[i], &s->h[out], MFS_HASH_LEN))
			s->h[++out] = s->h[i];
	s->n = out + 1;
}

int mfs_hashset_has(const struct mfs_hashset *s, const uint8_t *key)
{
	/* A search of an unsorted set misses members: gc would free chunks in use. */
	if (s->n && !s->finished)
		BUG("hash set of %zu searched before mfs_hashset_finish", s->n);
	return s->n && bsearch(key, s->h, s->n, sizeof(*s->h), hash_cmp) != NULL;
}

void mfs_hashset_clear(struct mfs_hashset *s)
{
	free(s->h);
	memset(s, 0, sizeof(*s));
}
