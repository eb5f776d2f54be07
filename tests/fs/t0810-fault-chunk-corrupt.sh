#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A chunk corrupted on disk: 24 MiB of random data are stored, the daemon
# is stopped, 64 bytes in the middle of the largest RocksDB blob file are
# overwritten.  After remount, reads of the damaged range fail with EIO and
# every byte that is returned is right; a small file stays readable.
# fsck (online, online --deep, offline) reports the chunk corrupt, exit 4,
# with every file that uses it: also a copy whose name holds a newline and a
# fake end line, which must neither end nor forge the report.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
S=$WORK/src
sum=
EVIL=$'evil\nend 0 ok\\n'
mfs_log_allow "$D" 'checksum|corrupt|mismatch|EIO|Input/output|verif'

check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"
store() {
	randfile "$S/big" $((24 * MiB)) && sum=$(file_sha "$S/big") &&
	cp "$S/big" "$M/big" && cp "$S/big" "$M/$EVIL" && echo "small file" >"$M/small" &&
	expect_sha "$M/big" "$sum"
}
check "store 24 MiB of random data twice (one name with a newline) and a small file" store || mfs_abort "no data"
check "fsck of the intact store: exit 0" expect_status 0 admin fsck "$M"
check "umount" mfs_umount "$M"

check "corrupt the middle of the largest blob file" corrupt_largest_blob "$D" ||
	mfs_abort "cannot corrupt"
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

cat_fails() {
	if cat "$M/big" >/dev/null 2>"$WORK/cat.err"; then
		echo "cat of the corrupted file succeeded" >&2
		return 1
	fi
	grep -q "Input/output error" "$WORK/cat.err" || { cat "$WORK/cat.err" >&2; return 1; }
}
check "cat of the file fails with Input/output error" cat_fails

blocks() {
	local res
	res=$("$PY" "$HELPER" blockcheck "$M/big" "$S/big" 65536) || { echo "$res" >&2; return 1; }
	note "64 KiB blocks: $res"
	case "$res" in
	*"eio=0 "*) echo "no block failed with EIO: $res" >&2; return 1 ;;
	esac
}
check "reading by 64 KiB blocks: some EIO, never a wrong byte" blocks
check "the small file reads back" expect_eq "$(cat "$M/small")" "small file" "content of small"

fsck_reports() { # fsck arguments
	expect_status 4 admin fsck --json --verbose "$@" || return 1
	"$PY" -c 'import json, re, sys
d = json.load(open(sys.argv[1]))
c = sorted({f["hash"] for f in d["chunks"] if f["kind"] == "corrupt"})
if not (c and all(isinstance(h, str) and re.fullmatch("[0-9a-f]{64}", h) for h in c)):
    sys.exit("the corrupt chunks should be SHA-256 chunk hashes: %r" % (c,))' "$WORK/.cmd.out" || return 1
	expect_eq "$(json_get ok <"$WORK/.cmd.out")" false '"ok"' &&
	expect_eq "$(json_get missing_chunks <"$WORK/.cmd.out")" 0 '"missing_chunks"' &&
	expect_eq "$("$PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(sorted({f["path"] for f in d["chunks"] if f["kind"] == "corrupt"}) == ["/big", "/" + sys.argv[2]])' \
		"$WORK/.cmd.out" "$EVIL")" True "both files named, the newline one intact" &&
	fsck_files "$@"
}
# fsck_files ARGS: the default report, per file: the two files, corrupt, nothing per chunk.
fsck_files() {
	expect_status 4 admin fsck --json "$@" || return 1
	expect_eq "$("$PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(sorted((f["path"], f["state"], f["corrupt"] > 0, f["missing"]) for f in d["files"]) == sorted([("/big", "corrupt", True, 0), ("/" + sys.argv[2], "corrupt", True, 0)]) and d["chunks"] == [] and d["files_with_problems"] == 2)' \
		"$WORK/.cmd.out" "$EVIL")" True "per file: both files corrupt, the newline one intact; no per-chunk entries"
}
check "online fsck --json: exit 4, the corrupt chunk listed, ok false" fsck_reports "$M"
check "online fsck --deep --json: exit 4, the corrupt chunk listed" fsck_reports --deep "$M"
check "online fsck (human output): exit 4" expect_status 4 admin fsck "$M"
check "umount" mfs_umount "$M"
check "offline fsck --data --json: exit 4, the corrupt chunk listed" fsck_reports --data "$D"
check "offline fsck --data (human output): exit 4" expect_status 4 admin fsck --data "$D"

mfs_done
