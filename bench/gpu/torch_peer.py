#!/usr/bin/env python3
"""The PyTorch peer of bench/run-gpu.sh: the same 10-class softmax head on the same rows as Joule's
GPU bench (GpuBench --write-rows), doing the same work per batch: host batches in page-locked
memory copied to the GPU, the head, softmax, probabilities copied back, on 4 CUDA streams so that
copies overlap compute. Energy is NVML's board counter (pynvml) around each steady window, with the
idle draw measured first. Prints one JSON object: {"int8": {...}, "bf16": {...}, "fp32": {...}}.

Usage: torch_peer.py ROWS_FILE --rows N --dim D --classes C [--batch-rows B] [--seconds S]
"""
import argparse
import json
import sys
import time

import numpy as np
import torch

try:
    import pynvml
except ImportError:  # energy then reads "not measured"
    pynvml = None


def energy_reader():
    if pynvml is None:
        return None
    try:
        pynvml.nvmlInit()
        # The GPU torch uses, by PCI bus id: NVML's indices need not be CUDA's.
        try:
            p = torch.cuda.get_device_properties(0)
            h = pynvml.nvmlDeviceGetHandleByPciBusId("%08x:%02x:%02x.0" % (p.pci_domain_id, p.pci_bus_id, p.pci_device_id))
        except (AttributeError, pynvml.NVMLError):
            h = pynvml.nvmlDeviceGetHandleByIndex(0)
        pynvml.nvmlDeviceGetTotalEnergyConsumption(h)
        return lambda: pynvml.nvmlDeviceGetTotalEnergyConsumption(h) / 1000.0
    except Exception as e:  # noqa: BLE001 - say why and go on without energy
        print("torch peer: NVML unavailable: %s" % e, file=sys.stderr)
        return None


def window(step, batches, seconds, read_j, idle_w, rows_per_batch):
    for i in range(min(8, len(batches))):
        step(i)
    torch.cuda.synchronize()
    j0 = read_j() if read_j else None
    t0 = time.perf_counter()
    rows = 0
    i = 0
    while True:
        step(i % len(batches))
        rows += rows_per_batch[i % len(batches)]
        i += 1
        if i % 4 == 0:
            torch.cuda.synchronize()
            if time.perf_counter() - t0 >= seconds and i >= len(batches):
                break
    torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    out = {"rows_per_s": rows / wall, "torch": torch.__version__, "rows": rows, "seconds": wall}
    if read_j:
        j = read_j() - j0
        out["j_per_1m"] = j / rows * 1e6
        out["j_per_1m_above_idle"] = max(0.0, j - idle_w * wall) / rows * 1e6
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("rows_file")
    p.add_argument("--rows", type=int, required=True)
    p.add_argument("--dim", type=int, required=True)
    p.add_argument("--classes", type=int, required=True)
    p.add_argument("--batch-rows", type=int, default=8192)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--idle-seconds", type=float, default=3.0)
    a = p.parse_args()
    raw = np.fromfile(a.rows_file, dtype="<f4")
    n, d, c = a.rows, a.dim, a.classes
    x = raw[: n * d].reshape(n, d)
    w = raw[n * d: n * d + c * d].reshape(c, d)
    b = raw[n * d + c * d: n * d + c * d + c]
    dev = torch.device("cuda")
    read_j = energy_reader()
    idle_w = 0.0
    if read_j and a.idle_seconds > 0:
        torch.cuda.synchronize()
        j0, t0 = read_j(), time.perf_counter()
        time.sleep(a.idle_seconds)
        idle_w = (read_j() - j0) / (time.perf_counter() - t0)
    streams = [torch.cuda.Stream() for _ in range(4)]
    starts = list(range(0, n, a.batch_rows))
    sizes = [min(a.batch_rows, n - s) for s in starts]
    bias = torch.from_numpy(b).to(dev)

    # int8: rows and weights quantized per row / per class (symmetric, as Joule's per-channel head),
    # before the window; torch._int_mm needs columns in multiples of 8, so the head is padded.
    xs = np.maximum(np.abs(x).max(axis=1), 1e-30) / 127.0
    xq = np.clip(np.rint(x / xs[:, None]), -127, 127).astype(np.int8)
    ws = np.maximum(np.abs(w).max(axis=1), 1e-30) / 127.0
    wq = np.clip(np.rint(w / ws[:, None]), -127, 127).astype(np.int8)
    cp = (c + 7) // 8 * 8
    wq_pad = np.zeros((cp, d), dtype=np.int8)
    wq_pad[:c] = wq
    w8 = torch.from_numpy(wq_pad).to(dev).t().contiguous()  # [d, cp]
    ws_t = torch.from_numpy(ws.astype(np.float32)).to(dev)
    # torch._int_mm needs more than 16 rows: a short last batch is padded with zero rows.
    h8 = [torch.from_numpy(np.pad(xq[s:s + k], ((0, max(0, 32 - k)), (0, 0)))).pin_memory()
          for s, k in zip(starts, sizes)]
    hs = [torch.from_numpy(xs[s:s + k].astype(np.float32)).pin_memory() for s, k in zip(starts, sizes)]
    outs = [torch.empty((a.batch_rows, c), dtype=torch.float32).pin_memory() for _ in streams]

    def step8(i):
        s = streams[i % 4]
        with torch.cuda.stream(s):
            q = h8[i].to(dev, non_blocking=True)
            sc = hs[i].to(dev, non_blocking=True)
            dots = torch._int_mm(q, w8)[: sc.shape[0], :c].float()
            probs = torch.softmax(dots * (sc[:, None] * ws_t[None, :]) + bias, dim=1)
            outs[i % 4][: probs.shape[0]].copy_(probs, non_blocking=True)

    h32 = [torch.from_numpy(x[s:s + k]).pin_memory() for s, k in zip(starts, sizes)]
    w32 = torch.from_numpy(w).to(dev)

    def step32(i):
        s = streams[i % 4]
        with torch.cuda.stream(s):
            r = h32[i].to(dev, non_blocking=True)
            probs = torch.softmax(r @ w32.t() + bias, dim=1)
            outs[i % 4][: r.shape[0]].copy_(probs, non_blocking=True)

    h16 = [t.to(torch.bfloat16).pin_memory() for t in h32]
    w16 = w32.to(torch.bfloat16)

    def step16(i):
        s = streams[i % 4]
        with torch.cuda.stream(s):
            r = h16[i].to(dev, non_blocking=True)
            probs = torch.softmax((r @ w16.t()).float() + bias, dim=1)
            outs[i % 4][: r.shape[0]].copy_(probs, non_blocking=True)

    resident = torch.from_numpy(x).to(dev).to(torch.bfloat16)

    def step16_resident(i):
        r = resident[starts[i]: starts[i] + sizes[i]]
        torch.softmax((r @ w16.t()).float() + bias, dim=1)

    torch.cuda.synchronize()  # weights and bias made on the default stream, used on the side streams
    result = {"idle_w": idle_w, "device": torch.cuda.get_device_name(0)}
    for name, step, note in (("int8", step8, "torch._int_mm, head padded to %d columns" % cp),
                             ("bf16", step16, "bf16 rows copied, bf16 matmul"),
                             ("fp32", step32, "fp32 matmul (TF32 %s)" % ("on" if torch.backends.cuda.matmul.allow_tf32 else "off")),
                             ("bf16, rows resident in GPU memory", step16_resident, "no copies: the issue's figure's setting")):
        r = window(step, starts, a.seconds, read_j, idle_w, sizes)
        r["note"] = note
        result[name] = r
    print(json.dumps(result))


if __name__ == "__main__":
    main()
