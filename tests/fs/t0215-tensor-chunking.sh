#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Tensor-aware chunking through a real mount (chunking version 2,
# doc/format.md).  Model files of random (incompressible) tensor bytes, so
# status's chunk_bytes grows by exactly the raw bytes of new chunks:
#  - a safetensors variant with one 300 KiB tensor changed and a header a
#    few bytes longer stores that tensor and the header, nothing of its
#    neighbours (plain content-defined chunks would store 1 MiB or more);
#  - the base written again in other ways (small writes in order, random
#    order with the header last, through mmap), with write-behind on, stores
#    nothing new: the cuts depend on the bytes alone;
#  - a GGUF file with one token more in its metadata stores its header only;
#  - a file whose header says its tensors run past its end is stored whole
#    and reads back;
# and every file reads back byte for byte, also after a remount.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"

M=$WORK/mnt
D=$WORK/data
S=$WORK/src
mkdir -p "$S"
check "mount with write_behind_mb=4" mfs_mount "$M" "$D" write_behind_mb=4 || mfs_abort "no mount"

# models.py DIR: base.safetensors, var.safetensors, lying.safetensors,
# base.gguf, var.gguf; prints "changed_bytes header_bytes gguf_header_bytes".
cat >"$WORK/models.py" <<'PY'
import json, os, random, struct, sys
d = sys.argv[1]
KiB, MiB = 1024, 1 << 20
sizes = [3 * MiB, 100 * KiB, 5 * MiB, 20 * KiB, 20 * KiB, 2 * MiB, 300 * KiB, 4 * MiB,
         64 * KiB, 3 * MiB, 6 * MiB, 2 * KiB]
def blob(seed, n):
    return random.Random(seed).randbytes(n)
def safetensors(path, seeds, pad, nbytes=None):
    h = {"__metadata__": {"format": "pt", "pad": "x" * pad}}
    off = 0
    for i, n in enumerate(sizes):
        h["layers.%02d.weight" % i] = {"dtype": "F16", "shape": [n // 2], "data_offsets": [off, off + n]}
        off += n
    hj = json.dumps(h).encode()
    hj += b" " * (-len(hj) % 8)
    data = b"".join(blob(s, n) for s, n in zip(seeds, sizes))
    out = struct.pack("<Q", len(hj)) + hj + data
    with open(path, "wb") as f:
        f.write(out[:nbytes] if nbytes else out)
    return 8 + len(hj)
def gguf(path, tokens):
    def s(x):
        x = x.encode()
        return struct.pack("<Q", len(x)) + x
    t = [(4 * MiB, 1), (34 * 9000, 8), (1 * MiB, 1), (64 * KiB, 1)]
    b = b"GGUF" + struct.pack("<IQQ", 3, len(t), 3)
    b += s("general.architecture") + struct.pack("<I", 8) + s("llama")
    b += s("general.alignment") + struct.pack("<II", 4, 32)
    b += s("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, tokens)
    b += b"".join(s("tok%d" % i) for i in range(tokens))
    off, offs = 0, []
    for i, (n, ty) in enumerate(t):
        ne = n // 34 * 32 if ty == 8 else n // 2
        b += s("blk.%d.weight" % i) + struct.pack("<IQIQ", 1, ne, ty, off)
        offs.append(off)
        off = (off + n + 31) // 32 * 32
    b += b"\0" * (-len(b) % 32)
    hdr = len(b)
    for i, (n, ty) in enumerate(t):
        b += b"\0" * (hdr + offs[i] - len(b)) + blob(100 + i, n)
    with open(path, "wb") as f:
        f.write(b)
    return hdr
base = list(range(1, len(sizes) + 1))
var = list(base)
var[6] = 99
safetensors(os.path.join(d, "base.safetensors"), base, 10)
h = safetensors(os.path.join(d, "var.safetensors"), var, 17)
safetensors(os.path.join(d, "lying.safetensors"), base, 10, nbytes=20 * MiB)
gguf(os.path.join(d, "base.gguf"), 500)
g = gguf(os.path.join(d, "var.gguf"), 501)
print(sizes[6], h, g)
PY

# chunk_bytes: raw bytes of the distinct chunks the mount's files use.
chunk_bytes() {
	admin status --json "$M" | json_get chunk_bytes
}

read -r changed hdr ghdr < <("$PY" "$WORK/models.py" "$S")
say "changed tensor $changed bytes, variant header $hdr bytes, gguf header $ghdr bytes"

stored_base() {
	cp "$S/base.safetensors" "$M/" &&
	expect_sha "$M/base.safetensors" "$(file_sha "$S/base.safetensors")"
}
check "the base model: stored, reads back" stored_base

variant() {
	local before after
	before=$(chunk_bytes) && cp "$S/var.safetensors" "$M/" && after=$(chunk_bytes) || return 1
	note "variant: $((after - before)) bytes of new chunks"
	[ $((after - before)) -le $((changed + hdr)) ] ||
		{ echo "variant stored $((after - before)) new bytes, want <= $((changed + hdr))" >&2; return 1; }
	expect_sha "$M/var.safetensors" "$(file_sha "$S/var.safetensors")"
}
check "one 300 KiB tensor changed, header grown: only they are stored" variant

# write.py MODE SRC DST: small writes in order, random order with the
# header last, or through a shared mapping.
cat >"$WORK/write.py" <<'PY'
import mmap, os, random, sys
mode, src, dst = sys.argv[1:4]
data = open(src, "rb").read()
fd = os.open(dst, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
if mode == "small":
    for off in range(0, len(data), 4096):
        os.write(fd, data[off:off + 4096])
elif mode == "random":
    hdr = 8 + int.from_bytes(data[:8], "little")
    pieces = list(range(hdr, len(data), 1 << 20))
    random.Random(5).shuffle(pieces)
    for off in pieces:
        os.pwrite(fd, data[off:min(off + (1 << 20), len(data))], off)
    os.pwrite(fd, data[:hdr], 0)
else:
    os.ftruncate(fd, len(data))
    m = mmap.mmap(fd, len(data))
    m[:] = data
    m.flush()
    m.close()
os.close(fd)
PY

rewritten() {
	local mode=$1 before after
	before=$(chunk_bytes) &&
	"$PY" "$WORK/write.py" "$mode" "$S/base.safetensors" "$M/base-$mode.safetensors" &&
	after=$(chunk_bytes) || return 1
	[ "$after" = "$before" ] ||
		{ echo "written $mode: $((after - before)) bytes of new chunks, want none" >&2; return 1; }
	expect_sha "$M/base-$mode.safetensors" "$(file_sha "$S/base.safetensors")"
}
check "the base in 4 KiB writes: no new chunk" rewritten small
check "the base in random order, header last: no new chunk" rewritten random
check "the base through mmap: no new chunk" rewritten mmap

info_chunks() {
	expect_status 0 admin info --json "$M/base.safetensors" "$M/base-random.safetensors" || return 1
	"$PY" -c '
import json, sys
a, b = json.load(open(sys.argv[1]))
if a["chunks"] != b["chunks"] or a["size"] != b["size"]:
    sys.exit("info: %r vs %r" % (a, b))
# 12 tensors, 8 of them large: at least a chunk each, and the header.
if a["chunks"] < 9:
    sys.exit("only %d chunks" % a["chunks"])' "$WORK/.cmd.out"
}
check "info: the same chunk count for both writes of the base" info_chunks

gguf_variant() {
	local before after
	cp "$S/base.gguf" "$M/" && before=$(chunk_bytes) && cp "$S/var.gguf" "$M/" &&
	after=$(chunk_bytes) || return 1
	note "gguf variant: $((after - before)) bytes of new chunks"
	[ $((after - before)) -le "$ghdr" ] ||
		{ echo "gguf variant stored $((after - before)) new bytes, want <= $ghdr" >&2; return 1; }
	expect_sha "$M/base.gguf" "$(file_sha "$S/base.gguf")" &&
	expect_sha "$M/var.gguf" "$(file_sha "$S/var.gguf")"
}
check "gguf with one token more: only its header is stored" gguf_variant

lying() {
	cp "$S/lying.safetensors" "$M/" &&
	"$PY" "$WORK/write.py" random "$S/lying.safetensors" "$M/lying2.safetensors" &&
	expect_sha "$M/lying.safetensors" "$(file_sha "$S/lying.safetensors")" &&
	expect_sha "$M/lying2.safetensors" "$(file_sha "$S/lying.safetensors")"
}
check "a header whose tensors run past the end: stored, reads back" lying

remounted() {
	local f
	mfs_remount "$M" || return 1
	for f in base var lying; do
		expect_sha "$M/$f.safetensors" "$(file_sha "$S/$f.safetensors")" || return 1
	done
	for f in small random mmap; do
		expect_sha "$M/base-$f.safetensors" "$(file_sha "$S/base.safetensors")" || return 1
	done
	expect_sha "$M/var.gguf" "$(file_sha "$S/var.gguf")" &&
	expect_status 0 admin fsck "$M"
}
check "after a remount every file reads back, fsck clean" remounted

mfs_done
