#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Writes into a stored file without O_TRUNC (append, overwrite in place at
# an offset).  Write-once storage may support these or refuse them, but it
# must never be silent about it: either the call reports an error and the
# file keeps its old bytes, or the file holds exactly the old bytes with the
# change applied.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
S=$WORK/src
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

cat >"$WORK/modify.py" <<'PYEOF'
import errno, os, sys
path, how = sys.argv[1], sys.argv[2]
stage, fd = "open", -1
try:
    if how == "append":
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        stage = "write"
        os.write(fd, b"TAIL")
    else:
        fd = os.open(path, os.O_WRONLY if how == "patch" else os.O_RDWR)
        stage = "write"
        os.pwrite(fd, b"PATCH", 1000)
        if how == "rdwr":
            stage = "read"
            if os.pread(fd, 9, 998)[2:7] != b"PATCH":
                print("read-back of the patch differs")
                sys.exit(1)
    stage = "close"
    fd, f = -1, fd
    os.close(f)
    print("OK")
except OSError as e:
    print("%s:%s" % (stage, errno.errorcode.get(e.errno, e.errno)))
    if fd >= 0:
        try:
            os.close(fd)
        except OSError:
            pass
PYEOF

setup() {
	randfile "$S/orig" $((2 * MiB + 5)) &&
	{ cat "$S/orig"; printf TAIL; } >"$S/appended" &&
	cp "$S/orig" "$S/patched" &&
	printf PATCH | dd of="$S/patched" bs=1 seek=1000 conv=notrunc status=none
}
check "sources" setup || mfs_abort "no sources"

modify() { # HOW EXPECTED
	local res want
	cp "$S/orig" "$M/$1" || return 1
	res=$("$PY" "$WORK/modify.py" "$M/$1" "$1") || { echo "$res" >&2; return 1; }
	if [ "$res" = OK ]; then
		want=$2
	else
		want=$S/orig
	fi
	note "$1: $res"
	expect_sha "$M/$1" "$(file_sha "$want")" &&
	mfs_remount "$M" &&
	expect_sha "$M/$1" "$(file_sha "$want")"
}
check "append: applied exactly, or refused with the old bytes kept" modify append "$S/appended"
check "overwrite at an offset (O_WRONLY): applied exactly, or refused" modify patch "$S/patched"
check "overwrite at an offset (O_RDWR) and read back: applied exactly, or refused" modify rdwr "$S/patched"

mfs_done
