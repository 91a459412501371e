"""Joint training on several labelled datasets with one vocabulary: remapped labels, held-out test subjects of every
dataset, scores per dataset and per class, ``label_sources`` in the saved classifier."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from conftest import save_encoder

from skelrec.config import DataConfig
from skelrec.datasets.prepare import prepare_dataset
from skelrec.datasets.torch_data import open_prepared
from skelrec.datasets.vocabulary import UNIFIED
from skelrec.errors import SkelrecError
from skelrec.evaluate import EvalContext, FinetuneSettings
from skelrec.evaluate.calibration import holdout_subjects, measure_calibration, write_calibration
from skelrec.evaluate.finetune import finetune_once
from skelrec.models import build_encoder

CLIP = 16
SMOKE = FinetuneSettings(epochs=1, warmup_epochs=0, batch_size=8, max_steps=2, amp="none")
UTD_ACTIONS = {3: "right hand wave", 25: "stand to sit"}  # -> "wave hand", "sit down"
UCLA_ACTIONS = {5: "sit down", 9: "doffing"}  # a05, a09 -> "sit down", "take off jacket"


def _clip(rng: np.random.Generator, action: int) -> np.ndarray:
    """``(T, 20, 3)`` a pose drifting in a direction of its own per action."""
    pose = rng.normal(0.0, 0.3, (20, 3)) + np.array([0.0, 0.0, 2.5])
    drift = np.random.default_rng(action).normal(0.0, 0.3, (20, 3))
    return (pose + drift * np.linspace(0, 1, int(rng.integers(20, 30)))[:, None, None]).astype(np.float32)


@pytest.fixture(scope="module")
def caches(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root, rng = tmp_path_factory.mktemp("joint"), np.random.default_rng(0)
    (root / "utd").mkdir()
    (root / "ucla").mkdir()
    for subject in (1, 2, 3, 4):
        for action in UTD_ACTIONS:
            for trial in (1, 2):
                d_skel = _clip(rng, action).transpose(1, 2, 0)  # (20, 3, T)
                scipy.io.savemat(root / "utd" / f"a{action}_s{subject}_t{trial}_skeleton.mat", {"d_skel": d_skel})
        for label, action in enumerate((1, 2, 3, 4, 5, 6, 8, 9, 11, 12)):
            if action not in UCLA_ACTIONS:
                continue
            for episode in (0, 1):
                stem = f"a{action:02d}_s{subject:02d}_e{episode:02d}_v01"
                doc = {"file_name": stem, "skeletons": _clip(rng, 100 + action).tolist(), "label": label + 1}
                (root / "ucla" / f"{stem}.json").write_text(json.dumps(doc))
    prepare_dataset("utd_mhad", root / "utd", root / "utd_mhad", workers=1, progress=False)
    prepare_dataset("nw_ucla", root / "ucla", root / "nw_ucla", workers=1, progress=False)
    return {"utd_mhad": root / "utd_mhad", "nw_ucla": root / "nw_ucla"}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    encoder = build_encoder("stgcn", in_channels=3, layout="kinect20", channels=(8, 8), strides=(1, 2))
    return save_encoder(tmp_path_factory.mktemp("ckpt") / "encoder", encoder, method="halp", clip_length=CLIP)


def test_vocabulary_remaps_the_labels_of_every_cache(caches):
    data = DataConfig(paths=[f"{caches['utd_mhad']}#xsub:train", f"{caches['nw_ucla']}#xsub:train"])
    joined = open_prepared(DataConfig(**{**data.__dict__, "vocabulary": "unified"}))
    assert joined.classes == list(UNIFIED.restrict(["utd_mhad", "nw_ucla"]).labels)
    names = {(s.dataset, s.meta["action"]): s.label_name for s in (joined[i] for i in range(len(joined)))}
    assert names[("utd_mhad", 25)] == names[("nw_ucla", 5)] == "sit down"  # one label for the same action
    assert names[("utd_mhad", 3)] == "wave hand" and names[("nw_ucla", 9)] == "take off jacket"
    assert {joined[i].meta["subject"] for i in range(len(joined))} == {1, 3}  # test subjects held out
    plain = open_prepared(data)  # without a vocabulary the two class lists are concatenated
    assert len(plain.classes) == 27 + 10 and plain.classes[0] == "utd_mhad/right arm swipe to the left"


def test_unknown_vocabulary_is_a_config_error():
    with pytest.raises(SkelrecError, match="vocabulary: must be one of unified"):
        DataConfig(vocabulary="nope")


def test_joint_finetune_scores_every_dataset_and_records_label_sources(caches, checkpoint, tmp_path):
    ctx = EvalContext.open(
        checkpoint, [caches["utd_mhad"], f"{caches['nw_ucla']}#xsub"], "xsub", "random", vocabulary="unified"
    )
    assert ctx.classes == list(UNIFIED.restrict(["utd_mhad", "nw_ucla"]).labels)
    assert len(ctx.part("train")) == len(ctx.part("test")) == 8 + 8
    outcome = finetune_once(ctx, SMOKE, tmp_path / "run", device="cpu", progress=False)
    config = json.loads((outcome.checkpoint / "config.json").read_text())
    assert config["labels"] == ctx.classes and config["vocabulary"] == "unified"
    assert config["label_sources"] == UNIFIED.restrict(["utd_mhad", "nw_ucla"]).label_sources()
    assert [(m["dataset"], m["split"], m["test_clips"]) for m in config["metrics"]] == [
        ("utd_mhad", "xsub", 8),
        ("nw_ucla", "xsub", 8),
    ]
    rows = config["per_dataset_class"]
    assert {(r["dataset"], r["class"]) for r in rows} == {
        ("utd_mhad", "wave hand"),
        ("utd_mhad", "sit down"),
        ("nw_ucla", "sit down"),
        ("nw_ucla", "take off jacket"),
    }
    for metric in config["metrics"]:  # a dataset's top-1 is its classes' correct / total
        own = [r for r in rows if r["dataset"] == metric["dataset"]]
        assert metric["value"] == pytest.approx(100 * sum(r["correct"] for r in own) / sum(r["total"] for r in own))


def test_several_caches_need_a_shared_class_list_or_a_vocabulary(caches, checkpoint):
    ctx = EvalContext.open(checkpoint, [caches["utd_mhad"], caches["nw_ucla"]], "xsub")
    assert len(ctx.classes) == 37  # concatenated "<dataset>/<class>" names, as ConcatPrepared does
    with pytest.raises(SkelrecError, match="write PATH, PATH#PROTOCOL or PATH#train"):
        EvalContext.open(checkpoint, [f"{caches['utd_mhad']}#xsub:train"], "xsub")


def test_a_train_only_cache_trains_and_is_not_scored(caches, checkpoint, tmp_path):
    ctx = EvalContext.open(
        checkpoint, [f"{caches['utd_mhad']}#xsub", f"{caches['nw_ucla']}#train"], init="random", vocabulary="unified"
    )
    assert len(ctx.part("train")) == 8 + 16 and len(ctx.part("test")) == 8  # every NW-UCLA clip trains
    outcome = finetune_once(ctx, SMOKE, tmp_path / "run", device="cpu", progress=False)
    config = json.loads((outcome.checkpoint / "config.json").read_text())
    assert [(m["dataset"], m["split"]) for m in config["metrics"]] == [("utd_mhad", "xsub")]


def test_calibration_holds_out_a_training_subject_and_writes_the_config(caches, checkpoint, tmp_path):
    ctx = EvalContext.open(checkpoint, [caches["utd_mhad"], caches["nw_ucla"]], "xsub", vocabulary="unified")
    train, held = holdout_subjects(ctx.parts("train"), ctx.data.layout, ctx.vocabulary)
    assert {held[i].meta["subject"] for i in range(len(held))} == {3}  # the highest training subject (1, 3)
    assert {train[i].meta["subject"] for i in range(len(train))} == {1}
    assert len(train) + len(held) == len(ctx.part("train")) and held.classes == ctx.classes
    outcome = finetune_once(ctx, SMOKE, tmp_path / "run", train_part=train, device="cpu", progress=False)
    gen = torch.Generator().manual_seed(0)
    logits, labels = torch.randn(40, 3, generator=gen) * 5, torch.randint(0, 3, (40,), generator=gen)
    write_calibration(outcome.checkpoint, measure_calibration((logits, labels)))
    config = json.loads((outcome.checkpoint / "config.json").read_text())
    assert config["temperature"] > 1 and 0 <= config["min_confidence"] <= 1  # random logits are overconfident
    assert config["calibration"]["ece"]["held_out"]["after"] < config["calibration"]["ece"]["held_out"]["before"]
    assert config["label_sources"]["utd_mhad"]["stand to sit"] == "sit down"  # the rest of the config is kept
