#!/usr/bin/python3
# Builds a safetensors-layout model file of FP16 tensors whose every value is a
# real trained weight, for the dedup and read benchmarks:
#   8-byte little-endian header length, JSON header (dtype/shape/data_offsets
#   per tensor, "__metadata__"), padded with spaces to a multiple of 8, then the
#   tensor data back to back.
# Each tensor (8-32 MiB) is a run of the real weights pool (the fp32 pool
# written by extract_weights.py, plus the natively-fp16 pool upcast), cycled
# from its own start offset, times a distinct per-tensor scale in float32, then
# cast to float16; every wrap of the pool within a tensor gets a slightly
# different scale too, so no two tensors, and no two runs inside a tensor, are
# byte-identical.  A variant (--variant K, K >= 1) has the same tensors but a
# deterministic 10% of them rescaled, and a header a few bytes longer (one more
# metadata key).  Output is a pure function of the pool, --size-mib and --seed.
# Run with /usr/bin/python3 (needs numpy):
#   make_model.py --pool DIR --out FILE [--size-mib 512] [--seed 1] [--variant K]
# SPDX-License-Identifier: Apache-2.0

import argparse
import json
import os
import sys

import numpy as np

MIB = 1 << 20
COLS = 4096  # tensors are [rows, 4096] fp16, so sizes are multiples of 8 KiB


def load_pool(pool_dir):
    parts = [np.fromfile(os.path.join(pool_dir, "weights-fp32.bin"), dtype="<f4")]
    native = os.path.join(pool_dir, "weights-fp16-native.bin")
    if os.path.exists(native):
        parts.append(np.fromfile(native, dtype="<f2").astype("<f4"))
    pool = np.concatenate(parts)
    pool = pool[np.isfinite(pool)]
    if pool.size < 1 << 20:
        raise SystemExit("make_model: weights pool too small (%d values)" % pool.size)
    return pool


def plan(size_bytes, seed):
    """Tensor sizes in bytes: 8-32 MiB each, multiples of COLS*2, summing to
    about size_bytes.  Also each tensor's start offset (a fraction) and scale."""
    rng = np.random.default_rng(seed)
    row = COLS * 2
    sizes = []
    total = 0
    while total < size_bytes:
        n = int(rng.integers(8 * MIB // row, 32 * MIB // row + 1)) * row
        left = size_bytes - total
        if left < n:
            if left >= 8 * MIB or not sizes:
                n = max(row, left // row * row)
            else:  # fold a short tail into the previous tensor
                sizes[-1] += max(row, left // row * row)
                break
        sizes.append(n)
        total += n
    starts = rng.random(len(sizes))
    # distinct scales, none a power of two (that would only shift exponents)
    scales = 0.55 + 0.9 * rng.random(len(sizes))
    return sizes, starts, scales


def tensor_values(pool, nvals, start_frac, scale):
    p = pool.size
    start = int(start_frac * p)
    idx = (start + np.arange(nvals, dtype=np.int64))
    wraps = idx // p
    vals = pool[idx % p]
    factors = np.float32(scale) * (np.float32(1.0) + np.float32(0.0173) * wraps.astype(np.float32))
    with np.errstate(over="ignore"):
        out = (vals * factors).astype("<f2")
    # keep every value finite: an overflowed value is replaced by the largest
    # finite fp16 of the same sign (only possible for scales > 1 on huge weights)
    bad = ~np.isfinite(out)
    if bad.any():
        out[bad] = np.where(vals[bad] > 0, np.float16(65504), np.float16(-65504))
    return out


def main():
    ap = argparse.ArgumentParser(
        description="Builds a safetensors-layout FP16 model from real trained weights.")
    ap.add_argument("--pool", required=True, help="directory written by extract_weights.py")
    ap.add_argument("--out", required=True)
    ap.add_argument("--size-mib", type=int, default=512)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--variant", type=int, default=0, help="0 = base model, K >= 1 = variant K")
    ap.add_argument("--change-pct", type=int, default=10)
    a = ap.parse_args()

    pool = load_pool(a.pool)
    sizes, starts, scales = plan(a.size_mib * MIB, a.seed)
    changed = set()
    if a.variant > 0:
        vr = np.random.default_rng([a.seed, a.variant])
        # whole tensors, in a seeded order, as close to change_pct of the
        # bytes as whole tensors allow: take those that still fit, then the
        # one remaining tensor that lands nearest the target
        want = sum(sizes) * a.change_pct / 100
        got = 0
        order = [int(i) for i in vr.permutation(len(sizes))]
        for i in order:
            if got + sizes[i] <= want:
                changed.add(i)
                got += sizes[i]
        rest = [i for i in order if i not in changed]
        if rest:
            best = min(rest, key=lambda i: abs(got + sizes[i] - want))
            if abs(got + sizes[best] - want) < want - got or not changed:
                changed.add(best)
        for i in changed:  # a fine-tune: the same tensor, rescaled by 1-3%
            scales[i] *= 1.0 + 0.01 * (1 + (a.variant + i) % 3)

    header = {"__metadata__": {"format": "pt", "source": "modelfs bench, real trained weights"}}
    if a.variant > 0:
        header["__metadata__"]["variant"] = str(a.variant)
    off = 0
    for i, n in enumerate(sizes):
        header["layers.%03d.weight" % i] = {
            "dtype": "F16", "shape": [n // (COLS * 2), COLS], "data_offsets": [off, off + n]}
        off += n
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * (-len(hj) % 8)

    tmp = a.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(len(hj).to_bytes(8, "little"))
        f.write(hj)
        for i, n in enumerate(sizes):
            tensor_values(pool, n // 2, starts[i], scales[i]).tofile(f)
    os.replace(tmp, a.out)
    print("make_model: %s: %d tensors, %.1f MiB, header %d bytes%s" % (
        a.out, len(sizes), (8 + len(hj) + off) / MIB, len(hj),
        ", changed tensors %s (%.1f%% of the bytes)" % (
            sorted(changed), 100.0 * sum(sizes[i] for i in changed) / off) if changed else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
