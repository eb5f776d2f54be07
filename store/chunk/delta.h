/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fine-tune deltas: a chunk of a model file stored as the XOR of its bytes
 * with the same bytes of a base file's matching tensors (same name, dtype
 * and shape), the XOR then coded like any chunk (split planes: the sign,
 * exponent and high mantissa bytes of a fine-tune's XOR are mostly zero).
 *
 * A delta record is a chunk record (codec.h) with codec MFS_CODEC_DELTA,
 * whose payload is:
 *
 *   u8 version (1), u8 reserved 0, u16 nrefs, u64 XXH64 (seed 0) of the
 *     chunk's plain bytes (checked after every whole rebuild),
 *   nrefs * 44 bytes: base chunk hash[32], u32 base_off, u32 dst_off, u32 len
 *     (bytes [base_off, +len) of that base chunk are XORed into bytes
 *     [dst_off, +len) of this chunk; sorted by dst_off, not overlapping),
 *   an inner chunk record (any codec but delta) of the XOR bytes, raw_len
 *     long: the chunk's bytes XOR the base bytes the refs place (zero where
 *     no ref does).
 *
 * Invariants (doc/format.md, "Delta records"):
 * 1. Depth 1: a base chunk is never itself a delta record (the encoder
 *    skips such ranges, the decoder refuses them): no chains, no cycles.
 * 2. The record's key is still the SHA-256 of the plain bytes; the outer
 *    XXH64 covers the refs and the inner record.  A whole rebuild is
 *    checked against the plain bytes' XXH64 in the record, which covers
 *    every input it used (refs, inner record, base bytes) and the decoders:
 *    a wrong base (a good record of other bytes under its key), a wrong
 *    range, a damaged input or a decoder bug never gives wrong bytes, for
 *    a tenth of SHA-256's cost.  So a whole read checks no input's own
 *    XXH64 first; if the rebuild fails, it is done again the checked way
 *    (the outer XXH64, each base record's), which reports the damaged
 *    record (MFS_ECORRUPT: the caller fetches the chunk from a peer), else
 *    MFS_EBADHASH.  With deep (fsck --deep) the rebuilt bytes are checked
 *    against the key (SHA-256) too.  A range read checks its inputs only,
 *    as a range read of a plain chunk does.
 * 3. Delta records are local to the node that made them: a peer asking for
 *    the chunk gets it re-encoded with a plain codec (replica/server.c), so
 *    the wire and every receiver stay as they were.
 * 4. gc keeps every base chunk a live delta record names (gc_marks.c),
 *    learning them from the chunk index entry (version 3), which lists a
 *    delta's distinct bases; fsck reports a delta whose bases are missing
 *    or bad, or whose index entry lists other bases than its record.
 */
#ifndef MFS_DELTA_H
#define MFS_DELTA_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store/base/hash.h"

struct mfs_codec_ctx;
struct mfs_db;
struct mfs_manifest;
struct mfs_tensors;

#define MFS_DELTA_VERSION 1
/*
 * A delta whose inner record holds sparse split pieces (codec_split.c
 * note 2, format 6): builds before it refuse the record (MFS_ECORRUPT)
 * instead of misreading the piece table.  Otherwise the same as 1.
 */
#define MFS_DELTA_VERSION_SPARSE 2
#define MFS_DELTA_REF_SIZE 44
#define MFS_DELTA_HEAD 12
/* A chunk never needs more refs than this (runs of tiny tensors merge). */
#define MFS_DELTA_MAX_REFS 4096

struct mfs_delta_ref {
	struct mfs_hash base;
	uint32_t base_off, dst_off, len;
};

/*
 * The refs of the delta record rec[0..reclen) (header checked, not its
 * checksum: gc and fsck read refs of records they verify themselves).
 * *refs is malloc'd (caller frees).  0, MFS_ECORRUPT, -ENOMEM.
 */
int mfs_delta_refs(const void *rec, size_t reclen, struct mfs_delta_ref **refs, uint32_t *n);

/*
 * Bytes [off, off + len) of the delta chunk whose record is rec[0..reclen)
 * into out: checks the record's XXH64, decodes the XOR bytes, then XORs in
 * the bases' bytes read from db (each base record's XXH64 checked).  rec
 * may be the thread's pack read buffer: it is not touched once the XOR
 * bytes are decoded.  Returns 0, -ENOENT (a base is not stored here: the
 * caller fetches the chunk from a peer), MFS_ECORRUPT (the record or a
 * base is damaged, or a base is itself a delta), MFS_EFORMAT, -ENOMEM.
 */
int mfs_delta_decode(struct mfs_db *db, struct mfs_codec_ctx *ctx, const void *rec,
		     size_t reclen, size_t off, size_t len, uint8_t *out);

/*
 * Whole delta reads so far in this process: *planes served by the planes
 * path (delta.c, rebuild_planes), *checked by the checked path (a record
 * that is not split, or a rebuild that failed: it then says why).  For
 * tests and benchmarks.
 */
void mfs_delta_read_counts(uint64_t *planes, uint64_t *checked);

/*
 * Where a whole read may find a base chunk's bytes already decoded: the
 * chunk cache, when the base was read recently (a server that loads a
 * base, then its fine-tune).  get gives base chunk h's plain bytes, which
 * its source has verified, with a reference in *ref that put drops, or
 * NULL when it has none at hand (it never loads: a cold read decodes the
 * base's record as before).  The rebuilt bytes are checked as always
 * (invariant 2), so bytes that are not the base's never get through:
 * such a rebuild fails its check and is done again from the store.
 */
struct mfs_delta_src {
	const uint8_t *(*get)(void *arg, const struct mfs_hash *h, size_t *len, const void **ref);
	void (*put)(void *arg, const void *ref);
	void *arg;
};

/*
 * Sets the calling thread's source (NULL: none) for the loads it runs
 * until the next call; cache.c sets it around its loads.  A thread-local,
 * so mfs_chunk_load keeps its signature and callers without a cache (gc,
 * fsck, the replica server) read as before.
 */
void mfs_delta_src_set(const struct mfs_delta_src *src);

/* Runs of refs to one base that whole reads took from a source so far (tests, benches). */
uint64_t mfs_delta_src_hits(void);

/*
 * Adds to out the base chunks named by the delta records stored here
 * whose key is in live (every delta record if live is NULL), then
 * finishes out (live may be out).  The bases come from the chunk index
 * (a version 3 entry lists them: chunkstore.h), so gc and fsck read no
 * delta record; only a delta indexed before version 3 has its record read.
 * A delta record whose refs do not parse is skipped (logged: fsck reports
 * it).  0, -ENOMEM or a read error.
 */
struct mfs_hashset;
int mfs_delta_keep_bases(struct mfs_db *db, const struct mfs_hashset *live,
			 struct mfs_hashset *out);

/*
 * The distinct base chunks the delta record rec[0..reclen) names, in the
 * order first named (for its version 3 index entry); *bases is malloc'd.
 * 0, MFS_ECORRUPT (refs do not parse), -ENOMEM.
 */
int mfs_delta_bases(const void *rec, size_t reclen, struct mfs_hash **bases, uint32_t *n);

/*
 * Checks that every base the verified delta record rec[0..reclen) of chunk
 * h names is stored, is no delta, and its record's checksum holds, and
 * that h's index entry lists exactly those bases if it lists any (fsck;
 * copies.c).  0, or -ENOENT / MFS_ECORRUPT logged, or another error.
 */
int mfs_delta_check_bases(struct mfs_db *db, const struct mfs_hash *h, const void *rec,
			  size_t reclen);

/*
 * Whether chunk h is stored and whole as far as the index tells: 1 if it
 * is, and if it is a delta record, its bases are stored and none is a
 * delta; 0 if not (a dedup hit on it must not be trusted); or an error.
 */
int mfs_delta_usable(struct mfs_db *db, const struct mfs_hash *h);

/*
 * The encoder's view of a base: the base file's manifest and tensors,
 * matched against the new file's.  Built once per ingest (when the new
 * file's header is parsed), then shared read-only by the encoder threads.
 */
struct mfs_delta_base;

/*
 * The base whose manifest is base_id, matched against the new file's
 * tensors t (parsed from hdr, the new file's first bytes).  *out is NULL
 * when nothing matches (not an error).  0, -ENOMEM, or a read error of the
 * base's header (the caller then stores the file plainly).
 */
int mfs_delta_base_new(struct mfs_db *db, const struct mfs_hash *base_id,
		       const struct mfs_tensors *t, const uint8_t *hdr,
		       struct mfs_delta_base **out);
void mfs_delta_base_free(struct mfs_delta_base *b);

/*
 * raw[0..len), the file's bytes at file offset off, as a delta record into
 * out[0..cap) if that is smaller than plain_len (the plain record's size,
 * or a bound from its estimate: ingest_window.c) by at least plain_len / 8:
 * decoding a delta costs 2.2-2.7 times a plain chunk (its planes and its
 * bases' are both entropy decoded).  Returns the record's length, 0 to
 * keep the plain record, or a negative errno.  Thread safe (ctx is the
 * thread's).
 */
ssize_t mfs_delta_encode(struct mfs_delta_base *b, struct mfs_codec_ctx *ctx, uint64_t off,
			 const uint8_t *raw, size_t len, size_t plain_len, uint8_t *out, size_t cap);

/*
 * The base chunks the delta records encoded so far name, for the commit's
 * check that they are still stored (gc).  Borrowed until the next encode.
 */
const struct mfs_hash *mfs_delta_base_used(const struct mfs_delta_base *b, size_t *n);

#endif
