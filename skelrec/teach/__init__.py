"""Teach skelrec your own actions from a few example clips: ``teach(examples_dir, out) -> TeachResult``.

``skelrec teach`` and the app's Teach tab call :func:`teach`; the result folder is an ordinary checkpoint that
:class:`skelrec.labeling.Labeler` loads. See :mod:`skelrec.teach.teach` for the steps.
"""

from skelrec.teach.augment import SKELETON_AUGMENT, Augmenter, DiffusionAugmenter, SkeletonAugmenter, build_augmenter
from skelrec.teach.base import DEFAULT_POOLING, MAX_STRETCH, ClipTensors, TeachBase
from skelrec.teach.clips import ClipSet
from skelrec.teach.examples import UNKNOWN_LABEL, ActionFolder, ExampleClip, action_label, find_actions, label_key
from skelrec.teach.methods import (
    TEACH_METHODS,
    FitContext,
    HeadSpec,
    TeachMethod,
    build_teach_method,
    register_teach_method,
)
from skelrec.teach.openset import OpenSetThreshold, calibrate_threshold
from skelrec.teach.progress import RichTeachProgress
from skelrec.teach.teach import SkippedClip, TeachProgress, TeachResult, TeachSettings, teach
from skelrec.teach.validation import ActionScore, HeldOutScores, assign_folds, cross_validate

__all__ = [
    "DEFAULT_POOLING",
    "MAX_STRETCH",
    "SKELETON_AUGMENT",
    "TEACH_METHODS",
    "UNKNOWN_LABEL",
    "ActionFolder",
    "ActionScore",
    "Augmenter",
    "ClipSet",
    "ClipTensors",
    "DiffusionAugmenter",
    "ExampleClip",
    "FitContext",
    "HeadSpec",
    "HeldOutScores",
    "OpenSetThreshold",
    "RichTeachProgress",
    "SkeletonAugmenter",
    "SkippedClip",
    "TeachBase",
    "TeachMethod",
    "TeachProgress",
    "TeachResult",
    "TeachSettings",
    "action_label",
    "assign_folds",
    "build_augmenter",
    "build_teach_method",
    "calibrate_threshold",
    "cross_validate",
    "find_actions",
    "label_key",
    "register_teach_method",
    "teach",
]
