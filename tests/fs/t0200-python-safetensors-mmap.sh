#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# numpy memmap(mode='r') over a safetensors-layout file (8-byte header
# length, JSON header, raw little-endian tensors) written through the mount:
# every tensor read through the shared mapping equals the values it was built
# from, in file order and in reverse order, warm and after a remount.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init
"$PY" -c 'import numpy' 2>/dev/null || skip_all "$PY has no numpy"

M=$WORK/mnt
D=$WORK/data

cat >"$WORK/st.py" <<'PYEOF'
import json, struct, sys
import numpy as np

DT = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "U8": np.uint8}


def tensors():
    rng = np.random.default_rng(1234)
    return {
        "model.embed_tokens.weight": rng.standard_normal((4096, 1024), dtype=np.float32),
        "model.layers.0.self_attn.q_proj.weight": rng.standard_normal((2048, 2048)).astype(np.float16),
        "model.layers.0.input_layernorm.bias": rng.standard_normal(3001).astype(np.float32),
        "position_ids": rng.integers(-2**40, 2**40, size=(777, 13), dtype=np.int64),
        "mask": rng.integers(0, 255, size=12345, dtype=np.uint8),
        "lm_head.weight": rng.standard_normal((1000, 4099), dtype=np.float32),
    }


def write(path):
    t = tensors()
    names = {v: k for k, v in DT.items()}
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for name, a in t.items():
        header[name] = {"dtype": names[a.dtype.type], "shape": list(a.shape),
                        "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for a in t.values():
            f.write(a.astype(a.dtype.newbyteorder("<")).tobytes())


def verify(path, reverse):
    m = np.memmap(path, mode="r", dtype=np.uint8)
    n = int(np.frombuffer(m[:8], dtype="<u8")[0])
    header = json.loads(bytes(m[8:8 + n]))
    want = tensors()
    names = [k for k in header if k != "__metadata__"]
    if sorted(names) != sorted(want):
        print("tensor names differ:", names)
        return 1
    bad = 0
    for name in (reversed(names) if reverse else names):
        e = header[name]
        start, end = e["data_offsets"]
        dt = np.dtype(DT[e["dtype"]]).newbyteorder("<")
        a = np.ndarray(tuple(e["shape"]), dtype=dt, buffer=m, offset=8 + n + start)
        if a.nbytes != end - start or not np.array_equal(a, want[name]):
            print("tensor %s differs" % name)
            bad = 1
    return bad


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2])
    else:
        sys.exit(verify(sys.argv[2], sys.argv[1] == "reverse"))
PYEOF

check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"
check "numpy writes a safetensors-layout file into the mount" "$PY" "$WORK/st.py" write "$M/model.safetensors"
same_as_local() {
	"$PY" "$WORK/st.py" write "$WORK/local.safetensors" &&
	expect_sha "$M/model.safetensors" "$(file_sha "$WORK/local.safetensors")"
}
check "the same file written locally has the same bytes" same_as_local
check "memmap(mode='r'): every tensor equals its values" "$PY" "$WORK/st.py" forward "$M/model.safetensors"
check "umount, mount" mfs_remount "$M"
check "after remount, tensors read in reverse order through memmap are equal" \
	"$PY" "$WORK/st.py" reverse "$M/model.safetensors"

mfs_done
