#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Quick start on a fresh Debian 12 machine (run as root): installs what is
# needed, builds modelfs, mounts a single node on /models with the built-in
# defaults (store in /var/lib/modelfs), writes a model through the mount with
# numpy (safetensors layout), reads it back and checks it, and shows status.
# mount.modelfs and modelfs-admin are installed under /usr/local (make install).
# The mount stays up: `umount /models` stops it.
set -eu
cd "$(dirname "$0")/.."
MNT=${MNT:-/models}
bash packaging/install-deps.sh
if [ ! -x mount.modelfs ] || [ ! -x modelfs-admin ]; then
	./autogen.sh >/dev/null && ./configure >/dev/null && make -j"$(nproc)" >/dev/null
fi
# On PATH afterwards: mount.modelfs in /usr/local/sbin, modelfs-admin in
# /usr/local/bin, man pages.  /sbin is left to the operator (or the .deb):
# a foreign /sbin/mount.modelfs would also make the suite skip its mount
# helper and package tests.
make install >/dev/null
echo "installed: /usr/local/sbin/mount.modelfs, /usr/local/bin/modelfs-admin, man pages"
echo "  (for mount -t modelfs and fstab: ln -s /usr/local/sbin/mount.modelfs /sbin/mount.modelfs)"
mkdir -p "$MNT"
# A modelfs mount there already serves; a dead one (killed daemon) is cleared.
mountpoint -q "$MNT" || /usr/local/sbin/mount.modelfs "$MNT"
echo "mounted: $(mount | grep " $MNT ")"

/usr/bin/python3 - "$MNT" <<'PY'
import hashlib, json, os, struct, sys
import numpy as np
mnt = sys.argv[1]
rng = np.random.default_rng(0)
tensors = {f"layer{i}.weight": rng.standard_normal((1024, 1024)).astype(np.float16) for i in range(8)}
header, off = {}, 0
for name, t in tensors.items():
    header[name] = {"dtype": "F16", "shape": list(t.shape), "data_offsets": [off, off + t.nbytes]}
    off += t.nbytes
h = json.dumps(header).encode()
h += b" " * (-len(h) % 8)
path = os.path.join(mnt, "demo", "model.safetensors")
os.makedirs(os.path.dirname(path), exist_ok=True)
with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h)
    for t in tensors.values():
        f.write(t.tobytes())
m = np.memmap(path, dtype=np.uint8, mode="r")           # how loaders open weights
n = struct.unpack("<Q", bytes(m[:8]))[0]
meta = json.loads(bytes(m[8:8 + n]))
base = 8 + n
ok = all(np.array_equal(np.frombuffer(m[base + v["data_offsets"][0]:base + v["data_offsets"][1]],
                                      dtype=np.float16).reshape(v["shape"]), tensors[k])
         for k, v in meta.items())
print(f"wrote {path} ({os.path.getsize(path) >> 20} MiB); read back through mmap: "
      + ("identical" if ok else "MISMATCH"))
sys.exit(0 if ok else 1)
PY
/usr/local/bin/modelfs-admin status "$MNT"
echo "modelfs is mounted on $MNT; stop it with: umount $MNT"
