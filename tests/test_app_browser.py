"""The web app in a real browser: Playwright driving Debian's Chromium (headless) against the app launched here.

Uploads a video, runs it, and checks that the labels, the timeline plot, the segment table, the result files and a
playable labelled video appear (screenshots in ``test-artifacts/``), with one progress indicator under a button that
is disabled while it runs, and no server path on the page; an AVI gets a playable preview and no error; the model
card's tables are readable; on a phone the results come right after the button; a non-video gets an error message; a
webcam
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

pytestmark = pytest.mark.slow  # a real Chromium per module: seconds per test

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",  # a fake camera, access granted
]
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


CARD = """# A test model

| action | clips | right when held out | accuracy (%) |
|---|---|---|---|
| stand up from sitting | 12 | 11 | 91.7 |
| put on a shoe | 9 | 9 | 100.0 |
"""


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("app")


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory, app_dir: Path) -> Iterator[str]:
    model = random_classifier(tmp_path_factory.mktemp("models") / "random")
    (model / "README.md").write_text(CARD)
    with running_app(app_dir, model=str(model), examples=True) as demo:
        yield demo.local_url


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    camera = write_y4m(tmp_path_factory.mktemp("camera") / "camera.y4m", camera_image())
    args = [*CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={camera}"]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        yield browser
        browser.close()


def open_page(browser, url: str, viewport: dict[str, int]) -> Iterator[object]:
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.locator("#model-info").get_by_text(f"{len(LABELS)} labels").wait_for()
    yield page
    context.close()


@pytest.fixture
def page(browser, url: str) -> Iterator[object]:
    yield from open_page(browser, url, {"width": 1400, "height": 1000})


PROGRESS_PLACES = """() => [...document.querySelectorAll('.progress-text, .progress-level, .eta-bar')]
    .map(e => (e.closest('[id]') || {}).id)"""


def wait_for_result(page, plot: str = "#timeline-bars") -> None:
    """Run; while it runs, the button is disabled and relabelled, and the one progress indicator is under it."""
    run = page.locator("#run")
    run.click()
    page.wait_for_function("() => document.querySelector('#run').disabled")
    assert run.inner_text() == "Labelling…"
    page.wait_for_function(f"() => ({PROGRESS_PLACES})().length > 0")
    assert set(page.evaluate(PROGRESS_PLACES)) == {"status"}  # one indicator (not one per output), under the button
    page.locator("#video-out video").wait_for()
    page.locator(plot).locator("svg").first.wait_for()
    page.wait_for_function("() => !document.querySelector('#run').disabled")
    assert run.inner_text() == "Label actions"


def assert_no_server_path(page, app_dir: Path) -> None:
    text = page.locator("body").inner_text() + " ".join(
        page.locator("textarea, input").evaluate_all("els => els.map(e => e.value || '')")
    )
    assert str(app_dir) not in text and "/tmp/" not in text


def result_json(page) -> dict:
    links = [a.get_attribute("href") for a in page.locator("#files a").all()]
    return httpx.get(next(h for h in links if h.endswith(".json"))).json()


def test_upload_run_and_see_the_results(page, tmp_path: Path, app_dir: Path):
    page.locator("#model-info summary").click()  # the label list is collapsed
    page.locator("#model-info").get_by_text("wave, clap, jump").wait_for()
    caption = page.get_by_text("Example: a public-domain photo of an astronaut")
    assert caption.count() == 1 and "action" not in caption.inner_text()  # says what the clip is, not a result
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
    # a 2-s clip has 3 windows: bars per window, ticks naming them in seconds, every class named in the legend
    assert not page.locator("#timeline").is_visible()
    texts = page.locator("#timeline-bars svg text").evaluate_all("els => els.map(e => e.textContent)")
    assert {"0.0-1.0 s", "0.5-1.5 s", "1.0-2.0 s", *LABELS} <= set(texts), texts
    table = page.locator("#segments").inner_text()
    assert "uncertain" in table or "action" in table.split()  # a segment row's state (random labels)
    segment = table_rows(page, "#segments")[0][2]
    assert page.locator("#top-labels h2, #top-labels .output-class").first.inner_text().strip() == segment
    names = sorted(page.locator("#files").inner_text().split())
    assert "astronaut" in names and ".json" in names and ".csv" in names
    assert "Labelled 60 frames (2.0 s)" in page.locator("#status").inner_text()
    doc = result_json(page)
    assert doc["status"] == "ok" and doc["settings"]["mirrored"] is False
    assert doc["video"] == "astronaut.mp4" and doc["model"]["source"] == "random"  # names, not server paths
    assert_no_server_path(page, app_dir)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "app.png"), full_page=True)


def toasts(page) -> list[str]:
    return page.locator(".toast-body").all_inner_texts()


def test_an_avi_gets_a_playable_preview(page, tmp_path: Path):
    """Browsers cannot play an AVI: the input shows an H.264 preview, no error; the original is labelled."""
    avi = render_example_clip(tmp_path / "handheld.avi", seconds=2.0)
    page.locator("#video-in input[type=file]").set_input_files(str(avi))
    page.locator("#video-in video[src$='.mp4']").wait_for()
    page.wait_for_function(
        "() => { const v = document.querySelector('#video-in video'); return v && v.readyState >= 1; }"
    )
    playback = page.evaluate(
        "() => { const v = document.querySelector('#video-in video');"
        " return {width: v.videoWidth, error: v.error && v.error.code}; }"
    )
    assert playback == {"width": 256, "error": None}
    page.wait_for_timeout(500)  # any late error would show by now
    assert not [t for t in toasts(page) if "playable" in t.lower()] and page.locator("#video-in .error").count() == 0
    wait_for_result(page)
    doc = result_json(page)
    assert doc["video"] == "handheld.avi" and doc["frames"] == 60  # the original upload, labelled
    assert not toasts(page)


def test_model_card_tables_are_readable(page):
    page.locator("#model-card-box").get_by_text("Model card").click()
    page.locator("#model-card td").first.wait_for()
    lines = page.evaluate(
        "() => [...document.querySelectorAll('#model-card td, #model-card th')].map(cell => {"
        " const r = document.createRange(); r.selectNodeContents(cell);"
        " return [cell.textContent, new Set([...r.getClientRects()].map(b => Math.round(b.top))).size]; })"
    )
    assert len(lines) == 12 and all(n == 1 for _, n in lines), lines  # every cell on one line


def test_on_a_phone_the_results_follow_the_button(browser, url: str):
    for page in open_page(browser, url, {"width": 390, "height": 844}):
        run = page.locator("#run").bounding_box()
        results = page.locator("#results").bounding_box()
        model = page.locator("#model").bounding_box()
        assert 0 <= results["y"] - (run["y"] + run["height"]) < 300, (run, results)
        assert model["y"] > results["y"]  # the model and its label list come after the results
        page.screenshot(path=str(ARTIFACTS / "app-phone.png"), full_page=True)


def test_a_non_video_gets_an_error_message(page, tmp_path: Path):
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video\n" * 100)
    page.locator("#video-in input[type=file]").set_input_files(str(notes))
    page.locator("#run").click()
    page.get_by_text("notes.mp4: not a readable video").first.wait_for()
    assert page.locator("#video-out video").count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "app-error.png"))


def test_webcam_recording_is_labelled_unmirrored(page, tmp_path: Path):
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
    recording = tmp_path / doc["video"]
    recording.write_bytes(httpx.get(page.locator("#video-in video").get_attribute("src")).content)
    frame = next(iter(open_video(recording))).rgb
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


def test_teach_two_actions_then_label_with_the_model(page, tmp_path: Path, app_dir: Path):
    page.get_by_role("tab", name="Teach").click()
    assert page.locator("#teach-video input[type=file]").count() == 1  # it offers an upload first, not the webcam
    assert page.locator("#teach-video").get_by_text("Click to Access Webcam").count() == 0
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
    page.locator("#model-info").get_by_text("3 labels").wait_for()  # loaded at once
    page.locator("#model-info summary").click()
    page.locator("#model-info").get_by_text("bow, wave, unknown").wait_for()
    assert page.locator("#model textarea, #model input").first.input_value() == "taught-1"
    assert_no_server_path(page, app_dir)
    clip = action_clip(tmp_path / "new-bow.mp4", *TEACH_ACTIONS["bow"], seed=3)
    page.locator("#video-in input[type=file]").set_input_files(str(clip))
    page.locator("#video-in video").wait_for()
    wait_for_result(page)
    doc = result_json(page)
    assert doc["model"]["labels"] == ["bow", "wave", "unknown"] and doc["summary"][0]["label"] == "bow"
