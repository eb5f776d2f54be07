/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-file reports of the daemon: `info` (what a file is made of and how
 * much of it this node holds) and `evict` (drop this node's cached copies
 * of a file's chunks).
 *
 * info is a list of "key value" lines (doc/format.md, "Per-file info"),
 * read through the mount as the xattr user.modelfs.info (all lines) or
 * user.modelfs.KEY (one value), and printed by `modelfs-admin info`.  The
 * lines come from a table of sections, each a function that writes some
 * of them: a new fact is a new section (or a line in one), and the xattr,
 * the admin tool's JSON and its raw listing pick it up without changes.
 *
 * evict is a control request (`evict INO`, fuse/admin/control.c).  It drops the
 * disk cache copies (DATA/cache), then the in-memory chunk cache entries,
 * then the kernel's page cache of the inode, in that order so that a
 * reader racing with it cannot refill an upper level from a lower one
 * that is about to go.  Chunks in this node's store are never dropped:
 * they are owned or were written here, and count as replicas.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "control.h"
#include "fs_info.h"
#include "fuse/fs_internal.h"
#include "replica/replica.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/chunk/cache.h"
#include "store/chunk/chunkstore.h"
#include "store/chunk/codec.h"
#include "store/maint/report.h"
#include "store/ns/namespace.h"

#define LOG_COMPONENT "info"

/* One inode as a report sees it: a copy of its record and, for a file, its version. */
struct fs_info {
	struct mfs_fs *fs;
	struct mfs_inode rec;
	struct mfs_manifest *m;      /* files only (an empty one for an empty file); a reference */
	struct info_chunks chunks;   /* files: the version's chunks */
};

static int entry_cmp(const void *a, const void *b)
{
	const struct info_chunk *x = a, *y = b;

	return memcmp(x->hash.b, y->hash.b, MFS_HASH_LEN);
}

int info_chunks_add(struct info_chunks *s, const struct mfs_manifest *m, uint16_t origin,
		    unsigned repl)
{
	if (s->n + (uint64_t)m->count > s->cap) {
		uint64_t cap = s->cap ? s->cap : 64;
		struct info_chunk *c;

		while (cap < s->n + (uint64_t)m->count)
			cap *= 2;
		if (cap > UINT32_MAX || !(c = realloc(s->c, cap * sizeof(*c))))
			return -ENOMEM;
		s->c = c;
		s->cap = (uint32_t)cap;
	}
	for (uint32_t i = 0; i < m->count; i++) {
		struct info_chunk *c;

		if (mfs_manifest_is_hole(&m->e[i]))
			continue;
		c = &s->c[s->n++];
		c->hash = m->e[i].hash;
		c->len = m->e[i].len;
		c->origin = origin;
		c->repl = (uint8_t)(repl ? repl : MFS_DEFAULT_REPL);
		c->shared = 0;
		s->total++;
	}
	s->hole_bytes += m->hole_bytes;
	return 0;
}

void info_chunks_finish(struct info_chunks *s)
{
	uint32_t k = 0;

	if (s->n)
		qsort(s->c, s->n, sizeof(*s->c), entry_cmp);
	for (uint32_t i = 0; i < s->n; i++) {
		if (k && !entry_cmp(&s->c[k - 1], &s->c[i])) {
			if (s->c[i].repl > s->c[k - 1].repl)
				s->c[k - 1].repl = s->c[i].repl;
			continue;
		}
		s->c[k++] = s->c[i];
	}
	s->n = k;
}

struct info_chunk *info_chunks_find(const struct info_chunks *s, const struct mfs_hash *h)
{
	struct info_chunk key = { .hash = *h };

	return s->n ? bsearch(&key, s->c, s->n, sizeof(*s->c), entry_cmp) : NULL;
}

void info_chunks_release(struct info_chunks *s)
{
	free(s->c);
	memset(s, 0, sizeof(*s));
}

/*
 * Loads ino: from its in-memory node if the kernel knows it (the node has
 * the daemon's current view of the record), else from the namespace.
 */
static int info_load(struct mfs_fs *fs, uint64_t ino, struct fs_info *in)
{
	struct mfs_node *n = itable_hold(fs, ino);
	int rc;

	memset(in, 0, sizeof(*in));
	in->fs = fs;
	if (n) {
		pthread_mutex_lock(&n->lock);
		rc = mfs_inode_copy(&in->rec, &n->rec);
		/*
		 * The node's manifest if it has one; else a private load, not
		 * kept on the node: a decoded manifest is live (gc.h) and holds
		 * back the trim of the file's extra copies while it is kept.
		 */
		if (!rc && S_ISREG(in->rec.mode) && n->manifest)
			in->m = mfs_manifest_ref(n->manifest);
		pthread_mutex_unlock(&n->lock);
		itable_put(fs, n, 0, 1);
		if (!rc && S_ISREG(in->rec.mode) && !in->m) {
			if (in->rec.has_manifest)
				rc = mfs_manifest_load(fs->db, &in->rec.manifest, &in->m);
			else if (!(in->m = mfs_manifest_new()))
				rc = -ENOMEM;
		}
	} else if (!(rc = mfs_ns_get(fs->ns, ino, &in->rec)) && S_ISREG(in->rec.mode)) {
		if (in->rec.has_manifest)
			rc = mfs_manifest_load(fs->db, &in->rec.manifest, &in->m);
		else if (!(in->m = mfs_manifest_new()))
			rc = -ENOMEM;
	}
	if (!rc && in->m && !(rc = info_chunks_add(&in->chunks, in->m, (uint16_t)(in->rec.ino >> 48),
						     in->rec.repl)))
		info_chunks_finish(&in->chunks);
	return rc;
}

static void info_release(struct fs_info *in)
{
	mfs_inode_release(&in->rec);
	mfs_manifest_unref(in->m);
	info_chunks_release(&in->chunks);
	memset(in, 0, sizeof(*in));
}

int fs_info_add_file(struct mfs_fs *fs, uint64_t ino, struct info_chunks *s, uint64_t *size)
{
	struct fs_info in;
	int rc = info_load(fs, ino, &in);

	*size = 0;
	if (!rc && in.m) {
		*size = in.m->size;
		rc = info_chunks_add(s, in.m, (uint16_t)(in.rec.ino >> 48), in.rec.repl);
	}
	info_release(&in);
	return rc;
}

/* part of whole in percent, rounded down to a tenth (100.0 only when all are). */
void info_put_percent(FILE *f, const char *key, uint64_t part, uint64_t whole)
{
	uint64_t t = whole ? part * 1000 / whole : 1000;

	fprintf(f, "%s %llu.%llu\n", key, (unsigned long long)(t / 10), (unsigned long long)(t % 10));
}

/* ---- info sections ------------------------------------------------------------ */

static int info_inode(struct fs_info *in, FILE *f)
{
	const struct mfs_inode *r = &in->rec;
	const char *type = S_ISREG(r->mode) ? "file" : S_ISDIR(r->mode) ? "dir" :
			   S_ISLNK(r->mode) ? "symlink" : "other";

	fprintf(f, "type %s\n", type);
	fprintf(f, "ino %llu\n", (unsigned long long)r->ino);
	/* Inode numbers are space << 48 | counter (doc/format.md): the writer's inode
	 * space, 4 hex digits; the root is every node's. */
	fprintf(f, "origin_node %04x\n", r->ino == MFS_ROOT_INO ? 0 : (unsigned)(r->ino >> 48));
	fprintf(f, "repl %u\n", r->repl ? r->repl : MFS_DEFAULT_REPL);
	if (S_ISREG(r->mode)) {
		fprintf(f, "size %llu\n", (unsigned long long)(in->m ? in->m->size : r->size));
		fprintf(f, "version %llu\n", (unsigned long long)r->version);
	}
	if (S_ISLNK(r->mode)) {
		fputs("target ", f);
		control_put_escaped(f, r->symlink ? r->symlink : "");
		putc('\n', f);
	}
	return 0;
}

/*
 * The chunks of s, and where this node has them.  Byte and codec counts
 * are over distinct chunks (a chunk repeated is stored once); a chunk
 * whose record is neither in the store nor in the disk cache has unknown
 * stored bytes and codec (remote_chunks).
 */
int info_put_chunks(struct mfs_fs *fs, const struct info_chunks *s, FILE *f)
{
	uint64_t raw = 0, stored = 0, stored_raw = 0, codec[MFS_CODEC_COUNT] = { 0 };
	uint64_t in_store = 0, in_cache = 0, local = 0, in_memory = 0, remote = 0;

	for (uint32_t i = 0; i < s->n; i++) {
		const struct mfs_hash *h = &s->c[i].hash;
		struct mfs_chunk_summary cs;
		struct mfs_chunk_info ci;
		uint64_t reclen = 0;
		int here = !mfs_chunk_summary_get(fs->db, h, &cs);
		int cached = !mfs_replica_cached(fs->replica, h, here ? NULL : &ci, &reclen);

		in_store += here;
		in_cache += cached;
		local += here || cached;
		in_memory += mfs_cache_has(fs->cache, h);
		raw += s->c[i].len;
		if (here) {
			stored_raw += cs.raw_len;
			stored += cs.record_len;
			codec[cs.codec]++;
		} else if (cached) {
			stored_raw += ci.raw_len;
			stored += reclen;
			codec[ci.codec]++;
		} else {
			remote++;
		}
	}
	fprintf(f, "chunks %llu\n", (unsigned long long)s->total);
	fprintf(f, "hole_bytes %llu\n", (unsigned long long)s->hole_bytes);
	fprintf(f, "distinct_chunks %u\n", s->n);
	fprintf(f, "raw_bytes %llu\n", (unsigned long long)raw);
	fprintf(f, "stored_bytes %llu\n", (unsigned long long)stored);
	fprintf(f, "compression_ratio %.4f\n", stored ? (double)stored_raw / stored : 1.0);
	for (int k = 0; k < MFS_CODEC_COUNT; k++)
		fprintf(f, "codec_chunks.%s %llu\n", mfs_codec_name(k), (unsigned long long)codec[k]);
	fprintf(f, "remote_chunks %llu\n", (unsigned long long)remote);
	fprintf(f, "local_store_chunks %llu\n", (unsigned long long)in_store);
	info_put_percent(f, "local_store_percent", in_store, s->n);
	fprintf(f, "local_cache_chunks %llu\n", (unsigned long long)in_cache);
	info_put_percent(f, "local_cache_percent", in_cache, s->n);
	info_put_percent(f, "local_percent", local, s->n);
	fprintf(f, "memory_cache_chunks %llu\n", (unsigned long long)in_memory);
	return 0;
}

/* Files: the chunks of the version (info_put_chunks). */
static int info_chunks(struct fs_info *in, FILE *f)
{
	return in->m ? info_put_chunks(in->fs, &in->chunks, f) : 0;
}

/* How many nodes' stores hold each of the n chunks of q (presence in their index). */
static int count_replicas(struct mfs_fs *fs, const struct mfs_copy_query *q, size_t n,
			  uint8_t *copies, int *nodes, int *down)
{
	mfs_node_t ids[MFS_MAX_NODES];
	uint8_t up[MFS_MAX_NODES], *st;
	int rc;

	*down = 0;
	if (!fs->replica) {
		/* No peers: this store is every copy there is. */
		*nodes = 1;
		for (size_t i = 0; i < n; i++)
			copies[i] = mfs_chunk_exists(fs->db, &q[i].h) == 1;
		return 0;
	}
	*nodes = mfs_replica_nodes(fs->replica, ids, up, MFS_MAX_NODES);
	if (!(st = malloc(n * (size_t)*nodes)))
		return -ENOMEM;
	rc = mfs_replica_check(fs->replica, *nodes, q, n, MFS_COPY_QUICK, st);
	for (size_t i = 0; !rc && i < n; i++) {
		copies[i] = 0;
		for (int k = 0; k < *nodes; k++)
			copies[i] += st[i * (size_t)*nodes + (size_t)k] == MFS_COPY_STORED;
	}
	for (int k = 0; !rc && k < *nodes; k++) {
		int answered = 0;

		for (size_t i = 0; i < n && !answered; i++)
			answered = st[i * (size_t)*nodes + (size_t)k] != MFS_COPY_UNKNOWN;
		*down += n && !answered;
	}
	free(st);
	return rc;
}

/*
 * How many copies of each chunk of s the nodes' stores hold (disk caches
 * do not count: they are evicted), against its factor.  Asks every
 * peer (CHECK, index presence only); a node that does not answer counts as
 * holding nothing and is counted in nodes_down.
 */
int info_put_replicas(struct mfs_fs *fs, const struct info_chunks *s, FILE *f)
{
	struct mfs_copy_query *q = NULL;
	uint8_t *copies = NULL;
	uint64_t hist[MFS_MAX_NODES + 1] = { 0 }, sum = 0, under = 0;
	int nodes, down, rc = -ENOMEM, lo = 0, hi = 0;

	if (s->n && (!(q = calloc(s->n, sizeof(*q))) || !(copies = malloc(s->n))))
		goto out;
	for (uint32_t i = 0; i < s->n; i++) {
		q[i].h = s->c[i].hash;
		q[i].raw_len = s->c[i].len;
		q[i].origin = s->c[i].origin;
		q[i].repl = s->c[i].repl;
	}
	if (s->n && (rc = count_replicas(fs, q, s->n, copies, &nodes, &down)))
		goto out;
	if (!s->n) {
		mfs_node_t ids[MFS_MAX_NODES];
		uint8_t up[MFS_MAX_NODES];

		nodes = fs->replica ? mfs_replica_nodes(fs->replica, ids, up, MFS_MAX_NODES) : 1;
		down = 0;
	}
	for (uint32_t i = 0; i < s->n; i++) {
		hist[copies[i]]++;
		sum += copies[i];
		under += copies[i] < s->c[i].repl;
		lo = !i || copies[i] < lo ? copies[i] : lo;
		hi = copies[i] > hi ? copies[i] : hi;
	}
	fprintf(f, "nodes %d\n", nodes);
	fprintf(f, "nodes_down %d\n", down);
	fprintf(f, "replicas_min %d\n", lo);
	fprintf(f, "replicas_max %d\n", hi);
	fprintf(f, "replicas_avg %.2f\n", s->n ? (double)sum / s->n : 0.0);
	for (int k = 0; k <= nodes && k <= MFS_MAX_NODES; k++)
		if (hist[k])
			fprintf(f, "replicas.%d %llu\n", k, (unsigned long long)hist[k]);
	fprintf(f, "under_replicated_chunks %llu\n", (unsigned long long)under);
	rc = 0;
out:
	free(q);
	free(copies);
	return rc;
}

static int info_replicas(struct fs_info *in, FILE *f)
{
	return in->m ? info_put_replicas(in->fs, &in->chunks, f) : 0;
}

/*
 * The sections, in output order.  Each writes "key value" lines (keys are
 * [a-z0-9_.], unique; values run to the end of the line) and returns 0 or
 * a negative errno, which ends the report.  A section that needs more than
 * this node (say, how many replicas each chunk has across the cluster)
 * asks the replica layer about in->chunks and writes its own lines; the
 * xattrs, `info INO` and modelfs-admin show them as they are.
 */
typedef int (*info_section_fn)(struct fs_info *in, FILE *f);
static const struct {
	info_section_fn fn;
	int asks_peers;          /* skipped when the key asked for is not its own */
} info_sections[] = {
	{ info_inode, 0 },
	{ info_chunks, 0 },
	{ info_replicas, 1 },
};

/* Whether key (of user.modelfs.KEY) is one of info_replicas' lines. */
static int replica_key(const char *key)
{
	return !strcmp(key, "nodes") || !strcmp(key, "nodes_down") ||
	       !strncmp(key, "replicas", 8) || !strcmp(key, "under_replicated_chunks");
}

/* The report; with_peers 0 leaves out the sections that ask every peer. */
static int info_write(struct mfs_fs *fs, uint64_t ino, FILE *f, int with_peers)
{
	struct fs_info in;
	int rc = info_load(fs, ino, &in);

	for (size_t i = 0; !rc && i < sizeof(info_sections) / sizeof(info_sections[0]); i++)
		if (with_peers || !info_sections[i].asks_peers)
			rc = info_sections[i].fn(&in, f);
	info_release(&in);
	return rc;
}

int fs_info_write(struct mfs_fs *fs, uint64_t ino, FILE *f)
{
	return info_write(fs, ino, f, 1);
}

int fs_info_xattr(struct mfs_fs *fs, uint64_t ino, const char *key, char **out, size_t *outlen)
{
	char *buf = NULL, *line, *save = NULL;
	size_t len = 0, klen = strlen(key);
	FILE *f = open_memstream(&buf, &len);
	int rc;

	*out = NULL;
	*outlen = 0;
	if (!f)
		return -ENOMEM;
	/* A script reading one local fact must not wait on every peer. */
	if (!strcmp(key, "tree"))
		rc = fs_tree_write(fs, ino, f);
	else
		rc = info_write(fs, ino, f, !strcmp(key, "info") || replica_key(key));
	if (fclose(f) && !rc)
		rc = -ENOMEM;
	if (rc) {
		free(buf);
		return rc;
	}
	if (!strcmp(key, "info") || !strcmp(key, "tree")) {
		*out = buf;
		*outlen = len;
		return 0;
	}
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, key, klen) || line[klen] != ' ')
			continue;
		*outlen = strlen(line + klen + 1);
		memmove(buf, line + klen + 1, *outlen + 1);
		*out = buf;
		return 0;
	}
	free(buf);
	return -ENODATA;
}

/* ---- evict ---------------------------------------------------------------------- */

int fs_evict(struct mfs_fs *fs, uint64_t ino, FILE *f)
{
	uint64_t disk_chunks = 0, disk_bytes = 0, mem_chunks = 0, mem_bytes = 0, kept = 0;
	struct fs_info in;
	int rc = info_load(fs, ino, &in), inval = 0;

	if (!rc && !S_ISREG(in.rec.mode))
		rc = -EISDIR; /* the tool walks directories and asks file by file */
	if (rc) {
		info_release(&in);
		return rc;
	}
	for (uint32_t i = 0; i < in.chunks.n; i++) {
		const struct mfs_hash *h = &in.chunks.c[i].hash;
		uint64_t n = mfs_replica_uncache(fs->replica, h);
		uint32_t m;

		disk_chunks += n > 0;
		disk_bytes += n;
		m = mfs_cache_drop(fs->cache, h);
		mem_chunks += m > 0;
		mem_bytes += m;
		kept += mfs_chunk_exists(fs->db, h) == 1;
	}
	/* No lock is held here (fs_internal.h note 2).  -ENOENT: the kernel has no pages of it. */
	if (fs->se) {
		int err = fuse_lowlevel_notify_inval_inode(fs->se, ino, 0, 0);

		inval = !err;
		if (err && err != -ENOENT)
			log_warn("inode %016llx: cannot drop the kernel's cache: %s",
				 (unsigned long long)ino, strerror(-err));
	}
	log_info("evict %s: %llu chunks (%llu bytes) from the disk cache, %llu from memory, "
		 "%llu kept in the store", in.rec.name ? in.rec.name : "/",
		 (unsigned long long)disk_chunks, (unsigned long long)disk_bytes,
		 (unsigned long long)mem_chunks, (unsigned long long)kept);
	fprintf(f, "ino %llu\n", (unsigned long long)ino);
	fprintf(f, "distinct_chunks %u\n", in.chunks.n);
	fprintf(f, "evicted_disk_chunks %llu\n", (unsigned long long)disk_chunks);
	fprintf(f, "evicted_disk_bytes %llu\n", (unsigned long long)disk_bytes);
	fprintf(f, "evicted_memory_chunks %llu\n", (unsigned long long)mem_chunks);
	fprintf(f, "evicted_memory_bytes %llu\n", (unsigned long long)mem_bytes);
	fprintf(f, "kept_store_chunks %llu\n", (unsigned long long)kept);
	fprintf(f, "page_cache_dropped %d\n", inval);
	info_release(&in);
	return 0;
}
