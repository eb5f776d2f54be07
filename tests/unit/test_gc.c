/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gc's rules on a real RocksDB store (store/maint/gc.h): a deleted file's chunks
 * are freed, a kept file's (shared or not) never; a manifest held in memory
 * keeps its chunks; the grace period counts from the first sight, recorded
 * in a mark that survives a reopen; a peer that never pulled, or pulled a
 * version vector older than the mark's, holds gc back, and one that caught
 * up does not; a malformed mark is refused by its decoder.  Copies beyond
 * the factor: their grace, its restart, and an open version keeps them.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "store/base/errors.h"
#include "store/base/log.h"
#include "store/chunk/chunkstore.h"
#include "store/chunk/ingest.h"
#include "store/chunk/manifest.h"
#include "store/kv/db.h"
#include "store/maint/gc.h"
#include "store/ns/namespace.h"
#include "tap.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static void fill(uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		p[i] = (uint8_t)rng;
	}
}

/* Publishes a file named name in the root with bytes p[0..len); returns its manifest id. */
static struct mfs_hash put_file(struct mfs_ns *ns, const char *dir, const char *name,
				const uint8_t *p, size_t len)
{
	struct mfs_ns_new nw = { .mode = 0100644, .flags = MFS_I_PENDING };
	struct mfs_ingest_stats st;
	struct mfs_inode rec, pub;
	struct mfs_hash id;
	char path[256];
	int fd, has;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, p, len) != (ssize_t)len)
		tap_bail("cannot write %s", path);
	if (mfs_ingest_fd(mfs_ns_db(ns), fd, len, 1, &id, &has, &st) || !has ||
	    mfs_ns_create(ns, 1, name, &nw, &rec) || mfs_ns_publish(ns, rec.ino, &id, len, NULL, NULL, &pub))
		tap_bail("cannot store %s", name);
	mfs_inode_release(&rec);
	mfs_inode_release(&pub);
	close(fd);
	return id;
}

static uint32_t chunks_of(struct mfs_db *db, const struct mfs_hash *id)
{
	struct mfs_manifest *m;
	uint32_t n;

	if (mfs_manifest_load(db, id, &m))
		tap_bail("no manifest");
	n = m->count;
	mfs_manifest_unref(m);
	return n;
}

static int all_stored(struct mfs_db *db, const struct mfs_hash *id)
{
	struct mfs_manifest *m;
	int good = 1;

	if (mfs_manifest_load(db, id, &m))
		return 0;
	for (uint32_t i = 0; i < m->count; i++)
		good &= mfs_chunk_exists(db, &m->e[i].hash) == 1;
	mfs_manifest_unref(m);
	return good;
}

int main(void)
{
	char dir[] = "/tmp/mfs-test-gc-XXXXXX", dbdir[256], cmd[300];
	size_t la = 6u << 20, lb = 3u << 20;
	uint8_t *a = malloc(la), *b = malloc(2 * lb);
	struct mfs_gc_peer *peer = calloc(1, sizeof(*peer));
	struct mfs_gc_opts o = { .grace_s = 100, .now = 1000000 };
	struct mfs_gc_result res;
	struct mfs_hash ida, idb, idx;
	struct mfs_manifest *held;
	struct mfs_db *db;
	struct mfs_ns *ns;
	uint32_t nx;
	int n;

	mfs_log_open(NULL, MFS_LOG_WARN, MFS_LOG_WARN);
	if (!mkdtemp(dir) || !a || !b || !peer)
		tap_bail("setup");
	snprintf(dbdir, sizeof(dbdir), "%s/db", dir);
	if (mfs_store_open(dbdir, &db) || mfs_ns_open(db, &ns))
		tap_bail("cannot open a store in %s", dir);
	fill(a, la);
	memcpy(b, a, lb);        /* b shares a's first 3 MiB */
	fill(b + lb, lb);
	ida = put_file(ns, dir, "a", a, la);
	idb = put_file(ns, dir, "b", b, 2 * lb);
	fill(a, la);
	idx = put_file(ns, dir, "x", a, la);
	nx = chunks_of(db, &idx);

	is_int(mfs_gc_run(ns, &o, &res), 0, "gc with nothing deleted");
	is_int(res.unreferenced_chunks, 0, "nothing unreferenced");

	is_int(mfs_ns_remove(ns, 1, "x", 0, NULL), 0, "delete x");
	is_int(mfs_ns_remove(ns, 1, "a", 0, NULL), 0, "delete a (b shares its first chunks)");
	is_int(mfs_gc_run(ns, &o, &res), 0, "dry run at T");
	ok(res.unreferenced_chunks > nx, "x's and a's own chunks unreferenced (%llu)",
	   (unsigned long long)res.unreferenced_chunks);
	is_int(res.held_grace_chunks, res.unreferenced_chunks, "all held back by the grace");
	is_int(res.grace_next_s, 100, "due in 100 s");
	is_int(res.marks, res.unreferenced_chunks, "one mark each");

	/* The marks persist: reopen, and the grace still counts from T. */
	mfs_ns_close(ns);
	mfs_db_close(db);
	if (mfs_store_open(dbdir, &db) || mfs_ns_open(db, &ns))
		tap_bail("cannot reopen");
	o.now += 60;
	is_int(mfs_gc_run(ns, &o, &res), 0, "dry run at T+60 after a reopen");
	is_int(res.grace_next_s, 40, "due in 40 s: the first sight was kept");
	o.now += 40;

	/*
	 * x's chunks referenced again and dropped again between two runs: their
	 * marks are stale (a peer at the marks' vv may still show x2).
	 */
	o.peers = peer;
	o.npeers = 1;
	snprintf(peer->name, sizeof(peer->name), "tcp://peer:1");
	peer->id = 0x1234;
	peer->state = MFS_GC_PEER_PULLED;
	n = mfs_ns_vv(ns, peer->origin, peer->seq, MFS_GC_MAX_VV);
	peer->n = n;             /* the peer has what this node had at the marks */
	put_file(ns, dir, "x2", a, la);
	is_int(mfs_ns_remove(ns, 1, "x2", 0, NULL), 0, "x2 (= x) written and deleted");
	is_int(mfs_gc_run(ns, &o, &res), 0, "dry run at T+100, the peer at the marks' vv");
	is_int(res.held_grace_chunks, nx, "x's chunks: grace starts again");
	is_int(res.grace_next_s, 100, "due in 100 s");
	is_int(res.free_chunks, res.unreferenced_chunks - nx, "a's own chunks due");
	o.now += 100;

	/* A peer that never pulled holds everything back; one behind too. */
	peer->state = MFS_GC_PEER_SILENT;
	is_int(mfs_gc_run(ns, &o, &res), 0, "dry run, a silent peer");
	is_int(res.held_peers_chunks, res.unreferenced_chunks, "held back by the peer");
	is_int(peer->held_chunks, res.unreferenced_chunks, "the peer counts what it holds back");
	peer->state = MFS_GC_PEER_PULLED;
	n = mfs_ns_vv(ns, peer->origin, peer->seq, MFS_GC_MAX_VV);
	ok(n == 1 && peer->seq[0] >= 8, "this node's vv: one origin, 8+ ops");
	peer->n = n;
	peer->seq[0]--;          /* has not seen the last delete */
	is_int(mfs_gc_run(ns, &o, &res), 0, "dry run, a peer one op behind");
	is_int(res.held_peers_chunks, nx, "x's chunks held back (its last deletion)");
	is_int(res.free_chunks, res.unreferenced_chunks - nx, "a's own chunks still due");
	peer->seq[0]++;
	is_int(mfs_gc_run(ns, &o, &res), 0, "dry run, the peer caught up");
	is_int(res.held_peers_chunks, 0, "nothing held back by the peer");
	is_int(res.free_chunks, res.unreferenced_chunks, "all deletable");
	is_int(res.freed_chunks, 0, "a dry run deletes nothing");

	/* A manifest held in memory (an open reader) keeps its chunks. */
	is_int(mfs_manifest_load(db, &idx, &held), 0, "hold x's manifest");
	o.apply = 1;
	is_int(mfs_gc_run(ns, &o, &res), 0, "apply");
	is_int(res.held_open_chunks, nx, "x's chunks held back: open");
	ok(res.freed_chunks > 0 && res.freed_chunks + nx == res.unreferenced_chunks,
	   "a's own chunks freed (%llu)", (unsigned long long)res.freed_chunks);
	ok(all_stored(db, &idb), "b's chunks, shared with a or not, all kept");
	ok(all_stored(db, &idx), "x's chunks kept while held");
	mfs_manifest_unref(held);
	is_int(mfs_gc_run(ns, &o, &res), 0, "apply after the release");
	is_int(res.freed_chunks, nx, "x's chunks freed");
	is_int(res.marks, 0, "no marks left");
	ok(all_stored(db, &idb), "b still whole");
	is_int(mfs_gc_run(ns, &o, &res), 0, "apply again");
	is_int(res.unreferenced_chunks, 0, "nothing left to free");
	(void)ida;

	/*
	 * Copies beyond the factor (gc_trim.c): b's chunks, as if other nodes
	 * owned them.  The grace counts from the first sight, stops when they
	 * are no longer candidates, and an open version keeps them.
	 */
	{
		struct mfs_gc_trim_result tr = { 0 };
		struct mfs_manifest *m;
		struct mfs_hash *hs;
		uint64_t *bytes, t = o.now + 1000;
		uint8_t *due;
		uint32_t nb;
		int ndue = 0;

		if (mfs_manifest_load(db, &idb, &m))
			tap_bail("no manifest of b");
		nb = m->count;
		hs = calloc(nb, sizeof(*hs));
		bytes = calloc(nb, sizeof(*bytes));
		due = calloc(nb, 1);
		if (!hs || !bytes || !due)
			tap_bail("oom");
		for (uint32_t i = 0; i < nb; i++) {
			hs[i] = m->e[i].hash;
			bytes[i] = m->e[i].len;
		}
		mfs_manifest_unref(m); /* held, it would pin b's chunks */
		is_int(mfs_gc_trim_marks(ns, hs, bytes, nb, t, 100, due, &tr), 0, "trim: first sight at t");
		is_int(tr.held_grace, nb, "every copy held by the grace");
		memset(&tr, 0, sizeof(tr));
		is_int(mfs_gc_trim_marks(ns, hs, bytes, nb, t + 60, 100, due, &tr), 0, "t+60");
		is_int(tr.held_grace, nb, "still held");
		is_int(mfs_gc_trim_marks(ns, NULL, NULL, 0, t + 70, 100, due, &tr), 0,
		       "t+70: no longer candidates (the factor raised back)");
		memset(&tr, 0, sizeof(tr));
		is_int(mfs_gc_trim_marks(ns, hs, bytes, nb, t + 120, 100, due, &tr), 0,
		       "t+120: candidates again");
		is_int(tr.held_grace, nb, "the grace started again (not due at t+120)");
		memset(&tr, 0, sizeof(tr));
		is_int(mfs_gc_trim_marks(ns, hs, bytes, nb, t + 220, 100, due, &tr), 0, "t+220");
		for (uint32_t i = 0; i < nb; i++)
			ndue += due[i];
		is_int(ndue, nb, "all due 100 s after the second first sight");
		is_int(mfs_manifest_load(db, &idb, &held), 0, "hold b's manifest (a reader)");
		memset(&tr, 0, sizeof(tr));
		is_int(mfs_gc_drop_copies(ns, hs, nb, &tr), 0, "drop while open");
		ok(tr.held_open == nb && tr.dropped == 0 && all_stored(db, &idb), "b kept: it is open");
		mfs_manifest_unref(held);
		is_int(mfs_gc_drop_copies(ns, hs, nb, &tr), 0, "drop after the release");
		ok(tr.dropped == nb && tr.dropped_bytes > 0, "b's copies dropped (%llu bytes)",
		   (unsigned long long)tr.dropped_bytes);
		for (uint32_t i = 0; i < nb; i++)
			ndue -= mfs_chunk_exists(db, &hs[i]) == 0;
		is_int(ndue, 0, "none left in the store");
		memset(&tr, 0, sizeof(tr));
		is_int(mfs_gc_trim_marks(ns, NULL, NULL, 0, t + 230, 100, due, &tr), 0,
		       "no candidates: the marks go");
		free(hs);
		free(bytes);
		free(due);
	}

	{
		struct mfs_gc_mark *m = calloc(1, sizeof(*m));
		uint8_t bad[12] = { 3 };

		is_int(mfs_gc_mark_decode(bad, sizeof(bad), m), MFS_EFORMAT, "mark: unknown version");
		bad[0] = 1;
		is_int(mfs_gc_mark_decode(bad, sizeof(bad), m), MFS_EFORMAT,
		       "mark: version 1 (16-bit origins, converted at open) is not read");
		bad[0] = 2;
		bad[2] = 1;      /* one vv entry announced, none there */
		is_int(mfs_gc_mark_decode(bad, sizeof(bad), m), MFS_EFORMAT, "mark: short");
		bad[2] = 0;
		is_int(mfs_gc_mark_decode(bad, sizeof(bad), m), 0, "mark: empty vv");
		free(m);
	}
	mfs_ns_close(ns);
	mfs_db_close(db);
	free(a);
	free(b);
	free(peer);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		return 1;
	return done_testing();
}
