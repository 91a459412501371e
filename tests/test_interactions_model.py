"""The shipped ``interactions`` model: PKU-MMD's 8 two-person interactions for Kinect v2 / NTU-format skeleton files.

It loads offline by name, its card is its run's, it labels two-person skeleton files and refuses videos (MediaPipe
sees one person), and (with ../shared/data) it scores on the cross-subject validation instances what its card says.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from test_label_cli import run_label, summary_lines
from test_label_skeleton_files import ntu25, write_pku

from skelrec.datasets.base import BACKGROUND_CLASS
from skelrec.datasets.pku import PKU_MMD_INTERACTIONS
from skelrec.evaluate.context import EvalContext
from skelrec.evaluate.features import predict_logits
from skelrec.hub.loading import from_pretrained
from skelrec.hub.shipped import shipped_model_dir

WEIGHTS = Path(__file__).resolve().parent.parent / "weights"
INTERACTIONS = list(PKU_MMD_INTERACTIONS)


def _top1(config) -> float:
    (metric,) = [m for m in config.metrics if m["split"] == "xsub"]
    return float(metric["value"])


def test_the_interactions_model_loads_offline_with_its_card(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = from_pretrained("interactions", device="cpu")
    config = loaded.config
    assert loaded.folder == shipped_model_dir("interactions") == WEIGHTS / "interactions"
    assert list(config.labels) == [*INTERACTIONS, BACKGROUND_CLASS]  # the frames between actions: "no action"
    assert (config.layout, config.num_persons, config.min_persons) == ("ntu25", 2, 2)
    card = (loaded.folder / "README.md").read_text()
    assert card.startswith("---\n") and "library_name: skelrec" in card and "research" in card.lower()
    assert f"| {_top1(config):.2f} | yes |" in card  # the shipped run's cross-subject top-1
    for other in config.extra["compared_with"]:  # the random-init control, once trained
        assert other["init"] != config.training["init"] and f"{other['pku_mmd_interactions_xsub_top1']:.2f}" in card
    assert config.training["init"] == "pretrained"
    assert all(f"| {name} |" in card for name in config.labels)  # per-class accuracy
    assert f"Over the 96 interaction instances alone: top-1 {config.extra['interactions_top1']:.2f}" in card
    detection = config.extra["detection"]  # measured on these weights (the card step checks the digest)
    assert f"| {detection['map']['0.1']:.3f} | {detection['map']['0.3']:.3f} | {detection['map']['0.5']:.3f} |" in card
    assert sum(f.stat().st_size for f in loaded.folder.iterdir()) < 20e6
    with torch.no_grad():
        logits = loaded.model(torch.zeros(1, 2, config.clip_length, 25, 3), torch.ones(1, 2, config.clip_length))
    assert logits.shape == (1, 9)


@pytest.mark.slow
def test_the_cli_labels_two_person_files_with_it_and_refuses_videos(tmp_path: Path):
    pair = write_pku(tmp_path / "0002-L.txt", ntu25(), second=ntu25(seed=3) + np.array([0.8, 0.0, 0.0]))
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"never read")  # refused for the model before the file is opened
    proc = run_label(pair, video, "--model", "interactions", "--out", tmp_path / "out")
    lines = summary_lines(proc.stdout)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    assert lines["0002-L.txt"].startswith("labelled"), lines
    assert "labels actions of 2 persons, and a video gives one" in lines["clip.mp4"], lines
    assert (tmp_path / "out" / "0002-L.json").is_file()


@pytest.mark.slow
def test_the_interactions_model_scores_what_its_card_says(real_caches):
    folder = WEIGHTS / "interactions"
    loaded = from_pretrained(str(folder), device="cpu")
    ctx = EvalContext.open(folder, real_caches["pku_mmd"], "xsub", classes=INTERACTIONS)
    test = ctx.part("test")
    assert len(test) == 96  # the validation-list instances of the 8 classes in ../shared/data
    logits, labels = predict_logits(loaded.model, ctx.torch_dataset(test))
    assert logits.shape == (96, 9)  # "no action" (the 9th) counts as a miss on an interaction
    top1 = 100 * float((logits.argmax(1) == labels).float().mean())
    assert top1 == pytest.approx(loaded.config.extra["interactions_top1"], abs=0.01)
