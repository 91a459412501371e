"""Shipped models by short name: the registry, its resolution order in from_pretrained, and `skelrec models`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skelrec.cli import app
from skelrec.errors import SkelrecError
from skelrec.hub import from_pretrained
from skelrec.hub.shipped import SHIPPED_MODELS, list_shipped_models, shipped_model_dir
from skelrec.paths import REPO_ROOT

UTD = "skelrec/utd-mhad-actions-kinect20"


@pytest.fixture
def weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A shipped-weights folder as it was before the unified model: ``default`` holds the UTD-MHAD model (the
    repository's ``weights/gestures``; the weights are linked, not copied)."""
    root = tmp_path / "weights"
    (root / "default").mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        (root / "default" / name).symlink_to(REPO_ROOT / "weights" / "gestures" / name)
    monkeypatch.setattr("skelrec.hub.shipped.shipped_weights_dir", lambda: root)
    monkeypatch.delenv("SKELREC_DEFAULT_MODEL", raising=False)
    return root


def _unified(root: Path) -> None:
    """Put a 'unified' model in default/ and the UTD-MHAD one in gestures/, as the unified build does."""
    shutil.move(root / "default", root / "gestures")
    (root / "default").mkdir()
    config = json.loads((root / "gestures" / "config.json").read_text())
    config |= {"repo_id": "skelrec/unified-actions", "labels": ["sit down", "wave hand"]}
    (root / "default" / "config.json").write_text(json.dumps(config))


def test_gestures_is_the_utd_model_wherever_it_lives(weights):
    assert shipped_model_dir("gestures") == shipped_model_dir("default") == weights / "default"
    _unified(weights)
    assert shipped_model_dir("gestures") == weights / "gestures"
    assert shipped_model_dir("default") == weights / "default"
    rows = {r["name"]: r for r in list_shipped_models()}
    assert rows["default"]["labels"] == ["sit down", "wave hand"] and len(rows["gestures"]["labels"]) == 27


def test_a_name_not_in_this_install_is_a_one_line_error(weights):
    with pytest.raises(SkelrecError, match=r"shipped model 'interactions' is not built/shipped in this install") as e:
        from_pretrained("interactions", device="cpu")
    assert "\n" not in str(e.value)
    shutil.rmtree(weights / "default")
    with pytest.raises(SkelrecError, match="'gestures' is not built/shipped"):
        shipped_model_dir("gestures")  # an unrelated model in default/ is not taken for it either
    with pytest.raises(SkelrecError, match="unknown shipped model 'nope'"):
        shipped_model_dir("nope")


def test_shipped_names_win_over_local_folders_and_never_reach_the_hub(weights, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gestures").mkdir()  # a local folder with a shipped name, not a model
    loaded = from_pretrained("gestures", device="cpu")
    assert loaded.source == "gestures" and loaded.folder == weights / "default"
    assert len(loaded.config.labels) == 27
    with pytest.raises(SkelrecError, match="gestures"):  # ./gestures is the local folder (no config.json in it)
        from_pretrained("./gestures", device="cpu")
    assert all("/" not in name for name in SHIPPED_MODELS)  # a Hub id owner/name is never a shipped name


def test_skelrec_models_lists_names_and_label_sets(weights):
    result = CliRunner().invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("default: ") and "27 actions: right arm swipe to the left" in lines[1]
    assert any(line.startswith("interactions: ") and "not built/shipped" in line for line in lines)
    rows = json.loads(CliRunner().invoke(app, ["models", "--json"]).output)
    assert [r["name"] for r in rows] == ["default", "gestures", "interactions"]
    assert [r["available"] for r in rows] == [True, True, False]
    two = json.loads((weights / "default" / "config.json").read_text()) | {"min_persons": 2, "repo_id": None}
    two["labels"] = [*two["labels"][:3], "no action"]  # a background class is not counted as an action
    (weights / "interactions").mkdir()
    (weights / "interactions" / "config.json").write_text(json.dumps(two))  # a model of two-person interactions
    lines = CliRunner().invoke(app, ["models"]).output.splitlines()
    assert any(
        line.startswith("interactions: ") and line.endswith("weights/interactions, skeleton files only]")
        for line in lines
    ), lines
    actions = ", ".join(two["labels"][:3])
    assert f'  3 actions (and "no action" between them): {actions}' in lines, lines
    rows = json.loads(CliRunner().invoke(app, ["models", "--json"]).output)
    assert [(r["available"], r["videos"]) for r in rows] == [(True, True), (True, True), (True, False)]
