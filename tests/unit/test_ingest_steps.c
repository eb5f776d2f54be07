/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An ingest in steps (write-behind) on a real RocksDB: fed in pieces of any
 * size, it cuts the same chunks and stores the same manifest as one ingest
 * of the whole file; a dedup hit that gc removed before the finish is
 * caught (-ESTALE) and what was stored is kept for the retry; an abandoned
 * ingest leaves its chunks indexed, so the retry stores nothing again.
 * A staged memfd with holes, some punched after a feed saw data there,
 * stores what a file with those zeros written out stores.  A sparse file
 * (plain or a model file, whole or in steps) gets the manifest of its
 * zeros written out, with holes for them, without reading its holes.
 * A model file's chunks share their tensor's codec choice (ingest.c,
 * share_choice), and still get the records the automatic codec makes,
 * however many threads encode them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/chunk/chunker.h"
#include "store/chunk/chunkstore.h"
#include "store/chunk/codec.h"
#include "store/chunk/ingest.h"
#include "store/chunk/manifest.h"
#include "store/kv/db.h"
#include "store/maint/gc.h"
#include "store/ns/namespace.h"
#include "model_files.h"
#include "tap.h"
#include "testdata.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
	return td_next(&rng);
}

/* Random bytes with a text stretch every 5 MiB, so cut points vary. */
static uint8_t *make_data(size_t len)
{
	uint8_t *p = malloc(len);

	if (!p)
		tap_bail("no memory");
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = (i / (5 << 20)) % 3 == 1 ? 0x2e6c6562616c2064ull + (i % 96) : next();

		memcpy(p + i, &v, len - i < 8 ? len - i : 8);
	}
	return p;
}

/* Feeds fd in pieces of `step` bytes (the last piece may be short), then finishes. */
static int in_steps(struct mfs_db *db, int fd, uint64_t len, uint64_t step, struct mfs_hash *id,
		    struct mfs_ingest_stats *st)
{
	struct mfs_ingest *s;
	int has, rc;

	if ((rc = mfs_ingest_begin(db, 2, &s)))
		return rc;
	for (uint64_t upto = step; upto < len; upto += step)
		if ((rc = mfs_ingest_feed(s, fd, upto, NULL))) {
			mfs_ingest_abandon(s);
			return rc;
		}
	rc = mfs_ingest_finish(s, fd, len, id, &has, st);
	return rc ? rc : has ? 0 : -ENODATA;
}

/* A memfd holding data[0..len). */
static int memfd_of(const uint8_t *data, size_t len)
{
	int fd = memfd_create("test-ingest", MFD_CLOEXEC);

	if (fd < 0 || pwrite(fd, data, len, 0) != (ssize_t)len)
		tap_bail("memfd");
	return fd;
}

/*
 * Holes in a staged memfd read as zeros: one punched before the ingest,
 * one past its end, and one punched between two feeds where the first
 * had seen data (read_staged remembers where data runs end).
 */
static void holes(struct mfs_db *db, uint8_t *data, size_t len)
{
	size_t grown = len + (30u << 20);
	uint8_t *dense = calloc(1, grown);
	struct mfs_ingest_stats st;
	struct mfs_hash want, id;
	struct mfs_ingest *s;
	int fd = memfd_of(data, len), zfd, has, rc;

	if (!dense)
		tap_bail("no memory");
	memcpy(dense, data, len);
	memset(dense + (20u << 20), 0, 8u << 20);
	memset(dense + (45u << 20), 0, 3u << 20);
	zfd = memfd_of(dense, grown);
	is_int(mfs_ingest_fd(db, zfd, grown, 2, &want, &has, &st), 0, "ingest the zeros written out");
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 20u << 20, 8u << 20) ||
	    ftruncate(fd, (off_t)grown))
		tap_bail("punch");
	rc = mfs_ingest_begin(db, 2, &s);
	if (!rc)
		rc = mfs_ingest_feed(s, fd, 40u << 20, NULL);
	if (!rc && fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 45u << 20, 3u << 20))
		tap_bail("punch");
	if (!rc)
		rc = mfs_ingest_finish(s, fd, grown, &id, &has, &st);
	else
		mfs_ingest_abandon(s);
	ok(!rc && has && !memcmp(id.b, want.b, MFS_HASH_LEN),
	   "a staged memfd with holes, one punched between feeds: the same manifest (rc %d)", rc);
	close(zfd);
	close(fd);
	free(dense);
}

/*
 * img[0..len) staged twice: written out whole, and as a sparse memfd of
 * that size where only ranges r[0..nr) (offset, length) were written.
 * Both store one manifest, whole or fed in steps, with holes for zeros,
 * and the sparse ingest reads less.
 */
static void sparse_vs_dense(struct mfs_db *db, const uint8_t *img, size_t len,
			    const uint64_t (*r)[2], int nr, const char *what)
{
	int dfd = memfd_of(img, len), sfd = memfd_create("test-sparse", MFD_CLOEXEC), has, rc;
	struct mfs_ingest_stats sd, ss, st;
	struct mfs_hash want, id, id2;

	if (sfd < 0 || ftruncate(sfd, (off_t)len))
		tap_bail("memfd");
	for (int i = 0; i < nr; i++)
		if (pwrite(sfd, img + r[i][0], r[i][1], (off_t)r[i][0]) != (ssize_t)r[i][1])
			tap_bail("pwrite");
	rc = mfs_ingest_fd(db, dfd, len, 2, &want, &has, &sd);
	if (!rc)
		rc = mfs_ingest_fd(db, sfd, len, 2, &id, &has, &ss);
	if (!rc)
		rc = in_steps(db, sfd, len, (5u << 20) + 3, &id2, &st);
	ok(!rc && !memcmp(id.b, want.b, MFS_HASH_LEN) && !memcmp(id2.b, want.b, MFS_HASH_LEN),
	   "%s: sparse, whole or in steps, stores the manifest of its zeros written out (rc %d)",
	   what, rc);
	ok(!rc && ss.holes == sd.holes && ss.holes > len / 2 && ss.bytes < sd.bytes,
	   "%s: %llu of %zu bytes are holes; %llu bytes read of the sparse one", what,
	   (unsigned long long)ss.holes, len, (unsigned long long)ss.bytes);
	close(dfd);
	close(sfd);
}

static void sparse(struct mfs_db *db)
{
	size_t len = 72u << 20;
	uint8_t *img = calloc(1, len);
	const uint64_t plain[][2] = {
		{ 0, 1u << 20 }, { (17u << 20) + 123, 2u << 20 }, { (40u << 20) - 5, 10 },
		{ (60u << 20) + 1, 4097 },
	};
	struct mf_tensor t[] = { { 1u << 20, 1, 0 }, { 30u << 20, 2, 0 }, { 3u << 20, 3, 0 },
				 { 48u << 20, 4, 0 } };
	struct mf_buf b = { 0 };
	uint64_t hdr, model[2][2];
	struct mfs_ingest_stats st;
	struct mfs_manifest *m;
	struct mfs_hash id;
	int fd, has;

	if (!img)
		tap_bail("no memory");
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		for (uint64_t k = 0; k < plain[i][1]; k++)
			img[plain[i][0] + k] = (uint8_t)(next() | 1);
	sparse_vs_dense(db, img, len, plain, 4, "plain file");
	free(img);

	/* A model file whose second and last tensors are zeros: holes within its cut plan. */
	mf_safetensors(&b, t, 4, 0);
	memcpy(&hdr, b.p, 8);
	hdr += 8;
	memset(b.p + hdr + t[0].bytes, 0, t[1].bytes);
	memset(b.p + b.len - t[3].bytes, 0, t[3].bytes);
	model[0][0] = 0;
	model[0][1] = hdr + t[0].bytes;
	model[1][0] = hdr + t[0].bytes + t[1].bytes;
	model[1][1] = t[2].bytes;
	sparse_vs_dense(db, b.p, b.len, model, 2, "safetensors file");
	free(b.p);

	/* 64 GiB with 1 MiB written at 40 GiB: read about that much, not 64 GiB. */
	if ((fd = memfd_create("test-sparse", MFD_CLOEXEC)) < 0 || ftruncate(fd, 64ll << 30))
		tap_bail("memfd");
	img = malloc(1u << 20);
	for (size_t k = 0; img && k < (1u << 20); k++)
		img[k] = (uint8_t)next();
	if (!img || pwrite(fd, img, 1u << 20, (40ll << 30) + 7) != 1 << 20)
		tap_bail("pwrite");
	is_int(mfs_ingest_fd(db, fd, 64ull << 30, 2, &id, &has, &st), 0, "ingest a 64 GiB sparse file");
	ok(st.bytes < (128u << 20) && st.new_chunks <= 4,
	   "it read %llu bytes and stored %llu chunks", (unsigned long long)st.bytes,
	   (unsigned long long)st.new_chunks);
	is_int(mfs_manifest_load(db, &id, &m), 0, "load its manifest");
	ok(m && m->size == 64ull << 30 && mfs_manifest_data_bytes(m) < (16u << 20),
	   "%llu of its bytes are data", m ? (unsigned long long)mfs_manifest_data_bytes(m) : 0);
	mfs_manifest_unref(m);
	free(img);
	close(fd);
}

/* FP16-like words: a random low byte, a high byte of a few exponents and a sign. */
static void fp16_like(uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2) {
		uint64_t r = next();

		p[i] = (uint8_t)r;
		p[i + 1] = (uint8_t)(0x1c + (r >> 8) % 3 + (r >> 12) % 3 + ((r >> 16) & 0x80));
	}
}

/*
 * A safetensors file of three tensors: FP16-like words (a head chooses
 * split2 for the chunks after it), FP16-like words then random bytes
 * (chunks that share a split choice and must be stored raw as the
 * automatic codec stores them), and random bytes.  Every chunk's record
 * has the codec and length mfs_chunk_encode's automatic choice gives; 1
 * and 4 encoder threads store the same bytes.
 */
static void shared_choice(struct mfs_db *db)
{
	struct mf_tensor t[] = { { 24u << 20, 11, 0 }, { 20u << 20, 12, 0 }, { 6u << 20, 13, 0 } };
	struct mfs_codec_ctx *ctx = mfs_codec_ctx_new();
	size_t cap = mfs_chunk_record_bound(MFS_CHUNK_MAX), same = 0, split = 0, raw = 0;
	uint8_t *rec = malloc(cap);
	struct mf_buf b = { 0 };
	struct mfs_ingest_stats st[2];
	struct mfs_manifest *m = NULL;
	struct mfs_hash id[2];
	uint64_t hdr;
	int fd, has;

	if (!ctx || !rec)
		tap_bail("no memory");
	mf_safetensors(&b, t, 3, 0);
	memcpy(&hdr, b.p, 8);
	hdr += 8;
	fp16_like(b.p + hdr, t[0].bytes);
	fp16_like(b.p + hdr + t[0].bytes, 5u << 20);
	fd = memfd_of(b.p, b.len);
	is_int(mfs_ingest_fd(db, fd, b.len, 4, &id[0], &has, &st[0]), 0,
	       "shared choice: ingest a model file with 4 threads");
	is_int(mfs_manifest_load(db, &id[0], &m), 0, "shared choice: its manifest");
	for (uint32_t i = 0; m && i < m->count; i++) {
		struct mfs_chunk_info info, want;
		struct mfs_val v;
		ssize_t n = mfs_chunk_encode(ctx, b.p + m->off[i], m->e[i].len, rec, cap, -1);

		if (n < 0 || mfs_chunk_peek(rec, n, &want) ||
		    mfs_chunk_record_get(db, &m->e[i].hash, &v))
			continue;
		if (!mfs_chunk_peek(v.p, v.len, &info) && info.codec == want.codec &&
		    v.len == (size_t)n && !memcmp(v.p, rec, n))
			same++;
		split += info.codec == MFS_CODEC_SPLIT2 || info.codec == MFS_CODEC_SPLIT4;
		raw += info.codec == MFS_CODEC_RAW;
		mfs_val_release(&v);
	}
	ok(m && same == m->count && split >= 20 && raw >= 12,
	   "shared choice: all %u records as the automatic codec makes them (%zu same, %zu split, "
	   "%zu raw)", m ? m->count : 0, same, split, raw);
	mfs_manifest_unref(m);

	/* Into a fresh store: the same records, whichever thread encoded which chunk. */
	{
		char dir[] = "/tmp/mfs-test-choice-XXXXXX", sub[300], cmd[340];
		struct mfs_db *db2;

		if (!mkdtemp(dir))
			tap_bail("mkdtemp");
		snprintf(sub, sizeof(sub), "%s/db", dir);
		is_int(mfs_store_open(sub, &db2), 0, "shared choice: a fresh store");
		is_int(mfs_ingest_fd(db2, fd, b.len, 1, &id[1], &has, &st[1]), 0,
		       "shared choice: ingest it with 1 thread");
		ok(!memcmp(id[0].b, id[1].b, MFS_HASH_LEN) && st[0].new_stored == st[1].new_stored,
		   "shared choice: 1 and 4 threads store the same (%llu and %llu bytes)",
		   (unsigned long long)st[0].new_stored, (unsigned long long)st[1].new_stored);
		mfs_db_close(db2);
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd))
			tap_bail("rm");
	}
	close(fd);
	free(b.p);
	free(rec);
	mfs_codec_ctx_free(ctx);
}

/*
 * A tensor some of whose heads (every 8th chunk shares its codec choice,
 * ingest.c share_choice) are already stored while the chunk after them is
 * new: that chunk waits for its head's choice, and a stored head chooses
 * nothing.  The head said so only once the chunk claimed with it (two at
 * a time, ingest_window.c claim_chunks) was encoded, and that chunk was
 * the one waiting: the commit hung for good.  Under an alarm, so that a
 * hang fails here rather than stalls the suite.  (Its zeros are a hole,
 * cut out before any chunk.)
 */
static void head_without_choice(struct mfs_db *db)
{
	struct mf_tensor t[] = { { 72u << 20, 21, 0 } };
	struct mf_buf b = { 0 };
	struct mfs_ingest_stats st;
	struct mfs_manifest *m;
	struct mfs_hash id, id2;
	uint64_t hdr;
	int fd, has;

	mf_safetensors(&b, t, 1, 0);
	memcpy(&hdr, b.p, 8);
	hdr += 8;
	memset(b.p + hdr, 0, 8u << 20);
	fp16_like(b.p + hdr + (8u << 20), 64u << 20);
	fd = memfd_of(b.p, b.len);
	alarm(120);
	for (int threads = 1; threads <= 4; threads *= 2)
		is_int(mfs_ingest_fd(db, fd, b.len, threads, &id, &has, &st), 0,
		       "a tensor that begins with zeros, then new data: ingested (%d threads)", threads);
	/*
	 * Every other chunk changed, then the others: whichever chunks are
	 * heads, some are stored while the chunk after them, maybe claimed
	 * with them, is new.
	 */
	for (int parity = 0; parity < 2 && !mfs_manifest_load(db, &id, &m); parity++) {
		uint8_t *orig = malloc(b.len);

		if (!orig)
			tap_bail("no memory");
		memcpy(orig, b.p, b.len);
		for (uint32_t i = 0; i < m->count; i++)
			if (m->off[i] >= hdr && !mfs_manifest_is_hole(&m->e[i]) && i % 2 == (uint32_t)parity)
				b.p[(m->off[i] + m->off[i + 1]) / 2] ^= 0x55;
		mfs_manifest_unref(m);
		close(fd);
		fd = memfd_of(b.p, b.len);
		for (int threads = 1; threads <= 4; threads *= 2)
			is_int(mfs_ingest_fd(db, fd, b.len, threads, &id2, &has, &st), 0,
			       "every other chunk changed (%d): ingested (%d threads)", parity, threads);
		memcpy(b.p, orig, b.len);
		free(orig);
	}
	alarm(0);
	close(fd);
	free(b.p);
}

/* Whether each chunk of m loads (checked) as data's bytes at its offset. */
static int loads(struct mfs_db *db, const struct mfs_manifest *m, const uint8_t *data)
{
	struct mfs_codec_ctx *ctx = mfs_codec_ctx_new();
	int good = ctx != NULL;

	for (uint32_t i = 0; i < m->count && good; i++) {
		struct mfs_chunk_bytes b;

		good = mfs_chunk_load(db, ctx, &m->e[i].hash, &b, 1) == 0 &&
		       b.len == m->e[i].len && !memcmp(b.p, data + m->off[i], b.len);
		mfs_chunk_bytes_release(&b);
	}
	mfs_codec_ctx_free(ctx);
	return good;
}

/*
 * The chunks fed so far made readable mid-session (fuse/commit_open.c's
 * readers of a file whose commit runs), twice, into a fresh store (new
 * chunks: a pack record's index entry can be written once, and the
 * finish's must leave out those written already).
 */
static void index_early(const char *dir, int fd, const uint8_t *data, size_t len,
			const struct mfs_hash *whole)
{
	struct mfs_manifest *m = NULL, *m2 = NULL;
	struct mfs_ingest_stats st;
	struct mfs_ingest *s;
	struct mfs_hash id;
	struct mfs_db *db;
	char sub[300];
	int has;

	snprintf(sub, sizeof(sub), "%s/early", dir);
	is_int(mfs_store_open(sub, &db), 0, "index early: a fresh store");
	is_int(mfs_ingest_begin(db, 2, &s), 0, "begin");
	is_int(mfs_ingest_feed(s, fd, 40u << 20, NULL), 0, "feed to 40 MiB");
	is_int(mfs_ingest_index_stored(s, &m), 0, "index what is stored");
	ok(m && m->size == mfs_ingest_offset(s) && loads(db, m, data),
	   "its %u chunks load, up to where chunks are cut", m ? m->count : 0);
	is_int(mfs_ingest_feed(s, fd, 60u << 20, NULL), 0, "feed to 60 MiB");
	is_int(mfs_ingest_index_stored(s, &m2), 0, "index again");
	ok(m2 && m && m2->size > m->size && loads(db, m2, data), "those chunks load too");
	is_int(mfs_ingest_finish(s, fd, len, &id, &has, &st), 0, "finish indexes the rest");
	ok(has && !memcmp(id.b, whole->b, MFS_HASH_LEN), "the same manifest");
	mfs_manifest_unref(m);
	mfs_manifest_unref(m2);
	mfs_db_close(db);
}

/* Whether the stored manifest id's chunks all load as data's bytes. */
static int version_loads(struct mfs_db *db, const struct mfs_hash *id, const uint8_t *data)
{
	struct mfs_manifest *m;
	int good;

	if (mfs_manifest_load(db, id, &m))
		return 0;
	good = loads(db, m, data);
	mfs_manifest_unref(m);
	return good;
}

/*
 * gc between the early index and the finish (an fsync's commit that failed
 * at its space check, the session going on; or gc with grace 0 before the
 * commit takes gc's refs lock): the chunks indexed early are named by no
 * version, so only the pinned copy keeps them.  And if one goes anyway
 * (deleted as gc would, pin or not), the finish must not publish a
 * version that names it.
 */
static void index_early_gc(const char *dir, int fd, const uint8_t *data, size_t len)
{
	struct mfs_gc_opts o = { .apply = 1, .grace_s = 0, .now = (uint64_t)time(NULL) };
	struct mfs_manifest *m = NULL;
	struct mfs_ingest_stats st;
	struct mfs_gc_result res;
	struct mfs_ingest *s;
	struct mfs_batch *b;
	struct mfs_hash id;
	struct mfs_db *db;
	struct mfs_ns *ns;
	char sub[300];
	int has = 0, rc;

	snprintf(sub, sizeof(sub), "%s/early-gc", dir);
	if (mfs_store_open(sub, &db) || mfs_ns_open(db, &ns))
		tap_bail("cannot open a store in %s", sub);
	is_int(mfs_ingest_begin(db, 2, &s), 0, "index early, then gc: begin");
	is_int(mfs_ingest_feed(s, fd, 40u << 20, NULL), 0, "feed to 40 MiB");
	is_int(mfs_ingest_index_stored(s, &m), 0, "index what is stored");
	is_int(mfs_gc_run(ns, &o, &res), 0, "gc apply, grace 0, the copy held");
	ok(m && res.freed_chunks == 0 && res.held_open_chunks >= m->count,
	   "gc kept the %u chunks indexed early (freed %llu, held open %llu)", m ? m->count : 0,
	   (unsigned long long)res.freed_chunks, (unsigned long long)res.held_open_chunks);
	rc = mfs_ingest_finish(s, fd, len, &id, &has, &st);
	is_int(rc, 0, "finish after gc");
	ok(!rc && has && version_loads(db, &id, data), "every chunk of the version loads");
	mfs_manifest_unref(m);
	mfs_ns_close(ns);
	mfs_db_close(db);

	snprintf(sub, sizeof(sub), "%s/early-del", dir);
	is_int(mfs_store_open(sub, &db), 0, "index early, then a chunk deleted: a fresh store");
	is_int(mfs_ingest_begin(db, 2, &s), 0, "begin");
	is_int(mfs_ingest_feed(s, fd, 40u << 20, NULL), 0, "feed to 40 MiB");
	is_int(mfs_ingest_index_stored(s, &m), 0, "index what is stored");
	if (!m || !m->count || !(b = mfs_batch_new(db)))
		tap_bail("no chunk indexed early");
	mfs_chunk_stage_delete(b, &m->e[m->count / 2].hash); /* as gc's apply does */
	is_int(mfs_db_write(db, b, MFS_WRITE_SYNC), 0, "delete one of them");
	mfs_batch_free(b);
	has = 0;
	rc = mfs_ingest_finish(s, fd, len, &id, &has, &st);
	ok(rc == -ESTALE && !has, "finish: -ESTALE, no version (rc %d has %d)", rc, has);
	ok(rc || !has || version_loads(db, &id, data), "no version names a missing chunk");
	mfs_manifest_unref(m);
	mfs_db_close(db);
}

int main(void)
{
	char dir[] = "/tmp/mfs-test-XXXXXX", path[256], dbdir[256];
	size_t len = 70u << 20;
	uint8_t *data = make_data(len);
	uint64_t steps[] = { 1, 4096, 3u << 20, (4u << 20) + 1, 32u << 20, 50u << 20 };
	struct mfs_ingest_stats st, st1;
	struct mfs_hash whole, id;
	struct mfs_db *db;
	struct mfs_ingest *s;
	int fd, has;

	mfs_log_open(NULL, MFS_LOG_ERROR, MFS_LOG_ERROR);
	if (!mkdtemp(dir))
		tap_bail("mkdtemp");
	snprintf(path, sizeof(path), "%s/file", dir);
	snprintf(dbdir, sizeof(dbdir), "%s/db", dir);
	fd = td_write_file(path, data, len);
	is_int(mfs_store_open(dbdir, &db), 0, "open a new store");

	/* Into a fresh store each time: the steps must store the same chunks. */
	is_int(in_steps(db, fd, len, 7u << 20, &whole, &st1), 0, "ingest 70 MiB in 7 MiB steps");
	mfs_db_close(db);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dbdir);
		if (system(cmd))
			tap_bail("rm");
	}
	is_int(mfs_store_open(dbdir, &db), 0, "a fresh store");
	is_int(mfs_ingest_fd(db, fd, len, 2, &id, &has, &st), 0, "ingest the whole file at once");
	ok(!memcmp(id.b, whole.b, MFS_HASH_LEN) && st.chunks == st1.chunks &&
	   st.new_chunks == st1.new_chunks && st.new_stored == st1.new_stored,
	   "same manifest, chunks and stored bytes as in steps (%llu chunks)",
	   (unsigned long long)st.chunks);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		int rc = in_steps(db, fd, len, steps[i] < 4096 ? 1u << 20 : steps[i], &id, &st);

		ok(!rc && !memcmp(id.b, whole.b, MFS_HASH_LEN) && st.new_chunks == 0,
		   "steps of %llu bytes: the same manifest, nothing new stored (rc %d)",
		   (unsigned long long)steps[i], rc);
	}

	index_early(dir, fd, data, len, &whole);
	index_early_gc(dir, fd, data, len);
	holes(db, data, len);
	sparse(db);
	shared_choice(db);
	head_without_choice(db);

	/* Feeding less than a chunk's worth cuts nothing yet. */
	is_int(mfs_ingest_begin(db, 1, &s), 0, "begin");
	is_int(mfs_ingest_feed(s, fd, 3u << 20, NULL), 0, "feed 3 MiB");
	ok(mfs_ingest_offset(s) == 0, "no cut is final before 4 MiB were seen");
	is_int(mfs_ingest_feed(s, fd, 40u << 20, NULL), 0, "feed to 40 MiB");
	/* Chunks are cut while 4 MiB follow their start: then the cut is final. */
	ok(mfs_ingest_offset(s) > (36u << 20) && mfs_ingest_offset(s) <= (40u << 20),
	   "cut up to %llu: every chunk that starts 4 MiB before the fed end",
	   (unsigned long long)mfs_ingest_offset(s));
	is_int(mfs_ingest_finish(s, fd, len, &id, &has, &st), 0, "finish");
	ok(has && !memcmp(id.b, whole.b, MFS_HASH_LEN), "the same manifest after stops and starts");
	/* A stop request returns after the window it is in (32 MiB). */
	{
		int stop = 1;

		is_int(mfs_ingest_begin(db, 1, &s), 0, "begin");
		is_int(mfs_ingest_feed(s, fd, len, &stop), 0, "feed 70 MiB with stop set");
		ok(mfs_ingest_offset(s) > 0 && mfs_ingest_offset(s) <= (32u << 20),
		   "returned after one window (cut up to %llu)",
		   (unsigned long long)mfs_ingest_offset(s));
		is_int(mfs_ingest_finish(s, fd, len, &id, &has, &st), 0, "finish");
		ok(has && !memcmp(id.b, whole.b, MFS_HASH_LEN), "the same manifest");
	}

	/*
	 * gc removes a chunk the early feed found stored: the finish must
	 * notice (under gc's refs lock in the daemon), and keep the rest.
	 */
	{
		struct mfs_manifest *m;
		struct mfs_batch *b = mfs_batch_new(db);
		uint8_t *other = make_data(20u << 20);
		struct mfs_hash oid;
		char opath[300];
		int ofd;

		/* A new file whose first 12 MiB are the first file's. */
		memcpy(other, data, 12u << 20);
		snprintf(opath, sizeof(opath), "%s/other", dir);
		ofd = td_write_file(opath, other, 20u << 20);
		is_int(mfs_manifest_load(db, &whole, &m), 0, "load the first manifest");
		is_int(mfs_ingest_begin(db, 2, &s), 0, "begin");
		is_int(mfs_ingest_feed(s, ofd, 16u << 20, NULL), 0, "feed 16 MiB (dedup hits)");
		mfs_batch_delete(b, MFS_CF_CHUNK_INDEX, m->e[0].hash.b, MFS_HASH_LEN);
		is_int(mfs_db_write(db, b, MFS_WRITE_SYNC), 0, "'gc' drops the first chunk's entry");
		mfs_batch_free(b);
		is_int(mfs_ingest_finish(s, ofd, 20u << 20, &oid, &has, &st), -ESTALE,
		       "finish: -ESTALE, a chunk found stored is gone");
		is_int(mfs_ingest_fd(db, ofd, 20u << 20, 2, &oid, &has, &st), 0, "ingest from scratch");
		ok(st.new_chunks == 1, "it stores only the chunk gc took (%llu new)",
		   (unsigned long long)st.new_chunks);
		mfs_manifest_unref(m);
		close(ofd);
		free(other);
	}

	/* An abandoned ingest's chunks are indexed: a retry stores nothing. */
	{
		uint8_t *third = make_data(30u << 20);
		char tpath[300];
		int tfd;

		snprintf(tpath, sizeof(tpath), "%s/third", dir);
		tfd = td_write_file(tpath, third, 30u << 20);
		is_int(mfs_ingest_begin(db, 2, &s), 0, "begin");
		is_int(mfs_ingest_feed(s, tfd, 30u << 20, NULL), 0, "feed 30 MiB");
		is_int(mfs_ingest_abandon(s), 0, "abandon");
		is_int(mfs_ingest_fd(db, tfd, 30u << 20, 2, &id, &has, &st), 0, "ingest from scratch");
		/* It cut past 26 MiB: every chunk that starts 4 MiB before its end. */
		ok(st.new_stored < (5u << 20) && st.new_chunks < st.chunks / 2,
		   "only chunks after the abandoned ingest's last cut are new (%llu of %llu, %llu bytes)",
		   (unsigned long long)st.new_chunks, (unsigned long long)st.chunks,
		   (unsigned long long)st.new_stored);
		close(tfd);
		free(third);
	}
	is_int(mfs_ingest_abandon(NULL), 0, "abandoning nothing is a no-op");

	mfs_db_close(db);
	close(fd);
	free(data);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	if (system(path))
		return 1;
	return done_testing();
}
