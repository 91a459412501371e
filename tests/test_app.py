"""The web app through its API, as any client sees it: ``gradio_client`` against the app launched on a free port.

A real video (scikit-image's astronaut photo moving like a handheld camera, run through the real MediaPipe) goes
in; the overlay video, whole-clip labels, timeline, segments and the JSON/CSV files of ``skelrec label`` come out.
Every bad input gets a clear one-line error; uploads above the size limit are refused; simultaneous requests all
complete and memory stays bounded. The model has random weights (``app_helpers.random_classifier``).

The Teach tab's endpoints: clips of two actions added, an action removed, a model built on the test model's encoder
(accuracy table, open-set threshold, a zip of the checkpoint) and used by the labeling endpoint; and its errors.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from app_helpers import LABELS, TEACH_ACTIONS, action_clip, live_webm, noise_video, random_classifier, running_app
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from hf_server import FakeHub
from huggingface_hub import constants
from typer.testing import CliRunner

import skelrec_app.main
from skelrec import cli
from skelrec.errors import SkelrecError
from skelrec.hub import load_model
from skelrec.teach import UNKNOWN_LABEL, TeachSettings
from skelrec.video import open_video, write_video
from skelrec_app.example import render_example_clip
from skelrec_app.service import LabelingService
from skelrec_app.teach_session import RESULT_COLUMNS, TeachSession

MAX_SECONDS = 10
MAX_UPLOAD_MB = 5
CONCURRENCY = 2


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return random_classifier(tmp_path_factory.mktemp("models") / "random")


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_example_clip(tmp_path_factory.mktemp("videos") / "astronaut.mp4", seconds=2.0)


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The running app's folder (its work folder is ``work/`` in it)."""
    return tmp_path_factory.mktemp("app")


@pytest.fixture(scope="module")
def url(app_dir: Path, model: Path):
    options = {"max_seconds": MAX_SECONDS, "max_upload_mb": MAX_UPLOAD_MB, "concurrency": CONCURRENCY}
    with running_app(app_dir, model=str(model), examples=False, **options) as demo:
        yield demo.local_url


@pytest.fixture(scope="module")
def client(url: str) -> Client:
    return Client(url, verbose=False)


def label(client: Client, video: Path | None, **settings: object) -> tuple:
    return client.predict(handle_file(str(video)) if video else None, **settings, api_name="/label")


@pytest.mark.slow
def test_label_round_trip(client: Client, video: Path, model: Path):
    overlay, top, lines, bars, table, files, summary = label(
        client,
        video,
        text=str(model),
        device="cpu",
        window_stride=0.25,
        smoothing="none",
        min_confidence=0.0,
        own_threshold=False,
        mirrored=True,
    )
    # the overlay: H.264 (browser-playable), every frame of the clip
    reader = open_video(overlay)
    assert (reader.info.codec, reader.frame_count, reader.width, reader.height) == ("h264", 60, 256, 256)

    # the result files are those `skelrec label` writes
    assert sorted(Path(f).name for f in files) == ["astronaut.csv", "astronaut.json"]
    doc = json.loads(next(Path(f) for f in files if f.endswith(".json")).read_text())
    assert doc["status"] == "ok" and doc["model"]["labels"] == LABELS
    assert doc["video"] == "astronaut.mp4" and doc["model"]["source"] == model.name  # names, not server paths
    assert doc["settings"]["window_stride"] == 0.25 and doc["settings"]["mirrored"] is True
    assert doc["settings"]["smoothing"]["method"] == "none" and doc["settings"]["min_confidence"] == 0.0
    assert doc["pose"]["frames_processed"] == 60 and doc["pose"]["detection_rate"] >= 0.9
    rows = list(csv.DictReader(io.StringIO(next(Path(f) for f in files if f.endswith(".csv")).read_text())))
    assert [(float(r["start"]), float(r["end"]), r["label"]) for r in rows] == [
        (s["start"], s["end"], s["label"]) for s in doc["segments"]
    ]

    # what the page shows agrees with the files
    assert top["label"] == doc["summary"][0]["label"]
    assert [(c["label"], c["confidence"]) for c in top["confidences"]] == [
        (s["label"], s["score"]) for s in doc["summary"]
    ]
    assert sum(c["confidence"] for c in top["confidences"]) == pytest.approx(1.0, abs=1e-3)
    assert table["headers"] == ["start", "end", "label", "score", "state"]
    assert [r[:3] for r in table["data"]] == [[s["start"], s["end"], s["label"]] for s in doc["segments"]]
    assert {r[4] for r in table["data"]} == {"action"}  # min_confidence 0: every window with a person is an action
    assert doc["segments"][0]["start"] == 0 and doc["segments"][-1]["end"] == pytest.approx(2.0)

    # the timeline: every window (stride 0.25 s: 5 of 1 s over 2 s, few: bars), every class (3 <= top 5), unsmoothed
    assert not lines.get("visible", True) and bars.get("visible") is True  # component updates: shown, hidden
    points = bars["value"]["data"]
    centres = sorted({t for t, _, _, _ in points})
    assert centres == pytest.approx([(w["start"] + w["end"]) / 2 for w in doc["windows"]]) and len(centres) == 5
    assert [w for _, w, _, _ in points[:: len(LABELS)]] == [
        "0.0-1.0 s",
        "0.2-1.2 s",
        "0.5-1.5 s",
        "0.8-1.8 s",
        "1.0-2.0 s",
    ]
    for t in centres:
        probs = {c: p for time_s, _, p, c in points if time_s == t}
        assert set(probs) == set(LABELS) and sum(probs.values()) == pytest.approx(1.0, abs=1e-5)
    assert re.match(r"Labelled 60 frames \(2\.0 s\) on cpu in [\d.]+ s: a person is in view in \d+ of them", summary)


@pytest.mark.slow
def test_model_info_and_missing_models(client: Client, model: Path, tmp_path: Path):
    info, card = client.predict(str(model), "cpu", api_name="/model")
    assert "<b>3 labels</b></summary>\n\nwave, clap, jump" in info and "layout `ntu25`" in info
    assert f"`{model.name}` on `cpu`" in info and str(model) not in info  # its name, not its server path
    assert "no model card" in card
    info, _ = client.predict("", "auto", api_name="/model")  # the embedded default (absent in these tests)
    assert info.startswith("**No model available.** this server has no default model; type the Hub id")
    assert "SKELREC_DEFAULT_MODEL" not in info and "/" not in info.replace("owner/name", "")  # no operator advice
    info, _ = client.predict("owner", "cpu", api_name="/model")  # a bare owner is not a Hub id
    assert info.startswith("**No model available.** 'owner' is not a model name: a Hub id is owner/name")
    (tmp_path / "empty").mkdir()
    info, _ = client.predict(str(tmp_path / "empty"), "cpu", api_name="/model")
    assert info.startswith("**No model available.**") and "empty" in info


def test_shipped_model_names_are_model_names():
    """The model box takes the names of the models shipped with skelrec (`skelrec models`), not only Hub ids."""
    from skelrec_app.model_names import ModelNames

    assert ModelNames().resolve("gestures") == ("gestures", "gestures")
    assert ModelNames().resolve("default") == (None, "default")
    with pytest.raises(SkelrecError, match="not a model name"):
        ModelNames().resolve("gesture")


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """A loopback Hub (tests/hf_server.py) and a Hub cache in tmp_path; nothing reaches the internet."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    for var in ("HF_HUB_CACHE", "HF_HUB_OFFLINE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf_home" / "token"))
    with FakeHub() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


@pytest.mark.slow
def test_a_hub_model_is_downloaded_shown_and_used(client: Client, hub: FakeHub, video: Path, tmp_path: Path):
    sha = hub.add_repo("org/random", random_classifier(tmp_path / "random", repo_id="org/random"))
    info, card = client.predict("org/random", "cpu", api_name="/model")
    assert f"`org/random @ {sha[:10]}`" in info and "wave, clap, jump" in info
    assert "Random weights, for tests." in card and not card.startswith("---")  # the card, without front matter
    *_, files, _ = label(client, video, text=" org/random ", device="cpu")  # spaces around are ignored
    doc = json.loads(next(Path(f) for f in files if f.endswith(".json")).read_text())
    assert (doc["model"]["source"], doc["model"]["commit"]) == ("org/random", sha)
    info, _ = client.predict("org/missing", "cpu", api_name="/model")
    assert info.startswith("**No model available.** no model repo 'org/missing'")


def test_an_unreachable_hub_gets_a_message_for_visitors(
    client: Client, hub: FakeHub, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    """Offline mode or no network: the visitor is told the model is not available here; the log keeps the advice."""
    for env in ({"HF_HUB_OFFLINE": "1"}, {"HF_ENDPOINT": "http://127.0.0.1:9"}):  # cache only / nothing listening
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        info, _ = client.predict("org/elsewhere", "cpu", api_name="/model")
        assert info.startswith("**No model available.** the model 'org/elsewhere' is not available on this server")
        assert "ask the operator" in info and "HF_" not in info and "cache" not in info
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert "HF_HUB_OFFLINE" in caplog.text  # the operator's advice, in the server log


@pytest.mark.slow
def test_whole_clip_agrees_with_the_segments(client: Client, video: Path, model: Path):
    """The headline follows the segments' rule: no window confident enough -> "no action", as its only segment."""
    for min_confidence, state in ((1.0, "uncertain"), (0.0, "action")):
        _, top, _, _, table, files, _ = label(
            client,
            video,
            text=str(model),
            device="cpu",
            window_stride=0.5,
            smoothing="none",
            min_confidence=min_confidence,
            own_threshold=False,
            mirrored=False,
        )
        doc = json.loads(next(Path(f) for f in files if f.endswith(".json")).read_text())
        assert [s["state"] for s in doc["segments"]] == [state]
        assert top["label"] == doc["segments"][0]["label"] == table["data"][0][2]
    assert top["label"] in LABELS


@pytest.mark.slow
def test_the_models_calibrated_threshold_by_default(client: Client, video: Path, tmp_path: Path):
    """Unless the visitor unticks it, a run uses the threshold stored in the model's config.json."""
    strict = random_classifier(tmp_path / "strict", min_confidence=0.99)
    for own, expected, state in ((True, 0.99, "uncertain"), (False, 0.0, "action")):
        _, _, _, _, _, files, _ = label(
            client, video, text=str(strict), device="cpu", smoothing="none", min_confidence=0.0, own_threshold=own
        )
        doc = json.loads(next(Path(f) for f in files if f.endswith(".json")).read_text())
        assert doc["settings"]["min_confidence"] == expected and {s["state"] for s in doc["segments"]} == {state}


def test_service_checks_its_arguments(model: Path, tmp_path: Path):
    service = LabelingService(tmp_path, max_seconds=5)
    assert service.load(str(model), "cpu") is service.load(str(model), "cpu")  # loaded once
    if not torch.cuda.is_available():
        with pytest.raises(SkelrecError, match="device 'cuda' is not available here; choose one of auto, cpu"):
            service.load(str(model), "cuda")
    with pytest.raises(SkelrecError, match="max_seconds must be > 0"):
        LabelingService(tmp_path, max_seconds=0)


def _text(path: Path) -> Path:
    path.write_text("this is not a video\n" * 50)
    return path


def _truncated(path: Path) -> Path:
    full = noise_video(path.with_name("full.avi"), 1.0)  # written by write_video with libx264 in an AVI
    path.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    return path


BAD_INPUTS = {
    "not a video": (lambda d: _text(d / "notes.mp4"), {}, r"^notes\.mp4: not a readable video"),
    "corrupt": (lambda d: _truncated(d / "cut.avi"), {}, r"^cut\.avi: video ends after \d+ of 30 frames"),
    "too long": (
        lambda d: write_video(d / "long.mp4", (np.zeros((32, 32, 3), np.uint8) for _ in range(12 * 30))),
        {},
        r"^long\.mp4: the video lasts 12\.0 s, longer than the limit of 10 s",
    ),
    "too long, no duration stored": (
        lambda d: live_webm(d / "recording.webm", 12),
        {},
        r"^recording\.webm: the video lasts (at least )?1\d\.\d s, longer than the limit of 10 s",
    ),
    "no person": (lambda d: noise_video(d / "noise.mp4", 1.0), {}, r"^noise\.mp4: no person found in any of its 30"),
    "bad smoothing": (lambda d: d / "astronaut.mp4", {"smoothing": "wobble"}, r"unknown smoothing 'wobble'"),
    "no video": (lambda d: None, {}, r"^Upload a video or record one"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_inputs_get_clear_errors(client: Client, video: Path, case: str):
    make, settings, message = BAD_INPUTS[case]
    path = make(video.parent)
    with pytest.raises(AppError) as err:
        label(client, path, **settings)
    assert re.search(message, str(err.value)), str(err.value)
    assert "/tmp" not in str(err.value) and "\n" not in str(err.value)  # the file's name, not the upload path


def test_upload_size_limit(url: str):
    config = httpx.get(url + "config").json()
    assert config["max_file_size"] == MAX_UPLOAD_MB * 1024 * 1024
    small = httpx.post(url + "gradio_api/upload", files={"files": ("a.mp4", b"\0" * 1000)})
    assert small.status_code == 200
    big = httpx.post(url + "gradio_api/upload", files={"files": ("b.mp4", b"\0" * (MAX_UPLOAD_MB + 1) * 2**20)})
    assert big.status_code == 413 and "maximum allowed size" in big.text


def _rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="RSS is read from /proc (Linux)")
def test_simultaneous_requests_complete_with_bounded_memory(client: Client, model: Path, tmp_path: Path):
    """Rounds of 4 simultaneous requests (distinct videos: no cached poses): all complete, and after a first round
    two more add little memory (without ``release_memory`` each round added ~130 MB)."""

    def round_of_requests(first: int) -> None:
        videos = [
            render_example_clip(tmp_path / f"clip{i}.mp4", seconds=1.0, size=192, phase=0.7 * i)
            for i in range(first, first + 4)
        ]
        jobs = [client.submit(handle_file(str(v)), str(model), "cpu", api_name="/label") for v in videos]
        for job, v in zip(jobs, videos, strict=True):
            overlay, top, _, _, _, files, _ = job.result(timeout=120)
            assert top["label"] in LABELS and Path(overlay).name == v.name
            assert sorted(Path(f).name for f in files) == [f"{v.stem}.csv", f"{v.stem}.json"]

    round_of_requests(0)
    after_first = _rss_mb()
    round_of_requests(4)
    round_of_requests(8)
    assert _rss_mb() - after_first < 150, (after_first, _rss_mb())


def test_cli_app_passes_its_options(monkeypatch: pytest.MonkeyPatch):
    calls: list[dict] = []
    monkeypatch.setattr(skelrec_app.main, "launch", lambda **kw: calls.append(kw))
    args = "app --host 0.0.0.0 --port 7999 --share --model org/m --max-seconds 30 --max-upload-mb 50 --concurrency 2"
    result = CliRunner().invoke(cli.app, args.split())
    assert result.exit_code == 0, result.output
    assert calls == [
        {
            "host": "0.0.0.0",
            "port": 7999,
            "share": True,
            "model": "org/m",
            "max_seconds": 30.0,
            "max_upload_mb": 50.0,
            "concurrency": 2,
        }
    ]


# ------------------------------------------------------------------------------------------------------------------
# The Teach tab.
# ------------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def teach_clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """Two clips of each action of ``TEACH_ACTIONS``, and one of random pixels (``nobody``)."""
    folder = tmp_path_factory.mktemp("teach")
    clips = {
        action: [action_clip(folder / f"{action}{i}.mp4", photo, motion, seed=i) for i in range(2)]
        for action, (photo, motion) in TEACH_ACTIONS.items()
    }
    return clips | {"nobody": [noise_video(folder / "nobody.mp4", 1.0)], "text": [_text(folder / "notes.mp4")]}


def add_clips(client: Client, name: str, video: Path | None = None, uploads: list[Path] | tuple = ()) -> tuple:
    video_in = handle_file(str(video)) if video else None
    return client.predict(name, video_in, [handle_file(str(p)) for p in uploads], api_name="/teach_add")


def build(client: Client, base: Path, **settings: object) -> tuple:
    options = {"method": "prototype", "open_set": True, "augment": False, "mirrored": False, "device": "cpu"}
    return client.predict(str(base), **(options | settings), api_name="/teach_build")


@pytest.mark.slow
def test_teach_round_trip(url: str, app_dir: Path, model: Path, teach_clips: dict[str, list[Path]], tmp_path: Path):
    client = Client(url, verbose=False)  # a session of its own
    wave, bow = teach_clips["wave"], teach_clips["bow"]
    table, choice, video, uploads = add_clips(client, "wave", video=wave[0])  # a recording (or upload)
    assert table["data"] == [["wave", 1]] and choice["value"] == "wave" and video is None and not uploads
    add_clips(client, " wave ", uploads=wave[1:])  # the same action: one more clip
    add_clips(client, "jumping_jack", uploads=bow[:1])
    table, choice, *_ = add_clips(client, "bow", uploads=bow)
    assert table["data"] == [["bow", 2], ["jumping jack", 1], ["wave", 2]]
    assert [c[0] for c in choice["choices"]] == ["bow", "jumping jack", "wave"] and choice["value"] == "bow"
    table, choice = client.predict("jumping jack", api_name="/teach_remove")
    assert table["data"] == [["bow", 2], ["wave", 2]] and [c[0] for c in choice["choices"]] == ["bow", "wave"]

    accuracy, summary, zipped, name = build(client, model, pooling="mean")  # the Feature choice (default: joints)
    assert name == "taught-1"  # the model box names it; its folder stays on the server
    (folder,) = (app_dir / "work" / "taught").glob(f"*/{name}")
    assert accuracy["headers"] == RESULT_COLUMNS and accuracy["data"] == [["bow", 2, 2, 100.0], ["wave", 2, 2, 100.0]]
    assert "**Taught 2 actions** from 4 clips with `prototype`" in summary and "accuracy: **100.0 %**" in summary
    assert "over your own clips" in summary and "other people may differ" in summary  # what leave-one-out means
    config = json.loads((folder / "config.json").read_text())
    assert config["head"]["config"]["pooling"] == config["teach"]["pooling"] == "mean"
    threshold = float(re.search(r"below \*\*([\d.]+)\*\* is labelled `unknown`", summary).group(1))
    assert threshold == pytest.approx(config["teach"]["open_set"]["threshold"], abs=5e-4)
    session = folder.parent.name  # <workdir>/taught/<session>/taught-1; the clips in <workdir>/teach/<session>
    examples = folder.parents[2] / "teach" / session
    assert sorted(p.relative_to(examples).as_posix() for p in examples.rglob("*") if p.is_file()) == [
        "bow/clip1.mp4",
        "bow/clip2.mp4",
        "wave/clip1.mp4",
        "wave/clip2.mp4",
    ]

    # the download: the checkpoint's three files, loadable as they are
    with zipfile.ZipFile(zipped) as z:
        assert sorted(z.namelist()) == ["taught-1/README.md", "taught-1/config.json", "taught-1/model.safetensors"]
        z.extractall(tmp_path)
    _, unzipped = load_model(tmp_path / "taught-1")
    assert list(unzipped.labels) == ["bow", "wave", UNKNOWN_LABEL] == config["labels"]

    # the Label tab shows and uses it (its model box now holds its name, which only this session knows)
    info, card = client.predict(name, "cpu", api_name="/model")
    assert "bow, wave, unknown" in info and str(app_dir) not in info and "## Taught actions" in card
    new_bow = action_clip(tmp_path / "bow.mp4", *TEACH_ACTIONS["bow"], seed=3)
    _, top, _, _, _, files, _ = label(
        client, new_bow, text=name, device="cpu", smoothing="none", min_confidence=0.0, own_threshold=False
    )
    doc = json.loads(next(Path(f) for f in files if f.endswith(".json")).read_text())
    assert doc["model"]["source"] == name and doc["model"]["labels"] == ["bow", "wave", UNKNOWN_LABEL]
    assert top["label"] == "bow" and doc["segments"][0]["label"] == "bow"


TEACH_ERRORS = {  # the clips added (action name, clips), the build settings (None: no build), the error expected
    "empty name": ([(" _ ", "wave")], None, r"^the action has no name; type what the person does"),
    "duplicate name": (
        [("wave", "wave"), ("Wave-", "bow")],
        None,
        r"^action name 'Wave-' names the same action as "
        r"'wave' \(case, spaces, hyphens and underscores are ignored\)",
    ),
    "reserved name": ([("Unknown", "wave")], None, r"^action name 'Unknown' is reserved"),
    "no clip": ([("wave", None)], None, r"^no clip for 'wave'; record or upload a video"),
    "not a video": ([("wave", "text")], None, r"^notes\.mp4: not a readable video"),
    "no action": ([], {}, r"^no actions yet"),
    "one action, closed set": (
        [("wave", "wave")],
        {"open_set": False},
        r"^only one action \('wave'\): a closed-set model needs two or more; .* open set",
    ),
    "no person": (
        [("wave", "wave"), ("nobody", "nobody")],
        {},
        r"^nobody: no usable clip for action 'nobody': no person found in any of its 1 clip",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(TEACH_ERRORS))
def test_teach_errors_are_shown(url: str, model: Path, teach_clips: dict[str, list[Path]], case: str):
    adds, settings, message = TEACH_ERRORS[case]
    client = Client(url, verbose=False)
    with pytest.raises(AppError) as err:
        for name, clips in adds:
            add_clips(client, name, uploads=teach_clips[clips] if clips else ())
        if settings is not None:
            build(client, model, **settings)
    assert re.search(message, str(err.value)), str(err.value)
    assert "/tmp" not in str(err.value) and "\n" not in str(err.value)


@pytest.mark.slow
def test_teach_session_folders(model: Path, teach_clips: dict[str, list[Path]], tmp_path: Path):
    """Clip numbers continue after earlier clips; a new session deletes old ones; the zip holds only the checkpoint."""
    session = TeachSession(tmp_path)
    with pytest.raises(SkelrecError, match=r"not a teach session id: '\.\./x'"):
        TeachSession(tmp_path, "../x")
    for clip in [*teach_clips["wave"], *teach_clips["nobody"]]:
        session.add_clips("hands up", [clip])
    assert sorted(p.name for p in (session.examples / "hands_up").iterdir()) == ["clip1.mp4", "clip2.mp4", "clip3.mp4"]
    assert session.labels() == ["hands up"] and session.actions_table().values.tolist() == [["hands up", 3]]
    taught = session.build(base=str(model), settings=TeachSettings(), device="cpu", pose_cache=tmp_path / "poses")
    assert taught.accuracy_table().values.tolist() == [["hands up", 2, 2, 100.0]]
    assert "**Taught 1 action** from 2 clips" in taught.describe()
    assert "Skipped `hands_up/clip3.mp4`: no person found." in taught.describe()
    (taught.folder / "notes.txt").write_text("not part of the model")
    with zipfile.ZipFile(taught.zip) as z:
        assert sorted(z.namelist()) == ["taught-1/README.md", "taught-1/config.json", "taught-1/model.safetensors"]
    again = session.build(base=str(model), settings=TeachSettings(), device="cpu", pose_cache=tmp_path / "poses")
    assert again.folder.name == "taught-2"
    assert TeachSession.resume(tmp_path, session.id).examples.is_dir()
    TeachSession.resume(tmp_path, None, keep_seconds=-1)  # a new session: every older one is deleted
    assert not session.examples.exists() and not session.models.exists()


def test_the_model_box_offers_the_shipped_models_that_label_videos(monkeypatch: pytest.MonkeyPatch):
    from skelrec_app import main

    rows = [
        {"name": "default", "available": True, "videos": True, "labels": ["a", "b"]},
        {"name": "gestures", "available": False, "videos": True, "labels": []},
        {"name": "interactions", "available": True, "videos": False, "labels": ["hug"]},
    ]
    monkeypatch.setattr(main, "list_shipped_models", lambda: rows)
    assert main.shipped_info() == "Shipped with skelrec: default (2 actions)"
