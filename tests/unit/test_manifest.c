/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Manifests: encode/decode round trip, lookup by offset, malformed input;
 * holes: version 2 exactly when there are some, entries that do not
 * depend on how a run of zeros was appended.
 */
#include <string.h>

#include "store/base/bytes.h"
#include "store/base/errors.h"
#include "store/chunk/manifest.h"
#include "tap.h"

static struct mfs_manifest *sample(uint32_t n)
{
	struct mfs_manifest *m = mfs_manifest_new();

	for (uint32_t i = 0; i < n; i++) {
		struct mfs_hash h;

		memset(h.b, (int)i + 1, sizeof(h.b)); /* all zero would be a hole */
		mfs_manifest_append(m, &h, 1000 + i);
	}
	return m;
}

/* The encoding of m, in *w (the caller releases it). */
static void encode(const struct mfs_manifest *m, struct mfs_wr *w)
{
	*w = (struct mfs_wr){ 0 };
	mfs_manifest_encode(m, w);
}

static void holes(void)
{
	struct mfs_manifest *a = sample(3), *b = sample(3), *d = NULL;
	uint64_t total = 3ull * MFS_MANIFEST_HOLE_MAX + 12345;
	struct mfs_hash h;
	struct mfs_wr wa, wb, w1;
	int same;

	encode(a, &w1);
	is_int(w1.buf[0], MFS_MANIFEST_VERSION, "a manifest without holes is version 1");
	/* One run of zeros appended whole, or in uneven pieces: the same entries. */
	mfs_manifest_append_hole(a, total);
	for (uint64_t left = total, piece = 4096; left; piece = piece * 7 + 1) {
		uint64_t take = piece < left ? piece : left;

		mfs_manifest_append_hole(b, take);
		left -= take;
	}
	memset(h.b, 0x5a, sizeof(h.b));
	mfs_manifest_append(a, &h, 10);
	mfs_manifest_append(b, &h, 10);
	mfs_manifest_append_hole(a, 1);
	mfs_manifest_append_hole(b, 1);
	encode(a, &wa);
	encode(b, &wb);
	same = wa.len == wb.len && !memcmp(wa.buf, wb.buf, wa.len);
	ok(same, "a run of zeros appended in pieces encodes as appended whole");
	is_int(a->count, 3 + 4 + 1 + 1, "holes fill entries of MFS_MANIFEST_HOLE_MAX");
	ok(a->hole_bytes == total + 1 && mfs_manifest_data_bytes(a) == a->size - total - 1,
	   "hole bytes counted");
	is_int(wa.buf[0], MFS_MANIFEST_VERSION_HOLES, "a manifest with holes is version 2");
	is_int(mfs_manifest_decode(wa.buf, wa.len, &d), 0, "a manifest with holes decodes");
	ok(d && d->count == a->count && d->hole_bytes == a->hole_bytes && d->size == a->size &&
	   mfs_manifest_is_hole(&d->e[3]) && !mfs_manifest_is_hole(&d->e[2]) &&
	   mfs_manifest_find(d, a->off[4] - 1) == 3, "its holes survive");
	mfs_manifest_unref(d);
	/* Version 1 with a hole entry, or 2 without one or with a wrong count: two ids. */
	wa.buf[0] = MFS_MANIFEST_VERSION;
	ok(mfs_manifest_decode(wa.buf, wa.len, &d) == MFS_EFORMAT, "version 1 with a hole rejected");
	wa.buf[0] = MFS_MANIFEST_VERSION_HOLES;
	wa.buf[16] ^= 1;
	ok(mfs_manifest_decode(wa.buf, wa.len, &d) == MFS_EFORMAT, "wrong hole_bytes rejected");
	w1.buf[0] = MFS_MANIFEST_VERSION_HOLES;
	ok(mfs_manifest_decode(w1.buf, w1.len, &d) == MFS_EFORMAT, "version 2 without holes rejected");
	mfs_wr_release(&wa);
	mfs_wr_release(&wb);
	mfs_wr_release(&w1);
	mfs_manifest_unref(a);
	mfs_manifest_unref(b);
}

int main(void)
{
	struct mfs_manifest *m = sample(100), *d = NULL;
	struct mfs_wr w = { 0 };
	uint8_t bad[64];
	int rc;

	mfs_manifest_encode(m, &w);
	rc = mfs_manifest_decode(w.buf, w.len, &d);
	is_int(rc, 0, "decode of an encoded manifest");
	ok(d && d->count == 100 && d->size == m->size, "count and size survive");
	ok(d && !memcmp(d->e, m->e, 100 * sizeof(*d->e)), "entries survive");
	is_int(mfs_manifest_find(m, 0), 0, "offset 0 is in chunk 0");
	is_int(mfs_manifest_find(m, 999), 0, "last byte of chunk 0");
	is_int(mfs_manifest_find(m, 1000), 1, "first byte of chunk 1");
	is_int(mfs_manifest_find(m, m->size - 1), 99, "last byte is in the last chunk");
	mfs_manifest_unref(d);

	/* Every truncation must be rejected, never read past the end. */
	for (size_t cut = 0; cut < w.len; cut += 7) {
		if (mfs_manifest_decode(w.buf, cut, &d) == 0) {
			ok(0, "truncated manifest (%zu bytes) accepted", cut);
			mfs_manifest_unref(d);
			break;
		}
	}
	ok(1, "all truncations rejected");
	w.buf[12] ^= 1; /* size no longer matches the sum of lengths */
	is_int(mfs_manifest_decode(w.buf, w.len, &d), MFS_EFORMAT, "size mismatch rejected");
	w.buf[12] ^= 1;
	w.buf[0] = 9;
	is_int(mfs_manifest_decode(w.buf, w.len, &d), MFS_EFORMAT, "unknown version rejected");
	memset(bad, 0xff, sizeof(bad));
	bad[0] = 1;
	is_int(mfs_manifest_decode(bad, sizeof(bad), &d), MFS_EFORMAT, "huge count rejected");
	mfs_wr_release(&w);
	mfs_manifest_unref(m);
	holes();
	return done_testing();
}
