# shellcheck shell=bash
# SPDX-License-Identifier: Apache-2.0
# The failed WAL that RocksDB's recovery keeps, made at will (t0807, t0808,
# t0809; store/kv/db_rocks.c, reopen_stuck).  Sourced after lib.sh, with
# the store's floor off (MODELFS_SPACE_FLOOR=0) on a 64 MiB tmpfs at $D
# mounted at $M: xattrs of 4 x 45 kB make each setxattr a ~180 kB WAL
# record; gc --relocate flushes the chunks family, so RocksDB starts a
# second WAL while the first stays alive; one setxattr allocates the second
# WAL's 8 MiB block; dd fills the disk; setxattrs go on within that block
# until the WALs alive pass max_total_wal_size (8 MiB), when RocksDB
# flushes every family they hold and switches to a third WAL in the write,
# whose first append fails.  Checks, in this order:
#   check "..." wal_setup; check "..." wal_fill; check "..." wal_first_append_failed
#   ...; check "..." wal_unfill
# $WORK/small holds the bytes of $M/small, the file the tests read back.

# wal_files: the WAL files, NAME:BYTES (allocated KiB)
wal_files() { find "$D/db" -name '*.log' -printf '%f:%s(%kK)\n' | sort | tr '\n' ' '; }

# $WORK/sx.py FILE N: N setxattrs of ~45 kB; prints their results; fails on
# any error but ENOSPC.
cat >"$WORK/sx.py" <<'PYEOF'
import errno, os, sys
p, n = sys.argv[1], int(sys.argv[2])
big = os.urandom(45000)
res = {}
for i in range(n):
    try:
        os.setxattr(p, "user.k%d" % (i % 4), big[:45000 - i % 97])
        r = "ok"
    except OSError as e:
        r = errno.errorcode[e.errno]
        if e.errno != errno.ENOSPC:
            print("setxattr: %s" % e, file=sys.stderr)
    res[r] = res.get(r, 0) + 1
print(" ".join("%s=%d" % kv for kv in sorted(res.items())))
sys.exit(0 if set(res) <= {"ok", "ENOSPC"} else 1)
PYEOF

# wal_setup: a file and its bytes; xattrs in a first WAL; gc switches to a second.
wal_setup() {
	: >"$M/x" && head -c 1000 /dev/urandom >"$WORK/small" && cp "$WORK/small" "$M/small" &&
		"$PY" "$WORK/sx.py" "$M/x" 4 >/dev/null &&
		expect_status 0 admin gc --apply --relocate "$M" &&
		"$PY" "$WORK/sx.py" "$M/x" 1 >/dev/null &&
		note "WALs: $(wal_files)"
}

# wal_fill: another process fills the disk to the last block.
wal_fill() {
	dd if=/dev/zero of="$D/filler" bs=1M status=none 2>/dev/null
	dd if=/dev/zero of="$D/filler2" bs=4k status=none 2>/dev/null
	[ "$(df -k --output=avail "$D" | tail -n 1)" -eq 0 ]
}

# wal_first_append_failed: setxattrs until one fails; the WAL it failed on
# is empty; the daemon lives.
wal_first_append_failed() {
	local out wal
	out=$("$PY" "$WORK/sx.py" "$M/x" 60) || return 1
	note "setxattrs on the full disk: $out; WALs: $(wal_files)"
	wal=$(grep -o 'WARN db: an append to [^ ]*\.log failed' "$D/modelfs.log" | head -n 1 |
		sed 's/.*append to \([^ ]*\) failed/\1/')
	[ -n "$wal" ] || { echo "no WAL append failed" >&2; return 1; }
	expect_eq "$(stat -c %s "$wal")" 0 "size of $wal, whose append failed" &&
		pid_alive "$(mfs_daemon_pid "$M")"
}

# wal_unfill: the other process frees its space.
wal_unfill() { rm -f "$D/filler" "$D/filler2"; }
