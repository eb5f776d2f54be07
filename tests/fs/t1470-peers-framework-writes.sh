#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Model files as frameworks write them on the mount itself, read on a peer
# (t1460 copies finished files in; here the frameworks' own write patterns
# reach the daemon).  On node 1, from real weights (the weights pool, else
# random values): torch.save of a state dict in the zip format and in the
# legacy format (shared and non-contiguous storages included), a safetensors
# file written by hand through one buffered file, and a numpy memmap created
# with open_memmap (w+), filled, flushed, then reopened r+ (np.memmap, then
# open_memmap, then np.load(mmap_mode='r+')) and changed in place (rows, a
# strided column, a block), each time flushed.  The same
# steps run in a local directory give the reference.  Node 2 then sees every
# file with node 1's SHA-256 (pread and mmap), torch.load gives equal tensors
# (weights_only as well), the safetensors header and tensors parse through a
# shared mapping, and the memmap's bytes equal the reference's.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
"$PY" -c 'import numpy, torch' 2>/dev/null || skip_all "$PY has no numpy or torch"
cl_init 2

REF=$WORK/ref
POOL=/var/tmp/modelfs-weights/pool
M1=${CL_M[1]}
M2=${CL_M[2]}
check "start 2 nodes" cl_start_all || mfs_abort "no cluster"

# write_models DIR: the framework writes, in DIR (the reference, or the mount).
write_models() {
	mkdir -p "$1" && "$PY" - "$1" "$POOL" <<'PYEOF'
import json, os, struct, sys
import numpy as np, torch
out, pool = sys.argv[1], sys.argv[2]
src = os.path.join(pool, "weights-fp32.bin")
vals = np.fromfile(src, dtype=np.float32, count=5_100_000) if os.path.exists(src) else []
if len(vals) < 5_100_000:
    vals = np.random.default_rng(7).standard_normal(5_100_000).astype(np.float32)
t = {
    "embed.weight": torch.from_numpy(vals[:2048 * 1024].reshape(2048, 1024).copy()),
    "h.0.attn.weight": torch.from_numpy(vals[2_200_000:2_200_000 + 1024 * 1536].reshape(1024, 1536).copy()),
    "h.0.ln.bias": torch.from_numpy(vals[3_800_000:3_800_777].copy()),
    "h.1.mlp.weight": torch.from_numpy(vals[4_000_000:4_000_000 + 512 * 2048].reshape(512, 2048).copy()).half(),
}
t["lm_head.weight"] = t["embed.weight"]                  # tied: one storage
t["h.0.attn.weight_t"] = t["h.0.attn.weight"].t()        # non-contiguous view
torch.save(t, os.path.join(out, "model_zip.pt"))
torch.save(t, os.path.join(out, "model_legacy.pt"), _use_new_zipfile_serialization=False)
# safetensors by hand: header, then every tensor through one buffered file
DT = {torch.float32: "F32", torch.float16: "F16"}
hdr, pos, order = {}, 0, ["embed.weight", "h.0.attn.weight", "h.0.ln.bias", "h.1.mlp.weight"]
for k in order:
    n = t[k].numel() * t[k].element_size()
    hdr[k] = {"dtype": DT[t[k].dtype], "shape": list(t[k].shape), "data_offsets": [pos, pos + n]}
    pos += n
h = json.dumps(hdr).encode()
h += b" " * (-len(h) % 8)
with open(os.path.join(out, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(h)))
    f.write(h)
    for k in order:
        f.write(t[k].contiguous().numpy().tobytes())
# numpy memmap: w+, fill, flush; r+ rows, flush; r+ strided column, flush
p = os.path.join(out, "state.npy")
m = np.lib.format.open_memmap(p, mode="w+", dtype=np.float32, shape=(3000, 700))
m[:] = vals[:3000 * 700].reshape(3000, 700)
m.flush()
del m
off = np.load(p, mmap_mode="r").offset
m = np.memmap(p, dtype=np.float32, mode="r+", offset=off, shape=(3000, 700))
m[100:200] *= 2.0
m[2999] = -1.0
m.flush()
del m
m = np.lib.format.open_memmap(p, mode="r+")
m[:, 350] = np.arange(3000, dtype=np.float32)
m[::7, 0] += 0.5
m.flush()
del m
# np.load holds a reader open while it maps (fuse/fs_internal.h note 7)
m = np.load(p, mmap_mode="r+")
m[1000:1010, 600:] = -3.0
m.flush()
del m
PYEOF
}
check "the reference: the same writes in a local directory" write_models "$REF" ||
	mfs_abort "no reference"
check "node 1: torch.save (zip, legacy), safetensors and a numpy memmap written on the mount" \
	write_models "$M1/models"

FILES=(model_zip.pt model_legacy.pt model.safetensors state.npy)
sha() { sha256sum <"$1" | cut -d' ' -f1; }
# on_2: node 2 shows every file with node 1's bytes (the memmap's last version).
on_2() {
	local f
	for f in "${FILES[@]}"; do
		[ -f "$M2/models/$f" ] && [ "$(sha "$M2/models/$f")" = "$(sha "$M1/models/$f")" ] || return 1
	done
}
check "node 2 reads every file with node 1's SHA-256" wait_for "$CL_TRIES" on_2

loads_on_2() {
	"$PY" - "$REF" "$M2/models" "${FILES[@]}" <<'PYEOF'
import hashlib, json, mmap, os, struct, sys
import numpy as np, torch
ref, mnt, files = sys.argv[1], sys.argv[2], sys.argv[3:]
bad = []
want = torch.load(os.path.join(ref, "model_zip.pt"))
for name in ("model_zip.pt", "model_legacy.pt"):
    for kw in ({}, {"weights_only": True}):
        got = torch.load(os.path.join(mnt, name), **kw)
        if sorted(got) != sorted(want):
            bad.append("%s %s: keys" % (name, kw))
            continue
        for k in want:
            if got[k].dtype != want[k].dtype or not torch.equal(got[k], want[k]):
                bad.append("%s %s: %s" % (name, kw, k))
        if got["lm_head.weight"].data_ptr() != got["embed.weight"].data_ptr():
            bad.append("%s %s: tied weights loaded as two storages" % (name, kw))
DT = {"F32": np.float32, "F16": np.float16}
with open(os.path.join(mnt, "model.safetensors"), "rb") as f:
    m = mmap.mmap(f.fileno(), 0, mmap.MAP_SHARED, mmap.PROT_READ)
    n = struct.unpack("<Q", m[:8])[0]
    hdr = json.loads(bytes(m[8:8 + n]))
    for k, e in hdr.items():
        a, b = e["data_offsets"]
        got = np.frombuffer(m[8 + n + a:8 + n + b], dtype=DT[e["dtype"]]).reshape(e["shape"])
        if not np.array_equal(got, want[k].numpy()):
            bad.append("safetensors " + k)
    m.close()
if not np.array_equal(np.load(os.path.join(mnt, "state.npy"), mmap_mode="r"),
                      np.load(os.path.join(ref, "state.npy"))):
    bad.append("state.npy values")
if hashlib.sha256(open(os.path.join(mnt, "state.npy"), "rb").read()).digest() != \
        hashlib.sha256(open(os.path.join(ref, "state.npy"), "rb").read()).digest():
    bad.append("state.npy bytes")
for rel in files:
    fd = os.open(os.path.join(mnt, rel), os.O_RDONLY)
    size = os.fstat(fd).st_size
    m = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ)
    h1 = hashlib.sha256(m).hexdigest()
    m.close()
    h2 = hashlib.sha256(os.pread(fd, size, 0)).hexdigest()
    os.close(fd)
    if h1 != h2:
        bad.append("mmap and pread differ: " + rel)
if bad:
    print("differ on node 2:", ", ".join(bad), file=sys.stderr)
    sys.exit(1)
PYEOF
}
check "node 2: torch.load (zip, legacy, weights_only), safetensors by mmap, the memmap: exact" loads_on_2
agree() { cl_wait_converged && expect_status 0 "$ADMIN_BIN" fsck "$M1"; }
check "trees agree; fsck on node 1 is clean" agree

cl_done
