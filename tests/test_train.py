"""The training loop (skelrec.train), the torch data pipeline and the Method interface, on tiny stand-ins.

The stand-ins (tests/train_standins.py): an in-memory dataset of random-walk skeletons, a per-joint linear encoder
and a method whose loss uses torch, NumPy and Python randomness, so exact resumption needs every RNG restored.
"""

from __future__ import annotations

import csv
import itertools
import logging
import math
import os
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import torch
import train_standins as standins
from safetensors.torch import load_file
from torch import Tensor

from skelrec.checkpoint import load_model
from skelrec.config import AugmentConfig, DataConfig, OptimConfig, TrainConfig, load_config, section_from_dict
from skelrec.datasets.base import Sample
from skelrec.datasets.torch_data import ConcatPrepared, EpochBatchSampler, build_dataset, build_loader
from skelrec.datasets.transforms import build_transform
from skelrec.errors import SkelrecError
from skelrec.skeleton import convert, get_layout
from skelrec.ssl import METHODS, InputSpec, Method, MethodOptions, build_encoder_for, build_method, register_method
from skelrec.train import Trainer, train
from skelrec.train.distributed import DistEnv
from skelrec.train.metrics import MetricsLog
from skelrec.train.precision import Precision
from skelrec.train.schedule import warmup_cosine

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
TINY = ROOT / "pretrain" / "configs" / "test" / "tiny.yaml"
SPEC = InputSpec("kinect20", frames=16, persons=2, channels=3)


def tiny(out: Path, *overrides: str) -> TrainConfig:
    """The repository's tiny test config on the stand-ins: 40 clips, batch 8 -> 5 steps per epoch."""
    base = ["method.name=test_recon", "encoder.name=test_tiny", "encoder.kwargs={}", f"run.out_dir={out}"]
    return load_config(TINY, [*base, *overrides])


def assert_same_weights(a: dict[str, Tensor], b: dict[str, Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key].cpu(), b[key].cpu()), f"{key} differs"


def metrics(run: Path) -> list[dict[str, str]]:
    with open(run / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


# ----------------------------------------------------------------------------------------------------------------
# Schedule, sampler, dataset.
# ----------------------------------------------------------------------------------------------------------------


def test_warmup_cosine():
    f = warmup_cosine(total_steps=100, warmup_steps=10, min_ratio=0.1)
    assert f(0) == 0.0 and f(5) == 0.5 and f(10) == 1.0
    assert f(55) == pytest.approx(0.1 + 0.9 * 0.5)
    assert f(100) == pytest.approx(0.1) and f(1000) == pytest.approx(0.1)
    decay = [f(s) for s in range(10, 101)]
    assert all(a > b for a, b in itertools.pairwise(decay))
    assert warmup_cosine(10, 0, 0.0)(0) == 1.0


def test_epoch_batch_sampler_shards_orders_and_resumes():
    single = EpochBatchSampler(23, 4, seed=3)
    single.set_epoch(2)
    full = list(single)
    assert len(full) == len(single) == 5 and all(len(b) == 4 for b in full)
    assert all(epoch == 2 for b in full for _, epoch in b)
    ranks = [EpochBatchSampler(23, 2, seed=3, rank=r, world_size=2) for r in range(2)]
    for s in ranks:
        s.set_epoch(2)
    r0, r1 = (list(s) for s in ranks)
    assert len(r0) == len(r1) == 5
    assert not {i for b in r0 for i, _ in b} & {i for b in r1 for i, _ in b}  # disjoint shards
    for k in range(5):  # both processes' k-th batches together = the single process's k-th batch (same global size)
        assert sorted(r0[k] + r1[k]) == sorted(full[k])
    single.set_epoch(3)
    assert list(single) != full
    single.set_epoch(2)
    assert list(single) == full
    single.set_epoch(2, start_batch=3)
    assert len(single) == 2 and list(single) == full[3:]


def test_dataset_items_and_per_clip_augmentation_seeds():
    data = DataConfig(layout="kinect20", clip_length=16, persons=2, augment=AugmentConfig(crop_min_frames=8))
    ds = build_dataset(data, train=True, seed=5, prepared=standins.MemoryPrepared(6))
    item = ds[(3, 1)]
    assert item["x"].shape == (2, 16, 20, 3) and item["x"].dtype == torch.float32
    assert item["mask"].shape == (2, 16) and item["mask"].dtype == torch.bool
    assert item["label"].item() == 0 and item["label"].dtype == torch.int64 and item["index"].item() == 3
    assert item["mask"][0].all() and not item["mask"][1].any() and not item["x"][1].any()  # clip 3 has one person
    assert torch.equal(ds[(3, 1)]["x"], item["x"])
    assert not torch.equal(ds[(3, 2)]["x"], item["x"])  # another epoch, another augmentation
    evaluation = build_dataset(data, train=False, prepared=standins.MemoryPrepared(6))
    assert torch.equal(evaluation[(3, 1)]["x"], evaluation[(3, 2)]["x"])


def test_loader_is_deterministic_with_workers_and_leaves_global_rng_alone():
    data = DataConfig(layout="kinect20", clip_length=16, persons=2, augment=AugmentConfig(crop_min_frames=8))
    ds = build_dataset(data, train=True, seed=1, prepared=standins.MemoryPrepared(20))

    def batches(workers: int) -> list[dict[str, Tensor]]:
        loader = build_loader(ds, batch_size=4, seed=1, num_workers=workers)
        loader.batch_sampler.set_epoch(1)
        before = torch.get_rng_state()
        out = list(loader)
        assert torch.equal(before, torch.get_rng_state())
        return out

    a, b = batches(0), batches(2)
    assert len(a) == len(b) == 5
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x["index"], y["index"]) and torch.equal(x["x"], y["x"]) and torch.equal(x["mask"], y["mask"])


class Ntu3:
    """Three ntu25 clips of two classes."""

    layout, classes, dataset = "ntu25", ["sit", "stand"], "ntu"

    def __len__(self) -> int:
        return 3

    def __getitem__(self, i: int) -> Sample:
        data = np.random.default_rng(i).normal(size=(1, 5, 25, 3)).astype(np.float32)
        return Sample(data, "ntu25", f"n{i}", "ntu", label=i % 2)


def test_concat_prepared_converts_layouts_and_offsets_labels():
    cat = ConcatPrepared([standins.MemoryPrepared(4), Ntu3()], layout="kinect20")
    assert len(cat) == 7 and cat.layout == "kinect20"
    assert cat.classes == ["memory/wave", "memory/clap", "memory/kick", "ntu/sit", "ntu/stand"]
    assert [cat[i].label for i in range(7)] == [0, 1, 2, 0, 3, 4, 3]
    sample = cat[5]
    assert sample.layout == "kinect20" and sample.data.shape == (1, 5, 20, 3)
    assert np.array_equal(sample.data, convert(Ntu3()[1].data, "ntu25", "kinect20"))
    head_k, head_n = get_layout("kinect20").index("head"), get_layout("ntu25").index("head")
    assert np.array_equal(sample.data[..., head_k, :], Ntu3()[1].data[..., head_n, :])
    same = ConcatPrepared([standins.MemoryPrepared(2), standins.MemoryPrepared(2)])
    assert same.classes == standins.CLASSES and [same[i].label for i in range(4)] == [0, 1, 0, 1]
    with pytest.raises(IndexError):
        cat[7]


# ----------------------------------------------------------------------------------------------------------------
# Method interface.
# ----------------------------------------------------------------------------------------------------------------


def test_build_encoder_for_fills_the_input_fields():
    enc = build_encoder_for(SPEC, "transformer", depth=1, embed_dim=16, num_heads=2)
    assert (enc.config.num_joints, enc.config.num_frames, enc.config.in_channels) == (20, 16, 3)
    assert (
        build_encoder_for(SPEC, "transformer", depth=1, embed_dim=16, num_heads=2, num_frames=32).config.num_frames
        == 32
    )
    assert build_encoder_for(SPEC, "gin", embed_dim=8).config.layout == "kinect20"
    assert build_encoder_for(SPEC, "bigru", hidden_size=8, num_layers=1).config.num_persons == 2


def test_param_groups_and_build_method_errors():
    method = build_method("test_recon", build_encoder_for(SPEC, "test_tiny"), SPEC)
    method.decoder.bias.requires_grad_(False)
    groups = method.param_groups(OptimConfig(weight_decay=0.1))
    names = {id(p): n for n, p in method.named_parameters()}
    decayed, plain = ({names[id(p)] for p in g["params"]} for g in groups)
    assert decayed == {"encoder.embed.weight", "decoder.weight"} and groups[0]["weight_decay"] == 0.1
    assert plain == {"encoder.embed.bias", "encoder.pos_embed"} and groups[1]["weight_decay"] == 0.0
    with pytest.raises(SkelrecError, match=r"^unknown method 'nope'; choose from .*test_recon"):
        build_method("nope", method.encoder, SPEC)
    with pytest.raises(SkelrecError, match=r"^method\.kwargs: method 'test_recon' has no option masking; its options"):
        build_method("test_recon", method.encoder, SPEC, masking=0.3)


@dataclass(frozen=True)
class BrokenOptions(MethodOptions):
    mode: str = "nan"


class Broken(Method):
    """Returns a NaN loss (``mode="nan"``) or no loss (``mode="none"``)."""

    Options = BrokenOptions

    def __init__(self, encoder, spec, **options) -> None:
        super().__init__(encoder, spec, **options)
        self.mode = self.options.mode

    def forward(self, batch):
        value = self.encoder(batch["x"], batch["mask"]).sum()
        return {"loss": value * float("nan")} if self.mode == "nan" else {"value": value}


if "test_broken" not in METHODS:
    register_method("test_broken")(Broken)


# ----------------------------------------------------------------------------------------------------------------
# The loop.
# ----------------------------------------------------------------------------------------------------------------


def test_train_writes_run_folder_and_exports_encoder(tmp_path):
    cfg = tiny(tmp_path / "run", "run.tensorboard=true")
    trainer = Trainer(cfg, DistEnv(0, 1, 0, torch.device("cpu")), standins.MemoryPrepared())
    initial = {k: v.clone() for k, v in trainer.method.state_dict().items()}
    trainer.restore()
    result = trainer.fit()
    run = tmp_path / "run"
    assert result.step == 10 and result.epoch == 2.0 and math.isfinite(result.loss) and result.resumed_from is None
    changed = [k for k, v in result.method.state_dict().items() if not torch.equal(v, initial[k])]
    assert "encoder.embed.weight" in changed and "ema" in changed  # trained, and on_step_end ran
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_000000008.pt", "step_000000010.pt"]

    saved = load_config(run / "config.yaml")
    assert saved == replace(cfg, data=replace(cfg.data, layout="kinect20"))
    rows = metrics(run)
    assert list(rows[0]) == ["step", "epoch", "lr", "loss", "keep", "samples_per_s"]
    assert [int(r["step"]) for r in rows] == [2, 4, 6, 8, 10]
    schedule = warmup_cosine(total_steps=10, warmup_steps=5, min_ratio=0.5)  # 1 warm-up epoch, 5e-4 / 1e-3
    for r in rows:  # the lr a step used is lr * schedule(steps before it)
        assert float(r["lr"]) == pytest.approx(1e-3 * schedule(int(r["step"]) - 1))
    assert float(rows[-1]["epoch"]) == 2.0 and all(float(r["samples_per_s"]) > 0 for r in rows)
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))

    encoder, config = load_model(run / "encoder")
    assert_same_weights(encoder.state_dict(), result.method.encoder.state_dict())
    assert (config.layout, config.clip_length, config.num_persons, config.labels) == (
        "kinect20",
        16,
        2,
        None,
    )
    assert config.normalization == cfg.data.normalization.to_dict()
    assert config.training["steps"] == 10 and config.method["name"] == "test_recon"
    data = section_from_dict(DataConfig, config.data)
    assert data == saved.data
    x, _ = build_transform(data, train=False)(standins.MemoryPrepared(1)[0].data)
    assert x.shape == (2, 16, 20, 3)


def test_resume_from_a_checkpoint_matches_an_uninterrupted_run(tmp_path, caplog):
    full = train(tiny(tmp_path / "a", "optim.epochs=3"), prepared=standins.MemoryPrepared())
    stopped = train(tiny(tmp_path / "b", "optim.epochs=3", "run.max_steps=7"), prepared=standins.MemoryPrepared())
    assert stopped.step == 7 and stopped.checkpoint.name == "step_000000007.pt"
    # an explicit checkpoint, mid-epoch (5 steps per epoch), into a new folder
    step4 = tmp_path / "b" / "checkpoints" / "step_000000004.pt"
    resumed = train(tiny(tmp_path / "c", "optim.epochs=3"), resume=step4, prepared=standins.MemoryPrepared())
    assert resumed.resumed_from == step4 and resumed.step == 15
    assert_same_weights(resumed.method.state_dict(), full.method.state_dict())
    # the run folder's own last checkpoint, automatically, with a changed config (reported)
    with caplog.at_level(logging.WARNING, logger="skelrec.train.loop"):
        again = train(tiny(tmp_path / "b", "optim.epochs=3"), prepared=standins.MemoryPrepared())
    assert again.resumed_from.name == "step_000000007.pt"
    assert "run.max_steps: 7 -> 0" in caplog.text
    assert_same_weights(again.method.state_dict(), full.method.state_dict())
    assert [int(r["step"]) for r in metrics(tmp_path / "b")] == [2, 4, 6, 7, 8, 10, 12, 14, 15]
    # a finished run resumed again trains nothing and exports the same encoder
    done = train(tiny(tmp_path / "a", "optim.epochs=3"), prepared=standins.MemoryPrepared())
    assert done.step == 15 and done.resumed_from.name == "step_000000015.pt"
    assert_same_weights(done.method.state_dict(), full.method.state_dict())


def test_metrics_log_drops_rows_after_the_resumed_step(tmp_path):
    (tmp_path / "metrics.csv").write_text(
        "step,epoch,lr,loss,samples_per_s\n2,0.4,0.1,1.0,5\n4,0.8,0.1,0.9,5\n6,1.2,0.1,0.8,5\n8,1.6\n"
    )
    with MetricsLog(tmp_path, total_steps=10, start_step=4, enabled=True, tensorboard=False, progress=False) as log:
        log.write(6, 1.2, 0.1, {"loss": 0.7}, 5.0)
    assert [(r["step"], r["loss"]) for r in metrics(tmp_path)] == [("2", "1.0"), ("4", "0.9"), ("6", "0.7")]


def test_cpu_precision_is_fp32():
    precision = Precision.for_run("fp16", torch.device("cpu"))
    assert precision.dtype is None and not precision.scaler.is_enabled() and precision.describe() == "fp32"
    with precision.autocast():
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def run_standin_script(report: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, str(TESTS / "train_standins.py"), str(TINY), str(report), *overrides]
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{TESTS}"}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_sigkill_then_resume_is_bit_exact(tmp_path):
    """A run SIGKILLed during step 11 (last checkpoint: step 8, mid-epoch) and restarted ends bit-identical."""
    common = ["method.name=test_recon", "encoder.name=test_tiny", "encoder.kwargs={}", "optim.epochs=3"]
    a = run_standin_script(tmp_path / "report_a", *common, f"run.out_dir={tmp_path / 'a'}")
    assert a.returncode == 0, a.stderr

    killed = run_standin_script(
        tmp_path / "report_b", *common, f"run.out_dir={tmp_path / 'b'}", "method.kwargs.kill_at_call=11"
    )
    assert killed.returncode == -9, killed.stderr
    assert sorted(p.name for p in (tmp_path / "b" / "checkpoints").iterdir()) == [
        "step_000000004.pt",
        "step_000000008.pt",
    ]  # no temporary files left behind
    assert [int(r["step"]) for r in metrics(tmp_path / "b")] == [2, 4, 6, 8, 10]  # rows past the checkpoint
    assert not (tmp_path / "b" / "encoder").exists()

    resumed = run_standin_script(tmp_path / "report_b", *common, f"run.out_dir={tmp_path / 'b'}")
    assert resumed.returncode == 0, resumed.stderr
    report_a = torch.load(tmp_path / "report_a" / "rank0.pt", weights_only=True)
    report_b = torch.load(tmp_path / "report_b" / "rank0.pt", weights_only=True)
    assert report_b["resumed_from"] == str(tmp_path / "b" / "checkpoints" / "step_000000008.pt")
    assert report_a["step"] == report_b["step"] == 15
    assert_same_weights(report_a["state"], report_b["state"])
    assert report_b["seen"] == report_a["seen"][8 * 8 :]  # the resumed process saw exactly steps 9-15's clips
    weights_a, weights_b = (tmp_path / run / "encoder" / "model.safetensors" for run in ("a", "b"))
    assert weights_a.read_bytes() == weights_b.read_bytes()
    assert_same_weights(load_file(weights_a), load_file(weights_b))
    rows_a, rows_b = metrics(tmp_path / "a"), metrics(tmp_path / "b")
    assert [int(r["step"]) for r in rows_b] == [2, 4, 6, 8, 10, 12, 14, 15]
    assert [(r["step"], r["lr"], r["loss"]) for r in rows_b] == [(r["step"], r["lr"], r["loss"]) for r in rows_a]


@pytest.mark.slow
def test_cli_pretrain_on_a_prepared_cache(tmp_path):
    cache = standins.make_cache(tmp_path)  # 24 clips, 12 in xsub/train
    run = tmp_path / "run"
    code = "import sys, train_standins; from skelrec.cli import main; sys.argv[0] = 'skelrec'; main()"
    args = [
        "pretrain",
        str(TINY),
        f"data.paths=[{cache}]",
        "data.protocol=xsub",
        "method.name=test_recon",
        "encoder.name=test_tiny",
        "encoder.kwargs={}",
        "optim.batch_size=4",
        f"run.out_dir={run}",
    ]
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{TESTS}"}
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "trained 6 steps (2.00 epochs)" in done.stdout and str(run / "encoder") in done.stdout
    assert load_config(run / "config.yaml").data.layout == "kinect20"
    step4 = run / "checkpoints" / "step_000000004.pt"
    again = [sys.executable, "-c", code, *args, "--resume", str(step4)]
    redo = subprocess.run(again, cwd=ROOT, env=env, capture_output=True, text=True)
    assert redo.returncode == 0, redo.stderr
    assert f"resumed from {step4}" in redo.stdout and "trained 6 steps" in redo.stdout
    bad = subprocess.run(
        [sys.executable, "-c", code, *args, "optim.lrr=1"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "error: command-line override 'optim.lrr=1': unknown key optim.lrr; optim has: batch_size, epochs, "
        "warmup_epochs, lr, min_lr, weight_decay, betas, eps, grad_clip, amp"
    ]


def test_pretrain_help():
    from typer.testing import CliRunner

    from skelrec.cli import app

    result = CliRunner().invoke(app, ["pretrain", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "key.sub=value" in result.output and "--resume" in result.output


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["method.name=nope"], r"unknown method 'nope'"),
        (["optim.batch_size=64"], r"40 training samples make no full batch of optim\.batch_size=64"),
        (["method.name=test_broken"], r"step 1: the loss is nan; lower optim\.lr"),
        (["method.name=test_broken", "method.kwargs.mode=none"], r"must return \{'loss': scalar tensor"),
        (["encoder.kwargs.depth=2"], r"unknown TinyConfig fields \['depth'\]"),
    ],
)
def test_train_errors(tmp_path, overrides, message):
    with pytest.raises(SkelrecError, match=message):
        train(tiny(tmp_path / "run", *overrides), prepared=standins.MemoryPrepared())


def test_resume_errors(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(SkelrecError, match=r"bad\.pt: unreadable training checkpoint"):
        train(tiny(tmp_path / "run"), resume=bad, prepared=standins.MemoryPrepared())
    with pytest.raises(SkelrecError, match=r"holds no checkpoints/step_\*\.pt"):
        train(tiny(tmp_path / "run"), resume=tmp_path, prepared=standins.MemoryPrepared())
    train(tiny(tmp_path / "small", "run.max_steps=1"), prepared=standins.MemoryPrepared())
    with pytest.raises(SkelrecError, match=r"weights do not fit this run's encoder/method"):
        train(tiny(tmp_path / "small", "encoder.kwargs.embed_dim=4"), prepared=standins.MemoryPrepared())
