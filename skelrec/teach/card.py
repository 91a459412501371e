"""The config and model-card section of a taught model.

The config is an ordinary classifier checkpoint config (:mod:`skelrec.checkpoint`): the base model's input
fields (layout, normalization, clip length, persons and its ``data`` section, so the labeler applies the same
pipeline), the taught ``labels``, ``clip_seconds`` (the labeling window), the held-out accuracy as a ``metrics``
entry, ``training.data`` (the example clips: actions, clip counts, total duration, pose estimator; then the base
model's own training data, which its encoder weights come from), and a ``teach`` section with everything the card
reports: the actions and their clips, the method, the open-set threshold and its rule, the augmentation, the
skipped clips, the pose settings, the persons and the leave-one-person-out accuracy when the clips name them.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from skelrec.checkpoint import CheckpointConfig, architecture
from skelrec.models import Classifier
from skelrec.pose import PoseOptions
from skelrec.teach.base import TeachBase
from skelrec.teach.examples import UNKNOWN_LABEL
from skelrec.teach.methods import TEACH_METHODS
from skelrec.teach.validation import HeldOutScores

if TYPE_CHECKING:
    from skelrec.teach.teach import TeachResult, TeachSettings

__all__ = ["taught_config"]


def _pretraining_method(config: CheckpointConfig) -> str | None:
    """The base's self-supervised method name (an encoder export stores ``{"name": ...}``, a classifier a name)."""
    name = config.method_name
    return name if name != "supervised" else None


EXAMPLES_TERMS = "the teacher's own recordings; not distributed with the model"


def _metrics(result: TeachResult, command: str | None) -> list[dict[str, Any]]:
    out = []
    for protocol, split, held in (
        (result.protocol, "held out (same persons)", result.held_out),
        ("leave-one-person-out", "held-out persons", result.cross_person),
    ):
        if held is None or held.accuracy is None:
            continue
        n = int(held.counted.sum())
        entry = {
            "protocol": protocol,
            "dataset": "examples",
            "dataset_name": f"the {n} taught example clips",
            "split": split,
            "metric": "accuracy",
            "value": round(100 * held.accuracy, 2),
        }
        out.append(entry | ({"command": command} if command else {}))
    return out


def _persons_phrase(result: TeachResult) -> str:
    named = sorted({p for p in result.persons if p})
    if not named:
        return "persons not named (clips named PERSON__clip.mp4 say who is in them)"
    unnamed = " and clips of unnamed persons" if "" in result.persons else ""
    return f"{len(named)} named person(s): {', '.join(named)}{unnamed}"


def examples_data(result: TeachResult, pose: PoseOptions) -> dict[str, Any]:
    """The ``training.data`` entry of the example clips: actions, clip counts, total duration, pose estimator."""
    clips = sum(a.clips for a in result.actions)
    per_action = ", ".join(
        f"{a.label}: {a.clips} clips, {result.durations.get(a.label, 0.0):.1f} s" for a in result.actions
    )
    total = sum(result.durations.values())
    name = (
        f"Example clips taught with `skelrec teach`: {len(result.actions)} action(s), {clips} clips, {total:.1f} s "
        f"in total ({per_action}); poses by `{pose.backend}` (frame stride {pose.frame_stride}); "
        f"{_persons_phrase(result)}"
    )
    return {"id": "examples", "name": name, "terms": EXAMPLES_TERMS}


def _training_data(result: TeachResult, base: TeachBase, pose: PoseOptions) -> list[dict[str, Any]]:
    """The examples, then the base model's training data (its encoder's weights derive from it)."""
    training = base.config.training
    inherited = training.get("data") if training is not None else None
    return [examples_data(result, pose), *(inherited if isinstance(inherited, list) else [])]


def _feature(result: TeachResult, settings: TeachSettings) -> str | None:
    """The pooled feature the taught head reads (``None``: fine-tuned, the head reads what it was trained on)."""
    return settings.feature if TEACH_METHODS[result.method].needs_embeddings else None


def taught_config(
    model: Classifier,
    base: TeachBase,
    result: TeachResult,
    *,
    settings: TeachSettings,
    pose: PoseOptions,
    mirrored: bool,
    command: str | None,
) -> tuple[dict[str, Any], str]:
    """``(config.json contents, Markdown section of the model card)`` of a taught model."""
    cfg = base.config
    held = result.held_out
    teach = {
        "method": result.method,
        "method_options": dict(settings.method_options),
        "pooling": _feature(result, settings),
        "base": result.base,
        "base_commit": base.loaded.commit,
        "actions": [
            {"label": a.label, "clips": [p.name for p in result.clips[a.label]], "held_out_correct": a.correct}
            for a in result.actions
        ],
        "skipped": [{"clip": str(s.path), "reason": s.reason} for s in result.skipped],
        "held_out": None
        if held is None
        else {
            "protocol": result.protocol,
            "folds": held.folds,
            "accuracy": result.accuracy,
            "counted_clips": int(held.counted.sum()),
            "rejected_as_unknown": result.rejected,
            "meaning": result.caveat,
        },
        "persons": sorted(set(result.persons)),
        "leave_one_person_out": _grouped(result.cross_person),
        "durations_seconds": result.durations,
        "open_set": None if result.open_set is None else {**result.open_set.to_dict(), "unknown_label": UNKNOWN_LABEL},
        "augment": None if result.augment is None else {"kind": result.augment, "copies": result.copies},
        "clip_seconds": "median duration of the example clips (first to last frame with a person)",
        "pose": pose.to_dict(),
        "mirrored": mirrored,
        "seed": settings.seed,
        "command": command,
    }
    config = {
        **architecture(model),
        "layout": base.input.layout,
        "normalization": dict(cfg.normalization),
        "clip_length": base.input.clip_length,
        "num_persons": base.input.num_persons,
        "labels": list(result.labels),
        "clip_seconds": result.clip_seconds,
        **({"data": cfg.data} if cfg.data is not None else {}),
        "method": _pretraining_method(cfg),
        "training": {
            "protocol": "teach",
            "base": result.base,
            "data": _training_data(result, base, pose),
            "pretraining": cfg.training,
        },
        "metrics": _metrics(result, command),
        "teach": teach,
    }
    return config, card_section(result, settings)


def _grouped(held: HeldOutScores | None) -> dict[str, Any] | None:
    if held is None:
        return None
    return {"folds": held.folds, "accuracy": held.accuracy, "counted_clips": int(held.counted.sum())}


def card_section(result: TeachResult, settings: TeachSettings) -> str:
    """The model card's "Taught actions" section: actions, clips, held-out accuracy, open set, augmentation."""
    rows = []
    for a in result.actions:
        held = "n/a (one clip)" if a.correct is None else f"{a.correct}/{a.clips} ({100 * (a.accuracy or 0):.0f} %)"
        rows.append(f"| {a.label} | {a.clips} | {result.durations.get(a.label, 0.0):.1f} | {held} |")
    held_out = result.held_out
    if held_out is None or result.accuracy is None:
        accuracy = "Not measured: every action has a single clip."
    else:
        how = "leave-one-out" if held_out.leave_one_out else f"{held_out.folds}-fold cross-validation"
        accuracy = (
            f"Held-out accuracy ({how}, each clip classified by the model taught without it and its generated "
            f"copies; actions with one clip are not counted): **{100 * result.accuracy:.1f} %** over "
            f"{int(held_out.counted.sum())} clips. This is {result.caveat}."
        )
    pooling = _feature(result, settings)
    feature = f"`{pooling}` feature of the " if pooling else ""
    lines = [
        "## Taught actions",
        "",
        f"Taught with `skelrec teach` from {sum(a.clips for a in result.actions)} example clips, method "
        f"`{result.method}`, on the {feature}encoder of `{result.base}`. Labeling window: {result.clip_seconds:.2f} s "
        "(the median duration of the examples).",
        "",
        "| Action | Clips | Seconds | Right when held out |",
        "|---|---|---|---|",
        *rows,
        "",
        accuracy,
    ]
    if result.open_set is not None:
        lines += [
            "",
            f"Open set: a clip is labelled `{UNKNOWN_LABEL}` when its similarity to the nearest taught "
            f"action is below **{result.open_set.threshold:.4f}** ({result.open_set.rule()}).",
        ]
    if result.augment is not None:
        lines += ["", f"Augmentation: {result.copies} `{result.augment}` copies per example clip."]
    if result.skipped:
        lines += ["", "Skipped clips: " + "; ".join(f"`{s.path.name}` ({s.reason})" for s in result.skipped) + "."]
    options = ", ".join(f"{k}={v}" for k, v in asdict(settings).items() if k != "method")
    lines += ["", f"Settings: `{options}`."]
    return "\n".join(lines)
