#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Snapshots by path (store/ns/rev.h, `modelfs-admin snapshot`).  Nodes 1
# and 2 name each other; node 1 writes a tree /v (a 3 MiB file with an
# xattr, small files, a symlink, an empty directory) and snapshots it as
# r1.  After a heartbeat node 2 shows /.snapshots/r1 as the same tree
# (names, modes, owners, sizes, symlinks, xattrs, bytes); /.snapshots is
# not listed in the root.  Node 1 rewrites a.bin and removes b.txt: r1
# reads the old bytes on both nodes, through read and mmap.  gc --apply
# --grace 0 on both nodes frees none of r1's chunks; fsck is clean.  Every
# write into r1 fails with EROFS.  Node 2 restarts and still has r1.  The
# op logs are trimmed and node 3 joins by a snapshot image: it has r1 and
# reads it.  Wrong arguments exit 2.  r1 is deleted on node 2: nodes 1 and 3 lose
# it and gc frees its chunks where they are.  Last, r2 is taken of /v and /v
# removed; every chunk is dropped on every node: fsck reports r2's files as
# missing, under /.snapshots/r2.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
[ -x "$CHUNK_TOOL" ] || skip_all "no $CHUNK_TOOL (make check builds it)"
cl_init 3
for i in 1 2 3; do mfs_log_allow "${CL_D[$i]}" 'no peer has|not found on any'; done

S=$WORK/src
M1=${CL_M[1]} M2=${CL_M[2]}
cl_set_peers 1 2
cl_set_peers 2 1
cl_set_peers 3 1
check "start nodes 1 and 2" eval 'cl_start 1 && cl_start 2 && cl_wait_formed 1 2' ||
	mfs_abort "no cluster"

SUM_A=''
tree() {
	mkdir -p "$M1/v/sub/deep" "$M1/v/empty" && randfile "$S/a" $((3 * MiB + 5)) &&
	SUM_A=$(file_sha "$S/a") && cp "$S/a" "$M1/v/a.bin" &&
	"$PY" -c 'import os, sys; os.setxattr(sys.argv[1], "user.k", b"val")' "$M1/v/a.bin" &&
	echo small >"$M1/v/sub/b.txt" && chmod 0640 "$M1/v/sub/b.txt" &&
	echo deep >"$M1/v/sub/deep/c.txt" && ln -s a.bin "$M1/v/ln" &&
	cl_wait_converged 1 2 && cl_wait_backlog0 1 2 && cl_snapshot "$M1/v" >"$WORK/v.before"
}
check "node 1 writes /v; node 2 has it" tree || mfs_abort "no tree"

create() {
	expect_status 0 admin snapshot create "$M1/v" r1 &&
	grep -q "^snapshot r1 of /v: 3 files, 4 directories" "$WORK/.cmd.out" ||
		{ cat "$WORK/.cmd.out" >&2; return 1; }
}
check "snapshot create on node 1" create

# same I: node I's /.snapshots/r1 is /v as it was when r1 was taken.
same() {
	cl_snapshot "${CL_M[$1]}/.snapshots/r1" >"$WORK/r1.$1" &&
	diff -u --label "/v before" --label "node $1: r1" "$WORK/v.before" "$WORK/r1.$1" >&2
}
has_r1() { [ -e "${CL_M[$1]}/.snapshots/r1/a.bin" ]; }
seen() {
	wait_for "$CL_TRIES" has_r1 2 || { echo "node 2 never showed .snapshots/r1" >&2; return 1; }
	same 1 && same 2 && expect_listing "$M1/.snapshots" r1 && expect_listing "$M2/.snapshots" r1
}
check "after a heartbeat node 2 shows /.snapshots/r1: the same tree as /v" seen

hidden() {
	"$PY" -c 'import os, sys; sys.exit(".snapshots" in os.listdir(sys.argv[1]))' "$M2" &&
	[ -d "$M2/.snapshots" ] && expect_status 0 admin snapshot list --json "$M2" &&
	expect_eq "$(json_get snapshots <"$WORK/.cmd.out" |
		"$PY" -c 'import json, sys; print([(s["name"], s["of"], s["files"]) for s in json.load(sys.stdin)])')" \
		"[('r1', '/v', 3)]" "snapshot list on node 2"
}
check ".snapshots: not in the root's listing, reachable; snapshot list names r1" hidden

# reads_old I: r1's a.bin on node I reads as the old bytes, by read and by mmap.
reads_old() {
	local f=${CL_M[$1]}/.snapshots/r1/a.bin
	expect_sha "$f" "$SUM_A" &&
	expect_eq "$("$PY" -c 'import hashlib, mmap, sys
with open(sys.argv[1], "rb") as f, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as m:
    print(hashlib.sha256(m).hexdigest())' "$f")" "$SUM_A" "mmap of $f"
}
rewrite() {
	randfile "$S/a2" $((2 * MiB + 7)) && cp "$S/a2" "$M1/v/a.bin" && rm "$M1/v/sub/b.txt" &&
	echo new >"$M1/v/new.txt" && cl_wait_converged 1 2 &&
	expect_sha "$M2/v/a.bin" "$(file_sha "$S/a2")" &&
	reads_old 1 && reads_old 2 && [ ! -e "$M2/.snapshots/r1/new.txt" ] && same 1 && same 2
}
check "node 1 rewrites a.bin, removes b.txt: r1 keeps the old bytes on both nodes" rewrite

gcj() { json_get "$1" <"$WORK/.cmd.out"; }
gc_on() { local i=$1; shift; expect_status 0 admin gc --json "$@" "${CL_M[$i]}"; }
keeps() {
	local i
	for i in 1 2; do
		gc_on "$i" --apply --grace 0 && expect_eq "$(gcj freed_chunks)" 0 "node $i freed_chunks" ||
			return 1
	done
	echo 3 >/proc/sys/vm/drop_caches
	reads_old 1 && reads_old 2
}
check "gc --apply --grace 0 on both nodes frees none of r1's chunks" keeps
fsck_clean() {
	expect_status 0 admin fsck --json "$M1" && expect_eq "$(gcj ok)" true "fsck ok"
}
check "fsck is clean" fsck_clean

erofs() {
	"$PY" - "$M2/.snapshots/r1" "$M2" <<'PYEOF'
import errno, os, sys
r, m = sys.argv[1], sys.argv[2]
def want(err, what, f, *a):
    try:
        f(*a)
    except OSError as e:
        if e.errno != err:
            sys.exit("%s: %s, want %s" % (what, errno.errorcode.get(e.errno), errno.errorcode[err]))
        return
    sys.exit("%s: succeeded, want %s" % (what, errno.errorcode[err]))
E = errno.EROFS
want(E, "create", os.open, r + "/new", os.O_CREAT | os.O_WRONLY, 0o644)
want(E, "open for writing", os.open, r + "/a.bin", os.O_WRONLY)
want(E, "open O_TRUNC", os.open, r + "/a.bin", os.O_RDWR | os.O_TRUNC)
want(E, "truncate", os.truncate, r + "/a.bin", 0)
want(E, "chmod", os.chmod, r + "/a.bin", 0o600)
want(E, "chown", os.chown, r + "/a.bin", 1, 1)
want(E, "utime", os.utime, r + "/a.bin", (1, 1))
want(E, "setxattr", os.setxattr, r + "/a.bin", "user.x", b"1")
want(E, "setxattr repl", os.setxattr, r + "/a.bin", "user.modelfs.repl", b"2")
want(E, "removexattr", os.removexattr, r + "/a.bin", "user.k")
want(E, "unlink", os.unlink, r + "/a.bin")
want(E, "rmdir", os.rmdir, r + "/empty")
want(E, "mkdir", os.mkdir, r + "/d")
want(E, "mknod", os.mkfifo, r + "/fifo")
want(E, "symlink", os.symlink, "x", r + "/s")
want(E, "link out", os.link, r + "/a.bin", m + "/v/hl")
want(E, "link in", os.link, m + "/v/new.txt", r + "/hl")
want(E, "rename out", os.rename, r + "/a.bin", m + "/v/moved")
want(E, "rename in", os.rename, m + "/v/new.txt", r + "/moved")
want(E, "rename within", os.rename, r + "/a.bin", r + "/b")
want(E, "rmdir the snapshot", os.rmdir, m + "/.snapshots/r1")
want(E, "mkdir in .snapshots", os.mkdir, m + "/.snapshots/x")
want(E, "rmdir .snapshots", os.rmdir, m + "/.snapshots")
want(errno.EEXIST, "mkdir .snapshots", os.mkdir, m + "/.snapshots")
if os.readlink(r + "/ln") != "a.bin" or os.getxattr(r + "/a.bin", "user.k") != b"val":
    sys.exit("readlink or getxattr inside r1 wrong")
PYEOF
}
check "inside r1 every write fails with EROFS; stat, readlink, xattrs work" \
	eval 'erofs && same 2 && [ -f "$M2/v/new.txt" ]'

restart2() { cl_stop 2 && cl_restart 2 && cl_wait_formed 1 2 && same 2 && reads_old 2; }
check "node 2 restarts: r1 is still there" restart2

trimmed() { [ "$(cl_get "$1" oplog_ops)" = 0 ]; }
applied() { [ "$(cl_get "$1" snapshots_applied)" -ge 1 ]; }
join3() {
	wait_for "$CL_TRIES" trimmed 1 && wait_for "$CL_TRIES" trimmed 2 &&
	cl_start 3 && wait_for "$CL_TRIES" applied 3 &&
	wait_for "$CL_TRIES" has_r1 3 && same 3 && reads_old 3
}
check "op logs trimmed; node 3 joins by a snapshot image and has r1" join3

bad_args() {
	expect_status 2 admin snapshot && expect_status 2 admin snapshot frob "$M1" &&
	expect_status 2 admin snapshot create "$M1/v" &&
	expect_status 2 admin snapshot create "$M1/v" a/b &&
	expect_status 2 admin snapshot create "$M1/v" .. &&
	expect_status 2 admin snapshot create "$M1/v" . &&
	expect_status 2 admin snapshot create "$M1/v" "$(printf 'a\nb')" &&
	expect_status 2 admin snapshot create "$M1/v/new.txt" x &&
	grep -q "not a directory" "$WORK/.cmd.err" &&
	expect_status 2 admin snapshot delete && expect_status 2 admin snapshot delete ../x "$M1" &&
	expect_status 2 admin snapshot list "$M1" "$M2" &&
	expect_status 1 admin snapshot create "$M1/v" r1 && grep -q "exists" "$WORK/.cmd.err" &&
	expect_status 1 admin snapshot create "$M1/.snapshots/r1/sub" r9 &&
	grep -q "read-only" "$WORK/.cmd.err" &&
	expect_status 1 admin snapshot delete nope "$M1" && grep -q "no such snapshot" "$WORK/.cmd.err" &&
	expect_status 1 admin snapshot list /tmp
}
check "wrong arguments: usage (2), or a clear error (1)" bad_args

gone() { [ ! -e "${CL_M[$1]}/.snapshots/r1" ]; }
# r1's own chunks are wherever placement put them: after step 7's gc trimmed
# the copies beyond each file's factor, that may be any node.  Sum them all.
FREED=0
frees() {
	local i
	for i in 1 2 3; do
		gc_on "$i" --apply --grace 0 && FREED=$((FREED + $(gcj freed_chunks))) || return 1
	done
	[ "$FREED" -ge 1 ]
}
delete() {
	expect_status 0 admin snapshot delete r1 "$M2" && gone 2 &&
	wait_for "$CL_TRIES" gone 1 && wait_for "$CL_TRIES" gone 3 ||
		{ echo "node 1 or 3 still shows r1" >&2; return 1; }
	expect_listing "$M1/.snapshots" &&
	wait_for "$CL_TRIES" frees || { echo "gc on nodes 1-3 freed nothing" >&2; return 1; }
	note "gc freed $FREED chunks of r1 on nodes 1-3"
}
check "snapshot delete on node 2: every node loses r1, gc frees its chunks" delete

# r2 of /v, /v removed: r2 alone names its files' chunks.
# Every node has met every other by now (membership records), so after a
# restart each sees both others up whatever its peer= options name: say
# so, or cl_wait_formed waits for a count it can never see.
all_peers() { cl_set_peers 1 2 3 && cl_set_peers 2 1 3 && cl_set_peers 3 1 2; }
lost() {
	expect_status 0 admin snapshot create "$M1/v" r2 && rm -r "$M1/v" &&
	cl_wait_converged 1 2 3 && cl_stop 3 && cl_stop 2 && cl_stop 1 &&
	"$CHUNK_TOOL" "${CL_D[1]}" drop-all && "$CHUNK_TOOL" "${CL_D[2]}" drop-all &&
	"$CHUNK_TOOL" "${CL_D[3]}" drop-all &&
	all_peers && cl_start 1 && cl_start 2 && cl_start 3 && cl_wait_formed 1 2 3 &&
	expect_status 4 admin fsck --json "$M1" &&
	expect_eq "$("$PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(sorted({f["path"] for f in d["files"] if f["problem"]}))' "$WORK/.cmd.out")" \
		"['/.snapshots/r2/a.bin', '/.snapshots/r2/new.txt', '/.snapshots/r2/sub/deep/c.txt']" \
		"files fsck finds chunks missing of"
}
check "r2 of /v, /v removed, every chunk dropped: fsck reports r2's files" lost

cl_done
