/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tree totals: what a directory of models really costs (`modelfs-admin
 * info -r DIR`, read through the mount as the xattr user.modelfs.tree).
 *
 * Every file below the directory is counted once (hard links too), each
 * with its current version.  Their chunks make one set, so the bytes are
 * those of distinct chunks: what the tree costs with the dedup inside it.
 * "unique" chunks are those no other inode record of the store uses (no
 * file outside the tree, no old version still held open): the bytes that
 * removing the tree, and then gc, would free.  The chunk and replica lines
 * are the per-file report's (fs_info.c), over the tree's set.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs_info.h"
#include "fuse/fs_internal.h"
#include "store/chunk/chunkstore.h"
#include "store/chunk/manifest.h"
#include "store/ns/inode.h"
#include "store/ns/inode_walk.h"
#include "store/ns/namespace.h"

struct ino_list {
	uint64_t *v;
	size_t n, cap;
};

static int ino_push(struct ino_list *l, uint64_t ino)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 256;
		uint64_t *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = ino;
	return 0;
}

static int ino_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sorts and keeps each once, so that ino_has() can search. */
static void ino_finish(struct ino_list *l)
{
	size_t k = 0;

	if (l->n)
		qsort(l->v, l->n, sizeof(*l->v), ino_cmp);
	for (size_t i = 0; i < l->n; i++)
		if (!k || l->v[k - 1] != l->v[i])
			l->v[k++] = l->v[i];
	l->n = k;
}

static int ino_has(const struct ino_list *l, uint64_t ino)
{
	return l->n && bsearch(&ino, l->v, l->n, sizeof(*l->v), ino_cmp);
}

struct tree {
	struct mfs_fs *fs;
	struct ino_list dirs;     /* to list (a stack) */
	struct ino_list all;      /* every inode below the top, and the top */
	struct ino_list files;
	uint64_t ndirs, nlinks, nother, logical;
	struct info_chunks chunks;
};

static int on_entry(void *arg, const char *name, uint64_t ino, uint32_t mode)
{
	struct tree *t = arg;
	int rc = ino_push(&t->all, ino);

	(void)name;
	if (rc)
		return rc;
	if (S_ISDIR(mode)) {
		t->ndirs++;
		return ino_push(&t->dirs, ino);
	}
	if (S_ISREG(mode))
		return ino_push(&t->files, ino);
	if (S_ISLNK(mode))
		t->nlinks++;
	else
		t->nother++;
	return 0;
}

/* Lists the directories below the top, depth first. */
static int walk(struct tree *t)
{
	int rc = 0;

	while (!rc && t->dirs.n) {
		uint64_t dir = t->dirs.v[--t->dirs.n];

		rc = mfs_ns_readdir(t->fs->ns, dir, NULL, 0, on_entry, t);
		if (rc == -ENOENT)
			rc = 0; /* removed while we walked */
	}
	return rc;
}

/* Each file's current version, once per inode. */
static int add_files(struct tree *t)
{
	int rc = 0;

	ino_finish(&t->files);
	for (size_t i = 0; !rc && i < t->files.n; i++) {
		uint64_t size = 0;

		rc = fs_info_add_file(t->fs, t->files.v[i], &t->chunks, &size);
		if (rc == -ENOENT)
			rc = 0;
		t->logical += size;
	}
	info_chunks_finish(&t->chunks);
	return rc;
}

/* Marks the tree's chunks that an inode record outside it also names. */
static int mark_inode(void *arg, const struct mfs_inode *in)
{
	struct tree *t = arg;
	struct mfs_manifest *m;

	if (ino_has(&t->all, in->ino) || !S_ISREG(in->mode) || !in->has_manifest ||
	    mfs_manifest_load(t->fs->db, &in->manifest, &m))
		return 0;
	for (uint32_t i = 0; i < m->count; i++) {
		struct info_chunk *c;

		if (mfs_manifest_is_hole(&m->e[i]))
			continue;
		if ((c = info_chunks_find(&t->chunks, &m->e[i].hash)))
			c->shared = 1;
	}
	mfs_manifest_unref(m);
	return 0;
}

/* Unreadable records and manifests are passed over (fsck reports them). */
static int mark_shared(struct tree *t)
{
	struct mfs_inode_walk w = { .fn = mark_inode, .arg = t };

	ino_finish(&t->all);
	return mfs_inode_walk(t->fs->db, NULL, &w);
}

static void put_unique(struct tree *t, FILE *f)
{
	uint64_t n = 0, raw = 0, stored = 0;

	for (uint32_t i = 0; i < t->chunks.n; i++) {
		const struct info_chunk *c = &t->chunks.c[i];
		struct mfs_chunk_summary cs;

		if (c->shared)
			continue;
		n++;
		raw += c->len;
		if (!mfs_chunk_summary_get(t->fs->db, &c->hash, &cs))
			stored += cs.record_len;
	}
	fprintf(f, "unique_chunks %llu\n", (unsigned long long)n);
	fprintf(f, "unique_raw_bytes %llu\n", (unsigned long long)raw);
	fprintf(f, "unique_stored_bytes %llu\n", (unsigned long long)stored);
}

int fs_tree_write(struct mfs_fs *fs, uint64_t ino, FILE *f)
{
	struct tree t = { .fs = fs };
	struct mfs_inode top;
	int rc;

	if ((rc = mfs_ns_get(fs->ns, ino, &top)))
		return rc;
	if (!(rc = ino_push(&t.all, ino)))
		rc = S_ISDIR(top.mode) ? ino_push(&t.dirs, ino) : on_entry(&t, NULL, ino, top.mode);
	mfs_inode_release(&top);
	if (!rc)
		rc = walk(&t);
	if (!rc)
		rc = add_files(&t);
	if (!rc)
		rc = mark_shared(&t);
	if (!rc) {
		fprintf(f, "type tree\n");
		fprintf(f, "files %zu\n", t.files.n);
		fprintf(f, "dirs %llu\n", (unsigned long long)t.ndirs);
		fprintf(f, "symlinks %llu\n", (unsigned long long)t.nlinks);
		fprintf(f, "other %llu\n", (unsigned long long)t.nother);
		fprintf(f, "logical_bytes %llu\n", (unsigned long long)t.logical);
		rc = info_put_chunks(fs, &t.chunks, f);
	}
	if (!rc) {
		put_unique(&t, f);
		rc = info_put_replicas(fs, &t.chunks, f);
	}
	free(t.dirs.v);
	free(t.all.v);
	free(t.files.v);
	info_chunks_release(&t.chunks);
	return rc;
}
