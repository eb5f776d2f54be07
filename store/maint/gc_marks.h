/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the op log's bound must respect of gc's marks (store/maint/gc.h, note 4):
 * gc rescans, for each mark, the ops after the mark's version vector, so
 * those ops stay in the log; and a mark whose ops a node no longer holds
 * (a snapshot moved its log base past them) cannot be rescanned, so it goes
 * (gc starts that chunk's grace again: never a chunk deleted early).
 */
#ifndef MFS_GC_MARKS_H
#define MFS_GC_MARKS_H

#include <stdint.h>

#include "store/base/node.h"

struct mfs_db;

/* Lowers upto[i] to the smallest seq of origins[i] any mark holds (0 where one lacks it). */
int mfs_gc_marks_floor(struct mfs_db *db, const mfs_node_t *origins, uint64_t *upto, int n);
/* Deletes every mark holding less than base[i] of some origins[i]. */
int mfs_gc_marks_drop_below(struct mfs_db *db, const mfs_node_t *origins, const uint64_t *base,
			    int n);

#endif
