"""The skelrec web app: a video of a person in, what they are doing and when out; and your own actions taught.

One page with two tabs: **Label** (a video in, actions over time out) and **Teach** (name actions, record or upload a
few clips of each, build a model that the Label tab uses at once). The layout (components) comes first, then the
wiring (events). The work happens behind the page (:mod:`.service`, :mod:`.teach_session`, :mod:`.preview`,
:mod:`.model_names`, :mod:`.example`) and in the library; the functions here only translate between the page and
it, and turn its one-line errors into ``gr.Error`` messages.

Installed as the package ``skelrec_app`` (from the repository's ``app/`` folder)::

    skelrec app                       # http://127.0.0.1:7860 (see `skelrec app --help`)
    python -m skelrec_app.main        # the same with the default settings
"""

from __future__ import annotations

import filecmp
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr

from skelrec.errors import SkelrecError
from skelrec.hub import LoadedModel
from skelrec.hub.shipped import list_shipped_models
from skelrec.labeling import DEFAULT_MIN_CONFIDENCE, DEFAULT_STRIDE
from skelrec.models.pooling import POOLINGS
from skelrec.teach import DEFAULT_POOLING, TEACH_METHODS, TeachSettings
from skelrec.teach.progress import STAGES as TEACH_STAGES

from .example import EXAMPLE_CAPTION, example_clip
from .model_names import ModelNames, visitor_message
from .preview import browser_preview
from .service import (
    DEFAULT_MAX_SECONDS,
    SEGMENT_COLUMNS,
    SMOOTHING_CHOICES,
    WEBCAM_RECORDING_MIRRORED,
    LabelingService,
    RunOutputs,
    RunSettings,
    describe_model,
    device_choices,
    device_status,
    model_card_text,
    prune_old_entries,
    release_memory,
)
from .teach_session import ACTION_COLUMNS, APP_METHODS, RESULT_COLUMNS, TeachSession

__all__ = ["CSS", "JS", "build_app", "launch"]

log = logging.getLogger(__name__)

STAGES = {
    "decode": "Reading the video",
    "pose": "Finding the person (pose)",
    "classify": "Recognising actions",
    "render": "Drawing the labelled video",
    "write": "Writing the result files",
}
INTRO = (
    "# skelrec: what is the person doing, and when?\n"
    "Upload a video of a person (or record one with your webcam) and press **Label actions**. skelrec finds the "
    "person's skeleton in every frame, recognises actions in sliding windows, and shows them over time. "
    "In the **Teach** tab, show it a few clips of your own actions and build a model that recognises them."
)
TEACH_INTRO = (
    "Name an action, record or upload one or more clips of it (a few seconds each, one person in view) and press "
    "**Add clips**; repeat for every action. **Build** teaches them to a model in seconds, measures how well it "
    "tells the clips apart (each clip held out in turn), and loads it in the **Label** tab."
)
NO_MODEL = (
    "**No model available.** {error}\n\n"
    "Type a Hugging Face Hub repo id (`owner/name`) above, or leave the box empty for the default model, and press "
    "**Load model**."
)
RUN_LABEL, RUNNING_LABEL = "Label actions", "Labelling…"


def shipped_info() -> str:
    """The models that come with skelrec and label videos, by name (:mod:`skelrec.hub.shipped`), for the Model box."""
    models = [m for m in list_shipped_models() if m["available"] and m["videos"]]
    names = [f"{m['name']} ({len(m['labels'])} actions)" for m in models]
    return "Shipped with skelrec: " + ", ".join(names) if names else "Type a Hub repo id (owner/name)"


BUILD_LABEL, BUILDING_LABEL = "Build", "Building…"
SHORT_TIMELINE = 6
"""Clips with at most this many windows (with a person) get bars per window instead of lines over time."""

CSS = """
.model-card table { display: block; overflow-x: auto; max-width: 100%; }
.model-card th, .model-card td { white-space: nowrap; min-width: 4em; }
"""
"""Style of the page: the model card's tables keep their cells on one line and scroll sideways when wide."""

JS = """
() => {
  // Uploads into these inputs get a preview every browser plays (app/preview.py transcodes the others): the
  // browser's own "Video not playable" for the original upload (an AVI) is not an error to report.
  window.addEventListener("error", (event) => {
    const target = event.target;
    if (target instanceof HTMLVideoElement && target.closest(".playable-preview")) event.stopImmediatePropagation();
  }, true);
}
"""
"""Script run when the page loads (see :mod:`.preview`)."""


def build_app(
    *,
    model: str | None = None,
    max_seconds: float | None = DEFAULT_MAX_SECONDS,
    concurrency: int = 1,
    workdir: str | Path | None = None,
    examples: bool = True,
) -> gr.Blocks:
    """The app, queued, ready to ``launch()`` (with ``css=CSS, js=JS``, as :func:`launch` does).

    Args:
        model: the model shown first: a Hub repo id or checkpoint folder (``None``: the embedded default).
        max_seconds: longest video accepted (``None``: any length).
        concurrency: videos labelled at the same time; further requests wait in the queue.
        workdir: folder for outputs and cached poses (default: a new temporary folder).
        examples: offer the example video (rendered once from the public-domain photo shipped with the app).
    """
    service = LabelingService(workdir or tempfile.mkdtemp(prefix="skelrec-app-"), max_seconds=max_seconds)
    names, shown_first = ModelNames.for_model(model)
    example = example_clip() if examples else None
    previews = service.workdir / "previews"

    def resolve_model(text: str | None, session_id: str | None) -> tuple[str | None, str]:
        taught = TeachSession(service.workdir, session_id).taught_models() if session_id else None
        return names.resolve(text, taught)

    def load_model(text: str, device: str, session_id: str | None) -> tuple[LoadedModel, str | None, str]:
        """The model the box names, its ``model`` argument and its name on the page; errors are for visitors."""
        model, shown = resolve_model(text, session_id)
        try:
            return service.load(model, device), model, shown
        except SkelrecError as err:
            raise SkelrecError(visitor_message(err, model, shown)) from None

    def show_model(
        text: str, device: str, session_id: str | None, progress: gr.Progress = gr.Progress(track_tqdm=True)
    ) -> tuple[str, str]:
        try:
            loaded, _, shown = load_model(text, device, session_id)
        except SkelrecError as err:
            gr.Warning(str(err), title="No model")
            return NO_MODEL.format(error=err), ""
        return describe_model(loaded, shown), model_card_text(loaded)

    def make_preview(video: str | None) -> tuple[Any, dict[str, str] | None]:
        """A browser-playable preview of an upload (the same file when it plays), and what it stands for."""
        if not video:
            return gr.skip(), None
        prune_previews()
        try:
            preview = browser_preview(video, Path(tempfile.mkdtemp(prefix="preview-", dir=previews)))
        except SkelrecError as err:
            gr.Warning(str(err).replace(str(video), Path(video).name), title="Not a video")
            return gr.skip(), None
        if preview == Path(video):
            return gr.skip(), None
        return str(preview), {"preview": str(preview), "original": video, "name": Path(video).name}

    def prune_previews() -> None:
        previews.mkdir(parents=True, exist_ok=True)
        prune_old_entries(previews, service.keep_seconds)

    def label(
        video: str | None,
        text: str,
        device: str,
        window_stride: float,
        smoothing: str,
        min_confidence: float,
        own_threshold: bool,
        mirrored: bool,
        upload: dict[str, str] | None,
        session_id: str | None,
        progress: gr.Progress = gr.Progress(track_tqdm=True),
    ) -> tuple[Any, ...]:
        source, name = _original(video, upload)
        if source is None:
            raise gr.Error(
                "Upload a video or record one with the webcam first.", title="No video", print_exception=False
            )

        def report(stage: str, done: int, total: int) -> None:
            progress((done, max(total, done, 1)), desc=STAGES.get(stage, stage))

        settings = RunSettings(window_stride, smoothing, None if own_threshold else min_confidence, mirrored)
        try:
            _, model, shown = load_model(text, device, session_id)
            out = service.label(
                source, model=model, device=device, settings=settings, progress=report, name=name, shown_model=shown
            )
        except SkelrecError as err:  # the upload's temporary path means nothing to the user: show its name
            message = str(err).replace(str(source), name)
            log.info("cannot label %s: %s", source, message)
            raise gr.Error(message, title="Cannot label", print_exception=False) from None
        files = [str(path) for path in out.files.values()]
        lines, bars = timeline_plots(out)
        return str(out.overlay), headline(out), lines, bars, out.segment_table(), files, out.describe()

    # the Teach tab: the page keeps a session id; the session's clips and models are folders in the work folder
    def add_clips(
        session_id: str | None, name: str, video: str | None, upload: dict[str, str] | None, uploads: list[str] | None
    ) -> tuple[Any, ...]:
        session = TeachSession.resume(service.workdir, session_id)
        recorded, _ = _original(video, upload)
        try:
            clips = [*([recorded] if recorded else []), *(uploads or [])]
            label = session.add_clips(name, clips, max_seconds=max_seconds)
        except SkelrecError as err:
            raise gr.Error(str(err), title="Cannot add clips", print_exception=False) from None
        return session.id, session.actions_table(), gr.Dropdown(session.labels(), value=label), None, None, None

    def remove_action(session_id: str | None, label: str | None) -> tuple[Any, ...]:
        session = TeachSession.resume(service.workdir, session_id)
        session.remove(label)
        labels = session.labels()
        return session.actions_table(), gr.Dropdown(labels, value=labels[0] if labels else None)

    def build_model(
        session_id: str | None,
        base: str,
        method: str,
        open_set: bool,
        augment: bool,
        pooling: str,
        mirrored: bool,
        device: str,
        progress: gr.Progress = gr.Progress(),
    ) -> tuple[Any, ...]:
        session = TeachSession.resume(service.workdir, session_id)

        def report(stage: str, done: int, total: int) -> None:
            progress((done, max(total, done, 1)), desc=TEACH_STAGES.get(stage, stage).capitalize())

        try:
            settings = TeachSettings(method=method, open_set=open_set, augment=augment, pooling=pooling)
            base_model, _ = resolve_model(base, session.id)
            taught = session.build(
                base=base_model,
                settings=settings,
                mirrored=mirrored,
                device=device,
                pose_cache=service.poses,
                progress=report,
            )
        except SkelrecError as err:
            log.info("cannot teach session %s: %s", session.id, err)
            raise gr.Error(str(err), title="Cannot build", print_exception=False) from None
        finally:
            release_memory()
        return taught.accuracy_table(), taught.describe(), str(taught.zip), taught.folder.name

    # ---- layout ----------------------------------------------------------------------------------------------
    with gr.Blocks(title="skelrec", analytics_enabled=False, delete_cache=(1800, 3600)) as demo:
        gr.Markdown(INTRO)
        teach_session = gr.State(None)  # the id of the Teach tab's session (TeachSession): its clips and models
        upload = gr.State(None)  # the Label tab's upload, when its input shows a preview: {preview, original, name}
        teach_upload = gr.State(None)  # the same for the Teach tab's clip input
        with gr.Tabs(elem_id="tabs"):
            with gr.Tab("Label", id="label", elem_id="label-tab"):
                with gr.Row():  # on a narrow screen the columns stack: the results come right after the button
                    with gr.Column(scale=2):
                        video_in = gr.Video(
                            label="Video of a person",
                            sources=["upload", "webcam"],
                            webcam_options=gr.WebcamOptions(mirror=True),
                            elem_id="video-in",
                            elem_classes=["playable-preview"],
                        )
                        if example is not None:
                            gr.Examples([[str(example)]], inputs=[video_in], label=EXAMPLE_CAPTION)
                        mirrored = gr.Checkbox(
                            False,
                            label="Mirrored video",
                            info="Left and right are swapped, as in a selfie-mode recording",
                        )
                        run = gr.Button(RUN_LABEL, variant="primary", elem_id="run")
                        status = gr.Markdown(elem_id="status", min_height=24)  # the run's progress, then its summary
                    with gr.Column(scale=3, elem_id="results"):
                        video_out = gr.Video(
                            label="Labelled video", show_label=False, interactive=False, elem_id="video-out"
                        )
                        top = gr.Label(num_top_classes=5, label="Whole clip", elem_id="top-labels")
                        timeline = gr.LinePlot(
                            None,
                            x="time",
                            y="probability",
                            color="class",
                            y_lim=[0, 1],
                            x_axis_format="~g",
                            x_title="time (s)",
                            y_title="probability (smoothed)",
                            label="Timeline (top classes)",
                            elem_id="timeline",
                        )
                        timeline_bars = gr.BarPlot(
                            None,
                            x="window",
                            y="probability",
                            color="class",
                            y_lim=[0, 1],
                            visible=False,
                            x_title="window",
                            y_title="probability (smoothed)",
                            label="Windows (top classes)",
                            elem_id="timeline-bars",
                        )
                        segments = gr.Dataframe(
                            headers=SEGMENT_COLUMNS, label="Segments (seconds)", interactive=False, elem_id="segments"
                        )
                        files = gr.File(label="Results (JSON, CSV)", file_count="multiple", elem_id="files")
                with gr.Row():
                    with gr.Column(scale=3), gr.Accordion("Model", open=True, elem_id="model"):
                        model_box = gr.Textbox(
                            shown_first,
                            label="Model",
                            placeholder="default (empty), gestures, or a Hub repo id (owner/name)",
                            info=shipped_info(),
                        )
                        load = gr.Button("Load model", size="sm")
                        model_info = gr.Markdown(elem_id="model-info")
                        with gr.Accordion("Model card", open=False, elem_id="model-card-box"):
                            card = gr.Markdown(elem_id="model-card", elem_classes=["model-card"])
                    with gr.Column(scale=2), gr.Accordion("Settings", open=False):
                        device = gr.Dropdown(device_choices(), value="auto", label="Device", info=device_status())
                        window_stride = gr.Slider(
                            0.1,
                            2.0,
                            value=DEFAULT_STRIDE,
                            step=0.1,
                            label="Window stride (s)",
                            info="Time between the starts of two windows the model classifies",
                        )
                        smoothing = gr.Dropdown(
                            SMOOTHING_CHOICES,
                            value="moving_average",
                            allow_custom_value=True,
                            label="Smoothing",
                            info="Over neighbouring windows: none, moving_average[:windows], ema[:alpha]",
                        )
                        own_threshold = gr.Checkbox(
                            value=True,
                            label="The model's calibrated minimum confidence",
                            info="Measured when the model was built; untick to set your own",
                            elem_id="own-threshold",
                        )
                        min_confidence = gr.Slider(
                            0.0,
                            1.0,
                            value=DEFAULT_MIN_CONFIDENCE,
                            step=0.05,
                            label="Minimum confidence",
                            info="Below it a window is labelled 'no action'",
                            interactive=False,
                            elem_id="min-confidence",
                        )

            with gr.Tab("Teach", id="teach", elem_id="teach-tab"), gr.Row():
                with gr.Column(scale=2):
                    gr.Markdown(TEACH_INTRO)
                    action_name = gr.Textbox(label="Action", placeholder="e.g. jumping jack", elem_id="teach-name")
                    teach_video = gr.Video(
                        label="Upload or record a clip of it",
                        sources=["upload", "webcam"],
                        webcam_options=gr.WebcamOptions(mirror=True),
                        elem_id="teach-video",
                        elem_classes=["playable-preview"],
                    )
                    teach_files = gr.File(
                        label="... or upload several clips",
                        file_count="multiple",
                        file_types=["video"],
                        elem_id="teach-files",
                    )
                    add = gr.Button("Add clips", elem_id="teach-add")
                    actions = gr.Dataframe(
                        headers=ACTION_COLUMNS, label="Actions", interactive=False, elem_id="teach-actions"
                    )
                    with gr.Row(equal_height=True):
                        to_remove = gr.Dropdown([], label="Action to remove", scale=3, elem_id="teach-remove-choice")
                        remove = gr.Button("Remove action", size="sm", scale=1, elem_id="teach-remove")
                with gr.Column(scale=3):
                    method = gr.Radio(
                        list(APP_METHODS),
                        value=APP_METHODS[0],
                        label="Method",
                        info="prototype: nearest action mean; knn: nearest clips; linear: a trained linear head",
                    )
                    open_set = gr.Checkbox(
                        True, label="Open set", info="Label clips unlike every taught action 'unknown' (prototype, knn)"
                    )
                    augment = gr.Checkbox(
                        False, label="Augment", info="Add generated variations of every clip (slower)"
                    )
                    pooling = gr.Dropdown(
                        list(POOLINGS),
                        value=DEFAULT_POOLING,
                        label="Feature",
                        elem_id="teach-pooling",
                        info="What the head compares: joints (each joint over the clip), segment_joints (each joint "
                        "in four ordered parts: for actions that differ only in direction or order), mean, segments",
                    )
                    teach_mirrored = gr.Checkbox(
                        False, label="Mirrored clips", info="Uploaded selfie-mode videos (left and right swapped)"
                    )
                    base_box = gr.Textbox(
                        shown_first,
                        label="Base model",
                        placeholder="default (empty), gestures, or a Hub repo id (owner/name)",
                        info="Its self-supervised encoder turns every clip into features",
                    )
                    build = gr.Button(BUILD_LABEL, variant="primary", elem_id="teach-build")
                    teach_status = gr.Markdown(label="Taught model", elem_id="teach-status", min_height=24)
                    accuracy = gr.Dataframe(
                        headers=RESULT_COLUMNS,
                        label="Accuracy per action (each clip held out in turn)",
                        interactive=False,
                        elem_id="teach-accuracy",
                    )
                    taught_zip = gr.File(label="Taught model (zip)", interactive=False, elem_id="teach-zip")

        # ---- wiring ------------------------------------------------------------------------------------------
        # loading a model (a download, once) and labelling (the model step) each have their own queue limit
        loading = {"concurrency_id": "load", "concurrency_limit": 1}
        model_inputs, model_outputs = [model_box, device, teach_session], [model_info, card]
        demo.load(show_model, model_inputs, model_outputs, api_name="model", **loading)
        load.click(show_model, model_inputs, model_outputs, api_visibility="private", **loading)
        model_box.submit(show_model, model_inputs, model_outputs, api_visibility="private", **loading)
        own_threshold.change(
            lambda own: gr.update(interactive=not own), own_threshold, min_confidence, api_visibility="private"
        )
        for video, state, mirror in ((video_in, upload, mirrored), (teach_video, teach_upload, teach_mirrored)):
            video.upload(make_preview, video, [video, state], api_visibility="private", show_progress="minimal")
            video.stop_recording(
                lambda: (WEBCAM_RECORDING_MIRRORED, None), None, [mirror, state], api_visibility="private"
            )
            video.clear(lambda: None, None, state, api_visibility="private")
        _while_running(run, RUNNING_LABEL).then(
            label,
            [
                video_in,
                model_box,
                device,
                window_stride,
                smoothing,
                min_confidence,
                own_threshold,
                mirrored,
                upload,
                teach_session,
            ],
            [video_out, top, timeline, timeline_bars, segments, files, status],
            api_name="label",
            show_progress_on=[status],
            concurrency_id="label",
            concurrency_limit=concurrency,
        ).then(**_idle(run, RUN_LABEL))
        add.click(
            add_clips,
            [teach_session, action_name, teach_video, teach_upload, teach_files],
            [teach_session, actions, to_remove, teach_video, teach_upload, teach_files],
            api_name="teach_add",
        )
        remove.click(remove_action, [teach_session, to_remove], [actions, to_remove], api_name="teach_remove")
        method.change(lambda name: TEACH_METHODS[name].similarity, method, open_set, api_visibility="private")
        built = _while_running(build, BUILDING_LABEL).then(
            build_model,
            [teach_session, base_box, method, open_set, augment, pooling, teach_mirrored, device],
            [accuracy, teach_status, taught_zip, model_box],
            api_name="teach_build",
            show_progress_on=[teach_status],
            concurrency_id="teach",
            concurrency_limit=1,
        )
        built.then(**_idle(build, BUILD_LABEL))
        built.success(show_model, model_inputs, model_outputs, api_visibility="private", **loading)
    demo.queue(default_concurrency_limit=concurrency, max_size=8 * concurrency + 8)
    return demo


def _while_running(button: gr.Button, running: str) -> Any:
    """Disable and relabel ``button`` when clicked (at once, unqueued); returns the event to chain the work to."""
    return button.click(
        lambda: gr.Button(running, interactive=False), None, button, queue=False, api_visibility="private"
    )


def _idle(button: gr.Button, label: str) -> dict[str, Any]:
    """The arguments of the event (chained with ``.then``: after success or failure) that re-enables ``button``."""
    return {
        "fn": lambda: gr.Button(label, interactive=True),
        "inputs": None,
        "outputs": button,
        "queue": False,
        "api_visibility": "private",
    }


def _original(video: str | None, upload: dict[str, str] | None) -> tuple[str | None, str]:
    """What to process for what a video input holds, and its name: the original upload when it shows its preview."""
    if not video:
        return None, ""
    if upload and Path(upload["preview"]).is_file() and filecmp.cmp(video, upload["preview"], shallow=False):
        return upload["original"], upload["name"]
    return video, Path(video).name


def headline(out: RunOutputs) -> str:
    """The whole clip for the ``gr.Label`` (:meth:`RunOutputs.whole_clip`), as the JSON file it reads verbatim."""
    path = out.overlay.with_name("whole-clip.json")
    path.write_text(json.dumps(out.whole_clip()), encoding="utf-8")
    return str(path)


def timeline_plots(out: RunOutputs) -> tuple[Any, Any]:
    """The timeline as (lines over time, bars per window): bars for a short clip, whose few windows make no line."""
    data = out.timeline()
    windows = list(dict.fromkeys(data["window"]))
    if len(windows) <= SHORT_TIMELINE:
        return gr.LinePlot(None, visible=False), gr.BarPlot(data, visible=True, sort=windows)
    end = max(out.result.duration, float(out.result.windows[-1].end))
    return gr.LinePlot(data, visible=True, x_lim=[0, end]), gr.BarPlot(None, visible=False)


def launch(
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    share: bool = False,
    model: str | None = None,
    max_seconds: float | None = DEFAULT_MAX_SECONDS,
    max_upload_mb: float = 200,
    concurrency: int = 1,
    workdir: str | Path | None = None,
    examples: bool = True,
    prevent_thread_lock: bool = False,
) -> gr.Blocks:
    """Build and serve the app (blocks until stopped unless ``prevent_thread_lock``); returns the running app.

    ``max_upload_mb`` limits the size of uploaded files; the other arguments are those of :func:`build_app`.
    """
    workdir = Path(workdir or tempfile.mkdtemp(prefix="skelrec-app-"))
    demo = build_app(model=model, max_seconds=max_seconds, concurrency=concurrency, workdir=workdir, examples=examples)
    demo.launch(
        server_name=host,
        server_port=port,
        share=share,
        max_file_size=f"{max_upload_mb:g}mb",
        allowed_paths=[str(workdir)],
        prevent_thread_lock=prevent_thread_lock,
        ssr_mode=False,
        css=CSS,
        js=JS,
    )
    return demo


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    launch()
