#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The bytes a file's readers keep when no commit publishes them (the file
# unlinked, or its commit failed) are not put back whole into memory: a
# file several times the staging budget (staging_mem_mb=32), most of whose
# bytes the write-behind stored and dropped from the staging, is read on
# from those chunks (fuse/kept.c).  The daemon put every dropped byte back
# into the staging's memfd (wb_restore), outside the budget: 384 MiB of
# RAM for a 384 MiB file, 20 GiB for a 20 GiB model (review s39, B).
#  1. A reader opens during the writer's close, whose commit is held; the
#     file is unlinked before its publish.  The writer holds a dup'ed
#     descriptor, so the reader reads first while the staging is still
#     there (before the RELEASE), then after it.
#  2. The same, but the commit fails (ENOSPC: the store's disk filled while
#     it was held), with a follower (opened before the close) as well.
#  3. A follower of a file unlinked while its writer writes: no commit.
# Each time every reader reads the whole file (its sha256 must be the
# source's); the daemon's memfds must hold less than a quarter of the
# file and its VmRSS grow by less than half of it.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
S=$WORK/src
HOLD=$WORK/hold
SIZE=$((384 * MiB))
mfs_log_allow "$D" 'No space left on device|ENOSPC|space|not published'

# One source per case: a file whose chunks are all stored already (an
# earlier case's) is not dropped from the staging as it is written.
for i in 1 2 3; do
	check "a $((SIZE / MiB)) MiB source" randfile "$S/f$i" "$SIZE" || mfs_abort "no source"
done
check "a 2 GiB tmpfs for the store" mfs_tmpfs "$D" 2g || mfs_abort "no tmpfs"
export MODELFS_TEST_COMMIT_HOLD=$HOLD
check "mount, staging_mem_mb=32 (commits wait for $HOLD)" \
	mfs_mount "$M" "$D" staging_mem_mb=32,write_behind_mb=8,cache_mb=16 || mfs_abort "no mount"
unset MODELFS_TEST_COMMIT_HOLD
dpid=$(cat "$D/modelfs.pid")
touch "$HOLD"

# staged_held: the bytes the daemon's staged files hold (their blocks),
# "MEMFDS DISK": its memfds, and the files a staging that outgrew the
# budget moved to (DATA/staging; on a tmpfs here, so memory too).  Which
# of the two a file is in depends on how fast its write-behind keeps up.
# Several descriptors of one file count it once.
staged_held() {
	local f
	for f in /proc/"$dpid"/fd/*; do
		case $(readlink "$f" 2>/dev/null) in
		/memfd:*) stat -L -c 'm %d:%i %b' "$f" 2>/dev/null ;;
		"$D"/staging/*) stat -L -c 'd %d:%i %b' "$f" 2>/dev/null ;;
		esac
	done | sort -u | awk '{ t[$1] += $3 * 512 } END { print t["m"] + 0, t["d"] + 0 }'
}
rss() { awk '/^VmRSS:/ { print $2 * 1024 }' /proc/"$dpid"/status; }
RSS0=$(rss)
say "daemon VmRSS after the mount: $((RSS0 / MiB)) MiB"
# bounded WHEN: the daemon's memory is not the file's size.
bounded() {
	local mem disk r
	read -r mem disk < <(staged_held)
	r=$(rss)
	note "$1: memfds hold $((mem / MiB)) MiB, staging files $((disk / MiB)) MiB, VmRSS $((r / MiB)) MiB (file $((SIZE / MiB)) MiB)"
	# The budget (32 MiB) in memory.  Not the files in DATA/staging: they
	# are disk on a real node, and how much of a file lands there depends on
	# how far the write-behind trailed the writer when the staging outgrew
	# the budget (285-288 MiB of 384 in the s40 CI run, which failed a
	# bound on them); the note above shows them.
	[ "$mem" -lt $((SIZE / 4)) ] || { echo "$1: the memfds hold $mem bytes" >&2; return 1; }
	[ $((r - RSS0)) -lt $((SIZE / 2)) ] || { echo "$1: VmRSS grew by $((r - RSS0))" >&2; return 1; }
}

# READER PATH OUT: opens PATH, reads 4 bytes; then, each time OUT.N
# appears (N = 1, 2, ...), reads the whole file and prints "N size sha".
cat >"$WORK/reader.py" <<'PYEOF'
import hashlib, os, sys, time
path, out = sys.argv[1], sys.argv[2]
fd = os.open(path, os.O_RDONLY)
def say(*a):
    with open(out, "a") as f:
        print(*a, file=f)
say("open", os.pread(fd, 4, 0).hex())
n = 1
while not os.path.exists(out + ".quit"):
    if not os.path.exists("%s.%d" % (out, n)):
        time.sleep(0.01)
        continue
    h, off = hashlib.sha256(), 0
    try:
        while True:
            b = os.pread(fd, 1 << 20, off)
            if not b:
                break
            h.update(b)
            off += len(b)
        say(n, os.fstat(fd).st_size, off, h.hexdigest())
    except OSError as e:
        say(n, "error", os.strerror(e.errno))
    n += 1
PYEOF
rpids=() routs=()
start_reader() {
	"$PY" "$WORK/reader.py" "$1" "$2" 2>>"$2.err" &
	rpids+=($!) routs+=("$2")
	wait_for 300 grep -q '^open' "$2" || { echo "the reader did not open $1: $(cat "$2" "$2.err")" >&2; return 1; }
}
# read_all OUT N SRC: the reader reads the whole file (its Nth time): SRC's bytes.
read_all() {
	touch "$1.$2" && wait_for 600 grep -q "^$2 " "$1" &&
		expect_eq "$(grep "^$2 " "$1")" "$2 $SIZE $SIZE $(file_sha "$3")" "$(basename "$1")'s read $2"
}
readers_done() {
	local p o rc=0
	for o in "${routs[@]}"; do touch "$o.quit"; done
	for p in "${rpids[@]}"; do wait "$p" || rc=1; done
	rpids=() routs=()
	return "$rc"
}

# WRITER PATH SRC OUT: writes SRC to PATH and dup()s the descriptor;
# at OUT.close closes the first (its FLUSH commits), at OUT.close2 the
# second (the RELEASE); prints each close's outcome to OUT.
writer=
start_writer() {
	"$PY" - "$1" "$2" "$3" <<'PYEOF' &
import errno, os, sys, time
path, src, out = sys.argv[1:4]
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
with open(src, "rb") as f:
    while True:
        b = f.read(1 << 20)
        if not b:
            break
        os.write(fd, b)
fd2 = os.dup(fd)
open(out + ".written", "w").close()
for d, at in ((fd, ".close"), (fd2, ".close2")):
    while not os.path.exists(out + at):
        time.sleep(0.01)
    try:
        os.close(d)
        r = "close ok"
    except OSError as e:
        r = "close " + errno.errorcode[e.errno]
    with open(out, "a") as f:
        print(r, file=f)
PYEOF
	writer=$!
	wait_for 600 test -e "$3.written" || { echo "the writer did not write" >&2; return 1; }
}
# held_close OUT: the writer's first close, its commit held.
held_close() {
	rm -f "$HOLD" "$HOLD.held" && touch "$1.close" &&
		wait_for 300 test -e "$HOLD.held" || { echo "the commit never started" >&2; return 1; }
}
waiting() { [ "$(cat "/proc/$1/wchan" 2>/dev/null)" = request_wait_answer ]; }
released() { [ "$(grep -c -- "$1" "$D/modelfs.log")" -ge "$2" ]; }

# 1. Unlinked during the close's commit.
rmpid=
unlinked() {
	start_writer "$M/f" "$S/f1" "$WORK/w1" && held_close "$WORK/w1" &&
		start_reader "$M/f" "$WORK/r1" && { rm "$M/f" & rmpid=$!; } &&
		wait_for 300 waiting "$rmpid" || { echo "the unlink did not reach the daemon" >&2; return 1; }
	touch "$HOLD" && wait "$rmpid" && wait_for 300 grep -q close "$WORK/w1" &&
		expect_eq "$(cat "$WORK/w1")" "close ok" "the writer's close" &&
		wait_for 300 released 'not published; the 1 readers' 1
}
check "1: a close held, a reader opens during it, the file unlinked: not published" unlinked
check "1: the reader reads it whole before the writer's RELEASE" read_all "$WORK/r1" 1 "$S/f1"
check "1: the daemon's memory meanwhile" bounded "1, before the RELEASE"
# release OUT N: the writer's last close; its RELEASE keeps the bytes (the Nth keep logged).
release() { touch "$1.close2" && wait "$writer" && wait_for 300 released "kept by 1 reader" "$2"; }
check "1: the writer's RELEASE: the reader keeps the bytes" release "$WORK/w1" 1
check "1: the daemon's memory with the bytes kept" bounded "1, kept"
check "1: the reader reads it whole after the RELEASE" read_all "$WORK/r1" 2 "$S/f1"
check "1: the daemon's memory after that read" bounded "1, kept and read"
check "1: the reader closes" readers_done

# 2. The commit fails: the store's disk fills while it is held.
failing() {
	start_writer "$M/g" "$S/f2" "$WORK/w2" && start_reader "$M/g" "$WORK/f2" && held_close "$WORK/w2" &&
		start_reader "$M/g" "$WORK/r2" &&
		dd if=/dev/zero of="$D/filler" bs=1M >/dev/null 2>&1 # until the disk is full
	touch "$HOLD" && wait_for 300 grep -q close "$WORK/w2" &&
		expect_eq "$(cat "$WORK/w2")" "close ENOSPC" "the writer's close"
}
check "2: a follower, a close whose commit fails (ENOSPC), a reader during it" failing
check "2: the reader reads it whole before the writer's RELEASE" read_all "$WORK/r2" 1 "$S/f2"
check "2: the follower too" read_all "$WORK/f2" 1 "$S/f2"
check "2: the daemon's memory meanwhile" bounded "2, before the RELEASE"
check "2: the writer's RELEASE: the readers keep the bytes" release "$WORK/w2" 2
check "2: the daemon's memory with the bytes kept" bounded "2, kept"
check "2: the reader reads it whole after the RELEASE" read_all "$WORK/r2" 2 "$S/f2"
check "2: the follower too" read_all "$WORK/f2" 2 "$S/f2"
check "2: the daemon's memory after those reads" bounded "2, kept and read"
check "2: the readers close" readers_done
check "2: the disk freed" rm -f "$D/filler"

# 3. A follower of a file unlinked while written: no commit at all.
unlinked_open() {
	start_writer "$M/h" "$S/f3" "$WORK/w3" && start_reader "$M/h" "$WORK/f3" && rm "$M/h"
}
check "3: a follower of a file being written; the file unlinked" unlinked_open
check "3: the follower reads it whole while the writer has it" read_all "$WORK/f3" 1 "$S/f3"
check "3: the daemon's memory meanwhile" bounded "3, writer open"
closes() {
	touch "$WORK/w3.close" "$WORK/w3.close2" && wait "$writer" &&
		expect_eq "$(tr '\n' ' ' <"$WORK/w3")" "close ok close ok " "the writer's closes"
}
check "3: the writer closes: the follower keeps the bytes" closes
check "3: the daemon's memory with the bytes kept" bounded "3, kept"
check "3: the follower reads it whole after the RELEASE" read_all "$WORK/f3" 2 "$S/f3"
check "3: the daemon's memory after that read" bounded "3, kept and read"
check "3: the follower closes" readers_done
check "every kept staged file went with its readers" eval '[ "$(staged_held)" = "0 0" ]'
mfs_done
