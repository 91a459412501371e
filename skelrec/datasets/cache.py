"""The prepared cache that ``skelrec prepare`` writes and training reads: its files and a fast read-only view.

Layout of a cache folder (``N`` samples, ``F`` frames in total)::

    frames.npy            float32 (F, M, V, C)  every sample's frames, concatenated; read memory-mapped
    index.npy             int64   (N, 2)        start frame and length of each sample in frames.npy
    labels.npy            int64   (N,)          class index, -1 for unlabelled samples
    meta.jsonl            one JSON object per sample: name, label, label_name, fps and every metadata key
    splits/<protocol>.json {"train": [...], "test": [...]}  sample indices of the reader's standard protocols
    info.json             dataset, layout, classes, shapes, counts, skipped files, version; written last, so its
                          presence marks a complete cache

Frames are stored frame-major so one sample is one contiguous block; persons absent from a sample are zeros (every
sample has the cache's ``M`` persons). Nothing here imports torch: training wraps :class:`PreparedDataset` in its own
``torch.utils.data.Dataset``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from skelrec.datasets.base import Sample
from skelrec.errors import SkelrecError

__all__ = ["CACHE_FORMAT", "PreparedDataset", "read_info"]

CACHE_FORMAT = 1
"""Version of the folder layout above; bump it when the files change so old caches are rebuilt, not misread."""

FRAMES, INDEX, LABELS, META, INFO = "frames.npy", "index.npy", "labels.npy", "meta.jsonl", "info.json"
SPLITS_DIR, SHARDS_DIR, MANIFEST = "splits", "shards", "manifest.json"
ROW_KEYS = ("name", "label", "label_name", "fps")
"""Columns of meta.jsonl that come from :class:`Sample` fields; the reader's metadata keys follow them."""


def prepare_command(root: Path, dataset: str | None = None, raw: str | None = None) -> str:
    """The command that (re)builds the cache at ``root``, for error messages."""
    return f"skelrec prepare {dataset or 'DATASET'} --raw {raw or 'RAW_FOLDER'} --out {root}"


def read_info(root: str | Path) -> dict[str, Any]:
    """``info.json`` of a complete cache of the current format, or a one-line error saying how to rebuild it."""
    root = Path(root)
    if not root.is_dir():
        raise SkelrecError(f"{root}: no such directory; pass a folder written by `skelrec prepare`")
    info_path = root / INFO
    if not info_path.is_file():
        manifest = _read_json(root / SHARDS_DIR / MANIFEST) if (root / SHARDS_DIR / MANIFEST).is_file() else {}
        if manifest or (root / FRAMES).exists():
            cmd = prepare_command(root, manifest.get("dataset"), manifest.get("raw"))
            raise SkelrecError(
                f"{root}: incomplete prepared cache (no {INFO}; prepare was interrupted): run `{cmd}` again"
            )
        raise SkelrecError(f"{root}: not a prepared cache (no {INFO}); create one with `{prepare_command(root)}`")
    info = _read_json(info_path)
    if info.get("format") != CACHE_FORMAT:
        cmd = prepare_command(root, info.get("dataset"), info.get("raw"))
        raise SkelrecError(
            f"{root}: cache format {info.get('format')} (skelrec {info.get('skelrec_version', '?')}) cannot be read "
            f"by this skelrec (format {CACHE_FORMAT}); run `{cmd} --force` again"
        )
    return info


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise SkelrecError(
            f"{path}: unreadable ({err}); delete the cache folder and run `skelrec prepare` again"
        ) from None
    if not isinstance(value, dict):
        raise SkelrecError(f"{path}: expected a JSON object; delete the cache folder and run `skelrec prepare` again")
    return value


class PreparedDataset:
    """Random access to the samples of a prepared cache, without loading ``frames.npy`` into memory.

    Args:
        root: cache folder written by :func:`skelrec.datasets.prepare.prepare_dataset`.
        protocol: restrict to one of the cache's splits (``info["protocols"]``), e.g. ``"xsub"``.
        part: which part of ``protocol``: ``"train"`` or ``"test"`` (required with ``protocol``).

    ``ds[i]`` is a :class:`Sample` whose data ``(M, T, V, C)`` is copied out of the memory map (one sample only).
    Views made by :meth:`subset` share the arrays. Pickling (e.g. to DataLoader workers) reopens the memory map
    instead of copying the frames.
    """

    def __init__(self, root: str | Path, protocol: str | None = None, part: str | None = None) -> None:
        self.root = Path(root)
        self.info = read_info(self.root)
        self._index: np.ndarray = self._load_small(INDEX, (int(self.info["samples"]), 2))
        self._labels: np.ndarray = self._load_small(LABELS, (int(self.info["samples"]),))
        self._frames: np.ndarray | None = None
        self._rows: list[dict[str, Any]] | None = None
        self._indices = np.arange(len(self._index), dtype=np.int64)
        self._classes: list[str] | None = None  # set by restrict_classes: the view's own class list
        self._label_map: np.ndarray | None = None  # (cache classes,) cache label -> view label, -1 dropped
        if protocol is not None or part is not None:
            self._indices = self._split_indices(protocol, part)

    # ---------------------------------------------------------------------------------------------------------
    # Loading and validation.
    # ---------------------------------------------------------------------------------------------------------

    def _corrupt(self, what: str) -> SkelrecError:
        cmd = prepare_command(self.root, self.info.get("dataset"), self.info.get("raw"))
        return SkelrecError(f"{self.root}: damaged cache ({what}); run `{cmd} --force` again")

    def _load_small(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        try:
            arr = np.load(self.root / name, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise self._corrupt(f"{name}: {err}") from None
        if arr.shape != shape or arr.dtype != np.int64:
            raise self._corrupt(f"{name} is {arr.dtype} {arr.shape}, expected int64 {shape}")
        return arr

    def _split_indices(self, protocol: str | None, part: str | None) -> np.ndarray:
        known = sorted(self.info.get("protocols", {}))
        if protocol is None or part is None:
            raise SkelrecError(f"{self.root}: pass both protocol and part (protocols: {', '.join(known) or 'none'})")
        path = self.root / SPLITS_DIR / f"{protocol}.json"
        if protocol not in known or not path.is_file():
            skipped = self.info.get("skipped_protocols", {}).get(protocol)
            why = f" ({skipped})" if skipped else ""
            raise SkelrecError(
                f"{self.root}: no split {protocol!r}{why}; this cache has: {', '.join(known) or 'no splits'}"
            )
        split = _read_json(path)
        if part not in split:
            raise SkelrecError(f"{path}: no part {part!r}; parts: {', '.join(split)}")
        return self._checked_indices(np.asarray(split[part], dtype=np.int64), len(self._index), str(path))

    @staticmethod
    def _checked_indices(indices: np.ndarray, n: int, what: str) -> np.ndarray:
        if indices.ndim != 1 or (indices.size and (indices.min() < -n or indices.max() >= n)):
            raise SkelrecError(f"{what}: indices must be a 1-D list within [0, {n}), got shape {indices.shape}")
        return np.where(indices < 0, indices + n, indices)

    @property
    def frames(self) -> np.ndarray:
        """The whole ``(F, M, V, C)`` frame array, memory-mapped read-only (opened on first use)."""
        if self._frames is None:
            try:
                self._frames = np.load(self.root / FRAMES, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as err:
                raise self._corrupt(f"{FRAMES}: {err}") from None
            expected = (self.info["frames"], self.info["persons"], self.info["joints"], self.info["channels"])
            if self._frames.shape != tuple(expected) or self._frames.dtype != np.float32:
                raise self._corrupt(
                    f"{FRAMES} is {self._frames.dtype} {self._frames.shape}, expected float32 {expected}"
                )
        return self._frames

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Metadata rows of all samples of the cache (not only this view), as in ``meta.jsonl``."""
        if self._rows is None:
            with open(self.root / META, encoding="utf-8") as f:
                self._rows = [json.loads(line) for line in f if line.strip()]
            if len(self._rows) != len(self._index):
                raise self._corrupt(f"{META} has {len(self._rows)} rows for {len(self._index)} samples")
        return self._rows

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_frames"] = None  # a memmap would be pickled with all its data
        return state

    # ---------------------------------------------------------------------------------------------------------
    # The dataset interface.
    # ---------------------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self._indices.size)

    def _global(self, i: int) -> int:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"sample index {i} out of range for {n} samples")
        return int(self._indices[i])

    def __getitem__(self, i: int) -> Sample:
        g = self._global(i)
        start, length = self._index[g]
        data = self.frames[start : start + length].transpose(1, 0, 2, 3)  # (T, M, V, C) -> (M, T, V, C)
        row = self.rows[g]
        label = row["label"]
        if self._label_map is not None and label is not None and label >= 0:
            label = int(self._label_map[label])
        return Sample(
            data=data,
            layout=self.layout,
            name=row["name"],
            dataset=self.dataset,
            label=label,
            label_name=row["label_name"],
            fps=row["fps"],
            meta=self._meta_of(row),
        )

    @staticmethod
    def _meta_of(row: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in row.items() if k not in ROW_KEYS}

    def meta(self, i: int) -> dict[str, Any]:
        """The reader's metadata of sample ``i`` (subject, view, ...), without reading its frames."""
        return self._meta_of(self.rows[self._global(i)])

    def name(self, i: int) -> str:
        return str(self.rows[self._global(i)]["name"])

    def subset(self, indices: Sequence[int] | np.ndarray) -> PreparedDataset:
        """A view of some samples of this view (integer indices or a boolean mask), sharing the arrays."""
        idx = np.asarray(indices)
        if idx.dtype == bool:
            if idx.shape != (len(self),):
                raise SkelrecError(f"boolean subset mask has shape {idx.shape}, expected ({len(self)},)")
            idx = np.flatnonzero(idx)
        idx = self._checked_indices(idx.astype(np.int64, copy=False), len(self), "subset")
        view = copy.copy(self)
        view._indices = self._indices[idx]
        return view

    def restrict_classes(self, names: Sequence[str]) -> PreparedDataset:
        """A view of the samples of some classes only, relabelled ``0 .. len(names) - 1`` in the order of ``names``
        (``classes`` becomes ``names``; unlabelled samples and those of other classes are left out).

        Raises:
            SkelrecError: no name given, a name given twice, or a name the cache has not (the error lists them).
        """
        names = list(names)
        if not names or len(set(names)) != len(names):
            raise SkelrecError(f"{self.root}: give one or more distinct class names to keep, got {names}")
        known = self.classes
        unknown = [n for n in names if n not in known]
        if unknown:
            raise SkelrecError(
                f"{self.root}: no class {unknown[0]!r} in {self.dataset}; its classes are: {', '.join(known)}"
            )
        cache_classes = list(self.info["classes"])  # labels.npy indexes these, also in a restricted view
        label_map = np.full(len(cache_classes), -1, dtype=np.int64)
        label_map[[cache_classes.index(n) for n in names]] = np.arange(len(names))
        raw = self._labels[self._indices]
        view = self.subset(np.flatnonzero((raw >= 0) & (label_map[np.maximum(raw, 0)] >= 0)))
        view._label_map, view._classes = label_map, names
        return view

    @property
    def indices(self) -> np.ndarray:
        """Positions of this view's samples in the whole cache."""
        return self._indices

    @property
    def labels(self) -> np.ndarray:
        """``(len,)`` int64 class indices, -1 for unlabelled samples."""
        labels = self._labels[self._indices]
        if self._label_map is None:
            return labels
        return np.where(labels >= 0, self._label_map[np.maximum(labels, 0)], -1)

    @property
    def lengths(self) -> np.ndarray:
        """``(len,)`` int64 frame counts ``T`` of the samples."""
        return self._index[self._indices, 1]

    @property
    def classes(self) -> list[str]:
        return list(self.info["classes"] if self._classes is None else self._classes)

    @property
    def layout(self) -> str:
        return str(self.info["layout"])

    @property
    def dataset(self) -> str:
        return str(self.info["dataset"])

    @property
    def protocols(self) -> list[str]:
        return sorted(self.info.get("protocols", {}))

    def __repr__(self) -> str:
        return f"PreparedDataset({str(self.root)!r}, {self.dataset}, {len(self)} samples)"
