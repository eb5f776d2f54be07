#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Directory operations: mkdir, rmdir (ENOTEMPTY, ENOTDIR), unlink (then
# ENOENT), rename of files and directories (across directories, over an
# existing file, into its own subtree), readdir listing exactly the expected
# names (also 1000 entries, odd names, 255-byte names), all again after a
# remount.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

mkdir_basics() {
	mkdir "$M/d" &&
	expect_eq "$(stat -c %F "$M/d")" directory "type of d" &&
	expect_errno EEXIST mkdir "$M/d" &&
	expect_errno ENOENT mkdir "$M/nope/sub" &&
	mkdir -p "$M/d/s/t" &&
	echo a >"$M/d/a" && echo b >"$M/d/b" &&
	expect_listing "$M/d" a b s &&
	expect_listing "$M" d
}
check "mkdir; mkdir of an existing name fails EEXIST; readdir lists exactly" mkdir_basics

check "rmdir of a non-empty directory fails ENOTEMPTY" expect_errno ENOTEMPTY rmdir "$M/d"
check "rmdir of a file fails ENOTDIR" expect_errno ENOTDIR rmdir "$M/d/a"
check "unlink of a directory fails EISDIR" expect_errno EISDIR unlink "$M/d/s"

unlink_then_enoent() {
	rm "$M/d/a" &&
	expect_errno ENOENT stat "$M/d/a" &&
	expect_errno ENOENT unlink "$M/d/a" &&
	expect_listing "$M/d" b s
}
check "unlink; then lookup fails ENOENT and readdir drops the name" unlink_then_enoent

rename_file() {
	mv "$M/d/b" "$M/d/c" &&
	expect_errno ENOENT stat "$M/d/b" &&
	expect_eq "$(cat "$M/d/c")" b "content of renamed file" &&
	mkdir "$M/e" && mv "$M/d/c" "$M/e/c" &&
	expect_eq "$(cat "$M/e/c")" b "content after move across directories" &&
	expect_listing "$M/d" s &&
	expect_listing "$M/e" c
}
check "rename a file, within and across directories" rename_file

rename_over_file() {
	echo old >"$M/e/x" && echo new >"$M/e/y" &&
	expect_errno OK rename "$M/e/y" "$M/e/x" &&
	expect_eq "$(cat "$M/e/x")" new "content of the replaced name" &&
	expect_errno ENOENT stat "$M/e/y" &&
	expect_listing "$M/e" c x
}
check "rename over an existing file replaces it" rename_over_file

rename_dir() {
	echo deep >"$M/d/s/t/f" &&
	mv "$M/d/s" "$M/e/s2" &&
	expect_eq "$(cat "$M/e/s2/t/f")" deep "content under a renamed directory" &&
	expect_errno ENOENT stat "$M/d/s" &&
	expect_listing "$M/d" &&
	expect_listing "$M/e" c s2 x
}
check "rename a directory with contents to another parent" rename_dir

check "rename a directory into its own subdirectory fails EINVAL" \
	expect_errno EINVAL rename "$M/e" "$M/e/s2/t/inside"
check "rename a file over a directory fails EISDIR" expect_errno EISDIR rename "$M/e/x" "$M/e/s2"
check "rename a directory over a file fails ENOTDIR" expect_errno ENOTDIR rename "$M/e/s2" "$M/e/x"

rmdir_empty() {
	rmdir "$M/d" &&
	expect_errno ENOENT stat "$M/d" &&
	expect_listing "$M" e
}
check "rmdir of an empty directory" rmdir_empty

long=$(printf 'n%.0s' $(seq 255))
odd_names() {
	mkdir "$M/odd" &&
	touch "$M/odd/with space" "$M/odd/ünïcødé" "$M/odd/-dash" "$M/odd/.hidden" "$M/odd/$long" &&
	expect_listing "$M/odd" "with space" "ünïcødé" "-dash" ".hidden" "$long" &&
	expect_errno ENAMETOOLONG create_excl "$M/odd/${long}x"
}
check "odd names and a 255-byte name; 256 bytes fail ENAMETOOLONG" odd_names

many_entries() {
	local i names=()
	mkdir "$M/many" || return 1
	for ((i = 0; i < 1000; i++)); do
		names+=("entry-$i")
	done
	(cd "$M/many" && touch "${names[@]}") &&
	expect_listing "$M/many" "${names[@]}" &&
	expect_eq "$(find "$M/many" -mindepth 1 | wc -l)" 1000 "find count"
}
check "readdir of 1000 entries lists each exactly once" many_entries

# Regression: listings resumed by position skipped entries when earlier ones
# were unlinked between getdents calls.  scandir reads ~1000 entries a call.
unlink_while_listing() {
	mkdir "$M/many3k" && (cd "$M/many3k" && seq 3000 | xargs touch) &&
	"$PY" - "$M/many3k" <<'PY'
import os, sys
d = sys.argv[1]
n = 0
for e in os.scandir(d):
    os.unlink(e.path)
    n += 1
left = os.listdir(d)
assert n == 3000 and not left, (n, len(left))
PY
	rmdir "$M/many3k"
}
check "unlinking each entry while listing 3000 removes all 3000" unlink_while_listing

dots() {
	local all
	# shellcheck disable=SC2012 # readdir through ls is the point
	all=$(LC_ALL=C ls -a "$M/e" | tr '\n' ' ') &&
	expect_eq "$all" ". .. c s2 x " "ls -a" &&
	expect_eq "$(stat -c %i "$M/e/s2/..")" "$(stat -c %i "$M/e")" "inode of s2/.."
}
check "readdir has . and ..; .. is the parent" dots

after_remount() {
	local i names=()
	for ((i = 0; i < 1000; i++)); do
		names+=("entry-$i")
	done
	expect_listing "$M" e odd many &&
	expect_listing "$M/e" c s2 x &&
	expect_listing "$M/e/s2/t" f &&
	expect_eq "$(cat "$M/e/x")" new "e/x" &&
	expect_eq "$(cat "$M/e/s2/t/f")" deep "e/s2/t/f" &&
	expect_listing "$M/odd" "with space" "ünïcødé" "-dash" ".hidden" "$long" &&
	expect_listing "$M/many" "${names[@]}"
}
check "umount, mount" mfs_remount "$M"
check "after remount the tree is exactly the same" after_remount

mfs_done
