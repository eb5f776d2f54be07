/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where a fine-tune's base is found when nobody names one: the last model
 * file committed on this node, stored without deltas, with the same tensor
 * layout (names, dtypes, shapes: what a fine-tune keeps of its base).
 *
 * The hint is meta key "tl:" + layout id -> u8 version (1), manifest id
 * (doc/format.md).  It is written in the batch that publishes that file's
 * manifest, never replicated, and never trusted: a hint whose manifest gc
 * has removed, or whose header no longer parses, finds no base, and the
 * file is stored plainly (mfs_delta_base_new matches every tensor anyway).
 * Files stored with deltas do not become hints: a base is never a delta.
 */
#ifndef MFS_DELTA_HINT_H
#define MFS_DELTA_HINT_H

#include <stdint.h>

#include "store/base/hash.h"

struct mfs_batch;
struct mfs_db;
struct mfs_tensors;

/* The layout id of tensors t parsed from hdr.  0, -ENOENT (no tensors), -ENOMEM. */
int mfs_delta_layout_id(const struct mfs_tensors *t, const uint8_t *hdr, struct mfs_hash *out);

/* The manifest of the hint for layout: 1 (in *manifest), 0 (none), or a read error. */
int mfs_delta_hint_get(struct mfs_db *db, const struct mfs_hash *layout, struct mfs_hash *manifest);

/* Stages the hint layout -> manifest into b. */
void mfs_delta_hint_stage(struct mfs_batch *b, const struct mfs_hash *layout,
			  const struct mfs_hash *manifest);

#endif
