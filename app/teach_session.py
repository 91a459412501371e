"""The app's Teach tab behind the page: an examples folder filled clip by clip, taught, and zipped.

A session is an examples folder in :func:`~skelrec.teach.teach`'s layout, filled from the page one "Add clips" at a
time, and the models taught from it::

    <workdir>/teach/<session>/<action>/clip1.mp4 ...      # one folder per action, named after it
    <workdir>/taught/<session>/taught-1/                  # model.safetensors, config.json, README.md
    <workdir>/taught/<session>/taught-1.zip               # the same three files, for download

The folders are the whole state of a session: the page keeps only its id. Every build writes a new model folder, so
a model the labeling tab has loaded never changes under it. Errors are one-line :class:`~skelrec.errors.SkelrecError`
messages that name clips by their place in the session (``wave/clip2.mp4``), not by server paths.
"""

from __future__ import annotations

import re
import shutil
import uuid
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from skelrec.checkpoint import CONFIG_NAME, WEIGHTS_NAME
from skelrec.errors import SkelrecError
from skelrec.files import atomic_write
from skelrec.teach.examples import CLIP_SUFFIXES, UNKNOWN_LABEL, action_label, label_key
from skelrec.teach.teach import TeachProgress, TeachResult, TeachSettings, teach
from skelrec.video import VIDEO_SUFFIXES

from .service import check_length, prune_old_entries

__all__ = [
    "ACTION_COLUMNS",
    "APP_METHODS",
    "CHECKPOINT_FILES",
    "RESULT_COLUMNS",
    "TaughtModel",
    "TeachSession",
    "zip_checkpoint",
]

APP_METHODS = ("prototype", "knn", "linear")
"""Teach methods offered in the app: those that take seconds (fine-tuning takes minutes: ``skelrec teach``)."""

ACTION_COLUMNS = ["action", "clips"]
RESULT_COLUMNS = ["action", "clips", "right when held out", "accuracy (%)"]
CHECKPOINT_FILES = (WEIGHTS_NAME, CONFIG_NAME, "README.md")
"""What a taught model's zip holds (not the pose cache or anything else of its folder)."""

MAX_NAME_LENGTH = 60
KEEP_SECONDS = 24 * 3600.0
"""Sessions (their clips and models) untouched for this long are deleted when a new one starts."""

_SESSION_ID = re.compile(r"[0-9a-f]{12}")
_FORBIDDEN = re.compile(r"[/\\\x00-\x1f]")
_CLIP_NUMBER = re.compile(r"clip(\d+)$")
_MODEL_NUMBER = re.compile(r"taught-(\d+)$")


@dataclass(frozen=True)
class TaughtModel:
    """One build of a session: what :func:`~skelrec.teach.teach` returned, the model folder, its zip, and the
    examples folder it was taught from."""

    result: TeachResult
    folder: Path
    zip: Path
    examples: Path

    def accuracy_table(self) -> pd.DataFrame:
        """Per action: its clips, how many the leave-one-out evaluation got right, and the accuracy in %."""
        rows = [
            [a.label, a.clips, a.correct, None if a.accuracy is None else round(100 * a.accuracy, 1)]
            for a in self.result.actions
        ]
        return pd.DataFrame(rows, columns=RESULT_COLUMNS, dtype=object)  # None (one clip) stays None, not NaN

    def describe(self) -> str:
        """Markdown: what was taught, the held-out accuracy, the open-set threshold and the skipped clips."""
        r = self.result
        n, clips = len(r.actions), sum(a.clips for a in r.actions)
        lines = [f"**Taught {n} action{'s' * (n != 1)}** from {clips} clips with `{r.method}` in {r.seconds:.1f} s."]
        if r.accuracy is None:
            lines.append("Accuracy not measured: every action has a single clip (add a second one to measure it).")
        else:
            lines.append(f"{r.protocol.capitalize()} accuracy: **{100 * r.accuracy:.1f} %** ({r.caveat}).")
        if r.open_set is None:
            lines.append("Closed set: every clip gets the nearest taught action.")
        else:
            lines.append(
                f"Open set: a clip whose similarity to every action is below **{r.open_set.threshold:.3f}** is "
                f"labelled `{UNKNOWN_LABEL}`."
            )
        lines += [f"Skipped `{_relative(s.path, self.examples)}`: {s.reason}." for s in r.skipped]
        lines.append(f"Labeling window {r.clip_seconds:.2f} s. The model is loaded in the **Label** tab.")
        return "\n\n".join(lines)


class TeachSession:
    """The examples and taught models of one user of the app.

    Args:
        workdir: the app's work folder (sessions go to ``teach/`` and ``taught/`` in it).
        session: the session's id (12 hex digits); ``None``: a new session.
    """

    def __init__(self, workdir: str | Path, session: str | None = None) -> None:
        if session is None:
            session = uuid.uuid4().hex[:12]
        if not _SESSION_ID.fullmatch(session):
            raise SkelrecError(f"not a teach session id: {session!r}")
        self.id = session
        self.workdir = Path(workdir)
        self.examples = self.workdir / "teach" / session
        self.models = self.workdir / "taught" / session

    @classmethod
    def resume(cls, workdir: str | Path, session: str | None, *, keep_seconds: float = KEEP_SECONDS) -> TeachSession:
        """Session ``session``, or a new one (``None``), deleting sessions untouched for ``keep_seconds``."""
        if session is None:
            for folder in ("teach", "taught"):
                prune_old_entries(Path(workdir) / folder, keep_seconds)
        return cls(workdir, session)

    # ---- the actions ---------------------------------------------------------------------------------------------

    def _folders(self) -> list[Path]:
        if not self.examples.is_dir():
            return []
        folders = (p for p in self.examples.iterdir() if p.is_dir() and not p.name.startswith("."))
        return sorted(folders, key=lambda p: label_key(action_label(p.name)))

    def labels(self) -> list[str]:
        """The session's actions, sorted as the taught model will list them."""
        return [action_label(p.name) for p in self._folders()]

    def actions_table(self) -> pd.DataFrame:
        """One row per action: its name and number of clips."""
        rows = [[action_label(p.name), len(_clips(p))] for p in self._folders()]
        return pd.DataFrame(rows, columns=ACTION_COLUMNS)

    def check_name(self, name: str | None) -> str:
        """The action label of what a user typed.

        Raises:
            SkelrecError: the name is empty, too long, holds a path separator or starts with a dot, is
                :data:`~skelrec.teach.examples.UNKNOWN_LABEL`, or names an existing action spelled differently.
        """
        label = action_label(name or "")
        if not label_key(label):
            raise SkelrecError("the action has no name; type what the person does in the clips, e.g. 'jumping jack'")
        if len(label) > MAX_NAME_LENGTH or _FORBIDDEN.search(label) or label.startswith("."):
            raise SkelrecError(
                f"action name {label[:MAX_NAME_LENGTH]!r} is not usable: use at most {MAX_NAME_LENGTH} characters, "
                "no slashes, not starting with a dot"
            )
        if label_key(label) == label_key(UNKNOWN_LABEL):
            raise SkelrecError(
                f"action name {label!r} is reserved for clips unlike every taught action; choose another name"
            )
        for existing in self.labels():
            if label_key(existing) == label_key(label) and existing != label:
                raise SkelrecError(
                    f"action name {label!r} names the same action as {existing!r} (case, spaces, hyphens and "
                    f"underscores are ignored); type {existing!r} to add clips to it, or choose another name"
                )
        return label

    def add_clips(self, name: str | None, clips: Sequence[str | Path], *, max_seconds: float | None = None) -> str:
        """Copy ``clips`` into the folder of action ``name`` as ``clipN<suffix>``; returns the action's label.

        Raises:
            SkelrecError: a bad name (:meth:`check_name`), no clip, a file that is not a readable video or pose
                file, or a video longer than ``max_seconds``.
        """
        label = self.check_name(name)
        if not clips:
            raise SkelrecError(f"no clip for {label!r}; record or upload a video of the action, then add it")
        for clip in map(Path, clips):
            _check_clip(clip, max_seconds)
        folder = self.examples / label.replace(" ", "_")
        folder.mkdir(parents=True, exist_ok=True)
        numbers = [int(m.group(1)) for p in _clips(folder) if (m := _CLIP_NUMBER.match(p.stem))]
        for n, clip in enumerate(map(Path, clips), start=max(numbers, default=0) + 1):
            shutil.copyfile(clip, folder / f"clip{n}{clip.suffix.lower()}")
        return label

    def remove(self, label: str | None) -> None:
        """Delete action ``label`` and its clips (nothing when there is no such action)."""
        for folder in self._folders():
            if label and action_label(folder.name) == label:
                shutil.rmtree(folder)

    def taught_models(self) -> dict[str, Path]:
        """The session's taught models, ``{name: folder}`` (``taught-1`` ...): the page shows the names only."""
        if not self.models.is_dir():
            return {}
        return {p.name: p for p in self.models.iterdir() if p.is_dir() and _MODEL_NUMBER.match(p.name)}

    # ---- teaching ------------------------------------------------------------------------------------------------

    def build(
        self,
        *,
        base: str | None,
        settings: TeachSettings,
        mirrored: bool = False,
        device: str = "auto",
        pose_cache: str | Path | None = None,
        progress: TeachProgress | None = None,
    ) -> TaughtModel:
        """Teach the session's actions to a new model folder (``taught-N``) and zip it.

        Args:
            base: the base model (``None``: the embedded default), see :func:`~skelrec.teach.teach`.
            settings: method, open set, augmentation.
            mirrored: the clips are mirrored.
            device: ``auto``, ``cpu`` or ``cuda``.
            pose_cache: folder caching the poses of the clips (shared with labeling, outside the model folder).
            progress: ``progress(stage, done, total)`` (:data:`~skelrec.teach.teach.TeachProgress`).

        Raises:
            SkelrecError: no action yet, a single action in closed-set mode, or any error of
                :func:`~skelrec.teach.teach` (e.g. an action without a clip with a person).
        """
        labels = self.labels()
        if not labels:
            raise SkelrecError("no actions yet; name an action, add clips of it, and repeat for at least one other")
        if len(labels) == 1 and settings.open_set is False:
            raise SkelrecError(
                f"only one action ({labels[0]!r}): a closed-set model needs two or more; add another action, or "
                f"turn on open set to tell {labels[0]!r} apart from anything else"
            )
        numbers = [int(m.group(1)) for p in self.models.glob("taught-*") if (m := _MODEL_NUMBER.match(p.name))]
        folder = self.models / f"taught-{max(numbers, default=0) + 1}"
        try:
            result = teach(
                self.examples,
                folder,
                base=base,
                settings=settings,
                mirrored=mirrored,
                device=device,
                pose_cache=pose_cache,
                progress=progress,
            )
        except SkelrecError as err:  # name clips as the user knows them: wave/clip2.mp4
            message = str(err).replace(f"{self.examples}/", "").replace(str(self.examples), "examples")
            raise SkelrecError(message) from None
        return TaughtModel(result, folder, zip_checkpoint(folder, folder.with_suffix(".zip")), self.examples)


def zip_checkpoint(folder: str | Path, dest: str | Path) -> Path:
    """Write ``dest``, a zip of the :data:`CHECKPOINT_FILES` of ``folder`` inside a folder named like ``dest``."""
    folder, dest = Path(folder), Path(dest)

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for name in CHECKPOINT_FILES:
                z.write(folder / name, f"{dest.stem}/{name}")

    return atomic_write(dest, write)


def _clips(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in CLIP_SUFFIXES)


def _check_clip(clip: Path, max_seconds: float | None) -> None:
    """A video (readable, at most ``max_seconds``) or a pose file; errors name the file, not its upload path."""
    if clip.suffix.lower() not in CLIP_SUFFIXES:
        raise SkelrecError(
            f"{clip.name}: not a video clip; upload a video ({', '.join(CLIP_SUFFIXES[:5])} ...) of the action"
        )
    if clip.suffix.lower() in VIDEO_SUFFIXES:
        try:
            check_length(clip, max_seconds)
        except SkelrecError as err:
            raise SkelrecError(str(err).replace(str(clip), clip.name)) from None


def _relative(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else path.name
