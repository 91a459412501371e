"""The one training loop (:func:`train`): methods and trainable evaluations plug into it via :mod:`skelrec.ssl`."""

from skelrec.train.loop import RunResult, Trainer, train

__all__ = ["RunResult", "Trainer", "train"]
