/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one hash + LRU table (store/base/lru.h) and the disk cache built on it:
 * find, oldest-first order, cold pushes, unlink while in use, take_all; then
 * the disk cache's eviction by bytes in LRU order, a get that refreshes, a
 * damaged file that is a miss and forgotten, and a reopen that rebuilds the
 * table from the files by their last use.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/base/hash.h"
#include "store/base/lru.h"
#include "store/chunk/codec.h"
#include "replica/diskcache.h"
#include "tap.h"

#define LEN 4096

struct item {
	int id;
	struct mfs_lru_node node;
};

static struct mfs_hash key(int i)
{
	struct mfs_hash h;

	memset(&h, 0, sizeof(h));
	h.b[0] = (uint8_t)i;             /* same bucket for i and i + 4096*k: chains */
	h.b[31] = (uint8_t)(i >> 8);
	return h;
}

static int id_of(struct mfs_lru_node *n)
{
	return n ? mfs_lru_entry(n, struct item, node)->id : -1;
}

static void test_table(void)
{
	static struct mfs_lru t;
	struct item it[5];
	struct mfs_lru_node *all;
	int n = 0;

	mfs_lru_init(&t);
	ok(!mfs_lru_oldest(&t), "empty table has no oldest");
	for (int i = 0; i < 5; i++) {
		it[i].id = i;
		it[i].node.key = key(i * 256); /* b[0] equal: one bucket chain */
		mfs_lru_insert(&t, &it[i].node);
		mfs_lru_push(&t, &it[i].node, 0);
	}
	is_int(id_of(mfs_lru_find(&t, &it[3].node.key)), 3, "find in a shared chain");
	is_int(id_of(mfs_lru_oldest(&t)), 0, "oldest is the first pushed");
	mfs_lru_push(&t, &it[4].node, 0);
	is_int(id_of(mfs_lru_oldest(&t)), 0, "a push of the newest keeps it newest");
	mfs_lru_push(&t, &it[0].node, 0);
	is_int(id_of(mfs_lru_oldest(&t)), 1, "a push refreshes: 1 is oldest now");
	mfs_lru_push(&t, &it[1].node, 1);
	is_int(id_of(mfs_lru_oldest(&t)), 1, "a cold push of the oldest keeps it oldest");
	mfs_lru_push(&t, &it[4].node, 1);
	is_int(id_of(mfs_lru_oldest(&t)), 4, "a cold push goes to the evicting end");
	mfs_lru_unlink(&it[4].node);
	ok(!mfs_lru_listed(&it[4].node) && mfs_lru_find(&t, &it[4].node.key),
	   "unlinked: off the list, still found");
	mfs_lru_unlink(&it[4].node); /* twice is harmless */
	is_int(id_of(mfs_lru_oldest(&t)), 1, "unlinked node is never the oldest");
	mfs_lru_remove(&t, &it[2].node);
	ok(!mfs_lru_find(&t, &it[2].node.key), "removed: not found");
	ok(mfs_lru_find(&t, &it[3].node.key) && mfs_lru_find(&t, &it[1].node.key),
	   "removal keeps the rest of its chain");
	for (struct mfs_lru_node *u = mfs_lru_oldest(&t); u; u = mfs_lru_newer(&t, u))
		n = n * 10 + id_of(u);
	is_int(n, 130, "list order oldest to newest: 1, 3, 0");
	n = 0;
	for (all = mfs_lru_take_all(&t); all; all = all->hnext)
		n++;
	is_int(n, 4, "take_all returns every node in the table, listed or not");
	ok(!mfs_lru_oldest(&t) && !mfs_lru_find(&t, &it[1].node.key), "table empty after take_all");
}

/* A raw chunk record of LEN bytes of value seed, and its name. */
static size_t record(struct mfs_codec_ctx *ctx, int seed, uint8_t *rec, size_t cap, struct mfs_hash *h)
{
	uint8_t raw[LEN];

	for (int i = 0; i < LEN; i++)
		raw[i] = (uint8_t)(seed * 31 + i);
	if (mfs_sha256(raw, LEN, h))
		tap_bail("sha256");
	ssize_t n = mfs_chunk_encode(ctx, raw, LEN, rec, cap, MFS_CODEC_RAW);
	if (n < 0)
		tap_bail("encode");
	return (size_t)n;
}

static void test_diskcache(void)
{
	struct mfs_codec_ctx *ctx = mfs_codec_ctx_new();
	size_t cap = mfs_chunk_record_bound(LEN), len[4], got_len;
	uint8_t *rec = malloc(cap), *got;
	char dir[] = "/tmp/mfs-test-lru.XXXXXX", path[256], hex[MFS_HASH_HEX_LEN + 1];
	struct mfs_diskcache *dc;
	struct mfs_diskcache_stats st;
	struct mfs_hash h[4];

	if (!ctx || !rec || !mkdtemp(dir))
		tap_bail("setup");
	strcat(dir, "/dc");
	for (int i = 0; i < 4; i++)
		len[i] = record(ctx, i, rec, cap, &h[i]);
	/* Room for three records. */
	if (mfs_diskcache_open(dir, 3 * len[0] + len[0] / 2, &dc))
		tap_bail("open");
	for (int i = 0; i < 3; i++) {
		record(ctx, i, rec, cap, &h[i]);
		ok(!mfs_diskcache_put(dc, &h[i], rec, len[i]), "put %d", i);
	}
	ok(!mfs_diskcache_get(dc, &h[0], &got, &got_len) && got_len == len[0], "get 0 (now newest)");
	free(got);
	ok(!mfs_diskcache_get(dc, &h[0], &got, &got_len), "get 0 again (the newest already)");
	free(got);
	record(ctx, 3, rec, cap, &h[3]);
	ok(!mfs_diskcache_put(dc, &h[3], rec, len[3]), "put 3: over the limit");
	ok(!mfs_diskcache_has(dc, &h[1]), "the least recently used (1) was evicted");
	ok(mfs_diskcache_has(dc, &h[0]) && mfs_diskcache_has(dc, &h[2]) && mfs_diskcache_has(dc, &h[3]),
	   "0, 2 and 3 stay");
	mfs_diskcache_stats(dc, &st);
	is_int(st.files, 3, "three files tracked");
	is_int(st.evicted, 1, "one eviction counted");

	/* A damaged file is a miss, and forgotten. */
	mfs_hash_to_hex(&h[2], hex);
	snprintf(path, sizeof(path), "%s/%s", dir, hex);
	int fd = open(path, O_WRONLY);
	ok(fd >= 0 && pwrite(fd, "XXXX", 4, 40) == 4, "damage the file of 2");
	if (fd >= 0)
		close(fd);
	ok(mfs_diskcache_get(dc, &h[2], &got, &got_len) < 0, "a damaged record is not served");
	ok(!mfs_diskcache_has(dc, &h[2]), "and is forgotten");
	mfs_diskcache_close(dc);

	if (mfs_diskcache_open(dir, 1 << 20, &dc))
		tap_bail("reopen");
	mfs_diskcache_stats(dc, &st);
	is_int(st.files, 2, "reopen finds the two files left");
	ok(mfs_diskcache_has(dc, &h[0]) && mfs_diskcache_has(dc, &h[3]), "by their names");
	mfs_diskcache_close(dc);
	mfs_codec_ctx_free(ctx);
	free(rec);
	snprintf(path, sizeof(path), "rm -rf %.*s", (int)(strlen(dir) - 3), dir);
	if (system(path))
		printf("# could not remove %s\n", dir);
}

int main(void)
{
	test_table();
	test_diskcache();
	return done_testing();
}
