/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Chunk records in pack files (store/kv/pack.h) on a real RocksDB in a
 * temporary directory: large records go to a pack and read back, small
 * ones and version 1 entries stay in the chunks CF; an index entry is
 * never written without its record (a crash or a failed fdatasync in
 * between leaves no index entry, and the reopen punches the record out);
 * gc's delete punches the record out and
 * unlinks a sealed pack left empty; reopening seals the packs and counts
 * their live bytes again; a corrupt pack record is refused; a stray file
 * among the packs fails the open.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/base/bytes.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/chunk/chunkstore.h"
#include "store/chunk/codec.h"
#include "store/kv/db.h"
#include "store/kv/pack.h"
#include "store/maint/copies.h"
#include "tap.h"
#include "testdata.h"

#define NCHUNK 4

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
	return td_next(&rng);
}

struct chunk {
	uint8_t *raw;
	size_t len;
	uint8_t *rec;
	size_t reclen;
	struct mfs_chunk_info info;
	struct mfs_hash h;
};

/* Random bytes; with nibbles, a record zstd halves (still a pack record). */
static void make_chunk(struct mfs_codec_ctx *ctx, struct chunk *c, size_t len, int nibbles)
{
	ssize_t n;

	c->raw = malloc(len);
	c->len = len;
	for (size_t i = 0; i < len; i++)
		c->raw[i] = (uint8_t)(nibbles ? next() & 0x0f : next());
	c->rec = malloc(mfs_chunk_record_bound(len));
	n = mfs_chunk_encode(ctx, c->raw, len, c->rec, mfs_chunk_record_bound(len), -1);
	if (n < 0 || mfs_chunk_peek(c->rec, (size_t)n, &c->info) || mfs_sha256(c->raw, len, &c->h))
		tap_bail("cannot make a chunk");
	c->reclen = (size_t)n;
}

/* The commit protocol as ingest runs it: records, flush, then the index. */
static int store(struct mfs_db *db, struct chunk *c, int n)
{
	struct mfs_batch *b = mfs_batch_new(db);
	int rc;

	for (int i = 0; i < n; i++)
		mfs_chunk_stage_record(b, &c[i].h, c[i].rec, c[i].reclen);
	rc = mfs_db_write(db, b, MFS_WRITE_NOWAL);
	mfs_batch_free(b);
	if (rc || (rc = mfs_db_flush(db, MFS_CF_CHUNKS)))
		return rc;
	b = mfs_batch_new(db);
	for (int i = 0; i < n; i++)
		mfs_chunk_stage_index(b, &c[i].h, &c[i].info, c[i].reclen);
	rc = mfs_db_write(db, b, MFS_WRITE_SYNC);
	mfs_batch_free(b);
	return rc;
}

static int reads_back(struct mfs_db *db, struct mfs_codec_ctx *ctx, const struct chunk *c)
{
	struct mfs_chunk_bytes bytes;
	int good;

	if (mfs_chunk_load(db, ctx, &c->h, &bytes, 1))
		return 0;
	good = bytes.len == c->len && !memcmp(bytes.p, c->raw, c->len);
	mfs_chunk_bytes_release(&bytes);
	return good;
}

static int load_rc(struct mfs_db *db, struct mfs_codec_ctx *ctx, const struct chunk *c)
{
	struct mfs_chunk_bytes bytes;
	int rc = mfs_chunk_load(db, ctx, &c->h, &bytes, 1);

	if (!rc)
		mfs_chunk_bytes_release(&bytes);
	return rc;
}

static uint32_t pack_of(struct mfs_db *db, const struct chunk *c)
{
	struct mfs_chunk_summary s;

	return mfs_chunk_summary_get(db, &c->h, &s) ? UINT32_MAX : s.pack;
}

static long long blocks_of(const char *path)
{
	struct stat st;

	return stat(path, &st) ? -1 : (long long)st.st_blocks;
}

static void delete_chunk(struct mfs_db *db, const struct chunk *c)
{
	struct mfs_chunk_summary s;
	struct mfs_batch *b = mfs_batch_new(db);

	if (mfs_chunk_summary_get(db, &c->h, &s))
		tap_bail("no summary to delete");
	mfs_chunk_stage_delete(b, &c->h);
	if (mfs_db_write(db, b, MFS_WRITE_SYNC) || mfs_chunk_free_space(db, &s))
		tap_bail("delete failed");
	mfs_batch_free(b);
}

int main(void)
{
	char dir[] = "/tmp/mfs-test-pack-XXXXXX", dbdir[256], pack1[300], pack2[300], path[300];
	struct mfs_codec_ctx *ctx = mfs_codec_ctx_new();
	struct chunk c[NCHUNK], extra[4], small, twin;
	struct mfs_db *db = NULL;
	uint8_t hdr[MFS_PACK_HDR_LEN];
	long long before;
	int fd;

	mfs_log_open(NULL, MFS_LOG_ERROR, MFS_LOG_ERROR);
	if (!ctx || !mkdtemp(dir))
		tap_bail("setup");
	snprintf(dbdir, sizeof(dbdir), "%s/db", dir);
	snprintf(pack1, sizeof(pack1), "%s/packs/00000001.pack", dbdir);
	snprintf(pack2, sizeof(pack2), "%s/packs/00000002.pack", dbdir);
	for (int i = 0; i < NCHUNK; i++)
		make_chunk(ctx, &c[i], (300u << 10) + 4097u * (unsigned)i, i == 1);
	for (int i = 0; i < 4; i++)
		make_chunk(ctx, &extra[i], 200u << 10, 0);
	make_chunk(ctx, &small, 5000, 0);
	make_chunk(ctx, &twin, 400u << 10, 1);

	is_int(mfs_store_open(dbdir, &db), 0, "open a new store");
	ok(mfs_db_packs(db) != NULL, "a RocksDB store has packs");
	ok(c[1].info.codec != MFS_CODEC_RAW && c[1].reclen >= MFS_CHUNK_PACK_MIN,
	   "one chunk compresses and still goes to a pack (%zu bytes)", c[1].reclen);
	is_int(store(db, c, NCHUNK), 0, "store 4 large chunks");
	is_int(store(db, &small, 1), 0, "store a small one");
	{
		int all = 1;

		for (int i = 0; i < NCHUNK; i++)
			all &= pack_of(db, &c[i]) == 1 && reads_back(db, ctx, &c[i]);
		ok(all, "large records are in pack 1 (index version 2) and read back, SHA-256 checked");
	}
	is_int(pack_of(db, &small), 0, "a small record is in the chunks CF (version 1)");
	ok(reads_back(db, ctx, &small), "and reads back");
	fd = open(pack1, O_RDONLY);
	ok(fd >= 0 && pread(fd, hdr, sizeof(hdr), 0) == (ssize_t)sizeof(hdr) &&
	   !memcmp(hdr, MFS_PACK_MAGIC, 4) && hdr[4] == MFS_PACK_VERSION && get_le32(hdr + 8) == 1,
	   "the pack starts with its header");
	if (fd >= 0)
		close(fd);
	{
		struct mfs_val v;

		ok(!mfs_chunk_record_get(db, &c[2].h, &v) && v.len == c[2].reclen &&
		   !memcmp(v.p, c[2].rec, v.len), "the record as peers get it is the record written");
		mfs_val_release(&v);
	}

	/* Record and index in one batch (a replaced bad copy): the write syncs the pack first. */
	{
		struct mfs_batch *b = mfs_batch_new(db);

		mfs_chunk_stage_record(b, &extra[0].h, extra[0].rec, extra[0].reclen);
		mfs_chunk_stage_index(b, &extra[0].h, &extra[0].info, extra[0].reclen);
		is_int(mfs_db_write(db, b, MFS_WRITE_ASYNC), 0, "record and index in one batch");
		mfs_batch_free(b);
		ok(pack_of(db, &extra[0]) == 1 && reads_back(db, ctx, &extra[0]), "and it reads back");
	}

	/*
	 * A record whose index entry is being written stays in sight of
	 * mfs_chunk_staged_get until that write: a reader that looks there,
	 * then at the index, finds it in one (t1355 fetched it twice).
	 */
	{
		struct mfs_batch *b = mfs_batch_new(db);
		struct mfs_val v = { 0 };

		mfs_chunk_stage_record(b, &extra[3].h, extra[3].rec, extra[3].reclen);
		ok(!mfs_db_write(db, b, MFS_WRITE_NOWAL) && !mfs_db_flush(db, MFS_CF_CHUNKS),
		   "a record staged");
		mfs_batch_free(b);
		b = mfs_batch_new(db);
		mfs_chunk_stage_index(b, &extra[3].h, &extra[3].info, extra[3].reclen);
		ok(!mfs_chunk_staged_get(db, &extra[3].h, 0, &v) && v.len == extra[3].reclen &&
		   !memcmp(v.p, extra[3].rec, v.len) && mfs_chunk_exists(db, &extra[3].h) == 0,
		   "its index entry staged, not written: the staged record is still found");
		mfs_val_release(&v);
		is_int(mfs_db_write(db, b, MFS_WRITE_SYNC), 0, "the index entry written");
		mfs_batch_free(b);
		ok(mfs_chunk_exists(db, &extra[3].h) == 1 &&
		   mfs_chunk_staged_get(db, &extra[3].h, 0, &v) == -ENOENT,
		   "then the index has it, and it is no longer pending");
		mfs_val_release(&v);
	}

	/*
	 * Two writers stage the same chunk with different records (the keeper
	 * got it raw from a proxy, replication as stored), then index in the
	 * other order: each index entry points at a record of its own length.
	 */
	{
		struct chunk raw = twin;
		struct mfs_batch *b = mfs_batch_new(db), *b2 = mfs_batch_new(db);
		ssize_t n;

		raw.rec = malloc(mfs_chunk_record_bound(twin.len));
		n = mfs_chunk_encode(ctx, twin.raw, twin.len, raw.rec, mfs_chunk_record_bound(twin.len),
				     MFS_CODEC_RAW);
		if (n < 0 || mfs_chunk_peek(raw.rec, (size_t)n, &raw.info))
			tap_bail("cannot make a raw record");
		raw.reclen = (size_t)n;
		mfs_chunk_stage_record(b, &twin.h, twin.rec, twin.reclen);
		mfs_chunk_stage_record(b2, &raw.h, raw.rec, raw.reclen);
		ok(!mfs_db_write(db, b, MFS_WRITE_NOWAL) && !mfs_db_write(db, b2, MFS_WRITE_NOWAL) &&
		   !mfs_db_flush(db, MFS_CF_CHUNKS), "one chunk staged twice, coded (%zu) and raw (%zu)",
		   twin.reclen, raw.reclen);
		mfs_batch_free(b);
		mfs_batch_free(b2);
		b = mfs_batch_new(db);
		mfs_chunk_stage_index(b, &twin.h, &twin.info, twin.reclen);
		is_int(mfs_db_write(db, b, MFS_WRITE_SYNC), 0, "the coded one is indexed first");
		mfs_batch_free(b);
		ok(reads_back(db, ctx, &twin), "and reads back");
		b = mfs_batch_new(db);
		mfs_chunk_stage_index(b, &raw.h, &raw.info, raw.reclen);
		is_int(mfs_db_write(db, b, MFS_WRITE_SYNC), 0, "then the raw one, staged last");
		mfs_batch_free(b);
		ok(reads_back(db, ctx, &raw), "and that one reads back");
		free(raw.rec);
	}

	/* The pack's fdatasync fails: the index entry is not written. */
	{
		struct mfs_batch *b = mfs_batch_new(db);

		mfs_chunk_stage_record(b, &extra[1].h, extra[1].rec, extra[1].reclen);
		is_int(mfs_db_write(db, b, MFS_WRITE_NOWAL), 0, "stage a record");
		mfs_batch_free(b);
		mfs_packs_fail_next_sync(mfs_db_packs(db), -EIO);
		b = mfs_batch_new(db);
		mfs_chunk_stage_index(b, &extra[1].h, &extra[1].info, extra[1].reclen);
		is_int(mfs_db_write(db, b, MFS_WRITE_SYNC), -EIO,
		       "the pack cannot be synced: the index write fails");
		mfs_batch_free(b);
		is_int(mfs_chunk_exists(db, &extra[1].h), 0, "no index entry without its record");
	}
	/* An index entry with no record staged before it is refused. */
	{
		struct mfs_batch *b = mfs_batch_new(db);

		mfs_chunk_stage_index(b, &extra[2].h, &extra[2].info, extra[2].reclen);
		is_int(mfs_db_write(db, b, MFS_WRITE_SYNC), -EIO, "an index entry without a record is refused");
		mfs_batch_free(b);
		is_int(mfs_chunk_exists(db, &extra[2].h), 0, "and not written");
	}
	/* A crash between the pack write and the index: only space is lost. */
	{
		struct mfs_batch *b = mfs_batch_new(db);

		mfs_chunk_stage_record(b, &extra[2].h, extra[2].rec, extra[2].reclen);
		mfs_db_write(db, b, MFS_WRITE_NOWAL);
		mfs_batch_free(b);
		is_int(mfs_db_flush(db, MFS_CF_CHUNKS), 0, "a record appended and synced, not indexed");
	}
	mfs_db_close(db);
	db = NULL;
	before = blocks_of(pack1);
	is_int(mfs_store_open(dbdir, &db), 0, "reopen (as after a crash)");
	/* Two records no entry names: the one whose sync failed, and this one. */
	ok(blocks_of(pack1) <= before - 2 * (long long)(extra[2].reclen / 512) + 16,
	   "the reopen punches out the records no entry names (%lld -> %lld blocks)", before,
	   blocks_of(pack1));
	is_int(mfs_chunk_exists(db, &extra[2].h), 0, "the unindexed record is not stored");
	is_int(load_rc(db, ctx, &extra[2]), -ENOENT, "and not read");
	{
		int all = reads_back(db, ctx, &small) && reads_back(db, ctx, &extra[0]);

		for (int i = 0; i < NCHUNK; i++)
			all &= reads_back(db, ctx, &c[i]);
		ok(all, "everything indexed survives the reopen");
	}
	is_int(store(db, &extra[1], 1), 0, "store after the reopen");
	is_int(pack_of(db, &extra[1]), 2, "it goes to a new pack: the old one is sealed");

	/* gc's delete: index entry first (synced), then the hole. */
	before = blocks_of(pack1);
	delete_chunk(db, &c[0]);
	is_int(mfs_chunk_exists(db, &c[0].h), 0, "a deleted chunk is not indexed");
	ok(blocks_of(pack1) <= before - (long long)(c[0].reclen / 512) + 16,
	   "its blocks are punched out of the pack (%lld -> %lld)", before, blocks_of(pack1));
	ok(reads_back(db, ctx, &c[1]) && reads_back(db, ctx, &c[2]), "its neighbours still read back");

	/* A flipped byte in a pack record: refused, and fsck's check says corrupt. */
	{
		struct mfs_chunk_summary s;
		uint8_t b;

		mfs_chunk_summary_get(db, &c[3].h, &s);
		fd = open(pack1, O_RDWR);
		if (fd < 0 || pread(fd, &b, 1, (off_t)(s.off + s.record_len / 2)) != 1)
			tap_bail("cannot read the pack");
		b ^= 0x5a;
		if (pwrite(fd, &b, 1, (off_t)(s.off + s.record_len / 2)) != 1)
			tap_bail("cannot write the pack");
		close(fd);
		is_int(load_rc(db, ctx, &c[3]), MFS_ECORRUPT, "a corrupt pack record is refused");
		is_int(mfs_copy_state_local(db, &c[3].h, 0, 0), MFS_COPY_CORRUPT,
		       "the quick check finds it too");
	}

	/* Everything in pack 1 deleted: the sealed pack goes. */
	delete_chunk(db, &c[1]);
	delete_chunk(db, &c[2]);
	delete_chunk(db, &c[3]);
	ok(access(pack1, F_OK) == 0, "pack 1 still holds a live record");
	delete_chunk(db, &extra[0]);
	delete_chunk(db, &extra[3]);
	delete_chunk(db, &twin);
	ok(access(pack1, F_OK) != 0, "a sealed pack with nothing live is unlinked");
	ok(reads_back(db, ctx, &extra[1]) && reads_back(db, ctx, &small), "the rest reads back");
	mfs_db_close(db);
	db = NULL;

	/* A file among the packs that is not a pack fails the open. */
	snprintf(path, sizeof(path), "%s/packs/00000009.pack", dbdir);
	fd = open(path, O_RDWR | O_CREAT, 0600);
	if (fd < 0 || write(fd, "not a pack at all", 17) != 17)
		tap_bail("cannot write %s", path);
	close(fd);
	is_int(mfs_store_open(dbdir, &db), MFS_EFORMAT, "a stray file among the packs fails the open");
	unlink(path);
	is_int(mfs_store_open(dbdir, &db), 0, "reopen without it");
	ok(reads_back(db, ctx, &extra[1]) && access(pack2, F_OK) == 0, "pack 2 kept and read");

	/* A large record as stores before packs wrote it: version 1, in the chunks CF. */
	{
		struct mfs_batch *b = mfs_batch_new(db);
		uint8_t idx[MFS_CHUNK_INDEX_LEN] = { MFS_CHUNK_INDEX_VERSION, c[0].info.codec };

		put_le32(idx + 2, c[0].info.raw_len);
		put_le32(idx + 6, (uint32_t)c[0].reclen);
		mfs_batch_put(b, MFS_CF_CHUNKS, c[0].h.b, MFS_HASH_LEN, c[0].rec, c[0].reclen);
		mfs_batch_put(b, MFS_CF_CHUNK_INDEX, c[0].h.b, MFS_HASH_LEN, idx, sizeof(idx));
		is_int(mfs_db_write(db, b, MFS_WRITE_SYNC), 0, "a version 1 entry and its record");
		mfs_batch_free(b);
		ok(pack_of(db, &c[0]) == 0 && reads_back(db, ctx, &c[0]), "reads back from the chunks CF");
	}
	mfs_db_close(db);

	for (int i = 0; i < NCHUNK; i++) {
		free(c[i].raw);
		free(c[i].rec);
	}
	for (int i = 0; i < 4; i++) {
		free(extra[i].raw);
		free(extra[i].rec);
	}
	free(small.raw);
	free(small.rec);
	free(twin.raw);
	free(twin.rec);
	mfs_codec_ctx_free(ctx);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	if (system(path))
		return 1;
	return done_testing();
}
