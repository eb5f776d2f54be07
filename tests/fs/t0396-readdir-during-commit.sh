#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A listing of a directory, and stat, lookup and getfattr of a file, do
# not wait for the commit of that file.  A commit holds its file's node
# locked while it chunks the bytes (seconds for a large file; in a
# sanitizer build a 64 GiB sparse file took 9 s and `truncate -s 8T` ten
# minutes), and readdirplus used to wait for that lock to give the entry
# its attributes: `ls` of a download directory hung until the download's
# close was done; `ls -l`, `stat` and `getfattr` still did (0.86 s for a
# 1 GiB dd here).  Here the commit is held for the test
# (MODELFS_TEST_COMMIT_HOLD) and each request must finish while it is:
# readdirplus sends such an entry without attributes, and the others
# answer with the attributes the commit began with (fuse/noted_attrs.c).
#
# An open(2) for reading does not wait either, and reads what the writer
# wrote, not the file as it was before (fuse/commit_open.c): cat, and a
# reader that reads, maps and fstats the file during the commit, then
# again after it ended and the writer's staging is gone.  A rewrite's
# commit still holds an opener (one inode, one size: commit_open.c, note
# 2), which then reads the new bytes, not the old ones.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
HOLD=$WORK/hold
export MODELFS_TEST_COMMIT_HOLD=$HOLD
check "mount (commits wait for $HOLD)" mfs_mount "$M" "$D" || mfs_abort "no mount"
unset MODELFS_TEST_COMMIT_HOLD

writer=
setup() {
	mkdir "$M/dl" && touch "$HOLD" && for i in 1 2 3; do echo "$i" >"$M/dl/done$i" || return 1; done &&
	rm "$HOLD" "$HOLD.held" && ls -l "$M/dl" >/dev/null && sync
}
check "a directory with three files" setup

# The writer tags its file (user.src) before it writes and closes.
committing() {
	"$PY" - "$M/dl/model.bin" <<'PYEOF' &
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.setxattr(sys.argv[1], "user.src", b"hub")
os.write(fd, b"model bytes\n")
os.close(fd)
PYEOF
	writer=$!
	wait_for 300 test -e "$HOLD.held" || { echo "the commit never started" >&2; return 1; }
}
check "a file whose commit is under way (held)" committing

# Each listing runs with a bound far above what it needs: without the fix
# it waits for the commit, which waits for $HOLD, so it would never end.
listing() { # WHAT CMD...
	local out
	out=$(timeout 20 "$@" 2>&1) || { echo "$1 did not finish while the commit was held: $out" >&2; return 1; }
	case "$out" in
	*model.bin*) ;;
	*) echo "$1 does not list model.bin: $out" >&2; return 1 ;;
	esac
	pid_alive "$writer" || { echo "the writer's close ended: the commit was not held" >&2; return 1; }
}
check "ls -f lists the directory while the commit is held" listing ls -f "$M/dl"
check "find lists it too" listing find "$M/dl"
check "a second ls -f, with the kernel's entries cached" listing ls -f "$M/dl"
check "ls -l (a lookup or a stat of each entry)" listing ls -l "$M/dl"
check "stat of the file: the size written" listing stat -c '%s %n' "$M/dl/model.bin"
check "stat -c %s says 12" expect_eq "$(timeout 20 stat -c %s "$M/dl/model.bin")" 12 size
check "getfattr -d (listxattr, getxattr)" listing getfattr -d "$M/dl/model.bin"
check "getfattr of user.src gives its value" \
	expect_eq "$(timeout 20 getfattr --only-values -n user.src "$M/dl/model.bin")" hub user.src
check "getfattr of user.modelfs.repl" listing getfattr -n user.modelfs.repl "$M/dl/model.bin"

check "cat of the file: the bytes written" \
	expect_eq "$(timeout 20 cat "$M/dl/model.bin" 2>&1)" "model bytes" "cat model.bin"

# Each reader's RELEASE (sent after its close returned) must not wait for
# the commit either: more of them than the daemon has threads (32), and
# the mount answered nothing more until the commit ended.
many_opens() {
	local i
	for i in $(seq 48); do
		timeout 20 cat "$M/dl/model.bin" >/dev/null || { echo "open $i did not finish while the commit was held" >&2; return 1; }
	done
	listing stat -c '%s %n' "$M/dl/model.bin"
}
check "48 opens and closes during the commit, then a stat" many_opens

# A reader that opens now keeps its descriptor and its map across the
# commit's end: "open" once it has read and mapped, "after" at the end.
reader='' rdout=$WORK/reader.out
opened() {
	"$PY" - "$M/dl/model.bin" "$WORK/go" >"$rdout" 2>&1 <<'PYEOF' &
import mmap, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
def look(when):
    mm = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
    print(when, os.fstat(fd).st_size, os.pread(fd, 64, 0), mm[:], flush=True)
    mm.close()
look("open")
while not os.path.exists(sys.argv[2]):
    time.sleep(0.01)
look("after")
PYEOF
	reader=$!
	wait_for 200 grep -q '^open' "$rdout" || { echo "the reader did not read while the commit was held: $(cat "$rdout")" >&2; return 1; }
	expect_eq "$(cat "$rdout")" "open 12 b'model bytes\n' b'model bytes\n'" "reader" || return 1
	pid_alive "$writer" || { echo "the commit was not held" >&2; return 1; }
}
check "open, read, fstat and mmap during the commit: the bytes written" opened

release() { touch "$HOLD" && wait "$writer"; }
check "the commit goes on once released; the writer's close succeeds" release
check "model.bin has its bytes" expect_eq "$(cat "$M/dl/model.bin")" "model bytes" model.bin
check "stat after the commit: its size" expect_eq "$(stat -c %s "$M/dl/model.bin")" 12 size
after() {
	touch "$WORK/go" && wait "$reader" &&
		expect_eq "$(sed -n 2p "$rdout")" "after 12 b'model bytes\n' b'model bytes\n'" "reader after"
}
check "the reader's descriptor and map after the commit: the same bytes" after

# A rewrite: the commit publishes a new inode.  An open meanwhile waits
# for it, then reads the new bytes (before: the old ones).
rewriting() {
	rm -f "$HOLD" "$HOLD.held" || return 1
	"$PY" - "$M/dl/model.bin" <<'PYEOF' &
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)
os.write(fd, b"second version\n")
os.close(fd)
PYEOF
	writer=$!
	wait_for 300 test -e "$HOLD.held" || { echo "the commit never started" >&2; return 1; }
	timeout 60 cat "$M/dl/model.bin" >"$WORK/cat2.out" 2>&1 &
	reader=$!
	# The open reached the daemon and waits there (nothing to wait on: a pause).
	sleep 0.5
	touch "$HOLD" && wait "$writer" && wait "$reader" &&
		expect_eq "$(cat "$WORK/cat2.out")" "second version" "cat during the rewrite's commit"
}
check "an open during a rewrite's commit reads the new version" rewriting

# A file whose write-behind dropped staged bytes (stored as chunks: a file
# runs at most 128 MiB ahead of them, t0126): a reader during the held
# commit reads them from those chunks, through the page cache and by a
# map.  Before, its open waited for the commit.
M2=$WORK/mnt2
HOLD2=$WORK/hold2
export MODELFS_TEST_COMMIT_HOLD=$HOLD2
check "a second mount: write-behind from 1 MiB" mfs_mount "$M2" "$WORK/data2" write_behind_mb=1
unset MODELFS_TEST_COMMIT_HOLD
big_held() {
	randfile "$WORK/big" $((160 * MiB)) || return 1
	cp "$WORK/big" "$M2/big" &
	writer=$!
	wait_for 300 test -e "$HOLD2.held" || { echo "the commit never started" >&2; return 1; }
	local want got
	want=$(file_sha "$WORK/big")
	got=$(timeout 20 "$PY" - "$M2/big" <<'PYEOF'
import hashlib, mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
h = hashlib.sha256()
while True:
    b = os.read(fd, 1 << 20)
    if not b:
        break
    h.update(b)
mm = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
print(os.fstat(fd).st_size, h.hexdigest(), hashlib.sha256(mm).hexdigest())
PYEOF
	) || { echo "the reader did not finish while the commit was held: $got" >&2; return 1; }
	expect_eq "$got" "$((160 * MiB)) $want $want" "size, read, map" || return 1
	pid_alive "$writer" || { echo "the commit was not held" >&2; return 1; }
}
check "a 160 MiB file's commit held: read and mapped whole, dropped bytes too" big_held
big_done() {
	touch "$HOLD2" && wait "$writer" || return 1
	grep -q 'write-behind at commit: usable, .* [1-9][0-9]* dropped' "$WORK/data2/modelfs.log" || {
		echo "no bytes were dropped: $(grep 'write-behind at commit' "$WORK/data2/modelfs.log")" >&2
		return 1
	}
	expect_sha "$M2/big" "$(file_sha "$WORK/big")"
}
check "the commit ends; bytes had been dropped; the file is whole" big_done

mfs_done
