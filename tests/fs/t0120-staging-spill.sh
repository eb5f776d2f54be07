#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Staging outgrows its memory budget: with staging_mem_mb=4, files larger
# than the budget move from memory to DATA/staging mid-write (and while
# several writers share the budget) and still commit byte for byte.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
S=$WORK/src

check "mount with a 4 MiB staging budget" mfs_mount "$M" "$D" staging_mem_mb=4 || mfs_abort "no mount"
sources() { mkdir -p "$S" && randfile "$S/a" $((3 * MiB)) && randfile "$S/b" $((24 * MiB + 5)) && randfile "$S/c" $((9 * MiB)); }
check "make sources" sources || mfs_abort "no sources"

one_spills() {
	cp "$S/b" "$M/b" && expect_sha "$M/b" "$(file_sha "$S/b")"
}
check "a 24 MiB file spills to disk mid-write and commits whole" one_spills

concurrent() {
	cp "$S/a" "$M/a" & pa=$!
	cp "$S/c" "$M/c" & pc=$!
	cp "$S/b" "$M/b2" & pb=$!
	wait "$pa" && wait "$pc" && wait "$pb" &&
	expect_sha "$M/a" "$(file_sha "$S/a")" &&
	expect_sha "$M/c" "$(file_sha "$S/c")" &&
	expect_sha "$M/b2" "$(file_sha "$S/b")"
}
check "three writers sharing the budget: each file commits whole" concurrent

rewrite() {
	# Opening an existing file for writing stages its old bytes first.
	printf 'tail' >>"$M/b" &&
	cat "$S/b" >"$WORK/expect" && printf 'tail' >>"$WORK/expect" &&
	expect_sha "$M/b" "$(file_sha "$WORK/expect")"
}
check "appending to a 24 MiB file (staged past the budget) keeps every byte" rewrite
staging_empty() { [ -z "$(ls -A "$D/staging")" ] || { echo "left in staging: $(ls "$D/staging")" >&2; false; }; }
check "nothing is left in DATA/staging" staging_empty
check "umount, mount" mfs_remount "$M"
check "after remount the files are the same" expect_sha "$M/b2" "$(file_sha "$S/b")"

mfs_done
