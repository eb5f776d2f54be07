#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Hostile input on the peer port, and CURVE authentication.
# Part 1: two nodes without keys.  Node 1's listen port gets random bytes
# over raw TCP, ZMTP 3.0 greetings followed by junk, and well-formed ZMTP
# sessions (DEALER and REQ, NULL mechanism) carrying random messages, some
# with lengths far beyond what is sent.  Node 1 stays up, answers status,
# serves its chunks to node 2 and takes new writes that node 2 sees.
# Part 2: nodes 3 and 4 have keys listed in their authorized_keys; node 5
# has a key that is not listed.  Files written on node 3 reach node 4; node
# 5 gets nothing (no peer up, empty tree, no ops) and nodes 3 and 4 log the
# refusal.
# (The decoders themselves are fuzzed by the unit tests.)
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
cl_init 5

S=$WORK/src
sum=
BAD_RE='malformed|invalid|bad|garbage|decod|protocol|unknown|truncat|short|too (long|large|big)|drop'
REFUSED_RE='refus|denied|unauthori[sz]ed|not authori[sz]ed|not listed|unknown key'
REFUSE_RE="$REFUSED_RE|ZAP|auth|curve|handshake"
mfs_log_allow "${CL_D[1]}" "$BAD_RE|speaks wire version"

cl_set_peers 1 2
cl_set_peers 2 1
check "start nodes 1 and 2 (no keys)" eval 'cl_start 1 && cl_start 2 && cl_wait_formed 1 2' ||
	mfs_abort "no cluster"

served=
log_lines=
before() {
	randfile "$S/f" $((16 * MiB)) && sum=$(file_sha "$S/f") &&
	cp "$S/f" "${CL_M[1]}/f" &&
	cl_wait_converged meta 1 2 && cl_wait_backlog0 1 2 &&
	served=$(cl_get 1 served_chunks) &&
	log_lines=$(wc -l <"${CL_D[1]}/modelfs.log")
}
check "node 1 writes 16 MiB; node 2 knows the file" before || mfs_abort "no data"

cat >"$WORK/junk.py" <<'PYEOF'
import random, socket, struct, sys

host, port, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(seed)

def rbytes(n):
    return bytes(rnd.getrandbits(8) for _ in range(n))

def greeting(mech=b"NULL", major=3, minor=0):
    return b"\xff" + b"\0" * 8 + b"\x7f" + bytes([major, minor]) + mech.ljust(20, b"\0") + b"\0" + b"\0" * 31

def frame(body, more=False, cmd=False, claim=None):
    n = len(body) if claim is None else claim
    flags = (1 if more else 0) | (4 if cmd else 0)
    if n > 255:
        return bytes([flags | 2]) + struct.pack(">Q", n) + body
    return bytes([flags, n]) + body

def ready(socktype):
    def prop(k, v):
        return bytes([len(k)]) + k + struct.pack(">I", len(v)) + v
    return frame(b"\x05READY" + prop(b"Socket-Type", socktype), cmd=True)

def message(req):
    parts = [b""] if req else []
    for _ in range(rnd.randint(1, 4)):
        kind = rnd.random()
        if kind < 0.5:    # a small type byte and a random tail: reaches the decoders
            parts.append(bytes([rnd.randint(0, 40)]) + rbytes(rnd.randint(0, 200)))
        elif kind < 0.8:
            parts.append(rbytes(rnd.randint(0, 2000)))
        else:             # plausible header words, random lengths
            parts.append(struct.pack("<IIQ", rnd.randint(0, 8), rnd.getrandbits(32), rnd.getrandbits(64)) +
                         rbytes(rnd.randint(0, 64)))
    return b"".join(frame(p, more=(i < len(parts) - 1)) for i, p in enumerate(parts))

def mfw(req):
    """A message shaped like the peer protocol: a 24-byte header frame
    ("MFW", version 2, type, flags, inode space, node, request id) and a body frame.
    Mostly a valid header for a request type (PULL, GET, CHECK) with a body whose
    counts and lengths lie, so that the body decoders see it; else a bad
    header (version, type, length) or a bad frame count."""
    valid = rnd.random() < 0.75
    typ = rnd.choice([1, 3, 6]) if valid else rnd.choice([0, 2, 4, 5, 7, 8, 255])
    ver = 2 if valid or rnd.random() < 0.5 else rnd.choice([0, 1, 3, 255])
    hdr = b"MFW" + bytes([ver, typ, rnd.getrandbits(8)]) + struct.pack("<HQQ", rnd.getrandbits(16), rnd.getrandbits(64), rnd.getrandbits(64))
    if ver == 1 and rnd.random() < 0.5:  # the build before: a 16-byte header
        hdr = hdr[:6] + struct.pack("<HQ", rnd.getrandbits(16), rnd.getrandbits(64))
    if not valid and rnd.random() < 0.3:
        hdr = hdr[:rnd.randint(0, 23)] if rnd.random() < 0.5 else hdr + rbytes(rnd.randint(1, 8))
    kind = rnd.random()
    if typ == 1 and kind < 0.8:    # PULL: version vectors whose count lies
        n = rnd.choice([0, 1, 2, 1024, 1025, 65535])
        body = struct.pack("<H", n) + b"".join(struct.pack("<QQ", rnd.getrandbits(64), rnd.getrandbits(64))
                                               for _ in range(min(n, rnd.choice([0, 1, 3])))) + rbytes(rnd.choice([0, 0, 1, 7]))
    elif typ == 3 and kind < 0.8:  # GET: a random hash, raw lengths from 0 to absurd, any flags, cut short
        body = rbytes(32) + struct.pack("<IB", rnd.choice([0, 1, 1 << 20, 0xFFFFFFFF]), rnd.getrandbits(8))
        if rnd.random() < 0.3:
            body = body[:rnd.randint(0, len(body) - 1)] if rnd.random() < 0.5 else body + rbytes(rnd.randint(1, 9))
    elif typ == 6 and kind < 0.8:  # CHECK: counts that lie, lengths 0 or absurd, factor 0, unknown flags
        n = rnd.choice([0, 1, 2, 1024, 1025, 65535])
        body = struct.pack("<BH", rnd.choice([0, 1, 2, 3, 4, 255]), n) + b"".join(
            rbytes(32) + struct.pack("<IHB", rnd.choice([0, 1, 1 << 20, 0xFFFFFFFF]), rnd.getrandbits(16), rnd.choice([0, 1, 3, 255]))
            for _ in range(min(n, rnd.choice([0, 1, 2]))))
        if rnd.random() < 0.3:
            body = body[:rnd.randint(0, max(0, len(body) - 1))] if rnd.random() < 0.5 else body + rbytes(rnd.randint(1, 9))
    else:
        body = rbytes(rnd.randint(0, 300))
    parts = ([b""] if req else []) + [hdr, body]
    if rnd.random() < 0.1:         # a bad frame count
        parts = parts[:1] if rnd.random() < 0.5 else parts + [rbytes(rnd.randint(0, 100))]
    return b"".join(frame(p, more=(i < len(parts) - 1)) for i, p in enumerate(parts))

def session(payload):
    try:
        s = socket.create_connection((host, port), timeout=2)
    except OSError as e:
        print("connect failed:", e)
        return False
    try:
        s.sendall(payload)
        s.settimeout(0.05)
        try:
            s.recv(4096)
        except OSError:
            pass
    except OSError:
        pass
    finally:
        s.close()
    return True

ok = 0
cases = 0
for _ in range(40):     # raw random bytes
    cases += 1; ok += session(rbytes(rnd.randint(1, 65536)))
for _ in range(20):     # a greeting (sometimes wrong), then junk
    g = greeting(rnd.choice([b"NULL", b"CURVE", b"PLAIN", b"BOGUS"]), rnd.choice([3, 3, 2, 9]), rnd.randint(0, 2))
    cases += 1; ok += session(g + rbytes(rnd.randint(0, 4096)))
for i in range(60):     # DEALER sessions with protocol-shaped messages
    body = greeting() + ready(b"DEALER") + b"".join(mfw(False) for _ in range(rnd.randint(1, 20)))
    cases += 1; ok += session(body)
for i in range(60):     # well-formed ZMTP sessions with random messages
    st = rnd.choice([b"DEALER", b"REQ", b"ROUTER", b"PUB"])
    body = greeting() + ready(st) + b"".join(message(st == b"REQ") for _ in range(rnd.randint(1, 20)))
    cases += 1; ok += session(body)
for claim in (8 << 20, 1 << 20, 1 << 34, 1 << 40, (1 << 63) - 1):   # lengths far beyond what is sent
    body = greeting() + ready(b"DEALER") + frame(rbytes(100), claim=claim)
    cases += 1; ok += session(body)
print("%d/%d sessions connected" % (ok, cases))
sys.exit(0 if ok == cases else 1)
PYEOF

junk() {
	local pid
	pid=$(mfs_daemon_pid "${CL_M[1]}")
	"$PY" "$WORK/junk.py" "${CL_IP[1]}" "$CL_PORT" "$RANDOM" >&2 || return 1
	pid_alive "$pid" || { echo "node 1's daemon ($pid) died" >&2; return 1; }
}
check "send junk to node 1's peer port (raw TCP, bad greetings, ZMTP sessions with random messages)" junk
check "node 1 still answers status" expect_status 0 admin status --json "${CL_M[1]}"
check "node 1 still sees node 2 up" cl_wait_formed 1 2

served_after() {
	expect_sha "${CL_M[2]}/f" "$sum" || return 1
	local now
	now=$(cl_get 1 served_chunks) || return 1
	note "node 1 served_chunks: $served before node 2's read, $now after"
	[ "$now" -gt "$served" ] || { echo "node 1 served no chunk for node 2's read" >&2; return 1; }
}
check "node 2 reads the 16 MiB, served in part by node 1" served_after
after_junk_write() {
	echo "after the junk" >"${CL_M[1]}/g" &&
	cl_wait_converged 1 2 &&
	expect_eq "$(cat "${CL_M[2]}/g")" "after the junk" "g on node 2"
}
check "a new file on node 1 reaches node 2" after_junk_write
junk_in_log() { tail -n +"$((log_lines + 1))" "${CL_D[1]}/modelfs.log" | grep -qiE "$BAD_RE"; }
junk_logged() {
	wait_for 100 junk_in_log && return 0
	echo "node 1 logged nothing matching /$BAD_RE/ after the junk" >&2
	return 1
}
check "node 1 logged the junk" junk_logged

# ---- CURVE ------------------------------------------------------------------

for i in 3 4; do
	mfs_log_allow "${CL_D[$i]}" "$REFUSE_RE"
done
mfs_log_allow "${CL_D[5]}" "$REFUSE_RE|timeout|timed out|unreachable|handshake|down"

keys() {
	local i
	for i in 3 4 5; do
		expect_status 0 admin keygen "$WORK/key$i" || return 1
		if [ ! -s "$WORK/key$i" ] || [ ! -s "$WORK/key$i.pub" ]; then
			echo "keygen wrote no key$i or key$i.pub" >&2
			return 1
		fi
		expect_eq "$(stat -c %a "$WORK/key$i")" 600 "mode of the secret key file"
	done
	{
		echo "# nodes 3 and 4"
		echo "$(cat "$WORK/key3.pub") $(cl_endpoint 3)"
		echo "$(cat "$WORK/key4.pub") $(cl_endpoint 4)"
	} >"$WORK/authorized_keys" &&
	# Node 5 trusts everyone, but nobody trusts node 5.
	cat "$WORK/authorized_keys" - >"$WORK/authorized_keys.5" <<<"$(cat "$WORK/key5.pub") $(cl_endpoint 5)"
}
check "modelfs-admin keygen for nodes 3, 4, 5; authorized_keys lists 3 and 4" keys || mfs_abort "no keys"

cl_set_peers 3 4
cl_set_peers 4 3
cl_set_peers 5 3 4
curve_start() {
	cl_start 3 "curve_key=$WORK/key3,authorized_keys=$WORK/authorized_keys" &&
	cl_start 4 "curve_key=$WORK/key4,authorized_keys=$WORK/authorized_keys" &&
	cl_start 5 "curve_key=$WORK/key5,authorized_keys=$WORK/authorized_keys.5" &&
	cl_wait_formed 3 4
}
check "start nodes 3 and 4 with listed keys, node 5 with an unlisted key; 3 and 4 see each other" curve_start ||
	mfs_abort "no CURVE nodes"

curve_write() {
	cp "$S/f" "${CL_M[3]}/f" && mkdir "${CL_M[3]}/d" &&
	cl_wait_converged 3 4 &&
	expect_sha "${CL_M[4]}/f" "$sum"
}
check "node 3 writes; node 4 reads the same bytes" curve_write

refused_by() { grep -qiE "$REFUSED_RE" "${CL_D[$1]}/modelfs.log"; }
refusals() {
	wait_for "$CL_TRIES" eval 'refused_by 3 && refused_by 4' && return 0
	echo "no refusal (/$REFUSED_RE/) logged by node 3 and node 4" >&2
	tail -n 5 "${CL_D[3]}/modelfs.log" "${CL_D[4]}/modelfs.log" >&2
	return 1
}
check "nodes 3 and 4 log the refusal of node 5" refusals

outsider() {
	expect_eq "$(cl_get 5 peers_up)" 0 "peers_up of node 5" &&
	expect_eq "$(cl_get 5 ops_applied)" 0 "ops_applied of node 5" &&
	expect_listing "${CL_M[5]}" &&
	expect_errno ENOENT open "${CL_M[5]}/f"
}
check "node 5: no peer up, no op applied, empty tree, f does not exist" outsider

cl_done
