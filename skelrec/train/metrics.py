"""What a run reports while it trains: ``metrics.csv``, optional TensorBoard, and a progress bar or log lines."""

from __future__ import annotations

import csv
import logging
import math
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import Progress

from skelrec.progress import make_progress

__all__ = ["METRICS_FILE", "MetricsLog", "Window"]

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.csv"
FIXED_COLUMNS = ("step", "epoch", "lr", "loss")


class Window:
    """Running means of the step logs since the last report, and the throughput over that time."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.sums: dict[str, float] = {}
        self.steps = 0
        self.samples = 0
        self.start = time.perf_counter()

    def add(self, logs: dict[str, float], samples: int) -> None:
        for k, v in logs.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
        self.steps += 1
        self.samples += samples

    def means(self) -> dict[str, float]:
        return {k: v / max(1, self.steps) for k, v in self.sums.items()}

    def samples_per_s(self) -> float:
        return self.samples / max(1e-9, time.perf_counter() - self.start)


def _complete(row: dict[str, str | None]) -> bool:
    """Whether a CSV row was written whole (a process killed mid-write can leave a partial last line)."""
    if any(v is None for v in row.values()) or None in row:
        return False
    try:
        int(row["step"] or "")
    except ValueError:
        return False
    return True


class MetricsLog:
    """Rows ``step, epoch, lr, loss, <method logs...>, samples_per_s`` in ``run_dir/metrics.csv`` (+ TensorBoard).

    On resume from step ``s`` the rows after ``s`` (written before the interruption) are dropped first, so the file
    has one row per logged step. Only the main process writes; on others every method is a no-op.
    """

    def __init__(
        self,
        run_dir: Path,
        *,
        total_steps: int,
        start_step: int,
        enabled: bool,
        tensorboard: bool,
        progress: bool,
    ) -> None:
        self.enabled = enabled
        self.path = run_dir / METRICS_FILE
        self.columns: list[str] | None = None
        self.writer: Any = None
        self.console = Console(stderr=True)
        self.progress: Progress | None = None
        if not enabled:
            return
        self._truncate(start_step)
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(run_dir / "tensorboard"), purge_step=start_step)
        if progress and self.console.is_terminal:
            columns = ("loss {task.fields[loss]}", "{task.fields[speed]} samples/s")
            self.progress = make_progress(*columns, description="[bold]train", console=self.console)
            self.task = self.progress.add_task("train", total=total_steps, completed=start_step, loss="-", speed="-")

    def _truncate(self, start_step: int) -> None:
        if not self.path.is_file():
            return
        with open(self.path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
            columns = list(rows[0]) if rows else None
        kept = [r for r in rows if _complete(r) and int(r["step"]) <= start_step]
        if columns is None:
            self.path.unlink()
            return
        with open(self.path, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, columns)
            writer.writeheader()
            writer.writerows(kept)
        self.columns = columns

    def write(self, step: int, epoch: float, lr: float, logs: dict[str, float], samples_per_s: float) -> None:
        """One row; ``logs`` holds ``loss`` and the method's other logs (means over the window)."""
        if not self.enabled:
            return
        row = {"step": step, "epoch": round(epoch, 4), "lr": lr, **logs, "samples_per_s": round(samples_per_s, 2)}
        if self.columns is None:
            extra = [k for k in logs if k not in FIXED_COLUMNS]
            self.columns = [*FIXED_COLUMNS, *extra, "samples_per_s"]
            with open(self.path, "w", newline="", encoding="utf-8") as f:
                csv.DictWriter(f, self.columns).writeheader()
        with open(self.path, "a", newline="", encoding="utf-8") as f:
            csv.DictWriter(f, self.columns, extrasaction="ignore").writerow(row)
        if self.writer is not None:
            for key, value in {"lr": lr, **logs, "samples_per_s": samples_per_s}.items():
                self.writer.add_scalar(f"train/{key}", value, step)
        if self.progress is None:
            log.info(
                "step %d  epoch %.2f  lr %.3g  loss %.4f  %.1f samples/s",
                step,
                epoch,
                lr,
                logs.get("loss", math.nan),
                samples_per_s,
            )

    def advance(self, step: int, loss: float, samples_per_s: float) -> None:
        """Move the progress bar to ``step``."""
        if self.progress is not None:
            self.progress.update(self.task, completed=step, loss=f"{loss:.4f}", speed=f"{samples_per_s:.1f}")

    def __enter__(self) -> MetricsLog:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None):
        if self.progress is not None:
            self.progress.stop()
        if self.writer is not None:
            self.writer.close()
