/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test fixture: lists or drops chunks of a stopped node's store, to make a
 * chunk missing on some nodes (tests/fs/t1130-peers-fsck.sh).
 *
 *   chunk_tool DATA list         every indexed chunk: "HASH RAW_LEN"
 *   chunk_tool DATA drop HASH    removes its record, index entry and any
 *                                disk-cache copy (DATA/cache/HASH)
 *   chunk_tool DATA corrupt HASH flips one byte in the middle of its record
 *   chunk_tool DATA drop-all     drops every chunk and every disk-cache copy
 *                                (a node that lost its disk)
 *   chunk_tool DATA bases        every fine-tune delta record's bases:
 *                                "HASH BASE_HASH", a line per base range
 * Records are wherever they live: the chunks CF (small ones, old stores) or
 * a pack file (DATA/db/packs/), whose bytes are then punched or flipped in place.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/base/errors.h"
#include "store/base/hash.h"
#include "store/base/log.h"
#include "store/chunk/chunkstore.h"
#include "store/chunk/delta.h"
#include "store/kv/db.h"

/* Every DATA/cache/HASH file: a copy fsck and readers would still find. */
static int drop_disk_cache(const char *data)
{
	char path[4096];
	struct dirent *e;
	DIR *d;
	int rc = 0;

	snprintf(path, sizeof(path), "%s/cache", data);
	if (!(d = opendir(path)))
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d)))
		if (strlen(e->d_name) == MFS_HASH_HEX_LEN &&
		    unlinkat(dirfd(d), e->d_name, 0) && errno != ENOENT)
			rc = -errno;
	closedir(d);
	return rc;
}

static int drop_all(struct mfs_db *db, const char *data)
{
	struct mfs_iter *it = mfs_iter_new(db, MFS_CF_CHUNK_INDEX, NULL, 0);
	struct mfs_batch *b = mfs_batch_new(db);
	struct mfs_chunk_summary *packed = NULL;
	size_t npacked = 0;
	int rc = -ENOMEM;

	for (; it && b && mfs_iter_valid(it); mfs_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = mfs_iter_key(it, &kl), *v = mfs_iter_value(it, &vl);
		struct mfs_chunk_summary s, *grown;

		if (!mfs_chunk_summary_decode(v, vl, &s) && s.pack &&
		    (grown = realloc(packed, (npacked + 1) * sizeof(*packed)))) {
			packed = grown;
			packed[npacked++] = s;
		}
		mfs_batch_delete(b, MFS_CF_CHUNKS, k, kl);
		mfs_batch_delete(b, MFS_CF_CHUNK_INDEX, k, kl);
	}
	if (it && b)
		rc = mfs_db_write(db, b, MFS_WRITE_SYNC);
	for (size_t i = 0; !rc && i < npacked; i++)
		mfs_chunk_free_space(db, &packed[i]);
	if (!rc)
		rc = drop_disk_cache(data);
	free(packed);
	mfs_batch_free(b);
	mfs_iter_free(it);
	if (rc)
		fprintf(stderr, "chunk_tool: %s\n", mfs_strerror(rc));
	return rc ? 1 : 0;
}

/* The bases delta record h names, as "HASH BASE" lines. */
static void print_bases(struct mfs_db *db, const struct mfs_hash *h, const char *hex)
{
	struct mfs_delta_ref *v;
	struct mfs_val rec;
	uint32_t n = 0;

	if (mfs_chunk_record_get(db, h, &rec))
		return;
	if (!mfs_delta_refs(rec.p, rec.len, &v, &n)) {
		for (uint32_t i = 0; i < n; i++) {
			char b[MFS_HASH_HEX_LEN + 1];

			mfs_hash_to_hex(&v[i].base, b);
			printf("%s %s\n", hex, b);
		}
		free(v);
	}
	mfs_val_release(&rec);
}

static int list(struct mfs_db *db, int bases)
{
	struct mfs_iter *it = mfs_iter_new(db, MFS_CF_CHUNK_INDEX, NULL, 0);

	for (; it && mfs_iter_valid(it); mfs_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = mfs_iter_key(it, &kl), *v = mfs_iter_value(it, &vl);
		struct mfs_chunk_summary s;
		char hex[MFS_HASH_HEX_LEN + 1];
		struct mfs_hash h;

		if (kl != MFS_HASH_LEN || mfs_chunk_summary_decode(v, vl, &s))
			continue;
		memcpy(h.b, k, MFS_HASH_LEN);
		mfs_hash_to_hex(&h, hex);
		if (!bases)
			printf("%s %u\n", hex, s.raw_len);
		else if (s.codec == MFS_CODEC_DELTA)
			print_bases(db, &h, hex);
	}
	mfs_iter_free(it);
	return it ? 0 : 1;
}

/* Flips the byte in the middle of a pack record, in its pack file. */
static int corrupt_packed(const char *data, const struct mfs_chunk_summary *s)
{
	uint64_t at = s->off + s->record_len / 2;
	char path[4096];
	uint8_t c;
	int fd, rc = 0;

	snprintf(path, sizeof(path), "%s/db/packs/%08u.pack", data, s->pack);
	if ((fd = open(path, O_RDWR)) < 0)
		return -errno;
	if (pread(fd, &c, 1, (off_t)at) != 1)
		rc = -EIO;
	c ^= 0x5a;
	if (!rc && (pwrite(fd, &c, 1, (off_t)at) != 1 || fsync(fd)))
		rc = -EIO;
	close(fd);
	return rc;
}

static int drop(struct mfs_db *db, const char *data, const char *hex, int corrupt)
{
	struct mfs_chunk_summary s = { 0 };
	struct mfs_batch *b;
	struct mfs_hash h;
	struct mfs_val v;
	uint8_t *copy = NULL;
	char path[4096];
	int rc;

	if (mfs_hash_from_hex(hex, &h)) {
		fprintf(stderr, "chunk_tool: not a chunk hash: %s\n", hex);
		return 2;
	}
	if (!(b = mfs_batch_new(db)))
		return 1;
	if (mfs_chunk_summary_get(db, &h, &s))
		s.pack = 0;
	if (corrupt && s.pack) {
		if ((rc = corrupt_packed(data, &s)))
			fprintf(stderr, "chunk_tool: %s: %s\n", hex, mfs_strerror(rc));
		mfs_batch_free(b);
		return rc ? 1 : 0;
	}
	if (corrupt) {
		if ((rc = mfs_db_get(db, MFS_CF_CHUNKS, h.b, MFS_HASH_LEN, &v, 0))) {
			fprintf(stderr, "chunk_tool: %s: %s\n", hex, mfs_strerror(rc));
			mfs_batch_free(b);
			return 1;
		}
		if ((copy = malloc(v.len))) {
			memcpy(copy, v.p, v.len);
			copy[v.len / 2] ^= 0x5a;
			mfs_batch_put(b, MFS_CF_CHUNKS, h.b, MFS_HASH_LEN, copy, v.len);
		}
		mfs_val_release(&v);
	} else {
		mfs_batch_delete(b, MFS_CF_CHUNKS, h.b, MFS_HASH_LEN);
		mfs_batch_delete(b, MFS_CF_CHUNK_INDEX, h.b, MFS_HASH_LEN);
	}
	rc = mfs_db_write(db, b, MFS_WRITE_SYNC);
	if (!rc && !corrupt)
		mfs_chunk_free_space(db, &s);
	free(copy);
	mfs_batch_free(b);
	snprintf(path, sizeof(path), "%s/cache/%s", data, hex);
	if (!corrupt)
		unlink(path);
	if (rc)
		fprintf(stderr, "chunk_tool: %s\n", mfs_strerror(rc));
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct mfs_db *db = NULL;
	char dir[4096];
	int rc;

	if (argc < 3 || (strcmp(argv[2], "list") && strcmp(argv[2], "drop-all") &&
			 strcmp(argv[2], "bases") &&
			 ((strcmp(argv[2], "drop") && strcmp(argv[2], "corrupt")) || argc != 4))) {
		fprintf(stderr, "usage: chunk_tool DATA list|bases|drop-all | chunk_tool DATA drop|corrupt HASH\n");
		return 2;
	}
	mfs_log_open(NULL, MFS_LOG_WARN, MFS_LOG_WARN);
	snprintf(dir, sizeof(dir), "%s/db", argv[1]);
	if ((rc = mfs_store_open(dir, &db))) {
		fprintf(stderr, "chunk_tool: %s: %s\n", dir, mfs_strerror(rc));
		return 1;
	}
	if (!strcmp(argv[2], "list") || !strcmp(argv[2], "bases"))
		rc = list(db, !strcmp(argv[2], "bases"));
	else if (!strcmp(argv[2], "drop-all"))
		rc = drop_all(db, argv[1]);
	else
		rc = drop(db, argv[1], argv[3], !strcmp(argv[2], "corrupt"));
	mfs_db_close(db);
	return rc;
}
