"""SkeletonMAE (skelrec.ssl.skeletonmae) and its STRL downstream model (skelrec.models.strl)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import train_standins as standins

from skelrec.config import load_config
from skelrec.errors import SkelrecError
from skelrec.models import ENCODERS, Classifier, build_encoder, build_head, strl_from_gin
from skelrec.skeleton import get_layout
from skelrec.ssl import InputSpec, build_encoder_for, build_method
from skelrec.ssl.skeletonmae import body_part_mask, random_body_part_mask, region_matrix, scaled_cosine_error
from skelrec.train import train

CPU_SMALL = Path(__file__).resolve().parent.parent / "pretrain" / "configs" / "skeletonmae" / "cpu_small.yaml"

# The paper's best mask, V3 + V5 = right arm + right leg, in each layout (joint names of skelrec.skeleton).
RIGHT_ARM_AND_LEG = {
    "ntu25": {"right_elbow", "right_wrist", "right_hand", "right_hand_tip", "right_thumb"}
    | {"right_knee", "right_ankle", "right_foot"},
    "kinect20": {"right_elbow", "right_wrist", "right_hand", "right_knee", "right_ankle", "right_foot"},
    "coco17": {"right_elbow", "right_wrist", "right_knee", "right_ankle"},
}


def small_mae(layout: str = "ntu25", channels: int = 3, **options) -> torch.nn.Module:
    torch.manual_seed(0)
    spec = InputSpec(layout, frames=8, persons=2, channels=channels)
    encoder = build_encoder_for(spec, "gin", embed_dim=16, depth=2)
    return build_method("skeletonmae", encoder, spec, **options)


def clip_batch(layout: str = "ntu25", channels: int = 3, n: int = 4, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, 8, get_layout(layout).num_joints, channels, generator=g)
    mask = torch.ones(n, 2, 8, dtype=torch.bool)
    mask[::2, 1] = False  # every other clip has one person
    x[::2, 1] = 0.0
    return {"x": x, "mask": mask, "label": torch.zeros(n, dtype=torch.long), "index": torch.arange(n)}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run fastest on one thread (and leave the other core to the rest of the machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ----------------------------------------------------------------------------------------------------------------
# Body-part masks.
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", sorted(RIGHT_ARM_AND_LEG))
def test_the_paper_mask_is_the_right_arm_and_leg_of_the_layout(layout):
    lay = get_layout(layout)
    mask = body_part_mask(layout, ["right_arm", "right_leg"])
    assert {lay.joints[j] for j in torch.nonzero(mask).flatten().tolist()} == RIGHT_ARM_AND_LEG[layout]
    regions = region_matrix(layout)
    assert regions.shape == (6, lay.num_joints)
    assert regions.sum(dim=0).tolist() == [1] * lay.num_joints  # the six regions partition the joints


def test_coco17_regions_have_the_paper_sizes():
    # Fig. 2d: 5 head joints, 4 torso joints, 2 joints per limb.
    assert region_matrix("coco17").sum(dim=1).tolist() == [5, 4, 2, 2, 2, 2]
    assert list(get_layout("coco17").regions) == ["head", "torso", "left_arm", "right_arm", "left_leg", "right_leg"]


@pytest.mark.parametrize("layout", sorted(RIGHT_ARM_AND_LEG))
def test_random_region_masks_are_unions_of_whole_regions(layout):
    regions = region_matrix(layout)
    mask = random_body_part_mask(regions, (3, 2, 50), 2, generator=torch.Generator().manual_seed(0))
    assert mask.shape == (3, 2, 50, get_layout(layout).num_joints)
    covered = (mask[..., None, :] & regions).sum(-1)  # (3, 2, 50, 6) masked joints of each region
    whole = covered == regions.sum(-1)
    assert bool(((covered == 0) | whole).all())  # a region is masked entirely or not at all
    assert (whole.sum(-1) == 2).all()  # exactly two regions per person-frame
    assert len({tuple(row.tolist()) for row in mask.reshape(-1, mask.shape[-1])}) > 5  # drawn anew per frame


def test_unknown_region_is_an_error():
    with pytest.raises(SkelrecError, match=r"right_hand.*regions: head, torso"):
        body_part_mask("ntu25", ["right_hand"])


# ----------------------------------------------------------------------------------------------------------------
# Scaled cosine error.
# ----------------------------------------------------------------------------------------------------------------


def test_scaled_cosine_error_hand_case():
    pred = torch.tensor([[1.0, 0.0], [1.0, 1.0], [3.0, 0.0], [0.0, 5.0]])
    target = torch.tensor([[0.0, 1.0], [1.0, 0.0], [2.0, 0.0], [1.0, 0.0]])
    weight = torch.tensor([True, True, True, False])
    expected = (1.0 + (1.0 - 1.0 / math.sqrt(2.0)) ** 2 + 0.0) / 3.0  # cos = 0, 1/sqrt(2), 1; last row unweighted
    assert scaled_cosine_error(pred, target, weight, beta=2.0).item() == pytest.approx(expected, rel=1e-5)
    assert scaled_cosine_error(pred, target, weight, beta=1.0).item() == pytest.approx(
        (1.0 + 1.0 - 1.0 / math.sqrt(2.0)) / 3.0, rel=1e-5
    )


def test_scaled_cosine_error_gradient_is_zero_on_unmasked_joints():
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(2, 5, 4, 3, generator=g, requires_grad=True)
    target = torch.randn(2, 5, 4, 3, generator=g)
    weight = torch.rand(2, 5, 4, generator=g) < 0.4
    scaled_cosine_error(pred, target, weight, beta=2.0).backward()
    assert bool((pred.grad[~weight] == 0).all())
    assert bool((pred.grad[weight].abs().sum(-1) > 0).all())


def test_method_loss_has_no_gradient_from_unmasked_joints():
    method = small_mae()
    batch = clip_batch()
    joint_mask = method.joint_mask(batch["x"].shape[:3])
    pred = method.reconstruct(batch["x"], joint_mask)
    pred.retain_grad()
    weight = joint_mask & batch["mask"][..., None]
    scaled_cosine_error(pred, batch["x"], weight, method.beta).backward()
    assert bool((pred.grad[~joint_mask] == 0).all())
    assert bool((pred.grad[weight].abs().sum(-1) > 0).all())


# ----------------------------------------------------------------------------------------------------------------
# The method.
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("layout", "channels"), [("ntu25", 3), ("kinect20", 3), ("coco17", 2), ("coco17", 3)])
def test_masked_joints_are_hidden_from_the_encoder(layout, channels):
    method = small_mae(layout, channels)
    batch = clip_batch(layout, channels)
    joint_mask = method.joint_mask(batch["x"].shape[:3])
    assert bool(joint_mask[0, 0, 0].eq(body_part_mask(layout, ["right_arm", "right_leg"])).all())
    changed = batch["x"].clone()
    changed[joint_mask] = 100.0  # other coordinates on the masked joints
    with torch.no_grad():
        same = method.reconstruct(batch["x"], joint_mask), method.reconstruct(changed, joint_mask)
    assert torch.allclose(*same)
    out = method(batch)
    assert out["loss"].ndim == 0 and math.isfinite(out["loss"].item())
    assert float(out["masked_joints"]) == pytest.approx(len(RIGHT_ARM_AND_LEG[layout]) / get_layout(layout).num_joints)


def test_a_few_steps_reduce_the_loss_on_a_fixed_batch():
    method = small_mae()
    batch = clip_batch(n=8)
    g = torch.Generator().manual_seed(0)
    pose = torch.randn(25, 3, generator=g)  # one pose moved around: masked joints follow from the visible ones
    batch["x"] = (pose + 0.5 * torch.randn(8, 2, 8, 1, 3, generator=g)) * batch["mask"][..., None, None]
    opt = torch.optim.Adam(method.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        out = method(batch)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(out["loss"].item())
    trained = [p for p in method.parameters() if p.grad is not None]
    assert len(trained) == len(list(method.parameters()))  # encoder, [MASK] token, projection and decoder all learn
    assert losses[-1] < 0.7 * losses[0]


@pytest.mark.parametrize(("decoder_depth", "hears"), [(1, False), (2, True)])
def test_a_remasked_joint_hears_the_visible_joints_only_through_a_deeper_decoder(decoder_depth, hears):
    # ntu25's right wrist: both neighbours (elbow, hand) are masked, so after the re-mask a 1-layer GIN decoder
    # predicts it from zeros; a second decoder layer reaches the visible shoulder two hops away.
    method = small_mae(decoder_depth=decoder_depth)
    x = clip_batch()["x"].requires_grad_(True)
    joint_mask = method.joint_mask(x.shape[:3])
    wrist = get_layout("ntu25").index("right_wrist")
    method.reconstruct(x, joint_mask)[..., wrist, :].sum().backward()
    assert bool(x.grad.abs().sum() > 0) == hears
    assert len(method.decoder_hidden) == decoder_depth - 1


def test_random_regions_option_and_errors():
    method = small_mae(random_regions=3)
    masks = method.joint_mask((2, 2, 8))
    assert not torch.equal(masks[0, 0, 0], masks[1, 1, 7]) or not torch.equal(masks[0, 0, 0], masks[0, 1, 3])
    spec = InputSpec("ntu25", frames=8, persons=2, channels=3)
    with pytest.raises(SkelrecError, match=r"encoder\.name: gin"):
        build_method("skeletonmae", build_encoder_for(spec, "bigru", hidden_size=4, num_layers=1), spec)
    gin = build_encoder("gin", layout="kinect20", embed_dim=8, depth=1)
    with pytest.raises(SkelrecError, match="built for layout kinect20"):
        build_method("skeletonmae", gin, spec)
    with pytest.raises(SkelrecError, match=r"^method\.kwargs\.random_regions: must be in \[0, 6\] \(ntu25\), got 7$"):
        small_mae(random_regions=7)
    with pytest.raises(SkelrecError, match=r"^method\.kwargs\.decoder_depth: must be >= 1, got 0$"):
        small_mae(decoder_depth=0)
    with pytest.raises(SkelrecError, match=r"^method\.kwargs: method 'skeletonmae' has no option mask_ratio"):
        small_mae(mask_ratio=0.5)


def test_skeletonmae_trains_through_the_loop_with_its_cpu_config(tmp_path):
    cfg = load_config(
        CPU_SMALL, [f"run.out_dir={tmp_path / 'run'}", "run.max_steps=3", "optim.batch_size=8", "data.clip_length=16"]
    )
    result = train(cfg, prepared=standins.MemoryPrepared())
    assert result.step == 3 and math.isfinite(result.loss)
    assert (result.export_dir / "model.safetensors").is_file()
    assert result.method.encoder.config.layout == "kinect20"


# ----------------------------------------------------------------------------------------------------------------
# STRL.
# ----------------------------------------------------------------------------------------------------------------


def test_strl_starts_every_person_encoder_from_the_pretrained_gin():
    gin = build_encoder("gin", layout="ntu25", embed_dim=16, depth=2)
    model = strl_from_gin(gin, num_layers=3)
    assert model.config.num_layers == 3 and model.config.gin_depth == 2
    assert torch.equal(model.joint_embed.weight, gin.joint_embed.weight)
    for layer in model.layers:
        assert len(layer.persons) == 2
        for stack in layer.persons:
            for mine, pretrained in zip(stack, gin.layers, strict=True):
                assert torch.equal(mine.mlp[0].weight, pretrained.mlp[0].weight) and torch.equal(
                    mine.eps, pretrained.eps
                )
    with pytest.raises(SkelrecError, match="come from the pretrained GIN"):
        strl_from_gin(gin, embed_dim=32)
    other = ENCODERS["strl"].build(layout="ntu25", embed_dim=32, gin_depth=2)
    with pytest.raises(SkelrecError, match="do not fit this STRL model"):
        other.load_gin_state(gin.state_dict())


def test_strl_classifier_fine_tunes_end_to_end():
    torch.manual_seed(0)
    gin = build_encoder("gin", layout="coco17", in_channels=3, embed_dim=16, depth=1)
    model = Classifier(strl_from_gin(gin, num_layers=2), build_head("linear", in_dim=16, num_classes=5))
    batch = clip_batch("coco17", 3)
    logits = model(batch["x"], batch["mask"])
    assert logits.shape == (4, 5)
    torch.nn.functional.cross_entropy(logits, torch.arange(4)).backward()
    assert all(p.grad is not None for p in model.encoder.parameters() if p.requires_grad)
    feats = model.encoder.forward_features(batch["x"], batch["mask"])
    assert feats.shape == (4, 2, 8, 17, 16)
    assert not bool(feats[0, 1].any())  # the absent second person stays zero
    one_person = model.encoder.forward_features(batch["x"][:, :1], batch["mask"][:, :1])  # padded to 2 persons
    assert one_person.shape == (4, 2, 8, 17, 16) and not bool(one_person[:, 1].any())
