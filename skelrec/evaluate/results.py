"""The result of an evaluation: one JSON file per run (written atomically) and the table the CLI prints."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from skelrec import __version__
from skelrec.files import atomic_write_text

__all__ = ["EvalResult", "write_result"]


@dataclass
class EvalResult:
    """What an evaluation measured and on what.

    Attributes:
        protocol: ``linear``, ``knn``, ``finetune`` or ``semi``.
        checkpoint: the evaluated checkpoint folder.
        init: ``pretrained`` (its weights) or ``random`` (a random encoder of its config: the control).
        dataset: dataset name of the prepared cache (``info.json``).
        data: the prepared cache folder.
        split: the cache's protocol (``xsub``, ``xview`` ...): train part -> training, test part -> metrics.
        sizes: ``train`` / ``test`` samples used and ``classes``.
        settings: the protocol's hyper-parameters (learning rates, k, pooling ...).
        epochs: training epochs done (``None`` for kNN, which trains nothing).
        seeds: the seeds of the run(s).
        metrics: percentages (``top1``, ``top5``, ``mean_class`` ...); ``semi`` nests them per label fraction.
        per_class: per-class accuracy rows (:func:`skelrec.evaluate.metrics.per_class_accuracy`).
        seconds: wall time.
        runs: the individual runs of a multi-run protocol (``semi``: one per fraction and seed).
        artifacts: files written besides the result (e.g. the fine-tuned classifier checkpoint).
    """

    protocol: str
    checkpoint: str
    init: str
    dataset: str
    data: str
    split: str
    sizes: dict[str, int]
    settings: dict[str, Any]
    epochs: float | None
    seeds: list[int]
    metrics: dict[str, Any]
    per_class: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    runs: list[dict[str, Any]] = field(default_factory=list)
    artifacts: dict[str, str] = field(default_factory=dict)
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    skelrec_version: str = __version__

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        """Human summary: what was evaluated, the metrics, the per-class accuracies."""
        sizes = ", ".join(f"{k} {v:,}" for k, v in self.sizes.items())
        lines = [f"{self.protocol}: {self.checkpoint} ({self.init}) on {self.dataset} {self.split}: {sizes}"]
        lines += _metric_lines(self.metrics, "  ")
        if self.per_class:
            width = max(len(r["class"]) for r in self.per_class)
            lines.append("  per class (correct / total):")
            lines += [
                f"    {r['class']:<{width}}  {r['correct']:>5} / {r['total']:<5} {_percent(r['accuracy'])}"
                for r in self.per_class
                if r["total"]
            ]
        lines += [f"  {name}: {path}" for name, path in self.artifacts.items()]
        if self.epochs is not None:
            lines.append(f"  epochs {self.epochs:g}, seeds {', '.join(map(str, self.seeds))}")
        lines.append(f"  time {self.seconds:.1f} s")
        return "\n".join(lines)


def _percent(value: float | None) -> str:
    return "  n/a" if value is None else f"{value:6.2f} %"


def _metric_lines(metrics: dict[str, Any], indent: str) -> list[str]:
    """One line per metric; ``<name>_mean`` and ``<name>_std`` pairs print as ``<name>  mean ± std %``."""
    lines = []
    for key, value in metrics.items():
        name = key.removesuffix("_mean")
        if isinstance(value, dict):
            lines.append(f"{indent}{key}:")
            lines += _metric_lines(value, indent + "  ")
        elif key.endswith("_std") and f"{key.removesuffix('_std')}_mean" in metrics:
            continue
        elif name != key and f"{name}_std" in metrics:
            lines.append(f"{indent}{name:<12} {value:6.2f} ± {metrics[f'{name}_std']:.2f} %")
        elif isinstance(value, float):
            lines.append(f"{indent}{key:<12} {_percent(value)}")
        else:
            lines.append(f"{indent}{key:<12} {value}")
    return lines


def write_result(result: EvalResult, path: str | Path) -> Path:
    """Write ``result`` as JSON to ``path`` through a temporary file and a rename (never a half-written file)."""
    return atomic_write_text(path, json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")
