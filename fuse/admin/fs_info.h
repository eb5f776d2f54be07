/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The chunk sections of the info reports, shared by the per-file report
 * (fs_info.c) and the tree totals (fs_tree.c): a set of distinct chunks,
 * each with the origin node and replication factor of a file that uses
 * it, and the "key value" lines written about it.
 */
#ifndef MFS_FS_INFO_H
#define MFS_FS_INFO_H

#include <stdint.h>
#include <stdio.h>

#include "store/base/hash.h"

struct mfs_fs;
struct mfs_manifest;

struct info_chunk {
	struct mfs_hash hash;
	uint32_t len;
	uint16_t origin;        /* the node whose inode numbers the file has */
	uint8_t repl;           /* the file's replication factor */
	uint8_t shared;         /* fs_tree.c: a file outside the tree uses it too */
};

struct info_chunks {
	struct info_chunk *c;
	uint32_t n, cap;        /* distinct after info_chunks_finish */
	uint64_t total;         /* chunk references, repeats counted */
	uint64_t hole_bytes;    /* the files' holes: zeros no chunk holds (manifest.h) */
};

/* Adds m's chunks (its holes to hole_bytes): 0 or -ENOMEM. */
int info_chunks_add(struct info_chunks *s, const struct mfs_manifest *m, uint16_t origin,
		    unsigned repl);
/* Sorts by hash and keeps each chunk once (the highest factor of its users). */
void info_chunks_finish(struct info_chunks *s);
/* The distinct chunk whose hash is h, or NULL (after finish). */
struct info_chunk *info_chunks_find(const struct info_chunks *s, const struct mfs_hash *h);
void info_chunks_release(struct info_chunks *s);

/* chunks, distinct_chunks, bytes, codecs and where this node has them. */
int info_put_chunks(struct mfs_fs *fs, const struct info_chunks *s, FILE *f);
/* nodes, replicas.N, under_replicated_chunks: asks every peer. */
int info_put_replicas(struct mfs_fs *fs, const struct info_chunks *s, FILE *f);
/* part of whole in percent, rounded down to a tenth. */
void info_put_percent(FILE *f, const char *key, uint64_t part, uint64_t whole);

/*
 * Adds file ino's current version (the daemon's view, as info reports it)
 * to s and sets *size to its size: 0 or -errno.
 */
int fs_info_add_file(struct mfs_fs *fs, uint64_t ino, struct info_chunks *s, uint64_t *size);

/* fs_tree.c: totals of everything below directory ino ("key value" lines). */
int fs_tree_write(struct mfs_fs *fs, uint64_t ino, FILE *f);

#endif
