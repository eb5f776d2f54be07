#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Symbolic links: readlink returns the target verbatim (relative, absolute,
# dangling, 4095 bytes); lstat sees a link, stat and open follow it; a link
# to a directory is traversed; rm and mv act on the link, not the target.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

basic() {
	mkdir "$M/dir" && echo target >"$M/dir/file" &&
	ln -s dir/file "$M/rel" &&
	expect_eq "$(readlink "$M/rel")" dir/file "readlink" &&
	expect_eq "$(stat -c %F "$M/rel")" "symbolic link" "lstat type" &&
	expect_eq "$(stat -L -c %F "$M/rel")" "regular file" "stat type" &&
	expect_eq "$(cat "$M/rel")" target "content through the link"
}
check "relative symlink: readlink, lstat, stat and open follow" basic

others() {
	ln -s "$M/dir" "$M/abs" &&
	expect_eq "$(readlink "$M/abs")" "$M/dir" "readlink of an absolute link" &&
	expect_eq "$(cat "$M/abs/file")" target "traversal of a link to a directory" &&
	ln -s does/not/exist "$M/dangling" &&
	expect_eq "$(readlink "$M/dangling")" does/not/exist "readlink of a dangling link" &&
	expect_errno ENOENT stat "$M/dangling" &&
	expect_errno OK lstat "$M/dangling"
}
check "absolute, directory and dangling symlinks" others

long_target() {
	local t
	t=$(printf 'x%.0s' $(seq 4095))
	expect_errno OK symlink "$t" "$M/long" &&
	expect_eq "$(readlink "$M/long")" "$t" "readlink of a 4095-byte target"
}
check "a 4095-byte target is kept whole" long_target

rm_mv_link() {
	mv "$M/rel" "$M/rel2" &&
	expect_eq "$(readlink "$M/rel2")" dir/file "readlink after mv" &&
	rm "$M/rel2" &&
	expect_errno ENOENT lstat "$M/rel2" &&
	expect_eq "$(cat "$M/dir/file")" target "target after rm of the link"
}
check "mv and rm act on the link, not the target" rm_mv_link

check "symlink over an existing name fails EEXIST" expect_errno EEXIST symlink x "$M/abs"

persisted() {
	expect_eq "$(readlink "$M/abs")" "$M/dir" "abs" &&
	expect_eq "$(readlink "$M/dangling")" does/not/exist "dangling" &&
	expect_eq "$(stat -c %F "$M/long")" "symbolic link" "type of long"
}
check "umount, mount" mfs_remount "$M"
check "after remount the links are the same" persisted

mfs_done
