#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Model files as frameworks load them, on a peer of the node that wrote
# them.  Node 1 gets, from real weights (the weights pool, else random
# values): a torch zip checkpoint (cp), a numpy .npy and a safetensors file
# written by hand (extracted from a tar), a GGUF v3 file written by hand and
# an ONNX-like protobuf (rsync, which writes a temporary name and renames it
# over).  On node 2: torch.load gives equal tensors, numpy memmap and the
# hand-parsed safetensors and GGUF headers give every tensor's exact bytes
# through a shared mapping, and every file hashes the same by pread and by
# mmap as its source.  Then fcntl and flock locks as huggingface_hub takes
# them (a .lock file beside the blob) on node 2 do not disturb the reads.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
"$PY" -c 'import numpy, torch' 2>/dev/null || skip_all "$PY has no numpy or torch"
command -v tar >/dev/null || skip_all "no tar"
cl_init 2

S=$WORK/src
POOL=/var/tmp/modelfs-weights/pool
check "start 2 nodes" cl_start_all || mfs_abort "no cluster"

make_models() {
	"$PY" - "$S" "$POOL" <<'PYEOF'
import json, os, struct, sys
import numpy as np, torch
out, pool = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(7)
src = os.path.join(pool, "weights-fp32.bin")
if os.path.exists(src):
    vals = np.fromfile(src, dtype=np.float32)
else:
    vals = rng.standard_normal(6_000_000).astype(np.float32)
shapes = [(1024, 1024), (4096, 512), (3, 1000, 7), (777,), (2048, 1024)]
tensors, off = {}, 0
for i, sh in enumerate(shapes):
    n = int(np.prod(sh))
    tensors["layer.%d.weight" % i] = vals[off:off + n].reshape(sh).copy()
    off = (off + n) % max(1, len(vals) - 3_000_000)
tensors["layer.2.weight"] = tensors["layer.2.weight"].astype(np.float16)
np.savez(os.path.join(out, "ref.npz"), **tensors)
# torch zip checkpoint
torch.save({k: torch.from_numpy(v) for k, v in tensors.items()}, os.path.join(out, "model.pt"))
# numpy .npy
os.makedirs(os.path.join(out, "tree"), exist_ok=True)
np.save(os.path.join(out, "tree", "big.npy"), tensors["layer.4.weight"])
# safetensors by hand
DT = {np.float32: "F32", np.float16: "F16"}
hdr, blobs, pos = {}, [], 0
for k, v in tensors.items():
    b = v.tobytes()
    hdr[k] = {"dtype": DT[v.dtype.type], "shape": list(v.shape), "data_offsets": [pos, pos + len(b)]}
    blobs.append(b)
    pos += len(b)
h = json.dumps(hdr).encode()
h += b" " * (-len(h) % 8)
with open(os.path.join(out, "tree", "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
# GGUF v3 by hand: header, one KV, tensor infos, data aligned to 32
def gstr(s):
    s = s.encode()
    return struct.pack("<Q", len(s)) + s
GT = {np.float32: 0, np.float16: 1}
kv = gstr("general.architecture") + struct.pack("<I", 8) + gstr("llama")
infos, datas, pos = b"", [], 0
for k, v in tensors.items():
    dims = list(reversed(v.shape))
    infos += gstr(k) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
    infos += struct.pack("<IQ", GT[v.dtype.type], pos)
    b = v.tobytes()
    b += b"\0" * (-len(b) % 32)
    datas.append(b)
    pos += len(b)
head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), 1) + kv + infos
head += b"\0" * (-len(head) % 32)
os.makedirs(os.path.join(out, "rs"), exist_ok=True)
with open(os.path.join(out, "rs", "model.gguf"), "wb") as f:
    f.write(head + b"".join(datas))
# ONNX-like protobuf: length-delimited fields (wire type 2) with raw_data
def varint(n):
    o = b""
    while True:
        c = n & 0x7F
        n >>= 7
        o += bytes([c | (0x80 if n else 0)])
        if not n:
            return o
pb = b""
for k, v in tensors.items():
    t = b"\x42" + varint(len(k)) + k.encode() + b"\x4a" + varint(v.nbytes) + v.tobytes()
    pb += b"\x0a" + varint(len(t)) + t
with open(os.path.join(out, "rs", "model.onnx"), "wb") as f:
    f.write(pb)
PYEOF
}
check "models built from real weights: torch zip, npy, safetensors, GGUF, ONNX-like" make_models ||
	mfs_abort "no models"

copy_in() {
	cp "$S/model.pt" "${CL_M[1]}/model.pt" &&
	tar -C "$S" -cf - tree | tar -C "${CL_M[1]}" -xf - &&
	if command -v rsync >/dev/null; then
		rsync -a "$S/rs/" "${CL_M[1]}/rs/"
	else
		note "no rsync: cp -a instead" && cp -a "$S/rs" "${CL_M[1]}/rs"
	fi
}
check "node 1: cp the checkpoint, tar the tree in, rsync the rest" copy_in
check "node 2 sees every file" cl_wait_converged meta

loads_on_2() {
	"$PY" - "$S" "${CL_M[2]}" <<'PYEOF'
import hashlib, json, mmap, os, struct, sys
import numpy as np, torch
src, mnt = sys.argv[1], sys.argv[2]
ref = dict(np.load(os.path.join(src, "ref.npz")))
bad = []
def same(what, got, want):
    if got.dtype != want.dtype or got.shape != want.shape or got.tobytes() != want.tobytes():
        bad.append(what)
# torch
sd = torch.load(os.path.join(mnt, "model.pt"))
for k, v in ref.items():
    same("torch " + k, sd[k].numpy(), v)
# numpy memmap
same("npy memmap", np.load(os.path.join(mnt, "tree", "big.npy"), mmap_mode="r"), ref["layer.4.weight"])
# safetensors by hand through a shared mapping
DT = {"F32": np.float32, "F16": np.float16}
with open(os.path.join(mnt, "tree", "model.safetensors"), "rb") as f:
    m = mmap.mmap(f.fileno(), 0, mmap.MAP_SHARED, mmap.PROT_READ)
    n = struct.unpack("<Q", m[:8])[0]
    hdr = json.loads(bytes(m[8:8 + n]))
    for k in reversed(list(hdr)):
        e = hdr[k]
        a, b = e["data_offsets"]
        same("safetensors " + k, np.frombuffer(m[8 + n + a:8 + n + b], dtype=DT[e["dtype"]]).reshape(e["shape"]), ref[k])
    m.close()
# GGUF by hand
GT = {0: np.float32, 1: np.float16}
with open(os.path.join(mnt, "rs", "model.gguf"), "rb") as f:
    m = mmap.mmap(f.fileno(), 0, mmap.MAP_SHARED, mmap.PROT_READ)
    assert m[:4] == b"GGUF"
    ver, nt, nkv = struct.unpack_from("<IQQ", m, 4)
    p = 24
    def gstr(p):
        l = struct.unpack_from("<Q", m, p)[0]
        return bytes(m[p + 8:p + 8 + l]).decode(), p + 8 + l
    for _ in range(nkv):
        _, p = gstr(p)
        t = struct.unpack_from("<I", m, p)[0]
        p += 4
        assert t == 8
        _, p = gstr(p)
    infos = []
    for _ in range(nt):
        name, p = gstr(p)
        nd = struct.unpack_from("<I", m, p)[0]
        dims = struct.unpack_from("<%dQ" % nd, m, p + 4)
        p += 4 + 8 * nd
        t, off = struct.unpack_from("<IQ", m, p)
        p += 12
        infos.append((name, dims, t, off))
    base = p + (-p % 32)
    for name, dims, t, off in infos:
        cnt = int(np.prod(dims))
        nb = cnt * np.dtype(GT[t]).itemsize
        a = np.frombuffer(m[base + off:base + off + nb], dtype=GT[t]).reshape(tuple(reversed(dims)))
        same("gguf " + name, a, ref[name])
    m.close()
# every file: pread and mmap hash as the source
for rel in ["model.pt", "tree/big.npy", "tree/model.safetensors", "rs/model.gguf", "rs/model.onnx"]:
    want = hashlib.sha256(open(os.path.join(src, rel), "rb").read()).hexdigest()
    fd = os.open(os.path.join(mnt, rel), os.O_RDONLY)
    size, h, off = os.fstat(fd).st_size, hashlib.sha256(), 0
    while off < size:
        b = os.pread(fd, 3 << 20, off)
        if not b:
            break
        h.update(b)
        off += len(b)
    if h.hexdigest() != want:
        bad.append("pread " + rel)
    m = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ)
    if hashlib.sha256(m).hexdigest() != want:
        bad.append("mmap " + rel)
    m.close()
    os.close(fd)
if bad:
    print("differ on node 2:", ", ".join(bad), file=sys.stderr)
    sys.exit(1)
PYEOF
}
check "node 2: torch.load, numpy memmap, safetensors and GGUF by hand, pread and mmap hashes: exact" loads_on_2

locks_on_2() {
	"$PY" - "${CL_M[2]}" <<'PYEOF'
import fcntl, hashlib, os, sys
mnt = sys.argv[1]
os.makedirs(os.path.join(mnt, ".locks"), exist_ok=True)
lk = os.path.join(mnt, ".locks", "model.safetensors.lock")
with open(lk, "w") as f:
    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with open(os.path.join(mnt, "tree", "model.safetensors"), "rb") as g:
        fcntl.lockf(g, fcntl.LOCK_SH | fcntl.LOCK_NB)
        hashlib.sha256(g.read()).hexdigest()
        fcntl.lockf(g, fcntl.LOCK_UN)
    fcntl.lockf(f, fcntl.LOCK_UN)
    fcntl.flock(f, fcntl.LOCK_UN)
os.unlink(lk)
PYEOF
}
check "node 2: flock and fcntl locks on a .lock file and a shared lock on the blob" locks_on_2
agree() { cl_wait_converged && expect_status 0 "$ADMIN_BIN" fsck "${CL_M[1]}"; }
check "trees agree; fsck on node 1 is clean" agree

cl_done
