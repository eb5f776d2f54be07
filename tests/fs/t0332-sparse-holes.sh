#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Sparse files cost what their data costs (manifest holes, doc/format.md):
#  - truncate -s 1T of a new file, then `echo x >>` it: the sizes, the
#    last bytes, st_blocks 0 and then a few blocks, the store's hole_bytes;
#  - a 1 TiB file written by Python with data at 0, 200 GiB, 600 GiB and
#    its last bytes (tests/fs/sparse.py): the data and the zeros around it
#    and in its holes read back exact, lseek SEEK_DATA / SEEK_HOLE find the
#    data extents, st_blocks counts about the data; rewritten at 300 GiB
#    through r+b (the old version's holes are not copied in);
#  - 64 MiB of written zeros, fallocate -l 8G and of 60% of the free space
#    (it allocates nothing), cp --sparse=auto of a sparse file off the mount
#    (which finds its data by SEEK_DATA);
#  - the store holds a few chunks and a few MiB for all of it; after a
#    remount, fsck and gc, everything reads back the same.
# No timings: the store's counts and st_blocks say the holes were skipped,
# and the 1 TiB files would not be written within the test's timeout if
# their zeros were read, cut and hashed (about 95 s a TiB before).
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
SPARSE_PY=$(dirname "$0")/sparse.py
sparse() { "$PY" "$SPARSE_PY" "$@"; }
TiB=$((1024 * 1024 * MiB))
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

# blocks_at_most FILE BYTES: st_blocks * 512 of FILE is at most BYTES.
blocks_at_most() {
	local b
	b=$(stat -c %b "$1") || return 1
	[ $((b * 512)) -le "$2" ] && return 0
	echo "$1: st_blocks $b ($((b * 512)) bytes), want at most $2 bytes" >&2
	return 1
}

# store_small: the store's chunks, bytes and holes for what the files hold.
store_small() {
	local js holes stored chunks
	js=$(admin status --json "$M") || return 1
	holes=$(json_get hole_bytes <<<"$js") &&
	stored=$(json_get stored_bytes <<<"$js") &&
	chunks=$(json_get chunks <<<"$js") || return 1
	note "hole_bytes $holes stored_bytes $stored chunks $chunks"
	[ "$holes" -ge $((2 * TiB - 64 * MiB)) ] || { echo "hole_bytes $holes" >&2; return 1; }
	[ "$stored" -le $((64 * MiB)) ] || { echo "stored_bytes $stored" >&2; return 1; }
	[ "$chunks" -le 40 ] || { echo "chunks $chunks" >&2; return 1; }
}

truncate_1t() {
	truncate -s 1T "$M/big" &&
	expect_eq "$(stat -c %s "$M/big")" "$TiB" "size" &&
	expect_eq "$(stat -c %b "$M/big")" 0 "st_blocks" &&
	expect_eq "$(mfs_finfo "$M/big" hole_bytes)" "$TiB" "info hole_bytes" &&
	expect_eq "$(mfs_finfo "$M/big" chunks)" 0 "info chunks"
}
check "truncate -s 1T: 1 TiB of holes, no block, no chunk" truncate_1t

append_x() {
	echo x >>"$M/big" &&
	expect_eq "$(stat -c %s "$M/big")" $((TiB + 2)) "size" &&
	expect_eq "$(tail -c 2 "$M/big" | od -An -c | tr -d ' ')" 'x\n' "last bytes" &&
	blocks_at_most "$M/big" $((4 * MiB)) &&
	expect_eq "$(dd if="$M/big" bs=1M skip=$((512 * 1024)) count=1 status=none | tr -d '\0' | wc -c)" 0 \
		"a MiB at 512 GiB is zeros"
}
check "echo x >> the 1 TiB file: appended, still a few blocks" append_x

py_sparse() {
	sparse write "$M/sp" && sparse verify "$M/sp" >&2 &&
	blocks_at_most "$M/sp" $((64 * MiB))
}
check "Python writes 1 TiB with data at 4 offsets: data, zeros, SEEK_DATA/SEEK_HOLE" py_sparse

py_rewrite() {
	sparse rewrite "$M/sp" && sparse verify "$M/sp" --rewritten >&2 &&
	blocks_at_most "$M/sp" $((80 * MiB))
}
check "rewritten at 300 GiB through r+b: the old data and the new" py_rewrite

zeros_fallocate() {
	head -c $((64 * MiB)) /dev/zero >"$M/zeros" &&
	expect_eq "$(stat -c %s "$M/zeros")" $((64 * MiB)) "size of zeros" &&
	blocks_at_most "$M/zeros" 0 &&
	fallocate -l 8G "$M/fa" &&
	expect_eq "$(stat -c %s "$M/fa")" $((8 * 1024 * MiB)) "size of fa" &&
	blocks_at_most "$M/fa" 0
}
check "64 MiB of written zeros and fallocate -l 8G: holes too" zeros_fallocate

# fallocate allocates nothing in the staged file: its zeros are holes.  When
# it allocated them on disk, the commit's space check counted them again:
# more than half the free space failed with ENOSPC (fallocate -l 64G, 76 GiB free).
fallocate_big() {
	local avail len
	avail=$(df -B1 --output=avail "$D" | tail -n 1) || return 1
	len=$((avail * 6 / 10 / MiB * MiB))
	fallocate -l "$len" "$M/fa_big" &&
	expect_eq "$(stat -c %s "$M/fa_big")" "$len" "size" &&
	blocks_at_most "$M/fa_big" 0 &&
	rm "$M/fa_big"
}
check "fallocate of 60% of the store's free space: no ENOSPC" fallocate_big

# fallocate -z (ZERO_RANGE), as ext4 and xfs take it: the range reads as
# zeros, the size grows past the end unless -n (KEEP_SIZE), and the zeros
# are holes.  Before, it was refused (EOPNOTSUPP), as tmpfs refuses it.
zero_range() {
	randfile "$WORK/zr" $((3 * MiB)) &&
	cp "$WORK/zr" "$M/zr" &&
	fallocate -z -o $((1 * MiB)) -l $((1 * MiB)) "$M/zr" &&
	fallocate -z -o $((3 * MiB - 100)) -l $((2 * MiB)) "$M/zr" &&
	fallocate -z -n -o $((5 * MiB)) -l $((4 * MiB)) "$M/zr" &&
	expect_eq "$(stat -c %s "$M/zr")" $((5 * MiB - 100)) "size of zr" &&
	{
		head -c $((1 * MiB)) "$WORK/zr" && head -c $((1 * MiB)) /dev/zero &&
			tail -c +$((2 * MiB + 1)) "$WORK/zr" | head -c $((1 * MiB - 100)) &&
			head -c $((2 * MiB)) /dev/zero
	} >"$WORK/zr.want" && cmp "$M/zr" "$WORK/zr.want"
}
check "fallocate -z zeroes a range; the size grows unless -n" zero_range

# 256 MiB, not 2 GiB: the holes are what counts, and cmp reads the whole file.
cp_sparse() {
	truncate -s 256M "$M/two" &&
	printf 'middle' | dd of="$M/two" bs=1 seek=$((128 * MiB)) conv=notrunc status=none &&
	cp --sparse=auto "$M/two" "$WORK/two.copy" &&
	blocks_at_most "$WORK/two.copy" $((4 * MiB)) &&
	cmp "$M/two" "$WORK/two.copy"
}
check "cp --sparse=auto off the mount keeps the holes" cp_sparse

check "the store holds a few chunks for 2 TiB of holes" store_small

all_again() {
	expect_eq "$(stat -c %s "$M/big")" $((TiB + 2)) "size of big" &&
	blocks_at_most "$M/big" $((4 * MiB)) &&
	expect_eq "$(tail -c 2 "$M/big" | od -An -c | tr -d ' ')" 'x\n' "last bytes of big" &&
	sparse verify "$M/sp" --rewritten >&2 &&
	blocks_at_most "$M/sp" $((80 * MiB)) &&
	blocks_at_most "$M/fa" 0 &&
	cmp "$M/zr" "$WORK/zr.want" &&
	expect_eq "$(dd if="$M/two" bs=1 skip=$((128 * MiB)) count=6 status=none)" middle "two" &&
	store_small
}
check "remount: sizes, blocks, data and holes as before" mfs_remount "$M"
check "after the remount" all_again
check "fsck: healthy" admin fsck "$M"
check "gc" admin gc --apply --grace 0 "$M"
check "after gc" all_again

mfs_done
