"""Label many videos into one output folder: the engine behind ``skelrec label``.

* Inputs are video files, pose files (``.npz`` written by :meth:`skelrec.pose.PoseSequence.save`), skeleton files
  of the supported datasets (PKU-MMD ``.txt``/``.txt.xz``, NTU ``.skeleton``, NW-UCLA ``.json``, UTD-MHAD ``.mat``,
  MSR ``.txt``, MSRC-12 ``.csv``: recognised by content, read by :func:`skelrec.datasets.recording.read_recording`)
  and folders, searched recursively for all of these (:data:`VIDEO_SUFFIXES`, pose files, skeleton files the readers
  recognise; hidden folders such as ``.poses`` are skipped).
* Per input ``<out>/<stem>.json`` is always written (it records the model and settings and marks the video as
  finished), plus ``<stem>.csv`` / ``<stem>.srt`` as asked and ``<stem>.mp4`` with ``overlay``. Inputs with the
  same stem get their parent folder's name in front (``a/x.mp4`` -> ``a_x``).
* A video whose JSON names the same model and settings and whose requested files all exist is skipped unless
  ``force``; another model or setting labels it again (the pose cache in ``<out>/.poses`` makes that fast).
* One bad input never stops the batch: its error is recorded and the next input runs. The report lists what
  failed; the CLI exits non-zero when anything did.
* Ctrl-C stops the batch with :class:`BatchInterrupted`, whose report lists what finished, the input that was
  ``stopped`` and those still ``pending``; finished outputs are kept, so running the same command again resumes.
* :func:`check_output_folder` refuses an output folder that cannot be written before any work is done.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from rich.console import Console
from rich.progress import TaskID

from skelrec.datasets.base import XZ_SUFFIX
from skelrec.datasets.recording import is_recording, read_recording, recording_suffixes
from skelrec.errors import SkelrecError
from skelrec.labeling.labeler import Labeler, ProgressCallback
from skelrec.labeling.render import render_overlay
from skelrec.labeling.result import LabelResult
from skelrec.labeling.writers import parse_formats, write_outputs
from skelrec.pose.cache import POSE_CACHE_DIR  # the pose cache folder inside the output folder
from skelrec.pose.sequence import POSE_SUFFIX, PoseSequence
from skelrec.progress import make_progress
from skelrec.video import VIDEO_SUFFIXES

__all__ = [
    "POSE_CACHE_DIR",
    "POSE_SUFFIX",
    "VIDEO_SUFFIXES",
    "BatchInterrupted",
    "BatchProgress",
    "BatchReport",
    "Job",
    "Outcome",
    "RichBatchProgress",
    "check_output_folder",
    "collect_jobs",
    "label_batch",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """One input and the stem of its output files."""

    source: Path
    stem: str


Status = Literal["labelled", "skipped", "failed", "stopped", "pending"]
"""``stopped``: Ctrl-C came while the input was being labelled; ``pending``: Ctrl-C came before it started."""


@dataclass(frozen=True)
class Outcome:
    """What happened to one input: ``labelled``, ``skipped`` (already done), ``failed`` (``message`` says why),
    or, after Ctrl-C, ``stopped`` / ``pending`` (see :data:`Status`)."""

    source: Path
    status: Status
    message: str = ""
    outputs: dict[str, Path] = field(default_factory=dict)

    def line(self) -> str:
        """``<source>: <message>``, without repeating the source when the message starts with it."""
        message = self.message.removeprefix(f"{self.source}: ")
        return f"{self.source}: {message}"


@dataclass
class BatchReport:
    """Outcomes of a batch, in input order."""

    outcomes: list[Outcome]

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    def describe(self) -> str:
        """One line per input, then :meth:`total`."""
        return "\n".join([*(f"{o.status:>8}  {o.line()}" for o in self.outcomes), self.total()])

    def total(self) -> str:
        """``"L labelled, S skipped, F failed"``, then the stopped and pending counts after an interruption."""
        counts = [f"{self.count(s)} {s}" for s in ("labelled", "skipped", "failed")]
        counts += [f"{n} {s}" for s in ("stopped", "pending") if (n := self.count(s))]
        return ", ".join(counts)


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`label_batch`; :attr:`report` says what finished and what did not."""

    def __init__(self, report: BatchReport) -> None:
        super().__init__()
        self.report = report


class BatchProgress(Protocol):
    """Receives the progress of a batch (see :class:`RichBatchProgress`)."""

    def start(self, total: int) -> None: ...

    def video(self, name: str) -> ProgressCallback: ...

    def done(self, outcome: Outcome) -> None: ...


class _Silent:
    def start(self, total: int) -> None:
        pass

    def video(self, name: str) -> ProgressCallback:
        return lambda stage, done, total: None

    def done(self, outcome: Outcome) -> None:
        pass


class RichBatchProgress:
    """Two rich progress bars on stderr: videos done (with the counts so far), and the current video's stage
    (poses, classify, render).

    Use as a context manager around :func:`label_batch`. It prints no line per video: that is the report's job
    (``skelrec label`` prints it on stdout at the end), so each line appears once.
    """

    def __init__(self, console: Console | None = None) -> None:
        self.progress = make_progress(elapsed=False, console=console)
        self.overall: TaskID | None = None
        self.current: TaskID | None = None
        self.counts: dict[str, int] = {}

    def __enter__(self) -> RichBatchProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def start(self, total: int) -> None:
        self.overall = self.progress.add_task("videos", total=total)

    def video(self, name: str) -> ProgressCallback:
        self.current = task = self.progress.add_task(name, total=None)

        def update(stage: str, done: int, total: int) -> None:
            self.progress.update(task, description=f"{name}: {stage}", completed=done, total=max(total, done))

        return update

    def done(self, outcome: Outcome) -> None:
        if self.current is not None:
            self.progress.remove_task(self.current)
            self.current = None
        self.counts[outcome.status] = self.counts.get(outcome.status, 0) + 1
        if self.overall is not None:
            counts = ", ".join(f"{n} {status}" for status, n in self.counts.items())
            self.progress.update(self.overall, advance=1, description=f"videos ({counts})")


# ----------------------------------------------------------------------------------------------------------------
# Inputs.
# ----------------------------------------------------------------------------------------------------------------


def collect_jobs(inputs: Iterable[str | Path]) -> tuple[list[Job], list[Outcome]]:
    """Expand folders into their videos and give every input a unique output stem.

    Returns the jobs and the failures found on the way (a folder without videos). Missing files become jobs:
    labeling them reports the error in its place in the batch.
    """
    files: list[Path] = []
    problems: list[Outcome] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.rglob("*") if _is_input(p, item))
            if not found:
                kinds = f"{', '.join(VIDEO_SUFFIXES)}, pose files {POSE_SUFFIX} or skeleton files"
                problems.append(Outcome(item, "failed", f"no video files ({kinds}) in this folder"))
            files.extend(found)
        else:
            files.append(item)
    files = list(dict.fromkeys(files))
    return [Job(f, s) for f, s in zip(files, _stems(files), strict=True)], problems


def _is_input(path: Path, root: Path) -> bool:
    """A visible video, pose file or recognised skeleton file below ``root``."""
    if any(part.startswith(".") for part in path.relative_to(root).parts) or not path.is_file():
        return False
    suffix = path.suffix.lower()
    return suffix in VIDEO_SUFFIXES or suffix == POSE_SUFFIX or is_recording(path)


def _stem(path: Path) -> str:
    """The output stem of an input: its name without the suffix, and without ``.txt`` of a ``.txt.xz``."""
    return path.stem.removesuffix(".txt") if path.suffix.lower() == XZ_SUFFIX else path.stem


def _stems(files: Sequence[Path]) -> list[str]:
    """File stems, with the parent folder's name (then a number) in front where stems collide."""
    plain = [_stem(f) for f in files]
    stems = [
        f"{f.parent.name}_{s}" if plain.count(s) > 1 and f.parent.name else s for f, s in zip(files, plain, strict=True)
    ]
    seen: dict[str, int] = {}
    for i, s in enumerate(stems):
        seen[s] = seen.get(s, 0) + 1
        if seen[s] > 1:
            stems[i] = f"{s}_{seen[s]}"
    return stems


# ----------------------------------------------------------------------------------------------------------------
# Running.
# ----------------------------------------------------------------------------------------------------------------


def label_batch(
    labeler: Labeler,
    inputs: Iterable[str | Path],
    out: str | Path,
    *,
    formats: Iterable[str] = ("json", "csv", "srt"),
    overlay: bool = False,
    force: bool = False,
    progress: BatchProgress | None = None,
) -> BatchReport:
    """Label every input into ``out`` (see the module docstring); never raises for a bad input.

    ``labeler.pose_cache`` is set to ``<out>/.poses`` unless it already names a folder.

    Raises:
        SkelrecError: ``out`` cannot be written (:func:`check_output_folder`), before any input is read.
        BatchInterrupted: Ctrl-C; its report lists what finished, the input that was stopped and those pending.
    """
    out = Path(out)
    names = parse_formats(["json", *parse_formats(formats)])
    check_output_folder(out)
    if labeler.pose_cache is None:
        labeler.pose_cache = out / POSE_CACHE_DIR
    jobs, outcomes = collect_jobs(inputs)
    progress = progress or _Silent()
    progress.start(len(jobs) + len(outcomes))
    for outcome in outcomes:
        progress.done(outcome)
    finished = 0
    try:
        for job in jobs:
            outcome = _run(labeler, job, out, names, overlay, force, progress.video(job.source.name))
            outcomes.append(outcome)
            finished += 1
            progress.done(outcome)
    except KeyboardInterrupt:
        rest = jobs[finished:]
        outcomes += [Outcome(j.source, "stopped", "interrupted while labelling (Ctrl-C)") for j in rest[:1]]
        outcomes += [Outcome(j.source, "pending", "not started (interrupted)") for j in rest[1:]]
        raise BatchInterrupted(BatchReport(outcomes)) from None
    return BatchReport(outcomes)


def check_output_folder(out: str | Path) -> None:
    """Raise a one-line :class:`SkelrecError` unless ``out`` is a folder skelrec can write, or one it can create.

    Creates nothing: the nearest existing folder on the way to ``out`` is probed with an anonymous temporary file,
    which also catches what permission bits do not show (a read-only file system, or running as root).
    """
    out = Path(out)
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    fix = "choose another folder with --out, or make this one writable"
    if not existing.is_dir():
        what = "is a file" if existing == out else f"is inside {existing}, which is a file"
        raise SkelrecError(f"output folder {out} {what}, not a folder; {fix}")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        where = "" if existing == out else f" (it would be created in {existing})"
        raise SkelrecError(f"output folder {out} is not writable{where}: {e.strerror}; {fix}") from None


def _expected(out: Path, stem: str, formats: Sequence[str], overlay: bool) -> dict[str, Path]:
    paths = {f: out / f"{stem}.{f}" for f in formats}
    if overlay:
        paths["overlay"] = out / f"{stem}.mp4"
    return paths


def _finished(paths: dict[str, Path], identity: dict[str, Any]) -> bool:
    """All outputs exist and the JSON was made by the same model with the same settings."""
    if not all(p.is_file() for p in paths.values()):
        return False
    try:
        doc = json.loads(paths["json"].read_text(encoding="utf-8"))
        made_by = {"model": {k: doc["model"].get(k) for k in identity["model"]}, "settings": doc["settings"]}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False
    return made_by == json.loads(json.dumps(identity))


def _run(
    labeler: Labeler,
    job: Job,
    out: Path,
    formats: Sequence[str],
    overlay: bool,
    force: bool,
    progress: ProgressCallback,
) -> Outcome:
    paths = _expected(out, job.stem, formats, overlay)
    if not force and _finished(paths, labeler.identity()):
        return Outcome(job.source, "skipped", "already labelled with this model and settings (--force relabels)")
    try:
        result = _label(labeler, job.source, progress)
        skipped_overlay = _overlay(result, paths["overlay"], progress) if overlay else None
        written = write_outputs(result, out, job.stem, formats)
    except SkelrecError as e:
        return Outcome(job.source, "failed", str(e))
    except Exception as e:  # one bad input never stops the batch: a bug or library error is reported in its place
        log.debug("labeling %s failed", job.source, exc_info=True)
        return Outcome(job.source, "failed", f"{type(e).__name__}: {e}".splitlines()[0])
    if overlay and skipped_overlay is None:
        written["overlay"] = paths["overlay"]
    return Outcome(job.source, "labelled", _describe(result, skipped_overlay), written)


def _label(labeler: Labeler, source: Path, progress: ProgressCallback) -> LabelResult:
    suffix = source.suffix.lower()
    if suffix == POSE_SUFFIX:
        poses = PoseSequence.load(source)
        if labeler.mirrored:
            poses = poses.with_mirrored(True)
        return labeler.label_poses(poses, progress=progress)
    if suffix in recording_suffixes():
        reader, sample = read_recording(source)
        fps = sample.fps or reader.fps
        return labeler.label_skeleton(
            sample.data, sample.layout, fps=fps, source=str(source), origin=reader.name, progress=progress
        )
    return labeler.label(source, progress=progress)


def _overlay(result: LabelResult, path: Path, progress: ProgressCallback) -> str | None:
    """Render the overlay video; returns why it was not rendered (a pose file whose video is gone), else None."""
    if result.poses is None:
        return "no overlay: a skeleton file has no video to draw on"
    if not result.video or not Path(result.video).is_file():
        return f"no overlay: source video {result.video or '(unknown)'} not found"
    if result.pose.frames_processed == 0:
        return "no overlay: no frames"
    render_overlay(result.video, result, path, progress=progress)
    return None


def _describe(result: LabelResult, note: str | None) -> str:
    p = result.pose
    seen = f"person in {p.frames_with_person}/{p.frames_processed} frames"
    actions = [s for s in result.segments if s.state == "action"]
    if result.status != "ok":
        text = f"{result.status} ({seen})"
    else:
        top = ", ".join(f"{s['label']} {s['score']:.2f}" for s in result.summary(3))
        text = f"{len(actions)} action segments, {seen}; top: {top}"
    return f"{text}; {note}" if note else text
