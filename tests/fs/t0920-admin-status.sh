#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# modelfs-admin status: from any path in the mount (root, a directory, a
# file) it exits 0; --json gives files, logical_bytes, stored_bytes, chunks,
# dedup_ratio and compression_ratio that add up for a known content: two
# copies of 8 MiB of random data and 4 MiB of zeros.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"

M=$WORK/mnt
D=$WORK/data
S=$WORK/src
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

populate() {
	randfile "$S/r" $((8 * MiB)) &&
	mkdir -p "$M/sub/deeper" &&
	cp "$S/r" "$M/sub/a" && cp "$S/r" "$M/sub/deeper/b" &&
	head -c $((4 * MiB)) /dev/zero >"$M/zeros"
}
check "two copies of 8 MiB random, 4 MiB of zeros" populate || mfs_abort "no files"
# The zeros are stored raw at the commit, encoded by the background pass.
check "the background encoding is done" mfs_recode_wait "$M"

check "status of the root: exit 0" expect_status 0 admin status "$M"
check "status of a directory inside: exit 0" expect_status 0 admin status "$M/sub/deeper"
check "status of a file inside: exit 0" expect_status 0 admin status "$M/sub/a"

json_numbers() {
	expect_status 0 admin status --json "$M/sub" || return 1
	"$PY" - "$WORK/.cmd.out" "$MiB" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
mib = int(sys.argv[2])
bad = []
for k in ("files", "logical_bytes", "stored_bytes", "chunks", "dedup_ratio", "compression_ratio"):
    if not isinstance(d.get(k), (int, float)) or isinstance(d.get(k), bool):
        bad.append("%s missing or not a number: %r" % (k, d.get(k)))
if not bad:
    if d["files"] != 3:
        bad.append("files %r, want 3" % d["files"])
    if d["logical_bytes"] != 20 * mib:
        bad.append("logical_bytes %r, want %d" % (d["logical_bytes"], 20 * mib))
    # 8 MiB of random data stored once, the zeros nearly free.
    if not 8 * mib <= d["stored_bytes"] < 9 * mib:
        bad.append("stored_bytes %r, want 8..9 MiB" % d["stored_bytes"])
    if d["chunks"] < 2:
        bad.append("chunks %r, want at least 2" % d["chunks"])
    if d["dedup_ratio"] < 1.6:
        bad.append("dedup_ratio %r, want >= 1.6 (20 MiB logical, <= 12 MiB unique)" % d["dedup_ratio"])
    if d["compression_ratio"] < 1.0:
        bad.append("compression_ratio %r, want >= 1.0" % d["compression_ratio"])
if bad:
    print("\n".join(bad), file=sys.stderr)
    print(json.dumps(d), file=sys.stderr)
    sys.exit(1)
PYEOF
}
check "status --json: files 3, logical 20 MiB, stored 8..9 MiB, dedup >= 1.6" json_numbers

after_remount() {
	mfs_remount "$M" &&
	expect_status 0 admin status --json "$M" &&
	expect_eq "$(json_get files <"$WORK/.cmd.out")" 3 files &&
	expect_eq "$(json_get logical_bytes <"$WORK/.cmd.out")" $((20 * MiB)) logical_bytes
}
check "after remount status --json gives the same counts" after_remount

# The node says what it is and how it runs: version, uptime, and the
# effective options (defaults, then -o), which mount again the same way.
identity() {
	local opts version
	mfs_umount "$M" && mfs_mount "$M" "$D" cache_mb=96,write_behind_mb=0 &&
	expect_status 0 admin status --json "$M" || return 1
	version=$(sed -n 's/^AC_INIT(\[modelfs\], *\[\([^]]*\)\].*/\1/p' "$MFS_SRC/configure.ac")
	expect_eq "$(json_get version <"$WORK/.cmd.out")" "$version" version &&
	[ "$(json_get uptime_s <"$WORK/.cmd.out")" -ge 0 ] &&
	opts=$(json_get options <"$WORK/.cmd.out") &&
	case ",$opts," in *,cache_mb=96,*write_behind_mb=0,*) ;; *) echo "options: $opts" >&2; false ;; esac &&
	case ",$opts," in *,data="$D",*) ;; *) echo "no data= in: $opts" >&2; false ;; esac &&
	expect_status 0 admin status "$M" &&
	grep -q "^modelfs $version, up " "$WORK/.cmd.out"
}
check "status names version, uptime and the effective options" identity

# The daemon keeps its last totals while nothing they come from changed
# (store/maint/stats.c): every change must show in the next status, and a
# status with no change between gives the same totals.
follows_changes() {
	local f0 f1
	expect_status 0 admin status --json "$M" && f0=$(json_get files <"$WORK/.cmd.out") &&
	expect_status 0 admin status --json "$M" &&
	expect_eq "$(json_get files <"$WORK/.cmd.out")" "$f0" "files, twice" &&
	head -c 100000 /dev/urandom >"$M/added" &&
	expect_status 0 admin status --json "$M" && f1=$(json_get files <"$WORK/.cmd.out") &&
	expect_eq "$f1" $((f0 + 1)) "files after a create" &&
	rm "$M/added" &&
	expect_status 0 admin status --json "$M" &&
	expect_eq "$(json_get files <"$WORK/.cmd.out")" "$f0" "files after the unlink" &&
	mkdir "$M/newdir" && ln -s x "$M/newdir/l" &&
	expect_status 0 admin status --json "$M" &&
	expect_eq "$(json_get symlinks <"$WORK/.cmd.out")" 1 "symlinks after ln -s"
}
check "status follows every change, and repeats itself without one" follows_changes

mfs_done
