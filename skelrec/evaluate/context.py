"""What every evaluation protocol starts from: a checkpoint's encoder and a prepared dataset split, fed the input the
encoder was trained on.

The evaluation input is the checkpoint's own input section (layout, normalization, clip length, persons, channels,
test crop: :mod:`skelrec.train.export` records them), applied to the samples of ``--data`` (converted to the
checkpoint's layout when the cache has another one). The train part of ``--protocol`` trains the probe or the
fine-tuned model, the test part is scored. ``--protocol auto`` takes the first of the cache's protocols whose train
and test parts both hold samples, in the dataset reader's order: NW-UCLA's cross-view protocol (views 1, 2 -> 3) when
view-3 files were prepared, its cross-subject split otherwise.

Several caches (``data`` a list) make one evaluation over all of them: each entry is ``PATH`` (split by
``protocol``), ``PATH#PROTOCOL`` (its own split, e.g. ``caches/nw_ucla#xsub``) or ``PATH#train`` (every sample
trains, none is scored: e.g. the NTU-60 samples, all of one performer); the train parts train, the test parts are
scored per dataset. Their labels become
those of ``vocabulary`` (:mod:`skelrec.datasets.vocabulary`), restricted to the datasets given.

``classes`` restricts the evaluation to some classes of the cache(s) (e.g. PKU-MMD's eight two-person interactions):
the samples of other classes are left out of both parts and the kept classes are relabelled ``0 .. K-1`` in the
order given (:meth:`~skelrec.datasets.cache.PreparedDataset.restrict_classes`), so probes and heads have ``K``
outputs. It cannot be combined with a vocabulary.

``init="random"`` is the control: an encoder of the same config with random weights (seeded), evaluated by the
same code.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from skelrec.checkpoint import CheckpointConfig, build_model, read_config
from skelrec.config import AugmentConfig, DataConfig, section_from_dict
from skelrec.datasets.cache import PreparedDataset, read_info
from skelrec.datasets.torch_data import ConcatPrepared, PreparedLike, SkeletonTorchDataset, build_dataset
from skelrec.datasets.vocabulary import Vocabulary, get_vocabulary
from skelrec.errors import SkelrecError
from skelrec.models import Encoder
from skelrec.skeleton import conversion_matrix
from skelrec.ssl.supervised import load_pretrained_encoder

__all__ = ["INITS", "EvalContext", "Init", "input_fields", "resolve_protocol"]

log = logging.getLogger(__name__)

Init = Literal["pretrained", "random"]
INITS: tuple[str, ...] = ("pretrained", "random")
AUTO = "auto"


def resolve_protocol(root: str | Path, protocol: str) -> str:
    """``protocol``, or for ``"auto"`` the first protocol of the cache at ``root`` with train and test samples."""
    if protocol != AUTO:
        return protocol
    info = read_info(root)
    usable = [p for p, parts in info.get("protocols", {}).items() if parts.get("train") and parts.get("test")]
    if not usable:
        skipped = "; ".join(f"{p}: {why}" for p, why in info.get("skipped_protocols", {}).items())
        raise SkelrecError(
            f"{root}: no protocol has both train and test samples ({skipped or 'the cache has no protocols'}); "
            f"prepare a dataset with a standard split"
        )
    log.info("%s: --protocol auto -> %s", root, usable[0])
    return usable[0]


def input_fields(config: CheckpointConfig) -> dict[str, Any]:
    """The deterministic input fields of a checkpoint config as :class:`DataConfig` fields (no paths, protocol,
    part or augmentation: the caller adds those)."""
    data = dict(config.data or {})
    for key in ("paths", "protocol", "part", "augment"):
        data.pop(key, None)
    normalization = {**config.normalization, "frames": 0, "persons": 0}
    channels = data.get("channels", config.encoder.config.get("in_channels", 3))
    return {
        **data,
        "layout": config.layout,
        "clip_length": config.clip_length,
        "persons": config.num_persons,
        "channels": channels,
        "normalization": normalization,
    }


TRAIN_ONLY = "train"
"""``PATH#train``: every sample of the cache trains and none is scored (protocol ``None`` in ``sources``)."""


def _source(entry: str | Path, protocol: str) -> tuple[Path, str | None]:
    """``PATH`` (split by ``protocol``, ``auto`` resolved per cache), ``PATH#PROTOCOL`` or ``PATH#train``
    -> (cache, protocol or ``None`` for train-only)."""
    text = str(entry)
    path, sep, own = text.rpartition("#")
    if not sep:
        return Path(text), resolve_protocol(text, protocol)
    if not own or ":" in own:
        raise SkelrecError(
            f"data entry {text!r}: write PATH, PATH#PROTOCOL or PATH#train (the evaluation picks the parts)"
        )
    return Path(path), None if own == TRAIN_ONLY else own


def _part(root: Path, protocol: str | None, part: str) -> PreparedDataset:
    """One part of a cache's protocol; with no protocol (train-only) every sample is train and none is test."""
    if protocol is not None:
        return PreparedDataset(root, protocol, part)
    ds = PreparedDataset(root)
    return ds if part == "train" else ds.subset(np.zeros(len(ds), bool))


@dataclass
class EvalContext:
    """A checkpoint and a dataset split, ready for a protocol.

    Attributes:
        checkpoint: the checkpoint folder (a pretrained encoder, or a classifier whose encoder is used).
        config: its typed ``config.json``.
        init: ``pretrained`` or ``random``.
        data: the evaluation input on the cache (``paths``, ``protocol``, ``part="train"``; augmentations are
            MAMP's fine-tuning ones unless ``open(augment=...)`` changes them, and apply only where a protocol asks
            for training augmentation).
        dataset: the cache's dataset name (several: joined with ``+``).
        classes: the cache's class names (label ``i`` is ``classes[i]``), or the vocabulary's labels.
        sources: every cache and its protocol (one pair unless several caches were given).
        vocabulary: the vocabulary the labels are remapped to, restricted to the caches' datasets (or ``None``).
        class_filter: the class names kept (relabelled in this order), or ``None`` for all the cache's classes.
    """

    checkpoint: Path
    config: CheckpointConfig
    init: Init
    data: DataConfig
    dataset: str
    classes: list[str]
    sources: list[tuple[Path, str | None]] = field(default_factory=list)
    vocabulary: Vocabulary | None = None
    class_filter: tuple[str, ...] | None = None

    @classmethod
    def open(
        cls,
        checkpoint: str | Path,
        data: str | Path | Sequence[str | Path],
        protocol: str = AUTO,
        init: Init = "pretrained",
        augment: Mapping[str, Any] | None = None,
        vocabulary: str | None = None,
        classes: Sequence[str] | None = None,
        normalization: Mapping[str, Any] | None = None,
    ) -> EvalContext:
        """Read the checkpoint's config and the caches' info; fail early on an unknown init, protocol or layout.

        ``augment`` sets :class:`AugmentConfig` fields of the training augmentation (default: MAMP's fine-tuning
        crop and rotation). ``data`` is a cache or a list of caches (``PATH`` or ``PATH#PROTOCOL``); several caches
        need a ``vocabulary`` unless they share one class list. ``classes``: keep only these class names (module
        docstring). ``normalization`` sets :class:`~skelrec.skeleton.Normalization` fields instead of the
        checkpoint's (e.g. ``{"align": True}``: a classifier fine-tuned so records it as its input pipeline)."""
        if init not in INITS:
            raise SkelrecError(f"init must be one of {', '.join(INITS)}, got {init!r}")
        checkpoint = Path(checkpoint)
        config = read_config(checkpoint)
        entries = [data] if isinstance(data, (str, Path)) else list(data)
        if not entries:
            raise SkelrecError("no data given; pass one or more prepared caches (`skelrec prepare ... --out PATH`)")
        sources = [_source(entry, protocol) for entry in entries]
        infos = [read_info(root) for root, _ in sources]
        trains = [_part(root, p, "train") for root, p in sources]  # an unknown protocol fails here
        class_filter = None if classes is None else tuple(classes)
        if class_filter is not None:
            if vocabulary is not None:
                raise SkelrecError("pass either a class filter (--classes) or a vocabulary, not both")
            trains = [t.restrict_classes(class_filter) for t in trains]  # an unknown class name fails here
        fields = input_fields(config)
        fields["normalization"] |= dict(normalization or {})
        paths = [f"{root}#{p}:train" if p else str(root) for root, p in sources]
        fields |= {"paths": paths, "protocol": None, "part": "train"}
        if len(sources) == 1 and sources[0][1] is not None:
            fields |= {"paths": [str(sources[0][0])], "protocol": sources[0][1]}
        fields["augment"] = {"crop_min_frames": min(AugmentConfig().crop_min_frames, fields["clip_length"])}
        fields["augment"] |= dict(augment or {})
        fields["vocabulary"] = vocabulary
        data_cfg = section_from_dict(DataConfig, fields, source=f"{checkpoint}/config.json")
        for info in infos:
            if info["layout"] != data_cfg.layout:
                conversion_matrix(info["layout"], data_cfg.layout)  # raises when the cache's joints cannot feed it
        vocab = None if vocabulary is None else get_vocabulary(vocabulary).restrict(t.dataset for t in trains)
        dataset = "+".join(dict.fromkeys(str(info["dataset"]) for info in infos))
        names = list(vocab.labels) if vocab else ConcatPrepared(trains).classes
        return cls(checkpoint, config, init, data_cfg, dataset, names, sources, vocab, class_filter)

    # ---------------------------------------------------------------------------------------------------------
    # The encoder.
    # ---------------------------------------------------------------------------------------------------------

    @property
    def encoder_name(self) -> str:
        return self.config.encoder.name

    @property
    def encoder_config(self) -> dict[str, Any]:
        return dict(self.config.encoder.config)

    def build_encoder(self, seed: int = 0) -> Encoder:
        """The checkpoint's encoder (``init="pretrained"``) or a random one of its config (seeded), in eval mode."""
        torch.manual_seed(seed)
        encoder = build_model(self.config, with_head=False)
        if self.init == "pretrained":
            load_pretrained_encoder(encoder, self.checkpoint)
        return encoder.eval()

    # ---------------------------------------------------------------------------------------------------------
    # The data.
    # ---------------------------------------------------------------------------------------------------------

    @property
    def root(self) -> Path:
        return self.sources[0][0]

    @property
    def protocol(self) -> str:
        return "+".join(dict.fromkeys(p for _, p in self.sources if p)) or TRAIN_ONLY

    def part(self, part: Literal["train", "test"]) -> PreparedLike:
        """The labelled samples of one part of the protocol(s); an empty part is an error naming the alternatives.

        One cache without a vocabulary: a :class:`PreparedDataset`; otherwise a :class:`ConcatPrepared` of the
        caches whose part holds labelled samples, labelled with :attr:`classes`."""
        if len(self.sources) == 1 and self.vocabulary is None:
            return self._labelled(*self.sources[0], part, required=True, classes=self.class_filter)
        return ConcatPrepared(self.parts(part), self.data.layout, self.vocabulary)

    def parts(self, part: Literal["train", "test"]) -> list[PreparedDataset]:
        """The labelled samples of one part of every cache that has some, each in its own layout and labels."""
        found = [
            self._labelled(root, protocol, part, required=False, classes=self.class_filter)
            for root, protocol in self.sources
        ]
        parts = [p for p in found if len(p)]
        if not parts:
            raise SkelrecError(f"none of {', '.join(str(r) for r, _ in self.sources)} has labelled {part} samples")
        return parts

    @staticmethod
    def _labelled(
        root: Path, protocol: str | None, part: str, *, required: bool, classes: Sequence[str] | None = None
    ) -> PreparedDataset:
        ds = _part(root, protocol, part)
        labelled = ds.subset(ds.labels >= 0) if classes is None else ds.restrict_classes(classes)
        if required and not len(labelled):
            usable = [p for p, n in ds.info.get("protocols", {}).items() if n.get("train") and n.get("test")]
            if classes is not None and len(ds.subset(ds.labels >= 0)):
                raise SkelrecError(
                    f"{root}: the {part} part of protocol {protocol!r} has no sample of the classes kept "
                    f"({', '.join(classes)}); check --classes"
                )
            raise SkelrecError(
                f"{root}: the {part} part of protocol {protocol!r} has no labelled samples "
                f"({len(ds)} samples, all unlabelled or absent); use --protocol with one of: {', '.join(usable)}"
            )
        return labelled

    def torch_dataset(self, prepared: PreparedLike, *, train: bool = False, seed: int = 0) -> SkeletonTorchDataset:
        """``prepared`` in the checkpoint's layout through the evaluation pipeline (or, ``train=True``, the
        training pipeline with augmentations)."""
        joined = ConcatPrepared([prepared], self.data.layout)
        return build_dataset(self.data, train=train, seed=seed, prepared=joined)

    def result_fields(self) -> dict[str, Any]:
        """The :class:`~skelrec.evaluate.results.EvalResult` fields that describe this context."""
        return {
            "checkpoint": str(self.checkpoint),
            "init": self.init,
            "dataset": self.dataset,
            "data": str(self.root),
            "split": self.protocol,
        }
