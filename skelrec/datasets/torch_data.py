"""Prepared caches as a torch ``Dataset``, and the resumable, distributed, deterministic ``DataLoader``.

* :class:`ConcatPrepared` joins several prepared caches and converts every clip to one layout
  (:func:`skelrec.skeleton.convert`); with ``data.vocabulary`` their labels become the labels of one vocabulary
  (:mod:`skelrec.datasets.vocabulary`).
* :class:`SkeletonTorchDataset` applies an input pipeline (:func:`skelrec.datasets.transforms.build_transform`) and
  yields ``{"x": (M, T, V, C) float32, "mask": (M, T) bool, "label": int64, "index": int64}``.
* :class:`EpochBatchSampler` shards each epoch with :class:`torch.utils.data.DistributedSampler` (order seeded by
  ``seed + epoch``), batches the shard and can start mid-epoch. It yields ``(index, epoch)`` keys, so a clip's
  augmentation generator is seeded from ``(seed, epoch, index)``: the data a step sees depends on nothing but the
  step, whichever worker loads it and whether the run was resumed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from skelrec.config import DataConfig
from skelrec.datasets.base import Sample
from skelrec.datasets.cache import PreparedDataset
from skelrec.datasets.transforms import Compose, build_transform
from skelrec.datasets.vocabulary import Vocabulary, get_vocabulary
from skelrec.errors import SkelrecError
from skelrec.skeleton import convert

__all__ = [
    "ConcatPrepared",
    "EpochBatchSampler",
    "PreparedLike",
    "SkeletonTorchDataset",
    "build_dataset",
    "build_loader",
    "open_prepared",
]


class PreparedLike(Protocol):
    """What the training data needs of a prepared cache (:class:`skelrec.datasets.cache.PreparedDataset`)."""

    @property
    def layout(self) -> str: ...

    @property
    def classes(self) -> list[str]: ...

    def __len__(self) -> int: ...

    def __getitem__(self, i: int) -> Sample: ...


class ConcatPrepared:
    """Several prepared datasets as one, every clip converted to ``layout`` (default: the first one's).

    Labels are kept when all parts share the same class list; otherwise they are offset so that the classes are
    the concatenation of the parts' classes, named ``"<dataset>/<class>"``. With a ``vocabulary``
    (:class:`skelrec.datasets.vocabulary.Vocabulary`) every part's labels are remapped to the vocabulary's labels
    instead (its class names looked up under the part's ``dataset``), and ``classes`` are the vocabulary's labels.
    """

    def __init__(
        self, parts: Sequence[PreparedLike], layout: str | None = None, vocabulary: Vocabulary | None = None
    ) -> None:
        if not parts:
            raise SkelrecError("no prepared datasets given; set data.paths to one or more `skelrec prepare` outputs")
        self.parts = list(parts)
        self.layout = layout or parts[0].layout
        self.vocabulary = vocabulary
        self._ends = np.cumsum([len(p) for p in self.parts])
        self._label_maps: list[np.ndarray] | None = None
        if vocabulary is not None:
            self._label_maps = [np.asarray(vocabulary.index_map(_dataset(p), p.classes), np.int64) for p in parts]
            self._label_offsets = [0] * len(parts)
            self.classes = list(vocabulary.labels)
            return
        same = all(list(p.classes) == list(parts[0].classes) for p in self.parts)
        self._label_offsets = [0] * len(parts) if same else [0, *np.cumsum([len(p.classes) for p in parts])[:-1]]
        self.classes = (
            list(parts[0].classes)
            if same
            else [f"{getattr(p, 'dataset', k)}/{c}" for k, p in enumerate(parts) for c in p.classes]
        )

    def __len__(self) -> int:
        return int(self._ends[-1])

    def _label(self, part: int, label: int | None) -> int | None:
        if label is None or label < 0:
            return None
        if self._label_maps is not None:
            return int(self._label_maps[part][label])
        return label + self._label_offsets[part]

    def __getitem__(self, i: int) -> Sample:
        if not 0 <= i < len(self):
            raise IndexError(f"sample index {i} out of range for {len(self)} samples")
        part = int(np.searchsorted(self._ends, i, side="right"))
        sample = self.parts[part][i - (int(self._ends[part - 1]) if part else 0)]
        data = convert(sample.data, sample.layout, self.layout)
        label = self._label(part, sample.label)
        label_name = self.classes[label] if label is not None and self._label_maps is not None else sample.label_name
        return replace(sample, data=data, layout=self.layout, label=label, label_name=label_name)

    @property
    def sample_datasets(self) -> list[str]:
        """``(len,)`` the dataset name of every sample (which part it comes from), e.g. for per-dataset scores."""
        return [_dataset(p) for p in self.parts for _ in range(len(p))]


def _dataset(part: PreparedLike) -> str:
    name = getattr(part, "dataset", None)
    if not isinstance(name, str):
        raise SkelrecError(f"{part!r} names no dataset; a vocabulary maps the classes of named datasets only")
    return name


def open_prepared(data: DataConfig) -> ConcatPrepared:
    """The caches of ``data.paths`` (restricted to ``data.protocol``/``data.part``), joined in ``data.layout``."""
    if not data.paths:
        raise SkelrecError("data.paths is empty; set it to the folder(s) written by `skelrec prepare ... --out PATH`")
    parts = []
    for entry in data.paths:
        path, protocol, part = _parse_source(entry, data.protocol, data.part)
        parts.append(PreparedDataset(path, protocol, part if protocol else None))
    vocabulary = None
    if data.vocabulary is not None:
        vocabulary = get_vocabulary(data.vocabulary).restrict(p.dataset for p in parts)
    return ConcatPrepared(parts, data.layout, vocabulary)


def _parse_source(entry: str, protocol: str | None, part: str) -> tuple[str, str | None, str]:
    """``PATH`` or ``PATH#PROTOCOL:PART`` (e.g. ``caches/nw_ucla#xsub:train``): a cache, optionally its own split.

    A per-path split lets one run mix whole caches (unlabelled pretraining data) with the training part of another
    (the evaluation dataset, whose test subjects must stay unseen).
    """
    if "#" not in entry:
        return entry, protocol, part
    path, _, split = entry.rpartition("#")
    own_protocol, _, own_part = split.partition(":")
    if not own_protocol or own_part not in ("train", "test"):
        raise SkelrecError(f"data.paths entry {entry!r}: write PATH#PROTOCOL:train or PATH#PROTOCOL:test")
    return path, own_protocol, own_part


class SkeletonTorchDataset(Dataset[dict[str, torch.Tensor]]):
    """Clips of ``prepared`` through ``transform``, as tensors.

    Args:
        prepared: a prepared dataset (or :class:`ConcatPrepared`); its samples must be in the transform's layout.
        transform: the input pipeline, e.g. :func:`skelrec.datasets.transforms.build_transform`.
        seed: base seed of the per-clip augmentation generators.

    ``ds[i]`` uses epoch 0; ``ds[(i, epoch)]`` (what :class:`EpochBatchSampler` yields) draws the augmentation of
    clip ``i`` in ``epoch`` from ``numpy.random.default_rng((seed, epoch, i))``.
    """

    def __init__(self, prepared: PreparedLike, transform: Compose, *, seed: int = 0) -> None:
        self.prepared = prepared
        self.transform = transform
        self.seed = seed

    def __len__(self) -> int:
        return len(self.prepared)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        sample = self.prepared[index]
        x, mask = self.transform(sample.data, rng=np.random.default_rng((self.seed, epoch, index)))
        label = -1 if sample.label is None else sample.label
        return {
            "x": torch.from_numpy(x),
            "mask": torch.from_numpy(mask),
            "label": torch.tensor(label, dtype=torch.int64),
            "index": torch.tensor(index, dtype=torch.int64),
        }


def build_dataset(
    data: DataConfig, *, train: bool, seed: int = 0, prepared: PreparedLike | None = None
) -> SkeletonTorchDataset:
    """The dataset of ``data`` (its caches unless ``prepared`` is given) with the train or eval pipeline."""
    prepared = open_prepared(data) if prepared is None else prepared
    return SkeletonTorchDataset(prepared, build_transform(data, train=train, layout=prepared.layout), seed=seed)


class EpochBatchSampler(Sampler[list[tuple[int, int]]]):
    """This process's batches of one epoch, as lists of ``(index, epoch)`` keys; resumable mid-epoch.

    The epoch's order comes from a :class:`DistributedSampler` (shuffled with ``seed + epoch``; process ``rank``
    takes every ``world_size``-th index, so the processes' first batches together are the first
    ``batch_size * world_size`` indices of the order). Call :meth:`set_epoch` before iterating.
    """

    def __init__(
        self,
        size: int,
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = True,
    ) -> None:
        self.batch_size, self.drop_last = batch_size, drop_last
        self.sampler = DistributedSampler(
            range(size), num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed, drop_last=drop_last
        )
        self.epoch, self.start_batch = 0, 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Iterate epoch ``epoch``, skipping its first ``start_batch`` batches (already consumed before a resume)."""
        self.sampler.set_epoch(epoch)
        self.epoch, self.start_batch = epoch, start_batch

    def batches_per_epoch(self) -> int:
        n = self.sampler.num_samples
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __len__(self) -> int:
        return max(0, self.batches_per_epoch() - self.start_batch)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        order = list(self.sampler)
        for b in range(self.start_batch, self.batches_per_epoch()):
            yield [(i, self.epoch) for i in order[b * self.batch_size : (b + 1) * self.batch_size]]


def seed_worker(worker_id: int) -> None:
    """Seed Python and NumPy in a loader worker from its torch seed (augmentations use their own generators)."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def build_loader(
    dataset: SkeletonTorchDataset,
    *,
    batch_size: int,
    shuffle: bool = True,
    seed: int = 0,
    num_workers: int = 0,
    rank: int = 0,
    world_size: int = 1,
    drop_last: bool = True,
    pin_memory: bool = False,
) -> DataLoader[Any]:
    """A DataLoader over ``dataset`` driven by an :class:`EpochBatchSampler` (``loader.batch_sampler``).

    ``batch_size`` is per process. The loader has its own seeded generator, so creating it or its iterators never
    draws from the global torch RNG (which the model's randomness uses).
    """
    sampler = EpochBatchSampler(
        len(dataset), batch_size, shuffle=shuffle, seed=seed, rank=rank, world_size=world_size, drop_last=drop_last
    )
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=num_workers,
        worker_init_fn=seed_worker,
        generator=torch.Generator().manual_seed(seed),
        persistent_workers=num_workers > 0,
        pin_memory=pin_memory,
    )
