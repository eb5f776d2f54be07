#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A rewrite publishes a new version; a reader that opened the old one keeps
# reading the old bytes to the end.  A reader opens the file, reads half,
# the file is replaced (cp over it with the same size after the old version
# was cached, cp with a smaller size, a new file renamed over it, cp under a
# shared mapping, rm), then the reader reads the rest: all it read is the old
# version.  A new open sees the new version, under a new inode number
# (user.modelfs.ino), while st_ino, the file id, stays the same.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
S=$WORK/src
declare -A sum=() size=()

check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

sources() {
	local v
	for v in v1:24 v2:24 v3:16 v4:32 v5:8 v6:12; do
		randfile "$S/${v%:*}" $((${v#*:} * MiB)) || return 1
		sum[${v%:*}]=$(file_sha "$S/${v%:*}")
		size[${v%:*}]=$((${v#*:} * MiB))
	done
	cp "$S/v1" "$M/f"
}
check "store v1" sources || mfs_abort "no sources"

# with_reader KIND OLD NEW ACTION...: a reader of kind KIND (reader or
# mmapreader) holds version OLD of $M/f while ACTION runs; then it must have
# read OLD whole, and a new open must see NEW under a new inode number
# (the node's, user.modelfs.ino) with the same st_ino.
with_reader() {
	local kind=$1 old=$2 new=$3 rpid ino_old fid_old got rc
	shift 3
	rm -f "$WORK/ready" "$WORK/go" "$WORK/reader.out"
	ino_old=$(node_ino "$M/f") && fid_old=$(stat -c %i "$M/f") || return 1
	"$PY" "$HELPER" "$kind" "$M/f" "$WORK/ready" "$WORK/go" >"$WORK/reader.out" 2>&1 &
	rpid=$!
	if ! wait_for 300 test -e "$WORK/ready"; then
		echo "the reader did not read its first half within 30 s" >&2
		kill "$rpid"
		return 1
	fi
	"$@" || { echo "action failed: $*" >&2; touch "$WORK/go"; wait "$rpid"; return 1; }
	touch "$WORK/go"
	wait "$rpid"
	rc=$?
	got=$(cat "$WORK/reader.out")
	expect_eq "$rc" 0 "reader exit status ($got)" &&
	expect_eq "$got" "${size[$old]} ${sum[$old]}" "what the old reader read (length sha256)" || return 1
	[ "$new" = none ] && return 0
	expect_sha "$M/f" "${sum[$new]}" &&
	expect_eq "$(stat -c %s "$M/f")" "${size[$new]}" "size seen by stat" || return 1
	if [ "$(node_ino "$M/f")" = "$ino_old" ]; then
		echo "the new version kept inode number $ino_old" >&2
		return 1
	fi
	# A rewrite keeps the file (and its st_ino); a rename over puts another there.
	if [ "$1" = rename_over ]; then
		[ "$(stat -c %i "$M/f")" != "$fid_old" ] || { echo "rename over kept st_ino" >&2; return 1; }
	else
		expect_eq "$(stat -c %i "$M/f")" "$fid_old" "st_ino (the file id) across versions"
	fi
}

# node_ino PATH: the inode number of the version a new open gets.
node_ino() {
	getfattr --absolute-names --only-values -n user.modelfs.ino "$1"
}

cp_same_size() { cat "$M/f" >/dev/null && with_reader reader v1 v2 cp "$S/v2" "$M/f"; }
check "cp over (same size, old version cached): the reader reads v1, a new open v2" cp_same_size
check "cp over (smaller): the reader reads v2, a new open v3" with_reader reader v2 v3 cp "$S/v3" "$M/f"

rename_over() { cp "$S/v4" "$M/tmp" && mv "$M/tmp" "$M/f"; }
check "rename of a new file over it: the reader reads v3, a new open v4" with_reader reader v3 v4 rename_over
check "cp over under a shared mapping: the mapping shows v4, a new open v5" \
	with_reader mmapreader v4 v5 cp "$S/v5" "$M/f"

rm_open() {
	with_reader reader v5 none rm "$M/f" &&
	expect_errno ENOENT stat "$M/f" &&
	expect_listing "$M"
}
check "rm while open: the reader reads v5 to the end, the name is gone" rm_open

# Regression: with atomic O_TRUNC the kernel cut the shared inode's size to
# 0 at the rewriter's open, and a fault in the old mapping past the new
# length raised SIGBUS.
mmap_past_new_end() {
	"$PY" - "$M/m" <<'PY'
import mmap, os, sys
p = sys.argv[1]
open(p, "wb").write(b"A" * (4 << 20))
r = os.open(p, os.O_RDONLY)
m = mmap.mmap(r, 0, prot=mmap.PROT_READ)
assert m[3 << 20] == ord("A")
w = os.open(p, os.O_WRONLY | os.O_TRUNC)
os.write(w, b"B" * 1000)
os.close(w)
assert m[:] == b"A" * (4 << 20), "the mapping changed"
assert open(p, "rb").read() == b"B" * 1000, "a new open does not see the rewrite"
PY
}
check "O_TRUNC rewrite of a 4 MiB file mapped by a reader: no SIGBUS, the mapping keeps v1" mmap_past_new_end

# Regression: a writer whose handle is on an old inode (it fsynced, then
# another writer committed) lost its bytes at close, which returned 0.
late_writer_wins() {
	"$PY" - "$M/w" <<'PY'
import os, sys
p = sys.argv[1]
open(p, "wb").write(b"original\n")
w1 = os.open(p, os.O_WRONLY)
os.pwrite(w1, b"w1-first", 0)
os.fsync(w1)                                   # the path moves to a new inode
w2 = os.open(p, os.O_WRONLY | os.O_TRUNC)
os.write(w2, b"from writer 2\n")
os.close(w2)                                   # and again
os.pwrite(w1, b"from writer 1, closed last\n", 0)
os.ftruncate(w1, 27)
os.close(w1)
got = open(p, "rb").read()
assert got == b"from writer 1, closed last\n", got
PY
}
check "two writers, one on an old inode: the last close wins, nothing is dropped" late_writer_wins

# Regression: a new file published in place by fsync while its writer
# goes on writing through the page cache; a reader that opened after the
# fsync reads what the writer wrote (t0414), whole and unmixed, and keeps
# the version of the writer's close.
reader_after_fsync() {
	"$PY" - "$M/p" <<'PY'
import os, sys
p = sys.argv[1]
w = os.open(p, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
os.write(w, b"A" * (1 << 20))
os.fsync(w)
r = os.open(p, os.O_RDONLY)
os.pwrite(w, b"B" * 100, 0)
want = b"B" * 100 + b"A" * ((1 << 20) - 100)
assert os.pread(r, 2 << 20, 0) == want, "reader did not read the writer's bytes"
os.close(w)
assert os.pread(r, 2 << 20, 0) == want, "reader's bytes changed at the writer's close"
w = os.open(p, os.O_WRONLY | os.O_TRUNC)
os.write(w, b"C")
os.close(w)
assert os.pread(r, 2 << 20, 0) == want, "reader's version changed at a later commit"
assert open(p, "rb").read() == b"C", "a new open does not see the last commit"
PY
}
check "fsync of a new file, writer goes on: a reader opened after the fsync reads its bytes" reader_after_fsync

# Regression (review, s38): a writer W fsyncs a rewrite and keeps the
# file open (the path shows its bytes through a view); another process
# rewrites the path (open "wb": its O_TRUNC reaches W's staging through
# the view) and closes; W closes without writing more.  W's close must not
# publish the cut over the other writer's version: the file was left
# empty in 8 runs of 12.  As on tmpfs, the other writer's bytes stay.
# (Shorter and longer rewrites, and the other orders: t0416.)
rewrite_during_view() {
	"$PY" - "$M/tv" <<'PY'
import os, sys
p = sys.argv[1]
for rnd in range(4):
    with open(p, "wb") as f:
        f.write(b"v0" * 4096)
    w = os.open(p, os.O_WRONLY | os.O_TRUNC)
    os.write(w, b"v1" * (1 << 20))
    os.fsync(w)
    with open(p, "wb") as x:
        x.write(b"v2" * (1 << 20))
    os.close(w)
    got = open(p, "rb").read()
    assert got == b"v2" * (1 << 20), "round %d: %d bytes, starting %r" % (rnd, len(got), got[:4])
PY
}
check "a rewrite while another writer's view is on the path outlives that writer's close" rewrite_during_view

new_after_rm() {
	cp "$S/v6" "$M/f" && expect_sha "$M/f" "${sum[v6]}" &&
	mfs_remount "$M" && expect_sha "$M/f" "${sum[v6]}"
}
check "a new file under the same name, also after remount" new_after_rm

mfs_done
