#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Processes that append lines to one log file, each line by an open with
# O_APPEND, one write and a close: the shell's `echo ... >> log`, a cron
# job's or a build step's log.  No lock is needed: every O_APPEND write
# lands at the end (POSIX), and on tmpfs every line is there.  Here a few
# lines in a few hundred went missing, without an error anywhere (hunt2
# s42): 1 to 5 of 600 with three processes, 117 of 600 with three shells.
# Two processes lost none in four runs, nor did three that each keep one
# descriptor open.  It is the lost-turn race of t0427 without the lock: a
# writer's open that meets another writer's commit of the file.  Fixed
# by one staging per file (fuse/stager.c, s42): every writer open joins
# the file's live staging.
#  1. the same lines on a tmpfs: all there (the reference);
#  2. three processes, open(O_WRONLY|O_APPEND|O_CREAT) per line;
#  3. three shells, `echo >> log` per line;
#  4. as 2, but each dups its descriptor and closes the first before it
#     writes, as the shell's redirect does (dup2): that FLUSH counts as
#     the writer's close (fs_read.c, closes_writer), its commit sees every
#     writer closed, and another process's open stages beside it instead
#     of sharing its staging; two processes lose 1 line in 10 this way;
#  5. three processes keeping one O_APPEND descriptor each (passes);
#  6. the same in one order, no race: A opens with O_APPEND, writes, dups
#     and closes the first descriptor (its FLUSH commits A's bytes, every
#     writer counted closed); B appends a line (open, write, close); A
#     writes through the dup and closes.  tmpfs: A0 B1 A1; here A's last
#     commit publishes A0 A1 over B's, every time.  A program that writes
#     to its log, then moves the descriptor (dup2 to 1, close: a daemon
#     that redirects its output; a shell's `exec 1>&3 3>&-`) does this.
#     (A launcher whose child inherits the descriptor and writes on after
#     the parent closed its own does not: the child's process is not the
#     opener's, closes_writer.)
MFS_TEST_TIMEOUT=${MFS_TEST_TIMEOUT:-900}
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
REF=$WORK/ref
PROCS=3
LINES=200
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"
check "a tmpfs to compare with" mfs_tmpfs "$REF" 16m || mfs_abort "no tmpfs"

# append.py PATH PROCS LINES MODE: PROCS processes append LINES lines each;
# prints how many distinct whole lines the file has.
cat >"$WORK/inturn.py" <<'PY'
import os, subprocess, sys
p = sys.argv[1]
with open(p, "w") as f:
    f.write("0 ")
fd = os.open(p, os.O_WRONLY | os.O_APPEND)
os.write(fd, b"A0 ")
dup = os.dup(fd)
os.close(fd)
subprocess.run(["sh", "-c", 'printf "B1 " >>"$1"', "sh", p], check=True)
os.write(dup, b"A1")
os.close(dup)
print(open(p).read())
PY

cat >"$WORK/append.py" <<'PY'
import os, sys
path, procs, lines, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
kids = []
for p in range(procs):
    pid = os.fork()
    if pid == 0:
        keep = os.open(path, flags, 0o644) if mode == "keep" else -1
        for i in range(lines):
            fd = keep if keep >= 0 else os.open(path, flags, 0o644)
            if mode == "dup":  # the shell's redirect: dup2, then close the first
                fd2 = os.dup(fd)
                os.close(fd)
                fd = fd2
            os.write(fd, b"p%d line %05d %s\n" % (p, i, b"x" * 40))
            if keep < 0:
                os.close(fd)
        os._exit(0)
    kids.append(pid)
bad = [k for k in kids if os.waitpid(k, 0)[1]]
got = set(l for l in open(path, "rb").read().split(b"\n") if len(l) == 54)
print(len(got))
sys.exit(1 if bad else 0)
PY

# appended DIR MODE: every line of PROCS x LINES is in DIR/MODE.log.
appended() {
	local got
	got=$("$PY" "$WORK/append.py" "$1/$2.log" "$PROCS" "$LINES" "$2") || return 1
	expect_eq "$got" $((PROCS * LINES)) "lines in $1/$2.log"
}

# shells DIR: PROCS shells each append LINES lines with >>.
shells() {
	local i pids=() got
	for i in $(seq "$PROCS"); do
		(for j in $(seq "$LINES"); do
			printf 'sh%d line %05d %s\n' "$i" "$j" xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx >>"$1/sh.log" || exit 1
		done) &
		pids+=($!)
	done
	# Not a bare wait: the watchdog is a background job of this shell too.
	for i in "${pids[@]}"; do
		wait "$i" || return 1
	done
	got=$(sort -u "$1/sh.log" | wc -l)
	expect_eq "$got" $((PROCS * LINES)) "lines in $1/sh.log"
}

check "tmpfs: every line of $PROCS appending processes is there" appended "$REF" reopen
check "tmpfs: every line of $PROCS appending shells is there" shells "$REF"
check "tmpfs: every line of $PROCS processes writing through a dup" appended "$REF" dup
check "$PROCS processes, an O_APPEND open per line: every line is there" appended "$M" reopen
check "$PROCS shells appending with >>: every line is there" shells "$M"
check "$PROCS processes, open, dup, close, write per line: every line is there" appended "$M" dup
# inturn DIR: the lines of A, B and A again, in that order.
inturn() {
	local got
	got=$("$PY" "$WORK/inturn.py" "$1/inturn.log") || return 1
	expect_eq "$got" "0 A0 B1 A1" "$1/inturn.log"
}
check "tmpfs: A writes, dups and closes; B appends; A writes on" inturn "$REF"
check "A writes, dups and closes; B appends; A writes on: B's line stays" inturn "$M"
check "$PROCS processes keeping an O_APPEND descriptor: every line is there" appended "$M" keep

mfs_done
