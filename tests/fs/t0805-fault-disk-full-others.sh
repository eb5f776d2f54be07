#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The store's disk filled by another program, then freed.  The store lives
# on a 96 MiB tmpfs; another process (dd) fills it to 0 bytes free.  On the
# full disk, namespace operations (mkdir, create, symlink, link, rename,
# chmod, utimens, setxattr with 60 kB values, unlink, rmdir: enough WAL
# bytes to roll RocksDB's WAL several times over), fsync and fsyncdir each
# succeed or fail with ENOSPC, nothing else; the daemon lives and the files
# stored before read back whole.  The filler goes; within a bounded poll a
# mkdir works again without a restart, then every op does and a new file is
# stored; every op that succeeded on the full disk holds after a remount.
#
# Twice: first as a node runs, with the store's floor (MFS_SPACE_FLOOR,
# store/kv/db_space.c: writes refused while less than 16 MiB is free, so
# RocksDB never meets the full disk); then with the floor off
# (MODELFS_SPACE_FLOOR=0, test only), so that RocksDB's WAL appends fail
# for space, as when the disk fills between the floor's check and a write:
# the daemon must live through that too (it aborted at the next use of
# that WAL: store/kv/db_rocks.c, wal_gate) and take writes again once
# space is back (after RocksDB's own recovery, which polls every 5 s).
# Between the two: an unmount on the full disk (the daemon exits), a mount
# on it (it mounts, refusing writes), and fsck stays clean.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
S=$WORK/src
J=$WORK/journal
declare -A sum=()
mfs_log_allow "$D" 'No space left on device|ENOSPC|space'

# 96 MiB: once the filler goes, the store holds about 16 MiB and a commit
# of 3 MiB needs 35 free (its margin, fs_write.c), while the ops after it
# can make RocksDB switch WALs: for a moment the old one, grown to two
# 8 MiB blocks, and the new one's block take 16 MiB more than the store
# holds otherwise.  On 64 MiB, 47 MiB free went down to 31.8.
check "a 96 MiB tmpfs for the store" mfs_tmpfs "$D" 96m || mfs_abort "no tmpfs"
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

before() {
	local f
	for f in a:3072 b:100 c:1; do
		randfile "$S/${f%:*}" $((${f#*:} * 1024)) && sum[${f%:*}]=$(file_sha "$S/${f%:*}") || return 1
	done
	mkdir -p "$M/keep/sub" && cp "$S/a" "$S/b" "$M/keep/" && cp "$S/c" "$M/keep/sub/" &&
	setfattr -n user.k -v before "$M/keep/a" && mkdir "$M/w" && : >"$M/w/x" && : >"$M/w/ra" &&
	mkdir "$M/w/rmd"{00..09} && touch "$M/w/rmf"{00..09} &&
	expect_sha "$M/keep/a" "${sum[a]}"
}
check "files stored before the disk fills" before || mfs_abort "no files"

# fill: another process takes every free block (1 MiB writes, then 4 KiB).
fill() {
	dd if=/dev/zero of="$D/filler" bs=1M status=none 2>/dev/null
	dd if=/dev/zero of="$D/filler2" bs=4k status=none 2>/dev/null
	note "free after the filler: $(df -k --output=avail "$D" | tail -n 1) KiB"
	[ "$(df -k --output=avail "$D" | tail -n 1)" -lt 64 ]
}

# ops.py MNT JOURNAL ROUNDS PREFIX: namespace operations on MNT/w (new
# names start with PREFIX); every result must be success or ENOSPC.  What
# succeeded is appended to JOURNAL as the state it promises (kind path
# value), for the checks after the remount.
cat >"$WORK/ops.py" <<'EOF'
import errno, os, sys
mnt, journal, rounds, pre = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
w = os.path.join(mnt, "w")
big = os.urandom(60000)
counts, bad, state = {}, [], {}
def run(name, fn, promise=None):
    try:
        fn()
        r = "ok"
        if promise:
            state[promise[0]] = promise[1]
    except OSError as e:
        r = errno.errorcode.get(e.errno, str(e.errno))
        if e.errno != errno.ENOSPC:
            bad.append("%s: %s" % (name, e))
    counts.setdefault(name, {}).setdefault(r, 0)
    counts[name][r] += 1
x = os.path.join(w, "x")
for i in range(rounds):
    d = os.path.join(w, pre + "d%04d" % i)
    run("mkdir", lambda: os.mkdir(d), ("dir " + d, "1"))
    f = os.path.join(w, pre + "f%04d" % i)
    def create():
        fd = os.open(f, os.O_CREAT | os.O_WRONLY, 0o644)
        os.close(fd)
    run("create", create, ("file " + f, "0"))
    for k in range(4):
        v = big[:60000 - i % 97 - k]
        run("setxattr", lambda: os.setxattr(x, "user.k%d" % k, v),
            ("xattr %s user.k%d" % (x, k), "%d" % len(v)))
    run("chmod", lambda: os.chmod(x, 0o600 | (i % 2) * 0o40), ("mode " + x, "%o" % (0o600 | (i % 2) * 0o40)))
    run("utimens", lambda: os.utime(x, (i, i)), ("mtime " + x, "%d" % i))
    run("symlink", lambda: os.symlink("x", os.path.join(w, pre + "s%04d" % i)),
        ("link %s" % os.path.join(w, pre + "s%04d" % i), "x"))
    run("link", lambda: os.link(x, os.path.join(w, pre + "h%04d" % i)), ("file " + os.path.join(w, pre + "h%04d" % i), "0"))
    a, b = os.path.join(w, "ra"), os.path.join(w, "rb")
    if os.path.exists(a):
        run("rename", lambda: os.rename(a, b), ("where " + w, "rb"))
    elif os.path.exists(b):
        run("rename", lambda: os.rename(b, a), ("where " + w, "ra"))
    if i < 10:
        old = os.path.join(w, "rmd%02d" % i)
        if os.path.isdir(old):
            run("rmdir", lambda: os.rmdir(old), ("gone " + old, "1"))
        oldf = os.path.join(w, "rmf%02d" % i)
        if os.path.exists(oldf):
            run("unlink", lambda: os.unlink(oldf), ("gone " + oldf, "1"))
    if i >= 2:
        old = os.path.join(w, pre + "d%04d" % (i - 2))
        if os.path.isdir(old):
            run("rmdir", lambda: os.rmdir(old), ("gone " + old, "1"))
        oldf = os.path.join(w, pre + "f%04d" % (i - 2))
        if os.path.exists(oldf):
            run("unlink", lambda: os.unlink(oldf), ("gone " + oldf, "1"))
    def fsync_file():
        fd = os.open(x, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    run("fsync", fsync_file)
    def fsync_dir():
        fd = os.open(w, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    run("fsyncdir", fsync_dir)
with open(journal, "a") as j:
    for k, v in sorted(state.items()):
        if k.startswith("dir ") and ("gone " + k[4:]) in state:
            continue
        if k.startswith("file ") and ("gone " + k[5:]) in state:
            continue
        j.write("%s %s\n" % (k, v))
print(" ".join("%s:%s" % (n, ",".join("%s=%d" % kv for kv in sorted(c.items())))
               for n, c in sorted(counts.items())))
for b in bad[:20]:
    print("unexpected:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF

# full_ops PREFIX: 40 rounds (160 setxattrs of 60 kB values on a file with
# four of them write about 40 MiB to the WAL, five times max_total_wal_size).
full_ops() {
	local pid out
	pid=$(mfs_daemon_pid "$M")
	out=$("$PY" "$WORK/ops.py" "$M" "$J" 40 "$1") || { echo "$out" >&2; return 1; }
	note "on the full disk: $out"
	pid_alive "$pid" || { echo "the daemon died" >&2; return 1; }
}

intact() {
	expect_sha "$M/keep/a" "${sum[a]}" && expect_sha "$M/keep/b" "${sum[b]}" &&
	expect_sha "$M/keep/sub/c" "${sum[c]}" &&
	expect_eq "$("$PY" -c 'import os, sys; print(os.getxattr(sys.argv[1], "user.k").decode())' \
		"$M/keep/a")" before "user.k of keep/a"
}

# A sync of the whole mount and a walk of the tree, on the full disk.
synced_walk() {
	sync -f "$M/keep/a" && find "$M" >/dev/null && pid_alive "$(mfs_daemon_pid "$M")"
}

unfill() { rm -f "$D/filler" "$D/filler2"; }

# writable NAME: a mkdir of NAME works within a bounded poll, no restart.
writable() {
	local pid
	pid=$(mfs_daemon_pid "$M")
	wait_for 300 mkdir "$M/$1" 2>/dev/null ||
		{ echo "no mkdir worked in 300 tries after space came back" >&2; return 1; }
	pid_alive "$pid" || { echo "the daemon died" >&2; return 1; }
}

# after_ops PREFIX DIR: the ops all succeed now, and a new file is stored in DIR.
after_ops() {
	local pid out
	pid=$(mfs_daemon_pid "$M")
	out=$("$PY" "$WORK/ops.py" "$M" "$J" 5 "$1") || { echo "$out" >&2; return 1; }
	note "after space came back: $out"
	case $out in *ENOSPC*) echo "ENOSPC with space free: $out" >&2; return 1 ;; esac
	pid_alive "$pid" || { echo "the daemon died after space came back" >&2; return 1; }
	cp "$S/a" "$M/$2/a" && expect_sha "$M/$2/a" "${sum[a]}"
}

# Every op acknowledged on the full disk holds (journal lines: kind path value).
journal_holds() {
	"$PY" - "$J" <<'EOF'
import os, sys
bad, last = 0, {}
for line in open(sys.argv[1]):  # a later run's line for the same thing wins
    f = line.split()
    last[tuple(f[:-1])] = line
for line in last.values():
    kind, path, *rest = line.split()
    v = rest[-1]
    try:
        if kind == "dir":
            ok = os.path.isdir(path)
        elif kind == "file":
            ok = os.path.isfile(path)
        elif kind == "gone":
            ok = not os.path.lexists(path)
        elif kind == "where":  # ra or rb, whichever the last rename made
            other = {"ra": "rb", "rb": "ra"}[v]
            ok = os.path.exists(os.path.join(path, v)) and not os.path.exists(os.path.join(path, other))
        elif kind == "link":
            ok = os.readlink(path) == v
        elif kind == "xattr":
            ok = len(os.getxattr(path, rest[0])) == int(v)
        elif kind == "mode":
            ok = "%o" % (os.stat(path).st_mode & 0o7777) == v
        elif kind == "mtime":
            ok = int(os.stat(path).st_mtime) == int(v)
        else:
            ok = False
    except OSError as e:
        ok = False
    if not ok:
        bad += 1
        if bad <= 20:
            print("not held:", line.strip(), file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
}

not_aborted() {
	! grep -a -B2 -A12 'fatal signal' "$D/modelfs.log" >&2
}

# ---- with the floor ---------------------------------------------------------
# Between the store's floor (16 MiB) and a commit's margin (32 MiB, for
# file bytes): another process leaves 24 MiB free.  Namespace ops work, and
# so does the close of an empty file, which writes namespace records only;
# the close of a file with bytes fails with ENOSPC.  (The empty file's
# close failed: under load the store's own WAL, switching, took the disk
# under the margin for a moment, just after space came back below.)
between() {
	local avail
	mkdir "$M/w/between" && printf abc >"$M/w/between/cut" &&
		avail=$(df -k --output=avail "$D" | tail -n 1) &&
		dd if=/dev/zero of="$D/filler" bs=1M count=$(((avail - 24 * 1024) / 1024)) status=none &&
		avail=$(df -k --output=avail "$D" | tail -n 1) &&
		note "free between the floor and the margin: $avail KiB" &&
		[ "$avail" -gt $((20 * 1024)) ] && [ "$avail" -lt $((28 * 1024)) ] &&
		mkdir "$M/w/between/d" && expect_errno OK create_excl "$M/w/between/empty" &&
		expect_errno OK truncate "$M/w/between/cut" 0 &&
		expect_errno ENOSPC write "$M/w/between/bytes" x &&
		setfattr -n user.k -v between "$M/w/between/empty" &&
		rm -f "$D/filler" && expect_errno OK write "$M/w/between/bytes" x
}
check "24 MiB free: namespace ops and an empty file's close work, a file's bytes get ENOSPC" between
check "another process fills the store's disk" fill
check "on the full disk every namespace op succeeds or fails with ENOSPC" full_ops full
check "the files stored before read back whole" intact
check "sync and a walk of the tree on the full disk" synced_walk
# status_full WANT: store_disk_full in status --json, and FULL in the report when 1.
status_full() {
	local got
	got=$(admin status --json "$M" | json_get store_disk_full) &&
		expect_eq "$got" "$1" "store_disk_full" || return 1
	if [ "$1" = 1 ]; then
		admin status "$M" | grep "^disk .*FULL: under the 16 MiB the store keeps"
	else
		! admin status "$M" | grep FULL
	fi
}
check "status says the store's disk is full (store_disk_full 1, FULL)" status_full 1
check "the other process frees its space" unfill
check "once space is back, a mkdir works without a restart" writable after
check "status says it no longer is (store_disk_full 0)" status_full 0
check "after space came back: more ops, and a new file is stored" after_ops after after
check "umount, mount" mfs_remount "$M"
check "every op acknowledged on the full disk holds after a remount" journal_holds
check "the files stored before are whole after the remount" intact

# An unmount on the full disk, and a restart on it: it mounts, reads
# work and writes fail with ENOSPC (t0806: the same on a disk filled again
# to the last block after the daemon stopped).
umount_full() { fill && mfs_umount "$M"; }
check "unmount on the full disk: the daemon exits" umount_full
mount_full() {
	"$MOUNT_BIN" "$M" -o "data=$D" >"$WORK/full-mount.out" 2>&1 ||
		{ echo "mount on the full disk: exit $?: $(tail -n 2 "$WORK/full-mount.out")" >&2; return 1; }
	wait_until is_mounted "$M" && mfs_adopt "$M" "$D" && intact &&
		expect_errno ENOSPC mkdir "$M/full" && mfs_umount "$M"
}
check "a mount on the full disk: it mounts, reads work, a mkdir gets ENOSPC" mount_full
whole_after() { unfill && mfs_mount "$M" "$D" && intact && journal_holds && mkdir "$M/back"; }
check "space back: it mounts, and everything is there" whole_after

# ---- without the floor: RocksDB meets the full disk -----------------------
wal_failed() {
	grep -q 'WARN db: an append to .*\.log failed' "$D/modelfs.log" ||
		{ echo "no WAL write failed: RocksDB never met the full disk" >&2; return 1; }
}
check "umount" mfs_umount "$M"
MODELFS_SPACE_FLOOR=0 check "mount with the floor off (test only)" mfs_mount "$M" "$D"
check "another process fills the store's disk" fill
check "no floor: every namespace op succeeds or fails with ENOSPC" full_ops raw
check "no floor: a WAL append failed for space, and the daemon lives" wal_failed
check "no floor: the files stored before read back whole" intact
check "no floor: a sync and a walk of the tree on the full disk" synced_walk
check "the other process frees its space" unfill
check "no floor: once space is back, a mkdir works without a restart" writable after2
check "no floor: then every op works, and a new file is stored" after_ops after2 after2
check "umount, mount (the floor back)" mfs_remount "$M"
check "every op acknowledged on the full disk holds after a remount" journal_holds
check "the files stored before are whole after the remount" intact
check "the daemons never aborted" not_aborted

fsck_clean() { mfs_umount "$M" && expect_status 0 admin fsck --data "$D"; }
check "fsck of the stopped store is clean" fsck_clean

mfs_done
