"""Resumable training state: RNG states, and the ``checkpoints/step_*.pt`` files of a run folder.

A training checkpoint holds everything a resumed run needs to continue bit for bit: the method's weights (encoder,
decoder, teacher, queue buffers), optimizer, scheduler and gradient-scaler states, the position in the data
(``epoch`` and batches consumed in it) and every process's RNG states (Python, NumPy, torch CPU and CUDA). It is a
tensors-and-primitives dict read back with ``torch.load(weights_only=True)``, written to a temporary file, fsynced
and renamed, so a run killed at any moment leaves either the previous checkpoint or the new one, never half of one.
The exported encoder (what users load) is a separate, safetensors checkpoint (:mod:`skelrec.checkpoint`).
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from skelrec.errors import SkelrecError
from skelrec.files import atomic_write_stream

__all__ = [
    "CHECKPOINT_DIR",
    "STATE_FORMAT",
    "checkpoint_path",
    "get_rng_state",
    "latest_checkpoint",
    "load_training_state",
    "prune_checkpoints",
    "save_training_state",
    "seed_everything",
    "set_rng_state",
]

STATE_FORMAT = 1
CHECKPOINT_DIR = "checkpoints"
_NAME = re.compile(r"step_(\d+)\.pt")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def get_rng_state() -> dict[str, Any]:
    """This process's global RNG states, as tensors and primitives (``torch.load(weights_only=True)``-safe)."""
    np_state = np.random.get_state(legacy=False)
    return {
        "python": random.getstate(),
        "numpy": {
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`get_rng_state` captured."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np_state = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": np_state["key"].numpy().astype(np.uint32), "pos": np_state["pos"]},
            "has_gauss": np_state["has_gauss"],
            "gauss": np_state["gauss"],
        }
    )
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_path(run_dir: str | Path, step: int) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR / f"step_{step:09d}.pt"


def _checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    folder = Path(run_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.fullmatch(p.name))]
    return sorted(found)


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest ``checkpoints/step_*.pt`` of a run folder, or ``None``."""
    found = _checkpoints(run_dir)
    return found[-1][1] if found else None


def prune_checkpoints(run_dir: str | Path, keep: int) -> None:
    """Delete all but the ``keep`` newest checkpoints."""
    for _, path in _checkpoints(run_dir)[:-keep]:
        path.unlink(missing_ok=True)


def save_training_state(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` atomically (temporary file, fsync, rename, fsync of the folder)."""
    return atomic_write_stream(path, lambda f: torch.save({"format": STATE_FORMAT, **state}, f), sync_folder=True)


def load_training_state(path: str | Path) -> dict[str, Any]:
    """Read a training checkpoint (tensors and primitives only) onto the CPU."""
    path = Path(path)
    if path.is_dir():
        found = latest_checkpoint(path)
        if found is None:
            raise SkelrecError(f"{path}: holds no {CHECKPOINT_DIR}/step_*.pt; pass a run folder or a checkpoint file")
        path = found
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise SkelrecError(
            f"{path}: no such checkpoint; pass a run folder or one of its {CHECKPOINT_DIR}/*.pt"
        ) from None
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError ... for damaged files
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise SkelrecError(f"{path}: unreadable training checkpoint ({reason}); resume from an older one") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise SkelrecError(f"{path}: not a skelrec training checkpoint (format {STATE_FORMAT}); pass a step_*.pt file")
    state["path"] = str(path)
    return state
