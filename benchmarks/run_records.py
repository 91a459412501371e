"""Readers of what a training or evaluation run leaves in its folder, for the benchmarks' reports.

A training run writes ``<run>/metrics.csv`` (one row a log: ``step``, ``epoch``, ``samples_per_s``, ...); an
evaluation writes a JSON file ``{"metrics": {...}, ...}``. Benchmark scripts put the repository root on
``sys.path`` and import them: ``from benchmarks.run_records import metric, fresh``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any


def fresh(result: Path, checkpoint: Path) -> bool:
    """Whether ``result`` exists and is newer than every file of the ``checkpoint`` folder it was measured on."""
    if not result.exists():
        return False
    made = [p.stat().st_mtime for p in checkpoint.glob("*") if p.is_file()] if checkpoint.is_dir() else []
    return bool(made) and result.stat().st_mtime > max(made)


def result_metrics(path: Path) -> dict[str, Any]:
    """The ``metrics`` of the evaluation result file ``path`` (``{}`` when the file or the key is absent)."""
    return json.loads(path.read_text()).get("metrics", {}) if path.exists() else {}


def metric(path: Path, key: str = "top1") -> float | None:
    """The metric ``key`` of the evaluation result file ``path`` (e.g. top-1 in percent), ``None`` when absent."""
    return result_metrics(path).get(key)


def metric_rows(run: Path) -> list[dict[str, str]]:
    """The rows of a training run's ``metrics.csv`` (none before its first log)."""
    return list(csv.DictReader((run / "metrics.csv").open())) if (run / "metrics.csv").exists() else []


def throughput(run: Path) -> float | None:
    """The training run's mean ``samples_per_s`` over its logged rows (rounded to 0.1), ``None`` before any."""
    rates = [float(r["samples_per_s"]) for r in metric_rows(run) if r.get("samples_per_s")]
    return round(sum(rates) / len(rates), 1) if rates else None


def last_step(run: Path) -> int:
    """The training run's last logged step (0 before its first log)."""
    rows = metric_rows(run)
    return int(rows[-1]["step"]) if rows else 0


def epochs_done(run: Path) -> float | None:
    """The epoch (fractional) of the training run's last log, ``None`` before its first log."""
    rows = metric_rows(run)
    return float(rows[-1]["epoch"]) if rows else None
