/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The chunk store on a real RocksDB in a temporary directory: ingest, read
 * back, dedup on re-ingest, persistence across reopen, and corrupt records
 * refused (never decoded as good bytes).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/chunk/chunker.h"
#include "store/chunk/chunkstore.h"
#include "store/chunk/codec.h"
#include "store/chunk/ingest.h"
#include "store/chunk/manifest.h"
#include "store/kv/db.h"
#include "tap.h"
#include "testdata.h"

static uint64_t rng = 88172645463325252ull;

static uint64_t next(void)
{
	return td_next(&rng);
}

/* 20 MiB: random stretches and repetitive text, so several codecs appear. */
static uint8_t *make_data(size_t len)
{
	uint8_t *p = malloc(len);

	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = (i / (3 << 20)) % 2 ? 0x2e6c6562616c2064ull + (i % 64) : next();

		memcpy(p + i, &v, len - i < 8 ? len - i : 8);
	}
	return p;
}

static int read_back(struct mfs_db *db, const struct mfs_hash *id, const uint8_t *want, size_t len)
{
	struct mfs_codec_ctx *ctx = mfs_codec_ctx_new();
	struct mfs_manifest *m;
	int good = 0;

	if (mfs_manifest_load(db, id, &m) == 0 && m->size == len) {
		good = 1;
		for (uint32_t i = 0; i < m->count && good; i++) {
			struct mfs_chunk_bytes b;

			good = mfs_chunk_load(db, ctx, &m->e[i].hash, &b, 1) == 0 &&
			       b.len == m->e[i].len && !memcmp(b.p, want + m->off[i], b.len);
			mfs_chunk_bytes_release(&b);
		}
		mfs_manifest_unref(m);
	}
	mfs_codec_ctx_free(ctx);
	return good;
}

/* The reserve file at path, with its blocks allocated (db_space.c). */
static int reserve_there(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && (uint64_t)st.st_blocks * 512 >= MFS_SPACE_RESERVE;
}

int main(void)
{
	char dir[] = "/tmp/mfs-test-XXXXXX", path[256], dbdir[256];
	size_t len = 20u << 20;
	uint8_t *data = make_data(len);
	struct mfs_ingest_stats st;
	struct mfs_hash id, id2;
	struct mfs_db *db;
	int fd, has;

	mfs_log_open(NULL, MFS_LOG_WARN, MFS_LOG_WARN);
	if (!mkdtemp(dir))
		tap_bail("mkdtemp");
	snprintf(path, sizeof(path), "%s/file", dir);
	snprintf(dbdir, sizeof(dbdir), "%s/db", dir);
	fd = td_write_file(path, data, len);
	is_int(mfs_store_open(dbdir, &db), 0, "open a new store");
	is_int(mfs_ingest_fd(db, fd, len, 2, &id, &has, &st), 0, "ingest 20 MiB");
	ok(has && st.chunks >= 5 && st.new_chunks == st.chunks, "all chunks new (%llu)",
	   (unsigned long long)st.chunks);
	ok(read_back(db, &id, data, len), "every chunk reads back, SHA-256 verified");
	is_int(mfs_ingest_fd(db, fd, len, 1, &id2, &has, &st), 0, "ingest the same bytes again");
	ok(st.new_chunks == 0 && !memcmp(id.b, id2.b, 32), "second ingest stores nothing new");
	/*
	 * A file that repeats one 4 MiB run 20 times (80 MiB, three ingest
	 * windows): the run's chunks are encoded and written once, not once
	 * per repeat, and the file still reads back whole.
	 */
	{
		size_t run = 4u << 20, rlen = 20 * run;
		uint8_t *rep = malloc(rlen), *fresh = make_data(run + 8);
		struct mfs_ingest_stats st1, st2;
		struct mfs_hash rid;
		int rfd;

		for (size_t i = 0; i < run; i++)
			fresh[i] ^= 0x5a; /* bytes not in `data` */
		for (size_t k = 0; k < rlen / run; k++)
			memcpy(rep + k * run, fresh, run);
		snprintf(path, sizeof(path), "%s/repeats", dir);
		rfd = td_write_file(path, rep, rlen);
		is_int(mfs_ingest_fd(db, rfd, rlen, 2, &id2, &has, &st2), 0, "ingest 20 repeats of a run");
		ok(read_back(db, &id2, rep, rlen), "the repeating file reads back");
		is_int(mfs_ingest_fd(db, rfd, run, 2, &rid, &has, &st1), 0, "ingest the run alone");
		/* Per repeat at most the chunk across its start is new. */
		ok(st2.chunks > 40 && st2.new_chunks <= st1.chunks + 2 * 20 &&
		   st2.new_chunks < st2.chunks / 2,
		   "repeats are stored once: %llu chunks, %llu new (the run alone: %llu chunks)",
		   (unsigned long long)st2.chunks, (unsigned long long)st2.new_chunks,
		   (unsigned long long)st1.chunks);
		close(rfd);
		free(rep);
		free(fresh);
	}
	is_int(mfs_ingest_fd(db, fd, 0, 1, &id2, &has, &st), 0, "empty file");
	ok(!has, "an empty file has no manifest");

	/* A record whose checksum fails is an error, never bytes. */
	{
		struct mfs_codec_ctx *ctx = mfs_codec_ctx_new();
		uint8_t raw[5000], *rec = malloc(mfs_chunk_record_bound(sizeof(raw)));
		struct mfs_chunk_bytes bytes;
		struct mfs_chunk_info info;
		struct mfs_batch *b = mfs_batch_new(db);
		struct mfs_hash h;
		ssize_t n;

		memset(raw, 'x', sizeof(raw));
		if (mfs_sha256(raw, sizeof(raw), &h))
			tap_bail("sha256 failed");
		n = mfs_chunk_encode(ctx, raw, sizeof(raw), rec, mfs_chunk_record_bound(sizeof(raw)), -1);
		mfs_chunk_peek(rec, n, &info);
		rec[n - 1] ^= 0x40;
		mfs_chunk_stage_record(b, &h, rec, n);
		mfs_chunk_stage_index(b, &h, &info, n);
		mfs_db_write(db, b, MFS_WRITE_SYNC);
		mfs_batch_free(b);
		is_int(mfs_chunk_load(db, ctx, &h, &bytes, 0), MFS_ECORRUPT,
		       "flipped payload bit is caught by the record checksum");
		ok(bytes.p == NULL && bytes.len == 0, "and nothing is handed out");
		is_int(mfs_chunk_exists(db, &h), 1, "the index still lists it (fsck reports it)");
		free(rec);
		mfs_codec_ctx_free(ctx);
	}
	/*
	 * A staged record (written, its index entry not yet) is readable as
	 * staged, packed or not (replica/keep.c reads a chunk asked for again
	 * before its index is written), and no longer once its index is staged.
	 */
	for (size_t rl = 100; rl <= MFS_CHUNK_PACK_MIN * 2; rl += MFS_CHUNK_PACK_MIN * 2 - 100) {
		uint8_t *rec = malloc(rl);
		struct mfs_chunk_info info = { .codec = MFS_CODEC_RAW, .raw_len = 1 };
		struct mfs_batch *b = mfs_batch_new(db);
		struct mfs_hash h = { { 0x5a, (uint8_t)rl } };
		struct mfs_val v;

		for (size_t i = 0; i < rl; i++)
			rec[i] = (uint8_t)next();
		is_int(mfs_chunk_staged_get(db, &h, rl, &v), -ENOENT, "%zu bytes: not staged yet",
		       rl);
		mfs_chunk_stage_record(b, &h, rec, rl);
		is_int(mfs_db_write(db, b, MFS_WRITE_NOWAL), 0, "%zu bytes: staged", rl);
		mfs_batch_free(b);
		is_int(mfs_chunk_staged_get(db, &h, rl, &v), 0, "%zu bytes: read as staged", rl);
		ok(v.len == rl && !memcmp(v.p, rec, rl), "%zu bytes: the record staged", rl);
		mfs_val_release(&v);
		is_int(mfs_chunk_staged_get(db, &h, 0, &v), 0, "%zu bytes: read as staged, any length",
		       rl);
		ok(v.len == rl && !memcmp(v.p, rec, rl), "%zu bytes: the same record", rl);
		mfs_val_release(&v);
		b = mfs_batch_new(db);
		mfs_chunk_stage_index(b, &h, &info, rl);
		is_int(mfs_db_write(db, b, MFS_WRITE_SYNC), 0, "%zu bytes: indexed", rl);
		mfs_batch_free(b);
		if (rl >= MFS_CHUNK_PACK_MIN)
			is_int(mfs_chunk_staged_get(db, &h, rl, &v), -ENOENT,
			       "%zu bytes: indexed, no longer staged", rl);
		is_int(mfs_chunk_record_get(db, &h, &v), 0, "%zu bytes: read where the index says",
		       rl);
		ok(v.len == rl && !memcmp(v.p, rec, rl), "%zu bytes: the same record", rl);
		mfs_val_release(&v);
		free(rec);
	}
	mfs_db_close(db);
	is_int(mfs_store_open(dbdir, &db), 0, "reopen");
	ok(read_back(db, &id, data, len), "data survives close and reopen");
	{
		struct mfs_db *db2;
		char reserve[300];

		is_int(mfs_store_open(dbdir, &db2), -EBUSY, "a second open of a store in use is -EBUSY");
		/*
		 * The same on a disk under the floor (a test floor above what
		 * is free): the open gives back the reserve before it meets the
		 * LOCK, and must not leave the store in use without one.
		 */
		snprintf(reserve, sizeof(reserve), "%s/space.reserve", dbdir);
		ok(reserve_there(reserve), "the store keeps its reserve");
		setenv("MODELFS_SPACE_FLOOR", "1152921504606846976", 1);
		is_int(mfs_store_open(dbdir, &db2), -EBUSY, "a second open under the floor is -EBUSY");
		unsetenv("MODELFS_SPACE_FLOOR");
		ok(reserve_there(reserve), "the store in use still has its reserve after that open");
	}
	mfs_db_close(db);
	close(fd);
	free(data);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	if (system(path))
		return 1;
	return done_testing();
}
