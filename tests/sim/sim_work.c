/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What simulated nodes write, through the namespace's own operations, and
 * the tree a node shows.  Each node works in its own directory /dNNNN
 * (files created and published with a manifest, chmod, rename, unlink), and
 * sometimes in /shared, which every node creates if it does not see it yet
 * and where names collide on purpose: the conflicts nodes make when they
 * write without waiting for each other.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sim_ns.h"
#include "store/base/hash.h"
#include "store/chunk/manifest.h"
#include "store/kv/db.h"
#include "store/ns/namespace.h"

static uint64_t lookup(struct snode *n, uint64_t parent, const char *name)
{
	struct mfs_inode in;
	uint64_t ino;

	if (mfs_ns_lookup(n->ns, parent, name, &in))
		return 0;
	ino = in.ino;
	mfs_inode_release(&in);
	return ino;
}

/* A directory name under the root: made here unless this node sees it already. */
static int dir_at_root(struct snode *n, const char *name, uint64_t *ino)
{
	struct mfs_ns_new nw = { .mode = S_IFDIR | 0755 };
	struct mfs_inode in;
	int rc;

	if ((*ino = lookup(n, MFS_ROOT_INO, name)))
		return 0;
	if ((rc = mfs_ns_create(n->ns, MFS_ROOT_INO, name, &nw, &in)))
		return rc;
	*ino = in.ino;
	mfs_inode_release(&in);
	return 0;
}

/* A published file of 1 to 4 chunks (their hashes made up: no bytes are stored). */
static int publish(struct sim *s, struct snode *n, uint64_t dir, const char *name)
{
	struct mfs_ns_new nw = { .mode = S_IFREG | 0644, .flags = MFS_I_PENDING };
	struct mfs_manifest *m = mfs_manifest_new();
	struct mfs_batch *b = mfs_batch_new(n->db);
	struct mfs_inode in = { 0 }, pub = { 0 };
	struct mfs_hash id;
	int rc = -ENOMEM;

	if (!m || !b)
		goto out;
	for (int i = 0, k = 1 + (int)sim_below(&s->rng, 4); i < k; i++) {
		struct mfs_hash h;

		for (int j = 0; j < MFS_HASH_LEN; j += 8) {
			uint64_t v = sim_rand(&s->rng);

			memcpy(h.b + j, &v, 8);
		}
		if ((rc = mfs_manifest_append(m, &h, 1u << 20)))
			goto out;
	}
	if ((rc = mfs_manifest_stage(b, m, &id)) || (rc = mfs_db_write(n->db, b, MFS_WRITE_SYNC)) ||
	    (rc = mfs_ns_create(n->ns, dir, name, &nw, &in)))
		goto out;
	rc = mfs_ns_publish(n->ns, in.ino, &id, m->size, NULL, NULL, &pub);
out:
	mfs_inode_release(&pub);
	mfs_inode_release(&in);
	mfs_batch_free(b);
	mfs_manifest_unref(m);
	return rc;
}

/* An existing file of n's own directory, named f<j> or r<j>, or 0. */
static uint64_t own_file(struct sim *s, struct snode *n, char *name, size_t len)
{
	uint32_t j = (uint32_t)sim_below(&s->rng, n->files);

	snprintf(name, len, "f%u", j);
	if (lookup(n, n->dir, name))
		return 1;
	snprintf(name, len, "r%u", j);
	return lookup(n, n->dir, name) ? 1 : 0;
}

static int shared_create(struct sim *s, struct snode *n)
{
	struct mfs_ns_new nw = { .mode = S_IFREG | 0600, .uid = (uint32_t)n->id };
	struct mfs_inode in;
	uint64_t dir;
	char name[32];
	int rc;

	if ((rc = dir_at_root(n, "shared", &dir)))
		return rc;
	snprintf(name, sizeof(name), "c%u", (unsigned)sim_below(&s->rng, 64));
	rc = mfs_ns_create(n->ns, dir, name, &nw, &in);
	if (!rc)
		mfs_inode_release(&in);
	return rc == -EEXIST ? 0 : rc;
}

int sim_write(struct sim *s, struct snode *n)
{
	unsigned pick = (unsigned)sim_below(&s->rng, 100);
	char name[32], dname[24];
	int rc;

	if (!n->dir) {
		snprintf(dname, sizeof(dname), "d" MFS_NODE_FMT, MFS_NODE_ARG(n->id));
		return dir_at_root(n, dname, &n->dir);
	}
	if (pick >= 90)
		return shared_create(s, n);
	if (pick < 55 || !n->files || !own_file(s, n, name, sizeof(name))) {
		snprintf(name, sizeof(name), "f%u", n->files++);
		return publish(s, n, n->dir, name);
	}
	if (pick < 70) {
		struct mfs_inode attr = { .mode = S_IFREG | (0600 + (pick & 0x3f)) };

		return mfs_ns_setattr(n->ns, lookup(n, n->dir, name), &attr, MFS_ATTR_MODE, NULL);
	}
	if (pick < 80) {
		char to[32];

		snprintf(to, sizeof(to), "r%s", name + 1);
		rc = mfs_ns_rename(n->ns, n->dir, name, n->dir, to, 0, NULL);
		return rc == -EEXIST ? 0 : rc;
	}
	return mfs_ns_remove(n->ns, n->dir, name, 0, NULL);
}

/* ---- the tree a node shows -------------------------------------------------- */

struct kids {
	char (*name)[MFS_NAME_MAX + 1];
	uint64_t *ino;
	size_t n, cap, icap;
};

static int collect(void *arg, const char *name, uint64_t ino, uint32_t mode)
{
	struct kids *k = arg;

	(void)mode;
	if (mfs_grow(&k->name, &k->cap, k->n, sizeof(*k->name)) ||
	    mfs_grow(&k->ino, &k->icap, k->n, sizeof(*k->ino)))
		return -ENOMEM;
	snprintf(k->name[k->n], sizeof(k->name[0]), "%s", name);
	k->ino[k->n++] = ino;
	return 0;
}

/* Directories' times are left out: each node's root is made at its own start. */
static void digest_inode(struct mfs_xxh64_state *st, const char *name, const struct mfs_inode *in)
{
	uint64_t f[9] = { in->ino, in->mode, in->uid, in->gid, in->size, in->repl,
			  S_ISDIR(in->mode) ? in->nlink : 0,
			  S_ISDIR(in->mode) ? 0 : (uint64_t)in->mtime.tv_sec,
			  S_ISDIR(in->mode) ? 0 : (uint64_t)in->mtime.tv_nsec };

	mfs_xxh64_update(st, name, strlen(name) + 1);
	mfs_xxh64_update(st, f, sizeof(f));
	if (in->has_manifest)
		mfs_xxh64_update(st, in->manifest.b, MFS_HASH_LEN);
}

static int digest_dir(struct snode *n, struct mfs_xxh64_state *st, uint64_t dir, int depth)
{
	struct kids k = { 0 };
	int rc = depth > 64 ? -ELOOP : mfs_ns_readdir(n->ns, dir, NULL, 0, collect, &k);

	for (size_t i = 0; !rc && i < k.n; i++) {
		struct mfs_inode in;

		if ((rc = mfs_ns_get(n->ns, k.ino[i], &in)))
			break; /* a dirent without its inode: not a tree */
		digest_inode(st, k.name[i], &in);
		if (S_ISDIR(in.mode))
			rc = digest_dir(n, st, in.ino, depth + 1);
		mfs_inode_release(&in);
	}
	free(k.name);
	free(k.ino);
	return rc;
}

int sim_tree_digest(struct snode *n, uint64_t *out)
{
	struct mfs_xxh64_state st;
	int rc;

	mfs_xxh64_init(&st, 0);
	rc = digest_dir(n, &st, MFS_ROOT_INO, 0);
	*out = mfs_xxh64_digest(&st);
	return rc;
}
