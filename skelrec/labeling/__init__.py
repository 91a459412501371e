"""Video -> actions over time: the :class:`Labeler`, its result and the output files.

``Labeler.from_pretrained(model).label(video) -> LabelResult``; :func:`write_outputs` writes JSON/CSV/SRT and
:mod:`skelrec.labeling.batch` runs many videos (``skelrec label``). Overlay videos: :mod:`skelrec.labeling.render`.
"""

from skelrec.labeling.inputs import DEFAULT_TRAINING_FPS, ModelInput, clip_seconds
from skelrec.labeling.labeler import DEFAULT_MIN_CONFIDENCE, DEFAULT_STRIDE, Labeler, ProgressCallback
from skelrec.labeling.result import NO_PERSON_FOUND, LabelResult, PoseStats
from skelrec.labeling.segments import NO_ACTION, NO_PERSON, Decision, Segment, decide, merge_segments
from skelrec.labeling.smoothing import SMOOTHERS, Smoothing, register_smoother
from skelrec.labeling.windows import Window, plan_windows, visible_fraction
from skelrec.labeling.writers import WRITERS, parse_formats, register_writer, write_outputs
from skelrec.pose.options import PoseOptions  # re-exported: the pose settings of a Labeler

__all__ = [
    "DEFAULT_MIN_CONFIDENCE",
    "DEFAULT_STRIDE",
    "DEFAULT_TRAINING_FPS",
    "NO_ACTION",
    "NO_PERSON",
    "NO_PERSON_FOUND",
    "SMOOTHERS",
    "WRITERS",
    "Decision",
    "LabelResult",
    "Labeler",
    "ModelInput",
    "PoseOptions",
    "PoseStats",
    "ProgressCallback",
    "Segment",
    "Smoothing",
    "Window",
    "clip_seconds",
    "decide",
    "merge_segments",
    "parse_formats",
    "plan_windows",
    "register_smoother",
    "register_writer",
    "visible_fraction",
    "write_outputs",
]
