"""The web app in a real browser: Playwright driving Debian's Chromium (headless) against the app launched here.

Uploads a video, runs it, and checks that the labels, the timeline plot, the segment table, the result files and a
playable labelled video appear (screenshots in ``test-artifacts/``); a non-video gets an error message; a webcam
recording (Chromium's fake camera playing a still photo) is labelled, arrives unmirrored, and the "mirrored" box
follows it. In the Teach tab, clips of two actions are added, a model is built (accuracy table, zip download) and
the Label tab labels a clip with it. Skipped when Chromium or Playwright is missing (``bash install.sh --dev``
installs both, as root).
The model has random weights (``app_helpers.random_classifier``).
"""

from __future__ import annotations

import io
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from app_helpers import LABELS, TEACH_ACTIONS, action_clip, random_classifier, running_app

from skelrec.video import open_video
from skelrec_app.example import render_example_clip
from skelrec_app.service import WEBCAM_RECORDING_MIRRORED

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",  # a fake camera, access granted
]  # fmt: skip
TIMEOUT_MS = 180_000  # generous: CI machines can be busy (2 shared cores)


def camera_image() -> np.ndarray:
    """What the fake camera shows: the astronaut photo, still (asymmetric: a flag on the left only)."""
    from skimage.data import astronaut

    return cv2.resize(astronaut()[10:480, 20:470], (320, 320), interpolation=cv2.INTER_AREA)


def write_y4m(path: Path, rgb: np.ndarray, frames: int = 30) -> Path:
    """A YUV4MPEG2 file (Chromium's fake-camera input) showing ``rgb`` ``(H, W, 3)`` in every frame."""
    h, w = rgb.shape[:2]
    i420 = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).tobytes()
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F30:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            f.write(b"FRAME\n" + i420)
    return path


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    model = random_classifier(tmp_path_factory.mktemp("models") / "random")
    with running_app(tmp_path_factory.mktemp("app"), model=str(model), examples=True) as demo:
        yield demo.local_url


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    camera = write_y4m(tmp_path_factory.mktemp("camera") / "camera.y4m", camera_image())
    args = [*CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={camera}"]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, url: str) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.locator("#model-info").get_by_text(f"{len(LABELS)} labels").wait_for()
    yield page
    context.close()


def wait_for_result(page) -> None:
    page.locator("#run").click()
    page.locator("#video-out video").wait_for()
    page.locator("#timeline").locator("svg, canvas").first.wait_for()


def result_json(page) -> dict:
    links = [a.get_attribute("href") for a in page.locator("#files a").all()]
    return httpx.get(next(h for h in links if h.endswith(".json"))).json()


def test_upload_run_and_see_the_results(page, tmp_path: Path):
    page.locator("#model-info").get_by_text("wave, clap, jump").wait_for()
    assert page.get_by_text("Example: a public-domain photo").count() == 1  # the example is offered
    video = render_example_clip(tmp_path / "astronaut.mp4", seconds=2.0)
    page.locator("#video-in input[type=file]").set_input_files(str(video))
    page.locator("#video-in video").wait_for()
    wait_for_result(page)

    page.locator("#video-out video[src]").wait_for()
    page.wait_for_function(
        "() => { const v = document.querySelector('#video-out video'); return v && v.readyState >= 1; }"
    )
    playback = page.evaluate(
        "() => { const v = document.querySelector('#video-out video');"
        " return {duration: v.duration, width: v.videoWidth, error: v.error && v.error.code}; }"
    )
    assert playback["error"] is None and playback["width"] == 256  # the browser decodes the H.264 overlay
    assert playback["duration"] == pytest.approx(2.0, abs=0.1)
    top = page.locator("#top-labels").inner_text()
    assert sum(name in top for name in LABELS) == len(LABELS) and "%" in top
    assert page.locator("#timeline").get_by_text("time (s)").count() >= 1
    table = page.locator("#segments").inner_text()
    assert "uncertain" in table or "action" in table.split()  # a segment row's state (random labels)
    names = sorted(page.locator("#files").inner_text().split())
    assert "astronaut" in names and ".json" in names and ".csv" in names
    assert "Labelled 60 frames (2.0 s)" in page.locator("#status").inner_text()
    doc = result_json(page)
    assert doc["status"] == "ok" and doc["settings"]["mirrored"] is False
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "app.png"), full_page=True)


def test_a_non_video_gets_an_error_message(page, tmp_path: Path):
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video\n" * 100)
    page.locator("#video-in input[type=file]").set_input_files(str(notes))
    page.locator("#run").click()
    page.get_by_text("notes.mp4: not a readable video").first.wait_for()
    assert page.locator("#video-out video").count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "app-error.png"))


def test_webcam_recording_is_labelled_unmirrored(page):
    mirrored = page.get_by_label("Mirrored video")
    mirrored.check()  # a stale setting, which a recording resets
    page.locator("#video-in button[aria-label='Capture from camera']").click()
    page.locator("#video-in").get_by_text("Click to Access Webcam").click()
    record = page.locator("#video-in button.capture-button")
    record.click()
    page.wait_for_timeout(2000)
    record.click()
    page.locator("#video-in video[src]").wait_for()
    expect = "true" if WEBCAM_RECORDING_MIRRORED else "false"
    page.wait_for_function(f"() => document.querySelector('input[type=checkbox]').checked === {expect}")
    wait_for_result(page)
    doc = result_json(page)
    assert doc["status"] == "ok" and doc["settings"]["mirrored"] is WEBCAM_RECORDING_MIRRORED
    assert doc["pose"]["frames_with_person"] >= 0.9 * doc["pose"]["frames_processed"] > 0

    # the recording holds the camera's own picture; only the live preview is mirrored
    frame = next(iter(open_video(doc["video"]))).rgb
    frame = cv2.resize(frame, (320, 320), interpolation=cv2.INTER_AREA).astype(np.float32)
    source = camera_image().astype(np.float32)
    as_is, flipped = np.abs(frame - source).mean(), np.abs(frame - source[:, ::-1]).mean()
    assert bool(flipped < as_is) == WEBCAM_RECORDING_MIRRORED, (as_is, flipped)
    assert min(as_is, flipped) < 10 < max(as_is, flipped)
    page.screenshot(path=str(ARTIFACTS / "app-webcam.png"), full_page=True)


def table_rows(page, table: str) -> list[list[str]]:
    """The cells of a ``gr.Dataframe``'s rows, as shown."""
    rows = page.locator(f"{table} [role=row][data-index]").all()
    return [[cell.strip() for cell in row.locator("[role=gridcell]").all_inner_texts()] for row in rows]


def test_teach_two_actions_then_label_with_the_model(page, tmp_path: Path):
    page.get_by_role("tab", name="Teach").click()
    for action, (photo, motion) in TEACH_ACTIONS.items():
        clips = [str(action_clip(tmp_path / f"{action}{i}.mp4", photo, motion, seed=i)) for i in range(2)]
        page.locator("#teach-name textarea").fill(action)
        page.locator("#teach-files input[type=file]").set_input_files(clips)
        page.locator(f"#teach-files td[aria-label='{action}1.mp4']").wait_for()  # uploaded
        page.locator("#teach-add").click()
        page.locator("#teach-actions [role=gridcell]").get_by_text(action, exact=True).wait_for()
    assert page.locator("#teach-files td.filename").count() == 0  # "Add clips" empties the input
    assert table_rows(page, "#teach-actions") == [["bow", "2"], ["wave", "2"]]

    page.locator("#teach-build").click()
    page.locator("#teach-status").get_by_text("Taught 2 actions").wait_for()
    assert table_rows(page, "#teach-accuracy") == [["bow", "2", "2", "100"], ["wave", "2", "2", "100"]]
    assert "is labelled unknown" in page.locator("#teach-status").inner_text()
    link = page.locator("#teach-zip a").first.get_attribute("href")
    with zipfile.ZipFile(io.BytesIO(httpx.get(link).content)) as z:
        assert sorted(z.namelist()) == ["taught-1/README.md", "taught-1/config.json", "taught-1/model.safetensors"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "teach.png"), full_page=True)

    page.get_by_role("tab", name="Label").click()
    page.locator("#model-info").get_by_text("3 labels: bow, wave, unknown").wait_for()  # loaded at once
    clip = action_clip(tmp_path / "new-bow.mp4", *TEACH_ACTIONS["bow"], seed=3)
    page.locator("#video-in input[type=file]").set_input_files(str(clip))
    page.locator("#video-in video").wait_for()
    wait_for_result(page)
    doc = result_json(page)
    assert doc["model"]["labels"] == ["bow", "wave", "unknown"] and doc["summary"][0]["label"] == "bow"
