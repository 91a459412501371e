"""The skelrec web app: a video of a person in, what they are doing and when out; and your own actions taught.

One page with two tabs: **Label** (a video in, actions over time out) and **Teach** (name actions, record or upload a
few clips of each, build a model that the Label tab uses at once). The layout (components) comes first, then the
wiring (events). The work happens in the library (:mod:`skelrec.app_support`, :mod:`skelrec.labeling`,
:mod:`skelrec.render`, :mod:`skelrec.teach.app_session`); the functions here only translate between the page and it,
and turn its one-line errors into ``gr.Error`` messages.

    skelrec app                       # http://127.0.0.1:7860 (see `skelrec app --help`)
    python -m app.main                # the same with the default settings
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr

from skelrec.app_support import (
    DEFAULT_MAX_SECONDS,
    SEGMENT_COLUMNS,
    SMOOTHING_CHOICES,
    WEBCAM_RECORDING_MIRRORED,
    LabelingService,
    RunSettings,
    describe_model,
    device_choices,
    device_status,
    example_clip,
    model_card_text,
    model_name,
    release_memory,
)
from skelrec.errors import SkelrecError
from skelrec.labeling import DEFAULT_STRIDE
from skelrec.models.pooling import POOLINGS
from skelrec.teach import DEFAULT_POOLING, TEACH_METHODS, TeachSettings
from skelrec.teach.app_session import ACTION_COLUMNS, APP_METHODS, RESULT_COLUMNS, TeachSession
from skelrec.teach.progress import STAGES as TEACH_STAGES

__all__ = ["build_app", "launch"]

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
    "Type a checkpoint folder on this machine or a Hugging Face Hub repo id (`owner/name`) above and press "
    "**Load model**."
)


def build_app(
    *,
    model: str | None = None,
    max_seconds: float | None = DEFAULT_MAX_SECONDS,
    concurrency: int = 1,
    workdir: str | Path | None = None,
    examples: bool = True,
) -> gr.Blocks:
    """The app, queued, ready to ``launch()``.

    Args:
        model: the model shown first: a Hub repo id or checkpoint folder (``None``: the embedded default).
        max_seconds: longest video accepted (``None``: any length).
        concurrency: videos labelled at the same time; further requests wait in the queue.
        workdir: folder for outputs and cached poses (default: a new temporary folder).
        examples: offer the example video (rendered once from scikit-image's astronaut photo, if installed).
    """
    service = LabelingService(workdir or tempfile.mkdtemp(prefix="skelrec-app-"), max_seconds=max_seconds)
    example = example_clip() if examples else None

    def show_model(text: str, device: str, progress: gr.Progress = gr.Progress(track_tqdm=True)) -> tuple[str, str]:
        try:
            loaded = service.load(model_name(text), device)
        except SkelrecError as err:
            gr.Warning(str(err), title="No model")
            return NO_MODEL.format(error=err), ""
        return describe_model(loaded), model_card_text(loaded)

    def label(
        video: str | None,
        text: str,
        device: str,
        window_stride: float,
        smoothing: str,
        min_confidence: float,
        mirrored: bool,
        progress: gr.Progress = gr.Progress(track_tqdm=True),
    ) -> tuple[Any, ...]:
        if not video:
            raise gr.Error(
                "Upload a video or record one with the webcam first.", title="No video", print_exception=False
            )

        def report(stage: str, done: int, total: int) -> None:
            progress((done, max(total, done, 1)), desc=STAGES.get(stage, stage))

        settings = RunSettings(window_stride, smoothing, min_confidence, mirrored)
        try:
            out = service.label(video, model=model_name(text), device=device, settings=settings, progress=report)
        except SkelrecError as err:  # the upload's temporary path means nothing to the user: show its name
            message = str(err).replace(str(video), Path(video).name)
            log.info("cannot label %s: %s", video, message)
            raise gr.Error(message, title="Cannot label", print_exception=False) from None
        files = [str(path) for path in out.files.values()]
        return str(out.overlay), out.scores(), out.timeline(), out.segment_table(), files, out.describe()

    # the Teach tab: the page keeps a session id; the session's clips and models are folders in the work folder
    def add_clips(session_id: str | None, name: str, video: str | None, uploads: list[str] | None) -> tuple[Any, ...]:
        session = TeachSession.resume(service.workdir, session_id)
        try:
            label = session.add_clips(name, [*([video] if video else []), *(uploads or [])], max_seconds=max_seconds)
        except SkelrecError as err:
            raise gr.Error(str(err), title="Cannot add clips", print_exception=False) from None
        return session.id, session.actions_table(), gr.Dropdown(session.labels(), value=label), None, None

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
            taught = session.build(base=model_name(base), settings=settings, mirrored=mirrored, device=device,
                                   pose_cache=service.poses, progress=report)  # fmt: skip
        except SkelrecError as err:
            log.info("cannot teach session %s: %s", session.id, err)
            raise gr.Error(str(err), title="Cannot build", print_exception=False) from None
        finally:
            release_memory()
        return taught.accuracy_table(), taught.describe(), str(taught.zip), str(taught.folder)

    # ---- layout ----------------------------------------------------------------------------------------------
    with gr.Blocks(title="skelrec", analytics_enabled=False, delete_cache=(1800, 3600)) as demo:
        gr.Markdown(INTRO)
        teach_session = gr.State(None)  # the id of the Teach tab's session (TeachSession): its clips and models
        with gr.Tabs(elem_id="tabs"):
            with gr.Tab("Label", id="label", elem_id="label-tab"), gr.Row():
                with gr.Column(scale=2):
                    video_in = gr.Video(
                        label="Video of a person",
                        sources=["upload", "webcam"],
                        webcam_options=gr.WebcamOptions(mirror=True),
                        elem_id="video-in",
                    )
                    if example is not None:
                        gr.Examples(
                            [[str(example)]],
                            inputs=[video_in],
                            label="Example: a public-domain photo (scikit-image's astronaut) moved like a handheld "
                            "camera; a person, but no action",
                        )
                    mirrored = gr.Checkbox(
                        False, label="Mirrored video", info="Left and right are swapped, as in a selfie-mode recording"
                    )
                    run = gr.Button("Label actions", variant="primary", elem_id="run")
                    with gr.Accordion("Model", open=True):
                        model_box = gr.Textbox(
                            model or "",
                            label="Model",
                            placeholder="default: the embedded model; or a Hub repo id (owner/name) or a "
                            "checkpoint folder",
                        )
                        load = gr.Button("Load model", size="sm")
                        model_info = gr.Markdown(elem_id="model-info")
                        with gr.Accordion("Model card", open=False):
                            card = gr.Markdown()
                    with gr.Accordion("Settings", open=False):
                        device = gr.Dropdown(device_choices(), value="auto", label="Device", info=device_status())
                        window_stride = gr.Slider(
                            0.1, 2.0, value=DEFAULT_STRIDE, step=0.1, label="Window stride (s)",
                            info="Time between the starts of two windows the model classifies",
                        )  # fmt: skip
                        smoothing = gr.Dropdown(
                            SMOOTHING_CHOICES, value="moving_average", allow_custom_value=True, label="Smoothing",
                            info="Over neighbouring windows: none, moving_average[:windows], ema[:alpha]",
                        )  # fmt: skip
                        min_confidence = gr.Slider(
                            0.0, 1.0, value=0.4, step=0.05, label="Minimum confidence",
                            info="Below it a window is labelled 'no action'",
                        )  # fmt: skip
                with gr.Column(scale=3):
                    video_out = gr.Video(
                        label="Labelled video", show_label=False, interactive=False, elem_id="video-out"
                    )
                    status = gr.Markdown(label="Summary", elem_id="status")
                    with gr.Row():
                        top = gr.Label(num_top_classes=5, label="Whole clip", elem_id="top-labels")
                        timeline = gr.LinePlot(
                            None,
                            x="time", y="probability", color="class", y_lim=[0, 1],
                            x_title="time (s)", y_title="probability (smoothed)", label="Timeline (top classes)",
                            elem_id="timeline",
                        )  # fmt: skip
                    segments = gr.Dataframe(
                        headers=SEGMENT_COLUMNS, label="Segments (seconds)", interactive=False, elem_id="segments"
                    )
                    files = gr.File(label="Results (JSON, CSV)", file_count="multiple", elem_id="files")

            with gr.Tab("Teach", id="teach", elem_id="teach-tab"), gr.Row():
                with gr.Column(scale=2):
                    gr.Markdown(TEACH_INTRO)
                    action_name = gr.Textbox(label="Action", placeholder="e.g. jumping jack", elem_id="teach-name")
                    teach_video = gr.Video(
                        label="Record or upload a clip of it",
                        sources=["webcam", "upload"],
                        webcam_options=gr.WebcamOptions(mirror=True),
                        elem_id="teach-video",
                    )
                    teach_files = gr.File(
                        label="... or upload several clips", file_count="multiple", file_types=["video"],
                        elem_id="teach-files",
                    )  # fmt: skip
                    add = gr.Button("Add clips", elem_id="teach-add")
                    actions = gr.Dataframe(
                        headers=ACTION_COLUMNS, label="Actions", interactive=False, elem_id="teach-actions"
                    )
                    with gr.Row(equal_height=True):
                        to_remove = gr.Dropdown([], label="Action to remove", scale=3, elem_id="teach-remove-choice")
                        remove = gr.Button("Remove action", size="sm", scale=1, elem_id="teach-remove")
                with gr.Column(scale=3):
                    method = gr.Radio(
                        list(APP_METHODS), value=APP_METHODS[0], label="Method",
                        info="prototype: nearest action mean; knn: nearest clips; linear: a trained linear head",
                    )  # fmt: skip
                    open_set = gr.Checkbox(
                        True, label="Open set", info="Label clips unlike every taught action 'unknown' (prototype, knn)"
                    )
                    augment = gr.Checkbox(
                        False, label="Augment", info="Add generated variations of every clip (slower)"
                    )
                    pooling = gr.Dropdown(
                        list(POOLINGS), value=DEFAULT_POOLING, label="Feature", elem_id="teach-pooling",
                        info="What the head compares: joints (each joint over the clip), segment_joints (each joint "
                        "in four ordered parts: for actions that differ only in direction or order), mean, segments",
                    )  # fmt: skip
                    teach_mirrored = gr.Checkbox(
                        False, label="Mirrored clips", info="Uploaded selfie-mode videos (left and right swapped)"
                    )
                    base_box = gr.Textbox(
                        model or "",
                        label="Base model",
                        placeholder="default: the embedded model; or a Hub repo id or a checkpoint folder",
                        info="Its self-supervised encoder turns every clip into features",
                    )
                    build = gr.Button("Build", variant="primary", elem_id="teach-build")
                    teach_status = gr.Markdown(label="Taught model", elem_id="teach-status")
                    accuracy = gr.Dataframe(
                        headers=RESULT_COLUMNS, label="Accuracy per action (each clip held out in turn)",
                        interactive=False, elem_id="teach-accuracy",
                    )  # fmt: skip
                    taught_zip = gr.File(label="Taught model (zip)", interactive=False, elem_id="teach-zip")

        # ---- wiring ------------------------------------------------------------------------------------------
        # loading a model (a download, once) and labelling (the model step) each have their own queue limit
        loading = {"concurrency_id": "load", "concurrency_limit": 1}
        model_inputs, model_outputs = [model_box, device], [model_info, card]
        demo.load(show_model, model_inputs, model_outputs, api_name="model", **loading)
        load.click(show_model, model_inputs, model_outputs, api_visibility="private", **loading)
        model_box.submit(show_model, model_inputs, model_outputs, api_visibility="private", **loading)
        video_in.stop_recording(lambda: WEBCAM_RECORDING_MIRRORED, None, mirrored, api_visibility="private")
        run.click(
            label,
            [video_in, model_box, device, window_stride, smoothing, min_confidence, mirrored],
            [video_out, top, timeline, segments, files, status],
            api_name="label",
            concurrency_id="label",
            concurrency_limit=concurrency,
        )
        teach_video.stop_recording(lambda: WEBCAM_RECORDING_MIRRORED, None, teach_mirrored, api_visibility="private")
        add.click(
            add_clips,
            [teach_session, action_name, teach_video, teach_files],
            [teach_session, actions, to_remove, teach_video, teach_files],
            api_name="teach_add",
        )
        remove.click(remove_action, [teach_session, to_remove], [actions, to_remove], api_name="teach_remove")
        method.change(lambda name: TEACH_METHODS[name].similarity, method, open_set, api_visibility="private")
        build.click(
            build_model,
            [teach_session, base_box, method, open_set, augment, pooling, teach_mirrored, device],
            [accuracy, teach_status, taught_zip, model_box],
            api_name="teach_build",
            concurrency_id="teach",
            concurrency_limit=1,
        ).success(show_model, model_inputs, model_outputs, api_visibility="private", **loading)
    demo.queue(default_concurrency_limit=concurrency, max_size=8 * concurrency + 8)
    return demo


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
    )
    return demo


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    launch()
