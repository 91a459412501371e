"""MAMP (skelrec.ssl.mamp) and the shared patch/target utilities and MAE decoder it is built from."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import train_standins as standins

from skelrec.config import load_config
from skelrec.errors import SkelrecError
from skelrec.models.base import fold_persons
from skelrec.ssl import InputSpec, build_encoder_for, build_method
from skelrec.ssl.decoder import MaskedDecoder
from skelrec.ssl.mamp import MAMP
from skelrec.ssl.masking import random_masking
from skelrec.ssl.targets import frame_motion, normalize_per_patch, patch_motion, patchify, unpatchify
from skelrec.train import train

ROOT = Path(__file__).resolve().parent.parent
SPEC = InputSpec("ntu25", frames=16, persons=2, channels=3)


def tiny_encoder(**kwargs):
    return build_encoder_for(SPEC, "transformer", depth=2, embed_dim=32, num_heads=4, **kwargs)


def walk(n: int = 4, seed: int = 0) -> torch.Tensor:
    """Random-walk clips ``(n, 2, 16, 25, 3)``."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 2, 16, 25, 3, generator=g).mul(0.05).cumsum(dim=2)


def perturb_masked(x: torch.Tensor, mask: torch.Tensor, patch: int) -> torch.Tensor:
    """``x (N, M, T, V, C)`` with noise added to every frame of every masked token of ``mask (N*M, T'*V)``."""
    n, m, t, v, _ = x.shape
    frames = mask.reshape(n, m, t // patch, v).repeat_interleave(patch, dim=2)  # (N, M, T, V)
    return x + torch.randn_like(x) * frames.unsqueeze(-1)


# ----------------------------------------------------------------------------------------------------------------
# Patch and target utilities.
# ----------------------------------------------------------------------------------------------------------------


def test_patchify_matches_the_transformer_and_round_trips():
    enc = tiny_encoder()
    x = walk(2)
    patches = patchify(x, 4)  # (N, M, T', V, p*C)
    assert patches.shape == (2, 2, 4, 25, 12)
    assert torch.equal(unpatchify(patches, 4), x)
    assert torch.equal(patches[0, 1, 2, 7], x[0, 1, 8:12, 7].reshape(-1))  # frame-major inside a token
    folded = fold_persons(x)
    assert torch.allclose(enc.patch_embed(patchify(folded, 4)), enc.patchify(folded), atol=1e-6)
    with pytest.raises(SkelrecError, match="not a multiple of the patch of 3 frames"):
        patchify(x, 3)


def test_motion_and_per_patch_normalisation_by_hand():
    x = torch.tensor([0.0, 1.0, 3.0, 6.0]).reshape(1, 4, 1, 1)  # (B, T, V, C)
    motion = frame_motion(x)
    assert motion.flatten().tolist() == [1.0, 2.0, 3.0, 0.0]
    assert frame_motion(x, stride=2).flatten().tolist() == [3.0, 5.0, 0.0, 0.0]
    patches = patchify(motion, 2)  # tokens [1, 2] and [3, 0]
    r = 1 / math.sqrt(2)  # (1 - 1.5) / sqrt(0.5) and (3 - 1.5) / sqrt(4.5), unbiased variances
    expected = torch.tensor([[-r, r], [r, -r]]).reshape(1, 2, 1, 2)
    assert torch.allclose(normalize_per_patch(patches), expected, atol=1e-5)
    assert torch.equal(normalize_per_patch(torch.zeros(3, 6)), torch.zeros(3, 6))


def test_patch_motion_by_hand():
    patches = torch.tensor([[0.0, 0.0], [1.0, 3.0], [1.0, 1.0]]).reshape(1, 3, 1, 2)  # (B, T', V, P)
    # |P1 - P0| = mean(1, 3) = 2, |P2 - P1| = mean(0, 2) = 1; the first step copies the second.
    assert patch_motion(patches).flatten().tolist() == [2.0, 2.0, 1.0]
    assert patch_motion(patches[:, :1]).flatten().tolist() == [0.0]


def test_mamp_target_is_the_normalised_next_frame_motion():
    method = MAMP(tiny_encoder(), SPEC)
    x = fold_persons(walk(1))  # (2, 16, 25, 3)
    target = method.motion_target(x)
    assert target.shape == (2, 4 * 25, 12)
    b, tok = 1, 2 * 25 + 7  # person 2, token step 2, joint 7: frames 8..11
    raw = (x[b, 9:13, 7] - x[b, 8:12, 7]).reshape(-1)
    assert torch.allclose(target[b, tok], (raw - raw.mean()) / (raw.var() + 1e-6).sqrt(), atol=1e-5)
    assert torch.isfinite(target).all()


# ----------------------------------------------------------------------------------------------------------------
# Decoder.
# ----------------------------------------------------------------------------------------------------------------


def test_decoder_scatters_visible_tokens_and_mask_tokens():
    dec = MaskedDecoder(8, 5, max_steps=3, num_joints=2, dim=4, depth=1, num_heads=2)
    latent = torch.randn(2, 2, 8)
    assert dec(latent[:, :1], torch.tensor([[3], [0]]), (2, 2)).shape == (2, 4, 5)  # shorter clips: first steps
    keep = torch.tensor([[0, 4], [1, 5]])
    full = dec.fill_masked(latent, keep, 6)
    assert full.shape == (2, 6, 4)
    assert torch.allclose(full[0, 4], dec.embed(latent[0, 1])) and torch.allclose(full[1, 1], dec.embed(latent[1, 0]))
    assert torch.equal(full[0, 1], dec.mask_token[0, 0]) and torch.equal(full[1, 0], dec.mask_token[0, 0])
    assert dec(latent, keep, (3, 2)).shape == (2, 6, 5)
    with pytest.raises(SkelrecError, match="decoder built for up to 3 token steps x 2 joints"):
        dec(latent, keep, (4, 2))


@pytest.mark.parametrize(("depth", "millions"), [(3, 2.45), (5, 4.03)])
def test_paper_decoder_size(depth, millions):
    """RECIPES.md: MAMP's decoder has 2.45M (3 blocks) / 4.03M (5 blocks) parameters."""
    dec = MaskedDecoder(256, 12, max_steps=30, num_joints=25, dim=256, depth=depth)
    assert sum(p.numel() for p in dec.parameters()) / 1e6 == pytest.approx(millions, abs=0.005)


# ----------------------------------------------------------------------------------------------------------------
# The method.
# ----------------------------------------------------------------------------------------------------------------


def test_student_never_sees_masked_tokens():
    torch.manual_seed(0)
    method = MAMP(tiny_encoder(), SPEC, motion_aware_tau=-1.0, decoder_dim=16, decoder_depth=1, decoder_heads=2)
    seen = []
    method.encoder.norm.register_forward_hook(lambda mod, inp, out: seen.append(out.detach()))
    x = walk(2)
    method({"x": x}, generator=torch.Generator().manual_seed(1))
    mask = random_masking(4, 100, 0.9, device="cpu", generator=torch.Generator().manual_seed(1)).mask
    method({"x": perturb_masked(x, mask, 4)}, generator=torch.Generator().manual_seed(1))
    assert seen[0].shape == (4, 10, 32)
    assert torch.allclose(seen[0], seen[1], atol=1e-6)
    method({"x": perturb_masked(x, ~mask, 4)}, generator=torch.Generator().manual_seed(1))
    assert not torch.allclose(seen[0], seen[2], atol=1e-3)  # visible tokens do reach it


def test_mamp_trains_on_a_fixed_batch():
    torch.manual_seed(0)
    method = build_method("mamp", tiny_encoder(), SPEC, decoder_dim=32, decoder_depth=1, decoder_heads=4)
    opt = torch.optim.AdamW(method.parameters(), lr=2e-3)
    batch = {"x": walk(4)}
    losses = []
    for step in range(40):
        out = method(batch, generator=torch.Generator().manual_seed(7))
        opt.zero_grad()
        out["loss"].backward()
        if step == 0:
            missing = [n for n, p in method.named_parameters() if p.grad is None or not p.grad.isfinite().all()]
            assert not missing, missing
        opt.step()
        losses.append(float(out["loss"].detach()))
    assert losses[-1] < 0.6 * losses[0], losses


def test_mamp_options_are_checked():
    with pytest.raises(
        SkelrecError, match=r"^method\.kwargs\.mask_ratio: must be in \[0, 1\) \(e\.g\. 0\.9\), got 1\.0"
    ):
        MAMP(tiny_encoder(), SPEC, mask_ratio=1.0)
    with pytest.raises(SkelrecError, match=r"^method\.kwargs\.mask_ratio must be float, got 'high'$"):
        MAMP(tiny_encoder(), SPEC, mask_ratio="high")
    with pytest.raises(SkelrecError, match=r"^method\.kwargs: method 'mamp' has no option ratio; its options: mask_"):
        MAMP(tiny_encoder(), SPEC, ratio=0.5)
    gru = build_encoder_for(SPEC, "bigru", hidden_size=8, num_layers=1)
    with pytest.raises(SkelrecError, match=r"'mamp' masks transformer tokens and needs encoder\.name=transformer"):
        MAMP(gru, SPEC)


def test_mamp_param_groups_skip_embeddings_and_tokens():
    method = MAMP(tiny_encoder(), SPEC, decoder_dim=16, decoder_depth=1, decoder_heads=2)
    groups = method.param_groups(load_config(ROOT / "pretrain/configs/test/tiny.yaml").optim)
    names = {id(p): n for n, p in method.named_parameters()}
    plain = {names[id(p)] for p in groups[1]["params"]}
    embeds = {"encoder.temp_embed", "encoder.pos_embed", "decoder.temp_embed", "decoder.pos_embed"}
    assert embeds | {"decoder.mask_token"} <= plain
    assert "decoder.head.weight" in {names[id(p)] for p in groups[0]["params"]}


@pytest.mark.parametrize(
    ("name", "protocol", "tau", "depth"),
    [
        ("ntu60_xsub", "xsub", 0.8, 3),
        ("ntu60_xview", "xview", 0.8, 3),
        ("ntu120_xsub", "xsub", 0.75, 5),
        ("ntu120_xset", "xset", 0.75, 5),
        ("pku_mmd_xsub", "xsub", 0.8, 5),
    ],
)
def test_paper_configs(name, protocol, tau, depth):
    cfg = load_config(ROOT / f"pretrain/configs/mamp/{name}.yaml")
    assert (cfg.data.protocol, cfg.data.clip_length, cfg.optim.batch_size, cfg.optim.epochs) == (
        protocol,
        120,
        128,
        400,
    )
    spec = InputSpec("ntu25", cfg.data.clip_length, cfg.data.persons, cfg.data.channels)
    method = build_method(
        cfg.method.name, build_encoder_for(spec, cfg.encoder.name, **cfg.encoder.kwargs), spec, **cfg.method.kwargs
    )
    assert (method.mask_ratio, method.motion_aware_tau, len(method.decoder.blocks)) == (0.9, tau, depth)
    assert sum(p.numel() for p in method.encoder.parameters()) == 6_336_000


@pytest.mark.slow
def test_cpu_small_config_trains_on_nw_ucla(shared_data, tmp_path):
    from skelrec.datasets.prepare import prepare_dataset

    cache = tmp_path / "nw_ucla"
    prepare_dataset("nw_ucla", shared_data / "nw_ucla" / "all_sqe", cache, workers=1, progress=False)
    cfg = load_config(
        ROOT / "pretrain/configs/mamp/cpu_small.yaml",
        [f"data.paths=[{cache}]", f"run.out_dir={tmp_path / 'run'}", "run.max_steps=2", "run.progress=false"],
    )
    result = train(cfg)
    assert result.step == 2 and math.isfinite(result.loss)


def test_mamp_trains_through_the_loop(tmp_path):
    cfg = load_config(
        ROOT / "pretrain/configs/test/tiny.yaml",
        [
            "method.name=mamp",
            "method.kwargs={decoder_dim: 16, decoder_depth: 1, decoder_heads: 2}",
            f"run.out_dir={tmp_path / 'run'}",
            "run.max_steps=3",
        ],
    )
    result = train(cfg, prepared=standins.MemoryPrepared())
    assert result.step == 3 and math.isfinite(result.loss)
    assert (tmp_path / "run" / "encoder").is_dir()
