/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What gc.c (unreferenced chunks) and gc_trim.c (copies beyond a file's
 * factor) share: the pins of open versions and the two-step delete of
 * records (index entries synced first, then the space punched out).
 */
#ifndef MFS_GC_INTERNAL_H
#define MFS_GC_INTERNAL_H

#include <stddef.h>

#include "store/base/hashset.h"
#include "store/chunk/chunkstore.h"

struct mfs_db;

/* Every chunk of the versions this process holds (open files, bases), into pins. */
int gc_collect_pins(struct mfs_hashset *pins);

/* Pack records of the chunks in the delete batch being built. */
struct gc_freed {
	struct mfs_chunk_summary *v;
	size_t n, cap;
};

int gc_freed_add(struct gc_freed *f, const struct mfs_chunk_summary *s);
/* After the batch deleting their index entries was written (write_rc 0): free the records. */
void gc_freed_punch(struct mfs_db *db, struct gc_freed *f, int write_rc);

#endif
