/* SPDX-License-Identifier: Apache-2.0 */
/* Manifests: encode/decode round trip, lookup by offset, malformed input. */
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

		memset(h.b, (int)i, sizeof(h.b));
		mfs_manifest_append(m, &h, 1000 + i);
	}
	return m;
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
	return done_testing();
}
