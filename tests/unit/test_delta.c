/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fine-tune deltas (store/chunk/delta.h) on a real RocksDB store and a real
 * fine-tune: a base of real trained weights and the same tensors after a
 * few Adam steps (tests/bench/make_finetune.py, run here if the pair is
 * not in $MFS_DELTA_DIR yet; skipped without python3 + torch or the weights
 * pool).  The fine-tune, ingested with the base, is stored as deltas at
 * most 0.6x its size (FP32), reads back exact (whole chunks and ranges),
 * and every damage gives an error, never wrong bytes: a flipped bit in a
 * delta record, a missing base, a wrong base (a valid record of other
 * bytes under the base's key), a base that is itself a delta.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/base/bytes.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/chunk/chunker.h"
#include "store/chunk/cache.h"
#include "store/chunk/chunkstore.h"
#include "store/chunk/codec.h"
#include "store/chunk/delta.h"
#include "store/chunk/planes.h"
#include "store/chunk/ingest.h"
#include "store/chunk/manifest.h"
#include "store/base/hashset.h"
#include "store/kv/db.h"
#include "store/maint/copies.h"
#include "tap.h"

static uint8_t *slurp(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *p;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st) || !(p = malloc(st.st_size ? st.st_size : 1)) ||
	    pread(fd, p, st.st_size, 0) != st.st_size)
		tap_bail("cannot read %s", path);
	close(fd);
	*len = st.st_size;
	return p;
}

static int give_base(void *arg, struct mfs_hash *id)
{
	*id = *(struct mfs_hash *)arg;
	return 1;
}

static int ingest(struct mfs_db *db, const char *path, struct mfs_hash *base, struct mfs_hash *id,
		  struct mfs_ingest_stats *st)
{
	int fd = open(path, O_RDONLY), has, rc;
	struct stat sb;

	if (fd < 0 || fstat(fd, &sb))
		tap_bail("open %s", path);
	rc = mfs_ingest_fd_base(db, fd, sb.st_size, 2, base ? give_base : NULL, base, id, &has, st);
	close(fd);
	return rc;
}

/* Puts rec[0..len) under h's key, as a damaged or forged copy would sit there. */
static void put_record(struct mfs_db *db, const struct mfs_hash *h, const uint8_t *rec, size_t len)
{
	struct mfs_batch *b = mfs_batch_new(db);
	struct mfs_chunk_info info;

	if (mfs_chunk_peek(rec, len, &info))
		info = (struct mfs_chunk_info){ .codec = rec[5], .raw_len = 0, .stored_len = len - 24 };
	mfs_chunk_stage_record(b, h, rec, len);
	if (mfs_db_write(db, b, MFS_WRITE_NOWAL) || mfs_db_flush(db, MFS_CF_CHUNKS))
		tap_bail("put record");
	mfs_batch_free(b);
	b = mfs_batch_new(db);
	mfs_chunk_stage_index(b, h, &info, len);
	if (mfs_db_write(db, b, MFS_WRITE_SYNC))
		tap_bail("put index");
	mfs_batch_free(b);
}

/* rec under h, its index entry (version 3) listing bases[0..nb) as its bases. */
static void put_record_bases(struct mfs_db *db, const struct mfs_hash *h, const uint8_t *rec,
			     size_t len, const struct mfs_hash *bases, uint32_t nb)
{
	struct mfs_batch *b = mfs_batch_new(db);
	struct mfs_chunk_info info = { .codec = MFS_CODEC_DELTA, .raw_len = 0, .stored_len = 0 };

	(void)mfs_chunk_peek(rec, len, &info);
	info.codec = MFS_CODEC_DELTA;
	mfs_chunk_stage_record(b, h, rec, len);
	if (mfs_db_write(db, b, MFS_WRITE_NOWAL) || mfs_db_flush(db, MFS_CF_CHUNKS))
		tap_bail("put record");
	mfs_batch_free(b);
	b = mfs_batch_new(db);
	mfs_chunk_stage_index_bases(b, h, &info, len, bases, nb);
	if (mfs_db_write(db, b, MFS_WRITE_SYNC))
		tap_bail("put index");
	mfs_batch_free(b);
}

/* The bases h's index entry lists, into out[0..*n) (at most max); 0 or an error. */
static int listed_bases(struct mfs_db *db, const struct mfs_hash *h, struct mfs_hash *out,
			uint32_t max, uint32_t *n)
{
	const uint8_t *p;
	struct mfs_val v;
	int rc = mfs_db_get(db, MFS_CF_CHUNK_INDEX, h->b, MFS_HASH_LEN, &v, 1);

	*n = 0;
	if (rc)
		return rc;
	if (!(rc = mfs_chunk_index_bases(v.p, v.len, &p, n)))
		for (uint32_t i = 0; i < *n && i < max; i++)
			memcpy(out[i].b, p + (size_t)i * MFS_HASH_LEN, MFS_HASH_LEN);
	mfs_val_release(&v);
	return rc;
}

/*
 * gc and fsck learn a delta's bases from its index entry (version 3): the
 * list matches the record; gc keeps bases an index entry lists even when
 * the record cannot be read (no record is read); fsck reports an entry
 * whose list differs from its record's refs.
 */
static void index_bases(struct mfs_db *db, const struct mfs_hash *h, const uint8_t *rec,
			size_t reclen)
{
	struct mfs_hash listed[8], *bases = NULL, fake, fb[2];
	struct mfs_hashset keep = { 0 };
	uint32_t nl = 0, nb = 0;
	uint8_t junk[300];
	int same;

	if (mfs_delta_bases(rec, reclen, &bases, &nb))
		tap_bail("delta bases");
	is_int(listed_bases(db, h, listed, 8, &nl), 0, "a delta's index entry lists its bases");
	same = nl == nb && nb <= 8;
	for (uint32_t i = 0; same && i < nb; i++)
		same = !memcmp(listed[i].b, bases[i].b, MFS_HASH_LEN);
	ok(same, "the index lists the record's %u distinct base(s)", nb);

	/* A delta whose record does not parse: its listed bases are kept all the same. */
	memset(junk, 0xa5, sizeof(junk));
	memset(fake.b, 0x5a, MFS_HASH_LEN);
	memset(fb[0].b, 0x11, MFS_HASH_LEN);
	memset(fb[1].b, 0x22, MFS_HASH_LEN);
	put_record_bases(db, &fake, junk, sizeof(junk), fb, 2);
	is_int(mfs_delta_keep_bases(db, NULL, &keep), 0, "gc's walk of the deltas' bases");
	ok(mfs_hashset_has(&keep, fb[0].b) && mfs_hashset_has(&keep, fb[1].b),
	   "bases are kept from the index alone (the record is not read)");
	ok(mfs_hashset_has(&keep, bases[0].b), "and the real delta's bases too");
	mfs_hashset_clear(&keep);
	{
		struct mfs_batch *b = mfs_batch_new(db);

		mfs_chunk_stage_delete(b, &fake);
		mfs_db_write(db, b, MFS_WRITE_SYNC);
		mfs_batch_free(b);
	}

	/* An index entry that lists another base than its record names: fsck says corrupt. */
	is_int(mfs_copy_state_local(db, h, 0, 0), MFS_COPY_STORED, "fsck: the delta is whole");
	put_record_bases(db, h, rec, reclen, fb, 1);
	is_int(mfs_copy_state_local(db, h, 0, 0), MFS_COPY_CORRUPT,
	       "fsck: an index entry listing other bases is corrupt");
	put_record_bases(db, h, rec, reclen, bases, nb);
	is_int(mfs_copy_state_local(db, h, 0, 0), MFS_COPY_STORED, "fsck: whole again");
	free(bases);
}

/* Version 3 index values that do not add up are refused, never half read. */
static void index_v3_malformed(void)
{
	uint8_t v[24 + 2 * 32] = { MFS_CHUNK_INDEX_V3, MFS_CODEC_DELTA };
	struct mfs_chunk_summary s;
	const uint8_t *p;
	uint32_t n;
	int good, bad = 0;

	put_le32(v + 10, 1);
	put_le16(v + 22, 2);
	good = !mfs_chunk_summary_decode(v, sizeof(v), &s) &&
	       !mfs_chunk_index_bases(v, sizeof(v), &p, &n) && n == 2 && p == v + 24;
	bad += mfs_chunk_summary_decode(v, sizeof(v) - 1, &s) == MFS_EFORMAT;
	put_le16(v + 22, 0);
	bad += mfs_chunk_summary_decode(v, 24, &s) == MFS_EFORMAT;
	put_le16(v + 22, 3);
	bad += mfs_chunk_summary_decode(v, sizeof(v), &s) == MFS_EFORMAT;
	put_le16(v + 22, 2);
	v[1] = MFS_CODEC_ZSTD;
	bad += mfs_chunk_summary_decode(v, sizeof(v), &s) == MFS_EFORMAT;
	v[1] = MFS_CODEC_DELTA;
	put_le32(v + 10, 0);
	put_le64(v + 14, 9);
	bad += mfs_chunk_index_bases(v, sizeof(v), &p, &n) == MFS_EFORMAT;
	ok(good && bad == 5, "index version 3: a good value reads, 5 bad ones are refused (%d)", bad);
}

static uint8_t *record_copy(struct mfs_db *db, const struct mfs_hash *h, size_t *len)
{
	struct mfs_val v;
	uint8_t *p;

	if (mfs_chunk_record_get(db, h, &v) || !(p = malloc(v.len)))
		tap_bail("record get");
	memcpy(p, v.p, v.len);
	*len = v.len;
	mfs_val_release(&v);
	return p;
}

/* Every chunk of m loads (deep) as the file's bytes; a few ranges too. */
static int reads_back(struct mfs_db *db, const struct mfs_manifest *m, const uint8_t *file)
{
	struct mfs_codec_ctx *ctx = mfs_codec_ctx_thread();
	uint8_t buf[8192];

	for (uint32_t i = 0; i < m->count; i++) {
		struct mfs_chunk_bytes cb;
		uint32_t len = m->e[i].len, off = len / 3, n = len - off < 8192 ? len - off : 8192;

		if (mfs_chunk_load(db, ctx, &m->e[i].hash, &cb, 1))
			return 0;
		if (cb.len != len || memcmp(cb.p, file + m->off[i], len)) {
			mfs_chunk_bytes_release(&cb);
			return 0;
		}
		mfs_chunk_bytes_release(&cb);
		if (mfs_chunk_read_range(db, ctx, &m->e[i].hash, off, n, buf) ||
		    memcmp(buf, file + m->off[i] + off, n))
			return 0;
	}
	return 1;
}

/*
 * Fuzz of the delta decoder: n mutations of the record rec (bit flips,
 * random bytes, truncations; half of them forged, the outer checksum made
 * to match again, so the refs, the inner record and the base reads are
 * exercised) must each decode to exactly `want` or be refused.
 */
static int fuzz(struct mfs_db *db, const uint8_t *rec, size_t reclen, const uint8_t *want,
		size_t wlen, int n, int *refused)
{
	struct mfs_codec_ctx *ctx = mfs_codec_ctx_thread();
	uint8_t *m = malloc(reclen), *out = malloc(wlen);
	uint64_t x = 0x243f6a8885a308d3ull;

	*refused = 0;
	for (int i = 0; i < n; i++) {
		size_t len = reclen, k;
		int rc;

		memcpy(m, rec, reclen);
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		k = x % 4;
		/* Most flips near the front: the refs and the inner header. */
		size_t at = (x >> 8) % (x & 1 ? 600 : reclen);

		if (at >= reclen)
			at = reclen - 1;
		if (k == 0)
			m[at] ^= 1u << ((x >> 40) % 8);
		else if (k == 1)
			m[at] = (uint8_t)(x >> 48);
		else if (k == 2)
			len = at > MFS_CHUNK_HDR_SIZE ? at : MFS_CHUNK_HDR_SIZE;
		else
			put_le32(m + MFS_CHUNK_HDR_SIZE + 4 + 8 + 32 + 4 * ((x >> 20) % 3),
				 (uint32_t)(x >> 32));
		if ((x >> 60) & 1) /* forged: a checksum that matches */
			mfs_chunk_seal(m, m[5], get_le32(m + 8), len - MFS_CHUNK_HDR_SIZE);
		rc = mfs_delta_decode(db, ctx, m, len, 0, wlen, out);
		if (rc)
			++*refused;
		else if (memcmp(out, want, wlen))
			break;
		if (!rc && len != reclen)
			break;
		if (i == n - 1) {
			free(m);
			free(out);
			return 1;
		}
	}
	free(m);
	free(out);
	return 0;
}

/*
 * Where the first sparse piece of the delta record rec's inner split record
 * is: *entry := the offset of its table entry, *piece := of its bytes, *len
 * := its length; *count := the sparse pieces in all.  0 if there is none.
 */
static int sparse_piece_at(const uint8_t *rec, uint32_t nrefs, size_t *entry, size_t *piece,
			   size_t *len, unsigned *count)
{
	size_t in = MFS_CHUNK_HDR_SIZE + MFS_DELTA_HEAD + (size_t)nrefs * MFS_DELTA_REF_SIZE;
	size_t sp = in + MFS_CHUNK_HDR_SIZE, raw_len = get_le32(rec + in + 8), w, m, ng, pos;

	*count = 0;
	*entry = 0;
	if (rec[in + 5] != MFS_CODEC_SPLIT2 && rec[in + 5] != MFS_CODEC_SPLIT4)
		return 0;
	w = rec[in + 5] == MFS_CODEC_SPLIT2 ? 2 : 4;
	m = raw_len / w;
	ng = (m + ((size_t)1 << rec[sp]) - 1) >> rec[sp];
	/* The group checksums (format 7) after the table, when flagged. */
	pos = sp + 2 + ng * w * 4 + (rec[sp + 1] & 1 ? ng * 8 : 0) + raw_len % w;
	for (size_t i = 0; i < ng * w; i++) {
		uint32_t e = get_le32(rec + sp + 2 + 4 * i);

		if ((e & 0x40000000u) && !(*count)++) {
			*entry = sp + 2 + 4 * i;
			*piece = pos;
			*len = e & 0x3fffffffu;
		}
		pos += e & 0x3fffffffu;
	}
	return *count > 0;
}

/*
 * A checksum made to match the record r[0..n): of a split record with
 * group checksums (format 7) each group's too, then the header's.
 */
static void forge_seal(uint8_t *r, size_t n)
{
	const uint8_t *p = r + MFS_CHUNK_HDR_SIZE;
	size_t raw_len = get_le32(r + 8), w = r[5] == MFS_CODEC_SPLIT2 ? 2 : 4, m, per, ng, pos;

	if ((r[5] == MFS_CODEC_SPLIT2 || r[5] == MFS_CODEC_SPLIT4) && (p[1] & 1)) {
		m = raw_len / w;
		per = (size_t)1 << p[0];
		ng = (m + per - 1) / per;
		pos = 2 + ng * w * 4 + ng * 8 + raw_len % w;
		for (size_t g = 0; g < ng; g++) {
			size_t gb = 0;

			for (size_t k = 0; k < w; k++)
				gb += get_le32(p + 2 + 4 * (g * w + k)) & 0x3fffffffu;
			put_le64(r + MFS_CHUNK_HDR_SIZE + 2 + ng * w * 4 + 8 * g,
				 mfs_xxh64(p + pos, gb, 0));
			pos += gb;
		}
	}
	mfs_chunk_seal(r, r[5], raw_len, n - MFS_CHUNK_HDR_SIZE);
}

/*
 * Sparse pieces (codec_split.c note 2): the delta is version 2 and holds
 * some; damaged ones, under a checksum made to match, are refused by a
 * whole read: the decoder's own checks (counts, skips past the slice, a
 * malformed entry) or the rebuilt bytes' XXH64 (a token moved within the
 * slice), never wrong bytes.
 */
static void sparse_cases(struct mfs_db *db, const uint8_t *rec, size_t reclen, uint32_t nrefs,
			 const uint8_t *want, size_t wlen)
{
	struct mfs_codec_ctx *ctx = mfs_codec_ctx_thread();
	uint8_t *m = malloc(reclen), *out = malloc(wlen);
	size_t entry = 0, piece = 0, len = 0;
	unsigned count, refused = 0, cases = 0;
	int rc;

	if (!sparse_piece_at(rec, nrefs, &entry, &piece, &len, &count)) {
		ok(0, "the delta holds a sparse piece");
		free(m);
		free(out);
		return;
	}
	ok(rec[MFS_CHUNK_HDR_SIZE] == MFS_DELTA_VERSION_SPARSE && len > 5,
	   "the delta is version %u, with %u sparse piece(s) (the first %zu bytes)",
	   rec[MFS_CHUNK_HDR_SIZE], count, len);
	for (int k = 0; k < 8; k++) {
		uint32_t ntok = get_le32(rec + piece);
		size_t t = piece + 4; /* its first token that places a value */

		while (t < piece + 4 + ntok - 1 && rec[t] == 255)
			t++;

		memcpy(m, rec, reclen);
		switch (k) {
		case 0: put_le32(m + piece, ntok + 1); break;		/* a value short */
		case 1: put_le32(m + piece, 0xffffffffu); break;	/* past the piece */
		case 2: put_le32(m + piece, ntok - 1); break;		/* a value over */
		case 3: m[t] = 255; break;				/* a skip, no value */
		case 4: memset(m + piece + 4, 254, ntok); break;	/* skips past the slice */
		case 5: put_le32(m + entry, get_le32(m + entry) | 0x80000000u); break; /* both kinds */
		case 6: put_le32(m + entry, get_le32(m + entry) & ~0x40000000u); break; /* raw */
		case 7: m[t] ^= 1; break;				/* a value moved */
		}
		mfs_chunk_seal(m, MFS_CODEC_DELTA, get_le32(m + 8), reclen - MFS_CHUNK_HDR_SIZE);
		rc = mfs_delta_decode(db, ctx, m, reclen, 0, wlen, out);
		cases++;
		refused += rc == (k == 7 ? MFS_EBADHASH : MFS_ECORRUPT);
		if (!rc && memcmp(out, want, wlen))
			break;
	}
	ok(refused == cases, "damaged sparse pieces, checksum forged: %u of %u refused", refused,
	   cases);
	rc = mfs_delta_decode(db, ctx, rec, reclen, 0, wlen, out);
	ok(!rc && !memcmp(out, want, wlen), "and the good record still reads exact");
	free(m);
	free(out);
}

/* The fused XOR and join against a byte loop, both widths, odd lengths and offsets. */
/*
 * A base source (delta.h, mfs_delta_src: the chunk cache in the daemon)
 * holding copies of the base file's chunks, decoded.
 */
struct src_tab {
	const struct mfs_manifest *m;
	uint8_t **b;            /* the base file's chunk i, copied */
	size_t *len;
	long gets, puts;
};

static const uint8_t *src_get(void *arg, const struct mfs_hash *h, size_t *len, const void **ref)
{
	struct src_tab *t = arg;

	for (uint32_t i = 0; i < t->m->count; i++)
		if (!memcmp(t->m->e[i].hash.b, h->b, MFS_HASH_LEN)) {
			t->gets++;
			*len = t->len[i];
			*ref = t->b[i];
			return t->b[i];
		}
	return NULL;
}

static void src_put(void *arg, const void *ref)
{
	struct src_tab *t = arg;

	t->puts += ref != NULL;
}

/* Every delta chunk of tm, loaded whole with the thread's source set to t: all exact? */
static int whole_with_src(struct mfs_db *db, const struct mfs_manifest *tm, const uint8_t *file,
			  struct src_tab *t)
{
	const struct mfs_delta_src src = { src_get, src_put, t };
	int good = 1;

	mfs_delta_src_set(&src);
	for (uint32_t i = 0; i < tm->count && good; i++) {
		struct mfs_chunk_bytes cb;

		if (mfs_chunk_load(db, mfs_codec_ctx_thread(), &tm->e[i].hash, &cb, 0))
			good = 0;
		else if (cb.len != tm->e[i].len || memcmp(cb.p, file + tm->off[i], cb.len))
			good = 0;
		if (good)
			mfs_chunk_bytes_release(&cb);
	}
	mfs_delta_src_set(NULL);
	return good;
}

/*
 * Bases taken from a source (the chunk cache, when the base was read
 * recently): exact, no base record read; and a source whose bytes are
 * wrong never yields wrong bytes: the rebuild fails its check and the
 * chunk is read again from the store.
 */
static void bases_from_src(struct mfs_db *db, const struct mfs_manifest *bm,
			   const struct mfs_manifest *tm, const uint8_t *file, uint32_t deltas)
{
	struct src_tab t = { .m = bm };
	uint64_t p0, c0, p1, c1, h0 = mfs_delta_src_hits();

	if (!(t.b = calloc(bm->count, sizeof(*t.b))) || !(t.len = calloc(bm->count, sizeof(*t.len))))
		tap_bail("calloc");
	for (uint32_t i = 0; i < bm->count; i++) {
		struct mfs_chunk_bytes cb;

		if (mfs_chunk_load(db, mfs_codec_ctx_thread(), &bm->e[i].hash, &cb, 0) ||
		    !(t.b[i] = malloc(cb.len)))
			tap_bail("base chunk load");
		memcpy(t.b[i], cb.p, cb.len);
		t.len[i] = cb.len;
		mfs_chunk_bytes_release(&cb);
	}
	mfs_delta_read_counts(&p0, &c0);
	ok(whole_with_src(db, tm, file, &t), "bases from a source: every chunk reads back exact");
	mfs_delta_read_counts(&p1, &c1);
	ok(p1 - p0 == deltas && c1 == c0 && mfs_delta_src_hits() - h0 >= deltas &&
	   t.gets == t.puts && t.gets >= deltas,
	   "... by the planes path, every base from the source (%ld taken, %ld given back)",
	   t.gets, t.puts);
	for (uint32_t i = 0; i < bm->count; i++) /* a source gone bad: every byte a ref places */
		for (size_t k = 0; k < t.len[i]; k++)
			t.b[i][k] ^= 0x40;
	t.gets = t.puts = 0;
	mfs_delta_read_counts(&p0, &c0);
	ok(whole_with_src(db, tm, file, &t), "a source with wrong bytes: still exact, from the store");
	mfs_delta_read_counts(&p1, &c1);
	ok(c1 - c0 == deltas && t.gets == t.puts,
	   "... each rebuild failed its check and went the checked way (%llu of %u)",
	   (unsigned long long)(c1 - c0), deltas);
	for (uint32_t i = 0; i < bm->count; i++)
		free(t.b[i]);
	free(t.b);
	free(t.len);
}

/*
 * Through the chunk cache (cache.c note 6): the base file's chunks loaded
 * and held, then the fine-tune's chunks are loaded with their bases taken
 * from the cache, exact.  The cache holds 1 byte: once everything is
 * released, every entry must have been evicted, which it is only if each
 * base the loads took was given back (a release too many is a BUG).
 */
static void bases_from_cache(struct mfs_db *db, const struct mfs_manifest *bm,
			     const struct mfs_manifest *tm, const uint8_t *file, uint32_t deltas)
{
	const struct mfs_cache_entry **held = calloc(bm->count, sizeof(*held)), *e;
	struct mfs_cache_stats st;
	struct mfs_cache *c;
	uint64_t h0 = mfs_delta_src_hits(), p0, c0, p1, c1;
	int good = 1;

	if (!held || mfs_cache_new(db, 1, 0, &c))
		tap_bail("cache");
	for (uint32_t i = 0; i < bm->count && good; i++)
		good = !mfs_cache_get(c, &bm->e[i].hash, bm->e[i].len, 0, &held[i]);
	mfs_delta_read_counts(&p0, &c0);
	for (uint32_t i = 0; i < tm->count && good; i++) {
		good = !mfs_cache_get(c, &tm->e[i].hash, tm->e[i].len, 0, &e) &&
		       !memcmp(e->data, file + tm->off[i], e->len);
		mfs_cache_release(c, e);
	}
	mfs_delta_read_counts(&p1, &c1);
	ok(good && p1 - p0 == deltas && c1 == c0,
	   "the base read through the chunk cache, then the fine-tune: exact, by the planes path");
	ok(mfs_delta_src_hits() - h0 >= deltas, "... every delta's bases from the cache (%llu)",
	   (unsigned long long)(mfs_delta_src_hits() - h0));
	for (uint32_t i = 0; i < bm->count; i++)
		mfs_cache_release(c, held[i]);
	mfs_cache_stats(c, &st);
	ok(st.entries == 0 && st.bytes == 0,
	   "... and every base given back: all evicted (%llu entries left)",
	   (unsigned long long)st.entries);
	mfs_cache_free(c);
	free(held);
}

static void planes_xor(void)
{
	uint8_t a[4][300], b[4][300], got[1200], want[1200];
	uint64_t x = 88172645463325252ull;
	int bad = 0;

	for (int k = 0; k < 4; k++)
		for (int i = 0; i < 300; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			a[k][i] = (uint8_t)x;
			b[k][i] = (uint8_t)(x >> 8);
		}
	for (unsigned w = 2; w <= 4; w += 2)
		for (size_t m = 0; m < 290; m += m < 70 ? 7 : 31) {
			const uint8_t *pa[4] = { a[0] + 3, a[1] + 1, a[2], a[3] + 5 };
			const uint8_t *pb[4] = { b[0], b[1] + 2, b[2] + 7, b[3] + 1 };

			for (size_t i = 0; i < m; i++)
				for (unsigned k = 0; k < w; k++)
					want[i * w + k] = pa[k][i] ^ pb[k][i];
			mfs_planes_gather_xor(pa, pb, m, got, w);
			bad += memcmp(got, want, m * w) != 0;
		}
	ok(!bad, "planes XORed as joined: as a byte loop, split2 and split4");
}

int main(void)
{
	char dir[] = "/tmp/mfs-test-delta-XXXXXX", dbdir[300], base[300], tune[300], cmd[1200];
	const char *dd = getenv("MFS_DELTA_DIR"), *src = getenv("MFS_SRC");
	const char *wd = getenv("MFS_WEIGHTS_DIR");
	struct mfs_ingest_stats sb, st;
	struct mfs_hash bid, tid, tid2;
	struct mfs_manifest *bm, *tm;
	struct mfs_chunk_summary s;
	struct mfs_db *db;
	uint8_t *tfile, *rec, *brec;
	size_t tlen, reclen, breclen;
	uint32_t deltas = 0, di = 0, nrefs;
	struct mfs_delta_ref *refs;

	mfs_log_open(NULL, MFS_LOG_ERROR + 1, MFS_LOG_ERROR + 1);
	if (!dd)
		dd = "/var/tmp/mfs-delta-ft";
	snprintf(base, sizeof(base), "%s/unit-base-f32.st", dd);
	snprintf(tune, sizeof(tune), "%s/unit-tune-f32.st", dd);
	if (access(tune, R_OK)) {
		snprintf(cmd, sizeof(cmd),
			 "mkdir -p %s && /usr/bin/python3 %s/tests/bench/make_finetune.py --pool "
			 "%s/pool --base %s --tune %s --dtype f32 --layers 24 >/dev/null 2>&1", dd,
			 src ? src : ".", wd ? wd : "/var/tmp/modelfs-weights", base, tune);
		if (system(cmd) || access(tune, R_OK)) {
			printf("1..0 # SKIP no fine-tune pair (python3 + torch)\n");
			return 0;
		}
	}
	tfile = slurp(tune, &tlen);
	if (!mkdtemp(dir))
		tap_bail("mkdtemp");
	snprintf(dbdir, sizeof(dbdir), "%s/db", dir);
	if (mfs_store_open(dbdir, &db))
		tap_bail("store open");

	is_int(ingest(db, base, NULL, &bid, &sb), 0, "base ingested");
	is_int(ingest(db, tune, &bid, &tid, &st), 0, "fine-tune ingested with its base");
	ok(st.new_stored <= tlen * 6 / 10, "fine-tune stored at %.3fx its size (<= 0.6x; base %.3fx)",
	   (double)st.new_stored / tlen, (double)sb.new_stored / sb.bytes);
	if (mfs_manifest_load(db, &bid, &bm) || mfs_manifest_load(db, &tid, &tm))
		tap_bail("manifests");
	for (uint32_t i = 0; i < tm->count; i++)
		if (!mfs_chunk_summary_get(db, &tm->e[i].hash, &s) && s.codec == MFS_CODEC_DELTA &&
		    !deltas++)
			di = i;
	ok(deltas >= tm->count * 9 / 10, "%u of %u chunks are deltas", deltas, tm->count);
	{
		uint64_t p0, c0, p1, c1;

		mfs_delta_read_counts(&p0, &c0);
		ok(reads_back(db, tm, tfile), "every chunk and range reads back exact");
		mfs_delta_read_counts(&p1, &c1);
		/* A planes path that fails would still read back, through the checked path. */
		ok(p1 - p0 == deltas && c1 == c0,
		   "whole delta reads take the planes path (%llu of %u, %llu checked)",
		   (unsigned long long)(p1 - p0), deltas, (unsigned long long)(c1 - c0));
	}
	planes_xor();
	bases_from_src(db, bm, tm, tfile, deltas);
	bases_from_cache(db, bm, tm, tfile, deltas);
	is_int(ingest(db, tune, &bid, &tid2, &st), 0, "ingested again");
	ok(!memcmp(tid.b, tid2.b, MFS_HASH_LEN) && st.new_chunks == 0, "dedups against the deltas");

	/* Damage, one case at a time, each undone after. */
	rec = record_copy(db, &tm->e[di].hash, &reclen);
	index_bases(db, &tm->e[di].hash, rec, reclen);
	index_v3_malformed();
	{
		int refused = 0, good = fuzz(db, rec, reclen, tfile + tm->off[di], tm->e[di].len, 3000,
					     &refused);

		ok(good,
		   "delta decoder fuzz: 3000 mutations (half forged) decoded exactly or refused (%d)",
		   refused);
	}
	is_int(mfs_delta_refs(rec, reclen, &refs, &nrefs), 0, "the refs of a delta parse");
	ok(nrefs >= 1 && nrefs <= 4, "a delta chunk names %u base range(s)", nrefs);
	{
		/*
		 * Its XOR bytes are coded for a whole read's speed too (codec_split.c
		 * note 1): the mostly zero top plane as a frame with matches, which
		 * alone gets under the bit a byte that Huffman spends at least.
		 */
		const uint8_t *in = rec + MFS_CHUNK_HDR_SIZE + MFS_DELTA_HEAD +
				    (size_t)nrefs * MFS_DELTA_REF_SIZE, *sp = in + MFS_CHUNK_HDR_SIZE;
		size_t m = get_le32(in + 8) / 4, words = m < ((size_t)1 << sp[0]) ? m : (size_t)1 << sp[0];
		uint32_t e = get_le32(sp + 2 + 4 * 3);

		ok(in[5] == MFS_CODEC_SPLIT4 && (e & 0xc0000000u) && (e & 0x3fffffffu) < words / 8,
		   "the FP32 delta's XOR top plane: a %s piece of %u bytes for %zu",
		   e & 0x40000000u ? "sparse" : "zstd (matches)", e & 0x3fffffffu, words);
	}
	sparse_cases(db, rec, reclen, nrefs, tfile + tm->off[di], tm->e[di].len);
	{
		/* Version 2 exactly for the deltas whose inner record holds a sparse piece. */
		uint32_t v2 = 0, agree = 0, n = 0;

		for (uint32_t i = 0; i < tm->count; i++) {
			size_t l, e, pc, pl;
			unsigned cnt;
			uint8_t *r;
			struct mfs_delta_ref *rf;
			uint32_t nr;

			if (mfs_chunk_summary_get(db, &tm->e[i].hash, &s) || s.codec != MFS_CODEC_DELTA)
				continue;
			r = record_copy(db, &tm->e[i].hash, &l);
			if (!mfs_delta_refs(r, l, &rf, &nr)) {
				int has = sparse_piece_at(r, nr, &e, &pc, &pl, &cnt);

				n++;
				v2 += r[MFS_CHUNK_HDR_SIZE] == MFS_DELTA_VERSION_SPARSE;
				agree += has == (r[MFS_CHUNK_HDR_SIZE] == MFS_DELTA_VERSION_SPARSE);
				free(rf);
			}
			free(r);
		}
		ok(n == deltas && agree == n,
		   "%u of %u deltas are version 2, each exactly when it holds a sparse piece", v2, n);
	}
	{
		struct mfs_chunk_bytes cb;
		uint8_t *bad = malloc(reclen);

		memcpy(bad, rec, reclen);
		bad[reclen / 2] ^= 0x10;
		put_record(db, &tm->e[di].hash, bad, reclen);
		is_int(mfs_chunk_load(db, mfs_codec_ctx_thread(), &tm->e[di].hash, &cb, 0),
		       MFS_ECORRUPT, "a flipped bit in a delta record: MFS_ECORRUPT");
		memcpy(bad, rec, reclen);
		bad[MFS_CHUNK_HDR_SIZE + 4 + 33] ^= 1; /* a ref's base_off, checksum kept wrong */
		put_record(db, &tm->e[di].hash, bad, reclen);
		is_int(mfs_chunk_load(db, mfs_codec_ctx_thread(), &tm->e[di].hash, &cb, 0),
		       MFS_ECORRUPT, "a flipped bit in a ref: MFS_ECORRUPT");
		put_record(db, &tm->e[di].hash, rec, reclen);
		free(bad);

		/* Missing base: the delta's first base gone. */
		brec = record_copy(db, &refs[0].base, &breclen);
		{
			struct mfs_batch *b = mfs_batch_new(db);

			mfs_chunk_stage_delete(b, &refs[0].base);
			mfs_db_write(db, b, MFS_WRITE_SYNC);
			mfs_batch_free(b);
		}
		is_int(mfs_chunk_load(db, mfs_codec_ctx_thread(), &tm->e[di].hash, &cb, 0), -ENOENT,
		       "a missing base: -ENOENT (the read path fetches the chunk from a peer)");
		/* Wrong base: a valid record of other bytes under the base's key. */
		{
			size_t olen;
			uint8_t *other = record_copy(db, &bm->e[bm->count - 1].hash, &olen);

			put_record(db, &refs[0].base, other, olen);
			free(other);
		}
		ok(mfs_chunk_load(db, mfs_codec_ctx_thread(), &tm->e[di].hash, &cb, 0) < 0,
		   "a wrong base: an error, not wrong bytes");
		/* A base that is itself a delta (no chains). */
		put_record(db, &refs[0].base, rec, reclen);
		is_int(mfs_chunk_load(db, mfs_codec_ctx_thread(), &tm->e[di].hash, &cb, 0),
		       MFS_ECORRUPT, "a base that is a delta: MFS_ECORRUPT");
		/*
		 * A damaged base record (its index entry as it was): the planes
		 * path checks no input's checksum, only the rebuilt bytes; the
		 * checked path it falls back to must say which input is bad.
		 */
		{
			uint8_t *dmg = malloc(breclen);
			uint64_t p0, c0, p1, c1;

			memcpy(dmg, brec, breclen);
			dmg[breclen - breclen / 3] ^= 0x04;
			put_record(db, &refs[0].base, dmg, breclen);
			mfs_delta_read_counts(&p0, &c0);
			is_int(mfs_chunk_load(db, mfs_codec_ctx_thread(), &tm->e[di].hash, &cb, 0),
			       MFS_ECORRUPT, "a flipped bit in a base record: MFS_ECORRUPT");
			mfs_delta_read_counts(&p1, &c1);
			ok(p1 == p0 && c1 == c0 + 1, "... found by the rebuild's check, said by the checked path");
			/* The same damage under a checksum made to match: only the rebuild's check sees it. */
			forge_seal(dmg, breclen);
			put_record(db, &refs[0].base, dmg, breclen);
			is_int(mfs_chunk_load(db, mfs_codec_ctx_thread(), &tm->e[di].hash, &cb, 0),
			       MFS_EBADHASH, "a base damaged under a good checksum: MFS_EBADHASH");
			free(dmg);
		}
		/* The base recoded with zstd (no planes): decoded whole, XORed in as bytes. */
		{
			struct mfs_chunk_bytes plain;
			uint8_t *z = malloc(mfs_chunk_record_bound(MFS_CHUNK_MAX));
			uint64_t p0, c0, p1, c1;
			ssize_t zl;

			put_record(db, &refs[0].base, brec, breclen);
			if (!z || mfs_chunk_load(db, mfs_codec_ctx_thread(), &refs[0].base, &plain, 0))
				tap_bail("base load");
			zl = mfs_chunk_encode(mfs_codec_ctx_thread(), plain.p, plain.len, z,
					      mfs_chunk_record_bound(MFS_CHUNK_MAX), MFS_CODEC_ZSTD);
			mfs_chunk_bytes_release(&plain);
			if (zl < 0)
				tap_bail("zstd encode");
			put_record(db, &refs[0].base, z, (size_t)zl);
			mfs_delta_read_counts(&p0, &c0);
			ok(!mfs_chunk_load(db, mfs_codec_ctx_thread(), &tm->e[di].hash, &cb, 1) &&
			   cb.len == tm->e[di].len && !memcmp(cb.p, tfile + tm->off[di], cb.len),
			   "a base coded with zstd: the delta reads back exact");
			mfs_chunk_bytes_release(&cb);
			mfs_delta_read_counts(&p1, &c1);
			ok(p1 == p0 + 1 && c1 == c0, "... by the planes path");
			free(z);
		}
		put_record(db, &refs[0].base, brec, breclen);
		ok(reads_back(db, tm, tfile), "with the base back, it reads back exact again");
		{
			struct mfs_hashset keep = { 0 };

			/* put_record wrote a version 2 entry: as a delta stored before version 3. */
			ok(!mfs_delta_keep_bases(db, NULL, &keep) && mfs_hashset_has(&keep, refs[0].base.b),
			   "a delta indexed before version 3 keeps its bases (from its record)");
			mfs_hashset_clear(&keep);
		}
		free(brec);
	}
	free(refs);
	free(rec);
	mfs_manifest_unref(bm);
	mfs_manifest_unref(tm);
	mfs_db_close(db);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		tap_bail("cleanup");
	free(tfile);
	return done_testing();
}
