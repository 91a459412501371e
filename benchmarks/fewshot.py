"""Few-shot benchmark of ``skelrec teach``: N-way k-shot accuracy of the self-supervised encoders against two
controls, the open-set rule, and the time to teach 3 actions from 3 video clips each on this machine.

    python benchmarks/fewshot.py                       # every runs/ssl_cpu/<method>/encoder that exists
    python benchmarks/fewshot.py --encoder mamp=runs/ssl_cpu/mamp/encoder --episodes 200 --no-timing

Episodes (``--episodes`` per dataset and shot count, seeded): ``--ways`` classes drawn from the held-out classes,
``k`` support clips (k = ``--shots``, default 1, 3, 5) and ``--queries`` query clips per class, all distinct. The
support clips are embedded and a head is fitted with the teach method's own code (``fit_head`` of
:mod:`skelrec.teach.methods`; ``prototype`` by default, ``--methods`` adds ``knn`` and ``linear``); the queries are
classified; accuracy is averaged over the episodes (mean ± std, and the 95 % half-width 1.96 std / sqrt(episodes)).
With ``--query-window SHORTEST`` the queries are random windows of their clips (a uniform SHORTEST..100 % of the
frames at a uniform offset, the same windows for every embedding), as a labeling window sliding over a longer
recording sees an action; the support clips stay whole, as taught examples are.
Every clip goes through the input pipeline a taught model applies (:class:`skelrec.teach.TeachBase`: the
checkpoint's normalization, the whole clip resampled to its clip length).

Embeddings compared through the same episodes and heads:

* each encoder given (the pretrained encoders of ``benchmarks/ssl_cpu.py``);
* ``random_init``: an encoder of the first encoder's config with random weights (seed 0);
* ``raw_joints``: no encoder: the flattened model input (the normalized, resampled joint coordinates).

The encoder feature is the pooling ``--pooling`` names (:mod:`skelrec.models.pooling`: ``mean``, MacDiff's per-joint
``joints``, ordered ``segments``, ``segment_joints``; default: ``skelrec teach``'s): the feature a model taught with
``skelrec teach --pooling`` reads. Raw joints are the same under every pooling.

Held-out data:

* NW-UCLA (the main unseen-action set): the cross-subject TEST part (514 clips, 10 actions). The CPU pretraining
  configs read only the cross-subject training part and never any label, so these clips were never seen at all.
* UTD-MHAD (27 actions, 861 clips): the self-supervised encoders read every UTD-MHAD clip during pretraining, but
  no label. A checkpoint that was trained with labels (a classifier, e.g. the default app model trained on
  UTD-MHAD) would leave out the classes its ``labels`` name; the encoders here have none, so all 27 are held out.

Open set (prototype head, k >= 2): the episode's ``--ways`` classes are taught and the threshold calibrated from the
support clips (:mod:`skelrec.teach.openset`, for each of ``--ratios``); ``--queries`` queries of each taught class
and as many of untaught classes are scored: ``known_accepted`` (a taught class's query is not called unknown),
``known_correct`` (it gets its own label), ``unknown_rejected`` (an untaught class's query is called unknown), in
percent; ``auroc``: how well the similarity to the nearest prototype separates the two kinds of query at all.

Cross-person (``--cross-person``, written to ``benchmarks/results/fewshot_cross_person.json``): what a user who
teaches from recordings of ONE person gets on other people. ``skelrec teach``'s defaults throughout
(:class:`skelrec.teach.TeachSettings()`: the default base model ``weights/default``, its default head, pooling and
open-set rule). An episode picks a subject of a dataset part (``--cross-person-parts``, e.g. ``nw_ucla:test``, the
cross-subject test subjects; ``utd_mhad:test:even``, only its even-numbered actions) and ``ways`` actions (each
of ``--cross-person-ways``) that subject performed at least ``--cross-person-shots`` times; ``shots`` clips of that
subject per action are the examples (taught with the teach code: cross-validation, open-set calibration, fit), and
every clip of the OTHER subjects of the part is a query: of a
taught action (known) or of an action not taught (unknown). Per episode: ``closed_set_accuracy`` (known queries,
open set off), ``known_accepted`` (target >= 95 %), ``known_correct`` (accepted and right), ``unknown_rejected``, the
threshold-free ``auroc`` of the max similarity between known and unknown queries, and the same-person
``leave_one_out`` accuracy the Teach tab shows; mean ± std over ``--cross-person-episodes`` action subsets per
subject. ``ratio_sweep`` gives known accepted / unknown rejected for other open-set ratios
(:mod:`skelrec.teach.openset`) over the same episodes: how the default was tuned.

Timing: 3 actions x 3 clips of 3 s at 30 fps (480x480) rendered from scikit-image's astronaut photo (camera sway,
tilt, zoom), taught end to end with ``teach()`` (MediaPipe pose extraction included, empty pose cache), then again
with the poses cached.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.machine import machine  # noqa: E402
from benchmarks.shared_data import prepare_shared_caches  # noqa: E402
from skelrec.checkpoint import build_model  # noqa: E402
from skelrec.datasets.cache import PreparedDataset  # noqa: E402
from skelrec.errors import SkelrecError  # noqa: E402
from skelrec.evaluate import POOLINGS  # noqa: E402
from skelrec.files import atomic_write_text  # noqa: E402
from skelrec.hub.loading import LoadedModel  # noqa: E402
from skelrec.teach import (  # noqa: E402
    DEFAULT_POOLING,
    UNKNOWN_LABEL,
    ClipSet,
    FitContext,
    HeadSpec,
    TeachBase,
    TeachSettings,
    build_teach_method,
    calibrate_threshold,
    cross_validate,
    teach,
)
from skelrec.teach.openset import threshold_of  # noqa: E402

METHODS = ("mamp", "macdiff", "skeleton2vec", "skeletonmae", "halp")
RUNS = ROOT / "runs" / "ssl_cpu"
CACHES = ROOT / "caches"
RESULT = ROOT / "benchmarks" / "results" / "fewshot.json"
CROSS_PERSON_RESULT = ROOT / "benchmarks" / "results" / "fewshot_cross_person.json"
DATASETS = {"nw_ucla": ("xsub", "test"), "utd_mhad": (None, None)}
"""Cache name -> (protocol, part) of the held-out clips (``None``: every clip)."""


# ------------------------------------------------------------------------------------------------------------------
# Embeddings.
# ------------------------------------------------------------------------------------------------------------------


@dataclass
class Features:
    """Embeddings ``(N, F)`` of a dataset's held-out clips, their labels ``(N,)`` and the class names."""

    embeddings: torch.Tensor
    labels: np.ndarray
    classes: list[str]
    query_embeddings: torch.Tensor | None = None
    """Embeddings the queries are classified by (``--query-window``: of random windows); ``None``: ``embeddings``."""

    @property
    def queries(self) -> torch.Tensor:
        return self.embeddings if self.query_embeddings is None else self.query_embeddings


def held_out_clips(name: str) -> tuple[PreparedDataset, list[int]]:
    """The held-out clips of cache ``name`` and the classes allowed in episodes (all of the cache's)."""
    protocol, part = DATASETS[name]
    root = CACHES / name
    if not (root / "info.json").is_file():
        prepare_shared_caches(CACHES, [name])
    data = PreparedDataset(root, protocol, part)
    return data.subset(data.labels >= 0), list(range(len(data.classes)))


def excluded_classes(base: TeachBase, data: PreparedDataset) -> set[int]:
    """Classes of ``data`` a classifier checkpoint was trained on (its ``labels``), by name."""
    labels = {label.casefold() for label in base.config.labels or ()}
    return {i for i, c in enumerate(data.classes) if c.casefold() in labels}


def random_window(clip: np.ndarray, shortest: float, rng: np.random.Generator) -> np.ndarray:
    """A window of ``clip`` ``(M, T, V, C)``: a uniform fraction in ``[shortest, 1]`` of its frames, at a uniform
    offset (what a labeling window sliding over a longer recording sees of an action)."""
    frames = clip.shape[1]
    length = max(2, round(frames * rng.uniform(shortest, 1.0)))
    start = int(rng.integers(0, frames - length + 1)) if length < frames else 0
    return clip[:, start : start + length]


def model_inputs(
    base: TeachBase, data: PreparedDataset, window: float | None = None, batch: int = 256
) -> Iterator[tuple[torch.Tensor, ...]]:
    """``(x, mask)`` batches of every clip of ``data`` through the base model's input pipeline; with ``window``, of a
    :func:`random_window` of each clip (the same windows for every encoder: seeded)."""
    rng = np.random.default_rng(0)
    for start in range(0, len(data), batch):
        clips = [base.convert(data[i].data, data.layout) for i in range(start, min(start + batch, len(data)))]
        yield base.model_inputs([c if window is None else random_window(c, window, rng) for c in clips])


def encoder_features(base: TeachBase, data: PreparedDataset, pooling: str, window: float | None) -> torch.Tensor:
    return torch.cat([base.embed(x, mask, pooling=pooling) for x, mask in model_inputs(base, data, window)])


def raw_joint_features(base: TeachBase, data: PreparedDataset, pooling: str, window: float | None) -> torch.Tensor:
    """The control without an encoder: each clip's model input, flattened ``(N, M * T * V * C)``."""
    return torch.cat([x.flatten(1) for x, _ in model_inputs(base, data, window)])


def random_init(base: TeachBase, seed: int = 0) -> TeachBase:
    """An encoder of ``base``'s config with random weights, with ``base``'s input pipeline."""
    torch.manual_seed(seed)
    encoder = build_model(base.config, with_head=False).eval()
    loaded = LoadedModel(encoder, base.config, "random_init", base.loaded.folder)
    return TeachBase(loaded, encoder, base.input)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------------------------
# Episodes.
# ------------------------------------------------------------------------------------------------------------------


def sample_episode(
    labels: np.ndarray, classes: list[int], ways: int, shots: int, queries: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Support and query indices with episode labels ``0 .. ways-1``."""
    eligible = [c for c in classes if (labels == c).sum() >= shots + queries]
    chosen = rng.choice(eligible, ways, replace=False)
    support, support_y, query, query_y = [], [], [], []
    for y, c in enumerate(chosen):
        members = rng.permutation(np.flatnonzero(labels == c))
        support += list(members[:shots])
        query += list(members[shots : shots + queries])
        support_y += [y] * shots
        query_y += [y] * queries
    return np.array(support), np.array(support_y), np.array(query), np.array(query_y)


def closed_set_accuracy(
    feats: Features, classes: list[int], method: str, *, ways: int, shots: int, queries: int, episodes: int, seed: int
) -> list[float]:
    rng = np.random.default_rng(seed)
    teach_method = build_teach_method(method)
    out = []
    for episode in range(episodes):
        s, sy, q, qy = sample_episode(feats.labels, classes, ways, shots, queries, rng)
        head = teach_method.fit_head(feats.embeddings[s], torch.from_numpy(sy), HeadSpec(ways, seed=episode))
        with torch.no_grad():
            pred = head(feats.queries[q])[:, :ways].argmax(1).numpy()
        out.append(float((pred == qy).mean()))
    return out


def auroc(known: np.ndarray, unknown: np.ndarray) -> float:
    """Probability that a taught class's query is more similar to its nearest prototype than an untaught one's
    (area under the ROC curve of the max similarity; ties count one half)."""
    diff = known[:, None] - unknown[None, :]
    return float((diff > 0).mean() + 0.5 * (diff == 0).mean())


def open_set_rates(
    feats: Features,
    classes: list[int],
    *,
    ratios: list[float],
    ways: int,
    shots: int,
    queries: int,
    episodes: int,
    seed: int,
) -> dict[str, object]:
    """Per open-set ratio of ``ratios``: known accepted / correct and unknown rejected rates of the prototype head, and
    the threshold-free AUROC of its max similarity (module docstring)."""
    rng = np.random.default_rng(seed)
    method = build_teach_method("prototype")
    rates: dict[float, dict[str, list[float]]] = {
        s: {"known_accepted": [], "known_correct": [], "unknown_rejected": []} for s in ratios
    }
    areas = []
    for episode in range(episodes):
        s, sy, q, qy = sample_episode(feats.labels, classes, ways, shots, queries, rng)
        others = np.flatnonzero(~np.isin(feats.labels, feats.labels[s]))
        unknown = rng.choice(others, min(len(others), ways * queries), replace=False)
        ctx = FitContext(tuple(str(i) for i in range(ways)), seed=episode)
        support = ClipSet.of_features(feats.embeddings[s], torch.from_numpy(sy))
        held_out = cross_validate(method, support, ctx)
        head = method.fit(support, ctx)
        with torch.no_grad():
            areas.append(
                auroc(
                    head.similarities(feats.queries[q]).max(1).values.numpy(),
                    head.similarities(feats.queries[unknown]).max(1).values.numpy(),
                )
            )
        for sig, acc in rates.items():
            head = method.fit(support, ctx, unknown_threshold=calibrate_threshold(held_out, ratio=sig).threshold)
            with torch.no_grad():
                known_pred = head(feats.queries[q]).argmax(1).numpy()
                unknown_pred = head(feats.queries[unknown]).argmax(1).numpy()
            acc["known_accepted"].append(float((known_pred != ways).mean()))
            acc["known_correct"].append(float((known_pred == qy).mean()))
            acc["unknown_rejected"].append(float((unknown_pred == ways).mean()))
    by_ratio = {
        f"{sig:g}": {k: round(100 * float(np.mean(v)), 2) for k, v in acc.items()} for sig, acc in rates.items()
    }
    return {"auroc": round(float(np.mean(areas)), 4), "ratios": by_ratio}


def summary(values: list[float]) -> dict[str, float]:
    arr = 100 * np.asarray(values)
    return {
        "mean": round(float(arr.mean()), 2),
        "std": round(float(arr.std()), 2),
        "ci95": round(float(1.96 * arr.std() / np.sqrt(len(arr))), 2),
        "episodes": len(arr),
    }


# ------------------------------------------------------------------------------------------------------------------
# Cross-person: teach from one subject, query the others, with skelrec teach's defaults.
# ------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CrossPersonEpisode:
    """Indices into a dataset part: ``support`` ``(ways * shots,)`` clips of ``subject`` with episode labels
    ``support_y`` in ``0 .. ways-1``; ``known`` clips of the taught ``actions`` by other subjects with labels
    ``known_y``; ``unknown`` clips of the other actions by other subjects."""

    subject: int
    actions: np.ndarray
    support: np.ndarray
    support_y: np.ndarray
    known: np.ndarray
    known_y: np.ndarray
    unknown: np.ndarray


CROSS_PERSON_TUNING = (
    "the default open-set ratio (skelrec.teach.openset.DEFAULT_RATIO) was chosen on the part utd_mhad:test:even "
    "alone: the largest ratio of the sweep whose known_accepted is >= 95 % at every number of actions; the other "
    "parts (UTD-MHAD's odd-numbered actions, NW-UCLA's actions and subjects) are held out. UTD-MHAD's test subjects "
    "(2, 4, 6, 8) were never seen by the default model, which was trained on its odd subjects' labelled clips of "
    "all 27 actions; NW-UCLA was never seen at all"
)
"""How the default rule was tuned on this benchmark (written into the results)."""


def cross_person_episode(
    labels: np.ndarray, subjects: np.ndarray, subject: int, ways: int, shots: int, rng: np.random.Generator
) -> CrossPersonEpisode | None:
    """``ways`` random actions that ``subject`` performed at least ``shots`` times (``None`` when fewer exist):
    ``shots`` of its clips per action are the support, the other subjects' clips the queries."""
    own = subjects == subject
    eligible = [int(c) for c in np.unique(labels) if (own & (labels == c)).sum() >= shots]
    if len(eligible) < ways:
        return None
    actions = np.sort(rng.choice(eligible, ways, replace=False))
    support = np.concatenate([rng.choice(np.flatnonzero(own & (labels == c)), shots, replace=False) for c in actions])
    others = ~own
    known = np.flatnonzero(others & np.isin(labels, actions))
    unknown = np.flatnonzero(others & ~np.isin(labels, actions))
    return CrossPersonEpisode(
        subject,
        actions,
        support,
        np.repeat(np.arange(ways), shots),
        known,
        np.searchsorted(actions, labels[known]),
        unknown,
    )


@dataclass
class EpisodeScores:
    """What the taught model of one episode does on its queries (fractions; ``own``: held-out similarities of the
    examples, the open-set calibration's input; ``known_max`` / ``unknown_max``: the queries' max similarity)."""

    leave_one_out: float | None
    closed_set_accuracy: float
    known_accepted: float
    known_correct: float
    unknown_rejected: float
    auroc: float
    own: np.ndarray
    known_max: np.ndarray
    unknown_max: np.ndarray


def score_cross_person(feats: torch.Tensor, episode: CrossPersonEpisode, settings: TeachSettings) -> EpisodeScores:
    """Teach the episode's support with ``settings`` (cross-validation, open-set calibration, fit: the code of
    :func:`skelrec.teach.teach`) and score its queries."""
    method = build_teach_method(settings.method, **settings.method_options)
    ways = len(episode.actions)
    ctx = FitContext(tuple(str(a) for a in episode.actions), seed=settings.seed, pooling=settings.feature)
    support = ClipSet.of_features(feats[episode.support], torch.from_numpy(episode.support_y))
    held_out = cross_validate(method, support, ctx)
    threshold = calibrate_threshold(held_out, ratio=settings.open_set_ratio).threshold
    head = method.fit(support, ctx, unknown_threshold=threshold)
    with torch.no_grad():
        known_sim = head.similarities(feats[episode.known])
        unknown_sim = head.similarities(feats[episode.unknown])
        known_pred = head(feats[episode.known]).argmax(1).numpy()
        unknown_pred = head(feats[episode.unknown]).argmax(1).numpy()
    known_max, unknown_max = known_sim.max(1).values.numpy(), unknown_sim.max(1).values.numpy()
    return EpisodeScores(
        leave_one_out=None if held_out is None else held_out.accuracy,
        closed_set_accuracy=float((known_sim.argmax(1).numpy() == episode.known_y).mean()),
        known_accepted=float((known_pred != ways).mean()),
        known_correct=float((known_pred == episode.known_y).mean()),
        unknown_rejected=float((unknown_pred == ways).mean()),
        auroc=auroc(known_max, unknown_max),
        own=held_out.own_similarities() if held_out is not None else np.zeros(0),
        known_max=known_max,
        unknown_max=unknown_max,
    )


def ratio_sweep(scores: list[EpisodeScores], ratios: list[float]) -> dict[str, dict[str, float]]:
    """Known accepted / unknown rejected (percent, mean over episodes) had the open-set ratio been each of
    ``ratios`` (:func:`skelrec.teach.openset.threshold_of` on the same held-out similarities)."""
    out = {}
    for r in ratios:
        thresholds = [threshold_of(s.own, r) for s in scores]
        out[f"{r:g}"] = {
            "known_accepted": round(
                100 * float(np.mean([(s.known_max >= t).mean() for s, t in zip(scores, thresholds, strict=True)])), 2
            ),
            "unknown_rejected": round(
                100 * float(np.mean([(s.unknown_max < t).mean() for s, t in zip(scores, thresholds, strict=True)])), 2
            ),
        }
    return out


def former_rule(scores: list[EpisodeScores]) -> dict[str, object]:
    """Known accepted / unknown rejected (percent) under the rule this benchmark replaced: ``mean(s) - 1 * max(std(s),
    0.05)`` of the examples' held-out similarities ``s`` (the tightest same-person spread)."""
    thresholds = [float(s.own.mean() - max(float(s.own.std()), 0.05)) for s in scores]
    pairs = list(zip(scores, thresholds, strict=True))
    return {
        "rule": "mean - 1 * max(std, 0.05) of the held-out own-action similarities",
        "known_accepted": round(100 * float(np.mean([(s.known_max >= t).mean() for s, t in pairs])), 2),
        "unknown_rejected": round(100 * float(np.mean([(s.unknown_max < t).mean() for s, t in pairs])), 2),
    }


def cross_person_part(
    feats: torch.Tensor,
    labels: np.ndarray,
    subjects: np.ndarray,
    *,
    ways: int,
    shots: int,
    episodes: int,
    ratios: list[float],
    settings: TeachSettings,
    seed: int,
) -> dict[str, object]:
    """Mean ± std of every :class:`EpisodeScores` rate over ``episodes`` action subsets per subject."""
    rng = np.random.default_rng(seed)
    scores = []
    for subject in np.unique(subjects):
        for _ in range(episodes):
            episode = cross_person_episode(labels, subjects, int(subject), ways, shots, rng)
            if episode is not None:
                scores.append(score_cross_person(feats, episode, settings))
    if not scores:
        return {"skipped": f"no subject performed {ways} actions {shots} times"}
    rates = ("closed_set_accuracy", "known_accepted", "known_correct", "unknown_rejected")
    row: dict[str, object] = {k: summary([getattr(s, k) for s in scores]) for k in rates}
    row["leave_one_out"] = summary([s.leave_one_out for s in scores if s.leave_one_out is not None])
    areas = np.array([s.auroc for s in scores])
    row["auroc"] = {"mean": round(float(areas.mean()), 4), "std": round(float(areas.std()), 4)}
    row["ratio_sweep"] = ratio_sweep(scores, ratios)
    row["former_rule"] = former_rule(scores)
    return row


ACTION_SUBSETS = {"all": lambda c: True, "even": lambda c: c % 2 == 0, "odd": lambda c: c % 2 == 1}
"""The actions of a cross-person part (``DATASET:PART:SUBSET``), by class index: tune on one, report on another."""


def parse_part(spec: str) -> tuple[str, str, str]:
    """``DATASET:PART[:SUBSET]`` -> ``(dataset, part, subset)``, e.g. ``utd_mhad:test:even``."""
    fields = spec.split(":")
    if len(fields) not in (2, 3) or fields[0] not in DATASETS or (len(fields) == 3 and fields[2] not in ACTION_SUBSETS):
        raise SkelrecError(
            f"cross-person part {spec!r}: expected DATASET:PART[:SUBSET] with DATASET one of {', '.join(DATASETS)}, "
            f"PART train or test, SUBSET one of {', '.join(ACTION_SUBSETS)}"
        )
    return fields[0], fields[1], fields[2] if len(fields) == 3 else "all"


def subject_features(
    base: TeachBase, dataset: str, part: str, pooling: str, subset: str = "all"
) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """Embeddings ``(N, F)``, labels ``(N,)`` and subjects ``(N,)`` of the cross-subject ``part`` of ``dataset``,
    the actions of :data:`ACTION_SUBSETS` ``subset`` only."""
    root = CACHES / dataset
    if not (root / "info.json").is_file():
        prepare_shared_caches(CACHES, [dataset])
    data = PreparedDataset(root, "xsub", part)
    keep = ACTION_SUBSETS[subset]
    data = data.subset([i for i, c in enumerate(data.labels) if c >= 0 and keep(int(c))])
    subjects = np.array([int(data.meta(i)["subject"]) for i in range(len(data))])
    return encoder_features(base, data, pooling, None), data.labels, subjects


def run_cross_person(args: argparse.Namespace, log: Callable[[str], None] = print) -> dict[str, object]:
    settings = TeachSettings()
    base = TeachBase.load(None, device="cpu")
    parts: dict[str, object] = {}
    for spec in args.cross_person_parts:
        dataset, part, subset = parse_part(spec)
        feats, labels, subjects = subject_features(base, dataset, part, settings.feature, subset)
        rows = {}
        for ways in args.cross_person_ways:
            rows[f"{ways}way"] = cross_person_part(
                feats,
                labels,
                subjects,
                ways=ways,
                shots=args.cross_person_shots,
                episodes=args.cross_person_episodes,
                ratios=args.ratios,
                settings=settings,
                seed=args.seed,
            )
            log(
                f"{spec} {ways}-way: "
                + json.dumps(
                    {k: v.get("mean") for k, v in rows[f"{ways}way"].items() if isinstance(v, dict) and "mean" in v}
                )
            )
        trained = excluded_classes(base, PreparedDataset(CACHES / dataset))
        parts[spec] = {
            "clips": len(labels),
            "subjects": sorted(int(s) for s in np.unique(subjects)),
            "classes_the_base_was_trained_on": len(trained),
            "rows": rows,
        }
    return {
        "base": base.loaded.source,
        "settings": dict(vars(settings)),
        "tuning": CROSS_PERSON_TUNING,
        "parts": parts,
    }


# ------------------------------------------------------------------------------------------------------------------
# Timing: teach 3 actions x 3 clips end to end.
# ------------------------------------------------------------------------------------------------------------------


def astronaut_video(path: Path, motion: str, seconds: float, fps: float, size: int, seed: int) -> Path:
    """scikit-image's astronaut photo filmed by a camera that sways, tilts or zooms (speed varies with ``seed``)."""
    from PIL import Image
    from skimage.data import astronaut

    from skelrec.video import write_video

    img = Image.fromarray(astronaut())
    speed = 0.8 + 0.15 * seed

    def frames() -> Iterator[np.ndarray]:
        for i in range(round(seconds * fps)):
            a = np.sin(2 * np.pi * speed * i / fps)
            view = img.rotate(20 * a, center=(256, 200)) if motion == "tilt" else img
            dx = round(30 * a) if motion == "sway" else 0
            grow = round(40 * a) if motion == "zoom" else 0
            box = (30 + dx - grow, 10 - grow // 2, 480 + dx + grow, 460 + grow)
            yield np.asarray(view.crop(box).resize((size, size)))

    return write_video(path, frames(), fps=fps)


def time_teaching(base: str, *, seconds: float = 3.0, fps: float = 30.0, size: int = 480) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="fewshot-timing-") as tmp:
        examples = Path(tmp) / "examples"
        for motion in ("sway", "tilt", "zoom"):
            (examples / motion).mkdir(parents=True)
            for seed in range(3):
                astronaut_video(examples / motion / f"{motion}{seed}.mp4", motion, seconds, fps, size, seed)
        runs = {}
        for name in ("cold_cache", "warm_cache"):
            started = time.perf_counter()
            result = teach(examples, Path(tmp) / "model", base=base, device="cpu")
            runs[name] = round(time.perf_counter() - started, 2)
        shutil.rmtree(Path(tmp) / "model")
    return {
        "setup": f"3 actions x 3 clips of {seconds:g} s, {fps:g} fps, {size}x{size}, astronaut photo (sway/tilt/zoom)",
        "base": base,
        "method": "prototype (default), open set",
        "seconds": runs,
        "held_out_accuracy": result.accuracy,
        "note": "the held-out accuracy of these 9 clips varies between runs (about 0.67-1.0 with the MAMP CPU "
        "encoder): the H.264 files written are not bit-identical from run to run, so the poses differ slightly",
        "target_seconds": 60,
    }


# ------------------------------------------------------------------------------------------------------------------
# Driver.
# ------------------------------------------------------------------------------------------------------------------


def default_encoders() -> dict[str, str]:
    """The exported encoders of ``benchmarks/ssl_cpu.py`` that are complete (config and weights written)."""
    files = ("config.json", "model.safetensors")
    return {m: str(RUNS / m / "encoder") for m in METHODS if all((RUNS / m / "encoder" / f).is_file() for f in files)}


def run(args: argparse.Namespace, log: Callable[[str], None] = print) -> dict[str, object]:
    encoders = dict(e.split("=", 1) for e in args.encoder) if args.encoder else default_encoders()
    if not encoders:
        raise SkelrecError("no encoder: pass --encoder NAME=FOLDER or run benchmarks/ssl_cpu.py pretrain first")
    bases = {name: TeachBase.load(path, device="cpu") for name, path in encoders.items()}
    first = next(iter(bases.values()))
    bases["random_init"] = random_init(first)
    results: dict[str, object] = {}
    for dataset in args.datasets:
        data, classes = held_out_clips(dataset)
        rows: dict[str, object] = {}
        for name, base in [*bases.items(), ("raw_joints", first)]:
            started = time.perf_counter()
            embed = raw_joint_features if name == "raw_joints" else encoder_features
            allowed = [c for c in classes if c not in excluded_classes(base, data)]
            queries = None if args.query_window is None else embed(base, data, args.pooling, args.query_window)
            feats = Features(embed(base, data, args.pooling, None), data.labels, data.classes, queries)
            row: dict[str, object] = {"feature_dim": int(feats.embeddings.shape[1]), "classes": len(allowed)}
            if len(allowed) < args.ways:
                rows[name] = {**row, "skipped": f"only {len(allowed)} held-out classes"}
                continue
            common = {"ways": args.ways, "queries": args.queries, "episodes": args.episodes, "seed": args.seed}
            for method in args.methods:
                for k in args.shots:
                    accuracy = closed_set_accuracy(feats, allowed, method, shots=k, **common)
                    row[f"{method}_{k}shot"] = summary(accuracy)
            for k in (k for k in args.shots if k >= 2):
                row[f"open_set_{k}shot"] = open_set_rates(feats, allowed, ratios=args.ratios, shots=k, **common)
            row["seconds"] = round(time.perf_counter() - started, 1)
            rows[name] = row
            log(
                f"{dataset} {name}: "
                + ", ".join(f"{k} {v['mean']}" for k, v in row.items() if "shot" in k and "mean" in v)
            )
        results[dataset] = {"clips": len(data), "classes": len(classes), "split": DATASETS[dataset], "rows": rows}
    return {"encoders": encoders, "datasets": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder", action="append", default=[], help="NAME=FOLDER (repeat); default: runs/ssl_cpu")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--methods", nargs="+", default=["prototype", "knn"], choices=["prototype", "knn", "linear"])
    parser.add_argument("--ways", type=int, default=5)
    parser.add_argument("--shots", type=int, nargs="+", default=[1, 3, 5])
    parser.add_argument(
        "--pooling",
        default=DEFAULT_POOLING,
        choices=list(POOLINGS),
        help="encoder feature a taught head reads (skelrec teach --pooling)",
    )
    parser.add_argument("--queries", type=int, default=5)
    parser.add_argument(
        "--query-window",
        type=float,
        default=None,
        metavar="SHORTEST",
        help="classify random windows of the query clips (SHORTEST..100%% of their frames, random "
        "offset) instead of the whole clips, as a sliding labeling window sees them",
    )
    parser.add_argument("--episodes", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (tiny models: 1 is fastest)")
    parser.add_argument("--no-timing", dest="timing", action="store_false", help="skip the end-to-end timing")
    parser.add_argument(
        "--cross-person",
        action="store_true",
        help="teach from one subject, query the others, with skelrec teach's defaults (only this)",
    )
    parser.add_argument(
        "--cross-person-parts",
        nargs="+",
        default=["utd_mhad:test:even", "utd_mhad:test:odd", "nw_ucla:test", "nw_ucla:train"],
        help="DATASET:PART[:SUBSET] (a cross-subject part; its even/odd-numbered actions) whose subjects are taught "
        "and queried",
    )
    parser.add_argument("--cross-person-ways", type=int, nargs="+", default=[1, 2, 3, 5])
    parser.add_argument("--cross-person-shots", type=int, default=3)
    parser.add_argument("--cross-person-episodes", type=int, default=10, help="action subsets per subject")
    parser.add_argument(
        "--ratios",
        type=float,
        nargs="+",
        default=[0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
        help="open-set ratios measured besides the default (skelrec.teach.openset)",
    )
    parser.add_argument("--out", type=Path, default=None, help=f"default: {RESULT.name} ({CROSS_PERSON_RESULT.name})")
    args = parser.parse_args()
    if args.out is None:
        args.out = CROSS_PERSON_RESULT if args.cross_person else RESULT
    if args.query_window is not None and not 0 < args.query_window <= 1:
        parser.error(f"--query-window must be in (0, 1], got {args.query_window}")
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    report: dict[str, object] = {
        "command": shlex.join(["python", "benchmarks/fewshot.py", *sys.argv[1:]]),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "encoder")},
        "unknown_label": UNKNOWN_LABEL,
        "teach_defaults": {k: getattr(TeachSettings(), k) for k in ("method", "open_set_ratio", "feature")},
    }
    if args.cross_person:
        report |= run_cross_person(args)
    else:
        report |= run(args)
    if args.timing and not args.cross_person:
        report["timing"] = time_teaching(next(iter(report["encoders"].values())))  # type: ignore[attr-defined]
        print("timing:", report["timing"])
    report["seconds"] = round(time.perf_counter() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
