"""Distributed training: ``torchrun --nproc_per_node=2`` on CPU (gloo) against one process with the same global batch.

The stand-in method is made deterministic (no masking, dropout or jitter), so the only difference between the runs is
how the global batch of 8 is split: 2 processes x 4 clips with all-reduced gradients must train the same weights as
1 process x 8 clips (up to float summation order).
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import train_standins as standins

from skelrec.config import load_config
from skelrec.train import train

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow  # torchrun starts two processes
TESTS = Path(__file__).resolve().parent
TINY = ROOT / "pretrain" / "configs" / "test" / "tiny.yaml"
DETERMINISTIC = [
    "method.name=test_recon",
    "method.kwargs={mask_ratio: 0.0, dropout: 0.0, jitter: false}",
    "encoder.name=test_tiny",
    "encoder.kwargs={}",
    "optim.epochs=2",
    "optim.batch_size=8",
    "run.log_every=5",
]


def test_torchrun_two_processes_train_like_one(tmp_path):
    report, run = tmp_path / "report", tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(TESTS / "train_standins.py"),
        str(TINY),
        str(report),
        *DETERMINISTIC,
        f"run.out_dir={run}",
    ]
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{TESTS}", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [torch.load(report / f"rank{r}.pt", weights_only=True) for r in range(2)]
    assert [r["step"] for r in ranks] == [10, 10]  # 40 clips / global batch 8 = 5 steps per epoch, 2 epochs

    # each epoch is split into disjoint shards that together cover the data
    for epoch in range(2):
        shards = [set(r["seen"][epoch * 20 : (epoch + 1) * 20]) for r in ranks]
        assert len(shards[0]) == len(shards[1]) == 20
        assert not shards[0] & shards[1] and shards[0] | shards[1] == set(range(40))

    # gradients were all-reduced: both processes hold the same weights ...
    for key, value in ranks[0]["state"].items():
        assert torch.equal(value, ranks[1]["state"][key]), key
    # ... which equal those of one process taking the same global batches
    single = train(
        load_config(TINY, [*DETERMINISTIC, f"run.out_dir={tmp_path / 'single'}"]), prepared=standins.MemoryPrepared()
    )
    initial = standins.TinyEncoder(standins.TinyConfig()).state_dict()
    for key, value in single.method.state_dict().items():
        assert torch.allclose(ranks[0]["state"][key], value, rtol=1e-4, atol=1e-6), key
    assert not torch.allclose(ranks[0]["state"]["encoder.embed.weight"], initial["embed.weight"])

    # only rank 0 wrote the run folder; its logged loss is the mean over both processes
    assert (run / "encoder" / "model.safetensors").is_file() and (run / "checkpoints" / "step_000000010.pt").is_file()
    with open(run / "metrics.csv", newline="") as f:
        ddp_rows = list(csv.DictReader(f))
    with open(tmp_path / "single" / "metrics.csv", newline="") as f:
        single_rows = list(csv.DictReader(f))
    assert [r["step"] for r in ddp_rows] == [r["step"] for r in single_rows] == ["5", "10"]
    for a, b in zip(ddp_rows, single_rows, strict=True):
        assert float(a["loss"]) == pytest.approx(float(b["loss"]), rel=1e-4)
