"""skelrec.hub against the real huggingface_hub client talking to a loopback Hub (tests/hf_server.py).

Nothing here reaches the internet: HF_ENDPOINT points at 127.0.0.1, HF_HOME at tmp_path, and the few
huggingface_hub settings it reads only at import time are set to match (see the ``hf_env`` fixture).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from hf_server import FakeHub
from huggingface_hub import ModelCard, constants
from typer.testing import CliRunner

from skelrec import cli
from skelrec.checkpoint import architecture
from skelrec.errors import SkelrecError
from skelrec.hub import download, from_pretrained, loading, push, render_model_card, save_pretrained
from skelrec.models import Classifier, build_encoder, build_head
from skelrec.skeleton import Normalization

REPO = "org/tiny"
LABELS = ["wave", "sit down", "jump"]


# ---- fixtures -------------------------------------------------------------------------------------------------


@pytest.fixture
def hf_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HF_HOME in tmp_path, online, no token; huggingface_hub's import-time constants made to agree."""
    home = tmp_path / "hf_home"
    monkeypatch.setenv("HF_HOME", str(home))
    for var in ("HF_HUB_CACHE", "HF_ENDPOINT", "HF_HUB_OFFLINE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)  # no agent-registry request to the real Hub
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(home / "token"))  # never send a real saved login
    return home


@pytest.fixture
def hub(hf_env: Path, monkeypatch: pytest.MonkeyPatch):
    with FakeHub() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


def tiny_model(seed: int = 0) -> Classifier:
    torch.manual_seed(seed)
    encoder = build_encoder("bigru", hidden_size=4, num_layers=1)
    return Classifier(encoder, build_head("linear", in_dim=8, num_classes=len(LABELS))).eval()


def tiny_config(model: Classifier, **extra: Any) -> dict[str, Any]:
    return {
        **architecture(model),
        "layout": "ntu25",
        "normalization": Normalization().to_dict(),
        "clip_length": 8,
        "num_persons": 2,
        "labels": LABELS,
        "method": "halp",
        "training": {"data": [{"id": "ntu60", "name": "NTU RGB+D 60", "terms": "research use only"}]},
        "metrics": [
            {
                "protocol": "linear",
                "dataset": "ntu60",
                "dataset_name": "NTU RGB+D 60",
                "split": "xsub",
                "value": 41.25,
                "command": "skelrec evaluate linear --model runs/tiny",
            }
        ],
        **extra,
    }


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, Classifier]:
    """A checkpoint folder written by save_pretrained, and the model it holds."""
    model = tiny_model()
    folder = save_pretrained(tmp_path / "tiny", model.state_dict(), tiny_config(model), repo_id=REPO)
    return folder, model


def batch() -> torch.Tensor:
    return torch.randn(2, 2, 8, 25, 3, generator=torch.Generator().manual_seed(1))  # (N, M, T, V, C)


def one_line_error(excinfo: pytest.ExceptionInfo[SkelrecError]) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


# ---- model cards ----------------------------------------------------------------------------------------------


def test_model_card_is_generated_from_the_config(tiny):
    folder, _ = tiny
    config = json.loads((folder / "config.json").read_text())
    config["metrics"][0]["value"] = 57.125
    text = render_model_card(config, repo_id=REPO)

    meta = yaml.safe_load(text.split("---\n")[1])
    assert meta["library_name"] == "skelrec"
    assert meta["pipeline_tag"] == "video-classification"
    assert {"skeleton", "action-recognition", "self-supervised", "halp", "bigru"} <= set(meta["tags"])
    assert meta["datasets"] == ["ntu60"]
    result = meta["model-index"][0]["results"][0]
    assert result["dataset"] == {"name": "NTU RGB+D 60", "type": "ntu60", "split": "xsub"}
    assert result["metrics"][0]["type"] == "accuracy" and result["metrics"][0]["value"] == 57.125
    card = ModelCard(text)
    assert card.data.eval_results[0].metric_value == 57.125
    assert "| linear | NTU RGB+D 60 | xsub | 57.125 |" in text
    assert "`skelrec evaluate linear --model runs/tiny`" in text
    assert f"skelrec label VIDEO.mp4 --model {REPO}" in text and "from skelrec.hub import from_pretrained" in text
    assert "research use only" in text
    assert all(f"{i}. {label}" in text for i, label in enumerate(LABELS))
    pairs = render_model_card(config | {"min_persons": 2}, repo_id=REPO)  # a model of two-person interactions
    assert "VIDEO.mp4" not in pairs and f"skelrec label RECORDING.skeleton --model {REPO}" in pairs
    assert "skeleton files of 2 persons" in pairs and "Videos are refused" in pairs


def test_model_card_of_a_model_trained_from_scratch_names_no_self_supervised_method(tiny):
    folder, _ = tiny
    config = json.loads((folder / "config.json").read_text())
    del config["method"]
    config["training"]["method"] = {"name": "supervised", "kwargs": {"num_classes": 3}}  # a fine-tuning recipe
    text = render_model_card(config, repo_id=REPO)
    tags = yaml.safe_load(text.split("---\n")[1])["tags"]
    assert tags == ["skelrec", "skeleton", "action-recognition", "bigru", "ntu25"]
    assert "pretrained with the self-supervised method" not in text and "supervised'" not in text


def test_model_card_names_a_malformed_metric(tiny):
    config = json.loads((tiny[0] / "config.json").read_text())
    del config["metrics"][0]["value"]
    with pytest.raises(SkelrecError, match=r"metrics\[0\] lacks value"):
        render_model_card(config)


def test_save_pretrained_keeps_an_existing_readme(tmp_path):
    model = tiny_model()
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "README.md").write_text("my notes\n")
    save_pretrained(tmp_path / "m", model.state_dict(), tiny_config(model))
    assert (tmp_path / "m" / "README.md").read_text() == "my notes\n"
    save_pretrained(tmp_path / "m", model.state_dict(), tiny_config(model), overwrite_card=True)
    assert (tmp_path / "m" / "README.md").read_text().startswith("---\n")


# ---- downloading and loading ------------------------------------------------------------------------------------


def test_download_by_repo_id_and_revision_builds_the_hf_cache(hub, hf_env, tiny):
    folder, _ = tiny
    first = hub.add_repo(REPO, folder)
    hub.commit(REPO, {"notes.txt": b"not a model file", "config.json": b"{}"}, message="second")

    path = download(REPO, revision=first)
    assert path.name == first and path.parent.name == "snapshots"
    assert sorted(p.name for p in path.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert (path / "config.json").read_bytes() == (folder / "config.json").read_bytes()

    latest = download(REPO)
    storage = hf_env / "hub" / "models--org--tiny"
    assert (storage / "refs" / "main").read_text() == hub.repos[REPO].branches["main"] == latest.name
    assert (latest / "model.safetensors").is_symlink() and (storage / "blobs").is_dir()
    assert not any("notes.txt" in path for _, path in hub.requests)


def test_cli_download_prints_the_folder(hub, tiny, tmp_path):
    hub.add_repo(REPO, tiny[0])
    result = CliRunner().invoke(cli.app, ["download", REPO, "--revision", "main", "--local-dir", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert Path(result.stdout.strip()) == (tmp_path / "d").resolve()
    assert (tmp_path / "d" / "model.safetensors").read_bytes() == (tiny[0] / "model.safetensors").read_bytes()


def test_from_pretrained_loads_the_same_model_from_the_hub(hub, tiny, tmp_path):
    folder, model = tiny
    sha = hub.add_repo(REPO, folder)
    loaded = from_pretrained(REPO, device="cpu", cache_dir=tmp_path / "cache")
    assert (loaded.source, loaded.revision, loaded.commit) == (REPO, "main", sha)
    assert loaded.folder == tmp_path / "cache" / "models--org--tiny" / "snapshots" / sha
    assert list(loaded.config.labels) == LABELS
    x = batch()
    torch.testing.assert_close(loaded.model(x), model(x))


def test_from_pretrained_local_folder_and_default(tiny, monkeypatch, tmp_path):
    folder, model = tiny
    loaded = from_pretrained(folder, device="cpu")
    assert loaded.source == str(folder) and loaded.commit is None
    torch.testing.assert_close(loaded.model(batch()), model(batch()))
    with pytest.raises(SkelrecError, match="local folder"):
        from_pretrained(folder, revision="main")

    monkeypatch.setattr(loading, "DEFAULT_MODEL_DIR", tmp_path / "weights" / "default")
    with pytest.raises(SkelrecError, match="no default model") as excinfo:
        from_pretrained()
    assert "weights/default" in one_line_error(excinfo)
    monkeypatch.setattr(loading, "DEFAULT_MODEL_DIR", folder)
    assert from_pretrained(device="cpu").source == "default"
    # an installed (non-editable) package finds the embedded model through SKELREC_DEFAULT_MODEL
    monkeypatch.setattr(loading, "DEFAULT_MODEL_DIR", tmp_path / "nowhere")
    monkeypatch.setenv("SKELREC_DEFAULT_MODEL", str(folder))
    assert from_pretrained(device="cpu").folder == folder


@pytest.mark.parametrize(
    ("repo", "revision", "expected"),
    [
        ("org/nope", None, "no model repo 'org/nope' at http://127.0.0.1:.*check the id"),
        (REPO, "v9", "org/tiny has no revision 'v9'"),
        ("not a repo//", None, "'not a repo//' is not a Hub repo id .*nor an existing model folder"),
    ],
)
def test_unknown_repo_or_revision_is_one_line(hub, tiny, repo, revision, expected):
    hub.add_repo(REPO, tiny[0])
    with pytest.raises(SkelrecError, match=expected) as excinfo:
        from_pretrained(repo, revision=revision)
    one_line_error(excinfo)


def test_gated_and_private_repos_need_a_token(hub, tiny, monkeypatch):
    hub.add_repo("org/gated", tiny[0], gated=True)
    hub.add_repo("org/private", tiny[0], private=True)
    with pytest.raises(SkelrecError, match=r"org/gated is gated: .*HF_TOKEN") as excinfo:
        from_pretrained("org/gated")
    one_line_error(excinfo)
    with pytest.raises(SkelrecError, match=r"no model repo 'org/private'.*if private, .*HF_TOKEN"):
        from_pretrained("org/private")
    assert from_pretrained("org/private", token=hub.token, device="cpu").source == "org/private"
    monkeypatch.setenv("HF_TOKEN", hub.token)
    assert from_pretrained("org/gated", device="cpu").source == "org/gated"


def test_unreachable_hub_falls_back_to_the_cache(hub, tiny, monkeypatch, caplog):
    folder, model = tiny
    hub.add_repo(REPO, folder)
    hub.add_repo("org/never-downloaded", folder)
    download(REPO)
    hub.stop()

    with caplog.at_level(logging.WARNING, logger="skelrec.hub.remote"):
        loaded = from_pretrained(REPO, device="cpu")
    assert "cannot reach" in caplog.text and loaded.commit == hub.repos[REPO].branches["main"]
    torch.testing.assert_close(loaded.model(batch()), model(batch()))

    with pytest.raises(SkelrecError, match="no network") as excinfo:
        from_pretrained("org/never-downloaded")
    message = one_line_error(excinfo)
    assert all(hint in message for hint in ("HF_HUB_OFFLINE=1", "HF_ENDPOINT", "local model folder"))

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    caplog.clear()
    assert from_pretrained(REPO, device="cpu").source == REPO
    assert "cannot reach" not in caplog.text  # offline mode does not even try
    with pytest.raises(SkelrecError, match="HF_HUB_OFFLINE=1 and org/never-downloaded@main is not in the cache"):
        from_pretrained("org/never-downloaded")


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        ("truncated", "org/tiny@main: .*model.safetensors: corrupted or truncated safetensors file"),
        ("no labels", "org/tiny@main: .*config.json: missing required fields labels"),
        ("no weights", "org/tiny@main is not a complete skelrec model: it lacks model.safetensors"),
    ],
)
def test_broken_checkpoints_served_by_the_hub(hub, tiny, broken, expected):
    folder, _ = tiny
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    if broken == "truncated":
        files["model.safetensors"] = files["model.safetensors"][: len(files["model.safetensors"]) // 2]
    elif broken == "no labels":
        config = json.loads(files["config.json"])
        del config["labels"]
        files["config.json"] = json.dumps(config).encode()
    else:
        del files["model.safetensors"]
    hub.add_repo(REPO, files)
    with pytest.raises(SkelrecError, match=expected) as excinfo:
        from_pretrained(REPO)
    one_line_error(excinfo)


# ---- pushing ----------------------------------------------------------------------------------------------------


def test_push_lands_the_files_and_they_load_back(hub, tiny, monkeypatch):
    folder, model = tiny
    url = push(folder, "me/new", token=hub.token)
    sha = hub.repos["me/new"].branches["main"]
    assert url.endswith(f"/me/new/commit/{sha}")
    files = hub.files("me/new")
    for name in ("config.json", "model.safetensors", "README.md"):
        assert files[name] == (folder / name).read_bytes()
    loaded = from_pretrained("me/new", device="cpu")
    torch.testing.assert_close(loaded.model(batch()), model(batch()))

    monkeypatch.setenv("HF_TOKEN", hub.token)
    (folder / "README.md").write_text((folder / "README.md").read_text() + "\nMore notes.\n")
    result = CliRunner().invoke(cli.app, ["push", str(folder), "me/new", "--branch", "dev", "-m", "notes"])
    assert result.exit_code == 0, result.output
    assert hub.files("me/new", "dev")["README.md"].endswith(b"More notes.\n")
    assert hub.repos["me/new"].commits[hub.repos["me/new"].branches["dev"]].message == "notes"
    assert not hub.files("me/new", "main")["README.md"].endswith(b"More notes.\n")


def test_push_renders_a_missing_card_and_refuses_an_invalid_one(hub, tiny):
    folder, _ = tiny
    (folder / "README.md").unlink()
    push(folder, "me/new", token=hub.token)
    assert b"skelrec label VIDEO.mp4 --model me/new" in hub.files("me/new")["README.md"]

    (folder / "README.md").write_text("---\ntags: [unclosed\n---\n# card\n")
    with pytest.raises(SkelrecError, match=r"refusing to push .*README.md: model card front matter is invalid"):
        push(folder, "me/new", token=hub.token)


def test_push_refuses_a_folder_that_would_not_load(hub, tiny):
    folder, _ = tiny
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(SkelrecError, match=r"refusing to push .*would not load.*corrupted or truncated") as excinfo:
        push(folder, "me/new", token=hub.token)
    one_line_error(excinfo)
    assert hub.requests == []


def test_push_without_a_write_token_says_how_to_fix_it(hub, tiny):
    with pytest.raises(SkelrecError, match=r"not allowed to write to me/new \(HTTP 401\).*HF_TOKEN") as excinfo:
        push(tiny[0], "me/new")
    one_line_error(excinfo)


def test_cli_prints_hub_errors_as_one_line(hub, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["skelrec", "download", "org/nope"])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: no model repo 'org/nope'")
