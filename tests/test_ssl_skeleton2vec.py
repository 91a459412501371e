"""Skeleton2vec (skelrec.ssl.skeleton2vec), its EMA teacher (skelrec.ssl.ema) and data2vec targets."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import train_standins as standins
from torch import nn

from skelrec.config import load_config
from skelrec.errors import SkelrecError
from skelrec.models.base import fold_persons
from skelrec.ssl import InputSpec, build_encoder_for, build_method
from skelrec.ssl.ema import EMATeacher
from skelrec.ssl.masking import motion_aware_tube_masking
from skelrec.ssl.skeleton2vec import Skeleton2vec
from skelrec.ssl.targets import average_top_layers, instance_norm_tokens
from skelrec.train import train

ROOT = Path(__file__).resolve().parent.parent
SPEC = InputSpec("ntu25", frames=15, persons=2, channels=3)
SMALL = {"decoder_dim": 16, "decoder_depth": 1, "decoder_heads": 2, "top_k_layers": 2}


def tiny_encoder(**kwargs):
    return build_encoder_for(
        SPEC, "transformer", depth=3, embed_dim=32, num_heads=4, patch_frames=3, layer_scale_init=1e-4, **kwargs
    )


def walk(n: int = 4, seed: int = 0) -> torch.Tensor:
    """Random-walk clips ``(n, 2, 15, 25, 3)`` (5 token steps of 3 frames)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 2, 15, 25, 3, generator=g).mul(0.05).cumsum(dim=2)


# ----------------------------------------------------------------------------------------------------------------
# EMA teacher.
# ----------------------------------------------------------------------------------------------------------------


def student() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))


def test_ema_decay_schedules():
    lin = EMATeacher(student(), decay=0.9, end_decay=1.0, anneal_steps=10)
    assert [lin.decay_at(s) for s in (0, 5, 10, 20)] == pytest.approx([0.9, 0.95, 1.0, 1.0])
    cos = EMATeacher(student(), decay=0.9, end_decay=1.0, anneal_steps=10, schedule="cosine")
    assert [cos.decay_at(s) for s in (0, 5, 10)] == pytest.approx([0.9, 0.95, 1.0])
    assert cos.decay_at(2) == pytest.approx(1.0 - 0.1 * 0.5 * (1 + math.cos(math.pi * 0.2)))
    assert EMATeacher(student(), decay=0.5, end_decay=0.99, anneal_steps=0).decay_at(0) == 0.99
    with pytest.raises(SkelrecError, match="unknown EMA schedule 'step'"):
        EMATeacher(student(), schedule="step")


def test_ema_update_formula_buffers_and_freezing():
    net = student()
    teacher = EMATeacher(net, decay=0.9, end_decay=1.0, anneal_steps=10)
    assert all(not p.requires_grad for p in teacher.parameters())
    before = [p.clone() for p in teacher.module.parameters()]
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
        net[1].running_mean.fill_(3.0)
    assert teacher.update(net, step=5) == pytest.approx(0.95)
    for t, b, s in zip(teacher.module.parameters(), before, net.parameters(), strict=True):
        assert torch.allclose(t, 0.95 * b + 0.05 * s)
    assert torch.equal(teacher.module[1].running_mean, torch.full((2,), 3.0))
    frozen = [p.clone() for p in teacher.module.parameters()]
    teacher.update(net, step=10)  # decay 1.0: the teacher stops moving
    assert all(torch.equal(a, b) for a, b in zip(frozen, teacher.module.parameters(), strict=True))
    teacher.train()
    assert not teacher.module.training


def test_ema_update_unwraps_ddp(tmp_path):
    dist.init_process_group("gloo", store=dist.FileStore(str(tmp_path / "store"), 1), rank=0, world_size=1)
    try:
        net = student()
        teacher = EMATeacher(nn.parallel.DistributedDataParallel(net), decay=0.0, end_decay=0.0)
        assert set(teacher.module.state_dict()) == set(net.state_dict())  # no "module." prefix
        with torch.no_grad():
            net[0].weight.fill_(2.0)
        teacher.update(nn.parallel.DistributedDataParallel(net), step=1)
        assert torch.equal(teacher.module[0].weight, net[0].weight)
    finally:
        dist.destroy_process_group()


# ----------------------------------------------------------------------------------------------------------------
# data2vec targets.
# ----------------------------------------------------------------------------------------------------------------


def test_data2vec_target_by_hand():
    """IN over tokens per channel, mean of the layers, then LN over channels; values worked out on paper."""
    h1 = torch.tensor([[[1.0, 2.0], [3.0, 6.0]]])  # IN -> [[-1, -1], [1, 1]]
    h2 = torch.tensor([[[0.0, 5.0], [2.0, 1.0]]])  # IN -> [[-1, 1], [1, -1]]
    assert torch.allclose(instance_norm_tokens(h1), torch.tensor([[[-1.0, -1.0], [1.0, 1.0]]]), atol=1e-4)
    y = average_top_layers([torch.randn(1, 2, 2), h1, h2], 2)  # mean [[-1, 0], [1, 0]] -> LN [[-1, 1], [1, -1]]
    assert torch.allclose(y, torch.tensor([[[-1.0, 1.0], [1.0, -1.0]]]), atol=1e-3)
    no_final = average_top_layers([h1, h2], 2, final=None)
    assert torch.allclose(no_final, torch.tensor([[[-1.0, 0.0], [1.0, 0.0]]]), atol=1e-4)
    with pytest.raises(SkelrecError, match="top_k_layers=3 must be between 1 and the encoder's 2 blocks"):
        average_top_layers([h1, h2], 3)


def test_teacher_target_equals_manual_computation():
    method = Skeleton2vec(tiny_encoder(), SPEC, **SMALL)
    x = fold_persons(walk(2))
    teacher = method.teacher.module
    h = teacher.embed(x).flatten(1, 2)  # (B, L, D)
    layers = []
    for block in teacher.blocks:
        h = block(h)
        layers.append(h)
    normed = [(h - h.mean(1, keepdim=True)) / (h.var(1, unbiased=False, keepdim=True) + 1e-5).sqrt() for h in layers]
    y = (normed[1] + normed[2]) / 2  # top 2 of 3 blocks
    y = (y - y.mean(-1, keepdim=True)) / (y.var(-1, unbiased=False, keepdim=True) + 1e-5).sqrt()
    assert torch.allclose(method.teacher_targets(x), y, atol=1e-4)


# ----------------------------------------------------------------------------------------------------------------
# The method.
# ----------------------------------------------------------------------------------------------------------------


def test_student_never_sees_masked_tokens():
    torch.manual_seed(0)
    method = Skeleton2vec(tiny_encoder(), SPEC, s_tau=0.0, **SMALL)  # no motion bias: the mask ignores the input
    seen = []
    method.encoder.norm.register_forward_hook(lambda mod, inp, out: seen.append(out.detach()))
    x = walk(2)
    method({"x": x}, generator=torch.Generator().manual_seed(1))
    mask = motion_aware_tube_masking(torch.zeros(4, 5, 25), 0.9, s_tau=0.0, generator=torch.Generator().manual_seed(1))
    frames = mask.mask.reshape(2, 2, 5, 25).repeat_interleave(3, dim=2).unsqueeze(-1)  # (N, M, T, V, 1)
    out = method({"x": x + torch.randn_like(x) * frames}, generator=torch.Generator().manual_seed(1))
    assert seen[0].shape == (4, 5 * 2, 32)  # 2 visible joints per token step
    assert torch.allclose(seen[0], seen[1], atol=1e-6)
    assert math.isfinite(float(out["loss"].detach()))


def test_skeleton2vec_trains_on_a_fixed_batch_and_updates_its_teacher():
    torch.manual_seed(0)
    method = build_method("skeleton2vec", tiny_encoder(), SPEC, ema_anneal_steps=100, **SMALL)
    opt = torch.optim.AdamW(method.param_groups(load_config(ROOT / "pretrain/configs/test/tiny.yaml").optim), lr=2e-3)
    teacher0 = [p.clone() for p in method.teacher.parameters()]
    batch = {"x": walk(4)}
    losses = []
    for step in range(1, 31):
        out = method(batch, generator=torch.Generator().manual_seed(7))
        opt.zero_grad()
        out["loss"].backward()
        if step == 1:
            trainable = [n for n, p in method.named_parameters() if p.requires_grad]
            assert trainable and not any(n.startswith("teacher.") for n in trainable)
            missing = [n for n, p in method.named_parameters() if p.requires_grad and p.grad is None]
            assert not missing, missing
            assert all(p.grad is None for p in method.teacher.parameters())
        opt.step()
        method.on_step_end(step)
        losses.append(float(out["loss"].detach()))
    assert losses[-1] < 0.6 * losses[0], losses
    assert float(out["target_std"]) == pytest.approx(1.0, abs=0.05)
    moved = [not torch.equal(a, b) for a, b in zip(teacher0, method.teacher.parameters(), strict=True)]
    assert any(moved)
    assert method.pretrained_encoder() is method.teacher.module


def test_skeleton2vec_options_are_checked():
    with pytest.raises(SkelrecError, match=r"^method\.kwargs\.top_k_layers: must be <= the encoder depth 3, got 8$"):
        Skeleton2vec(tiny_encoder(), SPEC)
    with pytest.raises(SkelrecError, match=r"^method\.kwargs\.ema_decay: must be in \[0, 1\], got 1\.5$"):
        Skeleton2vec(tiny_encoder(), SPEC, top_k_layers=2, ema_decay=1.5)
    with pytest.raises(SkelrecError, match=r"^method\.kwargs\.target_layer_norm: unknown target_layer_norm 'batch_"):
        Skeleton2vec(tiny_encoder(), SPEC, top_k_layers=2, target_layer_norm="batch_norm")


@pytest.mark.parametrize(
    ("name", "protocol", "s_tau", "decay", "anneal"),
    [
        ("ntu60_xsub", "xsub", 0.1, 0.9999, 800 * (40_091 // 128)),
        ("ntu60_xview", "xview", 0.1, 0.9999, 800 * (37_646 // 128)),
        ("ntu120_xsub", "xsub", 0.2, 0.9999, 800 * (63_026 // 128)),
        ("ntu120_xset", "xset", 0.2, 0.9999, 800 * (54_468 // 128)),
        ("pku_mmd_xsub", "xsub", 0.4, 0.999, 118_400),
    ],
)
def test_paper_configs(name, protocol, s_tau, decay, anneal):
    cfg = load_config(ROOT / f"pretrain/configs/skeleton2vec/{name}.yaml")
    assert (cfg.data.protocol, cfg.data.clip_length, cfg.optim.batch_size, cfg.optim.epochs) == (protocol, 90, 128, 800)
    spec = InputSpec("ntu25", cfg.data.clip_length, cfg.data.persons, cfg.data.channels)
    encoder = build_encoder_for(spec, cfg.encoder.name, **cfg.encoder.kwargs)
    method = build_method(cfg.method.name, encoder, spec, **cfg.method.kwargs)
    assert (encoder.config.patch_frames, encoder.config.layer_scale_init, method.top_k_layers) == (3, 1e-4, 8)
    assert (method.s_tau, method.tube_len, len(method.decoder.blocks)) == (s_tau, 5, 3)
    assert (method.teacher.decay, method.teacher.end_decay, method.teacher.anneal_steps) == (decay, 1.0, anneal)


@pytest.mark.slow
def test_cpu_small_config_trains_on_nw_ucla(shared_data, tmp_path):
    from skelrec.datasets.prepare import prepare_dataset

    cache = tmp_path / "nw_ucla"
    prepare_dataset("nw_ucla", shared_data / "nw_ucla" / "all_sqe", cache, workers=1, progress=False)
    cfg = load_config(
        ROOT / "pretrain/configs/skeleton2vec/cpu_small.yaml",
        [f"data.paths=[{cache}]", f"run.out_dir={tmp_path / 'run'}", "run.max_steps=2", "run.progress=false"],
    )
    result = train(cfg)
    assert result.step == 2 and math.isfinite(result.loss)


def test_skeleton2vec_trains_through_the_loop(tmp_path):
    cfg = load_config(
        ROOT / "pretrain/configs/test/tiny.yaml",
        [
            "method.name=skeleton2vec",
            "method.kwargs={decoder_dim: 16, decoder_depth: 1, decoder_heads: 2, top_k_layers: 1, "
            "ema_decay: 0.0, ema_end_decay: 0.0}",
            f"run.out_dir={tmp_path / 'run'}",
            "run.max_steps=3",
        ],
    )
    result = train(cfg, prepared=standins.MemoryPrepared())
    assert result.step == 3 and math.isfinite(result.loss)
    teacher, student = result.method.teacher.module.state_dict(), result.method.encoder.state_dict()
    assert all(torch.equal(teacher[k], student[k]) for k in student)  # decay 0: the loop's on_step_end copied it
