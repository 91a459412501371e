"""The machine a benchmark result was measured on: the ``machine`` record of every results file.

Benchmark scripts put the repository root on ``sys.path`` and import it: ``from benchmarks.machine import machine``.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

CPUINFO = Path("/proc/cpuinfo")


def cpu_model(cpuinfo: Path = CPUINFO) -> str:
    """The CPU's model name from ``cpuinfo`` (Linux); else ``platform.processor()``, else ``platform.machine()``."""
    try:
        lines = cpuinfo.read_text().splitlines()
    except OSError:
        lines = []
    name = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), "")
    return name or platform.processor() or platform.machine()


def machine(*, mediapipe: bool = False) -> dict[str, Any]:
    """``{cpu, cores, platform, python, torch, torch_threads, cuda, load_average}`` of this process's machine, plus
    ``mediapipe`` and ``numpy`` versions with ``mediapipe=True``.

    ``cuda`` is the CUDA device's name (``None`` on a CPU-only machine); ``load_average`` is ``os.getloadavg()``
    (1, 5 and 15 minutes) when called, rounded to 2 decimals. torch and mediapipe are imported here, when called,
    so that a driver script that only starts subprocesses does not load them at import.
    """
    import torch

    record: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    if mediapipe:
        import mediapipe as mp

        record.update(mediapipe=mp.__version__, numpy=np.__version__)
    return record
