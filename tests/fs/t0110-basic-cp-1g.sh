#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A 1 GiB file of random data: cp in, cp out, same sha256; the same again
# after a remount, read cold from the store.  The largest test of the suite.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
S=$WORK/src
SIZE=$((1024 * MiB))
sum=

check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"
make_source() { randfile "$S/big" "$SIZE" && sum=$(file_sha "$S/big"); }
check "make 1 GiB of random data" make_source || mfs_abort "no source"

cp_in_out() {
	cp "$S/big" "$M/big" &&
	expect_eq "$(stat -c %s "$M/big")" "$SIZE" "size" &&
	cp "$M/big" "$WORK/out" &&
	expect_sha "$WORK/out" "$sum" &&
	rm -f "$WORK/out"
}
check "cp 1 GiB in and out: same sha256" cp_in_out
check "umount, mount" mfs_remount "$M"
check "after remount the file reads back with the same sha256" expect_sha "$M/big" "$sum"

mfs_done
