#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# modelfs-admin setrepl, getrepl and warmup on one node: factors set on a
# path and, with -r, on a whole tree (not through symlinks); bad factors
# and options are usage errors (exit 2); a path outside any mount exits 1
# with a message and the other paths are still done; warmup reads every
# file and reports the tree's byte count, and names a file it cannot read
# (a chunk corrupted on disk) and exits 1.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"

M=$WORK/mnt
D=$WORK/data
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

repl_of() { getfattr --only-values -n user.modelfs.repl "$1"; }

# saw FILE ERE: $WORK/FILE (.cmd.out or .cmd.err of expect_status) has a line matching ERE.
saw() {
	grep -Eq -- "$2" "$WORK/$1" && return 0
	echo "no line matching '$2' in $1: $(cat "$WORK/$1")" >&2
	return 1
}

make_tree() {
	mkdir -p "$M/t/a/b" "$M/t/c" "$M/other" &&
	randfile "$M/t/f1" 1000 &&
	randfile "$M/t/a/f2" $((3 * MiB + 5)) &&
	randfile "$M/t/a/b/f3" $((5 * MiB)) &&
	: >"$M/t/c/empty" &&
	randfile "$M/other/g" 4096 &&
	ln -s ../other "$M/t/link"
}
check "make a tree: 4 files in 4 directories, a symlink out of it" make_tree || mfs_abort "no tree"

get_new() {
	expect_status 0 admin getrepl "$M/t/f1" &&
	expect_eq "$(cat "$WORK/.cmd.out")" "1 $M/t/f1" "getrepl output"
}
check "getrepl of a new file: 1" get_new

set_one() {
	expect_status 0 admin setrepl 2 "$M/t/a" &&
	expect_eq "$(repl_of "$M/t/a")" 2 "repl of t/a" &&
	expect_eq "$(repl_of "$M/t/a/f2")" 1 "repl of t/a/f2 (not recursive)" &&
	expect_eq "$(cat "$WORK/.cmd.out")" "" "what setrepl printed"
}
check "setrepl 2 DIR: the directory only, nothing printed" set_one

set_rec() {
	local p
	expect_status 0 admin setrepl -r 3 "$M/t" || return 1
	for p in t t/a t/a/b t/c t/f1 t/a/f2 t/a/b/f3 t/c/empty; do
		expect_eq "$(repl_of "$M/$p")" 3 "repl of $p" || return 1
	done
	expect_eq "$(repl_of "$M/other")" 1 "repl of other (behind a symlink)" &&
	expect_eq "$(repl_of "$M/other/g")" 1 "repl of other/g (behind a symlink)"
}
check "setrepl -r 3 DIR: every directory and file below, not through symlinks" set_rec

get_rec() {
	local want
	want=$(printf '3 %s\n' "$M/t" "$M/t/a" "$M/t/a/b" "$M/t/a/b/f3" "$M/t/a/f2" \
		"$M/t/c" "$M/t/c/empty" "$M/t/f1")
	expect_status 0 admin getrepl -r "$M/t" &&
	expect_eq "$(cat "$WORK/.cmd.out")" "$want" "getrepl -r output"
}
check "getrepl -r DIR: one 'N PATH' line per directory and file, in name order" get_rec

get_json() {
	expect_status 0 admin getrepl --json "$M/t/f1" "$M/other/g" &&
	"$PY" -c 'import json, sys
got = json.load(open(sys.argv[1]))
want = [{"path": sys.argv[2], "repl": 3}, {"path": sys.argv[3], "repl": 1}]
if got != want:
    sys.exit("got %r, want %r" % (got, want))' "$WORK/.cmd.out" "$M/t/f1" "$M/other/g"
}
check "getrepl --json: a list of {path, repl}" get_json

inherit() {
	echo x >"$M/t/a/new" &&
	expect_eq "$(repl_of "$M/t/a/new")" 3 "repl of t/a/new"
}
check "a new file in a directory set to 3 gets 3" inherit

set_back() {
	expect_status 0 admin setrepl 1 "$M/t/f1" &&
	expect_eq "$(repl_of "$M/t/f1")" 1 "repl of t/f1"
}
check "setrepl 1 FILE: back to 1" set_back

usage() { # ARG...: exit 2, a usage message on stderr, nothing changed
	expect_status 2 admin "$@" &&
	saw .cmd.err '^usage:' &&
	expect_eq "$(repl_of "$M/t/a/f2")" 3 "repl of t/a/f2 after a usage error"
}
for n in 0 17 abc -1 3x ''; do
	check "setrepl '$n': exit 2 with usage" usage setrepl "$n" "$M/t/a/f2"
done
check "setrepl without a path: exit 2" usage setrepl 2
check "setrepl without arguments: exit 2" usage setrepl
check "getrepl without a path: exit 2" usage getrepl
check "setrepl with an unknown option: exit 2" usage setrepl -x 2 "$M/t/a/f2"
check "warmup without a path: exit 2" usage warmup
check "warmup -j 0: exit 2" usage warmup -j 0 "$M/t"
check "warmup -j abc: exit 2" usage warmup -j abc "$M/t"

help_out() { # CMD
	expect_status 0 admin "$1" --help &&
	saw .cmd.out "^usage: modelfs-admin $1 "
}
for c in setrepl getrepl warmup; do
	check "$c --help: its usage on stdout, exit 0" help_out "$c"
done

outside() {
	mkdir -p "$WORK/plain" &&
	expect_status 1 admin setrepl 2 "$WORK/plain" "$M/other/g" &&
	saw .cmd.err "$WORK/plain is not inside a modelfs mount" &&
	expect_eq "$(repl_of "$M/other/g")" 2 "repl of other/g (after the bad path)" &&
	expect_status 1 admin getrepl "$WORK/plain" &&
	saw .cmd.err "$WORK/plain is not inside a modelfs mount" &&
	expect_status 1 admin warmup "$WORK/plain" &&
	saw .cmd.err "$WORK/plain is not inside a modelfs mount"
}
check "a path outside a mount: exit 1 with a message; the other paths are done" outside
missing() { expect_status 1 admin getrepl "$M/nope" && saw .cmd.err "$M/nope: No such file"; }
check "a path that does not exist: exit 1, named" missing

warm() {
	local want
	want=$((1000 + 3 * MiB + 5 + 5 * MiB + 2)) # f1 f2 f3 empty new ("x\n")
	expect_status 0 admin warmup --json -j 2 "$M/t" &&
	expect_eq "$(json_get bytes <"$WORK/.cmd.out")" "$want" "warmup bytes" &&
	expect_eq "$(json_get files <"$WORK/.cmd.out")" 5 "warmup files" &&
	expect_eq "$(json_get failed <"$WORK/.cmd.out")" "[]" "warmup failed" &&
	expect_status 0 admin warmup "$M/t/a/f2" &&
	saw .cmd.out "^warmed 1 file, $((3 * MiB + 5)) bytes \\(3\\.0 MiB\\) in [0-9.]+ s, [0-9.]+ MB/s$"
}
check "warmup of the tree: 5 files, the right byte count (not through the symlink)" warm

# A tree deeper than PATH_MAX (24 levels of 200-byte names, about 4.8 KiB):
# the kernel takes no such path whole, so the walk goes from directory to
# directory, and warmup opens such a file the same way.
deep() {
	"$PY" - "$M/deep" <<'PYEOF' || return 1
import os, sys
top, comp = sys.argv[1], "d" * 200
os.mkdir(top)
fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
for i in range(24):
    os.mkdir(comp, dir_fd=fd)
    nfd = os.open(comp, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    fd = nfd
with os.fdopen(os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "wb") as f:
    f.write(b"deep\n" * 1000)
os.close(fd)
PYEOF
	expect_status 0 admin setrepl -r 2 "$M/deep" &&
	expect_status 0 admin getrepl -r "$M/deep" &&
	expect_eq "$(grep -c '^2 ' "$WORK/.cmd.out")" 26 "getrepl -r lines with factor 2" &&
	saw .cmd.out "^2 $M/deep(/d{200}){24}/f$" &&
	expect_status 0 admin warmup --json "$M/deep" &&
	expect_eq "$(json_get files <"$WORK/.cmd.out")" 1 "warmup files" &&
	expect_eq "$(json_get bytes <"$WORK/.cmd.out")" 5000 "warmup bytes" &&
	expect_status 0 admin evict "$M/deep" &&
	saw .cmd.out "^evicted 1 file" &&
	rm -rf "$M/deep"
}
check "setrepl -r, getrepl -r, warmup, evict of a tree deeper than PATH_MAX" deep

# A damaged chunk: warmup names the file it cannot read, reads the others
# and exits 1.
mfs_log_allow "$D" 'checksum|corrupt|mismatch|EIO|Input/output|verif'
corrupt() {
	randfile "$M/bad.bin" $((24 * MiB)) && mfs_umount "$M" &&
	corrupt_largest_blob "$D" && mfs_mount "$M" "$D"
}
check "write 24 MiB more, corrupt the middle of the largest blob file, remount" corrupt ||
	mfs_abort "cannot corrupt"

warm_eio() {
	local p n=0
	expect_status 1 admin warmup --json "$M" || return 1
	cp "$WORK/.cmd.out" "$WORK/warm.json" && cp "$WORK/.cmd.err" "$WORK/warm.err" || return 1
	while read -r p; do
		n=$((n + 1))
		saw warm.err "^modelfs-admin: cannot read $p: Input/output error$" || return 1
		if cat "$p" >/dev/null 2>&1; then
			echo "warmup failed on $p, but cat reads it" >&2
			return 1
		fi
	done < <("$PY" -c 'import json, sys; print("\n".join(json.load(open(sys.argv[1]))["failed"]))' "$WORK/warm.json")
	[ "$n" -gt 0 ] || { echo "no file in the failed list: $(cat "$WORK/warm.json")" >&2; return 1; }
	note "unreadable: $n file(s); read: $(json_get files <"$WORK/warm.json")"
	[ "$(json_get files <"$WORK/warm.json")" -gt 0 ] || { echo "no file read at all" >&2; return 1; }
}
check "warmup with a corrupt chunk: exit 1, the file named, the others read" warm_eio

mfs_done
