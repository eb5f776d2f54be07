/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gc of unreferenced chunks: the rules and their notes are in gc.h.  Reads
 * only the small CFs (inodes, manifests, chunk_index, meta) and the disk
 * cache's in-memory index; deleting is one batch per 4096 chunks (record,
 * index entry and mark together), then mfs_db_reclaim() hands the space
 * back to the filesystem.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bytes.h"
#include "chunkstore.h"
#include "db.h"
#include "diskcache.h"
#include "errors.h"
#include "gc.h"
#include "inode.h"
#include "log.h"
#include "manifest.h"
#include "namespace.h"
#include "ns_internal.h"

#define LOG_COMPONENT "gc"

#define MARK_PREFIX "gc:"
#define MARK_PREFIX_LEN 3
#define MARK_KEY_LEN (MARK_PREFIX_LEN + MFS_HASH_LEN)
#define DELETE_BATCH 4096

void mfs_gc_refs_hold(struct mfs_ns *ns)
{
	pthread_rwlock_rdlock(&ns->refs_lock);
}

void mfs_gc_refs_release(struct mfs_ns *ns)
{
	pthread_rwlock_unlock(&ns->refs_lock);
}

/* ---- sets of chunk hashes ---------------------------------------------------- */

struct hset {
	struct mfs_hash *h;
	size_t n, cap;
};

static int hset_add(struct hset *s, const struct mfs_hash *h)
{
	if (mfs_grow(&s->h, &s->cap, s->n, sizeof(*s->h)))
		return -ENOMEM;
	s->h[s->n++] = *h;
	return 0;
}

static int hash_cmp(const void *a, const void *b)
{
	return memcmp(a, b, MFS_HASH_LEN);
}

/* Sorts and removes duplicates, so that hset_has() can search. */
static void hset_finish(struct hset *s)
{
	size_t out = 0;

	if (!s->n)
		return;
	qsort(s->h, s->n, sizeof(*s->h), hash_cmp);
	for (size_t i = 1; i < s->n; i++)
		if (memcmp(&s->h[i], &s->h[out], MFS_HASH_LEN))
			s->h[++out] = s->h[i];
	s->n = out + 1;
}

static int hset_has(const struct hset *s, const uint8_t *key)
{
	return s->n && bsearch(key, s->h, s->n, sizeof(*s->h), hash_cmp) != NULL;
}

static void hset_clear(struct hset *s)
{
	free(s->h);
	memset(s, 0, sizeof(*s));
}

/* ---- references --------------------------------------------------------------- */

/*
 * Every chunk an inode record's manifest names, reachable or not.  Unlike
 * statistics, a record or manifest that cannot be read stops gc: its
 * chunks would otherwise look unreferenced.
 */
static int collect_refs(struct mfs_db *db, struct hset *refs)
{
	struct mfs_iter *it = mfs_iter_new(db, MFS_CF_INODES, NULL, 0);
	int rc = 0;

	if (!it)
		return -ENOMEM;
	for (; !rc && mfs_iter_valid(it); mfs_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = mfs_iter_key(it, &kl), *v = mfs_iter_value(it, &vl);
		struct mfs_manifest *m;
		struct mfs_inode in;

		if (kl != 8 || (rc = mfs_inode_decode(get_be64(k), v, vl, &in))) {
			rc = rc ? rc : MFS_EFORMAT;
			log_error("inode record %016llx cannot be read: gc stopped (run fsck)",
				  kl == 8 ? (unsigned long long)get_be64(k) : 0ull);
			break;
		}
		if (S_ISREG(in.mode) && in.has_manifest) {
			if ((rc = mfs_manifest_load(db, &in.manifest, &m))) {
				log_error("inode %016llx: manifest cannot be read (%s): gc stopped",
					  (unsigned long long)in.ino, mfs_strerror(rc));
			} else {
				for (uint32_t i = 0; i < m->count && !rc; i++)
					rc = hset_add(refs, &m->e[i].hash);
				mfs_manifest_unref(m);
			}
		}
		mfs_inode_release(&in);
	}
	if (!rc)
		rc = mfs_iter_error(it);
	mfs_iter_free(it);
	if (!rc)
		hset_finish(refs);
	return rc;
}

static int add_live(void *arg, const struct mfs_manifest *m)
{
	for (uint32_t i = 0; i < m->count; i++)
		if (hset_add(arg, &m->e[i].hash))
			return -ENOMEM;
	return 0;
}

/* Chunks of the versions this process holds in memory (open files, bases). */
static int collect_pins(struct hset *pins)
{
	int rc = mfs_manifest_live_each(add_live, pins);

	if (!rc)
		hset_finish(pins);
	return rc;
}

/* ---- marks ------------------------------------------------------------------------ */

static void mark_key(const struct mfs_hash *h, uint8_t key[MARK_KEY_LEN])
{
	memcpy(key, MARK_PREFIX, MARK_PREFIX_LEN);
	memcpy(key + MARK_PREFIX_LEN, h->b, MFS_HASH_LEN);
}

/* u8 version, u8 0, u16 n, u64 first_seen, n x (u16 origin, u64 seq) */
static void mark_encode(const struct mfs_gc_mark *m, struct mfs_wr *w)
{
	mfs_wr_u8(w, MFS_GC_MARK_VERSION);
	mfs_wr_u8(w, 0);
	mfs_wr_u16(w, (uint16_t)m->n);
	mfs_wr_u64(w, m->first_seen);
	for (int i = 0; i < m->n; i++) {
		mfs_wr_u16(w, m->origin[i]);
		mfs_wr_u64(w, m->seq[i]);
	}
}

int mfs_gc_mark_decode(const uint8_t *p, size_t len, struct mfs_gc_mark *m)
{
	struct mfs_rd r = { p, len, 0 };
	unsigned n;

	if (mfs_rd_u8(&r) != MFS_GC_MARK_VERSION)
		return MFS_EFORMAT;
	mfs_rd_u8(&r);
	n = mfs_rd_u16(&r);
	m->first_seen = mfs_rd_u64(&r);
	if (r.bad || n > MFS_GC_MAX_VV || r.left != n * 10u)
		return MFS_EFORMAT;
	m->n = (int)n;
	for (unsigned i = 0; i < n; i++) {
		m->origin[i] = mfs_rd_u16(&r);
		m->seq[i] = mfs_rd_u64(&r);
	}
	return r.bad ? MFS_EFORMAT : 0;
}

/* Has peer p pulled with a version vector >= the mark's? */
static int peer_reached(const struct mfs_gc_peer *p, const struct mfs_gc_mark *m)
{
	if (p->state != MFS_GC_PEER_PULLED)
		return 0;
	for (int i = 0; i < m->n; i++) {
		uint64_t have = 0;

		if (!m->seq[i])
			continue;
		for (int k = 0; k < p->n; k++)
			if (p->origin[k] == m->origin[i])
				have = p->seq[k];
		if (have < m->seq[i])
			return 0;
	}
	return 1;
}

/* ---- the run ------------------------------------------------------------------------ */

enum where { IN_STORE, IN_CACHE };

struct cand {
	struct mfs_hash h;
	uint64_t bytes;
	enum where where;
};

struct run {
	struct mfs_ns *ns;
	struct mfs_db *db;
	const struct mfs_gc_opts *o;
	struct mfs_gc_result *res;
	struct hset refs, pins;
	struct mfs_gc_mark *now_vv;   /* this node's vv after the walk, first_seen = now */
	struct mfs_gc_mark *mark;     /* scratch */
	struct mfs_batch *marks;      /* new marks */
	struct cand *due;             /* passed the first pass */
	size_t ndue, capdue;
};

/* The mark of h, recording one (time now, vv now) if it has none. */
static int get_mark(struct run *r, const struct mfs_hash *h, const struct mfs_gc_mark **out)
{
	uint8_t key[MARK_KEY_LEN];
	struct mfs_val v;
	struct mfs_wr w = { 0 };
	int rc;

	mark_key(h, key);
	rc = mfs_db_get(r->db, MFS_CF_META, key, sizeof(key), &v, 1);
	if (!rc) {
		rc = mfs_gc_mark_decode(v.p, v.len, r->mark);
		mfs_val_release(&v);
		if (!rc) {
			*out = r->mark;
			return 0;
		}
		log_warn("malformed gc mark replaced"); /* the grace starts again: safe */
	} else if (rc != -ENOENT) {
		return rc;
	}
	mark_encode(r->now_vv, &w);
	if (w.oom)
		return -ENOMEM;
	mfs_batch_put(r->marks, MFS_CF_META, key, sizeof(key), w.buf, w.len);
	mfs_wr_release(&w);
	*out = r->now_vv;
	return 0;
}

/* First pass for one unreferenced chunk: held back (and why) or due. */
static int classify(struct run *r, const struct mfs_hash *h, uint64_t bytes, enum where where)
{
	const struct mfs_gc_opts *o = r->o;
	struct mfs_gc_result *res = r->res;
	const struct mfs_gc_mark *m;
	int rc, blocked = 0;

	if ((rc = get_mark(r, h, &m)))
		return rc;
	if (hset_has(&r->pins, h->b)) {
		res->held_open_chunks++;
		res->held_open_bytes += bytes;
		return 0;
	}
	if (o->now < m->first_seen + o->grace_s) {
		uint64_t left = m->first_seen + o->grace_s - o->now;

		res->held_grace_chunks++;
		res->held_grace_bytes += bytes;
		if (!res->grace_next_s || left < res->grace_next_s)
			res->grace_next_s = left;
		return 0;
	}
	for (int i = 0; i < o->npeers; i++) {
		if (!peer_reached(&o->peers[i], m)) {
			o->peers[i].held_chunks++;
			blocked = 1;
		}
	}
	if (blocked) {
		res->held_peers_chunks++;
		res->held_peers_bytes += bytes;
		return 0;
	}
	if (where == IN_STORE) {
		res->free_chunks++;
		res->free_bytes += bytes;
	}
	if (mfs_grow(&r->due, &r->capdue, r->ndue, sizeof(*r->due)))
		return -ENOMEM;
	r->due[r->ndue++] = (struct cand){ *h, bytes, where };
	return 0;
}

static int scan_store(struct run *r)
{
	struct mfs_iter *it = mfs_iter_new(r->db, MFS_CF_CHUNK_INDEX, NULL, 0);
	int rc = 0;

	if (!it)
		return -ENOMEM;
	for (; !rc && mfs_iter_valid(it); mfs_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = mfs_iter_key(it, &kl), *v = mfs_iter_value(it, &vl);
		struct mfs_chunk_summary s;
		struct mfs_hash h;

		if (kl != MFS_HASH_LEN || hset_has(&r->refs, k))
			continue;
		if (mfs_chunk_summary_decode(v, vl, &s))
			s.record_len = 0; /* fsck reports it; still garbage */
		memcpy(h.b, k, MFS_HASH_LEN);
		r->res->unreferenced_chunks++;
		r->res->unreferenced_bytes += s.record_len;
		rc = classify(r, &h, s.record_len, IN_STORE);
	}
	if (!rc)
		rc = mfs_iter_error(it);
	mfs_iter_free(it);
	return rc;
}

static int scan_cache(struct run *r)
{
	struct mfs_diskcache_entry *v = NULL;
	size_t n = 0;
	int rc;

	if (!r->o->dc)
		return 0;
	if ((rc = mfs_diskcache_list(r->o->dc, &v, &n)))
		return rc;
	for (size_t i = 0; i < n && !rc; i++) {
		if (hset_has(&r->refs, v[i].h.b))
			continue;
		r->res->cache_unreferenced++;
		rc = classify(r, &v[i].h, v[i].size, IN_CACHE);
	}
	free(v);
	return rc;
}

/* Drops the marks of chunks referenced again or no longer held; counts the rest. */
static int prune_marks(struct run *r)
{
	struct mfs_iter *it = mfs_iter_new(r->db, MFS_CF_META, MARK_PREFIX, MARK_PREFIX_LEN);
	struct mfs_batch *b = mfs_batch_new(r->db);
	int rc = 0;

	if (!it || !b) {
		rc = -ENOMEM;
		goto out;
	}
	for (; !rc && mfs_iter_valid(it); mfs_iter_next(it)) {
		size_t kl;
		const uint8_t *k = mfs_iter_key(it, &kl);
		struct mfs_hash h;
		int held;

		if (kl != MARK_KEY_LEN)
			continue;
		memcpy(h.b, k + MARK_PREFIX_LEN, MFS_HASH_LEN);
		held = mfs_chunk_exists(r->db, &h);
		if (held < 0) {
			rc = held;
			break;
		}
		if (!held && r->o->dc)
			held = mfs_diskcache_has(r->o->dc, &h);
		if (held && !hset_has(&r->refs, h.b))
			r->res->marks++;
		else
			mfs_batch_delete(b, MFS_CF_META, k, kl);
	}
	if (!rc)
		rc = mfs_iter_error(it);
	if (!rc && mfs_batch_count(b))
		rc = mfs_db_write(r->db, b, MFS_WRITE_ASYNC);
out:
	mfs_iter_free(it);
	mfs_batch_free(b);
	return rc;
}

static int first_pass(struct run *r)
{
	int rc, n;

	if ((rc = collect_refs(r->db, &r->refs)))
		return rc;
	/* After the walk (gc.h, note 4). */
	n = mfs_ns_vv(r->ns, r->now_vv->origin, r->now_vv->seq, MFS_GC_MAX_VV);
	if (n < 0)
		return n;
	r->now_vv->n = n;
	r->now_vv->first_seen = r->o->now;
	if ((rc = collect_pins(&r->pins)) || (rc = scan_store(r)) || (rc = scan_cache(r)))
		return rc;
	if (mfs_batch_count(r->marks) && (rc = mfs_db_write(r->db, r->marks, MFS_WRITE_ASYNC)))
		return rc;
	return prune_marks(r);
}

/* Under the refs lock, exclusive: recheck from scratch, then delete. */
static int delete_due(struct run *r)
{
	struct hset refs = { 0 }, pins = { 0 };
	struct mfs_batch *b = NULL;
	int rc;

	pthread_rwlock_wrlock(&r->ns->refs_lock);
	if ((rc = collect_refs(r->db, &refs)) || (rc = collect_pins(&pins)))
		goto out;
	for (size_t i = 0; i < r->ndue && !rc; i++) {
		const struct cand *c = &r->due[i];
		uint8_t key[MARK_KEY_LEN];

		if (hset_has(&refs, c->h.b) || hset_has(&pins, c->h.b)) {
			r->res->referenced_again++;
			continue;
		}
		if (!b && !(b = mfs_batch_new(r->db))) {
			rc = -ENOMEM;
			break;
		}
		mark_key(&c->h, key);
		mfs_batch_delete(b, MFS_CF_META, key, sizeof(key));
		if (r->res->marks)
			r->res->marks--; /* counted by prune_marks() */
		if (c->where == IN_STORE) {
			mfs_batch_delete(b, MFS_CF_CHUNKS, c->h.b, MFS_HASH_LEN);
			mfs_batch_delete(b, MFS_CF_CHUNK_INDEX, c->h.b, MFS_HASH_LEN);
			r->res->freed_chunks++;
			r->res->freed_bytes += c->bytes;
		} else {
			mfs_diskcache_remove(r->o->dc, &c->h);
			r->res->cache_freed_chunks++;
			r->res->cache_freed_bytes += c->bytes;
		}
		if (mfs_batch_count(b) >= 3 * DELETE_BATCH || i + 1 == r->ndue) {
			rc = mfs_db_write(r->db, b, MFS_WRITE_SYNC);
			mfs_batch_free(b);
			b = NULL;
		}
	}
	if (!rc && b && mfs_batch_count(b))
		rc = mfs_db_write(r->db, b, MFS_WRITE_SYNC);
out:
	pthread_rwlock_unlock(&r->ns->refs_lock);
	mfs_batch_free(b);
	hset_clear(&refs);
	hset_clear(&pins);
	return rc;
}

int mfs_gc_run(struct mfs_ns *ns, const struct mfs_gc_opts *opts, struct mfs_gc_result *res)
{
	struct run r = { .ns = ns, .db = mfs_ns_db(ns), .o = opts, .res = res };
	int rc = -ENOMEM;

	memset(res, 0, sizeof(*res));
	for (int i = 0; i < opts->npeers; i++)
		opts->peers[i].held_chunks = 0;
	res->disk_before = mfs_db_disk_bytes(r.db);
	if (!(r.now_vv = calloc(1, sizeof(*r.now_vv))) || !(r.mark = calloc(1, sizeof(*r.mark))) ||
	    !(r.marks = mfs_batch_new(r.db)))
		goto out;
	if ((rc = first_pass(&r)))
		goto out;
	if (opts->apply && r.ndue && (rc = delete_due(&r)))
		goto out;
	if (res->freed_chunks || (opts->apply && opts->relocate)) {
		/* The chunks are gone either way; only their space would stay taken. */
		int rc2 = mfs_db_reclaim(r.db, MFS_CF_CHUNKS, opts->relocate);

		if (rc2)
			log_warn("deleted chunks' space not reclaimed yet: %s", mfs_strerror(rc2));
	}
	if (opts->apply)
		log_info("gc: %llu chunks (%llu bytes) deleted, %llu disk cache files; held back: "
			 "%llu open, %llu grace, %llu peers; disk %llu -> %llu bytes",
			 (unsigned long long)res->freed_chunks, (unsigned long long)res->freed_bytes,
			 (unsigned long long)res->cache_freed_chunks,
			 (unsigned long long)res->held_open_chunks,
			 (unsigned long long)res->held_grace_chunks,
			 (unsigned long long)res->held_peers_chunks,
			 (unsigned long long)res->disk_before,
			 (unsigned long long)mfs_db_disk_bytes(r.db));
out:
	res->disk_after = mfs_db_disk_bytes(r.db);
	hset_clear(&r.refs);
	hset_clear(&r.pins);
	free(r.due);
	free(r.now_vv);
	free(r.mark);
	mfs_batch_free(r.marks);
	if (rc)
		log_warn("gc stopped: %s", mfs_strerror(rc));
	return rc;
}
