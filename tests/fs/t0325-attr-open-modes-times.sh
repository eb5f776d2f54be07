#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Calls that used to take the daemon down or lose what the caller set:
# open(O_CREAT|O_RDONLY) of a new name (flock(1) makes it) creates and
# publishes the file like O_WRONLY; times set by cp -a, cp -p, tar x and
# futimens before or after close are the published version's, also after a
# remount (tar in pax format, which keeps nanoseconds); fallocate (mode 0, KEEP_SIZE, punch hole) on files being written;
# sqlite3 keeps every row across transactions (its database keeps its
# st_ino when rewritten); np.memmap(mode='r+') of a published file.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
S=$WORK/src
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

creat_rdonly() {
	flock "$M/.lock" true &&
	"$PY" -c 'import os, sys
for mode in (os.O_RDONLY, os.O_RDWR, os.O_WRONLY):
    p = os.path.join(sys.argv[1], "c%d" % mode)
    fd = os.open(p, os.O_CREAT | mode, 0o640)
    os.fstat(fd)
    if mode == os.O_RDONLY:
        assert os.read(fd, 10) == b"", "read of a new empty file"
    os.close(fd)
' "$M" &&
	expect_eq "$(stat -c '%F %s %a' "$M/.lock")" "regular empty file 0 644" "flock's lock file" &&
	expect_eq "$(stat -c '%s %a' "$M/c0")" "0 640" "O_CREAT|O_RDONLY file" &&
	mountpoint -q "$M"
}
check "open(O_CREAT|O_RDONLY) creates and publishes a file, the daemon lives" creat_rdonly

make_src() {
	mkdir -p "$S/t/sub" && echo hello >"$S/t/a" && : >"$S/t/empty" &&
	head -c 3000000 /dev/urandom >"$S/t/sub/big" &&
	touch -d '2001-01-01 01:01:01.5' "$S/t/a" && touch -d '2002-02-02' "$S/t/empty" &&
	touch -d '2003-03-03' "$S/t/sub/big" && touch -d '2004-04-04' "$S/t/sub" &&
	touch -d '2005-05-05' "$S/t"
}

# same_times A B: every entry under A has the mtime of its copy under B.
same_times() {
	local a=$1 b=$2
	diff <(cd "$a" && find . -exec stat -c '%n %F %.9Y %a' {} + | sort) \
	     <(cd "$b" && find . -exec stat -c '%n %F %.9Y %a' {} + | sort) >&2 &&
	diff <(cd "$a" && find . -type f -exec stat -c '%n %s' {} + | sort) \
	     <(cd "$b" && find . -type f -exec stat -c '%n %s' {} + | sort) >&2
}

copies_keep_times() {
	make_src &&
	cp -a "$S/t" "$M/cpa" && same_times "$S/t" "$M/cpa" &&
	mkdir "$M/cpp" && cp -p "$S/t/a" "$S/t/empty" "$M/cpp/" &&
	expect_eq "$(stat -c %.9Y "$M/cpp/a")" "$(stat -c %.9Y "$S/t/a")" "cp -p mtime" &&
	mkdir "$M/tar" && tar --format=posix -C "$S" -cf - t | tar -C "$M/tar" -xf - &&
	same_times "$S/t" "$M/tar/t" &&
	cp -a "$S/t/sub/big" "$M/cpp/a" && # a rewrite of a published file
	expect_eq "$(stat -c %.9Y "$M/cpp/a")" "$(stat -c %.9Y "$S/t/sub/big")" "cp -a over a file"
}
check "cp -a, cp -p and tar x keep modification times" copies_keep_times

futimens_then_close() {
	"$PY" -c 'import os, sys
p = sys.argv[1]
fd = os.open(p, os.O_CREAT | os.O_WRONLY, 0o644)
os.write(fd, b"x" * 5000)
os.utime(fd, ns=(1_000_000_000_000_000_000, 1_100_000_000_123_456_789))
os.close(fd)
fd = os.open(p, os.O_WRONLY | os.O_APPEND)
os.utime(fd, ns=(1_000_000_000_000_000_000, 1_200_000_000_000_000_000))
os.write(fd, b"y")                    # a write after the time set moves it on
os.close(fd)
' "$M/ft" &&
	m=$(stat -c %Y "$M/ft") && [ "$m" -gt 1200000000 ] &&
	"$PY" -c 'import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
os.write(fd, b"z")
os.close(fd)
os.utime(sys.argv[1], ns=(5, 1_300_000_000_000_000_007))   # just after close
' "$M/ft" &&
	expect_eq "$(stat -c %.9Y "$M/ft")" 1300000000.000000007 "mtime set after close"
}
check "futimens before close and utimensat after it are the published times" futimens_then_close

times_survive_remount() {
	mfs_remount "$M" && same_times "$S/t" "$M/cpa" && same_times "$S/t" "$M/tar/t" &&
	expect_eq "$(stat -c %.9Y "$M/ft")" 1300000000.000000007 "mtime after remount"
}
check "the times survive a remount" times_survive_remount

falloc() {
	"$PY" -c 'import os, sys
p = sys.argv[1]
fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
os.posix_fallocate(fd, 0, 1 << 20)
assert os.fstat(fd).st_size == 1 << 20, "size after fallocate"
os.pwrite(fd, b"a" * 8192, 4096)
os.close(fd)
' "$M/fa" &&
	expect_eq "$(stat -c %s "$M/fa")" 1048576 "published size" &&
	fallocate -n -o 0 -l 4M "$M/fa" && expect_eq "$(stat -c %s "$M/fa")" 1048576 "KEEP_SIZE keeps the size" &&
	fallocate -p -o 4096 -l 4096 "$M/fa" &&
	expect_eq "$(od -An -c -j 4096 -N 1 "$M/fa" | tr -d ' ')" '\0' "punched byte" &&
	expect_eq "$(od -An -c -j 8192 -N 1 "$M/fa" | tr -d ' ')" a "byte after the hole"
}
check "fallocate: mode 0, KEEP_SIZE and a punched hole" falloc

sqlite() {
	command -v sqlite3 >/dev/null || { echo "no sqlite3" >&2; return 1; }
	sqlite3 "$M/t.db" "create table t(a); insert into t values(1); insert into t values(2);" &&
	sqlite3 "$M/t.db" "insert into t values(3);" &&
	expect_eq "$(sqlite3 "$M/t.db" "select count(*), sum(a) from t;")" "3|6" "rows" &&
	expect_eq "$(sqlite3 "$M/t.db" "pragma integrity_check;")" ok "integrity"
}
check "sqlite3 keeps every row across transactions" sqlite

memmap_rw() {
	"$PY" -c 'import sys, numpy as np
p = sys.argv[1]
a = np.memmap(p, dtype=np.uint8, mode="w+", shape=(100000,)); a[:] = 7; a.flush(); del a
b = np.memmap(p, dtype=np.uint8, mode="r+"); b[0] = 9; b[99999] = 5; b.flush(); del b
c = np.fromfile(p, dtype=np.uint8)
assert c[0] == 9 and c[1] == 7 and c[99999] == 5 and len(c) == 100000, c
' "$M/mm.bin"
}
check "np.memmap(mode='r+') rewrites a published file" memmap_rw

mfs_done
