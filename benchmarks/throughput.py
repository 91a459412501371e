"""Pretraining throughput of every method at its NTU-60 paper config: samples/s of a full training step (forward,
backward, AdamW step, the method's end-of-step hook) and peak memory, on this machine's CPU (or CUDA when present).

    python benchmarks/throughput.py                         # all methods, writes benchmarks/results/throughput.json
    python benchmarks/throughput.py --methods macdiff --batch 8 --steps 5

Input: random skeleton batches of the paper shape (N, 2 persons, T, 25 joints, 3): the timing does not depend on the
values. Each method runs in its own subprocess so its peak memory (RSS; CUDA: max allocated) is its own.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.machine import machine  # noqa: E402
from skelrec.files import atomic_write_text  # noqa: E402

RESULT = ROOT / "benchmarks" / "results" / "throughput.json"
CONFIGS = {  # method -> its NTU-60 xsub paper config
    "mamp": "pretrain/configs/mamp/ntu60_xsub.yaml",
    "macdiff": "pretrain/configs/macdiff/ntu60_xsub.yaml",
    "skeleton2vec": "pretrain/configs/skeleton2vec/ntu60_xsub.yaml",
    "skeletonmae": "pretrain/configs/skeletonmae/ntu60_xsub.yaml",
    "halp": "pretrain/configs/halp/ntu60_xsub.yaml",
    "halp_transformer": "pretrain/configs/halp/ntu60_xsub_transformer.yaml",
}


def measure(method: str, batch: int, steps: int, warmup: int) -> dict:
    """Time ``steps`` training steps of ``method`` (after ``warmup`` untimed ones) in this process."""
    import torch

    from skelrec.config import load_config
    from skelrec.ssl import InputSpec, build_encoder_for, build_method

    cfg = load_config(ROOT / CONFIGS[method])
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    spec = InputSpec("ntu25", cfg.data.clip_length, cfg.data.persons, cfg.data.channels)
    encoder = build_encoder_for(spec, cfg.encoder.name, **cfg.encoder.kwargs)
    model = build_method(cfg.method.name, encoder, spec, **cfg.method.kwargs).to(device).train()
    opt = torch.optim.AdamW(model.param_groups(cfg.optim), lr=cfg.optim.lr, betas=cfg.optim.betas)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, spec.persons, spec.frames, spec.joints, spec.channels, generator=gen).to(device)
    batch_dict = {
        "x": x * 0.3,
        "mask": torch.ones(batch, spec.persons, spec.frames, dtype=torch.bool, device=device),
        "label": torch.full((batch,), -1, dtype=torch.long, device=device),
        "index": torch.arange(batch, device=device),
    }
    step = 0

    def one_step() -> None:
        nonlocal step
        out = model(batch_dict)
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
        step += 1
        model.on_step_end(step)

    for _ in range(warmup):
        one_step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        one_step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = (
        torch.cuda.max_memory_allocated() / 2**20
        if device.type == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {
        "config": CONFIGS[method],
        "encoder": cfg.encoder.name,
        "input": [batch, spec.persons, spec.frames, spec.joints, spec.channels],
        "trainable_parameters": params,
        "batch": batch,
        "steps": steps,
        "samples_per_s": round(batch * steps / seconds, 2),
        "seconds_per_step": round(seconds / steps, 3),
        "peak_memory_mb": round(peak, 1),
        "device": device.type,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="*", default=list(CONFIGS))
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.batch, args.steps, args.warmup)))
        return
    results = {}
    load_start = os.getloadavg()
    for method in args.methods:
        cmd = [
            sys.executable,
            __file__,
            "--child",
            method,
            "--batch",
            str(args.batch),
            "--steps",
            str(args.steps),
            "--warmup",
            str(args.warmup),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if proc.returncode:
            results[method] = {"error": proc.stderr.strip().splitlines()[-1]}
        else:
            results[method] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(method, results[method], flush=True)
    out = {
        "benchmark": "throughput",
        "command": "python benchmarks/throughput.py " + " ".join(sys.argv[1:]),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "load": {"loadavg_start": load_start, "loadavg_end": os.getloadavg()},
        "note": "one full training step (forward, backward, AdamW, end-of-step hook) at the NTU-60 paper config; "
        "random input of the paper shape; fp32",
        "methods": results,
    }
    atomic_write_text(RESULT, json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
