/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fsck: two passes.  Pass 1 reads back every chunk named in chunk_index and
 * verifies it end to end (XXH64 of the record, decode, SHA-256 against the
 * key), collecting the bad ones.  Pass 2 walks every file and checks that its
 * manifest decodes and that each chunk it names is indexed, and reports each
 * bad chunk with the files that use it; bad chunks no file uses are
 * reported last, without a path.  Orphan chunks (stored, referenced by no
 * file) are expected until gc exists and are not problems.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bytes.h"
#include "chunker.h"
#include "chunkstore.h"
#include "codec.h"
#include "db.h"
#include "errors.h"
#include "inode.h"
#include "manifest.h"
#include "namespace.h"
#include "report.h"

const char *mfs_fsck_problem_name(enum mfs_fsck_problem kind)
{
	switch (kind) {
	case MFS_FSCK_CORRUPT: return "corrupt";
	case MFS_FSCK_MISSING: return "missing";
	case MFS_FSCK_BADMETA: return "badmeta";
	}
	return "?";
}

/* Sorted list of the chunks pass 1 found bad, with "seen in a file" marks. */
struct bad_set {
	struct mfs_hash *h;
	uint8_t *used;
	size_t n, cap_h, cap_used;
};

static int bad_add(struct bad_set *b, const struct mfs_hash *h)
{
	if (mfs_grow(&b->h, &b->cap_h, b->n, sizeof(*b->h)) ||
	    mfs_grow(&b->used, &b->cap_used, b->n, 1))
		return -ENOMEM;
	b->used[b->n] = 0;
	b->h[b->n++] = *h;
	return 0;
}

/* Index of h in b (kept sorted: the index is iterated in key order) or -1. */
static long bad_find(const struct bad_set *b, const struct mfs_hash *h)
{
	size_t lo = 0, hi = b->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = memcmp(b->h[mid].b, h->b, MFS_HASH_LEN);

		if (!c)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static int check_chunks(struct mfs_db *db, struct bad_set *bad, mfs_fsck_fn fn, void *arg,
			struct mfs_fsck_result *res)
{
	struct mfs_codec_ctx *ctx = mfs_codec_ctx_new();
	struct mfs_iter *it = NULL;
	int rc = -ENOMEM;

	if (!ctx || !(it = mfs_iter_new(db, MFS_CF_CHUNK_INDEX, NULL, 0)))
		goto out;
	for (; mfs_iter_valid(it); mfs_iter_next(it)) {
		size_t kl;
		const uint8_t *k = mfs_iter_key(it, &kl);
		char hex[MFS_HASH_HEX_LEN + 1] = "";
		struct mfs_chunk_bytes bytes;
		struct mfs_hash h;
		int n;

		if (kl != MFS_HASH_LEN) {
			res->badmeta++;
			fn(arg, MFS_FSCK_BADMETA, "", NULL);
			continue;
		}
		memcpy(h.b, k, MFS_HASH_LEN);
		mfs_hash_to_hex(&h, hex);
		n = mfs_chunk_load(db, ctx, &h, &bytes, 1);
		res->chunks_checked++;
		if (n == 0) {
			res->bytes_checked += bytes.len;
			mfs_chunk_bytes_release(&bytes);
		} else if (n == -ENOENT) {
			res->missing++;
			fn(arg, MFS_FSCK_MISSING, hex, NULL);
		} else if (n == MFS_ECORRUPT || n == MFS_EBADHASH || n == MFS_EFORMAT) {
			res->corrupt++;
			if ((rc = bad_add(bad, &h)))
				goto out;
		} else {
			rc = n;
			goto out;
		}
	}
	rc = mfs_iter_error(it);
out:
	mfs_iter_free(it);
	mfs_codec_ctx_free(ctx);
	return rc;
}

static void check_file(struct mfs_ns *ns, const struct mfs_inode *in, struct bad_set *bad,
		       mfs_fsck_fn fn, void *arg, struct mfs_fsck_result *res)
{
	struct mfs_db *db = mfs_ns_db(ns);
	struct mfs_manifest *m = NULL;
	char hex[MFS_HASH_HEX_LEN + 1];
	char *path = mfs_ns_path(ns, in->ino);
	int rc;

	res->files_checked++;
	if (!in->has_manifest)
		goto out;
	rc = mfs_manifest_load(db, &in->manifest, &m);
	if (rc || m->size != in->size) {
		mfs_hash_to_hex(&in->manifest, hex);
		if (rc == -ENOENT) {
			res->missing++;
			fn(arg, MFS_FSCK_MISSING, hex, path);
		} else {
			res->badmeta++;
			fn(arg, MFS_FSCK_BADMETA, hex, path);
		}
		goto out;
	}
	for (uint32_t i = 0; i < m->count; i++) {
		long b = bad_find(bad, &m->e[i].hash);

		mfs_hash_to_hex(&m->e[i].hash, hex);
		if (b >= 0) {
			bad->used[b] = 1;
			fn(arg, MFS_FSCK_CORRUPT, hex, path);
		} else if (mfs_chunk_exists(db, &m->e[i].hash) != 1) {
			res->missing++;
			fn(arg, MFS_FSCK_MISSING, hex, path);
		}
	}
out:
	mfs_manifest_unref(m);
	free(path);
}

static int check_files(struct mfs_ns *ns, struct bad_set *bad, mfs_fsck_fn fn, void *arg,
		       struct mfs_fsck_result *res)
{
	struct mfs_iter *it = mfs_iter_new(mfs_ns_db(ns), MFS_CF_INODES, NULL, 0);
	int rc;

	if (!it)
		return -ENOMEM;
	for (; mfs_iter_valid(it); mfs_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = mfs_iter_key(it, &kl), *v = mfs_iter_value(it, &vl);
		struct mfs_inode in;

		if (kl != 8 || mfs_inode_decode(get_be64(k), v, vl, &in)) {
			res->badmeta++;
			fn(arg, MFS_FSCK_BADMETA, "", NULL);
			continue;
		}
		if (S_ISREG(in.mode))
			check_file(ns, &in, bad, fn, arg, res);
		mfs_inode_release(&in);
	}
	rc = mfs_iter_error(it);
	mfs_iter_free(it);
	return rc;
}

int mfs_fsck(struct mfs_ns *ns, mfs_fsck_fn fn, void *arg, struct mfs_fsck_result *res)
{
	struct bad_set bad = { 0 };
	int rc;

	memset(res, 0, sizeof(*res));
	if (!(rc = check_chunks(mfs_ns_db(ns), &bad, fn, arg, res)) &&
	    !(rc = check_files(ns, &bad, fn, arg, res))) {
		for (size_t i = 0; i < bad.n; i++) {
			char hex[MFS_HASH_HEX_LEN + 1];

			if (bad.used[i])
				continue;
			mfs_hash_to_hex(&bad.h[i], hex);
			fn(arg, MFS_FSCK_CORRUPT, hex, NULL);
		}
	}
	free(bad.h);
	free(bad.used);
	return rc;
}
