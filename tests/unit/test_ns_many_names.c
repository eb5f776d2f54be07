/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One file with as many names as a record may list (MFS_LINK_MAX), linked
 * and unlinked in a scrambled order, mixed with renames: after each step
 * its record lists exactly the names the test made, nlink counts them, and
 * every name leads to it; a peer that applies the ops holds the same.  An
 * unlink trusts a list it saw true (namespace.c, "Lists seen true"), so
 * this also checks what must make it look again: a peer's op that leaves
 * a name listed that leads elsewhere.  B makes f with names, A (not f's
 * maker, so no repair of A's runs) links and unlinks one, and so has seen
 * f's list true; then B unlinks g while A, later by the clock, links f as
 * k.  A's record wins on A and lists g, whose entry B's op deleted.  A's
 * unlinks of the other names must count only the names that lead: the
 * record goes with the last of them, not kept for g (a file no path
 * shows), and nlink is right after each.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/kv/db.h"
#include "store/ns/namespace.h"
#include "ns_sides.h"
#include "tap.h"

#define NAMES MFS_LINK_MAX

/* to applies every op of from's own (already applied ones are skipped). */
static int send(struct side *from, struct side *to)
{
	return mfs_ns_ops_since(from->ns, mfs_ns_node_id(from->ns), 0, apply_cb, to->ns);
}

static void open_side(struct side *s)
{
	if (mfs_db_open_mem(&s->db) || mfs_ns_open(s->db, &s->ns))
		tap_bail("a store");
}

static void close_side(struct side *s)
{
	mfs_ns_close(s->ns);
	mfs_db_close(s->db);
}

static void name_of(int i, char *out, size_t n)
{
	snprintf(out, n, "n%04d", i);
}

/*
 * Does f's record on s list exactly the names i with have[i] set (and
 * nlink count them), each leading to f?  Messages say what differs.
 */
static int record_is(struct side *s, uint64_t f, const unsigned char *have)
{
	struct mfs_inode in;
	int want = 0, bad = 0;

	for (int i = 0; i < NAMES; i++)
		want += have[i];
	if (mfs_ns_get(s->ns, f, &in))
		return want ? (printf("# f's record is gone, %d names wanted\n", want), 0) : 1;
	if (!want) {
		printf("# f's record remains, nlink %u\n", in.nlink);
		mfs_inode_release(&in);
		return 0;
	}
	if (in.nlink != (uint32_t)want || in.nlinks + 1 != (uint32_t)want) {
		printf("# nlink %u, %u names listed, %d wanted\n", in.nlink, in.nlinks + 1, want);
		bad = 1;
	}
	for (int i = 0; i < NAMES && !bad; i++) {
		struct mfs_inode e;
		char nm[16];

		name_of(i, nm, sizeof(nm));
		if (mfs_inode_has_name(&in, MFS_ROOT_INO, nm) != have[i]) {
			printf("# %s: listed %d, wanted %d\n", nm, !have[i], have[i]);
			bad = 1;
		} else if (have[i] && (mfs_ns_lookup(s->ns, MFS_ROOT_INO, nm, &e) || e.ino != f)) {
			printf("# %s does not lead to f\n", nm);
			bad = 1;
		} else if (have[i]) {
			mfs_inode_release(&e);
		}
	}
	mfs_inode_release(&in);
	return !bad;
}

/* A fixed scramble of 0..NAMES-1 (a multiplier prime to NAMES). */
static int scrambled(int i)
{
	return (i * 617 + 311) % NAMES;
}

static void many_names(void)
{
	struct side a = { 0 }, b = { 0 };
	unsigned char have[NAMES] = { 0 };
	int i, steps_ok = 1, linked = 1;
	uint64_t f;
	char nm[16], nm2[16];

	open_side(&a);
	open_side(&b);
	name_of(0, nm, sizeof(nm));
	f = mk(a.ns, MFS_ROOT_INO, nm, S_IFREG | 0644);
	have[0] = f != 0;
	for (i = 1; i < NAMES && f; i++) {
		name_of(i, nm, sizeof(nm));
		if (mfs_ns_link(a.ns, f, MFS_ROOT_INO, nm, NULL))
			break;
		have[i] = 1;
		linked++;
	}
	is_int(linked, NAMES, "f gets %d names", NAMES);
	is_int(mfs_ns_link(a.ns, f, MFS_ROOT_INO, "one-more", NULL), -EMLINK,
	       "one more name: EMLINK");
	ok(record_is(&a, f, have), "f lists its %d names, nlink %d", NAMES, NAMES);
	/* Unlink half, in a scrambled order; every 10th step renames a name instead. */
	for (i = 0; i < NAMES / 2 && steps_ok; i++) {
		int k = scrambled(i);

		name_of(k, nm, sizeof(nm));
		if (i % 10 == 9 && have[k]) {
			int to = scrambled(NAMES - 1 - i);

			if (have[to])
				continue;
			name_of(to, nm2, sizeof(nm2));
			steps_ok = !mfs_ns_rename(a.ns, MFS_ROOT_INO, nm, MFS_ROOT_INO, nm2, 0, NULL);
			have[k] = 0;
			have[to] = 1;
		} else if (have[k]) {
			steps_ok = !mfs_ns_remove(a.ns, MFS_ROOT_INO, nm, 0, NULL);
			have[k] = 0;
		}
		if (steps_ok && i % 50 == 0)
			steps_ok = record_is(&a, f, have);
		if (!steps_ok)
			printf("# at step %d (%s)\n", i, nm);
	}
	ok(steps_ok && record_is(&a, f, have), "half the names unlinked or renamed: f lists the rest");
	is_int(send(&a, &b), 0, "B applies A's ops");
	ok(record_is(&b, f, have), "B: f lists the same names, same nlink");
	/* The rest go; the record goes with the last. */
	for (i = NAMES / 2; i < 2 * NAMES && steps_ok; i++) {
		int k = scrambled(i % NAMES);

		if (!have[k])
			continue;
		name_of(k, nm, sizeof(nm));
		steps_ok = !mfs_ns_remove(a.ns, MFS_ROOT_INO, nm, 0, NULL);
		have[k] = 0;
		if (steps_ok && i % 97 == 0)
			steps_ok = record_is(&a, f, have);
	}
	ok(steps_ok && record_is(&a, f, have), "every name unlinked: f's record is gone");
	is_int(send(&a, &b), 0, "B applies them");
	ok(record_is(&b, f, have), "B: f's record is gone");
	close_side(&a);
	close_side(&b);
}

/*
 * n links of f as x and unlinks of x: s's clock moves on, its tree does not
 * change, and (a create would not do) s keeps f's list as seen true.
 */
static int churn(struct side *s, uint64_t f, int n)
{
	for (int i = 0; i < n; i++)
		if (mfs_ns_link(s->ns, f, MFS_ROOT_INO, "x", NULL) ||
		    mfs_ns_remove(s->ns, MFS_ROOT_INO, "x", 0, NULL))
			return -1;
	return 0;
}

static void stale_name_after_trust(void)
{
	struct side a = { 0 }, b = { 0 };
	struct mfs_inode in;
	uint64_t f;

	open_side(&a);
	open_side(&b);
	f = mk(b.ns, MFS_ROOT_INO, "f", S_IFREG | 0644);
	ok(f && !mfs_ns_link(b.ns, f, MFS_ROOT_INO, "g", NULL) &&
	   !mfs_ns_link(b.ns, f, MFS_ROOT_INO, "h", NULL) && !send(&b, &a),
	   "B makes f with names f, g, h; A gets them");
	ok(!mfs_ns_link(a.ns, f, MFS_ROOT_INO, "x", NULL) &&
	   !mfs_ns_remove(a.ns, MFS_ROOT_INO, "x", 0, NULL) && nlink_of(a.ns, f) == 3,
	   "A links f as x and unlinks x: it has seen f's list true");
	is_int(mfs_ns_remove(b.ns, MFS_ROOT_INO, "g", 0, NULL), 0, "B unlinks g");
	ok(!churn(&a, f, 10) && !mfs_ns_link(a.ns, f, MFS_ROOT_INO, "k", NULL),
	   "A, later by the clock, links f as k (it has not seen the unlink)");
	is_int(send(&b, &a), 0, "A applies B's unlink: its record, the later, still lists g");
	ok(mfs_ns_get(a.ns, f, &in) == 0 && mfs_inode_has_name(&in, MFS_ROOT_INO, "g") &&
	   mfs_ns_lookup(a.ns, MFS_ROOT_INO, "g", &(struct mfs_inode){ 0 }) == -ENOENT,
	   "A: f lists g, whose entry is gone");
	mfs_inode_release(&in);
	is_int(mfs_ns_remove(a.ns, MFS_ROOT_INO, "h", 0, NULL), 0, "A unlinks h");
	is_int(nlink_of(a.ns, f), 2, "A: f's nlink 2 (f and k; g no longer listed)");
	is_int(mfs_ns_remove(a.ns, MFS_ROOT_INO, "f", 0, NULL), 0, "A unlinks f");
	is_int(nlink_of(a.ns, f), 1, "A: f's nlink 1 (k)");
	is_int(mfs_ns_remove(a.ns, MFS_ROOT_INO, "k", 0, NULL), 0, "A unlinks k, its last name");
	is_int(mfs_ns_get(a.ns, f, &in), -ENOENT, "A: f's record went with its last name");
	close_side(&a);
	close_side(&b);
}

int main(void)
{
	many_names();
	stale_name_after_trust();
	return done_testing();
}
