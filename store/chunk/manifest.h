/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A manifest is one immutable file version: its size and the ordered list of
 * chunks (hash, raw length) that make it up.  Manifests are stored in the
 * manifests CF keyed by the SHA-256 of their encoding, so identical files
 * share one.  In memory a manifest also carries each chunk's start offset
 * for binary search, and a reference count: open files keep the version
 * they opened alive after the path moves on to a newer one.
 *
 * An entry may be a hole: a run of zero bytes with no chunk behind it (its
 * hash is all zero bytes, a value SHA-256 is not known to produce).  Ingest
 * writes one for every cut chunk of at least MFS_CHUNK_MIN zero bytes, so a
 * sparse file's holes cost neither chunks nor the time to cut them.  Every
 * walk over a manifest's chunks (reads, gc, fsck, replication, statistics)
 * passes over holes: test with mfs_manifest_is_hole().  A manifest with a
 * hole is encoded as version 2, one without as version 1 (doc/format.md).
 */
#ifndef MFS_MANIFEST_H
#define MFS_MANIFEST_H

#include <stdint.h>
#include <string.h>

#include "store/base/bytes.h"
#include "store/base/hash.h"

struct mfs_db;

#define MFS_MANIFEST_VERSION 1
/* A manifest with holes (never renumber: stored and sent to peers). */
#define MFS_MANIFEST_VERSION_HOLES 2
/* 2^22 chunks of at least 256 KiB: files up to 1 TiB, more with holes. */
#define MFS_MANIFEST_MAX_CHUNKS (1u << 22)
/* Ingest fills a hole entry up to this before it starts another (format.md). */
#define MFS_MANIFEST_HOLE_MAX (1u << 30)

struct mfs_manifest_entry {
	struct mfs_hash hash;
	uint32_t len;
};

struct mfs_manifest {
	uint64_t size;
	uint32_t count, cap;
	struct mfs_manifest_entry *e;
	uint64_t *off;   /* off[i] = file offset of chunk i; off[count] = size */
	uint64_t hole_bytes; /* the sum of the holes' lengths */
	int refs;        /* atomic */
	/* The live list (decoded manifests only); protected by its lock in manifest.c. */
	struct mfs_manifest *live_prev, *live_next;
};

/* An empty manifest with one reference; NULL on allocation failure. */
struct mfs_manifest *mfs_manifest_new(void);
struct mfs_manifest *mfs_manifest_ref(struct mfs_manifest *m);
/* Drops a reference; frees on the last.  NULL is a no-op. */
void mfs_manifest_unref(struct mfs_manifest *m);

int mfs_manifest_append(struct mfs_manifest *m, const struct mfs_hash *h, uint32_t len);
/*
 * Appends len zero bytes as holes: the last entry, if a hole, grows up to
 * MFS_MANIFEST_HOLE_MAX, then new entries of at most that follow.  So the
 * entries depend only on the run's total, not on how it was appended (a
 * manifest's id is the hash of its encoding).  0, -ENOMEM or -EFBIG.
 */
int mfs_manifest_append_hole(struct mfs_manifest *m, uint64_t len);

/* Whether entry e is a hole (no chunk: len zero bytes). */
static inline int mfs_manifest_is_hole(const struct mfs_manifest_entry *e)
{
	static const struct mfs_hash zero;

	return !memcmp(e->hash.b, zero.b, MFS_HASH_LEN);
}

/* Bytes of m that chunks hold: its size less its holes. */
static inline uint64_t mfs_manifest_data_bytes(const struct mfs_manifest *m)
{
	return m->size - m->hole_bytes;
}

/* Index of the chunk holding byte off (off < size). */
uint32_t mfs_manifest_find(const struct mfs_manifest *m, uint64_t off);

void mfs_manifest_encode(const struct mfs_manifest *m, struct mfs_wr *w);
/* Validates everything (version, count, lengths sum to size).  MFS_EFORMAT on bad input. */
int mfs_manifest_decode(const void *p, size_t n, struct mfs_manifest **out);

struct mfs_batch;
/* Adds m to batch b (idempotent: the key is its hash) and returns the key in id. */
int mfs_manifest_stage(struct mfs_batch *b, const struct mfs_manifest *m, struct mfs_hash *id);
/* As mfs_manifest_stage, leaving the record's bytes in *w (the caller releases it). */
int mfs_manifest_stage_keep(struct mfs_batch *b, const struct mfs_manifest *m, struct mfs_hash *id,
			    struct mfs_wr *w);
/* Loads the manifest id; -ENOENT / MFS_EFORMAT / db errors. */
int mfs_manifest_load(struct mfs_db *db, const struct mfs_hash *id, struct mfs_manifest **out);
/*
 * The bytes of manifest id's file that its holes cover, from the record's
 * header alone (no decode: for stat's st_blocks).  0 or as mfs_manifest_load.
 */
int mfs_manifest_hole_bytes(struct mfs_db *db, const struct mfs_hash *id, uint64_t *out);

/*
 * Calls fn for every manifest this process holds that came from
 * mfs_manifest_decode() (so every version loaded from the store and still
 * referenced: open files, writers' bases, caches) until fn returns
 * non-zero, which is returned.  gc keeps the chunks these name (store/maint/gc.h).
 * Manifests being built (ingest) are not listed: they are complete and
 * immutable only once decoded.  fn runs under the list's lock: it must not
 * ref, unref or load manifests.
 */
int mfs_manifest_live_each(int (*fn)(void *arg, const struct mfs_manifest *m), void *arg);
/*
 * Lists m, built by its caller and complete (it must not change again), with
 * the decoded manifests above until its last unref: gc then keeps the
 * chunks it names while it is held.  For chunks indexed before any version
 * names them (mfs_ingest_index_stored).  A listed m is left as it is.
 */
void mfs_manifest_live_pin(struct mfs_manifest *m);

#endif
