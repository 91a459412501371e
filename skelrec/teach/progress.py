"""A terminal progress bar for :func:`skelrec.teach.teach` (``skelrec teach``)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import TaskID

from skelrec.progress import make_progress

__all__ = ["RichTeachProgress"]

STAGES = {
    "poses": "poses of the clips",
    "augment": "augmenting",
    "embed": "embedding",
    "evaluate": "held-out evaluation",
    "fit": "fitting",
    "save": "saving",
}


class RichTeachProgress:
    """One rich progress bar on stderr that follows teach's stages; use as a context manager and pass it as
    ``progress``."""

    def __init__(self, console: Console | None = None) -> None:
        self.progress = make_progress(remaining=False, transient=True, console=console)
        self.task: TaskID | None = None

    def __enter__(self) -> RichTeachProgress:
        self.progress.start()
        self.task = self.progress.add_task("starting", total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.task is not None:
            self.progress.update(self.task, description=STAGES.get(stage, stage), completed=done, total=total)
