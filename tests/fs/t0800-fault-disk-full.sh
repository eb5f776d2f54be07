#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Disk full: the store lives on a 96 MiB tmpfs.  A file whose staging fits
# but whose chunks may not is stored whole or fails with ENOSPC at write()
# or close(); a file bigger than the disk fails (cp exits non-zero, "No
# space left on device"); the files stored before stay byte-identical, also after a
# remount; after the failed file is deleted a small new file is accepted; a
# sparse file larger than the disk is accepted (only its data takes room).
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
S=$WORK/src
declare -A sum=()
mfs_log_allow "$D" 'No space left on device|ENOSPC|space'

check "a 96 MiB tmpfs for the store" mfs_tmpfs "$D" 96m || mfs_abort "no tmpfs"
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

sources() {
	local f
	for f in keep:16384 mid:61440 huge:204800 small:1024 small2:1000; do
		randfile "$S/${f%:*}" $((${f#*:} * 1024)) && sum[${f%:*}]=$(file_sha "$S/${f%:*}") || return 1
	done
	cp "$S/keep" "$M/keep" && expect_sha "$M/keep" "${sum[keep]}"
}
check "store a 16 MiB file" sources || mfs_abort "no sources"

# 16 MiB stored + 60 MiB staged + 60 MiB of chunks do not fit in 96 MiB
# unless staging is released as chunks are stored: then it may succeed.
mid() {
	local res
	res=$("$PY" "$HELPER" write-report "$M/mid" "$S/mid") || return 1
	note "60 MiB: $res"
	case "$res" in
	OK) expect_sha "$M/mid" "${sum[mid]}" ;;
	"write@"*" ENOSPC" | "close ENOSPC") ;;
	*) echo "writing 60 MiB: $res, want ENOSPC at write or close, or success" >&2; return 1 ;;
	esac
}
check "60 MiB (staging fits, chunks may not): ENOSPC at write() or close(), or stored whole" mid

intact() {
	expect_sha "$M/keep" "${sum[keep]}"
}
check "the stored file is intact" intact

small_after() { # NAME
	rm -f "$M/mid" "$M/huge" &&
	cp "$S/$1" "$M/$1" &&
	expect_sha "$M/$1" "${sum[$1]}"
}
check "after deleting the failed file, a 1 MiB file is accepted" small_after small

cp_huge() {
	if cp "$S/huge" "$M/huge" 2>"$WORK/cp.err"; then
		echo "cp of 200 MiB into 96 MiB succeeded" >&2
		return 1
	fi
	grep -q "No space left on device" "$WORK/cp.err" ||
		{ echo "cp said: $(cat "$WORK/cp.err")" >&2; return 1; }
}
check "cp of 200 MiB fails: No space left on device" cp_huge
intact2() { intact && expect_sha "$M/small" "${sum[small]}"; }
check "the stored files are intact" intact2
check "after deleting the failed file, another small file is accepted" small_after small2

# A sparse file larger than the disk needs room only for its data: the
# space check counts the staged file's blocks, not its size.  Four times
# the disk is as much past it as 2 GiB was, and reads back in a quarter of
# a second, not 8 (it is hashed twice).
sparse_big() {
	local want
	truncate -s 384M "$M/sparse" &&
	head -c 100000 "$S/small" | dd of="$M/sparse" bs=1 seek=$((288 * MiB)) conv=notrunc status=none &&
	expect_eq "$(stat -c %s "$M/sparse")" $((384 * MiB)) "size" || return 1
	want=$({ head -c $((288 * MiB)) /dev/zero; head -c 100000 "$S/small";
		head -c $((96 * MiB - 100000)) /dev/zero; } | sha256sum | cut -d' ' -f1)
	expect_sha "$M/sparse" "$want"
}
check "a 384 MiB sparse file with 100 kB of data fits on the 96 MiB disk" sparse_big
check "the stored files are intact after it" intact2

persisted() {
	intact && expect_sha "$M/small" "${sum[small]}" && expect_sha "$M/small2" "${sum[small2]}" &&
	expect_listing "$M" keep small small2 sparse
}
check "umount, mount" mfs_remount "$M"
check "after remount every stored file is byte-identical" persisted

mfs_done
