"""pretrain/build_interactions_model.py: the 8-class restriction, the encoder choice and a smoke fine-tuning + card
on a synthetic PKU-MMD cache (two steps, tiny encoder, a temporary folder)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest
import torch
from test_pku_detection_benchmark import pku_folder

from skelrec.checkpoint import architecture, read_config, save_checkpoint
from skelrec.datasets.base import BACKGROUND_CLASS
from skelrec.datasets.cache import PreparedDataset
from skelrec.datasets.prepare import prepare_dataset
from skelrec.errors import SkelrecError
from skelrec.models import build_encoder

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "pretrain"))
import build_interactions_model as build

TRAIN, VALID = ["0002-L", "0002-M", "0003-L", "0003-M"], ["0309-L", "0310-R"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prepared PKU-MMD cache: per stream two interactions (handshaking 14, hugging 16) and a bow (1)."""
    labels = "14,10,50,2\n16,60,100,2\n1,105,145,1\n"
    root = pku_folder(tmp_path_factory.mktemp("pku") / "v1", TRAIN, VALID, labels)
    out = root.parent / "cache"
    prepare_dataset("pku_mmd", root, out, workers=1, progress=False)
    return out


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    net = build_encoder("transformer", in_channels=3, num_joints=25, num_frames=16, depth=1, embed_dim=16, num_heads=2)
    config = {
        **architecture(net),
        "layout": "ntu25",
        "normalization": {"center": "sequence", "scale": "torso"},
        "clip_length": 16,
        "num_persons": 2,
        "labels": None,
        "method": {"name": "mamp", "kwargs": {}},
    }
    return save_checkpoint(tmp_path_factory.mktemp("enc") / "encoder", net.state_dict(), config)


def test_class_subset_keeps_and_relabels_the_interactions(cache: Path):
    part = PreparedDataset(cache, "xsub", "train").restrict_classes(build.INTERACTIONS)
    assert len(part) == 2 * len(TRAIN)  # the bows are left out
    counts = build.class_counts(part)
    assert counts["handshaking"] == len(TRAIN) and counts["hugging other person"] == len(TRAIN)
    labels = {part[i].label_name: part[i].label for i in range(len(part))}
    assert labels == {"handshaking": 1, "hugging other person": 2}  # positions in INTERACTIONS, not PKU indices
    assert len(build.INTERACTIONS) == 8 and build.INTERACTIONS[0] == "giving something to other person"


def test_best_encoder_reads_the_ssl_benchmark(tmp_path: Path, encoder: Path):
    result = tmp_path / "ssl_pku.json"
    with pytest.raises(SkelrecError, match="--encoder"):
        build.best_encoder(result)
    methods = {
        "mamp": {"linear_top1": 80.0, "encoder": "nowhere"},
        "halp": {"linear_top1": 85.0, "encoder": str(encoder)},
        "supervised": {"linear_top1": 99.0},  # a control, never chosen
    }
    result.write_text(json.dumps({"methods": methods}))
    assert build.best_encoder(result) == encoder
    methods["halp"]["linear_top1"] = 70.0
    result.write_text(json.dumps({"methods": methods}))
    with pytest.raises(SkelrecError, match="no encoder at"):
        build.best_encoder(result)  # mamp wins, and its encoder is absent


def test_smoke_finetune_and_card(cache: Path, encoder: Path, tmp_path: Path):
    args = argparse.Namespace(data=cache, epochs=1, lr=1e-3, batch=4, max_steps=2, background=False)
    clf = build.finetune(encoder, "pretrained", tmp_path / "run", args)
    other = build.finetune(encoder, "random", tmp_path / "run", args)
    config = read_config(clf)
    assert list(config.labels) == list(build.INTERACTIONS)
    rows = {r["class"]: r["total"] for r in config.extra["per_class"]}
    assert rows["handshaking"] == len(VALID) and rows["giving something to other person"] == 0
    out = tmp_path / "weights" / "interactions"
    out.parent.mkdir()
    build.card(clf, {"random": other}, out, tmp_path / "no_detection.json")
    card = (out / "README.md").read_text()
    assert "Kinect v2 / NTU RGB+D-format skeleton files" in card and "not available" in card
    assert "| handshaking |" in card and "Not measured" in card
    shipped = json.loads((out / "config.json").read_text())
    assert shipped["repo_id"] == build.REPO_ID and shipped["min_persons"] == 2  # the labeler refuses videos
    assert build.finetune(encoder, "pretrained", tmp_path / "run", args) == clf  # resumable: a finished run is kept
    assert "9th class" not in card and "interactions_top1" not in shipped


def test_smoke_background_class(encoder: Path, tmp_path: Path):
    """``--background``: a 9th class "no action" from the frames between the actions; the card and config give the
    top-1 over the interaction instances alone."""
    root = pku_folder(tmp_path / "v1", TRAIN, VALID, "14,40,70,2\n16,110,140,2\n")  # gaps [0, 35), [75, 105)
    background = tmp_path / "cache_background"
    prepare_dataset("pku_mmd", root, background, workers=1, progress=False, background=True)
    args = argparse.Namespace(data=background, epochs=1, lr=1e-3, batch=4, max_steps=2, background=True)
    clf = build.finetune(encoder, "pretrained", tmp_path / "run", args)
    config = read_config(clf)
    assert list(config.labels) == [*build.INTERACTIONS, BACKGROUND_CLASS]
    rows = {r["class"]: r for r in config.extra["per_class"]}
    assert rows[BACKGROUND_CLASS]["total"] == 2 * len(VALID) and rows["handshaking"]["total"] == len(VALID)
    out = tmp_path / "weights"
    build.card(clf, {}, out, tmp_path / "no_detection.json")
    shipped = json.loads((out / "config.json").read_text())
    actions = [r for name, r in rows.items() if name != BACKGROUND_CLASS]
    expected = 100 * sum(r["correct"] for r in actions) / sum(r["total"] for r in actions)
    assert shipped["interactions_top1"] == pytest.approx(expected, abs=0.01)
    card = (out / "README.md").read_text()
    assert f'A 9th class, "{BACKGROUND_CLASS}"' in card and f"| {BACKGROUND_CLASS} |" in card
