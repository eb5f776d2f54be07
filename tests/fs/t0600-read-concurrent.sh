#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Many concurrent readers of one cold 256 MiB file: 16 sha256sum in
# parallel with 4 processes doing random small reads (1 B to 256 KiB at
# random offsets); every digest and every read is correct.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
S=$WORK/src
sum=
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

store() { randfile "$S/big" $((256 * MiB)) && sum=$(file_sha "$S/big") && cp "$S/big" "$M/big"; }
check "store 256 MiB of random data" store || mfs_abort "no file"
check "umount, mount (cold caches)" mfs_remount "$M"

concurrent() {
	local i pids=() bad=0 got
	for ((i = 0; i < 16; i++)); do
		sha256sum "$M/big" >"$WORK/sum.$i" 2>&1 &
		pids+=($!)
	done
	for ((i = 0; i < 4; i++)); do
		"$PY" "$HELPER" randread "$M/big" "$S/big" 300 "$i" >"$WORK/rand.$i" 2>&1 &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i" || bad=1
	done
	for ((i = 0; i < 16; i++)); do
		got=$(cut -d' ' -f1 "$WORK/sum.$i")
		[ "$got" = "$sum" ] || { echo "reader $i: $(cat "$WORK/sum.$i")" >&2; bad=1; }
	done
	for ((i = 0; i < 4; i++)); do
		[ -s "$WORK/rand.$i" ] && { sed "s/^/random reader $i: /" "$WORK/rand.$i" >&2; bad=1; }
	done
	return "$bad"
}
check "16 parallel sha256sum and 4 random readers are all correct" concurrent

mfs_done
