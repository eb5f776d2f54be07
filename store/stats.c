/* SPDX-License-Identifier: Apache-2.0 */
/* Store statistics from the small CFs only: never reads a chunk blob. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "bytes.h"
#include "chunkstore.h"
#include "db.h"
#include "inode.h"
#include "report.h"

static int count_inodes(struct mfs_db *db, struct mfs_store_stats *st)
{
	struct mfs_iter *it = mfs_iter_new(db, MFS_CF_INODES, NULL, 0);
	int rc;

	if (!it)
		return -ENOMEM;
	for (; mfs_iter_valid(it); mfs_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = mfs_iter_key(it, &kl), *v = mfs_iter_value(it, &vl);
		struct mfs_inode in;

		if (kl != 8 || mfs_inode_decode(get_be64(k), v, vl, &in))
			continue; /* fsck reports malformed records */
		if (S_ISREG(in.mode)) {
			st->files++;
			st->logical_bytes += in.size;
		} else if (S_ISDIR(in.mode)) {
			st->dirs++;
		} else {
			st->symlinks++;
		}
		mfs_inode_release(&in);
	}
	rc = mfs_iter_error(it);
	mfs_iter_free(it);
	return rc;
}

static int count_chunks(struct mfs_db *db, struct mfs_store_stats *st)
{
	struct mfs_iter *it = mfs_iter_new(db, MFS_CF_CHUNK_INDEX, NULL, 0);
	int rc;

	if (!it)
		return -ENOMEM;
	for (; mfs_iter_valid(it); mfs_iter_next(it)) {
		size_t vl;
		const uint8_t *v = mfs_iter_value(it, &vl);
		struct mfs_chunk_summary s;

		if (mfs_chunk_summary_decode(v, vl, &s))
			continue;
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
	int rc;

	memset(st, 0, sizeof(*st));
	if ((rc = count_inodes(db, st)) || (rc = count_chunks(db, st)))
		return rc;
	st->disk_bytes = mfs_db_disk_bytes(db);
	st->dedup_ratio = st->chunk_bytes ? (double)st->logical_bytes / st->chunk_bytes : 1.0;
	st->compression_ratio = st->stored_bytes ? (double)st->chunk_bytes / st->stored_bytes : 1.0;
	return 0;
}
