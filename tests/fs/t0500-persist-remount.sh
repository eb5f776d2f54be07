#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Everything survives umount + mount, twice: a tree of directories, files
# (empty, small, multi-chunk), symlinks; their types, sizes, modes, owners,
# mtimes, contents and user xattrs.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
S=$WORK/src
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

# snapshot DIR: one line per entry: path, type, size, mode, owner, mtime,
# content hash, symlink target, user xattrs.
snapshot() {
	"$PY" - "$1" <<'PYEOF'
import hashlib, os, stat, sys
root = sys.argv[1]
for dirpath, dirs, files in os.walk(root):
    dirs.sort()
    for name in sorted(dirs + files):
        p = os.path.join(dirpath, name)
        st = os.lstat(p)
        h = link = ""
        if stat.S_ISREG(st.st_mode):
            with open(p, "rb") as f:
                h = hashlib.sha256(f.read()).hexdigest()
        if stat.S_ISLNK(st.st_mode):
            link = os.readlink(p)
            xs = []
        else:
            xs = sorted((n, os.getxattr(p, n).hex()) for n in os.listxattr(p)
                        if n.startswith("user.") and not n.startswith("user.modelfs."))
        print(os.path.relpath(p, root), oct(st.st_mode), st.st_size, st.st_uid, st.st_gid,
              st.st_mtime_ns, h, link, xs)
PYEOF
}

populate() {
	randfile "$S/big" $((9 * MiB + 17)) &&
	mkdir -p "$M/models/llama/v1" "$M/models/empty-dir" "$M/etc" &&
	cp "$S/big" "$M/models/llama/v1/weights.bin" &&
	echo '{"dim": 4096}' >"$M/models/llama/v1/config.json" &&
	: >"$M/models/llama/v1/EMPTY" &&
	ln -s v1 "$M/models/llama/current" &&
	ln -s ../nowhere "$M/etc/dangling" &&
	head -c 4097 "$S/big" >"$M/etc/odd" &&
	chmod 0600 "$M/models/llama/v1/weights.bin" &&
	chmod 0751 "$M/models/llama" &&
	chmod 0700 "$M/models/empty-dir" &&
	chown 1000:1001 "$M/models/llama/v1/config.json" &&
	chown 2000:2000 "$M/models/empty-dir" &&
	touch -d '@1600000000' "$M/models/llama/v1/weights.bin" &&
	setfattr -n user.model.sha -v deadbeef "$M/models/llama/v1/weights.bin" &&
	setfattr -n user.bin -v 0x0001ff "$M/etc/odd" &&
	setfattr -n user.dir -v yes "$M/models/llama" &&
	touch -d '@1500000000' "$M/models/llama/v1" "$M/etc" &&
	snapshot "$M" >"$WORK/before" &&
	[ "$(wc -l <"$WORK/before")" -eq 11 ]
}
check "populate a tree" populate || mfs_abort "cannot populate"

same_as_before() {
	snapshot "$M" >"$WORK/after" &&
	diff -u "$WORK/before" "$WORK/after" >&2
}
check "umount, mount" mfs_remount "$M"
check "after remount: same tree, types, sizes, modes, owners, mtimes, contents, xattrs" same_as_before
check "umount, mount again" mfs_remount "$M"
check "after a second remount: still the same" same_as_before

mfs_done
