"""skelrec.ssl.macdiff: the pieces of the objective on hand cases, training, sampling, augmentation, export."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import train_standins as standins
from torch import nn

from skelrec.checkpoint import METHOD_PREFIX, load_checkpoint, load_model, save_checkpoint
from skelrec.config import load_config
from skelrec.errors import SkelrecError
from skelrec.models import build_encoder
from skelrec.ssl import build_method
from skelrec.ssl import macdiff as md
from skelrec.ssl.base import InputSpec
from skelrec.ssl.masking import mask_indices

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "pretrain" / "configs" / "macdiff"
SPEC = InputSpec("ntu25", frames=16, persons=2, channels=3)
TINY_ENCODER = {"num_frames": 16, "depth": 1, "embed_dim": 16, "num_heads": 2}
TINY_METHOD = {"decoder_dim": 16, "decoder_depth": 1, "decoder_heads": 2, "diffusion_steps": 100}


def tiny_method(**options) -> md.MacDiff:
    encoder = build_encoder("transformer", **TINY_ENCODER)
    return md.MacDiff(encoder, SPEC, **{**TINY_METHOD, **options})


def batch(n: int = 4, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.cumsum(0.02 * torch.randn(n, 2, 16, 25, 3, generator=g), dim=2) + 0.2 * torch.randn(
        n, 2, 1, 25, 3, generator=g
    )
    mask = torch.ones(n, 2, 16, dtype=torch.bool)
    x[1::2, 1] = 0.0  # odd clips have one person
    mask[1::2, 1] = False
    return {"x": x, "mask": mask, "label": torch.arange(n) % 3, "index": torch.arange(n)}


# ----------------------------------------------------------------------------------------------------------------
# Pieces on hand cases.
# ----------------------------------------------------------------------------------------------------------------


def test_feature_modulation_formula():
    fm = md.FeatureModulation(2, cond_dim=1, time_dim=1)
    with torch.no_grad():
        fm.cond.weight.copy_(torch.tensor([[1.0], [2.0], [0.0], [1.0]]))  # (z_s, z_b) = (z, 2z, 0, z)
        fm.cond.bias.copy_(torch.tensor([0.0, 0.0, 1.0, 0.0]))  #          + (0, 0, 1, 0)
        fm.time.weight.copy_(torch.tensor([[1.0], [1.0], [0.0], [0.0]]))  # (t_s, t_b) = (t, t, 0, 0)
        fm.time.bias.copy_(torch.tensor([0.0, 0.0, 0.5, -0.5]))
    x = torch.tensor([[[1.0, 3.0]]])  # LN(x) = (-1, 1) (up to eps)
    z = torch.tensor([[[2.0]]])  # z_s = (2, 4), z_b = (1, 2)
    t_emb = torch.tensor([[3.0]])  # t_s = (3, 3), t_b = (0.5, -0.5)
    out = fm(x, z, t_emb)
    want = torch.tensor([[[2 * (3 * -1 + 0.5) + 1, 4 * (3 * 1 - 0.5) + 2]]])
    assert torch.allclose(out, want, atol=1e-4)


def test_decoder_blocks_take_feature_modulation_as_norm():
    decoder = md.DiffusionDecoder(
        in_channels=3, num_joints=25, max_steps=4, patch_frames=4, cond_dim=16, dim=16, depth=2, num_heads=2, time_dim=8
    )
    assert all(
        isinstance(b.norm1, md.FeatureModulation) and isinstance(b.norm2, md.FeatureModulation) for b in decoder.blocks
    )
    z = torch.randn(2, 4 * 25, 16)
    eps = decoder(torch.randn(2, 16, 25, 3), torch.tensor([0, 99]), z)
    assert eps.shape == (2, 16, 25, 3)
    other = decoder(torch.randn(2, 16, 25, 3), torch.tensor([0, 99]), torch.zeros_like(z))
    assert not torch.allclose(eps, other)  # the condition matters
    with pytest.raises(SkelrecError, match="token steps"):
        decoder(torch.randn(1, 20, 25, 3), torch.tensor([0]), torch.zeros(1, 125, 16))


def test_paper_decoder_size():
    method = md.MacDiff(build_encoder("transformer"), InputSpec("ntu25", 120, 2, 3))
    assert sum(p.numel() for p in method.decoder.parameters()) == 5_618_444  # RECIPES.md: 5.62M
    assert sum(p.numel() for p in method.encoder.parameters()) == 6_336_000
    assert method.diffusion.num_timesteps == 1000


def test_fill_condition():
    latent = torch.tensor([[[1.0, 0.0], [3.0, 2.0]]])  # visible tokens 1 and 3 of 4
    z = md.fill_condition(latent, torch.tensor([[1, 3]]), 4)
    assert z.tolist() == [[[2.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 2.0]]]


def test_unconditional_fraction():
    torch.manual_seed(0)
    z = torch.ones(20000, 3, 2)
    dropped_z, dropped = md.drop_condition(z, 0.1)
    assert dropped.float().mean().item() == pytest.approx(0.1, abs=0.01)
    assert bool((dropped_z[dropped] == 0).all()) and bool((dropped_z[~dropped] == 1).all())
    assert not md.drop_condition(z, 0.0)[1].any() and md.drop_condition(z, 1.0)[1].all()


def test_token_uniformity_hand_cases():
    orthogonal = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])
    assert md.token_uniformity(orthogonal).item() == pytest.approx(0.5)  # sims [[1, 0], [0, 1]]
    same = torch.tensor([[[1.0, 1.0], [3.0, 3.0], [-2.0, -2.0]]])
    assert md.token_uniformity(same).item() == pytest.approx(1.0)
    at_60 = torch.tensor([[[1.0, 0.0], [0.5, 3**0.5 / 2]]])  # cos = 0.5 -> (1 + 0.25 + 0.25 + 1) / 4
    assert md.token_uniformity(at_60).item() == pytest.approx(0.625)


def test_masked_patch_weight():
    token_masked = torch.tensor([[[True, False], [False, True]]])  # (1, T'=2, V=2)
    valid = torch.tensor([[True, True, False, False]])  # frames of token step 1 are padding
    w = md.masked_patch_weight(token_masked, valid, patch_frames=2)
    assert w.shape == (1, 4, 2, 1)
    assert w[0, :, :, 0].tolist() == [[True, False], [True, False], [False, False], [False, False]]


def test_fold_standardization_makes_the_encoder_take_raw_input():
    method = tiny_method(input_mean=[0.1, -0.2, 0.3], input_var=[0.04, 0.25, 0.01])
    x = 0.3 * torch.randn(2, 2, 16, 25, 3)
    want = method.encoder.forward_features(method.standardize(x))
    folded = build_encoder("transformer", **TINY_ENCODER)
    state = {k: v for k, v in method.export_state().items() if not k.startswith(METHOD_PREFIX)}
    folded.load_state_dict(state)
    assert torch.allclose(folded.forward_features(x), want, atol=1e-5)
    w, b = state["patch_embed.weight"], state["patch_embed.bias"]
    back = md.unfold_standardization(w, b, method.input_mean, method.input_std, method.patch_frames)
    assert torch.allclose(back[0], method.encoder.patch_embed.weight, atol=1e-6)
    assert torch.allclose(back[1], method.encoder.patch_embed.bias, atol=1e-5)


def test_options_are_checked():
    with pytest.raises(SkelrecError, match=r"^method\.kwargs\.input_mean: input_mean/input_var need one value per"):
        tiny_method(input_mean=[0.0, 0.0])
    with pytest.raises(SkelrecError, match=r"^method\.kwargs\.noise_schedule: unknown noise schedule 'sigmoid';"):
        tiny_method(noise_schedule="sigmoid")
    with pytest.raises(SkelrecError, match=r"^method\.kwargs\.uncond_ratio: must be in \[0, 1\], got 1\.5$"):
        tiny_method(uncond_ratio=1.5)
    with pytest.raises(SkelrecError, match=r"^method\.kwargs\.noise_schedule_kwargs: bad parameters \['tau'\]"):
        tiny_method(noise_schedule="cosine", noise_schedule_kwargs={"tau": 1.0})
    with pytest.raises(SkelrecError, match=r"^method\.kwargs\.input_var: must be positive"):
        tiny_method(input_var=[1, 0, 1])
    with pytest.raises(SkelrecError, match="transformer"):
        md.MacDiff(nn.Linear(3, 3), SPEC)


# ----------------------------------------------------------------------------------------------------------------
# The objective.
# ----------------------------------------------------------------------------------------------------------------


def test_encoder_sees_only_visible_tokens(monkeypatch):
    method = tiny_method()
    seen = []
    original = method.encoder.forward_tokens

    def spy(tokens, keep_idx=None, return_layers=False):
        seen.append(keep_idx.shape)
        return original(tokens, keep_idx=keep_idx, return_layers=return_layers)

    monkeypatch.setattr(method.encoder, "forward_tokens", spy)
    method(batch())
    assert seen == [torch.Size([4, 10])]  # 4 x 25 = 100 tokens, 90% masked (one person per clip)


class StubDecoder(nn.Module):
    """Predicts ``base + bump`` whatever its input; ``pos_embed`` mimics the real decoder's grid."""

    def __init__(self, base: torch.Tensor, bump: torch.Tensor) -> None:
        super().__init__()
        self.base, self.bump = base, bump
        self.pos_embed = torch.zeros(1, 1, 25, 1)

    def forward(self, x_t, t, z):
        return self.base + self.bump + 0 * x_t


def test_loss_counts_masked_patches_only(monkeypatch):
    method = tiny_method()
    token_mask = torch.zeros(4, 4, 25, dtype=torch.bool)  # (B, T', V): mask all but joint 0 of step 0
    token_mask[:, :, 1:] = True
    token_mask[:, 1:, 0] = True
    fixed = mask_indices(token_mask.reshape(4, -1), 99)
    monkeypatch.setattr(md, "mamp_masking", lambda patches, ratio, tau, **kw: fixed)
    base = torch.randn(4, 16, 25, 3)
    frame_visible = token_mask.logical_not().repeat_interleave(4, dim=1)[..., None].float()  # (B, T, V, 1)

    def loss_with(bump):
        method.decoder = StubDecoder(base, bump)
        torch.manual_seed(0)
        return method(batch())["loss_diffusion"].item()

    reference = loss_with(torch.zeros_like(base))
    assert loss_with(5.0 * frame_visible) == pytest.approx(reference, rel=1e-6)
    assert loss_with(5.0 * (1 - frame_visible)) != pytest.approx(reference, rel=1e-3)


def test_layer_condition_drop_only_while_training():
    fm = md.FeatureModulation(4, drop_prob=1.0)
    x, z, t_emb = torch.randn(2, 3, 4), torch.randn(2, 3, 4), torch.randn(2, 64)
    assert torch.allclose(fm(x, z, t_emb), fm(x, torch.zeros_like(z), t_emb))
    fm.eval()
    assert not torch.allclose(fm(x, z, t_emb), fm(x, torch.zeros_like(z), t_emb))


def test_tiny_training_reduces_the_loss_and_reaches_every_parameter():
    torch.manual_seed(0)
    method = tiny_method(motion_aware_tau=0.8, one_person=False)
    data = batch(8)
    optimizer = torch.optim.AdamW(method.parameters(), lr=2e-3)
    losses = []
    for step in range(25):
        torch.manual_seed(step % 2)  # two fixed draws of masks, steps and noise: a deterministic objective
        out = method(data)
        optimizer.zero_grad()
        out["loss"].backward()
        if step == 0:
            missing = [n for n, p in method.named_parameters() if p.grad is None or not p.grad.isfinite().all()]
            assert missing == []
        optimizer.step()
        losses.append(out["loss"].item())
    assert set(out) == {"loss", "loss_diffusion", "loss_uniformity"}
    assert sum(losses[-4:]) < 0.7 * sum(losses[:4])


def test_no_weight_decay_on_embeddings():
    method = tiny_method()
    groups = method.param_groups(load_config(CONFIGS / "ntu60_xsub.yaml").optim)
    decayed = {id(p) for g in groups if g["weight_decay"] > 0 for p in g["params"]}
    for name in ("encoder.temp_embed", "encoder.pos_embed", "decoder.temp_embed", "decoder.pos_embed"):
        assert id(method.get_parameter(name)) not in decayed
    assert id(method.get_parameter("decoder.blocks.0.norm1.cond.weight")) in decayed


# ----------------------------------------------------------------------------------------------------------------
# Generation.
# ----------------------------------------------------------------------------------------------------------------


def test_sample_shapes_finiteness_and_reproducibility():
    method = tiny_method().eval()
    z = torch.randn(3, 4 * 25, 16)
    a = method.sample(z, steps=5, generator=torch.Generator().manual_seed(1))
    b = method.sample(z, steps=5, generator=torch.Generator().manual_seed(1))
    assert a.shape == (3, 16, 25, 3) and bool(a.isfinite().all())
    assert torch.equal(a, b)  # deterministic DDIM given the initial noise
    assert bool((method.standardize(a).abs() <= md.SAMPLE_CLIP + 1e-4).all())  # x_0 predictions are bounded
    guided = method.sample(z, steps=5, guidance=2.0, generator=torch.Generator().manual_seed(1))
    assert guided.shape == a.shape and not torch.equal(guided, a)
    ddpm = method.sample(z, ddim=False, clip=3.0, generator=torch.Generator().manual_seed(1))
    assert ddpm.shape == a.shape and bool(ddpm.isfinite().all())
    generated = method.generate(batch()["x"][:, 0], steps=4, generator=torch.Generator().manual_seed(2))
    assert generated.shape == (4, 16, 25, 3) and bool(generated.isfinite().all())


def test_augment_keeps_shape_labels_and_absent_persons():
    method = tiny_method()
    data = batch(4)
    out = md.diffusion_augment(
        method,
        data["x"],
        data["mask"],
        data["label"],
        n_per_sample=3,
        steps=3,
        generator=torch.Generator().manual_seed(0),
    )
    assert method.training  # restored after sampling in eval mode
    assert out.x.shape == (12, 2, 16, 25, 3) and out.mask.shape == (12, 2, 16)
    assert out.source.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert torch.equal(out.label, data["label"][out.source]) and torch.equal(out.mask, data["mask"][out.source])
    assert bool(out.x.isfinite().all())
    assert bool((out.x[3:6, 1] == 0).all())  # clip 1 has no second person: it stays absent
    assert bool((out.x[0:3, 1] != 0).any())
    again = method.augment(
        data["x"], data["mask"], None, n_per_sample=3, steps=3, generator=torch.Generator().manual_seed(0)
    )
    assert again.label is None and torch.equal(again.x, out.x)
    with pytest.raises(SkelrecError, match="n_per_sample"):
        md.diffusion_augment(method, data["x"], data["mask"], n_per_sample=0)


# ----------------------------------------------------------------------------------------------------------------
# Export, loading, configs, the training loop.
# ----------------------------------------------------------------------------------------------------------------


def export(method: md.MacDiff, folder: Path) -> Path:
    config = {
        "encoder": {"name": "transformer", "config": method.encoder.config.to_dict()},
        "head": None,
        "layout": "ntu25",
        "normalization": {},
        "clip_length": 16,
        "num_persons": 2,
        "labels": None,
        "method": {"name": "macdiff", "kwargs": {**TINY_METHOD, "input_var": [0.04, 0.09, 0.01]}},
    }
    return save_checkpoint(folder, method.export_state(), config)


def test_export_round_trip(tmp_path):
    method = tiny_method(input_var=[0.04, 0.09, 0.01])
    folder = export(method, tmp_path / "ckpt")
    state, _ = load_checkpoint(folder, method_tensors=True)
    assert any(k.startswith("method.decoder.") for k in state)
    assert not any(k.startswith(METHOD_PREFIX) for k in load_checkpoint(folder)[0])
    encoder, _ = load_model(folder)  # the encoder alone still loads strictly
    x = 0.3 * torch.randn(2, 2, 16, 25, 3)
    assert torch.allclose(
        encoder.forward_features(x), method.encoder.forward_features(method.standardize(x)), atol=1e-5
    )
    loaded = md.load_macdiff(folder)
    assert not loaded.training
    for (name, a), (_, b) in zip(method.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.allclose(a, b, atol=1e-5), name
    z = torch.randn(1, 100, 16)
    g = torch.Generator()
    assert torch.allclose(
        method.eval().sample(z, steps=3, generator=g.manual_seed(0)),
        loaded.sample(z, steps=3, generator=g.manual_seed(0)),
        atol=1e-4,
    )


def test_load_macdiff_refuses_other_checkpoints(tmp_path):
    method = tiny_method()
    folder = export(method, tmp_path / "ckpt")
    cfg = (folder / "config.json").read_text().replace('"macdiff"', '"mamp"')
    (folder / "config.json").write_text(cfg)
    with pytest.raises(SkelrecError, match="not a MacDiff checkpoint"):
        md.load_macdiff(folder)


@pytest.mark.parametrize("name", ["ntu60_xsub", "ntu60_xview", "ntu120_xsub", "ntu120_xset", "pku_mmd_xsub"])
def test_paper_configs_build(name):
    cfg = load_config(CONFIGS / f"{name}.yaml")
    assert cfg.method.name == "macdiff" and cfg.data.augment.noise_std == 0.0
    assert cfg.optim.epochs == 400 and cfg.optim.batch_size == 128 and cfg.optim.min_lr == 1e-5
    spec = InputSpec("ntu25", cfg.data.clip_length, cfg.data.persons, cfg.data.channels)
    method = build_method("macdiff", build_encoder("transformer", **cfg.encoder.kwargs), spec, **cfg.method.kwargs)
    assert method.mask_ratio == 0.9 and method.diffusion.num_timesteps == 1000
    assert len(method.decoder.blocks) == 5


def test_trains_through_the_loop_and_augments_from_the_export(tmp_path):
    from skelrec.train import train

    overrides = [
        "method.name=macdiff",
        "encoder.kwargs={depth: 1, embed_dim: 16, num_heads: 2, patch_frames: 4}",
        "method.kwargs={decoder_dim: 16, decoder_depth: 1, decoder_heads: 2, diffusion_steps: 50}",
        "run.max_steps=3",
        f"run.out_dir={tmp_path / 'run'}",
    ]
    result = train(
        load_config(ROOT / "pretrain" / "configs" / "test" / "tiny.yaml", overrides),
        prepared=standins.MemoryPrepared(16),
    )
    assert result.step == 3 and result.loss == result.loss  # not NaN
    method = md.load_macdiff(result.export_dir)
    x = torch.randn(2, 2, 16, 20, 3) * 0.3
    mask = torch.ones(2, 2, 16, dtype=torch.bool)
    out = method.augment(x, mask, torch.tensor([0, 2]), n_per_sample=2, steps=2)
    assert out.x.shape == (4, 2, 16, 20, 3) and out.label.tolist() == [0, 0, 2, 2]


@pytest.mark.slow
def test_cpu_small_statistics_match_its_training_data(real_caches):
    from conftest import real_data_paths

    from skelrec.datasets.torch_data import build_dataset

    cfg = load_config(CONFIGS / "cpu_small.yaml", [real_data_paths(real_caches), "data.augment.rotate=0.0"])
    ds = build_dataset(cfg.data, train=True, seed=0)
    clips = [ds[i] for i in range(len(ds))]
    mean, var = md.input_statistics(torch.stack([c["x"] for c in clips]), torch.stack([c["mask"] for c in clips]))
    assert mean == pytest.approx(cfg.method.kwargs["input_mean"], abs=0.02)
    assert var == pytest.approx(cfg.method.kwargs["input_var"], rel=0.1)
