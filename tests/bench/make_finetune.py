#!/usr/bin/python3
# Builds a base model and a real fine-tune of it, for the delta benchmarks and
# tests (store/chunk/delta.c):
#   base: a safetensors file of NLAYERS [ROWS, COLS] weight matrices plus a
#     bias each, every value a real trained weight from the pool
#     (extract_weights.py: the fp32 pool, then the natively-fp16 pool upcast),
#     taken in pool order;
#   tune: the same tensors after STEPS steps of Adam (lr --lr) on a real loss:
#     a residual MLP h <- h + tanh(h W^T + b) / sqrt(layers) over the base
#     weights, fed rows of the pool itself as inputs, trained to map each row
#     to the next row of the pool (MSE).  Every parameter gets a gradient, so
#     Adam moves every value of every tensor (by about lr each step), as a
#     full fine-tune does.
# --dtype f32|f16|bf16 casts both files the same way after training (the
# training runs in fp32 from the base's values as stored in that dtype).
# Without the pool's files, a synthetic Gaussian base stands in (tests only:
# the benchmarks' figures always come from the real pool).
# Output is a pure function of the pool and the arguments (torch's CPU
# kernels are deterministic with one thread).  Run with /usr/bin/python3:
#   make_finetune.py --pool DIR --base OUT --tune OUT [--dtype f32] [--lr 1e-5]
#                    [--steps 3] [--layers N]
# SPDX-License-Identifier: Apache-2.0

import argparse
import json
import os

import numpy as np
import torch

ROWS = COLS = 512
DT = {"f32": (torch.float32, "F32"), "f16": (torch.float16, "F16"),
      "bf16": (torch.bfloat16, "BF16")}


def synthetic_pool(n):
    # Without the pool (a fresh CI machine has no npm): Gaussian values at a
    # 1/sqrt(fan-in) scale, as an untrained layer starts.  Enough for the
    # tests' round trips and corruption cases; never for a figure.
    g = np.random.default_rng(7)
    return (g.standard_normal(n) / np.sqrt(COLS)).astype("<f4")


def load_pool(pool_dir, layers):
    fp32 = os.path.join(pool_dir, "weights-fp32.bin")
    if not os.path.exists(fp32):
        if not layers:
            raise SystemExit("make_finetune: no %s, and --layers 0 needs it" % fp32)
        print("make_finetune: no weights pool in %s: synthetic Gaussian base (tests only)" % pool_dir)
        return synthetic_pool(layers * (ROWS * COLS + ROWS) + 65 * COLS)
    parts = [np.fromfile(fp32, dtype="<f4")]
    native = os.path.join(pool_dir, "weights-fp16-native.bin")
    if os.path.exists(native):
        parts.append(np.fromfile(native, dtype="<f2").astype("<f4"))
    pool = np.concatenate(parts)
    return pool[np.isfinite(pool) & (np.abs(pool) < 1e3)]


def write_safetensors(path, tensors, dtname):
    header = {"__metadata__": {"format": "pt"}}
    blobs, off = [], 0
    for name, t in tensors:
        b = t.contiguous().view(torch.uint8).numpy().tobytes() if t.dtype == torch.bfloat16 \
            else t.contiguous().numpy().tobytes()
        header[name] = {"dtype": dtname, "shape": list(t.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * (-len(hj) % 8)
    with open(path, "wb") as f:
        f.write(len(hj).to_bytes(8, "little"))
        f.write(hj)
        for b in blobs:
            f.write(b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pool", required=True)
    ap.add_argument("--base", required=True)
    ap.add_argument("--tune", required=True)
    ap.add_argument("--dtype", default="f32", choices=sorted(DT))
    ap.add_argument("--lr", type=float, default=1e-5)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--layers", type=int, default=0, help="0: as many as the pool fills")
    a = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    tdt, dtname = DT[a.dtype]
    pool = load_pool(a.pool, a.layers)
    per = ROWS * COLS + ROWS
    n = a.layers or pool.size // per
    vals = torch.from_numpy(pool[:n * per].copy()).to(tdt).float()  # the base as stored
    ws, bs = [], []
    for i in range(n):
        chunk = vals[i * per:(i + 1) * per]
        ws.append(torch.nn.Parameter(chunk[:ROWS * COLS].view(ROWS, COLS).clone()))
        bs.append(torch.nn.Parameter(chunk[ROWS * COLS:].clone()))
    base = [(f"layers.{i:03d}.weight", ws[i].detach().to(tdt).clone()) for i in range(n)] + \
           [(f"layers.{i:03d}.bias", bs[i].detach().to(tdt).clone()) for i in range(n)]
    write_safetensors(a.base, base, dtname)
    opt = torch.optim.Adam(ws + bs, lr=a.lr)
    rows = torch.from_numpy(pool[:(65 * COLS)].copy()).view(65, COLS)
    x, y = rows[:64], rows[1:65]
    for step in range(a.steps):
        h = x
        for i in range(n):
            h = h + torch.tanh(h @ ws[i].t() + bs[i]) / (n ** 0.5)
        loss = torch.nn.functional.mse_loss(h, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        print("make_finetune: step %d loss %.6f" % (step, loss.item()))
    tune = [(f"layers.{i:03d}.weight", ws[i].detach().to(tdt)) for i in range(n)] + \
           [(f"layers.{i:03d}.bias", bs[i].detach().to(tdt)) for i in range(n)]
    changed = sum(int((t0.view(-1) != t1.view(-1)).any()) for (_, t0), (_, t1) in zip(base, tune))
    elems = sum(int((t0.view(-1) != t1.view(-1)).sum()) for (_, t0), (_, t1) in zip(base, tune))
    total = sum(t.numel() for _, t in base)
    write_safetensors(a.tune, tune, dtname)
    print("make_finetune: %s %d tensors (%d changed), %.1f%% of values changed, %.1f MiB" % (
        a.dtype, len(base), changed, 100.0 * elems / total, os.path.getsize(a.tune) / 2**20))


if __name__ == "__main__":
    main()
