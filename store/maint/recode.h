/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The recode pass (issue 10): chunks an ingest stored RAW with their codec
 * deferred (mfs_ingest_defer_encode) are encoded later, off the writer's
 * clock, with the codec the ingest would have chosen.
 *
 * The queue: meta CF "rq:" + hash (chunkstore.h, doc/format.md), written
 * in the batch of the chunk's index entry, deleted with the chunk by gc
 * (mfs_chunk_stage_delete).  One chunk's recode:
 *   1. its index entry must still name a RAW pack record, else the entry
 *      is dropped (done already, or the chunk is gone);
 *   2. the record is read and its XXH64 checked, then encoded; a chunk
 *      that does not compress keeps its record (entry dropped);
 *   3. the new record is appended (no WAL), then, under gc's refs lock
 *      (shared) and after checking that the index entry is still the one
 *      read in 1, one synced batch points the index entry at the new
 *      record and drops the queue entry (the batch syncs the pack first);
 *   4. the raw record's blocks are punched out by the caller once no
 *      reader can still be reading them (mfs_recode_free).
 * The hash never changes, so the swap is idempotent: a kill -9 anywhere
 * leaves the raw record indexed (and queued: restart redoes it) or the new
 * one (queue entry gone), each readable; a crash between 3 and 4 leaves
 * the raw record's bytes unindexed (space only, punched at the next open
 * as any crash's leftovers: pack.h).  Readers that took the old index
 * entry just before the swap re-read where the new one says if the old
 * bytes were punched (chunkstore.c, pack_read).  Peers may be served either record: both
 * decode to the bytes their hash names.
 */
#ifndef MFS_RECODE_H
#define MFS_RECODE_H

#include <stdint.h>

#include "store/base/hash.h"
#include "store/chunk/chunkstore.h"

struct mfs_codec_ctx;
struct mfs_val;
struct mfs_db;
struct mfs_ns;

/*
 * The first queued chunk after *after (from the start when after is NULL)
 * into *h: 0, -ENOENT (none), or an error.
 */
int mfs_recode_next(struct mfs_db *db, const struct mfs_hash *after, struct mfs_hash *h);
/* Whether chunk h has a queue entry: 1, 0, or an error. */
int mfs_recode_queued(struct mfs_db *db, const struct mfs_hash *h);
/* Queue entries, counted up to limit (0: all) into *n.  0 or an error. */
int mfs_recode_count(struct mfs_db *db, uint64_t limit, uint64_t *n);

/*
 * For fsck: queue entries naming an indexed RAW chunk (*queued), and the
 * others (*stale: the chunk is gone or encoded; the pass drops them).
 */
int mfs_recode_check(struct mfs_db *db, uint64_t *queued, uint64_t *stale);

struct mfs_recode_one {
	int swapped;                   /* 1: the index names the new record */
	struct mfs_chunk_summary old;  /* with swapped: the raw record, to free */
	uint32_t new_len;              /* with swapped: the new record's length */
};

/*
 * Recodes queued chunk h (steps 1-3 above).  0 with *res (swapped or the
 * entry dropped), or an error: the entry stays for a later try, nothing
 * indexed changed.  ctx is the caller's codec context.
 */
int mfs_recode_chunk(struct mfs_ns *ns, struct mfs_codec_ctx *ctx, const struct mfs_hash *h,
		     struct mfs_recode_one *res);
/*
 * Recodes queued chunks h[0..n) as a batch: steps 1-2 for each, then their
 * records appended together and one synced batch for every swap and every
 * dropped entry.  rc[i] and res[i] per chunk, as mfs_recode_chunk's.
 * Returns how many failed, or -ENOMEM (nothing done).
 */
int mfs_recode_chunks(struct mfs_ns *ns, struct mfs_codec_ctx *ctx, const struct mfs_hash *h,
		      unsigned n, struct mfs_recode_one *res, int *rc);
/*
 * mfs_recode_chunk for a peer's request (replica/server.c): raw[0..len) is
 * h's record as the caller read and verified it, so it is not read again;
 * with res->swapped, *rec (aligned; caller frees) is the new record, ready
 * to send.
 */
int mfs_recode_served(struct mfs_ns *ns, struct mfs_codec_ctx *ctx, const struct mfs_hash *h,
		      const struct mfs_val *raw, struct mfs_recode_one *res, uint8_t **rec,
		      size_t *len);
/* Step 4: the raw record's space, once no reader can be in it.  0 or an error (space only). */
int mfs_recode_free(struct mfs_db *db, const struct mfs_recode_one *res);

#endif
