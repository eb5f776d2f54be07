#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A shared Hugging Face-style cache on two nodes, downloading the same model
# at once.  flock/fcntl locks hold within one node only (README), so both
# nodes get the lock of .locks/<repo>/<blob>.lock; each then does what
# huggingface_hub does: skip if blobs/<blob> exists, else append to
# blobs/<blob>.incomplete (resuming from its size), rename it into place,
# and link snapshots/<rev>/model.bin to it.  Node 1 writes bytes A, node 2
# bytes B (same size), in pieces, so that the two downloads overlap.
# Nothing may be corrupted: once the trees agree, blobs/<blob> reads as A
# or as B, the same on both nodes, and every other file under the cache is
# A, B or empty (never a mix); the snapshot link resolves to it; fsck is
# clean.  A second round on node 2 finds the blob and downloads nothing.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
cl_init 2

S=$WORK/src
SIZE=$((24 * MiB))
C=models--org--model
BLOB=0123456789abcdef0123456789abcdef01234567
suma=
sumb=
check "start 2 nodes" cl_start_all || mfs_abort "no cluster"

# download MOUNT SRC TAG: one huggingface_hub-like download of BLOB from SRC.
download() {
	"$PY" - "$1/$C" "$2" "$3" "$BLOB" <<'PYEOF'
import fcntl, os, sys, time
cache, src, tag, blob = sys.argv[1:5]
locks = os.path.join(os.path.dirname(cache), ".locks", os.path.basename(cache))
for d in (locks, os.path.join(cache, "blobs"), os.path.join(cache, "snapshots", "main")):
    os.makedirs(d, exist_ok=True)
final = os.path.join(cache, "blobs", blob)
part = final + ".incomplete"
total = os.path.getsize(src)
with open(os.path.join(locks, blob + ".lock"), "w") as lk:
    fcntl.flock(lk, fcntl.LOCK_EX)
    if os.path.exists(final) and os.path.getsize(final) == total:
        print(tag, "found the blob: nothing to download")
        sys.exit(0)
    with open(part, "ab") as out, open(src, "rb") as inp:
        have = out.tell()
        inp.seek(have)
        print(tag, "resumes at", have, flush=True)
        while True:
            b = inp.read(1 << 20)
            if not b:
                break
            out.write(b)
            time.sleep(0.02)
    try:
        os.replace(part, final)
    except FileNotFoundError:
        # The other node's rename came first (its op moved the name away).
        print(tag, "rename: the other node's download won")
    link = os.path.join(cache, "snapshots", "main", "model.bin")
    try:
        os.symlink(os.path.join("..", "..", "blobs", blob), link)
    except FileExistsError:
        pass
    fcntl.flock(lk, fcntl.LOCK_UN)
print(tag, "done")
PYEOF
}

both() {
	local p1 p2 rc1 rc2
	mkdir -p "$S" && randfile "$S/a" "$SIZE" && randfile "$S/b" "$SIZE" &&
	suma=$(file_sha "$S/a") && sumb=$(file_sha "$S/b") || return 1
	download "${CL_M[1]}" "$S/a" node1 >"$WORK/dl1.out" 2>&1 &
	p1=$!
	download "${CL_M[2]}" "$S/b" node2 >"$WORK/dl2.out" 2>&1 &
	p2=$!
	wait "$p1"; rc1=$?
	wait "$p2"; rc2=$?
	[ "$rc1" = 0 ] && [ "$rc2" = 0 ] || { cat "$WORK/dl1.out" "$WORK/dl2.out" >&2; return 1; }
}
check "both nodes download the same blob at once, each under its own flock" both
say "node 1: $(tr '\n' ';' <"$WORK/dl1.out")"
say "node 2: $(tr '\n' ';' <"$WORK/dl2.out")"
check "the trees converge" cl_wait_converged

whole() {
	local i s first=
	for i in 1 2; do
		s=$(file_sha "${CL_M[$i]}/$C/blobs/$BLOB") || return 1
		[ "$s" = "$suma" ] || [ "$s" = "$sumb" ] ||
			{ echo "node $i: the blob is neither download (torn?)" >&2; return 1; }
		[ -z "$first" ] || expect_eq "$s" "$first" "the blob on node $i" || return 1
		first=$s
	done
	note "the blob is $([ "$first" = "$suma" ] && echo "node 1's" || echo "node 2's") download"
	expect_eq "$(file_sha "${CL_M[2]}/$C/snapshots/main/model.bin")" "$first" "the snapshot link"
}
check "the blob is one download whole, the same on both nodes; the link resolves to it" whole

nothing_torn() {
	local i f s
	for i in 1 2; do
		while IFS= read -r -d '' f; do
			[ -s "$f" ] || continue
			s=$(file_sha "$f")
			[ "$s" = "$suma" ] || [ "$s" = "$sumb" ] ||
				{ echo "node $i: $f is a mix of the downloads" >&2; return 1; }
		done < <(find "${CL_M[$i]}/$C" -type f -print0)
	done
}
check "every file in the cache is one download whole, or empty" nothing_torn
check "fsck of node 1: clean" expect_status 0 admin fsck "${CL_M[1]}"
check "fsck of node 2: clean" expect_status 0 admin fsck "${CL_M[2]}"
again() {
	download "${CL_M[2]}" "$S/b" node2 >"$WORK/dl3.out" 2>&1 &&
	grep -q "found the blob" "$WORK/dl3.out"
}
check "a second download on node 2 finds the blob" again

cl_done
