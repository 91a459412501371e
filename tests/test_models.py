"""Encoders, heads and their registry (skelrec.models) on small CPU configs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from skelrec.errors import SkelrecError
from skelrec.models import (
    ENCODERS,
    HEADS,
    Classifier,
    TransformerBlock,
    TransformerConfig,
    build_encoder,
    build_head,
)
from skelrec.models.stgcn import spatial_partition
from skelrec.skeleton import get_layout

LAYOUTS = [("ntu25", 3), ("coco17", 2), ("coco17", 3), ("kinect20", 3)]
SMALL = {
    "transformer": {"embed_dim": 32, "depth": 2, "num_heads": 4, "num_frames": 16},
    "bigru": {"hidden_size": 16, "num_layers": 2},
    "gin": {"embed_dim": 16, "depth": 2},
    "stgcn": {"channels": [8, 16], "strides": [1, 2]},
}
GRAPH_ENCODERS = ("gin", "stgcn")  # built for a layout, not a joint count


def small_encoder(name: str, layout: str, channels: int, **overrides):
    """A tiny encoder of family ``name`` for ``layout`` with ``channels`` input channels."""
    shape = {"layout": layout} if name in GRAPH_ENCODERS else {"num_joints": get_layout(layout).num_joints}
    return build_encoder(name, **{**SMALL[name], **shape, "in_channels": channels, **overrides})


def batch(n=2, m=2, t=16, v=25, c=3, seed=0) -> torch.Tensor:
    return torch.randn(n, m, t, v, c, generator=torch.Generator().manual_seed(seed))


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------- registry and configs


def test_registry_lists_the_encoder_families_and_the_heads():
    # (stand-ins that other test modules register are named test_*)
    assert sorted(n for n in ENCODERS.names() if not n.startswith("test_")) == [
        "bigru",
        "gin",
        "stgcn",
        "strl",
        "transformer",
    ]
    heads = sorted(n for n in HEADS.names() if not n.startswith("test_"))
    assert heads == ["knn", "linear", "mamp_finetune", "prototype"]  # + the few-shot heads of skelrec teach


def test_unknown_names_and_fields_are_named():
    with pytest.raises(SkelrecError, match=r"unknown encoder 'vit'.*transformer"):
        build_encoder("vit")
    with pytest.raises(SkelrecError, match=r"unknown TransformerConfig fields \['dept', 'width'\]"):
        build_encoder("transformer", dept=2, width=3)
    with pytest.raises(SkelrecError, match="unknown head"):
        build_head("mlp")


def test_config_types_and_values_are_checked():
    with pytest.raises(SkelrecError, match=r"TransformerConfig.depth must be int, got '8'"):
        TransformerConfig(depth="8")
    with pytest.raises(SkelrecError, match="person_mode must be one of 'concat', 'fold'"):
        build_encoder("bigru", person_mode="stack")
    with pytest.raises(SkelrecError, match="not a multiple of patch_frames"):
        TransformerConfig(num_frames=50)
    with pytest.raises(SkelrecError, match="unknown skeleton layout"):
        build_encoder("gin", layout="ntu26")
    assert TransformerConfig(mlp_ratio=2).mlp_ratio == 2.0  # ints are fine for floats


@pytest.mark.parametrize("name", ["transformer", "bigru", "gin", "stgcn"])
def test_config_round_trips_through_dict(name):
    enc = small_encoder(name, "ntu25", 3)
    d = enc.config.to_dict()
    assert type(enc.config).from_dict(d) == enc.config
    assert type(enc.config).from_dict(json.loads(json.dumps(d))) == enc.config  # as config.json stores it
    assert build_encoder(name, **d).config == enc.config


# ---------------------------------------------------------------- shapes on several layouts


@pytest.mark.parametrize(("layout", "channels"), LAYOUTS)
@pytest.mark.parametrize(
    ("name", "overrides", "grid"),
    [
        ("transformer", {}, lambda m, t, v: (m, t // 4, v)),
        ("bigru", {}, lambda m, t, v: (1, t, 1)),
        ("bigru", {"person_mode": "fold"}, lambda m, t, v: (m, t, 1)),
        ("gin", {}, lambda m, t, v: (m, t, v)),
        ("stgcn", {}, lambda m, t, v: (m, t // 2, v)),
    ],
    ids=["transformer", "bigru-concat", "bigru-fold", "gin", "stgcn"],
)
def test_encoder_shapes(name, overrides, grid, layout, channels):
    v = get_layout(layout).num_joints
    enc = small_encoder(name, layout, channels, **overrides).eval()
    x = batch(m=2, t=16, v=v, c=channels)
    feats = enc.forward_features(x)
    d = enc.embed_dim
    assert feats.shape == (2, *grid(2, 16, v), d)
    assert feats.shape[3] == enc.feature_joints
    assert enc(x, torch.ones(2, 2, 16, dtype=torch.bool)).shape == (2, d)
    with pytest.raises(SkelrecError, match=rf"expects input \(N, M, T, {v}, {channels}\)"):
        enc(batch(v=v + 1, c=channels))


@pytest.mark.parametrize("name", ["transformer", "bigru", "gin", "stgcn"])
def test_absent_persons_do_not_change_the_pooled_feature(name):
    """Persons are folded (or padded) and pooling skips invalid persons: a masked-out person is ignored."""
    enc = small_encoder(name, "ntu25", 3, **({"person_mode": "fold"} if name == "bigru" else {})).eval()
    one = batch(m=1)
    two = torch.cat([one, batch(m=1, seed=1)], dim=1)
    mask = torch.zeros(2, 2, 16, dtype=torch.bool)
    mask[:, 0] = True
    with torch.no_grad():
        torch.testing.assert_close(enc(two, mask), enc(one, mask[:, :1]))
        assert not torch.allclose(enc(two), enc(one))  # ... but counts when valid


def test_pooling_skips_invalid_frames():
    enc = small_encoder("gin", "ntu25", 3).eval()
    x = batch(m=1)
    mask = torch.ones(2, 1, 16, dtype=torch.bool)
    mask[:, :, 8:] = False
    garbage = x.clone()
    garbage[:, :, 8:] = 100.0
    with torch.no_grad():
        torch.testing.assert_close(enc(x, mask), enc(garbage, mask))
        torch.testing.assert_close(enc(x, mask), enc(x[:, :, :8]))


# ---------------------------------------------------------------- transformer


def test_transformer_paper_config_has_6_336M_parameters():
    enc = build_encoder("transformer")
    assert n_params(enc) == 6_336_000  # RECIPES.md section 4: 6.336M
    assert enc.temp_embed.shape == (1, 30, 1, 256) and enc.pos_embed.shape == (1, 1, 25, 256)  # 30 x 25 tokens
    assert enc.no_weight_decay() <= {name for name, _ in enc.named_parameters()}


def test_transformer_accepts_any_length_divisible_by_the_patch():
    enc = small_encoder("transformer", "ntu25", 3).eval()
    for t in (8, 16, 24):  # shorter than, equal to, longer than the embedding's 16 frames
        assert enc.forward_features(batch(t=t)).shape == (2, 2, t // 4, 25, 32)
    with pytest.raises(SkelrecError, match="not a multiple of the transformer's patch of 4 frames"):
        enc(batch(t=18))


def test_patchify_groups_consecutive_frames_of_one_joint():
    enc = small_encoder("transformer", "ntu25", 3)
    x = batch(n=1, m=1)[0]  # (1, 16, 25, 3)
    tokens = enc.patchify(x)
    expected = enc.patch_embed(x[0, 4:8, 7].reshape(-1))  # token (t'=1, v=7) = frames 4..7 of joint 7
    torch.testing.assert_close(tokens[0, 1, 7], expected)


def test_visible_token_path_matches_full_path_and_is_cheaper():
    enc = small_encoder("transformer", "ntu25", 3).eval()
    tokens = enc.embed(batch(m=1)[:, 0])  # (2, 4, 25, 32)
    length = tokens.shape[1] * tokens.shape[2]
    with torch.no_grad():
        full, layers = enc.forward_tokens(tokens, return_layers=True)
        kept_all = enc.forward_tokens(tokens, keep_idx=torch.arange(length).expand(2, -1))
        perm = torch.stack([torch.randperm(length, generator=torch.Generator().manual_seed(i)) for i in range(2)])
        permuted = enc.forward_tokens(tokens, keep_idx=perm)
    torch.testing.assert_close(kept_all, full)
    torch.testing.assert_close(permuted, torch.stack([full[i, perm[i]] for i in range(2)]))  # no position leak
    assert len(layers) == 2 and torch.allclose(enc.norm(layers[-1]), full)

    def flops(keep_idx):
        with FlopCounterMode(display=False) as counter:
            enc.forward_tokens(tokens, keep_idx=keep_idx)
        return counter.get_total_flops()

    assert flops(perm[:, : length // 10]) < flops(None) / 8  # 10% visible tokens


def test_visible_subset_equals_encoding_the_gathered_tokens_alone():
    enc = small_encoder("transformer", "ntu25", 3).eval()
    tokens = enc.embed(batch(m=1)[:, 0])
    keep = torch.tensor([[0, 5, 30, 99], [3, 4, 50, 60]])
    with torch.no_grad():
        visible = enc.forward_tokens(tokens, keep_idx=keep)
        alone = torch.stack([enc.forward_tokens(tokens.flatten(1, 2)[i : i + 1, keep[i]])[0] for i in range(2)])
    torch.testing.assert_close(visible, alone)


def test_drop_path_and_layer_scale():
    enc = small_encoder("transformer", "ntu25", 3, drop_path_rate=0.5, layer_scale_init=1e-4)
    assert [b.drop_path.p for b in enc.blocks] == [0.0, 0.5]
    assert torch.all(enc.blocks[0].ls1.gamma == 1e-4)
    x = batch()
    enc.train()
    torch.manual_seed(0)
    outs = [enc(x) for _ in range(4)]
    assert any(not torch.equal(outs[0], o) for o in outs[1:])  # stochastic depth is random in training
    enc.eval()
    torch.testing.assert_close(enc(x), enc(x))


def test_transformer_block_norm_is_replaceable():
    """A conditioned norm (MacDiff's feature modulation) receives the block's extra arguments."""

    class ScaledNorm(nn.LayerNorm):
        def forward(self, x, scale=None):
            out = super().forward(x)
            return out if scale is None else out * scale

    torch.manual_seed(0)
    plain = TransformerBlock(16, 4).eval()
    modulated = TransformerBlock(16, 4, norm_layer=ScaledNorm).eval()
    modulated.load_state_dict(plain.state_dict())
    x = torch.randn(2, 5, 16)
    torch.testing.assert_close(modulated(x, torch.ones(2, 5, 1)), plain(x))
    assert not torch.allclose(modulated(x, torch.full((2, 5, 1), 2.0)), plain(x))


# ---------------------------------------------------------------- BiGRU


def test_bigru_paper_config_has_45_0M_parameters():
    assert round(n_params(build_encoder("bigru")) / 1e6, 1) == 45.0  # RECIPES.md: HaLP BiGRU 45.0M
    assert build_encoder("bigru").embed_dim == 2048


def test_causal_bigru_equals_halps_frame_by_frame_bidirectional_gru():
    """HaLP's GRU.py feeds nn.GRU(bidirectional=True) one frame at a time, carrying the hidden state."""
    torch.manual_seed(0)
    enc = small_encoder("bigru", "ntu25", 3).eval()
    ref = nn.GRU(150, 16, num_layers=2, bidirectional=True, batch_first=True)
    for i, layer in enumerate(enc.layers):
        for cell, suffix in zip(layer.cells, ("", "_reverse"), strict=True):
            for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(ref, f"{w}_l{i}{suffix}").data.copy_(getattr(cell, f"{w}_l0"))
    seq = torch.randn(2, 10, 150)
    hidden, outputs = None, []
    with torch.no_grad():
        for t in range(seq.shape[1]):
            out, hidden = ref(seq[:, t : t + 1], hidden)
            outputs.append(out)
        expected = torch.cat(outputs, dim=1)  # (N, T, 2H)
        ours = seq
        for layer in enc.layers:
            ours = layer(ours)
    torch.testing.assert_close(ours, expected)


@pytest.mark.parametrize("causal", [True, False])
def test_bigru_last_readout_and_causality(causal):
    enc = small_encoder("bigru", "ntu25", 3, causal=causal, readout="last").eval()
    x = batch(m=2)
    changed = x.clone()
    changed[:, :, 12:] += 1.0
    mask = torch.ones(2, 2, 16, dtype=torch.bool)
    mask[:, :, 12:] = False
    enc.input_norm.eval()
    with torch.no_grad():
        f, g = enc.forward_features(x), enc.forward_features(changed)
        torch.testing.assert_close(enc.pool(f, mask), f[:, 0, 11, 0])  # last valid frame of the concatenation
        # frames after t change the output at t only for an ordinary bidirectional GRU
        assert torch.allclose(f[:, :, :12], g[:, :, :12]) == causal


def test_bigru_concat_pads_and_truncates_persons():
    enc = small_encoder("bigru", "ntu25", 3).eval()
    x = batch(m=1)
    with torch.no_grad():
        torch.testing.assert_close(enc(x), enc(torch.cat([x, torch.zeros_like(x)], dim=1)))
        torch.testing.assert_close(enc(torch.cat([x, x, x], dim=1)), enc(torch.cat([x, x], dim=1)))


# ---------------------------------------------------------------- GIN


@pytest.mark.parametrize("layout", ["coco17", "ntu25"])
def test_gin_uses_the_layout_graph(layout):
    lay = get_layout(layout)
    enc = small_encoder("gin", layout, 3, depth=1).eval()
    assert torch.equal(enc.layers[0].adjacency, torch.from_numpy(lay.adjacency))
    assert not any("adjacency" in k for k in enc.state_dict())  # derived from the config, not stored
    j = lay.index("left_elbow")
    neighbours = {c for c, p in lay.bones if p == j} | {p for c, p in lay.bones if c == j}
    far = lay.index("right_knee")
    x = batch(v=lay.num_joints)
    with torch.no_grad():
        base = enc.forward_features(x)[..., j, :]
        for k, should_change in [(far, False), (min(neighbours), True), (j, True)]:
            y = x.clone()
            y[..., k, :] += 1.0
            assert torch.allclose(enc.forward_features(y)[..., j, :], base) != should_change, (k, should_change)


def test_gin_embed_split_is_the_mask_token_hook():
    enc = small_encoder("gin", "coco17", 3).eval()
    x = batch(v=17)
    with torch.no_grad():
        torch.testing.assert_close(enc.forward_embedded(enc.embed(x)), enc.forward_features(x))
        token = torch.zeros(16)
        joint_mask = torch.zeros(2, 2, 16, 17, dtype=torch.bool)
        joint_mask[..., :5] = True  # the head region
        h = torch.where(joint_mask[..., None], token, enc.embed(x))
        changed = x.clone()
        changed[..., :5, :] = 7.0
        h2 = torch.where(joint_mask[..., None], token, enc.embed(changed))
        torch.testing.assert_close(enc.forward_embedded(h), enc.forward_embedded(h2))  # masked joints are hidden


# ---------------------------------------------------------------- heads and classifier


def test_mamp_finetune_head_paper_size():
    head = build_head("mamp_finetune", num_classes=60)
    assert round(n_params(head) / 1e6, 2) == 13.24  # RECIPES.md: 13.24M for 60 classes


@pytest.mark.parametrize("name", ["transformer", "bigru", "gin"])
@pytest.mark.parametrize("head_name", ["linear", "mamp_finetune"])
def test_classifier_logits(name, head_name):
    enc = small_encoder(name, "ntu25", 3)
    extra = {"num_joints": enc.feature_joints, "hidden_dim": 32} if head_name == "mamp_finetune" else {}
    model = Classifier(enc, build_head(head_name, in_dim=enc.embed_dim, num_classes=5, **extra))
    x, mask = batch(), torch.ones(2, 2, 16, dtype=torch.bool)
    logits = model(x, mask)
    assert logits.shape == (2, 5)
    logits.sum().backward()  # trainable end to end
    assert model.features(x, mask).shape == (2, enc.embed_dim)


@pytest.mark.parametrize("pooling", ["joints", "segments", "segment_joints"])
@pytest.mark.parametrize("head_name", ["linear", "prototype", "knn"])
def test_classifier_feeds_a_head_the_pooling_its_config_names(pooling, head_name, tmp_path):
    from skelrec.hub import architecture, load_model, save_checkpoint
    from skelrec.models.pooling import get_pooling

    enc = small_encoder("transformer", "ntu25", 3).eval()
    x, mask = batch(), torch.ones(2, 2, 16, dtype=torch.bool)
    mask[1, 1] = False  # the second clip's second person is padding
    with torch.no_grad():
        pooled = get_pooling(pooling)(enc, enc.forward_features(x, mask), mask)
    head = build_head(head_name, pooling=pooling, in_dim=pooled.shape[1], num_classes=3).eval()
    for name, buffer in head.named_buffers():
        if name in ("prototypes", "bank", "center"):  # the few-shot heads' stored features (zeros when built)
            buffer.copy_(torch.randn_like(buffer))
    model = Classifier(enc, head).eval()
    assert head.pooling == pooling and pooled.shape[1] > enc.embed_dim
    with torch.no_grad():
        torch.testing.assert_close(model.features(x, mask), pooled)
        torch.testing.assert_close(model(x, mask), head(pooled))
        config = {
            **architecture(model),
            "layout": "ntu25",
            "normalization": {},
            "clip_length": 16,
            "num_persons": 2,
            "labels": ["a", "b", "c"],
        }
        loaded, saved = load_model(save_checkpoint(tmp_path / "model", model.state_dict(), config))
        assert saved.head is not None and saved.head.config["pooling"] == pooling
        torch.testing.assert_close(loaded(x, mask), model(x, mask))  # labeling applies the same pooling


def test_head_pooling_defaults_to_the_encoder_mean_and_is_checked():
    assert build_head("linear", in_dim=8, num_classes=2).pooling == "mean"  # configs saved before the field
    gru = small_encoder("bigru", "ntu25", 3).eval()
    model = Classifier(gru, build_head("knn", in_dim=32, num_classes=2))
    x, mask = batch(), torch.ones(2, 2, 16, dtype=torch.bool)
    with torch.no_grad():
        torch.testing.assert_close(model.features(x, mask), gru(x, mask))  # the GRU's readout, 2 x 16 wide
    with pytest.raises(SkelrecError, match=r"^unknown pooling 'max'; choose from mean, joints, segments, segment_"):
        build_head("prototype", pooling="max", in_dim=8)


def test_classifier_ignores_invalid_persons_with_token_head():
    enc = small_encoder("transformer", "ntu25", 3)
    model = Classifier(enc, build_head("mamp_finetune", in_dim=32, num_joints=25, num_classes=4, hidden_dim=8)).eval()
    x = batch()
    mask = torch.ones(2, 2, 16, dtype=torch.bool)
    mask[:, 1] = False
    noisy = x.clone()
    noisy[:, 1] = 50.0
    with torch.no_grad():
        torch.testing.assert_close(model(x, mask), model(noisy, mask))
        torch.testing.assert_close(model(x, mask), model(x[:, :1]))


def test_token_head_rejects_a_mismatched_encoder():
    enc = small_encoder("gin", "coco17", 3)
    model = Classifier(enc, build_head("mamp_finetune", in_dim=16, num_joints=25, num_classes=4))
    with pytest.raises(SkelrecError, match=r"num_joints=encoder.feature_joints"):
        model(batch(v=17))


def test_linear_head_is_the_mamp_probe():
    head = build_head("linear", in_dim=8, num_classes=3)
    assert isinstance(head.norm, nn.BatchNorm1d) and not head.norm.affine
    assert [n for n, _ in head.named_parameters()] == ["fc.weight", "fc.bias"]


# ---------------------------------------------------------------- ST-GCN


def test_stgcn_paper_config_has_3_1M_parameters():
    enc = build_encoder("stgcn")  # ntu25, 10 blocks 64-256 (Yan et al. 2018: 3.1M with the 60-class fc)
    assert n_params(enc) + 256 * 60 + 60 == pytest.approx(3.1e6, rel=0.01)
    assert enc.embed_dim == 256 and enc.time_stride == 4


def test_stgcn_spatial_partition_by_hand():
    """kinect20: spine_base is the centre; spine_mid is one bone away, spine_shoulder two."""
    lay = get_layout("kinect20")
    root, inward, outward = spatial_partition("kinect20")
    spine, shoulder_c = lay.index("spine_mid"), lay.index("spine_shoulder")
    # spine_mid -> spine_shoulder goes away from the centre: the sender is nearer the centre than the receiver
    assert inward[spine, shoulder_c] > 0 and outward[spine, shoulder_c] == root[spine, shoulder_c] == 0
    assert outward[shoulder_c, spine] > 0 and inward[shoulder_c, spine] == 0
    assert root[spine, spine] > 0  # self loops are the root subset
    # the two hips are both one bone from the centre but not neighbours: no edge at all
    lh, rh = lay.index("left_hip"), lay.index("right_hip")
    assert root[lh, rh] == inward[lh, rh] == outward[lh, rh] == 0
    # columns of the sum are normalised by the receiver's degree; every entry follows a bone or a self loop
    total = root + inward + outward
    np.testing.assert_allclose(total.sum(axis=0), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(total > 0, lay.adjacency.astype(bool) | np.eye(lay.num_joints, dtype=bool))
    # far from the centre (wrist -> hand) the subsets still differ: distances are geodesic, not capped at one hop
    wrist, hand = lay.index("right_wrist"), lay.index("right_hand")
    assert inward[wrist, hand] > 0 and outward[hand, wrist] > 0


def test_stgcn_is_local_in_the_graph():
    """One block sees a joint's bone neighbours only: a perturbed hand leaves the far foot's features alone."""
    lay = get_layout("kinect20")
    enc = build_encoder("stgcn", layout="kinect20", channels=[8], strides=[1]).eval()
    x = batch(m=1, v=20)
    moved = x.clone()
    moved[..., lay.index("right_hand"), :] += 1.0
    with torch.no_grad():
        a, b = enc.forward_features(x), enc.forward_features(moved)
    changed = (a - b).abs().amax(dim=(0, 1, 2, 4)) > 1e-6
    near = {lay.index(n) for n in ("right_hand", "right_wrist")}
    assert {int(j) for j in torch.nonzero(changed)} == near


def test_stgcn_config_errors_are_named():
    with pytest.raises(SkelrecError, match="same length"):
        build_encoder("stgcn", channels=[8, 16], strides=[1])
    with pytest.raises(SkelrecError, match="must be odd"):
        build_encoder("stgcn", temporal_kernel=4)
    with pytest.raises(SkelrecError, match=r"STGCNConfig.channels must be a list of int"):
        build_encoder("stgcn", channels=[8.5])
    enc = build_encoder("stgcn", layout="kinect20", channels=[8, 8], strides=[2, 2])
    with pytest.raises(SkelrecError, match="multiple of 4"):
        enc(batch(m=1, t=18, v=20))
