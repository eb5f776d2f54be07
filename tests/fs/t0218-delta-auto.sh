#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A fine-tune's base found without being named (store/chunk/delta_hint.h,
# fuse/fs_delta.c): a model file copied into the mount beside its base is
# stored as deltas of the last plain file of the same tensor layout.
#  - a real FP16 fine-tune copied in under a new name: deltas, stored
#    smaller than its base, reads back exact;
#  - an empty user.modelfs.base opts a file out: no delta chunk;
#  - with delta_auto=0 no base is looked for;
#  - a hint whose file is gone (deleted, gc run) finds nothing: the next
#    fine-tune is stored plainly, with no warning; everything reads back
#    exact after a remount and fsck is clean.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
"$PY" -c 'import torch' 2>/dev/null || skip_all "no torch for $PY"

M=$WORK/mnt
D=$WORK/data
S=$WORK/src
mkdir -p "$S"
check "a real fine-tune pair, FP16" "$PY" "$MFS_SRC/tests/bench/make_finetune.py" \
	--pool "${MFS_WEIGHTS_DIR:-/var/tmp/modelfs-weights}/pool" \
	--base "$S/base.st" --tune "$S/tune.st" --dtype f16 --lr 1e-4 --layers 12 ||
	mfs_abort "no pair"
# variant K: the fine-tune with the low bit of every (89+K)th value's low byte
# flipped: as close to the base as the fine-tune, and none of its chunks stored.
variant() {
	"$PY" - "$S/tune.st" "$1" "$S/v$1.st" <<'PY'
import struct, sys
src, k, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
b = bytearray(open(src, "rb").read())
start = 8 + struct.unpack("<Q", b[:8])[0]
for i in range(start, len(b) - 1, 2 * (89 + k)):
    b[i] ^= 1
open(out, "wb").write(b)
PY
}
check "variants 1-4 of the fine-tune" eval 'variant 1 && variant 2 && variant 3 && variant 4'
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

deltas() { mfs_finfo "$1" codec_chunks.delta; }

found() {
	local base st
	cp "$S/base.st" "$M/base.st" && base=$(mfs_finfo "$M/base.st" stored_bytes) &&
	cp "$S/tune.st" "$M/tune.st" && st=$(mfs_finfo "$M/tune.st" stored_bytes) || return 1
	note "fine-tune beside its base: $st stored bytes (base: $base), $(deltas "$M/tune.st") delta chunks"
	[ "$(deltas "$M/tune.st")" -gt 0 ] && [ "$st" -le $((base * 7 / 8)) ] ||
		{ echo "fine-tune stored $st bytes, $(deltas "$M/tune.st") deltas; base $base" >&2; return 1; }
	expect_sha "$M/tune.st" "$(file_sha "$S/tune.st")"
}
check "a fine-tune copied in beside its base, unnamed: stored as deltas, reads back" found

opt_out() {
	"$PY" -c 'import os, sys; open(sys.argv[1], "w").close(); os.setxattr(sys.argv[1], "user.modelfs.base", b"")' \
		"$M/optout.st" &&
	cp "$S/v1.st" "$M/optout.st" && expect_eq "$(deltas "$M/optout.st")" 0 "delta chunks" &&
	expect_sha "$M/optout.st" "$(file_sha "$S/v1.st")" &&
	cp "$M/tune.st" "$M/tune-copy.st" &&
	cp "$S/v2.st" "$M/v2.st" && [ "$(deltas "$M/v2.st")" -gt 0 ] &&
	expect_sha "$M/v2.st" "$(file_sha "$S/v2.st")"
}
check "an empty user.modelfs.base stores plainly; the next one finds a base again" opt_out

auto_off() {
	mfs_umount "$M" && mfs_mount "$M" "$D" delta_auto=0 &&
	cp "$S/v3.st" "$M/v3.st" && expect_eq "$(deltas "$M/v3.st")" 0 "delta chunks" &&
	expect_sha "$M/v3.st" "$(file_sha "$S/v3.st")"
}
check "delta_auto=0: no base looked for" auto_off

stale() {
	mfs_umount "$M" && mfs_mount "$M" "$D" &&
	rm "$M/base.st" "$M/optout.st" "$M/v3.st" &&
	expect_status 0 admin gc --grace 0 --apply "$M" &&
	cp "$S/v4.st" "$M/v4.st" && expect_eq "$(deltas "$M/v4.st")" 0 "delta chunks" || return 1
	! grep -q "not usable" "$D/modelfs.log" || { grep "not usable" "$D/modelfs.log" >&2; return 1; }
	mfs_remount "$M" &&
	expect_sha "$M/tune.st" "$(file_sha "$S/tune.st")" &&
	expect_sha "$M/tune-copy.st" "$(file_sha "$S/tune.st")" &&
	expect_sha "$M/v2.st" "$(file_sha "$S/v2.st")" &&
	expect_sha "$M/v4.st" "$(file_sha "$S/v4.st")" &&
	expect_status 0 admin fsck "$M"
}
check "the hint's file gone: stored plainly, no warning; all exact after remount, fsck clean" stale

mfs_done
