#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Special files and hard links.  mkfifo, mknod of character and block
# devices (type, major, minor) and a bound unix socket make names whose
# opens the kernel serves itself; link of each type counts names (nlink) and
# moves ctime; a rewrite of a hard-linked file is seen through every name;
# unlink of one name keeps the others; all of it survives a remount.  cp -a,
# tar x and rsync -aH (when installed) of a tree holding every type plus
# hard links give what stat(2) shows for the source.  Directories cannot be
# hard-linked.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
S=$WORK/src
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

ctime_ns() { "$PY" -c 'import os, sys; print(os.lstat(sys.argv[1]).st_ctime_ns)' "$1"; }
# moved WHAT BEFORE AFTER: a time went forward.
moved() {
	[ "$3" -gt "$2" ] && return 0
	echo "$1 did not move: $2 -> $3" >&2
	return 1
}

specials() {
	mkfifo "$M/fifo" &&
	mknod "$M/chr" c 10 200 &&
	mknod "$M/blk" b 7 300 &&
	expect_eq "$("$PY" "$HELPER" errno bind_unix "$M/sock")" OK "bind of a unix socket" &&
	expect_eq "$(stat -c %F "$M/fifo")" fifo "type of fifo" &&
	expect_eq "$(stat -c '%F %t %T' "$M/chr")" "character special file a c8" "chr" &&
	expect_eq "$(stat -c '%F %t %T' "$M/blk")" "block special file 7 12c" "blk" &&
	expect_eq "$(stat -c '%F %h %s' "$M/sock")" "socket 1 0" "sock"
}
check "mkfifo, mknod c and b (major, minor), bind of a unix socket" specials

socket_io() {
	"$PY" - "$M/live.sock" <<'EOF'
import os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(1)
c = socket.socket(socket.AF_UNIX)
c.connect(sys.argv[1])
a, _ = s.accept()
c.sendall(b"ping")
assert a.recv(4) == b"ping"
for x in (a, c, s):
    x.close()
os.unlink(sys.argv[1])
EOF
}
check "a unix socket bound on the mount takes a connection through its name" socket_io

fifo_io() {
	local got
	# The kernel's pipe serves the FIFO: a writer and a reader meet.
	timeout 20 sh -c "echo through-the-fifo >'$M/fifo'" &
	got=$(timeout 20 cat "$M/fifo") &&
	wait $! &&
	expect_eq "$got" through-the-fifo "bytes through the FIFO"
}
check "a FIFO on the mount carries bytes between two processes" fifo_io

device_open() {
	local got
	mknod "$M/null" c 1 3 &&
	got=$("$PY" "$HELPER" errno open "$M/null") || return 1
	# nodev mounts refuse device opens in the kernel (EACCES); never the daemon's EINVAL.
	case $got in
	OK|EACCES) ;;
	*) echo "open of a device node: $got" >&2; return 1 ;;
	esac
	rm "$M/null"
}
check "open of a device node is the kernel's (OK, or EACCES on nodev)" device_open

regular_mknod() {
	"$PY" -c 'import os, stat, sys; os.mknod(sys.argv[1], 0o640 | stat.S_IFREG)' "$M/plain" &&
	expect_eq "$(stat -c '%F %s %a' "$M/plain")" "regular empty file 0 640" "mknod S_IFREG" &&
	echo more >>"$M/plain" &&
	expect_eq "$(cat "$M/plain")" more "append to it"
}
check "mknod of a regular file makes an empty file" regular_mknod

link_each() { # NAME
	local before after
	before=$(ctime_ns "$M/$1") &&
	ln "$M/$1" "$M/$1.l" &&
	after=$(ctime_ns "$M/$1") &&
	expect_eq "$(stat -c '%h %i' "$M/$1")" "2 $(stat -c %i "$M/$1.l")" "nlink and inode of $1" &&
	expect_eq "$(stat -c '%F %t %T' "$M/$1.l")" "$(stat -c '%F %t %T' "$M/$1")" "type of $1.l" &&
	moved "ctime of $1" "$before" "$after"
}
regfile() { echo one >"$M/f" && link_each f; }
check "link of a regular file: nlink 2, same inode, ctime moved" regfile
check "link of a FIFO" link_each fifo
check "link of a character device" link_each chr
check "link of a block device" link_each blk
check "link of a socket" link_each sock

dir_link() {
	mkdir "$M/dir" &&
	expect_errno EPERM link "$M/dir" "$M/dir.l" &&
	expect_errno ENOENT lstat "$M/dir.l"
}
check "a directory cannot be hard-linked (EPERM)" dir_link

rewrite() {
	mkdir -p "$M/sub" &&
	ln "$M/f" "$M/sub/f3" &&
	expect_eq "$(stat -c %h "$M/f.l")" 3 "nlink after a third name" &&
	expect_eq "$(cat "$M/f.l")" one "through the link" &&
	echo two >"$M/f" &&
	expect_eq "$(cat "$M/f.l")" two "rewrite through f, read through f.l" &&
	expect_eq "$(cat "$M/sub/f3")" two "rewrite through f, read through sub/f3" &&
	echo three >"$M/sub/f3" &&
	expect_eq "$(cat "$M/f")" three "rewrite through sub/f3, read through f" &&
	expect_eq "$(stat -c '%i %h' "$M/f")" "$(stat -c '%i %h' "$M/f.l")" "one inode, 3 names" &&
	expect_eq "$(stat -c %h "$M/sub/f3")" 3 "nlink after rewrites"
}
check "a rewrite of a hard-linked file is seen through every name" rewrite

unlink_one() {
	local before after
	before=$(ctime_ns "$M/f.l") &&
	rm "$M/f" &&
	after=$(ctime_ns "$M/f.l") &&
	expect_eq "$(stat -c %h "$M/f.l")" 2 "nlink after unlink" &&
	expect_eq "$(cat "$M/f.l")" three "content" &&
	moved "ctime of f.l" "$before" "$after" &&
	echo other >"$M/g" && mv "$M/g" "$M/sub/f3" &&
	expect_eq "$(stat -c %h "$M/f.l")" 1 "nlink after a rename over a name" &&
	expect_eq "$(cat "$M/f.l")" three "content after the rename" &&
	rm "$M/chr.l" && expect_eq "$(stat -c %h "$M/chr")" 1 "device nlink after unlink"
}
check "unlink and rename-over of one name keep the others" unlink_one

# snapshot DIR: each entry's type, mode, nlink, major, minor, size (not a
# directory's), owner and mtime (ns), then the groups of names that share an
# inode.
snapshot() {
	"$PY" - "$1" <<'EOF'
import os, stat, sys
top, groups = sys.argv[1], {}
for root, dirs, files in os.walk(top):
    dirs.sort()
    for n in sorted(dirs + files):
        p = os.path.join(root, n)
        r, st = os.path.relpath(p, top), os.lstat(p)
        size = "-" if stat.S_ISDIR(st.st_mode) else st.st_size  # a directory's is the fs's
        print(r, oct(stat.S_IFMT(st.st_mode)), oct(stat.S_IMODE(st.st_mode)), st.st_nlink,
              os.major(st.st_rdev), os.minor(st.st_rdev), size, st.st_uid, st.st_gid,
              st.st_mtime_ns)
        if not stat.S_ISDIR(st.st_mode):
            groups.setdefault(st.st_ino, []).append(r)
for g in sorted(sorted(v) for v in groups.values()):
    print("group", *g)
EOF
}

persist() {
	snapshot "$M" >"$WORK/before" &&
	mfs_remount "$M" &&
	snapshot "$M" >"$WORK/after" &&
	diff "$WORK/before" "$WORK/after" >&2 &&
	expect_eq "$(cat "$M/f.l")" three "content after remount"
}
check "special files and links survive a remount" persist

tree() {
	mkdir -p "$S/t/d/e" &&
	echo alpha >"$S/t/a" && head -c 300000 /dev/urandom >"$S/t/d/big" &&
	ln "$S/t/a" "$S/t/d/a2" && ln "$S/t/a" "$S/t/d/e/a3" &&
	mkfifo "$S/t/p" && ln "$S/t/p" "$S/t/d/p2" &&
	mknod "$S/t/c" c 4 66 && ln "$S/t/c" "$S/t/c2" &&
	mknod "$S/t/d/b" b 8 1 &&
	ln -s a "$S/t/sym" && ln -s ../a "$S/t/d/sym2" &&
	chmod 0600 "$S/t/d/big" && chmod 0711 "$S/t/d/e" &&
	touch -d '2001-02-03 04:05:06.123456789' "$S/t/a" "$S/t/d/big" "$S/t/p" "$S/t/c" "$S/t/d/b" &&
	# Every time in the past: a fresh clone's run saw rsync leave a symlink's
	# mtime alone when it fell in the same second as the copy rsync had just
	# made (its compare there looked at seconds only).
	touch -h -d '2002-02-03 04:05:06' "$S/t/sym" "$S/t/d/sym2" &&
	touch -d '2003-02-03 04:05:06' "$S/t/d/e" "$S/t/d" "$S/t"
}
check "a source tree with every type and hard links" tree

cp_a() {
	cp -a "$S/t" "$M/cpa" &&
	snapshot "$S/t" >"$WORK/src.snap" &&
	snapshot "$M/cpa" >"$WORK/cpa.snap" &&
	diff "$WORK/src.snap" "$WORK/cpa.snap" >&2 &&
	cmp "$S/t/d/big" "$M/cpa/d/big"
}
check "cp -a of the tree: same types, modes, links, rdevs, sizes, times" cp_a

cp_socket() {
	mkdir "$S/s" && expect_eq "$("$PY" "$HELPER" errno bind_unix "$S/s/sock")" OK "bind in the source" &&
	ln "$S/s/sock" "$S/s/sock2" &&
	cp -a "$S/s" "$M/cps" &&
	expect_eq "$(stat -c '%F %h' "$M/cps/sock")" "socket 2" "copied socket" &&
	expect_eq "$(stat -c %i "$M/cps/sock")" "$(stat -c %i "$M/cps/sock2")" "one inode"
}
check "cp -a of a directory with a linked unix socket" cp_socket

# The archive keeps whole seconds and no links between special files:
# compare with the same archive extracted on local disk.
tar_x() {
	(cd "$S" && tar cf "$WORK/t.tar" t) &&
	mkdir "$M/tarx" "$WORK/tarx" &&
	(cd "$WORK/tarx" && tar xpf "$WORK/t.tar") &&
	(cd "$M/tarx" && tar xpf "$WORK/t.tar") &&
	snapshot "$WORK/tarx/t" >"$WORK/tar.ref" &&
	snapshot "$M/tarx/t" >"$WORK/tar.snap" &&
	diff "$WORK/tar.ref" "$WORK/tar.snap" >&2 &&
	grep -qx "group a d/a2 d/e/a3" "$WORK/tar.snap" &&
	cmp "$S/t/d/big" "$M/tarx/t/d/big"
}
check "tar x of the tree: same as on local disk, links kept" tar_x

rsync_a() {
	if ! command -v rsync >/dev/null; then
		say "rsync is not installed: rsync -a not tried"
		return 0
	fi
	rsync -aH "$S/t/" "$M/rsync/" &&
	snapshot "$M/rsync" >"$WORK/rsync.snap" &&
	diff "$WORK/src.snap" "$WORK/rsync.snap" >&2
}
check "rsync -aH of the tree (if rsync is installed): same as the source" rsync_a

copies_persist() {
	mfs_remount "$M" &&
	snapshot "$M/cpa" >"$WORK/cpa2.snap" &&
	diff "$WORK/src.snap" "$WORK/cpa2.snap" >&2
}
check "the copies survive a remount" copies_persist

mfs_done
