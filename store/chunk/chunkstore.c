/* SPDX-License-Identifier: Apache-2.0 */
/* Chunk records and their index entries; see chunkstore.h. */
#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "chunker.h"
#include "chunkstore.h"
#include "delta.h"
#include "store/base/bytes.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/kv/db.h"
#include "store/kv/pack.h"

#define LOG_COMPONENT "chunks"

int mfs_chunk_exists(struct mfs_db *db, const struct mfs_hash *h)
{
	return mfs_db_exists(db, MFS_CF_CHUNK_INDEX, h->b, MFS_HASH_LEN);
}

/*
 * Which records go to packs: the large ones, which through RocksDB cost a
 * copy into the memtable, a blob file write at the flush, and on every
 * read a copy out of the blob file.  Small ones stay in the chunks CF: a
 * small file's batch goes through the WAL and its group commit, which a
 * pack's fdatasync per file would make slower.
 */
static struct mfs_packs *packs_for(struct mfs_batch *b, size_t len)
{
	return len >= MFS_CHUNK_PACK_MIN ? mfs_db_packs(mfs_batch_db(b)) : NULL;
}

void mfs_chunk_stage_record(struct mfs_batch *b, const struct mfs_hash *h, const void *rec,
			    size_t len)
{
	struct mfs_packs *packs = packs_for(b, len);
	struct mfs_pack_loc loc;
	uint64_t ticket;
	int rc;

	if (!packs) {
		mfs_batch_put(b, MFS_CF_CHUNKS, h->b, MFS_HASH_LEN, rec, len);
		return;
	}
	mfs_batch_note_packed(b);
	/* Unindexed bytes if the rest fails: space only (chunkstore.h). */
	if ((rc = mfs_packs_append(packs, rec, len, &loc, &ticket)) ||
	    (rc = mfs_packs_pending_put(packs, h->b, &loc, ticket)))
		mfs_batch_fail(b, rc);
}

/* The version 1 or 2 fields of h's index entry into idx; its length, or 0 (b failed). */
static size_t index_fields(struct mfs_batch *b, const struct mfs_hash *h,
			   const struct mfs_chunk_info *info, size_t record_len, uint8_t *idx)
{
	struct mfs_packs *packs = packs_for(b, record_len);
	struct mfs_pack_pend *claim;
	struct mfs_pack_loc loc;
	uint64_t ticket;

	idx[0] = MFS_CHUNK_INDEX_VERSION;
	idx[1] = info->codec;
	put_le32(idx + 2, info->raw_len);
	put_le32(idx + 6, (uint32_t)record_len);
	if (!packs)
		return MFS_CHUNK_INDEX_LEN;
	if (record_len > UINT32_MAX ||
	    mfs_packs_pending_claim(packs, h->b, (uint32_t)record_len, &loc, &ticket, &claim)) {
		char hex[MFS_HASH_HEX_LEN + 1];

		/* A caller's bug: never index a record we cannot point at. */
		mfs_hash_to_hex(h, hex);
		log_error("chunk %s: index staged without its record", hex);
		mfs_batch_fail(b, -EIO);
		return 0;
	}
	/* Staged, in sight, until b is written: fetch.c looks here, then at the index. */
	if (mfs_batch_hold_pending(b, claim)) {
		mfs_packs_pending_drop(packs, claim);
		mfs_batch_fail(b, -ENOMEM);
		return 0;
	}
	idx[0] = MFS_CHUNK_INDEX_V2;
	put_le32(idx + 10, loc.pack);
	put_le64(idx + 14, loc.off);
	mfs_batch_need_packs(b, ticket);
	return MFS_CHUNK_INDEX_V2_LEN;
}

void mfs_chunk_stage_index(struct mfs_batch *b, const struct mfs_hash *h,
			   const struct mfs_chunk_info *info, size_t record_len)
{
	uint8_t idx[MFS_CHUNK_INDEX_V2_LEN];
	size_t n = index_fields(b, h, info, record_len, idx);

	if (n)
		mfs_batch_put(b, MFS_CF_CHUNK_INDEX, h->b, MFS_HASH_LEN, idx, n);
}

void mfs_chunk_stage_index_received(struct mfs_batch *b, const struct mfs_hash *h,
				    const struct mfs_chunk_info *info, size_t record_len)
{
	mfs_chunk_stage_index(b, h, info, record_len);
	if (info->codec == MFS_CODEC_RAW && record_len >= MFS_CHUNK_PACK_MIN)
		mfs_chunk_stage_recode(b, h);
}

void mfs_chunk_stage_index_bases(struct mfs_batch *b, const struct mfs_hash *h,
				 const struct mfs_chunk_info *info, size_t record_len,
				 const struct mfs_hash *bases, uint32_t nbases)
{
	size_t len = MFS_CHUNK_INDEX_V3_HEAD + (size_t)nbases * MFS_HASH_LEN;
	uint8_t *idx = calloc(1, len);

	if (!idx || !nbases || nbases > UINT16_MAX) {
		free(idx);
		mfs_batch_fail(b, idx ? -EINVAL : -ENOMEM);
		return;
	}
	if (index_fields(b, h, info, record_len, idx)) {
		idx[0] = MFS_CHUNK_INDEX_V3; /* pack and offset stay 0 for a chunks CF record */
		put_le16(idx + 22, (uint16_t)nbases);
		for (uint32_t i = 0; i < nbases; i++)
			memcpy(idx + MFS_CHUNK_INDEX_V3_HEAD + (size_t)i * MFS_HASH_LEN, bases[i].b,
			       MFS_HASH_LEN);
		mfs_batch_put(b, MFS_CF_CHUNK_INDEX, h->b, MFS_HASH_LEN, idx, len);
	}
	free(idx);
}

void mfs_recode_key(const struct mfs_hash *h, uint8_t key[MFS_RECODE_KEY_LEN])
{
	memcpy(key, MFS_RECODE_PREFIX, MFS_RECODE_PREFIX_LEN);
	memcpy(key + MFS_RECODE_PREFIX_LEN, h->b, MFS_HASH_LEN);
}

void mfs_chunk_stage_recode(struct mfs_batch *b, const struct mfs_hash *h)
{
	uint8_t key[MFS_RECODE_KEY_LEN];

	mfs_recode_key(h, key);
	mfs_batch_put(b, MFS_CF_META, key, sizeof(key), "", 0);
}

void mfs_chunk_stage_delete(struct mfs_batch *b, const struct mfs_hash *h)
{
	uint8_t key[MFS_RECODE_KEY_LEN];

	mfs_recode_key(h, key);
	mfs_batch_delete(b, MFS_CF_CHUNKS, h->b, MFS_HASH_LEN);
	mfs_batch_delete(b, MFS_CF_CHUNK_INDEX, h->b, MFS_HASH_LEN);
	/* A queue entry for a chunk gone would only make the pass look it up. */
	mfs_batch_delete(b, MFS_CF_META, key, sizeof(key));
}

static void summary_loc(const struct mfs_chunk_summary *s, struct mfs_pack_loc *loc)
{
	*loc = (struct mfs_pack_loc){ .pack = s->pack, .len = s->record_len, .off = s->off };
}

int mfs_chunk_free_space(struct mfs_db *db, const struct mfs_chunk_summary *s)
{
	struct mfs_packs *packs = mfs_db_packs(db);
	struct mfs_pack_loc loc;

	if (!s->pack || !packs)
		return 0;
	summary_loc(s, &loc);
	return mfs_packs_punch(packs, &loc);
}

/* Whether p[0..n) is a whole version 3 value: a delta's, with 1 or more bases. */
static int index_v3_ok(const uint8_t *p, size_t n)
{
	return n >= MFS_CHUNK_INDEX_V3_HEAD && p[1] == MFS_CODEC_DELTA && get_le16(p + 22) &&
	       n == MFS_CHUNK_INDEX_V3_HEAD + (size_t)get_le16(p + 22) * MFS_HASH_LEN;
}

int mfs_chunk_summary_decode(const uint8_t *p, size_t n, struct mfs_chunk_summary *s)
{
	if (n < 2 || p[1] >= MFS_CODEC_COUNT)
		return MFS_EFORMAT;
	if (p[0] == MFS_CHUNK_INDEX_VERSION && n == MFS_CHUNK_INDEX_LEN) {
		s->pack = 0;
		s->off = 0;
	} else if (p[0] == MFS_CHUNK_INDEX_V2 && n == MFS_CHUNK_INDEX_V2_LEN) {
		s->pack = get_le32(p + 10);
		s->off = get_le64(p + 14);
		if (!s->pack)
			return MFS_EFORMAT;
	} else if (p[0] == MFS_CHUNK_INDEX_V3 && index_v3_ok(p, n)) {
		s->pack = get_le32(p + 10);
		s->off = get_le64(p + 14);
		if (!s->pack && s->off)
			return MFS_EFORMAT;
	} else {
		return MFS_EFORMAT;
	}
	s->codec = p[1];
	s->raw_len = get_le32(p + 2);
	s->record_len = get_le32(p + 6);
	return 0;
}

int mfs_chunk_index_bases(const uint8_t *p, size_t n, const uint8_t **bases, uint32_t *nbases)
{
	struct mfs_chunk_summary s;
	int rc = mfs_chunk_summary_decode(p, n, &s);

	*bases = NULL;
	*nbases = 0;
	if (rc)
		return rc;
	if (p[0] != MFS_CHUNK_INDEX_V3)
		return -ENOENT;
	*bases = p + MFS_CHUNK_INDEX_V3_HEAD;
	*nbases = get_le16(p + 22);
	return 0;
}

int mfs_chunk_summary_get(struct mfs_db *db, const struct mfs_hash *h, struct mfs_chunk_summary *s)
{
	struct mfs_val v;
	int rc = mfs_db_get(db, MFS_CF_CHUNK_INDEX, h->b, MFS_HASH_LEN, &v, 1);

	if (rc)
		return rc;
	rc = mfs_chunk_summary_decode(v.p, v.len, s);
	mfs_val_release(&v);
	return rc;
}

/*
 * Logs a bad chunk as an error the first time only: readers retry (the
 * kernel alone re-reads a failed page), and one line per attempt would bury
 * the log.  Remembers the last BAD_SEEN chunks.
 */
#define BAD_SEEN 64
static struct mfs_hash bad_seen[BAD_SEEN];
static unsigned bad_next;
static pthread_mutex_t bad_lock = PTHREAD_MUTEX_INITIALIZER;

static void log_bad_chunk(const struct mfs_hash *h, int rc)
{
	char hex[MFS_HASH_HEX_LEN + 1];
	int seen = 0;

	if (rc != MFS_ECORRUPT && rc != MFS_EBADHASH && rc != MFS_EFORMAT)
		return;
	pthread_mutex_lock(&bad_lock);
	for (unsigned i = 0; i < BAD_SEEN && !seen; i++)
		seen = !memcmp(bad_seen[i].b, h->b, MFS_HASH_LEN);
	if (!seen)
		bad_seen[bad_next++ % BAD_SEEN] = *h;
	pthread_mutex_unlock(&bad_lock);
	if (seen)
		return;
	mfs_hash_to_hex(h, hex);
	log_error("chunk %s: %s (this copy is never served)", hex, mfs_strerror(rc));
}

static int check_sha256(const struct mfs_hash *h, const void *p, size_t n)
{
	struct mfs_hash got;
	int rc;

	if ((rc = mfs_sha256(p, n, &got)))
		return rc;
	return memcmp(got.b, h->b, MFS_HASH_LEN) ? MFS_EBADHASH : 0;
}

/*
 * Chunk buffers: a cold read takes one per chunk (a raw record read in
 * place with O_DIRECT, or a decoded chunk) and the cache gives one back
 * per chunk it evicts.  They are carved from one arena of transparent
 * huge pages (issue 10, measured on a 1 GiB cold read of random bytes:
 * daemon 0.44-0.57 CPU-s/GiB against 0.70-1.42 with buffers of small
 * pages).  With 4 KiB pages every buffer was faulted in and zeroed page
 * by page, every page pinned one at a time twice (the O_DIRECT read and
 * the kernel's copy of the FUSE reply out of it), and the XXH64 pass took
 * a TLB miss every 4 KiB; on a VM whose page tables are shadowed each of
 * those is dear.  The arena is ARENA_BYTES of address space, reserved at
 * first use and faulted in (2 MiB at a time) only as buffers are carved
 * deeper into it: first fit over ARENA_UNIT units keeps the resident part
 * near the bytes in use.  A request that does not fit (or any request
 * under AddressSanitizer, which must see every buffer) is a plain aligned
 * allocation.  Every buffer is ARENA_UNIT-aligned, so it takes direct
 * reads.
 */
#define ARENA_UNIT (64u << 10)
#define ARENA_BYTES (256u << 20)
#define ARENA_UNITS (ARENA_BYTES / ARENA_UNIT)
#define HUGE_PAGE (2u << 20)

#if defined(__SANITIZE_ADDRESS__)
#define ARENA_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_OFF 1
#endif
#endif

static struct {
	pthread_mutex_t lock;
	pthread_once_t once;
	uint8_t *base;			/* NULL: no arena (mmap failed, or ASan) */
	uint64_t used[ARENA_UNITS / 64];	/* a bit per unit */
	uint32_t hint;			/* no free unit below this one */
} arena = { .lock = PTHREAD_MUTEX_INITIALIZER, .once = PTHREAD_ONCE_INIT };

static void arena_init(void)
{
#ifndef ARENA_OFF
	uint8_t *p = mmap(NULL, ARENA_BYTES + HUGE_PAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uintptr_t a;

	if (p == MAP_FAILED)
		return;
	a = ((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
	/* Only a hint: without THP the arena still saves the faults. */
	(void)madvise((void *)a, ARENA_BYTES, MADV_HUGEPAGE);
	arena.base = (uint8_t *)a;
#endif
}

static int unit_used(uint32_t u)
{
	return arena.used[u / 64] >> (u % 64) & 1;
}

static void units_mark(uint32_t u, uint32_t n, int used)
{
	for (uint32_t i = u; i < u + n; i++) {
		if (used)
			arena.used[i / 64] |= 1ull << (i % 64);
		else
			arena.used[i / 64] &= ~(1ull << (i % 64));
	}
}

/* A buffer of at least len bytes, aligned for O_DIRECT; *cap gets its size. */
static uint8_t *chunk_buf_get(size_t len, size_t *cap)
{
	uint32_t n = (uint32_t)((len + ARENA_UNIT - 1) / ARENA_UNIT), run = 0, u;
	void *p = NULL;

	if (!n)
		n = 1;
	pthread_once(&arena.once, arena_init);
	if (arena.base && n <= ARENA_UNITS) {
		pthread_mutex_lock(&arena.lock);
		for (u = arena.hint; u < ARENA_UNITS; u++) {
			if (unit_used(u)) {
				run = 0;
				continue;
			}
			if (++run == n)
				break;
		}
		if (u < ARENA_UNITS) {
			u -= n - 1;
			units_mark(u, n, 1);
			if (u == arena.hint)
				arena.hint += n;
			p = arena.base + (size_t)u * ARENA_UNIT;
		}
		pthread_mutex_unlock(&arena.lock);
	}
	if (!p && posix_memalign(&p, MFS_PACK_ALIGN, (size_t)n * ARENA_UNIT))
		return NULL;
	*cap = (size_t)n * ARENA_UNIT;
	return p;
}

static void chunk_buf_put(void *p, size_t cap)
{
	uint8_t *b = p;

	if (!arena.base || b < arena.base || b >= arena.base + ARENA_BYTES) {
		free(p);
		return;
	}
	pthread_mutex_lock(&arena.lock);
	units_mark((uint32_t)((b - arena.base) / ARENA_UNIT), (uint32_t)(cap / ARENA_UNIT), 0);
	if ((uint32_t)((b - arena.base) / ARENA_UNIT) < arena.hint)
		arena.hint = (uint32_t)((b - arena.base) / ARENA_UNIT);
	pthread_mutex_unlock(&arena.lock);
}

/* Frees b's owned buffer, to the arena if it came from there. */
static void owned_free(struct mfs_chunk_bytes *b)
{
	if (b->pooled)
		chunk_buf_put(b->owned, b->pooled);
	else
		free(b->owned);
	b->owned = NULL;
	b->pooled = 0;
}

/* b->owned := a chunk buffer of at least len bytes, room for a direct read of them. */
static int owned_alloc(struct mfs_chunk_bytes *b, size_t len)
{
	owned_free(b);
	if (!(b->owned = chunk_buf_get(mfs_packs_read_cap(len ? len : 1), &b->pooled)))
		return -ENOMEM;
	return 0;
}

int mfs_chunk_bytes_alloc(struct mfs_chunk_bytes *b, size_t len)
{
	return owned_alloc(b, len);
}

void mfs_chunk_bytes_release(struct mfs_chunk_bytes *b)
{
	owned_free(b);
	mfs_val_release(&b->pin);
	memset(b, 0, sizeof(*b));
}

/* A buffer a pack record of len bytes can be read into directly (pack.h); free() frees it. */
static uint8_t *record_buf(size_t len)
{
	void *p;

	return posix_memalign(&p, MFS_PACK_ALIGN, mfs_packs_read_cap(len ? len : 1)) ? NULL : p;
}

static int pack_read_at(struct mfs_packs *packs, const struct mfs_chunk_summary *s, void *buf)
{
	struct mfs_pack_loc loc;
	int rc;

	summary_loc(s, &loc);
	rc = mfs_packs_read(packs, &loc, buf, mfs_packs_read_cap(loc.len));
	return rc == -ENOENT ? MFS_ECORRUPT : rc;
}

/*
 * A pack record, read into buf (from record_buf, sized for s->record_len).
 * A pack that lost it: MFS_ECORRUPT.  The recode pass (store/maint/recode.c)
 * may have moved h to a smaller record and punched the old one out after
 * this reader took s: a record whose magic is gone (a punched block reads
 * as zeros) is read again where the index now says, and *s updated.  The
 * pass punches only seconds after the swap, so a read that began before
 * it sees whole bytes; the checksum the caller checks still decides.
 */
static int pack_read(struct mfs_db *db, const struct mfs_hash *h, struct mfs_chunk_summary *s,
		     void *buf)
{
	struct mfs_packs *packs = mfs_db_packs(db);
	struct mfs_chunk_summary now;
	int rc;

	if (!packs)
		return MFS_EFORMAT; /* a version 2 entry in a store without packs */
	if ((rc = pack_read_at(packs, s, buf)) || !memcmp(buf, "MFC1", 4))
		return rc;
	if (mfs_chunk_summary_get(db, h, &now) || !now.pack || now.record_len > s->record_len ||
	    (now.pack == s->pack && now.off == s->off))
		return 0; /* not moved: the caller's check reports the damage */
	*s = now;
	return pack_read_at(packs, s, buf);
}

static void free_pin(void *p)
{
	free(p);
}

int mfs_chunk_record_get(struct mfs_db *db, const struct mfs_hash *h, struct mfs_val *v)
{
	struct mfs_chunk_summary s;
	uint8_t *buf;
	int rc = mfs_chunk_summary_get(db, h, &s);

	memset(v, 0, sizeof(*v));
	if (rc == -ENOENT || (!rc && !s.pack))
		return mfs_db_get(db, MFS_CF_CHUNKS, h->b, MFS_HASH_LEN, v, 0);
	if (rc)
		return rc;
	if (!(buf = record_buf(s.record_len)))
		return -ENOMEM;
	if ((rc = pack_read(db, h, &s, buf))) {
		free(buf);
		return rc;
	}
	*v = (struct mfs_val){ .p = buf, .len = s.record_len, .pin = buf, .release = free_pin };
	return 0;
}

int mfs_chunk_staged_get(struct mfs_db *db, const struct mfs_hash *h, size_t reclen,
			 struct mfs_val *v)
{
	struct mfs_packs *packs = !reclen || reclen >= MFS_CHUNK_PACK_MIN ? mfs_db_packs(db) : NULL;
	struct mfs_pack_loc loc;
	uint8_t *buf;
	int rc;

	memset(v, 0, sizeof(*v));
	if (!packs || (rc = mfs_packs_pending_peek(packs, h->b, (uint32_t)reclen, &loc)) == -ENOENT)
		/* where mfs_chunk_stage_record puts a small one */
		return reclen >= MFS_CHUNK_PACK_MIN ? -ENOENT :
		       mfs_db_get(db, MFS_CF_CHUNKS, h->b, MFS_HASH_LEN, v, 0);
	if (rc)
		return rc;
	if (!(buf = record_buf(loc.len)))
		return -ENOMEM;
	if ((rc = mfs_packs_read(packs, &loc, buf, mfs_packs_read_cap(loc.len)))) {
		free(buf);
		return rc;
	}
	*v = (struct mfs_val){ .p = buf, .len = loc.len, .pin = buf, .release = free_pin };
	return 0;
}

/* The thread's buffer for a compressed pack record, read then decoded out of. */
static uint8_t *scratch_get(size_t len)
{
	return mfs_packs_thread_buf(MFS_PACK_BUF_READ, mfs_packs_read_cap(len ? len : 1));
}

/*
 * A delta record rec (verified by the decode) into a buffer out owns,
 * rebuilt from its bases and checked against the plain bytes' XXH64
 * (delta.h, note 2).  rec may be the thread's pack read buffer.
 */
static int load_delta(struct mfs_db *db, struct mfs_codec_ctx *ctx, const uint8_t *rec, size_t reclen, uint32_t raw_len,
		      struct mfs_chunk_bytes *out)
{
	struct mfs_chunk_bytes dst = { 0 };
	int rc;

	if (owned_alloc(&dst, raw_len))
		return -ENOMEM;
	rc = mfs_delta_decode(db, ctx, rec, reclen, 0, raw_len, dst.owned);
	owned_free(out);
	out->owned = dst.owned;
	out->pooled = dst.pooled;
	out->p = out->owned;
	out->len = raw_len;
	return rc;
}

/*
 * A pack record into out: a raw one is read into a buffer out owns and
 * served from there (the only copy is the kernel's); a compressed one is
 * read into the thread's scratch buffer and decoded into out's.
 */
static int load_packed(struct mfs_db *db, struct mfs_codec_ctx *ctx, const struct mfs_hash *h,
		       struct mfs_chunk_summary *s, struct mfs_chunk_bytes *out)
{
	struct mfs_chunk_info info;
	uint8_t *rec;
	ssize_t n;
	int rc;

	if (s->codec == MFS_CODEC_RAW) {
		if (owned_alloc(out, s->record_len))
			return -ENOMEM;
		rec = out->owned;
	} else if (!(rec = scratch_get(s->record_len))) {
		return -ENOMEM;
	}
	if ((rc = pack_read(db, h, s, rec)))
		return rc;
	/*
	 * The header, unchecked, picks the path; each path checks the XXH64
	 * before anything is served (a damaged header fails it).  A raw
	 * record is checked here, a compressed one as it is decoded
	 * (mfs_chunk_decode: one pass over a split record, not two).
	 */
	if (mfs_chunk_peek(rec, s->record_len, &info))
		return mfs_chunk_verify(rec, s->record_len, &info);
	if (info.codec == MFS_CODEC_DELTA)
		return load_delta(db, ctx, rec, s->record_len, info.raw_len, out);
	if (info.codec == MFS_CODEC_RAW && (rc = mfs_chunk_verify(rec, s->record_len, &info)))
		return rc;
	if (info.codec == MFS_CODEC_RAW && rec == out->owned) {
		out->p = rec + MFS_CHUNK_HDR_SIZE;
		out->len = info.raw_len;
		return 0;
	}
	if (info.codec == MFS_CODEC_RAW) {
		/* The index said compressed, the record says raw: serve it from a copy. */
		if (owned_alloc(out, info.raw_len))
			return -ENOMEM;
		memcpy(out->owned, rec + MFS_CHUNK_HDR_SIZE, info.raw_len);
	} else {
		struct mfs_chunk_bytes dst = { 0 };

		if (owned_alloc(&dst, info.raw_len))
			return -ENOMEM;
		n = mfs_chunk_decode(ctx, rec, s->record_len, dst.owned, info.raw_len);
		owned_free(out); /* rec, if the index said raw */
		out->owned = dst.owned;
		out->pooled = dst.pooled;
		if (n < 0)
			return (int)n;
	}
	out->p = out->owned;
	out->len = info.raw_len;
	return 0;
}

int mfs_chunk_load(struct mfs_db *db, struct mfs_codec_ctx *ctx, const struct mfs_hash *h,
		   struct mfs_chunk_bytes *out, int deep)
{
	struct mfs_chunk_summary s;
	struct mfs_chunk_info info;
	ssize_t n;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = mfs_chunk_summary_get(db, h, &s);
	if (!rc && s.pack) {
		rc = load_packed(db, ctx, h, &s, out);
		goto checked;
	}
	/* Version 1, or not indexed (a staged record): the chunks CF. */
	if (rc && rc != -ENOENT)
		goto checked;
	if ((rc = mfs_db_get(db, MFS_CF_CHUNKS, h->b, MFS_HASH_LEN, &out->pin, 0)))
		return rc;
	rc = mfs_chunk_verify(out->pin.p, out->pin.len, &info);
	if (!rc && info.codec == MFS_CODEC_DELTA) {
		struct mfs_val pin = out->pin;

		out->pin = (struct mfs_val){ 0 };
		rc = load_delta(db, ctx, pin.p, pin.len, info.raw_len, out);
		mfs_val_release(&pin);
	} else if (!rc && info.codec == MFS_CODEC_RAW) {
		out->p = out->pin.p + MFS_CHUNK_HDR_SIZE;
		out->len = info.raw_len;
	} else if (!rc) {
		if (owned_alloc(out, info.raw_len)) {
			rc = -ENOMEM;
		} else {
			n = mfs_chunk_decode_verified(ctx, out->pin.p, &info, out->owned,
						      info.raw_len);
			rc = n < 0 ? (int)n : 0;
			out->p = out->owned;
			out->len = info.raw_len;
		}
		mfs_val_release(&out->pin);
	}
checked:
	if (!rc && deep)
		rc = check_sha256(h, out->p, out->len);
	if (rc) {
		log_bad_chunk(h, rc);
		mfs_chunk_bytes_release(out);
	}
	return rc;
}

/*
 * A base record's buffer, from the chunk buffers' arena and given back as
 * soon as its delta is rebuilt (mfs_val_release), so that the next chunk
 * load takes the same, already faulted memory.  A buffer per thread kept
 * for good (as the read buffer is) was first faulted in, 2 MiB pages
 * zeroed, by every thread that rebuilt a delta: 50 MiB more than a plain
 * read of a 62 MiB FP32 fine-tune in a fresh daemon (AnonHugePages after
 * one cold read: 135 MiB plain, 185-190 MiB delta), a fifth of a
 * CPU-s/GiB in bench row 10's cold reads.
 */
struct base_buf {
	uint8_t *p;
	size_t cap;
};

static void base_buf_put(void *pin)
{
	struct base_buf *b = pin;

	chunk_buf_put(b->p, b->cap);
	free(b);
}

int mfs_chunk_record_base(struct mfs_db *db, const struct mfs_hash *h, struct mfs_val *pin,
			  const uint8_t **rec, size_t *len)
{
	struct mfs_chunk_summary s;
	struct base_buf *b;
	uint8_t *buf;
	int rc = mfs_chunk_summary_get(db, h, &s);

	memset(pin, 0, sizeof(*pin));
	if (rc == -ENOENT || (!rc && !s.pack)) { /* a small record, in the chunks CF */
		if ((rc = mfs_db_get(db, MFS_CF_CHUNKS, h->b, MFS_HASH_LEN, pin, 0)))
			return rc;
		*rec = pin->p;
		*len = pin->len;
		return 0;
	}
	if (rc)
		return rc;
	if (s.codec == MFS_CODEC_DELTA)
		return MFS_ECORRUPT; /* depth 1 (delta.h, invariant 1) */
	if (!(b = malloc(sizeof(*b))))
		return -ENOMEM;
	if (!(buf = chunk_buf_get(mfs_packs_read_cap(s.record_len), &b->cap))) {
		free(b);
		return -ENOMEM;
	}
	b->p = buf;
	*pin = (struct mfs_val){ .p = buf, .len = s.record_len, .pin = b, .release = base_buf_put };
	if ((rc = pack_read(db, h, &s, buf))) {
		log_bad_chunk(h, rc);
		mfs_val_release(pin);
		return rc;
	}
	pin->len = s.record_len;
	*rec = buf;
	*len = s.record_len;
	return 0;
}

/* Bytes [a, b) of the pack record s into buf + a (a on a block boundary, b at most its end). */
static int read_part_at(struct mfs_packs *packs, const struct mfs_chunk_summary *s, uint8_t *buf,
			size_t a, size_t b)
{
	struct mfs_pack_loc loc;
	int rc;

	summary_loc(s, &loc);
	loc.off += a;
	loc.len = (uint32_t)(b - a);
	rc = mfs_packs_read(packs, &loc, buf + a, mfs_packs_read_cap(s->record_len) - a);
	return rc == -ENOENT ? MFS_ECORRUPT : rc;
}

static size_t block_up(size_t x, size_t max)
{
	x = mfs_packs_read_cap(x);
	return x < max ? x : max;
}

/*
 * The heads of split records read in part lately (their header and
 * payload head, checked when read: a few hundred bytes for a 1 MiB
 * chunk), so that the next range read of the chunk is one transfer, of
 * its groups, instead of two one after the other: every I/O costs a VM
 * exit and an interrupt here, most of a 4 KiB random fault's time once
 * the record was no longer read whole.  A slot per hash bucket, the
 * newest wins; an entry is good for the record where the index said it
 * was (store, pack, offset, length), never written over in place: a
 * chunk stored again elsewhere misses.  At most HEAD_SLOTS * HEAD_MAX
 * bytes (8 MiB; ~1.5 MiB at 1 MiB chunks).
 */
#define HEAD_SLOTS 4096
#define HEAD_MAX 2048
#define HEAD_LOCKS 64

struct head_slot {
	const void *store;  /* the store's packs */
	uint8_t key[MFS_HASH_LEN];
	uint32_t pack, reclen, len;
	uint64_t off;
	uint8_t *bytes;     /* len bytes: the record's first, checked */
};

static struct head_slot head_slots[HEAD_SLOTS];
static pthread_mutex_t head_locks[HEAD_LOCKS] = { [0 ... HEAD_LOCKS - 1] = PTHREAD_MUTEX_INITIALIZER };

static struct head_slot *head_slot(const struct mfs_hash *h, pthread_mutex_t **lock)
{
	size_t i = get_le32(h->b) % HEAD_SLOTS;

	*lock = &head_locks[i % HEAD_LOCKS];
	return &head_slots[i];
}

static int head_matches(const struct head_slot *e, const void *store, const struct mfs_hash *h,
			const struct mfs_chunk_summary *s)
{
	return e->bytes && e->store == store && e->pack == s->pack && e->off == s->off &&
	       e->reclen == s->record_len && !memcmp(e->key, h->b, MFS_HASH_LEN);
}

/* Copies the cached head of h's record s into dst[0..HEAD_MAX): its length, or 0. */
static size_t head_get(const void *store, const struct mfs_hash *h,
		       const struct mfs_chunk_summary *s, uint8_t *dst)
{
	pthread_mutex_t *lock;
	struct head_slot *e = head_slot(h, &lock);
	size_t n = 0;

	pthread_mutex_lock(lock);
	if (head_matches(e, store, h, s)) {
		n = e->len;
		memcpy(dst, e->bytes, n);
	}
	pthread_mutex_unlock(lock);
	return n;
}

static void head_put(const void *store, const struct mfs_hash *h,
		     const struct mfs_chunk_summary *s, const uint8_t *src, size_t n)
{
	pthread_mutex_t *lock;
	struct head_slot *e = head_slot(h, &lock);
	uint8_t *b;

	if (n > HEAD_MAX || !(b = malloc(n)))
		return;
	memcpy(b, src, n);
	pthread_mutex_lock(lock);
	free(e->bytes);
	*e = (struct head_slot){ .store = store, .pack = s->pack, .reclen = s->record_len,
				 .len = (uint32_t)n, .off = s->off, .bytes = b };
	memcpy(e->key, h->b, MFS_HASH_LEN);
	pthread_mutex_unlock(lock);
}

/*
 * Bytes [off, off + len) of the pack record s, a split record with group
 * checksums, from its first block (the header and head; or its head kept
 * from an earlier read) and the blocks of the groups the range touches:
 * ~60 KiB read and hashed of a 1 MiB record for a 4 KiB page fault
 * (codec_split.c, note 3).  The other blocks of the thread's buffer are
 * left as they were and never read.  MFS_EFORMAT: not such a record (an
 * older one, or moved by the recode pass: its first block no record's),
 * for the whole path.
 */
static int read_part(struct mfs_db *db, struct mfs_codec_ctx *ctx, const struct mfs_hash *h,
		     const struct mfs_chunk_summary *s, uint32_t off, uint32_t len, void *out)
{
	struct mfs_packs *packs = mfs_db_packs(db);
	size_t have = 0, want = MFS_PACK_ALIGN, from, to, hl;
	uint8_t head[HEAD_MAX], *buf;
	ssize_t n;
	int rc;

	if (!packs)
		return MFS_EFORMAT;
	if (!(buf = scratch_get(s->record_len)))
		return -ENOMEM;
	if ((hl = head_get(packs, h, s, head))) {
		memcpy(buf, head, hl);
		rc = mfs_chunk_part_plan(buf, hl, s->record_len, off, len, &from, &to);
	} else {
		do {
			want = block_up(want, s->record_len);
			if (want <= have)
				return MFS_ECORRUPT;
			if ((rc = read_part_at(packs, s, buf, have, want)))
				return rc;
			have = want;
			if (memcmp(buf, "MFC1", 4))
				return MFS_EFORMAT;
			rc = mfs_chunk_part_plan(buf, have, s->record_len, off, len, &from, &to);
			want = to;
		} while (rc == -ENOBUFS);
		/* The head's end: where the pieces of a range of none would start. */
		if (!rc && !mfs_chunk_part_plan(buf, have, s->record_len, 0, 0, &hl, &want) &&
		    hl <= HEAD_MAX) {
			memcpy(head, buf, hl);
			head_put(packs, h, s, head, hl);
		} else {
			hl = 0;
		}
	}
	if (rc)
		return rc;
	/* The blocks the groups' pieces take that the first read did not bring. */
	from = from & ~(size_t)(MFS_PACK_ALIGN - 1);
	if (from < have)
		from = have;
	to = block_up(to, s->record_len);
	if (from < to && (rc = read_part_at(packs, s, buf, from, to)))
		return rc;
	/* The head as checked, over what the transfer brought again of its block. */
	if (hl && from < hl)
		memcpy(buf, head, hl);
	n = mfs_chunk_decode_part(ctx, buf, s->record_len, off, out, len);
	return n < 0 ? (int)n : n == (ssize_t)len ? 0 : MFS_ECORRUPT;
}

/* Range reads of split records served from part of the record (read_part). */
static uint64_t n_part_reads;

uint64_t mfs_chunk_part_reads(void)
{
	return __atomic_load_n(&n_part_reads, __ATOMIC_RELAXED);
}

int mfs_chunk_read_range(struct mfs_db *db, struct mfs_codec_ctx *ctx, const struct mfs_hash *h,
			 uint32_t off, uint32_t len, void *out)
{
	struct mfs_chunk_summary s;
	struct mfs_val v = { 0 };
	const uint8_t *rec;
	size_t reclen;
	ssize_t n;
	int rc = mfs_chunk_summary_get(db, h, &s);

	if (rc)
		return rc;
	/*
	 * Any failure of the partial read (damage, a record moved meanwhile)
	 * goes to the whole read below, which checks the whole record and
	 * says what is wrong: a group that fails its checksum fails it there.
	 */
	if (s.pack && (s.codec == MFS_CODEC_SPLIT2 || s.codec == MFS_CODEC_SPLIT4) &&
	    !read_part(db, ctx, h, &s, off, len, out)) {
		__atomic_fetch_add(&n_part_reads, 1, __ATOMIC_RELAXED);
		return 0;
	}
	if (s.pack) {
		uint8_t *buf = scratch_get(s.record_len);

		if (!buf)
			return -ENOMEM;
		if ((rc = pack_read(db, h, &s, buf)))
			goto out;
		rec = buf;
		reclen = s.record_len;
	} else {
		if ((rc = mfs_db_get(db, MFS_CF_CHUNKS, h->b, MFS_HASH_LEN, &v, 0)))
			return rc;
		rec = v.p;
		reclen = v.len;
	}
	if (s.codec == MFS_CODEC_DELTA) {
		rc = mfs_delta_decode(db, ctx, rec, reclen, off, len, out);
		goto out;
	}
	n = mfs_chunk_decode_range(ctx, rec, reclen, off, out, len);
	rc = n < 0 ? (int)n : n == (ssize_t)len ? 0 : MFS_ECORRUPT;
out:
	mfs_val_release(&v);
	if (rc)
		log_bad_chunk(h, rc);
	return rc;
}

/* The pack records the index names in the packs which[] marks, sorted by pack. */
static int leftover_live(struct mfs_db *db, const uint8_t *which, uint32_t n,
			 struct mfs_pack_loc **out, size_t *nout)
{
	struct mfs_iter *it = mfs_iter_new(db, MFS_CF_CHUNK_INDEX, NULL, 0);
	struct mfs_pack_loc *v = NULL;
	size_t len = 0, cap = 0;
	int rc = it ? 0 : -ENOMEM;

	for (; !rc && mfs_iter_valid(it); mfs_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *val = mfs_iter_value(it, &vl);
		struct mfs_chunk_summary s;

		(void)mfs_iter_key(it, &kl);
		if (mfs_chunk_summary_decode(val, vl, &s) || !s.pack || s.pack >= n || !which[s.pack])
			continue;
		if ((rc = mfs_grow(&v, &cap, len, sizeof(*v))))
			break;
		summary_loc(&s, &v[len++]);
	}
	if (!rc && it)
		rc = mfs_iter_error(it);
	mfs_iter_free(it);
	if (rc) {
		free(v);
		return rc;
	}
	*out = v;
	*nout = len;
	return 0;
}

static int loc_by_pack(const void *a, const void *b)
{
	const struct mfs_pack_loc *x = a, *y = b;

	return x->pack < y->pack ? -1 : x->pack > y->pack;
}

/*
 * A crash leaves records appended but never indexed (a commit cut before
 * its index batch, a recoded chunk's raw record before its punch); the
 * live count at open does not see them, and no later gc would: their
 * blocks are punched out here, once, for the packs whose blocks on disk
 * exceed what the index names.  Space only: a failure is logged.
 */
static void reclaim_leftovers(struct mfs_db *db, struct mfs_packs *packs)
{
	struct mfs_pack_loc *live = NULL;
	uint64_t total = 0, freed;
	uint8_t *which = NULL;
	size_t nlive = 0, i = 0, j;
	uint32_t n;
	int rc = 0, suspects = mfs_packs_leftovers(packs, &which, &n);

	if (suspects <= 0 || (rc = leftover_live(db, which, n, &live, &nlive))) {
		if (suspects > 0)
			log_warn("leftovers of a crash in %d pack(s) not freed: %s", suspects,
				 mfs_strerror(rc));
		free(which);
		return;
	}
	qsort(live, nlive, sizeof(*live), loc_by_pack);
	for (uint32_t pk = 1; pk < n; pk++) {
		if (!which[pk])
			continue;
		for (j = i; j < nlive && live[j].pack == pk; j++)
			;
		if ((rc = mfs_packs_reclaim(packs, pk, live + i, j - i, &freed)))
			log_warn("pack %08u: leftovers of a crash not freed: %s", pk, mfs_strerror(rc));
		total += freed;
		i = j;
	}
	log_info("%llu bytes no index entry names (a crash's leftovers) freed in %d pack(s)",
		 (unsigned long long)total, suspects);
	free(live);
	free(which);
}

static int packs_attach(struct mfs_db *db, const char *dir)
{
	struct mfs_packs *packs = NULL;
	struct mfs_iter *it = NULL;
	uint64_t lost = 0;
	char *path = NULL;
	int rc = -ENOMEM;

	if (asprintf(&path, "%s/packs", dir) < 0) {
		path = NULL;
		goto out;
	}
	if ((rc = mfs_packs_open(path, &packs)))
		goto out;
	/* Live bytes per pack: what the index names (a crash's leftovers are not). */
	if (!(it = mfs_iter_new(db, MFS_CF_CHUNK_INDEX, NULL, 0))) {
		rc = -ENOMEM;
		goto out;
	}
	for (; mfs_iter_valid(it); mfs_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *v = mfs_iter_value(it, &vl);
		struct mfs_chunk_summary s;
		struct mfs_pack_loc loc;

		(void)mfs_iter_key(it, &kl);
		if (mfs_chunk_summary_decode(v, vl, &s) || !s.pack)
			continue;
		summary_loc(&s, &loc);
		if (mfs_packs_add_live(packs, &loc))
			lost++;
	}
	if ((rc = mfs_iter_error(it)))
		goto out;
	if (lost)
		log_error("%llu indexed chunk(s) name a pack that is missing (fsck reports them)",
			  (unsigned long long)lost);
	mfs_packs_drop_unused(packs);
	reclaim_leftovers(db, packs);
	mfs_db_set_packs(db, packs, 1);
	packs = NULL;
out:
	if (rc)
		log_error("%s: cannot open the packs: %s", path ? path : dir, mfs_strerror(rc));
	mfs_iter_free(it);
	mfs_packs_close(packs);
	free(path);
	return rc;
}

int mfs_store_open(const char *dir, struct mfs_db **out)
{
	return mfs_db_open(dir, packs_attach, out);
}
