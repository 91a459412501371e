"""The end product of a run: the trained encoder as a skelrec checkpoint (:mod:`skelrec.checkpoint`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from skelrec.checkpoint import architecture, save_checkpoint
from skelrec.config import TrainConfig, config_to_dict
from skelrec.ssl.base import Method

__all__ = ["EXPORT_DIR", "export_encoder"]

EXPORT_DIR = "encoder"


def export_encoder(folder: Path, method: Method, cfg: TrainConfig, training: dict[str, Any]) -> Path:
    """Write the method's :meth:`~skelrec.ssl.base.Method.export_state` (its pretrained encoder, plus ``method.``
    tensors some methods keep, e.g. MacDiff's decoder) with a config that rebuilds it and reproduces its input.

    The config records the layout, the normalization, the clip shape and the whole ``data`` section (from which
    :func:`skelrec.datasets.transforms.build_transform` rebuilds the evaluation pipeline), the method and the
    training run (``training``: steps, epochs, seed ...). ``labels`` is ``None``: a pretrained encoder has no head.
    """
    data = cfg.data
    config = {
        **architecture(method.pretrained_encoder()),
        "layout": data.layout,
        "normalization": data.normalization.to_dict(),
        "clip_length": data.clip_length,
        "num_persons": data.persons,
        "labels": None,
        "data": config_to_dict(data),
        "method": config_to_dict(cfg.method),
        "training": {**training, "optim": config_to_dict(cfg.optim)},
    }
    return save_checkpoint(folder, method.export_state(), config)
