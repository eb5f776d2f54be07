#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# 64-bit node ids (doc/replication.md, "Node ids and inode spaces").
#  - Two stores written by the build before them (store format 2, wire
#    version 1: tests/fs/fixtures/format2-2node.tar.gz, made by
#    fixtures/make-format2.sh with main at d920e46) are converted at the
#    first start, once: same files, bytes, links and xattrs; inode numbers
#    unchanged (the old id is the inode space); the nodes sync with each
#    other; fsck clean; gc reads the converted marks.
#  - A peer speaking wire version 1 is refused by name (log, status
#    wire_version_refused), and the node goes on serving.
#  - With CURVE keys each node takes its key's id (first 8 bytes of the
#    SHA-256 of the public key); the tree stays whole and syncs; a client
#    with an authorized key that claims another id is refused
#    (node_id_mismatches), with its own id it is served.
#  - A lower id heard in this node's inode space moves it to a fresh one:
#    new inodes there, old ones unchanged (ino_space_changes).
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
WIRE_PEER=$MFS_BUILD/tests/tools/wire_peer
[ -x "$WIRE_PEER" ] || skip_all "no $WIRE_PEER"
cl_init 2
M1=${CL_M[1]} M2=${CL_M[2]} D1=${CL_D[1]} D2=${CL_D[2]}
# Expected ERROR lines: the old wire peer and the false claim.
for d in "$D1" "$D2"; do
	mfs_log_allow "$d" 'speaks wire version 1|claims node id'
done

check "unpack two format 2 stores" tar -C "$WORK" -xzf "$MFS_SRC/tests/fs/fixtures/format2-2node.tar.gz"

# hex16 HEX: HEX as 16 lowercase hex digits.
hex16() { printf '%016x' "$((16#$1))"; }
# space_of PATH: the inode space of PATH's inode number, 4 hex digits.
space_of() { local ino; ino=$(stat -c %i "$1") && printf '%04x' "$(((ino >> 48) & 0xffff))"; }
SP=()    # the inode spaces the nodes had after the conversion

converted() {
	local i d
	for i in 1 2; do
		d=${CL_D[$i]}
		expect_eq "$(grep -c 'store format 2 converted to 3 (64-bit node ids)' "$d/modelfs.log")" 1 \
			"conversions logged by node $i" || return 1
		id=$(cl_get "$i" node_id) && sp=$(cl_get "$i" ino_space) || return 1
		[[ $id =~ ^[0-9a-f]{16}$ ]] && [[ $sp =~ ^[0-9a-f]{4}$ ]] ||
			{ echo "node $i: node_id '$id', ino_space '$sp'" >&2; return 1; }
		expect_eq "$id" "$(hex16 "$sp")" "node $i: the old 16-bit id is its id and its inode space" ||
			return 1
		SP[i]=$sp
	done
}
check "start both: each converts its store once; the old id stays the id and is the inode space" \
	cl_start_all && check "... as status and the log say" converted

same_tree_on() { # NODE
	local m=${CL_M[$1]}
	expect_eq "$(file_sha "$m/a/big.bin")" "$(seq 1 40000 | sha256sum | cut -d' ' -f1)" "a/big.bin" &&
	expect_eq "$(cat "$m/a/sub/hello.txt")" hello "a/sub/hello.txt" &&
	expect_eq "$(readlink "$m/a/link")" sub/hello.txt "a/link" &&
	expect_eq "$(stat -c %h "$m/a/hard")" 2 "links of a/hard" &&
	expect_eq "$(getfattr --only-values -n user.k "$m/a/big.bin" 2>/dev/null)" v1 "xattr" &&
	expect_eq "$(file_sha "$m/b/one.bin")" "$(seq 7 20000 | sha256sum | cut -d' ' -f1)" "b/one.bin" &&
	expect_eq "$(cat "$m/b/zwei.txt")" two "b/zwei.txt" &&
	{ [ ! -e "$m/b/gone" ] && [ ! -e "$m/b/two.txt" ] || { echo "b/gone or b/two.txt is back" >&2; false; }; } &&
	expect_eq "$(file_sha "$m/b/rewritten")" "$(seq 9 30000 | sha256sum | cut -d' ' -f1)" "b/rewritten" &&
	# Node 1 made a/, node 2 b/: their inode numbers are in their old ids' spaces.
	expect_eq "$(space_of "$m/a/big.bin")" "${SP[1]}" "inode space of a/big.bin" &&
	expect_eq "$(space_of "$m/b/one.bin")" "${SP[2]}" "inode space of b/one.bin"
}
check "node 1: every file, link and xattr as the old build wrote it" same_tree_on 1
check "node 2: the same" same_tree_on 2

sync_new() {
	echo after >"$M2/b/after.txt" && mkdir "$M1/a/new" && echo n >"$M1/a/new/f" &&
	cl_wait_converged && expect_eq "$(cat "$M1/b/after.txt")" after "b/after.txt on node 1" &&
	expect_eq "$(cat "$M2/a/new/f")" n "a/new/f on node 2"
}
check "the converted nodes sync new writes both ways (wire version 2)" sync_new
check "fsck on node 1: clean" expect_status 0 admin fsck "$M1"
check "gc on node 2 reads its converted marks" expect_status 0 admin gc "$M2"

restart_once() {
	cl_stop 1 && cl_restart 1 && cl_wait_formed &&
	expect_eq "$(grep -c 'converted to 3' "$D1/modelfs.log")" 1 "conversions after a restart" &&
	same_tree_on 1
}
check "restart node 1: nothing converted again, the tree whole" restart_once

old_wire() {
	"$WIRE_PEER" oldwire "tcp://$(cl_endpoint 1)" >&2 &&
	wait_for 50 grep -q "ERROR.*(node 1a2b) speaks wire version 1; this build speaks 2 only: upgrade" "$D1/modelfs.log" &&
	[ "$(cl_get 1 wire_version_refused)" -ge 1 ] ||
		{ echo "wire_version_refused: $(cl_get 1 wire_version_refused)" >&2; return 1; }
}
check "a version 1 peer: refused by name in the log and status; version 2 still served" old_wire

move_space() {
	local sp id before after
	sp=$(cl_get 2 ino_space) && before=$(stat -c %i "$M2/b/one.bin") || return 1
	"$WIRE_PEER" space "tcp://$(cl_endpoint 2)" "$sp" >&2 || return 1
	wait_for 50 eval '[ "$(cl_get 2 ino_space_changes)" = 1 ]' ||
		{ echo "ino_space_changes: $(cl_get 2 ino_space_changes)" >&2; return 1; }
	id=$(cl_get 2 ino_space) || return 1
	[ "$id" != "$sp" ] || { echo "space still $sp" >&2; return 1; }
	[ "$id" != "$(cl_get 1 ino_space)" ] || { echo "moved into node 1's space" >&2; return 1; }
	grep -q "WARN.*numbers its inodes in space $sp too and its id is lower: new inodes here are numbered in space $id" \
		"$D2/modelfs.log" || { echo "no warning in the log" >&2; return 1; }
	echo x >"$M2/b/in-new-space" &&
	expect_eq "$(space_of "$M2/b/in-new-space")" "$id" "new inode's space" &&
	after=$(stat -c %i "$M2/b/one.bin") && expect_eq "$after" "$before" "an old inode number" &&
	cl_wait_converged && expect_eq "$(cat "$M1/b/in-new-space")" x "on node 1"
}
check "a lower id in node 2's inode space: node 2 moves to a fresh one for new inodes" move_space

# ---- CURVE: ids from keys --------------------------------------------------

# key_id PUBFILE: the node id of a Z85 public key (SHA-256, first 8 bytes).
key_id() {
	"$PY" - "$1" <<'PYEOF'
import hashlib, sys
A = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
s = open(sys.argv[1]).read().split()[0]
out = b""
for i in range(0, len(s), 5):
    v = 0
    for c in s[i:i + 5]:
        v = v * 85 + A.index(c)
    out += v.to_bytes(4, "big")
print(hashlib.sha256(out).hexdigest()[:16])
PYEOF
}

curve_ids() {
	local i
	admin keygen "$WORK/key1" >/dev/null && admin keygen "$WORK/key2" >/dev/null &&
	admin keygen "$WORK/key3" >/dev/null || return 1
	{
		echo "$(cat "$WORK/key1.pub") $(cl_endpoint 1)"
		echo "$(cat "$WORK/key2.pub") $(cl_endpoint 2)"
		cat "$WORK/key3.pub"
	} >"$WORK/ak"
	cl_stop 1 && cl_stop 2 || return 1
	for i in 1 2; do
		_cl_opts[$i]="curve_key=$WORK/key$i,authorized_keys=$WORK/ak"
	done
	cl_restart 1 && cl_restart 2 && cl_wait_formed || return 1
	for i in 1 2; do
		expect_eq "$(cl_get "$i" node_id)" "$(key_id "$WORK/key$i.pub")" "node $i: its key's id" ||
			return 1
	done
	same_tree_on 1 && same_tree_on 2 &&
	echo k >"$M1/a/keyed" && cl_wait_converged && expect_eq "$(cat "$M2/a/keyed")" k "a/keyed on node 2"
}
check "with CURVE keys each node takes its key's id; the tree stays whole and syncs" curve_ids
check "fsck on node 2 after the id change: clean" expect_status 0 admin fsck "$M2"

false_claim() {
	"$WIRE_PEER" claim "tcp://$(cl_endpoint 1)" "$WORK/key3" "$(cat "$WORK/key1.pub")" >&2 &&
	[ "$(cl_get 1 node_id_mismatches)" -ge 1 ] &&
	grep -q "ERROR.*a peer whose key has node id $(key_id "$WORK/key3.pub") claims node id 7777777777777777: refused" \
		"$D1/modelfs.log" || { echo "no refusal logged or counted" >&2; return 1; }
}
check "an authorized key claiming another id is refused (log, node_id_mismatches); its own id is served" false_claim

cl_done
