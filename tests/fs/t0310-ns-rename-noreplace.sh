#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# rename(2) flags and mv's: renameat2(RENAME_NOREPLACE) fails EEXIST over an
# existing name and leaves both files alone, works to a new name; mv -n keeps
# the target; mv -T replaces an empty directory, refuses a non-empty one and
# a file over a directory; rename to the same name is a no-op;
# RENAME_EXCHANGE swaps two files, a file and a directory across
# directories (link counts follow), refuses a directory into its own
# subtree and a missing name, and the swap survives a remount.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

noreplace_existing() {
	echo src >"$M/a" && echo dst >"$M/b" &&
	expect_errno EEXIST rename_noreplace "$M/a" "$M/b" &&
	expect_eq "$(cat "$M/a")" src "source after refused rename" &&
	expect_eq "$(cat "$M/b")" dst "target after refused rename"
}
check "RENAME_NOREPLACE over an existing file: EEXIST, both unchanged" noreplace_existing

noreplace_new() {
	expect_errno OK rename_noreplace "$M/a" "$M/c" &&
	expect_errno ENOENT stat "$M/a" &&
	expect_eq "$(cat "$M/c")" src "content under the new name"
}
check "RENAME_NOREPLACE to a new name works" noreplace_new

mv_n() {
	mv -n "$M/c" "$M/b"
	expect_eq "$(cat "$M/b")" dst "target after mv -n" &&
	expect_eq "$(cat "$M/c")" src "source after mv -n"
}
check "mv -n does not replace an existing file" mv_n

mv_T_empty_dir() {
	mkdir -p "$M/d1/sub" "$M/d2" && echo x >"$M/d1/sub/f" &&
	mv -T "$M/d1" "$M/d2" &&
	expect_errno ENOENT stat "$M/d1" &&
	expect_eq "$(cat "$M/d2/sub/f")" x "content under the replaced directory"
}
check "mv -T replaces an empty directory" mv_T_empty_dir

mv_T_nonempty_dir() {
	mkdir -p "$M/d3/keep" &&
	! mv -T "$M/d2" "$M/d3" 2>/dev/null &&
	expect_errno "ENOTEMPTY|EEXIST" rename "$M/d2" "$M/d3" &&
	expect_listing "$M/d3" keep &&
	expect_listing "$M/d2" sub
}
check "mv -T onto a non-empty directory fails, nothing moves" mv_T_nonempty_dir

mv_T_file() {
	! mv -T "$M/b" "$M/d3" 2>/dev/null &&
	expect_eq "$(cat "$M/b")" dst "file after refused mv -T" &&
	mv -T "$M/b" "$M/c" &&
	expect_eq "$(cat "$M/c")" dst "mv -T file over file" &&
	expect_errno ENOENT stat "$M/b"
}
check "mv -T: a file over a directory fails, over a file replaces" mv_T_file

same_name() { expect_errno OK rename "$M/c" "$M/c" && expect_eq "$(cat "$M/c")" dst "content"; }
check "rename to the same name is a no-op" same_name

check "the root lists exactly what is left" expect_listing "$M" c d2 d3

exchange() {
	mkdir -p "$M/x/sub" "$M/y" && echo X >"$M/x/f" && echo Y >"$M/y/g" &&
	"$PY" - "$M" <<'PYEOF'
import ctypes, os, sys
os.chdir(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
def exchange(a, b):
    r = libc.renameat2(-100, a.encode(), -100, b.encode(), 2)  # AT_FDCWD, RENAME_EXCHANGE
    return 0 if r == 0 else -ctypes.get_errno()
def want(what, got, expect):
    if got != expect:
        sys.exit("%s: got %r, want %r" % (what, got, expect))
want("swap two files", exchange("x/f", "y/g"), 0)
want("contents", (open("x/f").read(), open("y/g").read()), ("Y\n", "X\n"))
want("swap a directory and a file", exchange("x/sub", "y/g"), 0)
want("types", (os.path.isdir("y/g"), open("x/sub").read()), (True, "X\n"))
want("link counts", (os.stat("x").st_nlink, os.stat("y").st_nlink), (2, 3))
want("into its own subtree", exchange("y", "y/g"), -22)
want("a missing name", exchange("x/none", "y/g"), -2)
PYEOF
}
check "RENAME_EXCHANGE swaps files and directories" exchange
check "the swap survives a remount" mfs_remount "$M"
check "after it" expect_listing "$M/y" g
check "and the files" expect_eq "$(cat "$M/x/sub")" X "x/sub"

mfs_done
