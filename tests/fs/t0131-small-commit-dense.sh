#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A small file written front to back (no gap) commits without asking its
# staged file where the data is: no lseek(SEEK_DATA/SEEK_HOLE) and no
# fstat in the daemon for it (issue 10: five of its ~26 syscalls per small
# file, ~4.5 us each on the bench VM).  Counted with strace on the daemon
# while small files are copied in; skipped without strace.  Then the
# staged files that do have holes, each made in one open: a write past
# the end, a truncate up, a fallocate, each read back whole, zeros in the
# holes, after a remount; and a created file shows 0 blocks while open.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
S=$WORK/src
N=20

check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

sources() {
	local i
	for ((i = 0; i < N; i++)); do
		randfile "$S/f$i" $((i * 3001 + 1)) || return 1
	done
}
check "make $N source files of 1 B to 56 KiB" sources || mfs_abort "no sources"

attached() { grep -q attached "$WORK/strace.err"; }

# No SEEK_DATA/SEEK_HOLE and no fstat of a staged file in the daemon while
# N small files are copied in, each front to back.
no_seeks() {
	local pid sp n i
	pid=$(mfs_daemon_pid "$M")
	strace -f -y -e trace=lseek,fstat,newfstatat -p "$pid" -o "$WORK/strace.out" \
		2>"$WORK/strace.err" &
	sp=$!
	wait_for 100 attached || { kill "$sp"; echo "strace did not attach" >&2; return 1; }
	mkdir "$M/dense" || return 1
	for ((i = 0; i < N; i++)); do
		cp "$S/f$i" "$M/dense/f$i" || { kill -INT "$sp"; return 1; }
	done
	kill -INT "$sp"
	wait "$sp"
	# the staged files' calls only (-y names the memfd): RocksDB's are not these
	grep 'modelfs-staging' "$WORK/strace.out" >"$WORK/staged.calls"
	n=$(grep -c 'SEEK_DATA\|SEEK_HOLE' "$WORK/staged.calls")
	note "daemon: $n lseek(SEEK_DATA/SEEK_HOLE), $(grep -c 'fstat' "$WORK/staged.calls") fstat of staged files for $N small files"
	for ((i = 0; i < N; i++)); do
		cmp "$S/f$i" "$M/dense/f$i" || return 1
	done
	[ "$n" -eq 0 ] || { echo "$n lseek(SEEK_DATA/SEEK_HOLE) for $N dense small files" >&2; return 1; }
	grep -q 'fstat' "$WORK/staged.calls" && {
		echo "the daemon ran fstat on staged files of dense small files:" >&2
		grep 'fstat' "$WORK/staged.calls" | head -5 >&2
		return 1
	}
	return 0
}
if command -v strace >/dev/null; then
	check "dense small files: committed without SEEK_DATA/SEEK_HOLE or fstat, read back whole" no_seeks
else
	ok "# SKIP no strace"
fi

# holes: each file made in one open, its expected bytes beside it
holes() {
	mkdir "$M/holes" "$WORK/want" || return 1
	"$PY" - "$M/holes" "$WORK/want" <<'EOF' || return 1
import os, sys
mnt, want = sys.argv[1], sys.argv[2]
a, b = os.urandom(100), os.urandom(3000)
def make(name, steps, expect):
    fd = os.open(os.path.join(mnt, name), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    for s in steps:
        s(fd)
    os.close(fd)
    with open(os.path.join(want, name), "wb") as f:
        f.write(expect)
make("gap", [lambda fd: os.pwrite(fd, a, 0), lambda fd: os.pwrite(fd, b, 8192)],
     a + bytes(8192 - 100) + b)
make("truncup", [lambda fd: os.pwrite(fd, a, 0), lambda fd: os.ftruncate(fd, 20000),
                 lambda fd: os.pwrite(fd, b[:10], 19990)],
     a + bytes(19890) + b[:10])
make("falloc", [lambda fd: os.posix_fallocate(fd, 0, 30000), lambda fd: os.pwrite(fd, b, 4096)],
     bytes(4096) + b + bytes(30000 - 4096 - 3000))
make("tail", [lambda fd: os.pwrite(fd, b, 0), lambda fd: os.pwrite(fd, a, 40000)],
     b + bytes(40000 - 3000) + a)
EOF
	mfs_remount "$M" || return 1
	for f in gap truncup falloc tail; do
		cmp "$WORK/want/$f" "$M/holes/$f" || return 1
	done
}
check "small files with a gap, a truncate up, a fallocate: whole after remount" holes

# a created file's blocks while it is open and empty: 0
empty_blocks() {
	"$PY" - "$M/empty" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
st = os.fstat(fd)
os.close(fd)
st2 = os.stat(sys.argv[1])
if st.st_blocks or st.st_size or st2.st_blocks or st2.st_size:
    sys.exit("blocks %d size %d open, %d %d closed" % (st.st_blocks, st.st_size, st2.st_blocks, st2.st_size))
EOF
}
check "a created file shows 0 blocks while open and after close" empty_blocks

check "umount" mfs_umount "$M"
mfs_done
