/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Store statistics from the small CFs only: never reads a chunk blob.
 * Ratios are over the chunks that files reference, so old versions waiting
 * for gc do not make dedup look worse than it is; they are counted apart
 * as orphans.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "report.h"
#include "store/base/bytes.h"
#include "store/base/hashset.h"
#include "store/chunk/chunkstore.h"
#include "store/chunk/manifest.h"
#include "store/kv/db.h"
#include "store/ns/inode.h"
#include "store/ns/inode_walk.h"
#include "store/ns/rev.h"

struct inode_stats {
	struct mfs_db *db;
	struct mfs_store_stats *st;
	struct mfs_hashset *refs;
};

/* Statistics pass over malformed records and unreadable manifests: fsck reports those. */
static int count_inode(void *arg, const struct mfs_inode *in)
{
	struct inode_stats *s = arg;
	struct mfs_manifest *m;
	int rc = 0;

	if (S_ISREG(in->mode)) {
		s->st->files++;
		s->st->logical_bytes += in->size;
		if (in->has_manifest && !mfs_manifest_load(s->db, &in->manifest, &m)) {
			s->st->hole_bytes += m->hole_bytes;
			for (uint32_t i = 0; i < m->count && !rc; i++)
				if (!mfs_manifest_is_hole(&m->e[i]))
					rc = mfs_hashset_add(s->refs, &m->e[i].hash);
			mfs_manifest_unref(m);
		}
	} else if (S_ISDIR(in->mode)) {
		s->st->dirs++;
	} else {
		s->st->symlinks++;
	}
	return rc;
}

/* A revision's file (store/ns/rev.h): its chunks are not orphans; it counts as no file. */
static int ref_rev_file(void *arg, const char *path, const struct mfs_inode *in)
{
	struct inode_stats *s = arg;
	struct mfs_manifest *m;
	int rc = 0;

	(void)path;
	if (!mfs_manifest_load(s->db, &in->manifest, &m)) {
		for (uint32_t i = 0; i < m->count && !rc; i++)
			if (!mfs_manifest_is_hole(&m->e[i]))
				rc = mfs_hashset_add(s->refs, &m->e[i].hash);
		mfs_manifest_unref(m);
	}
	return rc;
}

static int walk_inodes(struct mfs_db *db, struct mfs_store_stats *st,
		       struct mfs_hashset *refs)
{
	struct inode_stats s = { db, st, refs };
	struct mfs_inode_walk w = { .fn = count_inode, .arg = &s };
	int rc = mfs_inode_walk(db, NULL, &w);

	return rc ? rc : mfs_rev_each_file(db, ref_rev_file, NULL, &s);
}

static int walk_chunks(struct mfs_db *db, struct mfs_store_stats *st,
		       const struct mfs_hashset *refs)
{
	struct mfs_iter *it = mfs_iter_new(db, MFS_CF_CHUNK_INDEX, NULL, 0);
	int rc;

	if (!it)
		return -ENOMEM;
	for (; mfs_iter_valid(it); mfs_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = mfs_iter_key(it, &kl), *v = mfs_iter_value(it, &vl);
		struct mfs_chunk_summary s;

		if (kl != MFS_HASH_LEN || mfs_chunk_summary_decode(v, vl, &s))
			continue;
		if (!mfs_hashset_has(refs, k)) {
			st->orphan_chunks++;
			st->orphan_bytes += s.record_len;
			continue;
		}
		st->chunks++;
		st->chunk_bytes += s.raw_len;
		st->stored_bytes += s.record_len;
		st->codec_chunks[s.codec]++;
	}
	rc = mfs_iter_error(it);
	mfs_iter_free(it);
	return rc;
}

int mfs_store_stats(struct mfs_db *db, struct mfs_store_stats *st)
{
	struct mfs_hashset refs = { 0 };
	int rc;

	memset(st, 0, sizeof(*st));
	if (!(rc = walk_inodes(db, st, &refs))) {
		mfs_hashset_finish(&refs);
		rc = walk_chunks(db, st, &refs);
	}
	mfs_hashset_clear(&refs);
	if (rc)
		return rc;
	st->disk_bytes = mfs_db_disk_bytes(db);
	/* Holes are no data: a sparse file is not deduplicated, only small. */
	st->dedup_ratio = st->chunk_bytes ?
		(double)(st->logical_bytes - st->hole_bytes) / st->chunk_bytes : 1.0;
	st->compression_ratio = st->stored_bytes ? (double)st->chunk_bytes / st->stored_bytes : 1.0;
	return 0;
}

int mfs_store_stats_cached(struct mfs_db *db, struct mfs_stats_cache *c, struct mfs_store_stats *st)
{
	/* Not meta, which every heartbeat writes: a revision made or deleted (rev.h)
	 * shows in orphan_chunks with the next change of the inodes. */
	const unsigned cfs = 1u << MFS_CF_INODES | 1u << MFS_CF_MANIFESTS | 1u << MFS_CF_CHUNK_INDEX;
	uint64_t changes;
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	/* Read before the walk: a write that lands during it makes the next call walk again. */
	changes = mfs_db_changes(db, cfs);
	if (!c->valid || c->changes != changes) {
		c->valid = 0;
		if (!(rc = mfs_store_stats(db, &c->st))) {
			c->changes = changes;
			c->valid = 1;
		}
	}
	if (!rc) {
		*st = c->st;
		st->disk_bytes = mfs_db_disk_bytes(db);
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}
