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
support clips (:mod:`skelrec.teach.openset`, for each of ``--sigmas``); ``--queries`` queries of each taught class
and as many of untaught classes are scored: ``known_accepted`` (a taught class's query is not called unknown),
``known_correct`` (it gets its own label), ``unknown_rejected`` (an untaught class's query is called unknown), in
percent; ``auroc``: how well the similarity to the nearest prototype separates the two kinds of query at all.

Timing: 3 actions x 3 clips of 3 s at 30 fps (480x480) rendered from scikit-image's astronaut photo (camera sway,
tilt, zoom), taught end to end with ``teach()`` (MediaPipe pose extraction included, empty pose cache), then again
with the poses cached.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
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

from skelrec.datasets.cache import PreparedDataset  # noqa: E402
from skelrec.errors import SkelrecError  # noqa: E402
from skelrec.evaluate import POOLINGS  # noqa: E402
from skelrec.hub.checkpoint import build_model  # noqa: E402
from skelrec.hub.loading import LoadedModel  # noqa: E402
from skelrec.paths import prepare_shared_caches  # noqa: E402
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

METHODS = ("mamp", "macdiff", "skeleton2vec", "skeletonmae", "halp")
RUNS = ROOT / "runs" / "ssl_cpu"
CACHES = ROOT / "caches"
RESULT = ROOT / "benchmarks" / "results" / "fewshot.json"
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
    labels = {str(label).casefold() for label in base.config.get("labels") or []}
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
    encoder = build_model({"encoder": base.config["encoder"], "head": None}).eval()
    loaded = LoadedModel(encoder, dict(base.config), "random_init", base.loaded.folder)
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
    sigmas: list[float],
    ways: int,
    shots: int,
    queries: int,
    episodes: int,
    seed: int,
) -> dict[str, object]:
    """Per threshold rule ``sigmas``: known accepted / correct and unknown rejected rates of the prototype head, and
    the threshold-free AUROC of its max similarity (module docstring)."""
    rng = np.random.default_rng(seed)
    method = build_teach_method("prototype")
    rates: dict[float, dict[str, list[float]]] = {s: {"known_accepted": [], "known_correct": [],
                                                      "unknown_rejected": []} for s in sigmas}  # fmt: skip
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
            areas.append(auroc(head.similarities(feats.queries[q]).max(1).values.numpy(),
                               head.similarities(feats.queries[unknown]).max(1).values.numpy()))  # fmt: skip
        for sig, acc in rates.items():
            head = method.fit(support, ctx, unknown_threshold=calibrate_threshold(held_out, sigmas=sig).threshold)
            with torch.no_grad():
                known_pred = head(feats.queries[q]).argmax(1).numpy()
                unknown_pred = head(feats.queries[unknown]).argmax(1).numpy()
            acc["known_accepted"].append(float((known_pred != ways).mean()))
            acc["known_correct"].append(float((known_pred == qy).mean()))
            acc["unknown_rejected"].append(float((unknown_pred == ways).mean()))
    by_sigmas = {
        f"{sig:g}": {k: round(100 * float(np.mean(v)), 2) for k, v in acc.items()} for sig, acc in rates.items()
    }
    return {"auroc": round(float(np.mean(areas)), 4), "sigmas": by_sigmas}


def summary(values: list[float]) -> dict[str, float]:
    arr = 100 * np.asarray(values)
    return {"mean": round(float(arr.mean()), 2), "std": round(float(arr.std()), 2),
            "ci95": round(float(1.96 * arr.std() / np.sqrt(len(arr))), 2), "episodes": len(arr)}  # fmt: skip


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


def machine() -> dict[str, object]:
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


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
                row[f"open_set_{k}shot"] = open_set_rates(feats, allowed, sigmas=args.sigmas, shots=k, **common)
            row["seconds"] = round(time.perf_counter() - started, 1)
            rows[name] = row
            log(f"{dataset} {name}: " + ", ".join(f"{k} {v['mean']}" for k, v in row.items() if "shot" in k
                                                    and "mean" in v))  # fmt: skip
        results[dataset] = {"clips": len(data), "classes": len(classes), "split": DATASETS[dataset], "rows": rows}
    return {"encoders": encoders, "datasets": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder", action="append", default=[], help="NAME=FOLDER (repeat); default: runs/ssl_cpu")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--methods", nargs="+", default=["prototype", "knn"], choices=["prototype", "knn", "linear"])
    parser.add_argument("--ways", type=int, default=5)
    parser.add_argument("--shots", type=int, nargs="+", default=[1, 3, 5])
    parser.add_argument("--pooling", default=DEFAULT_POOLING, choices=list(POOLINGS),
                        help="encoder feature a taught head reads (skelrec teach --pooling)")  # fmt: skip
    parser.add_argument("--queries", type=int, default=5)
    parser.add_argument("--query-window", type=float, default=None, metavar="SHORTEST",
                        help="classify random windows of the query clips (SHORTEST..100%% of their frames, random "
                        "offset) instead of the whole clips, as a sliding labeling window sees them")  # fmt: skip
    parser.add_argument("--episodes", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sigmas", type=float, nargs="+", default=[0.0, 0.5, 1.0, 1.5, 2.0],
                        help="open-set threshold rules measured (mean - sigmas * std)")  # fmt: skip
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (tiny models: 1 is fastest)")
    parser.add_argument("--no-timing", dest="timing", action="store_false", help="skip the end-to-end timing")
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()
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
        "teach_defaults": {k: getattr(TeachSettings(), k) for k in ("method", "sigmas", "feature")},
    }
    report |= run(args)
    if args.timing:
        report["timing"] = time_teaching(next(iter(report["encoders"].values())))  # type: ignore[attr-defined]
        print("timing:", report["timing"])
    report["seconds"] = round(time.perf_counter() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
