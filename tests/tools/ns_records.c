/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test fixture: the file records of a stopped node's store that do not
 * agree with the entries that name them, to explain a count of files that
 * status (every regular file record) and the tree (each name 1/st_nlink)
 * disagree on (tests/fs/cluster.sh, cl_files_explain).
 *
 *   ns_records DATA
 *
 * Reads the inodes, dirents and stamps column families only (no namespace
 * open: no recovery, nothing written).  Prints a line per regular file
 * record that no entry names, whose nlink differs from the entries that
 * name it or from the names it lists, that lists a name leading elsewhere
 * or twice, that is pending, or that an entry names from a directory the
 * root does not reach; then the totals: records, and the sum over
 * reachable entries of 1/nlink (what the tree shows).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/chunk/chunkstore.h"
#include "store/kv/db.h"
#include "store/ns/inode.h"
#include "store/ns/inode_walk.h"
#include "store/ns/oplog.h"

/* One entry: parent + name -> child. */
struct ent {
	uint64_t parent, child;
	uint32_t mode;
	char name[256];
};

static struct ent *ents;
static size_t nents, capents;

static uint64_t *dirs;          /* directory records, sorted */
static size_t ndirs, capdirs;
static uint8_t *reach;          /* per dirs[]: the root reaches it */

static int add_u64(uint64_t **v, size_t *n, size_t *cap, uint64_t x)
{
	if (*n == *cap) {
		size_t c = *cap ? 2 * *cap : 1024;
		uint64_t *p = realloc(*v, c * sizeof(*p));

		if (!p)
			return -ENOMEM;
		*v = p;
		*cap = c;
	}
	(*v)[(*n)++] = x;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static long dir_index(uint64_t ino)
{
	uint64_t *p = bsearch(&ino, dirs, ndirs, sizeof(*dirs), cmp_u64);

	return p ? p - dirs : -1;
}

static int read_entries(struct mfs_db *db)
{
	struct mfs_iter *it = mfs_iter_new(db, MFS_CF_DIRENTS, NULL, 0);
	int rc = 0;

	if (!it)
		return -ENOMEM;
	for (; mfs_iter_valid(it); mfs_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = mfs_iter_key(it, &kl), *v = mfs_iter_value(it, &vl);
		struct ent *e;

		if (kl <= 8 || kl > 8 + 255 || vl != 12)
			continue;
		if (nents == capents) {
			size_t c = capents ? 2 * capents : 1024;
			struct ent *p = realloc(ents, c * sizeof(*p));

			if (!p) {
				rc = -ENOMEM;
				break;
			}
			ents = p;
			capents = c;
		}
		e = &ents[nents++];
		e->parent = get_be64(k);
		e->child = get_le64(v);
		e->mode = get_le32(v + 8);
		memcpy(e->name, k + 8, kl - 8);
		e->name[kl - 8] = 0;
	}
	if (!rc)
		rc = mfs_iter_error(it);
	mfs_iter_free(it);
	return rc;
}

static int note_dir(void *arg, const struct mfs_inode *in)
{
	(void)arg;
	return S_ISDIR(in->mode) ? add_u64(&dirs, &ndirs, &capdirs, in->ino) : 0;
}

/* The directories the root reaches through entries (a fixpoint: few passes in a small tree). */
static void mark_reachable(void)
{
	long r = dir_index(MFS_ROOT_INO);
	int more = 1;

	reach = calloc(ndirs ? ndirs : 1, 1);
	if (!reach || r < 0)
		return;
	reach[r] = 1;
	while (more) {
		more = 0;
		for (size_t i = 0; i < nents; i++) {
			long p = dir_index(ents[i].parent), c = dir_index(ents[i].child);

			if (p >= 0 && c >= 0 && reach[p] && !reach[c]) {
				reach[c] = 1;
				more = 1;
			}
		}
	}
}

static int parent_reached(uint64_t parent)
{
	long p = dir_index(parent);

	return p >= 0 && reach && reach[p];
}

static void print_stamp(struct mfs_db *db, uint64_t ino)
{
	uint8_t skey[9];
	struct mfs_stamp st;
	struct mfs_val v;

	skey[0] = MFS_OP_INODE;
	mfs_ino_key(ino, skey + 1);
	if (mfs_db_get(db, MFS_CF_STAMPS, skey, sizeof(skey), &v, 1))
		return;
	if (!mfs_stamp_decode(v.p, v.len, &st))
		printf(" stamp %llu/%016llx", (unsigned long long)st.lamport,
		       (unsigned long long)st.node);
	mfs_val_release(&v);
}

struct totals {
	struct mfs_db *db;
	uint64_t records, odd;
	double tree;
};

static int check_file(void *arg, const struct mfs_inode *in)
{
	struct totals *t = arg;
	uint32_t named = 0, reached = 0, stale = 0, twice = 0;

	if (!S_ISREG(in->mode))
		return 0;
	t->records++;
	for (size_t i = 0; i < nents; i++) {
		if (ents[i].child != in->ino)
			continue;
		named++;
		if (parent_reached(ents[i].parent)) {
			reached++;
			t->tree += 1.0 / (in->nlink ? in->nlink : 1);
		}
	}
	for (uint32_t i = 0; i <= in->nlinks; i++) {
		uint64_t p = i ? in->links[i - 1].parent : in->parent;
		const char *nm = i ? in->links[i - 1].name : in->name;
		int leads = 0;

		for (size_t j = 0; nm && j < nents; j++)
			if (ents[j].parent == p && !strcmp(ents[j].name, nm))
				leads = ents[j].child == in->ino;
		stale += !leads;
		for (uint32_t j = 0; nm && j < i; j++)
			twice += (j ? in->links[j - 1].parent : in->parent) == p &&
				 (j ? in->links[j - 1].name : in->name) &&
				 !strcmp(j ? in->links[j - 1].name : in->name, nm);
	}
	if (named && named == in->nlink && named == reached && !stale && !twice &&
	    in->nlink == 1 + in->nlinks && !(in->flags & MFS_I_PENDING))
		return 0;
	t->odd++;
	printf("file %016llx fid %016llx v%llu nlink %u lists %u (%u lead elsewhere, %u twice) "
	       "entries %u (%u reached)%s size %llu",
	       (unsigned long long)in->ino, (unsigned long long)in->fid,
	       (unsigned long long)in->version, in->nlink, 1 + in->nlinks, stale, twice, named, reached,
	       (in->flags & MFS_I_PENDING) ? " pending" : "", (unsigned long long)in->size);
	print_stamp(t->db, in->ino);
	printf("\n  lists:");
	for (uint32_t i = 0; i <= in->nlinks; i++)
		printf(" %016llx/%s", (unsigned long long)(i ? in->links[i - 1].parent : in->parent),
		       (i ? in->links[i - 1].name : in->name) ? (i ? in->links[i - 1].name : in->name) :
								 "(none)");
	printf("\n  entries:");
	for (size_t i = 0; i < nents; i++)
		if (ents[i].child == in->ino)
			printf(" %016llx/%s%s", (unsigned long long)ents[i].parent, ents[i].name,
			       parent_reached(ents[i].parent) ? "" : " (unreached)");
	printf("\n");
	return 0;
}

int main(int argc, char **argv)
{
	struct mfs_inode_walk w = { .fn = note_dir };
	struct totals t = { 0 };
	struct mfs_db *db = NULL;
	char dir[4096];
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: ns_records DATA\n");
		return 2;
	}
	mfs_log_open(NULL, MFS_LOG_WARN, MFS_LOG_WARN);
	snprintf(dir, sizeof(dir), "%s/db", argv[1]);
	if ((rc = mfs_store_open(dir, &db))) {
		fprintf(stderr, "ns_records: %s: %s\n", dir, mfs_strerror(rc));
		return 1;
	}
	t.db = db;
	if (!(rc = read_entries(db)) && !(rc = mfs_inode_walk(db, NULL, &w))) {
		qsort(dirs, ndirs, sizeof(*dirs), cmp_u64);
		mark_reachable();
		w.fn = check_file;
		w.arg = &t;
		rc = mfs_inode_walk(db, NULL, &w);
	}
	if (rc)
		fprintf(stderr, "ns_records: %s\n", mfs_strerror(rc));
	else
		printf("file records %llu, tree shows %.2f, odd %llu\n",
		       (unsigned long long)t.records, t.tree, (unsigned long long)t.odd);
	mfs_db_close(db);
	free(ents);
	free(dirs);
	free(reach);
	return rc ? 1 : 0;
}
