"""Evaluation protocols (skelrec.evaluate) and the supervised method, on tiny synthetic NW-UCLA caches.

The caches are real prepared caches (``skelrec.datasets.prepare`` with the NW-UCLA reader) of synthetic clips written
in the NW-UCLA JSON format: three actions whose joints drift along a class-specific direction, so the classes are
separable; views 1-2 only (like the ../shared copy: the cross-view test part is absent) or views 1-3.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import save_encoder
from typer.testing import CliRunner

from skelrec.checkpoint import architecture, load_checkpoint, load_model, save_checkpoint
from skelrec.cli import app
from skelrec.config import OptimConfig
from skelrec.datasets.cache import PreparedDataset
from skelrec.datasets.prepare import prepare_dataset
from skelrec.errors import SkelrecError
from skelrec.evaluate import (
    EvalContext,
    FinetuneSettings,
    KnnSettings,
    LinearSettings,
    classification_metrics,
    extract_features,
    fit_linear_probe,
    generate_clips,
    knn_scores,
    load_augmenter,
    run_finetune,
    run_knn,
    run_linear,
    run_semi,
    semi_subset,
    write_result,
)
from skelrec.models import Classifier, build_encoder
from skelrec.models.pooling import POOLINGS, pooled_width
from skelrec.skeleton import Normalization
from skelrec.ssl import build_method
from skelrec.ssl.base import InputSpec
from skelrec.ssl.supervised import Supervised, downstream_encoder, layer_decay_groups

ACTIONS = (1, 2, 3)  # NW-UCLA action codes a01-a03 -> labels 0-2 (of the reader's 10 classes)
SUBJECTS = (1, 2, 3, 4)  # xsub: odd subjects train, even test
CLIP = 16
TINY = {"in_channels": 3, "num_joints": 20, "num_frames": CLIP, "patch_frames": 4, "embed_dim": 16, "depth": 2}
SPEC = InputSpec("kinect20", CLIP, 1, 3)


def write_ucla(raw: Path, views: tuple[int, ...], episodes: int = 2, seed: int = 0) -> None:
    """Synthetic NW-UCLA ``all_sqe`` JSON clips: a fixed pose whose joints drift along the action's direction."""
    rng = np.random.default_rng(seed)
    pose = rng.normal(0.0, 0.3, (20, 3)) + np.array([0.0, 0.0, 2.5])  # 2.5 m from the camera
    drift = rng.normal(0.0, 0.3, (len(ACTIONS), 20, 3))
    raw.mkdir(parents=True)
    for label, action in enumerate(ACTIONS):
        for subject in SUBJECTS:
            for episode in range(episodes):
                for view in views:
                    frames = int(rng.integers(20, 30))
                    phase = np.linspace(0.0, 1.0, frames)[:, None, None]
                    clip = pose + drift[label] * phase + rng.normal(0.0, 0.02, (frames, 20, 3))
                    stem = f"a{action:02d}_s{subject:02d}_e{episode:02d}_v{view:02d}"
                    doc = {"file_name": stem, "skeletons": clip.round(5).tolist(), "label": label + 1}
                    (raw / f"{stem}.json").write_text(json.dumps(doc), encoding="utf-8")


@pytest.fixture(scope="module")
def caches(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``two_views``: views 1-2 (no cross-view test part); ``three_views``: views 1-3."""
    root = tmp_path_factory.mktemp("ucla")
    out = {}
    for name, views in (("two_views", (1, 2)), ("three_views", (1, 2, 3))):
        write_ucla(root / f"raw_{name}", views)
        prepare_dataset("nw_ucla", root / f"raw_{name}", root / name, workers=1, progress=False)
        out[name] = root / name
    return out


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 'pretrained' tiny transformer (random weights, seed 0) saved as an encoder checkpoint for kinect20 input."""
    torch.manual_seed(0)
    encoder = build_encoder("transformer", num_heads=2, **TINY)
    return save_encoder(tmp_path_factory.mktemp("ckpt") / "encoder", encoder, method="mamp", clip_length=CLIP)


# ------------------------------------------------------------------------------------------------------------------
# Context: protocols, parts, encoders.
# ------------------------------------------------------------------------------------------------------------------


def test_auto_protocol_is_cross_view_when_view_3_exists_else_cross_subject(caches, checkpoint):
    with_view3 = EvalContext.open(checkpoint, caches["three_views"])
    without = EvalContext.open(checkpoint, caches["two_views"])
    assert with_view3.protocol == "xview"
    assert without.protocol == "xsub"
    assert {len(with_view3.part("train")), len(with_view3.part("test"))} == {48, 24}  # views 1, 2 -> 3
    assert len(without.part("train")) == len(without.part("test")) == 24  # subjects 1, 3 / 2, 4


def test_missing_test_part_is_a_clear_error(caches, checkpoint):
    with pytest.raises(SkelrecError, match=r"no split 'xview' \(no test samples.*this cache has: xsub"):
        EvalContext.open(checkpoint, caches["two_views"], protocol="xview")


KEPT = ("drop trash", "pick up with one hand")  # a03, a01: a class filter, relabelled 0, 1 in this order


def test_restricted_view_keeps_the_named_classes_relabelled_in_their_order(caches):
    whole = PreparedDataset(caches["two_views"], "xsub", "train")
    view = whole.restrict_classes(KEPT)
    assert view.classes == list(KEPT) and len(view) == 16  # 2 of the 3 actions: 2 subjects x 2 episodes x 2 views
    assert sorted(set(view.labels.tolist())) == [0, 1]
    for i in range(len(view)):
        sample = view[i]
        assert sample.label == view.labels[i] and sample.label_name == KEPT[sample.label]
    assert view.subset([0]).classes == list(KEPT)  # a subset of the view keeps its classes and labels
    again = view.restrict_classes(KEPT[1:])
    assert again.classes == [KEPT[1]] and len(again) == 8 and set(again.labels.tolist()) == {0}
    with pytest.raises(SkelrecError, match="no class 'wave' in nw_ucla; its classes are: pick up with one hand"):
        whole.restrict_classes(["wave"])
    with pytest.raises(SkelrecError, match="distinct class names"):
        whole.restrict_classes([KEPT[0], KEPT[0]])


def test_class_filter_restricts_both_parts_and_the_outputs(caches, checkpoint):
    ctx = EvalContext.open(checkpoint, caches["two_views"], classes=KEPT)
    assert ctx.classes == list(KEPT)
    for part in ("train", "test"):
        data = ctx.part(part)
        assert len(data) == 16 and set(data.labels.tolist()) == {0, 1}
        assert all(data[i].label_name == KEPT[data[i].label] for i in range(len(data)))
    result = run_linear(ctx, LinearSettings(epochs=2, batch_size=8), device="cpu")
    assert result.sizes == {"train": 16, "test": 16, "classes": 2}
    with pytest.raises(SkelrecError, match="either a class filter"):
        EvalContext.open(checkpoint, caches["two_views"], classes=KEPT, vocabulary="unified")
    with pytest.raises(SkelrecError, match="no class 'carry x'"):
        EvalContext.open(checkpoint, caches["two_views"], classes=["carry x"])
    with pytest.raises(SkelrecError, match="no sample of the classes kept"):
        EvalContext.open(checkpoint, caches["two_views"], classes=["carry"]).part("train")


def test_a_normalization_change_reaches_the_input_pipeline(caches, checkpoint):
    plain = EvalContext.open(checkpoint, caches["two_views"])
    aligned = EvalContext.open(checkpoint, caches["two_views"], normalization={"align": True})
    assert aligned.data.normalization.align and not plain.data.normalization.align
    assert aligned.data.normalization.center == plain.data.normalization.center  # the other fields are the model's
    first = [ctx.torch_dataset(ctx.part("test"))[0]["x"] for ctx in (plain, aligned)]
    assert first[0].shape == first[1].shape and not torch.allclose(first[0], first[1])


def test_pretrained_encoder_has_the_checkpoint_weights_random_one_does_not(caches, checkpoint):
    state, _ = load_checkpoint(checkpoint)
    pretrained = EvalContext.open(checkpoint, caches["two_views"]).build_encoder(seed=3).state_dict()
    random = EvalContext.open(checkpoint, caches["two_views"], init="random").build_encoder(seed=3).state_dict()
    assert all(torch.equal(pretrained[k], v) for k, v in state.items())
    assert not torch.equal(random["patch_embed.weight"], state["patch_embed.weight"])
    assert random.keys() == state.keys()
    with pytest.raises(SkelrecError, match="init must be one of pretrained, random"):
        EvalContext.open(checkpoint, caches["two_views"], init="imagenet")  # type: ignore[arg-type]


def test_joints_pooling_keeps_every_joint_token(caches, checkpoint):
    ctx = EvalContext.open(checkpoint, caches["two_views"])
    data = ctx.torch_dataset(ctx.part("test"))
    feats, labels = extract_features(ctx.build_encoder(), data, pooling="joints", batch_size=10)
    assert feats.shape == (24, 20 * 16) and labels.tolist() == [data.prepared[i].label for i in range(24)]
    mean, _ = extract_features(ctx.build_encoder(), data, pooling="mean", batch_size=7)
    torch.testing.assert_close(mean, feats.reshape(24, 20, 16).mean(dim=1), atol=1e-5, rtol=1e-5)  # one person


def test_segments_pooling_averages_the_valid_steps_of_each_quarter_in_order():
    from skelrec.models.pooling import SEGMENTS, pool_segments

    n, t, v, d = 2, 12, 3, 5
    feats = torch.randn(n, 2, t, v, d)
    mask = torch.ones(n, 2, t, dtype=torch.bool)
    mask[1, :, 8:] = False  # clip 1: 8 valid steps -> quarters of 2 steps
    mask[0, 1] = False  # clip 0: the second person is padding
    pooled = pool_segments(None, feats, mask).reshape(n, SEGMENTS, d)
    assert SEGMENTS == 4
    for k in range(4):
        torch.testing.assert_close(pooled[0, k], feats[0, 0, 3 * k : 3 * k + 3].mean(dim=(0, 1)))
        torch.testing.assert_close(pooled[1, k], feats[1, :, 2 * k : 2 * k + 2].mean(dim=(0, 1, 2)))
    assert not torch.allclose(pooled[0, 0], pooled[0, 3])  # the order of the movement is kept


def test_segment_joints_pooling_keeps_the_joints_of_each_segment():
    from skelrec.models.pooling import SEGMENTS, pool_segment_joints, pool_segments

    n, t, v, d = 2, 12, 3, 5
    feats = torch.randn(n, 2, t, v, d)
    mask = torch.ones(n, 2, t, dtype=torch.bool)
    mask[1, :, 6:] = False  # clip 1: 6 valid steps -> segments of 2, 1, 2, 1 steps
    grid = pool_segment_joints(None, feats, mask).reshape(n, SEGMENTS, v, d)
    torch.testing.assert_close(grid[0, 2], feats[0, :, 6:9].mean(dim=(0, 1)))  # (V, D): joints kept apart
    torch.testing.assert_close(grid[1, 1], feats[1, :, 2].mean(dim=0))  # the second segment: step 2 alone
    torch.testing.assert_close(grid.mean(dim=2).reshape(n, -1), pool_segments(None, feats, mask))


# ------------------------------------------------------------------------------------------------------------------
# Metrics, linear probe, kNN.
# ------------------------------------------------------------------------------------------------------------------


def test_metrics_topk_and_per_class():
    scores = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.5, 0.3], [0.1, 0.6, 0.3], [0.0, 0.0, 1.0]])
    labels = torch.tensor([0, 2, 1, 1])
    metrics, rows = classification_metrics(scores, labels, ["a", "b", "c", "d"])
    assert metrics["top1"] == 50.0 and metrics["top5"] == 100.0
    assert [(r["correct"], r["total"], r["accuracy"]) for r in rows] == [
        (1, 1, 100.0),
        (1, 2, 50.0),
        (0, 1, 0.0),
        (0, 0, None),
    ]
    assert metrics["mean_class"] == 50.0  # classes present: 100, 50, 0


def test_linear_probe_separates_separable_features():
    gen = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 12, generator=gen) * 3
    labels = torch.arange(4).repeat_interleave(50)
    feats = centres[labels] + torch.randn(200, 12, generator=gen)
    head = fit_linear_probe(lambda epoch: (feats, labels), 4, LinearSettings(epochs=20, batch_size=32))
    with torch.no_grad():
        accuracy = (head(feats).argmax(dim=1) == labels).float().mean()
    assert accuracy > 0.97


def test_linear_evaluation_on_a_cache_reaches_high_accuracy(caches, checkpoint, tmp_path):
    ctx = EvalContext.open(checkpoint, caches["two_views"])
    result = run_linear(ctx, LinearSettings(epochs=40, batch_size=8), device="cpu", batch_size=16)
    assert result.metrics["top1"] >= 90.0, result.table()
    assert result.sizes == {"train": 24, "test": 24, "classes": 10}
    assert [r["total"] for r in result.per_class[:3]] == [8, 8, 8]
    out = write_result(result, tmp_path / "sub" / "linear.json")
    saved = json.loads(out.read_text())
    assert saved["protocol"] == "linear" and saved["split"] == "xsub" and saved["metrics"] == result.metrics
    assert saved["settings"]["lr"] == 0.1 and saved["settings"]["feature_dim"] == 16
    assert "top1" in result.table() and "pick up with one hand" in result.table()


def test_linear_probe_with_augmentation_runs_on_the_random_init_control(caches, checkpoint):
    ctx = EvalContext.open(checkpoint, caches["two_views"], init="random")
    result = run_linear(ctx, LinearSettings(epochs=2, batch_size=8, augment=True), device="cpu")
    assert result.init == "random" and 0.0 <= result.metrics["top1"] <= 100.0


def test_knn_votes_by_hand():
    train = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]])
    labels = torch.tensor([0, 1, 1, 2])
    query = torch.tensor([[2.0, 0.2], [0.0, -1.0]])
    scores = knn_scores(train, labels, query, k=2, temperature=0.5, num_classes=3)
    cos = torch.nn.functional.normalize(query, dim=1) @ torch.nn.functional.normalize(train, dim=1).T
    # query 0: nearest [1,0] (class 0) and [1,1] (class 1); query 1: cos [0, -1, -0.71, 0] -> [1,0] and [-1,0] tie
    # at 0, topk keeps the first index: [1,0] (class 0), [-1,0] (class 2).
    expected = torch.zeros(2, 3)
    expected[0, 0], expected[0, 1] = math.exp(cos[0, 0] / 0.5), math.exp(cos[0, 2] / 0.5)
    expected[1, 0], expected[1, 2] = 1.0, 1.0
    torch.testing.assert_close(scores, expected)
    # two neighbours of one class outvote a single nearer one of another class
    votes = knn_scores(
        train, torch.tensor([0, 1, 1, 2]), torch.tensor([[0.6, 1.0]]), k=3, temperature=1.0, num_classes=3
    )
    assert votes.argmax().item() == 1
    # k is capped at the number of training features
    assert knn_scores(train, labels, query, k=50, temperature=0.07, num_classes=3).shape == (2, 3)


def test_knn_evaluation_reports_k_and_1nn(caches, checkpoint):
    ctx = EvalContext.open(checkpoint, caches["two_views"])
    result = run_knn(ctx, KnnSettings(k=5), device="cpu")
    assert {"top1", "top5", "mean_class", "top1_k1"} <= result.metrics.keys()
    assert result.metrics["top1_k1"] >= 80.0 and result.settings["k_used"] == 5 and result.epochs is None


# ------------------------------------------------------------------------------------------------------------------
# The supervised method: loss, heads, layer-wise learning-rate decay.
# ------------------------------------------------------------------------------------------------------------------


def _method(depth: int = 3, **options) -> Supervised:
    torch.manual_seed(0)
    encoder = build_encoder("transformer", num_heads=2, **{**TINY, "depth": depth})
    return build_method("supervised", encoder, SPEC, num_classes=4, **options)  # type: ignore[return-value]


def test_layer_decay_assigns_the_mamp_learning_rates():
    method = _method(depth=3, layer_decay=0.5)
    groups = method.param_groups(OptimConfig(lr=1.0, min_lr=0.0, weight_decay=0.05))
    lr_of = {id(p): (g["lr"], g["weight_decay"]) for g in groups for p in g["params"]}
    names = dict(method.named_parameters())
    expected = {
        "encoder.patch_embed.weight": (0.5**4, 0.05),  # stem: layer 0 of L + 1 = 4
        "encoder.temp_embed": (0.5**4, 0.0),  # embeddings: no weight decay
        "encoder.pos_embed": (0.5**4, 0.0),
        "encoder.blocks.0.attn.qkv.weight": (0.5**3, 0.05),
        "encoder.blocks.1.mlp.fc1.bias": (0.5**2, 0.0),
        "encoder.blocks.2.norm1.weight": (0.5**1, 0.0),
        "encoder.norm.weight": (1.0, 0.0),
        "head.fc1.weight": (1.0, 0.05),
        "head.fc2.bias": (1.0, 0.0),
    }
    for name, value in expected.items():
        assert lr_of[id(names[name])] == pytest.approx(value), name
    assert sum(len(g["params"]) for g in groups) == len(names)
    # the loop's optimizer and scheduler keep the per-layer ratios
    opt = torch.optim.AdamW(groups, lr=1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.1)
    opt.step()
    sched.step()
    assert sorted({round(g["lr"], 8) for g in opt.param_groups}) == [0.00625, 0.0125, 0.025, 0.05, 0.1]


def test_layer_decay_of_stgcn_counts_its_blocks_and_its_head_is_linear():
    torch.manual_seed(0)
    encoder = build_encoder("stgcn", layout=SPEC.layout, channels=[8, 8, 16], strides=[1, 2, 1])
    method = build_method("supervised", encoder, SPEC, num_classes=4, layer_decay=0.5)
    groups = method.param_groups(OptimConfig(lr=1.0, min_lr=0.0, weight_decay=0.05))
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    names = dict(method.named_parameters())
    expected = {"encoder.data_bn.weight": 0.5**4, "encoder.layers.0.gcn.weight": 0.5**3, "head.fc.weight": 1.0}
    expected |= {"encoder.layers.2.tcn.2.weight": 0.5, "encoder.layers.1.edge_importance": 0.5**2}
    for name, value in expected.items():
        assert lr_of[id(names[name])] == pytest.approx(value), name
    assert type(method.classifier.head).__name__ == "LinearHead" and not method.classifier.head.config.batch_norm


def test_layer_decay_one_needs_no_layer_map_and_unknown_encoders_fail_clearly():
    encoder = torch.nn.Sequential(torch.nn.Linear(3, 4))
    model = torch.nn.Module()
    model.encoder = encoder
    flat = layer_decay_groups(model, lr=2.0, weight_decay=0.1, layer_decay=1.0)
    assert [g["lr"] for g in flat] == [2.0, 2.0]
    with pytest.raises(SkelrecError, match=r"layer_decay=0\.8 needs the block structure of Sequential"):
        layer_decay_groups(model, lr=2.0, weight_decay=0.1, layer_decay=0.8)


def test_supervised_loss_is_label_smoothed_cross_entropy_ignoring_unlabelled():
    method = _method(label_smoothing=0.2).eval()
    x = torch.randn(3, 1, CLIP, 20, 3)
    batch = {"x": x, "mask": torch.ones(3, 1, CLIP, dtype=torch.bool), "label": torch.tensor([1, -1, 3])}
    out = method(batch)
    logp = method.classifier(x, batch["mask"]).log_softmax(dim=1)[[0, 2]]
    target = torch.full((2, 4), 0.2 / 4)
    target[0, 1] += 0.8
    target[1, 3] += 0.8
    torch.testing.assert_close(out["loss"], -(target * logp).sum(dim=1).mean())
    assert isinstance(method.head, torch.nn.Module) and type(method.head).__name__ == "MampFinetuneHead"


def test_supervised_loads_pretrained_weights_strictly(checkpoint):
    state, _ = load_checkpoint(checkpoint)
    method = _method(depth=2, pretrained=str(checkpoint))
    assert all(torch.equal(method.encoder.state_dict()[k], v) for k, v in state.items())
    with pytest.raises(SkelrecError, match="weights do not fit"):
        _method(depth=3, pretrained=str(checkpoint))


# ------------------------------------------------------------------------------------------------------------------
# Fine-tuning and semi-supervised evaluation through the training loop.
# ------------------------------------------------------------------------------------------------------------------

SMOKE = FinetuneSettings(epochs=2, warmup_epochs=1, batch_size=8, max_steps=4, amp="none")


def test_finetune_saves_a_loadable_classifier(caches, checkpoint, tmp_path):
    ctx = EvalContext.open(checkpoint, caches["two_views"])
    result = run_finetune(ctx, SMOKE, run_dir=tmp_path / "run", device="cpu", progress=False, command="skelrec x")
    assert result is not None and result.runs[0]["steps"] == 4
    assert result.epochs == pytest.approx(4 / 3)  # 24 clips in batches of 8: 3 steps per epoch
    assert result.settings["layer_decay"] == 0.8 and result.settings["drop_path"] == 0.3
    model, config = load_model(result.artifacts["classifier"])
    assert isinstance(model, Classifier) and list(config.labels) == ctx.classes
    assert config.layout == "kinect20" and config.clip_length == CLIP and config.num_persons == 1
    assert config.head.name == "mamp_finetune" and config.encoder.config["drop_path_rate"] == 0.3
    assert config.metrics[0] == {
        "protocol": "finetune",
        "dataset": "nw_ucla",
        "split": "xsub",
        "value": result.metrics["top1"],
        "metric": "accuracy",
        "command": "skelrec x",
    }
    # the saved classifier reproduces the reported accuracy
    data = ctx.torch_dataset(ctx.part("test"))
    batch = {k: torch.stack([data[i][k] for i in range(len(data))]) for k in ("x", "mask", "label")}
    with torch.no_grad():
        accuracy = (model(batch["x"], batch["mask"]).argmax(dim=1) == batch["label"]).float().mean() * 100
    assert accuracy.item() == pytest.approx(result.metrics["top1"])
    # fine-tuning changed the pretrained encoder
    state, _ = load_checkpoint(checkpoint)
    assert not torch.equal(model.encoder.state_dict()["blocks.0.attn.qkv.weight"], state["blocks.0.attn.qkv.weight"])


def test_supervised_from_scratch_is_finetune_with_random_init(caches, checkpoint, tmp_path):
    ctx = EvalContext.open(checkpoint, caches["three_views"], init="random")
    result = run_finetune(ctx, SMOKE, run_dir=tmp_path / "scratch", device="cpu", progress=False)
    assert result is not None and result.init == "random" and result.split == "xview"
    assert result.settings["layer_decay"] == 1.0  # MAMP script_finetune_scratch.sh
    run_config = yaml.safe_load((tmp_path / "scratch" / "config.yaml").read_text())
    assert run_config["method"] == {"name": "supervised", "kwargs": run_config["method"]["kwargs"]}
    assert run_config["method"]["kwargs"]["pretrained"] is None
    saved = json.loads((Path(result.artifacts["classifier"]) / "config.json").read_text())
    assert saved["training"]["pretrained"] is None and saved["method"] is None


def _tiny_gin_checkpoint(tmp_path: Path) -> tuple[torch.nn.Module, Path]:
    """A random 2-layer, 8-wide GIN for kinect20 input and its checkpoint folder (as a SkeletonMAE export)."""
    torch.manual_seed(0)
    gin = build_encoder("gin", layout="kinect20", in_channels=3, embed_dim=8, depth=2)
    config = {
        **architecture(gin),
        "layout": "kinect20",
        "normalization": Normalization(center="sequence", scale="none").to_dict(),
        "clip_length": CLIP,
        "num_persons": 1,
        "labels": None,
    }
    return gin, save_checkpoint(tmp_path / "gin", gin.state_dict(), config)


def test_gin_is_finetuned_inside_strl_from_its_pretrained_weights(caches, tmp_path):
    gin, folder = _tiny_gin_checkpoint(tmp_path)
    name, strl_config = downstream_encoder("gin", gin.config.to_dict())
    assert name == "strl" and strl_config["gin_depth"] == 2 and strl_config["embed_dim"] == 8
    method = build_method("supervised", build_encoder(name, **strl_config), SPEC, num_classes=3, pretrained=str(folder))
    copied = method.encoder.state_dict()
    for layer, person in ((0, 0), (2, 1)):
        key = f"layers.{layer}.persons.{person}.1.mlp.0.weight"
        assert torch.equal(copied[key], gin.state_dict()["layers.1.mlp.0.weight"])
    assert type(method.head).__name__ == "LinearHead" and not method.head.config.batch_norm
    ctx = EvalContext.open(folder, caches["two_views"])
    result = run_finetune(ctx, SMOKE, run_dir=tmp_path / "run", device="cpu", progress=False)
    assert result is not None
    model, saved = load_model(result.artifacts["classifier"])
    assert (saved.encoder.name, saved.head.name) == ("strl", "linear")
    assert model(torch.zeros(2, 1, CLIP, 20, 3)).shape == (2, 10)
    # the fine-tuned STRL classifier is itself a checkpoint to start from: its encoder loads strictly
    strl = build_encoder("strl", **saved.encoder.config)
    again = build_method("supervised", strl, SPEC, num_classes=3, pretrained=result.artifacts["classifier"])
    assert all(torch.equal(v, again.encoder.state_dict()[k]) for k, v in model.encoder.state_dict().items())


@pytest.mark.parametrize("pooling", sorted(POOLINGS))
def test_finetune_through_the_probe_feature_trains_the_bare_encoder_and_a_linear_head_on_it(caches, tmp_path, pooling):
    _, folder = _tiny_gin_checkpoint(tmp_path)
    ctx = EvalContext.open(folder, caches["two_views"], init="random")
    settings = replace(SMOKE, head="linear", pooling=pooling, downstream=False)
    result = run_finetune(ctx, settings, run_dir=tmp_path / "run", device="cpu", progress=False)
    assert result is not None and result.settings["pooling"] == pooling and result.settings["downstream"] is False
    model, saved = load_model(result.artifacts["classifier"])
    assert (saved.encoder.name, saved.head.name) == ("gin", "linear")  # no STRL around the GIN
    assert saved.head.config["pooling"] == pooling
    x, mask = torch.randn(2, 1, CLIP, 20, 3), torch.ones(2, 1, CLIP, dtype=torch.bool)
    width = extract_features(
        model.encoder, [{"x": x[i], "mask": mask[i], "label": 0} for i in range(2)], pooling=pooling
    )
    assert saved.head.config["in_dim"] == width[0].shape[1] == pooled_width(model.encoder, pooling)
    assert model(x, mask).shape == (2, 10)


def test_finetune_pooling_needs_a_pooled_head():
    with pytest.raises(SkelrecError, match="needs a head that reads a pooled feature"):
        FinetuneSettings(pooling="joints")
    with pytest.raises(SkelrecError, match="needs a head that reads a pooled feature"):
        FinetuneSettings(head="mamp_finetune", pooling="mean")
    with pytest.raises(SkelrecError, match="unknown pooling"):
        FinetuneSettings(head="linear", pooling="frames")
    with pytest.raises(SkelrecError, match="unknown head"):
        FinetuneSettings(head="mlp")


@pytest.mark.parametrize("head", ["prototype", "knn"])
def test_finetune_refuses_a_head_without_trainable_weights(caches, tmp_path, head):
    _, folder = _tiny_gin_checkpoint(tmp_path)
    ctx = EvalContext.open(folder, caches["two_views"], init="random")
    settings = replace(SMOKE, head=head, pooling="mean", downstream=False)
    with pytest.raises(SkelrecError, match=f"head '{head}' has no trainable weights"):
        run_finetune(ctx, settings, run_dir=tmp_path / "run", device="cpu", progress=False)
    assert not (tmp_path / "run" / "classifier").exists()


def test_semi_subsets_have_the_right_sizes_and_are_seeded():
    labels = np.repeat(np.arange(5), [40, 30, 20, 6, 4])  # 100 clips, unbalanced classes
    subset = semi_subset(labels, 0.1, seed=1)
    assert len(subset) == 10 and np.array_equal(subset, np.unique(subset))
    assert np.array_equal(subset, semi_subset(labels, 0.1, seed=1))
    assert not np.array_equal(subset, semi_subset(labels, 0.1, seed=2))
    balanced = semi_subset(labels, 0.25, seed=1, balanced=True)  # 25 clips / 5 classes = 5 per class
    assert np.bincount(labels[balanced]).tolist() == [5, 5, 5, 5, 4]  # the last class has only 4
    assert np.array_equal(balanced, semi_subset(labels, 0.25, seed=1, balanced=True))
    assert np.bincount(labels[semi_subset(labels, 0.01, seed=0, balanced=True)]).tolist() == [1, 1, 1, 1, 1]
    with pytest.raises(SkelrecError, match="is no clip"):
        semi_subset(labels, 0.001, seed=0)


def test_semi_runs_every_fraction_and_seed(caches, checkpoint, tmp_path):
    ctx = EvalContext.open(checkpoint, caches["two_views"])
    settings = FinetuneSettings(epochs=1, warmup_epochs=0, batch_size=8, max_steps=1, amp="none")
    result = run_semi(
        ctx, settings, run_dir=tmp_path / "semi", fractions=(0.5,), seeds=(0, 1), device="cpu", progress=False
    )
    assert result is not None and [r["seed"] for r in result.runs] == [0, 1]
    assert [r["train"] for r in result.runs] == [12, 12] and result.runs[0]["subset_sha1"] != result.runs[1][
        "subset_sha1"
    ]
    summary = result.metrics["50%"]
    top1 = [r["metrics"]["top1"] for r in result.runs]
    assert summary["runs"] == 2 and summary["top1_mean"] == pytest.approx(np.mean(top1))
    assert summary["top1_std"] == pytest.approx(np.std(top1, ddof=1))
    assert "top1" in result.table() and "±" in result.table()


@pytest.fixture(scope="module")
def macdiff_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny MacDiff run's export (encoder + diffusion decoder under ``method.``) for kinect20 input."""
    torch.manual_seed(0)
    options = {"decoder_dim": 16, "decoder_depth": 1, "decoder_heads": 2, "diffusion_steps": 100}
    method = build_method("macdiff", build_encoder("transformer", num_heads=2, **TINY), SPEC, **options)
    config = {
        **architecture(method.encoder),
        "layout": "kinect20",
        "normalization": Normalization(center="sequence", scale="none").to_dict(),
        "clip_length": CLIP,
        "num_persons": 1,
        "labels": None,
        "method": {"name": "macdiff", "kwargs": options},
    }
    return save_checkpoint(tmp_path_factory.mktemp("macdiff") / "encoder", method.export_state(), config)


def test_diffusion_augmentation_adds_generated_clips_of_the_same_labels(caches, macdiff_checkpoint, tmp_path):
    ctx = EvalContext.open(macdiff_checkpoint, caches["two_views"])
    part = ctx.part("train").subset([0, 5, 17])
    clips = generate_clips(load_augmenter(ctx, "cpu"), ctx, part, per_clip=2, steps=4, seed=0, batch_size=2)
    assert len(clips) == 6 and clips.layout == "kinect20" and clips.classes == ctx.classes
    assert [clips[i].label for i in range(6)] == [part[i // 2].label for i in range(6)]
    assert [clips[i].meta["source"] for i in range(6)] == [part.name(i // 2) for i in range(6)]
    assert clips[0].data.shape == (1, CLIP, 20, 3) and np.isfinite(clips[0].data).all()
    assert not np.array_equal(clips[0].data, clips[1].data)
    settings = FinetuneSettings(epochs=1, warmup_epochs=0, batch_size=8, max_steps=1, amp="none")
    result = run_semi(
        ctx,
        settings,
        run_dir=tmp_path,
        fractions=(0.5,),
        seeds=(0,),
        diffusion_augment=True,
        diffusion_steps=3,
        device="cpu",
        progress=False,
    )
    assert result is not None and (result.runs[0]["train"], result.runs[0]["generated"]) == (12, 12)


def test_diffusion_augment_needs_a_macdiff_checkpoint(caches, checkpoint, tmp_path):
    ctx = EvalContext.open(checkpoint, caches["two_views"])
    with pytest.raises(SkelrecError, match=r"needs a MacDiff checkpoint with its decoder: .*not a MacDiff checkpoint"):
        run_semi(ctx, SMOKE, run_dir=tmp_path, diffusion_augment=True, device="cpu")


# ------------------------------------------------------------------------------------------------------------------
# CLI.
# ------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["linear", "knn", "finetune", "semi"])
def test_cli_help(command):
    result = CliRunner().invoke(app, ["evaluate", command, "--help"])
    assert result.exit_code == 0, result.output
    assert "--data" in result.output and "--protocol" in result.output


def test_cli_knn_writes_the_result_file(caches, checkpoint, tmp_path):
    out = tmp_path / "knn.json"
    args = ["evaluate", "knn", str(checkpoint), "--data", str(caches["two_views"]), "--out", str(out), "--k", "3"]
    result = CliRunner().invoke(app, [*args, "--device", "cpu", "--init", "random"])
    assert result.exit_code == 0, result.output
    saved = json.loads(out.read_text())
    assert saved["protocol"] == "knn" and saved["init"] == "random" and saved["settings"]["k"] == 3
    assert "top1_k1" in result.output


def test_cli_class_filter_trains_and_scores_the_kept_classes_only(caches, checkpoint, tmp_path):
    kept = [arg for name in KEPT for arg in ("--classes", name)]
    common = ["--data", str(caches["two_views"]), *kept, "--device", "cpu"]
    knn = CliRunner().invoke(app, ["evaluate", "knn", str(checkpoint), *common, "--out", str(tmp_path / "k.json")])
    assert knn.exit_code == 0, knn.output
    assert json.loads((tmp_path / "k.json").read_text())["sizes"] == {"train": 16, "test": 16, "classes": 2}
    args = ["evaluate", "finetune", str(checkpoint), *common, "--out", str(tmp_path / "ft.json"), "--max-steps", "1"]
    finetune = CliRunner().invoke(app, [*args, "--epochs", "1"])
    assert finetune.exit_code == 0, finetune.output
    assert json.loads((tmp_path / "ft" / "classifier" / "config.json").read_text())["labels"] == list(KEPT)


def test_cli_finetune_takes_training_augmentations_and_records_them(caches, checkpoint, tmp_path):
    out = tmp_path / "ft.json"
    args = ["evaluate", "finetune", str(checkpoint), "--data", str(caches["two_views"]), "--out", str(out)]
    augment = ["--augment", "noise_std=0.02", "--augment", "fps_scale=[0.67, 1.5]", "--augment", "rotate=0.5"]
    result = CliRunner().invoke(app, [*args, *augment, "--max-steps", "1", "--epochs", "1", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "ft" / "classifier" / "config.json").read_text())
    assert (saved["data"]["augment"]["noise_std"], saved["data"]["augment"]["rotate"]) == (0.02, 0.5)
    assert saved["data"]["augment"]["fps_scale"] == [0.67, 1.5]


@pytest.mark.parametrize(
    ("option", "message"),
    [("noise_std", "expected KEY=VALUE"), ("bogus=1", "unknown key augment.bogus"), ("rotate=-1", "rotate")],
)
def test_cli_finetune_rejects_bad_augmentations_in_one_line(caches, checkpoint, tmp_path, option, message):
    args = ["evaluate", "finetune", str(checkpoint), "--data", str(caches["two_views"]), "--out", str(tmp_path / "x")]
    result = CliRunner().invoke(app, [*args, "--augment", option, "--max-steps", "1"])
    assert isinstance(result.exception, SkelrecError) and message in str(result.exception)  # main() prints it
