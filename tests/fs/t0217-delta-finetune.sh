#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Fine-tunes stored as deltas against their base, through a real mount
# (store/chunk/delta.h, doc/format.md "Delta records").  The pair is real:
# a base of real trained weights and the same tensors after 3 Adam steps
# (tests/bench/make_finetune.py; skipped without python3 + torch; without
# the weights pool, as on a fresh CI machine, a synthetic Gaussian base):
#  - a fine-tune written with the xattr user.modelfs.base naming its base
#    adds at most 0.6x its size to the store (FP32) and reads back exact;
#  - a fine-tune written over its base (FP16 pair) is stored as deltas of
#    the version it replaces, and reads back exact;
#  - with the base file deleted, gc keeps the bases: after gc and a
#    remount both fine-tunes read back exact, fsck is clean;
#  - with a base chunk dropped from the store, fsck reports it and a read
#    of the fine-tune fails with EIO: never wrong bytes.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
[ -x "$CHUNK_TOOL" ] || skip_all "no $CHUNK_TOOL (make check builds it)"
"$PY" -c 'import torch' 2>/dev/null || skip_all "no torch for $PY"

M=$WORK/mnt
D=$WORK/data
S=$WORK/src
mkdir -p "$S"
pair() { # DTYPE LR
	"$PY" "$MFS_SRC/tests/bench/make_finetune.py" --pool "${MFS_WEIGHTS_DIR:-/var/tmp/modelfs-weights}/pool" \
		--base "$S/base-$1.st" --tune "$S/tune-$1.st" --dtype "$1" --lr "$2" --layers 12 >&2
}
check "a real fine-tune pair, FP32 and FP16" eval 'pair f32 1e-5 && pair f16 1e-4' ||
	mfs_abort "no pair"
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"


with_xattr() {
	local st size
	cp "$S/base-f32.st" "$M/base.st" &&
	touch "$M/tune.st" && setfattr -n user.modelfs.base -v /base.st "$M/tune.st" &&
	expect_eq "$(getfattr --absolute-names --only-values -n user.modelfs.base "$M/tune.st")" \
		/base.st "xattr" &&
	cp "$S/tune-f32.st" "$M/tune.st" && st=$(mfs_finfo "$M/tune.st" stored_bytes) || return 1
	size=$(stat -c %s "$S/tune-f32.st")
	note "fp32 fine-tune: $st stored bytes for $size, $(mfs_finfo "$M/tune.st" codec_chunks.delta) delta chunks"
	[ "$st" -le $((size * 6 / 10)) ] ||
		{ echo "fine-tune stored $st bytes for $size, want <= 0.6x" >&2; return 1; }
	expect_sha "$M/tune.st" "$(file_sha "$S/tune-f32.st")"
}
check "FP32 fine-tune named its base by xattr: stored at <= 0.6x, reads back" with_xattr

# The base read first (a fresh daemon: nothing cached), then the fine-tune:
# its deltas take the base chunks decoded in the memory cache (cache.c note
# 6) and still read back exact.
base_cached() {
	local n0 n1
	mfs_remount "$M" && cat "$M/base.st" >/dev/null &&
	expect_status 0 admin status --json "$M" && n0=$(json_get cache_delta_bases <"$WORK/.cmd.out") &&
	expect_sha "$M/tune.st" "$(file_sha "$S/tune-f32.st")" &&
	expect_status 0 admin status --json "$M" && n1=$(json_get cache_delta_bases <"$WORK/.cmd.out") ||
		return 1
	note "bases from the cache: $n0 before the fine-tune's read, $n1 after"
	[ "$n0" = 0 ] && [ "$n1" -gt 0 ]
}
check "base read, then its fine-tune: bases taken from the memory cache, reads exact" base_cached

over_base() {
	local base st size
	cp "$S/base-f16.st" "$M/over.st" && base=$(mfs_finfo "$M/over.st" stored_bytes) &&
	cp "$S/tune-f16.st" "$M/over.st" && st=$(mfs_finfo "$M/over.st" stored_bytes) || return 1
	size=$(stat -c %s "$S/tune-f16.st")
	note "fp16 fine-tune over its base: $st stored bytes for $size (base: $base), $(
		mfs_finfo "$M/over.st" codec_chunks.delta) delta chunks"
	# Deltas must beat the plain codecs on the base by a real margin.
	[ "$st" -le $((base * 7 / 8)) ] ||
		{ echo "fine-tune over its base stored $st bytes, its base $base" >&2; return 1; }
	expect_sha "$M/over.st" "$(file_sha "$S/tune-f16.st")"
}
check "FP16 fine-tune written over its base: stored as deltas, reads back" over_base

gc_keeps() {
	rm "$M/base.st" &&
	expect_status 0 admin gc --grace 0 --apply "$M" &&
	mfs_remount "$M" &&
	expect_sha "$M/tune.st" "$(file_sha "$S/tune-f32.st")" &&
	expect_sha "$M/over.st" "$(file_sha "$S/tune-f16.st")" &&
	expect_status 0 admin fsck "$M"
}
check "base file and old version gone, gc run: bases kept, reads exact, fsck clean" gc_keeps

missing_base() {
	local base
	mfs_umount "$M" &&
	base=$("$CHUNK_TOOL" "$D" bases | head -n 1 | cut -d' ' -f2) && [ -n "$base" ] &&
	"$CHUNK_TOOL" "$D" drop "$base" &&
	mfs_log_allow "$D" "base chunk|delta|chunk [0-9a-f]+|EIO|Input/output|fsck|read" &&
	mfs_mount "$M" "$D" || return 1
	expect_status 4 admin fsck "$M" || return 1
	grep -q "corrupt\|missing" "$WORK/.cmd.out" || { cat "$WORK/.cmd.out" >&2; return 1; }
	# One of the two files lost a base: reading it fails, the other still reads exact.
	if cmp -s "$M/tune.st" "$S/tune-f32.st"; then
		! cat "$M/over.st" >/dev/null 2>&1
	else
		! cat "$M/tune.st" >/dev/null 2>&1 && expect_sha "$M/over.st" "$(file_sha "$S/tune-f16.st")"
	fi
}
check "a base chunk dropped: fsck reports it, the read fails (EIO), never wrong bytes" missing_base

mfs_done
