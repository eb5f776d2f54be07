#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# cp in and out of the mount keeps every byte: random files of odd sizes
# around page and chunk boundaries, an empty file, a file written with many
# 1000-byte writes and one read back with 999-byte reads, a file fsync'ed
# before close, one written at scattered offsets and read back before close.  Checked through the page cache and again after a remount,
# when every byte comes from the store.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
S=$WORK/src
O=$WORK/out
mkdir -p "$O"
sizes="0 1 4095 4096 4097 65537 $MiB $((MiB + 1)) $((5 * MiB - 3))"
declare -A want=()

check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

make_sources() {
	local n
	for n in $sizes; do
		randfile "$S/f$n" "$n" && want[f$n]=$(file_sha "$S/f$n") || return 1
	done
	randfile "$S/small" $((5 * MiB + 123)) && want[small]=$(file_sha "$S/small") &&
	randfile "$S/sync" $((3 * MiB + 7)) && want[sync]=$(file_sha "$S/sync")
}
check "make random sources" make_sources || mfs_abort "no sources"

cp_in_out() { # NAME
	cp "$S/$1" "$M/$1" &&
	expect_eq "$(stat -c %s "$M/$1")" "$(stat -c %s "$S/$1")" "size of $1" &&
	cp "$M/$1" "$O/$1" &&
	expect_sha "$O/$1" "${want[$1]}"
}
for n in $sizes; do
	check "cp in and out, $n bytes" cp_in_out "f$n"
done

small_writes() {
	dd if="$S/small" of="$M/small" bs=1000 status=none &&
	expect_sha "$M/small" "${want[small]}" &&
	expect_eq "$(dd if="$M/small" bs=999 status=none | sha256sum | cut -d' ' -f1)" \
		"${want[small]}" "sha256 of 999-byte reads"
}
check "a file written with 1000-byte writes, read with 999-byte reads" small_writes

fsync_before_close() {
	"$PY" -c 'import os, sys
data = open(sys.argv[1], "rb").read()
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, data[:len(data) // 2])
os.fsync(fd)
os.write(fd, data[len(data) // 2:])
os.fsync(fd)
os.close(fd)' "$S/sync" "$M/sync" &&
	expect_sha "$M/sync" "${want[sync]}"
}
check "write, fsync, write, fsync, close" fsync_before_close

# The same writes at scattered offsets (a hole, a seek back, an overwrite
# across a page boundary) and a read back through the same fd before close,
# in a local file and in the mount: the results must be equal.
scattered() {
	local f
	for f in "$WORK/scattered" "$M/scattered"; do
		"$PY" -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
os.pwrite(fd, b"B" * 5000, 3 * 1024 * 1024 + 11)
os.pwrite(fd, b"A" * 10000, 0)
os.pwrite(fd, b"C" * 300, 4000)
os.pwrite(fd, b"D" * 2 * 1024 * 1024, 1024 * 1024 - 7)
back = os.pread(fd, 10000, 0)
if back != b"A" * 4000 + b"C" * 300 + b"A" * 5700:
    sys.exit("read back before close differs")
os.close(fd)' "$f" || return 1
	done
	want[scattered]=$(file_sha "$WORK/scattered")
	cp "$WORK/scattered" "$S/scattered" &&
	expect_sha "$M/scattered" "${want[scattered]}" &&
	expect_eq "$(stat -c %s "$M/scattered")" "$(stat -c %s "$WORK/scattered")" "size"
}
check "writes at scattered offsets and a read back before close" scattered

all_after_remount() {
	local name bad=0
	for name in "${!want[@]}"; do
		expect_sha "$M/$name" "${want[$name]}" || bad=1
		expect_eq "$(stat -c %s "$M/$name")" "$(stat -c %s "$S/$name")" "size of $name" || bad=1
	done
	return "$bad"
}
check "umount, mount" mfs_remount "$M"
check "every file is byte-identical after remount" all_after_remount
check "the directory lists exactly the files written" expect_listing "$M" "${!want[@]}"

mfs_done
