"""``teach``: a labeler for your own actions, from a few example clips of each (``skelrec teach``, the app).

::

    result = teach("examples/", "my-model/")            # one sub-folder of clips per action
    Labeler.from_pretrained("my-model/").label("video.mp4")

Steps: find the action folders (:mod:`~skelrec.teach.examples`) -> poses of every clip (the ``skelrec label``
pipeline, cached) -> model inputs and embeddings with the base model (:mod:`~skelrec.teach.base`) -> optional
augmentation (:mod:`~skelrec.teach.augment`) -> cross-validation (:mod:`~skelrec.teach.validation`) -> open-set
threshold (:mod:`~skelrec.teach.openset`) -> the final fit (:mod:`~skelrec.teach.methods`) -> an ordinary checkpoint
folder with its model card (:mod:`~skelrec.teach.card`), loadable by :func:`skelrec.hub.load_model`, the labeler,
the app and ``skelrec push``.

Clips in which nobody is found are skipped (and listed); an action left without a usable clip, a clip too short for
the model, a single action without open set, duplicate or empty action names and a base model without an encoder
are one-line errors. The taught model's labeling window (``clip_seconds``) is the median duration of the examples,
so that a window holds what one example held.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from skelrec.errors import SkelrecError
from skelrec.hub.publish import save_pretrained
from skelrec.labeling import NO_PERSON_FOUND
from skelrec.models.pooling import check_pooling
from skelrec.pose import POSE_CACHE_DIR, PoseOptions, create_estimator
from skelrec.teach.augment import build_augmenter
from skelrec.teach.base import DEFAULT_POOLING, MAX_STRETCH, TeachBase
from skelrec.teach.card import taught_config
from skelrec.teach.clips import ClipSet
from skelrec.teach.examples import UNKNOWN_LABEL, ActionFolder, ExampleClip, find_actions, load_poses
from skelrec.teach.methods import TEACH_METHODS, FitContext, TeachMethod, build_teach_method
from skelrec.teach.openset import DEFAULT_RATIO, OpenSetThreshold, calibrate_threshold
from skelrec.teach.validation import SAME_PERSON_CAVEAT, ActionScore, HeldOutScores, cross_validate

__all__ = ["SkippedClip", "TeachProgress", "TeachResult", "TeachSettings", "teach"]

log = logging.getLogger(__name__)

TeachProgress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``; stages in order: ``poses`` (clips), ``augment``, ``embed``, ``evaluate``
(cross-validation folds), ``fit``, ``save`` (the last four report ``(1, 1)`` when done, ``evaluate`` per fold)."""


@dataclass
class TeachSettings:
    """How the examples become a classifier.

    Attributes:
        method: a :data:`~skelrec.teach.methods.TEACH_METHODS` name: ``prototype`` (default), ``knn``, ``linear``,
            ``finetune``.
        method_options: hyper-parameters of the method (fields of its class, e.g. ``{"k": 3}`` for ``knn``).
        open_set: label clips far from every taught action ``"unknown"``; ``None``: when the method can (the
            similarity methods ``prototype`` and ``knn``).
        augment: add generated copies of every example (diffusion when the base has a MacDiff decoder, else
            skeleton augmentations).
        copies: copies per example with ``augment``.
        diffusion_steps: DDIM steps of the diffusion augmentation.
        open_set_ratio: the open-set threshold as a fraction of the examples' lowest held-out similarity to their
            own action (:mod:`~skelrec.teach.openset`).
        pooling: the encoder feature the head of a frozen-encoder method reads (:mod:`skelrec.models.pooling`;
            recorded in the head's config, so labeling applies it too); ``None``: :data:`DEFAULT_POOLING`.
        seed: augmentations and fitting.
    """

    method: str = "prototype"
    method_options: dict[str, Any] = field(default_factory=dict)
    open_set: bool | None = None
    augment: bool = False
    copies: int = 4
    diffusion_steps: int = 50
    open_set_ratio: float = DEFAULT_RATIO
    pooling: str | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        TEACH_METHODS.check(self.method)
        if self.pooling is not None:
            check_pooling(self.pooling)
            if not TEACH_METHODS[self.method].needs_embeddings:
                raise SkelrecError(
                    f"teach method {self.method} trains its own head on the encoder; --pooling is for the methods "
                    f"on frozen features: {', '.join(n for n, m in TEACH_METHODS.items() if m.needs_embeddings)}"
                )
        if self.copies < 1 or self.diffusion_steps < 1:
            raise SkelrecError(f"copies ({self.copies}) and diffusion steps ({self.diffusion_steps}) must be >= 1")

    @property
    def feature(self) -> str:
        """The pooling the head of a frozen-encoder method reads: :attr:`pooling`, else :data:`DEFAULT_POOLING`."""
        return self.pooling or DEFAULT_POOLING


@dataclass(frozen=True)
class SkippedClip:
    """An example clip that was not used, and why."""

    path: Path
    reason: str


@dataclass
class TeachResult:
    """What :func:`teach` made.

    Attributes:
        folder: the checkpoint folder written.
        labels: the model's labels: the actions, then :data:`~skelrec.teach.examples.UNKNOWN_LABEL` with open set.
        actions: per action, its clips used and how many of them the cross-validation got right.
        clips: the example clips used, per action (paths).
        skipped: clips not used (nobody found in them).
        method: the teach method's name.
        open_set: the calibrated open-set threshold, or ``None`` for a closed set.
        held_out: the cross-validation scores (``None`` when no action has two clips): over the examples, usually
            of one person (:data:`~skelrec.teach.validation.SAME_PERSON_CAVEAT`).
        persons: the persons the example clips show (``PERSON__clip.mp4``, :func:`~skelrec.teach.examples.person_of`;
            clips without a name count as one unnamed person ``""``).
        cross_person: leave-one-person-out scores when the clips show two or more persons, else ``None``.
        rejected: held-out examples (of actions with two clips or more) below the open-set threshold.
        augment: ``"diffusion"``, ``"skeleton"`` or ``None``; ``copies`` per example.
        clip_seconds: the labeling window of the taught model.
        durations: per action, the total duration in seconds of its clips used (first to last frame with a person).
        base: the base model's name; ``seconds``: wall time of :func:`teach`.
    """

    folder: Path
    labels: list[str]
    actions: list[ActionScore]
    clips: dict[str, list[Path]]
    skipped: list[SkippedClip]
    method: str
    open_set: OpenSetThreshold | None
    held_out: HeldOutScores | None
    rejected: int | None
    augment: str | None
    copies: int
    clip_seconds: float
    base: str
    durations: dict[str, float] = field(default_factory=dict)
    persons: list[str] = field(default_factory=list)
    cross_person: HeldOutScores | None = None
    seconds: float = 0.0

    @property
    def accuracy(self) -> float | None:
        """Held-out accuracy over the examples of actions with at least two clips (``None`` if there is none)."""
        return None if self.held_out is None else self.held_out.accuracy

    @property
    def protocol(self) -> str:
        """``leave-one-out`` or ``cross-validation`` (k folds)."""
        return "leave-one-out" if self.held_out is None or self.held_out.leave_one_out else "cross-validation"

    @property
    def cross_person_accuracy(self) -> float | None:
        """Leave-one-person-out accuracy (``None`` unless the clips show two or more persons)."""
        return None if self.cross_person is None else self.cross_person.accuracy

    @property
    def caveat(self) -> str:
        """What the held-out accuracy means: over the examples' own people (always shown with it)."""
        if self.cross_person_accuracy is None:
            return SAME_PERSON_CAVEAT
        return (
            f"held-out accuracy over your own clips; with each of the {len(set(self.persons))} persons held out in "
            f"turn (taught from the others' clips) it is {100 * self.cross_person_accuracy:.1f} %: expect about that "
            "on new people"
        )

    def describe(self) -> str:
        """A few lines for the terminal: the actions, held-out accuracy, threshold, skipped clips, where it went."""
        n = sum(a.clips for a in self.actions)
        how = f"open set: 'unknown' below similarity {self.open_set.threshold:.3f}" if self.open_set else "closed set"
        lines = [f"taught {len(self.actions)} action(s) from {n} clip(s) with {self.method} ({how}) -> {self.folder}"]
        width = max(len(a.label) for a in self.actions)
        for a in self.actions:
            score = "n/a (one clip)" if a.correct is None else f"{a.correct}/{a.clips} right when held out"
            lines.append(f"  {a.label:<{width}}  {a.clips} clip(s)  {score}")
        if self.accuracy is not None and self.held_out is not None:
            folds = "" if self.held_out.leave_one_out else f" ({self.held_out.folds} folds)"
            lines.append(f"{self.protocol} accuracy{folds}: {100 * self.accuracy:.1f} %")
            lines.append(f"  = {self.caveat}")
        if self.rejected:
            lines.append(f"{self.rejected} held-out example(s) fell below the open-set threshold")
        lines += [f"skipped {s.path}: {s.reason}" for s in self.skipped]
        lines.append(f"labeling window {self.clip_seconds:.2f} s; done in {self.seconds:.1f} s")
        return "\n".join(lines)


def _silent(stage: str, done: int, total: int) -> None:
    pass


def _resolve_open_set(open_set: bool | None, method: TeachMethod) -> bool:
    if open_set is None:
        return method.similarity
    if open_set and not method.similarity:
        similar = ", ".join(n for n, cls in TEACH_METHODS.items() if cls.similarity)
        raise SkelrecError(
            f"open set ('unknown' for clips far from every action) needs a similarity method ({similar}), not "
            f"{method.name}; pass --closed-set or choose one of those"
        )
    return open_set


def _build_method(settings: TeachSettings, device: str) -> TeachMethod:
    options = dict(settings.method_options)
    if "device" in {f.name for f in fields(TEACH_METHODS[settings.method])}:  # type: ignore[arg-type]
        options.setdefault("device", device)
    return build_teach_method(settings.method, **options)


def collect_examples(
    actions: Sequence[ActionFolder],
    base: TeachBase,
    *,
    pose: PoseOptions,
    mirrored: bool,
    cache_dir: Path | None,
    progress: TeachProgress = _silent,
) -> tuple[list[ExampleClip], list[SkippedClip]]:
    """The poses of every clip of every action; clips without a person are skipped.

    Raises:
        SkelrecError: a clip is too short for the model, or an action has no clip with a person.
    """
    estimator = create_estimator(pose.backend, **pose.options)
    total = sum(len(a.clips) for a in actions)
    kept: list[ExampleClip] = []
    skipped: list[SkippedClip] = []
    done = 0
    for index, action in enumerate(actions):
        found = []
        for path in action.clips:
            clip = ExampleClip(index, path, load_poses(path, estimator, pose, mirrored=mirrored, cache_dir=cache_dir))
            done += 1
            progress("poses", done, total)
            if clip.valid_frames == 0:
                skipped.append(SkippedClip(path, NO_PERSON_FOUND))
                continue
            if clip.valid_frames < base.min_frames:
                raise SkelrecError(
                    f"{path}: a person is seen in only {clip.valid_frames} frame(s) ({clip.seconds:.2f} s); the base "
                    f"model needs at least {base.min_frames} (its {base.input.clip_length}-frame input stretched at "
                    f"most {MAX_STRETCH}x): use a longer clip, or a smaller frame stride"
                )
            found.append(clip)
        if not found:
            raise SkelrecError(
                f"{action.path}: no usable clip for action {action.label!r}: no person found in any of its "
                f"{len(action.clips)} clip(s); add clips in which one person is clearly visible"
            )
        kept += found
    return kept, skipped


def example_clips(base: TeachBase, examples: Sequence[ExampleClip]) -> ClipSet:
    """The model inputs of the examples (whole clips through the base model's input pipeline)."""
    skeletons = [base.skeleton(e.poses) for e in examples]
    x, mask = base.model_inputs(skeletons)
    return ClipSet.originals(x, mask, torch.tensor([e.action for e in examples]), skeletons)


def teach(
    examples: str | Path,
    out: str | Path,
    *,
    base: str | Path | None = None,
    settings: TeachSettings | None = None,
    pose: PoseOptions | None = None,
    mirrored: bool = False,
    device: str = "auto",
    pose_cache: str | Path | None = None,
    progress: TeachProgress | None = None,
    command: str | None = None,
) -> TeachResult:
    """Teach the actions of ``examples`` (one sub-folder of clips per action) to a classifier saved in ``out``.

    Args:
        examples: the examples folder (:mod:`~skelrec.teach.examples`).
        out: the checkpoint folder to write (``model.safetensors``, ``config.json``, ``README.md``).
        base: the base model whose encoder embeds the clips: a checkpoint folder, a Hub repo id, or ``None`` for
            the embedded default model.
        settings: method, open set, augmentation (:class:`TeachSettings`).
        pose: pose extraction options (the same as ``skelrec label``'s).
        mirrored: the videos are mirrored (webcam/selfie recordings).
        device: ``auto``, ``cpu`` or ``cuda``.
        pose_cache: folder caching the poses of videos; default ``out/.poses``.
        progress: called as ``progress(stage, done, total)`` (:data:`TeachProgress`).
        command: the command line, recorded in the model card.

    Raises:
        SkelrecError: see the module docstring.
    """
    started = time.perf_counter()
    s, report = settings or TeachSettings(), progress or _silent
    method = _build_method(s, device)
    open_set = _resolve_open_set(s.open_set, method)
    actions = find_actions(examples, reserved=(UNKNOWN_LABEL,) if open_set else ())
    if len(actions) < 2 and not open_set:
        raise SkelrecError(
            f"{examples}: only one action ({actions[0].label!r}); a closed-set classifier needs two or more. Add "
            "another action folder, or teach it in open-set mode (--open-set) to tell it apart from anything else"
        )
    model_base = TeachBase.load(base, device=device)
    out = Path(out)
    cache = Path(pose_cache) if pose_cache is not None else out / POSE_CACHE_DIR
    found, skipped = collect_examples(
        actions, model_base, pose=pose or PoseOptions(), mirrored=mirrored, cache_dir=cache, progress=report
    )
    labels = tuple(a.label for a in actions)
    ctx = FitContext(labels, model_base, s.seed, s.feature)
    clips = example_clips(model_base, found)
    augment = None
    if s.augment:
        augmenter = build_augmenter(model_base, diffusion_steps=s.diffusion_steps)
        clips, augment = clips.concat(augmenter(clips, copies=s.copies, seed=s.seed)), augmenter.name
        report("augment", 1, 1)
    if method.needs_embeddings:
        clips = clips.with_embeddings(model_base.embed(clips.x, clips.mask, pooling=s.feature))
        report("embed", 1, 1)
    held_out = cross_validate(method, clips, ctx, progress=lambda done, total: report("evaluate", done, total))
    persons = [c.person or "" for c in found]
    cross_person = cross_validate(method, clips, ctx, groups=np.array(persons)) if len(set(persons)) >= 2 else None
    threshold = calibrate_threshold(held_out, ratio=s.open_set_ratio) if open_set else None
    model = method.classifier(method.fit(clips, ctx, unknown_threshold=threshold.threshold if threshold else None), ctx)
    report("fit", 1, 1)
    rejected = None
    if threshold is not None and held_out is not None:
        rejected = int((held_out.own_similarities() < threshold.threshold).sum())
    result = TeachResult(
        folder=out,
        labels=[*labels, *([UNKNOWN_LABEL] if open_set else [])],
        actions=_action_scores(held_out, found, labels),
        clips={label: [c.path for c in found if c.action == i] for i, label in enumerate(labels)},
        skipped=skipped,
        method=method.name,
        open_set=threshold,
        held_out=held_out,
        rejected=rejected,
        augment=augment,
        copies=s.copies if augment else 0,
        clip_seconds=round(float(np.median([c.seconds for c in found])), 3),
        base=model_base.loaded.source,
        durations={label: round(sum(c.seconds for c in found if c.action == i), 3) for i, label in enumerate(labels)},
        persons=persons,
        cross_person=cross_person,
    )
    config, card = taught_config(
        model, model_base, result, settings=s, pose=pose or PoseOptions(), mirrored=mirrored, command=command
    )
    save_pretrained(out, model.state_dict(), config, card, overwrite_card=True)
    result.seconds = time.perf_counter() - started
    report("save", 1, 1)
    log.info("taught %d actions in %.1f s: %s", len(labels), result.seconds, out)
    return result


def _action_scores(
    held_out: HeldOutScores | None, found: Sequence[ExampleClip], labels: tuple[str, ...]
) -> list[ActionScore]:
    if held_out is not None:
        return held_out.per_action(labels)
    counts = np.bincount([c.action for c in found], minlength=len(labels))
    return [ActionScore(label, int(n), None) for label, n in zip(labels, counts, strict=True)]
