#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A change saved through an old version's descriptor while a lookup of the
# path is under way is not lost.  f is rewritten while a descriptor on its
# old version stays open; a stat of f (its lookup paused for the test,
# MODELFS_TEST_LOOKUP_DELAY_MS) has read f's record when an fsetxattr
# through the old descriptor saves user.t on the new version.  The lookup
# must not install the record it read before: getxattr(f) shows user.t,
# and so does a remount.  (Found by a 3-node race: one node lacked the
# xattr until it restarted, and its next chmod would have spread the loss.)
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
export MODELFS_TEST_LOOKUP_DELAY_MS=1000
check "mount (lookups pause 1 s)" mfs_mount "$M" "$D" || mfs_abort "no mount"
unset MODELFS_TEST_LOOKUP_DELAY_MS

race() {
	"$PY" - "$M/f" <<'PYEOF'
import os, sys, threading, time
f, bad = sys.argv[1], []
for i in range(3):
    with open(f, "wb") as w:
        w.write(b"version 1")
    old = os.open(f, os.O_RDONLY)
    with open(f, "wb") as w:  # a new version: f's dentry is dropped
        w.write(b"version 2, round %d" % i)
    t = threading.Thread(target=os.stat, args=(f,))
    t.start()  # its lookup reads f's record, then pauses
    time.sleep(0.3)
    os.setxattr(old, "user.t", b"round %d" % i)
    t.join()
    os.close(old)
    try:
        got = os.getxattr(f, "user.t")
    except OSError as e:
        got = e.strerror
    if got != b"round %d" % i:
        bad.append("round %d: user.t of f is %r" % (i, got))
print("\n".join(bad), file=sys.stderr)
sys.exit(1 if bad else 0)
PYEOF
}
check "an fsetxattr through the old version during a lookup of f shows on f" race
check "umount, mount" mfs_remount "$M"
check "and after a remount" expect_eq "$(getfattr --only-values -n user.t "$M/f" 2>/dev/null)" "round 2" user.t

mfs_done
